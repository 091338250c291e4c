/*
 * sources.c - running a chain's source: dispatch by kind, and the datagen
 * source (order events generated inside the job, for demos and tests).
 */
#include "task_int.h"

#include "clock.h"
#include "err.h"
#include "metrics.h"
#include "watermark.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* splitmix64: small, fast, and the same sequence on every machine. */
static uint64_t
tm_gen_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

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
			               (int)(tm_gen_next(rng) % 100 *
			                     (tm_gen_next(rng) % 100) / 100));
		else if (strcmp(f, "customer_id") == 0)
			len = snprintf(b, 32, "c-%04d",
			               (int)(tm_gen_next(rng) % 5000));
		else if (strcmp(f, "status") == 0) {
			uint64_t p = tm_gen_next(rng) % 100;
			len = snprintf(b, 32, "%s",
			               p < 80   ? "PAID"
			               : p < 95 ? "PENDING"
			                        : "CANCELLED");
		} else if (strcmp(f, "amount") == 0)
			v->u.d =
			    (double)(100 + tm_gen_next(rng) % 49900) / 100.0;
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

/* Generates `count` orders per subtask (0 = forever) at `rate` per
 * second per subtask (0 = as fast as downstream takes them). */
static int
tm_source_datagen_run(tm_task *t, tm_op *src)
{
	const wr_source_spec *s = &src->node->source;
	char bufs[WR_MAX_FIELDS * 32];
	int64_t first = tm_task_restored_offset(t, "", t->spec->subtask);
	if (first < 0)
		first = 0;
	/* A restored source paces as if it had run from the start. */
	int64_t start =
	    wr_mono_ms() - (s->rate > 0 ? first * 1000 / s->rate : 0);
	int tf = s->time_field;
	tm_wm_tracker wmt;
	int rv = WR_OK;
	tm_wm_init(&wmt, 1, s->max_out_of_orderness_ms, 0, start);
	t->src_pos = first;
	for (int64_t n = first; s->count == 0 || n < s->count; n++) {
		if ((n & 255) == 0 && !tm_task_tick(t)) {
			rv = WR_ECLOSED;
			break;
		}
		while (rv == WR_OK && s->rate > 0 &&
		       n * 1000 / s->rate > wr_mono_ms() - start) {
			if (!tm_task_tick(t))
				rv = WR_ECLOSED;
			else
				wr_sleep_ms(1);
		}
		if (rv != WR_OK)
			break;
		/* Each event a function of (subtask, n): a restore from a
		 * checkpoint at n generates the same events again. */
		uint64_t rng = 0x5eed0000ull + (uint64_t)t->spec->subtask +
		               (uint64_t)n * 0x2545f4914f6cdd1dull;
		wr_row r;
		tm_datagen_row(&src->node->out, &rng, n, t->spec->subtask, bufs,
		               &r);
		wr_metric_inc(t->m_in);
		int64_t now = wr_mono_ms(), wm;
		bool idle;
		if (tf >= 0 && r.v[tf].type == WR_T_TIMESTAMP)
			tm_wm_record(&wmt, 0, r.v[tf].u.i, now);
		if (tf >= 0 && tm_wm_poll(&wmt, now, false, &wm, &idle))
			rv = tm_task_watermark(t, wm, idle);
		if (rv == WR_OK)
			rv = tm_op_emit(src, &r);
		wr_arena_reset(&t->arena);
		t->src_pos = n + 1;
		if (rv != WR_OK)
			break;
	}
	tm_wm_fini(&wmt);
	return rv;
}

int
tm_source_run(tm_task *t, tm_op *src)
{
	switch (src->node->source.kind) {
	case WR_SRC_KAFKA:
		return tm_source_kafka_run(t, src);
	case WR_SRC_DATAGEN:
		return tm_source_datagen_run(t, src);
	case WR_SRC_NEXMARK:
		return tm_source_nexmark_run(t, src);
	default:
		tm_task_fail(t, "source '%s': this kind cannot run yet",
		             src->node->id);
		return WR_ESTATE;
	}
}
