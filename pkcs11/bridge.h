/* Internal to the bridge: PKCS#11 types may appear here, never in include/. */
#ifndef MTLS_BRIDGE_H
#define MTLS_BRIDGE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "mtls/p11.h"
#include "mtls/secret.h"

/* ---- rv.c: every CK_RV named and classified ---- */
enum rv_class {
	RV_OK = 0,
	RV_SESSION, /* session gone: open a new one, retry once */
	RV_LOGIN, /* logged out: log in again, retry once */
	RV_HANDLE, /* object handle stale: find again (and log in), retry once */
	RV_REMOVED, /* token gone: rescan by URI */
	RV_PIN, /* PIN wrong, locked, expired: never retry */
	RV_MECH, /* mechanism or key unsuitable */
	RV_BUSY, /* too many sessions, operation active, cancelled */
	RV_INPUT, /* bad data, length or arguments */
	RV_FATAL, /* anything else: device or library failure */
};

enum rv_class rv_classify(CK_RV rv);
/* The MTLS_ERR_* code for a CK_RV of any class. */
int rv_to_err(CK_RV rv);
/* Record "what: CKR_NAME (0x..)" plus hint as the thread's detail; returns
 * rv_to_err(rv). */
int rv_fail(CK_RV rv, const char *what, const char *hint);

/* ---- der.c: the little DER the bridge needs ---- */
/* Raw r||s (rawlen even) to DER ECDSA-Sig-Value. */
int der_ecdsa_sig(const uint8_t *raw, size_t rawlen, uint8_t *out, size_t *outlen);
/* If in is an OCTET STRING, point *val at its content; else at in itself. */
void der_unwrap_octets(const uint8_t *in, size_t len, const uint8_t **val, size_t *vlen);
/* The curve named by DER EC parameters (an OID), or P11_KEY_UNKNOWN. */
enum p11_key_type der_curve(const uint8_t *params, size_t len);
/* SubjectPublicKeyInfo for an EC point (uncompressed) with DER params. */
int der_spki_ec(const uint8_t *params, size_t plen, const uint8_t *point, size_t ptlen,
	uint8_t **out, size_t *outlen);
/* SubjectPublicKeyInfo for an RSA key (big-endian n and e). */
int der_spki_rsa(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen, uint8_t **out,
	size_t *outlen);

/* ---- modcfg.c: p11-kit module configs, name -> module path ---- */
/* Parse the text of a p11-kit .module file; copy its `module:` value into
 * out (made absolute against MTLS_P11KIT_MODULE_PATH if relative). */
int modcfg_parse(const char *text, size_t len, char *out, size_t outlen);
/* Resolve a registered module name (e.g. "softhsm2") to its path. */
int modcfg_resolve(const char *name, char *out, size_t outlen);

/* ---- uri.c: RFC 7512 URIs through p11-kit, strictly ---- */
/* Refuse attributes p11-kit does not know, naming the first one. */
int uri_check_attributes(const char *s);
/* Parse s; refuse unknown attributes and, unless allow_pin_value,
 * pin-value. *out is freed with p11_kit_uri_free(). */
int uri_parse(const char *s, int allow_pin_value, P11KitUri **out);
/* Copy s into out without its pin-value, for messages. */
void uri_redact(const char *s, char *out, size_t outlen);

/* ---- module.c: load each module once per process ---- */
struct p11_module {
	char *path;
	CK_FUNCTION_LIST *fl;
	int refs;
	int finalize; /* we initialised it, so we finalise it */
	int fake; /* a unit test's function table, not dlopen'd */
	struct p11_module *next;
};

/* Module for the URI's module-path or module-name; loaded and initialised
 * on first use. Caller holds a reference: module_release(). */
int module_acquire(P11KitUri *uri, struct p11_module **out);
void module_release(struct p11_module *mod);
/* The module path the URI names (module-path, or module-name resolved),
 * made physical: what struct p11_module's path holds. */
int module_path(P11KitUri *uri, char *out, size_t outlen);
/* Unit tests: make module-path `path` resolve to fl instead of dlopen. */
void module_set_fake(const char *path, CK_FUNCTION_LIST *fl);

/* ---- token.c: selection, login, session pool, recovery ---- */
struct p11_session {
	CK_SESSION_HANDLE h;
	unsigned gen; /* token generation it was opened in */
};

struct p11_token {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs; /* under the registry lock */
	struct p11_token *next; /* registry list */
	struct p11_module *mod;
	CK_FUNCTION_LIST *fl;
	struct p11_options opt;
	CK_SLOT_ID slot;
	CK_TOKEN_INFO info; /* as found first: label and serial pin it */
	unsigned gen; /* bumped when found again after removal */
	int present;
	struct timespec last_rescan;
	struct timespec last_check; /* p11_token_check: the last healthy answer */
	int check_fresh; /* last_check is valid (reset when the token goes) */
	int logged_in;
	int want_login; /* PIN or PIN pad available and needed */
	int pin_error; /* nonzero: a PIN error happened, never retry */
	struct mtls_secret *pin; /* NULL: none or protected path */
	CK_MECHANISM_TYPE *mechs;
	CK_ULONG nmechs;
	CK_SESSION_HANDLE *idle;
	size_t nidle, nopen, max;
};

int token_open_parsed(P11KitUri *uri, const struct p11_options *opt, struct p11_token **out);
/* A logged-in session of the current generation; fails fast with
 * MTLS_ERR_TOKEN_ABSENT while the token is away (rescanning at most every
 * rescan_ms). */
int token_acquire(struct p11_token *tok, struct p11_session *s);
/* Give a healthy session back. */
void token_release(struct p11_token *tok, const struct p11_session *s);
/* Close a broken session instead of giving it back. */
void token_discard(struct p11_token *tok, const struct p11_session *s);
/* React to a failed call: RV_LOGIN/RV_HANDLE mark the login stale,
 * RV_REMOVED marks the token absent. */
void token_note_failure(struct p11_token *tok, enum rv_class cls, unsigned gen);
int token_has_mech(struct p11_token *tok, CK_MECHANISM_TYPE m);
/* Context-specific login for CKA_ALWAYS_AUTHENTICATE keys. */
CK_RV token_context_login(struct p11_token *tok, CK_SESSION_HANDLE h);
/* Record a PIN error so that no login is ever attempted again. */
void token_set_pin_error(struct p11_token *tok, int err);

/* Read one attribute into a malloc'd buffer (*val NULL and *len 0 if the
 * object lacks it). */
CK_RV obj_get_attr(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
	CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len);
/* Up to max objects matching tmpl; *n is how many (can exceed max: then
 * only max handles are stored). */
CK_RV obj_find(CK_FUNCTION_LIST *fl, CK_SESSION_HANDLE s, CK_ATTRIBUTE *tmpl, CK_ULONG ntmpl,
	CK_OBJECT_HANDLE *found, CK_ULONG max, CK_ULONG *n);

/* ---- key.c ---- */
struct p11_key {
	struct p11_token *tok;
	enum p11_key_type type;
	unsigned bits;
	unsigned caps;
	CK_KEY_TYPE ktype;
	int always_auth;
	uint8_t *id;
	size_t idlen;
	char *label;
	pthread_mutex_t mu; /* guards h and hgen */
	CK_OBJECT_HANDLE h;
	unsigned hgen; /* token generation of h; ~0u: none */
};

#endif
