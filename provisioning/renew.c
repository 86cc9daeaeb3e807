/* mtls-provision renew (placeholder until the command is written). */
#include <stdio.h>

#include "cmds.h"

int cmd_renew(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "mtls-provision renew: not available in this build yet\n");
	return 1;
}
