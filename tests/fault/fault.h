/*
 * Internal interface of the fault-injecting PKCS#11 module (test-only code).
 *
 * Three parts: fault_names.c (CKR_/CKM_/CKF_ and function name tables),
 * fault_conf.c (the key = value parser) and fault_state.c (shared state:
 * configuration reloads, latency, injected failures, removal simulation,
 * session and handle bookkeeping). fault_wrap.c holds one wrapper per
 * CK_FUNCTION_LIST entry and is the only file that calls the real module.
 */
#ifndef MTLS_TESTS_FAULT_H
#define MTLS_TESTS_FAULT_H

#include <stddef.h>
#include <sys/stat.h>

#include <p11-kit/pkcs11.h>

/* Every entry of CK_FUNCTION_LIST (v2.40), in table order. */
#define FAULT_FUNCTIONS(X)       \
	X(C_Initialize)          \
	X(C_Finalize)            \
	X(C_GetInfo)             \
	X(C_GetFunctionList)     \
	X(C_GetSlotList)         \
	X(C_GetSlotInfo)         \
	X(C_GetTokenInfo)        \
	X(C_GetMechanismList)    \
	X(C_GetMechanismInfo)    \
	X(C_InitToken)           \
	X(C_InitPIN)             \
	X(C_SetPIN)              \
	X(C_OpenSession)         \
	X(C_CloseSession)        \
	X(C_CloseAllSessions)    \
	X(C_GetSessionInfo)      \
	X(C_GetOperationState)   \
	X(C_SetOperationState)   \
	X(C_Login)               \
	X(C_Logout)              \
	X(C_CreateObject)        \
	X(C_CopyObject)          \
	X(C_DestroyObject)       \
	X(C_GetObjectSize)       \
	X(C_GetAttributeValue)   \
	X(C_SetAttributeValue)   \
	X(C_FindObjectsInit)     \
	X(C_FindObjects)         \
	X(C_FindObjectsFinal)    \
	X(C_EncryptInit)         \
	X(C_Encrypt)             \
	X(C_EncryptUpdate)       \
	X(C_EncryptFinal)        \
	X(C_DecryptInit)         \
	X(C_Decrypt)             \
	X(C_DecryptUpdate)       \
	X(C_DecryptFinal)        \
	X(C_DigestInit)          \
	X(C_Digest)              \
	X(C_DigestUpdate)        \
	X(C_DigestKey)           \
	X(C_DigestFinal)         \
	X(C_SignInit)            \
	X(C_Sign)                \
	X(C_SignUpdate)          \
	X(C_SignFinal)           \
	X(C_SignRecoverInit)     \
	X(C_SignRecover)         \
	X(C_VerifyInit)          \
	X(C_Verify)              \
	X(C_VerifyUpdate)        \
	X(C_VerifyFinal)         \
	X(C_VerifyRecoverInit)   \
	X(C_VerifyRecover)       \
	X(C_DigestEncryptUpdate) \
	X(C_DecryptDigestUpdate) \
	X(C_SignEncryptUpdate)   \
	X(C_DecryptVerifyUpdate) \
	X(C_GenerateKey)         \
	X(C_GenerateKeyPair)     \
	X(C_WrapKey)             \
	X(C_UnwrapKey)           \
	X(C_DeriveKey)           \
	X(C_SeedRandom)          \
	X(C_GenerateRandom)      \
	X(C_GetFunctionStatus)   \
	X(C_CancelFunction)      \
	X(C_WaitForSlotEvent)

/* clang-format off */
enum fault_fn {
#define FAULT_FN_ENUM(name) FN_##name,
	FAULT_FUNCTIONS(FAULT_FN_ENUM)
#undef FAULT_FN_ENUM
	FN_COUNT
};
/* clang-format on */

/* Limits that keep a test's config (and a fuzzer's) from growing state. */
#define FAULT_CONF_MAX_BYTES (64 * 1024)
#define FAULT_MAX_HIDDEN 64
#define FAULT_PATH_MAX 4096
#define FAULT_MAX_LATENCY_MS 3600000UL
#define FAULT_MAX_SESSIONS 1000000UL

/* Slot ids move by this much per reinsertion; session and object handles carry gen << 24. */
#define FAULT_SLOT_STRIDE 100UL
#define FAULT_HANDLE_SHIFT 24

struct fault_fail {
	int is_set;
	CK_RV rv;
	unsigned long first; /* 1-based call number, inclusive */
	unsigned long last; /* inclusive; ULONG_MAX when open-ended */
	unsigned long from_ms; /* time window since the config was loaded, inclusive */
	unsigned long to_ms; /* ULONG_MAX when open-ended */
};

struct fault_conf {
	long latency_all; /* milliseconds, -1 when unset */
	long latency[FN_COUNT]; /* milliseconds, -1 when unset (then latency_all applies) */
	struct fault_fail fail[FN_COUNT];
	CK_MECHANISM_TYPE hidden[FAULT_MAX_HIDDEN];
	size_t n_hidden;
	long max_sessions; /* -1 when unset */
	CK_FLAGS token_flags_set;
	CK_FLAGS token_flags_clear;
	int removed;
	char module[FAULT_PATH_MAX]; /* empty when unset */
	char calls_log[FAULT_PATH_MAX]; /* empty when unset */
};

/* fault_names.c: lookups return 0 when found, -1 otherwise. */
const char *fault_fn_name(enum fault_fn fn);
int fault_fn_lookup(const char *name, enum fault_fn *fn);
int fault_rv_lookup(const char *name, CK_RV *rv);
int fault_mech_lookup(const char *name, CK_MECHANISM_TYPE *mech);
int fault_token_flag_lookup(const char *name, CK_FLAGS *flag);

/* fault_conf.c */
void fault_conf_init(struct fault_conf *conf);
/*
 * Parses text (len bytes, need not be NUL-terminated) into conf, which must have been
 * initialised. Bad lines are reported on stderr as "file:line" and skipped; returns the
 * number of lines skipped (0 when all were good).
 */
int fault_conf_parse(struct fault_conf *conf, const char *file, const char *text, size_t len);
/*
 * Reads and parses path; sb receives the identity of the file actually read. Returns 0, or -1
 * (reported on stderr) when it cannot be read, leaving conf as initialised.
 */
int fault_conf_load(struct fault_conf *conf, const char *path, struct stat *sb);

/* fault_state.c: one in-flight call into the wrapper. */
enum fault_gate {
	FAULT_GATE_NONE, /* never blocks removal (C_WaitForSlotEvent, C_GetFunctionList) */
	FAULT_GATE_SHARED, /* ordinary calls: run in parallel, exclude removal/reinsertion */
	FAULT_GATE_EXCLUSIVE, /* C_Initialize, C_Finalize */
};

struct fault_call {
	enum fault_fn fn;
	enum fault_gate gate;
	int gate_held;
	CK_RV rv;
	/* Snapshots taken once the gate is held; stable until fault_end(). */
	int removed;
	unsigned long generation;
	CK_FUNCTION_LIST_PTR real; /* NULL until the real module is loaded */
};

/*
 * Starts a call: reloads the config if its file changed, sleeps the configured latency,
 * applies an injected failure, applies a removal or reinsertion, then takes the gate.
 * Returns 0 when the wrapper should go on, -1 when call->rv already holds the answer.
 * Every fault_begin() is paired with one fault_end(), which returns the final CK_RV.
 */
int fault_begin(struct fault_call *call, enum fault_fn fn, enum fault_gate gate);
CK_RV fault_end(struct fault_call *call);

/* Loads the real module once (MTLS_FAULT_MODULE, then `module`, then SoftHSM2) into call->real. */
CK_RV fault_real_load(struct fault_call *call);
/* Forgets every tracked session (C_Initialize, C_Finalize). */
void fault_sessions_reset(void);

/*
 * Checks and translations between the application's ids and the real module's. Each returns
 * 0, or -1 with call->rv set to the error for the application. The *_in functions turn the
 * application's value into the real one in place; fault_handle_out() does the reverse for a
 * session or object handle coming out of the real module.
 */
int fault_session_in(struct fault_call *call, CK_SESSION_HANDLE *session);
int fault_slot_in(struct fault_call *call, CK_SLOT_ID *slot);
int fault_object_in(struct fault_call *call, CK_OBJECT_HANDLE *object, CK_RV invalid_rv);
int fault_handle_out(struct fault_call *call, CK_ULONG *handle);
int fault_check_mechanism(struct fault_call *call, const CK_MECHANISM *mechanism);
CK_SLOT_ID fault_slot_out(const struct fault_call *call, CK_SLOT_ID real_slot);
int fault_is_hidden(CK_MECHANISM_TYPE mechanism);

/*
 * Session table and max_sessions. A reservation is taken before the real C_OpenSession and
 * always released by fault_session_opened(), which then records the session when rv is
 * CKR_OK; it returns -1 when the session could not be recorded (the caller closes it).
 */
int fault_session_reserve(struct fault_call *call);
int fault_session_opened(CK_RV rv, CK_SESSION_HANDLE session, CK_SLOT_ID real_slot, CK_FLAGS flags);
void fault_session_closed(CK_SESSION_HANDLE session);
void fault_sessions_closed_on(CK_SLOT_ID real_slot);
void fault_token_info_patch(CK_TOKEN_INFO *info, CK_SLOT_ID real_slot);

#endif
