/* Issuing a certificate with the local CA's key (ca_int.h): wolfCrypt
 * encodes the TBSCertificate, the CA key signs it (csr_sign_tbs). */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <stdlib.h>
#include <string.h>

#include "ca_int.h"
#include "mtls/err.h"

#define TBS_MAX (32u << 10)

union pubkey {
	ecc_key ecc;
	RsaKey rsa;
};

/* A public key from DER SPKI: EC or RSA. *type is ECC_TYPE or RSA_TYPE. */
static int pub_load(const uint8_t *spki, size_t len, union pubkey *pk, int *type)
{
	word32 idx = 0;

	*type = 0;
	if (wc_ecc_init(&pk->ecc) != 0)
		return -1;
	if (wc_EccPublicKeyDecode(spki, &idx, &pk->ecc, (word32)len) == 0) {
		*type = ECC_TYPE;
		return 0;
	}
	wc_ecc_free(&pk->ecc);
	idx = 0;
	if (wc_InitRsaKey(&pk->rsa, NULL) != 0)
		return -1;
	if (wc_RsaPublicKeyDecode(spki, &idx, &pk->rsa, (word32)len) == 0) {
		*type = RSA_TYPE;
		return 0;
	}
	wc_FreeRsaKey(&pk->rsa);
	return -1;
}

static void pub_free(union pubkey *pk, int type)
{
	if (type == ECC_TYPE)
		wc_ecc_free(&pk->ecc);
	else if (type == RSA_TYPE)
		wc_FreeRsaKey(&pk->rsa);
}

/* A Name TLV's RDNs into wolfCrypt's raw-name field, which it reads as a
 * C string: refused if the encoding holds a zero byte. */
static int raw_name(
	uint8_t *field, size_t fieldsz, const uint8_t *tlv, size_t len, const char *what)
{
	size_t hdr;

	if (len < 2 || tlv[0] != 0x30)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "the %s is not a Name", what);
	hdr = tlv[1] < 0x80 ? 2 : 2 + (tlv[1] & 0x7f);
	if (len <= hdr)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "the %s is empty", what);
	if (len - hdr >= fieldsz || memchr(tlv + hdr, 0, len - hdr) != NULL)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the %s is too long (or holds a value of 256 bytes or more) for this CA",
			what);
	memcpy(field, tlv + hdr, len - hdr);
	return 0;
}

static int set_serial(Cert *c, WC_RNG *rng)
{
	if (wc_RNG_GenerateBlock(rng, c->serial, 16) != 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "no random serial number");
	c->serial[0] = (uint8_t)((c->serial[0] & 0x7f) | 0x01); /* positive, minimal */
	c->serialSz = 16;
	return 0;
}

/* Everything but the keys into wolfCrypt's Cert. */
static int fill(Cert *c, const struct ca_spec *sp, WC_RNG *rng)
{
	int ret, rc;

	if ((ret = wc_InitCert(c)) != 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "wc_InitCert: %d", ret);
	if ((rc = raw_name(
		     c->sbjRaw, sizeof(c->sbjRaw), sp->subject, sp->subject_len, "subject")) != 0 ||
		(rc = raw_name(c->issRaw, sizeof(c->issRaw), sp->issuer, sp->issuer_len,
			 "issuer")) != 0 ||
		(rc = set_serial(c, rng)) != 0)
		return rc;
	if (sp->sans_len > sizeof(c->altNames))
		return mtls_err_set(MTLS_ERR_TOO_BIG, "the subjectAltNames are too long");
	if (sp->sans != NULL) {
		memcpy(c->altNames, sp->sans, sp->sans_len);
		c->altNamesSz = (int)sp->sans_len;
	}
	c->daysValid = sp->days;
	c->selfSigned = 0; /* the issuer is given raw either way */
	c->isCA = sp->is_ca;
	c->basicConstSet = 1;
	if ((ret = wc_SetKeyUsage(c, sp->key_usage)) != 0 ||
		(sp->ext_key_usage != NULL && (ret = wc_SetExtKeyUsage(c, sp->ext_key_usage)) != 0))
		return mtls_err_set(MTLS_ERR_INTERNAL, "key usage: wolfCrypt %d", ret);
	return 0;
}

/* Key identifiers: the subject's, and the issuer's (the CA key's). */
static int key_ids(Cert *c, int stype, union pubkey *sk, struct ca_key *ca)
{
	union pubkey ck;
	int ctype, ret;

	if ((ret = wc_SetSubjectKeyIdFromPublicKey_ex(c, stype, sk)) != 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "subject key id: wolfCrypt %d", ret);
	if (pub_load(ca->k.spki, ca->k.spki_len, &ck, &ctype) != 0)
		return mtls_err_set(MTLS_ERR_KEY, "the CA's public key does not decode");
	ret = wc_SetAuthKeyIdFromPublicKey_ex(c, ctype, &ck);
	pub_free(&ck, ctype);
	if (ret != 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "authority key id: wolfCrypt %d", ret);
	return 0;
}

static int encode_tbs(Cert *c, const struct ca_spec *sp, struct ca_key *ca, WC_RNG *rng,
	uint8_t *tbs, size_t *tbslen)
{
	union pubkey sk;
	int stype, ret, rc;

	if (pub_load(sp->spki, sp->spki_len, &sk, &stype) != 0)
		return mtls_err_set(MTLS_ERR_KEY,
			"the subject's public key is neither EC (P-256, P-384) nor RSA");
	rc = key_ids(c, stype, &sk, ca);
	if (rc == 0) {
		ret = wc_MakeCert_ex(c, tbs, TBS_MAX, stype, &sk, rng);
		if (ret <= 0)
			rc = mtls_err_set(MTLS_ERR_INTERNAL,
				"wolfCrypt could not encode the certificate (%d, %s)", ret,
				wc_GetErrorString(ret));
		else
			*tbslen = (size_t)ret;
	}
	pub_free(&sk, stype);
	return rc;
}

int ca_issue(struct ca_key *ca, const struct ca_spec *spec, uint8_t **der, size_t *len)
{
	Cert *c = calloc(1, sizeof(*c));
	uint8_t *tbs = malloc(TBS_MAX);
	size_t tbslen = 0;
	enum csr_sigalg alg;
	WC_RNG rng;
	int rc, have_rng = 0;

	*der = NULL;
	*len = 0;
	if (c == NULL || tbs == NULL) {
		rc = MTLS_ERR_NOMEM;
		goto out;
	}
	if ((rc = csr_sigalg_for(&ca->k, 0, &alg)) != 0)
		goto out;
	if (csr_sigalg_ctc(alg) == 0) {
		rc = mtls_err_set(MTLS_ERR_MECHANISM,
			"the CA key's token signs RSA only with PSS, which this CA cannot put into "
			"certificates; use an EC key for the CA");
		goto out;
	}
	if (wc_InitRng(&rng) != 0) {
		rc = mtls_err_set(MTLS_ERR_INTERNAL, "wc_InitRng failed");
		goto out;
	}
	have_rng = 1;
	if ((rc = fill(c, spec, &rng)) != 0)
		goto out;
	c->sigType = csr_sigalg_ctc(alg);
	if ((rc = encode_tbs(c, spec, ca, &rng, tbs, &tbslen)) != 0)
		goto out;
	rc = csr_sign_tbs(&ca->k, alg, tbs, tbslen, der, len);
out:
	if (have_rng)
		wc_FreeRng(&rng);
	free(tbs);
	free(c);
	return rc;
}
