/* The local CA's key (ca_int.h): EC P-256 in a 0600 file, or any key on a
 * token. */
#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ca_int.h"
#include "mtls/err.h"
#include "mtls/secret.h"

#define KEY_FILE_MAX 8192

struct soft {
	ecc_key ecc;
	WC_RNG rng;
	int ecc_init, rng_init;
};

static int soft_sign(const struct csr_key *k, enum p11_sig sig, const uint8_t *in, size_t inlen,
	uint8_t *out, size_t *outlen)
{
	struct soft *s = ((struct ca_key *)k->ctx)->soft;
	word32 n = (word32)*outlen;
	int ret;

	if (sig != P11_SIG_ECDSA)
		return mtls_err_set(MTLS_ERR_MECHANISM, "the CA's software key signs ECDSA only");
	ret = wc_ecc_sign_hash(in, (word32)inlen, out, &n, &s->rng, &s->ecc);
	if (ret != 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "wc_ecc_sign_hash: %d", ret);
	*outlen = n;
	return 0;
}

static int soft_new(struct ca_key **out)
{
	struct ca_key *ca = calloc(1, sizeof(*ca));
	struct soft *s = calloc(1, sizeof(*s));

	*out = ca;
	if (ca == NULL || s == NULL) {
		free(s);
		return MTLS_ERR_NOMEM;
	}
	ca->soft = s;
	if (wc_InitRng(&s->rng) != 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "wc_InitRng failed");
	s->rng_init = 1;
	if (wc_ecc_init(&s->ecc) != 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "wc_ecc_init failed");
	s->ecc_init = 1;
	return 0;
}

/* Public key, type and sign function of a loaded software key. */
static int soft_finish(struct ca_key *ca)
{
	struct soft *s = ca->soft;
	int ret;

	ret = wc_EccPublicKeyToDer(&s->ecc, ca->k.spki, sizeof(ca->k.spki), 1);
	if (ret <= 0)
		return mtls_err_set(MTLS_ERR_KEY, "the CA key's public key: wolfCrypt %d", ret);
	ca->k.spki_len = (size_t)ret;
	if (wc_ecc_get_curve_id(s->ecc.idx) != ECC_SECP256R1)
		return mtls_err_set(MTLS_ERR_KEY, "the CA's software key must be EC P-256");
	ca->k.type = P11_KEY_EC_P256;
	ca->k.bits = 256;
	ca->k.caps = P11_CAP_ECDSA;
	ca->k.sign = soft_sign;
	ca->k.ctx = ca;
	return 0;
}

/* Write the private key as PEM into a new file (O_EXCL, 0600). */
static int write_key(const char *path, struct soft *s)
{
	uint8_t der[512], pem[1024];
	int dlen, plen, fd, rc = 0;

	dlen = wc_EccKeyToDer(&s->ecc, der, sizeof(der));
	plen = dlen > 0 ? wc_DerToPem(der, (word32)dlen, pem, sizeof(pem), ECC_PRIVATEKEY_TYPE)
			: dlen;
	mtls_wipe(der, sizeof(der));
	if (plen <= 0)
		return mtls_err_set(MTLS_ERR_INTERNAL, "encoding the CA key: wolfCrypt %d", plen);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		rc = mtls_err_set(MTLS_ERR_IO, "cannot create %s: %m", path);
	else if (write(fd, pem, (size_t)plen) != plen || fsync(fd) != 0 || close(fd) != 0) {
		rc = mtls_err_set(MTLS_ERR_IO, "cannot write %s: %m", path);
		unlink(path);
	}
	mtls_wipe(pem, sizeof(pem));
	return rc;
}

int ca_key_generate(const char *path, struct ca_key **out)
{
	struct soft *s;
	int rc, ret;

	if ((rc = soft_new(out)) != 0)
		goto fail;
	s = (*out)->soft;
	ret = wc_ecc_make_key_ex(&s->rng, 32, &s->ecc, ECC_SECP256R1);
	if (ret != 0) {
		rc = mtls_err_set(MTLS_ERR_INTERNAL, "generating the CA key: wolfCrypt %d", ret);
		goto fail;
	}
	if ((rc = soft_finish(*out)) != 0 || (rc = write_key(path, s)) != 0)
		goto fail;
	return 0;
fail:
	ca_key_free(*out);
	*out = NULL;
	return rc;
}

/* Read a key file that only its owner may read. */
static int read_private(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);

	if (fd < 0)
		return mtls_err_set(MTLS_ERR_IO, "cannot open %s: %m", path);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return mtls_err_set(MTLS_ERR_IO, "%s is not a regular file", path);
	}
	if ((st.st_mode & 077) != 0 || (st.st_uid != geteuid() && st.st_uid != 0)) {
		close(fd);
		return mtls_err_set(MTLS_ERR_CONFIG,
			"%s holds a private key but is open to group or others (mode %03o) or "
			"not owned by this user; chmod 600 it (and chown it)",
			path, (unsigned)(st.st_mode & 0777));
	}
	n = read(fd, buf, cap);
	close(fd);
	if (n <= 0 || (size_t)n >= cap)
		return mtls_err_set(
			MTLS_ERR_IO, "cannot read %s (empty, or over %zu bytes)", path, cap - 1);
	*len = (size_t)n;
	return 0;
}

int ca_key_load(const char *path, struct ca_key **out)
{
	uint8_t pem[KEY_FILE_MAX], der[KEY_FILE_MAX];
	size_t plen = 0;
	word32 idx = 0;
	int rc, dlen = 0;

	if ((rc = soft_new(out)) != 0 || (rc = read_private(path, pem, sizeof(pem), &plen)) != 0)
		goto out;
	dlen = wc_KeyPemToDer(pem, (int)plen, der, sizeof(der), NULL);
	if (dlen <= 0 ||
		wc_EccPrivateKeyDecode(
			der, &idx, &((struct soft *)(*out)->soft)->ecc, (word32)dlen) != 0) {
		rc = mtls_err_set(MTLS_ERR_KEY,
			"%s is not an EC private key in PEM (made by mtls-provision ca init --soft)",
			path);
		goto out;
	}
	rc = soft_finish(*out);
out:
	mtls_wipe(pem, sizeof(pem));
	mtls_wipe(der, sizeof(der));
	if (rc != 0) {
		ca_key_free(*out);
		*out = NULL;
	}
	return rc;
}

int ca_key_open_token(const char *uri, const struct p11_options *opt, struct ca_key **out)
{
	struct ca_key *ca = calloc(1, sizeof(*ca));
	int rc;

	*out = NULL;
	if (ca == NULL)
		return MTLS_ERR_NOMEM;
	rc = p11_key_open(uri, opt, &ca->p11);
	if (rc == 0)
		rc = csr_key_from_p11(ca->p11, &ca->k);
	if (rc != 0) {
		ca_key_free(ca);
		return rc;
	}
	*out = ca;
	return 0;
}

void ca_key_free(struct ca_key *ca)
{
	struct soft *s;

	if (ca == NULL)
		return;
	s = ca->soft;
	if (s != NULL) {
		if (s->ecc_init)
			wc_ecc_free(&s->ecc);
		if (s->rng_init)
			wc_FreeRng(&s->rng);
		mtls_wipe(s, sizeof(*s));
		free(s);
	}
	p11_key_free(ca->p11);
	free(ca);
}
