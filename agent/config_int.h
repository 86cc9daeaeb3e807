/* Inside the configuration module: the option table shared by the two
 * front ends (config file: config_file.c, command line: config_args.c),
 * the value parsers (config.c) and the checks (config_check.c). Not for
 * other parts of the agent: they read struct cfg_agent (config.h). Unit
 * tests and the fuzzer include it for cfg_load_buffer(). */
#ifndef MTLS_AGENT_CONFIG_INT_H
#define MTLS_AGENT_CONFIG_INT_H

#include <stddef.h>

#include "config.h"

#define CFG_VALUE_MAX 4096 /* bytes in one value */
#define CFG_FILE_MAX (1024 * 1024) /* bytes in one config file */
#define CFG_LINE_MAX 8192 /* bytes in one line of a config file, without "\n" */
#define CFG_TUNNEL_NAME_MAX 48 /* [tunnel NAME]: letters, digits, '.', '_', '-' */
#define CFG_UNIX_PATH_MAX 107 /* sizeof(sun_path) - 1 */

/* Every option, by id; cfg_opts[] is indexed by these. */
enum cfg_opt_id {
	/* [agent] */
	OPT_PIN_FILE,
	OPT_PIN_CREDENTIAL,
	OPT_SIGNER,
	OPT_HANDSHAKE_WORKERS,
	OPT_HANDSHAKE_QUEUE,
	OPT_METRICS_LISTEN,
	OPT_LOG_LEVEL,
	OPT_ALLOW_PIN_VALUE,
	OPT_DRAIN_TIMEOUT,
	OPT_SANDBOX,
	/* [tunnel NAME] */
	OPT_MODE,
	OPT_LISTEN,
	OPT_TARGET,
	OPT_KEY,
	OPT_CERT,
	OPT_CHAIN,
	OPT_CACERT,
	OPT_CRL,
	OPT_TLS_MIN,
	OPT_TLS_MAX,
	OPT_ALLOW_CN,
	OPT_ALLOW_DNS,
	OPT_ALLOW_URI,
	OPT_ALLOW_OU,
	OPT_ALLOW_SPKI,
	OPT_ALLOW_ALL,
	OPT_SERVER_NAME,
	OPT_CONNECT_TIMEOUT,
	OPT_HANDSHAKE_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_MAX_CONNECTIONS,
	OPT_SESSION_RESUME,
	OPT_UNSAFE_LISTEN,
	OPT_UNSAFE_TARGET,
	CFG_NOPT,
	CFG_NO_OPT = -1, /* an error about a whole section, not one option */
};

enum cfg_scope {
	CFG_SCOPE_AGENT = 1,
	CFG_SCOPE_TUNNEL = 2,
};

#define CFG_F_REPEAT (1u << 0) /* may be given more than once (allow rules) */
#define CFG_F_FILE_ONLY (1u << 1) /* not offered on the command line */
#define CFG_F_FLAG (1u << 2) /* on the command line: a flag meaning "yes" */
#define CFG_F_PATH (1u << 3) /* a file name: made absolute on the command line */

struct cfg_opt;
/* Parse value v into the agent (CFG_SCOPE_AGENT) or tunnel t. `where`
 * begins the error detail ("FILE:LINE: name" or "--name"). */
typedef int (*cfg_setter)(struct cfg_agent *cfg, struct cfg_tunnel *t, const struct cfg_opt *o,
	const char *v, const char *where);

struct cfg_opt {
	const char *name; /* as in the file; "--name" on the command line */
	enum cfg_scope scope;
	unsigned flags; /* CFG_F_* */
	cfg_setter set;
	size_t off; /* field in struct cfg_agent or struct cfg_tunnel */
	size_t off_n; /* rules: the count beside the array */
	unsigned long min, max; /* numbers and durations (ms) */
	const char *expect; /* what a value must be, for error details */
	const char *arg; /* placeholder in usage and man page: ADDR, FILE, ... */
};

extern const struct cfg_opt cfg_opts[CFG_NOPT];

/* The option called name (exact), in any scope, or CFG_NO_OPT. */
int cfg_opt_lookup(const char *name);

/* The known word nearest to `word` among words[0..n-1] (edit distance at
 * most a third of its length, at least 2), or NULL. */
const char *cfg_closest(const char *word, const char *const *words, size_t n);

/* The option name nearest to name, or NULL: among the options of `scope`
 * (0: every scope), or, if cli, among those offered on the command line. */
const char *cfg_closest_opt(const char *name, enum cfg_scope scope, int cli);

/* Set option id from text v: bounds the length, refuses control bytes and
 * empty values, then calls the option's setter. t is NULL for [agent]. */
int cfg_opt_apply(
	struct cfg_agent *cfg, struct cfg_tunnel *t, int id, const char *v, const char *where);

/* A new agent with defaults; source is copied ("command line" or a path). */
int cfg_agent_new(const char *source, struct cfg_agent **out);

/* Append a tunnel with defaults named name (copied) to cfg; *out is owned
 * by cfg. MTLS_ERR_CONFIG past CFG_MAX_TUNNELS. */
int cfg_tunnel_add(
	struct cfg_agent *cfg, const char *name, const char *where, struct cfg_tunnel **out);

/* Fill defaults that depend on other options (a client's server name is
 * its target host). */
int cfg_finish(struct cfg_agent *cfg);

/* Copy of a value for an error detail: control bytes replaced, pin-value
 * hidden, at most 64 bytes shown ("..." after). */
const char *cfg_quote(char *out, size_t outlen, const char *v);

/* 1 if the URI carries a pin-value attribute (matched after percent
 * decoding, in any case, anywhere: a PIN is never let through by accident). */
int cfg_uri_has_pin_value(const char *uri);

/* Network addresses: "HOST:PORT", "[V6]:PORT" or "unix:/ABS/PATH". */
struct cfg_addr {
	int is_unix;
	char host[256]; /* without brackets, lower case */
	unsigned port;
	char path[CFG_UNIX_PATH_MAX + 1];
};
/* NULL if s is an address (filled into *a), else why not. */
const char *cfg_addr_parse(const char *s, struct cfg_addr *a);
/* 1 for localhost, 127.0.0.0/8, ::1 and unix sockets. */
int cfg_addr_is_local(const struct cfg_addr *a);
/* 1 if s is a DNS name or an IPv4/IPv6 literal (no brackets). */
int cfg_is_host_name(const char *s);

/* Where an option came from, for cfg_check details. lines, if set, hold
 * the line of every option seen in the file (0: not given) and of each
 * tunnel's section header; NULL when the config came from elsewhere. */
struct cfg_lines {
	unsigned agent[CFG_NOPT];
	unsigned agent_header;
	unsigned tunnel_header[CFG_MAX_TUNNELS];
	unsigned tunnel[CFG_MAX_TUNNELS][CFG_NOPT];
};
struct cfg_loc {
	const char *source; /* already cleaned for messages */
	int cli; /* options are "--name" */
	const struct cfg_lines *lines; /* or NULL */
};
int cfg_check_at(const struct cfg_agent *cfg, const struct cfg_loc *loc);

/* Parse config text (len bytes, need not be NUL-terminated) as if read
 * from file `name`, then check it (cfg_check). *out: free with cfg_free().
 * Used by cfg_load_file(), the unit tests and the fuzzer. */
int cfg_load_buffer(const char *name, const char *text, size_t len, struct cfg_agent **out);

#endif
