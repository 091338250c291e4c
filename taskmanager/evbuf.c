/*
 * evbuf.c - the event-time sort buffer of keyed operators (evbuf.h):
 * records in keyed state under (key, ts, seq), released per (key, ts)
 * when the event-time timer of that instant fires.
 */
#include "evbuf.h"

#include "err.h"
#include "mem.h"
#include "op.h"
#include "wr_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tm_evbuf {
	tm_evbuf_cfg cfg;
	wr_state *st;
	wr_buf sk;  /* state key scratch: key ++ ts (++ seq) */
	wr_buf val; /* a record: encoded on put, copied out on release */
	tm_evbuf_stats stats;
};

tm_evbuf *
tm_evbuf_new(const tm_evbuf_cfg *cfg, wr_state *st)
{
	tm_evbuf *b = wr_xcalloc(1, sizeof(*b));
	b->cfg = *cfg;
	b->st = st;
	wr_buf_init(&b->sk);
	wr_buf_init(&b->val);
	return b;
}

void
tm_evbuf_free(tm_evbuf *b)
{
	if (b == NULL)
		return;
	wr_buf_fini(&b->sk);
	wr_buf_fini(&b->val);
	free(b);
}

/* Big-endian: byte order is number order. */
static void
tm_evbuf_put_be(wr_buf *out, uint64_t u)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(u >> (56 - 8 * i));
	wr_buf_append(out, x, sizeof(x));
}

/* b->sk = key ++ ts (sign bit flipped: also times before 1970 sort). */
static void
tm_evbuf_key_ts(tm_evbuf *b, const void *key, size_t klen, int64_t ts)
{
	wr_buf_reset(&b->sk);
	wr_buf_append(&b->sk, key, klen);
	tm_evbuf_put_be(&b->sk, (uint64_t)ts ^ (UINT64_C(1) << 63));
}

/* The records waiting at b->sk (key ++ ts): 0 when none. */
static int
tm_evbuf_count(tm_evbuf *b, int kg, uint64_t *n)
{
	const void *v;
	size_t vlen;
	*n = 0;
	int rv = wr_state_get(b->st, (uint16_t)kg, b->cfg.state_id + 1,
	                      b->sk.data, b->sk.len, &v, &vlen);
	if (rv == WR_ENOENT)
		return WR_OK;
	if (rv != WR_OK)
		return rv;
	if (vlen != 8)
		return WR_ECORRUPT;
	const uint8_t *p = v;
	for (int i = 0; i < 8; i++)
		*n |= (uint64_t)p[i] << (8 * i);
	return WR_OK;
}

int
tm_evbuf_put(tm_evbuf *b, int kg, const void *key, size_t klen, int64_t ts,
             int64_t wm, const wr_row *r, bool *late)
{
	uint64_t n;
	uint8_t cnt[8];
	*late = ts <= wm;
	if (*late) {
		b->stats.late++;
		return WR_OK;
	}
	if (klen > TM_EVBUF_MAX_KEY_BYTES)
		return WR_ETOOBIG;
	tm_evbuf_key_ts(b, key, klen, ts);
	int rv = tm_evbuf_count(b, kg, &n);
	if (rv != WR_OK)
		return rv;
	for (int i = 0; i < 8; i++)
		cnt[i] = (uint8_t)((n + 1) >> (8 * i));
	if ((rv = wr_state_put(b->st, (uint16_t)kg, b->cfg.state_id + 1,
	                       b->sk.data, b->sk.len, cnt, sizeof(cnt))) !=
	    WR_OK)
		return rv;
	tm_evbuf_put_be(&b->sk, n);
	wr_buf_reset(&b->val);
	wr_row_encode(r, &b->val);
	if ((rv = wr_state_put(b->st, (uint16_t)kg, b->cfg.state_id, b->sk.data,
	                       b->sk.len, b->val.data, b->val.len)) != WR_OK)
		return rv;
	b->stats.put++;
	/* The first record at (key, ts) sets the timer; the others find it
	 * set (setting it again is a no-op, but costs a state write). */
	if (n > 0)
		return WR_OK;
	return b->cfg.timer_set(b->cfg.timer_arg, kg, key, klen, ts,
	                        b->cfg.timer_tag);
}

/* Record seq of b->sk's (key, ts), copied to b->val and deleted. */
static int
tm_evbuf_take(tm_evbuf *b, int kg, size_t base, uint64_t seq)
{
	const void *v;
	size_t vlen;
	b->sk.len = base;
	tm_evbuf_put_be(&b->sk, seq);
	int rv = wr_state_get(b->st, (uint16_t)kg, b->cfg.state_id, b->sk.data,
	                      b->sk.len, &v, &vlen);
	if (rv == WR_ENOENT)
		return WR_ECORRUPT; /* counted, but not there */
	if (rv != WR_OK)
		return rv;
	wr_buf_reset(&b->val);
	wr_buf_append(&b->val, v, vlen);
	return wr_state_del(b->st, (uint16_t)kg, b->cfg.state_id, b->sk.data,
	                    b->sk.len);
}

int
tm_evbuf_release(tm_evbuf *b, int kg, const void *key, size_t klen, int64_t ts,
                 tm_evbuf_fn fn, void *arg)
{
	uint64_t n;
	if (klen > TM_EVBUF_MAX_KEY_BYTES)
		return WR_ETOOBIG;
	tm_evbuf_key_ts(b, key, klen, ts);
	int rv = tm_evbuf_count(b, kg, &n);
	if (rv != WR_OK || n == 0)
		return rv;
	if ((rv = wr_state_del(b->st, (uint16_t)kg, b->cfg.state_id + 1,
	                       b->sk.data, b->sk.len)) != WR_OK)
		return rv;
	size_t base = b->sk.len;
	for (uint64_t seq = 0; seq < n; seq++) {
		wr_row r;
		size_t pos = 0;
		if ((rv = tm_evbuf_take(b, kg, base, seq)) != WR_OK)
			return rv;
		if (wr_row_decode((const uint8_t *)b->val.data, b->val.len,
		                  &pos, &r) != WR_OK ||
		    pos != b->val.len)
			return WR_ECORRUPT;
		b->stats.released++;
		if ((rv = fn(arg, ts, &r)) != WR_OK)
			return rv;
		/* fn may have used the backend: the scratch key is ours */
		tm_evbuf_key_ts(b, key, klen, ts);
	}
	return WR_OK;
}

void
tm_evbuf_get_stats(const tm_evbuf *b, tm_evbuf_stats *out)
{
	*out = b->stats;
}

/* ---- what keyed operators share ---- */

int
tm_evbuf_timer_set(void *ctx, int kg, const void *key, size_t klen, int64_t ts,
                   uint8_t tag)
{
	return tm_timer_set(ctx, TM_TIME_EVENT, kg, key, klen, ts, tag);
}

int
tm_evbuf_key(const wr_node_spec *n, const wr_row *r, int max_parallelism,
             wr_buf *key, int *kg)
{
	static const wr_value null = {.type = WR_T_NULL};
	wr_row k;
	uint64_t h = 0;
	k.n = (uint32_t)n->nkeys;
	for (int i = 0; i < n->nkeys; i++) {
		/* a row shorter than its schema ends in NULLs */
		k.v[i] = (uint32_t)n->keys[i] < r->n ? r->v[n->keys[i]] : null;
		h = wr_value_hash(&k.v[i], h);
	}
	wr_buf_reset(key);
	wr_row_encode(&k, key);
	*kg = wr_key_group(h, max_parallelism);
	return key->len > TM_EVBUF_MAX_KEY_BYTES ? WR_ETOOBIG : WR_OK;
}

int
tm_evbuf_time_field(const wr_jobspec *job, const wr_node_spec *n,
                    const wr_schema *in, const char *what, char *errbuf,
                    size_t errlen)
{
	int i = n->inputs[0];
	for (int hops = 0; i >= 0 && hops < WR_JOB_MAX_NODES &&
	                   job->nodes[i].kind != WR_NODE_SOURCE;
	     hops++)
		i = job->nodes[i].inputs[0];
	if (i < 0 || job->nodes[i].kind != WR_NODE_SOURCE) {
		snprintf(errbuf, errlen, "node '%s': no source upstream",
		         n->id);
		return -1;
	}
	const wr_node_spec *src = &job->nodes[i];
	if (src->source.time_field < 0) {
		snprintf(errbuf, errlen,
		         "node '%s': the %s needs event time, and source '%s' "
		         "has no event_time",
		         n->id, what, src->id);
		return -1;
	}
	const char *name =
	    src->source.schema.fields[src->source.time_field].name;
	int tf = wr_schema_index(in, name);
	if (tf < 0 || in->fields[tf].type != WR_T_TIMESTAMP) {
		snprintf(errbuf, errlen,
		         "node '%s': the %s takes event time from field '%s' "
		         "(source '%s', event_time), which its input '%s' %s; "
		         "keep that field, unrenamed, in every select between "
		         "them",
		         n->id, what, name, src->id,
		         job->nodes[n->inputs[0]].id,
		         tf < 0 ? "does not have" : "has as another type");
		return -1;
	}
	return tf;
}

void
tm_evbuf_wm_snapshot(wr_buf *out, int64_t wm)
{
	uint8_t b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)((uint64_t)wm >> (8 * i));
	wr_buf_append(out, b, sizeof(b));
}

void
tm_evbuf_wm_restore(const tm_op_state *states, int n, bool highest, int64_t *wm)
{
	bool any = false;
	for (int s = 0; s < n; s++) {
		if (states[s].len != 8)
			continue;
		uint64_t u = 0;
		for (int i = 0; i < 8; i++)
			u |= (uint64_t)states[s].data[i] << (8 * i);
		int64_t v = (int64_t)u;
		if (!any || (highest ? v > *wm : v < *wm))
			*wm = v;
		any = true;
	}
}
