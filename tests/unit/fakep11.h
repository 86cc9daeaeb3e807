/* A programmable fake PKCS#11 module for the bridge's unit tests.
 *
 * One token in one slot by default (more slots on request), objects held as
 * attribute lists, sessions with real handle bookkeeping (a stale handle is
 * refused as a real token would refuse it), a user login that a closed last
 * session forgets (PKCS#11 v2.40, C_CloseSession), and per-function failure
 * injection: "the Nth call of C_X from now returns rv", optionally running a
 * hook first (to pull the token out at exactly that call, say). Every entry
 * point counts its calls.
 *
 * fake_reset() restores the default world and registers the table with the
 * bridge as module-path FAKE_MODULE (module_set_fake), so any URI with
 * ?module-path=/fake/module.so reaches it. The bridge caches modules and
 * tokens process-wide by reference count: a test must free every key and
 * token it opened, and fake_is_initialized() is then 0 again (the module was
 * finalised). The bridge also remembers PIN failures per module, label and
 * serial for the whole process: a test that provokes one sets its own
 * serial with fake_set_serial().
 *
 * Configuration functions are for the test's main thread, between bridge
 * calls (or from a hook); the PKCS#11 entry points are thread-safe. */
#ifndef MTLS_FAKEP11_H
#define MTLS_FAKEP11_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <p11-kit/pkcs11.h>

#define FAKE_MODULE "/fake/module.so"
#define FAKE_PIN "1234"
#define FAKE_SLOT 1
#define FAKE_LABEL "fake"
#define FAKE_SERIAL "0001"
#define FAKE_DEFAULT_FLAGS \
	(CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_RNG)

enum fake_fn {
	FAKE_INITIALIZE,
	FAKE_FINALIZE,
	FAKE_GET_SLOT_LIST,
	FAKE_GET_SLOT_INFO,
	FAKE_GET_TOKEN_INFO,
	FAKE_GET_MECHANISM_LIST,
	FAKE_OPEN_SESSION,
	FAKE_CLOSE_SESSION,
	FAKE_LOGIN,
	FAKE_LOGOUT,
	FAKE_FIND_OBJECTS_INIT,
	FAKE_FIND_OBJECTS,
	FAKE_FIND_OBJECTS_FINAL,
	FAKE_GET_ATTRIBUTE_VALUE,
	FAKE_SIGN_INIT,
	FAKE_SIGN,
	FAKE_FN_COUNT
};

/* ---- the world ---- */

/* Default world (see above); registers the table as FAKE_MODULE. */
void fake_reset(void);
CK_FUNCTION_LIST *fake_function_list(void);
/* Someone else in the process called C_Initialize (or not). */
void fake_set_initialized(int on);
int fake_is_initialized(void);

/* ---- calls and injected failures ---- */

/* Calls of fn since fake_reset(). */
unsigned long fake_calls(enum fake_fn fn);
/* The nth call of fn from now (1: the next one) returns rv and does nothing. */
void fake_fail(enum fake_fn fn, unsigned long nth, CK_RV rv);
/* Every call of fn from the nth on returns rv. */
void fake_fail_from(enum fake_fn fn, unsigned long nth, CK_RV rv);
/* The nth call of fn from now first runs hook(arg), then returns rv, or
 * (rv == CKR_OK) goes on as usual. */
void fake_on_call(enum fake_fn fn, unsigned long nth, CK_RV rv, void (*hook)(void *), void *arg);
/* Forget every injected failure. */
void fake_fail_clear(void);

/* ---- slots and tokens (slot 0 is the main one) ---- */

void fake_set_slot_id(CK_SLOT_ID id);
void fake_set_label(const char *label);
void fake_set_serial(const char *serial);
void fake_set_flags(CK_FLAGS flags);
void fake_set_max_sessions(CK_ULONG max); /* what ulMaxSessionCount says */
void fake_set_session_limit(unsigned limit); /* what C_OpenSession enforces; 0: none */
void fake_set_slot_description(const char *desc);
void fake_set_mechanisms(const CK_MECHANISM_TYPE *mechs, size_t n);
void fake_set_pin(const char *pin);
/* What C_SignInit says for a private key while not logged in. */
void fake_set_not_logged_in_rv(CK_RV rv);
/* Another slot with its own token (and no objects). */
void fake_add_slot(CK_SLOT_ID id, const char *label, const char *serial, CK_FLAGS flags);
/* The main token is pulled out: its slot disappears, its sessions answer
 * CKR_DEVICE_REMOVED, the login is gone. */
void fake_remove_token(void);
/* ... and comes back in slot id; old sessions are invalid, object handles
 * change. */
void fake_insert_token(CK_SLOT_ID id);
/* The token forgets the login (sessions stay). */
void fake_logout_all(void);
/* The user is logged in already (another user of the module did it). */
void fake_set_logged_in(void);
/* The token drops every session (and so the login). */
void fake_drop_sessions(void);
/* Closing the last session logs the user out (default 1, as in the spec). */
void fake_set_logout_on_last_close(int on);
int fake_logged_in(void);
unsigned fake_open_sessions(void);

/* ---- objects (on the main token) ---- */

/* Each returns the object's index; its handle is fake_handle(index). */
int fake_add_ec_key(const char *label, const void *id, size_t idlen, int curve_bits);
int fake_add_rsa_key(const char *label, const void *id, size_t idlen, unsigned bits);
/* A public EC key whose CKA_EC_POINT is the DER OCTET STRING of the known
 * point of that curve. */
int fake_add_ec_pub(const char *label, const void *id, size_t idlen, int curve_bits);
int fake_add_cert(const char *label, const void *id, size_t idlen, const void *der, size_t len);
void fake_obj_set(int obj, CK_ATTRIBUTE_TYPE type, const void *val, size_t len);
void fake_obj_set_bool(int obj, CK_ATTRIBUTE_TYPE type, CK_BBOOL v);
void fake_obj_set_ulong(int obj, CK_ATTRIBUTE_TYPE type, CK_ULONG v);
void fake_obj_unset(int obj, CK_ATTRIBUTE_TYPE type);
/* Reads of the attribute answer CKR_ATTRIBUTE_SENSITIVE. */
void fake_obj_sensitive(int obj, CK_ATTRIBUTE_TYPE type);
/* The object is destroyed (its handle becomes invalid). */
void fake_obj_delete(int obj);
CK_OBJECT_HANDLE fake_handle(int obj);
/* Every object gets a new handle (old ones become invalid). */
void fake_renumber_objects(void);

/* ---- signing ---- */

/* C_Sign returns these bytes (and this length) instead of the pattern. */
void fake_set_signature(const uint8_t *sig, size_t len);

struct fake_last {
	CK_FLAGS init_flags; /* of the last C_Initialize */
	CK_MECHANISM_TYPE mech; /* of the last C_SignInit that succeeded */
	CK_RSA_PKCS_PSS_PARAMS pss;
	int has_pss;
	uint8_t in[256]; /* input of the last C_Sign */
	size_t inlen;
	CK_USER_TYPE login_user; /* of the last C_Login */
	int login_pin_null;
	unsigned long user_logins; /* C_Login calls by type */
	unsigned long context_logins;
};
const struct fake_last *fake_last(void);

/* ---- known keys: the fake's EC and RSA keys are these (made by openssl) ---- */

extern const uint8_t fake_p256_spki[91];
extern const uint8_t fake_p384_spki[120];
extern const uint8_t fake_rsa2048_spki[294];
#define FAKE_P256_PARAMS (fake_p256_spki + 13)
#define FAKE_P256_PARAMS_LEN 10
#define FAKE_P256_POINT (fake_p256_spki + 26)
#define FAKE_P256_POINT_LEN 65
#define FAKE_P384_PARAMS (fake_p384_spki + 13)
#define FAKE_P384_PARAMS_LEN 7
#define FAKE_P384_POINT (fake_p384_spki + 23)
#define FAKE_P384_POINT_LEN 97
#define FAKE_RSA_MODULUS (fake_rsa2048_spki + 33)
#define FAKE_RSA_MODULUS_LEN 256
#define FAKE_RSA_EXPONENT (fake_rsa2048_spki + 291)
#define FAKE_RSA_EXPONENT_LEN 3

/* ---- test helpers ---- */

/* "pkcs11:<path>?module-path=/fake/module.so<query>" in a static buffer
 * (one of four, so a few can be used in one call). */
const char *fake_uri(const char *path, const char *query);
/* A file in this process's temporary directory (removed at exit) holding
 * len bytes of data with the given mode; returns its path (static, one of
 * four). */
const char *fake_file(const char *name, const void *data, size_t len, mode_t mode);
/* The temporary directory itself. */
const char *fake_tmpdir(void);

/* Keys and tokens opened by a test are tracked (through -Wl,--wrap of
 * p11_key_open/p11_key_free/p11_token_open/p11_token_free, see
 * bridge.cmake), so that a test that fails half-way does not leave the
 * module initialised for the next one. For a cmocka teardown: frees what
 * the test left open and returns -1 if it left anything, or if the module
 * is still initialised after that (a reference the bridge lost); else 0. */
int fake_teardown(void);

/* For cmocka tests: the thread's error detail must contain s. */
#define assert_detail_has(s)                                                                  \
	do {                                                                                  \
		if (strstr(mtls_err_detail(), (s)) == NULL)                                   \
			fail_msg("error detail \"%s\" lacks \"%s\"", mtls_err_detail(), (s)); \
	} while (0)
#define assert_detail_lacks(s)                                                              \
	do {                                                                                \
		if (strstr(mtls_err_detail(), (s)) != NULL)                                 \
			fail_msg("error detail \"%s\" has \"%s\"", mtls_err_detail(), (s)); \
	} while (0)

#endif
