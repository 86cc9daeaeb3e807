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
	int rc;

	if ((rc = check_key(s, key)) != 0)
		return rc;
	if (sig < P11_SIG_ECDSA || sig > P11_SIG_RSA_PSS_SHA512)
		return mtls_err_set(MTLS_ERR_ARG, "signer: unknown mechanism %d", (int)sig);
	if (in == NULL || inlen == 0 || out == NULL || outlen == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "signer: no input or output");
	if (inlen > P11_SIG_IN_MAX)
		return mtls_err_set(MTLS_ERR_TOO_BIG,
			"signer: %zu input bytes; at most %d are signed", inlen, P11_SIG_IN_MAX);
	return s->ops->sign(s, key, sig, in, inlen, out, outlen);
}

long signer_pid(const struct signer *s)
{
	return s == NULL ? 0 : s->ops->pid(s);
}
