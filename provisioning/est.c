/* The EST client (see est.h): one HTTPS request per connection, the
 * server checked before anything is sent, every wait bounded. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "est.h"
#include "mtls/err.h"
#include "mtls/log.h"

#define TIMEOUT_DEFAULT_S 30u
#define WAIT_202_DEFAULT_S 10L /* a 202 without Retry-After (RFC 7030 wants one) */
#define BACKOFF_FIRST_MS 1000L
#define BACKOFF_MAX_MS 60000L

struct est_client {
	struct est_url url;
	char *cacert_file;
	uint8_t pin[32];
	int has_pin;
	char *user;
	const struct mtls_secret *password;
	const struct csr_key *tls_key;
	int has_cert;
	unsigned timeout_s, retry_s;
	unsigned waited_s, requests;
	WOLFSSL_CTX *ctx;
};

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- configuration ---- */

static int check_trust(struct est_client *c, const struct est_client_config *cfg)
{
	if ((cfg->cacert_file != NULL) == (cfg->pin_sha256 != NULL))
		return mtls_err_set(MTLS_ERR_CONFIG,
			"say how to trust the EST server: --cacert FILE (its CA) or --pin-sha256 HEX "
			"(its certificate's fingerprint), exactly one");
	if (cfg->pin_sha256 != NULL) {
		if (est_pin_parse(cfg->pin_sha256, c->pin) != 0)
			return MTLS_ERR_CONFIG;
		c->has_pin = 1;
		return 0;
	}
	if ((c->cacert_file = strdup(cfg->cacert_file)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "EST client");
	if (wolfSSL_CTX_load_verify_locations(c->ctx, c->cacert_file, NULL) != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"--cacert %s: no usable CA certificate in it (PEM expected)",
			c->cacert_file);
	return 0;
}

/* A software key file holds a secret: refused when others may read it. */
static int load_key_file(WOLFSSL_CTX *ctx, const char *path)
{
	struct stat st;
	int ret;

	if (stat(path, &st) != 0)
		return mtls_err_set(MTLS_ERR_CONFIG, "--client-key %s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"--client-key %s: a private key file must be a regular file that only its "
			"owner can read (chmod 600)",
			path);
	ret = wolfSSL_CTX_use_PrivateKey_file(ctx, path, WOLFSSL_FILETYPE_PEM);
	if (ret != WOLFSSL_SUCCESS)
		ret = wolfSSL_CTX_use_PrivateKey_file(ctx, path, WOLFSSL_FILETYPE_ASN1);
	if (ret != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"--client-key %s: not a usable private key "
			"(PEM or DER)",
			path);
	return 0;
}

static int set_identity(struct est_client *c, const struct est_client_config *cfg)
{
	int ret;

	if (cfg->client_cert_pem == NULL)
		return 0;
	if ((cfg->tls_key == NULL) == (cfg->client_key_file == NULL))
		return mtls_err_set(
			MTLS_ERR_ARG, "EST client certificate: one key (token or file)");
	if (cfg->tls_key != NULL)
		est_sign_setup_ctx(c->ctx); /* before the key: a public key is then accepted */
	ret = wolfSSL_CTX_use_certificate_chain_buffer_format(c->ctx,
		(const unsigned char *)cfg->client_cert_pem, (long)cfg->client_cert_len,
		WOLFSSL_FILETYPE_PEM);
	if (ret != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"the TLS client certificate was refused "
			"(wolfSSL %d)",
			ret);
	c->has_cert = 1;
	if (cfg->client_key_file != NULL)
		return load_key_file(c->ctx, cfg->client_key_file);
	ret = wolfSSL_CTX_use_PrivateKey_buffer(
		c->ctx, cfg->tls_key->spki, (long)cfg->tls_key->spki_len, WOLFSSL_FILETYPE_ASN1);
	if (ret != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_KEY,
			"the token key's public key was refused by "
			"wolfSSL (%d)",
			ret);
	c->tls_key = cfg->tls_key;
	return 0;
}

static int set_auth(struct est_client *c, const struct est_client_config *cfg)
{
	if ((cfg->user != NULL) != (cfg->password != NULL))
		return mtls_err_set(MTLS_ERR_CONFIG, "--user and --password-file go together");
	if (cfg->user == NULL)
		return 0;
	if (cfg->user[0] == '\0' || strlen(cfg->user) > 128 || strchr(cfg->user, ':') != NULL ||
		strpbrk(cfg->user, "\r\n") != NULL)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"--user: 1 to 128 characters without ':' or line breaks (HTTP Basic)");
	if ((c->user = strdup(cfg->user)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "EST client");
	c->password = cfg->password;
	return 0;
}

static int ctx_new(struct est_client *c)
{
	c->ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
	if (c->ctx == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "wolfSSL_CTX_new");
	if (wolfSSL_CTX_SetMinVersion(c->ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_INTERNAL, "cannot set TLS 1.2 as the minimum");
	/* With a pin the chain is not checked, the fingerprint is (after the
	 * handshake, before a byte is sent). */
	wolfSSL_CTX_set_verify(
		c->ctx, c->has_pin ? WOLFSSL_VERIFY_NONE : WOLFSSL_VERIFY_PEER, NULL);
	return 0;
}

int est_client_new(const struct est_client_config *cfg, struct est_client **out)
{
	struct est_client *c;
	int rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "EST client");
	c->timeout_s = cfg->timeout_s ? cfg->timeout_s : TIMEOUT_DEFAULT_S;
	c->retry_s = cfg->retry_s;
	c->has_pin = cfg->pin_sha256 != NULL;
	if ((rc = est_url_parse(cfg->url, &c->url)) != 0 || (rc = ctx_new(c)) != 0 ||
		(rc = check_trust(c, cfg)) != 0 || (rc = set_auth(c, cfg)) != 0 ||
		(rc = set_identity(c, cfg)) != 0) {
		est_client_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void est_client_free(struct est_client *c)
{
	if (c == NULL)
		return;
	if (c->ctx != NULL)
		wolfSSL_CTX_free(c->ctx);
	free(c->cacert_file);
	free(c->user);
	free(c);
}

void est_client_stats(const struct est_client *c, unsigned *waited_s, unsigned *requests)
{
	*waited_s = c->waited_s;
	*requests = c->requests;
}

/* ---- one connection ---- */

/* The socket and the deadline wolfSSL's I/O callbacks honour. */
struct conn {
	int fd;
	long long deadline;
	int timed_out;
	WOLFSSL *ssl;
	struct est_sign_ctx sign;
};

static int wait_fd(struct conn *k, short ev)
{
	struct pollfd p = {k->fd, ev, 0};
	long long left = k->deadline - now_ms();
	int r;

	do
		r = left > 0 ? poll(&p, 1, (int)left) : 0;
	while (r < 0 && errno == EINTR);
	if (r == 0)
		k->timed_out = 1;
	return r > 0 ? 0 : -1;
}

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct conn *k = ctx;
	ssize_t n;

	if (wait_fd(k, POLLIN) != 0)
		return k->timed_out ? WOLFSSL_CBIO_ERR_TIMEOUT : WOLFSSL_CBIO_ERR_GENERAL;
	do
		n = recv(k->fd, buf, (size_t)sz, 0);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	if (n < 0)
		return errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
	return (int)n;
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct conn *k = ctx;
	ssize_t n;

	if (wait_fd(k, POLLOUT) != 0)
		return k->timed_out ? WOLFSSL_CBIO_ERR_TIMEOUT : WOLFSSL_CBIO_ERR_GENERAL;
	do
		n = send(k->fd, buf, (size_t)sz, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EPIPE || errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST
							     : WOLFSSL_CBIO_ERR_GENERAL;
	return (int)n;
}

static int connect_one(const struct addrinfo *ai, struct conn *k)
{
	int fd, err = 0;
	socklen_t len = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	k->fd = fd;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
		err = errno;
	} else if (wait_fd(k, POLLOUT) != 0) {
		err = ETIMEDOUT;
	} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
		err = errno;
	}
	if (err != 0) {
		close(fd);
		k->fd = -1;
		return -err;
	}
	return 0;
}

/* Transport failures (worth another try later) are MTLS_ERR_IO. */
static int tcp_connect(const struct est_url *u, struct conn *k)
{
	struct addrinfo hints = {0}, *res = NULL, *ai;
	int rc, err = ECONNREFUSED;

	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc != 0)
		return mtls_err_set(MTLS_ERR_IO, "EST server %s: cannot resolve the name (%s)",
			u->host, gai_strerror(rc));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((rc = connect_one(ai, k)) == 0)
			break;
		err = -rc;
	}
	freeaddrinfo(res);
	if (k->fd >= 0)
		return 0;
	return mtls_err_set(MTLS_ERR_IO, "cannot connect to the EST server %s port %s: %s", u->host,
		u->port, err == ETIMEDOUT ? "timed out" : strerror(err));
}

/* ---- TLS and the server check ---- */

static int tls_failed(struct est_client *c, struct conn *k, int ret, const char *when)
{
	WOLFSSL_ALERT_HISTORY ah;
	char text[WOLFSSL_MAX_ERROR_SZ];
	int err = wolfSSL_get_error(k->ssl, ret);

	if (k->sign.rc != 0)
		return mtls_err_set(k->sign.rc,
			"the token could not sign the TLS handshake with "
			"the EST server: %s",
			k->sign.detail);
	if (k->timed_out)
		return mtls_err_set(MTLS_ERR_IO,
			"the EST server %s did not answer within %u s (%s)", c->url.host,
			c->timeout_s, when);
	if (wolfSSL_get_alert_history(k->ssl, &ah) == WOLFSSL_SUCCESS && ah.last_rx.code > 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST server ended the TLS connection with alert %d (%s) during %s%s",
			ah.last_rx.code, wolfSSL_alert_desc_string_long(ah.last_rx.code), when,
			c->tls_key || ah.last_rx.code == 42 || ah.last_rx.code == 48 ||
					ah.last_rx.code == 116
				? ": does it accept our client certificate?"
				: "");
	wolfSSL_ERR_error_string_n((unsigned long)err, text, sizeof(text));
	switch (err) {
	case SOCKET_ERROR_E:
	case SOCKET_PEER_CLOSED_E:
		return mtls_err_set(MTLS_ERR_IO,
			"the EST server %s closed the connection during %s", c->url.host, when);
	case ASN_NO_SIGNER_E:
	case ASN_AFTER_DATE_E:
	case ASN_BEFORE_DATE_E:
	case ASN_SIG_CONFIRM_E:
	case VERIFY_CERT_ERROR:
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST server's certificate does not verify with --cacert %s: %s (wolfSSL "
			"%d)",
			c->cacert_file ? c->cacert_file : "?", text, err);
	default:
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"TLS with the EST server failed during %s: "
			"%s (wolfSSL %d)",
			when, text, err);
	}
}

static int ip_equal(const char *a, const char *b)
{
	unsigned char x[16], y[16];

	if (inet_pton(AF_INET, a, x) == 1)
		return inet_pton(AF_INET, b, y) == 1 && memcmp(x, y, 4) == 0;
	return inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1 &&
		memcmp(x, y, 16) == 0;
}

/* RFC 6125: DNS names (one leading "*." label allowed) and IP SANs; the CN
 * only when there is neither. */
static int dns_match(const char *pattern, size_t n, const char *host)
{
	const char *dot;

	if (n == strlen(host) && strncasecmp(pattern, host, n) == 0)
		return 1;
	if (n < 3 || pattern[0] != '*' || pattern[1] != '.' || (dot = strchr(host, '.')) == NULL)
		return 0;
	return strlen(dot) == n - 1 && strncasecmp(pattern + 1, dot, n - 1) == 0;
}

static int name_matches(struct DecodedCert *d, const struct est_url *u)
{
	const DNS_entry *e;
	int any = 0;

	for (e = d->altNames; e != NULL; e = e->next) {
		if (e->type == ASN_DNS_TYPE) {
			any = 1;
			if (!u->host_is_ip && e->name &&
				dns_match(e->name, (size_t)e->len, u->host))
				return 1;
		} else if (e->type == ASN_IP_TYPE) {
			any = 1;
			if (u->host_is_ip && e->ipString && ip_equal(u->host, e->ipString))
				return 1;
		}
	}
	return !any && !u->host_is_ip && d->subjectCN != NULL &&
		dns_match(d->subjectCN, (size_t)d->subjectCNLen, u->host);
}

static int check_name(struct est_client *c, const unsigned char *der, int len)
{
	struct DecodedCert d;
	int ok;

	wc_InitDecodedCert(&d, der, (word32)len, NULL);
	ok = wc_ParseCert(&d, CERT_TYPE, NO_VERIFY, NULL) == 0 && name_matches(&d, &c->url);
	wc_FreeDecodedCert(&d);
	if (!ok)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST server's certificate is not for %s (no matching DNS or IP "
			"subjectAltName): refused; use the name the certificate carries in --est",
			c->url.host);
	return 0;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static int check_pin(struct est_client *c, const unsigned char *der, int len)
{
	uint8_t h[WC_SHA256_DIGEST_SIZE];
	char got[65], want[65];
	unsigned diff = 0;
	size_t i;

	if (wc_Sha256Hash(der, (word32)len, h) != 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "SHA-256 failed");
	for (i = 0; i < sizeof(h); i++)
		diff |= h[i] ^ c->pin[i];
	if (diff == 0)
		return 0;
	hex(h, sizeof(h), got);
	hex(c->pin, sizeof(c->pin), want);
	return mtls_err_set(MTLS_ERR_PROTOCOL,
		"the EST server's certificate has SHA-256 %s, not the pinned %s: refused (if "
		"the server's certificate changed, check the new fingerprint out of band)",
		got, want);
}

static int check_server(struct est_client *c, struct conn *k)
{
	WOLFSSL_X509 *peer = wolfSSL_get_peer_certificate(k->ssl);
	const unsigned char *der;
	int len = 0, rc;

	if (peer == NULL)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "the EST server sent no certificate");
	der = wolfSSL_X509_get_der(peer, &len);
	if (der == NULL || len <= 0)
		rc = mtls_err_set(MTLS_ERR_PROTOCOL, "the EST server's certificate is unreadable");
	else
		rc = c->has_pin ? check_pin(c, der, len) : check_name(c, der, len);
	wolfSSL_X509_free(peer);
	return rc;
}

static int tls_start(struct est_client *c, struct conn *k)
{
	int ret;

	if ((k->ssl = wolfSSL_new(c->ctx)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "wolfSSL_new");
	wolfSSL_SSLSetIORecv(k->ssl, io_recv);
	wolfSSL_SSLSetIOSend(k->ssl, io_send);
	wolfSSL_SetIOReadCtx(k->ssl, k);
	wolfSSL_SetIOWriteCtx(k->ssl, k);
	if (!c->url.host_is_ip &&
		wolfSSL_UseSNI(k->ssl, WOLFSSL_SNI_HOST_NAME, c->url.host,
			(unsigned short)strlen(c->url.host)) != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_INTERNAL, "cannot set the server name");
	if (c->tls_key != NULL) {
		k->sign.key = c->tls_key;
		est_sign_setup_ssl(k->ssl, &k->sign);
	}
	ret = wolfSSL_connect(k->ssl);
	if (ret != WOLFSSL_SUCCESS)
		return tls_failed(c, k, ret, "the TLS handshake");
	return check_server(c, k);
}

/* ---- HTTP over it ---- */

static int send_all(struct est_client *c, struct conn *k, const char *p, size_t n)
{
	int ret;

	while (n > 0) {
		ret = wolfSSL_write(k->ssl, p, n > 16384 ? 16384 : (int)n);
		if (ret <= 0)
			return tls_failed(c, k, ret, "sending the request");
		p += ret;
		n -= (size_t)ret;
	}
	return 0;
}

/* "Authorization: Basic base64(user:password)\r\n" into a buffer the
 * caller wipes. */
static int auth_header(struct est_client *c, char **out, size_t *outlen)
{
	size_t ul = strlen(c->user), pl = mtls_secret_len(c->password), n, bl = 0;
	uint8_t *up;
	char *b64 = NULL;
	int rc;

	if ((up = malloc(ul + 1 + pl)) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "EST authorization");
	memcpy(up, c->user, ul);
	up[ul] = ':';
	memcpy(up + ul + 1, mtls_secret_data(c->password), pl);
	rc = est_base64_encode(up, ul + 1 + pl, &b64, &bl);
	mtls_wipe(up, ul + 1 + pl);
	free(up);
	if (rc != 0)
		return rc;
	n = bl + 40;
	if ((*out = malloc(n)) == NULL) {
		rc = mtls_err_set(MTLS_ERR_NOMEM, "EST authorization");
	} else {
		*outlen = (size_t)snprintf(*out, n, "Authorization: Basic %s\r\n", b64);
	}
	mtls_wipe(b64, bl);
	free(b64);
	return rc;
}

static int send_request(
	struct est_client *c, struct conn *k, const char *op, const uint8_t *body, size_t blen)
{
	char head[EST_URL_MAX + 512], hostport[300], *auth = NULL, *b64 = NULL;
	size_t alen = 0, b64len = 0;
	int rc = 0, n;

	if (body != NULL && (rc = est_base64_encode(body, blen, &b64, &b64len)) != 0)
		return rc;
	snprintf(hostport, sizeof(hostport), strchr(c->url.host, ':') ? "[%s]" : "%s", c->url.host);
	if (strcmp(c->url.port, "443") != 0)
		snprintf(hostport + strlen(hostport), sizeof(hostport) - strlen(hostport), ":%s",
			c->url.port);
	n = snprintf(head, sizeof(head),
		"%s %s/%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mtls-provision/0.1\r\n"
		"Accept: application/pkcs7-mime\r\nConnection: close\r\n",
		body ? "POST" : "GET", c->url.path, op, hostport);
	if (body != NULL)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			"Content-Type: application/pkcs10\r\nContent-Transfer-Encoding: base64\r\n"
			"Content-Length: %zu\r\n",
			b64len);
	/* The password goes to the enrollment operations only, not to /cacerts. */
	if (c->user != NULL && body != NULL && (rc = auth_header(c, &auth, &alen)) != 0)
		goto out;
	if ((rc = send_all(c, k, head, (size_t)n)) == 0 &&
		(auth == NULL || (rc = send_all(c, k, auth, alen)) == 0) &&
		(rc = send_all(c, k, "\r\n", 2)) == 0 && b64 != NULL)
		rc = send_all(c, k, b64, b64len);
out:
	if (auth != NULL) {
		mtls_wipe(auth, alen);
		free(auth);
	}
	free(b64);
	return rc;
}

static int read_answer(struct est_client *c, struct conn *k, struct est_http *h)
{
	uint8_t *buf = malloc(EST_RESPONSE_MAX + 1);
	size_t len = 0;
	int n, rc = MTLS_ERR_AGAIN, err;

	if (buf == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "EST answer");
	while (rc == MTLS_ERR_AGAIN) {
		n = wolfSSL_read(k->ssl, buf + len, (int)(EST_RESPONSE_MAX + 1 - len));
		if (n > 0) {
			len += (size_t)n;
			rc = est_http_parse(buf, len, 0, h);
			continue;
		}
		err = wolfSSL_get_error(k->ssl, n);
		if (k->timed_out ||
			(len == 0 && err != WOLFSSL_ERROR_ZERO_RETURN &&
				err != SOCKET_PEER_CLOSED_E))
			rc = tls_failed(c, k, n, "reading the answer");
		else
			rc = est_http_parse(buf, len, 1, h);
	}
	free(buf);
	return rc;
}

static void conn_close(struct conn *k)
{
	if (k->ssl != NULL)
		wolfSSL_free(k->ssl);
	if (k->fd >= 0)
		close(k->fd);
	k->ssl = NULL;
	k->fd = -1;
}

static int exchange(
	struct est_client *c, const char *op, const uint8_t *body, size_t blen, struct est_http *h)
{
	struct conn k;
	int rc;

	memset(&k, 0, sizeof(k));
	k.fd = -1;
	k.deadline = now_ms() + 1000LL * c->timeout_s;
	c->requests++;
	if ((rc = tcp_connect(&c->url, &k)) == 0 && (rc = tls_start(c, &k)) == 0 &&
		(rc = send_request(c, &k, op, body, blen)) == 0)
		rc = read_answer(c, &k, h);
	conn_close(&k);
	return rc;
}

/* ---- waiting: 202, 5xx and an unreachable CA ---- */

static long jitter(long ms)
{
	uint16_t r = 0;

	if (getrandom(&r, sizeof(r), 0) != sizeof(r))
		r = (uint16_t)now_ms();
	return ms * 3 / 4 + (long)(r % (unsigned)(ms / 2 + 1)); /* 75% .. 125% */
}

static void sleep_ms(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* How long to wait before the next try, or -1 for none. */
static long wait_for(int rc, const struct est_http *h, long *backoff)
{
	long ms = -1;

	if (rc == MTLS_ERR_IO ||
		(rc == 0 && h->status >= 502 && h->status <= 504 && h->retry_after < 0)) {
		ms = jitter(*backoff);
		*backoff = *backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : *backoff * 2;
	} else if (rc == 0 && (h->status == 202 || h->status == 503)) {
		ms = 1000L *
			(h->retry_after > 0                   ? h->retry_after
					: h->retry_after == 0 ? 1
							      : WAIT_202_DEFAULT_S);
	}
	return ms;
}

static int give_up(struct est_client *c, int rc, const struct est_http *h, long long spent)
{
	char detail[512];

	if (rc == 0 && h->status != 202)
		return 0; /* a 5xx: the caller reports it */
	snprintf(detail, sizeof(detail), "%s", rc ? mtls_err_detail() : "");
	if (rc == 0)
		return mtls_err_set(MTLS_ERR_TIMEOUT,
			"the EST server still holds the request for approval (HTTP 202) after %u "
			"request%s in %lld s: run the command again later, or allow a longer wait "
			"with --retry-for",
			c->requests, c->requests == 1 ? "" : "s", spent / 1000);
	return mtls_err_set(rc, "%s (%u attempt%s in %lld s%s)", detail, c->requests,
		c->requests == 1 ? "" : "s", spent / 1000,
		c->retry_s ? "; --retry-for bounds the waiting"
			   : "; --retry-for waits and tries again");
}

static int request(
	struct est_client *c, const char *op, const uint8_t *body, size_t blen, struct est_http *h)
{
	long long start = now_ms(), spent;
	long backoff = BACKOFF_FIRST_MS, ms;
	int rc;

	c->waited_s = 0;
	c->requests = 0;
	for (;;) {
		rc = exchange(c, op, body, blen, h);
		if ((ms = wait_for(rc, h, &backoff)) < 0)
			return rc;
		spent = now_ms() - start;
		if (spent + ms > 1000LL * c->retry_s)
			return give_up(c, rc, h, spent);
		if (rc == 0)
			mtls_log(MTLS_LOG_NOTICE, "EST %s: HTTP %d %s, asking again in %ld s", op,
				h->status, h->status == 202 ? "(pending approval)" : "",
				(ms + 999) / 1000);
		else
			mtls_log(MTLS_LOG_NOTICE, "EST %s: %s; trying again in %ld ms", op,
				mtls_err_detail(), ms);
		est_http_clear(h);
		sleep_ms(ms);
		c->waited_s += (unsigned)((ms + 999) / 1000);
	}
}

/* ---- the operations ---- */

static int status_error(struct est_client *c, const char *op, const struct est_http *h)
{
	char body[128];

	mtls_log_clean(body, sizeof(body), (const char *)(h->body ? h->body : (uint8_t *)""),
		h->body_len < 120 ? h->body_len : 120);
	if (h->status >= 300 && h->status < 400)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST server redirects /%s to '%s' (HTTP %d): give that URL to --est",
			op, h->location, h->status);
	if (h->status == 401)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST server refused /%s without valid credentials (HTTP 401 %s): %s",
			op, h->reason,
			c->user ? "check --user and the password file"
				: "give --user and --password-file, or a client certificate");
	if (h->status == 403)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST server forbids /%s (HTTP 403 %s): %s", op, h->reason, body);
	if (h->status == 404)
		return mtls_err_set(MTLS_ERR_PROTOCOL,
			"the EST server has no /%s at %s (HTTP 404): check the URL's path and CA "
			"label",
			op, c->url.path);
	return mtls_err_set(MTLS_ERR_PROTOCOL, "the EST server answered /%s with HTTP %d %s: %s",
		op, h->status, h->reason, body);
}

static int certs_op(struct est_client *c, const char *op, const uint8_t *body, size_t blen,
	struct est_certs *out)
{
	struct est_http h;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&h, 0, sizeof(h));
	rc = request(c, op, body, blen, &h);
	if (rc == 0)
		rc = h.status == 200 ? est_parse_certs(&h, out) : status_error(c, op, &h);
	est_http_clear(&h);
	return rc;
}

int est_cacerts(struct est_client *c, struct est_certs *out)
{
	return certs_op(c, "cacerts", NULL, 0, out);
}

int est_simpleenroll(struct est_client *c, const uint8_t *csr, size_t len, struct est_certs *out)
{
	return certs_op(c, "simpleenroll", csr, len, out);
}

int est_simplereenroll(struct est_client *c, const uint8_t *csr, size_t len, struct est_certs *out)
{
	if (!c->has_cert)
		return mtls_err_set(MTLS_ERR_ARG,
			"simplereenroll needs the current certificate and "
			"its key for TLS");
	return certs_op(c, "simplereenroll", csr, len, out);
}
