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
 * The protocol (begin, pre-commit at the barrier, commit on completion,
 * restore) is the two-phase-commit skeleton's (sink_2pc.h); this file
 * supplies its steps for a pool of producers.
 *
 * Everything runs on the task's thread. write never calls tm_yield: a
 * tick may take a checkpoint (a source chain) or commit one, and neither
 * may happen in the middle of a record.
 */
#include "sink_2pc.h"
#include "sinks.h"

#include "clock.h"
#include "err.h"
#include "kafka.h"
#include "log.h"
#include "mem.h"
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
	bool in_txn;   /* begin_transaction done, not ended */
	uint64_t ckpt; /* the barrier that last pre-committed it */
	long failures; /* deliveries that failed */
	char first_error[256];
} tm_ktx_prod;

struct tm_ktx {
	tm_ctx *ctx;
	const tm_op_conf *conf;
	tm_2pc *x;
	const wr_node_spec *node;
	const wr_schema *in;
	const char *bootstrap;
	int64_t txn_timeout_ms;
	wr_buf json;
	tm_ktx_prod p[TM_KTX_POOL];
	int cur; /* takes new records */
};

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

/* "<job>/<node>/<subtask>/": what every transactional id of one sink
 * subtask starts with. */
static void
tm_ktx_txid_prefix(char *out, size_t len, const char *job, const char *node,
                   int subtask)
{
	snprintf(out, len, "%s/%s/%d/", job, node, subtask);
}

/*
 * Snapshot layout, version 1 (docs/sinks.md): version byte 1, the shared
 * head (tm_2pc_head_put: subtask, checkpoint id, job id, node id, topic),
 * varint count, then per pre-committed transaction varint pool index +
 * varint checkpoint id, oldest first. The transactional ids follow from
 * them.
 */
static void
tm_ktx_encode(void *b, const tm_2pc_head *self, const tm_2pc_txn *pending,
              int npending, wr_buf *out)
{
	(void)b;
	wr_buf_putc(out, TM_KTX_STATE_V1);
	tm_2pc_head_put(out, self);
	wr_varint_put(out, (uint64_t)npending);
	for (int i = 0; i < npending; i++) {
		const tm_ktx_prod *p = pending[i].h;
		wr_varint_put(out, (uint64_t)p->idx);
		wr_varint_put(out, pending[i].ckpt);
	}
}

/* WR_ECORRUPT unless p is exactly one version-1 snapshot. */
static int
tm_ktx_decode(void *b, const uint8_t *p, size_t len, tm_2pc_head *h)
{
	(void)b;
	size_t pos = 1;
	uint64_t n, idx, ckpt;
	if (len < 1 || p[0] != TM_KTX_STATE_V1 ||
	    tm_2pc_head_get(p, len, &pos, h, "._-", 250) != WR_OK ||
	    wr_varint_get(p, len, &pos, &n) != WR_OK || n > TM_KTX_POOL)
		return WR_ECORRUPT;
	h->npending = (int)n;
	for (uint64_t i = 0; i < n; i++)
		if (wr_varint_get(p, len, &pos, &idx) != WR_OK ||
		    idx >= TM_KTX_POOL ||
		    wr_varint_get(p, len, &pos, &ckpt) != WR_OK)
			return WR_ECORRUPT;
	tm_ktx_txid_prefix(h->name, sizeof(h->name), h->job_id, h->node,
	                   h->subtask);
	return pos == len ? WR_OK : WR_ECORRUPT;
}

/* ---- producers -------------------------------------------------------- */

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
	char tmo[24], linger[24];
	rd_kafka_conf_t *conf = wr_kafka_conf_new(s->bootstrap);
	snprintf(tmo, sizeof(tmo), "%lld", (long long)s->txn_timeout_ms);
	snprintf(linger, sizeof(linger), "%lld",
	         (long long)s->conf->kafka_linger_ms);
	rd_kafka_conf_set_dr_msg_cb(conf, tm_ktx_dr);
	rd_kafka_conf_set_opaque(conf, opaque);
	if (wr_kafka_conf_producer_defaults(conf, errbuf, errlen) ||
	    wr_kafka_conf_set(conf, "transactional.id", txid, errbuf, errlen) ||
	    wr_kafka_conf_set(conf, "transaction.timeout.ms", tmo, errbuf,
	                      errlen) ||
	    wr_kafka_conf_set(conf, "linger.ms", linger, errbuf, errlen)) {
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
		             wr_mono_ms() < deadline && !tm_cancelled(s->ctx);
		if (!again) {
			bool tmo =
			    rd_kafka_error_code(e) ==
			    RD_KAFKA_RESP_ERR_INVALID_TRANSACTION_TIMEOUT;
			int rv = tm_2pc_fail(s->x, WR_EUNREACHABLE,
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
		return tm_2pc_fail(s->x, WR_EINVAL, "%s", err);
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
		tm_ktx_txid(txid, sizeof(txid), s->conf->job_id, s->node->id,
		            s->conf->subtask, i);
		p->rk = tm_ktx_producer(s, txid, p, err, sizeof(err));
		if (p->rk == NULL)
			return tm_2pc_fail(s->x, WR_EINVAL, "%s", err);
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
	const tm_op_conf *sp = s->conf;
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
		       s->conf->label, s->node->id, job, node, subtask,
		       TM_KTX_POOL - 1);
	return rv;
}

/* Whatever earlier attempts of this subtask left: fenced (a start, or a
 * restore that did not list this subtask). */
static int
tm_ktx_abort_leftovers(void *b)
{
	tm_ktx *s = b;
	return tm_ktx_fence_subtask(s, s->conf->job_id, s->node->id,
	                            s->conf->subtask);
}

/* Flushes p's records; WR_OK only when every one was delivered. Waits
 * at most the checkpoint timeout (capped at a minute), in slices so that
 * a cancel is not held up. */
static int
tm_ktx_flush(tm_ktx *s, tm_ktx_prod *p)
{
	int64_t tmo = s->conf->job->checkpointing.timeout_ms;
	int64_t deadline =
	    wr_mono_ms() + (tmo > 0 && tmo < 60000 ? tmo : 60000);
	rd_kafka_resp_err_t e;
	while ((e = rd_kafka_flush(p->rk, 100)) ==
	           RD_KAFKA_RESP_ERR__TIMED_OUT &&
	       p->failures == 0 && wr_mono_ms() < deadline &&
	       !tm_cancelled(s->ctx))
		;
	if (p->failures > 0)
		return tm_2pc_fail(s->x, WR_EUNREACHABLE,
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
			p->in_txn = false;
			return WR_OK;
		}
		bool again = rd_kafka_error_is_retriable(e) &&
		             wr_mono_ms() < deadline && !tm_cancelled(s->ctx);
		if (!again) {
			int rv = tm_2pc_fail(
			    s->x, WR_EUNREACHABLE,
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

/* ---- the steps of the two-phase-commit skeleton ----------------------- */

/* A transaction begins on the producer that takes new records. */
static int
tm_ktx_begin(void *b)
{
	tm_ktx *s = b;
	tm_ktx_prod *p;
	int rv;
	if ((rv = tm_ktx_prod_get(s, s->cur, &p)) != WR_OK)
		return rv;
	rd_kafka_error_t *err = rd_kafka_begin_transaction(p->rk);
	if (err != NULL) {
		rv = tm_2pc_fail(s->x, WR_EINVAL, "begin_transaction: %s",
		                 rd_kafka_error_string(err));
		rd_kafka_error_destroy(err);
		return rv;
	}
	p->in_txn = true;
	return WR_OK;
}

static int
tm_ktx_write(void *b, const wr_row *r)
{
	tm_ktx *s = b;
	const wr_sink_spec *sk = &s->node->sink;
	tm_ktx_prod *p = &s->p[s->cur];
	char key[256];
	size_t klen = 0;
	rd_kafka_resp_err_t e;
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
		if (tm_cancelled(s->ctx))
			return WR_ECLOSED;
	}
	rd_kafka_poll(p->rk, 0);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		return tm_2pc_fail(s->x, WR_EINVAL, "%s", rd_kafka_err2str(e));
	if (p->failures > 0)
		return tm_2pc_fail(s->x, WR_EUNREACHABLE, "delivery failed: %s",
		                   p->first_error);
	return WR_OK;
}

/* Serves delivery reports, so failures show before the barrier. */
static int
tm_ktx_tick(void *b, int64_t now_ms)
{
	(void)now_ms;
	tm_ktx *s = b;
	for (int i = 0; i < TM_KTX_POOL; i++) {
		tm_ktx_prod *p = &s->p[i];
		if (p->rk == NULL)
			continue;
		rd_kafka_poll(p->rk, 0);
		if (p->failures > 0)
			return tm_2pc_fail(s->x, WR_EUNREACHABLE,
			                   "delivery failed: %s",
			                   p->first_error);
	}
	return WR_OK;
}

/* The barrier: the open transaction is flushed and stays open until its
 * checkpoint completes; the next free producer takes the records after
 * the barrier. */
static int
tm_ktx_precommit(void *b, uint64_t ckpt, bool *made, void **h)
{
	tm_ktx *s = b;
	tm_ktx_prod *p = &s->p[s->cur];
	int next = -1, rv;
	if ((rv = tm_ktx_flush(s, p)) != WR_OK)
		return rv;
	for (int k = 1; k < TM_KTX_POOL && next < 0; k++) {
		int j = (s->cur + k) % TM_KTX_POOL;
		if (!s->p[j].in_txn)
			next = j;
	}
	if (next < 0)
		return tm_2pc_fail(
		    s->x, WR_EFULL,
		    "all %d transactional producers hold transactions "
		    "waiting for their checkpoints to complete",
		    TM_KTX_POOL);
	p->ckpt = ckpt;
	s->cur = next; /* begins its transaction on the next record */
	*made = true;
	*h = p;
	return WR_OK;
}

static int
tm_ktx_commit(void *b, const tm_2pc_txn *txn)
{
	return tm_ktx_commit_prod(b, txn->h);
}

static int
tm_ktx_commit_open(void *b)
{
	tm_ktx *s = b;
	return tm_ktx_commit_prod(s, &s->p[s->cur]);
}

static void
tm_ktx_abort_prod(tm_ktx_prod *p)
{
	rd_kafka_error_t *e =
	    rd_kafka_abort_transaction(p->rk, TM_KTX_ABORT_MS);
	if (e != NULL)
		rd_kafka_error_destroy(e);
	p->in_txn = false;
}

static void
tm_ktx_abort(void *b)
{
	tm_ktx *s = b;
	if (s->p[s->cur].in_txn)
		tm_ktx_abort_prod(&s->p[s->cur]);
}

/* A pre-committed transaction is aborted too: nothing could commit it
 * later (the file comment), and it would hold back read_committed
 * readers until it timed out. */
static void
tm_ktx_drop(void *b, const tm_2pc_txn *txn)
{
	(void)b;
	tm_ktx_abort_prod(txn->h);
}

/* Fences the pool of an old subtask; one that wrote to another topic (a
 * job forked from a savepoint) is left alone: its job may still run. */
static int
tm_ktx_recover(void *b, const tm_2pc_head *old, bool same_target)
{
	tm_ktx *s = b;
	if (!same_target) {
		wr_log(WR_LOG_INFO, "KAFKA-TX-OTHER-TOPIC",
		       "%s node=%s: old subtask %s/%d wrote to %s: "
		       "its transactional ids are left to it",
		       s->conf->label, s->node->id, old->job_id, old->subtask,
		       old->target);
		return WR_OK;
	}
	if (old->npending > 0)
		wr_log(WR_LOG_WARN, "KAFKA-TX-LOST",
		       "%s node=%s: %d pre-committed transaction(s) of "
		       "%s/%s/%d (checkpoint %" PRIu64
		       "): fencing aborts them; if their commit did not "
		       "run before the failure, their records are lost "
		       "(librdkafka cannot resume them)",
		       s->conf->label, s->node->id, old->npending, old->job_id,
		       old->node, old->subtask, old->ckpt);
	return tm_ktx_fence_subtask(s, old->job_id, old->node, old->subtask);
}

static void
tm_ktx_free(void *b)
{
	tm_ktx *s = b;
	for (int i = 0; i < TM_KTX_POOL; i++)
		if (s->p[i].rk != NULL)
			rd_kafka_destroy(s->p[i].rk);
	wr_buf_fini(&s->json);
	free(s);
}

static const tm_2pc_ops tm_ktx_ops = {
    .begin = tm_ktx_begin,
    .write = tm_ktx_write,
    .precommit = tm_ktx_precommit,
    .commit = tm_ktx_commit,
    .commit_open = tm_ktx_commit_open,
    .abort = tm_ktx_abort,
    .drop = tm_ktx_drop,
    .encode = tm_ktx_encode,
    .decode = tm_ktx_decode,
    .recover = tm_ktx_recover,
    .abort_leftovers = tm_ktx_abort_leftovers,
    .tick = tm_ktx_tick,
    .free = tm_ktx_free,
};

static int
tm_sink_kafka_tx_open(tm_ctx *ctx, const wr_node_spec *node, void **self,
                      char *errbuf, size_t errlen)
{
	const tm_op_conf *conf = tm_conf(ctx);
	const wr_sink_spec *sk = &node->sink;
	const wr_checkpoint_spec *c = &conf->job->checkpointing;
	char what[300], name[TM_2PC_NAME_BYTES];
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
	s->ctx = ctx;
	s->conf = conf;
	s->node = node;
	s->in = wr_jobspec_input_schema(conf->job, node, 0);
	s->bootstrap = tm_conf_kafka_bootstrap(conf, sk->bootstrap);
	s->txn_timeout_ms = tmo;
	wr_buf_init(&s->json);
	for (int i = 0; i < TM_KTX_POOL; i++) {
		s->p[i].s = s;
		s->p[i].idx = i;
	}
	/* every failure names the brokers: a wrong address shows at once */
	snprintf(what, sizeof(what), "kafka sink %s (exactly_once, brokers %s)",
	         sk->topic, s->bootstrap);
	tm_ktx_txid_prefix(name, sizeof(name), conf->job_id, node->id,
	                   conf->subtask);
	s->x = tm_2pc_new(ctx, node, &tm_ktx_ops, s, what, name, sk->topic);
	*self = s->x;
	return WR_OK;
}

const tm_op_vt tm_sink_kafka_tx = {
    .name = "kafka sink (exactly_once)",
    .open = tm_sink_kafka_tx_open,
    TM_2PC_CALLBACKS,
};
