/*
 * source_gen.c - the generator-source skeleton (source_gen.h): pacing,
 * the position in checkpoints and on restore, watermarks, bounded end.
 */
#include "source_gen.h"
#include "task_int.h"

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

uint64_t
tm_gen_splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The task's checkpoint takes the position as the source's offset: the
 * next record to make, which a restore resumes at. */
static void
tm_gen_offsets(tm_task *t, struct wr_ckpt_meta *part)
{
	const tm_gen_pace *p = t->src_impl;
	wr_ckpt_offset o = {.uid = t->head->node->id,
	                    .subtask = t->spec->subtask,
	                    .topic = "",
	                    .partition = t->spec->subtask,
	                    .offset = p->next};
	wr_ckpt_meta_add_offset(part, &o);
}

/* Ticks the task (every 256 records, and every millisecond while record
 * p->next is not due yet). WR_ECLOSED once the task is cancelled. */
static int
tm_gen_wait(tm_task *t, const tm_gen_pace *p)
{
	if ((p->next & 255) == 0 && !tm_task_tick(t))
		return WR_ECLOSED;
	while (!tm_gen_pace_due(p, wr_mono_ms())) {
		if (!tm_task_tick(t))
			return WR_ECLOSED;
		wr_sleep_ms(1);
		tm_task_idle(t, 1);
	}
	return WR_OK;
}

/* Passes r down the chain, after the watermark its event time allows. */
static int
tm_gen_emit(tm_task *t, tm_op *src, tm_wm_tracker *wmt, const wr_row *r)
{
	int tf = src->node->source.time_field;
	int64_t now = wr_mono_ms(), wm;
	bool idle;
	int rv = WR_OK;

	wr_metric_inc(t->m_in);
	if (tf >= 0 && r->v[tf].type == WR_T_TIMESTAMP)
		tm_wm_record(wmt, 0, r->v[tf].u.i, now);
	if (tf >= 0 && tm_wm_poll(wmt, now, false, &wm, &idle))
		rv = tm_task_watermark(t, wm, idle);
	if (rv == WR_OK)
		rv = tm_op_emit(src, r);
	return rv;
}

int
tm_gen_run(tm_task *t, tm_op *src, tm_gen_make_fn make, void *ctx)
{
	const wr_source_spec *s = &src->node->source;
	tm_gen_pace p;
	tm_wm_tracker wmt;
	int rv = WR_OK;

	tm_gen_pace_init(&p, s->rate, s->count,
	                 tm_task_restored_offset(t, "", t->spec->subtask),
	                 wr_mono_ms());
	tm_wm_init(&wmt, 1, s->max_out_of_orderness_ms, 0, p.start_ms);
	t->src_impl = &p;
	t->src_offsets = tm_gen_offsets;
	while (rv == WR_OK && tm_gen_pace_more(&p)) {
		if ((rv = tm_gen_wait(t, &p)) != WR_OK)
			break;
		wr_row r;
		make(ctx, p.next, &r);
		rv = tm_gen_emit(t, src, &wmt, &r);
		wr_arena_reset(&t->arena);
		p.next++;
	}
	t->src_offsets = NULL;
	t->src_impl = NULL;
	tm_wm_fini(&wmt);
	return rv;
}
