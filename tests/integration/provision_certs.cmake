# mtls-provision csr, import and ca against private SoftHSM2 tokens, checked
# with openssl and pkcs11-tool. The scripts find mtls-provision in
# $MTLS_BUILD_DIR/bin.
set(pc ${CMAKE_CURRENT_SOURCE_DIR})
mtls_integration_test(NAME provision_csr_for_every_key_type_verifies_and_carries_the_sans
  COMMAND bash ${pc}/provision_csr.sh TIMEOUT 180)
mtls_integration_test(NAME provision_import_refuses_wrong_or_broken_certificates_and_stores_good_ones
  COMMAND bash ${pc}/provision_import.sh TIMEOUT 180)
mtls_integration_test(NAME provision_ca_issues_certificates_openssl_verifies
  COMMAND bash ${pc}/provision_ca.sh TIMEOUT 180)
