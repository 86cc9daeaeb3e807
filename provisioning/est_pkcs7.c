/* PKCS#7 / CMS certs-only SignedData (RFC 5652 5.1, RFC 7030 4.1.3): the
 * one shape EST answers with. Read strictly (DER, definite lengths, every
 * field where it belongs, nothing after the end) and written the same way
 * for the test server and the unit tests. */
#include <stdlib.h>
#include <string.h>

#include "asn1.h"
#include "est.h"
#include "mtls/err.h"

#define ASN1_CTX0 0xa0 /* [0] constructed */
#define ASN1_CTX1 0xa1 /* [1] constructed */

/* 1.2.840.113549.1.7.2 and .1 */
static const uint8_t oid_signed_data[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};
static const uint8_t oid_data[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01};

static int bad(const char *what)
{
	return mtls_err_set(
		MTLS_ERR_PROTOCOL, "the EST answer is not a PKCS#7 certs-only: %s", what);
}

static int oid_is(const struct asn1 *v, const uint8_t *oid, size_t n)
{
	return v->len == n && memcmp(v->p, oid, n) == 0;
}

/* A Certificate is SEQUENCE { SEQUENCE tbs, SEQUENCE alg, BIT STRING }. */
static int looks_like_cert(struct asn1 c)
{
	struct asn1 v;

	if (asn1_expect(&c, ASN1_SEQUENCE, &v, NULL) != 0 || c.len != 0)
		return 0;
	return asn1_expect(&v, ASN1_SEQUENCE, NULL, NULL) == 0 &&
		asn1_expect(&v, ASN1_SEQUENCE, NULL, NULL) == 0 &&
		asn1_expect(&v, ASN1_BIT_STRING, NULL, NULL) == 0 && v.len == 0;
}

static int take_certs(struct asn1 set, const uint8_t *base, struct est_certs *out)
{
	struct asn1 tlv;
	uint8_t tag;

	while (set.len > 0) {
		if (asn1_next(&set, &tag, NULL, &tlv) != 0)
			return bad("a certificate's encoding is broken");
		if (tag != ASN1_SEQUENCE)
			return bad("the certificates hold something other than X.509 certificates");
		if (!looks_like_cert(tlv))
			return bad("a certificate is not an X.509 Certificate structure");
		if (out->n == EST_CERTS_MAX)
			return mtls_err_set(MTLS_ERR_TOO_BIG,
				"the EST answer holds more than %d certificates", EST_CERTS_MAX);
		out->cert[out->n].der = out->buf + (tlv.p - base);
		out->cert[out->n].len = tlv.len;
		out->n++;
	}
	return 0;
}

/* SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo,
 *   certificates [0] IMPLICIT SET OPTIONAL, crls [1] OPTIONAL, signerInfos SET } */
static int signed_data(struct asn1 sd, const uint8_t *base, struct est_certs *out)
{
	struct asn1 v, eci, oid, set;
	int rc;

	if (asn1_expect(&sd, ASN1_INTEGER, &v, NULL) != 0 || v.len != 1 || v.p[0] > 5)
		return bad("no SignedData version");
	if (asn1_expect(&sd, ASN1_SET, NULL, NULL) != 0)
		return bad("no digestAlgorithms");
	if (asn1_expect(&sd, ASN1_SEQUENCE, &eci, NULL) != 0 ||
		asn1_expect(&eci, ASN1_OID, &oid, NULL) != 0)
		return bad("no encapsulated content info");
	if (!oid_is(&oid, oid_data, sizeof(oid_data)))
		return bad("the encapsulated content type is not id-data");
	if (eci.len != 0)
		return bad("it carries content (a certs-only answer has none)");
	if (sd.len > 0 && sd.p[0] == ASN1_CTX0) {
		if (asn1_next(&sd, NULL, &set, NULL) != 0)
			return bad("the certificate set's encoding is broken");
		if ((rc = take_certs(set, base, out)) != 0)
			return rc;
	}
	if (sd.len > 0 && sd.p[0] == ASN1_CTX1 && asn1_next(&sd, NULL, NULL, NULL) != 0)
		return bad("the CRL set's encoding is broken");
	if (asn1_expect(&sd, ASN1_SET, &set, NULL) != 0 || sd.len != 0)
		return bad("no signerInfos at the end of SignedData");
	if (set.len != 0)
		return bad("it is signed (a certs-only answer has no signers)");
	if (out->n == 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "the EST answer holds no certificate");
	return 0;
}

int est_pkcs7_certs(const uint8_t *der, size_t len, struct est_certs *out)
{
	struct asn1 c = {der, len}, ci, oid, expl, sd;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "the EST answer is empty");
	if (asn1_expect(&c, ASN1_SEQUENCE, &ci, NULL) != 0)
		return bad(len > 0 && der[0] == ASN1_SEQUENCE
				? "its DER length is broken or it is "
				  "truncated"
				: "it does not start with a DER SEQUENCE");
	if (c.len != 0)
		return bad("bytes follow the ContentInfo");
	if (asn1_expect(&ci, ASN1_OID, &oid, NULL) != 0)
		return bad("no content type");
	if (!oid_is(&oid, oid_signed_data, sizeof(oid_signed_data)))
		return bad("the content type is not signedData");
	if (asn1_expect(&ci, ASN1_CTX0, &expl, NULL) != 0 || ci.len != 0)
		return bad("no [0] content");
	if (asn1_expect(&expl, ASN1_SEQUENCE, &sd, NULL) != 0 || expl.len != 0)
		return bad("no SignedData");
	if ((out->buf = malloc(len)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "EST certificates");
	memcpy(out->buf, der, len);
	if ((rc = signed_data(sd, der, out)) != 0)
		est_certs_free(out);
	return rc;
}

void est_certs_free(struct est_certs *c)
{
	if (c == NULL)
		return;
	free(c->buf);
	memset(c, 0, sizeof(*c));
}

int est_pkcs7_build(
	const uint8_t *const *der, const size_t *lens, size_t n, uint8_t **out, size_t *outlen)
{
	static const uint8_t version[] = {0x01};
	struct asn1_buf b;
	size_t i, ci, cs;

	asn1_buf_init(&b, EST_RESPONSE_MAX);
	asn1_put_tlv(&b, ASN1_OID, oid_signed_data, sizeof(oid_signed_data));
	ci = b.len;
	asn1_put_tlv(&b, ASN1_INTEGER, version, sizeof(version));
	asn1_put_tlv(&b, ASN1_SET, NULL, 0);
	cs = b.len;
	asn1_put_tlv(&b, ASN1_OID, oid_data, sizeof(oid_data));
	asn1_wrap(&b, cs, ASN1_SEQUENCE);
	cs = b.len;
	for (i = 0; i < n; i++)
		asn1_put(&b, der[i], lens[i]);
	asn1_wrap(&b, cs, ASN1_CTX0);
	asn1_put_tlv(&b, ASN1_SET, NULL, 0);
	asn1_wrap(&b, ci, ASN1_SEQUENCE);
	asn1_wrap(&b, ci, ASN1_CTX0);
	asn1_wrap(&b, 0, ASN1_SEQUENCE);
	if (b.err) {
		asn1_buf_free(&b);
		return mtls_err_set(
			MTLS_ERR_TOO_BIG, "PKCS#7 over %u KiB", EST_RESPONSE_MAX / 1024);
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}
