/*
 * policy.c - what a job may touch (policy.h): the allow-lists parsed once
 * at start, and the checks of a job's sources and sinks and of savepoint
 * locations against them.
 *
 * Paths are compared after lexical normalization ("." and ".." folded, no
 * repeated or trailing "/"), so /data/out/../../etc is /etc. Symbolic
 * links are not followed: the JobManager does not see the TaskManagers'
 * file systems; a link inside an allowed directory is the operator's.
 */
#include "policy.h"

#include "jobspec.h"

#include "addr.h"
#include "err.h"
#include "mem.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Folds path (absolute) into out: no ".", "..", "//" or trailing "/". */
static void
jm_policy_fold(const char *path, char *out, size_t len)
{
	size_t n = 0;
	const char *p = path;
	out[0] = '\0';
	while (*p != '\0') {
		while (*p == '/')
			p++;
		const char *e = p;
		while (*e != '\0' && *e != '/')
			e++;
		size_t k = (size_t)(e - p);
		if (k == 0 || (k == 1 && p[0] == '.')) {
			/* nothing */
		} else if (k == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--; /* the "/" before it */
			out[n] = '\0';
		} else if (n + 1 + k < len) {
			out[n++] = '/';
			memcpy(out + n, p, k);
			n += k;
			out[n] = '\0';
		}
		p = e;
	}
	if (n == 0)
		snprintf(out, len, "/");
}

/* A location as compared: "/abs/dir" for a path or file:// URL, the URL
 * without trailing "/" for s3://. WR_EINVAL for anything relative. */
static int
jm_policy_norm(const char *in, char *out, size_t len)
{
	if (strncmp(in, "file://", 7) == 0)
		in += 7;
	if (in[0] == '/') {
		jm_policy_fold(in, out, len);
		return WR_OK;
	}
	if (strncmp(in, "s3://", 5) != 0 || in[5] == '\0' || in[5] == '/')
		return WR_EINVAL;
	snprintf(out, len, "%s", in);
	size_t n = strlen(out);
	while (n > 5 && out[n - 1] == '/')
		out[--n] = '\0';
	return WR_OK;
}

/* x lies in dir (both normalized). */
static bool
jm_policy_under(const char *x, const char *dir)
{
	size_t n = strlen(dir);
	if (strcmp(dir, "/") == 0)
		return x[0] == '/';
	return strncmp(x, dir, n) == 0 && (x[n] == '\0' || x[n] == '/');
}

/* Splits a comma-separated list into a new array of trimmed items; an
 * empty list gives none. WR_EINVAL: an empty item or too many. */
static int
jm_policy_split(const char *list, char (**out)[WR_URL_BYTES], size_t *n,
                size_t item_bytes)
{
	*out = NULL;
	*n = 0;
	if (list == NULL || list[strspn(list, " ")] == '\0')
		return WR_OK;
	char(*v)[WR_URL_BYTES] = wr_xcalloc(JM_POLICY_MAX_ITEMS, sizeof(*v));
	const char *p = list;
	for (;;) {
		const char *e = strchr(p, ',');
		size_t k = e ? (size_t)(e - p) : strlen(p);
		while (k > 0 && isspace((unsigned char)*p)) {
			p++;
			k--;
		}
		while (k > 0 && isspace((unsigned char)p[k - 1]))
			k--;
		if (k == 0 || k >= item_bytes || *n == JM_POLICY_MAX_ITEMS) {
			free(v);
			return WR_EINVAL;
		}
		memcpy(v[*n], p, k);
		v[(*n)++][k] = '\0';
		if (e == NULL)
			break;
		p = e + 1;
	}
	*out = v;
	return WR_OK;
}

/* Copies list (at most n items of WR_URL_BYTES) into items of
 * WR_ADDR_BYTES. */
static char (*jm_policy_narrow(char (*v)[WR_URL_BYTES],
                               size_t n))[WR_ADDR_BYTES]
{
	if (v == NULL)
		return NULL;
	char(*w)[WR_ADDR_BYTES] = wr_xcalloc(n, sizeof(*w));
	for (size_t i = 0; i < n; i++)
		snprintf(w[i], sizeof(w[i]), "%s", v[i]);
	free(v);
	return w;
}

int
jm_policy_init(jm_policy *p, const char *paths, const char *kafka,
               const char *hosts, char *errbuf, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	char(*v)[WR_URL_BYTES];
	size_t n;
	const char *bad = NULL;
	if (jm_policy_split(paths, &p->paths, &p->npaths, WR_URL_BYTES) !=
	    WR_OK)
		bad = "security.allowed_paths";
	for (size_t i = 0; bad == NULL && i < p->npaths; i++) {
		char norm[WR_URL_BYTES];
		if (jm_policy_norm(p->paths[i], norm, sizeof(norm)) != WR_OK) {
			snprintf(errbuf, errlen,
			         "security.allowed_paths: '%s' is neither an "
			         "absolute path nor an s3:// URL",
			         p->paths[i]);
			jm_policy_fini(p);
			return WR_EINVAL;
		}
		memcpy(p->paths[i], norm, sizeof(norm));
	}
	if (bad == NULL &&
	    jm_policy_split(kafka, &v, &n, WR_ADDR_BYTES) == WR_OK) {
		p->kafka = jm_policy_narrow(v, n);
		p->nkafka = n;
	} else if (bad == NULL) {
		bad = "security.allowed_kafka";
	}
	if (bad == NULL &&
	    jm_policy_split(hosts, &v, &n, WR_ADDR_BYTES) == WR_OK) {
		p->hosts = jm_policy_narrow(v, n);
		p->nhosts = n;
	} else if (bad == NULL) {
		bad = "security.allowed_hosts";
	}
	if (bad != NULL) {
		snprintf(errbuf, errlen,
		         "%s: an empty item, one too long, or more than %d "
		         "items",
		         bad, JM_POLICY_MAX_ITEMS);
		jm_policy_fini(p);
		return WR_EINVAL;
	}
	p->paths_text = wr_xstrdup(paths ? paths : "");
	p->kafka_text = wr_xstrdup(kafka ? kafka : "");
	p->hosts_text = wr_xstrdup(hosts ? hosts : "");
	return WR_OK;
}

void
jm_policy_fini(jm_policy *p)
{
	free(p->paths);
	free(p->kafka);
	free(p->hosts);
	free(p->paths_text);
	free(p->kafka_text);
	free(p->hosts_text);
	memset(p, 0, sizeof(*p));
}

int
jm_policy_check_url(const jm_policy *p, const char *what, const char *url,
                    char *errbuf, size_t errlen)
{
	if (p->npaths == 0)
		return WR_OK;
	char norm[WR_URL_BYTES];
	if (jm_policy_norm(url, norm, sizeof(norm)) != WR_OK) {
		snprintf(errbuf, errlen,
		         "%s '%s' must be an absolute path or an s3:// URL "
		         "while security.allowed_paths is set",
		         what, url);
		return WR_EPERM;
	}
	for (size_t i = 0; i < p->npaths; i++)
		if (jm_policy_under(norm, p->paths[i]))
			return WR_OK;
	snprintf(errbuf, errlen,
	         "%s '%s' is outside security.allowed_paths (%s)", what, norm,
	         p->paths_text);
	return WR_EPERM;
}

/* host matches entry: the same name (any case), or entry "*.d" and host
 * ending in ".d". */
static bool
jm_policy_host_match(const char *host, const char *entry)
{
	if (entry[0] == '*' && entry[1] == '.') {
		size_t h = strlen(host), e = strlen(entry + 1);
		return h > e && strcasecmp(host + h - e, entry + 1) == 0;
	}
	return strcasecmp(host, entry) == 0;
}

/* One bootstrap server "host:port" (a scheme prefix allowed) against the
 * list: an entry with a port must match it, one without any port. */
static bool
jm_policy_kafka_ok(const jm_policy *p, const char *server)
{
	char host[WR_ADDR_BYTES], ehost[WR_ADDR_BYTES];
	int port = -1, eport;
	if (wr_addr_split(server, host, sizeof(host), &port) != WR_OK)
		snprintf(host, sizeof(host), "%s", server);
	for (size_t i = 0; i < p->nkafka; i++) {
		if (wr_addr_split(p->kafka[i], ehost, sizeof(ehost), &eport) !=
		    WR_OK) {
			snprintf(ehost, sizeof(ehost), "%s", p->kafka[i]);
			eport = -1;
		}
		if (jm_policy_host_match(host, ehost) &&
		    (eport < 0 || eport == port))
			return true;
	}
	return false;
}

static bool
jm_policy_host_ok(const jm_policy *p, const char *host)
{
	for (size_t i = 0; i < p->nhosts; i++)
		if (jm_policy_host_match(host, p->hosts[i]))
			return true;
	return false;
}

/* Adds the host of one "host[:port]" or "[v6]:port" item of a libpq host
 * list; empty and Unix socket directories are "localhost". */
static size_t
jm_policy_pg_add(const char *item, size_t k, char (*out)[WR_ADDR_BYTES],
                 size_t n, size_t max)
{
	if (n >= max)
		return n;
	while (k > 0 && isspace((unsigned char)*item)) {
		item++;
		k--;
	}
	size_t h = k;
	if (k > 0 && item[0] == '[') {
		const char *rb = memchr(item, ']', k);
		item++;
		h = rb ? (size_t)(rb - item) : k - 1;
	} else {
		const char *colon = memchr(item, ':', k);
		if (colon != NULL)
			h = (size_t)(colon - item);
	}
	if (h == 0 || item[0] == '/' || h >= WR_ADDR_BYTES)
		snprintf(out[n], WR_ADDR_BYTES, "localhost");
	else
		snprintf(out[n], WR_ADDR_BYTES, "%.*s", (int)h, item);
	return n + 1;
}

/* Adds every host of a comma-separated libpq host list. */
static size_t
jm_policy_pg_list(const char *s, size_t len, char (*out)[WR_ADDR_BYTES],
                  size_t n, size_t max)
{
	const char *end = s + len;
	for (;;) {
		const char *c = memchr(s, ',', (size_t)(end - s));
		const char *e = c ? c : end;
		n = jm_policy_pg_add(s, (size_t)(e - s), out, n, max);
		if (c == NULL)
			return n;
		s = c + 1;
	}
}

/* The keyword form: host=... hostaddr=... (values quoted with '...'). */
static size_t
jm_policy_pg_keywords(const char *dsn, char (*out)[WR_ADDR_BYTES], size_t max)
{
	size_t n = 0;
	const char *p = dsn;
	char val[WR_URL_BYTES];
	while (*p != '\0') {
		while (isspace((unsigned char)*p))
			p++;
		const char *k = p;
		while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
			p++;
		size_t klen = (size_t)(p - k);
		while (isspace((unsigned char)*p))
			p++;
		if (*p != '=')
			break;
		p++;
		while (isspace((unsigned char)*p))
			p++;
		size_t v = 0;
		if (*p == '\'') {
			for (p++; *p != '\0' && *p != '\''; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (v + 1 < sizeof(val))
					val[v++] = *p;
			}
			if (*p == '\'')
				p++;
		} else {
			while (*p != '\0' && !isspace((unsigned char)*p)) {
				if (v + 1 < sizeof(val))
					val[v++] = *p;
				p++;
			}
		}
		val[v] = '\0';
		if ((klen == 4 && strncmp(k, "host", 4) == 0) ||
		    (klen == 8 && strncmp(k, "hostaddr", 8) == 0))
			n = jm_policy_pg_list(val, v, out, n, max);
	}
	return n;
}

/* The URI form: postgres[ql]://[user[:pw]@]hosts[/db][?host=...&...]. */
static size_t
jm_policy_pg_uri(const char *dsn, char (*out)[WR_ADDR_BYTES], size_t max)
{
	const char *p = strstr(dsn, "://") + 3;
	size_t hlen = strcspn(p, "/?");
	const char *at = NULL;
	for (size_t i = 0; i < hlen; i++)
		if (p[i] == '@')
			at = p + i;
	if (at != NULL) {
		hlen -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	size_t n = hlen > 0 ? jm_policy_pg_list(p, hlen, out, 0, max) : 0;
	const char *q = strchr(p, '?');
	while (q != NULL) {
		q++;
		size_t k = strcspn(q, "&");
		if ((k > 5 && strncmp(q, "host=", 5) == 0) ||
		    (k > 9 && strncmp(q, "hostaddr=", 9) == 0)) {
			const char *v = strchr(q, '=') + 1;
			n = jm_policy_pg_list(v, (size_t)(q + k - v), out, n,
			                      max);
		}
		q = q[k] == '&' ? q + k : NULL;
	}
	return n;
}

size_t
jm_policy_pg_hosts(const char *dsn, char (*out)[WR_ADDR_BYTES], size_t max)
{
	if (max == 0)
		return 0;
	size_t n = strncmp(dsn, "postgresql://", 13) == 0 ||
	                   strncmp(dsn, "postgres://", 11) == 0
	               ? jm_policy_pg_uri(dsn, out, max)
	               : jm_policy_pg_keywords(dsn, out, max);
	if (n == 0) {
		snprintf(out[0], WR_ADDR_BYTES, "localhost");
		n = 1;
	}
	return n;
}

/* A job's own Kafka bootstrap list against allowed_kafka. */
static int
jm_policy_check_bootstrap(const jm_policy *p, const char *list,
                          const char *where, char *errbuf, size_t errlen)
{
	char(*servers)[WR_URL_BYTES] = NULL;
	size_t n = 0;
	if (p->nkafka == 0 || list == NULL)
		return WR_OK;
	if (jm_policy_split(list, &servers, &n, WR_ADDR_BYTES) != WR_OK) {
		snprintf(errbuf, errlen, "%s: bad bootstrap list '%s'", where,
		         list);
		return WR_EPERM;
	}
	int rv = WR_OK;
	for (size_t i = 0; i < n && rv == WR_OK; i++)
		if (!jm_policy_kafka_ok(p, servers[i])) {
			snprintf(errbuf, errlen,
			         "%s: Kafka server '%s' is not in "
			         "security.allowed_kafka (%s)",
			         where, servers[i], p->kafka_text);
			rv = WR_EPERM;
		}
	free(servers);
	return rv;
}

static int
jm_policy_check_dsn(const jm_policy *p, const char *dsn, const char *where,
                    char *errbuf, size_t errlen)
{
	char hosts[8][WR_ADDR_BYTES];
	if (p->nhosts == 0 || dsn == NULL)
		return WR_OK;
	size_t n = jm_policy_pg_hosts(dsn, hosts, 8);
	for (size_t i = 0; i < n; i++)
		if (!jm_policy_host_ok(p, hosts[i])) {
			snprintf(errbuf, errlen,
			         "%s: database host '%s' is not in "
			         "security.allowed_hosts (%s)",
			         where, hosts[i], p->hosts_text);
			return WR_EPERM;
		}
	return WR_OK;
}

/* The host of an http(s) URL: after "://" and any "user@", up to the port
 * or path; "[v6]" without brackets. Empty when there is none. */
void
jm_policy_url_host(const char *url, char *out, size_t len)
{
	const char *p = strstr(url, "://");
	p = p ? p + 3 : url;
	size_t end = strcspn(p, "/?#");
	const char *at = memchr(p, '@', end);
	if (at != NULL) {
		end -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	size_t h = end;
	if (end > 0 && p[0] == '[') {
		const char *rb = memchr(p, ']', end);
		p++;
		h = rb ? (size_t)(rb - p) : end - 1;
	} else {
		const char *colon = memchr(p, ':', end);
		if (colon != NULL)
			h = (size_t)(colon - p);
	}
	snprintf(out, len, "%.*s", h < len ? (int)h : 0, p);
}

/* The ClickHouse sink's URL against allowed_hosts. */
static int
jm_policy_check_http(const jm_policy *p, const char *url, const char *where,
                     char *errbuf, size_t errlen)
{
	char host[WR_ADDR_BYTES];
	if (p->nhosts == 0 || url == NULL)
		return WR_OK;
	jm_policy_url_host(url, host, sizeof(host));
	if (host[0] != '\0' && jm_policy_host_ok(p, host))
		return WR_OK;
	snprintf(errbuf, errlen,
	         "%s: ClickHouse host '%s' is not in security.allowed_hosts "
	         "(%s)",
	         where, host, p->hosts_text);
	return WR_EPERM;
}

/* One node's sources and sinks. */
static int
jm_policy_check_node(const jm_policy *p, const wr_jobspec *spec,
                     const wr_node_spec *nd, char *errbuf, size_t errlen)
{
	char where[WR_URL_BYTES + 64], why[WR_URL_BYTES * 2];
	snprintf(where, sizeof(where), "%s:%d:%d: node '%s'", spec->file,
	         nd->line, nd->col, nd->id);
	int rv = WR_OK;
	if (nd->kind == WR_NODE_SOURCE) {
		const wr_source_spec *s = &nd->source;
		rv = jm_policy_check_bootstrap(p, s->bootstrap, where, errbuf,
		                               errlen);
		if (rv == WR_OK && s->path != NULL &&
		    (rv = jm_policy_check_url(p, "file source", s->path, why,
		                              sizeof(why))) != WR_OK)
			snprintf(errbuf, errlen, "%s: %s", where, why);
	} else if (nd->kind == WR_NODE_SINK) {
		const wr_sink_spec *s = &nd->sink;
		rv = jm_policy_check_bootstrap(p, s->bootstrap, where, errbuf,
		                               errlen);
		if (rv == WR_OK)
			rv = jm_policy_check_dsn(p, s->dsn, where, errbuf,
			                         errlen);
		if (rv == WR_OK)
			rv = jm_policy_check_http(p, s->url, where, errbuf,
			                          errlen);
		if (rv == WR_OK && s->kind == WR_SINK_FILE && s->path != NULL &&
		    (rv = jm_policy_check_url(p, "file sink path", s->path, why,
		                              sizeof(why))) != WR_OK)
			snprintf(errbuf, errlen, "%s: %s", where, why);
	}
	return rv;
}

int
jm_policy_check_job(const jm_policy *p, const wr_jobspec *spec, char *errbuf,
                    size_t errlen)
{
	for (size_t i = 0; i < spec->nnodes; i++) {
		int rv = jm_policy_check_node(p, spec, &spec->nodes[i], errbuf,
		                              errlen);
		if (rv != WR_OK)
			return rv;
	}
	return WR_OK;
}
