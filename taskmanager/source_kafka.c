/*
 * source_kafka.c - the Kafka source. Partitions are assigned by the plan,
 * not by a consumer group: partition p goes to subtask p mod parallelism,
 * discovered once at start. Each message is decoded once from JSON into a
 * row; one that does not decode or does not match the schema goes where
 * `invalid:` says: the dead-letter topic (original bytes, the reason in
 * headers), skipped, or it fails the job - and is counted in
 * weir_invalid_records_total either way.
 *
 * A table (`tables:`, docs/joins.md) is read the same way, except that a
 * record with a null value (a tombstone) becomes a delete row of its key
 * (op.h tm_row_mark_delete), the key read from the message key.
 */
#include "op.h"

#include "ckpt_meta.h"
#include "clock.h"
#include "err.h"
#include "kafka.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "watermark.h"
#include "wr_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TM_KAFKA_BATCH   512
#define TM_KAFKA_POLL_MS 10
#define TM_KAFKA_LAG_MS  1000

typedef struct tm_kafka_src {
	tm_src *src;
	const wr_node_spec *node;
	const tm_op_conf *conf;
	wr_arena *arena;
	const wr_source_spec *s;
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;
	rd_kafka_t *dlq; /* producer for dead letters, made on first use */
	int nparts;      /* partitions this subtask reads */
	int32_t *parts;  /* their numbers, in assignment order */
	int64_t *next;   /* per part: the next offset to read; -1 unknown */
	/* offsets of the last checkpoint taken, for the group commit */
	rd_kafka_topic_partition_list_t *ck_offsets;
	uint64_t ck_id;
	tm_wm_tracker wmt; /* one input per assigned partition */
	/* per part: weir_kafka_consumer_lag_records, refreshed every
	 * TM_KAFKA_LAG_MS (tm_kafka_lag) */
	struct wr_metric **m_lag;
	int64_t lag_at_ms;
} tm_kafka_src;

static const char *
tm_kafka_bootstrap(const tm_kafka_src *k)
{
	return tm_conf_kafka_bootstrap(k->conf, k->s->bootstrap);
}

static int
tm_kafka_open(tm_kafka_src *k, char *err, size_t errlen)
{
	char group[128];
	char wait[24];
	snprintf(group, sizeof(group), "%s",
	         k->s->group ? k->s->group : "weir");
	snprintf(wait, sizeof(wait), "%lld",
	         (long long)k->conf->kafka_fetch_wait_ms);
	rd_kafka_conf_t *conf = wr_kafka_conf_new(tm_kafka_bootstrap(k));
	if (wr_kafka_conf_consumer_defaults(conf, err, errlen) ||
	    wr_kafka_conf_set(conf, "fetch.wait.max.ms", wait, err, errlen) ||
	    wr_kafka_conf_set(conf, "group.id", group, err, errlen) ||
	    wr_kafka_conf_set(conf, "enable.partition.eof", "false", err,
	                      errlen)) {
		rd_kafka_conf_destroy(conf);
		return WR_EINVAL;
	}
	k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
	if (k->rk == NULL) {
		rd_kafka_conf_destroy(conf);
		return WR_EINVAL;
	}
	return WR_OK;
}

/* The topic's partition count. A missing topic is an error, or with
 * allow_missing is looked for again every TM_KAFKA_MISSING_POLL_MS, with
 * a warning at most every TM_KAFKA_MISSING_WARN_MS, until it exists or
 * the task stops (0). The lookups never create it (kafka.h). */
static int
tm_kafka_partitions(tm_kafka_src *k, char *err, size_t errlen)
{
	int64_t warned = 0, since = wr_mono_ms();
	for (;;) {
		int n = wr_kafka_partition_count(k->rk, k->s->topic,
		                                 TM_KAFKA_METADATA_MS);
		if (n != -WR_ENOENT || !k->s->allow_missing) {
			if (n <= 0)
				snprintf(
				    err, errlen, "topic %s: %s (brokers %s)%s",
				    k->s->topic,
				    n == -WR_ENOENT ? "does not exist"
				                    : wr_strerror(-n),
				    tm_kafka_bootstrap(k),
				    n == -WR_ENOENT
				        ? "; weir does not create it (set "
				          "kafka.allow_missing: true to wait "
				          "for it)"
				        : "");
			return n;
		}
		int64_t now = wr_mono_ms();
		if (warned == 0 || now - warned >= TM_KAFKA_MISSING_WARN_MS) {
			wr_log(WR_LOG_WARN, "SOURCE-TOPIC-MISSING",
			       "%s topic=%s brokers=%s: does not exist (for "
			       "%llds); waiting for it (allow_missing)",
			       k->conf->label, k->s->topic,
			       tm_kafka_bootstrap(k),
			       (long long)((now - since) / 1000));
			warned = now;
		}
		for (int64_t t0 = now;
		     wr_mono_ms() - t0 < TM_KAFKA_MISSING_POLL_MS;) {
			if (!tm_src_tick(k->src))
				return 0;
			wr_sleep_ms(TM_KAFKA_POLL_MS);
			tm_src_idle(k->src, TM_KAFKA_POLL_MS);
		}
	}
}

/* Assigns partitions p with p % parallelism == subtask. */
static int
tm_kafka_assign(tm_kafka_src *k, char *err, size_t errlen)
{
	int n = tm_kafka_partitions(k, err, errlen);
	if (n == 0)
		return WR_ECLOSED; /* stopped while waiting */
	if (n < 0)
		return WR_EUNREACHABLE;
	int par = k->conf->parallelism, sub = k->conf->subtask;
	rd_kafka_topic_partition_list_t *tp =
	    rd_kafka_topic_partition_list_new(n / par + 1);
	int restored = 0;
	for (int p = sub; p < n; p += par) {
		int64_t off = k->s->startup == WR_STARTUP_LATEST
		                  ? RD_KAFKA_OFFSET_END
		              : k->s->startup == WR_STARTUP_GROUP
		                  ? RD_KAFKA_OFFSET_STORED
		                  : RD_KAFKA_OFFSET_BEGINNING;
		/* A restored source resumes where its checkpoint was. */
		int64_t ck = tm_src_restored_offset(k->src, k->s->topic, p);
		if (ck >= 0) {
			off = ck;
			restored++;
		} else if (off == RD_KAFKA_OFFSET_END &&
		           k->conf->checkpointing) {
			/* "latest" as a concrete offset, so a checkpoint taken
			 * before the first record of p still names where p
			 * started (a restore must not skip what came since) */
			int64_t lo, hi;
			if (rd_kafka_query_watermark_offsets(
			        k->rk, k->s->topic, p, &lo, &hi,
			        TM_KAFKA_METADATA_MS) ==
			    RD_KAFKA_RESP_ERR_NO_ERROR)
				off = hi;
		}
		rd_kafka_topic_partition_list_add(tp, k->s->topic, p)->offset =
		    off;
	}
	k->nparts = tp->cnt;
	k->parts = wr_xcalloc((size_t)tp->cnt + 1, sizeof(*k->parts));
	k->next = wr_xcalloc((size_t)tp->cnt + 1, sizeof(*k->next));
	for (int i = 0; i < tp->cnt; i++) {
		k->parts[i] = tp->elems[i].partition;
		k->next[i] =
		    tp->elems[i].offset >= 0 ? tp->elems[i].offset : -1;
	}
	tm_wm_init(&k->wmt, k->nparts, k->s->max_out_of_orderness_ms,
	           k->s->idle_timeout_ms, wr_mono_ms());
	rd_kafka_resp_err_t e = rd_kafka_assign(k->rk, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "topic %s: assign: %s (brokers %s)",
		         k->s->topic, rd_kafka_err2str(e),
		         tm_kafka_bootstrap(k));
		return WR_EUNREACHABLE;
	}
	wr_log(WR_LOG_INFO, "SOURCE-ASSIGNED",
	       "%s topic=%s partitions=%d of %d (p mod %d == %d), %d from a "
	       "checkpoint",
	       k->conf->label, k->s->topic, k->nparts, n, par, sub, restored);
	k->q = rd_kafka_queue_get_consumer(k->rk);
	return WR_OK;
}

/* Sends a bad record's original bytes to the dead-letter topic with the
 * reason and its origin in headers. Delivery is asynchronous; the
 * producer is flushed when the source ends. */
static int
tm_kafka_dead_letter(tm_kafka_src *k, const rd_kafka_message_t *m,
                     const char *reason)
{
	char err[256], part[16], off[24];
	if (k->dlq == NULL) {
		rd_kafka_conf_t *conf =
		    wr_kafka_conf_new(tm_kafka_bootstrap(k));
		/* Dead letters include records over WR_RECORD_MAX_BYTES. */
		if (wr_kafka_conf_producer_defaults(conf, err, sizeof(err)) !=
		        WR_OK ||
		    (k->dlq = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err,
		                           sizeof(err))) == NULL) {
			rd_kafka_conf_destroy(conf);
			tm_src_fail(k->src, "dead-letter producer: %s", err);
			return WR_EINVAL;
		}
	}
	snprintf(part, sizeof(part), "%d", (int)m->partition);
	snprintf(off, sizeof(off), "%lld", (long long)m->offset);
	rd_kafka_resp_err_t e;
	do {
		e = rd_kafka_producev(
		    k->dlq, RD_KAFKA_V_TOPIC(k->s->dlq_topic),
		    RD_KAFKA_V_VALUE(m->payload, m->len),
		    RD_KAFKA_V_KEY(m->key, m->key_len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_HEADER("weir.error", reason, -1),
		    RD_KAFKA_V_HEADER("weir.source", k->node->id, -1),
		    RD_KAFKA_V_HEADER("weir.topic", k->s->topic, -1),
		    RD_KAFKA_V_HEADER("weir.partition", part, -1),
		    RD_KAFKA_V_HEADER("weir.offset", off, -1), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(k->dlq, 10);
	} while (e == RD_KAFKA_RESP_ERR__QUEUE_FULL && tm_src_tick(k->src));
	rd_kafka_poll(k->dlq, 0);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR &&
	    e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		tm_src_fail(k->src, "dead-letter topic %s: %s (brokers %s)",
		            k->s->dlq_topic, rd_kafka_err2str(e),
		            tm_kafka_bootstrap(k));
		return WR_EINVAL;
	}
	return WR_OK;
}

/* A record that does not decode: where `invalid:` says. */
static int
tm_kafka_invalid(tm_kafka_src *k, const rd_kafka_message_t *m,
                 const char *reason)
{
	tm_src_count(k->src, TM_COUNT_INVALID, 1);
	switch (k->s->invalid) {
	case WR_INVALID_SKIP:
		return WR_OK;
	case WR_INVALID_DLQ:
		return tm_kafka_dead_letter(k, m, reason);
	default:
		tm_src_fail(k->src,
		            "invalid record in %s [%d] at offset %lld: %s "
		            "(invalid.policy is fail)",
		            k->s->topic, (int)m->partition,
		            (long long)m->offset, reason);
		return WR_EINVAL;
	}
}

/* A one-field primary key written as the bare value (not a JSON object):
 * a string's bytes as they are, else the value's JSON text. */
static int
tm_kafka_bare_key(tm_kafka_src *k, const rd_kafka_message_t *m, wr_row *row,
                  char *reason, size_t len)
{
	const wr_field *f = &k->node->out.fields[k->s->pkeys[0]];
	wr_value *v = &row->v[k->s->pkeys[0]];
	if (f->type == WR_T_STRING) {
		v->type = WR_T_STRING;
		v->u.s.p = m->key;
		v->u.s.len = (uint32_t)m->key_len;
		return WR_OK;
	}
	wr_schema one = {.n = 1, .fields = {{.name = "x", .type = f->type}}};
	wr_row r1;
	wr_buf b;
	wr_buf_init(&b);
	wr_buf_puts(&b, "{\"x\":");
	wr_buf_append(&b, m->key, m->key_len);
	wr_buf_putc(&b, '}');
	int rv = wr_row_from_json(&one, (const char *)b.data, b.len, &r1,
	                          k->arena, reason, len);
	wr_buf_fini(&b);
	if (rv == WR_OK && r1.v[0].type == WR_T_NULL) {
		snprintf(reason, len, "a null key");
		rv = WR_EINVAL;
	}
	if (rv == WR_OK)
		*v = r1.v[0];
	return rv;
}

/*
 * A table's tombstone (a null value) as a delete row (op.h
 * tm_row_mark_delete): its key is the message key, the JSON object of the
 * primary key's fields or, for a one-field key, the bare value. A
 * tombstone has no value to take an event time from, so with event time
 * it is the record's Kafka timestamp (as Flink's upsert-kafka tables take
 * the timestamp from the record's metadata).
 */
static int
tm_kafka_tombstone(tm_kafka_src *k, const rd_kafka_message_t *m, wr_row *row,
                   char *reason, size_t len)
{
	int rv = WR_OK;
	row->n = k->node->out.n;
	for (uint32_t f = 0; f < row->n; f++)
		row->v[f].type = WR_T_NULL;
	if (m->key == NULL || m->key_len == 0 ||
	    m->key_len > WR_RECORD_MAX_BYTES) {
		snprintf(reason, len, "a tombstone (null value) %s",
		         m->key_len ? "with a key over the record limit"
		                    : "without a key");
		return WR_EINVAL;
	}
	if (((const char *)m->key)[0] == '{')
		rv = wr_row_from_json(&k->node->out, m->key, m->key_len, row,
		                      k->arena, reason, len);
	else if (k->s->npkeys == 1)
		rv = tm_kafka_bare_key(k, m, row, reason, len);
	else {
		snprintf(reason, len,
		         "a tombstone's key must be a JSON object of the "
		         "primary key's fields");
		rv = WR_EINVAL;
	}
	if (rv != WR_OK)
		return rv;
	for (uint32_t f = 0; f < row->n; f++) {
		bool key = false;
		for (int i = 0; i < k->s->npkeys; i++)
			key |= k->s->pkeys[i] == (int)f;
		if (!key) /* only the key of a JSON key object counts */
			row->v[f].type = WR_T_NULL;
	}
	if (k->s->time_field >= 0) {
		rd_kafka_timestamp_type_t tt;
		int64_t ts = rd_kafka_message_timestamp(m, &tt);
		if (ts < 0) {
			snprintf(reason, len,
			         "a tombstone without a timestamp");
			return WR_EINVAL;
		}
		row->v[k->s->time_field] =
		    (wr_value){.type = WR_T_TIMESTAMP, .u.i = ts};
	}
	tm_row_mark_delete(row, k->node->out.n);
	return WR_OK;
}

/* Decodes one message and pushes it down the chain. */
static int
tm_kafka_record(tm_kafka_src *k, const rd_kafka_message_t *m)
{
	char reason[256];
	wr_row row;
	tm_src_count(k->src, TM_COUNT_IN, 1);
	tm_src_count(k->src, TM_COUNT_BYTES_IN, (double)(m->len + m->key_len));
	for (int i = 0; i < k->nparts; i++)
		if (k->parts[i] == m->partition) {
			k->next[i] = m->offset + 1;
			break;
		}
	int rv;
	if (k->s->table && m->payload == NULL) {
		rv = tm_kafka_tombstone(k, m, &row, reason, sizeof(reason));
	} else if (m->len > WR_RECORD_MAX_BYTES) {
		/* Refused before decoding: it must never reach the shuffle,
		 * state or a sink (docs/security.md, bounded inputs). */
		snprintf(reason, sizeof(reason),
		         "record at %s [%d] offset %lld: %zu bytes, over the "
		         "record limit of %u bytes",
		         k->s->topic, (int)m->partition, (long long)m->offset,
		         m->len, WR_RECORD_MAX_BYTES);
		rv = WR_ETOOBIG;
	} else {
		rv = wr_row_from_json(&k->node->out,
		                      m->payload ? m->payload : "", m->len,
		                      &row, k->arena, reason, sizeof(reason));
	}
	if (rv != WR_OK)
		return tm_kafka_invalid(k, m, reason);
	int tf = k->s->time_field;
	if (tf >= 0 && row.v[tf].type == WR_T_TIMESTAMP)
		for (int i = 0; i < k->nparts; i++)
			if (k->parts[i] == m->partition) {
				tm_wm_record(&k->wmt, i, row.v[tf].u.i,
				             wr_mono_ms());
				break;
			}
	return tm_src_emit(k->src, &row);
}

/* Emits the source's watermark when it advanced (every
 * TM_WM_INTERVAL_MS at most). Without event time there is none. */
static int
tm_kafka_watermark(tm_kafka_src *k)
{
	int64_t wm;
	bool idle;
	if (k->s->time_field < 0 ||
	    !tm_wm_poll(&k->wmt, wr_mono_ms(), false, &wm, &idle))
		return WR_OK;
	return tm_src_watermark(k->src, wm, idle);
}

/* The checkpoint's position: the next offset of every partition read,
 * or where it was assigned (a concrete offset: restored, or "latest"
 * resolved at start). One started at "earliest" or the group's offset
 * that nothing was read from yet is left out: a restore starts it the
 * same way again. */
static void
tm_kafka_offsets(void *arg, wr_ckpt_meta *part)
{
	tm_kafka_src *k = arg;
	if (k->ck_offsets != NULL)
		rd_kafka_topic_partition_list_destroy(k->ck_offsets);
	k->ck_offsets = rd_kafka_topic_partition_list_new(k->nparts + 1);
	k->ck_id = part->id;
	for (int i = 0; i < k->nparts; i++) {
		if (k->next[i] < 0)
			continue;
		wr_ckpt_offset o = {.uid = k->node->id,
		                    .subtask = k->conf->subtask,
		                    .topic = k->s->topic,
		                    .partition = k->parts[i],
		                    .offset = k->next[i]};
		wr_ckpt_meta_add_offset(part, &o);
		rd_kafka_topic_partition_list_add(k->ck_offsets, k->s->topic,
		                                  k->parts[i])
		    ->offset = k->next[i];
	}
}

/* Checkpoint id completed: its offsets go to the consumer group, for
 * lag monitoring only (restores read the checkpoint). */
static void
tm_kafka_commit(void *arg, uint64_t id)
{
	tm_kafka_src *k = arg;
	if (k->ck_offsets == NULL || k->ck_id != id || k->ck_offsets->cnt == 0)
		return;
	/* Asynchronous: the task goes on reading. A stopped source's (the
	 * savepoint of a stop) waits: the consumer closes right after, and
	 * a commit still queued then is lost. */
	rd_kafka_resp_err_t e = rd_kafka_commit(k->rk, k->ck_offsets,
	                                        tm_src_stopped(k->src) ? 0 : 1);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		wr_log(WR_LOG_DEBUG, "SOURCE-KAFKA-COMMIT", "%s: %s",
		       k->conf->label, rd_kafka_err2str(e));
}

/* One gauge per assigned partition, without a value until the first
 * high watermark is known. */
static void
tm_kafka_lag_metrics(tm_kafka_src *k)
{
	char part[16];
	k->m_lag = wr_xcalloc((size_t)k->nparts + 1, sizeof(*k->m_lag));
	for (int i = 0; i < k->nparts; i++) {
		snprintf(part, sizeof(part), "%d", (int)k->parts[i]);
		k->m_lag[i] = tm_src_gauge(
		    k->src, "weir_kafka_consumer_lag_records",
		    "Records in a partition after the source's position "
		    "(high watermark - next offset to read)",
		    "topic", k->s->topic, "partition", part);
	}
}

/* Lag per partition: the high watermark minus the next offset to read.
 * While the source runs, the watermark librdkafka last saw (fetch
 * responses carry it; no request of its own, so this is cheap, but it
 * may trail by what is in flight); once it stopped (final), the brokers'
 * (a request per partition). Before the first record the position is
 * the low watermark for "earliest", else unknown (no value). */
static void
tm_kafka_lag(tm_kafka_src *k, bool final)
{
	int64_t t = wr_mono_ms();
	if (!final && t - k->lag_at_ms < TM_KAFKA_LAG_MS)
		return;
	k->lag_at_ms = t;
	for (int i = 0; i < k->nparts; i++) {
		int64_t lo, hi, pos = k->next[i];
		rd_kafka_resp_err_t e =
		    final ? rd_kafka_query_watermark_offsets(
		                k->rk, k->s->topic, k->parts[i], &lo, &hi,
		                TM_KAFKA_METADATA_MS)
		          : rd_kafka_get_watermark_offsets(
		                k->rk, k->s->topic, k->parts[i], &lo, &hi);
		if (e != RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0)
			continue;
		if (pos < 0 && k->s->startup == WR_STARTUP_EARLIEST)
			pos = lo;
		if (pos >= 0)
			wr_metric_set(k->m_lag[i],
			              (double)(hi > pos ? hi - pos : 0));
	}
}

static void
tm_kafka_lag_release(tm_kafka_src *k)
{
	if (k->m_lag == NULL)
		return;
	for (int i = 0; i < k->nparts; i++)
		tm_src_gauge_release(k->src, k->m_lag[i]);
	free(k->m_lag);
}

static int
tm_kafka_loop(tm_kafka_src *k)
{
	rd_kafka_message_t *msgs[TM_KAFKA_BATCH];
	while (tm_src_tick(k->src)) {
		int wrv = tm_kafka_watermark(k);
		if (wrv != WR_OK)
			return wrv;
		tm_kafka_lag(k, false);
		if (k->nparts == 0) {
			/* More subtasks than partitions: this one idles. */
			wr_sleep_ms(TM_KAFKA_POLL_MS);
			tm_src_idle(k->src, TM_KAFKA_POLL_MS);
			continue;
		}
		int64_t t0 = wr_mono_ms();
		ssize_t n = rd_kafka_consume_batch_queue(k->q, TM_KAFKA_POLL_MS,
		                                         msgs, TM_KAFKA_BATCH);
		if (n <= 0)
			tm_src_idle(k->src, wr_mono_ms() - t0);
		int rv = WR_OK;
		for (ssize_t i = 0; i < n; i++) {
			rd_kafka_message_t *m = msgs[i];
			if (rv == WR_OK && m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
				rv = tm_kafka_record(k, m);
			else if (rv == WR_OK &&
			         m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				wr_log(WR_LOG_WARN, "SOURCE-KAFKA", "%s: %s",
				       k->conf->label,
				       rd_kafka_message_errstr(m));
			wr_arena_reset(k->arena);
			rd_kafka_message_destroy(m);
		}
		if (rv != WR_OK)
			return rv;
		if (k->dlq != NULL)
			rd_kafka_poll(k->dlq, 0);
	}
	return WR_ECLOSED;
}

static int
tm_source_kafka_run(tm_src *src, const wr_node_spec *node)
{
	tm_kafka_src k = {.src = src,
	                  .node = node,
	                  .conf = tm_src_conf(src),
	                  .arena = tm_src_arena(src),
	                  .s = &node->source};
	char err[512];
	int rv = tm_kafka_open(&k, err, sizeof(err));
	if (rv == WR_OK)
		rv = tm_kafka_assign(&k, err, sizeof(err));
	if (rv == WR_ECLOSED)
		goto close;
	if (rv != WR_OK) {
		tm_src_fail(src, "source '%s': %s", node->id, err);
		goto close;
	}
	tm_src_hooks(src, tm_kafka_offsets, tm_kafka_commit, &k);
	tm_kafka_lag_metrics(&k);
	/* A table without event time never sends a watermark: it says it
	 * is idle once, so it does not hold its join's watermark (the
	 * minimum over both inputs) at nothing forever. */
	rv = k.s->table && k.s->time_field < 0
	         ? tm_src_watermark(src, TM_WM_MIN, true)
	         : WR_OK;
	if (rv == WR_OK)
		rv = tm_kafka_loop(&k);
	/* A stop's savepoint completes right before the cancel that ends
	 * the job: its notice can come with the cancel, after the last
	 * poll. Its offsets still go to the group (its lag is then what
	 * the group's offsets say). */
	if (tm_src_stopped(src))
		tm_kafka_commit(&k, tm_src_completed(src));
	tm_kafka_lag(&k, true); /* where it stopped, for a last scrape */
	tm_kafka_lag_release(&k);
	tm_src_hooks(src, NULL, NULL, NULL);
close:
	if (k.ck_offsets != NULL)
		rd_kafka_topic_partition_list_destroy(k.ck_offsets);
	free(k.next);
	if (k.dlq != NULL) {
		rd_kafka_flush(k.dlq, 10000);
		rd_kafka_destroy(k.dlq);
	}
	if (k.q != NULL)
		rd_kafka_queue_destroy(k.q);
	if (k.parts != NULL)
		tm_wm_fini(&k.wmt);
	free(k.parts);
	if (k.rk != NULL) {
		rd_kafka_consumer_close(k.rk);
		rd_kafka_destroy(k.rk);
	}
	return rv;
}

const tm_source_vt tm_source_kafka = {
    .name = "kafka",
    .run = tm_source_kafka_run,
};
