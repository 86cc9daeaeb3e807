/* systemd notifications and socket activation through libsystemd. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <systemd/sd-daemon.h>

#include "mtls/log.h"
#include "net.h"
#include "sd.h"

#define SD_MAX_FDS 256

static struct {
	int fd;
	char name[256];
} passed[SD_MAX_FDS];
static int npassed;

void sd_activation_init(void)
{
	char **names = NULL;
	int n, i;

	n = sd_listen_fds_with_names(1, &names);
	if (n < 0)
		mtls_log(MTLS_LOG_WARNING, "socket activation: %s", strerror(-n));
	for (i = 0; i < n; i++) {
		if (sd_is_socket(SD_LISTEN_FDS_START + i, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			mtls_log(MTLS_LOG_WARNING,
				"socket activation: passed fd %d (name '%s') is not a listening "
				"stream socket; closed (ListenStream= is what a tunnel needs)",
				SD_LISTEN_FDS_START + i, names && names[i] ? names[i] : "");
			close(SD_LISTEN_FDS_START + i);
		} else if (npassed < SD_MAX_FDS) {
			passed[npassed].fd = SD_LISTEN_FDS_START + i;
			snprintf(passed[npassed].name, sizeof(passed[npassed].name), "%s",
				names && names[i] ? names[i] : "");
			npassed++;
		} else {
			close(SD_LISTEN_FDS_START + i);
		}
	}
	for (i = 0; names != NULL && names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

static int take(int i)
{
	int fd = passed[i].fd;

	passed[i] = passed[--npassed];
	(void)net_prepare_listener(fd);
	return fd;
}

int sd_activation_take(const char *name, const char *addr)
{
	int i;

	for (i = 0; i < npassed; i++)
		if (name != NULL && strcmp(passed[i].name, name) == 0)
			return take(i);
	for (i = 0; i < npassed; i++)
		if (net_fd_is_bound_to(passed[i].fd, addr))
			return take(i);
	return -1;
}

void sd_activation_close_unused(void)
{
	while (npassed > 0) {
		npassed--;
		mtls_log(MTLS_LOG_WARNING,
			"socket activation: passed socket %d (name '%s') matches no tunnel; "
			"closed (name it after a tunnel with FileDescriptorName=, or listen on "
			"a tunnel's address)",
			passed[npassed].fd, passed[npassed].name);
		close(passed[npassed].fd);
	}
}

/* A STATE line and a STATUS= line; the status is made one clean line. */
static void notify(const char *state, const char *status)
{
	char msg[600], clean[512];

	mtls_log_clean(clean, sizeof(clean), status ? status : "", sizeof(clean));
	snprintf(msg, sizeof(msg), "%s%sSTATUS=%s", state, state[0] ? "\n" : "", clean);
	(void)sd_notify(0, msg);
}

void sd_ready(const char *status)
{
	notify("READY=1", status);
}

void sd_reloading(void)
{
	struct timespec ts;
	char msg[128];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
		(unsigned long long)ts.tv_sec * 1000000ull +
			(unsigned long long)ts.tv_nsec / 1000u);
	(void)sd_notify(0, msg);
}

void sd_stopping(const char *status)
{
	notify("STOPPING=1", status);
}

void sd_status(const char *status)
{
	notify("", status);
}

uint64_t sd_watchdog_ms(void)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	return usec / 1000u ? usec / 1000u : 1;
}

void sd_watchdog_ping(void)
{
	(void)sd_notify(0, "WATCHDOG=1");
}
