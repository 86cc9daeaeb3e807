/* The PK callbacks: every signature of a handshake is made by the token
 * through the signer. wolfSSL hands over what to sign (a hash for ECDSA
 * and RSA-PSS, a DER DigestInfo for PKCS#1); the callback context is the
 * tls_conn (set per WOLFSSL: there is no CTX-level RSA context).
 *
 * An RSA scheme the token lacks (often RSA-PSS: older smartcards, some
 * HSMs) is padded here and signed with raw RSA (CKM_RSA_X_509) on the
 * token, when it has that. wolfSSL 5.5.4 cannot be kept from choosing
 * RSA-PSS in TLS 1.2: PickHashSigAlgo follows the peer's list alone (our
 * sigalgs list only changes what we advertise), so padding ourselves is
 * the only way to serve peers that prefer RSA-PSS. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <stdint.h>
#include <string.h>
#include <sys/random.h>
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

/* ---- schemes padded here for raw RSA on the token ---- */

#define PSS_HASH_MAX 64 /* SHA-512 */

/* XOR MGF1(seed) (RFC 8017 B.2.1) into db. */
static int mgf1_xor(
	enum wc_HashType type, const uint8_t *seed, size_t hlen, uint8_t *db, size_t dblen)
{
	uint8_t in[PSS_HASH_MAX + 4], mask[PSS_HASH_MAX];
	uint32_t counter = 0;
	size_t off, i, n;

	memcpy(in, seed, hlen);
	for (off = 0; off < dblen; off += n, counter++) {
		in[hlen] = (uint8_t)(counter >> 24);
		in[hlen + 1] = (uint8_t)(counter >> 16);
		in[hlen + 2] = (uint8_t)(counter >> 8);
		in[hlen + 3] = (uint8_t)counter;
		if (wc_Hash(type, in, (word32)(hlen + 4), mask, (word32)hlen) != 0)
			return BAD_FUNC_ARG;
		n = dblen - off < hlen ? dblen - off : hlen;
		for (i = 0; i < n; i++)
			db[off + i] ^= mask[i];
	}
	return 0;
}

/* EMSA-PSS-ENCODE (RFC 8017 9.1.1) of mhash for a modulus of bits bits,
 * as the k-byte block raw RSA takes. Salt and MGF1 hash as TLS wants them
 * (RFC 8446 4.2.3): the salt as long as the hash, MGF1 with that hash. */
static int pss_encode(enum wc_HashType type, const uint8_t *mhash, size_t hlen, unsigned bits,
	uint8_t *block, size_t k)
{
	size_t embits = bits - 1, emlen = (embits + 7) / 8, dblen, pslen;
	uint8_t m[8 + 2 * PSS_HASH_MAX], *em;

	if (hlen > PSS_HASH_MAX || (size_t)wc_HashGetDigestSize(type) != hlen || bits < 16 ||
		emlen > k || emlen < 2 * hlen + 2)
		return BAD_FUNC_ARG;
	memset(block, 0, k);
	em = block + (k - emlen);
	dblen = emlen - hlen - 1;
	pslen = dblen - hlen - 1;
	/* M' = 8 zero bytes || mHash || salt; H = Hash(M') follows DB. */
	memset(m, 0, 8);
	memcpy(m + 8, mhash, hlen);
	if (getrandom(m + 8 + hlen, hlen, 0) != (ssize_t)hlen)
		return RNG_FAILURE_E;
	if (wc_Hash(type, m, (word32)(8 + 2 * hlen), em + dblen, (word32)hlen) != 0)
		return BAD_FUNC_ARG;
	/* DB = PS (zeros) || 0x01 || salt, masked with MGF1(H). */
	em[pslen] = 0x01;
	memcpy(em + pslen + 1, m + 8 + hlen, hlen);
	if (mgf1_xor(type, em + dblen, hlen, em, dblen) != 0)
		return BAD_FUNC_ARG;
	em[0] &= (uint8_t)(0xff >> (8 * emlen - embits));
	em[emlen - 1] = 0xbc;
	return 0;
}

/* EMSA-PKCS1-v1_5 (RFC 8017 9.2) of the DigestInfo t: 00 01 FF.. 00 t. */
static int pkcs1_encode(const uint8_t *t, size_t tlen, uint8_t *block, size_t k)
{
	if (tlen + 11 > k)
		return BAD_FUNC_ARG;
	block[0] = 0x00;
	block[1] = 0x01;
	memset(block + 2, 0xff, k - tlen - 3);
	block[k - tlen - 1] = 0x00;
	memcpy(block + k - tlen, t, tlen);
	return 0;
}

/* Pad (PSS when type is a hash, else PKCS#1) and sign with raw RSA. */
static int sign_padded(struct tls_conn *c, enum wc_HashType type, const unsigned char *in,
	unsigned inlen, unsigned char *out, word32 *outlen)
{
	uint8_t block[P11_SIG_RAW_MAX];
	unsigned bits = c->side->rsa_bits;
	size_t k = (bits + 7) / 8;
	int ret;

	if (k < P11_SIG_RAW_MIN || k > sizeof(block)) {
		tls_conn_failf(c, MTLS_ERR_KEY, "RSA modulus of %u bits out of range", bits);
		return TLS_ERR_SIGNER;
	}
	ret = type == WC_HASH_TYPE_NONE ? pkcs1_encode(in, inlen, block, k)
					: pss_encode(type, in, inlen, bits, block, k);
	if (ret != 0) {
		tls_conn_failf(c, MTLS_ERR_INTERNAL,
			"cannot pad %u bytes for raw RSA with a %u-bit modulus (wolfSSL %d)", inlen,
			bits, ret);
		return TLS_ERR_SIGNER;
	}
	return sign_on_token(c, P11_SIG_RSA_RAW, block, (unsigned)k, out, outlen);
}

/* ---- the callbacks ---- */

static int rsa_sign_cb(WOLFSSL *ssl, const unsigned char *in, unsigned int inlen,
	unsigned char *out, word32 *outlen, const unsigned char *key, unsigned int keylen,
	void *ctx)
{
	struct tls_conn *c = ctx;

	if (c == NULL)
		return BAD_FUNC_ARG;
	/* in is the DER DigestInfo wolfSSL built. */
	if (c->side->info.caps & P11_CAP_RSA_PKCS1)
		return sign_on_token(c, P11_SIG_RSA_PKCS1, in, inlen, out, outlen);
	if (c->side->info.caps & P11_CAP_RSA_RAW)
		return sign_padded(c, WC_HASH_TYPE_NONE, in, inlen, out, outlen);
	tls_conn_failf(c, MTLS_ERR_MECHANISM,
		"the peer chose a PKCS#1 RSA signature, which the token does not offer "
		"(no CKM_RSA_PKCS, and no raw RSA, CKM_RSA_X_509, to pad it for)");
	return TLS_ERR_SIGNER;
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
	if (c->side->info.caps & P11_CAP_RSA_PSS)
		return sign_on_token(c, sig, in, inlen, out, outlen);
	if (c->side->info.caps & P11_CAP_RSA_RAW)
		return sign_padded(c, type, in, inlen, out, outlen);
	/* wolfSSL 5.5.4 takes RSA-PSS whenever the peer lists it before
	 * PKCS#1 for the same hash, and cannot be told otherwise. */
	tls_conn_failf(c, MTLS_ERR_MECHANISM,
		"the handshake needs an RSA-PSS signature (the peer prefers it) and the "
		"token does not offer RSA-PSS (no CKM_RSA_PKCS_PSS, and no raw RSA, "
		"CKM_RSA_X_509, to pad it for); use an EC key, a token with RSA-PSS, or a peer "
		"that prefers PKCS#1");
	return TLS_ERR_SIGNER;
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

int tls_rsa_modulus_bits(const uint8_t *spki, size_t len, unsigned *bits)
{
	RsaKey key;
	byte n[P11_SIG_RAW_MAX + 1], e[16];
	word32 idx = 0, nlen = sizeof(n), elen = sizeof(e), i = 0;
	unsigned top;
	int ret;

	*bits = 0;
	if (wc_InitRsaKey(&key, NULL) != 0)
		return MTLS_ERR_NOMEM;
	ret = wc_RsaPublicKeyDecode(spki, &idx, &key, (word32)len);
	if (ret == 0)
		ret = wc_RsaFlattenPublicKey(&key, e, &elen, n, &nlen);
	wc_FreeRsaKey(&key);
	if (ret != 0)
		return mtls_err_set(MTLS_ERR_KEY, "the token's RSA public key (wolfSSL %d)", ret);
	while (i < nlen && n[i] == 0)
		i++;
	if (i == nlen)
		return mtls_err_set(MTLS_ERR_KEY, "the token's RSA modulus is zero");
	*bits = (nlen - i) * 8;
	for (top = 0x80; !(n[i] & top); top >>= 1)
		(*bits)--;
	return 0;
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
