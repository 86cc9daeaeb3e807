/* What enroll and renew share: the EST options, the client built from
 * them, the checks on what the server issued, and writing the result.
 *
 * The rule for both commands: nothing is written (token objects, files)
 * before the answer passed every check (a certificate for the token key,
 * chaining to the EST server's CA certificates), so a bad answer leaves
 * everything as it was. */
#ifndef MTLS_PROVISION_EST_CMD_H
#define MTLS_PROVISION_EST_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "certio.h"
#include "csr.h"
#include "est.h"
#include "mtls/p11.h"
#include "mtls/secret.h"

/* getopt_long codes of the shared options (0x200..). */
enum {
	EST_OPT_KEY = 0x200,
	EST_OPT_EST,
	EST_OPT_CACERT,
	EST_OPT_PIN_SHA256,
	EST_OPT_USER,
	EST_OPT_PASSWORD_FILE,
	EST_OPT_CLIENT_CERT,
	EST_OPT_CLIENT_KEY,
	EST_OPT_OUT,
	EST_OPT_CHAIN,
	EST_OPT_TO_TOKEN,
	EST_OPT_TIMEOUT,
	EST_OPT_RETRY_FOR,
};

/* For a command's struct option table. */
#define EST_CMD_LONG_OPTIONS                                                                      \
	{"key", 1, 0, EST_OPT_KEY}, {"est", 1, 0, EST_OPT_EST}, {"cacert", 1, 0, EST_OPT_CACERT}, \
		{"pin-sha256", 1, 0, EST_OPT_PIN_SHA256}, {"user", 1, 0, EST_OPT_USER},           \
		{"password-file", 1, 0, EST_OPT_PASSWORD_FILE},                                   \
		{"client-cert", 1, 0, EST_OPT_CLIENT_CERT},                                       \
		{"client-key", 1, 0, EST_OPT_CLIENT_KEY}, {"out", 1, 0, EST_OPT_OUT},             \
		{"chain", 1, 0, EST_OPT_CHAIN}, {"to-token", 0, 0, EST_OPT_TO_TOKEN},             \
		{"timeout", 1, 0, EST_OPT_TIMEOUT},                                               \
	{                                                                                         \
		"retry-for", 1, 0, EST_OPT_RETRY_FOR                                              \
	}

/* The usage text of the shared options. */
extern const char est_cmd_usage[];

struct est_cmd {
	const char *cmd; /* "enroll" / "renew", for messages */
	const char *key, *est, *cacert, *pin_sha256, *user, *password_file;
	const char *client_cert, *client_key, *out, *chain;
	int to_token;
	unsigned long timeout_s, retry_s;
	struct p11_options opt;
};

/* Take option c (getopt_long's answer, arg its argument) into a.
 * Returns 1 if it was one of the shared options, 0 if not, 2 after a
 * message if its argument is bad. */
int est_cmd_option(struct est_cmd *a, int c, const char *arg);

/* The checks every command makes after parsing: --key, --est, one trust,
 * one authentication form where needed. Returns 0 or 2 after a message. */
int est_cmd_check(const struct est_cmd *a, int need_auth);

/* "90", "90s", "15m", "2h", "7d" into seconds (at most 10 years). */
int est_cmd_duration(const char *text, unsigned long *seconds);

/* "mtls-provision CMD: WHAT: DETAIL" on stderr (the EST messages say what
 * happened themselves; the code's phrase only when there is no detail);
 * returns the exit code (keycmd_exit). */
int est_cmd_fail(const char *cmd, const char *what, int rc);

/* An EST client and what it holds on to. */
struct est_session {
	struct est_client *client;
	struct mtls_secret *password;
	struct p11_key *client_p11; /* a separate --client-key on a token */
	struct csr_key client_key;
	char *cert_pem;
};

/* Build the client: trust, Basic auth (the password file read here), and
 * a TLS client certificate: cert (DER, e.g. the current certificate) with
 * tls_key, or else --client-cert with --client-key (a pkcs11: URI or a key
 * file; default: key). A token key's certificate must be for that key. */
int est_cmd_connect(const struct est_cmd *a, const struct csr_key *key, const uint8_t *cert,
	size_t cert_len, struct est_session *s);
void est_session_free(struct est_session *s);

/* From the answer to /simple[re]enroll: the certificate for the key whose
 * SPKI is spki (first in *out), then the answer's other certificates
 * (intermediates). Refused unless it is there and chains to cacerts. */
int est_cmd_accept(const struct est_cmd *a, const struct est_certs *issued,
	const struct est_certs *cacerts, const uint8_t *spki, size_t spki_len,
	struct certio_chain *out);

/* Write the result: the token (with --to-token, beside key), --out (leaf
 * and intermediates, PEM), --chain (the CA certificates, PEM). Reports
 * what it wrote on stdout. Returns 0 or a project error (already
 * reported). */
int est_cmd_write(const struct est_cmd *a, struct p11_key *key, const struct certio_chain *chain,
	const struct est_certs *cacerts);

#endif
