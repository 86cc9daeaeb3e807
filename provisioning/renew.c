/* mtls-provision renew: a new certificate before the current one runs out,
 * over EST /simplereenroll (RFC 7030 4.2.2), the TLS client signature made
 * by the current token key with the current certificate.
 *
 *   mtls-provision renew --key URI --est URL (--cacert FILE | --pin-sha256 HEX)
 *       [--cert FILE] [--before DURATION] [--force] [--rekey]
 *       [--reload systemd:UNIT | pidfile:PATH]
 *       [--out FILE] [--chain FILE] [--to-token] [--timeout D] [--retry-for D]
 *       [--pin-file FILE | --pin-credential NAME]
 *
 * Due when less than --before is left of the current certificate (default
 * a third of its lifetime, plus up to a thirtieth as jitter so that a fleet
 * does not renew in one minute); otherwise it says so and exits 0. The new
 * certificate goes where the current one was found (the --cert file, or the
 * token) and to --out/--chain/--to-token; then the agent is told to reload.
 * With --rekey a new key is made first; the old one stays on the token and
 * its certificate is untouched until the new key's certificate is stored;
 * then the new key takes the old one's label (switch_keys). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "certinfo.h"
#include "cmds.h"
#include "est_cmd.h"
#include "keycmd.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "mtls/p11_admin.h"
#include "mtls/secret.h"
#include "renew.h"

#define CMD "renew"
#define RETRY_DEFAULT_S 600

struct renew_args {
	struct est_cmd e;
	const char *cert, *reload;
	unsigned long before_s;
	int has_before, force, rekey;
};

/* The current certificate and where it came from. */
struct current {
	uint8_t *der;
	size_t len;
	int on_token;
	struct certinfo ci;
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mtls-provision renew --key URI --est URL (--cacert FILE | --pin-sha256 HEX)\n"
		"           [--cert FILE] [--before DURATION] [--force] [--rekey]\n"
		"           [--reload systemd:UNIT | pidfile:PATH] [--out FILE] [--chain FILE]\n"
		"           [--to-token] [--timeout D] [--retry-for D] " KEYCMD_PIN_USAGE "\n"
		"%s"
		"  --cert FILE            the current certificate (default: --out FILE if it exists,\n"
		"                         else the certificate on the token beside the key); the new\n"
		"                         one replaces it there\n"
		"  --before DURATION      renew when less than this is left (default: a third of the\n"
		"                         lifetime, with jitter); --force renews now\n"
		"  --rekey                a new key (same type, new id) for the new certificate; it\n"
		"                         then takes the old key's label, the old key is kept\n"
		"  --reload systemd:UNIT  afterwards: systemctl reload UNIT\n"
		"  --reload pidfile:PATH  afterwards: SIGHUP to the process in PATH\n"
		"The TLS connection to /simplereenroll is authenticated by the current certificate\n"
		"and the current token key (no password).\n",
		est_cmd_usage);
	return f == stdout ? 0 : 2;
}

enum { OPT_CERT = 1, OPT_BEFORE, OPT_FORCE, OPT_REKEY, OPT_RELOAD, OPT_HELP };

static int take(struct renew_args *a, int c, const char *arg)
{
	switch (c) {
	case OPT_CERT: a->cert = arg; return 0;
	case OPT_BEFORE:
		a->has_before = 1;
		if (est_cmd_duration(arg, &a->before_s) == 0)
			return 0;
		fprintf(stderr,
			"mtls-provision renew: --before '%s': give seconds, or a number "
			"with s, m, h or d\n",
			arg);
		return 2;
	case OPT_FORCE: a->force = 1; return 0;
	case OPT_REKEY: a->rekey = 1; return 0;
	case OPT_RELOAD:
		a->reload = arg;
		return renew_reload_check(arg) == 0 ? 0
						    : keycmd_fail(CMD, "--reload", MTLS_ERR_CONFIG);
	case OPT_HELP: return -1;
	default: return 3;
	}
}

static int parse(int argc, char **argv, struct renew_args *a)
{
	static const struct option opts[] = {EST_CMD_LONG_OPTIONS, {"cert", 1, 0, OPT_CERT},
		{"before", 1, 0, OPT_BEFORE}, {"force", 0, 0, OPT_FORCE},
		{"rekey", 0, 0, OPT_REKEY}, {"reload", 1, 0, OPT_RELOAD}, {"help", 0, 0, OPT_HELP},
		{"pin-file", 1, 0, KEYCMD_OPT_PIN_FILE},
		{"pin-credential", 1, 0, KEYCMD_OPT_PIN_CREDENTIAL}, {0, 0, 0, 0}};
	int c, r;

	keycmd_getopt_reset();
	a->e.cmd = CMD;
	a->e.retry_s = RETRY_DEFAULT_S;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((r = est_cmd_option(&a->e, c, optarg)) == 1)
			continue;
		if (r == 2)
			return 2;
		if ((r = take(a, c, optarg)) == -1)
			return usage(stdout) - 1;
		if (r == 3)
			return keycmd_bad_option(CMD, argc, argv);
		if (r != 0)
			return r;
	}
	if (optind != argc)
		return keycmd_bad_option(CMD, argc, argv);
	if ((r = est_cmd_check(&a->e, 0)) != 0)
		return r;
	if (a->e.user != NULL || a->e.client_cert != NULL) {
		fprintf(stderr,
			"mtls-provision renew: the current certificate authenticates "
			"/simplereenroll: --user and --client-cert are for enroll\n");
		return 2;
	}
	return 0;
}

/* ---- the current certificate ---- */

static int newest_on_token(struct p11_key *key, struct current *cur)
{
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0, i, best = 0;
	time_t best_na = 0;
	struct certinfo ci;
	int rc;

	if ((rc = p11_key_certs(key, &certs, &lens, &n)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		if (certinfo_parse(certs[i], lens[i], &ci) != 0)
			continue;
		if (best_na == 0 || ci.not_after > best_na)
			best = i, best_na = ci.not_after;
		certinfo_free(&ci);
	}
	if (best_na != 0) {
		cur->der = certs[best];
		cur->len = lens[best];
		certs[best] = NULL;
		cur->on_token = 1;
	}
	p11_certs_free(certs, lens, n);
	if (best_na == 0)
		return mtls_err_set(MTLS_ERR_NO_OBJECT,
			"no current certificate: none on the token beside the key, and no --cert "
			"FILE (enroll first)");
	return 0;
}

static int find_current(struct renew_args *a, struct p11_key *key, struct current *cur)
{
	const char *file = a->cert;

	if (file == NULL && a->e.out != NULL && access(a->e.out, F_OK) == 0)
		file = a->e.out;
	if (file == NULL)
		return newest_on_token(key, cur);
	if (a->e.out == NULL)
		a->e.out = file; /* the new certificate replaces the one renewed */
	return certinfo_load_file(file, &cur->der, &cur->len);
}

static int load_current(
	struct renew_args *a, struct p11_key *key, const struct csr_key *ck, struct current *cur)
{
	int rc;

	if ((rc = find_current(a, key, cur)) != 0)
		return keycmd_fail(CMD, "the current certificate", rc);
	if ((rc = certio_check_key(cur->der, cur->len, ck->spki, ck->spki_len, a->e.key)) != 0)
		return keycmd_fail(CMD, "the current certificate", rc);
	if ((rc = certinfo_parse(cur->der, cur->len, &cur->ci)) != 0)
		return keycmd_fail(CMD, "the current certificate", rc);
	if (cur->on_token)
		a->e.to_token = 1;
	return 0;
}

/* ---- due? ---- */

static long window_s(const struct renew_args *a, const struct certinfo *ci)
{
	long life = (long)(ci->not_after - ci->not_before);
	uint32_t r = 0;

	if (a->has_before)
		return (long)a->before_s;
	if (life <= 0)
		return 0;
	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint32_t)time(NULL);
	return life / 3 + (long)(r % (uint32_t)(life / 30 + 1));
}

static void fmt_duration(char *out, size_t n, long s)
{
	if (s >= 2 * 86400)
		snprintf(out, n, "%ld days", s / 86400);
	else if (s >= 2 * 3600)
		snprintf(out, n, "%ld hours", s / 3600);
	else if (s >= 120)
		snprintf(out, n, "%ld minutes", s / 60);
	else
		snprintf(out, n, "%ld seconds", s);
}

/* 1 if due; 0 (after saying why not) if not; -1 if it cannot be renewed. */
static int is_due(const struct renew_args *a, const struct current *cur)
{
	time_t now = time(NULL);
	long left = (long)(cur->ci.not_after - now), w = window_s(a, &cur->ci);
	char l[32], ws[32], until[32];

	certinfo_time(until, sizeof(until), cur->ci.not_after);
	if (left <= 0) {
		fprintf(stderr,
			"mtls-provision renew: the current certificate (%s) expired on %s: an EST "
			"server does not accept it for /simplereenroll; enroll again\n",
			cur->ci.subject, until);
		return -1;
	}
	if (a->force || left <= w)
		return 1;
	fmt_duration(l, sizeof(l), left);
	fmt_duration(ws, sizeof(ws), w);
	printf("not due: %s is valid until %s (%s left); renewal starts when less than %s is "
	       "left\n",
		cur->ci.subject, until, l, ws);
	return 0;
}

/* ---- the renewal ---- */

struct job {
	struct p11_key *key, *new_key; /* new_key: --rekey only */
	struct csr_key ck, new_ck;
	char *new_uri;
	struct current cur;
	struct est_session s;
	struct est_certs cacerts;
	struct certio_chain chain;
};

static int rekey(struct renew_args *a, struct job *j)
{
	int rc;

	if ((rc = renew_new_key(a->e.key, j->key, &a->e.opt, &j->new_uri)) != 0)
		return keycmd_fail(CMD, "--rekey: making the new key", rc);
	printf("new key: %s\n", j->new_uri);
	if ((rc = p11_key_open(j->new_uri, &a->e.opt, &j->new_key)) != 0 ||
		(rc = csr_key_from_p11(j->new_key, &j->new_ck)) != 0)
		return keycmd_fail(CMD, "--rekey: opening the new key", rc);
	return 0;
}

static int reenroll(struct renew_args *a, struct job *j)
{
	const struct csr_key *nk = j->new_key ? &j->new_ck : &j->ck;
	struct est_certs issued = {0};
	uint8_t *csr = NULL;
	size_t csr_len = 0;
	int rc;

	if ((rc = renew_request(j->cur.der, j->cur.len, nk, &csr, &csr_len)) != 0)
		return keycmd_fail(CMD, "making the request on the token", rc);
	if ((rc = est_cmd_connect(&a->e, &j->ck, j->cur.der, j->cur.len, &j->s)) != 0)
		rc = est_cmd_fail(CMD, "setting up the EST client", rc);
	else if ((rc = est_cacerts(j->s.client, &j->cacerts)) != 0)
		rc = est_cmd_fail(CMD, "EST /cacerts", rc);
	else if ((rc = est_simplereenroll(j->s.client, csr, csr_len, &issued)) != 0)
		rc = est_cmd_fail(CMD, "EST /simplereenroll", rc);
	else if ((rc = est_cmd_accept(
			  &a->e, &issued, &j->cacerts, nk->spki, nk->spki_len, &j->chain)) != 0)
		rc = est_cmd_fail(CMD, "the EST answer was refused", rc);
	est_certs_free(&issued);
	free(csr);
	return rc;
}

/* --rekey, once the new certificate is stored beside the new key: the new
 * key takes the old key's label (which the agent's key URI names) and the
 * old key is kept under LABEL-replaced-TIME. Old first, so that at no time
 * two keys carry the label; a failure puts the old label back. */
static int switch_keys(struct job *j)
{
	struct p11_admin_key_info ki;
	char retired[P11_ADMIN_LABEL_MAX + 1], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	if ((rc = p11_admin_key_info(j->key, &ki)) != 0)
		return keycmd_fail(CMD, "--rekey: reading the old key's label", rc);
	if (ki.label[0] == '\0') {
		printf("the old key has no label, so nothing was switched: point the agent's key "
		       "URI at the new key: %s\n",
			j->new_uri);
		return 0;
	}
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(retired, sizeof(retired), "%.*s-replaced-%s",
		(int)(sizeof(retired) - strlen(stamp) - 11), ki.label, stamp);
	if ((rc = p11_admin_key_relabel(j->key, retired)) != 0)
		return keycmd_fail(CMD, "--rekey: renaming the old key (nothing switched)", rc);
	if ((rc = p11_admin_key_relabel(j->new_key, ki.label)) != 0) {
		(void)p11_admin_key_relabel(j->key, ki.label);
		return keycmd_fail(
			CMD, "--rekey: naming the new key (the old key keeps its name)", rc);
	}
	printf("switched: the new key is now labelled '%s' (the agent's key URI finds it after "
	       "a reload); the old key is kept as '%s'\n",
		ki.label, retired);
	return 0;
}

static void report(const struct job *j)
{
	struct certinfo ci;
	char until[32];

	if (certinfo_parse(j->chain.der[0], j->chain.len[0], &ci) != 0)
		return;
	certinfo_time(until, sizeof(until), ci.not_after);
	printf("renewed: %s, serial %s, valid until %s%s\n", ci.subject, ci.serial, until,
		j->new_key ? " (new key)" : "");
	certinfo_free(&ci);
}

static int run(struct renew_args *a, struct job *j)
{
	int rc;

	if ((rc = csr_key_from_p11(j->key, &j->ck)) != 0)
		return keycmd_fail(CMD, "reading the key", rc);
	if ((rc = load_current(a, j->key, &j->ck, &j->cur)) != 0)
		return rc;
	if ((rc = is_due(a, &j->cur)) <= 0)
		return rc < 0 ? 1 : 0;
	if (a->rekey && (rc = rekey(a, j)) != 0)
		return rc;
	if ((rc = reenroll(a, j)) != 0)
		return rc;
	if ((rc = est_cmd_write(&a->e, j->new_key ? j->new_key : j->key, &j->chain, &j->cacerts)) !=
		0)
		return keycmd_exit(rc);
	report(j);
	if (j->new_key != NULL && (rc = switch_keys(j)) != 0)
		return rc;
	if (a->reload != NULL && (rc = renew_reload(a->reload)) != 0)
		return keycmd_fail(CMD, "renewed, but telling the agent to reload failed", rc);
	if (a->reload != NULL)
		printf("told the agent to reload (%s)\n", a->reload);
	return 0;
}

int cmd_renew(int argc, char **argv)
{
	struct renew_args a;
	struct job j;
	int rc;

	memset(&a, 0, sizeof(a));
	memset(&j, 0, sizeof(j));
	mtls_log_set_level(MTLS_LOG_NOTICE);
	(void)mtls_harden_process(); /* a password and the token PIN pass through */
	if ((rc = parse(argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = p11_key_open(a.e.key, &a.e.opt, &j.key)) != 0)
		return keycmd_fail(CMD, "opening the key", rc);
	rc = run(&a, &j);
	certio_chain_free(&j.chain);
	est_certs_free(&j.cacerts);
	est_session_free(&j.s);
	certinfo_free(&j.cur.ci);
	free(j.cur.der);
	p11_key_free(j.new_key);
	free(j.new_uri);
	p11_key_free(j.key);
	return rc;
}
