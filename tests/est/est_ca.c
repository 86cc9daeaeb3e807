/* The EST test server's CA (est_ca.h): DER written by hand with the
 * provisioning tool's bounded writer, signed with wolfCrypt ECDSA. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asn1.h"
#include "est_ca.h"

#define CERT_MAX (64u << 10)

struct est_ca {
	uint8_t *cert;
	size_t cert_len;
	struct asn1 subject; /* into cert */
	ecc_key key;
	int key_ok;
	WC_RNG rng;
	int rng_ok;
};

static const uint8_t oid_ext_req[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e};
static const uint8_t oid_san[] = {0x55, 0x1d, 0x11};
static const uint8_t oid_ecdsa_sha256[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t oid_ecdsa_sha384[] = {0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};

/* basicConstraints critical CA:FALSE; keyUsage critical digitalSignature,
 * keyEncipherment; extKeyUsage serverAuth, clientAuth. */
static const uint8_t ext_fixed[] = {
	0x30, 0x0c, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff, 0x04, 0x02, 0x30, 0x00, /* bc */
	0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01, 0x01, 0xff, 0x04, 0x04, 0x03, 0x02, 0x05,
	0xa0, /* ku */
	0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x25, 0x04, 0x16, 0x30, 0x14, 0x06, 0x08, 0x2b, 0x06,
	0x01, 0x05, 0x05, 0x07, 0x03, 0x01, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03,
	0x02, /* eku */
};

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 || n > (long)CERT_MAX ||
		fseek(f, 0, SEEK_SET) != 0 || (*buf = malloc((size_t)n)) == NULL) {
		if (f)
			fclose(f);
		fprintf(stderr, "est-server: cannot read %s\n", path);
		return -1;
	}
	*len = fread(*buf, 1, (size_t)n, f);
	fclose(f);
	return 0;
}

static int oid_is(const struct asn1 *v, const uint8_t *oid, size_t n)
{
	return v->len == n && memcmp(v->p, oid, n) == 0;
}

/* The subject TLV of a DER certificate, and its extensions' content. */
static int cert_parts(const uint8_t *der, size_t len, struct asn1 *subject, struct asn1 *exts)
{
	struct asn1 c = {der, len}, cert, tbs, v;
	uint8_t tag;

	exts->p = NULL;
	exts->len = 0;
	if (asn1_expect(&c, 0x30, &cert, NULL) != 0 || asn1_expect(&cert, 0x30, &tbs, NULL) != 0)
		return -1;
	if (tbs.len > 0 && tbs.p[0] == 0xa0 && asn1_next(&tbs, NULL, NULL, NULL) != 0)
		return -1;
	if (asn1_expect(&tbs, 0x02, NULL, NULL) != 0 || asn1_expect(&tbs, 0x30, NULL, NULL) != 0 ||
		asn1_expect(&tbs, 0x30, NULL, NULL) != 0 ||
		asn1_expect(&tbs, 0x30, NULL, NULL) != 0 ||
		asn1_expect(&tbs, 0x30, NULL, subject) != 0 ||
		asn1_expect(&tbs, 0x30, NULL, NULL) != 0)
		return -1;
	while (tbs.len > 0) {
		if (asn1_next(&tbs, &tag, &v, NULL) != 0)
			return -1;
		if (tag == 0xa3 && asn1_expect(&v, 0x30, exts, NULL) != 0)
			return -1;
	}
	return 0;
}

/* The subjectAltName Extension TLV among extensions, or none. */
static int find_san(struct asn1 exts, struct asn1 *san)
{
	struct asn1 ext, tlv, oid;

	san->p = NULL;
	san->len = 0;
	while (exts.len > 0) {
		if (asn1_expect(&exts, 0x30, &ext, &tlv) != 0 ||
			asn1_expect(&ext, 0x06, &oid, NULL) != 0)
			return -1;
		if (oid_is(&oid, oid_san, sizeof(oid_san)))
			*san = tlv;
	}
	return 0;
}

static int load_key(struct est_ca *ca, const char *path)
{
	uint8_t *pem = NULL, der[4096];
	size_t len = 0;
	word32 idx = 0;
	int n, off;

	if (read_file(path, &pem, &len) != 0)
		return -1;
	n = wc_KeyPemToDer(pem, (int)len, der, sizeof(der), NULL);
	free(pem);
	if (n <= 0)
		return fprintf(stderr, "est-server: %s: no PEM private key\n", path), -1;
	off = wc_GetPkcs8TraditionalOffset(der, &idx, (word32)n);
	if (off < 0)
		idx = 0;
	if (wc_ecc_init(&ca->key) != 0)
		return -1;
	ca->key_ok = 1;
	if (wc_EccPrivateKeyDecode(der, &idx, &ca->key, (word32)n) != 0)
		return fprintf(stderr, "est-server: %s: not an EC private key\n", path), -1;
	return 0;
}

int est_ca_load(const char *cert, const char *key, struct est_ca **out)
{
	struct est_ca *ca = calloc(1, sizeof(*ca));
	uint8_t *pem = NULL;
	size_t len = 0;
	struct asn1 exts;
	int n;

	if (ca == NULL || read_file(cert, &pem, &len) != 0)
		goto fail;
	if ((ca->cert = malloc(len)) == NULL)
		goto fail;
	n = wc_CertPemToDer(pem, (int)len, ca->cert, (int)len, CERT_TYPE);
	if (n <= 0 || cert_parts(ca->cert, (size_t)n, &ca->subject, &exts) != 0) {
		fprintf(stderr, "est-server: %s: no PEM certificate\n", cert);
		goto fail;
	}
	ca->cert_len = (size_t)n;
	if (load_key(ca, key) != 0 || wc_InitRng(&ca->rng) != 0)
		goto fail;
	ca->rng_ok = 1;
	free(pem);
	*out = ca;
	return 0;
fail:
	free(pem);
	est_ca_free(ca);
	return -1;
}

void est_ca_free(struct est_ca *ca)
{
	if (ca == NULL)
		return;
	if (ca->key_ok)
		wc_ecc_free(&ca->key);
	if (ca->rng_ok)
		wc_FreeRng(&ca->rng);
	free(ca->cert);
	free(ca);
}

const uint8_t *est_ca_cert(const struct est_ca *ca, size_t *len)
{
	*len = ca->cert_len;
	return ca->cert;
}

/* Attributes: only extensionRequest's subjectAltName is looked at. */
static int req_san(struct asn1 attrs, struct asn1 *san)
{
	struct asn1 attr, oid, set, exts;

	san->p = NULL;
	san->len = 0;
	while (attrs.len > 0) {
		if (asn1_expect(&attrs, 0x30, &attr, NULL) != 0 ||
			asn1_expect(&attr, 0x06, &oid, NULL) != 0 ||
			asn1_expect(&attr, 0x31, &set, NULL) != 0)
			return -1;
		if (oid_is(&oid, oid_ext_req, sizeof(oid_ext_req)) &&
			(asn1_expect(&set, 0x30, &exts, NULL) != 0 || find_san(exts, san) != 0))
			return -1;
	}
	return 0;
}

int est_ca_parse_req(const uint8_t *der, size_t len, struct est_req *req, char *err, size_t errsz)
{
	struct asn1 c = {der, len}, r, info, v, subject, spki, san = {NULL, 0};
	DecodedCert dc;
	int ret;

	memset(req, 0, sizeof(*req));
	if (asn1_expect(&c, 0x30, &r, NULL) != 0 || c.len != 0 ||
		asn1_expect(&r, 0x30, &info, NULL) != 0 ||
		asn1_expect(&info, 0x02, &v, NULL) != 0 ||
		asn1_expect(&info, 0x30, NULL, &subject) != 0 ||
		asn1_expect(&info, 0x30, NULL, &spki) != 0 ||
		(info.len > 0 &&
			(asn1_expect(&info, 0xa0, &v, NULL) != 0 || req_san(v, &san) != 0))) {
		snprintf(err, errsz, "malformed PKCS#10 request");
		return -1;
	}
	wc_InitDecodedCert(&dc, der, (word32)len, NULL);
	ret = wc_ParseCert(&dc, CERTREQ_TYPE, VERIFY, NULL);
	wc_FreeDecodedCert(&dc);
	if (ret != 0) {
		snprintf(err, errsz, "the request's signature does not verify (wolfCrypt %d)", ret);
		return -1;
	}
	req->subject = subject.p, req->subject_len = subject.len;
	req->spki = spki.p, req->spki_len = spki.len;
	req->san = san.p, req->san_len = san.len;
	return 0;
}

int est_ca_cert_names(const uint8_t *der, size_t len, struct est_req *out)
{
	struct asn1 subject, exts, san;

	memset(out, 0, sizeof(*out));
	if (cert_parts(der, len, &subject, &exts) != 0 || find_san(exts, &san) != 0)
		return -1;
	out->subject = subject.p, out->subject_len = subject.len;
	out->san = san.p, out->san_len = san.len;
	return 0;
}

static void put_time(struct asn1_buf *b, time_t t)
{
	struct tm tm;
	char s[72];
	int year;

	gmtime_r(&t, &tm);
	year = tm.tm_year + 1900;
	/* UTCTime for 1950..2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
	snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ", year, tm.tm_mon + 1, tm.tm_mday,
		tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (year < 2050)
		asn1_put_tlv(b, 0x17, s + 2, 13);
	else
		asn1_put_tlv(b, 0x18, s, 15);
}

static void put_alg(struct asn1_buf *b, int p384)
{
	size_t at = b->len;

	asn1_put_tlv(b, 0x06, p384 ? oid_ecdsa_sha384 : oid_ecdsa_sha256,
		p384 ? sizeof(oid_ecdsa_sha384) : sizeof(oid_ecdsa_sha256));
	asn1_wrap(b, at, 0x30);
}

static void put_tbs(struct est_ca *ca, struct asn1_buf *b, const struct est_req *req, long life)
{
	static const uint8_t v3[] = {0x02, 0x01, 0x02};
	uint8_t serial[16];
	time_t now = time(NULL);
	size_t at;

	asn1_put_tlv(b, 0xa0, v3, sizeof(v3));
	wc_RNG_GenerateBlock(&ca->rng, serial, sizeof(serial));
	serial[0] = (serial[0] & 0x7f) | 0x40; /* positive, minimal */
	asn1_put_tlv(b, 0x02, serial, sizeof(serial));
	put_alg(b, ca->key.dp && ca->key.dp->size == 48);
	asn1_put(b, ca->subject.p, ca->subject.len);
	at = b->len;
	put_time(b, now - 60);
	put_time(b, now + life);
	asn1_wrap(b, at, 0x30);
	asn1_put(b, req->subject, req->subject_len);
	asn1_put(b, req->spki, req->spki_len);
	at = b->len;
	asn1_put(b, ext_fixed, sizeof(ext_fixed));
	if (req->san != NULL)
		asn1_put(b, req->san, req->san_len);
	asn1_wrap(b, at, 0x30);
	asn1_wrap(b, at, 0xa3);
	asn1_wrap(b, 0, 0x30);
}

int est_ca_issue(struct est_ca *ca, const struct est_req *req, long lifetime_s, uint8_t **out,
	size_t *outlen)
{
	struct asn1_buf b;
	uint8_t hash[WC_SHA384_DIGEST_SIZE], sig[160];
	word32 siglen = sizeof(sig) - 1;
	int p384 = ca->key.dp && ca->key.dp->size == 48;
	enum wc_HashType ht = p384 ? WC_HASH_TYPE_SHA384 : WC_HASH_TYPE_SHA256;
	word32 hlen = (word32)wc_HashGetDigestSize(ht);
	size_t at;

	asn1_buf_init(&b, CERT_MAX);
	put_tbs(ca, &b, req, lifetime_s);
	if (b.err || wc_Hash(ht, b.p, (word32)b.len, hash, hlen) != 0 ||
		wc_ecc_sign_hash(hash, hlen, sig + 1, &siglen, &ca->rng, &ca->key) != 0) {
		asn1_buf_free(&b);
		return -1;
	}
	put_alg(&b, p384);
	sig[0] = 0; /* no unused bits */
	asn1_put_tlv(&b, 0x03, sig, siglen + 1);
	at = 0;
	asn1_wrap(&b, at, 0x30);
	if (b.err) {
		asn1_buf_free(&b);
		return -1;
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}

int est_ca_other_spki(struct est_ca *ca, uint8_t *buf, size_t bufsz, size_t *len)
{
	ecc_key k;
	int n = -1;

	if (wc_ecc_init(&k) != 0)
		return -1;
	if (wc_ecc_make_key(&ca->rng, 32, &k) == 0)
		n = wc_EccPublicKeyToDer(&k, buf, (word32)bufsz, 1);
	wc_ecc_free(&k);
	if (n <= 0)
		return -1;
	*len = (size_t)n;
	return 0;
}

int est_ca_read_cert(const char *path, uint8_t **der, size_t *len)
{
	uint8_t *pem = NULL;
	size_t n = 0;
	int d;

	if (read_file(path, &pem, &n) != 0)
		return -1;
	if ((*der = malloc(n)) == NULL) {
		free(pem);
		return -1;
	}
	d = wc_CertPemToDer(pem, (int)n, *der, (int)n, CERT_TYPE);
	free(pem);
	if (d <= 0) {
		free(*der);
		fprintf(stderr, "est-server: %s: no PEM certificate\n", path);
		return -1;
	}
	*len = (size_t)d;
	return 0;
}
