/* Engine setup and the event loop: listeners, the wake-up from workers,
 * signals, and established tunnels, all in one epoll set. */
#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine_int.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "net.h"
#include "tls_ext.h"

#define EVENTS_MAX 128

static int ep_add(struct engine *e, int fd, struct ep_ref *ref, enum ep_kind kind, void *ptr)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = ref};

	ref->kind = kind;
	ref->ptr = ptr;
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		return mtls_err_set(MTLS_ERR_IO, "epoll_ctl: %s", strerror(errno));
	return 0;
}

/* One signer for all tunnels; tunnels naming the same key share an index. */
static int start_signer(struct engine *e)
{
	const char *uris[CFG_MAX_TUNNELS];
	struct signer_config sc = {0};
	size_t i, j, n = 0;

	for (i = 0; i < e->ntunnels; i++) {
		for (j = 0; j < n && strcmp(uris[j], e->cfg->tunnels[i]->key_uri) != 0; j++)
			;
		if (j == n)
			uris[n++] = e->cfg->tunnels[i]->key_uri;
		e->tunnels[i].key = (unsigned)j;
	}
	sc.key_uris = uris;
	sc.nkeys = e->nkeys = n;
	sc.p11.pin_file = e->cfg->pin_file;
	sc.p11.pin_credential = e->cfg->pin_credential;
	sc.p11.allow_pin_value = e->cfg->allow_pin_value;
	if (e->cfg->signer_in_process)
		return signer_new_local(&sc, &e->signer);
	return signer_new_process(&sc, NULL, &e->signer);
}

struct side_ref *engine_side_get(struct engine *e, struct tunnel *t)
{
	struct side_ref *r;

	pthread_mutex_lock(&e->mu);
	r = t->cur;
	r->refs++;
	pthread_mutex_unlock(&e->mu);
	return r;
}

void engine_side_put(struct engine *e, struct side_ref *r)
{
	size_t left;

	if (r == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	left = --r->refs;
	pthread_mutex_unlock(&e->mu);
	if (left == 0) {
		tls_side_free(r->side);
		free(r);
	}
}

/* A new reference-counted side for tunnel t, from the files its
 * configuration names now. */
static int side_build(struct engine *e, struct tunnel *t, struct side_ref **out)
{
	struct side_ref *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL)
		return MTLS_ERR_NOMEM;
	rc = tls_side_new(t->cfg, e->signer, t->key, &r->side);
	if (rc != 0) {
		free(r);
		return rc;
	}
	r->refs = 1;
	stats_cert_expiry(t->stats, tls_side_cert_expiry(r->side));
	*out = r;
	return 0;
}

static int setup_tunnel(struct engine *e, struct tunnel *t, const struct cfg_tunnel *tc)
{
	char why[512];
	int rc;

	t->cfg = tc;
	t->engine = e;
	t->stats = stats_tunnel(tc->name, tc->mode == TUNNEL_SERVER, t->key);
	rc = side_build(e, t, &t->cur);
	if (rc == 0)
		rc = net_listen(tc->listen, &t->listen_fd);
	if (rc != 0) {
		snprintf(why, sizeof(why), "%s", mtls_err_detail());
		return mtls_err_set(rc, "tunnel %s: %s", tc->name, why);
	}
	mtls_log(MTLS_LOG_NOTICE, "tunnel %s: %s mode, listening on %s, target %s", tc->name,
		tc->mode == TUNNEL_CLIENT ? "client" : "server", tc->listen, tc->target);
	return ep_add(e, t->listen_fd, &t->ref, EP_LISTENER, t);
}

static int setup_loop(struct engine *e)
{
	sigset_t set;

	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked before any worker starts, so only the signalfd sees them. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	e->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (e->epfd < 0 || e->wakefd < 0 || e->sigfd < 0)
		return mtls_err_set(MTLS_ERR_IO, "event loop setup: %s", strerror(errno));
	if (ep_add(e, e->wakefd, &e->wake_ref, EP_WAKE, NULL) != 0 ||
		ep_add(e, e->sigfd, &e->sig_ref, EP_SIGNAL, NULL) != 0)
		return MTLS_ERR_IO;
	return 0;
}

/* Token health (never signs) and, if configured, the metrics endpoint. */
static int start_observers(struct engine *e)
{
	int rc = health_start(e->signer, e->nkeys, &e->health);

	stats_loop_beat(); /* the loop counts as alive from here on */
	if (rc == 0 && e->cfg->metrics_listen != NULL)
		rc = metrics_start(e->cfg->metrics_listen, e->health, &e->metrics);
	return rc;
}

int engine_new(const struct cfg_agent *cfg, struct engine **out)
{
	struct engine *e = calloc(1, sizeof(*e));
	size_t i;
	int rc;

	*out = NULL;
	if (e == NULL)
		return MTLS_ERR_NOMEM;
	e->cfg = cfg;
	e->epfd = e->wakefd = e->sigfd = -1;
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
	e->ntunnels = cfg->ntunnels;
	e->tunnels = calloc(cfg->ntunnels ? cfg->ntunnels : 1, sizeof(*e->tunnels));
	if (e->tunnels == NULL) {
		free(e);
		return MTLS_ERR_NOMEM;
	}
	for (i = 0; i < e->ntunnels; i++)
		e->tunnels[i].listen_fd = -1;
	rc = setup_loop(e);
	if (rc == 0)
		rc = start_signer(e);
	if (rc == 0)
		rc = start_observers(e);
	for (i = 0; rc == 0 && i < e->ntunnels; i++)
		rc = setup_tunnel(e, &e->tunnels[i], cfg->tunnels[i]);
	if (rc == 0)
		rc = workers_start(e);
	if (rc != 0) {
		engine_free(e);
		return rc;
	}
	*out = e;
	return 0;
}

static void accept_on(struct engine *e, struct tunnel *t)
{
	enum stats_reason why;
	size_t busy;
	int i, fd, rc;

	for (i = 0; i < 64 && !e->stopping; i++) {
		fd = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		/* Small TLS records and echoes must not wait for Nagle (40 ms). */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
		e->next_id++;
		stats_conn(t->stats, STATS_ACCEPTED);
		pthread_mutex_lock(&e->mu);
		busy = e->nactive + e->qlen + e->in_handshake;
		pthread_mutex_unlock(&e->mu);
		why = STATS_R_CONNECTION_LIMIT;
		if (busy >= t->cfg->max_connections)
			rc = mtls_err_set(MTLS_ERR_BUSY, "connection limit of %u reached",
				t->cfg->max_connections);
		else if ((rc = workers_submit(e, t, fd, e->next_id)) != 0)
			why = STATS_R_QUEUE_FULL;
		if (rc != 0) {
			stats_fail(t->stats, STATS_REFUSED, why);
			mtls_log(MTLS_LOG_WARNING, "conn=%llu tunnel=%s refused: %s",
				(unsigned long long)e->next_id, t->cfg->name, mtls_err_detail());
			close(fd);
		}
	}
}

/* Tunnels the workers finished: start relaying them. */
static void take_handoffs(struct engine *e)
{
	struct conn *list, *c;
	uint64_t v;

	(void)!read(e->wakefd, &v, sizeof(v));
	pthread_mutex_lock(&e->mu);
	list = e->handoff;
	e->handoff = NULL;
	pthread_mutex_unlock(&e->mu);
	while ((c = list) != NULL) {
		list = c->next;
		c->next = c->prev = NULL;
		relay_start(e, c);
	}
}

static void stop_listening(struct engine *e)
{
	size_t i;

	for (i = 0; i < e->ntunnels; i++)
		if (e->tunnels[i].listen_fd >= 0) {
			close(e->tunnels[i].listen_fd);
			e->tunnels[i].listen_fd = -1;
		}
}

/* SIGHUP: certificate, chain, trust anchors and CRL are read again; new
 * handshakes use them, established tunnels keep theirs. A file that does
 * not load keeps the old side in service. */
static void reload_tunnel(struct engine *e, struct tunnel *t)
{
	struct side_ref *r, *old;
	char why[512];

	if (side_build(e, t, &r) != 0) {
		mtls_log_clean(why, sizeof(why), mtls_err_detail(), sizeof(why));
		mtls_log(MTLS_LOG_ERR, "SIGHUP: tunnel %s keeps its old certificates: %s",
			t->cfg->name, why);
		return;
	}
	pthread_mutex_lock(&e->mu);
	old = t->cur;
	t->cur = r;
	pthread_mutex_unlock(&e->mu);
	engine_side_put(e, old); /* freed when its last connection closes */
	mtls_log(MTLS_LOG_NOTICE, "SIGHUP: tunnel %s reloaded its certificate and trust files",
		t->cfg->name);
}

static void on_signal(struct engine *e)
{
	struct signalfd_siginfo si;
	size_t i;

	while (read(e->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			for (i = 0; i < e->ntunnels; i++)
				reload_tunnel(e, &e->tunnels[i]);
			continue;
		}
		if (!e->stopping)
			mtls_log(MTLS_LOG_NOTICE, "%s: no new connections; draining %zu tunnels",
				si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", e->nactive);
		e->stopping = 1;
		stop_listening(e);
	}
}

static void dispatch(struct engine *e, struct epoll_event *ev)
{
	struct ep_ref *ref = ev->data.ptr;

	switch (ref->kind) {
	case EP_LISTENER: accept_on(e, ref->ptr); break;
	case EP_WAKE: take_handoffs(e); break;
	case EP_SIGNAL: on_signal(e); break;
	case EP_PLAIN:
	case EP_TLS: relay_event(e, ref->ptr, ref->kind, ev->events); break;
	}
}

int engine_run(struct engine *e)
{
	struct epoll_event ev[EVENTS_MAX];
	struct timespec tick, drain = {0, 0};
	int n, i;

	clock_gettime(CLOCK_MONOTONIC, &tick);
	for (;;) {
		stats_loop_beat(); /* /healthz: the loop turns */
		n = epoll_wait(e->epfd, ev, EVENTS_MAX, e->nagain ? 0 : 1000);
		if (n < 0 && errno != EINTR)
			return mtls_err_set(MTLS_ERR_IO, "epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++)
			dispatch(e, &ev[i]);
		relay_after_batch(e);
		if (engine_ms_since(&tick) >= 1000) {
			relay_check_idle(e);
			for (i = 0; i < (int)e->ntunnels; i++)
				(void)tls_side_refresh_crl(e->tunnels[i].cur->side);
			relay_after_batch(e);
			clock_gettime(CLOCK_MONOTONIC, &tick);
		}
		if (!e->stopping)
			continue;
		if (drain.tv_sec == 0 && drain.tv_nsec == 0)
			clock_gettime(CLOCK_MONOTONIC, &drain);
		if (e->nactive == 0 || engine_ms_since(&drain) > DRAIN_MS)
			break;
	}
	mtls_log(MTLS_LOG_NOTICE, "stopped; %zu tunnels cut at the end of the drain", e->nactive);
	return 0;
}

void engine_free(struct engine *e)
{
	size_t i;

	if (e == NULL)
		return;
	metrics_stop(e->metrics); /* before health, which it reads */
	health_stop(e->health); /* before the signer, which it asks */
	if (e->workers != NULL)
		workers_stop(e);
	free(e->queue); /* only left if the workers never started */
	while (e->active != NULL)
		relay_close(e, e->active, "agent stopping");
	relay_after_batch(e);
	stop_listening(e);
	for (i = 0; i < e->ntunnels; i++)
		engine_side_put(e, e->tunnels[i].cur);
	free(e->tunnels);
	signer_free(e->signer);
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->wakefd >= 0)
		close(e->wakefd);
	if (e->sigfd >= 0)
		close(e->sigfd);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->cv);
	free(e);
}
