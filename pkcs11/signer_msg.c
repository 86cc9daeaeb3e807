/* Signer messages: encode and decode with bounded cursors. Pure functions;
 * the layouts are in signer_msg.h. Decoders are the signer's attack
 * surface, so every branch says what was wrong and nothing of the data. */
#include <string.h>

#include "signer_msg.h"

_Static_assert(SIGNER_ANY_REPLY_MAX <= SIGNER_MSG_MAX, "a reply fits the packet limit");
_Static_assert(SIGNER_REQ_MAX <= SIGNER_MSG_MAX, "a request fits the packet limit");
_Static_assert(SIGNER_CERT_MAX <= 0xffff, "a certificate length fits its u16");

struct rd {
	const uint8_t *p;
	size_t left;
};

struct wr {
	uint8_t *p;
	size_t cap;
	size_t len;
	int err; /* set once anything did not fit */
};

static int bad(const char *what)
{
	return mtls_err_set(MTLS_ERR_PROTOCOL, "signer message: %s", what);
}

static int rd_u16(struct rd *r, uint16_t *v)
{
	if (r->left < 2)
		return -1;
	*v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->left -= 2;
	return 0;
}

static int rd_u32(struct rd *r, uint32_t *v)
{
	if (r->left < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 |
		(uint32_t)r->p[3];
	r->p += 4;
	r->left -= 4;
	return 0;
}

static int rd_bytes(struct rd *r, size_t n, const uint8_t **v)
{
	if (r->left < n)
		return -1;
	*v = r->p;
	r->p += n;
	r->left -= n;
	return 0;
}

/* A string of at most max bytes, none of them NUL. */
static int rd_str(struct rd *r, size_t max, struct signer_msg_str *s)
{
	const uint8_t *v;
	uint16_t n;

	if (rd_u16(r, &n) != 0)
		return bad("truncated string length");
	if (n > max)
		return bad("string over its bound");
	if (rd_bytes(r, n, &v) != 0)
		return bad("string runs past the body");
	if (memchr(v, '\0', n) != NULL)
		return bad("string contains NUL");
	s->p = (const char *)v;
	s->len = n;
	return 0;
}

static void wr_u16(struct wr *w, unsigned v)
{
	if (w->err || w->cap - w->len < 2 || v > 0xffff) {
		w->err = 1;
		return;
	}
	w->p[w->len++] = (uint8_t)(v >> 8);
	w->p[w->len++] = (uint8_t)v;
}

static void wr_u32(struct wr *w, uint32_t v)
{
	if (w->err || w->cap - w->len < 4) {
		w->err = 1;
		return;
	}
	w->p[w->len++] = (uint8_t)(v >> 24);
	w->p[w->len++] = (uint8_t)(v >> 16);
	w->p[w->len++] = (uint8_t)(v >> 8);
	w->p[w->len++] = (uint8_t)v;
}

static void wr_bytes(struct wr *w, const void *v, size_t n)
{
	if (w->err || w->cap - w->len < n) {
		w->err = 1;
		return;
	}
	if (n > 0)
		memcpy(w->p + w->len, v, n);
	w->len += n;
}

static void wr_str(struct wr *w, const char *s, size_t n)
{
	wr_u16(w, (unsigned)n);
	wr_bytes(w, s, n);
}

/* Start a packet; the body length is patched in by wr_finish(). */
static void wr_start(struct wr *w, uint8_t *buf, size_t cap, uint16_t type, uint32_t id)
{
	w->p = buf;
	w->cap = cap;
	w->len = 0;
	w->err = 0;
	wr_u32(w, SIGNER_MSG_MAGIC);
	wr_u16(w, SIGNER_MSG_VERSION);
	wr_u16(w, type);
	wr_u32(w, id);
	wr_u32(w, 0);
}

static int wr_finish(struct wr *w, size_t *len)
{
	size_t body;

	*len = 0;
	if (w->err)
		return mtls_err_set(MTLS_ERR_TOO_BIG,
			"signer message does not fit its %zu-byte buffer", w->cap);
	body = w->len - SIGNER_MSG_HDR_LEN;
	w->p[12] = (uint8_t)(body >> 24);
	w->p[13] = (uint8_t)(body >> 16);
	w->p[14] = (uint8_t)(body >> 8);
	w->p[15] = (uint8_t)body;
	*len = w->len;
	return 0;
}

void signer_msg_set_id(uint8_t *pkt, uint32_t id)
{
	pkt[8] = (uint8_t)(id >> 24);
	pkt[9] = (uint8_t)(id >> 16);
	pkt[10] = (uint8_t)(id >> 8);
	pkt[11] = (uint8_t)id;
}

/* ---- decoding ---- */

static size_t body_max(uint16_t type)
{
	switch (type) {
	case SIGNER_MSG_OPEN: return SIGNER_OPEN_BODY_MAX;
	case SIGNER_MSG_INFO: return SIGNER_INFO_BODY_LEN;
	case SIGNER_MSG_SIGN: return SIGNER_SIGN_BODY_MAX;
	case SIGNER_MSG_OPEN_REPLY:
	case SIGNER_MSG_INFO_REPLY:
	case SIGNER_MSG_SIGN_REPLY: return SIGNER_REPLY_BODY_MAX;
	case SIGNER_MSG_STATE: return SIGNER_STATE_BODY_LEN;
	case SIGNER_MSG_STATE_REPLY: return SIGNER_STATE_REPLY_BODY_MAX;
	case SIGNER_MSG_CERTS: return SIGNER_CERTS_BODY_MAX;
	case SIGNER_MSG_CERTS_REPLY: return SIGNER_CERTS_REPLY_BODY_MAX;
	default: return 0;
	}
}

int signer_msg_decode_hdr(
	const uint8_t *pkt, size_t n, struct signer_msg_hdr *h, const uint8_t **body)
{
	struct rd r = {pkt, n};
	uint32_t magic, len;
	uint16_t version, type;

	if (pkt == NULL || n < SIGNER_MSG_HDR_LEN)
		return bad("shorter than its header");
	if (n > SIGNER_MSG_MAX)
		return bad("packet over the size limit");
	(void)rd_u32(&r, &magic);
	(void)rd_u16(&r, &version);
	(void)rd_u16(&r, &type);
	(void)rd_u32(&r, &h->id);
	(void)rd_u32(&r, &len);
	if (magic != SIGNER_MSG_MAGIC)
		return bad("bad magic");
	if (version != SIGNER_MSG_VERSION)
		return bad("unsupported version");
	if (body_max(type) == 0)
		return bad("unknown type");
	if (len != n - SIGNER_MSG_HDR_LEN)
		return bad("body length does not match the packet");
	if (len > body_max(type))
		return bad("body over the bound of its type");
	h->type = type;
	h->len = len;
	*body = r.p;
	return 0;
}

static int check_type(const struct signer_msg_hdr *h, uint16_t want)
{
	return h->type == want ? 0 : bad("unexpected type");
}

static int open_strings(struct rd *r, struct signer_msg_open *m)
{
	uint16_t n;
	size_t i;
	int rc;

	if ((rc = rd_str(r, SIGNER_URI_MAX, &m->pin_file)) != 0 ||
		(rc = rd_str(r, SIGNER_URI_MAX, &m->pin_credential)) != 0)
		return rc;
	if (!(m->flags & SIGNER_OPEN_HAS_PIN_FILE) && m->pin_file.len != 0)
		return bad("PIN file given without its flag");
	if (!(m->flags & SIGNER_OPEN_HAS_PIN_CRED) && m->pin_credential.len != 0)
		return bad("PIN credential given without its flag");
	if (rd_u16(r, &n) != 0)
		return bad("truncated key count");
	if (n == 0 || n > SIGNER_MAX_KEYS)
		return bad("key count out of range");
	m->nkeys = n;
	for (i = 0; i < m->nkeys; i++) {
		if ((rc = rd_str(r, SIGNER_URI_MAX, &m->keys[i])) != 0)
			return rc;
		if (m->keys[i].len == 0)
			return bad("empty key URI");
	}
	return 0;
}

int signer_msg_decode_open(
	const struct signer_msg_hdr *h, const uint8_t *body, struct signer_msg_open *m)
{
	struct rd r = {body, h->len};
	int rc;

	memset(m, 0, sizeof(*m));
	if ((rc = check_type(h, SIGNER_MSG_OPEN)) != 0)
		return rc;
	if (rd_u32(&r, &m->flags) != 0 || rd_u32(&r, &m->max_sessions) != 0 ||
		rd_u32(&r, &m->rescan_ms) != 0 || rd_u32(&r, &m->wait_ms) != 0)
		return bad("truncated OPEN fields");
	if (m->flags & ~SIGNER_OPEN_FLAGS_KNOWN)
		return bad("unknown OPEN flags");
	if ((rc = open_strings(&r, m)) != 0)
		return rc;
	if (r.left != 0)
		return bad("trailing bytes");
	return 0;
}

static int decode_sign(struct rd *r, size_t nkeys, struct signer_msg_req *q)
{
	uint16_t key, sig, outmax, inlen;
	const uint8_t *in;

	if (rd_u16(r, &key) != 0 || rd_u16(r, &sig) != 0 || rd_u16(r, &outmax) != 0 ||
		rd_u16(r, &inlen) != 0)
		return bad("truncated SIGN fields");
	if (key >= nkeys)
		return bad("key index out of range");
	if (sig < P11_SIG_ECDSA || sig > P11_SIG_LAST)
		return bad("unknown signature mechanism");
	if (outmax > P11_SIG_MAX)
		return bad("signature room over its bound");
	if (!p11_sig_inlen_ok(sig, inlen))
		return bad("input length out of range");
	if (rd_bytes(r, inlen, &in) != 0)
		return bad("SIGN input runs past the body");
	q->key = key;
	q->sig = (enum p11_sig)sig;
	q->outmax = outmax;
	q->inlen = inlen;
	memcpy(q->in, in, inlen);
	return 0;
}

/* The key index that starts INFO, STATE and CERTS. */
static int decode_key(struct rd *r, size_t nkeys, const char *what, struct signer_msg_req *q)
{
	uint16_t key;

	if (rd_u16(r, &key) != 0)
		return bad(what);
	if (key >= nkeys)
		return bad("key index out of range");
	q->key = key;
	return 0;
}

static int decode_certs(struct rd *r, size_t nkeys, struct signer_msg_req *q)
{
	struct signer_msg_str uri;
	int rc;

	if ((rc = decode_key(r, nkeys, "truncated CERTS key", q)) != 0 ||
		(rc = rd_str(r, SIGNER_URI_MAX, &uri)) != 0)
		return rc;
	memcpy(q->uri, uri.p, uri.len);
	q->uri[uri.len] = '\0';
	return 0;
}

int signer_msg_decode_req(
	const struct signer_msg_hdr *h, const uint8_t *body, size_t nkeys, struct signer_msg_req *q)
{
	struct rd r = {body, h->len};
	int rc;

	memset(q, 0, sizeof(*q));
	q->type = h->type;
	q->id = h->id;
	/* The protocol's own bound, whatever the caller says it opened (the
	 * encoder refuses indexes past it; found by fuzz_signer_msg). */
	if (nkeys > SIGNER_MAX_KEYS)
		nkeys = SIGNER_MAX_KEYS;
	switch (h->type) {
	case SIGNER_MSG_INFO: rc = decode_key(&r, nkeys, "truncated INFO key", q); break;
	case SIGNER_MSG_SIGN: rc = decode_sign(&r, nkeys, q); break;
	case SIGNER_MSG_STATE: rc = decode_key(&r, nkeys, "truncated STATE key", q); break;
	case SIGNER_MSG_CERTS: rc = decode_certs(&r, nkeys, q); break;
	default: return bad("unexpected type");
	}
	if (rc != 0)
		return rc;
	if (r.left != 0)
		return bad("trailing bytes");
	return 0;
}

static int decode_info_ok(struct rd *r, struct signer_key_info *info)
{
	uint16_t type, spki_len;
	uint32_t bits, caps;
	const uint8_t *spki;

	if (rd_u16(r, &type) != 0 || rd_u32(r, &bits) != 0 || rd_u32(r, &caps) != 0 ||
		rd_u16(r, &spki_len) != 0)
		return bad("truncated INFO_REPLY fields");
	if (type > P11_KEY_RSA)
		return bad("unknown key type");
	if (bits > SIGNER_BITS_MAX)
		return bad("key size out of range");
	if (caps & ~P11_CAP_KNOWN)
		return bad("unknown key capabilities");
	if (spki_len == 0 || spki_len > SIGNER_SPKI_MAX)
		return bad("public key length out of range");
	if (rd_bytes(r, spki_len, &spki) != 0)
		return bad("public key runs past the body");
	info->type = (enum p11_key_type)type;
	info->bits = bits;
	info->caps = caps;
	memcpy(info->spki, spki, spki_len);
	info->spki_len = spki_len;
	return 0;
}

static int decode_sign_ok(struct rd *r, struct signer_msg_reply *q)
{
	const uint8_t *sig;
	uint16_t n;

	if (rd_u16(r, &n) != 0)
		return bad("truncated SIGN_REPLY length");
	if (n == 0 || n > P11_SIG_MAX)
		return bad("signature length out of range");
	if (rd_bytes(r, n, &sig) != 0)
		return bad("signature runs past the body");
	memcpy(q->sig, sig, n);
	q->siglen = n;
	return 0;
}

static int decode_state_ok(struct rd *r, struct signer_msg_reply *q)
{
	uint16_t state;

	if (rd_u16(r, &state) != 0)
		return bad("truncated STATE_REPLY state");
	if (state != SIGNER_TOKEN_OK && state != SIGNER_TOKEN_ABSENT &&
		state != SIGNER_TOKEN_PIN_ERROR)
		return bad("token state out of range");
	q->state = (enum signer_token_state)state;
	return 0;
}

static int decode_certs_ok(struct rd *r, struct signer_msg_reply *q)
{
	uint16_t n, len;
	size_t i;

	if (rd_u16(r, &n) != 0)
		return bad("truncated CERTS_REPLY count");
	if (n > SIGNER_CERTS_MAX)
		return bad("certificate count over its bound");
	for (i = 0; i < n; i++) {
		if (rd_u16(r, &len) != 0)
			return bad("truncated certificate length");
		if (len == 0 || len > SIGNER_CERT_MAX)
			return bad("certificate length out of range");
		if (rd_bytes(r, len, &q->certs[i]) != 0)
			return bad("certificate runs past the body");
		q->cert_lens[i] = len;
	}
	q->ncerts = n;
	return 0;
}

/* A failed reply carries its detail text; OPEN_REPLY and STATE_REPLY carry
 * one always. */
static int decode_status_body(struct rd *r, struct signer_msg_reply *q)
{
	struct signer_msg_str d;
	int rc;

	if (q->status == 0 && q->type == SIGNER_MSG_INFO_REPLY)
		return decode_info_ok(r, &q->info);
	if (q->status == 0 && q->type == SIGNER_MSG_SIGN_REPLY)
		return decode_sign_ok(r, q);
	if (q->status == 0 && q->type == SIGNER_MSG_CERTS_REPLY)
		return decode_certs_ok(r, q);
	if (q->status == 0 && q->type == SIGNER_MSG_STATE_REPLY &&
		(rc = decode_state_ok(r, q)) != 0)
		return rc;
	if ((rc = rd_str(r, SIGNER_DETAIL_MAX, &d)) != 0)
		return rc;
	memcpy(q->detail, d.p, d.len);
	q->detail[d.len] = '\0';
	return 0;
}

int signer_msg_decode_reply(
	const struct signer_msg_hdr *h, const uint8_t *body, struct signer_msg_reply *q)
{
	struct rd r = {body, h->len};
	uint32_t status;
	int rc;

	memset(q, 0, sizeof(*q));
	if (h->type != SIGNER_MSG_OPEN_REPLY && h->type != SIGNER_MSG_INFO_REPLY &&
		h->type != SIGNER_MSG_SIGN_REPLY && h->type != SIGNER_MSG_STATE_REPLY &&
		h->type != SIGNER_MSG_CERTS_REPLY)
		return bad("unexpected type");
	q->type = h->type;
	q->id = h->id;
	if (rd_u32(&r, &status) != 0)
		return bad("truncated status");
	/* Two's complement on the wire; compare as signed. */
	q->status = status > 0x7fffffffu ? -(int)(~status) - 1 : (int)status;
	if (q->status > 0 || q->status < SIGNER_STATUS_MIN)
		return bad("status out of range");
	if ((rc = decode_status_body(&r, q)) != 0)
		return rc;
	if (r.left != 0)
		return bad("trailing bytes");
	return 0;
}

/* ---- encoding ---- */

static size_t str_len_max(const char *s, size_t max)
{
	return s == NULL ? 0 : strnlen(s, max + 1);
}

static int check_status(int status)
{
	if (status > 0 || status < SIGNER_STATUS_MIN)
		return mtls_err_set(MTLS_ERR_ARG, "status %d is not an error code", status);
	return 0;
}

static uint32_t open_flags(const struct p11_options *o)
{
	uint32_t f = 0;

	if (o->allow_pin_value)
		f |= SIGNER_OPEN_ALLOW_PIN_VALUE;
	if (o->allow_final_try)
		f |= SIGNER_OPEN_ALLOW_FINAL_TRY;
	if (o->pin_file != NULL)
		f |= SIGNER_OPEN_HAS_PIN_FILE;
	if (o->pin_credential != NULL)
		f |= SIGNER_OPEN_HAS_PIN_CRED;
	return f;
}

int signer_check_config(const struct signer_config *cfg)
{
	size_t i;

	if (cfg == NULL || cfg->key_uris == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "signer: no configuration");
	if (cfg->nkeys == 0 || cfg->nkeys > SIGNER_MAX_KEYS)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"signer: %zu keys configured; 1 to %d are allowed", cfg->nkeys,
			SIGNER_MAX_KEYS);
	for (i = 0; i < cfg->nkeys; i++) {
		if (cfg->key_uris[i] == NULL || cfg->key_uris[i][0] == '\0')
			return mtls_err_set(MTLS_ERR_CONFIG, "signer: key %zu has no URI", i);
		if (str_len_max(cfg->key_uris[i], SIGNER_URI_MAX) > SIGNER_URI_MAX)
			return mtls_err_set(MTLS_ERR_TOO_BIG, "signer: key %zu: URI over %d bytes",
				i, SIGNER_URI_MAX);
	}
	if (str_len_max(cfg->p11.pin_file, SIGNER_URI_MAX) > SIGNER_URI_MAX ||
		str_len_max(cfg->p11.pin_credential, SIGNER_URI_MAX) > SIGNER_URI_MAX)
		return mtls_err_set(MTLS_ERR_TOO_BIG,
			"signer: PIN file or credential name over %d bytes", SIGNER_URI_MAX);
	return 0;
}

int signer_msg_encode_open(
	uint32_t id, const struct signer_config *cfg, uint8_t *buf, size_t cap, size_t *len)
{
	const struct p11_options *o;
	struct wr w;
	size_t i;
	int rc;

	*len = 0;
	if ((rc = signer_check_config(cfg)) != 0)
		return rc;
	o = &cfg->p11;
	wr_start(&w, buf, cap, SIGNER_MSG_OPEN, id);
	wr_u32(&w, open_flags(o));
	wr_u32(&w, o->max_sessions);
	wr_u32(&w, o->rescan_ms);
	wr_u32(&w, o->wait_ms);
	wr_str(&w, o->pin_file, str_len_max(o->pin_file, SIGNER_URI_MAX));
	wr_str(&w, o->pin_credential, str_len_max(o->pin_credential, SIGNER_URI_MAX));
	wr_u16(&w, (unsigned)cfg->nkeys);
	for (i = 0; i < cfg->nkeys; i++)
		wr_str(&w, cfg->key_uris[i], strlen(cfg->key_uris[i]));
	return wr_finish(&w, len);
}

/* Details are informative only: cut rather than fail. */
static void wr_detail(struct wr *w, const char *detail)
{
	size_t n = str_len_max(detail, SIGNER_DETAIL_MAX);

	wr_str(w, detail, n > SIGNER_DETAIL_MAX ? SIGNER_DETAIL_MAX : n);
}

int signer_msg_encode_open_reply(
	uint32_t id, int status, const char *detail, uint8_t *buf, size_t cap, size_t *len)
{
	struct wr w;
	int rc;

	*len = 0;
	if ((rc = check_status(status)) != 0)
		return rc;
	wr_start(&w, buf, cap, SIGNER_MSG_OPEN_REPLY, id);
	wr_u32(&w, (uint32_t)status);
	wr_detail(&w, detail);
	return wr_finish(&w, len);
}

int signer_msg_encode_info(uint32_t id, unsigned key, uint8_t *buf, size_t cap, size_t *len)
{
	struct wr w;

	*len = 0;
	if (key >= SIGNER_MAX_KEYS)
		return mtls_err_set(MTLS_ERR_ARG, "key index %u out of range", key);
	wr_start(&w, buf, cap, SIGNER_MSG_INFO, id);
	wr_u16(&w, key);
	return wr_finish(&w, len);
}

static int check_info(const struct signer_key_info *info)
{
	if (info == NULL || info->type > P11_KEY_RSA || info->bits > SIGNER_BITS_MAX ||
		(info->caps & ~P11_CAP_KNOWN) || info->spki_len == 0 ||
		info->spki_len > SIGNER_SPKI_MAX)
		return mtls_err_set(MTLS_ERR_ARG, "key info out of range");
	return 0;
}

int signer_msg_encode_info_reply(uint32_t id, int status, const char *detail,
	const struct signer_key_info *info, uint8_t *buf, size_t cap, size_t *len)
{
	struct wr w;
	int rc;

	*len = 0;
	if ((rc = check_status(status)) != 0)
		return rc;
	if (status == 0 && (rc = check_info(info)) != 0)
		return rc;
	wr_start(&w, buf, cap, SIGNER_MSG_INFO_REPLY, id);
	wr_u32(&w, (uint32_t)status);
	if (status == 0) {
		wr_u16(&w, (unsigned)info->type);
		wr_u32(&w, info->bits);
		wr_u32(&w, info->caps);
		wr_u16(&w, (unsigned)info->spki_len);
		wr_bytes(&w, info->spki, info->spki_len);
	} else {
		wr_detail(&w, detail);
	}
	return wr_finish(&w, len);
}

int signer_msg_encode_sign(uint32_t id, unsigned key, enum p11_sig sig, const uint8_t *in,
	size_t inlen, size_t outmax, uint8_t *buf, size_t cap, size_t *len)
{
	struct wr w;

	*len = 0;
	if (key >= SIGNER_MAX_KEYS || sig < P11_SIG_ECDSA || sig > P11_SIG_LAST || in == NULL ||
		inlen == 0)
		return mtls_err_set(MTLS_ERR_ARG, "sign request out of range");
	if (outmax > P11_SIG_MAX ||
		inlen > (sig == P11_SIG_RSA_RAW ? P11_SIG_RAW_MAX : P11_SIG_IN_MAX))
		return mtls_err_set(MTLS_ERR_TOO_BIG,
			"sign request: %zu input bytes or %zu output bytes over the bound", inlen,
			outmax);
	if (!p11_sig_inlen_ok(sig, inlen))
		return mtls_err_set(MTLS_ERR_ARG, "sign request: %zu input bytes for mechanism %d",
			inlen, (int)sig);
	wr_start(&w, buf, cap, SIGNER_MSG_SIGN, id);
	wr_u16(&w, key);
	wr_u16(&w, (unsigned)sig);
	wr_u16(&w, (unsigned)outmax);
	wr_u16(&w, (unsigned)inlen);
	wr_bytes(&w, in, inlen);
	return wr_finish(&w, len);
}

int signer_msg_encode_sign_reply(uint32_t id, int status, const char *detail, const uint8_t *sig,
	size_t siglen, uint8_t *buf, size_t cap, size_t *len)
{
	struct wr w;
	int rc;

	*len = 0;
	if ((rc = check_status(status)) != 0)
		return rc;
	if (status == 0 && (sig == NULL || siglen == 0 || siglen > P11_SIG_MAX))
		return mtls_err_set(MTLS_ERR_ARG, "signature length %zu out of range", siglen);
	wr_start(&w, buf, cap, SIGNER_MSG_SIGN_REPLY, id);
	wr_u32(&w, (uint32_t)status);
	if (status == 0) {
		wr_u16(&w, (unsigned)siglen);
		wr_bytes(&w, sig, siglen);
	} else {
		wr_detail(&w, detail);
	}
	return wr_finish(&w, len);
}

int signer_msg_encode_state(uint32_t id, unsigned key, uint8_t *buf, size_t cap, size_t *len)
{
	struct wr w;

	*len = 0;
	if (key >= SIGNER_MAX_KEYS)
		return mtls_err_set(MTLS_ERR_ARG, "key index %u out of range", key);
	wr_start(&w, buf, cap, SIGNER_MSG_STATE, id);
	wr_u16(&w, key);
	return wr_finish(&w, len);
}

int signer_msg_encode_state_reply(uint32_t id, int status, enum signer_token_state state,
	const char *detail, uint8_t *buf, size_t cap, size_t *len)
{
	struct wr w;
	int rc;

	*len = 0;
	if ((rc = check_status(status)) != 0)
		return rc;
	if (status == 0 && state != SIGNER_TOKEN_OK && state != SIGNER_TOKEN_ABSENT &&
		state != SIGNER_TOKEN_PIN_ERROR)
		return mtls_err_set(MTLS_ERR_ARG, "token state %d cannot be sent", (int)state);
	wr_start(&w, buf, cap, SIGNER_MSG_STATE_REPLY, id);
	wr_u32(&w, (uint32_t)status);
	if (status == 0)
		wr_u16(&w, (unsigned)state);
	wr_detail(&w, detail);
	return wr_finish(&w, len);
}

int signer_msg_encode_certs(
	uint32_t id, unsigned key, const char *uri, uint8_t *buf, size_t cap, size_t *len)
{
	size_t n = str_len_max(uri, SIGNER_URI_MAX);
	struct wr w;

	*len = 0;
	if (key >= SIGNER_MAX_KEYS)
		return mtls_err_set(MTLS_ERR_ARG, "key index %u out of range", key);
	if (n > SIGNER_URI_MAX)
		return mtls_err_set(
			MTLS_ERR_TOO_BIG, "certificate URI over %d bytes", SIGNER_URI_MAX);
	wr_start(&w, buf, cap, SIGNER_MSG_CERTS, id);
	wr_u16(&w, key);
	wr_str(&w, uri, n);
	return wr_finish(&w, len);
}

static int check_certs(const uint8_t *const *certs, const size_t *lens, size_t n)
{
	size_t i;

	if (n > SIGNER_CERTS_MAX)
		return mtls_err_set(MTLS_ERR_TOO_BIG, "%zu certificates; at most %d are sent", n,
			SIGNER_CERTS_MAX);
	if (n > 0 && (certs == NULL || lens == NULL))
		return mtls_err_set(MTLS_ERR_ARG, "no certificates to send");
	for (i = 0; i < n; i++) {
		if (certs[i] == NULL)
			return mtls_err_set(MTLS_ERR_ARG, "certificate %zu missing", i + 1);
		if (lens[i] == 0 || lens[i] > SIGNER_CERT_MAX)
			return mtls_err_set(MTLS_ERR_TOO_BIG,
				"certificate %zu of %zu bytes; 1 to %d are sent", i + 1, lens[i],
				SIGNER_CERT_MAX);
	}
	return 0;
}

int signer_msg_encode_certs_reply(uint32_t id, int status, const char *detail,
	const uint8_t *const *certs, const size_t *lens, size_t n, uint8_t *buf, size_t cap,
	size_t *len)
{
	struct wr w;
	size_t i;
	int rc;

	*len = 0;
	if ((rc = check_status(status)) != 0)
		return rc;
	if (status == 0 && (rc = check_certs(certs, lens, n)) != 0)
		return rc;
	wr_start(&w, buf, cap, SIGNER_MSG_CERTS_REPLY, id);
	wr_u32(&w, (uint32_t)status);
	if (status == 0) {
		wr_u16(&w, (unsigned)n);
		for (i = 0; i < n; i++) {
			wr_u16(&w, (unsigned)lens[i]);
			wr_bytes(&w, certs[i], lens[i]);
		}
	} else {
		wr_detail(&w, detail);
	}
	return wr_finish(&w, len);
}
