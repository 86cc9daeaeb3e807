# The agent's configuration (config file and command line) as a library of
# its own, so the unit tests and the fuzzer link it without the rest of the
# agent. Included from agent/CMakeLists.txt.
pkg_check_modules(INIH REQUIRED IMPORTED_TARGET inih)

# config_file.c relies on what Debian's libinih (55) offers beyond upstream
# defaults: options as run-time variables (multi-line values off, a line
# buffer larger than our longest line) and line numbers passed to the
# handler. Check them once at configure time rather than misparse later.
include(CheckCSourceRuns)
include(CMakePushCheckState)
cmake_push_check_state(RESET)
set(CMAKE_REQUIRED_LIBRARIES ${INIH_LINK_LIBRARIES})
set(CMAKE_REQUIRED_INCLUDES ${INIH_INCLUDE_DIRS})
check_c_source_runs([=[
#define INI_HANDLER_LINENO 1
#include <ini.h>
#include <string.h>
static int ok;
static int h(void *u, const char *s, const char *n, const char *v, int line)
{
	(void)u; (void)s;
	if (strcmp(n, "k") == 0 && strlen(v) == 5000 && line == 2)
		ok++;
	if (strcmp(n, "m") == 0 && strcmp(v, "1") == 0 && line == 3)
		ok++;
	return 1;
}
/* (No backslashes: CMake would expand them on the way to the compiler.) */
static size_t put(char *text, size_t at, const char *s, char nl)
{
	size_t n = strlen(s);
	memcpy(text + at, s, n);
	text[at + n] = nl;
	return at + n + 1;
}
int main(void)
{
	static char text[6000], big[5001];
	size_t at = 0;
	memset(big, 'x', 5000);
	at = put(text, at, "[s]", 10);
	at = put(text, at, "k = ", 'x');
	at = put(text, at, big + 1, 10);
	at = put(text, at, "m = 1", 10);
	at = put(text, at, "  continued", 10);
	text[at] = 0;
	ini_allow_multiline = 0;
	ini_use_stack = 0;
	ini_allow_realloc = 0;
	ini_max_line = ini_initial_alloc = 8192;
	return ini_parse_string(text, h, NULL) == 4 && ok == 2 ? 0 : 1;
}
]=] MTLS_INIH_RUNTIME_OPTIONS)
cmake_pop_check_state()
if(NOT MTLS_INIH_RUNTIME_OPTIONS)
  message(FATAL_ERROR "libinih lacks run-time options or line numbers (Debian's libinih-dev 55 "
    "has them): the config parser needs both")
endif()

add_library(mtls_agent_config STATIC
  ${CMAKE_CURRENT_LIST_DIR}/config.c
  ${CMAKE_CURRENT_LIST_DIR}/config_check.c
  ${CMAKE_CURRENT_LIST_DIR}/config_file.c
  ${CMAKE_CURRENT_LIST_DIR}/config_args.c)
target_include_directories(mtls_agent_config PUBLIC ${PROJECT_SOURCE_DIR}/agent)
target_link_libraries(mtls_agent_config PUBLIC mtls_common PRIVATE PkgConfig::INIH mtls_flags)
