/* Fuzz the certificate and request readers (provisioning/certio.c,
 * csr_parse.c): the input as a certificate file (PEM chain or DER) and as a
 * request file (PEM or DER), through decoding, splitting and wolfCrypt's
 * signature check. Invariants: an accepted chain holds 1 to
 * CERTIO_CHAIN_MAX certificates whose fields split again; a refused one
 * leaves the chain as it was; an accepted request has a subject and a
 * public key inside its own bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certio.h"
#include "csr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_chain(const uint8_t *data, size_t size)
{
	struct certio_chain c = {0};
	struct certio_fields f;
	size_t i;

	if (certio_chain_add(&c, data, size, "input") == 0) {
		if (c.n == 0 || c.n > CERTIO_CHAIN_MAX)
			abort();
		for (i = 0; i < c.n; i++)
			if (certio_cert_fields(c.der[i], c.len[i], &f) != 0 || f.spki == NULL)
				abort();
	} else if (c.n != 0) {
		abort();
	}
	certio_chain_free(&c);
}

static void fuzz_request(const uint8_t *data, size_t size)
{
	struct csr_info ci;
	uint8_t *der = NULL;
	size_t len = 0;

	if (csr_decode(data, size, "input", &der, &len) != 0)
		return;
	if (csr_parse(der, len, &ci) == 0) {
		if (ci.subject < der || ci.subject + ci.subject_len > der + len ||
			ci.spki == NULL || ci.spki + ci.spki_len > der + len ||
			(ci.sans != NULL && ci.sans + ci.sans_len > der + len))
			abort();
	}
	csr_verify(der, len);
	free(der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > 64 * 1024)
		return 0;
	fuzz_chain(data, size);
	fuzz_request(data, size);
	return 0;
}
