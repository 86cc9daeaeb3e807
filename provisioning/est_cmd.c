/* Shared parts of enroll and renew (est_cmd.h). */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "est_cmd.h"
#include "keycmd.h"
#include "mtls/err.h"

const char est_cmd_usage[] =
	"  --key URI              the token key (RFC 7512 PKCS#11 URI)\n"
	"  --est URL              the EST server, https://host[:port][/.well-known/est[/label]]\n"
	"  --cacert FILE          trust the EST server if its chain ends at a CA in FILE\n"
	"  --pin-sha256 HEX       ... or if its certificate has this SHA-256 fingerprint\n"
	"  --user U --password-file F   HTTP Basic authentication (the file: mode 600)\n"
	"  --client-cert FILE     TLS client certificate (e.g. a factory certificate)\n"
	"  --client-key URI|FILE  its key: a pkcs11: URI or a key file (default: --key)\n"
	"  --out FILE             write the certificate (and intermediates) as PEM, atomically;\n"
	"                         an existing FILE is kept as FILE.prev\n"
	"  --chain FILE           write the EST server's CA certificates (/cacerts) as PEM\n"
	"  --to-token             store the certificate on the token beside the key\n"
	"  --timeout DURATION     per request: connect, TLS, answer (default 30s)\n"
	"  --retry-for DURATION   keep trying this long when the CA is unreachable or answers\n"
	"                         202 (pending) or 503 (default: enroll 60s, renew 10m)\n"
	"  --pin-file FILE | --pin-credential NAME   the token PIN\n"
	"DURATION: seconds, or a number with s, m, h or d.\n";

int est_cmd_duration(const char *text, unsigned long *seconds)
{
	unsigned long v = 0, mult = 1;
	const char *p = text;

	if (text == NULL || *text < '0' || *text > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 315360000UL)
			return -1;
	}
	switch (*p) {
	case '\0':
	case 's': break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default: return -1;
	}
	if (*p != '\0' && p[1] != '\0')
		return -1;
	if (v * mult > 315360000UL)
		return -1;
	*seconds = v * mult;
	return 0;
}

static int duration_arg(
	const struct est_cmd *a, const char *opt, const char *arg, unsigned long *out)
{
	if (est_cmd_duration(arg, out) == 0)
		return 1;
	fprintf(stderr,
		"mtls-provision %s: %s '%s': give seconds, or a number with s, m, h or d (e.g. 90s, "
		"10m)\n",
		a->cmd, opt, arg);
	return 2;
}

int est_cmd_option(struct est_cmd *a, int c, const char *arg)
{
	int r = keycmd_pin_option(a->cmd, c, arg, &a->opt);

	if (r != 0)
		return r < 0 ? 2 : 1;
	switch (c) {
	case EST_OPT_KEY: a->key = arg; return 1;
	case EST_OPT_EST: a->est = arg; return 1;
	case EST_OPT_CACERT: a->cacert = arg; return 1;
	case EST_OPT_PIN_SHA256: a->pin_sha256 = arg; return 1;
	case EST_OPT_USER: a->user = arg; return 1;
	case EST_OPT_PASSWORD_FILE: a->password_file = arg; return 1;
	case EST_OPT_CLIENT_CERT: a->client_cert = arg; return 1;
	case EST_OPT_CLIENT_KEY: a->client_key = arg; return 1;
	case EST_OPT_OUT: a->out = arg; return 1;
	case EST_OPT_CHAIN: a->chain = arg; return 1;
	case EST_OPT_TO_TOKEN: a->to_token = 1; return 1;
	case EST_OPT_TIMEOUT: return duration_arg(a, "--timeout", arg, &a->timeout_s);
	case EST_OPT_RETRY_FOR: return duration_arg(a, "--retry-for", arg, &a->retry_s);
	default: return 0;
	}
}

static int usage_error(const struct est_cmd *a, const char *what)
{
	fprintf(stderr, "mtls-provision %s: %s (see mtls-provision %s --help)\n", a->cmd, what,
		a->cmd);
	return 2;
}

int est_cmd_check(const struct est_cmd *a, int need_auth)
{
	if (a->key == NULL || a->est == NULL)
		return usage_error(a, "--key and --est are required");
	if ((a->cacert == NULL) == (a->pin_sha256 == NULL))
		return usage_error(a,
			"say how to trust the EST server: --cacert FILE or "
			"--pin-sha256 HEX (one of them)");
	if ((a->user == NULL) != (a->password_file == NULL))
		return usage_error(a, "--user and --password-file go together");
	if (a->client_key != NULL && a->client_cert == NULL)
		return usage_error(a, "--client-key needs --client-cert");
	if (need_auth && a->user == NULL && a->client_cert == NULL)
		return usage_error(a,
			"authenticate to the EST server: --user with "
			"--password-file, or --client-cert");
	return 0;
}

int est_cmd_fail(const char *cmd, const char *what, int rc)
{
	const char *detail = mtls_err_detail();

	fprintf(stderr, "mtls-provision %s: %s: %s\n", cmd, what,
		detail[0] ? detail : mtls_strerror(rc));
	return keycmd_exit(rc);
}

/* ---- the client ---- */

static int client_identity(const struct est_cmd *a, const struct csr_key *key,
	struct certio_chain *ch, struct est_client_config *cfg, struct est_session *s)
{
	int rc;

	if ((rc = certio_chain_add_file(ch, a->client_cert)) != 0)
		return rc;
	if (a->client_key == NULL) {
		cfg->tls_key = key;
	} else if (strncmp(a->client_key, "pkcs11:", 7) == 0) {
		if ((rc = p11_key_open(a->client_key, &a->opt, &s->client_p11)) != 0 ||
			(rc = csr_key_from_p11(s->client_p11, &s->client_key)) != 0)
			return rc;
		cfg->tls_key = &s->client_key;
	} else {
		cfg->client_key_file = a->client_key;
	}
	if (cfg->tls_key == NULL)
		return 0;
	return certio_check_key(ch->der[0], ch->len[0], cfg->tls_key->spki, cfg->tls_key->spki_len,
		a->client_key ? a->client_key : a->key);
}

int est_cmd_connect(const struct est_cmd *a, const struct csr_key *key, const uint8_t *cert,
	size_t cert_len, struct est_session *s)
{
	struct est_client_config cfg = {0};
	struct certio_chain ch = {0};
	size_t pemlen = 0;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	cfg.url = a->est;
	cfg.cacert_file = a->cacert;
	cfg.pin_sha256 = a->pin_sha256;
	cfg.timeout_s = (unsigned)a->timeout_s;
	cfg.retry_s = (unsigned)a->retry_s;
	if (a->user != NULL && (rc = mtls_secret_from_file(a->password_file, &s->password)) != 0)
		return rc;
	cfg.user = a->user;
	cfg.password = s->password;
	if (cert != NULL) {
		rc = certio_chain_add(&ch, cert, cert_len, "the current certificate");
		cfg.tls_key = key;
	} else if (a->client_cert != NULL) {
		rc = client_identity(a, key, &ch, &cfg, s);
	}
	if (rc == 0 && ch.n > 0 && (rc = certio_chain_pem(&ch, 0, &s->cert_pem, &pemlen)) == 0) {
		cfg.client_cert_pem = s->cert_pem;
		cfg.client_cert_len = pemlen;
	}
	certio_chain_free(&ch);
	if (rc == 0)
		rc = est_client_new(&cfg, &s->client);
	return rc;
}

void est_session_free(struct est_session *s)
{
	if (s == NULL)
		return;
	est_client_free(s->client);
	mtls_secret_free(s->password);
	p11_key_free(s->client_p11);
	free(s->cert_pem);
	memset(s, 0, sizeof(*s));
}

/* ---- the answer ---- */

/* Load CA certificates into cm until no more go in (any order: each must
 * verify against one loaded before). */
static void load_cas(WOLFSSL_CERT_MANAGER *cm, const struct est_certs *cas, int *loaded)
{
	size_t i;
	int progress = 1;

	while (progress) {
		progress = 0;
		for (i = 0; i < cas->n; i++) {
			if (loaded[i])
				continue;
			if (wolfSSL_CertManagerLoadCABuffer(cm, cas->cert[i].der,
				    (long)cas->cert[i].len,
				    WOLFSSL_FILETYPE_ASN1) == WOLFSSL_SUCCESS)
				loaded[i] = progress = 1;
		}
	}
}

static int check_chain(const struct est_certs *issued, size_t leaf, const struct est_certs *cacerts)
{
	WOLFSSL_CERT_MANAGER *cm = wolfSSL_CertManagerNew();
	int loaded_ca[EST_CERTS_MAX] = {0}, loaded_int[EST_CERTS_MAX] = {0}, ret;

	if (cm == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "certificate manager");
	load_cas(cm, cacerts, loaded_ca);
	loaded_int[leaf] = 1; /* the leaf is no CA */
	load_cas(cm, issued, loaded_int);
	ret = wolfSSL_CertManagerVerifyBuffer(
		cm, issued->cert[leaf].der, (long)issued->cert[leaf].len, WOLFSSL_FILETYPE_ASN1);
	wolfSSL_CertManagerFree(cm);
	if (ret == WOLFSSL_SUCCESS)
		return 0;
	return mtls_err_set(MTLS_ERR_PROTOCOL,
		"the issued certificate does not chain to the EST server's CA certificates "
		"(/cacerts): %s (wolfSSL %d); nothing was written",
		wolfSSL_ERR_reason_error_string((unsigned long)ret), ret);
}

int est_cmd_accept(const struct est_cmd *a, const struct est_certs *issued,
	const struct est_certs *cacerts, const uint8_t *spki, size_t spki_len,
	struct certio_chain *out)
{
	size_t i, leaf = issued->n;
	int rc = MTLS_ERR_PROTOCOL;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < issued->n && leaf == issued->n; i++)
		if ((rc = certio_check_key(issued->cert[i].der, issued->cert[i].len, spki, spki_len,
			     a->key)) == 0)
			leaf = i;
	if (leaf == issued->n && issued->n == 1) {
		char detail[512];

		snprintf(detail, sizeof(detail), "%s", mtls_err_detail());
		return mtls_err_set(
			rc, "the EST server issued a certificate for another key: %s", detail);
	}
	if (leaf == issued->n)
		return mtls_err_set(MTLS_ERR_KEY,
			"none of the %zu certificates the EST server sent is for the token key",
			issued->n);
	if ((rc = check_chain(issued, leaf, cacerts)) != 0)
		return rc;
	rc = certio_chain_add(out, issued->cert[leaf].der, issued->cert[leaf].len,
		"the issued "
		"certificate");
	for (i = 0; rc == 0 && i < issued->n; i++)
		if (i != leaf)
			rc = certio_chain_add(out, issued->cert[i].der, issued->cert[i].len,
				"an intermediate certificate");
	if (rc != 0)
		certio_chain_free(out);
	return rc;
}

/* ---- writing ---- */

static int write_cacerts(const struct est_cmd *a, const struct est_certs *cacerts)
{
	struct certio_chain ch = {0};
	char *pem = NULL;
	size_t i, pemlen = 0;
	int rc = 0;

	for (i = 0; rc == 0 && i < cacerts->n; i++)
		rc = certio_chain_add(&ch, cacerts->cert[i].der, cacerts->cert[i].len, "/cacerts");
	if (rc == 0 && (rc = certio_chain_pem(&ch, 0, &pem, &pemlen)) == 0)
		rc = certio_write_atomic(a->chain, pem, pemlen, 0644);
	free(pem);
	certio_chain_free(&ch);
	if (rc != 0)
		return keycmd_fail(a->cmd, "writing the CA certificates", rc), rc;
	printf("wrote %s: %zu CA certificate%s from /cacerts\n", a->chain, cacerts->n,
		cacerts->n == 1 ? "" : "s");
	return 0;
}

int est_cmd_write(const struct est_cmd *a, struct p11_key *key, const struct certio_chain *chain,
	const struct est_certs *cacerts)
{
	char *pem = NULL;
	size_t pemlen = 0;
	int rc;

	if (a->to_token) {
		if ((rc = certio_store_on_token(key, chain->der[0], chain->len[0])) != 0)
			return keycmd_fail(a->cmd, "storing the certificate on the token", rc), rc;
		printf("stored the certificate on the token beside the key\n");
	}
	if (a->out != NULL) {
		if ((rc = certio_chain_pem(chain, 0, &pem, &pemlen)) == 0)
			rc = certio_write_atomic(a->out, pem, pemlen, 0644);
		free(pem);
		if (rc != 0)
			return keycmd_fail(a->cmd,
				       a->to_token ? "writing the file (the token holds "
						     "the new certificate already)"
						   : "writing the file",
				       rc),
			       rc;
		printf("wrote %s: the certificate and %zu intermediate%s\n", a->out, chain->n - 1,
			chain->n == 2 ? "" : "s");
	}
	if (a->chain != NULL && cacerts != NULL && cacerts->n > 0)
		return write_cacerts(a, cacerts);
	return 0;
}
