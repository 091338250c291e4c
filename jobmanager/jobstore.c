/*
 * jobstore.c - the durable job store (jobstore.h): entries as JSON through
 * jansson, kept in the checkpoint storage (objstore; fenced by the
 * Lease's deadline and the stored epoch in mode kubernetes) or in etcd
 * (fenced by the leader key's create revision).
 */
#include "jobstore.h"

#include "ckpt.h"
#include "jm_int.h"

#include "buf.h"
#include "err.h"
#include "etcd.h"
#include "log.h"
#include "mem.h"
#include "objstore.h"
#include "wr_limits.h"

#include <jansson.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JM_JS_OS_DIR   "jobstore/jobs/"
#define JM_JS_OS_EPOCH "jobstore/epoch"

enum jm_js_kind { JM_JS_OBJSTORE, JM_JS_ETCD };

struct jm_jobstore {
	enum jm_js_kind kind;
	uint64_t epoch;
	wr_objstore *os;
	wr_etcd *etcd;
	char prefix[WR_URL_BYTES]; /* etcd: /weir/<cluster>/jobs/ */
	char *guard_key;
	int64_t guard_rev;
	/* objstore in mode kubernetes: true while the writer still leads at
	 * epoch (by its own lease deadline); NULL = unfenced (mode none) */
	bool (*holds)(void *arg, uint64_t epoch);
	void *holds_arg;
};

int
jm_jobstore_open_objstore(const char *url, jm_jobstore **out, char *err,
                          size_t errlen)
{
	wr_objstore *os = NULL;
	int rv = wr_objstore_open(url, &os, err, errlen);
	if (rv != WR_OK)
		return rv;
	jm_jobstore *s = wr_xcalloc(1, sizeof(*s));
	s->kind = JM_JS_OBJSTORE;
	s->os = os;
	*out = s;
	return WR_OK;
}

int
jm_jobstore_open_objstore_fenced(const char *url, uint64_t epoch,
                                 bool (*holds)(void *arg, uint64_t epoch),
                                 void *arg, jm_jobstore **out, char *err,
                                 size_t errlen)
{
	if (epoch == 0 || holds == NULL) {
		snprintf(err, errlen, "job store: a leader epoch is needed");
		return WR_EINVAL;
	}
	int rv = jm_jobstore_open_objstore(url, out, err, errlen);
	if (rv != WR_OK)
		return rv;
	(*out)->epoch = epoch;
	(*out)->holds = holds;
	(*out)->holds_arg = arg;
	return WR_OK;
}

int
jm_jobstore_open_etcd(wr_etcd *e, const char *cluster_id, const char *guard_key,
                      int64_t guard_rev, jm_jobstore **out, char *err,
                      size_t errlen)
{
	if (cluster_id[0] == '\0' || strchr(cluster_id, '/') != NULL ||
	    guard_rev <= 0) {
		snprintf(err, errlen,
		         "job store: cluster id '%s' (no '/', not empty) and "
		         "a leader revision are needed",
		         cluster_id);
		return WR_EINVAL;
	}
	jm_jobstore *s = wr_xcalloc(1, sizeof(*s));
	s->kind = JM_JS_ETCD;
	s->etcd = e;
	snprintf(s->prefix, sizeof(s->prefix), "/weir/%s/jobs/", cluster_id);
	s->guard_key = wr_xstrdup(guard_key);
	s->guard_rev = guard_rev;
	s->epoch = (uint64_t)guard_rev;
	*out = s;
	return WR_OK;
}

void
jm_jobstore_close(jm_jobstore *s)
{
	if (s == NULL)
		return;
	wr_objstore_close(s->os);
	free(s->guard_key);
	free(s);
}

int
jm_jobstore_begin(jm_jobstore *s, uint64_t *epoch, char *err, size_t errlen)
{
	if (s->kind == JM_JS_ETCD || s->holds != NULL) {
		*epoch = s->epoch; /* the election's, not the counter's */
		return WR_OK;
	}
	wr_buf b;
	wr_buf_init(&b);
	uint64_t prev = 0;
	int rv = wr_objstore_get(s->os, JM_JS_OS_EPOCH, 64, &b, err, errlen);
	if (rv == WR_OK) {
		wr_buf_putc(&b, '\0');
		char *end = NULL;
		prev = strtoull((char *)b.data, &end, 10);
		if (end == (char *)b.data || (*end != '\n' && *end != '\0')) {
			snprintf(err, errlen, "%s: not a number",
			         JM_JS_OS_EPOCH);
			rv = WR_ECORRUPT;
		}
	} else if (rv == WR_ENOENT) {
		rv = WR_OK; /* the first JobManager on this storage */
	}
	if (rv == WR_OK) {
		char text[32];
		int n = snprintf(text, sizeof(text), "%" PRIu64 "\n", prev + 1);
		rv = wr_objstore_put(s->os, JM_JS_OS_EPOCH, text, (size_t)n,
		                     err, errlen);
	}
	wr_buf_fini(&b);
	if (rv == WR_OK)
		*epoch = s->epoch = prev + 1;
	return rv;
}

/* ---- the entry as JSON ---- */

static json_t *
jm_js_str(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

char *
jm_jobstore_encode(const jm_jobstore_entry *e, uint64_t epoch)
{
	json_t *tms = json_array();
	for (size_t i = 0; i < e->ntms; i++)
		json_array_append_new(tms, json_string(e->tms[i]));
	json_t *ck = json_null();
	if (e->checkpoint_url != NULL)
		ck = json_pack(
		    "{s:I,s:s,s:b}", "id", (json_int_t)e->checkpoint_id, "url",
		    e->checkpoint_url, "savepoint", e->checkpoint_is_savepoint);
	json_t *j = json_pack(
	    "{s:i,s:I,s:s,s:o,s:s,s:s,s:i,s:o,s:b,s:s,s:I,s:I,s:I,s:o,s:o,s:o,"
	    "s:I}",
	    "format", JM_JOBSTORE_FORMAT, "epoch", (json_int_t)epoch, "id",
	    e->id, "name", jm_js_str(e->name), "file", e->file ? e->file : "",
	    "yaml", e->yaml ? e->yaml : "", "parallelism_override",
	    e->parallelism_override, "from_savepoint",
	    jm_js_str(e->from_savepoint), "allow_non_restored",
	    e->allow_non_restored, "state", e->state ? e->state : "", "attempt",
	    (json_int_t)e->attempt, "restarts", (json_int_t)e->restarts,
	    "start_time", (json_int_t)e->start_ms, "failure",
	    jm_js_str(e->failure), "taskmanagers", tms, "checkpoint", ck,
	    "next_checkpoint_id", (json_int_t)e->next_checkpoint_id);
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	return text;
}

static char *
jm_js_dup(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s != NULL ? wr_xstrdup(s) : NULL;
}

/* The checkpoint pointer and the TaskManagers of a decoded entry. */
static int
jm_js_decode_rest(json_t *j, jm_jobstore_entry *e, char *err, size_t errlen)
{
	json_t *ck = json_object_get(j, "checkpoint");
	if (ck != NULL && !json_is_null(ck)) {
		json_int_t id = 0;
		const char *url = NULL;
		int sp = 0;
		json_error_t je;
		if (json_unpack_ex(ck, &je, 0, "{s:I,s:s,s?b}", "id", &id,
		                   "url", &url, "savepoint", &sp) != 0 ||
		    id < 0) {
			snprintf(err, errlen, "checkpoint: %s", je.text);
			return WR_EINVAL;
		}
		e->checkpoint_id = (uint64_t)id;
		e->checkpoint_url = wr_xstrdup(url);
		e->checkpoint_is_savepoint = sp;
	}
	json_t *tms = json_object_get(j, "taskmanagers");
	size_t n = json_is_array(tms) ? json_array_size(tms) : 0;
	e->tms = n ? wr_xcalloc(n, sizeof(char *)) : NULL;
	for (size_t i = 0; i < n; i++) {
		const char *t = json_string_value(json_array_get(tms, i));
		if (t != NULL)
			e->tms[e->ntms++] = wr_xstrdup(t);
	}
	return WR_OK;
}

int
jm_jobstore_decode(const char *text, size_t len, jm_jobstore_entry *e,
                   char *err, size_t errlen)
{
	memset(e, 0, sizeof(*e));
	json_error_t je;
	json_t *j = json_loadb(text, len, 0, &je);
	int rv = WR_EINVAL;
	json_int_t format = 0, epoch = 0, attempt = 0, restarts = 0, start = 0,
	           next = 0;
	int par = 0, allow = 0;
	const char *id = NULL, *state = NULL, *yaml = NULL, *file = NULL;
	if (j == NULL) {
		snprintf(err, errlen, "not JSON: %s (line %d)", je.text,
		         je.line);
		return WR_EINVAL;
	}
	if (json_unpack_ex(j, &je, 0, "{s:I}", "format", &format) != 0 ||
	    format != JM_JOBSTORE_FORMAT) {
		snprintf(err, errlen, "format %lld, this JobManager reads %d",
		         (long long)format, JM_JOBSTORE_FORMAT);
		goto done;
	}
	if (json_unpack_ex(
	        j, &je, 0, "{s:I,s:s,s:i,s:b,s:I,s:I,s:I,s:I,s:s,s:s,s:s}",
	        "epoch", &epoch, "id", &id, "parallelism_override", &par,
	        "allow_non_restored", &allow, "attempt", &attempt, "restarts",
	        &restarts, "start_time", &start, "next_checkpoint_id", &next,
	        "state", &state, "yaml", &yaml, "file", &file) != 0) {
		snprintf(err, errlen, "%s", je.text);
		goto done;
	}
	if (strlen(id) != 32 || attempt < 0 || attempt > UINT32_MAX ||
	    epoch < 0 || restarts < 0 || next < 0) {
		snprintf(err, errlen, "bad id or counter");
		goto done;
	}
	memcpy(e->id, id, 33);
	e->epoch = (uint64_t)epoch;
	e->parallelism_override = par;
	e->allow_non_restored = allow;
	e->attempt = (uint32_t)attempt;
	e->restarts = (uint64_t)restarts;
	e->start_ms = (int64_t)start;
	e->next_checkpoint_id = (uint64_t)next;
	e->name = jm_js_dup(j, "name");
	e->file = wr_xstrdup(file);
	e->yaml = wr_xstrdup(yaml);
	e->state = wr_xstrdup(state);
	e->from_savepoint = jm_js_dup(j, "from_savepoint");
	e->failure = jm_js_dup(j, "failure");
	rv = jm_js_decode_rest(j, e, err, errlen);
done:
	json_decref(j);
	if (rv != WR_OK)
		jm_jobstore_entry_fini(e);
	return rv;
}

void
jm_jobstore_entry_fini(jm_jobstore_entry *e)
{
	free(e->name);
	free(e->file);
	free(e->yaml);
	free(e->from_savepoint);
	free(e->state);
	free(e->failure);
	for (size_t i = 0; i < e->ntms; i++)
		free(e->tms[i]);
	free(e->tms);
	free(e->checkpoint_url);
	free(e->corrupt);
	memset(e, 0, sizeof(*e));
}

void
jm_jobstore_entries_free(jm_jobstore_entry *v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		jm_jobstore_entry_fini(&v[i]);
	free(v);
}

/* ---- the backends ---- */

static int
jm_js_key(const jm_jobstore *s, const char *job_id, char *key, size_t len)
{
	int n = s->kind == JM_JS_ETCD
	            ? snprintf(key, len, "%s%s", s->prefix, job_id)
	            : snprintf(key, len, JM_JS_OS_DIR "%s.json", job_id);
	return n > 0 && (size_t)n < len && strchr(job_id, '/') == NULL
	           ? WR_OK
	           : WR_EINVAL;
}

static int
jm_js_etcd_err(const jm_jobstore *s, int rv, char *err, size_t errlen)
{
	if (rv == WR_EPERM)
		snprintf(err, errlen,
		         "fenced: %s no longer has create revision %lld (this "
		         "JobManager is not the leader any more)",
		         s->guard_key, (long long)s->guard_rev);
	else
		snprintf(err, errlen, "etcd: %s", wr_etcd_last_error(s->etcd));
	return rv;
}

/*
 * Mode kubernetes: the checkpoint storage has no conditional write, so a
 * write of key is fenced by reading and comparing first: refused when the
 * stored entry carries a higher epoch than ours (a newer leader wrote it),
 * then refused unless this JobManager still leads by its own lease
 * deadline, checked last, just before the write. This guarantees that a
 * deposed leader never overwrites an entry a newer leader had written
 * before its read, and that it writes nothing once its deadline passed
 * (which comes before any other candidate may take the Lease). Its limit:
 * read, check and put are not one atomic step. A put that lands more
 * than the deadline's margin (renew_interval / 2) after the check - the
 * process paused between check and put, or storage that stalls - can
 * still replace a newer leader's entry; the newer leader's next write of
 * that job (every status change and checkpoint) replaces it again.
 */
static int
jm_js_fence(jm_jobstore *s, const char *key, char *err, size_t errlen)
{
	if (s->holds == NULL)
		return WR_OK;
	wr_buf b;
	wr_buf_init(&b);
	char gerr[512] = "";
	jm_jobstore_entry cur;
	uint64_t stored = 0;
	int rv = wr_objstore_get(s->os, key, JM_JOBSTORE_ENTRY_MAX_BYTES, &b,
	                         gerr, sizeof(gerr));
	if (rv == WR_OK && jm_jobstore_decode((char *)b.data, b.len, &cur, gerr,
	                                      sizeof(gerr)) == WR_OK) {
		stored = cur.epoch;
		jm_jobstore_entry_fini(&cur);
	}
	wr_buf_fini(&b);
	if (rv == WR_ENOENT || rv == WR_ETOOBIG)
		rv = WR_OK; /* absent, or unreadable as an entry: ours now */
	if (rv != WR_OK) {
		snprintf(err, errlen, "%s: %s", key, gerr);
	} else if (stored > s->epoch) {
		snprintf(err, errlen,
		         "fenced: %s was written at epoch %llu, this "
		         "JobManager's is %llu (a newer leader's)",
		         key, (unsigned long long)stored,
		         (unsigned long long)s->epoch);
		rv = WR_EPERM;
	} else if (!s->holds(s->holds_arg, s->epoch)) {
		snprintf(err, errlen,
		         "fenced: epoch %llu no longer holds the Lease (its "
		         "deadline passed)",
		         (unsigned long long)s->epoch);
		rv = WR_EPERM;
	}
	return rv;
}

int
jm_jobstore_put(jm_jobstore *s, const jm_jobstore_entry *e, char *err,
                size_t errlen)
{
	char key[WR_URL_BYTES];
	if (jm_js_key(s, e->id, key, sizeof(key)) != WR_OK) {
		snprintf(err, errlen, "bad job id '%s'", e->id);
		return WR_EINVAL;
	}
	char *text = jm_jobstore_encode(e, s->epoch);
	if (text == NULL) {
		snprintf(err, errlen, "cannot encode the entry (not UTF-8?)");
		return WR_EINVAL;
	}
	size_t len = strlen(text);
	int rv;
	if (s->kind == JM_JS_OBJSTORE) {
		rv = jm_js_fence(s, key, err, errlen);
		if (rv == WR_OK)
			rv =
			    wr_objstore_put(s->os, key, text, len, err, errlen);
	} else {
		rv = wr_etcd_put_fenced(s->etcd, key, text, len, s->guard_key,
		                        s->guard_rev);
		if (rv != WR_OK)
			jm_js_etcd_err(s, rv, err, errlen);
	}
	free(text);
	return rv;
}

int
jm_jobstore_remove(jm_jobstore *s, const char *job_id, char *err, size_t errlen)
{
	char key[WR_URL_BYTES];
	if (jm_js_key(s, job_id, key, sizeof(key)) != WR_OK) {
		snprintf(err, errlen, "bad job id '%s'", job_id);
		return WR_EINVAL;
	}
	if (s->kind == JM_JS_OBJSTORE) {
		int rv = jm_js_fence(s, key, err, errlen);
		return rv == WR_OK ? wr_objstore_delete(s->os, key, err, errlen)
		                   : rv;
	}
	int rv =
	    wr_etcd_delete_fenced(s->etcd, key, s->guard_key, s->guard_rev);
	return rv == WR_OK ? rv : jm_js_etcd_err(s, rv, err, errlen);
}

/* Decodes one stored value into e; an unreadable one becomes corrupt
 * with the id taken from the key's last part. */
static void
jm_js_load_one(const char *key, const char *text, size_t len,
               jm_jobstore_entry *e)
{
	char why[512] = "";
	if (jm_jobstore_decode(text, len, e, why, sizeof(why)) == WR_OK)
		return;
	const char *base = strrchr(key, '/');
	base = base != NULL ? base + 1 : key;
	size_t n = strcspn(base, ".");
	snprintf(e->id, sizeof(e->id), "%.*s", (int)n, base);
	char msg[700];
	snprintf(msg, sizeof(msg), "job store entry %s unreadable: %s", key,
	         why);
	e->corrupt = wr_xstrdup(msg);
}

static int
jm_js_load_objstore(jm_jobstore *s, jm_jobstore_entry **v, size_t *n, char *err,
                    size_t errlen)
{
	char **keys = NULL;
	size_t nk = 0;
	int rv = wr_objstore_list(s->os, JM_JS_OS_DIR, &keys, &nk, err, errlen);
	if (rv != WR_OK)
		return rv;
	*v = nk ? wr_xcalloc(nk, sizeof(**v)) : NULL;
	*n = 0;
	for (size_t i = 0; i < nk && rv == WR_OK; i++) {
		wr_buf b;
		wr_buf_init(&b);
		char gerr[512] = "";
		int g =
		    wr_objstore_get(s->os, keys[i], JM_JOBSTORE_ENTRY_MAX_BYTES,
		                    &b, gerr, sizeof(gerr));
		if (g == WR_OK || g == WR_ETOOBIG)
			jm_js_load_one(keys[i],
			               g == WR_OK ? (char *)b.data : "",
			               g == WR_OK ? b.len : 0, &(*v)[(*n)++]);
		else if (g != WR_ENOENT) { /* removed meanwhile: fine */
			snprintf(err, errlen, "%s: %s", keys[i], gerr);
			rv = g;
		}
		wr_buf_fini(&b);
	}
	wr_objstore_list_free(keys, nk);
	return rv;
}

int
jm_jobstore_load(jm_jobstore *s, jm_jobstore_entry **v, size_t *n, char *err,
                 size_t errlen)
{
	*v = NULL;
	*n = 0;
	if (s->kind == JM_JS_OBJSTORE) {
		int rv = jm_js_load_objstore(s, v, n, err, errlen);
		if (rv != WR_OK) {
			jm_jobstore_entries_free(*v, *n);
			*v = NULL;
			*n = 0;
		}
		return rv;
	}
	wr_etcd_kv *kvs = NULL;
	size_t nk = 0;
	int rv = wr_etcd_get_prefix(s->etcd, s->prefix, JM_JOBSTORE_MAX_JOBS,
	                            &kvs, &nk);
	if (rv != WR_OK)
		return jm_js_etcd_err(s, rv, err, errlen);
	*v = nk ? wr_xcalloc(nk, sizeof(**v)) : NULL;
	for (size_t i = 0; i < nk; i++)
		jm_js_load_one(kvs[i].key, (const char *)kvs[i].value,
		               kvs[i].value_len, &(*v)[(*n)++]);
	wr_etcd_kvs_free(kvs, nk);
	return WR_OK;
}

/* ---- the JobManager's jobs in the store ---- */

int
jm_store_job(jm_server *jm, const jm_job *job, char *err, size_t errlen)
{
	char own[512] = "";
	if (err == NULL) {
		err = own;
		errlen = sizeof(own);
	}
	if (jm->jobstore == NULL)
		return WR_OK; /* the storage cannot be opened: logged at start
		               */
	int rv;
	if (jm_job_state_terminal(job->state)) {
		rv = jm_jobstore_remove(jm->jobstore, job->id, err, errlen);
	} else {
		const char **tms =
		    wr_xcalloc((size_t)job->nslots + 1, sizeof(char *));
		size_t ntms = 0;
		for (int i = 0; i < job->nslots; i++) {
			const char *t = job->slots[i].tm_id;
			bool dup = t[0] == '\0';
			for (size_t k = 0; k < ntms && !dup; k++)
				dup = strcmp(tms[k], t) == 0;
			if (!dup)
				tms[ntms++] = t;
		}
		jm_jobstore_entry e = {
		    .name = job->name,
		    .file = job->file,
		    .yaml = job->yaml,
		    .parallelism_override = job->parallelism_override,
		    .from_savepoint = job->savepoint_url,
		    .allow_non_restored = job->allow_non_restored,
		    .state = (char *)jm_job_state_name(job->state),
		    .attempt = job->attempt,
		    .restarts = job->restarts,
		    .start_ms = job->start_ms,
		    .failure = job->failure,
		    .tms = (char **)tms,
		    .ntms = ntms,
		    .next_checkpoint_id = jm_ckpt_next_id(job->ck),
		};
		memcpy(e.id, job->id, sizeof(e.id));
		const char *url = NULL;
		if (jm_ckpt_latest(job->ck, &e.checkpoint_id, &url,
		                   &e.checkpoint_is_savepoint))
			e.checkpoint_url = (char *)url;
		rv = jm_jobstore_put(jm->jobstore, &e, err, errlen);
		free(tms);
	}
	if (rv != WR_OK)
		wr_log(WR_LOG_ERROR, "JOB-STORE", "job=%s (%s): %s", job->id,
		       jm_job_state_name(job->state), err);
	return rv;
}

void
jm_store_recover(jm_server *jm)
{
	jm_jobstore_entry *v = NULL;
	size_t n = 0;
	char err[512] = "";
	if (jm->jobstore == NULL)
		return;
	if (jm_jobstore_load(jm->jobstore, &v, &n, err, sizeof(err)) != WR_OK) {
		wr_log(WR_LOG_ERROR, "JOB-STORE",
		       "cannot read the job store: %s; no job recovered", err);
		return;
	}
	for (size_t i = 0; i < n; i++)
		jm_jobs_recover(jm->jobs, &v[i]);
	if (n > 0)
		wr_log(WR_LOG_INFO, "JOB-STORE-RECOVERED",
		       "%zu job(s) read back from the job store (epoch %llu)",
		       n, (unsigned long long)jm->epoch);
	jm_jobstore_entries_free(v, n);
}
