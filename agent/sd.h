/* systemd integration: readiness and status notifications, the watchdog,
 * and sockets passed by socket activation. Every call is a no-op when the
 * agent was not started by systemd (no $NOTIFY_SOCKET, no $LISTEN_FDS), so
 * the agent behaves the same from a shell. */
#ifndef MTLS_AGENT_SD_H
#define MTLS_AGENT_SD_H

#include <stdint.h>

/* Take the sockets systemd passed ($LISTEN_FDS, $LISTEN_FDNAMES) and clear
 * those variables. Call once, before any listener is made. */
void sd_activation_init(void);

/* A passed socket for a tunnel: the one whose FileDescriptorName= equals
 * name, else the one bound to the same address as addr. Returns the fd
 * (now owned by the caller) or -1 when none matches. */
int sd_activation_take(const char *name, const char *addr);

/* Passed sockets no tunnel took: logged and closed. */
void sd_activation_close_unused(void);

/* READY=1 with a STATUS= line (also after a reload). */
void sd_ready(const char *status);
/* RELOADING=1 (with MONOTONIC_USEC=, as Type=notify-reload expects). */
void sd_reloading(void);
/* STOPPING=1 with a STATUS= line. */
void sd_stopping(const char *status);
void sd_status(const char *status);

/* The watchdog period in ms when systemd asked for one ($WATCHDOG_USEC
 * for this pid), else 0. */
uint64_t sd_watchdog_ms(void);
void sd_watchdog_ping(void);

#endif
