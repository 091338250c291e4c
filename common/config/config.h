/*
 * config.h - the table-driven config engine.
 *
 * A config is a struct plus a table of wr_cfg_entry describing each field:
 * its dotted YAML path ("jobmanager.heartbeat_timeout"), type, offset in the
 * struct, range, default (written as it would be in YAML) and a doc line. The
 * engine applies defaults, then a YAML file, then environment overrides, then
 * explicit settings (command-line flags), validating each value against the
 * table. Unknown keys are errors that name file:line:col and list the known
 * keys of that section. docs/configuration.md is generated from the table.
 *
 * Field storage by type:
 *   WR_CFG_STRING   char *       (heap; freed by wr_cfg_free)
 *   WR_CFG_INT      int64_t      (min/max apply)
 *   WR_CFG_BOOL     bool
 *   WR_CFG_DURATION int64_t ms   (min/max in ms)
 *   WR_CFG_SIZE     int64_t bytes (min/max in bytes)
 *   WR_CFG_ENUM     int          (index into the '|'-separated enums list)
 *   WR_CFG_LIST     char *       (comma-separated; YAML gives a sequence of
 *                                 scalars or one comma-separated string)
 *
 * A name has two or three levels ("kafka.bootstrap",
 * "high_availability.etcd.endpoints"): the part before the last dot is its
 * section, a nested map in YAML. A subsection's entries follow its parent
 * section's in the table (the order docs and dumps are written in).
 */
#ifndef WR_CONFIG_H
#define WR_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum wr_cfg_type {
	WR_CFG_STRING,
	WR_CFG_INT,
	WR_CFG_BOOL,
	WR_CFG_DURATION,
	WR_CFG_SIZE,
	WR_CFG_ENUM,
	WR_CFG_LIST,
};

typedef struct wr_cfg_entry {
	const char
	    *name; /* dotted path, one to three levels: "kafka.bootstrap" */
	enum wr_cfg_type type;
	size_t offset; /* of the field in the config struct */
	int64_t min,
	    max;         /* INT, DURATION, SIZE; ignored when min == max == 0 */
	const char *def; /* default, in YAML spelling ("5s", "2", "none") */
	const char *enums; /* WR_CFG_ENUM: "none|kafka|kubernetes" */
	const char *doc;   /* one line for docs/configuration.md */
} wr_cfg_entry;

typedef struct wr_cfg_table {
	const char *title; /* "weir.yaml" */
	const char
	    *env_prefix; /* "WEIR_": jobmanager.rpc <- WEIR_JOBMANAGER_RPC */
	const wr_cfg_entry *entries;
	size_t n;
} wr_cfg_table;

/* Sets every field to its default. The table's defaults must be valid
 * (a bad default is a bug: WR_ASSERT). */
void wr_cfg_defaults(const wr_cfg_table *t, void *cfg);

/* Applies a YAML file over cfg. Errors (WR_EINVAL, WR_ENOENT, ...) carry
 * "path:line:col: ..." in errbuf; cfg may be partly updated on error. */
int wr_cfg_load_file(const wr_cfg_table *t, void *cfg, const char *path,
                     char *errbuf, size_t errlen);
int wr_cfg_load_string(const wr_cfg_table *t, void *cfg, const char *name,
                       const char *text, size_t len, char *errbuf,
                       size_t errlen);

/* Applies environment overrides: for each entry, env_prefix + the name in
 * upper case with '.' -> '_'. Errors name the variable. */
int wr_cfg_apply_env(const wr_cfg_table *t, void *cfg, char *errbuf,
                     size_t errlen);

/* Sets one key by dotted name from a string (command-line flags).
 * Errors: WR_ENOENT (unknown name), WR_EINVAL (bad value), with message. */
int wr_cfg_set(const wr_cfg_table *t, void *cfg, const char *name,
               const char *value, char *errbuf, size_t errlen);

/*
 * Where the value of entry name came from, for errors about rules across
 * keys: "WEIR_X: " when its environment variable is set, else
 * "path:line:col: " when the file at path sets it, else "".
 */
void wr_cfg_where(const wr_cfg_table *t, const char *path, const char *name,
                  char *out, size_t outlen);

/* Writes cfg as YAML that wr_cfg_load_* reads back to the same values. */
void wr_cfg_dump_yaml(const wr_cfg_table *t, const void *cfg, wr_buf *out);

/* Appends entry e's value in cfg as its YAML spelling, strings unquoted
 * (REST's /jobmanager/config). */
void wr_cfg_value_text(const wr_cfg_entry *e, const void *cfg, wr_buf *out);
/* Writes the Markdown reference (one table per section). */
void wr_cfg_doc_markdown(const wr_cfg_table *t, wr_buf *out);

/* Frees the strings of cfg (not cfg itself). */
void wr_cfg_free(const wr_cfg_table *t, void *cfg);

#endif
