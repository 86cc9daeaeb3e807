/* mtls-provision ca: a small local CA for test rigs.
 *
 *   mtls-provision ca init --dir DIR [--subject DN] [--key URI | --soft] [--days N]
 *   mtls-provision ca sign --dir DIR --csr FILE --out FILE [--days N]
 *       [--profile server|client|both]
 *   (both take --pin-file FILE | --pin-credential NAME for a token key)
 *
 * DIR holds ca.pem and either ca.key (software EC P-256, mode 0600) or
 * ca.uri (the PKCS#11 URI of a key on a token). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asn1.h"
#include "ca_int.h"
#include "certio.h"
#include "cmds.h"
#include "csr.h"
#include "keycmd.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "names.h"

#define CMD "ca"
#define DAYS_MAX 36500
#define URI_MAX 2048

struct ca_args {
	const char *dir, *subject, *key, *csr, *out, *profile;
	int soft, days;
	struct p11_options opt;
};

static int usage(FILE *f)
{
	fprintf(f,
		"usage: mtls-provision ca init --dir DIR [--subject DN] [--key URI | --soft] "
		"[--days N]\n"
		"       mtls-provision ca sign --dir DIR --csr FILE --out FILE [--days N]\n"
		"           [--profile server|client|both]\n"
		"       (with a token key: " KEYCMD_PIN_USAGE ")\n"
		"A local CA for test rigs. init makes DIR/ca.pem (default subject \"/CN=mtls-provision "
		"test CA\",\n"
		"3650 days) with a new EC P-256 key in DIR/ca.key (mode 0600, --soft, the default)\n"
		"or a key on a token (--key URI, kept in DIR/ca.uri). sign checks the request's\n"
		"signature, copies its subject and SANs and issues a certificate (default 365 days,\n"
		"profile both: serverAuth and clientAuth) with a random 16-byte serial number.\n");
	return f == stdout ? 0 : 2;
}

static int parse(int argc, char **argv, struct ca_args *a)
{
	static const struct option opts[] = {{"dir", 1, 0, 'd'}, {"subject", 1, 0, 's'},
		{"key", 1, 0, 'k'}, {"soft", 0, 0, 'S'}, {"days", 1, 0, 'n'}, {"csr", 1, 0, 'c'},
		{"out", 1, 0, 'o'}, {"profile", 1, 0, 'p'}, {"help", 0, 0, 'h'},
		{"pin-file", 1, 0, KEYCMD_OPT_PIN_FILE},
		{"pin-credential", 1, 0, KEYCMD_OPT_PIN_CREDENTIAL}, {0, 0, 0, 0}};
	char *end;
	long v;
	int c, r;

	keycmd_getopt_reset();
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if ((r = keycmd_pin_option(CMD, c, optarg, &a->opt)) != 0) {
			if (r < 0)
				return 2;
			continue;
		}
		switch (c) {
		case 'd': a->dir = optarg; break;
		case 's': a->subject = optarg; break;
		case 'k': a->key = optarg; break;
		case 'S': a->soft = 1; break;
		case 'c': a->csr = optarg; break;
		case 'o': a->out = optarg; break;
		case 'p': a->profile = optarg; break;
		case 'h': return usage(stdout) - 1;
		case 'n':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v < 1 || v > DAYS_MAX) {
				fprintf(stderr,
					"mtls-provision ca: --days: a number from 1 to %d\n",
					DAYS_MAX);
				return 2;
			}
			a->days = (int)v;
			break;
		default: return keycmd_bad_option(CMD, argc, argv);
		}
	}
	if (optind != argc || a->dir == NULL) {
		fprintf(stderr, "mtls-provision ca: --dir is required (and no other arguments)\n");
		return usage(stderr);
	}
	return 0;
}

/* DIR/name into out. */
static int in_dir(const char *dir, const char *name, char *out, size_t outlen)
{
	if ((size_t)snprintf(out, outlen, "%s/%s", dir, name) >= outlen)
		return mtls_err_set(MTLS_ERR_ARG, "--dir is too long");
	return 0;
}

/* ---- init ---- */

static int init_check(const struct ca_args *a, char *pem, size_t pemlen)
{
	if (a->soft && a->key != NULL) {
		fprintf(stderr, "mtls-provision ca init: --key and --soft exclude each other\n");
		return 2;
	}
	if (a->csr != NULL || a->out != NULL || a->profile != NULL) {
		fprintf(stderr,
			"mtls-provision ca init: --csr, --out and --profile belong to "
			"ca sign\n");
		return 2;
	}
	if (in_dir(a->dir, CA_CERT_FILE, pem, pemlen) != 0)
		return keycmd_fail("ca init", "the directory", MTLS_ERR_ARG);
	if (mkdir(a->dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "mtls-provision ca init: cannot create %s: %s\n", a->dir,
			strerror(errno));
		return 1;
	}
	if (access(pem, F_OK) == 0) {
		fprintf(stderr,
			"mtls-provision ca init: %s exists: %s is a CA already; remove it or use "
			"another --dir\n",
			pem, a->dir);
		return 1;
	}
	return 0;
}

/* The CA key: new in a file, or the token's; for a token key its URI is
 * kept in DIR/ca.uri. */
static int init_key(const struct ca_args *a, struct ca_key **ca)
{
	char path[4096];
	size_t n;
	int rc;

	if (a->key == NULL) {
		if ((rc = in_dir(a->dir, CA_KEY_FILE, path, sizeof(path))) != 0 ||
			(rc = ca_key_generate(path, ca)) != 0)
			return keycmd_fail("ca init", "the CA key", rc);
		return 0;
	}
	n = strlen(a->key);
	if (n >= URI_MAX)
		return keycmd_fail("ca init", "the key URI", MTLS_ERR_URI);
	if ((rc = ca_key_open_token(a->key, &a->opt, ca)) != 0)
		return keycmd_fail("ca init", "opening the CA key on the token", rc);
	if ((rc = in_dir(a->dir, CA_URI_FILE, path, sizeof(path))) != 0 ||
		(rc = certio_write_atomic(path, a->key, n, 0600)) != 0) {
		ca_key_free(*ca);
		*ca = NULL;
		return keycmd_fail("ca init", "writing ca.uri", rc);
	}
	return 0;
}

static int init_cert(const struct ca_args *a, struct ca_key *ca, const char *pempath)
{
	const char *subject = a->subject ? a->subject : "/CN=mtls-provision test CA";
	struct certio_chain chain = {0};
	struct ca_spec sp = {0};
	uint8_t dn[NAMES_DN_MAX], *der = NULL;
	size_t dnlen, len;
	char *pem = NULL;
	size_t pemlen;
	int rc;

	if ((rc = names_dn_parse(subject, dn, sizeof(dn), &dnlen)) != 0)
		return keycmd_fail("ca init", "the subject", rc);
	sp.subject = sp.issuer = dn;
	sp.subject_len = sp.issuer_len = dnlen;
	sp.spki = ca->k.spki;
	sp.spki_len = ca->k.spki_len;
	sp.is_ca = 1;
	sp.days = a->days ? a->days : 3650;
	sp.key_usage = "keyCertSign,cRLSign";
	if ((rc = ca_issue(ca, &sp, &der, &len)) != 0)
		return keycmd_fail("ca init", "making the CA certificate", rc);
	chain.der[0] = der;
	chain.len[0] = len;
	chain.n = 1;
	rc = certio_chain_pem(&chain, 0, &pem, &pemlen);
	if (rc == 0)
		rc = certio_write_atomic(pempath, pem, pemlen, 0644);
	certio_chain_free(&chain);
	free(pem);
	if (rc != 0)
		return keycmd_fail("ca init", "writing the CA certificate", rc);
	printf("CA ready in %s: %s (%s key)\n", a->dir, subject,
		a->key ? "token" : "software EC P-256");
	return 0;
}

static int ca_init(const struct ca_args *a)
{
	struct ca_key *ca = NULL;
	char pem[4096], path[4096];
	int rc;

	if ((rc = init_check(a, pem, sizeof(pem))) != 0)
		return rc;
	if (a->subject != NULL) { /* a usage error before a key is made */
		uint8_t dn[NAMES_DN_MAX];
		size_t dnlen;
		if ((rc = names_dn_parse(a->subject, dn, sizeof(dn), &dnlen)) != 0)
			return keycmd_fail("ca init", "the subject", rc);
	}
	if ((rc = init_key(a, &ca)) != 0)
		return rc;
	rc = init_cert(a, ca, pem);
	ca_key_free(ca);
	if (rc != 0) { /* leave no half-made CA behind */
		if (in_dir(a->dir, a->key ? CA_URI_FILE : CA_KEY_FILE, path, sizeof(path)) == 0)
			unlink(path);
	}
	return rc;
}

/* ---- sign ---- */

/* The CA's certificate and key, checked to belong together. */
static int sign_load_ca(const struct ca_args *a, struct certio_chain *cacert, struct ca_key **ca)
{
	char path[4096], uri[URI_MAX];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = in_dir(a->dir, CA_CERT_FILE, path, sizeof(path))) != 0 ||
		(rc = certio_chain_add_file(cacert, path)) != 0)
		return keycmd_fail("ca sign", "the CA certificate (run ca init first?)", rc);
	if ((rc = in_dir(a->dir, CA_KEY_FILE, path, sizeof(path))) != 0)
		return keycmd_fail("ca sign", "the directory", rc);
	if (access(path, F_OK) == 0) {
		if ((rc = ca_key_load(path, ca)) != 0)
			return keycmd_fail("ca sign", "the CA key", rc);
	} else {
		if ((rc = in_dir(a->dir, CA_URI_FILE, path, sizeof(path))) != 0 ||
			(rc = certio_read_file(path, &buf, &len)) != 0)
			return keycmd_fail("ca sign", "no ca.key and no ca.uri", rc);
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			len--;
		snprintf(uri, sizeof(uri), "%.*s", (int)len, (const char *)buf);
		free(buf);
		if ((rc = ca_key_open_token(uri, &a->opt, ca)) != 0)
			return keycmd_fail("ca sign", "opening the CA key on the token", rc);
	}
	rc = certio_check_key(
		cacert->der[0], cacert->len[0], (*ca)->k.spki, (*ca)->k.spki_len, "of the CA");
	if (rc != 0) {
		ca_key_free(*ca);
		*ca = NULL;
		return keycmd_fail("ca sign", "ca.pem and the CA key do not match", rc);
	}
	return 0;
}

/* The request, read and verified. *der malloc'd. */
static int sign_load_csr(const struct ca_args *a, uint8_t **der, size_t *len, struct csr_info *ci)
{
	uint8_t *buf = NULL;
	size_t blen = 0;
	int rc;

	if ((rc = certio_read_file(a->csr, &buf, &blen)) != 0)
		return keycmd_fail("ca sign", "reading the request", rc);
	rc = csr_decode(buf, blen, a->csr, der, len);
	free(buf);
	if (rc == 0 && (rc = csr_verify(*der, *len)) == 0)
		rc = csr_parse(*der, *len, ci);
	if (rc != 0) {
		free(*der);
		*der = NULL;
		return keycmd_fail("ca sign", "the request", rc);
	}
	return 0;
}

static int profile_eku(const char *profile, const char **eku)
{
	if (profile == NULL || strcmp(profile, "both") == 0)
		*eku = "serverAuth,clientAuth";
	else if (strcmp(profile, "server") == 0)
		*eku = "serverAuth";
	else if (strcmp(profile, "client") == 0)
		*eku = "clientAuth";
	else
		return -1;
	return 0;
}

/* RSA keys also get keyEncipherment (TLS 1.2 RSA key exchange). */
static int spki_is_rsa(const uint8_t *spki, size_t len)
{
	static const uint8_t rsa[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};
	struct asn1 c = {spki, len}, s, alg, oid;

	return asn1_expect(&c, ASN1_SEQUENCE, &s, NULL) == 0 &&
		asn1_expect(&s, ASN1_SEQUENCE, &alg, NULL) == 0 &&
		asn1_expect(&alg, ASN1_OID, &oid, NULL) == 0 && oid.len == sizeof(rsa) &&
		memcmp(oid.p, rsa, sizeof(rsa)) == 0;
}

static int sign_issue(const struct ca_args *a, struct ca_key *ca, const struct certio_chain *cacert,
	const struct csr_info *ci)
{
	struct certio_fields f;
	struct certio_chain out = {0};
	struct ca_spec sp = {0};
	char *pem = NULL;
	size_t pemlen;
	int rc;

	certio_cert_fields(cacert->der[0], cacert->len[0], &f);
	sp.subject = ci->subject, sp.subject_len = ci->subject_len;
	sp.issuer = f.subject, sp.issuer_len = f.subject_len;
	sp.spki = ci->spki, sp.spki_len = ci->spki_len;
	sp.sans = ci->sans, sp.sans_len = ci->sans_len;
	sp.days = a->days ? a->days : 365;
	profile_eku(a->profile, &sp.ext_key_usage);
	sp.key_usage = spki_is_rsa(ci->spki, ci->spki_len) ? "digitalSignature,keyEncipherment"
							   : "digitalSignature";
	if ((rc = ca_issue(ca, &sp, &out.der[0], &out.len[0])) != 0)
		return keycmd_fail("ca sign", "issuing", rc);
	out.n = 1;
	rc = certio_chain_pem(&out, 0, &pem, &pemlen);
	if (rc == 0)
		rc = certio_write_atomic(a->out, pem, pemlen, 0644);
	certio_chain_free(&out);
	free(pem);
	if (rc != 0)
		return keycmd_fail("ca sign", "writing the certificate", rc);
	printf("wrote %s: issued for %d days, %s\n", a->out, sp.days,
		ci->sans ? "SANs copied from the request" : "no SANs in the request");
	return 0;
}

static int ca_sign(const struct ca_args *a)
{
	struct certio_chain cacert = {0};
	struct csr_info ci;
	struct ca_key *ca = NULL;
	const char *eku;
	uint8_t *der = NULL;
	size_t len = 0;
	int rc;

	if (a->csr == NULL || a->out == NULL || a->soft || a->key || a->subject) {
		fprintf(stderr,
			"mtls-provision ca sign: --csr and --out are required; --key, "
			"--soft and --subject belong to ca init\n");
		return 2;
	}
	if (profile_eku(a->profile, &eku) != 0) {
		fprintf(stderr, "mtls-provision ca sign: --profile is server, client or both\n");
		return 2;
	}
	if ((rc = sign_load_csr(a, &der, &len, &ci)) != 0)
		return rc;
	if ((rc = sign_load_ca(a, &cacert, &ca)) == 0)
		rc = sign_issue(a, ca, &cacert, &ci);
	ca_key_free(ca);
	certio_chain_free(&cacert);
	free(der);
	return rc;
}

int cmd_ca(int argc, char **argv)
{
	struct ca_args a = {0};
	int rc;

	mtls_log_set_level(MTLS_LOG_WARNING);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
		return usage(stdout);
	if (argc < 2 || (strcmp(argv[1], "init") != 0 && strcmp(argv[1], "sign") != 0)) {
		fprintf(stderr, "mtls-provision ca: say init or sign\n");
		return usage(stderr);
	}
	if ((rc = parse(argc - 1, argv + 1, &a)) != 0)
		return rc < 0 ? 0 : rc;
	return strcmp(argv[1], "init") == 0 ? ca_init(&a) : ca_sign(&a);
}
