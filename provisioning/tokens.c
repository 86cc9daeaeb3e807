/* mtls-provision tokens (placeholder until the command is written). */
#include <stdio.h>

#include "cmds.h"

int cmd_tokens(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "mtls-provision tokens: not available in this build yet\n");
	return 1;
}
