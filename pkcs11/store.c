/* Certificates onto the token (mtls/p11_store.h): create the new object,
 * then destroy the old ones, in a read-write session (token_acquire_rw,
 * shared with the admin API). */
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"
#include "bridge.h"
#include "mtls/err.h"
#include "mtls/p11_store.h"

#define OLD_MAX 16

/* The key's own CKA_LABEL, read from the private key object with its id
 * (*label NULL if it has none). */
static int key_label(struct p11_key *key, CK_SESSION_HANDLE s, uint8_t **label, size_t *len)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[2] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_ID, key->id, key->idlen}};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n;
	CK_RV rv;

	*label = NULL;
	*len = 0;
	rv = obj_find(key->tok->fl, s, t, 2, h, 2, &n);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_FindObjects (the key by CKA_ID)", NULL);
	if (n != 1)
		return mtls_err_set(MTLS_ERR_AMBIGUOUS,
			"%lu private keys have this key's CKA_ID: a certificate stored with it "
			"would not pair with one key; give the keys distinct ids",
			(unsigned long)n);
	rv = obj_get_attr(key->tok->fl, s, h[0], CKA_LABEL, label, len);
	return rv == CKR_OK ? 0 : rv_fail(rv, "C_GetAttributeValue (CKA_LABEL)", NULL);
}

static int create_cert(struct p11_key *key, CK_SESSION_HANDLE s, const struct p11_cert *c,
	const uint8_t *label, size_t labellen, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_CERTIFICATE_TYPE ct = CKC_X_509;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_CERTIFICATE_TYPE, &ct, sizeof(ct)},
		{CKA_TOKEN, &yes, sizeof(yes)},
		{CKA_PRIVATE, &no, sizeof(no)},
		{CKA_ID, key->id, key->idlen},
		{CKA_VALUE, (void *)c->der, c->der_len},
		{CKA_SUBJECT, (void *)c->subject, c->subject_len},
		{CKA_ISSUER, (void *)c->issuer, c->issuer_len},
		{CKA_SERIAL_NUMBER, (void *)c->serial, c->serial_len},
		{CKA_LABEL, (void *)label, labellen},
	};
	CK_ULONG nt = sizeof(t) / sizeof(t[0]) - (label == NULL ? 1 : 0);
	CK_RV rv;

	rv = key->tok->fl->C_CreateObject(s, t, nt, out);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_CreateObject (certificate)", NULL);
	return 0;
}

/* Old certificates with the key's id; the new one (fresh) is left out. */
static int find_old(struct p11_key *key, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *old, CK_ULONG *n)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE t[2] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_ID, key->id, key->idlen}};
	CK_RV rv;

	rv = obj_find(key->tok->fl, s, t, 2, old, OLD_MAX, n);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_FindObjects (certificates with the key's CKA_ID)", NULL);
	if (*n > OLD_MAX)
		return mtls_err_set(MTLS_ERR_TOO_BIG,
			"more than %d certificates have this key's CKA_ID; clean them up first "
			"(pkcs11-tool --delete-object --type cert --id ...)",
			OLD_MAX);
	return 0;
}

/* Destroy the old ones; on a failure destroy the new one again. */
static int replace_old(struct p11_key *key, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE fresh,
	const CK_OBJECT_HANDLE *old, CK_ULONG n, unsigned *replaced)
{
	CK_FUNCTION_LIST *fl = key->tok->fl;
	CK_ULONG i;
	CK_RV rv, rv2;

	for (i = 0; i < n; i++) {
		rv = fl->C_DestroyObject(s, old[i]);
		if (rv == CKR_OK) {
			(*replaced)++;
			continue;
		}
		rv2 = fl->C_DestroyObject(s, fresh);
		if (*replaced == 0 && rv2 == CKR_OK)
			return rv_fail(rv, "C_DestroyObject (old certificate)",
				"the new certificate was removed again; nothing changed");
		return rv_fail(rv, "C_DestroyObject (old certificate)",
			"the token now holds a mix of old and new certificates for this key: "
			"check with pkcs11-tool --list-objects --type cert");
	}
	return 0;
}

static int store(
	struct p11_key *key, CK_SESSION_HANDLE s, const struct p11_cert *c, unsigned *replaced)
{
	CK_OBJECT_HANDLE old[OLD_MAX], fresh;
	CK_ULONG n = 0;
	uint8_t *label = NULL;
	size_t labellen = 0;
	int rc;

	if ((rc = key_label(key, s, &label, &labellen)) != 0 ||
		(rc = find_old(key, s, old, &n)) != 0)
		goto out;
	if ((rc = create_cert(key, s, c, label, labellen, &fresh)) != 0)
		goto out;
	rc = replace_old(key, s, fresh, old, n, replaced);
out:
	free(label);
	return rc;
}

static int cert_args_ok(const struct p11_key *key, const struct p11_cert *c)
{
	if (key == NULL || c == NULL || c->der == NULL || c->der_len == 0 || c->subject == NULL ||
		c->subject_len == 0 || c->issuer == NULL || c->issuer_len == 0 ||
		c->serial == NULL || c->serial_len == 0)
		return mtls_err_set(MTLS_ERR_ARG, "p11_store_cert: certificate fields missing");
	if (key->id == NULL || key->idlen == 0)
		return mtls_err_set(MTLS_ERR_KEY,
			"the key has no CKA_ID, so no certificate can be paired with it on the "
			"token; store the certificate in a file");
	return 0;
}

int p11_store_cert(struct p11_key *key, const struct p11_cert *cert, unsigned *replaced)
{
	struct p11_session rw;
	unsigned dummy = 0;
	int rc;

	if (replaced == NULL)
		replaced = &dummy;
	*replaced = 0;
	if ((rc = cert_args_ok(key, cert)) != 0)
		return rc;
	if ((rc = token_acquire_rw(key->tok, &rw)) != 0)
		return rc;
	rc = store(key, rw.h, cert, replaced);
	token_discard(key->tok, &rw); /* closes it */
	return rc;
}
