/* Fuzz the metrics endpoint's HTTP request parser (the only part of the
 * agent a local process reaches without TLS) and the label escaping:
 *  - every answer is one of the statuses the server knows; a 200 names a
 *    route, a 404 none;
 *  - once a prefix of the input decides the answer, more bytes never
 *    change it (the server parses a growing buffer);
 *  - the response says its body length right;
 *  - escaped label values unescape to the input and hold no raw newline. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_int.h"
#include "mtls/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_known(int status)
{
	return status == 200 || status == 400 || status == 404 || status == 405 || status == 431 ||
		status == 505;
}

static void check_parse(const char *buf, size_t size)
{
	struct http_request all, part;
	size_t k = size / 2;
	int rc = http_parse_request(buf, size, &all);

	if (rc == MTLS_ERR_AGAIN) {
		if (size >= HTTP_REQUEST_MAX)
			abort(); /* the server's buffer is full: it must decide */
		return;
	}
	if (rc != 0 || !is_known(all.status) ||
		(all.status == 200 && all.route == HTTP_ROUTE_NONE) ||
		(all.status == 404 && all.route != HTTP_ROUTE_NONE))
		abort();
	if (http_parse_request(buf, k, &part) == 0 &&
		(part.status != all.status || part.route != all.route || part.head != all.head))
		abort();
}

static void check_response(const char *buf, size_t size)
{
	struct mbuf out;
	const char *cl, *body;
	size_t blen = size > 512 ? 512 : size;

	mbuf_init(&out, 4096);
	http_response(&out, 200, "text/plain", buf, blen, 0);
	if (out.full || (cl = strstr(out.data, "\r\nContent-Length: ")) == NULL ||
		(body = strstr(out.data, "\r\n\r\n")) == NULL ||
		strtoul(cl + 18, NULL, 10) != blen ||
		out.len - (size_t)(body + 4 - out.data) != blen)
		abort();
	mbuf_free(&out);
}

static void check_label(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *back;
	struct mbuf out;
	size_t i, j = 0;

	if (in == NULL)
		return;
	if (size > 0)
		memcpy(in, data, size);
	in[size] = '\0';
	mbuf_init(&out, 4 * size + 16);
	metrics_label(&out, in);
	back = malloc(out.len + 1);
	for (i = 0; back != NULL && i < out.len; i++) {
		if (out.data[i] == '\n' ||
			(out.data[i] == '"' && (i == 0 || out.data[i - 1] != '\\')))
			abort();
		if (out.data[i] != '\\') {
			back[j++] = out.data[i];
			continue;
		}
		if (++i >= out.len)
			abort();
		back[j++] = out.data[i] == 'n' ? '\n' : out.data[i];
		if (out.data[i] != 'n' && out.data[i] != '\\' && out.data[i] != '"')
			abort();
	}
	if (back != NULL && (j != strlen(in) || memcmp(back, in, j) != 0))
		abort();
	free(back);
	mbuf_free(&out);
	free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 3 * HTTP_REQUEST_MAX)
		return 0;
	check_parse((const char *)data, size);
	check_response((const char *)data, size);
	check_label(data, size);
	return 0;
}
