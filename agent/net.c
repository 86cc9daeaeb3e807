/* Listening and connecting sockets, by address string. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
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

static long ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000L +
		(deadline->tv_nsec - now.tv_nsec) / 1000000L;
}

/* Connect one socket, waiting at most until deadline. */
static int connect_one(int family, const struct sockaddr *sa, socklen_t salen,
	const struct timespec *deadline, int *out)
{
	struct pollfd p;
	int fd, err = 0, one = 1;
	socklen_t len = sizeof(err);
	long left;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	if (connect(fd, sa, salen) != 0 && errno != EINPROGRESS) {
		err = errno;
		goto fail;
	}
	p.fd = fd;
	p.events = POLLOUT;
	left = ms_left(deadline);
	if (left <= 0 || poll(&p, 1, (int)left) != 1) {
		err = ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
		goto fail;
	if (family != AF_UNIX)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out = fd;
	return 0;
fail:
	close(fd);
	return err ? err : ECONNREFUSED;
}

int net_connect(const char *addr, unsigned timeout_ms, int *out)
{
	char host[256], port[16];
	struct addrinfo hints = {0}, *res = NULL, *ai;
	struct sockaddr_un sun;
	struct timespec deadline;
	int rc, e, err = ECONNREFUSED;

	rc = net_split(addr, host, sizeof(host), port, sizeof(port));
	if (rc != 0)
		return rc;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	if (port[0] == '\0') {
		if ((rc = unix_addr(host, &sun)) != 0)
			return rc;
		err = connect_one(AF_UNIX, (struct sockaddr *)&sun, sizeof(sun), &deadline, out);
		return err == 0
			? 0
			: mtls_err_set(MTLS_ERR_IO, "connect to %s: %s", addr, strerror(err));
	}
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	e = getaddrinfo(host, port, &hints, &res);
	if (e != 0)
		return mtls_err_set(MTLS_ERR_IO, "connect to %s: %s", addr, gai_strerror(e));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		err = connect_one(ai->ai_family, ai->ai_addr, ai->ai_addrlen, &deadline, out);
		if (err == 0)
			break;
	}
	freeaddrinfo(res);
	if (err != 0)
		return mtls_err_set(err == ETIMEDOUT ? MTLS_ERR_TIMEOUT : MTLS_ERR_IO,
			"connect to %s: %s", addr, strerror(err));
	return 0;
}
