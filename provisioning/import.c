/* mtls-provision import: a certificate for a token key, to the token and/or
 * to a file, accepted only if its public key is the token key's.
 *
 *   mtls-provision import --key URI --cert FILE [--chain FILE] [--to-token]
 *       [--out FILE] [--pin-file FILE | --pin-credential NAME] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certio.h"
#include "cmds.h"
#include "keycmd.h"
#include "mtls/err.h"
#include "mtls/log.h"

#define CMD "import"

struct import_args {
	const char *key, *cert, *chain, *out;
	int to_token;
	struct p11_options opt;
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mtls-provision import --key URI --cert FILE [--chain FILE] [--to-token]\n"
		"           [--out FILE] " KEYCMD_PIN_USAGE "\n"
		"  --cert FILE   the certificate (PEM or DER; a PEM file may carry the chain after it)\n"
		"  --chain FILE  intermediate CA certificates (PEM or DER)\n"
		"  --to-token    store the certificate on the token, with the key's CKA_ID and\n"
		"                label, replacing the key's previous certificate\n"
		"  --out FILE    write certificate and chain (PEM) atomically; an existing FILE\n"
		"                is kept as FILE.prev\n"
		"At least one of --to-token and --out. The certificate is refused, and nothing is\n"
		"written, unless its public key is the token key's.\n");
	return f == stdout ? 0 : 2;
}

static int parse(int argc, char **argv, struct import_args *a)
{
	static const struct option opts[] = {{"key", 1, 0, 'k'}, {"cert", 1, 0, 'c'},
		{"chain", 1, 0, 'C'}, {"out", 1, 0, 'o'}, {"to-token", 0, 0, 't'},
		{"help", 0, 0, 'h'}, {"pin-file", 1, 0, KEYCMD_OPT_PIN_FILE},
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
		case 'c': a->cert = optarg; break;
		case 'C': a->chain = optarg; break;
		case 'o': a->out = optarg; break;
		case 't': a->to_token = 1; break;
		case 'h': return usage(stdout) - 1;
		default: return keycmd_bad_option(CMD, argc, argv);
		}
	}
	if (optind != argc || a->key == NULL || a->cert == NULL) {
		fprintf(stderr, "mtls-provision import: --key and --cert are required\n");
		return usage(stderr);
	}
	if (!a->to_token && a->out == NULL) {
		fprintf(stderr,
			"mtls-provision import: nothing to do: give --to-token and/or "
			"--out FILE\n");
		return 2;
	}
	return 0;
}

/* The URI for messages, without a pin-value. */
static void redact(const char *uri, char *out, size_t outlen)
{
	const char *pv = strstr(uri, "pin-value=");
	const char *rest;

	if (pv == NULL) {
		snprintf(out, outlen, "%s", uri);
		return;
	}
	rest = strchr(pv, '&');
	snprintf(out, outlen, "%.*spin-value=(hidden)%s", (int)(pv - uri), uri, rest ? rest : "");
}

/* The certificate and chain files, before the token is touched. */
static int read_files(const struct import_args *a, struct certio_chain *chain)
{
	int rc;

	if ((rc = certio_chain_add_file(chain, a->cert)) != 0)
		return keycmd_fail(CMD, "reading the certificate", rc);
	if (a->chain != NULL && (rc = certio_chain_add_file(chain, a->chain)) != 0)
		return keycmd_fail(CMD, "reading the chain", rc);
	return 0;
}

/* The leaf must hold the token key's public key. */
static int check_match(
	const struct import_args *a, struct p11_key *key, const struct certio_chain *chain)
{
	uint8_t *spki = NULL;
	size_t spki_len = 0;
	char name[512];
	int rc;

	if ((rc = p11_key_public_der(key, &spki, &spki_len)) != 0)
		return keycmd_fail(CMD, "reading the key's public key", rc);
	redact(a->key, name, sizeof(name));
	rc = certio_check_key(chain->der[0], chain->len[0], spki, spki_len, name);
	free(spki);
	if (rc != 0)
		return keycmd_fail(CMD, "refused", rc);
	return 0;
}

static int write_out(
	const struct import_args *a, struct p11_key *key, const struct certio_chain *chain)
{
	char *pem = NULL;
	size_t pemlen = 0;
	int rc;

	if (a->to_token) {
		if ((rc = certio_store_on_token(key, chain->der[0], chain->len[0])) != 0)
			return keycmd_fail(CMD, "storing the certificate on the token", rc);
		printf("stored the certificate on the token with the key's id and label\n");
	}
	if (a->out == NULL)
		return 0;
	if ((rc = certio_chain_pem(chain, 0, &pem, &pemlen)) != 0)
		return keycmd_fail(CMD, "PEM encoding", rc);
	rc = certio_write_atomic(a->out, pem, pemlen, 0644);
	free(pem);
	if (rc != 0)
		return keycmd_fail(CMD,
			a->to_token ? "writing the file (the token holds the new "
				      "certificate already)"
				    : "writing the file",
			rc);
	printf("wrote %s: the certificate and %zu chain certificate%s\n", a->out, chain->n - 1,
		chain->n == 2 ? "" : "s");
	return 0;
}

int cmd_import(int argc, char **argv)
{
	struct import_args a = {0};
	struct certio_chain chain = {0};
	struct p11_key *key = NULL;
	int rc;

	mtls_log_set_level(MTLS_LOG_WARNING);
	if ((rc = parse(argc, argv, &a)) != 0)
		return rc < 0 ? 0 : rc;
	if ((rc = read_files(&a, &chain)) != 0)
		goto out;
	if ((rc = p11_key_open(a.key, &a.opt, &key)) != 0) {
		rc = keycmd_fail(CMD, "opening the key", rc);
		goto out;
	}
	if ((rc = check_match(&a, key, &chain)) == 0)
		rc = write_out(&a, key, &chain);
out:
	certio_chain_free(&chain);
	p11_key_free(key);
	return rc;
}
