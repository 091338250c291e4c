/*
 * web.h - the dashboard: the files of jobmanager/web/, embedded at build
 * time (cmake/embed_web.cmake writes web_files.c), served at GET / and
 * GET /web/NAME.
 */
#ifndef JM_WEB_H
#define JM_WEB_H

#include <stddef.h>

struct wr_http_server;

typedef struct jm_web_file {
	const char *path; /* "/" (index.html) or "/web/NAME" */
	const char *content_type;
	const char *etag; /* quoted: "\"0123abcd...\"" */
	const unsigned char *data;
	size_t len;
} jm_web_file;

extern const jm_web_file jm_web_files[];
extern const size_t jm_web_nfiles;

/*
 * Routes GET / and GET /web/... on srv, served without the token (the page
 * asks for it and sends it on its API calls). Errors: those of
 * wr_http_server_handle.
 */
int jm_web_init(struct wr_http_server *srv);

#endif
