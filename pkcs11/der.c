/* The few DER structures the bridge writes: ECDSA signatures and
 * SubjectPublicKeyInfo. Lengths are bounded well below 64 KiB. */
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "mtls/err.h"

#define DER_MAX 4096

static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};
static const uint8_t alg_ec[] = {0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01};
static const uint8_t alg_rsa[] = {
	0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};

/* Bytes a tag + length header takes for a content of len bytes. */
static size_t hdr_len(size_t len)
{
	return len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
}

static size_t put_hdr(uint8_t *p, uint8_t tag, size_t len)
{
	p[0] = tag;
	if (len < 0x80) {
		p[1] = (uint8_t)len;
		return 2;
	}
	if (len < 0x100) {
		p[1] = 0x81;
		p[2] = (uint8_t)len;
		return 3;
	}
	p[1] = 0x82;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	return 4;
}

/* Content length of a DER INTEGER for an unsigned big-endian value. */
static size_t int_len(const uint8_t *v, size_t len)
{
	while (len > 1 && v[0] == 0) {
		v++;
		len--;
	}
	return len + ((v[0] & 0x80) != 0);
}

static size_t put_int(uint8_t *p, const uint8_t *v, size_t len)
{
	size_t n, off;

	while (len > 1 && v[0] == 0) {
		v++;
		len--;
	}
	n = int_len(v, len);
	off = put_hdr(p, 0x02, n);
	if (n > len)
		p[off++] = 0;
	memcpy(p + off, v, len);
	return off + len;
}

int der_ecdsa_sig(const uint8_t *raw, size_t rawlen, uint8_t *out, size_t *outlen)
{
	size_t half = rawlen / 2, lr, ls, body, total, off;

	if (rawlen == 0 || rawlen % 2 != 0 || rawlen > 264)
		return mtls_err_set(
			MTLS_ERR_TOKEN, "token returned an ECDSA signature of %zu bytes", rawlen);
	lr = int_len(raw, half);
	ls = int_len(raw + half, half);
	body = hdr_len(lr) + lr + hdr_len(ls) + ls;
	total = hdr_len(body) + body;
	if (total > *outlen)
		return mtls_err_set(MTLS_ERR_TOO_BIG, "signature buffer of %zu bytes, need %zu",
			*outlen, total);
	off = put_hdr(out, 0x30, body);
	off += put_int(out + off, raw, half);
	off += put_int(out + off, raw + half, half);
	*outlen = off;
	return 0;
}

void der_unwrap_octets(const uint8_t *in, size_t len, const uint8_t **val, size_t *vlen)
{
	size_t n, off;

	*val = in;
	*vlen = len;
	if (len < 2 || in[0] != 0x04)
		return;
	if (in[1] < 0x80) {
		n = in[1];
		off = 2;
	} else if (in[1] == 0x81 && len >= 3) {
		n = in[2];
		off = 3;
	} else if (in[1] == 0x82 && len >= 4) {
		n = ((size_t)in[2] << 8) | in[3];
		off = 4;
	} else {
		return;
	}
	if (off + n != len)
		return;
	*val = in + off;
	*vlen = n;
}

enum p11_key_type der_curve(const uint8_t *params, size_t len)
{
	if (len == sizeof(oid_p256) && memcmp(params, oid_p256, len) == 0)
		return P11_KEY_EC_P256;
	if (len == sizeof(oid_p384) && memcmp(params, oid_p384, len) == 0)
		return P11_KEY_EC_P384;
	return P11_KEY_UNKNOWN;
}

/* SEQUENCE { alg, BIT STRING { 0 unused bits, key } } */
static int spki(const uint8_t *alg, size_t alglen, const uint8_t *algparam, size_t paramlen,
	const uint8_t *key, size_t keylen, uint8_t **out, size_t *outlen)
{
	size_t algseq = alglen + paramlen, bits = keylen + 1, body, total, off;
	uint8_t *p;

	if (keylen > DER_MAX || paramlen > 64)
		return mtls_err_set(MTLS_ERR_TOO_BIG, "public key of %zu bytes", keylen);
	body = (algparam != NULL ? hdr_len(algseq) + algseq : alglen) + hdr_len(bits) + bits;
	total = hdr_len(body) + body;
	p = malloc(total);
	if (p == NULL)
		return MTLS_ERR_NOMEM;
	off = put_hdr(p, 0x30, body);
	if (algparam != NULL) {
		off += put_hdr(p + off, 0x30, algseq);
		memcpy(p + off, alg, alglen);
		memcpy(p + off + alglen, algparam, paramlen);
		off += algseq;
	} else {
		memcpy(p + off, alg, alglen);
		off += alglen;
	}
	off += put_hdr(p + off, 0x03, bits);
	p[off++] = 0;
	memcpy(p + off, key, keylen);
	*out = p;
	*outlen = off + keylen;
	return 0;
}

int der_spki_ec(const uint8_t *params, size_t plen, const uint8_t *point, size_t ptlen,
	uint8_t **out, size_t *outlen)
{
	if (ptlen == 0 || point[0] != 0x04)
		return mtls_err_set(MTLS_ERR_KEY, "EC point is not in uncompressed form");
	return spki(alg_ec, sizeof(alg_ec), params, plen, point, ptlen, out, outlen);
}

int der_spki_rsa(
	const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen, uint8_t **out, size_t *outlen)
{
	uint8_t *seq;
	size_t ln, le, body, off;
	int rc;

	if (nlen == 0 || elen == 0 || nlen > 1024 || elen > 16)
		return mtls_err_set(MTLS_ERR_KEY, "RSA public key has bad sizes");
	ln = int_len(n, nlen);
	le = int_len(e, elen);
	body = hdr_len(ln) + ln + hdr_len(le) + le;
	seq = malloc(hdr_len(body) + body);
	if (seq == NULL)
		return MTLS_ERR_NOMEM;
	off = put_hdr(seq, 0x30, body);
	off += put_int(seq + off, n, nlen);
	off += put_int(seq + off, e, elen);
	rc = spki(alg_rsa, sizeof(alg_rsa), NULL, 0, seq, off, out, outlen);
	free(seq);
	return rc;
}
