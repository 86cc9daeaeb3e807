/* Out of memory everywhere: a whole session with the bridge (open two keys,
 * sign, read public keys and certificates, lose and find the token, resolve
 * a module name) is run again and again with the Nth allocation failing
 * (-Wl,--wrap=malloc,calloc,strdup,strndup,p11_kit_uri_new), N = 1, 2, ...
 * until a run makes no allocation fail. Every run must end in success or a
 * project error code, leak nothing (ASan/LSan builds check that) and leave
 * the module finalised. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bridge.h"
#include "fakep11.h"
#include "mtls/err.h"

void *__wrap_malloc(size_t n);
void *__real_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__real_calloc(size_t n, size_t size);
char *__wrap_strdup(const char *s);
char *__real_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
char *__real_strndup(const char *s, size_t n);
P11KitUri *__wrap_p11_kit_uri_new(void);
P11KitUri *__real_p11_kit_uri_new(void);

static unsigned long fail_at; /* 0: never */
static unsigned long allocs;
static int injected;

static int fail_now(void)
{
	if (fail_at == 0 || ++allocs != fail_at)
		return 0;
	injected = 1;
	return 1;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
	return fail_now() ? NULL : __real_calloc(n, size);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}

P11KitUri *__wrap_p11_kit_uri_new(void)
{
	return fail_now() ? NULL : __real_p11_kit_uri_new();
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void check(int rc, const char *what)
{
	if (rc > 0 || rc < MTLS_ERR_TIMEOUT)
		fail_msg("%s returned %d at allocation %lu", what, rc, fail_at);
}

/* Everything the bridge offers, on one EC and one RSA key. */
static void use_ec_key(struct p11_key *key)
{
	uint8_t in[32] = {1}, out[P11_SIG_MAX], *der = NULL, **certs = NULL;
	size_t outlen = sizeof(out), len, *lens = NULL, n = 0;
	char d[256];

	check(p11_key_sign(key, P11_SIG_ECDSA, in, sizeof(in), out, &outlen), "sign");
	if (p11_key_public_der(key, &der, &len) == 0)
		free(der);
	if (p11_key_certs(key, &certs, &lens, &n) == 0)
		p11_certs_free(certs, lens, n);
	check(p11_token_describe(p11_key_token(key), d, sizeof(d)), "describe");
	/* Away and back: the rescan reads the mechanisms again. */
	fake_remove_token();
	outlen = sizeof(out);
	check(p11_key_sign(key, P11_SIG_ECDSA, in, sizeof(in), out, &outlen), "sign (absent)");
	fake_insert_token(9);
	sleep_ms(2);
	outlen = sizeof(out);
	check(p11_key_sign(key, P11_SIG_ECDSA, in, sizeof(in), out, &outlen), "sign (back)");
}

static void use_rsa_key(struct p11_key *key)
{
	uint8_t in[32] = {2}, out[P11_SIG_MAX], *der = NULL;
	size_t outlen = sizeof(out), len;

	check(p11_key_sign(key, P11_SIG_RSA_PSS_SHA256, in, sizeof(in), out, &outlen), "sign");
	if (p11_key_public_der(key, &der, &len) == 0)
		free(der);
}

static void one_run(const char *pin)
{
	struct p11_options o = {.rescan_ms = 1, .wait_ms = 100, .pin_file = pin};
	struct p11_key *ec = NULL, *rsa = NULL;
	char path[512];
	int rc;

	rc = p11_key_open(fake_uri("token=fake;object=ec;id=%01", NULL), &o, &ec);
	check(rc, "p11_key_open (EC)");
	rc = p11_key_open(fake_uri("object=rsa;type=private", NULL), &o, &rsa);
	check(rc, "p11_key_open (RSA)");
	if (rsa != NULL)
		use_rsa_key(rsa);
	if (ec != NULL)
		use_ec_key(ec);
	p11_key_free(rsa);
	p11_key_free(ec);
	check(modcfg_resolve("softhsm2", path, sizeof(path)), "modcfg_resolve");
}

static void world(void)
{
	fake_reset();
	fake_add_ec_key("ec", "\x01", 1, 256);
	fake_add_ec_pub("ec", "\x01", 1, 256);
	fake_add_cert("ec", "\x01", 1, "certificate", 11);
	fake_add_rsa_key("rsa", "\x02", 1, 2048);
}

static void every_allocation_failure_ends_cleanly(void **state)
{
	const char *pin = fake_file("pin", FAKE_PIN, 4, 0600);
	unsigned long n;

	for (n = 1; n <= 1000; n++) {
		world();
		allocs = 0;
		injected = 0;
		fail_at = n;
		one_run(pin);
		fail_at = 0;
		if (fake_teardown() != 0)
			fail_msg("allocation %lu: something was left open", n);
		if (!injected)
			break;
	}
	assert_false(injected);
	assert_true(n > 20); /* the sweep did reach the bridge */
	print_message("a run makes %lu allocations; each one failed once\n", n - 1);
	/* And with memory to spare, the same run works. */
	world();
	one_run(pin);
	assert_int_equal(fake_teardown(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_allocation_failure_ends_cleanly),
	};

	return cmocka_run_group_tests_name("nomem", tests, NULL, NULL);
}
