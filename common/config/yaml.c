/*
 * yaml.c - libyaml events to a tree of wr_yaml_node with positions.
 *
 * The tree is built by recursive descent over the event stream. Recursion is
 * bounded by WR_YAML_MAX_DEPTH and the tree by WR_YAML_MAX_NODES, which also
 * bounds every loop over events.
 */
#include "wr_yaml.h"

#include <yaml.h> /* libyaml */

#include "buf.h"
#include "err.h"
#include "fsutil.h"
#include "mem.h"
#include "parse.h"
#include "wr_limits.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An explicit "!!str" tag makes a plain scalar a string; other tags have no
 * meaning in weir's files and are refused rather than silently ignored. */
#define WR_YAML_STR_TAG "tag:yaml.org,2002:str"

struct wr_yaml_doc {
	char *name;
	wr_yaml_node *root;
};

typedef struct wr_yaml_parser {
	yaml_parser_t yp;
	const char *name;
	const char *text; /* the input, to place reader errors */
	size_t len;
	size_t nodes;
	char *errbuf;
	size_t errlen;
} wr_yaml_parser;

static int wr_yaml_parse_node(wr_yaml_parser *p, yaml_event_t *ev, int depth,
                              wr_yaml_node **out);

static int __attribute__((format(printf, 4, 5)))
wr_yaml_fail(wr_yaml_parser *p, size_t line, size_t col, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->errlen == 0)
		return WR_EINVAL;
	n = snprintf(p->errbuf, p->errlen, "%s:%zu:%zu: ", p->name, line, col);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->errbuf + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return WR_EINVAL;
}

/* libyaml marks are 0-based; messages are 1-based like every editor. */
#define WR_YAML_AT(m) ((m).line + 1), ((m).column + 1)

/* Reader errors carry a byte offset, not a mark: count lines and
 * characters (UTF-8 lead bytes) up to it. */
static void
wr_yaml_offset_pos(const char *text, size_t len, size_t off, size_t *line,
                   size_t *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)text[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

static int
wr_yaml_lib_error(wr_yaml_parser *p)
{
	const yaml_parser_t *yp = &p->yp;
	const char *problem = yp->problem ? yp->problem : "syntax error";
	size_t line, col;

	switch (yp->error) {
	case YAML_MEMORY_ERROR:
		snprintf(p->errbuf, p->errlen, "%s: out of memory", p->name);
		return WR_ENOMEM;
	case YAML_READER_ERROR:
		wr_yaml_offset_pos(p->text, p->len, yp->problem_offset, &line,
		                   &col);
		if (yp->problem_value == -1)
			return wr_yaml_fail(p, line, col, "%s", problem);
		return wr_yaml_fail(p, line, col, "%s (0x%x)", problem,
		                    (unsigned)yp->problem_value);
	default:
		if (yp->context == NULL)
			return wr_yaml_fail(p, WR_YAML_AT(yp->problem_mark),
			                    "%s", problem);
		return wr_yaml_fail(p, WR_YAML_AT(yp->problem_mark),
		                    "%s (%s at %zu:%zu)", problem, yp->context,
		                    WR_YAML_AT(yp->context_mark));
	}
}

static int
wr_yaml_next(wr_yaml_parser *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&p->yp, ev))
		return wr_yaml_lib_error(p);
	return WR_OK;
}

/* Shows "tag:yaml.org,2002:int" as the user wrote it, "!!int": returns
 * the prefix to print and advances *tag past the long form. */
static const char *
wr_yaml_short_tag(const yaml_char_t **tag)
{
	static const char core[] = "tag:yaml.org,2002:";

	if (strncmp((const char *)*tag, core, sizeof(core) - 1) != 0)
		return "";
	*tag += sizeof(core) - 1;
	return "!!";
}

/* Refuses what weir's files never need: aliases, anchors, tags, and trees
 * too deep or too large. */
static int
wr_yaml_check_event(wr_yaml_parser *p, const yaml_event_t *ev, int depth)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return wr_yaml_fail(p, WR_YAML_AT(ev->start_mark),
		                    "aliases are not allowed (*%s)",
		                    (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		if (tag != NULL &&
		    strcmp((const char *)tag, WR_YAML_STR_TAG) == 0)
			tag = NULL;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		return wr_yaml_fail(p, WR_YAML_AT(ev->start_mark),
		                    "unexpected YAML event %d", (int)ev->type);
	}
	if (anchor != NULL)
		return wr_yaml_fail(p, WR_YAML_AT(ev->start_mark),
		                    "anchors are not allowed (&%s)",
		                    (const char *)anchor);
	if (tag != NULL) {
		const char *bang = wr_yaml_short_tag(&tag);
		return wr_yaml_fail(p, WR_YAML_AT(ev->start_mark),
		                    "tags are not allowed (%s%s)", bang,
		                    (const char *)tag);
	}
	if (++p->nodes > WR_YAML_MAX_NODES)
		return wr_yaml_fail(p, WR_YAML_AT(ev->start_mark),
		                    "more than %d nodes", WR_YAML_MAX_NODES);
	if (ev->type != YAML_SCALAR_EVENT && depth > WR_YAML_MAX_DEPTH)
		return wr_yaml_fail(p, WR_YAML_AT(ev->start_mark),
		                    "nested deeper than %d levels",
		                    WR_YAML_MAX_DEPTH);
	return WR_OK;
}

static void
wr_yaml_node_free(wr_yaml_node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n; i++) {
		if (n->keys != NULL)
			wr_yaml_node_free(n->keys[i]);
		wr_yaml_node_free(n->values[i]);
	}
	free(n->keys);
	free(n->values);
	free(n->scalar);
	free(n);
}

/* Appends to a map (key != NULL) or sequence. The capacity is implicit: the
 * arrays double each time n reaches a power of two. */
static void
wr_yaml_push(wr_yaml_node *n, wr_yaml_node *key, wr_yaml_node *val)
{
	if ((n->n & (n->n - 1)) == 0) {
		size_t cap = n->n ? n->n * 2 : 1;
		n->values = wr_xrealloc(n->values, cap * sizeof(*n->values));
		if (key != NULL)
			n->keys = wr_xrealloc(n->keys, cap * sizeof(*n->keys));
	}
	if (key != NULL)
		n->keys[n->n] = key;
	n->values[n->n++] = val;
}

static void
wr_yaml_set_scalar(wr_yaml_node *n, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;

	n->kind = WR_YAML_SCALAR;
	/* Not strndup: a "\0" escape can put a NUL inside the value. */
	n->scalar = wr_xmalloc(len + 1);
	memcpy(n->scalar, v, len);
	n->scalar[len] = '\0';
	n->scalar_len = len;
	/* Block scalars (| and >) are strings too: only plain ones typed. */
	n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	            ev->data.scalar.tag != NULL;
	n->is_null = !n->quoted && (len == 0 || strcmp(n->scalar, "~") == 0 ||
	                            strcmp(n->scalar, "null") == 0 ||
	                            strcmp(n->scalar, "Null") == 0 ||
	                            strcmp(n->scalar, "NULL") == 0);
}

static int
wr_yaml_key_cmp(const void *a, const void *b)
{
	const wr_yaml_node *x = *(const wr_yaml_node *const *)a;
	const wr_yaml_node *y = *(const wr_yaml_node *const *)b;
	size_t n =
	    x->scalar_len < y->scalar_len ? x->scalar_len : y->scalar_len;
	int c = memcmp(x->scalar, y->scalar, n);

	if (c != 0)
		return c;
	if (x->scalar_len != y->scalar_len)
		return x->scalar_len < y->scalar_len ? -1 : 1;
	/* Equal keys stay in document order. */
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->col < y->col ? -1 : x->col > y->col;
}

static bool
wr_yaml_key_eq(const wr_yaml_node *x, const wr_yaml_node *y)
{
	return x->scalar_len == y->scalar_len &&
	       memcmp(x->scalar, y->scalar, x->scalar_len) == 0;
}

static bool
wr_yaml_before(const wr_yaml_node *x, const wr_yaml_node *y)
{
	return x->line < y->line || (x->line == y->line && x->col < y->col);
}

/*
 * Refuses a key given twice, naming the first repetition in document order.
 * Sorting keeps a hostile map of many keys from costing n^2 comparisons.
 */
static int
wr_yaml_check_dups(wr_yaml_parser *p, const wr_yaml_node *map)
{
	const wr_yaml_node *first = NULL, *dup = NULL;
	wr_yaml_node **sorted;
	char key[80];
	int rc = WR_OK;

	if (map->n < 2)
		return WR_OK;
	sorted = wr_xmalloc(map->n * sizeof(*sorted));
	memcpy(sorted, map->keys, map->n * sizeof(*sorted));
	qsort(sorted, map->n, sizeof(*sorted), wr_yaml_key_cmp);
	for (size_t i = 1; i < map->n; i++) {
		if (!wr_yaml_key_eq(sorted[i - 1], sorted[i]))
			continue;
		if (dup == NULL || wr_yaml_before(sorted[i], dup)) {
			first = sorted[i - 1];
			dup = sorted[i];
		}
	}
	if (dup != NULL) {
		wr_quote_for_msg(dup->scalar, dup->scalar_len, key,
		                 sizeof(key));
		rc = wr_yaml_fail(p, (size_t)dup->line, (size_t)dup->col,
		                  "duplicate key '%s' (first at %d:%d)", key,
		                  first->line, first->col);
	}
	free(sorted);
	return rc;
}

static int
wr_yaml_parse_map(wr_yaml_parser *p, wr_yaml_node *map, int depth)
{
	for (;;) {
		yaml_event_t ev;
		wr_yaml_node *key = NULL, *val = NULL;
		int rc = wr_yaml_next(p, &ev);
		if (rc != WR_OK)
			return rc;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return wr_yaml_check_dups(p, map);
		}
		if (ev.type == YAML_SEQUENCE_START_EVENT ||
		    ev.type == YAML_MAPPING_START_EVENT) {
			rc = wr_yaml_fail(
			    p, WR_YAML_AT(ev.start_mark),
			    "a mapping key must be a scalar, not a "
			    "%s",
			    ev.type == YAML_SEQUENCE_START_EVENT ? "sequence"
			                                         : "map");
			yaml_event_delete(&ev);
			return rc;
		}
		rc = wr_yaml_parse_node(p, &ev, depth + 1, &key);
		if (rc != WR_OK)
			return rc;
		rc = wr_yaml_next(p, &ev);
		if (rc == WR_OK)
			rc = wr_yaml_parse_node(p, &ev, depth + 1, &val);
		if (rc != WR_OK) {
			wr_yaml_node_free(key);
			return rc;
		}
		wr_yaml_push(map, key, val);
	}
}

static int
wr_yaml_parse_seq(wr_yaml_parser *p, wr_yaml_node *seq, int depth)
{
	for (;;) {
		yaml_event_t ev;
		wr_yaml_node *val = NULL;
		int rc = wr_yaml_next(p, &ev);
		if (rc != WR_OK)
			return rc;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return WR_OK;
		}
		rc = wr_yaml_parse_node(p, &ev, depth + 1, &val);
		if (rc != WR_OK)
			return rc;
		wr_yaml_push(seq, NULL, val);
	}
}

/* Builds the node that starts with ev; takes ownership of ev. depth is that
 * of the node (the root is 1). On error *out is NULL. */
static int
wr_yaml_parse_node(wr_yaml_parser *p, yaml_event_t *ev, int depth,
                   wr_yaml_node **out)
{
	wr_yaml_node *n = NULL;
	int rc = wr_yaml_check_event(p, ev, depth);

	if (rc != WR_OK)
		goto done;
	n = wr_xcalloc(1, sizeof(*n));
	n->line = (int)ev->start_mark.line + 1;
	n->col = (int)ev->start_mark.column + 1;
	if (ev->type == YAML_SCALAR_EVENT) {
		wr_yaml_set_scalar(n, ev);
	} else if (ev->type == YAML_SEQUENCE_START_EVENT) {
		n->kind = WR_YAML_SEQ;
		rc = wr_yaml_parse_seq(p, n, depth);
	} else {
		n->kind = WR_YAML_MAP;
		rc = wr_yaml_parse_map(p, n, depth);
	}
	if (rc != WR_OK) {
		wr_yaml_node_free(n);
		n = NULL;
	}
done:
	yaml_event_delete(ev);
	*out = n;
	return rc;
}

static wr_yaml_node *
wr_yaml_empty_map(const yaml_mark_t *m)
{
	wr_yaml_node *n = wr_xcalloc(1, sizeof(*n));
	n->kind = WR_YAML_MAP;
	n->line = (int)m->line + 1;
	n->col = (int)m->column + 1;
	return n;
}

/*
 * Reads the events of the first document. What follows it is read only as
 * far as the next document start, so trailing garbage is still an error.
 */
static int
wr_yaml_parse_stream(wr_yaml_parser *p, wr_yaml_node **root)
{
	yaml_event_t ev;
	int rc;

	*root = NULL;
	for (int i = 0; i < 2; i++) { /* STREAM-START, then DOCUMENT-START */
		if ((rc = wr_yaml_next(p, &ev)) != WR_OK)
			return rc;
		if (ev.type == YAML_STREAM_END_EVENT) { /* no document at all */
			*root = wr_yaml_empty_map(&ev.start_mark);
			yaml_event_delete(&ev);
			return WR_OK;
		}
		yaml_event_delete(&ev);
	}
	if ((rc = wr_yaml_next(p, &ev)) != WR_OK)
		return rc;
	if ((rc = wr_yaml_parse_node(p, &ev, 1, root)) != WR_OK)
		return rc;
	for (int i = 0; i < 2 && rc == WR_OK; i++) { /* DOCUMENT-END, next */
		rc = wr_yaml_next(p, &ev);
		if (rc == WR_OK)
			yaml_event_delete(&ev);
	}
	if (rc != WR_OK) {
		wr_yaml_node_free(*root);
		*root = NULL;
	}
	return rc;
}

/* An empty document ("" or "---") reads as a null scalar; callers want a
 * map they can look keys up in. */
static void
wr_yaml_null_root_to_map(wr_yaml_node *root)
{
	if (root->kind != WR_YAML_SCALAR || !root->is_null)
		return;
	free(root->scalar);
	root->scalar = NULL;
	root->scalar_len = 0;
	root->is_null = false;
	root->kind = WR_YAML_MAP;
}

int
wr_yaml_load_string(const char *name, const char *text, size_t len,
                    wr_yaml_doc **out, char *errbuf, size_t errlen)
{
	wr_yaml_parser p = {.name = name,
	                    .text = text,
	                    .len = len,
	                    .errbuf = errbuf,
	                    .errlen = errlen};
	wr_yaml_node *root = NULL;
	wr_yaml_doc *doc;
	int rc;

	*out = NULL;
	if (text == NULL) { /* libyaml asserts on a NULL input */
		p.text = text = "";
		p.len = len = 0;
	}
	if (!yaml_parser_initialize(&p.yp)) {
		snprintf(errbuf, errlen, "%s: out of memory", name);
		return WR_ENOMEM;
	}
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)text, len);
	/* Fixed, so that reader error offsets are offsets into text. */
	yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING);
	rc = wr_yaml_parse_stream(&p, &root);
	yaml_parser_delete(&p.yp);
	if (rc != WR_OK)
		return rc;
	wr_yaml_null_root_to_map(root);
	doc = wr_xcalloc(1, sizeof(*doc));
	doc->name = wr_xstrdup(name);
	doc->root = root;
	*out = doc;
	return WR_OK;
}

int
wr_yaml_load_file(const char *path, wr_yaml_doc **out, char *errbuf,
                  size_t errlen)
{
	wr_buf text;
	int rc;

	*out = NULL;
	wr_buf_init(&text);
	rc = wr_read_text_file(path, WR_YAML_MAX_FILE_BYTES, &text, errbuf,
	                       errlen);
	if (rc == WR_OK)
		rc = wr_yaml_load_string(path, text.data, text.len, out, errbuf,
		                         errlen);
	wr_buf_fini(&text);
	return rc;
}

const wr_yaml_node *
wr_yaml_root(const wr_yaml_doc *doc)
{
	return doc->root;
}

const char *
wr_yaml_name(const wr_yaml_doc *doc)
{
	return doc->name;
}

const wr_yaml_node *
wr_yaml_map_get(const wr_yaml_node *map, const char *key)
{
	size_t len;

	if (map == NULL || map->kind != WR_YAML_MAP)
		return NULL;
	len = strlen(key);
	for (size_t i = 0; i < map->n; i++) {
		const wr_yaml_node *k = map->keys[i];
		if (k->scalar_len == len && memcmp(k->scalar, key, len) == 0)
			return map->values[i];
	}
	return NULL;
}

const char *
wr_yaml_kind_name(enum wr_yaml_kind kind)
{
	switch (kind) {
	case WR_YAML_SCALAR:
		return "scalar";
	case WR_YAML_MAP:
		return "map";
	case WR_YAML_SEQ:
		return "sequence";
	}
	return "unknown";
}

void
wr_yaml_doc_free(wr_yaml_doc *doc)
{
	if (doc == NULL)
		return;
	wr_yaml_node_free(doc->root);
	free(doc->name);
	free(doc);
}
