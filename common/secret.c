/* PIN storage: locked, excluded from dumps, wiped on free; and the checks
 * that refuse secret files others can read. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mtls/err.h"
#include "mtls/secret.h"

struct mtls_secret {
	size_t len;
	unsigned char data[MTLS_SECRET_MAX];
};

void mtls_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		explicit_bzero(p, len);
}

/* Keep the pages holding p out of core dumps (best effort: the page may be
 * shared with other heap data, which is then left out of dumps too). */
static void dont_dump(void *p, size_t len)
{
	uintptr_t page = 4096, start = (uintptr_t)p & ~(page - 1);
	uintptr_t end = ((uintptr_t)p + len + page - 1) & ~(page - 1);

	(void)madvise((void *)start, end - start, MADV_DONTDUMP);
}

int mtls_secret_new(const void *data, size_t len, struct mtls_secret **out)
{
	struct mtls_secret *s;

	*out = NULL;
	if (len > MTLS_SECRET_MAX)
		return mtls_err_set(MTLS_ERR_TOO_BIG,
			"secret of %zu bytes is over the %d-byte limit", len, MTLS_SECRET_MAX);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return MTLS_ERR_NOMEM;
	/* Best effort: both fail harmlessly without privileges or support. */
	(void)mlock(s, sizeof(*s));
	dont_dump(s, sizeof(*s));
	memcpy(s->data, data, len);
	s->len = len;
	*out = s;
	return 0;
}

const unsigned char *mtls_secret_data(const struct mtls_secret *s)
{
	return s->data;
}

size_t mtls_secret_len(const struct mtls_secret *s)
{
	return s->len;
}

void mtls_secret_free(struct mtls_secret *s)
{
	if (s == NULL)
		return;
	mtls_wipe(s, sizeof(*s));
	(void)munlock(s, sizeof(*s));
	free(s);
}

static int check_secret_file(int fd, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return mtls_err_set(
			MTLS_ERR_PIN_SOURCE, "PIN file %s: stat: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return mtls_err_set(MTLS_ERR_PIN_SOURCE, "PIN file %s is not a regular file", path);
	if ((st.st_mode & 077) != 0)
		return mtls_err_set(MTLS_ERR_PIN_SOURCE,
			"PIN file %s has mode %04o: group or others may access it; "
			"run chmod 600 %s (nothing was sent to the token)",
			path, (unsigned)(st.st_mode & 07777), path);
	if (st.st_uid != geteuid() && st.st_uid != 0)
		return mtls_err_set(MTLS_ERR_PIN_SOURCE,
			"PIN file %s is owned by uid %u, not by this user (%u) or root", path,
			(unsigned)st.st_uid, (unsigned)geteuid());
	return 0;
}

static int read_secret_fd(int fd, const char *path, struct mtls_secret **out)
{
	unsigned char buf[MTLS_SECRET_MAX + 3]; /* the PIN, CR LF, one byte too many */
	size_t len = 0;
	ssize_t n;
	int rc;

	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = mtls_err_set(MTLS_ERR_PIN_SOURCE, "PIN file %s: read: %s", path,
				strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == sizeof(buf)) {
		rc = mtls_err_set(MTLS_ERR_PIN_SOURCE, "PIN file %s must hold 1 to %d bytes", path,
			MTLS_SECRET_MAX);
		goto out;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0 || len > MTLS_SECRET_MAX) {
		rc = mtls_err_set(MTLS_ERR_PIN_SOURCE, "PIN file %s must hold 1 to %d bytes", path,
			MTLS_SECRET_MAX);
		goto out;
	}
	rc = mtls_secret_new(buf, len, out);
out:
	mtls_wipe(buf, sizeof(buf));
	return rc;
}

int mtls_secret_from_file(const char *path, struct mtls_secret **out)
{
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0)
		return mtls_err_set(MTLS_ERR_PIN_SOURCE, "PIN file %s cannot be opened: %s", path,
			strerror(errno));
	rc = check_secret_file(fd, path);
	if (rc == 0)
		rc = read_secret_fd(fd, path, out);
	close(fd);
	return rc;
}

int mtls_secret_from_credential(const char *name, struct mtls_secret **out)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");
	char path[4096];

	*out = NULL;
	if (dir == NULL || dir[0] == '\0')
		return mtls_err_set(MTLS_ERR_PIN_SOURCE,
			"PIN credential %s: $CREDENTIALS_DIRECTORY is not set; "
			"use LoadCredential= in the systemd unit",
			name);
	if (name[0] == '\0' || strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
		strcmp(name, "..") == 0)
		return mtls_err_set(MTLS_ERR_PIN_SOURCE,
			"PIN credential name '%s' must be a plain file name", name);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return mtls_err_set(MTLS_ERR_PIN_SOURCE, "PIN credential path too long");
	return mtls_secret_from_file(path, out);
}

int mtls_harden_process(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return mtls_err_set(
			MTLS_ERR_INTERNAL, "prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	return 0;
}
