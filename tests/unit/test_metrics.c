/* The metrics endpoint's parts: the HTTP request parser (metrics_http.c),
 * the Prometheus text format (metrics_text.c), and the token health cache
 * (health.c) with signer_token_state wrapped (-Wl,--wrap) to play a token
 * that is there, pulled out, or behind a wrong PIN; signer_sign is wrapped
 * too and fails the test if health ever calls it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "health.h"
#include "metrics_int.h"
#include "mtls/err.h"
#include "stats.h"

/* ---- HTTP request parser ---- */

static int parse(const char *text, struct http_request *req)
{
	return http_parse_request(text, strlen(text), req);
}

static void expect_status(const char *text, int status)
{
	struct http_request req;

	assert_int_equal(parse(text, &req), 0);
	if (req.status != status)
		fail_msg("\"%s\": status %d, expected %d", text, req.status, status);
}

static void a_get_of_metrics_is_routed_with_its_headers(void **state)
{
	struct http_request req;

	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: localhost:9100\r\n"
			       "User-Agent: Prometheus/2.45\r\nAccept: text/plain;version=0.0.4\r\n"
			       "Content-Length: 0\r\n\r\n",
				 &req),
		0);
	assert_int_equal(req.status, 200);
	assert_int_equal(req.route, HTTP_ROUTE_METRICS);
	assert_false(req.head);
}

static void healthz_head_query_strings_and_bare_lf_lines_are_accepted(void **state)
{
	struct http_request req;

	assert_int_equal(parse("GET /healthz?verbose=1 HTTP/1.0\n\n", &req), 0);
	assert_int_equal(req.status, 200);
	assert_int_equal(req.route, HTTP_ROUTE_HEALTHZ);
	assert_int_equal(parse("HEAD /metrics HTTP/1.1\r\n\r\n", &req), 0);
	assert_int_equal(req.status, 200);
	assert_int_equal(req.route, HTTP_ROUTE_METRICS);
	assert_true(req.head);
}

static void an_unfinished_head_asks_for_more(void **state)
{
	struct http_request req;

	assert_int_equal(parse("", &req), MTLS_ERR_AGAIN);
	assert_int_equal(parse("GET /metr", &req), MTLS_ERR_AGAIN);
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\n", &req), MTLS_ERR_AGAIN);
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n", &req), MTLS_ERR_AGAIN);
	assert_int_equal(parse("GET /metrics HTTP/1.1\r\nHost: x\r\n\r", &req), MTLS_ERR_AGAIN);
}

static void other_paths_are_404_and_other_methods_405(void **state)
{
	expect_status("GET / HTTP/1.1\r\n\r\n", 404);
	expect_status("GET /metricsx HTTP/1.1\r\n\r\n", 404);
	expect_status("GET /metrics/ HTTP/1.1\r\n\r\n", 404);
	expect_status("GET /health HTTP/1.1\r\n\r\n", 404);
	expect_status("GET /%6detrics HTTP/1.1\r\n\r\n", 404); /* no decoding */
	expect_status("POST /nope HTTP/1.1\r\n\r\n", 404);
	expect_status("POST /metrics HTTP/1.1\r\n\r\n", 405);
	expect_status("DELETE /healthz HTTP/1.1\r\n\r\n", 405);
	expect_status("get /metrics HTTP/1.1\r\n\r\n", 405); /* methods are case-sensitive */
	expect_status("OPTIONS /metrics HTTP/1.1\r\n\r\n", 405);
}

static void malformed_requests_are_400(void **state)
{
	static const char *const bad[] = {
		"GET\r\n\r\n",
		"GET /metrics\r\n\r\n",
		"GET  /metrics HTTP/1.1\r\n\r\n",
		"GET /metrics  HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1 \r\n\r\n",
		" GET /metrics HTTP/1.1\r\n\r\n",
		"\r\nGET /metrics HTTP/1.1\r\n\r\n",
		"GET metrics HTTP/1.1\r\n\r\n",
		"GET http://localhost/metrics HTTP/1.1\r\n\r\n",
		"GET * HTTP/1.1\r\n\r\n",
		"GET /met\x01rics HTTP/1.1\r\n\r\n",
		"GET /met\x7frics HTTP/1.1\r\n\r\n",
		"GET /m\xc3\xa9trics HTTP/1.1\r\n\r\n",
		"GET /metrics#x HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.x\r\n\r\n",
		"GET /metrics HTTP/11\r\n\r\n",
		"GET /metrics http/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1.1\r\n\r\n",
		"G(T /metrics HTTP/1.1\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost localhost\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost : localhost\r\n\r\n",
		"GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: a\rb\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nX: a\x01\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
		"GET /metrics HTTP/1.1\r\ncontent-length: 00\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /metrics\rHTTP/1.1\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_status(bad[i], 400);
}

static void a_nul_byte_anywhere_is_400(void **state)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nX: a\0b\r\n\r\n";
	static const char line[] = "GET /me\0trics HTTP/1.1\r\n\r\n";
	struct http_request r;

	assert_int_equal(http_parse_request(req, sizeof(req) - 1, &r), 0);
	assert_int_equal(r.status, 400);
	assert_int_equal(http_parse_request(line, sizeof(line) - 1, &r), 0);
	assert_int_equal(r.status, 400);
}

static void a_bad_request_line_is_refused_before_the_head_ends(void **state)
{
	struct http_request req;

	assert_int_equal(parse("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", &req), 0);
	assert_int_equal(req.status, 400);
	assert_int_equal(parse("\x16\x03\x01\x02\x05\x01\xfc\x03\x03\n", &req), 0);
	assert_int_equal(req.status, 400);
}

static void other_http_versions_are_505(void **state)
{
	expect_status("GET /metrics HTTP/2.0\r\n\r\n", 505);
	expect_status("GET /metrics HTTP/0.9\r\n\r\n", 505);
	expect_status("GET /metrics HTTP/1.2\r\n\r\n", 505);
}

/* A GET of exactly n bytes (n > 40): request line, one long X-Pad header,
 * blank line. */
static char *request_of(size_t n)
{
	static const char start[] = "GET /metrics HTTP/1.1\r\nX-Pad: ";
	char *p = malloc(n);

	assert_non_null(p);
	memcpy(p, start, sizeof(start) - 1);
	memset(p + sizeof(start) - 1, 'a', n - (sizeof(start) - 1) - 4);
	memcpy(p + n - 4, "\r\n\r\n", 4);
	return p;
}

static void oversized_heads_are_431_and_the_limit_itself_is_fine(void **state)
{
	struct http_request req;
	char *p = request_of(HTTP_REQUEST_MAX);

	assert_int_equal(http_parse_request(p, HTTP_REQUEST_MAX, &req), 0);
	assert_int_equal(req.status, 200);
	free(p);
	p = request_of(HTTP_REQUEST_MAX + 1);
	assert_int_equal(http_parse_request(p, HTTP_REQUEST_MAX + 1, &req), 0);
	assert_int_equal(req.status, 431);
	/* what a server holds when its buffer is full: no end in sight */
	assert_int_equal(http_parse_request(p, HTTP_REQUEST_MAX, &req), 0);
	assert_int_equal(req.status, 431);
	assert_int_equal(http_parse_request(p, HTTP_REQUEST_MAX - 1, &req), MTLS_ERR_AGAIN);
	free(p);
}

static void more_than_64_headers_are_431(void **state)
{
	char buf[2048];
	size_t i, at;
	struct http_request req;

	at = (size_t)snprintf(buf, sizeof(buf), "GET /metrics HTTP/1.1\r\n");
	for (i = 0; i < HTTP_HEADERS_MAX; i++)
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, "X%zu: y\r\n", i);
	snprintf(buf + at, sizeof(buf) - at, "\r\n");
	assert_int_equal(parse(buf, &req), 0);
	assert_int_equal(req.status, 200);
	snprintf(buf + at, sizeof(buf) - at, "X: y\r\n\r\n");
	assert_int_equal(parse(buf, &req), 0);
	assert_int_equal(req.status, 431);
}

static void responses_close_and_say_their_length(void **state)
{
	struct mbuf b;

	mbuf_init(&b, 4096);
	http_response(&b, 503, "text/plain; charset=utf-8", "token not present (key 0)\n", 26, 0);
	assert_string_equal(b.data,
		"HTTP/1.1 503 Service Unavailable\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Length: 26\r\n"
		"Cache-Control: no-store\r\n"
		"Connection: close\r\n"
		"\r\n"
		"token not present (key 0)\n");
	mbuf_free(&b);
	mbuf_init(&b, 4096);
	http_response(&b, 405, "text/plain", "x\n", 2, 1);
	assert_non_null(strstr(b.data, "\r\nAllow: GET, HEAD\r\n"));
	assert_non_null(strstr(b.data, "Content-Length: 2\r\n"));
	assert_int_equal(b.data[b.len - 1], '\n');
	assert_int_equal(b.data[b.len - 2], '\r'); /* HEAD: no body */
	mbuf_free(&b);
}

static void the_buffer_stops_at_its_maximum(void **state)
{
	struct mbuf b;

	mbuf_init(&b, 10);
	mbuf_printf(&b, "%s", "12345");
	mbuf_add(&b, "67890", 5);
	assert_false(b.full);
	assert_string_equal(b.data, "1234567890");
	mbuf_add(&b, "x", 1);
	assert_true(b.full);
	assert_int_equal(b.len, 10);
	mbuf_free(&b);
	mbuf_init(&b, 1000);
	mbuf_printf(&b, "%0600d", 7); /* longer than the small stack buffer */
	assert_int_equal(b.len, 600);
	assert_false(b.full);
	mbuf_printf(&b, "%0600d", 7);
	assert_true(b.full);
	assert_int_equal(b.len, 600);
	mbuf_free(&b);
}

/* ---- exposition format ---- */

static void label_values_escape_backslash_quote_and_newline(void **state)
{
	struct mbuf b;

	mbuf_init(&b, 4096);
	metrics_label(&b, "a\\b\"c\nd");
	assert_string_equal(b.data, "a\\\\b\\\"c\\nd");
	mbuf_free(&b);
	mbuf_init(&b, 4096);
	metrics_label(&b, "plain-name_1.x");
	assert_string_equal(b.data, "plain-name_1.x");
	mbuf_free(&b);
}

/* The value of the sample line that starts with series + " ". */
static const char *sample(const char *text, const char *series)
{
	static char value[64];
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ') {
			sscanf(p + n + 1, "%63s", value);
			return value;
		}
		p++;
	}
	fail_msg("no sample %s in:\n%s", series, text);
	return NULL;
}

static void histogram_buckets_are_cumulative_with_sum_and_count(void **state)
{
	struct stats_hist h;
	struct mbuf b;

	memset(&h, 0, sizeof(h));
	stats_hist_observe(&h, 500); /* 0.0005 s */
	stats_hist_observe(&h, 1000); /* on the 1 ms bound: counts in le="0.001" */
	stats_hist_observe(&h, 1001);
	stats_hist_observe(&h, 70000); /* a YubiKey */
	stats_hist_observe(&h, 3000000);
	stats_hist_observe(&h, 10000000); /* past the last bound */
	mbuf_init(&b, 1 << 16);
	metrics_histogram(&b, "x_seconds", "Test.", &h);
	assert_false(b.full);
	assert_non_null(strstr(b.data, "# HELP x_seconds Test.\n# TYPE x_seconds histogram\n"));
	assert_string_equal(sample(b.data, "x_seconds_bucket{le=\"0.001\"}"), "2");
	assert_string_equal(sample(b.data, "x_seconds_bucket{le=\"0.0025\"}"), "3");
	assert_string_equal(sample(b.data, "x_seconds_bucket{le=\"0.05\"}"), "3");
	assert_string_equal(sample(b.data, "x_seconds_bucket{le=\"0.1\"}"), "4");
	assert_string_equal(sample(b.data, "x_seconds_bucket{le=\"2.5\"}"), "4");
	assert_string_equal(sample(b.data, "x_seconds_bucket{le=\"5\"}"), "5");
	assert_string_equal(sample(b.data, "x_seconds_bucket{le=\"+Inf\"}"), "6");
	assert_string_equal(sample(b.data, "x_seconds_sum"), "13.072501");
	assert_string_equal(sample(b.data, "x_seconds_count"), "6");
	/* the bucket lines come in increasing le order, +Inf last */
	assert_true(strstr(b.data, "le=\"0.001\"") < strstr(b.data, "le=\"0.0025\""));
	assert_true(strstr(b.data, "le=\"5\"") < strstr(b.data, "le=\"+Inf\""));
	assert_true(strstr(b.data, "le=\"+Inf\"") < strstr(b.data, "x_seconds_sum"));
	mbuf_free(&b);
}

/* Every sample line belongs to the family whose HELP and TYPE came last,
 * each family appears once, and every value is a number. */
static void check_exposition(const char *text)
{
	char family[128] = "", seen[8192] = " ", name[160], line[1024];
	const char *p = text, *nl;
	size_t n;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		n = (size_t)(nl - p);
		assert_true(n < sizeof(line));
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl + 1;
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", family), 1);
			assert_true(strncmp(family, "mtls_", 5) == 0);
			snprintf(name, sizeof(name), " %s ", family);
			if (strstr(seen, name) != NULL)
				fail_msg("family %s twice", family);
			strncat(seen, name + 1, sizeof(seen) - strlen(seen) - 1);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(strncmp(line + 7, family, strlen(family)), 0);
			continue;
		}
		assert_true(line[0] != '#' && line[0] != '\0');
		if (strncmp(line, family, strlen(family)) != 0)
			fail_msg("sample outside its family %s: %s", family, line);
		{
			const char *v = strrchr(line, ' ');
			char *end;

			assert_non_null(v);
			strtod(v + 1, &end);
			if (*end != '\0' || end == v + 1)
				fail_msg("not a number: %s", line);
		}
	}
}

static void tunnel_counters_appear_under_their_labels_and_strange_names_are_escaped(void **state)
{
	struct stats_tunnel *t = stats_tunnel("web\"1\\x", 1, 0), *u = stats_tunnel("db", 0, 2);
	struct health_status hs;
	struct mbuf b;

	assert_non_null(t);
	assert_non_null(u);
	assert_ptr_equal(stats_tunnel("db", 0, 3), u); /* same name, same counters */
	stats_conn(t, STATS_ACCEPTED);
	stats_conn(t, STATS_ACCEPTED);
	stats_conn(t, STATS_ESTABLISHED);
	stats_handshake(t, 0);
	stats_handshake(t, 1);
	stats_handshake(t, 1);
	stats_fail(t, STATS_FAILED, STATS_R_PEER_NOT_ALLOWED);
	stats_fail(u, STATS_REFUSED, STATS_R_QUEUE_FULL);
	stats_active(t, 1);
	stats_bytes(t, 1000, 2000);
	stats_cert_expiry(t, 1767225600);
	stats_signature(1, 800);
	stats_signature(0, 300000);
	memset(&hs, 0, sizeof(hs));
	hs.nkeys = 2;
	hs.key[0] = (struct health_key){SIGNER_TOKEN_OK, stats_now_ms()};
	hs.key[1] = (struct health_key){SIGNER_TOKEN_ABSENT, stats_now_ms()};
	stats_loop_beat();
	mbuf_init(&b, METRICS_BODY_MAX);
	metrics_render(&b, &hs);
	assert_false(b.full);
	check_exposition(b.data);
#define T "tunnel=\"web\\\"1\\\\x\""
	assert_string_equal(
		sample(b.data, "mtls_connections_total{" T ",result=\"accepted\"}"), "2");
	assert_string_equal(
		sample(b.data, "mtls_connections_total{" T ",result=\"established\"}"), "1");
	assert_string_equal(sample(b.data, "mtls_connections_total{" T ",result=\"failed\"}"), "1");
	assert_string_equal(
		sample(b.data, "mtls_connections_total{tunnel=\"db\",result=\"refused\"}"), "1");
	assert_string_equal(sample(b.data, "mtls_handshakes_total{" T ",kind=\"full\"}"), "1");
	assert_string_equal(sample(b.data, "mtls_handshakes_total{" T ",kind=\"resumed\"}"), "2");
	assert_string_equal(
		sample(b.data, "mtls_handshake_failures_total{" T ",reason=\"peer_not_allowed\"}"),
		"1");
	assert_string_equal(
		sample(b.data, "mtls_handshake_failures_total{" T ",reason=\"token_absent\"}"),
		"0");
	assert_string_equal(
		sample(b.data,
			"mtls_handshake_failures_total{tunnel=\"db\",reason=\"queue_full\"}"),
		"1");
	assert_string_equal(sample(b.data, "mtls_connections_active{" T "}"), "1");
	assert_string_equal(
		sample(b.data, "mtls_bytes_total{" T ",direction=\"plain_to_tls\"}"), "1000");
	assert_string_equal(
		sample(b.data, "mtls_bytes_total{" T ",direction=\"tls_to_plain\"}"), "2000");
	assert_string_equal(
		sample(b.data, "mtls_certificate_expiry_timestamp_seconds{" T "}"), "1767225600");
	assert_null(strstr(b.data, "mtls_certificate_expiry_timestamp_seconds{tunnel=\"db\"}"));
	assert_string_equal(
		sample(b.data, "mtls_tunnel_info{" T ",mode=\"server\",key=\"0\"}"), "1");
	assert_string_equal(
		sample(b.data, "mtls_tunnel_info{tunnel=\"db\",mode=\"client\",key=\"3\"}"), "1");
#undef T
	assert_string_equal(sample(b.data, "mtls_token_signatures_total{result=\"ok\"}"), "1");
	assert_string_equal(sample(b.data, "mtls_token_signatures_total{result=\"failed\"}"), "1");
	assert_string_equal(sample(b.data, "mtls_token_signature_duration_seconds_count"), "2");
	assert_string_equal(
		sample(b.data, "mtls_token_signature_duration_seconds_bucket{le=\"0.001\"}"), "1");
	assert_string_equal(sample(b.data, "mtls_token_up{key=\"0\"}"), "1");
	assert_string_equal(sample(b.data, "mtls_token_up{key=\"1\"}"), "0");
	assert_string_equal(sample(b.data, "mtls_token_state{key=\"1\",state=\"absent\"}"), "1");
	assert_string_equal(sample(b.data, "mtls_token_state{key=\"1\",state=\"ok\"}"), "0");
	assert_string_equal(sample(b.data, "mtls_token_state{key=\"0\",state=\"ok\"}"), "1");
	assert_string_equal(sample(b.data, "mtls_handshake_queue_length"), "0");
	mbuf_free(&b);
}

static void the_registry_is_bounded_and_refuses_long_names(void **state)
{
	char name[STATS_NAME_MAX + 8];
	size_t i;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	assert_null(stats_tunnel(name, 0, 0));
	assert_null(stats_tunnel("", 0, 0));
	for (i = 0; i < STATS_MAX_TUNNELS + 4; i++) {
		snprintf(name, sizeof(name), "t%zu", i);
		if (stats_tunnel(name, 0, 0) == NULL)
			break;
	}
	assert_int_equal(stats_ntunnels(), STATS_MAX_TUNNELS);
	assert_true(i < STATS_MAX_TUNNELS + 4);
	stats_conn(NULL, STATS_ACCEPTED); /* an uncounted tunnel: no-ops */
	stats_fail(NULL, STATS_FAILED, STATS_R_OTHER);
	stats_bytes(NULL, 1, 1);
	assert_string_equal(stats_reason_name(STATS_NREASONS), "other");
	assert_string_equal(stats_reason_name(STATS_R_TOKEN_ABSENT), "token_absent");
}

static void healthz_is_ok_only_with_the_token_ok_and_the_loop_turning(void **state)
{
	struct health_status hs;
	char line[256];

	memset(&hs, 0, sizeof(hs));
	hs.ok = 1;
	snprintf(hs.summary, sizeof(hs.summary), "token ok");
	assert_int_equal(metrics_health(&hs, 200, 0, line, sizeof(line)), 200);
	assert_string_equal(line, "ok");
	assert_int_equal(metrics_health(&hs, 6000, 0, line, sizeof(line)), 503);
	assert_string_equal(line, "event loop stalled for 6000 ms");
	assert_int_equal(metrics_health(&hs, -1, 0, line, sizeof(line)), 503);
	assert_string_equal(line, "event loop not running");
	hs.ok = 0;
	snprintf(hs.summary, sizeof(hs.summary), "token not present (key 0)");
	assert_int_equal(metrics_health(&hs, 200, 0, line, sizeof(line)), 503);
	assert_string_equal(line, "token not present (key 0)");
	assert_int_equal(metrics_health(&hs, 9000, 0, line, sizeof(line)), 503);
	assert_string_equal(line, "token not present (key 0); event loop stalled for 9000 ms");
	assert_int_equal(metrics_health(NULL, 200, 0, line, sizeof(line)), 503);
	hs.ok = 1;
	assert_int_equal(metrics_health(&hs, 200, 1, line, sizeof(line)), 503);
	assert_string_equal(line, "draining: no new connections");
}

/* ---- token health, with a played token ---- */

static enum signer_token_state played[SIGNER_MAX_KEYS];
static int fail_call;

int __wrap_signer_token_state(struct signer *s, unsigned key, enum signer_token_state *state);
int __wrap_signer_token_state(struct signer *s, unsigned key, enum signer_token_state *state)
{
	if (fail_call) {
		*state = SIGNER_TOKEN_UNREACHABLE;
		return mtls_err_set(MTLS_ERR_SIGNER, "signer process not answering");
	}
	*state = played[key];
	return 0;
}

int __wrap_signer_sign(struct signer *s, unsigned key, enum p11_sig sig, const uint8_t *in,
	size_t inlen, uint8_t *out, size_t *outlen);
int __wrap_signer_sign(struct signer *s, unsigned key, enum p11_sig sig, const uint8_t *in,
	size_t inlen, uint8_t *out, size_t *outlen)
{
	fail_msg("health made a token signature");
	return MTLS_ERR_INTERNAL;
}

static void wait_for_round(struct health *h, long long after)
{
	struct health_status st;
	int i;

	for (i = 0; i < 400; i++) {
		health_get(h, &st);
		if (st.last_probe_ms > after)
			return;
		usleep(10000);
	}
	fail_msg("no probe round within 4 s");
}

static void health_reports_the_first_bad_key_and_recovers(void **state)
{
	struct signer *fake = (struct signer *)&played; /* never dereferenced */
	struct health_status st;
	struct health *h;

	memset(played, 0, sizeof(played));
	fail_call = 0;
	assert_int_equal(health_start(fake, 2, &h), 0);
	health_get(h, &st); /* the first round ran inside health_start */
	assert_int_equal(st.nkeys, 2);
	assert_true(st.ok);
	assert_string_equal(st.summary, "token ok");
	assert_true(st.key[1].probed_ms > 0);
	played[1] = SIGNER_TOKEN_ABSENT;
	wait_for_round(h, st.last_probe_ms);
	health_get(h, &st);
	assert_false(st.ok);
	assert_int_equal(st.key[0].state, SIGNER_TOKEN_OK);
	assert_int_equal(st.key[1].state, SIGNER_TOKEN_ABSENT);
	assert_string_equal(st.summary, "token not present (key 1)");
	played[0] = SIGNER_TOKEN_PIN_ERROR;
	wait_for_round(h, st.last_probe_ms);
	health_get(h, &st);
	assert_string_equal(st.summary, "token PIN error (key 0): needs an operator");
	fail_call = 1;
	wait_for_round(h, st.last_probe_ms);
	health_get(h, &st);
	assert_string_equal(st.summary, "token unreachable (key 0): signer process not answering");
	fail_call = 0;
	memset(played, 0, sizeof(played));
	wait_for_round(h, st.last_probe_ms);
	health_get(h, &st);
	assert_true(st.ok);
	assert_string_equal(st.summary, "token ok");
	health_stop(h);
	health_stop(NULL);
	health_get(NULL, &st);
	assert_false(st.ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_get_of_metrics_is_routed_with_its_headers),
		cmocka_unit_test(healthz_head_query_strings_and_bare_lf_lines_are_accepted),
		cmocka_unit_test(an_unfinished_head_asks_for_more),
		cmocka_unit_test(other_paths_are_404_and_other_methods_405),
		cmocka_unit_test(malformed_requests_are_400),
		cmocka_unit_test(a_nul_byte_anywhere_is_400),
		cmocka_unit_test(a_bad_request_line_is_refused_before_the_head_ends),
		cmocka_unit_test(other_http_versions_are_505),
		cmocka_unit_test(oversized_heads_are_431_and_the_limit_itself_is_fine),
		cmocka_unit_test(more_than_64_headers_are_431),
		cmocka_unit_test(responses_close_and_say_their_length),
		cmocka_unit_test(the_buffer_stops_at_its_maximum),
		cmocka_unit_test(label_values_escape_backslash_quote_and_newline),
		cmocka_unit_test(histogram_buckets_are_cumulative_with_sum_and_count),
		cmocka_unit_test(
			tunnel_counters_appear_under_their_labels_and_strange_names_are_escaped),
		cmocka_unit_test(the_registry_is_bounded_and_refuses_long_names),
		cmocka_unit_test(healthz_is_ok_only_with_the_token_ok_and_the_loop_turning),
		cmocka_unit_test(health_reports_the_first_bad_key_and_recovers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
