/* Writing certificates to a token: the bridge's only object-creating calls
 * besides key generation (p11_admin.h).
 *
 * Writes use a read-write session of their own (logged in with the token's
 * PIN source like the pool's), closed before returning. Returns 0 or a negative MTLS_ERR_* code, the failing
 * call and its CK_RV in mtls_err_detail(). */
#ifndef MTLS_P11_STORE_H
#define MTLS_P11_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "mtls/p11.h"

/* An X.509 certificate as PKCS#11 wants it: the DER and the DER TLVs of
 * its subject Name, issuer Name and serialNumber INTEGER (the caller has
 * parsed them; the bridge does not parse X.509). */
struct p11_cert {
	const uint8_t *der, *subject, *issuer, *serial;
	size_t der_len, subject_len, issuer_len, serial_len;
};

/* Store cert on the key's token as a CKO_CERTIFICATE (CKC_X_509,
 * CKA_TOKEN, not private, CKA_ID and CKA_LABEL of the key, CKA_VALUE,
 * CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER), then destroy the
 * certificates that had that CKA_ID before (at most 16). If creating
 * fails nothing changed; if a destroy fails the new certificate is
 * destroyed again and the old ones are kept (as far as the token allows:
 * the detail says if it did not). *replaced (may be NULL) is the number of
 * old certificates destroyed. */
int p11_store_cert(struct p11_key *key, const struct p11_cert *cert, unsigned *replaced);

#endif
