/* The signer wire format and the internals shared by the signer files.
 *
 * One message per SOCK_SEQPACKET packet: a fixed 16-byte header, then a
 * body whose layout the type fixes. All integers are big-endian. Strings
 * are a u16 length and that many bytes, never NUL-terminated on the wire
 * and never containing NUL.
 *
 *   header:      u32 magic "MTSG" | u16 version (1) | u16 type | u32 id |
 *                u32 body length (== packet length - 16)
 *
 *   OPEN         u32 flags (SIGNER_OPEN_*) | u32 max_sessions |
 *                u32 rescan_ms | u32 wait_ms | str pin_file |
 *                str pin_credential | u16 nkeys (1..SIGNER_MAX_KEYS) |
 *                nkeys x str uri
 *   OPEN_REPLY   i32 status | str detail
 *   INFO         u16 key
 *   INFO_REPLY   i32 status == 0: u16 type | u32 bits | u32 caps |
 *                                 u16 spki_len | spki
 *                i32 status < 0:  str detail
 *   SIGN         u16 key | u16 sig | u16 outmax | u16 inlen | in
 *   SIGN_REPLY   i32 status == 0: u16 siglen | sig
 *                i32 status < 0:  str detail
 *
 * Decoders check everything: magic, version, a known type, the body
 * length against the packet and the type's bound, every field's range,
 * and that the body is consumed exactly. Any failure is MTLS_ERR_PROTOCOL
 * with the reason (never the content) in mtls_err_detail(). Decoded strings
 * point into the packet; nothing here allocates or does I/O. */
#ifndef MTLS_SIGNER_MSG_H
#define MTLS_SIGNER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "mtls/err.h"
#include "mtls/p11.h"
#include "mtls/signer.h"

#define SIGNER_MSG_MAGIC 0x4d545347u /* "MTSG" */
#define SIGNER_MSG_VERSION 1
#define SIGNER_MSG_HDR_LEN 16
#define SIGNER_DETAIL_MAX 480 /* leaves room for "signer: " in a detail */

/* Status codes a reply may carry: 0 or a code of mtls/err.h. Keep in step
 * with the last code there. */
#define SIGNER_STATUS_MIN MTLS_ERR_LAST

/* OPEN flags. */
#define SIGNER_OPEN_ALLOW_PIN_VALUE (1u << 0)
#define SIGNER_OPEN_ALLOW_FINAL_TRY (1u << 1)
#define SIGNER_OPEN_HAS_PIN_FILE (1u << 2)
#define SIGNER_OPEN_HAS_PIN_CRED (1u << 3)
#define SIGNER_OPEN_FLAGS_KNOWN 0xfu

enum signer_msg_type {
	SIGNER_MSG_OPEN = 1,
	SIGNER_MSG_OPEN_REPLY,
	SIGNER_MSG_INFO,
	SIGNER_MSG_INFO_REPLY,
	SIGNER_MSG_SIGN,
	SIGNER_MSG_SIGN_REPLY,
};

/* Largest body of each type; the largest packet is an OPEN with every
 * string at its bound. */
#define SIGNER_STR_LEN(max) (2 + (max))
#define SIGNER_OPEN_BODY_MAX                           \
	(16 + 2 * SIGNER_STR_LEN(SIGNER_URI_MAX) + 2 + \
		SIGNER_MAX_KEYS * SIGNER_STR_LEN(SIGNER_URI_MAX))
#define SIGNER_INFO_BODY_LEN 2
#define SIGNER_SIGN_BODY_MAX (8 + P11_SIG_IN_MAX)
#define SIGNER_REPLY_BODY_MAX (4 + 2 + 4 + 4 + 2 + SIGNER_SPKI_MAX)
#define SIGNER_MSG_MAX (SIGNER_MSG_HDR_LEN + SIGNER_OPEN_BODY_MAX)
#define SIGNER_REPLY_MAX (SIGNER_MSG_HDR_LEN + SIGNER_REPLY_BODY_MAX)
/* Bits wider than any key the bridge opens are malformed. */
#define SIGNER_BITS_MAX 16384

struct signer_msg_hdr {
	uint16_t type;
	uint32_t id;
	uint32_t len; /* body length */
};

/* A string inside a packet: not NUL-terminated. */
struct signer_msg_str {
	const char *p;
	size_t len;
};

struct signer_msg_open {
	uint32_t flags;
	uint32_t max_sessions;
	uint32_t rescan_ms;
	uint32_t wait_ms;
	struct signer_msg_str pin_file; /* only with HAS_PIN_FILE */
	struct signer_msg_str pin_credential; /* only with HAS_PIN_CRED */
	size_t nkeys;
	struct signer_msg_str keys[SIGNER_MAX_KEYS];
};

/* A request the signer serves after OPEN: INFO or SIGN. */
struct signer_msg_req {
	uint16_t type;
	uint32_t id;
	unsigned key;
	enum p11_sig sig; /* SIGN only */
	size_t outmax; /* SIGN only: room for the signature */
	size_t inlen; /* SIGN only */
	uint8_t in[P11_SIG_IN_MAX];
};

/* Any reply; which parts are set depends on the type and the status. */
struct signer_msg_reply {
	uint16_t type;
	uint32_t id;
	int status;
	char detail[SIGNER_DETAIL_MAX + 1]; /* NUL-terminated, "" on success */
	size_t siglen; /* SIGN_REPLY */
	uint8_t sig[P11_SIG_MAX];
	struct signer_key_info info; /* INFO_REPLY */
};

/* ---- decoding: each returns 0 or MTLS_ERR_PROTOCOL ---- */

/* Check the header of a packet of n bytes and point *body at the body.
 * With recv(MSG_TRUNC) the caller first refuses an n over its buffer. */
int signer_msg_decode_hdr(
	const uint8_t *pkt, size_t n, struct signer_msg_hdr *h, const uint8_t **body);

int signer_msg_decode_open(
	const struct signer_msg_hdr *h, const uint8_t *body, struct signer_msg_open *m);

/* INFO or SIGN; key must be below nkeys. */
int signer_msg_decode_req(const struct signer_msg_hdr *h, const uint8_t *body, size_t nkeys,
	struct signer_msg_req *r);

/* OPEN_REPLY, INFO_REPLY or SIGN_REPLY. */
int signer_msg_decode_reply(
	const struct signer_msg_hdr *h, const uint8_t *body, struct signer_msg_reply *r);

/* ---- encoding: each writes one packet into buf (cap bytes), sets *len,
 * and returns 0, MTLS_ERR_ARG or MTLS_ERR_TOO_BIG. A detail longer than
 * SIGNER_DETAIL_MAX is cut; a NULL detail is empty. ---- */

/* The OPEN packet may hold pin-value in a URI: wipe buf after use. */
int signer_msg_encode_open(
	uint32_t id, const struct signer_config *cfg, uint8_t *buf, size_t cap, size_t *len);
int signer_msg_encode_open_reply(
	uint32_t id, int status, const char *detail, uint8_t *buf, size_t cap, size_t *len);
int signer_msg_encode_info(uint32_t id, unsigned key, uint8_t *buf, size_t cap, size_t *len);
/* info is read only when status is 0. */
int signer_msg_encode_info_reply(uint32_t id, int status, const char *detail,
	const struct signer_key_info *info, uint8_t *buf, size_t cap, size_t *len);
int signer_msg_encode_sign(uint32_t id, unsigned key, enum p11_sig sig, const uint8_t *in,
	size_t inlen, size_t outmax, uint8_t *buf, size_t cap, size_t *len);
/* sig is read only when status is 0. */
int signer_msg_encode_sign_reply(uint32_t id, int status, const char *detail, const uint8_t *sig,
	size_t siglen, uint8_t *buf, size_t cap, size_t *len);

/* Set the request id of an encoded packet (of at least a header). */
void signer_msg_set_id(uint8_t *pkt, uint32_t id);

/* ---- shared by signer_local.c, signer_proc.c and signer_main.c ---- */

/* Each mode embeds struct signer first and fills ops; the public
 * functions in signer_local.c check arguments and dispatch. */
struct signer_ops {
	int (*key_info)(struct signer *s, unsigned key, struct signer_key_info *info);
	int (*sign)(struct signer *s, unsigned key, enum p11_sig sig, const uint8_t *in,
		size_t inlen, uint8_t *out, size_t *outlen);
	long (*pid)(const struct signer *s);
	void (*free)(struct signer *s);
};

struct signer {
	const struct signer_ops *ops;
	size_t nkeys;
};

/* Fill info from an open key (type, bits, caps, SPKI). */
int signer_fill_key_info(struct p11_key *key, struct signer_key_info *info);

/* Put "what: " (printf format) before the thread's detail; returns code. */
int signer_detail_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Check a configuration before anything is opened or spawned. */
int signer_check_config(const struct signer_config *cfg);

/* Test hook: send len raw bytes on the running signer's socket, as if they
 * were a request. Returns 0, MTLS_ERR_ARG (not process mode) or
 * MTLS_ERR_SIGNER (no signer running, or the send failed). */
int signer_proc_send_raw_for_test(struct signer *s, const void *buf, size_t len);

#endif
