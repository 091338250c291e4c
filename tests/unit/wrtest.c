/*
 * wrtest.c - the unit tests' shared fixtures (wrtest.h): linked into every
 * unit test by weir_unit_test() in tests/CMakeLists.txt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wrtest.h"

#include "clock.h"
#include "err.h"
#include "etcd.h"
#include "fsutil.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

uint64_t
wrt_rng(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545f4914f6cdd1d);
}

uint64_t
wrt_rng_below(uint64_t *s, uint64_t n)
{
	return n == 0 ? 0 : wrt_rng(s) % n;
}

wr_value
wrt_vnull(void)
{
	return (wr_value){.type = WR_T_NULL};
}

wr_value
wrt_vlong(int64_t i)
{
	return (wr_value){.type = WR_T_LONG, .u.i = i};
}

wr_value
wrt_vts(int64_t ms)
{
	return (wr_value){.type = WR_T_TIMESTAMP, .u.i = ms};
}

wr_value
wrt_vdouble(double d)
{
	return (wr_value){.type = WR_T_DOUBLE, .u.d = d};
}

wr_value
wrt_vbool(bool b)
{
	return (wr_value){.type = WR_T_BOOL, .u.b = b};
}

wr_value
wrt_vstr(const char *s)
{
	return wrt_vstrn(s, strlen(s));
}

wr_value
wrt_vstrn(const char *p, size_t len)
{
	wr_value v = {.type = WR_T_STRING};
	v.u.s.p = p;
	v.u.s.len = (uint32_t)len;
	return v;
}

static int
cmp_double(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b) ? 0 : isnan(a) ? 1 : -1;
	if (a < b)
		return -1;
	if (a > b)
		return 1;
	return signbit(a) == signbit(b) ? 0 : signbit(a) ? -1 : 1;
}

int
wrt_value_cmp(const wr_value *a, const wr_value *b)
{
	if (a->type == WR_T_DOUBLE)
		return cmp_double(a->u.d, b->u.d);
	if (a->type == WR_T_STRING) {
		uint32_t n = a->u.s.len < b->u.s.len ? a->u.s.len : b->u.s.len;
		int c = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
		if (c != 0)
			return c < 0 ? -1 : 1;
		return a->u.s.len < b->u.s.len ? -1 : a->u.s.len > b->u.s.len;
	}
	if (a->type == WR_T_BOOL)
		return (int)a->u.b - (int)b->u.b;
	return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
}

int
wrt_tmpdir(char *out, size_t len, const char *what)
{
	int n = snprintf(out, len, "/tmp/weir-%s-test-XXXXXX", what);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return mkdtemp(out) != NULL ? 0 : -1;
}

int
wrt_setup_tmpdir(void **state)
{
	char *dir = malloc(WRT_TMPDIR_LEN);

	if (dir == NULL || wrt_tmpdir(dir, WRT_TMPDIR_LEN, "unit") != 0) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

int
wrt_teardown_tmpdir(void **state)
{
	wr_rmtree(*state);
	free(*state);
	return 0;
}

void
wrt_tmpfile(char *path, const char *what, const char *text)
{
	snprintf(path, WRT_TMPFILE_LEN, "/tmp/weir-%s-test-XXXXXX", what);
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

wr_jobspec *
wrt_job(const char *yaml, int override)
{
	char err[4096] = "";
	wr_jobspec *spec = NULL;
	int rv = wr_jobspec_parse(WRT_JOB_FILE, yaml, strlen(yaml), override,
	                          &spec, err, sizeof(err));
	if (rv != WR_OK)
		fail_msg("job does not parse (%d): %s", rv, err);
	assert_non_null(spec);
	return spec;
}

void
wrt_job_bad(const char *yaml, const char *prefix, const char *what)
{
	char err[4096] = "";
	wr_jobspec *spec = (wr_jobspec *)&spec; /* must become NULL */
	int rv = wr_jobspec_parse(WRT_JOB_FILE, yaml, strlen(yaml), 0, &spec,
	                          err, sizeof(err));
	print_message("error: %s\n", err);
	assert_int_equal(rv, WR_EINVAL);
	assert_null(spec);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("wanted prefix '%s' in '%s'", prefix, err);
	if (strstr(err, what) == NULL)
		fail_msg("wanted '%s' in '%s'", what, err);
}

/* The task's configuration (op.h) from the harness's spec and job: one
 * subtask of a vertex as parallel as the job. */
static void
wrt_op_conf(wrt_op *h)
{
	tm_op_conf *c = &h->task.conf;
	c->job_id = h->spec.job_id;
	c->job_name = h->job->name;
	c->job = h->job;
	c->label = h->task.label;
	c->tm_id = h->tm.id;
	c->vertex = h->spec.vertex;
	c->vertex_name = "";
	c->subtask = h->spec.subtask;
	c->parallelism = h->op.node->parallelism;
	c->max_parallelism = h->job->max_parallelism;
	c->attempt = h->spec.attempt;
	c->checkpointing = h->job->checkpointing.interval_ms > 0;
	c->kafka_bootstrap = h->tm.cfg.kafka_bootstrap;
	c->kafka_fetch_wait_ms = h->tm.cfg.kafka_fetch_wait_ms;
	c->kafka_linger_ms = h->tm.cfg.kafka_linger_ms;
	c->state_dir = h->tm.cfg.tm_state_dir;
}

void
wrt_op_init(wrt_op *h, const char *yaml, const char *node, const char *job_id,
            int vertex, int subtask)
{
	memset(h, 0, sizeof(*h));
	h->job = wrt_job(yaml, 0);
	snprintf(h->spec.job_id, sizeof(h->spec.job_id), "%s", job_id);
	h->spec.vertex = vertex;
	h->spec.subtask = subtask;
	h->task.tm = &h->tm;
	h->task.spec = &h->spec;
	h->task.job = h->job;
	snprintf(h->task.label, sizeof(h->task.label), "job=%s task=1/%d",
	         job_id, subtask);
	int n = wr_jobspec_find(h->job, node);
	if (n < 0)
		fail_msg("the job has no node '%s'", node);
	h->op.node = &h->job->nodes[n];
	h->op.task = &h->task;
	h->op.wm = TM_WM_MIN;
	wrt_op_conf(h);
}

int
wrt_op_open(wrt_op *h, const tm_op_vt *vt, char *errbuf, size_t errlen)
{
	wrt_op_conf(h);
	h->op.vt = vt;
	h->op.process = vt->process;
	h->op.is_sink = h->op.node->kind == WR_NODE_SINK;
	return vt->open(&h->op, h->op.node, &h->op.self, errbuf, errlen);
}

void
wrt_op_destroy(wrt_op *h)
{
	if (h->op.vt != NULL && h->op.vt->close != NULL && h->op.self != NULL)
		h->op.vt->close(h->op.self);
	h->op.self = NULL;
}

void
wrt_op_free(wrt_op *h)
{
	wrt_op_destroy(h);
	wr_jobspec_free(h->job);
}

void
wrt_op_push(wrt_op *h, const wr_row *r)
{
	int rv = h->op.vt->process(h->op.self, 0, r);
	if (rv != WR_OK)
		fail_msg("push: %s: %s", wr_strerror(rv), h->task.failure);
}

void
wrt_op_snapshot(wrt_op *h, uint64_t ckpt, wr_buf *state)
{
	wr_buf_reset(state);
	int rv = h->op.vt->snapshot(h->op.self, ckpt, state);
	if (rv != WR_OK)
		fail_msg("snapshot %llu: %s: %s", (unsigned long long)ckpt,
		         wr_strerror(rv), h->task.failure);
}

void
wrt_op_commit(wrt_op *h, uint64_t ckpt)
{
	int rv = h->op.vt->notify_complete(h->op.self, ckpt);
	if (rv != WR_OK)
		fail_msg("commit %llu: %s: %s", (unsigned long long)ckpt,
		         wr_strerror(rv), h->task.failure);
}

void
wrt_op_finish(wrt_op *h)
{
	int rv = h->op.vt->finish(h->op.self);
	if (rv != WR_OK)
		fail_msg("finish: %s: %s", wr_strerror(rv), h->task.failure);
}

int
wrt_tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int
wrt_bound_port(int *fd)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	if (*fd < 0)
		return -1;
	if (bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(*fd, (struct sockaddr *)&sa, &len) != 0) {
		close(*fd);
		*fd = -1;
		return -1;
	}
	return ntohs(sa.sin_port);
}

bool
wrt_wait(bool (*cond)(void *), void *arg, int timeout_ms)
{
	int64_t deadline = wr_mono_ms() + timeout_ms;
	while (!cond(arg)) {
		if (wr_mono_ms() > deadline)
			return false;
		wr_sleep_ms(2);
	}
	return true;
}

int
wrt_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int port = -1;
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int
wrt_etcd_start(wrt_etcd *e)
{
	int cport = wrt_free_port(), pport = wrt_free_port();
	char peer[64], initial[96], data[96], log[96];
	memset(e, 0, sizeof(*e));
	snprintf(e->dir, sizeof(e->dir), "/tmp/weir-etcd-test-XXXXXX");
	if (cport < 0 || pport < 0 || mkdtemp(e->dir) == NULL)
		return -1;
	snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d", cport);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", pport);
	snprintf(initial, sizeof(initial), "t=%s", peer);
	snprintf(data, sizeof(data), "%s/data", e->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", e->dir);
	if ((e->pid = fork()) == 0) {
		FILE *f = freopen(log, "w", stderr);
		(void)f;
		execlp("etcd", "etcd", "--name", "t", "--data-dir", data,
		       "--listen-client-urls", e->url,
		       "--advertise-client-urls", e->url, "--listen-peer-urls",
		       peer, "--initial-advertise-peer-urls", peer,
		       "--initial-cluster", initial, (char *)NULL);
		_exit(127);
	}
	char err[256];
	wr_etcd *c = NULL;
	if (e->pid < 0 || wr_etcd_new(e->url, 500, &c, err, sizeof(err)) != 0)
		return -1;
	int64_t lease = 0;
	for (int64_t end = wr_mono_ms() + 15000; wr_mono_ms() < end;
	     wr_sleep_ms(50))
		if (wr_etcd_lease_grant(c, 5, &lease) == WR_OK)
			break;
	wr_etcd_free(c);
	if (lease == 0)
		fprintf(stderr, "etcd did not answer in 15 s; see %s\n", log);
	return lease != 0 ? 0 : -1;
}

void
wrt_etcd_stop(wrt_etcd *e)
{
	if (e->pid > 0) {
		kill(e->pid, SIGKILL);
		waitpid(e->pid, NULL, 0);
		e->pid = 0;
	}
	if (e->dir[0] != '\0')
		wr_rmtree(e->dir);
}
