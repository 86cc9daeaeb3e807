/* Process-wide counters (see stats.h). The tunnel registry is a fixed
 * array: entries are filled under a mutex and published by a release store
 * of the count, so readers walk [0, count) without the mutex. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "stats.h"

static struct stats_tunnel tunnels[STATS_MAX_TUNNELS];
static atomic_size_t ntunnels;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;

static struct stats_token token;
static atomic_size_t queue_waiting, queue_in_progress;
static atomic_llong loop_beat_ms;
static atomic_int draining;

/* 1 ms to 5 s: a software token signs in well under a millisecond, a
 * smartcard in 70 ms to 1 s, a busy TPM in seconds. */
const uint64_t stats_bucket_us[STATS_NBUCKETS - 1] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000};

static const char *const reason_names[STATS_NREASONS] = {
	[STATS_R_TOKEN_ABSENT] = "token_absent",
	[STATS_R_TOKEN_PIN] = "token_pin",
	[STATS_R_TOKEN_ERROR] = "token_error",
	[STATS_R_HANDSHAKE_TIMEOUT] = "handshake_timeout",
	[STATS_R_CONNECT_FAILED] = "connect_failed",
	[STATS_R_UNKNOWN_CA] = "unknown_ca",
	[STATS_R_CERT_EXPIRED] = "cert_expired",
	[STATS_R_CERT_NOT_YET_VALID] = "cert_not_yet_valid",
	[STATS_R_CERT_REVOKED] = "cert_revoked",
	[STATS_R_NAME_MISMATCH] = "name_mismatch",
	[STATS_R_PEER_NOT_ALLOWED] = "peer_not_allowed",
	[STATS_R_NO_PEER_CERT] = "no_peer_cert",
	[STATS_R_PROTOCOL_VERSION] = "protocol_version",
	[STATS_R_QUEUE_FULL] = "queue_full",
	[STATS_R_CONNECTION_LIMIT] = "connection_limit",
	[STATS_R_OTHER] = "other",
};

static const char *const result_names[STATS_NRESULTS] = {
	[STATS_ACCEPTED] = "accepted",
	[STATS_ESTABLISHED] = "established",
	[STATS_FAILED] = "failed",
	[STATS_REFUSED] = "refused",
};

const char *stats_reason_name(enum stats_reason r)
{
	return (unsigned)r < STATS_NREASONS ? reason_names[r] : "other";
}

const char *stats_result_name(enum stats_result r)
{
	return (unsigned)r < STATS_NRESULTS ? result_names[r] : "?";
}

struct stats_tunnel *stats_tunnel(const char *name, int is_server, unsigned key)
{
	struct stats_tunnel *t = NULL;
	size_t i, n, len = name != NULL ? strlen(name) : STATS_NAME_MAX;

	if (len == 0 || len >= STATS_NAME_MAX)
		return NULL;
	pthread_mutex_lock(&reg_lock);
	n = atomic_load_explicit(&ntunnels, memory_order_relaxed);
	for (i = 0; i < n && t == NULL; i++)
		if (strcmp(tunnels[i].name, name) == 0)
			t = &tunnels[i];
	if (t == NULL && n < STATS_MAX_TUNNELS) {
		t = &tunnels[n];
		memcpy(t->name, name, len + 1);
		atomic_store_explicit(&ntunnels, n + 1, memory_order_release);
	}
	if (t != NULL) {
		atomic_store_explicit(&t->is_server, is_server != 0, memory_order_relaxed);
		atomic_store_explicit(&t->key, key, memory_order_relaxed);
	}
	pthread_mutex_unlock(&reg_lock);
	return t;
}

size_t stats_ntunnels(void)
{
	return atomic_load_explicit(&ntunnels, memory_order_acquire);
}

const struct stats_tunnel *stats_tunnel_at(size_t i)
{
	return i < stats_ntunnels() ? &tunnels[i] : NULL;
}

static void add(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void stats_conn(struct stats_tunnel *t, enum stats_result r)
{
	if (t != NULL && (unsigned)r < STATS_NRESULTS)
		add(&t->conns[r], 1);
}

void stats_fail(struct stats_tunnel *t, enum stats_result r, enum stats_reason why)
{
	if (t == NULL)
		return;
	stats_conn(t, r);
	add(&t->failures[(unsigned)why < STATS_NREASONS ? why : STATS_R_OTHER], 1);
}

void stats_handshake(struct stats_tunnel *t, int resumed)
{
	if (t != NULL)
		add(resumed ? &t->resumed : &t->full, 1);
}

void stats_active(struct stats_tunnel *t, int delta)
{
	if (t != NULL)
		atomic_fetch_add_explicit(&t->active, delta, memory_order_relaxed);
}

void stats_bytes(struct stats_tunnel *t, uint64_t to_tls, uint64_t to_plain)
{
	if (t == NULL)
		return;
	if (to_tls != 0)
		add(&t->to_tls, to_tls);
	if (to_plain != 0)
		add(&t->to_plain, to_plain);
}

void stats_cert_expiry(struct stats_tunnel *t, long long not_after)
{
	if (t != NULL)
		atomic_store_explicit(&t->cert_not_after, not_after, memory_order_relaxed);
}

void stats_hist_observe(struct stats_hist *h, uint64_t us)
{
	size_t i;

	for (i = 0; i < STATS_NBUCKETS - 1 && us > stats_bucket_us[i]; i++)
		;
	add(&h->bucket[i], 1);
	add(&h->sum_us, us);
}

void stats_signature(int ok, uint64_t us)
{
	add(ok ? &token.ok : &token.failed, 1);
	stats_hist_observe(&token.latency, us);
}

const struct stats_token *stats_token(void)
{
	return &token;
}

void stats_queue(size_t waiting, size_t in_progress)
{
	atomic_store_explicit(&queue_waiting, waiting, memory_order_relaxed);
	atomic_store_explicit(&queue_in_progress, in_progress, memory_order_relaxed);
}

size_t stats_queue_waiting(void)
{
	return atomic_load_explicit(&queue_waiting, memory_order_relaxed);
}

size_t stats_queue_in_progress(void)
{
	return atomic_load_explicit(&queue_in_progress, memory_order_relaxed);
}

long long stats_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void stats_loop_beat(void)
{
	atomic_store_explicit(&loop_beat_ms, stats_now_ms(), memory_order_relaxed);
}

void stats_set_draining(void)
{
	atomic_store_explicit(&draining, 1, memory_order_relaxed);
}

int stats_draining(void)
{
	return atomic_load_explicit(&draining, memory_order_relaxed);
}

long long stats_loop_age_ms(void)
{
	long long beat = atomic_load_explicit(&loop_beat_ms, memory_order_relaxed);

	return beat == 0 ? -1 : stats_now_ms() - beat;
}
