/* Subject DNs and subjectAltNames from their command-line forms to DER.
 * Input comes from users and config files: every length is bounded, every
 * malformed item is refused with MTLS_ERR_ARG and a detail naming it (the
 * offending text is shown bounded and with control bytes replaced). Has a
 * fuzz target (tests/fuzz/fuzz_csr_subject.c).
 *
 * Subject DN, two forms:
 *   "/C=DE/O=Example/CN=gw01"   OpenSSL's -subj form: RDNs in DER order
 *                               (the first is the most significant);
 *                               "\" escapes the next character.
 *   "CN=gw01,O=Example,C=DE"   RFC 4514: the *last* RDN is the most
 *                               significant (DER order reversed); "\" escapes
 *                               one of  ,+"\<>;=# and space, or two hex
 *                               digits (\2C). A value starting with '#'
 *                               (hex BER) is refused.
 * In both, an unescaped '+' joins attributes into one multi-valued RDN, and
 * blanks around '=' and separators are ignored. Types (case-insensitive):
 * CN, O, OU, C, ST, L, street, serialNumber, title, GN, SN, postalCode,
 * UID, DC, emailAddress. Values are UTF-8 without control characters, not
 * empty, at most RFC 5280's upper bound (CN, O, OU: 64); C is two ASCII
 * letters (PrintableString), serialNumber is PrintableString, DC and
 * emailAddress IA5String, the rest UTF8String.
 *
 * SANs: "dns:NAME" (host name, optionally "*." first), "uri:URI" (a scheme
 * and printable ASCII, e.g. spiffe://example.org/gw01), "ip:ADDR" (IPv4 or
 * IPv6, inet_pton), "email:ADDR" (ASCII local@domain). Type names are
 * case-insensitive. */
#ifndef MTLS_PROVISION_NAMES_H
#define MTLS_PROVISION_NAMES_H

#include <stddef.h>
#include <stdint.h>

#define NAMES_TEXT_MAX 2048 /* longest subject or SAN text accepted */
#define NAMES_DN_MAX 320 /* a subject Name's DER, header included (wolfCrypt's bound) */
#define NAMES_ATTR_MAX 16 /* attributes in one subject */
#define NAMES_SAN_MAX 64 /* SANs in one request */
#define NAMES_SANS_DER_MAX 16000 /* GeneralNames DER (wolfCrypt's bound is 16384) */

/* Parse a subject into a DER Name (SEQUENCE OF RDN) in der (dersz bytes;
 * NAMES_DN_MAX is always enough). *derlen is the length written. */
int names_dn_parse(const char *text, uint8_t *der, size_t dersz, size_t *derlen);

/* Parse one SAN into a DER GeneralName. */
int names_san_parse(const char *text, uint8_t *der, size_t dersz, size_t *derlen);

/* Parse n SANs (at most NAMES_SAN_MAX) into a DER GeneralNames (SEQUENCE);
 * n == 0 gives *derlen 0. */
int names_sans_encode(
	const char *const *sans, size_t n, uint8_t *der, size_t dersz, size_t *derlen);

#endif
