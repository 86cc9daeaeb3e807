/* Shared parts of the key commands: PIN options, errors, exit codes, hex,
 * JSON strings. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "keycmd.h"
#include "mtls/err.h"

int keycmd_pin_option(const char *cmd, int c, const char *arg, struct p11_options *opt)
{
	if (c != KEYCMD_OPT_PIN_FILE && c != KEYCMD_OPT_PIN_CREDENTIAL)
		return 0;
	if (opt->pin_file != NULL || opt->pin_credential != NULL) {
		fprintf(stderr,
			"mtls-provision %s: give one PIN source (--pin-file or --pin-credential), "
			"once\n",
			cmd);
		return -1;
	}
	if (c == KEYCMD_OPT_PIN_FILE)
		opt->pin_file = arg;
	else
		opt->pin_credential = arg;
	return 1;
}

int keycmd_exit(int rc)
{
	switch (rc) {
	case 0: return 0;
	case MTLS_ERR_ARG:
	case MTLS_ERR_URI:
	case MTLS_ERR_PIN_SOURCE:
	case MTLS_ERR_CONFIG: return 2;
	default: return 1;
	}
}

int keycmd_fail(const char *cmd, const char *what, int rc)
{
	const char *detail = mtls_err_detail();

	fprintf(stderr, "mtls-provision %s: %s: %s%s%s\n", cmd, what, mtls_strerror(rc),
		detail[0] ? ": " : "", detail);
	return keycmd_exit(rc);
}

void keycmd_getopt_reset(void)
{
	optind = 1;
	opterr = 0;
}

/* The abbreviated option keycmd_getopt refused, for the message. */
static const char *abbreviated;

int keycmd_getopt(int argc, char **argv, const struct option *opts)
{
	const char *tok, *typed;
	size_t len;
	int li = -1, c = getopt_long(argc, argv, "", opts, &li);

	if (c == -1 || c == '?' || li < 0)
		return c;
	/* The option as typed: before its separate argument, if it has one. */
	tok = (optarg != NULL && optind >= 2 && optarg == argv[optind - 1]) ? argv[optind - 2]
									    : argv[optind - 1];
	typed = tok + (strncmp(tok, "--", 2) == 0 ? 2 : 0);
	len = strcspn(typed, "=");
	if (len != strlen(opts[li].name) || strncmp(typed, opts[li].name, len) != 0) {
		abbreviated = tok;
		return '?';
	}
	return c;
}

int keycmd_bad_option(const char *cmd, int argc, char **argv)
{
	const char *arg = abbreviated != NULL     ? abbreviated
		: optind - 1 < argc && optind > 1 ? argv[optind - 1]
						  : "?";

	fprintf(stderr,
		"mtls-provision %s: unknown option or missing argument: %s (see mtls-provision %s "
		"--help)\n",
		cmd, arg, cmd);
	return 2;
}

void keycmd_hex(char *out, size_t outlen, const uint8_t *v, size_t len)
{
	size_t i;

	if (outlen == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < len && 2 * i + 3 <= outlen; i++)
		snprintf(out + 2 * i, 3, "%02x", v[i]);
}

static int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int keycmd_unhex(const char *s, uint8_t *out, size_t max, size_t *len)
{
	int hi, lo;

	*len = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	while (*s != '\0') {
		if (*s == ':' && *len > 0 && s[1] != '\0')
			s++;
		hi = nibble(s[0]);
		lo = hi < 0 ? -1 : nibble(s[1]);
		if (lo < 0 || *len >= max)
			return -1;
		out[(*len)++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return *len > 0 ? 0 : -1;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void keycmd_json_str(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	fputc('"', f);
	while (*s != '\0') {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s++);
		else if (*s < 0x20 || *s == 0x7f)
			fprintf(f, "\\u%04x", *s++);
		else if (*s < 0x80)
			fputc(*s++, f);
		else if ((n = utf8_len(s)) > 0) {
			fwrite(s, 1, n, f);
			s += n;
		} else {
			fputs("\\ufffd", f);
			s++;
		}
	}
	fputc('"', f);
}

void keycmd_clean(char *out, size_t outlen, const char *s)
{
	size_t i;

	if (outlen == 0)
		return;
	for (i = 0; s[i] != '\0' && i + 1 < outlen; i++)
		out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	out[i] = '\0';
}
