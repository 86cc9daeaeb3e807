# Unit tests of mtls-provision's certificate library (provisioning/): the
# DN/SAN parser, and certificate/request files and their checks.
mtls_unit_test(test_names SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_names.c
  LIBS mtls_provision_certs)
mtls_unit_test(test_certio SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_certio.c
  LIBS mtls_provision_certs)
