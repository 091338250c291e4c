/*
 * yaml_test.c - the positioned YAML tree: marks (1-based), scalar styles,
 * and hostile input (aliases, anchors, duplicate keys, deep nesting, too
 * many nodes, garbage bytes) refused with "name:line:col: what".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "wrtest.h"

#include "buf.h"
#include "err.h"
#include "wr_limits.h"
#include "wr_yaml.h"

static char errbuf[512];

static wr_yaml_doc *
load_ok(const char *text)
{
	wr_yaml_doc *doc = NULL;
	int rc = wr_yaml_load_string("t.yaml", text, strlen(text), &doc, errbuf,
	                             sizeof(errbuf));
	if (rc != WR_OK)
		fail_msg("load failed: %s", errbuf);
	assert_non_null(doc);
	return doc;
}

/* Loads text (len bytes), expects WR_EINVAL and a message that starts with
 * prefix ("t.yaml:2:3: ") and contains what. */
static void
load_bad_n(const char *text, size_t len, const char *prefix, const char *what)
{
	wr_yaml_doc *doc = (wr_yaml_doc *)&doc; /* must become NULL */
	int rc;

	errbuf[0] = '\0';
	rc = wr_yaml_load_string("t.yaml", text, len, &doc, errbuf,
	                         sizeof(errbuf));
	print_message("error: %s\n", errbuf);
	assert_int_equal(rc, WR_EINVAL);
	assert_null(doc);
	assert_true(strncmp(errbuf, prefix, strlen(prefix)) == 0);
	if (what != NULL)
		assert_non_null(strstr(errbuf, what));
}

static void
load_bad(const char *text, const char *prefix, const char *what)
{
	load_bad_n(text, strlen(text), prefix, what);
}

static void
assert_at(const wr_yaml_node *n, int line, int col)
{
	assert_non_null(n);
	assert_int_equal(n->line, line);
	assert_int_equal(n->col, col);
}

static void
test_block_marks(void **state)
{
	wr_yaml_doc *doc = load_ok("a: 1\n"
	                           "b:\n"
	                           "  c: hello\n"
	                           "  d:\n"
	                           "    - x\n"
	                           "    - y\n");
	const wr_yaml_node *root = wr_yaml_root(doc);
	const wr_yaml_node *b, *d;

	(void)state;
	assert_int_equal(root->kind, WR_YAML_MAP);
	assert_at(root, 1, 1);
	assert_int_equal(root->n, 2);
	assert_at(root->keys[0], 1, 1);
	assert_at(root->values[0], 1, 4);
	assert_string_equal(root->values[0]->scalar, "1");
	b = wr_yaml_map_get(root, "b");
	assert_int_equal(b->kind, WR_YAML_MAP);
	assert_at(b, 3, 3);
	assert_at(b->keys[0], 3, 3);
	assert_at(wr_yaml_map_get(b, "c"), 3, 6);
	assert_string_equal(wr_yaml_map_get(b, "c")->scalar, "hello");
	d = wr_yaml_map_get(b, "d");
	assert_int_equal(d->kind, WR_YAML_SEQ);
	assert_int_equal(d->n, 2);
	assert_null(d->keys);
	assert_at(d->values[1], 6, 7);
	assert_string_equal(d->values[1]->scalar, "y");
	assert_null(wr_yaml_map_get(root, "zz"));
	assert_null(wr_yaml_map_get(d, "x")); /* not a map */
	assert_string_equal(wr_yaml_name(doc), "t.yaml");
	wr_yaml_doc_free(doc);
}

static void
test_flow_marks(void **state)
{
	wr_yaml_doc *doc = load_ok("{a: [1, 22], b: {c: x}}");
	const wr_yaml_node *root = wr_yaml_root(doc);
	const wr_yaml_node *a = wr_yaml_map_get(root, "a");

	(void)state;
	assert_at(root, 1, 1);
	assert_at(a, 1, 5);
	assert_at(a->values[1], 1, 9);
	assert_string_equal(a->values[1]->scalar, "22");
	assert_at(wr_yaml_map_get(wr_yaml_map_get(root, "b"), "c"), 1, 21);
	wr_yaml_doc_free(doc);
}

static void
test_scalar_styles(void **state)
{
	wr_yaml_doc *doc = load_ok("q: \"\"\n"
	                           "t: ~\n"
	                           "n: null\n"
	                           "e:\n"
	                           "s: 'null'\n"
	                           "p: plain\n"
	                           "b: |\n"
	                           "  text\n"
	                           "z: \"a\\0b\"\n"
	                           "u: \"\\u00e9\"\n"
	                           "x: !!str 5\n");
	const wr_yaml_node *root = wr_yaml_root(doc);
	const wr_yaml_node *n;

	(void)state;
	n = wr_yaml_map_get(root, "q");
	assert_true(n->quoted && !n->is_null && n->scalar_len == 0);
	for (const char *k = "tne"; *k != '\0'; k++) {
		char key[2] = {*k, '\0'};
		n = wr_yaml_map_get(root, key);
		assert_true(n->is_null);
		assert_false(n->quoted);
	}
	assert_string_equal(wr_yaml_map_get(root, "e")->scalar, "");
	n = wr_yaml_map_get(root, "s");
	assert_true(n->quoted && !n->is_null);
	assert_string_equal(n->scalar, "null");
	n = wr_yaml_map_get(root, "p");
	assert_true(!n->quoted && !n->is_null);
	n = wr_yaml_map_get(root, "b");
	assert_true(n->quoted);
	assert_string_equal(n->scalar, "text\n");
	n = wr_yaml_map_get(root, "z");
	assert_int_equal(n->scalar_len, 3);
	assert_memory_equal(n->scalar, "a\0b", 4);
	assert_string_equal(wr_yaml_map_get(root, "u")->scalar, "\xc3\xa9");
	n = wr_yaml_map_get(root, "x");
	assert_true(n->quoted);
	assert_string_equal(n->scalar, "5");
	wr_yaml_doc_free(doc);
}

static void
test_empty_documents(void **state)
{
	static const char *const empty[] = {
	    "",        "\n",     "# only a comment\n", "---\n",
	    "--- ~\n", "null\n", "---\n...\n"};

	(void)state;
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		wr_yaml_doc *doc = load_ok(empty[i]);
		const wr_yaml_node *root = wr_yaml_root(doc);
		print_message("empty doc %zu\n", i);
		assert_int_equal(root->kind, WR_YAML_MAP);
		assert_int_equal(root->n, 0);
		assert_null(wr_yaml_map_get(root, "x"));
		wr_yaml_doc_free(doc);
	}
}

static void
test_scalar_and_seq_roots(void **state)
{
	wr_yaml_doc *doc = load_ok("hello");

	(void)state;
	assert_int_equal(wr_yaml_root(doc)->kind, WR_YAML_SCALAR);
	wr_yaml_doc_free(doc);
	doc = load_ok("- 1\n- 2\n");
	assert_int_equal(wr_yaml_root(doc)->kind, WR_YAML_SEQ);
	assert_int_equal(wr_yaml_root(doc)->n, 2);
	wr_yaml_doc_free(doc);
}

static void
test_aliases_and_anchors_refused(void **state)
{
	(void)state;
	load_bad("a: &x 1\nb: *x\n", "t.yaml:1:4: ", "anchors are not allowed");
	load_bad("a: 1\nb: *x\n", "t.yaml:2:4: ", "aliases are not allowed");
	load_bad("a: &m {b: 1}\n", "t.yaml:1:4: ", "anchors");
	load_bad("- &s [1]\n", "t.yaml:1:3: ", "anchors");
	/* The billion laughs: refused at the first anchor. */
	load_bad("a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a,*a]\nc: [*b,*b]\n",
	         "t.yaml:1:4: ", "anchors");
	load_bad("*x: 1\n", "t.yaml:1:1: ", "aliases");
}

static void
test_tags_refused(void **state)
{
	(void)state;
	load_bad("a: !!int 5\n",
	         "t.yaml:1:4: ", "tags are not allowed (!!int)");
	load_bad("a: !custom {b: 1}\n", "t.yaml:1:4: ", "tags");
}

static void
test_duplicate_keys(void **state)
{
	wr_buf b;

	(void)state;
	load_bad("a: 1\nb: 2\na: 3\n",
	         "t.yaml:3:1: ", "duplicate key 'a' (first at 1:1)");
	load_bad("x:\n  k: 1\n  k: 2\n", "t.yaml:3:3: ", "duplicate key 'k'");
	load_bad("{a: 1, b: 2, a: 3}", "t.yaml:1:14: ", "duplicate key 'a'");
	/* The first repetition in document order is the one reported. */
	load_bad("b: 1\na: 1\na: 2\nb: 2\n",
	         "t.yaml:3:1: ", "duplicate key 'a' (first at 2:1)");
	/* Many keys take the sorted path; still exact. */
	wr_buf_init(&b);
	for (int i = 0; i < 2000; i++)
		wr_buf_printf(&b, "k%d: %d\n", i, i);
	wr_buf_puts(&b, "k1234: again\n");
	load_bad(b.data, "t.yaml:2001:1: ", "duplicate key 'k1234'");
	wr_buf_fini(&b);
	/* Same key in different maps is fine; "a" and "a " are different. */
	wr_yaml_doc_free(load_ok("a: {k: 1}\nb: {k: 2}\n\"a \": 3\n"));
}

static void
test_non_scalar_keys_refused(void **state)
{
	(void)state;
	load_bad("? [a, b]\n: 1\n", "t.yaml:1:3: ", "must be a scalar");
	load_bad("{[a]: 1}", "t.yaml:1:2: ", "not a sequence");
	load_bad("{{a: 1}: 1}", "t.yaml:1:2: ", "not a map");
}

/* depth nested flow sequences: "[[[...]]]". */
static void
nested(wr_buf *b, int depth)
{
	wr_buf_init(b);
	for (int i = 0; i < depth; i++)
		wr_buf_putc(b, '[');
	for (int i = 0; i < depth; i++)
		wr_buf_putc(b, ']');
}

static void
test_deep_nesting(void **state)
{
	wr_buf b;
	char prefix[32];

	(void)state;
	nested(&b, WR_YAML_MAX_DEPTH);
	wr_yaml_doc_free(load_ok(b.data));
	wr_buf_fini(&b);

	nested(&b, WR_YAML_MAX_DEPTH + 1);
	snprintf(prefix, sizeof(prefix),
	         "t.yaml:1:%d: ", WR_YAML_MAX_DEPTH + 1);
	load_bad(b.data, prefix, "nested deeper than");
	wr_buf_fini(&b);

	/* Far deeper than the limit: refused early, no stack trouble. */
	nested(&b, 100000);
	load_bad(b.data, prefix, "nested deeper than");
	wr_buf_fini(&b);

	/* Block maps count the same way. */
	wr_buf_init(&b);
	for (int i = 0; i <= WR_YAML_MAX_DEPTH; i++)
		wr_buf_printf(&b, "%*sk:\n", 2 * i, "");
	wr_buf_puts(&b, "\n");
	wr_buf_printf(&b, "%*sleaf: 1\n", 2 * (WR_YAML_MAX_DEPTH + 1), "");
	snprintf(prefix, sizeof(prefix),
	         "t.yaml:%d:%d: ", WR_YAML_MAX_DEPTH + 1,
	         2 * WR_YAML_MAX_DEPTH + 1);
	load_bad(b.data, prefix, "nested deeper than");
	wr_buf_fini(&b);
}

static void
test_too_many_nodes(void **state)
{
	wr_buf b;

	(void)state;
	wr_buf_init(&b);
	wr_buf_putc(&b, '[');
	/* The sequence itself is one node, then MAX - 1 scalars. */
	for (int i = 0; i < WR_YAML_MAX_NODES - 2; i++)
		wr_buf_puts(&b, "0,");
	wr_buf_puts(&b, "0]");
	wr_yaml_doc_free(load_ok(b.data));
	b.data[b.len - 1] = ',';
	wr_buf_puts(&b, "1]");
	load_bad(b.data, "t.yaml:1:", "more than 100000 nodes");
	wr_buf_fini(&b);
}

static void
test_syntax_errors(void **state)
{
	(void)state;
	load_bad("a: [1, 2\n", "t.yaml:2:1: ", NULL);
	load_bad("a: b: c\n", "t.yaml:1:5: ", "mapping values are not allowed");
	load_bad("a: 1\n  b: 2\n", "t.yaml:2:4: ", NULL);
	load_bad("key: \"unterminated\n", "t.yaml:", "quoted scalar");
	load_bad("[1]\n]\n", "t.yaml:2:1: ", NULL); /* trailing garbage */
	load_bad("a: 1\n\tb: 2\n", "t.yaml:2:1: ", NULL);
}

static void
test_garbage_bytes(void **state)
{
	(void)state;
	/* Reader errors carry an offset, mapped to line:col. */
	load_bad("a: 1\nb: \x01\n", "t.yaml:2:4: ", "control characters");
	load_bad("a: \xff\xfe\n", "t.yaml:1:4: ", "UTF-8");
	load_bad_n("\xff\xfe\x00g\x00a", 6, "t.yaml:1:1: ", NULL);
	load_bad_n("a: x\0y\n", 7, "t.yaml:1:5: ", NULL);
	load_bad("\xc3\xa9: \xe2\x82", "t.yaml:1:4: ", "UTF-8");
}

/* Random bytes and mutations of a valid file: either a tree or an error
 * with the name prefix; never a crash (ASan watches). */
static void
test_random_input(void **state)
{
	static const char base[] = "jobmanager:\n  rpc: \"tcp://x:1\"\n"
	                           "list: [1, {a: b}, 'q']\nk: |\n  t\n";
	unsigned seed = 12345;
	char text[sizeof(base)];

	(void)state;
	for (int iter = 0; iter < 4000; iter++) {
		wr_yaml_doc *doc = NULL;
		size_t len = sizeof(base) - 1;
		int rc;
		memcpy(text, base, sizeof(base));
		for (int m = 0; m < 1 + iter % 4; m++) {
			static const char syms[] = "[]{}:,-&*!?|>'\"\n #";
			size_t pos;
			seed = seed * 1103515245u + 12345u;
			pos = (seed >> 8) % len;
			seed = seed * 1103515245u + 12345u;
			/* First YAML punctuation, then arbitrary bytes. */
			if (iter < 2000)
				text[pos] =
				    syms[(seed >> 8) % (sizeof(syms) - 1)];
			else
				text[pos] = (char)((seed >> 16) & 0xff);
		}
		rc = wr_yaml_load_string("t.yaml", text, len, &doc, errbuf,
		                         sizeof(errbuf));
		if (rc == WR_OK) {
			assert_non_null(wr_yaml_root(doc));
			wr_yaml_doc_free(doc);
		} else {
			assert_int_equal(rc, WR_EINVAL);
			assert_null(doc);
			assert_true(strncmp(errbuf, "t.yaml:", 7) == 0);
		}
	}
}

static void
test_load_file(void **state)
{
	char path[WRT_TMPFILE_LEN];
	wr_yaml_doc *doc = NULL;
	char want[128];
	FILE *f;

	(void)state;
	wrt_tmpfile(path, "yaml", "a: 1\nb: [x, y]\nb: 2\n");
	assert_int_equal(wr_yaml_load_file(path, &doc, errbuf, sizeof(errbuf)),
	                 WR_EINVAL);
	assert_null(doc);
	snprintf(want, sizeof(want), "%s:3:1: duplicate key 'b'", path);
	assert_true(strncmp(errbuf, want, strlen(want)) == 0);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("a: 1\n", f);
	fclose(f);
	assert_int_equal(wr_yaml_load_file(path, &doc, errbuf, sizeof(errbuf)),
	                 WR_OK);
	assert_string_equal(wr_yaml_name(doc), path);
	assert_string_equal(wr_yaml_map_get(wr_yaml_root(doc), "a")->scalar,
	                    "1");
	wr_yaml_doc_free(doc);
	unlink(path);

	assert_int_equal(wr_yaml_load_file(path, &doc, errbuf, sizeof(errbuf)),
	                 WR_ENOENT);
	assert_null(doc);
	assert_true(strncmp(errbuf, path, strlen(path)) == 0);
	assert_int_not_equal(
	    wr_yaml_load_file("/", &doc, errbuf, sizeof(errbuf)), WR_OK);
	assert_null(doc);
}

static void
test_first_document_only(void **state)
{
	wr_yaml_doc *doc = load_ok("a: 1\n---\nb: 2\n");

	(void)state;
	assert_non_null(wr_yaml_map_get(wr_yaml_root(doc), "a"));
	assert_null(wr_yaml_map_get(wr_yaml_root(doc), "b"));
	wr_yaml_doc_free(doc);
}

static void
test_misc(void **state)
{
	char small[12];
	wr_yaml_doc *doc = NULL;

	(void)state;
	assert_string_equal(wr_yaml_kind_name(WR_YAML_MAP), "map");
	assert_string_equal(wr_yaml_kind_name(WR_YAML_SEQ), "sequence");
	assert_string_equal(wr_yaml_kind_name(WR_YAML_SCALAR), "scalar");
	wr_yaml_doc_free(NULL);
	/* A short error buffer truncates, and no buffer at all is fine. */
	assert_int_equal(
	    wr_yaml_load_string("t.yaml", "*a", 2, &doc, small, sizeof(small)),
	    WR_EINVAL);
	assert_string_equal(small, "t.yaml:1:1:");
	assert_int_equal(wr_yaml_load_string("t.yaml", "*a", 2, &doc, NULL, 0),
	                 WR_EINVAL);
	/* No text at all is an empty document. */
	assert_int_equal(wr_yaml_load_string("t.yaml", NULL, 0, &doc, NULL, 0),
	                 WR_OK);
	assert_int_equal(wr_yaml_root(doc)->kind, WR_YAML_MAP);
	wr_yaml_doc_free(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_block_marks),
	    cmocka_unit_test(test_flow_marks),
	    cmocka_unit_test(test_scalar_styles),
	    cmocka_unit_test(test_empty_documents),
	    cmocka_unit_test(test_scalar_and_seq_roots),
	    cmocka_unit_test(test_aliases_and_anchors_refused),
	    cmocka_unit_test(test_tags_refused),
	    cmocka_unit_test(test_duplicate_keys),
	    cmocka_unit_test(test_non_scalar_keys_refused),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_too_many_nodes),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_garbage_bytes),
	    cmocka_unit_test(test_random_input),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_first_document_only),
	    cmocka_unit_test(test_misc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
