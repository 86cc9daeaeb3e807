/* mtls-provision ca (placeholder until the command is written). */
#include <stdio.h>

#include "cmds.h"

int cmd_ca(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "mtls-provision ca: not available in this build yet\n");
	return 1;
}
