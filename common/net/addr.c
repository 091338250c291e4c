/*
 * addr.c - network address strings and the choice of the local address to
 * advertise (addr.h).
 */
#include "addr.h"

#include "clock.h"
#include "err.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

int
wr_addr_split(const char *addr, char *host, size_t hostlen, int *port)
{
	const char *p = strstr(addr, "://");
	p = p ? p + 3 : addr;
	const char *colon;
	const char *h = p;
	size_t hn;
	if (*p == '[') {
		const char *rb = strchr(p, ']');
		if (rb == NULL || rb[1] != ':')
			return WR_EINVAL;
		h = p + 1;
		hn = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(p, ':');
		if (colon == NULL)
			return WR_EINVAL;
		hn = (size_t)(colon - p);
	}
	if (hn + 1 > hostlen)
		return WR_EINVAL;
	char *end;
	errno = 0;
	long v = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || v < 0 ||
	    v > 65535)
		return WR_EINVAL;
	memcpy(host, h, hn);
	host[hn] = '\0';
	*port = (int)v;
	return WR_OK;
}

int
wr_addr_is_wildcard(const char *host)
{
	return host[0] == '\0' || strcmp(host, "0.0.0.0") == 0 ||
	       strcmp(host, "::") == 0 || strcmp(host, "*") == 0;
}

/* 127.0.0.0/8, ::1 and ::ffff:127.x.y.z. */
static bool
wr_addr_sockaddr_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	const struct in6_addr *a6 =
	    &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_LOOPBACK(a6))
		return true;
	return IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127;
}

int
wr_addr_is_loopback(const char *host)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	if (wr_addr_is_wildcard(host))
		return false;
	if (getaddrinfo(host, NULL, &hints, &ai) != 0 || ai == NULL)
		return false;
	bool all = true;
	for (const struct addrinfo *a = ai; a != NULL; a = a->ai_next)
		all = all && wr_addr_sockaddr_loopback(a->ai_addr);
	freeaddrinfo(ai);
	return all;
}

void
wr_addr_tcp_url(const char *host, int port, char *out, size_t outlen)
{
	bool v6 = strchr(host, ':') != NULL;
	snprintf(out, outlen, "tcp://%s%s%s:%d", v6 ? "[" : "", host,
	         v6 ? "]" : "", port);
}

/* Splits "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 host
 * into host and port (-1 when absent). */
static int
wr_addr_split_opt_port(const char *p, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(p, ':');
	*port = -1;
	if (*p == '[') {
		const char *rb = strchr(p, ']');
		if (rb == NULL || (rb[1] != '\0' && rb[1] != ':'))
			return WR_EINVAL;
		if (rb[1] == ':')
			return wr_addr_split(p, host, hostlen, port);
		size_t hn = (size_t)(rb - p - 1);
		if (hn + 1 > hostlen)
			return WR_EINVAL;
		memcpy(host, p + 1, hn);
		host[hn] = '\0';
		return WR_OK;
	}
	if (colon != NULL && strchr(p, ':') == colon)
		return wr_addr_split(p, host, hostlen, port);
	/* no colon, or several: a host alone (a bare IPv6 address) */
	if (strlen(p) + 1 > hostlen)
		return WR_EINVAL;
	snprintf(host, hostlen, "%s", p);
	return WR_OK;
}

int
wr_addr_advertised_url(const char *adv, int bound_port, char *out,
                       size_t outlen)
{
	char host[WR_ADDR_BYTES];
	int port;
	const char *p = adv;
	if (strstr(adv, "://") != NULL) {
		if (strncmp(adv, "tcp://", 6) != 0)
			return WR_EINVAL;
		p = adv + 6;
	}
	if (wr_addr_split_opt_port(p, host, sizeof(host), &port) != WR_OK ||
	    wr_addr_is_wildcard(host) || port == 0 ||
	    strpbrk(host, "/ ,[]") != NULL)
		return WR_EINVAL;
	wr_addr_tcp_url(host, port < 0 ? bound_port : port, out, outlen);
	return WR_OK;
}

int
wr_addr_host_only(const char *in, char *host, size_t hostlen)
{
	int port;
	if (strstr(in, "://") != NULL ||
	    wr_addr_split_opt_port(in, host, hostlen, &port) != WR_OK ||
	    port >= 0 || wr_addr_is_wildcard(host) ||
	    strpbrk(host, "/ ,[]") != NULL)
		return WR_EINVAL;
	return WR_OK;
}

/* errno of a non-blocking connect to a, waited for until deadline (0:
 * connected). */
static int
wr_addr_connect_errno(const struct addrinfo *a, int64_t deadline)
{
	int fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errno;
	int e = 0;
	if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
		e = errno;
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		int64_t left = deadline - wr_mono_ms();
		socklen_t len = sizeof(e);
		if (e == EINPROGRESS) {
			if (left <= 0 || poll(&p, 1, (int)left) != 1 ||
			    getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) != 0)
				e = ETIMEDOUT;
		}
	}
	close(fd);
	return e;
}

int
wr_addr_probe_tcp(const char *host, int port, int timeout_ms)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (getaddrinfo(host, portstr, &hints, &ai) != 0 || ai == NULL)
		return WR_OK;
	int64_t deadline = wr_mono_ms() + timeout_ms;
	int e = ETIMEDOUT;
	for (const struct addrinfo *a = ai; a != NULL && e != 0; a = a->ai_next)
		e = wr_addr_connect_errno(a, deadline);
	freeaddrinfo(ai);
	if (e == 0)
		return WR_OK;
	return e == ECONNREFUSED ? WR_ECONNREFUSED : WR_EUNREACHABLE;
}

int
wr_addr_same(const char *a, const char *b)
{
	char ha[WR_ADDR_BYTES], hb[WR_ADDR_BYTES];
	int pa, pb;
	if (wr_addr_split(a, ha, sizeof(ha), &pa) != WR_OK ||
	    wr_addr_split(b, hb, sizeof(hb), &pb) != WR_OK)
		return strcmp(a, b) == 0;
	return pa == pb && strcasecmp(ha, hb) == 0;
}

int
wr_addr_local_ip_toward(const char *host, int port, char *out, size_t outlen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM};
	struct addrinfo *ai = NULL;
	char portstr[16];
	int rv = WR_EUNREACHABLE;
	snprintf(portstr, sizeof(portstr), "%d", port ? port : 9);
	if (getaddrinfo(host, portstr, &hints, &ai) != 0 || ai == NULL)
		return WR_EUNREACHABLE;
	int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (fd < 0) {
		rv = wr_err_from_errno(errno);
		goto free_ai;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		rv = wr_err_from_errno(errno);
		goto close_fd;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, out, (socklen_t)outlen,
	                NULL, 0, NI_NUMERICHOST) != 0) {
		rv = WR_EUNREACHABLE;
		goto close_fd;
	}
	rv = WR_OK;
close_fd:
	close(fd);
free_ai:
	freeaddrinfo(ai);
	return rv;
}

size_t
wr_addr_list_split(const char *list, char (*out)[WR_ADDR_BYTES], size_t max)
{
	size_t k = 0;
	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, ",");
		const char *a = p;
		size_t len = n;
		while (len > 0 && *a == ' ') {
			a++;
			len--;
		}
		while (len > 0 && a[len - 1] == ' ')
			len--;
		if (len > 0 && k < max) {
			bool bare = memmem(a, len, "://", 3) == NULL;
			snprintf(out[k], WR_ADDR_BYTES, "%s%.*s",
			         bare ? "tcp://" : "", (int)len, a);
		}
		k += len > 0;
		p += n + (p[n] == ',');
	}
	return k;
}
