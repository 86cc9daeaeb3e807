/* Internals of the metrics endpoint, apart so unit tests and the fuzzer
 * reach them: a bounded output buffer, the HTTP request parser
 * (metrics_http.c) and the exposition text (metrics_text.c). */
#ifndef MTLS_AGENT_METRICS_INT_H
#define MTLS_AGENT_METRICS_INT_H

#include <stddef.h>

#include "health.h"
#include "stats.h"

#define HTTP_REQUEST_MAX 8192 /* request line and headers, blank line included */
#define HTTP_HEADERS_MAX 64
#define METRICS_BODY_MAX (4u << 20)

/* A growable text buffer with a hard maximum: an append that would pass
 * it sets `full` and stops appending. */
struct mbuf {
	char *data;
	size_t len, cap, max;
	int full; /* over max, or out of memory */
};
void mbuf_init(struct mbuf *b, size_t max);
void mbuf_add(struct mbuf *b, const char *s, size_t n);
void mbuf_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void mbuf_free(struct mbuf *b);

/* ---- metrics_http.c ---- */

enum http_route {
	HTTP_ROUTE_NONE = 0,
	HTTP_ROUTE_METRICS, /* /metrics */
	HTTP_ROUTE_HEALTHZ, /* /healthz */
};

struct http_request {
	int status; /* 200, or 400, 404, 405, 431, 505 to answer with */
	enum http_route route;
	int head; /* HEAD: headers only */
};

/* Parse the request head in buf[0, len): returns 0 with *req set once the
 * head is complete or known to be bad (a malformed request line is
 * refused before the rest arrives), MTLS_ERR_AGAIN while more bytes are
 * needed. A head over HTTP_REQUEST_MAX bytes, or more than
 * HTTP_HEADERS_MAX headers, is 431; a body (Content-Length other than 0,
 * any Transfer-Encoding) is 400; methods other than GET and HEAD on a
 * known path are 405; other paths 404. Lines may end in CRLF or LF. */
int http_parse_request(const char *buf, size_t len, struct http_request *req);

/* A complete response: status line, Content-Type, Content-Length,
 * Connection: close; the body unless head. */
void http_response(
	struct mbuf *out, int status, const char *type, const char *body, size_t blen, int head);
const char *http_status_text(int status);

/* ---- metrics_text.c ---- */

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* s as a label value: backslash, double quote and newline escaped. */
void metrics_label(struct mbuf *out, const char *s);
/* One histogram family (HELP, TYPE, cumulative _bucket lines up to
 * le="+Inf", _sum in seconds, _count = the +Inf bucket). */
void metrics_histogram(
	struct mbuf *out, const char *name, const char *help, const struct stats_hist *h);
/* The whole /metrics body from stats.h and hs (NULL: no token series). */
void metrics_render(struct mbuf *out, const struct health_status *hs);

/* /healthz: 200 and "ok", or 503 and the reasons, in line (one line, no
 * newline). loop_age_ms: stats_loop_age_ms(); draining: stats_draining(). */
#define METRICS_LOOP_STALE_MS 5000
int metrics_health(const struct health_status *hs, long long loop_age_ms, int draining, char *line,
	size_t len);

#endif
