/* Signing a DER structure with a key on a token, and checking signatures
 * with wolfCrypt (csr.h: the signing step). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <stdlib.h>
#include <string.h>

#include "asn1.h"
#include "csr.h"
#include "mtls/err.h"

#define SIGNED_MAX (64u << 10) /* a signed CSR or certificate */

/* AlgorithmIdentifier DER for each algorithm (RFC 5758, 4055). */
static const uint8_t alg_ecdsa_sha256[] = {
	0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t alg_ecdsa_sha384[] = {
	0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03};
static const uint8_t alg_rsa_sha256[] = {
	0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00};
/* RSASSA-PSS: SHA-256, MGF1 with SHA-256, salt 32 (trailer field default). */
static const uint8_t alg_rsa_pss_sha256[] = {0x30, 0x41, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7,
	0x0d, 0x01, 0x01, 0x0a, 0x30, 0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48,
	0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a,
	0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48,
	0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x20};

static void alg_der(enum csr_sigalg alg, const uint8_t **der, size_t *len)
{
	switch (alg) {
	case CSR_SIG_ECDSA_SHA256: *der = alg_ecdsa_sha256, *len = sizeof(alg_ecdsa_sha256); break;
	case CSR_SIG_ECDSA_SHA384: *der = alg_ecdsa_sha384, *len = sizeof(alg_ecdsa_sha384); break;
	case CSR_SIG_RSA_SHA256: *der = alg_rsa_sha256, *len = sizeof(alg_rsa_sha256); break;
	default: *der = alg_rsa_pss_sha256, *len = sizeof(alg_rsa_pss_sha256); break;
	}
}

int csr_sigalg_for(const struct csr_key *k, int prefer_pss, enum csr_sigalg *alg)
{
	if (k->type == P11_KEY_EC_P256 || k->type == P11_KEY_EC_P384) {
		if (!(k->caps & P11_CAP_ECDSA))
			return mtls_err_set(MTLS_ERR_MECHANISM,
				"the token offers no CKM_ECDSA for this EC key");
		*alg = k->type == P11_KEY_EC_P256 ? CSR_SIG_ECDSA_SHA256 : CSR_SIG_ECDSA_SHA384;
		return 0;
	}
	if (k->type != P11_KEY_RSA)
		return mtls_err_set(MTLS_ERR_KEY, "the key is neither EC P-256/P-384 nor RSA");
	if (prefer_pss && (k->caps & P11_CAP_RSA_PSS))
		*alg = CSR_SIG_RSA_PSS_SHA256;
	else if (k->caps & (P11_CAP_RSA_PKCS1 | P11_CAP_RSA_RAW))
		*alg = CSR_SIG_RSA_SHA256;
	else if (k->caps & P11_CAP_RSA_PSS)
		*alg = CSR_SIG_RSA_PSS_SHA256;
	else
		return mtls_err_set(MTLS_ERR_MECHANISM,
			"the token offers no RSA signature mechanism (CKM_RSA_PKCS, "
			"CKM_RSA_PKCS_PSS, CKM_RSA_X_509) for this key");
	return 0;
}

int csr_sigalg_ctc(enum csr_sigalg alg)
{
	switch (alg) {
	case CSR_SIG_ECDSA_SHA256: return CTC_SHA256wECDSA;
	case CSR_SIG_ECDSA_SHA384: return CTC_SHA384wECDSA;
	case CSR_SIG_RSA_SHA256: return CTC_SHA256wRSA;
	default: return 0;
	}
}

static int hash_tbs(enum csr_sigalg alg, const uint8_t *tbs, size_t len, uint8_t *h, size_t *hlen)
{
	int ret;

	if (alg == CSR_SIG_ECDSA_SHA384) {
		ret = wc_Sha384Hash(tbs, (word32)len, h);
		*hlen = WC_SHA384_DIGEST_SIZE;
	} else {
		ret = wc_Sha256Hash(tbs, (word32)len, h);
		*hlen = WC_SHA256_DIGEST_SIZE;
	}
	return ret == 0 ? 0 : mtls_err_set(MTLS_ERR_INTERNAL, "hashing failed (wolfCrypt %d)", ret);
}

/* EMSA-PKCS1-v1_5 (RFC 8017 9.2) of a DigestInfo into a modulus-sized
 * block, for a token that signs only raw (CKM_RSA_X_509). */
static int pkcs1_block(const uint8_t *di, size_t dilen, size_t modlen, uint8_t *out)
{
	if (modlen < P11_SIG_RAW_MIN || modlen > P11_SIG_RAW_MAX || dilen + 11 > modlen)
		return mtls_err_set(MTLS_ERR_KEY, "RSA modulus of %zu bytes unsupported", modlen);
	out[0] = 0x00;
	out[1] = 0x01;
	memset(out + 2, 0xff, modlen - dilen - 3);
	out[modlen - dilen - 1] = 0x00;
	memcpy(out + modlen - dilen, di, dilen);
	return 0;
}

/* The token's signature over tbs for alg. */
static int token_sign(const struct csr_key *k, enum csr_sigalg alg, const uint8_t *tbs,
	size_t tbslen, uint8_t *sig, size_t *siglen)
{
	uint8_t h[WC_SHA384_DIGEST_SIZE], di[P11_SIG_IN_MAX], block[P11_SIG_RAW_MAX];
	size_t hlen, dilen;
	int rc;

	if ((rc = hash_tbs(alg, tbs, tbslen, h, &hlen)) != 0)
		return rc;
	if (alg == CSR_SIG_ECDSA_SHA256 || alg == CSR_SIG_ECDSA_SHA384)
		return k->sign(k, P11_SIG_ECDSA, h, hlen, sig, siglen);
	if (alg == CSR_SIG_RSA_PSS_SHA256)
		return k->sign(k, P11_SIG_RSA_PSS_SHA256, h, hlen, sig, siglen);
	dilen = wc_EncodeSignature(di, h, (word32)hlen, SHA256h);
	if (k->caps & P11_CAP_RSA_PKCS1)
		return k->sign(k, P11_SIG_RSA_PKCS1, di, dilen, sig, siglen);
	if ((rc = pkcs1_block(di, dilen, (k->bits + 7) / 8, block)) != 0)
		return rc;
	return k->sign(k, P11_SIG_RSA_RAW, block, (k->bits + 7) / 8, sig, siglen);
}

static int check_ecdsa(const uint8_t *spki, size_t spkilen, const uint8_t *h, size_t hlen,
	const uint8_t *sig, size_t siglen)
{
	ecc_key key;
	word32 idx = 0;
	int ok = 0, ret;

	if (wc_ecc_init(&key) != 0)
		return -1;
	ret = wc_EccPublicKeyDecode(spki, &idx, &key, (word32)spkilen);
	if (ret == 0)
		ret = wc_ecc_verify_hash(sig, (word32)siglen, h, (word32)hlen, &ok, &key);
	wc_ecc_free(&key);
	return ret == 0 && ok == 1 ? 0 : -1;
}

static int check_rsa(enum csr_sigalg alg, const uint8_t *spki, size_t spkilen, const uint8_t *h,
	size_t hlen, const uint8_t *sig, size_t siglen)
{
	uint8_t plain[P11_SIG_MAX], di[P11_SIG_IN_MAX];
	RsaKey key;
	word32 idx = 0, dilen;
	int ret;

	if (siglen > sizeof(plain) || wc_InitRsaKey(&key, NULL) != 0)
		return -1;
	ret = wc_RsaPublicKeyDecode(spki, &idx, &key, (word32)spkilen);
	if (ret == 0 && alg == CSR_SIG_RSA_PSS_SHA256)
		ret = wc_RsaPSS_VerifyCheck((byte *)sig, (word32)siglen, plain, sizeof(plain), h,
			(word32)hlen, WC_HASH_TYPE_SHA256, WC_MGF1SHA256, &key);
	else if (ret == 0) {
		ret = wc_RsaSSL_Verify(sig, (word32)siglen, plain, sizeof(plain), &key);
		dilen = wc_EncodeSignature(di, h, (word32)hlen, SHA256h);
		ret = (ret > 0 && (word32)ret == dilen && memcmp(plain, di, dilen) == 0) ? 0 : -1;
	}
	wc_FreeRsaKey(&key);
	return ret >= 0 ? 0 : -1;
}

/* 0 if sig over tbs verifies with the public key spki. */
static int sig_check(enum csr_sigalg alg, const uint8_t *spki, size_t spkilen, const uint8_t *tbs,
	size_t tbslen, const uint8_t *sig, size_t siglen)
{
	uint8_t h[WC_SHA384_DIGEST_SIZE];
	size_t hlen;

	if (hash_tbs(alg, tbs, tbslen, h, &hlen) != 0)
		return -1;
	if (alg == CSR_SIG_ECDSA_SHA256 || alg == CSR_SIG_ECDSA_SHA384)
		return check_ecdsa(spki, spkilen, h, hlen, sig, siglen);
	return check_rsa(alg, spki, spkilen, h, hlen, sig, siglen);
}

static int assemble(enum csr_sigalg alg, const uint8_t *tbs, size_t tbslen, const uint8_t *sig,
	size_t siglen, uint8_t **out, size_t *outlen)
{
	struct asn1_buf b;
	const uint8_t *a;
	size_t alen, start;
	uint8_t zero = 0;

	alg_der(alg, &a, &alen);
	asn1_buf_init(&b, SIGNED_MAX);
	asn1_put(&b, tbs, tbslen);
	asn1_put(&b, a, alen);
	start = b.len;
	asn1_put(&b, &zero, 1); /* no unused bits */
	asn1_put(&b, sig, siglen);
	asn1_wrap(&b, start, ASN1_BIT_STRING);
	asn1_wrap(&b, 0, ASN1_SEQUENCE);
	if (b.err) {
		asn1_buf_free(&b);
		return mtls_err_set(MTLS_ERR_TOO_BIG, "the signed structure exceeds %u bytes",
			(unsigned)SIGNED_MAX);
	}
	*out = b.p;
	*outlen = b.len;
	return 0;
}

int csr_sign_tbs(const struct csr_key *k, enum csr_sigalg alg, const uint8_t *tbs, size_t tbslen,
	uint8_t **out, size_t *outlen)
{
	uint8_t sig[P11_SIG_MAX];
	size_t siglen = sizeof(sig);
	int rc;

	*out = NULL;
	*outlen = 0;
	if (tbslen == 0 || tbslen > SIGNED_MAX)
		return mtls_err_set(MTLS_ERR_ARG, "nothing (or too much) to sign");
	if ((rc = token_sign(k, alg, tbs, tbslen, sig, &siglen)) != 0)
		return rc;
	/* A token that signed with another key, or a signature that does not
	 * verify, must not leave this function as a valid-looking object. */
	if (sig_check(alg, k->spki, k->spki_len, tbs, tbslen, sig, siglen) != 0)
		return mtls_err_set(MTLS_ERR_KEY,
			"the token's signature does not verify with the key's public key: the "
			"public key object with the same CKA_ID does not belong to this private "
			"key, or the token signs wrongly");
	return assemble(alg, tbs, tbslen, sig, siglen, out, outlen);
}

int csr_verify(const uint8_t *der, size_t len)
{
	DecodedCert dc;
	int ret;

	if (len == 0 || len > SIGNED_MAX)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "the request is empty or too big");
	wc_InitDecodedCert(&dc, der, (word32)len, NULL);
	ret = wc_ParseCert(&dc, CERTREQ_TYPE, VERIFY, NULL);
	wc_FreeDecodedCert(&dc);
	if (ret != 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the certificate request is malformed or its signature does not verify "
			"(wolfCrypt %d: %s)",
			ret, wc_GetErrorString(ret));
	return 0;
}
