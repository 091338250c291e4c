/*
 * sources.c - running a chain's source: dispatch by kind, and the datagen
 * source (order events generated inside the job, for demos and tests).
 */
#include "source_gen.h"
#include "task_int.h"

#include "clock.h"
#include "err.h"

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
tm_source_datagen_run(tm_task *t, tm_op *src)
{
	tm_datagen g = {.schema = &src->node->out, .subtask = t->spec->subtask};
	return tm_gen_run(t, src, tm_datagen_make, &g);
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
