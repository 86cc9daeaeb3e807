# Fuzz targets for the bridge's parsers of outside input: PKCS#11 URIs,
# p11-kit module configs, and the DER helpers fed by token attributes.
# (With MTLS_FUZZ every library is built with -fsanitize=fuzzer-no-link,
# see cmake/Targets.cmake, so linking mtls_p11 keeps coverage feedback.)
set(fuzzsrc ${CMAKE_CURRENT_SOURCE_DIR})

mtls_fuzz_target(fuzz_uri SOURCES ${fuzzsrc}/fuzz_uri.c
  LIBS mtls_p11 PkgConfig::P11KIT CORPUS ${fuzzsrc}/corpus/uri)
mtls_fuzz_target(fuzz_modcfg SOURCES ${fuzzsrc}/fuzz_modcfg.c
  LIBS mtls_p11 PkgConfig::P11KIT CORPUS ${fuzzsrc}/corpus/modcfg)
mtls_fuzz_target(fuzz_der SOURCES ${fuzzsrc}/fuzz_der.c
  LIBS mtls_p11 PkgConfig::P11KIT CORPUS ${fuzzsrc}/corpus/der)
