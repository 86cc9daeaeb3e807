/* Acceptance 1: signatures made through the bridge on SoftHSM2 verify with
 * an independent verifier (the openssl command) for EC P-256, EC P-384,
 * RSA-2048 and RSA-3072, with ECDSA, PKCS#1 v1.5 and PSS (SHA-256/384/512).
 * `no-pss`: an RSA key on a token without RSA-PSS, with raw RSA
 * (CKM_RSA_X_509) to stand in and then without it. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/hash.h>

#include <stdint.h>

#include "itest.h"
#include "mtls/p11.h"

static const char data[] = "bytes the agent signs in a TLS handshake";

struct hash_alg {
	const char *name; /* for openssl dgst */
	enum wc_HashType type;
	int oid; /* for the DigestInfo */
	size_t len;
};

static const struct hash_alg hashes[] = {
	{"sha256", WC_HASH_TYPE_SHA256, SHA256h, 32},
	{"sha384", WC_HASH_TYPE_SHA384, SHA384h, 48},
	{"sha512", WC_HASH_TYPE_SHA512, SHA512h, 64},
};

/* Write the SPKI as PEM-less DER and let openssl verify sig over data. */
static int openssl_verify(struct p11_key *key, const struct hash_alg *h, const char *opts,
	const uint8_t *sig, size_t siglen)
{
	const char *dir = itest_env("MTLS_TEST_DIR");
	char pub[512], sigf[512], dataf[512], cmd[4096];
	uint8_t *der;
	size_t derlen;

	if (p11_key_public_der(key, &der, &derlen) != 0)
		return -1;
	snprintf(pub, sizeof(pub), "%s/pub.der", dir);
	snprintf(sigf, sizeof(sigf), "%s/sig.bin", dir);
	snprintf(dataf, sizeof(dataf), "%s/data.bin", dir);
	if (itest_write_file(pub, der, derlen) || itest_write_file(sigf, sig, siglen) ||
		itest_write_file(dataf, data, sizeof(data) - 1)) {
		free(der);
		return -1;
	}
	free(der);
	snprintf(cmd, sizeof(cmd),
		"openssl pkey -pubin -inform DER -in %s -out %s.pem 2>&1 && "
		"openssl dgst -%s %s -verify %s.pem -signature %s %s >/dev/null",
		pub, pub, h->name, opts, pub, sigf, dataf);
	return system(cmd) == 0 ? 0 : -1;
}

static void sign_and_verify(
	struct p11_key *key, enum p11_sig sig, const struct hash_alg *h, const char *label)
{
	uint8_t digest[64], in[128], out[P11_SIG_MAX];
	size_t inlen, outlen = sizeof(out);
	char opts[128] = "";
	int rc;

	CHECK(wc_Hash(h->type, (const byte *)data, sizeof(data) - 1, digest, (word32)h->len) == 0);
	if (sig == P11_SIG_RSA_PKCS1) {
		inlen = wc_EncodeSignature(in, digest, (word32)h->len, h->oid);
	} else {
		memcpy(in, digest, h->len);
		inlen = h->len;
	}
	if (sig >= P11_SIG_RSA_PSS_SHA256)
		snprintf(opts, sizeof(opts),
			"-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:%zu "
			"-sigopt rsa_mgf1_md:%s",
			h->len, h->name);
	rc = p11_key_sign(key, sig, in, inlen, out, &outlen);
	CHECK_RC(rc, 0);
	if (rc != 0)
		return;
	if (openssl_verify(key, h, opts, out, outlen) != 0) {
		fprintf(stderr, "openssl did not verify the %s signature (%s, %s)\n", label,
			h->name,
			sig == P11_SIG_ECDSA               ? "ECDSA"
				: sig == P11_SIG_RSA_PKCS1 ? "PKCS#1"
							   : "PSS");
		itest_failures++;
	} else {
		printf("ok: %s %s %s verified by openssl\n", label, h->name,
			sig == P11_SIG_ECDSA               ? "ECDSA"
				: sig == P11_SIG_RSA_PKCS1 ? "PKCS#1 v1.5"
							   : "PSS");
	}
}

static void test_key(const char *label, enum p11_key_type type, unsigned bits)
{
	struct p11_options opt = {.pin_file = itest_env("MTLS_TEST_PIN_FILE")};
	struct p11_key *key = NULL;
	char uri[1024];
	size_t i;

	CHECK_RC(p11_key_open(itest_uri(uri, sizeof(uri), label, 0), &opt, &key), 0);
	if (key == NULL)
		return;
	CHECK(p11_key_type(key) == type);
	CHECK(p11_key_bits(key) == bits);
	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		if (type != P11_KEY_RSA) {
			sign_and_verify(key, P11_SIG_ECDSA, &hashes[i], label);
			continue;
		}
		CHECK(p11_key_caps(key) & P11_CAP_RSA_PSS);
		sign_and_verify(key, P11_SIG_RSA_PKCS1, &hashes[i], label);
		sign_and_verify(key, P11_SIG_RSA_PSS_SHA256 + (int)i, &hashes[i], label);
	}
	if (type == P11_KEY_RSA) {
		uint8_t block[P11_SIG_RAW_MAX] = {0}, out[P11_SIG_MAX];
		size_t outlen = sizeof(out);

		/* SoftHSM signs raw RSA too, but a token with both schemes never
		 * needs it: the bridge keeps raw RSA closed. */
		CHECK(p11_key_caps(key) & P11_CAP_RSA_RAW);
		CHECK_RC(p11_key_sign(key, P11_SIG_RSA_RAW, block, bits / 8, out, &outlen),
			MTLS_ERR_MECHANISM);
	}
	p11_key_free(key);
}

/* Raw RSA (P11_SIG_RSA_RAW) on a PKCS#1 v1.5 block built here: openssl
 * verifies it as an ordinary PKCS#1 signature. */
static void raw_pkcs1_verifies(struct p11_key *key, const struct hash_alg *h, const char *label)
{
	uint8_t digest[64], t[128], block[P11_SIG_RAW_MAX], out[P11_SIG_MAX];
	size_t k = p11_key_bits(key) / 8, tlen, outlen = sizeof(out);
	int rc;

	CHECK(wc_Hash(h->type, (const byte *)data, sizeof(data) - 1, digest, (word32)h->len) == 0);
	tlen = wc_EncodeSignature(t, digest, (word32)h->len, h->oid);
	block[0] = 0x00;
	block[1] = 0x01;
	memset(block + 2, 0xff, k - tlen - 3);
	block[k - tlen - 1] = 0x00;
	memcpy(block + k - tlen, t, tlen);
	rc = p11_key_sign(key, P11_SIG_RSA_RAW, block, k, out, &outlen);
	CHECK_RC(rc, 0);
	CHECK(outlen == k);
	if (rc != 0)
		return;
	if (openssl_verify(key, h, "", out, outlen) != 0) {
		fprintf(stderr, "openssl did not verify the raw RSA PKCS#1 signature (%s)\n",
			label);
		itest_failures++;
	} else {
		printf("ok: %s %s PKCS#1 v1.5 padded here, raw RSA on the token, verified by "
		       "openssl\n",
			label, h->name);
	}
}

static struct p11_key *open_hiding(const char *mechs)
{
	struct p11_options opt = {.pin_file = itest_env("MTLS_TEST_PIN_FILE")};
	struct p11_key *key = NULL;
	char uri[1024], conf[512], desc[1024];

	snprintf(conf, sizeof(conf), "%s/fault.conf", itest_env("MTLS_TEST_DIR"));
	CHECK(itest_fault_conf(conf, "hide_mechanisms = %s\n", mechs) == 0);
	setenv("MTLS_FAULT_CONF", conf, 1);
	CHECK_RC(p11_key_open(itest_uri(uri, sizeof(uri), "rsa2048", 1), &opt, &key), 0);
	if (key == NULL)
		return NULL;
	CHECK_RC(p11_token_describe(p11_key_token(key), desc, sizeof(desc)), 0);
	CHECK(strstr(desc, "CKM_RSA_PKCS_PSS") == NULL && strstr(desc, "CKM_RSA_PKCS") != NULL);
	printf("hiding %s: %s\n", mechs, desc);
	return key;
}

/* The most common field failure: an RSA key on a token without RSA-PSS.
 * The bridge must say so up front (caps) and when asked for PSS, and still
 * sign PKCS#1 v1.5 (what TLS 1.2 can use). With raw RSA on the token, the
 * caller pads PSS itself and the bridge makes the raw operation. */
static int test_no_pss(void)
{
	uint8_t in[32] = {1}, block[P11_SIG_RAW_MAX] = {0}, out[P11_SIG_MAX];
	size_t outlen = sizeof(out);
	struct p11_key *key;
	size_t i;

	key = open_hiding("CKM_RSA_PKCS_PSS");
	if (key == NULL)
		return itest_done("bridge_rsa_key_without_pss");
	CHECK(p11_key_caps(key) == (P11_CAP_RSA_PKCS1 | P11_CAP_RSA_RAW));
	CHECK_RC(p11_key_sign(key, P11_SIG_RSA_PSS_SHA256, in, sizeof(in), out, &outlen),
		MTLS_ERR_MECHANISM);
	CHECK(strstr(mtls_err_detail(), "CKM_RSA_X_509") != NULL);
	printf("PSS refused: %s\n", mtls_err_detail());
	for (i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
		raw_pkcs1_verifies(key, &hashes[i], "rsa2048 (token without PSS)");
	sign_and_verify(key, P11_SIG_RSA_PKCS1, &hashes[0], "rsa2048 (token without PSS)");
	/* Raw blocks must be exactly modulus-sized, top bit clear. */
	CHECK_RC(p11_key_sign(key, P11_SIG_RSA_RAW, block, 255, out, &outlen), MTLS_ERR_ARG);
	block[0] = 0x80;
	CHECK_RC(p11_key_sign(key, P11_SIG_RSA_RAW, block, 256, out, &outlen), MTLS_ERR_ARG);
	p11_key_free(key);

	/* Neither RSA-PSS nor raw RSA: PKCS#1 only, and TLS 1.3 is out. */
	key = open_hiding("CKM_RSA_PKCS_PSS, CKM_RSA_X_509");
	if (key == NULL)
		return itest_done("bridge_rsa_key_without_pss");
	CHECK(p11_key_caps(key) == P11_CAP_RSA_PKCS1);
	outlen = sizeof(out);
	CHECK_RC(p11_key_sign(key, P11_SIG_RSA_PSS_SHA256, in, sizeof(in), out, &outlen),
		MTLS_ERR_MECHANISM);
	CHECK(strstr(mtls_err_detail(), "TLS 1.3") != NULL);
	printf("PSS refused: %s\n", mtls_err_detail());
	block[0] = 0;
	CHECK_RC(p11_key_sign(key, P11_SIG_RSA_RAW, block, 256, out, &outlen), MTLS_ERR_MECHANISM);
	sign_and_verify(key, P11_SIG_RSA_PKCS1, &hashes[0], "rsa2048 (token without PSS, raw)");
	p11_key_free(key);
	return itest_done("bridge_rsa_key_without_pss");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "no-pss") == 0)
		return test_no_pss();
	test_key("ec256", P11_KEY_EC_P256, 256);
	test_key("ec384", P11_KEY_EC_P384, 384);
	test_key("rsa2048", P11_KEY_RSA, 2048);
	test_key("rsa3072", P11_KEY_RSA, 3072);
	return itest_done("bridge_signatures_verify_with_openssl");
}
