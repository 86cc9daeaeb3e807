/* The data plane confines itself: see sandbox.h for what and why. */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include "config.h"
#include "mtls/err.h"
#include "sandbox.h"

/* Rights newer than the system headers (Debian 12 has ABI 2's). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif

/* struct landlock_ruleset_attr as of ABI 6; older kernels take a prefix. */
struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

/* Files name resolution may read (getaddrinfo for targets given by name). */
static const char *const system_reads[] = {
	"/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/host.conf", "/etc/gai.conf",
	"/etc/ld.so.cache", "/dev/urandom",
#ifdef SANDBOX_FOR_SANITIZERS
	"/proc", /* LeakSanitizer reads the memory map and the threads */
#endif
};

/* ---- the rules a configuration needs ---- */

static int add(const char **list, size_t *n, struct sandbox_rules *r, char *own, const char *s)
{
	if (*n == SANDBOX_MAX_PATHS || (own != NULL && r->nowned == 2 * SANDBOX_MAX_PATHS)) {
		free(own);
		return mtls_err_set(
			MTLS_ERR_CONFIG, "sandbox: more than %d paths", SANDBOX_MAX_PATHS);
	}
	if (own != NULL)
		r->owned[r->nowned++] = own;
	list[(*n)++] = s;
	return 0;
}

/* The directory holding path ("." for a bare name). */
static int add_dir_of(const char **list, size_t *n, struct sandbox_rules *r, const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (slash == NULL)
		return add(list, n, r, NULL, ".");
	if (slash == path)
		return add(list, n, r, NULL, "/");
	if ((dir = strndup(path, (size_t)(slash - path))) == NULL)
		return MTLS_ERR_NOMEM;
	return add(list, n, r, dir, dir);
}

static int add_file_dir(struct sandbox_rules *r, const char *path)
{
	if (path == NULL || strncmp(path, "pkcs11:", 7) == 0)
		return 0;
	return add_dir_of(r->read, &r->nread, r, path);
}

static int add_sock_dir(struct sandbox_rules *r, const char *addr)
{
	if (addr == NULL || strncmp(addr, "unix:", 5) != 0)
		return 0;
	return add_dir_of(r->sock_dir, &r->nsock_dir, r, addr + 5);
}

/* resolv.conf is often a link into /run that its owner replaces by
 * renaming: allow the directory the link leads to. */
static int add_system(struct sandbox_rules *r)
{
	char *real;
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < sizeof(system_reads) / sizeof(system_reads[0]); i++)
		rc = add(r->read, &r->nread, r, NULL, system_reads[i]);
	if (rc == 0 && (real = realpath("/etc/resolv.conf", NULL)) != NULL) {
		rc = add_dir_of(r->read, &r->nread, r, real);
		free(real);
	}
	return rc;
}

int sandbox_rules_for(const struct cfg_agent *cfg, const char *config_path, struct sandbox_rules *r)
{
	const struct cfg_tunnel *t;
	size_t i;
	int rc;

	memset(r, 0, sizeof(*r));
	rc = add_system(r);
	if (rc == 0 && config_path != NULL)
		rc = add_dir_of(r->read, &r->nread, r, config_path);
	if (rc == 0)
		rc = add_sock_dir(r, cfg->metrics_listen);
	for (i = 0; rc == 0 && i < cfg->ntunnels; i++) {
		t = cfg->tunnels[i];
		rc = add_file_dir(r, t->cert);
		if (rc == 0)
			rc = add_file_dir(r, t->chain);
		if (rc == 0)
			rc = add_file_dir(r, t->cacert);
		if (rc == 0)
			rc = add_file_dir(r, t->crl);
		if (rc == 0)
			rc = add_sock_dir(r, t->listen);
	}
	if (rc != 0)
		sandbox_rules_free(r);
	return rc;
}

void sandbox_rules_free(struct sandbox_rules *r)
{
	size_t i;

	for (i = 0; i < r->nowned; i++)
		free(r->owned[i]);
	memset(r, 0, sizeof(*r));
}

/* ---- Landlock ---- */

static uint64_t fs_rights(int abi)
{
	uint64_t all = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1 */

	if (abi >= 2)
		all |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		all |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		all |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return all;
}

/* A path that does not exist needs no rule; one that exists but cannot
 * be opened is an error. */
static int allow_path(int ruleset, const char *path, uint64_t dir_rights, uint64_t file_rights)
{
	struct landlock_path_beneath_attr pb;
	struct stat st;
	int fd, rc = 0;

	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT
			? 0
			: mtls_err_set(MTLS_ERR_IO, "sandbox: %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0) {
		rc = mtls_err_set(MTLS_ERR_IO, "sandbox: %s: %s", path, strerror(errno));
		goto out;
	}
	pb.parent_fd = fd;
	pb.allowed_access = S_ISDIR(st.st_mode) ? dir_rights : file_rights;
	if (pb.allowed_access != 0 &&
		syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) != 0)
		rc = mtls_err_set(
			MTLS_ERR_IO, "sandbox: Landlock rule for %s: %s", path, strerror(errno));
out:
	close(fd);
	return rc;
}

static int landlock_rules(int ruleset, const struct sandbox_rules *r)
{
	const uint64_t rd = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	const uint64_t sock = LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_REMOVE_FILE;
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < r->nread; i++)
		rc = allow_path(ruleset, r->read[i], rd, LANDLOCK_ACCESS_FS_READ_FILE);
	for (i = 0; rc == 0 && i < r->nsock_dir; i++)
		rc = allow_path(ruleset, r->sock_dir[i], sock, 0);
	return rc;
}

static int landlock_enter(const struct sandbox_rules *r, int *abi_out)
{
	struct ll_ruleset_attr attr = {0};
	size_t size;
	long abi;
	int fd, rc;

	*abi_out = 0;
	abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1)
		return 0; /* no Landlock in this kernel (or disabled): reported */
	attr.handled_access_fs = fs_rights((int)abi);
	attr.scoped = abi >= 6 ? LANDLOCK_SCOPE_SIGNAL : 0;
	size = abi >= 6 ? sizeof(attr) : sizeof(attr.handled_access_fs);
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (fd < 0)
		return mtls_err_set(
			MTLS_ERR_INTERNAL, "sandbox: landlock_create_ruleset: %s", strerror(errno));
	rc = landlock_rules(fd, r);
	if (rc == 0 && syscall(SYS_landlock_restrict_self, fd, 0) != 0)
		rc = mtls_err_set(
			MTLS_ERR_INTERNAL, "sandbox: landlock_restrict_self: %s", strerror(errno));
	close(fd);
	if (rc == 0)
		*abi_out = (int)abi;
	return rc;
}

/* ---- seccomp ---- */

/* What a relay does: memory, threads, time, the files Landlock leaves it,
 * sockets, epoll, signals to itself. */
static const char *const allowed_calls[] = {
	/* memory */
	"brk",
	"mmap",
	"munmap",
	"mprotect",
	"mremap",
	"madvise",
	/* threads and their housekeeping */
	"futex",
	"set_robust_list",
	"get_robust_list",
	"rseq",
	"set_tid_address",
	"exit",
	"exit_group",
	"sched_yield",
	"sched_getaffinity",
	"getpid",
	"getppid",
	"gettid",
	"tgkill",
	"rt_sigaction",
	"rt_sigprocmask",
	"rt_sigreturn",
	"sigaltstack",
	"signalfd4",
	"restart_syscall",
	"membarrier",
	/* time */
	"clock_gettime",
	"clock_getres",
	"gettimeofday",
	"time",
	"nanosleep",
	"clock_nanosleep",
	/* files (where Landlock allows) and descriptors */
	"read",
	"write",
	"readv",
	"writev",
	"pread64",
	"close",
	"open",
	"openat",
	"stat",
	"lstat",
	"fstat",
	"newfstatat",
	"statx",
	"lseek",
	"fcntl",
	"getdents64",
	"readlink",
	"readlinkat",
	"access",
	"faccessat",
	"faccessat2",
	"unlink",
	"unlinkat",
	"dup",
	"dup2",
	"dup3",
	"pipe2",
	"umask",
	"getcwd",
	/* sockets and events */
	"bind",
	"listen",
	"accept",
	"accept4",
	"connect",
	"getsockname",
	"getpeername",
	"setsockopt",
	"getsockopt",
	"shutdown",
	"sendto",
	"recvfrom",
	"sendmsg",
	"recvmsg",
	"sendmmsg",
	"recvmmsg",
	"epoll_create1",
	"epoll_ctl",
	"epoll_wait",
	"epoll_pwait",
	"epoll_pwait2",
	"eventfd2",
	"timerfd_create",
	"timerfd_settime",
	"timerfd_gettime",
	"poll",
	"ppoll",
	"select",
	"pselect6",
	/* identity and limits (glibc asks) */
	"getrandom",
	"uname",
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"getresuid",
	"getresgid",
	"prlimit64",
	"getrlimit",
	"sysinfo",
	/* the launcher, at exit (it is the only child) */
	"wait4",
#ifdef SANDBOX_FOR_SANITIZERS
	/* LeakSanitizer stops the threads from a ptrace'ing clone at exit */
	"clone",
	"ptrace",
	"waitid",
	"prctl",
	"sched_getparam",
	"sched_setaffinity",
	"getdents",
#endif
};

static int rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n,
	const struct scmp_arg_cmp *cmp)
{
	int nr = seccomp_syscall_resolve_name(name), rc;

	if (nr == __NR_SCMP_ERROR)
		return 0; /* not on this architecture */
	rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
	return rc == 0 ? 0
		       : mtls_err_set(MTLS_ERR_INTERNAL, "sandbox: seccomp rule for %s: %s", name,
				 strerror(-rc));
}

/* SCMP_A0() and friends leave datum_b to the compiler's zeroing, which
 * clang's -Wmissing-field-initializers reports. */
static struct scmp_arg_cmp arg_is(unsigned arg, scmp_datum_t v)
{
	struct scmp_arg_cmp c = {.arg = arg, .op = SCMP_CMP_EQ, .datum_a = v, .datum_b = 0};

	return c;
}

/* Calls allowed only with some arguments. */
static int narrow_rules(scmp_filter_ctx ctx)
{
	static const int families[] = {AF_UNIX, AF_INET, AF_INET6};
	static const unsigned long ioctls[] = {FIONREAD, FIONBIO, TCGETS};
	static const int prctls[] = {PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE};
	struct scmp_arg_cmp c;
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < sizeof(families) / sizeof(families[0]); i++) {
		c = arg_is(0, (scmp_datum_t)families[i]);
		rc = rule(ctx, SCMP_ACT_ALLOW, "socket", 1, &c);
	}
	c = arg_is(0, AF_UNIX);
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ALLOW, "socketpair", 1, &c);
	for (i = 0; rc == 0 && i < sizeof(ioctls) / sizeof(ioctls[0]); i++) {
		c = arg_is(1, (scmp_datum_t)ioctls[i]);
		rc = rule(ctx, SCMP_ACT_ALLOW, "ioctl", 1, &c);
	}
#ifndef SANDBOX_FOR_SANITIZERS
	for (i = 0; rc == 0 && i < sizeof(prctls) / sizeof(prctls[0]); i++) {
		c = arg_is(0, (scmp_datum_t)prctls[i]);
		rc = rule(ctx, SCMP_ACT_ALLOW, "prctl", 1, &c);
	}
	/* Threads, never processes: no fork, no vfork. */
	c = (struct scmp_arg_cmp){.arg = 0,
		.op = SCMP_CMP_MASKED_EQ,
		.datum_a = CLONE_THREAD,
		.datum_b = CLONE_THREAD};
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &c);
#else
	(void)prctls;
#endif
	/* glibc tries clone3 first and falls back to clone on ENOSYS; clone3
	 * takes its flags in memory, where a filter cannot look. */
	if (rc == 0)
		rc = rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
	return rc;
}

#ifdef MTLS_SANDBOX_TRAP
/* A debugging build (-DMTLS_SANDBOX_TRAP): a call outside the list kills
 * the agent and names itself, instead of failing with EPERM. */
#include <signal.h>

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "<2>sandbox: system call %d refused\n", si->si_syscall);

	(void)sig;
	(void)uc;
	(void)!write(2, msg, (size_t)n);
	_exit(99);
}

static uint32_t default_action(void)
{
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};

	sigaction(SIGSYS, &sa, NULL);
	return SCMP_ACT_TRAP;
}
#else
static uint32_t default_action(void)
{
	return SCMP_ACT_ERRNO(EPERM);
}
#endif

static int seccomp_enter(void)
{
	scmp_filter_ctx ctx = seccomp_init(default_action());
	size_t i;
	int rc = 0;

	if (ctx == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "sandbox: seccomp_init");
	/* Every thread already running gets the filter too. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0)
		rc = mtls_err_set(MTLS_ERR_INTERNAL, "sandbox: seccomp thread sync unsupported");
	for (i = 0; rc == 0 && i < sizeof(allowed_calls) / sizeof(allowed_calls[0]); i++)
		rc = rule(ctx, SCMP_ACT_ALLOW, allowed_calls[i], 0, NULL);
	if (rc == 0)
		rc = narrow_rules(ctx);
	if (rc == 0 && (rc = seccomp_load(ctx)) != 0)
		rc = mtls_err_set(MTLS_ERR_INTERNAL, "sandbox: loading the seccomp filter: %s",
			strerror(-rc));
	seccomp_release(ctx);
	return rc;
}

int sandbox_enter(const struct sandbox_rules *r, struct sandbox_report *rep)
{
	int rc;

	memset(rep, 0, sizeof(*rep));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return mtls_err_set(
			MTLS_ERR_INTERNAL, "sandbox: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return mtls_err_set(
			MTLS_ERR_INTERNAL, "sandbox: PR_SET_DUMPABLE: %s", strerror(errno));
	if ((rc = landlock_enter(r, &rep->landlock_abi)) != 0)
		return rc;
	if ((rc = seccomp_enter()) != 0)
		return rc;
	rep->seccomp = 1;
	return 0;
}
