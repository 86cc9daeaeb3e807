/* PKCS#10 requests for token keys (csr.h): wolfCrypt encodes the
 * CertificationRequestInfo, the token signs it (csr_sign.c). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "csr.h"
#include "mtls/err.h"
#include "names.h"

#define INFO_MAX (NAMES_SANS_DER_MAX + 4096) /* CertificationRequestInfo */
#define USAGE_TEXT_MAX 256

/* ---- keys ---- */

static int sign_p11(const struct csr_key *k, enum p11_sig sig, const uint8_t *in, size_t inlen,
	uint8_t *out, size_t *outlen)
{
	return p11_key_sign(k->ctx, sig, in, inlen, out, outlen);
}

static int sign_signer(const struct csr_key *k, enum p11_sig sig, const uint8_t *in, size_t inlen,
	uint8_t *out, size_t *outlen)
{
	return signer_sign(k->ctx, k->index, sig, in, inlen, out, outlen);
}

int csr_key_from_p11(struct p11_key *key, struct csr_key *out)
{
	uint8_t *der = NULL;
	size_t len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = p11_key_public_der(key, &der, &len)) != 0)
		return rc;
	if (len > sizeof(out->spki)) {
		free(der);
		return mtls_err_set(MTLS_ERR_TOO_BIG, "the key's public key is over %zu bytes",
			sizeof(out->spki));
	}
	memcpy(out->spki, der, len);
	out->spki_len = len;
	free(der);
	out->sign = sign_p11;
	out->ctx = key;
	out->type = p11_key_type(key);
	out->bits = p11_key_bits(key);
	out->caps = p11_key_caps(key);
	return 0;
}

int csr_key_from_signer(struct signer *s, unsigned index, struct csr_key *out)
{
	struct signer_key_info *ki;
	int rc;

	memset(out, 0, sizeof(*out));
	ki = calloc(1, sizeof(*ki));
	if (ki == NULL)
		return MTLS_ERR_NOMEM;
	rc = signer_key_info(s, index, ki);
	if (rc == 0) {
		memcpy(out->spki, ki->spki, ki->spki_len);
		out->spki_len = ki->spki_len;
		out->type = ki->type;
		out->bits = ki->bits;
		out->caps = ki->caps;
		out->sign = sign_signer;
		out->ctx = s;
		out->index = index;
	}
	free(ki);
	return rc;
}

/* ---- key usage and extended key usage ---- */

static const char *const ku_names[] = {"digitalSignature", "nonRepudiation", "keyEncipherment",
	"dataEncipherment", "keyAgreement", "keyCertSign", "cRLSign", NULL};
static const char *const eku_names[] = {"serverAuth", "clientAuth", "codeSigning",
	"emailProtection", "timeStamping", "OCSPSigning", NULL};

static void names_join(const char *const *names, char *out, size_t outlen)
{
	size_t used = 0, i;

	out[0] = '\0';
	for (i = 0; names[i] != NULL && used < outlen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? "," : "", names[i]);
}

/* Check a comma list against names (case-insensitive) and write it in
 * wolfCrypt's spelling into out. */
static int usage_list(
	const char *text, const char *const *names, const char *what, char *out, size_t outlen)
{
	const char *p = text, *e;
	char known[USAGE_TEXT_MAX];
	size_t used = 0, n, i;

	out[0] = '\0';
	if (strnlen(text, USAGE_TEXT_MAX) >= USAGE_TEXT_MAX)
		return mtls_err_set(MTLS_ERR_ARG, "%s list is too long", what);
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		for (e = p; *e != '\0' && *e != ',' && *e != ' '; e++)
			;
		if (e == p)
			return 0;
		n = (size_t)(e - p);
		for (i = 0; names[i] != NULL; i++)
			if (strlen(names[i]) == n && strncasecmp(names[i], p, n) == 0)
				break;
		if (names[i] == NULL) {
			names_join(names, known, sizeof(known));
			return mtls_err_set(MTLS_ERR_ARG, "unknown %s \"%.*s\"; known: %s", what,
				(int)(n > 40 ? 40 : n), p, known);
		}
		if (used + strlen(names[i]) + 2 > outlen)
			return mtls_err_set(MTLS_ERR_ARG, "%s list is too long", what);
		used += (size_t)snprintf(
			out + used, outlen - used, "%s%s", used ? "," : "", names[i]);
		p = e;
	}
}

static const char *default_ku(const struct csr_key *k)
{
	return k != NULL && k->type == P11_KEY_RSA ? "digitalSignature,keyEncipherment"
						   : "digitalSignature";
}

/* ---- checking and building ---- */

struct parsed {
	uint8_t dn[NAMES_DN_MAX];
	size_t dnlen;
	uint8_t sans[NAMES_SANS_DER_MAX];
	size_t sanslen;
	char ku[USAGE_TEXT_MAX], eku[USAGE_TEXT_MAX];
};

/* wolfCrypt takes a raw subject as a C string (strlen): no zero byte may
 * occur in the RDNs' encoding. Values of 256 bytes or more would have one. */
static int dn_fits_wolfcrypt(const uint8_t *dn, size_t len)
{
	size_t hdr = dn[1] < 0x80 ? 2 : 2 + (dn[1] & 0x7f);

	if (memchr(dn + hdr, 0, len - hdr) != NULL)
		return mtls_err_set(MTLS_ERR_ARG,
			"subject: a value of 256 bytes or more cannot be encoded here; shorten it");
	return 0;
}

static int parse_request(const struct csr_key *k, const struct csr_request *req, struct parsed *p)
{
	const char *ku = req->key_usage ? req->key_usage : default_ku(k);
	const char *eku = req->ext_key_usage ? req->ext_key_usage : "serverAuth,clientAuth";
	int rc;

	if (req->subject == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "a subject is required (e.g. \"/CN=gw01\")");
	if ((rc = names_dn_parse(req->subject, p->dn, sizeof(p->dn), &p->dnlen)) != 0 ||
		(rc = dn_fits_wolfcrypt(p->dn, p->dnlen)) != 0)
		return rc;
	if ((rc = names_sans_encode(
		     req->sans, req->nsans, p->sans, sizeof(p->sans), &p->sanslen)) != 0)
		return rc;
	if ((rc = usage_list(ku, ku_names, "key usage", p->ku, sizeof(p->ku))) != 0)
		return rc;
	return usage_list(eku, eku_names, "extended key usage", p->eku, sizeof(p->eku));
}

int csr_request_check(const struct csr_request *req)
{
	struct parsed *p = calloc(1, sizeof(*p));
	int rc;

	if (p == NULL)
		return MTLS_ERR_NOMEM;
	rc = parse_request(NULL, req, p);
	free(p);
	return rc;
}

/* The public key of k as a wolfCrypt key for wc_MakeCertReq_ex. */
union pubkey {
	ecc_key ecc;
	RsaKey rsa;
};

static int pubkey_load(const struct csr_key *k, union pubkey *pk, int *type)
{
	word32 idx = 0;
	int ret;

	if (k->type == P11_KEY_RSA) {
		*type = RSA_TYPE;
		if ((ret = wc_InitRsaKey(&pk->rsa, NULL)) == 0 &&
			(ret = wc_RsaPublicKeyDecode(
				 k->spki, &idx, &pk->rsa, (word32)k->spki_len)) != 0)
			wc_FreeRsaKey(&pk->rsa);
	} else {
		*type = ECC_TYPE;
		if ((ret = wc_ecc_init(&pk->ecc)) == 0 &&
			(ret = wc_EccPublicKeyDecode(
				 k->spki, &idx, &pk->ecc, (word32)k->spki_len)) != 0)
			wc_ecc_free(&pk->ecc);
	}
	if (ret != 0)
		return mtls_err_set(
			MTLS_ERR_KEY, "the token's public key does not decode (wolfCrypt %d)", ret);
	return 0;
}

static void pubkey_free(union pubkey *pk, int type)
{
	if (type == RSA_TYPE)
		wc_FreeRsaKey(&pk->rsa);
	else
		wc_ecc_free(&pk->ecc);
}

/* Fill wolfCrypt's Cert from the parsed request. */
static int cert_fill(Cert *c, const struct parsed *p)
{
	size_t hdr = p->dn[1] < 0x80 ? 2 : 2 + (p->dn[1] & 0x7f);
	int ret;

	if ((ret = wc_InitCert(c)) != 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "wc_InitCert: %d", ret);
	c->version = 0; /* PKCS#10 version 1 */
	memcpy(c->sbjRaw, p->dn + hdr, p->dnlen - hdr); /* the RDNs, without the header */
	memcpy(c->altNames, p->sans, p->sanslen);
	c->altNamesSz = (int)p->sanslen;
	if (p->ku[0] != '\0' && (ret = wc_SetKeyUsage(c, p->ku)) != 0)
		return mtls_err_set(MTLS_ERR_ARG, "key usage \"%s\": wolfCrypt %d", p->ku, ret);
	if (p->eku[0] != '\0' && (ret = wc_SetExtKeyUsage(c, p->eku)) != 0)
		return mtls_err_set(
			MTLS_ERR_ARG, "extended key usage \"%s\": wolfCrypt %d", p->eku, ret);
	return 0;
}

/* The unsigned CertificationRequestInfo for k and p. */
static int make_info(const struct csr_key *k, const struct parsed *p, uint8_t **info, size_t *len)
{
	Cert *c = calloc(1, sizeof(*c));
	union pubkey pk;
	int type = 0, ret, rc;

	*info = malloc(INFO_MAX);
	if (c == NULL || *info == NULL) {
		rc = MTLS_ERR_NOMEM;
		goto out;
	}
	if ((rc = cert_fill(c, p)) != 0 || (rc = pubkey_load(k, &pk, &type)) != 0)
		goto out;
	ret = wc_MakeCertReq_ex(c, *info, INFO_MAX, type, &pk);
	pubkey_free(&pk, type);
	if (ret <= 0)
		rc = mtls_err_set(MTLS_ERR_INTERNAL,
			"wolfCrypt could not encode the request (wc_MakeCertReq_ex: %d, %s)", ret,
			wc_GetErrorString(ret));
	else
		*len = (size_t)ret;
out:
	free(c);
	if (rc != 0) {
		free(*info);
		*info = NULL;
	}
	return rc;
}

int csr_make(const struct csr_key *k, const struct csr_request *req, uint8_t **der, size_t *len)
{
	struct parsed *p = calloc(1, sizeof(*p));
	uint8_t *info = NULL;
	size_t infolen = 0;
	enum csr_sigalg alg;
	int rc;

	*der = NULL;
	*len = 0;
	if (p == NULL)
		return MTLS_ERR_NOMEM;
	if ((rc = parse_request(k, req, p)) != 0 ||
		(rc = csr_sigalg_for(k, req->prefer_pss, &alg)) != 0)
		goto out;
	if ((rc = make_info(k, p, &info, &infolen)) != 0)
		goto out;
	rc = csr_sign_tbs(k, alg, info, infolen, der, len);
out:
	free(info);
	free(p);
	return rc;
}

int csr_der_to_pem(const uint8_t *der, size_t len, char **pem, size_t *pemlen)
{
	size_t cap = (len + 2) / 3 * 4 + len / 48 + 128;
	int ret;

	*pem = NULL;
	*pemlen = 0;
	if (len == 0 || len > (1u << 20))
		return mtls_err_set(MTLS_ERR_ARG, "nothing to convert to PEM");
	*pem = malloc(cap + 1);
	if (*pem == NULL)
		return MTLS_ERR_NOMEM;
	ret = wc_DerToPem(der, (word32)len, (byte *)*pem, (word32)cap, CERTREQ_TYPE);
	if (ret <= 0) {
		free(*pem);
		*pem = NULL;
		return mtls_err_set(MTLS_ERR_INTERNAL, "wc_DerToPem: %d", ret);
	}
	(*pem)[ret] = '\0';
	*pemlen = (size_t)ret;
	return 0;
}
