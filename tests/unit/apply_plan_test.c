/*
 * apply_plan_test.c - `weir apply`'s plan (cli/apply.h) as a pure
 * function: missing jobs started, changed ones upgraded, unchanged ones
 * left, undeclared ones stopped only with --prune; a file that does not
 * validate, two files of one name and two running jobs of one name are
 * errors that touch nothing, and a broken file stops all pruning. Also
 * the content hash the plan compares (common/base/id.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "apply.h"
#include "id.h"

#include <stdlib.h>
#include <string.h>

#define F(p, n, h)                                                             \
	{                                                                      \
		.path = (p), .name = (n), .hash = (h)                          \
	}
#define J(i, n, h)                                                             \
	{                                                                      \
		.id = (i), .name = (n), .state = "RUNNING", .spec_hash = (h)   \
	}

static void
test_start_upgrade_keep(void **state)
{
	(void)state;
	cli_apply_file files[] = {F("d/a.yaml", "a", "h1"),
	                          F("d/b.yaml", "b", "h2"),
	                          F("d/c.yaml", "c", "h3")};
	cli_apply_job jobs[] = {J("id-b", "b", "h2"), J("id-c", "c", "old"),
	                        J("id-x", "x", "h9")};
	cli_apply_step *s;
	size_t n = cli_apply_plan(files, 3, jobs, 3, false, &s);
	assert_int_equal(n, 3); /* x is not pruned without --prune */
	assert_int_equal(s[0].action, CLI_APPLY_START);
	assert_int_equal(s[0].file, 0);
	assert_int_equal(s[0].job, -1);
	assert_int_equal(s[1].action, CLI_APPLY_KEEP);
	assert_int_equal(s[1].job, 0);
	assert_int_equal(s[2].action, CLI_APPLY_UPGRADE);
	assert_int_equal(s[2].job, 1);
	free(s);
}

static void
test_prune(void **state)
{
	(void)state;
	cli_apply_file files[] = {F("d/a.yaml", "a", "h1")};
	cli_apply_job jobs[] = {J("id-a", "a", "h1"), J("id-x", "x", "h9"),
	                        J("id-y", "y", "")};
	cli_apply_step *s;
	size_t n = cli_apply_plan(files, 1, jobs, 3, true, &s);
	assert_int_equal(n, 3);
	assert_int_equal(s[0].action, CLI_APPLY_KEEP);
	assert_int_equal(s[1].action, CLI_APPLY_STOP);
	assert_int_equal(s[1].job, 1);
	assert_int_equal(s[1].file, -1);
	assert_int_equal(s[2].action, CLI_APPLY_STOP);
	assert_int_equal(s[2].job, 2);
	free(s);
	/* an empty directory with --prune stops everything */
	n = cli_apply_plan(NULL, 0, jobs, 3, true, &s);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(s[i].action, CLI_APPLY_STOP);
	free(s);
}

static void
test_invalid_file(void **state)
{
	(void)state;
	cli_apply_file files[] = {
	    F("d/a.yaml", "a", "new"),
	    {.path = "d/b.yaml", .error = "d/b.yaml:3:5: unknown key 'x'"}};
	cli_apply_job jobs[] = {J("id-a", "a", "old"), J("id-b", "b", "h")};
	cli_apply_step *s;
	size_t n = cli_apply_plan(files, 2, jobs, 2, true, &s);
	/* a still upgraded; b an error; nothing pruned (b's job may be the
	 * one its broken file declares) */
	assert_int_equal(n, 2);
	assert_int_equal(s[0].action, CLI_APPLY_UPGRADE);
	assert_int_equal(s[1].action, CLI_APPLY_ERROR);
	assert_string_equal(s[1].why, "d/b.yaml:3:5: unknown key 'x'");
	free(s);
}

static void
test_duplicate_names(void **state)
{
	(void)state;
	cli_apply_file files[] = {F("d/a.yaml", "a", "h1"),
	                          F("d/a2.yaml", "a", "h2"),
	                          F("d/b.yaml", "b", "h3")};
	cli_apply_job jobs[] = {J("id-b1", "b", "h3"), J("id-b2", "b", "h3")};
	cli_apply_step *s;
	size_t n = cli_apply_plan(files, 3, jobs, 2, true, &s);
	assert_int_equal(n, 3); /* neither b job is pruned: a file names b */
	assert_int_equal(s[0].action, CLI_APPLY_ERROR);
	assert_non_null(strstr(s[0].why, "d/a2.yaml"));
	assert_int_equal(s[1].action, CLI_APPLY_ERROR);
	assert_int_equal(s[2].action, CLI_APPLY_ERROR);
	assert_non_null(strstr(s[2].why, "2 running jobs are named 'b'"));
	free(s);
}

static void
test_content_hash(void **state)
{
	(void)state;
	char a[WR_CONTENT_HASH_BYTES], b[WR_CONTENT_HASH_BYTES];
	wr_content_hash("", 0, a);
	assert_string_equal(a, "cbf29ce484222325"); /* FNV-1a 64 offset */
	wr_content_hash("a", 1, a);
	assert_string_equal(a, "af63dc4c8601ec8c"); /* published vector */
	wr_content_hash("name: x\n", 8, a);
	wr_content_hash("name: y\n", 8, b);
	assert_string_not_equal(a, b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_upgrade_keep),
	    cmocka_unit_test(test_prune),
	    cmocka_unit_test(test_invalid_file),
	    cmocka_unit_test(test_duplicate_names),
	    cmocka_unit_test(test_content_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
