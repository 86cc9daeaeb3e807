/* TLS signatures of the EST client on the token: wolfSSL's PK callbacks
 * hand over what to sign (a hash for ECDSA and RSA-PSS, a DER DigestInfo
 * for PKCS#1) and the bridge or the signer signs it with the token key.
 * The same shape as the agent's (agent/tls_sign.c), kept small: the EST
 * client makes one handshake per request, so no statistics, and an RSA
 * scheme the token lacks is an error that says so rather than padded here.
 *
 * wolfSSL also calls a "sign check" after every RSA signature (a faulty
 * RSA-CRT signature would leak the key): it must do the public-key
 * operation itself, from the SPKI we loaded in place of a private key. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <stdio.h>
#include <string.h>

#include "est.h"
#include "mtls/err.h"

static int fail(struct est_sign_ctx *sc, int rc, const char *detail)
{
	if (sc->rc == 0) {
		sc->rc = rc;
		snprintf(sc->detail, sizeof(sc->detail), "%s", detail);
	}
	return WC_HW_E;
}

static int token_sign(struct est_sign_ctx *sc, enum p11_sig sig, const unsigned char *in,
	unsigned inlen, unsigned char *out, word32 *outlen)
{
	const struct csr_key *k = sc ? sc->key : NULL;
	size_t olen = *outlen;
	int rc;

	if (k == NULL)
		return BAD_FUNC_ARG;
	rc = k->sign(k, sig, in, inlen, out, &olen);
	if (rc != 0)
		return fail(sc, rc, mtls_err_detail());
	if (olen > *outlen)
		return fail(sc, MTLS_ERR_INTERNAL, "signature larger than wolfSSL's buffer");
	*outlen = (word32)olen;
	return 0;
}

static int ecc_sign_cb(WOLFSSL *ssl, const unsigned char *in, unsigned int inlen,
	unsigned char *out, word32 *outlen, const unsigned char *key, unsigned int keylen,
	void *ctx)
{
	return token_sign(ctx, P11_SIG_ECDSA, in, inlen, out, outlen);
}

static int rsa_sign_cb(WOLFSSL *ssl, const unsigned char *in, unsigned int inlen,
	unsigned char *out, word32 *outlen, const unsigned char *key, unsigned int keylen,
	void *ctx)
{
	struct est_sign_ctx *sc = ctx;

	if (sc == NULL || sc->key == NULL)
		return BAD_FUNC_ARG;
	if (!(sc->key->caps & P11_CAP_RSA_PKCS1))
		return fail(sc, MTLS_ERR_MECHANISM,
			"the EST server chose a PKCS#1 RSA signature and the token has no "
			"CKM_RSA_PKCS");
	return token_sign(sc, P11_SIG_RSA_PKCS1, in, inlen, out, outlen);
}

static int pss_sig(int hash, int mgf, enum p11_sig *sig, enum wc_HashType *type)
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
	struct est_sign_ctx *sc = ctx;
	enum p11_sig sig;
	enum wc_HashType type;

	if (sc == NULL || sc->key == NULL)
		return BAD_FUNC_ARG;
	if (pss_sig(hash, mgf, &sig, &type) != 0)
		return fail(sc, MTLS_ERR_MECHANISM, "RSA-PSS with an unsupported hash");
	if (!(sc->key->caps & P11_CAP_RSA_PSS))
		return fail(sc, MTLS_ERR_MECHANISM,
			"the handshake needs an RSA-PSS signature and the token has no "
			"CKM_RSA_PKCS_PSS: use an EC key, or an EST server that accepts TLS 1.2 "
			"with PKCS#1");
	return token_sign(sc, sig, in, inlen, out, outlen);
}

static int rsa_check(struct est_sign_ctx *sc, unsigned char *sig, unsigned int siglen,
	unsigned char **out, int pss, int hash, int mgf, const unsigned char *der,
	unsigned int derlen)
{
	RsaKey key;
	word32 idx = 0;
	enum p11_sig unused;
	enum wc_HashType type = WC_HASH_TYPE_NONE;
	int ret;

	if (pss && pss_sig(hash, mgf, &unused, &type) != 0)
		return BAD_FUNC_ARG;
	if (wc_InitRsaKey(&key, NULL) != 0)
		return MEMORY_E;
	ret = wc_RsaPublicKeyDecode(der, &idx, &key, derlen);
	if (ret == 0)
		ret = pss ? wc_RsaPSS_VerifyInline(sig, siglen, out, type, mgf, &key)
			  : wc_RsaSSL_VerifyInline(sig, siglen, out, &key);
	wc_FreeRsaKey(&key);
	if (ret <= 0 && sc != NULL)
		fail(sc, MTLS_ERR_TOKEN,
			"the token's RSA signature does not verify with the certificate's public "
			"key: a faulty token or the wrong key");
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

void est_sign_setup_ctx(WOLFSSL_CTX *ctx)
{
	wolfSSL_CTX_SetEccSignCb(ctx, ecc_sign_cb);
	wolfSSL_CTX_SetRsaSignCb(ctx, rsa_sign_cb);
	wolfSSL_CTX_SetRsaPssSignCb(ctx, rsa_pss_sign_cb);
	/* Without both checks wolfSSL dereferences a NULL RsaKey. */
	wolfSSL_CTX_SetRsaSignCheckCb(ctx, rsa_sign_check_cb);
	wolfSSL_CTX_SetRsaPssSignCheckCb(ctx, rsa_pss_sign_check_cb);
}

void est_sign_setup_ssl(WOLFSSL *ssl, struct est_sign_ctx *sc)
{
	wolfSSL_SetEccSignCtx(ssl, sc);
	wolfSSL_SetRsaSignCtx(ssl, sc);
	wolfSSL_SetRsaPssSignCtx(ssl, sc);
}
