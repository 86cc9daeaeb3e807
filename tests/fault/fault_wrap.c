/*
 * One wrapper per CK_FUNCTION_LIST entry. Each runs fault_begin() (config, latency, injected
 * failure, removal), then the checks that removal and reinsertion need (session table, slot
 * and object handle generations, hidden mechanisms), then the real function, then
 * fault_end() (log line, final CK_RV). Slot ids, session handles and object handles are
 * translated per generation (see README.md); everything else passes through.
 */
#include <stdlib.h>
#include <string.h>

#include "fault.h"

static CK_FUNCTION_LIST function_list;

/* Checks the session and turns *s into the real handle. */
static int session_begin(struct fault_call *c, enum fault_fn fn, CK_SESSION_HANDLE *s)
{
	if (fault_begin(c, fn, FAULT_GATE_SHARED) < 0)
		return -1;
	return fault_session_in(c, s);
}

static int slot_begin(struct fault_call *c, enum fault_fn fn, CK_SLOT_ID *slot)
{
	if (fault_begin(c, fn, FAULT_GATE_SHARED) < 0)
		return -1;
	return fault_slot_in(c, slot);
}

/* For the *Init functions that take a key: session, then mechanism, then key handle. */
static int key_begin(struct fault_call *c, enum fault_fn fn, CK_SESSION_HANDLE *s,
	const CK_MECHANISM *m, CK_OBJECT_HANDLE *key)
{
	if (session_begin(c, fn, s) < 0 || fault_check_mechanism(c, m) < 0)
		return -1;
	return fault_object_in(c, key, CKR_KEY_HANDLE_INVALID);
}

static void pad(CK_UTF8CHAR *dst, size_t width, const char *src)
{
	size_t n = strlen(src);

	memset(dst, ' ', width);
	memcpy(dst, src, n < width ? n : width);
}

/* ---- general purpose ---- */

static CK_RV wrap_C_Initialize(CK_VOID_PTR args)
{
	struct fault_call c;

	if (fault_begin(&c, FN_C_Initialize, FAULT_GATE_EXCLUSIVE) < 0)
		goto out;
	c.rv = fault_real_load(&c);
	if (c.rv != CKR_OK)
		goto out;
	c.rv = c.real->C_Initialize(args);
	if (c.rv == CKR_OK)
		fault_sessions_reset();
out:
	return fault_end(&c);
}

static CK_RV wrap_C_Finalize(CK_VOID_PTR reserved)
{
	struct fault_call c;

	if (fault_begin(&c, FN_C_Finalize, FAULT_GATE_EXCLUSIVE) == 0) {
		c.rv = c.real->C_Finalize(reserved);
		if (c.rv == CKR_OK)
			fault_sessions_reset();
	}
	return fault_end(&c);
}

static CK_RV wrap_C_GetInfo(CK_INFO_PTR info)
{
	struct fault_call c;

	if (fault_begin(&c, FN_C_GetInfo, FAULT_GATE_SHARED) == 0) {
		c.rv = c.real->C_GetInfo(info);
		if (c.rv == CKR_OK) {
			pad(info->manufacturerID, sizeof(info->manufacturerID),
				"mtls fault wrapper");
			pad(info->libraryDescription, sizeof(info->libraryDescription),
				"mtls fault-injecting PKCS#11");
		}
	}
	return fault_end(&c);
}

static CK_RV wrap_C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	struct fault_call c;

	if (fault_begin(&c, FN_C_GetFunctionList, FAULT_GATE_NONE) == 0) {
		if (list == NULL)
			c.rv = CKR_ARGUMENTS_BAD;
		else
			*list = &function_list;
	}
	return fault_end(&c);
}

/* ---- slots and tokens ---- */

static CK_RV wrap_C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	struct fault_call c;
	CK_ULONG i;

	if (fault_begin(&c, FN_C_GetSlotList, FAULT_GATE_SHARED) < 0)
		goto out;
	if (c.removed) {
		/* A pulled USB token takes its reader along: no slot, present or not. */
		c.rv = count == NULL ? CKR_ARGUMENTS_BAD : CKR_OK;
		if (count != NULL)
			*count = 0;
		goto out;
	}
	c.rv = c.real->C_GetSlotList(present, list, count);
	for (i = 0; c.rv == CKR_OK && list != NULL && i < *count; i++)
		list[i] = fault_slot_out(&c, list[i]);
out:
	return fault_end(&c);
}

static CK_RV wrap_C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	struct fault_call c;

	if (slot_begin(&c, FN_C_GetSlotInfo, &slot) == 0)
		c.rv = c.real->C_GetSlotInfo(slot, info);
	return fault_end(&c);
}

static CK_RV wrap_C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	struct fault_call c;

	if (slot_begin(&c, FN_C_GetTokenInfo, &slot) == 0) {
		c.rv = c.real->C_GetTokenInfo(slot, info);
		if (c.rv == CKR_OK)
			fault_token_info_patch(info, slot);
	}
	return fault_end(&c);
}

static CK_RV wrap_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
	struct fault_call c;

	/* No gate: a blocking wait must not hold off a removal for ever. */
	if (fault_begin(&c, FN_C_WaitForSlotEvent, FAULT_GATE_NONE) == 0) {
		c.rv = c.real->C_WaitForSlotEvent(flags, slot, reserved);
		if (c.rv == CKR_OK && slot != NULL)
			*slot = fault_slot_out(&c, *slot);
	}
	return fault_end(&c);
}

/* The real list without hidden mechanisms, with the usual size-query protocol. */
static CK_RV mechanisms_visible(
	CK_FUNCTION_LIST_PTR real, CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
	CK_MECHANISM_TYPE_PTR all = NULL;
	CK_ULONG n = 0;
	CK_ULONG kept = 0;
	CK_ULONG i;
	CK_RV rv;

	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	rv = real->C_GetMechanismList(slot, NULL, &n);
	if (rv != CKR_OK)
		goto out;
	all = calloc(n + 1, sizeof(*all));
	if (all == NULL) {
		rv = CKR_HOST_MEMORY;
		goto out;
	}
	rv = real->C_GetMechanismList(slot, all, &n);
	if (rv != CKR_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (!fault_is_hidden(all[i]))
			all[kept++] = all[i];
	}
	if (list != NULL && *count < kept)
		rv = CKR_BUFFER_TOO_SMALL;
	else if (list != NULL)
		memcpy(list, all, kept * sizeof(*list));
	*count = kept;
out:
	free(all);
	return rv;
}

static CK_RV wrap_C_GetMechanismList(
	CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
	struct fault_call c;

	if (slot_begin(&c, FN_C_GetMechanismList, &slot) == 0)
		c.rv = mechanisms_visible(c.real, slot, list, count);
	return fault_end(&c);
}

static CK_RV wrap_C_GetMechanismInfo(
	CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
	struct fault_call c;

	if (slot_begin(&c, FN_C_GetMechanismInfo, &slot) < 0)
		goto out;
	if (fault_is_hidden(type))
		c.rv = CKR_MECHANISM_INVALID;
	else
		c.rv = c.real->C_GetMechanismInfo(slot, type, info);
out:
	return fault_end(&c);
}

static CK_RV wrap_C_InitToken(
	CK_SLOT_ID slot, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len, CK_UTF8CHAR_PTR label)
{
	struct fault_call c;

	if (slot_begin(&c, FN_C_InitToken, &slot) == 0)
		c.rv = c.real->C_InitToken(slot, pin, pin_len, label);
	return fault_end(&c);
}

static CK_RV wrap_C_InitPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_InitPIN, &s) == 0)
		c.rv = c.real->C_InitPIN(s, pin, pin_len);
	return fault_end(&c);
}

static CK_RV wrap_C_SetPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old_pin, CK_ULONG old_len,
	CK_UTF8CHAR_PTR new_pin, CK_ULONG new_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_SetPIN, &s) == 0)
		c.rv = c.real->C_SetPIN(s, old_pin, old_len, new_pin, new_len);
	return fault_end(&c);
}

/* ---- sessions ---- */

static CK_RV wrap_C_OpenSession(
	CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s)
{
	struct fault_call c;

	if (slot_begin(&c, FN_C_OpenSession, &slot) < 0 || fault_session_reserve(&c) < 0)
		goto out;
	c.rv = c.real->C_OpenSession(slot, flags, app, notify, s);
	if (fault_session_opened(c.rv, c.rv == CKR_OK ? *s : 0, slot, flags) < 0) {
		/* Untracked, it would answer SESSION_HANDLE_INVALID: better not to exist. */
		c.real->C_CloseSession(*s);
		c.rv = CKR_HOST_MEMORY;
	} else if (c.rv == CKR_OK && fault_handle_out(&c, s) < 0) {
		fault_session_closed(*s);
		c.real->C_CloseSession(*s);
	}
out:
	return fault_end(&c);
}

static CK_RV wrap_C_CloseSession(CK_SESSION_HANDLE s)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_CloseSession, &s) == 0) {
		c.rv = c.real->C_CloseSession(s);
		if (c.rv == CKR_OK || c.rv == CKR_SESSION_HANDLE_INVALID ||
			c.rv == CKR_SESSION_CLOSED)
			fault_session_closed(s);
	}
	return fault_end(&c);
}

static CK_RV wrap_C_CloseAllSessions(CK_SLOT_ID slot)
{
	struct fault_call c;

	if (slot_begin(&c, FN_C_CloseAllSessions, &slot) == 0) {
		c.rv = c.real->C_CloseAllSessions(slot);
		if (c.rv == CKR_OK)
			fault_sessions_closed_on(slot);
	}
	return fault_end(&c);
}

static CK_RV wrap_C_GetSessionInfo(CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_GetSessionInfo, &s) == 0) {
		c.rv = c.real->C_GetSessionInfo(s, info);
		if (c.rv == CKR_OK)
			info->slotID = fault_slot_out(&c, info->slotID);
	}
	return fault_end(&c);
}

static CK_RV wrap_C_GetOperationState(
	CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG_PTR state_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_GetOperationState, &s) == 0)
		c.rv = c.real->C_GetOperationState(s, state, state_len);
	return fault_end(&c);
}

static CK_RV wrap_C_SetOperationState(CK_SESSION_HANDLE s, CK_BYTE_PTR state, CK_ULONG state_len,
	CK_OBJECT_HANDLE enc_key, CK_OBJECT_HANDLE auth_key)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_SetOperationState, &s) == 0 &&
		fault_object_in(&c, &enc_key, CKR_KEY_HANDLE_INVALID) == 0 &&
		fault_object_in(&c, &auth_key, CKR_KEY_HANDLE_INVALID) == 0)
		c.rv = c.real->C_SetOperationState(s, state, state_len, enc_key, auth_key);
	return fault_end(&c);
}

static CK_RV wrap_C_Login(
	CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG pin_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_Login, &s) == 0)
		c.rv = c.real->C_Login(s, user, pin, pin_len);
	return fault_end(&c);
}

static CK_RV wrap_C_Logout(CK_SESSION_HANDLE s)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_Logout, &s) == 0)
		c.rv = c.real->C_Logout(s);
	return fault_end(&c);
}

/* ---- objects ---- */

static CK_RV wrap_C_CreateObject(
	CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR object)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_CreateObject, &s) == 0) {
		c.rv = c.real->C_CreateObject(s, templ, count, object);
		if (c.rv == CKR_OK)
			fault_handle_out(&c, object);
	}
	return fault_end(&c);
}

static CK_RV wrap_C_CopyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR templ,
	CK_ULONG count, CK_OBJECT_HANDLE_PTR copy)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_CopyObject, &s) == 0 &&
		fault_object_in(&c, &object, CKR_OBJECT_HANDLE_INVALID) == 0) {
		c.rv = c.real->C_CopyObject(s, object, templ, count, copy);
		if (c.rv == CKR_OK)
			fault_handle_out(&c, copy);
	}
	return fault_end(&c);
}

static CK_RV wrap_C_DestroyObject(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE object)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_DestroyObject, &s) == 0 &&
		fault_object_in(&c, &object, CKR_OBJECT_HANDLE_INVALID) == 0)
		c.rv = c.real->C_DestroyObject(s, object);
	return fault_end(&c);
}

static CK_RV wrap_C_GetObjectSize(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE object, CK_ULONG_PTR size)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_GetObjectSize, &s) == 0 &&
		fault_object_in(&c, &object, CKR_OBJECT_HANDLE_INVALID) == 0)
		c.rv = c.real->C_GetObjectSize(s, object, size);
	return fault_end(&c);
}

static CK_RV wrap_C_GetAttributeValue(
	CK_SESSION_HANDLE s, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR templ, CK_ULONG count)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_GetAttributeValue, &s) == 0 &&
		fault_object_in(&c, &object, CKR_OBJECT_HANDLE_INVALID) == 0)
		c.rv = c.real->C_GetAttributeValue(s, object, templ, count);
	return fault_end(&c);
}

static CK_RV wrap_C_SetAttributeValue(
	CK_SESSION_HANDLE s, CK_OBJECT_HANDLE object, CK_ATTRIBUTE_PTR templ, CK_ULONG count)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_SetAttributeValue, &s) == 0 &&
		fault_object_in(&c, &object, CKR_OBJECT_HANDLE_INVALID) == 0)
		c.rv = c.real->C_SetAttributeValue(s, object, templ, count);
	return fault_end(&c);
}

static CK_RV wrap_C_FindObjectsInit(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR templ, CK_ULONG count)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_FindObjectsInit, &s) == 0)
		c.rv = c.real->C_FindObjectsInit(s, templ, count);
	return fault_end(&c);
}

static CK_RV wrap_C_FindObjects(
	CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR objects, CK_ULONG max, CK_ULONG_PTR count)
{
	struct fault_call c;
	CK_ULONG i;

	if (session_begin(&c, FN_C_FindObjects, &s) < 0)
		goto out;
	c.rv = c.real->C_FindObjects(s, objects, max, count);
	for (i = 0; c.rv == CKR_OK && i < *count; i++)
		fault_handle_out(&c, &objects[i]);
out:
	return fault_end(&c);
}

static CK_RV wrap_C_FindObjectsFinal(CK_SESSION_HANDLE s)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_FindObjectsFinal, &s) == 0)
		c.rv = c.real->C_FindObjectsFinal(s);
	return fault_end(&c);
}

/* ---- encryption and decryption ---- */

static CK_RV wrap_C_EncryptInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
	struct fault_call c;

	if (key_begin(&c, FN_C_EncryptInit, &s, m, &key) == 0)
		c.rv = c.real->C_EncryptInit(s, m, key);
	return fault_end(&c);
}

static CK_RV wrap_C_Encrypt(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG data_len,
	CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_Encrypt, &s) == 0)
		c.rv = c.real->C_Encrypt(s, data, data_len, out, out_len);
	return fault_end(&c);
}

static CK_RV wrap_C_EncryptUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR part, CK_ULONG part_len,
	CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_EncryptUpdate, &s) == 0)
		c.rv = c.real->C_EncryptUpdate(s, part, part_len, out, out_len);
	return fault_end(&c);
}

static CK_RV wrap_C_EncryptFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_EncryptFinal, &s) == 0)
		c.rv = c.real->C_EncryptFinal(s, out, out_len);
	return fault_end(&c);
}

static CK_RV wrap_C_DecryptInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
	struct fault_call c;

	if (key_begin(&c, FN_C_DecryptInit, &s, m, &key) == 0)
		c.rv = c.real->C_DecryptInit(s, m, key);
	return fault_end(&c);
}

static CK_RV wrap_C_Decrypt(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len, CK_BYTE_PTR data,
	CK_ULONG_PTR data_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_Decrypt, &s) == 0)
		c.rv = c.real->C_Decrypt(s, in, in_len, data, data_len);
	return fault_end(&c);
}

static CK_RV wrap_C_DecryptUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
	CK_BYTE_PTR part, CK_ULONG_PTR part_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_DecryptUpdate, &s) == 0)
		c.rv = c.real->C_DecryptUpdate(s, in, in_len, part, part_len);
	return fault_end(&c);
}

static CK_RV wrap_C_DecryptFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR last, CK_ULONG_PTR last_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_DecryptFinal, &s) == 0)
		c.rv = c.real->C_DecryptFinal(s, last, last_len);
	return fault_end(&c);
}

/* ---- digests ---- */

static CK_RV wrap_C_DigestInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_DigestInit, &s) == 0 && fault_check_mechanism(&c, m) == 0)
		c.rv = c.real->C_DigestInit(s, m);
	return fault_end(&c);
}

static CK_RV wrap_C_Digest(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG data_len,
	CK_BYTE_PTR digest, CK_ULONG_PTR digest_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_Digest, &s) == 0)
		c.rv = c.real->C_Digest(s, data, data_len, digest, digest_len);
	return fault_end(&c);
}

static CK_RV wrap_C_DigestUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR part, CK_ULONG part_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_DigestUpdate, &s) == 0)
		c.rv = c.real->C_DigestUpdate(s, part, part_len);
	return fault_end(&c);
}

static CK_RV wrap_C_DigestKey(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_DigestKey, &s) == 0 &&
		fault_object_in(&c, &key, CKR_KEY_HANDLE_INVALID) == 0)
		c.rv = c.real->C_DigestKey(s, key);
	return fault_end(&c);
}

static CK_RV wrap_C_DigestFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR digest, CK_ULONG_PTR digest_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_DigestFinal, &s) == 0)
		c.rv = c.real->C_DigestFinal(s, digest, digest_len);
	return fault_end(&c);
}

/* ---- signatures ---- */

static CK_RV wrap_C_SignInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
	struct fault_call c;

	if (key_begin(&c, FN_C_SignInit, &s, m, &key) == 0)
		c.rv = c.real->C_SignInit(s, m, key);
	return fault_end(&c);
}

static CK_RV wrap_C_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG data_len, CK_BYTE_PTR sig,
	CK_ULONG_PTR sig_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_Sign, &s) == 0)
		c.rv = c.real->C_Sign(s, data, data_len, sig, sig_len);
	return fault_end(&c);
}

static CK_RV wrap_C_SignUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR part, CK_ULONG part_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_SignUpdate, &s) == 0)
		c.rv = c.real->C_SignUpdate(s, part, part_len);
	return fault_end(&c);
}

static CK_RV wrap_C_SignFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_SignFinal, &s) == 0)
		c.rv = c.real->C_SignFinal(s, sig, sig_len);
	return fault_end(&c);
}

static CK_RV wrap_C_SignRecoverInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
	struct fault_call c;

	if (key_begin(&c, FN_C_SignRecoverInit, &s, m, &key) == 0)
		c.rv = c.real->C_SignRecoverInit(s, m, key);
	return fault_end(&c);
}

static CK_RV wrap_C_SignRecover(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG data_len,
	CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_SignRecover, &s) == 0)
		c.rv = c.real->C_SignRecover(s, data, data_len, sig, sig_len);
	return fault_end(&c);
}

static CK_RV wrap_C_VerifyInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
	struct fault_call c;

	if (key_begin(&c, FN_C_VerifyInit, &s, m, &key) == 0)
		c.rv = c.real->C_VerifyInit(s, m, key);
	return fault_end(&c);
}

static CK_RV wrap_C_Verify(
	CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG data_len, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_Verify, &s) == 0)
		c.rv = c.real->C_Verify(s, data, data_len, sig, sig_len);
	return fault_end(&c);
}

static CK_RV wrap_C_VerifyUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR part, CK_ULONG part_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_VerifyUpdate, &s) == 0)
		c.rv = c.real->C_VerifyUpdate(s, part, part_len);
	return fault_end(&c);
}

static CK_RV wrap_C_VerifyFinal(CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG sig_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_VerifyFinal, &s) == 0)
		c.rv = c.real->C_VerifyFinal(s, sig, sig_len);
	return fault_end(&c);
}

static CK_RV wrap_C_VerifyRecoverInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE key)
{
	struct fault_call c;

	if (key_begin(&c, FN_C_VerifyRecoverInit, &s, m, &key) == 0)
		c.rv = c.real->C_VerifyRecoverInit(s, m, key);
	return fault_end(&c);
}

static CK_RV wrap_C_VerifyRecover(CK_SESSION_HANDLE s, CK_BYTE_PTR sig, CK_ULONG sig_len,
	CK_BYTE_PTR data, CK_ULONG_PTR data_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_VerifyRecover, &s) == 0)
		c.rv = c.real->C_VerifyRecover(s, sig, sig_len, data, data_len);
	return fault_end(&c);
}

/* ---- dual-function operations ---- */

static CK_RV wrap_C_DigestEncryptUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR part, CK_ULONG part_len,
	CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_DigestEncryptUpdate, &s) == 0)
		c.rv = c.real->C_DigestEncryptUpdate(s, part, part_len, out, out_len);
	return fault_end(&c);
}

static CK_RV wrap_C_DecryptDigestUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
	CK_BYTE_PTR part, CK_ULONG_PTR part_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_DecryptDigestUpdate, &s) == 0)
		c.rv = c.real->C_DecryptDigestUpdate(s, in, in_len, part, part_len);
	return fault_end(&c);
}

static CK_RV wrap_C_SignEncryptUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR part, CK_ULONG part_len,
	CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_SignEncryptUpdate, &s) == 0)
		c.rv = c.real->C_SignEncryptUpdate(s, part, part_len, out, out_len);
	return fault_end(&c);
}

static CK_RV wrap_C_DecryptVerifyUpdate(CK_SESSION_HANDLE s, CK_BYTE_PTR in, CK_ULONG in_len,
	CK_BYTE_PTR part, CK_ULONG_PTR part_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_DecryptVerifyUpdate, &s) == 0)
		c.rv = c.real->C_DecryptVerifyUpdate(s, in, in_len, part, part_len);
	return fault_end(&c);
}

/* ---- key management ---- */

static CK_RV wrap_C_GenerateKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR templ,
	CK_ULONG count, CK_OBJECT_HANDLE_PTR key)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_GenerateKey, &s) == 0 && fault_check_mechanism(&c, m) == 0) {
		c.rv = c.real->C_GenerateKey(s, m, templ, count, key);
		if (c.rv == CKR_OK)
			fault_handle_out(&c, key);
	}
	return fault_end(&c);
}

static CK_RV wrap_C_GenerateKeyPair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m,
	CK_ATTRIBUTE_PTR pub_templ, CK_ULONG pub_count, CK_ATTRIBUTE_PTR priv_templ,
	CK_ULONG priv_count, CK_OBJECT_HANDLE_PTR pub, CK_OBJECT_HANDLE_PTR priv)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_GenerateKeyPair, &s) < 0 || fault_check_mechanism(&c, m) < 0)
		goto out;
	c.rv = c.real->C_GenerateKeyPair(
		s, m, pub_templ, pub_count, priv_templ, priv_count, pub, priv);
	if (c.rv == CKR_OK && fault_handle_out(&c, pub) == 0)
		fault_handle_out(&c, priv);
out:
	return fault_end(&c);
}

static CK_RV wrap_C_WrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE wrapping,
	CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_WrapKey, &s) == 0 && fault_check_mechanism(&c, m) == 0 &&
		fault_object_in(&c, &wrapping, CKR_WRAPPING_KEY_HANDLE_INVALID) == 0 &&
		fault_object_in(&c, &key, CKR_KEY_HANDLE_INVALID) == 0)
		c.rv = c.real->C_WrapKey(s, m, wrapping, key, out, out_len);
	return fault_end(&c);
}

static CK_RV wrap_C_UnwrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE unwrapping,
	CK_BYTE_PTR in, CK_ULONG in_len, CK_ATTRIBUTE_PTR templ, CK_ULONG count,
	CK_OBJECT_HANDLE_PTR key)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_UnwrapKey, &s) < 0 || fault_check_mechanism(&c, m) < 0 ||
		fault_object_in(&c, &unwrapping, CKR_UNWRAPPING_KEY_HANDLE_INVALID) < 0)
		goto out;
	c.rv = c.real->C_UnwrapKey(s, m, unwrapping, in, in_len, templ, count, key);
	if (c.rv == CKR_OK)
		fault_handle_out(&c, key);
out:
	return fault_end(&c);
}

static CK_RV wrap_C_DeriveKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE base,
	CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR key)
{
	struct fault_call c;

	if (key_begin(&c, FN_C_DeriveKey, &s, m, &base) < 0)
		goto out;
	c.rv = c.real->C_DeriveKey(s, m, base, templ, count, key);
	if (c.rv == CKR_OK)
		fault_handle_out(&c, key);
out:
	return fault_end(&c);
}

/* ---- random numbers and legacy parallel functions ---- */

static CK_RV wrap_C_SeedRandom(CK_SESSION_HANDLE s, CK_BYTE_PTR seed, CK_ULONG seed_len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_SeedRandom, &s) == 0)
		c.rv = c.real->C_SeedRandom(s, seed, seed_len);
	return fault_end(&c);
}

static CK_RV wrap_C_GenerateRandom(CK_SESSION_HANDLE s, CK_BYTE_PTR out, CK_ULONG len)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_GenerateRandom, &s) == 0)
		c.rv = c.real->C_GenerateRandom(s, out, len);
	return fault_end(&c);
}

static CK_RV wrap_C_GetFunctionStatus(CK_SESSION_HANDLE s)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_GetFunctionStatus, &s) == 0)
		c.rv = c.real->C_GetFunctionStatus(s);
	return fault_end(&c);
}

static CK_RV wrap_C_CancelFunction(CK_SESSION_HANDLE s)
{
	struct fault_call c;

	if (session_begin(&c, FN_C_CancelFunction, &s) == 0)
		c.rv = c.real->C_CancelFunction(s);
	return fault_end(&c);
}

static CK_FUNCTION_LIST function_list = {
	.version = {CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR},
#define FAULT_LIST_ENTRY(name) .name = wrap_##name,
	FAULT_FUNCTIONS(FAULT_LIST_ENTRY)
#undef FAULT_LIST_ENTRY
};

/* The one exported symbol (see fault.map). */
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	return wrap_C_GetFunctionList(list);
}
