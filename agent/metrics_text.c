/* The Prometheus text exposition format 0.0.4 of the agent's counters and
 * the /healthz verdict. Each family is written whole (HELP, TYPE, every
 * series) so the lines of a family stay together, as the format wants.
 * Series with a fixed label set (reasons, results) are written even when
 * zero, so rate() and alerts see them from the start. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"

/* ---- bounded buffer ---- */

void mbuf_init(struct mbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

static int mbuf_reserve(struct mbuf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->full)
		return -1;
	if (n > b->max || b->len + n > b->max) {
		b->full = 1;
		return -1;
	}
	if (b->len + n + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n + 1)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	if ((p = realloc(b->data, cap)) == NULL) {
		b->full = 1;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void mbuf_add(struct mbuf *b, const char *s, size_t n)
{
	if (n == 0 || mbuf_reserve(b, n) != 0)
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->full = 1;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		mbuf_add(b, small, (size_t)n);
		return;
	}
	if (mbuf_reserve(b, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void mbuf_free(struct mbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ---- text format pieces ---- */

void metrics_label(struct mbuf *out, const char *s)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		const char *esc = *s == '\\' ? "\\\\"
			: *s == '"'          ? "\\\""
			: *s == '\n'         ? "\\n"
					     : NULL;

		if (esc == NULL)
			continue;
		mbuf_add(out, run, (size_t)(s - run));
		mbuf_add(out, esc, 2);
		run = s + 1;
	}
	mbuf_add(out, run, (size_t)(s - run));
}

static void family(struct mbuf *out, const char *name, const char *type, const char *help)
{
	mbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static unsigned long long get(const atomic_uint_fast64_t *c)
{
	return (unsigned long long)atomic_load_explicit(c, memory_order_relaxed);
}

/* name{tunnel="t"[,k="v"]} value */
static void tunnel_series(struct mbuf *out, const char *name, const struct stats_tunnel *t,
	const char *k, const char *v, unsigned long long value)
{
	mbuf_printf(out, "%s{tunnel=\"", name);
	metrics_label(out, t->name);
	if (k != NULL) {
		mbuf_printf(out, "\",%s=\"", k);
		metrics_label(out, v);
	}
	mbuf_printf(out, "\"} %llu\n", value);
}

static void le_label(char *buf, size_t len, size_t i)
{
	if (i == STATS_NBUCKETS - 1)
		snprintf(buf, len, "+Inf");
	else
		snprintf(buf, len, "%g", (double)stats_bucket_us[i] / 1e6);
}

void metrics_histogram(
	struct mbuf *out, const char *name, const char *help, const struct stats_hist *h)
{
	unsigned long long cum = 0, sum = get(&h->sum_us);
	char le[32];
	size_t i;

	family(out, name, "histogram", help);
	for (i = 0; i < STATS_NBUCKETS; i++) {
		cum += get(&h->bucket[i]);
		le_label(le, sizeof(le), i);
		mbuf_printf(out, "%s_bucket{le=\"%s\"} %llu\n", name, le, cum);
	}
	mbuf_printf(out, "%s_sum %llu.%06llu\n", name, sum / 1000000, sum % 1000000);
	mbuf_printf(out, "%s_count %llu\n", name, cum);
}

/* ---- families ---- */

/* Per-tunnel series with one varying label: value(t, j) for label value
 * vals[j]. */
typedef unsigned long long (*tunnel_value)(const struct stats_tunnel *t, size_t j);

static unsigned long long v_conns(const struct stats_tunnel *t, size_t j)
{
	return get(&t->conns[j]);
}

static unsigned long long v_failures(const struct stats_tunnel *t, size_t j)
{
	return get(&t->failures[j]);
}

static unsigned long long v_handshakes(const struct stats_tunnel *t, size_t j)
{
	return get(j == 0 ? &t->full : &t->resumed);
}

static unsigned long long v_bytes(const struct stats_tunnel *t, size_t j)
{
	return get(j == 0 ? &t->to_tls : &t->to_plain);
}

static void per_tunnel(struct mbuf *out, const char *name, const char *k, const char *const *vals,
	size_t nvals, tunnel_value value)
{
	size_t i, j, n = stats_ntunnels();

	for (i = 0; i < n; i++)
		for (j = 0; j < nvals; j++)
			tunnel_series(out, name, stats_tunnel_at(i), k, vals[j],
				value(stats_tunnel_at(i), j));
}

static void tunnel_info(struct mbuf *out)
{
	const struct stats_tunnel *t;
	size_t i, n = stats_ntunnels();

	family(out, "mtls_tunnel_info", "gauge", "Configured tunnels: mode and signer key index.");
	for (i = 0; i < n; i++) {
		t = stats_tunnel_at(i);
		mbuf_printf(out, "mtls_tunnel_info{tunnel=\"");
		metrics_label(out, t->name);
		mbuf_printf(out, "\",mode=\"%s\",key=\"%u\"} 1\n",
			atomic_load_explicit(&t->is_server, memory_order_relaxed) ? "server"
										  : "client",
			atomic_load_explicit(&t->key, memory_order_relaxed));
	}
}

/* Gauges of each tunnel: open tunnels, certificate expiry (when known). */
static void tunnel_gauges(struct mbuf *out)
{
	const struct stats_tunnel *t;
	size_t i, n = stats_ntunnels();
	long long v;

	family(out, "mtls_connections_active", "gauge", "Established tunnels now open.");
	for (i = 0; i < n; i++) {
		t = stats_tunnel_at(i);
		v = (long long)atomic_load_explicit(&t->active, memory_order_relaxed);
		tunnel_series(out, "mtls_connections_active", t, NULL, NULL,
			v > 0 ? (unsigned long long)v : 0);
	}
	family(out, "mtls_certificate_expiry_timestamp_seconds", "gauge",
		"notAfter of the tunnel's own certificate, Unix time.");
	for (i = 0; i < n; i++) {
		t = stats_tunnel_at(i);
		v = atomic_load_explicit(&t->cert_not_after, memory_order_relaxed);
		if (v > 0)
			tunnel_series(out, "mtls_certificate_expiry_timestamp_seconds", t, NULL,
				NULL, (unsigned long long)v);
	}
}

static void tunnel_families(struct mbuf *out)
{
	static const char *const kinds[] = {"full", "resumed"};
	static const char *const dirs[] = {"plain_to_tls", "tls_to_plain"};
	const char *results[STATS_NRESULTS], *reasons[STATS_NREASONS];
	size_t j;

	for (j = 0; j < STATS_NRESULTS; j++)
		results[j] = stats_result_name((enum stats_result)j);
	for (j = 0; j < STATS_NREASONS; j++)
		reasons[j] = stats_reason_name((enum stats_reason)j);
	tunnel_info(out);
	family(out, "mtls_connections_total", "counter",
		"Connections by result: accepted, established, failed (handshake or connect), refused "
		"(queue full, connection limit).");
	per_tunnel(out, "mtls_connections_total", "result", results, STATS_NRESULTS, v_conns);
	family(out, "mtls_handshakes_total", "counter",
		"Completed TLS handshakes: full (one token signature) or resumed (none).");
	per_tunnel(out, "mtls_handshakes_total", "kind", kinds, 2, v_handshakes);
	family(out, "mtls_handshake_failures_total", "counter",
		"Connections that failed or were refused, by reason.");
	per_tunnel(out, "mtls_handshake_failures_total", "reason", reasons, STATS_NREASONS,
		v_failures);
	family(out, "mtls_bytes_total", "counter",
		"Bytes relayed: plain_to_tls (sent through the tunnel), tls_to_plain (received).");
	per_tunnel(out, "mtls_bytes_total", "direction", dirs, 2, v_bytes);
	tunnel_gauges(out);
}

static void token_families(struct mbuf *out, const struct health_status *hs)
{
	static const enum signer_token_state states[] = {SIGNER_TOKEN_OK, SIGNER_TOKEN_ABSENT,
		SIGNER_TOKEN_PIN_ERROR, SIGNER_TOKEN_UNREACHABLE};
	long long now = stats_now_ms();
	size_t k, s;

	family(out, "mtls_token_up", "gauge",
		"1 if the token behind the key is present and logged in (probed about once a second, "
		"without signing).");
	for (k = 0; k < hs->nkeys; k++)
		mbuf_printf(out, "mtls_token_up{key=\"%zu\"} %d\n", k,
			hs->key[k].probed_ms != 0 && hs->key[k].state == SIGNER_TOKEN_OK);
	family(out, "mtls_token_state", "gauge",
		"Token state of the key: 1 for the current state (ok, absent, pin-error, "
		"unreachable).");
	for (k = 0; k < hs->nkeys; k++)
		for (s = 0; s < sizeof(states) / sizeof(states[0]); s++)
			mbuf_printf(out, "mtls_token_state{key=\"%zu\",state=\"%s\"} %d\n", k,
				signer_token_state_name(states[s]),
				hs->key[k].probed_ms != 0 && hs->key[k].state == states[s]);
	family(out, "mtls_token_probe_age_seconds", "gauge",
		"Seconds since the token state of the key was last read.");
	for (k = 0; k < hs->nkeys; k++)
		if (hs->key[k].probed_ms != 0)
			mbuf_printf(out, "mtls_token_probe_age_seconds{key=\"%zu\"} %.3f\n", k,
				(double)(now - hs->key[k].probed_ms) / 1e3);
}

void metrics_render(struct mbuf *out, const struct health_status *hs)
{
	const struct stats_token *tok = stats_token();
	long long age = stats_loop_age_ms();

	tunnel_families(out);
	family(out, "mtls_token_signatures_total", "counter",
		"Signatures made on the token for handshakes, by result.");
	mbuf_printf(out, "mtls_token_signatures_total{result=\"ok\"} %llu\n", get(&tok->ok));
	mbuf_printf(
		out, "mtls_token_signatures_total{result=\"failed\"} %llu\n", get(&tok->failed));
	metrics_histogram(out, "mtls_token_signature_duration_seconds",
		"Time a token signature took, signer round trip included.", &tok->latency);
	if (hs != NULL)
		token_families(out, hs);
	family(out, "mtls_handshake_queue_length", "gauge",
		"Accepted connections waiting for a handshake to start.");
	mbuf_printf(out, "mtls_handshake_queue_length %zu\n", stats_queue_waiting());
	family(out, "mtls_handshakes_in_progress", "gauge",
		"Handshakes started and not yet done (in a worker, or waiting for the peer).");
	mbuf_printf(out, "mtls_handshakes_in_progress %zu\n", stats_queue_in_progress());
	family(out, "mtls_event_loop_heartbeat_age_seconds", "gauge",
		"Seconds since the event loop last turned (it turns at least once a second).");
	if (age >= 0)
		mbuf_printf(out, "mtls_event_loop_heartbeat_age_seconds %.3f\n", (double)age / 1e3);
}

int metrics_health(
	const struct health_status *hs, long long loop_age_ms, int draining, char *line, size_t len)
{
	const char *token = hs == NULL ? "no token health" : hs->ok ? NULL : hs->summary;

	/* A load balancer should send no new connections to a draining agent. */
	if (draining)
		snprintf(line, len, "draining: no new connections");
	else if (loop_age_ms < 0)
		snprintf(line, len, "%s%sevent loop not running", token ? token : "",
			token ? "; " : "");
	else if (loop_age_ms > METRICS_LOOP_STALE_MS)
		snprintf(line, len, "%s%sevent loop stalled for %lld ms", token ? token : "",
			token ? "; " : "", loop_age_ms);
	else if (token != NULL)
		snprintf(line, len, "%s", token);
	else {
		snprintf(line, len, "ok");
		return 200;
	}
	return 503;
}
