/* key.c: finding exactly one key, reading what it is and can do, every
 * branch of p11_key_sign (input checks, the token's answers and the one
 * repair-and-retry), the public key as DER and the certificates beside it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bridge.h"
#include "fakep11.h"
#include "mtls/err.h"

#define EC_URI fake_uri("token=fake;object=ec", NULL)
#define RSA_URI fake_uri("token=fake;object=rsa", NULL)

static const char cert_one[] = "first certificate (DER in real life)";

/* Long enough that two calls in a row fall within one interval even on a
 * loaded machine; short enough for a quick test. */
#define RESCAN_MS 100

static struct p11_options opts(void)
{
	struct p11_options o = {.rescan_ms = RESCAN_MS, .wait_ms = 100};

	o.pin_file = fake_file("pin", FAKE_PIN "\n", 5, 0600);
	return o;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Objects 0..3: the EC key, its public key, an RSA key, a certificate. */
static int setup(void **state)
{
	fake_reset();
	fake_add_ec_key("ec", "\x01", 1, 256);
	fake_add_ec_pub("ec", "\x01", 1, 256);
	fake_add_rsa_key("rsa", "\x02", 1, 2048);
	fake_add_cert("ec", "\x01", 1, cert_one, sizeof(cert_one));
	mtls_err_clear();
	return 0;
}

static int teardown(void **state)
{
	return fake_teardown();
}

static struct p11_key *open_key_with(const char *uri, const struct p11_options *o)
{
	struct p11_key *key = NULL;

	if (p11_key_open(uri, o, &key) != 0)
		fail_msg("p11_key_open(%s): %s", uri, mtls_err_detail());
	return key;
}

static struct p11_key *open_key(const char *uri)
{
	struct p11_options o = opts();

	return open_key_with(uri, &o);
}

static void open_fails(const char *uri, int want, const char *why)
{
	struct p11_options o = opts();
	struct p11_key *key = (struct p11_key *)&key;

	assert_int_equal(p11_key_open(uri, &o, &key), want);
	assert_null(key);
	if (why != NULL)
		assert_detail_has(why);
}

/* Sign inlen bytes of a pattern; returns the bridge's code. */
static int sign(struct p11_key *key, enum p11_sig sig, size_t inlen, uint8_t *out, size_t *outlen)
{
	uint8_t in[P11_SIG_IN_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(0xa0 + i);
	return p11_key_sign(key, sig, in, inlen, out, outlen);
}

static void sign_ok(struct p11_key *key, enum p11_sig sig, size_t inlen)
{
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	if (sign(key, sig, inlen, out, &outlen) != 0)
		fail_msg("p11_key_sign: %s", mtls_err_detail());
}

/* ---- finding the key ---- */

static void an_ec_key_opens_with_its_type_size_and_caps(void **state)
{
	struct p11_key *key = open_key(EC_URI);

	assert_int_equal(p11_key_type(key), P11_KEY_EC_P256);
	assert_int_equal(p11_key_bits(key), 256);
	assert_int_equal(p11_key_caps(key), P11_CAP_ECDSA);
	assert_non_null(p11_key_token(key));
	p11_key_free(key);
	p11_key_free(NULL);
}

static void an_rsa_key_opens_with_pkcs1_and_pss(void **state)
{
	struct p11_key *key = open_key(RSA_URI);

	assert_int_equal(p11_key_type(key), P11_KEY_RSA);
	assert_int_equal(p11_key_bits(key), 2048);
	assert_int_equal(p11_key_caps(key), P11_CAP_RSA_PKCS1 | P11_CAP_RSA_PSS);
	p11_key_free(key);
}

static void a_p384_key_is_recognised(void **state)
{
	struct p11_key *key;

	fake_add_ec_key("p384", "\x07", 1, 384);
	key = open_key(fake_uri("object=p384", NULL));
	assert_int_equal(p11_key_type(key), P11_KEY_EC_P384);
	assert_int_equal(p11_key_bits(key), 384);
	p11_key_free(key);
}

static void a_uri_matching_no_key_is_refused(void **state)
{
	open_fails(fake_uri("object=nope", NULL), MTLS_ERR_NO_OBJECT,
		"no private key on the token matches object=nope");
	open_fails(fake_uri("object=ec;id=%09", NULL), MTLS_ERR_NO_OBJECT, "and the given id");
	open_fails(fake_uri("id=%09", NULL), MTLS_ERR_NO_OBJECT,
		"matches object=(any) and the given id");
}

static void a_uri_matching_two_keys_lists_both(void **state)
{
	fake_add_ec_key("ec", "\x03", 1, 256);
	open_fails(EC_URI, MTLS_ERR_AMBIGUOUS,
		"matches 2 private keys: object=ec id=01; object=ec id=03");
	assert_detail_has("add id=");
}

static void an_id_picks_one_of_two_keys_with_the_same_label(void **state)
{
	struct p11_key *key;

	fake_add_ec_key("ec", "\x03", 1, 256);
	key = open_key(fake_uri("object=ec;id=%03", NULL));
	assert_int_equal(key->idlen, 1);
	assert_int_equal(key->id[0], 3);
	p11_key_free(key);
}

static void more_than_sixteen_matches_are_cut_short(void **state)
{
	uint8_t id[40];
	int i;

	/* Long labels and ids: the list is cut to its buffer, labels to 32
	 * bytes, ids to 32 bytes of hex. */
	memset(id, 0xab, sizeof(id));
	for (i = 0; i < 17; i++) {
		id[0] = (uint8_t)(0x40 + i);
		fake_add_ec_key("a-label-that-is-longer-than-32-bytes", id, sizeof(id), 256);
	}
	open_fails(fake_uri("object=a-label-that-is-longer-than-32-bytes", NULL),
		MTLS_ERR_AMBIGUOUS, "the URI matches 17 private keys: ");
	/* However long the list, the advice at its end must survive. */
	assert_detail_has("; add id=");
	assert_detail_has("object=a-label-that-is-longer-than-32-b id=40abababab");
	assert_detail_lacks("a-label-that-is-longer-than-32-by");
}

static void an_unreadable_label_or_id_is_listed_empty(void **state)
{
	fake_add_ec_key("ec", "\x03", 1, 256);
	fake_fail(FAKE_GET_ATTRIBUTE_VALUE, 1, CKR_DEVICE_ERROR); /* first label */
	fake_fail(FAKE_GET_ATTRIBUTE_VALUE, 2, CKR_DEVICE_ERROR); /* first id */
	open_fails(EC_URI, MTLS_ERR_AMBIGUOUS, "object= id=; object=ec id=03");
}

static void labels_in_an_ambiguity_message_are_cleaned(void **state)
{
	fake_add_ec_key("bad\nlabel", "\x05", 1, 256);
	fake_add_ec_key("bad\nlabel", "\x06", 1, 256);
	open_fails(fake_uri("object=bad%0Alabel", NULL), MTLS_ERR_AMBIGUOUS, "id=05");
	/* A label comes from the token: it must not start a new log line. */
	assert_detail_lacks("\n");
}

static void a_find_error_is_reported(void **state)
{
	fake_fail(FAKE_FIND_OBJECTS_INIT, 1, CKR_DEVICE_ERROR);
	open_fails(EC_URI, MTLS_ERR_TOKEN, "C_FindObjects (private key): CKR_DEVICE_ERROR");
	fake_fail(FAKE_FIND_OBJECTS, 1, CKR_GENERAL_ERROR);
	open_fails(EC_URI, MTLS_ERR_TOKEN, "CKR_GENERAL_ERROR");
}

/* ---- what the key is ---- */

static void a_key_that_may_not_sign_is_refused(void **state)
{
	fake_obj_set_bool(0, CKA_SIGN, CK_FALSE);
	open_fails(EC_URI, MTLS_ERR_KEY, "CKA_SIGN false");
	fake_obj_unset(0, CKA_SIGN);
	open_fails(EC_URI, MTLS_ERR_KEY, "CKA_SIGN false");
}

static void an_ec_key_on_an_unknown_curve_is_refused(void **state)
{
	static const uint8_t p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};

	fake_obj_set(0, CKA_EC_PARAMS, p521, sizeof(p521));
	open_fails(EC_URI, MTLS_ERR_KEY, "P-256 or P-384");
	fake_obj_unset(0, CKA_EC_PARAMS);
	open_fails(EC_URI, MTLS_ERR_KEY, "P-256 or P-384");
}

static void rsa_keys_under_2048_or_over_8192_bits_are_refused(void **state)
{
	uint8_t big[1100];

	fake_add_rsa_key("small", "\x08", 1, 1024);
	open_fails(fake_uri("object=small", NULL), MTLS_ERR_KEY, "RSA key of 1024 bits");
	memset(big, 0xc5, sizeof(big));
	fake_obj_set(2, CKA_MODULUS, big, sizeof(big));
	open_fails(RSA_URI, MTLS_ERR_KEY, "RSA key of 8800 bits");
}

static void leading_zero_bytes_of_a_modulus_do_not_count(void **state)
{
	uint8_t n[257];
	struct p11_key *key;

	n[0] = 0;
	memcpy(n + 1, FAKE_RSA_MODULUS, 256);
	fake_obj_set(2, CKA_MODULUS, n, sizeof(n));
	key = open_key(RSA_URI);
	assert_int_equal(p11_key_bits(key), 2048);
	p11_key_free(key);
}

static void an_rsa_key_without_a_modulus_is_refused(void **state)
{
	fake_obj_unset(2, CKA_MODULUS);
	open_fails(RSA_URI, MTLS_ERR_KEY, "CKA_MODULUS");
}

static void a_key_of_another_type_is_refused(void **state)
{
	fake_obj_set_ulong(0, CKA_KEY_TYPE, CKK_DSA);
	open_fails(EC_URI, MTLS_ERR_KEY, "neither EC nor RSA");
}

static void attribute_read_errors_are_reported(void **state)
{
	fake_obj_sensitive(0, CKA_KEY_TYPE);
	open_fails(EC_URI, MTLS_ERR_TOKEN, "C_GetAttributeValue (CKA_KEY_TYPE)");
	fake_fail(FAKE_GET_ATTRIBUTE_VALUE, 2, CKR_DEVICE_ERROR);
	open_fails(RSA_URI, MTLS_ERR_TOKEN, "C_GetAttributeValue (CKA_MODULUS): CKR_DEVICE_ERROR");
	fake_obj_set_ulong(0, CKA_KEY_TYPE, CKK_EC);
	fake_fail(FAKE_GET_ATTRIBUTE_VALUE, 2, CKR_DEVICE_ERROR);
	open_fails(EC_URI, MTLS_ERR_TOKEN, "C_GetAttributeValue (CKA_EC_PARAMS): CKR_DEVICE_ERROR");
	fake_fail(FAKE_GET_ATTRIBUTE_VALUE, 3, CKR_DEVICE_ERROR);
	open_fails(EC_URI, MTLS_ERR_TOKEN, "CKA_EC_PARAMS");
}

static void a_token_without_a_mechanism_for_the_key_is_refused(void **state)
{
	static const CK_MECHANISM_TYPE rsa_only[] = {CKM_RSA_PKCS}, ec_only[] = {CKM_ECDSA};

	fake_set_mechanisms(rsa_only, 1);
	open_fails(
		EC_URI, MTLS_ERR_MECHANISM, "no signature mechanism for this EC (CKM_ECDSA) key");
	fake_set_mechanisms(ec_only, 1);
	open_fails(
		RSA_URI, MTLS_ERR_MECHANISM, "RSA (CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_RSA_X_509)");
}

static void an_rsa_key_on_a_token_without_pss_can_only_do_pkcs1(void **state)
{
	static const CK_MECHANISM_TYPE no_pss[] = {CKM_ECDSA, CKM_RSA_PKCS};
	struct p11_key *key;

	fake_set_mechanisms(no_pss, 2);
	key = open_key(RSA_URI);
	assert_int_equal(p11_key_caps(key), P11_CAP_RSA_PKCS1);
	p11_key_free(key);
}

static void the_keys_own_id_is_used_to_find_it_again(void **state)
{
	struct p11_key *key = open_key(EC_URI); /* by label only */

	assert_int_equal(key->idlen, 1);
	fake_add_ec_key("ec", "\x09", 1, 256); /* now the label alone is ambiguous */
	fake_renumber_objects();
	sign_ok(key, P11_SIG_ECDSA, 32);
	p11_key_free(key);
}

/* ---- signing: what is asked ---- */

static void an_ecdsa_signature_is_returned_as_der(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t raw[64], out[P11_SIG_MAX], want[80];
	size_t outlen = sizeof(out), wantlen = sizeof(want), i;

	for (i = 0; i < 64; i++)
		raw[i] = (uint8_t)(0x80 + i);
	raw[32] = raw[33] = 0;
	fake_set_signature(raw, sizeof(raw));
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), 0);
	assert_int_equal(der_ecdsa_sig(raw, 64, want, &wantlen), 0);
	assert_int_equal(outlen, wantlen);
	assert_memory_equal(out, want, wantlen);
	assert_int_equal(fake_last()->mech, CKM_ECDSA);
	assert_int_equal(fake_last()->inlen, 32);
	assert_int_equal(fake_last()->in[0], 0xa0);
	p11_key_free(key);
}

static void an_rsa_pkcs1_signature_is_returned_as_it_is(void **state)
{
	struct p11_key *key = open_key(RSA_URI);
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out), i;

	assert_int_equal(sign(key, P11_SIG_RSA_PKCS1, 51, out, &outlen), 0);
	assert_int_equal(outlen, 256);
	for (i = 0; i < 256; i++)
		assert_int_equal(out[i], (uint8_t)(0x11 + i));
	assert_int_equal(fake_last()->mech, CKM_RSA_PKCS);
	assert_false(fake_last()->has_pss);
	assert_int_equal(fake_last()->inlen, 51);
	p11_key_free(key);
}

static void rsa_pss_uses_the_hash_mgf_and_salt_of_the_scheme(void **state)
{
	static const struct {
		enum p11_sig sig;
		size_t len;
		CK_MECHANISM_TYPE hash;
		CK_RSA_PKCS_MGF_TYPE mgf;
	} pss[] = {
		{P11_SIG_RSA_PSS_SHA256, 32, CKM_SHA256, CKG_MGF1_SHA256},
		{P11_SIG_RSA_PSS_SHA384, 48, CKM_SHA384, CKG_MGF1_SHA384},
		{P11_SIG_RSA_PSS_SHA512, 64, CKM_SHA512, CKG_MGF1_SHA512},
	};
	struct p11_key *key = open_key(RSA_URI);
	size_t i;

	for (i = 0; i < 3; i++) {
		sign_ok(key, pss[i].sig, pss[i].len);
		assert_int_equal(fake_last()->mech, CKM_RSA_PKCS_PSS);
		assert_true(fake_last()->has_pss);
		assert_int_equal(fake_last()->pss.hashAlg, pss[i].hash);
		assert_int_equal(fake_last()->pss.mgf, pss[i].mgf);
		assert_int_equal(fake_last()->pss.sLen, pss[i].len);
	}
	p11_key_free(key);
}

static void a_scheme_that_does_not_fit_the_key_is_refused_without_a_token_call(void **state)
{
	struct p11_key *ec = open_key(EC_URI), *rsa = open_key(RSA_URI);
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	assert_int_equal(sign(rsa, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_KEY);
	assert_detail_has("ECDSA asked of an RSA key");
	assert_int_equal(sign(ec, P11_SIG_RSA_PKCS1, 51, out, &outlen), MTLS_ERR_KEY);
	assert_int_equal(sign(ec, P11_SIG_RSA_PSS_SHA256, 32, out, &outlen), MTLS_ERR_KEY);
	assert_detail_has("an RSA signature asked of an EC key");
	assert_int_equal(sign(rsa, (enum p11_sig)99, 32, out, &outlen), MTLS_ERR_ARG);
	assert_detail_has("unknown signature scheme 99");
	assert_int_equal(sign(rsa, (enum p11_sig)0, 32, out, &outlen), MTLS_ERR_ARG);
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 0);
	p11_key_free(ec);
	p11_key_free(rsa);
}

static void pss_without_the_mechanism_points_to_tls_1_2(void **state)
{
	static const CK_MECHANISM_TYPE no_pss[] = {CKM_ECDSA, CKM_RSA_PKCS};
	struct p11_key *key;
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	fake_set_mechanisms(no_pss, 2);
	key = open_key(RSA_URI);
	assert_int_equal(sign(key, P11_SIG_RSA_PSS_SHA256, 32, out, &outlen), MTLS_ERR_MECHANISM);
	assert_detail_has("CKM_RSA_PKCS_PSS");
	assert_detail_has("TLS 1.3");
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 0);
	sign_ok(key, P11_SIG_RSA_PKCS1, 51);
	p11_key_free(key);
}

/* ---- raw RSA: the scheme the token lacks, padded by the caller ---- */

static int sign_raw(struct p11_key *key, size_t inlen, uint8_t first)
{
	uint8_t in[P11_SIG_RAW_MAX + 1], out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	memset(in, 0x5c, sizeof(in));
	in[0] = first;
	return p11_key_sign(key, P11_SIG_RSA_RAW, in, inlen, out, &outlen);
}

static void a_token_that_signs_raw_rsa_gives_rsa_keys_the_raw_cap(void **state)
{
	static const CK_MECHANISM_TYPE mechs[] = {CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_X_509};
	struct p11_key *rsa, *ec;

	fake_set_mechanisms(mechs, 3);
	rsa = open_key(RSA_URI);
	ec = open_key(EC_URI);
	assert_int_equal(p11_key_caps(rsa), P11_CAP_RSA_PKCS1 | P11_CAP_RSA_RAW);
	assert_int_equal(p11_key_caps(ec), P11_CAP_ECDSA);
	p11_key_free(rsa);
	p11_key_free(ec);
}

static void raw_rsa_signs_a_modulus_sized_block_with_ckm_rsa_x_509(void **state)
{
	static const CK_MECHANISM_TYPE mechs[] = {CKM_RSA_PKCS, CKM_RSA_X_509};
	struct p11_key *key;

	fake_set_mechanisms(mechs, 2);
	key = open_key(RSA_URI);
	assert_int_equal(sign_raw(key, 256, 0x7f), 0);
	assert_int_equal(fake_last()->mech, CKM_RSA_X_509);
	assert_false(fake_last()->has_pss);
	assert_int_equal(fake_last()->inlen, 256);
	assert_int_equal(fake_last()->in[0], 0x7f);
	assert_int_equal(fake_last()->in[255], 0x5c);
	p11_key_free(key);
}

/* Raw RSA only stands in for a missing scheme, on exact blocks. */
static void raw_rsa_is_refused_unless_needed_and_well_formed(void **state)
{
	static const CK_MECHANISM_TYPE all[] = {
		CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_RSA_X_509};
	static const CK_MECHANISM_TYPE no_raw[] = {CKM_ECDSA, CKM_RSA_PKCS};
	struct p11_key *key, *ec;

	fake_set_mechanisms(all, 4);
	key = open_key(RSA_URI);
	ec = open_key(EC_URI);
	assert_int_equal(p11_key_caps(key), P11_CAP_RSA_PKCS1 | P11_CAP_RSA_PSS | P11_CAP_RSA_RAW);
	assert_int_equal(sign_raw(key, 256, 0), MTLS_ERR_MECHANISM);
	assert_detail_has("signs RSA-PSS and PKCS#1 itself");
	assert_int_equal(sign_raw(ec, 256, 0), MTLS_ERR_KEY);
	p11_key_free(key);
	p11_key_free(ec);
	fake_set_mechanisms(no_raw, 2);
	key = open_key(RSA_URI);
	assert_int_equal(sign_raw(key, 256, 0), MTLS_ERR_MECHANISM);
	assert_detail_has("does not offer CKM_RSA_X_509");
	p11_key_free(key);
	fake_set_mechanisms(all + 3, 1);
	key = open_key(RSA_URI);
	assert_int_equal(p11_key_caps(key), P11_CAP_RSA_RAW);
	assert_int_equal(sign_raw(key, 255, 0), MTLS_ERR_ARG);
	assert_detail_has("input to sign of 255 bytes");
	assert_int_equal(sign_raw(key, 257, 0), MTLS_ERR_ARG);
	assert_detail_has("must be 256 bytes with the top bit clear, got 257");
	assert_int_equal(sign_raw(key, 256, 0x80), MTLS_ERR_ARG);
	assert_int_equal(sign_raw(key, P11_SIG_RAW_MAX + 1, 0), MTLS_ERR_ARG);
	assert_int_equal(sign_raw(key, 32, 0), MTLS_ERR_ARG);
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 0);
	assert_int_equal(sign_raw(key, 256, 0), 0);
	assert_int_equal(fake_last()->mech, CKM_RSA_X_509);
	p11_key_free(key);
}

static void pss_with_an_input_of_the_wrong_length_is_refused(void **state)
{
	struct p11_key *key = open_key(RSA_URI);
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	assert_int_equal(sign(key, P11_SIG_RSA_PSS_SHA256, 48, out, &outlen), MTLS_ERR_ARG);
	assert_detail_has("must be a 32-byte hash, got 48");
	assert_int_equal(sign(key, P11_SIG_RSA_PSS_SHA512, 32, out, &outlen), MTLS_ERR_ARG);
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 0);
	p11_key_free(key);
}

static void an_empty_or_too_long_input_is_refused(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	assert_int_equal(sign(key, P11_SIG_ECDSA, 0, out, &outlen), MTLS_ERR_ARG);
	assert_int_equal(sign(key, P11_SIG_ECDSA, P11_SIG_IN_MAX + 1, out, &outlen), MTLS_ERR_ARG);
	assert_detail_has("input to sign of 129 bytes");
	sign_ok(key, P11_SIG_ECDSA, P11_SIG_IN_MAX);
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 1);
	p11_key_free(key);
}

static void null_arguments_are_refused(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t in[32] = {0}, out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	assert_int_equal(p11_key_sign(NULL, P11_SIG_ECDSA, in, 32, out, &outlen), MTLS_ERR_ARG);
	assert_int_equal(p11_key_sign(key, P11_SIG_ECDSA, NULL, 32, out, &outlen), MTLS_ERR_ARG);
	assert_int_equal(p11_key_sign(key, P11_SIG_ECDSA, in, 32, NULL, &outlen), MTLS_ERR_ARG);
	assert_int_equal(p11_key_sign(key, P11_SIG_ECDSA, in, 32, out, NULL), MTLS_ERR_ARG);
	p11_key_free(key);
}

static void an_output_buffer_too_small_is_refused(void **state)
{
	struct p11_key *ec = open_key(EC_URI), *rsa = open_key(RSA_URI);
	uint8_t out[P11_SIG_MAX];
	size_t outlen;

	/* The default pattern gives r and s without high bits: 70 bytes. */
	outlen = 69;
	assert_int_equal(sign(ec, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_TOO_BIG);
	outlen = 70;
	assert_int_equal(sign(ec, P11_SIG_ECDSA, 32, out, &outlen), 0);
	outlen = 255;
	assert_int_equal(sign(rsa, P11_SIG_RSA_PKCS1, 51, out, &outlen), MTLS_ERR_TOO_BIG);
	assert_detail_has("signature buffer of 255 bytes, need 256");
	outlen = 256;
	assert_int_equal(sign(rsa, P11_SIG_RSA_PKCS1, 51, out, &outlen), 0);
	p11_key_free(ec);
	p11_key_free(rsa);
}

static void an_ec_signature_of_odd_length_from_the_token_is_refused(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t raw[63] = {1}, out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	fake_set_signature(raw, sizeof(raw));
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_TOKEN);
	assert_detail_has("ECDSA signature of 63 bytes");
	p11_key_free(key);
}

/* ---- signing: repair and retry once ---- */

static void a_lost_session_is_replaced_and_signing_retried_once(void **state)
{
	struct p11_key *key = open_key(EC_URI);

	fake_set_logout_on_last_close(0); /* a token that keeps the login */
	fake_fail(FAKE_SIGN, 1, CKR_SESSION_HANDLE_INVALID);
	sign_ok(key, P11_SIG_ECDSA, 32);
	assert_int_equal(fake_calls(FAKE_SIGN), 2);
	assert_int_equal(fake_calls(FAKE_OPEN_SESSION), 2);
	assert_int_equal(fake_calls(FAKE_CLOSE_SESSION), 1);
	/* A second C_Login may be tried (closing the last session logs out on
	 * most tokens); this one answers CKR_USER_ALREADY_LOGGED_IN. */
	assert_in_range(fake_calls(FAKE_LOGIN), 1, 2);
	p11_key_free(key);
}

static void a_lost_only_session_takes_the_login_along_and_the_retry_logs_in(void **state)
{
	struct p11_key *key = open_key(EC_URI);

	/* PKCS#11 v2.40 C_CloseSession: closing the last session logs the
	 * application out (SoftHSM2 does this). */
	fake_fail(FAKE_SIGN, 1, CKR_SESSION_HANDLE_INVALID);
	sign_ok(key, P11_SIG_ECDSA, 32);
	assert_int_equal(fake_calls(FAKE_SIGN), 2);
	assert_int_equal(fake_calls(FAKE_LOGIN), 2);
	p11_key_free(key);
}

static void a_logout_elsewhere_is_repaired_by_one_login_and_one_retry(void **state)
{
	struct p11_key *key = open_key(EC_URI);

	fake_logout_all();
	sign_ok(key, P11_SIG_ECDSA, 32);
	assert_int_equal(fake_calls(FAKE_LOGIN), 2);
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 2);
	assert_int_equal(fake_calls(FAKE_SIGN), 1);
	assert_int_equal(fake_calls(FAKE_OPEN_SESSION), 1);
	/* SoftHSM2 shows a logout as a stale handle: same repair. */
	fake_set_not_logged_in_rv(CKR_OBJECT_HANDLE_INVALID);
	fake_logout_all();
	sign_ok(key, P11_SIG_ECDSA, 32);
	assert_int_equal(fake_calls(FAKE_LOGIN), 3);
	assert_int_equal(fake_calls(FAKE_FIND_OBJECTS_INIT), 2);
	p11_key_free(key);
}

static void a_stale_key_handle_is_found_again(void **state)
{
	struct p11_key *key = open_key(EC_URI);

	fake_renumber_objects();
	sign_ok(key, P11_SIG_ECDSA, 32);
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 2);
	assert_int_equal(fake_calls(FAKE_FIND_OBJECTS_INIT), 2);
	/* The re-login met a token still logged in: that is fine. */
	assert_int_equal(fake_calls(FAKE_LOGIN), 2);
	sign_ok(key, P11_SIG_ECDSA, 32);
	assert_int_equal(fake_calls(FAKE_FIND_OBJECTS_INIT), 2);
	p11_key_free(key);
}

static void a_removed_token_fails_fast_and_is_found_again_in_another_slot(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);
	unsigned long scans;
	char d[256];

	fake_remove_token();
	scans = fake_calls(FAKE_GET_SLOT_LIST);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_TOKEN_ABSENT);
	assert_int_equal(fake_calls(FAKE_GET_SLOT_LIST), scans + 1);
	/* Within rescan_ms: no module call at all. */
	scans = fake_calls(FAKE_GET_SLOT_LIST);
	outlen = sizeof(out);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_TOKEN_ABSENT);
	assert_int_equal(fake_calls(FAKE_GET_SLOT_LIST), scans);
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 1);
	/* Back, in another slot: found by label and serial, logged in again. */
	fake_insert_token(9);
	sleep_ms(RESCAN_MS + 30);
	sign_ok(key, P11_SIG_ECDSA, 32);
	assert_int_equal(p11_key_token(key)->slot, 9);
	assert_int_equal(p11_token_describe(p11_key_token(key), d, sizeof(d)), 0);
	assert_non_null(strstr(d, "slot=9 present"));
	assert_int_equal(fake_calls(FAKE_LOGIN), 2);
	p11_key_free(key);
}

static void a_second_failure_gives_an_error_after_exactly_one_retry(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	fake_set_logout_on_last_close(0);
	fake_fail(FAKE_SIGN, 1, CKR_SESSION_HANDLE_INVALID);
	fake_fail(FAKE_SIGN, 2, CKR_SESSION_HANDLE_INVALID);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_TOKEN);
	assert_detail_has("C_Sign: CKR_SESSION_HANDLE_INVALID");
	assert_int_equal(fake_calls(FAKE_SIGN), 2);
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 2);
	fake_fail_from(FAKE_SIGN_INIT, 1, CKR_USER_NOT_LOGGED_IN);
	outlen = sizeof(out);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_LOGIN);
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 4);
	fake_fail_clear();
	sign_ok(key, P11_SIG_ECDSA, 32);
	p11_key_free(key);
}

static void an_error_that_no_repair_fixes_is_not_retried(void **state)
{
	static const struct {
		CK_RV rv;
		int err;
	} cases[] = {
		{CKR_DEVICE_ERROR, MTLS_ERR_TOKEN},
		{CKR_DATA_LEN_RANGE, MTLS_ERR_ARG},
		{CKR_FUNCTION_CANCELED, MTLS_ERR_BUSY},
		{CKR_KEY_FUNCTION_NOT_PERMITTED, MTLS_ERR_MECHANISM},
	};
	struct p11_key *key = open_key(EC_URI);
	uint8_t out[P11_SIG_MAX];
	size_t outlen, i;
	unsigned long signs, closes;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		signs = fake_calls(FAKE_SIGN);
		closes = fake_calls(FAKE_CLOSE_SESSION);
		fake_fail(FAKE_SIGN, 1, cases[i].rv);
		outlen = sizeof(out);
		assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), cases[i].err);
		assert_detail_has(p11_rv_name(cases[i].rv));
		assert_int_equal(fake_calls(FAKE_SIGN), signs + 1);
		/* The session may still hold the operation: it is closed. */
		assert_int_equal(fake_calls(FAKE_CLOSE_SESSION), closes + 1);
	}
	p11_key_free(key);
}

static void a_refused_sign_init_keeps_its_session(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	fake_fail(FAKE_SIGN_INIT, 1, CKR_MECHANISM_INVALID);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_MECHANISM);
	assert_detail_has("C_Sign: CKR_MECHANISM_INVALID");
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 1);
	assert_int_equal(fake_calls(FAKE_CLOSE_SESSION), 0);
	sign_ok(key, P11_SIG_ECDSA, 32);
	assert_int_equal(fake_calls(FAKE_OPEN_SESSION), 1);
	p11_key_free(key);
}

static void a_key_deleted_while_signing_is_reported_missing(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t out[P11_SIG_MAX], *der = NULL;
	size_t outlen = sizeof(out), len;

	fake_obj_delete(0);
	fake_renumber_objects();
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_NO_OBJECT);
	assert_int_equal(fake_calls(FAKE_FIND_OBJECTS_INIT), 2);
	assert_int_equal(p11_key_public_der(key, &der, &len), MTLS_ERR_NO_OBJECT);
	assert_null(der);
	p11_key_free(key);
}

static void a_find_error_during_a_re_find_is_reported(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	fake_renumber_objects();
	fake_fail(FAKE_FIND_OBJECTS_INIT, 1, CKR_DEVICE_ERROR);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_TOKEN);
	assert_detail_has("C_FindObjects (private key): CKR_DEVICE_ERROR");
	sign_ok(key, P11_SIG_ECDSA, 32);
	p11_key_free(key);
}

/* ---- CKA_ALWAYS_AUTHENTICATE ---- */

static void a_key_that_always_authenticates_logs_in_for_each_signature(void **state)
{
	struct p11_key *key;

	fake_obj_set_bool(0, CKA_ALWAYS_AUTHENTICATE, CK_TRUE);
	key = open_key(EC_URI);
	sign_ok(key, P11_SIG_ECDSA, 32);
	sign_ok(key, P11_SIG_ECDSA, 32);
	assert_int_equal(fake_last()->context_logins, 2);
	assert_int_equal(fake_last()->user_logins, 1);
	assert_int_equal(fake_last()->login_user, CKU_CONTEXT_SPECIFIC);
	assert_false(fake_last()->login_pin_null);
	p11_key_free(key);
}

static void a_wrong_pin_in_a_context_login_is_never_tried_again(void **state)
{
	struct p11_options o = opts();
	struct p11_key *key, *again = NULL;
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	fake_set_serial("ctx-wrong");
	fake_obj_set_bool(0, CKA_ALWAYS_AUTHENTICATE, CK_TRUE);
	key = open_key(EC_URI);
	fake_fail(FAKE_LOGIN, 1, CKR_PIN_INCORRECT);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_PIN_INCORRECT);
	assert_detail_has("C_Sign (with context login): CKR_PIN_INCORRECT");
	assert_int_equal(fake_calls(FAKE_LOGIN), 2);
	assert_int_equal(fake_calls(FAKE_SIGN), 0);
	outlen = sizeof(out);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_PIN_INCORRECT);
	assert_int_equal(fake_calls(FAKE_LOGIN), 2);
	assert_int_equal(p11_key_open(EC_URI, &o, &again), MTLS_ERR_PIN_INCORRECT);
	assert_int_equal(fake_calls(FAKE_LOGIN), 2);
	p11_key_free(key);
}

static void after_a_context_pin_error_no_signature_logs_in_again(void **state)
{
	struct p11_key *key;
	struct p11_session held;
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	fake_set_serial("ctx-wrong-2");
	fake_obj_set_bool(0, CKA_ALWAYS_AUTHENTICATE, CK_TRUE);
	key = open_key(EC_URI);
	/* A session held elsewhere keeps the user login alive throughout. */
	assert_int_equal(token_acquire(p11_key_token(key), &held), 0);
	fake_fail(FAKE_LOGIN, 1, CKR_PIN_INCORRECT);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_PIN_INCORRECT);
	outlen = sizeof(out);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_PIN_INCORRECT);
	assert_int_equal(fake_calls(FAKE_SIGN_INIT), 2);
	assert_int_equal(fake_calls(FAKE_LOGIN), 2);
	assert_int_equal(fake_calls(FAKE_SIGN), 0);
	token_release(p11_key_token(key), &held);
	p11_key_free(key);
}

static void another_context_login_error_is_reported_and_the_session_closed(void **state)
{
	struct p11_key *key;
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	fake_obj_set_bool(0, CKA_ALWAYS_AUTHENTICATE, CK_TRUE);
	key = open_key(EC_URI);
	fake_fail(FAKE_LOGIN, 1, CKR_DEVICE_ERROR);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_TOKEN);
	assert_int_equal(fake_calls(FAKE_CLOSE_SESSION), 1);
	p11_key_free(key);
}

static void a_pin_pad_context_login_sends_no_pin(void **state)
{
	struct p11_options o = opts();
	struct p11_key *key;

	o.pin_file = NULL;
	fake_set_flags(FAKE_DEFAULT_FLAGS | CKF_PROTECTED_AUTHENTICATION_PATH);
	fake_obj_set_bool(0, CKA_ALWAYS_AUTHENTICATE, CK_TRUE);
	key = open_key_with(EC_URI, &o);
	sign_ok(key, P11_SIG_ECDSA, 32);
	assert_int_equal(fake_last()->login_user, CKU_CONTEXT_SPECIFIC);
	assert_true(fake_last()->login_pin_null);
	p11_key_free(key);
}

/* ---- sessions ---- */

static void signing_waits_for_a_free_session_then_reports_busy(void **state)
{
	struct p11_options o = opts();
	struct p11_key *key;
	struct p11_session s;
	uint8_t out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	o.max_sessions = 1;
	o.wait_ms = 30;
	key = open_key_with(EC_URI, &o);
	assert_int_equal(token_acquire(p11_key_token(key), &s), 0);
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_BUSY);
	assert_detail_has("no token session became free within 30 ms");
	token_release(p11_key_token(key), &s);
	sign_ok(key, P11_SIG_ECDSA, 32);
	p11_key_free(key);
}

/* ---- the public key ---- */

static void public_der_is(struct p11_key *key, const uint8_t *want, size_t wantlen)
{
	uint8_t *der = NULL;
	size_t len = 0;

	if (p11_key_public_der(key, &der, &len) != 0)
		fail_msg("p11_key_public_der: %s", mtls_err_detail());
	assert_int_equal(len, wantlen);
	assert_memory_equal(der, want, wantlen);
	free(der);
}

static void the_ec_public_key_comes_from_the_public_key_object(void **state)
{
	struct p11_key *key = open_key(EC_URI);

	public_der_is(key, fake_p256_spki, sizeof(fake_p256_spki));
	p11_key_free(key);
}

static void a_p384_public_key_is_encoded_with_its_curve(void **state)
{
	struct p11_key *key;

	fake_add_ec_key("p384", "\x07", 1, 384);
	fake_add_ec_pub("p384", "\x07", 1, 384);
	key = open_key(fake_uri("object=p384", NULL));
	public_der_is(key, fake_p384_spki, sizeof(fake_p384_spki));
	p11_key_free(key);
}

static void the_ec_point_on_the_private_key_serves_without_a_public_object(void **state)
{
	uint8_t wrapped[67] = {0x04, 65};
	struct p11_key *key;
	int o = fake_add_ec_key("solo", "\x05", 1, 256);

	memcpy(wrapped + 2, FAKE_P256_POINT, 65);
	fake_obj_set(o, CKA_EC_POINT, wrapped, sizeof(wrapped));
	key = open_key(fake_uri("object=solo", NULL));
	public_der_is(key, fake_p256_spki, sizeof(fake_p256_spki));
	/* Some tokens give the point raw, without the OCTET STRING. */
	fake_obj_set(o, CKA_EC_POINT, FAKE_P256_POINT, 65);
	public_der_is(key, fake_p256_spki, sizeof(fake_p256_spki));
	p11_key_free(key);
}

static void a_raw_point_that_looks_like_an_octet_string_header_is_kept_whole(void **state)
{
	uint8_t pt[65], want[91];
	struct p11_key *key;
	int o = fake_add_ec_key("solo", "\x05", 1, 256);

	/* 04 3f ...: 65 bytes, which also read as "OCTET STRING of 63". */
	memcpy(pt, FAKE_P256_POINT, 65);
	pt[1] = 0x3f;
	fake_obj_set(o, CKA_EC_POINT, pt, sizeof(pt));
	memcpy(want, fake_p256_spki, 26);
	memcpy(want + 26, pt, 65);
	key = open_key(fake_uri("object=solo", NULL));
	public_der_is(key, want, sizeof(want));
	p11_key_free(key);
}

static void the_public_key_object_is_found_by_id_whatever_its_label(void **state)
{
	struct p11_key *key;

	/* ykcs11 labels them "Private key for PIV Authentication" and
	 * "Public key for PIV Authentication". */
	fake_add_ec_key("Private key", "\x06", 1, 256);
	fake_add_ec_pub("Public key", "\x06", 1, 256);
	key = open_key(fake_uri("object=Private%20key", NULL));
	public_der_is(key, fake_p256_spki, sizeof(fake_p256_spki));
	p11_key_free(key);
}

static void two_public_keys_with_the_keys_id_are_not_guessed_between(void **state)
{
	uint8_t wrapped[67] = {0x04, 65};
	struct p11_key *key;

	fake_add_ec_pub("ec", "\x01", 1, 384); /* a second one, another point */
	memcpy(wrapped + 2, FAKE_P256_POINT, 65);
	fake_obj_set(0, CKA_EC_POINT, wrapped, sizeof(wrapped));
	key = open_key(EC_URI);
	public_der_is(key, fake_p256_spki, sizeof(fake_p256_spki));
	p11_key_free(key);
}

static void an_ec_key_without_any_point_is_refused(void **state)
{
	struct p11_key *key;
	uint8_t *der = (uint8_t *)&der;
	size_t len;

	fake_add_ec_key("solo", "\x05", 1, 256);
	key = open_key(fake_uri("object=solo", NULL));
	assert_int_equal(p11_key_public_der(key, &der, &len), MTLS_ERR_KEY);
	assert_detail_has("no public key object with the same CKA_ID");
	assert_null(der);
	assert_int_equal(len, 0);
	p11_key_free(key);
}

static void the_rsa_public_key_is_built_from_modulus_and_exponent(void **state)
{
	struct p11_key *key = open_key(RSA_URI);

	public_der_is(key, fake_rsa2048_spki, sizeof(fake_rsa2048_spki));
	p11_key_free(key);
}

static void an_rsa_key_without_its_exponent_is_refused(void **state)
{
	struct p11_key *key;
	uint8_t *der = NULL;
	size_t len;

	fake_obj_unset(2, CKA_PUBLIC_EXPONENT);
	key = open_key(RSA_URI);
	assert_int_equal(p11_key_public_der(key, &der, &len), MTLS_ERR_KEY);
	assert_null(der);
	p11_key_free(key);
}

static void a_public_key_read_error_is_reported(void **state)
{
	struct p11_key *rsa = open_key(RSA_URI), *ec = open_key(EC_URI);
	uint8_t *der = NULL;
	size_t len;
	unsigned long nth;

	fake_fail(FAKE_GET_ATTRIBUTE_VALUE, 1, CKR_DEVICE_ERROR);
	assert_int_equal(p11_key_public_der(rsa, &der, &len), MTLS_ERR_TOKEN);
	assert_detail_has("C_GetAttributeValue (public key): CKR_DEVICE_ERROR");
	assert_null(der);
	fake_fail(FAKE_GET_ATTRIBUTE_VALUE, 3, CKR_DEVICE_ERROR); /* the exponent */
	assert_int_equal(p11_key_public_der(rsa, &der, &len), MTLS_ERR_TOKEN);
	/* EC: the parameters, then the point of the public key object. */
	for (nth = 1; nth <= 4; nth++) {
		fake_fail(FAKE_GET_ATTRIBUTE_VALUE, nth, CKR_DEVICE_ERROR);
		assert_int_equal(p11_key_public_der(ec, &der, &len), MTLS_ERR_TOKEN);
		assert_null(der);
	}
	fake_fail(FAKE_FIND_OBJECTS_INIT, 1, CKR_DEVICE_ERROR);
	assert_int_equal(p11_key_public_der(ec, &der, &len), MTLS_ERR_TOKEN);
	p11_key_free(rsa);
	p11_key_free(ec);
}

static void the_public_key_of_an_absent_token_is_not_read(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t out[P11_SIG_MAX], *der = NULL, **certs = NULL;
	size_t outlen = sizeof(out), len, *lens = NULL, n = 9;

	fake_remove_token();
	assert_int_equal(sign(key, P11_SIG_ECDSA, 32, out, &outlen), MTLS_ERR_TOKEN_ABSENT);
	assert_int_equal(p11_key_public_der(key, &der, &len), MTLS_ERR_TOKEN_ABSENT);
	assert_null(der);
	assert_int_equal(p11_key_certs(key, &certs, &lens, &n), MTLS_ERR_TOKEN_ABSENT);
	assert_null(certs);
	assert_int_equal(n, 0);
	p11_key_free(key);
}

/* ---- certificates ---- */

static void the_certificates_with_the_keys_id_are_returned(void **state)
{
	static const char two[] = "second certificate";
	struct p11_key *key;
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0;

	fake_add_cert("other", "\x01", 1, two, sizeof(two));
	fake_add_cert("rsa", "\x02", 1, "rsa cert", 8);
	key = open_key(EC_URI);
	assert_int_equal(p11_key_certs(key, &certs, &lens, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(lens[0], sizeof(cert_one));
	assert_memory_equal(certs[0], cert_one, sizeof(cert_one));
	assert_int_equal(lens[1], sizeof(two));
	assert_memory_equal(certs[1], two, sizeof(two));
	p11_certs_free(certs, lens, n);
	p11_key_free(key);
}

static void a_key_without_certificates_gets_none(void **state)
{
	struct p11_key *key = open_key(RSA_URI);
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 9;

	assert_int_equal(p11_key_certs(key, &certs, &lens, &n), 0);
	assert_int_equal(n, 0);
	p11_certs_free(certs, lens, n);
	p11_certs_free(NULL, NULL, 0);
	p11_key_free(key);
}

static void a_key_without_an_id_has_no_certificates(void **state)
{
	struct p11_key *key;
	uint8_t **certs = (uint8_t **)&certs;
	size_t *lens = NULL, n = 9;

	fake_add_ec_key("noid", NULL, 0, 256);
	key = open_key(fake_uri("object=noid", NULL));
	assert_null(key->id);
	assert_int_equal(p11_key_certs(key, &certs, &lens, &n), 0);
	assert_int_equal(n, 0);
	assert_null(certs);
	p11_key_free(key);
}

static void certificate_read_errors_are_reported_and_nothing_returned(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0;

	fake_fail(FAKE_FIND_OBJECTS_INIT, 1, CKR_DEVICE_ERROR);
	assert_int_equal(p11_key_certs(key, &certs, &lens, &n), MTLS_ERR_TOKEN);
	assert_detail_has("C_FindObjects (certificates): CKR_DEVICE_ERROR");
	assert_null(certs);
	assert_null(lens);
	fake_fail(FAKE_GET_ATTRIBUTE_VALUE, 1, CKR_DEVICE_ERROR);
	assert_int_equal(p11_key_certs(key, &certs, &lens, &n), MTLS_ERR_TOKEN);
	assert_detail_has("C_GetAttributeValue (certificate CKA_VALUE): CKR_DEVICE_ERROR");
	assert_null(certs);
	assert_int_equal(n, 0);
	fake_fail(FAKE_GET_ATTRIBUTE_VALUE, 2, CKR_DEVICE_ERROR);
	assert_int_equal(p11_key_certs(key, &certs, &lens, &n), MTLS_ERR_TOKEN);
	p11_key_free(key);
}

static void at_most_sixteen_certificates_are_returned(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0;
	int i;

	for (i = 0; i < 17; i++)
		fake_add_cert("more", "\x01", 1, "c", 1);
	assert_int_equal(p11_key_certs(key, &certs, &lens, &n), 0);
	assert_int_equal(n, 16);
	p11_certs_free(certs, lens, n);
	p11_key_free(key);
}

static void an_oversized_certificate_is_refused(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t **certs = NULL, *big = calloc(1, 9000);
	size_t *lens = NULL, n = 0;

	fake_obj_set(3, CKA_VALUE, big, 9000);
	free(big);
	assert_int_equal(p11_key_certs(key, &certs, &lens, &n), MTLS_ERR_TOKEN);
	assert_detail_has("CKR_DEVICE_MEMORY");
	assert_null(certs);
	p11_key_free(key);
}

static void a_certificate_without_a_readable_value_is_skipped(void **state)
{
	struct p11_key *key = open_key(EC_URI);
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0;
	int c = fake_add_cert("other", "\x01", 1, "x", 1);

	fake_obj_unset(3, CKA_VALUE);
	fake_obj_sensitive(c, CKA_VALUE);
	assert_int_equal(p11_key_certs(key, &certs, &lens, &n), 0);
	assert_int_equal(n, 0);
	p11_certs_free(certs, lens, n);
	p11_key_free(key);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(an_ec_key_opens_with_its_type_size_and_caps),
		T(an_rsa_key_opens_with_pkcs1_and_pss),
		T(a_p384_key_is_recognised),
		T(a_uri_matching_no_key_is_refused),
		T(a_uri_matching_two_keys_lists_both),
		T(an_id_picks_one_of_two_keys_with_the_same_label),
		T(more_than_sixteen_matches_are_cut_short),
		T(labels_in_an_ambiguity_message_are_cleaned),
		T(an_unreadable_label_or_id_is_listed_empty),
		T(a_find_error_is_reported),
		T(a_key_that_may_not_sign_is_refused),
		T(an_ec_key_on_an_unknown_curve_is_refused),
		T(rsa_keys_under_2048_or_over_8192_bits_are_refused),
		T(leading_zero_bytes_of_a_modulus_do_not_count),
		T(an_rsa_key_without_a_modulus_is_refused),
		T(a_key_of_another_type_is_refused),
		T(attribute_read_errors_are_reported),
		T(a_token_without_a_mechanism_for_the_key_is_refused),
		T(an_rsa_key_on_a_token_without_pss_can_only_do_pkcs1),
		T(the_keys_own_id_is_used_to_find_it_again),
		T(an_ecdsa_signature_is_returned_as_der),
		T(an_rsa_pkcs1_signature_is_returned_as_it_is),
		T(rsa_pss_uses_the_hash_mgf_and_salt_of_the_scheme),
		T(a_scheme_that_does_not_fit_the_key_is_refused_without_a_token_call),
		T(pss_without_the_mechanism_points_to_tls_1_2),
		T(a_token_that_signs_raw_rsa_gives_rsa_keys_the_raw_cap),
		T(raw_rsa_signs_a_modulus_sized_block_with_ckm_rsa_x_509),
		T(raw_rsa_is_refused_unless_needed_and_well_formed),
		T(pss_with_an_input_of_the_wrong_length_is_refused),
		T(an_empty_or_too_long_input_is_refused),
		T(null_arguments_are_refused),
		T(an_output_buffer_too_small_is_refused),
		T(an_ec_signature_of_odd_length_from_the_token_is_refused),
		T(a_lost_session_is_replaced_and_signing_retried_once),
		T(a_lost_only_session_takes_the_login_along_and_the_retry_logs_in),
		T(a_logout_elsewhere_is_repaired_by_one_login_and_one_retry),
		T(a_stale_key_handle_is_found_again),
		T(a_removed_token_fails_fast_and_is_found_again_in_another_slot),
		T(a_second_failure_gives_an_error_after_exactly_one_retry),
		T(an_error_that_no_repair_fixes_is_not_retried),
		T(a_refused_sign_init_keeps_its_session),
		T(a_key_deleted_while_signing_is_reported_missing),
		T(a_find_error_during_a_re_find_is_reported),
		T(a_key_that_always_authenticates_logs_in_for_each_signature),
		T(a_wrong_pin_in_a_context_login_is_never_tried_again),
		T(after_a_context_pin_error_no_signature_logs_in_again),
		T(another_context_login_error_is_reported_and_the_session_closed),
		T(a_pin_pad_context_login_sends_no_pin),
		T(signing_waits_for_a_free_session_then_reports_busy),
		T(the_ec_public_key_comes_from_the_public_key_object),
		T(a_p384_public_key_is_encoded_with_its_curve),
		T(the_ec_point_on_the_private_key_serves_without_a_public_object),
		T(a_raw_point_that_looks_like_an_octet_string_header_is_kept_whole),
		T(the_public_key_object_is_found_by_id_whatever_its_label),
		T(two_public_keys_with_the_keys_id_are_not_guessed_between),
		T(an_ec_key_without_any_point_is_refused),
		T(the_rsa_public_key_is_built_from_modulus_and_exponent),
		T(an_rsa_key_without_its_exponent_is_refused),
		T(a_public_key_read_error_is_reported),
		T(the_public_key_of_an_absent_token_is_not_read),
		T(the_certificates_with_the_keys_id_are_returned),
		T(a_key_without_certificates_gets_none),
		T(a_key_without_an_id_has_no_certificates),
		T(certificate_read_errors_are_reported_and_nothing_returned),
		T(at_most_sixteen_certificates_are_returned),
		T(an_oversized_certificate_is_refused),
		T(a_certificate_without_a_readable_value_is_skipped),
	};

	return cmocka_run_group_tests_name("key", tests, NULL, NULL);
}
