/* mtls-bench: the load side and the plain parts of tests/bench/run.sh.
 *
 *   mtls-bench fwd --target IP:PORT [--port N] [--seconds S]
 *     a plain TCP forwarder (no TLS) on 127.0.0.1:N (0: any free port,
 *     printed as "port N"): the baseline stack. Half-closes are passed on.
 *   mtls-bench sink [--port N] [--seconds S]
 *     a bulk backend: reads and discards; at EOF prints "closed bytes=N"
 *     on stdout, answers "bytes N\n" and closes.
 *   mtls-bench hs --addr IP:PORT [--conns K] [--warmup W] [--seconds T]
 *                 [--tree PID]... [--watch FILE]...
 *     keeps K connections in flight; each connects, writes one byte, reads
 *     the echo and closes. Counts completions during T seconds after W
 *     seconds of warm-up, then lets those in flight finish (30 s at most).
 *     Sums utime+stime of each PID and all its descendants over the
 *     window; notes the size of each FILE (a log that only grows) at the
 *     start and end of the whole run and of the window. Prints one line of
 *     key=value.
 *   mtls-bench bulk --addr IP:PORT --mib N [--seconds S]
 *     one connection writes N MiB to a sink, half-closes and waits for the
 *     sink's answer and close; timed from the first byte to that close.
 *   mtls-bench rtt --addr IP:PORT --direct IP:PORT [--count K] [--seconds S]
 *     one connection through the tunnel (--addr) and one straight to the
 *     echo backend (--direct); K one-byte echoes on each, taking turns;
 *     prints p50 and p99 of each path in microseconds.
 *   mtls-bench procs --tree PID...
 *     the resident memory (KiB), CPU ticks and count of the processes in
 *     the trees under the PIDs.
 *   mtls-bench pids --tree PID...
 *     the pids in those trees, one a line (none if the PIDs are gone).
 *
 * Every loop is bounded by --seconds (default 60) or by a count. Listeners
 * bind 127.0.0.1 only. Exit 0 on success, 1 on failure, 2 on bad usage. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TREES 16
#define MAX_WATCH 8
#define MAX_CONNS 4096
#define MAX_PROCS 65536
#define FWD_BUF 65536
#define MAXEV 256

struct opts {
	const char *addr, *target, *direct;
	int port, seconds, conns, mib, count;
	double warmup, window;
	int ntrees, nwatch;
	int trees[MAX_TREES];
	const char *watch[MAX_WATCH];
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- sockets ---- */

static int parse_addr(const char *addr, struct sockaddr_in *sin)
{
	const char *colon = strrchr(addr, ':');
	char host[64];
	long port;
	char *end;

	if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
		return -1;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		return -1;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

/* A non-blocking connect; 0 with *fd set (maybe still in progress). */
static int dial_nb(const struct sockaddr_in *sin, int *fd)
{
	int one = 1;

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return -1;
	setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(*fd, (const struct sockaddr *)sin, sizeof(*sin)) == 0 || errno == EINPROGRESS)
		return 0;
	close(*fd);
	*fd = -1;
	return -1;
}

static int listen_on(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 4096) != 0 ||
		getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		perror("mtls-bench: listen");
		close(fd);
		return -1;
	}
	printf("port %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

/* ---- /proc: process trees ---- */

struct proc_sample {
	unsigned long long ticks; /* utime + stime, clock ticks */
	long rss_kib;
	int nprocs;
};

struct pinfo {
	int pid, ppid, mark;
	unsigned long long ticks;
};

/* pid, ppid, utime + stime from /proc/PID/stat; comm may hold blanks and
 * parentheses, so fields are counted from the last ')'. */
static int read_stat(int pid, struct pinfo *p)
{
	char path[64], buf[1024], *s;
	unsigned long long ut, st;
	int ppid;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((s = strrchr(buf, ')')) == NULL ||
		sscanf(s + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ppid, &ut,
			&st) != 3)
		return -1;
	p->pid = pid;
	p->ppid = ppid;
	p->ticks = ut + st;
	p->mark = 0;
	return 0;
}

static long read_rss_kib(int pid)
{
	char path[64], line[256];
	long kib = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int list_procs(struct pinfo *ps, int max)
{
	struct dirent *de;
	DIR *d = opendir("/proc");
	int n = 0;
	char *end;
	long pid;

	if (d == NULL)
		return 0;
	while (n < max && (de = readdir(d)) != NULL) {
		pid = strtol(de->d_name, &end, 10);
		if (*end == '\0' && pid > 0 && read_stat((int)pid, &ps[n]) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Marks the roots and, round after round, every child of a marked process
 * (at most as many rounds as processes). */
static void mark_trees(struct pinfo *ps, int n, const int *roots, int nroots)
{
	int i, j, changed = 1, rounds = 0;

	for (i = 0; i < n; i++)
		for (j = 0; j < nroots; j++)
			if (ps[i].pid == roots[j])
				ps[i].mark = 1;
	while (changed && rounds++ < n) {
		changed = 0;
		for (i = 0; i < n; i++) {
			if (ps[i].mark)
				continue;
			for (j = 0; j < n; j++)
				if (ps[j].mark && ps[j].pid == ps[i].ppid)
					break;
			if (j < n)
				ps[i].mark = changed = 1;
		}
	}
}

#define SAMPLE_RSS 1 /* read VmRSS too */
#define SAMPLE_LIST 2 /* print each pid on a line of its own */

static int sample_trees(const int *roots, int nroots, int flags, struct proc_sample *out)
{
	static struct pinfo ps[MAX_PROCS];
	int i, n = list_procs(ps, MAX_PROCS);

	memset(out, 0, sizeof(*out));
	mark_trees(ps, n, roots, nroots);
	for (i = 0; i < n; i++) {
		if (!ps[i].mark)
			continue;
		out->ticks += ps[i].ticks;
		out->nprocs++;
		if (flags & SAMPLE_RSS)
			out->rss_kib += read_rss_kib(ps[i].pid);
		if (flags & SAMPLE_LIST)
			printf("%d\n", ps[i].pid);
	}
	return out->nprocs > 0 ? 0 : -1;
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* ---- hs: connections per second ---- */

enum slot_state { SLOT_IDLE, SLOT_CONNECTING, SLOT_WAITING };

struct slot {
	int fd;
	enum slot_state state;
	double retry_at;
};

struct hs_count {
	unsigned long done, errors, total_done, total_errors;
	int in_window;
};

static void slot_end(struct slot *s, struct hs_count *c, int ok, double t)
{
	close(s->fd);
	s->fd = -1;
	s->state = SLOT_IDLE;
	if (ok) {
		c->total_done++;
		c->done += (unsigned long)c->in_window;
		return;
	}
	c->total_errors++;
	c->errors += (unsigned long)c->in_window;
	s->retry_at = t + 0.01; /* a refusing proxy must not turn this into a spin */
}

static void slot_start(struct slot *s, const struct sockaddr_in *sin, double t)
{
	if (t < s->retry_at)
		return;
	if (dial_nb(sin, &s->fd) == 0)
		s->state = SLOT_CONNECTING;
	else
		s->retry_at = t + 0.01;
}

static void slot_event(struct slot *s, short revents, struct hs_count *c, double t)
{
	unsigned char b = 'x';
	int err = 0;
	socklen_t len = sizeof(err);

	if (s->state == SLOT_CONNECTING) {
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0 ||
			send(s->fd, &b, 1, MSG_NOSIGNAL) != 1)
			return slot_end(s, c, 0, t);
		s->state = SLOT_WAITING;
		return;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR))
		slot_end(s, c, recv(s->fd, &b, 1, 0) == 1, t);
}

static void hs_poll(struct slot *sl, struct pollfd *p, int k, struct hs_count *c, double t)
{
	int i;

	for (i = 0; i < k; i++) {
		p[i].fd = sl[i].fd;
		p[i].events = sl[i].state == SLOT_CONNECTING ? POLLOUT : POLLIN;
		p[i].revents = 0;
	}
	if (poll(p, (nfds_t)k, 10) <= 0)
		return;
	for (i = 0; i < k; i++)
		if (sl[i].fd >= 0 && p[i].revents != 0)
			slot_event(&sl[i], p[i].revents, c, t);
}

#define HS_MARKS 4

struct hs_marks {
	struct proc_sample cpu;
	long watch[MAX_WATCH];
};

static void hs_mark(const struct opts *o, struct hs_marks *m)
{
	int i;

	memset(m, 0, sizeof(*m));
	if (o->ntrees > 0)
		sample_trees(o->trees, o->ntrees, 0, &m->cpu);
	for (i = 0; i < o->nwatch; i++)
		m->watch[i] = file_size(o->watch[i]);
}

static void hs_report(const struct opts *o, const struct hs_count *c,
	const struct hs_marks m[HS_MARKS], double secs, int unfinished)
{
	double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
	double cpu_ms = (double)(m[2].cpu.ticks - m[1].cpu.ticks) * tick_ms;
	int i;

	printf("completed=%lu errors=%lu seconds=%.3f rate=%.1f total_completed=%lu "
	       "total_errors=%lu unfinished=%d",
		c->done, c->errors, secs, (double)c->done / secs, c->total_done, c->total_errors,
		unfinished);
	if (o->ntrees > 0)
		printf(" procs=%d cpu_ms=%.0f cpu_ms_per=%.3f", m[2].cpu.nprocs, cpu_ms,
			c->done > 0 ? cpu_ms / (double)c->done : 0.0);
	for (i = 0; i < o->nwatch; i++)
		printf(" watch%d=%ld-%ld window%d=%ld-%ld", i, m[0].watch[i], m[3].watch[i], i,
			m[1].watch[i], m[2].watch[i]);
	printf("\n");
}

/* After the window no connection starts; those in flight may finish for
 * this long, so that the whole run's count matches the token's log. */
#define HS_DRAIN_S 30.0

static int hs_busy(const struct slot *sl, int k)
{
	int i, n = 0;

	for (i = 0; i < k; i++)
		n += sl[i].fd >= 0;
	return n;
}

static int run_hs(const struct opts *o)
{
	struct slot *sl = calloc((size_t)o->conns, sizeof(*sl));
	struct pollfd *p = calloc((size_t)o->conns, sizeof(*p));
	struct hs_count c = {0};
	struct hs_marks m[HS_MARKS]; /* run start, window start, window end, run end */
	struct sockaddr_in sin;
	double t, tw, tend;
	int i, left;

	if (sl == NULL || p == NULL || parse_addr(o->addr, &sin) != 0)
		return fprintf(stderr, "mtls-bench: bad address or no memory\n"), 2;
	for (i = 0; i < o->conns; i++)
		sl[i].fd = -1;
	hs_mark(o, &m[0]);
	tw = now_s() + o->warmup;
	tend = tw + o->window;
	while ((t = now_s()) < tend) {
		if (!c.in_window && t >= tw) {
			hs_mark(o, &m[1]);
			c.in_window = 1;
			tw = t;
		}
		for (i = 0; i < o->conns; i++)
			if (sl[i].state == SLOT_IDLE)
				slot_start(&sl[i], &sin, t);
		hs_poll(sl, p, o->conns, &c, t);
	}
	hs_mark(o, &m[2]);
	c.in_window = 0;
	t = now_s() - tw;
	while (hs_busy(sl, o->conns) > 0 && now_s() < tend + HS_DRAIN_S)
		hs_poll(sl, p, o->conns, &c, now_s());
	left = hs_busy(sl, o->conns);
	for (i = 0; i < o->conns; i++)
		if (sl[i].fd >= 0)
			close(sl[i].fd);
	hs_mark(o, &m[3]);
	hs_report(o, &c, m, t, left);
	free(sl);
	free(p);
	return c.done > 0 ? 0 : 1;
}

/* ---- bulk: one connection into a sink ---- */

static int wait_fd(int fd, short ev, double deadline)
{
	struct pollfd p = {.fd = fd, .events = ev};
	double left = deadline - now_s();

	if (left <= 0)
		return -1;
	return poll(&p, 1, (int)(left * 1000) + 1) == 1 ? 0 : -1;
}

static int bulk_send(int fd, uint64_t total, double deadline)
{
	static unsigned char buf[256 * 1024];
	uint64_t sent = 0;
	size_t i, n;
	ssize_t w;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	while (sent < total) {
		n = total - sent < sizeof(buf) ? (size_t)(total - sent) : sizeof(buf);
		w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w > 0) {
			sent += (uint64_t)w;
			continue;
		}
		if (w < 0 && errno != EAGAIN)
			return -1;
		if (wait_fd(fd, POLLOUT, deadline) != 0)
			return -1;
	}
	return shutdown(fd, SHUT_WR);
}

/* The sink's answer, then EOF. */
static int bulk_answer(int fd, char *ans, size_t max, double deadline)
{
	size_t got = 0;
	ssize_t r;

	for (;;) {
		if (got >= max - 1)
			return -1;
		r = recv(fd, ans + got, max - 1 - got, 0);
		if (r == 0)
			break;
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (errno != EAGAIN || wait_fd(fd, POLLIN, deadline) != 0)
			return -1;
	}
	ans[got] = '\0';
	return 0;
}

static int run_bulk(const struct opts *o)
{
	uint64_t total = (uint64_t)o->mib << 20;
	unsigned long long sink = 0;
	struct sockaddr_in sin;
	double t0, t1, deadline;
	char ans[64];
	int fd;

	if (parse_addr(o->addr, &sin) != 0 || dial_nb(&sin, &fd) != 0)
		return fprintf(stderr, "mtls-bench: cannot connect to %s\n", o->addr), 1;
	deadline = now_s() + o->seconds;
	if (wait_fd(fd, POLLOUT, deadline) != 0)
		return fprintf(stderr, "mtls-bench: connect timed out\n"), 1;
	t0 = now_s();
	if (bulk_send(fd, total, deadline) != 0 || bulk_answer(fd, ans, sizeof(ans), deadline) != 0)
		return fprintf(stderr, "mtls-bench: bulk transfer failed or timed out\n"), 1;
	t1 = now_s();
	close(fd);
	if (sscanf(ans, "bytes %llu", &sink) != 1 || sink != total)
		return fprintf(stderr,
			       "mtls-bench: the sink got %llu of %llu bytes (answer '%.20s')\n",
			       sink, (unsigned long long)total, ans),
		       1;
	printf("bytes=%llu seconds=%.3f MBps=%.1f sink_bytes=%llu\n", (unsigned long long)total,
		t1 - t0, (double)total / 1e6 / (t1 - t0), sink);
	return 0;
}

/* ---- rtt: one-byte echoes, tunnel and direct interleaved ---- */

static int dial_wait(const char *addr, double deadline)
{
	struct sockaddr_in sin;
	int fd, err = 0;
	socklen_t len = sizeof(err);

	if (parse_addr(addr, &sin) != 0 || dial_nb(&sin, &fd) != 0)
		return -1;
	if (wait_fd(fd, POLLOUT, deadline) != 0 ||
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One byte out and back; the time in microseconds, or -1. */
static double echo_us(int fd, double deadline)
{
	unsigned char b = 'x';
	double t = now_s();

	if (send(fd, &b, 1, MSG_NOSIGNAL) != 1 || wait_fd(fd, POLLIN, deadline) != 0 ||
		recv(fd, &b, 1, 0) != 1)
		return -1;
	return (now_s() - t) * 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void print_pct(const char *name, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	printf(" %s_p50_us=%.0f %s_p99_us=%.0f", name, v[n / 2], name, v[(n * 99) / 100]);
}

/* The two paths take turns, echo by echo (which goes first alternates), so
 * a burst of noise on the machine falls on both alike. */
static int run_rtt(const struct opts *o)
{
	double deadline = now_s() + o->seconds, *v = calloc(2 * (size_t)o->count, sizeof(double));
	int fd[2], i, k, rc = 1;

	fd[0] = o->direct != NULL ? dial_wait(o->direct, deadline) : -1;
	fd[1] = dial_wait(o->addr, deadline);
	/* the first echo through the tunnel waits for its handshake */
	if (v == NULL || fd[0] < 0 || fd[1] < 0 || echo_us(fd[0], deadline) < 0 ||
		echo_us(fd[1], deadline) < 0) {
		fprintf(stderr, "mtls-bench rtt: cannot reach %s and %s\n", o->addr,
			o->direct != NULL ? o->direct : "(no --direct)");
		goto out;
	}
	for (i = 0; i < o->count; i++)
		for (k = 0; k < 2; k++) {
			int path = (i + k) % 2;

			if ((v[path * o->count + i] = echo_us(fd[path], deadline)) < 0) {
				fprintf(stderr, "mtls-bench rtt: echo %d failed\n", i);
				goto out;
			}
		}
	printf("n=%d", o->count);
	print_pct("direct", v, o->count);
	print_pct("tunnel", v + o->count, o->count);
	printf("\n");
	rc = 0;
out:
	for (k = 0; k < 2; k++)
		if (fd[k] >= 0)
			close(fd[k]);
	free(v);
	return rc;
}

/* ---- sink ---- */

struct sink_conn {
	int fd;
	unsigned long long bytes;
};

static void sink_read(int ep, struct sink_conn *c)
{
	static unsigned char buf[256 * 1024];
	char ans[64];
	ssize_t r;
	int i, n;

	for (i = 0; i < 64; i++) {
		r = read(c->fd, buf, sizeof(buf));
		if (r > 0) {
			c->bytes += (unsigned long long)r;
			continue;
		}
		if (r < 0 && errno == EAGAIN)
			return;
		break;
	}
	if (i == 64)
		return;
	if (r == 0) {
		n = snprintf(ans, sizeof(ans), "bytes %llu\n", c->bytes);
		if (send(c->fd, ans, (size_t)n, MSG_NOSIGNAL) != n)
			fprintf(stderr, "mtls-bench sink: answer not sent\n");
	}
	printf("closed bytes=%llu%s\n", c->bytes, r == 0 ? "" : " error");
	fflush(stdout);
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

static void sink_accept(int ep, int lfd)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct sink_conn *c;
	int fd, i;

	for (i = 0; i < 64 && (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;
		i++) {
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		ev.data.ptr = c;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	}
}

static int run_sink(const struct opts *o)
{
	struct epoll_event ev = {.events = EPOLLIN}, evs[MAXEV];
	int lfd = listen_on(o->port), ep = epoll_create1(EPOLL_CLOEXEC), n, i;
	double end = now_s() + o->seconds;

	if (lfd < 0 || ep < 0)
		return 1;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	while (now_s() < end) {
		n = epoll_wait(ep, evs, MAXEV, 1000);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				sink_accept(ep, lfd);
			else
				sink_read(ep, evs[i].data.ptr);
		}
	}
	return 0;
}

/* ---- fwd: the plain baseline ---- */

/* One direction of a forwarded connection: bytes read from `from` wait in
 * buf until written to `to`; at EOF, once drained, `to` is half-closed. */
struct fdir {
	size_t off, len;
	int eof, shut;
	unsigned char buf[FWD_BUF];
};

struct pair;
struct endpoint {
	struct pair *p;
	int fd, side;
	uint32_t interest;
};

struct pair {
	struct endpoint ep[2]; /* 0: the accepted client, 1: the target */
	struct fdir dir[2]; /* dir[i]: from ep[i] to ep[1 - i] */
	int connecting, dead;
	struct pair *next_dead;
};

/* Pairs closed during one batch of events, freed after it: the batch may
 * still hold an event for the other endpoint. */
static struct pair *dead_pairs;

static void pair_free(int epfd, struct pair *p)
{
	int i;

	for (i = 0; i < 2; i++) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, p->ep[i].fd, NULL);
		close(p->ep[i].fd);
	}
	p->dead = 1;
	p->next_dead = dead_pairs;
	dead_pairs = p;
}

static void free_dead_pairs(void)
{
	struct pair *p;

	while ((p = dead_pairs) != NULL) {
		dead_pairs = p->next_dead;
		free(p);
	}
}

/* Moves what it can in direction i; -1 on an error. */
static int dir_pump(struct pair *p, int i)
{
	struct fdir *d = &p->dir[i];
	int from = p->ep[i].fd, to = p->ep[1 - i].fd;
	ssize_t n;
	int rounds;

	for (rounds = 0; rounds < 16; rounds++) {
		if (d->len == 0 && !d->eof) {
			n = read(from, d->buf, sizeof(d->buf));
			if (n == 0)
				d->eof = 1;
			else if (n > 0)
				d->off = 0, d->len = (size_t)n;
			else
				return errno == EAGAIN ? 0 : -1;
		}
		if (d->len > 0) {
			n = send(to, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);
			if (n < 0)
				return errno == EAGAIN ? 0 : -1;
			d->off += (size_t)n;
			if (d->off < d->len)
				return 0;
			d->off = d->len = 0;
		}
		if (d->eof) {
			if (!d->shut && shutdown(to, SHUT_WR) != 0)
				return -1;
			d->shut = 1;
			return 0;
		}
	}
	return 0;
}

static void pair_interest(int epfd, struct pair *p)
{
	struct epoll_event ev;
	uint32_t want;
	int i;

	for (i = 0; i < 2; i++) {
		want = 0;
		if (p->dir[i].len == 0 && !p->dir[i].eof && !(i == 1 && p->connecting))
			want |= EPOLLIN;
		if (p->dir[1 - i].len > 0 || (i == 1 && p->connecting))
			want |= EPOLLOUT;
		if (want == p->ep[i].interest)
			continue;
		ev.events = want;
		ev.data.ptr = &p->ep[i];
		epoll_ctl(epfd, EPOLL_CTL_MOD, p->ep[i].fd, &ev);
		p->ep[i].interest = want;
	}
}

static void pair_event(int epfd, struct endpoint *e)
{
	struct pair *p = e->p;
	int err = 0;
	socklen_t len = sizeof(err);

	if (p->dead)
		return;
	if (p->connecting) {
		if (e->side == 0)
			return pair_interest(epfd, p);
		if (getsockopt(e->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
			return pair_free(epfd, p);
		p->connecting = 0;
	}
	if (dir_pump(p, 0) != 0 || dir_pump(p, 1) != 0 || (p->dir[0].shut && p->dir[1].shut))
		return pair_free(epfd, p);
	pair_interest(epfd, p);
}

static void fwd_accept(int epfd, int lfd, const struct sockaddr_in *target)
{
	struct epoll_event ev;
	struct pair *p;
	int fd, i, k;

	for (k = 0; k < 64 && (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;
		k++) {
		if ((p = calloc(1, sizeof(*p))) == NULL || dial_nb(target, &p->ep[1].fd) != 0) {
			free(p);
			close(fd);
			continue;
		}
		i = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &i, sizeof(i));
		p->ep[0].fd = fd;
		p->connecting = 1;
		for (i = 0; i < 2; i++) {
			p->ep[i].p = p;
			p->ep[i].side = i;
			p->ep[i].interest = i == 0 ? 0 : EPOLLOUT;
			ev.events = p->ep[i].interest;
			ev.data.ptr = &p->ep[i];
			epoll_ctl(epfd, EPOLL_CTL_ADD, p->ep[i].fd, &ev);
		}
	}
}

static int run_fwd(const struct opts *o)
{
	struct epoll_event ev = {.events = EPOLLIN}, evs[MAXEV];
	struct sockaddr_in target;
	int lfd, epfd, n, i;
	double end = now_s() + o->seconds;

	if (o->target == NULL || parse_addr(o->target, &target) != 0)
		return fprintf(stderr, "mtls-bench fwd: bad --target\n"), 2;
	if ((lfd = listen_on(o->port)) < 0 || (epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return 1;
	ev.data.ptr = NULL;
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
	while (now_s() < end) {
		n = epoll_wait(epfd, evs, MAXEV, 1000);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				fwd_accept(epfd, lfd, &target);
			else
				pair_event(epfd, evs[i].data.ptr);
		}
		free_dead_pairs();
	}
	return 0;
}

/* ---- procs ---- */

static int run_procs(const struct opts *o, int list)
{
	struct proc_sample s;

	if (o->ntrees == 0 ||
		sample_trees(o->trees, o->ntrees, list ? SAMPLE_LIST : SAMPLE_RSS, &s) != 0)
		return list ? 0 : (fprintf(stderr, "mtls-bench procs: no such process\n"), 1);
	if (!list)
		printf("procs=%d rss_kib=%ld ticks=%llu\n", s.nprocs, s.rss_kib, s.ticks);
	return 0;
}

/* ---- command line ---- */

static int usage(void)
{
	fprintf(stderr,
		"usage: mtls-bench fwd --target IP:PORT [--port N] [--seconds S]\n"
		"       mtls-bench sink [--port N] [--seconds S]\n"
		"       mtls-bench hs --addr IP:PORT [--conns K] [--warmup W] [--seconds T]"
		" [--tree PID]... [--watch FILE]...\n"
		"       mtls-bench bulk --addr IP:PORT --mib N [--seconds S]\n"
		"       mtls-bench rtt --addr IP:PORT --direct IP:PORT [--count K] [--seconds S]\n"
		"       mtls-bench procs --tree PID...\n"
		"       mtls-bench pids --tree PID...\n");
	return 2;
}

static int parse_opt(struct opts *o, const char *k, const char *v)
{
	if (strcmp(k, "--addr") == 0)
		o->addr = v;
	else if (strcmp(k, "--target") == 0)
		o->target = v;
	else if (strcmp(k, "--port") == 0)
		o->port = atoi(v);
	else if (strcmp(k, "--seconds") == 0) {
		/* a window may be fractional; a time bound is at least 1 s */
		o->window = atof(v);
		o->seconds = o->window < 1 ? 1 : (int)o->window;
	} else if (strcmp(k, "--warmup") == 0)
		o->warmup = atof(v);
	else if (strcmp(k, "--conns") == 0)
		o->conns = atoi(v);
	else if (strcmp(k, "--mib") == 0)
		o->mib = atoi(v);
	else if (strcmp(k, "--direct") == 0)
		o->direct = v;
	else if (strcmp(k, "--count") == 0)
		o->count = atoi(v);
	else if (strcmp(k, "--tree") == 0 && o->ntrees < MAX_TREES)
		o->trees[o->ntrees++] = atoi(v);
	else if (strcmp(k, "--watch") == 0 && o->nwatch < MAX_WATCH)
		o->watch[o->nwatch++] = v;
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.seconds = 60, .window = 5, .warmup = 1, .conns = 16, .mib = 512, .count = 1000};
	const char *mode = argc > 1 ? argv[1] : "";
	int i;

	for (i = 2; i + 1 < argc; i += 2)
		if (parse_opt(&o, argv[i], argv[i + 1]) != 0)
			return usage();
	if (i != argc || o.seconds < 1 || o.seconds > 86400 || o.warmup < 0 || o.window <= 0 ||
		o.conns < 1 || o.conns > MAX_CONNS || o.mib < 1 || o.mib > 1 << 20 || o.count < 1 ||
		o.count > 1000000 || o.port < 0 || o.port > 65535)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(mode, "fwd") == 0)
		return run_fwd(&o);
	if (strcmp(mode, "sink") == 0)
		return run_sink(&o);
	if (strcmp(mode, "hs") == 0 && o.addr != NULL)
		return run_hs(&o);
	if (strcmp(mode, "bulk") == 0 && o.addr != NULL)
		return run_bulk(&o);
	if (strcmp(mode, "rtt") == 0 && o.addr != NULL)
		return run_rtt(&o);
	if (strcmp(mode, "procs") == 0 || strcmp(mode, "pids") == 0)
		return run_procs(&o, strcmp(mode, "pids") == 0);
	return usage();
}
