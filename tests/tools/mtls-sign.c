/* mtls-sign: sign a file's SHA-256 with a token key through the signer
 * interface, and write the signature and the public key (DER SPKI) so an
 * independent tool (openssl) can check them. Used by the demo and tests.
 *
 *   mtls-sign --key URI --pin-file FILE --in FILE --sig OUT --pub OUT
 *             [--in-process] [--pkcs1]
 * Exit codes: 0 success, 1 operational failure, 2 usage error. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/hash.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtls/err.h"
#include "mtls/log.h"
#include "mtls/signer.h"

#define IN_MAX (16 << 20)

struct args {
	const char *key, *pin_file, *in, *sig, *pub;
	int in_process, pkcs1;
};

static int usage(void)
{
	fprintf(stderr,
		"usage: mtls-sign --key URI --pin-file FILE --in FILE --sig OUT --pub OUT "
		"[--in-process] [--pkcs1]\n");
	return 2;
}

static int parse(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {{"key", 1, 0, 'k'}, {"pin-file", 1, 0, 'p'},
		{"in", 1, 0, 'i'}, {"sig", 1, 0, 's'}, {"pub", 1, 0, 'o'},
		{"in-process", 0, 0, 'l'}, {"pkcs1", 0, 0, '1'}, {0, 0, 0, 0}};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'k': a->key = optarg; break;
		case 'p': a->pin_file = optarg; break;
		case 'i': a->in = optarg; break;
		case 's': a->sig = optarg; break;
		case 'o': a->pub = optarg; break;
		case 'l': a->in_process = 1; break;
		case '1': a->pkcs1 = 1; break;
		default: return -1;
		}
	}
	return (optind == argc && a->key && a->in && a->sig && a->pub) ? 0 : -1;
}

static int write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok = f != NULL && fwrite(data, 1, len, f) == len;

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	if (!ok)
		fprintf(stderr, "mtls-sign: cannot write %s\n", path);
	return ok ? 0 : -1;
}

static int hash_file(const char *path, uint8_t digest[32])
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;
	int rc;

	if (f == NULL) {
		fprintf(stderr, "mtls-sign: cannot read %s\n", path);
		return -1;
	}
	buf = malloc(IN_MAX);
	n = buf ? fread(buf, 1, IN_MAX, f) : 0;
	fclose(f);
	rc = buf ? wc_Sha256Hash(buf, (word32)n, digest) : -1;
	free(buf);
	return rc;
}

/* Pick the scheme: ECDSA for EC keys, PSS for RSA unless --pkcs1. */
static enum p11_sig scheme(const struct signer_key_info *ki, const struct args *a,
	const uint8_t digest[32], uint8_t *in, size_t *inlen)
{
	if (ki->type != P11_KEY_RSA) {
		memcpy(in, digest, 32);
		*inlen = 32;
		return P11_SIG_ECDSA;
	}
	if (a->pkcs1 || !(ki->caps & P11_CAP_RSA_PSS)) {
		*inlen = wc_EncodeSignature(in, digest, 32, SHA256h);
		return P11_SIG_RSA_PKCS1;
	}
	memcpy(in, digest, 32);
	*inlen = 32;
	return P11_SIG_RSA_PSS_SHA256;
}

static const char *type_name(enum p11_key_type t)
{
	return t == P11_KEY_EC_P256 ? "EC P-256" : t == P11_KEY_EC_P384 ? "EC P-384" : "RSA";
}

static int run(const struct args *a, struct signer *s)
{
	static struct signer_key_info ki;
	uint8_t digest[32], in[P11_SIG_IN_MAX], sig[P11_SIG_MAX];
	size_t inlen, siglen = sizeof(sig);
	enum p11_sig how;
	int rc;

	if ((rc = signer_key_info(s, 0, &ki)) != 0)
		return rc;
	printf("key: %s, %u bits, token offers:%s%s%s\n", type_name(ki.type), ki.bits,
		ki.caps & P11_CAP_ECDSA ? " ECDSA" : "",
		ki.caps & P11_CAP_RSA_PKCS1 ? " PKCS#1" : "",
		ki.caps & P11_CAP_RSA_PSS ? " RSA-PSS" : "");
	if (hash_file(a->in, digest) != 0)
		return MTLS_ERR_IO;
	how = scheme(&ki, a, digest, in, &inlen);
	if ((rc = signer_sign(s, 0, how, in, inlen, sig, &siglen)) != 0)
		return rc;
	printf("signed SHA-256 of %s with %s: %zu-byte signature\n", a->in,
		how == P11_SIG_ECDSA               ? "ECDSA"
			: how == P11_SIG_RSA_PKCS1 ? "RSA PKCS#1 v1.5"
						   : "RSA-PSS",
		siglen);
	if (write_file(a->sig, sig, siglen) || write_file(a->pub, ki.spki, ki.spki_len))
		return MTLS_ERR_IO;
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	struct signer_config cfg = {0};
	struct signer *s = NULL;
	int rc;

	mtls_log_set_level(MTLS_LOG_NOTICE);
	if (parse(argc, argv, &a) != 0)
		return usage();
	cfg.key_uris = &a.key;
	cfg.nkeys = 1;
	cfg.p11.pin_file = a.pin_file;
	rc = a.in_process ? signer_new_local(&cfg, &s) : signer_new_process(&cfg, NULL, &s);
	if (rc == 0) {
		if (!a.in_process)
			printf("signer process %ld holds the token session and the PIN\n",
				signer_pid(s));
		rc = run(&a, s);
	}
	signer_free(s);
	if (rc != 0) {
		fprintf(stderr, "mtls-sign: %s: %s\n", mtls_strerror(rc), mtls_err_detail());
		return rc == MTLS_ERR_URI || rc == MTLS_ERR_ARG ? 2 : 1;
	}
	return 0;
}
