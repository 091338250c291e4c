/*
 * tool_config_doc.c - weir-config-doc, which prints docs/configuration.md,
 * the reference of weir.yaml, from the config table. The docs.configuration
 * test fails when the committed file differs from this output.
 */
#include "buf.h"
#include "cluster_config.h"
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

int
main(void)
{
	wr_buf out;
	int rc = EXIT_SUCCESS;

	wr_buf_init(&out);
	wr_cfg_doc_markdown(&wr_cluster_config_table, &out);
	if (fwrite(out.data, 1, out.len, stdout) != out.len ||
	    fflush(stdout) != 0) {
		perror("weir-config-doc: stdout");
		rc = EXIT_FAILURE;
	}
	wr_buf_fini(&out);
	return rc;
}
