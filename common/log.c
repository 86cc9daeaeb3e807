/* One write(2) per line to stderr, with a "<N>" prefix journald parses. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mtls/log.h"

static int log_level = MTLS_LOG_NOTICE;

void mtls_log_set_level(int level)
{
	const char *env = getenv("MTLS_LOG_LEVEL");

	if (env != NULL && env[0] >= '0' && env[0] <= '7' && env[1] == '\0')
		level = env[0] - '0';
	if (level < 0)
		level = 0;
	if (level > MTLS_LOG_DEBUG)
		level = MTLS_LOG_DEBUG;
	log_level = level;
}

int mtls_log_get_level(void)
{
	return log_level;
}

void mtls_log(int level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n, m;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "<%d>", level);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

char *mtls_log_clean(char *out, size_t outlen, const char *in, size_t inlen)
{
	size_t i;

	if (outlen == 0)
		return out;
	for (i = 0; i < inlen && i + 1 < outlen && in[i] != '\0'; i++) {
		unsigned char c = (unsigned char)in[i];
		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[i] = '\0';
	return out;
}
