/* mtls-provision: keys, CSRs and certificates on PKCS#11 tokens.
 *
 *   mtls-provision COMMAND [options]     (see mtls-provision(1))
 *
 * Exit codes: 0 success, 1 operational failure, 2 usage or configuration. */
#include <stdio.h>
#include <string.h>

#include "cmds.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *what;
} cmds[] = {
	{"tokens", cmd_tokens, "modules, slots, tokens, flags, mechanisms"},
	{"keygen", cmd_keygen, "a non-exportable key on a token"},
	{"csr", cmd_csr, "a CSR signed by the token key"},
	{"import", cmd_import, "a certificate for the token key, to the token and/or files"},
	{"status", cmd_status, "key, certificate, validity, match"},
	{"ca", cmd_ca, "a small local CA for test rigs"},
	{"enroll", cmd_enroll, "a certificate from an EST server (RFC 7030)"},
	{"renew", cmd_renew, "renew (or re-key) before expiry over EST"},
	{"doctor", cmd_doctor, "which step from module to certificate fails, and why"},
};

static int usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: mtls-provision COMMAND [options]   (COMMAND --help for its options)\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].what);
	return 2;
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc == 2 && strcmp(argv[1], "--version") == 0)
		return printf("mtls-provision 0.1.0\n") < 0;
	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		return usage(stdout) == 2 ? 0 : 1;
	if (argc < 2)
		return usage(stderr);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "mtls-provision: unknown command '%s'\n", argv[1]);
	return usage(stderr);
}
