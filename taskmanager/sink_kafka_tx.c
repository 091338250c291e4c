/*
 * sink_kafka_tx.c - the Kafka sink with semantic: exactly_once: records go
 * into Kafka transactions that commit when their checkpoint completes.
 *
 * Each subtask owns a small pool of transactional producers with the ids
 * "<job>/<node>/<subtask>/<n>", n < TM_KTX_POOL. One producer takes new
 * records. At a barrier its transaction is flushed and stays open
 * (pre-committed) until the checkpoint's completion commits it, while the
 * next free producer of the pool takes the records after the barrier
 * (normally two alternate; more are used only while completions lag).
 *
 * A start or a restore calls init_transactions on every id of the pool of
 * every subtask taken over (and of this one): on a real broker that fences
 * the old producers and aborts what they left open. librdkafka cannot
 * resume another producer's transaction, so a pre-committed transaction
 * whose checkpoint completed but whose commit did not run before a crash
 * is aborted by that fencing: its records are lost (docs/sinks.md). For
 * the same reason destroy aborts every open transaction, pre-committed
 * ones included: nothing could commit them later, and an open transaction
 * holds back read_committed readers until it times out.
 *
 * The embedded Kafka (librdkafka's mock cluster) accepts every call but
 * neither isolates aborted transactions nor fences
 * (notes/dependencies.md): against it this path runs, but only a real
 * broker gives the guarantee.
 *
 * Everything runs on the task's thread. push never calls tm_task_tick: a
 * tick may take a checkpoint (a source chain) or commit one, and neither
 * may happen in the middle of a record.
 */
#include "task_int.h"
#include "tm_int.h"

#include "clock.h"
#include "err.h"
#include "kafka.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "varint.h"
#include "wr_limits.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Transactional ids per subtask: two alternate; the others take records
 * while commits of earlier checkpoints lag behind the next barrier. */
#define TM_KTX_POOL     4
#define TM_KTX_STATE_V1 1
/* "<32 hex>/<node>/<subtask>/<n>" and its NUL. */
#define TM_KTX_ID_BYTES (33 + WR_JOB_MAX_ID_BYTES + 24)

typedef struct tm_ktx tm_ktx;

typedef struct tm_ktx_prod {
	tm_ktx *s;
	rd_kafka_t *rk; /* NULL until first used */
	int idx;
	bool in_txn;       /* begin_transaction done, not ended */
	bool precommitted; /* flushed at barrier ckpt: waits for commit */
	uint64_t ckpt;
	long failures; /* deliveries that failed */
	char first_error[256];
} tm_ktx_prod;

struct tm_ktx {
	tm_task *t;
	const wr_node_spec *node;
	const wr_schema *in;
	const char *bootstrap;
	int64_t txn_timeout_ms;
	wr_buf json;
	tm_ktx_prod p[TM_KTX_POOL];
	int cur; /* takes new records */
	bool started, finished;
	int failed; /* sticky: the task must fail */
};

/* What a snapshot records (tm_ktx_state_encode). */
typedef struct tm_ktx_state {
	int subtask;
	uint64_t ckpt;
	char job_id[33];
	char node[WR_JOB_MAX_ID_BYTES];
	char topic[250]; /* the sink's topic */
	int npending;    /* pre-committed transactions at the barrier */
	int pending_idx[TM_KTX_POOL];
	uint64_t pending_ckpt[TM_KTX_POOL];
} tm_ktx_state;

/* ---- settings and ids ------------------------------------------------- */

/*
 * transaction.timeout.ms for a job: a transaction lives from its first
 * record until the completion of the checkpoint after it, so at least
 * checkpoint timeout + interval, plus a minute for the commit; at least
 * 15 minutes (the brokers' default maximum: nothing is gained below it),
 * at most an hour. WR_EINVAL when the checkpoints need more than an hour.
 */
static int
tm_ktx_txn_timeout(const wr_checkpoint_spec *c, int64_t *out)
{
	int64_t need = c->timeout_ms + c->interval_ms + 60000;
	if (need > TM_KTX_MAX_TXN_MS)
		return WR_EINVAL;
	*out = need > TM_KTX_MIN_TXN_MS ? need : TM_KTX_MIN_TXN_MS;
	return WR_OK;
}

static void
tm_ktx_txid(char *out, size_t len, const char *job, const char *node,
            int subtask, int idx)
{
	snprintf(out, len, "%s/%s/%d/%d", job, node, subtask, idx);
}

/*
 * Snapshot layout, version 1 (docs/sinks.md): version byte 1, varint
 * subtask, varint checkpoint id, varint length + bytes of the job id, the
 * node id and the topic, varint count, then per pre-committed transaction
 * varint pool index + varint checkpoint id. The transactional ids follow
 * from them.
 */
static void
tm_ktx_state_encode(const tm_ktx_state *st, wr_buf *out)
{
	wr_buf_putc(out, TM_KTX_STATE_V1);
	wr_varint_put(out, (uint64_t)st->subtask);
	wr_varint_put(out, st->ckpt);
	wr_varint_put(out, strlen(st->job_id));
	wr_buf_puts(out, st->job_id);
	wr_varint_put(out, strlen(st->node));
	wr_buf_puts(out, st->node);
	wr_varint_put(out, strlen(st->topic));
	wr_buf_puts(out, st->topic);
	wr_varint_put(out, (uint64_t)st->npending);
	for (int i = 0; i < st->npending; i++) {
		wr_varint_put(out, (uint64_t)st->pending_idx[i]);
		wr_varint_put(out, st->pending_ckpt[i]);
	}
}

/* WR_ECORRUPT unless p is exactly one version-1 snapshot. */
static int
tm_ktx_state_decode(const uint8_t *p, size_t len, tm_ktx_state *st)
{
	size_t pos = 1;
	uint64_t sub, n, idx;
	memset(st, 0, sizeof(*st));
	if (len < 1 || p[0] != TM_KTX_STATE_V1 ||
	    wr_varint_get(p, len, &pos, &sub) != WR_OK ||
	    sub >= WR_JOB_MAX_PARALLELISM ||
	    wr_varint_get(p, len, &pos, &st->ckpt) != WR_OK ||
	    tm_sink_state_name(p, len, &pos, st->job_id, sizeof(st->job_id),
	                       "_-") ||
	    tm_sink_state_name(p, len, &pos, st->node, sizeof(st->node),
	                       "_-") ||
	    tm_sink_state_name(p, len, &pos, st->topic, sizeof(st->topic),
	                       "._-") ||
	    wr_varint_get(p, len, &pos, &n) != WR_OK || n > TM_KTX_POOL)
		return WR_ECORRUPT;
	st->subtask = (int)sub;
	st->npending = (int)n;
	for (int i = 0; i < st->npending; i++) {
		if (wr_varint_get(p, len, &pos, &idx) != WR_OK ||
		    idx >= TM_KTX_POOL ||
		    wr_varint_get(p, len, &pos, &st->pending_ckpt[i]) != WR_OK)
			return WR_ECORRUPT;
		st->pending_idx[i] = (int)idx;
	}
	return pos == len ? WR_OK : WR_ECORRUPT;
}

/* ---- producers -------------------------------------------------------- */

static int tm_ktx_fail(tm_ktx *s, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a failure: the task fails with it (first message wins). */
static int
tm_ktx_fail(tm_ktx *s, int rv, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tm_task_fail(s->t, "kafka sink %s (exactly_once): %s",
	             s->node->sink.topic, msg);
	s->failed = rv;
	return rv;
}

static void
tm_ktx_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	tm_ktx_prod *p = opaque;
	if (p == NULL || m->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		return; /* a fencing producer sends nothing */
	if (p->failures++ == 0)
		snprintf(p->first_error, sizeof(p->first_error), "%s",
		         rd_kafka_err2str(m->err));
}

/* A transactional producer for txid; errbuf says why not. */
static rd_kafka_t *
tm_ktx_producer(tm_ktx *s, const char *txid, void *opaque, char *errbuf,
                size_t errlen)
{
	char tmo[24];
	rd_kafka_conf_t *conf = wr_kafka_conf_new(s->bootstrap);
	snprintf(tmo, sizeof(tmo), "%lld", (long long)s->txn_timeout_ms);
	rd_kafka_conf_set_dr_msg_cb(conf, tm_ktx_dr);
	rd_kafka_conf_set_opaque(conf, opaque);
	if (wr_kafka_conf_set(conf, "transactional.id", txid, errbuf, errlen) ||
	    wr_kafka_conf_set(conf, "transaction.timeout.ms", tmo, errbuf,
	                      errlen) ||
	    wr_kafka_conf_set(conf, "linger.ms", "5", errbuf, errlen)) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errbuf, errlen);
	if (rk == NULL)
		rd_kafka_conf_destroy(conf);
	return rk;
}

static const char tm_ktx_timeout_hint[] =
    " (the brokers' transaction.max.timeout.ms is below this sink's "
    "transaction.timeout.ms: raise it on the brokers, or lower "
    "checkpointing.timeout and interval)";

/* init_transactions, retried while retriable for up to the transaction
 * timeout: fences older producers with this id. */
static int
tm_ktx_init(tm_ktx *s, rd_kafka_t *rk, const char *txid)
{
	int64_t deadline = wr_mono_ms() + s->txn_timeout_ms;
	for (;;) {
		rd_kafka_error_t *e =
		    rd_kafka_init_transactions(rk, TM_KTX_CALL_MS);
		if (e == NULL)
			return WR_OK;
		bool again = rd_kafka_error_is_retriable(e) &&
		             wr_mono_ms() < deadline &&
		             !atomic_load(&s->t->cancel);
		if (!again) {
			bool tmo =
			    rd_kafka_error_code(e) ==
			    RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT;
			int rv = tm_ktx_fail(s, WR_EUNREACHABLE,
			                     "init_transactions(%s): %s%s",
			                     txid, rd_kafka_error_string(e),
			                     tmo ? tm_ktx_timeout_hint : "");
			rd_kafka_error_destroy(e);
			return rv;
		}
		rd_kafka_error_destroy(e);
	}
}

/* Fences txid with a throwaway producer. */
static int
tm_ktx_fence(tm_ktx *s, const char *txid)
{
	char err[256];
	rd_kafka_t *rk = tm_ktx_producer(s, txid, NULL, err, sizeof(err));
	if (rk == NULL)
		return tm_ktx_fail(s, WR_EINVAL, "%s", err);
	int rv = tm_ktx_init(s, rk, txid);
	rd_kafka_destroy(rk);
	return rv;
}

/* Asks for the topic's metadata now: librdkafka 2.0.2 otherwise learns
 * of a new topic on its 1 s scan, delaying the first batch by a second.
 * Best effort: produce fetches it anyway. */
static void
tm_ktx_prime(rd_kafka_t *rk, const char *topic)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (rkt == NULL)
		return;
	if (rd_kafka_metadata(rk, 0, rkt, &md, TM_KTX_CALL_MS) ==
	    RD_KAFKA_RESP_ERR_NO_ERROR)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
}

/* Pool producer i, created and initialized on first use. */
static int
tm_ktx_prod_get(tm_ktx *s, int i, tm_ktx_prod **out)
{
	tm_ktx_prod *p = &s->p[i];
	char txid[TM_KTX_ID_BYTES], err[256];
	int rv;
	if (p->rk == NULL) {
		tm_ktx_txid(txid, sizeof(txid), s->t->spec->job_id, s->node->id,
		            s->t->spec->subtask, i);
		p->rk = tm_ktx_producer(s, txid, p, err, sizeof(err));
		if (p->rk == NULL)
			return tm_ktx_fail(s, WR_EINVAL, "%s", err);
		if ((rv = tm_ktx_init(s, p->rk, txid)) != WR_OK) {
			rd_kafka_destroy(p->rk);
			p->rk = NULL;
			return rv;
		}
		tm_ktx_prime(p->rk, s->node->sink.topic);
	}
	*out = p;
	return WR_OK;
}

/* Fences every pool id of one subtask of a run. Ours (this job, node and
 * subtask) become the pool's producers; the others are thrown away. */
static int
tm_ktx_fence_subtask(tm_ktx *s, const char *job, const char *node, int subtask)
{
	const tm_task_spec *sp = s->t->spec;
	bool own = strcmp(job, sp->job_id) == 0 &&
	           strcmp(node, s->node->id) == 0 && subtask == sp->subtask;
	char txid[TM_KTX_ID_BYTES];
	tm_ktx_prod *p;
	int rv = WR_OK;
	for (int i = 0; i < TM_KTX_POOL && rv == WR_OK; i++) {
		tm_ktx_txid(txid, sizeof(txid), job, node, subtask, i);
		if (own && i < 2) /* the two that alternate: keep them */
			rv = tm_ktx_prod_get(s, i, &p);
		else
			rv = tm_ktx_fence(s, txid);
	}
	if (rv == WR_OK)
		wr_log(WR_LOG_INFO, "KAFKA-TX-FENCED",
		       "%s node=%s: transactional ids %s/%s/%d/0..%d",
		       s->t->label, s->node->id, job, node, subtask,
		       TM_KTX_POOL - 1);
	return rv;
}

/* A start without restore: fence what an earlier attempt left. */
static int
tm_ktx_ready(tm_ktx *s)
{
	if (s->failed != WR_OK)
		return s->failed;
	if (s->started)
		return WR_OK;
	s->started = true;
	return tm_ktx_fence_subtask(s, s->t->spec->job_id, s->node->id,
	                            s->t->spec->subtask);
}

/* Flushes p's records; WR_OK only when every one was delivered. Waits
 * at most the checkpoint timeout (capped at a minute), in slices so that
 * a cancel is not held up. */
static int
tm_ktx_flush(tm_ktx *s, tm_ktx_prod *p)
{
	int64_t tmo = s->t->job->checkpointing.timeout_ms;
	int64_t deadline =
	    wr_mono_ms() + (tmo > 0 && tmo < 60000 ? tmo : 60000);
	rd_kafka_resp_err_t e;
	while ((e = rd_kafka_flush(p->rk, 100)) ==
	           RD_KAFKA_RESP_ERR__TIMED_OUT &&
	       p->failures == 0 && wr_mono_ms() < deadline &&
	       !atomic_load(&s->t->cancel))
		;
	if (p->failures > 0)
		return tm_ktx_fail(s, WR_EUNREACHABLE,
		                   "%ld records not delivered (%s): the "
		                   "transaction cannot commit",
		                   p->failures, p->first_error);
	/* Still in flight: the barrier cannot pass now; the transaction
	 * stays open and the next checkpoint tries again. */
	return e == RD_KAFKA_RESP_ERR_NO_ERROR ? WR_OK : WR_ETIMEDOUT;
}

/* commit_transaction, retried while retriable. */
static int
tm_ktx_commit_prod(tm_ktx *s, tm_ktx_prod *p)
{
	int64_t deadline = wr_mono_ms() + s->txn_timeout_ms;
	for (;;) {
		rd_kafka_error_t *e =
		    rd_kafka_commit_transaction(p->rk, TM_KTX_CALL_MS);
		if (e == NULL) {
			p->in_txn = p->precommitted = false;
			return WR_OK;
		}
		bool again = rd_kafka_error_is_retriable(e) &&
		             wr_mono_ms() < deadline &&
		             !atomic_load(&s->t->cancel);
		if (!again) {
			int rv = tm_ktx_fail(
			    s, WR_EUNREACHABLE,
			    "commit of the transaction of checkpoint %" PRIu64
			    " failed: %s%s",
			    p->ckpt, rd_kafka_error_string(e),
			    rd_kafka_error_txn_requires_abort(e)
			        ? " (it must be aborted)"
			        : "");
			rd_kafka_error_destroy(e);
			return rv;
		}
		rd_kafka_error_destroy(e);
	}
}

/* Commits the pre-committed transactions of ckpt and earlier, oldest
 * first. */
static int
tm_ktx_commit_upto(tm_ktx *s, uint64_t ckpt)
{
	for (;;) {
		tm_ktx_prod *best = NULL;
		for (int i = 0; i < TM_KTX_POOL; i++) {
			tm_ktx_prod *p = &s->p[i];
			if (p->precommitted && p->ckpt <= ckpt &&
			    (best == NULL || p->ckpt < best->ckpt))
				best = p;
		}
		if (best == NULL)
			return WR_OK;
		int rv = tm_ktx_commit_prod(s, best);
		if (rv != WR_OK)
			return rv;
	}
}

/* ---- the operator ----------------------------------------------------- */

static int
tm_ktx_push(tm_op *op, const wr_row *r)
{
	tm_ktx *s = op->impl;
	const wr_sink_spec *sk = &op->node->sink;
	tm_ktx_prod *p;
	char key[256];
	size_t klen = 0;
	rd_kafka_resp_err_t e;
	int rv;
	if ((rv = tm_ktx_ready(s)) != WR_OK ||
	    (rv = tm_ktx_prod_get(s, s->cur, &p)) != WR_OK)
		return rv;
	if (!p->in_txn) {
		rd_kafka_error_t *err = rd_kafka_begin_transaction(p->rk);
		if (err != NULL) {
			rv = tm_ktx_fail(s, WR_EINVAL, "begin_transaction: %s",
			                 rd_kafka_error_string(err));
			rd_kafka_error_destroy(err);
			return rv;
		}
		p->in_txn = true;
	}
	if (sk->key_field >= 0)
		klen =
		    tm_sink_kafka_key(&r->v[sk->key_field], key, sizeof(key));
	wr_buf_reset(&s->json);
	wr_row_to_json(s->in, r, &s->json);
	while ((e = rd_kafka_producev(
	            p->rk, RD_KAFKA_V_TOPIC(sk->topic),
	            RD_KAFKA_V_VALUE(s->json.data, s->json.len),
	            RD_KAFKA_V_KEY(klen ? key : NULL, klen),
	            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	            RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		/* librdkafka's queue is full: back-pressure (no tick, see
		 * the file comment; deliveries free the queue or fail
		 * within message.timeout.ms). */
		rd_kafka_poll(p->rk, 10);
		if (atomic_load(&s->t->cancel))
			return WR_ECLOSED;
	}
	rd_kafka_poll(p->rk, 0);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return tm_ktx_fail(s, WR_EINVAL, "%s", rd_kafka_err2str(e));
	if (p->failures > 0)
		return tm_ktx_fail(s, WR_EUNREACHABLE, "delivery failed: %s",
		                   p->first_error);
	if (s->t->m_out != NULL)
		wr_metric_inc(s->t->m_out);
	return WR_OK;
}

/* Serves delivery reports, so failures show before the barrier. */
static int
tm_ktx_tick(tm_op *op, int64_t now_ms)
{
	(void)now_ms;
	tm_ktx *s = op->impl;
	if (s->failed != WR_OK)
		return s->failed;
	for (int i = 0; i < TM_KTX_POOL; i++) {
		tm_ktx_prod *p = &s->p[i];
		if (p->rk == NULL)
			continue;
		rd_kafka_poll(p->rk, 0);
		if (p->failures > 0)
			return tm_ktx_fail(s, WR_EUNREACHABLE,
			                   "delivery failed: %s",
			                   p->first_error);
	}
	return WR_OK;
}

static int
tm_ktx_snapshot(tm_op *op, uint64_t ckpt, wr_buf *out)
{
	tm_ktx *s = op->impl;
	tm_ktx_prod *p = &s->p[s->cur];
	tm_ktx_state st = {.subtask = s->t->spec->subtask, .ckpt = ckpt};
	int rv;
	if ((rv = tm_ktx_ready(s)) != WR_OK)
		return rv;
	if (p->in_txn) {
		int next = -1;
		if ((rv = tm_ktx_flush(s, p)) != WR_OK)
			return rv;
		for (int k = 1; k < TM_KTX_POOL && next < 0; k++) {
			int j = (s->cur + k) % TM_KTX_POOL;
			if (!s->p[j].in_txn)
				next = j;
		}
		if (next < 0)
			return tm_ktx_fail(
			    s, WR_EFULL,
			    "all %d transactional producers hold transactions "
			    "waiting for their checkpoints to complete",
			    TM_KTX_POOL);
		p->precommitted = true;
		p->ckpt = ckpt;
		s->cur = next; /* begins its transaction on the next record */
	}
	snprintf(st.job_id, sizeof(st.job_id), "%s", s->t->spec->job_id);
	snprintf(st.node, sizeof(st.node), "%s", s->node->id);
	snprintf(st.topic, sizeof(st.topic), "%s", s->node->sink.topic);
	for (int i = 0; i < TM_KTX_POOL; i++)
		if (s->p[i].precommitted) {
			st.pending_idx[st.npending] = i;
			st.pending_ckpt[st.npending++] = s->p[i].ckpt;
		}
	tm_ktx_state_encode(&st, out);
	return WR_OK;
}

static int
tm_ktx_commit(tm_op *op, uint64_t ckpt)
{
	tm_ktx *s = op->impl;
	if (s->failed != WR_OK)
		return s->failed;
	return tm_ktx_commit_upto(s, ckpt);
}

static int
tm_ktx_restore(tm_op *op, const tm_op_state *states, int n)
{
	tm_ktx *s = op->impl;
	const tm_task_spec *sp = s->t->spec;
	bool own = false;
	int rv = WR_OK;
	if (s->started)
		return tm_ktx_fail(s, WR_ESTATE,
		                   "restore after the first record");
	s->started = true;
	for (int i = 0; i < n && rv == WR_OK; i++) {
		tm_ktx_state st;
		if (tm_ktx_state_decode(states[i].data, states[i].len, &st) !=
		    WR_OK)
			return tm_ktx_fail(s, WR_ECORRUPT,
			                   "snapshot of old subtask %d (%zu "
			                   "bytes) is not a version-1 snapshot "
			                   "of this sink",
			                   states[i].subtask, states[i].len);
		own |= strcmp(st.job_id, sp->job_id) == 0 &&
		       strcmp(st.node, s->node->id) == 0 &&
		       st.subtask == sp->subtask;
		/* A job forked from a savepoint into another topic must not
		 * fence the old job, maybe still running. */
		if (strcmp(st.topic, s->node->sink.topic) != 0) {
			wr_log(WR_LOG_INFO, "KAFKA-TX-OTHER-TOPIC",
			       "%s node=%s: old subtask %s/%d wrote to %s: "
			       "its transactional ids are left to it",
			       s->t->label, s->node->id, st.job_id, st.subtask,
			       st.topic);
			continue;
		}
		if (st.npending > 0)
			wr_log(
			    WR_LOG_WARN, "KAFKA-TX-LOST",
			    "%s node=%s: %d pre-committed transaction(s) of "
			    "%s/%s/%d (checkpoint %" PRIu64
			    "): fencing aborts them; if their commit did not "
			    "run before the failure, their records are lost "
			    "(librdkafka cannot resume them)",
			    s->t->label, s->node->id, st.npending, st.job_id,
			    st.node, st.subtask, st.ckpt);
		rv = tm_ktx_fence_subtask(s, st.job_id, st.node, st.subtask);
	}
	if (rv == WR_OK && !own)
		rv = tm_ktx_fence_subtask(s, sp->job_id, s->node->id,
		                          sp->subtask);
	return rv;
}

static int
tm_ktx_finish(tm_op *op)
{
	tm_ktx *s = op->impl;
	tm_ktx_prod *p = &s->p[s->cur];
	int rv;
	if ((rv = tm_ktx_ready(s)) != WR_OK ||
	    (rv = tm_ktx_commit_upto(s, UINT64_MAX)) != WR_OK)
		return rv;
	if (p->in_txn && (rv = tm_ktx_commit_prod(s, p)) != WR_OK)
		return rv;
	s->finished = true;
	return WR_OK;
}

static void
tm_ktx_destroy(tm_op *op)
{
	tm_ktx *s = op->impl;
	if (s == NULL)
		return;
	for (int i = 0; i < TM_KTX_POOL; i++) {
		tm_ktx_prod *p = &s->p[i];
		if (p->rk == NULL)
			continue;
		if (p->in_txn) {
			rd_kafka_error_t *e =
			    rd_kafka_abort_transaction(p->rk, TM_KTX_ABORT_MS);
			if (e != NULL)
				rd_kafka_error_destroy(e);
		}
		rd_kafka_destroy(p->rk);
	}
	wr_buf_fini(&s->json);
	free(s);
	op->impl = NULL;
}

int
tm_sink_kafka_tx_new(tm_task *t, tm_op *op, char *errbuf, size_t errlen)
{
	const wr_sink_spec *sk = &op->node->sink;
	const wr_checkpoint_spec *c = &t->job->checkpointing;
	int64_t tmo;
	if (tm_ktx_txn_timeout(c, &tmo) != WR_OK) {
		snprintf(
		    errbuf, errlen,
		    "kafka sink %s (exactly_once): checkpointing.timeout + "
		    "interval + 1m is over 1h, the longest Kafka "
		    "transaction this sink opens: lower them",
		    sk->topic);
		return WR_EINVAL;
	}
	tm_ktx *s = wr_xcalloc(1, sizeof(*s));
	s->t = t;
	s->node = op->node;
	s->in = wr_jobspec_input_schema(t->job, op->node, 0);
	s->bootstrap = sk->bootstrap              ? sk->bootstrap
	               : t->spec->kafka_bootstrap ? t->spec->kafka_bootstrap
	                                          : t->tm->cfg.kafka_bootstrap;
	s->txn_timeout_ms = tmo;
	wr_buf_init(&s->json);
	for (int i = 0; i < TM_KTX_POOL; i++) {
		s->p[i].s = s;
		s->p[i].idx = i;
	}
	op->impl = s;
	op->push = tm_ktx_push;
	op->finish = tm_ktx_finish;
	op->tick = tm_ktx_tick;
	op->destroy = tm_ktx_destroy;
	op->snapshot = tm_ktx_snapshot;
	op->commit = tm_ktx_commit;
	op->restore = tm_ktx_restore;
	return WR_OK;
}
