# Checks the JSON that `tests/bench/run.sh --smoke` wrote (ctest test
# bench_harness_smoke): every figure the smoke run measures is there and is
# a positive number, every resumed share is a number from 0 to 1, and the
# markdown table exists. Ratios and pass/fail against the targets are not
# checked: on a shared CI machine they are noise; this test fails only when
# the harness itself breaks.
#
#   cmake -DJSON=FILE -P bench_smoke.cmake
cmake_minimum_required(VERSION 3.25)

if(NOT JSON OR NOT EXISTS "${JSON}")
  message(FATAL_ERROR "bench smoke: no results file '${JSON}'")
endif()
file(READ "${JSON}" doc)
string(REGEX REPLACE "\\.json$" ".md" md "${JSON}")
if(NOT EXISTS "${md}")
  message(FATAL_ERROR "bench smoke: no markdown table '${md}'")
endif()

set(errors "")

# value(OUT KEY FIGURE STACK): the figure, or "" when absent or null.
function(value out key fig stack)
  string(JSON v ERROR_VARIABLE err GET "${doc}" figures ${key} ${fig} ${stack})
  if(err OR v STREQUAL "null")
    set(v "")
  endif()
  set(${out} "${v}" PARENT_SCOPE)
endfunction()

function(expect_positive key fig stack)
  value(v ${key} ${fig} ${stack})
  if(NOT v MATCHES "^[0-9]+(\\.[0-9]+)?$" OR NOT v GREATER 0)
    set(errors "${errors}\n  ${key} ${fig} ${stack}: '${v}' is not a positive number" PARENT_SCOPE)
  endif()
endfunction()

# Any number, below zero too: a difference of two noisy readings.
function(expect_number key fig stack)
  value(v ${key} ${fig} ${stack})
  if(NOT v MATCHES "^-?[0-9]+(\\.[0-9]+)?$")
    set(errors "${errors}\n  ${key} ${fig} ${stack}: '${v}' is not a number" PARENT_SCOPE)
  endif()
endfunction()

function(expect_share key fig stack)
  value(v ${key} ${fig} ${stack})
  if(NOT v MATCHES "^[0-9]+(\\.[0-9]+)?$" OR v GREATER 1)
    set(errors "${errors}\n  ${key} ${fig} ${stack}: '${v}' is not a share from 0 to 1" PARENT_SCOPE)
  endif()
endfunction()

set(tls_stacks ours_sys stunnel)
set(all_stacks plain ${tls_stacks})
foreach(s IN LISTS all_stacks)
  foreach(f full_hs_per_s full_cpu_ms_per_hs resumed_hs_per_s bulk_MBps rss_kib_at_rest
      rss_kib_with_idle_tunnels rtt_p50_us rtt_p99_us rtt_direct_p50_us rtt_direct_p99_us)
    expect_positive(ec256 ${f} ${s})
  endforeach()
  # With the smoke run's 50 tunnels, memory freed by the 16 connections of
  # the run before may cover them all (the plain forwarder's buffers do):
  # the per-tunnel figures may be 0 or, for added latency, below 0.
  foreach(f rss_kib_per_idle_tunnel added_rtt_p50_us added_rtt_p99_us)
    expect_number(ec256 ${f} ${s})
  endforeach()
endforeach()
foreach(s IN LISTS tls_stacks)
  foreach(f slow70_hs_per_s slow200_hs_per_s slow200_pct_of_limit full_connections
      resumed_connections)
    expect_positive(ec256 ${f} ${s})
  endforeach()
  foreach(f full_resumed_share resumed_resumed_share slow200_resumed_share)
    expect_share(ec256 ${f} ${s})
  endforeach()
endforeach()

string(JSON failed ERROR_VARIABLE err GET "${doc}" failed)
if(err OR NOT failed STREQUAL "")
  set(errors "${errors}\n  the harness reports failed parts: '${failed}'")
endif()
foreach(field cpu_model kernel)
  string(JSON v ERROR_VARIABLE err GET "${doc}" machine ${field})
  if(err OR v STREQUAL "")
    set(errors "${errors}\n  machine.${field} missing")
  endif()
endforeach()
foreach(field wolfssl_system openssl stunnel libp11 softhsm2 p11_kit)
  string(JSON v ERROR_VARIABLE err GET "${doc}" versions ${field})
  if(err OR v STREQUAL "")
    set(errors "${errors}\n  versions.${field} missing")
  endif()
endforeach()

if(errors)
  message(FATAL_ERROR "bench smoke: ${JSON} is incomplete:${errors}")
endif()
message(STATUS "bench smoke: every expected figure is in ${JSON}")
