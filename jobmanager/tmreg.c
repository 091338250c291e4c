/*
 * tmreg.c - the JobManager's registry of TaskManagers and their slots
 * (tmreg.h).
 */
#include "tmreg.h"

#include "err.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "wr_assert.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct jm_tmreg {
	pthread_mutex_t lock;
	jm_tm *tms;
	size_t n;
	int64_t timeout_ms;
	wr_metric *m_alive, *m_lost, *m_lost_total;
	wr_metric *m_slots_free, *m_slots_used;
};

jm_tmreg *
jm_tmreg_new(struct wr_metrics *metrics, int64_t heartbeat_timeout_ms)
{
	jm_tmreg *reg = wr_xcalloc(1, sizeof(*reg));
	pthread_mutex_init(&reg->lock, NULL);
	reg->tms = wr_xcalloc(WR_MAX_TASKMANAGERS, sizeof(jm_tm));
	reg->timeout_ms = heartbeat_timeout_ms;
	static const char *const alive[] = {"state", "alive", NULL};
	static const char *const lost[] = {"state", "lost", NULL};
	static const char *const sfree[] = {"state", "free", NULL};
	static const char *const sused[] = {"state", "used", NULL};
	const char *h = "TaskManagers known to the JobManager, by state";
	reg->m_alive = wr_metrics_get(metrics, WR_METRIC_GAUGE,
	                              "weir_taskmanagers", h, alive);
	reg->m_lost = wr_metrics_get(metrics, WR_METRIC_GAUGE,
	                             "weir_taskmanagers", h, lost);
	reg->m_lost_total = wr_metrics_get(
	    metrics, WR_METRIC_COUNTER, "weir_taskmanagers_lost_total",
	    "TaskManagers declared lost after missing heartbeats", NULL);
	h = "Task slots of alive TaskManagers, by state";
	reg->m_slots_free = wr_metrics_get(metrics, WR_METRIC_GAUGE,
	                                   "weir_taskmanager_slots", h, sfree);
	reg->m_slots_used = wr_metrics_get(metrics, WR_METRIC_GAUGE,
	                                   "weir_taskmanager_slots", h, sused);
	return reg;
}

void
jm_tmreg_free(jm_tmreg *reg)
{
	if (reg == NULL)
		return;
	pthread_mutex_destroy(&reg->lock);
	free(reg->tms);
	free(reg);
}

/* @locks reg->lock held */
static jm_tmreg_totals
jm_tmreg_totals_locked(const jm_tmreg *reg)
{
	jm_tmreg_totals t = {0};
	for (size_t i = 0; i < reg->n; i++) {
		const jm_tm *e = &reg->tms[i];
		if (!e->alive) {
			t.lost++;
			continue;
		}
		t.alive++;
		t.slots_total += e->slots_total;
		t.slots_free += e->slots_free;
	}
	return t;
}

/* @locks reg->lock held */
static void
jm_tmreg_publish(jm_tmreg *reg)
{
	jm_tmreg_totals t = jm_tmreg_totals_locked(reg);
	wr_metric_set(reg->m_alive, t.alive);
	wr_metric_set(reg->m_lost, t.lost);
	wr_metric_set(reg->m_slots_free, t.slots_free);
	wr_metric_set(reg->m_slots_used, t.slots_total - t.slots_free);
}

/* @locks reg->lock held */
static jm_tm *
jm_tmreg_find(jm_tmreg *reg, const char *id)
{
	for (size_t i = 0; i < reg->n; i++)
		if (strcmp(reg->tms[i].id, id) == 0)
			return &reg->tms[i];
	return NULL;
}

/* @locks reg->lock held */
static void
jm_tmreg_remove_at(jm_tmreg *reg, size_t i)
{
	memmove(&reg->tms[i], &reg->tms[i + 1],
	        (reg->n - i - 1) * sizeof(jm_tm));
	reg->n--;
}

int
jm_tmreg_register(jm_tmreg *reg, const jm_tm *tm, int64_t now_ms)
{
	int rv = WR_OK;
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->n; i++) {
		jm_tm *o = &reg->tms[i];
		if (!o->alive && strcmp(o->id, tm->id) != 0 &&
		    strcmp(o->rpc_address, tm->rpc_address) == 0) {
			jm_tmreg_remove_at(reg, i);
			i--;
		}
	}
	jm_tm *e = jm_tmreg_find(reg, tm->id);
	bool again = e != NULL;
	if (e == NULL) {
		if (reg->n == WR_MAX_TASKMANAGERS) {
			rv = WR_EFULL;
			goto unlock;
		}
		e = &reg->tms[reg->n++];
	}
	/* A TaskManager that registers again while alive (it lost touch
	 * with us briefly) keeps the slots the JobManager gave out. */
	uint32_t used = again && e->alive ? e->slots_total - e->slots_free : 0;
	*e = *tm;
	if (used <= e->slots_total)
		e->slots_free = e->slots_total - used;
	e->alive = true;
	e->last_heartbeat_ms = now_ms;
	e->lost_at_ms = 0;
	wr_log(WR_LOG_INFO, again ? "TM-REREGISTERED" : "TM-REGISTERED",
	       "id=%s address=%s slots=%u", e->id, e->rpc_address,
	       e->slots_total);
	jm_tmreg_publish(reg);
unlock:
	pthread_mutex_unlock(&reg->lock);
	return rv;
}

bool
jm_tmreg_heartbeat(jm_tmreg *reg, const char *id, int64_t now_ms)
{
	bool known = false;
	pthread_mutex_lock(&reg->lock);
	jm_tm *e = jm_tmreg_find(reg, id);
	if (e != NULL && e->alive) {
		known = true;
		e->last_heartbeat_ms = now_ms;
		e->unreachable = false;
	}
	pthread_mutex_unlock(&reg->lock);
	return known;
}

void
jm_tmreg_set_pipe(jm_tmreg *reg, const char *id, uint32_t pipe)
{
	pthread_mutex_lock(&reg->lock);
	jm_tm *e = jm_tmreg_find(reg, id);
	if (e != NULL && e->alive)
		e->pipe = pipe;
	pthread_mutex_unlock(&reg->lock);
}

bool
jm_tmreg_by_pipe(jm_tmreg *reg, uint32_t pipe, jm_tm *out)
{
	bool found = false;
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->n && !found && pipe != 0; i++)
		if (reg->tms[i].alive && reg->tms[i].pipe == pipe) {
			*out = reg->tms[i];
			found = true;
		}
	pthread_mutex_unlock(&reg->lock);
	return found;
}

bool
jm_tmreg_lose(jm_tmreg *reg, const char *id, const char *why, int64_t now_ms,
              void (*on_lost)(void *arg, const jm_tm *tm), void *arg)
{
	jm_tm gone;
	pthread_mutex_lock(&reg->lock);
	jm_tm *e = jm_tmreg_find(reg, id);
	bool lost = e != NULL && e->alive;
	if (lost) {
		e->alive = false;
		e->lost_at_ms = now_ms;
		gone = *e;
		wr_metric_inc(reg->m_lost_total);
		wr_log(WR_LOG_WARN, "TM-LOST",
		       "id=%s address=%s %s; its %u slots are removed", e->id,
		       e->rpc_address, why, e->slots_total);
		jm_tmreg_publish(reg);
	}
	pthread_mutex_unlock(&reg->lock);
	if (lost && on_lost != NULL)
		on_lost(arg, &gone);
	return lost;
}

void
jm_tmreg_set_load(jm_tmreg *reg, const char *id, uint32_t tasks,
                  uint64_t records_in, uint64_t records_out)
{
	pthread_mutex_lock(&reg->lock);
	jm_tm *e = jm_tmreg_find(reg, id);
	if (e != NULL) {
		e->tasks = tasks;
		e->records_in = records_in;
		e->records_out = records_out;
	}
	pthread_mutex_unlock(&reg->lock);
}

bool
jm_tmreg_responsive(jm_tmreg *reg, const char *id, int64_t now_ms,
                    int64_t max_silence_ms)
{
	pthread_mutex_lock(&reg->lock);
	jm_tm *e = jm_tmreg_find(reg, id);
	bool ok = e != NULL && e->alive && !e->unreachable &&
	          (max_silence_ms == 0 ||
	           now_ms - e->last_heartbeat_ms <= max_silence_ms);
	pthread_mutex_unlock(&reg->lock);
	return ok;
}

void
jm_tmreg_set_unreachable(jm_tmreg *reg, const char *id)
{
	pthread_mutex_lock(&reg->lock);
	jm_tm *e = jm_tmreg_find(reg, id);
	if (e != NULL)
		e->unreachable = true;
	pthread_mutex_unlock(&reg->lock);
}

int
jm_tmreg_allocate(jm_tmreg *reg, int n, jm_slot_ref *out, uint32_t *free_total)
{
	int rv = WR_OK;
	pthread_mutex_lock(&reg->lock);
	/* A TaskManager that did not answer its last call is likely gone:
	 * its slots are not offered until it heartbeats again. */
	uint32_t usable = 0;
	for (size_t i = 0; i < reg->n; i++)
		if (reg->tms[i].alive && !reg->tms[i].unreachable)
			usable += reg->tms[i].slots_free;
	*free_total = usable;
	if (n < 0 || (uint32_t)n > usable) {
		rv = WR_EFULL;
		goto unlock;
	}
	for (int k = 0; k < n; k++) {
		jm_tm *best = NULL;
		for (size_t i = 0; i < reg->n; i++) {
			jm_tm *e = &reg->tms[i];
			if (e->alive && !e->unreachable && e->slots_free > 0 &&
			    (best == NULL || e->slots_free > best->slots_free))
				best = e;
		}
		WR_ASSERT(best != NULL); /* the totals said there was room */
		jm_slot_ref *r = &out[k];
		memcpy(r->tm_id, best->id, sizeof(r->tm_id));
		memcpy(r->rpc_address, best->rpc_address,
		       sizeof(r->rpc_address));
		memcpy(r->data_address, best->data_address,
		       sizeof(r->data_address));
		r->index = best->slots_total - best->slots_free;
		best->slots_free--;
	}
	jm_tmreg_publish(reg);
unlock:
	pthread_mutex_unlock(&reg->lock);
	return rv;
}

int
jm_tmreg_claim(jm_tmreg *reg, const char *tm_id, uint32_t index,
               jm_slot_ref *out)
{
	int rv = WR_OK;
	pthread_mutex_lock(&reg->lock);
	jm_tm *e = jm_tmreg_find(reg, tm_id);
	if (e == NULL || !e->alive) {
		rv = WR_ENOENT;
		goto unlock;
	}
	if (e->slots_free == 0 || index >= e->slots_total) {
		rv = WR_EFULL;
		goto unlock;
	}
	memcpy(out->tm_id, e->id, sizeof(out->tm_id));
	memcpy(out->rpc_address, e->rpc_address, sizeof(out->rpc_address));
	memcpy(out->data_address, e->data_address, sizeof(out->data_address));
	out->index = index;
	e->slots_free--;
	jm_tmreg_publish(reg);
unlock:
	pthread_mutex_unlock(&reg->lock);
	return rv;
}

void
jm_tmreg_release(jm_tmreg *reg, const jm_slot_ref *slot)
{
	pthread_mutex_lock(&reg->lock);
	jm_tm *e = jm_tmreg_find(reg, slot->tm_id);
	if (e != NULL && e->alive && e->slots_free < e->slots_total) {
		e->slots_free++;
		jm_tmreg_publish(reg);
	}
	pthread_mutex_unlock(&reg->lock);
}

int
jm_tmreg_expire(jm_tmreg *reg, int64_t now_ms,
                void (*on_lost)(void *arg, const jm_tm *tm), void *arg)
{
	/* At most this many per call; the rest are caught the next tick. */
	jm_tm gone[8];
	int lost = 0;
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < reg->n && lost < 8; i++) {
		jm_tm *e = &reg->tms[i];
		if (!e->alive) {
			if (now_ms - e->lost_at_ms >
			    JM_TMREG_LOST_RETENTION_MS) {
				jm_tmreg_remove_at(reg, i);
				i--;
			}
			continue;
		}
		int64_t silent = now_ms - e->last_heartbeat_ms;
		if (silent <= reg->timeout_ms)
			continue;
		e->alive = false;
		e->lost_at_ms = now_ms;
		gone[lost++] = *e;
		wr_metric_inc(reg->m_lost_total);
		wr_log(
		    WR_LOG_WARN, "TM-LOST",
		    "id=%s address=%s no heartbeat for %lld ms (timeout %lld "
		    "ms); its %u slots are removed",
		    e->id, e->rpc_address, (long long)silent,
		    (long long)reg->timeout_ms, e->slots_total);
	}
	if (lost > 0)
		jm_tmreg_publish(reg);
	pthread_mutex_unlock(&reg->lock);
	for (int i = 0; i < lost && on_lost != NULL; i++)
		on_lost(arg, &gone[i]);
	return lost;
}

size_t
jm_tmreg_snapshot(jm_tmreg *reg, jm_tm *out, size_t max)
{
	size_t k = 0;
	pthread_mutex_lock(&reg->lock);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < reg->n && k < max; i++)
			if (reg->tms[i].alive == (pass == 0))
				out[k++] = reg->tms[i];
	pthread_mutex_unlock(&reg->lock);
	return k;
}

jm_tmreg_totals
jm_tmreg_get_totals(jm_tmreg *reg)
{
	pthread_mutex_lock(&reg->lock);
	jm_tmreg_totals t = jm_tmreg_totals_locked(reg);
	pthread_mutex_unlock(&reg->lock);
	return t;
}
