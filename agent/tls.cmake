# The agent's TLS layer (wolfSSL with the token key behind PK callbacks).
# Included from agent/CMakeLists.txt; paths are relative to this file so the
# fragment can be included from anywhere.
add_library(mtls_agent_tls STATIC
  ${CMAKE_CURRENT_LIST_DIR}/tls.c
  ${CMAKE_CURRENT_LIST_DIR}/tls_conn.c
  ${CMAKE_CURRENT_LIST_DIR}/tls_sign.c
  ${CMAKE_CURRENT_LIST_DIR}/tls_verify.c
  ${CMAKE_CURRENT_LIST_DIR}/tls_ticket.c
  ${CMAKE_CURRENT_LIST_DIR}/tls_der.c)
target_link_libraries(mtls_agent_tls PUBLIC mtls_signer PkgConfig::WOLFSSL PRIVATE mtls_flags)
target_include_directories(mtls_agent_tls PUBLIC ${PROJECT_SOURCE_DIR}/agent)
