# The agent's TLS layer (agent/tls*.c) against openssl s_server/s_client and
# itself on 127.0.0.1, the token key on SoftHSM2 behind the fault module.
# One binary (test_tls SCENARIO MODE [PKI]), one scenario per test. Paths
# are relative to this file (it may be included from elsewhere).
mtls_integration_exe(test_tls ${CMAKE_CURRENT_LIST_DIR}/test_tls.c)
target_link_libraries(test_tls PRIVATE mtls_agent_tls Threads::Threads)
target_compile_definitions(test_tls PRIVATE
  MTLS_MKPKI="${PROJECT_SOURCE_DIR}/tests/lib/mkpki.sh")
# mtls-sign reads the P-384 public key for mkpki.sh (pkcs11-tool cannot).
add_dependencies(test_tls mtls-signer mtls-fault-p11 mtls-sign)

# The test PKI, made once per run for the template token's keys (every
# test token is a copy of the template); a test given no PKI makes its own.
set(MTLS_TLS_PKI ${CMAKE_BINARY_DIR}/tls-pki)
mtls_integration_test(NAME tls_pki_setup
  COMMAND bash -c "rm -rf '${MTLS_TLS_PKI}' && bash '${PROJECT_SOURCE_DIR}/tests/lib/mkpki.sh' '${MTLS_TLS_PKI}'"
  TIMEOUT 120)
set_tests_properties(tls_pki_setup PROPERTIES FIXTURES_SETUP tls_pki)

# tls_test(NAME SCENARIO MODE): one scenario of test_tls with the shared PKI.
function(tls_test name scenario mode)
  mtls_integration_test(NAME ${name}
    COMMAND $<TARGET_FILE:test_tls> ${scenario} ${mode} ${MTLS_TLS_PKI} TIMEOUT 120)
  set_property(TEST ${name} APPEND PROPERTY FIXTURES_REQUIRED tls_pki)
endfunction()

# Interop, resumption and token errors in both signer modes.
foreach(mode local process)
  tls_test(tls_client_ec_key_meets_openssl_server_tls13_${mode} client_ec_tls13 ${mode})
  tls_test(tls_client_ec_key_meets_openssl_server_tls12_${mode} client_ec_tls12 ${mode})
  tls_test(tls_client_rsa_key_meets_openssl_server_tls13_${mode} client_rsa_tls13 ${mode})
  tls_test(tls_client_rsa_key_meets_openssl_server_tls12_${mode} client_rsa_tls12 ${mode})
  tls_test(tls_server_ec_key_serves_openssl_client_tls13_${mode} server_ec_tls13 ${mode})
  tls_test(tls_server_ec_key_serves_openssl_client_tls12_${mode} server_ec_tls12 ${mode})
  tls_test(tls_server_rsa_key_serves_openssl_client_tls13_${mode} server_rsa_tls13 ${mode})
  tls_test(tls_server_rsa_key_serves_openssl_client_tls12_${mode} server_rsa_tls12 ${mode})
  tls_test(tls_client_resumes_without_token_signature_tls13_${mode} client_resumes_tls13
    ${mode})
  tls_test(tls_server_resumes_its_own_tickets_tls13_${mode} server_resumes_tls13 ${mode})
  tls_test(tls_handshake_says_token_not_present_and_recovers_${mode}
    client_reports_token_absent ${mode})
  # Decision 4: an RSA key on a token without RSA-PSS.
  tls_test(tls_rsa_without_pss_pads_pss_for_raw_rsa_tls12_and_tls13_${mode} no_pss ${mode})
  tls_test(tls_rsa_without_pss_or_raw_rsa_uses_tls12_pkcs1_${mode} no_pss_no_raw ${mode})
endforeach()
tls_test(tls_rsa_with_only_raw_rsa_pads_pkcs1_and_pss no_pss_no_pkcs1 local)

tls_test(tls_client_ec_p384_key_tls13 client_ec384_tls13 local)
tls_test(tls_client_rsa3072_key_tls13 client_rsa3072_tls13 local)
tls_test(tls_client_rsa_key_signs_pss_in_tls12_when_asked client_rsa_tls12_pss local)
tls_test(tls_server_refuses_unknown_ca server_refuses_unknown_ca local)
tls_test(tls_server_refuses_expired_certificate server_refuses_expired local)
tls_test(tls_server_refuses_not_yet_valid_certificate server_refuses_not_yet_valid local)
tls_test(tls_server_refuses_revoked_certificate server_refuses_revoked local)
tls_test(tls_server_refuses_missing_client_certificate
  server_refuses_missing_client_certificate local)
tls_test(tls_server_refuses_tls11_with_protocol_version server_refuses_tls11 local)
foreach(kind cn dns uri ou spki)
  tls_test(tls_server_allows_and_refuses_by_${kind} server_rule_${kind} local)
endforeach()
tls_test(tls_server_without_allow_rules_is_refused server_needs_rules local)
tls_test(tls_client_refuses_bad_server_certificates client_refuses_servers local)
tls_test(tls_certificate_must_hold_the_token_key side_refuses_foreign_certificate local)
tls_test(tls_client_resumes_without_token_signature_tls12 client_resumes_tls12 local)
tls_test(tls_server_resumes_its_own_tickets_tls12 server_resumes_tls12 local)
tls_test(tls_sessions_never_resume_on_another_tunnel sessions_stay_in_their_tunnel local)
tls_test(tls_server_reloads_a_changed_crl server_reloads_crl local)
tls_test(tls_eight_threads_share_client_and_server_sides parallel_pairs local)
# Prints full and resumed handshakes per second and C_Sign per handshake.
tls_test(tls_full_and_resumed_handshake_rate_process bench process)
