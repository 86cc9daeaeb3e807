/* Fuzz the bridge's DER helpers with token-supplied bytes: OCTET STRING
 * unwrapping (the result stays inside the input), curve OIDs, ECDSA
 * re-encoding (the output parses back to the same r and s) and
 * SubjectPublicKeyInfo building. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read one DER header at p (within end): tag, content length. */
static const uint8_t *header(const uint8_t *p, const uint8_t *end, uint8_t tag, size_t *len)
{
	if (end - p < 2 || p[0] != tag)
		abort();
	if (p[1] < 0x80) {
		*len = p[1];
		p += 2;
	} else if (p[1] == 0x81 && end - p >= 3 && p[2] >= 0x80) {
		*len = p[2];
		p += 3;
	} else if (p[1] == 0x82 && end - p >= 4 && p[2] != 0) {
		*len = ((size_t)p[2] << 8) | p[3];
		p += 4;
	} else {
		abort(); /* not minimal DER */
	}
	if ((size_t)(end - p) < *len)
		abort();
	return p;
}

/* One INTEGER must be minimal, non-negative and equal to v (big-endian). */
static const uint8_t *integer(const uint8_t *p, const uint8_t *end, const uint8_t *v, size_t vlen)
{
	size_t len;

	p = header(p, end, 0x02, &len);
	if (len == 0 || (p[0] & 0x80) || (len > 1 && p[0] == 0 && !(p[1] & 0x80)))
		abort();
	while (vlen > 1 && v[0] == 0) {
		v++;
		vlen--;
	}
	if (p[0] == 0 && len > 1) {
		p++;
		len--;
	}
	if (len != vlen || memcmp(p, v, len) != 0)
		abort();
	return p + len;
}

static void check_ecdsa(const uint8_t *raw, size_t rawlen, size_t outlen)
{
	uint8_t out[300];
	const uint8_t *p, *end;
	size_t len;

	if (outlen > sizeof(out))
		outlen = sizeof(out);
	if (der_ecdsa_sig(raw, rawlen, out, &outlen) != 0)
		return;
	end = out + outlen;
	p = header(out, end, 0x30, &len);
	if (p + len != end)
		abort();
	p = integer(p, end, raw, rawlen / 2);
	p = integer(p, end, raw + rawlen / 2, rawlen / 2);
	if (p != end)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *val;
	size_t vlen, half, outlen, len;
	uint8_t *der;

	if (size < 1 || size > 4096)
		return 0;
	der_unwrap_octets(data, size, &val, &vlen);
	if (val < data || vlen > size || (size_t)(val - data) > size - vlen)
		abort();
	(void)der_curve(data, size);
	outlen = (size_t)data[0] * 2;
	check_ecdsa(data + 1, size - 1, outlen);
	half = (size - 1) / 2;
	if (der_spki_ec(data + 1, half, data + 1 + half, size - 1 - half, &der, &len) == 0)
		free(der);
	if (der_spki_rsa(data + 1, half, data + 1 + half, size - 1 - half, &der, &len) == 0)
		free(der);
	return 0;
}
