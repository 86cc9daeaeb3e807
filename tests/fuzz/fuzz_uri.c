/* Fuzz the PKCS#11 URI checks on a NUL-terminated copy of the input:
 * uri_check_attributes, uri_parse with and without pin-value allowed, and
 * uri_redact into a roomy and a tiny buffer. Invariants: a URI the strict
 * parse accepts passes the attribute check and carries no pin-value; the
 * redacted copy always fits its buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parse(const char *s)
{
	P11KitUri *uri = NULL;

	if (uri_parse(s, 0, &uri) == 0) {
		if (uri == NULL || uri_check_attributes(s) != 0 ||
			p11_kit_uri_get_pin_value(uri) != NULL)
			abort();
		p11_kit_uri_free(uri);
	} else if (uri != NULL) {
		abort();
	}
	if (uri_parse(s, 1, &uri) == 0)
		p11_kit_uri_free(uri);
}

static void check_redact(const char *s)
{
	char out[512], tiny[8];

	memset(out, 'X', sizeof(out));
	uri_redact(s, out, sizeof(out));
	if (memchr(out, '\0', sizeof(out)) == NULL)
		abort();
	memset(tiny, 'X', sizeof(tiny));
	uri_redact(s, tiny, sizeof(tiny));
	if (memchr(tiny, '\0', sizeof(tiny)) == NULL)
		abort();
	uri_redact(s, tiny, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > 8192)
		return 0; /* the check refuses anything over 4096 anyway */
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	(void)uri_check_attributes(s);
	check_parse(s);
	check_redact(s);
	free(s);
	return 0;
}
