/* mtls-provision: keys, CSRs and certificates on PKCS#11 tokens. */
#include <stdio.h>
#include <string.h>

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mtls-provision tokens|keygen|csr|import|enroll|renew|status|ca|doctor ...\n"
		"Only the PKCS#11 bridge is built so far; see the README.\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("mtls-provision 0.1.0\n");
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		return usage(stdout) == 2 ? 0 : 1;
	return usage(stderr);
}
