/*
 * sources.c - running a chain's source: the source context (op.h's
 * tm_src calls), and the datagen source (order events generated inside
 * the job, for demos and tests).
 */
#include "source_gen.h"
#include "task_int.h"
#include "tm_int.h"

#include "clock.h"
#include "err.h"
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Fills the datagen order fields that the schema has, by name. */
static void
tm_datagen_row(const wr_schema *s, uint64_t *rng, int64_t n, int subtask,
               char *bufs, wr_row *r)
{
	r->n = s->n;
	for (uint32_t i = 0; i < s->n; i++) {
		const char *f = s->fields[i].name;
		wr_value *v = &r->v[i];
		char *b = bufs + i * 32;
		int len = 0;
		v->type = (uint8_t)s->fields[i].type;
		if (strcmp(f, "order_id") == 0)
			len =
			    snprintf(b, 32, "o-%d-%lld", subtask, (long long)n);
		else if (strcmp(f, "product_id") == 0)
			len = snprintf(b, 32, "p-%02d",
			               (int)(tm_gen_splitmix64(rng) % 100 *
			                     (tm_gen_splitmix64(rng) % 100) /
			                     100));
		else if (strcmp(f, "customer_id") == 0)
			len = snprintf(b, 32, "c-%04d",
			               (int)(tm_gen_splitmix64(rng) % 5000));
		else if (strcmp(f, "status") == 0) {
			uint64_t p = tm_gen_splitmix64(rng) % 100;
			len = snprintf(b, 32, "%s",
			               p < 80   ? "PAID"
			               : p < 95 ? "PENDING"
			                        : "CANCELLED");
		} else if (strcmp(f, "amount") == 0)
			v->u.d =
			    (double)(100 + tm_gen_splitmix64(rng) % 49900) /
			    100.0;
		else if (strcmp(f, "ts") == 0)
			v->u.i = wr_wall_ms();
		else
			v->type = WR_T_NULL;
		if (v->type == WR_T_STRING) {
			v->u.s.p = b;
			v->u.s.len = (uint32_t)(len < 32 ? len : 31);
		}
	}
}

/* A datagen run: the schema to fill and room for its strings. */
typedef struct tm_datagen {
	const wr_schema *schema;
	int subtask;
	char bufs[WR_MAX_FIELDS * 32];
} tm_datagen;

/* Each order a function of (subtask, n): a restore from a checkpoint at
 * n makes the same orders again. */
static void
tm_datagen_make(void *ctx, int64_t n, wr_row *r)
{
	tm_datagen *g = ctx;
	uint64_t rng = 0x5eed0000ull + (uint64_t)g->subtask +
	               (uint64_t)n * 0x2545f4914f6cdd1dull;
	tm_datagen_row(g->schema, &rng, n, g->subtask, g->bufs, r);
}

/* Generates `count` orders per subtask (0 = forever) at `rate` per
 * second per subtask (0 = as fast as downstream takes them). */
static int
tm_source_datagen_run(tm_src *s, const wr_node_spec *node)
{
	tm_datagen g = {.schema = &node->out,
	                .subtask = tm_src_conf(s)->subtask};
	return tm_gen_run(s, node, tm_datagen_make, &g);
}

const tm_source_vt tm_source_datagen = {
    .name = "datagen",
    .run = tm_source_datagen_run,
};

/* ---- the source context ---- */

int
tm_source_run(tm_task *t)
{
	const wr_node_spec *n = t->head->node;
	const tm_source_vt *vt = tm_registry_source(n);
	if (vt == NULL) {
		tm_task_fail(t, "source '%s': this kind cannot run yet", n->id);
		return WR_ESTATE;
	}
	tm_src s = {.task = t, .head = t->head};
	t->src = &s;
	int rv = vt->run(&s, n);
	t->src = NULL;
	return rv;
}

int
tm_src_emit(tm_src *s, const wr_row *r)
{
	s->task->depth++;
	int rv = tm_emit(s->head, r);
	s->task->depth--;
	return rv;
}

int
tm_src_watermark(tm_src *s, int64_t wm, bool idle)
{
	return tm_task_watermark(s->task, wm, idle);
}

bool
tm_src_tick(tm_src *s)
{
	return tm_task_tick(s->task);
}

void
tm_src_idle(tm_src *s, int64_t ms)
{
	tm_task_idle(s->task, ms);
}

void
tm_src_hooks(tm_src *s, void (*offsets)(void *arg, struct wr_ckpt_meta *part),
             void (*commit)(void *arg, uint64_t id), void *arg)
{
	s->offsets = offsets;
	s->commit = commit;
	s->arg = arg;
}

int64_t
tm_src_restored_offset(const tm_src *s, const char *topic, int32_t partition)
{
	return tm_task_restored_offset(s->task, topic, partition);
}

int
tm_src_end(tm_src *s, int rv)
{
	return tm_task_end_checkpoints(s->task, rv);
}

bool
tm_src_stopped(const tm_src *s)
{
	return s->task->ck_stopped;
}

uint64_t
tm_src_completed(const tm_src *s)
{
	return atomic_load(&s->task->ck_complete);
}

const tm_op_conf *
tm_src_conf(const tm_src *s)
{
	return &s->task->conf;
}

wr_arena *
tm_src_arena(tm_src *s)
{
	return &s->task->arena;
}

void
tm_src_fail(tm_src *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tm_task_vfail(s->task, fmt, ap);
	va_end(ap);
}

/* Per record: the input counters directly, without tm_count's call. */
void
tm_src_count(tm_src *s, tm_counter which, double n)
{
	if (which == TM_COUNT_IN && s->task->m_in != NULL)
		wr_metric_add(s->task->m_in, n);
	else if (which == TM_COUNT_BYTES_IN && s->task->m_bytes_in != NULL)
		wr_metric_add(s->task->m_bytes_in, n);
	else
		tm_count(s->head, which, n);
}

struct wr_metric *
tm_src_gauge(tm_src *s, const char *name, const char *help, const char *label1,
             const char *value1, const char *label2, const char *value2)
{
	tm_task *t = s->task;
	char vertex[16], subtask[16];
	snprintf(vertex, sizeof(vertex), "%d", t->conf.vertex);
	snprintf(subtask, sizeof(subtask), "%d", t->conf.subtask);
	const char *labels[] = {
	    "job_id",  t->conf.job_id, "job_name",     t->conf.job_name,
	    "vertex",  vertex,         "vertex_name",  t->conf.vertex_name,
	    "subtask", subtask,        "task_manager", t->conf.tm_id,
	    label1,    value1,         label2,         value2,
	    NULL};
	return wr_metrics_get_empty(t->tm->metrics, WR_METRIC_GAUGE, name, help,
	                            labels);
}

void
tm_src_gauge_release(tm_src *s, struct wr_metric *m)
{
	tm_task *t = s->task;
	wr_metrics_release(t->tm->metrics, m,
	                   t->tm->cfg.metrics_ended_job_grace_ms);
}
