/* mtls-provision enroll (placeholder until the command is written). */
#include <stdio.h>

#include "cmds.h"

int cmd_enroll(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "mtls-provision enroll: not available in this build yet\n");
	return 1;
}
