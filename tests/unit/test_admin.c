/* admin_keygen.c against the fake token: the attributes C_GenerateKeyPair
 * is given, the read-back that destroys a key whose token did not make it
 * sensitive and never extractable (naming the attribute), and the refusals
 * that come before anything is made (taken id or label, no login, no
 * mechanism, conflicting names). The fake has no key generation of its
 * own: this file adds C_GenerateKeyPair and C_DestroyObject to a copy of
 * its function table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bridge.h"
#include "fakep11.h"
#include "mtls/err.h"
#include "mtls/p11_admin.h"

/* What the token makes of the templates, and what it was asked. */
static struct {
	CK_BBOOL always_sensitive, never_extractable, extractable, sensitive;
	unsigned long generated, destroyed;
	CK_OBJECT_HANDLE destroyed_h[4];
	CK_MECHANISM_TYPE mech;
	int pub_obj, priv_obj;
	/* the templates, as attribute -> value (bools) or bytes */
	CK_BBOOL priv_bool[5], pub_bool[3];
	uint8_t ec_params[16];
	size_t ec_params_len;
	CK_ULONG modulus_bits;
	uint8_t exponent[8];
	size_t exponent_len;
	uint8_t id[64];
	size_t idlen;
	char label[64];
	/* C_SetAttributeValue on the new private key: uses turned off */
	CK_ATTRIBUTE_TYPE set_false[4];
	size_t nset;
} G;

static CK_FUNCTION_LIST fl;

static const CK_ATTRIBUTE *find(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
	CK_ULONG i;

	for (i = 0; i < n; i++)
		if (t[i].type == type)
			return &t[i];
	return NULL;
}

static CK_BBOOL get_b(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type)
{
	const CK_ATTRIBUTE *a = find(t, n, type);

	return a != NULL && a->ulValueLen == 1 ? *(CK_BBOOL *)a->pValue : 0xff;
}

static void record(CK_ATTRIBUTE *pub, CK_ULONG npub, CK_ATTRIBUTE *priv, CK_ULONG npriv)
{
	static const CK_ATTRIBUTE_TYPE pb[] = {
		CKA_TOKEN, CKA_PRIVATE, CKA_SIGN, CKA_SENSITIVE, CKA_EXTRACTABLE};
	static const CK_ATTRIBUTE_TYPE ub[] = {CKA_TOKEN, CKA_VERIFY, CKA_PRIVATE};
	const CK_ATTRIBUTE *a;
	size_t i;

	for (i = 0; i < 5; i++)
		G.priv_bool[i] = get_b(priv, npriv, pb[i]);
	for (i = 0; i < 3; i++)
		G.pub_bool[i] = get_b(pub, npub, ub[i]);
	if ((a = find(pub, npub, CKA_EC_PARAMS)) != NULL && a->ulValueLen <= sizeof(G.ec_params)) {
		memcpy(G.ec_params, a->pValue, a->ulValueLen);
		G.ec_params_len = a->ulValueLen;
	}
	if ((a = find(pub, npub, CKA_MODULUS_BITS)) != NULL)
		G.modulus_bits = *(CK_ULONG *)a->pValue;
	if ((a = find(pub, npub, CKA_PUBLIC_EXPONENT)) != NULL && a->ulValueLen <= 8) {
		memcpy(G.exponent, a->pValue, a->ulValueLen);
		G.exponent_len = a->ulValueLen;
	}
	a = find(priv, npriv, CKA_ID);
	assert_non_null(a);
	assert_memory_equal(a->pValue, find(pub, npub, CKA_ID)->pValue, a->ulValueLen);
	memcpy(G.id, a->pValue, a->ulValueLen);
	G.idlen = a->ulValueLen;
	a = find(priv, npriv, CKA_LABEL);
	assert_non_null(a);
	assert_true(a->ulValueLen < sizeof(G.label));
	memcpy(G.label, a->pValue, a->ulValueLen);
	G.label[a->ulValueLen] = '\0';
}

static CK_RV gen_pair(CK_SESSION_HANDLE s, CK_MECHANISM *m, CK_ATTRIBUTE *pub, CK_ULONG npub,
	CK_ATTRIBUTE *priv, CK_ULONG npriv, CK_OBJECT_HANDLE *hpub, CK_OBJECT_HANDLE *hpriv)
{
	(void)s;
	G.generated++;
	G.mech = m->mechanism;
	if (!fake_logged_in())
		return CKR_USER_NOT_LOGGED_IN;
	record(pub, npub, priv, npriv);
	G.priv_obj = m->mechanism == CKM_EC_KEY_PAIR_GEN
		? fake_add_ec_key(G.label, G.id, G.idlen, 256)
		: fake_add_rsa_key(G.label, G.id, G.idlen, (unsigned)G.modulus_bits);
	G.pub_obj = fake_add_ec_pub(G.label, G.id, G.idlen, 256);
	fake_obj_set_bool(G.priv_obj, CKA_SENSITIVE, G.sensitive);
	fake_obj_set_bool(G.priv_obj, CKA_ALWAYS_SENSITIVE, G.always_sensitive);
	fake_obj_set_bool(G.priv_obj, CKA_NEVER_EXTRACTABLE, G.never_extractable);
	fake_obj_set_bool(G.priv_obj, CKA_EXTRACTABLE, G.extractable);
	*hpub = fake_handle(G.pub_obj);
	*hpriv = fake_handle(G.priv_obj);
	return CKR_OK;
}

static CK_RV set_attr(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *t, CK_ULONG n)
{
	(void)s;
	if (h != fake_handle(G.priv_obj) || n != 1 || t->ulValueLen != 1 ||
		*(CK_BBOOL *)t->pValue != CK_FALSE || G.nset == 4)
		return CKR_ARGUMENTS_BAD;
	G.set_false[G.nset++] = t->type;
	/* like a TPM, whose key's uses are fixed: refused, and keygen goes on */
	return t->type == CKA_DERIVE ? CKR_ATTRIBUTE_READ_ONLY : CKR_OK;
}

static CK_RV destroy(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h)
{
	(void)s;
	if (G.destroyed < 4)
		G.destroyed_h[G.destroyed] = h;
	G.destroyed++;
	if (h == fake_handle(G.priv_obj))
		fake_obj_delete(G.priv_obj);
	else if (h == fake_handle(G.pub_obj))
		fake_obj_delete(G.pub_obj);
	else
		return CKR_OBJECT_HANDLE_INVALID;
	return CKR_OK;
}

static int setup(void **state)
{
	static const CK_MECHANISM_TYPE mechs[] = {
		CKM_ECDSA, CKM_RSA_PKCS_PSS, CKM_EC_KEY_PAIR_GEN, CKM_RSA_PKCS_KEY_PAIR_GEN};

	(void)state;
	fake_reset();
	fake_set_mechanisms(mechs, sizeof(mechs) / sizeof(mechs[0]));
	fake_add_ec_key("taken", "\x01", 1, 256);
	fake_add_cert("certlabel", "\x77", 1, "der", 3);
	fl = *fake_function_list();
	fl.C_GenerateKeyPair = gen_pair;
	fl.C_DestroyObject = destroy;
	fl.C_SetAttributeValue = set_attr;
	module_set_fake(FAKE_MODULE, &fl);
	memset(&G, 0, sizeof(G));
	G.sensitive = G.always_sensitive = G.never_extractable = CK_TRUE;
	G.extractable = CK_FALSE;
	G.priv_obj = G.pub_obj = -1;
	mtls_err_clear();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return fake_teardown();
}

static struct p11_options opts(void)
{
	struct p11_options o = {.wait_ms = 100};

	o.pin_file = fake_file("pin", FAKE_PIN, 4, 0600);
	return o;
}

static int keygen(const char *path, enum p11_admin_keytype type, const char *id, size_t idlen,
	const char *label, char **uri)
{
	struct p11_options o = opts();
	struct p11_admin_keygen req = {type, (const uint8_t *)id, idlen, label};

	*uri = NULL;
	return p11_admin_keygen(fake_uri(path, NULL), &o, &req, uri);
}

static void ec_key_made_with_explicit_attributes(void **state)
{
	static const uint8_t p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
	char *uri;

	(void)state;
	assert_int_equal(
		keygen("token=fake;object=new", P11_GEN_EC_P256, "\x42", 1, NULL, &uri), 0);
	assert_int_equal(G.generated, 1);
	assert_int_equal(G.mech, CKM_EC_KEY_PAIR_GEN);
	/* private: TOKEN, PRIVATE, SIGN, SENSITIVE true; EXTRACTABLE false */
	assert_int_equal(G.priv_bool[0], CK_TRUE);
	assert_int_equal(G.priv_bool[1], CK_TRUE);
	assert_int_equal(G.priv_bool[2], CK_TRUE);
	assert_int_equal(G.priv_bool[3], CK_TRUE);
	assert_int_equal(G.priv_bool[4], CK_FALSE);
	/* public: TOKEN, VERIFY true, PRIVATE false */
	assert_int_equal(G.pub_bool[0], CK_TRUE);
	assert_int_equal(G.pub_bool[1], CK_TRUE);
	assert_int_equal(G.pub_bool[2], CK_FALSE);
	assert_int_equal(G.ec_params_len, sizeof(p256));
	assert_memory_equal(G.ec_params, p256, sizeof(p256));
	assert_int_equal(G.idlen, 1);
	assert_int_equal(G.id[0], 0x42);
	assert_string_equal(G.label, "new");
	assert_int_equal(G.destroyed, 0);
	/* then: signs and nothing else (one refusal does not fail keygen) */
	assert_int_equal(G.nset, 3);
	assert_int_equal(G.set_false[0], CKA_DECRYPT);
	assert_int_equal(G.set_false[1], CKA_UNWRAP);
	assert_int_equal(G.set_false[2], CKA_DERIVE);
	assert_non_null(uri);
	assert_non_null(strstr(uri, "token=fake"));
	assert_non_null(strstr(uri, "id=%42"));
	assert_non_null(strstr(uri, "object=new"));
	assert_non_null(strstr(uri, "type=private"));
	assert_non_null(strstr(uri, "module-path="));
	free(uri);
}

static void rsa_key_gets_bits_and_exponent_65537(void **state)
{
	char *uri;

	(void)state;
	assert_int_equal(keygen("token=fake", P11_GEN_RSA_3072, "\x43", 1, "r", &uri), 0);
	assert_int_equal(G.mech, CKM_RSA_PKCS_KEY_PAIR_GEN);
	assert_int_equal(G.modulus_bits, 3072);
	assert_int_equal(G.exponent_len, 3);
	assert_memory_equal(G.exponent, "\x01\x00\x01", 3);
	free(uri);
}

static void no_id_anywhere_gives_eight_random_bytes(void **state)
{
	uint8_t first[8];
	char *uri;

	(void)state;
	assert_int_equal(keygen("token=fake", P11_GEN_EC_P256, NULL, 0, "a", &uri), 0);
	assert_int_equal(G.idlen, 8);
	memcpy(first, G.id, 8);
	free(uri);
	assert_int_equal(keygen("token=fake", P11_GEN_EC_P256, NULL, 0, "b", &uri), 0);
	assert_int_equal(G.idlen, 8);
	assert_memory_not_equal(first, G.id, 8);
	free(uri);
}

/* The token makes the key with one attribute wrong: both objects are
 * destroyed and the attribute is named. */
static void bad_read_back(CK_BBOOL *which, CK_BBOOL value, const char *name)
{
	char *uri;
	CK_OBJECT_HANDLE priv, pub;

	setup(NULL);
	*which = value;
	assert_int_equal(keygen("token=fake;object=bad", P11_GEN_EC_P256, "\x50", 1, NULL, &uri),
		MTLS_ERR_KEY);
	assert_null(uri);
	assert_detail_has(name);
	assert_detail_has("both new objects were destroyed again");
	assert_int_equal(G.generated, 1);
	assert_int_equal(G.destroyed, 2);
	priv = fake_handle(G.priv_obj);
	pub = fake_handle(G.pub_obj);
	assert_true((G.destroyed_h[0] == priv && G.destroyed_h[1] == pub) ||
		(G.destroyed_h[0] == pub && G.destroyed_h[1] == priv));
	assert_int_equal(teardown(NULL), 0);
}

static void key_not_made_non_exportable_is_destroyed(void **state)
{
	(void)state;
	bad_read_back(&G.sensitive, CK_FALSE, "CKA_SENSITIVE FALSE");
	bad_read_back(&G.always_sensitive, CK_FALSE, "CKA_ALWAYS_SENSITIVE FALSE");
	bad_read_back(&G.never_extractable, CK_FALSE, "CKA_NEVER_EXTRACTABLE FALSE");
	bad_read_back(&G.extractable, CK_TRUE, "CKA_EXTRACTABLE TRUE");
	setup(NULL); /* for the teardown that cmocka runs */
}

static void refused(const char *path, const char *id, const char *label, int want, const char *why)
{
	char *uri;

	assert_int_equal(keygen(path, P11_GEN_EC_P256, id, id ? 1 : 0, label, &uri), want);
	assert_null(uri);
	assert_detail_has(why);
	assert_int_equal(G.generated, 0);
	assert_int_equal(G.destroyed, 0);
}

static void taken_id_or_label_of_any_object_is_refused(void **state)
{
	(void)state;
	refused("token=fake", "\x01", "fresh", MTLS_ERR_ARG, "already has id 01");
	refused("token=fake", "\x77", "fresh", MTLS_ERR_ARG, "already has id 77"); /* a cert */
	refused("token=fake", "\x60", "taken", MTLS_ERR_ARG, "already has the label \"taken\"");
	refused("token=fake;object=certlabel", "\x60", NULL, MTLS_ERR_ARG, "label \"certlabel\"");
}

static void conflicting_or_missing_names_are_refused(void **state)
{
	(void)state;
	refused("token=fake;object=a", NULL, "b", MTLS_ERR_ARG, "object= and --label differ");
	refused("token=fake;id=%01", "\x02", "a", MTLS_ERR_ARG, "id= and --id differ");
	refused("token=fake", NULL, NULL, MTLS_ERR_ARG, "needs a label");
	refused("token=fake;type=cert", NULL, "a", MTLS_ERR_URI, "type=private");
}

static void token_without_pin_source_or_mechanism_is_refused(void **state)
{
	static const CK_MECHANISM_TYPE ecdsa_only[] = {CKM_ECDSA};
	struct p11_options o = {.wait_ms = 100};
	struct p11_admin_keygen req = {P11_GEN_EC_P256, NULL, 0, "x"};
	char *uri;

	(void)state;
	assert_int_equal(p11_admin_keygen(fake_uri("token=fake", NULL), &o, &req, &uri),
		MTLS_ERR_PIN_SOURCE);
	assert_detail_has("no PIN source was given");
	fake_set_mechanisms(ecdsa_only, 1);
	refused("token=fake", NULL, "x", MTLS_ERR_MECHANISM, "CKM_EC_KEY_PAIR_GEN");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(ec_key_made_with_explicit_attributes),
		T(rsa_key_gets_bits_and_exponent_65537),
		T(no_id_anywhere_gives_eight_random_bytes),
		T(key_not_made_non_exportable_is_destroyed),
		T(taken_id_or_label_of_any_object_is_refused),
		T(conflicting_or_missing_names_are_refused),
		T(token_without_pin_source_or_mechanism_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
