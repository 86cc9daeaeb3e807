/* EST (RFC 7030) client: /cacerts, /simpleenroll and /simplereenroll over
 * HTTPS (wolfSSL), and the strict parsers for what an EST server answers.
 *
 * Trust is never silent: the server is checked either against an explicit
 * CA file (chain and host name) or against a pinned SHA-256 fingerprint of
 * its certificate. Nothing (least of all a password) is sent before that
 * check passed. The TLS client key, when there is one, signs on the token
 * through wolfSSL's PK callbacks (est_sign.c), or is a software key from a
 * file (a factory key).
 *
 * Every answer is bounded (EST_RESPONSE_MAX bytes, the request timeout) and
 * parsed strictly: an HTML page, a truncated or oversized answer, or
 * anything but a base64 PKCS#7 certs-only SignedData is refused with a
 * detail saying what came back. A 202 is retried after its Retry-After,
 * and a CA that cannot be reached (connection refused, timeout, 503) is
 * tried again with exponential backoff and jitter, both within a total
 * time budget.
 *
 * Every function returns 0 or a negative MTLS_ERR_* code with the reason
 * in mtls_err_detail(). */
#ifndef MTLS_PROVISION_EST_H
#define MTLS_PROVISION_EST_H

#include <stddef.h>
#include <stdint.h>

#include "csr.h"
#include "mtls/secret.h"

#define EST_RESPONSE_MAX (256u * 1024) /* whole HTTP answer, headers included */
#define EST_HEADER_MAX (16u * 1024) /* status line and headers */
#define EST_CERTS_MAX 16 /* certificates in one PKCS#7 answer */
#define EST_URL_MAX 1024

/* ---- parsing (no I/O; fuzzed by tests/fuzz/fuzz_est_response.c) ---- */

/* An HTTP/1.1 answer. body is malloc'd (chunked transfer coding removed). */
struct est_http {
	int status; /* 100..599 */
	char reason[64]; /* reason phrase, cleaned */
	char content_type[128]; /* lower case, cleaned; "" if absent */
	char cte[32]; /* Content-Transfer-Encoding, lower case; "" if absent */
	long retry_after; /* seconds from Retry-After (delta or date); -1 if absent */
	char location[256]; /* Location, cleaned (for a redirect's message) */
	uint8_t *body;
	size_t body_len;
};

/* Parse buf (len bytes, what arrived so far). eof says whether the
 * connection has ended. Returns 0 with *out filled when the answer is
 * complete (Content-Length reached, last chunk read, or eof for an answer
 * framed by the close), MTLS_ERR_AGAIN when more bytes are needed (only
 * when !eof), MTLS_ERR_TOO_BIG past EST_HEADER_MAX / EST_RESPONSE_MAX, or
 * MTLS_ERR_PROTOCOL (malformed, or truncated at eof). On failure *out holds
 * nothing to free. */
int est_http_parse(const uint8_t *buf, size_t len, int eof, struct est_http *out);
void est_http_clear(struct est_http *h);

/* DER certificates from an EST answer, pointing into buf (owned). */
struct est_certs {
	uint8_t *buf;
	struct {
		const uint8_t *der;
		size_t len;
	} cert[EST_CERTS_MAX];
	size_t n;
};
void est_certs_free(struct est_certs *c); /* NULL is a no-op; c is left empty */

/* The body of a 200 answer to /cacerts or /simple[re]enroll into DER
 * certificates: Content-Type application/pkcs7-mime (smime-type certs-only
 * if given), base64 (whitespace between groups allowed; RFC 8951: whatever
 * Content-Transfer-Encoding says), a DER ContentInfo of type signedData
 * whose SignedData carries certificates and no signers. At least one
 * certificate. An HTML page, JSON, plain text and garbage each get their
 * own message. */
int est_parse_certs(const struct est_http *h, struct est_certs *out);

/* PKCS#7 certs-only DER to certificates (the last step of the above). buf
 * is copied. */
int est_pkcs7_certs(const uint8_t *der, size_t len, struct est_certs *out);

/* Base64 (RFC 4648, whitespace between characters skipped) into out
 * (outsz bytes; len / 4 * 3 is enough). */
int est_base64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t outsz, size_t *outlen);
/* Base64 without line breaks, NUL-terminated; *out malloc'd. */
int est_base64_encode(const uint8_t *in, size_t len, char **out, size_t *outlen);

/* A certs-only PKCS#7 (DER) holding the given certificates: what an EST
 * server answers (the test server and the unit tests build them). *out
 * malloc'd. */
int est_pkcs7_build(
	const uint8_t *const *der, const size_t *lens, size_t n, uint8_t **out, size_t *outlen);

/* "https://host[:port][/path]": path empty or "/" means
 * "/.well-known/est"; a path that does not start with that gets it
 * appended ("/prefix/.well-known/est"); one starting with it may carry a
 * CA label ("/.well-known/est/label"). IPv6 addresses in brackets. */
struct est_url {
	char host[256];
	char port[8];
	char path[EST_URL_MAX]; /* without a trailing '/' */
	int host_is_ip;
};
int est_url_parse(const char *url, struct est_url *out);

/* "ab:cd:..." or "abcd..." (64 hex digits) into 32 bytes. */
int est_pin_parse(const char *text, uint8_t pin[32]);

/* ---- the client ---- */

struct est_client;

struct est_client_config {
	const char *url;
	/* Trust in the server: exactly one of these two. */
	const char *cacert_file; /* PEM trust anchors; chain and host name checked */
	const char *pin_sha256; /* SHA-256 of the server's certificate (DER), hex */
	/* HTTP Basic authentication (sent only after the server was checked). */
	const char *user;
	const struct mtls_secret *password;
	/* TLS client certificate (PEM, leaf first, chain may follow) and its
	 * key: a token key (tls_key, borrowed) or a key file. */
	const char *client_cert_pem;
	size_t client_cert_len;
	const struct csr_key *tls_key;
	const char *client_key_file;
	unsigned timeout_s; /* one request: connect, TLS, answer; 0: 30 */
	unsigned retry_s; /* total time spent waiting on 202/backoff; 0: none */
};

/* Copies what cfg points to except password and tls_key (borrowed: they
 * must outlive the client). Checks the configuration (MTLS_ERR_CONFIG:
 * URL, trust, key file) without connecting. */
int est_client_new(const struct est_client_config *cfg, struct est_client **out);
void est_client_free(struct est_client *c);

/* GET /cacerts. */
int est_cacerts(struct est_client *c, struct est_certs *out);

/* POST /simpleenroll or /simplereenroll with a DER PKCS#10 request. The
 * answer's certificates are returned as they came (the issued one
 * normally alone). */
int est_simpleenroll(struct est_client *c, const uint8_t *csr, size_t len, struct est_certs *out);
int est_simplereenroll(struct est_client *c, const uint8_t *csr, size_t len, struct est_certs *out);

/* Seconds the last call spent waiting (202 and backoff), and how many
 * requests it made: for the command's report and the tests. */
void est_client_stats(const struct est_client *c, unsigned *waited_s, unsigned *requests);

/* ---- TLS signatures on the token (est_sign.c) ---- */

/* The callbacks' context, one per connection: the key, and the first
 * failure (code and detail) for the handshake's error message. */
struct est_sign_ctx {
	const struct csr_key *key;
	int rc;
	char detail[256];
};

struct WOLFSSL_CTX;
struct WOLFSSL;
/* Install the PK callbacks on ctx (before its private key is set), and
 * point the callbacks of ssl at sc. */
void est_sign_setup_ctx(struct WOLFSSL_CTX *ctx);
void est_sign_setup_ssl(struct WOLFSSL *ssl, struct est_sign_ctx *sc);

#endif
