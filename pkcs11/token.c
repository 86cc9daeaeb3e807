/* A token: found by URI, pinned by label and serial, one login shared by a
 * pool of sessions, and found again by URI after it was pulled out (its slot
 * id may change). Tokens are shared process-wide by (module, label, serial). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>

#include "admin_int.h"
#include "bridge.h"
#include "mtls/err.h"
#include "mtls/log.h"

#define SLOTS_MAX 256
#define MECHS_MAX 512
#define POOL_CAP 8
#define RESCAN_MS_DEFAULT 200
#define WAIT_MS_DEFAULT 30000

static pthread_mutex_t tokens_mu = PTHREAD_MUTEX_INITIALIZER;
static struct p11_token *tokens;

static int pin_failed_before(const struct p11_token *tok);

static long ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000L + (now.tv_nsec - t->tv_nsec) / 1000000L;
}

/* A space-padded token field as a bounded C string, for messages. */
static void field(char *out, size_t outlen, const unsigned char *f, size_t width)
{
	size_t n = p11_kit_space_strlen(f, width);
	size_t i;

	if (n >= outlen)
		n = outlen - 1;
	for (i = 0; i < n; i++)
		out[i] = (f[i] < 0x20 || f[i] >= 0x7f) ? '?' : (char)f[i];
	out[n] = '\0';
}

static int same_token(const CK_TOKEN_INFO *a, const CK_TOKEN_INFO *b)
{
	/* Full-width compares: "gw1" must never match "gw10". */
	return memcmp(a->label, b->label, sizeof(a->label)) == 0 &&
		memcmp(a->serialNumber, b->serialNumber, sizeof(a->serialNumber)) == 0 &&
		memcmp(a->manufacturerID, b->manufacturerID, sizeof(a->manufacturerID)) == 0;
}

/* Does slot match the URI (first open) or the pinned token (rescan)? */
static int slot_matches(struct p11_token *tok, P11KitUri *uri, CK_SLOT_ID slot,
	const CK_TOKEN_INFO *ti, const CK_TOKEN_INFO *pinned)
{
	CK_SLOT_INFO si;
	CK_SLOT_ID want;

	if ((ti->flags & CKF_TOKEN_INITIALIZED) == 0)
		return 0;
	if (pinned != NULL)
		return same_token(ti, pinned);
	if (!p11_kit_uri_match_token_info(uri, ti))
		return 0;
	want = p11_kit_uri_get_slot_id(uri);
	if (want != (CK_SLOT_ID)-1 && want != slot)
		return 0;
	if (tok->fl->C_GetSlotInfo(slot, &si) != CKR_OK)
		return 0;
	return p11_kit_uri_match_slot_info(uri, &si);
}

static void add_candidate(char *list, size_t cap, const CK_TOKEN_INFO *ti, CK_SLOT_ID slot)
{
	char label[33], serial[17];
	size_t used = strlen(list);

	field(label, sizeof(label), ti->label, sizeof(ti->label));
	field(serial, sizeof(serial), ti->serialNumber, sizeof(ti->serialNumber));
	if (used < cap)
		snprintf(list + used, cap - used, "%stoken=%s serial=%s (slot %lu)",
			used ? "; " : "", label, serial, (unsigned long)slot);
}

/* Find the one slot whose token matches; 0, MTLS_ERR_NO_TOKEN, AMBIGUOUS or
 * TOKEN_ABSENT (rescan, pinned != NULL). */
static int find_slot(struct p11_token *tok, P11KitUri *uri, const CK_TOKEN_INFO *pinned,
	CK_SLOT_ID *slot, CK_TOKEN_INFO *info)
{
	CK_SLOT_ID slots[SLOTS_MAX];
	CK_ULONG n = SLOTS_MAX, i, matches = 0;
	CK_TOKEN_INFO ti;
	char cands[512] = "";
	CK_RV rv;

	rv = tok->fl->C_GetSlotList(CK_TRUE, slots, &n);
	if (rv == CKR_BUFFER_TOO_SMALL) /* the list's contents are undefined then */
		return mtls_err_set(MTLS_ERR_MODULE,
			"the module lists more than %d slots with a "
			"token; that many is not supported",
			SLOTS_MAX);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_GetSlotList", NULL);
	for (i = 0; i < n && i < SLOTS_MAX; i++) {
		if (tok->fl->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (!slot_matches(tok, uri, slots[i], &ti, pinned))
			continue;
		add_candidate(cands, sizeof(cands), &ti, slots[i]);
		if (matches++ == 0) {
			*slot = slots[i];
			*info = ti;
		}
	}
	if (matches == 1)
		return 0;
	if (pinned != NULL)
		return mtls_err_set(MTLS_ERR_TOKEN_ABSENT,
			"token not present (looked again in %lu slots)", (unsigned long)n);
	if (matches == 0)
		return mtls_err_set(MTLS_ERR_NO_TOKEN,
			"no initialised token in %s matches the URI (%lu slots with a token); "
			"list them with `pkcs11-tool --module %s -L`",
			tok->mod->path, (unsigned long)n, tok->mod->path);
	return mtls_err_set(MTLS_ERR_AMBIGUOUS,
		"the URI matches %lu tokens: %s; add token= and serial= to pick one",
		(unsigned long)matches, cands);
}

/* The token's mechanisms. nmechs never exceeds what mechs holds, on any
 * path; a list whose length changes between count and fetch is asked for
 * again (after CKR_BUFFER_TOO_SMALL the buffer's contents are undefined). */
static int read_mechanisms(struct p11_token *tok)
{
	CK_ULONG n, cap;
	CK_RV rv;
	int tries;

	free(tok->mechs);
	tok->mechs = NULL;
	tok->nmechs = 0;
	for (tries = 0; tries < 3; tries++) {
		rv = tok->fl->C_GetMechanismList(tok->slot, NULL, &n);
		if (rv != CKR_OK)
			return rv_fail(rv, "C_GetMechanismList", NULL);
		if (n > MECHS_MAX)
			return mtls_err_set(MTLS_ERR_TOKEN,
				"the token lists %lu mechanisms; at most %d are supported",
				(unsigned long)n, MECHS_MAX);
		free(tok->mechs);
		tok->mechs = calloc(n ? n : 1, sizeof(*tok->mechs));
		if (tok->mechs == NULL)
			return MTLS_ERR_NOMEM;
		cap = n;
		rv = tok->fl->C_GetMechanismList(tok->slot, tok->mechs, &n);
		if (rv == CKR_OK) {
			tok->nmechs = n < cap ? n : cap;
			return 0;
		}
		if (rv != CKR_BUFFER_TOO_SMALL)
			return rv_fail(rv, "C_GetMechanismList", NULL);
	}
	return mtls_err_set(MTLS_ERR_TOKEN, "C_GetMechanismList: the list kept changing");
}

int token_has_mech(struct p11_token *tok, CK_MECHANISM_TYPE m)
{
	CK_ULONG i;

	for (i = 0; i < tok->nmechs; i++)
		if (tok->mechs[i] == m)
			return 1;
	return 0;
}

/* The PIN, from the first source configured. */
static int load_pin(struct p11_token *tok, P11KitUri *uri)
{
	const char *src = p11_kit_uri_get_pin_source(uri);
	const char *val = p11_kit_uri_get_pin_value(uri);

	if (tok->opt.pin_file != NULL)
		return mtls_secret_from_file(tok->opt.pin_file, &tok->pin);
	if (tok->opt.pin_credential != NULL)
		return mtls_secret_from_credential(tok->opt.pin_credential, &tok->pin);
	if (src != NULL) {
		if (strncmp(src, "file:", 5) == 0)
			src += 5;
		if (src[0] != '/')
			return mtls_err_set(MTLS_ERR_PIN_SOURCE,
				"pin-source must be an absolute file path (file:/path or /path)");
		return mtls_secret_from_file(src, &tok->pin);
	}
	if (val != NULL && tok->opt.allow_pin_value)
		return mtls_secret_new(val, strlen(val), &tok->pin);
	return 0;
}

/* Close one session. Closing the last one logs the application out
 * (PKCS#11 v2.40, C_CloseSession), so the next use must log in again. */
static void close_session_locked(struct p11_token *tok, CK_SESSION_HANDLE h)
{
	(void)tok->fl->C_CloseSession(h);
	if (--tok->nopen == 0)
		tok->logged_in = 0;
}

static void pool_close_idle(struct p11_token *tok)
{
	while (tok->nidle > 0)
		close_session_locked(tok, tok->idle[--tok->nidle]);
}

static void token_destroy(struct p11_token *tok)
{
	if (tok == NULL)
		return;
	if (tok->idle != NULL)
		pool_close_idle(tok);
	free(tok->idle);
	free(tok->mechs);
	mtls_secret_free(tok->pin);
	module_release(tok->mod);
	pthread_mutex_destroy(&tok->mu);
	pthread_cond_destroy(&tok->cv);
	free(tok);
}

static unsigned pool_size(const struct p11_token *tok)
{
	CK_ULONG lim = tok->info.ulMaxSessionCount;
	unsigned max = tok->opt.max_sessions ? tok->opt.max_sessions : POOL_CAP;

	if (max > POOL_CAP)
		max = POOL_CAP;
	if (lim != CK_EFFECTIVELY_INFINITE && lim != CK_UNAVAILABLE_INFORMATION && lim < max)
		max = (unsigned)lim;
	return max ? max : 1;
}

/* Everything that follows the choice of slot: PIN, mechanisms, pool. */
static int token_setup(struct p11_token *tok, P11KitUri *uri)
{
	int rc;

	rc = read_mechanisms(tok);
	if (rc != 0)
		return rc;
	rc = load_pin(tok, uri);
	if (rc != 0)
		return rc;
	if (tok->pin != NULL)
		tok->want_login = 1;
	else if (tok->info.flags & CKF_PROTECTED_AUTHENTICATION_PATH)
		tok->want_login = (tok->info.flags & CKF_LOGIN_REQUIRED) != 0;
	else if (tok->info.flags & CKF_LOGIN_REQUIRED)
		mtls_log(MTLS_LOG_NOTICE,
			"token requires login but no PIN source was given; "
			"private keys will not be visible");
	tok->max = pool_size(tok);
	tok->idle = calloc(tok->max, sizeof(*tok->idle));
	if (tok->idle == NULL)
		return MTLS_ERR_NOMEM;
	tok->present = 1;
	clock_gettime(CLOCK_MONOTONIC, &tok->last_rescan);
	return 0;
}

static struct p11_token *registry_find(struct p11_module *mod, const CK_TOKEN_INFO *ti)
{
	struct p11_token *t;

	for (t = tokens; t != NULL; t = t->next)
		if (t->mod == mod && same_token(&t->info, ti))
			return t;
	return NULL;
}

static int token_new(P11KitUri *uri, const struct p11_options *opt, struct p11_token **out)
{
	struct p11_token *tok = calloc(1, sizeof(*tok));
	int rc;

	if (tok == NULL)
		return MTLS_ERR_NOMEM;
	pthread_mutex_init(&tok->mu, NULL);
	pthread_cond_init(&tok->cv, NULL);
	if (opt != NULL)
		tok->opt = *opt;
	tok->opt.pin_file = NULL; /* not kept: the caller's strings may go away */
	tok->opt.pin_credential = NULL;
	if (tok->opt.rescan_ms == 0)
		tok->opt.rescan_ms = RESCAN_MS_DEFAULT;
	if (tok->opt.wait_ms == 0)
		tok->opt.wait_ms = WAIT_MS_DEFAULT;
	tok->refs = 1;
	rc = module_acquire(uri, &tok->mod);
	if (rc != 0)
		goto fail;
	tok->fl = tok->mod->fl;
	rc = find_slot(tok, uri, NULL, &tok->slot, &tok->info);
	if (rc != 0)
		goto fail;
	*out = tok;
	return 0;
fail:
	token_destroy(tok);
	return rc;
}

int token_open_parsed(P11KitUri *uri, const struct p11_options *opt, struct p11_token **out)
{
	struct p11_token *tok = NULL, *shared;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&tokens_mu);
	rc = token_new(uri, opt, &tok);
	if (rc != 0)
		goto out;
	if ((tok->pin_error = pin_failed_before(tok)) != 0) {
		rc = mtls_err_set(tok->pin_error,
			"this token refused its PIN earlier in this process; not logging in again "
			"(that could lock it): fix the PIN source and restart");
		token_destroy(tok);
		goto out;
	}
	shared = registry_find(tok->mod, &tok->info);
	if (shared != NULL) {
		shared->refs++;
		token_destroy(tok);
		*out = shared;
		goto out;
	}
	if (opt != NULL) {
		tok->opt.pin_file = opt->pin_file;
		tok->opt.pin_credential = opt->pin_credential;
	}
	rc = token_setup(tok, uri);
	tok->opt.pin_file = NULL;
	tok->opt.pin_credential = NULL;
	if (rc != 0) {
		token_destroy(tok);
		goto out;
	}
	tok->next = tokens;
	tokens = tok;
	*out = tok;
out:
	pthread_mutex_unlock(&tokens_mu);
	return rc;
}

int p11_token_open(const char *uri_text, const struct p11_options *opt, struct p11_token **out)
{
	P11KitUri *uri;
	int rc;

	*out = NULL;
	rc = uri_parse(uri_text, opt != NULL && opt->allow_pin_value, &uri);
	if (rc != 0)
		return rc;
	rc = token_open_parsed(uri, opt, out);
	p11_kit_uri_free(uri);
	return rc;
}

void p11_token_free(struct p11_token *tok)
{
	struct p11_token **pp;

	if (tok == NULL)
		return;
	pthread_mutex_lock(&tokens_mu);
	if (--tok->refs > 0) {
		pthread_mutex_unlock(&tokens_mu);
		return;
	}
	for (pp = &tokens; *pp != NULL; pp = &(*pp)->next)
		if (*pp == tok) {
			*pp = tok->next;
			break;
		}
	pthread_mutex_unlock(&tokens_mu);
	token_destroy(tok);
}

/* Tokens whose PIN was refused in this process: never log in to them
 * again, even through a new p11_token_open (a retry loop in a caller must
 * not lock the card). Fixed size: the oldest entry makes room. */
#define PIN_FAILED_MAX 16
static pthread_mutex_t pinfail_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pin_failure {
	char module[256];
	CK_TOKEN_INFO info;
	int err;
} pin_failed[PIN_FAILED_MAX];
static unsigned pin_failed_next;

void token_set_pin_error(struct p11_token *tok, int err)
{
	struct pin_failure *f;

	tok->pin_error = err;
	mtls_secret_free(tok->pin);
	tok->pin = NULL;
	pthread_mutex_lock(&pinfail_mu);
	f = &pin_failed[pin_failed_next++ % PIN_FAILED_MAX];
	snprintf(f->module, sizeof(f->module), "%s", tok->mod->path);
	f->info = tok->info;
	f->err = err;
	pthread_mutex_unlock(&pinfail_mu);
}

static int pin_failed_before(const struct p11_token *tok)
{
	int i, err = 0;

	pthread_mutex_lock(&pinfail_mu);
	for (i = 0; i < PIN_FAILED_MAX && err == 0; i++)
		if (pin_failed[i].err != 0 && strcmp(pin_failed[i].module, tok->mod->path) == 0 &&
			same_token(&pin_failed[i].info, &tok->info))
			err = pin_failed[i].err;
	pthread_mutex_unlock(&pinfail_mu);
	return err;
}

/* Refuse to spend a login attempt the token says is dangerous. */
static int check_pin_flags(struct p11_token *tok, enum rv_class *cls)
{
	CK_TOKEN_INFO ti;
	CK_RV rv = tok->fl->C_GetTokenInfo(tok->slot, &ti);

	*cls = rv_classify(rv);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_GetTokenInfo", NULL);
	if (ti.flags & CKF_USER_PIN_LOCKED) {
		token_set_pin_error(tok, MTLS_ERR_PIN_LOCKED);
		return mtls_err_set(MTLS_ERR_PIN_LOCKED,
			"the token's user PIN is locked (CKF_USER_PIN_LOCKED); unlock it with the "
			"SO PIN (e.g. pkcs11-tool --init-pin --login --login-type so)");
	}
	if ((ti.flags & CKF_USER_PIN_FINAL_TRY) && !tok->opt.allow_final_try)
		return mtls_err_set(MTLS_ERR_PIN_LOCKED,
			"one PIN attempt is left before the token locks (CKF_USER_PIN_FINAL_TRY); "
			"not logging in automatically: log in once by hand with the right PIN, or "
			"allow the final try in the configuration");
	if (ti.flags & CKF_USER_PIN_COUNT_LOW)
		mtls_log(MTLS_LOG_WARNING,
			"token reports wrong PIN attempts before "
			"(CKF_USER_PIN_COUNT_LOW); check the PIN source");
	return 0;
}

/* One login attempt; PIN errors are remembered and never retried. *cls is
 * the class of the token's answer that made it fail (RV_OK if none did). */
static int login_locked(struct p11_token *tok, CK_SESSION_HANDLE h, enum rv_class *cls)
{
	CK_RV rv;
	int rc;

	*cls = RV_OK;
	if (tok->pin_error != 0)
		return mtls_err_set(tok->pin_error,
			"an earlier login failed with a PIN error; not trying again (that would "
			"lock the token): fix the PIN source and restart");
	rc = check_pin_flags(tok, cls);
	if (rc != 0)
		return rc;
	if (tok->pin != NULL)
		rv = tok->fl->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR)mtls_secret_data(tok->pin),
			mtls_secret_len(tok->pin));
	else
		rv = tok->fl->C_Login(h, CKU_USER, NULL, 0); /* PIN pad */
	if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN) {
		tok->logged_in = 1;
		return 0;
	}
	*cls = rv_classify(rv);
	rc = rv_fail(rv, "C_Login",
		rv_classify(rv) == RV_PIN
			? "the PIN was refused; it will not be tried again: fix the PIN source"
			: NULL);
	if (rv_classify(rv) == RV_PIN)
		token_set_pin_error(tok, rc);
	else if (rc == MTLS_ERR_TOKEN)
		rc = MTLS_ERR_LOGIN;
	return rc;
}

/* Look for the pinned token again (its slot id may have changed). */
static int rescan_locked(struct p11_token *tok)
{
	CK_SLOT_ID slot;
	CK_TOKEN_INFO ti;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &tok->last_rescan);
	rc = find_slot(tok, NULL, &tok->info, &slot, &ti);
	if (rc != 0)
		return rc;
	if (slot != tok->slot)
		mtls_log(MTLS_LOG_NOTICE, "token is back in slot %lu (was %lu)",
			(unsigned long)slot, (unsigned long)tok->slot);
	else
		mtls_log(MTLS_LOG_NOTICE, "token is back in slot %lu", (unsigned long)slot);
	tok->slot = slot;
	tok->present = 1;
	tok->logged_in = 0;
	return read_mechanisms(tok);
}

/* The token went away: drop its sessions and login; the next call looks
 * for it again at once. */
static void mark_absent_locked(struct p11_token *tok)
{
	if (!tok->present)
		return;
	mtls_log(MTLS_LOG_WARNING, "token not present: it was removed or lost");
	tok->present = 0;
	tok->check_fresh = 0;
	tok->gen++;
	tok->logged_in = 0;
	pool_close_idle(tok);
	tok->last_rescan.tv_sec -= 3600;
}

void token_note_failure(struct p11_token *tok, enum rv_class cls, unsigned gen)
{
	pthread_mutex_lock(&tok->mu);
	if (gen == tok->gen) {
		if (cls == RV_LOGIN || cls == RV_HANDLE)
			tok->logged_in = 0;
		if (cls == RV_REMOVED)
			mark_absent_locked(tok);
	}
	pthread_mutex_unlock(&tok->mu);
}

/* Make sure the token is here; rescans are spaced by rescan_ms so that
 * calls fail fast while it is away. */
static int ensure_present_locked(struct p11_token *tok)
{
	if (tok->present)
		return 0;
	if (ms_since(&tok->last_rescan) < (long)tok->opt.rescan_ms)
		return mtls_err_set(MTLS_ERR_TOKEN_ABSENT,
			"token not present; insert it (looking again every %u ms)",
			tok->opt.rescan_ms);
	return rescan_locked(tok);
}

/* p11_token_check found the token gone: drop what the token held, and
 * count this look as a rescan so the next one waits rescan_ms. */
static int check_gone_locked(struct p11_token *tok, const char *why)
{
	mark_absent_locked(tok);
	clock_gettime(CLOCK_MONOTONIC, &tok->last_rescan);
	return mtls_err_set(MTLS_ERR_TOKEN_ABSENT,
		"token not present (%s); insert it (looking again every %u ms)", why,
		tok->opt.rescan_ms);
}

/* The slot and token as the module reports them now. */
static int check_slot_locked(struct p11_token *tok, CK_TOKEN_INFO *ti)
{
	const char *call = "C_GetSlotInfo";
	CK_SLOT_INFO si;
	CK_RV rv;

	rv = tok->fl->C_GetSlotInfo(tok->slot, &si);
	if (rv == CKR_OK && (si.flags & CKF_TOKEN_PRESENT) == 0)
		return check_gone_locked(tok, "the slot reports no token");
	if (rv == CKR_OK) {
		call = "C_GetTokenInfo";
		rv = tok->fl->C_GetTokenInfo(tok->slot, ti);
	}
	if (rv_classify(rv) == RV_REMOVED)
		return check_gone_locked(tok, p11_rv_name(rv));
	if (rv != CKR_OK)
		return rv_fail(rv, call, NULL);
	if (!same_token(ti, &tok->info))
		return check_gone_locked(tok, "another token is in its slot");
	return 0;
}

static int check_locked(struct p11_token *tok)
{
	CK_TOKEN_INFO ti;
	int rc;

	if (tok->pin_error != 0)
		return mtls_err_set(tok->pin_error,
			"an earlier login failed with a PIN error; not trying again (that would "
			"lock the token): fix the PIN source and restart");
	if ((rc = ensure_present_locked(tok)) != 0)
		return rc;
	if (tok->check_fresh && ms_since(&tok->last_check) < (long)tok->opt.rescan_ms)
		return 0;
	if ((rc = check_slot_locked(tok, &ti)) != 0)
		return rc;
	if (tok->want_login && !tok->logged_in && (ti.flags & CKF_USER_PIN_LOCKED))
		return mtls_err_set(MTLS_ERR_PIN_LOCKED,
			"the token's user PIN is locked (CKF_USER_PIN_LOCKED) and a login is due; "
			"unlock it with the SO PIN (e.g. pkcs11-tool --init-pin --login "
			"--login-type so)");
	clock_gettime(CLOCK_MONOTONIC, &tok->last_check);
	tok->check_fresh = 1;
	return 0;
}

int p11_token_check(struct p11_token *tok)
{
	int rc;

	if (tok == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "p11_token_check: no token");
	pthread_mutex_lock(&tok->mu);
	rc = check_locked(tok);
	pthread_mutex_unlock(&tok->mu);
	return rc;
}

static int timed_wait(struct p11_token *tok, const struct timespec *deadline)
{
	int e = pthread_cond_timedwait(&tok->cv, &tok->mu, deadline);

	if (e == ETIMEDOUT)
		return mtls_err_set(MTLS_ERR_BUSY,
			"no token session became free within %u ms (%zu in use); the token is "
			"overloaded",
			tok->opt.wait_ms, tok->nopen);
	return 0;
}

/* Open one more session; called with the lock held and nopen < max. */
static int open_session_locked(struct p11_token *tok, CK_SESSION_HANDLE *h)
{
	CK_RV rv = tok->fl->C_OpenSession(tok->slot, CKF_SERIAL_SESSION, NULL, NULL, h);

	if (rv == CKR_OK) {
		tok->nopen++;
		return 0;
	}
	if (rv == CKR_SESSION_COUNT && tok->nopen > 0) {
		tok->max = tok->nopen; /* the token's real limit: queue on it */
		return 1;
	}
	if (rv_classify(rv) == RV_REMOVED) {
		mark_absent_locked(tok);
		/* just looked: wait the rescan gap before looking again */
		clock_gettime(CLOCK_MONOTONIC, &tok->last_rescan);
	}
	return rv_fail(rv, "C_OpenSession", NULL);
}

static void deadline_in(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int get_session_locked(struct p11_token *tok, CK_SESSION_HANDLE *h)
{
	struct timespec deadline;
	int rc;

	deadline_in(&deadline, tok->opt.wait_ms);
	for (;;) {
		rc = ensure_present_locked(tok);
		if (rc != 0)
			return rc;
		if (tok->nidle > 0) {
			*h = tok->idle[--tok->nidle];
			return 0;
		}
		if (tok->nopen < tok->max) {
			rc = open_session_locked(tok, h);
			if (rc <= 0)
				return rc;
			continue; /* limit found: wait for a session instead */
		}
		rc = timed_wait(tok, &deadline);
		if (rc != 0)
			return rc;
	}
}

/* A login failed in session h: keep the session unless the answer says it
 * is dead, and look for the token again if it says the token is gone. */
static void login_failed_locked(struct p11_token *tok, CK_SESSION_HANDLE h, enum rv_class cls)
{
	if (cls == RV_SESSION || cls == RV_REMOVED)
		close_session_locked(tok, h);
	else
		tok->idle[tok->nidle++] = h;
	if (cls == RV_REMOVED)
		mark_absent_locked(tok);
	pthread_cond_signal(&tok->cv);
}

int token_acquire(struct p11_token *tok, struct p11_session *s)
{
	enum rv_class cls;
	int rc;

	pthread_mutex_lock(&tok->mu);
	rc = get_session_locked(tok, &s->h);
	if (rc != 0)
		goto out;
	s->gen = tok->gen;
	if (tok->want_login && !tok->logged_in) {
		rc = login_locked(tok, s->h, &cls);
		if (rc != 0)
			login_failed_locked(tok, s->h, cls);
	}
out:
	pthread_mutex_unlock(&tok->mu);
	return rc;
}

static void put_back_locked(struct p11_token *tok, const struct p11_session *s, int broken)
{
	if (broken || s->gen != tok->gen || tok->nidle >= tok->max) {
		close_session_locked(tok, s->h);
	} else {
		tok->idle[tok->nidle++] = s->h;
	}
	pthread_cond_signal(&tok->cv);
}

/* Read-write sessions are opened for the admin API only (key generation),
 * counted in nopen like the pool's so that closing the last session of all
 * still marks the logout; closed again by token_discard(). */
int token_acquire_rw(struct p11_token *tok, struct p11_session *s)
{
	enum rv_class cls;
	CK_RV rv;
	int rc;

	pthread_mutex_lock(&tok->mu);
	rc = ensure_present_locked(tok);
	if (rc != 0)
		goto out;
	rv = tok->fl->C_OpenSession(
		tok->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s->h);
	if (rv != CKR_OK) {
		rc = rv_fail(rv, "C_OpenSession (read-write)",
			rv == CKR_TOKEN_WRITE_PROTECTED ? "the token is write-protected" : NULL);
		goto out;
	}
	tok->nopen++;
	s->gen = tok->gen;
	if (tok->want_login && !tok->logged_in) {
		rc = login_locked(tok, s->h, &cls);
		if (rc != 0)
			close_session_locked(tok, s->h);
		if (rc != 0 && cls == RV_REMOVED)
			mark_absent_locked(tok);
	}
out:
	pthread_mutex_unlock(&tok->mu);
	return rc;
}

void token_login_state(struct p11_token *tok, int *want, int *logged_in)
{
	pthread_mutex_lock(&tok->mu);
	*want = tok->want_login;
	*logged_in = tok->logged_in;
	pthread_mutex_unlock(&tok->mu);
}

void token_release(struct p11_token *tok, const struct p11_session *s)
{
	pthread_mutex_lock(&tok->mu);
	put_back_locked(tok, s, 0);
	pthread_mutex_unlock(&tok->mu);
}

void token_discard(struct p11_token *tok, const struct p11_session *s)
{
	pthread_mutex_lock(&tok->mu);
	put_back_locked(tok, s, 1);
	pthread_mutex_unlock(&tok->mu);
}

CK_RV token_context_login(struct p11_token *tok, CK_SESSION_HANDLE h)
{
	CK_RV rv;

	pthread_mutex_lock(&tok->mu);
	if (tok->pin_error != 0)
		rv = tok->pin_error == MTLS_ERR_PIN_LOCKED ? CKR_PIN_LOCKED : CKR_PIN_INCORRECT;
	else if (tok->pin != NULL)
		rv = tok->fl->C_Login(h, CKU_CONTEXT_SPECIFIC,
			(CK_UTF8CHAR_PTR)mtls_secret_data(tok->pin), mtls_secret_len(tok->pin));
	else
		rv = tok->fl->C_Login(h, CKU_CONTEXT_SPECIFIC, NULL, 0);
	if (rv_classify(rv) == RV_PIN && tok->pin_error == 0)
		token_set_pin_error(tok, rv_to_err(rv));
	pthread_mutex_unlock(&tok->mu);
	return rv;
}

static const char *mech_name(CK_MECHANISM_TYPE m)
{
	switch (m) {
	case CKM_ECDSA: return "CKM_ECDSA";
	case CKM_ECDSA_SHA256: return "CKM_ECDSA_SHA256";
	case CKM_ECDSA_SHA384: return "CKM_ECDSA_SHA384";
	case CKM_RSA_PKCS: return "CKM_RSA_PKCS";
	case CKM_RSA_PKCS_PSS: return "CKM_RSA_PKCS_PSS";
	case CKM_RSA_X_509: return "CKM_RSA_X_509";
	case CKM_EC_KEY_PAIR_GEN: return "CKM_EC_KEY_PAIR_GEN";
	case CKM_RSA_PKCS_KEY_PAIR_GEN: return "CKM_RSA_PKCS_KEY_PAIR_GEN";
	default: return NULL;
	}
}

int p11_token_describe(struct p11_token *tok, char *buf, size_t buflen)
{
	char label[33], serial[17];
	size_t used;
	CK_ULONG i;
	const char *name;

	if (buflen == 0)
		return MTLS_ERR_ARG;
	pthread_mutex_lock(&tok->mu);
	field(label, sizeof(label), tok->info.label, sizeof(tok->info.label));
	field(serial, sizeof(serial), tok->info.serialNumber, sizeof(tok->info.serialNumber));
	snprintf(buf, buflen, "token=%s serial=%s slot=%lu %s mechanisms:", label, serial,
		(unsigned long)tok->slot, tok->present ? "present" : "absent");
	for (i = 0; i < tok->nmechs; i++) {
		used = strlen(buf);
		if ((name = mech_name(tok->mechs[i])) != NULL && used < buflen)
			snprintf(buf + used, buflen - used, " %s", name);
	}
	pthread_mutex_unlock(&tok->mu);
	return 0;
}
