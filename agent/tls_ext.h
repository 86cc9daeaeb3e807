/* Additions to the TLS layer's interface (tls.h), kept apart while tls.h
 * is being written against: move these into tls.h when convenient. */
#ifndef MTLS_AGENT_TLS_EXT_H
#define MTLS_AGENT_TLS_EXT_H

#include "stats.h"
#include "tls.h"

/* Call in every thread that ran handshakes, before it exits: frees the
 * thread's fixed-point ECC cache, which this wolfSSL build (FP_ECC) grows
 * to about 12 MB per thread and never frees otherwise (measured: 8
 * threads leaked 99 MB). The thread calling tls_global_cleanup() need not. */
void tls_thread_cleanup(void);

/* Server side: start a new session-ticket key now; the current one keeps
 * decrypting for one more period (keys otherwise rotate hourly on their
 * own). Tickets issued before the previous key stop resuming. */
int tls_side_rotate_tickets(struct tls_side *side);

/* notAfter of the side's own certificate as Unix time (0 if unknown),
 * for an expiry metric. A side whose certificate is expired or not yet
 * valid logs a warning when made. */
long long tls_side_cert_expiry(const struct tls_side *side);

/* Token signatures made for this connection's handshake (0 when resumed,
 * normally 1 for a full handshake). */
unsigned tls_conn_signatures(const struct tls_conn *c);

/* Why tls_conn_handshake() failed, classified where the cause was seen
 * (verification, peer rules, the signer's error code, the peer's alert):
 * STATS_R_OTHER when nothing more specific is known or it did not fail. */
enum stats_reason tls_conn_fail_reason(const struct tls_conn *c);

#endif
