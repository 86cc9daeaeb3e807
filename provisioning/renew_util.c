/* renew's helpers (renew.h): the re-enrollment request built from the
 * current certificate, the new key of --rekey, and telling the agent to
 * reload. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asn1.h"
#include "mtls/err.h"
#include "mtls/p11_admin.h"
#include "renew.h"

extern char **environ;

#define REQ_MAX (64u << 10)
#define RELOAD_WAIT_S 60

/* ---- the request ---- */

static const uint8_t oid_ext_req[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0e};
/* keyUsage, extKeyUsage, subjectAltName: copied from the current certificate. */
static const uint8_t oid_ku[] = {0x55, 0x1d, 0x0f};
static const uint8_t oid_eku[] = {0x55, 0x1d, 0x25};
static const uint8_t oid_san[] = {0x55, 0x1d, 0x11};

static int kept_ext(const struct asn1 *oid)
{
	return oid->len == 3 &&
		(memcmp(oid->p, oid_ku, 3) == 0 || memcmp(oid->p, oid_eku, 3) == 0 ||
			memcmp(oid->p, oid_san, 3) == 0);
}

/* The subject TLV and the extensions (content of [3]'s SEQUENCE). */
static int cert_parts(const uint8_t *der, size_t len, struct asn1 *subject, struct asn1 *exts)
{
	struct asn1 c = {der, len}, cert, tbs, v;
	uint8_t tag;

	exts->p = NULL;
	exts->len = 0;
	if (asn1_expect(&c, ASN1_SEQUENCE, &cert, NULL) != 0 ||
		asn1_expect(&cert, ASN1_SEQUENCE, &tbs, NULL) != 0)
		return -1;
	if (tbs.len > 0 && tbs.p[0] == 0xa0 && asn1_next(&tbs, NULL, NULL, NULL) != 0)
		return -1;
	if (asn1_expect(&tbs, ASN1_INTEGER, NULL, NULL) != 0 ||
		asn1_expect(&tbs, ASN1_SEQUENCE, NULL, NULL) != 0 ||
		asn1_expect(&tbs, ASN1_SEQUENCE, NULL, NULL) != 0 ||
		asn1_expect(&tbs, ASN1_SEQUENCE, NULL, NULL) != 0 ||
		asn1_expect(&tbs, ASN1_SEQUENCE, NULL, subject) != 0 ||
		asn1_expect(&tbs, ASN1_SEQUENCE, NULL, NULL) != 0)
		return -1;
	while (tbs.len > 0) {
		if (asn1_next(&tbs, &tag, &v, NULL) != 0)
			return -1;
		if (tag == 0xa3 && asn1_expect(&v, ASN1_SEQUENCE, exts, NULL) != 0)
			return -1;
	}
	return 0;
}

/* CertificationRequestInfo: version 0, the certificate's subject, the
 * key's SPKI, and an extensionRequest with the kept extensions. */
static int request_info(
	const uint8_t *cert, size_t len, const struct csr_key *k, struct asn1_buf *b)
{
	static const uint8_t v0[] = {0x00};
	struct asn1 subject, exts, ext, tlv, oid;
	size_t at, ea;

	if (cert_parts(cert, len, &subject, &exts) != 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "the current certificate cannot be read");
	asn1_put_tlv(b, ASN1_INTEGER, v0, sizeof(v0));
	asn1_put(b, subject.p, subject.len);
	asn1_put(b, k->spki, k->spki_len);
	at = b->len;
	asn1_put_tlv(b, ASN1_OID, oid_ext_req, sizeof(oid_ext_req));
	ea = b->len;
	while (exts.len > 0) {
		if (asn1_expect(&exts, ASN1_SEQUENCE, &ext, &tlv) != 0 ||
			asn1_expect(&ext, ASN1_OID, &oid, NULL) != 0)
			return mtls_err_set(MTLS_ERR_PROTOCOL,
				"the current certificate's extensions "
				"cannot be read");
		if (kept_ext(&oid))
			asn1_put(b, tlv.p, tlv.len);
	}
	if (b->len == ea) {
		b->len = at; /* nothing to ask for: no attributes */
		asn1_put_tlv(b, 0xa0, NULL, 0);
	} else {
		asn1_wrap(b, ea, ASN1_SEQUENCE);
		asn1_wrap(b, ea, ASN1_SET);
		asn1_wrap(b, at, ASN1_SEQUENCE);
		asn1_wrap(b, at, 0xa0);
	}
	asn1_wrap(b, 0, ASN1_SEQUENCE);
	return b->err ? mtls_err_set(MTLS_ERR_TOO_BIG, "request over %u KiB", REQ_MAX >> 10) : 0;
}

int renew_request(
	const uint8_t *cert, size_t len, const struct csr_key *k, uint8_t **csr, size_t *csrlen)
{
	struct asn1_buf b;
	enum csr_sigalg alg;
	int rc;

	asn1_buf_init(&b, REQ_MAX);
	if ((rc = request_info(cert, len, k, &b)) == 0 && (rc = csr_sigalg_for(k, 0, &alg)) == 0)
		rc = csr_sign_tbs(k, alg, b.p, b.len, csr, csrlen);
	asn1_buf_free(&b);
	return rc;
}

/* ---- --rekey: the new key ---- */

/* The key URI without the attributes that name an object (id, object,
 * type): what p11_admin_keygen wants, with the new label given apart. */
static int token_uri(const char *uri, char *out, size_t outsz)
{
	const char *q = strchr(uri, '?'), *p = uri + 7, *end = q ? q : uri + strlen(uri), *semi;
	size_t n = 0, k;

	if (strncmp(uri, "pkcs11:", 7) != 0 || strlen(uri) >= outsz)
		return mtls_err_set(MTLS_ERR_URI, "--key: not a pkcs11: URI");
	memcpy(out, "pkcs11:", 7);
	n = 7;
	while (p < end) {
		semi = memchr(p, ';', (size_t)(end - p));
		k = semi ? (size_t)(semi - p) : (size_t)(end - p);
		if (!(k >= 3 && strncmp(p, "id=", 3) == 0) &&
			!(k >= 7 && strncmp(p, "object=", 7) == 0) &&
			!(k >= 5 && strncmp(p, "type=", 5) == 0) && k > 0) {
			if (n > 7)
				out[n++] = ';';
			memcpy(out + n, p, k);
			n += k;
		}
		p += k + (semi ? 1 : 0);
	}
	snprintf(out + n, outsz - n, "%s", q ? q : "");
	return 0;
}

static int keygen_type(const struct p11_admin_key_info *ki, enum p11_admin_keytype *t)
{
	if (ki->type == P11_KEY_EC_P256)
		*t = P11_GEN_EC_P256;
	else if (ki->type == P11_KEY_EC_P384)
		*t = P11_GEN_EC_P384;
	else if (ki->type == P11_KEY_RSA && ki->bits == 2048)
		*t = P11_GEN_RSA_2048;
	else if (ki->type == P11_KEY_RSA && ki->bits == 3072)
		*t = P11_GEN_RSA_3072;
	else if (ki->type == P11_KEY_RSA && ki->bits == 4096)
		*t = P11_GEN_RSA_4096;
	else
		return mtls_err_set(MTLS_ERR_KEY,
			"--rekey: the current key's type (%u bits) cannot "
			"be generated again",
			ki->bits);
	return 0;
}

int renew_new_key(
	const char *key_uri, struct p11_key *old, const struct p11_options *opt, char **new_uri)
{
	struct p11_admin_key_info ki;
	struct p11_admin_keygen req = {0};
	char uri[2048], label[P11_ADMIN_LABEL_MAX + 1], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	if ((rc = p11_admin_key_info(old, &ki)) != 0 || (rc = keygen_type(&ki, &req.type)) != 0 ||
		(rc = token_uri(key_uri, uri, sizeof(uri))) != 0)
		return rc;
	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	/* A new label too: labels are unique on the token (keygen refuses a
	 * taken one), and the old key stays until the switch. */
	snprintf(label, sizeof(label), "%.*s-%s", (int)(sizeof(label) - strlen(stamp) - 2),
		ki.label[0] ? ki.label : "mtls", stamp);
	req.label = label;
	return p11_admin_keygen(uri, opt, &req, new_uri);
}

/* ---- telling the agent ---- */

int renew_reload_check(const char *spec)
{
	const char *unit = spec + 8;

	if (strncmp(spec, "pidfile:", 8) == 0 && spec[8] == '/')
		return 0;
	if (strncmp(spec, "systemd:", 8) != 0 || unit[0] == '\0' || unit[0] == '-' ||
		strspn(unit,
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:-_.@\\") !=
			strlen(unit))
		return mtls_err_set(MTLS_ERR_CONFIG,
			"--reload '%s': use systemd:UNIT (a unit name) or pidfile:/ABSOLUTE/PATH",
			spec);
	return 0;
}

static int reload_systemd(const char *unit)
{
	char *argv[] = {"systemctl", "reload", (char *)unit, NULL};
	pid_t pid;
	int status = 0, i, err;

	if ((err = posix_spawnp(&pid, "systemctl", NULL, NULL, argv, environ)) != 0)
		return mtls_err_set(MTLS_ERR_IO, "cannot run systemctl: %s", strerror(err));
	for (i = 0; i < RELOAD_WAIT_S * 10; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(100000);
	}
	if (i == RELOAD_WAIT_S * 10) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return mtls_err_set(MTLS_ERR_TIMEOUT, "systemctl reload %s did not finish in %d s",
			unit, RELOAD_WAIT_S);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return mtls_err_set(MTLS_ERR_IO, "systemctl reload %s failed (exit %d)", unit,
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

static int reload_pidfile(const char *path)
{
	char buf[32];
	FILE *f = fopen(path, "r");
	long pid;
	char *end;
	size_t n;

	if (f == NULL)
		return mtls_err_set(MTLS_ERR_IO, "pid file %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || (*end != '\0' && *end != '\n') || pid <= 1)
		return mtls_err_set(MTLS_ERR_IO, "pid file %s holds no process id", path);
	if (kill((pid_t)pid, SIGHUP) != 0)
		return mtls_err_set(MTLS_ERR_IO, "SIGHUP to process %ld (from %s): %s", pid, path,
			errno == ESRCH ? "no such process (a stale pid file?)" : strerror(errno));
	return 0;
}

int renew_reload(const char *spec)
{
	return strncmp(spec, "systemd:", 8) == 0 ? reload_systemd(spec + 8)
						 : reload_pidfile(spec + 8);
}
