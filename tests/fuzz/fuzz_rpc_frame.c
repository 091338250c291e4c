/*
 * fuzz_rpc_frame.c - libFuzzer harness for RPC frames: any bytes a peer
 * sends are unpacked into an Envelope (within the frame and arena limits)
 * or refused; an accepted one is packed again.
 */
#include "frame.h"

#include "buf.h"
#include "err.h"
#include "weir.pb-c.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wr_msg *m = NULL;
	int rv = wr_frame_unpack(data, size, &m);
	if (rv != WR_OK) {
		if (m != NULL)
			abort();
		return 0;
	}
	char err[256];
	(void)wr_frame_version_ok(m, "fuzz", err, sizeof(err));
	wr_buf out;
	wr_buf_init(&out);
	(void)wr_frame_pack(wr_msg_env(m), &out);
	wr_buf_fini(&out);
	wr_msg_free(m);
	return 0;
}
