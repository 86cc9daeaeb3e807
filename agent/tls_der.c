/* Bounded DER reading for the TLS layer: the SubjectPublicKeyInfo of a
 * certificate (to compare our certificate with the token key, and to pin
 * peers by SPKI SHA-256), and key comparison by value. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <string.h>

#include "mtls/err.h"
#include "tls_int.h"

/* One TLV at *p, not past end. On success *p moves past it; *val and *len
 * give the content, *hdr the start of the TLV. Only definite lengths of at
 * most four bytes are accepted (certificates are far smaller). */
static int der_next(
	const uint8_t **p, const uint8_t *end, uint8_t *tag, const uint8_t **val, size_t *len)
{
	const uint8_t *q = *p;
	size_t n, i, nbytes;

	if (end - q < 2)
		return -1;
	*tag = *q++;
	if ((*tag & 0x1f) == 0x1f)
		return -1; /* high tag numbers: not in the fields we read */
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

int tls_der_cert_spki(const uint8_t *cert, size_t len, const uint8_t **spki, size_t *spki_len)
{
	const uint8_t *p = cert, *end = cert + len, *val, *tbs_end, *start;
	size_t n;
	uint8_t tag;
	int i;

	/* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { ... } ... } */
	if (der_next(&p, end, &tag, &val, &n) != 0 || tag != 0x30)
		goto bad;
	p = val;
	end = val + n;
	if (der_next(&p, end, &tag, &val, &n) != 0 || tag != 0x30)
		goto bad;
	p = val;
	tbs_end = val + n;
	/* [0] version (optional), serial, signature, issuer, validity, subject. */
	start = p;
	if (der_next(&p, tbs_end, &tag, &val, &n) != 0)
		goto bad;
	if (tag != 0xa0)
		p = start;
	for (i = 0; i < 5; i++)
		if (der_next(&p, tbs_end, &tag, &val, &n) != 0)
			goto bad;
	start = p;
	if (der_next(&p, tbs_end, &tag, &val, &n) != 0 || tag != 0x30)
		goto bad;
	*spki = start;
	*spki_len = (size_t)(p - start);
	return 0;
bad:
	return mtls_err_set(MTLS_ERR_PROTOCOL, "certificate DER malformed");
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

int tls_spki_same_key(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	if (alen == blen && memcmp(a, b, alen) == 0)
		return 1;
	/* Same key, other encoding (e.g. RSA parameters NULL vs absent). */
	return rsa_same(a, alen, b, blen) || ecc_same(a, alen, b, blen);
}
