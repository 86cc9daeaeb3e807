# mtls-provision enroll/renew against the EST test server (tests/est), on
# private SoftHSM2 tokens; the server itself against strongSwan's pki.
set(pe ${CMAKE_CURRENT_SOURCE_DIR})
mtls_integration_test(NAME provision_est_server_enrolls_strongswan_pki_client
  COMMAND bash ${pe}/provision_est_strongswan.sh LABELS interop TIMEOUT 180)
mtls_integration_test(NAME provision_est_enroll_to_token_then_agent_serves_mtls_with_it
  COMMAND bash ${pe}/provision_est_enroll.sh TIMEOUT 180)
mtls_integration_test(NAME provision_est_bad_answers_change_neither_token_nor_files
  COMMAND bash ${pe}/provision_est_bad_answers.sh TIMEOUT 180)
mtls_integration_test(NAME provision_est_renew_over_mtls_reloads_agent_and_rekeys
  COMMAND bash ${pe}/provision_est_renew.sh TIMEOUT 240)
