/*
 * policy_test.c - what a job may touch (jobmanager/policy.c): allowed
 * paths after normalization (".." cannot climb out), s3:// prefixes,
 * relative paths refused while a list is set, Kafka servers by host,
 * host:port and *.domain, database hosts read from libpq connection
 * strings in both forms, and a job's sources and sinks checked with
 * file:line:column.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy.h"

#include "err.h"
#include "jobspec.h"

#include <stdio.h>
#include <string.h>

static jm_policy
policy(const char *paths, const char *kafka, const char *hosts)
{
	jm_policy p;
	char err[256] = "";
	assert_int_equal(
	    jm_policy_init(&p, paths, kafka, hosts, err, sizeof(err)), WR_OK);
	return p;
}

static int
url(const jm_policy *p, const char *u)
{
	char err[512] = "";
	int rv =
	    jm_policy_check_url(p, "savepoint directory", u, err, sizeof(err));
	if (rv != WR_OK)
		assert_non_null(strstr(err, "savepoint directory"));
	return rv;
}

static void
test_paths(void **state)
{
	(void)state;
	jm_policy p = policy(" /data/weir/ , s3://bucket/sp/ ", "", "");
	assert_int_equal(url(&p, "/data/weir"), WR_OK);
	assert_int_equal(url(&p, "/data/weir/out/x"), WR_OK);
	assert_int_equal(url(&p, "file:///data/weir//a/./b"), WR_OK);
	assert_int_equal(url(&p, "/data/weirdo"), WR_EPERM);
	assert_int_equal(url(&p, "/data/weir/../../etc"), WR_EPERM);
	assert_int_equal(url(&p, "/data/weir/a/../../weir/b"), WR_OK);
	assert_int_equal(url(&p, "/../../data/weir/x"), WR_OK);
	assert_int_equal(url(&p, "relative/dir"), WR_EPERM);
	assert_int_equal(url(&p, "s3://bucket/sp/job1"), WR_OK);
	assert_int_equal(url(&p, "s3://bucket/spx"), WR_EPERM);
	assert_int_equal(url(&p, "s3://other/sp"), WR_EPERM);
	jm_policy_fini(&p);
	/* empty: anything */
	p = policy("", "", "");
	assert_int_equal(url(&p, "relative/dir"), WR_OK);
	assert_int_equal(url(&p, "/etc"), WR_OK);
	jm_policy_fini(&p);
	/* "/" allows every absolute path */
	p = policy("/", "", "");
	assert_int_equal(url(&p, "/etc/x"), WR_OK);
	assert_int_equal(url(&p, "x"), WR_EPERM);
	jm_policy_fini(&p);
	char err[256] = "";
	jm_policy q;
	assert_int_equal(
	    jm_policy_init(&q, "data/weir", "", "", err, sizeof(err)),
	    WR_EINVAL);
	assert_non_null(strstr(err, "'data/weir'"));
	assert_int_equal(jm_policy_init(&q, "/a,,/b", "", "", err, sizeof(err)),
	                 WR_EINVAL);
}

static void
test_pg_hosts(void **state)
{
	(void)state;
	char h[8][WR_ADDR_BYTES];
	assert_int_equal(jm_policy_pg_hosts("dbname=x user=y", h, 8), 1);
	assert_string_equal(h[0], "localhost");
	assert_int_equal(
	    jm_policy_pg_hosts("host=db1.example.com,10.0.0.5 port=5432", h, 8),
	    2);
	assert_string_equal(h[0], "db1.example.com");
	assert_string_equal(h[1], "10.0.0.5");
	assert_int_equal(
	    jm_policy_pg_hosts("host='my db' hostaddr=1.2.3.4", h, 8), 2);
	assert_string_equal(h[0], "my db");
	assert_string_equal(h[1], "1.2.3.4");
	assert_int_equal(jm_policy_pg_hosts("host=/var/run/postgresql", h, 8),
	                 1);
	assert_string_equal(h[0], "localhost");
	assert_int_equal(
	    jm_policy_pg_hosts(
	        "postgresql://u:p@db:5432,[::1]:6/x?sslmode=require"
	        "&host=evil.example.org",
	        h, 8),
	    3);
	assert_string_equal(h[0], "db");
	assert_string_equal(h[1], "::1");
	assert_string_equal(h[2], "evil.example.org");
	assert_int_equal(jm_policy_pg_hosts("postgres:///x", h, 8), 1);
	assert_string_equal(h[0], "localhost");
	/* a ClickHouse sink's url */
	jm_policy_url_host("http://u:p@[::1]:8123/", h[0], WR_ADDR_BYTES);
	assert_string_equal(h[0], "::1");
	jm_policy_url_host("https://ch.example.org", h[0], WR_ADDR_BYTES);
	assert_string_equal(h[0], "ch.example.org");
}

static wr_jobspec *
job(const char *sink)
{
	char yaml[2048], err[512] = "";
	snprintf(yaml, sizeof(yaml),
	         "name: j\nsources:\n  in:\n    kafka: { topic: t, bootstrap: "
	         "\"k1.corp:9092,k2.corp:9093\" }\n    schema: { id: long }\n"
	         "nodes:\n  - id: out\n    from: in\n    sink: %s\n",
	         sink);
	wr_jobspec *s = NULL;
	assert_int_equal(wr_jobspec_parse("j.yaml", yaml, strlen(yaml), 0, &s,
	                                  err, sizeof(err)),
	                 WR_OK);
	return s;
}

static int
check(const jm_policy *p, const char *sink, const char *want)
{
	wr_jobspec *s = job(sink);
	char err[1024] = "";
	int rv = jm_policy_check_job(p, s, err, sizeof(err));
	if (want != NULL && strstr(err, want) == NULL)
		fail_msg("%s\nnot in\n%s", want, err);
	wr_jobspec_free(s);
	return rv;
}

static void
test_job(void **state)
{
	(void)state;
	jm_policy p = policy("/data", "*.corp", "db.corp");
	assert_int_equal(check(&p, "{ file: { path: /data/out } }", NULL),
	                 WR_OK);
	assert_int_equal(check(&p, "{ file: { path: /data/../etc } }",
	                       "j.yaml:7:9: node 'out': file sink path '/etc' "
	                       "is outside security.allowed_paths (/data)"),
	                 WR_EPERM);
	assert_int_equal(
	    check(&p, "{ postgres: { dsn: \"host=db.corp\", table: t } }",
	          NULL),
	    WR_OK);
	assert_int_equal(
	    check(&p,
	          "{ postgres: { dsn: \"host=db.corp,x.corp\", table: t } }",
	          "database host 'x.corp' is not in security.allowed_hosts"),
	    WR_EPERM);
	assert_int_equal(
	    check(&p,
	          "{ clickhouse: { url: \"http://db.corp:8123\", table: t } }",
	          NULL),
	    WR_OK);
	assert_int_equal(
	    check(&p,
	          "{ clickhouse: { url: \"https://u@ch.evil:8443/\", "
	          "table: d.t } }",
	          "ClickHouse host 'ch.evil' is not in "
	          "security.allowed_hosts"),
	    WR_EPERM);
	assert_int_equal(
	    check(&p,
	          "{ kafka: { topic: o, bootstrap: \"k1.corp:9092,evil:9092\" "
	          "} }",
	          "Kafka server 'evil:9092' is not in security.allowed_kafka"),
	    WR_EPERM);
	jm_policy_fini(&p);
	/* ports: an entry with one must match it */
	p = policy("", "k1.corp:9092", "");
	assert_int_equal(check(&p, "{ stdout: {} }", "'k2.corp:9093'"),
	                 WR_EPERM);
	jm_policy_fini(&p);
	p = policy("", "k1.corp:9092,k2.corp", "");
	assert_int_equal(check(&p, "{ stdout: {} }", NULL), WR_OK);
	jm_policy_fini(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_pg_hosts),
	    cmocka_unit_test(test_job),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
