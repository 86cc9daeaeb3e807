/* Subject DNs and SANs from text to DER (see names.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "asn1.h"
#include "mtls/err.h"
#include "names.h"

#define VALUE_MAX 512 /* bytes of one unescaped value (128 characters of UTF-8) */

struct attr_type {
	const char *name, *alias;
	uint8_t oid[10];
	uint8_t oidlen;
	uint8_t str; /* ASN1_UTF8STRING, ASN1_PRINTABLESTRING or ASN1_IA5STRING */
	uint16_t max; /* characters, RFC 5280's upper bounds */
};

#define OID_X520(n) {0x55, 0x04, n}, 3
#define OID_PILOT(n) {0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, n}, 10

static const struct attr_type attr_types[] = {
	{"CN", "commonName", OID_X520(3), ASN1_UTF8STRING, 64},
	{"SN", "surname", OID_X520(4), ASN1_UTF8STRING, 64},
	{"serialNumber", NULL, OID_X520(5), ASN1_PRINTABLESTRING, 64},
	{"C", "countryName", OID_X520(6), ASN1_PRINTABLESTRING, 2},
	{"L", "localityName", OID_X520(7), ASN1_UTF8STRING, 128},
	{"ST", "stateOrProvinceName", OID_X520(8), ASN1_UTF8STRING, 128},
	{"street", "streetAddress", OID_X520(9), ASN1_UTF8STRING, 128},
	{"O", "organizationName", OID_X520(10), ASN1_UTF8STRING, 64},
	{"OU", "organizationalUnitName", OID_X520(11), ASN1_UTF8STRING, 64},
	{"title", NULL, OID_X520(12), ASN1_UTF8STRING, 64},
	{"postalCode", NULL, OID_X520(17), ASN1_UTF8STRING, 40},
	{"GN", "givenName", OID_X520(42), ASN1_UTF8STRING, 64},
	{"UID", "userId", OID_PILOT(1), ASN1_UTF8STRING, 64},
	{"DC", "domainComponent", OID_PILOT(25), ASN1_IA5STRING, 63},
	{"emailAddress", "email", {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01}, 9,
		ASN1_IA5STRING, 128},
};
#define NTYPES (sizeof(attr_types) / sizeof(attr_types[0]))

/* Up to 48 bytes of untrusted text for a message: printable ASCII kept,
 * anything else shown as '?'. */
static const char *shown(const char *s, size_t len, char out[52])
{
	size_t i, n = len < 48 ? len : 48;

	for (i = 0; i < n; i++)
		out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (len > 48) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static int text_ok(const char *text, const char *what)
{
	if (text == NULL || *text == '\0')
		return mtls_err_set(MTLS_ERR_ARG, "%s is empty", what);
	if (strnlen(text, NAMES_TEXT_MAX + 1) > NAMES_TEXT_MAX)
		return mtls_err_set(
			MTLS_ERR_ARG, "%s is longer than %d bytes", what, NAMES_TEXT_MAX);
	return 0;
}

/* ---- values ---- */

/* Length of the UTF-8 sequence at s (n bytes left), 0 if invalid
 * (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_seq(const uint8_t *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, c = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff ||
		(c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static int printable_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		strchr(" '()+,-./:=?", c) != NULL;
}

/* Check a value for its string type and bound; returns 0 or -1 with *why. */
static int value_check(const struct attr_type *t, const uint8_t *v, size_t len, const char **why)
{
	size_t i = 0, chars = 0, n;
	uint32_t cp;

	if (len == 0)
		return *why = "is empty", -1;
	while (i < len) {
		n = utf8_seq(v + i, len - i, &cp);
		if (n == 0)
			return *why = "is not valid UTF-8", -1;
		if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
			return *why = "holds a control character", -1;
		if (t->str != ASN1_UTF8STRING && cp >= 0x80)
			return *why = "must be ASCII", -1;
		if (t->str == ASN1_PRINTABLESTRING && !printable_char((uint8_t)cp))
			return *why = "holds a character a PrintableString cannot", -1;
		i += n;
		chars++;
	}
	if (chars > t->max)
		return *why = "is too long for its type (RFC 5280 upper bound)", -1;
	if (strcmp(t->name, "C") == 0 &&
		(len != 2 || !((v[0] | 0x20) >= 'a' && (v[0] | 0x20) <= 'z') ||
			!((v[1] | 0x20) >= 'a' && (v[1] | 0x20) <= 'z')))
		return *why = "must be a two-letter country code", -1;
	return 0;
}

/* ---- the DN tokenizer ---- */

struct attr {
	const struct attr_type *type;
	uint8_t value[VALUE_MAX];
	size_t len;
	unsigned rdn;
};

struct dn_parse {
	const char *text;
	size_t pos, len;
	int slash; /* "/A=b/C=d" form, else RFC 4514 */
	struct attr attrs[NAMES_ATTR_MAX];
	size_t n;
	unsigned rdn;
};

static int dn_fail(struct dn_parse *d, const char *what)
{
	char s[52];

	return mtls_err_set(MTLS_ERR_ARG,
		"subject \"%s\": %s at offset %zu; write \"/CN=name/O=org\" or \"CN=name,O=org\" "
		"(escape special characters with \\)",
		shown(d->text, d->len, s), what, d->pos);
}

static int is_rdn_sep(const struct dn_parse *d, char c)
{
	return d->slash ? c == '/' : (c == ',' || c == ';');
}

static const struct attr_type *type_lookup(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < NTYPES; i++) {
		const struct attr_type *t = &attr_types[i];
		if ((strlen(t->name) == len && strncasecmp(t->name, s, len) == 0) ||
			(t->alias && strlen(t->alias) == len && strncasecmp(t->alias, s, len) == 0))
			return t;
	}
	return NULL;
}

static void skip_blanks(struct dn_parse *d)
{
	while (d->pos < d->len && d->text[d->pos] == ' ')
		d->pos++;
}

static int parse_type(struct dn_parse *d, struct attr *a)
{
	size_t start, end;
	char s[52];

	skip_blanks(d);
	start = d->pos;
	while (d->pos < d->len && d->text[d->pos] != '=' && d->text[d->pos] != '\\' &&
		!is_rdn_sep(d, d->text[d->pos]) && d->text[d->pos] != '+')
		d->pos++;
	if (d->pos >= d->len || d->text[d->pos] != '=')
		return dn_fail(d, "expected TYPE=value");
	end = d->pos;
	while (end > start && d->text[end - 1] == ' ')
		end--;
	a->type = type_lookup(d->text + start, end - start);
	if (a->type == NULL)
		return mtls_err_set(MTLS_ERR_ARG,
			"subject: unknown attribute type \"%s\"; known: CN O OU C ST L street "
			"serialNumber title GN SN postalCode UID DC emailAddress",
			shown(d->text + start, end - start, s));
	d->pos++; /* '=' */
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One escape after '\' at d->pos: the escaped byte in *out. */
static int parse_escape(struct dn_parse *d, uint8_t *out)
{
	char c;
	int hi, lo;

	if (++d->pos >= d->len)
		return dn_fail(d, "a '\\' ends the text");
	c = d->text[d->pos];
	if (d->slash) {
		*out = (uint8_t)c;
		d->pos++;
		return 0;
	}
	hi = hexval(c);
	lo = d->pos + 1 < d->len ? hexval(d->text[d->pos + 1]) : -1;
	if (hi >= 0 && lo >= 0) {
		*out = (uint8_t)(hi << 4 | lo);
		d->pos += 2;
		return 0;
	}
	if (strchr(",+\"\\<>;=# ", c) == NULL || c == '\0')
		return dn_fail(
			d, "'\\' must be followed by one of ,+\"\\<>;=# space or two hex digits");
	*out = (uint8_t)c;
	d->pos++;
	return 0;
}

static int parse_value(struct dn_parse *d, struct attr *a)
{
	size_t keep = 0; /* length without trailing unescaped blanks */
	uint8_t ch = 0;
	char c;
	int rc;

	skip_blanks(d);
	if (!d->slash && d->pos < d->len && d->text[d->pos] == '#')
		return dn_fail(d, "hex-encoded values (#...) are not supported");
	a->len = 0;
	while (d->pos < d->len) {
		c = d->text[d->pos];
		if (is_rdn_sep(d, c) || c == '+')
			break;
		if (!d->slash && strchr("\"<>;=", c) != NULL)
			return dn_fail(d, "a special character must be escaped with '\\'");
		if (c == '\\') {
			if ((rc = parse_escape(d, &ch)) != 0)
				return rc;
		} else {
			ch = (uint8_t)c;
			d->pos++;
		}
		if (a->len >= VALUE_MAX)
			return dn_fail(d, "a value is too long");
		a->value[a->len++] = ch;
		if (ch != ' ' || c == '\\')
			keep = a->len;
	}
	a->len = keep;
	return 0;
}

static int check_attr(struct dn_parse *d, const struct attr *a)
{
	const char *why = NULL;
	char s[52];

	if (value_check(a->type, a->value, a->len, &why) == 0)
		return 0;
	return mtls_err_set(MTLS_ERR_ARG, "subject: the %s value \"%s\" %s", a->type->name,
		shown((const char *)a->value, a->len, s), why);
}

/* Split the text into attributes and RDNs. */
static int dn_tokenize(struct dn_parse *d)
{
	struct attr *a;
	int rc;

	if (d->slash)
		d->pos = 1;
	for (;;) {
		if (d->n >= NAMES_ATTR_MAX)
			return dn_fail(d, "too many attributes (at most 16)");
		a = &d->attrs[d->n];
		if ((rc = parse_type(d, a)) != 0 || (rc = parse_value(d, a)) != 0)
			return rc;
		if ((rc = check_attr(d, a)) != 0)
			return rc;
		a->rdn = d->rdn;
		d->n++;
		if (d->pos >= d->len)
			return 0;
		if (d->text[d->pos] != '+')
			d->rdn++;
		d->pos++;
		if (d->pos >= d->len)
			return dn_fail(d, "the text ends with a separator");
	}
}

/* ---- DER ---- */

static void put_attr(struct asn1_buf *b, const struct attr *a)
{
	size_t start = b->len;

	asn1_put_tlv(b, ASN1_OID, a->type->oid, a->type->oidlen);
	asn1_put_tlv(b, a->type->str, a->value, a->len);
	asn1_wrap(b, start, ASN1_SEQUENCE);
}

/* DER SET OF order: encodings compared as octet strings, the shorter one
 * padded with zero bytes. */
static int der_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t i, n = alen > blen ? alen : blen;

	for (i = 0; i < n; i++) {
		uint8_t x = i < alen ? a[i] : 0, y = i < blen ? b[i] : 0;
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* One RDN: a SET of its attributes' encodings in DER order. */
static int put_rdn(struct asn1_buf *b, const struct dn_parse *d, unsigned rdn)
{
	struct asn1_buf one[NAMES_ATTR_MAX];
	size_t idx[NAMES_ATTR_MAX], n = 0, i, j, start = b->len;
	int rc = 0;

	for (i = 0; i < d->n; i++) {
		if (d->attrs[i].rdn != rdn)
			continue;
		asn1_buf_init(&one[n], NAMES_DN_MAX);
		put_attr(&one[n], &d->attrs[i]);
		idx[n] = n;
		n++;
	}
	for (i = 1; i < n; i++) /* insertion sort: at most 16 */
		for (j = i; j > 0 &&
			der_cmp(one[idx[j - 1]].p, one[idx[j - 1]].len, one[idx[j]].p,
				one[idx[j]].len) > 0;
			j--) {
			size_t t = idx[j];
			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	for (i = 0; i < n; i++) {
		if (one[idx[i]].err)
			rc = -1;
		asn1_put(b, one[idx[i]].p, one[idx[i]].len);
	}
	for (i = 0; i < n; i++)
		asn1_buf_free(&one[i]);
	asn1_wrap(b, start, ASN1_SET);
	return rc;
}

static int dn_encode(const struct dn_parse *d, uint8_t *der, size_t dersz, size_t *derlen)
{
	struct asn1_buf b;
	unsigned r, nrdn = d->rdn + 1;
	int rc = 0;

	asn1_buf_init(&b, NAMES_DN_MAX);
	for (r = 0; r < nrdn && rc == 0; r++) /* RFC 4514 lists the last RDN first */
		rc = put_rdn(&b, d, d->slash ? r : nrdn - 1 - r);
	asn1_wrap(&b, 0, ASN1_SEQUENCE);
	if (rc != 0 || b.err)
		rc = mtls_err_set(MTLS_ERR_ARG,
			"subject: its DER encoding is longer than %d bytes; shorten the values",
			NAMES_DN_MAX);
	else if (b.len > dersz)
		rc = mtls_err_set(MTLS_ERR_TOO_BIG, "subject: output buffer too small");
	else {
		memcpy(der, b.p, b.len);
		*derlen = b.len;
	}
	asn1_buf_free(&b);
	return rc;
}

int names_dn_parse(const char *text, uint8_t *der, size_t dersz, size_t *derlen)
{
	struct dn_parse *d;
	int rc;

	*derlen = 0;
	if ((rc = text_ok(text, "the subject")) != 0)
		return rc;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return MTLS_ERR_NOMEM;
	d->text = text;
	d->len = strlen(text);
	d->slash = text[0] == '/';
	rc = dn_tokenize(d);
	if (rc == 0)
		rc = dn_encode(d, der, dersz, derlen);
	free(d);
	return rc;
}

/* ---- SANs ---- */

/* A host name: labels of letters, digits, '-' and '_' (1 to 63, no '-' at
 * either end), 1 to 253 bytes, no trailing dot; "*." first if wildcard. */
static int host_ok(const char *s, size_t len, int wildcard)
{
	size_t i, label = 0;

	if (wildcard && len > 2 && s[0] == '*' && s[1] == '.') {
		s += 2;
		len -= 2;
	}
	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i <= len; i++) {
		char c = i < len ? s[i] : '.';
		if (c == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
				return 0;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '_') {
			label++;
		} else {
			return 0;
		}
	}
	return 1;
}

static int uri_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 1024 || !((s[0] | 0x20) >= 'a' && (s[0] | 0x20) <= 'z'))
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return 0;
	for (i = 1; i < len && s[i] != ':'; i++)
		if (!((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z') &&
			!(s[i] >= '0' && s[i] <= '9') && s[i] != '+' && s[i] != '-' && s[i] != '.')
			return 0;
	return i + 1 < len; /* a ':' and something after it */
}

static int email_ok(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);
	size_t i, local;

	if (at == NULL || len > 254)
		return 0;
	local = (size_t)(at - s);
	if (local == 0 || local > 64)
		return 0;
	for (i = 0; i < local; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f || strchr("\"(),:;<>@[\\]", s[i]) != NULL)
			return 0;
	return host_ok(at + 1, len - local - 1, 0);
}

static int san_fail(const char *text, const char *why)
{
	char s[52];

	return mtls_err_set(MTLS_ERR_ARG, "SAN \"%s\": %s", shown(text, strlen(text), s), why);
}

static int put_out(const struct asn1_buf *b, uint8_t *der, size_t dersz, size_t *derlen)
{
	if (b->err)
		return mtls_err_set(MTLS_ERR_ARG, "SANs: the encoding is too long");
	if (b->len > dersz)
		return mtls_err_set(MTLS_ERR_TOO_BIG, "SANs: output buffer too small");
	memcpy(der, b->p, b->len);
	*derlen = b->len;
	return 0;
}

/* The GeneralName for one SAN, appended to b. */
static int san_append(struct asn1_buf *b, const char *text)
{
	const char *v = strchr(text, ':');
	size_t tlen = v ? (size_t)(v - text) : 0, len;
	uint8_t ip[16];
	char addr[64];

	if (v == NULL)
		return san_fail(text, "no type: use dns:NAME, uri:URI, ip:ADDR or email:ADDR");
	v++;
	len = strlen(v);
	if (tlen == 3 && strncasecmp(text, "dns", 3) == 0) {
		if (!host_ok(v, len, 1))
			return san_fail(text,
				"not a host name (letters, digits, '-', '.'; "
				"optionally \"*.\" first)");
		asn1_put_tlv(b, 0x82, v, len);
	} else if (tlen == 3 && strncasecmp(text, "uri", 3) == 0) {
		if (!uri_ok(v, len))
			return san_fail(text,
				"not an absolute URI (scheme:..., printable "
				"ASCII, no blanks)");
		asn1_put_tlv(b, 0x86, v, len);
	} else if (tlen == 5 && strncasecmp(text, "email", 5) == 0) {
		if (!email_ok(v, len))
			return san_fail(text, "not an e-mail address (local@domain, ASCII)");
		asn1_put_tlv(b, 0x81, v, len);
	} else if (tlen == 2 && strncasecmp(text, "ip", 2) == 0) {
		if (len >= sizeof(addr))
			return san_fail(text, "not an IPv4 or IPv6 address");
		memcpy(addr, v, len + 1);
		if (inet_pton(AF_INET, addr, ip) == 1)
			asn1_put_tlv(b, 0x87, ip, 4);
		else if (inet_pton(AF_INET6, addr, ip) == 1)
			asn1_put_tlv(b, 0x87, ip, 16);
		else
			return san_fail(text, "not an IPv4 or IPv6 address");
	} else {
		return san_fail(text, "unknown type: use dns:, uri:, ip: or email:");
	}
	return 0;
}

int names_san_parse(const char *text, uint8_t *der, size_t dersz, size_t *derlen)
{
	struct asn1_buf b;
	int rc;

	*derlen = 0;
	if ((rc = text_ok(text, "a SAN")) != 0)
		return rc;
	asn1_buf_init(&b, NAMES_SANS_DER_MAX);
	rc = san_append(&b, text);
	if (rc == 0)
		rc = put_out(&b, der, dersz, derlen);
	asn1_buf_free(&b);
	return rc;
}

int names_sans_encode(const char *const *sans, size_t n, uint8_t *der, size_t dersz, size_t *derlen)
{
	struct asn1_buf b;
	size_t i;
	int rc = 0;

	*derlen = 0;
	if (n == 0)
		return 0;
	if (n > NAMES_SAN_MAX)
		return mtls_err_set(
			MTLS_ERR_ARG, "%zu SANs: at most %d are accepted", n, NAMES_SAN_MAX);
	asn1_buf_init(&b, NAMES_SANS_DER_MAX);
	for (i = 0; i < n && rc == 0; i++) {
		rc = text_ok(sans[i], "a SAN");
		if (rc == 0)
			rc = san_append(&b, sans[i]);
	}
	if (rc == 0) {
		asn1_wrap(&b, 0, ASN1_SEQUENCE);
		rc = put_out(&b, der, dersz, derlen);
	}
	asn1_buf_free(&b);
	return rc;
}
