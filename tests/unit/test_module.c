/* module.c: a module is loaded and initialised once per process, shared by
 * reference count, finalised by whoever initialised it, and every failure
 * to get there is reported with what to do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bridge.h"
#include "fakep11.h"
#include "mtls/err.h"

static int setup(void **state)
{
	fake_reset();
	mtls_err_clear();
	return 0;
}

static int teardown(void **state)
{
	return fake_teardown();
}

static void a_module_that_cannot_be_loaded_is_reported(void **state)
{
	struct p11_token *tok = NULL;

	assert_int_equal(
		p11_token_open("pkcs11:token=fake?module-path=/nonexistent/libnone.so", NULL, &tok),
		MTLS_ERR_MODULE);
	assert_detail_has("cannot load PKCS#11 module /nonexistent/libnone.so");
	assert_detail_has("check the path");
	assert_null(tok);
}

static void a_failing_initialize_is_reported_and_the_module_not_kept(void **state)
{
	struct p11_token *tok = NULL;

	fake_fail(FAKE_INITIALIZE, 1, CKR_GENERAL_ERROR);
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), MTLS_ERR_MODULE);
	assert_detail_has("C_Initialize of " FAKE_MODULE ": CKR_GENERAL_ERROR");
	assert_null(tok);
	/* Not cached half-initialised: the next open initialises again. */
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), 0);
	assert_int_equal(fake_calls(FAKE_INITIALIZE), 2);
	p11_token_free(tok);
	assert_int_equal(fake_calls(FAKE_FINALIZE), 1);
}

static void the_module_is_initialised_with_os_locking(void **state)
{
	struct p11_token *tok = NULL;

	/* The fake refuses pReserved != NULL; this checks the bridge sends
	 * sane arguments and that threads are allowed (CKF_OS_LOCKING_OK). */
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), 0);
	assert_true(fake_is_initialized());
	assert_true(fake_last()->init_flags & CKF_OS_LOCKING_OK);
	p11_token_free(tok);
	assert_false(fake_is_initialized());
}

static void a_module_initialised_by_someone_else_is_used_and_left_initialised(void **state)
{
	struct p11_token *tok = NULL;

	fake_set_initialized(1);
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), 0);
	assert_int_equal(fake_calls(FAKE_INITIALIZE), 1);
	p11_token_free(tok);
	assert_int_equal(fake_calls(FAKE_FINALIZE), 0);
	assert_true(fake_is_initialized());
	fake_set_initialized(0);
}

static void two_tokens_share_one_initialisation_until_the_last_is_freed(void **state)
{
	struct p11_token *a = NULL, *b = NULL;

	fake_add_slot(2, "other", "0002", FAKE_DEFAULT_FLAGS);
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &a), 0);
	assert_int_equal(p11_token_open(fake_uri("token=other", NULL), NULL, &b), 0);
	assert_ptr_not_equal(a, b);
	assert_ptr_equal(a->mod, b->mod);
	assert_int_equal(fake_calls(FAKE_INITIALIZE), 1);
	p11_token_free(a);
	assert_int_equal(fake_calls(FAKE_FINALIZE), 0);
	p11_token_free(b);
	assert_int_equal(fake_calls(FAKE_FINALIZE), 1);
}

static void a_failure_after_loading_releases_the_module(void **state)
{
	struct p11_token *tok = NULL;

	assert_int_equal(
		p11_token_open(fake_uri("token=nothere", NULL), NULL, &tok), MTLS_ERR_NO_TOKEN);
	assert_int_equal(fake_calls(FAKE_INITIALIZE), 1);
	assert_int_equal(fake_calls(FAKE_FINALIZE), 1);
}

static void an_unregistered_module_name_is_reported(void **state)
{
	struct p11_token *tok = NULL;

	assert_int_equal(
		p11_token_open("pkcs11:token=fake?module-name=mtls-no-such-module", NULL, &tok),
		MTLS_ERR_MODULE);
	assert_detail_has("no PKCS#11 module named 'mtls-no-such-module'");
}

static void a_module_name_with_a_slash_is_refused(void **state)
{
	struct p11_token *tok = NULL;

	assert_int_equal(p11_token_open("pkcs11:token=fake?module-name=..%2Fevil", NULL, &tok),
		MTLS_ERR_URI);
	assert_detail_has("not a plain name");
}

static void a_module_named_by_a_symlink_is_the_same_module(void **state)
{
	struct p11_token *a = NULL, *b = NULL;
	const char *real = fake_file("libfake.so", "", 0, 0600);
	char link[300], uri[700];

	/* The fake answers for an existing file, so realpath() resolves. */
	module_set_fake(real, fake_function_list());
	snprintf(link, sizeof(link), "%s/liblink.so", fake_tmpdir());
	unlink(link);
	assert_int_equal(symlink(real, link), 0);
	fake_add_slot(2, "other", "0002", FAKE_DEFAULT_FLAGS);
	snprintf(uri, sizeof(uri), "pkcs11:token=fake?module-path=%s", link);
	assert_int_equal(p11_token_open(uri, NULL, &a), 0);
	snprintf(uri, sizeof(uri), "pkcs11:token=other?module-path=%s", real);
	assert_int_equal(p11_token_open(uri, NULL, &b), 0);
	assert_ptr_equal(a->mod, b->mod);
	assert_string_equal(a->mod->path, real);
	assert_int_equal(fake_calls(FAKE_INITIALIZE), 1);
	p11_token_free(a);
	p11_token_free(b);
}

/* The real SoftHSM2 module, when installed: only to see a dlopen'd module
 * released on both paths. */
static int have_softhsm2(void)
{
	char path[512];

	return modcfg_resolve("softhsm2", path, sizeof(path)) == 0 && access(path, R_OK) == 0;
}

static void a_real_module_that_fails_to_initialise_is_unloaded(void **state)
{
	struct p11_token *tok = NULL;

	if (!have_softhsm2())
		skip();
	setenv("SOFTHSM2_CONF", "/nonexistent/softhsm2.conf", 1);
	assert_int_equal(
		p11_token_open("pkcs11:token=x?module-name=softhsm2", NULL, &tok), MTLS_ERR_MODULE);
	assert_detail_has("C_Initialize of ");
	unsetenv("SOFTHSM2_CONF");
}

static void a_real_module_is_finalised_and_unloaded_after_use(void **state)
{
	struct p11_token *tok = NULL;
	char conf[600], dir[300];

	if (!have_softhsm2())
		skip();
	snprintf(dir, sizeof(dir), "%s/softhsm-tokens", fake_tmpdir());
	mkdir(dir, 0700);
	snprintf(conf, sizeof(conf),
		"directories.tokendir = %s\nobjectstore.backend = file\n"
		"log.level = ERROR\n",
		dir);
	setenv("SOFTHSM2_CONF", fake_file("softhsm2.conf", conf, strlen(conf), 0600), 1);
	/* SoftHSM2 shows one uninitialised token: it is skipped. */
	assert_int_equal(p11_token_open("pkcs11:token=x?module-name=softhsm2", NULL, &tok),
		MTLS_ERR_NO_TOKEN);
	unsetenv("SOFTHSM2_CONF");
}

static void releasing_no_module_is_a_no_op(void **state)
{
	module_release(NULL);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(a_module_that_cannot_be_loaded_is_reported),
		T(a_failing_initialize_is_reported_and_the_module_not_kept),
		T(the_module_is_initialised_with_os_locking),
		T(a_module_initialised_by_someone_else_is_used_and_left_initialised),
		T(two_tokens_share_one_initialisation_until_the_last_is_freed),
		T(a_failure_after_loading_releases_the_module),
		T(an_unregistered_module_name_is_reported),
		T(a_module_name_with_a_slash_is_refused),
		T(a_module_named_by_a_symlink_is_the_same_module),
		T(a_real_module_that_fails_to_initialise_is_unloaded),
		T(a_real_module_is_finalised_and_unloaded_after_use),
		T(releasing_no_module_is_a_no_op),
	};

	return cmocka_run_group_tests_name("module", tests, NULL, NULL);
}
