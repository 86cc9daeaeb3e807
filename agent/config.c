/* The configuration model: one table of every option, the parser of each
 * kind of value, and the life cycle of struct cfg_agent. The two front
 * ends (config_file.c, config_args.c) only find the option and say where
 * it came from; everything an option accepts is decided here, so a value
 * means the same in a file and on the command line. */
#include <ctype.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "mtls/secret.h"

#define HOUR_MS 3600000UL
#define DAY_MS (24 * HOUR_MS)

static int set_path(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_cert(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_key(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_addr(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_local_addr(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *,
	const char *, const char *);
static int set_host(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_credential(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *,
	const char *, const char *);
static int set_uint(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_duration(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *,
	const char *, const char *);
static int set_bool(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_tls(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_mode(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_signer(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_off(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_log_level(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *,
	const char *, const char *);
static int set_rule(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);
static int set_spki(struct cfg_agent *, struct cfg_tunnel *, const struct cfg_opt *, const char *,
	const char *);

#define A(field) offsetof(struct cfg_agent, field)
#define T(field) offsetof(struct cfg_tunnel, field)
#define AG CFG_SCOPE_AGENT
#define TU CFG_SCOPE_TUNNEL
#define DURATION "(500ms, 10s, 5m, 1h; a bare number is milliseconds)"

const struct cfg_opt cfg_opts[CFG_NOPT] = {
	[OPT_PIN_FILE] = {"pin-file", AG, CFG_F_PATH, set_path, A(pin_file), 0, 0, 0,
		"an absolute file name", "FILE"},
	[OPT_PIN_CREDENTIAL] = {"pin-credential", AG, 0, set_credential, A(pin_credential), 0, 0, 0,
		"a systemd credential name (no '/')", "NAME"},
	[OPT_SIGNER] = {"signer", AG, 0, set_signer, A(signer_in_process), 0, 0, 0,
		"process or in-process", "process|in-process"},
	[OPT_HANDSHAKE_WORKERS] = {"handshake-workers", AG, 0, set_uint, A(handshake_workers), 0, 1,
		64, "an integer from 1 to 64", "N"},
	[OPT_HANDSHAKE_QUEUE] = {"handshake-queue", AG, 0, set_uint, A(handshake_queue), 0, 1,
		65536, "an integer from 1 to 65536", "N"},
	[OPT_METRICS_LISTEN] = {"metrics-listen", AG, 0, set_local_addr, A(metrics_listen), 0, 0, 0,
		"a loopback HOST:PORT, [::1]:PORT or unix:/PATH", "ADDR"},
	[OPT_LOG_LEVEL] = {"log-level", AG, 0, set_log_level, A(log_level), 0, 0, 7,
		"err, warning, notice, info, debug or 0 to 7", "LEVEL"},
	[OPT_ALLOW_PIN_VALUE] = {"allow-pin-value", AG, CFG_F_FILE_ONLY, set_bool,
		A(allow_pin_value), 0, 0, 0, "yes or no", "yes|no"},
	[OPT_DRAIN_TIMEOUT] = {"drain-timeout", AG, 0, set_duration, A(drain_timeout_ms), 0, 0,
		HOUR_MS, "0 (cut at once) or a duration up to 1h " DURATION, "DURATION"},
	[OPT_SANDBOX] = {"sandbox", AG, 0, set_off, A(sandbox_off), 0, 0, 0, "on or off", "on|off"},
	[OPT_MODE] = {"mode", TU, CFG_F_FILE_ONLY, set_mode, T(mode), 0, 0, 0, "client or server",
		"client|server"},
	[OPT_LISTEN] = {"listen", TU, 0, set_addr, T(listen), 0, 0, 0,
		"HOST:PORT, [IPV6]:PORT or unix:/PATH", "ADDR"},
	[OPT_TARGET] = {"target", TU, 0, set_addr, T(target), 0, 0, 0,
		"HOST:PORT, [IPV6]:PORT or unix:/PATH", "ADDR"},
	[OPT_KEY] = {"key", TU, 0, set_key, T(key_uri), 0, 0, 0,
		"a PKCS#11 URI (pkcs11:token=...;object=...;type=private)", "URI"},
	[OPT_CERT] = {"cert", TU, CFG_F_PATH, set_cert, T(cert), 0, 0, 0,
		"an absolute PEM file name or a pkcs11: URI", "FILE|URI"},
	[OPT_CHAIN] = {"chain", TU, CFG_F_PATH, set_path, T(chain), 0, 0, 0,
		"an absolute PEM file name", "FILE"},
	[OPT_CACERT] = {"cacert", TU, CFG_F_PATH, set_path, T(cacert), 0, 0, 0,
		"an absolute PEM file name", "FILE"},
	[OPT_CRL] = {"crl", TU, CFG_F_PATH, set_path, T(crl), 0, 0, 0,
		"an absolute PEM or DER file name", "FILE"},
	[OPT_TLS_MIN] = {"tls-min", TU, 0, set_tls, T(tls_min), 0, 0, 0, "1.2 or 1.3", "1.2|1.3"},
	[OPT_TLS_MAX] = {"tls-max", TU, 0, set_tls, T(tls_max), 0, 0, 0, "1.2 or 1.3", "1.2|1.3"},
	[OPT_ALLOW_CN] = {"allow-cn", TU, CFG_F_REPEAT, set_rule, T(allow.cn), T(allow.ncn), 0, 0,
		"a subject common name", "CN"},
	[OPT_ALLOW_DNS] = {"allow-dns", TU, CFG_F_REPEAT, set_rule, T(allow.dns), T(allow.ndns), 0,
		0, "a DNS name (no wildcards)", "NAME"},
	[OPT_ALLOW_URI] = {"allow-uri", TU, CFG_F_REPEAT, set_rule, T(allow.uri), T(allow.nuri), 0,
		0, "a URI with a scheme (spiffe://example.org/gw01)", "URI"},
	[OPT_ALLOW_OU] = {"allow-ou", TU, CFG_F_REPEAT, set_rule, T(allow.ou), T(allow.nou), 0, 0,
		"an organizational unit", "OU"},
	[OPT_ALLOW_SPKI] = {"allow-spki-sha256", TU, CFG_F_REPEAT, set_spki, T(allow.spki),
		T(allow.nspki), 0, 0,
		"a SHA-256 of a SubjectPublicKeyInfo: 64 hex digits (colons allowed) or 44 "
		"base64 characters",
		"HASH"},
	[OPT_ALLOW_ALL] = {"allow-all", TU, CFG_F_FLAG, set_bool, T(allow.all), 0, 0, 0,
		"yes or no", "yes|no"},
	[OPT_SERVER_NAME] = {"server-name", TU, 0, set_host, T(server_name), 0, 0, 0,
		"a DNS name or an IP address", "NAME"},
	[OPT_CONNECT_TIMEOUT] = {"connect-timeout", TU, 0, set_duration, T(connect_timeout_ms), 0,
		1, HOUR_MS, "a duration from 1ms to 1h " DURATION, "DURATION"},
	[OPT_HANDSHAKE_TIMEOUT] = {"handshake-timeout", TU, 0, set_duration,
		T(handshake_timeout_ms), 0, 1, HOUR_MS, "a duration from 1ms to 1h " DURATION,
		"DURATION"},
	[OPT_IDLE_TIMEOUT] = {"idle-timeout", TU, 0, set_duration, T(idle_timeout_ms), 0, 0,
		30 * DAY_MS, "0 (none) or a duration up to 720h " DURATION, "DURATION"},
	[OPT_MAX_CONNECTIONS] = {"max-connections", TU, 0, set_uint, T(max_connections), 0, 1,
		1048576, "an integer from 1 to 1048576", "N"},
	[OPT_SESSION_RESUME] = {"session-resume", TU, 0, set_off, T(session_resume_off), 0, 0, 0,
		"yes or no", "yes|no"},
	[OPT_UNSAFE_LISTEN] = {"unsafe-listen", TU, CFG_F_FLAG, set_bool, T(unsafe_listen), 0, 0, 0,
		"yes or no", "yes|no"},
	[OPT_UNSAFE_TARGET] = {"unsafe-target", TU, CFG_F_FLAG, set_bool, T(unsafe_target), 0, 0, 0,
		"yes or no", "yes|no"},
};

static void *field(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o)
{
	return (o->scope == CFG_SCOPE_AGENT ? (char *)cfg : (char *)t) + o->off;
}

static int bad(const struct cfg_opt *o, const char *where, const char *v, const char *why)
{
	char q[128];

	if (why != NULL)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: expected %s (%s), got \"%s\"", where,
			o->expect, why, cfg_quote(q, sizeof(q), v));
	return mtls_err_set(MTLS_ERR_CONFIG, "%s: expected %s, got \"%s\"", where, o->expect,
		cfg_quote(q, sizeof(q), v));
}

static int nomem(void)
{
	return mtls_err_set(MTLS_ERR_NOMEM, "configuration: out of memory");
}

/* All copies go through malloc, so one wrapped allocator fails them all
 * in the out-of-memory test. */
static char *dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

static int store(char **slot, const char *v)
{
	char *copy = dup_str(v);

	if (copy == NULL)
		return nomem();
	free(*slot);
	*slot = copy;
	return 0;
}

static int set_path(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	if (v[0] != '/')
		return bad(o, where, v, "relative names depend on the working directory");
	return store(field(cfg, t, o), v);
}

static int set_cert(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	if (v[0] != '/' && strncmp(v, "pkcs11:", 7) != 0)
		return bad(o, where, v, NULL);
	return store(field(cfg, t, o), v);
}

static int set_key(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	if (strncmp(v, "pkcs11:", 7) != 0)
		return bad(o, where, v, NULL);
	return store(field(cfg, t, o), v);
}

static int set_addr(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	struct cfg_addr a;
	const char *why = cfg_addr_parse(v, &a);

	if (why != NULL)
		return bad(o, where, v, why);
	return store(field(cfg, t, o), v);
}

static int set_local_addr(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	struct cfg_addr a;
	const char *why = cfg_addr_parse(v, &a);

	if (why == NULL && !cfg_addr_is_local(&a))
		why = "metrics stay on this machine; put a proxy in front to export them";
	if (why != NULL)
		return bad(o, where, v, why);
	return store(field(cfg, t, o), v);
}

static int set_host(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	if (!cfg_is_host_name(v))
		return bad(o, where, v, NULL);
	return store(field(cfg, t, o), v);
}

static int set_credential(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	if (strchr(v, '/') != NULL || strcmp(v, ".") == 0 || strcmp(v, "..") == 0 ||
		strlen(v) > 255)
		return bad(o, where, v, NULL);
	return store(field(cfg, t, o), v);
}

/* Decimal digits into *out, refusing more than 15 digits (so the value
 * and any later multiplication by a unit stay far from overflow). */
static const char *parse_digits(const char *s, unsigned long long *out)
{
	unsigned long long n = 0;
	size_t i;

	for (i = 0; i < 15 && s[i] >= '0' && s[i] <= '9'; i++)
		n = n * 10 + (unsigned)(s[i] - '0');
	if (i == 0 || (s[i] >= '0' && s[i] <= '9'))
		return NULL;
	*out = n;
	return s + i;
}

static int store_unsigned(
	struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o, unsigned long long n)
{
	unsigned *slot = field(cfg, t, o);

	*slot = (unsigned)n;
	return 0;
}

static int set_uint(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	unsigned long long n;
	const char *end = parse_digits(v, &n);

	if (end == NULL || *end != '\0' || n < o->min || n > o->max)
		return bad(o, where, v, NULL);
	return store_unsigned(cfg, t, o, n);
}

/* "500ms", "10s", "5m", "1h" or bare milliseconds. */
static int set_duration(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	static const struct {
		const char *unit;
		unsigned long ms;
	} units[] = {{"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", HOUR_MS}};
	unsigned long long n;
	const char *end = parse_digits(v, &n);
	size_t i;

	for (i = 0; end != NULL && i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (n > o->max / units[i].ms || n * units[i].ms < o->min)
			return bad(o, where, v, "out of range");
		return store_unsigned(cfg, t, o, n * units[i].ms);
	}
	return bad(o, where, v, NULL);
}

struct word {
	const char *word;
	int value;
};

static int lookup_word(const struct word *w, size_t n, const char *v, int *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcasecmp(v, w[i].word) == 0) {
			*out = w[i].value;
			return 0;
		}
	}
	return -1;
}

static int set_word(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where, const struct word *w, size_t n)
{
	int value;

	if (lookup_word(w, n, v, &value) != 0)
		return bad(o, where, v, NULL);
	*(int *)field(cfg, t, o) = value;
	return 0;
}

#define NWORDS(w) (sizeof(w) / sizeof((w)[0]))

static int set_bool(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	static const struct word w[] = {{"yes", 1}, {"no", 0}, {"true", 1}, {"false", 0}, {"on", 1},
		{"off", 0}, {"1", 1}, {"0", 0}};

	return set_word(cfg, t, o, v, where, w, NWORDS(w));
}

static int set_tls(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	static const struct word w[] = {{"1.2", 12}, {"1.3", 13}};

	return set_word(cfg, t, o, v, where, w, NWORDS(w));
}

static int set_mode(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	static const struct word w[] = {{"client", TUNNEL_CLIENT}, {"server", TUNNEL_SERVER}};
	int mode;

	/* enum tunnel_mode is not necessarily an int: store through its type. */
	if (lookup_word(w, NWORDS(w), v, &mode) != 0)
		return bad(o, where, v, NULL);
	t->mode = (enum tunnel_mode)mode;
	return 0;
}

static int set_signer(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	static const struct word w[] = {{"process", 0}, {"in-process", 1}};

	return set_word(cfg, t, o, v, where, w, NWORDS(w));
}

/* A feature on by default, stored as "is off" so a zeroed struct has it. */
static int set_off(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	static const struct word w[] = {{"on", 0}, {"yes", 0}, {"true", 0}, {"1", 0}, {"off", 1},
		{"no", 1}, {"false", 1}, {"0", 1}};

	return set_word(cfg, t, o, v, where, w, NWORDS(w));
}

static int set_log_level(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	static const struct word w[] = {{"emerg", 0}, {"alert", 1}, {"crit", 2}, {"err", 3},
		{"error", 3}, {"warning", 4}, {"warn", 4}, {"notice", 5}, {"info", 6}, {"debug", 7},
		{"0", 0}, {"1", 1}, {"2", 2}, {"3", 3}, {"4", 4}, {"5", 5}, {"6", 6}, {"7", 7}};

	return set_word(cfg, t, o, v, where, w, NWORDS(w));
}

/* 1 if v starts with a URI scheme and ':' (RFC 3986: ALPHA *( ALPHA /
 * DIGIT / "+" / "-" / "." )) followed by something. */
static int has_scheme(const char *v)
{
	size_t i;

	if (!isalpha((unsigned char)v[0]))
		return 0;
	for (i = 1; isalnum((unsigned char)v[i]) || v[i] == '+' || v[i] == '-' || v[i] == '.'; i++)
		;
	return v[i] == ':' && v[i + 1] != '\0';
}

static int set_rule(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	char **rules = field(cfg, t, o), *copy;
	size_t *n = (size_t *)((char *)t + o->off_n);

	if (o == &cfg_opts[OPT_ALLOW_DNS] && strchr(v, '*') != NULL)
		return bad(o, where, v, "wildcards are not matched: list each name");
	if (o == &cfg_opts[OPT_ALLOW_DNS] && !cfg_is_host_name(v))
		return bad(o, where, v, NULL);
	if (o == &cfg_opts[OPT_ALLOW_URI] && !has_scheme(v))
		return bad(o, where, v, NULL);
	if (*n >= CFG_MAX_RULES)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: more than %d rules of this kind", where,
			CFG_MAX_RULES);
	copy = dup_str(v);
	if (copy == NULL)
		return nomem();
	rules[(*n)++] = copy;
	return 0;
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 64 hex digits, or 32 pairs joined by colons ("3B:1F:..."). */
static int parse_hex32(const char *v, unsigned char out[32])
{
	size_t len = strlen(v), step = len == 95 ? 3 : 2, i;

	if (len != 64 && len != 95)
		return -1;
	for (i = 0; i < 32; i++) {
		int hi = hex_value((unsigned char)v[i * step]);
		int lo = hex_value((unsigned char)v[i * step + 1]);

		if (hi < 0 || lo < 0 || (step == 3 && i < 31 && v[i * 3 + 2] != ':'))
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int b64_value(int c)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c != '\0' ? strchr(abc, c) : NULL;

	return p != NULL ? (int)(p - abc) : -1;
}

/* Standard base64 of 32 bytes: 43 characters and "=" (or none); the last
 * character carries 2 unused bits, which must be zero. */
static int parse_b64_32(const char *v, unsigned char out[32])
{
	unsigned long acc = 0;
	size_t len = strlen(v), i, o = 0;
	int bits = 0;

	if (len == 44 && v[43] == '=')
		len = 43;
	if (len != 43)
		return -1;
	for (i = 0; i < len; i++) {
		int d = b64_value((unsigned char)v[i]);

		if (d < 0)
			return -1;
		acc = (acc << 6 | (unsigned long)d) & 0xffffUL;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	return o == 32 && (acc & ((1UL << bits) - 1)) == 0 ? 0 : -1;
}

static int set_spki(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where)
{
	unsigned char hash[32];
	const char *b64 = strncmp(v, "sha256//", 8) == 0 ? v + 8 : v;

	if (parse_hex32(v, hash) != 0 && parse_b64_32(b64, hash) != 0)
		return bad(o, where, v, NULL);
	if (t->allow.nspki >= CFG_MAX_RULES)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: more than %d rules of this kind", where,
			CFG_MAX_RULES);
	memcpy(t->allow.spki[t->allow.nspki++], hash, sizeof(hash));
	return 0;
}

int cfg_opt_lookup(const char *name)
{
	int i;

	for (i = 0; i < CFG_NOPT; i++) {
		if (strcmp(name, cfg_opts[i].name) == 0)
			return i;
	}
	return CFG_NO_OPT;
}

int cfg_opt_apply(
	struct cfg_agent *cfg, struct cfg_tunnel *t, int id, const char *v, const char *where)
{
	const struct cfg_opt *o;
	size_t n, i;

	if (cfg == NULL || v == NULL || id < 0 || id >= CFG_NOPT)
		return mtls_err_set(MTLS_ERR_ARG, "cfg_opt_apply: bad argument");
	o = &cfg_opts[id];
	if ((o->scope == CFG_SCOPE_TUNNEL) != (t != NULL))
		return mtls_err_set(MTLS_ERR_INTERNAL, "%s: applied to the wrong section", where);
	n = strnlen(v, CFG_VALUE_MAX + 1);
	if (n > CFG_VALUE_MAX)
		return mtls_err_set(
			MTLS_ERR_CONFIG, "%s: value longer than %d bytes", where, CFG_VALUE_MAX);
	if (n == 0)
		return mtls_err_set(
			MTLS_ERR_CONFIG, "%s: empty value: expected %s", where, o->expect);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x20 || c == 0x7f)
			return mtls_err_set(MTLS_ERR_CONFIG,
				"%s: control character 0x%02x at byte %zu of the value", where, c,
				i + 1);
	}
	return o->set(cfg, t, o, v, where);
}

int cfg_agent_new(const char *source, struct cfg_agent **out)
{
	struct cfg_agent *cfg;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL)
		return nomem();
	cfg->handshake_workers = 4;
	cfg->handshake_queue = 64;
	cfg->drain_timeout_ms = 10000;
	cfg->log_level = MTLS_LOG_NOTICE;
	cfg->source = dup_str(source);
	if (cfg->source == NULL) {
		free(cfg);
		return nomem();
	}
	*out = cfg;
	return 0;
}

int cfg_tunnel_add(
	struct cfg_agent *cfg, const char *name, const char *where, struct cfg_tunnel **out)
{
	struct cfg_tunnel *t;

	*out = NULL;
	if (cfg->ntunnels >= CFG_MAX_TUNNELS)
		return mtls_err_set(
			MTLS_ERR_CONFIG, "%s: more than %d tunnels", where, CFG_MAX_TUNNELS);
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return nomem();
	t->name = dup_str(name);
	if (t->name == NULL) {
		free(t);
		return nomem();
	}
	t->tls_min = 13;
	t->tls_max = 13;
	t->connect_timeout_ms = 10000;
	t->handshake_timeout_ms = 10000;
	t->max_connections = 1024;
	cfg->tunnels[cfg->ntunnels++] = t;
	*out = t;
	return 0;
}

int cfg_finish(struct cfg_agent *cfg)
{
	struct cfg_addr a;
	size_t i;

	for (i = 0; i < cfg->ntunnels; i++) {
		struct cfg_tunnel *t = cfg->tunnels[i];

		if (t->mode != TUNNEL_CLIENT || t->server_name != NULL || t->target == NULL)
			continue;
		if (cfg_addr_parse(t->target, &a) == NULL && !a.is_unix &&
			store(&t->server_name, a.host) != 0)
			return MTLS_ERR_NOMEM;
	}
	return 0;
}

static void free_wiped(char *s)
{
	if (s != NULL) {
		mtls_wipe(s, strlen(s));
		free(s);
	}
}

static void free_rules(char **rules, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < CFG_MAX_RULES; i++)
		free(rules[i]);
}

static void tunnel_free(struct cfg_tunnel *t)
{
	if (t == NULL)
		return;
	free(t->name);
	free(t->listen);
	free(t->target);
	free_wiped(t->key_uri); /* may carry a pin-value (allow-pin-value = yes) */
	free_wiped(t->cert);
	free(t->chain);
	free(t->cacert);
	free(t->crl);
	free(t->server_name);
	free_rules(t->allow.cn, t->allow.ncn);
	free_rules(t->allow.dns, t->allow.ndns);
	free_rules(t->allow.uri, t->allow.nuri);
	free_rules(t->allow.ou, t->allow.nou);
	free(t);
}

void cfg_free(struct cfg_agent *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->ntunnels && i < CFG_MAX_TUNNELS; i++)
		tunnel_free(cfg->tunnels[i]);
	free(cfg->pin_file);
	free(cfg->pin_credential);
	free(cfg->metrics_listen);
	free(cfg->source);
	free(cfg);
}

/* ---- text helpers for details ---- */

int cfg_uri_has_pin_value(const char *uri)
{
	static const char key[] = "pin-value";
	size_t i, k = 0;

	/* The letters of "pin-value" are all different, so on a mismatch
	 * the match restarts at 0, or at 1 when the byte is a 'p'. */
	for (i = 0; uri[i] != '\0' && k < sizeof(key) - 1; i++) {
		int c = (unsigned char)uri[i];

		if (c == '%' && hex_value((unsigned char)uri[i + 1]) >= 0 &&
			hex_value((unsigned char)uri[i + 2]) >= 0) {
			c = hex_value((unsigned char)uri[i + 1]) << 4 |
				hex_value((unsigned char)uri[i + 2]);
			i += 2;
		}
		c = tolower(c);
		if (c == key[k])
			k++;
		else
			k = c == key[0] ? 1 : 0;
	}
	return k == sizeof(key) - 1;
}

const char *cfg_quote(char *out, size_t outlen, const char *v)
{
	static const char hidden[] = "(a URI with a pin-value, not shown)";
	size_t i;

	if (outlen == 0)
		return out;
	if (cfg_uri_has_pin_value(v)) {
		snprintf(out, outlen, "%s", hidden);
		return out;
	}
	mtls_log_clean(out, outlen, v, 64);
	i = strlen(out);
	if (strnlen(v, 65) > 64 && i + 3 < outlen)
		memcpy(out + i, "...", 4);
	return out;
}

/* Edit distance with both words at most 32 bytes (else "far"). */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, row[33], prev, cur;

	if (la > 32 || lb > 32)
		return (size_t)-1;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			size_t sub = prev +
				(tolower((unsigned char)a[i - 1]) !=
					tolower((unsigned char)b[j - 1]));

			cur = row[j];
			row[j] = sub;
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (cur + 1 < row[j])
				row[j] = cur + 1;
			prev = cur;
		}
	}
	return row[lb];
}

const char *cfg_closest(const char *word, const char *const *words, size_t n)
{
	size_t i, best = (size_t)-1, limit = strlen(word) / 3;
	const char *found = NULL;

	if (limit < 2)
		limit = 2;
	for (i = 0; i < n; i++) {
		size_t d = distance(word, words[i]);

		if (d <= limit && d < best) {
			best = d;
			found = words[i];
		}
	}
	return found;
}

const char *cfg_closest_opt(const char *name, enum cfg_scope scope, int cli)
{
	const char *names[CFG_NOPT];
	size_t n = 0;
	int i;

	for (i = 0; i < CFG_NOPT; i++) {
		if (cli && (cfg_opts[i].flags & CFG_F_FILE_ONLY))
			continue;
		if (cli || scope == 0 || cfg_opts[i].scope == scope)
			names[n++] = cfg_opts[i].name;
	}
	return cfg_closest(name, names, n);
}
