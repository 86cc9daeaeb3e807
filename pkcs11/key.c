/* A private key on a token: found exactly once by URI, its handle cached
 * per token generation, signing with the token's own mechanism and one
 * repair-and-retry for lost sessions, logouts, stale handles and removal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "mtls/err.h"
#include "mtls/log.h"

#define FIND_MAX 16
#define ATTR_MAX 8192
#define NO_HANDLE_GEN (~0u)

CK_RV obj_get_attr(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
	CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len)
{
	CK_ATTRIBUTE a = {type, NULL, 0};
	CK_RV rv;

	*val = NULL;
	*len = 0;
	rv = fl->C_GetAttributeValue(s, o, &a, 1);
	if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ||
		a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
		return CKR_OK;
	if (rv != CKR_OK)
		return rv;
	if (a.ulValueLen > ATTR_MAX)
		return CKR_DEVICE_MEMORY;
	a.pValue = malloc(a.ulValueLen ? a.ulValueLen : 1);
	if (a.pValue == NULL)
		return CKR_HOST_MEMORY;
	rv = fl->C_GetAttributeValue(s, o, &a, 1);
	if (rv != CKR_OK || a.ulValueLen > ATTR_MAX) {
		free(a.pValue);
		return rv != CKR_OK ? rv : CKR_DEVICE_MEMORY;
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return CKR_OK;
}

CK_RV obj_find(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
	CK_OBJECT_HANDLE *found, CK_ULONG max, CK_ULONG *n)
{
	CK_OBJECT_HANDLE extra;
	CK_ULONG got = 0, more = 0;
	CK_RV rv;

	*n = 0;
	rv = fl->C_FindObjectsInit(s, tmpl, ntmpl);
	if (rv != CKR_OK)
		return rv;
	rv = fl->C_FindObjects(s, found, max, &got);
	if (rv == CKR_OK && got == max)
		rv = fl->C_FindObjects(s, &extra, 1, &more); /* one more tells "ambiguous" */
	(void)fl->C_FindObjectsFinal(s);
	*n = got + more;
	return rv;
}

static CK_BBOOL get_bool(
	CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = {type, &v, sizeof(v)};

	if (fl->C_GetAttributeValue(s, o, &a, 1) != CKR_OK)
		return CK_FALSE;
	return v;
}

/* Template selecting the key: private key class plus the URI's (or the
 * found key's) label and id. */
static CK_ULONG key_template(const struct p11_key *key, CK_ATTRIBUTE *t, CK_OBJECT_CLASS *cls)
{
	CK_ULONG n = 0;

	t[n].type = CKA_CLASS;
	t[n].pValue = cls;
	t[n++].ulValueLen = sizeof(*cls);
	if (key->label != NULL) {
		t[n].type = CKA_LABEL;
		t[n].pValue = key->label;
		t[n++].ulValueLen = strlen(key->label);
	}
	if (key->id != NULL) {
		t[n].type = CKA_ID;
		t[n].pValue = key->id;
		t[n++].ulValueLen = key->idlen;
	}
	return n;
}

static void hex(char *out, size_t outlen, const uint8_t *v, size_t len)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < len && 2 * i + 3 <= outlen; i++)
		snprintf(out + 2 * i, 3, "%02x", v[i]);
}

/* List the candidates of an ambiguous match by label and id. */
static int ambiguous(struct p11_key *key, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *h, CK_ULONG n)
{
	/* Shorter than the 512-byte detail, so that the advice still fits. */
	char list[384] = "", idhex[65], clean[33];
	uint8_t *label, *id;
	size_t llen, idlen, used;
	CK_ULONG i;

	for (i = 0; i < n && i < FIND_MAX; i++) {
		if (obj_get_attr(key->tok->fl, s, h[i], CKA_LABEL, &label, &llen) != CKR_OK)
			label = NULL, llen = 0;
		if (obj_get_attr(key->tok->fl, s, h[i], CKA_ID, &id, &idlen) != CKR_OK)
			id = NULL, idlen = 0;
		hex(idhex, sizeof(idhex), id, idlen);
		/* Labels come from the token: bounded and without control bytes. */
		mtls_log_clean(clean, sizeof(clean), label ? (char *)label : "", llen);
		used = strlen(list);
		if (used < sizeof(list))
			snprintf(list + used, sizeof(list) - used, "%sobject=%s id=%s",
				i ? "; " : "", clean, idhex);
		free(label);
		free(id);
	}
	return mtls_err_set(MTLS_ERR_AMBIGUOUS,
		"the URI matches %lu private keys: %s%s; add id= (e.g. id=%%01) to pick one",
		(unsigned long)n, list, n > FIND_MAX ? " ..." : "");
}

/* Find the one key. *rv (if not NULL) gets the failing CK_RV. */
static int key_find(struct p11_key *key, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *out, CK_RV *rvp)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[3];
	CK_OBJECT_HANDLE h[FIND_MAX];
	CK_ULONG n;
	CK_RV rv;

	rv = obj_find(key->tok->fl, s, t, key_template(key, t, &cls), h, FIND_MAX, &n);
	if (rvp != NULL)
		*rvp = rv;
	if (rv != CKR_OK)
		return rv_fail(rv, "C_FindObjects (private key)", NULL);
	if (n == 0)
		return mtls_err_set(MTLS_ERR_NO_OBJECT,
			"no private key on the token matches object=%s%s%s; list keys with "
			"`pkcs11-tool --list-objects --login` (is the PIN source right?)",
			key->label ? key->label : "(any)", key->id ? " and the given id" : "",
			key->tok->want_login ? "" : " (not logged in: no PIN source given)");
	if (n > 1)
		return ambiguous(key, s, h, n);
	*out = h[0];
	return 0;
}

static int read_type(struct p11_key *key, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	CK_FUNCTION_LIST *fl = key->tok->fl;
	CK_ATTRIBUTE a = {CKA_KEY_TYPE, &key->ktype, sizeof(key->ktype)};
	uint8_t *v;
	size_t len, i;
	CK_RV rv;

	rv = fl->C_GetAttributeValue(s, h, &a, 1);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_GetAttributeValue (CKA_KEY_TYPE)", NULL);
	if (key->ktype == CKK_EC) {
		rv = obj_get_attr(fl, s, h, CKA_EC_PARAMS, &v, &len);
		if (rv != CKR_OK)
			return rv_fail(rv, "C_GetAttributeValue (CKA_EC_PARAMS)", NULL);
		key->type = v ? der_curve(v, len) : P11_KEY_UNKNOWN;
		key->bits = key->type == P11_KEY_EC_P256 ? 256 : 384;
		free(v);
		if (key->type == P11_KEY_UNKNOWN)
			return mtls_err_set(MTLS_ERR_KEY,
				"EC key on a curve other than P-256 or P-384; make a P-256 key");
		return 0;
	}
	if (key->ktype != CKK_RSA)
		return mtls_err_set(MTLS_ERR_KEY, "key type 0x%lx is neither EC nor RSA",
			(unsigned long)key->ktype);
	rv = obj_get_attr(fl, s, h, CKA_MODULUS, &v, &len);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_GetAttributeValue (CKA_MODULUS)", NULL);
	if (v == NULL)
		return mtls_err_set(MTLS_ERR_KEY,
			"the RSA key shows no CKA_MODULUS; the token "
			"cannot tell its size");
	for (i = 0; i < len && v[i] == 0; i++)
		;
	key->type = P11_KEY_RSA;
	key->bits = (unsigned)(len - i) * 8;
	free(v);
	if (key->bits < 2048 || key->bits > 8192)
		return mtls_err_set(
			MTLS_ERR_KEY, "RSA key of %u bits; use 2048 to 8192 bits", key->bits);
	return 0;
}

/* Raw RSA counts only if the token signs with it: some list CKM_RSA_X_509
 * for decryption alone. A module that cannot say (no C_GetMechanismInfo)
 * is taken at its list's word. */
static int raw_rsa_signs(struct p11_token *tok)
{
	CK_MECHANISM_INFO mi;
	CK_RV rv;

	if (!token_has_mech(tok, CKM_RSA_X_509))
		return 0;
	if (tok->fl->C_GetMechanismInfo == NULL)
		return 1;
	memset(&mi, 0, sizeof(mi));
	rv = tok->fl->C_GetMechanismInfo(tok->slot, CKM_RSA_X_509, &mi);
	if (rv == CKR_FUNCTION_NOT_SUPPORTED)
		return 1;
	return rv == CKR_OK && (mi.flags & CKF_SIGN) != 0;
}

/* Type, size, flags and what the token lets this key do. */
static int read_props(struct p11_key *key, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	struct p11_token *tok = key->tok;
	uint8_t *v;
	size_t len;
	int rc;

	rc = read_type(key, s, h);
	if (rc != 0)
		return rc;
	if (!get_bool(tok->fl, s, h, CKA_SIGN))
		return mtls_err_set(MTLS_ERR_KEY, "the key has CKA_SIGN false: it cannot sign");
	key->always_auth = get_bool(tok->fl, s, h, CKA_ALWAYS_AUTHENTICATE) == CK_TRUE;
	/* Re-find by the key's own id and label from now on. */
	if (obj_get_attr(tok->fl, s, h, CKA_ID, &v, &len) == CKR_OK && v != NULL) {
		free(key->id);
		key->id = v;
		key->idlen = len;
	}
	key->caps = 0;
	if (key->ktype == CKK_EC && token_has_mech(tok, CKM_ECDSA))
		key->caps |= P11_CAP_ECDSA;
	if (key->ktype == CKK_RSA && token_has_mech(tok, CKM_RSA_PKCS))
		key->caps |= P11_CAP_RSA_PKCS1;
	if (key->ktype == CKK_RSA && token_has_mech(tok, CKM_RSA_PKCS_PSS))
		key->caps |= P11_CAP_RSA_PSS;
	if (key->ktype == CKK_RSA && raw_rsa_signs(tok))
		key->caps |= P11_CAP_RSA_RAW;
	if (key->caps == 0)
		return mtls_err_set(MTLS_ERR_MECHANISM,
			"the token offers no signature mechanism for this %s key",
			key->ktype == CKK_EC
				? "EC (CKM_ECDSA)"
				: "RSA (CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_RSA_X_509)");
	return 0;
}

/* Label and id from the URI; a class other than private key is refused. */
static int key_from_uri(struct p11_key *key, P11KitUri *uri)
{
	CK_ATTRIBUTE *a;

	a = p11_kit_uri_get_attribute(uri, CKA_CLASS);
	if (a != NULL &&
		(a->ulValueLen != sizeof(CK_OBJECT_CLASS) ||
			*(CK_OBJECT_CLASS *)a->pValue != CKO_PRIVATE_KEY))
		return mtls_err_set(
			MTLS_ERR_URI, "the key URI must have type=private (or no type)");
	a = p11_kit_uri_get_attribute(uri, CKA_LABEL);
	if (a != NULL) {
		if (memchr(a->pValue, '\0', a->ulValueLen) != NULL || a->ulValueLen > 256)
			return mtls_err_set(
				MTLS_ERR_URI, "object= holds a NUL byte or is too long");
		key->label = strndup(a->pValue, a->ulValueLen);
		if (key->label == NULL)
			return MTLS_ERR_NOMEM;
	}
	a = p11_kit_uri_get_attribute(uri, CKA_ID);
	if (a != NULL) {
		if (a->ulValueLen == 0 || a->ulValueLen > 256)
			return mtls_err_set(MTLS_ERR_URI, "id= must hold 1 to 256 bytes");
		key->id = malloc(a->ulValueLen);
		if (key->id == NULL)
			return MTLS_ERR_NOMEM;
		memcpy(key->id, a->pValue, a->ulValueLen);
		key->idlen = a->ulValueLen;
	}
	return 0;
}

void p11_key_free(struct p11_key *key)
{
	if (key == NULL)
		return;
	p11_token_free(key->tok);
	pthread_mutex_destroy(&key->mu);
	free(key->id);
	free(key->label);
	free(key);
}

static int key_locate(struct p11_key *key)
{
	struct p11_session s;
	CK_OBJECT_HANDLE h;
	int rc;

	rc = token_acquire(key->tok, &s);
	if (rc != 0)
		return rc;
	rc = key_find(key, s.h, &h, NULL);
	if (rc == 0)
		rc = read_props(key, s.h, h);
	if (rc == 0) {
		key->h = h;
		key->hgen = s.gen;
	}
	token_release(key->tok, &s);
	return rc;
}

int p11_key_open(const char *uri_text, const struct p11_options *opt, struct p11_key **out)
{
	struct p11_key *key;
	P11KitUri *uri;
	int rc;

	*out = NULL;
	rc = uri_parse(uri_text, opt != NULL && opt->allow_pin_value, &uri);
	if (rc != 0)
		return rc;
	key = calloc(1, sizeof(*key));
	if (key == NULL) {
		p11_kit_uri_free(uri);
		return MTLS_ERR_NOMEM;
	}
	pthread_mutex_init(&key->mu, NULL);
	key->hgen = NO_HANDLE_GEN;
	rc = key_from_uri(key, uri);
	if (rc == 0)
		rc = token_open_parsed(uri, opt, &key->tok);
	p11_kit_uri_free(uri);
	if (rc == 0)
		rc = key_locate(key);
	if (rc != 0) {
		p11_key_free(key);
		return rc;
	}
	*out = key;
	return 0;
}

enum p11_key_type p11_key_type(const struct p11_key *key)
{
	return key->type;
}

unsigned p11_key_bits(const struct p11_key *key)
{
	return key->bits;
}

unsigned p11_key_caps(const struct p11_key *key)
{
	return key->caps;
}

struct p11_token *p11_key_token(struct p11_key *key)
{
	return key->tok;
}

/* The key's handle valid in generation gen (found again if stale). */
static int key_handle(
	struct p11_key *key, const struct p11_session *s, CK_OBJECT_HANDLE *h, CK_RV *rv)
{
	int rc = 0;

	pthread_mutex_lock(&key->mu);
	if (key->hgen != s->gen) {
		rc = key_find(key, s->h, h, rv);
		if (rc == 0) {
			key->h = *h;
			key->hgen = s->gen;
		} else if (rc == MTLS_ERR_NO_OBJECT) {
			*rv = CKR_OBJECT_HANDLE_INVALID; /* logged out: keys hidden */
		}
	}
	*h = key->h;
	pthread_mutex_unlock(&key->mu);
	return rc;
}

static void key_forget_handle(struct p11_key *key)
{
	pthread_mutex_lock(&key->mu);
	key->hgen = NO_HANDLE_GEN;
	pthread_mutex_unlock(&key->mu);
}

struct sign_req {
	CK_MECHANISM mech;
	CK_RSA_PKCS_PSS_PARAMS pss;
	const uint8_t *in;
	size_t inlen;
	uint8_t raw[P11_SIG_MAX];
	CK_ULONG rawlen;
};

/* Raw RSA (CKM_RSA_X_509) on a block the caller encoded. It stands in for
 * a scheme the token lacks and is refused otherwise, so a signer whose
 * token has both schemes never makes raw RSA operations (which could
 * also decrypt). The block must be as long as the modulus with its top
 * bit clear, as both encodings are. */
static int raw_setup(const struct p11_key *key, size_t inlen, struct sign_req *r)
{
	unsigned both = P11_CAP_RSA_PSS | P11_CAP_RSA_PKCS1;

	if (!(key->caps & P11_CAP_RSA_RAW))
		return mtls_err_set(MTLS_ERR_MECHANISM,
			"raw RSA asked of a key whose token does not offer CKM_RSA_X_509");
	if ((key->caps & both) == both)
		return mtls_err_set(MTLS_ERR_MECHANISM,
			"raw RSA refused: the token signs RSA-PSS and PKCS#1 itself");
	if (inlen != key->bits / 8 || (r->in[0] & 0x80))
		return mtls_err_set(MTLS_ERR_ARG,
			"a raw RSA block must be %u bytes with the top bit clear, got %zu bytes",
			key->bits / 8, inlen);
	r->mech.mechanism = CKM_RSA_X_509;
	return 0;
}

/* Choose the mechanism for sig and check the key and input suit it. */
static int sign_setup(const struct p11_key *key, enum p11_sig sig, size_t inlen, struct sign_req *r)
{
	static const struct {
		CK_MECHANISM_TYPE hash;
		CK_RSA_PKCS_MGF_TYPE mgf;
		size_t len;
	} pss[] = {{CKM_SHA256, CKG_MGF1_SHA256, 32}, {CKM_SHA384, CKG_MGF1_SHA384, 48},
		{CKM_SHA512, CKG_MGF1_SHA512, 64}};
	int i;

	memset(&r->mech, 0, sizeof(r->mech));
	if (!p11_sig_inlen_ok(sig, inlen))
		return mtls_err_set(MTLS_ERR_ARG, "input to sign of %zu bytes", inlen);
	if (sig == P11_SIG_ECDSA) {
		if (key->ktype != CKK_EC)
			return mtls_err_set(MTLS_ERR_KEY, "ECDSA asked of an RSA key");
		r->mech.mechanism = CKM_ECDSA;
		return 0;
	}
	if (key->ktype != CKK_RSA)
		return mtls_err_set(MTLS_ERR_KEY, "an RSA signature asked of an EC key");
	if (sig == P11_SIG_RSA_PKCS1) {
		r->mech.mechanism = CKM_RSA_PKCS;
		return 0;
	}
	if (sig == P11_SIG_RSA_RAW)
		return raw_setup(key, inlen, r);
	if (sig < P11_SIG_RSA_PSS_SHA256 || sig > P11_SIG_RSA_PSS_SHA512)
		return mtls_err_set(MTLS_ERR_ARG, "unknown signature scheme %d", (int)sig);
	if (!(key->caps & P11_CAP_RSA_PSS) && (key->caps & P11_CAP_RSA_RAW))
		return mtls_err_set(MTLS_ERR_MECHANISM,
			"the token does not offer CKM_RSA_PKCS_PSS: pad the hash (EMSA-PSS) and "
			"sign it with raw RSA (CKM_RSA_X_509) instead");
	if (!(key->caps & P11_CAP_RSA_PSS))
		return mtls_err_set(MTLS_ERR_MECHANISM,
			"the token offers neither CKM_RSA_PKCS_PSS nor raw RSA (CKM_RSA_X_509), so "
			"this RSA key cannot sign for TLS 1.3 here; allow TLS 1.2 with PKCS#1 "
			"signatures, or use an EC key");
	i = sig - P11_SIG_RSA_PSS_SHA256;
	if (inlen != pss[i].len)
		return mtls_err_set(MTLS_ERR_ARG, "RSA-PSS input must be a %zu-byte hash, got %zu",
			pss[i].len, inlen);
	r->pss.hashAlg = pss[i].hash;
	r->pss.mgf = pss[i].mgf;
	r->pss.sLen = pss[i].len;
	r->mech.mechanism = CKM_RSA_PKCS_PSS;
	r->mech.pParameter = &r->pss;
	r->mech.ulParameterLen = sizeof(r->pss);
	return 0;
}

/* One C_SignInit (+ context login) + C_Sign. *broken: the session may
 * still hold an active operation and must be closed. */
static CK_RV sign_once(struct p11_key *key, const struct p11_session *s, CK_OBJECT_HANDLE h,
	struct sign_req *r, int *broken)
{
	CK_FUNCTION_LIST *fl = key->tok->fl;
	CK_RV rv;

	rv = fl->C_SignInit(s->h, &r->mech, h);
	if (rv != CKR_OK)
		return rv;
	if (key->always_auth) {
		rv = token_context_login(key->tok, s->h);
		if (rv != CKR_OK) {
			*broken = 1;
			return rv;
		}
	}
	r->rawlen = sizeof(r->raw);
	rv = fl->C_Sign(s->h, (CK_BYTE_PTR)r->in, r->inlen, r->raw, &r->rawlen);
	if (rv != CKR_OK)
		*broken = 1;
	return rv;
}

static int sign_output(const struct p11_key *key, struct sign_req *r, uint8_t *out, size_t *outlen)
{
	if (key->ktype == CKK_EC)
		return der_ecdsa_sig(r->raw, r->rawlen, out, outlen);
	if (r->rawlen > *outlen)
		return mtls_err_set(MTLS_ERR_TOO_BIG, "signature buffer of %zu bytes, need %lu",
			*outlen, (unsigned long)r->rawlen);
	memcpy(out, r->raw, r->rawlen);
	*outlen = r->rawlen;
	return 0;
}

/* One attempt; *cls says what went wrong on the token (RV_OK if the
 * failure did not come from a token call). */
static int sign_attempt(struct p11_key *key, struct sign_req *r, enum rv_class *cls)
{
	struct p11_session s;
	CK_OBJECT_HANDLE h;
	CK_RV rv = CKR_OK;
	int rc, broken = 0;

	*cls = RV_OK;
	rc = token_acquire(key->tok, &s);
	if (rc != 0)
		return rc;
	rc = key_handle(key, &s, &h, &rv);
	if (rc == 0) {
		rv = sign_once(key, &s, h, r, &broken);
		if (rv != CKR_OK)
			rc = rv_fail(rv,
				key->always_auth ? "C_Sign (with context login)" : "C_Sign", NULL);
	}
	*cls = rv_classify(rv);
	if (broken || *cls == RV_SESSION || *cls == RV_REMOVED)
		token_discard(key->tok, &s);
	else
		token_release(key->tok, &s);
	if (*cls != RV_OK)
		token_note_failure(key->tok, *cls, s.gen);
	if (*cls == RV_HANDLE)
		key_forget_handle(key);
	return rc;
}

int p11_key_sign(struct p11_key *key, enum p11_sig sig, const uint8_t *in, size_t inlen,
	uint8_t *out, size_t *outlen)
{
	struct sign_req r;
	enum rv_class cls;
	int rc, attempt;

	if (key == NULL || in == NULL || out == NULL || outlen == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "p11_key_sign: NULL argument");
	r.in = in;
	r.inlen = inlen;
	rc = sign_setup(key, sig, inlen, &r);
	if (rc != 0)
		return rc;
	for (attempt = 0; attempt < 2; attempt++) {
		rc = sign_attempt(key, &r, &cls);
		if (rc == 0)
			break;
		if (cls != RV_SESSION && cls != RV_LOGIN && cls != RV_HANDLE && cls != RV_REMOVED)
			break;
		mtls_log(MTLS_LOG_INFO, "signing failed (%s); repairing and trying once more",
			mtls_err_detail());
	}
	if (rc == 0)
		rc = sign_output(key, &r, out, outlen);
	mtls_wipe(r.raw, sizeof(r.raw));
	return rc;
}

/* The EC point: from the public key object with the same id, else from
 * the private key (some tokens keep it there). */
static CK_RV ec_point(
	struct p11_key *key, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, uint8_t **pt, size_t *len)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE t[3] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_ID, key->id, key->idlen}};
	CK_OBJECT_HANDLE pub[2];
	CK_ULONG n, nt;
	CK_RV rv;

	/* The id pairs the two keys; labels often differ ("Private key for
	 * PIV Authentication" / "Public key for ..."). Without an id, the
	 * label is all there is. */
	nt = key->id != NULL ? 2 : key_template(key, t, &cls);
	rv = obj_find(key->tok->fl, s, t, nt, pub, 2, &n);
	if (rv == CKR_OK && n == 1)
		rv = obj_get_attr(key->tok->fl, s, pub[0], CKA_EC_POINT, pt, len);
	if (rv == CKR_OK && *pt == NULL)
		rv = obj_get_attr(key->tok->fl, s, h, CKA_EC_POINT, pt, len);
	return rv;
}

/* Length of an uncompressed point on the key's curve. */
static size_t ec_point_len(enum p11_key_type type)
{
	return type == P11_KEY_EC_P256 ? 65 : type == P11_KEY_EC_P384 ? 97 : 0;
}

static int public_der(
	struct p11_key *key, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, uint8_t **der, size_t *len)
{
	uint8_t *a = NULL, *b = NULL;
	const uint8_t *pt;
	size_t alen = 0, blen = 0, ptlen;
	CK_RV rv;
	int rc;

	if (key->ktype == CKK_EC) {
		rv = obj_get_attr(key->tok->fl, s, h, CKA_EC_PARAMS, &a, &alen);
		if (rv == CKR_OK)
			rv = ec_point(key, s, h, &b, &blen);
	} else {
		rv = obj_get_attr(key->tok->fl, s, h, CKA_MODULUS, &a, &alen);
		if (rv == CKR_OK)
			rv = obj_get_attr(key->tok->fl, s, h, CKA_PUBLIC_EXPONENT, &b, &blen);
	}
	if (rv != CKR_OK)
		rc = rv_fail(rv, "C_GetAttributeValue (public key)", NULL);
	else if (a == NULL || b == NULL)
		rc = mtls_err_set(MTLS_ERR_KEY,
			"the token does not show this key's public key "
			"(no public key object with the same CKA_ID)");
	else if (key->ktype == CKK_EC) {
		/* A raw uncompressed point (04 X Y) may also parse as an OCTET
		 * STRING header (04 3f ... for P-256): take the exact length first. */
		if (blen == ec_point_len(key->type) && b[0] == 0x04) {
			pt = b;
			ptlen = blen;
		} else {
			der_unwrap_octets(b, blen, &pt, &ptlen);
		}
		rc = der_spki_ec(a, alen, pt, ptlen, der, len);
	} else
		rc = der_spki_rsa(a, alen, b, blen, der, len);
	free(a);
	free(b);
	return rc;
}

int p11_key_public_der(struct p11_key *key, uint8_t **der, size_t *len)
{
	struct p11_session s;
	CK_OBJECT_HANDLE h;
	CK_RV rv = CKR_OK;
	int rc;

	*der = NULL;
	*len = 0;
	rc = token_acquire(key->tok, &s);
	if (rc != 0)
		return rc;
	rc = key_handle(key, &s, &h, &rv);
	if (rc == 0)
		rc = public_der(key, s.h, h, der, len);
	token_release(key->tok, &s);
	return rc;
}

void p11_certs_free(uint8_t **certs, size_t *lens, size_t n)
{
	size_t i;

	for (i = 0; certs != NULL && i < n; i++)
		free(certs[i]);
	free(certs);
	free(lens);
}

/* Which certificate objects to read: by label and/or id (either may be
 * absent, not both). */
struct cert_sel {
	const void *label;
	size_t llen;
	const void *id;
	size_t idlen;
};

static int read_certs(struct p11_key *key, CK_SESSION_HANDLE s, const struct cert_sel *sel,
	uint8_t ***certs, size_t **lens, size_t *n)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE t[3] = {{CKA_CLASS, &cls, sizeof(cls)}};
	CK_OBJECT_HANDLE h[FIND_MAX];
	CK_ULONG found, i, nt = 1;
	CK_RV rv;

	if (sel->label != NULL)
		t[nt++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)sel->label, sel->llen};
	if (sel->id != NULL)
		t[nt++] = (CK_ATTRIBUTE){CKA_ID, (void *)sel->id, sel->idlen};
	if (nt == 1)
		return 0; /* no id: nothing pairs a certificate with this key */
	rv = obj_find(key->tok->fl, s, t, nt, h, FIND_MAX, &found);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_FindObjects (certificates)", NULL);
	if (found > FIND_MAX)
		found = FIND_MAX;
	*certs = calloc(found ? found : 1, sizeof(**certs));
	*lens = calloc(found ? found : 1, sizeof(**lens));
	if (*certs == NULL || *lens == NULL)
		return MTLS_ERR_NOMEM;
	for (i = 0; i < found; i++) {
		rv = obj_get_attr(key->tok->fl, s, h[i], CKA_VALUE, &(*certs)[*n], &(*lens)[*n]);
		if (rv != CKR_OK)
			return rv_fail(rv, "C_GetAttributeValue (certificate CKA_VALUE)", NULL);
		if ((*certs)[*n] != NULL)
			(*n)++;
	}
	return 0;
}

static int certs_read(
	struct p11_key *key, const struct cert_sel *sel, uint8_t ***certs, size_t **lens, size_t *n)
{
	struct p11_session s;
	int rc;

	*certs = NULL;
	*lens = NULL;
	*n = 0;
	rc = token_acquire(key->tok, &s);
	if (rc != 0)
		return rc;
	rc = read_certs(key, s.h, sel, certs, lens, n);
	token_release(key->tok, &s);
	if (rc != 0) {
		p11_certs_free(*certs, *lens, *n);
		*certs = NULL;
		*lens = NULL;
		*n = 0;
	}
	return rc;
}

int p11_key_certs(struct p11_key *key, uint8_t ***certs, size_t **lens, size_t *n)
{
	struct cert_sel sel = {NULL, 0, key->id, key->idlen};

	return certs_read(key, &sel, certs, lens, n);
}

/* The certificate URI's module, if it names one, must be the key's. */
static int cert_uri_module(struct p11_key *key, P11KitUri *uri)
{
	char path[1024];
	int rc;

	if (p11_kit_uri_get_module_path(uri) == NULL && p11_kit_uri_get_module_name(uri) == NULL)
		return 0;
	if ((rc = module_path(uri, path, sizeof(path))) != 0)
		return rc;
	if (strcmp(path, key->tok->mod->path) != 0)
		return mtls_err_set(MTLS_ERR_URI,
			"the certificate URI names module %s, but the key's token is in %s: "
			"certificates are read from the key's token only",
			path, key->tok->mod->path);
	return 0;
}

/* Check the certificate URI against the key and fill in what it selects. */
static int cert_uri_select(struct p11_key *key, P11KitUri *uri, struct cert_sel *sel)
{
	CK_ATTRIBUTE *a;
	int rc;

	if (p11_kit_uri_get_pin_value(uri) != NULL)
		return mtls_err_set(MTLS_ERR_URI,
			"the certificate URI carries a pin-value; it needs none (the key's login "
			"reads the certificate): remove it");
	a = p11_kit_uri_get_attribute(uri, CKA_CLASS);
	if (a != NULL &&
		(a->ulValueLen != sizeof(CK_OBJECT_CLASS) ||
			*(CK_OBJECT_CLASS *)a->pValue != CKO_CERTIFICATE))
		return mtls_err_set(
			MTLS_ERR_URI, "the certificate URI must have type=cert (or no type)");
	if (!p11_kit_uri_match_token_info(uri, &key->tok->info))
		return mtls_err_set(MTLS_ERR_URI,
			"the certificate URI names another token than the key's: certificates are "
			"read from the key's token only; fix or drop its token attributes");
	if ((rc = cert_uri_module(key, uri)) != 0)
		return rc;
	if ((a = p11_kit_uri_get_attribute(uri, CKA_LABEL)) != NULL) {
		if (a->ulValueLen == 0 || a->ulValueLen > 256 ||
			memchr(a->pValue, '\0', a->ulValueLen) != NULL)
			return mtls_err_set(MTLS_ERR_URI,
				"object= in the certificate URI is empty, holds a NUL byte or is too "
				"long");
		sel->label = a->pValue;
		sel->llen = a->ulValueLen;
	}
	if ((a = p11_kit_uri_get_attribute(uri, CKA_ID)) != NULL) {
		if (a->ulValueLen == 0 || a->ulValueLen > 256)
			return mtls_err_set(MTLS_ERR_URI,
				"id= in the certificate URI must hold 1 to 256 bytes");
		sel->id = a->pValue;
		sel->idlen = a->ulValueLen;
	}
	if (sel->label == NULL && sel->id == NULL) {
		sel->id = key->id; /* the key's own */
		sel->idlen = key->idlen;
	}
	return 0;
}

int p11_key_certs_by_uri(
	struct p11_key *key, const char *cert_uri, uint8_t ***certs, size_t **lens, size_t *n)
{
	struct cert_sel sel = {NULL, 0, NULL, 0};
	P11KitUri *uri;
	int rc;

	*certs = NULL;
	*lens = NULL;
	*n = 0;
	if (key == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "p11_key_certs_by_uri: no key");
	if (cert_uri == NULL)
		return p11_key_certs(key, certs, lens, n);
	/* pin-value passes the parser so that it gets its own message. */
	if ((rc = uri_parse(cert_uri, 1, &uri)) != 0)
		return rc;
	rc = cert_uri_select(key, uri, &sel);
	if (rc == 0)
		rc = certs_read(key, &sel, certs, lens, n);
	p11_kit_uri_free(uri);
	return rc;
}
