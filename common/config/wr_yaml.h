/*
 * wr_yaml.h - a YAML document as a tree of nodes that remember their line
 * and column, so that every later check can say file:line:col. Built with
 * libyaml's event API. Aliases and anchors are refused (a config or job file
 * has no use for them, and they allow billion-laughs expansion); duplicate
 * keys in a mapping are refused; depth and node count are bounded
 * (WR_YAML_MAX_DEPTH, WR_YAML_MAX_NODES).
 */
#ifndef WR_YAML_H
#define WR_YAML_H

#include <stdbool.h>
#include <stddef.h>

enum wr_yaml_kind {
	WR_YAML_SCALAR,
	WR_YAML_MAP,
	WR_YAML_SEQ,
};

typedef struct wr_yaml_node wr_yaml_node;
typedef struct wr_yaml_doc wr_yaml_doc;

struct wr_yaml_node {
	enum wr_yaml_kind kind;
	int line; /* 1-based */
	int col;  /* 1-based */
	/* WR_YAML_SCALAR */
	char *scalar; /* NUL-terminated; "" for an empty/null value */
	size_t scalar_len;
	bool quoted;  /* quoted, block (| >) or !!str: never null/bool/number */
	bool is_null; /* plain "", "~", "null" (or "Null", "NULL") */
	/* MAP: keys[i] (scalars) map to values[i]; SEQ: values only. */
	size_t n;
	wr_yaml_node **keys;
	wr_yaml_node **values;
};

/*
 * Loads the first document of a file or buffer. name is used in messages
 * ("weir.yaml"). On error returns WR_EINVAL (syntax, alias, duplicate key,
 * too deep/large) or WR_ENOENT / WR_ESYSERR (file), with
 * "name:line:col: what" (or "name: why" for I/O) in errbuf.
 * An empty document yields a root that is an empty map.
 */
int wr_yaml_load_file(const char *path, wr_yaml_doc **out, char *errbuf,
                      size_t errlen);
int wr_yaml_load_string(const char *name, const char *text, size_t len,
                        wr_yaml_doc **out, char *errbuf, size_t errlen);

const wr_yaml_node *wr_yaml_root(const wr_yaml_doc *doc);
/* The name given at load (the file path). */
const char *wr_yaml_name(const wr_yaml_doc *doc);
/* Value for key in a map node, NULL if absent or node is not a map. */
const wr_yaml_node *wr_yaml_map_get(const wr_yaml_node *map, const char *key);
/* "map", "sequence", "scalar" */
const char *wr_yaml_kind_name(enum wr_yaml_kind kind);

/* Accepts NULL. */
void wr_yaml_doc_free(wr_yaml_doc *doc);

#endif
