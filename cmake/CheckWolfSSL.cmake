# Refuse a wolfSSL that lacks what the agent and the provisioning tool need.
include(CheckCSourceCompiles)
set(CMAKE_REQUIRED_INCLUDES ${WOLFSSL_INCLUDE_DIRS})
foreach(feature HAVE_PK_CALLBACKS WOLFSSL_TLS13 HAVE_SESSION_TICKET WOLFSSL_CERT_REQ WOLFSSL_CERT_GEN WOLFSSL_CERT_EXT WOLF_CRYPTO_CB HAVE_ECC)
  check_c_source_compiles("
#include <wolfssl/options.h>
#ifndef ${feature}
#error missing
#endif
int main(void) { return 0; }" MTLS_WOLFSSL_${feature})
  if(NOT MTLS_WOLFSSL_${feature})
    message(FATAL_ERROR
      "The wolfSSL found (${WOLFSSL_VERSION} in ${WOLFSSL_INCLUDE_DIRS}) was built without "
      "${feature}. mtls-agent needs PK callbacks, TLS 1.3, session tickets and certificate "
      "request generation. Install Debian's libwolfssl-dev (built with --enable-distro) or "
      "configure wolfSSL with --enable-pkcallbacks --enable-tls13 --enable-session-ticket "
      "--enable-certreq --enable-certgen --enable-certext --enable-cryptocb.")
  endif()
endforeach()
unset(CMAKE_REQUIRED_INCLUDES)
