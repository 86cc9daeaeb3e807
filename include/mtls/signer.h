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
 * running executable if present, else ../libexec/mtls/mtls-signer from the
 * executable's directory if present, else the configured libexec path. */
const char *signer_default_helper(void);

/* Stop the signer (process mode: close the socket, wait for the pid) and
 * free. NULL is a no-op. */
void signer_free(struct signer *s);

int signer_key_info(struct signer *s, unsigned key, struct signer_key_info *info);

/* Same contract as p11_key_sign(). In process mode the CK_RV text of a
 * failure in the signer is carried back into mtls_err_detail(). */
int signer_sign(struct signer *s, unsigned key, enum p11_sig sig, const uint8_t *in, size_t inlen,
	uint8_t *out, size_t *outlen);

/* The token behind key `key`, looked at without a signature (slot and
 * token flags, the remembered PIN error; no login, no session, never
 * C_Sign): health checks and the watchdog use this. Returns 0 with *state
 * set, the reason in mtls_err_detail() when it is not OK.
 * Process mode: an ordinary request, bounded by the request timeout; the
 * signer's reading thread answers it ahead of queued signatures. A signer
 * that misses the timeout or dies while asked gives UNREACHABLE and is
 * killed; if no signer runs, the query starts one (so a health check
 * revives a signer that crashed while idle). A remembered PIN error
 * answers PIN_ERROR without asking. */
enum signer_token_state {
	SIGNER_TOKEN_OK = 0, /* present and logged in (or no login needed) */
	SIGNER_TOKEN_ABSENT, /* slot empty or token removed */
	SIGNER_TOKEN_PIN_ERROR, /* wrong/locked PIN remembered: needs an operator */
	SIGNER_TOKEN_UNREACHABLE, /* signer not answering, or another error */
};
int signer_token_state(struct signer *s, unsigned key, enum signer_token_state *state);
/* "ok", "absent", "pin-error", "unreachable". */
const char *signer_token_state_name(enum signer_token_state state);

/* Certificates stored on the token beside key `key` (same CKA_ID), or the
 * ones a certificate URI names on that token (cert_uri: NULL for the
 * key's own). DER; *certs and *lens from malloc, free with
 * signer_certs_free(). *n may be 0. Process mode carries them over the
 * socket (bounded count and size). */
int signer_key_certs(struct signer *s, unsigned key, const char *cert_uri, uint8_t ***certs,
	size_t **lens, size_t *n);
void signer_certs_free(uint8_t **certs, size_t *lens, size_t n);

/* Process mode: the signer's pid (0 if none is running); local mode: 0. */
long signer_pid(const struct signer *s);

/* The launcher: call signer_launcher_start() while the process is still
 * single-threaded, before it takes away its own right to fork, exec or
 * signal (a sandbox). From then on a small process forked here starts and
 * reaps every process-mode signer, with the helper path and environment
 * of this moment. It exits when this process closes its end
 * (signer_launcher_stop() or exit), after stopping its signers, and
 * ignores SIGINT, SIGTERM and SIGHUP. signer_launcher_pid(): 0 if none. */
int signer_launcher_start(void);
long signer_launcher_pid(void);
void signer_launcher_stop(void);

#endif
