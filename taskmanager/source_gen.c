/*
 * source_gen.c - the generator-source skeleton (source_gen.h): pacing,
 * the position in checkpoints and on restore, watermarks, bounded end.
 */
#include "source_gen.h"

#include "ckpt_meta.h"
#include "clock.h"
#include "err.h"
#include "metrics.h"
#include "watermark.h"

void
tm_gen_pace_init(tm_gen_pace *p, int64_t rate, int64_t count, int64_t restored,
                 int64_t now_ms)
{
	p->rate = rate;
	p->count = count;
	p->next = restored < 0 ? 0 : restored;
	p->start_ms = now_ms - (rate > 0 ? p->next * 1000 / rate : 0);
}

bool
tm_gen_pace_more(const tm_gen_pace *p)
{
	return p->count == 0 || p->next < p->count;
}

bool
tm_gen_pace_due(const tm_gen_pace *p, int64_t now_ms)
{
	return p->rate <= 0 || p->next * 1000 / p->rate <= now_ms - p->start_ms;
}

/* At rate 0 the clock (for watermark intervals) is read once every this
 * many records: a read a record was ~5 % of q0's instructions. */
#define TM_GEN_CLOCK_EVERY 64

/* A generator run: its source node and position, the clock as last read
 * and the records made but not yet added to records_in. */
typedef struct tm_gen {
	tm_src *s;
	const wr_node_spec *node;
	tm_gen_pace p;
	int64_t now_ms;
	int64_t uncounted;
} tm_gen;

/* Adds the records made since the last call to records_in: an atomic
 * add every record was ~3 % of q0's instructions. */
static void
tm_gen_count(tm_gen *g)
{
	if (g->uncounted > 0)
		tm_src_count(g->s, TM_COUNT_IN, (double)g->uncounted);
	g->uncounted = 0;
}

/* The task's checkpoint takes the position as the source's offset: the
 * next record to make, which a restore resumes at. */
static void
tm_gen_offsets(void *arg, struct wr_ckpt_meta *part)
{
	const tm_gen *g = arg;
	int sub = tm_src_conf(g->s)->subtask;
	wr_ckpt_offset o = {.uid = g->node->id,
	                    .subtask = sub,
	                    .topic = "",
	                    .partition = sub,
	                    .offset = g->p.next};
	wr_ckpt_meta_add_offset(part, &o);
}

/* Ticks the task (every 256 records, and every millisecond while record
 * p->next is not due yet). At rate 0 records_in is brought up to date at
 * those ticks and the clock read every TM_GEN_CLOCK_EVERY records; a
 * paced source counts and reads the clock every record. WR_ECLOSED once
 * the task is cancelled. */
static int
tm_gen_wait(tm_gen *g)
{
	tm_gen_pace *p = &g->p;
	if ((p->next & 255) == 0) {
		tm_gen_count(g);
		if (!tm_src_tick(g->s))
			return WR_ECLOSED;
	}
	if (p->rate <= 0) {
		if (p->next % TM_GEN_CLOCK_EVERY == 0)
			g->now_ms = wr_mono_ms();
		return WR_OK;
	}
	tm_gen_count(g);
	while (!tm_gen_pace_due(p, g->now_ms = wr_mono_ms())) {
		if (!tm_src_tick(g->s))
			return WR_ECLOSED;
		wr_sleep_ms(1);
		tm_src_idle(g->s, 1);
	}
	return WR_OK;
}

/* Passes r down the chain, after the watermark its event time allows. */
static int
tm_gen_emit(tm_gen *g, tm_wm_tracker *wmt, const wr_row *r)
{
	int tf = g->node->source.time_field;
	int64_t now = g->now_ms, wm;
	bool idle;
	int rv = WR_OK;

	g->uncounted++;
	if (tf >= 0 && r->v[tf].type == WR_T_TIMESTAMP)
		tm_wm_record(wmt, 0, r->v[tf].u.i, now);
	if (tf >= 0 && tm_wm_poll(wmt, now, false, &wm, &idle))
		rv = tm_src_watermark(g->s, wm, idle);
	if (rv == WR_OK)
		rv = tm_src_emit(g->s, r);
	return rv;
}

int
tm_gen_run(tm_src *s, const wr_node_spec *node, tm_gen_make_fn make, void *ctx)
{
	const wr_source_spec *sp = &node->source;
	tm_gen g = {.s = s, .node = node};
	tm_wm_tracker wmt;
	wr_arena *arena = tm_src_arena(s);
	int rv = WR_OK;

	g.now_ms = wr_mono_ms();
	tm_gen_pace_init(&g.p, sp->rate, sp->count,
	                 tm_src_restored_offset(s, "", tm_src_conf(s)->subtask),
	                 g.now_ms);
	tm_wm_init(&wmt, 1, sp->max_out_of_orderness_ms, 0, g.p.start_ms);
	tm_src_hooks(s, tm_gen_offsets, NULL, &g);
	while (rv == WR_OK && tm_gen_pace_more(&g.p)) {
		if ((rv = tm_gen_wait(&g)) != WR_OK)
			break;
		wr_row r;
		make(ctx, g.p.next, &r);
		rv = tm_gen_emit(&g, &wmt, &r);
		wr_arena_reset(arena);
		g.p.next++;
	}
	tm_gen_count(&g);
	rv = tm_src_end(s, rv); /* its checkpoint records g.p.next */
	tm_src_hooks(s, NULL, NULL, NULL);
	tm_wm_fini(&wmt);
	return rv;
}
