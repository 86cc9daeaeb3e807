/* mtls-load: drive a tunnel with an echo backend behind it.
 *
 *   mtls-load --addr 127.0.0.1:PORT --conns N --bytes M [--seconds S]
 *     N connections at once, each sends M pseudo-random bytes (a stream
 *     seeded by its index) and reads them back; the SHA-256 of what was sent
 *     and of what came back must match. Prints one summary line; exit 0 only
 *     if every connection matched.
 *   mtls-load --addr 127.0.0.1:PORT --rtt K
 *     one connection, K round trips of one byte; prints p50/p99/max in ms.
 *   mtls-load --addr 127.0.0.1:PORT --hold N --seconds S
 *     open N connections, check each echoes one byte, keep them open S
 *     seconds (idle), then check each again.
 *   mtls-load --addr 127.0.0.1:PORT --rtt K --interval-ms I
 *     the same as --rtt, pausing I ms between round trips (to span a
 *     period while something else happens).
 *   mtls-load --addr 127.0.0.1:PORT --storm N --cert C --key K --ca CA
 *     N TLS clients (software key) start full handshakes at once against a
 *     TLS server; prints how many completed, how many were refused (closed
 *     before completing) and the slowest refusal in ms. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct lconn {
	int fd;
	uint64_t sent, got, seed_tx, seed_rx;
	int shut, done, bad;
	wc_Sha256 tx, rx;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Each connection sends the random pattern from its own offset, so the
 * streams differ and any byte can be checked without keeping a copy. */
#define PATTERN (1u << 20)
static uint8_t pattern[PATTERN + 16384];

static void make_pattern(void)
{
	uint64_t s = (uint64_t)time(NULL) | 1;
	size_t i;

	for (i = 0; i < PATTERN; i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		pattern[i] = (uint8_t)(s >> 32);
	}
	/* the tail repeats the head, so a send may run past the end */
	memcpy(pattern + PATTERN, pattern, sizeof(pattern) - PATTERN);
}

static const uint8_t *stream_at(uint64_t seed, uint64_t pos)
{
	return &pattern[(seed + pos) % PATTERN];
}

static int dial(const char *addr)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char host[64];
	const char *colon = strrchr(addr, ':');
	int fd, one = 1;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void step_send(struct lconn *c, uint64_t total)
{
	const uint8_t *buf = stream_at(c->seed_tx, c->sent);
	size_t n;
	ssize_t w;

	if (c->sent >= total) {
		if (!c->shut)
			shutdown(c->fd, SHUT_WR), c->shut = 1;
		return;
	}
	n = total - c->sent < 16384 ? (size_t)(total - c->sent) : 16384;
	w = send(c->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w <= 0)
		return;
	wc_Sha256Update(&c->tx, buf, (word32)w);
	c->sent += (uint64_t)w;
}

static void step_recv(struct lconn *c, uint64_t total)
{
	uint8_t buf[16384];
	ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
	ssize_t i;

	if (r == 0) {
		c->done = 1;
		c->bad |= c->got != total;
		return;
	}
	if (r < 0) {
		if (errno != EAGAIN)
			c->done = c->bad = 1;
		return;
	}
	for (i = 0; i < r; i++)
		c->bad |= buf[i] != *stream_at(c->seed_rx, c->got + (uint64_t)i);
	wc_Sha256Update(&c->rx, buf, (word32)r);
	c->got += (uint64_t)r;
}

static int run_bulk(const char *addr, int n, uint64_t bytes, int seconds)
{
	struct lconn *c = calloc((size_t)n, sizeof(*c));
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	uint8_t h1[32], h2[32];
	int i, left = n, ok = 0, failed = 0, mismatched = 0;
	double t0 = now_ms();

	for (i = 0; i < n; i++) {
		c[i].fd = dial(addr);
		c[i].seed_tx = c[i].seed_rx = (uint64_t)i * 7919u;
		wc_InitSha256(&c[i].tx);
		wc_InitSha256(&c[i].rx);
		if (c[i].fd < 0)
			c[i].done = c[i].bad = 1, left--;
	}
	while (left > 0 && now_ms() - t0 < seconds * 1000.0) {
		for (i = 0; i < n; i++) {
			p[i].fd = c[i].done ? -1 : c[i].fd;
			p[i].events = POLLIN | (c[i].shut ? 0 : POLLOUT);
		}
		if (poll(p, (nfds_t)n, 1000) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (c[i].done || p[i].revents == 0)
				continue;
			if (p[i].revents & POLLOUT)
				step_send(&c[i], bytes);
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
				step_recv(&c[i], bytes);
			if (c[i].done)
				left--;
		}
	}
	for (i = 0; i < n; i++) {
		wc_Sha256Final(&c[i].tx, h1);
		wc_Sha256Final(&c[i].rx, h2);
		if (!c[i].done || c[i].fd < 0 ||
			(!c[i].bad && c[i].got != bytes && memcmp(h1, h2, 32) != 0 &&
				c[i].got < c[i].sent)) {
			if (failed++ < 5)
				fprintf(stderr, "conn %d: cut short: sent %llu, got back %llu\n", i,
					(unsigned long long)c[i].sent,
					(unsigned long long)c[i].got);
		} else if (c[i].bad || memcmp(h1, h2, 32) != 0 || c[i].got != bytes) {
			if (mismatched++ < 5)
				fprintf(stderr, "conn %d: sent %llu, got back %llu%s\n", i,
					(unsigned long long)c[i].sent, (unsigned long long)c[i].got,
					c[i].bad ? ", content differs" : "");
		} else
			ok++;
		if (c[i].fd >= 0)
			close(c[i].fd);
	}
	t0 = (now_ms() - t0) / 1000.0;
	printf("conns=%d bytes_each=%llu ok=%d sha256_mismatch=%d failed=%d seconds=%.2f "
	       "MB/s=%.1f\n",
		n, (unsigned long long)bytes, ok, mismatched, failed, t0,
		(double)bytes * ok * 2 / 1e6 / t0);
	free(c);
	free(p);
	return ok == n ? 0 : 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int echo_once(int fd, double *ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint8_t b = 'x';
	double t = now_ms();

	if (send(fd, &b, 1, MSG_NOSIGNAL) != 1 || poll(&p, 1, 5000) != 1 || recv(fd, &b, 1, 0) != 1)
		return -1;
	*ms = now_ms() - t;
	return 0;
}

static int run_rtt(const char *addr, int k, int interval_ms)
{
	double *v = calloc((size_t)k, sizeof(double)), warm;
	int fd = dial(addr), i;

	if (fd < 0 || v == NULL || echo_once(fd, &warm) != 0) { /* warm-up: the handshake */
		fprintf(stderr, "mtls-load: cannot connect to %s\n", addr);
		goto fail;
	}
	for (i = 0; i < k; i++) {
		if (echo_once(fd, &v[i]) != 0) {
			fprintf(stderr, "mtls-load: echo %d failed\n", i);
			goto fail;
		}
		if (interval_ms > 0)
			usleep((useconds_t)interval_ms * 1000);
	}
	qsort(v, (size_t)k, sizeof(double), cmp_double);
	printf("rtt_ms p50=%.3f p99=%.3f max=%.3f n=%d\n", v[k / 2], v[(k * 99) / 100], v[k - 1],
		k);
	close(fd);
	free(v);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(v);
	return 1;
}

static int run_hold(const char *addr, int n, int seconds)
{
	int *fds = calloc((size_t)n, sizeof(int)), i, bad = 0;
	double ms;

	for (i = 0; i < n; i++)
		if ((fds[i] = dial(addr)) < 0 || echo_once(fds[i], &ms) != 0)
			bad++;
	printf("held=%d failed=%d\n", n - bad, bad);
	fflush(stdout);
	sleep((unsigned)seconds);
	for (i = 0; i < n; i++)
		if (fds[i] >= 0 && echo_once(fds[i], &ms) != 0)
			bad++;
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	printf("after_idle_failed=%d\n", bad);
	free(fds);
	return bad != 0;
}

struct storm {
	int fd;
	WOLFSSL *ssl;
	double t0, t1;
	int state; /* 0 running, 1 done, 2 refused */
};

static int storm_step(struct storm *st)
{
	int r = wolfSSL_connect(st->ssl), err;

	if (r == WOLFSSL_SUCCESS) {
		st->state = 1;
		st->t1 = now_ms();
		return 0;
	}
	err = wolfSSL_get_error(st->ssl, r);
	if (err == WOLFSSL_ERROR_WANT_READ)
		return POLLIN;
	if (err == WOLFSSL_ERROR_WANT_WRITE)
		return POLLOUT;
	st->state = 2;
	st->t1 = now_ms();
	return 0;
}

static int run_storm(
	const char *addr, int n, const char *cert, const char *key, const char *ca, int seconds)
{
	WOLFSSL_CTX *ctx;
	struct storm *st = calloc((size_t)n, sizeof(*st));
	struct pollfd *p = calloc((size_t)n, sizeof(*p));
	int i, ok = 0, refused = 0, left = n;
	double worst = 0, t0 = now_ms();

	wolfSSL_Init();
	ctx = wolfSSL_CTX_new(wolfTLS_client_method());
	if (ctx == NULL || st == NULL || p == NULL ||
		wolfSSL_CTX_use_certificate_chain_file(ctx, cert) != WOLFSSL_SUCCESS ||
		wolfSSL_CTX_use_PrivateKey_file(ctx, key, WOLFSSL_FILETYPE_PEM) !=
			WOLFSSL_SUCCESS ||
		wolfSSL_CTX_load_verify_locations(ctx, ca, NULL) != WOLFSSL_SUCCESS)
		return fprintf(stderr, "mtls-load: cannot set up TLS from %s %s %s\n", cert, key,
			       ca),
		       1;
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
	for (i = 0; i < n; i++) {
		st[i].t0 = now_ms();
		st[i].fd = dial(addr);
		st[i].ssl = st[i].fd >= 0 ? wolfSSL_new(ctx) : NULL;
		if (st[i].ssl == NULL) {
			st[i].state = 2, left--;
			continue;
		}
		fcntl(st[i].fd, F_SETFL, fcntl(st[i].fd, F_GETFL) | O_NONBLOCK);
		wolfSSL_set_fd(st[i].ssl, st[i].fd);
		wolfSSL_set_using_nonblock(st[i].ssl, 1);
	}
	while (left > 0 && now_ms() - t0 < seconds * 1000.0) {
		for (i = 0; i < n; i++) {
			p[i].fd = st[i].state == 0 ? st[i].fd : -1;
			p[i].events = 0;
			if (st[i].state == 0 && (p[i].events = (short)storm_step(&st[i])) == 0)
				left--, p[i].fd = -1;
		}
		if (left > 0)
			poll(p, (nfds_t)n, 100);
	}
	for (i = 0; i < n; i++) {
		if (st[i].state == 1)
			ok++;
		if (st[i].state == 2) {
			refused++;
			if (st[i].t1 - st[i].t0 > worst)
				worst = st[i].t1 - st[i].t0;
		}
		if (st[i].ssl != NULL)
			wolfSSL_free(st[i].ssl);
		if (st[i].fd >= 0)
			close(st[i].fd);
	}
	printf("storm=%d handshakes_ok=%d refused=%d unfinished=%d slowest_refusal_ms=%.1f\n", n,
		ok, refused, n - ok - refused, worst);
	wolfSSL_CTX_free(ctx);
	wolfSSL_Cleanup();
	free(st);
	free(p);
	return 0;
}

int main(int argc, char **argv)
{
	const char *addr = NULL;
	int conns = 1, seconds = 120, rtt = 0, hold = 0, storm = 0, interval = 0, i;
	const char *cert = NULL, *key = NULL, *ca = NULL;
	uint64_t bytes = 1024;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--addr") == 0)
			addr = argv[i + 1];
		else if (strcmp(argv[i], "--conns") == 0)
			conns = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--bytes") == 0)
			bytes = strtoull(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--rtt") == 0)
			rtt = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--hold") == 0)
			hold = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--storm") == 0)
			storm = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--interval-ms") == 0)
			interval = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--cert") == 0)
			cert = argv[i + 1];
		else if (strcmp(argv[i], "--key") == 0)
			key = argv[i + 1];
		else if (strcmp(argv[i], "--ca") == 0)
			ca = argv[i + 1];
	}
	if (addr == NULL || conns < 1 || conns > 20000 || rtt < 0 || hold < 0) {
		fprintf(stderr,
			"usage: mtls-load --addr IP:PORT (--conns N --bytes M | --rtt K | "
			"--hold N) [--seconds S]\n");
		return 2;
	}
	make_pattern();
	if (rtt > 0)
		return run_rtt(addr, rtt, interval);
	if (storm > 0 && cert && key && ca)
		return run_storm(addr, storm, cert, key, ca, seconds);
	if (hold > 0)
		return run_hold(addr, hold, seconds);
	return run_bulk(addr, conns, bytes, seconds);
}
