/*
 * objstore_s3.c - the s3:// backend of objstore.h: S3 or an
 * S3-compatible server over libcurl.
 *
 * One libcurl easy handle per store, kept between requests so that the
 * connection is reused. libcurl signs with SigV4 itself; the payload is
 * sent as UNSIGNED-PAYLOAD (libcurl 7.88 cannot hash a streamed body, and
 * TLS protects it on AWS). ListObjectsV2 replies are scanned for the few
 * elements we need rather than parsed as XML.
 */
#include "objstore.h"

#include "buf.h"
#include "err.h"
#include "mem.h"
#include "objstore_int.h"
#include "wr_limits.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct wr_s3 {
	wr_objstore base; /* first: a wr_objstore * points at it */
	char *bucket;
	char *prefix;   /* "" or "a/b" (no trailing '/') */
	char *base_url; /* "http://host:port/bucket" or "https://b.s3.r..." */
	char *userpwd;  /* "key:secret" */
	char *sigv4;    /* "aws:amz:REGION:s3" */
	char *token;    /* "x-amz-security-token: ..." or NULL */
	long list_max_keys; /* 0: the server's default (1,000) */
	CURL *curl;         /* created on the first request */
};

static pthread_once_t wr_s3_once = PTHREAD_ONCE_INIT;
static CURLcode wr_s3_global_rv;

static struct wr_s3 *
wr_s3_of(wr_objstore *s)
{
	return (struct wr_s3 *)s;
}

static void
wr_s3_global_init(void)
{
	wr_s3_global_rv = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *
wr_s3_getenv(const char *a, const char *b)
{
	const char *v = getenv(a);
	if ((v == NULL || v[0] == '\0') && b != NULL)
		v = getenv(b);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Percent-encodes s as SigV4 wants it: unreserved characters stay, '/'
 * stays if keep_slash, the rest becomes %XX (upper case). */
static void
wr_s3_enc(wr_buf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~' || (c == '/' && keep_slash)) {
			wr_buf_putc(b, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			wr_buf_append(b, e, 3);
		}
	}
}

/* Bucket and prefix of root ("s3://bucket/a/b"). */
static int
wr_s3_parse_url(struct wr_s3 *s, const char *root, char *errbuf, size_t errlen)
{
	const char *rest = root + strlen(wr_os_s3_ops.scheme);
	const char *slash = strchr(rest, '/');
	size_t blen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	s->bucket = wr_xstrndup(rest, blen);
	s->prefix = wr_xstrdup(slash != NULL ? slash + 1 : "");
	size_t plen = strlen(s->prefix);
	while (plen > 0 && s->prefix[plen - 1] == '/')
		s->prefix[--plen] = '\0';
	if (blen == 0 || strspn(s->bucket, "abcdefghijklmnopqrstuvwxyz"
	                                   "0123456789.-") != blen) {
		snprintf(errbuf, errlen, "%s: bad bucket name", root);
		return WR_EINVAL;
	}
	if (plen > 0 && wr_os_key_check(s->prefix, errbuf, errlen) != WR_OK)
		return WR_EINVAL;
	return WR_OK;
}

/* Credentials, region, endpoint and test settings from the environment
 * (objstore.h). */
static int
wr_s3_read_env(struct wr_s3 *s, const char *root, char *errbuf, size_t errlen)
{
	const char *id = wr_s3_getenv("AWS_ACCESS_KEY_ID", NULL);
	const char *secret = wr_s3_getenv("AWS_SECRET_ACCESS_KEY", NULL);
	if (id == NULL || secret == NULL) {
		snprintf(
		    errbuf, errlen,
		    "%s: S3 credentials missing: set AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY",
		    root);
		return WR_EINVAL;
	}
	const char *region = wr_s3_getenv("AWS_REGION", "AWS_DEFAULT_REGION");
	if (region == NULL)
		region = "us-east-1";
	const char *ep =
	    wr_s3_getenv("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
	size_t eplen = ep != NULL ? strlen(ep) : 0;
	while (eplen > 0 && ep[eplen - 1] == '/')
		eplen--;
	if (ep != NULL)
		s->base_url =
		    wr_xasprintf("%.*s/%s", (int)eplen, ep, s->bucket);
	else
		s->base_url = wr_xasprintf("https://%s.s3.%s.amazonaws.com",
		                           s->bucket, region);
	s->userpwd = wr_xasprintf("%s:%s", id, secret);
	s->sigv4 = wr_xasprintf("aws:amz:%s:s3", region);
	const char *token = wr_s3_getenv("AWS_SESSION_TOKEN", NULL);
	if (token != NULL)
		s->token = wr_xasprintf("x-amz-security-token: %s", token);
	/* Tests make lists page with a handful of keys. */
	const char *mk = getenv("WEIR_S3_LIST_MAX_KEYS");
	if (mk != NULL)
		s->list_max_keys = strtol(mk, NULL, 10);
	if (s->list_max_keys < 1 || s->list_max_keys > 1000)
		s->list_max_keys = 0;
	return WR_OK;
}

static void
wr_s3_free(wr_objstore *os)
{
	struct wr_s3 *s = wr_s3_of(os);
	if (s->curl != NULL)
		curl_easy_cleanup(s->curl);
	free(s->bucket);
	free(s->prefix);
	free(s->base_url);
	free(s->userpwd);
	free(s->sigv4);
	free(s->token);
	free(s);
}

static int
wr_s3_open(const char *url, const char *root, wr_objstore **out, char *errbuf,
           size_t errlen)
{
	(void)url; /* root is what messages show */
	struct wr_s3 *s = wr_xcalloc(1, sizeof(*s));
	int rv = wr_s3_parse_url(s, root, errbuf, errlen);
	if (rv == WR_OK)
		rv = wr_s3_read_env(s, root, errbuf, errlen);
	if (rv == WR_OK) {
		pthread_once(&wr_s3_once, wr_s3_global_init);
		if (wr_s3_global_rv != CURLE_OK) {
			snprintf(errbuf, errlen, "curl_global_init: %s",
			         curl_easy_strerror(wr_s3_global_rv));
			rv = WR_EINTERNAL;
		}
	}
	if (rv != WR_OK) {
		wr_s3_free(&s->base);
		return rv;
	}
	*out = &s->base;
	return WR_OK;
}

/* One S3 request: its body source and the sink of its reply. */
struct wr_s3_req {
	struct wr_s3 *s;
	const char *method; /* "GET", "PUT", "DELETE" */
	const char *verb;   /* for messages: the method, or "LIST" */
	const char *what;   /* the key or prefix, for messages */
	bool streamed;      /* a file transfer: stall detection */
	/* PUT body: memory or a file */
	const char *src;
	size_t src_len, src_off;
	int src_fd;
	curl_off_t upload_len;
	/* reply body (2xx): memory (bounded) or a file (opened lazily, so
	 * that a 404 leaves the local file alone) */
	wr_buf *out;
	size_t out_start, max_bytes;
	const char *dst_path;
	int dst_fd;
	wr_buf errbody; /* reply body of a failed request (bounded) */
	int cb_rv;      /* error raised in a callback */
	char cb_msg[256];
	long status;
};

static size_t
wr_s3_read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct wr_s3_req *r = arg;
	size_t want = size * nitems;
	if (r->src_fd < 0) {
		size_t n = r->src_len - r->src_off;
		n = n < want ? n : want;
		if (n > 0)
			memcpy(buf, r->src + r->src_off, n);
		r->src_off += n;
		return n;
	}
	ssize_t got = wr_os_read(r->src_fd, buf, want);
	if (got >= 0)
		return (size_t)got;
	r->cb_rv = wr_err_from_errno(errno);
	snprintf(r->cb_msg, sizeof(r->cb_msg), "read: %s",
	         wr_strerror(r->cb_rv));
	return CURL_READFUNC_ABORT;
}

static size_t
wr_s3_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct wr_s3_req *r = arg;
	size_t n = size * nmemb;
	long code = 0;
	curl_easy_getinfo(r->s->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		size_t room = WR_S3_MAX_ERROR_BODY_BYTES - r->errbody.len;
		wr_buf_append(&r->errbody, data, n < room ? n : room);
		return n;
	}
	if (r->out != NULL) {
		if (r->out->len - r->out_start + n > r->max_bytes) {
			r->cb_rv = WR_ETOOBIG;
			snprintf(r->cb_msg, sizeof(r->cb_msg),
			         "object larger than %zu bytes", r->max_bytes);
			return 0;
		}
		wr_buf_append(r->out, data, n);
		return n;
	}
	if (r->dst_path == NULL)
		return n;
	if (r->dst_fd < 0 &&
	    (r->cb_rv = wr_os_create_local(r->dst_path, &r->dst_fd, r->cb_msg,
	                                   sizeof(r->cb_msg))) != WR_OK)
		return 0;
	if ((r->cb_rv = wr_os_write_all(r->dst_fd, data, n)) != WR_OK) {
		snprintf(r->cb_msg, sizeof(r->cb_msg), "write %s: %s",
		         r->dst_path, wr_strerror(r->cb_rv));
		return 0;
	}
	return n;
}

/* Scans body[0..len) for the text of the first <tag>...</tag> at or after
 * *pos; advances *pos past it. The text is not unescaped. */
static bool
wr_xml_next(const char *body, size_t len, size_t *pos, const char *tag,
            const char **text, size_t *tlen)
{
	char open[40], close[41];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	size_t olen = strlen(open), clen = strlen(close);
	for (size_t i = *pos; i + olen <= len; i++) {
		if (memcmp(body + i, open, olen) != 0)
			continue;
		size_t b = i + olen;
		for (size_t j = b; j + clen <= len; j++) {
			if (memcmp(body + j, close, clen) == 0) {
				*text = body + b;
				*tlen = j - b;
				*pos = j + clen;
				return true;
			}
		}
		return false;
	}
	return false;
}

/* Appends a code point as UTF-8. */
static void
wr_xml_put_utf8(wr_buf *b, unsigned long c)
{
	static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
	char u[4];
	int n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
	for (int i = n - 1; i > 0; i--, c >>= 6)
		u[i] = (char)(0x80 | (c & 0x3F));
	u[0] = (char)(lead[n] | c);
	wr_buf_append(b, u, (size_t)n);
}

/* Appends XML text with the predefined and numeric entities replaced;
 * anything else is copied as it is. */
static void
wr_xml_unescape(wr_buf *b, const char *s, size_t n)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"&amp;", '&'},
	            {"&lt;", '<'},
	            {"&gt;", '>'},
	            {"&quot;", '"'},
	            {"&apos;", '\''}};
	for (size_t i = 0; i < n;) {
		const char *semi =
		    s[i] == '&' ? memchr(s + i, ';', n - i) : NULL;
		size_t elen = semi != NULL ? (size_t)(semi - (s + i)) + 1 : 0;
		bool done = false;
		for (size_t k = 0; semi && !done && k < 5; k++) {
			if (elen == strlen(ents[k].ent) &&
			    memcmp(s + i, ents[k].ent, elen) == 0) {
				wr_buf_putc(b, ents[k].c);
				done = true;
			}
		}
		if (semi != NULL && !done && elen > 3 && elen < 12 &&
		    s[i + 1] == '#') {
			bool hex = s[i + 2] == 'x' || s[i + 2] == 'X';
			char num[12];
			memcpy(num, s + i + 2 + hex, elen - 3 - hex);
			num[elen - 3 - hex] = '\0';
			char *end;
			unsigned long c = strtoul(num, &end, hex ? 16 : 10);
			if (*end == '\0' && num[0] != '\0' && c > 0 &&
			    c <= 0x10FFFF) {
				wr_xml_put_utf8(b, c);
				done = true;
			}
		}
		if (done) {
			i += elen;
		} else {
			wr_buf_putc(b, s[i]);
			i++;
		}
	}
}

/* Maps an HTTP error status (and S3 error code) to a weir code. */
static int
wr_s3_status_err(long status, const char *code)
{
	if (strcmp(code, "NoSuchBucket") == 0)
		return WR_EINVAL; /* a configuration error, not a missing key */
	switch (status) {
	case 404:
		return WR_ENOENT;
	case 401:
	case 403:
		return WR_EPERM;
	case 413:
		return WR_ETOOBIG;
	case 408:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return WR_EAGAIN;
	default:
		return WR_EPROTO;
	}
}

/* "s3 PUT key: HTTP 403: SignatureDoesNotMatch: The request ..." */
static int
wr_s3_http_fail(struct wr_s3_req *r, char *errbuf, size_t errlen)
{
	const char *t;
	size_t tl, pos = 0;
	wr_buf code, msg;
	wr_buf_init(&code);
	wr_buf_init(&msg);
	wr_buf_putc(&r->errbody, '\0');
	if (wr_xml_next(r->errbody.data, r->errbody.len, &pos, "Code", &t, &tl))
		wr_xml_unescape(&code, t, tl);
	pos = 0;
	if (wr_xml_next(r->errbody.data, r->errbody.len, &pos, "Message", &t,
	                &tl))
		wr_xml_unescape(&msg, t, tl);
	if (code.len == 0 && msg.len == 0) /* not S3's XML: the raw body */
		wr_buf_append(&msg, r->errbody.data,
		              r->errbody.len > 200 ? 200 : r->errbody.len - 1);
	for (size_t i = 0; i < msg.len; i++)
		if ((unsigned char)msg.data[i] < 0x20)
			msg.data[i] = ' ';
	int rv = wr_s3_status_err(r->status, code.len ? code.data : "");
	snprintf(errbuf, errlen, "s3 %s %s: HTTP %ld: %s%s%.300s", r->verb,
	         r->what, r->status, code.len ? code.data : "",
	         code.len && msg.len ? ": " : "", msg.len ? msg.data : "");
	wr_buf_fini(&code);
	wr_buf_fini(&msg);
	return rv;
}

static void
wr_s3_setopts(struct wr_s3_req *r, const char *url, struct curl_slist *hdrs,
              char *curl_err)
{
	CURL *c = r->s->curl;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, r->s->sigv4);
	curl_easy_setopt(c, CURLOPT_USERPWD, r->s->userpwd);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)WR_S3_CONNECT_TIMEOUT_MS);
	if (r->streamed) {
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, WR_S3_XFER_TIMEOUT_MS);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT,
		                 (long)WR_S3_STALL_BYTES_PER_S);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
		                 (long)WR_S3_STALL_TIME_S);
	} else {
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
		                 (long)WR_S3_REQUEST_TIMEOUT_MS);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, wr_s3_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, wr_s3_read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, r);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, r->upload_len);
	} else if (strcmp(r->method, "DELETE") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
}

/*
 * Runs one request against url. Errors (message in errbuf): WR_ENOENT
 * (404), WR_EPERM (401/403), WR_EAGAIN (throttled, 5xx), WR_EPROTO (other
 * HTTP errors), WR_ETIMEDOUT, WR_EUNREACHABLE (network), or what a
 * callback raised (WR_ETOOBIG, local file errors).
 */
static int
wr_s3_perform(struct wr_s3_req *r, const char *url, char *errbuf, size_t errlen)
{
	if (r->s->curl == NULL && (r->s->curl = curl_easy_init()) == NULL) {
		snprintf(errbuf, errlen, "curl_easy_init failed");
		return WR_ENOMEM;
	}
	struct curl_slist *h = NULL, *h2;
	const char *hdr[] = {"x-amz-content-sha256: UNSIGNED-PAYLOAD",
	                     "Expect:", r->s->token};
	for (size_t i = 0; i < 3 && hdr[i] != NULL; i++) {
		if ((h2 = curl_slist_append(h, hdr[i])) == NULL) {
			curl_slist_free_all(h);
			snprintf(errbuf, errlen, "out of memory");
			return WR_ENOMEM;
		}
		h = h2;
	}
	char curl_err[CURL_ERROR_SIZE] = "";
	wr_s3_setopts(r, url, h, curl_err);
	CURLcode cc = curl_easy_perform(r->s->curl);
	curl_slist_free_all(h);
	curl_easy_getinfo(r->s->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (cc != CURLE_OK && r->cb_rv != WR_OK) {
		snprintf(errbuf, errlen, "s3 %s %s: %s", r->verb, r->what,
		         r->cb_msg);
		return r->cb_rv;
	}
	if (cc != CURLE_OK) {
		snprintf(errbuf, errlen, "s3 %s %s: %s", r->verb, r->what,
		         curl_err[0] ? curl_err : curl_easy_strerror(cc));
		return cc == CURLE_OPERATION_TIMEDOUT ? WR_ETIMEDOUT
		                                      : WR_EUNREACHABLE;
	}
	if (r->status >= 200 && r->status <= 299)
		return WR_OK;
	return wr_s3_http_fail(r, errbuf, errlen);
}

static void
wr_s3_req_init(struct wr_s3_req *r, struct wr_s3 *s, const char *method,
               const char *what)
{
	memset(r, 0, sizeof(*r));
	r->s = s;
	r->method = method;
	r->verb = method;
	r->what = what;
	r->src_fd = -1;
	r->dst_fd = -1;
	wr_buf_init(&r->errbody);
}

/* The URL of an object: base + "/" + store prefix + "/" + key. */
static char *
wr_s3_obj_url(const struct wr_s3 *s, const char *key)
{
	wr_buf b;
	wr_buf_init(&b);
	wr_buf_puts(&b, s->base_url);
	wr_buf_putc(&b, '/');
	if (s->prefix[0] != '\0') {
		wr_s3_enc(&b, s->prefix, true);
		wr_buf_putc(&b, '/');
	}
	wr_s3_enc(&b, key, true);
	return wr_buf_steal(&b);
}

/* Runs the request r on the object key. */
static int
wr_s3_obj_req(struct wr_s3 *s, struct wr_s3_req *r, const char *key,
              char *errbuf, size_t errlen)
{
	char *url = wr_s3_obj_url(s, key);
	int rv = wr_s3_perform(r, url, errbuf, errlen);
	free(url);
	wr_buf_fini(&r->errbody);
	return rv;
}

static int
wr_s3_put(wr_objstore *os, const char *key, const void *data, size_t len,
          char *errbuf, size_t errlen)
{
	struct wr_s3 *s = wr_s3_of(os);
	struct wr_s3_req r;
	wr_s3_req_init(&r, s, "PUT", key);
	r.src = data;
	r.src_len = len;
	r.upload_len = (curl_off_t)len;
	return wr_s3_obj_req(s, &r, key, errbuf, errlen);
}

static int
wr_s3_put_file(wr_objstore *os, const char *key, const char *path, char *errbuf,
               size_t errlen)
{
	struct wr_s3 *s = wr_s3_of(os);
	struct wr_s3_req r;
	wr_s3_req_init(&r, s, "PUT", key);
	int rv = wr_os_open_local(path, errbuf, errlen, &r.src_fd);
	if (rv != WR_OK)
		return rv;
	struct stat st;
	if (fstat(r.src_fd, &st) != 0)
		rv = wr_err_from_errno(errno);
	else if (!S_ISREG(st.st_mode))
		rv = WR_EINVAL; /* its size is needed up front */
	if (rv != WR_OK) {
		snprintf(errbuf, errlen, "%s: not a regular file", path);
		close(r.src_fd);
		return rv;
	}
	r.upload_len = (curl_off_t)st.st_size;
	r.streamed = true;
	rv = wr_s3_obj_req(s, &r, key, errbuf, errlen);
	close(r.src_fd);
	return rv;
}

static int
wr_s3_get(wr_objstore *os, const char *key, size_t max_bytes, wr_buf *out,
          char *errbuf, size_t errlen)
{
	struct wr_s3 *s = wr_s3_of(os);
	struct wr_s3_req r;
	wr_s3_req_init(&r, s, "GET", key);
	r.out = out;
	r.out_start = out->len;
	r.max_bytes = max_bytes;
	int rv = wr_s3_obj_req(s, &r, key, errbuf, errlen);
	if (rv != WR_OK)
		out->len = r.out_start;
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return rv;
}

static int
wr_s3_get_file(wr_objstore *os, const char *key, const char *path, char *errbuf,
               size_t errlen)
{
	struct wr_s3 *s = wr_s3_of(os);
	struct wr_s3_req r;
	wr_s3_req_init(&r, s, "GET", key);
	r.dst_path = path;
	r.streamed = true;
	int rv = wr_s3_obj_req(s, &r, key, errbuf, errlen);
	if (rv == WR_OK && r.dst_fd < 0) /* an empty object */
		rv = wr_os_create_local(path, &r.dst_fd, errbuf, errlen);
	if (r.dst_fd >= 0)
		rv = wr_os_close_local(path, r.dst_fd, rv, errbuf, errlen);
	if (rv != WR_OK && r.dst_fd >= 0)
		unlink(path); /* a partial download */
	return rv;
}

static int
wr_s3_delete(wr_objstore *os, const char *key, char *errbuf, size_t errlen)
{
	struct wr_s3 *s = wr_s3_of(os);
	struct wr_s3_req r;
	wr_s3_req_init(&r, s, "DELETE", key);
	int rv = wr_s3_obj_req(s, &r, key, errbuf, errlen);
	if (rv == WR_ENOENT) /* S3 says 204 here; others may say 404 */
		rv = WR_OK;
	return rv;
}

/* The URL of one ListObjectsV2 page. SigV4 wants the query parameters
 * sorted by name and encoded; libcurl 7.88 signs the query as given. */
static char *
wr_s3_list_url(const struct wr_s3 *s, const char *full_prefix,
               const char *token)
{
	wr_buf b;
	wr_buf_init(&b);
	wr_buf_puts(&b, s->base_url);
	wr_buf_puts(&b, "?");
	if (token != NULL) {
		wr_buf_puts(&b, "continuation-token=");
		wr_s3_enc(&b, token, false);
		wr_buf_putc(&b, '&');
	}
	wr_buf_puts(&b, "list-type=2");
	if (s->list_max_keys > 0)
		wr_buf_printf(&b, "&max-keys=%ld", s->list_max_keys);
	wr_buf_puts(&b, "&prefix=");
	wr_s3_enc(&b, full_prefix, false);
	return wr_buf_steal(&b);
}

/* Adds the keys of one ListObjectsV2 reply; sets *token to the next
 * continuation token (heap) or NULL on the last page. */
static int
wr_s3_list_parse(const struct wr_s3 *s, const wr_buf *body,
                 struct wr_os_keys *out, char **token, char *errbuf,
                 size_t errlen)
{
	size_t pos = 0, tl, plen = strlen(s->prefix),
	       skip = plen ? plen + 1 : 0;
	const char *t;
	int rv = WR_OK;
	wr_buf k;
	wr_buf_init(&k);
	while (rv == WR_OK &&
	       wr_xml_next(body->data, body->len, &pos, "Key", &t, &tl)) {
		wr_buf_reset(&k);
		wr_xml_unescape(&k, t, tl);
		bool ours =
		    k.len > skip &&
		    (skip == 0 || (strncmp(k.data, s->prefix, plen) == 0 &&
		                   k.data[plen] == '/'));
		if (ours)
			rv = wr_os_keys_add(out, wr_xstrdup(k.data + skip));
	}
	wr_buf_fini(&k);
	if (rv != WR_OK) {
		snprintf(errbuf, errlen, "s3 list %s: more than %d objects",
		         s->base.url, WR_OBJSTORE_MAX_LIST_KEYS);
		return rv;
	}
	*token = NULL;
	pos = 0;
	if (!wr_xml_next(body->data, body->len, &pos, "IsTruncated", &t, &tl) ||
	    tl != 4 || memcmp(t, "true", 4) != 0)
		return WR_OK;
	pos = 0;
	if (!wr_xml_next(body->data, body->len, &pos, "NextContinuationToken",
	                 &t, &tl) ||
	    tl == 0) {
		snprintf(errbuf, errlen,
		         "s3 list %s: truncated reply without a continuation "
		         "token",
		         s->base.url);
		return WR_EPROTO;
	}
	wr_buf_init(&k);
	wr_xml_unescape(&k, t, tl);
	*token = wr_buf_steal(&k);
	return WR_OK;
}

static int
wr_s3_list(wr_objstore *os, const char *prefix, struct wr_os_keys *out,
           char *errbuf, size_t errlen)
{
	struct wr_s3 *s = wr_s3_of(os);
	char *full = s->prefix[0] != '\0'
	                 ? wr_xasprintf("%s/%s", s->prefix, prefix)
	                 : wr_xstrdup(prefix);
	char *token = NULL;
	int rv = WR_OK;
	wr_buf body;
	wr_buf_init(&body);
	/* A page adds keys (bounded in all), ends the list, or is one of
	 * a few empty ones S3 may send. */
	for (int empty = 0; rv == WR_OK;) {
		size_t before = out->n;
		struct wr_s3_req r;
		wr_s3_req_init(&r, s, "GET", prefix);
		r.verb = "LIST";
		r.out = &body;
		r.max_bytes = WR_S3_MAX_LIST_REPLY_BYTES;
		wr_buf_reset(&body);
		char *url = wr_s3_list_url(s, full, token);
		rv = wr_s3_perform(&r, url, errbuf, errlen);
		free(url);
		wr_buf_fini(&r.errbody);
		free(token);
		token = NULL;
		if (rv == WR_OK)
			rv = wr_s3_list_parse(s, &body, out, &token, errbuf,
			                      errlen);
		if (rv != WR_OK || token == NULL)
			break;
		if (out->n == before && ++empty > WR_S3_MAX_EMPTY_PAGES) {
			snprintf(errbuf, errlen,
			         "s3 list %s: empty truncated pages",
			         s->base.url);
			rv = WR_EPROTO;
		}
	}
	free(token);
	wr_buf_fini(&body);
	free(full);
	return rv;
}

/* S3 has no directories: deletes what a list finds, one by one. */
static int
wr_s3_delete_prefix(wr_objstore *os, const char *prefix, char *errbuf,
                    size_t errlen)
{
	char **keys;
	size_t n;
	int rv = wr_objstore_list(os, prefix, &keys, &n, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	for (size_t i = 0; i < n && rv == WR_OK; i++)
		rv = wr_s3_delete(os, keys[i], errbuf, errlen);
	wr_objstore_list_free(keys, n);
	return rv;
}

const struct wr_os_ops wr_os_s3_ops = {
    .scheme = "s3://",
    .open = wr_s3_open,
    .free = wr_s3_free,
    .put = wr_s3_put,
    .put_file = wr_s3_put_file,
    .get = wr_s3_get,
    .get_file = wr_s3_get_file,
    .list = wr_s3_list,
    .del = wr_s3_delete,
    .delete_prefix = wr_s3_delete_prefix,
};
