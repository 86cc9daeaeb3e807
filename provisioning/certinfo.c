/* Certificates for status and doctor, through wolfSSL. The key comparison
 * follows the agent's (agent/tls_der.c), which provisioning does not link:
 * DER equality first, then the EC point or RSA modulus by value. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certinfo.h"
#include "keycmd.h"
#include "mtls/err.h"

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
	struct stat st;
	ssize_t got;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return mtls_err_set(MTLS_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
		st.st_size > CERTINFO_FILE_MAX) {
		close(fd);
		return mtls_err_set(MTLS_ERR_IO, "%s is not a regular file of 1 to %d bytes", path,
			CERTINFO_FILE_MAX);
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (*buf == NULL) {
		close(fd);
		return MTLS_ERR_NOMEM;
	}
	while (*len < (size_t)st.st_size) {
		got = read(fd, *buf + *len, (size_t)st.st_size - *len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		*len += (size_t)got;
	}
	close(fd);
	if (*len != (size_t)st.st_size) {
		free(*buf);
		*buf = NULL;
		return mtls_err_set(MTLS_ERR_IO, "cannot read %s", path);
	}
	(*buf)[*len] = '\0';
	return 0;
}

int certinfo_load_file(const char *path, uint8_t **der, size_t *len)
{
	uint8_t *buf, *out;
	size_t n;
	int rc, got;

	*der = NULL;
	*len = 0;
	if ((rc = read_all(path, &buf, &n)) != 0)
		return rc;
	if (strstr((char *)buf, "-----BEGIN CERTIFICATE-----") == NULL) {
		*der = buf; /* DER, checked when parsed */
		*len = n;
		return 0;
	}
	out = malloc(n);
	if (out == NULL) {
		free(buf);
		return MTLS_ERR_NOMEM;
	}
	got = wc_CertPemToDer(buf, (int)n, out, (int)n, CERT_TYPE);
	free(buf);
	if (got <= 0) {
		free(out);
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"%s: the PEM certificate cannot be decoded (wolfSSL %d)", path, got);
	}
	*der = out;
	*len = (size_t)got;
	return 0;
}

/* One TLV at *p, not past end (definite lengths of up to 4 bytes). */
static int der_next(
	const uint8_t **p, const uint8_t *end, uint8_t *tag, const uint8_t **val, size_t *len)
{
	const uint8_t *q = *p;
	size_t n, i, nbytes;

	if (end - q < 2)
		return -1;
	*tag = *q++;
	if ((*tag & 0x1f) == 0x1f)
		return -1;
	n = *q++;
	if (n & 0x80) {
		nbytes = n & 0x7f;
		if (nbytes == 0 || nbytes > 4 || (size_t)(end - q) < nbytes)
			return -1;
		for (n = 0, i = 0; i < nbytes; i++)
			n = (n << 8) | *q++;
	}
	if ((size_t)(end - q) < n)
		return -1;
	*val = q;
	*len = n;
	*p = q + n;
	return 0;
}

/* The SubjectPublicKeyInfo TLV inside a DER certificate. */
static int cert_spki(const uint8_t *cert, size_t len, const uint8_t **spki, size_t *spki_len)
{
	const uint8_t *p = cert, *end = cert + len, *val, *start;
	size_t n;
	uint8_t tag;
	int i;

	if (der_next(&p, end, &tag, &val, &n) != 0 || tag != 0x30)
		return -1;
	p = val;
	if (der_next(&p, val + n, &tag, &val, &n) != 0 || tag != 0x30)
		return -1;
	p = val;
	end = val + n;
	start = p; /* [0] version is optional */
	if (der_next(&p, end, &tag, &val, &n) != 0)
		return -1;
	if (tag != 0xa0)
		p = start;
	for (i = 0; i < 5; i++) /* serial, signature, issuer, validity, subject */
		if (der_next(&p, end, &tag, &val, &n) != 0)
			return -1;
	start = p;
	if (der_next(&p, end, &tag, &val, &n) != 0 || tag != 0x30)
		return -1;
	*spki = start;
	*spki_len = (size_t)(p - start);
	return 0;
}

static time_t asn1_time(const WOLFSSL_ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || wolfSSL_ASN1_TIME_to_tm(t, &tm) != WOLFSSL_SUCCESS)
		return (time_t)-1;
	return timegm(&tm);
}

static int add_san(struct certinfo *ci, const char *prefix, const char *val, size_t len)
{
	char clean[300];
	size_t n = len < sizeof(clean) - 1 ? len : sizeof(clean) - 1, i;

	if (ci->nsans >= CERTINFO_SANS_MAX) {
		ci->sans_cut = 1;
		return 0;
	}
	for (i = 0; i < n; i++)
		clean[i] = ((unsigned char)val[i] < 0x20 || val[i] == 0x7f) ? '?' : val[i];
	clean[n] = '\0';
	if (asprintf(&ci->sans[ci->nsans], "%s:%s", prefix, clean) < 0)
		return MTLS_ERR_NOMEM;
	ci->nsans++;
	return 0;
}

/* The subject alternative names, from wolfSSL's decoded certificate. */
static int read_sans(const uint8_t *der, size_t len, struct certinfo *ci)
{
	struct DecodedCert d;
	const DNS_entry *e;
	int rc = 0;

	wc_InitDecodedCert(&d, der, (word32)len, NULL);
	if (wc_ParseCert(&d, CERT_TYPE, NO_VERIFY, NULL) != 0) {
		wc_FreeDecodedCert(&d);
		return mtls_err_set(MTLS_ERR_PROTOCOL, "the certificate cannot be parsed");
	}
	for (e = d.altNames; e != NULL && rc == 0; e = e->next) {
		if (e->type == ASN_DNS_TYPE)
			rc = add_san(ci, "DNS", e->name, (size_t)e->len);
		else if (e->type == ASN_URI_TYPE)
			rc = add_san(ci, "URI", e->name, (size_t)e->len);
		else if (e->type == ASN_RFC822_TYPE)
			rc = add_san(ci, "email", e->name, (size_t)e->len);
		else if (e->type == ASN_IP_TYPE && e->ipString != NULL)
			rc = add_san(ci, "IP", e->ipString, strlen(e->ipString));
	}
	wc_FreeDecodedCert(&d);
	return rc;
}

static void name_text(WOLFSSL_X509_NAME *name, char *out, size_t outlen)
{
	char buf[512];

	if (name == NULL || wolfSSL_X509_NAME_oneline(name, buf, sizeof(buf)) == NULL)
		buf[0] = '\0';
	buf[sizeof(buf) - 1] = '\0';
	keycmd_clean(out, outlen, buf);
}

static int read_fields(const uint8_t *der, size_t len, struct certinfo *ci)
{
	WOLFSSL_X509 *x = wolfSSL_X509_d2i(NULL, der, (int)len);
	unsigned char serial[64];
	int slen = sizeof(serial);

	if (x == NULL)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "not an X.509 certificate (DER or PEM)");
	name_text(wolfSSL_X509_get_subject_name(x), ci->subject, sizeof(ci->subject));
	name_text(wolfSSL_X509_get_issuer_name(x), ci->issuer, sizeof(ci->issuer));
	if (wolfSSL_X509_get_serial_number(x, serial, &slen) == WOLFSSL_SUCCESS)
		keycmd_hex(ci->serial, sizeof(ci->serial), serial, (size_t)slen);
	ci->not_before = asn1_time(wolfSSL_X509_get_notBefore(x));
	ci->not_after = asn1_time(wolfSSL_X509_get_notAfter(x));
	wolfSSL_X509_free(x);
	if (ci->not_before == (time_t)-1 || ci->not_after == (time_t)-1)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "the certificate's validity cannot be read");
	return 0;
}

int certinfo_parse(const uint8_t *der, size_t len, struct certinfo *ci)
{
	const uint8_t *spki;
	size_t spki_len;
	int rc;

	memset(ci, 0, sizeof(*ci));
	if (len == 0 || len > CERTINFO_FILE_MAX || cert_spki(der, len, &spki, &spki_len) != 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "not a DER X.509 certificate");
	rc = read_fields(der, len, ci);
	if (rc == 0)
		rc = read_sans(der, len, ci);
	if (rc == 0 && (ci->spki = malloc(spki_len)) == NULL)
		rc = MTLS_ERR_NOMEM;
	if (rc != 0) {
		certinfo_free(ci);
		return rc;
	}
	memcpy(ci->spki, spki, spki_len);
	ci->spki_len = spki_len;
	return 0;
}

void certinfo_free(struct certinfo *ci)
{
	size_t i;

	for (i = 0; i < ci->nsans; i++)
		free(ci->sans[i]);
	free(ci->spki);
	memset(ci, 0, sizeof(*ci));
}

long certinfo_days_left(const struct certinfo *ci, time_t now)
{
	double secs = difftime(ci->not_after, now);

	return secs >= 0 ? (long)(secs / 86400) : -(long)((-secs + 86399) / 86400);
}

void certinfo_time(char *out, size_t outlen, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, outlen, "?");
}

void certinfo_time_iso(char *out, size_t outlen, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "?");
}

static int rsa_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	RsaKey ka, kb;
	byte na[1024], ea[8], nb[1024], eb[8];
	word32 nal = sizeof(na), eal = sizeof(ea), nbl = sizeof(nb), ebl = sizeof(eb), idx;
	int same = 0;

	if (wc_InitRsaKey(&ka, NULL) != 0)
		return 0;
	if (wc_InitRsaKey(&kb, NULL) != 0) {
		wc_FreeRsaKey(&ka);
		return 0;
	}
	idx = 0;
	if (wc_RsaPublicKeyDecode(a, &idx, &ka, (word32)alen) != 0)
		goto out;
	idx = 0;
	if (wc_RsaPublicKeyDecode(b, &idx, &kb, (word32)blen) != 0)
		goto out;
	if (wc_RsaFlattenPublicKey(&ka, ea, &eal, na, &nal) != 0 ||
		wc_RsaFlattenPublicKey(&kb, eb, &ebl, nb, &nbl) != 0)
		goto out;
	same = nal == nbl && eal == ebl && memcmp(na, nb, nal) == 0 && memcmp(ea, eb, eal) == 0;
out:
	wc_FreeRsaKey(&ka);
	wc_FreeRsaKey(&kb);
	return same;
}

static int ecc_same(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	ecc_key ka, kb;
	byte pa[160], pb[160];
	word32 pal = sizeof(pa), pbl = sizeof(pb), idx;
	int same = 0;

	if (wc_ecc_init(&ka) != 0)
		return 0;
	if (wc_ecc_init(&kb) != 0) {
		wc_ecc_free(&ka);
		return 0;
	}
	idx = 0;
	if (wc_EccPublicKeyDecode(a, &idx, &ka, (word32)alen) != 0)
		goto out;
	idx = 0;
	if (wc_EccPublicKeyDecode(b, &idx, &kb, (word32)blen) != 0)
		goto out;
	if (wc_ecc_get_curve_id(ka.idx) != wc_ecc_get_curve_id(kb.idx))
		goto out;
	if (wc_ecc_export_x963(&ka, pa, &pal) != 0 || wc_ecc_export_x963(&kb, pb, &pbl) != 0)
		goto out;
	same = pal == pbl && memcmp(pa, pb, pal) == 0;
out:
	wc_ecc_free(&ka);
	wc_ecc_free(&kb);
	return same;
}

int certinfo_same_key(const struct certinfo *ci, const uint8_t *spki, size_t len)
{
	if (ci->spki == NULL || spki == NULL)
		return 0;
	if (ci->spki_len == len && memcmp(ci->spki, spki, len) == 0)
		return 1;
	return rsa_same(ci->spki, ci->spki_len, spki, len) ||
		ecc_same(ci->spki, ci->spki_len, spki, len);
}
