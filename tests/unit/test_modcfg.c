/* modcfg.c: p11-kit module configs. modcfg_parse on text; modcfg_resolve
 * on config files that open() (wrapped: -Wl,--wrap=open) finds in this
 * test's temporary directory instead of the system's directories. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bridge.h"
#include "fakep11.h"
#include "mtls/err.h"

#ifndef MTLS_P11KIT_MODULE_CONFIGS
#error "MTLS_P11KIT_MODULE_CONFIGS must be the value pkcs11/ is built with"
#endif
#ifndef MTLS_P11KIT_MODULE_PATH
#error "MTLS_P11KIT_MODULE_PATH must be the value pkcs11/ is built with"
#endif

/* ---- open() redirection ---- */

int __wrap_open(const char *path, int flags, ...);
int __real_open(const char *path, int flags, ...);

static int redirect; /* 0: open the real path */
static char share_dir[512]; /* stands for MTLS_P11KIT_MODULE_CONFIGS */
static char etc_dir[512]; /* stands for /etc/pkcs11/modules */
static unsigned long redirected;

static const char *prefixed(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(path, prefix, n) == 0 && path[n] == '/' ? path + n : NULL;
}

int __wrap_open(const char *path, int flags, ...)
{
	char buf[1024];
	const char *rest;
	mode_t mode = 0;
	va_list ap;

	if (flags & O_CREAT) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (redirect && (rest = prefixed(path, MTLS_P11KIT_MODULE_CONFIGS)) != NULL) {
		snprintf(buf, sizeof(buf), "%s%s", share_dir, rest);
		redirected++;
		return __real_open(buf, flags, mode);
	}
	if (redirect && (rest = prefixed(path, "/etc/pkcs11/modules")) != NULL) {
		snprintf(buf, sizeof(buf), "%s%s", etc_dir, rest);
		redirected++;
		return __real_open(buf, flags, mode);
	}
	return __real_open(path, flags, mode);
}

static void write_conf(const char *dir, const char *name, const char *text)
{
	char path[1100];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	static unsigned n;

	snprintf(share_dir, sizeof(share_dir), "%s/share%u", fake_tmpdir(), n);
	snprintf(etc_dir, sizeof(etc_dir), "%s/etc%u", fake_tmpdir(), n++);
	if (mkdir(share_dir, 0700) != 0 || mkdir(etc_dir, 0700) != 0)
		return -1;
	redirect = 1;
	redirected = 0;
	mtls_err_clear();
	return 0;
}

static int teardown(void **state)
{
	redirect = 0;
	return 0;
}

/* ---- modcfg_parse ---- */

static void parse_ok(const char *text, const char *want)
{
	char out[512];

	if (modcfg_parse(text, strlen(text), out, sizeof(out)) != 0)
		fail_msg("modcfg_parse(\"%s\"): %s", text, mtls_err_detail());
	assert_string_equal(out, want);
}

static void an_absolute_module_path_is_taken_as_it_is(void **state)
{
	parse_ok("module: /opt/hsm/libhsm.so\n", "/opt/hsm/libhsm.so");
	parse_ok("module: /opt/hsm/libhsm.so", "/opt/hsm/libhsm.so");
}

static void a_relative_module_path_is_made_absolute_in_the_p11_kit_module_dir(void **state)
{
	parse_ok("module: libsofthsm2.so\n", MTLS_P11KIT_MODULE_PATH "/libsofthsm2.so");
	parse_ok("module: softhsm/libsofthsm2.so\n",
		MTLS_P11KIT_MODULE_PATH "/softhsm/libsofthsm2.so");
}

static void comments_and_other_keys_are_ignored(void **state)
{
	parse_ok("# module: /wrong.so\n"
		 "  # module: /also-wrong.so\n"
		 "critical: yes\n"
		 "modules: /wrong.so\n"
		 "module-x: /wrong.so\n"
		 "module: /right.so\n"
		 "trust-policy: no\n",
		"/right.so");
}

static void whitespace_and_carriage_returns_around_the_value_are_trimmed(void **state)
{
	parse_ok("\t module \t:\t /opt/a b.so \t\r\n", "/opt/a b.so");
	parse_ok("\r\n\n   \nmodule:/x.so\r", "/x.so");
}

static void the_last_module_line_wins(void **state)
{
	parse_ok("module: /first.so\nmodule: /second.so\n", "/second.so");
}

static void parse_fails(const char *text, size_t len, size_t outlen, const char *why)
{
	char out[512];

	assert_true(outlen <= sizeof(out));
	assert_int_equal(modcfg_parse(text, len, out, outlen), MTLS_ERR_MODULE);
	assert_detail_has(why);
}

static void a_config_without_a_module_line_is_refused(void **state)
{
	parse_fails("", 0, 512, "no 'module:' line");
	parse_fails("# module: /x.so\n", 16, 512, "no 'module:' line");
	parse_fails("module /x.so\n", 13, 512, "no 'module:' line");
	parse_fails("module:   \t\r\n", 13, 512, "no 'module:' line");
}

static void a_module_value_with_a_nul_byte_is_refused(void **state)
{
	static const char text[] = "module: /a\0b.so\n";

	parse_fails(text, sizeof(text) - 1, 512, "NUL");
}

static void a_module_path_longer_than_the_buffer_is_refused(void **state)
{
	char out[16];
	static const char rel[] = "module: libx.so\n";

	parse_fails("module: /0123456789abcdef.so\n", 29, 16, "too long");
	/* An exact fit is fine: 13 bytes and the NUL. */
	assert_int_equal(modcfg_parse("module: /0123456789ab\n", 22, out, 14), 0);
	assert_string_equal(out, "/0123456789ab");
	parse_fails("module: /0123456789abc\n", 23, 14, "too long");
	/* A relative path needs room for the module directory too. */
	parse_fails(rel, sizeof(rel) - 1, sizeof(MTLS_P11KIT_MODULE_PATH) + 6, "too long");
	assert_int_equal(modcfg_parse(rel, sizeof(rel) - 1, out, 0), MTLS_ERR_MODULE);
}

static void only_the_given_length_is_read(void **state)
{
	static const char text[] = "module: /a.so\nmodule: /b.so\n";
	char out[64];

	assert_int_equal(modcfg_parse(text, 14, out, sizeof(out)), 0);
	assert_string_equal(out, "/a.so");
	assert_int_equal(modcfg_parse(text, 20, out, sizeof(out)), 0);
	assert_string_equal(out, "/a.so");
}

/* ---- modcfg_resolve ---- */

static void a_registered_name_resolves_to_its_module(void **state)
{
	char out[512];

	write_conf(share_dir, "hsm.module", "module: libhsm.so\n");
	assert_int_equal(modcfg_resolve("hsm", out, sizeof(out)), 0);
	assert_string_equal(out, MTLS_P11KIT_MODULE_PATH "/libhsm.so");
	assert_int_equal(redirected, 2);
}

static void a_config_in_etc_overrides_the_packaged_one(void **state)
{
	char out[512];

	write_conf(share_dir, "hsm.module", "module: libhsm.so\n");
	write_conf(etc_dir, "hsm.module", "module: /opt/hsm/libhsm.so\n");
	assert_int_equal(modcfg_resolve("hsm", out, sizeof(out)), 0);
	assert_string_equal(out, "/opt/hsm/libhsm.so");
	write_conf(share_dir, "other.module", "# not here\n");
	write_conf(etc_dir, "only-etc.module", "module: /etc-only.so\n");
	assert_int_equal(modcfg_resolve("only-etc", out, sizeof(out)), 0);
	assert_string_equal(out, "/etc-only.so");
}

static void an_unregistered_name_is_refused_with_a_hint(void **state)
{
	char out[512];

	assert_int_equal(modcfg_resolve("no-such-module", out, sizeof(out)), MTLS_ERR_MODULE);
	assert_detail_has("no PKCS#11 module named 'no-such-module'");
	assert_detail_has("use module-path=");
}

static void a_name_that_is_not_a_plain_file_name_is_refused(void **state)
{
	static const char *const bad[] = {
		"", ".hidden", "..", "../../etc/passwd", "a/b", "a b", "a\nb", "soft%hsm"};
	char out[512], longname[200];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(modcfg_resolve(bad[i], out, sizeof(out)), MTLS_ERR_URI);
		assert_detail_has("is not a plain name");
	}
	memset(longname, 'a', 129);
	longname[129] = '\0';
	assert_int_equal(modcfg_resolve(longname, out, sizeof(out)), MTLS_ERR_URI);
	longname[128] = '\0';
	assert_int_equal(modcfg_resolve(longname, out, sizeof(out)), MTLS_ERR_MODULE);
	assert_int_equal(modcfg_resolve("Soft_HSM-2.6", out, sizeof(out)), MTLS_ERR_MODULE);
	assert_detail_has("no PKCS#11 module named");
}

static void a_config_dir_that_cannot_be_read_is_reported(void **state)
{
	char out[512];

	/* share_dir becomes a plain file: open() of share_dir/x.module fails
	 * with ENOTDIR, which is not "absent". */
	rmdir(share_dir);
	write_conf(fake_tmpdir(), strrchr(share_dir, '/') + 1, "x");
	assert_int_equal(modcfg_resolve("hsm", out, sizeof(out)), MTLS_ERR_MODULE);
	assert_detail_has(strerror(ENOTDIR));
}

static void a_config_of_64_KiB_or_more_is_refused(void **state)
{
	char out[512], *big = malloc(70000);

	memset(big, '#', 69999);
	big[69999] = '\0';
	memcpy(big, "module: /x.so\n", 14);
	write_conf(share_dir, "big.module", big);
	free(big);
	assert_int_equal(modcfg_resolve("big", out, sizeof(out)), MTLS_ERR_MODULE);
	assert_detail_has("is over 65536 bytes");
}

static void a_registered_config_without_a_module_line_is_refused(void **state)
{
	char out[512];

	write_conf(share_dir, "hsm.module", "critical: yes\n");
	assert_int_equal(modcfg_resolve("hsm", out, sizeof(out)), MTLS_ERR_MODULE);
	assert_detail_has("no 'module:' line");
}

static void the_installed_softhsm2_registration_resolves(void **state)
{
	char out[512];
	struct stat st;

	redirect = 0;
	if (stat(MTLS_P11KIT_MODULE_CONFIGS "/softhsm2.module", &st) != 0)
		skip();
	assert_int_equal(modcfg_resolve("softhsm2", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "libsofthsm2.so"));
	assert_int_equal(out[0], '/');
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(an_absolute_module_path_is_taken_as_it_is),
		T(a_relative_module_path_is_made_absolute_in_the_p11_kit_module_dir),
		T(comments_and_other_keys_are_ignored),
		T(whitespace_and_carriage_returns_around_the_value_are_trimmed),
		T(the_last_module_line_wins),
		T(a_config_without_a_module_line_is_refused),
		T(a_module_value_with_a_nul_byte_is_refused),
		T(a_module_path_longer_than_the_buffer_is_refused),
		T(only_the_given_length_is_read),
		T(a_registered_name_resolves_to_its_module),
		T(a_config_in_etc_overrides_the_packaged_one),
		T(an_unregistered_name_is_refused_with_a_hint),
		T(a_name_that_is_not_a_plain_file_name_is_refused),
		T(a_config_dir_that_cannot_be_read_is_reported),
		T(a_config_of_64_KiB_or_more_is_refused),
		T(a_registered_config_without_a_module_line_is_refused),
		T(the_installed_softhsm2_registration_resolves),
	};

	return cmocka_run_group_tests_name("modcfg", tests, NULL, NULL);
}
