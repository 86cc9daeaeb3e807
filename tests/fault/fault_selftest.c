/*
 * Self-test of the fault-injecting PKCS#11 module against a throwaway SoftHSM2 token.
 *
 *   fault_selftest MODULE WORKDIR
 *
 * MODULE is libmtls-fault-p11.so; WORKDIR a private writable directory. The token comes from
 * tests/lib/mktoken.sh through SOFTHSM2_CONF, MTLS_TEST_TOKEN and MTLS_TEST_PIN_FILE
 * (run_selftest.sh sets them). The test writes WORKDIR/fault.conf the way other tests will:
 * a temporary file rename(2)d over the old one.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define PARALLEL_THREADS 8
#define CHURN_THREADS 4
#define CHURN_ROUNDS 40
#define SIGN_LATENCY_MS 200

struct selftest {
	CK_FUNCTION_LIST_PTR p11;
	const char *workdir;
	const char *token;
	char conf_path[PATH_MAX];
	char pin[64];
	CK_ULONG pin_len;
};

struct worker {
	struct selftest *t;
	CK_SLOT_ID slot;
	CK_OBJECT_HANDLE key;
	CK_RV rv;
	unsigned long signed_ok;
	int is_remover;
};

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("#   ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	return -1;
}

static int expect_rv(const char *what, CK_RV got, CK_RV want)
{
	if (got == want)
		return 0;
	return fail("%s: got 0x%lx, want 0x%lx", what, (unsigned long)got, (unsigned long)want);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	int rc = 0;

	if (f == NULL)
		return fail("cannot write %s: %s", path, strerror(errno));
	if (fputs(text, f) == EOF)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* How tests are meant to change the config: write a new file, rename it over the old. */
static int conf_set(struct selftest *t, const char *text)
{
	char tmp[PATH_MAX + 8];

	snprintf(tmp, sizeof(tmp), "%s.tmp", t->conf_path);
	if (write_file(tmp, text) < 0 || rename(tmp, t->conf_path) != 0)
		return fail("cannot install config: %s", strerror(errno));
	return 0;
}

static int read_pin(struct selftest *t)
{
	const char *path = getenv("MTLS_TEST_PIN_FILE");
	FILE *f;
	size_t n;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return fail("MTLS_TEST_PIN_FILE unset or unreadable");
	n = fread(t->pin, 1, sizeof(t->pin) - 1, f);
	fclose(f);
	while (n > 0 && (t->pin[n - 1] == '\n' || t->pin[n - 1] == '\r'))
		n--;
	t->pin[n] = '\0';
	t->pin_len = n;
	return n > 0 ? 0 : fail("empty PIN file");
}

/* Width-exact comparison of the space-padded label, never a prefix match. */
static int label_is(const CK_UTF8CHAR *padded, size_t width, const char *label)
{
	size_t n = strlen(label);
	size_t i;

	if (n > width || memcmp(padded, label, n) != 0)
		return 0;
	for (i = n; i < width; i++) {
		if (padded[i] != ' ')
			return 0;
	}
	return 1;
}

static CK_RV slot_lookup(struct selftest *t, CK_SLOT_ID *slot)
{
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_ULONG i;
	CK_TOKEN_INFO info;
	CK_RV rv;

	rv = t->p11->C_GetSlotList(CK_TRUE, slots, &n);
	for (i = 0; rv == CKR_OK && i < n; i++) {
		if (t->p11->C_GetTokenInfo(slots[i], &info) != CKR_OK)
			continue;
		if (label_is(info.label, sizeof(info.label), t->token)) {
			*slot = slots[i];
			return CKR_OK;
		}
	}
	return rv == CKR_OK ? CKR_TOKEN_NOT_PRESENT : rv;
}

static int find_slot(struct selftest *t, CK_SLOT_ID *slot)
{
	CK_RV rv = slot_lookup(t, slot);

	if (rv != CKR_OK)
		return fail("no slot with token %s: 0x%lx", t->token, (unsigned long)rv);
	return 0;
}

static CK_RV login(struct selftest *t, CK_SESSION_HANDLE s)
{
	CK_RV rv = t->p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)t->pin, t->pin_len);

	return rv == CKR_USER_ALREADY_LOGGED_IN ? CKR_OK : rv;
}

static int open_login(struct selftest *t, CK_SESSION_HANDLE *s)
{
	CK_SLOT_ID slot;
	CK_RV rv;

	if (find_slot(t, &slot) < 0)
		return -1;
	rv = t->p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s);
	if (rv != CKR_OK)
		return fail("C_OpenSession: 0x%lx", (unsigned long)rv);
	rv = login(t, *s);
	if (rv != CKR_OK) {
		t->p11->C_CloseSession(*s);
		return fail("C_Login: 0x%lx", (unsigned long)rv);
	}
	return 0;
}

static CK_RV find_key(struct selftest *t, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
	const char *label, CK_OBJECT_HANDLE *key)
{
	char name[32];
	CK_ATTRIBUTE templ[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_LABEL, name, strlen(label)},
	};
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;
	CK_RV rv;

	if (strlen(label) >= sizeof(name))
		return CKR_ARGUMENTS_BAD;
	memcpy(name, label, strlen(label) + 1);

	rv = t->p11->C_FindObjectsInit(s, templ, 2);
	if (rv != CKR_OK)
		return rv;
	rv = t->p11->C_FindObjects(s, found, 2, &n);
	t->p11->C_FindObjectsFinal(s);
	if (rv == CKR_OK && n != 1)
		rv = CKR_GENERAL_ERROR;
	if (rv == CKR_OK)
		*key = found[0];
	return rv;
}

static CK_RV sign_ecdsa(struct selftest *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, CK_BYTE *sig,
	CK_ULONG *sig_len)
{
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_BYTE digest[32];
	CK_RV rv;

	memset(digest, 0x5a, sizeof(digest));
	rv = t->p11->C_SignInit(s, &mech, key);
	if (rv != CKR_OK)
		return rv;
	return t->p11->C_Sign(s, digest, sizeof(digest), sig, sig_len);
}

static CK_RV sign_once(struct selftest *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	CK_BYTE sig[256];
	CK_ULONG sig_len = sizeof(sig);

	return sign_ecdsa(t, s, key, sig, &sig_len);
}

static CK_RV verify_ecdsa(struct selftest *t, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
	CK_BYTE *sig, CK_ULONG sig_len)
{
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_BYTE digest[32];
	CK_RV rv;

	memset(digest, 0x5a, sizeof(digest));
	rv = t->p11->C_VerifyInit(s, &mech, pub);
	if (rv != CKR_OK)
		return rv;
	return t->p11->C_Verify(s, digest, sizeof(digest), sig, sig_len);
}

/* A logged-in session and the ec256 private key: the start of most scenarios. */
static int session_with_key(struct selftest *t, CK_SESSION_HANDLE *s, CK_OBJECT_HANDLE *key)
{
	CK_RV rv;

	if (open_login(t, s) < 0)
		return -1;
	rv = find_key(t, *s, CKO_PRIVATE_KEY, "ec256", key);
	if (rv == CKR_OK)
		return 0;
	t->p11->C_CloseSession(*s);
	return fail("find ec256: 0x%lx", (unsigned long)rv);
}

static int test_info_names_the_wrapper(struct selftest *t)
{
	CK_INFO info;
	CK_RV rv = t->p11->C_GetInfo(&info);

	if (expect_rv("C_GetInfo", rv, CKR_OK) < 0)
		return -1;
	if (!label_is(info.manufacturerID, sizeof(info.manufacturerID), "mtls fault wrapper"))
		return fail("manufacturerID is not the padded wrapper name");
	if (!label_is(info.libraryDescription, sizeof(info.libraryDescription),
		    "mtls fault-injecting PKCS#11"))
		return fail("libraryDescription is not the padded wrapper name");
	return 0;
}

static int test_sign_is_slower_by_the_configured_latency(struct selftest *t)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	long base, slow, start;
	int rc = -1;

	if (conf_set(t, "") < 0 || session_with_key(t, &s, &key) < 0)
		return -1;
	start = now_ms();
	if (expect_rv("sign without latency", sign_once(t, s, key), CKR_OK) < 0)
		goto out;
	base = now_ms() - start;
	if (conf_set(t, "latency.C_Sign = 200\n") < 0)
		goto out;
	start = now_ms();
	if (expect_rv("sign with latency", sign_once(t, s, key), CKR_OK) < 0)
		goto out;
	slow = now_ms() - start;
	printf("#   sign took %ld ms without latency, %ld ms with 200 ms\n", base, slow);
	if (slow < SIGN_LATENCY_MS || slow > base + SIGN_LATENCY_MS + 1000) {
		fail("latency not applied as configured");
		goto out;
	}
	rc = 0;
out:
	t->p11->C_CloseSession(s);
	return rc;
}

/*
 * The real C_Sign ends the operation whatever its result; a C_SignInit answered with
 * OPERATION_ACTIVE after an injected failure therefore proves the real C_Sign never ran.
 */
static int test_fail_hits_exactly_the_configured_calls(struct selftest *t)
{
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_BYTE digest[32] = {0};
	CK_BYTE sig[256];
	CK_ULONG len = sizeof(sig);
	CK_SESSION_INFO info;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	int rc = 0;

	if (session_with_key(t, &s, &key) < 0)
		return -1;
	if (conf_set(t,
		    "fail.C_Sign = CKR_DEVICE_ERROR calls=2-3\n"
		    "fail.C_GetSessionInfo = 0x30\n") < 0)
		return -1;
	rc |= expect_rv("sign call 1", sign_once(t, s, key), CKR_OK);
	rc |= expect_rv("sign call 2", sign_once(t, s, key), CKR_DEVICE_ERROR);
	rc |= expect_rv("init after injected failure", t->p11->C_SignInit(s, &mech, key),
		CKR_OPERATION_ACTIVE);
	rc |= expect_rv("sign call 3", t->p11->C_Sign(s, digest, 32, sig, &len), CKR_DEVICE_ERROR);
	len = sizeof(sig);
	rc |= expect_rv("sign call 4", t->p11->C_Sign(s, digest, 32, sig, &len), CKR_OK);
	rc |= expect_rv("hex rv, every call", t->p11->C_GetSessionInfo(s, &info), CKR_DEVICE_ERROR);
	rc |= expect_rv("hex rv, again", t->p11->C_GetSessionInfo(s, &info), CKR_DEVICE_ERROR);
	conf_set(t, "");
	t->p11->C_CloseSession(s);
	return rc ? -1 : 0;
}

/* A time window: calls fail only between 300 and 600 ms after the config loads. */
static int test_fail_hits_only_inside_the_time_window(struct selftest *t)
{
	CK_SESSION_INFO info;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	int rc = 0;

	if (session_with_key(t, &s, &key) < 0)
		return -1;
	if (conf_set(t, "fail.C_GetSessionInfo = CKR_DEVICE_ERROR ms=300-600\n") < 0)
		return -1;
	rc |= expect_rv("before the window", t->p11->C_GetSessionInfo(s, &info), CKR_OK);
	sleep_ms(450);
	rc |= expect_rv("inside the window", t->p11->C_GetSessionInfo(s, &info), CKR_DEVICE_ERROR);
	sleep_ms(300);
	rc |= expect_rv("after the window", t->p11->C_GetSessionInfo(s, &info), CKR_OK);
	conf_set(t, "");
	t->p11->C_CloseSession(s);
	return rc;
}

static int test_max_sessions_one_refuses_a_second_session(struct selftest *t)
{
	CK_SESSION_HANDLE a, b;
	CK_TOKEN_INFO info;
	CK_SLOT_ID slot;
	int rc = 0;

	if (conf_set(t, "max_sessions = 1\n") < 0 || find_slot(t, &slot) < 0)
		return -1;
	if (expect_rv("first session",
		    t->p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &a), CKR_OK) < 0)
		return -1;
	rc |= expect_rv("second session",
		t->p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &b), CKR_SESSION_COUNT);
	rc |= expect_rv("token info", t->p11->C_GetTokenInfo(slot, &info), CKR_OK);
	if (rc == 0 &&
		(info.ulMaxSessionCount != 1 || info.ulSessionCount != 1 ||
			info.ulMaxRwSessionCount != 1 || info.ulRwSessionCount != 0))
		rc = fail("token info counts %lu/%lu rw %lu/%lu", info.ulSessionCount,
			info.ulMaxSessionCount, info.ulRwSessionCount, info.ulMaxRwSessionCount);
	t->p11->C_CloseSession(a);
	rc |= expect_rv("session after close",
		t->p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &b), CKR_OK);
	t->p11->C_CloseSession(b);
	conf_set(t, "");
	return rc ? -1 : 0;
}

static int mechanism_listed(
	struct selftest *t, CK_SLOT_ID slot, CK_MECHANISM_TYPE m, CK_ULONG *count)
{
	CK_MECHANISM_TYPE list[512];
	CK_ULONG i;

	*count = 512;
	if (t->p11->C_GetMechanismList(slot, list, count) != CKR_OK)
		return -1;
	for (i = 0; i < *count; i++) {
		if (list[i] == m)
			return 1;
	}
	return 0;
}

static int hidden_pss_refused(struct selftest *t, CK_SLOT_ID slot)
{
	CK_MECHANISM pss = {CKM_RSA_PKCS_PSS, NULL, 0};
	CK_MECHANISM_INFO info;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	int rc = 0;

	rc |= expect_rv("hidden mechanism info",
		t->p11->C_GetMechanismInfo(slot, CKM_RSA_PKCS_PSS, &info), CKR_MECHANISM_INVALID);
	if (open_login(t, &s) < 0)
		return -1;
	rc |= expect_rv("find rsa2048", find_key(t, s, CKO_PRIVATE_KEY, "rsa2048", &key), CKR_OK);
	if (rc == 0)
		rc |= expect_rv("sign init with hidden mechanism", t->p11->C_SignInit(s, &pss, key),
			CKR_MECHANISM_INVALID);
	t->p11->C_CloseSession(s);
	return rc;
}

static int test_hidden_mechanisms_are_gone(struct selftest *t)
{
	CK_MECHANISM_TYPE one;
	CK_ULONG before, after, query = 0;
	CK_SLOT_ID slot;
	int rc = 0;

	if (conf_set(t, "") < 0 || find_slot(t, &slot) < 0)
		return -1;
	if (mechanism_listed(t, slot, CKM_RSA_PKCS_PSS, &before) != 1)
		return fail("SoftHSM does not list CKM_RSA_PKCS_PSS to begin with");
	if (conf_set(t, "hide_mechanisms = CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS\n") < 0)
		return -1;
	if (mechanism_listed(t, slot, CKM_RSA_PKCS_PSS, &after) != 0 ||
		mechanism_listed(t, slot, CKM_SHA256_RSA_PKCS_PSS, &after) != 0)
		rc = fail("hidden mechanism still listed");
	if (after != before - 2)
		rc = fail("list has %lu mechanisms, want %lu", after, before - 2);
	rc |= expect_rv("size query", t->p11->C_GetMechanismList(slot, NULL, &query), CKR_OK);
	if (query != after)
		rc = fail("size query says %lu, list has %lu", query, after);
	query = 1;
	rc |= expect_rv("short buffer", t->p11->C_GetMechanismList(slot, &one, &query),
		CKR_BUFFER_TOO_SMALL);
	rc |= hidden_pss_refused(t, slot);
	conf_set(t, "");
	return rc ? -1 : 0;
}

static int count_lines(const char *path, const char *needle, const char *exact)
{
	char line[256];
	int n = 0;
	int i;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	for (i = 0; i < 100000 && fgets(line, sizeof(line), f) != NULL; i++) {
		if (strstr(line, needle) != NULL && (exact == NULL || strcmp(line, exact) == 0))
			n++;
	}
	fclose(f);
	return n;
}

static int test_calls_log_counts_every_call(struct selftest *t)
{
	char log[PATH_MAX + 16], conf[PATH_MAX + 32], exact[64];
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	int i, rc = 0, n;

	snprintf(log, sizeof(log), "%s/calls.log", t->workdir);
	snprintf(conf, sizeof(conf), "calls_log = %s\n", log);
	snprintf(exact, sizeof(exact), "%ld C_Sign 0x0\n", (long)getpid());
	unlink(log);
	if (session_with_key(t, &s, &key) < 0 || conf_set(t, conf) < 0)
		return -1;
	for (i = 0; i < 3; i++)
		rc |= expect_rv("sign", sign_once(t, s, key), CKR_OK);
	rc |= expect_rv("login again",
		t->p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)t->pin, t->pin_len),
		CKR_USER_ALREADY_LOGGED_IN);
	conf_set(t, "");
	t->p11->C_CloseSession(s);
	n = count_lines(log, " C_Sign ", exact);
	if (n != 3)
		rc = fail("%d lines \"%.*s\" in the log, want 3", n, (int)strlen(exact) - 1, exact);
	n = count_lines(log, " C_Login 0x100\n", NULL);
	if (n != 1)
		rc = fail("%d C_Login lines with 0x100, want 1", n);
	return rc ? -1 : 0;
}

static int test_token_flags_are_faked(struct selftest *t)
{
	CK_TOKEN_INFO info;
	CK_SLOT_ID slot;
	CK_FLAGS want = CKF_USER_PIN_LOCKED | CKF_USER_PIN_FINAL_TRY;

	if (find_slot(t, &slot) < 0)
		return -1;
	if (conf_set(t,
		    "token_flags_set = CKF_USER_PIN_LOCKED | 0x20000\n"
		    "token_flags_clear = CKF_RNG\n") < 0)
		return -1;
	if (expect_rv("token info", t->p11->C_GetTokenInfo(slot, &info), CKR_OK) < 0)
		return -1;
	conf_set(t, "");
	if ((info.flags & want) != want || (info.flags & CKF_RNG) != 0)
		return fail("flags 0x%lx", info.flags);
	return 0;
}

static int stderr_capture(const char *path, int *saved)
{
	fflush(stderr);
	*saved = dup(STDERR_FILENO);
	if (*saved < 0 || freopen(path, "w", stderr) == NULL)
		return fail("cannot capture stderr");
	return 0;
}

static void stderr_restore(int saved)
{
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

static int test_bad_config_lines_are_reported_and_skipped(struct selftest *t)
{
	char err_path[PATH_MAX + 16], where[PATH_MAX + 32];
	const char *keys[] = {":1: unknown key 'bogus'", ":2: bad value for key 'latency.C_Sign'",
		":3: unknown key 'fail.C_Nope'", ":4: bad value for key 'removed'",
		":6: expected 'key = value'"};
	CK_TOKEN_INFO info;
	CK_SLOT_ID slot;
	int saved, rc = 0;
	size_t i;

	if (find_slot(t, &slot) < 0)
		return -1;
	snprintf(err_path, sizeof(err_path), "%s/stderr.txt", t->workdir);
	if (stderr_capture(err_path, &saved) < 0)
		return -1;
	conf_set(t,
		"bogus = 1\nlatency.C_Sign = abc\nfail.C_Nope = CKR_OK\nremoved = 2\n"
		"max_sessions = 5 # trailing comment\nno equals sign\n");
	rc |= expect_rv("token info", t->p11->C_GetTokenInfo(slot, &info), CKR_OK);
	stderr_restore(saved);
	if (rc == 0 && info.ulMaxSessionCount != 5)
		rc = fail("the good line was not applied");
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(where, sizeof(where), "%s%s", t->conf_path, keys[i]);
		if (count_lines(err_path, where, NULL) != 1)
			rc = fail("stderr lacks \"%s\"", where);
	}
	conf_set(t, "");
	return rc ? -1 : 0;
}

static int removed_state_checks(
	struct selftest *t, CK_SLOT_ID slot, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_SESSION_HANDLE s2;
	CK_TOKEN_INFO info;
	CK_ULONG n = 0;
	int rc = 0;

	rc |= expect_rv("slot list, present", t->p11->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
	if (n != 0)
		rc = fail("%lu slots with a token while removed", n);
	rc |= expect_rv("slot list, all", t->p11->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
	if (n != 0)
		rc = fail("%lu slots while removed", n);
	rc |= expect_rv("token info", t->p11->C_GetTokenInfo(slot, &info), CKR_SLOT_ID_INVALID);
	rc |= expect_rv("open session",
		t->p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2),
		CKR_SLOT_ID_INVALID);
	rc |= expect_rv("sign init", t->p11->C_SignInit(s, &mech, key), CKR_DEVICE_REMOVED);
	rc |= expect_rv("sign", sign_once(t, s, key), CKR_DEVICE_REMOVED);
	return rc;
}

static int reinserted_checks(struct selftest *t, CK_SLOT_ID old_slot, CK_SESSION_HANDLE old_s,
	CK_OBJECT_HANDLE old_key, CK_SLOT_ID *new_slot)
{
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_TOKEN_INFO info;
	int rc = 0;

	if (find_slot(t, new_slot) < 0)
		return -1;
	if (*new_slot != old_slot + 100)
		rc = fail("slot 0x%lx after reinsertion, want 0x%lx", *new_slot, old_slot + 100);
	rc |= expect_rv(
		"old slot id", t->p11->C_GetTokenInfo(old_slot, &info), CKR_SLOT_ID_INVALID);
	rc |= expect_rv("old session", t->p11->C_SignInit(old_s, &mech, old_key),
		CKR_SESSION_HANDLE_INVALID);
	return rc;
}

/*
 * SoftHSM2 hands out the old session numbers again; the generation tag keeps a stale handle
 * from reaching the new session that happens to share its number.
 */
static int stale_handles_refused(
	struct selftest *t, CK_SESSION_HANDLE s, CK_SESSION_HANDLE old_s, CK_OBJECT_HANDLE old_key)
{
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_ATTRIBUTE label = {CKA_LABEL, NULL, 0};
	CK_SESSION_INFO info;
	int rc = 0;

	if ((s >> 24) != 1)
		rc = fail("new session 0x%lx does not carry generation 1", s);
	rc |= expect_rv("old session, info", t->p11->C_GetSessionInfo(old_s, &info),
		CKR_SESSION_HANDLE_INVALID);
	rc |= expect_rv(
		"old session, close", t->p11->C_CloseSession(old_s), CKR_SESSION_HANDLE_INVALID);
	rc |= expect_rv("old key, sign init", t->p11->C_SignInit(s, &mech, old_key),
		CKR_KEY_HANDLE_INVALID);
	rc |= expect_rv("old key, attributes", t->p11->C_GetAttributeValue(s, old_key, &label, 1),
		CKR_OBJECT_HANDLE_INVALID);
	return rc;
}

static int fresh_generation_works(
	struct selftest *t, CK_SLOT_ID slot, CK_SESSION_HANDLE old_s, CK_OBJECT_HANDLE old_key)
{
	CK_BYTE sig[256];
	CK_ULONG sig_len = sizeof(sig);
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key, pub;
	CK_SESSION_INFO info;
	int rc = 0;

	if (expect_rv("open", t->p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s),
		    CKR_OK) < 0)
		return -1;
	rc |= expect_rv("session info", t->p11->C_GetSessionInfo(s, &info), CKR_OK);
	if (rc == 0 && info.slotID != slot)
		rc = fail("session info names slot 0x%lx, want 0x%lx", info.slotID, slot);
	/* Logged out by the removal: a fresh C_Login must succeed, not be "already". */
	rc |= expect_rv("fresh login",
		t->p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)t->pin, t->pin_len), CKR_OK);
	rc |= stale_handles_refused(t, s, old_s, old_key);
	rc |= expect_rv("find", find_key(t, s, CKO_PRIVATE_KEY, "ec256", &key), CKR_OK);
	rc |= expect_rv("find pub", find_key(t, s, CKO_PUBLIC_KEY, "ec256", &pub), CKR_OK);
	if (rc == 0 && (key >> 24) != 1)
		rc = fail("new handle 0x%lx does not carry generation 1", key);
	if (rc == 0)
		rc |= expect_rv("sign", sign_ecdsa(t, s, key, sig, &sig_len), CKR_OK);
	if (rc == 0)
		rc |= expect_rv("verify", verify_ecdsa(t, s, pub, sig, sig_len), CKR_OK);
	t->p11->C_CloseSession(s);
	return rc;
}

static int test_removal_and_reinsertion(struct selftest *t)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_SLOT_ID slot, new_slot;
	int rc = 0;

	if (conf_set(t, "") < 0 || session_with_key(t, &s, &key) < 0 || find_slot(t, &slot) < 0)
		return -1;
	rc |= expect_rv("sign before removal", sign_once(t, s, key), CKR_OK);
	if (rc != 0 || conf_set(t, "removed = 1\n") < 0)
		return -1;
	rc |= removed_state_checks(t, slot, s, key);
	if (conf_set(t, "removed = 0\n") < 0)
		return -1;
	rc |= reinserted_checks(t, slot, s, key, &new_slot);
	if (rc == 0)
		rc |= fresh_generation_works(t, new_slot, s, key);
	return rc ? -1 : 0;
}

static CK_RV worker_sign(struct worker *w)
{
	CK_SESSION_HANDLE s;
	CK_RV rv;

	rv = w->t->p11->C_OpenSession(w->slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		return rv;
	rv = sign_once(w->t, s, w->key);
	w->t->p11->C_CloseSession(s);
	return rv;
}

static void *parallel_worker(void *arg)
{
	struct worker *w = arg;

	w->rv = worker_sign(w);
	return NULL;
}

static int run_workers(struct worker *w, int n, void *(*fn)(void *))
{
	pthread_t threads[PARALLEL_THREADS];
	int i, started, rc = 0;

	for (started = 0; started < n; started++) {
		if (pthread_create(&threads[started], NULL, fn, &w[started]) != 0) {
			rc = fail("pthread_create failed");
			break;
		}
	}
	for (i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	return rc;
}

/* The module must not hold its lock while sleeping or signing: 8 x 200 ms in ~200 ms. */
static int test_parallel_signing_stays_parallel(struct selftest *t)
{
	struct worker w[PARALLEL_THREADS];
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_SLOT_ID slot;
	long start, took;
	int i, rc = 0;

	if (conf_set(t, "") < 0 || session_with_key(t, &s, &key) < 0 || find_slot(t, &slot) < 0)
		return -1;
	memset(w, 0, sizeof(w));
	for (i = 0; i < PARALLEL_THREADS; i++) {
		w[i].t = t;
		w[i].slot = slot;
		w[i].key = key;
	}
	conf_set(t, "latency.C_Sign = 200\n");
	start = now_ms();
	rc |= run_workers(w, PARALLEL_THREADS, parallel_worker);
	took = now_ms() - start;
	conf_set(t, "");
	t->p11->C_CloseSession(s);
	for (i = 0; i < PARALLEL_THREADS; i++)
		rc |= expect_rv("parallel sign", w[i].rv, CKR_OK);
	printf("#   %d parallel signs with 200 ms latency took %ld ms\n", PARALLEL_THREADS, took);
	if (took < SIGN_LATENCY_MS || took > 4 * SIGN_LATENCY_MS)
		rc = fail("parallel signs took %ld ms", took);
	return rc ? -1 : 0;
}

/* Each round finds slot and key again, as a recovering application would. */
static void churn_round(struct worker *w)
{
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_SLOT_ID slot;
	CK_RV rv;

	if (slot_lookup(w->t, &slot) != CKR_OK)
		return;
	rv = w->t->p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		return;
	rv = login(w->t, s);
	if (rv == CKR_OK)
		rv = find_key(w->t, s, CKO_PRIVATE_KEY, "ec256", &key);
	if (rv == CKR_OK && sign_once(w->t, s, key) == CKR_OK)
		w->signed_ok++;
	w->t->p11->C_CloseSession(s);
}

static void *churn_worker(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < CHURN_ROUNDS; i++)
		churn_round(w);
	return NULL;
}

static void *churn_remover(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < 6; i++) {
		sleep_ms(15);
		conf_set(w->t, i % 2 == 0 ? "removed = 1\n" : "removed = 0\n");
	}
	return NULL;
}

static void *churn_dispatch(void *arg)
{
	struct worker *w = arg;

	return w->is_remover ? churn_remover(arg) : churn_worker(arg);
}

/* Removal while threads sign must neither crash SoftHSM nor deadlock the gate. */
static int test_removal_while_signing_neither_crashes_nor_hangs(struct selftest *t)
{
	struct worker w[CHURN_THREADS + 1];
	unsigned long total = 0;
	int i, rc;

	memset(w, 0, sizeof(w));
	for (i = 0; i <= CHURN_THREADS; i++)
		w[i].t = t;
	w[CHURN_THREADS].is_remover = 1;
	if (conf_set(t, "latency.C_Sign = 2\n") < 0)
		return -1;
	rc = run_workers(w, CHURN_THREADS + 1, churn_dispatch);
	conf_set(t, "");
	for (i = 0; i < CHURN_THREADS; i++)
		total += w[i].signed_ok;
	printf("#   %lu of %d signatures made it through the removals\n", total,
		CHURN_THREADS * CHURN_ROUNDS);
	w[0].signed_ok = 0;
	churn_round(&w[0]);
	if (w[0].signed_ok != 1)
		rc = fail("no signature after the last reinsertion");
	return rc;
}

struct scenario {
	const char *name;
	int (*run)(struct selftest *t);
};

static const struct scenario scenarios[] = {
	{"C_GetInfo names the wrapper", test_info_names_the_wrapper},
	{"C_Sign is slower by the configured latency",
		test_sign_is_slower_by_the_configured_latency},
	{"fail with calls= hits exactly those calls and skips the real module",
		test_fail_hits_exactly_the_configured_calls},
	{"fail with ms= hits only inside the time window",
		test_fail_hits_only_inside_the_time_window},
	{"max_sessions = 1 refuses a second session",
		test_max_sessions_one_refuses_a_second_session},
	{"hidden mechanisms are gone", test_hidden_mechanisms_are_gone},
	{"calls_log has one line per call", test_calls_log_counts_every_call},
	{"token flags are faked", test_token_flags_are_faked},
	{"bad config lines are reported and skipped",
		test_bad_config_lines_are_reported_and_skipped},
	{"eight threads sign in parallel", test_parallel_signing_stays_parallel},
	{"removal and reinsertion change slot, sessions and handles", test_removal_and_reinsertion},
	{"removal while signing neither crashes nor hangs",
		test_removal_while_signing_neither_crashes_nor_hangs},
};

static int load_module(struct selftest *t, const char *path, void **dl)
{
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_C_GetFunctionList get;
	void *sym;
	CK_RV rv;

	*dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (*dl == NULL)
		return fail("dlopen %s: %s", path, dlerror());
	sym = dlsym(*dl, "C_GetFunctionList");
	if (sym == NULL)
		return fail("no C_GetFunctionList in %s", path);
	memcpy(&get, &sym, sizeof(get));
	rv = get(&t->p11);
	if (rv != CKR_OK)
		return fail("C_GetFunctionList: 0x%lx", (unsigned long)rv);
	rv = t->p11->C_Initialize(&args);
	return rv == CKR_OK ? 0 : fail("C_Initialize: 0x%lx", (unsigned long)rv);
}

static int setup(struct selftest *t, int argc, char **argv)
{
	const char *real = getenv("MTLS_TEST_MODULE");

	if (argc != 3) {
		fprintf(stderr, "usage: %s MODULE WORKDIR\n", argv[0]);
		return -1;
	}
	t->workdir = argv[2];
	t->token = getenv("MTLS_TEST_TOKEN");
	if (t->token == NULL || getenv("SOFTHSM2_CONF") == NULL)
		return fail("SOFTHSM2_CONF and MTLS_TEST_TOKEN must be set (see mktoken.sh)");
	snprintf(t->conf_path, sizeof(t->conf_path), "%s/fault.conf", t->workdir);
	/* The module reads these once, at its first call. */
	if (conf_set(t, "") < 0 || setenv("MTLS_FAULT_CONF", t->conf_path, 1) != 0)
		return -1;
	if (real != NULL && setenv("MTLS_FAULT_MODULE", real, 1) != 0)
		return -1;
	return read_pin(t);
}

int main(int argc, char **argv)
{
	struct selftest t;
	int passed = 0, failed = 0;
	size_t i;
	void *dl = NULL;

	memset(&t, 0, sizeof(t));
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (setup(&t, argc, argv) < 0 || load_module(&t, argv[1], &dl) < 0)
		return 1;
	printf("1..%zu\n", sizeof(scenarios) / sizeof(scenarios[0]));
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (scenarios[i].run(&t) == 0) {
			passed++;
			printf("ok %zu - %s\n", i + 1, scenarios[i].name);
		} else {
			failed++;
			printf("not ok %zu - %s\n", i + 1, scenarios[i].name);
		}
	}
	t.p11->C_Finalize(NULL);
	explicit_bzero(t.pin, sizeof(t.pin));
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
