/* uri.c and the URI checks in module.c and key.c: misspelled, foreign,
 * oversized and unsafe URIs are refused with a message that says what to
 * fix, before any module is loaded; pin-value never reaches a message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridge.h"
#include "fakep11.h"
#include "mtls/err.h"

#define MODQ "?module-path=" FAKE_MODULE

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

/* ---- uri_check_attributes ---- */

static void a_uri_with_only_known_attributes_passes(void **state)
{
	assert_int_equal(uri_check_attributes("pkcs11:token=gw;object=key;type=private;id=%01;"
					      "serial=1;manufacturer=m;model=x;slot-id=1"
					      "?module-path=/m.so&pin-source=/p"),
		0);
	assert_int_equal(uri_check_attributes("pkcs11:"), 0);
	assert_int_equal(uri_check_attributes("pkcs11:;;object=k;?&module-name=softhsm2&"), 0);
}

static void a_misspelled_path_attribute_is_refused_with_a_suggestion(void **state)
{
	assert_int_equal(uri_check_attributes("pkcs11:token=gw;objcet=key" MODQ), MTLS_ERR_URI);
	assert_detail_has("unknown path attribute 'objcet'");
	assert_detail_has("did you mean 'object'?");
}

static void a_misspelled_query_attribute_is_refused_with_a_suggestion(void **state)
{
	assert_int_equal(uri_check_attributes("pkcs11:token=gw?module-pth=/m.so"), MTLS_ERR_URI);
	assert_detail_has("unknown query attribute 'module-pth'");
	assert_detail_has("did you mean 'module-path'?");
}

static void an_unknown_attribute_unlike_any_other_gets_no_suggestion(void **state)
{
	assert_int_equal(uri_check_attributes("pkcs11:colour=blue" MODQ), MTLS_ERR_URI);
	assert_detail_has("'colour'");
	assert_detail_lacks("did you mean");
	/* Names longer than any known one are not compared at all. */
	assert_int_equal(uri_check_attributes("pkcs11:abcdefghijklmnopqrstuvwxyz0123456789=1"),
		MTLS_ERR_URI);
	assert_detail_lacks("did you mean");
}

static void a_very_long_attribute_name_is_cut_in_the_message(void **state)
{
	char uri[200];

	snprintf(uri, sizeof(uri), "pkcs11:%0100d=1", 7);
	assert_int_equal(uri_check_attributes(uri), MTLS_ERR_URI);
	assert_detail_has("'0000000000000000000000000000000000000000'");
	assert_detail_lacks("00000000000000000000000000000000000000000");
}

static void an_attribute_without_a_value_is_checked_by_its_name(void **state)
{
	assert_int_equal(uri_check_attributes("pkcs11:objekt" MODQ), MTLS_ERR_URI);
	assert_detail_has("did you mean 'object'?");
}

static void a_query_attribute_in_the_path_is_refused_without_suggesting_itself(void **state)
{
	assert_int_equal(uri_check_attributes("pkcs11:module-path=/m.so"), MTLS_ERR_URI);
	assert_detail_has("'module-path'");
	/* Suggesting the very name the user wrote does not help: the message
	 * has to say that it belongs after '?'. */
	assert_detail_lacks("did you mean 'module-path'");
}

static void vendor_attributes_pass_the_name_check(void **state)
{
	assert_int_equal(uri_check_attributes("pkcs11:x-vendor=1;token=gw"), 0);
	assert_int_equal(uri_check_attributes("pkcs11:x=1"), MTLS_ERR_URI);
	assert_int_equal(uri_check_attributes("pkcs11:xy=1"), MTLS_ERR_URI);
	/* ... but only in the path. */
	assert_int_equal(uri_check_attributes("pkcs11:token=gw?x-vendor=1"), MTLS_ERR_URI);
}

static void a_uri_over_4096_bytes_is_refused(void **state)
{
	char *uri = malloc(5000);

	memset(uri, 'a', 4999);
	uri[4999] = '\0';
	memcpy(uri, "pkcs11:object=", 14);
	assert_int_equal(uri_check_attributes(uri), MTLS_ERR_URI);
	assert_detail_has("over 4096 bytes");
	uri[4096] = '\0';
	assert_int_equal(uri_check_attributes(uri), 0);
	free(uri);
}

static void a_reference_that_is_not_a_pkcs11_uri_is_refused(void **state)
{
	assert_int_equal(uri_check_attributes("/etc/mtls/key.pem"), MTLS_ERR_URI);
	assert_detail_has("starting with 'pkcs11:'");
	assert_int_equal(uri_check_attributes(""), MTLS_ERR_URI);
	assert_int_equal(uri_check_attributes("pkcs11"), MTLS_ERR_URI);
	assert_int_equal(uri_check_attributes("PKCS11:token=gw"), MTLS_ERR_URI);
}

static void a_repeated_attribute_is_refused(void **state)
{
	/* p11-kit silently keeps the last one: "token=gw1;...;token=gw2"
	 * would select gw2 without a word. */
	assert_int_equal(
		uri_check_attributes("pkcs11:token=gw1;object=k;token=gw2" MODQ), MTLS_ERR_URI);
	assert_detail_has("token");
}

/* ---- uri_parse ---- */

static void a_good_uri_parses(void **state)
{
	P11KitUri *uri = NULL;

	assert_int_equal(uri_parse("pkcs11:token=gw;object=key" MODQ, 0, &uri), 0);
	assert_non_null(uri);
	assert_string_equal(p11_kit_uri_get_module_path(uri), FAKE_MODULE);
	p11_kit_uri_free(uri);
}

static void bad_percent_encoding_is_refused_with_p11_kits_reason(void **state)
{
	P11KitUri *uri = (P11KitUri *)&uri;

	assert_int_equal(uri_parse("pkcs11:object=%zz" MODQ, 0, &uri), MTLS_ERR_URI);
	assert_null(uri);
	assert_detail_has("PKCS#11 URI: ");
	assert_int_equal(uri_parse("pkcs11:object" MODQ, 0, &uri), MTLS_ERR_URI);
	assert_null(uri);
}

static void an_attribute_value_p11_kit_does_not_know_is_refused(void **state)
{
	P11KitUri *uri = NULL;

	assert_int_equal(uri_parse("pkcs11:type=bogus" MODQ, 0, &uri), MTLS_ERR_URI);
	assert_detail_has("p11-kit does not support");
	assert_int_equal(uri_parse("pkcs11:x-vendor=1" MODQ, 0, &uri), MTLS_ERR_URI);
	assert_null(uri);
}

static void a_misspelled_attribute_is_refused_before_p11_kit_sees_it(void **state)
{
	P11KitUri *uri = NULL;

	assert_int_equal(uri_parse("pkcs11:tokn=gw" MODQ, 0, &uri), MTLS_ERR_URI);
	assert_detail_has("did you mean 'token'?");
	assert_null(uri);
}

static void pin_value_is_refused_unless_allowed(void **state)
{
	P11KitUri *uri = NULL;

	assert_int_equal(
		uri_parse("pkcs11:token=gw" MODQ "&pin-value=1234", 0, &uri), MTLS_ERR_URI);
	assert_detail_has("pin-source=FILE");
	assert_detail_lacks("1234");
	assert_null(uri);
	assert_int_equal(uri_parse("pkcs11:token=gw" MODQ "&pin-value=1234", 1, &uri), 0);
	assert_string_equal(p11_kit_uri_get_pin_value(uri), "1234");
	p11_kit_uri_free(uri);
}

/* ---- uri_redact ---- */

static void redact(const char *in, const char *want)
{
	char out[512];

	memset(out, 'X', sizeof(out));
	uri_redact(in, out, sizeof(out));
	assert_string_equal(out, want);
}

static void a_uri_without_pin_value_is_copied_unchanged(void **state)
{
	redact("pkcs11:token=gw" MODQ, "pkcs11:token=gw" MODQ);
	redact("", "");
}

static void a_pin_value_in_the_query_is_hidden(void **state)
{
	redact("pkcs11:token=gw?pin-value=1234", "pkcs11:token=gw?pin-value=(hidden)");
	redact("pkcs11:token=gw" MODQ "&pin-value=1234",
		"pkcs11:token=gw" MODQ "&pin-value=(hidden)");
	redact("pkcs11:token=gw?pin-value=1234"
	       "&module-name=x",
		"pkcs11:token=gw?pin-value=(hidden)&module-name=x");
}

static void a_pin_value_after_a_look_alike_is_still_hidden(void **state)
{
	char out[512];

	uri_redact("pkcs11:object=xpin-value=1?pin-value=1234", out, sizeof(out));
	if (strstr(out, "1234") != NULL)
		fail_msg("pin-value shown: %s", out);
	uri_redact("pkcs11:token=gw?module-path=/opt/pin-value=/m.so&pin-value=1234", out,
		sizeof(out));
	if (strstr(out, "1234") != NULL)
		fail_msg("pin-value shown: %s", out);
}

static void a_pin_value_in_the_path_is_hidden(void **state)
{
	char out[512];

	/* p11-kit accepts pin-value in the path too; the check refuses it,
	 * and the refusal must not print it. */
	uri_redact("pkcs11:pin-value=1234;token=gw", out, sizeof(out));
	if (strstr(out, "1234") != NULL)
		fail_msg("pin-value shown: %s", out);
}

static void every_pin_value_is_hidden(void **state)
{
	char out[512];

	uri_redact("pkcs11:token=gw?pin-value=1111&pin-value=2222", out, sizeof(out));
	if (strstr(out, "1111") != NULL || strstr(out, "2222") != NULL)
		fail_msg("pin-value shown: %s", out);
}

static void the_redacted_copy_fits_its_buffer(void **state)
{
	char out[16];

	memset(out, 'X', sizeof(out));
	uri_redact("pkcs11:token=gw?pin-value=1234", out, 10);
	assert_string_equal(out, "pkcs11:to");
	assert_int_equal(out[10], 'X');
	uri_redact("pkcs11:token=gw", out, 0);
	assert_int_equal(out[0], 'p');
	uri_redact("pkcs11:token=gw", out, 1);
	assert_string_equal(out, "");
}

/* ---- URI errors through the public functions ---- */

static void a_key_uri_of_another_type_is_refused_before_loading_a_module(void **state)
{
	struct p11_key *key = (struct p11_key *)&key;

	assert_int_equal(p11_key_open("pkcs11:object=k;type=cert" MODQ, NULL, &key), MTLS_ERR_URI);
	assert_detail_has("type=private");
	assert_null(key);
	assert_int_equal(
		p11_key_open("pkcs11:object=k;type=public" MODQ, NULL, &key), MTLS_ERR_URI);
	assert_int_equal(fake_calls(FAKE_INITIALIZE), 0);
}

static void an_object_label_with_a_nul_byte_is_refused(void **state)
{
	struct p11_key *key = NULL;

	assert_int_equal(p11_key_open("pkcs11:object=a%00b" MODQ, NULL, &key), MTLS_ERR_URI);
	assert_detail_has("NUL");
	assert_int_equal(fake_calls(FAKE_INITIALIZE), 0);
}

static void an_object_label_over_256_bytes_is_refused(void **state)
{
	char uri[600];
	struct p11_key *key = NULL;

	snprintf(uri, sizeof(uri), "pkcs11:object=%0257d" MODQ, 1);
	assert_int_equal(p11_key_open(uri, NULL, &key), MTLS_ERR_URI);
	assert_detail_has("too long");
}

static void an_empty_or_oversized_id_is_refused(void **state)
{
	char uri[1200];
	struct p11_key *key = NULL;
	size_t i, n;

	assert_int_equal(p11_key_open("pkcs11:id=" MODQ, NULL, &key), MTLS_ERR_URI);
	assert_detail_has("id= must hold 1 to 256 bytes");
	n = (size_t)snprintf(uri, sizeof(uri), "pkcs11:id=");
	for (i = 0; i < 257; i++)
		n += (size_t)snprintf(uri + n, sizeof(uri) - n, "%%%02x", (unsigned)i & 0xff);
	snprintf(uri + n, sizeof(uri) - n, "%s", MODQ);
	assert_int_equal(p11_key_open(uri, NULL, &key), MTLS_ERR_URI);
	assert_int_equal(fake_calls(FAKE_INITIALIZE), 0);
}

static void a_uri_with_both_module_path_and_module_name_is_refused(void **state)
{
	struct p11_token *tok = (struct p11_token *)&tok;

	assert_int_equal(
		p11_token_open("pkcs11:token=fake" MODQ "&module-name=softhsm2", NULL, &tok),
		MTLS_ERR_URI);
	assert_detail_has("both module-path and module-name");
	assert_null(tok);
}

static void a_uri_without_a_module_says_how_to_name_one(void **state)
{
	struct p11_token *tok = NULL;

	assert_int_equal(p11_token_open("pkcs11:token=fake", NULL, &tok), MTLS_ERR_URI);
	assert_detail_has("?module-path=");
	assert_detail_has("module-name=");
}

static void a_module_path_over_1023_bytes_is_refused(void **state)
{
	char uri[1200];
	struct p11_token *tok = NULL;

	snprintf(uri, sizeof(uri), "pkcs11:token=fake?module-path=/%01100d", 0);
	assert_int_equal(p11_token_open(uri, NULL, &tok), MTLS_ERR_URI);
	assert_detail_has("module-path is too long");
}

static void a_misspelled_uri_is_refused_by_token_and_key_open(void **state)
{
	struct p11_token *tok = NULL;
	struct p11_key *key = NULL;

	assert_int_equal(p11_token_open("pkcs11:tokne=fake" MODQ, NULL, &tok), MTLS_ERR_URI);
	assert_int_equal(p11_key_open("pkcs11:objet=k" MODQ, NULL, &key), MTLS_ERR_URI);
	assert_int_equal(fake_calls(FAKE_INITIALIZE), 0);
}

static void a_pin_value_is_refused_by_default_and_used_when_allowed(void **state)
{
	struct p11_options opt = {.allow_pin_value = 1, .rescan_ms = 20, .wait_ms = 100};
	struct p11_key *key = NULL;

	fake_add_ec_key("k", "\x01", 1, 256);
	assert_int_equal(
		p11_key_open("pkcs11:object=k" MODQ "&pin-value=1234", NULL, &key), MTLS_ERR_URI);
	assert_int_equal(fake_calls(FAKE_INITIALIZE), 0);
	assert_int_equal(p11_key_open("pkcs11:object=k" MODQ "&pin-value=1234", &opt, &key), 0);
	assert_int_equal(fake_last()->user_logins, 1);
	p11_key_free(key);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(a_uri_with_only_known_attributes_passes),
		T(a_misspelled_path_attribute_is_refused_with_a_suggestion),
		T(a_misspelled_query_attribute_is_refused_with_a_suggestion),
		T(an_unknown_attribute_unlike_any_other_gets_no_suggestion),
		T(a_very_long_attribute_name_is_cut_in_the_message),
		T(an_attribute_without_a_value_is_checked_by_its_name),
		T(a_query_attribute_in_the_path_is_refused_without_suggesting_itself),
		T(vendor_attributes_pass_the_name_check),
		T(a_uri_over_4096_bytes_is_refused),
		T(a_reference_that_is_not_a_pkcs11_uri_is_refused),
		T(a_repeated_attribute_is_refused),
		T(a_good_uri_parses),
		T(bad_percent_encoding_is_refused_with_p11_kits_reason),
		T(an_attribute_value_p11_kit_does_not_know_is_refused),
		T(a_misspelled_attribute_is_refused_before_p11_kit_sees_it),
		T(pin_value_is_refused_unless_allowed),
		T(a_uri_without_pin_value_is_copied_unchanged),
		T(a_pin_value_in_the_query_is_hidden),
		T(a_pin_value_after_a_look_alike_is_still_hidden),
		T(a_pin_value_in_the_path_is_hidden),
		T(every_pin_value_is_hidden),
		T(the_redacted_copy_fits_its_buffer),
		T(a_key_uri_of_another_type_is_refused_before_loading_a_module),
		T(an_object_label_with_a_nul_byte_is_refused),
		T(an_object_label_over_256_bytes_is_refused),
		T(an_empty_or_oversized_id_is_refused),
		T(a_uri_with_both_module_path_and_module_name_is_refused),
		T(a_uri_without_a_module_says_how_to_name_one),
		T(a_module_path_over_1023_bytes_is_refused),
		T(a_misspelled_uri_is_refused_by_token_and_key_open),
		T(a_pin_value_is_refused_by_default_and_used_when_allowed),
	};

	return cmocka_run_group_tests_name("uri", tests, NULL, NULL);
}
