/* Server session tickets with our own rotating keys.
 *
 * Each tls_side has its own keys, made from the OS RNG: a ticket issued by
 * one tunnel never resumes on another, and a new side (config reload)
 * starts with fresh keys. The current key encrypts for one period; it then
 * becomes the previous key, which only decrypts, for one more period. With
 * the ticket lifetime set to the period, every ticket stays usable for its
 * whole life. Tickets are sealed with ChaCha20-Poly1305 (the faster AEAD
 * in this wolfSSL build); the AAD binds key name, nonce and length. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "mtls/err.h"
#include "mtls/log.h"
#include "tls_int.h"

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void key_wipe(struct tls_ticket_key *k)
{
	explicit_bzero(k, sizeof(*k));
}

/* A new key; the born time is at least 1 so 0 can mean "empty". */
static int key_new(struct tls_ticket_key *k, time_t now)
{
	if (random_bytes(k->name, sizeof(k->name)) != 0 ||
		random_bytes(k->key, sizeof(k->key)) != 0) {
		key_wipe(k);
		return -1;
	}
	k->born = now > 0 ? now : 1;
	return 0;
}

/* Under t->lock. */
static int rotate_locked(struct tls_tickets *t, time_t now)
{
	struct tls_ticket_key k;

	if (key_new(&k, now) != 0)
		return -1;
	t->prev = t->cur;
	t->cur = k;
	key_wipe(&k);
	return 0;
}

int tls_tickets_init(struct tls_tickets *t, unsigned period_s)
{
	memset(t, 0, sizeof(*t));
	t->period_s = period_s;
	if (pthread_mutex_init(&t->lock, NULL) != 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "ticket key lock");
	return 0;
}

void tls_tickets_destroy(struct tls_tickets *t)
{
	key_wipe(&t->cur);
	key_wipe(&t->prev);
	pthread_mutex_destroy(&t->lock);
}

void tls_tickets_drop(struct tls_tickets *t)
{
	pthread_mutex_lock(&t->lock);
	key_wipe(&t->cur);
	key_wipe(&t->prev);
	pthread_mutex_unlock(&t->lock);
}

int tls_tickets_rotate(struct tls_tickets *t)
{
	int rc;

	pthread_mutex_lock(&t->lock);
	rc = rotate_locked(t, now_s());
	pthread_mutex_unlock(&t->lock);
	return rc == 0 ? 0 : mtls_err_set(MTLS_ERR_INTERNAL, "getrandom failed: no ticket key");
}

/* The key to encrypt with (rotating when due), or the one named, if it is
 * still within its decryption life. Copies it out so the lock is short. */
static int pick_key(struct tls_tickets *t, int enc, const uint8_t *name, struct tls_ticket_key *out,
	int *is_prev)
{
	time_t now = now_s(), period = (time_t)t->period_s;
	int rc = -1;

	pthread_mutex_lock(&t->lock);
	if (enc) {
		if ((t->cur.born == 0 || now - t->cur.born >= period) && rotate_locked(t, now) != 0)
			goto out;
		*out = t->cur;
		*is_prev = 0;
		rc = 0;
	} else if (t->cur.born != 0 && memcmp(name, t->cur.name, sizeof(t->cur.name)) == 0) {
		*out = t->cur;
		*is_prev = 0;
		rc = 0;
	} else if (t->prev.born != 0 && now - t->prev.born < 2 * period &&
		memcmp(name, t->prev.name, sizeof(t->prev.name)) == 0) {
		*out = t->prev;
		*is_prev = 1;
		rc = 0;
	}
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int tls_ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
	unsigned char iv[WOLFSSL_TICKET_IV_SZ], unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc,
	unsigned char *ticket, int inlen, int *outlen, void *ctx)
{
	struct tls_tickets *t = ctx;
	struct tls_ticket_key k;
	uint8_t aad[WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ + 2];
	int is_prev = 0, rc;

	if (t == NULL || inlen <= 0 || inlen > 0xffff)
		return WOLFSSL_TICKET_RET_REJECT;
	if (pick_key(t, enc, key_name, &k, &is_prev) != 0)
		return enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
	if (enc) {
		memcpy(key_name, k.name, sizeof(k.name));
		if (random_bytes(iv, WOLFSSL_TICKET_IV_SZ) != 0) {
			key_wipe(&k);
			return WOLFSSL_TICKET_RET_FATAL;
		}
	}
	memcpy(aad, key_name, WOLFSSL_TICKET_NAME_SZ);
	memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
	aad[sizeof(aad) - 2] = (uint8_t)(inlen >> 8);
	aad[sizeof(aad) - 1] = (uint8_t)inlen;
	if (enc) {
		memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
		rc = wc_ChaCha20Poly1305_Encrypt(
			k.key, iv, aad, sizeof(aad), ticket, (word32)inlen, ticket, mac);
	} else {
		rc = wc_ChaCha20Poly1305_Decrypt(
			k.key, iv, aad, sizeof(aad), ticket, (word32)inlen, mac, ticket);
	}
	key_wipe(&k);
	if (rc != 0)
		return enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
	*outlen = inlen;
	/* From the previous key: fine, and worth a fresh ticket (TLS 1.2). */
	return is_prev ? WOLFSSL_TICKET_RET_CREATE : WOLFSSL_TICKET_RET_OK;
}
