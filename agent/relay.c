/* Moving the bytes of established tunnels, in the event loop thread only.
 * Each direction has one bounded buffer; a side is read only when its
 * buffer is empty, so a slow reader slows its writer (back-pressure) and
 * nothing is dropped: a tunnel closes only when both directions have ended
 * and both buffers were written out. Reads go into the loop's scratch
 * buffers; what the other side does not take at once is kept in memory of
 * the tunnel's own until it is written, so an idle tunnel holds none. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine_int.h"
#include "mtls/err.h"
#include "mtls/log.h"

/* Outcome of one step: progress made, nothing to do, the socket would
 * block, or fatal. */
enum step {
	STEP_IDLE = 0,
	STEP_MOVED,
	STEP_BLOCKED,
	STEP_FATAL,
};

static void set_interest(struct engine *e, int fd, struct ep_ref *ref, uint32_t *cur, uint32_t want)
{
	struct epoll_event ev = {.events = want, .data.ptr = ref};

	if (*cur == want)
		return;
	(void)epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev);
	*cur = want;
}

/* Where the next read of a direction goes: its scratch buffer. */
static uint8_t *buf_space(struct engine *e, struct buf *b, int dir)
{
	if (b->data == NULL)
		b->data = e->scratch[dir];
	return b->data;
}

/* An empty buffer that holds no memory. */
static void buf_free(struct buf *b)
{
	if (b->owned)
		free(b->data);
	b->data = NULL;
	b->off = b->len = 0;
	b->owned = 0;
}

/* After a step: an empty buffer holds no memory; bytes left in a scratch
 * buffer move to memory of the connection's own (the next tunnel reuses
 * the scratch). */
static int buf_settle(struct buf *b)
{
	uint8_t *copy;

	if (b->off >= b->len) {
		buf_free(b);
		return 0;
	}
	if (b->owned)
		return 0;
	if ((copy = malloc(b->len - b->off)) == NULL)
		return -1;
	memcpy(copy, b->data + b->off, b->len - b->off);
	b->data = copy;
	b->len -= b->off;
	b->off = 0;
	b->owned = 1;
	return 0;
}

/* plaintext socket -> p2t buffer */
static enum step plain_read(struct engine *e, struct conn *c, const char **why)
{
	ssize_t n;

	if (c->plain_eof || c->p2t.len > 0)
		return STEP_IDLE;
	n = read(c->plain_fd, buf_space(e, &c->p2t, 0), RELAY_BUF);
	if (n > 0) {
		c->p2t.off = 0;
		c->p2t.len = (size_t)n;
		return STEP_MOVED;
	}
	if (n == 0) {
		c->plain_eof = 1;
		return STEP_MOVED;
	}
	if (errno == EAGAIN)
		return STEP_BLOCKED;
	if (errno == EINTR)
		return STEP_IDLE;
	*why = "plaintext side read error";
	return STEP_FATAL;
}

/* p2t buffer -> TLS */
static enum step tls_write(struct conn *c, const char **why)
{
	long n;
	int want = 0;

	if (c->p2t.off >= c->p2t.len)
		return STEP_IDLE;
	n = tls_conn_write(c->tls, c->p2t.data + c->p2t.off, c->p2t.len - c->p2t.off, &want);
	if (n > 0) {
		c->p2t.off += (size_t)n;
		c->up += (uint64_t)n;
		stats_bytes(c->t->stats, (uint64_t)n, 0);
		if (c->p2t.off == c->p2t.len)
			c->p2t.off = c->p2t.len = 0;
		return STEP_MOVED;
	}
	if (n == MTLS_ERR_AGAIN) {
		c->tls_want |= want;
		return STEP_BLOCKED;
	}
	*why = "TLS side write error";
	return STEP_FATAL;
}

/* TLS -> t2p buffer */
static enum step tls_read(struct engine *e, struct conn *c, const char **why)
{
	long n;
	int want = 0;

	if (c->tls_eof || c->t2p.len > 0)
		return STEP_IDLE;
	n = tls_conn_read(c->tls, buf_space(e, &c->t2p, 1), RELAY_BUF, &want);
	if (n > 0) {
		c->t2p.off = 0;
		c->t2p.len = (size_t)n;
		return STEP_MOVED;
	}
	if (n == 0) {
		c->tls_eof = 1;
		return STEP_MOVED;
	}
	if (n == MTLS_ERR_AGAIN) {
		c->tls_want |= want;
		return STEP_BLOCKED;
	}
	*why = "TLS side read error";
	return STEP_FATAL;
}

/* t2p buffer -> plaintext socket */
static enum step plain_write(struct conn *c, const char **why)
{
	ssize_t n;

	if (c->t2p.off >= c->t2p.len)
		return STEP_IDLE;
	n = send(c->plain_fd, c->t2p.data + c->t2p.off, c->t2p.len - c->t2p.off, MSG_NOSIGNAL);
	if (n > 0) {
		c->t2p.off += (size_t)n;
		c->down += (uint64_t)n;
		stats_bytes(c->t->stats, 0, (uint64_t)n);
		if (c->t2p.off == c->t2p.len)
			c->t2p.off = c->t2p.len = 0;
		return STEP_MOVED;
	}
	if (n < 0 && errno == EAGAIN)
		return STEP_BLOCKED;
	if (n < 0 && errno == EINTR)
		return STEP_IDLE;
	*why = "plaintext side write error";
	return STEP_FATAL;
}

/* Pass an end of stream on once everything before it was written. */
static void half_close(struct conn *c)
{
	if (c->plain_eof && c->p2t.len == 0 && !c->close_sent) {
		tls_conn_close_notify(c->tls);
		(void)shutdown(c->tls_fd, SHUT_WR);
		c->close_sent = 1;
	}
	if (c->tls_eof && c->t2p.len == 0 && !c->plain_shut) {
		(void)shutdown(c->plain_fd, SHUT_WR);
		c->plain_shut = 1;
	}
}

static void update_interest(struct engine *e, struct conn *c)
{
	uint32_t pe = 0, te = 0;

	if (!c->plain_eof && c->p2t.len == 0)
		pe |= EPOLLIN;
	if (c->t2p.len > 0)
		pe |= EPOLLOUT;
	if (!c->tls_eof && c->t2p.len == 0)
		te |= EPOLLIN;
	if (c->p2t.len > 0 || (c->tls_want & TLS_WANT_WRITE))
		te |= EPOLLOUT;
	set_interest(e, c->plain_fd, &c->plain_ref, &c->plain_ev, pe);
	set_interest(e, c->tls_fd, &c->tls_ref, &c->tls_ev, te);
}

/* One pass over the four steps. A step whose socket would block is not
 * tried again in this pump (its bit in *blocked): epoll is level-triggered,
 * so bytes or room that come later bring the tunnel back, and a transfer in
 * one direction does not pay a failing read() or recv() a record on the
 * other. The TLS steps' wants (c->tls_want) stay as they blocked. */
static enum step pump_once(struct engine *e, struct conn *c, unsigned *blocked, const char **why)
{
	enum step s[4];
	int i, moved = 0;

	s[0] = *blocked & 1u ? STEP_IDLE : plain_read(e, c, why);
	s[1] = *blocked & 2u ? STEP_IDLE : tls_write(c, why);
	s[2] = *blocked & 4u ? STEP_IDLE : tls_read(e, c, why);
	s[3] = *blocked & 8u ? STEP_IDLE : plain_write(c, why);
	for (i = 0; i < 4; i++) {
		if (s[i] == STEP_FATAL)
			return STEP_FATAL;
		if (s[i] == STEP_BLOCKED)
			*blocked |= 1u << i;
		moved |= s[i] == STEP_MOVED;
	}
	return moved ? STEP_MOVED : STEP_IDLE;
}

/* Move what can be moved; bounded so one busy tunnel cannot starve the
 * others (it gets the next turn from epoll). */
static void pump(struct engine *e, struct conn *c)
{
	const char *why = NULL;
	unsigned blocked = 0;
	enum step s;
	int i, moved = 1, any = 0;

	c->tls_want = 0;
	for (i = 0; i < 64 && moved; i++) {
		s = pump_once(e, c, &blocked, &why);
		if (s == STEP_FATAL) {
			relay_close(e, c, why);
			return;
		}
		if (buf_settle(&c->p2t) != 0 || buf_settle(&c->t2p) != 0) {
			relay_close(e, c, "out of memory for pending bytes");
			return;
		}
		moved = s == STEP_MOVED;
		any |= moved;
		half_close(c);
	}
	if (any) /* idle means no bytes moved: any step counts */
		clock_gettime(CLOCK_MONOTONIC, &c->last);
	if (c->plain_eof && c->tls_eof && c->p2t.len == 0 && c->t2p.len == 0) {
		relay_close(e, c, "closed");
		return;
	}
	update_interest(e, c);
	if (moved && !c->again) { /* more to do: come back after this batch */
		c->again = 1;
		e->nagain++;
	}
}

void relay_start(struct engine *e, struct conn *c)
{
	struct epoll_event ev = {.events = 0};

	c->plain_ref.kind = EP_PLAIN;
	c->plain_ref.ptr = c;
	c->tls_ref.kind = EP_TLS;
	c->tls_ref.ptr = c;
	ev.data.ptr = &c->plain_ref;
	(void)epoll_ctl(e->epfd, EPOLL_CTL_ADD, c->plain_fd, &ev);
	ev.data.ptr = &c->tls_ref;
	(void)epoll_ctl(e->epfd, EPOLL_CTL_ADD, c->tls_fd, &ev);
	clock_gettime(CLOCK_MONOTONIC, &c->last);
	c->next = e->active;
	if (e->active != NULL)
		e->active->prev = c;
	e->active = c;
	e->nactive++;
	stats_active(c->t->stats, 1);
	mtls_log(MTLS_LOG_INFO, "conn=%llu tunnel=%s established peer=\"%s\" %s %s after %ld ms",
		(unsigned long long)c->id, c->t->cfg->name, c->peer, c->version,
		c->resumed ? "resumed" : "full-handshake", engine_ms_since(&c->start));
	pump(e, c); /* wolfSSL may already hold decrypted bytes */
}

void relay_event(struct engine *e, struct conn *c, enum ep_kind side, uint32_t events)
{
	(void)side;
	(void)events;
	if (!c->dead)
		pump(e, c);
}

void relay_after_batch(struct engine *e)
{
	struct conn *c, *next;

	for (c = e->active; c != NULL && e->nagain > 0; c = next) {
		next = c->next;
		if (c->again) {
			c->again = 0;
			e->nagain--;
			pump(e, c); /* may close c: next was taken first */
		}
	}
	while ((c = e->dead) != NULL) {
		e->dead = c->next;
		engine_tunnel_put(e, c->t); /* the connection's reference */
		free(c);
	}
}

void relay_close(struct engine *e, struct conn *c, const char *reason)
{
	mtls_log(MTLS_LOG_NOTICE,
		"conn=%llu tunnel=%s peer=\"%s\" %s up=%llu down=%llu duration_ms=%ld reason=%s",
		(unsigned long long)c->id, c->t->cfg->name, c->peer,
		c->resumed ? "resumed" : "full-handshake", (unsigned long long)c->up,
		(unsigned long long)c->down, engine_ms_since(&c->start), reason);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		e->active = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	e->nactive--;
	stats_active(c->t->stats, -1);
	if (c->again)
		e->nagain--;
	tls_conn_free(c->tls);
	buf_free(&c->p2t);
	buf_free(&c->t2p);
	engine_side_put(e, c->sref);
	close(c->plain_fd); /* closing removes them from epoll */
	close(c->tls_fd);
	/* Events of this batch may still point at c: free it after the batch. */
	c->dead = 1;
	c->next = e->dead;
	e->dead = c;
}

void relay_check_idle(struct engine *e)
{
	struct conn *c = e->active, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		if (c->t->cfg->idle_timeout_ms != 0 &&
			engine_ms_since(&c->last) > (long)c->t->cfg->idle_timeout_ms)
			relay_close(e, c, "idle timeout");
	}
}
