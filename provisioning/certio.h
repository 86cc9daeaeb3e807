/* Certificates in and out: PEM/DER chains, the key match, atomic files and
 * the token.
 *
 * The rule of the tool (DESIGN decision 8): a certificate is accepted only
 * when its public key is the token key's. Nothing is written before that
 * check, and a failed write leaves files and token objects as they were.
 *
 * Every function returns 0 or a negative MTLS_ERR_* code with the reason
 * (what failed, what to do) in mtls_err_detail(). */
#ifndef MTLS_PROVISION_CERTIO_H
#define MTLS_PROVISION_CERTIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mtls/p11.h"

#define CERTIO_FILE_MAX (1u << 20) /* largest certificate/chain/CSR file read */
#define CERTIO_CERT_MAX (64u << 10) /* largest single certificate (DER) */
#define CERTIO_CHAIN_MAX 16 /* certificates in one chain */

/* Certificates as DER, leaf first. Owns its buffers: certio_chain_free(). */
struct certio_chain {
	uint8_t *der[CERTIO_CHAIN_MAX];
	size_t len[CERTIO_CHAIN_MAX];
	size_t n;
};

/* Read a whole file (at most CERTIO_FILE_MAX bytes). *buf malloc'd (one
 * extra NUL after the data), caller frees. MTLS_ERR_IO names the file. */
int certio_read_file(const char *path, uint8_t **buf, size_t *len);

/* Append the certificates in buf to c: one DER certificate, or PEM with one
 * or more "CERTIFICATE" blocks (other PEM blocks and text between blocks
 * are skipped; a block that does not decode, a truncated one, or no
 * certificate at all is refused). Each certificate is checked to parse as
 * X.509. `what` names the input in messages (e.g. the file name). On
 * failure c is unchanged. */
int certio_chain_add(struct certio_chain *c, const uint8_t *buf, size_t len, const char *what);

/* certio_read_file + certio_chain_add. */
int certio_chain_add_file(struct certio_chain *c, const char *path);

/* Free the buffers; c is left empty. NULL is a no-op. */
void certio_chain_free(struct certio_chain *c);

/* The chain (from index `from` on) as PEM; *pem malloc'd, NUL-terminated. */
int certio_chain_pem(const struct certio_chain *c, size_t from, char **pem, size_t *pemlen);

/* Pieces of a DER certificate, pointing into it (nothing to free). */
struct certio_fields {
	const uint8_t *subject, *issuer, *serial, *spki; /* DER TLVs */
	size_t subject_len, issuer_len, serial_len, spki_len;
};
int certio_cert_fields(const uint8_t *der, size_t len, struct certio_fields *f);

/* 0 if the certificate's public key is the key whose SPKI is key_spki
 * (compared by value: curve and point, or modulus and exponent). Else
 * MTLS_ERR_KEY with a detail naming both: the certificate's subject and
 * key (type, SHA-256 of the SPKI) and key_name with its key. */
int certio_check_key(const uint8_t *cert, size_t certlen, const uint8_t *key_spki,
	size_t key_spki_len, const char *key_name);

/* Write data to path atomically: a temporary file in the same directory
 * (mode `mode`), fsync, then an existing path is hard-linked to
 * path.prev (replacing an older .prev), rename over path, fsync the
 * directory. On failure the temporary file is removed and path is as
 * before. */
int certio_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Store the leaf certificate on the key's token as a CKO_CERTIFICATE with
 * the key's CKA_ID and CKA_LABEL, replacing the key's previous
 * certificate(s) only after the new object exists (p11_store.h). */
int certio_store_on_token(struct p11_key *key, const uint8_t *der, size_t len);

#endif
