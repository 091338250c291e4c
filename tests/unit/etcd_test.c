/*
 * etcd_test.c - the etcd client against a real single-member etcd
 * (Debian's etcd-server) started by the test in a temporary directory on
 * free loopback ports: leases, campaigns, epochs, fenced writes, prefix
 * reads, lease expiry, endpoint failover and an unreachable cluster.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "etcd.h"
#include "fsutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY "/weir/test/leader"

static char g_dir[64];
static char g_url[64];
static pid_t g_etcd;

static int
free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		return -1;
	close(fd);
	return ntohs(a.sin_port);
}

static int64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Starts etcd and polls (bounded) until a lease can be granted. */
static int
setup_etcd(void **state)
{
	(void)state;
	int cport = free_port(), pport = free_port();
	char peer[64], initial[96], data[96], log[96];
	snprintf(g_dir, sizeof(g_dir), "/tmp/weir-etcd-test-XXXXXX");
	if (cport < 0 || pport < 0 || mkdtemp(g_dir) == NULL)
		return -1;
	snprintf(g_url, sizeof(g_url), "http://127.0.0.1:%d", cport);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", pport);
	snprintf(initial, sizeof(initial), "t=%s", peer);
	snprintf(data, sizeof(data), "%s/data", g_dir);
	snprintf(log, sizeof(log), "%s/etcd.log", g_dir);
	if ((g_etcd = fork()) == 0) {
		FILE *f = freopen(log, "w", stderr);
		(void)f;
		execlp("etcd", "etcd", "--name", "t", "--data-dir", data,
		       "--listen-client-urls", g_url, "--advertise-client-urls",
		       g_url, "--listen-peer-urls", peer,
		       "--initial-advertise-peer-urls", peer,
		       "--initial-cluster", initial, (char *)NULL);
		_exit(127);
	}
	char err[256];
	wr_etcd *e = NULL;
	if (g_etcd < 0 || wr_etcd_new(g_url, 500, &e, err, sizeof(err)) != 0)
		return -1;
	int64_t lease = 0;
	for (int64_t end = now_ms() + 15000; now_ms() < end; sleep_ms(50))
		if (wr_etcd_lease_grant(e, 5, &lease) == WR_OK)
			break;
	wr_etcd_free(e);
	if (lease == 0)
		fprintf(stderr, "etcd did not answer in 15 s; see %s\n", log);
	return lease != 0 ? 0 : -1;
}

static int
teardown_etcd(void **state)
{
	(void)state;
	if (g_etcd > 0) {
		kill(g_etcd, SIGKILL);
		waitpid(g_etcd, NULL, 0);
	}
	wr_rmtree(g_dir);
	return 0;
}

static wr_etcd *
client(const char *endpoints)
{
	char err[256] = "";
	wr_etcd *e = NULL;
	assert_int_equal(wr_etcd_new(endpoints, 1000, &e, err, sizeof(err)),
	                 WR_OK);
	return e;
}

/* Two candidates: one wins, the other sees it; the epoch (create revision)
 * fences writes; a revoke hands leadership over at a higher epoch. */
static void
test_campaign_and_fencing(void **state)
{
	(void)state;
	wr_etcd *a = client(g_url), *b = client(g_url);
	int64_t la = 0, lb = 0, ttl = 0;
	wr_etcd_kv h = {0};
	assert_int_equal(wr_etcd_lease_grant(a, 10, &la), WR_OK);
	assert_int_equal(wr_etcd_lease_grant(b, 10, &lb), WR_OK);
	assert_int_equal(wr_etcd_campaign(a, KEY, "jm-a", la, &h), WR_OK);
	assert_int_equal(h.lease, la);
	assert_string_equal((char *)h.value, "jm-a");
	int64_t epoch_a = h.create_rev;
	assert_true(epoch_a > 0);
	wr_etcd_kv_fini(&h);

	assert_int_equal(wr_etcd_campaign(b, KEY, "jm-b", lb, &h), WR_OK);
	assert_int_equal(h.lease, la); /* b lost: a holds the key */
	assert_string_equal((char *)h.value, "jm-a");
	assert_int_equal(h.create_rev, epoch_a);
	wr_etcd_kv_fini(&h);

	assert_int_equal(
	    wr_etcd_put_fenced(a, "/weir/test/jobs/1", "x", 1, KEY, epoch_a),
	    WR_OK);
	assert_int_equal(wr_etcd_lease_keepalive(a, la, &ttl), WR_OK);
	assert_true(ttl > 0 && ttl <= 10);

	/* a steps down; b takes over at a later epoch; a is fenced. */
	assert_int_equal(wr_etcd_lease_revoke(a, la), WR_OK);
	assert_int_equal(wr_etcd_lease_keepalive(a, la, &ttl), WR_ENOENT);
	assert_int_equal(wr_etcd_campaign(b, KEY, "jm-b", lb, &h), WR_OK);
	assert_int_equal(h.lease, lb);
	assert_true(h.create_rev > epoch_a);
	int64_t epoch_b = h.create_rev;
	wr_etcd_kv_fini(&h);
	assert_int_equal(
	    wr_etcd_put_fenced(a, "/weir/test/jobs/1", "y", 1, KEY, epoch_a),
	    WR_EPERM);
	assert_int_equal(
	    wr_etcd_delete_fenced(a, "/weir/test/jobs/1", KEY, epoch_a),
	    WR_EPERM);
	assert_int_equal(wr_etcd_get(b, "/weir/test/jobs/1", &h), WR_OK);
	assert_string_equal((char *)h.value, "x");
	wr_etcd_kv_fini(&h);
	assert_int_equal(
	    wr_etcd_delete_fenced(b, "/weir/test/jobs/1", KEY, epoch_b), WR_OK);
	assert_int_equal(wr_etcd_get(b, "/weir/test/jobs/1", &h), WR_ENOENT);
	assert_int_equal(wr_etcd_lease_revoke(b, lb), WR_OK);
	assert_int_equal(wr_etcd_get(b, KEY, &h), WR_ENOENT);
	wr_etcd_free(a);
	wr_etcd_free(b);
}

/* A lease nobody renews expires, and its key goes with it. */
static void
test_lease_expiry(void **state)
{
	(void)state;
	wr_etcd *e = client(g_url);
	int64_t lease = 0, ttl = 0;
	wr_etcd_kv h = {0};
	assert_int_equal(wr_etcd_lease_grant(e, 2, &lease), WR_OK);
	assert_int_equal(wr_etcd_campaign(e, KEY, "jm", lease, &h), WR_OK);
	assert_int_equal(h.lease, lease);
	wr_etcd_kv_fini(&h);
	int rv = WR_OK;
	for (int64_t end = now_ms() + 10000; now_ms() < end; sleep_ms(100))
		if ((rv = wr_etcd_get(e, KEY, &h)) == WR_ENOENT)
			break;
		else
			wr_etcd_kv_fini(&h);
	assert_int_equal(rv, WR_ENOENT);
	assert_int_equal(wr_etcd_lease_keepalive(e, lease, &ttl), WR_ENOENT);
	wr_etcd_free(e);
}

/* Binary values round-trip; a prefix read lists in key order and refuses
 * more than its maximum. */
static void
test_prefix_and_binary(void **state)
{
	(void)state;
	wr_etcd *e = client(g_url);
	int64_t lease = 0;
	wr_etcd_kv h = {0};
	assert_int_equal(wr_etcd_lease_grant(e, 10, &lease), WR_OK);
	assert_int_equal(wr_etcd_campaign(e, KEY, "jm", lease, &h), WR_OK);
	int64_t epoch = h.create_rev;
	wr_etcd_kv_fini(&h);
	const uint8_t bin[] = {0, 1, 2, 0xff, 0, 'z'};
	char key[64];
	for (int i = 3; i >= 0; i--) {
		snprintf(key, sizeof(key), "/weir/test/p/%d", i);
		assert_int_equal(wr_etcd_put_fenced(
		                     e, key, bin, sizeof(bin) - i, KEY, epoch),
		                 WR_OK);
	}
	wr_etcd_kv *kvs = NULL;
	size_t n = 0;
	assert_int_equal(wr_etcd_get_prefix(e, "/weir/test/p/", 10, &kvs, &n),
	                 WR_OK);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "/weir/test/p/%zu", i);
		assert_string_equal(kvs[i].key, key);
		assert_int_equal(kvs[i].value_len, sizeof(bin) - i);
		assert_memory_equal(kvs[i].value, bin, kvs[i].value_len);
	}
	wr_etcd_kvs_free(kvs, n);
	assert_int_equal(wr_etcd_get_prefix(e, "/weir/test/p/", 3, &kvs, &n),
	                 WR_ETOOBIG);
	assert_int_equal(wr_etcd_get_prefix(e, "/weir/test/none/", 3, &kvs, &n),
	                 WR_OK);
	assert_int_equal(n, 0);
	wr_etcd_kvs_free(kvs, n);
	assert_int_equal(wr_etcd_lease_revoke(e, lease), WR_OK);
	wr_etcd_free(e);
}

/* A dead endpoint first in the list: calls go on to the live one. */
static void
test_failover_and_unreachable(void **state)
{
	(void)state;
	char list[160];
	int dead = free_port();
	snprintf(list, sizeof(list), "http://127.0.0.1:%d, %s/", dead, g_url);
	wr_etcd *e = client(list);
	int64_t lease = 0;
	assert_int_equal(wr_etcd_lease_grant(e, 5, &lease), WR_OK);
	assert_string_equal(wr_etcd_endpoint(e), g_url);
	assert_int_equal(wr_etcd_lease_revoke(e, lease), WR_OK);
	wr_etcd_free(e);

	snprintf(list, sizeof(list), "http://127.0.0.1:%d", dead);
	e = client(list);
	int64_t t0 = now_ms();
	assert_int_equal(wr_etcd_lease_grant(e, 5, &lease), WR_EUNREACHABLE);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(wr_etcd_last_error(e), list));
	wr_etcd_free(e);

	char err[256] = "";
	assert_int_equal(
	    wr_etcd_new("127.0.0.1:2379", 100, &e, err, sizeof(err)),
	    WR_EINVAL);
	assert_non_null(strstr(err, "http://"));
	assert_int_equal(wr_etcd_new(" , ", 100, &e, err, sizeof(err)),
	                 WR_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_campaign_and_fencing),
	    cmocka_unit_test(test_lease_expiry),
	    cmocka_unit_test(test_prefix_and_binary),
	    cmocka_unit_test(test_failover_and_unreachable),
	};
	return cmocka_run_group_tests(tests, setup_etcd, teardown_etcd);
}
