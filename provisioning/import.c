/* mtls-provision import (placeholder until the command is written). */
#include <stdio.h>

#include "cmds.h"

int cmd_import(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "mtls-provision import: not available in this build yet\n");
	return 1;
}
