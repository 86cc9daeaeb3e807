/* Key generation for mtls-provision keygen (decision 7): C_GenerateKeyPair
 * with every attribute that matters given explicitly (module defaults
 * differ and cannot be trusted), refused before anything is made when the
 * id or label is taken, and read back afterwards: a key that is not
 * sensitive and never extractable is destroyed again, so nothing
 * half-made stays on the token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <p11-kit/p11-kit.h>

#include "admin_int.h"
#include "bridge.h"
#include "mtls/err.h"
#include "mtls/p11_admin.h"

#define RANDOM_ID_LEN 8
#define URI_FIND_MAX 4

/* What the new key is called: id and label, from the request or the URI. */
struct names {
	uint8_t id[P11_ADMIN_ID_MAX];
	size_t idlen;
	char label[P11_ADMIN_LABEL_MAX + 1];
};

static const uint8_t oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static const uint8_t oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

static int is_ec(enum p11_admin_keytype t)
{
	return t == P11_GEN_EC_P256 || t == P11_GEN_EC_P384;
}

static CK_ULONG rsa_bits(enum p11_admin_keytype t)
{
	return t == P11_GEN_RSA_2048 ? 2048 : t == P11_GEN_RSA_3072 ? 3072 : 4096;
}

/* The label: the request's or the URI's object=; equal if both are given. */
static int names_label(P11KitUri *uri, const struct p11_admin_keygen *req, struct names *nm)
{
	CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(uri, CKA_LABEL);
	size_t len = req->label != NULL ? strlen(req->label) : 0;

	if (a != NULL && req->label != NULL &&
		(a->ulValueLen != len || memcmp(a->pValue, req->label, len) != 0))
		return mtls_err_set(
			MTLS_ERR_ARG, "the URI's object= and --label differ; give the label once");
	if (req->label == NULL && a != NULL) {
		if (memchr(a->pValue, '\0', a->ulValueLen) != NULL)
			return mtls_err_set(MTLS_ERR_ARG, "object= holds a NUL byte");
		len = a->ulValueLen;
	}
	if (req->label == NULL && a == NULL)
		return mtls_err_set(MTLS_ERR_ARG,
			"the new key needs a label: put object=NAME in the URI or give --label NAME");
	if (len == 0 || len > P11_ADMIN_LABEL_MAX)
		return mtls_err_set(
			MTLS_ERR_ARG, "the label must have 1 to %d bytes", P11_ADMIN_LABEL_MAX);
	memcpy(nm->label, req->label != NULL ? req->label : (const char *)a->pValue, len);
	nm->label[len] = '\0';
	return 0;
}

/* The id: the request's or the URI's id=; else 8 random bytes. */
static int names_id(P11KitUri *uri, const struct p11_admin_keygen *req, struct names *nm)
{
	CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(uri, CKA_ID);
	const void *id = req->id;
	size_t len = req->idlen;

	if (a != NULL && id != NULL && (a->ulValueLen != len || memcmp(a->pValue, id, len) != 0))
		return mtls_err_set(
			MTLS_ERR_ARG, "the URI's id= and --id differ; give the id once");
	if (id == NULL && a != NULL) {
		id = a->pValue;
		len = a->ulValueLen;
	}
	if (id == NULL) {
		if (getrandom(nm->id, RANDOM_ID_LEN, 0) != RANDOM_ID_LEN)
			return mtls_err_set(MTLS_ERR_INTERNAL, "getrandom failed: %m");
		nm->idlen = RANDOM_ID_LEN;
		return 0;
	}
	if (len == 0 || len > P11_ADMIN_ID_MAX)
		return mtls_err_set(
			MTLS_ERR_ARG, "the id must have 1 to %d bytes", P11_ADMIN_ID_MAX);
	memcpy(nm->id, id, len);
	nm->idlen = len;
	return 0;
}

static int names_from(P11KitUri *uri, const struct p11_admin_keygen *req, struct names *nm)
{
	CK_ATTRIBUTE *a = p11_kit_uri_get_attribute(uri, CKA_CLASS);
	int rc;

	if (a != NULL &&
		(a->ulValueLen != sizeof(CK_OBJECT_CLASS) ||
			*(CK_OBJECT_CLASS *)a->pValue != CKO_PRIVATE_KEY))
		return mtls_err_set(
			MTLS_ERR_URI, "the key URI must have type=private (or no type)");
	if (req->type < P11_GEN_EC_P256 || req->type > P11_GEN_RSA_4096)
		return mtls_err_set(MTLS_ERR_ARG, "unknown key type %d", (int)req->type);
	rc = names_label(uri, req, nm);
	if (rc == 0)
		rc = names_id(uri, req, nm);
	return rc;
}

/* The token must offer the generation mechanism, and for RSA the size. */
static int check_mechanism(struct p11_token *tok, enum p11_admin_keytype type)
{
	CK_MECHANISM_TYPE m = is_ec(type) ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN;
	const char *name = is_ec(type) ? "CKM_EC_KEY_PAIR_GEN" : "CKM_RSA_PKCS_KEY_PAIR_GEN";
	CK_MECHANISM_INFO mi;

	if (!token_has_mech(tok, m))
		return mtls_err_set(MTLS_ERR_MECHANISM,
			"the token does not offer %s: it cannot make %s keys (see mtls-provision "
			"tokens)",
			name, is_ec(type) ? "EC" : "RSA");
	memset(&mi, 0, sizeof(mi));
	if (is_ec(type) || tok->fl->C_GetMechanismInfo == NULL ||
		tok->fl->C_GetMechanismInfo(tok->slot, m, &mi) != CKR_OK || mi.ulMaxKeySize == 0)
		return 0;
	if (rsa_bits(type) < mi.ulMinKeySize || rsa_bits(type) > mi.ulMaxKeySize)
		return mtls_err_set(MTLS_ERR_MECHANISM,
			"the token makes RSA keys of %lu to %lu bits only, not %lu",
			(unsigned long)mi.ulMinKeySize, (unsigned long)mi.ulMaxKeySize,
			(unsigned long)rsa_bits(type));
	return 0;
}

/* How many objects (any class) have this attribute value. */
static int count_with(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_ATTRIBUTE_TYPE type,
	const void *val, size_t len, CK_ULONG *n)
{
	CK_ATTRIBUTE t = {type, (void *)val, len};
	CK_OBJECT_HANDLE h[URI_FIND_MAX];
	CK_RV rv = obj_find(fl, s, &t, 1, h, URI_FIND_MAX, n);

	if (rv != CKR_OK)
		return rv_fail(rv, "C_FindObjects", NULL);
	return 0;
}

static void hex(char *out, size_t outlen, const uint8_t *v, size_t len)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < len && 2 * i + 3 <= outlen; i++)
		snprintf(out + 2 * i, 3, "%02x", v[i]);
}

/* Refuse an id or label any object already has (private ones are seen:
 * the session is logged in). */
static int check_free(struct p11_token *tok, CK_SESSION_HANDLE s, const struct names *nm)
{
	char idhex[2 * P11_ADMIN_ID_MAX + 1];
	CK_ULONG n;
	int rc;

	rc = count_with(tok->fl, s, CKA_ID, nm->id, nm->idlen, &n);
	if (rc != 0)
		return rc;
	hex(idhex, sizeof(idhex), nm->id, nm->idlen);
	if (n > 0)
		return mtls_err_set(MTLS_ERR_ARG,
			"%lu object%s on the token already ha%s id %s; nothing was generated: "
			"choose another id (or none, for a random one)",
			(unsigned long)n, n > 1 ? "s" : "", n > 1 ? "ve" : "s", idhex);
	rc = count_with(tok->fl, s, CKA_LABEL, nm->label, strlen(nm->label), &n);
	if (rc != 0)
		return rc;
	if (n > 0)
		return mtls_err_set(MTLS_ERR_ARG,
			"%lu object%s on the token already ha%s the label \"%s\"; nothing was "
			"generated: choose another label",
			(unsigned long)n, n > 1 ? "s" : "", n > 1 ? "ve" : "s", nm->label);
	return 0;
}

/* A logged-in read-write session; a token that wants a login nobody can
 * give is refused here, before anything is made. */
static int rw_session(struct p11_token *tok, struct p11_session *s)
{
	int want, in, rc;

	rc = token_acquire_rw(tok, s);
	if (rc != 0)
		return rc;
	token_login_state(tok, &want, &in);
	if ((tok->info.flags & CKF_LOGIN_REQUIRED) && !in) {
		token_discard(tok, s);
		return mtls_err_set(MTLS_ERR_PIN_SOURCE,
			"the token needs a login to hold private keys and no PIN source was "
			"given: use --pin-file FILE, --pin-credential NAME or pin-source= in the "
			"URI");
	}
	return 0;
}

struct templates {
	CK_BBOOL yes, no;
	CK_ULONG bits;
	CK_BYTE exponent[3];
	CK_ATTRIBUTE pub[8], priv[8];
	CK_ULONG npub, npriv;
};

static void fill_templates(struct templates *t, enum p11_admin_keytype type, struct names *nm)
{
	CK_ATTRIBUTE *p = t->pub, *q = t->priv;

	t->yes = CK_TRUE;
	t->no = CK_FALSE;
	t->exponent[0] = 0x01; /* 65537 */
	t->exponent[1] = 0x00;
	t->exponent[2] = 0x01;
	*p++ = (CK_ATTRIBUTE){CKA_TOKEN, &t->yes, sizeof(CK_BBOOL)};
	*p++ = (CK_ATTRIBUTE){CKA_PRIVATE, &t->no, sizeof(CK_BBOOL)};
	*p++ = (CK_ATTRIBUTE){CKA_VERIFY, &t->yes, sizeof(CK_BBOOL)};
	*p++ = (CK_ATTRIBUTE){CKA_ID, nm->id, nm->idlen};
	*p++ = (CK_ATTRIBUTE){CKA_LABEL, nm->label, strlen(nm->label)};
	if (type == P11_GEN_EC_P256)
		*p++ = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p256, sizeof(oid_p256)};
	else if (type == P11_GEN_EC_P384)
		*p++ = (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)oid_p384, sizeof(oid_p384)};
	else {
		t->bits = rsa_bits(type);
		*p++ = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &t->bits, sizeof(t->bits)};
		*p++ = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, t->exponent, sizeof(t->exponent)};
	}
	t->npub = (CK_ULONG)(p - t->pub);
	*q++ = (CK_ATTRIBUTE){CKA_TOKEN, &t->yes, sizeof(CK_BBOOL)};
	*q++ = (CK_ATTRIBUTE){CKA_PRIVATE, &t->yes, sizeof(CK_BBOOL)};
	*q++ = (CK_ATTRIBUTE){CKA_SIGN, &t->yes, sizeof(CK_BBOOL)};
	*q++ = (CK_ATTRIBUTE){CKA_SENSITIVE, &t->yes, sizeof(CK_BBOOL)};
	*q++ = (CK_ATTRIBUTE){CKA_EXTRACTABLE, &t->no, sizeof(CK_BBOOL)};
	*q++ = (CK_ATTRIBUTE){CKA_ID, nm->id, nm->idlen};
	*q++ = (CK_ATTRIBUTE){CKA_LABEL, nm->label, strlen(nm->label)};
	t->npriv = (CK_ULONG)(q - t->priv);
}

/* Read back what decides that the key never left and never can leave the
 * token; name the first attribute that does not hold. */
static int check_readback(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv)
{
	static const struct {
		CK_ATTRIBUTE_TYPE type;
		const char *name;
		CK_BBOOL want;
	} must[] = {
		{CKA_SENSITIVE, "CKA_SENSITIVE", CK_TRUE},
		{CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE", CK_TRUE},
		{CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE", CK_TRUE},
		{CKA_EXTRACTABLE, "CKA_EXTRACTABLE", CK_FALSE},
	};
	CK_BBOOL v;
	CK_ATTRIBUTE a;
	CK_RV rv;
	size_t i;

	for (i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
		v = !must[i].want;
		a = (CK_ATTRIBUTE){must[i].type, &v, sizeof(v)};
		rv = fl->C_GetAttributeValue(s, priv, &a, 1);
		if (rv != CKR_OK)
			return mtls_err_set(MTLS_ERR_KEY,
				"the new private key's %s cannot be read back (%s), so the key "
				"cannot be shown to be non-exportable",
				must[i].name, p11_rv_name(rv));
		if (a.ulValueLen != sizeof(v) || v != must[i].want)
			return mtls_err_set(MTLS_ERR_KEY,
				"the token made the private key with %s %s although the template "
				"asked otherwise: it is not provably non-exportable",
				must[i].name, must[i].want ? "FALSE" : "TRUE");
	}
	return 0;
}

/* A TLS key signs and does nothing else, but tokens default the other uses
 * (SoftHSM2: decrypt and unwrap on). Turned off after generation, not in
 * the template: tpm2-pkcs11 refuses the whole key for a template without
 * decrypt ("attr mismatch"), and a token that cannot change them (its key
 * attributes are fixed) keeps a key that works all the same. */
static void sign_only(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE priv)
{
	static const CK_ATTRIBUTE_TYPE uses[] = {CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE};
	CK_BBOOL no = CK_FALSE;
	CK_ATTRIBUTE a;
	size_t i;

	if (fl->C_SetAttributeValue == NULL)
		return;
	for (i = 0; i < sizeof(uses) / sizeof(uses[0]); i++) {
		a = (CK_ATTRIBUTE){uses[i], &no, sizeof(no)};
		(void)fl->C_SetAttributeValue(s, priv, &a, 1);
	}
}

/* Destroy what was made after a failed check; rc's detail is kept and a
 * failure to destroy is added to it. */
static int undo(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE pub,
	CK_OBJECT_HANDLE priv, int rc, const struct names *nm)
{
	char why[512], idhex[2 * P11_ADMIN_ID_MAX + 1];
	CK_RV r1 = fl->C_DestroyObject(s, priv);
	CK_RV r2 = fl->C_DestroyObject(s, pub);

	snprintf(why, sizeof(why), "%s", mtls_err_detail());
	hex(idhex, sizeof(idhex), nm->id, nm->idlen);
	if (r1 == CKR_OK && r2 == CKR_OK)
		return mtls_err_set(rc, "%s; both new objects were destroyed again", why);
	return mtls_err_set(rc,
		"%s; destroying the new objects failed too (%s, %s): delete them by hand, e.g. "
		"pkcs11-tool --login --delete-object --type privkey --id %s (and --type pubkey)",
		why, p11_rv_name(r1), p11_rv_name(r2), idhex);
}

static int generate(
	struct p11_token *tok, CK_SESSION_HANDLE s, enum p11_admin_keytype type, struct names *nm)
{
	CK_MECHANISM mech = {
		is_ec(type) ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
	CK_OBJECT_HANDLE pub = CK_INVALID_HANDLE, priv = CK_INVALID_HANDLE;
	struct templates t;
	CK_RV rv;
	int rc;

	fill_templates(&t, type, nm);
	rv = tok->fl->C_GenerateKeyPair(s, &mech, t.pub, t.npub, t.priv, t.npriv, &pub, &priv);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_GenerateKeyPair",
			rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_TEMPLATE_INCONSISTENT
				? "the token refused the key's attributes (sensitive, not "
				  "extractable); it cannot hold a non-exportable key of this type"
				: NULL);
	rc = check_readback(tok->fl, s, priv);
	if (rc != 0)
		return undo(tok->fl, s, pub, priv, rc, nm);
	sign_only(tok->fl, s, priv);
	return 0;
}

/* The new key's URI: token label and serial, id, label, type, the module
 * path and the PIN source the caller gave (never a PIN value). */
static int key_uri(struct p11_token *tok, P11KitUri *given, const struct names *nm, char **out)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE attrs[3] = {{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_ID, (void *)nm->id, nm->idlen},
		{CKA_LABEL, (void *)nm->label, strlen(nm->label)}};
	P11KitUri *u = p11_kit_uri_new();
	CK_TOKEN_INFO *ti;
	int rc = 0;

	*out = NULL;
	if (u == NULL)
		return MTLS_ERR_NOMEM;
	ti = p11_kit_uri_get_token_info(u);
	memcpy(ti->label, tok->info.label, sizeof(ti->label));
	memcpy(ti->serialNumber, tok->info.serialNumber, sizeof(ti->serialNumber));
	if (p11_kit_uri_set_attributes(u, attrs, 3) != P11_KIT_URI_OK)
		rc = MTLS_ERR_NOMEM;
	p11_kit_uri_set_module_path(u, tok->mod->path);
	if (p11_kit_uri_get_pin_source(given) != NULL)
		p11_kit_uri_set_pin_source(u, p11_kit_uri_get_pin_source(given));
	if (rc == 0 && p11_kit_uri_format(u, P11_KIT_URI_FOR_ANY, out) != P11_KIT_URI_OK)
		rc = mtls_err_set(MTLS_ERR_INTERNAL, "p11_kit_uri_format failed");
	p11_kit_uri_free(u);
	return rc;
}

static int keygen_on(struct p11_token *tok, P11KitUri *uri, const struct p11_admin_keygen *req,
	struct names *nm, char **uri_out)
{
	struct p11_session s;
	int rc;

	rc = check_mechanism(tok, req->type);
	if (rc != 0)
		return rc;
	rc = rw_session(tok, &s);
	if (rc != 0)
		return rc;
	rc = check_free(tok, s.h, nm);
	/* The URI first: after C_GenerateKeyPair nothing may fail but the
	 * read-back, which undoes it. */
	if (rc == 0)
		rc = key_uri(tok, uri, nm, uri_out);
	if (rc == 0)
		rc = generate(tok, s.h, req->type, nm);
	if (rc != 0) {
		free(*uri_out);
		*uri_out = NULL;
	}
	token_discard(tok, &s);
	return rc;
}

int p11_admin_keygen(const char *uri_text, const struct p11_options *opt,
	const struct p11_admin_keygen *req, char **uri_out)
{
	struct p11_token *tok = NULL;
	struct names nm;
	P11KitUri *uri;
	int rc;

	*uri_out = NULL;
	memset(&nm, 0, sizeof(nm));
	rc = uri_parse(uri_text, opt != NULL && opt->allow_pin_value, &uri);
	if (rc != 0)
		return rc;
	rc = names_from(uri, req, &nm);
	if (rc == 0)
		rc = token_open_parsed(uri, opt, &tok);
	if (rc == 0)
		rc = keygen_on(tok, uri, req, &nm, uri_out);
	p11_token_free(tok);
	p11_kit_uri_free(uri);
	return rc;
}
