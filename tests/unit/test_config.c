/* agent/config*.c: the config file and the command line. Happy paths check
 * every field; each error branch checks the code (MTLS_ERR_CONFIG), that
 * nothing is returned, and that the detail names the place (FILE:LINE:
 * option, or --option) and what is expected. Files the options point to
 * live in a temporary directory; "@D" in a text stands for it. */
#include <fcntl.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_int.h"
#include "mtls/err.h"

#ifndef MTLS_AGENT_DIR
#error "MTLS_AGENT_DIR must name agent/ in the source tree"
#endif

static char dir[64];

/* ---- fixtures ---- */

static void write_file(const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static int group_setup(void **state)
{
	char path[256];

	snprintf(dir, sizeof(dir), "/tmp/test_config.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	write_file("cert.pem", "cert\n", 0644);
	write_file("chain.pem", "chain\n", 0644);
	write_file("ca.pem", "ca\n", 0644);
	write_file("crl.pem", "crl\n", 0644);
	write_file("pin", "1234\n", 0600);
	write_file("pin-open", "1234\n", 0644);
	/* the files agent/mtls-agent.conf.example names under /etc/mtls/ */
	write_file("web.pem", "cert\n", 0644);
	write_file("clients-ca.pem", "ca\n", 0644);
	write_file("servers-ca.pem", "ca\n", 0644);
	write_file("clients.crl", "crl\n", 0644);
	snprintf(path, sizeof(path), "%s/subdir", dir);
	return mkdir(path, 0755);
}

static int group_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* tmpl with every "@D" replaced by the directory; free the result. */
static char *expand(const char *tmpl)
{
	size_t n = strlen(tmpl) + 1, i = 0, o = 0;
	char *out;

	for (i = 0; tmpl[i] != '\0'; i++)
		n += tmpl[i] == '@' ? strlen(dir) : 0;
	out = malloc(n);
	assert_non_null(out);
	for (i = 0; tmpl[i] != '\0'; i++) {
		if (tmpl[i] == '@' && tmpl[i + 1] == 'D') {
			memcpy(out + o, dir, strlen(dir));
			o += strlen(dir);
			i++;
		} else {
			out[o++] = tmpl[i];
		}
	}
	out[o] = '\0';
	return out;
}

static int load(const char *tmpl, struct cfg_agent **out)
{
	char *text = expand(tmpl);
	int rc = cfg_load_buffer("t.conf", text, strlen(text), out);

	free(text);
	return rc;
}

static struct cfg_agent *load_ok(const char *tmpl)
{
	struct cfg_agent *cfg = NULL;
	int rc = load(tmpl, &cfg);

	if (rc != 0)
		fail_msg("expected success, got %d: %s", rc, mtls_err_detail());
	assert_non_null(cfg);
	return cfg;
}

static void check_detail(int rc, struct cfg_agent *cfg, const char *prefix, const char *needle)
{
	const char *d = mtls_err_detail();

	if (rc != MTLS_ERR_CONFIG)
		fail_msg("expected MTLS_ERR_CONFIG, got %d (%s)", rc, d);
	assert_null(cfg);
	if (strncmp(d, prefix, strlen(prefix)) != 0 || strstr(d, needle) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\" ... \"%s\"", d, prefix, needle);
}

/* The error must start with prefix (for example "t.conf:8: tls-min") and
 * contain needle. */
static void load_fails(const char *tmpl, const char *prefix, const char *needle)
{
	struct cfg_agent *cfg = NULL;
	int rc = load(tmpl, &cfg);

	check_detail(rc, cfg, prefix, needle);
}

/* Lines 1-8: a server tunnel with everything it needs but an allow rule. */
#define SERVER_HEAD                                                               \
	"[tunnel web]\n"                                                          \
	"mode = server\n"                                                         \
	"listen = 127.0.0.1:8443\n"                                               \
	"target = 127.0.0.1:8080\n"                                               \
	"key = pkcs11:token=gw01;object=mtls;type=private?module-name=softhsm2\n" \
	"cert = @D/cert.pem\n"                                                    \
	"cacert = @D/ca.pem\n"                                                    \
	"; line 8\n"
/* Lines 1-9. */
#define SERVER SERVER_HEAD "allow-cn = gw01\n"
/* A client tunnel, 7 lines. */
#define CLIENT                                  \
	"[tunnel api]\n"                        \
	"mode = client\n"                       \
	"listen = 127.0.0.1:9000\n"             \
	"target = backend.example.org:443\n"    \
	"key = pkcs11:token=gw01;object=mtls\n" \
	"cert = @D/cert.pem\n"                  \
	"cacert = @D/ca.pem\n"

#define HEX "3b1f2e3d4c5b6a79880796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1"

/* ---- config file: happy paths ---- */

static void test_full_file_sets_every_field(void **state)
{
	static const unsigned char hex[32] = {0x3b, 0x1f, 0x2e, 0x3d, 0x4c, 0x5b, 0x6a, 0x79, 0x88,
		0x07, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a,
		0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1};
	struct cfg_agent *cfg =
		load_ok("; the example\n"
			"[agent]\n"
			"pin-file = @D/pin\n"
			"signer = in-process\n"
			"handshake-workers = 8\n"
			"handshake-queue = 128\n"
			"metrics-listen = 127.0.0.1:9100\n"
			"log-level = info\n"
			"allow-pin-value = no\n"
			"\n"
			"[tunnel web]\n"
			"mode = server ; a comment\n"
			"listen = 0.0.0.0:8443\n"
			"target = unix:/run/backend.sock\n"
			"key = pkcs11:token=gw01;object=mtls;type=private?module-name=softhsm2\n"
			"cert = @D/cert.pem\n"
			"chain = @D/chain.pem\n"
			"cacert = @D/ca.pem\n"
			"crl = @D/crl.pem\n"
			"tls-min = 1.2\n"
			"tls-max = 1.3\n"
			"allow-cn = gw01\n"
			"allow-cn = gw02\n"
			"allow-dns = gw01.example.org\n"
			"allow-uri = spiffe://example.org/gw01\n"
			"allow-ou = gateways\n"
			"allow-spki-sha256 = " HEX "\n"
			"allow-spki-sha256 = Ox8uPUxbanmIB5altMPS4fAPHi08S1ppeIeWpbTD0uE=\n"
			"connect-timeout = 500ms\n"
			"handshake-timeout = 5m\n"
			"idle-timeout = 1h\n"
			"max-connections = 10\n");
	const struct cfg_tunnel *t;

	assert_string_equal(cfg->source, "t.conf");
	assert_non_null(strstr(cfg->pin_file, "/pin"));
	assert_null(cfg->pin_credential);
	assert_int_equal(cfg->signer_in_process, 1);
	assert_int_equal(cfg->handshake_workers, 8);
	assert_int_equal(cfg->handshake_queue, 128);
	assert_string_equal(cfg->metrics_listen, "127.0.0.1:9100");
	assert_int_equal(cfg->log_level, 6);
	assert_int_equal(cfg->allow_pin_value, 0);
	assert_int_equal(cfg->ntunnels, 1);
	t = cfg->tunnels[0];
	assert_string_equal(t->name, "web");
	assert_int_equal(t->mode, TUNNEL_SERVER);
	assert_string_equal(t->listen, "0.0.0.0:8443");
	assert_string_equal(t->target, "unix:/run/backend.sock");
	assert_string_equal(
		t->key_uri, "pkcs11:token=gw01;object=mtls;type=private?module-name=softhsm2");
	assert_non_null(strstr(t->chain, "/chain.pem"));
	assert_non_null(strstr(t->crl, "/crl.pem"));
	assert_int_equal(t->tls_min, 12);
	assert_int_equal(t->tls_max, 13);
	assert_int_equal(t->allow.ncn, 2);
	assert_string_equal(t->allow.cn[1], "gw02");
	assert_string_equal(t->allow.dns[0], "gw01.example.org");
	assert_string_equal(t->allow.uri[0], "spiffe://example.org/gw01");
	assert_string_equal(t->allow.ou[0], "gateways");
	assert_int_equal(t->allow.nspki, 2);
	assert_memory_equal(t->allow.spki[0], hex, 32);
	assert_memory_equal(t->allow.spki[1], hex, 32); /* the same hash in base64 */
	assert_int_equal(t->allow.all, 0);
	assert_null(t->server_name);
	assert_int_equal(t->connect_timeout_ms, 500);
	assert_int_equal(t->handshake_timeout_ms, 300000);
	assert_int_equal(t->idle_timeout_ms, 3600000);
	assert_int_equal(t->max_connections, 10);
	assert_int_equal(cfg_check(cfg), 0);
	cfg_free(cfg);
}

static void test_defaults_and_client_server_name(void **state)
{
	struct cfg_agent *cfg = load_ok(CLIENT "[tunnel v6]\nmode = client\n"
					       "listen = [::1]:9001\ntarget = [2001:DB8::1]:443\n"
					       "key = pkcs11:object=a\ncert = pkcs11:object=a\n"
					       "cacert = @D/ca.pem\n");
	const struct cfg_tunnel *t = cfg->tunnels[0];

	assert_int_equal(cfg->handshake_workers, 4);
	assert_int_equal(cfg->handshake_queue, 64);
	assert_int_equal(cfg->log_level, 5);
	assert_int_equal(cfg->signer_in_process, 0);
	assert_null(cfg->metrics_listen);
	assert_int_equal(t->mode, TUNNEL_CLIENT);
	assert_int_equal(t->tls_min, 13);
	assert_int_equal(t->tls_max, 13);
	assert_int_equal(t->connect_timeout_ms, 10000);
	assert_int_equal(t->handshake_timeout_ms, 10000);
	assert_int_equal(t->idle_timeout_ms, 0);
	assert_int_equal(t->max_connections, 1024);
	assert_string_equal(t->server_name, "backend.example.org");
	assert_string_equal(cfg->tunnels[1]->server_name, "2001:db8::1");
	assert_string_equal(cfg->tunnels[1]->cert, "pkcs11:object=a");
	cfg_free(cfg);
}

static void test_syntax_variants_are_accepted(void **state)
{
	/* BOM, CRLF, indentation, comments of both kinds, "name: value",
	 * no final newline, words in any case, values with ';' inside. */
	struct cfg_agent *cfg = load_ok("\xef\xbb\xbf# comment\r\n"
					"[agent]  ; here\r\n"
					"  log-level: 7\r\n"
					"signer = PROCESS\r\n"
					"[ tunnel   web ]\r\n"
					"mode=Server\r\n"
					"listen = [::]:8443\r\n"
					"target = localhost:80\r\n"
					"key = pkcs11:token=a;object=b\r\n"
					"cert = @D/cert.pem\r\n"
					"cacert = @D/ca.pem\r\n"
					"allow-all = YES\r\n"
					"idle-timeout = 250");
	const struct cfg_tunnel *t = cfg->tunnels[0];

	assert_int_equal(cfg->log_level, 7);
	assert_string_equal(t->name, "web");
	assert_int_equal(t->mode, TUNNEL_SERVER);
	assert_string_equal(t->key_uri, "pkcs11:token=a;object=b");
	assert_int_equal(t->allow.all, 1);
	assert_int_equal(t->idle_timeout_ms, 250);
	cfg_free(cfg);
}

static void test_value_forms(void **state)
{
	static const char *const levels[] = {
		"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};
	char text[2048];
	struct cfg_agent *cfg;
	size_t i;

	for (i = 0; i < 8; i++) {
		snprintf(text, sizeof(text), "[agent]\nlog-level = %s\n" SERVER, levels[i]);
		cfg = load_ok(text);
		assert_int_equal(cfg->log_level, (int)i);
		cfg_free(cfg);
	}
	cfg = load_ok(
		SERVER "allow-spki-sha256 = 3B:1F:2E:3D:4C:5B:6A:79:88:07:96:A5:B4:C3:D2:E1:"
		       "F0:0F:1E:2D:3C:4B:5A:69:78:87:96:A5:B4:C3:D2:E1\n"
		       "allow-spki-sha256 = sha256//Ox8uPUxbanmIB5altMPS4fAPHi08S1ppeIeWpbTD0uE\n"
		       "handshake-timeout = 1h\nconnect-timeout = 1\nidle-timeout = 720h\n"
		       "max-connections = 1048576\n");
	assert_int_equal(cfg->tunnels[0]->allow.nspki, 2);
	assert_memory_equal(cfg->tunnels[0]->allow.spki[0], cfg->tunnels[0]->allow.spki[1], 32);
	assert_int_equal(cfg->tunnels[0]->handshake_timeout_ms, 3600000);
	assert_int_equal(cfg->tunnels[0]->connect_timeout_ms, 1);
	assert_int_equal(cfg->tunnels[0]->idle_timeout_ms, 720u * 3600000u);
	cfg_free(cfg);
}

static void test_many_tunnels_and_rules_up_to_the_bounds(void **state)
{
	size_t cap = 300 * CFG_MAX_TUNNELS + 64 * 20, n = 0, i;
	char *text = malloc(cap);
	struct cfg_agent *cfg;

	assert_non_null(text);
	for (i = 0; i < CFG_MAX_TUNNELS; i++)
		n += (size_t)snprintf(text + n, cap - n,
			"[tunnel t%zu]\nmode = client\nlisten = 127.0.0.1:%zu\n"
			"target = h:1\nkey = pkcs11:object=k\ncert = @D/cert.pem\n"
			"cacert = @D/ca.pem\n",
			i, 1000 + i);
	for (i = 0; i < CFG_MAX_RULES; i++)
		n += (size_t)snprintf(text + n, cap - n, "allow-cn = cn%zu\n", i);
	cfg = load_ok(text);
	assert_int_equal(cfg->ntunnels, CFG_MAX_TUNNELS);
	assert_int_equal(cfg->tunnels[CFG_MAX_TUNNELS - 1]->allow.ncn, CFG_MAX_RULES);
	cfg_free(cfg);
	free(text);
}

static void test_pin_value_allowed_in_file_when_agent_says_so(void **state)
{
	struct cfg_agent *cfg = load_ok(
		"[tunnel web]\nmode = client\nlisten = 127.0.0.1:1\ntarget = h:1\n"
		"key = pkcs11:object=k?pin-value=1234\ncert = @D/cert.pem\ncacert = @D/ca.pem\n"
		"[agent]\nallow-pin-value = yes\n");

	assert_int_equal(cfg->allow_pin_value, 1);
	cfg_free(cfg);
}

/* ---- config file: structure errors ---- */

static void test_section_errors(void **state)
{
	load_fails("[agnet]\n", "t.conf:1: [agnet]", "did you mean [agent]?");
	load_fails("\n[tunel web]\n", "t.conf:2: [tunel web]", "did you mean [tunnel NAME]?");
	load_fails("[global]\n", "t.conf:1: [global]", "expected [agent] or [tunnel NAME]");
	load_fails("[tunnel]\n", "t.conf:1: [tunnel]", "expected a name");
	load_fails("[tunnel a/b]\n", "t.conf:1: [tunnel a/b]", "expected a name of 1 to 48");
	load_fails("[tunnel 0123456789012345678901234567890123456789012345678]\n",
		"t.conf:1:", "expected a name of 1 to 48");
	load_fails("[agent\n", "t.conf:1:", "expected a section header");
	load_fails("[agent] x = 1\n", "t.conf:1:", "text after the section header");
	load_fails("[agent]\n[agent]\n", "t.conf:2: [agent]", "given twice (first on line 1)");
	load_fails(SERVER "[tunnel web]\n", "t.conf:10: [tunnel web]",
		"a tunnel has this name already (line 1)");
	load_fails("log-level = 3\n", "t.conf:1:", "option before any section");
	load_fails("[agent]\nlog-level\n", "t.conf:2:", "expected NAME = VALUE");
	load_fails("[agent]\n", "t.conf:", "no tunnel");
	load_fails("", "t.conf:", "no tunnel");
}

static void test_empty_tunnel_section_is_reported(void **state)
{
	load_fails(SERVER "\n[tunnel empty]\n", "t.conf:11: [tunnel empty] mode",
		"required: client or server");
}

static void test_option_errors(void **state)
{
	load_fails(SERVER "lisen = 1.2.3.4:5\n", "t.conf:10: lisen",
		"unknown option; did you mean listen?");
	load_fails(SERVER "tls_min = 1.2\n", "t.conf:10: tls_min", "did you mean tls-min?");
	load_fails(SERVER "frobnicate = 1\n", "t.conf:10: frobnicate",
		"unknown option in [tunnel NAME]");
	load_fails(
		"[agent]\nfrobnicate = 1\n", "t.conf:2: frobnicate", "unknown option in [agent]");
	load_fails("[agent]\nlisten = 1.2.3.4:5\n", "t.conf:2: listen",
		"belongs in a [tunnel NAME] section");
	load_fails(SERVER "pin-file = /x\n", "t.conf:10: pin-file", "belongs in [agent]");
	load_fails(SERVER "pin-fil = /x\n", "t.conf:10: pin-fil",
		"did you mean pin-file (in [agent])?");
	load_fails("[agent]\nservr-name = x\n", "t.conf:2: servr-name",
		"did you mean server-name (in a [tunnel NAME] section)?");
	load_fails("[agent]\npin = 1234\n", "t.conf:2: pin", "a PIN is not an option");
	load_fails(SERVER "pin-value = 1234\n", "t.conf:10: pin-value", "a PIN is not an option");
	load_fails(SERVER "listen = 127.0.0.1:1\n", "t.conf:10: listen",
		"given twice (first on line 3)");
	load_fails(SERVER "allow-all = no\nallow-all = yes\n", "t.conf:11: allow-all",
		"given twice (first on line 10)");
	load_fails("[agent]\nsigner = process\nsigner = process\n", "t.conf:3: signer",
		"given twice (first on line 2)");
}

static void test_bounds(void **state)
{
	char *text, *big;
	size_t n;

	/* a line over CFG_LINE_MAX */
	text = malloc(CFG_LINE_MAX + 64);
	assert_non_null(text);
	n = (size_t)snprintf(text, 64, "[agent]\nsigner = ");
	memset(text + n, 'a', CFG_LINE_MAX);
	strcpy(text + n + CFG_LINE_MAX, "\n");
	load_fails(text, "t.conf:2:", "line longer than 8192 bytes");
	/* a value over CFG_VALUE_MAX on a line that fits */
	text[n + CFG_VALUE_MAX + 1] = '\0';
	load_fails(text, "t.conf:2: signer", "value longer than 4096 bytes");
	free(text);
	/* a file over CFG_FILE_MAX */
	big = malloc(CFG_FILE_MAX + 2);
	assert_non_null(big);
	memset(big, '\n', CFG_FILE_MAX + 1);
	{
		struct cfg_agent *cfg = NULL;
		int rc = cfg_load_buffer("big.conf", big, CFG_FILE_MAX + 1, &cfg);

		check_detail(rc, cfg, "big.conf:", "larger than 1048576 bytes");
	}
	free(big);
}

static void test_nul_and_control_bytes(void **state)
{
	static const char nul[] = "[agent]\nsigner = pro\0cess\n";
	struct cfg_agent *cfg = NULL;
	int rc = cfg_load_buffer("t.conf", nul, sizeof(nul) - 1, &cfg);

	check_detail(rc, cfg, "t.conf:2:", "NUL byte");
	load_fails("[agent]\nsigner = pro\x01"
		   "cess\n",
		"t.conf:2: signer", "control character 0x01 at byte 4");
	load_fails("[agent]\nsigner = a\tb\n", "t.conf:2: signer", "control character 0x09");
	load_fails("[agent]\nsigner =\n", "t.conf:2: signer", "empty value: expected process or");
}

static void test_too_many_tunnels_and_rules(void **state)
{
	size_t cap = 32 * (CFG_MAX_TUNNELS + 1) + 64, n = 0, i;
	char *text = malloc(cap);

	assert_non_null(text);
	for (i = 0; i <= CFG_MAX_TUNNELS; i++)
		n += (size_t)snprintf(text + n, cap - n, "[tunnel t%zu]\n", i);
	load_fails(text, "t.conf:257: [tunnel t256]", "more than 256 tunnels");
	free(text);
	cap = 9 * 64 + 20 * (CFG_MAX_RULES + 1);
	text = malloc(cap);
	assert_non_null(text);
	n = (size_t)snprintf(text, cap, "%s", SERVER_HEAD);
	for (i = 0; i <= CFG_MAX_RULES; i++)
		n += (size_t)snprintf(text + n, cap - n, "allow-ou = u%zu\n", i);
	load_fails(text, "t.conf:73: allow-ou", "more than 64 rules");
	free(text);
	cap = 9 * 64 + 80 * (CFG_MAX_RULES + 1);
	text = malloc(cap);
	assert_non_null(text);
	n = (size_t)snprintf(text, cap, "%s", SERVER_HEAD);
	for (i = 0; i <= CFG_MAX_RULES; i++)
		n += (size_t)snprintf(text + n, cap - n, "allow-spki-sha256 = %s\n", HEX);
	load_fails(text, "t.conf:73: allow-spki-sha256", "more than 64 rules");
	free(text);
}

/* ---- config file: bad values, one per kind ---- */

struct bad_value {
	const char *line; /* becomes line 10, after SERVER */
	const char *prefix;
	const char *needle;
};

static void run_bad_values(const struct bad_value *b, size_t n)
{
	char text[8192];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(text, sizeof(text), SERVER "%s\n", b[i].line);
		load_fails(text, b[i].prefix, b[i].needle);
	}
}

static void test_bad_tunnel_values(void **state)
{
	static const struct bad_value b[] = {
		{"tls-min = 1.1", "t.conf:10: tls-min", "expected 1.2 or 1.3, got \"1.1\""},
		{"tls-max = 1", "t.conf:10: tls-max", "expected 1.2 or 1.3"},
		{"max-connections = 0", "t.conf:10: max-connections", "from 1 to 1048576"},
		{"max-connections = 1048577", "t.conf:10: max-connections", "from 1 to 1048576"},
		{"max-connections = 99999999999999999999", "t.conf:10: max-connections",
			"expected an integer"},
		{"max-connections = +4", "t.conf:10: max-connections", "got \"+4\""},
		{"max-connections = -1", "t.conf:10: max-connections", "got \"-1\""},
		{"max-connections = 4x", "t.conf:10: max-connections", "got \"4x\""},
		{"connect-timeout = 10x", "t.conf:10: connect-timeout",
			"a duration from 1ms to 1h"},
		{"connect-timeout = 0", "t.conf:10: connect-timeout", "(out of range)"},
		{"connect-timeout = 2h", "t.conf:10: connect-timeout", "(out of range)"},
		{"connect-timeout = 3600001", "t.conf:10: connect-timeout", "(out of range)"},
		{"handshake-timeout = ms", "t.conf:10: handshake-timeout", "got \"ms\""},
		{"handshake-timeout = 1.5s", "t.conf:10: handshake-timeout", "got \"1.5s\""},
		{"idle-timeout = 721h", "t.conf:10: idle-timeout", "(out of range)"},
		{"idle-timeout = 999999999999999999h", "t.conf:10: idle-timeout", "a duration"},
		{"idle-timeout = 10 s", "t.conf:10: idle-timeout", "got \"10 s\""},
		{"allow-all = maybe", "t.conf:10: allow-all", "expected yes or no"},
		{"allow-dns = *.example.org", "t.conf:10: allow-dns", "wildcards are not matched"},
		{"allow-dns = a..b", "t.conf:10: allow-dns", "expected a DNS name"},
		{"allow-uri = example.org/gw", "t.conf:10: allow-uri", "a URI with a scheme"},
		{"allow-uri = spiffe:", "t.conf:10: allow-uri", "a URI with a scheme"},
		{"allow-spki-sha256 = 3b1f", "t.conf:10: allow-spki-sha256", "64 hex digits"},
		{"allow-spki-sha256 = 3g1f2e3d4c5b6a79880796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1",
			"t.conf:10: allow-spki-sha256", "64 hex digits"},
		{"allow-spki-sha256 = 3B:1F:2E:3D:4C:5B:6A:79:88:07:96:A5:B4:C3:D2:E1:F0:0F:1E:2D:3C:"
		 "4B:5A:69:78:87:96:A5:B4:C3:D2-E1",
			"t.conf:10: allow-spki-sha256", "colons allowed"},
		{"allow-spki-sha256 = Ox8uPUxbanmIB5altMPS4fAPHi08S1ppeIeWpbTD0uF=",
			"t.conf:10: allow-spki-sha256", "base64"},
		{"allow-spki-sha256 = Ox8uPUxbanmIB5altMPS4fAPHi08S1ppeIeWpbTD0u!=",
			"t.conf:10: allow-spki-sha256", "base64"},
		{"server-name = -bad name", "t.conf:10: server-name",
			"a DNS name or an IP address"},
	};

	run_bad_values(b, sizeof(b) / sizeof(b[0]));
}

static void test_bad_paths_and_uris(void **state)
{
	static const struct bad_value b[] = {
		{"chain = chain.pem", "t.conf:10: chain", "relative names depend on the working"},
		{"crl = ./crl.pem", "t.conf:10: crl", "an absolute PEM or DER file name"},
		{"[tunnel x]\ncert = cert.pem", "t.conf:11: cert", "a pkcs11: URI"},
		{"[tunnel x]\ncacert = ca.pem", "t.conf:11: cacert", "an absolute PEM file name"},
		{"[tunnel x]\nkey = /etc/key.pem", "t.conf:11: key", "a PKCS#11 URI"},
		{"[tunnel x]\nmode = both", "t.conf:11: mode", "expected client or server"},
	};

	run_bad_values(b, sizeof(b) / sizeof(b[0]));
}

static void test_bad_addresses(void **state)
{
	static const struct bad_value b[] = {
		{"[tunnel x]\nlisten = 8443", "t.conf:11: listen", "(no port)"},
		{"[tunnel x]\nlisten = :8443", "t.conf:11: listen", "(no host"},
		{"[tunnel x]\nlisten = h:0", "t.conf:11: listen", "from 1 to 65535"},
		{"[tunnel x]\nlisten = h:65536", "t.conf:11: listen", "from 1 to 65535"},
		{"[tunnel x]\nlisten = h:123456", "t.conf:11: listen", "from 1 to 65535"},
		{"[tunnel x]\nlisten = h:http", "t.conf:11: listen", "from 1 to 65535"},
		{"[tunnel x]\nlisten = h:", "t.conf:11: listen", "from 1 to 65535"},
		{"[tunnel x]\nlisten = ::1:80", "t.conf:11: listen", "goes in brackets"},
		{"[tunnel x]\nlisten = [::1]", "t.conf:11: listen", "a port must follow"},
		{"[tunnel x]\nlisten = [::1:80", "t.conf:11: listen", "no ']'"},
		{"[tunnel x]\nlisten = []:80", "t.conf:11: listen", "not an IPv6 address"},
		{"[tunnel x]\nlisten = [zz]:80", "t.conf:11: listen", "not an IPv6 address"},
		{"[tunnel x]\nlisten = 1.2.3.999:80", "t.conf:11: listen", "not a host name or IP"},
		{"[tunnel x]\nlisten = a..b:80", "t.conf:11: listen", "not a host name or IP"},
		{"[tunnel x]\nlisten = a b:80", "t.conf:11: listen", "not a host name or IP"},
		{"[tunnel x]\ntarget = unix:run/x", "t.conf:11: target", "must be absolute"},
		{"[tunnel x]\ntarget = unix:/0123456789012345678901234567890123456789012345678901234"
		 "56789012345678901234567890123456789012345678901234567890",
			"t.conf:11: target", "at most 107 bytes"},
		{"[agent]\nmetrics-listen = 0.0.0.0:9100", "t.conf:11: metrics-listen",
			"metrics stay on this machine"},
		{"[agent]\nmetrics-listen = 9100", "t.conf:11: metrics-listen", "(no port)"},
	};

	run_bad_values(b, sizeof(b) / sizeof(b[0]));
}

static void test_bad_agent_values(void **state)
{
	static const struct bad_value b[] = {
		{"[agent]\nsigner = thread", "t.conf:11: signer", "expected process or in-process"},
		{"[agent]\nhandshake-workers = 0", "t.conf:11: handshake-workers", "from 1 to 64"},
		{"[agent]\nhandshake-workers = 65", "t.conf:11: handshake-workers", "from 1 to 64"},
		{"[agent]\nhandshake-queue = 65537", "t.conf:11: handshake-queue", "to 65536"},
		{"[agent]\nlog-level = 8", "t.conf:11: log-level", "err, warning, notice"},
		{"[agent]\nlog-level = loud", "t.conf:11: log-level", "got \"loud\""},
		{"[agent]\nallow-pin-value = sure", "t.conf:11: allow-pin-value", "yes or no"},
		{"[agent]\npin-file = pin", "t.conf:11: pin-file", "an absolute file name"},
		{"[agent]\npin-credential = a/b", "t.conf:11: pin-credential", "no '/'"},
		{"[agent]\npin-credential = ..", "t.conf:11: pin-credential", "credential name"},
	};

	run_bad_values(b, sizeof(b) / sizeof(b[0]));
}

/* ---- config file: whole-config checks ---- */

static void test_required_options(void **state)
{
	static const char *const lines[] = {"mode", "listen", "target", "key", "cert", "cacert"};
	static const char *const body[] = {"mode = server\n", "listen = 127.0.0.1:8443\n",
		"target = 127.0.0.1:8080\n", "key = pkcs11:object=k\n", "cert = @D/cert.pem\n",
		"cacert = @D/ca.pem\n"};
	char text[1024], prefix[64];
	size_t i, j, n;

	for (i = 0; i < 6; i++) {
		n = (size_t)snprintf(text, sizeof(text), "[tunnel web]\nallow-all = yes\n");
		for (j = 0; j < 6; j++) {
			if (j != i)
				n += (size_t)snprintf(text + n, sizeof(text) - n, "%s", body[j]);
		}
		snprintf(prefix, sizeof(prefix), "t.conf:1: [tunnel web] %s", lines[i]);
		load_fails(text, prefix, "required: ");
	}
}

static void test_files_must_be_readable(void **state)
{
	load_fails(SERVER "chain = @D/missing.pem\n", "t.conf:10: chain",
		"missing.pem: No such file or directory");
	load_fails(SERVER "crl = @D/subdir\n", "t.conf:10: crl", "is not a regular file");
	load_fails(SERVER "crl = /dev/null\n", "t.conf:10: crl", "is not a regular file");
	load_fails(
		"[tunnel web]\nmode = server\nlisten = 127.0.0.1:8443\ntarget = h:1\n"
		"key = pkcs11:object=k\ncert = @D/nope.pem\ncacert = @D/ca.pem\nallow-all = yes\n",
		"t.conf:6: cert", "No such file");
	load_fails("[tunnel web]\nmode = server\nlisten = 127.0.0.1:8443\ntarget = h:1\n"
		   "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/nope.pem\n"
		   "allow-all = yes\n",
		"t.conf:7: cacert", "No such file");
}

static void test_tls_order(void **state)
{
	load_fails(SERVER "tls-max = 1.2\n", "t.conf:1: [tunnel web] tls-min",
		"TLS 1.3 is above tls-max (TLS 1.2): for TLS 1.2 only, add tls-min = 1.2");
	load_fails(SERVER "tls-max = 1.2\ntls-min = 1.3\n", "t.conf:11: tls-min", "above tls-max");
}

static void test_allow_rules(void **state)
{
	load_fails(SERVER_HEAD, "t.conf:1: [tunnel web]",
		"nothing would be allowed: add allow-cn = NAME");
	load_fails(SERVER "allow-all = yes\n", "t.conf:10: allow-all",
		"allow-all together with allow rules");
	load_fails(SERVER_HEAD "allow-all = no\n", "t.conf:1: [tunnel web]",
		"nothing would be allowed");
}

static void test_server_names(void **state)
{
	struct cfg_agent *cfg;

	load_fails(SERVER "server-name = example.org\n", "t.conf:10: server-name",
		"only for client tunnels");
	load_fails("[tunnel c]\nmode = client\nlisten = 127.0.0.1:1\ntarget = unix:/run/x\n"
		   "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/ca.pem\n",
		"t.conf:1: [tunnel c] server-name", "required when the target is a unix socket");
	cfg = load_ok("[tunnel c]\nmode = client\nlisten = 127.0.0.1:1\ntarget = unix:/run/x\n"
		      "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/ca.pem\n"
		      "server-name = 10.0.0.1\n");
	assert_string_equal(cfg->tunnels[0]->server_name, "10.0.0.1");
	cfg_free(cfg);
}

static void test_listen_addresses_must_differ(void **state)
{
	load_fails(SERVER "[tunnel b]\nmode = client\nlisten = 127.0.0.1:8443\ntarget = h:1\n"
			  "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/ca.pem\n",
		"t.conf:12: listen", "tunnel web listens there already (line 3)");
	load_fails(SERVER "[tunnel b]\nmode = server\nlisten = [::]:8443\ntarget = 127.0.0.1:1\n"
			  "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/ca.pem\n"
			  "allow-all = yes\n",
		"t.conf:12: listen", "listens there already");
	load_fails(CLIENT "[tunnel b]\nmode = client\nlisten = unix:/run/a\ntarget = h:1\n"
			  "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/ca.pem\n"
			  "[tunnel c]\nmode = client\nlisten = unix:/run/a\ntarget = h:1\n"
			  "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/ca.pem\n",
		"t.conf:17: listen", "tunnel b listens there already (line 10)");
	load_fails("[agent]\nmetrics-listen = 127.0.0.1:9000\n" CLIENT, "t.conf:5: listen",
		"metrics-listen uses this address already (line 2)");
	load_fails(CLIENT "[agent]\nmetrics-listen = 127.0.0.1:9000\n", "t.conf:3: listen",
		"metrics-listen uses this address already (line 9)");
}

static void test_pin_sources(void **state)
{
	struct cfg_agent *cfg;

	load_fails("[agent]\npin-file = @D/pin\npin-credential = pin\n" SERVER,
		"t.conf:3: pin-credential", "give pin-file or pin-credential, not both");
	load_fails("[agent]\npin-file = @D/pin-open\n" SERVER, "t.conf:2: pin-file",
		"has mode 0644: group or others may read the PIN; run chmod 600");
	load_fails("[agent]\npin-file = @D/subdir\n" SERVER, "t.conf:2: pin-file",
		"is not a regular file");
	/* a file that exists only inside the service (a credential) is fine */
	cfg = load_ok("[agent]\npin-file = /run/credentials/none/pin\n" SERVER);
	cfg_free(cfg);
	cfg = load_ok("[agent]\npin-credential = pin\n" SERVER);
	assert_string_equal(cfg->pin_credential, "pin");
	cfg_free(cfg);
}

static void test_pin_value_in_file_refused_without_allow(void **state)
{
	struct cfg_agent *cfg = NULL;
	const char *d;
	int rc;

	load_fails("[tunnel web]\nmode = client\nlisten = 127.0.0.1:1\ntarget = h:1\n"
		   "key = pkcs11:object=k?pin-value=1234\ncert = @D/cert.pem\ncacert = @D/ca.pem\n",
		"t.conf:5: key", "set allow-pin-value = yes in [agent]");
	load_fails(
		"[tunnel web]\nmode = client\nlisten = 127.0.0.1:1\ntarget = h:1\n"
		"key = pkcs11:object=k?PIN%2dValue=1234\ncert = @D/cert.pem\ncacert = @D/ca.pem\n",
		"t.conf:5: key", "carries a pin-value");
	load_fails(
		"[tunnel web]\nmode = client\nlisten = 127.0.0.1:1\ntarget = h:1\n"
		"key = pkcs11:object=k\ncert = pkcs11:object=k?pin-value=1\ncacert = @D/ca.pem\n",
		"t.conf:6: cert", "carries a pin-value");
	/* a bad key value is quoted in the detail, but never its PIN */
	rc = load(SERVER "[tunnel x]\nkey = token=a?pin-value=98765\n", &cfg);
	d = mtls_err_detail();
	assert_int_equal(rc, MTLS_ERR_CONFIG);
	assert_non_null(strstr(d, "t.conf:11: key"));
	assert_null(strstr(d, "98765"));
}

/* ---- cfg_load_file ---- */

static void test_load_file(void **state)
{
	char path[256], *text = expand(SERVER);
	struct cfg_agent *cfg = NULL;

	write_file("ok.conf", text, 0644);
	snprintf(path, sizeof(path), "%s/ok.conf", dir);
	assert_int_equal(cfg_load_file(path, &cfg), 0);
	assert_string_equal(cfg->source, path);
	assert_int_equal(cfg_check(cfg), 0);
	cfg_free(cfg);
	cfg = NULL;
	free(text);

	text = expand(SERVER "tls-min = 1.1\n");
	write_file("bad.conf", text, 0600);
	free(text);
	snprintf(path, sizeof(path), "%s/bad.conf", dir);
	assert_int_equal(cfg_load_file(path, &cfg), MTLS_ERR_CONFIG);
	assert_null(cfg);
	assert_non_null(strstr(mtls_err_detail(), "/bad.conf:10: tls-min: expected 1.2 or 1.3"));
}

static void test_load_file_errors(void **state)
{
	char path[256], *text;
	struct cfg_agent *cfg = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/none.conf", dir);
	assert_int_equal(cfg_load_file(path, &cfg), MTLS_ERR_CONFIG);
	assert_non_null(strstr(mtls_err_detail(), "none.conf: cannot read the config file"));
	snprintf(path, sizeof(path), "%s/subdir", dir);
	assert_int_equal(cfg_load_file(path, &cfg), MTLS_ERR_CONFIG);
	assert_non_null(strstr(mtls_err_detail(), "subdir: not a regular file"));

	text = expand(SERVER);
	write_file("open.conf", text, 0666);
	snprintf(path, sizeof(path), "%s/open.conf", dir);
	assert_int_equal(cfg_load_file(path, &cfg), MTLS_ERR_CONFIG);
	assert_non_null(strstr(mtls_err_detail(), "mode 0666 lets every user change"));
	free(text);

	text = expand("[agent]\nallow-pin-value = yes\n[tunnel web]\nmode = client\n"
		      "listen = 127.0.0.1:1\ntarget = h:1\nkey = pkcs11:object=k?pin-value=1\n"
		      "cert = @D/cert.pem\ncacert = @D/ca.pem\n");
	write_file("pv.conf", text, 0640);
	snprintf(path, sizeof(path), "%s/pv.conf", dir);
	assert_int_equal(cfg_load_file(path, &cfg), MTLS_ERR_CONFIG);
	assert_null(cfg);
	assert_non_null(strstr(mtls_err_detail(), "holds a pin-value but has mode 0640"));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(cfg_load_file(path, &cfg), 0);
	cfg_free(cfg);
	cfg = NULL;
	free(text);

	snprintf(path, sizeof(path), "%s/big.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fseek(f, CFG_FILE_MAX, SEEK_SET), 0);
	fputc('\n', f);
	fclose(f);
	assert_int_equal(cfg_load_file(path, &cfg), MTLS_ERR_CONFIG);
	assert_non_null(strstr(mtls_err_detail(), "big.conf: larger than 1048576 bytes"));

	assert_int_equal(cfg_load_file(NULL, &cfg), MTLS_ERR_ARG);
	assert_int_equal(cfg_load_file(path, NULL), MTLS_ERR_ARG);
	assert_int_equal(cfg_load_buffer("x", NULL, 1, &cfg), MTLS_ERR_ARG);
	assert_int_equal(cfg_load_buffer("x", "", 0, NULL), MTLS_ERR_ARG);
}

/* ---- cfg_check on a struct changed after loading ---- */

static void test_check_names_tunnel_without_lines(void **state)
{
	struct cfg_agent *cfg = load_ok(SERVER);

	cfg->tunnels[0]->tls_min = 11;
	assert_int_equal(cfg_check(cfg), MTLS_ERR_CONFIG);
	assert_string_equal(mtls_err_detail(),
		"t.conf: [tunnel web] tls-min: expected 1.2 or 1.3, "
		"got 11");
	cfg->tunnels[0]->tls_min = 13;
	cfg->log_level = 9;
	assert_int_equal(cfg_check(cfg), MTLS_ERR_CONFIG);
	assert_non_null(strstr(mtls_err_detail(), "t.conf: [agent] log-level"));
	cfg->log_level = 5;
	cfg->handshake_workers = 0;
	assert_int_equal(cfg_check(cfg), MTLS_ERR_CONFIG);
	cfg->handshake_workers = 1;
	cfg->tunnels[0]->max_connections = 0;
	assert_int_equal(cfg_check(cfg), MTLS_ERR_CONFIG);
	assert_non_null(strstr(mtls_err_detail(), "max-connections"));
	cfg->tunnels[0]->max_connections = 1;
	cfg->tunnels[0]->allow.ncn = CFG_MAX_RULES + 1;
	assert_int_equal(cfg_check(cfg), MTLS_ERR_CONFIG);
	cfg->tunnels[0]->allow.ncn = 1;
	assert_int_equal(cfg_check(cfg), 0);
	assert_int_equal(cfg_check(NULL), MTLS_ERR_ARG);
	cfg_free(cfg);
	cfg_free(NULL);
}

static void test_check_duplicate_names_without_lines(void **state)
{
	struct cfg_agent *cfg = load_ok(SERVER "[tunnel b]\nmode = client\nlisten = 127.0.0.1:2\n"
					       "target = h:1\nkey = pkcs11:object=k\n"
					       "cert = @D/cert.pem\ncacert = @D/ca.pem\n");
	char *name = cfg->tunnels[1]->name;

	cfg->tunnels[1]->name = cfg->tunnels[0]->name;
	assert_int_equal(cfg_check(cfg), MTLS_ERR_CONFIG);
	assert_string_equal(
		mtls_err_detail(), "t.conf: [tunnel web]: a tunnel has this name already");
	cfg->tunnels[1]->name = name;
	cfg_free(cfg);
}

/* ---- command line ---- */

static char *argv_store[64];

/* cfg_from_args on the NULL-terminated words, "@D" expanded. */
static int cli(struct cfg_agent **out, ...)
{
	char *argv[64];
	const char *w;
	va_list ap;
	int argc = 0, rc, i;

	va_start(ap, out);
	while ((w = va_arg(ap, const char *)) != NULL && argc < 63) {
		argv_store[argc] = expand(w);
		argv[argc] = argv_store[argc];
		argc++;
	}
	va_end(ap);
	argv[argc] = NULL;
	*out = NULL;
	rc = cfg_from_args(argc, argv, out);
	for (i = 0; i < argc; i++)
		free(argv_store[i]);
	return rc;
}

#define CLI_SERVER                                                                     \
	"server", "--listen", "127.0.0.1:8443", "--target", "127.0.0.1:8080", "--key", \
		"pkcs11:token=gw01;object=mtls", "--cert", "@D/cert.pem", "--cacert", "@D/ca.pem"

#define cli_fails(prefix, needle, ...)                 \
	do {                                           \
		struct cfg_agent *c_ = NULL;           \
		int rc_ = cli(&c_, __VA_ARGS__, NULL); \
		check_detail(rc_, c_, prefix, needle); \
	} while (0)

static void test_cli_server_every_option(void **state)
{
	struct cfg_agent *cfg = NULL;
	const struct cfg_tunnel *t;
	int rc = cli(&cfg, CLI_SERVER, "--chain=@D/chain.pem", "--crl", "@D/crl.pem", "--tls-min",
		"1.2", "--tls-max", "1.3", "--allow-cn", "a", "--allow-cn", "b", "--allow-dns",
		"a.example", "--allow-uri", "spiffe://x/y", "--allow-ou", "ou",
		"--allow-spki-sha256", HEX, "--pin-file", "@D/pin", "--signer", "in-process",
		"--connect-timeout", "1s", "--handshake-timeout", "2s", "--idle-timeout", "3s",
		"--max-connections", "7", "--handshake-workers", "2", "--handshake-queue", "3",
		"--metrics-listen", "unix:/run/m.sock", "--log-level", "debug", NULL);

	if (rc != 0)
		fail_msg("%s", mtls_err_detail());
	assert_string_equal(cfg->source, "command line");
	assert_int_equal(cfg->ntunnels, 1);
	t = cfg->tunnels[0];
	assert_string_equal(t->name, "cli");
	assert_int_equal(t->mode, TUNNEL_SERVER);
	assert_string_equal(t->listen, "127.0.0.1:8443");
	assert_string_equal(t->target, "127.0.0.1:8080");
	assert_string_equal(t->key_uri, "pkcs11:token=gw01;object=mtls");
	assert_non_null(strstr(t->chain, "/chain.pem"));
	assert_non_null(strstr(t->crl, "/crl.pem"));
	assert_int_equal(t->tls_min, 12);
	assert_int_equal(t->allow.ncn, 2);
	assert_int_equal(t->allow.ndns, 1);
	assert_int_equal(t->allow.nuri, 1);
	assert_int_equal(t->allow.nou, 1);
	assert_int_equal(t->allow.nspki, 1);
	assert_int_equal(t->connect_timeout_ms, 1000);
	assert_int_equal(t->handshake_timeout_ms, 2000);
	assert_int_equal(t->idle_timeout_ms, 3000);
	assert_int_equal(t->max_connections, 7);
	assert_int_equal(cfg->signer_in_process, 1);
	assert_int_equal(cfg->handshake_workers, 2);
	assert_int_equal(cfg->handshake_queue, 3);
	assert_string_equal(cfg->metrics_listen, "unix:/run/m.sock");
	assert_int_equal(cfg->log_level, 7);
	assert_int_equal(cfg->allow_pin_value, 0);
	assert_int_equal(cfg_check(cfg), 0);
	cfg_free(cfg);
}

static void test_cli_client_relative_paths_and_defaults(void **state)
{
	char cwd[512];
	struct cfg_agent *cfg = NULL;
	const struct cfg_tunnel *t;
	int rc;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	rc = cli(&cfg, "client", "--listen", "127.0.0.1:9000", "--target", "[::1]:443", "--key",
		"pkcs11:object=k", "--cert", "cert.pem", "--cacert", "ca.pem", "--pin-credential",
		"pin", "--allow-all", NULL);
	assert_int_equal(chdir(cwd), 0);
	if (rc != 0)
		fail_msg("%s", mtls_err_detail());
	t = cfg->tunnels[0];
	assert_int_equal(t->mode, TUNNEL_CLIENT);
	assert_int_equal(strncmp(t->cert, dir, strlen(dir)), 0);
	assert_string_equal(t->cert + strlen(dir), "/cert.pem");
	assert_int_equal(strncmp(t->cacert, dir, strlen(dir)), 0);
	assert_string_equal(t->server_name, "::1");
	assert_string_equal(cfg->pin_credential, "pin");
	assert_int_equal(t->allow.all, 1);
	assert_int_equal(t->tls_min, 13);
	cfg_free(cfg);
}

static void test_cli_mode_word(void **state)
{
	struct cfg_agent *cfg = (struct cfg_agent *)1;

	cli_fails("expected client or server", "got \"proxy\"", "proxy", "--listen", "h:1");
	assert_int_equal(cfg_from_args(0, NULL, &cfg), MTLS_ERR_CONFIG);
	assert_null(cfg);
	assert_int_equal(cfg_from_args(1, NULL, NULL), MTLS_ERR_ARG);
}

static void test_cli_unknown_options(void **state)
{
	cli_fails("--lisen", "unknown option; did you mean --listen?", "server", "--lisen", "h:1");
	cli_fails("--tls_min", "did you mean --tls-min?", CLI_SERVER, "--tls_min", "1.2");
	cli_fails("--frobnicate", "unknown option (see mtls-agent(8))", CLI_SERVER, "--frobnicate");
	cli_fails("-l", "options are spelled out", "server", "-l", "h:1");
	cli_fails("--lis", "write the option in full: --listen", "server", "--lis", "h:1");
	cli_fails("--handshake", "unknown option", CLI_SERVER, "--handshake", "1");
	cli_fails("--mode", "only in a config file (here the mode is the first word", CLI_SERVER,
		"--mode", "server");
	cli_fails("--allow-pin-value", "only in a config file", CLI_SERVER, "--allow-pin-value",
		"yes");
	cli_fails("--allow-all", "takes no value", CLI_SERVER, "--allow-all=yes");
}

static void test_cli_never_takes_a_pin(void **state)
{
	cli_fails(
		"--pin", "a PIN is never taken from the command line", CLI_SERVER, "--pin", "1234");
	cli_fails("--pin-value", "use --pin-file FILE or --pin-credential NAME", CLI_SERVER,
		"--pin-value=1234");
	cli_fails("--password", "never taken", CLI_SERVER, "--password", "x");
	cli_fails("--key", "the URI carries a pin-value", "server", "--key",
		"pkcs11:object=k?pin-value=1234");
	cli_fails("--key", "use --pin-file", "server", "--key", "pkcs11:object=k?pin%2Dvalue=1");
	cli_fails(
		"--cert", "carries a pin-value", "server", "--cert", "pkcs11:object=k;pin-value=1");
}

static void test_cli_values(void **state)
{
	cli_fails("--listen", "expected a value: HOST:PORT", "server", "--listen");
	cli_fails("--listen", "expected ADDR, got the option \"--target\"", "server", "--listen",
		"--target", "h:1");
	cli_fails("--listen", "given twice", CLI_SERVER, "--listen", "127.0.0.1:1");
	cli_fails("--allow-all", "given twice", CLI_SERVER, "--allow-all", "--allow-all");
	cli_fails("unexpected argument \"extra\"", "", CLI_SERVER, "extra");
	cli_fails("unexpected argument \"after\"", "", CLI_SERVER, "--", "after");
	cli_fails("--tls-min", "expected 1.2 or 1.3, got \"1.1\"", CLI_SERVER, "--tls-min", "1.1");
	cli_fails("--listen", "empty value", "server", "--listen=");
	cli_fails("--key", "expected a PKCS#11 URI", "server", "--key", "/etc/key.pem");
	cli_fails("--metrics-listen", "metrics stay on this machine", CLI_SERVER,
		"--metrics-listen", "10.0.0.1:9100");
}

static void test_cli_checks(void **state)
{
	cli_fails("--cacert", "required: an absolute PEM file name", "server", "--listen",
		"127.0.0.1:8443", "--target", "h:1", "--key", "pkcs11:object=k", "--cert",
		"@D/cert.pem", "--allow-all");
	cli_fails("server", "nothing would be allowed: add --allow-cn NAME", CLI_SERVER);
	cli_fails("--tls-min", "for TLS 1.2 only, add --tls-min 1.2", CLI_SERVER, "--allow-all",
		"--tls-max", "1.2");
	cli_fails("--cert", "No such file", "server", "--listen", "127.0.0.1:8443", "--target",
		"h:1", "--key", "pkcs11:object=k", "--cert", "@D/nope.pem", "--cacert", "@D/ca.pem",
		"--allow-all");
	cli_fails("--server-name", "only for client tunnels", CLI_SERVER, "--allow-all",
		"--server-name", "x.example");
	cli_fails("--pin-credential", "not both", CLI_SERVER, "--allow-all", "--pin-file", "@D/pin",
		"--pin-credential", "pin");
}

static void test_plaintext_legs_stay_local(void **state)
{
	struct cfg_agent *cfg;

	load_fails("[tunnel c]\nmode = client\nlisten = 0.0.0.0:9000\ntarget = h:1\n"
		   "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/ca.pem\n",
		"t.conf:3: listen", "anyone who reaches it could use this tunnel's certificate");
	load_fails("[tunnel c]\nmode = client\nlisten = gw.example:9000\ntarget = h:1\n"
		   "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/ca.pem\n",
		"t.conf:3: listen", "or add unsafe-listen = yes");
	load_fails("[tunnel s]\nmode = server\nlisten = 0.0.0.0:443\ntarget = [2001:db8::1]:80\n"
		   "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/ca.pem\n"
		   "allow-all = yes\n",
		"t.conf:4: target", "would leave this machine unencrypted; forward to 127.0.0.1");
	load_fails(SERVER "unsafe-listen = yes\n", "t.conf:10: unsafe-listen",
		"only for client tunnels");
	load_fails(CLIENT "unsafe-target = yes\n", "t.conf:8: unsafe-target",
		"only for server tunnels");
	cfg = load_ok("[tunnel c]\nmode = client\nlisten = 0.0.0.0:9000\ntarget = h:1\n"
		      "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/ca.pem\n"
		      "unsafe-listen = yes\n"
		      "[tunnel s]\nmode = server\nlisten = 0.0.0.0:443\ntarget = 10.0.0.1:80\n"
		      "key = pkcs11:object=k\ncert = @D/cert.pem\ncacert = @D/ca.pem\n"
		      "allow-all = yes\nunsafe-target = on\n");
	assert_int_equal(cfg->tunnels[0]->unsafe_listen, 1);
	assert_int_equal(cfg->tunnels[0]->unsafe_target, 0);
	assert_int_equal(cfg->tunnels[1]->unsafe_target, 1);
	cfg_free(cfg);
	cli_fails("--target", "or add --unsafe-target", "server", "--listen", "127.0.0.1:8443",
		"--target", "192.0.2.1:80", "--key", "pkcs11:object=k", "--cert", "@D/cert.pem",
		"--cacert", "@D/ca.pem", "--allow-all");
	cfg = NULL;
	assert_int_equal(cli(&cfg, "client", "--listen", "[::]:9000", "--target", "h:1", "--key",
				 "pkcs11:object=k", "--cert", "@D/cert.pem", "--cacert",
				 "@D/ca.pem", "--unsafe-listen", NULL),
		0);
	assert_int_equal(cfg->tunnels[0]->unsafe_listen, 1);
	cfg_free(cfg);
}

/* The caller may have run getopt over the global options already. */
static void test_cli_after_global_getopt(void **state)
{
	char *argv[] = {"mtls-agent", "-v", "server", "--listen", "127.0.0.1:8443", "--target",
		"[::1]:1", "--key", "pkcs11:object=k", "--cert", NULL, "--cacert", NULL,
		"--allow-all", NULL};
	char *cert = expand("@D/cert.pem"), *ca = expand("@D/ca.pem");
	struct cfg_agent *cfg = NULL;
	int c, round;

	argv[10] = cert;
	argv[12] = ca;
	for (round = 0; round < 2; round++) {
		optind = 0;
		opterr = 0;
		c = getopt(14, argv, "+v");
		assert_int_equal(c, 'v');
		assert_int_equal(getopt(14, argv, "+v"), -1);
		assert_int_equal(optind, 2);
		assert_int_equal(cfg_from_args(14 - optind, argv + optind, &cfg), 0);
		assert_int_equal(optind, 2); /* restored */
		assert_string_equal(cfg->tunnels[0]->listen, "127.0.0.1:8443");
		cfg_free(cfg);
		cfg = NULL;
	}
	free(cert);
	free(ca);
}

/* ---- the documents ---- */

static char *read_doc(const char *name)
{
	char path[512], *text;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", MTLS_AGENT_DIR, name);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot read %s", path);
	text = calloc(1, 1 << 20);
	assert_non_null(text);
	n = fread(text, 1, (1 << 20) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

/* The example, with its /etc/mtls-agent/ files in the test directory, loads. */
static void test_example_config_loads(void **state)
{
	static const char etc_dir[] = "/etc/mtls-agent/";
	const size_t n = sizeof(etc_dir) - 1;
	char *text = read_doc("mtls-agent.conf.example"), *p;
	struct cfg_agent *cfg;
	size_t i;

	while ((p = strstr(text, etc_dir)) != NULL) {
		memmove(p + 3, p + n, strlen(p + n) + 1);
		memcpy(p, "@D/", 3);
	}
	cfg = load_ok(text);
	assert_int_equal(cfg->ntunnels, 2);
	assert_string_equal(cfg->pin_credential, "pin");
	assert_int_equal(cfg->tunnels[0]->mode, TUNNEL_SERVER);
	assert_int_equal(cfg->tunnels[1]->mode, TUNNEL_CLIENT);
	cfg_free(cfg);
	/* every option appears in it, set or commented out */
	for (i = 0; i < CFG_NOPT; i++) {
		char line[64];

		snprintf(line, sizeof(line), "\n%s = ", cfg_opts[i].name);
		if (strstr(text, line) == NULL) {
			snprintf(line, sizeof(line), "\n;%s = ", cfg_opts[i].name);
			if (strstr(text, line) == NULL)
				fail_msg("the example lacks %s", cfg_opts[i].name);
		}
	}
	free(text);
}

/* Every option is documented in the man page, in the file section and
 * (unless file-only) as a command-line option. */
static void test_man_page_documents_every_option(void **state)
{
	char *man = read_doc("mtls-agent.8"), esc[64], want[80];
	size_t i, j, n;

	for (i = 0; i < CFG_NOPT; i++) {
		for (j = n = 0; cfg_opts[i].name[j] != '\0' && n + 3 < sizeof(esc); j++) {
			if (cfg_opts[i].name[j] == '-')
				esc[n++] = '\\';
			esc[n++] = cfg_opts[i].name[j];
		}
		esc[n] = '\0';
		snprintf(want, sizeof(want), "\n.BI \"%s = ", esc);
		if (strstr(man, want) == NULL) {
			snprintf(want, sizeof(want), "\n.BR \"%s = ", esc);
			if (strstr(man, want) == NULL)
				fail_msg("mtls-agent.8 lacks an entry for %s", cfg_opts[i].name);
		}
		snprintf(want, sizeof(want), "\\-\\-%s", esc);
		if (!(cfg_opts[i].flags & CFG_F_FILE_ONLY) && strstr(man, want) == NULL)
			fail_msg("mtls-agent.8 lacks --%s", cfg_opts[i].name);
	}
	free(man);
}

/* ---- helpers ---- */

static void test_helpers(void **state)
{
	static const char *const words[] = {"listen", "target", "tls-min"};
	char q[128];

	assert_string_equal(cfg_closest("lsiten", words, 3), "listen");
	assert_string_equal(cfg_closest("TLS-MIN", words, 3), "tls-min");
	assert_null(cfg_closest("completely-different", words, 3));
	assert_null(cfg_closest("a-very-long-option-name-beyond-32-bytes-x", words, 3));
	assert_int_equal(cfg_uri_has_pin_value("pkcs11:object=pin-value"), 1);
	assert_int_equal(cfg_uri_has_pin_value("pkcs11:ppin-value=1"), 1);
	assert_int_equal(cfg_uri_has_pin_value("pkcs11:%70%69%6e%2d%76%61%6c%75%65=1"), 1);
	assert_int_equal(cfg_uri_has_pin_value("pkcs11:pin-source=/x;pin-valu"), 0);
	assert_int_equal(cfg_uri_has_pin_value("pkcs11:%zz%7"), 0);
	assert_string_equal(cfg_quote(q, sizeof(q),
				    "a\x01"
				    "b"),
		"a?b");
	cfg_quote(q, sizeof(q),
		"0123456789012345678901234567890123456789012345678901234567890123456789");
	assert_int_equal(strlen(q), 67);
	assert_string_equal(q + 64, "...");
	assert_string_equal(
		cfg_quote(q, sizeof(q), "x?pin-value=1"), "(a URI with a pin-value, not shown)");
	assert_int_equal(cfg_opt_lookup("listen"), OPT_LISTEN);
	assert_int_equal(cfg_opt_lookup("nope"), CFG_NO_OPT);
	assert_int_equal(cfg_opt_apply(NULL, NULL, OPT_LISTEN, "x", "w"), MTLS_ERR_ARG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file_sets_every_field),
		cmocka_unit_test(test_defaults_and_client_server_name),
		cmocka_unit_test(test_syntax_variants_are_accepted),
		cmocka_unit_test(test_value_forms),
		cmocka_unit_test(test_many_tunnels_and_rules_up_to_the_bounds),
		cmocka_unit_test(test_pin_value_allowed_in_file_when_agent_says_so),
		cmocka_unit_test(test_section_errors),
		cmocka_unit_test(test_empty_tunnel_section_is_reported),
		cmocka_unit_test(test_option_errors),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_nul_and_control_bytes),
		cmocka_unit_test(test_too_many_tunnels_and_rules),
		cmocka_unit_test(test_bad_tunnel_values),
		cmocka_unit_test(test_bad_paths_and_uris),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_bad_agent_values),
		cmocka_unit_test(test_required_options),
		cmocka_unit_test(test_files_must_be_readable),
		cmocka_unit_test(test_tls_order),
		cmocka_unit_test(test_allow_rules),
		cmocka_unit_test(test_server_names),
		cmocka_unit_test(test_listen_addresses_must_differ),
		cmocka_unit_test(test_plaintext_legs_stay_local),
		cmocka_unit_test(test_pin_sources),
		cmocka_unit_test(test_pin_value_in_file_refused_without_allow),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_load_file_errors),
		cmocka_unit_test(test_check_names_tunnel_without_lines),
		cmocka_unit_test(test_check_duplicate_names_without_lines),
		cmocka_unit_test(test_cli_server_every_option),
		cmocka_unit_test(test_cli_client_relative_paths_and_defaults),
		cmocka_unit_test(test_cli_mode_word),
		cmocka_unit_test(test_cli_unknown_options),
		cmocka_unit_test(test_cli_never_takes_a_pin),
		cmocka_unit_test(test_cli_values),
		cmocka_unit_test(test_cli_checks),
		cmocka_unit_test(test_cli_after_global_getopt),
		cmocka_unit_test(test_example_config_loads),
		cmocka_unit_test(test_man_page_documents_every_option),
		cmocka_unit_test(test_helpers),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
