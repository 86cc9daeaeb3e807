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
 *   SIGN         u16 key | u16 sig (1..P11_SIG_LAST) | u16 outmax |
 *                u16 inlen (1..P11_SIG_IN_MAX; P11_SIG_RSA_RAW:
 *                P11_SIG_RAW_MIN..P11_SIG_RAW_MAX) | in
 *   SIGN_REPLY   i32 status == 0: u16 siglen | sig
 *                i32 status < 0:  str detail
 *   STATE        u16 key
 *   STATE_REPLY  i32 status == 0: u16 state (SIGNER_TOKEN_OK, _ABSENT or
 *                                 _PIN_ERROR) | str detail
 *                i32 status < 0:  str detail
 *   CERTS        u16 key | str uri (empty: the key's own certificates)
 *   CERTS_REPLY  i32 status == 0: u16 n (0..SIGNER_CERTS_MAX) |
 *                                 n x (u16 len (1..SIGNER_CERT_MAX) | der)
 *                i32 status < 0:  str detail
 *
 * STATE is answered at once by the signer's reading thread (it never waits
 * for a session or signs); INFO, SIGN and CERTS go through its workers.
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
#include <sys/types.h>

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
	SIGNER_MSG_STATE,
	SIGNER_MSG_STATE_REPLY,
	SIGNER_MSG_CERTS,
	SIGNER_MSG_CERTS_REPLY,
	SIGNER_MSG_TYPE_LAST = SIGNER_MSG_CERTS_REPLY,
};

/* Certificates one CERTS_REPLY carries, and the size of each: a token
 * attribute is read up to 8 KiB by the bridge, and a key has one
 * certificate (a few while it is being renewed). */
#define SIGNER_CERTS_MAX 8
#define SIGNER_CERT_MAX 8192

/* Largest body of each type; the largest packet is an OPEN with every
 * string at its bound. */
#define SIGNER_STR_LEN(max) (2 + (max))
#define SIGNER_OPEN_BODY_MAX                           \
	(16 + 2 * SIGNER_STR_LEN(SIGNER_URI_MAX) + 2 + \
		SIGNER_MAX_KEYS * SIGNER_STR_LEN(SIGNER_URI_MAX))
#define SIGNER_INFO_BODY_LEN 2
#define SIGNER_SIGN_BODY_MAX (8 + P11_SIG_RAW_MAX)
#define SIGNER_REPLY_BODY_MAX (4 + 2 + 4 + 4 + 2 + SIGNER_SPKI_MAX)
#define SIGNER_STATE_BODY_LEN 2
#define SIGNER_STATE_REPLY_BODY_MAX (4 + 2 + SIGNER_STR_LEN(SIGNER_DETAIL_MAX))
#define SIGNER_CERTS_BODY_MAX (2 + SIGNER_STR_LEN(SIGNER_URI_MAX))
#define SIGNER_CERTS_REPLY_BODY_MAX (4 + 2 + SIGNER_CERTS_MAX * (2 + SIGNER_CERT_MAX))
#define SIGNER_MSG_MAX (SIGNER_MSG_HDR_LEN + SIGNER_OPEN_BODY_MAX)
/* The largest OPEN_REPLY, INFO_REPLY or SIGN_REPLY. */
#define SIGNER_REPLY_MAX (SIGNER_MSG_HDR_LEN + SIGNER_REPLY_BODY_MAX)
#define SIGNER_STATE_REPLY_MAX (SIGNER_MSG_HDR_LEN + SIGNER_STATE_REPLY_BODY_MAX)
#define SIGNER_CERTS_REPLY_MAX (SIGNER_MSG_HDR_LEN + SIGNER_CERTS_REPLY_BODY_MAX)
/* The largest request after OPEN (a SIGN of a raw RSA-8192 block or a
 * CERTS with its URI at the bound), and the largest reply of any type (a
 * CERTS_REPLY full of certificates). */
#define SIGNER_REQ_BODY_MAX                                                  \
	(SIGNER_SIGN_BODY_MAX > SIGNER_CERTS_BODY_MAX ? SIGNER_SIGN_BODY_MAX \
						      : SIGNER_CERTS_BODY_MAX)
#define SIGNER_REQ_MAX (SIGNER_MSG_HDR_LEN + SIGNER_REQ_BODY_MAX)
#define SIGNER_ANY_REPLY_MAX SIGNER_CERTS_REPLY_MAX
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

/* A request the signer serves after OPEN: INFO, SIGN, STATE or CERTS.
 * Copied whole (it is queued for the workers), so nothing points into the
 * packet. */
struct signer_msg_req {
	uint16_t type;
	uint32_t id;
	unsigned key;
	enum p11_sig sig; /* SIGN only */
	size_t outmax; /* SIGN only: room for the signature */
	size_t inlen; /* SIGN only */
	uint8_t in[P11_SIG_RAW_MAX];
	char uri[SIGNER_URI_MAX + 1]; /* CERTS only: NUL-terminated, "" for the key's own */
};

/* Any reply; which parts are set depends on the type and the status. */
struct signer_msg_reply {
	uint16_t type;
	uint32_t id;
	int status;
	/* NUL-terminated, "" on success (STATE_REPLY: may say why the state
	 * is not OK) */
	char detail[SIGNER_DETAIL_MAX + 1];
	size_t siglen; /* SIGN_REPLY */
	uint8_t sig[P11_SIG_MAX];
	struct signer_key_info info; /* INFO_REPLY */
	enum signer_token_state state; /* STATE_REPLY */
	/* CERTS_REPLY: these point into the decoded packet, so copy them
	 * before the packet's buffer is used again. */
	size_t ncerts;
	const uint8_t *certs[SIGNER_CERTS_MAX];
	size_t cert_lens[SIGNER_CERTS_MAX];
};

/* ---- decoding: each returns 0 or MTLS_ERR_PROTOCOL ---- */

/* Check the header of a packet of n bytes and point *body at the body.
 * With recv(MSG_TRUNC) the caller first refuses an n over its buffer. */
int signer_msg_decode_hdr(
	const uint8_t *pkt, size_t n, struct signer_msg_hdr *h, const uint8_t **body);

int signer_msg_decode_open(
	const struct signer_msg_hdr *h, const uint8_t *body, struct signer_msg_open *m);

/* INFO, SIGN, STATE or CERTS; key must be below nkeys. */
int signer_msg_decode_req(const struct signer_msg_hdr *h, const uint8_t *body, size_t nkeys,
	struct signer_msg_req *r);

/* OPEN_REPLY, INFO_REPLY, SIGN_REPLY, STATE_REPLY or CERTS_REPLY. */
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

int signer_msg_encode_state(uint32_t id, unsigned key, uint8_t *buf, size_t cap, size_t *len);
/* state is sent only when status is 0, and must then be SIGNER_TOKEN_OK,
 * _ABSENT or _PIN_ERROR (UNREACHABLE is the client's own conclusion). */
int signer_msg_encode_state_reply(uint32_t id, int status, enum signer_token_state state,
	const char *detail, uint8_t *buf, size_t cap, size_t *len);
/* uri: NULL or "" for the key's own certificates; at most SIGNER_URI_MAX. */
int signer_msg_encode_certs(
	uint32_t id, unsigned key, const char *uri, uint8_t *buf, size_t cap, size_t *len);
/* certs and lens are read only when status is 0: n (at most
 * SIGNER_CERTS_MAX) certificates of 1 to SIGNER_CERT_MAX bytes each. */
int signer_msg_encode_certs_reply(uint32_t id, int status, const char *detail,
	const uint8_t *const *certs, const size_t *lens, size_t n, uint8_t *buf, size_t cap,
	size_t *len);

/* Set the request id of an encoded packet (of at least a header). */
void signer_msg_set_id(uint8_t *pkt, uint32_t id);

/* ---- shared by signer_local.c, signer_proc.c and signer_main.c ---- */

/* Each mode embeds struct signer first and fills ops; the public
 * functions in signer_local.c check arguments and dispatch. */
struct signer_ops {
	int (*key_info)(struct signer *s, unsigned key, struct signer_key_info *info);
	int (*sign)(struct signer *s, unsigned key, enum p11_sig sig, const uint8_t *in,
		size_t inlen, uint8_t *out, size_t *outlen);
	/* Anything but OK comes with the reason in the thread's detail. */
	enum signer_token_state (*token_state)(struct signer *s, unsigned key);
	/* cert_uri NULL for the key's own; *n at most SIGNER_CERTS_MAX. */
	int (*key_certs)(struct signer *s, unsigned key, const char *cert_uri, uint8_t ***certs,
		size_t **lens, size_t *n);
	long (*pid)(const struct signer *s);
	void (*free)(struct signer *s);
};

struct signer {
	const struct signer_ops *ops;
	size_t nkeys;
};

/* Fill info from an open key (type, bits, caps, SPKI). */
int signer_fill_key_info(struct p11_key *key, struct signer_key_info *info);

/* The token state an answer of p11_token_check() (or of a failed call to
 * the signer) stands for: 0 OK; token absent or not found ABSENT; a PIN
 * error PIN_ERROR; anything else UNREACHABLE. */
enum signer_token_state signer_state_of(int rc);

/* The certificates a URI names beside an open key (NULL or "": the key's
 * own), bounded for the wire: more than SIGNER_CERTS_MAX, or one over
 * SIGNER_CERT_MAX bytes, is MTLS_ERR_TOO_BIG. Free with p11_certs_free. */
int signer_read_certs(
	struct p11_key *key, const char *cert_uri, uint8_t ***certs, size_t **lens, size_t *n);

/* Put "what: " (printf format) before the thread's detail; returns code. */
int signer_detail_prefix(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Check a configuration before anything is opened or spawned. */
int signer_check_config(const struct signer_config *cfg);

/* signer_launch.c: start helper with fd as its fd 3 (through the launcher
 * when one runs: then its own helper path is used), and bury pid: grace_ms
 * for it to exit, then (term) SIGTERM and grace_ms more, then SIGKILL;
 * how it ended goes in how. */
int signer_spawn(const char *helper, int fd, pid_t *pid);
/* signer_proc.c: CLOCK_MONOTONIC in milliseconds. */
int64_t signer_now_ms(void);
void signer_reap(pid_t pid, int grace_ms, int term, char *how, size_t howlen);

/* Test hook: send len raw bytes on the running signer's socket, as if they
 * were a request. Returns 0, MTLS_ERR_ARG (not process mode) or
 * MTLS_ERR_SIGNER (no signer running, or the send failed). */
int signer_proc_send_raw_for_test(struct signer *s, const void *buf, size_t len);

#endif
