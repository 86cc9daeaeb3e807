/* Acceptance 3: the token is pulled for 2 s (fault module) and comes back
 * under a new slot id. While it is away every signature fails fast (under
 * 100 ms) with "token not present"; after reinsertion signing recovers
 * without a restart within 1 s. A second thread signs all along, so the
 * recovery is also exercised under concurrency. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "itest.h"
#include "mtls/p11.h"

static struct p11_key *key;
static volatile int stop;
static long bg_ok, bg_fail;

static int sign_one(void)
{
	uint8_t hash[32] = {1, 2, 3}, sig[P11_SIG_MAX];
	size_t len = sizeof(sig);

	return p11_key_sign(key, P11_SIG_ECDSA, hash, sizeof(hash), sig, &len);
}

static void *background(void *arg)
{
	int i;

	(void)arg;
	for (i = 0; i < 100000 && !stop; i++) {
		if (sign_one() == 0)
			bg_ok++;
		else
			bg_fail++;
		usleep(5000);
	}
	return NULL;
}

static void slot_of(char *out, size_t len)
{
	char d[1024], *p;

	p11_token_describe(p11_key_token(key), d, sizeof(d));
	p = strstr(d, "slot=");
	snprintf(out, len, "%.*s", p ? (int)strcspn(p, " ") : 1, p ? p : "?");
}

int main(void)
{
	struct p11_options opt = {.pin_file = itest_env("MTLS_TEST_PIN_FILE")};
	char conf[512], uri[1024], before[64], after[64];
	double t0, t, worst = 0, recovered = -1;
	int i, rc, absent_ok = 1, tries = 0;
	pthread_t bg;

	snprintf(conf, sizeof(conf), "%s/fault.conf", itest_env("MTLS_TEST_DIR"));
	CHECK(itest_fault_conf(conf, "removed = 0\n") == 0);
	setenv("MTLS_FAULT_CONF", conf, 1);
	CHECK_RC(p11_key_open(itest_uri(uri, sizeof(uri), "ec256", 1), &opt, &key), 0);
	if (key == NULL)
		return itest_done("bridge_removal");
	CHECK_RC(sign_one(), 0);
	slot_of(before, sizeof(before));
	pthread_create(&bg, NULL, background, NULL);

	CHECK(itest_fault_conf(conf, "removed = 1\n") == 0);
	t0 = itest_now_ms();
	while (itest_now_ms() - t0 < 2000 && tries++ < 1000) {
		t = itest_now_ms();
		rc = sign_one();
		t = itest_now_ms() - t;
		if (t > worst)
			worst = t;
		if (rc != MTLS_ERR_TOKEN_ABSENT ||
			strstr(mtls_err_detail(), "not present") == NULL) {
			if (absent_ok)
				fprintf(stderr, "while removed: rc %d, %s\n", rc,
					mtls_err_detail());
			absent_ok = 0;
		}
		usleep(20000);
	}
	printf("removed for 2 s: %d calls, all 'token not present': %s, slowest %.1f ms\n", tries,
		absent_ok ? "yes" : "no", worst);
	CHECK(absent_ok);
	CHECK(worst < 100.0);

	CHECK(itest_fault_conf(conf, "removed = 0\n") == 0);
	t0 = itest_now_ms();
	for (i = 0; i < 300 && recovered < 0; i++) {
		if (sign_one() == 0)
			recovered = itest_now_ms() - t0;
		else
			usleep(10000);
	}
	slot_of(after, sizeof(after));
	stop = 1;
	pthread_join(bg, NULL);
	printf("reinserted: signing again after %.0f ms; %s -> %s; background thread: %ld ok, "
	       "%ld failed\n",
		recovered, before, after, bg_ok, bg_fail);
	CHECK(recovered >= 0 && recovered < 1000.0);
	CHECK(strcmp(before, after) != 0);
	CHECK_RC(sign_one(), 0);
	p11_key_free(key);
	return itest_done("bridge_recovers_after_token_reinsertion");
}
