/* common/secret.c: PIN files are refused unless only their owner can read
 * them, are bounded, lose one trailing newline; credentials come from
 * $CREDENTIALS_DIRECTORY by plain name; a secret is wiped before its memory
 * goes back (seen through -Wl,--wrap=free), and read and fstat errors are
 * reported (injected through --wrap=read/__read_chk/fstat). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakep11.h"
#include "mtls/err.h"
#include "mtls/secret.h"

/* ---- wrapped libc calls ---- */

void __wrap_free(void *p);
void __real_free(void *p);
ssize_t __wrap_read(int fd, void *buf, size_t n);
ssize_t __real_read(int fd, void *buf, size_t n);
ssize_t __wrap___read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __real___read_chk(int fd, void *buf, size_t n, size_t buflen);
int __wrap_fstat(int fd, struct stat *st);
int __real_fstat(int fd, struct stat *st);

static const void *watched; /* free() of this checks it was wiped */
static size_t watched_len;
static int watched_freed, watched_wiped;
static int read_eintr, read_eio, fstat_eio;

void __wrap_free(void *p)
{
	const unsigned char *b = p;
	size_t i;

	if (p != NULL && p == watched) {
		watched_freed = 1;
		watched_wiped = 1;
		for (i = 0; i < watched_len; i++)
			if (b[i] != 0)
				watched_wiped = 0;
	}
	__real_free(p);
}

static ssize_t injected_read(void)
{
	if (read_eintr > 0) {
		read_eintr--;
		errno = EINTR;
		return -1;
	}
	if (read_eio) {
		errno = EIO;
		return -1;
	}
	return 0;
}

ssize_t __wrap_read(int fd, void *buf, size_t n)
{
	if (read_eintr > 0 || read_eio)
		return injected_read();
	return __real_read(fd, buf, n);
}

ssize_t __wrap___read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (read_eintr > 0 || read_eio)
		return injected_read();
	return __real___read_chk(fd, buf, n, buflen);
}

int __wrap_fstat(int fd, struct stat *st)
{
	if (fstat_eio) {
		errno = EIO;
		return -1;
	}
	return __real_fstat(fd, st);
}

static int setup(void **state)
{
	read_eintr = read_eio = fstat_eio = 0;
	watched = NULL;
	watched_freed = watched_wiped = 0;
	mtls_err_clear();
	return 0;
}

static int teardown(void **state)
{
	unsetenv("CREDENTIALS_DIRECTORY");
	return 0;
}

static struct mtls_secret *from_file(const char *path)
{
	struct mtls_secret *s = NULL;

	if (mtls_secret_from_file(path, &s) != 0)
		fail_msg("mtls_secret_from_file(%s): %s", path, mtls_err_detail());
	return s;
}

static void secret_is(const struct mtls_secret *s, const void *want, size_t len)
{
	assert_int_equal(mtls_secret_len(s), len);
	assert_memory_equal(mtls_secret_data(s), want, len);
}

static void refused(const char *path, const char *why)
{
	struct mtls_secret *s = (struct mtls_secret *)&s;
	int rc = mtls_secret_from_file(path, &s);

	if (rc == 0) {
		mtls_secret_free(s);
		fail_msg("%s was accepted", path);
	}
	assert_int_equal(rc, MTLS_ERR_PIN_SOURCE);
	assert_null(s);
	assert_detail_has(why);
}

/* ---- files ---- */

static void one_trailing_newline_is_dropped(void **state)
{
	struct mtls_secret *s;

	s = from_file(fake_file("p1", "1234\n", 5, 0600));
	secret_is(s, "1234", 4);
	mtls_secret_free(s);
	s = from_file(fake_file("p2", "1234\r\n", 6, 0600));
	secret_is(s, "1234", 4);
	mtls_secret_free(s);
	s = from_file(fake_file("p3", "1234\n\n", 6, 0600));
	secret_is(s, "1234\n", 5);
	mtls_secret_free(s);
	s = from_file(fake_file("p4", "12 34", 5, 0400));
	secret_is(s, "12 34", 5);
	mtls_secret_free(s);
}

static void binary_bytes_are_kept(void **state)
{
	static const char pin[] = {'a', 0, 'b', (char)0xff};
	struct mtls_secret *s = from_file(fake_file("bin", pin, sizeof(pin), 0600));

	secret_is(s, pin, sizeof(pin));
	mtls_secret_free(s);
}

static void a_missing_file_is_refused(void **state)
{
	refused("/nonexistent/pin", "PIN file /nonexistent/pin cannot be opened");
}

static void a_file_group_or_others_may_access_is_refused(void **state)
{
	static const mode_t modes[] = {0644, 0640, 0604, 0620, 0602, 0610, 0601, 0660};
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		refused(fake_file("open", "1234", 4, modes[i]), "group or others may access it");
	refused(fake_file("open", "1234", 4, 0644), "run chmod 600");
}

static void a_directory_is_refused(void **state)
{
	refused(fake_tmpdir(), "is not a regular file");
}

static void a_symlink_is_refused(void **state)
{
	char link[300];

	snprintf(link, sizeof(link), "%s/pinlink", fake_tmpdir());
	unlink(link);
	assert_int_equal(symlink(fake_file("target", "1234", 4, 0600), link), 0);
	refused(link, "cannot be opened");
}

static void a_file_of_another_user_is_refused(void **state)
{
	const char *path = fake_file("foreign", "1234", 4, 0600);

	if (geteuid() != 0)
		skip(); /* only root can give a file away */
	assert_int_equal(chown(path, 4242, 4242), 0);
	refused(path, "owned by uid 4242");
}

static void an_empty_file_is_refused(void **state)
{
	refused(fake_file("e1", "", 0, 0600), "must hold 1 to 256 bytes");
	refused(fake_file("e2", "\n", 1, 0600), "must hold 1 to 256 bytes");
	refused(fake_file("e3", "\r\n", 2, 0600), "must hold 1 to 256 bytes");
}

static void up_to_256_bytes_are_accepted_and_more_refused(void **state)
{
	char buf[300];
	struct mtls_secret *s;

	memset(buf, 'x', sizeof(buf));
	s = from_file(fake_file("max", buf, 256, 0600));
	assert_int_equal(mtls_secret_len(s), 256);
	mtls_secret_free(s);
	buf[256] = '\r';
	buf[257] = '\n';
	s = from_file(fake_file("maxcrlf", buf, 258, 0600));
	assert_int_equal(mtls_secret_len(s), 256);
	mtls_secret_free(s);
	memset(buf, 'x', sizeof(buf));
	refused(fake_file("big", buf, 257, 0600), "must hold 1 to 256 bytes");
	refused(fake_file("bigger", buf, sizeof(buf), 0600), "must hold 1 to 256 bytes");
}

static void a_long_file_is_not_cut_at_a_line_end_after_256_bytes(void **state)
{
	char buf[300];

	/* 256 bytes, CR LF, then more: the file holds more than a PIN. */
	memset(buf, 'x', sizeof(buf));
	buf[256] = '\r';
	buf[257] = '\n';
	refused(fake_file("trailing", buf, sizeof(buf), 0600), "must hold 1 to 256 bytes");
}

static void an_interrupted_read_is_resumed(void **state)
{
	struct mtls_secret *s;

	read_eintr = 2;
	s = from_file(fake_file("intr", "1234", 4, 0600));
	secret_is(s, "1234", 4);
	mtls_secret_free(s);
}

static void a_read_error_is_reported(void **state)
{
	read_eio = 1;
	refused(fake_file("eio", "1234", 4, 0600), strerror(EIO));
	assert_detail_has("read:");
}

static void a_stat_error_is_reported(void **state)
{
	fstat_eio = 1;
	refused(fake_file("estat", "1234", 4, 0600), "stat:");
}

/* ---- credentials ---- */

static void a_credential_is_read_from_the_credentials_directory(void **state)
{
	struct mtls_secret *s = NULL;

	fake_file("token-pin", "1234\n", 5, 0600);
	setenv("CREDENTIALS_DIRECTORY", fake_tmpdir(), 1);
	assert_int_equal(mtls_secret_from_credential("token-pin", &s), 0);
	secret_is(s, "1234", 4);
	mtls_secret_free(s);
}

static void a_credential_gets_the_same_file_checks(void **state)
{
	struct mtls_secret *s = NULL;

	fake_file("open-cred", "1234", 4, 0644);
	setenv("CREDENTIALS_DIRECTORY", fake_tmpdir(), 1);
	assert_int_equal(mtls_secret_from_credential("open-cred", &s), MTLS_ERR_PIN_SOURCE);
	assert_detail_has("chmod 600");
	assert_int_equal(mtls_secret_from_credential("absent", &s), MTLS_ERR_PIN_SOURCE);
	assert_null(s);
}

static void a_credential_without_credentials_directory_is_refused(void **state)
{
	struct mtls_secret *s = (struct mtls_secret *)&s;

	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(mtls_secret_from_credential("token-pin", &s), MTLS_ERR_PIN_SOURCE);
	assert_detail_has("use LoadCredential=");
	assert_null(s);
	setenv("CREDENTIALS_DIRECTORY", "", 1);
	assert_int_equal(mtls_secret_from_credential("token-pin", &s), MTLS_ERR_PIN_SOURCE);
}

static void a_credential_name_that_is_not_a_plain_file_name_is_refused(void **state)
{
	static const char *const bad[] = {"", ".", "..", "a/b", "/etc/shadow", "../pin"};
	struct mtls_secret *s = NULL;
	size_t i;

	setenv("CREDENTIALS_DIRECTORY", fake_tmpdir(), 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mtls_secret_from_credential(bad[i], &s), MTLS_ERR_PIN_SOURCE);
		assert_detail_has("must be a plain file name");
	}
}

static void a_credential_path_over_4095_bytes_is_refused(void **state)
{
	char *dir = malloc(4200);
	struct mtls_secret *s = NULL;

	memset(dir, 'd', 4199);
	dir[0] = '/';
	dir[4199] = '\0';
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	free(dir);
	assert_int_equal(mtls_secret_from_credential("pin", &s), MTLS_ERR_PIN_SOURCE);
	assert_detail_has("PIN credential path too long");
}

/* ---- memory ---- */

static void a_secret_over_the_limit_is_refused(void **state)
{
	char buf[MTLS_SECRET_MAX + 1] = {0};
	struct mtls_secret *s = (struct mtls_secret *)&s;

	assert_int_equal(mtls_secret_new(buf, sizeof(buf), &s), MTLS_ERR_TOO_BIG);
	assert_null(s);
	assert_int_equal(mtls_secret_new(buf, MTLS_SECRET_MAX, &s), 0);
	mtls_secret_free(s);
	assert_int_equal(mtls_secret_new("", 0, &s), 0);
	assert_int_equal(mtls_secret_len(s), 0);
	mtls_secret_free(s);
}

static void a_secret_is_wiped_before_its_memory_is_freed(void **state)
{
	struct mtls_secret *s = NULL;
	const unsigned char *data;

	assert_int_equal(mtls_secret_new("123456", 6, &s), 0);
	data = mtls_secret_data(s);
	/* Everything from the start of the allocation to the end of the data
	 * area must be zero when free() sees it. */
	watched = s;
	watched_len = (size_t)(data - (const unsigned char *)(const void *)s) + MTLS_SECRET_MAX;
	mtls_secret_free(s);
	assert_true(watched_freed);
	assert_true(watched_wiped);
	mtls_secret_free(NULL);
}

static void wipe_zeroes_memory_and_accepts_nothing(void **state)
{
	unsigned char buf[32];

	memset(buf, 0xa5, sizeof(buf));
	mtls_wipe(buf, 16);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[15], 0);
	assert_int_equal(buf[16], 0xa5);
	mtls_wipe(NULL, 10);
	mtls_wipe(buf, 0);
}

static void hardening_makes_the_process_not_dumpable(void **state)
{
	pid_t pid;
	int status = -1;

	/* In a child, so this test process stays debuggable (and LSan can
	 * still stop it at exit). */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(mtls_harden_process() == 0 && prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0 ? 0
											    : 1);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(one_trailing_newline_is_dropped),
		T(binary_bytes_are_kept),
		T(a_missing_file_is_refused),
		T(a_file_group_or_others_may_access_is_refused),
		T(a_directory_is_refused),
		T(a_symlink_is_refused),
		T(a_file_of_another_user_is_refused),
		T(an_empty_file_is_refused),
		T(up_to_256_bytes_are_accepted_and_more_refused),
		T(a_long_file_is_not_cut_at_a_line_end_after_256_bytes),
		T(an_interrupted_read_is_resumed),
		T(a_read_error_is_reported),
		T(a_stat_error_is_reported),
		T(a_credential_is_read_from_the_credentials_directory),
		T(a_credential_gets_the_same_file_checks),
		T(a_credential_without_credentials_directory_is_refused),
		T(a_credential_name_that_is_not_a_plain_file_name_is_refused),
		T(a_credential_path_over_4095_bytes_is_refused),
		T(a_secret_over_the_limit_is_refused),
		T(a_secret_is_wiped_before_its_memory_is_freed),
		T(wipe_zeroes_memory_and_accepts_nothing),
		T(hardening_makes_the_process_not_dumpable),
	};

	return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
