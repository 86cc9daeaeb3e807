# The EST client's parsers (provisioning/est_parse.c, est_pkcs7.c): HTTP
# answers, base64, PKCS#7 certs-only, URLs and pins.
mtls_unit_test(test_est SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/test_est.c LIBS mtls_est)
