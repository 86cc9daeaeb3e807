/* Fuzz the config file parser: the input is the text of a config file
 * (cfg_load_buffer, as cfg_load_file after reading). Invariants: success
 * returns a config that passes cfg_check again and has what every tunnel
 * needs; failure returns nothing, MTLS_ERR_CONFIG (or NOMEM) and a detail
 * that starts with the file name and holds no control bytes (it goes to
 * the log). Paths in the input name real files: the checks stat them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "mtls/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_tunnel(const struct cfg_tunnel *t)
{
	const struct cfg_allow *a = &t->allow;

	if (t->name == NULL || t->listen == NULL || t->target == NULL || t->key_uri == NULL ||
		t->cert == NULL || t->cacert == NULL || strncmp(t->key_uri, "pkcs11:", 7) != 0)
		abort();
	if (t->mode != TUNNEL_CLIENT && t->mode != TUNNEL_SERVER)
		abort();
	if (t->tls_min < 12 || t->tls_min > t->tls_max || t->tls_max > 13)
		abort();
	if (a->ncn > CFG_MAX_RULES || a->ndns > CFG_MAX_RULES || a->nuri > CFG_MAX_RULES ||
		a->nou > CFG_MAX_RULES || a->nspki > CFG_MAX_RULES)
		abort();
	if (t->mode == TUNNEL_SERVER && !a->all &&
		a->ncn + a->ndns + a->nuri + a->nou + a->nspki == 0)
		abort();
	if (t->handshake_timeout_ms == 0 || t->connect_timeout_ms == 0 || t->max_connections == 0)
		abort();
}

static void check_detail(int rc)
{
	const char *d = mtls_err_detail();
	size_t i;

	if (rc != MTLS_ERR_CONFIG && rc != MTLS_ERR_NOMEM)
		abort();
	if (rc == MTLS_ERR_CONFIG && strncmp(d, "fuzz.conf", 9) != 0)
		abort();
	for (i = 0; d[i] != '\0'; i++) {
		if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cfg_agent *cfg = NULL;
	size_t i;
	int rc;

	rc = cfg_load_buffer("fuzz.conf", size > 0 ? (const char *)data : "", size, &cfg);
	if (rc != 0) {
		if (cfg != NULL)
			abort();
		check_detail(rc);
		return 0;
	}
	if (cfg == NULL || cfg->ntunnels == 0 || cfg->ntunnels > CFG_MAX_TUNNELS)
		abort();
	for (i = 0; i < cfg->ntunnels; i++)
		check_tunnel(cfg->tunnels[i]);
	if (cfg_check(cfg) != 0)
		abort();
	cfg_free(cfg);
	return 0;
}
