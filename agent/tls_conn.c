/* One TLS session on a connected non-blocking socket: handshake (with the
 * token signature inside), reads and writes, and the client's session
 * cache (the newest resumable session per side, that is per target). */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "mtls/err.h"
#include "mtls/log.h"
#include "tls_ext.h"
#include "tls_int.h"

/* A new WOLFSSL on the side's current context, and (client) a reference to
 * the newest session. wolfSSL_new runs under the side's lock, so the
 * context cannot be swapped and freed meanwhile. No CTX up_ref/free pair
 * here: in Debian's wolfSSL 5.5.4 (OPENSSL_EXTRA + SRP) every
 * wolfSSL_CTX_free() frees ctx->srp before looking at the reference count,
 * so a second call on a shared context double-frees (seen as "free():
 * invalid pointer" under parallel handshakes). Each context gets exactly
 * one wolfSSL_CTX_free, from its owner. */
static WOLFSSL *new_ssl(struct tls_side *side, WOLFSSL_SESSION **sess)
{
	WOLFSSL *ssl;

	*sess = NULL;
	pthread_mutex_lock(&side->lock);
	ssl = wolfSSL_new(side->ctx);
	if (ssl != NULL && side->session != NULL &&
		wolfSSL_SESSION_up_ref(side->session) == WOLFSSL_SUCCESS)
		*sess = side->session;
	pthread_mutex_unlock(&side->lock);
	return ssl;
}

/* SHA-256 of the session's current ticket (all zero: none). */
static void ticket_hash(struct tls_conn *c, uint8_t out[32])
{
	unsigned char small[2048], *buf = small;
	word32 len = sizeof(small);

	memset(out, 0, 32);
	if (wolfSSL_get_SessionTicket(c->ssl, buf, &len) != WOLFSSL_SUCCESS)
		return;
	if (len == 0) { /* larger than small */
		if ((buf = malloc(0xffff)) == NULL)
			return;
		len = 0xffff;
		if (wolfSSL_get_SessionTicket(c->ssl, buf, &len) != WOLFSSL_SUCCESS)
			len = 0;
	}
	if (len > 0)
		wc_Sha256Hash(buf, len, out);
	if (buf != small)
		free(buf);
}

/* Client: keep this connection's session for the next ones, once it can
 * resume. TLS 1.2 sessions can at the end of the handshake. TLS 1.3 ones
 * need the ticket that comes after it: until then a resumed session holds
 * the old ticket with the new resumption secret, which fails (measured),
 * so wait until the ticket differs from the one at the handshake's end. */
static void keep_session(struct tls_conn *c)
{
	struct tls_side *side = c->side;
	WOLFSSL_SESSION *live, *copy, *old;
	uint8_t now[32];

	if (side->is_server || !side->resume || c->session_saved || !c->done)
		return;
	live = wolfSSL_get_session(c->ssl);
	if (live == NULL)
		return;
	if (wolfSSL_version(c->ssl) == TLS1_3_VERSION) {
		/* Tickets come right after the handshake; stop looking soon. */
		if (++c->ticket_looks > 16)
			c->session_saved = 1;
		if (wolfSSL_SESSION_has_ticket(live) != WOLFSSL_SUCCESS)
			return;
		ticket_hash(c, now);
		if (memcmp(now, c->ticket_at_done, sizeof(now)) == 0)
			return;
	}
	if ((copy = wolfSSL_SESSION_dup(live)) == NULL)
		return;
	c->session_saved = 1;
	pthread_mutex_lock(&side->lock);
	old = side->session;
	side->session = copy;
	pthread_mutex_unlock(&side->lock);
	if (old != NULL)
		wolfSSL_SESSION_free(old);
}

/* SNI and wolfSSL's own name check for a client connection. The check
 * that counts is ours, in the verification callback (tls_verify.c): DNS
 * SANs before the CN, IP SANs for addresses. wolfSSL's accepts the CN
 * beside DNS SANs and its address check does not run in this build. */
static int client_setup(struct tls_conn *c)
{
	struct tls_side *side = c->side;
	const char *name = side->verify_name;

	/* RFC 6066: no SNI for an address. */
	if (!side->verify_is_ip &&
		(wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, name,
			 (unsigned short)strlen(name)) != WOLFSSL_SUCCESS ||
			wolfSSL_check_domain_name(c->ssl, name) != WOLFSSL_SUCCESS))
		return mtls_err_set(MTLS_ERR_INTERNAL, "tunnel %s: cannot set the server name %s",
			side->name, name);
	if (side->vmin == 12 && side->resume && wolfSSL_UseSessionTicket(c->ssl) != WOLFSSL_SUCCESS)
		return mtls_err_set(MTLS_ERR_INTERNAL, "cannot ask for session tickets");
	return 0;
}

/* errno of a failed receive as wolfSSL's own callback maps it (wolfio.c,
 * TranslateIoError), so wolfSSL sees the same codes as before. */
static int rx_error(int err)
{
	if (err == EAGAIN || err == EWOULDBLOCK)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	if (err == ECONNRESET)
		return WOLFSSL_CBIO_ERR_CONN_RST;
	if (err == EINTR)
		return WOLFSSL_CBIO_ERR_ISR;
	if (err == EPIPE || err == ECONNABORTED)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	return WOLFSSL_CBIO_ERR_GENERAL;
}

void tls_rx_free(struct tls_rx *rx)
{
	free(rx->data);
	rx->data = NULL;
	rx->off = rx->len = 0;
}

/* Buffered bytes to wolfSSL; the buffer goes once it is empty. */
static int rx_take(struct tls_rx *rx, char *buf, int sz)
{
	size_t n = rx->len - rx->off;

	if (n > (size_t)sz)
		n = (size_t)sz;
	memcpy(buf, rx->data + rx->off, n);
	rx->off += n;
	if (rx->off == rx->len)
		tls_rx_free(rx);
	return (int)n;
}

/* What wolfSSL asked for goes straight into its buffer, the surplus (one
 * recvmsg, two pieces) into rx. The read-ahead buffer is allocated for
 * each receive from the socket and kept only if surplus bytes came: a
 * receive that finds the socket empty costs a malloc/free pair, which is
 * far cheaper than the receive itself, and a connection that waits holds
 * nothing. An end of stream or error after buffered bytes is seen by the
 * receive that follows them: nothing is lost or reordered. */
int tls_rx_recv(struct tls_rx *rx, int fd, char *buf, int sz)
{
	struct iovec iov[2];
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 1};
	ssize_t n;
	int err;

	if (sz <= 0)
		return WOLFSSL_CBIO_ERR_GENERAL;
	if (rx->off < rx->len)
		return rx_take(rx, buf, sz);
	iov[0] = (struct iovec){.iov_base = buf, .iov_len = (size_t)sz};
	if ((rx->data = malloc(TLS_RX_CAP)) != NULL) { /* else: no read-ahead this time */
		iov[1] = (struct iovec){.iov_base = rx->data, .iov_len = TLS_RX_CAP};
		msg.msg_iovlen = 2;
	}
	n = recvmsg(fd, &msg, 0);
	err = errno;
	if (n > sz) {
		rx->off = 0;
		rx->len = (size_t)n - (size_t)sz;
		return sz;
	}
	tls_rx_free(rx); /* nothing was read ahead */
	if (n > 0)
		return (int)n;
	if (n == 0)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	return rx_error(err);
}

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tls_conn *c = ctx;

	(void)ssl;
	return tls_rx_recv(&c->rx, c->fd, buf, sz);
}

int tls_conn_new(struct tls_side *side, int fd, struct tls_conn **out)
{
	struct tls_conn *c;
	WOLFSSL_SESSION *sess;
	int rc;

	if (out == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "tls_conn_new: out is NULL");
	*out = NULL;
	if (side == NULL || fd < 0)
		return mtls_err_set(MTLS_ERR_ARG, "tls_conn_new: bad side or fd");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "tls_conn_new");
	c->side = side;
	c->fd = fd;
	c->reason = STATS_R_OTHER;
	c->ssl = new_ssl(side, &sess);
	if (c->ssl != NULL && sess != NULL && wolfSSL_set_session(c->ssl, sess) != WOLFSSL_SUCCESS)
		mtls_log(MTLS_LOG_DEBUG, "tunnel %s: cached session expired or unusable",
			side->name);
	if (sess != NULL)
		wolfSSL_SESSION_free(sess);
	if (c->ssl == NULL) {
		free(c);
		return mtls_err_set(MTLS_ERR_NOMEM, "wolfSSL_new failed");
	}
	if (wolfSSL_set_fd(c->ssl, fd) != WOLFSSL_SUCCESS) {
		rc = mtls_err_set(MTLS_ERR_INTERNAL, "wolfSSL_set_fd failed");
		goto fail;
	}
	wolfSSL_SetIOWriteFlags(c->ssl, MSG_NOSIGNAL); /* EPIPE, not SIGPIPE */
	wolfSSL_SSLSetIORecv(c->ssl, io_recv);
	wolfSSL_SetIOReadCtx(c->ssl, c);
	wolfSSL_set_app_data(c->ssl, c);
	/* The PK callbacks' context is per WOLFSSL (there is no CTX-level one
	 * for RSA); the sign checks use the same. */
	wolfSSL_SetEccSignCtx(c->ssl, c);
	wolfSSL_SetRsaSignCtx(c->ssl, c);
	wolfSSL_SetRsaPssSignCtx(c->ssl, c);
	if (!side->is_server && (rc = client_setup(c)) != 0)
		goto fail;
	*out = c;
	return 0;
fail:
	tls_conn_free(c);
	return rc;
}

void tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	wolfSSL_free(c->ssl);
	tls_rx_free(&c->rx);
	free(c);
}

/* A resumed session ran no verification callback: describe the peer from
 * the certificate the session kept. Not wolfSSL_get_peer_certificate: it
 * decodes that certificate into the WOLFSSL (names, public key as an EVP
 * key), where it stays for the connection's life, about 21 KB per idle
 * resumed tunnel (measured, OPENSSL_ALL). The copy decoded here is freed
 * at once. */
static void describe_resumed_peer(struct tls_conn *c)
{
#ifdef SESSION_CERTS
	WOLFSSL_X509_CHAIN *chain = wolfSSL_get_peer_chain(c->ssl);
	WOLFSSL_X509 *peer;

	if (chain == NULL || wolfSSL_get_chain_count(chain) < 1 ||
		(peer = wolfSSL_get_chain_X509(chain, 0)) == NULL)
		return;
	tls_describe_cert(peer, c->peer, sizeof(c->peer));
	wolfSSL_X509_free(peer);
#else
	WOLFSSL_X509 *peer = wolfSSL_get_peer_certificate(c->ssl);

	if (peer != NULL) {
		tls_describe_cert(peer, c->peer, sizeof(c->peer));
		wolfSSL_X509_free(peer);
	}
#endif
}

/* After a completed handshake: who the peer is. Then wolfSSL's handshake
 * arrays go: this wolfSSL (WOLFSSL_POST_HANDSHAKE_AUTH) keeps them after a
 * TLS 1.3 handshake for post-handshake authentication, which we neither
 * offer nor request; 5.5 KB per idle tunnel (measured). TLS 1.2 freed them
 * already, and what follows (tickets, key updates) does not use them. */
static void handshake_done(struct tls_conn *c)
{
	c->done = 1;
	if (c->peer[0] == '\0')
		describe_resumed_peer(c);
	wolfSSL_FreeArrays(c->ssl);
	if (c->peer[0] == '\0')
		snprintf(c->peer, sizeof(c->peer), "%s",
			wolfSSL_session_reused(c->ssl) ? "(resumed session)" : "(unknown)");
	if (wolfSSL_version(c->ssl) == TLS1_3_VERSION) {
		if (!c->side->is_server)
			ticket_hash(c, c->ticket_at_done);
	} else {
		keep_session(c);
	}
}

static int would_block(int err, int *want)
{
	if (err == WOLFSSL_ERROR_WANT_READ) {
		*want = TLS_WANT_READ;
		return 1;
	}
	if (err == WOLFSSL_ERROR_WANT_WRITE) {
		*want = TLS_WANT_WRITE;
		return 1;
	}
	return 0;
}

int tls_conn_handshake(struct tls_conn *c, int *want)
{
	int ret, err;

	if (c == NULL || want == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "tls_conn_handshake: NULL argument");
	*want = 0;
	if (c->done)
		return 0;
	ret = c->side->is_server ? wolfSSL_accept(c->ssl) : wolfSSL_connect(c->ssl);
	if (ret == WOLFSSL_SUCCESS) {
		handshake_done(c);
		return 0;
	}
	err = wolfSSL_get_error(c->ssl, ret);
	if (c->fail_code == 0 && would_block(err, want))
		return MTLS_ERR_AGAIN;
	*want = 0;
	return tls_handshake_error(c, err);
}

/* An error after the handshake: the peer's alert says most. */
static long io_error(struct tls_conn *c, const char *op, int err)
{
	char buf[TLS_DETAIL_MAX], msg[WOLFSSL_MAX_ERROR_SZ];

	if (tls_peer_alert(c, buf, sizeof(buf)))
		return mtls_err_set(MTLS_ERR_PROTOCOL, "TLS %s: %s", op, buf);
	if (err == SOCKET_ERROR_E || err == SOCKET_PEER_CLOSED_E)
		return mtls_err_set(MTLS_ERR_IO, "TLS %s: connection reset", op);
	wolfSSL_ERR_error_string_n((unsigned long)err, msg, sizeof(msg));
	return mtls_err_set(MTLS_ERR_PROTOCOL, "TLS %s failed: %s (wolfSSL %d)", op, msg, err);
}

/* wolfSSL_read gives one record at most (16 KiB of plaintext). While
 * more records are already in memory (read ahead, or decrypted and not yet
 * taken), take them too: the caller then writes one larger block. No
 * receive from the socket is made for them, and whatever stops the loop
 * (an error, an end of stream) is seen again by the next call. */
static long fill_more(struct tls_conn *c, uint8_t *buf, size_t n, size_t len)
{
	int m;

	while (n < len && (c->rx.off < c->rx.len || wolfSSL_pending(c->ssl) > 0)) {
		m = wolfSSL_read(c->ssl, buf + n, (int)(len - n));
		if (m <= 0)
			break;
		n += (size_t)m;
	}
	return (long)n;
}

long tls_conn_read(struct tls_conn *c, void *buf, size_t len, int *want)
{
	int n, err;

	if (c == NULL || buf == NULL || want == NULL || len == 0)
		return mtls_err_set(MTLS_ERR_ARG, "tls_conn_read: bad argument");
	*want = 0;
	if (len > INT_MAX)
		len = INT_MAX;
	n = wolfSSL_read(c->ssl, buf, (int)len);
	keep_session(c); /* a TLS 1.3 ticket may just have arrived */
	if (n > 0)
		return fill_more(c, buf, (size_t)n, len);
	err = wolfSSL_get_error(c->ssl, n);
	if (would_block(err, want))
		return MTLS_ERR_AGAIN;
	if (err == WOLFSSL_ERROR_ZERO_RETURN || err == SOCKET_PEER_CLOSED_E)
		return 0;
	return io_error(c, "read", err);
}

long tls_conn_write(struct tls_conn *c, const void *buf, size_t len, int *want)
{
	int n, err;

	if (c == NULL || buf == NULL || want == NULL || len == 0)
		return mtls_err_set(MTLS_ERR_ARG, "tls_conn_write: bad argument");
	*want = 0;
	if (len > INT_MAX)
		len = INT_MAX;
	n = wolfSSL_write(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	err = wolfSSL_get_error(c->ssl, n);
	if (would_block(err, want))
		return MTLS_ERR_AGAIN;
	return io_error(c, "write", err);
}

void tls_conn_close_notify(struct tls_conn *c)
{
	if (c != NULL && c->ssl != NULL)
		(void)wolfSSL_shutdown(c->ssl);
}

const char *tls_conn_peer(const struct tls_conn *c)
{
	return c != NULL && c->done ? c->peer : "";
}

int tls_conn_resumed(const struct tls_conn *c)
{
	return c != NULL && c->done && wolfSSL_session_reused(c->ssl) ? 1 : 0;
}

const char *tls_conn_version(const struct tls_conn *c)
{
	return c != NULL && c->ssl != NULL ? wolfSSL_get_version(c->ssl) : "";
}

unsigned tls_conn_signatures(const struct tls_conn *c)
{
	return c != NULL ? c->signatures : 0;
}

enum stats_reason tls_conn_fail_reason(const struct tls_conn *c)
{
	return c != NULL && !c->done ? c->reason : STATS_R_OTHER;
}
