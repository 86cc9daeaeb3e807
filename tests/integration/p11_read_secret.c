/* p11-read-secret: try to read a private key's secret parts, as an
 * attacker with the PIN would, through a PKCS#11 client of its own (not
 * the bridge, so that a bug there cannot hide a readable key).
 *
 *   p11-read-secret [--or-absent] MODULE TOKEN-LABEL PIN-FILE ID-HEX ATTR...
 *
 * ATTR is CKA_VALUE, CKA_PRIVATE_EXPONENT, CKA_PRIME_1 or CKA_PRIME_2.
 * Prints one line per attribute, "ATTR: CKR_NAME". Exit 0 if exactly one
 * private key has the id and every attribute read failed with
 * CKR_ATTRIBUTE_SENSITIVE (with --or-absent, CKR_ATTRIBUTE_TYPE_INVALID
 * counts too: tpm2-pkcs11 keeps no such attribute at all, the key lives in
 * the TPM); 1 otherwise (a value came back, another error, no such key); 2
 * on bad usage. A test tool: it includes pkcs11.h itself. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST *fl;
static int or_absent;

static const char *rv_name(CK_RV rv)
{
	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_ATTRIBUTE_SENSITIVE: return "CKR_ATTRIBUTE_SENSITIVE";
	case CKR_ATTRIBUTE_TYPE_INVALID: return "CKR_ATTRIBUTE_TYPE_INVALID";
	case CKR_OBJECT_HANDLE_INVALID: return "CKR_OBJECT_HANDLE_INVALID";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	default: return "another CK_RV";
	}
}

static int attr_of(const char *name, CK_ATTRIBUTE_TYPE *t)
{
	static const struct {
		const char *name;
		CK_ATTRIBUTE_TYPE type;
	} names[] = {{"CKA_VALUE", CKA_VALUE}, {"CKA_PRIVATE_EXPONENT", CKA_PRIVATE_EXPONENT},
		{"CKA_PRIME_1", CKA_PRIME_1}, {"CKA_PRIME_2", CKA_PRIME_2}};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i].name) == 0) {
			*t = names[i].type;
			return 0;
		}
	return -1;
}

static size_t unhex(const char *s, unsigned char *out, size_t max)
{
	size_t n = 0;
	unsigned v;

	while (s[0] && s[1] && n < max && sscanf(s, "%2x", &v) == 1) {
		out[n++] = (unsigned char)v;
		s += 2;
	}
	return *s ? 0 : n;
}

/* The slot whose token label is exactly label (full-width compare). */
static int find_slot(const char *label, CK_SLOT_ID *slot)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	unsigned char want[32];
	size_t len = strlen(label);

	if (len > sizeof(want) || fl->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return -1;
	memset(want, ' ', sizeof(want));
	memcpy(want, label, len);
	for (i = 0; i < n; i++)
		if (fl->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
			memcmp(ti.label, want, sizeof(want)) == 0) {
			*slot = slots[i];
			return 0;
		}
	return -1;
}

static int login(CK_SESSION_HANDLE s, const char *pin_file)
{
	char pin[256];
	FILE *f = fopen(pin_file, "r");
	size_t n = f ? fread(pin, 1, sizeof(pin) - 1, f) : 0;
	CK_RV rv;

	if (f != NULL)
		fclose(f);
	while (n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r'))
		n--;
	rv = fl->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)pin, n);
	memset(pin, 0, sizeof(pin));
	return rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN ? 0 : -1;
}

static int find_key(CK_SESSION_HANDLE s, unsigned char *id, size_t idlen, CK_OBJECT_HANDLE *h)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE t[2] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_ID, id, idlen}};
	CK_OBJECT_HANDLE found[2];
	CK_ULONG n = 0;

	if (fl->C_FindObjectsInit(s, t, 2) != CKR_OK)
		return -1;
	if (fl->C_FindObjects(s, found, 2, &n) != CKR_OK)
		n = 0;
	fl->C_FindObjectsFinal(s);
	if (n != 1)
		return -1;
	*h = found[0];
	return 0;
}

/* Ask for the length, then (whatever it said) for the value itself. */
static int read_attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, const char *name)
{
	static unsigned char buf[8192];
	CK_ATTRIBUTE a;
	CK_RV rv1, rv2;

	if (attr_of(name, &a.type) != 0) {
		fprintf(stderr, "p11-read-secret: unknown attribute %s\n", name);
		return -1;
	}
	a.pValue = NULL;
	a.ulValueLen = 0;
	rv1 = fl->C_GetAttributeValue(s, h, &a, 1);
	a.pValue = buf;
	a.ulValueLen = sizeof(buf);
	rv2 = fl->C_GetAttributeValue(s, h, &a, 1);
	printf("%s: %s\n", name, rv_name(rv2));
	if (rv1 == CKR_ATTRIBUTE_SENSITIVE && rv2 == CKR_ATTRIBUTE_SENSITIVE)
		return 0;
	if (or_absent && rv1 == CKR_ATTRIBUTE_TYPE_INVALID && rv2 == CKR_ATTRIBUTE_TYPE_INVALID)
		return 0;
	return -1;
}

int main(int argc, char **argv)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE h;
	CK_SLOT_ID slot;
	unsigned char id[64];
	size_t idlen;
	void *lib;
	int i, bad = 0;

	if (argc > 1 && strcmp(argv[1], "--or-absent") == 0) {
		or_absent = 1;
		argc--;
		argv++;
	}
	if (argc < 6 || (idlen = unhex(argv[4], id, sizeof(id))) == 0) {
		fprintf(stderr, "usage: p11-read-secret MODULE TOKEN PIN-FILE ID-HEX ATTR...\n");
		return 2;
	}
	lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	get = lib ? (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(lib, "C_GetFunctionList") : NULL;
	if (get == NULL || get(&fl) != CKR_OK || fl->C_Initialize(NULL) != CKR_OK) {
		fprintf(stderr, "p11-read-secret: cannot load %s\n", argv[1]);
		return 1;
	}
	if (find_slot(argv[2], &slot) != 0 ||
		fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK ||
		login(s, argv[3]) != 0 || find_key(s, id, idlen, &h) != 0) {
		fprintf(stderr,
			"p11-read-secret: no token %s, no login, or not one key with id %s\n",
			argv[2], argv[4]);
		fl->C_Finalize(NULL);
		return 1;
	}
	for (i = 5; i < argc; i++)
		if (read_attr(s, h, argv[i]) != 0)
			bad = 1;
	fl->C_CloseSession(s);
	fl->C_Finalize(NULL); /* tpm2-pkcs11 leaks TPM object slots without it */
	return bad;
}
