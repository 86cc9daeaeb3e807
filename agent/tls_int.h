/* Internals shared by the TLS layer's files (tls.c, tls_verify.c,
 * tls_ticket.c, tls_der.c). Include <wolfssl/options.h> before this. */
#ifndef MTLS_AGENT_TLS_INT_H
#define MTLS_AGENT_TLS_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <wolfssl/ssl.h>

#include "stats.h"
#include "tls.h"

#define TLS_PEER_MAX 256 /* tls_conn_peer() line, NUL included */
#define TLS_DETAIL_MAX 384 /* a failure's detail kept in the connection */
#define TLS_FILE_MAX (4u << 20) /* certificate, CA and CRL files */

/* Returned by the PK callbacks when the signer fails; the signer's code and
 * detail are kept in the connection. Far from every wolfSSL code. */
#define TLS_ERR_SIGNER (-29001)

/* Peer authorization rules, copied from struct cfg_allow so the side does
 * not depend on the configuration's lifetime. */
struct tls_rules {
	char **cn, **dns, **uri, **ou;
	size_t ncn, ndns, nuri, nou;
	uint8_t (*spki)[32];
	size_t nspki;
	int all;
};

/* Server session-ticket keys: the current one encrypts, the previous one
 * still decrypts, so a ticket lives at least one rotation period. */
struct tls_ticket_key {
	uint8_t name[16];
	uint8_t key[32];
	time_t born; /* 0: empty slot */
};

struct tls_tickets {
	pthread_mutex_t lock;
	struct tls_ticket_key cur, prev;
	unsigned period_s;
};

struct tls_crl_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	int present;
};

struct tls_side {
	int is_server;
	struct signer *signer;
	unsigned key;
	struct signer_key_info info;
	unsigned rsa_bits; /* RSA keys: the modulus's exact size, for padding */
	int vmin, vmax; /* effective: 12 or 13 */
	int resume; /* session-resume: offer (client) or issue (server) sessions */
	char *name; /* tunnel name, for messages */
	char *verify_name; /* client: expected server name (DNS or IP literal) */
	int verify_is_ip;
	struct tls_rules rules;
	/* Inputs kept in memory so the context can be rebuilt (CRL reload)
	 * from exactly what tls_side_new checked. */
	char *cert_pem, *cacert_pem;
	/* Where our certificate came from, for messages: "file PATH" or "on
	 * the token (URI)"; cert_pem is PEM either way (DER from the token is
	 * converted), so both are checked and loaded alike. */
	char cert_what[192];
	long long not_before, not_after; /* our certificate, Unix time; 0 unknown */
	size_t cert_len, cacert_len;
	char *crl_path;
	struct tls_crl_stamp crl_stamp;
	uint8_t sid_ctx[16]; /* session id context: sessions never cross sides */

	pthread_mutex_t reload_lock; /* one CRL reload at a time */
	pthread_mutex_t lock; /* guards ctx and session */
	WOLFSSL_CTX *ctx; /* current context; each WOLFSSL holds a reference */
	WOLFSSL_SESSION *session; /* client: the newest resumable session */
	struct tls_tickets tickets; /* server */
};

/* Read-ahead on a connection's socket (tls_conn.c). wolfSSL asks for
 * exactly what it needs next (a record's 5-byte header, then its body), so
 * reading that alone costs two recv calls a record. The receive callback
 * asks the kernel for more and keeps the surplus here for wolfSSL's next
 * reads. Memory is held only while surplus bytes wait: data is NULL
 * whenever off == len, so an idle connection holds none. */
#define TLS_RX_CAP (64u * 1024u) /* bytes read ahead at most; below malloc's mmap threshold */

struct tls_rx {
	uint8_t *data; /* NULL, or TLS_RX_CAP bytes (owned) holding len - off unread bytes */
	size_t off, len;
};

/* The receive step behind wolfSSL's I/O callback, on its own for tests:
 * up to sz bytes into buf, from rx first, else from the non-blocking
 * socket fd (reading up to TLS_RX_CAP more into rx). Returns the bytes
 * given (1..sz) or a WOLFSSL_CBIO_ERR_* code as wolfSSL's own callback
 * would: WANT_READ (nothing buffered, the socket has nothing), CONN_CLOSE
 * (end of stream, only once everything buffered was given), CONN_RST,
 * ISR, GENERAL. */
int tls_rx_recv(struct tls_rx *rx, int fd, char *buf, int sz);
/* Drop what rx holds (the connection is going away). */
void tls_rx_free(struct tls_rx *rx);

struct tls_conn {
	struct tls_side *side;
	WOLFSSL *ssl;
	int fd;
	struct tls_rx rx; /* read-ahead, see above */
	int done; /* handshake complete */
	int session_saved; /* client: a session with a ticket was kept */
	uint8_t ticket_at_done[32]; /* client, TLS 1.3: ticket hash when the handshake ended */
	unsigned ticket_looks; /* reads that looked for a new ticket */
	int fail_code; /* set by a callback: the handshake's error code */
	char fail[TLS_DETAIL_MAX]; /* and its detail */
	enum stats_reason reason; /* why the handshake failed (with fail_code, or
				   * by tls_handshake_error); STATS_R_OTHER until then */
	int verify_err; /* first verification error (wolfSSL code), 0 if none */
	int verify_depth;
	char verify_subject[128];
	char peer[TLS_PEER_MAX];
	unsigned signatures; /* token signatures made for this connection */
};

/* tls_sign.c: the PK callbacks (sign on the token, check RSA signatures). */
void tls_set_pk_callbacks(WOLFSSL_CTX *ctx);
/* The exact bit size of the modulus in a DER RSA SubjectPublicKeyInfo. */
int tls_rsa_modulus_bits(const uint8_t *spki, size_t len, unsigned *bits);

/* tls_verify.c */
int tls_verify_cb(int ok, WOLFSSL_X509_STORE_CTX *store);
/* Turn a failed handshake into a project error with a specific detail. */
int tls_handshake_error(struct tls_conn *c, int werr);
/* 1 and a sentence in buf if the peer sent a fatal alert. */
int tls_peer_alert(struct tls_conn *c, char *buf, size_t len);
/* "CN=... SAN=..." of cert into out (cleaned, bounded). */
void tls_describe_cert(WOLFSSL_X509 *cert, char *out, size_t outlen);
int tls_rules_copy(struct tls_rules *dst, const struct cfg_allow *src);
void tls_rules_free(struct tls_rules *r);
int tls_rules_empty(const struct tls_rules *r);
void tls_conn_failf(struct tls_conn *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same with a failure reason other than the one code implies. */
void tls_conn_fail_why(struct tls_conn *c, enum stats_reason why, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* tls_ticket.c */
int tls_tickets_init(struct tls_tickets *t, unsigned period_s);
void tls_tickets_destroy(struct tls_tickets *t);
/* Forget both keys: every ticket issued so far stops working. */
void tls_tickets_drop(struct tls_tickets *t);
/* Start a new current key now, keeping the current one for decryption. */
int tls_tickets_rotate(struct tls_tickets *t);
int tls_ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
	unsigned char iv[WOLFSSL_TICKET_IV_SZ], unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc,
	unsigned char *ticket, int inlen, int *outlen, void *ctx);

/* tls_der.c: bounded DER reading. */
/* The SubjectPublicKeyInfo inside a DER certificate: *spki points into cert. */
int tls_der_cert_spki(const uint8_t *cert, size_t len, const uint8_t **spki, size_t *spki_len);
/* 1 if the two SubjectPublicKeyInfos hold the same key (DER compared; EC
 * points and RSA moduli compared by value if the encodings differ). */
int tls_spki_same_key(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

#endif
