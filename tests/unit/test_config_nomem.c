/* Out of memory in the configuration parsers: a full config file and a full
 * command line are parsed again and again with the Nth allocation failing
 * (-Wl,--wrap=malloc,calloc), N = 1, 2, ... until a run makes no
 * allocation fail. Every run must end in success or MTLS_ERR_NOMEM with
 * nothing returned, and leak nothing (the ASan/LSan build checks that). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_int.h"
#include "mtls/err.h"

void *__wrap_malloc(size_t n);
void *__real_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__real_calloc(size_t n, size_t size);

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

static char dir[64], cert[128], ca[128];

static int setup(void **state)
{
	FILE *f;

	snprintf(dir, sizeof(dir), "/tmp/test_config_nomem.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	f = fopen(cert, "w");
	if (f == NULL)
		return -1;
	fclose(f);
	f = fopen(ca, "w");
	if (f == NULL)
		return -1;
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	unlink(cert);
	unlink(ca);
	return rmdir(dir);
}

static int run_file(struct cfg_agent **out)
{
	char text[2048];

	snprintf(text, sizeof(text),
		"[agent]\npin-credential = pin\nmetrics-listen = 127.0.0.1:9100\n"
		"[tunnel web]\nmode = server\nlisten = 0.0.0.0:8443\ntarget = 127.0.0.1:8080\n"
		"key = pkcs11:object=k\ncert = %s\nchain = %s\ncacert = %s\ncrl = %s\n"
		"allow-cn = a\nallow-dns = b.example\nallow-uri = spiffe://x/y\nallow-ou = o\n"
		"[tunnel api]\nmode = client\nlisten = 127.0.0.1:9000\ntarget = h.example:443\n"
		"key = pkcs11:object=k\ncert = pkcs11:object=k\ncacert = %s\n",
		cert, cert, ca, ca, ca);
	return cfg_load_buffer("nomem.conf", text, strlen(text), out);
}

static int run_args(struct cfg_agent **out)
{
	char *argv[] = {"client", "--listen", "127.0.0.1:9000", "--target", "h.example:443",
		"--key", "pkcs11:object=k", "--cert", cert, "--cacert", ca, "--chain", cert,
		"--allow-cn", "a", "--allow-uri", "spiffe://x/y", "--pin-file", "/run/none/pin",
		"--metrics-listen", "unix:/run/m", NULL};

	return cfg_from_args((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv, out);
}

static void sweep(int (*run)(struct cfg_agent **))
{
	struct cfg_agent *cfg;
	int rc;

	for (fail_at = 1; fail_at < 100000; fail_at++) {
		allocs = 0;
		injected = 0;
		cfg = NULL;
		rc = run(&cfg);
		if (!injected)
			break;
		if (rc != MTLS_ERR_NOMEM)
			fail_msg("allocation %lu failed: got %d (%s)", fail_at, rc,
				mtls_err_detail());
		assert_null(cfg);
	}
	fail_at = 0;
	if (rc != 0)
		fail_msg("without failures: %d (%s)", rc, mtls_err_detail());
	assert_non_null(cfg);
	assert_true(allocs > 10); /* the sweep reached far */
	cfg_free(cfg);
}

static void test_config_file_out_of_memory(void **state)
{
	sweep(run_file);
}

static void test_command_line_out_of_memory(void **state)
{
	sweep(run_args);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_file_out_of_memory),
		cmocka_unit_test(test_command_line_out_of_memory),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
