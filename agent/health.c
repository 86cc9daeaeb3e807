/* The token probe thread and its cache (see health.h). The cache lock is
 * held only to copy a few words: a probe that takes long (a hung signer)
 * holds no lock while it waits. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "stats.h"

#define DETAIL_MAX 96

struct health {
	struct signer *signer; /* written by the probe thread, under lock */
	size_t nkeys;
	pthread_t thread;
	int started;

	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t wake;
	int stop;
	struct signer *next; /* health_set_signer(): taken at the next round */
	size_t next_nkeys;
	struct health_key key[SIGNER_MAX_KEYS];
	char detail[SIGNER_MAX_KEYS][DETAIL_MAX]; /* why a key is unreachable */
	long long last_probe_ms, last_ok_ms;
};

/* One round over every key, then publish it. Logs changes of state. */
static void probe_round(struct health *h)
{
	enum signer_token_state st[SIGNER_MAX_KEYS];
	char detail[SIGNER_MAX_KEYS][DETAIL_MAX];
	long long at[SIGNER_MAX_KEYS], now;
	size_t k;
	int all_ok = 1;

	for (k = 0; k < h->nkeys; k++) {
		detail[k][0] = '\0';
		if (signer_token_state(h->signer, (unsigned)k, &st[k]) != 0)
			st[k] = SIGNER_TOKEN_UNREACHABLE;
		if (st[k] == SIGNER_TOKEN_UNREACHABLE)
			mtls_log_clean(detail[k], DETAIL_MAX, mtls_err_detail(), DETAIL_MAX - 1);
		at[k] = stats_now_ms();
		all_ok &= st[k] == SIGNER_TOKEN_OK;
	}
	now = stats_now_ms();
	pthread_mutex_lock(&h->lock);
	for (k = 0; k < h->nkeys; k++) {
		if (h->key[k].probed_ms != 0 && h->key[k].state != st[k])
			mtls_log(st[k] == SIGNER_TOKEN_OK ? MTLS_LOG_NOTICE : MTLS_LOG_WARNING,
				"health: token of key %zu: %s -> %s", k,
				signer_token_state_name(h->key[k].state),
				signer_token_state_name(st[k]));
		h->key[k].state = st[k];
		h->key[k].probed_ms = at[k];
		memcpy(h->detail[k], detail[k], DETAIL_MAX);
	}
	h->last_probe_ms = now;
	if (all_ok)
		h->last_ok_ms = now;
	pthread_mutex_unlock(&h->lock);
}

static void *probe_main(void *arg)
{
	struct health *h = arg;
	struct timespec next;

	pthread_mutex_lock(&h->lock);
	while (!h->stop) {
		clock_gettime(CLOCK_MONOTONIC, &next);
		next.tv_sec += HEALTH_PERIOD_MS / 1000;
		next.tv_nsec += (HEALTH_PERIOD_MS % 1000) * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (!h->stop && pthread_cond_timedwait(&h->wake, &h->lock, &next) != ETIMEDOUT)
			;
		if (h->stop)
			break;
		if (h->next != NULL) {
			h->signer = h->next;
			h->nkeys = h->next_nkeys;
			h->next = NULL;
			memset(h->key, 0, sizeof(h->key)); /* other keys now */
		}
		pthread_mutex_unlock(&h->lock);
		probe_round(h);
		pthread_mutex_lock(&h->lock);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

int health_start(struct signer *s, size_t nkeys, struct health **out)
{
	struct health *h;
	pthread_condattr_t ca;

	*out = NULL;
	if (s == NULL || nkeys == 0 || nkeys > SIGNER_MAX_KEYS)
		return mtls_err_set(MTLS_ERR_ARG, "health_start: bad signer or key count");
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "health_start");
	h->signer = s;
	h->nkeys = nkeys;
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->wake, &ca);
	pthread_condattr_destroy(&ca);
	probe_round(h); /* the first answer is there before anyone asks */
	if (pthread_create(&h->thread, NULL, probe_main, h) != 0) {
		health_stop(h);
		return mtls_err_set(MTLS_ERR_INTERNAL, "cannot start the token probe thread");
	}
	h->started = 1;
	*out = h;
	return 0;
}

void health_set_signer(struct health *h, struct signer *s, size_t nkeys)
{
	if (h == NULL || s == NULL || nkeys == 0 || nkeys > SIGNER_MAX_KEYS)
		return;
	pthread_mutex_lock(&h->lock);
	h->next = s;
	h->next_nkeys = nkeys;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
}

int health_uses(struct health *h, const struct signer *s)
{
	int used;

	if (h == NULL)
		return 0;
	pthread_mutex_lock(&h->lock);
	used = h->signer == s || h->next == s;
	pthread_mutex_unlock(&h->lock);
	return used;
}

void health_stop(struct health *h)
{
	if (h == NULL)
		return;
	if (h->started) {
		pthread_mutex_lock(&h->lock);
		h->stop = 1;
		pthread_cond_signal(&h->wake);
		pthread_mutex_unlock(&h->lock);
		pthread_join(h->thread, NULL);
	}
	pthread_cond_destroy(&h->wake);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

/* The first key that is not ok decides the line. */
static void summarize(struct health_status *st, char (*detail)[DETAIL_MAX], long long now)
{
	size_t k, bad = 0, first = 0;

	for (k = 0; k < st->nkeys; k++)
		if (st->key[k].state != SIGNER_TOKEN_OK && bad++ == 0)
			first = k;
	st->ok = bad == 0 && st->last_ok_ms != 0 && now - st->last_ok_ms <= HEALTH_STALE_MS;
	if (st->last_probe_ms == 0)
		snprintf(st->summary, sizeof(st->summary), "token state not known yet");
	else if (bad == 0 && !st->ok)
		snprintf(st->summary, sizeof(st->summary),
			"token state unknown: no answer from the signer for %lld s",
			(now - st->last_probe_ms) / 1000);
	else if (bad == 0)
		snprintf(st->summary, sizeof(st->summary), "token ok");
	else if (st->key[first].state == SIGNER_TOKEN_ABSENT)
		snprintf(st->summary, sizeof(st->summary), "token not present (key %zu)", first);
	else if (st->key[first].state == SIGNER_TOKEN_PIN_ERROR)
		snprintf(st->summary, sizeof(st->summary),
			"token PIN error (key %zu): needs an operator", first);
	else
		snprintf(st->summary, sizeof(st->summary), "token unreachable (key %zu)%s%s", first,
			detail[first][0] ? ": " : "", detail[first]);
}

void health_get(struct health *h, struct health_status *st)
{
	char detail[SIGNER_MAX_KEYS][DETAIL_MAX];

	memset(st, 0, sizeof(*st));
	if (h == NULL) {
		snprintf(st->summary, sizeof(st->summary), "no token health (not started)");
		return;
	}
	pthread_mutex_lock(&h->lock);
	st->nkeys = h->nkeys;
	memcpy(st->key, h->key, h->nkeys * sizeof(st->key[0]));
	memcpy(detail, h->detail, h->nkeys * sizeof(detail[0]));
	st->last_probe_ms = h->last_probe_ms;
	st->last_ok_ms = h->last_ok_ms;
	pthread_mutex_unlock(&h->lock);
	summarize(st, detail, stats_now_ms());
}
