/* mtls-provision status --key URI [--cert FILE] [--json]
 *
 * The key's attributes as the token reports them, and every certificate
 * that belongs to it (on the token with the key's CKA_ID, and/or a file):
 * subject, SANs, issuer, validity, days left, and whether it holds the
 * key's public key. Exit 1 if a certificate does not match the key or is
 * outside its validity. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certinfo.h"
#include "cmds.h"
#include "keycmd.h"
#include "mtls/err.h"
#include "mtls/p11_admin.h"

#define CERTS_MAX 17 /* the token's (at most 16) and a file */

static const char usage_text[] =
	"usage: mtls-provision status --key URI [--cert FILE] [--json]\n"
	"                             " KEYCMD_PIN_USAGE "\n"
	"  Shows the key's attributes and its certificates: those on the token with the\n"
	"  key's CKA_ID and the one in FILE (PEM or DER): subject, SANs, issuer, validity,\n"
	"  days left, and whether each holds the key's public key.\n"
	"  --json   one JSON object on stdout instead of text\n"
	"  Exit 1 if a certificate does not match the key or is outside its validity.\n";

struct status_cert {
	char source[300]; /* "token" or "file:PATH" */
	int ok; /* parsed */
	char error[256];
	struct certinfo ci;
	int matches; /* 1, 0, or -1: the key's public key cannot be read */
	long days_left;
};

struct status {
	struct p11_admin_key_info key;
	char uri[1024];
	struct status_cert certs[CERTS_MAX];
	size_t ncerts;
	time_t now;
};

static const char *tristate(int v)
{
	return v < 0 ? "unknown" : v ? "yes" : "no";
}

static const char *json_bool(int v)
{
	return v < 0 ? "null" : v ? "true" : "false";
}

static const char *type_name(const struct p11_admin_key_info *k)
{
	switch (k->type) {
	case P11_KEY_EC_P256: return "EC P-256";
	case P11_KEY_EC_P384: return "EC P-384";
	case P11_KEY_RSA: return "RSA";
	default: return "unknown";
	}
}

/* Can the key sign for TLS 1.3 / 1.2 on its token (decision 4)? */
static int can_tls13(unsigned caps, enum p11_key_type t)
{
	if (t == P11_KEY_RSA)
		return (caps & (P11_CAP_RSA_PSS | P11_CAP_RSA_RAW)) != 0;
	return (caps & P11_CAP_ECDSA) != 0;
}

static int can_tls12(unsigned caps, enum p11_key_type t)
{
	if (t == P11_KEY_RSA)
		return (caps & (P11_CAP_RSA_PSS | P11_CAP_RSA_RAW | P11_CAP_RSA_PKCS1)) != 0;
	return (caps & P11_CAP_ECDSA) != 0;
}

static void add_cert(struct status *st, const char *source, const uint8_t *der, size_t len,
	const uint8_t *spki, size_t spki_len)
{
	struct status_cert *c;
	int rc;

	if (st->ncerts >= CERTS_MAX)
		return;
	c = &st->certs[st->ncerts++];
	snprintf(c->source, sizeof(c->source), "%s", source);
	rc = certinfo_parse(der, len, &c->ci);
	if (rc != 0) {
		snprintf(
			c->error, sizeof(c->error), "%s: %s", mtls_strerror(rc), mtls_err_detail());
		return;
	}
	c->ok = 1;
	c->matches = spki == NULL ? -1 : certinfo_same_key(&c->ci, spki, spki_len);
	c->days_left = certinfo_days_left(&c->ci, st->now);
}

static int gather_certs(struct p11_key *key, const char *cert_file, struct status *st)
{
	uint8_t **certs, *spki = NULL, *der;
	size_t *lens, n, i, spki_len = 0, len;
	char source[300];
	int rc;

	/* Without it the certificates are still shown, their match unknown. */
	rc = p11_key_public_der(key, &spki, &spki_len);
	if (rc != 0)
		fprintf(stderr,
			"mtls-provision status: the key's public key cannot be read, so no "
			"certificate can be compared with it: %s\n",
			mtls_err_detail());
	rc = p11_key_certs(key, &certs, &lens, &n);
	if (rc != 0) {
		free(spki);
		return keycmd_fail("status", "reading certificates from the token", rc);
	}
	for (i = 0; i < n; i++)
		add_cert(st, "token", certs[i], lens[i], spki, spki_len);
	p11_certs_free(certs, lens, n);
	if (cert_file != NULL) {
		rc = certinfo_load_file(cert_file, &der, &len);
		if (rc != 0) {
			free(spki);
			return keycmd_fail("status", "reading --cert", rc);
		}
		snprintf(source, sizeof(source), "file:%s", cert_file);
		add_cert(st, source, der, len, spki, spki_len);
		free(der);
	}
	free(spki);
	return 0;
}

static void text_key(const struct status *st)
{
	const struct p11_admin_key_info *k = &st->key;
	char id[2 * P11_ADMIN_ID_MAX + 1];

	keycmd_hex(id, sizeof(id), k->id, k->idlen);
	printf("key %s\n", st->uri);
	printf("  token              \"%s\" serial %s\n", k->token.label, k->token.serial);
	printf("  type               %s, %u bits\n", type_name(k), k->bits);
	printf("  id                 %s%s\n", k->idlen ? id : "(none)", k->idcut ? "..." : "");
	printf("  label              %s\n", k->label);
	printf("  sensitive          %s\n", tristate(k->sensitive));
	printf("  always sensitive   %s\n", tristate(k->always_sensitive));
	printf("  never extractable  %s\n", tristate(k->never_extractable));
	printf("  extractable        %s\n", tristate(k->extractable));
	printf("  TLS 1.3 / 1.2      %s / %s on this token\n",
		tristate(can_tls13(k->caps, k->type)), tristate(can_tls12(k->caps, k->type)));
}

static void text_cert(const struct status_cert *c)
{
	char nb[40], na[40];
	size_t i;

	printf("certificate (%s)\n", c->source);
	if (!c->ok) {
		printf("  unreadable         %s\n", c->error);
		return;
	}
	certinfo_time(nb, sizeof(nb), c->ci.not_before);
	certinfo_time(na, sizeof(na), c->ci.not_after);
	printf("  subject            %s\n", c->ci.subject);
	printf("  SANs               ");
	for (i = 0; i < c->ci.nsans; i++)
		printf("%s%s", i ? ", " : "", c->ci.sans[i]);
	printf("%s\n", c->ci.nsans == 0 ? "(none)" : c->ci.sans_cut ? ", ..." : "");
	printf("  issuer             %s\n", c->ci.issuer);
	printf("  serial             %s\n", c->ci.serial);
	printf("  not before         %s\n", nb);
	printf("  not after          %s\n", na);
	printf("  days left          %ld%s\n", c->days_left, c->days_left < 0 ? " (expired)" : "");
	printf("  matches key        %s\n",
		c->matches < 0       ? "unknown (no public key to compare)"
			: c->matches ? "yes"
				     : "NO: another key's certificate");
}

static void print_text(const struct status *st)
{
	size_t i;

	text_key(st);
	if (st->ncerts == 0)
		printf("certificate: none on the token with the key's id, and no --cert given\n");
	for (i = 0; i < st->ncerts; i++)
		text_cert(&st->certs[i]);
}

static void json_key(const struct status *st)
{
	const struct p11_admin_key_info *k = &st->key;
	char id[2 * P11_ADMIN_ID_MAX + 1];

	keycmd_hex(id, sizeof(id), k->id, k->idlen);
	printf("{\"key\":{\"uri\":");
	keycmd_json_str(stdout, st->uri);
	printf(",\"token\":");
	keycmd_json_str(stdout, k->token.label);
	printf(",\"serial\":");
	keycmd_json_str(stdout, k->token.serial);
	printf(",\"type\":\"%s\",\"curve\":%s,\"bits\":%u,\"id\":\"%s\",\"label\":",
		k->type == P11_KEY_RSA ? "rsa" : "ec",
		k->type == P11_KEY_EC_P256           ? "\"P-256\""
			: k->type == P11_KEY_EC_P384 ? "\"P-384\""
						     : "null",
		k->bits, id);
	keycmd_json_str(stdout, k->label);
	printf(",\"sensitive\":%s,\"always_sensitive\":%s,\"never_extractable\":%s,"
	       "\"extractable\":%s,\"tls13\":%s,\"tls12\":%s}",
		json_bool(k->sensitive), json_bool(k->always_sensitive),
		json_bool(k->never_extractable), json_bool(k->extractable),
		json_bool(can_tls13(k->caps, k->type)), json_bool(can_tls12(k->caps, k->type)));
}

static void json_cert(const struct status_cert *c)
{
	char nb[40], na[40];
	size_t i;

	printf("{\"source\":");
	keycmd_json_str(stdout, c->source);
	if (!c->ok) {
		printf(",\"error\":");
		keycmd_json_str(stdout, c->error);
		printf("}");
		return;
	}
	certinfo_time_iso(nb, sizeof(nb), c->ci.not_before);
	certinfo_time_iso(na, sizeof(na), c->ci.not_after);
	printf(",\"subject\":");
	keycmd_json_str(stdout, c->ci.subject);
	printf(",\"issuer\":");
	keycmd_json_str(stdout, c->ci.issuer);
	printf(",\"serial\":\"%s\",\"sans\":[", c->ci.serial);
	for (i = 0; i < c->ci.nsans; i++) {
		printf(i ? "," : "");
		keycmd_json_str(stdout, c->ci.sans[i]);
	}
	printf("],\"not_before\":\"%s\",\"not_after\":\"%s\",\"days_left\":%ld,"
	       "\"matches_key\":%s}",
		nb, na, c->days_left, json_bool(c->matches));
}

static void print_json(const struct status *st)
{
	size_t i;

	json_key(st);
	printf(",\"certificates\":[");
	for (i = 0; i < st->ncerts; i++) {
		printf(i ? "," : "");
		json_cert(&st->certs[i]);
	}
	printf("]}\n");
}

/* 1 if some certificate is unreadable, for another key or not valid now. */
static int any_bad(const struct status *st)
{
	size_t i;

	for (i = 0; i < st->ncerts; i++) {
		const struct status_cert *c = &st->certs[i];

		if (!c->ok || c->matches != 1 || st->now < c->ci.not_before ||
			st->now > c->ci.not_after)
			return 1;
	}
	return 0;
}

struct status_args {
	const char *key, *cert;
	int json;
	struct p11_options opt;
};

static int parse(int argc, char **argv, struct status_args *a)
{
	static const struct option opts[] = {{"key", 1, 0, 'k'}, {"cert", 1, 0, 'c'},
		{"json", 0, 0, 'j'}, {"help", 0, 0, 'h'}, {"pin-file", 1, 0, KEYCMD_OPT_PIN_FILE},
		{"pin-credential", 1, 0, KEYCMD_OPT_PIN_CREDENTIAL}, {0, 0, 0, 0}};
	int c, r;

	keycmd_getopt_reset();
	while ((c = keycmd_getopt(argc, argv, opts)) != -1) {
		if ((r = keycmd_pin_option("status", c, optarg, &a->opt)) != 0) {
			if (r < 0)
				return 2;
			continue;
		}
		switch (c) {
		case 'k': a->key = optarg; break;
		case 'c': a->cert = optarg; break;
		case 'j': a->json = 1; break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: return keycmd_bad_option("status", argc, argv);
		}
	}
	if (optind != argc || a->key == NULL) {
		fprintf(stderr, "mtls-provision status: %s\n%s",
			a->key == NULL ? "--key is required" : "unexpected argument", usage_text);
		return 2;
	}
	return 0;
}

static int show(struct p11_key *key, const struct status_args *a, struct status *st)
{
	int rc;

	rc = p11_admin_key_info(key, &st->key);
	if (rc != 0)
		return keycmd_fail("status", "reading the key's attributes", rc);
	rc = gather_certs(key, a->cert, st);
	if (rc != 0)
		return rc;
	if (a->json)
		print_json(st);
	else
		print_text(st);
	return any_bad(st);
}

int cmd_status(int argc, char **argv)
{
	struct status_args a;
	struct status *st;
	struct p11_key *key;
	size_t i;
	int rc;

	memset(&a, 0, sizeof(a));
	rc = parse(argc, argv, &a);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	rc = p11_key_open(a.key, &a.opt, &key);
	if (rc != 0)
		return keycmd_fail("status", "opening the key", rc);
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		p11_key_free(key);
		return keycmd_fail("status", "status", MTLS_ERR_NOMEM);
	}
	st->now = time(NULL);
	snprintf(st->uri, sizeof(st->uri), "%s", a.key);
	rc = show(key, &a, st);
	for (i = 0; i < st->ncerts; i++)
		certinfo_free(&st->certs[i].ci);
	free(st);
	p11_key_free(key);
	return rc;
}
