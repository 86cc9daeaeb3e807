# The data plane's sandbox (agent/sandbox.c), entered for real in forked
# children: Landlock and seccomp of the running kernel, no mocks.
if(TARGET mtls_agent_engine)
  mtls_unit_test(test_sandbox SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_sandbox.c
    LIBS mtls_agent_engine)
endif()
