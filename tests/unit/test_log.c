/* common/log.c: one line per call with a journald "<N>" prefix, levels
 * filtered, long lines bounded, untrusted text cleaned. Lines are captured
 * through -Wl,--wrap=write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "mtls/log.h"

ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);

static char out[4096];
static size_t outlen;
static unsigned writes;

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	if (fd != 2)
		return __real_write(fd, buf, n);
	writes++;
	if (outlen + n < sizeof(out)) {
		memcpy(out + outlen, buf, n);
		outlen += n;
		out[outlen] = '\0';
	}
	return (ssize_t)n;
}

static int setup(void **state)
{
	unsetenv("MTLS_LOG_LEVEL");
	mtls_log_set_level(MTLS_LOG_NOTICE);
	outlen = 0;
	out[0] = '\0';
	writes = 0;
	return 0;
}

static void a_line_has_its_priority_prefix_and_one_newline(void **state)
{
	mtls_log(MTLS_LOG_WARNING, "token %s in slot %d", "gw", 3);
	assert_string_equal(out, "<4>token gw in slot 3\n");
	assert_int_equal(writes, 1);
}

static void lines_above_the_level_are_dropped(void **state)
{
	mtls_log(MTLS_LOG_INFO, "chatty");
	mtls_log(MTLS_LOG_DEBUG, "chattier");
	assert_int_equal(writes, 0);
	mtls_log(MTLS_LOG_NOTICE, "n");
	mtls_log(MTLS_LOG_ERR, "e");
	assert_string_equal(out, "<5>n\n<3>e\n");
	mtls_log_set_level(MTLS_LOG_DEBUG);
	mtls_log(MTLS_LOG_DEBUG, "d");
	assert_string_equal(out, "<5>n\n<3>e\n<7>d\n");
}

static void the_level_is_kept_within_0_to_7(void **state)
{
	mtls_log_set_level(42);
	assert_int_equal(mtls_log_get_level(), MTLS_LOG_DEBUG);
	mtls_log_set_level(-3);
	assert_int_equal(mtls_log_get_level(), 0);
}

static void the_environment_overrides_the_level(void **state)
{
	setenv("MTLS_LOG_LEVEL", "7", 1);
	mtls_log_set_level(MTLS_LOG_ERR);
	assert_int_equal(mtls_log_get_level(), MTLS_LOG_DEBUG);
	setenv("MTLS_LOG_LEVEL", "9", 1);
	mtls_log_set_level(MTLS_LOG_ERR);
	assert_int_equal(mtls_log_get_level(), MTLS_LOG_ERR);
	setenv("MTLS_LOG_LEVEL", "77", 1);
	mtls_log_set_level(MTLS_LOG_INFO);
	assert_int_equal(mtls_log_get_level(), MTLS_LOG_INFO);
	unsetenv("MTLS_LOG_LEVEL");
}

static void a_long_line_is_cut_to_1023_bytes_with_its_newline(void **state)
{
	char *big = malloc(3000);

	memset(big, 'x', 2999);
	big[2999] = '\0';
	mtls_log(MTLS_LOG_ERR, "%s", big);
	free(big);
	assert_int_equal(writes, 1);
	assert_int_equal(outlen, 1023);
	assert_memory_equal(out, "<3>xxx", 6);
	assert_int_equal(out[1021], 'x');
	assert_int_equal(out[1022], '\n');
}

static void clean_replaces_control_bytes(void **state)
{
	char buf[32];

	assert_ptr_equal(mtls_log_clean(buf, sizeof(buf),
				 "a\nb\rc\x1b[0m\x7f"
				 "d\t",
				 12),
		buf);
	assert_string_equal(buf, "a?b?c?[0m?d?");
	/* UTF-8 passes. */
	mtls_log_clean(buf, sizeof(buf), "gr\xc3\xbc\xc3\x9f", 6);
	assert_string_equal(buf, "gr\xc3\xbc\xc3\x9f");
}

static void clean_is_bounded_by_both_lengths_and_stops_at_nul(void **state)
{
	char buf[8];

	memset(buf, 'Z', sizeof(buf));
	mtls_log_clean(buf, 5, "abcdefgh", 8);
	assert_string_equal(buf, "abcd");
	assert_int_equal(buf[5], 'Z');
	mtls_log_clean(buf, sizeof(buf), "abcdefgh", 3);
	assert_string_equal(buf, "abc");
	mtls_log_clean(buf, sizeof(buf), "ab\0cd", 5);
	assert_string_equal(buf, "ab");
	mtls_log_clean(buf, 1, "abc", 3);
	assert_string_equal(buf, "");
	buf[0] = 'Q';
	mtls_log_clean(buf, 0, "abc", 3);
	assert_int_equal(buf[0], 'Q');
}

int main(void)
{
#define T(f) cmocka_unit_test_setup(f, setup)
	const struct CMUnitTest tests[] = {
		T(a_line_has_its_priority_prefix_and_one_newline),
		T(lines_above_the_level_are_dropped),
		T(the_level_is_kept_within_0_to_7),
		T(the_environment_overrides_the_level),
		T(a_long_line_is_cut_to_1023_bytes_with_its_newline),
		T(clean_replaces_control_bytes),
		T(clean_is_bounded_by_both_lengths_and_stops_at_nul),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
