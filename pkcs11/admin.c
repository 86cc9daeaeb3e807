/* The admin API's inspecting half: registered modules, slots, tokens,
 * mechanisms, one step at a time (module, token, login) for doctor, and a
 * key's attributes. Key generation is in admin_keygen.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/p11-kit.h>

#include "admin_int.h"
#include "bridge.h"
#include "mtls/err.h"
#include "mtls/p11_admin.h"

#define SLOTS_MAX 256
#define MECHS_MAX 512

static const CK_MECHANISM_TYPE mech_types[P11_MECH_COUNT] = {
	[P11_MECH_EC_KEYGEN] = CKM_EC_KEY_PAIR_GEN,
	[P11_MECH_RSA_KEYGEN] = CKM_RSA_PKCS_KEY_PAIR_GEN,
	[P11_MECH_ECDSA] = CKM_ECDSA,
	[P11_MECH_RSA_PKCS] = CKM_RSA_PKCS,
	[P11_MECH_RSA_PSS] = CKM_RSA_PKCS_PSS,
	[P11_MECH_RSA_X509] = CKM_RSA_X_509,
};

const char *p11_admin_mech_name(enum p11_admin_mech m)
{
	static const char *const names[P11_MECH_COUNT] = {
		[P11_MECH_EC_KEYGEN] = "CKM_EC_KEY_PAIR_GEN",
		[P11_MECH_RSA_KEYGEN] = "CKM_RSA_PKCS_KEY_PAIR_GEN",
		[P11_MECH_ECDSA] = "CKM_ECDSA",
		[P11_MECH_RSA_PKCS] = "CKM_RSA_PKCS",
		[P11_MECH_RSA_PSS] = "CKM_RSA_PKCS_PSS",
		[P11_MECH_RSA_X509] = "CKM_RSA_X_509",
	};

	return (unsigned)m < P11_MECH_COUNT ? names[m] : "CKM_?";
}

/* A space-padded PKCS#11 field as a C string: trailing blanks dropped,
 * control and non-ASCII bytes shown as '?'. out holds width + 1 bytes. */
static void field(char *out, const unsigned char *f, size_t width)
{
	size_t n = p11_kit_space_strlen(f, width), i;

	for (i = 0; i < n; i++)
		out[i] = (f[i] < 0x20 || f[i] >= 0x7f) ? '?' : (char)f[i];
	out[n] = '\0';
}

static void token_info_out(const CK_TOKEN_INFO *ti, struct p11_admin_token_info *out)
{
	static const struct {
		CK_FLAGS ck;
		unsigned ours;
	} map[] = {
		{CKF_TOKEN_INITIALIZED, P11_TOKF_INITIALIZED},
		{CKF_LOGIN_REQUIRED, P11_TOKF_LOGIN_REQUIRED},
		{CKF_USER_PIN_INITIALIZED, P11_TOKF_USER_PIN_INITIALIZED},
		{CKF_PROTECTED_AUTHENTICATION_PATH, P11_TOKF_PROTECTED_AUTH_PATH},
		{CKF_USER_PIN_COUNT_LOW, P11_TOKF_PIN_COUNT_LOW},
		{CKF_USER_PIN_FINAL_TRY, P11_TOKF_PIN_FINAL_TRY},
		{CKF_USER_PIN_LOCKED, P11_TOKF_PIN_LOCKED},
		{CKF_USER_PIN_TO_BE_CHANGED, P11_TOKF_PIN_TO_BE_CHANGED},
		{CKF_WRITE_PROTECTED, P11_TOKF_WRITE_PROTECTED},
		{CKF_RNG, P11_TOKF_RNG},
	};
	size_t i;

	field(out->label, ti->label, sizeof(ti->label));
	field(out->manufacturer, ti->manufacturerID, sizeof(ti->manufacturerID));
	field(out->model, ti->model, sizeof(ti->model));
	field(out->serial, ti->serialNumber, sizeof(ti->serialNumber));
	out->flags = 0;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (ti->flags & map[i].ck)
			out->flags |= map[i].ours;
}

int p11_admin_registered(struct p11_admin_module **mods, size_t *n)
{
	CK_FUNCTION_LIST **list;
	char *name, *path;
	size_t count = 0, i;

	*mods = NULL;
	*n = 0;
	/* Loaded, not initialised: only their names and files are read. */
	list = p11_kit_modules_load(NULL, P11_KIT_MODULE_UNMANAGED);
	if (list == NULL)
		return mtls_err_set(MTLS_ERR_MODULE,
			"p11-kit could not load its registered modules: %s",
			p11_kit_message() ? p11_kit_message() : "unknown reason");
	while (list[count] != NULL)
		count++;
	*mods = calloc(count ? count : 1, sizeof(**mods));
	if (*mods == NULL) {
		p11_kit_modules_release(list);
		return MTLS_ERR_NOMEM;
	}
	for (i = 0; i < count; i++) {
		name = p11_kit_module_get_name(list[i]);
		path = p11_kit_module_get_filename(list[i]);
		snprintf((*mods)[*n].name, sizeof((*mods)[*n].name), "%s", name ? name : "");
		snprintf((*mods)[*n].path, sizeof((*mods)[*n].path), "%s", path ? path : "");
		free(name);
		free(path);
		if ((*mods)[*n].path[0] != '\0')
			(*n)++;
	}
	p11_kit_modules_release(list);
	return 0;
}

/* Acquire the module named by a path (holding '/') or a registered name. */
static int module_by_arg(const char *module, struct p11_module **mod)
{
	P11KitUri *uri = p11_kit_uri_new();
	int rc;

	if (uri == NULL)
		return MTLS_ERR_NOMEM;
	if (strchr(module, '/') != NULL)
		p11_kit_uri_set_module_path(uri, module);
	else
		p11_kit_uri_set_module_name(uri, module);
	rc = module_acquire(uri, mod);
	p11_kit_uri_free(uri);
	return rc;
}

static int module_info_out(struct p11_module *mod, struct p11_admin_module_info *info)
{
	CK_INFO ci;
	CK_RV rv;

	memset(info, 0, sizeof(*info));
	snprintf(info->path, sizeof(info->path), "%s", mod->path);
	if (mod->fl->C_GetInfo == NULL)
		return 0; /* a module without C_GetInfo: its path is all we know */
	rv = mod->fl->C_GetInfo(&ci);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_GetInfo", NULL);
	field(info->manufacturer, ci.manufacturerID, sizeof(ci.manufacturerID));
	field(info->description, ci.libraryDescription, sizeof(ci.libraryDescription));
	info->lib_major = ci.libraryVersion.major;
	info->lib_minor = ci.libraryVersion.minor;
	info->ck_major = ci.cryptokiVersion.major;
	info->ck_minor = ci.cryptokiVersion.minor;
	return 0;
}

/* The mechanisms we care about on one slot. A list that cannot be read
 * leaves them all absent (nmechs 0) and says why. */
static int slot_mechs(CK_FUNCTION_LIST *fl, CK_SLOT_ID slot, struct p11_admin_slot *out)
{
	CK_MECHANISM_TYPE *list = NULL;
	CK_MECHANISM_INFO mi;
	CK_ULONG n = 0, i, cap;
	CK_RV rv;
	int m;

	rv = fl->C_GetMechanismList(slot, NULL, &n);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_GetMechanismList", NULL);
	if (n > MECHS_MAX)
		return mtls_err_set(MTLS_ERR_TOKEN,
			"the token lists %lu mechanisms; at most %d are read", (unsigned long)n,
			MECHS_MAX);
	cap = n;
	list = calloc(n ? n : 1, sizeof(*list));
	if (list == NULL)
		return MTLS_ERR_NOMEM;
	rv = fl->C_GetMechanismList(slot, list, &n);
	if (rv != CKR_OK) {
		free(list);
		return rv_fail(rv, "C_GetMechanismList", NULL);
	}
	out->nmechs = n < cap ? n : cap;
	for (i = 0; i < out->nmechs; i++)
		for (m = 0; m < P11_MECH_COUNT; m++)
			if (list[i] == mech_types[m])
				out->mech[m].present = 1;
	free(list);
	for (m = 0; m < P11_MECH_COUNT; m++) {
		struct p11_admin_mech_info *mo = &out->mech[m];

		if (!mo->present)
			continue;
		memset(&mi, 0, sizeof(mi));
		if (fl->C_GetMechanismInfo == NULL ||
			fl->C_GetMechanismInfo(slot, mech_types[m], &mi) != CKR_OK) {
			mo->flags = P11_MECHF_NO_INFO;
			continue;
		}
		mo->min_bits = mi.ulMinKeySize;
		mo->max_bits = mi.ulMaxKeySize;
		mo->flags = ((mi.flags & CKF_SIGN) ? P11_MECHF_SIGN : 0) |
			((mi.flags & CKF_GENERATE_KEY_PAIR) ? P11_MECHF_GENERATE_KEY_PAIR : 0) |
			((mi.flags & CKF_HW) ? P11_MECHF_HW : 0);
	}
	return 0;
}

/* Slot, token and mechanisms of one slot id. */
static void slot_describe(CK_FUNCTION_LIST *fl, CK_SLOT_ID id, struct p11_admin_slot *out)
{
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	out->id = id;
	rv = fl->C_GetSlotInfo(id, &si);
	if (rv == CKR_OK) {
		field(out->description, si.slotDescription, sizeof(si.slotDescription));
		field(out->manufacturer, si.manufacturerID, sizeof(si.manufacturerID));
		out->removable = (si.flags & CKF_REMOVABLE_DEVICE) != 0;
		out->hardware = (si.flags & CKF_HW_SLOT) != 0;
		out->has_token = (si.flags & CKF_TOKEN_PRESENT) != 0;
	}
	if (!out->has_token)
		return;
	rv = fl->C_GetTokenInfo(id, &ti);
	if (rv != CKR_OK) {
		out->token_error = rv_fail(rv, "C_GetTokenInfo", NULL);
		return;
	}
	token_info_out(&ti, &out->token);
	if (slot_mechs(fl, id, out) != 0)
		out->nmechs = 0;
}

static int list_slots(CK_FUNCTION_LIST *fl, struct p11_admin_slot **slots, size_t *n)
{
	CK_SLOT_ID ids[SLOTS_MAX];
	CK_ULONG count = SLOTS_MAX, i;
	CK_RV rv;

	rv = fl->C_GetSlotList(CK_FALSE, ids, &count);
	if (rv == CKR_BUFFER_TOO_SMALL)
		return mtls_err_set(
			MTLS_ERR_MODULE, "the module lists more than %d slots", SLOTS_MAX);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_GetSlotList", NULL);
	if (count > SLOTS_MAX)
		count = SLOTS_MAX;
	*slots = calloc(count ? count : 1, sizeof(**slots));
	if (*slots == NULL)
		return MTLS_ERR_NOMEM;
	for (i = 0; i < count; i++)
		slot_describe(fl, ids[i], &(*slots)[i]);
	*n = count;
	return 0;
}

int p11_admin_module_slots(const char *module, struct p11_admin_module_info *info,
	struct p11_admin_slot **slots, size_t *n)
{
	struct p11_module *mod;
	int rc;

	*slots = NULL;
	*n = 0;
	if (module == NULL || module[0] == '\0')
		return mtls_err_set(MTLS_ERR_ARG, "no module named");
	rc = module_by_arg(module, &mod);
	if (rc != 0)
		return rc;
	rc = module_info_out(mod, info);
	if (rc == 0)
		rc = list_slots(mod->fl, slots, n);
	module_release(mod);
	return rc;
}

int p11_admin_module_check(const char *uri_text, struct p11_admin_module_info *info)
{
	struct p11_module *mod;
	P11KitUri *uri;
	int rc;

	rc = uri_parse(uri_text, 1, &uri);
	if (rc != 0)
		return rc;
	rc = module_acquire(uri, &mod);
	p11_kit_uri_free(uri);
	if (rc != 0)
		return rc;
	rc = module_info_out(mod, info);
	module_release(mod);
	return rc;
}

int p11_admin_token_slot(struct p11_token *tok, struct p11_admin_slot *slot)
{
	CK_SLOT_ID id;

	pthread_mutex_lock(&tok->mu);
	id = tok->slot;
	pthread_mutex_unlock(&tok->mu);
	slot_describe(tok->fl, id, slot);
	if (!slot->has_token)
		return mtls_err_set(
			MTLS_ERR_TOKEN_ABSENT, "slot %lu holds no token now", (unsigned long)id);
	return slot->token_error;
}

int p11_admin_login(struct p11_token *tok, int *logged_in)
{
	struct p11_session s;
	int want, in, rc;

	*logged_in = 0;
	rc = token_acquire(tok, &s);
	if (rc != 0)
		return rc;
	token_release(tok, &s);
	token_login_state(tok, &want, &in);
	/* The pool keeps the session open, so the login lasts. */
	*logged_in = want && in;
	return 0;
}

/* ---- a key's attributes ---- */

static int bool_attr(
	CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
	CK_BBOOL v = CK_FALSE;
	CK_ATTRIBUTE a = {type, &v, sizeof(v)};

	if (fl->C_GetAttributeValue(s, o, &a, 1) != CKR_OK || a.ulValueLen != sizeof(v))
		return -1;
	return v == CK_TRUE;
}

/* The key's object, found by the id and label the bridge knows it by. */
static int key_object(struct p11_key *key, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[3] = {{CKA_CLASS, &cls, sizeof(cls)}};
	CK_OBJECT_HANDLE found[2];
	CK_ULONG nt = 1, n;
	CK_RV rv;

	if (key->id != NULL)
		t[nt++] = (CK_ATTRIBUTE){CKA_ID, key->id, key->idlen};
	if (key->label != NULL)
		t[nt++] = (CK_ATTRIBUTE){CKA_LABEL, key->label, strlen(key->label)};
	rv = obj_find(key->tok->fl, s, t, nt, found, 2, &n);
	if (rv != CKR_OK)
		return rv_fail(rv, "C_FindObjects (private key)", NULL);
	if (n != 1)
		return mtls_err_set(n ? MTLS_ERR_AMBIGUOUS : MTLS_ERR_NO_OBJECT,
			"the key is no longer found exactly once on the token (%lu matches)",
			(unsigned long)n);
	*h = found[0];
	return 0;
}

static void key_attrs(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h,
	struct p11_admin_key_info *info)
{
	uint8_t *v;
	size_t len;

	if (obj_get_attr(fl, s, h, CKA_ID, &v, &len) == CKR_OK && v != NULL) {
		info->idcut = len > sizeof(info->id);
		info->idlen = info->idcut ? sizeof(info->id) : len;
		memcpy(info->id, v, info->idlen);
		free(v);
	}
	if (obj_get_attr(fl, s, h, CKA_LABEL, &v, &len) == CKR_OK && v != NULL) {
		size_t i, n = len > P11_ADMIN_LABEL_MAX ? P11_ADMIN_LABEL_MAX : len;

		for (i = 0; i < n; i++)
			info->label[i] = (v[i] < 0x20 || v[i] == 0x7f) ? '?' : (char)v[i];
		info->label[n] = '\0';
		free(v);
	}
	info->sensitive = bool_attr(fl, s, h, CKA_SENSITIVE);
	info->always_sensitive = bool_attr(fl, s, h, CKA_ALWAYS_SENSITIVE);
	info->never_extractable = bool_attr(fl, s, h, CKA_NEVER_EXTRACTABLE);
	info->extractable = bool_attr(fl, s, h, CKA_EXTRACTABLE);
	info->always_authenticate = bool_attr(fl, s, h, CKA_ALWAYS_AUTHENTICATE);
}

int p11_admin_key_info(struct p11_key *key, struct p11_admin_key_info *info)
{
	struct p11_session s;
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	int rc;

	memset(info, 0, sizeof(*info));
	info->type = p11_key_type(key);
	info->bits = p11_key_bits(key);
	info->caps = p11_key_caps(key);
	pthread_mutex_lock(&key->tok->mu);
	token_info_out(&key->tok->info, &info->token);
	pthread_mutex_unlock(&key->tok->mu);
	rc = token_acquire(key->tok, &s);
	if (rc != 0)
		return rc;
	rc = key_object(key, s.h, &h);
	if (rc == 0)
		key_attrs(key->tok->fl, s.h, h, info);
	token_release(key->tok, &s);
	return rc;
}
