/* The agent's TLS layer (wolfSSL): one tls_side per tunnel holds the
 * WOLFSSL_CTX (our chain, trust anchors, CRL, versions, tickets) and the
 * peer rules; the private key stays on the token: every signature goes
 * through the PK callbacks to the signer (never wolfSSL's PKCS#11 layer).
 * wolfSSL types appear only in tls.c; callers see opaque handles. */
#ifndef MTLS_AGENT_TLS_H
#define MTLS_AGENT_TLS_H

#include <stddef.h>

#include "config.h"
#include "mtls/signer.h"

struct tls_side;
struct tls_conn;

/* Once per process, before any other call. */
int tls_global_init(void);
void tls_global_cleanup(void);

/* "wolfSSL 5.5.4 (system package)" or "... (fast build: ...)": the TLS
 * library this program runs on, for --version. */
const char *tls_library(void);

/* Build the TLS side of tunnel t: key index `key` of signer s (whose info
 * gives type and public key), certificate and chain, CA file, CRL, TLS
 * version range. Refuses a certificate whose public key is not the token
 * key's, and TLS 1.3 with an RSA key on a token without RSA-PSS (saying
 * so, and that tls_min = 12 would work). */
int tls_side_new(const struct cfg_tunnel *t, struct signer *s, unsigned key, struct tls_side **out);
void tls_side_free(struct tls_side *side);

/* Reload the CRL file if it changed since the last look (cheap: one
 * stat). Returns 0 (unchanged or reloaded) or an error naming the file. */
int tls_side_refresh_crl(struct tls_side *side);

/* A TLS session on connected socket fd (non-blocking); server or client by
 * the tunnel's mode. The fd stays owned by the caller. */
int tls_conn_new(struct tls_side *side, int fd, struct tls_conn **out);
void tls_conn_free(struct tls_conn *c);

/* Drive the handshake: 0 when done; MTLS_ERR_AGAIN with *want set to
 * TLS_WANT_READ or TLS_WANT_WRITE when it must be called again once the fd
 * is ready; or another error with the reason in mtls_err_detail()
 * ("certificate expired", "peer not allowed: CN=...", "no client
 * certificate", "protocol version", ...). Includes the peer authorization
 * check (struct cfg_allow) once the chain is verified: a refused peer fails
 * the handshake. Token signatures happen inside this call (PK callbacks),
 * so it may block for as long as the token takes to sign. */
#define TLS_WANT_READ 1
#define TLS_WANT_WRITE 2
int tls_conn_handshake(struct tls_conn *c, int *want);

/* Non-blocking I/O on an established session: bytes (> 0), 0 at
 * close_notify or EOF (read), MTLS_ERR_AGAIN with *want set, or another
 * error with detail. */
long tls_conn_read(struct tls_conn *c, void *buf, size_t len, int *want);
long tls_conn_write(struct tls_conn *c, const void *buf, size_t len, int *want);
/* Send close_notify (best effort, non-blocking). */
void tls_conn_close_notify(struct tls_conn *c);

/* The verified peer as one bounded, clean line for logs:
 * "CN=gw01 SAN=spiffe://example.org/gw01". */
const char *tls_conn_peer(const struct tls_conn *c);
/* 1 if this handshake resumed a session (no token signature). */
int tls_conn_resumed(const struct tls_conn *c);
/* "TLSv1.3" etc. */
const char *tls_conn_version(const struct tls_conn *c);

#endif
