# MTLS_WOLFSSL_FAST: build against a private wolfSSL compiled from Debian bookworm's own
# source package with AES-NI and x86-64 assembly (tests/bench/wolfssl-fast.sh, see
# tests/bench/README-wolfssl-fast.md). Debian's libwolfssl has neither, so benchmarks on it
# measure the distribution's build flags more than the agent.
#
# Included before pkg_check_modules(WOLFSSL ...): builds the library at configure time (once;
# later configures find the stamp and return at once) and puts its wolfssl.pc first on
# PKG_CONFIG_PATH. mtls_wolfssl_fast_report(), called after pkg_check_modules, checks which
# library was found, marks the imported target and prints one status line.
# When the option is OFF nothing is fetched and the system package is used as before.

option(MTLS_WOLFSSL_FAST
  "Build against wolfSSL compiled from Debian's source with AES-NI and assembly (fetched at configure time)"
  OFF)
set(MTLS_WOLFSSL_FAST_PREFIX "${CMAKE_BINARY_DIR}/wolfssl-fast" CACHE PATH
  "Private prefix where MTLS_WOLFSSL_FAST builds and installs wolfSSL")

set(_mtls_wolfssl_state "system")
if(MTLS_WOLFSSL_FAST)
  set(_mtls_wolfssl_fast_script "${CMAKE_CURRENT_SOURCE_DIR}/tests/bench/wolfssl-fast.sh")
  execute_process(
    COMMAND bash "${_mtls_wolfssl_fast_script}" "${MTLS_WOLFSSL_FAST_PREFIX}"
    RESULT_VARIABLE _mtls_wolfssl_fast_rc
    TIMEOUT 5400)
  if(NOT _mtls_wolfssl_fast_rc EQUAL 0)
    message(FATAL_ERROR
      "MTLS_WOLFSSL_FAST: ${_mtls_wolfssl_fast_script} failed (${_mtls_wolfssl_fast_rc}); its "
      "message above says what to do. Configure with -DMTLS_WOLFSSL_FAST=OFF to use the "
      "system libwolfssl-dev instead.")
  endif()
  if("$ENV{PKG_CONFIG_PATH}" STREQUAL "")
    set(ENV{PKG_CONFIG_PATH} "${MTLS_WOLFSSL_FAST_PREFIX}/lib/pkgconfig")
  else()
    set(ENV{PKG_CONFIG_PATH} "${MTLS_WOLFSSL_FAST_PREFIX}/lib/pkgconfig:$ENV{PKG_CONFIG_PATH}")
  endif()
  # Installed programs find the private library too (the build tree gets it without this).
  list(APPEND CMAKE_INSTALL_RPATH "${MTLS_WOLFSSL_FAST_PREFIX}/lib")
  file(READ "${MTLS_WOLFSSL_FAST_PREFIX}/.wolfssl-fast.stamp" _mtls_wolfssl_fast_stamp)
  string(MD5 _mtls_wolfssl_fast_stamp "${_mtls_wolfssl_fast_stamp}")
  set(_mtls_wolfssl_state "fast;${MTLS_WOLFSSL_FAST_PREFIX};${_mtls_wolfssl_fast_stamp}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
    "${MTLS_WOLFSSL_FAST_PREFIX}/.wolfssl-fast.stamp")
endif()

# pkg_check_modules and the feature checks cache their results: when the library changed
# (option toggled, other prefix, rebuilt), forget them so both look at the new one.
if(DEFINED MTLS_WOLFSSL_STATE_ AND NOT MTLS_WOLFSSL_STATE_ STREQUAL _mtls_wolfssl_state)
  unset(__pkg_config_checked_WOLFSSL CACHE)
  unset(pkgcfg_lib_WOLFSSL_wolfssl CACHE)
  get_cmake_property(_mtls_cache_vars CACHE_VARIABLES)
  list(FILTER _mtls_cache_vars INCLUDE REGEX "^MTLS_WOLFSSL_(HAVE|WOLF)")
  foreach(_mtls_var IN LISTS _mtls_cache_vars)
    unset(${_mtls_var} CACHE)
  endforeach()
endif()
set(MTLS_WOLFSSL_STATE_ "${_mtls_wolfssl_state}" CACHE INTERNAL "wolfSSL the cache was made for")

function(mtls_wolfssl_fast_report)
  set(lib "${pkgcfg_lib_WOLFSSL_wolfssl}")
  if(MTLS_WOLFSSL_FAST)
    cmake_path(IS_PREFIX MTLS_WOLFSSL_FAST_PREFIX "${lib}" NORMALIZE in_prefix)
    if(NOT in_prefix)
      message(FATAL_ERROR "MTLS_WOLFSSL_FAST: pkg-config found ${lib}, not the library in "
        "${MTLS_WOLFSSL_FAST_PREFIX}/lib. Remove ${CMAKE_BINARY_DIR}/CMakeCache.txt and "
        "configure again.")
    endif()
    # Lets a program say which build it runs on (e.g. in --version); ldd tells it too.
    set_property(TARGET PkgConfig::WOLFSSL APPEND PROPERTY
      INTERFACE_COMPILE_DEFINITIONS MTLS_WOLFSSL_FAST=1)
    set(kind "fast build: Debian source + AES-NI, Intel and SP assembly")
  else()
    set(kind "system package")
  endif()
  message(STATUS "wolfSSL ${WOLFSSL_VERSION}: ${lib} (${kind})")
endfunction()
