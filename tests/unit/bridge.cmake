# Unit tests of the PKCS#11 bridge (pkcs11/) and common/: one binary per
# module, against the fake PKCS#11 function table in fakep11.c. The fake
# registers itself with module_set_fake(), so it needs mtls_p11 and p11-kit's
# headers, and it tracks the keys and tokens a test opens (wrapping the four
# open/free functions) so that one failing test cannot leave the module
# initialised for the next. Other -Wl,--wrap options reach the libc calls a
# test needs to watch or break.
set(unit ${CMAKE_CURRENT_SOURCE_DIR})
set(fake ${unit}/fakep11.c)
set(p11 mtls_p11 PkgConfig::P11KIT)
set(track p11_key_open p11_key_free p11_token_open p11_token_free)

mtls_unit_test(test_rv SOURCES ${unit}/test_rv.c LIBS ${p11})
mtls_unit_test(test_der SOURCES ${unit}/test_der.c ${fake} LIBS ${p11} WRAP ${track})
mtls_unit_test(test_uri SOURCES ${unit}/test_uri.c ${fake} LIBS ${p11} WRAP ${track})
mtls_unit_test(test_modcfg SOURCES ${unit}/test_modcfg.c ${fake} LIBS ${p11}
  WRAP ${track} open)
target_compile_definitions(test_modcfg PRIVATE
  MTLS_P11KIT_MODULE_CONFIGS="${P11KIT_MODULE_CONFIGS}"
  MTLS_P11KIT_MODULE_PATH="${P11KIT_MODULE_PATH}")
mtls_unit_test(test_module SOURCES ${unit}/test_module.c ${fake} LIBS ${p11} WRAP ${track})
mtls_unit_test(test_token SOURCES ${unit}/test_token.c ${fake} LIBS ${p11}
  WRAP ${track} write)
mtls_unit_test(test_key SOURCES ${unit}/test_key.c ${fake} LIBS ${p11} WRAP ${track})
mtls_unit_test(test_secret SOURCES ${unit}/test_secret.c ${fake} LIBS ${p11}
  WRAP ${track} free read __read_chk fstat)
mtls_unit_test(test_nomem SOURCES ${unit}/test_nomem.c ${fake} LIBS ${p11}
  WRAP ${track} malloc calloc strdup strndup p11_kit_uri_new)
mtls_unit_test(test_log SOURCES ${unit}/test_log.c LIBS mtls_common WRAP write)
mtls_unit_test(test_err SOURCES ${unit}/test_err.c LIBS mtls_common)
