/* The signer interface against a real SoftHSM2 token, in both modes.
 *
 *   test_signer SCENARIO [local|process]
 *
 * run through run-with-token.sh (a private token with keys ec256, ec384,
 * rsa2048, rsa3072 and two keys labelled dup). Each scenario is one ctest
 * test; names read like sentences. Every loop is bounded in count and
 * time, and processes are signalled by pid only. Failures go to stdout:
 * some scenarios capture stderr to search it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mtls/err.h"
#include "mtls/signer.h"
#include "signer_msg.h"

extern char **environ;

#define SKIP 77
#define CHECK(cond, ...)                                    \
	do {                                                \
		if (!(cond))                                \
			fail(__LINE__, #cond, __VA_ARGS__); \
	} while (0)
/* Evaluates expr once: it is often the call under test. */
#define CHECK_RC(expr, want)                                                                      \
	do {                                                                                      \
		int rc_ = (expr);                                                                 \
		CHECK(rc_ == (want), "got %d (%s), want %d; detail: %s", rc_, mtls_strerror(rc_), \
			(want), mtls_err_detail());                                               \
	} while (0)

static const char *mode = "process";

static _Noreturn void fail(int line, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static _Noreturn void fail(int line, const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("FAIL line %d (%s mode): %s: ", line, mode, what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

static const char *env(const char *name)
{
	const char *v = getenv(name);

	CHECK(v != NULL && v[0] != '\0', "%s is not set: run through run-with-token.sh", name);
	return v;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000L}, NULL);
}

static char *test_path(const char *name)
{
	static char paths[16][512];
	static int next;
	char *p = paths[next++ % 16];

	snprintf(p, sizeof(paths[0]), "%s/%s", env("MTLS_TEST_DIR"), name);
	return p;
}

static void write_file(const char *path, const void *data, size_t len, mode_t m)
{
	char tmp[600];
	int fd;

	/* Write beside and rename, so a reader (the fault module) sees a whole file. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, m);
	CHECK(fd >= 0, "open %s: %s", tmp, strerror(errno));
	CHECK(write(fd, data, len) == (ssize_t)len, "write %s", tmp);
	CHECK(fchmod(fd, m) == 0 && close(fd) == 0, "close %s", tmp);
	CHECK(rename(tmp, path) == 0, "rename %s", path);
}

/* Read a file (a /proc file too) whole; NULL if it cannot be read. */
static char *read_file(const char *path, size_t *len)
{
	static char buf[1 << 20];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0)
		return NULL;
	while (*len < sizeof(buf) - 1 && (n = read(fd, buf + *len, sizeof(buf) - 1 - *len)) > 0)
		*len += (size_t)n;
	close(fd);
	buf[*len] = '\0';
	return buf;
}

static size_t count_lines_with(const char *path, const char *needle)
{
	size_t len, n = 0;
	char *text = read_file(path, &len), *p;

	for (p = text; p != NULL && (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Run a tool (no shell); its exit status, or -1. */
static int run(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &st, 0) < 0)
		CHECK(errno == EINTR, "waitpid: %s", strerror(errno));
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void need_tool(const char *tool)
{
	char *argv[] = {(char *)"sh", (char *)"-c", NULL, NULL};
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null", tool);
	argv[2] = cmd;
	if (run(argv) != 0) {
		printf("SKIP: %s is not installed\n", tool);
		exit(SKIP);
	}
}

/* Reaped: nothing of it is left in /proc. */
static int is_gone(long pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%ld", pid);
	return access(path, F_OK) != 0;
}

static size_t count_tasks(long pid)
{
	char path[64];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Exited, reaped or not. A zombie leader is not enough: its other threads
 * may still be exiting and holding the socket, so they must be gone too. */
static int has_exited(long pid)
{
	char path[64], *text, *paren;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((text = read_file(path, &len)) == NULL)
		return 1;
	paren = strrchr(text, ')');
	if (paren == NULL || paren[1] != ' ' || (paren[2] != 'Z' && paren[2] != 'X'))
		return 0;
	return count_tasks(pid) <= 1;
}

static void wait_exited(long pid)
{
	int64_t end = now_ms() + 5000;

	while (!has_exited(pid) && now_ms() < end)
		sleep_ms(10);
	CHECK(has_exited(pid), "signer %ld still running after 5 s", pid);
}

/* ---- keys and signers ---- */

static char uri_store[8][SIGNER_URI_MAX];
static const char *uris[8];

static const char *key_uri(int slot, const char *label, const char *module, const char *query_extra)
{
	snprintf(uri_store[slot], sizeof(uri_store[0]),
		"pkcs11:token=%s;object=%s;type=private?%smodule-path=%s", env("MTLS_TEST_TOKEN"),
		label, query_extra, module);
	uris[slot] = uri_store[slot];
	return uris[slot];
}

static struct signer_config config(size_t nkeys)
{
	struct signer_config cfg = {.key_uris = uris, .nkeys = nkeys};

	cfg.p11.pin_file = env("MTLS_TEST_PIN_FILE");
	return cfg;
}

static int open_mode(const char *m, const struct signer_config *cfg, struct signer **s)
{
	if (strcmp(m, "local") == 0)
		return signer_new_local(cfg, s);
	return signer_new_process(cfg, NULL, s);
}

static struct signer *open_keys(const char *m, const char *const *labels, size_t n)
{
	struct signer_config cfg;
	struct signer *s = NULL;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		key_uri((int)i, labels[i], env("MTLS_TEST_MODULE"), "");
	cfg = config(n);
	rc = open_mode(m, &cfg, &s);
	CHECK_RC(rc, 0);
	return s;
}

static const uint8_t sha256_info[] = {
	0x30,
	0x31,
	0x30,
	0x0d,
	0x06,
	0x09,
	0x60,
	0x86,
	0x48,
	0x01,
	0x65,
	0x03,
	0x04,
	0x02,
	0x01,
	0x05,
	0x00,
	0x04,
	0x20,
};

/* The data a mechanism signs: a SHA-256-sized digest, or its DigestInfo. */
static size_t sign_input(enum p11_sig sig, uint8_t seed, uint8_t *in)
{
	size_t off = 0, i;

	if (sig == P11_SIG_RSA_PKCS1) {
		memcpy(in, sha256_info, sizeof(sha256_info));
		off = sizeof(sha256_info);
	}
	for (i = 0; i < 32; i++)
		in[off + i] = (uint8_t)(seed * 31 + i * 7 + 1);
	return off + 32;
}

/* DER ECDSA-Sig-Value: SEQUENCE { INTEGER r, INTEGER s }, short forms. */
static int is_ecdsa_der(const uint8_t *s, size_t n)
{
	size_t rl, sl;

	if (n < 8 || s[0] != 0x30 || s[1] != n - 2 || s[2] != 0x02)
		return 0;
	rl = s[3];
	if (4 + rl + 2 > n || s[4 + rl] != 0x02)
		return 0;
	sl = s[5 + rl];
	return 6 + rl + sl == n && rl > 0 && sl > 0;
}

static int openssl_verify(const struct signer_key_info *info, enum p11_sig sig, const uint8_t *in,
	size_t inlen, const uint8_t *s, size_t slen)
{
	char *spki = test_path("spki.der"), *data = test_path("data.bin");
	char *sigf = test_path("sig.bin");
	char *argv[20] = {"openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey",
		spki, "-in", data, "-sigfile", sigf};
	int i = 12;

	write_file(spki, info->spki, info->spki_len, 0600);
	write_file(data, in, inlen, 0600);
	write_file(sigf, s, slen, 0600);
	if (sig == P11_SIG_RSA_PSS_SHA256) {
		argv[i++] = "-pkeyopt";
		argv[i++] = "rsa_padding_mode:pss";
		argv[i++] = "-pkeyopt";
		argv[i++] = "rsa_pss_saltlen:32";
		argv[i++] = "-pkeyopt";
		argv[i++] = "digest:sha256";
	}
	argv[i] = NULL;
	return run(argv);
}

/* ---- scenarios ---- */

static void check_same_info(const struct signer_key_info *a, const struct signer_key_info *b)
{
	CHECK(a->type == b->type && a->bits == b->bits && a->caps == b->caps,
		"key info differs: type %d/%d bits %u/%u caps %u/%u", a->type, b->type, a->bits,
		b->bits, a->caps, b->caps);
	CHECK(a->spki_len == b->spki_len && memcmp(a->spki, b->spki, a->spki_len) == 0,
		"public keys differ between modes");
}

static void sign_and_verify(
	struct signer *s, unsigned key, enum p11_sig sig, const struct signer_key_info *info)
{
	uint8_t in[P11_SIG_IN_MAX], out[P11_SIG_MAX];
	size_t inlen = sign_input(sig, (uint8_t)key, in), outlen = sizeof(out);
	int rc = signer_sign(s, key, sig, in, inlen, out, &outlen);

	CHECK_RC(rc, 0);
	if (sig == P11_SIG_ECDSA)
		CHECK(is_ecdsa_der(out, outlen), "ECDSA signature is not DER (%zu bytes)", outlen);
	else
		CHECK(outlen == info->bits / 8, "RSA signature of %zu bytes", outlen);
	CHECK(openssl_verify(info, sig, in, inlen, out, outlen) == 0,
		"openssl does not verify the %s-mode signature (mechanism %d)", mode, sig);
	out[outlen / 2] ^= 0x01;
	CHECK(openssl_verify(info, sig, in, inlen, out, outlen) != 0,
		"openssl verifies a corrupted signature: the check is vacuous");
}

/* 1. Both modes give the same public keys and verifiable signatures. */
static void signer_process_signs_like_local(void)
{
	static const char *const labels[] = {"ec256", "rsa2048"};
	static const enum p11_sig rsa_sigs[] = {P11_SIG_RSA_PKCS1, P11_SIG_RSA_PSS_SHA256};
	struct signer_key_info li[2], pi[2];
	struct signer *local, *proc;
	size_t i;

	need_tool("openssl");
	local = open_keys("local", labels, 2);
	proc = open_keys("process", labels, 2);
	CHECK(signer_pid(local) == 0 && signer_pid(proc) > 0, "pids %ld %ld", signer_pid(local),
		signer_pid(proc));
	for (i = 0; i < 2; i++) {
		CHECK_RC(signer_key_info(local, (unsigned)i, &li[i]), 0);
		CHECK_RC(signer_key_info(proc, (unsigned)i, &pi[i]), 0);
		check_same_info(&li[i], &pi[i]);
	}
	CHECK(pi[0].type == P11_KEY_EC_P256 && pi[0].bits == 256, "ec256 is %d/%u", pi[0].type,
		pi[0].bits);
	CHECK(pi[1].type == P11_KEY_RSA && pi[1].bits == 2048, "rsa2048 is %d/%u", pi[1].type,
		pi[1].bits);
	mode = "local";
	sign_and_verify(local, 0, P11_SIG_ECDSA, &li[0]);
	mode = "process";
	sign_and_verify(proc, 0, P11_SIG_ECDSA, &pi[0]);
	for (i = 0; i < 2; i++) {
		mode = "local";
		sign_and_verify(local, 1, rsa_sigs[i], &li[1]);
		mode = "process";
		sign_and_verify(proc, 1, rsa_sigs[i], &pi[1]);
	}
	signer_free(local);
	signer_free(proc);
}

struct case_ {
	unsigned key;
	enum p11_sig sig;
	size_t inlen;
	size_t outlen;
	int want; /* 1: whatever local mode says */
};

/* 2. Bad requests and bad keys get the same answer in both modes. */
static void signer_modes_answer_alike(void)
{
	static const char *const labels[] = {"ec256", "rsa2048"};
	static const struct case_ cases[] = {
		{2, P11_SIG_ECDSA, 32, P11_SIG_MAX, MTLS_ERR_ARG},
		{0, 0, 32, P11_SIG_MAX, MTLS_ERR_ARG},
		{0, P11_SIG_LAST + 1, 32, P11_SIG_MAX, MTLS_ERR_ARG},
		{0, P11_SIG_ECDSA, P11_SIG_IN_MAX + 1, P11_SIG_MAX, MTLS_ERR_TOO_BIG},
		{0, P11_SIG_ECDSA, 0, P11_SIG_MAX, MTLS_ERR_ARG},
		{0, P11_SIG_ECDSA, 32, 8, 1}, /* output too small */
		{0, P11_SIG_RSA_PSS_SHA256, 32, P11_SIG_MAX, 1}, /* EC key, RSA mech */
		{1, P11_SIG_ECDSA, 32, P11_SIG_MAX, 1}, /* RSA key, EC mech */
		{1, P11_SIG_RSA_PSS_SHA256, 31, P11_SIG_MAX, 1}, /* wrong hash size */
		{0, P11_SIG_ECDSA, 32, P11_SIG_MAX, 0},
	};
	uint8_t in[P11_SIG_IN_MAX + 1] = {1}, out[P11_SIG_MAX];
	struct signer *local = open_keys("local", labels, 2);
	struct signer *proc = open_keys("process", labels, 2);
	size_t i, outlen;
	int lrc, prc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		outlen = cases[i].outlen;
		lrc = signer_sign(
			local, cases[i].key, cases[i].sig, in, cases[i].inlen, out, &outlen);
		outlen = cases[i].outlen;
		prc = signer_sign(
			proc, cases[i].key, cases[i].sig, in, cases[i].inlen, out, &outlen);
		CHECK(lrc == prc, "case %zu: local %d, process %d (%s)", i, lrc, prc,
			mtls_err_detail());
		if (cases[i].want != 1)
			CHECK_RC(prc, cases[i].want);
		else
			CHECK(prc < 0 && strncmp(mtls_err_detail(), "signer: ", 8) == 0,
				"case %zu: %d with detail '%s'", i, prc, mtls_err_detail());
	}
	CHECK(signer_key_info(proc, 2, &(struct signer_key_info){0}) == MTLS_ERR_ARG,
		"key info out of range");
	signer_free(local);
	signer_free(proc);
}

/* 2b. A key that cannot be opened fails both constructors alike. */
static void signer_modes_refuse_bad_keys_alike(void)
{
	static const char *const bad[][2] = {
		{"ec256", "no-such-key"},
		{"dup", "ec256"},
	};
	static const int want[] = {MTLS_ERR_NO_OBJECT, MTLS_ERR_AMBIGUOUS};
	struct signer_config cfg;
	struct signer *s;
	size_t i;
	int lrc, prc;

	for (i = 0; i < 2; i++) {
		key_uri(0, bad[i][0], env("MTLS_TEST_MODULE"), "");
		key_uri(1, bad[i][1], env("MTLS_TEST_MODULE"), "");
		cfg = config(2);
		lrc = signer_new_local(&cfg, &s);
		CHECK(s == NULL, "local signer returned on failure");
		prc = signer_new_process(&cfg, NULL, &s);
		CHECK(s == NULL, "process signer returned on failure");
		CHECK_RC(prc, want[i]);
		CHECK(lrc == prc, "case %zu: local %d, process %d", i, lrc, prc);
		CHECK(strstr(mtls_err_detail(), "signer: key ") != NULL,
			"detail '%s' does not name the key", mtls_err_detail());
	}
	cfg.nkeys = 0;
	CHECK_RC(signer_new_process(&cfg, NULL, &s), MTLS_ERR_CONFIG);
	CHECK_RC(signer_new_local(&cfg, &s), MTLS_ERR_CONFIG);
}

static int sign_once(struct signer *s, unsigned key)
{
	uint8_t in[32], out[P11_SIG_MAX];
	size_t outlen = sizeof(out);

	memset(in, 0x42, sizeof(in));
	return signer_sign(s, key, P11_SIG_ECDSA, in, sizeof(in), out, &outlen);
}

/* Capture this process's stderr (the signer's too: it inherits fd 2). */
static int capture_stderr(const char *path)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	CHECK(saved >= 0 && fd >= 0, "capture stderr: %s", strerror(errno));
	CHECK(dup2(fd, STDERR_FILENO) == STDERR_FILENO, "dup2");
	close(fd);
	return saved;
}

static void restore_stderr(int saved)
{
	dup2(saved, STDERR_FILENO);
	close(saved);
}

/* 3. Garbage on the socket ends the signer; the next request gets a
 * fresh one. */
static void signer_malformed_message_kills_signer_then_recovers(void)
{
	static const char *const labels[] = {"ec256"};
	static uint8_t big[SIGNER_MSG_MAX + 100];
	uint8_t pkt[64];
	struct signer *s = open_keys("process", labels, 1);
	char *log = test_path("stderr.log");
	size_t len, i;
	long pid, before;
	int saved, rc;

	CHECK_RC(sign_once(s, 0), 0);
	saved = capture_stderr(log);
	for (i = 0; i < 4; i++) {
		pid = signer_pid(s);
		if (i == 0) {
			CHECK_RC(signer_proc_send_raw_for_test(s, "garbage!garbage!garbage!", 24),
				0);
		} else if (i == 1) {
			CHECK_RC(signer_proc_send_raw_for_test(s, big, sizeof(big)), 0);
		} else if (i == 2) {
			/* Well formed, but names a key the signer does not have. */
			CHECK_RC(signer_msg_encode_info(9, 1, pkt, sizeof(pkt), &len), 0);
			CHECK_RC(signer_proc_send_raw_for_test(s, pkt, len), 0);
		} else {
			/* A second OPEN is out of sequence; send it and sign at once. */
			CHECK_RC(signer_msg_encode_open_reply(1, 0, NULL, pkt, sizeof(pkt), &len),
				0);
			CHECK_RC(signer_proc_send_raw_for_test(s, pkt, len), 0);
			rc = sign_once(s, 0);
			CHECK(rc == 0 || rc == MTLS_ERR_SIGNER, "racing request: %d", rc);
		}
		wait_exited(pid);
		CHECK_RC(sign_once(s, 0), 0);
		before = pid;
		pid = signer_pid(s);
		CHECK(pid > 0 && pid != before, "no fresh signer: %ld then %ld", before, pid);
		CHECK(is_gone(before), "old signer %ld not reaped", before);
	}
	restore_stderr(saved);
	CHECK(count_lines_with(log, "mtls-signer: malformed message") >= 3,
		"the signer did not log its exits: %s", read_file(log, &len));
	signer_free(s);
}

static void fault_conf(const char *text)
{
	char *path = test_path("fault.conf");

	write_file(path, text, strlen(text), 0600);
	CHECK(setenv("MTLS_FAULT_CONF", path, 1) == 0, "setenv");
}

static struct signer *open_faulty(const char *label, unsigned timeout_ms)
{
	struct signer_config cfg;
	struct signer *s = NULL;

	key_uri(0, label, env("MTLS_FAULT_LIB"), "");
	cfg = config(1);
	cfg.timeout_ms = timeout_ms;
	CHECK_RC(signer_new_process(&cfg, NULL, &s), 0);
	return s;
}

struct job {
	struct signer *s;
	int rc;
	int64_t ms;
	char detail[512];
};

static void *sign_job(void *arg)
{
	struct job *j = arg;
	int64_t t0 = now_ms();

	j->rc = sign_once(j->s, 0);
	j->ms = now_ms() - t0;
	snprintf(j->detail, sizeof(j->detail), "%s", mtls_err_detail());
	return NULL;
}

/* 4. A signer killed with a request in flight: that request fails at
 * once; a request made after the death starts a new signer and works. */
static void signer_killed_by_sigkill_is_replaced(void)
{
	struct job j = {0};
	pthread_t t;
	long pid, pid2;

	fault_conf("latency.C_Sign = 2000\n");
	j.s = open_faulty("ec256", 10000);
	pid = signer_pid(j.s);
	CHECK(pthread_create(&t, NULL, sign_job, &j) == 0, "pthread_create");
	sleep_ms(300);
	CHECK(kill((pid_t)pid, SIGKILL) == 0, "kill: %s", strerror(errno));
	pthread_join(t, NULL);
	CHECK(j.rc == MTLS_ERR_SIGNER, "pending request: %d (%s)", j.rc, j.detail);
	CHECK(j.ms < 1500, "the pending request took %lld ms to fail", (long long)j.ms);
	CHECK(strstr(j.detail, "signal 9") != NULL, "detail: %s", j.detail);
	CHECK(signer_pid(j.s) == 0 && is_gone(pid), "dead signer not reaped");

	fault_conf("# no faults\n");
	CHECK_RC(sign_once(j.s, 0), 0);
	pid2 = signer_pid(j.s);
	CHECK(pid2 > 0 && pid2 != pid, "pid %ld after %ld", pid2, pid);
	/* Killed while idle: the next request notices before it is sent. */
	CHECK(kill((pid_t)pid2, SIGKILL) == 0, "kill: %s", strerror(errno));
	wait_exited(pid2);
	CHECK_RC(sign_once(j.s, 0), 0);
	CHECK(signer_pid(j.s) != pid2 && signer_pid(j.s) > 0, "not replaced");
	signer_free(j.s);
}

/* 5. A signer that does not answer in time is killed, and replaced. */
static void signer_that_does_not_answer_is_killed(void)
{
	static const char *const labels[] = {"ec256"};
	char *script = test_path("hang.sh");
	struct signer_config cfg;
	struct signer *s;
	int64_t t0;
	long pid;
	int rc, st;

	fault_conf("latency.C_Sign = 3000\n");
	s = open_faulty("ec256", 500);
	pid = signer_pid(s);
	t0 = now_ms();
	rc = sign_once(s, 0);
	CHECK_RC(rc, MTLS_ERR_TIMEOUT);
	CHECK(now_ms() - t0 < 2500, "timeout took %lld ms", (long long)(now_ms() - t0));
	CHECK(signer_pid(s) == 0 && is_gone(pid), "late signer %ld not killed", pid);
	fault_conf("# no faults\n");
	CHECK_RC(sign_once(s, 0), 0);
	CHECK(signer_pid(s) != pid, "not replaced");
	signer_free(s);

	/* A helper that never answers OPEN; and ones that exit or are missing. */
	write_file(script, "#!/bin/sh\nexec sleep 30\n", 24, 0700);
	key_uri(0, labels[0], env("MTLS_TEST_MODULE"), "");
	cfg = config(1);
	cfg.timeout_ms = 300;
	t0 = now_ms();
	CHECK_RC(signer_new_process(&cfg, script, &s), MTLS_ERR_TIMEOUT);
	/* Opening keys gets at least 10 s, whatever the request timeout. */
	CHECK(now_ms() - t0 < 15000, "OPEN timeout took %lld ms", (long long)(now_ms() - t0));
	CHECK(waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD, "a child is left over");
	CHECK_RC(signer_new_process(&cfg, "/bin/false", &s), MTLS_ERR_SIGNER);
	rc = signer_new_process(&cfg, test_path("no-such-helper"), &s);
	CHECK_RC(rc, MTLS_ERR_SIGNER);
	CHECK(strstr(mtls_err_detail(), "no-such-helper") != NULL, "detail: %s", mtls_err_detail());
	CHECK(waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD, "a child is left over");
}

/* 6. A wrong PIN reaches the token once, in the first signer or in a
 * replacement, and never again. */
static void signer_wrong_pin_is_never_retried(void)
{
	char *calls = test_path("calls.log"), *pin = test_path("pin"), *good;
	char conf[700];
	size_t len;
	struct signer_config cfg;
	struct signer *s;
	long pid;
	int i;

	snprintf(conf, sizeof(conf), "calls_log = %s\n", calls);
	fault_conf(conf);
	write_file(pin, "9999\n", 5, 0600);
	key_uri(0, "ec256", env("MTLS_FAULT_LIB"), "");
	cfg = config(1);
	cfg.p11.pin_file = pin;
	CHECK_RC(signer_new_process(&cfg, NULL, &s), MTLS_ERR_PIN_INCORRECT);
	CHECK(s == NULL, "a signer was returned");
	CHECK(strstr(mtls_err_detail(), "CKR_PIN_INCORRECT") != NULL, "detail: %s",
		mtls_err_detail());
	CHECK(count_lines_with(calls, " C_Login ") == 1, "%zu C_Login calls",
		count_lines_with(calls, " C_Login "));

	/* The PIN changes under a running signer, which then dies. */
	good = read_file(env("MTLS_TEST_PIN_FILE"), &len);
	CHECK(good != NULL, "cannot read the test PIN");
	write_file(pin, good, len, 0600);
	CHECK_RC(signer_new_process(&cfg, NULL, &s), 0);
	CHECK(count_lines_with(calls, " C_Login ") == 2, "%zu C_Login calls",
		count_lines_with(calls, " C_Login "));
	write_file(pin, "9999\n", 5, 0600);
	pid = signer_pid(s);
	kill((pid_t)pid, SIGKILL);
	wait_exited(pid);
	for (i = 0; i < 5; i++) {
		CHECK_RC(sign_once(s, 0), MTLS_ERR_PIN_INCORRECT);
		CHECK(signer_pid(s) == 0, "a signer runs after a PIN error");
	}
	CHECK(count_lines_with(calls, " C_Login ") == 3, "%zu C_Login calls",
		count_lines_with(calls, " C_Login "));
	signer_free(s);
}

static void check_no_pin(const char *what, const char *text, size_t len, const char *pin)
{
	if (text == NULL)
		return; /* not readable, so not visible either */
	CHECK(memmem(text, len, pin, strlen(pin)) == NULL, "the PIN is in %s", what);
}

static void check_proc_has_no_pin(long pid, const char *pin)
{
	static const char *const files[] = {"cmdline", "environ"};
	char path[64];
	size_t i, len;
	char *text;

	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "/proc/%ld/%s", pid, files[i]);
		text = read_file(path, &len);
		check_no_pin(path, text, len, pin);
	}
}

static void change_pin(const char *old, const char *new)
{
	char *argv[] = {"pkcs11-tool", "--module", NULL, "--token-label", NULL, "--login", "--pin",
		NULL, "--change-pin", "--new-pin", NULL, NULL};

	need_tool("pkcs11-tool");
	argv[2] = (char *)env("MTLS_TEST_MODULE");
	argv[4] = (char *)env("MTLS_TEST_TOKEN");
	argv[7] = (char *)old;
	argv[10] = (char *)new;
	CHECK(run(argv) == 0, "pkcs11-tool --change-pin failed");
}

/* 7. The PIN is in no command line, environment or log line, of this
 * process or the signer, even with pin-value in a URI and at debug level. */
static void signer_pin_never_in_proc_or_logs(void)
{
	static const char pin[] = "Zq7-pin-93817";
	char *pin_file = test_path("strong-pin"), *log = test_path("stderr.log");
	struct signer_config cfg;
	struct signer *s;
	size_t len;
	char *text;
	int saved, rc;

	text = read_file(env("MTLS_TEST_PIN_FILE"), &len);
	CHECK(text != NULL && len > 0, "cannot read the test PIN");
	if (text[len - 1] == '\n')
		text[len - 1] = '\0';
	change_pin(text, pin);
	write_file(pin_file, pin, strlen(pin), 0600);
	CHECK(setenv("MTLS_LOG_LEVEL", "7", 1) == 0, "setenv");
	saved = capture_stderr(log);
	key_uri(0, "ec256", env("MTLS_TEST_MODULE"), "");
	cfg = config(1);
	cfg.p11.pin_file = pin_file;
	rc = signer_new_process(&cfg, NULL, &s);
	CHECK_RC(rc, 0);
	CHECK_RC(sign_once(s, 0), 0);
	check_proc_has_no_pin(signer_pid(s), pin);
	check_proc_has_no_pin((long)getpid(), pin);
	signer_free(s);

	/* pin-value in the URI: allowed here, and still never shown. */
	key_uri(0, "ec256", env("MTLS_TEST_MODULE"), "pin-value=Zq7-pin-93817&");
	cfg = config(1);
	cfg.p11.pin_file = NULL;
	cfg.p11.allow_pin_value = 1;
	CHECK_RC(signer_new_process(&cfg, NULL, &s), 0);
	CHECK_RC(sign_once(s, 0), 0);
	check_proc_has_no_pin(signer_pid(s), pin);
	signer_free(s);
	key_uri(0, "no-such-key", env("MTLS_TEST_MODULE"), "pin-value=Zq7-pin-93817&");
	CHECK(signer_new_process(&cfg, NULL, &s) < 0, "a missing key opened");
	check_no_pin("the error detail", mtls_err_detail(), strlen(mtls_err_detail()), pin);
	restore_stderr(saved);
	text = read_file(log, &len);
	CHECK(text != NULL, "no stderr capture");
	check_no_pin("stderr", text, len, pin);
}

struct worker {
	struct signer *s;
	pthread_t t;
	int failures;
	int first_rc;
	char detail[512];
	uint8_t last[P11_SIG_MAX];
	size_t lastlen;
};

#define THREADS 8
#define PER_THREAD 200

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint8_t in[32];
	int i, rc;

	for (i = 0; i < PER_THREAD; i++) {
		memset(in, i, sizeof(in));
		w->lastlen = sizeof(w->last);
		rc = signer_sign(w->s, 0, P11_SIG_ECDSA, in, sizeof(in), w->last, &w->lastlen);
		if (rc != 0 && w->failures++ == 0) {
			w->first_rc = rc;
			snprintf(w->detail, sizeof(w->detail), "%s", mtls_err_detail());
		}
	}
	return NULL;
}

/* 8. Eight threads sign 200 times each through one signer, no failure. */
static void signer_serves_many_threads_at_once(void)
{
	static const char *const labels[] = {"ec256"};
	static struct worker w[THREADS];
	struct signer *s = open_keys(mode, labels, 1);
	long pid = signer_pid(s);
	int64_t t0 = now_ms();
	int i, failures = 0;

	for (i = 0; i < THREADS; i++) {
		w[i].s = s;
		CHECK(pthread_create(&w[i].t, NULL, worker_run, &w[i]) == 0, "pthread_create");
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(w[i].t, NULL);
		if (w[i].failures > 0)
			printf("thread %d: %d failures, first %d: %s\n", i, w[i].failures,
				w[i].first_rc, w[i].detail);
		failures += w[i].failures;
		CHECK(is_ecdsa_der(w[i].last, w[i].lastlen), "thread %d: bad signature", i);
	}
	CHECK(failures == 0, "%d of %d signatures failed", failures, THREADS * PER_THREAD);
	CHECK(signer_pid(s) == pid, "the signer was replaced under load");
	printf("%d signatures in %lld ms (%s mode)\n", THREADS * PER_THREAD,
		(long long)(now_ms() - t0), mode);
	signer_free(s);
}

#define LOAD_THREADS 40 /* more than the client keeps in flight */
#define LOAD_PER_THREAD 150
#define LOAD_KILLS 5

struct loader {
	struct signer *s;
	pthread_t t;
	int ok;
	int died; /* MTLS_ERR_SIGNER: in flight when the signer was killed */
	int other; /* anything else is a failure of the test */
	int other_rc;
};

static void *loader_run(void *arg)
{
	struct loader *l = arg;
	int i, rc;

	for (i = 0; i < LOAD_PER_THREAD; i++) {
		rc = sign_once(l->s, 0);
		if (rc == 0)
			l->ok++;
		else if (rc == MTLS_ERR_SIGNER)
			l->died++;
		else if (l->other++ == 0)
			l->other_rc = rc;
	}
	return NULL;
}

/* Kill the current signer once it has served a little; 1 if one was killed. */
static int kill_current(struct signer *s, long *last)
{
	int64_t end = now_ms() + 5000;
	long pid;

	while (((pid = signer_pid(s)) == 0 || pid == *last) && now_ms() < end)
		sleep_ms(2);
	if (pid == 0 || pid == *last)
		return 0;
	sleep_ms(30);
	*last = pid;
	return kill((pid_t)pid, SIGKILL) == 0;
}

/* 8b. Signers killed again and again under load from more threads than
 * may be in flight: only requests in flight fail, and only with
 * MTLS_ERR_SIGNER; nothing hangs; a fresh signer serves the rest. */
static void signer_killed_under_load_fails_only_pending_requests(void)
{
	static const char *const labels[] = {"ec256"};
	static struct loader l[LOAD_THREADS];
	struct signer *s = open_keys("process", labels, 1);
	int i, kills = 0, ok = 0, died = 0;
	long last = 0;

	for (i = 0; i < LOAD_THREADS; i++) {
		l[i].s = s;
		CHECK(pthread_create(&l[i].t, NULL, loader_run, &l[i]) == 0, "pthread_create");
	}
	for (i = 0; i < LOAD_KILLS; i++)
		kills += kill_current(s, &last);
	for (i = 0; i < LOAD_THREADS; i++) {
		pthread_join(l[i].t, NULL);
		CHECK(l[i].other == 0, "thread %d: %d failures not caused by the kill, first %d", i,
			l[i].other, l[i].other_rc);
		ok += l[i].ok;
		died += l[i].died;
	}
	printf("%d kills: %d signed, %d failed in flight\n", kills, ok, died);
	CHECK(kills >= 1, "no signer was killed");
	CHECK(died <= kills * 32, "%d failures for %d kills: more than were in flight", died,
		kills);
	CHECK_RC(sign_once(s, 0), 0);
	signer_free(s);
}

/* 9. signer_free stops the signer promptly and reaps it. */
static void signer_free_reaps_the_signer(void)
{
	static const char *const labels[] = {"ec256"};
	struct signer *s = open_keys("process", labels, 1);
	long pid = signer_pid(s);
	int64_t t0 = now_ms();
	int st;

	signer_free(s);
	CHECK(now_ms() - t0 < 2500, "signer_free took %lld ms", (long long)(now_ms() - t0));
	CHECK(is_gone(pid), "signer %ld still running", pid);
	CHECK(waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD, "a child is left over");
	signer_free(NULL);
}

/* ---- token state (no signature spent) ---- */

static struct signer *open_mode_faulty(const char *label, unsigned timeout_ms)
{
	struct signer_config cfg;
	struct signer *s = NULL;

	key_uri(0, label, env("MTLS_FAULT_LIB"), "");
	cfg = config(1);
	cfg.timeout_ms = timeout_ms;
	CHECK_RC(open_mode(mode, &cfg, &s), 0);
	return s;
}

/* The calls log plus more fault lines, so the log survives each rewrite. */
static void fault_log_conf(const char *calls, const char *more)
{
	char conf[1024];

	snprintf(conf, sizeof(conf), "calls_log = %s\n%s", calls, more);
	fault_conf(conf);
}

static enum signer_token_state state_of(struct signer *s)
{
	enum signer_token_state st = SIGNER_TOKEN_UNREACHABLE;

	CHECK_RC(signer_token_state(s, 0, &st), 0);
	return st;
}

/* Ask until the state is want, at most ms; the last state seen. */
static enum signer_token_state wait_state(
	struct signer *s, enum signer_token_state want, int ms, int64_t *took)
{
	int64_t t0 = now_ms(), end = t0 + ms;
	enum signer_token_state st;

	while ((st = state_of(s)) != want && now_ms() < end)
		sleep_ms(10);
	if (took != NULL)
		*took = now_ms() - t0;
	CHECK(st == want, "token state %s after %d ms, want %s (detail: %s)",
		signer_token_state_name(st), ms, signer_token_state_name(want), mtls_err_detail());
	return st;
}

/* 10. The state follows the token through removal and reinsertion, asking
 * is cheap while it is away (rescans spaced by rescan_ms), and no state
 * query ever reaches C_Sign or C_Login. */
static void signer_token_state_follows_removal(void)
{
	char *calls = test_path("calls.log");
	struct signer *s;
	size_t rescans;
	int64_t t0, took;
	int i;

	fault_log_conf(calls, "");
	s = open_mode_faulty("ec256", 5000);
	CHECK(state_of(s) == SIGNER_TOKEN_OK, "fresh token: %s", mtls_err_detail());
	CHECK(strcmp(signer_token_state_name(SIGNER_TOKEN_OK), "ok") == 0 &&
			strcmp(signer_token_state_name(SIGNER_TOKEN_ABSENT), "absent") == 0 &&
			strcmp(signer_token_state_name(SIGNER_TOKEN_PIN_ERROR), "pin-error") == 0 &&
			strcmp(signer_token_state_name(SIGNER_TOKEN_UNREACHABLE), "unreachable") ==
				0,
		"state names");

	fault_log_conf(calls, "removed = 1\n");
	wait_state(s, SIGNER_TOKEN_ABSENT, 2000, &took);
	printf("absent seen after %lld ms: %s\n", (long long)took, mtls_err_detail());
	CHECK(took < 1000, "removal noticed after %lld ms", (long long)took);
	CHECK(strstr(mtls_err_detail(), "not present") != NULL, "detail: %s", mtls_err_detail());
	/* 100 queries in about a second look for the token about 5 times. */
	rescans = count_lines_with(calls, " C_GetSlotList ");
	t0 = now_ms();
	for (i = 0; i < 100; i++) {
		CHECK(state_of(s) == SIGNER_TOKEN_ABSENT, "query %d while removed: %s", i,
			mtls_err_detail());
		sleep_ms(10);
	}
	rescans = count_lines_with(calls, " C_GetSlotList ") - rescans;
	printf("100 queries in %lld ms while removed: %zu rescans\n", (long long)(now_ms() - t0),
		rescans);
	CHECK(rescans <= (size_t)((now_ms() - t0) / 200 + 2) && rescans >= 1,
		"%zu rescans in %lld ms", rescans, (long long)(now_ms() - t0));

	fault_log_conf(calls, "removed = 0\n");
	wait_state(s, SIGNER_TOKEN_OK, 2000, &took);
	printf("present again after %lld ms\n", (long long)took);
	CHECK(count_lines_with(calls, " C_Sign ") == 0, "state queries called C_Sign");
	CHECK(count_lines_with(calls, " C_Login ") == 1,
		"%zu C_Login calls: a state query logged in", count_lines_with(calls, " C_Login "));
	/* The log does see signatures: the check above is not vacuous. */
	CHECK_RC(sign_once(s, 0), 0);
	CHECK(count_lines_with(calls, " C_Sign 0x0") == 1, "%zu C_Sign calls after one signature",
		count_lines_with(calls, " C_Sign "));
	signer_free(s);
}

/* 11. PIN trouble shows as pin-error: a locked PIN while a login is due
 * (seen from the token flags, without a login), then a PIN the token
 * refuses (remembered, never tried again). Still no C_Sign. */
static void signer_token_state_reports_pin_errors(void)
{
	char *calls = test_path("calls.log");
	struct signer *s;
	int i;

	fault_log_conf(calls, "");
	s = open_mode_faulty("ec256", 5000);
	CHECK(state_of(s) == SIGNER_TOKEN_OK, "fresh token: %s", mtls_err_detail());
	/* Pulled and put back: the login is gone and due again. */
	fault_log_conf(calls, "removed = 1\n");
	wait_state(s, SIGNER_TOKEN_ABSENT, 2000, NULL);
	fault_log_conf(calls, "removed = 0\ntoken_flags_set = CKF_USER_PIN_LOCKED\n");
	wait_state(s, SIGNER_TOKEN_PIN_ERROR, 2000, NULL);
	CHECK(strstr(mtls_err_detail(), "CKF_USER_PIN_LOCKED") != NULL, "detail: %s",
		mtls_err_detail());
	fault_log_conf(calls, "fail.C_Login = CKR_PIN_INCORRECT\n");
	wait_state(s, SIGNER_TOKEN_OK, 2000, NULL);
	CHECK(count_lines_with(calls, " C_Login ") == 1, "%zu C_Login calls",
		count_lines_with(calls, " C_Login "));
	/* The next signature logs in, and the token refuses the PIN. */
	CHECK_RC(sign_once(s, 0), MTLS_ERR_PIN_INCORRECT);
	for (i = 0; i < 5; i++) {
		CHECK(state_of(s) == SIGNER_TOKEN_PIN_ERROR, "after a wrong PIN: %s",
			mtls_err_detail());
		CHECK(sign_once(s, 0) == MTLS_ERR_PIN_INCORRECT, "signing after a wrong PIN");
	}
	CHECK(count_lines_with(calls, " C_Login ") == 2, "%zu C_Login calls: a PIN was retried",
		count_lines_with(calls, " C_Login "));
	CHECK(count_lines_with(calls, " C_Sign ") == 0, "C_Sign was called");
	signer_free(s);
}

/* 12. Process mode: a signer that cannot answer makes the token
 * unreachable within the request timeout (and is killed); the next query,
 * like any request, starts a fresh signer. A signer killed while idle is
 * replaced by the next query too. */
static void signer_token_state_of_a_stuck_signer_is_unreachable(void)
{
	struct signer *s;
	int64_t t0;
	long pid, pid2;

	fault_conf("# no faults\n");
	s = open_mode_faulty("ec256", 500);
	pid = signer_pid(s);
	CHECK(state_of(s) == SIGNER_TOKEN_OK, "fresh: %s", mtls_err_detail());
	CHECK(kill((pid_t)pid, SIGSTOP) == 0, "SIGSTOP: %s", strerror(errno));
	t0 = now_ms();
	CHECK(state_of(s) == SIGNER_TOKEN_UNREACHABLE, "a stopped signer answered");
	CHECK(now_ms() - t0 < 2000, "unreachable after %lld ms", (long long)(now_ms() - t0));
	CHECK(strstr(mtls_err_detail(), "did not answer") != NULL, "detail: %s", mtls_err_detail());
	CHECK(signer_pid(s) == 0 && is_gone(pid), "the stuck signer %ld was not killed", pid);
	CHECK(state_of(s) == SIGNER_TOKEN_OK, "after the kill: %s", mtls_err_detail());
	pid2 = signer_pid(s);
	CHECK(pid2 > 0 && pid2 != pid, "no fresh signer: %ld", pid2);

	CHECK(kill((pid_t)pid2, SIGKILL) == 0, "SIGKILL: %s", strerror(errno));
	wait_exited(pid2);
	CHECK(state_of(s) == SIGNER_TOKEN_OK, "after SIGKILL: %s", mtls_err_detail());
	CHECK(signer_pid(s) > 0 && signer_pid(s) != pid2, "not replaced");
	signer_free(s);
}

/* ---- certificates on the token ---- */

/* A self-signed certificate (DER) for CN=cn, written to the token with
 * pkcs11-tool under label and id (hex); its bytes go to der. */
static size_t put_cert(const char *label, const char *id, const char *cn, uint8_t *der, size_t cap)
{
	char subj[64], *out = test_path("put.der"), *keyf = test_path("put.key");
	char *req[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
		"ec_paramgen_curve:P-256", "-nodes", "-keyout", keyf, "-subj", subj, "-days", "2",
		"-outform", "DER", "-out", out, NULL};
	char *put[] = {"pkcs11-tool", "--module", (char *)env("MTLS_TEST_MODULE"), "--token-label",
		(char *)env("MTLS_TEST_TOKEN"), "--login", "--pin", "env:PIN", "--write-object",
		out, "--type", "cert", "--id", (char *)id, "--label", (char *)label, NULL};
	size_t len;
	char *text;

	snprintf(subj, sizeof(subj), "/CN=%s", cn);
	CHECK(run(req) == 0, "openssl req for %s", cn);
	text = read_file(env("MTLS_TEST_PIN_FILE"), &len);
	CHECK(text != NULL && len > 0, "cannot read the test PIN");
	text[strcspn(text, "\n")] = '\0';
	CHECK(setenv("PIN", text, 1) == 0, "setenv");
	CHECK(run(put) == 0, "pkcs11-tool --write-object %s", label);
	text = read_file(out, &len);
	CHECK(text != NULL && len > 0 && len <= cap, "reading %s", out);
	memcpy(der, text, len);
	return len;
}

static size_t certs_of(struct signer *s, unsigned key, const char *uri, int want_rc,
	uint8_t ***certs, size_t **lens)
{
	size_t n = 99;

	CHECK_RC(signer_key_certs(s, key, uri, certs, lens, &n), want_rc);
	if (want_rc != 0)
		CHECK(n == 0 && *certs == NULL, "a failure returned certificates");
	return n;
}

static int same_cert(uint8_t **certs, size_t *lens, size_t i, const uint8_t *der, size_t len)
{
	return lens[i] == len && memcmp(certs[i], der, len) == 0;
}

/* 13. Certificates written to the token by pkcs11-tool come back byte for
 * byte: the key's own (same CKA_ID) by default, a chosen one by object=;
 * none is n == 0, several are all returned; URIs naming another token,
 * module or object type are refused; more than the bound is refused. */
static void signer_key_certs_come_from_the_token(void)
{
	static const char *const labels[] = {"ec256", "rsa3072"};
	static uint8_t a[8192], b[8192];
	char uri[SIGNER_URI_MAX];
	uint8_t **certs = NULL;
	size_t *lens = NULL, alen, blen, n, i;
	struct signer *s;
	char label[16];

	need_tool("openssl");
	need_tool("pkcs11-tool");
	alen = put_cert("ec256-cert", "01", "first", a, sizeof(a));
	s = open_keys(mode, labels, 2);
	n = certs_of(s, 0, NULL, 0, &certs, &lens);
	CHECK(n == 1 && same_cert(certs, lens, 0, a, alen), "key's own: %zu certificates", n);
	signer_certs_free(certs, lens, n);
	snprintf(uri, sizeof(uri), "pkcs11:token=%s;type=cert?module-path=%s",
		env("MTLS_TEST_TOKEN"), env("MTLS_TEST_MODULE"));
	n = certs_of(s, 0, uri, 0, &certs, &lens);
	CHECK(n == 1 && same_cert(certs, lens, 0, a, alen), "no id or object: %zu", n);
	signer_certs_free(certs, lens, n);
	n = certs_of(s, 1, NULL, 0, &certs, &lens);
	CHECK(n == 0, "rsa3072 has no certificate, got %zu", n);
	signer_certs_free(certs, lens, n);

	/* A second one beside the same key: both come back; object= picks. */
	blen = put_cert("renewed", "01", "second", b, sizeof(b));
	n = certs_of(s, 0, "", 0, &certs, &lens);
	CHECK(n == 2 &&
			((same_cert(certs, lens, 0, a, alen) &&
				 same_cert(certs, lens, 1, b, blen)) ||
				(same_cert(certs, lens, 0, b, blen) &&
					same_cert(certs, lens, 1, a, alen))),
		"two beside the key: %zu", n);
	signer_certs_free(certs, lens, n);
	n = certs_of(s, 0, "pkcs11:object=renewed;type=cert", 0, &certs, &lens);
	CHECK(n == 1 && same_cert(certs, lens, 0, b, blen), "object=renewed: %zu", n);
	signer_certs_free(certs, lens, n);
	/* Any certificate object of the token may be named, even from another key. */
	n = certs_of(s, 1, "pkcs11:object=ec256-cert", 0, &certs, &lens);
	CHECK(n == 1 && same_cert(certs, lens, 0, a, alen), "object= for key 1: %zu", n);
	signer_certs_free(certs, lens, n);
	n = certs_of(s, 0, "pkcs11:id=%01;object=nope", 0, &certs, &lens);
	CHECK(n == 0, "object=nope: %zu", n);
	signer_certs_free(certs, lens, n);

	certs_of(s, 0, "pkcs11:object=ec256;type=private", MTLS_ERR_URI, &certs, &lens);
	CHECK(strstr(mtls_err_detail(), "type=cert") != NULL, "detail: %s", mtls_err_detail());
	certs_of(s, 0, "pkcs11:token=another;type=cert", MTLS_ERR_URI, &certs, &lens);
	CHECK(strstr(mtls_err_detail(), "another token") != NULL, "detail: %s", mtls_err_detail());
	snprintf(uri, sizeof(uri), "pkcs11:type=cert?module-path=%s", env("MTLS_FAULT_LIB"));
	certs_of(s, 0, uri, MTLS_ERR_URI, &certs, &lens);
	CHECK(strstr(mtls_err_detail(), "names module") != NULL, "detail: %s", mtls_err_detail());
	certs_of(s, 0, "pkcs11:type=cert?pin-value=1234", MTLS_ERR_URI, &certs, &lens);
	CHECK(strstr(mtls_err_detail(), "1234") == NULL, "the PIN is in the detail");
	certs_of(s, 0, "pkcs11:objcet=x", MTLS_ERR_URI, &certs, &lens);
	certs_of(s, 2, NULL, MTLS_ERR_ARG, &certs, &lens);

	/* Over the bound of one reply: refused alike in both modes. */
	for (i = 0; i < SIGNER_CERTS_MAX - 1; i++) {
		snprintf(label, sizeof(label), "extra%zu", i);
		put_cert(label, "01", label, b, sizeof(b));
	}
	certs_of(s, 0, NULL, MTLS_ERR_TOO_BIG, &certs, &lens);
	CHECK(strstr(mtls_err_detail(), "9 certificates") != NULL, "detail: %s", mtls_err_detail());
	/* The signer is still the same one and still signs. */
	CHECK_RC(sign_once(s, 0), 0);
	signer_free(s);
}

static const struct {
	const char *name;
	void (*fn)(void);
} scenarios[] = {
	{"process_signs_like_local", signer_process_signs_like_local},
	{"modes_answer_alike", signer_modes_answer_alike},
	{"modes_refuse_bad_keys_alike", signer_modes_refuse_bad_keys_alike},
	{"malformed_message_kills_signer_then_recovers",
		signer_malformed_message_kills_signer_then_recovers},
	{"killed_by_sigkill_is_replaced", signer_killed_by_sigkill_is_replaced},
	{"that_does_not_answer_is_killed", signer_that_does_not_answer_is_killed},
	{"wrong_pin_is_never_retried", signer_wrong_pin_is_never_retried},
	{"pin_never_in_proc_or_logs", signer_pin_never_in_proc_or_logs},
	{"serves_many_threads_at_once", signer_serves_many_threads_at_once},
	{"free_reaps_the_signer", signer_free_reaps_the_signer},
	{"killed_under_load_fails_only_pending_requests",
		signer_killed_under_load_fails_only_pending_requests},
	{"token_state_follows_removal", signer_token_state_follows_removal},
	{"token_state_reports_pin_errors", signer_token_state_reports_pin_errors},
	{"token_state_of_a_stuck_signer_is_unreachable",
		signer_token_state_of_a_stuck_signer_is_unreachable},
	{"key_certs_come_from_the_token", signer_key_certs_come_from_the_token},
};

int main(int argc, char **argv)
{
	size_t i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3)
		mode = argv[2];
	CHECK(strcmp(mode, "local") == 0 || strcmp(mode, "process") == 0,
		"mode must be local or process");
	for (i = 0; argc >= 2 && i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (strcmp(argv[1], scenarios[i].name) == 0) {
			scenarios[i].fn();
			printf("PASS signer_%s (%s mode)\n", argv[1], mode);
			return 0;
		}
	}
	printf("usage: test_signer SCENARIO [local|process]; scenarios:\n");
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		printf("  %s\n", scenarios[i].name);
	return 2;
}
