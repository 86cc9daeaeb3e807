/* Sockets for the agent: listen and connect by the address forms the
 * configuration allows ("HOST:PORT", "[V6]:PORT", "unix:/path"). All sockets
 * are non-blocking and close-on-exec. */
#ifndef MTLS_AGENT_NET_H
#define MTLS_AGENT_NET_H

/* A listening socket on addr (backlog 1024). *fd is owned by the caller. */
int net_listen(const char *addr, int *fd);

/* A socket passed in by systemd: made non-blocking and close-on-exec. */
int net_prepare_listener(int fd);

/* 1 if listening socket fd is bound to the address addr names (same
 * family, address and port, or the same unix path), else 0. */
int net_fd_is_bound_to(int fd, const char *addr);

/* Connect to addr within timeout_ms (each address getaddrinfo returns is
 * tried in turn). Blocks the calling thread: call from a worker. */
int net_connect(const char *addr, unsigned timeout_ms, int *fd);

/* Split "HOST:PORT" / "[V6]:PORT" into host and port strings. Returns 0,
 * or MTLS_ERR_CONFIG naming what is wrong. unix: addresses give host =
 * the path and port = "". */
int net_split(const char *addr, char *host, unsigned hostlen, char *port, unsigned portlen);

#endif
