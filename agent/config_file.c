/* The config file front end: INI text, one [agent] section and one
 * [tunnel NAME] section per tunnel, read with inih.
 *
 * inih is used for what it does well (name = value lines, comments,
 * whitespace), with three things done here first, in one bounded pass
 * over the text, because inih cannot be trusted with them:
 *  - line length: inih cuts a line longer than its buffer and parses the
 *    rest as a new line, so a long value could smuggle in an option.
 *    Every line is checked against CFG_LINE_MAX, and inih's buffer is set
 *    larger than that;
 *  - NUL bytes: ini_parse_string() would stop at the first one silently;
 *  - section headers: inih never reports an empty section, cannot tell
 *    two [tunnel a] sections apart, truncates long names and ignores text
 *    after ']'. Headers are read here, each with its line, and every
 *    name = value line is matched to the header above it by line number.
 * Debian's inih takes its options at run time (global variables); they are
 * set under a lock around each parse and put back afterwards. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define INI_HANDLER_LINENO 1 /* Debian's libinih passes line numbers (checked by CMake) */
#include <ini.h>

#include "config_int.h"
#include "mtls/err.h"
#include "mtls/log.h"
#include "mtls/secret.h"

#define NO_TUNNEL ((size_t)-1)
#define SOURCE_MAX 256

struct section {
	unsigned line;
	size_t tunnel; /* index into cfg->tunnels, or NO_TUNNEL for [agent] */
};

struct file_ctx {
	struct cfg_agent *cfg;
	char src[SOURCE_MAX]; /* the file name, cleaned, for details */
	struct cfg_lines lines;
	struct section sec[CFG_MAX_TUNNELS + 1];
	size_t nsec;
	size_t cur; /* section of the last line inih reported */
	int rc; /* the handler's first error */
};

/* ---- section headers (first pass) ---- */

static int valid_tunnel_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > CFG_TUNNEL_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return 0;
	}
	return 1;
}

static int add_section(struct file_ctx *x, unsigned line, size_t tunnel)
{
	if (x->nsec >= sizeof(x->sec) / sizeof(x->sec[0]))
		return mtls_err_set(MTLS_ERR_CONFIG, "%s:%u: more than %d tunnels", x->src, line,
			CFG_MAX_TUNNELS);
	x->sec[x->nsec].line = line;
	x->sec[x->nsec].tunnel = tunnel;
	x->nsec++;
	return 0;
}

static int agent_section(struct file_ctx *x, unsigned line)
{
	if (x->lines.agent_header != 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s:%u: [agent]: given twice (first on line %u): merge the two", x->src,
			line, x->lines.agent_header);
	x->lines.agent_header = line;
	return add_section(x, line, NO_TUNNEL);
}

static int tunnel_section(struct file_ctx *x, const char *name, size_t n, unsigned line)
{
	struct cfg_agent *cfg = x->cfg;
	struct cfg_tunnel *t;
	char clean[CFG_TUNNEL_NAME_MAX + 8], w[SOURCE_MAX + 96];
	size_t i;
	int rc;

	mtls_log_clean(clean, sizeof(clean), name, n < sizeof(clean) - 1 ? n : sizeof(clean) - 1);
	if (!valid_tunnel_name(name, n))
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s:%u: [tunnel %s]: expected a name of 1 to %d letters, digits, '.', '_' "
			"or '-'",
			x->src, line, clean, CFG_TUNNEL_NAME_MAX);
	for (i = 0; i < cfg->ntunnels; i++) {
		if (strlen(cfg->tunnels[i]->name) == n &&
			memcmp(cfg->tunnels[i]->name, name, n) == 0)
			return mtls_err_set(MTLS_ERR_CONFIG,
				"%s:%u: [tunnel %s]: a tunnel has this name already (line %u)",
				x->src, line, clean, x->lines.tunnel_header[i]);
	}
	snprintf(w, sizeof(w), "%s:%u: [tunnel %s]", x->src, line, clean);
	rc = cfg_tunnel_add(cfg, clean, w, &t);
	if (rc != 0)
		return rc;
	x->lines.tunnel_header[cfg->ntunnels - 1] = line;
	return add_section(x, line, cfg->ntunnels - 1);
}

static int unknown_section(struct file_ctx *x, const char *s, size_t n, unsigned line)
{
	static const char *const kinds[] = {"agent", "tunnel"};
	char clean[72], word[33];
	size_t w = 0;
	const char *near;

	mtls_log_clean(clean, sizeof(clean), s, n < 64 ? n : 64);
	if (n == 6 && memcmp(s, "tunnel", 6) == 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s:%u: [tunnel]: expected a name: [tunnel NAME]", x->src, line);
	while (w < n && w < sizeof(word) - 1 && !isspace((unsigned char)s[w]))
		w++;
	memcpy(word, s, w);
	word[w] = '\0';
	near = cfg_closest(word, kinds, 2);
	if (near != NULL)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s:%u: [%s]: unknown section; did you mean [%s]?", x->src, line, clean,
			strcmp(near, "agent") == 0 ? "agent" : "tunnel NAME");
	return mtls_err_set(MTLS_ERR_CONFIG,
		"%s:%u: [%s]: unknown section: expected [agent] or [tunnel NAME]", x->src, line,
		clean);
}

/* s[0..n) is what stands between '[' and ']'. */
static int section(struct file_ctx *x, const char *s, size_t n, unsigned line)
{
	size_t i;

	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 5 && memcmp(s, "agent", 5) == 0)
		return agent_section(x, line);
	if (n > 6 && memcmp(s, "tunnel", 6) == 0 && isspace((unsigned char)s[6])) {
		for (i = 6; i < n && isspace((unsigned char)s[i]); i++)
			;
		return tunnel_section(x, s + i, n - i, line);
	}
	return unknown_section(x, s, n, line);
}

/* One line (without "\n"): as inih sees it, a header if its first
 * non-blank byte is '['. */
static int scan_line(struct file_ctx *x, const char *s, size_t n, unsigned line)
{
	const char *close;
	size_t i = 0, j;

	if (line == 1 && n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		i = 3; /* a UTF-8 byte order mark, as inih skips it */
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	if (i == n || s[i] != '[')
		return 0;
	close = memchr(s + i, ']', n - i);
	if (close == NULL)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s:%u: expected a section header: [agent] or [tunnel NAME]", x->src, line);
	for (j = (size_t)(close - s) + 1; j < n && isspace((unsigned char)s[j]); j++)
		;
	if (j < n && s[j] != ';' && s[j] != '#')
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s:%u: text after the section header (comments start with ';')", x->src,
			line);
	return section(x, s + i + 1, (size_t)(close - s) - i - 1, line);
}

static int scan(struct file_ctx *x, const char *text, size_t len)
{
	size_t pos = 0, end;
	unsigned line = 0;
	const char *nl;
	int rc = 0;

	while (rc == 0 && pos < len) {
		nl = memchr(text + pos, '\n', len - pos);
		end = nl != NULL ? (size_t)(nl - text) : len;
		line++;
		if (end - pos > CFG_LINE_MAX)
			return mtls_err_set(MTLS_ERR_CONFIG, "%s:%u: line longer than %d bytes",
				x->src, line, CFG_LINE_MAX);
		if (memchr(text + pos, '\0', end - pos) != NULL)
			return mtls_err_set(
				MTLS_ERR_CONFIG, "%s:%u: NUL byte in the line", x->src, line);
		rc = scan_line(x, text + pos, end - pos, line);
		pos = end + 1;
	}
	return rc;
}

/* ---- name = value lines (inih) ---- */

static int unknown_option(struct file_ctx *x, const char *name, enum cfg_scope scope, unsigned line)
{
	char clean[72];
	const char *near;
	int id = cfg_opt_lookup(name);

	mtls_log_clean(clean, sizeof(clean), name, 64);
	if (strcmp(name, "pin") == 0 || strcmp(name, "pin-value") == 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s:%u: %s: a PIN is not an option: use pin-file or pin-credential in "
			"[agent], or the key URI's pin-source",
			x->src, line, clean);
	if (id != CFG_NO_OPT)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s:%u: %s: belongs in %s", x->src, line,
			clean,
			cfg_opts[id].scope == CFG_SCOPE_AGENT ? "[agent]"
							      : "a [tunnel NAME] section");
	near = cfg_closest_opt(name, scope, 0);
	if (near != NULL)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s:%u: %s: unknown option; did you mean %s?",
			x->src, line, clean, near);
	near = cfg_closest_opt(name, 0, 0);
	if (near != NULL)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s:%u: %s: unknown option; did you mean %s (in %s)?", x->src, line, clean,
			near, scope == CFG_SCOPE_AGENT ? "a [tunnel NAME] section" : "[agent]");
	return mtls_err_set(MTLS_ERR_CONFIG, "%s:%u: %s: unknown option in %s (see mtls-agent(8))",
		x->src, line, clean, scope == CFG_SCOPE_AGENT ? "[agent]" : "[tunnel NAME]");
}

static int option(struct file_ctx *x, const char *name, const char *value, unsigned line)
{
	const struct section *s;
	struct cfg_tunnel *t = NULL;
	enum cfg_scope scope = CFG_SCOPE_AGENT;
	unsigned *seen;
	char w[SOURCE_MAX + 64];
	int id;

	while (x->cur < x->nsec && x->sec[x->cur].line < line)
		x->cur++; /* x->cur is now one past the section of this line */
	if (x->cur == 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s:%u: option before any section: put it under [agent] or [tunnel NAME]",
			x->src, line);
	s = &x->sec[x->cur - 1];
	if (s->tunnel != NO_TUNNEL) {
		t = x->cfg->tunnels[s->tunnel];
		scope = CFG_SCOPE_TUNNEL;
	}
	id = cfg_opt_lookup(name);
	if (id == CFG_NO_OPT || cfg_opts[id].scope != scope)
		return unknown_option(x, name, scope, line);
	seen = t != NULL ? &x->lines.tunnel[s->tunnel][id] : &x->lines.agent[id];
	if (*seen != 0 && !(cfg_opts[id].flags & CFG_F_REPEAT))
		return mtls_err_set(MTLS_ERR_CONFIG, "%s:%u: %s: given twice (first on line %u)",
			x->src, line, cfg_opts[id].name, *seen);
	if (*seen == 0)
		*seen = line;
	snprintf(w, sizeof(w), "%s:%u: %s", x->src, line, cfg_opts[id].name);
	return cfg_opt_apply(x->cfg, t, id, value, w);
}

static int on_value(
	void *user, const char *section_name, const char *name, const char *value, int lineno)
{
	struct file_ctx *x = user;

	(void)section_name; /* sections come from scan(): see the top */
	if (x->rc == 0)
		x->rc = option(x, name, value, lineno > 0 ? (unsigned)lineno : 0);
	return x->rc == 0;
}

static pthread_mutex_t ini_lock = PTHREAD_MUTEX_INITIALIZER;

/* inih's run-time options for our format, and the previous ones back. */
struct ini_opts {
	bool multiline, bom, inline_comments, use_stack, realloc, stop, no_value;
	char *start_prefixes, *inline_prefixes;
	int max_line, initial_alloc;
};

static void ini_get(struct ini_opts *o)
{
	o->multiline = ini_allow_multiline;
	o->bom = ini_allow_bom;
	o->inline_comments = ini_allow_inline_comments;
	o->use_stack = ini_use_stack;
	o->realloc = ini_allow_realloc;
	o->stop = ini_stop_on_first_error;
	o->no_value = ini_allow_no_value;
	o->start_prefixes = ini_start_comment_prefixes;
	o->inline_prefixes = ini_inline_comment_prefixes;
	o->max_line = ini_max_line;
	o->initial_alloc = ini_initial_alloc;
}

static void ini_put(const struct ini_opts *o)
{
	ini_allow_multiline = o->multiline;
	ini_allow_bom = o->bom;
	ini_allow_inline_comments = o->inline_comments;
	ini_use_stack = o->use_stack;
	ini_allow_realloc = o->realloc;
	ini_stop_on_first_error = o->stop;
	ini_allow_no_value = o->no_value;
	ini_start_comment_prefixes = o->start_prefixes;
	ini_inline_comment_prefixes = o->inline_prefixes;
	ini_max_line = o->max_line;
	ini_initial_alloc = o->initial_alloc;
}

static int parse(struct file_ctx *x, const char *text)
{
	static char start_prefixes[] = ";#", inline_prefixes[] = ";";
	const struct ini_opts ours = {false, true, true, false, false, true, false, start_prefixes,
		inline_prefixes, CFG_LINE_MAX + 3, CFG_LINE_MAX + 3};
	struct ini_opts saved;
	int r;

	pthread_mutex_lock(&ini_lock);
	ini_get(&saved);
	ini_put(&ours);
	r = ini_parse_string(text, on_value, x);
	ini_put(&saved);
	pthread_mutex_unlock(&ini_lock);
	if (x->rc != 0)
		return x->rc;
	if (r == -2)
		return mtls_err_set(MTLS_ERR_NOMEM, "%s: out of memory", x->src);
	if (r != 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s:%d: expected NAME = VALUE, a section header or a comment", x->src, r);
	return 0;
}

static int load(struct file_ctx *x, const char *text, size_t len)
{
	struct cfg_loc loc = {x->src, 0, &x->lines};
	char *copy;
	int rc;

	if (len > CFG_FILE_MAX)
		return mtls_err_set(
			MTLS_ERR_CONFIG, "%s: larger than %d bytes", x->src, CFG_FILE_MAX);
	rc = scan(x, text, len);
	if (rc != 0)
		return rc;
	copy = malloc(len + 1); /* inih wants a C string */
	if (copy == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "%s: out of memory", x->src);
	if (len > 0)
		memcpy(copy, text, len);
	copy[len] = '\0';
	rc = parse(x, copy);
	mtls_wipe(copy, len); /* may hold a pin-value */
	free(copy);
	if (rc == 0)
		rc = cfg_finish(x->cfg);
	if (rc == 0)
		rc = cfg_check_at(x->cfg, &loc);
	return rc;
}

int cfg_load_buffer(const char *name, const char *text, size_t len, struct cfg_agent **out)
{
	struct file_ctx *x;
	int rc;

	if (out == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "cfg_load_buffer: no output");
	*out = NULL;
	if (name == NULL || (text == NULL && len > 0))
		return mtls_err_set(MTLS_ERR_ARG, "cfg_load_buffer: no text");
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "%s: out of memory", name);
	mtls_log_clean(x->src, sizeof(x->src), name, 200);
	rc = cfg_agent_new(name, &x->cfg);
	if (rc == 0)
		rc = load(x, len > 0 ? text : "", len);
	if (rc == 0)
		*out = x->cfg;
	else
		cfg_free(x->cfg);
	free(x);
	return rc;
}

/* ---- the file ---- */

static int has_pin_value(const struct cfg_agent *cfg)
{
	size_t i;

	for (i = 0; i < cfg->ntunnels; i++) {
		const struct cfg_tunnel *t = cfg->tunnels[i];

		if (cfg_uri_has_pin_value(t->key_uri) || cfg_uri_has_pin_value(t->cert))
			return 1;
	}
	return 0;
}

/* The whole file into *buf (at most CFG_FILE_MAX bytes). */
static int read_all(int fd, const char *src, char **buf, size_t *len)
{
	size_t n = 0;
	ssize_t r = 0;
	char *b = malloc(CFG_FILE_MAX + 1);

	if (b == NULL)
		return mtls_err_set(MTLS_ERR_NOMEM, "%s: out of memory", src);
	while (n <= CFG_FILE_MAX) {
		r = read(fd, b + n, CFG_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (r < 0 || n > CFG_FILE_MAX) {
		int e = errno;

		free(b);
		return r < 0 ? mtls_err_set(MTLS_ERR_CONFIG, "%s: read: %s", src, strerror(e))
			     : mtls_err_set(MTLS_ERR_CONFIG, "%s: larger than %d bytes", src,
				       CFG_FILE_MAX);
	}
	*buf = b;
	*len = n;
	return 0;
}

static int open_config(const char *path, const char *src, struct stat *st)
{
	int fd;

	/* stat first: opening a device or FIFO could block or act. */
	if (stat(path, st) != 0)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: cannot read the config file: %s", src,
			strerror(errno));
	if (!S_ISREG(st->st_mode))
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: not a regular file", src);
	if ((st->st_mode & 002) != 0)
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s: mode %04o lets every user change the configuration: run chmod o-w %s",
			src, (unsigned)(st->st_mode & 07777), src);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return mtls_err_set(MTLS_ERR_CONFIG, "%s: cannot read the config file: %s", src,
			strerror(errno));
	return fd;
}

int cfg_load_file(const char *path, struct cfg_agent **out)
{
	char src[SOURCE_MAX], *buf = NULL;
	struct stat st;
	size_t len = 0;
	int fd, rc;

	if (out == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "cfg_load_file: no output");
	*out = NULL;
	if (path == NULL)
		return mtls_err_set(MTLS_ERR_ARG, "cfg_load_file: no file name");
	mtls_log_clean(src, sizeof(src), path, 200);
	fd = open_config(path, src, &st);
	if (fd < 0)
		return fd;
	rc = read_all(fd, src, &buf, &len);
	close(fd);
	if (rc != 0)
		return rc;
	rc = cfg_load_buffer(path, buf, len, out);
	mtls_wipe(buf, len);
	free(buf);
	if (rc == 0 && (st.st_mode & 077) != 0 && has_pin_value(*out)) {
		cfg_free(*out);
		*out = NULL;
		rc = mtls_err_set(MTLS_ERR_CONFIG,
			"%s: holds a pin-value but has mode %04o: group or others may read the "
			"PIN; run chmod 600 %s",
			src, (unsigned)(st.st_mode & 07777), src);
	}
	return rc;
}
