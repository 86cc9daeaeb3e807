/* Process mode: the PKCS#11 module and the PIN live in a separate signer
 * process (mtls-signer) that answers length-checked messages on a
 * SOCK_SEQPACKET socketpair, like OpenSSH's pkcs11-helper and relayd's ca.
 *
 * Many threads sign at once. Requests go out under the mutex (a SEQPACKET
 * send is one atomic packet); replies come back in any order, matched by
 * id. Whichever waiting thread finds no reader becomes the reader: it
 * polls and receives with the mutex released, hands each reply to its
 * waiter and wakes everyone (leader/follower). Only the reader, or a thread
 * that knows no reader exists, closes the socket, so a descriptor is never
 * closed under a thread still polling it.
 *
 * When the signer dies, breaks the protocol or misses a deadline, it is
 * killed by its pid and reaped, every pending request fails, and the next
 * request starts a new signer. A PIN error is remembered instead: a wrong
 * PIN is never sent to the token again.
 *
 * A token state query (signer_token_state) is such a request too: it is
 * answered unreachable when the signer misses the deadline or dies while
 * asked (and that signer is killed), and it starts a new signer when the
 * last one is gone, so a health check also revives a signer that crashed
 * while idle; a remembered PIN error answers pin-error without asking. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mtls/log.h"
#include "mtls/secret.h"
#include "signer_msg.h"

/* Requests on the wire at once. Small enough that neither direction can
 * fill the socket buffers (about 200 KiB), so a send under the mutex never
 * blocks on a signer that is alive; the signer queues more than this. */
#define PROC_INFLIGHT_MAX 32
#define PROC_TIMEOUT_MS 30000
/* Opening keys (module load, login, object search) is slower than a
 * signature on every token; OPEN never gets less than this. */
#define PROC_OPEN_MIN_MS 10000
#define PROC_RESPAWN_GAP_MS 200
#define PROC_EXIT_GRACE_MS 200 /* a signer that closed is exiting */
#define PROC_STOP_GRACE_MS 1000 /* signer_free: EOF, then SIGTERM, then SIGKILL */

struct pending {
	struct pending *next;
	uint32_t id;
	uint16_t want; /* the reply type expected */
	size_t outmax; /* SIGN: a longer signature breaks the protocol */
	int64_t deadline; /* CLOCK_MONOTONIC ms */
	int done;
	int local; /* failed here (death, timeout), not by the signer */
	struct signer_msg_reply reply;
	/* CERTS: copied out of the reply packet by the reader; the caller
	 * frees them. */
	uint8_t **certs;
	size_t *lens;
	size_t ncerts;
};

struct signer_proc {
	struct signer base;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *helper;
	uint8_t *open_pkt; /* may hold a URI's pin-value: wiped on free */
	size_t open_len;
	unsigned timeout_ms;
	unsigned respawn_gap_ms;

	int fd; /* -1 while no signer runs */
	_Atomic long pid; /* 0 while no signer runs */
	int spawning;
	int reader;
	uint8_t *rbuf; /* the reader's: SIGNER_ANY_REPLY_MAX bytes */
	int broken; /* a send failed; the reader buries the signer */
	char broken_why[128];
	struct pending *pending;
	size_t npending;
	uint32_t next_id;

	int sticky; /* a PIN error: never spawn again */
	char sticky_detail[512];
	int last_fail; /* the last failed start, for the respawn gap */
	int64_t last_fail_ms;
	char last_fail_detail[512];
};

static const struct signer_ops proc_ops;

/* Milliseconds on CLOCK_MONOTONIC: deadlines here and in signer_launch.c. */
int64_t signer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int is_pin_error(int rc)
{
	return rc == MTLS_ERR_PIN_INCORRECT || rc == MTLS_ERR_PIN_LOCKED;
}

/* ---- starting and burying a signer ---- */

static pthread_once_t beside_once = PTHREAD_ONCE_INIT;
static char beside[4096];

static int is_program(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* mtls-signer beside the executable (a build tree), else in
 * ../libexec/mtls/ from it (an install under any prefix, even one that is
 * not the prefix the build was configured with). */
static void find_beside(void)
{
	char exe[4096];
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return;
	*slash = '\0';
	if ((size_t)snprintf(beside, sizeof(beside), "%s/mtls-signer", exe) < sizeof(beside) &&
		is_program(beside))
		return;
	if ((size_t)snprintf(beside, sizeof(beside), "%s/../libexec/mtls/mtls-signer", exe) <
			sizeof(beside) &&
		is_program(beside))
		return;
	beside[0] = '\0';
}

const char *signer_default_helper(void)
{
	const char *env = getenv("MTLS_SIGNER_HELPER");

	if (env != NULL && env[0] != '\0')
		return env;
	pthread_once(&beside_once, find_beside);
	return beside[0] != '\0' ? beside : MTLS_LIBEXECDIR "/mtls-signer";
}

/* Receive one packet within ms into buf; 0, or an error with detail. */
static int recv_within(int fd, int ms, uint8_t *buf, size_t cap, size_t *n)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	int64_t end = signer_now_ms() + ms;
	ssize_t r;

	for (;;) {
		if (poll(&pf, 1, (int)(end - signer_now_ms() > 0 ? end - signer_now_ms() : 0)) == 0)
			return mtls_err_set(
				MTLS_ERR_TIMEOUT, "signer did not answer within %d ms", ms);
		r = recv(fd, buf, cap, MSG_TRUNC | MSG_DONTWAIT);
		if (r >= 0 || (errno != EAGAIN && errno != EINTR))
			break;
	}
	if (r <= 0)
		return mtls_err_set(MTLS_ERR_SIGNER, "signer closed the connection%s%s",
			r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
	if ((size_t)r > cap)
		return mtls_err_set(MTLS_ERR_SIGNER,
			"signer sent a %zd-byte packet, over the %zu-byte limit", r, cap);
	*n = (size_t)r;
	return 0;
}

/* Copy the signer's detail into this thread's, cleaned of control bytes. */
static int signer_says(int status, const char *detail)
{
	char clean[SIGNER_DETAIL_MAX + 1];

	mtls_log_clean(clean, sizeof(clean), detail, strlen(detail));
	return mtls_err_set(status, "signer: %s", clean);
}

/* Send OPEN on a fresh signer and read its answer. */
static int open_signer(const struct signer_proc *p, int fd)
{
	uint8_t buf[SIGNER_REPLY_MAX];
	struct signer_msg_reply rep;
	struct signer_msg_hdr h;
	const uint8_t *body;
	size_t n;
	int ms, rc;

	if (send(fd, p->open_pkt, p->open_len, MSG_NOSIGNAL) != (ssize_t)p->open_len)
		return mtls_err_set(MTLS_ERR_SIGNER, "signer: sending OPEN: %s", strerror(errno));
	ms = p->timeout_ms > PROC_OPEN_MIN_MS ? (int)p->timeout_ms : PROC_OPEN_MIN_MS;
	if ((rc = recv_within(fd, ms, buf, sizeof(buf), &n)) != 0)
		return rc;
	if (signer_msg_decode_hdr(buf, n, &h, &body) != 0 ||
		signer_msg_decode_reply(&h, body, &rep) != 0)
		return signer_detail_prefix(MTLS_ERR_SIGNER, "signer broke the protocol");
	if (rep.type != SIGNER_MSG_OPEN_REPLY || rep.id != 0)
		return mtls_err_set(MTLS_ERR_SIGNER, "signer answered OPEN with another message");
	if (rep.status != 0)
		return signer_says(rep.status, rep.detail);
	return 0;
}

static void set_send_timeout(int fd, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Start a signer and open the keys in it. Touches only p's constant parts:
 * runs without the mutex while other threads wait for it. */
static int start_signer(const struct signer_proc *p, int *fdp, pid_t *pidp)
{
	char how[64], detail[512];
	pid_t pid = 0;
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return mtls_err_set(MTLS_ERR_SIGNER, "signer: socketpair: %s", strerror(errno));
	rc = signer_spawn(p->helper, sv[1], &pid);
	close(sv[1]);
	if (rc != 0)
		goto out;
	set_send_timeout(sv[0], p->timeout_ms);
	if ((rc = open_signer(p, sv[0])) != 0)
		goto out;
	*fdp = sv[0];
	*pidp = pid;
	return 0;
out:
	close(sv[0]);
	if (pid > 0) {
		/* A signer that answered OPEN with an error exits by itself. */
		snprintf(detail, sizeof(detail), "%s", mtls_err_detail());
		signer_reap(
			pid, rc == MTLS_ERR_TIMEOUT ? 0 : PROC_EXIT_GRACE_MS, 0, how, sizeof(how));
		mtls_err_set(rc, "%s", detail);
	}
	return rc;
}

/* Called with the mutex held; returns with it held. */
static int spawn_locked(struct signer_proc *p)
{
	pid_t pid = 0;
	int fd = -1, rc;

	if (p->last_fail != 0 && signer_now_ms() - p->last_fail_ms < (int64_t)p->respawn_gap_ms)
		return mtls_err_set(p->last_fail, "%s (not retried within %u ms)",
			p->last_fail_detail, p->respawn_gap_ms);
	p->spawning = 1;
	pthread_mutex_unlock(&p->mu);
	rc = start_signer(p, &fd, &pid);
	pthread_mutex_lock(&p->mu);
	p->spawning = 0;
	pthread_cond_broadcast(&p->cv);
	if (rc != 0) {
		p->last_fail = rc;
		p->last_fail_ms = signer_now_ms();
		snprintf(p->last_fail_detail, sizeof(p->last_fail_detail), "%s", mtls_err_detail());
		if (is_pin_error(rc)) {
			p->sticky = rc;
			snprintf(p->sticky_detail, sizeof(p->sticky_detail), "%s",
				mtls_err_detail());
		}
		return rc;
	}
	p->last_fail = 0;
	p->fd = fd;
	p->broken = 0;
	atomic_store(&p->pid, (long)pid);
	return 0;
}

/* The signer is gone or must go: kill and reap it, fail every pending
 * request with status and why. Mutex held, and no other thread polls fd. */
static void bury_locked(struct signer_proc *p, int status, const char *why)
{
	long pid = atomic_load(&p->pid);
	struct pending *q;
	char how[64];

	close(p->fd);
	p->fd = -1;
	signer_reap((pid_t)pid, status == MTLS_ERR_SIGNER ? PROC_EXIT_GRACE_MS : 0, 0, how,
		sizeof(how));
	atomic_store(&p->pid, 0L);
	p->broken = 0;
	mtls_log(MTLS_LOG_WARNING, "signer (pid %ld) %s: %s; %zu request(s) failed", pid, how, why,
		p->npending);
	for (q = p->pending; q != NULL; q = q->next) {
		q->done = 1;
		q->local = 1;
		q->reply.status = status;
		snprintf(q->reply.detail, sizeof(q->reply.detail),
			"signer (pid %ld) %s: %s; the next request starts a new one", pid, how,
			why);
	}
	p->pending = NULL;
	p->npending = 0;
	pthread_cond_broadcast(&p->cv);
}

/* Nothing is pending and nobody reads: anything readable means the
 * signer died (EOF) or sent what nobody asked for. */
static void check_idle_locked(struct signer_proc *p)
{
	struct pollfd pf = {.fd = p->fd, .events = POLLIN};

	if (poll(&pf, 1, 0) > 0)
		bury_locked(p, MTLS_ERR_SIGNER, "closed its socket or spoke unasked while idle");
}

/* ---- requests and replies ---- */

static struct pending *unlink_pending(struct signer_proc *p, uint32_t id)
{
	struct pending **pp, *q;

	for (pp = &p->pending; (q = *pp) != NULL; pp = &q->next) {
		if (q->id == id) {
			*pp = q->next;
			p->npending--;
			return q;
		}
	}
	return NULL;
}

/* A CERTS_REPLY's certificates point into the reader's buffer: copy them
 * for the waiter. Out of memory fails that request only. */
static void copy_certs(struct pending *q)
{
	const struct signer_msg_reply *r = &q->reply;
	size_t i;

	q->certs = calloc(r->ncerts ? r->ncerts : 1, sizeof(*q->certs));
	q->lens = calloc(r->ncerts ? r->ncerts : 1, sizeof(*q->lens));
	for (i = 0; q->certs != NULL && q->lens != NULL && i < r->ncerts; i++) {
		if ((q->certs[i] = malloc(r->cert_lens[i])) == NULL)
			break;
		memcpy(q->certs[i], r->certs[i], r->cert_lens[i]);
		q->lens[i] = r->cert_lens[i];
		q->ncerts++;
	}
	if (q->certs == NULL || q->lens == NULL || q->ncerts != r->ncerts) {
		p11_certs_free(q->certs, q->lens, q->ncerts);
		q->certs = NULL;
		q->lens = NULL;
		q->ncerts = 0;
		q->local = 1;
		q->reply.status = MTLS_ERR_NOMEM;
		snprintf(q->reply.detail, sizeof(q->reply.detail),
			"no memory for the certificates the signer sent");
	}
}

/* Hand one received packet to its waiter; a bad one buries the signer. */
static void deliver_locked(struct signer_proc *p, const uint8_t *buf, size_t n)
{
	struct signer_msg_hdr h;
	const uint8_t *body;
	struct pending *q;
	char why[SIGNER_DETAIL_MAX];
	int rc;

	if (signer_msg_decode_hdr(buf, n, &h, &body) != 0)
		goto bad;
	if ((q = unlink_pending(p, h.id)) == NULL) {
		mtls_err_set(MTLS_ERR_PROTOCOL, "reply to request %u, which is not pending",
			(unsigned)h.id);
		goto bad;
	}
	rc = signer_msg_decode_reply(&h, body, &q->reply);
	if (rc == 0 && (q->reply.type != q->want || q->reply.siglen > q->outmax))
		rc = mtls_err_set(MTLS_ERR_PROTOCOL, "reply of the wrong type or size");
	if (rc != 0) {
		/* Back on the list, so it fails with the others. */
		q->next = p->pending;
		p->pending = q;
		p->npending++;
		goto bad;
	}
	if (is_pin_error(q->reply.status) && p->sticky == 0) {
		p->sticky = signer_says(q->reply.status, q->reply.detail);
		snprintf(p->sticky_detail, sizeof(p->sticky_detail), "%s", mtls_err_detail());
	}
	if (q->reply.type == SIGNER_MSG_CERTS_REPLY && q->reply.status == 0)
		copy_certs(q);
	q->done = 1;
	pthread_cond_broadcast(&p->cv);
	return;
bad:
	snprintf(why, sizeof(why), "broke the protocol (%s)", mtls_err_detail());
	bury_locked(p, MTLS_ERR_SIGNER, why);
}

static int64_t first_deadline(const struct signer_proc *p)
{
	const struct pending *q;
	int64_t d = INT64_MAX;

	for (q = p->pending; q != NULL; q = q->next)
		if (q->deadline < d)
			d = q->deadline;
	return d;
}

/* The reader's step: wait for one reply, or bury a signer that broke or
 * missed a deadline. Called and returns with the mutex held. */
static void read_once_locked(struct signer_proc *p)
{
	uint8_t *buf = p->rbuf; /* only the reader uses it */
	int64_t wait = first_deadline(p) - signer_now_ms();
	char why[160];
	size_t n = 0;
	int fd = p->fd, rc;

	if (p->broken) {
		bury_locked(p, MTLS_ERR_SIGNER, p->broken_why);
		return;
	}
	if (wait <= 0) {
		snprintf(why, sizeof(why), "did not answer within %u ms", p->timeout_ms);
		bury_locked(p, MTLS_ERR_TIMEOUT, why);
		return;
	}
	pthread_mutex_unlock(&p->mu);
	rc = recv_within(fd, wait > 60000 ? 60000 : (int)wait, buf, SIGNER_ANY_REPLY_MAX, &n);
	pthread_mutex_lock(&p->mu);
	if (rc == MTLS_ERR_TIMEOUT)
		return; /* the deadline is checked on the next step */
	if (rc != 0 || p->broken) {
		snprintf(why, sizeof(why), "%s", p->broken ? p->broken_why : mtls_err_detail());
		bury_locked(p, MTLS_ERR_SIGNER, why);
		return;
	}
	deliver_locked(p, buf, n);
}

/* Wait for a signer that can take one more request. */
static int ready_locked(struct signer_proc *p)
{
	int rc;

	for (;;) {
		if (p->sticky != 0)
			return mtls_err_set(p->sticky,
				"%s (remembered: a PIN error is never retried)", p->sticky_detail);
		if (p->spawning || p->broken || p->npending >= PROC_INFLIGHT_MAX) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		if (p->fd >= 0 && p->npending == 0 && !p->reader)
			check_idle_locked(p);
		if (p->fd >= 0)
			return 0;
		if ((rc = spawn_locked(p)) != 0)
			return rc;
	}
}

static void send_locked(struct signer_proc *p, const uint8_t *pkt, size_t len)
{
	ssize_t r = send(p->fd, pkt, len, MSG_NOSIGNAL);

	if (r == (ssize_t)len)
		return;
	snprintf(p->broken_why, sizeof(p->broken_why), "a request could not be sent (%s)",
		r < 0 ? (errno == EAGAIN ? "send timed out" : strerror(errno)) : "short send");
	p->broken = 1;
	/* Wakes a reader in poll(); it buries the signer. */
	shutdown(p->fd, SHUT_RDWR);
}

/* Send pkt (its id is set here) and wait for the answer in q->reply. */
static int proc_call(struct signer_proc *p, struct pending *q, uint8_t *pkt, size_t len)
{
	int rc;

	pthread_mutex_lock(&p->mu);
	if ((rc = ready_locked(p)) != 0)
		goto out;
	if (++p->next_id == 0)
		p->next_id = 1; /* 0 is OPEN's */
	q->id = p->next_id;
	q->deadline = signer_now_ms() + p->timeout_ms;
	q->next = p->pending;
	p->pending = q;
	p->npending++;
	signer_msg_set_id(pkt, q->id);
	send_locked(p, pkt, len);
	while (!q->done) {
		if (p->reader) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		p->reader = 1;
		while (!q->done)
			read_once_locked(p);
		p->reader = 0;
		pthread_cond_broadcast(&p->cv);
	}
	rc = q->reply.status;
	if (rc != 0 && q->local)
		mtls_err_set(rc, "%s", q->reply.detail);
	else if (rc != 0)
		signer_says(rc, q->reply.detail);
out:
	pthread_mutex_unlock(&p->mu);
	return rc;
}

static int proc_key_info(struct signer *s, unsigned key, struct signer_key_info *info)
{
	struct signer_proc *p = (struct signer_proc *)s;
	struct pending q = {.want = SIGNER_MSG_INFO_REPLY};
	uint8_t pkt[SIGNER_MSG_HDR_LEN + SIGNER_INFO_BODY_LEN];
	size_t len;
	int rc;

	if ((rc = signer_msg_encode_info(0, key, pkt, sizeof(pkt), &len)) != 0)
		return rc;
	if ((rc = proc_call(p, &q, pkt, len)) != 0)
		return rc;
	*info = q.reply.info;
	return 0;
}

static int proc_sign(struct signer *s, unsigned key, enum p11_sig sig, const uint8_t *in,
	size_t inlen, uint8_t *out, size_t *outlen)
{
	struct signer_proc *p = (struct signer_proc *)s;
	struct pending q = {.want = SIGNER_MSG_SIGN_REPLY};
	uint8_t pkt[SIGNER_MSG_HDR_LEN + SIGNER_SIGN_BODY_MAX];
	size_t len;
	int rc;

	q.outmax = *outlen < P11_SIG_MAX ? *outlen : P11_SIG_MAX;
	rc = signer_msg_encode_sign(0, key, sig, in, inlen, q.outmax, pkt, sizeof(pkt), &len);
	if (rc == 0)
		rc = proc_call(p, &q, pkt, len);
	mtls_wipe(pkt, sizeof(pkt));
	if (rc != 0)
		return rc;
	memcpy(out, q.reply.sig, q.reply.siglen);
	*outlen = q.reply.siglen;
	return 0;
}

/* Like any request: a signer that is gone is started again first (so a
 * health check also revives a signer that crashed while idle); one that
 * dies or misses the deadline makes the token unreachable. */
static enum signer_token_state proc_token_state(struct signer *s, unsigned key)
{
	struct signer_proc *p = (struct signer_proc *)s;
	struct pending q = {.want = SIGNER_MSG_STATE_REPLY};
	uint8_t pkt[SIGNER_MSG_HDR_LEN + SIGNER_STATE_BODY_LEN];
	size_t len;
	int rc;

	if ((rc = signer_msg_encode_state(0, key, pkt, sizeof(pkt), &len)) != 0)
		return SIGNER_TOKEN_UNREACHABLE;
	if ((rc = proc_call(p, &q, pkt, len)) != 0)
		return signer_state_of(rc); /* a sticky PIN error, a failed start, ... */
	if (q.reply.state != SIGNER_TOKEN_OK)
		signer_says(MTLS_ERR_TOKEN, q.reply.detail);
	return q.reply.state;
}

static int proc_key_certs(struct signer *s, unsigned key, const char *cert_uri, uint8_t ***certs,
	size_t **lens, size_t *n)
{
	struct signer_proc *p = (struct signer_proc *)s;
	struct pending q = {.want = SIGNER_MSG_CERTS_REPLY};
	uint8_t pkt[SIGNER_MSG_HDR_LEN + SIGNER_CERTS_BODY_MAX];
	size_t len;
	int rc;

	rc = signer_msg_encode_certs(0, key, cert_uri, pkt, sizeof(pkt), &len);
	if (rc == 0)
		rc = proc_call(p, &q, pkt, len);
	mtls_wipe(pkt, sizeof(pkt));
	if (rc != 0)
		return rc;
	*certs = q.certs;
	*lens = q.lens;
	*n = q.ncerts;
	return 0;
}

static long proc_pid(const struct signer *s)
{
	const struct signer_proc *p = (const struct signer_proc *)s;

	return atomic_load(&p->pid);
}

/* No thread may use s any more: close the socket (the signer exits on
 * EOF), then SIGTERM, then SIGKILL, each after a bounded wait. */
static void proc_free(struct signer *s)
{
	struct signer_proc *p = (struct signer_proc *)s;
	char how[64];

	if (p->fd >= 0) {
		close(p->fd);
		signer_reap((pid_t)atomic_load(&p->pid), PROC_STOP_GRACE_MS, 1, how, sizeof(how));
	}
	if (p->open_pkt != NULL)
		mtls_wipe(p->open_pkt, p->open_len);
	free(p->open_pkt);
	free(p->rbuf);
	free(p->helper);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

static const struct signer_ops proc_ops = {
	.key_info = proc_key_info,
	.sign = proc_sign,
	.token_state = proc_token_state,
	.key_certs = proc_key_certs,
	.pid = proc_pid,
	.free = proc_free,
};

static int proc_init(struct signer_proc *p, const struct signer_config *cfg, const char *helper)
{
	int rc;

	p->base.ops = &proc_ops;
	p->base.nkeys = cfg->nkeys;
	p->fd = -1;
	p->timeout_ms = cfg->timeout_ms != 0 ? cfg->timeout_ms : PROC_TIMEOUT_MS;
	if (p->timeout_ms > 24u * 3600 * 1000)
		p->timeout_ms = 24u * 3600 * 1000;
	p->respawn_gap_ms = cfg->p11.rescan_ms != 0 ? cfg->p11.rescan_ms : PROC_RESPAWN_GAP_MS;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if ((p->helper = strdup(helper)) == NULL ||
		(p->open_pkt = malloc(SIGNER_MSG_MAX)) == NULL ||
		(p->rbuf = malloc(SIGNER_ANY_REPLY_MAX)) == NULL)
		return MTLS_ERR_NOMEM;
	rc = signer_msg_encode_open(0, cfg, p->open_pkt, SIGNER_MSG_MAX, &p->open_len);
	return rc;
}

int signer_new_process(const struct signer_config *cfg, const char *helper, struct signer **out)
{
	struct signer_proc *p;
	int rc;

	*out = NULL;
	if ((rc = signer_check_config(cfg)) != 0)
		return rc;
	if (helper == NULL)
		helper = signer_default_helper();
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return MTLS_ERR_NOMEM;
	if ((rc = proc_init(p, cfg, helper)) == 0) {
		pthread_mutex_lock(&p->mu);
		rc = spawn_locked(p);
		pthread_mutex_unlock(&p->mu);
	}
	if (rc != 0) {
		proc_free(&p->base);
		return rc;
	}
	*out = &p->base;
	return 0;
}

int signer_proc_send_raw_for_test(struct signer *s, const void *buf, size_t len)
{
	struct signer_proc *p = (struct signer_proc *)s;
	int rc = 0;

	if (s == NULL || s->ops != &proc_ops)
		return mtls_err_set(MTLS_ERR_ARG, "not a process-mode signer");
	pthread_mutex_lock(&p->mu);
	if (p->fd < 0 || send(p->fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len)
		rc = mtls_err_set(MTLS_ERR_SIGNER, "no signer to send to");
	pthread_mutex_unlock(&p->mu);
	return rc;
}
