/* mtls-provision doctor (placeholder until the command is written). */
#include <stdio.h>

#include "cmds.h"

int cmd_doctor(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "mtls-provision doctor: not available in this build yet\n");
	return 1;
}
