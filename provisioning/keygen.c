/* mtls-provision keygen --key URI --type TYPE [--id HEX] [--label L]
 *
 * A key pair made inside the token by C_GenerateKeyPair with explicit
 * attributes and read back (decision 7; the bridge's p11_admin_keygen
 * does the token work). Prints the new private key's URI on stdout. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "keycmd.h"
#include "mtls/err.h"
#include "mtls/p11_admin.h"

static const char usage_text[] =
	"usage: mtls-provision keygen --key URI --type TYPE [--id HEX] [--label LABEL]\n"
	"                             " KEYCMD_PIN_USAGE "\n"
	"  Generates a key pair inside the token; the private key is sensitive and never\n"
	"  extractable (read back after generation; otherwise both objects are destroyed).\n"
	"  --key URI       the token (and optionally id=/object= of the new key), with\n"
	"                  module-path or module-name\n"
	"  --type TYPE     ec-p256, ec-p384, rsa-2048, rsa-3072 or rsa-4096\n"
	"  --id HEX        CKA_ID (default: the URI's id=, else 8 random bytes)\n"
	"  --label LABEL   CKA_LABEL (default: the URI's object=; one of the two is needed)\n"
	"  --pin-file FILE       the user PIN from FILE (mode 0600)\n"
	"  --pin-credential NAME the user PIN from $CREDENTIALS_DIRECTORY/NAME\n"
	"  An id or label that any object on the token already has is refused.\n"
	"  Prints the new key's URI.\n";

static const struct {
	const char *name;
	enum p11_admin_keytype type;
} types[] = {
	{"ec-p256", P11_GEN_EC_P256},
	{"ec-p384", P11_GEN_EC_P384},
	{"rsa-2048", P11_GEN_RSA_2048},
	{"rsa-3072", P11_GEN_RSA_3072},
	{"rsa-4096", P11_GEN_RSA_4096},
};

struct keygen_args {
	const char *key;
	const char *type;
	const char *id;
	struct p11_admin_keygen req;
	struct p11_options opt;
	uint8_t idbuf[P11_ADMIN_ID_MAX];
};

static int parse_type(struct keygen_args *a)
{
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(a->type, types[i].name) == 0) {
			a->req.type = types[i].type;
			return 0;
		}
	fprintf(stderr,
		"mtls-provision keygen: unknown --type '%s': use ec-p256, ec-p384, rsa-2048, "
		"rsa-3072 or rsa-4096\n",
		a->type);
	return 2;
}

static int check_args(struct keygen_args *a)
{
	if (a->key == NULL || a->type == NULL) {
		fprintf(stderr, "mtls-provision keygen: --key and --type are required\n%s",
			usage_text);
		return 2;
	}
	if (parse_type(a) != 0)
		return 2;
	if (a->id != NULL) {
		if (keycmd_unhex(a->id, a->idbuf, sizeof(a->idbuf), &a->req.idlen) != 0) {
			fprintf(stderr,
				"mtls-provision keygen: --id must be 1 to %d bytes in hex (e.g. "
				"--id 0a1b)\n",
				P11_ADMIN_ID_MAX);
			return 2;
		}
		a->req.id = a->idbuf;
	}
	return 0;
}

static int parse(int argc, char **argv, struct keygen_args *a)
{
	static const struct option opts[] = {{"key", 1, 0, 'k'}, {"type", 1, 0, 't'},
		{"id", 1, 0, 'i'}, {"label", 1, 0, 'l'}, {"help", 0, 0, 'h'},
		{"pin-file", 1, 0, KEYCMD_OPT_PIN_FILE},
		{"pin-credential", 1, 0, KEYCMD_OPT_PIN_CREDENTIAL}, {0, 0, 0, 0}};
	int c, r;

	keycmd_getopt_reset();
	while ((c = keycmd_getopt(argc, argv, opts)) != -1) {
		if ((r = keycmd_pin_option("keygen", c, optarg, &a->opt)) != 0) {
			if (r < 0)
				return 2;
			continue;
		}
		switch (c) {
		case 'k': a->key = optarg; break;
		case 't': a->type = optarg; break;
		case 'i': a->id = optarg; break;
		case 'l': a->req.label = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: return keycmd_bad_option("keygen", argc, argv);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mtls-provision keygen: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	return check_args(a);
}

int cmd_keygen(int argc, char **argv)
{
	struct keygen_args a;
	char *uri = NULL;
	int rc;

	memset(&a, 0, sizeof(a));
	rc = parse(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	rc = p11_admin_keygen(a.key, &a.opt, &a.req, &uri);
	if (rc != 0)
		return keycmd_fail("keygen", "generating the key", rc);
	printf("%s\n", uri);
	free(uri);
	return 0;
}
