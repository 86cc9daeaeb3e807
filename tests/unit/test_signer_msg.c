/* The signer wire format: a round trip per message type, and a test per
 * decoder error branch, each identified by the reason in the detail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "signer_msg.h"

/* A packet under construction: header fields that tests may corrupt, and
 * a body written with the same big-endian helpers the format uses. */
struct pkt {
	uint8_t b[SIGNER_MSG_MAX + 16];
	size_t len;
};

static void put8(struct pkt *p, unsigned v)
{
	p->b[p->len++] = (uint8_t)v;
}

static void put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v);
}

static void put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

static void putstr(struct pkt *p, const char *s, size_t n)
{
	put16(p, (unsigned)n);
	memcpy(p->b + p->len, s, n);
	p->len += n;
}

static void start(struct pkt *p, unsigned type)
{
	p->len = 0;
	put32(p, SIGNER_MSG_MAGIC);
	put16(p, SIGNER_MSG_VERSION);
	put16(p, type);
	put32(p, 7);
	put32(p, 0);
}

/* Patch the body length to match the packet. */
static void finish(struct pkt *p)
{
	uint32_t n = (uint32_t)(p->len - SIGNER_MSG_HDR_LEN);

	p->b[12] = (uint8_t)(n >> 24);
	p->b[13] = (uint8_t)(n >> 16);
	p->b[14] = (uint8_t)(n >> 8);
	p->b[15] = (uint8_t)n;
}

static void expect_bad(int rc, const char *why)
{
	assert_int_equal(rc, MTLS_ERR_PROTOCOL);
	if (strstr(mtls_err_detail(), why) == NULL)
		fail_msg("detail '%s' does not say '%s'", mtls_err_detail(), why);
}

/* Decode the header, which must pass, then the type's decoder. */
enum which { OPEN, REQ, REPLY };

static int decode(struct pkt *p, enum which w, size_t nkeys)
{
	static struct signer_msg_open m;
	static struct signer_msg_req q;
	static struct signer_msg_reply r;
	struct signer_msg_hdr h;
	const uint8_t *body;

	assert_int_equal(signer_msg_decode_hdr(p->b, p->len, &h, &body), 0);
	if (w == OPEN)
		return signer_msg_decode_open(&h, body, &m);
	if (w == REQ)
		return signer_msg_decode_req(&h, body, nkeys, &q);
	return signer_msg_decode_reply(&h, body, &r);
}

static int decode_hdr(struct pkt *p)
{
	struct signer_msg_hdr h;
	const uint8_t *body;

	return signer_msg_decode_hdr(p->b, p->len, &h, &body);
}

/* ---- header ---- */

static void hdr_short_is_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_INFO);
	p.len = SIGNER_MSG_HDR_LEN - 1;
	expect_bad(decode_hdr(&p), "shorter than its header");
	expect_bad(signer_msg_decode_hdr(NULL, 0, NULL, NULL), "shorter");
}

static void hdr_oversize_is_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_OPEN);
	p.len = SIGNER_MSG_MAX + 1;
	finish(&p);
	expect_bad(decode_hdr(&p), "over the size limit");
}

static void hdr_bad_magic_is_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_INFO);
	put16(&p, 0);
	finish(&p);
	p.b[0] ^= 1;
	expect_bad(decode_hdr(&p), "bad magic");
}

static void hdr_bad_version_is_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_INFO);
	put16(&p, 0);
	finish(&p);
	p.b[5] = 2;
	expect_bad(decode_hdr(&p), "unsupported version");
}

static void hdr_unknown_type_is_malformed(void **state)
{
	struct pkt p;

	start(&p, 0);
	finish(&p);
	expect_bad(decode_hdr(&p), "unknown type");
	start(&p, SIGNER_MSG_TYPE_LAST + 1);
	finish(&p);
	expect_bad(decode_hdr(&p), "unknown type");
}

static void hdr_length_mismatch_is_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_INFO);
	put16(&p, 0);
	finish(&p);
	p.len--;
	expect_bad(decode_hdr(&p), "does not match");
	p.len += 2;
	expect_bad(decode_hdr(&p), "does not match");
}

static void hdr_body_over_type_bound_is_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_INFO);
	put16(&p, 0);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode_hdr(&p), "over the bound of its type");
	start(&p, SIGNER_MSG_SIGN_REPLY);
	memset(p.b + p.len, 0, SIGNER_REPLY_BODY_MAX + 1);
	p.len += SIGNER_REPLY_BODY_MAX + 1;
	finish(&p);
	expect_bad(decode_hdr(&p), "over the bound of its type");
}

/* ---- OPEN ---- */

static const char *const uris[] = {
	"pkcs11:token=test;object=ec256;type=private?module-path=/m.so",
	"pkcs11:token=test;object=rsa2048?pin-value=1234&module-path=/m.so",
};

static void open_round_trips(void **state)
{
	struct signer_config cfg = {.key_uris = uris, .nkeys = 2};
	struct signer_msg_open m;
	struct signer_msg_hdr h;
	const uint8_t *body;
	uint8_t buf[4096];
	size_t len;

	cfg.p11.pin_file = "/run/pin";
	cfg.p11.allow_final_try = 1;
	cfg.p11.max_sessions = 3;
	cfg.p11.rescan_ms = 250;
	cfg.p11.wait_ms = 1000;
	assert_int_equal(signer_msg_encode_open(0, &cfg, buf, sizeof(buf), &len), 0);
	assert_int_equal(signer_msg_decode_hdr(buf, len, &h, &body), 0);
	assert_int_equal(h.type, SIGNER_MSG_OPEN);
	assert_int_equal(signer_msg_decode_open(&h, body, &m), 0);
	assert_int_equal(m.flags, SIGNER_OPEN_ALLOW_FINAL_TRY | SIGNER_OPEN_HAS_PIN_FILE);
	assert_int_equal(m.max_sessions, 3);
	assert_int_equal(m.rescan_ms, 250);
	assert_int_equal(m.wait_ms, 1000);
	assert_int_equal(m.pin_file.len, 8);
	assert_memory_equal(m.pin_file.p, "/run/pin", 8);
	assert_int_equal(m.pin_credential.len, 0);
	assert_int_equal(m.nkeys, 2);
	assert_int_equal(m.keys[1].len, strlen(uris[1]));
	assert_memory_equal(m.keys[1].p, uris[1], strlen(uris[1]));
}

static void open_with_every_string_at_its_bound_fits(void **state)
{
	static char big[SIGNER_URI_MAX + 1];
	static const char *many[SIGNER_MAX_KEYS];
	static uint8_t buf[SIGNER_MSG_MAX];
	struct signer_config cfg = {.key_uris = many, .nkeys = SIGNER_MAX_KEYS};
	struct signer_msg_open m;
	struct signer_msg_hdr h;
	const uint8_t *body;
	size_t len, i;

	memset(big, 'a', SIGNER_URI_MAX);
	for (i = 0; i < SIGNER_MAX_KEYS; i++)
		many[i] = big;
	cfg.p11.pin_file = big;
	cfg.p11.pin_credential = big;
	cfg.p11.allow_pin_value = 1;
	cfg.p11.allow_final_try = 1;
	assert_int_equal(signer_msg_encode_open(1, &cfg, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, SIGNER_MSG_MAX);
	assert_int_equal(signer_msg_decode_hdr(buf, len, &h, &body), 0);
	assert_int_equal(signer_msg_decode_open(&h, body, &m), 0);
	assert_int_equal(m.nkeys, SIGNER_MAX_KEYS);
	assert_int_equal(m.flags, SIGNER_OPEN_FLAGS_KNOWN);
	/* One byte short of room is refused, not cut. */
	assert_int_equal(
		signer_msg_encode_open(1, &cfg, buf, sizeof(buf) - 1, &len), MTLS_ERR_TOO_BIG);
}

static void open_encoder_refuses_bad_configs(void **state)
{
	static char big[SIGNER_URI_MAX + 2];
	const char *one[1] = {"pkcs11:object=x"};
	const char *null_uri[1] = {NULL};
	const char *empty[1] = {""};
	const char *long_uri[1] = {big};
	struct signer_config cfg = {.key_uris = one, .nkeys = 1};
	uint8_t buf[256];
	size_t len;

	memset(big, 'a', SIGNER_URI_MAX + 1);
	assert_int_equal(signer_msg_encode_open(0, NULL, buf, sizeof(buf), &len), MTLS_ERR_ARG);
	cfg.nkeys = 0;
	assert_int_equal(signer_msg_encode_open(0, &cfg, buf, sizeof(buf), &len), MTLS_ERR_CONFIG);
	cfg.nkeys = SIGNER_MAX_KEYS + 1;
	assert_int_equal(signer_msg_encode_open(0, &cfg, buf, sizeof(buf), &len), MTLS_ERR_CONFIG);
	cfg.nkeys = 1;
	cfg.key_uris = null_uri;
	assert_int_equal(signer_msg_encode_open(0, &cfg, buf, sizeof(buf), &len), MTLS_ERR_CONFIG);
	cfg.key_uris = empty;
	assert_int_equal(signer_msg_encode_open(0, &cfg, buf, sizeof(buf), &len), MTLS_ERR_CONFIG);
	cfg.key_uris = long_uri;
	assert_int_equal(signer_msg_encode_open(0, &cfg, buf, sizeof(buf), &len), MTLS_ERR_TOO_BIG);
	cfg.key_uris = one;
	cfg.p11.pin_credential = big;
	assert_int_equal(signer_msg_encode_open(0, &cfg, buf, sizeof(buf), &len), MTLS_ERR_TOO_BIG);
	cfg.p11.pin_credential = NULL;
	assert_int_equal(signer_msg_encode_open(0, &cfg, buf, 20, &len), MTLS_ERR_TOO_BIG);
	assert_int_equal(len, 0);
}

/* A valid OPEN body up to the key count, for the branches after it. */
static void open_head(struct pkt *p, uint32_t flags)
{
	start(p, SIGNER_MSG_OPEN);
	put32(p, flags);
	put32(p, 0);
	put32(p, 0);
	put32(p, 0);
}

static void open_truncated_fields_are_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_OPEN);
	put32(&p, 0);
	put32(&p, 0);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "truncated OPEN fields");
}

static void open_unknown_flags_are_malformed(void **state)
{
	struct pkt p;

	open_head(&p, 1u << 4);
	putstr(&p, "", 0);
	putstr(&p, "", 0);
	put16(&p, 1);
	putstr(&p, "u", 1);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "unknown OPEN flags");
}

static void open_string_errors_are_malformed(void **state)
{
	struct pkt p;

	open_head(&p, 0);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "truncated string length");
	open_head(&p, SIGNER_OPEN_HAS_PIN_FILE);
	put16(&p, SIGNER_URI_MAX + 1);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "string over its bound");
	open_head(&p, SIGNER_OPEN_HAS_PIN_FILE);
	put16(&p, 10);
	put8(&p, 'x');
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "string runs past the body");
	open_head(&p, SIGNER_OPEN_HAS_PIN_FILE);
	putstr(&p, "/a\0b", 4);
	putstr(&p, "", 0);
	put16(&p, 1);
	putstr(&p, "u", 1);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "contains NUL");
}

static void open_pin_sources_need_their_flags(void **state)
{
	struct pkt p;

	open_head(&p, 0);
	putstr(&p, "/pin", 4);
	putstr(&p, "", 0);
	put16(&p, 1);
	putstr(&p, "u", 1);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "PIN file given without its flag");
	open_head(&p, SIGNER_OPEN_HAS_PIN_FILE);
	putstr(&p, "", 0);
	putstr(&p, "cred", 4);
	put16(&p, 1);
	putstr(&p, "u", 1);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "PIN credential given without its flag");
}

static void open_key_list_errors_are_malformed(void **state)
{
	struct pkt p;
	int i;

	open_head(&p, 0);
	putstr(&p, "", 0);
	putstr(&p, "", 0);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "truncated key count");
	open_head(&p, 0);
	putstr(&p, "", 0);
	putstr(&p, "", 0);
	put16(&p, 0);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "key count out of range");
	open_head(&p, 0);
	putstr(&p, "", 0);
	putstr(&p, "", 0);
	put16(&p, SIGNER_MAX_KEYS + 1);
	for (i = 0; i < SIGNER_MAX_KEYS + 1; i++)
		putstr(&p, "u", 1);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "key count out of range");
	open_head(&p, 0);
	putstr(&p, "", 0);
	putstr(&p, "", 0);
	put16(&p, 2);
	putstr(&p, "u", 1);
	putstr(&p, "", 0);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "empty key URI");
	open_head(&p, 0);
	putstr(&p, "", 0);
	putstr(&p, "", 0);
	put16(&p, 2);
	putstr(&p, "u", 1);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "truncated string length");
}

static void open_trailing_bytes_are_malformed(void **state)
{
	struct pkt p;

	open_head(&p, 0);
	putstr(&p, "", 0);
	putstr(&p, "", 0);
	put16(&p, 1);
	putstr(&p, "u", 1);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "trailing bytes");
}

static void open_decoder_wants_open(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_INFO);
	put16(&p, 0);
	finish(&p);
	expect_bad(decode(&p, OPEN, 0), "unexpected type");
}

/* ---- INFO and SIGN requests ---- */

static void info_round_trips(void **state)
{
	struct signer_msg_req q;
	struct signer_msg_hdr h;
	const uint8_t *body;
	uint8_t buf[64];
	size_t len;

	assert_int_equal(signer_msg_encode_info(0, 5, buf, sizeof(buf), &len), 0);
	signer_msg_set_id(buf, 0xa1b2c3d4);
	assert_int_equal(signer_msg_decode_hdr(buf, len, &h, &body), 0);
	assert_int_equal(signer_msg_decode_req(&h, body, 6, &q), 0);
	assert_int_equal(q.type, SIGNER_MSG_INFO);
	assert_int_equal(q.id, 0xa1b2c3d4);
	assert_int_equal(q.key, 5);
	expect_bad(signer_msg_decode_req(&h, body, 5, &q), "key index out of range");
	assert_int_equal(
		signer_msg_encode_info(0, SIGNER_MAX_KEYS, buf, sizeof(buf), &len), MTLS_ERR_ARG);
	assert_int_equal(signer_msg_encode_info(0, 1, buf, 17, &len), MTLS_ERR_TOO_BIG);
}

static void info_errors_are_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_INFO);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REQ, 4), "truncated INFO key");
}

static void sign_round_trips(void **state)
{
	uint8_t in[P11_SIG_IN_MAX], buf[256];
	struct signer_msg_req q;
	struct signer_msg_hdr h;
	const uint8_t *body;
	size_t len;

	memset(in, 0x5a, sizeof(in));
	assert_int_equal(signer_msg_encode_sign(9, 3, P11_SIG_RSA_PSS_SHA512, in, sizeof(in),
				 P11_SIG_MAX, buf, sizeof(buf), &len),
		0);
	assert_int_equal(signer_msg_decode_hdr(buf, len, &h, &body), 0);
	assert_int_equal(signer_msg_decode_req(&h, body, 4, &q), 0);
	assert_int_equal(q.type, SIGNER_MSG_SIGN);
	assert_int_equal(q.id, 9);
	assert_int_equal(q.key, 3);
	assert_int_equal(q.sig, P11_SIG_RSA_PSS_SHA512);
	assert_int_equal(q.outmax, P11_SIG_MAX);
	assert_int_equal(q.inlen, sizeof(in));
	assert_memory_equal(q.in, in, sizeof(in));
}

/* A raw RSA block as long as the largest modulus is the largest request. */
static void sign_raw_round_trips(void **state)
{
	static uint8_t in[P11_SIG_RAW_MAX], buf[SIGNER_REQ_MAX + 1];
	static struct signer_msg_req q;
	struct signer_msg_hdr h;
	const uint8_t *body;
	size_t len, n;
	const size_t sizes[] = {P11_SIG_RAW_MIN, 384, P11_SIG_RAW_MAX};

	for (n = 0; n < sizeof(sizes) / sizeof(sizes[0]); n++) {
		memset(in, (int)n + 1, sizes[n]);
		assert_int_equal(signer_msg_encode_sign(7, 1, P11_SIG_RSA_RAW, in, sizes[n],
					 P11_SIG_MAX, buf, sizeof(buf), &len),
			0);
		assert_int_equal(signer_msg_decode_hdr(buf, len, &h, &body), 0);
		assert_int_equal(signer_msg_decode_req(&h, body, 2, &q), 0);
		assert_int_equal(q.sig, P11_SIG_RSA_RAW);
		assert_int_equal(q.inlen, sizes[n]);
		assert_memory_equal(q.in, in, sizes[n]);
	}
	assert_int_equal(len, SIGNER_REQ_MAX);
}

static void sign_encoder_refuses_bad_requests(void **state)
{
	uint8_t in[P11_SIG_IN_MAX + 1] = {0}, buf[256];
	size_t len;

	assert_int_equal(
		signer_msg_encode_sign(1, 0, 0, in, 32, 64, buf, sizeof(buf), &len), MTLS_ERR_ARG);
	assert_int_equal(
		signer_msg_encode_sign(1, 0, P11_SIG_ECDSA, NULL, 32, 64, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(
		signer_msg_encode_sign(1, 0, P11_SIG_ECDSA, in, 0, 64, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(signer_msg_encode_sign(1, SIGNER_MAX_KEYS, P11_SIG_ECDSA, in, 32, 64, buf,
				 sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(signer_msg_encode_sign(
				 1, 0, P11_SIG_ECDSA, in, sizeof(in), 64, buf, sizeof(buf), &len),
		MTLS_ERR_TOO_BIG);
	assert_int_equal(signer_msg_encode_sign(1, 0, P11_SIG_ECDSA, in, 32, P11_SIG_MAX + 1, buf,
				 sizeof(buf), &len),
		MTLS_ERR_TOO_BIG);
	assert_int_equal(signer_msg_encode_sign(1, 0, P11_SIG_ECDSA, in, 32, 64, buf, 30, &len),
		MTLS_ERR_TOO_BIG);
	assert_int_equal(
		signer_msg_encode_sign(1, 0, P11_SIG_LAST + 1, in, 32, 64, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
}

static void sign_encoder_bounds_raw_blocks(void **state)
{
	static uint8_t in[P11_SIG_RAW_MAX + 1], buf[SIGNER_REQ_MAX + 16];
	size_t len;

	assert_int_equal(signer_msg_encode_sign(1, 0, P11_SIG_RSA_RAW, in, P11_SIG_RAW_MIN - 1,
				 P11_SIG_MAX, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(signer_msg_encode_sign(1, 0, P11_SIG_RSA_RAW, in, 32, P11_SIG_MAX, buf,
				 sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(signer_msg_encode_sign(1, 0, P11_SIG_RSA_RAW, in, P11_SIG_RAW_MAX + 1,
				 P11_SIG_MAX, buf, sizeof(buf), &len),
		MTLS_ERR_TOO_BIG);
	/* Only raw blocks may be that long. */
	assert_int_equal(signer_msg_encode_sign(1, 0, P11_SIG_RSA_PKCS1, in, P11_SIG_RAW_MIN,
				 P11_SIG_MAX, buf, sizeof(buf), &len),
		MTLS_ERR_TOO_BIG);
	assert_int_equal(signer_msg_encode_sign(1, 0, P11_SIG_RSA_RAW, in, P11_SIG_RAW_MIN,
				 P11_SIG_MAX, buf, sizeof(buf), &len),
		0);
}

static void sign_body(
	struct pkt *p, unsigned key, unsigned sig, unsigned outmax, unsigned inlen, size_t have)
{
	start(p, SIGNER_MSG_SIGN);
	put16(p, key);
	put16(p, sig);
	put16(p, outmax);
	put16(p, inlen);
	memset(p->b + p->len, 1, have);
	p->len += have;
	finish(p);
}

static void sign_errors_are_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_SIGN);
	put16(&p, 0);
	put16(&p, 1);
	put16(&p, 64);
	finish(&p);
	expect_bad(decode(&p, REQ, 1), "truncated SIGN fields");
	sign_body(&p, 1, P11_SIG_ECDSA, 64, 32, 32);
	expect_bad(decode(&p, REQ, 1), "key index out of range");
	sign_body(&p, 0, 0, 64, 32, 32);
	expect_bad(decode(&p, REQ, 1), "unknown signature mechanism");
	sign_body(&p, 0, P11_SIG_LAST + 1, 64, 32, 32);
	expect_bad(decode(&p, REQ, 1), "unknown signature mechanism");
	sign_body(&p, 0, 0xffff, 64, 32, 32);
	expect_bad(decode(&p, REQ, 1), "unknown signature mechanism");
	sign_body(&p, 0, P11_SIG_ECDSA, P11_SIG_MAX + 1, 32, 32);
	expect_bad(decode(&p, REQ, 1), "signature room over its bound");
	sign_body(&p, 0, P11_SIG_ECDSA, 64, 0, 0);
	expect_bad(decode(&p, REQ, 1), "input length out of range");
	sign_body(&p, 0, P11_SIG_ECDSA, 64, P11_SIG_IN_MAX + 1, 0);
	expect_bad(decode(&p, REQ, 1), "input length out of range");
	sign_body(&p, 0, P11_SIG_ECDSA, 64, 32, 31);
	expect_bad(decode(&p, REQ, 1), "SIGN input runs past the body");
	sign_body(&p, 0, P11_SIG_ECDSA, 64, 32, 33);
	expect_bad(decode(&p, REQ, 1), "trailing bytes");
	sign_body(&p, 0, P11_SIG_ECDSA, 0, 32, 32);
	assert_int_equal(decode(&p, REQ, 1), 0);
}

/* Raw RSA blocks are as long as a modulus the bridge accepts; nothing
 * else may be that long. */
static void sign_raw_length_errors_are_malformed(void **state)
{
	static struct pkt p;

	sign_body(&p, 0, P11_SIG_RSA_RAW, 512, 32, 32);
	expect_bad(decode(&p, REQ, 1), "input length out of range");
	sign_body(&p, 0, P11_SIG_RSA_RAW, 512, P11_SIG_RAW_MIN - 1, P11_SIG_RAW_MIN - 1);
	expect_bad(decode(&p, REQ, 1), "input length out of range");
	sign_body(&p, 0, P11_SIG_RSA_RAW, 512, P11_SIG_RAW_MAX + 1, 0);
	expect_bad(decode(&p, REQ, 1), "input length out of range");
	sign_body(&p, 0, P11_SIG_RSA_PKCS1, 512, P11_SIG_RAW_MIN, P11_SIG_RAW_MIN);
	expect_bad(decode(&p, REQ, 1), "input length out of range");
	sign_body(&p, 0, P11_SIG_RSA_RAW, 512, P11_SIG_RAW_MIN, P11_SIG_RAW_MIN - 1);
	expect_bad(decode(&p, REQ, 1), "SIGN input runs past the body");
	sign_body(&p, 0, P11_SIG_RSA_RAW, 512, P11_SIG_RAW_MIN, P11_SIG_RAW_MIN);
	assert_int_equal(decode(&p, REQ, 1), 0);
	sign_body(&p, 0, P11_SIG_RSA_RAW, 512, P11_SIG_RAW_MAX, P11_SIG_RAW_MAX);
	assert_int_equal(decode(&p, REQ, 1), 0);
}

static void request_decoder_wants_a_request(void **state)
{
	struct pkt p;

	open_head(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REQ, 1), "unexpected type");
	start(&p, SIGNER_MSG_SIGN_REPLY);
	put32(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REQ, 1), "unexpected type");
}

/* ---- replies ---- */

static void decode_buf(const uint8_t *buf, size_t len, struct signer_msg_reply *r)
{
	struct signer_msg_hdr h;
	const uint8_t *body;

	assert_int_equal(signer_msg_decode_hdr(buf, len, &h, &body), 0);
	assert_int_equal(signer_msg_decode_reply(&h, body, r), 0);
}

static void open_reply_round_trips(void **state)
{
	static struct signer_msg_reply r;
	char long_detail[SIGNER_DETAIL_MAX + 50];
	uint8_t buf[1024];
	size_t len;

	assert_int_equal(signer_msg_encode_open_reply(0, 0, NULL, buf, sizeof(buf), &len), 0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.type, SIGNER_MSG_OPEN_REPLY);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.detail, "");
	assert_int_equal(signer_msg_encode_open_reply(0, MTLS_ERR_PIN_INCORRECT,
				 "C_Login: CKR_PIN_INCORRECT", buf, sizeof(buf), &len),
		0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.status, MTLS_ERR_PIN_INCORRECT);
	assert_string_equal(r.detail, "C_Login: CKR_PIN_INCORRECT");
	/* A long detail is cut to the bound, not refused. */
	memset(long_detail, 'd', sizeof(long_detail) - 1);
	long_detail[sizeof(long_detail) - 1] = '\0';
	assert_int_equal(signer_msg_encode_open_reply(
				 0, MTLS_ERR_TOKEN, long_detail, buf, sizeof(buf), &len),
		0);
	decode_buf(buf, len, &r);
	assert_int_equal(strlen(r.detail), SIGNER_DETAIL_MAX);
}

static void reply_encoders_refuse_bad_status(void **state)
{
	uint8_t buf[256];
	size_t len;

	assert_int_equal(
		signer_msg_encode_open_reply(0, 1, NULL, buf, sizeof(buf), &len), MTLS_ERR_ARG);
	assert_int_equal(signer_msg_encode_sign_reply(
				 0, SIGNER_STATUS_MIN - 1, "x", NULL, 0, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(signer_msg_encode_info_reply(0, 5, NULL, NULL, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(signer_msg_encode_open_reply(0, MTLS_ERR_TOKEN, "detail", buf, 20, &len),
		MTLS_ERR_TOO_BIG);
}

static struct signer_key_info sample_info(void)
{
	struct signer_key_info info = {
		.type = P11_KEY_EC_P384, .bits = 384, .caps = P11_CAP_ECDSA, .spki_len = 120};

	memset(info.spki, 0x30, info.spki_len);
	return info;
}

static void info_reply_round_trips(void **state)
{
	static struct signer_msg_reply r;
	struct signer_key_info info = sample_info();
	static uint8_t buf[SIGNER_REPLY_MAX];
	size_t len;

	assert_int_equal(
		signer_msg_encode_info_reply(4, 0, NULL, &info, buf, sizeof(buf), &len), 0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.type, SIGNER_MSG_INFO_REPLY);
	assert_int_equal(r.id, 4);
	assert_int_equal(r.info.type, P11_KEY_EC_P384);
	assert_int_equal(r.info.bits, 384);
	assert_int_equal(r.info.caps, P11_CAP_ECDSA);
	assert_int_equal(r.info.spki_len, 120);
	assert_memory_equal(r.info.spki, info.spki, 120);
	info.spki_len = SIGNER_SPKI_MAX;
	assert_int_equal(
		signer_msg_encode_info_reply(4, 0, NULL, &info, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, SIGNER_REPLY_MAX);
	assert_int_equal(signer_msg_encode_info_reply(
				 4, MTLS_ERR_KEY, "no key", NULL, buf, sizeof(buf), &len),
		0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.status, MTLS_ERR_KEY);
	assert_string_equal(r.detail, "no key");
	info.spki_len = 0;
	assert_int_equal(signer_msg_encode_info_reply(4, 0, NULL, &info, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(signer_msg_encode_info_reply(4, 0, NULL, NULL, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
}

static void sign_reply_round_trips(void **state)
{
	static struct signer_msg_reply r;
	uint8_t sig[P11_SIG_MAX], buf[SIGNER_REPLY_MAX];
	size_t len;

	memset(sig, 0xee, sizeof(sig));
	assert_int_equal(
		signer_msg_encode_sign_reply(77, 0, NULL, sig, sizeof(sig), buf, sizeof(buf), &len),
		0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.type, SIGNER_MSG_SIGN_REPLY);
	assert_int_equal(r.id, 77);
	assert_int_equal(r.siglen, P11_SIG_MAX);
	assert_memory_equal(r.sig, sig, P11_SIG_MAX);
	assert_int_equal(signer_msg_encode_sign_reply(78, MTLS_ERR_TIMEOUT, "C_Sign: slow", NULL, 0,
				 buf, sizeof(buf), &len),
		0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.status, MTLS_ERR_TIMEOUT);
	assert_string_equal(r.detail, "C_Sign: slow");
	assert_int_equal(signer_msg_encode_sign_reply(1, 0, NULL, sig, 0, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(signer_msg_encode_sign_reply(
				 1, 0, NULL, sig, P11_SIG_MAX + 1, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
}

static void reply_status_errors_are_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_OPEN_REPLY);
	put16(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "truncated status");
	start(&p, SIGNER_MSG_OPEN_REPLY);
	put32(&p, 1);
	putstr(&p, "", 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "status out of range");
	start(&p, SIGNER_MSG_SIGN_REPLY);
	put32(&p, (uint32_t)(SIGNER_STATUS_MIN - 1));
	putstr(&p, "", 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "status out of range");
	start(&p, SIGNER_MSG_SIGN_REPLY);
	put32(&p, 0x80000000u);
	putstr(&p, "", 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "status out of range");
}

static void reply_detail_errors_are_malformed(void **state)
{
	char d[SIGNER_DETAIL_MAX + 1];
	struct pkt p;

	memset(d, 'x', sizeof(d));
	start(&p, SIGNER_MSG_SIGN_REPLY);
	put32(&p, (uint32_t)MTLS_ERR_TOKEN);
	putstr(&p, d, sizeof(d));
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "string over its bound");
	start(&p, SIGNER_MSG_INFO_REPLY);
	put32(&p, (uint32_t)MTLS_ERR_TOKEN);
	putstr(&p, "a\0", 2);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "contains NUL");
	start(&p, SIGNER_MSG_OPEN_REPLY);
	put32(&p, 0);
	putstr(&p, "ok", 2);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "trailing bytes");
}

static void info_ok(
	struct pkt *p, unsigned type, uint32_t bits, uint32_t caps, unsigned spki_len, size_t have)
{
	start(p, SIGNER_MSG_INFO_REPLY);
	put32(p, 0);
	put16(p, type);
	put32(p, bits);
	put32(p, caps);
	put16(p, spki_len);
	memset(p->b + p->len, 0x30, have);
	p->len += have;
	finish(p);
}

static void info_reply_errors_are_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_INFO_REPLY);
	put32(&p, 0);
	put16(&p, P11_KEY_RSA);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "truncated INFO_REPLY fields");
	info_ok(&p, P11_KEY_RSA + 1, 256, P11_CAP_ECDSA, 10, 10);
	expect_bad(decode(&p, REPLY, 0), "unknown key type");
	info_ok(&p, P11_KEY_RSA, SIGNER_BITS_MAX + 1, P11_CAP_RSA_PSS, 10, 10);
	expect_bad(decode(&p, REPLY, 0), "key size out of range");
	info_ok(&p, P11_KEY_RSA, 2048, 1u << 4, 10, 10);
	expect_bad(decode(&p, REPLY, 0), "unknown key capabilities");
	info_ok(&p, P11_KEY_RSA, 2048, P11_CAP_KNOWN + 1, 10, 10);
	expect_bad(decode(&p, REPLY, 0), "unknown key capabilities");
	info_ok(&p, P11_KEY_RSA, 2048, P11_CAP_RSA_PKCS1 | P11_CAP_RSA_RAW, 10, 10);
	assert_int_equal(decode(&p, REPLY, 0), 0);
	info_ok(&p, P11_KEY_RSA, 2048, P11_CAP_RSA_PSS, 0, 0);
	expect_bad(decode(&p, REPLY, 0), "public key length out of range");
	info_ok(&p, P11_KEY_RSA, 2048, P11_CAP_RSA_PSS, SIGNER_SPKI_MAX + 1, 0);
	expect_bad(decode(&p, REPLY, 0), "public key length out of range");
	info_ok(&p, P11_KEY_RSA, 2048, P11_CAP_RSA_PSS, 10, 9);
	expect_bad(decode(&p, REPLY, 0), "public key runs past the body");
	info_ok(&p, P11_KEY_RSA, 2048, P11_CAP_RSA_PSS, 10, 11);
	expect_bad(decode(&p, REPLY, 0), "trailing bytes");
	info_ok(&p, P11_KEY_UNKNOWN, 0, 0, 10, 10);
	assert_int_equal(decode(&p, REPLY, 0), 0);
}

static void sign_reply_errors_are_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_SIGN_REPLY);
	put32(&p, 0);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "truncated SIGN_REPLY length");
	start(&p, SIGNER_MSG_SIGN_REPLY);
	put32(&p, 0);
	put16(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "signature length out of range");
	start(&p, SIGNER_MSG_SIGN_REPLY);
	put32(&p, 0);
	put16(&p, P11_SIG_MAX + 1);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "signature length out of range");
	start(&p, SIGNER_MSG_SIGN_REPLY);
	put32(&p, 0);
	put16(&p, 64);
	memset(p.b + p.len, 1, 63);
	p.len += 63;
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "signature runs past the body");
}

/* ---- STATE and CERTS ---- */

static void state_round_trips(void **state)
{
	static struct signer_msg_reply r;
	struct signer_msg_req q;
	struct signer_msg_hdr h;
	const uint8_t *body;
	uint8_t buf[SIGNER_STATE_REPLY_MAX];
	size_t len;

	assert_int_equal(signer_msg_encode_state(3, 2, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, SIGNER_MSG_HDR_LEN + SIGNER_STATE_BODY_LEN);
	assert_int_equal(signer_msg_decode_hdr(buf, len, &h, &body), 0);
	assert_int_equal(signer_msg_decode_req(&h, body, 3, &q), 0);
	assert_int_equal(q.type, SIGNER_MSG_STATE);
	assert_int_equal(q.id, 3);
	assert_int_equal(q.key, 2);
	expect_bad(signer_msg_decode_req(&h, body, 2, &q), "key index out of range");
	assert_int_equal(
		signer_msg_encode_state(0, SIGNER_MAX_KEYS, buf, sizeof(buf), &len), MTLS_ERR_ARG);

	assert_int_equal(signer_msg_encode_state_reply(3, 0, SIGNER_TOKEN_ABSENT,
				 "token not present", buf, sizeof(buf), &len),
		0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.type, SIGNER_MSG_STATE_REPLY);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.state, SIGNER_TOKEN_ABSENT);
	assert_string_equal(r.detail, "token not present");
	assert_int_equal(signer_msg_encode_state_reply(
				 4, 0, SIGNER_TOKEN_PIN_ERROR, NULL, buf, sizeof(buf), &len),
		0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.state, SIGNER_TOKEN_PIN_ERROR);
	assert_string_equal(r.detail, "");
	assert_int_equal(signer_msg_encode_state_reply(5, MTLS_ERR_TOKEN, SIGNER_TOKEN_OK,
				 "C_GetTokenInfo: CKR_DEVICE_ERROR", buf, sizeof(buf), &len),
		0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.status, MTLS_ERR_TOKEN);
	assert_string_equal(r.detail, "C_GetTokenInfo: CKR_DEVICE_ERROR");
	/* Unreachable is the client's conclusion, never the signer's answer. */
	assert_int_equal(signer_msg_encode_state_reply(
				 5, 0, SIGNER_TOKEN_UNREACHABLE, NULL, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(
		signer_msg_encode_state_reply(5, 1, SIGNER_TOKEN_OK, NULL, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
}

static void state_errors_are_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_STATE);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REQ, 1), "truncated STATE key");
	start(&p, SIGNER_MSG_STATE);
	put16(&p, 0);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode_hdr(&p), "over the bound of its type");
	start(&p, SIGNER_MSG_STATE_REPLY);
	put32(&p, 0);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "truncated STATE_REPLY state");
	start(&p, SIGNER_MSG_STATE_REPLY);
	put32(&p, 0);
	put16(&p, SIGNER_TOKEN_UNREACHABLE);
	putstr(&p, "", 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "token state out of range");
	start(&p, SIGNER_MSG_STATE_REPLY);
	put32(&p, 0);
	put16(&p, SIGNER_TOKEN_OK);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "truncated string length");
	start(&p, SIGNER_MSG_STATE_REPLY);
	put32(&p, 0);
	put16(&p, SIGNER_TOKEN_OK);
	putstr(&p, "", 0);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "trailing bytes");
}

static void certs_round_trips(void **state)
{
	static char big[SIGNER_URI_MAX + 2];
	static struct signer_msg_req q;
	struct signer_msg_hdr h;
	const uint8_t *body;
	static uint8_t buf[SIGNER_REQ_MAX + 1];
	size_t len;

	assert_int_equal(
		signer_msg_encode_certs(11, 1, "pkcs11:object=c;type=cert", buf, sizeof(buf), &len),
		0);
	assert_int_equal(signer_msg_decode_hdr(buf, len, &h, &body), 0);
	assert_int_equal(signer_msg_decode_req(&h, body, 2, &q), 0);
	assert_int_equal(q.type, SIGNER_MSG_CERTS);
	assert_int_equal(q.key, 1);
	assert_string_equal(q.uri, "pkcs11:object=c;type=cert");
	expect_bad(signer_msg_decode_req(&h, body, 1, &q), "key index out of range");
	/* NULL and "" both mean the key's own. */
	assert_int_equal(signer_msg_encode_certs(12, 0, NULL, buf, sizeof(buf), &len), 0);
	assert_int_equal(signer_msg_decode_hdr(buf, len, &h, &body), 0);
	assert_int_equal(signer_msg_decode_req(&h, body, 1, &q), 0);
	assert_string_equal(q.uri, "");
	/* A URI at its bound fits the request bound. */
	memset(big, 'u', SIGNER_URI_MAX);
	assert_int_equal(signer_msg_encode_certs(13, 0, big, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, SIGNER_MSG_HDR_LEN + SIGNER_CERTS_BODY_MAX);
	assert_true(len <= SIGNER_REQ_MAX);
	assert_int_equal(signer_msg_decode_hdr(buf, len, &h, &body), 0);
	assert_int_equal(signer_msg_decode_req(&h, body, 1, &q), 0);
	assert_int_equal(strlen(q.uri), SIGNER_URI_MAX);
	big[SIGNER_URI_MAX] = 'u';
	assert_int_equal(
		signer_msg_encode_certs(13, 0, big, buf, sizeof(buf), &len), MTLS_ERR_TOO_BIG);
	assert_int_equal(signer_msg_encode_certs(13, SIGNER_MAX_KEYS, NULL, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
}

static void certs_errors_are_malformed(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_CERTS);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REQ, 1), "truncated CERTS key");
	start(&p, SIGNER_MSG_CERTS);
	put16(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REQ, 1), "truncated string length");
	start(&p, SIGNER_MSG_CERTS);
	put16(&p, 0);
	put16(&p, SIGNER_URI_MAX + 1);
	finish(&p);
	expect_bad(decode(&p, REQ, 1), "string over its bound");
	start(&p, SIGNER_MSG_CERTS);
	put16(&p, 0);
	putstr(&p, "pkcs11:\0", 8);
	finish(&p);
	expect_bad(decode(&p, REQ, 1), "contains NUL");
	start(&p, SIGNER_MSG_CERTS);
	put16(&p, 0);
	putstr(&p, "pkcs11:", 7);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REQ, 1), "trailing bytes");
}

static void certs_reply_round_trips(void **state)
{
	static uint8_t der[SIGNER_CERTS_MAX][SIGNER_CERT_MAX], buf[SIGNER_CERTS_REPLY_MAX];
	static struct signer_msg_reply r;
	const uint8_t *certs[SIGNER_CERTS_MAX + 1];
	size_t lens[SIGNER_CERTS_MAX + 1], len, i;

	for (i = 0; i < SIGNER_CERTS_MAX; i++) {
		memset(der[i], (int)i + 1, SIGNER_CERT_MAX);
		certs[i] = der[i];
		lens[i] = 100 + i;
	}
	assert_int_equal(
		signer_msg_encode_certs_reply(21, 0, NULL, certs, lens, 2, buf, sizeof(buf), &len),
		0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.type, SIGNER_MSG_CERTS_REPLY);
	assert_int_equal(r.id, 21);
	assert_int_equal(r.ncerts, 2);
	assert_int_equal(r.cert_lens[1], 101);
	assert_memory_equal(r.certs[1], der[1], 101);
	assert_int_equal(
		signer_msg_encode_certs_reply(22, 0, NULL, NULL, NULL, 0, buf, sizeof(buf), &len),
		0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.ncerts, 0);
	/* Every certificate at its bound: the largest reply there is. */
	for (i = 0; i < SIGNER_CERTS_MAX; i++)
		lens[i] = SIGNER_CERT_MAX;
	assert_int_equal(signer_msg_encode_certs_reply(23, 0, NULL, certs, lens, SIGNER_CERTS_MAX,
				 buf, sizeof(buf), &len),
		0);
	assert_int_equal(len, SIGNER_CERTS_REPLY_MAX);
	assert_int_equal(len, SIGNER_ANY_REPLY_MAX);
	decode_buf(buf, len, &r);
	assert_int_equal(r.ncerts, SIGNER_CERTS_MAX);
	assert_memory_equal(
		r.certs[SIGNER_CERTS_MAX - 1], der[SIGNER_CERTS_MAX - 1], SIGNER_CERT_MAX);
	assert_int_equal(signer_msg_encode_certs_reply(23, 0, NULL, certs, lens, SIGNER_CERTS_MAX,
				 buf, sizeof(buf) - 1, &len),
		MTLS_ERR_TOO_BIG);
	assert_int_equal(signer_msg_encode_certs_reply(24, MTLS_ERR_URI, "type=cert only", NULL,
				 NULL, 0, buf, sizeof(buf), &len),
		0);
	decode_buf(buf, len, &r);
	assert_int_equal(r.status, MTLS_ERR_URI);
	assert_string_equal(r.detail, "type=cert only");
	assert_int_equal(r.ncerts, 0);
}

static void certs_reply_encoder_refuses_bad_certificates(void **state)
{
	static uint8_t buf[SIGNER_CERTS_REPLY_MAX];
	uint8_t der[4] = {0x30, 2, 0, 0};
	const uint8_t *certs[SIGNER_CERTS_MAX + 1];
	size_t lens[SIGNER_CERTS_MAX + 1], len, i;

	for (i = 0; i < SIGNER_CERTS_MAX + 1; i++) {
		certs[i] = der;
		lens[i] = sizeof(der);
	}
	assert_int_equal(signer_msg_encode_certs_reply(1, 0, NULL, certs, lens,
				 SIGNER_CERTS_MAX + 1, buf, sizeof(buf), &len),
		MTLS_ERR_TOO_BIG);
	lens[1] = 0;
	assert_int_equal(
		signer_msg_encode_certs_reply(1, 0, NULL, certs, lens, 2, buf, sizeof(buf), &len),
		MTLS_ERR_TOO_BIG);
	lens[1] = SIGNER_CERT_MAX + 1;
	assert_int_equal(
		signer_msg_encode_certs_reply(1, 0, NULL, certs, lens, 2, buf, sizeof(buf), &len),
		MTLS_ERR_TOO_BIG);
	lens[1] = sizeof(der);
	certs[1] = NULL;
	assert_int_equal(
		signer_msg_encode_certs_reply(1, 0, NULL, certs, lens, 2, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(
		signer_msg_encode_certs_reply(1, 0, NULL, NULL, lens, 1, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
	assert_int_equal(
		signer_msg_encode_certs_reply(1, 2, NULL, NULL, NULL, 0, buf, sizeof(buf), &len),
		MTLS_ERR_ARG);
}

static void certs_reply_start(struct pkt *p, unsigned n)
{
	start(p, SIGNER_MSG_CERTS_REPLY);
	put32(p, 0);
	put16(p, n);
}

static void certs_reply_errors_are_malformed(void **state)
{
	static struct pkt p;

	start(&p, SIGNER_MSG_CERTS_REPLY);
	put32(&p, 0);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "truncated CERTS_REPLY count");
	certs_reply_start(&p, SIGNER_CERTS_MAX + 1);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "certificate count over its bound");
	certs_reply_start(&p, 1);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "truncated certificate length");
	certs_reply_start(&p, 1);
	put16(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "certificate length out of range");
	certs_reply_start(&p, 1);
	put16(&p, SIGNER_CERT_MAX + 1);
	memset(p.b + p.len, 1, SIGNER_CERT_MAX + 1);
	p.len += SIGNER_CERT_MAX + 1;
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "certificate length out of range");
	certs_reply_start(&p, 2);
	put16(&p, 3);
	put8(&p, 1);
	put8(&p, 2);
	put8(&p, 3);
	put16(&p, 4);
	put8(&p, 1);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "certificate runs past the body");
	certs_reply_start(&p, 1);
	put16(&p, 1);
	put8(&p, 0x30);
	put8(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "trailing bytes");
	start(&p, SIGNER_MSG_CERTS_REPLY);
	memset(p.b + p.len, 0, SIGNER_CERTS_REPLY_BODY_MAX + 1);
	p.len += SIGNER_CERTS_REPLY_BODY_MAX + 1;
	finish(&p);
	expect_bad(decode_hdr(&p), "over the bound of its type");
}

static void reply_decoder_wants_a_reply(void **state)
{
	struct pkt p;

	start(&p, SIGNER_MSG_INFO);
	put16(&p, 0);
	finish(&p);
	expect_bad(decode(&p, REPLY, 0), "unexpected type");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(hdr_short_is_malformed),
		cmocka_unit_test(hdr_oversize_is_malformed),
		cmocka_unit_test(hdr_bad_magic_is_malformed),
		cmocka_unit_test(hdr_bad_version_is_malformed),
		cmocka_unit_test(hdr_unknown_type_is_malformed),
		cmocka_unit_test(hdr_length_mismatch_is_malformed),
		cmocka_unit_test(hdr_body_over_type_bound_is_malformed),
		cmocka_unit_test(open_round_trips),
		cmocka_unit_test(open_with_every_string_at_its_bound_fits),
		cmocka_unit_test(open_encoder_refuses_bad_configs),
		cmocka_unit_test(open_truncated_fields_are_malformed),
		cmocka_unit_test(open_unknown_flags_are_malformed),
		cmocka_unit_test(open_string_errors_are_malformed),
		cmocka_unit_test(open_pin_sources_need_their_flags),
		cmocka_unit_test(open_key_list_errors_are_malformed),
		cmocka_unit_test(open_trailing_bytes_are_malformed),
		cmocka_unit_test(open_decoder_wants_open),
		cmocka_unit_test(info_round_trips),
		cmocka_unit_test(info_errors_are_malformed),
		cmocka_unit_test(sign_round_trips),
		cmocka_unit_test(sign_raw_round_trips),
		cmocka_unit_test(sign_encoder_refuses_bad_requests),
		cmocka_unit_test(sign_encoder_bounds_raw_blocks),
		cmocka_unit_test(sign_errors_are_malformed),
		cmocka_unit_test(sign_raw_length_errors_are_malformed),
		cmocka_unit_test(request_decoder_wants_a_request),
		cmocka_unit_test(open_reply_round_trips),
		cmocka_unit_test(reply_encoders_refuse_bad_status),
		cmocka_unit_test(info_reply_round_trips),
		cmocka_unit_test(sign_reply_round_trips),
		cmocka_unit_test(reply_status_errors_are_malformed),
		cmocka_unit_test(reply_detail_errors_are_malformed),
		cmocka_unit_test(info_reply_errors_are_malformed),
		cmocka_unit_test(sign_reply_errors_are_malformed),
		cmocka_unit_test(reply_decoder_wants_a_reply),
		cmocka_unit_test(state_round_trips),
		cmocka_unit_test(state_errors_are_malformed),
		cmocka_unit_test(certs_round_trips),
		cmocka_unit_test(certs_errors_are_malformed),
		cmocka_unit_test(certs_reply_round_trips),
		cmocka_unit_test(certs_reply_encoder_refuses_bad_certificates),
		cmocka_unit_test(certs_reply_errors_are_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
