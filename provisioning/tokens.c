/* mtls-provision tokens [--module PATH|NAME]
 *
 * Modules (the ones p11-kit has registered, or the one named), their
 * slots and tokens with the flags that decide a login (PIN count low,
 * final try, locked, PIN pad), the mechanisms mtls uses, and per key type
 * whether it can be made here and sign for TLS 1.3 and TLS 1.2 (decision
 * 4: RSA needs RSA-PSS, or raw RSA that the agent pads, for TLS 1.3). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmds.h"
#include "keycmd.h"
#include "mtls/err.h"
#include "mtls/p11_admin.h"

static const char usage_text[] =
	"usage: mtls-provision tokens [--module PATH|NAME]\n"
	"  Lists PKCS#11 modules, slots, tokens, token flags, the mechanisms mtls uses and,\n"
	"  per key type, whether the token can make it and sign with it for TLS 1.3/1.2.\n"
	"  --module PATH|NAME  only this module (a path, or a p11-kit registered name);\n"
	"                      default: every module p11-kit has registered\n";

static const char *yes(int v)
{
	return v ? "yes" : "no";
}

static void print_flags(const struct p11_admin_token_info *t)
{
	unsigned f = t->flags;

	printf("    flags: login %s, user PIN %s, PIN count low %s, final try %s, PIN locked %s, "
	       "protected auth path %s%s%s\n",
		(f & P11_TOKF_LOGIN_REQUIRED) ? "required" : "not required",
		(f & P11_TOKF_USER_PIN_INITIALIZED) ? "set" : "not set",
		yes(f & P11_TOKF_PIN_COUNT_LOW), yes(f & P11_TOKF_PIN_FINAL_TRY),
		yes(f & P11_TOKF_PIN_LOCKED), yes(f & P11_TOKF_PROTECTED_AUTH_PATH),
		(f & P11_TOKF_PIN_TO_BE_CHANGED) ? ", PIN to be changed" : "",
		(f & P11_TOKF_WRITE_PROTECTED) ? ", write-protected" : "");
}

static void print_mechs(const struct p11_admin_slot *s)
{
	const struct p11_admin_mech_info *m;
	char sizes[48];
	int i;

	printf("    %-26s %-8s %-5s %-7s %s\n", "mechanism", "present", "sign", "keygen",
		"key sizes (bits)");
	for (i = 0; i < P11_MECH_COUNT; i++) {
		m = &s->mech[i];
		if (!m->present) {
			printf("    %-26s %-8s %-5s %-7s %s\n", p11_admin_mech_name(i), "no", "-",
				"-", "-");
			continue;
		}
		if (m->flags & P11_MECHF_NO_INFO)
			snprintf(sizes, sizeof(sizes), "(not reported)");
		else
			snprintf(sizes, sizeof(sizes), "%lu-%lu", m->min_bits, m->max_bits);
		printf("    %-26s %-8s %-5s %-7s %s\n", p11_admin_mech_name(i), "yes",
			(m->flags & P11_MECHF_NO_INFO) ? "?" : yes(m->flags & P11_MECHF_SIGN),
			(m->flags & P11_MECHF_NO_INFO)
				? "?"
				: yes(m->flags & P11_MECHF_GENERATE_KEY_PAIR),
			sizes);
	}
}

/* Can the mechanism be used for this (listed, and the flag and size fit
 * as far as the module says)? */
static int usable(const struct p11_admin_mech_info *m, unsigned flag, unsigned long bits)
{
	if (!m->present)
		return 0;
	if (m->flags & P11_MECHF_NO_INFO)
		return 1;
	if (!(m->flags & flag))
		return 0;
	/* EC sizes are reported inconsistently (bits or bytes): check RSA only. */
	return bits == 0 || m->max_bits == 0 || (bits >= m->min_bits && bits <= m->max_bits);
}

struct keytype {
	const char *name;
	int ec;
	unsigned long bits;
};

static void print_keytypes(const struct p11_admin_slot *s)
{
	static const struct keytype types[] = {{"ec-p256", 1, 0}, {"ec-p384", 1, 0},
		{"rsa-2048", 0, 2048}, {"rsa-3072", 0, 3072}, {"rsa-4096", 0, 4096}};
	const struct p11_admin_mech_info *m = s->mech;
	int gen, pss, raw, pkcs1, ecdsa;
	size_t i;

	printf("    %-10s %-7s %-8s %-8s %s\n", "key type", "keygen", "TLS 1.3", "TLS 1.2",
		"signs with");
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const struct keytype *t = &types[i];

		if (t->ec) {
			gen = usable(&m[P11_MECH_EC_KEYGEN], P11_MECHF_GENERATE_KEY_PAIR, 0);
			ecdsa = usable(&m[P11_MECH_ECDSA], P11_MECHF_SIGN, 0);
			printf("    %-10s %-7s %-8s %-8s %s\n", t->name, yes(gen), yes(ecdsa),
				yes(ecdsa), ecdsa ? "CKM_ECDSA" : "nothing: no CKM_ECDSA");
			continue;
		}
		gen = usable(&m[P11_MECH_RSA_KEYGEN], P11_MECHF_GENERATE_KEY_PAIR, t->bits);
		pss = usable(&m[P11_MECH_RSA_PSS], P11_MECHF_SIGN, t->bits);
		raw = usable(&m[P11_MECH_RSA_X509], P11_MECHF_SIGN, t->bits);
		pkcs1 = usable(&m[P11_MECH_RSA_PKCS], P11_MECHF_SIGN, t->bits);
		printf("    %-10s %-7s %-8s %-8s %s\n", t->name, yes(gen), yes(pss || raw),
			yes(pss || raw || pkcs1),
			pss           ? "CKM_RSA_PKCS_PSS"
				: raw ? "CKM_RSA_X_509 (the agent pads RSA-PSS itself)"
				: pkcs1
				? "CKM_RSA_PKCS only: TLS 1.2 with PKCS#1 signatures, no TLS 1.3"
				: "nothing: no RSA signature mechanism");
	}
}

static void print_slot(const struct p11_admin_slot *s)
{
	const struct p11_admin_token_info *t = &s->token;

	printf("  slot %lu: \"%s\"%s%s\n", s->id, s->description, s->removable ? ", removable" : "",
		s->hardware ? ", hardware" : "");
	if (!s->has_token) {
		printf("    no token\n");
		return;
	}
	if (s->token_error != 0) {
		printf("    token present, but C_GetTokenInfo failed: %s\n",
			mtls_strerror(s->token_error));
		return;
	}
	if (!(t->flags & P11_TOKF_INITIALIZED)) {
		printf("    token not initialised (manufacturer \"%s\", model \"%s\")\n",
			t->manufacturer, t->model);
		return;
	}
	printf("    token \"%s\": serial %s, manufacturer \"%s\", model \"%s\"\n", t->label,
		t->serial, t->manufacturer, t->model);
	print_flags(t);
	printf("    %lu mechanisms in all; those mtls uses:\n", s->nmechs);
	print_mechs(s);
	print_keytypes(s);
}

/* One module; 0 or the error (already printed). */
static int list_module(const char *name, const char *module)
{
	struct p11_admin_module_info info;
	struct p11_admin_slot *slots;
	size_t n, i;
	int rc;

	rc = p11_admin_module_slots(module, &info, &slots, &n);
	if (rc != 0) {
		fflush(stdout);
		fprintf(stderr, "mtls-provision tokens: module %s%s%s cannot be used: %s: %s\n",
			name ? name : "", name ? " " : "", module, mtls_strerror(rc),
			mtls_err_detail());
		return rc;
	}
	printf("module %s%s%s\n", name ? name : "", name ? " " : "", info.path);
	printf("  library \"%s\" %u.%u by \"%s\", Cryptoki %u.%u; %zu slot%s\n", info.description,
		info.lib_major, info.lib_minor, info.manufacturer, info.ck_major, info.ck_minor, n,
		n == 1 ? "" : "s");
	for (i = 0; i < n; i++)
		print_slot(&slots[i]);
	free(slots);
	return 0;
}

static int list_registered(void)
{
	struct p11_admin_module *mods;
	size_t n, i, failed = 0;
	int rc;

	rc = p11_admin_registered(&mods, &n);
	if (rc != 0)
		return keycmd_fail("tokens", "listing p11-kit's registered modules", rc);
	if (n == 0)
		printf("p11-kit has no modules registered; name one with --module PATH\n");
	for (i = 0; i < n; i++) {
		if (i > 0)
			printf("\n");
		if (list_module(mods[i].name, mods[i].path) != 0)
			failed++;
	}
	free(mods);
	if (failed > 0)
		fprintf(stderr,
			"mtls-provision tokens: %zu of %zu modules could not be used (see above)\n",
			failed, n);
	return failed > 0 ? 1 : 0;
}

int cmd_tokens(int argc, char **argv)
{
	static const struct option opts[] = {
		{"module", 1, 0, 'm'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
	const char *module = NULL;
	int c;

	keycmd_getopt_reset();
	while ((c = keycmd_getopt(argc, argv, opts)) != -1) {
		switch (c) {
		case 'm': module = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return keycmd_bad_option("tokens", argc, argv);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "mtls-provision tokens: unexpected argument '%s'\n%s", argv[optind],
			usage_text);
		return 2;
	}
	if (module == NULL)
		return list_registered();
	if (module[0] == '\0') {
		fprintf(stderr, "mtls-provision tokens: --module needs a path or a name\n");
		return 2;
	}
	return list_module(NULL, module) == 0 ? 0 : 1;
}
