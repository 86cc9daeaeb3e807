/* renew's helpers (renew_util.c). Each returns 0 or a negative MTLS_ERR_*
 * code with the reason in mtls_err_detail(). */
#ifndef MTLS_PROVISION_RENEW_H
#define MTLS_PROVISION_RENEW_H

#include <stddef.h>
#include <stdint.h>

#include "csr.h"
#include "mtls/p11.h"

/* A PKCS#10 request for key k with the current certificate's subject and
 * its keyUsage, extKeyUsage and subjectAltName extensions as they are
 * (RFC 7030 4.2.2: /simplereenroll wants them unchanged), signed on the
 * token. *csr malloc'd. */
int renew_request(
	const uint8_t *cert, size_t len, const struct csr_key *k, uint8_t **csr, size_t *csrlen);

/* --rekey: a new key of the old one's type on the same token, under a new
 * random id and the label "<old label>-<UTC time>". *new_uri malloc'd. */
int renew_new_key(
	const char *key_uri, struct p11_key *old, const struct p11_options *opt, char **new_uri);

/* --reload: "systemd:UNIT" (systemctl reload UNIT, waited for) or
 * "pidfile:PATH" (SIGHUP to the pid in PATH). _check looks at the text
 * only (MTLS_ERR_CONFIG). */
int renew_reload_check(const char *spec);
int renew_reload(const char *spec);

#endif
