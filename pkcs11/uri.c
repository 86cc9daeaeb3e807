/* RFC 7512 URIs through p11-kit's parser, made strict: p11-kit accepts
 * unknown attributes silently, so a typo such as "objcet=" would select
 * every object. We name the unknown attribute and refuse it. */
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "mtls/err.h"

#define URI_MAX 4096

static const char *const path_attrs[] = {"id", "library-description", "library-manufacturer",
	"library-version", "manufacturer", "model", "object", "serial", "slot-description",
	"slot-id", "slot-manufacturer", "token", "type"};
static const char *const query_attrs[] = {"module-name", "module-path", "pin-source", "pin-value"};

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;
	return m < c ? m : c;
}

/* Edit distance, for "did you mean"; names are short (bounded to 31). */
static size_t distance(const char *a, size_t la, const char *b)
{
	size_t lb = strlen(b), prev[32], cur[32], i, j;

	if (la > 31 || lb > 31)
		return 99;
	for (j = 0; j <= lb; j++)
		prev[j] = j;
	for (i = 1; i <= la; i++) {
		cur[0] = i;
		for (j = 1; j <= lb; j++)
			cur[j] = min3(
				prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]));
		memcpy(prev, cur, sizeof(prev));
	}
	return prev[lb];
}

static const char *closest(const char *name, size_t len)
{
	const char *best = NULL;
	size_t i, d, bestd = 3;

	for (i = 0; i < sizeof(path_attrs) / sizeof(path_attrs[0]); i++)
		if ((d = distance(name, len, path_attrs[i])) < bestd) {
			bestd = d;
			best = path_attrs[i];
		}
	for (i = 0; i < sizeof(query_attrs) / sizeof(query_attrs[0]); i++)
		if ((d = distance(name, len, query_attrs[i])) < bestd) {
			bestd = d;
			best = query_attrs[i];
		}
	return best;
}

static int known(const char *name, size_t len, const char *const *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strlen(list[i]) == len && memcmp(list[i], name, len) == 0)
			return 1;
	return 0;
}

/* Does an attribute named [name, name + len) start in [p, end)? */
static int named_before(const char *p, const char *end, char sep, const char *name, size_t len)
{
	const char *next;

	for (; p < end; p = next + 1) {
		next = memchr(p, sep, (size_t)(end - p));
		if (next == NULL)
			next = end;
		if ((size_t)(next - p) >= len && memcmp(p, name, len) == 0 &&
			(p + len == next || p[len] == '='))
			return 1;
	}
	return 0;
}

/* Check every "name=value" in [p, end) separated by sep. */
static int check_part(const char *p, const char *end, char sep, int query)
{
	const char *const *list = query ? query_attrs : path_attrs;
	const char *const *other = query ? path_attrs : query_attrs;
	size_t n = query ? sizeof(query_attrs) / sizeof(query_attrs[0])
			 : sizeof(path_attrs) / sizeof(path_attrs[0]);
	size_t nother = query ? sizeof(path_attrs) / sizeof(path_attrs[0])
			      : sizeof(query_attrs) / sizeof(query_attrs[0]);
	const char *start = p, *next, *eq, *hint;
	size_t len;

	for (; p < end; p = next + 1) {
		next = memchr(p, sep, (size_t)(end - p));
		if (next == NULL)
			next = end;
		if (next == p)
			continue;
		eq = memchr(p, '=', (size_t)(next - p));
		len = (size_t)((eq != NULL ? eq : next) - p);
		if (named_before(start, p, sep, p, len))
			return mtls_err_set(MTLS_ERR_URI,
				"attribute '%.*s' appears twice in the PKCS#11 URI; keep one",
				(int)(len > 40 ? 40 : len), p);
		if (known(p, len, list, n))
			continue;
		if (known(p, len, other, nother))
			return mtls_err_set(MTLS_ERR_URI, "'%.*s' is a %s attribute: put it %s",
				(int)len, p, query ? "path" : "query",
				query ? "before the '?', separated by ';'"
				      : "after the '?', separated by '&'");
		if (!query && len >= 2 && p[0] == 'x' && p[1] == '-')
			continue; /* vendor-specific path attributes are allowed by RFC 7512 */
		hint = closest(p, len);
		return mtls_err_set(MTLS_ERR_URI,
			"unknown %s attribute '%.*s' in PKCS#11 URI%s%s%s",
			query ? "query" : "path", (int)(len > 40 ? 40 : len), p,
			hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
	}
	return 0;
}

int uri_check_attributes(const char *s)
{
	const char *p, *q, *end;
	size_t len = strnlen(s, URI_MAX + 1);
	int rc;

	if (len > URI_MAX)
		return mtls_err_set(MTLS_ERR_URI, "PKCS#11 URI is over %d bytes", URI_MAX);
	if (strncmp(s, "pkcs11:", 7) != 0)
		return mtls_err_set(MTLS_ERR_URI,
			"key reference must be a PKCS#11 URI starting with 'pkcs11:'");
	p = s + 7;
	end = s + len;
	q = memchr(p, '?', (size_t)(end - p));
	rc = check_part(p, q != NULL ? q : end, ';', 0);
	if (rc == 0 && q != NULL)
		rc = check_part(q + 1, end, '&', 1);
	return rc;
}

int uri_parse(const char *s, int allow_pin_value, P11KitUri **out)
{
	P11KitUri *uri;
	int rc;

	*out = NULL;
	rc = uri_check_attributes(s);
	if (rc != 0)
		return rc;
	uri = p11_kit_uri_new();
	if (uri == NULL)
		return MTLS_ERR_NOMEM;
	rc = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, uri);
	if (rc != P11_KIT_URI_OK) {
		rc = mtls_err_set(MTLS_ERR_URI, "PKCS#11 URI: %s", p11_kit_uri_message(rc));
		goto fail;
	}
	if (p11_kit_uri_any_unrecognized(uri)) {
		rc = mtls_err_set(MTLS_ERR_URI,
			"PKCS#11 URI has an attribute p11-kit does not "
			"support");
		goto fail;
	}
	if (!allow_pin_value && p11_kit_uri_get_pin_value(uri) != NULL) {
		rc = mtls_err_set(MTLS_ERR_URI,
			"pin-value in a PKCS#11 URI is refused here: command lines are visible to "
			"other users; use pin-source=FILE (mode 0600) or --pin-file");
		goto fail;
	}
	*out = uri;
	return 0;
fail:
	p11_kit_uri_free(uri);
	return rc;
}

/* Append n bytes of s to out (used bytes so far), always NUL-terminated. */
static size_t put(char *out, size_t outlen, size_t used, const char *s, size_t n)
{
	if (used + 1 >= outlen)
		return used;
	if (n > outlen - used - 1)
		n = outlen - used - 1;
	memcpy(out + used, s, n);
	out[used + n] = '\0';
	return used + n;
}

/* Every pin-value is hidden, in the query or (p11-kit accepts it there
 * too) in the path, up to the next separator. */
void uri_redact(const char *s, char *out, size_t outlen)
{
	static const char key[] = "pin-value=", hidden[] = "(hidden)";
	const char *pv;
	size_t used = 0;

	if (outlen == 0)
		return;
	out[0] = '\0';
	while ((pv = strstr(s, key)) != NULL) {
		pv += sizeof(key) - 1;
		used = put(out, outlen, used, s, (size_t)(pv - s));
		used = put(out, outlen, used, hidden, sizeof(hidden) - 1);
		s = pv + strcspn(pv, "&;?");
	}
	(void)put(out, outlen, used, s, strlen(s));
}
