/* Acceptance 2: 8 threads x 500 signatures on one key, 0 failures; and the
 * same through the fault module limiting the token to one session (like a
 * smartcard): still 0 failures, with every signature on that one session.
 *   test_bridge_threads pool      -- SoftHSM2 as it is
 *   test_bridge_threads one       -- max_sessions = 1 via the fault module */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "itest.h"
#include "mtls/p11.h"

#define THREADS 8
#define PER_THREAD 500

static struct p11_key *key;
static int failures[THREADS];

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg, i;
	uint8_t hash[32], sig[P11_SIG_MAX];
	size_t len;

	for (i = 0; i < PER_THREAD; i++) {
		memset(hash, id * 31 + i, sizeof(hash));
		len = sizeof(sig);
		if (p11_key_sign(key, P11_SIG_ECDSA, hash, sizeof(hash), sig, &len) != 0) {
			if (failures[id]++ == 0)
				fprintf(stderr, "thread %d: %s\n", id, mtls_err_detail());
		}
	}
	return NULL;
}

/* Successful calls of fn in the fault module's log ("PID FN 0x0"). */
static long count_ok(const char *log, const char *fn)
{
	char line[256], name[64], rv[32];
	long n = 0, pid;
	FILE *f = fopen(log, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%ld %63s %31s", &pid, name, rv) == 3 && strcmp(name, fn) == 0 &&
			strcmp(rv, "0x0") == 0)
			n++;
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	struct p11_options opt = {.pin_file = itest_env("MTLS_TEST_PIN_FILE")};
	int one = argc > 1 && strcmp(argv[1], "one") == 0, i, total = 0;
	char uri[1024], conf[512], log[512];
	pthread_t t[THREADS];
	double t0, ms;

	if (one) {
		snprintf(conf, sizeof(conf), "%s/fault.conf", itest_env("MTLS_TEST_DIR"));
		snprintf(log, sizeof(log), "%s/calls.log", itest_env("MTLS_TEST_DIR"));
		CHECK(itest_fault_conf(conf, "max_sessions = 1\ncalls_log = %s\n", log) == 0);
		setenv("MTLS_FAULT_CONF", conf, 1);
	}
	CHECK_RC(p11_key_open(itest_uri(uri, sizeof(uri), "ec256", one), &opt, &key), 0);
	if (key == NULL)
		return itest_done("bridge_threads");
	t0 = itest_now_ms();
	for (i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		total += failures[i];
	}
	ms = itest_now_ms() - t0;
	printf("%d threads x %d signatures: %d failures, %.0f ms (%.0f signatures/s)\n", THREADS,
		PER_THREAD, total, ms, THREADS * PER_THREAD / (ms / 1000.0));
	CHECK(total == 0);
	p11_key_free(key);
	if (one) {
		long opens = count_ok(log, "C_OpenSession"), signs = count_ok(log, "C_Sign");
		printf("one-session token: %ld session(s) opened, %ld C_Sign\n", opens, signs);
		CHECK(opens == 1);
		CHECK(signs == THREADS * PER_THREAD);
	}
	return itest_done(one ? "bridge_threads_one_session" : "bridge_threads_pool");
}
