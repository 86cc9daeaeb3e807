# The EST client's parsers of what an EST server sends (provisioning/
# est_parse.c, est_pkcs7.c): HTTP framing, base64, PKCS#7 certs-only, URLs.
if(TARGET mtls_est)
  mtls_fuzz_target(fuzz_est_response SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_est_response.c
    LIBS mtls_est CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/est_response)
endif()
