/* Fuzz the signer's decoders (pkcs11/signer_msg.c): a packet goes through
 * the header check and every body decoder (OPEN, the INFO, SIGN, STATE and
 * CERTS requests, and every reply). Whatever decodes must encode
 * back to the same bytes, so the format has one spelling per message and
 * the decoders accept nothing the encoders cannot say. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "signer_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[SIGNER_MSG_MAX];

static void same(const uint8_t *data, size_t size, size_t len)
{
	if (len != size || memcmp(out, data, size) != 0)
		abort();
}

static void open_again(const struct signer_msg_hdr *h, const uint8_t *data, size_t size,
	const struct signer_msg_open *m)
{
	static char strs[SIGNER_MAX_KEYS + 2][SIGNER_URI_MAX + 1];
	static const char *uris[SIGNER_MAX_KEYS];
	struct signer_config cfg = {.key_uris = uris, .nkeys = m->nkeys};
	size_t i, len;

	for (i = 0; i < m->nkeys; i++) {
		memcpy(strs[i], m->keys[i].p, m->keys[i].len);
		strs[i][m->keys[i].len] = '\0';
		uris[i] = strs[i];
	}
	memcpy(strs[i], m->pin_file.p, m->pin_file.len);
	strs[i][m->pin_file.len] = '\0';
	memcpy(strs[i + 1], m->pin_credential.p, m->pin_credential.len);
	strs[i + 1][m->pin_credential.len] = '\0';
	if (m->flags & SIGNER_OPEN_HAS_PIN_FILE)
		cfg.p11.pin_file = strs[i];
	if (m->flags & SIGNER_OPEN_HAS_PIN_CRED)
		cfg.p11.pin_credential = strs[i + 1];
	cfg.p11.allow_pin_value = (m->flags & SIGNER_OPEN_ALLOW_PIN_VALUE) != 0;
	cfg.p11.allow_final_try = (m->flags & SIGNER_OPEN_ALLOW_FINAL_TRY) != 0;
	cfg.p11.max_sessions = m->max_sessions;
	cfg.p11.rescan_ms = m->rescan_ms;
	cfg.p11.wait_ms = m->wait_ms;
	if (signer_msg_encode_open(h->id, &cfg, out, sizeof(out), &len) != 0)
		abort();
	same(data, size, len);
}

static void req_again(const uint8_t *data, size_t size, const struct signer_msg_req *q)
{
	size_t len;
	int rc;

	if (q->type == SIGNER_MSG_INFO)
		rc = signer_msg_encode_info(q->id, q->key, out, sizeof(out), &len);
	else if (q->type == SIGNER_MSG_STATE)
		rc = signer_msg_encode_state(q->id, q->key, out, sizeof(out), &len);
	else if (q->type == SIGNER_MSG_CERTS)
		rc = signer_msg_encode_certs(q->id, q->key, q->uri, out, sizeof(out), &len);
	else
		rc = signer_msg_encode_sign(
			q->id, q->key, q->sig, q->in, q->inlen, q->outmax, out, sizeof(out), &len);
	if (rc != 0)
		abort();
	same(data, size, len);
}

static void reply_again(const uint8_t *data, size_t size, const struct signer_msg_reply *r)
{
	size_t len;
	int rc;

	if (r->type == SIGNER_MSG_OPEN_REPLY)
		rc = signer_msg_encode_open_reply(
			r->id, r->status, r->detail, out, sizeof(out), &len);
	else if (r->type == SIGNER_MSG_INFO_REPLY)
		rc = signer_msg_encode_info_reply(
			r->id, r->status, r->detail, &r->info, out, sizeof(out), &len);
	else if (r->type == SIGNER_MSG_STATE_REPLY)
		rc = signer_msg_encode_state_reply(
			r->id, r->status, r->state, r->detail, out, sizeof(out), &len);
	else if (r->type == SIGNER_MSG_CERTS_REPLY)
		rc = signer_msg_encode_certs_reply(r->id, r->status, r->detail, r->certs,
			r->cert_lens, r->ncerts, out, sizeof(out), &len);
	else
		rc = signer_msg_encode_sign_reply(
			r->id, r->status, r->detail, r->sig, r->siglen, out, sizeof(out), &len);
	if (rc != 0)
		abort();
	same(data, size, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct signer_msg_open m;
	static struct signer_msg_req q;
	static struct signer_msg_reply r;
	struct signer_msg_hdr h;
	const uint8_t *body;
	size_t nkeys;

	if (signer_msg_decode_hdr(data, size, &h, &body) != 0)
		return 0;
	if (signer_msg_decode_open(&h, body, &m) == 0)
		open_again(&h, data, size, &m);
	/* The key bound comes from the packet's last body byte, so both
	 * sides of the key-index check are reached. */
	nkeys = h.len > 0 ? body[h.len - 1] % (SIGNER_MAX_KEYS + 2) : 1;
	if (signer_msg_decode_req(&h, body, nkeys, &q) == 0)
		req_again(data, size, &q);
	if (signer_msg_decode_reply(&h, body, &r) == 0)
		reply_again(data, size, &r);
	return 0;
}
