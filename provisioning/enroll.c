/* mtls-provision enroll: a certificate for a token key from an EST server
 * (RFC 7030): the request is signed on the token, sent to /simpleenroll
 * (HTTP Basic or a factory certificate), and the answer is accepted only
 * if it is a certificate for the token key that chains to the server's
 * /cacerts; only then is anything written.
 *
 *   mtls-provision enroll --key URI --est URL (--cacert FILE | --pin-sha256 HEX)
 *       (--user U --password-file F | --client-cert FILE [--client-key URI|FILE])
 *       --subject DN [--san TYPE:VALUE]... [--ku LIST] [--eku LIST]
 *       [--out FILE] [--chain FILE] [--to-token] [--timeout D] [--retry-for D]
 *       [--pin-file FILE | --pin-credential NAME] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certinfo.h"
#include "cmds.h"
#include "est_cmd.h"
#include "keycmd.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "mtls/secret.h"
#include "names.h"

#define CMD "enroll"
#define RETRY_DEFAULT_S 60

struct enroll_args {
	struct est_cmd e;
	const char *sans[NAMES_SAN_MAX];
	struct csr_request req;
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mtls-provision enroll --key URI --est URL (--cacert FILE | --pin-sha256 HEX)\n"
		"           (--user U --password-file F | --client-cert FILE [--client-key URI|FILE])\n"
		"           --subject DN [--san TYPE:VALUE]... [--ku LIST] [--eku LIST]\n"
		"           [--out FILE] [--chain FILE] [--to-token] [--timeout D] [--retry-for D]\n"
		"           " KEYCMD_PIN_USAGE "\n"
		"%s"
		"  --subject DN           \"/O=Example/CN=gw01\" or \"CN=gw01,O=Example\"\n"
		"  --san TYPE:VALUE       dns:, uri:, ip:, email:; repeat for more\n"
		"  --ku LIST, --eku LIST  key usage / extended key usage asked for (see csr --help)\n"
		"At least one of --out and --to-token. The request is signed on the token; the\n"
		"answer is written only if it is a certificate for the token key that chains to the\n"
		"server's CA certificates.\n",
		est_cmd_usage);
	return f == stdout ? 0 : 2;
}

enum { OPT_SUBJECT = 1, OPT_SAN, OPT_KU, OPT_EKU, OPT_HELP };

static int take(struct enroll_args *a, int c, const char *arg)
{
	switch (c) {
	case OPT_SUBJECT: a->req.subject = arg; return 0;
	case OPT_SAN:
		if (a->req.nsans == NAMES_SAN_MAX) {
			fprintf(stderr, "mtls-provision enroll: at most %d --san\n", NAMES_SAN_MAX);
			return 2;
		}
		a->sans[a->req.nsans++] = arg;
		return 0;
	case OPT_KU: a->req.key_usage = arg; return 0;
	case OPT_EKU: a->req.ext_key_usage = arg; return 0;
	case OPT_HELP: return -1;
	default: return 3;
	}
}

static int parse(int argc, char **argv, struct enroll_args *a)
{
	static const struct option opts[] = {EST_CMD_LONG_OPTIONS, {"subject", 1, 0, OPT_SUBJECT},
		{"san", 1, 0, OPT_SAN}, {"ku", 1, 0, OPT_KU}, {"eku", 1, 0, OPT_EKU},
		{"help", 0, 0, OPT_HELP}, {"pin-file", 1, 0, KEYCMD_OPT_PIN_FILE},
		{"pin-credential", 1, 0, KEYCMD_OPT_PIN_CREDENTIAL}, {0, 0, 0, 0}};
	int c, r;

	keycmd_getopt_reset();
	a->e.cmd = CMD;
	a->e.retry_s = RETRY_DEFAULT_S;
	a->req.sans = a->sans;
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
	if (optind != argc || (r = est_cmd_check(&a->e, 1)) != 0)
		return optind != argc ? keycmd_bad_option(CMD, argc, argv) : r;
	if (a->req.subject == NULL) {
		fprintf(stderr, "mtls-provision enroll: --subject is required\n");
		return 2;
	}
	if (!a->e.to_token && a->e.out == NULL) {
		fprintf(stderr,
			"mtls-provision enroll: nothing to do: give --to-token and/or --out "
			"FILE\n");
		return 2;
	}
	if ((r = csr_request_check(&a->req)) != 0)
		return keycmd_fail(CMD, "the request", r);
	return 0;
}

static void report(const struct certio_chain *chain, const struct est_session *s)
{
	struct certinfo ci;
	char until[32];
	unsigned waited = 0, requests = 0;

	est_client_stats(s->client, &waited, &requests);
	if (certinfo_parse(chain->der[0], chain->len[0], &ci) != 0)
		return;
	certinfo_time(until, sizeof(until), ci.not_after);
	printf("enrolled: %s, serial %s, issued by %s, valid until %s%s\n", ci.subject, ci.serial,
		ci.issuer, until, waited ? " (after waiting for the EST server)" : "");
	certinfo_free(&ci);
}

/* Request, answer, checks: everything before anything is written. */
static int obtain(struct enroll_args *a, struct p11_key *key, struct est_certs *cacerts,
	struct certio_chain *chain, struct est_session *s)
{
	struct csr_key ck;
	struct est_certs issued = {0};
	uint8_t *csr = NULL;
	size_t csr_len = 0;
	int rc;

	if ((rc = csr_key_from_p11(key, &ck)) != 0)
		return keycmd_fail(CMD, "reading the key", rc);
	if ((rc = csr_make(&ck, &a->req, &csr, &csr_len)) != 0)
		return keycmd_fail(CMD, "making the request on the token", rc);
	if ((rc = est_cmd_connect(&a->e, &ck, NULL, 0, s)) != 0) {
		free(csr);
		return est_cmd_fail(CMD, "setting up the EST client", rc);
	}
	if ((rc = est_cacerts(s->client, cacerts)) != 0)
		rc = est_cmd_fail(CMD, "EST /cacerts", rc);
	else if ((rc = est_simpleenroll(s->client, csr, csr_len, &issued)) != 0)
		rc = est_cmd_fail(CMD, "EST /simpleenroll", rc);
	else if ((rc = est_cmd_accept(&a->e, &issued, cacerts, ck.spki, ck.spki_len, chain)) != 0)
		rc = est_cmd_fail(CMD, "the EST answer was refused", rc);
	est_certs_free(&issued);
	free(csr);
	return rc;
}

int cmd_enroll(int argc, char **argv)
{
	struct enroll_args a;
	struct est_certs cacerts = {0};
	struct certio_chain chain = {0};
	struct est_session s = {0};
	struct p11_key *key = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	mtls_log_set_level(MTLS_LOG_NOTICE);
	(void)mtls_harden_process(); /* a password and the token PIN pass through */
	if ((rc = parse(argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = p11_key_open(a.e.key, &a.e.opt, &key)) != 0)
		return keycmd_fail(CMD, "opening the key", rc);
	rc = obtain(&a, key, &cacerts, &chain, &s);
	if (rc == 0 && (rc = est_cmd_write(&a.e, key, &chain, &cacerts)) != 0)
		rc = keycmd_exit(rc);
	if (rc == 0)
		report(&chain, &s);
	certio_chain_free(&chain);
	est_certs_free(&cacerts);
	est_session_free(&s);
	p11_key_free(key);
	return rc;
}
