/* Token health without signatures: a probe thread asks the signer about
 * each key's token (signer_token_state(): slot and token flags, login
 * state; never C_Sign) about once a second and caches the answers with
 * their time. Readers (the metrics endpoint, the systemd watchdog and
 * STATUS= line) only copy the cache: reading health never waits for the
 * token. */
#ifndef MTLS_AGENT_HEALTH_H
#define MTLS_AGENT_HEALTH_H

#include <stddef.h>

#include "mtls/signer.h"

#define HEALTH_PERIOD_MS 1000
/* A cache older than this counts as unknown (the signer stopped answering
 * the probe: it may be stuck in the token). */
#define HEALTH_STALE_MS 5000
#define HEALTH_SUMMARY_MAX 160

struct health;

struct health_key {
	enum signer_token_state state;
	long long probed_ms; /* CLOCK_MONOTONIC ms of this answer; 0: none yet */
};

struct health_status {
	size_t nkeys;
	struct health_key key[SIGNER_MAX_KEYS];
	long long last_probe_ms; /* monotonic ms the last round ended; 0: none */
	long long last_ok_ms; /* ... the last round in which every key was ok */
	int ok; /* every key ok, in a round at most HEALTH_STALE_MS old */
	/* One line: "token ok", "token not present (key 0)", "token PIN
	 * error (key 1): needs an operator", "token unreachable (key 0):
	 * ...", "token state unknown: no answer for 7 s". */
	char summary[HEALTH_SUMMARY_MAX];
};

/* Probe keys 0..nkeys-1 of s once now, then start the probe thread. s must
 * outlive the health object (stop health before freeing the signer). */
int health_start(struct signer *s, size_t nkeys, struct health **out);

/* Probe s (keys 0..nkeys-1) from the next round on (a config reload
 * opened other keys). The previous signer stays in use until the round in
 * progress ends: free it only once health_uses() says no. */
void health_set_signer(struct health *h, struct signer *s, size_t nkeys);
/* 1 while the probe thread may still call s. */
int health_uses(struct health *h, const struct signer *s);

/* Stop the thread (waits for a probe in progress) and free. NULL: no-op. */
void health_stop(struct health *h);

/* A copy of the cache; status->ok and summary judged at the time of the
 * call. h NULL: a status that says "no token health (not started)". */
void health_get(struct health *h, struct health_status *status);

#endif
