/*
 * The fault module's config parser: "key = value" lines, '#' comments, blank lines.
 * A bad line is reported once on stderr (file, line, key) and skipped, so a typo in one
 * test's config degrades that line only and never takes the module down.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

enum { KEY_OK = 0, KEY_BAD_VALUE = -1, KEY_UNKNOWN = -2 };

struct where {
	const char *file;
	size_t line;
};

/* Keys come from a file: print a bounded, printable copy only. */
static void report(const struct where *at, const char *what, const char *key)
{
	char clean[65];
	size_t i;

	for (i = 0; key != NULL && key[i] != '\0' && i < sizeof(clean) - 1; i++)
		clean[i] = isprint((unsigned char)key[i]) ? key[i] : '?';
	clean[i] = '\0';
	if (key == NULL)
		fprintf(stderr, "fault-p11: %s:%zu: %s, line ignored\n", at->file, at->line, what);
	else
		fprintf(stderr, "fault-p11: %s:%zu: %s '%s', line ignored\n", at->file, at->line,
			what, clean);
}

static char *trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Decimal, or hex with 0x; the whole string must be the number (strtoul alone takes "-1"). */
static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	int base = 10;
	unsigned long v;
	char *end;

	if (!isxdigit((unsigned char)s[0]))
		return -1;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		if (!isxdigit((unsigned char)s[2]))
			return -1;
	}
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_rv(const char *s, CK_RV *rv)
{
	unsigned long v;

	if (strncmp(s, "CKR_", 4) == 0)
		return fault_rv_lookup(s, rv);
	if (parse_ulong(s, ULONG_MAX, &v) < 0)
		return -1;
	*rv = v;
	return 0;
}

/* "calls=N" or "calls=N-M", 1-based and inclusive. */
static int parse_calls(char *s, struct fault_fail *fail)
{
	char *dash;

	if (strncmp(s, "calls=", 6) != 0)
		return -1;
	s += 6;
	dash = strchr(s, '-');
	if (dash != NULL)
		*dash = '\0';
	if (parse_ulong(s, ULONG_MAX, &fail->first) < 0 || fail->first == 0)
		return -1;
	fail->last = fail->first;
	if (dash != NULL && parse_ulong(dash + 1, ULONG_MAX, &fail->last) < 0)
		return -1;
	return fail->last >= fail->first ? 0 : -1;
}

/* "ms=A-B" (or "ms=A-" open-ended): milliseconds since the config was
 * (re)loaded, inclusive. */
static int parse_window(char *s, struct fault_fail *fail)
{
	char *dash;

	if (strncmp(s, "ms=", 3) != 0)
		return -1;
	s += 3;
	dash = strchr(s, '-');
	if (dash == NULL)
		return -1;
	*dash = '\0';
	if (parse_ulong(s, ULONG_MAX, &fail->from_ms) < 0)
		return -1;
	if (dash[1] != '\0' && parse_ulong(dash + 1, ULONG_MAX, &fail->to_ms) < 0)
		return -1;
	return fail->to_ms >= fail->from_ms ? 0 : -1;
}

static int set_fail(struct fault_conf *conf, enum fault_fn fn, char *value)
{
	struct fault_fail fail = {
		.is_set = 1, .first = 1, .last = ULONG_MAX, .from_ms = 0, .to_ms = ULONG_MAX};
	char *save = NULL;
	char *tok;
	int ntok = 0;

	tok = strtok_r(value, " \t", &save);
	if (tok == NULL || parse_rv(tok, &fail.rv) < 0)
		return KEY_BAD_VALUE;
	/* At most one calls= and one ms= condition; a call fails when all hold. */
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
		if (++ntok > 2)
			return KEY_BAD_VALUE;
		if (strncmp(tok, "calls=", 6) == 0 ? parse_calls(tok, &fail) < 0
						   : parse_window(tok, &fail) < 0)
			return KEY_BAD_VALUE;
	}
	conf->fail[fn] = fail;
	return KEY_OK;
}

static int set_latency(struct fault_conf *conf, const char *name, const char *value)
{
	enum fault_fn fn = FN_COUNT;
	unsigned long ms;

	if (strcmp(name, "all") != 0 && fault_fn_lookup(name, &fn) < 0)
		return KEY_UNKNOWN;
	if (parse_ulong(value, FAULT_MAX_LATENCY_MS, &ms) < 0)
		return KEY_BAD_VALUE;
	if (fn == FN_COUNT)
		conf->latency_all = (long)ms;
	else
		conf->latency[fn] = (long)ms;
	return KEY_OK;
}

/* Later hide_mechanisms lines add to earlier ones. */
static int set_hidden(struct fault_conf *conf, char *value)
{
	CK_MECHANISM_TYPE mech;
	char *save = NULL;
	char *tok;
	size_t n = conf->n_hidden;

	for (tok = strtok_r(value, ", \t", &save); tok != NULL;
		tok = strtok_r(NULL, ", \t", &save)) {
		if (strncmp(tok, "CKM_", 4) == 0 ? fault_mech_lookup(tok, &mech) < 0
						 : parse_ulong(tok, ULONG_MAX, &mech) < 0)
			return KEY_BAD_VALUE;
		if (n == FAULT_MAX_HIDDEN)
			return KEY_BAD_VALUE;
		conf->hidden[n++] = mech;
	}
	conf->n_hidden = n;
	return KEY_OK;
}

/* Numbers and CKF_ token flag names, joined by '|', ',' or blanks. */
static int parse_flags(char *value, CK_FLAGS *out)
{
	CK_FLAGS flags = 0;
	CK_FLAGS one;
	char *save = NULL;
	char *tok;

	for (tok = strtok_r(value, "|, \t", &save); tok != NULL;
		tok = strtok_r(NULL, "|, \t", &save)) {
		if (strncmp(tok, "CKF_", 4) == 0 ? fault_token_flag_lookup(tok, &one) < 0
						 : parse_ulong(tok, ULONG_MAX, &one) < 0)
			return KEY_BAD_VALUE;
		flags |= one;
	}
	*out = flags;
	return KEY_OK;
}

static int set_path(char *dst, const char *value)
{
	size_t n = strlen(value);

	if (n == 0 || n >= FAULT_PATH_MAX)
		return KEY_BAD_VALUE;
	memcpy(dst, value, n + 1);
	return KEY_OK;
}

static int set_number(long *dst, const char *value, unsigned long max)
{
	unsigned long v;

	if (parse_ulong(value, max, &v) < 0)
		return KEY_BAD_VALUE;
	*dst = (long)v;
	return KEY_OK;
}

static int set_key(struct fault_conf *conf, const char *key, char *value)
{
	enum fault_fn fn;
	long removed;

	if (strncmp(key, "latency.", 8) == 0)
		return set_latency(conf, key + 8, value);
	if (strncmp(key, "fail.", 5) == 0)
		return fault_fn_lookup(key + 5, &fn) < 0 ? KEY_UNKNOWN : set_fail(conf, fn, value);
	if (strcmp(key, "hide_mechanisms") == 0)
		return set_hidden(conf, value);
	if (strcmp(key, "max_sessions") == 0)
		return set_number(&conf->max_sessions, value, FAULT_MAX_SESSIONS);
	if (strcmp(key, "token_flags_set") == 0)
		return parse_flags(value, &conf->token_flags_set);
	if (strcmp(key, "token_flags_clear") == 0)
		return parse_flags(value, &conf->token_flags_clear);
	if (strcmp(key, "module") == 0)
		return set_path(conf->module, value);
	if (strcmp(key, "calls_log") == 0)
		return set_path(conf->calls_log, value);
	if (strcmp(key, "removed") != 0)
		return KEY_UNKNOWN;
	if (set_number(&removed, value, 1) < 0)
		return KEY_BAD_VALUE;
	conf->removed = (int)removed;
	return KEY_OK;
}

/* A '#' starts a comment at the start of a line or after a blank, so paths may hold '#'. */
static void strip_comment(char *line)
{
	size_t i;

	for (i = 0; line[i] != '\0'; i++) {
		if (line[i] == '#' && (i == 0 || isspace((unsigned char)line[i - 1]))) {
			line[i] = '\0';
			return;
		}
	}
}

static int parse_line(struct fault_conf *conf, const struct where *at, char *line)
{
	char *key;
	char *eq;
	int rc;

	strip_comment(line);
	key = trim(line);
	if (*key == '\0')
		return 0;
	eq = strchr(key, '=');
	if (eq == NULL) {
		report(at, "expected 'key = value', got", key);
		return -1;
	}
	*eq = '\0';
	key = trim(key);
	rc = set_key(conf, key, trim(eq + 1));
	if (rc == KEY_UNKNOWN)
		report(at, "unknown key", key);
	else if (rc == KEY_BAD_VALUE)
		report(at, "bad value for key", key);
	return rc == KEY_OK ? 0 : -1;
}

void fault_conf_init(struct fault_conf *conf)
{
	size_t i;

	memset(conf, 0, sizeof(*conf));
	conf->latency_all = -1;
	for (i = 0; i < FN_COUNT; i++)
		conf->latency[i] = -1;
	conf->max_sessions = -1;
}

int fault_conf_parse(struct fault_conf *conf, const char *file, const char *text, size_t len)
{
	char line[FAULT_PATH_MAX + 256];
	struct where at = {.file = file, .line = 0};
	size_t pos = 0;
	size_t end;
	int bad = 0;

	/* Each pass consumes at least one byte, so this ends after at most len passes. */
	while (pos < len) {
		for (end = pos; end < len && text[end] != '\n'; end++)
			;
		at.line++;
		if (end - pos >= sizeof(line)) {
			report(&at, "line too long", NULL);
			bad++;
		} else {
			memcpy(line, text + pos, end - pos);
			line[end - pos] = '\0';
			if (parse_line(conf, &at, line) < 0)
				bad++;
		}
		pos = end + 1;
	}
	return bad;
}

int fault_conf_load(struct fault_conf *conf, const char *path, struct stat *sb)
{
	char *buf = NULL;
	FILE *f = NULL;
	size_t len;
	int rc = -1;

	f = fopen(path, "re");
	if (f == NULL || fstat(fileno(f), sb) != 0) {
		fprintf(stderr, "fault-p11: %s: %s, no faults configured\n", path, strerror(errno));
		goto out;
	}
	buf = malloc(FAULT_CONF_MAX_BYTES + 1);
	if (buf == NULL)
		goto out;
	len = fread(buf, 1, FAULT_CONF_MAX_BYTES + 1, f);
	if (ferror(f) || len > FAULT_CONF_MAX_BYTES) {
		fprintf(stderr, "fault-p11: %s: unreadable or over %d bytes, ignored\n", path,
			FAULT_CONF_MAX_BYTES);
		goto out;
	}
	fault_conf_parse(conf, path, buf, len);
	rc = 0;
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return rc;
}
