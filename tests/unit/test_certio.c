/* certio.c, certio_write.c, csr_parse.c: PEM and DER chains (all or
 * nothing), certificate fields, the key match, atomic files with the
 * previous one kept, and reading requests. Vectors in certio_vectors.h. */
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

#include "certio.h"
#include "certio_vectors.h"
#include "csr.h"
#include "mtls/err.h"

static int add(struct certio_chain *c, const char *text)
{
	return certio_chain_add(c, (const uint8_t *)text, strlen(text), "test input");
}

static void a_pem_file_with_two_certificates_is_a_chain_of_two(void **state)
{
	struct certio_chain c = {0};
	char both[4096];

	snprintf(both, sizeof(both), "junk before\n%s\nbetween\n%s", leaf_pem, other_pem);
	assert_int_equal(add(&c, both), 0);
	assert_int_equal(c.n, 2);
	certio_chain_free(&c);
	assert_int_equal(c.n, 0);
}

static void a_der_certificate_is_read_as_it_is(void **state)
{
	struct certio_chain c = {0}, d = {0};

	assert_int_equal(add(&c, leaf_pem), 0);
	assert_int_equal(certio_chain_add(&d, c.der[0], c.len[0], "der"), 0);
	assert_int_equal(d.n, 1);
	assert_int_equal(d.len[0], c.len[0]);
	assert_memory_equal(d.der[0], c.der[0], c.len[0]);
	certio_chain_free(&c);
	certio_chain_free(&d);
}

/* Each bad input is refused and leaves a chain holding one certificate as
 * it was. */
static void refused(const void *buf, size_t len, int want, const char *msg)
{
	struct certio_chain c = {0};

	assert_int_equal(add(&c, leaf_pem), 0);
	assert_int_equal(certio_chain_add(&c, buf, len, "bad input"), want);
	assert_int_equal(c.n, 1);
	if (strstr(mtls_err_detail(), msg) == NULL)
		fail_msg("detail \"%s\" lacks \"%s\"", mtls_err_detail(), msg);
	certio_chain_free(&c);
}

static void truncated_garbage_and_empty_inputs_change_nothing(void **state)
{
	struct certio_chain c = {0};
	char buf[4096];
	size_t n = strlen(leaf_pem);

	memcpy(buf, leaf_pem, n);
	refused(buf, n / 2, MTLS_ERR_PROTOCOL, "no END line");
	refused("\x30\x82\x01\x00garbage", 12, MTLS_ERR_PROTOCOL, "not a valid X.509");
	refused("hello", 5, MTLS_ERR_PROTOCOL, "neither PEM nor");
	refused("", 0, MTLS_ERR_PROTOCOL, "empty");
	snprintf(
		buf, sizeof(buf), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
	refused(buf, strlen(buf), MTLS_ERR_PROTOCOL, "no \"BEGIN CERTIFICATE\"");
	snprintf(buf, sizeof(buf), "%s%s", other_pem,
		"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n");
	refused(buf, strlen(buf), MTLS_ERR_PROTOCOL, "certificate 2 does not decode");
	assert_int_equal(add(&c, leaf_pem), 0);
	refused(c.der[0], c.len[0] - 1, MTLS_ERR_PROTOCOL, "not a valid X.509"); /* truncated DER */
	memcpy(buf, c.der[0], c.len[0]);
	buf[6] = 0x7f; /* the TBSCertificate's length runs past the end */
	refused(buf, c.len[0], MTLS_ERR_PROTOCOL, "not a valid X.509");
	certio_chain_free(&c);
}

static void more_than_the_chain_maximum_is_refused(void **state)
{
	struct certio_chain c = {0};
	size_t one = strlen(other_pem), i;
	char *many = malloc(one * (CERTIO_CHAIN_MAX + 1) + 1);

	assert_non_null(many);
	for (i = 0; i <= CERTIO_CHAIN_MAX; i++)
		memcpy(many + i * one, other_pem, one + 1);
	assert_int_equal(add(&c, many), MTLS_ERR_TOO_BIG);
	assert_int_equal(c.n, 0);
	free(many);
}

static void fields_point_at_subject_issuer_serial_and_key(void **state)
{
	static const uint8_t serial[] = {0x02, 0x02, 0x12, 0x34};
	struct certio_chain c = {0};
	struct certio_fields f;

	assert_int_equal(add(&c, leaf_pem), 0);
	assert_int_equal(certio_cert_fields(c.der[0], c.len[0], &f), 0);
	assert_int_equal(f.serial_len, sizeof(serial));
	assert_memory_equal(f.serial, serial, sizeof(serial));
	assert_int_equal(f.subject_len, f.issuer_len); /* self-signed */
	assert_memory_equal(f.subject, f.issuer, f.subject_len);
	assert_int_equal(f.spki_len, sizeof(leaf_spki));
	assert_memory_equal(f.spki, leaf_spki, sizeof(leaf_spki));
	assert_int_equal(certio_cert_fields(c.der[0], c.len[0] - 1, &f), MTLS_ERR_PROTOCOL);
	certio_chain_free(&c);
}

static void a_certificate_for_another_key_is_refused_naming_both(void **state)
{
	struct certio_chain c = {0};

	assert_int_equal(add(&c, leaf_pem), 0);
	assert_int_equal(add(&c, other_pem), 0);
	assert_int_equal(add(&c, rsa_pem), 0);
	assert_int_equal(
		certio_check_key(c.der[0], c.len[0], leaf_spki, sizeof(leaf_spki), "k"), 0);
	assert_int_equal(certio_check_key(c.der[1], c.len[1], leaf_spki, sizeof(leaf_spki),
				 "pkcs11:object=leaf"),
		MTLS_ERR_KEY);
	assert_non_null(strstr(mtls_err_detail(), "CN=unit other"));
	assert_non_null(strstr(mtls_err_detail(), "pkcs11:object=leaf"));
	assert_int_equal(certio_check_key(c.der[2], c.len[2], leaf_spki, sizeof(leaf_spki), "k"),
		MTLS_ERR_KEY);
	assert_non_null(strstr(mtls_err_detail(), "RSA-2048"));
	assert_int_equal(certio_check_key(c.der[2], c.len[2], rsa_spki, sizeof(rsa_spki), "k"), 0);
	certio_chain_free(&c);
}

/* ---- files ---- */

static char dir[64];

static int make_dir(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_certio.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int remove_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void file_is(const char *path, const char *want)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(certio_read_file(path, &buf, &len), 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(buf, want, len);
	free(buf);
}

static size_t entries(void)
{
	char cmd[128];
	FILE *p;
	size_t n = 0;
	int ch;

	snprintf(cmd, sizeof(cmd), "ls -A '%s'", dir);
	p = popen(cmd, "r");
	while ((ch = fgetc(p)) != EOF)
		n += ch == '\n';
	pclose(p);
	return n;
}

static void an_atomic_write_keeps_the_previous_file(void **state)
{
	char path[128], prev[140];
	struct stat st;

	snprintf(path, sizeof(path), "%s/cert.pem", dir);
	snprintf(prev, sizeof(prev), "%s.prev", path);
	assert_int_equal(certio_write_atomic(path, "one", 3, 0640), 0);
	file_is(path, "one");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_not_equal(access(prev, F_OK), 0);
	assert_int_equal(certio_write_atomic(path, "two", 3, 0644), 0);
	file_is(path, "two");
	file_is(prev, "one");
	assert_int_equal(certio_write_atomic(path, "three", 5, 0644), 0);
	file_is(path, "three");
	file_is(prev, "two");
	assert_int_equal(entries(), 2); /* no temporary files left */
}

static void a_failed_write_leaves_the_files_as_they_were(void **state)
{
	char path[128], sub[128];

	snprintf(path, sizeof(path), "%s/cert.pem", dir);
	assert_int_equal(certio_write_atomic(path, "keep", 4, 0644), 0);
	snprintf(sub, sizeof(sub), "%s/missing/cert.pem", dir);
	assert_int_equal(certio_write_atomic(sub, "x", 1, 0644), MTLS_ERR_IO);
	snprintf(sub, sizeof(sub), "%s/adir", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(certio_write_atomic(sub, "x", 1, 0644), MTLS_ERR_IO);
	assert_non_null(strstr(mtls_err_detail(), "not a regular file"));
	file_is(path, "keep");
	assert_int_equal(entries(), 2); /* cert.pem and adir: no temporary file */
}

/* ---- requests ---- */

static void a_request_is_decoded_verified_and_split(void **state)
{
	static const uint8_t ip[] = {0x87, 0x04, 192, 0, 2, 7};
	struct csr_info ci;
	uint8_t *der;
	size_t len;

	assert_int_equal(
		csr_decode((const uint8_t *)leaf_csr_pem, strlen(leaf_csr_pem), "csr", &der, &len),
		0);
	assert_int_equal(csr_verify(der, len), 0);
	assert_int_equal(csr_parse(der, len, &ci), 0);
	assert_int_equal(ci.spki_len, sizeof(leaf_spki));
	assert_memory_equal(ci.spki, leaf_spki, sizeof(leaf_spki));
	assert_non_null(ci.sans);
	assert_memory_equal(ci.sans + ci.sans_len - sizeof(ip), ip, sizeof(ip));
	der[len - 3] ^= 0x01; /* the signature */
	assert_int_equal(csr_verify(der, len), MTLS_ERR_PROTOCOL);
	assert_int_equal(csr_parse(der, len - 1, &ci), MTLS_ERR_PROTOCOL);
	free(der);
	assert_int_equal(csr_decode((const uint8_t *)leaf_pem, strlen(leaf_pem), "x", &der, &len),
		MTLS_ERR_PROTOCOL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_pem_file_with_two_certificates_is_a_chain_of_two),
		cmocka_unit_test(a_der_certificate_is_read_as_it_is),
		cmocka_unit_test(truncated_garbage_and_empty_inputs_change_nothing),
		cmocka_unit_test(more_than_the_chain_maximum_is_refused),
		cmocka_unit_test(fields_point_at_subject_issuer_serial_and_key),
		cmocka_unit_test(a_certificate_for_another_key_is_refused_naming_both),
		cmocka_unit_test_setup_teardown(
			an_atomic_write_keeps_the_previous_file, make_dir, remove_dir),
		cmocka_unit_test_setup_teardown(
			a_failed_write_leaves_the_files_as_they_were, make_dir, remove_dir),
		cmocka_unit_test(a_request_is_decoded_verified_and_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
