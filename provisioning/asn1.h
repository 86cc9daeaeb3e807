/* The little DER the provisioning tool reads and writes itself: a bounded
 * reader (every length checked against what is left, definite lengths
 * only, single-byte tags) and a growable writer with a hard maximum. */
#ifndef MTLS_PROVISION_ASN1_H
#define MTLS_PROVISION_ASN1_H

#include <stddef.h>
#include <stdint.h>

#define ASN1_SEQUENCE 0x30
#define ASN1_SET 0x31
#define ASN1_INTEGER 0x02
#define ASN1_BIT_STRING 0x03
#define ASN1_OCTET_STRING 0x04
#define ASN1_NULL 0x05
#define ASN1_OID 0x06
#define ASN1_UTF8STRING 0x0c
#define ASN1_PRINTABLESTRING 0x13
#define ASN1_IA5STRING 0x16

/* A window on DER bytes. */
struct asn1 {
	const uint8_t *p;
	size_t len;
};

/* One TLV from the front of *c: its tag, its content in *val and the whole
 * TLV in *tlv (either may be NULL); *c moves past it. Returns 0, or -1 if
 * c is empty or the TLV is malformed (multi-byte tag, indefinite or
 * non-minimal length, length past the end). */
int asn1_next(struct asn1 *c, uint8_t *tag, struct asn1 *val, struct asn1 *tlv);

/* asn1_next, and the tag must be `tag`. */
int asn1_expect(struct asn1 *c, uint8_t tag, struct asn1 *val, struct asn1 *tlv);

/* A growable output buffer; once an append fails (memory or max), every
 * later one fails too and err stays set. */
struct asn1_buf {
	uint8_t *p;
	size_t len, cap, max;
	int err;
};

void asn1_buf_init(struct asn1_buf *b, size_t max);
void asn1_buf_free(struct asn1_buf *b);
void asn1_put(struct asn1_buf *b, const void *data, size_t len);
/* Append a whole TLV. */
void asn1_put_tlv(struct asn1_buf *b, uint8_t tag, const void *val, size_t len);
/* Wrap everything from offset `start` to the end into one TLV of `tag`. */
void asn1_wrap(struct asn1_buf *b, size_t start, uint8_t tag);

/* The header for a TLV of content length len: writes up to 6 bytes into
 * out, returns how many. */
size_t asn1_header(uint8_t *out, uint8_t tag, size_t len);

#endif
