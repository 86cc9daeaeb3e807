/* Certificates in: files, PEM/DER chains, fields, the key match
 * (certio.h). Writing is in certio_write.c. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asn1.h"
#include "certio.h"
#include "mtls/err.h"

int certio_read_file(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, rc = 0;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return mtls_err_set(MTLS_ERR_IO, "cannot open %s: %m", path);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return mtls_err_set(MTLS_ERR_IO, "%s is not a regular file", path);
	}
	if (st.st_size > (off_t)CERTIO_FILE_MAX) {
		close(fd);
		return mtls_err_set(
			MTLS_ERR_TOO_BIG, "%s is larger than %u bytes", path, CERTIO_FILE_MAX);
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (*buf == NULL) {
		close(fd);
		return MTLS_ERR_NOMEM;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = mtls_err_set(MTLS_ERR_IO, "cannot read %s: %s", path,
				n < 0 ? strerror(errno) : "file shrank while read");
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (rc != 0) {
		free(*buf);
		*buf = NULL;
		return rc;
	}
	(*buf)[got] = 0;
	*len = got;
	return 0;
}

/* ---- fields ---- */

int certio_cert_fields(const uint8_t *der, size_t len, struct certio_fields *f)
{
	struct asn1 c = {der, len}, cert, tbs, skip, v;

	memset(f, 0, sizeof(*f));
	if (asn1_expect(&c, ASN1_SEQUENCE, &cert, NULL) != 0 || c.len != 0 ||
		asn1_expect(&cert, ASN1_SEQUENCE, &tbs, NULL) != 0)
		return MTLS_ERR_PROTOCOL;
	if (tbs.len > 0 && tbs.p[0] == 0xa0 && asn1_next(&tbs, NULL, NULL, NULL) != 0)
		return MTLS_ERR_PROTOCOL;
	if (asn1_expect(&tbs, ASN1_INTEGER, NULL, &v) != 0)
		return MTLS_ERR_PROTOCOL;
	f->serial = v.p, f->serial_len = v.len;
	if (asn1_expect(&tbs, ASN1_SEQUENCE, NULL, &skip) != 0 || /* signature */
		asn1_expect(&tbs, ASN1_SEQUENCE, NULL, &v) != 0)
		return MTLS_ERR_PROTOCOL;
	f->issuer = v.p, f->issuer_len = v.len;
	if (asn1_expect(&tbs, ASN1_SEQUENCE, NULL, &skip) != 0 || /* validity */
		asn1_expect(&tbs, ASN1_SEQUENCE, NULL, &v) != 0)
		return MTLS_ERR_PROTOCOL;
	f->subject = v.p, f->subject_len = v.len;
	if (asn1_expect(&tbs, ASN1_SEQUENCE, NULL, &v) != 0)
		return MTLS_ERR_PROTOCOL;
	f->spki = v.p, f->spki_len = v.len;
	return 0;
}

/* ---- chains ---- */

/* One DER certificate: structure, and wolfCrypt must parse it. */
static int cert_ok(const uint8_t *der, size_t len)
{
	struct certio_fields f;
	DecodedCert dc;
	int ret;

	if (len == 0 || len > CERTIO_CERT_MAX || certio_cert_fields(der, len, &f) != 0)
		return -1;
	wc_InitDecodedCert(&dc, der, (word32)len, NULL);
	ret = wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, NULL);
	wc_FreeDecodedCert(&dc);
	return ret == 0 ? 0 : -1;
}

static int chain_push(struct certio_chain *c, const uint8_t *der, size_t len, const char *what)
{
	uint8_t *copy;

	if (c->n >= CERTIO_CHAIN_MAX)
		return mtls_err_set(
			MTLS_ERR_TOO_BIG, "%s: more than %d certificates", what, CERTIO_CHAIN_MAX);
	if (cert_ok(der, len) != 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"%s: certificate %zu is not a valid X.509 certificate", what, c->n + 1);
	copy = malloc(len);
	if (copy == NULL)
		return MTLS_ERR_NOMEM;
	memcpy(copy, der, len);
	c->der[c->n] = copy;
	c->len[c->n++] = len;
	return 0;
}

static const char *find(const uint8_t *p, const uint8_t *end, const char *s)
{
	size_t n = strlen(s);

	for (; p + n <= end; p++)
		if (memcmp(p, s, n) == 0)
			return (const char *)p;
	return NULL;
}

#define BEGIN_CERT "-----BEGIN CERTIFICATE-----"
#define END_CERT "-----END CERTIFICATE-----"

/* Every CERTIFICATE block of a PEM text. */
static int chain_add_pem(struct certio_chain *c, const uint8_t *buf, size_t len, const char *what)
{
	const uint8_t *p = buf, *end = buf + len;
	const char *b, *e;
	uint8_t *der = malloc(CERTIO_CERT_MAX);
	size_t found = 0;
	int ret, rc = 0;

	if (der == NULL)
		return MTLS_ERR_NOMEM;
	while (rc == 0 && (b = find(p, end, BEGIN_CERT)) != NULL) {
		e = find((const uint8_t *)b, end, END_CERT);
		if (e == NULL) {
			rc = mtls_err_set(MTLS_ERR_PROTOCOL,
				"%s: a certificate has no END line (truncated file?)", what);
			break;
		}
		e += strlen(END_CERT);
		ret = wc_CertPemToDer(
			(const byte *)b, (int)(e - b), der, CERTIO_CERT_MAX, CERT_TYPE);
		if (ret <= 0)
			rc = mtls_err_set(MTLS_ERR_PROTOCOL,
				"%s: certificate %zu does not decode (bad base64 or truncated)",
				what, found + 1);
		else
			rc = chain_push(c, der, (size_t)ret, what);
		found++;
		p = (const uint8_t *)e;
	}
	free(der);
	if (rc == 0 && found == 0)
		rc = mtls_err_set(
			MTLS_ERR_PROTOCOL, "%s: no \"BEGIN CERTIFICATE\" block found", what);
	return rc;
}

int certio_chain_add(struct certio_chain *c, const uint8_t *buf, size_t len, const char *what)
{
	size_t before = c->n;
	int rc;

	if (len == 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "%s is empty", what);
	if (find(buf, buf + len, "-----BEGIN ") != NULL)
		rc = chain_add_pem(c, buf, len, what);
	else if (buf[0] == ASN1_SEQUENCE)
		rc = chain_push(c, buf, len, what);
	else
		rc = mtls_err_set(
			MTLS_ERR_PROTOCOL, "%s is neither PEM nor a DER certificate", what);
	while (rc != 0 && c->n > before) { /* all or nothing */
		c->n--;
		free(c->der[c->n]);
		c->der[c->n] = NULL;
	}
	return rc;
}

int certio_chain_add_file(struct certio_chain *c, const char *path)
{
	uint8_t *buf;
	size_t len;
	int rc;

	if ((rc = certio_read_file(path, &buf, &len)) != 0)
		return rc;
	rc = certio_chain_add(c, buf, len, path);
	free(buf);
	return rc;
}

void certio_chain_free(struct certio_chain *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		free(c->der[i]);
	memset(c, 0, sizeof(*c));
}

int certio_chain_pem(const struct certio_chain *c, size_t from, char **pem, size_t *pemlen)
{
	size_t cap = 1, used = 0, i;
	int ret;

	*pem = NULL;
	*pemlen = 0;
	for (i = from; i < c->n; i++)
		cap += (c->len[i] + 2) / 3 * 4 + c->len[i] / 48 + 128;
	*pem = malloc(cap);
	if (*pem == NULL)
		return MTLS_ERR_NOMEM;
	for (i = from; i < c->n; i++) {
		ret = wc_DerToPem(c->der[i], (word32)c->len[i], (byte *)*pem + used,
			(word32)(cap - 1 - used), CERT_TYPE);
		if (ret <= 0) {
			free(*pem);
			*pem = NULL;
			return mtls_err_set(MTLS_ERR_INTERNAL, "wc_DerToPem: %d", ret);
		}
		used += (size_t)ret;
	}
	(*pem)[used] = '\0';
	*pemlen = used;
	return 0;
}

/* ---- the key match ---- */

/* The public key in comparable form: curve id and X9.63 point, or e||n. */
static int key_canon(
	const uint8_t *spki, size_t len, char *type, size_t typelen, uint8_t *out, size_t *outlen)
{
	word32 idx = 0, n1 = 0, n2 = 0, olen = (word32)*outlen;
	ecc_key ecc;
	RsaKey rsa;
	int ret;

	if (wc_ecc_init(&ecc) == 0 && wc_EccPublicKeyDecode(spki, &idx, &ecc, (word32)len) == 0) {
		int curve = wc_ecc_get_curve_id(ecc.idx);
		out[0] = (uint8_t)curve;
		olen--;
		ret = wc_ecc_export_x963(&ecc, out + 1, &olen);
		snprintf(type, typelen, "EC %s", wc_ecc_get_name(curve));
		wc_ecc_free(&ecc);
		*outlen = olen + 1;
		return ret == 0 ? 0 : -1;
	}
	wc_ecc_free(&ecc);
	idx = 0;
	if (wc_InitRsaKey(&rsa, NULL) != 0)
		return -1;
	ret = wc_RsaPublicKeyDecode(spki, &idx, &rsa, (word32)len);
	if (ret == 0) {
		snprintf(type, typelen, "RSA-%d", wc_RsaEncryptSize(&rsa) * 8);
		n1 = olen / 2;
		n2 = olen / 2;
		ret = wc_RsaFlattenPublicKey(&rsa, out, &n1, out + olen / 2, &n2);
		if (ret == 0) { /* e then n, packed */
			memmove(out + n1, out + olen / 2, n2);
			*outlen = n1 + n2;
		}
	}
	wc_FreeRsaKey(&rsa);
	return ret == 0 ? 0 : -1;
}

/* "EC SECP256R1, SHA-256 of the public key 3f2a..." (first 8 bytes). */
static void key_text(const uint8_t *spki, size_t len, char *out, size_t outlen)
{
	uint8_t canon[1200], h[WC_SHA256_DIGEST_SIZE];
	size_t clen = sizeof(canon);
	char type[32];

	if (key_canon(spki, len, type, sizeof(type), canon, &clen) != 0) {
		snprintf(out, outlen, "an unreadable public key");
		return;
	}
	wc_Sha256Hash(spki, (word32)len, h);
	snprintf(out, outlen, "%s, SPKI SHA-256 %02x%02x%02x%02x%02x%02x%02x%02x...", type, h[0],
		h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
}

static int same_key(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	uint8_t ca[1200], cb[1200];
	size_t calen = sizeof(ca), cblen = sizeof(cb);
	char t[32];

	if (alen == blen && memcmp(a, b, alen) == 0)
		return 1;
	if (key_canon(a, alen, t, sizeof(t), ca, &calen) != 0 ||
		key_canon(b, blen, t, sizeof(t), cb, &cblen) != 0)
		return 0;
	return calen == cblen && memcmp(ca, cb, calen) == 0;
}

/* The certificate's subject as text, bounded, control bytes replaced. */
static void subject_text(const uint8_t *cert, size_t len, char *out, size_t outlen)
{
	DecodedCert dc;
	size_t i;

	snprintf(out, outlen, "(unreadable subject)");
	wc_InitDecodedCert(&dc, cert, (word32)len, NULL);
	if (wc_ParseCert(&dc, CERT_TYPE, NO_VERIFY, NULL) == 0)
		snprintf(out, outlen, "%.*s", (int)(outlen - 1), dc.subject);
	wc_FreeDecodedCert(&dc);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] == 0x7f)
			out[i] = '?';
}

int certio_check_key(const uint8_t *cert, size_t certlen, const uint8_t *key_spki,
	size_t key_spki_len, const char *key_name)
{
	struct certio_fields f;
	char subj[160], ck[96], kk[96];

	if (certio_cert_fields(cert, certlen, &f) != 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "the certificate is malformed");
	if (same_key(f.spki, f.spki_len, key_spki, key_spki_len))
		return 0;
	subject_text(cert, certlen, subj, sizeof(subj));
	key_text(f.spki, f.spki_len, ck, sizeof(ck));
	key_text(key_spki, key_spki_len, kk, sizeof(kk));
	return mtls_err_set(MTLS_ERR_KEY,
		"the certificate \"%s\" is for another key (%s) than the token key %s (%s); "
		"nothing was written. Use the certificate issued for this key's CSR",
		subj, ck, key_name ? key_name : "", kk);
}
