# mtls-provision tokens, keygen, status and doctor against real tokens:
# SoftHSM2 (a private copy per test), the fault module wrapping it, and a
# software TPM (swtpm + tpm2-pkcs11; there also csr, ca sign, import
# --to-token and an mTLS handshake through mtls-agent). The scripts find
# mtls-provision and p11-read-secret in $MTLS_BUILD_DIR/bin.
add_executable(p11-read-secret ${CMAKE_CURRENT_SOURCE_DIR}/p11_read_secret.c)
target_include_directories(p11-read-secret PRIVATE ${P11KIT_INCLUDE_DIRS})
target_link_libraries(p11-read-secret PRIVATE mtls_flags ${CMAKE_DL_LIBS})

set(pk ${CMAKE_CURRENT_SOURCE_DIR})
mtls_integration_test(NAME provision_keygen_makes_every_key_type_sensitive_and_never_extractable
  COMMAND bash ${pk}/provision_keygen.sh types TIMEOUT 300)
mtls_integration_test(NAME provision_keygen_refuses_taken_ids_and_labels_and_changes_nothing
  COMMAND bash ${pk}/provision_keygen.sh refuse TIMEOUT 180)
mtls_integration_test(NAME provision_keygen_destroys_the_key_when_the_read_back_fails
  COMMAND bash ${pk}/provision_keygen.sh undo TIMEOUT 180)
mtls_integration_test(NAME provision_keygen_on_a_software_tpm_serves_mtls
  COMMAND bash ${pk}/provision_tpm.sh TIMEOUT 300)
mtls_integration_test(NAME provision_status_shows_key_and_certificates_as_text_and_json
  COMMAND bash ${pk}/provision_status.sh TIMEOUT 180)
mtls_integration_test(NAME provision_doctor_names_the_failing_step
  COMMAND bash ${pk}/provision_doctor.sh TIMEOUT 180)
mtls_integration_test(NAME provision_tokens_lists_flags_mechanisms_and_tls13_per_key_type
  COMMAND bash ${pk}/provision_tokens.sh TIMEOUT 180)
