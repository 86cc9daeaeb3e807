/* The EST test server's CA: an EC key and its certificate from files, and
 * PKCS#10 requests turned into certificates with it. A test tool, not a
 * CA for anything else: no database, random serials, fixed profile
 * (CA:FALSE, digitalSignature + keyEncipherment, serverAuth + clientAuth,
 * the request's subjectAltName copied). */
#ifndef MTLS_TEST_EST_CA_H
#define MTLS_TEST_EST_CA_H

#include <stddef.h>
#include <stdint.h>

struct est_ca;

/* cert: PEM certificate; key: PEM EC private key (SEC1 or PKCS#8, P-256 or
 * P-384). Returns 0, or -1 with a message on stderr. */
int est_ca_load(const char *cert, const char *key, struct est_ca **out);
void est_ca_free(struct est_ca *ca);

/* The CA certificate (DER), for /cacerts. */
const uint8_t *est_ca_cert(const struct est_ca *ca, size_t *len);

/* Parts of a request (pointing into it). */
struct est_req {
	const uint8_t *subject, *spki, *san; /* DER TLVs; san: the whole Extension, or NULL */
	size_t subject_len, spki_len, san_len;
};

/* Parse and verify (self-signature) a DER PKCS#10 request. Returns 0, or
 * -1 with why in err. */
int est_ca_parse_req(const uint8_t *der, size_t len, struct est_req *req, char *err, size_t errsz);

/* The subject Name TLV and the subjectAltName Extension TLV (or NULL) of a
 * DER certificate. */
int est_ca_cert_names(const uint8_t *der, size_t len, struct est_req *out);

/* Issue a certificate for req valid from now - 60 s for lifetime_s. *out
 * malloc'd. */
int est_ca_issue(struct est_ca *ca, const struct est_req *req, long lifetime_s, uint8_t **out,
	size_t *outlen);

/* The SPKI of a fresh P-256 key (for --reply-wrong-key) into buf. */
int est_ca_other_spki(struct est_ca *ca, uint8_t *buf, size_t bufsz, size_t *len);

/* The first certificate of a PEM file as DER; *der malloc'd. */
int est_ca_read_cert(const char *path, uint8_t **der, size_t *len);

#endif
