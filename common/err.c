/* Error codes to text, and a per-thread detail line for the last failure. */
#include <stdio.h>
#include <string.h>

#include "mtls/err.h"

static _Thread_local char detail[512];

const char *mtls_strerror(int code)
{
	switch (code) {
	case MTLS_OK: return "success";
	case MTLS_ERR_INTERNAL: return "internal error";
	case MTLS_ERR_NOMEM: return "out of memory";
	case MTLS_ERR_ARG: return "invalid argument";
	case MTLS_ERR_URI: return "invalid PKCS#11 URI";
	case MTLS_ERR_MODULE: return "PKCS#11 module cannot be loaded";
	case MTLS_ERR_NO_TOKEN: return "no token matches";
	case MTLS_ERR_AMBIGUOUS: return "URI matches more than one candidate";
	case MTLS_ERR_NO_OBJECT: return "no object matches";
	case MTLS_ERR_PIN_SOURCE: return "PIN source unusable";
	case MTLS_ERR_PIN_INCORRECT: return "PIN incorrect";
	case MTLS_ERR_PIN_LOCKED: return "PIN locked or on its final try";
	case MTLS_ERR_LOGIN: return "login failed";
	case MTLS_ERR_TOKEN_ABSENT: return "token not present";
	case MTLS_ERR_MECHANISM: return "mechanism not supported";
	case MTLS_ERR_KEY: return "key unusable";
	case MTLS_ERR_TOKEN: return "token operation failed";
	case MTLS_ERR_BUSY: return "token busy";
	case MTLS_ERR_SIGNER: return "signer process failed";
	case MTLS_ERR_PROTOCOL: return "malformed message";
	case MTLS_ERR_IO: return "I/O error";
	case MTLS_ERR_TOO_BIG: return "too big";
	case MTLS_ERR_CONFIG: return "invalid configuration";
	case MTLS_ERR_TIMEOUT: return "timed out";
	case MTLS_ERR_AGAIN: return "try again";
	default: return "unknown error";
	}
}

int mtls_err_vset(int code, const char *fmt, va_list ap)
{
	vsnprintf(detail, sizeof(detail), fmt, ap);
	return code;
}

int mtls_err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mtls_err_vset(code, fmt, ap);
	va_end(ap);
	return code;
}

const char *mtls_err_detail(void)
{
	return detail;
}

void mtls_err_clear(void)
{
	detail[0] = '\0';
}
