/* The agent's TLS layer: wolfSSL contexts whose private key stays on the
 * token. The context holds our certificate chain and, as its "private
 * key", the token key's public SubjectPublicKeyInfo; every signature goes
 * through the PK callbacks to the signer (never wolfSSL's PKCS#11 layer,
 * never a crypto-callback device: see notes/wolfssl-pkcs11.md).
 *
 * Threads: a tls_side is shared by the handshake workers. Its context is
 * replaced as a whole when the CRL changes (each WOLFSSL keeps a reference
 * on the context it was made from), so a context is never changed while
 * handshakes use it. A tls_conn is used by one thread at a time. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mtls/err.h"
#include "mtls/log.h"
#include "tls_ext.h"
#include "tls_int.h"

/* Ticket keys rotate hourly; tickets and sessions live as long. */
#define TLS_TICKET_PERIOD_S 3600u

/* The fastest cipher of the wolfSSL we run on first; a server prefers its
 * own order. Built with AES-NI (MTLS_WOLFSSL_FAST), AES-128-GCM runs at
 * about 3 GB/s here; without it (Debian's package) ChaCha20-Poly1305 is 2-3
 * times faster than AES-GCM (notes/wolfssl-pkcs11.md). */
#ifdef WOLFSSL_AESNI
static const char tls_ciphers[] = "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384:"
				  "TLS13-CHACHA20-POLY1305-SHA256:"
				  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
				  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
#else
static const char tls_ciphers[] = "TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:"
				  "TLS13-AES256-GCM-SHA384:"
				  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
				  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";
#endif

/* Signature algorithms we accept from the peer (no SHA-1, no SHA-224). */
static const char tls_sigalgs[] = "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:"
				  "RSA-PSS+SHA256:RSA-PSS+SHA384:RSA-PSS+SHA512:"
				  "RSA+SHA256:RSA+SHA384:RSA+SHA512";

int tls_global_init(void)
{
	if (wolfSSL_Init() != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_INTERNAL, "wolfSSL_Init failed");
	return 0;
}

void tls_global_cleanup(void)
{
	wolfSSL_Cleanup();
}

void tls_thread_cleanup(void)
{
#ifdef FP_ECC
	/* This wolfSSL keeps a fixed-point ECC cache per thread (FP_ECC): up
	 * to about 12 MB, freed only by the thread itself. */
	wc_ecc_fp_free();
#endif
}

/* ---- files ---- */

/* Read a whole file (NUL-terminated) of at most TLS_FILE_MAX bytes; st
 * gets the identity of what was read. */
static int read_file(
	const char *what, const char *path, char **buf, size_t *len, struct tls_crl_stamp *st)
{
	struct stat sb;
	char *p = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, rc = 0;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) /* no FIFO hang */
		return mtls_err_set(MTLS_ERR_IO, "%s %s: %s", what, path, strerror(errno));
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		rc = mtls_err_set(MTLS_ERR_IO, "%s %s: not a regular file", what, path);
		goto out;
	}
	if (sb.st_size <= 0 || (unsigned long long)sb.st_size > TLS_FILE_MAX) {
		rc = mtls_err_set(MTLS_ERR_TOO_BIG, "%s %s: %lld bytes (1 to %u allowed)", what,
			path, (long long)sb.st_size, TLS_FILE_MAX);
		goto out;
	}
	if ((p = malloc((size_t)sb.st_size + 1)) == NULL) {
		rc = mtls_err_set(MTLS_ERR_NOMEM, "%s %s", what, path);
		goto out;
	}
	while (got < (size_t)sb.st_size) {
		n = read(fd, p + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = mtls_err_set(MTLS_ERR_IO, "%s %s: %s", what, path,
				n < 0 ? strerror(errno) : "file shrank while read");
			goto out;
		}
		got += (size_t)n;
	}
	p[got] = '\0';
	if (st != NULL) {
		st->dev = sb.st_dev;
		st->ino = sb.st_ino;
		st->size = sb.st_size;
		st->mtime = sb.st_mtim;
		st->present = 1;
	}
	*buf = p;
	*len = got;
	p = NULL;
out:
	free(p);
	close(fd);
	return rc;
}

/* ---- the context ---- */

#ifndef HAVE_CRL
static int load_crls(WOLFSSL_CTX *ctx, const char *path, char *data, size_t len)
{
	return mtls_err_set(MTLS_ERR_CONFIG,
		"CRL file %s: this wolfSSL was built without CRL support (HAVE_CRL)", path);
}
#else
/* Load every CRL in the file (PEM blocks one by one: wolfSSL takes one per
 * call; a DER file is one CRL). */
static int load_crls(WOLFSSL_CTX *ctx, const char *path, char *data, size_t len)
{
	static const char begin[] = "-----BEGIN X509 CRL-----", end[] = "-----END X509 CRL-----";
	char *p = data, *b, *e;
	int n = 0, ret;

	/* The peer's certificate is checked against its issuer's CRL, which
	 * must be in the file (a missing one refuses the peer); CA
	 * certificates of the chain are not checked. */
	if (wolfSSL_CTX_EnableCRL(ctx, WOLFSSL_CRL_CHECK) != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_INTERNAL, "cannot enable CRL checks");
	if (strstr(data, begin) == NULL) {
		ret = wolfSSL_CTX_LoadCRLBuffer(
			ctx, (unsigned char *)data, (long)len, WOLFSSL_FILETYPE_ASN1);
		if (ret != WOLFSSL_SUCCESS)
			return mtls_err_set(MTLS_ERR_CONFIG,
				"CRL file %s: not a DER CRL (wolfSSL %d)", path, ret);
		return 0;
	}
	while ((b = strstr(p, begin)) != NULL) {
		if ((e = strstr(b, end)) == NULL)
			return mtls_err_set(MTLS_ERR_CONFIG, "CRL file %s: CRL %d has no END line",
				path, n + 1);
		e += sizeof(end) - 1;
		ret = wolfSSL_CTX_LoadCRLBuffer(
			ctx, (unsigned char *)b, (long)(e - b), WOLFSSL_FILETYPE_PEM);
		if (ret != WOLFSSL_SUCCESS)
			return mtls_err_set(MTLS_ERR_CONFIG,
				"CRL file %s: CRL %d rejected (wolfSSL %d): is it signed by a CA of "
				"the CA file, and still current?",
				path, n + 1, ret);
		n++;
		p = e;
	}
	return 0;
}
#endif

static WOLFSSL_METHOD *tls_method(const struct tls_side *side)
{
	if (side->vmax == 12)
		return side->is_server ? wolfTLSv1_2_server_method() : wolfTLSv1_2_client_method();
	if (side->vmin == 13)
		return side->is_server ? wolfTLSv1_3_server_method() : wolfTLSv1_3_client_method();
	return side->is_server ? wolfSSLv23_server_method() : wolfSSLv23_client_method();
}

/* Our chain, the token key (as its public key), trust anchors, peer
 * verification, algorithms. */
static int ctx_identity(struct tls_side *side, WOLFSSL_CTX *ctx)
{
	int ret;

	tls_set_pk_callbacks(ctx); /* before the key: then a public key is accepted */
	ret = wolfSSL_CTX_use_certificate_chain_buffer_format(ctx,
		(const unsigned char *)side->cert_pem, (long)side->cert_len, WOLFSSL_FILETYPE_PEM);
	if (ret != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"tunnel %s: certificate chain rejected (wolfSSL %d)", side->name, ret);
	ret = wolfSSL_CTX_use_PrivateKey_buffer(
		ctx, side->info.spki, (long)side->info.spki_len, WOLFSSL_FILETYPE_ASN1);
	if (ret != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_KEY,
			"tunnel %s: token public key rejected (wolfSSL %d)", side->name, ret);
	ret = wolfSSL_CTX_load_verify_buffer(ctx, (const unsigned char *)side->cacert_pem,
		(long)side->cacert_len, WOLFSSL_FILETYPE_PEM);
	if (ret != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"tunnel %s: CA file holds no usable certificate "
			"(wolfSSL %d)",
			side->name, ret);
	wolfSSL_CTX_set_verify(ctx,
		WOLFSSL_VERIFY_PEER | (side->is_server ? WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
		tls_verify_cb);
	if (wolfSSL_CTX_set_cipher_list(ctx, tls_ciphers) != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_INTERNAL, "cipher list refused");
	/* After the cipher list, which resets the signature algorithms. */
	if (wolfSSL_CTX_set1_sigalgs_list(ctx, tls_sigalgs) != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_INTERNAL, "signature algorithm list refused");
	return 0;
}

/* Resumption: sessions never cross sides; server tickets with our keys. */
static int ctx_sessions(struct tls_side *side, WOLFSSL_CTX *ctx)
{
	if (side->vmin == 12 && side->vmax == 13 &&
		wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_INTERNAL, "cannot set TLS 1.2 as the minimum");
	if (wolfSSL_CTX_set_session_id_context(ctx, side->sid_ctx, sizeof(side->sid_ctx)) !=
		WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_INTERNAL, "session id context refused");
	wolfSSL_CTX_set_timeout(ctx, TLS_TICKET_PERIOD_S);
	if (!side->is_server)
		return 0;
	if (!side->resume) {
		/* session-resume = no: no cache, no tickets, full handshakes. */
		if (wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF) !=
				WOLFSSL_SUCCESS ||
			wolfSSL_CTX_NoTicketTLSv12(ctx) != WOLFSSL_SUCCESS ||
			/* 0 is success here; a TLS 1.2-only context has no 1.3 tickets */
			(side->vmax == 13 && wolfSSL_CTX_no_ticket_TLSv13(ctx) != 0))
			return mtls_err_set(
				MTLS_ERR_INTERNAL, "cannot turn session resumption off");
		return 0;
	}
	/* wolfSSL's session cache is one for the whole process, and the
	 * session id context does not keep a TLS 1.2 session id from
	 * resuming on another server tunnel (measured): that would skip the
	 * other tunnel's verification and allow rules. Servers resume by
	 * their own tickets only. */
	if (wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF) != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_INTERNAL, "cannot turn the session cache off");
	if (wolfSSL_CTX_set_TicketEncCb(ctx, tls_ticket_cb) != WOLFSSL_SUCCESS ||
		wolfSSL_CTX_set_TicketEncCtx(ctx, &side->tickets) != WOLFSSL_SUCCESS ||
		wolfSSL_CTX_set_TicketHint(ctx, (int)TLS_TICKET_PERIOD_S) != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_INTERNAL, "session ticket setup refused");
	return 0;
}

/* A complete context from the side's inputs and the CRL file as it is
 * now. *stamp gets the CRL file's identity. */
static int ctx_build(struct tls_side *side, WOLFSSL_CTX **out, struct tls_crl_stamp *stamp)
{
	WOLFSSL_CTX *ctx;
	char *crl = NULL;
	size_t crl_len = 0;
	int rc;

	*out = NULL;
	if ((ctx = wolfSSL_CTX_new(tls_method(side))) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "wolfSSL_CTX_new failed");
	if ((rc = ctx_identity(side, ctx)) != 0 || (rc = ctx_sessions(side, ctx)) != 0)
		goto out;
	if (side->crl_path != NULL) {
		if ((rc = read_file("CRL file", side->crl_path, &crl, &crl_len, stamp)) != 0 ||
			(rc = load_crls(ctx, side->crl_path, crl, crl_len)) != 0)
			goto out;
	}
	*out = ctx;
	ctx = NULL;
out:
	free(crl);
	wolfSSL_CTX_free(ctx);
	return rc;
}

/* ---- the side ---- */

/* Check our certificate (first PEM block of cert_pem) holds the token key.
 * what names where it came from, for messages ("file PATH"). */
static int check_cert_key(struct tls_side *side, const char *what)
{
	unsigned char *der;
	const uint8_t *spki;
	size_t spki_len;
	int len, rc = 0;

	if ((der = malloc(side->cert_len)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "certificate %s", what);
	len = wc_CertPemToDer((const unsigned char *)side->cert_pem, (int)side->cert_len, der,
		(int)side->cert_len, CERT_TYPE);
	if (len <= 0) {
		rc = mtls_err_set(MTLS_ERR_CONFIG,
			"certificate %s: no PEM certificate (wolfSSL %d)", what, len);
		goto out;
	}
	if (tls_der_cert_spki(der, (size_t)len, &spki, &spki_len) != 0) {
		rc = mtls_err_set(MTLS_ERR_CONFIG, "certificate %s: DER malformed", what);
		goto out;
	}
	if (!tls_spki_same_key(spki, spki_len, side->info.spki, side->info.spki_len))
		rc = mtls_err_set(MTLS_ERR_KEY,
			"tunnel %s: certificate %s is not for the token key (its public key differs "
			"from the key's on the token): use the certificate issued for this key",
			side->name, what);
out:
	free(der);
	return rc;
}

/* A DER certificate from the token as PEM in side->cert_pem, so that it
 * is checked, chained and loaded exactly like one from a file. */
static int token_cert_pem(struct tls_side *side, const uint8_t *der, size_t len)
{
	/* Base64 with a newline per 64 characters, and the two lines. */
	size_t cap = (len + 2) / 3 * 4 + len / 48 + 2 + 128;
	int n;

	if ((side->cert_pem = malloc(cap + 1)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "tunnel %s: certificate", side->name);
	n = wc_DerToPem(der, (word32)len, (byte *)side->cert_pem, (word32)cap, CERT_TYPE);
	if (n <= 0 || (size_t)n > cap)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"tunnel %s: the certificate on the token is not DER (wolfSSL %d)",
			side->name, n);
	side->cert_pem[n] = '\0';
	side->cert_len = (size_t)n;
	return 0;
}

static int no_token_cert(struct tls_side *side, const char *uri)
{
	return mtls_err_set(MTLS_ERR_NO_OBJECT,
		"tunnel %s: no certificate on the token matches '%s': put it there beside the key "
		"(same CKA_ID), e.g. `pkcs11-tool --module MODULE --login --write-object cert.der "
		"--type cert --id KEYID` (KEYID as `pkcs11-tool --list-objects --type privkey` shows "
		"it), or give a PEM file",
		side->name, uri);
}

/* "CN=... serial=... expires YYYY-MM-DD" of a DER certificate: what tells
 * two certificates of one key apart (a renewal keeps the names). */
static void describe_token_cert(const uint8_t *der, size_t len, char *out, size_t outlen)
{
	WOLFSSL_X509 *x =
		wolfSSL_X509_load_certificate_buffer(der, (int)len, WOLFSSL_FILETYPE_ASN1);
	unsigned char serial[20];
	char cn[65] = "", clean[65], hex[2 * sizeof(serial) + 1] = "?", day[16] = "?";
	int slen = sizeof(serial), i;
	struct tm tm;

	if (x == NULL) {
		snprintf(out, outlen, "not a certificate");
		return;
	}
	(void)wolfSSL_X509_NAME_get_text_by_NID(
		wolfSSL_X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	if (wolfSSL_X509_get_serial_number(x, serial, &slen) == WOLFSSL_SUCCESS && slen > 0)
		for (i = 0; i < slen && i < (int)sizeof(serial); i++)
			snprintf(hex + 2 * i, 3, "%02x", serial[i]);
	memset(&tm, 0, sizeof(tm));
	if (wolfSSL_ASN1_TIME_to_tm(wolfSSL_X509_get_notAfter(x), &tm) == WOLFSSL_SUCCESS)
		strftime(day, sizeof(day), "%Y-%m-%d", &tm);
	wolfSSL_X509_free(x);
	/* The token's contents are not ours: bounded, no control bytes. */
	mtls_log_clean(clean, sizeof(clean), cn, strlen(cn));
	snprintf(out, outlen, "CN=%s serial=%s expires %s", clean, hex, day);
}

/* Several certificates match: list them so the operator can delete the
 * stale one or pick one with object=. */
static int several_token_certs(
	struct tls_side *side, const char *uri, uint8_t *const *certs, const size_t *lens, size_t n)
{
	char list[320] = "", desc[128];
	size_t i, used;

	for (i = 0; i < n; i++) {
		describe_token_cert(certs[i], lens[i], desc, sizeof(desc));
		used = strlen(list);
		if (used < sizeof(list))
			snprintf(list + used, sizeof(list) - used, "%s[%s]", i ? ", " : "", desc);
	}
	return mtls_err_set(MTLS_ERR_AMBIGUOUS,
		"tunnel %s: %zu certificates on the token match '%s': %s; delete the stale ones, "
		"or name one with object= in the cert URI (`pkcs11-tool --list-objects --type "
		"cert` shows their labels)",
		side->name, n, uri, list);
}

/* Our certificate from the token, through the signer (this process never
 * loads the PKCS#11 module). The URI names it on the key's token; without
 * id= or object= it is the one with the key's CKA_ID. Exactly one must
 * match. */
static int load_token_cert(struct tls_side *side, const char *uri, char *what, size_t whatlen)
{
	char shown[128];
	uint8_t **certs = NULL;
	size_t *lens = NULL, n = 0;
	int rc;

	/* Bounded and cleaned for messages; a pin-value is refused before
	 * this (config check, and by the signer). */
	mtls_log_clean(shown, sizeof(shown) - 3, uri, strlen(uri));
	if (strlen(uri) >= sizeof(shown) - 3)
		strcat(shown, "...");
	snprintf(what, whatlen, "on the token (%s)", shown);
	if ((rc = signer_key_certs(side->signer, side->key, uri, &certs, &lens, &n)) != 0) {
		char why[256];

		snprintf(why, sizeof(why), "%s", mtls_err_detail());
		return mtls_err_set(rc, "tunnel %s: cannot read the certificate from the token: %s",
			side->name, why);
	}
	if (n == 0)
		rc = no_token_cert(side, shown);
	else if (n > 1)
		rc = several_token_certs(side, shown, certs, lens, n);
	else
		rc = token_cert_pem(side, certs[0], lens[0]);
	signer_certs_free(certs, lens, n);
	return rc;
}

/* Append the chain file (PEM) to side->cert_pem. */
static int append_chain(struct tls_side *side, const char *path)
{
	char *chain = NULL, *both;
	size_t chain_len = 0;
	int rc;

	if ((rc = read_file("chain file", path, &chain, &chain_len, NULL)) != 0)
		return rc;
	if ((both = malloc(side->cert_len + chain_len + 2)) == NULL) {
		free(chain);
		return mtls_err_set(MTLS_ERR_NOMEM, "chain %s", path);
	}
	memcpy(both, side->cert_pem, side->cert_len);
	both[side->cert_len] = '\n';
	memcpy(both + side->cert_len + 1, chain, chain_len + 1);
	free(side->cert_pem);
	side->cert_pem = both;
	side->cert_len += chain_len + 1;
	free(chain);
	return 0;
}

/* Certificate (from a file or the token) and chain into side->cert_pem;
 * side->cert_what says where the certificate came from. */
static int load_cert(struct tls_side *side, const struct cfg_tunnel *t)
{
	char *what = side->cert_what;
	size_t whatlen = sizeof(side->cert_what);
	int rc;

	if (t->cert == NULL || t->cacert == NULL)
		return mtls_err_set(
			MTLS_ERR_CONFIG, "tunnel %s: cert and cacert are required", side->name);
	if (strncmp(t->cert, "pkcs11:", 7) == 0) {
		rc = load_token_cert(side, t->cert, what, whatlen);
	} else {
		snprintf(what, whatlen, "file %s", t->cert);
		rc = read_file("certificate file", t->cert, &side->cert_pem, &side->cert_len, NULL);
	}
	if (rc == 0)
		rc = check_cert_key(side, what);
	if (rc == 0 && t->chain != NULL)
		rc = append_chain(side, t->chain);
	if (rc != 0)
		return rc;
	return read_file("CA file", t->cacert, &side->cacert_pem, &side->cacert_len, NULL);
}

/* Our certificate's validity, for metrics and a warning at start: peers
 * refuse an expired certificate, and the renewal tool should have acted. */
static void cert_dates(struct tls_side *side)
{
	const char *what = side->cert_what;
	WOLFSSL_X509 *x = wolfSSL_X509_load_certificate_buffer(
		(const unsigned char *)side->cert_pem, (int)side->cert_len, WOLFSSL_FILETYPE_PEM);
	struct tm tm;
	time_t now = time(NULL);

	if (x == NULL)
		return;
	memset(&tm, 0, sizeof(tm));
	if (wolfSSL_ASN1_TIME_to_tm(wolfSSL_X509_get_notAfter(x), &tm) == WOLFSSL_SUCCESS)
		side->not_after = (long long)timegm(&tm);
	memset(&tm, 0, sizeof(tm));
	if (wolfSSL_ASN1_TIME_to_tm(wolfSSL_X509_get_notBefore(x), &tm) == WOLFSSL_SUCCESS)
		side->not_before = (long long)timegm(&tm);
	wolfSSL_X509_free(x);
	if (side->not_after != 0 && now > side->not_after)
		mtls_log(MTLS_LOG_WARNING,
			"tunnel %s: certificate %s expired %lld days ago: peers will refuse it; "
			"renew it (mtls-provision renew)",
			side->name, what, (long long)(now - side->not_after) / 86400);
	else if (side->not_before != 0 && now < side->not_before)
		mtls_log(MTLS_LOG_WARNING,
			"tunnel %s: certificate %s is not valid before %lld s from now: peers will "
			"refuse it until then",
			side->name, what, (long long)(side->not_before - now));
}

/* The RSA schemes the token lacks, for messages. */
static const char *rsa_missing(unsigned caps)
{
	if (!(caps & P11_CAP_RSA_PSS) && !(caps & P11_CAP_RSA_PKCS1))
		return "RSA-PSS and PKCS#1 (no CKM_RSA_PKCS_PSS, no CKM_RSA_PKCS)";
	if (!(caps & P11_CAP_RSA_PSS))
		return "RSA-PSS (no CKM_RSA_PKCS_PSS)";
	return "PKCS#1 (no CKM_RSA_PKCS)";
}

/* Decision 4 for RSA keys. A scheme the token lacks is padded by the agent
 * and signed with raw RSA if the token has that (tls_sign.c); without raw
 * RSA, a token lacking RSA-PSS means TLS 1.2 with PKCS#1 signatures. */
static int check_rsa_mechanisms(struct tls_side *side)
{
	const struct signer_key_info *k = &side->info;
	unsigned both = P11_CAP_RSA_PSS | P11_CAP_RSA_PKCS1;

	if (!(k->caps & (both | P11_CAP_RSA_RAW)))
		return mtls_err_set(MTLS_ERR_MECHANISM,
			"tunnel %s: the token offers neither RSA-PSS, PKCS#1 nor raw RSA signatures",
			side->name);
	if (tls_rsa_modulus_bits(k->spki, k->spki_len, &side->rsa_bits) != 0)
		return mtls_err_set(
			MTLS_ERR_KEY, "tunnel %s: cannot read the RSA key's modulus", side->name);
	if ((k->caps & both) == both)
		return 0;
	if (k->caps & P11_CAP_RSA_RAW) {
		mtls_log(MTLS_LOG_NOTICE,
			"tunnel %s: the RSA key's token lacks %s: the agent pads those signatures "
			"and the token makes them with raw RSA (CKM_RSA_X_509)",
			side->name, rsa_missing(k->caps));
		return 0;
	}
	if (k->caps & P11_CAP_RSA_PSS)
		return 0;
	if (side->vmin == 13)
		return mtls_err_set(MTLS_ERR_MECHANISM,
			"tunnel %s: the RSA key's token lacks RSA-PSS (no CKM_RSA_PKCS_PSS, and no raw "
			"RSA, CKM_RSA_X_509, to pad it for), which TLS 1.3 requires; set tls-min = "
			"1.2 to use TLS 1.2 with PKCS#1 signatures (or use an EC key)",
			side->name);
	mtls_log(MTLS_LOG_NOTICE,
		"tunnel %s: the RSA key's token lacks RSA-PSS (no CKM_RSA_PKCS_PSS) and raw RSA "
		"(CKM_RSA_X_509): %susing TLS 1.2 with PKCS#1 signatures; peers that prefer "
		"RSA-PSS (most clients, servers with RSA certificates) will fail",
		side->name, side->vmax == 13 ? "TLS 1.3 is off, " : "");
	side->vmax = 12;
	return 0;
}

/* Decision 4: what the key can sign decides the TLS versions. */
static int check_mechanisms(struct tls_side *side)
{
	const struct signer_key_info *k = &side->info;

	if (k->type == P11_KEY_EC_P256 || k->type == P11_KEY_EC_P384) {
		if (!(k->caps & P11_CAP_ECDSA))
			return mtls_err_set(MTLS_ERR_MECHANISM,
				"tunnel %s: the token does not offer ECDSA (CKM_ECDSA) for the EC key",
				side->name);
		return 0;
	}
	if (k->type != P11_KEY_RSA)
		return mtls_err_set(
			MTLS_ERR_KEY, "tunnel %s: unsupported key type on the token", side->name);
	return check_rsa_mechanisms(side);
}

/* The name the server's certificate must carry: server_name, else the
 * target's host. */
static int set_verify_name(struct tls_side *side, const struct cfg_tunnel *t)
{
	const char *src = t->server_name, *end;
	unsigned char addr[16];
	char host[256];
	size_t n;

	if (src == NULL || src[0] == '\0') {
		src = t->target;
		if (src == NULL || strncmp(src, "unix:", 5) == 0)
			return mtls_err_set(MTLS_ERR_CONFIG,
				"tunnel %s: no server name to verify: set server-name", side->name);
		if (src[0] == '[') {
			src++;
			end = strchr(src, ']');
		} else {
			end = strrchr(src, ':');
		}
		n = end ? (size_t)(end - src) : strlen(src);
	} else {
		n = strlen(src);
	}
	if (n == 0 || n >= sizeof(host))
		return mtls_err_set(
			MTLS_ERR_CONFIG, "tunnel %s: server name empty or too long", side->name);
	memcpy(host, src, n);
	host[n] = '\0';
	side->verify_is_ip =
		inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
	if ((side->verify_name = strdup(host)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "server name");
	return 0;
}

static int side_init(
	struct tls_side *side, const struct cfg_tunnel *t, struct signer *s, unsigned key)
{
	int rc;

	side->is_server = t->mode == TUNNEL_SERVER;
	side->resume = !t->session_resume_off;
	side->signer = s;
	side->key = key;
	side->vmin = t->tls_min ? t->tls_min : 13;
	side->vmax = t->tls_max ? t->tls_max : 13;
	if ((side->name = strdup(t->name ? t->name : "?")) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "tunnel name");
	if ((side->vmin != 12 && side->vmin != 13) || (side->vmax != 12 && side->vmax != 13) ||
		side->vmin > side->vmax)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"tunnel %s: TLS versions %d to %d: use 1.2 or 1.3, minimum not above maximum",
			side->name, side->vmin, side->vmax);
	if ((rc = signer_key_info(s, key, &side->info)) != 0 ||
		(rc = check_mechanisms(side)) != 0 || (rc = load_cert(side, t)) != 0 ||
		(rc = tls_rules_copy(&side->rules, &t->allow)) != 0)
		return rc;
	cert_dates(side);
	if (side->is_server && tls_rules_empty(&side->rules))
		return mtls_err_set(MTLS_ERR_CONFIG,
			"tunnel %s: a server tunnel needs allow rules (or allow-all) to accept anyone",
			side->name);
	if (!side->is_server && (rc = set_verify_name(side, t)) != 0)
		return rc;
	if (t->crl != NULL && (side->crl_path = strdup(t->crl)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "CRL path");
	if (getrandom(side->sid_ctx, sizeof(side->sid_ctx), 0) != (ssize_t)sizeof(side->sid_ctx))
		return mtls_err_set(MTLS_ERR_INTERNAL, "getrandom failed");
	return ctx_build(side, &side->ctx, &side->crl_stamp);
}

const char *tls_library(void)
{
	static char text[96];

	snprintf(text, sizeof(text), "wolfSSL %s (%s)", wolfSSL_lib_version(),
#ifdef MTLS_WOLFSSL_FAST
		"fast build: AES-NI, Intel and SP assembly"
#else
		"system package"
#endif
	);
	return text;
}

int tls_side_new(const struct cfg_tunnel *t, struct signer *s, unsigned key, struct tls_side **out)
{
	struct tls_side *side;
	int rc;

	if (out == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "tls_side_new: out is NULL");
	*out = NULL;
	if (t == NULL || s == NULL || (t->mode != TUNNEL_CLIENT && t->mode != TUNNEL_SERVER))
		return mtls_err_set(MTLS_ERR_ARG, "tls_side_new: bad tunnel or signer");
	if ((side = calloc(1, sizeof(*side))) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "tls_side_new");
	if (pthread_mutex_init(&side->lock, NULL) != 0) {
		free(side);
		return mtls_err_set(MTLS_ERR_INTERNAL, "tls side lock");
	}
	if (pthread_mutex_init(&side->reload_lock, NULL) != 0) {
		pthread_mutex_destroy(&side->lock);
		free(side);
		return mtls_err_set(MTLS_ERR_INTERNAL, "tls side lock");
	}
	if ((rc = tls_tickets_init(&side->tickets, TLS_TICKET_PERIOD_S)) != 0) {
		pthread_mutex_destroy(&side->reload_lock);
		pthread_mutex_destroy(&side->lock);
		free(side);
		return rc;
	}
	if ((rc = side_init(side, t, s, key)) != 0) {
		tls_side_free(side);
		return rc;
	}
	*out = side;
	return 0;
}

void tls_side_free(struct tls_side *side)
{
	if (side == NULL)
		return;
	wolfSSL_CTX_free(side->ctx);
	if (side->session != NULL)
		wolfSSL_SESSION_free(side->session);
	tls_tickets_destroy(&side->tickets);
	tls_rules_free(&side->rules);
	free(side->name);
	free(side->verify_name);
	free(side->cert_pem);
	free(side->cacert_pem);
	free(side->crl_path);
	pthread_mutex_destroy(&side->reload_lock);
	pthread_mutex_destroy(&side->lock);
	free(side);
}

static int stamp_same(const struct tls_crl_stamp *a, const struct stat *b)
{
	return a->present && a->dev == b->st_dev && a->ino == b->st_ino && a->size == b->st_size &&
		a->mtime.tv_sec == b->st_mtim.tv_sec && a->mtime.tv_nsec == b->st_mtim.tv_nsec;
}

int tls_side_refresh_crl(struct tls_side *side)
{
	struct tls_crl_stamp stamp = {0};
	WOLFSSL_CTX *ctx, *old;
	WOLFSSL_SESSION *sess;
	struct stat sb;
	int rc = 0;

	if (side == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "tls_side_refresh_crl: side is NULL");
	if (side->crl_path == NULL)
		return 0;
	pthread_mutex_lock(&side->reload_lock);
	if (stat(side->crl_path, &sb) != 0) {
		rc = mtls_err_set(MTLS_ERR_IO, "CRL file %s: %s (keeping the CRL loaded before)",
			side->crl_path, strerror(errno));
		goto out;
	}
	if (stamp_same(&side->crl_stamp, &sb))
		goto out;
	if ((rc = ctx_build(side, &ctx, &stamp)) != 0) {
		char why[256];

		/* The detail is the argument's own buffer: copy it first. */
		snprintf(why, sizeof(why), "%s", mtls_err_detail());
		rc = mtls_err_set(rc, "%s (keeping the CRL loaded before)", why);
		goto out;
	}
	pthread_mutex_lock(&side->lock);
	old = side->ctx;
	side->ctx = ctx;
	sess = side->session; /* the server's certificate must be checked again */
	side->session = NULL;
	pthread_mutex_unlock(&side->lock);
	side->crl_stamp = stamp;
	wolfSSL_CTX_free(old); /* our one free of it; its connections keep it alive */
	if (sess != NULL)
		wolfSSL_SESSION_free(sess);
	/* Resumed sessions skip the CRL: make every client show its certificate again. */
	tls_tickets_drop(&side->tickets);
	mtls_log(MTLS_LOG_NOTICE, "tunnel %s: CRL file %s reloaded", side->name, side->crl_path);
out:
	pthread_mutex_unlock(&side->reload_lock);
	return rc;
}

long long tls_side_cert_expiry(const struct tls_side *side)
{
	return side != NULL ? side->not_after : 0;
}

int tls_side_rotate_tickets(struct tls_side *side)
{
	if (side == NULL || !side->is_server)
		return mtls_err_set(MTLS_ERR_ARG, "tls_side_rotate_tickets: not a server side");
	return tls_tickets_rotate(&side->tickets);
}
