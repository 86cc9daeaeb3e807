# Unit tests of the agent's metrics endpoint (agent/metrics_http.c,
# metrics_text.c, stats.c, health.c): the HTTP request parser, the
# Prometheus text format, and the token health cache with the signer's
# token_state wrapped to play a token (signer_sign wrapped to catch any
# signature).
if(TARGET mtls_agent_metrics)
  mtls_unit_test(test_metrics SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_metrics.c
    LIBS mtls_agent_metrics WRAP signer_token_state signer_sign)
endif()
