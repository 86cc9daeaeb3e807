/*
 * Name tables for the fault module's config: function names, CKR_ and CKM_ names, and the
 * CKF_ token flags. The CKR_/CKM_ lists are generated at configure time from the very
 * p11-kit header we compile against (see CMakeLists.txt), so every name it defines is
 * accepted and the compiler checks each one.
 */
#include <string.h>

#include "fault.h"

struct fault_name {
	const char *name;
	unsigned long value;
};

#define FAULT_NAME(n) {#n, (unsigned long)(n)},

static const struct fault_name rv_names[] = {
#include "fault_ckr.inc"
};

static const struct fault_name mech_names[] = {
#include "fault_ckm.inc"
};

/* Token flags only: CKF_ names of other flag sets share values, so a full list would lie. */
/* clang-format off */
static const struct fault_name token_flag_names[] = {
	FAULT_NAME(CKF_RNG)
	FAULT_NAME(CKF_WRITE_PROTECTED)
	FAULT_NAME(CKF_LOGIN_REQUIRED)
	FAULT_NAME(CKF_USER_PIN_INITIALIZED)
	FAULT_NAME(CKF_RESTORE_KEY_NOT_NEEDED)
	FAULT_NAME(CKF_CLOCK_ON_TOKEN)
	FAULT_NAME(CKF_PROTECTED_AUTHENTICATION_PATH)
	FAULT_NAME(CKF_DUAL_CRYPTO_OPERATIONS)
	FAULT_NAME(CKF_TOKEN_INITIALIZED)
	FAULT_NAME(CKF_SECONDARY_AUTHENTICATION)
	FAULT_NAME(CKF_USER_PIN_COUNT_LOW)
	FAULT_NAME(CKF_USER_PIN_FINAL_TRY)
	FAULT_NAME(CKF_USER_PIN_LOCKED)
	FAULT_NAME(CKF_USER_PIN_TO_BE_CHANGED)
	FAULT_NAME(CKF_SO_PIN_COUNT_LOW)
	FAULT_NAME(CKF_SO_PIN_FINAL_TRY)
	FAULT_NAME(CKF_SO_PIN_LOCKED)
	FAULT_NAME(CKF_SO_PIN_TO_BE_CHANGED)
};
/* clang-format on */

static const char *const fn_names[FN_COUNT] = {
#define FAULT_FN_STRING(name) #name,
	FAULT_FUNCTIONS(FAULT_FN_STRING)
#undef FAULT_FN_STRING
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int name_find(
	const struct fault_name *table, size_t n, const char *name, unsigned long *value)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(table[i].name, name) == 0) {
			*value = table[i].value;
			return 0;
		}
	}
	return -1;
}

const char *fault_fn_name(enum fault_fn fn)
{
	if ((unsigned)fn >= FN_COUNT)
		return "C_Unknown";
	return fn_names[fn];
}

int fault_fn_lookup(const char *name, enum fault_fn *fn)
{
	size_t i;

	for (i = 0; i < FN_COUNT; i++) {
		if (strcmp(fn_names[i], name) == 0) {
			*fn = (enum fault_fn)i;
			return 0;
		}
	}
	return -1;
}

int fault_rv_lookup(const char *name, CK_RV *rv)
{
	return name_find(rv_names, N_ELEMS(rv_names), name, rv);
}

int fault_mech_lookup(const char *name, CK_MECHANISM_TYPE *mech)
{
	return name_find(mech_names, N_ELEMS(mech_names), name, mech);
}

int fault_token_flag_lookup(const char *name, CK_FLAGS *flag)
{
	return name_find(token_flag_names, N_ELEMS(token_flag_names), name, flag);
}
