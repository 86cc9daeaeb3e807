/* est-server: a small EST (RFC 7030) server for tests. HTTP/1.1 over
 * wolfSSL TLS on 127.0.0.1, one connection at a time, one request per
 * connection:
 *
 *   GET  /.well-known/est[/label]/cacerts         the CA certificate
 *   POST /.well-known/est[/label]/simpleenroll    HTTP Basic auth, or a TLS
 *                                                 client certificate the
 *                                                 client CA issued (factory)
 *   POST /.well-known/est[/label]/simplereenroll  TLS client certificate
 *                                                 required; the request's
 *                                                 subject and SAN must be
 *                                                 the certificate's
 *
 * Requests are base64 PKCS#10; answers base64 PKCS#7 certs-only
 * ("application/pkcs7-mime; smime-type=certs-only"), on one line (strongSwan's
 * pki --est cannot read line breaks) unless --base64-lines.
 *
 *   est-server --cert FILE --key FILE --ca-cert FILE --ca-key FILE
 *              [--port N] [--client-ca FILE] [--user U --password-file F]
 *              [--lifetime SECONDS] [--seconds S] [--base64-lines]
 *              [--reply-202 N] [--reply-html] [--reply-truncated]
 *              [--reply-oversized] [--reply-garbage] [--reply-wrong-key]
 *              [--cacerts FILE]
 *
 * --port 0 (the default) takes a free port and prints "port N". The fault
 * switches apply to /simpleenroll and /simplereenroll: --reply-202 N answers
 * "202 Accepted, Retry-After: 1" to the first N of them; the others answer
 * every one with an HTML page, half the announced body, an endless base64
 * body (framed by the close), or base64 of random bytes; --reply-wrong-key
 * issues the certificate for a fresh key instead of the request's.
 * --cacerts FILE serves that certificate at /cacerts instead of the CA's
 * (a CA the issued certificates do not chain to). Every request is
 * logged on stderr as "est-server: METHOD PATH -> STATUS (auth ...)". */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/random.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "est.h"
#include "est_ca.h"

#define REQ_HEAD_MAX 16384
#define REQ_BODY_MAX 65536

struct opts {
	int port;
	const char *cert, *key, *ca_cert, *ca_key, *client_ca, *user, *password_file;
	long lifetime;
	unsigned seconds;
	const char *cacerts;
	int reply_202, html, truncated, oversized, garbage, lines, wrong_key;
};

struct request {
	char method[8], path[512], auth[1024];
	long clen;
	uint8_t body[REQ_BODY_MAX + 1];
	size_t body_len;
	char peer[256]; /* client certificate subject, "" if none */
	uint8_t *peer_der;
	int peer_len;
};

static struct opts o = {.lifetime = 86400, .seconds = 600};
static struct est_ca *ca;
static uint8_t *cacerts_der; /* --cacerts */
static size_t cacerts_len;
static char password[256];
static int answered_202;
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: est-server --cert F --key F --ca-cert F --ca-key F [--port N] "
		"[--client-ca F] [--user U --password-file F] [--lifetime S] "
		"[--seconds S] [--base64-lines] [--reply-202 N] [--reply-html] "
		"[--reply-truncated] [--reply-oversized] [--reply-garbage] "
		"[--reply-wrong-key] [--cacerts FILE]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v != NULL && ++i)
		if (OPT("--port"))
			o.port = atoi(v);
		else if (OPT("--cert"))
			o.cert = v;
		else if (OPT("--key"))
			o.key = v;
		else if (OPT("--ca-cert"))
			o.ca_cert = v;
		else if (OPT("--ca-key"))
			o.ca_key = v;
		else if (OPT("--client-ca"))
			o.client_ca = v;
		else if (OPT("--user"))
			o.user = v;
		else if (OPT("--password-file"))
			o.password_file = v;
		else if (OPT("--lifetime"))
			o.lifetime = atol(v);
		else if (OPT("--seconds"))
			o.seconds = (unsigned)atoi(v);
		else if (OPT("--reply-202"))
			o.reply_202 = atoi(v);
		else if (strcmp(a, "--reply-html") == 0)
			o.html = 1;
		else if (strcmp(a, "--reply-truncated") == 0)
			o.truncated = 1;
		else if (strcmp(a, "--reply-oversized") == 0)
			o.oversized = 1;
		else if (strcmp(a, "--reply-garbage") == 0)
			o.garbage = 1;
		else if (OPT("--cacerts"))
			o.cacerts = v;
		else if (strcmp(a, "--reply-wrong-key") == 0)
			o.wrong_key = 1;
		else if (strcmp(a, "--base64-lines") == 0)
			o.lines = 1;
		else
			usage();
#undef OPT
	}
	if (!o.cert || !o.key || !o.ca_cert || !o.ca_key || (!o.user != !o.password_file) ||
		o.lifetime < 1)
		usage();
}

static void read_password(void)
{
	FILE *f = fopen(o.password_file, "r");
	size_t n;

	if (f == NULL || fgets(password, sizeof(password), f) == NULL) {
		fprintf(stderr, "est-server: cannot read %s\n", o.password_file);
		exit(1);
	}
	fclose(f);
	n = strcspn(password, "\r\n");
	password[n] = '\0';
}

/* ---- answers ---- */

static void write_all(WOLFSSL *ssl, const void *p, size_t n)
{
	const char *c = p;
	int w;

	while (n > 0 && (w = wolfSSL_write(ssl, c, n > 16384 ? 16384 : (int)n)) > 0)
		c += w, n -= (size_t)w;
}

static void reply(WOLFSSL *ssl, int status, const char *reason, const char *headers,
	const void *body, size_t len, size_t send_len)
{
	char head[1024];
	int n = snprintf(head, sizeof(head),
		"HTTP/1.1 %d %s\r\n%sContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
		reason, headers, len);

	write_all(ssl, head, (size_t)n);
	write_all(ssl, body, send_len);
}

static void reply_text(WOLFSSL *ssl, int status, const char *reason, const char *text)
{
	reply(ssl, status, reason,
		status == 401 ? "WWW-Authenticate: Basic realm=\"est\"\r\nContent-Type: "
				"text/plain\r\n"
			      : "Content-Type: text/plain\r\n",
		text, strlen(text), strlen(text));
}

/* Base64 of DER, on one line or in 64-column lines with CR LF. */
static char *b64(const uint8_t *der, size_t len, size_t *outlen)
{
	char *s = NULL, *w;
	size_t n = 0, i, o2 = 0;

	if (est_base64_encode(der, len, &s, &n) != 0)
		return NULL;
	if (!o.lines) {
		*outlen = n;
		return s;
	}
	if ((w = malloc(n + n / 64 * 2 + 3)) != NULL) {
		for (i = 0; i < n; i += 64) {
			size_t k = n - i < 64 ? n - i : 64;

			memcpy(w + o2, s + i, k);
			o2 += k;
			w[o2++] = '\r';
			w[o2++] = '\n';
		}
	}
	free(s);
	*outlen = o2;
	return w;
}

static const char pkcs7_headers[] =
	"Content-Type: application/pkcs7-mime; smime-type=certs-only\r\n"
	"Content-Transfer-Encoding: base64\r\n";

static int reply_certs(WOLFSSL *ssl, const uint8_t *der, size_t len, int faults)
{
	const uint8_t *certs[1] = {der};
	size_t lens[1] = {len}, p7len = 0, blen = 0;
	uint8_t *p7 = NULL;
	char *body;

	if (est_pkcs7_build(certs, lens, 1, &p7, &p7len) != 0 ||
		(body = b64(p7, p7len, &blen)) == NULL) {
		free(p7);
		reply_text(ssl, 500, "Internal Server Error", "cannot encode the answer\n");
		return 500;
	}
	free(p7);
	reply(ssl, 200, "OK", pkcs7_headers, body, blen, faults && o.truncated ? blen / 2 : blen);
	free(body);
	return 200;
}

static int reply_fault(WOLFSSL *ssl)
{
	static const char html[] = "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title>"
				   "</head><body><h1>It works</h1></body></html>\n";
	uint8_t junk[300];
	char *body, chunk[16384];
	size_t blen = 0, i;
	WC_RNG rng;

	if (o.html) {
		reply(ssl, 200, "OK", "Content-Type: text/html\r\n", html, sizeof(html) - 1,
			sizeof(html) - 1);
	} else if (o.oversized) {
		static const char head[] =
			"HTTP/1.1 200 OK\r\nContent-Type: application/pkcs7-mime; "
			"smime-type=certs-only\r\nContent-Transfer-Encoding: "
			"base64\r\nConnection: close\r\n\r\n";

		write_all(ssl, head, sizeof(head) - 1);
		memset(chunk, 'A', sizeof(chunk));
		for (i = 0; i < 64 && wolfSSL_write(ssl, chunk, sizeof(chunk)) > 0; i++)
			; /* 1 MiB, or until the client hangs up */
	} else {
		wc_InitRng(&rng);
		wc_RNG_GenerateBlock(&rng, junk, sizeof(junk));
		wc_FreeRng(&rng);
		if ((body = b64(junk, sizeof(junk), &blen)) != NULL)
			reply(ssl, 200, "OK", pkcs7_headers, body, blen, blen);
		free(body);
	}
	return 200;
}

/* ---- enrollment ---- */

static int basic_ok(const char *auth)
{
	uint8_t dec[512];
	char want[512];
	size_t n = 0;
	int len;

	if (o.user == NULL || strncasecmp(auth, "Basic ", 6) != 0 ||
		est_base64_decode(
			(const uint8_t *)auth + 6, strlen(auth + 6), dec, sizeof(dec) - 1, &n) != 0)
		return 0;
	len = snprintf(want, sizeof(want), "%s:%s", o.user, password);
	return (size_t)len == n && memcmp(dec, want, n) == 0;
}

/* The request's subject and subjectAltName must be the certificate's
 * (RFC 7030 4.2.2). */
static int same_names(const struct request *r, const struct est_req *req, char *why, size_t sz)
{
	struct est_req cur;

	if (est_ca_cert_names(r->peer_der, (size_t)r->peer_len, &cur) != 0) {
		snprintf(why, sz, "cannot read the client certificate\n");
		return 0;
	}
	if (cur.subject_len != req->subject_len ||
		memcmp(cur.subject, req->subject, cur.subject_len) != 0) {
		snprintf(why, sz, "the request's subject is not the client certificate's\n");
		return 0;
	}
	if (cur.san_len != req->san_len ||
		(cur.san_len && memcmp(cur.san, req->san, cur.san_len) != 0)) {
		snprintf(why, sz, "the request's subjectAltName is not the client certificate's\n");
		return 0;
	}
	return 1;
}

static int enroll(WOLFSSL *ssl, const struct request *r, int re)
{
	uint8_t der[REQ_BODY_MAX], other[256], *cert = NULL;
	size_t len = 0, clen = 0;
	struct est_req req;
	char why[160];
	int status;

	if (!re && r->peer[0] == '\0' && !basic_ok(r->auth))
		return reply_text(ssl, 401, "Unauthorized", "authentication required\n"), 401;
	if (re && r->peer[0] == '\0')
		return reply_text(ssl, 403, "Forbidden",
			       "simplereenroll needs the current certificate as TLS client "
			       "certificate\n"),
		       403;
	if (answered_202 < o.reply_202) {
		answered_202++;
		reply(ssl, 202, "Accepted", "Retry-After: 1\r\n", "", 0, 0);
		return 202;
	}
	if (o.html || o.oversized || o.garbage)
		return reply_fault(ssl);
	if (est_base64_decode(r->body, r->body_len, der, sizeof(der), &len) != 0 ||
		est_ca_parse_req(der, len, &req, why, sizeof(why)) != 0)
		return reply_text(ssl, 400, "Bad Request", "not a base64 PKCS#10 request\n"), 400;
	if (re && !same_names(r, &req, why, sizeof(why)))
		return reply_text(ssl, 400, "Bad Request", why), 400;
	if (o.wrong_key && est_ca_other_spki(ca, other, sizeof(other), &req.spki_len) == 0)
		req.spki = other;
	if (est_ca_issue(ca, &req, o.lifetime, &cert, &clen) != 0)
		return reply_text(ssl, 500, "Internal Server Error", "cannot issue\n"), 500;
	status = reply_certs(ssl, cert, clen, 1);
	free(cert);
	return status;
}

/* ---- requests ---- */

static const char *operation(const char *path)
{
	static const char wk[] = "/.well-known/est/";
	const char *rest, *slash;

	if (strncmp(path, wk, sizeof(wk) - 1) != 0)
		return NULL;
	rest = path + sizeof(wk) - 1;
	slash = strchr(rest, '/');
	if (slash == NULL)
		return rest;
	/* One CA label segment before the operation, no more. */
	return strchr(slash + 1, '/') == NULL && slash != rest ? slash + 1 : NULL;
}

static int route(WOLFSSL *ssl, const struct request *r)
{
	const char *op = operation(r->path);
	size_t len;
	const uint8_t *der;

	if (op != NULL && strcmp(op, "cacerts") == 0 && strcmp(r->method, "GET") == 0) {
		der = cacerts_der ? cacerts_der : est_ca_cert(ca, &len);
		return reply_certs(ssl, der, cacerts_der ? cacerts_len : len, 0);
	}
	if (op != NULL && strcmp(op, "simpleenroll") == 0 && strcmp(r->method, "POST") == 0)
		return enroll(ssl, r, 0);
	if (op != NULL && strcmp(op, "simplereenroll") == 0 && strcmp(r->method, "POST") == 0)
		return enroll(ssl, r, 1);
	reply_text(ssl, 404, "Not Found", "no such EST operation\n");
	return 404;
}

static int header(struct request *r, const char *line)
{
	const char *v = strchr(line, ':');

	if (v == NULL)
		return -1;
	for (v++; *v == ' ' || *v == '\t'; v++)
		;
	if (strncasecmp(line, "Content-Length:", 15) == 0)
		r->clen = atol(v);
	else if (strncasecmp(line, "Authorization:", 14) == 0)
		snprintf(r->auth, sizeof(r->auth), "%s", v);
	return 0;
}

/* Request line, headers, and a Content-Length body. */
static int read_request(WOLFSSL *ssl, struct request *r)
{
	static char buf[REQ_HEAD_MAX + REQ_BODY_MAX];
	size_t len = 0, hend = 0;
	char *line, *save = NULL, *end;
	int n;

	while (hend == 0 || len < hend + (size_t)r->clen) {
		if (len == sizeof(buf) ||
			(n = wolfSSL_read(ssl, buf + len, (int)(sizeof(buf) - len))) <= 0)
			return -1;
		len += (size_t)n;
		if (hend == 0 && (end = memmem(buf, len, "\r\n\r\n", 4)) != NULL) {
			hend = (size_t)(end - buf) + 4;
			*end = '\0';
			line = strtok_r(buf, "\r\n", &save);
			if (line == NULL ||
				sscanf(line, "%7s %511s HTTP/1.1", r->method, r->path) != 2)
				return -1;
			while ((line = strtok_r(NULL, "\r\n", &save)) != NULL)
				if (header(r, line) != 0)
					return -1;
			if (r->clen < 0 || r->clen > REQ_BODY_MAX)
				return -1;
		}
	}
	memcpy(r->body, buf + hend, (size_t)r->clen);
	r->body_len = (size_t)r->clen;
	return 0;
}

static void peer_identity(WOLFSSL *ssl, struct request *r)
{
	WOLFSSL_X509 *peer = wolfSSL_get_peer_certificate(ssl);
	const unsigned char *der;

	if (peer == NULL)
		return;
	wolfSSL_X509_NAME_oneline(wolfSSL_X509_get_subject_name(peer), r->peer, sizeof(r->peer));
	der = wolfSSL_X509_get_der(peer, &r->peer_len);
	if (der != NULL && r->peer_len > 0 && (r->peer_der = malloc((size_t)r->peer_len)) != NULL)
		memcpy(r->peer_der, der, (size_t)r->peer_len);
	wolfSSL_X509_free(peer);
}

static void serve(WOLFSSL_CTX *ctx, int fd)
{
	static struct request r;
	struct timeval tv = {10, 0};
	WOLFSSL *ssl = wolfSSL_new(ctx);
	int status, ret;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&r, 0, sizeof(r));
	if (ssl == NULL || wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS)
		goto out;
	wolfSSL_SetIOWriteFlags(ssl, MSG_NOSIGNAL);
	if ((ret = wolfSSL_accept(ssl)) != WOLFSSL_SUCCESS) {
		fprintf(stderr, "est-server: TLS handshake failed (wolfSSL %d)\n",
			wolfSSL_get_error(ssl, ret));
		goto out;
	}
	peer_identity(ssl, &r);
	if (read_request(ssl, &r) != 0) {
		fprintf(stderr, "est-server: bad or incomplete request\n");
		goto out;
	}
	status = route(ssl, &r);
	fprintf(stderr, "est-server: %s %s -> %d (auth %s%s)\n", r.method, r.path, status,
		r.peer[0] ? "cert " : (r.auth[0] ? "basic" : "none"), r.peer);
	wolfSSL_shutdown(ssl);
out:
	free(r.peer_der);
	wolfSSL_free(ssl);
	close(fd);
}

/* ---- main ---- */

static WOLFSSL_CTX *make_ctx(void)
{
	WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());

	if (ctx == NULL || wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS ||
		wolfSSL_CTX_use_certificate_chain_file(ctx, o.cert) != WOLFSSL_SUCCESS ||
		wolfSSL_CTX_use_PrivateKey_file(ctx, o.key, WOLFSSL_FILETYPE_PEM) !=
			WOLFSSL_SUCCESS ||
		wolfSSL_CTX_load_verify_locations(
			ctx, o.client_ca ? o.client_ca : o.ca_cert, NULL) != WOLFSSL_SUCCESS) {
		fprintf(stderr, "est-server: cannot load the TLS certificate, key or client CA\n");
		exit(1);
	}
	/* A client certificate is asked for, not required (Basic auth works
	 * without one); one that is sent must verify. */
	wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
	return ctx;
}

static int listen_on(int port)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 || listen(fd, 64) != 0 ||
		getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
		perror("est-server: listen");
		exit(1);
	}
	printf("port %d\n", ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

int main(int argc, char **argv)
{
	WOLFSSL_CTX *ctx;
	time_t end;
	int lfd, fd;

	parse_args(argc, argv);
	setvbuf(stderr, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGPIPE, SIG_IGN);
	if (o.password_file)
		read_password();
	wolfSSL_Init();
	if (est_ca_load(o.ca_cert, o.ca_key, &ca) != 0 ||
		(o.cacerts && est_ca_read_cert(o.cacerts, &cacerts_der, &cacerts_len) != 0))
		return 1;
	ctx = make_ctx();
	lfd = listen_on(o.port);
	end = time(NULL) + o.seconds;
	while (!stop && time(NULL) < end) {
		struct pollfd p = {lfd, POLLIN, 0};

		if (poll(&p, 1, 500) <= 0)
			continue;
		if ((fd = accept(lfd, NULL, NULL)) >= 0)
			serve(ctx, fd);
	}
	close(lfd);
	wolfSSL_CTX_free(ctx);
	est_ca_free(ca);
	free(cacerts_der);
	wolfSSL_Cleanup();
	return 0;
}
