/* mtls-provision doctor --key URI [--cert FILE]
 *
 * Walks the way the agent goes, one step at a time: module -> token ->
 * login -> key -> certificate -> mechanisms. Each step prints ok, warn or
 * FAIL with what was found; the first failure also says what to do. A
 * step that needs an earlier one is skipped after that one failed. One
 * login attempt at most, and no signature. Exit 1 if a step failed. */
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

static const char usage_text[] =
	"usage: mtls-provision doctor --key URI [--cert FILE]\n"
	"                             " KEYCMD_PIN_USAGE "\n"
	"  Checks module, token, login, key, certificate and mechanisms in turn and says\n"
	"  which step fails and what to do. The certificate is FILE if given, else the one\n"
	"  on the token with the key's CKA_ID. One login attempt at most; no signature.\n";

struct doctor {
	const char *uri, *cert_file;
	struct p11_options opt;
	int failed; /* a step failed: later advice is not printed */
	struct p11_token *tok;
	struct p11_key *key;
	int key_rc;
	size_t nsteps; /* steps printed so far, in order */
	int usage; /* the URI itself is wrong: exit 2 */
};

/* One line per step; the first FAIL carries the advice. */
static void step(
	struct doctor *d, const char *name, const char *verdict, const char *what, const char *todo)
{
	printf("%-12s %-5s %s\n", name, verdict, what);
	d->nsteps++;
	if (strcmp(verdict, "FAIL") == 0 && !d->failed && todo != NULL)
		printf("%-12s %-5s %s\n", "", "do", todo);
	if (strcmp(verdict, "FAIL") == 0)
		d->failed = 1;
}

static void step_failed(struct doctor *d, const char *name, int rc, const char *todo)
{
	char what[768];

	snprintf(what, sizeof(what), "%s: %s", mtls_strerror(rc), mtls_err_detail());
	step(d, name, "FAIL", what, todo);
}

static void skipped(struct doctor *d, const char *name)
{
	step(d, name, "skip", "(an earlier step failed)", NULL);
}

static int check_module(struct doctor *d)
{
	struct p11_admin_module_info mi;
	char what[1200];
	int rc;

	rc = p11_admin_module_check(d->uri, &mi);
	if (rc == MTLS_ERR_URI) {
		step_failed(d, "uri", rc,
			"fix the PKCS#11 URI (RFC 7512), e.g. pkcs11:token=T;"
			"object=K;type=private?module-path=/path/to/module.so");
		d->nsteps = 0; /* not one of the six: they are all still to come */
		d->usage = 1;
		return rc;
	}
	if (rc != 0) {
		step_failed(d, "module", rc,
			"install the package that provides the module, or fix module-path / "
			"module-name in the URI (mtls-provision tokens lists the registered ones)");
		return rc;
	}
	snprintf(what, sizeof(what), "%s (\"%s\" %u.%u by \"%s\", Cryptoki %u.%u)", mi.path,
		mi.description, mi.lib_major, mi.lib_minor, mi.manufacturer, mi.ck_major,
		mi.ck_minor);
	step(d, "module", "ok", what, NULL);
	return 0;
}

static const char *token_advice(int rc)
{
	switch (rc) {
	case MTLS_ERR_NO_TOKEN:
	case MTLS_ERR_TOKEN_ABSENT:
		return "insert the token (or start its service), or fix token=/serial= in the URI; "
		       "mtls-provision tokens --module PATH lists the tokens the module sees";
	case MTLS_ERR_AMBIGUOUS: return "add serial= (or slot-id=) to the URI to pick one token";
	default: return "see the error above; mtls-provision tokens shows what the module reports";
	}
}

static const char *login_advice(int rc)
{
	switch (rc) {
	case MTLS_ERR_PIN_SOURCE:
		return "make the PIN file readable by this user only (chmod 0600), or point "
		       "--pin-file / --pin-credential / pin-source= at the right one";
	case MTLS_ERR_PIN_INCORRECT:
		return "put the right user PIN in the PIN source; each wrong attempt brings the "
		       "token closer to locking, so do not retry blindly";
	case MTLS_ERR_PIN_LOCKED:
		return "the PIN is locked or on its last try: unlock or reset it with the SO PIN "
		       "(e.g. pkcs11-tool --login --login-type so --init-pin) and fix the PIN "
		       "source";
	default: return "see the error above";
	}
}

static int check_token(struct doctor *d)
{
	struct p11_admin_slot slot;
	char what[512];
	int rc;

	rc = p11_token_open(d->uri, &d->opt, &d->tok);
	if (rc == MTLS_ERR_PIN_SOURCE || rc == MTLS_ERR_PIN_INCORRECT ||
		rc == MTLS_ERR_PIN_LOCKED) {
		step(d, "token", "ok", "found (the PIN source could not be used)", NULL);
		step_failed(d, "login", rc, login_advice(rc));
		return rc;
	}
	if (rc != 0) {
		step_failed(d, "token", rc, token_advice(rc));
		return rc;
	}
	rc = p11_admin_token_slot(d->tok, &slot);
	if (rc != 0) {
		step_failed(d, "token", rc, token_advice(rc));
		return rc;
	}
	snprintf(what, sizeof(what), "\"%s\" serial %s in slot %lu (%s, %s)", slot.token.label,
		slot.token.serial, slot.id, slot.token.manufacturer, slot.token.model);
	step(d, "token", "ok", what, NULL);
	return 0;
}

static int check_login(struct doctor *d)
{
	struct p11_admin_slot slot;
	int rc, in;
	unsigned f;

	if (p11_admin_token_slot(d->tok, &slot) != 0)
		slot.token.flags = 0;
	f = slot.token.flags;
	rc = p11_admin_login(d->tok, &in);
	if (rc != 0) {
		step_failed(d, "login", rc, login_advice(rc));
		return rc;
	}
	if (!in && (f & P11_TOKF_LOGIN_REQUIRED)) {
		step(d, "login", "FAIL",
			"the token needs a login and no PIN source was given: its private keys "
			"are hidden",
			"give --pin-file FILE (mode 0600), --pin-credential NAME or pin-source= in the "
			"URI");
		return MTLS_ERR_PIN_SOURCE;
	}
	step(d, "login", (f & P11_TOKF_PIN_COUNT_LOW) ? "warn" : "ok",
		!in ? "not needed: the token requires no login"
			: (f & P11_TOKF_PIN_COUNT_LOW)
			? "logged in, but the token counts wrong PIN attempts (PIN count low)"
			: "logged in",
		NULL);
	return 0;
}

static void key_line(struct doctor *d)
{
	struct p11_admin_key_info k;
	char what[512], id[2 * P11_ADMIN_ID_MAX + 1];
	int safe;

	if (p11_admin_key_info(d->key, &k) != 0) {
		step(d, "key", "ok", "found (its attributes cannot be read)", NULL);
		return;
	}
	keycmd_hex(id, sizeof(id), k.id, k.idlen);
	safe = k.sensitive == 1 && k.always_sensitive == 1 && k.never_extractable == 1 &&
		k.extractable == 0;
	snprintf(what, sizeof(what), "%s %u bits, id %s, label \"%s\"%s",
		k.type == P11_KEY_RSA ? "RSA" : "EC", k.bits, k.idlen ? id : "(none)", k.label,
		safe ? ", sensitive and never extractable"
		     : ": NOT provably non-exportable (sensitive, always sensitive, never "
		       "extractable must be yes; see mtls-provision status)");
	step(d, "key", safe ? "ok" : "warn", what, NULL);
}

static int check_key(struct doctor *d)
{
	int rc;

	rc = p11_key_open(d->uri, &d->opt, &d->key);
	d->key_rc = rc;
	if (rc == MTLS_ERR_MECHANISM) { /* found, but nothing on the token signs with it */
		step(d, "key", "ok", "found (its mechanisms are checked below)", NULL);
		return 0;
	}
	if (rc != 0) {
		step_failed(d, "key", rc,
			rc == MTLS_ERR_AMBIGUOUS
				? "add id= to the URI to pick one key"
				: "check object=/id= in the URI (pkcs11-tool --login --list-objects "
				  "--type privkey lists the keys), or make one with mtls-provision "
				  "keygen");
		return rc;
	}
	key_line(d);
	return 0;
}

/* One certificate: ok if it holds the key and is valid now. */
static int judge_cert(struct doctor *d, const char *source, const uint8_t *der, size_t len,
	const uint8_t *spki, size_t spki_len)
{
	struct certinfo ci;
	char what[1024], na[40];
	time_t now = time(NULL);
	int rc;

	rc = certinfo_parse(der, len, &ci);
	if (rc != 0) {
		snprintf(what, sizeof(what), "%s: unreadable: %s", source, mtls_err_detail());
		step(d, "certificate", "FAIL", what,
			"replace it with a DER or PEM X.509 certificate");
		return rc;
	}
	certinfo_time(na, sizeof(na), ci.not_after);
	rc = MTLS_ERR_KEY;
	if (!certinfo_same_key(&ci, spki, spki_len)) {
		snprintf(what, sizeof(what), "%s (%s) holds another public key than the token key",
			source, ci.subject);
		step(d, "certificate", "FAIL", what,
			"get a certificate for this key (mtls-provision csr, then import), or point "
			"--key at the key this certificate was made for");
	} else if (now > ci.not_after || now < ci.not_before) {
		snprintf(what, sizeof(what), "%s (%s) is %s (valid until %s)", source, ci.subject,
			now > ci.not_after ? "expired" : "not valid yet", na);
		step(d, "certificate", "FAIL", what, "renew it (mtls-provision renew or enroll)");
	} else {
		snprintf(what, sizeof(what), "%s (%s) matches the key, valid until %s (%ld days)",
			source, ci.subject, na, certinfo_days_left(&ci, now));
		step(d, "certificate", "ok", what, NULL);
		rc = 0;
	}
	certinfo_free(&ci);
	return rc;
}

static int check_cert_file(struct doctor *d, const uint8_t *spki, size_t spki_len)
{
	char source[300];
	uint8_t *der;
	size_t len;
	int rc;

	rc = certinfo_load_file(d->cert_file, &der, &len);
	if (rc != 0) {
		step_failed(d, "certificate", rc, "check the --cert path and its permissions");
		return rc;
	}
	snprintf(source, sizeof(source), "%s", d->cert_file);
	rc = judge_cert(d, source, der, len, spki, spki_len);
	free(der);
	return rc;
}

/* The token's certificates with the key's id: exactly one, for the key
 * and valid now (the agent takes the one with the key's CKA_ID and refuses
 * several unless its cert URI names one). */
static int check_cert_token(struct doctor *d, const uint8_t *spki, size_t spki_len)
{
	uint8_t **certs;
	size_t *lens, n, i;
	char what[160];
	int rc;

	rc = p11_key_certs(d->key, &certs, &lens, &n);
	if (rc != 0) {
		step_failed(d, "certificate", rc, "see the error above");
		return rc;
	}
	if (n == 0) {
		step(d, "certificate", "FAIL",
			"none on the token with the key's CKA_ID, and no --cert FILE given",
			"import one (mtls-provision import --key URI --cert FILE --to-token), or "
			"name the file with --cert");
		rc = MTLS_ERR_NO_OBJECT;
	} else if (n > 1) {
		snprintf(what, sizeof(what), "%zu certificates on the token have the key's CKA_ID",
			n);
		step(d, "certificate", "FAIL", what,
			"delete the stale ones (pkcs11-tool --list-objects --type cert), or name one "
			"with object= in the agent's certificate URI");
		rc = MTLS_ERR_AMBIGUOUS;
	}
	for (i = 0; i < n; i++)
		if (judge_cert(d, "the token's certificate", certs[i], lens[i], spki, spki_len) !=
			0)
			rc = MTLS_ERR_KEY;
	p11_certs_free(certs, lens, n);
	return rc;
}

static int check_cert(struct doctor *d)
{
	uint8_t *spki;
	size_t spki_len;
	int rc;

	if (d->key == NULL) {
		step(d, "certificate", "skip", "(the key cannot sign here: see mechanisms)", NULL);
		return 0;
	}
	rc = p11_key_public_der(d->key, &spki, &spki_len);
	if (rc != 0) {
		step_failed(d, "certificate", rc,
			"the token shows no public key for this key: store the public key object "
			"with the same CKA_ID");
		return rc;
	}
	rc = d->cert_file != NULL ? check_cert_file(d, spki, spki_len)
				  : check_cert_token(d, spki, spki_len);
	free(spki);
	return rc;
}

static void check_mechs(struct doctor *d)
{
	unsigned caps;

	if (d->key == NULL && d->key_rc == MTLS_ERR_MECHANISM) {
		step(d, "mechanisms", "FAIL", mtls_err_detail(),
			"use a key type the token can sign with (mtls-provision tokens shows "
			"which), e.g. keygen --type ec-p256");
		return;
	}
	if (d->key == NULL) {
		skipped(d, "mechanisms");
		return;
	}
	caps = p11_key_caps(d->key);
	if (p11_key_type(d->key) != P11_KEY_RSA)
		step(d, "mechanisms", "ok", "CKM_ECDSA: TLS 1.3 and TLS 1.2", NULL);
	else if (caps & P11_CAP_RSA_PSS)
		step(d, "mechanisms", "ok", "CKM_RSA_PKCS_PSS: TLS 1.3 and TLS 1.2", NULL);
	else if (caps & P11_CAP_RSA_RAW)
		step(d, "mechanisms", "warn",
			"no CKM_RSA_PKCS_PSS on the token: the agent pads RSA-PSS itself and signs "
			"with raw RSA (CKM_RSA_X_509); TLS 1.3 and TLS 1.2 work",
			NULL);
	else
		step(d, "mechanisms", "FAIL",
			"RSA key on a token without CKM_RSA_PKCS_PSS (and without raw RSA, "
			"CKM_RSA_X_509): it cannot sign for TLS 1.3, only TLS 1.2 with PKCS#1 "
			"signatures",
			"use an EC key (mtls-provision keygen --type ec-p256), or allow TLS 1.2 "
			"for this tunnel (tls-max = 1.2 / --tls-max 1.2)");
}

static int parse(int argc, char **argv, struct doctor *d)
{
	static const struct option opts[] = {{"key", 1, 0, 'k'}, {"cert", 1, 0, 'c'},
		{"help", 0, 0, 'h'}, {"pin-file", 1, 0, KEYCMD_OPT_PIN_FILE},
		{"pin-credential", 1, 0, KEYCMD_OPT_PIN_CREDENTIAL}, {0, 0, 0, 0}};
	int c, r;

	keycmd_getopt_reset();
	while ((c = keycmd_getopt(argc, argv, opts)) != -1) {
		if ((r = keycmd_pin_option("doctor", c, optarg, &d->opt)) != 0) {
			if (r < 0)
				return 2;
			continue;
		}
		switch (c) {
		case 'k': d->uri = optarg; break;
		case 'c': d->cert_file = optarg; break;
		case 'h': fputs(usage_text, stdout); return -1;
		default: return keycmd_bad_option("doctor", argc, argv);
		}
	}
	if (optind != argc || d->uri == NULL) {
		fprintf(stderr, "mtls-provision doctor: %s\n%s",
			d->uri == NULL ? "--key is required" : "unexpected argument", usage_text);
		return 2;
	}
	return 0;
}

int cmd_doctor(int argc, char **argv)
{
	static const char *const steps[] = {
		"module", "token", "login", "key", "certificate", "mechanisms"};
	struct doctor d;
	size_t i;
	int rc;

	memset(&d, 0, sizeof(d));
	rc = parse(argc, argv, &d);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	if (check_module(&d) == 0 && check_token(&d) == 0 && check_login(&d) == 0 &&
		check_key(&d) == 0) {
		check_cert(&d);
		check_mechs(&d);
	}
	for (i = d.nsteps; i < sizeof(steps) / sizeof(steps[0]); i++)
		skipped(&d, steps[i]);
	p11_key_free(d.key);
	p11_token_free(d.tok);
	return d.usage ? 2 : d.failed ? 1 : 0;
}
