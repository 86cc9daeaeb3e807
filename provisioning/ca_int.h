/* The local CA of mtls-provision (ca.c): its key, in a file or on a token,
 * and issuing certificates with it. For test rigs, not for production. */
#ifndef MTLS_PROVISION_CA_INT_H
#define MTLS_PROVISION_CA_INT_H

#include <stddef.h>
#include <stdint.h>

#include "csr.h"
#include "mtls/p11.h"

#define CA_CERT_FILE "ca.pem"
#define CA_KEY_FILE "ca.key" /* software key: PEM, mode 0600 */
#define CA_URI_FILE "ca.uri" /* token key: its PKCS#11 URI */

/* The CA's signing key. k signs (through the token or in software). */
struct ca_key {
	struct csr_key k;
	struct p11_key *p11; /* token key, or NULL */
	void *soft; /* software key state, or NULL */
};

/* A new EC P-256 software key, written to path (PEM, 0600; an existing
 * file is refused). */
int ca_key_generate(const char *path, struct ca_key **out);
/* Load the software key at path: refused if group or others may read or
 * write it, or if it is not ours. */
int ca_key_load(const char *path, struct ca_key **out);
/* A key on a token. */
int ca_key_open_token(const char *uri, const struct p11_options *opt, struct ca_key **out);
void ca_key_free(struct ca_key *ca);

/* What to put into a certificate. Names are DER TLVs (SEQUENCE). */
struct ca_spec {
	const uint8_t *subject, *issuer, *spki, *sans; /* sans: GeneralNames or NULL */
	size_t subject_len, issuer_len, spki_len, sans_len;
	int is_ca;
	int days;
	const char *key_usage; /* wolfCrypt's comma list */
	const char *ext_key_usage; /* or NULL */
};

/* Issue (encode with wolfCrypt, sign with ca). A random 16-byte serial.
 * *der malloc'd. */
int ca_issue(struct ca_key *ca, const struct ca_spec *spec, uint8_t **der, size_t *len);

#endif
