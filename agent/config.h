/* mtls-agent configuration: the model every part of the agent reads, built
 * either from a config file (INI, one [tunnel NAME] section per tunnel plus
 * an [agent] section) or from the one-tunnel command line. */
#ifndef MTLS_AGENT_CONFIG_H
#define MTLS_AGENT_CONFIG_H

#include <stddef.h>

#define CFG_MAX_TUNNELS 256
#define CFG_MAX_RULES 64

enum tunnel_mode {
	TUNNEL_CLIENT = 1, /* plaintext listener -> mTLS to target */
	TUNNEL_SERVER, /* mTLS listener -> plaintext to target */
};

/* Who may connect (server) or whom we accept as server (client, in addition
 * to the name check). A peer is allowed if any rule matches; with no rules
 * a server refuses everybody unless allow_all is set. */
struct cfg_allow {
	char *cn[CFG_MAX_RULES]; /* subject CN, exact */
	size_t ncn;
	char *dns[CFG_MAX_RULES]; /* DNS SAN, exact (case-insensitive) */
	size_t ndns;
	char *uri[CFG_MAX_RULES]; /* URI SAN, exact (e.g. spiffe://example.org/gw) */
	size_t nuri;
	char *ou[CFG_MAX_RULES]; /* subject OU, exact */
	size_t nou;
	unsigned char spki[CFG_MAX_RULES][32]; /* SHA-256 of the SubjectPublicKeyInfo */
	size_t nspki;
	int all; /* allow any peer with a valid chain */
};

struct cfg_tunnel {
	char *name; /* section name or "cli" */
	enum tunnel_mode mode;
	char *listen; /* "HOST:PORT", "[V6]:PORT" or "unix:/path" */
	char *target; /* "HOST:PORT" or "unix:/path" */
	char *key_uri; /* RFC 7512 URI of the private key */
	char *cert; /* PEM file with our certificate (and chain), or a pkcs11: URI */
	char *chain; /* optional extra PEM chain file */
	char *cacert; /* PEM trust anchors for the peer */
	char *crl; /* optional PEM/DER CRL file, reloaded when it changes */
	char *server_name; /* client: name to verify and send as SNI (default: target host) */
	int tls_min; /* 12 or 13; default 13 */
	int tls_max; /* 12 or 13; default 13 */
	struct cfg_allow allow;
	unsigned connect_timeout_ms; /* default 10000 */
	unsigned handshake_timeout_ms; /* default 10000 */
	unsigned idle_timeout_ms; /* 0 = none; default 0 */
	unsigned max_connections; /* default 1024 */
	/* default 0: a client offers its newest session, a server issues
	 * tickets; 1 (session-resume = no): every handshake is a full one */
	int session_resume_off;
	/* Plaintext legs stay on this machine unless these say otherwise (as
	 * ghostunnel's --unsafe-listen/--unsafe-target): a client's listen and
	 * a server's target must be loopback or unix: addresses by default. */
	int unsafe_listen; /* client: listen on a non-loopback address */
	int unsafe_target; /* server: forward to a non-loopback target */
};

struct cfg_agent {
	char *pin_file; /* PIN sources, as in struct p11_options */
	char *pin_credential;
	int allow_pin_value; /* only settable in a config file */
	int signer_in_process; /* default 0: separate signer process */
	/* default 0: the data plane sandboxes itself (sandbox.h); always off
	 * with an in-process signer, whose module needs what the sandbox
	 * forbids */
	int sandbox_off;
	unsigned handshake_workers; /* default 4 */
	unsigned handshake_queue; /* pending handshakes before refusing; default 64 */
	unsigned drain_timeout_ms; /* SIGTERM: wait this long for tunnels to end; default 10000 */
	char *metrics_listen; /* "127.0.0.1:9100" or "unix:/path"; NULL = off */
	int log_level; /* 0..7, default 5 (notice) */
	struct cfg_tunnel *tunnels[CFG_MAX_TUNNELS];
	size_t ntunnels;
	char *source; /* file the config came from, or "command line" */
};

/* Parse a config file. Errors name the file, the line and the option and
 * say what is expected (MTLS_ERR_CONFIG, detail in mtls_err_detail()).
 * Every tunnel is validated (cfg_check). *out: free with cfg_free(). */
int cfg_load_file(const char *path, struct cfg_agent **out);

/* Parse "client|server --listen ... --target ... --key ... --cert ...
 * --cacert ... [options]" (argv[0] is the mode word). Same checks. */
int cfg_from_args(int argc, char **argv, struct cfg_agent **out);

/* Check one parsed config: required options present, addresses parse,
 * files readable, TLS versions sane, a server with no allow rule and no
 * allow-all refused. Touches no token. */
int cfg_check(const struct cfg_agent *cfg);

void cfg_free(struct cfg_agent *cfg);

#endif
