/* Process-wide counters for metrics: per tunnel (a small registry keyed by
 * tunnel name, so counters survive a rebuild of the tunnel) and for the
 * token. Every update is one relaxed C11 atomic operation: the handshake
 * workers and the event loop update them without locks, the metrics thread
 * reads them without stopping anybody. A reader may see a counter of a
 * family a moment before another one: Prometheus only needs each series
 * to be monotonic, which relaxed atomics give.
 *
 * Every function taking a struct stats_tunnel * accepts NULL (no-op), so a
 * tunnel whose name did not fit the registry just goes uncounted. */
#ifndef MTLS_AGENT_STATS_H
#define MTLS_AGENT_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define STATS_MAX_TUNNELS 256
#define STATS_NAME_MAX 64 /* tunnel names are at most 48 bytes */

/* Why a connection did not become a tunnel. Classified where the cause is
 * known (tls_verify.c, tls_sign.c, worker.c, engine.c), never from log
 * text. The names are label values: keep them stable. */
enum stats_reason {
	STATS_R_TOKEN_ABSENT = 0, /* token removed or slot empty */
	STATS_R_TOKEN_PIN, /* PIN wrong, locked, or unreadable */
	STATS_R_TOKEN_ERROR, /* another signer or token failure */
	STATS_R_HANDSHAKE_TIMEOUT,
	STATS_R_CONNECT_FAILED, /* the other leg's target did not answer */
	STATS_R_UNKNOWN_CA,
	STATS_R_CERT_EXPIRED,
	STATS_R_CERT_NOT_YET_VALID,
	STATS_R_CERT_REVOKED,
	STATS_R_NAME_MISMATCH, /* client: the server's certificate names another host */
	STATS_R_PEER_NOT_ALLOWED, /* no allow rule matched (or the peer refused us) */
	STATS_R_NO_PEER_CERT,
	STATS_R_PROTOCOL_VERSION,
	STATS_R_QUEUE_FULL, /* refused: handshake queue full */
	STATS_R_CONNECTION_LIMIT, /* refused: max-connections reached */
	STATS_R_OTHER,
	STATS_NREASONS,
};

/* "token_absent", "cert_expired", ...; "other" for anything out of range. */
const char *stats_reason_name(enum stats_reason r);

enum stats_result {
	STATS_ACCEPTED = 0, /* every accepted socket */
	STATS_ESTABLISHED, /* handshake and both legs done */
	STATS_FAILED, /* handshake or connect failed */
	STATS_REFUSED, /* turned away before a handshake (queue, limit) */
	STATS_NRESULTS,
};
const char *stats_result_name(enum stats_result r);

struct stats_tunnel {
	char name[STATS_NAME_MAX];
	atomic_int is_server; /* 0: client mode */
	atomic_uint key; /* signer key index */
	atomic_uint_fast64_t conns[STATS_NRESULTS];
	atomic_int_fast64_t active;
	atomic_uint_fast64_t full, resumed; /* completed handshakes */
	atomic_uint_fast64_t failures[STATS_NREASONS];
	atomic_uint_fast64_t to_tls, to_plain; /* bytes relayed each way */
	atomic_llong cert_not_after; /* Unix time; 0 unknown */
};

/* The tunnel's counters, made on first use (zero) and kept for the life
 * of the process; a later call with the same name updates mode and key
 * and keeps the counters. NULL when the registry is full or the name too
 * long. */
struct stats_tunnel *stats_tunnel(const char *name, int is_server, unsigned key);
/* Registered tunnels, in registration order: index < stats_ntunnels(). */
size_t stats_ntunnels(void);
const struct stats_tunnel *stats_tunnel_at(size_t i);

void stats_conn(struct stats_tunnel *t, enum stats_result r);
/* A failed (or refused) connection: its reason, and the matching result. */
void stats_fail(struct stats_tunnel *t, enum stats_result r, enum stats_reason why);
void stats_handshake(struct stats_tunnel *t, int resumed);
void stats_active(struct stats_tunnel *t, int delta);
void stats_bytes(struct stats_tunnel *t, uint64_t to_tls, uint64_t to_plain);
void stats_cert_expiry(struct stats_tunnel *t, long long not_after);

/* Token signatures: Prometheus-style latency buckets (upper bounds in
 * microseconds), counted per bucket (not cumulative); the last bucket is
 * +Inf. A histogram is a plain struct so tests can make their own. */
#define STATS_NBUCKETS 13
extern const uint64_t stats_bucket_us[STATS_NBUCKETS - 1];
struct stats_hist {
	atomic_uint_fast64_t bucket[STATS_NBUCKETS];
	atomic_uint_fast64_t sum_us;
};
void stats_hist_observe(struct stats_hist *h, uint64_t us);

struct stats_token {
	atomic_uint_fast64_t ok, failed;
	struct stats_hist latency; /* of successful and failed signatures */
};
void stats_signature(int ok, uint64_t us);
const struct stats_token *stats_token(void);

/* Handshake queue (set by the workers under the engine's lock). */
void stats_queue(size_t waiting, size_t in_progress);
size_t stats_queue_waiting(void);
size_t stats_queue_in_progress(void);

/* The event loop calls this every turn (at least once a second); health
 * reads its age: monotonic milliseconds, -1 before the first beat. */
void stats_loop_beat(void);
long long stats_loop_age_ms(void);
/* SIGTERM: the agent drains (health says 503 from then on). */
void stats_set_draining(void);
int stats_draining(void);
long long stats_now_ms(void); /* CLOCK_MONOTONIC in ms */

#endif
