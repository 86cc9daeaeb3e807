/* The PK callbacks: every signature of a handshake is made by the token
 * through the signer. wolfSSL hands over what to sign (a hash for ECDSA
 * and RSA-PSS, a DER DigestInfo for PKCS#1); the callback context is the
 * tls_conn (set per WOLFSSL: there is no CTX-level RSA context). */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <stdint.h>
#include <time.h>

#include "mtls/err.h"
#include "stats.h"
#include "tls_int.h"

static uint64_t elapsed_us(const struct timespec *t0)
{
	struct timespec t1;
	long long us;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (long long)(t1.tv_sec - t0->tv_sec) * 1000000 + (t1.tv_nsec - t0->tv_nsec) / 1000;
	return us > 0 ? (uint64_t)us : 0;
}

/* The signature and its time go to the metrics, failed ones too: a token
 * that fails slowly is worth seeing. The failure reason comes from the
 * signer's code (token absent, PIN, other). */
static int sign_on_token(struct tls_conn *c, enum p11_sig sig, const unsigned char *in,
	unsigned inlen, unsigned char *out, word32 *outlen)
{
	struct timespec t0;
	size_t olen = *outlen;
	int rc;

	if (c == NULL)
		return BAD_FUNC_ARG;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = signer_sign(c->side->signer, c->side->key, sig, in, inlen, out, &olen);
	stats_signature(rc == 0 && olen <= *outlen, elapsed_us(&t0));
	if (rc != 0) {
		tls_conn_failf(c, rc, "token signature failed: %s", mtls_err_detail());
		return TLS_ERR_SIGNER;
	}
	if (olen > *outlen) {
		tls_conn_fail_why(c, STATS_R_TOKEN_ERROR, MTLS_ERR_INTERNAL,
			"signature of %zu bytes over the %u-byte buffer", olen, (unsigned)*outlen);
		return TLS_ERR_SIGNER;
	}
	*outlen = (word32)olen;
	c->signatures++;
	return 0;
}

static int ecc_sign_cb(WOLFSSL *ssl, const unsigned char *in, unsigned int inlen,
	unsigned char *out, word32 *outlen, const unsigned char *key, unsigned int keylen,
	void *ctx)
{
	return sign_on_token(ctx, P11_SIG_ECDSA, in, inlen, out, outlen);
}

static int rsa_sign_cb(WOLFSSL *ssl, const unsigned char *in, unsigned int inlen,
	unsigned char *out, word32 *outlen, const unsigned char *key, unsigned int keylen,
	void *ctx)
{
	struct tls_conn *c = ctx;

	if (c != NULL && !(c->side->info.caps & P11_CAP_RSA_PKCS1)) {
		tls_conn_failf(c, MTLS_ERR_MECHANISM,
			"the peer chose a PKCS#1 RSA signature, which the token does not offer "
			"(no CKM_RSA_PKCS)");
		return TLS_ERR_SIGNER;
	}
	/* in is the DER DigestInfo wolfSSL built. */
	return sign_on_token(c, P11_SIG_RSA_PKCS1, in, inlen, out, outlen);
}

/* The PSS callbacks get the hash as an OID sum (SHA256h...), not a
 * wc_HashType. */
static int pss_params(int hash, int mgf, enum p11_sig *sig, enum wc_HashType *type)
{
	switch (hash) {
	case SHA256h:
		*sig = P11_SIG_RSA_PSS_SHA256;
		*type = WC_HASH_TYPE_SHA256;
		return mgf == WC_MGF1SHA256 ? 0 : -1;
	case SHA384h:
		*sig = P11_SIG_RSA_PSS_SHA384;
		*type = WC_HASH_TYPE_SHA384;
		return mgf == WC_MGF1SHA384 ? 0 : -1;
	case SHA512h:
		*sig = P11_SIG_RSA_PSS_SHA512;
		*type = WC_HASH_TYPE_SHA512;
		return mgf == WC_MGF1SHA512 ? 0 : -1;
	default: return -1;
	}
}

static int rsa_pss_sign_cb(WOLFSSL *ssl, const unsigned char *in, unsigned int inlen,
	unsigned char *out, unsigned int *outlen, int hash, int mgf, const unsigned char *key,
	unsigned int keylen, void *ctx)
{
	struct tls_conn *c = ctx;
	enum p11_sig sig;
	enum wc_HashType type;

	if (c == NULL)
		return BAD_FUNC_ARG;
	if (pss_params(hash, mgf, &sig, &type) != 0) {
		tls_conn_failf(c, MTLS_ERR_MECHANISM, "RSA-PSS with hash %d and MGF %d unsupported",
			hash, mgf);
		return TLS_ERR_SIGNER;
	}
	if (!(c->side->info.caps & P11_CAP_RSA_PSS)) {
		/* wolfSSL 5.5.4 takes RSA-PSS whenever the peer lists it before
		 * PKCS#1 for the same hash, and cannot be told otherwise. */
		tls_conn_failf(c, MTLS_ERR_MECHANISM,
			"the handshake needs an RSA-PSS signature (the peer prefers it) and the "
			"token does not offer RSA-PSS (no CKM_RSA_PKCS_PSS); use an EC key, a "
			"token with RSA-PSS, or a peer that prefers PKCS#1");
		return TLS_ERR_SIGNER;
	}
	return sign_on_token(c, sig, in, inlen, out, outlen);
}

/* Sign checks: wolfSSL verifies every RSA signature it is about to send
 * (a faulty RSA-CRT signature leaks the key). The check callbacks must do
 * the public-key operation themselves: decode the key from the SPKI we
 * loaded and "decrypt" sig in place; they return the length of the
 * recovered block at *out, which wolfSSL then compares with what it
 * asked to sign (PKCS#1) or checks as PSS padding. */
static int rsa_check(struct tls_conn *c, unsigned char *sig, unsigned int siglen,
	unsigned char **out, int pss, int hash, int mgf, const unsigned char *der,
	unsigned int derlen)
{
	RsaKey key;
	word32 idx = 0;
	enum p11_sig unused;
	enum wc_HashType type = WC_HASH_TYPE_NONE;
	int ret;

	if (pss && pss_params(hash, mgf, &unused, &type) != 0)
		return BAD_FUNC_ARG;
	if (wc_InitRsaKey(&key, NULL) != 0)
		return MEMORY_E;
	ret = wc_RsaPublicKeyDecode(der, &idx, &key, derlen);
	if (ret == 0)
		ret = pss ? wc_RsaPSS_VerifyInline(sig, siglen, out, type, mgf, &key)
			  : wc_RsaSSL_VerifyInline(sig, siglen, out, &key);
	wc_FreeRsaKey(&key);
	if (ret <= 0 && c != NULL)
		tls_conn_failf(c, MTLS_ERR_TOKEN,
			"the token's RSA signature does not verify with the certificate's public "
			"key (wolfSSL %d): a faulty token or the wrong key",
			ret);
	return ret == 0 ? RSA_SIGN_FAULT : ret;
}

static int rsa_sign_check_cb(WOLFSSL *ssl, unsigned char *sig, unsigned int siglen,
	unsigned char **out, const unsigned char *key, unsigned int keylen, void *ctx)
{
	return rsa_check(ctx, sig, siglen, out, 0, 0, 0, key, keylen);
}

static int rsa_pss_sign_check_cb(WOLFSSL *ssl, unsigned char *sig, unsigned int siglen,
	unsigned char **out, int hash, int mgf, const unsigned char *key, unsigned int keylen,
	void *ctx)
{
	return rsa_check(ctx, sig, siglen, out, 1, hash, mgf, key, keylen);
}

void tls_set_pk_callbacks(WOLFSSL_CTX *ctx)
{
	wolfSSL_CTX_SetEccSignCb(ctx, ecc_sign_cb);
	wolfSSL_CTX_SetRsaSignCb(ctx, rsa_sign_cb);
	wolfSSL_CTX_SetRsaPssSignCb(ctx, rsa_pss_sign_cb);
	/* Without both checks wolfSSL dereferences a NULL RsaKey. */
	wolfSSL_CTX_SetRsaSignCheckCb(ctx, rsa_sign_check_cb);
	wolfSSL_CTX_SetRsaPssSignCheckCb(ctx, rsa_pss_sign_check_cb);
}
