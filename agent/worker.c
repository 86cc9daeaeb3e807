/* Handshake workers: take an accepted socket from the bounded queue,
 * connect the other side, run the TLS handshake (the token signs inside
 * it, so this may take a second on a real token) and hand the established
 * tunnel to the event loop. Nothing here touches established tunnels. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "net.h"
#include "tls_ext.h"

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
		pthread_cond_signal(&e->cv);
	}
	pthread_mutex_unlock(&e->mu);
	return rc;
}

/* Drive the handshake until done, failed, or the deadline passed. */
static int handshake(struct tls_conn *tls, int fd, const struct job *j)
{
	unsigned limit = j->t->cfg->handshake_timeout_ms;
	struct pollfd p = {.fd = fd};
	long left;
	int rc, want = 0, i;

	for (i = 0; i < 100000; i++) {
		rc = tls_conn_handshake(tls, &want);
		if (rc != MTLS_ERR_AGAIN)
			return rc;
		left = (long)limit - engine_ms_since(&j->accepted);
		if (left <= 0)
			break;
		p.events = want == TLS_WANT_WRITE ? POLLOUT : POLLIN;
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
			return mtls_err_set(MTLS_ERR_IO, "poll: %s", strerror(errno));
	}
	return mtls_err_set(MTLS_ERR_TIMEOUT, "handshake did not finish within %u ms", limit);
}

/* Both sockets connected and the handshake done, or an error and *why it
 * failed. Client mode: the accepted socket is plaintext and we connect out
 * over TLS; server mode: the accepted socket speaks TLS and we connect to
 * the plaintext target. */
static int establish(const struct job *j, struct conn *c, enum stats_reason *why)
{
	const struct cfg_tunnel *tc = j->t->cfg;
	int rc;

	*why = STATS_R_CONNECT_FAILED;
	if (tc->mode == TUNNEL_CLIENT) {
		c->plain_fd = j->fd;
		rc = net_connect(tc->target, tc->connect_timeout_ms, &c->tls_fd);
		if (rc != 0)
			return rc;
	} else {
		c->tls_fd = j->fd;
	}
	c->sref = engine_side_get(j->t->engine, j->t);
	rc = tls_conn_new(c->sref->side, c->tls_fd, &c->tls);
	if (rc == 0)
		rc = handshake(c->tls, c->tls_fd, j);
	if (rc != 0) {
		/* Our deadline leaves the TLS layer without a reason of its own (a
		 * signer that timed out gave one: token_error). */
		*why = tls_conn_fail_reason(c->tls);
		if (rc == MTLS_ERR_TIMEOUT && *why == STATS_R_OTHER)
			*why = STATS_R_HANDSHAKE_TIMEOUT;
		return rc;
	}
	/* Counted here: a server whose target then fails still made it. */
	stats_handshake(j->t->stats, tls_conn_resumed(c->tls));
	if (tc->mode == TUNNEL_SERVER)
		rc = net_connect(tc->target, tc->connect_timeout_ms, &c->plain_fd);
	return rc;
}

static void run_job(struct engine *e, const struct job *j)
{
	struct conn *c = calloc(1, sizeof(*c));
	enum stats_reason reason;
	char why[512];
	int rc;

	if (c == NULL) {
		stats_fail(j->t->stats, STATS_FAILED, STATS_R_OTHER);
		close(j->fd);
		engine_tunnel_put(e, j->t);
		return;
	}
	c->id = j->id;
	c->t = j->t;
	c->plain_fd = c->tls_fd = -1;
	c->start = j->accepted;
	rc = establish(j, c, &reason);
	if (rc != 0) {
		stats_fail(c->t->stats, STATS_FAILED, reason);
		mtls_log_clean(why, sizeof(why), mtls_err_detail(), sizeof(why));
		/* The detail names the cause ("certificate expired", "token not
		 * present", ...); the generic code text would only blur it. */
		mtls_log(MTLS_LOG_WARNING, "conn=%llu tunnel=%s failed after %ld ms: %s",
			(unsigned long long)c->id, c->t->cfg->name, engine_ms_since(&c->start),
			why[0] ? why : mtls_strerror(rc));
		tls_conn_free(c->tls);
		if (c->sref != NULL)
			engine_side_put(e, c->sref);
		if (c->plain_fd >= 0)
			close(c->plain_fd);
		if (c->tls_fd >= 0)
			close(c->tls_fd);
		free(c);
		engine_tunnel_put(e, j->t);
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "%s", tls_conn_peer(c->tls));
	c->resumed = tls_conn_resumed(c->tls);
	c->version = tls_conn_version(c->tls);
	stats_conn(c->t->stats, STATS_ESTABLISHED);
	pthread_mutex_lock(&e->mu);
	c->next = e->handoff;
	e->handoff = c;
	pthread_mutex_unlock(&e->mu);
	(void)!write(e->wakefd, &(uint64_t){1}, sizeof(uint64_t));
}

static void *worker_main(void *arg)
{
	struct engine *e = arg;
	struct job j;

	for (;;) {
		pthread_mutex_lock(&e->mu);
		while (e->qlen == 0 && !e->workers_stop)
			pthread_cond_wait(&e->cv, &e->mu);
		if (e->workers_stop) {
			pthread_mutex_unlock(&e->mu);
			tls_thread_cleanup(); /* wolfSSL's per-thread cache, ~12 MB */
			return NULL;
		}
		j = e->queue[e->qhead];
		e->qhead = (e->qhead + 1) % e->qcap;
		e->qlen--;
		e->in_handshake++;
		stats_queue(e->qlen, e->in_handshake);
		pthread_mutex_unlock(&e->mu);
		run_job(e, &j);
		pthread_mutex_lock(&e->mu);
		e->in_handshake--;
		stats_queue(e->qlen, e->in_handshake);
		pthread_mutex_unlock(&e->mu);
	}
}

int workers_start(struct engine *e)
{
	size_t i;

	e->qcap = e->gen->cfg->handshake_queue ? e->gen->cfg->handshake_queue : 64;
	e->nworkers = e->gen->cfg->handshake_workers ? e->gen->cfg->handshake_workers : 4;
	e->queue = calloc(e->qcap, sizeof(*e->queue));
	e->workers = calloc(e->nworkers, sizeof(*e->workers));
	if (e->queue == NULL || e->workers == NULL)
		return MTLS_ERR_NOMEM;
	for (i = 0; i < e->nworkers; i++)
		if (pthread_create(&e->workers[i], NULL, worker_main, e) != 0) {
			e->nworkers = i;
			return mtls_err_set(MTLS_ERR_INTERNAL, "cannot start handshake workers");
		}
	return 0;
}

/* Stop the workers after their current handshake; drop queued sockets and
 * tunnels handed off but not yet taken by the loop. */
void workers_stop(struct engine *e)
{
	struct conn *c;
	size_t i;

	pthread_mutex_lock(&e->mu);
	e->workers_stop = 1;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
	for (i = 0; i < e->nworkers; i++)
		pthread_join(e->workers[i], NULL);
	for (; e->qlen > 0; e->qlen--, e->qhead = (e->qhead + 1) % e->qcap) {
		close(e->queue[e->qhead].fd);
		engine_tunnel_put(e, e->queue[e->qhead].t);
	}
	while ((c = e->handoff) != NULL) {
		e->handoff = c->next;
		tls_conn_free(c->tls);
		engine_side_put(e, c->sref);
		close(c->plain_fd);
		close(c->tls_fd);
		engine_tunnel_put(e, c->t);
		free(c);
	}
	free(e->queue);
	free(e->workers);
	e->queue = NULL;
	e->workers = NULL;
	e->nworkers = 0;
}
