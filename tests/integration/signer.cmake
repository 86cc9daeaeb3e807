# The signer interface (pkcs11/signer_*.c) against a real SoftHSM2 token,
# in-process and through the mtls-signer helper. One binary, one scenario
# per test; the "alike" and load scenarios run in both modes.
mtls_integration_exe(test_signer ${CMAKE_CURRENT_SOURCE_DIR}/test_signer.c)
# The raw-send test hook and the wire format are internal to pkcs11/.
target_include_directories(test_signer PRIVATE ${PROJECT_SOURCE_DIR}/pkcs11)
add_dependencies(test_signer mtls-signer mtls-fault-p11)

foreach(scenario
    process_signs_like_local
    modes_answer_alike
    modes_refuse_bad_keys_alike
    malformed_message_kills_signer_then_recovers
    killed_by_sigkill_is_replaced
    that_does_not_answer_is_killed
    wrong_pin_is_never_retried
    pin_never_in_proc_or_logs
    free_reaps_the_signer
    killed_under_load_fails_only_pending_requests)
  mtls_integration_test(NAME signer_${scenario}
    COMMAND $<TARGET_FILE:test_signer> ${scenario} TIMEOUT 120)
endforeach()

foreach(mode local process)
  mtls_integration_test(NAME signer_serves_many_threads_at_once_${mode}
    COMMAND $<TARGET_FILE:test_signer> serves_many_threads_at_once ${mode}
    TIMEOUT 300)
endforeach()

# Token state and certificates read from the token, in both modes: the
# state never costs a signature; certificates cross the socket in
# process mode.
foreach(mode local process)
  foreach(scenario
      token_state_follows_removal
      token_state_reports_pin_errors
      key_certs_come_from_the_token)
    mtls_integration_test(NAME signer_${scenario}_${mode}
      COMMAND $<TARGET_FILE:test_signer> ${scenario} ${mode} TIMEOUT 120)
  endforeach()
endforeach()
mtls_integration_test(NAME signer_token_state_of_a_stuck_signer_is_unreachable
  COMMAND $<TARGET_FILE:test_signer> token_state_of_a_stuck_signer_is_unreachable TIMEOUT 120)
