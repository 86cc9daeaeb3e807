/* X.509 certificates for status and doctor, read with wolfSSL: loading a
 * file (PEM or DER), the fields people ask about, and whether a
 * certificate holds a given public key. */
#ifndef MTLS_PROVISION_CERTINFO_H
#define MTLS_PROVISION_CERTINFO_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CERTINFO_FILE_MAX (64 * 1024)
#define CERTINFO_SANS_MAX 32

struct certinfo {
	char subject[512]; /* "/OU=agents/CN=gw01", control bytes as '?' */
	char issuer[512];
	char serial[80]; /* hex */
	char *sans[CERTINFO_SANS_MAX]; /* "DNS:...", "IP:...", "URI:...", "email:..." */
	size_t nsans;
	int sans_cut; /* more than CERTINFO_SANS_MAX */
	time_t not_before, not_after;
	uint8_t *spki; /* DER SubjectPublicKeyInfo (a copy) */
	size_t spki_len;
};

/* Read the first certificate of a PEM file, or a DER file, into a malloc'd
 * DER buffer (at most CERTINFO_FILE_MAX bytes of file). */
int certinfo_load_file(const char *path, uint8_t **der, size_t *len);

/* Parse DER. ci is zeroed first; release with certinfo_free(). */
int certinfo_parse(const uint8_t *der, size_t len, struct certinfo *ci);
void certinfo_free(struct certinfo *ci);

/* Whole days from now until not_after (negative once expired). */
long certinfo_days_left(const struct certinfo *ci, time_t now);

/* 1 if the certificate's key is the key in spki (DER SubjectPublicKeyInfo;
 * EC points and RSA moduli compared by value if the encodings differ). */
int certinfo_same_key(const struct certinfo *ci, const uint8_t *spki, size_t len);

/* "2025-01-31 12:00:00 UTC" into out (at least 24 bytes). */
void certinfo_time(char *out, size_t outlen, time_t t);
/* "2025-01-31T12:00:00Z" (RFC 3339) into out (at least 21 bytes). */
void certinfo_time_iso(char *out, size_t outlen, time_t t);

#endif
