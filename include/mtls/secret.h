/* A secret (a PIN) held in memory that is locked (no swap), excluded from
 * core dumps and wiped on free. The one place PIN bytes live. */
#ifndef MTLS_SECRET_H
#define MTLS_SECRET_H

#include <stddef.h>

#define MTLS_SECRET_MAX 256

struct mtls_secret;

/* Copy len bytes of data into a new secret. Returns 0 or MTLS_ERR_NOMEM /
 * MTLS_ERR_TOO_BIG. The caller keeps ownership of data (and should wipe it). */
int mtls_secret_new(const void *data, size_t len, struct mtls_secret **out);

/* Read a secret from a file: refused unless it is a regular file with no
 * group or world permissions (mode & 077 == 0) and owned by the caller or
 * root. One trailing "\n" or "\r\n" is removed. The file must hold 1 to
 * MTLS_SECRET_MAX bytes. Errors: MTLS_ERR_PIN_SOURCE with detail naming the
 * file and what to do. */
int mtls_secret_from_file(const char *path, struct mtls_secret **out);

/* Read $CREDENTIALS_DIRECTORY/name (systemd LoadCredential=). name must be
 * a plain file name. Same checks as mtls_secret_from_file(). */
int mtls_secret_from_credential(const char *name, struct mtls_secret **out);

const unsigned char *mtls_secret_data(const struct mtls_secret *s);
size_t mtls_secret_len(const struct mtls_secret *s);

/* Wipe and free; NULL is a no-op. */
void mtls_secret_free(struct mtls_secret *s);

/* Wipe memory in a way the compiler keeps. */
void mtls_wipe(void *p, size_t len);

/* Make this process not dumpable and not ptrace-attachable by peers.
 * Returns 0 or MTLS_ERR_INTERNAL. */
int mtls_harden_process(void);

#endif
