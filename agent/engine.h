/* The tunnel engine: listeners, a pool of handshake workers behind a
 * bounded queue, and one event loop that carries the bytes of established
 * tunnels. Handshakes (which wait for the token) run only in the workers,
 * so a slow token never stalls the data of established tunnels. */
#ifndef MTLS_AGENT_ENGINE_H
#define MTLS_AGENT_ENGINE_H

#include "config.h"

struct engine;

/* Start the signer with every tunnel's key, build each tunnel's TLS side
 * and listener (or take the socket systemd passed for it). The engine
 * takes cfg over (freed even on failure). reload_path: the config file to
 * read again on SIGHUP; NULL (command line): SIGHUP reloads certificates
 * and trust files only. */
int engine_new(struct cfg_agent *cfg, const char *reload_path, struct engine **out);

/* Serve until SIGTERM or SIGINT, then stop accepting and let established
 * tunnels finish (at most drain-timeout) before returning 0. Tells systemd
 * READY/RELOADING/STOPPING/STATUS and feeds its watchdog when asked to. */
int engine_run(struct engine *e);

/* Close everything; NULL is a no-op. */
void engine_free(struct engine *e);

#endif
