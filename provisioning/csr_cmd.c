/* mtls-provision csr: a PKCS#10 request for a token key, signed on the
 * token (the private key never leaves it).
 *
 *   mtls-provision csr --key URI --subject DN [--san TYPE:VALUE]...
 *       [--ku LIST] [--eku LIST] [--pss] [--der] --out FILE
 *       [--pin-file FILE | --pin-credential NAME] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certio.h"
#include "cmds.h"
#include "csr.h"
#include "keycmd.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "names.h"

#define CMD "csr"

struct csr_args {
	const char *key, *out;
	const char *sans[NAMES_SAN_MAX];
	int der;
	struct csr_request req;
	struct p11_options opt;
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mtls-provision csr --key URI --subject DN [--san TYPE:VALUE]...\n"
		"           [--ku LIST] [--eku LIST] [--pss] [--der] --out FILE " KEYCMD_PIN_USAGE
		"\n"
		"  --subject DN     \"/C=DE/O=Example/CN=gw01\" or \"CN=gw01,O=Example,C=DE\"\n"
		"  --san TYPE:VALUE dns:NAME, uri:URI (e.g. spiffe://example.org/gw01), ip:ADDR,\n"
		"                   email:ADDR; repeat for more (at most %d)\n"
		"  --ku LIST        key usage, default digitalSignature (EC) or\n"
		"                   digitalSignature,keyEncipherment (RSA); \"\" for none\n"
		"  --eku LIST       extended key usage, default serverAuth,clientAuth; \"\" for none\n"
		"  --pss            RSA keys: sign with RSA-PSS even if PKCS#1 v1.5 is available\n"
		"  --der            write DER instead of PEM\n"
		"  --out FILE       written atomically; an existing FILE is kept as FILE.prev\n"
		"The request is signed by the key on the token; the private key never leaves it.\n",
		NAMES_SAN_MAX);
	return f == stdout ? 0 : 2;
}

enum { OPT_SUBJECT = 1, OPT_SAN, OPT_KU, OPT_EKU, OPT_PSS, OPT_DER, OPT_HELP };

static int parse(int argc, char **argv, struct csr_args *a)
{
	static const struct option opts[] = {{"key", 1, 0, 'k'}, {"out", 1, 0, 'o'},
		{"subject", 1, 0, OPT_SUBJECT}, {"san", 1, 0, OPT_SAN}, {"ku", 1, 0, OPT_KU},
		{"eku", 1, 0, OPT_EKU}, {"pss", 0, 0, OPT_PSS}, {"der", 0, 0, OPT_DER},
		{"help", 0, 0, OPT_HELP}, {"pin-file", 1, 0, KEYCMD_OPT_PIN_FILE},
		{"pin-credential", 1, 0, KEYCMD_OPT_PIN_CREDENTIAL}, {0, 0, 0, 0}};
	int c, r;

	keycmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((r = keycmd_pin_option(CMD, c, optarg, &a->opt)) != 0) {
			if (r < 0)
				return 2;
			continue;
		}
		switch (c) {
		case 'k': a->key = optarg; break;
		case 'o': a->out = optarg; break;
		case OPT_SUBJECT: a->req.subject = optarg; break;
		case OPT_KU: a->req.key_usage = optarg; break;
		case OPT_EKU: a->req.ext_key_usage = optarg; break;
		case OPT_PSS: a->req.prefer_pss = 1; break;
		case OPT_DER: a->der = 1; break;
		case OPT_HELP: return usage(stdout) - 1; /* -1: done */
		case OPT_SAN:
			if (a->req.nsans >= NAMES_SAN_MAX) {
				fprintf(stderr, "mtls-provision csr: at most %d --san\n",
					NAMES_SAN_MAX);
				return 2;
			}
			a->sans[a->req.nsans++] = optarg;
			break;
		default: return keycmd_bad_option(CMD, argc, argv);
		}
	}
	if (optind != argc || a->key == NULL || a->out == NULL || a->req.subject == NULL) {
		fprintf(stderr, "mtls-provision csr: --key, --subject and --out are required%s\n",
			optind != argc ? " (and no other arguments)" : "");
		return usage(stderr);
	}
	a->req.sans = a->sans;
	return 0;
}

static const char *alg_name(const struct csr_key *k, int pss)
{
	enum csr_sigalg alg = 0;

	csr_sigalg_for(k, pss, &alg);
	switch (alg) {
	case CSR_SIG_ECDSA_SHA256: return "ECDSA with SHA-256";
	case CSR_SIG_ECDSA_SHA384: return "ECDSA with SHA-384";
	case CSR_SIG_RSA_SHA256: return "RSA PKCS#1 v1.5 with SHA-256";
	default: return "RSA-PSS with SHA-256";
	}
}

/* Sign on the token and write the file. */
static int make_and_write(const struct csr_args *a, const struct csr_key *k)
{
	uint8_t *der = NULL;
	char *pem = NULL;
	size_t len = 0, pemlen = 0;
	int rc;

	if ((rc = csr_make(k, &a->req, &der, &len)) != 0)
		return keycmd_fail(CMD, "building the request", rc);
	if (!a->der && (rc = csr_der_to_pem(der, len, &pem, &pemlen)) != 0) {
		free(der);
		return keycmd_fail(CMD, "PEM encoding", rc);
	}
	rc = a->der ? certio_write_atomic(a->out, der, len, 0644)
		    : certio_write_atomic(a->out, pem, pemlen, 0644);
	free(der);
	free(pem);
	if (rc != 0)
		return keycmd_fail(CMD, "writing the request", rc);
	printf("wrote %s: request for %s with %zu SAN%s, signed on the token (%s)\n", a->out,
		a->req.subject, a->req.nsans, a->req.nsans == 1 ? "" : "s",
		alg_name(k, a->req.prefer_pss));
	return 0;
}

int cmd_csr(int argc, char **argv)
{
	struct csr_args a = {0};
	struct p11_key *key = NULL;
	struct csr_key *k = NULL;
	int rc;

	mtls_log_set_level(MTLS_LOG_WARNING);
	if ((rc = parse(argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	/* Usage errors first, before the token is touched. */
	if ((rc = csr_request_check(&a.req)) != 0)
		return keycmd_fail(CMD, "checking the request", rc);
	if ((rc = p11_key_open(a.key, &a.opt, &key)) != 0)
		return keycmd_fail(CMD, "opening the key", rc);
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		rc = keycmd_fail(CMD, "memory", MTLS_ERR_NOMEM);
	else if ((rc = csr_key_from_p11(key, k)) != 0)
		rc = keycmd_fail(CMD, "reading the key's public key", rc);
	else
		rc = make_and_write(&a, k);
	free(k);
	p11_key_free(key);
	return rc;
}
