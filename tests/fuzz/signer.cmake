# The signer's message decoders: the boundary the signer process trusts
# least, since a compromised network process writes to it.
mtls_fuzz_target(fuzz_signer_msg
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_signer_msg.c
  LIBS mtls_signer
  CORPUS ${CMAKE_CURRENT_SOURCE_DIR}/corpus/signer_msg)
