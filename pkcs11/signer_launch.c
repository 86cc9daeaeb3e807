/* Starting and burying signer processes.
 *
 * Directly: posix_spawn the helper with the socket as its fd 3; reap by
 * pid with a bounded wait, then SIGTERM, then SIGKILL.
 *
 * Through the launcher: a process that wants to forbid itself fork, exec
 * and signals (the agent's sandboxed data plane) first forks a launcher
 * while it is still single-threaded. The launcher does the spawning and
 * reaping above on request, over a SOCK_SEQPACKET socketpair: SPAWN
 * carries the signer's end of a socketpair (SCM_RIGHTS) and gets the pid
 * back; REAP names a pid the launcher started and gets how it ended. The
 * helper path and the environment are fixed when the launcher starts, so
 * a compromised caller can only start the same signer again. The
 * launcher ignores SIGINT, SIGTERM and SIGHUP (its caller decides when to
 * stop) and exits when the caller's end closes, after burying its
 * children. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mtls/err.h"
#include "mtls/signer.h"
#include "signer_msg.h"

extern char **environ;

#define LAUNCH_SPAWN 1
#define LAUNCH_REAP 2
#define LAUNCH_CHILDREN_MAX 256
#define LAUNCH_EXIT_GRACE_MS 1000

struct launch_req {
	uint32_t op;
	int32_t pid;
	int32_t grace_ms;
	int32_t term;
};

struct launch_rep {
	int32_t err; /* errno of a failed spawn, ESRCH for an unknown pid */
	int32_t pid;
	char how[64];
};

static pthread_mutex_t launch_mu = PTHREAD_MUTEX_INITIALIZER;
static int launch_fd = -1;
static pid_t launch_pid;

/* ---- directly ---- */

/* Wait up to ms for pid to exit (ms < 0: for ever). 1 when reaped or
 * gone (ECHILD: someone else reaped it, so it must not be signalled). */
static int wait_exit(pid_t pid, int ms, int *st)
{
	int64_t end = signer_now_ms() + ms;
	pid_t r;

	for (;;) {
		r = waitpid(pid, st, ms < 0 ? 0 : WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno == ECHILD) {
			*st = -1;
			return 1;
		}
		if (r < 0 && errno != EINTR)
			return 0;
		if (r == 0 && signer_now_ms() >= end)
			return 0;
		if (r == 0)
			nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
	}
}

static void reap_here(pid_t pid, int grace_ms, int term, char *how, size_t howlen)
{
	int st = 0;

	if (!wait_exit(pid, grace_ms, &st)) {
		if (!term || (kill(pid, SIGTERM), !wait_exit(pid, grace_ms, &st))) {
			kill(pid, SIGKILL);
			if (!wait_exit(pid, -1, &st))
				st = -1;
		}
	}
	if (st == -1)
		snprintf(how, howlen, "ended");
	else if (WIFEXITED(st))
		snprintf(how, howlen, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(how, howlen, "was killed by signal %d", WTERMSIG(st));
	else
		snprintf(how, howlen, "ended");
}

/* Nothing of ours but the socket goes to the helper (glibc 2.34 has
 * closefrom for spawn; the helper closes the rest itself anyway). */
static int spawn_close_others(posix_spawn_file_actions_t *fa)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	return posix_spawn_file_actions_addclosefrom_np(fa, 4);
#else
	(void)fa;
	return 0;
#endif
}

static int spawn_attrs(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at, int fd)
{
	sigset_t none, all;

	sigemptyset(&none);
	sigfillset(&all);
	if (posix_spawn_file_actions_init(fa) != 0)
		return -1;
	if (posix_spawnattr_init(at) != 0) {
		posix_spawn_file_actions_destroy(fa);
		return -1;
	}
	/* Signals as a fresh process has them, whatever our threads block. */
	if (posix_spawn_file_actions_adddup2(fa, fd, 3) != 0 || spawn_close_others(fa) != 0 ||
		posix_spawnattr_setsigmask(at, &none) != 0 ||
		posix_spawnattr_setsigdefault(at, &all) != 0 ||
		posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF) != 0) {
		posix_spawn_file_actions_destroy(fa);
		posix_spawnattr_destroy(at);
		return -1;
	}
	return 0;
}

/* Start helper with fd as its fd 3; 0 or an errno. Nothing but its path
 * is on argv: URIs may carry pin-value, so the configuration goes in OPEN. */
static int spawn_here(const char *helper, int fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	char *argv[] = {(char *)helper, NULL};
	int moved = -1, rc;

	/* dup2(3, 3) would leave close-on-exec set on some libcs. */
	if (fd == 3 && (fd = moved = fcntl(fd, F_DUPFD_CLOEXEC, 4)) < 0)
		return errno;
	if (spawn_attrs(&fa, &at, fd) != 0) {
		rc = ENOMEM;
		goto out;
	}
	rc = posix_spawn(pid, helper, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
out:
	if (moved >= 0)
		close(moved);
	return rc;
}

/* ---- the launcher process ---- */

struct launch_kids {
	pid_t pid[LAUNCH_CHILDREN_MAX];
	size_t n;
};

static int kid_take(struct launch_kids *k, pid_t pid)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (k->pid[i] == pid) {
			k->pid[i] = k->pid[--k->n];
			return 1;
		}
	return 0;
}

static int recv_req(int sock, struct launch_req *rq, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = rq, .iov_len = sizeof(*rq)};
	struct msghdr mh = {.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u)};
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
			c->cmsg_len == CMSG_LEN(sizeof(int)) && *fd < 0)
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n != (ssize_t)sizeof(*rq) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 ||
		(rq->op == LAUNCH_SPAWN) != (*fd >= 0)) {
		if (*fd >= 0)
			close(*fd);
		return -1; /* a caller that breaks the protocol: stop serving it */
	}
	return 0;
}

static void serve_one(struct launch_kids *k, const char *helper, const struct launch_req *rq,
	int fd, struct launch_rep *rep)
{
	pid_t pid = 0;

	memset(rep, 0, sizeof(*rep));
	if (rq->op == LAUNCH_SPAWN) {
		rep->err = k->n == LAUNCH_CHILDREN_MAX ? EAGAIN : spawn_here(helper, fd, &pid);
		if (rep->err == 0)
			k->pid[k->n++] = pid;
		rep->pid = pid;
	} else if (rq->op == LAUNCH_REAP && rq->pid > 0 && kid_take(k, rq->pid)) {
		reap_here(rq->pid, rq->grace_ms < 0 ? 0 : rq->grace_ms, rq->term != 0, rep->how,
			sizeof(rep->how));
		rep->pid = rq->pid;
	} else {
		rep->err = ESRCH;
		snprintf(rep->how, sizeof(rep->how), "ended");
	}
}

static void __attribute__((noreturn)) launcher_main(int sock, const char *helper)
{
	struct launch_kids k = {.n = 0};
	struct launch_rep rep;
	struct launch_req rq;
	char how[64];
	int fd;

	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	(void)prctl(PR_SET_NAME, "mtls-launcher", 0, 0, 0);
	while (recv_req(sock, &rq, &fd) == 0) {
		serve_one(&k, helper, &rq, fd, &rep);
		if (fd >= 0)
			close(fd);
		if (send(sock, &rep, sizeof(rep), MSG_NOSIGNAL) != (ssize_t)sizeof(rep))
			break;
	}
	while (k.n > 0)
		reap_here(k.pid[--k.n], LAUNCH_EXIT_GRACE_MS, 1, how, sizeof(how));
	_exit(0); /* no atexit handlers: they belong to the caller */
}

int signer_launcher_start(void)
{
	const char *helper = signer_default_helper();
	int sv[2];
	pid_t pid;

	if (launch_fd >= 0)
		return mtls_err_set(MTLS_ERR_ARG, "the signer launcher is already running");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return mtls_err_set(
			MTLS_ERR_SIGNER, "signer launcher: socketpair: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return mtls_err_set(MTLS_ERR_SIGNER, "signer launcher: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* Nothing of the caller's but stdio: not its listeners, not
		 * the descriptors systemd passed. */
		if (dup2(sv[1], 3) != 3)
			_exit(1);
		(void)close_range(4, ~0U, 0);
		launcher_main(3, helper);
	}
	close(sv[1]);
	launch_fd = sv[0];
	launch_pid = pid;
	return 0;
}

long signer_launcher_pid(void)
{
	return launch_fd >= 0 ? (long)launch_pid : 0;
}

void signer_launcher_stop(void)
{
	int st;

	if (launch_fd < 0)
		return;
	close(launch_fd);
	launch_fd = -1;
	(void)wait_exit(launch_pid, -1, &st);
}

/* One request and its answer; the mutex keeps them paired. */
static int ask(const struct launch_req *rq, int fd, struct launch_rep *rep)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = (void *)rq, .iov_len = sizeof(*rq)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *c;
	ssize_t n;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(launch_fd, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(*rq))
		return -1;
	do
		n = recv(launch_fd, rep, sizeof(*rep), 0);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*rep) ? 0 : -1;
}

/* ---- for signer_proc.c ---- */

int signer_spawn(const char *helper, int fd, pid_t *pid)
{
	struct launch_req rq = {.op = LAUNCH_SPAWN};
	struct launch_rep rep;
	int rc;

	pthread_mutex_lock(&launch_mu);
	if (launch_fd < 0) {
		pthread_mutex_unlock(&launch_mu);
		rc = spawn_here(helper, fd, pid);
		return rc == 0 ? 0
			       : mtls_err_set(MTLS_ERR_SIGNER,
					 "signer: cannot start %s: %s (set MTLS_SIGNER_HELPER or "
					 "install mtls-signer)",
					 helper, strerror(rc));
	}
	rc = ask(&rq, fd, &rep);
	pthread_mutex_unlock(&launch_mu);
	if (rc != 0)
		return mtls_err_set(MTLS_ERR_SIGNER,
			"signer: the launcher (pid %ld) is gone: restart the agent",
			(long)launch_pid);
	if (rep.err != 0)
		return mtls_err_set(MTLS_ERR_SIGNER,
			"signer: cannot start %s: %s (set MTLS_SIGNER_HELPER or install "
			"mtls-signer)",
			signer_default_helper(), strerror(rep.err));
	*pid = rep.pid;
	return 0;
}

void signer_reap(pid_t pid, int grace_ms, int term, char *how, size_t howlen)
{
	struct launch_req rq = {.op = LAUNCH_REAP, .pid = pid, .grace_ms = grace_ms, .term = term};
	struct launch_rep rep;

	pthread_mutex_lock(&launch_mu);
	if (launch_fd < 0) {
		pthread_mutex_unlock(&launch_mu);
		reap_here(pid, grace_ms, term, how, howlen);
		return;
	}
	if (ask(&rq, -1, &rep) != 0)
		snprintf(rep.how, sizeof(rep.how), "was left to the launcher, which is gone");
	pthread_mutex_unlock(&launch_mu);
	rep.how[sizeof(rep.how) - 1] = '\0';
	snprintf(how, howlen, "%s", rep.how);
}
