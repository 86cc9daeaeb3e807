/* Handshake workers: take an accepted socket from the bounded queue,
 * connect the other side, run the TLS handshake (the token signs inside
 * it, so a step may take a second on a real token) and hand the
 * established tunnel to the event loop. Nothing here touches established
 * tunnels.
 *
 * A handshake waiting for its peer waits in the workers' shared epoll set
 * (one-shot), not in a worker: a worker is held only while it computes or
 * the token signs. So the default 4 workers keep 4 token sessions busy
 * even when each peer takes as long to sign as we do (measured: blocking
 * workers reached half a 200 ms token's limit). Every handshake lives on
 * e->hs_list; exactly one worker at a time owns it (busy), and only its
 * owner frees it. The deadline is kept by shutting the socket of a
 * handshake nobody owns, which wakes it in the set; its next owner sees
 * the deadline passed and fails it. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine_int.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "net.h"
#include "tls_ext.h"

#define HS_WAIT_MS 250 /* a worker wakes at least this often */
#define HS_PER_WORKER 8 /* handshakes in progress per worker, at most */
#define HS_SWEEP_MS 100 /* and looks for handshakes past their deadline */

enum hs_phase {
	HS_DIAL, /* connecting to the tunnel's target */
	HS_TLS, /* the TLS handshake */
};

struct hs {
	struct job j;
	struct conn *c;
	enum hs_phase phase;
	struct net_dial *dial; /* HS_DIAL */
	long deadline_ms; /* of this phase, counted from j.accepted */
	int wait_fd; /* the socket in the epoll set, or -1 (owner only) */
	int busy; /* owned by a worker (under mu) */
	int expired; /* wait_fd shut at the deadline (under mu) */
	struct hs *prev, *next; /* e->hs_list (under mu) */
};

long engine_ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

int workers_submit(struct engine *e, struct tunnel *t, int fd, uint64_t id)
{
	struct job *j;
	int rc = 0;

	pthread_mutex_lock(&e->mu);
	if (e->qlen == e->qcap) {
		rc = mtls_err_set(MTLS_ERR_BUSY,
			"handshake queue full (%zu waiting, %zu in progress)", e->qlen,
			e->in_handshake);
	} else {
		j = &e->queue[(e->qhead + e->qlen++) % e->qcap];
		j->id = id;
		j->fd = fd;
		j->t = t;
		clock_gettime(CLOCK_MONOTONIC, &j->accepted);
		stats_queue(e->qlen, e->in_handshake);
		/* The eventfd is readable exactly while jobs wait. */
		if (e->qlen == 1)
			(void)!write(e->jobfd, &(uint64_t){1}, sizeof(uint64_t));
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* Close what a handshake holds (not its tunnel reference). */
static void conn_drop(struct engine *e, struct conn *c)
{
	tls_conn_free(c->tls);
	if (c->sref != NULL)
		engine_side_put(e, c->sref);
	if (c->plain_fd >= 0)
		close(c->plain_fd);
	if (c->tls_fd >= 0)
		close(c->tls_fd);
	free(c);
}

/* Under mu: stop taking jobs (the queue's eventfd leaves the set) while
 * as many handshakes as allowed are in progress, and take them again. */
static void jobs_pause(struct engine *e, int pause)
{
	struct epoll_event ev = {.events = pause ? 0 : EPOLLIN, .data.ptr = NULL};

	if (pause != e->jobs_paused && epoll_ctl(e->hs_epfd, EPOLL_CTL_MOD, e->jobfd, &ev) == 0)
		e->jobs_paused = pause;
}

/* Under mu: one handshake fewer in progress (it ended, or never began). */
static void hs_count_down(struct engine *e)
{
	e->in_handshake--;
	stats_queue(e->qlen, e->in_handshake);
	jobs_pause(e, e->in_handshake >= e->hs_max);
}

/* Out of the set (the owner's). */
static void hs_unset(struct engine *e, struct hs *h)
{
	if (h->wait_fd >= 0)
		(void)epoll_ctl(e->hs_epfd, EPOLL_CTL_DEL, h->wait_fd, NULL);
	h->wait_fd = -1;
}

/* Off the list and out of the set; the caller owns hs. */
static void hs_unlink(struct engine *e, struct hs *h)
{
	pthread_mutex_lock(&e->mu);
	if (h->prev != NULL)
		h->prev->next = h->next;
	else
		e->hs_list = h->next;
	if (h->next != NULL)
		h->next->prev = h->prev;
	hs_count_down(e);
	pthread_mutex_unlock(&e->mu);
	hs_unset(e, h);
	net_dial_free(h->dial);
	h->dial = NULL;
}

/* The handshake ended: rc 0 hands the tunnel to the loop, anything else
 * closes it and says why. */
static void hs_finish(struct engine *e, struct hs *h, int rc, enum stats_reason why)
{
	struct conn *c = h->c;
	struct tunnel *t = h->j.t;
	char text[512];

	hs_unlink(e, h);
	free(h);
	if (rc != 0) {
		stats_fail(t->stats, STATS_FAILED, why);
		mtls_log_clean(text, sizeof(text), mtls_err_detail(), sizeof(text));
		/* The detail names the cause ("certificate expired", "token not
		 * present", ...); the generic code text would only blur it. */
		mtls_log(MTLS_LOG_WARNING, "conn=%llu tunnel=%s failed after %ld ms: %s",
			(unsigned long long)c->id, t->cfg->name, engine_ms_since(&c->start),
			text[0] ? text : mtls_strerror(rc));
		conn_drop(e, c);
		engine_tunnel_put(e, t);
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "%s", tls_conn_peer(c->tls));
	c->resumed = tls_conn_resumed(c->tls);
	c->version = tls_conn_version(c->tls);
	stats_conn(t->stats, STATS_ESTABLISHED);
	pthread_mutex_lock(&e->mu);
	c->next = e->handoff;
	e->handoff = c;
	pthread_mutex_unlock(&e->mu);
	(void)!write(e->wakefd, &(uint64_t){1}, sizeof(uint64_t));
}

/* Give up ownership until fd is ready (or shut at the deadline). */
static void hs_wait(struct engine *e, struct hs *h, int fd, int want)
{
	struct epoll_event ev = {
		.events = (want == TLS_WANT_WRITE ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT,
		.data.ptr = h,
	};
	int op = EPOLL_CTL_MOD, rc;

	if (fd != h->wait_fd) {
		hs_unset(e, h);
		op = EPOLL_CTL_ADD;
	}
	h->wait_fd = fd;
	pthread_mutex_lock(&e->mu);
	h->busy = 0;
	pthread_mutex_unlock(&e->mu);
	/* From here another worker may own h: do not touch it. */
	if (epoll_ctl(e->hs_epfd, op, fd, &ev) == 0)
		return;
	/* Not in the set, so nobody else can have taken it: take it back. */
	rc = mtls_err_set(MTLS_ERR_IO, "epoll_ctl: %s", strerror(errno));
	pthread_mutex_lock(&e->mu);
	h->busy = 1;
	pthread_mutex_unlock(&e->mu);
	if (op == EPOLL_CTL_ADD)
		h->wait_fd = -1;
	hs_finish(e, h, rc, STATS_R_OTHER);
}

/* Start connecting to the tunnel's target (client: before the handshake,
 * for the TLS side; server: after it, for the plaintext side). */
static int hs_dial(struct hs *h)
{
	const struct cfg_tunnel *tc = h->j.t->cfg;

	h->phase = HS_DIAL;
	h->deadline_ms = engine_ms_since(&h->j.accepted) + (long)tc->connect_timeout_ms;
	return net_dial_start(tc->target, &h->dial);
}

static void hs_step(struct engine *e, struct hs *h);

/* HS_DIAL: 1 when connected (the socket is the conn's), 0 when waiting
 * again, else an error for hs_finish. */
static int dial_step(struct engine *e, struct hs *h, int *rcp)
{
	const struct cfg_tunnel *tc = h->j.t->cfg;
	struct conn *c = h->c;
	int fd = -1, rc;

	/* A refused attempt's socket is closed and the next one may reuse its
	 * number: take it out of the set first. */
	hs_unset(e, h);
	if (engine_ms_since(&h->j.accepted) >= h->deadline_ms)
		rc = mtls_err_set(MTLS_ERR_TIMEOUT, "connect to %s: no answer within %u ms",
			tc->target, tc->connect_timeout_ms);
	else
		rc = net_dial_continue(h->dial, &fd);
	if (rc == MTLS_ERR_AGAIN) {
		hs_wait(e, h, net_dial_fd(h->dial), TLS_WANT_WRITE);
		return 0;
	}
	if (rc != 0) {
		*rcp = rc;
		return -1;
	}
	net_dial_free(h->dial);
	h->dial = NULL;
	if (tc->mode == TUNNEL_CLIENT)
		c->tls_fd = fd;
	else
		c->plain_fd = fd;
	return 1;
}

/* The TLS phase starts on the connected TLS socket. */
static int tls_start(struct engine *e, struct hs *h)
{
	struct conn *c = h->c;

	h->phase = HS_TLS;
	h->deadline_ms = (long)h->j.t->cfg->handshake_timeout_ms;
	c->sref = engine_side_get(e, h->j.t);
	return tls_conn_new(c->sref->side, c->tls_fd, &c->tls);
}

/* One step of an owned handshake: as far as it goes without waiting. */
static void hs_step(struct engine *e, struct hs *h)
{
	const struct cfg_tunnel *tc = h->j.t->cfg;
	enum stats_reason why;
	int rc = 0, want = 0, r;

	if (h->phase == HS_DIAL) {
		r = dial_step(e, h, &rc);
		if (r == 0)
			return;
		if (r < 0) {
			hs_finish(e, h, rc, STATS_R_CONNECT_FAILED);
			return;
		}
		if (tc->mode == TUNNEL_SERVER) { /* the handshake was done before */
			hs_finish(e, h, 0, STATS_R_OTHER);
			return;
		}
		if ((rc = tls_start(e, h)) != 0) {
			hs_finish(e, h, rc, STATS_R_OTHER);
			return;
		}
	}
	if (engine_ms_since(&h->j.accepted) >= h->deadline_ms)
		rc = mtls_err_set(MTLS_ERR_TIMEOUT, "handshake did not finish within %u ms",
			tc->handshake_timeout_ms);
	else
		rc = tls_conn_handshake(h->c->tls, &want);
	if (rc == MTLS_ERR_AGAIN) {
		hs_wait(e, h, h->c->tls_fd, want);
		return;
	}
	/* Our deadline leaves the TLS layer without a reason of its own (a
	 * signer that timed out gave one: token_error). */
	why = tls_conn_fail_reason(h->c->tls);
	if (rc == MTLS_ERR_TIMEOUT && why == STATS_R_OTHER)
		why = STATS_R_HANDSHAKE_TIMEOUT;
	if (rc != 0) {
		hs_finish(e, h, rc, why);
		return;
	}
	/* Counted here: a server whose target then fails still made it. */
	stats_handshake(h->j.t->stats, tls_conn_resumed(h->c->tls));
	if (tc->mode == TUNNEL_CLIENT) {
		hs_finish(e, h, 0, STATS_R_OTHER);
		return;
	}
	/* The TLS socket leaves the set in dial_step (or hs_finish). */
	if ((rc = hs_dial(h)) != 0)
		hs_finish(e, h, rc, STATS_R_CONNECT_FAILED);
	else
		hs_step(e, h);
}

/* A job from the queue: the TLS socket (client mode: connect out first;
 * the accepted socket is plaintext) and the first step. */
static void hs_begin(struct engine *e, const struct job *j)
{
	struct hs *h = calloc(1, sizeof(*h));
	struct conn *c = calloc(1, sizeof(*c));
	int rc;

	if (h == NULL || c == NULL) {
		free(h);
		free(c);
		stats_fail(j->t->stats, STATS_FAILED, STATS_R_OTHER);
		close(j->fd);
		pthread_mutex_lock(&e->mu);
		hs_count_down(e);
		pthread_mutex_unlock(&e->mu);
		engine_tunnel_put(e, j->t);
		return;
	}
	h->j = *j;
	h->c = c;
	h->busy = 1;
	h->wait_fd = -1;
	c->id = j->id;
	c->t = j->t;
	c->start = j->accepted;
	c->plain_fd = c->tls_fd = -1;
	pthread_mutex_lock(&e->mu);
	h->next = e->hs_list;
	if (h->next != NULL)
		h->next->prev = h;
	e->hs_list = h;
	pthread_mutex_unlock(&e->mu);
	if (j->t->cfg->mode == TUNNEL_CLIENT) {
		c->plain_fd = j->fd;
		rc = hs_dial(h);
	} else {
		c->tls_fd = j->fd;
		rc = tls_start(e, h);
	}
	if (rc != 0) {
		hs_finish(e, h, rc, h->phase == HS_DIAL ? STATS_R_CONNECT_FAILED : STATS_R_OTHER);
		return;
	}
	hs_step(e, h);
}

/* Take one queued job, if one is left (other workers woke too). */
static void take_job(struct engine *e)
{
	struct job j;
	uint64_t v;

	pthread_mutex_lock(&e->mu);
	if (e->qlen == 0 || e->workers_stop || e->in_handshake >= e->hs_max) {
		pthread_mutex_unlock(&e->mu);
		return;
	}
	j = e->queue[e->qhead];
	e->qhead = (e->qhead + 1) % e->qcap;
	if (--e->qlen == 0)
		(void)!read(e->jobfd, &v, sizeof(v));
	e->in_handshake++;
	jobs_pause(e, e->in_handshake >= e->hs_max);
	stats_queue(e->qlen, e->in_handshake);
	pthread_mutex_unlock(&e->mu);
	hs_begin(e, &j);
}

/* Shut the sockets of handshakes past their deadline that wait in the set
 * (an owned one is checked by its owner); each then wakes a worker. */
static void sweep(struct engine *e)
{
	struct hs *h;

	pthread_mutex_lock(&e->mu);
	if (engine_ms_since(&e->hs_swept) >= HS_SWEEP_MS) {
		clock_gettime(CLOCK_MONOTONIC, &e->hs_swept);
		for (h = e->hs_list; h != NULL; h = h->next)
			if (!h->busy && !h->expired && h->wait_fd >= 0 &&
				engine_ms_since(&h->j.accepted) >= h->deadline_ms) {
				(void)shutdown(h->wait_fd, SHUT_RDWR);
				h->expired = 1;
			}
	}
	pthread_mutex_unlock(&e->mu);
}

static void *worker_main(void *arg)
{
	struct engine *e = arg;
	struct epoll_event ev;
	struct hs *h;
	int n, stop;

	for (;;) {
		n = epoll_wait(e->hs_epfd, &ev, 1, HS_WAIT_MS);
		pthread_mutex_lock(&e->mu);
		stop = e->workers_stop;
		pthread_mutex_unlock(&e->mu);
		if (stop)
			break;
		if (n == 1 && ev.data.ptr == NULL) {
			take_job(e);
		} else if (n == 1) {
			h = ev.data.ptr;
			pthread_mutex_lock(&e->mu);
			h->busy = 1;
			pthread_mutex_unlock(&e->mu);
			hs_step(e, h);
		}
		sweep(e);
	}
	tls_thread_cleanup(); /* wolfSSL's per-thread cache, ~12 MB */
	return NULL;
}

int workers_start(struct engine *e)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	size_t i;

	e->hs_epfd = e->jobfd = -1;
	e->qcap = e->gen->cfg->handshake_queue ? e->gen->cfg->handshake_queue : 64;
	e->nworkers = e->gen->cfg->handshake_workers ? e->gen->cfg->handshake_workers : 4;
	e->hs_max = e->nworkers * HS_PER_WORKER;
	e->queue = calloc(e->qcap, sizeof(*e->queue));
	e->workers = calloc(e->nworkers, sizeof(*e->workers));
	if (e->queue == NULL || e->workers == NULL)
		return MTLS_ERR_NOMEM;
	e->hs_epfd = epoll_create1(EPOLL_CLOEXEC);
	e->jobfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (e->hs_epfd < 0 || e->jobfd < 0 ||
		epoll_ctl(e->hs_epfd, EPOLL_CTL_ADD, e->jobfd, &ev) != 0) {
		e->nworkers = 0;
		return mtls_err_set(MTLS_ERR_INTERNAL, "handshake workers: %s", strerror(errno));
	}
	clock_gettime(CLOCK_MONOTONIC, &e->hs_swept);
	for (i = 0; i < e->nworkers; i++)
		if (pthread_create(&e->workers[i], NULL, worker_main, e) != 0) {
			e->nworkers = i;
			return mtls_err_set(MTLS_ERR_INTERNAL, "cannot start handshake workers");
		}
	return 0;
}

/* Stop the workers after the step they are in; close the handshakes still
 * running, queued sockets, and tunnels handed off but not yet taken by the
 * loop. */
void workers_stop(struct engine *e)
{
	struct conn *c;
	struct hs *h;
	size_t i;

	pthread_mutex_lock(&e->mu);
	e->workers_stop = 1;
	pthread_mutex_unlock(&e->mu);
	if (e->jobfd >= 0)
		(void)!write(e->jobfd, &(uint64_t){1}, sizeof(uint64_t));
	for (i = 0; i < e->nworkers; i++)
		pthread_join(e->workers[i], NULL);
	while ((h = e->hs_list) != NULL) {
		e->hs_list = h->next;
		net_dial_free(h->dial);
		conn_drop(e, h->c);
		engine_tunnel_put(e, h->j.t);
		free(h);
	}
	e->in_handshake = 0;
	for (; e->qlen > 0; e->qlen--, e->qhead = (e->qhead + 1) % e->qcap) {
		close(e->queue[e->qhead].fd);
		engine_tunnel_put(e, e->queue[e->qhead].t);
	}
	while ((c = e->handoff) != NULL) {
		e->handoff = c->next;
		conn_drop(e, c);
		engine_tunnel_put(e, c->t);
	}
	if (e->hs_epfd >= 0)
		close(e->hs_epfd);
	if (e->jobfd >= 0)
		close(e->jobfd);
	e->hs_epfd = e->jobfd = -1;
	free(e->queue);
	free(e->workers);
	e->queue = NULL;
	e->workers = NULL;
	e->nworkers = 0;
}
