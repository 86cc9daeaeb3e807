/* The metrics and health endpoint: an HTTP/1.1 server on its own thread,
 * on a loopback TCP address or a unix socket (mode 0660), serving
 *   GET /metrics  Prometheus text format 0.0.4 (stats.h, health.h)
 *   GET /healthz  200 "ok" when the token is ok and the event loop turns,
 *                 else 503 and the reason in one line.
 * It reads counters and the health cache only: a scrape never costs a
 * token signature and never waits for a lock the handshake workers hold.
 * Clients are served with poll, a few at a time, each with a bounded
 * request (8 KiB) and bounded time; every response closes the
 * connection. */
#ifndef MTLS_AGENT_METRICS_H
#define MTLS_AGENT_METRICS_H

#include "health.h"

struct metrics;

/* Listen on addr ("127.0.0.1:9100", "[::1]:9100", "unix:/path"; refused
 * unless it is a loopback or unix address) and start serving. health may
 * be NULL (then /healthz says so and answers 503); it must outlive the
 * server. */
int metrics_start(const char *addr, struct health *health, struct metrics **out);

/* Stop the thread, close every client and the listener (removing a unix
 * socket's file). NULL: no-op. */
void metrics_stop(struct metrics *m);

#endif
