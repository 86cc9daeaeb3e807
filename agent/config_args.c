/* The command line front end: one tunnel, "client|server --listen ADDR
 * ...". The long options are the config file's option names, built from
 * the same table, so a value means the same in both places. Stricter than
 * getopt alone: no abbreviations (--lis is not --listen: scripts outlive
 * option lists), no PIN in any form, an option name where a value should
 * be is refused, and file names are made absolute against the working
 * directory, where the user meant them. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_int.h"
#include "mtls/err.h"
#include "mtls/log.h"

#define OPT_BASE 0x100
#define SOURCE "command line"

struct args {
	struct cfg_agent *cfg;
	struct cfg_tunnel *t;
	unsigned char seen[CFG_NOPT];
	char path[CFG_VALUE_MAX + 2];
};

static void long_options(struct option *lo)
{
	size_t n = 0;
	int i;

	for (i = 0; i < CFG_NOPT; i++) {
		if (cfg_opts[i].flags & CFG_F_FILE_ONLY)
			continue;
		lo[n].name = cfg_opts[i].name;
		lo[n].has_arg = (cfg_opts[i].flags & CFG_F_FLAG) ? no_argument : required_argument;
		lo[n].flag = NULL;
		lo[n].val = OPT_BASE + i;
		n++;
	}
	memset(&lo[n], 0, sizeof(lo[n]));
}

/* The option's name as typed: after "--", before any "=", cleaned. */
static const char *typed_name(const char *arg, char *buf, size_t n)
{
	const char *s = strncmp(arg, "--", 2) == 0 ? arg + 2 : arg;

	return mtls_log_clean(buf, n, s, strcspn(s, "="));
}

static int unknown(const char *arg)
{
	char name[72];
	const char *near;
	int id;

	typed_name(arg, name, sizeof(name));
	if (strncmp(arg, "--", 2) != 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: unknown option (options are spelled out: --listen ADDR)", name);
	if (strcmp(name, "pin") == 0 || strcmp(name, "pin-value") == 0 ||
		strcmp(name, "password") == 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"--%s: a PIN is never taken from the command line (every user can read "
			"it): use --pin-file FILE or --pin-credential NAME",
			name);
	id = cfg_opt_lookup(name);
	if (id != CFG_NO_OPT && (cfg_opts[id].flags & CFG_F_FILE_ONLY))
		return mtls_err_set(MTLS_ERR_CONFIG, "--%s: only in a config file%s", name,
			id == OPT_MODE ? " (here the mode is the first word: client or server)"
				       : "");
	if (id != CFG_NO_OPT && (cfg_opts[id].flags & CFG_F_FLAG))
		return mtls_err_set(MTLS_ERR_CONFIG, "--%s: takes no value", name);
	near = cfg_closest_opt(name, CFG_SCOPE_TUNNEL, 1);
	if (near != NULL)
		return mtls_err_set(
			MTLS_ERR_CONFIG, "--%s: unknown option; did you mean --%s?", name, near);
	return mtls_err_set(MTLS_ERR_CONFIG, "--%s: unknown option (see mtls-agent(8))", name);
}

/* A relative file name, made absolute against the working directory. */
static int absolute(struct args *a, int id, const char **v)
{
	char cwd[CFG_VALUE_MAX];
	int n;

	if (!(cfg_opts[id].flags & CFG_F_PATH) || (*v)[0] == '/' ||
		strncmp(*v, "pkcs11:", 7) == 0 || (*v)[0] == '\0')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return mtls_err_set(MTLS_ERR_CONFIG, "--%s: cannot make %s absolute: getcwd: %s",
			cfg_opts[id].name, *v, strerror(errno));
	n = snprintf(a->path, sizeof(a->path), "%s/%s", cwd, *v);
	if (n < 0 || (size_t)n >= sizeof(a->path))
		return mtls_err_set(MTLS_ERR_CONFIG, "--%s: value longer than %d bytes",
			cfg_opts[id].name, CFG_VALUE_MAX);
	*v = a->path;
	return 0;
}

static int one(struct args *a, int id, const char *arg, const char *value)
{
	const struct cfg_opt *o = &cfg_opts[id];
	size_t n = strlen(o->name);
	char where[64], q[128];
	int rc;

	snprintf(where, sizeof(where), "--%s", o->name);
	if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, o->name, n) != 0 ||
		(arg[n + 2] != '\0' && arg[n + 2] != '='))
		return mtls_err_set(MTLS_ERR_CONFIG, "--%s: write the option in full: %s",
			typed_name(arg, q, sizeof(q)), where);
	if (a->seen[id] && !(o->flags & CFG_F_REPEAT))
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: given twice", where);
	a->seen[id] = 1;
	if (value == NULL)
		value = "yes"; /* a flag */
	else if (strncmp(value, "--", 2) == 0)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: expected %s, got the option \"%s\"",
			where, o->arg, cfg_quote(q, sizeof(q), value));
	if ((id == OPT_KEY || id == OPT_CERT) && cfg_uri_has_pin_value(value))
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: the URI carries a pin-value, and a command line is visible to every "
			"user (ps, /proc): use --pin-file or --pin-credential",
			where);
	rc = absolute(a, id, &value);
	if (rc == 0)
		rc = cfg_opt_apply(
			a->cfg, o->scope == CFG_SCOPE_TUNNEL ? a->t : NULL, id, value, where);
	return rc;
}

static int missing(const char *arg)
{
	char name[72];
	int id = cfg_opt_lookup(typed_name(arg, name, sizeof(name)));

	return mtls_err_set(MTLS_ERR_CONFIG, "--%s: expected a value: %s", name,
		id != CFG_NO_OPT ? cfg_opts[id].expect : "see mtls-agent(8)");
}

static int options(struct args *a, int argc, char **argv)
{
	struct option lo[CFG_NOPT + 1];
	int c, prev, i, rc = 0;
	char q[128];

	long_options(lo);
	optind = 0; /* glibc: start afresh, whatever parsed argv before */
	opterr = 0;
	/* "+": stop at the first non-option rather than permute argv; ":":
	 * report a missing value as ':'. Each call consumes an argument. */
	for (i = 0; rc == 0 && i <= argc; i++) {
		prev = optind == 0 ? 1 : optind;
		c = getopt_long(argc, argv, "+:", lo, NULL);
		if (c == -1)
			break;
		if (c == '?')
			rc = unknown(argv[prev]);
		else if (c == ':')
			rc = missing(argv[prev]);
		else if (c >= OPT_BASE && c < OPT_BASE + CFG_NOPT)
			rc = one(a, c - OPT_BASE, argv[prev], optarg);
		else
			rc = mtls_err_set(MTLS_ERR_INTERNAL, "getopt_long returned %d", c);
	}
	if (rc == 0 && optind < argc)
		rc = mtls_err_set(MTLS_ERR_CONFIG,
			"unexpected argument \"%s\": options are --name VALUE",
			cfg_quote(q, sizeof(q), argv[optind]));
	return rc;
}

static int mode_word(const char *word, enum tunnel_mode *mode)
{
	char q[128];

	if (strcmp(word, "client") == 0)
		*mode = TUNNEL_CLIENT;
	else if (strcmp(word, "server") == 0)
		*mode = TUNNEL_SERVER;
	else
		return mtls_err_set(MTLS_ERR_CONFIG, "expected client or server, got \"%s\"",
			cfg_quote(q, sizeof(q), word));
	return 0;
}

int cfg_from_args(int argc, char **argv, struct cfg_agent **out)
{
	struct cfg_loc loc = {SOURCE, 1, NULL};
	struct args *a;
	int saved_optind = optind, saved_opterr = opterr, rc;

	if (out == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "cfg_from_args: no output");
	*out = NULL;
	if (argc < 1 || argv == NULL || argv[0] == NULL)
		return mtls_err_set(MTLS_ERR_CONFIG, "expected client or server");
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "command line: out of memory");
	rc = cfg_agent_new(SOURCE, &a->cfg);
	if (rc == 0)
		rc = cfg_tunnel_add(a->cfg, "cli", SOURCE, &a->t);
	if (rc == 0)
		rc = mode_word(argv[0], &a->t->mode);
	if (rc == 0)
		rc = options(a, argc, argv);
	if (rc == 0)
		rc = cfg_finish(a->cfg);
	if (rc == 0)
		rc = cfg_check_at(a->cfg, &loc);
	optind = saved_optind;
	opterr = saved_opterr;
	if (rc == 0)
		*out = a->cfg;
	else
		cfg_free(a->cfg);
	free(a);
	return rc;
}
