/* token.c: choosing exactly one token, PIN sources and flags, the single
 * login and its failures, the session pool, and finding a token again after
 * it went away. Log lines are captured through -Wl,--wrap=write. */
#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "bridge.h"
#include "fakep11.h"
#include "mtls/err.h"

#define KEY_URI fake_uri("token=fake;object=k", NULL)

/* ---- captured log ---- */

ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __real_write(int fd, const void *buf, size_t n);

static char logbuf[16384];
static size_t loglen;

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	if (fd == 2 && loglen + n < sizeof(logbuf)) {
		memcpy(logbuf + loglen, buf, n);
		loglen += n;
		logbuf[loglen] = '\0';
	}
	return __real_write(fd, buf, n);
}

#define assert_log_has(s)                                                 \
	do {                                                              \
		if (strstr(logbuf, (s)) == NULL)                          \
			fail_msg("log \"%s\" lacks \"%s\"", logbuf, (s)); \
	} while (0)

/* ---- helpers ---- */

/* Long enough that two calls in a row fall within one interval even on a
 * loaded machine; short enough for a quick test. */
#define RESCAN_MS 100

static struct p11_options opts(void)
{
	struct p11_options o = {.rescan_ms = RESCAN_MS, .wait_ms = 100};

	return o;
}

static struct p11_options pin_opts(void)
{
	struct p11_options o = opts();

	o.pin_file = fake_file("pin", FAKE_PIN "\n", 5, 0600);
	return o;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* The mechanism array holds at least nmechs entries. */
static void assert_mechs_consistent(const struct p11_token *tok)
{
	if (tok->nmechs > 0 &&
		(tok->mechs == NULL ||
			tok->nmechs * sizeof(*tok->mechs) > malloc_usable_size(tok->mechs)))
		fail_msg("nmechs %lu but the array holds %zu bytes", (unsigned long)tok->nmechs,
			tok->mechs ? malloc_usable_size(tok->mechs) : 0);
}

static int setup(void **state)
{
	fake_reset();
	fake_add_ec_key("k", "\x01", 1, 256);
	mtls_err_clear();
	loglen = 0;
	logbuf[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	unsetenv("CREDENTIALS_DIRECTORY");
	return fake_teardown();
}

static void describe_is(struct p11_token *tok, const char *want)
{
	char d[512];

	assert_int_equal(p11_token_describe(tok, d, sizeof(d)), 0);
	assert_string_equal(d, want);
}

/* ---- choosing the token ---- */

static void a_uri_naming_the_token_opens_it(void **state)
{
	struct p11_token *tok = NULL;

	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), 0);
	describe_is(tok,
		"token=fake serial=0001 slot=1 present mechanisms: CKM_ECDSA "
		"CKM_RSA_PKCS CKM_RSA_PKCS_PSS");
	assert_int_equal(fake_calls(FAKE_LOGIN), 0); /* login waits for the first use */
	p11_token_free(tok);
}

static void a_label_is_compared_over_its_full_width(void **state)
{
	struct p11_token *tok = NULL;

	assert_int_equal(
		p11_token_open(fake_uri("token=fak", NULL), NULL, &tok), MTLS_ERR_NO_TOKEN);
	assert_detail_has("no initialised token in " FAKE_MODULE " matches the URI (1 slots");
	assert_detail_has("pkcs11-tool");
	assert_int_equal(
		p11_token_open(fake_uri("token=fake1", NULL), NULL, &tok), MTLS_ERR_NO_TOKEN);
	assert_null(tok);
}

static void a_slot_list_error_is_reported(void **state)
{
	struct p11_token *tok = NULL;

	fake_fail(FAKE_GET_SLOT_LIST, 1, CKR_DEVICE_ERROR);
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), MTLS_ERR_TOKEN);
	assert_detail_has("C_GetSlotList: CKR_DEVICE_ERROR");
}

static void a_module_without_tokens_finds_none(void **state)
{
	struct p11_token *tok = NULL;

	fake_remove_token();
	assert_int_equal(
		p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), MTLS_ERR_NO_TOKEN);
	assert_detail_has("(0 slots");
}

static void a_slot_list_too_long_for_the_buffer_is_not_read_as_garbage(void **state)
{
	struct p11_token *tok = NULL;
	int rc;

	/* After CKR_BUFFER_TOO_SMALL the buffer's contents are undefined
	 * (PKCS#11 v2.40 5.5): they are no slot ids. Asking again or refusing
	 * are both fine; looking at them is not. */
	fake_fail(FAKE_GET_SLOT_LIST, 1, CKR_BUFFER_TOO_SMALL);
	rc = p11_token_open(fake_uri("token=fake", NULL), NULL, &tok);
	if (rc == 0) {
		p11_token_free(tok);
		assert_int_equal(fake_calls(FAKE_GET_TOKEN_INFO), 1);
	} else {
		assert_int_equal(fake_calls(FAKE_GET_TOKEN_INFO), 0);
		assert_detail_has("slots");
	}
}

static void two_tokens_with_the_same_label_are_ambiguous(void **state)
{
	struct p11_token *tok = NULL;

	fake_add_slot(2, FAKE_LABEL, "0002", FAKE_DEFAULT_FLAGS);
	assert_int_equal(
		p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), MTLS_ERR_AMBIGUOUS);
	assert_detail_has("matches 2 tokens: token=fake serial=0001 (slot 1); "
			  "token=fake serial=0002 (slot 2)");
	assert_detail_has("add token= and serial=");
	assert_null(tok);
}

static void a_serial_picks_one_of_two_tokens_with_the_same_label(void **state)
{
	struct p11_token *tok = NULL;

	fake_add_slot(2, FAKE_LABEL, "0002", FAKE_DEFAULT_FLAGS);
	assert_int_equal(p11_token_open(fake_uri("token=fake;serial=0002", NULL), NULL, &tok), 0);
	describe_is(tok,
		"token=fake serial=0002 slot=2 present mechanisms: CKM_ECDSA "
		"CKM_RSA_PKCS CKM_RSA_PKCS_PSS");
	p11_token_free(tok);
}

static void an_uninitialised_token_is_skipped(void **state)
{
	struct p11_token *tok = NULL;

	fake_add_slot(2, FAKE_LABEL, "0002", FAKE_DEFAULT_FLAGS & ~CKF_TOKEN_INITIALIZED);
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), 0);
	assert_int_equal(tok->slot, FAKE_SLOT);
	p11_token_free(tok);
	fake_set_flags(FAKE_DEFAULT_FLAGS & ~CKF_TOKEN_INITIALIZED);
	assert_int_equal(
		p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), MTLS_ERR_NO_TOKEN);
}

static void a_slot_whose_token_info_fails_is_skipped(void **state)
{
	struct p11_token *tok = NULL;

	fake_add_slot(2, FAKE_LABEL, "0002", FAKE_DEFAULT_FLAGS);
	fake_fail(FAKE_GET_TOKEN_INFO, 1, CKR_DEVICE_ERROR);
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), 0);
	assert_int_equal(tok->slot, 2);
	p11_token_free(tok);
}

static void a_slot_id_in_the_uri_selects_only_that_slot(void **state)
{
	struct p11_token *tok = NULL;

	assert_int_equal(p11_token_open(fake_uri("token=fake;slot-id=1", NULL), NULL, &tok), 0);
	p11_token_free(tok);
	assert_int_equal(p11_token_open(fake_uri("token=fake;slot-id=5", NULL), NULL, &tok),
		MTLS_ERR_NO_TOKEN);
	fake_set_slot_id(5);
	assert_int_equal(p11_token_open(fake_uri("slot-id=5", NULL), NULL, &tok), 0);
	p11_token_free(tok);
}

static void a_slot_description_in_the_uri_must_match(void **state)
{
	struct p11_token *tok = NULL;

	assert_int_equal(
		p11_token_open(fake_uri("slot-description=fake%20slot", NULL), NULL, &tok), 0);
	p11_token_free(tok);
	assert_int_equal(p11_token_open(fake_uri("slot-description=other", NULL), NULL, &tok),
		MTLS_ERR_NO_TOKEN);
}

static void a_slot_whose_slot_info_fails_is_skipped(void **state)
{
	struct p11_token *tok = NULL;

	fake_fail(FAKE_GET_SLOT_INFO, 1, CKR_DEVICE_ERROR);
	assert_int_equal(
		p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), MTLS_ERR_NO_TOKEN);
}

static void a_mechanism_list_error_is_reported(void **state)
{
	struct p11_token *tok = NULL;

	fake_fail(FAKE_GET_MECHANISM_LIST, 1, CKR_DEVICE_ERROR);
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), MTLS_ERR_TOKEN);
	assert_detail_has("C_GetMechanismList: CKR_DEVICE_ERROR");
	fake_fail(FAKE_GET_MECHANISM_LIST, 2, CKR_GENERAL_ERROR);
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), MTLS_ERR_TOKEN);
	assert_detail_has("C_GetMechanismList: CKR_GENERAL_ERROR");
	assert_null(tok);
}

static const CK_MECHANISM_TYPE six[] = {CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_ECDSA_SHA256,
	CKM_ECDSA_SHA384, CKM_RSA_X_509};

static void grow_mechanisms(void *arg)
{
	fake_set_mechanisms(six, 6);
}

static void a_mechanism_list_that_grows_between_calls_is_read_whole(void **state)
{
	struct p11_token *tok = NULL;

	/* Between the count and the fetch another mechanism appears: the
	 * fetch answers CKR_BUFFER_TOO_SMALL with the new count. */
	fake_on_call(FAKE_GET_MECHANISM_LIST, 2, CKR_OK, grow_mechanisms, NULL);
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), 0);
	assert_mechs_consistent(tok);
	describe_is(tok,
		"token=fake serial=0001 slot=1 present mechanisms: CKM_ECDSA "
		"CKM_RSA_PKCS CKM_RSA_PKCS_PSS CKM_ECDSA_SHA256 CKM_ECDSA_SHA384 "
		"CKM_RSA_X_509");
	p11_token_free(tok);
}

static void the_description_names_known_mechanisms_and_skips_others(void **state)
{
	static const CK_MECHANISM_TYPE all[] = {CKM_ECDSA, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384,
		CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_RSA_X_509, CKM_EC_KEY_PAIR_GEN,
		CKM_RSA_PKCS_KEY_PAIR_GEN, CKM_SHA256};
	struct p11_token *tok = NULL;

	fake_set_mechanisms(all, sizeof(all) / sizeof(all[0]));
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), 0);
	describe_is(tok,
		"token=fake serial=0001 slot=1 present mechanisms: CKM_ECDSA "
		"CKM_ECDSA_SHA256 CKM_ECDSA_SHA384 CKM_RSA_PKCS CKM_RSA_PKCS_PSS "
		"CKM_RSA_X_509 CKM_EC_KEY_PAIR_GEN CKM_RSA_PKCS_KEY_PAIR_GEN");
	assert_true(token_has_mech(tok, CKM_SHA256));
	assert_false(token_has_mech(tok, CKM_SHA384));
	p11_token_free(tok);
}

static void a_token_listing_more_than_512_mechanisms_is_not_misread(void **state)
{
	static CK_MECHANISM_TYPE many[600];
	struct p11_token *tok = NULL;
	size_t i;
	int rc;

	for (i = 0; i < 600; i++)
		many[i] = CKM_VENDOR_DEFINED + i;
	many[0] = CKM_ECDSA;
	many[599] = CKM_RSA_PKCS;
	fake_set_mechanisms(many, 600);
	/* Refusing is fine; a list that is not the token's is not. */
	rc = p11_token_open(fake_uri("token=fake", NULL), NULL, &tok);
	if (rc == 0) {
		assert_mechs_consistent(tok);
		if (!token_has_mech(tok, CKM_ECDSA))
			fail_msg("the mechanism list read is not the token's");
		p11_token_free(tok);
	}
}

static void a_second_open_shares_the_token(void **state)
{
	struct p11_token *a = NULL, *b = NULL;

	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &a), 0);
	assert_int_equal(p11_token_open(fake_uri("serial=0001", NULL), NULL, &b), 0);
	assert_ptr_equal(a, b);
	assert_int_equal(a->refs, 2);
	p11_token_free(a);
	assert_true(fake_is_initialized());
	p11_token_free(b);
	p11_token_free(NULL);
}

static void a_description_fits_any_buffer(void **state)
{
	struct p11_token *tok = NULL;
	char d[12];

	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), NULL, &tok), 0);
	assert_int_equal(p11_token_describe(tok, d, 0), MTLS_ERR_ARG);
	memset(d, 'X', sizeof(d));
	assert_int_equal(p11_token_describe(tok, d, 11), 0);
	assert_string_equal(d, "token=fake");
	assert_int_equal(d[11], 'X');
	p11_token_free(tok);
}

/* ---- PIN sources ---- */

static void key_open_fails(const struct p11_options *o, int want, const char *why)
{
	struct p11_key *key = (struct p11_key *)&key;

	assert_int_equal(p11_key_open(KEY_URI, o, &key), want);
	assert_null(key);
	if (why != NULL)
		assert_detail_has(why);
}

static void key_open_works(const struct p11_options *o, const char *uri)
{
	struct p11_key *key = NULL;

	if (p11_key_open(uri ? uri : KEY_URI, o, &key) != 0)
		fail_msg("p11_key_open: %s", mtls_err_detail());
	p11_key_free(key);
}

static void a_missing_pin_file_is_refused_before_any_login(void **state)
{
	struct p11_options o = opts();

	o.pin_file = "/nonexistent/pin";
	key_open_fails(&o, MTLS_ERR_PIN_SOURCE, "/nonexistent/pin cannot be opened");
	assert_int_equal(fake_calls(FAKE_LOGIN), 0);
}

static void a_pin_file_others_can_read_is_refused(void **state)
{
	struct p11_options o = opts();

	o.pin_file = fake_file("pin644", "1234\n", 5, 0644);
	key_open_fails(&o, MTLS_ERR_PIN_SOURCE, "chmod 600");
	o.pin_file = fake_file("pin640", "1234\n", 5, 0640);
	key_open_fails(&o, MTLS_ERR_PIN_SOURCE, "mode 0640");
	assert_int_equal(fake_calls(FAKE_LOGIN), 0);
}

static void a_pin_file_that_is_a_directory_is_refused(void **state)
{
	struct p11_options o = opts();

	o.pin_file = fake_tmpdir();
	key_open_fails(&o, MTLS_ERR_PIN_SOURCE, "is not a regular file");
}

static void a_pin_file_over_the_limit_or_empty_is_refused(void **state)
{
	struct p11_options o = opts();
	char big[300];

	memset(big, '1', sizeof(big));
	o.pin_file = fake_file("pinbig", big, sizeof(big), 0600);
	key_open_fails(&o, MTLS_ERR_PIN_SOURCE, "must hold 1 to 256 bytes");
	o.pin_file = fake_file("pinempty", "", 0, 0600);
	key_open_fails(&o, MTLS_ERR_PIN_SOURCE, "must hold 1 to 256 bytes");
	o.pin_file = fake_file("pinnl", "\n", 1, 0600);
	key_open_fails(&o, MTLS_ERR_PIN_SOURCE, "must hold 1 to 256 bytes");
	assert_int_equal(fake_calls(FAKE_LOGIN), 0);
}

static void a_pin_credential_is_read_from_the_credentials_directory(void **state)
{
	struct p11_options o = opts();

	fake_file("cred-pin", "1234", 4, 0600);
	setenv("CREDENTIALS_DIRECTORY", fake_tmpdir(), 1);
	o.pin_credential = "cred-pin";
	key_open_works(&o, NULL);
	assert_int_equal(fake_last()->user_logins, 1);
}

static void a_pin_credential_without_credentials_directory_is_refused(void **state)
{
	struct p11_options o = opts();

	o.pin_credential = "cred-pin";
	unsetenv("CREDENTIALS_DIRECTORY");
	key_open_fails(&o, MTLS_ERR_PIN_SOURCE, "$CREDENTIALS_DIRECTORY is not set");
	setenv("CREDENTIALS_DIRECTORY", "", 1);
	key_open_fails(&o, MTLS_ERR_PIN_SOURCE, "$CREDENTIALS_DIRECTORY is not set");
}

static void a_pin_credential_name_with_a_slash_is_refused(void **state)
{
	struct p11_options o = opts();

	setenv("CREDENTIALS_DIRECTORY", fake_tmpdir(), 1);
	o.pin_credential = "../pin";
	key_open_fails(&o, MTLS_ERR_PIN_SOURCE, "must be a plain file name");
	o.pin_credential = "..";
	key_open_fails(&o, MTLS_ERR_PIN_SOURCE, "must be a plain file name");
}

static void a_relative_pin_source_is_refused(void **state)
{
	struct p11_options o = opts();
	struct p11_key *key = NULL;

	assert_int_equal(p11_key_open(fake_uri("object=k", "&pin-source=pin.txt"), &o, &key),
		MTLS_ERR_PIN_SOURCE);
	assert_detail_has("pin-source must be an absolute file path");
	assert_int_equal(p11_key_open(fake_uri("object=k", "&pin-source=file:pin.txt"), &o, &key),
		MTLS_ERR_PIN_SOURCE);
}

static void a_pin_source_in_the_uri_is_read_as_a_file(void **state)
{
	struct p11_options o = opts();
	char q[300];

	snprintf(q, sizeof(q), "&pin-source=file:%s", fake_file("pinsrc", "1234", 4, 0600));
	key_open_works(&o, fake_uri("object=k", q));
	snprintf(q, sizeof(q), "&pin-source=%s", fake_file("pinsrc", "1234", 4, 0600));
	key_open_works(&o, fake_uri("object=k", q));
	assert_int_equal(fake_last()->user_logins, 2);
}

static void the_pin_file_option_wins_over_the_uris_pin_source(void **state)
{
	struct p11_options o = pin_opts();
	char q[300];

	snprintf(q, sizeof(q), "&pin-source=%s", fake_file("wrongpin", "9999", 4, 0600));
	key_open_works(&o, fake_uri("object=k", q));
	o.pin_file = NULL;
	fake_file("cred-pin", "1234", 4, 0600);
	setenv("CREDENTIALS_DIRECTORY", fake_tmpdir(), 1);
	o.pin_credential = "cred-pin";
	key_open_works(&o, fake_uri("object=k", q));
	assert_int_equal(fake_calls(FAKE_LOGIN), 2);
}

/* ---- PIN flags ---- */

static void a_locked_pin_is_reported_without_a_login_and_remembered(void **state)
{
	struct p11_options o = pin_opts();

	fake_set_serial("locked-1");
	fake_set_flags(FAKE_DEFAULT_FLAGS | CKF_USER_PIN_LOCKED);
	key_open_fails(&o, MTLS_ERR_PIN_LOCKED, "CKF_USER_PIN_LOCKED");
	fake_set_flags(FAKE_DEFAULT_FLAGS);
	key_open_fails(&o, MTLS_ERR_PIN_LOCKED, "refused its PIN earlier in this process");
	assert_int_equal(fake_calls(FAKE_LOGIN), 0);
}

static void a_final_try_is_refused_without_a_login_and_not_remembered(void **state)
{
	struct p11_options o = pin_opts();

	fake_set_serial("final-1");
	fake_set_flags(FAKE_DEFAULT_FLAGS | CKF_USER_PIN_FINAL_TRY);
	key_open_fails(&o, MTLS_ERR_PIN_LOCKED, "CKF_USER_PIN_FINAL_TRY");
	assert_int_equal(fake_calls(FAKE_LOGIN), 0);
	fake_set_flags(FAKE_DEFAULT_FLAGS);
	key_open_works(&o, NULL);
	assert_int_equal(fake_calls(FAKE_LOGIN), 1);
}

static void a_final_try_is_spent_when_the_configuration_allows_it(void **state)
{
	struct p11_options o = pin_opts();

	o.allow_final_try = 1;
	fake_set_flags(FAKE_DEFAULT_FLAGS | CKF_USER_PIN_FINAL_TRY);
	key_open_works(&o, NULL);
	assert_int_equal(fake_calls(FAKE_LOGIN), 1);
}

static void a_low_pin_count_is_warned_about_and_login_goes_on(void **state)
{
	struct p11_options o = pin_opts();

	fake_set_flags(FAKE_DEFAULT_FLAGS | CKF_USER_PIN_COUNT_LOW);
	key_open_works(&o, NULL);
	assert_log_has("<4>token reports wrong PIN attempts before (CKF_USER_PIN_COUNT_LOW)");
	assert_int_equal(fake_calls(FAKE_LOGIN), 1);
}

static void a_token_info_error_before_login_is_reported(void **state)
{
	struct p11_options o = pin_opts();

	fake_fail(FAKE_GET_TOKEN_INFO, 2, CKR_DEVICE_ERROR);
	key_open_fails(&o, MTLS_ERR_TOKEN, "C_GetTokenInfo: CKR_DEVICE_ERROR");
	assert_int_equal(fake_calls(FAKE_LOGIN), 0);
}

/* ---- login ---- */

static void two_keys_on_one_token_share_one_login(void **state)
{
	struct p11_options o = pin_opts();
	struct p11_key *a = NULL, *b = NULL;

	fake_add_ec_key("k2", "\x02", 1, 256);
	assert_int_equal(p11_key_open(KEY_URI, &o, &a), 0);
	assert_int_equal(p11_key_open(fake_uri("object=k2", NULL), &o, &b), 0);
	assert_ptr_equal(p11_key_token(a), p11_key_token(b));
	assert_int_equal(fake_calls(FAKE_LOGIN), 1);
	assert_int_equal(fake_last()->login_user, CKU_USER);
	p11_key_free(a);
	p11_key_free(b);
}

static void a_token_already_logged_in_is_accepted(void **state)
{
	struct p11_options o = pin_opts();

	fake_set_logged_in();
	key_open_works(&o, NULL);
	assert_int_equal(fake_calls(FAKE_LOGIN), 1);
}

static void a_wrong_pin_is_tried_exactly_once_in_this_process(void **state)
{
	struct p11_options o = opts();
	struct p11_token *tok = NULL;

	fake_set_serial("wrong-1");
	o.pin_file = fake_file("badpin", "9999", 4, 0600);
	key_open_fails(&o, MTLS_ERR_PIN_INCORRECT, "C_Login: CKR_PIN_INCORRECT");
	assert_detail_has("it will not be tried again");
	assert_int_equal(fake_calls(FAKE_LOGIN), 1);
	/* Not even with the right PIN: a retry loop must not lock the card. */
	o = pin_opts();
	key_open_fails(&o, MTLS_ERR_PIN_INCORRECT, "refused its PIN earlier");
	assert_int_equal(
		p11_token_open(fake_uri("token=fake", NULL), &o, &tok), MTLS_ERR_PIN_INCORRECT);
	assert_int_equal(fake_calls(FAKE_LOGIN), 1);
}

static void a_wrong_pin_on_a_shared_token_stops_later_logins(void **state)
{
	struct p11_options o = opts();
	struct p11_token *tok = NULL;
	struct p11_session s;

	fake_set_serial("wrong-2");
	o.pin_file = fake_file("badpin", "9999", 4, 0600);
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	assert_int_equal(token_acquire(tok, &s), MTLS_ERR_PIN_INCORRECT);
	assert_int_equal(token_acquire(tok, &s), MTLS_ERR_PIN_INCORRECT);
	assert_detail_has("an earlier login failed with a PIN error");
	o = pin_opts();
	key_open_fails(&o, MTLS_ERR_PIN_INCORRECT, NULL);
	assert_int_equal(fake_calls(FAKE_LOGIN), 1);
	p11_token_free(tok);
}

static void a_locked_pin_reported_by_login_is_remembered(void **state)
{
	struct p11_options o = pin_opts();

	fake_set_serial("locked-2");
	fake_fail(FAKE_LOGIN, 1, CKR_PIN_LOCKED);
	key_open_fails(&o, MTLS_ERR_PIN_LOCKED, "C_Login: CKR_PIN_LOCKED");
	key_open_fails(&o, MTLS_ERR_PIN_LOCKED, NULL);
	assert_int_equal(fake_calls(FAKE_LOGIN), 1);
}

static void another_login_error_is_reported_and_may_be_tried_again(void **state)
{
	struct p11_options o = pin_opts();

	fake_fail(FAKE_LOGIN, 1, CKR_DEVICE_ERROR);
	key_open_fails(&o, MTLS_ERR_LOGIN, "C_Login: CKR_DEVICE_ERROR");
	key_open_works(&o, NULL);
	assert_int_equal(fake_calls(FAKE_LOGIN), 2);
}

static void the_memory_of_pin_failures_is_bounded_and_forgets_the_oldest(void **state)
{
	struct p11_options bad = opts(), good = pin_opts();
	char serial[16];
	int i;

	bad.pin_file = fake_file("badpin", "9999", 4, 0600);
	for (i = 0; i <= 16; i++) {
		snprintf(serial, sizeof(serial), "evict-%d", i);
		fake_set_serial(serial);
		key_open_fails(&bad, MTLS_ERR_PIN_INCORRECT, "CKR_PIN_INCORRECT");
	}
	fake_set_serial("evict-16");
	key_open_fails(&good, MTLS_ERR_PIN_INCORRECT, "refused its PIN earlier");
	fake_set_serial("evict-0");
	key_open_works(&good, NULL);
}

static void a_pin_pad_token_logs_in_without_a_pin(void **state)
{
	struct p11_options o = opts();

	fake_set_flags(FAKE_DEFAULT_FLAGS | CKF_PROTECTED_AUTHENTICATION_PATH);
	key_open_works(&o, NULL);
	assert_int_equal(fake_calls(FAKE_LOGIN), 1);
	assert_true(fake_last()->login_pin_null);
}

static void a_pin_source_is_used_even_on_a_pin_pad_token(void **state)
{
	struct p11_options o = pin_opts();

	fake_set_flags(FAKE_DEFAULT_FLAGS | CKF_PROTECTED_AUTHENTICATION_PATH);
	key_open_works(&o, NULL);
	assert_false(fake_last()->login_pin_null);
}

static void a_pin_pad_token_that_needs_no_login_is_not_logged_in(void **state)
{
	struct p11_options o = opts();

	fake_obj_set_bool(0, CKA_PRIVATE, CK_FALSE);
	fake_set_flags(
		(FAKE_DEFAULT_FLAGS & ~CKF_LOGIN_REQUIRED) | CKF_PROTECTED_AUTHENTICATION_PATH);
	key_open_works(&o, NULL);
	assert_int_equal(fake_calls(FAKE_LOGIN), 0);
}

static void a_token_that_needs_no_login_is_used_without_one(void **state)
{
	struct p11_options o = opts();

	fake_obj_set_bool(0, CKA_PRIVATE, CK_FALSE);
	fake_set_flags(FAKE_DEFAULT_FLAGS & ~CKF_LOGIN_REQUIRED);
	key_open_works(&o, NULL);
	assert_int_equal(fake_calls(FAKE_LOGIN), 0);
	if (strstr(logbuf, "requires login") != NULL)
		fail_msg("needless notice: %s", logbuf);
}

static void a_token_needing_login_without_a_pin_source_shows_no_private_key(void **state)
{
	struct p11_options o = opts();

	key_open_fails(&o, MTLS_ERR_NO_OBJECT, "not logged in: no PIN source given");
	assert_log_has("<5>token requires login but no PIN source was given");
	assert_int_equal(fake_calls(FAKE_LOGIN), 0);
}

/* ---- the session pool ---- */

static void pool_size_is(CK_ULONG token_max, unsigned max_sessions, size_t want)
{
	struct p11_options o = opts();
	struct p11_token *tok = NULL;

	fake_set_max_sessions(token_max);
	o.max_sessions = max_sessions;
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	assert_int_equal(tok->max, want);
	p11_token_free(tok);
}

static void the_pool_follows_the_tokens_session_limit_and_the_options(void **state)
{
	pool_size_is(CK_EFFECTIVELY_INFINITE, 0, 8);
	pool_size_is(CK_UNAVAILABLE_INFORMATION, 0, 8);
	pool_size_is(2, 0, 2);
	pool_size_is(1, 4, 1);
	pool_size_is(CK_EFFECTIVELY_INFINITE, 3, 3);
	pool_size_is(CK_EFFECTIVELY_INFINITE, 20, 8);
}

static void a_session_count_error_shrinks_the_pool_to_what_the_token_allows(void **state)
{
	struct p11_options o = opts();
	struct p11_token *tok = NULL;
	struct p11_session s1, s2;

	fake_set_session_limit(1);
	o.wait_ms = 30;
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	assert_int_equal(token_acquire(tok, &s1), 0);
	assert_int_equal(token_acquire(tok, &s2), MTLS_ERR_BUSY);
	assert_int_equal(tok->max, 1);
	token_release(tok, &s1);
	assert_int_equal(token_acquire(tok, &s2), 0);
	assert_int_equal(s2.h, s1.h);
	token_release(tok, &s2);
	assert_int_equal(fake_calls(FAKE_OPEN_SESSION), 2);
	p11_token_free(tok);
	assert_int_equal(fake_open_sessions(), 0);
}

static void a_session_count_error_with_no_session_open_is_busy(void **state)
{
	struct p11_options o = opts();
	struct p11_token *tok = NULL;
	struct p11_session s;

	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	fake_fail(FAKE_OPEN_SESSION, 1, CKR_SESSION_COUNT);
	assert_int_equal(token_acquire(tok, &s), MTLS_ERR_BUSY);
	assert_detail_has("C_OpenSession: CKR_SESSION_COUNT");
	p11_token_free(tok);
}

static void waiting_for_a_session_times_out_with_busy(void **state)
{
	struct p11_options o = opts();
	struct p11_token *tok = NULL;
	struct p11_session s1, s2;
	double t0, dt;

	o.max_sessions = 1;
	o.wait_ms = 50;
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	assert_int_equal(token_acquire(tok, &s1), 0);
	t0 = now_ms();
	assert_int_equal(token_acquire(tok, &s2), MTLS_ERR_BUSY);
	dt = now_ms() - t0;
	assert_detail_has("no token session became free within 50 ms (1 in use)");
	assert_true(dt >= 40 && dt < 2000);
	token_release(tok, &s1);
	p11_token_free(tok);
}

struct giver {
	struct p11_token *tok;
	struct p11_session s;
};

static void *give_back_later(void *arg)
{
	struct giver *g = arg;

	sleep_ms(RESCAN_MS + 30);
	token_release(g->tok, &g->s);
	return NULL;
}

static void a_session_given_back_by_another_thread_ends_the_wait(void **state)
{
	struct p11_options o = opts();
	struct giver g;
	struct p11_session s;
	pthread_t th;
	double t0;

	o.max_sessions = 1;
	o.wait_ms = 5000;
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &g.tok), 0);
	assert_int_equal(token_acquire(g.tok, &g.s), 0);
	assert_int_equal(pthread_create(&th, NULL, give_back_later, &g), 0);
	t0 = now_ms();
	assert_int_equal(token_acquire(g.tok, &s), 0);
	assert_true(now_ms() - t0 < 2000);
	pthread_join(th, NULL);
	assert_int_equal(s.h, g.s.h);
	token_release(g.tok, &s);
	p11_token_free(g.tok);
}

static void an_open_session_error_is_reported(void **state)
{
	struct p11_options o = opts();
	struct p11_token *tok = NULL;
	struct p11_session s;

	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	fake_fail(FAKE_OPEN_SESSION, 1, CKR_DEVICE_ERROR);
	assert_int_equal(token_acquire(tok, &s), MTLS_ERR_TOKEN);
	assert_detail_has("C_OpenSession: CKR_DEVICE_ERROR");
	assert_int_equal(tok->nopen, 0);
	p11_token_free(tok);
}

static void a_failed_login_keeps_its_healthy_session_in_the_pool(void **state)
{
	struct p11_options o = pin_opts();
	struct p11_token *tok = NULL;
	struct p11_session s1, s2;

	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	fake_fail(FAKE_LOGIN, 1, CKR_DEVICE_ERROR);
	assert_int_equal(token_acquire(tok, &s1), MTLS_ERR_LOGIN);
	assert_int_equal(tok->nidle, 1);
	assert_int_equal(token_acquire(tok, &s2), 0);
	assert_int_equal(fake_calls(FAKE_OPEN_SESSION), 1);
	token_release(tok, &s2);
	p11_token_free(tok);
}

static void a_session_that_died_during_login_is_not_reused_forever(void **state)
{
	struct p11_options o = pin_opts();
	struct p11_token *tok = NULL;
	struct p11_session s;
	int rc;

	/* A transient login error, then the token resets (drops every
	 * session): the pooled session is dead. One failed call is fair;
	 * after that the bridge must work again. */
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	fake_fail(FAKE_LOGIN, 1, CKR_DEVICE_ERROR);
	assert_int_equal(token_acquire(tok, &s), MTLS_ERR_LOGIN);
	fake_drop_sessions();
	rc = token_acquire(tok, &s);
	if (rc == 0)
		token_release(tok, &s);
	rc = token_acquire(tok, &s);
	if (rc != 0)
		fail_msg("still failing after the token reset: %s", mtls_err_detail());
	token_release(tok, &s);
	p11_token_free(tok);
}

static void pull_token(void *arg)
{
	fake_remove_token();
}

static void a_token_pulled_out_during_login_is_looked_for_again(void **state)
{
	struct p11_options o = pin_opts();
	struct p11_token *tok = NULL;
	struct p11_session s;
	int rc;

	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	fake_on_call(FAKE_LOGIN, 1, CKR_DEVICE_REMOVED, pull_token, NULL);
	assert_int_equal(token_acquire(tok, &s), MTLS_ERR_TOKEN_ABSENT);
	fake_insert_token(7);
	sleep_ms(RESCAN_MS + 30);
	rc = token_acquire(tok, &s);
	if (rc == 0)
		token_release(tok, &s);
	sleep_ms(RESCAN_MS + 30);
	rc = token_acquire(tok, &s);
	if (rc != 0)
		fail_msg("token back in slot 7 but still failing: %s", mtls_err_detail());
	assert_int_equal(tok->slot, 7);
	token_release(tok, &s);
	p11_token_free(tok);
}

/* ---- absence and rescans ---- */

static void a_token_gone_when_opening_a_session_fails_fast_until_the_next_rescan(void **state)
{
	struct p11_options o = opts();
	struct p11_token *tok = NULL;
	struct p11_session s;
	unsigned long scans;

	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	fake_fail(FAKE_OPEN_SESSION, 1, CKR_DEVICE_REMOVED);
	assert_int_equal(token_acquire(tok, &s), MTLS_ERR_TOKEN_ABSENT);
	scans = fake_calls(FAKE_GET_SLOT_LIST);
	assert_int_equal(token_acquire(tok, &s), MTLS_ERR_TOKEN_ABSENT);
	assert_detail_has("looking again every 100 ms");
	assert_int_equal(fake_calls(FAKE_GET_SLOT_LIST), scans);
	describe_is(tok,
		"token=fake serial=0001 slot=1 absent mechanisms: CKM_ECDSA "
		"CKM_RSA_PKCS CKM_RSA_PKCS_PSS");
	sleep_ms(RESCAN_MS + 30);
	assert_int_equal(token_acquire(tok, &s), 0);
	assert_int_equal(fake_calls(FAKE_GET_SLOT_LIST), scans + 1);
	assert_log_has("token is back in slot 1");
	token_release(tok, &s);
	p11_token_free(tok);
}

static void a_rescan_that_finds_another_token_in_the_slot_keeps_looking(void **state)
{
	struct p11_options o = opts();
	struct p11_token *tok = NULL;
	struct p11_session s;

	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	assert_int_equal(token_acquire(tok, &s), 0);
	token_note_failure(tok, RV_REMOVED, s.gen);
	token_discard(tok, &s);
	/* Same label, other serial: not our token. */
	fake_set_serial("0099");
	assert_int_equal(token_acquire(tok, &s), MTLS_ERR_TOKEN_ABSENT);
	assert_detail_has("token not present (looked again in 1 slots)");
	fake_set_serial(FAKE_SERIAL);
	sleep_ms(RESCAN_MS + 30);
	assert_int_equal(token_acquire(tok, &s), 0);
	token_release(tok, &s);
	p11_token_free(tok);
}

static void a_rescan_slot_list_error_is_reported(void **state)
{
	struct p11_options o = opts();
	struct p11_token *tok = NULL;
	struct p11_session s;

	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	assert_int_equal(token_acquire(tok, &s), 0);
	token_note_failure(tok, RV_REMOVED, s.gen);
	token_release(tok, &s); /* an old generation's session is closed, not pooled */
	assert_int_equal(tok->nopen, 0);
	fake_fail(FAKE_GET_SLOT_LIST, 1, CKR_GENERAL_ERROR);
	assert_int_equal(token_acquire(tok, &s), MTLS_ERR_TOKEN);
	assert_detail_has("C_GetSlotList: CKR_GENERAL_ERROR");
	p11_token_free(tok);
}

static void a_rescan_that_cannot_read_mechanisms_leaves_no_stale_count(void **state)
{
	static const CK_MECHANISM_TYPE one[] = {CKM_ECDSA};
	struct p11_options o = opts();
	struct p11_token *tok = NULL;
	struct p11_session s;
	char d[512];

	fake_set_mechanisms(six, 6);
	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	assert_int_equal(token_acquire(tok, &s), 0);
	token_note_failure(tok, RV_REMOVED, s.gen);
	token_discard(tok, &s);
	/* Back with fewer mechanisms, and the fetch of the list fails. */
	fake_set_mechanisms(one, 1);
	fake_fail(FAKE_GET_MECHANISM_LIST, 2, CKR_DEVICE_ERROR);
	assert_int_equal(token_acquire(tok, &s), MTLS_ERR_TOKEN);
	assert_mechs_consistent(tok);
	assert_int_equal(p11_token_describe(tok, d, sizeof(d)), 0);
	p11_token_free(tok);
}

static void a_failure_from_an_old_generation_changes_nothing(void **state)
{
	struct p11_options o = opts();
	struct p11_token *tok = NULL;
	struct p11_session s;

	assert_int_equal(p11_token_open(fake_uri("token=fake", NULL), &o, &tok), 0);
	assert_int_equal(token_acquire(tok, &s), 0);
	token_note_failure(tok, RV_REMOVED, s.gen + 1);
	token_note_failure(tok, RV_LOGIN, s.gen + 1);
	assert_true(tok->present);
	token_release(tok, &s);
	assert_int_equal(tok->nidle, 1);
	p11_token_free(tok);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(a_uri_naming_the_token_opens_it),
		T(a_label_is_compared_over_its_full_width),
		T(a_slot_list_error_is_reported),
		T(a_module_without_tokens_finds_none),
		T(a_slot_list_too_long_for_the_buffer_is_not_read_as_garbage),
		T(two_tokens_with_the_same_label_are_ambiguous),
		T(a_serial_picks_one_of_two_tokens_with_the_same_label),
		T(an_uninitialised_token_is_skipped),
		T(a_slot_whose_token_info_fails_is_skipped),
		T(a_slot_id_in_the_uri_selects_only_that_slot),
		T(a_slot_description_in_the_uri_must_match),
		T(a_slot_whose_slot_info_fails_is_skipped),
		T(a_mechanism_list_error_is_reported),
		T(a_mechanism_list_that_grows_between_calls_is_read_whole),
		T(the_description_names_known_mechanisms_and_skips_others),
		T(a_token_listing_more_than_512_mechanisms_is_not_misread),
		T(a_second_open_shares_the_token),
		T(a_description_fits_any_buffer),
		T(a_missing_pin_file_is_refused_before_any_login),
		T(a_pin_file_others_can_read_is_refused),
		T(a_pin_file_that_is_a_directory_is_refused),
		T(a_pin_file_over_the_limit_or_empty_is_refused),
		T(a_pin_credential_is_read_from_the_credentials_directory),
		T(a_pin_credential_without_credentials_directory_is_refused),
		T(a_pin_credential_name_with_a_slash_is_refused),
		T(a_relative_pin_source_is_refused),
		T(a_pin_source_in_the_uri_is_read_as_a_file),
		T(the_pin_file_option_wins_over_the_uris_pin_source),
		T(a_locked_pin_is_reported_without_a_login_and_remembered),
		T(a_final_try_is_refused_without_a_login_and_not_remembered),
		T(a_final_try_is_spent_when_the_configuration_allows_it),
		T(a_low_pin_count_is_warned_about_and_login_goes_on),
		T(a_token_info_error_before_login_is_reported),
		T(two_keys_on_one_token_share_one_login),
		T(a_token_already_logged_in_is_accepted),
		T(a_wrong_pin_is_tried_exactly_once_in_this_process),
		T(a_wrong_pin_on_a_shared_token_stops_later_logins),
		T(a_locked_pin_reported_by_login_is_remembered),
		T(another_login_error_is_reported_and_may_be_tried_again),
		T(the_memory_of_pin_failures_is_bounded_and_forgets_the_oldest),
		T(a_pin_pad_token_logs_in_without_a_pin),
		T(a_pin_source_is_used_even_on_a_pin_pad_token),
		T(a_pin_pad_token_that_needs_no_login_is_not_logged_in),
		T(a_token_that_needs_no_login_is_used_without_one),
		T(a_token_needing_login_without_a_pin_source_shows_no_private_key),
		T(the_pool_follows_the_tokens_session_limit_and_the_options),
		T(a_session_count_error_shrinks_the_pool_to_what_the_token_allows),
		T(a_session_count_error_with_no_session_open_is_busy),
		T(waiting_for_a_session_times_out_with_busy),
		T(a_session_given_back_by_another_thread_ends_the_wait),
		T(an_open_session_error_is_reported),
		T(a_failed_login_keeps_its_healthy_session_in_the_pool),
		T(a_session_that_died_during_login_is_not_reused_forever),
		T(a_token_pulled_out_during_login_is_looked_for_again),
		T(a_token_gone_when_opening_a_session_fails_fast_until_the_next_rescan),
		T(a_rescan_that_finds_another_token_in_the_slot_keeps_looking),
		T(a_rescan_slot_list_error_is_reported),
		T(a_rescan_that_cannot_read_mechanisms_leaves_no_stale_count),
		T(a_failure_from_an_old_generation_changes_nothing),
	};

	return cmocka_run_group_tests_name("token", tests, NULL, NULL);
}
