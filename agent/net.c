/* Listening and connecting sockets, by address string. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mtls/err.h"
#include "net.h"

int net_split(const char *addr, char *host, unsigned hostlen, char *port, unsigned portlen)
{
	const char *colon, *h = addr;
	size_t hl;

	if (strncmp(addr, "unix:", 5) == 0) {
		if (addr[5] != '/' || strlen(addr + 5) >= hostlen)
			return mtls_err_set(
				MTLS_ERR_CONFIG, "address %s: unix: needs an absolute path", addr);
		snprintf(host, hostlen, "%s", addr + 5);
		port[0] = '\0';
		return 0;
	}
	if (addr[0] == '[') {
		colon = strstr(addr, "]:");
		h = addr + 1;
		hl = colon ? (size_t)(colon - h) : 0;
		colon = colon ? colon + 1 : NULL;
	} else {
		colon = strrchr(addr, ':');
		hl = colon ? (size_t)(colon - addr) : 0;
	}
	if (colon == NULL || colon[1] == '\0' || hl >= hostlen || strlen(colon + 1) >= portlen)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"address '%s' is not HOST:PORT, [V6]:PORT "
			"or unix:/path",
			addr);
	memcpy(host, h, hl);
	host[hl] = '\0';
	snprintf(port, portlen, "%s", colon + 1);
	return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return mtls_err_set(MTLS_ERR_CONFIG, "unix socket path %s is too long", path);
	strcpy(sun->sun_path, path);
	return 0;
}

static int listen_unix(const char *path, int *out)
{
	struct sockaddr_un sun;
	int fd, rc = unix_addr(path, &sun);

	if (rc != 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mtls_err_set(MTLS_ERR_IO, "socket: %s", strerror(errno));
	(void)unlink(path); /* a stale socket from an earlier run */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || listen(fd, 1024) != 0) {
		rc = mtls_err_set(MTLS_ERR_IO, "listen on unix:%s: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

int net_listen(const char *addr, int *out)
{
	char host[256], port[16];
	struct addrinfo hints = {0}, *res = NULL;
	int fd = -1, rc, one = 1, e;

	rc = net_split(addr, host, sizeof(host), port, sizeof(port));
	if (rc != 0)
		return rc;
	if (port[0] == '\0')
		return listen_unix(host, out);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	e = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (e != 0)
		return mtls_err_set(
			MTLS_ERR_CONFIG, "listen address %s: %s", addr, gai_strerror(e));
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = mtls_err_set(MTLS_ERR_IO, "socket: %s", strerror(errno));
		goto out;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
		rc = mtls_err_set(MTLS_ERR_IO, "listen on %s: %s", addr, strerror(errno));
		close(fd);
		goto out;
	}
	*out = fd;
	rc = 0;
out:
	freeaddrinfo(res);
	return rc;
}

int net_prepare_listener(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 ||
		fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
		return mtls_err_set(MTLS_ERR_IO, "passed socket %d: %s", fd, strerror(errno));
	return 0;
}

static int same_inet(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return a4->sin_port == b4->sin_port && a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return a6->sin6_port == b6->sin6_port &&
			memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
	return 0;
}

int net_fd_is_bound_to(int fd, const char *addr)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo hints = {0}, *res = NULL, *ai;
	char host[256], port[16];
	int match = 0;

	if (net_split(addr, host, sizeof(host), port, sizeof(port)) != 0 ||
		getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return 0;
	if (port[0] == '\0') {
		const struct sockaddr_un *sun = (const void *)&ss;

		return ss.ss_family == AF_UNIX && sl > offsetof(struct sockaddr_un, sun_path) &&
			strncmp(sun->sun_path, host, sizeof(sun->sun_path)) == 0;
	}
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0)
		return 0;
	for (ai = res; ai != NULL && !match; ai = ai->ai_next)
		match = same_inet(ai->ai_addr, (const struct sockaddr *)&ss);
	freeaddrinfo(res);
	return match;
}

struct net_dial {
	char addr[300]; /* for messages */
	struct addrinfo *res, *next; /* addresses not yet tried */
	struct sockaddr_un sun; /* unix: */
	int fd; /* the attempt in progress, or -1 */
	int err; /* the last attempt's errno */
};

/* Start connecting to the next address: 0 (started, or connected at
 * once), else the errno of an attempt that failed at once. */
static int attempt(struct net_dial *d, int family, const struct sockaddr *sa, socklen_t salen)
{
	int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return errno;
	/* A unix socket whose listener's queue is full says EAGAIN: an error
	 * here, as for a refused TCP connection. */
	if (connect(fd, sa, salen) != 0 && errno != EINPROGRESS) {
		int err = errno;

		close(fd);
		return err;
	}
	d->fd = fd;
	return 0;
}

/* Start the next address until one is under way; ECONNREFUSED-like errno
 * when none is left. */
static int next_attempt(struct net_dial *d)
{
	struct addrinfo *ai;

	while ((ai = d->next) != NULL) {
		d->next = ai->ai_next;
		if ((d->err = attempt(d, ai->ai_family, ai->ai_addr, ai->ai_addrlen)) == 0)
			return 0;
	}
	return d->err ? d->err : ECONNREFUSED;
}

static int dial_error(struct net_dial *d, int err)
{
	return mtls_err_set(MTLS_ERR_IO, "connect to %s: %s", d->addr, strerror(err));
}

int net_dial_start(const char *addr, struct net_dial **out)
{
	char host[256], port[16];
	struct addrinfo hints = {0};
	struct net_dial *d;
	int rc, e;

	*out = NULL;
	rc = net_split(addr, host, sizeof(host), port, sizeof(port));
	if (rc != 0)
		return rc;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "connect to %s", addr);
	snprintf(d->addr, sizeof(d->addr), "%s", addr);
	d->fd = -1;
	*out = d;
	if (port[0] == '\0') {
		if ((rc = unix_addr(host, &d->sun)) != 0)
			return rc;
		d->err = attempt(d, AF_UNIX, (struct sockaddr *)&d->sun, sizeof(d->sun));
		return d->err == 0 ? 0 : dial_error(d, d->err);
	}
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	/* Numeric addresses and /etc/hosts answer at once; a name server may
	 * not (this blocks the worker, within the resolver's own timeouts). */
	e = getaddrinfo(host, port, &hints, &d->res);
	if (e != 0)
		return mtls_err_set(MTLS_ERR_IO, "connect to %s: %s", addr, gai_strerror(e));
	d->next = d->res;
	rc = next_attempt(d);
	return rc == 0 ? 0 : dial_error(d, rc);
}

int net_dial_fd(const struct net_dial *d)
{
	return d != NULL ? d->fd : -1;
}

int net_dial_continue(struct net_dial *d, int *out)
{
	int err = 0, one = 1, rc;
	socklen_t len = sizeof(err);
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);

	if (d->fd < 0)
		return dial_error(d, d->err ? d->err : ECONNREFUSED);
	if (getsockopt(d->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	/* Not yet refused and not yet connected: still in progress. */
	if (err == 0 && getpeername(d->fd, (struct sockaddr *)&ss, &sslen) != 0) {
		if (errno == ENOTCONN)
			return MTLS_ERR_AGAIN;
		err = errno;
	}
	if (err == 0) {
		if (ss.ss_family != AF_UNIX)
			(void)setsockopt(d->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		*out = d->fd;
		d->fd = -1;
		return 0;
	}
	close(d->fd);
	d->fd = -1;
	d->err = err;
	if ((rc = next_attempt(d)) != 0)
		return dial_error(d, rc);
	return MTLS_ERR_AGAIN;
}

void net_dial_free(struct net_dial *d)
{
	if (d == NULL)
		return;
	if (d->fd >= 0)
		close(d->fd);
	if (d->res != NULL)
		freeaddrinfo(d->res);
	free(d);
}
