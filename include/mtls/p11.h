/* The PKCS#11 bridge: the only door to a token.
 *
 * A p11_token is one token in one module, found by an RFC 7512 URI, with a
 * pool of sessions sharing one login. A p11_key is one private key on it.
 * Both are safe to use from many threads at once. Nothing here exposes
 * PKCS#11 types; mechanisms are named by enum p11_sig.
 *
 * Tokens are shared: opening a second URI that resolves to the same module
 * and token returns the same login (reference counted), so many tunnels
 * cost one login; the first open's PIN source and options are the ones
 * kept. A module is loaded and initialised once per process.
 *
 * Every function returns 0 or a negative MTLS_ERR_* code; the failing
 * PKCS#11 call and its CK_RV name are in mtls_err_detail(). */
#ifndef MTLS_P11_H
#define MTLS_P11_H

#include <stddef.h>
#include <stdint.h>

struct p11_token;
struct p11_key;

enum p11_key_type {
	P11_KEY_UNKNOWN = 0,
	P11_KEY_EC_P256,
	P11_KEY_EC_P384,
	P11_KEY_RSA,
};

enum p11_sig {
	P11_SIG_ECDSA = 1, /* in: a hash; out: DER ECDSA-Sig-Value */
	P11_SIG_RSA_PKCS1, /* in: DER DigestInfo; out: modulus-sized */
	P11_SIG_RSA_PSS_SHA256, /* in: SHA-256 hash; MGF1-SHA256, salt 32 */
	P11_SIG_RSA_PSS_SHA384, /* in: SHA-384 hash; MGF1-SHA384, salt 48 */
	P11_SIG_RSA_PSS_SHA512, /* in: SHA-512 hash; MGF1-SHA512, salt 64 */
	/* in: a block encoded by the caller (EMSA-PSS or EMSA-PKCS1-v1_5),
	 * exactly as long as the modulus, top bit clear; out: the raw RSA
	 * private-key operation on it (CKM_RSA_X_509), modulus-sized. Stands in
	 * for a scheme the token lacks: refused unless the key has
	 * P11_CAP_RSA_RAW and lacks P11_CAP_RSA_PSS or P11_CAP_RSA_PKCS1. */
	P11_SIG_RSA_RAW,
	P11_SIG_LAST = P11_SIG_RSA_RAW,
};

/* What a key can do on its token: key type and the token's mechanism list
 * together. An RSA key with neither P11_CAP_RSA_PSS nor P11_CAP_RSA_RAW
 * cannot do TLS 1.3. */
#define P11_CAP_ECDSA (1u << 0)
#define P11_CAP_RSA_PKCS1 (1u << 1) /* CKM_RSA_PKCS */
#define P11_CAP_RSA_PSS (1u << 2) /* CKM_RSA_PKCS_PSS */
#define P11_CAP_RSA_RAW (1u << 3) /* CKM_RSA_X_509 */
#define P11_CAP_KNOWN (P11_CAP_ECDSA | P11_CAP_RSA_PKCS1 | P11_CAP_RSA_PSS | P11_CAP_RSA_RAW)

/* Largest signature any key here produces (RSA-8192, or DER P-384). */
#define P11_SIG_MAX 1024
/* Largest input to p11_key_sign of every kind but P11_SIG_RSA_RAW (a
 * DigestInfo of SHA-512 is 83 bytes). */
#define P11_SIG_IN_MAX 128
/* P11_SIG_RSA_RAW input: as long as the modulus of an RSA key the bridge
 * opens (2048 to 8192 bits). */
#define P11_SIG_RAW_MIN 256
#define P11_SIG_RAW_MAX P11_SIG_MAX

/* 1 if inlen is a possible input length for sig (the key may still want
 * a particular one). */
static inline int p11_sig_inlen_ok(int sig, size_t inlen)
{
	if (sig == P11_SIG_RSA_RAW)
		return inlen >= P11_SIG_RAW_MIN && inlen <= P11_SIG_RAW_MAX;
	return inlen >= 1 && inlen <= P11_SIG_IN_MAX;
}

struct p11_options {
	/* PIN sources, tried in this order; the first one set is used:
	 * pin_file, pin_credential, the URI's pin-source, the URI's pin-value
	 * (only if allow_pin_value), else a protected authentication path
	 * (PIN pad) if the token has one, else no login. */
	const char *pin_file; /* a file, refused if group/world can read */
	const char *pin_credential; /* a name under $CREDENTIALS_DIRECTORY */
	int allow_pin_value; /* accept pin-value= (config files only) */
	int allow_final_try; /* log in even if the token says final try */
	unsigned max_sessions; /* 0: token's limit, at most 8 */
	unsigned rescan_ms; /* gap between rescans while absent; 0: 200 */
	unsigned wait_ms; /* wait for a free session; 0: 30000 */
};

/* Open (or share) the token the URI names. The URI must carry module-path
 * or module-name (a p11-kit registered name; only that module is loaded),
 * may carry token/manufacturer/model/serial/slot-id attributes, and must not
 * carry unknown attributes. Exactly one initialised token must match, else
 * MTLS_ERR_NO_TOKEN or MTLS_ERR_AMBIGUOUS with the candidates in the detail.
 * Logs in once (see struct p11_options). opt may be NULL. *out is owned by
 * the caller: release with p11_token_free(). */
int p11_token_open(const char *uri, const struct p11_options *opt, struct p11_token **out);

/* Drop one reference; the last one closes sessions (and logs out by that).
 * NULL is a no-op. Keys opened on the token must be freed first. */
void p11_token_free(struct p11_token *tok);

/* Token label, serial and the mechanism list as text ("CKM_ECDSA
 * CKM_RSA_PKCS ..."), each written NUL-terminated into buf. */
int p11_token_describe(struct p11_token *tok, char *buf, size_t buflen);

/* Is the token usable, as far as can be told without a signature? Looks at
 * the remembered PIN error, then C_GetSlotInfo and C_GetTokenInfo (present,
 * the same token, the user PIN not locked while a login is still due). A
 * token marked absent is looked for again at most once per rescan_ms, and a
 * healthy answer is reused for rescan_ms, so frequent health checks cost
 * the module little. Never signs, never logs in, never opens a session.
 * Returns 0 (present; logged in, or the login is made at the next use),
 * MTLS_ERR_TOKEN_ABSENT, MTLS_ERR_PIN_INCORRECT or MTLS_ERR_PIN_LOCKED (a
 * PIN error remembered, or the token says the PIN is locked), or the code
 * of another failure of the module, with the detail set in every case but
 * the first. */
int p11_token_check(struct p11_token *tok);

/* Find exactly one private key by the URI's object/id attributes (type
 * must be absent or "private"). Opens the token too (shared). Ambiguous
 * matches fail with the candidates (label and id) listed in the detail.
 * *out is owned by the caller: p11_key_free(). */
int p11_key_open(const char *uri, const struct p11_options *opt, struct p11_key **out);

/* NULL is a no-op. Also drops the key's token reference. */
void p11_key_free(struct p11_key *key);

enum p11_key_type p11_key_type(const struct p11_key *key);
unsigned p11_key_bits(const struct p11_key *key);
unsigned p11_key_caps(const struct p11_key *key);
struct p11_token *p11_key_token(struct p11_key *key);

/* Sign in (inlen bytes, see enum p11_sig) with the key on the token. *outlen
 * holds the size of out on entry and the signature length on return.
 * Keys with CKA_ALWAYS_AUTHENTICATE get a context-specific login each time.
 * Lost sessions, logouts and stale handles are repaired once; a removed
 * token is looked for again (by URI, at most once per rescan_ms) and fails
 * fast with MTLS_ERR_TOKEN_ABSENT while it is missing. PIN errors are
 * never retried. */
int p11_key_sign(struct p11_key *key, enum p11_sig sig, const uint8_t *in, size_t inlen,
	uint8_t *out, size_t *outlen);

/* The key's public key as DER SubjectPublicKeyInfo, read from the token
 * (CKA_EC_POINT of the public key object with the same CKA_ID, or the RSA
 * modulus and exponent). *der is malloc'd; the caller frees it. */
int p11_key_public_der(struct p11_key *key, uint8_t **der, size_t *len);

/* Certificates stored on the token with the key's CKA_ID, as DER. *certs is
 * a malloc'd array of *n malloc'd buffers with lengths in *lens; free with
 * p11_certs_free(). *n may be 0. */
int p11_key_certs(struct p11_key *key, uint8_t ***certs, size_t **lens, size_t *n);
void p11_certs_free(uint8_t **certs, size_t *lens, size_t n);

/* Certificates a certificate URI names on the key's token, as
 * p11_key_certs() returns them. cert_uri NULL, or a URI with neither id=
 * nor object=, means the key's own (same CKA_ID, as p11_key_certs);
 * otherwise CKO_CERTIFICATE objects with the URI's id and/or label. The
 * URI may carry token attributes and module-path/module-name, which must
 * name the key's token and module (certificates are read with the key's
 * login, from its token only), and type= only as "cert"; pin-value is
 * refused. At most 16 are returned (more: the first 16 the token lists). */
int p11_key_certs_by_uri(
	struct p11_key *key, const char *cert_uri, uint8_t ***certs, size_t **lens, size_t *n);

/* Name of a CK_RV, e.g. "CKR_PIN_INCORRECT"; never NULL. */
const char *p11_rv_name(unsigned long rv);

#endif
