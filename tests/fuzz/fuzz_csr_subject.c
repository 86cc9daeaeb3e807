/* Fuzz the subject DN and SAN parsers (provisioning/names.c) on a
 * NUL-terminated copy of the input: the whole input as a subject, and its
 * lines as a SAN list. Invariants: an accepted subject is one DER SEQUENCE
 * of SETs of AttributeTypeAndValue within NAMES_DN_MAX bytes; accepted SANs
 * are one SEQUENCE of context-tagged GeneralNames; a refusal leaves a
 * detail message and no output length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asn1.h"
#include "mtls/err.h"
#include "names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_dn(const uint8_t *der, size_t len)
{
	struct asn1 c = {der, len}, name, rdn, atv, oid, val;
	uint8_t tag;

	if (len > NAMES_DN_MAX || asn1_expect(&c, ASN1_SEQUENCE, &name, NULL) != 0 || c.len != 0 ||
		name.len == 0)
		abort();
	while (name.len > 0) {
		if (asn1_expect(&name, ASN1_SET, &rdn, NULL) != 0 || rdn.len == 0)
			abort();
		while (rdn.len > 0) {
			if (asn1_expect(&rdn, ASN1_SEQUENCE, &atv, NULL) != 0 ||
				asn1_expect(&atv, ASN1_OID, &oid, NULL) != 0 ||
				asn1_next(&atv, &tag, &val, NULL) != 0 || atv.len != 0 ||
				val.len == 0 ||
				(tag != ASN1_UTF8STRING && tag != ASN1_PRINTABLESTRING &&
					tag != ASN1_IA5STRING))
				abort();
		}
	}
}

static void check_sans(const uint8_t *der, size_t len)
{
	struct asn1 c = {der, len}, seq;
	uint8_t tag;

	if (asn1_expect(&c, ASN1_SEQUENCE, &seq, NULL) != 0 || c.len != 0 || seq.len == 0)
		abort();
	while (seq.len > 0)
		if (asn1_next(&seq, &tag, NULL, NULL) != 0 ||
			(tag != 0x81 && tag != 0x82 && tag != 0x86 && tag != 0x87))
			abort();
}

static void fuzz_dn(const char *s)
{
	static uint8_t der[NAMES_DN_MAX];
	size_t len = 1;

	mtls_err_clear();
	if (names_dn_parse(s, der, sizeof(der), &len) == 0)
		check_dn(der, len);
	else if (len != 0 || mtls_err_detail()[0] == '\0')
		abort();
}

/* Lines of s (modified in place) as a SAN list. */
static void fuzz_sans(char *s)
{
	static uint8_t der[NAMES_SANS_DER_MAX];
	const char *sans[NAMES_SAN_MAX + 1];
	size_t n = 0, len = 1;
	char *p = s, *nl;

	while (n < NAMES_SAN_MAX + 1) {
		sans[n++] = p;
		if ((nl = strchr(p, '\n')) == NULL)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	mtls_err_clear();
	if (names_sans_encode(sans, n, der, sizeof(der), &len) == 0)
		check_sans(der, len);
	else if (len != 0 || mtls_err_detail()[0] == '\0')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size > 2 * NAMES_TEXT_MAX)
		return 0;
	s = malloc(size + 1);
	if (s == NULL)
		return 0;
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	fuzz_dn(s);
	fuzz_sans(s);
	free(s);
	return 0;
}
