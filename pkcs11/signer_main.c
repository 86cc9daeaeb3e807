/* mtls-signer: the process that loads the PKCS#11 module and holds the
 * PIN, so the network-facing process never does (DESIGN.md, decision 5).
 *
 * Started by signer_new_process() with a SOCK_SEQPACKET socket on fd 3
 * and nothing secret on argv or in the environment. It reads one OPEN
 * (the configuration), opens every key, answers, then serves INFO, SIGN,
 * CERTS and STATE requests: the main thread reads and checks packets, a
 * small pool of workers signs, reads certificates and sends replies (one
 * atomic packet each, matched by id, so several sessions of the token work
 * at once). STATE never waits for a session, so the main thread answers it
 * itself, ahead of queued signatures: a health check stays prompt while
 * the token is busy. Like relayd's ca.c it
 * trusts nothing it reads: a malformed packet, an error or a failed open
 * logs one line and ends the process at once. EOF is the normal stop. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mtls/log.h"
#include "mtls/secret.h"
#include "signer_msg.h"

#define SIGNER_FD 3
#define QUEUE_MAX 64 /* more than a client keeps in flight */
#define WORKERS_DEFAULT 4
#define WORKERS_MAX 8

enum {
	EXIT_EOF = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_MALFORMED = 3,
};

struct server {
	struct p11_key *keys[SIGNER_MAX_KEYS];
	size_t nkeys;
	uint32_t max_sessions;
	/* The bridge may read the PIN sources again on a re-login. */
	char pin_file[SIGNER_URI_MAX + 1];
	char pin_credential[SIGNER_URI_MAX + 1];
	pthread_mutex_t mu;
	pthread_cond_t nonempty;
	pthread_cond_t nonfull;
	struct signer_msg_req queue[QUEUE_MAX];
	size_t head;
	size_t count;
};

static struct server srv = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.nonempty = PTHREAD_COND_INITIALIZER,
	.nonfull = PTHREAD_COND_INITIALIZER,
};

static _Noreturn void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static _Noreturn void die(int code, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	mtls_log(MTLS_LOG_ERR, "mtls-signer: %s", msg);
	_exit(code);
}

static void send_packet(const uint8_t *pkt, size_t len)
{
	if (send(SIGNER_FD, pkt, len, MSG_NOSIGNAL) != (ssize_t)len)
		die(EXIT_ERROR, "send: %s", strerror(errno));
}

/* One packet of at most cap bytes; EOF ends the process quietly. */
static size_t recv_packet(uint8_t *buf, size_t cap)
{
	ssize_t n;

	do
		n = recv(SIGNER_FD, buf, cap, MSG_TRUNC);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		_exit(EXIT_EOF);
	if (n < 0)
		die(EXIT_ERROR, "recv: %s", strerror(errno));
	if ((size_t)n > cap)
		die(EXIT_MALFORMED, "malformed message: %zd-byte packet over the %zu-byte limit", n,
			cap);
	return (size_t)n;
}

static void setup(int argc)
{
	int type = 0, nul;
	socklen_t len = sizeof(type);

	mtls_log_set_level(MTLS_LOG_NOTICE);
	if (argc != 1)
		die(EXIT_USAGE, "takes no arguments: mtls-agent starts it with its socket on fd 3");
	if (mtls_harden_process() != 0)
		die(EXIT_ERROR, "%s", mtls_err_detail());
	if (getsockopt(SIGNER_FD, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET)
		die(EXIT_USAGE,
			"fd 3 is not a SOCK_SEQPACKET socket: mtls-agent starts this helper, it is not run by hand");
	/* Nothing of the parent's but the socket, and no input. */
	closefrom(SIGNER_FD + 1);
	if ((nul = open("/dev/null", O_RDWR)) < 0 || dup2(nul, STDIN_FILENO) < 0)
		die(EXIT_ERROR, "/dev/null: %s", strerror(errno));
	if (nul != STDIN_FILENO)
		close(nul);
	/* Children a module may start must not inherit the socket. */
	(void)fcntl(SIGNER_FD, F_SETFD, FD_CLOEXEC);
}

static void opt_string(const struct signer_msg_str *s, int present, char *dst, const char **out)
{
	*out = NULL;
	if (!present)
		return;
	memcpy(dst, s->p, s->len);
	dst[s->len] = '\0';
	*out = dst;
}

static void options_from(const struct signer_msg_open *m, struct p11_options *o)
{
	memset(o, 0, sizeof(*o));
	opt_string(&m->pin_file, (m->flags & SIGNER_OPEN_HAS_PIN_FILE) != 0, srv.pin_file,
		&o->pin_file);
	opt_string(&m->pin_credential, (m->flags & SIGNER_OPEN_HAS_PIN_CRED) != 0,
		srv.pin_credential, &o->pin_credential);
	o->allow_pin_value = (m->flags & SIGNER_OPEN_ALLOW_PIN_VALUE) != 0;
	o->allow_final_try = (m->flags & SIGNER_OPEN_ALLOW_FINAL_TRY) != 0;
	o->max_sessions = m->max_sessions;
	srv.max_sessions = m->max_sessions;
	o->rescan_ms = m->rescan_ms;
	o->wait_ms = m->wait_ms;
}

/* Open every key; the URI copies may hold pin-value and are wiped. */
static int open_keys(const struct signer_msg_open *m)
{
	char uri[SIGNER_URI_MAX + 1];
	struct p11_options opt;
	size_t i;
	int rc = 0;

	options_from(m, &opt);
	for (i = 0; i < m->nkeys && rc == 0; i++) {
		memcpy(uri, m->keys[i].p, m->keys[i].len);
		uri[m->keys[i].len] = '\0';
		if ((rc = p11_key_open(uri, &opt, &srv.keys[i])) != 0)
			signer_detail_prefix(rc, "key %zu", i);
		mtls_wipe(uri, sizeof(uri));
	}
	srv.nkeys = m->nkeys;
	return rc;
}

/* Read OPEN, open the keys and answer; a failure is answered, then ends
 * the process (the client starts a new one when it wants to). */
static void serve_open(void)
{
	static uint8_t buf[SIGNER_MSG_MAX];
	static struct signer_msg_open m;
	uint8_t reply[SIGNER_REPLY_MAX];
	struct signer_msg_hdr h;
	const uint8_t *body;
	size_t n, len;
	int rc;

	n = recv_packet(buf, sizeof(buf));
	if (signer_msg_decode_hdr(buf, n, &h, &body) != 0 ||
		signer_msg_decode_open(&h, body, &m) != 0)
		die(EXIT_MALFORMED, "malformed OPEN: %s", mtls_err_detail());
	rc = open_keys(&m);
	mtls_wipe(buf, sizeof(buf));
	if (signer_msg_encode_open_reply(
		    h.id, rc, rc != 0 ? mtls_err_detail() : NULL, reply, sizeof(reply), &len) != 0)
		die(EXIT_ERROR, "cannot encode OPEN_REPLY: %s", mtls_err_detail());
	send_packet(reply, len);
	if (rc != 0)
		die(EXIT_ERROR, "%s", mtls_err_detail());
}

static void reply_sign(const struct signer_msg_req *q, uint8_t *pkt, size_t cap, size_t *len)
{
	uint8_t sig[P11_SIG_MAX];
	size_t siglen = q->outmax;
	int rc;

	mtls_err_clear();
	rc = p11_key_sign(srv.keys[q->key], q->sig, q->in, q->inlen, sig, &siglen);
	if (signer_msg_encode_sign_reply(
		    q->id, rc, rc != 0 ? mtls_err_detail() : NULL, sig, siglen, pkt, cap, len) != 0)
		(void)signer_msg_encode_sign_reply(
			q->id, MTLS_ERR_INTERNAL, mtls_err_detail(), NULL, 0, pkt, cap, len);
	mtls_wipe(sig, sizeof(sig));
}

static void reply_info(const struct signer_msg_req *q, uint8_t *pkt, size_t cap, size_t *len)
{
	struct signer_key_info info;
	int rc;

	mtls_err_clear();
	rc = signer_fill_key_info(srv.keys[q->key], &info);
	if (signer_msg_encode_info_reply(
		    q->id, rc, rc != 0 ? mtls_err_detail() : NULL, &info, pkt, cap, len) != 0)
		(void)signer_msg_encode_info_reply(
			q->id, MTLS_ERR_INTERNAL, mtls_err_detail(), NULL, pkt, cap, len);
}

static void reply_certs(const struct signer_msg_req *q, uint8_t *pkt, size_t cap, size_t *len)
{
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0;
	int rc;

	mtls_err_clear();
	rc = signer_read_certs(srv.keys[q->key], q->uri, &certs, &lens, &n);
	if (signer_msg_encode_certs_reply(q->id, rc, rc != 0 ? mtls_err_detail() : NULL,
		    (const uint8_t *const *)certs, lens, n, pkt, cap, len) != 0)
		(void)signer_msg_encode_certs_reply(
			q->id, MTLS_ERR_INTERNAL, mtls_err_detail(), NULL, NULL, 0, pkt, cap, len);
	p11_certs_free(certs, lens, n);
}

/* Answered by the main thread: p11_token_check() never waits for a
 * session, never signs and never logs in. */
static void serve_state(const struct signer_msg_req *q)
{
	uint8_t pkt[SIGNER_STATE_REPLY_MAX];
	enum signer_token_state state;
	size_t len = 0;
	int rc;

	mtls_err_clear();
	rc = p11_token_check(p11_key_token(srv.keys[q->key]));
	state = signer_state_of(rc);
	/* Other failures travel as the status; the client calls them
	 * unreachable. */
	if (state == SIGNER_TOKEN_UNREACHABLE)
		(void)signer_msg_encode_state_reply(
			q->id, rc, state, mtls_err_detail(), pkt, sizeof(pkt), &len);
	else
		(void)signer_msg_encode_state_reply(q->id, 0, state,
			rc != 0 ? mtls_err_detail() : NULL, pkt, sizeof(pkt), &len);
	if (len == 0)
		die(EXIT_ERROR, "cannot encode a STATE_REPLY: %s", mtls_err_detail());
	send_packet(pkt, len);
}

static void *worker(void *arg)
{
	/* Room for the largest reply, a CERTS_REPLY (64 KiB): the threads
	 * have the default stack. */
	uint8_t pkt[SIGNER_ANY_REPLY_MAX];
	struct signer_msg_req q;
	size_t len;

	for (;;) {
		pthread_mutex_lock(&srv.mu);
		while (srv.count == 0)
			pthread_cond_wait(&srv.nonempty, &srv.mu);
		q = srv.queue[srv.head];
		srv.head = (srv.head + 1) % QUEUE_MAX;
		srv.count--;
		pthread_cond_signal(&srv.nonfull);
		pthread_mutex_unlock(&srv.mu);
		len = 0;
		if (q.type == SIGNER_MSG_SIGN)
			reply_sign(&q, pkt, sizeof(pkt), &len);
		else if (q.type == SIGNER_MSG_CERTS)
			reply_certs(&q, pkt, sizeof(pkt), &len);
		else
			reply_info(&q, pkt, sizeof(pkt), &len);
		if (len == 0)
			die(EXIT_ERROR, "cannot encode a reply: %s", mtls_err_detail());
		send_packet(pkt, len);
	}
	return NULL;
}

static void start_workers(uint32_t max_sessions)
{
	size_t i, n = WORKERS_DEFAULT;
	pthread_t t;
	int rc;

	if (max_sessions != 0)
		n = max_sessions < WORKERS_MAX ? max_sessions : WORKERS_MAX;
	for (i = 0; i < n; i++)
		if ((rc = pthread_create(&t, NULL, worker, NULL)) != 0)
			die(EXIT_ERROR, "pthread_create: %s", strerror(rc));
}

static void enqueue(const struct signer_msg_req *q)
{
	pthread_mutex_lock(&srv.mu);
	while (srv.count == QUEUE_MAX)
		pthread_cond_wait(&srv.nonfull, &srv.mu);
	srv.queue[(srv.head + srv.count) % QUEUE_MAX] = *q;
	srv.count++;
	pthread_cond_signal(&srv.nonempty);
	pthread_mutex_unlock(&srv.mu);
}

int main(int argc, char **argv)
{
	uint8_t buf[SIGNER_REQ_MAX];
	struct signer_msg_req q;
	struct signer_msg_hdr h;
	const uint8_t *body;
	size_t n;

	setup(argc);
	serve_open();
	start_workers(srv.max_sessions);
	for (;;) {
		n = recv_packet(buf, sizeof(buf));
		if (signer_msg_decode_hdr(buf, n, &h, &body) != 0 ||
			signer_msg_decode_req(&h, body, srv.nkeys, &q) != 0)
			die(EXIT_MALFORMED, "malformed message: %s", mtls_err_detail());
		if (q.type == SIGNER_MSG_STATE)
			serve_state(&q);
		else
			enqueue(&q);
	}
}
