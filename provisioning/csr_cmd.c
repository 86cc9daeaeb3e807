/* mtls-provision csr (placeholder until the command is written). */
#include <stdio.h>

#include "cmds.h"

int cmd_csr(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "mtls-provision csr: not available in this build yet\n");
	return 1;
}
