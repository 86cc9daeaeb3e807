/* The signer interface's public entry points, and its in-process mode:
 * each key opened through the bridge in this process. The entry points
 * check arguments once, so both modes answer bad calls the same way. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signer_msg.h"

struct signer_local {
	struct signer base;
	struct p11_key *keys[SIGNER_MAX_KEYS];
	/* The bridge may read the PIN sources again on a re-login, so the
	 * copies live as long as the keys. */
	char *pin_file;
	char *pin_credential;
};

enum signer_token_state signer_state_of(int rc)
{
	switch (rc) {
	case 0: return SIGNER_TOKEN_OK;
	case MTLS_ERR_TOKEN_ABSENT:
	case MTLS_ERR_NO_TOKEN: return SIGNER_TOKEN_ABSENT;
	case MTLS_ERR_PIN_INCORRECT:
	case MTLS_ERR_PIN_LOCKED: return SIGNER_TOKEN_PIN_ERROR;
	default: return SIGNER_TOKEN_UNREACHABLE;
	}
}

int signer_read_certs(
	struct p11_key *key, const char *cert_uri, uint8_t ***certs, size_t **lens, size_t *n)
{
	size_t i;
	int rc;

	if (cert_uri != NULL && cert_uri[0] == '\0')
		cert_uri = NULL;
	if ((rc = p11_key_certs_by_uri(key, cert_uri, certs, lens, n)) != 0)
		return rc;
	if (*n > SIGNER_CERTS_MAX)
		rc = mtls_err_set(MTLS_ERR_TOO_BIG,
			"%s%zu certificates match on the token; at most %d are read: name one with "
			"object= in the certificate URI, or delete the stale ones",
			*n >= 16 ? "at least " : "", *n, SIGNER_CERTS_MAX);
	for (i = 0; rc == 0 && i < *n; i++)
		if ((*lens)[i] > SIGNER_CERT_MAX)
			rc = mtls_err_set(MTLS_ERR_TOO_BIG,
				"a certificate on the token has %zu bytes; at most %d are read",
				(*lens)[i], SIGNER_CERT_MAX);
	if (rc != 0) {
		p11_certs_free(*certs, *lens, *n);
		*certs = NULL;
		*lens = NULL;
		*n = 0;
	}
	return rc;
}

int signer_fill_key_info(struct p11_key *key, struct signer_key_info *info)
{
	uint8_t *der = NULL;
	size_t len = 0;
	int rc;

	memset(info, 0, sizeof(*info));
	if ((rc = p11_key_public_der(key, &der, &len)) != 0)
		goto out;
	if (len == 0 || len > SIGNER_SPKI_MAX) {
		rc = mtls_err_set(MTLS_ERR_TOO_BIG,
			"public key of %zu bytes is over the %d-byte bound", len, SIGNER_SPKI_MAX);
		goto out;
	}
	info->type = p11_key_type(key);
	info->bits = p11_key_bits(key);
	info->caps = p11_key_caps(key);
	memcpy(info->spki, der, len);
	info->spki_len = len;
out:
	free(der);
	return rc;
}

static int local_key_info(struct signer *s, unsigned key, struct signer_key_info *info)
{
	struct signer_local *l = (struct signer_local *)s;

	return signer_fill_key_info(l->keys[key], info);
}

static int local_sign(struct signer *s, unsigned key, enum p11_sig sig, const uint8_t *in,
	size_t inlen, uint8_t *out, size_t *outlen)
{
	struct signer_local *l = (struct signer_local *)s;

	return p11_key_sign(l->keys[key], sig, in, inlen, out, outlen);
}

static enum signer_token_state local_token_state(struct signer *s, unsigned key)
{
	struct signer_local *l = (struct signer_local *)s;

	return signer_state_of(p11_token_check(p11_key_token(l->keys[key])));
}

static int local_key_certs(struct signer *s, unsigned key, const char *cert_uri, uint8_t ***certs,
	size_t **lens, size_t *n)
{
	struct signer_local *l = (struct signer_local *)s;

	return signer_read_certs(l->keys[key], cert_uri, certs, lens, n);
}

static long local_pid(const struct signer *s)
{
	return 0;
}

static void local_free(struct signer *s)
{
	struct signer_local *l = (struct signer_local *)s;
	size_t i;

	for (i = 0; i < SIGNER_MAX_KEYS; i++)
		p11_key_free(l->keys[i]);
	free(l->pin_file);
	free(l->pin_credential);
	free(l);
}

static const struct signer_ops local_ops = {
	.key_info = local_key_info,
	.sign = local_sign,
	.token_state = local_token_state,
	.key_certs = local_key_certs,
	.pid = local_pid,
	.free = local_free,
};

static int copy_opt(const char *in, char **out)
{
	*out = NULL;
	if (in != NULL && (*out = strdup(in)) == NULL)
		return MTLS_ERR_NOMEM;
	return 0;
}

int signer_new_local(const struct signer_config *cfg, struct signer **out)
{
	struct signer_local *l = NULL;
	struct p11_options opt;
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = signer_check_config(cfg)) != 0)
		return rc;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return MTLS_ERR_NOMEM;
	l->base.ops = &local_ops;
	l->base.nkeys = cfg->nkeys;
	if ((rc = copy_opt(cfg->p11.pin_file, &l->pin_file)) != 0 ||
		(rc = copy_opt(cfg->p11.pin_credential, &l->pin_credential)) != 0)
		goto out;
	opt = cfg->p11;
	opt.pin_file = l->pin_file;
	opt.pin_credential = l->pin_credential;
	/* The caller's URI strings are used in place: no copy to wipe. */
	for (i = 0; i < cfg->nkeys; i++) {
		if ((rc = p11_key_open(cfg->key_uris[i], &opt, &l->keys[i])) != 0) {
			signer_detail_prefix(rc, "key %zu", i);
			goto out;
		}
	}
	*out = &l->base;
	l = NULL;
out:
	if (l != NULL)
		local_free(&l->base);
	return rc;
}

/* ---- the public entry points, shared by both modes ---- */

int signer_detail_prefix(int code, const char *fmt, ...)
{
	char what[128], detail[512];
	va_list ap;

	/* mtls_err_set() writes the buffer mtls_err_detail() returns: copy. */
	snprintf(detail, sizeof(detail), "%s", mtls_err_detail());
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return mtls_err_set(code, "%s: %s", what, detail);
}

void signer_free(struct signer *s)
{
	if (s != NULL)
		s->ops->free(s);
}

static int check_key(const struct signer *s, unsigned key)
{
	if (s == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "signer: no signer");
	if (key >= s->nkeys)
		return mtls_err_set(MTLS_ERR_ARG,
			"signer: key index %u out of range (%zu keys configured)", key, s->nkeys);
	return 0;
}

int signer_key_info(struct signer *s, unsigned key, struct signer_key_info *info)
{
	int rc;

	if ((rc = check_key(s, key)) != 0)
		return rc;
	if (info == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "signer: no place for the key info");
	return s->ops->key_info(s, key, info);
}

int signer_sign(struct signer *s, unsigned key, enum p11_sig sig, const uint8_t *in, size_t inlen,
	uint8_t *out, size_t *outlen)
{
	size_t max = sig == P11_SIG_RSA_RAW ? P11_SIG_RAW_MAX : P11_SIG_IN_MAX;
	int rc;

	if ((rc = check_key(s, key)) != 0)
		return rc;
	if (sig < P11_SIG_ECDSA || sig > P11_SIG_LAST)
		return mtls_err_set(MTLS_ERR_ARG, "signer: unknown mechanism %d", (int)sig);
	if (in == NULL || inlen == 0 || out == NULL || outlen == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "signer: no input or output");
	if (inlen > max)
		return mtls_err_set(MTLS_ERR_TOO_BIG,
			"signer: %zu input bytes; at most %zu are signed", inlen, max);
	if (!p11_sig_inlen_ok(sig, inlen))
		return mtls_err_set(MTLS_ERR_ARG,
			"signer: a raw RSA block of %zu bytes; %d to %d (the modulus length) expected",
			inlen, P11_SIG_RAW_MIN, P11_SIG_RAW_MAX);
	return s->ops->sign(s, key, sig, in, inlen, out, outlen);
}

int signer_token_state(struct signer *s, unsigned key, enum signer_token_state *state)
{
	int rc;

	if (state == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "signer: no place for the token state");
	*state = SIGNER_TOKEN_UNREACHABLE;
	if ((rc = check_key(s, key)) != 0)
		return rc;
	mtls_err_clear();
	*state = s->ops->token_state(s, key);
	return 0;
}

const char *signer_token_state_name(enum signer_token_state state)
{
	switch (state) {
	case SIGNER_TOKEN_OK: return "ok";
	case SIGNER_TOKEN_ABSENT: return "absent";
	case SIGNER_TOKEN_PIN_ERROR: return "pin-error";
	case SIGNER_TOKEN_UNREACHABLE: return "unreachable";
	default: return "unknown";
	}
}

int signer_key_certs(struct signer *s, unsigned key, const char *cert_uri, uint8_t ***certs,
	size_t **lens, size_t *n)
{
	int rc;

	if (certs == NULL || lens == NULL || n == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "signer: no place for the certificates");
	*certs = NULL;
	*lens = NULL;
	*n = 0;
	if ((rc = check_key(s, key)) != 0)
		return rc;
	if (cert_uri != NULL && strnlen(cert_uri, SIGNER_URI_MAX + 1) > SIGNER_URI_MAX)
		return mtls_err_set(
			MTLS_ERR_TOO_BIG, "signer: certificate URI over %d bytes", SIGNER_URI_MAX);
	return s->ops->key_certs(s, key, cert_uri, certs, lens, n);
}

void signer_certs_free(uint8_t **certs, size_t *lens, size_t n)
{
	p11_certs_free(certs, lens, n);
}

long signer_pid(const struct signer *s)
{
	return s == NULL ? 0 : s->ops->pid(s);
}
