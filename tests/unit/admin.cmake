# The bridge's admin API (pkcs11/admin_keygen.c) against the fake token, with
# key generation and destruction added by the test itself.
mtls_unit_test(test_admin SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_admin.c
  ${CMAKE_CURRENT_SOURCE_DIR}/fakep11.c LIBS mtls_p11 PkgConfig::P11KIT
  WRAP p11_key_open p11_key_free p11_token_open p11_token_free)
