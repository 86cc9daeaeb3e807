/* Certificates out: atomic files and the token (certio.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certio.h"
#include "mtls/err.h"
#include "mtls/p11_store.h"

/* The directory part of path ("." if none) into dir. */
static int dir_of(const char *path, char *dir, size_t dirlen)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL) {
		snprintf(dir, dirlen, ".");
		return 0;
	}
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= dirlen)
		return -1;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* The new content in a temporary file beside path; its name in tmp. */
static int write_temp(
	const char *path, const void *data, size_t len, mode_t mode, char *tmp, size_t tmplen)
{
	int fd;

	if ((size_t)snprintf(tmp, tmplen, "%s.tmpXXXXXX", path) >= tmplen)
		return mtls_err_set(MTLS_ERR_ARG, "path too long: %s", path);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return mtls_err_set(MTLS_ERR_IO,
			"cannot create a temporary file beside %s: %m (is the directory writable?)",
			path);
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		return mtls_err_set(MTLS_ERR_IO, "cannot write %s: %m", tmp);
	}
	if (close(fd) != 0) {
		unlink(tmp);
		return mtls_err_set(MTLS_ERR_IO, "cannot write %s: %m", tmp);
	}
	return 0;
}

/* Keep the current path as path.prev: a hard link made under a temporary
 * name, renamed over any older .prev (so .prev is always complete). */
static int keep_previous(const char *path)
{
	char prev[PATH_MAX], link_tmp[PATH_MAX];
	struct stat st;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0; /* nothing to keep */
		return mtls_err_set(MTLS_ERR_IO, "cannot look at %s: %m", path);
	}
	if (!S_ISREG(st.st_mode))
		return mtls_err_set(MTLS_ERR_IO,
			"%s exists and is not a regular file; remove it or choose another path",
			path);
	if ((size_t)snprintf(prev, sizeof(prev), "%s.prev", path) >= sizeof(prev) ||
		(size_t)snprintf(link_tmp, sizeof(link_tmp), "%s.prev.%ld", path, (long)getpid()) >=
			sizeof(link_tmp))
		return mtls_err_set(MTLS_ERR_ARG, "path too long: %s", path);
	unlink(link_tmp);
	if (link(path, link_tmp) != 0)
		return mtls_err_set(MTLS_ERR_IO, "cannot keep %s as %s: %m", path, prev);
	if (rename(link_tmp, prev) != 0) {
		int e = errno;
		unlink(link_tmp);
		errno = e;
		return mtls_err_set(MTLS_ERR_IO, "cannot keep %s as %s: %m", path, prev);
	}
	return 0;
}

int certio_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int rc;

	if (path == NULL || *path == '\0' || dir_of(path, dir, sizeof(dir)) != 0)
		return mtls_err_set(MTLS_ERR_ARG, "no usable output path");
	if ((rc = write_temp(path, data, len, mode, tmp, sizeof(tmp))) != 0)
		return rc;
	if ((rc = keep_previous(path)) != 0) {
		unlink(tmp);
		return rc;
	}
	if (rename(tmp, path) != 0) {
		rc = mtls_err_set(MTLS_ERR_IO, "cannot rename %s to %s: %m", tmp, path);
		unlink(tmp);
		return rc;
	}
	if (fsync_dir(dir) != 0)
		return mtls_err_set(
			MTLS_ERR_IO, "%s written, but syncing %s failed: %m", path, dir);
	return 0;
}

int certio_store_on_token(struct p11_key *key, const uint8_t *der, size_t len)
{
	struct certio_fields f;
	struct p11_cert c;

	if (certio_cert_fields(der, len, &f) != 0)
		return mtls_err_set(MTLS_ERR_PROTOCOL, "the certificate is malformed");
	c.der = der;
	c.der_len = len;
	c.subject = f.subject;
	c.subject_len = f.subject_len;
	c.issuer = f.issuer;
	c.issuer_len = f.issuer_len;
	c.serial = f.serial;
	c.serial_len = f.serial_len;
	return p11_store_cert(key, &c, NULL);
}
