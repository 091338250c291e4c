/*
 * addr.c - network address strings and the choice of the local address to
 * advertise (addr.h).
 */
#include "addr.h"

#include "err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
