/* Internal to the bridge: what admin.c needs from token.c beyond bridge.h.
 * PKCS#11 types may appear here, never in include/. */
#ifndef MTLS_ADMIN_INT_H
#define MTLS_ADMIN_INT_H

#include "bridge.h"

/* A new read-write session on the token (for creating and destroying
 * objects), logged in like the pool's sessions (one attempt; PIN errors
 * remembered). Outside the pool's limit. Give it back with
 * token_discard(), which closes it. */
int token_acquire_rw(struct p11_token *tok, struct p11_session *s);

/* Is a login wanted (a PIN source or a PIN pad), and is the token logged
 * in now? Read under the token's lock. */
void token_login_state(struct p11_token *tok, int *want, int *logged_in);

#endif
