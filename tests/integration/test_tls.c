/* The agent's TLS layer (agent/tls*.c) against real peers on 127.0.0.1:
 * openssl s_server / s_client, our own client and server, with the token
 * key on SoftHSM2 behind the fault-injecting module (whose calls_log
 * counts C_Sign). Driven without the event loop: a small poll loop here
 * calls tls_conn_handshake/read/write.
 *
 *   test_tls SCENARIO [local|process [PKI]]
 *
 * run through run-with-token.sh. PKI is a directory made by
 * tests/lib/mkpki.sh for the template token (every test token is a copy
 * of it, with the same keys); without it the test makes its own. Each scenario is one ctest test. Every
 * wait is bounded, every process started here is stopped by its pid. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "mtls/signer.h"
#include "tls.h"
#include "tls_ext.h"

extern char **environ;

#define SKIP 77
#define IO_TIMEOUT_MS 10000

enum { K_EC256, K_RSA2048, K_EC384, K_RSA3072, K_COUNT };
static const char *const key_label[K_COUNT] = {"ec256", "rsa2048", "ec384", "rsa3072"};

static const char *mode = "local";
static char dir[512], pki[600], calls_log[600], fault_conf[600];
static struct signer *signer;

/* ---- small helpers ---- */

/* base/name, interned: the same path is the same stable pointer, so a
 * cfg_tunnel may keep it for the whole test. */
static const char *path_in(const char *base, const char *name)
{
	static char paths[128][700];
	static int n;
	char p[700];
	int i;

	snprintf(p, sizeof(p), "%s/%s", base, name);
	for (i = 0; i < n; i++)
		if (strcmp(paths[i], p) == 0)
			return paths[i];
	if (n == 128) {
		fprintf(stderr, "too many paths\n");
		exit(1);
	}
	memcpy(paths[n], p, sizeof(p));
	return paths[n++];
}

static const char *pk(const char *name)
{
	return path_in(pki, name);
}

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static int file_has(const char *path, const char *needle)
{
	static char buf[1 << 16];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

static void show_file(const char *what, const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return;
	fprintf(stderr, "---- %s (%s) ----\n", what, path);
	while (n++ < 40 && fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fclose(f);
}

static long sign_calls(void)
{
	return itest_count_calls(calls_log, "C_Sign");
}

/* ---- processes (openssl peers) ---- */

struct proc {
	pid_t pid;
	char log[700];
	int status; /* exit status once reaped, else -1 */
};

static int proc_start(struct proc *p, const char *const *argv, const char *input)
{
	static int seq;
	posix_spawn_file_actions_t fa;
	int rc;

	memset(p, 0, sizeof(*p));
	p->status = -1;
	snprintf(p->log, sizeof(p->log), "%s/peer-%d.log", dir, ++seq);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(
		&fa, STDIN_FILENO, input ? input : "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(
		&fa, STDOUT_FILENO, p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
	rc = posix_spawnp(&p->pid, argv[0], &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		fprintf(stderr, "spawn %s: %s\n", argv[0], strerror(rc));
		p->pid = 0;
		return -1;
	}
	return 0;
}

/* Wait at most ms for the process to exit; 1 if it did. */
static int proc_wait(struct proc *p, int ms)
{
	double end = itest_now_ms() + ms;
	int st;

	if (p->pid <= 0)
		return 1;
	for (;;) {
		pid_t r = waitpid(p->pid, &st, WNOHANG);

		if (r == p->pid) {
			p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			p->pid = 0;
			return 1;
		}
		if (r < 0 && errno != EINTR)
			return 1;
		if (itest_now_ms() > end)
			return 0;
		sleep_ms(5);
	}
}

static void proc_stop(struct proc *p)
{
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGTERM);
	if (!proc_wait(p, 2000)) {
		kill(p->pid, SIGKILL);
		proc_wait(p, 2000);
	}
}

/* openssl s_server on a free port: args after the port, NULL-ended. */
static int s_server_start(struct proc *p, int *port, const char *const *args)
{
	const char *argv[64];
	char accept[64];
	int attempt, i, n;

	for (attempt = 0; attempt < 10; attempt++) {
		*port = 20000 + (int)((unsigned)rand() % 12000);
		snprintf(accept, sizeof(accept), "127.0.0.1:%d", *port);
		n = 0;
		argv[n++] = "openssl";
		argv[n++] = "s_server";
		argv[n++] = "-accept";
		argv[n++] = accept;
		for (i = 0; args[i] != NULL && n < 62; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		if (proc_start(p, argv, NULL) != 0)
			return -1;
		for (i = 0; i < 500; i++) {
			if (file_has(p->log, "ACCEPT"))
				return 0;
			if (proc_wait(p, 0))
				break;
			sleep_ms(10);
		}
		proc_stop(p);
		if (!file_has(p->log, "in use")) {
			show_file("s_server did not start", p->log);
			return -1;
		}
	}
	return -1;
}

/* ---- sockets and the poll loop ---- */

/* Non-blocking, and no Nagle delay (a TLS flight followed by a small
 * record would otherwise wait for a delayed ACK: 40 ms per connection). */
static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL), one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int wait_fd(int fd, int want, double deadline)
{
	struct pollfd pfd = {fd, (short)(want == TLS_WANT_WRITE ? POLLOUT : POLLIN), 0};
	int left = (int)(deadline - itest_now_ms());

	if (left <= 0)
		return -1;
	return poll(&pfd, 1, left) > 0 ? 0 : -1;
}

static int tcp_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || set_nonblock(fd) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int tcp_listen(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 64) != 0 ||
		getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

static int tcp_accept(int lfd, int ms)
{
	struct pollfd pfd = {lfd, POLLIN, 0};
	int fd;

	if (poll(&pfd, 1, ms) <= 0)
		return -1;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0 && set_nonblock(fd) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int handshake(struct tls_conn *c, int fd)
{
	double deadline = itest_now_ms() + IO_TIMEOUT_MS;
	int want, rc;

	while ((rc = tls_conn_handshake(c, &want)) == MTLS_ERR_AGAIN)
		if (wait_fd(fd, want, deadline) != 0)
			return mtls_err_set(
				MTLS_ERR_TIMEOUT, "handshake timed out (want %d)", want);
	return rc;
}

static int write_all(struct tls_conn *c, int fd, const char *buf, size_t len)
{
	double deadline = itest_now_ms() + IO_TIMEOUT_MS;
	size_t off = 0;
	long n;
	int want;

	while (off < len) {
		n = tls_conn_write(c, buf + off, len - off, &want);
		if (n == MTLS_ERR_AGAIN) {
			if (wait_fd(fd, want, deadline) != 0)
				return MTLS_ERR_TIMEOUT;
			continue;
		}
		if (n <= 0)
			return n < 0 ? (int)n : MTLS_ERR_IO;
		off += (size_t)n;
	}
	return 0;
}

/* Read until a newline (kept) or len-1 bytes; NUL-terminates. */
static int read_line(struct tls_conn *c, int fd, char *buf, size_t len)
{
	double deadline = itest_now_ms() + IO_TIMEOUT_MS;
	size_t off = 0;
	long n;
	int want;

	while (off + 1 < len && (off == 0 || buf[off - 1] != '\n')) {
		n = tls_conn_read(c, buf + off, len - 1 - off, &want);
		if (n == MTLS_ERR_AGAIN) {
			if (wait_fd(fd, want, deadline) != 0)
				return MTLS_ERR_TIMEOUT;
			continue;
		}
		if (n <= 0) {
			buf[off] = '\0';
			return n < 0 ? (int)n : MTLS_ERR_IO;
		}
		off += (size_t)n;
	}
	buf[off] = '\0';
	return 0;
}

/* ---- the signer and tunnels ---- */

/* The signer over the fault module (pass-through unless the config says
 * otherwise), so calls_log counts every C_Sign of every mode. */
static void signer_open(void)
{
	static char uris[K_COUNT][SIGNER_URI_MAX];
	const char *list[K_COUNT];
	struct signer_config cfg;
	int i, rc;

	for (i = 0; i < K_COUNT; i++)
		list[i] = itest_uri(uris[i], sizeof(uris[i]), key_label[i], 1);
	memset(&cfg, 0, sizeof(cfg));
	cfg.key_uris = list;
	cfg.nkeys = K_COUNT;
	cfg.p11.pin_file = itest_env("MTLS_TEST_PIN_FILE");
	rc = strcmp(mode, "process") == 0 ? signer_new_process(&cfg, NULL, &signer)
					  : signer_new_local(&cfg, &signer);
	if (rc != 0) {
		fprintf(stderr, "signer (%s mode): %s: %s\n", mode, mtls_strerror(rc),
			mtls_err_detail());
		exit(1);
	}
}

static void tunnel_init(
	struct cfg_tunnel *t, enum tunnel_mode m, const char *cert, int vmin, int vmax)
{
	memset(t, 0, sizeof(*t));
	t->name = "test";
	t->mode = m;
	t->listen = "127.0.0.1:0";
	t->target = "127.0.0.1:1";
	t->cert = (char *)pk(cert);
	t->cacert = (char *)pk("ca.pem");
	t->server_name = m == TUNNEL_CLIENT ? "localhost" : NULL;
	t->tls_min = vmin;
	t->tls_max = vmax;
}

static struct tls_side *side_new(const struct cfg_tunnel *t, int key)
{
	struct tls_side *side = NULL;
	int rc = tls_side_new(t, signer, (unsigned)key, &side);

	if (rc != 0)
		fprintf(stderr, "tls_side_new: %s: %s\n", mtls_strerror(rc), mtls_err_detail());
	return side;
}

struct result {
	int rc; /* handshake */
	char detail[512];
	int echoed; /* the echo came back */
	int resumed;
	unsigned sigs;
	char version[16];
	char peer[256];
};

static void result_fill(struct result *r, struct tls_conn *c, int rc)
{
	r->rc = rc;
	snprintf(r->detail, sizeof(r->detail), "%s", rc ? mtls_err_detail() : "");
	if (c == NULL)
		return;
	r->resumed = tls_conn_resumed(c);
	r->sigs = tls_conn_signatures(c);
	snprintf(r->version, sizeof(r->version), "%s", tls_conn_version(c));
	snprintf(r->peer, sizeof(r->peer), "%s", tls_conn_peer(c));
}

/* Our client against a line-reversing server on port: handshake, then
 * "hello" must come back as "olleh". */
static void client_once(struct tls_side *side, int port, struct result *r)
{
	struct tls_conn *c = NULL;
	char line[128];
	int fd, rc;

	memset(r, 0, sizeof(*r));
	mtls_err_clear();
	if ((fd = tcp_connect(port)) < 0) {
		r->rc = mtls_err_set(
			MTLS_ERR_IO, "connect 127.0.0.1:%d: %s", port, strerror(errno));
		snprintf(r->detail, sizeof(r->detail), "%s", mtls_err_detail());
		return;
	}
	rc = tls_conn_new(side, fd, &c);
	if (rc == 0)
		rc = handshake(c, fd);
	result_fill(r, c, rc);
	if (rc == 0 && write_all(c, fd, "hello\n", 6) == 0 &&
		read_line(c, fd, line, sizeof(line)) == 0)
		r->echoed = strstr(line, "olleh") != NULL;
	if (c != NULL)
		tls_conn_close_notify(c);
	tls_conn_free(c);
	close(fd);
}

/* openssl s_client (extra args, NULL-ended) against our server: the
 * client sends "hello", we answer "olleh". *client_log gets its log. */
static void server_once(struct tls_side *side, const char *const *args, struct result *r,
	char *client_log, size_t loglen)
{
	const char *argv[64];
	char connect[64], line[128];
	struct tls_conn *c = NULL;
	struct proc p;
	int lfd, fd, port, n = 0, i, rc;

	memset(r, 0, sizeof(*r));
	mtls_err_clear();
	if ((lfd = tcp_listen(&port)) < 0) {
		r->rc = MTLS_ERR_IO;
		snprintf(r->detail, sizeof(r->detail), "listen: %s", strerror(errno));
		return;
	}
	snprintf(connect, sizeof(connect), "127.0.0.1:%d", port);
	itest_write_file(path_in(dir, "hello.txt"), "hello\n", 6);
	argv[n++] = "openssl";
	argv[n++] = "s_client";
	argv[n++] = "-connect";
	argv[n++] = connect;
	argv[n++] = "-quiet";
	for (i = 0; args[i] != NULL && n < 62; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (proc_start(&p, argv, path_in(dir, "hello.txt")) != 0) {
		close(lfd);
		r->rc = MTLS_ERR_IO;
		return;
	}
	if ((fd = tcp_accept(lfd, IO_TIMEOUT_MS)) < 0) {
		r->rc = mtls_err_set(MTLS_ERR_TIMEOUT, "s_client did not connect");
		snprintf(r->detail, sizeof(r->detail), "%s", mtls_err_detail());
	} else {
		rc = tls_conn_new(side, fd, &c);
		if (rc == 0)
			rc = handshake(c, fd);
		result_fill(r, c, rc);
		if (rc == 0 && read_line(c, fd, line, sizeof(line)) == 0 &&
			strstr(line, "hello") != NULL && write_all(c, fd, "olleh\n", 6) == 0)
			r->echoed = 1;
		if (c != NULL)
			tls_conn_close_notify(c);
		tls_conn_free(c);
		close(fd);
	}
	close(lfd);
	if (!proc_wait(&p, IO_TIMEOUT_MS))
		proc_stop(&p);
	if (client_log != NULL)
		snprintf(client_log, loglen, "%s", p.log);
}

static void show_result(const char *what, const struct result *r)
{
	printf("%s: rc=%d (%s) detail=\"%s\" version=%s resumed=%d sigs=%u echoed=%d peer=\"%s\"\n",
		what, r->rc, mtls_strerror(r->rc), r->detail, r->version, r->resumed, r->sigs,
		r->echoed, r->peer);
}

/* ---- scenarios: interop ---- */

static const char *version_flag(int v)
{
	return v == 13 ? "-tls1_3" : "-tls1_2";
}

static const char *tok_cert(int key)
{
	static char name[64];

	snprintf(name, sizeof(name), "tok-%s.pem", key_label[key]);
	return name;
}

/* TLS versions: the tunnel's range (tls-min, tls-max) and the one the
 * openssl peer is held to (12 or 13). */
struct versions {
	int tmin, tmax, peer;
};

/* "Signature type: RSA-PSS" (or "...: RSA", PKCS#1) in an openssl peer's
 * log: the scheme our side signed with, as the peer saw it. */
static void check_peer_saw(const char *log, const char *want_sig)
{
	char line[64];

	if (want_sig == NULL)
		return;
	snprintf(line, sizeof(line), "ignature type: %s\n", want_sig);
	CHECK(file_has(log, line));
	if (!file_has(log, line))
		fprintf(stderr, "want \"%s\" in %s\n", line, log);
}

/* Our client with token key `key` against s_server -Verify; sigalgs (or
 * NULL) is what the server asks of client certificates; want_sig (or
 * NULL) the scheme s_server must see in our CertificateVerify. */
static void client_interop_v(int key, struct versions v, const char *server, const char *sigalgs,
	const char *want_version, const char *want_sig)
{
	char cert[64], keyf[64];
	const char *args[16] = {"-cert", cert, "-key", keyf, "-CAfile", pk("ca.pem"), "-Verify",
		"1", "-rev", version_flag(v.peer), NULL};
	struct cfg_tunnel t;
	struct tls_side *side;
	struct result r;
	struct proc p;
	long before;
	int port;

	snprintf(cert, sizeof(cert), "%s.pem", server);
	snprintf(keyf, sizeof(keyf), "%s.key", server);
	args[1] = pk(cert);
	args[3] = pk(keyf);
	if (sigalgs != NULL) {
		args[10] = "-client_sigalgs";
		args[11] = sigalgs;
		args[12] = NULL;
	}
	printf("-- our client (TLS %d-%d) with %s against s_server (TLS %d, cert %s, "
	       "client_sigalgs %s)\n",
		v.tmin, v.tmax, key_label[key], v.peer, server, sigalgs ? sigalgs : "default");
	tunnel_init(&t, TUNNEL_CLIENT, tok_cert(key), v.tmin, v.tmax);
	side = side_new(&t, key);
	CHECK(side != NULL);
	/* mkpki.sh makes the token certificates valid for 30 days. */
	CHECK(side == NULL ||
		(tls_side_cert_expiry(side) > time(NULL) + 29 * 86400 &&
			tls_side_cert_expiry(side) < time(NULL) + 31 * 86400));
	if (side == NULL || s_server_start(&p, &port, args) != 0) {
		CHECK(!"s_server started");
		tls_side_free(side);
		return;
	}
	before = sign_calls();
	client_once(side, port, &r);
	show_result("client", &r);
	CHECK_RC(r.rc, 0);
	CHECK(r.echoed);
	CHECK(strcmp(r.version, want_version) == 0);
	CHECK(r.sigs == 1);
	CHECK(sign_calls() - before == 1);
	CHECK(strstr(r.peer, "CN=peer") != NULL);
	if (r.rc != 0)
		show_file("s_server", p.log);
	proc_stop(&p);
	check_peer_saw(p.log, want_sig);
	tls_side_free(side);
}

static void client_interop(
	int key, int v, const char *server, const char *sigalgs, const char *want_version)
{
	client_interop_v(key, (struct versions){12, 13, v}, server, sigalgs, want_version, NULL);
}

/* openssl s_client with a client certificate against our server; sigalgs
 * (or NULL) is what the client accepts from the server. */
static void server_interop_v(int key, struct versions v, const char *peer, const char *sigalgs,
	const char *want_version, const char *want_sig)
{
	char cert[64], keyf[64], log[700];
	const char *args[16];
	struct cfg_tunnel t;
	struct tls_side *side;
	struct result r;
	long before;
	int n = 0;

	snprintf(cert, sizeof(cert), "%s.pem", peer);
	snprintf(keyf, sizeof(keyf), "%s.key", peer);
	args[n++] = "-cert";
	args[n++] = pk(cert);
	args[n++] = "-key";
	args[n++] = pk(keyf);
	args[n++] = "-CAfile";
	args[n++] = pk("ca.pem");
	args[n++] = "-verify_return_error";
	args[n++] = "-brief"; /* prints the signature type it saw */
	args[n++] = version_flag(v.peer);
	if (sigalgs != NULL) {
		args[n++] = "-sigalgs";
		args[n++] = sigalgs;
	}
	args[n] = NULL;
	printf("-- s_client (TLS %d, cert %s, sigalgs %s) against our server (TLS %d-%d) with "
	       "%s\n",
		v.peer, peer, sigalgs ? sigalgs : "default", v.tmin, v.tmax, key_label[key]);
	tunnel_init(&t, TUNNEL_SERVER, tok_cert(key), v.tmin, v.tmax);
	t.allow.all = 1;
	side = side_new(&t, key);
	CHECK(side != NULL);
	if (side == NULL)
		return;
	before = sign_calls();
	server_once(side, args, &r, log, sizeof(log));
	show_result("server", &r);
	CHECK_RC(r.rc, 0);
	CHECK(r.echoed);
	CHECK(strcmp(r.version, want_version) == 0);
	CHECK(r.sigs == 1);
	CHECK(sign_calls() - before == 1);
	CHECK(file_has(log, "olleh"));
	if (r.rc != 0 || !r.echoed)
		show_file("s_client", log);
	check_peer_saw(log, want_sig);
	tls_side_free(side);
}

static void server_interop(int key, int v, const char *peer, const char *want_version)
{
	server_interop_v(key, (struct versions){12, 13, v}, peer, NULL, want_version, NULL);
}

/* ---- scenarios: refusals ---- */

/* s_client args for a peer certificate (NULL: none) plus extra args. */
static void client_args(const char **args, const char *peer, const char *const *extra)
{
	static char cert[64], key[64];
	int n = 0, i;

	if (peer != NULL) {
		snprintf(cert, sizeof(cert), "%s.pem", peer);
		snprintf(key, sizeof(key), "%s.key", peer);
		args[n++] = "-cert";
		args[n++] = pk(cert);
		args[n++] = "-key";
		args[n++] = pk(key);
	}
	args[n++] = "-CAfile";
	args[n++] = pk("ca.pem");
	for (i = 0; extra != NULL && extra[i] != NULL; i++)
		args[n++] = extra[i];
	args[n] = NULL;
}

/* Our server (EC key, allow-all unless t says otherwise) and s_client with
 * peer: refused with want in the detail, or accepted if want is NULL. */
static void server_expect_key(
	struct cfg_tunnel *t, int key, const char *peer, const char *const *extra, const char *want)
{
	const char *args[24];
	struct tls_side *side;
	struct result r;
	char log[700];

	client_args(args, peer, extra);
	side = side_new(t, key);
	CHECK(side != NULL);
	if (side == NULL)
		return;
	server_once(side, args, &r, log, sizeof(log));
	show_result(peer ? peer : "(no certificate)", &r);
	if (want == NULL) {
		CHECK_RC(r.rc, 0);
		CHECK(r.echoed);
	} else {
		CHECK(r.rc != 0);
		CHECK(!r.echoed);
		CHECK(strstr(r.detail, want) != NULL);
		if (strstr(r.detail, want) == NULL)
			fprintf(stderr, "want \"%s\" in the detail\n", want);
	}
	tls_side_free(side);
}

static void server_expect(
	struct cfg_tunnel *t, const char *peer, const char *const *extra, const char *want)
{
	server_expect_key(t, K_EC256, peer, extra, want);
}

static void server_tunnel(struct cfg_tunnel *t)
{
	tunnel_init(t, TUNNEL_SERVER, "tok-ec256.pem", 12, 13);
	t->allow.all = 1;
}

static void server_refuses(const char *peer, const char *want)
{
	struct cfg_tunnel t;

	server_tunnel(&t);
	t.crl = (char *)pk("crl.pem");
	server_expect(&t, peer, NULL, want);
}

static void server_refuses_tls11(void)
{
	static const char *const extra[] = {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", NULL};
	struct cfg_tunnel t;

	server_tunnel(&t);
	server_expect(&t, "peer", extra, "protocol version");
}

/* A CRL in force refuses the revoked certificate and keeps the others. */
static void server_checks_crl(void)
{
	struct cfg_tunnel t;

	server_tunnel(&t);
	t.crl = (char *)pk("crl.pem");
	server_expect(&t, "peer", NULL, NULL);
	server_expect(&t, "revoked", NULL, "certificate revoked");
}

/* SHA-256 of a certificate's SubjectPublicKeyInfo, by openssl. */
static int spki_sha256(const char *cert, unsigned char out[32])
{
	char cmd[1200], hex[80];
	FILE *f;
	int i, ok;

	snprintf(cmd, sizeof(cmd),
		"openssl x509 -in '%s' -noout -pubkey | openssl pkey -pubin -outform DER | "
		"openssl dgst -sha256 -r",
		cert);
	if ((f = popen(cmd, "r")) == NULL)
		return -1;
	ok = fgets(hex, sizeof(hex), f) != NULL;
	pclose(f);
	for (i = 0; ok && i < 32; i++) {
		unsigned v;

		ok = sscanf(hex + 2 * i, "%2x", &v) == 1;
		out[i] = (unsigned char)v;
	}
	return ok ? 0 : -1;
}

/* Each kind of rule allows peer.pem when it matches and refuses it when it
 * does not. */
static void server_rule(const char *kind)
{
	static char *yes[1], *no[1];
	struct cfg_tunnel t;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		char **v = pass == 0 ? yes : no;

		server_tunnel(&t);
		t.allow.all = 0;
		if (strcmp(kind, "cn") == 0) {
			v[0] = pass == 0 ? "peer" : "peer2";
			t.allow.cn[0] = v[0];
			t.allow.ncn = 1;
		} else if (strcmp(kind, "dns") == 0) {
			v[0] = pass == 0 ? "PEER.test" : "other.test"; /* DNS: any case */
			t.allow.dns[0] = v[0];
			t.allow.ndns = 1;
		} else if (strcmp(kind, "uri") == 0) {
			v[0] = pass == 0 ? "spiffe://test.example/peer"
					 : "spiffe://test.example/peer/x";
			t.allow.uri[0] = v[0];
			t.allow.nuri = 1;
		} else if (strcmp(kind, "ou") == 0) {
			v[0] = pass == 0 ? "peers" : "agents";
			t.allow.ou[0] = v[0];
			t.allow.nou = 1;
		} else {
			CHECK(spki_sha256(pk(pass == 0 ? "peer.pem" : "tok-ec256.pem"),
				      t.allow.spki[0]) == 0);
			t.allow.nspki = 1;
		}
		printf("rule %s, %s:\n", kind, pass == 0 ? "matching" : "not matching");
		server_expect(&t, "peer", NULL, pass == 0 ? NULL : "peer not allowed: CN=peer");
	}
}

/* A server tunnel with no rule at all is refused when built. */
static void server_needs_rules(void)
{
	struct cfg_tunnel t;
	struct tls_side *side = NULL;

	server_tunnel(&t);
	t.allow.all = 0;
	CHECK(tls_side_new(&t, signer, K_EC256, &side) == MTLS_ERR_CONFIG);
	CHECK(strstr(mtls_err_detail(), "allow") != NULL);
	tls_side_free(side);
}

/* Our client against s_server with the given certificate base name. */
static void client_expect_key(struct cfg_tunnel *t, int key, const char *server, const char *want)
{
	char cert[700], keyf[700], name[64];
	const char *args[] = {
		"-cert", cert, "-key", keyf, "-CAfile", pk("ca.pem"), "-Verify", "1", "-rev", NULL};
	struct tls_side *side;
	struct result r;
	struct proc p;
	int port;

	snprintf(name, sizeof(name), "%s.pem", server);
	snprintf(cert, sizeof(cert), "%s", pk(name));
	snprintf(name, sizeof(name), "%s.key", server);
	snprintf(keyf, sizeof(keyf), "%s", pk(name));
	side = side_new(t, key);
	CHECK(side != NULL);
	if (side == NULL)
		return;
	if (s_server_start(&p, &port, args) != 0) {
		CHECK(!"s_server started");
		tls_side_free(side);
		return;
	}
	client_once(side, port, &r);
	show_result(server, &r);
	if (want == NULL) {
		CHECK_RC(r.rc, 0);
		CHECK(r.echoed);
	} else {
		CHECK(r.rc != 0);
		CHECK(strstr(r.detail, want) != NULL);
		if (strstr(r.detail, want) == NULL)
			fprintf(stderr, "want \"%s\" in the detail\n", want);
	}
	proc_stop(&p);
	tls_side_free(side);
}

static void client_expect(struct cfg_tunnel *t, const char *server, const char *want)
{
	client_expect_key(t, K_EC256, server, want);
}

static void client_refuses_servers(void)
{
	struct cfg_tunnel t;
	static char *cn[1] = {"peer2"};

	tunnel_init(&t, TUNNEL_CLIENT, "tok-ec256.pem", 12, 13);
	client_expect(&t, "peer", NULL);
	client_expect(&t, "unknown", "unknown CA");
	client_expect(&t, "expired", "certificate expired");
	client_expect(&t, "future", "certificate not yet valid");
	t.crl = (char *)pk("crl.pem");
	client_expect(&t, "revoked", "certificate revoked");
	t.crl = NULL;
	t.server_name = "other.test";
	client_expect(&t, "peer", "server name mismatch");
	t.server_name = NULL; /* the target's host: an address, checked against IP SANs */
	client_expect(&t, "peer", NULL);
	t.server_name = "127.0.0.2";
	client_expect(&t, "peer", "server address mismatch");
	t.server_name = "PEER.test"; /* DNS names in any case */
	client_expect(&t, "peer", NULL);
	t.server_name = "peer"; /* the CN does not count beside DNS names */
	client_expect(&t, "peer", "server name mismatch");
	t.server_name = "localhost";
	t.allow.cn[0] = cn[0];
	t.allow.ncn = 1;
	client_expect(&t, "peer", "peer not allowed: CN=peer");
}

/* Our certificate must hold the token key. */
static void side_refuses_foreign_certificate(void)
{
	struct cfg_tunnel t;
	struct tls_side *side = NULL;
	int rc;

	tunnel_init(&t, TUNNEL_CLIENT, "tok-ec256-other.pem", 12, 13);
	rc = tls_side_new(&t, signer, K_EC256, &side);
	printf("foreign certificate: rc=%d detail=\"%s\"\n", rc, mtls_err_detail());
	CHECK(rc == MTLS_ERR_KEY);
	CHECK(strstr(mtls_err_detail(), "not for the token key") != NULL);
	CHECK(side == NULL);
	tls_side_free(side);
	/* And the right certificate for another key is refused too. */
	tunnel_init(&t, TUNNEL_CLIENT, "tok-rsa2048.pem", 12, 13);
	CHECK(tls_side_new(&t, signer, K_EC256, &side) == MTLS_ERR_KEY);
	tls_side_free(side);
}

/* ---- scenarios: resumption ---- */

/* Our client resumes with the ticket s_server gave: no token signature. */
static void client_resumes(int v)
{
	const char *args[] = {"-cert", pk("peer.pem"), "-key", pk("peer.key"), "-CAfile",
		pk("ca.pem"), "-Verify", "1", "-rev", version_flag(v), NULL};
	struct cfg_tunnel t;
	struct tls_side *side;
	struct result r;
	struct proc p;
	long before;
	int port, i;

	tunnel_init(&t, TUNNEL_CLIENT, "tok-ec256.pem", 12, 13);
	side = side_new(&t, K_EC256);
	CHECK(side != NULL);
	if (side == NULL || s_server_start(&p, &port, args) != 0) {
		CHECK(!"s_server started");
		tls_side_free(side);
		return;
	}
	before = sign_calls();
	client_once(side, port, &r);
	show_result("first", &r);
	CHECK_RC(r.rc, 0);
	CHECK(r.resumed == 0 && r.sigs == 1);
	for (i = 0; i < 5; i++) {
		client_once(side, port, &r);
		show_result("again", &r);
		CHECK_RC(r.rc, 0);
		CHECK(r.echoed);
		CHECK(r.resumed == 1);
		CHECK(r.sigs == 0);
		CHECK(strstr(r.peer, "CN=peer") != NULL);
	}
	printf("C_Sign calls for 6 connections: %ld\n", sign_calls() - before);
	CHECK(sign_calls() - before == 1);
	proc_stop(&p);
	tls_side_free(side);
}

/* s_client -sess_out, then -sess_in: our server resumes from its own
 * ticket; rotation keeps the previous key for one more period only. */
static void server_resumes(int v)
{
	const char *sess = path_in(dir, "sess.pem");
	const char *out[] = {version_flag(v), "-sess_out", sess, NULL};
	const char *in[] = {version_flag(v), "-sess_in", sess, NULL};
	const char *args[24];
	struct cfg_tunnel t;
	struct tls_side *side;
	struct result r;
	long before;

	server_tunnel(&t);
	side = side_new(&t, K_EC256);
	CHECK(side != NULL);
	if (side == NULL)
		return;
	before = sign_calls();
	client_args(args, "peer", out);
	server_once(side, args, &r, NULL, 0);
	show_result("first", &r);
	CHECK_RC(r.rc, 0);
	CHECK(r.resumed == 0 && r.sigs == 1);
	client_args(args, "peer", in);
	server_once(side, args, &r, NULL, 0);
	show_result("resumed", &r);
	CHECK_RC(r.rc, 0);
	CHECK(r.echoed);
	CHECK(r.resumed == 1 && r.sigs == 0);
	CHECK(sign_calls() - before == 1);
	CHECK_RC(tls_side_rotate_tickets(side), 0);
	server_once(side, args, &r, NULL, 0);
	show_result("after one rotation", &r);
	CHECK(r.rc == 0 && r.resumed == 1);
	CHECK_RC(tls_side_rotate_tickets(side), 0);
	server_once(side, args, &r, NULL, 0);
	show_result("after two rotations", &r);
	CHECK(r.rc == 0 && r.resumed == 0 && r.sigs == 1);
	tls_side_free(side);
}

/* A session made with one server tunnel never resumes on another: that
 * would skip the other tunnel's verification and allow rules. TLS 1.2 and
 * 1.3 tickets; TLS 1.2 session ids are not given at all. */
static void sessions_stay_in_their_tunnel(void)
{
	static const char *const variants[][3] = {
		{"-tls1_2", "-no_ticket", NULL}, {"-tls1_2", NULL, NULL}, {"-tls1_3", NULL, NULL}};
	static char *other[1] = {"somebody-else"};
	struct cfg_tunnel ta, tb;
	struct tls_side *a, *b;
	struct result r;
	size_t i;

	server_tunnel(&ta);
	server_tunnel(&tb);
	tb.allow.all = 0;
	tb.allow.cn[0] = other[0];
	tb.allow.ncn = 1;
	a = side_new(&ta, K_EC256);
	b = side_new(&tb, K_EC256);
	CHECK(a != NULL && b != NULL);
	for (i = 0; a != NULL && b != NULL && i < sizeof(variants) / sizeof(variants[0]); i++) {
		char name[32], log[700];
		const char *sess, *args[24];
		const char *out[6] = {variants[i][0], "-sess_out", NULL, NULL, NULL, NULL};
		const char *in[6] = {variants[i][0], "-sess_in", NULL, NULL, NULL, NULL};

		snprintf(name, sizeof(name), "sess-%zu.pem", i);
		sess = path_in(dir, name);
		out[2] = in[2] = sess;
		out[3] = in[3] = variants[i][1];
		client_args(args, "peer", out);
		server_once(a, args, &r, NULL, 0);
		show_result("tunnel A", &r);
		CHECK_RC(r.rc, 0);
		if (variants[i][1] != NULL) {
			/* No ticket: our servers keep no session cache, so they give
			 * no session id and there is nothing to resume. */
			CHECK(access(sess, F_OK) != 0);
			continue;
		}
		client_args(args, "peer", in);
		server_once(a, args, &r, log, sizeof(log));
		show_result("tunnel A again", &r);
		CHECK(r.rc == 0 && r.resumed == 1);
		if (r.rc != 0)
			show_file("s_client", log);
		server_once(b, args, &r, NULL, 0);
		show_result("tunnel B with A's session", &r);
		CHECK(r.rc != 0 && r.resumed == 0);
		CHECK(strstr(r.detail, "peer not allowed") != NULL);
	}
	tls_side_free(a);
	tls_side_free(b);
}

/* ---- scenarios: CRL reload, token trouble, RSA without PSS ---- */

static void copy_file(const char *from, const char *to)
{
	static char buf[1 << 16];
	char tmp[800];
	FILE *f = fopen(from, "rb");
	size_t n;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	snprintf(tmp, sizeof(tmp), "%s.tmp", to);
	CHECK(itest_write_file(tmp, buf, n) == 0);
	CHECK(rename(tmp, to) == 0);
}

static void server_reloads_crl(void)
{
	const char *live = path_in(dir, "crl-live.pem");
	const char *args[24];
	struct cfg_tunnel t;
	struct tls_side *side;
	struct result r;

	copy_file(pk("crl-empty.pem"), live);
	server_tunnel(&t);
	t.crl = (char *)live;
	side = side_new(&t, K_EC256);
	CHECK(side != NULL);
	if (side == NULL)
		return;
	client_args(args, "revoked", NULL);
	server_once(side, args, &r, NULL, 0);
	show_result("revoked, before the CRL lists it", &r);
	CHECK_RC(r.rc, 0);
	CHECK_RC(tls_side_refresh_crl(side), 0); /* unchanged */
	copy_file(pk("crl.pem"), live);
	CHECK_RC(tls_side_refresh_crl(side), 0);
	server_once(side, args, &r, NULL, 0);
	show_result("revoked, after the reload", &r);
	CHECK(r.rc != 0 && strstr(r.detail, "certificate revoked") != NULL);
	client_args(args, "peer", NULL);
	server_once(side, args, &r, NULL, 0);
	show_result("peer, after the reload", &r);
	CHECK_RC(r.rc, 0);
	/* A broken CRL file keeps the loaded one and says which file. */
	CHECK(itest_write_file(live, "garbage", 7) == 0);
	CHECK(tls_side_refresh_crl(side) != 0);
	CHECK(strstr(mtls_err_detail(), "crl-live.pem") != NULL);
	printf("broken CRL: %s\n", mtls_err_detail());
	client_args(args, "revoked", NULL);
	server_once(side, args, &r, NULL, 0);
	CHECK(r.rc != 0 && strstr(r.detail, "certificate revoked") != NULL);
	tls_side_free(side);
}

/* The signer's reason reaches the handshake's detail; service returns. */
static void client_reports_token_absent(void)
{
	const char *args[] = {"-cert", pk("peer.pem"), "-key", pk("peer.key"), "-CAfile",
		pk("ca.pem"), "-Verify", "1", "-rev", "-num_tickets", "0", NULL};
	struct cfg_tunnel t;
	struct tls_side *side;
	struct result r;
	struct proc p;
	int port;

	tunnel_init(&t, TUNNEL_CLIENT, "tok-ec256.pem", 12, 13);
	side = side_new(&t, K_EC256);
	CHECK(side != NULL);
	if (side == NULL || s_server_start(&p, &port, args) != 0) {
		CHECK(!"s_server started");
		tls_side_free(side);
		return;
	}
	CHECK(itest_fault_conf(fault_conf, "calls_log = %s\nremoved = 1\n", calls_log) == 0);
	client_once(side, port, &r);
	show_result("token removed", &r);
	CHECK(r.rc == MTLS_ERR_TOKEN_ABSENT);
	CHECK(strstr(r.detail, "token not present") != NULL);
	CHECK(itest_fault_conf(fault_conf, "calls_log = %s\nremoved = 0\n", calls_log) == 0);
	sleep_ms(300); /* the bridge rescans at most every 200 ms */
	client_once(side, port, &r);
	show_result("token back", &r);
	CHECK_RC(r.rc, 0);
	CHECK(r.echoed);
	proc_stop(&p);
	tls_side_free(side);
}

/* ---- scenarios: RSA keys on tokens that lack schemes (decision 4) ---- */

/* What the fault module hides for a no_* scenario: RSA-PSS always, and
 * raw RSA or PKCS#1 as the name says. */
static void hide_mechanisms(const char *scenario)
{
	const char *more = "";

	if (strcmp(scenario, "no_pss_no_raw") == 0)
		more = ", CKM_RSA_X_509";
	else if (strcmp(scenario, "no_pss_no_pkcs1") == 0)
		more = ", CKM_RSA_PKCS";
	CHECK(itest_fault_conf(fault_conf,
		      "calls_log = %s\nhide_mechanisms = CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS, "
		      "CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS%s\n",
		      calls_log, more) == 0);
}

/* Lines of the calls log holding needle (" C_SignInit 0x70"...). */
static long log_lines(const char *needle)
{
	char line[256];
	long n = 0;
	FILE *f = fopen(calls_log, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* Every token signature succeeded at its first try: no mechanism the
 * token lacks was asked for (a hidden one fails C_SignInit with
 * CKR_MECHANISM_INVALID, 0x70). */
static void signatures_all_clean(void)
{
	long inits = log_lines(" C_SignInit "), ok = log_lines(" C_SignInit 0x0\n");

	printf("C_SignInit calls: %ld (%ld ok), C_Sign ok: %ld, CKR_MECHANISM_INVALID: %ld\n",
		inits, ok, log_lines(" C_Sign 0x0\n"), log_lines(" C_SignInit 0x70\n"));
	CHECK(inits > 0 && inits == ok);
	CHECK(log_lines(" C_Sign 0x0\n") == ok);
}

static const struct versions tls12_only = {12, 12, 12}, tls13_only = {13, 13, 13};

/* The token lacks RSA-PSS but has raw RSA: the agent pads RSA-PSS and the
 * token signs with CKM_RSA_X_509. TLS 1.3 works, and TLS 1.2 against
 * peers that prefer RSA-PSS (openssl does, for both CertificateVerify and
 * ServerKeyExchange), with every hash TLS uses. */
static void no_pss(void)
{
	struct signer_key_info info;
	struct cfg_tunnel t;
	struct tls_side *side = NULL;

	CHECK_RC(signer_key_info(signer, K_RSA2048, &info), 0);
	CHECK(!(info.caps & P11_CAP_RSA_PSS) && (info.caps & P11_CAP_RSA_PKCS1) &&
		(info.caps & P11_CAP_RSA_RAW));
	tunnel_init(&t, TUNNEL_CLIENT, "tok-rsa2048.pem", 13, 13);
	CHECK_RC(tls_side_new(&t, signer, K_RSA2048, &side), 0);
	tls_side_free(side);
	client_interop_v(K_RSA2048, tls12_only, "peer-rsa", NULL, "TLSv1.2", "RSA-PSS");
	client_interop_v(
		K_RSA2048, tls12_only, "peer-rsa", "rsa_pss_rsae_sha384", "TLSv1.2", "RSA-PSS");
	client_interop_v(
		K_RSA2048, tls12_only, "peer-rsa", "rsa_pss_rsae_sha512", "TLSv1.2", "RSA-PSS");
	server_interop_v(K_RSA2048, tls12_only, "peer", NULL, "TLSv1.2", "RSA-PSS");
	server_interop_v(
		K_RSA2048, tls12_only, "peer-rsa", "rsa_pss_rsae_sha512", "TLSv1.2", "RSA-PSS");
	client_interop_v(K_RSA2048, tls13_only, "peer-rsa", NULL, "TLSv1.3", "RSA-PSS");
	server_interop_v(K_RSA2048, tls13_only, "peer", NULL, "TLSv1.3", "RSA-PSS");
	/* Another modulus size, and tunnels that allow both versions. */
	client_interop_v(
		K_RSA3072, (struct versions){12, 13, 13}, "peer", NULL, "TLSv1.3", "RSA-PSS");
	server_interop_v(
		K_RSA3072, (struct versions){12, 13, 12}, "peer", NULL, "TLSv1.2", "RSA-PSS");
	/* PKCS#1 where the peer asks for it: the token's own CKM_RSA_PKCS. */
	client_interop_v(K_RSA2048, tls12_only, "peer-rsa", "RSA+SHA256", "TLSv1.2", "RSA");
	signatures_all_clean();
}

/* Raw RSA is the token's only RSA mechanism: PKCS#1 is padded here too. */
static void no_pss_no_pkcs1(void)
{
	struct signer_key_info info;

	CHECK_RC(signer_key_info(signer, K_RSA2048, &info), 0);
	CHECK((info.caps & (P11_CAP_RSA_PSS | P11_CAP_RSA_PKCS1 | P11_CAP_RSA_RAW)) ==
		P11_CAP_RSA_RAW);
	/* PKCS#1: asked for by the server, and by this wolfSSL with an EC
	 * server certificate (it then signs PKCS#1 whatever the list says). */
	client_interop_v(K_RSA2048, tls12_only, "peer-rsa", "RSA+SHA256", "TLSv1.2", "RSA");
	client_interop_v(K_RSA2048, tls12_only, "peer", NULL, "TLSv1.2", "RSA");
	server_interop_v(K_RSA2048, tls12_only, "peer-rsa", "RSA+SHA384", "TLSv1.2", "RSA");
	/* RSA-PSS. */
	client_interop_v(K_RSA2048, tls12_only, "peer-rsa", NULL, "TLSv1.2", "RSA-PSS");
	server_interop_v(K_RSA2048, tls13_only, "peer", NULL, "TLSv1.3", "RSA-PSS");
	signatures_all_clean();
}

/* Neither RSA-PSS nor raw RSA: TLS 1.3 is refused with the reason, TLS 1.2
 * uses PKCS#1 signatures where the peer lets wolfSSL choose them. */
static void no_pss_no_raw(void)
{
	struct cfg_tunnel t;
	struct tls_side *side = NULL;
	struct signer_key_info info;
	int rc;

	CHECK_RC(signer_key_info(signer, K_RSA2048, &info), 0);
	CHECK(!(info.caps & (P11_CAP_RSA_PSS | P11_CAP_RSA_RAW)) &&
		(info.caps & P11_CAP_RSA_PKCS1));
	tunnel_init(&t, TUNNEL_CLIENT, "tok-rsa2048.pem", 13, 13);
	rc = tls_side_new(&t, signer, K_RSA2048, &side);
	printf("TLS 1.3 only: rc=%d detail=\"%s\"\n", rc, mtls_err_detail());
	CHECK(rc == MTLS_ERR_MECHANISM);
	CHECK(strstr(mtls_err_detail(), "lacks RSA-PSS") != NULL);
	CHECK(strstr(mtls_err_detail(), "CKM_RSA_X_509") != NULL);
	CHECK(strstr(mtls_err_detail(), "tls-min = 1.2") != NULL);
	tls_side_free(side);
	/* With 1.2 allowed: TLS 1.2 with PKCS#1 signatures. Our client, and the
	 * peer offering 1.3 too. */
	client_interop(K_RSA2048, 12, "peer", NULL, "TLSv1.2");
	tunnel_init(&t, TUNNEL_CLIENT, "tok-rsa2048.pem", 12, 12);
	client_expect_key(&t, K_RSA2048, "peer", NULL);
	tunnel_init(&t, TUNNEL_CLIENT, "tok-rsa2048.pem", 12, 13);
	client_expect_key(&t, K_RSA2048, "peer", NULL);
	/* wolfSSL 5.5.4 picks RSA-PSS whenever the peer lists it before PKCS#1
	 * for the same hash (every current peer does) and has no way to
	 * prefer PKCS#1: for an RSA server certificate (our client) and for
	 * our server, the handshake fails, and says why. */
	client_expect_key(&t, K_RSA2048, "peer-rsa", "token does not offer RSA-PSS");
	tunnel_init(&t, TUNNEL_SERVER, "tok-rsa2048.pem", 12, 13);
	t.allow.all = 1;
	server_expect_key(&t, K_RSA2048, "peer", NULL, "token does not offer RSA-PSS");
	{
		/* A client that offers PKCS#1 only is served. */
		static const char *const pkcs1[] = {"-sigalgs", "RSA+SHA256:ECDSA+SHA256", NULL};

		server_expect_key(&t, K_RSA2048, "peer", pkcs1, NULL);
	}
	printf("C_Sign calls: %ld\n", sign_calls());
}

/* ---- measurements ---- */

/* n connections, each a handshake and one short echo (so a TLS 1.3 ticket
 * is read, as in a tunnel); returns connections per second. */
static double handshakes(struct tls_side *side, int port, int n, int *resumed, int *failed)
{
	double t0 = itest_now_ms();
	struct tls_conn *c;
	char line[32];
	int i, fd, rc;

	*resumed = *failed = 0;
	for (i = 0; i < n; i++) {
		c = NULL;
		if ((fd = tcp_connect(port)) < 0) {
			(*failed)++;
			continue;
		}
		rc = tls_conn_new(side, fd, &c);
		if (rc == 0)
			rc = handshake(c, fd);
		if (rc == 0)
			rc = write_all(c, fd, "hello\n", 6);
		if (rc == 0)
			rc = read_line(c, fd, line, sizeof(line));
		if (rc == 0) {
			*resumed += tls_conn_resumed(c);
			tls_conn_close_notify(c);
		} else if ((*failed)++ == 0) {
			fprintf(stderr, "connection %d: %s\n", i, mtls_err_detail());
		}
		tls_conn_free(c);
		close(fd);
	}
	return n * 1000.0 / (itest_now_ms() - t0);
}

static void bench(void)
{
	const char *full[] = {"-cert", pk("peer.pem"), "-key", pk("peer.key"), "-CAfile",
		pk("ca.pem"), "-Verify", "1", "-rev", "-num_tickets", "0", NULL};
	const char *tickets[] = {"-cert", pk("peer.pem"), "-key", pk("peer.key"), "-CAfile",
		pk("ca.pem"), "-Verify", "1", "-rev", NULL};
	const int n = 200;
	struct cfg_tunnel t;
	struct tls_side *side;
	struct proc p;
	double rate;
	long before, signs;
	int port, resumed, failed;

	tunnel_init(&t, TUNNEL_CLIENT, "tok-ec256.pem", 13, 13);
	side = side_new(&t, K_EC256);
	CHECK(side != NULL);
	if (side == NULL)
		return;
	CHECK(s_server_start(&p, &port, full) == 0);
	if (p.pid > 0) {
		before = sign_calls();
		rate = handshakes(side, port, n, &resumed, &failed);
		signs = sign_calls() - before;
		printf("RESULT full handshakes (TLS 1.3, EC P-256, %s signer, each with a 6-byte echo): %d in a row, %.0f/s, "
		       "%ld C_Sign (%.2f per handshake), %d resumed, %d failed\n",
			mode, n, rate, signs, (double)signs / n, resumed, failed);
		CHECK(failed == 0 && resumed == 0);
		CHECK(signs == n);
		proc_stop(&p);
	}
	tls_side_free(side);
	side = side_new(&t, K_EC256);
	CHECK(side != NULL);
	CHECK(side != NULL && s_server_start(&p, &port, tickets) == 0);
	if (side != NULL && p.pid > 0) {
		before = sign_calls();
		rate = handshakes(side, port, n + 1, &resumed, &failed);
		signs = sign_calls() - before;
		printf("RESULT resumed handshakes (TLS 1.3 tickets, %s signer): %d after one full, "
		       "%.0f/s, %ld C_Sign in all, %d resumed, %d failed\n",
			mode, n, rate, signs, resumed, failed);
		CHECK(failed == 0 && resumed == n);
		CHECK(signs == 1);
		proc_stop(&p);
	}
	tls_side_free(side);
}

/* ---- our client and our server, many threads sharing two sides ---- */

/* Resident memory in KiB. */
static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f != NULL) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

struct pair_job {
	struct tls_side *client, *server;
	int n, ok, resumed;
	long rss_peak; /* KiB, before the thread's cleanup */
};

static int pair_handshake(struct tls_conn *cc, struct tls_conn *sc, const int sv[2])
{
	double deadline = itest_now_ms() + IO_TIMEOUT_MS;
	int cdone = 0, sdone = 0, cw = 0, sw = 0, rc;

	while (!cdone || !sdone) {
		struct pollfd pfd[2] = {{sv[0], 0, 0}, {sv[1], 0, 0}};

		if (!cdone && (rc = tls_conn_handshake(cc, &cw)) != MTLS_ERR_AGAIN) {
			if (rc != 0)
				return rc;
			cdone = 1;
		}
		if (!sdone && (rc = tls_conn_handshake(sc, &sw)) != MTLS_ERR_AGAIN) {
			if (rc != 0)
				return rc;
			sdone = 1;
		}
		if (cdone && sdone)
			break;
		pfd[0].events = (short)(cdone ? 0 : cw == TLS_WANT_WRITE ? POLLOUT : POLLIN);
		pfd[1].events = (short)(sdone ? 0 : sw == TLS_WANT_WRITE ? POLLOUT : POLLIN);
		if (itest_now_ms() > deadline)
			return MTLS_ERR_TIMEOUT;
		poll(pfd, 2, 100);
	}
	return 0;
}

static void *pair_worker(void *arg)
{
	struct pair_job *job = arg;
	int i, sv[2];

	for (i = 0; i < job->n; i++) {
		struct tls_conn *cc = NULL, *sc = NULL;
		char line[32];
		int rc;

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
			continue;
		rc = tls_conn_new(job->client, sv[0], &cc);
		if (rc == 0)
			rc = tls_conn_new(job->server, sv[1], &sc);
		if (rc == 0)
			rc = pair_handshake(cc, sc, sv);
		if (rc == 0 && write_all(cc, sv[0], "ping\n", 5) == 0 &&
			read_line(sc, sv[1], line, sizeof(line)) == 0 &&
			strcmp(line, "ping\n") == 0) {
			job->ok++;
			job->resumed += tls_conn_resumed(cc) && tls_conn_resumed(sc);
			(void)tls_conn_read(cc, line, sizeof(line), &rc); /* take the ticket */
		} else if (rc != 0) {
			fprintf(stderr, "pair handshake: %s\n", mtls_err_detail());
		}
		tls_conn_free(cc);
		tls_conn_free(sc);
		close(sv[0]);
		close(sv[1]);
	}
	job->rss_peak = rss_kib();
	tls_thread_cleanup();
	return NULL;
}

static void parallel_pairs(void)
{
	enum { THREADS = 8, EACH = 25 };
	static char *uri[1] = {"spiffe://test.example/tok-ec256"};
	struct pair_job jobs[THREADS];
	pthread_t th[THREADS];
	struct cfg_tunnel ct, st;
	struct tls_side *cs, *ss;
	int i, ok = 0, resumed = 0;
	long rss0, peak = 0;
	double t0;

	tunnel_init(&ct, TUNNEL_CLIENT, "tok-ec256.pem", 13, 13);
	tunnel_init(&st, TUNNEL_SERVER, "tok-rsa2048.pem", 13, 13);
	st.allow.uri[0] = uri[0];
	st.allow.nuri = 1;
	cs = side_new(&ct, K_EC256);
	ss = side_new(&st, K_RSA2048);
	CHECK(cs != NULL && ss != NULL);
	if (cs == NULL || ss == NULL) {
		tls_side_free(cs);
		tls_side_free(ss);
		return;
	}
	t0 = itest_now_ms();
	rss0 = rss_kib();
	for (i = 0; i < THREADS; i++) {
		jobs[i] = (struct pair_job){cs, ss, EACH, 0, 0, 0};
		CHECK(pthread_create(&th[i], NULL, pair_worker, &jobs[i]) == 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		ok += jobs[i].ok;
		resumed += jobs[i].resumed;
		if (jobs[i].rss_peak > peak)
			peak = jobs[i].rss_peak;
	}
	printf("RESULT %d threads x %d connections, our client (EC) to our server (RSA): %d ok, "
	       "%d resumed, %.0f ms; RSS %ld KiB before, %ld KiB at the peak, %ld KiB after the "
	       "threads' cleanup\n",
		THREADS, EACH, ok, resumed, itest_now_ms() - t0, rss0, peak, rss_kib());
	CHECK(ok == THREADS * EACH);
	CHECK(resumed > 0);
	tls_side_free(cs);
	tls_side_free(ss);
}

/* ---- main ---- */

static void run(const char *s)
{
	if (strcmp(s, "client_ec_tls13") == 0)
		client_interop(K_EC256, 13, "peer", NULL, "TLSv1.3");
	else if (strcmp(s, "client_ec_tls12") == 0)
		client_interop(K_EC256, 12, "peer", NULL, "TLSv1.2");
	else if (strcmp(s, "client_ec384_tls13") == 0)
		client_interop(K_EC384, 13, "peer", NULL, "TLSv1.3");
	else if (strcmp(s, "client_rsa_tls13") == 0)
		client_interop(K_RSA2048, 13, "peer-rsa", NULL, "TLSv1.3");
	else if (strcmp(s, "client_rsa3072_tls13") == 0)
		client_interop(K_RSA3072, 13, "peer", NULL, "TLSv1.3");
	else if (strcmp(s, "client_rsa_tls12") == 0) {
		client_interop(K_RSA2048, 12, "peer", NULL, "TLSv1.2");
		client_interop(K_RSA2048, 12, "peer-rsa", NULL, "TLSv1.2");
	} else if (strcmp(s, "client_rsa_tls12_pss") == 0)
		client_interop(K_RSA2048, 12, "peer-rsa", "rsa_pss_rsae_sha256", "TLSv1.2");
	else if (strcmp(s, "server_ec_tls13") == 0)
		server_interop(K_EC256, 13, "peer", "TLSv1.3");
	else if (strcmp(s, "server_ec_tls12") == 0)
		server_interop(K_EC256, 12, "peer", "TLSv1.2");
	else if (strcmp(s, "server_rsa_tls13") == 0)
		server_interop(K_RSA2048, 13, "peer-rsa", "TLSv1.3");
	else if (strcmp(s, "server_rsa_tls12") == 0)
		server_interop(K_RSA2048, 12, "peer-rsa", "TLSv1.2");
	else if (strcmp(s, "server_refuses_unknown_ca") == 0)
		server_refuses("unknown", "unknown CA");
	else if (strcmp(s, "server_refuses_expired") == 0)
		server_refuses("expired", "certificate expired");
	else if (strcmp(s, "server_refuses_not_yet_valid") == 0)
		server_refuses("future", "certificate not yet valid");
	else if (strcmp(s, "server_refuses_revoked") == 0)
		server_checks_crl();
	else if (strcmp(s, "server_refuses_missing_client_certificate") == 0)
		server_refuses(NULL, "no client certificate");
	else if (strcmp(s, "server_refuses_tls11") == 0)
		server_refuses_tls11();
	else if (strncmp(s, "server_rule_", 12) == 0)
		server_rule(s + 12);
	else if (strcmp(s, "server_needs_rules") == 0)
		server_needs_rules();
	else if (strcmp(s, "client_refuses_servers") == 0)
		client_refuses_servers();
	else if (strcmp(s, "side_refuses_foreign_certificate") == 0)
		side_refuses_foreign_certificate();
	else if (strcmp(s, "client_resumes_tls13") == 0)
		client_resumes(13);
	else if (strcmp(s, "client_resumes_tls12") == 0)
		client_resumes(12);
	else if (strcmp(s, "server_resumes_tls13") == 0)
		server_resumes(13);
	else if (strcmp(s, "server_resumes_tls12") == 0)
		server_resumes(12);
	else if (strcmp(s, "sessions_stay_in_their_tunnel") == 0)
		sessions_stay_in_their_tunnel();
	else if (strcmp(s, "server_reloads_crl") == 0)
		server_reloads_crl();
	else if (strcmp(s, "client_reports_token_absent") == 0)
		client_reports_token_absent();
	else if (strcmp(s, "no_pss") == 0)
		no_pss();
	else if (strcmp(s, "no_pss_no_pkcs1") == 0)
		no_pss_no_pkcs1();
	else if (strcmp(s, "no_pss_no_raw") == 0)
		no_pss_no_raw();
	else if (strcmp(s, "bench") == 0)
		bench();
	else if (strcmp(s, "parallel_pairs") == 0)
		parallel_pairs();
	else {
		fprintf(stderr, "unknown scenario %s\n", s);
		exit(2);
	}
}

int main(int argc, char **argv)
{
	char cmd[1600];
	int own_pki;

	if (argc < 2) {
		fprintf(stderr, "usage: test_tls SCENARIO [local|process]\n");
		return 2;
	}
	if (argc > 2)
		mode = argv[2];
	if (system("openssl version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "SKIP: openssl not found\n");
		return SKIP;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(dir, sizeof(dir), "%s", itest_env("MTLS_TEST_DIR"));
	own_pki = argc <= 3 || access(path_in(argv[3], "crl.pem"), R_OK) != 0;
	snprintf(pki, sizeof(pki), "%s", own_pki ? path_in(dir, "pki") : argv[3]);
	snprintf(calls_log, sizeof(calls_log), "%s/calls.log", dir);
	snprintf(fault_conf, sizeof(fault_conf), "%s/fault.conf", dir);
	itest_env("MTLS_FAULT_LIB");
	snprintf(cmd, sizeof(cmd), "bash '%s' '%s'", MTLS_MKPKI, pki);
	if (own_pki && system(cmd) != 0) {
		fprintf(stderr, "mkpki.sh failed\n");
		return 1;
	}
	setenv("MTLS_FAULT_CONF", fault_conf, 1);
	if (strncmp(argv[1], "no_pss", 6) == 0)
		hide_mechanisms(argv[1]);
	else
		CHECK(itest_fault_conf(fault_conf, "calls_log = %s\n", calls_log) == 0);
	srand((unsigned)getpid() ^ (unsigned)time(NULL));
	CHECK_RC(tls_global_init(), 0);
	signer_open();
	run(argv[1]);
	signer_free(signer);
	tls_global_cleanup();
	return itest_done(argv[1]);
}
