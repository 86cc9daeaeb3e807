/* The data plane's sandbox. After the signer launcher is forked (so
 * signers, the PKCS#11 module and the PIN stay outside) the agent process
 * confines itself for good:
 *
 *  - no new privileges, not dumpable;
 *  - Landlock (when the kernel has it): files may be read only beneath the
 *    directories the configuration names (config file, certificates,
 *    trust anchors, CRLs) and a few system files name resolution needs;
 *    sockets may be made only where unix: listeners live; nothing may be
 *    executed, written or created elsewhere; signals reach only this
 *    process (Landlock ABI 6);
 *  - seccomp (libseccomp): an allow-list of the system calls a relay
 *    needs; execve, fork, ptrace, mount, kill and everything else fail
 *    with EPERM; new threads only (clone with CLONE_THREAD); sockets of
 *    AF_UNIX, AF_INET and AF_INET6 only.
 *
 * Sanitizer builds allow what LeakSanitizer needs at exit (a ptrace'ing
 * clone, /proc). */
#ifndef MTLS_AGENT_SANDBOX_H
#define MTLS_AGENT_SANDBOX_H

#include <stddef.h>

/* Defined in sanitizer builds, where the sandbox lets LeakSanitizer work
 * (and tests of the sandbox expect that). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANDBOX_FOR_SANITIZERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANDBOX_FOR_SANITIZERS 1
#endif
#endif

struct cfg_agent;

#define SANDBOX_MAX_PATHS 512

struct sandbox_rules {
	/* Beneath these (files or directories), reading is allowed. */
	const char *read[SANDBOX_MAX_PATHS];
	size_t nread;
	/* In these directories, unix sockets may be made and removed. */
	const char *sock_dir[SANDBOX_MAX_PATHS];
	size_t nsock_dir;
	char *owned[2 * SANDBOX_MAX_PATHS]; /* strings to free */
	size_t nowned;
};

/* What the sandbox ended up holding, for the log and for tests. */
struct sandbox_report {
	int landlock_abi; /* 0: the kernel has no Landlock; files unconfined */
	int seccomp; /* 1: the filter is loaded */
};

/* The rules for an agent with this configuration (config_path: the file
 * read again on SIGHUP, or NULL). Free with sandbox_rules_free(). */
int sandbox_rules_for(
	const struct cfg_agent *cfg, const char *config_path, struct sandbox_rules *r);
void sandbox_rules_free(struct sandbox_rules *r);

/* Confine the calling process (every thread it starts from now on; call
 * it before starting any). Fails only when no-new-privileges or the
 * seccomp filter cannot be set; a kernel without Landlock is reported in
 * rep, not refused. Irreversible. */
int sandbox_enter(const struct sandbox_rules *r, struct sandbox_report *rep);

#endif
