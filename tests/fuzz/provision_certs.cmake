# mtls-provision's parsers of outside input: subject DNs and SANs (command
# lines, config files), and certificate requests and certificate files
# (PEM/DER, from users and CAs).
mtls_fuzz_target(fuzz_csr_subject
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_csr_subject.c
  LIBS mtls_provision_certs
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/csr_subject)
mtls_fuzz_target(fuzz_certio
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_certio.c
  LIBS mtls_provision_certs
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/certio)
