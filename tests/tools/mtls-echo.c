/* mtls-echo: a plain TCP echo backend for tunnel tests. Listens on
 * 127.0.0.1:PORT (0 = any free port, printed on stdout as "port N"), echoes
 * every byte back on each connection, half-closes when the client does.
 * Prints "accepted N" for every connection (so tests can tell that nothing
 * reached the backend). Runs until SIGTERM, or for at most --seconds
 * (default 600).
 *
 *   mtls-echo [--port N] [--seconds S] */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF 65536
#define MAXEV 256

struct echo_conn {
	int fd;
	size_t off, len;
	int eof;
	unsigned char buf[BUF];
};

static int listen_on(int port, int backlog)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
		listen(fd, backlog) != 0 || getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		perror("mtls-echo: listen");
		exit(1);
	}
	printf("port %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

static void drop(int ep, struct echo_conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Read what fits, write what is buffered; close when done. */
static void serve(int ep, struct echo_conn *c)
{
	struct epoll_event ev = {.data.ptr = c};
	ssize_t n;
	int i;

	for (i = 0; i < 16; i++) {
		if (c->len == 0 && !c->eof) {
			n = read(c->fd, c->buf, BUF);
			if (n == 0)
				c->eof = 1;
			else if (n > 0)
				c->off = 0, c->len = (size_t)n;
			else if (errno != EAGAIN)
				return drop(ep, c);
		}
		if (c->len > c->off) {
			n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
			if (n > 0)
				c->off += (size_t)n;
			else if (n < 0 && errno != EAGAIN)
				return drop(ep, c);
			if (c->off == c->len)
				c->off = c->len = 0;
		}
		if (c->len > 0 || c->eof)
			break;
	}
	if (c->eof && c->len == 0)
		return drop(ep, c);
	ev.events = c->len > 0 ? EPOLLOUT : EPOLLIN;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

int main(int argc, char **argv)
{
	struct epoll_event ev, evs[MAXEV];
	int port = 0, seconds = 600, stall = 0, lfd, ep, n, i, fd;
	unsigned long accepted = 0;
	time_t end;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--stall") == 0)
			stall = atoi(argv[i + 1]);
	}
	signal(SIGPIPE, SIG_IGN);
	lfd = listen_on(port, stall ? 0 : 1024);
	if (stall) {
		struct sockaddr_in sin;
		socklen_t len = sizeof(sin);

		getsockname(lfd, (struct sockaddr *)&sin, &len);
		for (i = 0; i < 2; i++) { /* the queue holds one; the second waits */
			fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			(void)!connect(fd, (struct sockaddr *)&sin, len);
		}
		for (end = time(NULL) + seconds; time(NULL) < end;)
			sleep(1);
		return 0;
	}
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	end = time(NULL) + seconds;
	while (time(NULL) < end) {
		n = epoll_wait(ep, evs, MAXEV, 1000);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr != NULL) {
				serve(ep, evs[i].data.ptr);
				continue;
			}
			while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
				struct echo_conn *c = calloc(1, sizeof(*c));
				if (c == NULL) {
					close(fd);
					continue;
				}
				c->fd = fd;
				printf("accepted %lu\n", ++accepted);
				fflush(stdout);
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			}
		}
	}
	return 0;
}
