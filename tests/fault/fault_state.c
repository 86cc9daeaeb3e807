/*
 * Shared state of the fault module.
 *
 * Two locks. `lock` (a mutex) guards the fields of `st` and `conf` and is only ever held for
 * bookkeeping: never while sleeping and never around a call into the real module, so eight
 * threads signing at once stay parallel. `gate` (a rwlock) is held shared by every ordinary
 * call for as long as it runs in the real module, and exclusive while a removal or
 * reinsertion is applied; so a session check and the real call it guards can never straddle
 * a removal, and the real C_CloseAllSessions never frees a session another thread is using.
 * Lock order: gate, then lock.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "fault.h"

#define FAULT_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define FAULT_MAX_TRACKED (1UL << 20)
#define FAULT_MAX_REAL_SLOTS 1024UL

struct file_id {
	int exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

struct session_entry {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot; /* real slot id */
	CK_FLAGS flags;
};

struct fault_state {
	char *conf_path; /* MTLS_FAULT_CONF as it was at first use; NULL for pass-through */
	struct file_id conf_id;
	int conf_seen;
	unsigned long calls[FN_COUNT]; /* since the config was last (re)loaded */
	struct timespec loaded_at; /* CLOCK_MONOTONIC, for ms= windows */
	int log_fd;
	int removed; /* applied, as opposed to conf.removed, which is wanted */
	unsigned long generation;
	struct session_entry *sessions;
	size_t n_sessions;
	size_t cap_sessions;
	size_t opening; /* C_OpenSession calls between reservation and result */
	void *dl;
	CK_FUNCTION_LIST_PTR real;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t gate;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct fault_conf conf;
static struct fault_state st = {.log_fd = -1};

/* Set while this thread holds the gate, so fork() from inside a real call cannot self-deadlock. */
static _Thread_local int gate_mine;
static _Thread_local int fork_took_gate;

/*
 * fork() while another thread is in a real call would copy a held gate into the child, where
 * no one could release it. So fork waits for in-flight real calls (they are short: latency is
 * slept outside the gate) and hands the child both locks free.
 */
static void fork_prepare(void)
{
	fork_took_gate = !gate_mine;
	if (fork_took_gate)
		pthread_rwlock_wrlock(&gate);
	pthread_mutex_lock(&lock);
}

static void fork_release(void)
{
	pthread_mutex_unlock(&lock);
	if (fork_took_gate)
		pthread_rwlock_unlock(&gate);
	fork_took_gate = 0;
}

static void state_init(void)
{
	pthread_rwlockattr_t attr;
	const char *path = getenv("MTLS_FAULT_CONF");

	pthread_rwlockattr_init(&attr);
	/* Writer preference: with eight threads signing, a reader-first lock starves removal. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&gate, &attr);
	pthread_rwlockattr_destroy(&attr);
	fault_conf_init(&conf);
	if (path != NULL && *path != '\0')
		st.conf_path = strdup(path);
	pthread_atfork(fork_prepare, fork_release, fork_release);
}

static void file_id_from(struct file_id *id, const struct stat *sb)
{
	id->exists = 1;
	id->dev = sb->st_dev;
	id->ino = sb->st_ino;
	id->size = sb->st_size;
	id->mtime = sb->st_mtim;
}

static int file_id_same(const struct file_id *a, const struct file_id *b)
{
	if (a->exists != b->exists)
		return 0;
	return !a->exists ||
		(a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
			a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec);
}

/* Lock held. */
static void log_reopen(void)
{
	if (st.log_fd >= 0)
		close(st.log_fd);
	st.log_fd = -1;
	if (conf.calls_log[0] == '\0')
		return;
	st.log_fd = open(conf.calls_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (st.log_fd < 0)
		fprintf(stderr, "fault-p11: calls_log %s: %s\n", conf.calls_log, strerror(errno));
}

/* Lock held. A stat(2) per call is the price of letting tests rename(2) a new config in. */
static void conf_refresh(void)
{
	struct file_id id = {0};
	struct stat sb;

	if (st.conf_path == NULL)
		return;
	if (stat(st.conf_path, &sb) == 0)
		file_id_from(&id, &sb);
	if (st.conf_seen && file_id_same(&id, &st.conf_id))
		return;
	/* Remember what was read, not what was stat()ed: a rename in between reloads again. */
	memset(&id, 0, sizeof(id));
	fault_conf_init(&conf);
	if (fault_conf_load(&conf, st.conf_path, &sb) == 0)
		file_id_from(&id, &sb);
	st.conf_id = id;
	st.conf_seen = 1;
	memset(st.calls, 0, sizeof(st.calls));
	clock_gettime(CLOCK_MONOTONIC, &st.loaded_at);
	log_reopen();
}

/* Lock held. Counts the call; returns 1 and sets *rv when this call is to fail. */
static int fail_check(enum fault_fn fn, CK_RV *rv)
{
	const struct fault_fail *fail = &conf.fail[fn];
	unsigned long n = ++st.calls[fn];
	struct timespec now;
	unsigned long ms;

	if (!fail->is_set || n < fail->first || n > fail->last)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (unsigned long)((now.tv_sec - st.loaded_at.tv_sec) * 1000L +
		(now.tv_nsec - st.loaded_at.tv_nsec) / 1000000L);
	if (ms < fail->from_ms || ms > fail->to_ms)
		return 0;
	*rv = fail->rv;
	return 1;
}

static unsigned long latency_of(enum fault_fn fn)
{
	if (conf.latency[fn] >= 0)
		return (unsigned long)conf.latency[fn];
	return conf.latency_all >= 0 ? (unsigned long)conf.latency_all : 0;
}

static void sleep_ms(unsigned long ms)
{
	struct timespec left = {
		.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
	int i;

	/* A signal cuts nanosleep short; sleep the rest, but give up after many signals. */
	for (i = 0; i < 1000; i++) {
		if (nanosleep(&left, &left) == 0 || errno != EINTR)
			return;
	}
}

/* Like a pulled card: every session on every real slot ends, which logs out SoftHSM. */
static void close_all_real(CK_FUNCTION_LIST_PTR real)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0;
	CK_ULONG i;

	if (real->C_GetSlotList(CK_FALSE, NULL, &n) != CKR_OK || n == 0 || n > FAULT_MAX_REAL_SLOTS)
		goto out;
	slots = calloc(n, sizeof(*slots));
	if (slots == NULL || real->C_GetSlotList(CK_FALSE, slots, &n) != CKR_OK)
		goto out;
	for (i = 0; i < n; i++)
		real->C_CloseAllSessions(slots[i]);
out:
	free(slots);
}

/* Applies a change of `removed` seen in the config while no other call is in the real module. */
static void removal_sync(void)
{
	CK_FUNCTION_LIST_PTR real;
	int pulled = 0;
	int changed;

	pthread_mutex_lock(&lock);
	changed = conf.removed != st.removed;
	pthread_mutex_unlock(&lock);
	if (!changed)
		return;
	pthread_rwlock_wrlock(&gate);
	pthread_mutex_lock(&lock);
	if (conf.removed != st.removed) {
		pulled = conf.removed;
		st.removed = conf.removed;
		if (!pulled)
			st.generation++;
		st.n_sessions = 0;
	}
	real = st.real;
	pthread_mutex_unlock(&lock);
	gate_mine = 1;
	if (pulled && real != NULL)
		close_all_real(real);
	gate_mine = 0;
	pthread_rwlock_unlock(&gate);
}

static void gate_enter(struct fault_call *call)
{
	if (call->gate == FAULT_GATE_SHARED)
		pthread_rwlock_rdlock(&gate);
	else if (call->gate == FAULT_GATE_EXCLUSIVE)
		pthread_rwlock_wrlock(&gate);
	call->gate_held = call->gate != FAULT_GATE_NONE;
	gate_mine = call->gate_held;
	pthread_mutex_lock(&lock);
	call->removed = st.removed;
	call->generation = st.generation;
	call->real = st.real;
	pthread_mutex_unlock(&lock);
}

int fault_begin(struct fault_call *call, enum fault_fn fn, enum fault_gate gate_kind)
{
	unsigned long ms;
	int failed;

	pthread_once(&once, state_init);
	memset(call, 0, sizeof(*call));
	call->fn = fn;
	call->gate = gate_kind;
	call->rv = CKR_OK;
	pthread_mutex_lock(&lock);
	conf_refresh();
	ms = latency_of(fn);
	failed = fail_check(fn, &call->rv);
	pthread_mutex_unlock(&lock);
	sleep_ms(ms);
	if (failed)
		return -1;
	removal_sync();
	gate_enter(call);
	if (call->real == NULL && fn != FN_C_Initialize && fn != FN_C_GetFunctionList) {
		call->rv = CKR_CRYPTOKI_NOT_INITIALIZED;
		return -1;
	}
	return 0;
}

/* One write(2) per line with O_APPEND, so processes sharing a log never interleave lines. */
static void log_call(const struct fault_call *call)
{
	char line[96];
	ssize_t wrote;
	int n;

	n = snprintf(line, sizeof(line), "%ld %s 0x%lx\n", (long)getpid(), fault_fn_name(call->fn),
		(unsigned long)call->rv);
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	pthread_mutex_lock(&lock);
	if (st.log_fd >= 0) {
		wrote = write(st.log_fd, line, (size_t)n);
		(void)wrote; /* a test that counts lines notices a short log itself */
	}
	pthread_mutex_unlock(&lock);
}

CK_RV fault_end(struct fault_call *call)
{
	if (call->gate_held)
		pthread_rwlock_unlock(&gate);
	call->gate_held = 0;
	gate_mine = 0;
	log_call(call);
	return call->rv;
}

/* Called with the exclusive gate held (C_Initialize), so no other load can race. */
static CK_RV real_open(const char *path)
{
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR list = NULL;
	void *dl;
	void *sym;

	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl == NULL) {
		fprintf(stderr, "fault-p11: cannot load %s: %s\n", path, dlerror());
		return CKR_GENERAL_ERROR;
	}
	sym = dlsym(dl, "C_GetFunctionList");
	/* POSIX guarantees dlsym results convert to function pointers; memcpy says so to C. */
	memcpy(&get, &sym, sizeof(get));
	if (sym == NULL || get == C_GetFunctionList || get(&list) != CKR_OK || list == NULL) {
		fprintf(stderr, "fault-p11: %s is not a usable PKCS#11 module\n", path);
		dlclose(dl);
		return CKR_GENERAL_ERROR;
	}
	pthread_mutex_lock(&lock);
	st.dl = dl;
	st.real = list;
	pthread_mutex_unlock(&lock);
	return CKR_OK;
}

/* dlopen() runs outside the mutex: a module constructor may do anything, even fork(). */
CK_RV fault_real_load(struct fault_call *call)
{
	char path[FAULT_PATH_MAX];
	const char *env = getenv("MTLS_FAULT_MODULE");
	CK_RV rv = CKR_OK;
	int loaded;

	pthread_mutex_lock(&lock);
	loaded = st.real != NULL;
	if (env != NULL && *env != '\0')
		snprintf(path, sizeof(path), "%s", env);
	else
		snprintf(path, sizeof(path), "%s",
			conf.module[0] != '\0' ? conf.module : FAULT_DEFAULT_MODULE);
	pthread_mutex_unlock(&lock);
	if (!loaded)
		rv = real_open(path);
	pthread_mutex_lock(&lock);
	call->real = st.real;
	pthread_mutex_unlock(&lock);
	return rv;
}

void fault_sessions_reset(void)
{
	pthread_mutex_lock(&lock);
	st.n_sessions = 0;
	st.opening = 0;
	pthread_mutex_unlock(&lock);
}

/* Lock held. */
static int session_find(CK_SESSION_HANDLE session)
{
	size_t i;

	for (i = 0; i < st.n_sessions; i++) {
		if (st.sessions[i].handle == session)
			return (int)i;
	}
	return -1;
}

/* Lock held. */
static void session_drop(size_t i)
{
	st.sessions[i] = st.sessions[--st.n_sessions];
}

/* Lock held. */
static int session_add(CK_SESSION_HANDLE session, CK_SLOT_ID slot, CK_FLAGS flags)
{
	struct session_entry *grown;
	size_t cap;

	if (st.n_sessions == st.cap_sessions) {
		cap = st.cap_sessions ? st.cap_sessions * 2 : 16;
		if (cap > FAULT_MAX_TRACKED)
			return -1;
		grown = realloc(st.sessions, cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		st.sessions = grown;
		st.cap_sessions = cap;
	}
	st.sessions[st.n_sessions].handle = session;
	st.sessions[st.n_sessions].slot = slot;
	st.sessions[st.n_sessions].flags = flags;
	st.n_sessions++;
	return 0;
}

/* Generation 0 is the real module unchanged; CK_INVALID_HANDLE stays invalid. */
static int handle_untag(const struct fault_call *call, CK_ULONG *handle)
{
	if (call->generation == 0 || *handle == CK_INVALID_HANDLE)
		return 0;
	if ((*handle >> FAULT_HANDLE_SHIFT) != call->generation)
		return -1;
	*handle &= (1UL << FAULT_HANDLE_SHIFT) - 1;
	return 0;
}

int fault_session_in(struct fault_call *call, CK_SESSION_HANDLE *session)
{
	CK_SESSION_HANDLE real = *session;
	int found = 0;

	if (call->removed) {
		call->rv = CKR_DEVICE_REMOVED;
		return -1;
	}
	if (handle_untag(call, &real) == 0) {
		pthread_mutex_lock(&lock);
		found = session_find(real) >= 0;
		pthread_mutex_unlock(&lock);
	}
	if (!found) {
		call->rv = CKR_SESSION_HANDLE_INVALID;
		return -1;
	}
	*session = real;
	return 0;
}

int fault_slot_in(struct fault_call *call, CK_SLOT_ID *slot)
{
	CK_SLOT_ID offset = call->generation * FAULT_SLOT_STRIDE;

	if (call->removed || *slot < offset) {
		call->rv = CKR_SLOT_ID_INVALID;
		return -1;
	}
	*slot -= offset;
	return 0;
}

CK_SLOT_ID fault_slot_out(const struct fault_call *call, CK_SLOT_ID real_slot)
{
	return real_slot + call->generation * FAULT_SLOT_STRIDE;
}

int fault_object_in(struct fault_call *call, CK_OBJECT_HANDLE *object, CK_RV invalid_rv)
{
	if (handle_untag(call, object) == 0)
		return 0;
	call->rv = invalid_rv;
	return -1;
}

int fault_handle_out(struct fault_call *call, CK_ULONG *handle)
{
	if (call->generation == 0 || *handle == CK_INVALID_HANDLE)
		return 0;
	if ((*handle >> FAULT_HANDLE_SHIFT) != 0) {
		fprintf(stderr, "fault-p11: real handle 0x%lx too large to tag\n", *handle);
		call->rv = CKR_GENERAL_ERROR;
		return -1;
	}
	*handle |= call->generation << FAULT_HANDLE_SHIFT;
	return 0;
}

int fault_is_hidden(CK_MECHANISM_TYPE mechanism)
{
	size_t i;
	int hidden = 0;

	pthread_mutex_lock(&lock);
	for (i = 0; i < conf.n_hidden && !hidden; i++)
		hidden = conf.hidden[i] == mechanism;
	pthread_mutex_unlock(&lock);
	return hidden;
}

int fault_check_mechanism(struct fault_call *call, const CK_MECHANISM *mechanism)
{
	if (mechanism == NULL || !fault_is_hidden(mechanism->mechanism))
		return 0;
	call->rv = CKR_MECHANISM_INVALID;
	return -1;
}

int fault_session_reserve(struct fault_call *call)
{
	int ok;

	pthread_mutex_lock(&lock);
	ok = conf.max_sessions < 0 || st.n_sessions + st.opening < (size_t)conf.max_sessions;
	if (ok)
		st.opening++;
	pthread_mutex_unlock(&lock);
	if (!ok)
		call->rv = CKR_SESSION_COUNT;
	return ok ? 0 : -1;
}

int fault_session_opened(CK_RV rv, CK_SESSION_HANDLE session, CK_SLOT_ID real_slot, CK_FLAGS flags)
{
	int rc = 0;

	pthread_mutex_lock(&lock);
	if (st.opening > 0)
		st.opening--;
	if (rv == CKR_OK)
		rc = session_add(session, real_slot, flags);
	pthread_mutex_unlock(&lock);
	return rc;
}

void fault_session_closed(CK_SESSION_HANDLE session)
{
	int i;

	pthread_mutex_lock(&lock);
	i = session_find(session);
	if (i >= 0)
		session_drop((size_t)i);
	pthread_mutex_unlock(&lock);
}

void fault_sessions_closed_on(CK_SLOT_ID real_slot)
{
	size_t i = 0;

	pthread_mutex_lock(&lock);
	while (i < st.n_sessions) {
		if (st.sessions[i].slot == real_slot)
			session_drop(i);
		else
			i++;
	}
	pthread_mutex_unlock(&lock);
}

void fault_token_info_patch(CK_TOKEN_INFO *info, CK_SLOT_ID real_slot)
{
	CK_ULONG open = 0;
	CK_ULONG rw = 0;
	size_t i;

	pthread_mutex_lock(&lock);
	info->flags = (info->flags & ~conf.token_flags_clear) | conf.token_flags_set;
	if (conf.max_sessions >= 0) {
		for (i = 0; i < st.n_sessions; i++) {
			if (st.sessions[i].slot != real_slot)
				continue;
			open++;
			rw += (st.sessions[i].flags & CKF_RW_SESSION) != 0;
		}
		info->ulMaxSessionCount = (CK_ULONG)conf.max_sessions;
		info->ulMaxRwSessionCount = (CK_ULONG)conf.max_sessions;
		info->ulSessionCount = open;
		info->ulRwSessionCount = rw;
	}
	pthread_mutex_unlock(&lock);
}
