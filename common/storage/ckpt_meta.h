/*
 * ckpt_meta.h - a checkpoint's _metadata: which state files and inline
 * operator states make up the checkpoint, per operator uid (node id) and
 * subtask, and where every source was. The JobManager writes it once every
 * task acknowledged (the checkpoint is complete only then); a restoring
 * task reads it to find its part.
 *
 * On disk: "WRCK", the format version (u32), the payload length (u64) and
 * an FNV-1a 64 checksum of the payload (u64), all big-endian, then the
 * payload, a protobuf CheckpointMetadata (proto/weir.proto). A file cut
 * short or damaged fails to decode (WR_ECORRUPT) rather than restoring a
 * part of the state. Paths are relative to the checkpoint's directory, so
 * a savepoint directory can be moved.
 */
#ifndef WR_CKPT_META_H
#define WR_CKPT_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wr_limits.h"

struct wr_buf;

#define WR_CKPT_META_VERSION 1
/* The file name inside a checkpoint directory. */
#define WR_CKPT_META_NAME "_metadata"

enum wr_ckpt_handle_kind {
	WR_CKPT_KEYED = 1,  /* a keyed state snapshot file (LMDB) */
	WR_CKPT_INLINE = 2, /* an operator's bytes, kept in the metadata */
};

typedef struct wr_ckpt_handle {
	char *uid;   /* operator uid (node id) */
	int subtask; /* of the run that wrote it */
	int kind;    /* enum wr_ckpt_handle_kind */
	char *path;  /* KEYED: relative to the checkpoint directory */
	uint64_t size;
	int kg_first, kg_last; /* KEYED: key groups it holds, inclusive */
	uint8_t *data;         /* INLINE */
	size_t len;
	/* KEYED, incremental (docs/checkpoints.md): "chk-<n>/<file>" pieces
	 * relative to the job's directory (the checkpoint directory's
	 * parent), a full snapshot then deltas in order; path is "". */
	char **shared;
	size_t nshared;
} wr_ckpt_handle;

typedef struct wr_ckpt_offset {
	char *uid; /* the source node */
	int subtask;
	char *topic; /* generators: "" */
	int32_t partition;
	int64_t offset; /* the next one to read */
} wr_ckpt_offset;

typedef struct wr_ckpt_op {
	char *uid;
	int parallelism;
} wr_ckpt_op;

typedef struct wr_ckpt_meta {
	char *job_id;
	char *job_name;
	uint64_t id;
	int64_t timestamp_ms;
	bool savepoint;
	int max_parallelism;
	wr_ckpt_op *ops;
	size_t nops;
	wr_ckpt_handle *handles;
	size_t nhandles;
	wr_ckpt_offset *offsets;
	size_t noffsets;
} wr_ckpt_meta;

/* An empty metadata object to fill (strings copied). */
wr_ckpt_meta *wr_ckpt_meta_new(const char *job_id, const char *job_name,
                               uint64_t id, int64_t ts, bool savepoint,
                               int max_parallelism);
void wr_ckpt_meta_free(wr_ckpt_meta *m);

/* Adds an operator (once per uid: a second call is ignored). */
void wr_ckpt_meta_add_op(wr_ckpt_meta *m, const char *uid, int parallelism);
/* Adds a copy of h / o (strings and data are copied). */
void wr_ckpt_meta_add_handle(wr_ckpt_meta *m, const wr_ckpt_handle *h);
void wr_ckpt_meta_add_offset(wr_ckpt_meta *m, const wr_ckpt_offset *o);

/* The checkpoint id n of a shared piece "chk-<n>/<file>"; false if path
 * is not of that form (no "..", no leading '/', one file name). */
bool wr_ckpt_shared_id(const char *path, uint64_t *id);
/* The oldest checkpoint whose directory m's pieces lie in: m->id when
 * every handle is its own. A checkpoint's directory may go only once no
 * retained checkpoint's oldest is at or below it. */
uint64_t wr_ckpt_meta_oldest(const wr_ckpt_meta *m);

/* The parallelism the checkpointed run gave uid, or 0 if unknown. */
int wr_ckpt_meta_parallelism(const wr_ckpt_meta *m, const char *uid);

/* Appends the file's bytes to out. */
void wr_ckpt_meta_encode(const wr_ckpt_meta *m, struct wr_buf *out);

/* Decodes a _metadata file. WR_ECORRUPT (truncated, bad checksum, not
 * protobuf, another format version), with a message. */
int wr_ckpt_meta_decode(const void *data, size_t len, wr_ckpt_meta **out,
                        char *errbuf, size_t errlen);

#endif
