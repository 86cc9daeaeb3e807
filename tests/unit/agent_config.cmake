# Unit tests of the agent's configuration (agent/config*.c): the config
# file and the command line, every error branch; and the same parsers with
# each allocation failing in turn (-Wl,--wrap=malloc,calloc).
if(TARGET mtls_agent_config)
  mtls_unit_test(test_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config.c
    LIBS mtls_agent_config)
  # The example config and the man page are checked against the option table.
  target_compile_definitions(test_config PRIVATE MTLS_AGENT_DIR="${PROJECT_SOURCE_DIR}/agent")
  mtls_unit_test(test_config_nomem SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config_nomem.c
    LIBS mtls_agent_config WRAP malloc calloc)
else()
  message(STATUS "test_config: mtls_agent_config is not defined (agent/config.cmake not included)")
endif()
