/* mtls-agent: mTLS tunnels signed on the token. The tunnel engine is being
 * built (issue 3); this entry point already answers --version and --help. */
#include <stdio.h>
#include <string.h>

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mtls-agent --config FILE [--check]\n"
		"       mtls-agent client|server --listen ADDR --target ADDR --key URI ...\n"
		"The tunnel engine is not built yet; see the README.\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("mtls-agent 0.1.0\n");
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		return usage(stdout) == 2 ? 0 : 1;
	return usage(stderr);
}
