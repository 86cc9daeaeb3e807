/* libFuzzer target for what an EST server sends back (provisioning/
 * est_parse.c, est_pkcs7.c): the HTTP/1.1 answer (status, headers,
 * Content-Length and chunked framing, Retry-After), the body's base64 and
 * the PKCS#7 certs-only SignedData; the input is also tried as a bare DER
 * PKCS#7, as base64, and as an EST URL and a pin. Invariants checked:
 * certificates lie inside the parser's copy; a parsed PKCS#7 rebuilt from
 * its certificates parses to the same certificates; base64 that decodes
 * encodes and decodes to the same bytes; an answer complete at eof is not
 * reported complete differently before it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "est.h"
#include "mtls/err.h"

static void check_certs(const struct est_certs *c, size_t buflen)
{
	size_t i;

	if (c->n > EST_CERTS_MAX)
		__builtin_trap();
	for (i = 0; i < c->n; i++)
		if (c->cert[i].der < c->buf || c->cert[i].der + c->cert[i].len > c->buf + buflen ||
			c->cert[i].len < 2)
			__builtin_trap();
}

/* Rebuilt from its certificates, a certs-only parses to the same ones. */
static void roundtrip(const struct est_certs *c)
{
	const uint8_t *der[EST_CERTS_MAX];
	size_t lens[EST_CERTS_MAX], i, len = 0;
	uint8_t *p7 = NULL;
	struct est_certs again;

	for (i = 0; i < c->n; i++) {
		der[i] = c->cert[i].der;
		lens[i] = c->cert[i].len;
	}
	if (est_pkcs7_build(der, lens, c->n, &p7, &len) != 0)
		return;
	if (est_pkcs7_certs(p7, len, &again) != 0 || again.n != c->n)
		__builtin_trap();
	for (i = 0; i < c->n; i++)
		if (again.cert[i].len != lens[i] || memcmp(again.cert[i].der, der[i], lens[i]) != 0)
			__builtin_trap();
	est_certs_free(&again);
	free(p7);
}

static void http(const uint8_t *data, size_t size)
{
	struct est_http h, early;
	struct est_certs c;
	int rc = est_http_parse(data, size, 1, &h), rc0;

	if (rc != 0)
		return;
	/* Complete at eof; before eof it is complete too, or wants more. */
	rc0 = est_http_parse(data, size, 0, &early);
	if (rc0 == 0) {
		if (early.status != h.status)
			__builtin_trap();
		est_http_clear(&early);
	} else if (rc0 != MTLS_ERR_AGAIN && rc0 != MTLS_ERR_PROTOCOL) {
		__builtin_trap();
	}
	if (h.status == 200 && est_parse_certs(&h, &c) == 0) {
		check_certs(&c, h.body_len);
		roundtrip(&c);
		est_certs_free(&c);
	}
	est_http_clear(&h);
}

static void base64(const uint8_t *data, size_t size)
{
	uint8_t *out = malloc(size / 4 * 3 + 3), *again;
	size_t n = 0, m = 0, elen = 0;
	char *enc = NULL;

	if (out == NULL)
		return;
	if (est_base64_decode(data, size, out, size / 4 * 3 + 3, &n) == 0 &&
		est_base64_encode(out, n, &enc, &elen) == 0) {
		again = malloc(elen / 4 * 3 + 3);
		if (again == NULL ||
			est_base64_decode((uint8_t *)enc, elen, again, elen / 4 * 3 + 3, &m) != 0 ||
			m != n || memcmp(again, out, n) != 0)
			__builtin_trap();
		free(again);
		free(enc);
	}
	free(out);
}

static void text(const uint8_t *data, size_t size)
{
	char s[EST_URL_MAX + 1];
	struct est_url u;
	uint8_t pin[32];
	size_t n = size < EST_URL_MAX ? size : EST_URL_MAX;

	memcpy(s, data, n);
	s[n] = '\0';
	est_url_parse(s, &u);
	est_pin_parse(s, pin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct est_certs c;

	if (size > EST_RESPONSE_MAX + 16)
		return 0;
	if (data == NULL)
		data = (const uint8_t *)"";
	http(data, size);
	if (est_pkcs7_certs(data, size, &c) == 0) {
		check_certs(&c, size);
		roundtrip(&c);
		est_certs_free(&c);
	}
	base64(data, size);
	text(data, size);
	return 0;
}
