/* names.c: subject DNs in both forms to exact DER, SANs of each type, and
 * one refusal per error branch, each with a message naming the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mtls/err.h"
#include "names.h"

static uint8_t der[NAMES_SANS_DER_MAX];
static size_t derlen;

static int dn(const char *text)
{
	return names_dn_parse(text, der, NAMES_DN_MAX, &derlen);
}

/* Parse text, which must be refused with a detail containing want. */
static void dn_refused(const char *text, const char *want)
{
	assert_int_equal(dn(text), MTLS_ERR_ARG);
	assert_int_equal(derlen, 0);
	if (strstr(mtls_err_detail(), want) == NULL)
		fail_msg("\"%s\": detail \"%s\" lacks \"%s\"", text, mtls_err_detail(), want);
}

static void dn_same(const char *a, const char *b)
{
	uint8_t first[NAMES_DN_MAX];
	size_t firstlen;

	assert_int_equal(dn(a), 0);
	memcpy(first, der, derlen);
	firstlen = derlen;
	assert_int_equal(dn(b), 0);
	assert_int_equal(derlen, firstlen);
	assert_memory_equal(der, first, firstlen);
}

static void a_slash_subject_is_one_rdn_per_component_in_order(void **state)
{
	static const uint8_t want[] = {0x30, 0x1e, 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55, 0x04,
		0x0a, 0x0c, 0x04, 'U', 'n', 'i', 't', 0x31, 0x0d, 0x30, 0x0b, 0x06, 0x03, 0x55,
		0x04, 0x03, 0x0c, 0x04, 'g', 'w', '0', '1'};

	assert_int_equal(dn("/O=Unit/CN=gw01"), 0);
	assert_int_equal(derlen, sizeof(want));
	assert_memory_equal(der, want, sizeof(want));
}

static void an_rfc4514_subject_lists_the_last_rdn_first(void **state)
{
	dn_same("CN=gw01,O=Unit", "/O=Unit/CN=gw01");
	dn_same("CN = gw01 ; O = Unit", "/O=Unit/CN=gw01");
	dn_same("commonName=gw01, organizationName=Unit", "/O=Unit/CN=gw01");
}

static void escapes_reach_the_value(void **state)
{
	dn_same("/CN=a\\/b", "CN=a/b");
	dn_same("CN=a\\, b", "/CN=a, b");
	dn_same("CN=\\41\\42", "/CN=AB");
	dn_same("CN=\\ x\\ ", "/CN=\\ x\\ ");
	dn_same("/CN=a\\+b", "CN=a\\+b");
}

static void multi_valued_rdns_are_sorted_as_der_wants(void **state)
{
	dn_same("/CN=x+UID=y", "/UID=y+CN=x");
	dn_same("UID=y+CN=x,O=z", "/O=z/CN=x+UID=y");
	assert_int_equal(dn("/CN=x+UID=y"), 0);
	assert_int_equal(der[2], 0x31); /* one SET ... */
	assert_int_equal(der[1], der[3] + 2); /* ... holding both */
}

static void string_types_follow_the_attribute(void **state)
{
	assert_int_equal(dn("/C=DE"), 0);
	assert_int_equal(der[11], 0x13); /* PrintableString */
	assert_int_equal(dn("/DC=org"), 0);
	assert_int_equal(der[18], 0x16); /* IA5String after the 10-byte OID */
	assert_int_equal(dn("/CN=M\xc3\xbcnchen"), 0);
	assert_int_equal(der[11], 0x0c); /* UTF8String */
}

static void malformed_subjects_are_refused_with_a_reason(void **state)
{
	char longtext[NAMES_TEXT_MAX + 2], cn65[80], many[400];
	int i;

	dn_refused("", "empty");
	memset(longtext, 'a', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	dn_refused(longtext, "longer than");
	dn_refused("/XX=1", "unknown attribute type \"XX\"");
	dn_refused("/CN", "expected TYPE=value");
	dn_refused("/CN=x/", "ends with a separator");
	dn_refused("//CN=x", "expected TYPE=value");
	dn_refused("/CN=x\\", "ends the text");
	dn_refused("CN=a\\q", "must be followed by");
	dn_refused("CN=#0403", "hex-encoded");
	dn_refused("CN=a<b", "must be escaped");
	dn_refused("/CN=", "is empty");
	dn_refused("/CN=\xc0\xaf", "not valid UTF-8");
	dn_refused("/CN=a\x01", "control character");
	dn_refused("/C=DEU", "too long");
	dn_refused("/C=D1", "two-letter");
	dn_refused("/DC=\xc3\xbc", "ASCII");
	dn_refused("/serialNumber=a_b", "PrintableString");
	memset(cn65, 'c', 65);
	cn65[65] = '\0';
	snprintf(many, sizeof(many), "/CN=%s", cn65);
	dn_refused(many, "too long");
	many[0] = '\0';
	for (i = 0; i < 17; i++)
		strcat(many, "/O=x");
	dn_refused(many, "too many attributes");
	many[0] = '\0';
	for (i = 0; i < 6; i++)
		strcat(many, "/OU=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz0123456789");
	dn_refused(many, "longer than 320 bytes");
}

static void a_short_output_buffer_is_refused(void **state)
{
	assert_int_equal(names_dn_parse("/CN=gw01", der, 4, &derlen), MTLS_ERR_TOO_BIG);
}

/* ---- SANs ---- */

static void one_san(const char *text, uint8_t tag, const void *val, size_t len)
{
	assert_int_equal(names_san_parse(text, der, sizeof(der), &derlen), 0);
	assert_int_equal(derlen, len + 2);
	assert_int_equal(der[0], tag);
	assert_int_equal(der[1], len);
	assert_memory_equal(der + 2, val, len);
}

static void each_san_type_becomes_its_general_name(void **state)
{
	static const uint8_t v4[] = {192, 0, 2, 1};
	static const uint8_t v6[] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

	one_san("dns:gw01.example.org", 0x82, "gw01.example.org", 16);
	one_san("DNS:*.example.org", 0x82, "*.example.org", 13);
	one_san("uri:spiffe://example.org/gw01", 0x86, "spiffe://example.org/gw01", 25);
	one_san("ip:192.0.2.1", 0x87, v4, 4);
	one_san("IP:2001:db8::1", 0x87, v6, 16);
	one_san("email:ops@example.org", 0x81, "ops@example.org", 15);
}

static void san_refused(const char *text, const char *want)
{
	assert_int_equal(names_san_parse(text, der, sizeof(der), &derlen), MTLS_ERR_ARG);
	assert_int_equal(derlen, 0);
	if (strstr(mtls_err_detail(), want) == NULL)
		fail_msg("\"%s\": detail \"%s\" lacks \"%s\"", text, mtls_err_detail(), want);
}

static void malformed_sans_are_refused_with_a_reason(void **state)
{
	char label64[80];

	san_refused("", "empty");
	san_refused("gw01.example.org", "no type");
	san_refused("dn:x", "unknown type");
	san_refused("dns:-gw.example", "not a host name");
	san_refused("dns:gw-.example", "not a host name");
	san_refused("dns:a..b", "not a host name");
	san_refused("dns:a.b.", "not a host name");
	san_refused("dns:a.*.b", "not a host name");
	san_refused("dns:a b", "not a host name");
	memset(label64, 'a', 68);
	memcpy(label64, "dns:", 4);
	label64[68] = '\0';
	san_refused(label64, "not a host name");
	san_refused("uri:noscheme", "absolute URI");
	san_refused("uri:x:", "absolute URI");
	san_refused("uri:1x:y", "absolute URI");
	san_refused("uri:a:b c", "absolute URI");
	san_refused("ip:300.1.1.1", "IPv4 or IPv6");
	san_refused("ip:[::1]", "IPv4 or IPv6");
	san_refused("ip:1.2.3.4/24", "IPv4 or IPv6");
	san_refused("email:nobody", "e-mail");
	san_refused("email:@example.org", "e-mail");
	san_refused("email:a b@example.org", "e-mail");
	san_refused("email:a@-x", "e-mail");
}

static void a_san_list_is_one_general_names_sequence(void **state)
{
	const char *sans[] = {"dns:a.example", "ip:127.0.0.1"};
	const char *many[NAMES_SAN_MAX + 1];
	size_t i;

	assert_int_equal(names_sans_encode(sans, 2, der, sizeof(der), &derlen), 0);
	assert_int_equal(derlen, 2 + 11 + 6);
	assert_int_equal(der[0], 0x30);
	assert_int_equal(der[2], 0x82);
	assert_int_equal(der[13], 0x87);
	assert_int_equal(names_sans_encode(sans, 0, der, sizeof(der), &derlen), 0);
	assert_int_equal(derlen, 0);
	for (i = 0; i <= NAMES_SAN_MAX; i++)
		many[i] = "dns:a.example";
	assert_int_equal(names_sans_encode(many, NAMES_SAN_MAX + 1, der, sizeof(der), &derlen),
		MTLS_ERR_ARG);
	sans[1] = "ip:nope";
	assert_int_equal(names_sans_encode(sans, 2, der, sizeof(der), &derlen), MTLS_ERR_ARG);
	assert_non_null(strstr(mtls_err_detail(), "ip:nope"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_slash_subject_is_one_rdn_per_component_in_order),
		cmocka_unit_test(an_rfc4514_subject_lists_the_last_rdn_first),
		cmocka_unit_test(escapes_reach_the_value),
		cmocka_unit_test(multi_valued_rdns_are_sorted_as_der_wants),
		cmocka_unit_test(string_types_follow_the_attribute),
		cmocka_unit_test(malformed_subjects_are_refused_with_a_reason),
		cmocka_unit_test(a_short_output_buffer_is_refused),
		cmocka_unit_test(each_san_type_becomes_its_general_name),
		cmocka_unit_test(malformed_sans_are_refused_with_a_reason),
		cmocka_unit_test(a_san_list_is_one_general_names_sequence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
