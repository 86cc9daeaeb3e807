# The systemd units and the install layout (issue 5). Each test stages its
# own "cmake --install" of this build (DESTDIR in a private directory); they
# take turns (RESOURCE_LOCK), as "cmake --install" writes into the build
# tree (the generated units, install_manifest.txt).
function(mtls_systemd_test name script)
  add_test(NAME ${name} COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${script})
  set_tests_properties(${name} PROPERTIES LABELS "integration;systemd" TIMEOUT 120
    RESOURCE_LOCK mtls_cmake_install
    ENVIRONMENT "MTLS_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()

mtls_systemd_test(systemd_units_verify_clean systemd_units_verify.sh)
mtls_systemd_test(systemd_agent_exposure_at_most_2 systemd_exposure.sh)
mtls_systemd_test(systemd_units_share_one_hardening_block systemd_units_agree.sh)
mtls_systemd_test(install_puts_files_where_debian_expects install_layout.sh)
mtls_integration_test(NAME systemd_unit_execstart_runs_the_agent
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/systemd_execstart.sh LABELS systemd TIMEOUT 180)
set_tests_properties(systemd_unit_execstart_runs_the_agent PROPERTIES
  RESOURCE_LOCK mtls_cmake_install)
