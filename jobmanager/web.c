/*
 * web.c - serves the dashboard (docs/dashboard.md): its files, compiled in,
 * with headers that keep a browser safe and current.
 *
 * Every response says Cache-Control: no-cache with the file's ETag (a hash
 * of its content): the browser revalidates on each load and gets a 304
 * while the file is the same, so a new weir's dashboard is seen at once
 * without versioned names. The Content-Security-Policy allows scripts,
 * styles and fetches from this origin only and no inline script: the page
 * works offline and an injected string cannot run.
 */
#include "web.h"

#include "http.h"

#include <string.h>

static const char jm_web_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'";

static const jm_web_file *
jm_web_find(const char *path)
{
	for (size_t i = 0; i < jm_web_nfiles; i++)
		if (strcmp(jm_web_files[i].path, path) == 0)
			return &jm_web_files[i];
	return NULL;
}

/* Whether the request's If-None-Match names etag ("*" or a list). */
static bool
jm_web_not_modified(const wr_http_req *req, const char *etag)
{
	const char *inm = wr_http_req_header(req, "If-None-Match");
	return inm != NULL &&
	       (strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL);
}

static void
jm_web_serve(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	(void)arg;
	const jm_web_file *f = jm_web_find(req->path);
	if (f == NULL) {
		resp->status = 404;
		wr_buf_puts(&resp->body, "{\"errors\":[\"not found\"]}");
		return;
	}
	resp->content_type = f->content_type;
	wr_http_resp_header(resp, "Cache-Control", "no-cache");
	wr_http_resp_header(resp, "ETag", f->etag);
	wr_http_resp_header(resp, "Content-Security-Policy", jm_web_csp);
	wr_http_resp_header(resp, "X-Content-Type-Options", "nosniff");
	wr_http_resp_header(resp, "Referrer-Policy", "no-referrer");
	if (jm_web_not_modified(req, f->etag)) {
		resp->status = 304;
		return;
	}
	wr_buf_append(&resp->body, f->data, f->len);
}

int
jm_web_init(struct wr_http_server *srv)
{
	int rv = wr_http_server_handle_open(srv, "GET", "/", false,
	                                    jm_web_serve, NULL);
	if (rv != 0)
		return rv;
	return wr_http_server_handle_open(srv, "GET", "/web", true,
	                                  jm_web_serve, NULL);
}
