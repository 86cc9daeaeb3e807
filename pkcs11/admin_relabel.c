/* Giving a key (its private and public objects and the certificates with
 * its CKA_ID) another label: how `renew --rekey` switches the name the
 * agent's key URI uses from the old key to the new one. */
#include <stdlib.h>
#include <string.h>

#include "admin_int.h"
#include "bridge.h"
#include "mtls/err.h"
#include "mtls/p11_admin.h"

#define RELABEL_MAX 32

/* Objects with the key's CKA_ID, any class. */
static int objects_of(struct p11_key *key, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *h, CK_ULONG *n)
{
	CK_ATTRIBUTE t = {CKA_ID, key->id, key->idlen};
	CK_RV rv = obj_find(key->tok->fl, s, &t, 1, h, RELABEL_MAX, n);

	if (rv != CKR_OK)
		return rv_fail(rv, "C_FindObjects (objects with the key's CKA_ID)", NULL);
	if (*n > RELABEL_MAX)
		return mtls_err_set(MTLS_ERR_TOO_BIG,
			"more than %d objects share this key's CKA_ID; clean them up first",
			RELABEL_MAX);
	return 0;
}

/* Objects labelled label that do not have the key's CKA_ID. */
static int label_taken(struct p11_key *key, CK_SESSION_HANDLE s, const char *label, int *taken)
{
	CK_ATTRIBUTE t = {CKA_LABEL, (void *)label, strlen(label)}, id = {CKA_ID, NULL, 0};
	CK_OBJECT_HANDLE h[RELABEL_MAX];
	CK_ULONG n = 0, i;
	uint8_t buf[256];
	CK_RV rv = obj_find(key->tok->fl, s, &t, 1, h, RELABEL_MAX, &n);

	*taken = 0;
	if (rv != CKR_OK)
		return rv_fail(rv, "C_FindObjects (by label)", NULL);
	for (i = 0; i < n && i < RELABEL_MAX && !*taken; i++) {
		id.pValue = buf;
		id.ulValueLen = sizeof(buf);
		rv = key->tok->fl->C_GetAttributeValue(s, h[i], &id, 1);
		*taken = rv != CKR_OK || id.ulValueLen != key->idlen ||
			memcmp(buf, key->id, key->idlen) != 0;
	}
	return 0;
}

int p11_admin_key_relabel(struct p11_key *key, const char *label)
{
	CK_OBJECT_HANDLE h[RELABEL_MAX];
	CK_ATTRIBUTE to = {CKA_LABEL, (void *)label, 0}, back = {CKA_LABEL, NULL, 0};
	struct p11_session rw;
	CK_ULONG n = 0, i, done = 0;
	CK_RV rv = CKR_OK;
	int rc, taken = 0;

	if (key == NULL || label == NULL || label[0] == '\0' || strlen(label) > P11_ADMIN_LABEL_MAX)
		return mtls_err_set(MTLS_ERR_ARG, "relabel: a label of 1 to %d bytes is needed",
			P11_ADMIN_LABEL_MAX);
	if (key->id == NULL || key->idlen == 0)
		return mtls_err_set(MTLS_ERR_KEY,
			"the key has no CKA_ID: its objects cannot be told apart for a relabel");
	to.ulValueLen = strlen(label);
	back.pValue = key->label;
	back.ulValueLen = key->label ? strlen(key->label) : 0;
	if ((rc = token_acquire_rw(key->tok, &rw)) != 0)
		return rc;
	if ((rc = label_taken(key, rw.h, label, &taken)) == 0 && taken)
		rc = mtls_err_set(MTLS_ERR_ARG,
			"the label '%s' is taken by another object on the token", label);
	if (rc == 0)
		rc = objects_of(key, rw.h, h, &n);
	for (i = 0; rc == 0 && i < n; i++, done++) {
		rv = key->tok->fl->C_SetAttributeValue(rw.h, h[i], &to, 1);
		if (rv != CKR_OK)
			rc = rv_fail(rv, "C_SetAttributeValue (CKA_LABEL)",
				"the token keeps the old label; nothing was changed");
	}
	/* All or nothing: put the old label back on what was changed. */
	for (i = 0; rc != 0 && back.pValue != NULL && i < done; i++)
		(void)key->tok->fl->C_SetAttributeValue(rw.h, h[i], &back, 1);
	token_discard(key->tok, &rw);
	return rc;
}
