/* Parsers for what an EST server sends back (see est.h): the HTTP/1.1
 * answer, base64, and the PKCS#7 certs-only SignedData. No I/O, no
 * wolfSSL: every byte here may come from a hostile server, and the fuzz
 * target tests/fuzz/fuzz_est_response.c drives these functions. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "asn1.h"
#include "est.h"
#include "mtls/err.h"
#include "mtls/log.h"

#define RETRY_AFTER_MAX (24L * 3600) /* a longer wait is read as this */

/* ---- HTTP ---- */

/* One line from [*pos, end): its bytes without CR LF / LF. -1 if no LF. */
static int next_line(const uint8_t *buf, size_t end, size_t *pos, const char **line, size_t *n)
{
	size_t i;

	for (i = *pos; i < end; i++)
		if (buf[i] == '\n')
			break;
	if (i == end)
		return -1;
	*line = (const char *)buf + *pos;
	*n = i - *pos;
	if (*n > 0 && (*line)[*n - 1] == '\r')
		(*n)--;
	*pos = i + 1;
	return 0;
}

/* The end of the header block (just past the empty line), 0 if none yet. */
static size_t header_end(const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static void copy_clean(char *out, size_t outsz, const char *in, size_t n, int lower)
{
	size_t i;

	while (n > 0 && (*in == ' ' || *in == '\t'))
		in++, n--;
	while (n > 0 && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	mtls_log_clean(out, outsz, in, n);
	for (i = 0; lower && out[i]; i++)
		out[i] = (char)tolower((unsigned char)out[i]);
}

/* Digits only, at most max; -1 otherwise. */
static long parse_decimal(const char *s, size_t n, long max)
{
	long v = 0;
	size_t i;

	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n == 0 || n > 12)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -2;
}

/* Retry-After: delta-seconds or an IMF-fixdate; -1 if neither. */
static long parse_retry_after(const char *s, size_t n)
{
	char date[64];
	struct tm tm;
	const char *end;
	long v = parse_decimal(s, n, RETRY_AFTER_MAX);
	time_t t, now;

	if (v >= 0)
		return v;
	if (v == -2)
		return RETRY_AFTER_MAX;
	copy_clean(date, sizeof(date), s, n, 0);
	memset(&tm, 0, sizeof(tm));
	end = strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (end == NULL || *end != '\0')
		return -1;
	t = timegm(&tm);
	now = time(NULL);
	if (t == (time_t)-1)
		return -1;
	if (t <= now)
		return 0;
	return t - now > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : (long)(t - now);
}

struct framing {
	long content_length; /* -1: none */
	int chunked;
};

static int header_line(const char *line, size_t n, struct est_http *h, struct framing *f)
{
	const char *colon = memchr(line, ':', n), *v;
	size_t name_len, vn;
	long cl;

	if (line[0] == ' ' || line[0] == '\t')
		return mtls_err_set(MTLS_ERR_PROTOCOL, "folded header line in the EST answer");
	if (colon == NULL || colon == line)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "malformed header line in the EST answer");
	name_len = (size_t)(colon - line);
	v = colon + 1;
	vn = n - name_len - 1;
#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(line, name, name_len) == 0)
	if (IS("Content-Length")) {
		cl = parse_decimal(v, vn, (long)EST_RESPONSE_MAX);
		if (cl == -2)
			return mtls_err_set(MTLS_ERR_TOO_BIG,
				"the EST answer announces a body over %u KiB: refused",
				EST_RESPONSE_MAX / 1024);
		if (cl < 0 || (f->content_length >= 0 && f->content_length != cl))
			return mtls_err_set(MTLS_ERR_PROTOCOL,
				"bad or repeated Content-Length in the EST answer");
		f->content_length = cl;
	} else if (IS("Transfer-Encoding")) {
		char te[32];

		copy_clean(te, sizeof(te), v, vn, 1);
		if (strcmp(te, "chunked") != 0)
			return mtls_err_set(MTLS_ERR_PROTOCOL,
				"unsupported Transfer-Encoding '%s' in the EST answer", te);
		f->chunked = 1;
	} else if (IS("Content-Type")) {
		copy_clean(h->content_type, sizeof(h->content_type), v, vn, 1);
	} else if (IS("Content-Transfer-Encoding")) {
		copy_clean(h->cte, sizeof(h->cte), v, vn, 1);
	} else if (IS("Retry-After")) {
		h->retry_after = parse_retry_after(v, vn);
	} else if (IS("Location")) {
		copy_clean(h->location, sizeof(h->location), v, vn, 0);
	}
#undef IS
	return 0;
}

/* "HTTP/1.x NNN reason" */
static int status_line(const char *line, size_t n, struct est_http *h)
{
	char start[24];

	if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
		line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
		!isdigit((unsigned char)line[10]) || !isdigit((unsigned char)line[11]) ||
		(n > 12 && line[12] != ' ')) {
		mtls_log_clean(start, sizeof(start), line, n);
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST server's answer is not HTTP/1.x (it begins '%s'): is the URL an "
			"EST server, and is it HTTPS?",
			start);
	}
	h->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	if (h->status < 100 || h->status > 599)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "HTTP status %d out of range", h->status);
	copy_clean(h->reason, sizeof(h->reason), n > 13 ? line + 13 : "", n > 13 ? n - 13 : 0, 0);
	return 0;
}

/* Status line and headers in [0, end). */
static int parse_head(const uint8_t *buf, size_t end, struct est_http *h, struct framing *f)
{
	size_t pos = 0, n;
	const char *line;
	int rc;

	if (next_line(buf, end, &pos, &line, &n) != 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "no status line");
	if ((rc = status_line(line, n, h)) != 0)
		return rc;
	while (next_line(buf, end, &pos, &line, &n) == 0 && n > 0)
		if ((rc = header_line(line, n, h, f)) != 0)
			return rc;
	return 0;
}

/* Chunked body at buf[0..len) into *out. AGAIN if incomplete. */
static int dechunk(const uint8_t *buf, size_t len, int eof, uint8_t *out, size_t *outlen)
{
	size_t pos = 0, n, i, total = 0;
	const char *line;
	unsigned long size;

	for (;;) {
		if (next_line(buf, len, &pos, &line, &n) != 0)
			goto short_read;
		for (i = 0, size = 0; i < n && isxdigit((unsigned char)line[i]); i++) {
			if (i >= 6)
				return mtls_err_set(MTLS_ERR_TOO_BIG, "chunk size over 16 MiB");
			size = size * 16 +
				(unsigned long)(isdigit((unsigned char)line[i])
						? line[i] - '0'
						: (tolower((unsigned char)line[i]) - 'a' + 10));
		}
		if (i == 0 || (i < n && line[i] != ';' && line[i] != ' ' && line[i] != '\t'))
			return mtls_err_set(MTLS_ERR_PROTOCOL, "malformed chunk size line");
		if (size == 0)
			break;
		if (size > EST_RESPONSE_MAX - total)
			return mtls_err_set(MTLS_ERR_TOO_BIG, "chunked EST answer over %u KiB",
				EST_RESPONSE_MAX / 1024);
		if (len - pos < size + 1)
			goto short_read;
		memcpy(out + total, buf + pos, size);
		total += size;
		pos += size;
		if (buf[pos] == '\r')
			pos++;
		if (pos >= len)
			goto short_read;
		if (buf[pos++] != '\n')
			return mtls_err_set(MTLS_ERR_PROTOCOL, "chunk not followed by CR LF");
	}
	/* Trailers up to an empty line. */
	do {
		if (next_line(buf, len, &pos, &line, &n) != 0)
			goto short_read;
	} while (n > 0);
	*outlen = total;
	return 0;
short_read:
	if (!eof)
		return MTLS_ERR_AGAIN;
	return mtls_err_set(MTLS_ERR_PROTOCOL,
		"the EST answer is truncated: the connection ended inside its chunked body "
		"(%zu bytes decoded)",
		total);
}

static int body_bytes(
	const uint8_t *b, size_t n, int eof, const struct framing *f, struct est_http *h)
{
	size_t need;
	int rc;

	if ((h->body = malloc(n + 1)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "EST answer body");
	if (f->chunked) {
		rc = dechunk(b, n, eof, h->body, &h->body_len);
		if (rc == 0)
			h->body[h->body_len] = 0;
		return rc;
	}
	if (f->content_length >= 0) {
		need = (size_t)f->content_length;
		if (n < need) {
			if (!eof)
				return MTLS_ERR_AGAIN;
			return mtls_err_set(MTLS_ERR_PROTOCOL,
				"the EST answer is truncated: %zu of the %zu body bytes "
				"(Content-Length) arrived before the connection ended",
				n, need);
		}
		n = need;
	} else if (!eof) {
		return MTLS_ERR_AGAIN; /* framed by the close */
	}
	memcpy(h->body, b, n);
	h->body[n] = 0;
	h->body_len = n;
	return 0;
}

static int no_body(int status)
{
	return status == 204 || status == 304 || (status >= 100 && status < 200);
}

int est_http_parse(const uint8_t *buf, size_t len, int eof, struct est_http *out)
{
	struct framing f;
	size_t start = 0, end;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > EST_RESPONSE_MAX)
		return mtls_err_set(MTLS_ERR_TOO_BIG,
			"the EST answer is over %u KiB: refused (is the URL an EST server?)",
			EST_RESPONSE_MAX / 1024);
	for (;;) { /* interim 1xx answers come before the real one */
		memset(out, 0, sizeof(*out));
		out->retry_after = -1;
		f.content_length = -1;
		f.chunked = 0;
		end = header_end(buf + start, len - start);
		if (end == 0) {
			if (len - start > EST_HEADER_MAX)
				return mtls_err_set(MTLS_ERR_TOO_BIG,
					"the EST answer's headers are over %u KiB: refused",
					EST_HEADER_MAX / 1024);
			if (!eof)
				return MTLS_ERR_AGAIN;
			return mtls_err_set(MTLS_ERR_PROTOCOL,
				len == 0 ? "the EST server closed the connection without an answer"
					 : "the EST answer is truncated inside its headers");
		}
		if (end > EST_HEADER_MAX)
			return mtls_err_set(MTLS_ERR_TOO_BIG,
				"the EST answer's headers are over %u KiB: refused",
				EST_HEADER_MAX / 1024);
		if ((rc = parse_head(buf + start, end, out, &f)) != 0)
			return rc;
		start += end;
		if (out->status >= 200 || out->status < 100)
			break;
	}
	if (no_body(out->status))
		rc = body_bytes(buf + start, 0, 1, &(struct framing){0, 0}, out);
	else
		rc = body_bytes(buf + start, len - start, eof, &f, out);
	if (rc != 0)
		est_http_clear(out);
	return rc;
}

void est_http_clear(struct est_http *h)
{
	if (h == NULL)
		return;
	free(h->body);
	h->body = NULL;
	h->body_len = 0;
}

/* ---- base64 ---- */

static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static int is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int est_base64_decode(const uint8_t *in, size_t len, uint8_t *out, size_t outsz, size_t *outlen)
{
	uint32_t acc = 0;
	size_t i, qn = 0, pad = 0, o = 0, keep;
	int v, done = 0;

	for (i = 0; i < len; i++) {
		if (is_space(in[i]))
			continue;
		if (done)
			return mtls_err_set(
				MTLS_ERR_PROTOCOL, "base64 continues after its '=' padding");
		if (in[i] == '=') {
			if (qn < 2)
				return mtls_err_set(
					MTLS_ERR_PROTOCOL, "misplaced '=' in base64 at %zu", i);
			pad++;
			v = 0;
		} else if ((v = b64_value(in[i])) < 0 || pad > 0) {
			return mtls_err_set(MTLS_ERR_PROTOCOL,
				"byte 0x%02x at offset %zu is not base64", in[i], i);
		}
		acc = (acc << 6) | (uint32_t)v;
		if (++qn < 4)
			continue;
		keep = 3 - pad;
		if (keep > outsz - o)
			return mtls_err_set(MTLS_ERR_TOO_BIG, "base64 output over its buffer");
		out[o++] = (uint8_t)(acc >> 16);
		if (keep > 1)
			out[o++] = (uint8_t)(acc >> 8);
		if (keep > 2)
			out[o++] = (uint8_t)acc;
		acc = 0;
		qn = 0;
		done = pad > 0;
	}
	if (qn != 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "base64 ends in the middle of a group");
	*outlen = o;
	return 0;
}

int est_base64_encode(const uint8_t *in, size_t len, char **out, size_t *outlen)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0, n;
	char *s;
	uint32_t v;

	if (len > EST_RESPONSE_MAX * 4)
		return mtls_err_set(MTLS_ERR_TOO_BIG, "base64 input over its bound");
	n = (len + 2) / 3 * 4;
	if ((s = malloc(n + 1)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "base64");
	for (i = 0; i < len; i += 3) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		s[o++] = digits[(v >> 18) & 63];
		s[o++] = digits[(v >> 12) & 63];
		s[o++] = i + 1 < len ? digits[(v >> 6) & 63] : '=';
		s[o++] = i + 2 < len ? digits[v & 63] : '=';
	}
	s[o] = '\0';
	*out = s;
	*outlen = o;
	return 0;
}

/* ---- the certificates in a 200 answer ---- */

/* The media type (before any ';'), and the parameter `name`'s value. */
static void media_type(
	const char *ct, char *type, size_t typesz, const char *name, char *param, size_t paramsz)
{
	const char *semi = strchr(ct, ';'), *p;
	size_t n = semi ? (size_t)(semi - ct) : strlen(ct), nl = strlen(name), v;

	copy_clean(type, typesz, ct, n, 1);
	param[0] = '\0';
	for (p = semi; p != NULL; p = strchr(p + 1, ';')) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, name, nl) != 0 || p[nl] != '=')
			continue;
		p += nl + 1;
		v = strcspn(p, ";");
		if (v >= 2 && p[0] == '"' && p[v - 1] == '"')
			p++, v -= 2;
		copy_clean(param, paramsz, p, v, 1);
		return;
	}
}

static int looks_html(const char *type, const uint8_t *body, size_t len)
{
	size_t i = 0;

	if (strcmp(type, "text/html") == 0 || strcmp(type, "application/xhtml+xml") == 0)
		return 1;
	while (i < len && is_space(body[i]))
		i++;
	return i < len && body[i] == '<';
}

static int decode_body(const struct est_http *h, struct est_certs *out)
{
	uint8_t *der;
	size_t len = 0;
	int rc;

	if (strcmp(h->cte, "binary") == 0 && h->body[0] == ASN1_SEQUENCE)
		return est_pkcs7_certs(h->body, h->body_len, out);
	if ((der = malloc(h->body_len / 4 * 3 + 3)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "EST answer");
	rc = est_base64_decode(h->body, h->body_len, der, h->body_len / 4 * 3 + 3, &len);
	if (rc != 0) {
		char detail[160];

		snprintf(detail, sizeof(detail), "%s", mtls_err_detail());
		rc = mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST answer's body is not base64 (%s): EST sends base64 PKCS#7",
			detail);
	} else {
		rc = est_pkcs7_certs(der, len, out);
	}
	free(der);
	return rc;
}

int est_parse_certs(const struct est_http *h, struct est_certs *out)
{
	char type[128], smime[64], begins[64];

	memset(out, 0, sizeof(*out));
	if (h->status != 200)
		return mtls_err_set(MTLS_ERR_ARG, "est_parse_certs: HTTP status %d", h->status);
	if (h->body == NULL || h->body_len == 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST server answered 200 with an empty body: no certificates");
	media_type(h->content_type, type, sizeof(type), "smime-type", smime, sizeof(smime));
	mtls_log_clean(
		begins, sizeof(begins), (const char *)h->body, h->body_len < 48 ? h->body_len : 48);
	if (looks_html(type, h->body, h->body_len))
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST server answered with an HTML page (Content-Type '%s') instead of "
			"certificates: is the URL the EST endpoint (https://host/.well-known/est)? "
			"The page begins '%s'",
			type, begins);
	if (strcmp(type, "application/pkcs7-mime") != 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST answer has Content-Type '%s', not application/pkcs7-mime; it "
			"begins '%s'",
			type[0] ? type : "(none)", begins);
	if (smime[0] != '\0' && strcmp(smime, "certs-only") != 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST answer is smime-type '%s', not certs-only", smime);
	return decode_body(h, out);
}

/* ---- URL and pin ---- */

static int url_host(const char *a, size_t n, struct est_url *u)
{
	unsigned char addr[16];
	const char *colon, *end = a + n;
	size_t hn;
	long port = 443;

	if (memchr(a, '@', n) != NULL)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"EST URL: credentials in the URL are refused: use --user and --password-file");
	if (n > 0 && a[0] == '[') {
		const char *rb = memchr(a, ']', n);

		if (rb == NULL)
			return mtls_err_set(MTLS_ERR_CONFIG, "EST URL: unclosed '[' in the host");
		hn = (size_t)(rb - a - 1);
		memcpy(u->host, a + 1, hn < sizeof(u->host) ? hn : 0);
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if (rb + 1 < end && colon == NULL)
			return mtls_err_set(MTLS_ERR_CONFIG, "EST URL: junk after ']'");
		u->host_is_ip = 1;
	} else {
		colon = memchr(a, ':', n);
		hn = colon ? (size_t)(colon - a) : n;
		memcpy(u->host, a, hn < sizeof(u->host) ? hn : 0);
	}
	if (hn == 0 || hn >= sizeof(u->host))
		return mtls_err_set(MTLS_ERR_CONFIG, "EST URL: host name empty or too long");
	u->host[hn] = '\0';
	if (strspn(u->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") !=
		hn)
		return mtls_err_set(MTLS_ERR_CONFIG, "EST URL: bad character in the host name");
	if (colon != NULL &&
		(port = parse_decimal(colon + 1, (size_t)(end - colon - 1), 65535)) < 1)
		return mtls_err_set(MTLS_ERR_CONFIG, "EST URL: the port must be 1 to 65535");
	snprintf(u->port, sizeof(u->port), "%d", (int)port);
	if (u->host_is_ip && inet_pton(AF_INET6, u->host, addr) != 1)
		return mtls_err_set(
			MTLS_ERR_CONFIG, "EST URL: '%s' in [] is no IPv6 address", u->host);
	if (!u->host_is_ip)
		u->host_is_ip = inet_pton(AF_INET, u->host, addr) == 1;
	return 0;
}

int est_url_parse(const char *url, struct est_url *u)
{
	static const char wk[] = "/.well-known/est";
	const char *a, *path;
	size_t i, n, pn;

	memset(u, 0, sizeof(*u));
	if (url == NULL || strncasecmp(url, "https://", 8) != 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"EST URL must start with https:// (EST is "
			"over TLS only)");
	if (strlen(url) >= EST_URL_MAX - sizeof(wk))
		return mtls_err_set(
			MTLS_ERR_CONFIG, "EST URL longer than %d bytes", EST_URL_MAX / 2);
	for (i = 0; url[i]; i++)
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f || url[i] == '?' ||
			url[i] == '#')
			return mtls_err_set(MTLS_ERR_CONFIG,
				"EST URL: blanks, control characters, '?' and '#' are not allowed");
	a = url + 8;
	path = strchr(a, '/');
	n = path ? (size_t)(path - a) : strlen(a);
	if (url_host(a, n, u) != 0)
		return MTLS_ERR_CONFIG;
	pn = path ? strlen(path) : 0;
	while (pn > 0 && path[pn - 1] == '/')
		pn--;
	if (pn == 0)
		snprintf(u->path, sizeof(u->path), "%s", wk);
	else if (strncmp(path, wk, sizeof(wk) - 1) == 0 &&
		(path[sizeof(wk) - 1] == '/' || pn == sizeof(wk) - 1))
		snprintf(u->path, sizeof(u->path), "%.*s", (int)pn, path);
	else
		snprintf(u->path, sizeof(u->path), "%.*s%s", (int)pn, path, wk);
	return 0;
}

int est_pin_parse(const char *text, uint8_t pin[32])
{
	size_t i, n = 0;
	int hi = -1, v;

	for (i = 0; text != NULL && text[i]; i++) {
		if (text[i] == ':' && hi < 0 && i > 0)
			continue;
		if (!isxdigit((unsigned char)text[i]) || (n == 32 && hi < 0))
			goto bad;
		v = isdigit((unsigned char)text[i]) ? text[i] - '0'
						    : tolower((unsigned char)text[i]) - 'a' + 10;
		if (hi < 0) {
			hi = v;
		} else {
			pin[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	if (n == 32 && hi < 0)
		return 0;
bad:
	return mtls_err_set(MTLS_ERR_CONFIG,
		"--pin-sha256 wants the server certificate's SHA-256 as 64 hex digits (':' "
		"between bytes allowed), e.g. from: openssl x509 -in server.pem -noout "
		"-fingerprint -sha256");
}
