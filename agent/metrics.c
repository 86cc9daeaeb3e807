/* The metrics server thread: one poll loop over an eventfd (stop), the
 * listener and at most METRICS_CLIENTS clients. A client has
 * METRICS_READ_MS to send its request head and METRICS_WRITE_MS to take
 * the answer; then its connection is closed whatever state it is in, so a
 * slow or stuck client costs a slot for a few seconds and nothing else.
 * Answers are made from atomics and the health cache (health_get copies
 * under a lock nobody holds for long): never a token operation. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrics.h"
#include "metrics_int.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "net.h"

#define METRICS_CLIENTS 8
#define METRICS_READ_MS 3000
#define METRICS_WRITE_MS 10000
#define METRICS_LINGER_MS 1000

enum phase {
	PH_FREE = 0,
	PH_READ, /* waiting for the request head */
	PH_WRITE, /* sending the response */
	PH_LINGER, /* response sent and write side shut: drain until EOF */
};

struct client {
	enum phase phase;
	int fd;
	long long deadline;
	char in[HTTP_REQUEST_MAX];
	size_t inlen;
	struct mbuf out;
	size_t sent;
};

struct metrics {
	int listen_fd, stop_fd;
	char *unix_path; /* removed at stop */
	struct health *health;
	pthread_t thread;
	int started;
	struct client client[METRICS_CLIENTS];
};

static void client_close(struct client *c)
{
	if (c->phase == PH_FREE)
		return;
	close(c->fd);
	mbuf_free(&c->out);
	c->phase = PH_FREE;
	c->fd = -1;
}

/* The answer to a parsed request, into c->out. */
static void answer(struct metrics *m, struct client *c, const struct http_request *req)
{
	static const char too_big[] = "metrics over their size bound\n";
	struct health_status hs;
	struct mbuf body;
	char line[HEALTH_SUMMARY_MAX + 64];
	int status = req->status;
	size_t n;

	mbuf_init(&c->out, METRICS_BODY_MAX + 512);
	if (status == 200 && req->route == HTTP_ROUTE_METRICS) {
		mbuf_init(&body, METRICS_BODY_MAX);
		health_get(m->health, &hs);
		metrics_render(&body, m->health != NULL ? &hs : NULL);
		if (!body.full)
			http_response(&c->out, 200, METRICS_TYPE, body.data, body.len, req->head);
		else
			http_response(&c->out, 500, "text/plain; charset=utf-8", too_big,
				sizeof(too_big) - 1, req->head);
		mbuf_free(&body);
		return;
	}
	if (status == 200) { /* /healthz */
		health_get(m->health, &hs);
		status = metrics_health(m->health != NULL ? &hs : NULL, stats_loop_age_ms(),
			stats_draining(), line, sizeof(line) - 1);
	} else {
		snprintf(line, sizeof(line) - 1, "%s", http_status_text(status));
	}
	n = strlen(line); /* at most sizeof(line) - 2: room for the newline */
	line[n++] = '\n';
	http_response(&c->out, status, "text/plain; charset=utf-8", line, n, req->head);
	mtls_log(MTLS_LOG_DEBUG, "metrics: answered %d", status);
}

static void start_write(struct metrics *m, struct client *c, const struct http_request *req)
{
	answer(m, c, req);
	c->phase = PH_WRITE;
	c->sent = 0;
	c->deadline = stats_now_ms() + METRICS_WRITE_MS;
}

static void on_write(struct client *c)
{
	ssize_t n;

	while (c->sent < c->out.len) {
		n = send(c->fd, c->out.data + c->sent, c->out.len - c->sent, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			client_close(c);
			return;
		}
		c->sent += (size_t)n;
	}
	/* All sent: close only after the client has read it. Closing with
	 * unread input would reset the connection and could lose the answer. */
	(void)shutdown(c->fd, SHUT_WR);
	mbuf_free(&c->out);
	c->phase = PH_LINGER;
	c->deadline = stats_now_ms() + METRICS_LINGER_MS;
}

static void on_read(struct metrics *m, struct client *c)
{
	struct http_request req;
	ssize_t n;

	if (c->phase == PH_LINGER) {
		n = read(c->fd, c->in, sizeof(c->in));
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			client_close(c);
		return;
	}
	n = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (n < 0)
		return;
	c->inlen += (size_t)n;
	if (http_parse_request(c->in, c->inlen, &req) == 0) {
		start_write(m, c, &req);
		on_write(c);
	}
}

/* A client out of time: a late request head gets a 408 if it fits in the
 * socket buffer at once; nothing waits for it. */
static void expire(struct client *c)
{
	static const char late[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
				   "Connection: close\r\n\r\n";

	if (c->phase == PH_READ)
		(void)!send(c->fd, late, sizeof(late) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	client_close(c);
}

static void accept_clients(struct metrics *m)
{
	struct client *c;
	size_t i;
	int fd;

	for (i = 0; i < METRICS_CLIENTS; i++) {
		c = &m->client[i];
		if (c->phase != PH_FREE)
			continue;
		fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		c->fd = fd;
		c->phase = PH_READ;
		c->inlen = 0;
		c->deadline = stats_now_ms() + METRICS_READ_MS;
	}
}

/* pollfd set: [0] stop, [1] listener (only while a slot is free), then
 * clients; idx maps poll entries back to clients. Returns the count. */
static nfds_t poll_set(struct metrics *m, struct pollfd *p, size_t *idx, int *timeout)
{
	long long now = stats_now_ms(), left;
	nfds_t n = 2;
	size_t i;
	int free_slot = 0;

	p[0] = (struct pollfd){.fd = m->stop_fd, .events = POLLIN};
	*timeout = -1;
	for (i = 0; i < METRICS_CLIENTS; i++) {
		struct client *c = &m->client[i];

		if (c->phase == PH_FREE) {
			free_slot = 1;
			continue;
		}
		p[n] = (struct pollfd){
			.fd = c->fd, .events = c->phase == PH_WRITE ? POLLOUT : POLLIN};
		idx[n++] = i;
		left = c->deadline - now;
		left = left < 0 ? 0 : left;
		if (*timeout < 0 || left < *timeout)
			*timeout = (int)left;
	}
	p[1] = (struct pollfd){.fd = free_slot ? m->listen_fd : -1, .events = POLLIN};
	return n;
}

static void *serve(void *arg)
{
	struct metrics *m = arg;
	struct pollfd p[2 + METRICS_CLIENTS];
	size_t idx[2 + METRICS_CLIENTS], i;
	nfds_t n, j;
	int timeout;

	for (;;) {
		n = poll_set(m, p, idx, &timeout);
		if (poll(p, n, timeout) < 0 && errno != EINTR)
			break;
		if (p[0].revents != 0)
			break;
		for (j = 2; j < n; j++) {
			struct client *c = &m->client[idx[j]];

			if (p[j].revents == 0)
				continue;
			if (c->phase == PH_WRITE)
				on_write(c);
			else
				on_read(m, c);
		}
		if (p[1].revents & POLLIN)
			accept_clients(m);
		for (i = 0; i < METRICS_CLIENTS; i++)
			if (m->client[i].phase != PH_FREE &&
				stats_now_ms() >= m->client[i].deadline)
				expire(&m->client[i]);
	}
	for (i = 0; i < METRICS_CLIENTS; i++)
		client_close(&m->client[i]);
	return NULL;
}

/* Defence in depth beside the configuration check: the bound address
 * must be loopback (a host name could resolve to anything). */
static int is_loopback_fd(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_UNIX)
		return 1;
	if (ss.ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family != AF_INET6)
		return 0;
	if (IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
		return 1;
	return memcmp(s6->sin6_addr.s6_addr, mapped, 12) == 0 && s6->sin6_addr.s6_addr[12] == 127;
}

/* A unix socket is made with mode 0660 (0777 less the umask, narrowed
 * around the bind while the engine starts, before other threads make
 * files); no chmod afterwards: the sandbox has no chmod. */
static int listen_on(struct metrics *m, const char *addr)
{
	mode_t old;
	int rc;

	if (strncmp(addr, "unix:", 5) != 0)
		return net_listen(addr, &m->listen_fd);
	if ((m->unix_path = strdup(addr + 5)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "metrics_start");
	old = umask(0117);
	rc = net_listen(addr, &m->listen_fd);
	umask(old);
	return rc;
}

int metrics_start(const char *addr, struct health *health, struct metrics **out)
{
	struct metrics *m;
	size_t i;
	int rc;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "metrics_start");
	m->listen_fd = m->stop_fd = -1;
	m->health = health;
	for (i = 0; i < METRICS_CLIENTS; i++)
		m->client[i].fd = -1;
	rc = listen_on(m, addr);
	if (rc == 0 && !is_loopback_fd(m->listen_fd))
		rc = mtls_err_set(MTLS_ERR_CONFIG,
			"metrics-listen %s is not a loopback address: metrics stay on this machine",
			addr);
	if (rc == 0 && (m->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		rc = mtls_err_set(MTLS_ERR_IO, "eventfd: %s", strerror(errno));
	if (rc == 0 && pthread_create(&m->thread, NULL, serve, m) != 0)
		rc = mtls_err_set(MTLS_ERR_INTERNAL, "cannot start the metrics thread");
	if (rc != 0) {
		metrics_stop(m);
		return rc;
	}
	m->started = 1;
	mtls_log(MTLS_LOG_NOTICE, "metrics: listening on %s (/metrics, /healthz)", addr);
	*out = m;
	return 0;
}

void metrics_stop(struct metrics *m)
{
	if (m == NULL)
		return;
	if (m->started) {
		(void)!write(m->stop_fd, &(uint64_t){1}, sizeof(uint64_t));
		pthread_join(m->thread, NULL);
	}
	if (m->unix_path != NULL && m->listen_fd >= 0)
		(void)unlink(m->unix_path);
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	free(m->unix_path);
	free(m);
}
