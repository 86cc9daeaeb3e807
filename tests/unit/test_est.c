/* The EST client's parsers (provisioning/est_parse.c, est_pkcs7.c): HTTP
 * answers and their framing, base64, PKCS#7 certs-only (an OpenSSL-made
 * vector and our own encoder), the certificates of a 200 answer, URLs and
 * pins. One refusal per error branch, each with a message that names it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "est.h"
#include "est_vectors.h"
#include "mtls/err.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static struct est_http h;

static void teardown_http(void)
{
	est_http_clear(&h);
}

/* Parsing must fail with code and a detail containing want. */
static void http_refused(const uint8_t *buf, size_t len, int eof, int code, const char *want)
{
	int rc = est_http_parse(buf, len, eof, &h);

	if (rc != code || strstr(mtls_err_detail(), want) == NULL)
		fail_msg("want %d '%s', got %d '%s'", code, want, rc, mtls_err_detail());
	assert_null(h.body);
}

/* ---- HTTP ---- */

static void http_content_length_body(void **state)
{
	static const char a[] = "HTTP/1.1 200 OK\r\nContent-Type: Application/PKCS7-MIME; "
				"smime-type=certs-only\r\nContent-Transfer-Encoding: Base64\r\n"
				"Content-Length: 4\r\n\r\nQUJDextra";

	assert_int_equal(est_http_parse(S(a), 0, &h), 0);
	assert_int_equal(h.status, 200);
	assert_string_equal(h.reason, "OK");
	assert_string_equal(h.content_type, "application/pkcs7-mime; smime-type=certs-only");
	assert_string_equal(h.cte, "base64");
	assert_int_equal(h.body_len, 4);
	assert_memory_equal(h.body, "QUJD", 4);
	assert_int_equal(h.retry_after, -1);
	teardown_http();
}

static void http_needs_more_then_truncated(void **state)
{
	static const char a[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";

	assert_int_equal(est_http_parse(S(a), 0, &h), MTLS_ERR_AGAIN);
	http_refused(S(a), 1, MTLS_ERR_PROTOCOL, "truncated: 3 of the 10 body bytes");
	assert_int_equal(est_http_parse((const uint8_t *)a, 10, 0, &h), MTLS_ERR_AGAIN);
	http_refused((const uint8_t *)a, 10, 1, MTLS_ERR_PROTOCOL, "truncated inside its headers");
	http_refused((const uint8_t *)"", 0, 1, MTLS_ERR_PROTOCOL, "closed the connection without");
}

static void http_close_framed(void **state)
{
	static const char a[] = "HTTP/1.0 200 OK\nContent-Type: x\n\nbody bytes";

	assert_int_equal(est_http_parse(S(a), 0, &h), MTLS_ERR_AGAIN);
	assert_int_equal(est_http_parse(S(a), 1, &h), 0);
	assert_int_equal(h.body_len, 10);
	teardown_http();
}

static void http_chunked(void **state)
{
	static const char a[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
				"4;name=v\r\nQUJD\r\n2\r\nRA\r\n0\r\nTrailer: x\r\n\r\n";

	assert_int_equal(est_http_parse(S(a), 0, &h), 0);
	assert_int_equal(h.body_len, 6);
	assert_memory_equal(h.body, "QUJDRA", 6);
	teardown_http();
	assert_int_equal(est_http_parse((const uint8_t *)a, sizeof(a) - 3, 0, &h), MTLS_ERR_AGAIN);
	http_refused((const uint8_t *)a, sizeof(a) - 3, 1, MTLS_ERR_PROTOCOL, "inside its chunked");
	http_refused(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 1,
		MTLS_ERR_PROTOCOL, "malformed chunk size");
	http_refused(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n"), 1,
		MTLS_ERR_PROTOCOL, "chunk not followed by CR LF");
	http_refused(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000\r\n"), 1,
		MTLS_ERR_TOO_BIG, "chunk size over");
	http_refused(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffff\r\n"), 1,
		MTLS_ERR_TOO_BIG, "chunked EST answer over 256 KiB");
	http_refused(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), 1, MTLS_ERR_PROTOCOL,
		"unsupported Transfer-Encoding 'gzip'");
}

static void http_bad_heads(void **state)
{
	http_refused(S("<html>hello</html>\r\n\r\n"), 1, MTLS_ERR_PROTOCOL,
		"not HTTP/1.x (it begins '<html>hello</html>')");
	http_refused(S("HTTP/2 200\r\n\r\n"), 1, MTLS_ERR_PROTOCOL, "not HTTP/1.x");
	http_refused(S("HTTP/1.1 20x OK\r\n\r\n"), 1, MTLS_ERR_PROTOCOL, "not HTTP/1.x");
	http_refused(S("HTTP/1.1 099 Low\r\n\r\n"), 1, MTLS_ERR_PROTOCOL, "out of range");
	http_refused(S("HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n"), 1, MTLS_ERR_PROTOCOL,
		"folded header");
	http_refused(S("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"), 1, MTLS_ERR_PROTOCOL,
		"malformed header line");
	http_refused(S("HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n"), 1, MTLS_ERR_PROTOCOL,
		"bad or repeated Content-Length");
	http_refused(S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"), 1,
		MTLS_ERR_PROTOCOL, "bad or repeated Content-Length");
	http_refused(S("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n"), 0, MTLS_ERR_TOO_BIG,
		"announces a body over 256 KiB");
}

static void http_size_bounds(void **state)
{
	size_t n = EST_RESPONSE_MAX + 1;
	uint8_t *big = malloc(n);

	assert_non_null(big);
	memset(big, 'a', n);
	http_refused(big, n, 0, MTLS_ERR_TOO_BIG, "over 256 KiB");
	memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
	http_refused(big, EST_HEADER_MAX + 1, 0, MTLS_ERR_TOO_BIG, "headers are over 16 KiB");
	free(big);
}

static void http_interim_and_no_body(void **state)
{
	assert_int_equal(est_http_parse(S("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n"
					  "Content-Length: 5\r\n\r\n"),
				 0, &h),
		0);
	assert_int_equal(h.status, 204);
	assert_int_equal(h.body_len, 0);
	teardown_http();
}

static void http_retry_after_and_location(void **state)
{
	assert_int_equal(est_http_parse(S("HTTP/1.1 202 Accepted\r\nRetry-After:  7 \r\n"
					  "Content-Length: 0\r\n\r\n"),
				 0, &h),
		0);
	assert_int_equal(h.retry_after, 7);
	teardown_http();
	assert_int_equal(est_http_parse(S("HTTP/1.1 503 x\r\nRetry-After: 99999999\r\n"
					  "Content-Length: 0\r\n\r\n"),
				 0, &h),
		0);
	assert_int_equal(h.retry_after, 24 * 3600);
	teardown_http();
	assert_int_equal(
		est_http_parse(S("HTTP/1.1 202 x\r\nRetry-After: Thu, 01 Jan 1970 00:00:00 "
				 "GMT\r\nContent-Length: 0\r\n\r\n"),
			0, &h),
		0);
	assert_int_equal(h.retry_after, 0);
	teardown_http();
	assert_int_equal(
		est_http_parse(S("HTTP/1.1 202 x\r\nRetry-After: Fri, 31 Dec 2094 23:59:59 "
				 "GMT\r\nContent-Length: 0\r\n\r\n"),
			0, &h),
		0);
	assert_int_equal(h.retry_after, 24 * 3600);
	teardown_http();
	assert_int_equal(est_http_parse(S("HTTP/1.1 202 x\r\nRetry-After: soon\r\n"
					  "Content-Length: 0\r\n\r\n"),
				 0, &h),
		0);
	assert_int_equal(h.retry_after, -1);
	teardown_http();
	assert_int_equal(est_http_parse(S("HTTP/1.1 302 Found\r\nLocation: https://x/\x01y\r\n"
					  "Content-Length: 0\r\n\r\n"),
				 0, &h),
		0);
	assert_string_equal(h.location, "https://x/?y");
	teardown_http();
}

/* ---- base64 ---- */

static void base64_decode_ok_and_refused(void **state)
{
	uint8_t out[16];
	size_t n = 0;

	assert_int_equal(est_base64_decode(S("QU\r\nJD RA=="), out, sizeof(out), &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "ABCD", 4);
	assert_int_equal(est_base64_decode(S("QUJDRA=="), out, 3, &n), MTLS_ERR_TOO_BIG);
	assert_int_equal(est_base64_decode(S("QUJ$"), out, sizeof(out), &n), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "byte 0x24 at offset 3 is not base64"));
	assert_int_equal(est_base64_decode(S("Q==="), out, sizeof(out), &n), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "misplaced '='"));
	assert_int_equal(est_base64_decode(S("QQ=A"), out, sizeof(out), &n), MTLS_ERR_PROTOCOL);
	assert_int_equal(est_base64_decode(S("QQ==QUJD"), out, sizeof(out), &n), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "after its '=' padding"));
	assert_int_equal(est_base64_decode(S("QUJDR"), out, sizeof(out), &n), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "middle of a group"));
}

static void base64_roundtrip(void **state)
{
	uint8_t in[300], back[300];
	size_t i, len, n;
	char *enc;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7);
	for (len = 0; len < 6; len++) {
		assert_int_equal(est_base64_encode(in, len, &enc, &n), 0);
		assert_int_equal(n, (len + 2) / 3 * 4);
		assert_int_equal(est_base64_decode((uint8_t *)enc, n, back, sizeof(back), &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(back, in, len);
		free(enc);
	}
}

/* ---- PKCS#7 ---- */

static void pkcs7_from_openssl(void **state)
{
	struct est_certs c;

	assert_int_equal(
		est_pkcs7_certs(p7_openssl_certs_only, sizeof(p7_openssl_certs_only), &c), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.cert[0].der[0], 0x30);
	assert_true(c.cert[0].len > 300 && c.cert[0].len < sizeof(p7_openssl_certs_only));
	est_certs_free(&c);
	assert_null(c.buf);
	est_certs_free(NULL);
	assert_int_equal(est_pkcs7_certs(p7_openssl_signed, sizeof(p7_openssl_signed), &c),
		MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "carries content"));
}

/* A minimal Certificate-shaped SEQUENCE, tagged by its last byte. */
static const uint8_t fake_cert[] = {0x30, 0x08, 0x30, 0x00, 0x30, 0x00, 0x03, 0x02, 0x00, 0x01};

static uint8_t *build(size_t n, size_t *len)
{
	const uint8_t *der[EST_CERTS_MAX + 1];
	size_t lens[EST_CERTS_MAX + 1], i;
	uint8_t *out = NULL;

	for (i = 0; i < n; i++) {
		der[i] = fake_cert;
		lens[i] = sizeof(fake_cert);
	}
	assert_int_equal(est_pkcs7_build(der, lens, n, &out, len), 0);
	return out;
}

static void pkcs7_roundtrip_and_bounds(void **state)
{
	struct est_certs c;
	size_t len;
	uint8_t *p7 = build(3, &len);

	assert_int_equal(est_pkcs7_certs(p7, len, &c), 0);
	assert_int_equal(c.n, 3);
	assert_memory_equal(c.cert[2].der, fake_cert, sizeof(fake_cert));
	est_certs_free(&c);
	free(p7);
	p7 = build(0, &len);
	assert_int_equal(est_pkcs7_certs(p7, len, &c), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "holds no certificate"));
	free(p7);
	p7 = build(EST_CERTS_MAX + 1, &len);
	assert_int_equal(est_pkcs7_certs(p7, len, &c), MTLS_ERR_TOO_BIG);
	free(p7);
}

/* Mutate one byte of a built PKCS#7 (offset from the start) and expect want. */
static void mutated(size_t off, uint8_t value, const char *want)
{
	struct est_certs c;
	size_t len;
	uint8_t *p7 = build(1, &len);

	p7[off] = value;
	assert_int_equal(est_pkcs7_certs(p7, len, &c), MTLS_ERR_PROTOCOL);
	if (strstr(mtls_err_detail(), want) == NULL)
		fail_msg("offset %zu: want '%s', got '%s'", off, want, mtls_err_detail());
	free(p7);
}

static void pkcs7_refusals(void **state)
{
	struct est_certs c;
	size_t len;
	uint8_t *p7 = build(1, &len), *longer;

	/* Layout: 30 L | 06 09 <signedData> | a0 L | 30 L | 02 01 01 | 31 00 |
	 * 30 0b 06 09 <data> | a0 0a <cert> | 31 00 */
	mutated(0, 0x31, "does not start with a DER SEQUENCE");
	mutated(1, 0x7f, "DER length is broken or it is truncated");
	mutated(12, 0x01, "content type is not signedData");
	mutated(13, 0xa1, "no [0] content");
	mutated(15, 0x31, "no SignedData");
	mutated(19, 0x07, "no SignedData version");
	mutated(20, 0x30, "no digestAlgorithms");
	mutated(22, 0x31, "no encapsulated content info");
	mutated(32, 0x02, "not id-data");
	mutated(35, 0x30, "no signerInfos"); /* no certificate set, then no SET */
	mutated(37, 0x31, "something other than X.509 certificates");
	mutated(39, 0x31, "not an X.509 Certificate structure");
	mutated(47, 0x30, "no signerInfos");
	assert_int_equal(est_pkcs7_certs(p7, len - 1, &c), MTLS_ERR_PROTOCOL);
	assert_int_equal(est_pkcs7_certs(p7, 0, &c), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "is empty"));
	/* A signer: signerInfos SET { NULL } (lengths are short forms here). */
	longer = malloc(len + 2);
	memcpy(longer, p7, len);
	longer[len - 1] = 2;
	longer[len] = 0x05;
	longer[len + 1] = 0x00;
	longer[1] += 2, longer[14] += 2, longer[16] += 2;
	assert_int_equal(est_pkcs7_certs(longer, len + 2, &c), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "it is signed"));
	free(longer);
	longer = malloc(len + 1);
	memcpy(longer, p7, len);
	longer[len] = 0;
	assert_int_equal(est_pkcs7_certs(longer, len + 1, &c), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "bytes follow the ContentInfo"));
	free(longer);
	free(p7);
}

/* ---- the certificates of a 200 answer ---- */

static int certs_of(
	const char *ct, const char *cte, const uint8_t *body, size_t len, struct est_certs *c)
{
	struct est_http a = {.status = 200};

	snprintf(a.content_type, sizeof(a.content_type), "%s", ct);
	snprintf(a.cte, sizeof(a.cte), "%s", cte);
	a.body = (uint8_t *)body;
	a.body_len = len;
	return est_parse_certs(&a, c);
}

static void certs_of_answers(void **state)
{
	static const char p7ct[] = "application/pkcs7-mime; smime-type=\"certs-only\"";
	struct est_certs c;
	size_t n = 0;
	char *b64;

	assert_int_equal(
		est_base64_encode(p7_openssl_certs_only, sizeof(p7_openssl_certs_only), &b64, &n),
		0);
	assert_int_equal(certs_of(p7ct, "", (uint8_t *)b64, n, &c), 0);
	assert_int_equal(c.n, 1);
	est_certs_free(&c);
	assert_int_equal(certs_of("application/pkcs7-mime", "binary", p7_openssl_certs_only,
				 sizeof(p7_openssl_certs_only), &c),
		0);
	est_certs_free(&c);
	assert_int_equal(certs_of("application/pkcs7-mime; smime-type=signed-data", "base64",
				 (uint8_t *)b64, n, &c),
		MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "smime-type 'signed-data', not certs-only"));
	free(b64);
	assert_int_equal(
		certs_of("text/html; charset=utf-8", "", S("<p>hi</p>"), &c), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "HTML page (Content-Type 'text/html')"));
	assert_non_null(strstr(mtls_err_detail(), "begins '<p>hi</p>'"));
	assert_int_equal(certs_of("", "", S("\n <html>"), &c), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "HTML page"));
	assert_int_equal(certs_of("application/json", "", S("{}"), &c), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(),
		"Content-Type 'application/json', not "
		"application/pkcs7-mime"));
	assert_int_equal(certs_of("", "", S("MIIB"), &c), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "Content-Type '(none)'"));
	assert_int_equal(certs_of(p7ct, "base64", S("not base64!"), &c), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "body is not base64"));
	assert_int_equal(certs_of(p7ct, "base64", S(""), &c), MTLS_ERR_PROTOCOL);
	assert_non_null(strstr(mtls_err_detail(), "empty body"));
	{
		struct est_http a = {.status = 202};

		assert_int_equal(est_parse_certs(&a, &c), MTLS_ERR_ARG);
	}
}

/* ---- URL and pin ---- */

static void url_forms(void **state)
{
	struct est_url u;

	assert_int_equal(est_url_parse("https://est.example.com", &u), 0);
	assert_string_equal(u.host, "est.example.com");
	assert_string_equal(u.port, "443");
	assert_string_equal(u.path, "/.well-known/est");
	assert_false(u.host_is_ip);
	assert_int_equal(est_url_parse("HTTPS://127.0.0.1:8443/", &u), 0);
	assert_true(u.host_is_ip);
	assert_string_equal(u.port, "8443");
	assert_int_equal(est_url_parse("https://[::1]:9/.well-known/est/arbitraryLabel1/", &u), 0);
	assert_string_equal(u.host, "::1");
	assert_true(u.host_is_ip);
	assert_string_equal(u.path, "/.well-known/est/arbitraryLabel1");
	assert_int_equal(est_url_parse("https://999.1.1.1/", &u), 0);
	assert_false(u.host_is_ip);
	assert_int_equal(est_url_parse("https://h/pki", &u), 0);
	assert_string_equal(u.path, "/pki/.well-known/est");
	assert_int_equal(est_url_parse("https://h/.well-known/estx", &u), 0);
	assert_string_equal(u.path, "/.well-known/estx/.well-known/est");
}

static void url_refused(const char *url, const char *want)
{
	struct est_url u;

	assert_int_equal(est_url_parse(url, &u), MTLS_ERR_CONFIG);
	if (strstr(mtls_err_detail(), want) == NULL)
		fail_msg("%s: want '%s', got '%s'", url, want, mtls_err_detail());
}

static void url_refusals(void **state)
{
	url_refused("http://h/", "must start with https://");
	url_refused("https://user:pw@h/", "credentials in the URL are refused");
	url_refused("https://h:0/", "port must be 1 to 65535");
	url_refused("https://h:65536/", "port must be 1 to 65535");
	url_refused("https://h:x/", "port must be 1 to 65535");
	url_refused("https:///x", "host name empty");
	url_refused("https://[::1/", "unclosed '['");
	url_refused("https://[::1]x/", "junk after ']'");
	url_refused("https://h_x/", "bad character in the host name");
	url_refused("https://[1.2.3.4]/", "in [] is no IPv6 address");
	url_refused("https://h/?q=1", "'?' and '#' are not allowed");
	url_refused("https://h/a b", "blanks, control characters");
}

static void pins(void **state)
{
	uint8_t pin[32];
	char hex[100];
	size_t i;

	for (i = 0; i < 32; i++)
		sprintf(hex + 3 * i, "%02X:", (unsigned)i);
	hex[95] = '\0';
	assert_int_equal(est_pin_parse(hex, pin), 0);
	assert_int_equal(pin[31], 31);
	assert_int_equal(
		est_pin_parse(
			"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", pin),
		0);
	assert_int_equal(pin[5], 0x55);
	assert_int_equal(est_pin_parse("0011", pin), MTLS_ERR_CONFIG);
	assert_non_null(strstr(mtls_err_detail(), "64 hex digits"));
	assert_int_equal(
		est_pin_parse("zz112233445566778899aabbccddeeff00112233445566778899aabbccdd"
			      "eeff",
			pin),
		MTLS_ERR_CONFIG);
	assert_int_equal(
		est_pin_parse("00112233445566778899aabbccddeeff00112233445566778899aabbccdd"
			      "eeff00",
			pin),
		MTLS_ERR_CONFIG);
	assert_int_equal(est_pin_parse(":00", pin), MTLS_ERR_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(http_content_length_body),
		cmocka_unit_test(http_needs_more_then_truncated),
		cmocka_unit_test(http_close_framed),
		cmocka_unit_test(http_chunked),
		cmocka_unit_test(http_bad_heads),
		cmocka_unit_test(http_size_bounds),
		cmocka_unit_test(http_interim_and_no_body),
		cmocka_unit_test(http_retry_after_and_location),
		cmocka_unit_test(base64_decode_ok_and_refused),
		cmocka_unit_test(base64_roundtrip),
		cmocka_unit_test(pkcs7_from_openssl),
		cmocka_unit_test(pkcs7_roundtrip_and_bounds),
		cmocka_unit_test(pkcs7_refusals),
		cmocka_unit_test(certs_of_answers),
		cmocka_unit_test(url_forms),
		cmocka_unit_test(url_refusals),
		cmocka_unit_test(pins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
