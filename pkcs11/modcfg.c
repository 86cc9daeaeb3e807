/* Resolve a p11-kit registered module name to its path by reading the
 * module's config file ourselves, so that only that one module is loaded
 * (p11_kit_modules_load would load and initialise every registered one). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"
#include "mtls/err.h"

#ifndef MTLS_P11KIT_MODULE_CONFIGS
#define MTLS_P11KIT_MODULE_CONFIGS "/usr/share/p11-kit/modules"
#endif
#ifndef MTLS_P11KIT_MODULE_PATH
#define MTLS_P11KIT_MODULE_PATH "/usr/lib/x86_64-linux-gnu/pkcs11"
#endif

#define MODCFG_MAX 65536

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One "key: value" line; returns 1 and the trimmed value if key is "module". */
static int module_line(const char *line, size_t len, const char **val, size_t *vlen)
{
	static const char key[] = "module";
	size_t i = 0;

	while (i < len && is_space(line[i]))
		i++;
	if (len - i < sizeof(key) - 1 || memcmp(line + i, key, sizeof(key) - 1) != 0)
		return 0;
	i += sizeof(key) - 1;
	while (i < len && is_space(line[i]))
		i++;
	if (i >= len || line[i] != ':')
		return 0;
	i++;
	while (i < len && is_space(line[i]))
		i++;
	while (len > i && is_space(line[len - 1]))
		len--;
	*val = line + i;
	*vlen = len - i;
	return 1;
}

int modcfg_parse(const char *text, size_t len, char *out, size_t outlen)
{
	const char *val = NULL, *line = text, *end = text + len, *nl;
	size_t vlen = 0, need;

	while (line < end) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			nl = end;
		if (line[0] != '#')
			(void)module_line(line, (size_t)(nl - line), &val, &vlen);
		line = nl + 1;
	}
	if (val == NULL || vlen == 0)
		return mtls_err_set(MTLS_ERR_MODULE, "module config has no 'module:' line");
	if (memchr(val, '\0', vlen) != NULL)
		return mtls_err_set(MTLS_ERR_MODULE, "module config holds a NUL byte");
	need = vlen + 1 + (val[0] == '/' ? 0 : sizeof(MTLS_P11KIT_MODULE_PATH));
	if (need > outlen)
		return mtls_err_set(MTLS_ERR_MODULE, "module path in config is too long");
	if (val[0] == '/')
		snprintf(out, outlen, "%.*s", (int)vlen, val);
	else
		snprintf(out, outlen, "%s/%.*s", MTLS_P11KIT_MODULE_PATH, (int)vlen, val);
	return 0;
}

static int valid_name(const char *name)
{
	size_t i;

	if (name[0] == '\0' || name[0] == '.' || strlen(name) > 128)
		return 0;
	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

/* Read a whole small file; 1 if read, 0 if absent, negative on error. */
static int read_small(const char *path, char *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT
			? 0
			: mtls_err_set(MTLS_ERR_MODULE, "%s: %s", path, strerror(errno));
	*len = 0;
	while (*len < cap && (n = read(fd, buf + *len, cap - *len)) > 0)
		*len += (size_t)n;
	close(fd);
	if (*len == cap)
		return mtls_err_set(MTLS_ERR_MODULE, "%s is over %zu bytes", path, cap);
	return 1;
}

int modcfg_resolve(const char *name, char *out, size_t outlen)
{
	/* Later directories override earlier ones, as in p11-kit. */
	const char *dirs[] = {MTLS_P11KIT_MODULE_CONFIGS, "/etc/pkcs11/modules"};
	char path[512], *buf;
	size_t len = 0, i;
	int rc = MTLS_ERR_MODULE, found = 0, r;

	if (!valid_name(name))
		return mtls_err_set(MTLS_ERR_URI,
			"module-name '%.64s' is not a plain name; use module-path= for a file",
			name);
	buf = malloc(MODCFG_MAX);
	if (buf == NULL)
		return MTLS_ERR_NOMEM;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.module", dirs[i], name);
		r = read_small(path, buf, MODCFG_MAX, &len);
		if (r < 0) {
			rc = r;
			goto out;
		}
		if (r == 1) {
			rc = modcfg_parse(buf, len, out, outlen);
			if (rc != 0)
				goto out;
			found = 1;
		}
	}
	if (!found)
		rc = mtls_err_set(MTLS_ERR_MODULE,
			"no PKCS#11 module named '%s' is registered with p11-kit (looked in %s and "
			"/etc/pkcs11/modules); install its package or use module-path=",
			name, MTLS_P11KIT_MODULE_CONFIGS);
out:
	free(buf);
	return rc;
}
