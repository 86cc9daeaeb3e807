# The signer wire format (pkcs11/signer_msg.c): round trips and every
# decoder error branch.
mtls_unit_test(test_signer_msg
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_signer_msg.c
  LIBS mtls_signer)
