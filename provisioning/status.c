/* mtls-provision status (placeholder until the command is written). */
#include <stdio.h>

#include "cmds.h"

int cmd_status(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "mtls-provision status: not available in this build yet\n");
	return 1;
}
