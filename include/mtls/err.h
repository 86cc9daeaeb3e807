/* Project error codes and their text.
 *
 * Every library function returns int: 0 on success or one of the negative
 * codes below. mtls_strerror() turns a code into a fixed English phrase.
 * The detail of the last failure in this thread (which call failed, the
 * original CK_RV or wolfSSL code, what to do) is kept in a thread-local
 * buffer read by mtls_err_detail(); it is never used for secrets. */
#ifndef MTLS_ERR_H
#define MTLS_ERR_H

#include <stdarg.h>

enum mtls_err {
	MTLS_OK = 0,
	MTLS_ERR_INTERNAL = -1, /* a bug: an invariant did not hold */
	MTLS_ERR_NOMEM = -2, /* out of memory */
	MTLS_ERR_ARG = -3, /* bad argument from the caller */
	MTLS_ERR_URI = -4, /* PKCS#11 URI malformed or with unknown attributes */
	MTLS_ERR_MODULE = -5, /* module cannot be found, loaded or initialised */
	MTLS_ERR_NO_TOKEN = -6, /* no token matches the URI */
	MTLS_ERR_AMBIGUOUS = -7, /* the URI matches more than one token or object */
	MTLS_ERR_NO_OBJECT = -8, /* no object matches the URI */
	MTLS_ERR_PIN_SOURCE = -9, /* PIN source missing, unreadable or too open */
	MTLS_ERR_PIN_INCORRECT = -10, /* the token rejected the PIN; never retried */
	MTLS_ERR_PIN_LOCKED = -11, /* the user PIN is locked or on its final try */
	MTLS_ERR_LOGIN = -12, /* login failed for another reason */
	MTLS_ERR_TOKEN_ABSENT = -13, /* token not present (removed); retried by rescan */
	MTLS_ERR_MECHANISM = -14, /* mechanism not offered by the token or key */
	MTLS_ERR_KEY = -15, /* key unusable: wrong type, size, attributes */
	MTLS_ERR_TOKEN = -16, /* token operation failed (see detail for CK_RV) */
	MTLS_ERR_BUSY = -17, /* no session free within the wait bound */
	MTLS_ERR_SIGNER = -18, /* signer process died or broke the protocol */
	MTLS_ERR_PROTOCOL = -19, /* malformed message */
	MTLS_ERR_IO = -20, /* file or socket I/O failed (see detail) */
	MTLS_ERR_TOO_BIG = -21, /* input or output over its bound */
	MTLS_ERR_CONFIG = -22, /* configuration invalid */
	MTLS_ERR_TIMEOUT = -23, /* an operation did not finish in time */
	MTLS_ERR_AGAIN = -24, /* would block: call again when the socket is ready */
	MTLS_ERR_LAST = MTLS_ERR_AGAIN, /* the most negative code: keep it in step */
};

/* Fixed text for a code; never NULL. */
const char *mtls_strerror(int code);

/* Record detail for the current thread (printf format). Returns code so
 * callers can write `return mtls_err_set(MTLS_ERR_IO, "open %s: %m", p);`. */
int mtls_err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int mtls_err_vset(int code, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The detail recorded by the last mtls_err_set() in this thread, or "". */
const char *mtls_err_detail(void);

/* Forget the current thread's detail. */
void mtls_err_clear(void);

#endif
