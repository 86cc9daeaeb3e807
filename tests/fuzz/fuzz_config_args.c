/* Fuzz the command line parser: the input is argv, words separated by NUL
 * bytes (the first word is the mode). Invariants as for the config file:
 * success passes cfg_check again; failure returns nothing, a project error
 * and a detail without control bytes; getopt's optind is given back. */
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "mtls/err.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_agent *cfg = NULL;
	char *buf, *argv[MAX_ARGS + 1];
	size_t pos = 0, i;
	int argc = 0, rc;

	if (size > 65536)
		return 0;
	buf = malloc(size + 1);
	if (buf == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	buf[size] = '\0';
	while (pos <= size && argc < MAX_ARGS) {
		argv[argc++] = buf + pos;
		pos += strlen(buf + pos) + 1;
	}
	argv[argc] = NULL;
	optind = 7;
	rc = cfg_from_args(argc, argv, &cfg);
	if (optind != 7)
		abort();
	if (rc == 0) {
		if (cfg == NULL || cfg->ntunnels != 1 || cfg_check(cfg) != 0 ||
			cfg->allow_pin_value || cfg_uri_has_pin_value(cfg->tunnels[0]->key_uri))
			abort();
		cfg_free(cfg);
	} else {
		const char *d = mtls_err_detail();

		if (cfg != NULL || (rc != MTLS_ERR_CONFIG && rc != MTLS_ERR_NOMEM))
			abort();
		for (i = 0; d[i] != '\0'; i++) {
			if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
				abort();
		}
	}
	free(buf);
	return 0;
}
