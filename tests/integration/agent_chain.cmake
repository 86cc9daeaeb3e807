# Peer certificate chains through intermediate CAs, and the chain depth
# the wolfSSL in use accepts (MAX_CHAIN_DEPTH: 5 in the fast build, 9 in Debian's).
mtls_integration_test(NAME agent_verifies_peer_chains_through_intermediates_up_to_the_build_limit
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/agent_chain_depth.sh TIMEOUT 180)
