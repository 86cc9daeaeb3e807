/* Small helpers for integration test programs: checks that report the
 * failing line and the bridge's error detail, and URIs for the test token
 * made by tests/lib/run-with-token.sh. Header-only so each test is one file. */
#ifndef MTLS_ITEST_H
#define MTLS_ITEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mtls/err.h"

static int itest_failures;

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "%s:%d: CHECK failed: %s (detail: %s)\n", __FILE__, \
				__LINE__, #cond, mtls_err_detail());                        \
			itest_failures++;                                                   \
		}                                                                           \
	} while (0)

#define CHECK_RC(expr, want)                                                                 \
	do {                                                                                 \
		int rc_ = (expr);                                                            \
		if (rc_ != (want)) {                                                         \
			fprintf(stderr, "%s:%d: %s returned %d (%s), want %d; detail: %s\n", \
				__FILE__, __LINE__, #expr, rc_, mtls_strerror(rc_), (want),  \
				mtls_err_detail());                                          \
			itest_failures++;                                                    \
		}                                                                            \
	} while (0)

static inline const char *itest_env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || v[0] == '\0') {
		fprintf(stderr, "SKIP: %s is not set (run through tests/lib/run-with-token.sh)\n",
			name);
		exit(77);
	}
	return v;
}

/* "pkcs11:token=T;object=LABEL;type=private?module-path=M", with M the
 * real module or, if fault is set, the fault-injecting wrapper. */
static inline const char *itest_uri(char *buf, size_t len, const char *object, int fault)
{
	snprintf(buf, len, "pkcs11:token=%s%s%s;type=private?module-path=%s",
		itest_env("MTLS_TEST_TOKEN"), object ? ";object=" : "", object ? object : "",
		fault ? itest_env("MTLS_FAULT_LIB") : itest_env("MTLS_TEST_MODULE"));
	return buf;
}

static inline double itest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline int itest_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	size_t n;

	if (f == NULL)
		return -1;
	n = fwrite(data, 1, len, f);
	return (fclose(f) == 0 && n == len) ? 0 : -1;
}

/* Write a fault-module config atomically (temp file + rename), so the module
 * never reads half a file. */
static inline int itest_fault_conf(const char *path, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int itest_fault_conf(const char *path, const char *fmt, ...)
{
	char tmp[4096], text[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (itest_write_file(tmp, text, strlen(text)) != 0)
		return -1;
	return rename(tmp, path);
}

/* Lines of a calls_log naming fn (e.g. "C_Sign"). */
static inline long itest_count_calls(const char *log, const char *fn)
{
	char line[256], name[64];
	long n = 0, pid;
	FILE *f = fopen(log, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%ld %63s", &pid, name) == 2 && strcmp(name, fn) == 0)
			n++;
	fclose(f);
	return n;
}

static inline int itest_done(const char *name)
{
	if (itest_failures) {
		fprintf(stderr, "%s: %d check(s) failed\n", name, itest_failures);
		return 1;
	}
	printf("%s: all checks passed\n", name);
	return 0;
}

#endif
