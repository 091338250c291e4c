/*
 * sinks.c - where records leave weir: stdout (JSON lines), rolling files
 * (JSON lines; a part file is hidden while in progress and renamed into
 * place when it rolls or the task ends), and Kafka (one producer per
 * subtask; at_least_once waits for every delivery before the task ends).
 * Each record is encoded to JSON exactly once, here.
 *
 * With checkpoints the file sink is exactly-once on the two-phase-commit
 * skeleton (sink_2pc.h): a transaction is the part files written since
 * the last barrier; the barrier closes them (pre-commit), the
 * checkpoint's completion renames them into place (commit).
 */
#include "sink_2pc.h"
#include "sinks.h"

#include "clock.h"
#include "err.h"
#include "fsutil.h"
#include "kafka.h"
#include "log.h"
#include "mem.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A part file rolls at this size or age. */
#define TM_FILE_ROLL_BYTES (128u * 1024u * 1024u)
#define TM_FILE_ROLL_MS    10000

/* A closed part file not committed yet: its hidden and final names
 * (basenames). */
typedef struct tm_sink_part {
	char tmp[160], final[160];
} tm_sink_part;

/* The part files of one transaction, oldest first. */
typedef struct tm_sink_parts {
	tm_sink_part *v;
	size_t n;
} tm_sink_parts;

typedef struct tm_sink {
	tm_ctx *ctx;
	const tm_op_conf *conf;
	const wr_node_spec *node;
	const wr_schema *in; /* the records' schema: the sink's input's */
	wr_buf json;
	/* file */
	FILE *f;
	char dir[PATH_MAX / 2];
	char tmp[PATH_MAX], final[PATH_MAX];
	uint64_t seq, bytes;
	int64_t opened_ms;
	/* exactly-once (checkpointing on): closed part files of the open
	 * transaction, renamed once their checkpoint completes */
	bool staged;
	tm_sink_parts parts;
	/* kafka */
	rd_kafka_t *rk;
	long delivery_failures;
	char first_error[256];
} tm_sink;

static pthread_mutex_t tm_stdout_lock = PTHREAD_MUTEX_INITIALIZER;

static int
tm_sink_stdout_push(void *self, int input, const wr_row *r)
{
	tm_sink *s = self;
	(void)input;
	wr_buf_reset(&s->json);
	wr_row_to_json(s->in, r, &s->json);
	wr_buf_putc(&s->json, '\n');
	pthread_mutex_lock(&tm_stdout_lock);
	fwrite(s->json.data, 1, s->json.len, stdout);
	pthread_mutex_unlock(&tm_stdout_lock);
	tm_count(s->ctx, TM_COUNT_OUT, 1);
	tm_count(s->ctx, TM_COUNT_BYTES_OUT, (double)s->json.len);
	return WR_OK;
}

static int
tm_sink_stdout_finish(void *self)
{
	(void)self;
	pthread_mutex_lock(&tm_stdout_lock);
	fflush(stdout);
	pthread_mutex_unlock(&tm_stdout_lock);
	return WR_OK;
}

/* ---- file ------------------------------------------------------------ */

static int
tm_sink_file_open(tm_sink *s)
{
	const tm_op_conf *sp = s->conf;
	/* The attempt keeps a restarted task from reusing a committed
	 * file's name. */
	snprintf(s->final, sizeof(s->final),
	         "%s/part-%.8s-%d-%d-a%u-%" PRIu64 ".jsonl", s->dir, sp->job_id,
	         sp->vertex, sp->subtask, sp->attempt, s->seq);
	snprintf(s->tmp, sizeof(s->tmp),
	         "%s/.part-%.8s-%d-%d-a%u-%" PRIu64 ".jsonl.inprogress", s->dir,
	         sp->job_id, sp->vertex, sp->subtask, sp->attempt, s->seq);
	s->seq++;
	s->f = fopen(s->tmp, "w");
	if (s->f == NULL) {
		tm_fail(s->ctx, "file sink: cannot create %s: %s", s->tmp,
		        strerror(errno));
		return wr_err_from_errno(errno);
	}
	s->bytes = 0;
	s->opened_ms = wr_mono_ms();
	return WR_OK;
}

static const char *
tm_sink_base(const char *path)
{
	const char *b = strrchr(path, '/');
	return b ? b + 1 : path;
}

/* Renames a staged part file into place. One already there (committed
 * before a failure) is fine. */
static int
tm_sink_file_publish(tm_sink *s, const char *tmp, const char *final)
{
	char a[PATH_MAX], b[PATH_MAX];
	snprintf(a, sizeof(a), "%s/%s", s->dir, tmp);
	snprintf(b, sizeof(b), "%s/%s", s->dir, final);
	if (rename(a, b) == 0)
		return WR_OK;
	if (errno == ENOENT && access(b, F_OK) == 0)
		return WR_OK;
	tm_fail(s->ctx, "file sink: cannot commit %s: %s", b, strerror(errno));
	return wr_err_from_errno(errno);
}

/* Commits the staged part files of one transaction. A failure leaves
 * them all staged (renaming one again is no error). */
static int
tm_sink_file_publish_parts(tm_sink *s, const tm_sink_parts *ps)
{
	int rv = WR_OK;
	for (size_t i = 0; i < ps->n && rv == WR_OK; i++)
		rv = tm_sink_file_publish(s, ps->v[i].tmp, ps->v[i].final);
	return rv;
}

/* Closes the part file and renames it into place (commits it) - or,
 * exactly-once, stages it in the open transaction. */
static int
tm_sink_file_close(tm_sink *s)
{
	if (s->f == NULL)
		return WR_OK;
	int bad = fflush(s->f) != 0 || fsync(fileno(s->f)) != 0;
	bad |= fclose(s->f) != 0;
	s->f = NULL;
	if (s->bytes == 0) {
		unlink(s->tmp); /* nothing to commit */
		return WR_OK;
	}
	if (!bad && s->staged) {
		tm_sink_parts *ps = &s->parts;
		ps->v = wr_xrealloc(ps->v, (ps->n + 1) * sizeof(*ps->v));
		tm_sink_part *p = &ps->v[ps->n++];
		snprintf(p->tmp, sizeof(p->tmp), "%s", tm_sink_base(s->tmp));
		snprintf(p->final, sizeof(p->final), "%s",
		         tm_sink_base(s->final));
		return WR_OK;
	}
	if (bad || rename(s->tmp, s->final) != 0) {
		tm_fail(s->ctx, "file sink: cannot commit %s: %s", s->final,
		        strerror(errno));
		return wr_err_from_errno(errno);
	}
	return WR_OK;
}

/*
 * Fault point for tests (debug builds only): WEIR_FAULT_SINK_SLEEP_US makes
 * the file sink sleep that long per record, a slow consumer that must
 * back-pressure the whole job.
 */
static void
tm_sink_fault_delay(void)
{
#ifndef NDEBUG
	static _Atomic int us = -1;
	if (us < 0) {
		const char *e = getenv("WEIR_FAULT_SINK_SLEEP_US");
		us = e ? atoi(e) : 0;
	}
	if (us > 0)
		usleep((useconds_t)us);
#endif
}

static int
tm_sink_file_write(void *b, const wr_row *r)
{
	tm_sink *s = b;
	int rv;
	tm_sink_fault_delay();
	if (s->f != NULL &&
	    (s->bytes >= TM_FILE_ROLL_BYTES ||
	     wr_mono_ms() - s->opened_ms >= TM_FILE_ROLL_MS) &&
	    (rv = tm_sink_file_close(s)) != WR_OK)
		return rv;
	if (s->f == NULL && (rv = tm_sink_file_open(s)) != WR_OK)
		return rv;
	wr_buf_reset(&s->json);
	wr_row_to_json(s->in, r, &s->json);
	wr_buf_putc(&s->json, '\n');
	if (fwrite(s->json.data, 1, s->json.len, s->f) != s->json.len) {
		tm_fail(s->ctx, "file sink: write %s: %s", s->tmp,
		        strerror(errno));
		return wr_err_from_errno(errno);
	}
	s->bytes += s->json.len;
	tm_count(s->ctx, TM_COUNT_BYTES_OUT, (double)s->json.len);
	return WR_OK;
}

static int
tm_sink_file_push(void *self, int input, const wr_row *r)
{
	tm_sink *s = self;
	(void)input;
	int rv = tm_sink_file_write(s, r);
	if (rv == WR_OK)
		tm_count(s->ctx, TM_COUNT_OUT, 1);
	return rv;
}

/* Makes written lines visible and rolls the part file by age even when
 * no record arrives. */
static int
tm_sink_file_roll(void *b, int64_t now_ms)
{
	tm_sink *s = b;
	if (s->f == NULL)
		return WR_OK;
	if (now_ms - s->opened_ms >= TM_FILE_ROLL_MS)
		return tm_sink_file_close(s);
	if (fflush(s->f) != 0) {
		tm_fail(s->ctx, "file sink: write %s: %s", s->tmp,
		        strerror(errno));
		return wr_err_from_errno(errno);
	}
	return WR_OK;
}

static int
tm_sink_file_finish(void *self)
{
	return tm_sink_file_close(self);
}

/* ---- file, exactly-once: the steps of the two-phase-commit skeleton -- */

/*
 * Snapshot: version 1, this run's file name prefix, then the (hidden,
 * final) name pairs of every pending transaction, oldest first, each a
 * u16 length and the bytes.
 */
#define TM_SINK_FILE_STATE_VERSION 1

static void
tm_sink_put_str(wr_buf *b, const char *str)
{
	size_t n = strlen(str);
	uint8_t l[2] = {(uint8_t)(n >> 8), (uint8_t)n};
	wr_buf_append(b, l, 2);
	wr_buf_append(b, str, n);
}

static int
tm_sink_get_str(const uint8_t **p, const uint8_t *end, char *out, size_t cap)
{
	if (end - *p < 2)
		return WR_ECORRUPT;
	size_t n = (size_t)(*p)[0] << 8 | (*p)[1];
	*p += 2;
	if ((size_t)(end - *p) < n || n >= cap || memchr(*p, '/', n))
		return WR_ECORRUPT;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p += n;
	return WR_OK;
}

/* ".part-<job8>-<vertex>-<subtask>-a": what every part file of one
 * subtask of one job starts with (after the dot when hidden): the name
 * of its transactions. */
static void
tm_sink_file_prefix(const tm_sink *s, char *buf, size_t len)
{
	const tm_op_conf *sp = s->conf;
	snprintf(buf, len, ".part-%.8s-%d-%d-a", sp->job_id, sp->vertex,
	         sp->subtask);
}

/* The barrier closes the part file; the parts since the last barrier are
 * the pre-committed transaction. */
static int
tm_sink_file_precommit(void *b, uint64_t ckpt, bool *made, void **h)
{
	tm_sink *s = b;
	(void)ckpt;
	int rv = tm_sink_file_close(s);
	if (rv != WR_OK || s->parts.n == 0)
		return rv;
	tm_sink_parts *ps = wr_xmalloc(sizeof(*ps));
	*ps = s->parts;
	s->parts = (tm_sink_parts){0};
	*made = true;
	*h = ps;
	return WR_OK;
}

static void
tm_sink_file_drop(void *b, const tm_2pc_txn *txn)
{
	(void)b;
	tm_sink_parts *ps = txn->h;
	free(ps->v);
	free(ps);
}

static int
tm_sink_file_commit_txn(void *b, const tm_2pc_txn *txn)
{
	int rv = tm_sink_file_publish_parts(b, txn->h);
	if (rv == WR_OK)
		tm_sink_file_drop(b, txn);
	return rv;
}

/* End of input: the open part file and those staged since the barrier. */
static int
tm_sink_file_commit_open(void *b)
{
	tm_sink *s = b;
	int rv = tm_sink_file_close(s);
	if (rv == WR_OK)
		rv = tm_sink_file_publish_parts(s, &s->parts);
	if (rv == WR_OK)
		s->parts.n = 0;
	return rv;
}

/* The open part file is not committed: the task failed or was cancelled
 * (parts staged before stay for a restore to remove). */
static void
tm_sink_file_abort(void *b)
{
	tm_sink *s = b;
	if (s->f != NULL) {
		fclose(s->f);
		s->f = NULL;
		unlink(s->tmp);
	}
}

static void
tm_sink_file_encode(void *b, const tm_2pc_head *self, const tm_2pc_txn *pending,
                    int npending, wr_buf *out)
{
	(void)b;
	wr_buf_putc(out, TM_SINK_FILE_STATE_VERSION);
	tm_sink_put_str(out, self->name);
	for (int i = 0; i < npending; i++) {
		const tm_sink_parts *ps = pending[i].h;
		for (size_t k = 0; k < ps->n; k++) {
			tm_sink_put_str(out, ps->v[k].tmp);
			tm_sink_put_str(out, ps->v[k].final);
		}
	}
}

/* The name pair at *p, if any is left (1), or the end (0); -1 corrupt. */
static int
tm_sink_file_next_pair(const uint8_t **p, const uint8_t *end, tm_sink_part *pt)
{
	if (*p == end)
		return 0;
	if (tm_sink_get_str(p, end, pt->tmp, sizeof(pt->tmp)) != WR_OK ||
	    tm_sink_get_str(p, end, pt->final, sizeof(pt->final)) != WR_OK)
		return -1;
	return 1;
}

static int
tm_sink_file_decode(void *b, const uint8_t *data, size_t len, tm_2pc_head *h)
{
	const uint8_t *p = data, *end = data + len;
	tm_sink_part pt;
	int more;
	(void)b;
	if (len < 1 || *p++ != TM_SINK_FILE_STATE_VERSION ||
	    tm_sink_get_str(&p, end, h->name, 96) != WR_OK)
		return WR_ECORRUPT;
	h->rest = p;
	h->rest_len = (size_t)(end - p);
	while ((more = tm_sink_file_next_pair(&p, end, &pt)) > 0)
		h->npending++;
	return more == 0 ? WR_OK : WR_ECORRUPT;
}

/* Removes the hidden part files whose names start with prefix, except
 * those of this very run (a restore runs before it writes any). */
static void
tm_sink_file_clean(tm_sink *s, const char *prefix)
{
	char mine[96], path[PATH_MAX];
	tm_sink_file_prefix(s, mine, sizeof(mine));
	size_t ml = strlen(mine);
	snprintf(mine + ml, sizeof(mine) - ml, "%u-", s->conf->attempt);
	DIR *d = opendir(s->dir);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) != 0 ||
		    strncmp(e->d_name, mine, strlen(mine)) == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", s->dir, e->d_name);
		if (unlink(path) == 0)
			wr_log(WR_LOG_INFO, "SINK-FILE-ABORTED",
			       "%s: removed uncommitted %s", s->conf->label,
			       e->d_name);
	}
	closedir(d);
}

/* Commits what the restored checkpoint staged, removes what the old
 * subtask wrote after it. */
static int
tm_sink_file_recover(void *b, const tm_2pc_head *old, bool same_target)
{
	tm_sink *s = b;
	const uint8_t *p = old->rest, *end = p + old->rest_len;
	tm_sink_part pt;
	int rv = WR_OK;
	(void)same_target; /* the snapshot records no directory */
	while (rv == WR_OK && tm_sink_file_next_pair(&p, end, &pt) > 0)
		rv = tm_sink_file_publish(s, pt.tmp, pt.final);
	if (rv == WR_OK)
		tm_sink_file_clean(s, old->name);
	return rv;
}

/* What earlier attempts of this subtask wrote is not committed (the first
 * attempt has none before it). */
static int
tm_sink_file_abort_leftovers(void *b)
{
	tm_sink *s = b;
	char prefix[96];
	if (s->conf->attempt > 0) {
		tm_sink_file_prefix(s, prefix, sizeof(prefix));
		tm_sink_file_clean(s, prefix);
	}
	return WR_OK;
}

static void tm_sink_free(void *b);

static const tm_2pc_ops tm_sink_file_ops = {
    .write = tm_sink_file_write,
    .precommit = tm_sink_file_precommit,
    .commit = tm_sink_file_commit_txn,
    .commit_open = tm_sink_file_commit_open,
    .abort = tm_sink_file_abort,
    .drop = tm_sink_file_drop,
    .encode = tm_sink_file_encode,
    .decode = tm_sink_file_decode,
    .recover = tm_sink_file_recover,
    .abort_leftovers = tm_sink_file_abort_leftovers,
    .tick = tm_sink_file_roll,
    .free = tm_sink_free,
};

/* ---- kafka ----------------------------------------------------------- */

static void
tm_sink_kafka_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	tm_sink *s = opaque;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return;
	if (s->delivery_failures++ == 0)
		snprintf(s->first_error, sizeof(s->first_error), "%s",
		         rd_kafka_err2str(m->err));
}

/* The message key: the key field's value as text. */
size_t
tm_sink_kafka_key(const wr_value *v, char *buf, size_t len)
{
	int n;
	switch (v->type) {
	case WR_T_STRING:
		n = snprintf(buf, len, "%.*s", (int)v->u.s.len, v->u.s.p);
		break;
	case WR_T_LONG:
	case WR_T_TIMESTAMP:
		n = snprintf(buf, len, "%" PRId64, v->u.i);
		break;
	case WR_T_DOUBLE:
		n = snprintf(buf, len, "%.17g", v->u.d);
		break;
	case WR_T_BOOL:
		n = snprintf(buf, len, "%s", v->u.b ? "true" : "false");
		break;
	default:
		return 0;
	}
	return n < 0 ? 0 : (size_t)n >= len ? len - 1 : (size_t)n;
}

static int
tm_sink_kafka_push(void *self, int input, const wr_row *r)
{
	tm_sink *s = self;
	const wr_sink_spec *sk = &s->node->sink;
	(void)input;
	char key[256];
	size_t klen = 0;
	if (sk->key_field >= 0)
		klen =
		    tm_sink_kafka_key(&r->v[sk->key_field], key, sizeof(key));
	if (klen >= sizeof(key))
		klen = sizeof(key) - 1;
	wr_buf_reset(&s->json);
	wr_row_to_json(s->in, r, &s->json);
	rd_kafka_resp_err_t e;
	while ((e = rd_kafka_producev(
	            s->rk, RD_KAFKA_V_TOPIC(sk->topic),
	            RD_KAFKA_V_VALUE(s->json.data, s->json.len),
	            RD_KAFKA_V_KEY(klen ? key : NULL, klen),
	            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	            RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		/* librdkafka's queue is full: back-pressure. */
		rd_kafka_poll(s->rk, 10);
		if (!tm_yield(s->ctx))
			return WR_ECLOSED;
	}
	rd_kafka_poll(s->rk, 0);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		tm_fail(s->ctx, "kafka sink %s: %s (brokers %s)", sk->topic,
		        rd_kafka_err2str(e),
		        tm_conf_kafka_bootstrap(s->conf, sk->bootstrap));
		return WR_EINVAL;
	}
	if (s->delivery_failures > 0 && sk->semantic != WR_SEM_NONE) {
		tm_fail(s->ctx,
		        "kafka sink %s: delivery failed: %s (brokers %s)",
		        sk->topic, s->first_error,
		        tm_conf_kafka_bootstrap(s->conf, sk->bootstrap));
		return WR_EUNREACHABLE;
	}
	tm_count(s->ctx, TM_COUNT_OUT, 1);
	tm_count(s->ctx, TM_COUNT_BYTES_OUT,
	         (double)(s->json.len + klen)); /* value and key */
	return WR_OK;
}

static int
tm_sink_kafka_finish(void *self)
{
	tm_sink *s = self;
	rd_kafka_resp_err_t e = rd_kafka_flush(s->rk, 30000);
	if (s->node->sink.semantic == WR_SEM_NONE)
		return WR_OK;
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR || s->delivery_failures > 0) {
		tm_fail(
		    s->ctx,
		    "kafka sink %s: %ld messages not delivered (%s; brokers "
		    "%s)",
		    s->node->sink.topic, s->delivery_failures,
		    e ? rd_kafka_err2str(e) : s->first_error,
		    tm_conf_kafka_bootstrap(s->conf, s->node->sink.bootstrap));
		return WR_EUNREACHABLE;
	}
	return WR_OK;
}

static int
tm_sink_kafka_open(tm_sink *s, const wr_sink_spec *sk, char *errbuf,
                   size_t errlen)
{
	rd_kafka_conf_t *conf =
	    wr_kafka_conf_new(tm_conf_kafka_bootstrap(s->conf, sk->bootstrap));
	bool alo = sk->semantic == WR_SEM_AT_LEAST_ONCE;
	char linger[24];
	snprintf(linger, sizeof(linger), "%lld",
	         (long long)s->conf->kafka_linger_ms);
	rd_kafka_conf_set_dr_msg_cb(conf, tm_sink_kafka_dr);
	rd_kafka_conf_set_opaque(conf, s);
	if (wr_kafka_conf_producer_defaults(conf, errbuf, errlen) ||
	    wr_kafka_conf_set(conf, "linger.ms", linger, errbuf, errlen) ||
	    wr_kafka_conf_set(conf, "acks", alo ? "all" : "1", errbuf,
	                      errlen) ||
	    wr_kafka_conf_set(conf, "enable.idempotence",
	                      alo ? "true" : "false", errbuf, errlen)) {
		rd_kafka_conf_destroy(conf);
		return WR_EINVAL;
	}
	s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
	if (s->rk == NULL) {
		rd_kafka_conf_destroy(conf);
		return WR_EINVAL;
	}
	return WR_OK;
}

static void
tm_sink_free(void *b)
{
	tm_sink *s = b;
	if (s == NULL)
		return;
	if (s->f != NULL) {
		fclose(s->f);
		unlink(s->tmp); /* not committed: the task failed */
	}
	if (s->rk != NULL)
		rd_kafka_destroy(s->rk);
	wr_buf_fini(&s->json);
	free(s->parts.v);
	free(s);
}

/* The part of every sink's open: the record schema and JSON buffer. */
static tm_sink *
tm_sink_make(tm_ctx *ctx, const wr_node_spec *node)
{
	tm_sink *s = wr_xcalloc(1, sizeof(*s));
	s->ctx = ctx;
	s->conf = tm_conf(ctx);
	s->node = node;
	s->in = wr_jobspec_input_schema(s->conf->job, node, 0);
	wr_buf_init(&s->json);
	return s;
}

static void
tm_sink_close(void *self)
{
	tm_sink_free(self);
}

static int
tm_sink_stdout_open(tm_ctx *ctx, const wr_node_spec *node, void **self,
                    char *errbuf, size_t errlen)
{
	(void)errbuf;
	(void)errlen;
	*self = tm_sink_make(ctx, node);
	return WR_OK;
}

/* The directory of a file sink; the sink itself in *out. */
static int
tm_sink_file_make(tm_ctx *ctx, const wr_node_spec *node, tm_sink **out,
                  char *errbuf, size_t errlen)
{
	tm_sink *s = tm_sink_make(ctx, node);
	snprintf(s->dir, sizeof(s->dir), "%s", node->sink.path);
	int rv = wr_mkdirs(s->dir, 0755);
	if (rv != WR_OK) {
		snprintf(errbuf, errlen, "file sink: cannot create %s: %s",
		         s->dir, wr_strerror(rv));
		tm_sink_free(s);
		return rv;
	}
	*out = s;
	return WR_OK;
}

static int
tm_sink_file_open_op(tm_ctx *ctx, const wr_node_spec *node, void **self,
                     char *errbuf, size_t errlen)
{
	return tm_sink_file_make(ctx, node, (tm_sink **)self, errbuf, errlen);
}

/* Exactly-once (checkpointing on): files commit with checkpoints. */
static int
tm_sink_file_2pc_open(tm_ctx *ctx, const wr_node_spec *node, void **self,
                      char *errbuf, size_t errlen)
{
	tm_sink *s;
	int rv = tm_sink_file_make(ctx, node, &s, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	char prefix[96];
	s->staged = true;
	tm_sink_file_prefix(s, prefix, sizeof(prefix));
	*self = tm_2pc_new(ctx, node, &tm_sink_file_ops, s, "file sink", prefix,
	                   "");
	return WR_OK;
}

static int
tm_sink_kafka_open_op(tm_ctx *ctx, const wr_node_spec *node, void **self,
                      char *errbuf, size_t errlen)
{
	tm_sink *s = tm_sink_make(ctx, node);
	int rv = tm_sink_kafka_open(s, &node->sink, errbuf, errlen);
	if (rv != WR_OK) {
		tm_sink_free(s);
		return rv;
	}
	*self = s;
	return WR_OK;
}

const tm_op_vt tm_sink_stdout = {
    .name = "stdout sink",
    .open = tm_sink_stdout_open,
    .process = tm_sink_stdout_push,
    .finish = tm_sink_stdout_finish,
    .close = tm_sink_close,
};

const tm_op_vt tm_sink_file = {
    .name = "file sink",
    .open = tm_sink_file_open_op,
    .process = tm_sink_file_push,
    .tick = tm_sink_file_roll,
    .finish = tm_sink_file_finish,
    .close = tm_sink_close,
};

const tm_op_vt tm_sink_file_2pc = {
    .name = "file sink (exactly-once)",
    .open = tm_sink_file_2pc_open,
    TM_2PC_CALLBACKS,
};

const tm_op_vt tm_sink_kafka = {
    .name = "kafka sink",
    .open = tm_sink_kafka_open_op,
    .process = tm_sink_kafka_push,
    .finish = tm_sink_kafka_finish,
    .close = tm_sink_close,
};
