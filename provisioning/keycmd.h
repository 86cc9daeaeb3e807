/* What the commands that work on a token key share (tokens, keygen, status,
 * doctor): the PIN options, error reports, exit codes, hex and JSON text. */
#ifndef MTLS_PROVISION_KEYCMD_H
#define MTLS_PROVISION_KEYCMD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "mtls/p11.h"

/* getopt_long codes of the PIN options, shared by every command. */
#define KEYCMD_OPT_PIN_FILE 0x100
#define KEYCMD_OPT_PIN_CREDENTIAL 0x101
#define KEYCMD_PIN_USAGE "[--pin-file FILE | --pin-credential NAME]"

/* Take a PIN option into opt (c is getopt_long's answer). Returns 1 if c
 * was one, 0 if not, -1 (after a message) if both sources are given. */
int keycmd_pin_option(const char *cmd, int c, const char *arg, struct p11_options *opt);

/* Exit code for a project error: 2 for usage and configuration (URI,
 * argument, PIN source, configuration), else 1; 0 for 0. */
int keycmd_exit(int rc);

/* "mtls-provision CMD: WHAT: <strerror>: <detail>" on stderr; returns
 * keycmd_exit(rc). */
int keycmd_fail(const char *cmd, const char *what, int rc);

/* Reset getopt for a command's own argv (argv[0] is the command word) and
 * silence its messages: commands report bad options themselves. */
void keycmd_getopt_reset(void);

struct option;
/* getopt_long without abbreviations (--lab is not --label: scripts outlive
 * option lists): an abbreviated option comes back as '?'. */
int keycmd_getopt(int argc, char **argv, const struct option *opts);
/* "mtls-provision CMD: unknown option or missing argument: ARG" + usage
 * hint; returns 2. */
int keycmd_bad_option(const char *cmd, int argc, char **argv);

/* Hex text (lower case) of v into out; cut if out is short. */
void keycmd_hex(char *out, size_t outlen, const uint8_t *v, size_t len);
/* Parse hex (an optional "0x", pairs of digits, ':' allowed between bytes)
 * into out (max bytes). Returns 0 or -1. */
int keycmd_unhex(const char *s, uint8_t *out, size_t max, size_t *len);

/* Print s as a JSON string (quotes, escapes; bytes >= 0x80 copied as they
 * are only if they form valid UTF-8, else shown as \ufffd). */
void keycmd_json_str(FILE *f, const char *s);

/* Copy s into out, replacing control bytes with '?' (for text output of
 * strings from certificates and tokens). */
void keycmd_clean(char *out, size_t outlen, const char *s);

#endif
