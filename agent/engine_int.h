/* Internals shared by engine.c (setup, loop), worker.c (handshakes) and
 * relay.c (moving bytes of established tunnels). */
#ifndef MTLS_AGENT_ENGINE_INT_H
#define MTLS_AGENT_ENGINE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "engine.h"
#include "health.h"
#include "metrics.h"
#include "mtls/signer.h"
#include "stats.h"
#include "tls.h"

#define RELAY_BUF 65536

enum ep_kind {
	EP_LISTENER = 1,
	EP_PLAIN,
	EP_TLS,
	EP_WAKE,
	EP_SIGNAL,
};

/* What an epoll event points at. */
struct ep_ref {
	enum ep_kind kind;
	void *ptr;
};

/* A tunnel's TLS side with a reference count: SIGHUP builds a new side
 * (fresh certificate, chain, CA, CRL) and retires the old one, which lives
 * on until the last connection made with it closes. Counted under the
 * engine's mu. */
struct side_ref {
	struct tls_side *side;
	size_t refs;
};

/* A signer opened for a configuration's keys. Each reload opens a new one
 * (keys are looked up again); the old one lives until its last tunnel is
 * gone. Counted under mu. */
struct signer_ref {
	struct signer *signer;
	size_t nkeys;
	size_t refs;
	struct signer_ref *next; /* on e->sg_dead, waiting for health to let go */
};

/* One loaded configuration: tunnels made from it point into cfg, so it
 * lives until the last of them is gone. Counted under mu. */
/* A parsed configuration, shared by the generations made from it (a
 * command-line reload makes a new generation, with a new signer, from the
 * same options). Counted under mu. */
struct cfg_hold {
	struct cfg_agent *cfg; /* owned */
	size_t refs;
};

struct gen {
	struct cfg_agent *cfg; /* cfgh->cfg */
	struct cfg_hold *cfgh;
	struct signer_ref *sg;
	size_t refs;
};

/* A tunnel lives while it is in the engine's list (listed) or any job or
 * connection made on it remains (users, counted under mu; also what
 * max-connections limits). */
struct tunnel {
	const struct cfg_tunnel *cfg; /* in gen->cfg */
	struct gen *gen;
	struct engine *engine;
	struct side_ref *cur; /* for new handshakes; the tunnel holds one reference */
	unsigned key; /* index in the signer */
	struct stats_tunnel *stats; /* counters, kept by name for the process's life */
	int listen_fd;
	struct ep_ref ref;
	size_t users; /* queued jobs, handshakes and established connections */
	int listed;
	int accept_paused; /* out of descriptors: the listener rests until the next tick */
};

/* Bytes read from one side and not yet written to the other. An idle
 * tunnel holds no buffer: a read goes into the loop's scratch buffer for
 * its direction, and only what the other side did not take at once is
 * copied into memory of the connection's own (relay.c). */
struct buf {
	uint8_t *data; /* NULL, the loop's scratch buffer, or owned */
	size_t off, len;
	int owned; /* data was malloc'd for this connection */
};

struct conn {
	uint64_t id;
	struct tunnel *t;
	int plain_fd, tls_fd;
	struct side_ref *sref; /* the side tls was made with (one reference) */
	struct tls_conn *tls;
	struct buf p2t, t2p; /* plaintext side -> TLS side, and back */
	int plain_eof, tls_eof; /* no more bytes will come from that side */
	int close_sent, plain_shut;
	int tls_want; /* TLS_WANT_* of the last call that would block */
	uint32_t plain_ev, tls_ev; /* epoll interest now registered */
	uint64_t up, down; /* bytes plaintext->TLS and TLS->plaintext */
	struct timespec start, last;
	char peer[256];
	int resumed;
	const char *version;
	struct ep_ref plain_ref, tls_ref;
	struct conn *prev, *next;
	int dead; /* closed; freed after the current event batch */
	int again; /* stopped with work left: pump again */
};

/* A queue of accepted sockets waiting for a handshake worker. */
struct job {
	uint64_t id;
	int fd;
	struct tunnel *t;
	struct timespec accepted;
};

struct hs; /* worker.c: one handshake in progress */

struct engine {
	struct gen *gen; /* the configuration in force (the engine holds a reference) */
	char *reload_path; /* config file read again on SIGHUP; NULL: command line */
	struct health *health; /* token probe, never signs */
	struct metrics *metrics; /* NULL without metrics-listen */
	struct tunnel **tunnels; /* listed tunnels */
	size_t ntunnels;
	int epfd, wakefd, sigfd;
	struct ep_ref wake_ref, sig_ref;
	int stopping, reload_pending;
	uint64_t watchdog_ms; /* 0: systemd asked for no watchdog */
	struct timespec last_ping;
	int watchdog_held; /* pings held back: the token path does not answer */
	char status[200]; /* the last STATUS= sent */
	int in_process; /* signer = in-process at start: fixed until restart */
	int sandboxed; /* the data plane is confined (sandbox.h) */

	/* handshake queue and workers (worker.c) */
	pthread_mutex_t mu;
	struct job *queue;
	size_t qcap, qhead, qlen;
	int jobfd; /* eventfd, readable while jobs wait */
	int hs_epfd; /* the workers' set: jobfd and handshakes waiting on a peer */
	struct hs *hs_list; /* handshakes taken from the queue, not yet done */
	struct timespec hs_swept; /* deadlines last looked at */
	pthread_t *workers;
	size_t nworkers;
	int workers_stop;
	size_t in_handshake; /* on hs_list */
	size_t hs_max; /* in_handshake at most: jobs wait in the queue beyond */
	int jobs_paused; /* jobfd is out of the set: hs_max reached */
	struct conn *handoff; /* established by workers, for the loop */
	struct signer_ref *sg_dead; /* unused signers, freed by the loop */

	/* owned by the loop thread */
	struct conn *active;
	size_t nactive;
	struct conn *dead; /* closed in this event batch, freed after it */
	size_t nagain; /* active tunnels with work left over */
	uint64_t next_id;
	uint8_t scratch[2][RELAY_BUF]; /* reads land here: p2t, t2p */
};

/* worker.c */
int workers_start(struct engine *e);
void workers_stop(struct engine *e);
/* Queue an accepted socket; fails (MTLS_ERR_BUSY) when the queue is full. */
int workers_submit(struct engine *e, struct tunnel *t, int fd, uint64_t id);

/* relay.c */
void relay_start(struct engine *e, struct conn *c);
void relay_event(struct engine *e, struct conn *c, enum ep_kind side, uint32_t events);
void relay_close(struct engine *e, struct conn *c, const char *reason);
void relay_check_idle(struct engine *e);
/* Pump the tunnels that stopped with work left; free closed ones. */
void relay_after_batch(struct engine *e);

long engine_ms_since(const struct timespec *t);

/* engine.c: take and drop a reference to a tunnel's current TLS side. */
struct side_ref *engine_side_get(struct engine *e, struct tunnel *t);
void engine_side_put(struct engine *e, struct side_ref *r);
/* A job or connection on t ended: drop its reference (may free t). */
void engine_tunnel_put(struct engine *e, struct tunnel *t);

#endif
