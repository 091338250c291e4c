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
 * The local IP address this host uses to reach host:port (a UDP socket is
 * "connected" to it, which sends nothing, and getsockname tells the source
 * address the kernel chose). Written as text into out. Returns WR_OK or an
 * error when there is no route.
 */
int wr_addr_local_ip_toward(const char *host, int port, char *out,
                            size_t outlen);

#endif
