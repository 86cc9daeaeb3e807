/* Checks of a whole configuration (cfg_check): what one value alone cannot
 * say. Required options, files that must be readable, TLS versions in
 * order, a server that would allow nobody, two tunnels on one address, a
 * PIN where it does not belong. Also the address and host name syntax the
 * value parsers use. Touches no token; opens files only to see that they
 * can be read. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_int.h"
#include "mtls/err.h"
#include "mtls/log.h"

#define NO_TUNNEL ((size_t)-1)
#define WHERE_MAX 400

/* ---- addresses and names ---- */

static int is_dns_name(const char *s)
{
	size_t len = strlen(s), label = 0, i;

	if (len == 0 || len > 253)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

int cfg_is_host_name(const char *s)
{
	unsigned char buf[16];

	if (strchr(s, ':') != NULL)
		return inet_pton(AF_INET6, s, buf) == 1;
	if (s[0] != '\0' && s[strspn(s, "0123456789.")] == '\0')
		return inet_pton(AF_INET, s, buf) == 1; /* all digits: must be IPv4 */
	return is_dns_name(s);
}

static const char *parse_port(const char *p, unsigned *port)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < 6 && p[i] >= '0' && p[i] <= '9'; i++)
		n = n * 10 + (unsigned)(p[i] - '0');
	if (i == 0 || p[i] != '\0' || n < 1 || n > 65535)
		return "the port must be a number from 1 to 65535";
	*port = n;
	return NULL;
}

static const char *parse_unix(const char *p, struct cfg_addr *a)
{
	if (p[0] != '/')
		return "a unix socket path must be absolute";
	if (strlen(p) > CFG_UNIX_PATH_MAX)
		return "a unix socket path has at most 107 bytes";
	a->is_unix = 1;
	memcpy(a->path, p, strlen(p) + 1);
	return NULL;
}

static const char *parse_v6(const char *s, struct cfg_addr *a, const char **port)
{
	const char *close = strchr(s, ']');
	unsigned char buf[16];
	size_t n;

	if (close == NULL)
		return "no ']' after the IPv6 address";
	n = (size_t)(close - s - 1);
	if (n == 0 || n >= sizeof(a->host))
		return "not an IPv6 address";
	memcpy(a->host, s + 1, n);
	a->host[n] = '\0';
	if (inet_pton(AF_INET6, a->host, buf) != 1)
		return "not an IPv6 address";
	if (close[1] != ':')
		return "a port must follow: [IPV6]:PORT";
	*port = close + 2;
	return NULL;
}

const char *cfg_addr_parse(const char *s, struct cfg_addr *a)
{
	const char *colon, *port = NULL, *why;
	size_t n, i;

	memset(a, 0, sizeof(*a));
	if (strncmp(s, "unix:", 5) == 0)
		return parse_unix(s + 5, a);
	if (s[0] == '[') {
		why = parse_v6(s, a, &port);
		if (why != NULL)
			return why;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return "no port";
		n = (size_t)(colon - s);
		if (memchr(s, ':', n) != NULL)
			return "an IPv6 address goes in brackets: [::1]:PORT";
		if (n == 0)
			return "no host; 0.0.0.0 or [::] means every address";
		if (n >= sizeof(a->host))
			return "the host name is too long";
		memcpy(a->host, s, n);
		a->host[n] = '\0';
		if (!cfg_is_host_name(a->host))
			return "not a host name or IP address";
		port = colon + 1;
	}
	for (i = 0; a->host[i] != '\0'; i++)
		a->host[i] = (char)tolower((unsigned char)a->host[i]);
	return parse_port(port, &a->port);
}

int cfg_addr_is_local(const struct cfg_addr *a)
{
	unsigned char buf[16];

	if (a->is_unix || strcmp(a->host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, a->host, buf) == 1)
		return buf[0] == 127;
	return strcmp(a->host, "::1") == 0 || strcmp(a->host, "0:0:0:0:0:0:0:1") == 0;
}

static int is_wildcard(const struct cfg_addr *a)
{
	unsigned char buf[16], zero[16] = {0};

	if (inet_pton(AF_INET, a->host, buf) == 1)
		return memcmp(buf, zero, 4) == 0;
	return inet_pton(AF_INET6, a->host, buf) == 1 && memcmp(buf, zero, 16) == 0;
}

/* 1 if binding both would collide: same socket path, or the same port
 * with the same host or a wildcard host on either side. */
static int addr_overlap(const char *x, const char *y)
{
	struct cfg_addr a, b;

	if (cfg_addr_parse(x, &a) != NULL || cfg_addr_parse(y, &b) != NULL)
		return 0;
	if (a.is_unix || b.is_unix)
		return a.is_unix && b.is_unix && strcmp(a.path, b.path) == 0;
	return a.port == b.port &&
		(strcmp(a.host, b.host) == 0 || is_wildcard(&a) || is_wildcard(&b));
}

/* ---- where a problem is, for the detail ---- */

static unsigned line_of(const struct cfg_loc *loc, size_t ti, int id)
{
	if (loc->lines == NULL)
		return 0;
	if (ti == NO_TUNNEL)
		return id >= 0 ? loc->lines->agent[id] : loc->lines->agent_header;
	if (ti >= CFG_MAX_TUNNELS)
		return 0;
	return id >= 0 ? loc->lines->tunnel[ti][id] : loc->lines->tunnel_header[ti];
}

/* "FILE:LINE: name" where the option was given; else "FILE:LINE: [tunnel
 * NAME] name" at the section header, or "FILE: [tunnel NAME] name" when no
 * lines are known; "--name" (or the mode word) on the command line. */
static const char *where(const struct cfg_loc *loc, const struct cfg_agent *cfg, size_t ti, int id,
	char *buf, size_t n)
{
	char sect[CFG_TUNNEL_NAME_MAX + 16], tname[CFG_TUNNEL_NAME_MAX + 1];
	const char *name = id >= 0 ? cfg_opts[id].name : "";
	const char *sp = id >= 0 ? " " : "";
	unsigned line;

	if (loc->cli) {
		if (id >= 0)
			snprintf(buf, n, "--%s", name);
		else if (ti != NO_TUNNEL)
			snprintf(buf, n, "%s",
				cfg->tunnels[ti]->mode == TUNNEL_SERVER ? "server" : "client");
		else
			snprintf(buf, n, "%s", loc->source);
		return buf;
	}
	line = line_of(loc, ti, id);
	if (line != 0 && id >= 0) {
		snprintf(buf, n, "%s:%u: %s", loc->source, line, name);
		return buf;
	}
	if (ti == NO_TUNNEL) {
		snprintf(sect, sizeof(sect), "[agent]");
	} else {
		mtls_log_clean(tname, sizeof(tname), cfg->tunnels[ti]->name, CFG_TUNNEL_NAME_MAX);
		snprintf(sect, sizeof(sect), "[tunnel %s]", tname);
	}
	line = line_of(loc, ti, CFG_NO_OPT);
	if (line != 0)
		snprintf(buf, n, "%s:%u: %s%s%s", loc->source, line, sect, sp, name);
	else
		snprintf(buf, n, "%s: %s%s%s", loc->source, sect, sp, name);
	return buf;
}

/* ---- checks ---- */

struct checker {
	const struct cfg_agent *cfg;
	const struct cfg_loc *loc;
	char w[WHERE_MAX];
};

static const char *at(struct checker *c, size_t ti, int id)
{
	return where(c->loc, c->cfg, ti, id, c->w, sizeof(c->w));
}

static int readable_file(struct checker *c, size_t ti, int id, const char *path)
{
	struct stat st;
	int fd;

	/* stat first: opening a device or FIFO could block or act. */
	if (stat(path, &st) != 0)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: cannot read %s: %s", at(c, ti, id), path,
			strerror(errno));
	if (!S_ISREG(st.st_mode))
		return mtls_err_set(
			MTLS_ERR_CONFIG, "%s: %s is not a regular file", at(c, ti, id), path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: cannot read %s: %s", at(c, ti, id), path,
			strerror(errno));
	close(fd);
	return 0;
}

static int required(struct checker *c, size_t ti, int id, const void *value)
{
	if (value != NULL)
		return 0;
	return mtls_err_set(
		MTLS_ERR_CONFIG, "%s: required: %s", at(c, ti, id), cfg_opts[id].expect);
}

static int in_range(struct checker *c, size_t ti, int id, unsigned long v)
{
	if (v >= cfg_opts[id].min && v <= cfg_opts[id].max)
		return 0;
	return mtls_err_set(
		MTLS_ERR_CONFIG, "%s: expected %s, got %lu", at(c, ti, id), cfg_opts[id].expect, v);
}

static int address(struct checker *c, size_t ti, int id, const char *v)
{
	struct cfg_addr a;
	const char *why = cfg_addr_parse(v, &a);
	char q[128];

	if (why == NULL && id == OPT_METRICS_LISTEN && !cfg_addr_is_local(&a))
		why = "metrics stay on this machine";
	if (why == NULL)
		return 0;
	return mtls_err_set(MTLS_ERR_CONFIG, "%s: expected %s (%s), got \"%s\"", at(c, ti, id),
		cfg_opts[id].expect, why, cfg_quote(q, sizeof(q), v));
}

static int pin_file(struct checker *c)
{
	const char *path = c->cfg->pin_file;
	struct stat st;

	if (path[0] != '/')
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: expected %s",
			at(c, NO_TUNNEL, OPT_PIN_FILE), cfg_opts[OPT_PIN_FILE].expect);
	/* A missing file is the signer's to report at start: the file may be
	 * a systemd credential that exists only inside the service. */
	if (stat(path, &st) != 0)
		return 0;
	if (!S_ISREG(st.st_mode))
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: %s is not a regular file",
			at(c, NO_TUNNEL, OPT_PIN_FILE), path);
	if ((st.st_mode & 077) != 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: %s has mode %04o: group or others may read the PIN; run chmod 600 %s",
			at(c, NO_TUNNEL, OPT_PIN_FILE), path, (unsigned)(st.st_mode & 07777), path);
	return 0;
}

static int check_agent(struct checker *c)
{
	const struct cfg_agent *cfg = c->cfg;
	int rc = 0;

	if (cfg->ntunnels == 0 || cfg->ntunnels > CFG_MAX_TUNNELS)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: no tunnel: add a [tunnel NAME] section",
			c->loc->source);
	if (cfg->pin_file != NULL && cfg->pin_credential != NULL)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: give pin-file or pin-credential, not both",
			at(c, NO_TUNNEL, OPT_PIN_CREDENTIAL));
	if (cfg->pin_file != NULL)
		rc = pin_file(c);
	if (rc == 0 && cfg->pin_credential != NULL && strchr(cfg->pin_credential, '/') != NULL)
		rc = mtls_err_set(MTLS_ERR_CONFIG, "%s: expected %s",
			at(c, NO_TUNNEL, OPT_PIN_CREDENTIAL), cfg_opts[OPT_PIN_CREDENTIAL].expect);
	if (rc == 0 && cfg->metrics_listen != NULL)
		rc = address(c, NO_TUNNEL, OPT_METRICS_LISTEN, cfg->metrics_listen);
	if (rc == 0 && (cfg->log_level < 0 || cfg->log_level > 7))
		rc = in_range(c, NO_TUNNEL, OPT_LOG_LEVEL, (unsigned long)cfg->log_level);
	if (rc == 0)
		rc = in_range(c, NO_TUNNEL, OPT_HANDSHAKE_WORKERS, cfg->handshake_workers);
	if (rc == 0)
		rc = in_range(c, NO_TUNNEL, OPT_HANDSHAKE_QUEUE, cfg->handshake_queue);
	return rc;
}

/* A PIN in a URI: refused on the command line, and in a file unless
 * [agent] allow-pin-value = yes. */
static int pin_value(struct checker *c, size_t ti, int id, const char *uri)
{
	if (!cfg_uri_has_pin_value(uri))
		return 0;
	if (c->loc->cli)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: the URI carries a pin-value, and a command line is visible to every "
			"user (ps, /proc): use --pin-file or --pin-credential",
			at(c, ti, id));
	if (c->cfg->allow_pin_value)
		return 0;
	return mtls_err_set(MTLS_ERR_CONFIG,
		"%s: the URI carries a pin-value: use pin-file, pin-credential or the URI's "
		"pin-source instead, or set allow-pin-value = yes in [agent]",
		at(c, ti, id));
}

/* The value of path attribute name (e.g. "type") in a PKCS#11 URI, as
 * written (not percent-decoded), or NULL; *len gets its length. */
static const char *uri_path_attr(const char *uri, const char *name, size_t *len)
{
	const char *p = uri + 7, *end = p + strcspn(p, "?"), *next;
	size_t n = strlen(name);

	for (; p < end; p = next + 1) {
		next = memchr(p, ';', (size_t)(end - p));
		if (next == NULL)
			next = end;
		if ((size_t)(next - p) > n && strncmp(p, name, n) == 0 && p[n] == '=') {
			*len = (size_t)(next - p) - n - 1;
			return p + n + 1;
		}
	}
	return NULL;
}

/* A certificate on the token (cert = pkcs11:...) is read through the
 * signer with the key's login: its URI needs no PIN, and names a
 * certificate object. The bridge parses it in full at start; --check
 * touches no token. */
static int cert_uri(struct checker *c, size_t ti, const char *uri)
{
	const char *type;
	char shown[20];
	size_t len;

	if (cfg_uri_has_pin_value(uri))
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: the URI carries a pin-value, which a certificate URI never needs "
			"(the key's login reads the certificate): remove it",
			at(c, ti, OPT_CERT));
	type = uri_path_attr(uri, "type", &len);
	if (type != NULL && memchr(type, '%', len) == NULL &&
		(len != 4 || strncmp(type, "cert", 4) != 0))
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: type=%s: a certificate URI names a certificate object (type=cert, "
			"or no type); without id= and object= it is the one beside the key",
			at(c, ti, OPT_CERT), mtls_log_clean(shown, sizeof(shown), type, len));
	return 0;
}

static int check_required(struct checker *c, size_t ti)
{
	const struct cfg_tunnel *t = c->cfg->tunnels[ti];
	int rc;

	if (t->mode != TUNNEL_CLIENT && t->mode != TUNNEL_SERVER)
		return mtls_err_set(
			MTLS_ERR_CONFIG, "%s: required: client or server", at(c, ti, OPT_MODE));
	rc = required(c, ti, OPT_LISTEN, t->listen);
	if (rc == 0)
		rc = required(c, ti, OPT_TARGET, t->target);
	if (rc == 0)
		rc = required(c, ti, OPT_KEY, t->key_uri);
	if (rc == 0)
		rc = required(c, ti, OPT_CERT, t->cert);
	if (rc == 0)
		rc = required(c, ti, OPT_CACERT, t->cacert);
	return rc;
}

static int check_credentials(struct checker *c, size_t ti)
{
	const struct cfg_tunnel *t = c->cfg->tunnels[ti];
	int rc = 0;

	if (strncmp(t->key_uri, "pkcs11:", 7) != 0)
		rc = mtls_err_set(MTLS_ERR_CONFIG, "%s: expected %s", at(c, ti, OPT_KEY),
			cfg_opts[OPT_KEY].expect);
	if (rc == 0)
		rc = pin_value(c, ti, OPT_KEY, t->key_uri);
	if (rc == 0 && strncmp(t->cert, "pkcs11:", 7) == 0)
		rc = cert_uri(c, ti, t->cert);
	else if (rc == 0)
		rc = readable_file(c, ti, OPT_CERT, t->cert);
	if (rc == 0 && t->chain != NULL)
		rc = readable_file(c, ti, OPT_CHAIN, t->chain);
	if (rc == 0)
		rc = readable_file(c, ti, OPT_CACERT, t->cacert);
	if (rc == 0 && t->crl != NULL)
		rc = readable_file(c, ti, OPT_CRL, t->crl);
	return rc;
}

static int check_tls(struct checker *c, size_t ti)
{
	const struct cfg_tunnel *t = c->cfg->tunnels[ti];
	const char *hint = c->loc->cli ? "--tls-min 1.2" : "tls-min = 1.2";

	if (t->tls_min != 12 && t->tls_min != 13)
		return in_range(c, ti, OPT_TLS_MIN, (unsigned long)t->tls_min);
	if (t->tls_max != 12 && t->tls_max != 13)
		return in_range(c, ti, OPT_TLS_MAX, (unsigned long)t->tls_max);
	if (t->tls_min > t->tls_max)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: TLS 1.%d is above tls-max (TLS 1.%d): for TLS 1.2 only, add %s",
			at(c, ti, OPT_TLS_MIN), t->tls_min % 10, t->tls_max % 10, hint);
	return 0;
}

static size_t nrules(const struct cfg_allow *a)
{
	return a->ncn + a->ndns + a->nuri + a->nou + a->nspki;
}

static int check_allow(struct checker *c, size_t ti)
{
	const struct cfg_tunnel *t = c->cfg->tunnels[ti];
	const struct cfg_allow *a = &t->allow;

	if (a->ncn > CFG_MAX_RULES || a->ndns > CFG_MAX_RULES || a->nuri > CFG_MAX_RULES ||
		a->nou > CFG_MAX_RULES || a->nspki > CFG_MAX_RULES)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: more than %d rules of one kind",
			at(c, ti, CFG_NO_OPT), CFG_MAX_RULES);
	if (a->all && nrules(a) > 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: allow-all together with allow rules would make the rules "
			"meaningless: remove one or the other",
			at(c, ti, OPT_ALLOW_ALL));
	if (t->mode == TUNNEL_SERVER && !a->all && nrules(a) == 0)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: nothing would be allowed: add %s",
			at(c, ti, CFG_NO_OPT),
			c->loc->cli ? "--allow-cn NAME (or --allow-dns, --allow-uri, --allow-ou, "
				      "--allow-spki-sha256) or --allow-all"
				    : "allow-cn = NAME (or allow-dns, allow-uri, allow-ou, "
				      "allow-spki-sha256) or allow-all = yes");
	return 0;
}

static int check_names(struct checker *c, size_t ti)
{
	const struct cfg_tunnel *t = c->cfg->tunnels[ti];
	struct cfg_addr a;

	if (t->mode == TUNNEL_SERVER && t->server_name != NULL)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: only for client tunnels (the name the server must prove)",
			at(c, ti, OPT_SERVER_NAME));
	if (t->server_name != NULL && !cfg_is_host_name(t->server_name))
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: expected %s", at(c, ti, OPT_SERVER_NAME),
			cfg_opts[OPT_SERVER_NAME].expect);
	if (t->mode == TUNNEL_CLIENT && t->server_name == NULL &&
		cfg_addr_parse(t->target, &a) == NULL && a.is_unix)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: required when the target is a unix socket (the name the server "
			"must prove)",
			at(c, ti, OPT_SERVER_NAME));
	return 0;
}

/* A client's listen takes plaintext that leaves under this machine's
 * identity; a server's target gets the plaintext the peer sent. Both stay
 * on this machine unless the configuration says unsafe-listen or
 * unsafe-target, as with ghostunnel. */
static int check_exposure(struct checker *c, size_t ti)
{
	const struct cfg_tunnel *t = c->cfg->tunnels[ti];
	int client = t->mode == TUNNEL_CLIENT, id = client ? OPT_LISTEN : OPT_TARGET;
	int unsafe = client ? t->unsafe_listen : t->unsafe_target;
	const char *cli = c->loc->cli ? "--" : "", *yes = c->loc->cli ? "" : " = yes";
	struct cfg_addr a;

	if (t->unsafe_listen && !client)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: only for client tunnels",
			at(c, ti, OPT_UNSAFE_LISTEN));
	if (t->unsafe_target && client)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: only for server tunnels",
			at(c, ti, OPT_UNSAFE_TARGET));
	if (unsafe || cfg_addr_parse(client ? t->listen : t->target, &a) != NULL ||
		cfg_addr_is_local(&a))
		return 0;
	if (client)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: not a loopback address: anyone who reaches it could use this "
			"tunnel's certificate; listen on 127.0.0.1, [::1] or unix:/PATH, or add "
			"%sunsafe-listen%s",
			at(c, ti, id), cli, yes);
	return mtls_err_set(MTLS_ERR_CONFIG,
		"%s: not a loopback address: the data would leave this machine unencrypted; "
		"forward to 127.0.0.1, [::1] or unix:/PATH, or add %sunsafe-target%s",
		at(c, ti, id), cli, yes);
}

static int check_tunnel(struct checker *c, size_t ti)
{
	const struct cfg_tunnel *t = c->cfg->tunnels[ti];
	int rc;

	if (t == NULL || t->name == NULL || t->name[0] == '\0')
		return mtls_err_set(
			MTLS_ERR_CONFIG, "%s: tunnel %zu has no name", c->loc->source, ti + 1);
	rc = check_required(c, ti);
	if (rc == 0)
		rc = address(c, ti, OPT_LISTEN, t->listen);
	if (rc == 0)
		rc = address(c, ti, OPT_TARGET, t->target);
	if (rc == 0)
		rc = check_credentials(c, ti);
	if (rc == 0)
		rc = check_tls(c, ti);
	if (rc == 0)
		rc = check_allow(c, ti);
	if (rc == 0)
		rc = check_names(c, ti);
	if (rc == 0)
		rc = in_range(c, ti, OPT_CONNECT_TIMEOUT, t->connect_timeout_ms);
	if (rc == 0)
		rc = in_range(c, ti, OPT_HANDSHAKE_TIMEOUT, t->handshake_timeout_ms);
	if (rc == 0)
		rc = in_range(c, ti, OPT_IDLE_TIMEOUT, t->idle_timeout_ms);
	if (rc == 0)
		rc = in_range(c, ti, OPT_MAX_CONNECTIONS, t->max_connections);
	if (rc == 0)
		rc = check_exposure(c, ti);
	return rc;
}

/* " (line N)" when the file's lines are known, else "". */
static const char *on_line(const struct checker *c, size_t ti, int id, char *buf, size_t n)
{
	unsigned line = line_of(c->loc, ti, id);

	if (line == 0)
		buf[0] = '\0';
	else
		snprintf(buf, n, " (line %u)", line);
	return buf;
}

/* Tunnel j against the tunnels before it (names, listen addresses) and the
 * metrics address. */
static int check_unique(struct checker *c, size_t j)
{
	const struct cfg_tunnel *t = c->cfg->tunnels[j];
	char tname[CFG_TUNNEL_NAME_MAX + 1], line[32];
	size_t i;

	for (i = 0; i < j; i++) {
		const struct cfg_tunnel *u = c->cfg->tunnels[i];

		mtls_log_clean(tname, sizeof(tname), u->name, CFG_TUNNEL_NAME_MAX);
		if (strcmp(u->name, t->name) == 0)
			return mtls_err_set(MTLS_ERR_CONFIG, "%s: a tunnel has this name already%s",
				at(c, j, CFG_NO_OPT),
				on_line(c, i, CFG_NO_OPT, line, sizeof(line)));
		if (addr_overlap(u->listen, t->listen))
			return mtls_err_set(MTLS_ERR_CONFIG,
				"%s: tunnel %s listens there already%s: give each tunnel its own "
				"address",
				at(c, j, OPT_LISTEN), tname,
				on_line(c, i, OPT_LISTEN, line, sizeof(line)));
	}
	if (c->cfg->metrics_listen != NULL && addr_overlap(c->cfg->metrics_listen, t->listen))
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: metrics-listen uses this address already%s", at(c, j, OPT_LISTEN),
			on_line(c, NO_TUNNEL, OPT_METRICS_LISTEN, line, sizeof(line)));
	return 0;
}

int cfg_check_at(const struct cfg_agent *cfg, const struct cfg_loc *loc)
{
	struct checker c = {cfg, loc, {0}};
	size_t i;
	int rc;

	rc = check_agent(&c);
	for (i = 0; rc == 0 && i < cfg->ntunnels; i++)
		rc = check_tunnel(&c, i);
	for (i = 1; rc == 0 && i < cfg->ntunnels; i++)
		rc = check_unique(&c, i);
	if (rc == 0 && cfg->metrics_listen != NULL && cfg->ntunnels > 0)
		rc = check_unique(&c, 0);
	return rc;
}

int cfg_check(const struct cfg_agent *cfg)
{
	char source[256];
	struct cfg_loc loc = {source, 0, NULL};

	if (cfg == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "cfg_check: no configuration");
	mtls_log_clean(
		source, sizeof(source), cfg->source != NULL ? cfg->source : "configuration", 200);
	loc.cli = cfg->source != NULL && strcmp(cfg->source, "command line") == 0;
	return cfg_check_at(cfg, &loc);
}
