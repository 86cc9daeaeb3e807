/* mtls-notify: the receiving end of systemd's notification protocol, for
 * tests. Binds a unix datagram socket at PATH (give it to the agent as
 * $NOTIFY_SOCKET) and prints every field of every datagram as one line,
 * "MS FIELD=VALUE", MS being milliseconds since the start. Flushes each
 * line. Runs until SIGTERM or for at most --seconds (default 120).
 *
 *   mtls-notify --socket PATH [--seconds S] */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	const char *path = NULL;
	char buf[4097], *line, *save;
	struct timespec t0;
	long seconds = 120;
	struct pollfd p;
	ssize_t n;
	int i, fd;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--socket") == 0)
			path = argv[i + 1];
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = strtol(argv[i + 1], NULL, 10);
	}
	if (path == NULL || i != argc || seconds <= 0 || strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: mtls-notify --socket PATH [--seconds S]\n");
		return 2;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	(void)unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		fprintf(stderr, "mtls-notify: %s: %s\n", path, strerror(errno));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	printf("listening %s\n", path);
	fflush(stdout);
	p.fd = fd;
	p.events = POLLIN;
	while (ms_since(&t0) < seconds * 1000L) {
		if (poll(&p, 1, 200) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			printf("%ld %s\n", ms_since(&t0), line);
		fflush(stdout);
	}
	(void)unlink(path);
	return 0;
}
