/* der.c: ECDSA signatures re-encoded byte for byte, OCTET STRING unwrapping,
 * curve OIDs, and SubjectPublicKeyInfo compared with what openssl wrote for
 * the same keys (fakep11.c holds those vectors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridge.h"
#include "fakep11.h"
#include "mtls/err.h"

static void fill(uint8_t *p, size_t n, uint8_t first)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

/* Encode raw and compare with want; also check the exact-size boundary. */
static void check_sig(const uint8_t *raw, size_t rawlen, const uint8_t *want, size_t wantlen)
{
	uint8_t out[400];
	size_t outlen = sizeof(out);

	assert_int_equal(der_ecdsa_sig(raw, rawlen, out, &outlen), 0);
	assert_int_equal(outlen, wantlen);
	assert_memory_equal(out, want, wantlen);
	outlen = wantlen;
	assert_int_equal(der_ecdsa_sig(raw, rawlen, out, &outlen), 0);
	outlen = wantlen - 1;
	assert_int_equal(der_ecdsa_sig(raw, rawlen, out, &outlen), MTLS_ERR_TOO_BIG);
}

static void an_ecdsa_signature_without_high_bits_is_two_plain_integers(void **state)
{
	uint8_t raw[64], want[70] = {0x30, 0x44, 0x02, 0x20};

	fill(raw, 64, 0x01);
	memcpy(want + 4, raw, 32);
	want[36] = 0x02;
	want[37] = 0x20;
	memcpy(want + 38, raw + 32, 32);
	check_sig(raw, 64, want, sizeof(want));
}

static void an_integer_with_its_high_bit_set_gets_a_zero_byte(void **state)
{
	uint8_t raw[64], want[72] = {0x30, 0x46, 0x02, 0x21, 0x00};

	fill(raw, 64, 0x80);
	memcpy(want + 5, raw, 32);
	want[37] = 0x02;
	want[38] = 0x21;
	want[39] = 0x00;
	memcpy(want + 40, raw + 32, 32);
	check_sig(raw, 64, want, sizeof(want));
}

static void leading_zero_bytes_are_dropped_but_one_kept_before_a_high_bit(void **state)
{
	uint8_t raw[64], want[2 + 2 + 30 + 2 + 32];

	/* r = 00 00 7f ...: 30 significant bytes; s = 00 ff ...: 31 bytes
	 * that need their zero back. */
	fill(raw, 64, 0x10);
	raw[0] = 0x00;
	raw[1] = 0x00;
	raw[2] = 0x7f;
	raw[32] = 0x00;
	raw[33] = 0xff;
	want[0] = 0x30;
	want[1] = sizeof(want) - 2;
	want[2] = 0x02;
	want[3] = 30;
	memcpy(want + 4, raw + 2, 30);
	want[34] = 0x02;
	want[35] = 32;
	want[36] = 0x00;
	memcpy(want + 37, raw + 33, 31);
	check_sig(raw, 64, want, sizeof(want));
}

static void a_zero_integer_is_encoded_as_one_zero_byte(void **state)
{
	uint8_t raw[64] = {0};
	static const uint8_t want[] = {0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00};

	check_sig(raw, 64, want, sizeof(want));
}

static void a_p384_signature_with_high_bits_is_104_bytes(void **state)
{
	uint8_t raw[96], want[104] = {0x30, 0x66, 0x02, 0x31, 0x00};

	fill(raw, 96, 0xa0);
	memcpy(want + 5, raw, 48);
	want[53] = 0x02;
	want[54] = 0x31;
	want[55] = 0x00;
	memcpy(want + 56, raw + 48, 48);
	check_sig(raw, 96, want, sizeof(want));
}

static void a_long_signature_uses_long_form_lengths(void **state)
{
	uint8_t raw[264], want[4 + 2 * (3 + 133)];

	/* 132-byte halves with the high bit: 133-byte integers, 272-byte body. */
	fill(raw, 264, 0x90);
	raw[0] = raw[132] = 0xff;
	want[0] = 0x30;
	want[1] = 0x82;
	want[2] = 0x01;
	want[3] = 0x10;
	want[4] = 0x02;
	want[5] = 0x81;
	want[6] = 133;
	want[7] = 0x00;
	memcpy(want + 8, raw, 132);
	want[140] = 0x02;
	want[141] = 0x81;
	want[142] = 133;
	want[143] = 0x00;
	memcpy(want + 144, raw + 132, 132);
	check_sig(raw, 264, want, sizeof(want));
}

static void a_p521_sized_signature_needs_a_one_byte_long_length(void **state)
{
	uint8_t raw[132], want[3 + 2 * (2 + 67)];

	fill(raw, 132, 0xc0);
	raw[66] = 0xee;
	want[0] = 0x30;
	want[1] = 0x81;
	want[2] = 138;
	want[3] = 0x02;
	want[4] = 67;
	want[5] = 0x00;
	memcpy(want + 6, raw, 66);
	want[72] = 0x02;
	want[73] = 67;
	want[74] = 0x00;
	memcpy(want + 75, raw + 66, 66);
	check_sig(raw, 132, want, sizeof(want));
}

static void a_raw_signature_of_odd_zero_or_huge_length_is_refused(void **state)
{
	uint8_t raw[300] = {1}, out[600];
	size_t outlen;

	outlen = sizeof(out);
	assert_int_equal(der_ecdsa_sig(raw, 0, out, &outlen), MTLS_ERR_TOKEN);
	outlen = sizeof(out);
	assert_int_equal(der_ecdsa_sig(raw, 63, out, &outlen), MTLS_ERR_TOKEN);
	assert_detail_has("63 bytes");
	outlen = sizeof(out);
	assert_int_equal(der_ecdsa_sig(raw, 266, out, &outlen), MTLS_ERR_TOKEN);
}

static void unwrap(const uint8_t *in, size_t len, const uint8_t *want, size_t wantlen)
{
	const uint8_t *val;
	size_t vlen;

	der_unwrap_octets(in, len, &val, &vlen);
	assert_ptr_equal(val, want);
	assert_int_equal(vlen, wantlen);
}

static void an_octet_string_is_unwrapped_in_all_three_length_forms(void **state)
{
	uint8_t in[4 + 300] = {0};

	in[0] = 0x04;
	in[1] = 65;
	unwrap(in, 67, in + 2, 65);
	in[1] = 0x81;
	in[2] = 133;
	unwrap(in, 136, in + 3, 133);
	in[1] = 0x82;
	in[2] = 0x01;
	in[3] = 0x00;
	unwrap(in, 260, in + 4, 256);
}

static void anything_else_is_left_as_it_is(void **state)
{
	uint8_t in[300] = {0};

	in[0] = 0x04;
	in[1] = 5; /* length does not match */
	unwrap(in, 10, in, 10);
	in[1] = 0x83; /* three-byte lengths are not used here */
	unwrap(in, 10, in, 10);
	in[1] = 0x81; /* truncated header */
	unwrap(in, 2, in, 2);
	in[1] = 0x82;
	unwrap(in, 3, in, 3);
	in[0] = 0x03; /* not an OCTET STRING */
	in[1] = 8;
	unwrap(in, 10, in, 10);
	unwrap(in, 1, in, 1);
	unwrap(in, 0, in, 0);
}

static void p256_and_p384_are_recognised_and_nothing_else(void **state)
{
	static const uint8_t p521[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23};
	static const uint8_t printable[] = {
		0x13, 0x0a, 'p', 'r', 'i', 'm', 'e', '2', '5', '6', 'v', '1'};

	assert_int_equal(der_curve(FAKE_P256_PARAMS, FAKE_P256_PARAMS_LEN), P11_KEY_EC_P256);
	assert_int_equal(der_curve(FAKE_P384_PARAMS, FAKE_P384_PARAMS_LEN), P11_KEY_EC_P384);
	static const uint8_t secp256k1[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a};
	uint8_t almost[FAKE_P256_PARAMS_LEN];

	memcpy(almost, FAKE_P256_PARAMS, sizeof(almost));
	almost[sizeof(almost) - 1] ^= 1;
	assert_int_equal(der_curve(almost, sizeof(almost)), P11_KEY_UNKNOWN);
	assert_int_equal(der_curve(secp256k1, sizeof(secp256k1)), P11_KEY_UNKNOWN);
	assert_int_equal(der_curve(p521, sizeof(p521)), P11_KEY_UNKNOWN);
	assert_int_equal(der_curve(printable, sizeof(printable)), P11_KEY_UNKNOWN);
	assert_int_equal(der_curve(FAKE_P256_PARAMS, FAKE_P256_PARAMS_LEN - 1), P11_KEY_UNKNOWN);
	assert_int_equal(der_curve(FAKE_P256_PARAMS, 0), P11_KEY_UNKNOWN);
}

static void an_ec_spki_equals_what_openssl_wrote(void **state)
{
	uint8_t *der;
	size_t len;

	assert_int_equal(der_spki_ec(FAKE_P256_PARAMS, FAKE_P256_PARAMS_LEN, FAKE_P256_POINT,
				 FAKE_P256_POINT_LEN, &der, &len),
		0);
	assert_int_equal(len, sizeof(fake_p256_spki));
	assert_memory_equal(der, fake_p256_spki, len);
	free(der);
	assert_int_equal(der_spki_ec(FAKE_P384_PARAMS, FAKE_P384_PARAMS_LEN, FAKE_P384_POINT,
				 FAKE_P384_POINT_LEN, &der, &len),
		0);
	assert_int_equal(len, sizeof(fake_p384_spki));
	assert_memory_equal(der, fake_p384_spki, len);
	free(der);
}

static void a_compressed_or_empty_ec_point_is_refused(void **state)
{
	uint8_t pt[33], *der = NULL;
	size_t len;

	fill(pt, sizeof(pt), 0x02);
	assert_int_equal(
		der_spki_ec(FAKE_P256_PARAMS, FAKE_P256_PARAMS_LEN, pt, sizeof(pt), &der, &len),
		MTLS_ERR_KEY);
	assert_detail_has("uncompressed");
	assert_int_equal(der_spki_ec(FAKE_P256_PARAMS, FAKE_P256_PARAMS_LEN, pt, 0, &der, &len),
		MTLS_ERR_KEY);
	assert_null(der);
}

static void oversized_ec_params_or_point_are_refused(void **state)
{
	uint8_t big[4100] = {0x04}, *der = NULL;
	size_t len;

	assert_int_equal(der_spki_ec(big, 65, FAKE_P256_POINT, FAKE_P256_POINT_LEN, &der, &len),
		MTLS_ERR_TOO_BIG);
	assert_int_equal(
		der_spki_ec(FAKE_P256_PARAMS, FAKE_P256_PARAMS_LEN, big, sizeof(big), &der, &len),
		MTLS_ERR_TOO_BIG);
	assert_null(der);
}

static void an_rsa_spki_equals_what_openssl_wrote(void **state)
{
	uint8_t *der, n[257];
	size_t len;

	assert_int_equal(der_spki_rsa(FAKE_RSA_MODULUS, FAKE_RSA_MODULUS_LEN, FAKE_RSA_EXPONENT,
				 FAKE_RSA_EXPONENT_LEN, &der, &len),
		0);
	assert_int_equal(len, sizeof(fake_rsa2048_spki));
	assert_memory_equal(der, fake_rsa2048_spki, len);
	free(der);
	/* A token that pads the modulus with a zero byte gives the same DER. */
	n[0] = 0;
	memcpy(n + 1, FAKE_RSA_MODULUS, 256);
	assert_int_equal(
		der_spki_rsa(n, sizeof(n), FAKE_RSA_EXPONENT, FAKE_RSA_EXPONENT_LEN, &der, &len),
		0);
	assert_int_equal(len, sizeof(fake_rsa2048_spki));
	assert_memory_equal(der, fake_rsa2048_spki, len);
	free(der);
}

static void a_small_rsa_key_is_encoded_with_short_lengths(void **state)
{
	static const uint8_t n[] = {0x7f, 0x01, 0x02}, e[] = {0x03};
	static const uint8_t want[] = {0x30, 0x1c, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
		0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00, 0x03, 0x0b, 0x00, 0x30, 0x08, 0x02, 0x03,
		0x7f, 0x01, 0x02, 0x02, 0x01, 0x03};
	uint8_t *der;
	size_t len;

	assert_int_equal(der_spki_rsa(n, sizeof(n), e, sizeof(e), &der, &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(der, want, len);
	free(der);
}

static void an_rsa_key_with_bad_part_sizes_is_refused(void **state)
{
	uint8_t big[1100] = {1}, *der = NULL;
	size_t len;

	assert_int_equal(der_spki_rsa(big, 0, FAKE_RSA_EXPONENT, 3, &der, &len), MTLS_ERR_KEY);
	assert_int_equal(der_spki_rsa(big, 256, big, 0, &der, &len), MTLS_ERR_KEY);
	assert_int_equal(der_spki_rsa(big, 1025, FAKE_RSA_EXPONENT, 3, &der, &len), MTLS_ERR_KEY);
	assert_int_equal(der_spki_rsa(big, 256, big, 17, &der, &len), MTLS_ERR_KEY);
	assert_null(der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_ecdsa_signature_without_high_bits_is_two_plain_integers),
		cmocka_unit_test(an_integer_with_its_high_bit_set_gets_a_zero_byte),
		cmocka_unit_test(leading_zero_bytes_are_dropped_but_one_kept_before_a_high_bit),
		cmocka_unit_test(a_zero_integer_is_encoded_as_one_zero_byte),
		cmocka_unit_test(a_p384_signature_with_high_bits_is_104_bytes),
		cmocka_unit_test(a_long_signature_uses_long_form_lengths),
		cmocka_unit_test(a_p521_sized_signature_needs_a_one_byte_long_length),
		cmocka_unit_test(a_raw_signature_of_odd_zero_or_huge_length_is_refused),
		cmocka_unit_test(an_octet_string_is_unwrapped_in_all_three_length_forms),
		cmocka_unit_test(anything_else_is_left_as_it_is),
		cmocka_unit_test(p256_and_p384_are_recognised_and_nothing_else),
		cmocka_unit_test(an_ec_spki_equals_what_openssl_wrote),
		cmocka_unit_test(a_compressed_or_empty_ec_point_is_refused),
		cmocka_unit_test(oversized_ec_params_or_point_are_refused),
		cmocka_unit_test(an_rsa_spki_equals_what_openssl_wrote),
		cmocka_unit_test(a_small_rsa_key_is_encoded_with_short_lengths),
		cmocka_unit_test(an_rsa_key_with_bad_part_sizes_is_refused),
	};

	return cmocka_run_group_tests_name("der", tests, NULL, NULL);
}
