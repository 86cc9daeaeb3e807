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
#include "sandbox.h"
#include "sd.h"
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

/* Unregister and close a listening socket. Without the EPOLL_CTL_DEL a
 * socket systemd passed (it keeps its own copy) would stay in the epoll
 * set after our close, pointing at a tunnel that may be freed. */
static void close_listener(struct engine *e, int *fd)
{
	if (*fd < 0)
		return;
	(void)epoll_ctl(e->epfd, EPOLL_CTL_DEL, *fd, NULL);
	close(*fd);
	*fd = -1;
}

/* ---- references (all counted under e->mu) ---- */

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

/* An unused signer is freed by the loop once the health probe no longer
 * asks it (free_dead_signers). */
static void signer_ref_put(struct engine *e, struct signer_ref *sg)
{
	if (sg == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	if (--sg->refs == 0) {
		sg->next = e->sg_dead;
		e->sg_dead = sg;
	}
	pthread_mutex_unlock(&e->mu);
}

static void free_dead_signers(struct engine *e, int all)
{
	struct signer_ref **pp, *sg;

	pthread_mutex_lock(&e->mu);
	pp = &e->sg_dead;
	while ((sg = *pp) != NULL) {
		if (!all && health_uses(e->health, sg->signer)) {
			pp = &sg->next;
			continue;
		}
		*pp = sg->next;
		pthread_mutex_unlock(&e->mu);
		signer_free(sg->signer);
		free(sg);
		pthread_mutex_lock(&e->mu);
	}
	pthread_mutex_unlock(&e->mu);
}

static void gen_put(struct engine *e, struct gen *g)
{
	size_t left;

	if (g == NULL)
		return;
	pthread_mutex_lock(&e->mu);
	left = --g->refs;
	pthread_mutex_unlock(&e->mu);
	if (left == 0) {
		signer_ref_put(e, g->sg);
		pthread_mutex_lock(&e->mu);
		left = --g->cfgh->refs;
		pthread_mutex_unlock(&e->mu);
		if (left == 0) {
			cfg_free(g->cfgh->cfg);
			free(g->cfgh);
		}
		free(g);
	}
}

static void tunnel_release(struct engine *e, struct tunnel *t, int unlist)
{
	int last;

	pthread_mutex_lock(&e->mu);
	if (unlist)
		t->listed = 0;
	else
		t->users--;
	last = !t->listed && t->users == 0;
	pthread_mutex_unlock(&e->mu);
	if (!last)
		return;
	close_listener(e, &t->listen_fd);
	engine_side_put(e, t->cur);
	gen_put(e, t->gen);
	free(t);
}

void engine_tunnel_put(struct engine *e, struct tunnel *t)
{
	tunnel_release(e, t, 0);
}

/* ---- building a configuration's tunnels ---- */

/* The distinct key URIs of cfg in order; tunnels naming the same key
 * share an index, written to idx[]. */
static void key_list(const struct cfg_agent *cfg, const char **uris, size_t *n, unsigned *idx)
{
	size_t i, j;

	*n = 0;
	for (i = 0; i < cfg->ntunnels; i++) {
		for (j = 0; j < *n && strcmp(uris[j], cfg->tunnels[i]->key_uri) != 0; j++)
			;
		if (j == *n)
			uris[(*n)++] = cfg->tunnels[i]->key_uri;
		idx[i] = (unsigned)j;
	}
}

/* A generation for cfg (taken over, freed on failure), or for the
 * configuration of `same` (a command-line reload: same options, read
 * again) with a new signer for its keys. Every reload opens a new signer,
 * so keys are looked up again by their URIs: a key re-made under the same
 * name (`mtls-provision renew --rekey`) is found; the old signer serves
 * the old tunnels until they close. */
static int gen_new(struct engine *e, struct cfg_agent *cfg, struct gen *same, struct gen **out)
{
	const char *uris[CFG_MAX_TUNNELS];
	unsigned idx[CFG_MAX_TUNNELS];
	struct signer_config sc = {0};
	struct gen *g = calloc(1, sizeof(*g));
	struct signer_ref *sg = calloc(1, sizeof(*sg));
	struct cfg_hold *h = same ? same->cfgh : calloc(1, sizeof(*h));
	size_t n;
	int rc = MTLS_ERR_NOMEM;

	if (g == NULL || sg == NULL || h == NULL)
		goto fail;
	cfg = same ? h->cfg : cfg;
	key_list(cfg, uris, &n, idx);
	sc.key_uris = uris;
	sc.nkeys = n;
	sc.p11.pin_file = cfg->pin_file;
	sc.p11.pin_credential = cfg->pin_credential;
	sc.p11.allow_pin_value = cfg->allow_pin_value;
	rc = e->in_process ? signer_new_local(&sc, &sg->signer)
			   : signer_new_process(&sc, NULL, &sg->signer);
	if (rc != 0)
		goto fail;
	sg->nkeys = n;
	sg->refs = 1;
	g->sg = sg;
	g->cfg = cfg;
	g->cfgh = h;
	g->refs = 1;
	pthread_mutex_lock(&e->mu);
	if (same == NULL)
		h->cfg = cfg;
	h->refs++;
	pthread_mutex_unlock(&e->mu);
	*out = g;
	return 0;
fail:
	free(sg);
	free(g);
	if (same == NULL) {
		free(h);
		cfg_free(cfg);
	}
	return rc;
}

/* A new reference-counted side for tunnel t, from the files its
 * configuration names now. */
static int side_build(struct engine *e, struct tunnel *t, struct side_ref **out)
{
	struct side_ref *r = calloc(1, sizeof(*r));
	int rc;

	if (r == NULL)
		return MTLS_ERR_NOMEM;
	rc = tls_side_new(t->cfg, t->gen->sg->signer, t->key, &r->side);
	if (rc != 0) {
		free(r);
		return rc;
	}
	r->refs = 1;
	*out = r;
	return 0;
}

/* The listening socket for tc: one of old[] on the same address (a reload
 * keeps it, so no connection is refused meanwhile), else one systemd
 * passed, else a new one. *from: the old tunnel it came from, or NULL. */
static int take_listener(const struct cfg_tunnel *tc, struct tunnel **old, size_t nold,
	struct tunnel **from, int *fd, int *activated)
{
	size_t i;

	*from = NULL;
	*activated = 0;
	for (i = 0; i < nold; i++)
		if (old[i]->listen_fd >= 0 && strcmp(old[i]->cfg->listen, tc->listen) == 0) {
			*from = old[i];
			*fd = old[i]->listen_fd;
			return 0;
		}
	if ((*fd = sd_activation_take(tc->name, tc->listen)) >= 0) {
		*activated = 1;
		return 0;
	}
	return net_listen(tc->listen, fd);
}

/* The tunnels of generation g, listening (sockets of old[] on the same
 * address are shared, not taken yet). All or nothing: on failure nothing
 * is left open and the error names the tunnel. */
static int tunnels_build(struct engine *e, struct gen *g, struct tunnel **old, size_t nold,
	struct tunnel ***out, struct tunnel ***from)
{
	const char *uris[CFG_MAX_TUNNELS];
	unsigned idx[CFG_MAX_TUNNELS];
	struct tunnel **ts = calloc(g->cfg->ntunnels + 1, sizeof(*ts));
	struct tunnel **src = calloc(g->cfg->ntunnels + 1, sizeof(*src));
	const struct cfg_tunnel *tc;
	char why[512];
	size_t i, n;
	int rc = 0, activated;

	key_list(g->cfg, uris, &n, idx);
	if (ts == NULL || src == NULL)
		rc = MTLS_ERR_NOMEM;
	for (i = 0; rc == 0 && i < g->cfg->ntunnels; i++) {
		tc = g->cfg->tunnels[i];
		if ((ts[i] = calloc(1, sizeof(*ts[i]))) == NULL) {
			rc = MTLS_ERR_NOMEM;
			break;
		}
		ts[i]->cfg = tc;
		ts[i]->gen = g; /* a reference per tunnel */
		pthread_mutex_lock(&e->mu);
		g->refs++;
		pthread_mutex_unlock(&e->mu);
		ts[i]->engine = e;
		ts[i]->key = idx[i];
		ts[i]->listen_fd = -1;
		ts[i]->listed = 1;
		rc = side_build(e, ts[i], &ts[i]->cur);
		if (rc == 0)
			rc = take_listener(tc, old, nold, &src[i], &ts[i]->listen_fd, &activated);
		/* A new socket is registered now, so that a failure here fails the
		 * whole reload; a taken-over one is re-pointed at the switch. */
		if (rc == 0 && src[i] == NULL)
			rc = ep_add(e, ts[i]->listen_fd, &ts[i]->ref, EP_LISTENER, ts[i]);
		if (rc != 0) {
			/* tls.c's messages name the tunnel already */
			snprintf(why, sizeof(why), "%s", mtls_err_detail());
			if (strncmp(why, "tunnel ", 7) == 0)
				mtls_err_set(rc, "%s", why);
			else
				mtls_err_set(rc, "tunnel %s: %s", tc->name, why);
		}
		if (rc == 0)
			mtls_log(MTLS_LOG_NOTICE,
				"tunnel %s: %s mode, listening on %s%s, target %s", tc->name,
				tc->mode == TUNNEL_CLIENT ? "client" : "server", tc->listen,
				src[i]              ? " (kept)"
					: activated ? " (socket from systemd)"
						    : "",
				tc->target);
	}
	if (rc != 0) {
		for (i = 0; ts != NULL && i < g->cfg->ntunnels && ts[i] != NULL; i++) {
			if (src[i] == NULL)
				close_listener(e, &ts[i]->listen_fd);
			engine_side_put(e, ts[i]->cur);
			gen_put(e, g);
			free(ts[i]);
		}
		free(ts);
		free(src);
		return rc;
	}
	*out = ts;
	*from = src;
	return 0;
}

/* Put the new tunnels in service and retire the old ones: listeners taken
 * over are re-pointed, the others closed; retired tunnels live on while
 * connections made on them remain. */
static void tunnels_switch(struct engine *e, struct tunnel **ts, struct tunnel **src, size_t n)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct tunnel **old = e->tunnels;
	size_t i, nold = e->ntunnels;

	for (i = 0; i < n; i++) {
		/* Metrics change only with what is put in service. */
		ts[i]->stats = stats_tunnel(
			ts[i]->cfg->name, ts[i]->cfg->mode == TUNNEL_SERVER, ts[i]->key);
		stats_cert_expiry(ts[i]->stats, tls_side_cert_expiry(ts[i]->cur->side));
		if (src[i] == NULL)
			continue; /* registered by tunnels_build */
		ts[i]->ref.kind = EP_LISTENER;
		ts[i]->ref.ptr = ts[i];
		ev.data.ptr = &ts[i]->ref;
		src[i]->listen_fd = -1; /* now ts[i]'s */
		/* MOD of a registered fd to a pointer we own cannot fail */
		(void)epoll_ctl(e->epfd, EPOLL_CTL_MOD, ts[i]->listen_fd, &ev);
	}
	e->tunnels = ts;
	e->ntunnels = n;
	for (i = 0; i < nold; i++) {
		if (old[i]->listen_fd >= 0) {
			mtls_log(MTLS_LOG_NOTICE, "tunnel %s: no longer listening on %s",
				old[i]->cfg->name, old[i]->cfg->listen);
			close_listener(e, &old[i]->listen_fd);
		}
		tunnel_release(e, old[i], 1);
	}
	free(old);
	free(src);
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
	int rc = health_start(e->gen->sg->signer, e->gen->sg->nkeys, &e->health);

	stats_loop_beat(); /* the loop counts as alive from here on */
	if (rc == 0 && e->gen->cfg->metrics_listen != NULL)
		rc = metrics_start(e->gen->cfg->metrics_listen, e->health, &e->metrics);
	return rc;
}

/* Fork the signer launcher, then confine this process before any thread
 * starts and before anything is read or bound, so setup goes through the
 * same rules a reload will. */
static int confine(struct engine *e, const struct cfg_agent *cfg)
{
	struct sandbox_report rep;
	struct sandbox_rules r;
	int rc;

	e->in_process = cfg->signer_in_process;
	if (cfg->signer_in_process || cfg->sandbox_off) {
		mtls_log(MTLS_LOG_NOTICE, "sandbox: off (%s)",
			cfg->sandbox_off ? "sandbox = off"
					 : "signer = in-process: the PKCS#11 module runs here");
		return 0;
	}
	if ((rc = signer_launcher_start()) != 0)
		return rc;
	if ((rc = sandbox_rules_for(cfg, e->reload_path, &r)) != 0)
		return rc;
	rc = sandbox_enter(&r, &rep);
	sandbox_rules_free(&r);
	if (rc != 0)
		return rc;
	e->sandboxed = 1;
	if (rep.landlock_abi == 0)
		mtls_log(MTLS_LOG_WARNING,
			"sandbox: on, seccomp only: this kernel has no Landlock, so file access is "
			"not confined; signers start from pid %ld",
			signer_launcher_pid());
	else
		mtls_log(MTLS_LOG_NOTICE,
			"sandbox: on (seccomp, Landlock ABI %d); signers start from pid %ld",
			rep.landlock_abi, signer_launcher_pid());
	return 0;
}

int engine_new(struct cfg_agent *cfg, const char *reload_path, struct engine **out)
{
	struct engine *e = calloc(1, sizeof(*e));
	struct tunnel **ts = NULL, **src = NULL;
	int rc;

	*out = NULL;
	if (e == NULL || (reload_path != NULL && (e->reload_path = strdup(reload_path)) == NULL)) {
		free(e);
		cfg_free(cfg);
		return MTLS_ERR_NOMEM;
	}
	e->epfd = e->wakefd = e->sigfd = e->jobfd = e->hs_epfd = -1;
	pthread_mutex_init(&e->mu, NULL);
	sd_activation_init();
	rc = confine(e, cfg);
	if (rc == 0)
		rc = setup_loop(e);
	if (rc == 0)
		rc = gen_new(e, cfg, NULL, &e->gen);
	else
		cfg_free(cfg);
	if (rc == 0)
		rc = start_observers(e);
	if (rc == 0)
		rc = tunnels_build(e, e->gen, NULL, 0, &ts, &src);
	if (rc == 0)
		tunnels_switch(e, ts, src, e->gen->cfg->ntunnels);
	if (rc == 0)
		rc = workers_start(e);
	sd_activation_close_unused();
	if (rc != 0) {
		engine_free(e);
		return rc;
	}
	e->watchdog_ms = sd_watchdog_ms();
	*out = e;
	return 0;
}

/* accept4 failed for want of descriptors or memory: the connection stays
 * in the listen queue, and a level-triggered listener would wake the loop
 * again at once, for ever. Take it out of the set until the next tick. */
static void accept_pause(struct engine *e, struct tunnel *t, int err)
{
	struct epoll_event ev = {.events = 0, .data.ptr = &t->ref};

	if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, t->listen_fd, &ev) != 0)
		return;
	t->accept_paused = 1;
	mtls_log(MTLS_LOG_WARNING,
		"tunnel %s: cannot accept: %s; new connections wait in the listen queue for 1 s "
		"(raise the descriptor limit, LimitNOFILE=, or lower max-connections)",
		t->cfg->name, strerror(err));
}

/* The tick: listeners that rested take connections again. */
static void accept_resume(struct engine *e)
{
	struct epoll_event ev = {.events = EPOLLIN};
	size_t i;

	for (i = 0; i < e->ntunnels; i++) {
		struct tunnel *t = e->tunnels[i];

		if (!t->accept_paused || t->listen_fd < 0)
			continue;
		ev.data.ptr = &t->ref;
		if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, t->listen_fd, &ev) == 0)
			t->accept_paused = 0;
	}
}

static void accept_on(struct engine *e, struct tunnel *t)
{
	enum stats_reason why;
	int i, fd, rc, full;

	for (i = 0; i < 64 && !e->stopping; i++) {
		fd = accept4(t->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
				errno == ENOMEM)
				accept_pause(e, t, errno);
			return;
		}
		/* Small TLS records and echoes must not wait for Nagle (40 ms). */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
		e->next_id++;
		stats_conn(t->stats, STATS_ACCEPTED);
		pthread_mutex_lock(&e->mu);
		full = t->users >= t->cfg->max_connections;
		if (!full)
			t->users++; /* the job's reference */
		pthread_mutex_unlock(&e->mu);
		why = STATS_R_CONNECTION_LIMIT;
		if (full) {
			rc = mtls_err_set(MTLS_ERR_BUSY, "connection limit of %u reached",
				t->cfg->max_connections);
		} else if ((rc = workers_submit(e, t, fd, e->next_id)) != 0) {
			why = STATS_R_QUEUE_FULL;
			engine_tunnel_put(e, t);
		}
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
		close_listener(e, &e->tunnels[i]->listen_fd);
}

static void tell_systemd(struct engine *e, const struct health_status *h);

/* The agent-wide settings a reload cannot change in a running process. */
static void note_restart_only(const struct cfg_agent *a, const struct cfg_agent *b)
{
	const char *what = NULL;

	if (a->handshake_workers != b->handshake_workers)
		what = "handshake-workers";
	else if (a->handshake_queue != b->handshake_queue)
		what = "handshake-queue";
	else if ((a->metrics_listen == NULL) != (b->metrics_listen == NULL) ||
		(a->metrics_listen && strcmp(a->metrics_listen, b->metrics_listen) != 0))
		what = "metrics-listen";
	else if (a->signer_in_process != b->signer_in_process)
		what = "signer";
	else if (a->sandbox_off != b->sandbox_off)
		what = "sandbox";
	if (what != NULL)
		mtls_log(MTLS_LOG_WARNING, "SIGHUP: %s changed: it takes effect at the next start",
			what);
}

/* SIGHUP. With a config file: read it again and put what it says in
 * service (tunnels added, removed or changed; other keys open a new
 * signer); a file with a mistake keeps the running configuration. From the
 * command line: certificate, chain, trust anchors and CRL are read again.
 * Either way established tunnels keep what they were made with, and a
 * listener on an unchanged address stays open throughout. */
static void reload(struct engine *e)
{
	struct cfg_agent *cfg = NULL;
	struct tunnel **ts, **src;
	struct health_status h;
	struct gen *g;
	char why[512];
	int rc = 0;

	sd_reloading();
	if (e->reload_path != NULL) {
		rc = cfg_load_file(e->reload_path, &cfg);
		if (rc == 0)
			rc = cfg_check(cfg);
		if (rc == 0)
			rc = gen_new(e, cfg, NULL, &g); /* frees cfg on failure */
		else
			cfg_free(cfg);
	} else {
		rc = gen_new(e, NULL, e->gen, &g);
	}
	if (rc == 0) {
		rc = tunnels_build(e, g, e->tunnels, e->ntunnels, &ts, &src);
		if (rc != 0) {
			snprintf(why, sizeof(why), "%s", mtls_err_detail());
			gen_put(e, g);
			mtls_err_set(rc, "%s", why);
		}
	}
	if (rc != 0) {
		mtls_log_clean(why, sizeof(why), mtls_err_detail(), sizeof(why));
		mtls_log(MTLS_LOG_ERR, "SIGHUP: %s; keeping the running configuration%s", why,
			e->sandboxed && strstr(why, strerror(EACCES)) != NULL
				? " (the sandbox reads files only beneath the directories the agent "
				  "started with: restart it to use another directory)"
				: "");
		sd_ready(e->status);
		return;
	}
	note_restart_only(e->gen->cfg, g->cfg);
	mtls_log_set_level(g->cfg->log_level);
	health_set_signer(e->health, g->sg->signer, g->sg->nkeys);
	tunnels_switch(e, ts, src, g->cfg->ntunnels);
	gen_put(e, e->gen);
	e->gen = g;
	if (e->reload_path != NULL)
		mtls_log(MTLS_LOG_NOTICE, "SIGHUP: %s reloaded: %zu tunnels", e->reload_path,
			e->ntunnels);
	else
		mtls_log(MTLS_LOG_NOTICE,
			"SIGHUP: certificates and trust files reloaded for %zu tunnels",
			e->ntunnels);
	e->status[0] = '\0'; /* READY=1 again, with a fresh status */
	health_get(e->health, &h);
	tell_systemd(e, &h);
}

static void on_signal(struct engine *e)
{
	struct signalfd_siginfo si;
	char status[64];

	while (read(e->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			e->reload_pending = 1; /* after this batch: its events may name tunnels */
			continue;
		}
		if (!e->stopping) {
			mtls_log(MTLS_LOG_NOTICE, "%s: no new connections; draining %zu tunnels",
				si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT", e->nactive);
			snprintf(status, sizeof(status), "draining %zu tunnels", e->nactive);
			sd_stopping(status);
		}
		e->stopping = 1;
		stats_set_draining();
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

/* STATUS= when it changes (READY=1 with the first, and after a reload). */
static void tell_systemd(struct engine *e, const struct health_status *h)
{
	char status[sizeof(e->status)];
	int first = e->status[0] == '\0';

	snprintf(status, sizeof(status), "%zu tunnel%s, %zu connection%s; %s", e->ntunnels,
		e->ntunnels == 1 ? "" : "s", e->nactive, e->nactive == 1 ? "" : "s", h->summary);
	if (!first && strcmp(status, e->status) == 0)
		return;
	memcpy(e->status, status, sizeof(status));
	if (first)
		sd_ready(status);
	else
		sd_status(status);
}

/* The watchdog is fed while the loop turns and the token path answers:
 * the health probe must have had an answer from the signer lately. A
 * token that is absent still answers (a restart cannot bring it back and
 * would cut the established tunnels); a signer stuck in the module does
 * not, and then systemd's restart is the cure. */
static void feed_watchdog(struct engine *e, const struct health_status *h)
{
	long long age = stats_now_ms() - h->last_probe_ms;
	long long limit = (long long)e->watchdog_ms / 2;

	if (e->watchdog_ms == 0 || engine_ms_since(&e->last_ping) < (long)(e->watchdog_ms / 2))
		return;
	if (limit < 2500)
		limit = 2500;
	if (h->last_probe_ms == 0 || age > limit) {
		if (!e->watchdog_held)
			mtls_log(MTLS_LOG_ERR,
				"watchdog: not fed: the token has not answered a state probe "
				"for %lld ms",
				age);
		e->watchdog_held = 1;
		return;
	}
	if (e->watchdog_held)
		mtls_log(MTLS_LOG_NOTICE, "watchdog: the token answers again");
	e->watchdog_held = 0;
	sd_watchdog_ping();
	clock_gettime(CLOCK_MONOTONIC, &e->last_ping);
}

int engine_run(struct engine *e)
{
	struct epoll_event ev[EVENTS_MAX];
	struct timespec tick, drain = {0, 0};
	struct health_status h;
	int n, i, wait_ms = 1000;

	if (e->watchdog_ms != 0 && e->watchdog_ms / 4 < 1000)
		wait_ms = e->watchdog_ms / 4 ? (int)(e->watchdog_ms / 4) : 1;
	health_get(e->health, &h);
	tell_systemd(e, &h);
	feed_watchdog(e, &h);
	clock_gettime(CLOCK_MONOTONIC, &tick);
	for (;;) {
		stats_loop_beat(); /* /healthz: the loop turns */
		n = epoll_wait(e->epfd, ev, EVENTS_MAX, e->nagain ? 0 : wait_ms);
		if (n < 0 && errno != EINTR)
			return mtls_err_set(MTLS_ERR_IO, "epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++)
			dispatch(e, &ev[i]);
		relay_after_batch(e);
		if (e->reload_pending && !e->stopping)
			reload(e);
		e->reload_pending = 0;
		if (e->watchdog_ms != 0) {
			health_get(e->health, &h);
			feed_watchdog(e, &h);
		}
		if (engine_ms_since(&tick) >= 1000) {
			relay_check_idle(e);
			accept_resume(e);
			for (i = 0; i < (int)e->ntunnels; i++)
				(void)tls_side_refresh_crl(e->tunnels[i]->cur->side);
			relay_after_batch(e);
			free_dead_signers(e, 0);
			health_get(e->health, &h);
			if (!e->stopping)
				tell_systemd(e, &h);
			clock_gettime(CLOCK_MONOTONIC, &tick);
		}
		if (!e->stopping)
			continue;
		if (drain.tv_sec == 0 && drain.tv_nsec == 0)
			clock_gettime(CLOCK_MONOTONIC, &drain);
		if (e->nactive == 0 ||
			engine_ms_since(&drain) >= (long)e->gen->cfg->drain_timeout_ms)
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
		tunnel_release(e, e->tunnels[i], 1);
	free(e->tunnels);
	gen_put(e, e->gen);
	free_dead_signers(e, 1);
	if (e->epfd >= 0)
		close(e->epfd);
	if (e->wakefd >= 0)
		close(e->wakefd);
	if (e->sigfd >= 0)
		close(e->sigfd);
	pthread_mutex_destroy(&e->mu);
	free(e->reload_path);
	if (e->sandboxed)
		signer_launcher_stop(); /* after the last signer is gone */
	free(e);
}
