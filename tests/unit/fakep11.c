/* The fake PKCS#11 module (see fakep11.h). Every entry point takes the one
 * lock, counts the call, applies injected failures, then does a small but
 * honest imitation of a token: the checks here follow PKCS#11 v2.40 so the
 * bridge cannot pass a test by relying on something a real token refuses. */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge.h"
#include "fakep11.h"

#define MAX_SLOTS 4
#define MAX_OBJS 48
#define MAX_ATTRS 16
#define MAX_SESSIONS 64
#define MAX_FAULTS 32
#define MAX_MECHS 600

struct fake_attr {
	CK_ATTRIBUTE_TYPE type;
	uint8_t *val;
	size_t len;
	int sensitive;
};

struct fake_obj {
	int used;
	struct fake_attr a[MAX_ATTRS];
	size_t n;
};

struct fake_slot {
	int used;
	int present;
	CK_SLOT_ID id;
	CK_TOKEN_INFO ti;
	CK_SLOT_INFO si;
	int logged_in;
	unsigned epoch; /* bumped on removal: older sessions are gone */
};

struct fake_sess {
	int open;
	CK_SESSION_HANDLE h;
	int slot;
	unsigned epoch;
	int finding;
	CK_OBJECT_HANDLE found[MAX_OBJS];
	CK_ULONG nfound, pos;
	int signing;
	CK_MECHANISM_TYPE mech;
	CK_ULONG pss_hash_len;
	int key;
	int ctx_ok;
};

struct fake_fault {
	int used;
	enum fake_fn fn;
	unsigned long at;
	int from; /* every call from `at` on */
	CK_RV rv;
	void (*hook)(void *);
	void *arg;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static struct {
	int initialized;
	unsigned long calls[FAKE_FN_COUNT];
	struct fake_fault faults[MAX_FAULTS];
	struct fake_slot slots[MAX_SLOTS];
	struct fake_obj objs[MAX_OBJS];
	CK_OBJECT_HANDLE handle_base;
	struct fake_sess sess[MAX_SESSIONS];
	CK_SESSION_HANDLE next_session;
	unsigned session_limit;
	int logout_on_last_close;
	CK_RV not_logged_in_rv;
	CK_MECHANISM_TYPE mechs[MAX_MECHS];
	size_t nmechs;
	char pin[64];
	uint8_t sig[1024];
	size_t siglen;
	int have_sig;
	struct fake_last last;
} F;

static CK_FUNCTION_LIST fake_list;

/* ---- known keys ---- */

const uint8_t fake_p256_spki[91] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce,
	0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42,
	0x00, 0x04, 0x1f, 0x81, 0xc6, 0x23, 0x79, 0x29, 0x78, 0xd2, 0x6b, 0xd5, 0x05, 0x41, 0x42,
	0x1f, 0x5e, 0x33, 0x15, 0x77, 0x09, 0x25, 0x50, 0xa7, 0xbb, 0x08, 0xb9, 0xc3, 0xa7, 0x19,
	0x7f, 0xa1, 0x6a, 0x4d, 0x12, 0xe8, 0x02, 0x74, 0x7c, 0x2d, 0x48, 0xe8, 0x7d, 0x58, 0x84,
	0x34, 0xa2, 0x71, 0xb9, 0x66, 0x92, 0xe1, 0xde, 0xb7, 0x8e, 0x0d, 0x3d, 0x17, 0x12, 0xef,
	0xc7, 0x6b, 0x0f, 0x88, 0x11, 0xb2};

const uint8_t fake_p384_spki[120] = {0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce,
	0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00, 0x04, 0x90,
	0x85, 0xb4, 0xd3, 0x60, 0xf9, 0x5c, 0x00, 0x3f, 0x2e, 0xad, 0x3a, 0x9d, 0xd0, 0xed, 0x40,
	0x7d, 0x48, 0x1b, 0xac, 0xaf, 0x4d, 0x3f, 0x83, 0xd0, 0x9e, 0xc7, 0xa7, 0xe1, 0xf3, 0x71,
	0xb6, 0xef, 0x40, 0x6d, 0x96, 0x1d, 0x63, 0xc3, 0x86, 0x2a, 0x1e, 0xf1, 0x56, 0x93, 0x41,
	0x89, 0x99, 0xb5, 0x8f, 0x72, 0x13, 0x20, 0xc6, 0x9f, 0x7d, 0x50, 0x07, 0x98, 0xc3, 0x1b,
	0x75, 0x54, 0x03, 0x19, 0xb9, 0xc2, 0x2c, 0x11, 0xe7, 0xea, 0x78, 0xb7, 0xda, 0x11, 0x15,
	0xe8, 0x5c, 0x90, 0xe3, 0x7a, 0x4d, 0xcc, 0x03, 0x5d, 0xa4, 0xf4, 0x40, 0xce, 0xf3, 0x28,
	0x1a, 0x5f, 0x5d, 0x9a, 0x65};

const uint8_t fake_rsa2048_spki[294] = {0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86,
	0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00, 0x03, 0x82, 0x01, 0x0f, 0x00, 0x30,
	0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00, 0xb0, 0x2d, 0x4f, 0xcf, 0x14, 0x19, 0x42,
	0x35, 0xe6, 0xfd, 0x77, 0xeb, 0x37, 0x5b, 0x4b, 0xff, 0xc2, 0x40, 0xb7, 0x34, 0xda, 0xec,
	0x84, 0x7e, 0x0d, 0x58, 0x39, 0x62, 0xcf, 0xb9, 0x4b, 0xd6, 0xdf, 0xcd, 0x02, 0x90, 0x90,
	0x7c, 0xa2, 0xe5, 0xaf, 0x04, 0x13, 0x6e, 0xe1, 0xc5, 0xbd, 0xee, 0xf3, 0xaa, 0x2b, 0x62,
	0x79, 0x73, 0x8b, 0x12, 0xc7, 0xab, 0x25, 0xc7, 0xfa, 0x0f, 0x0a, 0xaf, 0xd4, 0x52, 0x83,
	0x5c, 0x9d, 0xa6, 0x3c, 0x4b, 0xd0, 0xdf, 0xcb, 0x42, 0xed, 0x2b, 0x2b, 0xa8, 0x2a, 0x8a,
	0x23, 0xab, 0x81, 0xe1, 0x7c, 0x32, 0x4f, 0xb7, 0x69, 0x04, 0xad, 0x83, 0xef, 0xb2, 0xd4,
	0x15, 0xa1, 0xeb, 0xb7, 0xb1, 0xb1, 0xdc, 0x91, 0xcf, 0x78, 0x14, 0x9e, 0xe8, 0x7a, 0x82,
	0x51, 0x17, 0xb4, 0xaf, 0x55, 0x3e, 0x06, 0xee, 0x8a, 0x8a, 0x58, 0xdd, 0x5b, 0xe9, 0xa6,
	0x67, 0x3d, 0x89, 0xa0, 0xa1, 0x7b, 0xab, 0x75, 0xc0, 0xc9, 0xaf, 0x2d, 0xa3, 0xab, 0x36,
	0x1e, 0xef, 0xcf, 0xfb, 0x46, 0xa9, 0x18, 0xc3, 0xb7, 0xa2, 0x19, 0x0e, 0x29, 0x4d, 0x1a,
	0xe6, 0xa0, 0x96, 0x3f, 0x0f, 0x9f, 0x4a, 0x91, 0xd2, 0x4b, 0x73, 0xd6, 0x31, 0xfd, 0x77,
	0x47, 0x8b, 0x3f, 0x9d, 0x7a, 0xb5, 0x88, 0x91, 0x33, 0x42, 0x57, 0xc1, 0x1e, 0x00, 0x9f,
	0x43, 0x74, 0x88, 0xdc, 0x6f, 0xb0, 0xa2, 0x15, 0x37, 0x96, 0x87, 0x24, 0xfe, 0xfc, 0xd0,
	0x18, 0x91, 0x0e, 0x18, 0x86, 0x55, 0x5a, 0x9a, 0x8b, 0x7a, 0x25, 0x71, 0x14, 0x8e, 0x5d,
	0xd5, 0xdc, 0x01, 0x96, 0xbf, 0xab, 0x4d, 0xd6, 0x87, 0x6b, 0x4a, 0x8a, 0x88, 0xf9, 0xed,
	0x8b, 0x25, 0xed, 0x09, 0x3c, 0x51, 0xe8, 0xec, 0x9b, 0x67, 0x27, 0xb8, 0xc6, 0xe5, 0x72,
	0xfe, 0xeb, 0xf9, 0x71, 0x35, 0xf6, 0x72, 0x08, 0xbd, 0x02, 0x03, 0x01, 0x00, 0x01};

/* ---- small helpers ---- */

static void pad(unsigned char *dst, size_t width, const char *src)
{
	size_t n = strlen(src);

	memset(dst, ' ', width);
	memcpy(dst, src, n < width ? n : width);
}

static int slot_index(CK_SLOT_ID id)
{
	int i;

	for (i = 0; i < MAX_SLOTS; i++)
		if (F.slots[i].used && F.slots[i].present && F.slots[i].id == id)
			return i;
	return -1;
}

static struct fake_attr *attr_find(struct fake_obj *o, CK_ATTRIBUTE_TYPE type)
{
	size_t i;

	for (i = 0; i < o->n; i++)
		if (o->a[i].type == type)
			return &o->a[i];
	return NULL;
}

static CK_BBOOL attr_bool(struct fake_obj *o, CK_ATTRIBUTE_TYPE type)
{
	struct fake_attr *a = attr_find(o, type);

	return a != NULL && a->len == sizeof(CK_BBOOL) && a->val[0] == CK_TRUE;
}

static CK_ULONG attr_ulong(struct fake_obj *o, CK_ATTRIBUTE_TYPE type, CK_ULONG dflt)
{
	struct fake_attr *a = attr_find(o, type);
	CK_ULONG v;

	if (a == NULL || a->len != sizeof(v))
		return dflt;
	memcpy(&v, a->val, sizeof(v));
	return v;
}

static int obj_visible(int idx)
{
	struct fake_obj *o = &F.objs[idx];

	return o->used && F.slots[0].present &&
		(!attr_bool(o, CKA_PRIVATE) || F.slots[0].logged_in);
}

static int obj_from_handle(CK_OBJECT_HANDLE h)
{
	CK_OBJECT_HANDLE i;

	if (h <= F.handle_base || h > F.handle_base + MAX_OBJS)
		return -1;
	i = h - F.handle_base - 1;
	return obj_visible((int)i) ? (int)i : -1;
}

/* Count, then apply injected failures. */
static CK_RV enter(enum fake_fn fn)
{
	CK_RV rv = CKR_OK;
	unsigned long n;
	int i;

	pthread_mutex_lock(&mu);
	n = ++F.calls[fn];
	for (i = 0; i < MAX_FAULTS; i++) {
		struct fake_fault *f = &F.faults[i];

		if (!f->used || f->fn != fn || (f->from ? n < f->at : n != f->at))
			continue;
		if (!f->from)
			f->used = 0;
		if (f->hook != NULL)
			f->hook(f->arg);
		if (rv == CKR_OK)
			rv = f->rv;
	}
	return rv;
}

static CK_RV leave(CK_RV rv)
{
	pthread_mutex_unlock(&mu);
	return rv;
}

/* A live session; the token's state decides what a stale one answers. */
static CK_RV sess_get(CK_SESSION_HANDLE h, struct fake_sess **out)
{
	int i;

	if (!F.initialized)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	for (i = 0; i < MAX_SESSIONS; i++) {
		struct fake_sess *s = &F.sess[i];

		if (!s->open || s->h != h)
			continue;
		if (!F.slots[s->slot].present)
			return CKR_DEVICE_REMOVED;
		if (s->epoch != F.slots[s->slot].epoch)
			return CKR_SESSION_HANDLE_INVALID;
		*out = s;
		return CKR_OK;
	}
	return CKR_SESSION_HANDLE_INVALID;
}

static unsigned open_on_slot(int slot)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < MAX_SESSIONS; i++)
		if (F.sess[i].open && F.sess[i].slot == slot &&
			F.sess[i].epoch == F.slots[slot].epoch)
			n++;
	return n;
}

/* ---- general and slot functions ---- */

static CK_RV do_initialize(void *args)
{
	CK_C_INITIALIZE_ARGS *a = args;

	if (F.initialized)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	if (a != NULL && a->pReserved != NULL)
		return CKR_ARGUMENTS_BAD;
	F.last.init_flags = a != NULL ? a->flags : 0;
	F.initialized = 1;
	return CKR_OK;
}

static CK_RV fake_C_Initialize(void *args)
{
	CK_RV rv = enter(FAKE_INITIALIZE);

	return leave(rv != CKR_OK ? rv : do_initialize(args));
}

static CK_RV fake_C_Finalize(void *reserved)
{
	CK_RV rv = enter(FAKE_FINALIZE);
	int i;

	if (rv == CKR_OK && reserved != NULL)
		rv = CKR_ARGUMENTS_BAD;
	if (rv == CKR_OK && !F.initialized)
		rv = CKR_CRYPTOKI_NOT_INITIALIZED;
	if (rv == CKR_OK) {
		for (i = 0; i < MAX_SESSIONS; i++)
			F.sess[i].open = 0;
		for (i = 0; i < MAX_SLOTS; i++)
			F.slots[i].logged_in = 0;
		F.initialized = 0;
	}
	return leave(rv);
}

static CK_RV do_get_slot_list(CK_SLOT_ID *list, CK_ULONG *count)
{
	CK_ULONG n = 0, i;

	if (!F.initialized)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < MAX_SLOTS; i++)
		n += F.slots[i].used && F.slots[i].present;
	if (list == NULL) {
		*count = n;
		return CKR_OK;
	}
	if (*count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (i = 0, n = 0; i < MAX_SLOTS; i++)
		if (F.slots[i].used && F.slots[i].present)
			list[n++] = F.slots[i].id;
	*count = n;
	return CKR_OK;
}

static CK_RV fake_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID *list, CK_ULONG *count)
{
	CK_RV rv = enter(FAKE_GET_SLOT_LIST);

	/* A pulled-out token takes its slot (a USB reader) with it, so the
	 * answer is the same whether or not present is set. */
	return leave(rv != CKR_OK ? rv : do_get_slot_list(list, count));
}

static CK_RV fake_C_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO *info)
{
	CK_RV rv = enter(FAKE_GET_SLOT_INFO);
	int i;

	if (rv == CKR_OK && !F.initialized)
		rv = CKR_CRYPTOKI_NOT_INITIALIZED;
	if (rv == CKR_OK && (i = slot_index(id)) < 0)
		rv = CKR_SLOT_ID_INVALID;
	if (rv == CKR_OK)
		*info = F.slots[i].si;
	return leave(rv);
}

static CK_RV fake_C_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO *info)
{
	CK_RV rv = enter(FAKE_GET_TOKEN_INFO);
	int i;

	if (rv == CKR_OK && !F.initialized)
		rv = CKR_CRYPTOKI_NOT_INITIALIZED;
	if (rv == CKR_OK && (i = slot_index(id)) < 0)
		rv = CKR_SLOT_ID_INVALID;
	if (rv == CKR_OK) {
		*info = F.slots[i].ti;
		info->ulSessionCount = open_on_slot(i);
	}
	return leave(rv);
}

static CK_RV do_get_mechanism_list(CK_SLOT_ID id, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
	if (!F.initialized)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (slot_index(id) < 0)
		return CKR_SLOT_ID_INVALID;
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	if (list == NULL) {
		*count = F.nmechs;
		return CKR_OK;
	}
	if (*count < F.nmechs) {
		*count = F.nmechs;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(list, F.mechs, F.nmechs * sizeof(*list));
	*count = F.nmechs;
	return CKR_OK;
}

static CK_RV fake_C_GetMechanismList(CK_SLOT_ID id, CK_MECHANISM_TYPE *list, CK_ULONG *count)
{
	CK_RV rv = enter(FAKE_GET_MECHANISM_LIST);

	return leave(rv != CKR_OK ? rv : do_get_mechanism_list(id, list, count));
}

/* ---- sessions and login ---- */

static CK_RV do_open_session(CK_SLOT_ID id, CK_FLAGS flags, CK_SESSION_HANDLE *h)
{
	int slot, i;

	if (!F.initialized)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((slot = slot_index(id)) < 0)
		return CKR_SLOT_ID_INVALID;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	if (h == NULL)
		return CKR_ARGUMENTS_BAD;
	if (F.session_limit != 0 && open_on_slot(slot) >= F.session_limit)
		return CKR_SESSION_COUNT;
	for (i = 0; i < MAX_SESSIONS; i++)
		if (!F.sess[i].open)
			break;
	if (i == MAX_SESSIONS)
		return CKR_SESSION_COUNT;
	memset(&F.sess[i], 0, sizeof(F.sess[i]));
	F.sess[i].open = 1;
	F.sess[i].h = ++F.next_session;
	F.sess[i].slot = slot;
	F.sess[i].epoch = F.slots[slot].epoch;
	*h = F.sess[i].h;
	return CKR_OK;
}

static CK_RV fake_C_OpenSession(
	CK_SLOT_ID id, CK_FLAGS flags, void *app, CK_NOTIFY notify, CK_SESSION_HANDLE *h)
{
	CK_RV rv = enter(FAKE_OPEN_SESSION);

	return leave(rv != CKR_OK ? rv : do_open_session(id, flags, h));
}

static CK_RV do_close_session(CK_SESSION_HANDLE h)
{
	struct fake_sess *s = NULL;
	CK_RV rv = sess_get(h, &s);
	int i;

	if (rv == CKR_CRYPTOKI_NOT_INITIALIZED)
		return rv;
	for (i = 0; s == NULL && i < MAX_SESSIONS; i++)
		if (F.sess[i].open && F.sess[i].h == h)
			s = &F.sess[i]; /* stale: closing it still frees it */
	if (s == NULL)
		return CKR_SESSION_HANDLE_INVALID;
	s->open = 0;
	if (rv == CKR_OK && F.logout_on_last_close && open_on_slot(s->slot) == 0)
		F.slots[s->slot].logged_in = 0;
	return rv;
}

static CK_RV fake_C_CloseSession(CK_SESSION_HANDLE h)
{
	CK_RV rv = enter(FAKE_CLOSE_SESSION);

	return leave(rv != CKR_OK ? rv : do_close_session(h));
}

static CK_RV check_pin(struct fake_slot *slot, const unsigned char *pin, CK_ULONG len)
{
	if (slot->ti.flags & CKF_USER_PIN_LOCKED)
		return CKR_PIN_LOCKED;
	if (pin == NULL)
		return (slot->ti.flags & CKF_PROTECTED_AUTHENTICATION_PATH) ? CKR_OK
									    : CKR_ARGUMENTS_BAD;
	if (len != strlen(F.pin) || memcmp(pin, F.pin, len) != 0)
		return CKR_PIN_INCORRECT;
	return CKR_OK;
}

static CK_RV do_login(CK_SESSION_HANDLE h, CK_USER_TYPE user, unsigned char *pin, CK_ULONG len)
{
	struct fake_sess *s;
	struct fake_slot *slot;
	CK_RV rv = sess_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	slot = &F.slots[s->slot];
	if (user == CKU_CONTEXT_SPECIFIC) {
		if (!s->signing)
			return CKR_OPERATION_NOT_INITIALIZED;
		rv = check_pin(slot, pin, len);
		s->ctx_ok = rv == CKR_OK;
		return rv;
	}
	if (user != CKU_USER)
		return CKR_USER_TYPE_INVALID;
	if (slot->logged_in)
		return CKR_USER_ALREADY_LOGGED_IN;
	rv = check_pin(slot, pin, len);
	if (rv == CKR_OK)
		slot->logged_in = 1;
	return rv;
}

static CK_RV fake_C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, unsigned char *pin, CK_ULONG len)
{
	CK_RV rv = enter(FAKE_LOGIN);

	F.last.login_user = user;
	F.last.login_pin_null = pin == NULL;
	if (user == CKU_CONTEXT_SPECIFIC)
		F.last.context_logins++;
	else
		F.last.user_logins++;
	return leave(rv != CKR_OK ? rv : do_login(h, user, pin, len));
}

static CK_RV fake_C_Logout(CK_SESSION_HANDLE h)
{
	CK_RV rv = enter(FAKE_LOGOUT);
	struct fake_sess *s;

	if (rv == CKR_OK)
		rv = sess_get(h, &s);
	if (rv == CKR_OK && !F.slots[s->slot].logged_in)
		rv = CKR_USER_NOT_LOGGED_IN;
	if (rv == CKR_OK)
		F.slots[s->slot].logged_in = 0;
	return leave(rv);
}

/* ---- objects ---- */

static int attrs_match(struct fake_obj *o, const CK_ATTRIBUTE *t, CK_ULONG n)
{
	struct fake_attr *a;
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		a = attr_find(o, t[i].type);
		if (a == NULL || a->len != t[i].ulValueLen ||
			(a->len != 0 && memcmp(a->val, t[i].pValue, a->len) != 0))
			return 0;
	}
	return 1;
}

static CK_RV do_find_init(CK_SESSION_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG n)
{
	struct fake_sess *s;
	CK_RV rv = sess_get(h, &s);
	int i;

	if (rv != CKR_OK)
		return rv;
	if (s->finding)
		return CKR_OPERATION_ACTIVE;
	if (n > 0 && t == NULL)
		return CKR_ARGUMENTS_BAD;
	s->nfound = s->pos = 0;
	for (i = 0; s->slot == 0 && i < MAX_OBJS; i++)
		if (obj_visible(i) && attrs_match(&F.objs[i], t, n))
			s->found[s->nfound++] = F.handle_base + (CK_OBJECT_HANDLE)i + 1;
	s->finding = 1;
	return CKR_OK;
}

static CK_RV fake_C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_RV rv = enter(FAKE_FIND_OBJECTS_INIT);

	return leave(rv != CKR_OK ? rv : do_find_init(h, t, n));
}

static CK_RV do_find(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
	struct fake_sess *s;
	CK_RV rv = sess_get(h, &s);

	if (rv != CKR_OK)
		return rv;
	if (!s->finding)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (out == NULL || n == NULL)
		return CKR_ARGUMENTS_BAD;
	*n = 0;
	while (*n < max && s->pos < s->nfound)
		out[(*n)++] = s->found[s->pos++];
	return CKR_OK;
}

static CK_RV fake_C_FindObjects(
	CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
	CK_RV rv = enter(FAKE_FIND_OBJECTS);

	return leave(rv != CKR_OK ? rv : do_find(h, out, max, n));
}

static CK_RV fake_C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	CK_RV rv = enter(FAKE_FIND_OBJECTS_FINAL);
	struct fake_sess *s;

	if (rv == CKR_OK)
		rv = sess_get(h, &s);
	if (rv == CKR_OK && !s->finding)
		rv = CKR_OPERATION_NOT_INITIALIZED;
	if (rv == CKR_OK)
		s->finding = 0;
	return leave(rv);
}

static CK_RV get_one(struct fake_obj *o, CK_ATTRIBUTE *t)
{
	struct fake_attr *a = attr_find(o, t->type);

	if (a == NULL) {
		t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_ATTRIBUTE_TYPE_INVALID;
	}
	if (a->sensitive) {
		t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_ATTRIBUTE_SENSITIVE;
	}
	if (t->pValue == NULL) {
		t->ulValueLen = a->len;
		return CKR_OK;
	}
	if (t->ulValueLen < a->len) {
		t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(t->pValue, a->val, a->len);
	t->ulValueLen = a->len;
	return CKR_OK;
}

static CK_RV do_get_attrs(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE *t, CK_ULONG n)
{
	struct fake_sess *s;
	CK_RV rv = sess_get(h, &s), r;
	CK_ULONG i;
	int o;

	if (rv != CKR_OK)
		return rv;
	if ((o = obj_from_handle(oh)) < 0)
		return CKR_OBJECT_HANDLE_INVALID;
	if (t == NULL && n > 0)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < n; i++)
		if ((r = get_one(&F.objs[o], &t[i])) != CKR_OK)
			rv = r;
	return rv;
}

static CK_RV fake_C_GetAttributeValue(
	CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *t, CK_ULONG n)
{
	CK_RV rv = enter(FAKE_GET_ATTRIBUTE_VALUE);

	return leave(rv != CKR_OK ? rv : do_get_attrs(h, o, t, n));
}

/* ---- signing ---- */

static int has_mech(CK_MECHANISM_TYPE m)
{
	size_t i;

	for (i = 0; i < F.nmechs; i++)
		if (F.mechs[i] == m)
			return 1;
	return 0;
}

static CK_ULONG pss_hash_len(CK_MECHANISM_TYPE hash)
{
	return hash == CKM_SHA256 ? 32 : hash == CKM_SHA384 ? 48 : hash == CKM_SHA512 ? 64 : 0;
}

static CK_RV check_mech(struct fake_obj *key, const CK_MECHANISM *m, struct fake_sess *s)
{
	CK_KEY_TYPE kt = attr_ulong(key, CKA_KEY_TYPE, (CK_ULONG)-1);
	const CK_RSA_PKCS_PSS_PARAMS *p = m->pParameter;

	if (!has_mech(m->mechanism))
		return CKR_MECHANISM_INVALID;
	if ((m->mechanism == CKM_ECDSA) != (kt == CKK_EC))
		return CKR_KEY_TYPE_INCONSISTENT;
	F.last.has_pss = 0;
	s->pss_hash_len = 0;
	if (m->mechanism != CKM_RSA_PKCS_PSS)
		return m->pParameter == NULL ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
	if (p == NULL || m->ulParameterLen != sizeof(*p) || pss_hash_len(p->hashAlg) == 0)
		return CKR_MECHANISM_PARAM_INVALID;
	F.last.pss = *p;
	F.last.has_pss = 1;
	s->pss_hash_len = pss_hash_len(p->hashAlg);
	return CKR_OK;
}

static CK_RV do_sign_init(CK_SESSION_HANDLE h, CK_MECHANISM *m, CK_OBJECT_HANDLE kh)
{
	struct fake_sess *s;
	struct fake_obj *key;
	CK_RV rv = sess_get(h, &s);
	int o;

	if (rv != CKR_OK)
		return rv;
	if (s->signing)
		return CKR_OPERATION_ACTIVE;
	if (m == NULL)
		return CKR_ARGUMENTS_BAD;
	o = obj_from_handle(kh);
	if (o < 0 && kh > F.handle_base && kh <= F.handle_base + MAX_OBJS &&
		F.objs[kh - F.handle_base - 1].used)
		return F.not_logged_in_rv; /* a private key, hidden while logged out */
	if (o < 0)
		return CKR_KEY_HANDLE_INVALID;
	key = &F.objs[o];
	if (attr_ulong(key, CKA_CLASS, (CK_ULONG)-1) != CKO_PRIVATE_KEY ||
		!attr_bool(key, CKA_SIGN))
		return CKR_KEY_FUNCTION_NOT_PERMITTED;
	rv = check_mech(key, m, s);
	if (rv != CKR_OK)
		return rv;
	F.last.mech = m->mechanism;
	s->signing = 1;
	s->mech = m->mechanism;
	s->key = o;
	s->ctx_ok = 0;
	return CKR_OK;
}

static CK_RV fake_C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM *m, CK_OBJECT_HANDLE key)
{
	CK_RV rv = enter(FAKE_SIGN_INIT);

	return leave(rv != CKR_OK ? rv : do_sign_init(h, m, key));
}

/* Signature length of the key: 2 x field size for EC, the modulus for RSA. */
static CK_ULONG sig_len(struct fake_obj *key)
{
	struct fake_attr *a;

	if (F.have_sig)
		return F.siglen;
	if (attr_ulong(key, CKA_KEY_TYPE, 0) == CKK_EC) {
		a = attr_find(key, CKA_EC_PARAMS);
		return a != NULL && a->len == FAKE_P384_PARAMS_LEN ? 96 : 64;
	}
	a = attr_find(key, CKA_MODULUS);
	return a != NULL ? a->len : 256;
}

static CK_RV check_input(struct fake_sess *s, CK_ULONG len, CK_ULONG siglen)
{
	if (s->mech == CKM_RSA_PKCS_PSS && len != s->pss_hash_len)
		return CKR_DATA_LEN_RANGE;
	if (s->mech == CKM_RSA_PKCS && len + 11 > siglen)
		return CKR_DATA_LEN_RANGE;
	return CKR_OK;
}

static CK_RV do_sign(
	CK_SESSION_HANDLE h, unsigned char *in, CK_ULONG len, unsigned char *sig, CK_ULONG *siglen)
{
	struct fake_sess *s;
	CK_RV rv = sess_get(h, &s);
	CK_ULONG need, i;

	if (rv != CKR_OK)
		return rv;
	if (!s->signing)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (in == NULL || siglen == NULL)
		return CKR_ARGUMENTS_BAD;
	need = sig_len(&F.objs[s->key]);
	if (sig == NULL || *siglen < need) {
		rv = sig == NULL ? CKR_OK : CKR_BUFFER_TOO_SMALL;
		*siglen = need;
		return rv; /* the operation stays active */
	}
	s->signing = 0;
	if (attr_bool(&F.objs[s->key], CKA_ALWAYS_AUTHENTICATE) && !s->ctx_ok)
		return CKR_USER_NOT_LOGGED_IN;
	if ((rv = check_input(s, len, need)) != CKR_OK)
		return rv;
	F.last.inlen = len < sizeof(F.last.in) ? len : sizeof(F.last.in);
	memcpy(F.last.in, in, F.last.inlen);
	for (i = 0; i < need; i++)
		sig[i] = F.have_sig ? F.sig[i] : (unsigned char)(0x11 + i);
	*siglen = need;
	return CKR_OK;
}

static CK_RV fake_C_Sign(
	CK_SESSION_HANDLE h, unsigned char *in, CK_ULONG len, unsigned char *sig, CK_ULONG *siglen)
{
	CK_RV rv = enter(FAKE_SIGN);

	return leave(rv != CKR_OK ? rv : do_sign(h, in, len, sig, siglen));
}

static CK_FUNCTION_LIST fake_list = {
	.version = {2, 40},
	.C_Initialize = fake_C_Initialize,
	.C_Finalize = fake_C_Finalize,
	.C_GetSlotList = fake_C_GetSlotList,
	.C_GetSlotInfo = fake_C_GetSlotInfo,
	.C_GetTokenInfo = fake_C_GetTokenInfo,
	.C_GetMechanismList = fake_C_GetMechanismList,
	.C_OpenSession = fake_C_OpenSession,
	.C_CloseSession = fake_C_CloseSession,
	.C_Login = fake_C_Login,
	.C_Logout = fake_C_Logout,
	.C_GetAttributeValue = fake_C_GetAttributeValue,
	.C_FindObjectsInit = fake_C_FindObjectsInit,
	.C_FindObjects = fake_C_FindObjects,
	.C_FindObjectsFinal = fake_C_FindObjectsFinal,
	.C_SignInit = fake_C_SignInit,
	.C_Sign = fake_C_Sign,
};

/* ---- configuration ---- */

static void slot_init(
	struct fake_slot *s, CK_SLOT_ID id, const char *label, const char *serial, CK_FLAGS flags)
{
	memset(s, 0, sizeof(*s));
	s->used = 1;
	s->present = 1;
	s->id = id;
	pad(s->si.slotDescription, sizeof(s->si.slotDescription), "fake slot");
	pad(s->si.manufacturerID, sizeof(s->si.manufacturerID), "mtls tests");
	s->si.flags = CKF_TOKEN_PRESENT | CKF_REMOVABLE_DEVICE;
	pad(s->ti.label, sizeof(s->ti.label), label);
	pad(s->ti.manufacturerID, sizeof(s->ti.manufacturerID), "mtls tests");
	pad(s->ti.model, sizeof(s->ti.model), "fake");
	pad(s->ti.serialNumber, sizeof(s->ti.serialNumber), serial);
	s->ti.flags = flags;
	s->ti.ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	s->ti.ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	s->ti.ulMaxPinLen = 64;
	s->ti.ulMinPinLen = 4;
	s->ti.ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	s->ti.ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	s->ti.ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	s->ti.ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
}

static void objs_free(void)
{
	size_t i, j;

	for (i = 0; i < MAX_OBJS; i++)
		for (j = 0; j < F.objs[i].n; j++)
			free(F.objs[i].a[j].val);
	memset(F.objs, 0, sizeof(F.objs));
}

void fake_reset(void)
{
	static const CK_MECHANISM_TYPE mechs[] = {CKM_ECDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS};

	objs_free();
	memset(&F, 0, sizeof(F));
	slot_init(&F.slots[0], FAKE_SLOT, FAKE_LABEL, FAKE_SERIAL, FAKE_DEFAULT_FLAGS);
	F.handle_base = 0x1000;
	F.next_session = 0x100;
	F.logout_on_last_close = 1;
	F.not_logged_in_rv = CKR_USER_NOT_LOGGED_IN;
	fake_set_mechanisms(mechs, sizeof(mechs) / sizeof(mechs[0]));
	fake_set_pin(FAKE_PIN);
	module_set_fake(FAKE_MODULE, &fake_list);
}

CK_FUNCTION_LIST *fake_function_list(void)
{
	return &fake_list;
}

void fake_set_initialized(int on)
{
	F.initialized = on;
}

int fake_is_initialized(void)
{
	return F.initialized;
}

unsigned long fake_calls(enum fake_fn fn)
{
	return F.calls[fn];
}

static void add_fault(
	enum fake_fn fn, unsigned long nth, int from, CK_RV rv, void (*hook)(void *), void *arg)
{
	int i;

	for (i = 0; i < MAX_FAULTS; i++)
		if (!F.faults[i].used)
			break;
	if (i == MAX_FAULTS) {
		fprintf(stderr, "fakep11: more than %d injected failures\n", MAX_FAULTS);
		abort();
	}
	F.faults[i] =
		(struct fake_fault){1, fn, F.calls[fn] + (nth ? nth : 1), from, rv, hook, arg};
}

void fake_fail(enum fake_fn fn, unsigned long nth, CK_RV rv)
{
	add_fault(fn, nth, 0, rv, NULL, NULL);
}

void fake_fail_from(enum fake_fn fn, unsigned long nth, CK_RV rv)
{
	add_fault(fn, nth, 1, rv, NULL, NULL);
}

void fake_on_call(enum fake_fn fn, unsigned long nth, CK_RV rv, void (*hook)(void *), void *arg)
{
	add_fault(fn, nth, 0, rv, hook, arg);
}

void fake_fail_clear(void)
{
	memset(F.faults, 0, sizeof(F.faults));
}

void fake_set_slot_id(CK_SLOT_ID id)
{
	F.slots[0].id = id;
}

void fake_set_label(const char *label)
{
	pad(F.slots[0].ti.label, sizeof(F.slots[0].ti.label), label);
}

void fake_set_serial(const char *serial)
{
	pad(F.slots[0].ti.serialNumber, sizeof(F.slots[0].ti.serialNumber), serial);
}

void fake_set_flags(CK_FLAGS flags)
{
	F.slots[0].ti.flags = flags;
}

void fake_set_max_sessions(CK_ULONG max)
{
	F.slots[0].ti.ulMaxSessionCount = max;
}

void fake_set_session_limit(unsigned limit)
{
	F.session_limit = limit;
}

void fake_set_slot_description(const char *desc)
{
	pad(F.slots[0].si.slotDescription, sizeof(F.slots[0].si.slotDescription), desc);
}

void fake_set_mechanisms(const CK_MECHANISM_TYPE *mechs, size_t n)
{
	F.nmechs = n < MAX_MECHS ? n : MAX_MECHS;
	if (F.nmechs > 0)
		memcpy(F.mechs, mechs, F.nmechs * sizeof(*mechs));
}

void fake_set_pin(const char *pin)
{
	snprintf(F.pin, sizeof(F.pin), "%s", pin);
}

void fake_set_not_logged_in_rv(CK_RV rv)
{
	F.not_logged_in_rv = rv;
}

void fake_add_slot(CK_SLOT_ID id, const char *label, const char *serial, CK_FLAGS flags)
{
	int i;

	for (i = 1; i < MAX_SLOTS; i++)
		if (!F.slots[i].used) {
			slot_init(&F.slots[i], id, label, serial, flags);
			return;
		}
	abort();
}

void fake_remove_token(void)
{
	F.slots[0].present = 0;
	F.slots[0].logged_in = 0;
	F.slots[0].epoch++;
}

void fake_insert_token(CK_SLOT_ID id)
{
	F.slots[0].present = 1;
	F.slots[0].id = id;
	fake_renumber_objects();
}

void fake_logout_all(void)
{
	F.slots[0].logged_in = 0;
}

void fake_set_logged_in(void)
{
	F.slots[0].logged_in = 1;
}

void fake_drop_sessions(void)
{
	int i;

	for (i = 0; i < MAX_SESSIONS; i++)
		if (F.sess[i].slot == 0)
			F.sess[i].open = 0;
	F.slots[0].logged_in = 0;
}

void fake_set_logout_on_last_close(int on)
{
	F.logout_on_last_close = on;
}

int fake_logged_in(void)
{
	return F.slots[0].logged_in;
}

unsigned fake_open_sessions(void)
{
	unsigned n = 0;
	int i;

	for (i = 0; i < MAX_SESSIONS; i++)
		n += F.sess[i].open != 0;
	return n;
}

/* ---- objects ---- */

static int obj_new(CK_OBJECT_CLASS cls, const char *label, const void *id, size_t idlen)
{
	int i;

	for (i = 0; i < MAX_OBJS; i++)
		if (!F.objs[i].used)
			break;
	if (i == MAX_OBJS)
		abort();
	F.objs[i].used = 1;
	fake_obj_set_ulong(i, CKA_CLASS, cls);
	fake_obj_set_bool(i, CKA_TOKEN, CK_TRUE);
	if (label != NULL)
		fake_obj_set(i, CKA_LABEL, label, strlen(label));
	if (id != NULL)
		fake_obj_set(i, CKA_ID, id, idlen);
	return i;
}

static int private_key(CK_KEY_TYPE kt, const char *label, const void *id, size_t idlen)
{
	int o = obj_new(CKO_PRIVATE_KEY, label, id, idlen);

	fake_obj_set_ulong(o, CKA_KEY_TYPE, kt);
	fake_obj_set_bool(o, CKA_PRIVATE, CK_TRUE);
	fake_obj_set_bool(o, CKA_SENSITIVE, CK_TRUE);
	fake_obj_set_bool(o, CKA_SIGN, CK_TRUE);
	fake_obj_set_bool(o, CKA_ALWAYS_AUTHENTICATE, CK_FALSE);
	return o;
}

int fake_add_ec_key(const char *label, const void *id, size_t idlen, int curve_bits)
{
	int o = private_key(CKK_EC, label, id, idlen);

	if (curve_bits == 384)
		fake_obj_set(o, CKA_EC_PARAMS, FAKE_P384_PARAMS, FAKE_P384_PARAMS_LEN);
	else
		fake_obj_set(o, CKA_EC_PARAMS, FAKE_P256_PARAMS, FAKE_P256_PARAMS_LEN);
	return o;
}

int fake_add_rsa_key(const char *label, const void *id, size_t idlen, unsigned bits)
{
	int o = private_key(CKK_RSA, label, id, idlen);
	uint8_t mod[1024];
	size_t len = bits / 8, i;

	if (len == FAKE_RSA_MODULUS_LEN) {
		memcpy(mod, FAKE_RSA_MODULUS, len);
	} else {
		for (i = 0; i < len && i < sizeof(mod); i++)
			mod[i] = (uint8_t)(0xc1 ^ i);
	}
	fake_obj_set(o, CKA_MODULUS, mod, len < sizeof(mod) ? len : sizeof(mod));
	fake_obj_set(o, CKA_PUBLIC_EXPONENT, FAKE_RSA_EXPONENT, FAKE_RSA_EXPONENT_LEN);
	return o;
}

int fake_add_ec_pub(const char *label, const void *id, size_t idlen, int curve_bits)
{
	int o = obj_new(CKO_PUBLIC_KEY, label, id, idlen);
	const uint8_t *pt = curve_bits == 384 ? FAKE_P384_POINT : FAKE_P256_POINT;
	size_t len = curve_bits == 384 ? FAKE_P384_POINT_LEN : FAKE_P256_POINT_LEN;
	uint8_t wrapped[2 + 97];

	wrapped[0] = 0x04;
	wrapped[1] = (uint8_t)len;
	memcpy(wrapped + 2, pt, len);
	fake_obj_set_ulong(o, CKA_KEY_TYPE, CKK_EC);
	fake_obj_set(o, CKA_EC_PARAMS, curve_bits == 384 ? FAKE_P384_PARAMS : FAKE_P256_PARAMS,
		curve_bits == 384 ? FAKE_P384_PARAMS_LEN : FAKE_P256_PARAMS_LEN);
	fake_obj_set(o, CKA_EC_POINT, wrapped, len + 2);
	return o;
}

int fake_add_cert(const char *label, const void *id, size_t idlen, const void *der, size_t len)
{
	int o = obj_new(CKO_CERTIFICATE, label, id, idlen);

	fake_obj_set_ulong(o, CKA_CERTIFICATE_TYPE, CKC_X_509);
	fake_obj_set(o, CKA_VALUE, der, len);
	return o;
}

void fake_obj_set(int obj, CK_ATTRIBUTE_TYPE type, const void *val, size_t len)
{
	struct fake_obj *o = &F.objs[obj];
	struct fake_attr *a = attr_find(o, type);

	if (a == NULL) {
		if (o->n == MAX_ATTRS)
			abort();
		a = &o->a[o->n++];
		a->type = type;
	}
	free(a->val);
	a->val = malloc(len ? len : 1);
	if (a->val == NULL)
		abort();
	if (len > 0)
		memcpy(a->val, val, len);
	a->len = len;
	a->sensitive = 0;
}

void fake_obj_set_bool(int obj, CK_ATTRIBUTE_TYPE type, CK_BBOOL v)
{
	fake_obj_set(obj, type, &v, sizeof(v));
}

void fake_obj_set_ulong(int obj, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
	fake_obj_set(obj, type, &v, sizeof(v));
}

void fake_obj_unset(int obj, CK_ATTRIBUTE_TYPE type)
{
	struct fake_obj *o = &F.objs[obj];
	struct fake_attr *a = attr_find(o, type);

	if (a == NULL)
		return;
	free(a->val);
	*a = o->a[--o->n];
}

void fake_obj_sensitive(int obj, CK_ATTRIBUTE_TYPE type)
{
	struct fake_attr *a = attr_find(&F.objs[obj], type);

	if (a != NULL)
		a->sensitive = 1;
}

void fake_obj_delete(int obj)
{
	size_t j;

	for (j = 0; j < F.objs[obj].n; j++)
		free(F.objs[obj].a[j].val);
	memset(&F.objs[obj], 0, sizeof(F.objs[obj]));
}

CK_OBJECT_HANDLE fake_handle(int obj)
{
	return F.handle_base + (CK_OBJECT_HANDLE)obj + 1;
}

void fake_renumber_objects(void)
{
	F.handle_base += 0x1000;
}

void fake_set_signature(const uint8_t *sig, size_t len)
{
	F.have_sig = 1;
	F.siglen = len < sizeof(F.sig) ? len : sizeof(F.sig);
	memcpy(F.sig, sig, F.siglen);
}

const struct fake_last *fake_last(void)
{
	return &F.last;
}

/* ---- tracking what tests open ---- */

int __real_p11_key_open(const char *uri, const struct p11_options *opt, struct p11_key **out);
int __wrap_p11_key_open(const char *uri, const struct p11_options *opt, struct p11_key **out);
void __real_p11_key_free(struct p11_key *key);
void __wrap_p11_key_free(struct p11_key *key);
int __real_p11_token_open(const char *uri, const struct p11_options *opt, struct p11_token **out);
int __wrap_p11_token_open(const char *uri, const struct p11_options *opt, struct p11_token **out);
void __real_p11_token_free(struct p11_token *tok);
void __wrap_p11_token_free(struct p11_token *tok);

#define TRACK_MAX 128
static pthread_mutex_t track_mu = PTHREAD_MUTEX_INITIALIZER;
static struct tracked {
	void *p;
	int is_key;
} tracked[TRACK_MAX];
static size_t ntracked;
static _Thread_local int in_key_free; /* p11_key_free drops its token itself */

static void track(void *p, int is_key)
{
	pthread_mutex_lock(&track_mu);
	if (ntracked < TRACK_MAX)
		tracked[ntracked++] = (struct tracked){p, is_key};
	pthread_mutex_unlock(&track_mu);
}

static void untrack(void *p, int is_key)
{
	size_t i;

	pthread_mutex_lock(&track_mu);
	for (i = ntracked; i > 0; i--)
		if (tracked[i - 1].p == p && tracked[i - 1].is_key == is_key) {
			tracked[i - 1] = tracked[--ntracked];
			break;
		}
	pthread_mutex_unlock(&track_mu);
}

int __wrap_p11_key_open(const char *uri, const struct p11_options *opt, struct p11_key **out)
{
	int rc = __real_p11_key_open(uri, opt, out);

	if (rc == 0)
		track(*out, 1);
	return rc;
}

void __wrap_p11_key_free(struct p11_key *key)
{
	untrack(key, 1);
	in_key_free++;
	__real_p11_key_free(key);
	in_key_free--;
}

int __wrap_p11_token_open(const char *uri, const struct p11_options *opt, struct p11_token **out)
{
	int rc = __real_p11_token_open(uri, opt, out);

	if (rc == 0)
		track(*out, 0);
	return rc;
}

void __wrap_p11_token_free(struct p11_token *tok)
{
	if (!in_key_free)
		untrack(tok, 0);
	__real_p11_token_free(tok);
}

/* Keys first: each holds a reference to its token. */
static size_t release_kind(int keys)
{
	size_t n = 0, i;
	void *p;

	for (;;) {
		p = NULL;
		pthread_mutex_lock(&track_mu);
		for (i = ntracked; i > 0 && p == NULL; i--)
			if (tracked[i - 1].is_key == keys)
				p = tracked[i - 1].p;
		pthread_mutex_unlock(&track_mu);
		if (p == NULL)
			return n;
		if (keys)
			__wrap_p11_key_free(p);
		else
			__wrap_p11_token_free(p);
		n++;
	}
}

int fake_teardown(void)
{
	size_t leaked = release_kind(1);
	int rc = 0;

	leaked += release_kind(0);
	if (leaked > 0) {
		fprintf(stderr, "teardown: the test left %zu keys/tokens open (freed now)\n",
			leaked);
		rc = -1;
	}
	if (fake_is_initialized()) {
		fprintf(stderr,
			"teardown: the fake module is still initialised: the bridge "
			"kept a reference\n");
		F.initialized = 0;
		rc = -1;
	}
	return rc;
}

/* ---- helpers for tests ---- */

const char *fake_uri(const char *path, const char *query)
{
	static char bufs[4][1024];
	static unsigned next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "pkcs11:%s?module-path=" FAKE_MODULE "%s", path ? path : "",
		query ? query : "");
	return b;
}

static char tmpdir[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void tmp_cleanup(void)
{
	if (tmpdir[0] != '\0')
		(void)nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

const char *fake_tmpdir(void)
{
	if (tmpdir[0] == '\0') {
		snprintf(tmpdir, sizeof(tmpdir), "/tmp/mtls-unit-XXXXXX");
		if (mkdtemp(tmpdir) == NULL)
			abort();
		atexit(tmp_cleanup);
	}
	return tmpdir;
}

const char *fake_file(const char *name, const void *data, size_t len, mode_t mode)
{
	static char bufs[4][256];
	static unsigned next;
	char *path = bufs[next++ % 4];
	FILE *f;

	snprintf(path, sizeof(bufs[0]), "%s/%s", fake_tmpdir(), name);
	(void)unlink(path);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		abort();
	if (chmod(path, mode) != 0)
		abort();
	return path;
}
