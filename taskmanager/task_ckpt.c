/*
 * task_ckpt.c - a task's side of checkpoints: barriers, alignment,
 * snapshots, acknowledgements, commits and restores.
 *
 * A source task takes checkpoint n when the JobManager's trigger reaches
 * it (between two records, from tm_task_tick): it sends the barrier on
 * every output, snapshots its chain, and acks. Any other task takes it
 * once the barrier has come in on every input channel (aligned: a channel
 * that delivered the barrier is blocked, so no record after the barrier is
 * processed before the snapshot). The snapshot of a task is
 *  - its keyed state: at the barrier the task flushes its state cache and
 *    opens an LMDB read transaction (wr_state_view_open), the view of the
 *    state at the barrier; the copy of that view and its upload, as
 *    <uid>-<subtask>.mdb in the checkpoint's directory, run on a thread of
 *    their own while the task goes on, and that thread acks,
 *  - each operator's own bytes (a sink's pre-committed transactions),
 *    kept inline in the metadata,
 *  - a source's position (Kafka: the next offset of every partition it
 *    reads; generators: the events emitted).
 * When the JobManager reports n complete, operators commit
 * (tm_op_vt.notify_complete).
 *
 * Barrier payload: checkpoint id (u64 BE), flags (u8: 1 savepoint, 2
 * stop, 4 drain), URL length (u16 BE), the URL of the checkpoint's
 * directory.
 */
#include "task_incr.h"
#include "task_int.h"
#include "tm_int.h"

#include "ckpt_meta.h"
#include "clock.h"
#include "err.h"
#include "fsutil.h"
#include "log.h"
#include "mem.h"
#include "objstore.h"
#include "state.h"
#include "watermark.h"

#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TM_BARRIER_SAVEPOINT 1
#define TM_BARRIER_STOP      2
#define TM_BARRIER_DRAIN     4
/* Keyed state cache of a backend the restore opens (as window.c's). */
#define TM_CKPT_STATE_CACHE_BYTES (16u * 1024u * 1024u)

void
tm_task_state_dir(const tm_task *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/%d-%d-a%u", t->tm->cfg.tm_state_dir,
	         t->spec->job_id, t->spec->vertex, t->spec->subtask,
	         t->spec->attempt);
}

/* Key groups [first, last] subtask sub of par owns. */
static void
tm_ckpt_kg_range(int maxp, int par, int sub, int *first, int *last)
{
	*first = -1;
	*last = -2;
	for (int kg = 0; kg < maxp; kg++)
		if (wr_key_group_subtask(kg, maxp, par) == sub) {
			if (*first < 0)
				*first = kg;
			*last = kg;
		}
}

static int
tm_ckpt_find_keyed(const tm_task *t)
{
	for (int i = 0; i < t->vertex->nnodes; i++) {
		int n = t->vertex->nodes[i];
		if (tm_registry_keyed(t->job->nodes[n].kind))
			return n;
	}
	return -1;
}

/* ---- restore ---- */

/* The deltas of an incremental handle (pieces 1..) applied to the task's
 * state, key groups [kf, kl], each fetched into tmp/delta first. */
static int
tm_ckpt_apply_deltas(tm_task *t, wr_objstore *pos, const char *tmp,
                     const wr_ckpt_handle *h, int kf, int kl, char *err,
                     size_t errlen, const char **what)
{
	char file[4300];
	snprintf(file, sizeof(file), "%s/delta", tmp);
	int rv = WR_OK;
	for (size_t i = 1; i < h->nshared && rv == WR_OK; i++) {
		uint64_t n = 0;
		*what = h->shared[i];
		rv = wr_objstore_get_file(pos, h->shared[i], file, err, errlen);
		if (rv == WR_OK)
			rv = wr_state_apply_delta(t->state, file, (uint16_t)kf,
			                          (uint16_t)kl, &n);
		unlink(file);
		wr_log(WR_LOG_INFO, "CKPT-RESTORE-DELTA",
		       "%s: %llu entries of key groups %d-%d from %s", t->label,
		       (unsigned long long)n, kf, kl, h->shared[i]);
	}
	return rv;
}

/* Keeps key groups [kf, kl] of a handle: its snapshot (os: path; an
 * incremental one's base from pos, the job's directory), then its
 * deltas. */
static int
tm_ckpt_import(tm_task *t, wr_objstore *os, wr_objstore *pos, const char *dir,
               const wr_ckpt_handle *h, int kf, int kl, char *errbuf,
               size_t errlen)
{
	char tmp[4200], file[4300], err[512] = "";
	const char *what = h->nshared > 0 ? h->shared[0] : h->path;
	snprintf(tmp, sizeof(tmp), "%s.import-%d", dir, h->subtask);
	snprintf(file, sizeof(file), "%s/data.mdb", tmp);
	wr_rmtree(tmp);
	int a = h->kg_first > kf ? h->kg_first : kf;
	int b = h->kg_last < kl ? h->kg_last : kl;
	int rv = wr_mkdirs(tmp, 0755);
	if (rv == WR_OK)
		rv = wr_objstore_get_file(h->nshared > 0 ? pos : os, what, file,
		                          err, sizeof(err));
	if (rv == WR_OK) {
		uint64_t n = 0;
		rv = wr_state_import(t->state, tmp, (uint16_t)a, (uint16_t)b,
		                     &n);
		wr_log(WR_LOG_INFO, "CKPT-RESTORE-KEYED",
		       "%s: %llu entries of key groups %d-%d from %s", t->label,
		       (unsigned long long)n, a, b, what);
	}
	if (rv == WR_OK)
		rv = tm_ckpt_apply_deltas(t, pos, tmp, h, a, b, err,
		                          sizeof(err), &what);
	wr_rmtree(tmp);
	if (rv != WR_OK)
		snprintf(errbuf, errlen, "restoring %s: %s%s%s", what,
		         wr_strerror(rv), err[0] ? ": " : "", err);
	return rv;
}

/* The store of the checkpoint's parent directory (the job's), where the
 * pieces of incremental handles lie: "chk-<n>/<file>". */
static int
tm_ckpt_open_parent(const char *url, wr_objstore **out, char *err,
                    size_t errlen)
{
	char parent[WR_URL_BYTES];
	snprintf(parent, sizeof(parent), "%s", url);
	size_t n = strlen(parent);
	while (n > 0 && parent[n - 1] == '/')
		parent[--n] = '\0';
	char *slash = strrchr(parent, '/');
	if (slash == NULL || slash == parent || slash[-1] == '/') {
		snprintf(err, errlen, "%s has no parent directory", url);
		return WR_EINVAL;
	}
	*slash = '\0';
	return wr_objstore_open(parent, out, err, errlen);
}

/* The snapshot of our exact key groups taken as the state's file, its
 * deltas applied after. */
static int
tm_ckpt_take_file(tm_task *t, wr_objstore *os, wr_objstore *pos,
                  const char *dir, const wr_ckpt_handle *h, int kf, int kl,
                  char *errbuf, size_t errlen)
{
	char file[4200], err[512] = "";
	const char *what = h->nshared > 0 ? h->shared[0] : h->path;
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	int rv = wr_mkdirs(dir, 0755);
	if (rv == WR_OK)
		rv = wr_objstore_get_file(h->nshared > 0 ? pos : os, what, file,
		                          err, sizeof(err));
	if (rv == WR_OK && h->nshared > 1) {
		wr_state_opts o = {.cache_bytes = TM_CKPT_STATE_CACHE_BYTES};
		char tmp[4200];
		snprintf(tmp, sizeof(tmp), "%s.deltas", dir);
		if ((rv = wr_state_open(dir, &o, &t->state)) == WR_OK) {
			if ((rv = wr_mkdirs(tmp, 0755)) == WR_OK)
				rv = tm_ckpt_apply_deltas(t, pos, tmp, h, kf,
				                          kl, err, sizeof(err),
				                          &what);
		}
		wr_rmtree(tmp);
	}
	if (rv != WR_OK)
		snprintf(errbuf, errlen, "restoring %s: %s%s%s", what,
		         wr_strerror(rv), err[0] ? ": " : "", err);
	else
		wr_log(WR_LOG_INFO, "CKPT-RESTORE-KEYED",
		       "%s: key groups %d-%d from %s and %zu deltas", t->label,
		       kf, kl, h->nshared > 0 ? h->shared[0] : h->path,
		       h->nshared > 0 ? h->nshared - 1 : 0);
	return rv;
}

int
tm_task_restore_state(tm_task *t, char *errbuf, size_t errlen)
{
	const char *url = t->spec->restore_url;
	char err[512] = "", dir[4096];
	wr_objstore *os = NULL, *pos = NULL;
	wr_buf b;
	int rv;

	t->keyed_node = tm_ckpt_find_keyed(t);
	tm_task_state_dir(t, dir, sizeof(dir));
	wr_rmtree(dir); /* never resume from what an earlier run left */
	if (url == NULL)
		return WR_OK;
	wr_buf_init(&b);
	if ((rv = wr_objstore_open(url, &os, err, sizeof(err))) != WR_OK ||
	    (rv = wr_objstore_get(os, WR_CKPT_META_NAME, WR_CKPT_META_MAX_BYTES,
	                          &b, err, sizeof(err))) != WR_OK ||
	    (rv = wr_ckpt_meta_decode(b.data, b.len, &t->restore, err,
	                              sizeof(err))) != WR_OK) {
		snprintf(errbuf, errlen, "cannot restore from %s: %s", url,
		         err[0] ? err : wr_strerror(rv));
		goto out;
	}
	if (t->keyed_node < 0)
		goto out;
	const char *uid = t->job->nodes[t->keyed_node].id;
	int kf, kl;
	tm_ckpt_kg_range(t->job->max_parallelism, t->vertex->parallelism,
	                 t->spec->subtask, &kf, &kl);
	const wr_ckpt_handle *hs[WR_JOB_MAX_PARALLELISM];
	int nh = 0;
	for (size_t i = 0; i < t->restore->nhandles; i++) {
		const wr_ckpt_handle *h = &t->restore->handles[i];
		if (h->kind == WR_CKPT_KEYED && strcmp(h->uid, uid) == 0 &&
		    h->kg_last >= kf && h->kg_first <= kl &&
		    nh < WR_JOB_MAX_PARALLELISM)
			hs[nh++] = h;
	}
	if (nh == 0)
		goto out;
	bool shared = false;
	for (int i = 0; i < nh; i++)
		shared |= hs[i]->nshared > 0;
	if (shared &&
	    (rv = tm_ckpt_open_parent(url, &pos, err, sizeof(err))) != WR_OK) {
		snprintf(errbuf, errlen, "cannot restore from %s: %s", url,
		         err);
		goto out;
	}
	if (nh == 1 && hs[0]->kg_first == kf && hs[0]->kg_last == kl) {
		/* Same key groups as the snapshot: take the file as is. */
		rv = tm_ckpt_take_file(t, os, pos, dir, hs[0], kf, kl, errbuf,
		                       errlen);
		goto out;
	}
	/* Rescaled: keep our key groups out of every overlapping file. */
	wr_state_opts o = {.cache_bytes = TM_CKPT_STATE_CACHE_BYTES};
	if ((rv = wr_state_open(dir, &o, &t->state)) != WR_OK) {
		snprintf(errbuf, errlen, "cannot open keyed state in %s: %s",
		         dir, wr_strerror(rv));
		goto out;
	}
	for (int i = 0; i < nh && rv == WR_OK; i++)
		rv = tm_ckpt_import(t, os, pos, dir, hs[i], kf, kl, errbuf,
		                    errlen);
out:
	wr_buf_fini(&b);
	wr_objstore_close(os);
	wr_objstore_close(pos);
	return rv;
}

int
tm_task_restore_ops(tm_task *t, char *errbuf, size_t errlen)
{
	if (t->restore == NULL)
		return WR_OK;
	int par = t->vertex->parallelism, sub = t->spec->subtask;
	tm_op_state *st = wr_xcalloc(t->restore->nhandles + 1, sizeof(*st));
	int rv = WR_OK;
	for (int i = 0; i < t->vertex->nnodes && rv == WR_OK; i++) {
		tm_ctx *op = t->ops[t->vertex->nodes[i]];
		if (op == NULL || op->vt->restore == NULL)
			continue;
		int n = 0;
		for (size_t k = 0; k < t->restore->nhandles; k++) {
			const wr_ckpt_handle *h = &t->restore->handles[k];
			if (h->kind != WR_CKPT_INLINE ||
			    strcmp(h->uid, op->node->id) != 0 ||
			    h->subtask % par != sub)
				continue;
			st[n].subtask = h->subtask;
			st[n].ckpt = t->restore->id;
			st[n].data = h->data;
			st[n].len = h->len;
			n++;
		}
		rv = op->vt->restore(op->self, st, n);
		if (rv != WR_OK)
			snprintf(errbuf, errlen,
			         "node '%s': restore failed%s%s", op->node->id,
			         t->failure[0] ? ": " : "", t->failure);
	}
	free(st);
	return rv;
}

int64_t
tm_task_restored_offset(const tm_task *t, const char *topic, int32_t partition)
{
	if (t->restore == NULL)
		return -1;
	const char *uid = t->head->node->id;
	for (size_t i = 0; i < t->restore->noffsets; i++) {
		const wr_ckpt_offset *o = &t->restore->offsets[i];
		if (o->partition == partition && strcmp(o->uid, uid) == 0 &&
		    strcmp(o->topic, topic) == 0)
			return o->offset;
	}
	return -1;
}

/* ---- snapshots ---- */

static size_t
tm_ckpt_barrier_encode(const tm_ckpt_trigger *tr, uint8_t *p, size_t cap)
{
	size_t ul = strlen(tr->url);
	if (11 + ul > cap)
		return 0;
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(tr->id >> (56 - 8 * i));
	p[8] = (uint8_t)((tr->savepoint ? TM_BARRIER_SAVEPOINT : 0) |
	                 (tr->stop ? TM_BARRIER_STOP : 0) |
	                 (tr->drain ? TM_BARRIER_DRAIN : 0));
	p[9] = (uint8_t)(ul >> 8);
	p[10] = (uint8_t)ul;
	memcpy(p + 11, tr->url, ul);
	return 11 + ul;
}

static int
tm_ckpt_barrier_decode(const uint8_t *p, size_t len, tm_ckpt_trigger *tr)
{
	if (len < 11)
		return WR_ECORRUPT;
	size_t ul = (size_t)p[9] << 8 | p[10];
	if (len != 11 + ul || ul >= sizeof(tr->url))
		return WR_ECORRUPT;
	memset(tr, 0, sizeof(*tr));
	for (int i = 0; i < 8; i++)
		tr->id = tr->id << 8 | p[i];
	tr->savepoint = p[8] & TM_BARRIER_SAVEPOINT;
	tr->stop = p[8] & TM_BARRIER_STOP;
	tr->drain = p[8] & TM_BARRIER_DRAIN;
	memcpy(tr->url, p + 11, ul);
	return tr->id > 0 ? WR_OK : WR_ECORRUPT;
}

/*
 * The asynchronous part of a snapshot: copying the keyed state's view,
 * storing the copy and acknowledging, on a thread of its own while the
 * task goes on with the records after the barrier. The view was fixed on
 * the task's thread at the barrier (wr_state_view_open), so nothing the
 * task writes from then on is in the copy (state.h). One in flight per
 * task: the next snapshot waits for it (tm_ckpt_keyed says why).
 */
struct tm_ckpt_upload {
	tm_task *t;
	pthread_t thread;
	bool running;
	wr_ckpt_meta *part;  /* owned: freed by the upload */
	wr_state_view *view; /* owned: closed by the upload */
	uint64_t id, size;
	tm_ckpt_times times; /* async_ms: set by the upload */
	int64_t t0, t_async; /* monotonic: the barrier, the view */
	char url[WR_URL_BYTES];
	char snap[4200], key[200];
	int kf, kl;
	bool incremental;    /* piece says what to write, else the whole */
	tm_incr_piece piece; /* owned: finished by the upload */
};

static void
tm_ckpt_report(tm_task *t, uint64_t id, wr_ckpt_meta *part, uint64_t size,
               const tm_ckpt_times *times, int64_t t0, const char *err)
{
	if (err != NULL) {
		wr_log(WR_LOG_WARN, "CKPT-DECLINE", "%s checkpoint %llu: %s",
		       t->label, (unsigned long long)id, err);
		tm_report_checkpoint(t->tm, t->spec, id, NULL, times, 0, err);
		return;
	}
	wr_log(WR_LOG_DEBUG, "CKPT-TAKEN",
	       "%s checkpoint %llu: %llu bytes in %lld ms, aligned in %llu ms, "
	       "sync %llu ms, async %llu ms",
	       t->label, (unsigned long long)id, (unsigned long long)size,
	       (long long)(wr_mono_ms() - t0),
	       (unsigned long long)times->align_ms,
	       (unsigned long long)times->sync_ms,
	       (unsigned long long)times->async_ms);
	tm_report_checkpoint(t->tm, t->spec, id, part, times, size, NULL);
}

static void *
tm_ckpt_upload_main(void *arg)
{
	struct tm_ckpt_upload *u = arg;
	tm_task *t = u->t;
	char file[4300], err[512] = "", why[768] = "";
	wr_objstore *os = NULL;
	snprintf(file, sizeof(file), "%s/data.mdb", u->snap);
	int rv;
	if (u->incremental && !u->piece.full) {
		snprintf(file, sizeof(file), "%s.delta", u->snap);
		rv = wr_state_view_write_delta(u->view, u->piece.delta, file,
		                               NULL);
	} else {
		rv = wr_state_view_write(u->view, u->snap, NULL, NULL);
	}
	wr_state_view_close(u->view);
	u->view = NULL;
	if (rv != WR_OK)
		snprintf(err, sizeof(err), "copying the state at the barrier");
	struct stat st;
	uint64_t bytes = stat(file, &st) == 0 ? (uint64_t)st.st_size : 0;
	if (rv == WR_OK)
		rv = wr_objstore_open(u->url, &os, err, sizeof(err));
	if (rv == WR_OK)
		rv = wr_objstore_put_file(os, u->key, file, err, sizeof(err));
	wr_objstore_close(os);
	wr_rmtree(u->snap);
	if (u->incremental && !u->piece.full)
		unlink(file);
	const char *uid = t->job->nodes[t->keyed_node].id;
	u->times.async_ms = (uint64_t)(wr_mono_ms() - u->t_async);
	if (rv != WR_OK) {
		snprintf(why, sizeof(why), "keyed state of '%s': %s%s%s", uid,
		         wr_strerror(rv), err[0] ? ": " : "", err);
	} else {
		wr_ckpt_handle h = {.uid = (char *)uid,
		                    .subtask = t->spec->subtask,
		                    .kind = WR_CKPT_KEYED,
		                    .path = u->key,
		                    .size = bytes,
		                    .kg_first = u->kf,
		                    .kg_last = u->kl};
		if (u->incremental) {
			h.path = "";
			h.shared = u->piece.chain;
			h.nshared = u->piece.nchain;
		}
		wr_ckpt_meta_add_handle(u->part, &h);
	}
	tm_incr_piece_fini(&u->piece);
	tm_ckpt_report(t, u->id, u->part, u->size + bytes, &u->times, u->t0,
	               why[0] ? why : NULL);
	wr_ckpt_meta_free(u->part);
	u->part = NULL;
	return NULL;
}

/* Waits for the upload in flight, if any. */
static void
tm_ckpt_upload_join(tm_task *t)
{
	if (t->ck_up != NULL && t->ck_up->running) {
		pthread_join(t->ck_up->thread, NULL);
		t->ck_up->running = false;
	}
}

/* One snapshot in flight per task: a barrier that finds the previous
 * copy or upload still running waits for it rather than declining. The
 * coordinator triggers one checkpoint at a time (max_concurrent 1), so
 * that happens only when the previous one failed elsewhere or timed out
 * while this task was still writing it; declining would fail the new one
 * too (counted against tolerable_failed_checkpoints) for a wait the
 * checkpoint's sync time shows. Logged when it waits. */
static void
tm_ckpt_wait_previous(tm_task *t, uint64_t id)
{
	if (t->ck_up == NULL || !t->ck_up->running)
		return;
	int64_t w0 = wr_mono_ms();
	uint64_t prev = t->ck_up->id;
	tm_ckpt_upload_join(t);
	wr_log(WR_LOG_WARN, "CKPT-SNAPSHOT-WAITED",
	       "%s checkpoint %llu: waited %lld ms for the snapshot of "
	       "checkpoint %llu to be written",
	       t->label, (unsigned long long)id, (long long)(wr_mono_ms() - w0),
	       (unsigned long long)prev);
}

/* Incremental checkpoints (task_incr.h): what this barrier writes of the
 * view u holds. The first barrier starts the backend's change tracking
 * (nothing is recorded before: no cost without checkpoints) and writes
 * the whole state; a savepoint is always whole and self-contained. */
static void
tm_ckpt_incr_plan(tm_task *t, const tm_ckpt_trigger *tr,
                  struct tm_ckpt_upload *u, const char *uid)
{
	wr_state_changes *ch = wr_state_view_take_changes(u->view);
	u->incremental = false;
	if (!t->job->checkpointing.incremental) {
		wr_state_changes_free(ch);
		return;
	}
	if (t->ck_incr == NULL) {
		t->ck_incr = tm_incr_new();
		wr_state_track_changes(t->state); /* from this view on */
	}
	if (tr->savepoint) {
		tm_incr_savepoint(t->ck_incr, tr->id, ch);
		return;
	}
	char name[160];
	snprintf(name, sizeof(name), "%s-%d", uid, t->spec->subtask);
	tm_incr_plan(t->ck_incr, tr->id, ch, name, &u->piece);
	u->incremental = true;
	snprintf(u->key, sizeof(u->key), "%s", u->piece.file);
}

/* Fixes the keyed state's view at the barrier and starts its copy and
 * upload; the upload acks. On failure returns the error with a message. */
static int
tm_ckpt_keyed(tm_task *t, const tm_ckpt_trigger *tr, wr_ckpt_meta *part,
              uint64_t size, tm_ckpt_times times, int64_t t0, char *errbuf,
              size_t errlen)
{
	char dir[4096];
	const char *uid = t->job->nodes[t->keyed_node].id;
	tm_ckpt_wait_previous(t, tr->id); /* its directory is reused */
	if (t->ck_up == NULL)
		t->ck_up = wr_xcalloc(1, sizeof(*t->ck_up));
	struct tm_ckpt_upload *u = t->ck_up;
	tm_task_state_dir(t, dir, sizeof(dir));
	snprintf(u->snap, sizeof(u->snap), "%s.chk-%llu", dir,
	         (unsigned long long)tr->id);
	snprintf(u->key, sizeof(u->key), "%s-%d.mdb", uid, t->spec->subtask);
	wr_rmtree(u->snap);
	int rv = wr_state_view_open(t->state, &u->view);
	if (rv != WR_OK) {
		snprintf(errbuf, errlen,
		         "keyed state of '%s': cannot fix its view at the "
		         "barrier: %s",
		         uid, wr_strerror(rv));
		return rv;
	}
	tm_ckpt_incr_plan(t, tr, u, uid);
	u->t = t;
	u->part = part;
	u->id = tr->id;
	u->size = size;
	u->t0 = t0;
	u->t_async = wr_mono_ms();
	u->times = times;
	u->times.sync_ms = (uint64_t)(u->t_async - t0);
	snprintf(u->url, sizeof(u->url), "%s", tr->url);
	tm_ckpt_kg_range(t->job->max_parallelism, t->vertex->parallelism,
	                 t->spec->subtask, &u->kf, &u->kl);
	if ((rv = pthread_create(&u->thread, NULL, tm_ckpt_upload_main, u)) !=
	    0) {
		tm_ckpt_upload_main(u); /* no thread: upload here */
		return WR_OK;
	}
	u->running = true;
	return WR_OK;
}

/* Snapshots the task for checkpoint tr->id and acks (or declines). The
 * barrier goes on first: downstream can start aligning while this task
 * copies its state. */
static int
tm_ckpt_take(tm_task *t, const tm_ckpt_trigger *tr, uint64_t align_ms)
{
	uint8_t payload[16 + WR_URL_BYTES];
	size_t plen = tm_ckpt_barrier_encode(tr, payload, sizeof(payload));
	char err[768] = "";
	tm_ckpt_times times = {.align_ms = align_ms};
	int rv = WR_OK;
	for (int i = 0; i < t->noutputs && rv == WR_OK; i++)
		rv = tm_output_event(t->outputs[i], TM_BATCH_BARRIER, payload,
		                     plen);
	if (rv != WR_OK)
		return rv; /* cancelled: no ack */
	/* The snapshot's sync part begins. */
	int64_t t0 = wr_mono_ms();
	t->ck_last = tr->id;

	wr_ckpt_meta *part =
	    wr_ckpt_meta_new(t->spec->job_id, "", tr->id, 0, tr->savepoint,
	                     t->job->max_parallelism);
	uint64_t size = 0;
	wr_buf b;
	wr_buf_init(&b);
	for (int i = 0; i < t->vertex->nnodes; i++) {
		tm_ctx *op = t->ops[t->vertex->nodes[i]];
		wr_ckpt_meta_add_op(part, op->node->id, t->vertex->parallelism);
		if (op->vt->snapshot == NULL)
			continue;
		wr_buf_reset(&b);
		if ((rv = op->vt->snapshot(op->self, tr->id, &b)) != WR_OK) {
			snprintf(err, sizeof(err), "node '%s': %s%s%s",
			         op->node->id, wr_strerror(rv),
			         t->failure[0] ? ": " : "", t->failure);
			goto done;
		}
		if (b.len > TM_OP_STATE_MAX_BYTES) {
			snprintf(err, sizeof(err),
			         "node '%s': snapshot of %zu bytes is over %u",
			         op->node->id, b.len, TM_OP_STATE_MAX_BYTES);
			rv = WR_ETOOBIG;
			goto done;
		}
		wr_ckpt_handle h = {.uid = (char *)op->node->id,
		                    .subtask = t->spec->subtask,
		                    .kind = WR_CKPT_INLINE,
		                    .path = "",
		                    .size = b.len,
		                    .data = (uint8_t *)b.data,
		                    .len = b.len};
		wr_ckpt_meta_add_handle(part, &h);
		size += b.len;
	}
	if (t->src != NULL && t->src->offsets != NULL)
		t->src->offsets(t->src->arg, part);
	if (t->keyed_node >= 0 && t->state != NULL) {
		/* the upload thread acks and frees part */
		rv = tm_ckpt_keyed(t, tr, part, size, times, t0, err,
		                   sizeof(err));
		if (rv == WR_OK)
			part = NULL;
	}
done:
	wr_buf_fini(&b);
	times.sync_ms = (uint64_t)(wr_mono_ms() - t0);
	if (rv != WR_OK || part != NULL)
		tm_ckpt_report(t, tr->id, part, size, &times, t0,
		               rv != WR_OK ? err : NULL);
	wr_ckpt_meta_free(part);
	return WR_OK; /* a failed snapshot fails the checkpoint only */
}

static int
tm_ckpt_commit(tm_task *t)
{
	uint64_t done = atomic_load(&t->ck_complete);
	if (done <= t->ck_committed || done > t->ck_last)
		return WR_OK;
	if (t->ck_incr != NULL)
		tm_incr_complete(t->ck_incr, done); /* fenced or not */
	/* Fenced: commit once a JobManager confirms this TaskManager again;
	 * an orphan never does (its successor restores the pre-commits). */
	if (!tm_task_sinks_may_write(t))
		return WR_OK;
	t->ck_committed = done;
	for (int i = 0; i < t->vertex->nnodes; i++) {
		tm_ctx *op = t->ops[t->vertex->nodes[i]];
		if (op->vt->notify_complete != NULL) {
			int rv = op->vt->notify_complete(op->self, done);
			if (rv != WR_OK) {
				tm_task_fail(t,
				             "node '%s': commit of "
				             "checkpoint %llu failed",
				             op->node->id,
				             (unsigned long long)done);
				return rv;
			}
		}
	}
	if (t->src != NULL && t->src->commit != NULL)
		t->src->commit(t->src->arg, done);
	return WR_OK;
}

int
tm_task_ckpt_poll(tm_task *t)
{
	int rv = tm_ckpt_commit(t);
	if (rv != WR_OK || t->head->node->kind != WR_NODE_SOURCE)
		return rv;
	tm_ckpt_trigger tr;
	bool go = false;
	pthread_mutex_lock(&t->ck_mu);
	if (t->ck_trig_pending) {
		tr = t->ck_trig;
		t->ck_trig_pending = false;
		go = tr.id > t->ck_last && !t->ck_stopped;
	}
	pthread_mutex_unlock(&t->ck_mu);
	if (!go)
		return WR_OK;
	if (tr.drain && (rv = tm_task_watermark(t, TM_WM_MAX, false)) != WR_OK)
		return rv;
	rv = tm_ckpt_take(t, &tr, 0);
	if (rv == WR_OK && tr.stop)
		t->ck_stopped = true;
	return rv;
}

/* Every channel has delivered the barrier or ended: snapshot. */
static int
tm_ckpt_align_check(tm_task *t)
{
	if (t->ck_align_id == 0)
		return WR_OK;
	for (int i = 0; i < t->ninput_chans; i++)
		if (!t->ck_align_got[i] && !t->ck_chan_ended[i])
			return WR_OK;
	uint64_t align_ms = (uint64_t)(wr_mono_ms() - t->ck_align_start);
	tm_ckpt_trigger tr = t->ck_align;
	t->ck_align_id = 0;
	int rv = tm_ckpt_take(t, &tr, align_ms);
	for (int i = 0; i < t->ninput_chans; i++)
		tm_input_block(t->input, i, false);
	return rv;
}

static void
tm_ckpt_align_reset(tm_task *t)
{
	if (t->ck_align_got == NULL) {
		t->ck_align_got =
		    wr_xcalloc((size_t)t->ninput_chans + 1, sizeof(bool));
		t->ck_chan_ended =
		    wr_xcalloc((size_t)t->ninput_chans + 1, sizeof(bool));
	}
	for (int i = 0; i < t->ninput_chans; i++) {
		t->ck_align_got[i] = false;
		tm_input_block(t->input, i, false);
	}
}

int
tm_task_ckpt_barrier(tm_task *t, const tm_batch *b, int ch)
{
	tm_ckpt_trigger tr;
	if (tm_ckpt_barrier_decode(b->data, b->len, &tr) != WR_OK) {
		tm_task_fail(t, "corrupt checkpoint barrier from the network");
		return WR_ECORRUPT;
	}
	if (tr.id <= t->ck_last ||
	    (t->ck_align_id != 0 && tr.id < t->ck_align_id))
		return WR_OK; /* of a checkpoint given up */
	if (tr.id != t->ck_align_id) {
		if (t->ck_align_id != 0)
			wr_log(WR_LOG_WARN, "CKPT-ALIGN-ABANDONED",
			       "%s: checkpoint %llu overtaken by %llu",
			       t->label, (unsigned long long)t->ck_align_id,
			       (unsigned long long)tr.id);
		tm_ckpt_align_reset(t);
		t->ck_align_id = tr.id;
		t->ck_align = tr;
		t->ck_align_start = wr_mono_ms();
	}
	t->ck_align_got[ch] = true;
	tm_input_block(t->input, ch, true);
	return tm_ckpt_align_check(t);
}

int
tm_task_ckpt_chan_ended(tm_task *t, int ch)
{
	if (t->ck_chan_ended == NULL)
		tm_ckpt_align_reset(t);
	t->ck_chan_ended[ch] = true;
	return tm_ckpt_align_check(t);
}

void
tm_task_ckpt_fini(tm_task *t, bool commit)
{
	/* A completion reported just before a cancel (stop-with-savepoint)
	 * still commits. */
	tm_ckpt_upload_join(t);
	free(t->ck_up);
	t->ck_up = NULL;
	tm_incr_free(t->ck_incr);
	t->ck_incr = NULL;
	if (commit && t->vertex != NULL && t->ck_last > 0)
		tm_ckpt_commit(t);
	free(t->ck_align_got);
	free(t->ck_chan_ended);
	t->ck_align_got = t->ck_chan_ended = NULL;
	wr_ckpt_meta_free(t->restore);
	t->restore = NULL;
}
