/*
 * sinks.c - where records leave weir: stdout (JSON lines), rolling files
 * (JSON lines; a part file is hidden while in progress and renamed into
 * place when it rolls or the task ends), and Kafka (one producer per
 * subtask; at_least_once waits for every delivery before the task ends).
 * Each record is encoded to JSON exactly once, here.
 */
#include "task_int.h"
#include "tm_int.h"

#include "clock.h"
#include "err.h"
#include "fsutil.h"
#include "kafka.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

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

typedef struct tm_sink {
	tm_task *t;
	const wr_schema *in; /* the records' schema: the sink's input's */
	wr_buf json;
	/* file */
	FILE *f;
	char dir[PATH_MAX / 2];
	char tmp[PATH_MAX], final[PATH_MAX];
	uint64_t seq, bytes;
	int64_t opened_ms;
	/* kafka */
	rd_kafka_t *rk;
	long delivery_failures;
	char first_error[256];
} tm_sink;

static pthread_mutex_t tm_stdout_lock = PTHREAD_MUTEX_INITIALIZER;

static int
tm_sink_stdout_push(tm_op *op, const wr_row *r)
{
	tm_sink *s = op->impl;
	wr_buf_reset(&s->json);
	wr_row_to_json(s->in, r, &s->json);
	wr_buf_putc(&s->json, '\n');
	pthread_mutex_lock(&tm_stdout_lock);
	fwrite(s->json.data, 1, s->json.len, stdout);
	pthread_mutex_unlock(&tm_stdout_lock);
	wr_metric_inc(s->t->m_out);
	return WR_OK;
}

static int
tm_sink_stdout_finish(tm_op *op)
{
	(void)op;
	pthread_mutex_lock(&tm_stdout_lock);
	fflush(stdout);
	pthread_mutex_unlock(&tm_stdout_lock);
	return WR_OK;
}

/* ---- file ------------------------------------------------------------ */

static int
tm_sink_file_open(tm_sink *s)
{
	const tm_task_spec *sp = s->t->spec;
	snprintf(s->final, sizeof(s->final),
	         "%s/part-%.8s-%d-%d-%" PRIu64 ".jsonl", s->dir, sp->job_id,
	         sp->vertex, sp->subtask, s->seq);
	snprintf(s->tmp, sizeof(s->tmp),
	         "%s/.part-%.8s-%d-%d-%" PRIu64 ".jsonl.inprogress", s->dir,
	         sp->job_id, sp->vertex, sp->subtask, s->seq);
	s->seq++;
	s->f = fopen(s->tmp, "w");
	if (s->f == NULL) {
		tm_task_fail(s->t, "file sink: cannot create %s: %s", s->tmp,
		             strerror(errno));
		return wr_err_from_errno(errno);
	}
	s->bytes = 0;
	s->opened_ms = wr_mono_ms();
	return WR_OK;
}

/* Closes the part file and renames it into place (commits it). */
static int
tm_sink_file_commit(tm_sink *s)
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
	if (bad || rename(s->tmp, s->final) != 0) {
		tm_task_fail(s->t, "file sink: cannot commit %s: %s", s->final,
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
tm_sink_file_push(tm_op *op, const wr_row *r)
{
	tm_sink *s = op->impl;
	int rv;
	tm_sink_fault_delay();
	if (s->f != NULL &&
	    (s->bytes >= TM_FILE_ROLL_BYTES ||
	     wr_mono_ms() - s->opened_ms >= TM_FILE_ROLL_MS) &&
	    (rv = tm_sink_file_commit(s)) != WR_OK)
		return rv;
	if (s->f == NULL && (rv = tm_sink_file_open(s)) != WR_OK)
		return rv;
	wr_buf_reset(&s->json);
	wr_row_to_json(s->in, r, &s->json);
	wr_buf_putc(&s->json, '\n');
	if (fwrite(s->json.data, 1, s->json.len, s->f) != s->json.len) {
		tm_task_fail(s->t, "file sink: write %s: %s", s->tmp,
		             strerror(errno));
		return wr_err_from_errno(errno);
	}
	s->bytes += s->json.len;
	wr_metric_inc(s->t->m_out);
	return WR_OK;
}

/* Makes written lines visible and rolls the part file by age even when
 * no record arrives. */
static int
tm_sink_file_tick(tm_op *op, int64_t now_ms)
{
	tm_sink *s = op->impl;
	if (s->f == NULL)
		return WR_OK;
	if (now_ms - s->opened_ms >= TM_FILE_ROLL_MS)
		return tm_sink_file_commit(s);
	if (fflush(s->f) != 0) {
		tm_task_fail(s->t, "file sink: write %s: %s", s->tmp,
		             strerror(errno));
		return wr_err_from_errno(errno);
	}
	return WR_OK;
}

static int
tm_sink_file_finish(tm_op *op)
{
	return tm_sink_file_commit(op->impl);
}

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
static size_t
tm_sink_kafka_key(const wr_value *v, char *buf, size_t len)
{
	switch (v->type) {
	case WR_T_STRING:
		return (size_t)snprintf(buf, len, "%.*s", (int)v->u.s.len,
		                        v->u.s.p);
	case WR_T_LONG:
	case WR_T_TIMESTAMP:
		return (size_t)snprintf(buf, len, "%" PRId64, v->u.i);
	case WR_T_DOUBLE:
		return (size_t)snprintf(buf, len, "%.17g", v->u.d);
	case WR_T_BOOL:
		return (size_t)snprintf(buf, len, "%s",
		                        v->u.b ? "true" : "false");
	default:
		return 0;
	}
}

static int
tm_sink_kafka_push(tm_op *op, const wr_row *r)
{
	tm_sink *s = op->impl;
	const wr_sink_spec *sk = &op->node->sink;
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
		if (!tm_task_tick(s->t))
			return WR_ECLOSED;
	}
	rd_kafka_poll(s->rk, 0);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		tm_task_fail(s->t, "kafka sink %s: %s", sk->topic,
		             rd_kafka_err2str(e));
		return WR_EINVAL;
	}
	if (s->delivery_failures > 0 && sk->semantic != WR_SEM_NONE) {
		tm_task_fail(s->t, "kafka sink %s: delivery failed: %s",
		             sk->topic, s->first_error);
		return WR_EUNREACHABLE;
	}
	wr_metric_inc(s->t->m_out);
	return WR_OK;
}

static int
tm_sink_kafka_finish(tm_op *op)
{
	tm_sink *s = op->impl;
	rd_kafka_resp_err_t e = rd_kafka_flush(s->rk, 30000);
	if (op->node->sink.semantic == WR_SEM_NONE)
		return WR_OK;
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR || s->delivery_failures > 0) {
		tm_task_fail(s->t,
		             "kafka sink %s: %ld messages not delivered (%s)",
		             op->node->sink.topic, s->delivery_failures,
		             e ? rd_kafka_err2str(e) : s->first_error);
		return WR_EUNREACHABLE;
	}
	return WR_OK;
}

static int
tm_sink_kafka_open(tm_sink *s, const wr_sink_spec *sk, char *errbuf,
                   size_t errlen)
{
	const char *bs = sk->bootstrap ? sk->bootstrap
	                 : s->t->spec->kafka_bootstrap
	                     ? s->t->spec->kafka_bootstrap
	                     : s->t->tm->cfg.kafka_bootstrap;
	rd_kafka_conf_t *conf = wr_kafka_conf_new(bs);
	bool alo = sk->semantic == WR_SEM_AT_LEAST_ONCE;
	rd_kafka_conf_set_dr_msg_cb(conf, tm_sink_kafka_dr);
	rd_kafka_conf_set_opaque(conf, s);
	if (wr_kafka_conf_set(conf, "linger.ms", "5", errbuf, errlen) ||
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
tm_sink_destroy(tm_op *op)
{
	tm_sink *s = op->impl;
	if (s == NULL)
		return;
	if (s->f != NULL) {
		fclose(s->f);
		unlink(s->tmp); /* not committed: the task failed */
	}
	if (s->rk != NULL)
		rd_kafka_destroy(s->rk);
	wr_buf_fini(&s->json);
	free(s);
	op->impl = NULL;
}

int
tm_sink_new(tm_task *t, tm_op *op, char *errbuf, size_t errlen)
{
	const wr_sink_spec *sk = &op->node->sink;
	if (sk->kind == WR_SINK_POSTGRES)
		return tm_sink_pg_new(t, op, errbuf, errlen);
	if (sk->kind == WR_SINK_KAFKA && sk->semantic == WR_SEM_EXACTLY_ONCE)
		return tm_sink_kafka_tx_new(t, op, errbuf, errlen);
	tm_sink *s = wr_xcalloc(1, sizeof(*s));
	int rv = WR_OK;
	s->t = t;
	s->in = wr_jobspec_input_schema(t->job, op->node, 0);
	wr_buf_init(&s->json);
	op->impl = s;
	op->destroy = tm_sink_destroy;
	switch (sk->kind) {
	case WR_SINK_STDOUT:
		op->push = tm_sink_stdout_push;
		op->finish = tm_sink_stdout_finish;
		break;
	case WR_SINK_FILE:
		op->push = tm_sink_file_push;
		op->finish = tm_sink_file_finish;
		op->tick = tm_sink_file_tick;
		snprintf(s->dir, sizeof(s->dir), "%s", sk->path);
		if ((rv = wr_mkdirs(s->dir, 0755)) != WR_OK)
			snprintf(errbuf, errlen,
			         "file sink: cannot create %s: %s", s->dir,
			         wr_strerror(rv));
		break;
	case WR_SINK_KAFKA:
		op->push = tm_sink_kafka_push;
		op->finish = tm_sink_kafka_finish;
		rv = tm_sink_kafka_open(s, sk, errbuf, errlen);
		break;
	default:
		snprintf(errbuf, errlen, "sink '%s' cannot run yet",
		         op->node->id);
		rv = WR_ESTATE;
	}
	if (rv != WR_OK) {
		tm_sink_destroy(op);
		op->destroy = NULL;
	}
	return rv;
}
