/* The HTTP/1.1 request parser of the metrics endpoint (RFC 9112, the part
 * a GET needs) and its responses. Input is untrusted and bounded by the
 * caller's buffer (HTTP_REQUEST_MAX); nothing here allocates except the
 * response buffer. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "metrics_int.h"
#include "mtls/err.h"

/* RFC 9110 tchar. */
static int is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		(ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static int is_token(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return n > 0;
}

struct reqline {
	const char *method, *target;
	size_t mlen, tlen;
};

/* "METHOD SP TARGET SP HTTP/d.d": 0, 400 (malformed) or 505 (another
 * version). The target must be origin-form (a path) of visible ASCII. */
static int request_line(const char *s, size_t n, struct reqline *rl)
{
	const char *sp1 = memchr(s, ' ', n), *sp2, *v;
	size_t i;

	if (sp1 == NULL)
		return 400;
	rl->method = s;
	rl->mlen = (size_t)(sp1 - s);
	rl->target = sp1 + 1;
	sp2 = memchr(rl->target, ' ', n - (size_t)(rl->target - s));
	if (sp2 == NULL || !is_token(rl->method, rl->mlen))
		return 400;
	rl->tlen = (size_t)(sp2 - rl->target);
	if (rl->tlen == 0 || rl->target[0] != '/')
		return 400;
	for (i = 0; i < rl->tlen; i++)
		if ((unsigned char)rl->target[i] <= 0x20 || (unsigned char)rl->target[i] >= 0x7f ||
			rl->target[i] == '#')
			return 400;
	v = sp2 + 1;
	if ((size_t)(s + n - v) != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
		v[6] != '.' || v[7] < '0' || v[7] > '9')
		return 400;
	return v[5] == '1' && (v[7] == '0' || v[7] == '1') ? 0 : 505;
}

static int name_is(const char *s, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(s, want, n) == 0;
}

/* "name: value" with value of visible ASCII, obs-text, SP and HTAB. No
 * body is accepted: Content-Length other than 0 and Transfer-Encoding are
 * refused (a GET has no body, and reading none avoids smuggling games). */
static int header_line(const char *s, size_t n)
{
	const char *colon = memchr(s, ':', n), *v;
	size_t i, vlen;

	if (colon == NULL || !is_token(s, (size_t)(colon - s)))
		return 400; /* also obs-fold (leading blank) and blanks before ':' */
	v = colon + 1;
	vlen = n - (size_t)(v - s);
	for (i = 0; i < vlen; i++)
		if (((unsigned char)v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
			return 400;
	for (; vlen > 0 && (*v == ' ' || *v == '\t'); vlen--)
		v++;
	while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (name_is(s, (size_t)(colon - s), "transfer-encoding"))
		return 400;
	if (name_is(s, (size_t)(colon - s), "content-length") && !(vlen == 1 && v[0] == '0'))
		return 400;
	return 0;
}

/* After a complete, well-formed head: which resource, which status. */
static void route(const struct reqline *rl, struct http_request *req)
{
	const char *q = memchr(rl->target, '?', rl->tlen);
	size_t plen = q != NULL ? (size_t)(q - rl->target) : rl->tlen;

	if (plen == 8 && memcmp(rl->target, "/metrics", 8) == 0)
		req->route = HTTP_ROUTE_METRICS;
	else if (plen == 8 && memcmp(rl->target, "/healthz", 8) == 0)
		req->route = HTTP_ROUTE_HEALTHZ;
	req->head = rl->mlen == 4 && memcmp(rl->method, "HEAD", 4) == 0;
	if (req->route == HTTP_ROUTE_NONE)
		req->status = 404;
	else if (!req->head && !(rl->mlen == 3 && memcmp(rl->method, "GET", 3) == 0))
		req->status = 405;
	else
		req->status = 200;
}

static int done(struct http_request *req, int status)
{
	req->status = status;
	req->route = HTTP_ROUTE_NONE;
	req->head = 0;
	return 0;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req)
{
	struct reqline rl = {0};
	const char *line, *nl;
	size_t pos = 0, n, lines = 0;
	int st;

	memset(req, 0, sizeof(*req));
	for (;;) {
		nl = pos < len ? memchr(buf + pos, '\n', len - pos) : NULL;
		if (nl == NULL)
			return len >= HTTP_REQUEST_MAX ? done(req, 431) : MTLS_ERR_AGAIN;
		line = buf + pos;
		if ((size_t)(nl - buf) >= HTTP_REQUEST_MAX)
			return done(req, 431);
		n = (size_t)(nl - line);
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (memchr(line, '\r', n) != NULL)
			return done(req, 400); /* a bare CR */
		if (lines == 0) {
			/* RFC 9112 2.2: empty lines before the request line may be skipped;
			 * we refuse them, as nothing we serve sends them. */
			if ((st = request_line(line, n, &rl)) != 0)
				return done(req, st);
		} else if (n == 0) {
			route(&rl, req);
			return 0;
		} else if (lines > HTTP_HEADERS_MAX) {
			return done(req, 431);
		} else if ((st = header_line(line, n)) != 0) {
			return done(req, st);
		}
		lines++;
		pos = (size_t)(nl - buf) + 1;
	}
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

void http_response(
	struct mbuf *out, int status, const char *type, const char *body, size_t blen, int head)
{
	mbuf_printf(out,
		"HTTP/1.1 %d %s\r\n"
		"Content-Type: %s\r\n"
		"Content-Length: %zu\r\n"
		"Cache-Control: no-store\r\n"
		"%s"
		"Connection: close\r\n"
		"\r\n",
		status, http_status_text(status), type, blen,
		status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head)
		mbuf_add(out, body, blen);
}
