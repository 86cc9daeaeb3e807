/* Logging to stderr in the form journald understands: "<N>" priority prefix,
 * one line per event. The level is set once at start. Untrusted strings
 * passed through mtls_log_clean() are bounded and stripped of control bytes.
 * Never pass a PIN, key material or a URI's pin-value. */
#ifndef MTLS_LOG_H
#define MTLS_LOG_H

#include <stddef.h>

enum mtls_log_level {
	MTLS_LOG_ERR = 3,
	MTLS_LOG_WARNING = 4,
	MTLS_LOG_NOTICE = 5,
	MTLS_LOG_INFO = 6,
	MTLS_LOG_DEBUG = 7,
};

/* Messages above level are dropped. Default MTLS_LOG_NOTICE. Call once at
 * start; if the environment has MTLS_LOG_LEVEL=0..7 that wins. */
void mtls_log_set_level(int level);
int mtls_log_get_level(void);

/* Print one line (the newline is added). Thread-safe: one write(2) per line. */
void mtls_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Copy at most outlen-1 bytes of in to out, replacing bytes below 0x20 and
 * 0x7f with '?'; out is always NUL-terminated. Returns out. */
char *mtls_log_clean(char *out, size_t outlen, const char *in, size_t inlen);

#endif
