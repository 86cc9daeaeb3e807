/* mtls-agent: mTLS tunnels whose TLS signatures are made on the token.
 *
 *   mtls-agent --config FILE [--check]
 *   mtls-agent client|server --listen ADDR --target ADDR --key URI ... [--check]
 *
 * Exit codes: 0 success, 1 operational failure, 2 usage or configuration. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "engine.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "mtls/secret.h"
#include "tls.h"

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mtls-agent --config FILE [--check]\n"
		"       mtls-agent client|server --listen ADDR --target ADDR --key URI\n"
		"                  --cert FILE --cacert FILE [options] [--check]\n"
		"See mtls-agent(8) for every option.\n");
	return 2;
}

/* Take --check out of argv (it may stand anywhere). */
static int take_check(int *argc, char **argv)
{
	int i, j, found = 0;

	for (i = j = 0; i < *argc; i++) {
		if (strcmp(argv[i], "--check") == 0)
			found = 1;
		else
			argv[j++] = argv[i];
	}
	*argc = j;
	argv[j] = NULL;
	return found;
}

static int load(int argc, char **argv, struct cfg_agent **cfg)
{
	if (argc == 3 && strcmp(argv[1], "--config") == 0)
		return cfg_load_file(argv[2], cfg);
	if (argc >= 2 && (strcmp(argv[1], "client") == 0 || strcmp(argv[1], "server") == 0))
		return cfg_from_args(argc - 1, argv + 1, cfg);
	return MTLS_ERR_ARG;
}

/* Serve cfg (taken over). path: the config file, read again on SIGHUP. */
static int serve(struct cfg_agent *cfg, const char *path)
{
	struct engine *e = NULL;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	(void)mtls_harden_process();
	rc = tls_global_init();
	if (rc == 0)
		rc = engine_new(cfg, path, &e);
	else
		cfg_free(cfg);
	if (rc == 0)
		rc = engine_run(e);
	if (rc != 0)
		mtls_log(MTLS_LOG_ERR, "mtls-agent: %s: %s", mtls_strerror(rc), mtls_err_detail());
	engine_free(e);
	tls_global_cleanup();
	return rc == 0 ? 0 : (rc == MTLS_ERR_CONFIG || rc == MTLS_ERR_URI) ? 2 : 1;
}

int main(int argc, char **argv)
{
	struct cfg_agent *cfg = NULL;
	int check, rc;

	if (argc == 2 && strcmp(argv[1], "--version") == 0)
		return printf("mtls-agent 0.1.0, %s\n", tls_library()) < 0;
	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		return usage(stdout) == 2 ? 0 : 1;
	check = take_check(&argc, argv);
	rc = load(argc, argv, &cfg);
	if (rc == MTLS_ERR_ARG)
		return usage(stderr);
	if (rc == 0)
		rc = cfg_check(cfg);
	if (rc != 0) {
		fprintf(stderr, "mtls-agent: %s\n", mtls_err_detail());
		cfg_free(cfg);
		return 2;
	}
	mtls_log_set_level(cfg->log_level);
	if (check) {
		printf("%s: configuration OK (%zu tunnel%s)\n", cfg->source, cfg->ntunnels,
			cfg->ntunnels == 1 ? "" : "s");
		cfg_free(cfg);
		return 0;
	}
	return serve(cfg, argc == 3 && strcmp(argv[1], "--config") == 0 ? argv[2] : NULL);
}
