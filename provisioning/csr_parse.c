/* Reading PKCS#10 requests for the local CA (csr.h). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#include <stdlib.h>
#include <string.h>

#include "asn1.h"
#include "csr.h"
#include "mtls/err.h"

#define REQ_MAX (64u << 10)

static const uint8_t oid_ext_req[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e}; /* 1.2.840.113549.1.9.14 */
static const uint8_t oid_san[] = {0x55, 0x1d, 0x11}; /* 2.5.29.17 */

static int oid_is(const struct asn1 *v, const uint8_t *oid, size_t len)
{
	return v->len == len && memcmp(v->p, oid, len) == 0;
}

/* The subjectAltName's GeneralNames in an Extensions SEQUENCE. */
static int find_san(struct asn1 exts, struct csr_info *out)
{
	struct asn1 ext, oid, val, gn;

	while (exts.len > 0) {
		if (asn1_expect(&exts, ASN1_SEQUENCE, &ext, NULL) != 0 ||
			asn1_expect(&ext, ASN1_OID, &oid, NULL) != 0)
			return -1;
		if (ext.len > 0 && ext.p[0] == 0x01 && asn1_next(&ext, NULL, NULL, NULL) != 0)
			return -1; /* critical BOOLEAN */
		if (asn1_expect(&ext, ASN1_OCTET_STRING, &val, NULL) != 0 || ext.len != 0)
			return -1;
		if (!oid_is(&oid, oid_san, sizeof(oid_san)))
			continue;
		if (out->sans != NULL || asn1_expect(&val, ASN1_SEQUENCE, NULL, &gn) != 0 ||
			val.len != 0)
			return -1; /* twice, or not one GeneralNames */
		out->sans = gn.p;
		out->sans_len = gn.len;
	}
	return 0;
}

/* Attributes: [0] IMPLICIT SET OF Attribute; only extensionRequest matters. */
static int read_attributes(struct asn1 attrs, struct csr_info *out)
{
	struct asn1 attr, oid, set, exts;

	while (attrs.len > 0) {
		if (asn1_expect(&attrs, ASN1_SEQUENCE, &attr, NULL) != 0 ||
			asn1_expect(&attr, ASN1_OID, &oid, NULL) != 0 ||
			asn1_expect(&attr, ASN1_SET, &set, NULL) != 0 || attr.len != 0)
			return -1;
		if (!oid_is(&oid, oid_ext_req, sizeof(oid_ext_req)))
			continue;
		if (asn1_expect(&set, ASN1_SEQUENCE, &exts, NULL) != 0 || set.len != 0 ||
			find_san(exts, out) != 0)
			return -1;
	}
	return 0;
}

int csr_parse(const uint8_t *der, size_t len, struct csr_info *out)
{
	struct asn1 c = {der, len}, req, info, v, attrs;

	memset(out, 0, sizeof(*out));
	if (asn1_expect(&c, ASN1_SEQUENCE, &req, NULL) != 0 || c.len != 0 ||
		asn1_expect(&req, ASN1_SEQUENCE, &info, NULL) != 0 ||
		asn1_expect(&info, ASN1_INTEGER, &v, NULL) != 0 || v.len != 1 || v.p[0] != 0)
		goto bad;
	if (asn1_expect(&info, ASN1_SEQUENCE, NULL, &v) != 0)
		goto bad;
	out->subject = v.p, out->subject_len = v.len;
	if (asn1_expect(&info, ASN1_SEQUENCE, NULL, &v) != 0)
		goto bad;
	out->spki = v.p, out->spki_len = v.len;
	if (info.len > 0 &&
		(asn1_expect(&info, 0xa0, &attrs, NULL) != 0 || info.len != 0 ||
			read_attributes(attrs, out) != 0))
		goto bad;
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return mtls_err_set(MTLS_ERR_PROTOCOL,
		"the certificate request is malformed (PKCS#10 structure or its extensions)");
}

static const char *find(const uint8_t *p, size_t len, const char *s)
{
	size_t n = strlen(s), i;

	for (i = 0; i + n <= len; i++)
		if (memcmp(p + i, s, n) == 0)
			return (const char *)p + i;
	return NULL;
}

int csr_decode(const uint8_t *buf, size_t len, const char *what, uint8_t **der, size_t *derlen)
{
	int ret;

	*der = NULL;
	*derlen = 0;
	if (len == 0 || len > 4 * REQ_MAX)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "%s is empty or too big", what);
	if (find(buf, len, "-----BEGIN ") == NULL) {
		if (len > REQ_MAX)
			return mtls_err_set(MTLS_ERR_PROTOCOL, "%s is too big", what);
		*der = malloc(len);
		if (*der == NULL)
			return MTLS_ERR_NOMEM;
		memcpy(*der, buf, len);
		*derlen = len;
		return 0;
	}
	if (find(buf, len, "CERTIFICATE REQUEST-----") == NULL)
		return mtls_err_set(
			MTLS_ERR_PROTOCOL, "%s holds no \"BEGIN CERTIFICATE REQUEST\" block", what);
	*der = malloc(REQ_MAX);
	if (*der == NULL)
		return MTLS_ERR_NOMEM;
	ret = wc_CertPemToDer(buf, (int)len, *der, REQ_MAX, CERTREQ_TYPE);
	if (ret <= 0) {
		free(*der);
		*der = NULL;
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"%s: the certificate request does not decode (bad base64 or truncated)",
			what);
	}
	*derlen = (size_t)ret;
	return 0;
}
