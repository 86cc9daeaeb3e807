/* The bridge's administration side: what mtls-provision needs beyond
 * signing. Listing modules, slots, tokens and mechanisms; generating a
 * non-exportable key pair; reading a key's attributes; checking one step
 * of the way from module to key at a time (doctor). Like mtls/p11.h it
 * exposes no PKCS#11 types: flags and mechanisms are the project's own.
 *
 * Every function returns 0 or a negative MTLS_ERR_* code with the failing
 * PKCS#11 call, its CK_RV name and what to do in mtls_err_detail(). */
#ifndef MTLS_P11_ADMIN_H
#define MTLS_P11_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "mtls/p11.h"

/* ---- modules, slots, tokens, mechanisms ---- */

/* A module p11-kit has registered (its .module files). */
struct p11_admin_module {
	char name[64]; /* the registered name ("softhsm2") */
	char path[1024]; /* the library it loads */
};

/* The modules p11-kit has registered for this program, in p11-kit's order.
 * Nothing is initialised. *mods is malloc'd (free() it); *n may be 0. */
int p11_admin_registered(struct p11_admin_module **mods, size_t *n);

/* The mechanisms mtls cares about, in the order tokens lists them. */
enum p11_admin_mech {
	P11_MECH_EC_KEYGEN = 0, /* CKM_EC_KEY_PAIR_GEN */
	P11_MECH_RSA_KEYGEN, /* CKM_RSA_PKCS_KEY_PAIR_GEN */
	P11_MECH_ECDSA, /* CKM_ECDSA */
	P11_MECH_RSA_PKCS, /* CKM_RSA_PKCS */
	P11_MECH_RSA_PSS, /* CKM_RSA_PKCS_PSS */
	P11_MECH_RSA_X509, /* CKM_RSA_X_509 */
	P11_MECH_COUNT,
};

/* Its PKCS#11 name, e.g. "CKM_RSA_PKCS_PSS"; never NULL. */
const char *p11_admin_mech_name(enum p11_admin_mech m);

#define P11_MECHF_SIGN (1u << 0) /* CKF_SIGN */
#define P11_MECHF_GENERATE_KEY_PAIR (1u << 1) /* CKF_GENERATE_KEY_PAIR */
#define P11_MECHF_HW (1u << 2) /* CKF_HW */
#define P11_MECHF_NO_INFO (1u << 3) /* listed, but C_GetMechanismInfo failed */

struct p11_admin_mech_info {
	int present; /* in C_GetMechanismList */
	unsigned flags; /* P11_MECHF_* */
	unsigned long min_bits, max_bits; /* as the module reports them (bits) */
};

/* Token flags, from CK_TOKEN_INFO.flags. */
#define P11_TOKF_INITIALIZED (1u << 0)
#define P11_TOKF_LOGIN_REQUIRED (1u << 1)
#define P11_TOKF_USER_PIN_INITIALIZED (1u << 2)
#define P11_TOKF_PROTECTED_AUTH_PATH (1u << 3)
#define P11_TOKF_PIN_COUNT_LOW (1u << 4)
#define P11_TOKF_PIN_FINAL_TRY (1u << 5)
#define P11_TOKF_PIN_LOCKED (1u << 6)
#define P11_TOKF_PIN_TO_BE_CHANGED (1u << 7)
#define P11_TOKF_WRITE_PROTECTED (1u << 8)
#define P11_TOKF_RNG (1u << 9)

/* One token's identity and state. Strings are NUL-terminated, trailing
 * blanks removed, control bytes replaced by '?'. */
struct p11_admin_token_info {
	char label[33];
	char manufacturer[33];
	char model[17];
	char serial[17];
	unsigned flags; /* P11_TOKF_* */
};

struct p11_admin_slot {
	unsigned long id;
	char description[65];
	char manufacturer[33];
	int removable; /* CKF_REMOVABLE_DEVICE */
	int hardware; /* CKF_HW_SLOT */
	int has_token; /* CKF_TOKEN_PRESENT */
	int token_error; /* MTLS_ERR_* of C_GetTokenInfo, 0 if read */
	struct p11_admin_token_info token; /* valid if has_token && !token_error */
	unsigned long nmechs; /* how many mechanisms the token lists */
	struct p11_admin_mech_info mech[P11_MECH_COUNT];
};

struct p11_admin_module_info {
	char path[1024]; /* physical path loaded */
	char manufacturer[33];
	char description[33];
	unsigned lib_major, lib_minor; /* library version */
	unsigned ck_major, ck_minor; /* Cryptoki version */
};

/* Load module (a path if it holds '/', else a p11-kit registered name),
 * describe it and every slot it lists (with or without a token). *slots
 * is malloc'd (free() it); *n may be 0. The module stays loaded only while
 * something else holds it. */
int p11_admin_module_slots(const char *module, struct p11_admin_module_info *info,
	struct p11_admin_slot **slots, size_t *n);

/* Load the module a key or token URI names and describe it; nothing else
 * (no slot, no token). For doctor's first step. */
int p11_admin_module_check(const char *uri, struct p11_admin_module_info *info);

/* The token as it is now (C_GetTokenInfo) and the mechanisms on its slot. */
int p11_admin_token_slot(struct p11_token *tok, struct p11_admin_slot *slot);

/* Log in as the token's PIN source says (one attempt, never repeated
 * after a PIN error, see p11_token_open). *logged_in is 1 if the token is
 * now logged in, 0 if no login was made because no PIN source was given
 * (or the token needs none). */
int p11_admin_login(struct p11_token *tok, int *logged_in);

/* ---- key generation ---- */

enum p11_admin_keytype {
	P11_GEN_EC_P256 = 1,
	P11_GEN_EC_P384,
	P11_GEN_RSA_2048,
	P11_GEN_RSA_3072,
	P11_GEN_RSA_4096,
};

#define P11_ADMIN_ID_MAX 64
#define P11_ADMIN_LABEL_MAX 128

struct p11_admin_keygen {
	enum p11_admin_keytype type;
	/* CKA_ID and CKA_LABEL; NULL: the URI's id= / object=. If the URI
	 * gives one too, both must be equal. Without any id, 8 random bytes
	 * are used; a label is required. */
	const uint8_t *id;
	size_t idlen;
	const char *label;
};

/* Generate a key pair on the token the URI names (any id=/object= in it
 * name the new key; type= must be absent or "private"). C_GenerateKeyPair
 * with explicit attributes: private TOKEN, PRIVATE, SIGN, SENSITIVE,
 * EXTRACTABLE=FALSE; public TOKEN, VERIFY, PRIVATE=FALSE; both the same
 * CKA_ID and CKA_LABEL. Refused, before anything is made, when any object
 * on the token already has that id or that label (MTLS_ERR_ARG), when the
 * token needs a login and no PIN source was given, or when it lacks the
 * key generation mechanism or size. Afterwards SENSITIVE,
 * ALWAYS_SENSITIVE, NEVER_EXTRACTABLE (TRUE) and EXTRACTABLE (FALSE) are
 * read back; if one does not hold, both objects are destroyed and the
 * call fails with MTLS_ERR_KEY naming the attribute. On success *uri_out
 * is a malloc'd URI of the new private key (token, serial, id, object,
 * type=private, module-path, and the given URI's pin-source if any); the
 * caller frees it. */
int p11_admin_keygen(const char *uri, const struct p11_options *opt,
	const struct p11_admin_keygen *req, char **uri_out);

/* ---- a key's attributes ---- */

struct p11_admin_key_info {
	enum p11_key_type type;
	unsigned bits;
	unsigned caps; /* P11_CAP_* */
	uint8_t id[P11_ADMIN_ID_MAX];
	size_t idlen; /* 0: no CKA_ID; longer ids are cut (idcut set) */
	int idcut;
	char label[P11_ADMIN_LABEL_MAX + 1]; /* cleaned like token strings */
	/* 1 TRUE, 0 FALSE, -1 the token does not say */
	int sensitive, always_sensitive, never_extractable, extractable;
	int always_authenticate;
	struct p11_admin_token_info token;
};

/* Read the key's attributes from its token (the key's own object, found
 * by its id and label). */
int p11_admin_key_info(struct p11_key *key, struct p11_admin_key_info *info);

/* Give the key's objects (private key, public key and certificates with
 * its CKA_ID) the label `label`, all or nothing (a failure puts the old
 * label back). Refused when another object already holds that label.
 * `renew --rekey` uses it to move the name the agent's URI uses from the
 * old key to the new one. */
int p11_admin_key_relabel(struct p11_key *key, const char *label);

#endif
