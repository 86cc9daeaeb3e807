/* The message-shaped signing interface: a request names a key (by its index
 * in the configuration), a mechanism and the data to sign; the answer is a
 * signature or an error. Two implementations share it:
 *
 *  - local:   the bridge runs in this process (tools and tests);
 *  - process: a separate signer process (mtls-signer) loads the PKCS#11
 *             module and holds the PIN; requests travel over a socketpair
 *             as length-checked SOCK_SEQPACKET messages. The signer exits
 *             on any malformed message. When it dies the pending requests
 *             fail with MTLS_ERR_SIGNER and the next request starts a fresh
 *             signer, except after a PIN error, which is never retried.
 *
 * The PIN never crosses into the caller: the signer reads it itself from
 * the sources in struct p11_options. Safe to use from many threads.
 *
 * Process mode reaps its own child by pid: a program that sets SIGCHLD to
 * SIG_IGN or reaps every child with waitpid(-1) takes that away, and a
 * dead signer is then noticed only through its closed socket. */
#ifndef MTLS_SIGNER_H
#define MTLS_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "mtls/p11.h"

#define SIGNER_MAX_KEYS 64
#define SIGNER_URI_MAX 1024
#define SIGNER_SPKI_MAX 2048

struct signer;

struct signer_config {
	const char *const *key_uris; /* nkeys RFC 7512 URIs */
	size_t nkeys;
	struct p11_options p11; /* PIN sources and pool limits */
	unsigned timeout_ms; /* per request in process mode; 0: 30000 */
};

struct signer_key_info {
	enum p11_key_type type;
	unsigned bits;
	unsigned caps; /* P11_CAP_* */
	uint8_t spki[SIGNER_SPKI_MAX]; /* DER SubjectPublicKeyInfo */
	size_t spki_len;
};

/* Open every key in cfg in this process. cfg and its strings are copied. */
int signer_new_local(const struct signer_config *cfg, struct signer **out);

/* Start helper (the mtls-signer binary; NULL: signer_default_helper()) and
 * have it open every key in cfg. Fails with the signer's own error if a key
 * cannot be opened. cfg and its strings are copied. */
int signer_new_process(const struct signer_config *cfg, const char *helper, struct signer **out);

/* The helper path: $MTLS_SIGNER_HELPER if set, else mtls-signer beside the
 * running executable if present, else the installed libexec path. */
const char *signer_default_helper(void);

/* Stop the signer (process mode: close the socket, wait for the pid) and
 * free. NULL is a no-op. */
void signer_free(struct signer *s);

int signer_key_info(struct signer *s, unsigned key, struct signer_key_info *info);

/* Same contract as p11_key_sign(). In process mode the CK_RV text of a
 * failure in the signer is carried back into mtls_err_detail(). */
int signer_sign(struct signer *s, unsigned key, enum p11_sig sig, const uint8_t *in, size_t inlen,
	uint8_t *out, size_t *outlen);

/* Process mode: the signer's pid (0 if none is running); local mode: 0. */
long signer_pid(const struct signer *s);

#endif
