/* Acceptance 4: a wrong PIN causes exactly one C_Login (counted by the fault
 * module), even when the caller tries again, and a clear error; a PIN file
 * with mode 0644 is refused before any login; a locked PIN or a final try
 * is reported without spending a login.
 *   test_bridge_pin wrong | mode | locked | final-try */
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"
#include "mtls/p11.h"

static char conf[512], log_path[512], uri[1024];

static void use_fault(const char *extra)
{
	snprintf(conf, sizeof(conf), "%s/fault.conf", itest_env("MTLS_TEST_DIR"));
	snprintf(log_path, sizeof(log_path), "%s/calls.log", itest_env("MTLS_TEST_DIR"));
	CHECK(itest_fault_conf(conf, "calls_log = %s\n%s\n", log_path, extra) == 0);
	setenv("MTLS_FAULT_CONF", conf, 1);
	itest_uri(uri, sizeof(uri), "ec256", 1);
}

static const char *pin_file(const char *pin, mode_t mode)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/pin.test", itest_env("MTLS_TEST_DIR"));
	unlink(path);
	CHECK(itest_write_file(path, pin, strlen(pin)) == 0);
	CHECK(chmod(path, mode) == 0);
	return path;
}

static void wrong_pin(void)
{
	struct p11_options opt = {.pin_file = pin_file("99999", 0600)};
	struct p11_key *key = NULL;
	int i;

	use_fault("");
	CHECK_RC(p11_key_open(uri, &opt, &key), MTLS_ERR_PIN_INCORRECT);
	CHECK(strstr(mtls_err_detail(), "CKR_PIN_INCORRECT") != NULL);
	printf("wrong PIN: %s\n", mtls_err_detail());
	for (i = 0; i < 3; i++) /* a careless caller retrying must not lock the card */
		CHECK_RC(p11_key_open(uri, &opt, &key), MTLS_ERR_PIN_INCORRECT);
	printf("C_Login calls: %ld\n", itest_count_calls(log_path, "C_Login"));
	CHECK(itest_count_calls(log_path, "C_Login") == 1);
}

static void open_pin_file(void)
{
	struct p11_options opt = {.pin_file = pin_file("1234", 0644)};
	struct p11_key *key = NULL;

	use_fault("");
	CHECK_RC(p11_key_open(uri, &opt, &key), MTLS_ERR_PIN_SOURCE);
	CHECK(strstr(mtls_err_detail(), "0644") != NULL);
	CHECK(strstr(mtls_err_detail(), "chmod 600") != NULL);
	printf("mode 0644: %s\n", mtls_err_detail());
	CHECK(itest_count_calls(log_path, "C_Login") == 0);
}

static void flagged(const char *flags, int want, const char *text)
{
	struct p11_options opt = {.pin_file = pin_file("1234", 0600)};
	struct p11_key *key = NULL;
	char extra[128];

	snprintf(extra, sizeof(extra), "token_flags_set = %s", flags);
	use_fault(extra);
	CHECK_RC(p11_key_open(uri, &opt, &key), want);
	CHECK(strstr(mtls_err_detail(), text) != NULL);
	printf("%s: %s\n", flags, mtls_err_detail());
	CHECK(itest_count_calls(log_path, "C_Login") == 0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (strcmp(mode, "wrong") == 0)
		wrong_pin();
	else if (strcmp(mode, "mode") == 0)
		open_pin_file();
	else if (strcmp(mode, "locked") == 0)
		flagged("0x40000", MTLS_ERR_PIN_LOCKED, "CKF_USER_PIN_LOCKED");
	else if (strcmp(mode, "final-try") == 0)
		flagged("0x20000", MTLS_ERR_PIN_LOCKED, "CKF_USER_PIN_FINAL_TRY");
	else
		return fprintf(stderr, "usage: test_bridge_pin wrong|mode|locked|final-try\n"), 2;
	return itest_done(mode);
}
