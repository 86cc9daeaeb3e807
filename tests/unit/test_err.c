/* common/err.c: a fixed text for every code and a per-thread detail. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mtls/err.h"

static void every_code_has_its_own_text(void **state)
{
	const char *seen[32];
	int code, i;

	for (code = MTLS_OK; code >= MTLS_ERR_LAST; code--) {
		seen[-code] = mtls_strerror(code);
		assert_non_null(seen[-code]);
		assert_string_not_equal(seen[-code], "unknown error");
		for (i = 0; i < -code; i++)
			assert_string_not_equal(seen[i], seen[-code]);
	}
	assert_string_equal(mtls_strerror(MTLS_ERR_PIN_LOCKED), "PIN locked or on its final try");
}

static void an_unknown_code_has_a_generic_text(void **state)
{
	assert_string_equal(mtls_strerror(MTLS_ERR_LAST - 1), "unknown error");
	assert_string_equal(mtls_strerror(1), "unknown error");
}

static void setting_a_detail_returns_the_code(void **state)
{
	assert_int_equal(mtls_err_set(MTLS_ERR_IO, "open %s: %d", "/x", 5), MTLS_ERR_IO);
	assert_string_equal(mtls_err_detail(), "open /x: 5");
	mtls_err_clear();
	assert_string_equal(mtls_err_detail(), "");
}

static void a_long_detail_is_cut_to_511_bytes(void **state)
{
	char big[700];

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mtls_err_set(MTLS_ERR_ARG, "%s", big);
	assert_int_equal(strlen(mtls_err_detail()), 511);
}

static void *other_thread(void *arg)
{
	mtls_err_set(MTLS_ERR_BUSY, "from the other thread");
	return (void *)(strcmp(mtls_err_detail(), "from the other thread") == 0 ? arg : NULL);
}

static void each_thread_has_its_own_detail(void **state)
{
	static int token;
	pthread_t th;
	void *ret = NULL;

	mtls_err_set(MTLS_ERR_IO, "mine");
	assert_int_equal(pthread_create(&th, NULL, other_thread, &token), 0);
	pthread_join(th, &ret);
	assert_ptr_equal(ret, &token);
	assert_string_equal(mtls_err_detail(), "mine");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_code_has_its_own_text),
		cmocka_unit_test(an_unknown_code_has_a_generic_text),
		cmocka_unit_test(setting_a_detail_returns_the_code),
		cmocka_unit_test(a_long_detail_is_cut_to_511_bytes),
		cmocka_unit_test(each_thread_has_its_own_detail),
	};

	return cmocka_run_group_tests_name("err", tests, NULL, NULL);
}
