# Bridge integration tests against real SoftHSM2 tokens (issue 2 acceptance).
mtls_integration_exe(test_bridge_sign ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_sign.c)
target_link_libraries(test_bridge_sign PRIVATE PkgConfig::WOLFSSL)
mtls_integration_test(NAME bridge_signatures_verify_with_openssl
  COMMAND $<TARGET_FILE:test_bridge_sign>)
mtls_integration_test(NAME bridge_reports_missing_pss_and_offers_raw_rsa_in_its_place
  COMMAND $<TARGET_FILE:test_bridge_sign> no-pss)

mtls_integration_exe(test_bridge_threads ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_threads.c)
mtls_integration_test(NAME bridge_eight_threads_sign_without_failure
  COMMAND $<TARGET_FILE:test_bridge_threads> pool)
mtls_integration_test(NAME bridge_one_session_token_serialises_eight_threads
  COMMAND $<TARGET_FILE:test_bridge_threads> one)

mtls_integration_exe(test_bridge_pin ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_pin.c)
mtls_integration_test(NAME bridge_wrong_pin_makes_exactly_one_login
  COMMAND $<TARGET_FILE:test_bridge_pin> wrong)
mtls_integration_test(NAME bridge_refuses_pin_file_readable_by_others
  COMMAND $<TARGET_FILE:test_bridge_pin> mode)
mtls_integration_test(NAME bridge_reports_locked_pin_without_login
  COMMAND $<TARGET_FILE:test_bridge_pin> locked)
mtls_integration_test(NAME bridge_refuses_final_pin_try_without_login
  COMMAND $<TARGET_FILE:test_bridge_pin> final-try)

mtls_integration_exe(test_bridge_removal ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_removal.c)
mtls_integration_test(NAME bridge_fails_fast_while_removed_and_recovers_after_reinsertion
  COMMAND $<TARGET_FILE:test_bridge_removal>)

mtls_integration_exe(test_bridge_uri ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_uri.c)
mtls_integration_test(NAME bridge_refuses_misspelled_and_ambiguous_uris
  COMMAND $<TARGET_FILE:test_bridge_uri>)

mtls_integration_exe(test_bridge_certs ${CMAKE_CURRENT_SOURCE_DIR}/test_bridge_certs.c)
mtls_integration_test(NAME bridge_reads_paired_certificate_and_public_key
  COMMAND $<TARGET_FILE:test_bridge_certs>)
