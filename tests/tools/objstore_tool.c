/*
 * objstore_tool.c - the calls of common/storage/objstore.h from the command
 * line, for integration tests (tests/integration/test_s3_store.py).
 *
 *   objstore_tool put URL KEY              < data
 *   objstore_tool get URL KEY              > data
 *   objstore_tool put-file URL KEY PATH
 *   objstore_tool get-file URL KEY PATH
 *   objstore_tool list URL [PREFIX]        one key a line
 *   objstore_tool delete URL KEY
 *   objstore_tool delete-prefix URL PREFIX
 *
 * Exit status: 0 done, 1 failed (the message on stderr), 2 usage, 3 no
 * such object (WR_ENOENT).
 */
#include "buf.h"
#include "err.h"
#include "objstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOOL_EXIT_FAIL   1
#define TOOL_EXIT_USAGE  2
#define TOOL_EXIT_NOENT  3
#define TOOL_MAX_GET     (1024u * 1024u * 1024u)
#define TOOL_STDIN_CHUNK (64u * 1024u)

static int
tool_usage(void)
{
	fprintf(stderr, "usage: objstore_tool put|get|delete URL KEY\n"
	                "       objstore_tool put-file|get-file URL KEY PATH\n"
	                "       objstore_tool list URL [PREFIX]\n"
	                "       objstore_tool delete-prefix URL PREFIX\n");
	return TOOL_EXIT_USAGE;
}

static int
tool_read_stdin(wr_buf *b)
{
	for (;;) {
		wr_buf_reserve(b, TOOL_STDIN_CHUNK);
		size_t n = fread(b->data + b->len, 1, TOOL_STDIN_CHUNK, stdin);
		b->len += n;
		if (n == 0)
			return ferror(stdin) ? -1 : 0;
	}
}

static int
tool_list(wr_objstore *s, const char *prefix, char *err, size_t errlen)
{
	char **keys;
	size_t n;
	int rv = wr_objstore_list(s, prefix, &keys, &n, err, errlen);
	if (rv != WR_OK)
		return rv;
	for (size_t i = 0; i < n; i++)
		printf("%s\n", keys[i]);
	wr_objstore_list_free(keys, n);
	return WR_OK;
}

static int
tool_run(wr_objstore *s, const char *cmd, int argc, char **argv, char *err,
         size_t errlen)
{
	int rv = WR_EINVAL;
	wr_buf b;
	wr_buf_init(&b);
	if (strcmp(cmd, "put") == 0 && argc == 1) {
		if (tool_read_stdin(&b) != 0)
			snprintf(err, errlen, "reading stdin failed");
		else
			rv = wr_objstore_put(s, argv[0], b.data, b.len, err,
			                     errlen);
	} else if (strcmp(cmd, "get") == 0 && argc == 1) {
		rv = wr_objstore_get(s, argv[0], TOOL_MAX_GET, &b, err, errlen);
		if (rv == WR_OK && b.len > 0 &&
		    fwrite(b.data, 1, b.len, stdout) != b.len)
			rv = WR_EINTERNAL;
	} else if (strcmp(cmd, "put-file") == 0 && argc == 2) {
		rv = wr_objstore_put_file(s, argv[0], argv[1], err, errlen);
	} else if (strcmp(cmd, "get-file") == 0 && argc == 2) {
		rv = wr_objstore_get_file(s, argv[0], argv[1], err, errlen);
	} else if (strcmp(cmd, "list") == 0 && argc <= 1) {
		rv = tool_list(s, argc == 1 ? argv[0] : "", err, errlen);
	} else if (strcmp(cmd, "delete") == 0 && argc == 1) {
		rv = wr_objstore_delete(s, argv[0], err, errlen);
	} else if (strcmp(cmd, "delete-prefix") == 0 && argc == 1) {
		rv = wr_objstore_delete_prefix(s, argv[0], err, errlen);
	} else {
		rv = -1;
	}
	wr_buf_fini(&b);
	return rv;
}

int
main(int argc, char **argv)
{
	if (argc < 3)
		return tool_usage();
	char err[1024] = "";
	wr_objstore *s;
	int rv = wr_objstore_open(argv[2], &s, err, sizeof(err));
	if (rv != WR_OK) {
		fprintf(stderr, "objstore_tool: %s\n", err);
		return TOOL_EXIT_FAIL;
	}
	rv = tool_run(s, argv[1], argc - 3, argv + 3, err, sizeof(err));
	wr_objstore_close(s);
	if (rv == -1)
		return tool_usage();
	if (fflush(stdout) != 0 && rv == WR_OK)
		rv = WR_EINTERNAL;
	if (rv == WR_OK)
		return 0;
	fprintf(stderr, "objstore_tool: %s (%s)\n",
	        err[0] != '\0' ? err : "failed", wr_strerror(rv));
	return rv == WR_ENOENT ? TOOL_EXIT_NOENT : TOOL_EXIT_FAIL;
}
