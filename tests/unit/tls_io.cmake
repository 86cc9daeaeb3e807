# The read-ahead behind the agent's wolfSSL receive callback
# (agent/tls_conn.c, tls_rx_recv) on real sockets: order, end of stream,
# reset, and no memory held while nothing is pending.
if(TARGET mtls_agent_tls)
  mtls_unit_test(test_tls_io SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tls_io.c
    LIBS mtls_agent_tls)
endif()
