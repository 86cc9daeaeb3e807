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

/* Connecting without blocking (the caller keeps the deadline): start
 * with net_dial_start (getaddrinfo, then the first address), wait until
 * net_dial_fd is writable, then call net_dial_continue: 0 with *fd
 * connected (owned by the caller), MTLS_ERR_AGAIN to wait again (on the
 * same or, after a refusal, the next address's socket), or an error naming
 * the address. net_dial_free closes an attempt in progress. On an error
 * from net_dial_start, *d may still need net_dial_free. */
struct net_dial;
int net_dial_start(const char *addr, struct net_dial **d);
int net_dial_fd(const struct net_dial *d);
int net_dial_continue(struct net_dial *d, int *fd);
void net_dial_free(struct net_dial *d);

/* Split "HOST:PORT" / "[V6]:PORT" into host and port strings. Returns 0,
 * or MTLS_ERR_CONFIG naming what is wrong. unix: addresses give host =
 * the path and port = "". */
int net_split(const char *addr, char *host, unsigned hostlen, char *port, unsigned portlen);

#endif
