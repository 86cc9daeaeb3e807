# (No -Wcast-qual: PKCS#11 prototypes are not const-correct, so casts are needed.)
# Interface targets carrying warnings, hardening and sanitizers, so flags are
# attached to targets rather than set globally.
add_library(mtls_warnings INTERFACE)
target_compile_options(mtls_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
  -Wvla -Wpointer-arith -Wno-unused-parameter
  $<$<BOOL:${MTLS_WERROR}>:-Werror>)

add_library(mtls_hardening INTERFACE)
target_compile_definitions(mtls_hardening INTERFACE _GNU_SOURCE
  $<$<NOT:$<BOOL:${MTLS_SANITIZE}>>:_FORTIFY_SOURCE=2>)
target_compile_options(mtls_hardening INTERFACE
  -fstack-protector-strong -fstack-clash-protection -fPIC)
target_link_options(mtls_hardening INTERFACE -Wl,-z,relro,-z,now -Wl,-z,noexecstack)

add_library(mtls_sanitizers INTERFACE)
if(MTLS_SANITIZE)
  target_compile_options(mtls_sanitizers INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  target_link_options(mtls_sanitizers INTERFACE -fsanitize=address,undefined)
  # SoftHSM2 throws and catches C++ exceptions inside (e.g. for an unknown slot id); clang's
  # ASan runtime aborts in its __cxa_throw hook unless libstdc++ is loaded from the start.
  target_link_libraries(mtls_sanitizers INTERFACE "-Wl,--push-state,--no-as-needed" stdc++
    "-Wl,--pop-state")
endif()

# In the fuzz build every project library carries libFuzzer's coverage
# instrumentation, so the fuzz targets see inside the parsers they link.
if(MTLS_FUZZ)
  target_compile_options(mtls_sanitizers INTERFACE -fsanitize=fuzzer-no-link)
endif()

add_library(mtls_flags INTERFACE)
target_link_libraries(mtls_flags INTERFACE mtls_warnings mtls_hardening mtls_sanitizers)
