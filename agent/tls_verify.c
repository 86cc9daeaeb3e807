/* Peer verification results, authorization (struct cfg_allow) and the
 * reasons a handshake fails, in words the logs and the tests rely on:
 * "unknown CA", "certificate expired", "certificate not yet valid",
 * "certificate revoked", "peer not allowed", "no client certificate",
 * "protocol version". */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mtls/err.h"
#include "mtls/log.h"
#include "tls_int.h"

/* What a project error code set by a callback says about the cause: the
 * callbacks that set one are the token's (tls_sign.c) unless they say. */
static enum stats_reason reason_of_code(int code)
{
	switch (code) {
	case MTLS_ERR_TOKEN_ABSENT:
	case MTLS_ERR_NO_TOKEN: return STATS_R_TOKEN_ABSENT;
	case MTLS_ERR_PIN_SOURCE:
	case MTLS_ERR_PIN_INCORRECT:
	case MTLS_ERR_PIN_LOCKED:
	case MTLS_ERR_LOGIN: return STATS_R_TOKEN_PIN;
	case MTLS_ERR_MODULE:
	case MTLS_ERR_NO_OBJECT:
	case MTLS_ERR_MECHANISM:
	case MTLS_ERR_KEY:
	case MTLS_ERR_TOKEN:
	case MTLS_ERR_BUSY:
	case MTLS_ERR_SIGNER:
	case MTLS_ERR_TIMEOUT: return STATS_R_TOKEN_ERROR;
	default: return STATS_R_OTHER;
	}
}

static void __attribute__((format(printf, 4, 0)))
failv(struct tls_conn *c, enum stats_reason why, int code, const char *fmt, va_list ap)
{
	if (c->fail_code != 0)
		return; /* the first reason is the real one */
	c->fail_code = code;
	c->reason = why;
	vsnprintf(c->fail, sizeof(c->fail), fmt, ap);
}

void tls_conn_failf(struct tls_conn *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	failv(c, reason_of_code(code), code, fmt, ap);
	va_end(ap);
}

void tls_conn_fail_why(struct tls_conn *c, enum stats_reason why, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	failv(c, why, code, fmt, ap);
	va_end(ap);
}

/* ---- rules ---- */

static char **strs_copy(char *const *src, size_t n)
{
	char **dst = calloc(n ? n : 1, sizeof(*dst));
	size_t i;

	if (dst == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((dst[i] = strdup(src[i] ? src[i] : "")) == NULL) {
			while (i > 0)
				free(dst[--i]);
			free(dst);
			return NULL;
		}
	}
	return dst;
}

static void strs_free(char **s, size_t n)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < n; i++)
		free(s[i]);
	free(s);
}

int tls_rules_copy(struct tls_rules *dst, const struct cfg_allow *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->ncn > CFG_MAX_RULES || src->ndns > CFG_MAX_RULES || src->nuri > CFG_MAX_RULES ||
		src->nou > CFG_MAX_RULES || src->nspki > CFG_MAX_RULES)
		return mtls_err_set(
			MTLS_ERR_ARG, "more than %d allow rules of one kind", CFG_MAX_RULES);
	dst->cn = strs_copy(src->cn, src->ncn);
	dst->dns = strs_copy(src->dns, src->ndns);
	dst->uri = strs_copy(src->uri, src->nuri);
	dst->ou = strs_copy(src->ou, src->nou);
	dst->spki = calloc(src->nspki ? src->nspki : 1, sizeof(*dst->spki));
	if (!dst->cn || !dst->dns || !dst->uri || !dst->ou || !dst->spki) {
		tls_rules_free(dst);
		return mtls_err_set(MTLS_ERR_NOMEM, "copying allow rules");
	}
	dst->ncn = src->ncn;
	dst->ndns = src->ndns;
	dst->nuri = src->nuri;
	dst->nou = src->nou;
	dst->nspki = src->nspki;
	if (src->nspki)
		memcpy(dst->spki, src->spki, src->nspki * sizeof(*dst->spki));
	dst->all = src->all;
	return 0;
}

void tls_rules_free(struct tls_rules *r)
{
	strs_free(r->cn, r->ncn);
	strs_free(r->dns, r->ndns);
	strs_free(r->uri, r->nuri);
	strs_free(r->ou, r->nou);
	free(r->spki);
	memset(r, 0, sizeof(*r));
}

int tls_rules_empty(const struct tls_rules *r)
{
	return !r->all && r->ncn + r->ndns + r->nuri + r->nou + r->nspki == 0;
}

/* ---- what a certificate says ---- */

/* Exact match of a certificate string (may hold NULs: never matches then). */
static int str_is(const char *rule, const unsigned char *v, int vlen, int nocase)
{
	size_t n = strlen(rule);

	if (vlen < 0 || (size_t)vlen != n || memchr(v, '\0', (size_t)vlen) != NULL)
		return 0;
	return nocase ? strncasecmp(rule, (const char *)v, n) == 0 : memcmp(rule, v, n) == 0;
}

/* Does any subject attribute nid of cert equal one of rules? */
static int name_matches(WOLFSSL_X509 *cert, int nid, char *const *rules, size_t n)
{
	WOLFSSL_X509_NAME *name = wolfSSL_X509_get_subject_name(cert);
	int pos = -1;
	size_t i;

	if (name == NULL || n == 0)
		return 0;
	while ((pos = wolfSSL_X509_NAME_get_index_by_NID(name, nid, pos)) >= 0) {
		WOLFSSL_ASN1_STRING *s =
			wolfSSL_X509_NAME_ENTRY_get_data(wolfSSL_X509_NAME_get_entry(name, pos));

		if (s == NULL)
			continue;
		for (i = 0; i < n; i++)
			if (str_is(rules[i], wolfSSL_ASN1_STRING_data(s),
				    wolfSSL_ASN1_STRING_length(s), 0))
				return 1;
	}
	return 0;
}

/* Is some subject CN of cert equal to name (any case)? */
static int name_matches_nocase(WOLFSSL_X509 *cert, const char *name)
{
	WOLFSSL_X509_NAME *subj = wolfSSL_X509_get_subject_name(cert);
	int pos = -1;

	while (subj != NULL &&
		(pos = wolfSSL_X509_NAME_get_index_by_NID(subj, NID_commonName, pos)) >= 0) {
		WOLFSSL_ASN1_STRING *s =
			wolfSSL_X509_NAME_ENTRY_get_data(wolfSSL_X509_NAME_get_entry(subj, pos));

		if (s != NULL &&
			str_is(name, wolfSSL_ASN1_STRING_data(s), wolfSSL_ASN1_STRING_length(s), 1))
			return 1;
	}
	return 0;
}

static struct DecodedCert *decode(WOLFSSL_X509 *cert)
{
	struct DecodedCert *d;
	const unsigned char *der;
	int len = 0;

	der = wolfSSL_X509_get_der(cert, &len);
	if (der == NULL || len <= 0 || (d = malloc(sizeof(*d))) == NULL)
		return NULL;
	wc_InitDecodedCert(d, der, (word32)len, NULL);
	if (wc_ParseCert(d, CERT_TYPE, NO_VERIFY, NULL) != 0) {
		wc_FreeDecodedCert(d);
		free(d);
		return NULL;
	}
	return d;
}

static void decoded_free(struct DecodedCert *d)
{
	if (d != NULL) {
		wc_FreeDecodedCert(d);
		free(d);
	}
}

static int san_matches(
	const struct DecodedCert *d, int type, char *const *rules, size_t n, int nocase)
{
	const DNS_entry *e;
	size_t i;

	for (e = d->altNames; e != NULL; e = e->next) {
		if (e->type != type)
			continue;
		for (i = 0; i < n; i++)
			if (str_is(rules[i], (const unsigned char *)e->name, e->len, nocase))
				return 1;
	}
	return 0;
}

static int spki_matches(WOLFSSL_X509 *cert, const struct tls_rules *r)
{
	const unsigned char *der;
	const uint8_t *spki;
	size_t spki_len, i;
	uint8_t hash[WC_SHA256_DIGEST_SIZE];
	int len = 0;

	if (r->nspki == 0)
		return 0;
	der = wolfSSL_X509_get_der(cert, &len);
	if (der == NULL || len <= 0 || tls_der_cert_spki(der, (size_t)len, &spki, &spki_len) != 0)
		return 0;
	if (wc_Sha256Hash(spki, (word32)spki_len, hash) != 0)
		return 0;
	for (i = 0; i < r->nspki; i++)
		if (memcmp(hash, r->spki[i], sizeof(hash)) == 0)
			return 1;
	return 0;
}

/* 1 if a rule allows the (verified) peer certificate. */
static int is_allowed(WOLFSSL_X509 *cert, const struct tls_rules *r)
{
	struct DecodedCert *d;
	int ok;

	if (r->all)
		return 1;
	if (name_matches(cert, NID_commonName, r->cn, r->ncn) ||
		name_matches(cert, NID_organizationalUnitName, r->ou, r->nou) ||
		spki_matches(cert, r))
		return 1;
	if (r->ndns == 0 && r->nuri == 0)
		return 0;
	if ((d = decode(cert)) == NULL)
		return 0;
	ok = san_matches(d, ASN_DNS_TYPE, r->dns, r->ndns, 1) ||
		san_matches(d, ASN_URI_TYPE, r->uri, r->nuri, 0);
	decoded_free(d);
	return ok;
}

/* ---- the server's name (client side) ---- */

/* RFC 6125: exact, any case; a wildcard only as the whole leftmost label
 * of a pattern with at least two more labels, matching one label. */
static int dns_match(const char *pat, size_t plen, const char *name)
{
	size_t nlen = strlen(name);
	const char *dot;

	if (memchr(pat, '\0', plen) != NULL)
		return 0;
	if (plen == nlen && strncasecmp(pat, name, plen) == 0)
		return 1;
	if (plen < 4 || pat[0] != '*' || pat[1] != '.' || memchr(pat + 2, '.', plen - 2) == NULL)
		return 0;
	dot = strchr(name, '.');
	if (dot == NULL || dot == name)
		return 0;
	return (size_t)(name + nlen - dot) == plen - 1 && strncasecmp(dot, pat + 1, plen - 1) == 0;
}

/* The certificate names the server we meant: IP SANs for an address; DNS
 * SANs for a name, the CN only when there is no DNS SAN. wolfSSL's own
 * check (wolfSSL_check_domain_name) accepts the CN beside DNS SANs, and
 * its address check does not run in this build (measured). */
static int name_ok(WOLFSSL_X509 *cert, const struct DecodedCert *d, const char *name, int is_ip)
{
	unsigned char addr[16];
	const DNS_entry *e;
	int alen = 0, has_dns = 0;

	if (is_ip) {
		if (inet_pton(AF_INET, name, addr) == 1)
			alen = 4;
		else if (inet_pton(AF_INET6, name, addr) == 1)
			alen = 16;
	}
	for (e = d->altNames; e != NULL; e = e->next) {
		if (is_ip && e->type == ASN_IP_TYPE && e->len == alen &&
			memcmp(e->name, addr, (size_t)alen) == 0)
			return 1;
		if (!is_ip && e->type == ASN_DNS_TYPE) {
			has_dns = 1;
			if (e->len > 0 && dns_match(e->name, (size_t)e->len, name))
				return 1;
		}
	}
	if (is_ip || has_dns)
		return 0;
	return name_matches_nocase(cert, name);
}

/* ---- describing a certificate ---- */

struct line {
	char *buf;
	size_t len, cap;
};

/* Append s (n bytes, untrusted) cleaned; marks truncation with "...". */
static void line_add(struct line *l, const char *s, size_t n)
{
	char clean[TLS_PEER_MAX];

	if (l->len + 1 >= l->cap)
		return;
	mtls_log_clean(clean, sizeof(clean), s, n);
	n = strlen(clean);
	if (l->len + n + 1 > l->cap) {
		n = l->cap - l->len - 1;
		memcpy(l->buf + l->len, clean, n);
		l->len += n;
		if (l->cap >= 4)
			memcpy(l->buf + l->cap - 4, "...", 3);
	} else {
		memcpy(l->buf + l->len, clean, n);
		l->len += n;
	}
	l->buf[l->len] = '\0';
}

static void line_name(struct line *l, WOLFSSL_X509 *cert, int nid, const char *label)
{
	WOLFSSL_X509_NAME *name = wolfSSL_X509_get_subject_name(cert);
	int pos = -1, first = 1;

	if (name == NULL)
		return;
	while ((pos = wolfSSL_X509_NAME_get_index_by_NID(name, nid, pos)) >= 0) {
		WOLFSSL_ASN1_STRING *s =
			wolfSSL_X509_NAME_ENTRY_get_data(wolfSSL_X509_NAME_get_entry(name, pos));
		int n = s ? wolfSSL_ASN1_STRING_length(s) : 0;

		if (n <= 0)
			continue;
		if (l->len > 0)
			line_add(l, first ? " " : ",", 1);
		if (first)
			line_add(l, label, strlen(label));
		line_add(l, (const char *)wolfSSL_ASN1_STRING_data(s), (size_t)n);
		first = 0;
	}
}

void tls_describe_cert(WOLFSSL_X509 *cert, char *out, size_t outlen)
{
	struct line l = {out, 0, outlen};
	struct DecodedCert *d;
	const DNS_entry *e;
	int first = 1;

	if (outlen == 0)
		return;
	out[0] = '\0';
	line_name(&l, cert, NID_commonName, "CN=");
	line_name(&l, cert, NID_organizationalUnitName, "OU=");
	if ((d = decode(cert)) == NULL)
		return;
	for (e = d->altNames; e != NULL; e = e->next) {
		const char *v = e->name;
		size_t n = e->len > 0 ? (size_t)e->len : 0;

		if (e->type == ASN_IP_TYPE && e->ipString != NULL) {
			v = e->ipString;
			n = strlen(v);
		} else if (e->type != ASN_DNS_TYPE && e->type != ASN_URI_TYPE) {
			continue;
		}
		line_add(&l, first ? (l.len ? " SAN=" : "SAN=") : ",", first ? (l.len ? 5 : 4) : 1);
		line_add(&l, v, n);
		first = 0;
	}
	decoded_free(d);
}

/* ---- verification ---- */

/* The verification callback sees OpenSSL-style X509_V_ERR_* codes for
 * some errors (this wolfSSL is built with OPENSSL_COMPATIBLE_DEFAULTS) and
 * wolfSSL's own negative codes for the rest: both are mapped, to words
 * for the log and a reason for the metrics. */
struct verify_err {
	int err;
	enum stats_reason reason;
	const char *text;
};

static const struct verify_err verify_errs[] = {
	{ASN_NO_SIGNER_E, STATS_R_UNKNOWN_CA, "unknown CA"},
	{X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, STATS_R_UNKNOWN_CA, "unknown CA"},
	{X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, STATS_R_UNKNOWN_CA, "unknown CA"},
	{X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, STATS_R_UNKNOWN_CA, "unknown CA"},
	{X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, STATS_R_UNKNOWN_CA, "unknown CA"},
	{ASN_AFTER_DATE_E, STATS_R_CERT_EXPIRED, "certificate expired"},
	{X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD, STATS_R_CERT_EXPIRED, "certificate expired"},
	{X509_V_ERR_CERT_HAS_EXPIRED, STATS_R_CERT_EXPIRED, "certificate expired"},
	{ASN_BEFORE_DATE_E, STATS_R_CERT_NOT_YET_VALID, "certificate not yet valid"},
	{X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD, STATS_R_CERT_NOT_YET_VALID,
		"certificate not yet valid"},
	{X509_V_ERR_CERT_NOT_YET_VALID, STATS_R_CERT_NOT_YET_VALID, "certificate not yet valid"},
	{CRL_CERT_REVOKED, STATS_R_CERT_REVOKED, "certificate revoked"},
	{X509_V_ERR_CERT_REVOKED, STATS_R_CERT_REVOKED, "certificate revoked"},
	{CRL_MISSING, STATS_R_OTHER, "no CRL for the certificate's issuer in the CRL file"},
	{CRL_CERT_DATE_ERR, STATS_R_OTHER, "CRL out of date (next update passed)"},
	{ASN_SIG_CONFIRM_E, STATS_R_OTHER, "certificate signature invalid"},
	{X509_V_ERR_CERT_SIGNATURE_FAILURE, STATS_R_OTHER, "certificate signature invalid"},
	{X509_V_ERR_PATH_LENGTH_EXCEEDED, STATS_R_OTHER, "CA path length exceeded"},
	{ASN_PATHLEN_INV_E, STATS_R_OTHER, "CA path length exceeded"},
	{ASN_PATHLEN_SIZE_E, STATS_R_OTHER, "CA path length exceeded"},
	{DOMAIN_NAME_MISMATCH, STATS_R_NAME_MISMATCH, "server name mismatch"},
	{IPADDR_MISMATCH, STATS_R_NAME_MISMATCH, "server address mismatch"},
	{MAX_CHAIN_ERROR, STATS_R_OTHER, "certificate chain too long"},
	{X509_V_ERR_CERT_CHAIN_TOO_LONG, STATS_R_OTHER, "certificate chain too long"},
	{NO_PEER_CERT, STATS_R_NO_PEER_CERT, "no client certificate"},
};

static const struct verify_err *verify_lookup(int err)
{
	size_t i;

	for (i = 0; i < sizeof(verify_errs) / sizeof(verify_errs[0]); i++)
		if (verify_errs[i].err == err)
			return &verify_errs[i];
	return NULL;
}

static void record_verify_error(struct tls_conn *c, WOLFSSL_X509_STORE_CTX *store, int err)
{
	WOLFSSL_X509 *cert = wolfSSL_X509_STORE_CTX_get_current_cert(store);

	if (c->verify_err != 0)
		return;
	c->verify_err = err ? err : VERIFY_CERT_ERROR;
	c->verify_depth = wolfSSL_X509_STORE_CTX_get_error_depth(store);
	c->verify_subject[0] = '\0';
	if (cert != NULL)
		tls_describe_cert(cert, c->verify_subject, sizeof(c->verify_subject));
}

static int server_name_ok(struct tls_conn *c, WOLFSSL_X509 *cert)
{
	const struct tls_side *side = c->side;
	struct DecodedCert *d = decode(cert);
	int ok = d != NULL && name_ok(cert, d, side->verify_name, side->verify_is_ip);

	decoded_free(d);
	if (!ok)
		tls_conn_fail_why(c, STATS_R_NAME_MISMATCH, MTLS_ERR_PROTOCOL,
			"server %s mismatch: expected %s, certificate has %s",
			side->verify_is_ip ? "address" : "name", side->verify_name,
			c->peer[0] ? c->peer : "no names");
	return ok;
}

int tls_verify_cb(int ok, WOLFSSL_X509_STORE_CTX *store)
{
	WOLFSSL *ssl =
		wolfSSL_X509_STORE_CTX_get_ex_data(store, wolfSSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl ? wolfSSL_get_app_data(ssl) : NULL;
	WOLFSSL_X509 *cert;

	if (c == NULL)
		return 0; /* not ours: refuse rather than guess */
	if (!ok) {
		record_verify_error(c, store, wolfSSL_X509_STORE_CTX_get_error(store));
		return 0;
	}
	if (wolfSSL_X509_STORE_CTX_get_error_depth(store) != 0)
		return 1;
	/* The leaf, after its chain, dates and CRL passed: authorization. */
	cert = wolfSSL_X509_STORE_CTX_get_current_cert(store);
	if (cert == NULL) {
		tls_conn_fail_why(c, STATS_R_NO_PEER_CERT, MTLS_ERR_PROTOCOL,
			"peer certificate missing in verification");
		return 0;
	}
	tls_describe_cert(cert, c->peer, sizeof(c->peer));
	if (!c->side->is_server && !server_name_ok(c, cert))
		return 0;
	if ((c->side->is_server || !tls_rules_empty(&c->side->rules)) &&
		!is_allowed(cert, &c->side->rules)) {
		tls_conn_fail_why(c, STATS_R_PEER_NOT_ALLOWED, MTLS_ERR_PROTOCOL,
			"peer not allowed: %s (no allow rule matches)",
			c->peer[0] ? c->peer : "(certificate without names)");
		return 0;
	}
	return 1;
}

/* ---- handshake failures ---- */

static const char *alert_name(int code)
{
	switch (code) {
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 40: return "handshake_failure";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 86: return "inappropriate_fallback";
	case 90: return "user_canceled";
	case 109: return "missing_extension";
	case 110: return "unsupported_extension";
	case 112: return "unrecognized_name";
	case 116: return "certificate_required";
	case 120: return "no_application_protocol";
	default: return "unknown alert";
	}
}

/* What the peer told us, if it sent a fatal alert. */
int tls_peer_alert(struct tls_conn *c, char *buf, size_t len)
{
	WOLFSSL_ALERT_HISTORY h;

	memset(&h, 0, sizeof(h));
	if (wolfSSL_get_alert_history(c->ssl, &h) != WOLFSSL_SUCCESS || h.last_rx.level != 2)
		return 0;
	if (h.last_rx.code == 70)
		snprintf(buf, len, "protocol version: the peer refused our TLS version (alert %s)",
			alert_name(h.last_rx.code));
	else
		snprintf(buf, len, "the peer refused the handshake: alert %s (%d)",
			alert_name(h.last_rx.code), h.last_rx.code);
	return 1;
}

/* A peer's fatal alert as a reason: what the peer found wrong with us
 * (our certificate expired, our CA unknown to it, we are not allowed). */
static enum stats_reason alert_reason(int code)
{
	switch (code) {
	case 44: return STATS_R_CERT_REVOKED;
	case 45: return STATS_R_CERT_EXPIRED;
	case 48: return STATS_R_UNKNOWN_CA;
	case 49: return STATS_R_PEER_NOT_ALLOWED;
	case 70: return STATS_R_PROTOCOL_VERSION;
	case 116: return STATS_R_NO_PEER_CERT;
	default: return STATS_R_OTHER;
	}
}

/* The peer's fatal alert as the failure, or 0 if it sent none. */
static int fail_alert(struct tls_conn *c)
{
	WOLFSSL_ALERT_HISTORY h;
	char buf[TLS_DETAIL_MAX];

	if (!tls_peer_alert(c, buf, sizeof(buf)))
		return 0;
	memset(&h, 0, sizeof(h));
	if (wolfSSL_get_alert_history(c->ssl, &h) == WOLFSSL_SUCCESS)
		c->reason = alert_reason(h.last_rx.code);
	return mtls_err_set(MTLS_ERR_PROTOCOL, "%s", buf);
}

static int fail_verify(struct tls_conn *c)
{
	const struct verify_err *v = verify_lookup(c->verify_err);
	const char *why = v != NULL ? v->text : NULL;
	char num[48];

	c->reason = v != NULL ? v->reason : STATS_R_OTHER;
	if (why == NULL) {
		snprintf(num, sizeof(num), "certificate verification failed (wolfSSL %d)",
			c->verify_err);
		why = num;
	}
	if (c->verify_err == DOMAIN_NAME_MISMATCH || c->verify_err == IPADDR_MISMATCH)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "%s: expected %s, certificate has %s", why,
			c->side->verify_name ? c->side->verify_name : "?",
			c->verify_subject[0] ? c->verify_subject : "no names");
	return mtls_err_set(MTLS_ERR_PROTOCOL, "%s: %s%s (depth %d)", why,
		c->verify_subject[0] ? c->verify_subject : "certificate without names",
		c->verify_depth > 0 ? ", a CA certificate in the chain" : "", c->verify_depth);
}

/* Failures wolfSSL reports by its own code (no callback saw them). */
static int fail_wolfssl(struct tls_conn *c, int werr)
{
	char msg[WOLFSSL_MAX_ERROR_SZ];
	int rc;

	switch (werr) {
	case VERSION_ERROR:
		c->reason = STATS_R_PROTOCOL_VERSION;
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"protocol version: the peer offered %s, we speak TLS %s%s",
			wolfSSL_get_version(c->ssl), c->side->vmin == 13 ? "1.3" : "1.2",
			c->side->vmax == 13 && c->side->vmin == 12 ? " or 1.3" : "");
	case INVALID_PARAMETER:
		/* A TLS 1.2 client matches the server's certificate request against
		 * the cipher suite's algorithm: nothing fit our key. */
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"no signature algorithm the server accepts fits our key (wolfSSL %d)",
			werr);
	case MATCH_SUITE_ERROR:
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"no cipher suite or signature algorithm "
			"shared with the peer");
	case SOCKET_PEER_CLOSED_E:
	case SOCKET_ERROR_E:
		if ((rc = fail_alert(c)) != 0)
			return rc;
		return mtls_err_set(MTLS_ERR_IO,
			"connection closed by the peer during the "
			"handshake");
	default: break;
	}
	if ((rc = fail_alert(c)) != 0)
		return rc;
	wolfSSL_ERR_error_string_n((unsigned long)werr, msg, sizeof(msg));
	return mtls_err_set(MTLS_ERR_PROTOCOL, "TLS handshake failed: %s (wolfSSL %d)", msg, werr);
}

/* c->reason is set with the error (tls_conn_fail_reason reads it). */
int tls_handshake_error(struct tls_conn *c, int werr)
{
	const struct verify_err *v;

	if (c->fail_code != 0)
		return mtls_err_set(c->fail_code, "%s", c->fail);
	c->reason = STATS_R_OTHER;
	if (c->verify_err != 0)
		return fail_verify(c);
	/* More certificates than MAX_CHAIN_DEPTH (5 in the fast build, 9 in
	 * Debian's): wolfSSL stops reading them before any verification
	 * callback, says why only in the verify result and fails the
	 * handshake as "Handshake message too large" (measured). */
	if (wolfSSL_get_verify_result(c->ssl) == X509_V_ERR_CERT_CHAIN_TOO_LONG)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"certificate chain too long: the peer sent more certificates than this "
			"wolfSSL accepts (MAX_CHAIN_DEPTH; wolfSSL %d)",
			werr);
	if ((v = verify_lookup(werr)) != NULL) {
		c->reason = v->reason;
		return mtls_err_set(MTLS_ERR_PROTOCOL, "%s", v->text);
	}
	return fail_wolfssl(c, werr);
}
