/* The bridge reads the certificate objects paired with a key (same CKA_ID)
 * and the key's public key: a certificate written to the token by an
 * independent tool (pkcs11-tool) comes back byte for byte, and the public
 * key read from the token is the one pkcs11-tool reports. */
#include <stdint.h>

#include "itest.h"
#include "mtls/p11.h"

static long read_all(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, cap, f);
	fclose(f);
	return (long)n;
}

int main(void)
{
	struct p11_options opt = {.pin_file = itest_env("MTLS_TEST_PIN_FILE")};
	const char *dir = itest_env("MTLS_TEST_DIR"), *mod = itest_env("MTLS_TEST_MODULE");
	char uri[1024], cmd[4096];
	static uint8_t want[8192], pub[8192];
	uint8_t **certs = NULL, *der = NULL;
	size_t *lens = NULL, n = 0, derlen = 0;
	struct p11_key *key = NULL;
	long wantlen, publen;

	snprintf(cmd, sizeof(cmd),
		"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s/k.pem "
		"-subj /CN=paired -days 2 -outform DER -out %s/c.der 2>/dev/null && "
		"P=$(cat %s) && PIN=$P pkcs11-tool --module %s --token-label %s --login --pin env:PIN "
		"--write-object %s/c.der --type cert --id 03 --label rsa2048 >/dev/null 2>&1 && "
		"PIN=$P pkcs11-tool --module %s --token-label %s --login --pin env:PIN --read-object "
		"--type pubkey --id 03 -o %s/pub.der >/dev/null 2>&1",
		dir, dir, opt.pin_file, mod, itest_env("MTLS_TEST_TOKEN"), dir, mod,
		itest_env("MTLS_TEST_TOKEN"), dir);
	CHECK(system(cmd) == 0);
	snprintf(cmd, sizeof(cmd), "%s/c.der", dir);
	wantlen = read_all(cmd, want, sizeof(want));
	snprintf(cmd, sizeof(cmd), "%s/pub.der", dir);
	publen = read_all(cmd, pub, sizeof(pub));
	CHECK(wantlen > 0 && publen > 0);

	CHECK_RC(p11_key_open(itest_uri(uri, sizeof(uri), "rsa2048", 0), &opt, &key), 0);
	if (key == NULL)
		return itest_done("bridge_reads_paired_certificate");
	CHECK_RC(p11_key_certs(key, &certs, &lens, &n), 0);
	CHECK(n == 1);
	CHECK(n == 1 && (long)lens[0] == wantlen && memcmp(certs[0], want, lens[0]) == 0);
	p11_certs_free(certs, lens, n);
	CHECK_RC(p11_key_public_der(key, &der, &derlen), 0);
	CHECK((long)derlen == publen && memcmp(der, pub, derlen) == 0);
	printf("certificate (%ld bytes) and public key (%zu bytes) read back as written\n", wantlen,
		derlen);
	free(der);
	p11_key_free(key);

	/* A key without a paired certificate has none. */
	CHECK_RC(p11_key_open(itest_uri(uri, sizeof(uri), "ec384", 0), &opt, &key), 0);
	if (key != NULL) {
		CHECK_RC(p11_key_certs(key, &certs, &lens, &n), 0);
		CHECK(n == 0);
		p11_certs_free(certs, lens, n);
		p11_key_free(key);
	}
	return itest_done("bridge_reads_paired_certificate");
}
