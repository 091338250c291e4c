/*
 * addr.h - network address strings: "tcp://host:port", "host:port",
 * "[::1]:port", and the choice of which local address to advertise.
 */
#ifndef WR_ADDR_H
#define WR_ADDR_H

#include <stddef.h>

#include "wr_limits.h"

/*
 * Splits addr into host and port. Accepts an optional "scheme://" prefix
 * (skipped) and IPv6 hosts in brackets (brackets removed). Returns WR_OK or
 * WR_EINVAL (no port, port out of range, host too long).
 */
int wr_addr_split(const char *addr, char *host, size_t hostlen, int *port);

/*
 * Splits a comma-separated list of RPC addresses ("tcp://a:1, b:2") into
 * out (at most max, each WR_ADDR_BYTES): spaces around items dropped, a
 * bare host:port written tcp://host:port. Returns how many were given,
 * which may exceed max (the extra ones are not stored).
 */
size_t wr_addr_list_split(const char *list, char (*out)[WR_ADDR_BYTES],
                          size_t max);

/* True for "0.0.0.0", "::", "*" and "": addresses that mean "all". */
int wr_addr_is_wildcard(const char *host);

/*
 * True when host (an IP or a name, resolved) means this host's loopback
 * only: 127.0.0.0/8, ::1, "localhost". False for a wildcard, any other
 * address, and a name that does not resolve.
 */
int wr_addr_is_loopback(const char *host);

/* Writes "tcp://host:port" into out, the host in brackets when it is an
 * IPv6 address. */
void wr_addr_tcp_url(const char *host, int port, char *out, size_t outlen);

/*
 * The RPC URL others dial for an advertised address adv: "host",
 * "host:port", "[v6]:port" or "tcp://host:port" (no port: the one the
 * listener bound, bound_port). Written as tcp://host:port into out.
 * Returns WR_OK, or WR_EINVAL for an empty or wildcard host, another
 * scheme or a bad port.
 */
int wr_addr_advertised_url(const char *adv, int bound_port, char *out,
                           size_t outlen);

/*
 * Checks that in is one host: a name, an IPv4 address or an IPv6 one
 * (bare or in brackets), without scheme or port, not a wildcard. Writes
 * it without brackets into host. Returns WR_OK or WR_EINVAL.
 */
int wr_addr_host_only(const char *in, char *host, size_t hostlen);

/*
 * Tries a TCP connection to host:port for at most timeout_ms (each
 * address the name resolves to in turn, within that time) and closes it.
 * Returns WR_OK when one connected or the name does not resolve (left to
 * the caller's own dial to report), WR_ECONNREFUSED when refused, else
 * WR_EUNREACHABLE (no route, or no answer in time: a host that is down).
 */
int wr_addr_probe_tcp(const char *host, int port, int timeout_ms);

/*
 * True when two addresses name the same endpoint as written: the same
 * port and the same host, compared without case, with or without
 * "tcp://" (a name and its IP are not the same: nothing is resolved).
 */
int wr_addr_same(const char *a, const char *b);

/*
 * The local IP address this host uses to reach host:port (a UDP socket is
 * "connected" to it, which sends nothing, and getsockname tells the source
 * address the kernel chose). Written as text into out. Returns WR_OK or an
 * error when there is no route.
 */
int wr_addr_local_ip_toward(const char *host, int port, char *out,
                            size_t outlen);

#endif
