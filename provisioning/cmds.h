/* mtls-provision's commands: one function per command word, each in its
 * own file, each taking the arguments after the command word (argv[0] is
 * the command word) and returning the exit code: 0 success, 1 operational
 * failure, 2 usage or configuration error. Every error names what failed
 * and what to do about it, on stderr. */
#ifndef MTLS_PROVISION_CMDS_H
#define MTLS_PROVISION_CMDS_H

int cmd_tokens(int argc, char **argv); /* tokens.c */
int cmd_keygen(int argc, char **argv); /* keygen.c */
int cmd_status(int argc, char **argv); /* status.c */
int cmd_doctor(int argc, char **argv); /* doctor.c */
int cmd_csr(int argc, char **argv); /* csr_cmd.c */
int cmd_import(int argc, char **argv); /* import.c */
int cmd_ca(int argc, char **argv); /* ca.c */
int cmd_enroll(int argc, char **argv); /* enroll.c */
int cmd_renew(int argc, char **argv); /* renew.c */

#endif
