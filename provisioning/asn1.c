/* Bounded DER reading and writing (see asn1.h). */
#include <stdlib.h>
#include <string.h>

#include "asn1.h"

/* Definite length at c->p[1..]; *hdr gets the header size. */
static int read_len(const struct asn1 *c, size_t *len, size_t *hdr)
{
	size_t n, i, v = 0;

	if (c->len < 2)
		return -1;
	if (c->p[1] < 0x80) {
		*len = c->p[1];
		*hdr = 2;
		return 0;
	}
	n = c->p[1] & 0x7f;
	if (n == 0 || n > 4 || c->len < 2 + n)
		return -1; /* indefinite, or over 4 GiB: never valid here */
	if (c->p[2] == 0)
		return -1; /* not minimal */
	for (i = 0; i < n; i++)
		v = (v << 8) | c->p[2 + i];
	if (v < 0x80)
		return -1; /* long form for a short length: not DER */
	*len = v;
	*hdr = 2 + n;
	return 0;
}

int asn1_next(struct asn1 *c, uint8_t *tag, struct asn1 *val, struct asn1 *tlv)
{
	size_t len, hdr;

	if (c->len == 0 || (c->p[0] & 0x1f) == 0x1f)
		return -1;
	if (read_len(c, &len, &hdr) != 0 || len > c->len - hdr)
		return -1;
	if (tag != NULL)
		*tag = c->p[0];
	if (val != NULL) {
		val->p = c->p + hdr;
		val->len = len;
	}
	if (tlv != NULL) {
		tlv->p = c->p;
		tlv->len = hdr + len;
	}
	c->p += hdr + len;
	c->len -= hdr + len;
	return 0;
}

int asn1_expect(struct asn1 *c, uint8_t tag, struct asn1 *val, struct asn1 *tlv)
{
	if (c->len == 0 || c->p[0] != tag)
		return -1;
	return asn1_next(c, NULL, val, tlv);
}

void asn1_buf_init(struct asn1_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void asn1_buf_free(struct asn1_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int reserve(struct asn1_buf *b, size_t more)
{
	size_t cap;
	uint8_t *p;

	if (b->err || more > b->max || b->len > b->max - more) {
		b->err = 1;
		return -1;
	}
	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + more)
		cap *= 2;
	if (cap > b->max)
		cap = b->max;
	p = realloc(b->p, cap);
	if (p == NULL) {
		b->err = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void asn1_put(struct asn1_buf *b, const void *data, size_t len)
{
	if (len == 0 || reserve(b, len) != 0)
		return;
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

size_t asn1_header(uint8_t *out, uint8_t tag, size_t len)
{
	size_t n = 0, i;

	out[0] = tag;
	if (len < 0x80) {
		out[1] = (uint8_t)len;
		return 2;
	}
	for (i = len; i > 0; i >>= 8)
		n++;
	out[1] = (uint8_t)(0x80 | n);
	for (i = 0; i < n; i++)
		out[2 + i] = (uint8_t)(len >> (8 * (n - 1 - i)));
	return 2 + n;
}

void asn1_put_tlv(struct asn1_buf *b, uint8_t tag, const void *val, size_t len)
{
	uint8_t hdr[6];

	asn1_put(b, hdr, asn1_header(hdr, tag, len));
	if (len > 0)
		asn1_put(b, val, len);
}

void asn1_wrap(struct asn1_buf *b, size_t start, uint8_t tag)
{
	uint8_t hdr[6];
	size_t n, body;

	if (b->err || start > b->len) {
		b->err = 1;
		return;
	}
	body = b->len - start;
	n = asn1_header(hdr, tag, body);
	if (reserve(b, n) != 0)
		return;
	memmove(b->p + start + n, b->p + start, body);
	memcpy(b->p + start, hdr, n);
	b->len += n;
}
