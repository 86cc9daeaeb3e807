/* agent/sandbox.c: the data plane's sandbox, entered for real (Landlock
 * and seccomp in this kernel) in a forked child per scenario, so the test
 * runner itself stays free. The child runs its checks and exits 0, or
 * prints the first surprise and exits 1. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox.h"

static char top[64], allowed[128], other[128], sockdir[128];

static int landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U /* VERSION */);

	return v < 0 ? 0 : (int)v;
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(top, sizeof(top), "/tmp/mtls-sandbox.XXXXXX");
	assert_non_null(mkdtemp(top));
	snprintf(allowed, sizeof(allowed), "%s/allowed", top);
	snprintf(other, sizeof(other), "%s/other", top);
	snprintf(sockdir, sizeof(sockdir), "%s/run", top);
	assert_int_equal(mkdir(allowed, 0700), 0);
	assert_int_equal(mkdir(other, 0700), 0);
	assert_int_equal(mkdir(sockdir, 0700), 0);
	put(allowed, "cert.pem", "allowed\n");
	put(other, "pin", "1234\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
	return system(cmd) == 0 ? 0 : -1;
}

#define CHECK(cond, ...)                                                              \
	do {                                                                          \
		if (!(cond)) {                                                        \
			fprintf(stderr, "sandboxed child: " __VA_ARGS__);             \
			fprintf(stderr, " (errno %d: %s)\n", errno, strerror(errno)); \
			_exit(1);                                                     \
		}                                                                     \
	} while (0)

/* Run fn in a child that entered the sandbox with these rules. */
static void in_sandbox(void (*fn)(void))
{
	struct sandbox_report rep;
	struct sandbox_rules r = {0};
	pid_t pid;
	int st;

	r.read[r.nread++] = allowed;
	r.sock_dir[r.nsock_dir++] = sockdir;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (sandbox_enter(&r, &rep) != 0 || rep.seccomp != 1) {
			fprintf(stderr, "sandbox_enter failed\n");
			_exit(2);
		}
		fn();
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static int open_in(const char *dir, const char *name, int flags)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return open(path, flags | O_CLOEXEC, 0600);
}

static void files_child(void)
{
	char buf[16];
	int fd;

	fd = open_in(allowed, "cert.pem", O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == 8, "reading beneath the allowed directory");
	close(fd);
	if (landlock_abi() == 0)
		return; /* seccomp only: files are not confined in this kernel */
	errno = 0;
	CHECK(open_in(other, "pin", O_RDONLY) < 0 && errno == EACCES,
		"a file outside the allowed set was opened");
	CHECK(open("/etc/passwd", O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES,
		"/etc/passwd was opened");
	CHECK(open_in(allowed, "cert.pem", O_WRONLY) < 0 && errno == EACCES,
		"an allowed file was opened for writing");
	CHECK(open_in(allowed, "new", O_WRONLY | O_CREAT) < 0 && errno == EACCES,
		"a file was created in a read-only directory");
}

/* Reading only beneath the named directories; no writing anywhere. */
static void sandbox_reads_only_beneath_the_named_directories(void **state)
{
	(void)state;
	in_sandbox(files_child);
}

static void *thread_main(void *arg)
{
	return arg;
}

static void calls_child(void)
{
	char *const argv[] = {"/bin/true", NULL};
	pthread_t th;
	void *res = NULL;
	int fd;

	errno = 0;
	CHECK(execve("/bin/true", argv, NULL) < 0 && errno == EPERM, "execve was not refused");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0, "a TCP socket was refused");
	close(fd);
	errno = 0;
	CHECK(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0) < 0 && errno == EPERM,
		"a packet socket was not refused");
	errno = 0;
	CHECK(kill(getppid(), 0) < 0 && errno == EPERM, "signalling another process worked");
	CHECK(pthread_create(&th, NULL, thread_main, (void *)1) == 0 &&
			pthread_join(th, &res) == 0 && res == (void *)1,
		"a thread could not be started");
#ifndef SANDBOX_FOR_SANITIZERS /* LeakSanitizer needs these at exit */
	errno = 0;
	CHECK(fork() < 0 && errno == EPERM, "fork was not refused");
	errno = 0;
	CHECK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 && errno == EPERM,
		"the process could make itself dumpable again");
#endif
	CHECK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0, "the process is dumpable");
}

/* execve, other processes, raw sockets: refused; threads and TCP: fine. */
static void sandbox_refuses_execve_fork_and_foreign_signals(void **state)
{
	(void)state;
	in_sandbox(calls_child);
}

static int bind_in(const char *dir)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s", dir);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return rc;
}

static void sockets_child(void)
{
	char path[256];

	CHECK(bind_in(sockdir) == 0, "a unix socket in its directory was refused");
	snprintf(path, sizeof(path), "%s/s", sockdir);
	CHECK(unlink(path) == 0, "the socket could not be removed");
	if (landlock_abi() == 0)
		return;
	errno = 0;
	CHECK(bind_in(allowed) < 0 && errno == EACCES, "a unix socket was made elsewhere");
}

/* Unix listeners only where the configuration puts them. */
static void sandbox_makes_unix_sockets_only_in_their_directories(void **state)
{
	(void)state;
	in_sandbox(sockets_child);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sandbox_reads_only_beneath_the_named_directories),
		cmocka_unit_test(sandbox_refuses_execve_fork_and_foreign_signals),
		cmocka_unit_test(sandbox_makes_unix_sockets_only_in_their_directories),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
