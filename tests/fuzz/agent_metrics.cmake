# The metrics endpoint's HTTP request parser and label escaping
# (agent/metrics_http.c, metrics_text.c): reachable by any local process
# that can connect to metrics-listen.
if(TARGET mtls_agent_metrics)
  mtls_fuzz_target(fuzz_metrics_http SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_metrics_http.c
    LIBS mtls_agent_metrics CORPUS ${CMAKE_CURRENT_LIST_DIR}/corpus/metrics_http)
endif()
