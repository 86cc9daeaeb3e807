/* Acceptance 5: URIs with a misspelled attribute, or matching two keys or
 * two tokens, are refused with messages that say why; token labels are
 * compared over their full width; module names resolve through p11-kit. */
#include "itest.h"
#include "mtls/p11.h"

static struct p11_options opt;

static void refused(const char *uri, int want, const char *const *texts)
{
	struct p11_key *key = NULL;

	CHECK_RC(p11_key_open(uri, &opt, &key), want);
	for (; *texts != NULL; texts++)
		if (strstr(mtls_err_detail(), *texts) == NULL) {
			fprintf(stderr, "message for %s lacks '%s': %s\n", uri, *texts,
				mtls_err_detail());
			itest_failures++;
		}
	printf("refused as expected: %s\n  -> %s\n", uri, mtls_err_detail());
	p11_key_free(key);
}

int main(void)
{
	const char *mod = itest_env("MTLS_TEST_MODULE"), *tok = itest_env("MTLS_TEST_TOKEN");
	char uri[1024], cmd[1024];
	struct p11_key *key = NULL;

	opt.pin_file = itest_env("MTLS_TEST_PIN_FILE");
	snprintf(uri, sizeof(uri), "pkcs11:token=%s;objcet=ec256?module-path=%s", tok, mod);
	refused(uri, MTLS_ERR_URI, (const char *const[]){"objcet", "did you mean 'object'", NULL});
	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=ec256?modul-path=%s", tok, mod);
	refused(uri, MTLS_ERR_URI, (const char *const[]){"modul-path", "module-path", NULL});
	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=dup;type=private?module-path=%s", tok,
		mod);
	refused(uri, MTLS_ERR_AMBIGUOUS,
		(const char *const[]){"matches 2 private keys", "id=10", "id=11", "add id=", NULL});
	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=ec256;type=cert?module-path=%s", tok,
		mod);
	refused(uri, MTLS_ERR_URI, (const char *const[]){"type=private", NULL});
	snprintf(uri, sizeof(uri), "pkcs11:object=ec256");
	refused(uri, MTLS_ERR_URI, (const char *const[]){"module-path", NULL});
	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=ec256?module-path=%s&pin-value=1234",
		tok, mod);
	refused(uri, MTLS_ERR_URI, (const char *const[]){"pin-value", "pin-source", NULL});
	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=nosuchkey?module-path=%s", tok, mod);
	refused(uri, MTLS_ERR_NO_OBJECT, (const char *const[]){"nosuchkey", NULL});
	/* "tes" is a prefix of "test": a full-width compare must not match it. */
	snprintf(uri, sizeof(uri), "pkcs11:token=tes;object=ec256?module-path=%s", mod);
	refused(uri, MTLS_ERR_NO_TOKEN, (const char *const[]){"no initialised token", NULL});
	snprintf(uri, sizeof(uri), "pkcs11:object=ec256?module-name=no-such-module");
	refused(uri, MTLS_ERR_MODULE, (const char *const[]){"no-such-module", NULL});

	/* By registered name: SoftHSM2 ships softhsm2.module for p11-kit. */
	snprintf(
		uri, sizeof(uri), "pkcs11:token=%s;object=ec256;id=%%01?module-name=softhsm2", tok);
	CHECK_RC(p11_key_open(uri, &opt, &key), 0);
	p11_key_free(key);
	key = NULL;

	/* A second token: a URI without token= now matches two. */
	snprintf(cmd, sizeof(cmd),
		"softhsm2-util --init-token --free --label other "
		"--so-pin 12345678 --pin 1234 >/dev/null");
	CHECK(system(cmd) == 0);
	snprintf(uri, sizeof(uri), "pkcs11:object=ec256?module-path=%s", mod);
	refused(uri, MTLS_ERR_AMBIGUOUS,
		(const char *const[]){"matches 2 tokens", "token=other", "token=test", NULL});
	return itest_done("bridge_refuses_bad_and_ambiguous_uris");
}
