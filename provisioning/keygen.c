/* mtls-provision keygen (placeholder until the command is written). */
#include <stdio.h>

#include "cmds.h"

int cmd_keygen(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "mtls-provision keygen: not available in this build yet\n");
	return 1;
}
