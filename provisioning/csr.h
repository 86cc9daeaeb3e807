/* PKCS#10 certificate requests for token keys, signed on the token.
 *
 * wolfCrypt builds the CertificationRequestInfo (wc_MakeCertReq_ex, with the
 * subject as DER from names.h, SANs, key usage and extended key usage);
 * this module hashes it, has the token sign the hash through the bridge or
 * the signer (the private key never leaves the token) and assembles
 * SEQUENCE { info, AlgorithmIdentifier, BIT STRING }. The result is checked
 * with wolfCrypt against the key's public key before it is returned, so a
 * token that signed with another key is caught here.
 *
 * Algorithms: EC P-256 ecdsa-with-SHA256, EC P-384 ecdsa-with-SHA384, RSA
 * sha256WithRSAEncryption (CKM_RSA_PKCS, or CKM_RSA_X_509 with the padding
 * done here), or RSASSA-PSS SHA-256/MGF1-SHA-256/salt 32 when the token has
 * only CKM_RSA_PKCS_PSS (or when asked for).
 *
 * Every function returns 0 or a negative MTLS_ERR_* code with the reason
 * (what failed, what to do) in mtls_err_detail(). */
#ifndef MTLS_PROVISION_CSR_H
#define MTLS_PROVISION_CSR_H

#include <stddef.h>
#include <stdint.h>

#include "mtls/p11.h"
#include "mtls/signer.h"

/* A key that signs: a bridge key, a key of a signer, or anything else with
 * a sign function (the local CA's software key), with what the token says
 * about it. Borrows the key or signer: they must outlive the struct. Plain
 * data: nothing to free. */
struct csr_key {
	/* Same contract as p11_key_sign(). */
	int (*sign)(const struct csr_key *k, enum p11_sig sig, const uint8_t *in, size_t inlen,
		uint8_t *out, size_t *outlen);
	void *ctx; /* the struct p11_key, struct signer, or the caller's own */
	unsigned index; /* signer: the key's index */
	enum p11_key_type type;
	unsigned bits;
	unsigned caps; /* P11_CAP_* */
	uint8_t spki[SIGNER_SPKI_MAX]; /* DER SubjectPublicKeyInfo */
	size_t spki_len;
};

/* Fill *out for a bridge key / for key `index` of a signer (reads the
 * public key from the token). */
int csr_key_from_p11(struct p11_key *key, struct csr_key *out);
int csr_key_from_signer(struct signer *s, unsigned index, struct csr_key *out);

/* What to ask for. Strings are the command-line forms; names.h parses them. */
struct csr_request {
	const char *subject; /* "/CN=x/O=y" or "CN=x,O=y"; required */
	const char *const *sans; /* "dns:NAME", "uri:URI", "ip:ADDR", "email:ADDR" */
	size_t nsans;
	/* Comma lists; NULL: digitalSignature (EC) or digitalSignature,
	 * keyEncipherment (RSA) / serverAuth,clientAuth. "" leaves it out. */
	const char *key_usage; /* digitalSignature,keyEncipherment,... */
	const char *ext_key_usage; /* serverAuth,clientAuth,... */
	int prefer_pss; /* RSA: sign with PSS even if PKCS#1 v1.5 is there */
};

/* Check a request's subject, SANs and usages without a token, so a command
 * can tell usage errors (exit 2) from token failures. MTLS_ERR_ARG with the
 * offending item named. */
int csr_request_check(const struct csr_request *req);

/* Build the request for key k, signed on the token. *der is malloc'd, the
 * caller frees it. */
int csr_make(const struct csr_key *k, const struct csr_request *req, uint8_t **der, size_t *len);

/* DER -> PEM ("CERTIFICATE REQUEST"); *pem malloc'd and NUL-terminated,
 * *len without the NUL. */
int csr_der_to_pem(const uint8_t *der, size_t len, char **pem, size_t *pemlen);

/* ---- the signing step, shared with the local CA (ca.c) ---- */

enum csr_sigalg {
	CSR_SIG_ECDSA_SHA256 = 1,
	CSR_SIG_ECDSA_SHA384,
	CSR_SIG_RSA_SHA256, /* PKCS#1 v1.5 */
	CSR_SIG_RSA_PSS_SHA256,
};

/* The algorithm for k: by key type, and for RSA by the token's mechanisms
 * (prefer_pss picks PSS when the token has it). MTLS_ERR_MECHANISM when
 * the token can do neither. */
int csr_sigalg_for(const struct csr_key *k, int prefer_pss, enum csr_sigalg *alg);

/* wolfCrypt's sigType (CTC_SHA256wECDSA ...) for alg, for a TBSCertificate
 * that wolfCrypt encodes (PSS: 0, not supported in certificates here). */
int csr_sigalg_ctc(enum csr_sigalg alg);

/* Sign tbs (a DER SEQUENCE) with k on the token and return the signed
 * structure SEQUENCE { tbs, AlgorithmIdentifier(alg), BIT STRING sig }:
 * a CSR for a CertificationRequestInfo, a certificate for a
 * TBSCertificate. *out malloc'd; the caller frees it. */
int csr_sign_tbs(const struct csr_key *k, enum csr_sigalg alg, const uint8_t *tbs, size_t tbslen,
	uint8_t **out, size_t *outlen);

/* Verify a PKCS#10 request's self-signature with wolfCrypt (ECDSA, RSA
 * PKCS#1 v1.5, RSA-PSS). MTLS_ERR_PROTOCOL if malformed or the signature
 * does not verify. */
int csr_verify(const uint8_t *der, size_t len);

/* ---- reading requests (the local CA) ---- */

/* Pieces of a PKCS#10 request, pointing into its DER (nothing to free). */
struct csr_info {
	const uint8_t *subject, *spki; /* DER TLVs */
	const uint8_t *sans; /* GeneralNames TLV of the subjectAltName extension, or NULL */
	size_t subject_len, spki_len, sans_len;
};

/* Split a request (structure only; csr_verify checks the signature).
 * MTLS_ERR_PROTOCOL if malformed. */
int csr_parse(const uint8_t *der, size_t len, struct csr_info *out);

/* A request from a file's bytes: PEM ("BEGIN CERTIFICATE REQUEST") or
 * DER. *der malloc'd; the caller frees it. */
int csr_decode(const uint8_t *buf, size_t len, const char *what, uint8_t **der, size_t *derlen);

#endif
