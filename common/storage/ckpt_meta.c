/*
 * ckpt_meta.c - encoding and decoding of a checkpoint's _metadata.
 */
#include "ckpt_meta.h"

#include "buf.h"
#include "err.h"
#include "mem.h"
#include "ckpt_meta_pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WR_CKPT_MAGIC       "WRCK"
#define WR_CKPT_HEADER_SIZE (4 + 4 + 8 + 8)

static uint64_t
wr_ckpt_fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void
wr_ckpt_put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
wr_ckpt_get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

wr_ckpt_meta *
wr_ckpt_meta_new(const char *job_id, const char *job_name, uint64_t id,
                 int64_t ts, bool savepoint, int max_parallelism)
{
	wr_ckpt_meta *m = wr_xcalloc(1, sizeof(*m));
	m->job_id = wr_xstrdup(job_id);
	m->job_name = wr_xstrdup(job_name ? job_name : "");
	m->id = id;
	m->timestamp_ms = ts;
	m->savepoint = savepoint;
	m->max_parallelism = max_parallelism;
	return m;
}

void
wr_ckpt_meta_free(wr_ckpt_meta *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nops; i++)
		free(m->ops[i].uid);
	for (size_t i = 0; i < m->nhandles; i++) {
		free(m->handles[i].uid);
		free(m->handles[i].path);
		free(m->handles[i].data);
		for (size_t j = 0; j < m->handles[i].nshared; j++)
			free(m->handles[i].shared[j]);
		free(m->handles[i].shared);
	}
	for (size_t i = 0; i < m->noffsets; i++) {
		free(m->offsets[i].uid);
		free(m->offsets[i].topic);
	}
	free(m->ops);
	free(m->handles);
	free(m->offsets);
	free(m->job_id);
	free(m->job_name);
	free(m);
}

void
wr_ckpt_meta_add_op(wr_ckpt_meta *m, const char *uid, int parallelism)
{
	if (wr_ckpt_meta_parallelism(m, uid) > 0)
		return;
	m->ops = wr_xrealloc(m->ops, (m->nops + 1) * sizeof(*m->ops));
	m->ops[m->nops].uid = wr_xstrdup(uid);
	m->ops[m->nops].parallelism = parallelism;
	m->nops++;
}

int
wr_ckpt_meta_parallelism(const wr_ckpt_meta *m, const char *uid)
{
	for (size_t i = 0; i < m->nops; i++)
		if (strcmp(m->ops[i].uid, uid) == 0)
			return m->ops[i].parallelism;
	return 0;
}

void
wr_ckpt_meta_add_handle(wr_ckpt_meta *m, const wr_ckpt_handle *h)
{
	m->handles =
	    wr_xrealloc(m->handles, (m->nhandles + 1) * sizeof(*m->handles));
	wr_ckpt_handle *c = &m->handles[m->nhandles++];
	*c = *h;
	c->uid = wr_xstrdup(h->uid);
	c->path = wr_xstrdup(h->path ? h->path : "");
	c->data = NULL;
	c->shared = NULL;
	if (h->nshared > 0) {
		c->shared = wr_xcalloc(h->nshared, sizeof(*c->shared));
		for (size_t j = 0; j < h->nshared; j++)
			c->shared[j] = wr_xstrdup(h->shared[j]);
	}
	if (h->len > 0) {
		c->data = wr_xmalloc(h->len);
		memcpy(c->data, h->data, h->len);
	}
}

void
wr_ckpt_meta_add_offset(wr_ckpt_meta *m, const wr_ckpt_offset *o)
{
	m->offsets =
	    wr_xrealloc(m->offsets, (m->noffsets + 1) * sizeof(*m->offsets));
	wr_ckpt_offset *c = &m->offsets[m->noffsets++];
	*c = *o;
	c->uid = wr_xstrdup(o->uid);
	c->topic = wr_xstrdup(o->topic ? o->topic : "");
}

void
wr_ckpt_meta_encode(const wr_ckpt_meta *m, wr_buf *out)
{
	Weir__CheckpointMetadata pm = WEIR__CHECKPOINT_METADATA__INIT;
	Weir__OperatorMeta *ops = wr_xcalloc(m->nops + 1, sizeof(*ops));
	Weir__OperatorMeta **opp = wr_xcalloc(m->nops + 1, sizeof(*opp));
	Weir__StateHandle *hs = wr_xcalloc(m->nhandles + 1, sizeof(*hs));
	Weir__StateHandle **hsp = wr_xcalloc(m->nhandles + 1, sizeof(*hsp));
	Weir__SourceOffset *os = wr_xcalloc(m->noffsets + 1, sizeof(*os));
	Weir__SourceOffset **osp = wr_xcalloc(m->noffsets + 1, sizeof(*osp));
	pm.format_version = WR_CKPT_META_VERSION;
	pm.job_id = m->job_id;
	pm.job_name = m->job_name;
	pm.checkpoint_id = m->id;
	pm.timestamp_ms = (uint64_t)m->timestamp_ms;
	pm.has_is_savepoint = 1;
	pm.is_savepoint = m->savepoint;
	pm.max_parallelism = (uint32_t)m->max_parallelism;
	for (size_t i = 0; i < m->nops; i++) {
		weir__operator_meta__init(&ops[i]);
		ops[i].uid = m->ops[i].uid;
		ops[i].parallelism = (uint32_t)m->ops[i].parallelism;
		opp[i] = &ops[i];
	}
	for (size_t i = 0; i < m->nhandles; i++) {
		wr_ckpt_pb_handle(&m->handles[i], &hs[i]);
		hsp[i] = &hs[i];
	}
	for (size_t i = 0; i < m->noffsets; i++) {
		wr_ckpt_pb_offset(&m->offsets[i], &os[i]);
		osp[i] = &os[i];
	}
	pm.n_operators = m->nops;
	pm.operators = opp;
	pm.n_state = m->nhandles;
	pm.state = hsp;
	pm.n_offsets = m->noffsets;
	pm.offsets = osp;

	size_t n = weir__checkpoint_metadata__get_packed_size(&pm);
	wr_buf_reserve(out, WR_CKPT_HEADER_SIZE + n);
	uint8_t *h = (uint8_t *)out->data + out->len;
	uint8_t *payload = h + WR_CKPT_HEADER_SIZE;
	weir__checkpoint_metadata__pack(&pm, payload);
	memcpy(h, WR_CKPT_MAGIC, 4);
	wr_ckpt_put_be(h + 4, WR_CKPT_META_VERSION, 4);
	wr_ckpt_put_be(h + 8, n, 8);
	wr_ckpt_put_be(h + 16, wr_ckpt_fnv1a(payload, n), 8);
	out->len += WR_CKPT_HEADER_SIZE + n;
	out->data[out->len] = '\0';
	free(ops);
	free(opp);
	free(hs);
	free(hsp);
	free(os);
	free(osp);
}

static int
wr_ckpt_meta_from_pb(const Weir__CheckpointMetadata *pm, wr_ckpt_meta **out,
                     char *errbuf, size_t errlen)
{
	if (pm->max_parallelism == 0 || pm->max_parallelism > 32768) {
		snprintf(errbuf, errlen, "bad max_parallelism %u",
		         pm->max_parallelism);
		return WR_ECORRUPT;
	}
	wr_ckpt_meta *m = wr_ckpt_meta_new(
	    pm->job_id, pm->job_name, pm->checkpoint_id,
	    (int64_t)pm->timestamp_ms, pm->has_is_savepoint && pm->is_savepoint,
	    (int)pm->max_parallelism);
	for (size_t i = 0; i < pm->n_operators; i++)
		wr_ckpt_meta_add_op(m, pm->operators[i]->uid,
		                    (int)pm->operators[i]->parallelism);
	for (size_t i = 0; i < pm->n_state; i++) {
		const Weir__StateHandle *p = pm->state[i];
		bool keyed = !p->has_kind || p->kind == WR_CKPT_KEYED;
		bool shared_ok = p->n_shared <= WR_CKPT_MAX_SHARED;
		for (size_t j = 0; j < p->n_shared && shared_ok; j++) {
			uint64_t id;
			shared_ok = wr_ckpt_shared_id(p->shared[j], &id);
		}
		if (keyed &&
		    (p->key_group_start > p->key_group_end ||
		     p->key_group_end >= pm->max_parallelism || !shared_ok ||
		     strstr(p->path, "..") != NULL || p->path[0] == '/')) {
			snprintf(errbuf, errlen,
			         "bad state handle for '%s' subtask %u",
			         p->operator_uid, p->subtask);
			wr_ckpt_meta_free(m);
			return WR_ECORRUPT;
		}
		wr_ckpt_meta_add_pb_handle(m, p);
	}
	for (size_t i = 0; i < pm->n_offsets; i++)
		wr_ckpt_meta_add_pb_offset(m, pm->offsets[i]);
	*out = m;
	return WR_OK;
}

int
wr_ckpt_meta_decode(const void *data, size_t len, wr_ckpt_meta **out,
                    char *errbuf, size_t errlen)
{
	const uint8_t *p = data;
	if (len < WR_CKPT_HEADER_SIZE || memcmp(p, WR_CKPT_MAGIC, 4) != 0) {
		snprintf(errbuf, errlen,
		         "not a weir checkpoint metadata file "
		         "(too short or no WRCK header)");
		return WR_ECORRUPT;
	}
	uint64_t version = wr_ckpt_get_be(p + 4, 4);
	uint64_t n = wr_ckpt_get_be(p + 8, 8);
	uint64_t sum = wr_ckpt_get_be(p + 16, 8);
	if (version != WR_CKPT_META_VERSION) {
		snprintf(errbuf, errlen,
		         "metadata format version %llu; this weir reads %d",
		         (unsigned long long)version, WR_CKPT_META_VERSION);
		return WR_ECORRUPT;
	}
	if (n != len - WR_CKPT_HEADER_SIZE) {
		snprintf(errbuf, errlen,
		         "metadata truncated: %llu payload bytes of %llu",
		         (unsigned long long)(len - WR_CKPT_HEADER_SIZE),
		         (unsigned long long)n);
		return WR_ECORRUPT;
	}
	if (wr_ckpt_fnv1a(p + WR_CKPT_HEADER_SIZE, n) != sum) {
		snprintf(errbuf, errlen, "metadata checksum mismatch");
		return WR_ECORRUPT;
	}
	Weir__CheckpointMetadata *pm =
	    weir__checkpoint_metadata__unpack(NULL, n, p + WR_CKPT_HEADER_SIZE);
	if (pm == NULL) {
		snprintf(errbuf, errlen, "metadata does not decode");
		return WR_ECORRUPT;
	}
	int rv = wr_ckpt_meta_from_pb(pm, out, errbuf, errlen);
	weir__checkpoint_metadata__free_unpacked(pm, NULL);
	return rv;
}

void
wr_ckpt_pb_handle(const wr_ckpt_handle *h, Weir__StateHandle *p)
{
	weir__state_handle__init(p);
	p->operator_uid = h->uid;
	p->subtask = (uint32_t)h->subtask;
	p->path = h->path ? h->path : "";
	p->has_size_bytes = p->has_kind = 1;
	p->size_bytes = h->size;
	p->kind = (uint32_t)h->kind;
	if (h->kind == WR_CKPT_KEYED) {
		p->has_key_group_start = p->has_key_group_end = 1;
		p->key_group_start = (uint32_t)h->kg_first;
		p->key_group_end = (uint32_t)h->kg_last;
	}
	p->n_shared = h->nshared;
	p->shared = h->shared;
	if (h->len > 0) {
		p->has_data = 1;
		p->data.data = h->data;
		p->data.len = h->len;
	}
}

void
wr_ckpt_pb_offset(const wr_ckpt_offset *o, Weir__SourceOffset *p)
{
	weir__source_offset__init(p);
	p->topic = o->topic;
	p->partition = o->partition;
	p->offset = o->offset;
	p->operator_uid = o->uid;
	p->has_subtask = 1;
	p->subtask = (uint32_t)o->subtask;
}

void
wr_ckpt_meta_add_pb_handle(wr_ckpt_meta *m, const Weir__StateHandle *p)
{
	wr_ckpt_handle h = {
	    .uid = p->operator_uid,
	    .subtask = (int)p->subtask,
	    .kind = p->has_kind ? (int)p->kind : WR_CKPT_KEYED,
	    .path = p->path,
	    .size = p->size_bytes,
	    .kg_first = (int)p->key_group_start,
	    .kg_last = (int)p->key_group_end,
	    .data = p->has_data ? p->data.data : NULL,
	    .len = p->has_data ? p->data.len : 0,
	    .shared = p->shared,
	    .nshared = p->n_shared,
	};
	wr_ckpt_meta_add_handle(m, &h);
}

void
wr_ckpt_meta_add_pb_offset(wr_ckpt_meta *m, const Weir__SourceOffset *p)
{
	wr_ckpt_offset o = {
	    .uid = p->operator_uid ? p->operator_uid : "",
	    .subtask = (int)p->subtask,
	    .topic = p->topic,
	    .partition = p->partition,
	    .offset = p->offset,
	};
	wr_ckpt_meta_add_offset(m, &o);
}

bool
wr_ckpt_shared_id(const char *path, uint64_t *id)
{
	if (strncmp(path, "chk-", 4) != 0)
		return false;
	const char *p = path + 4;
	uint64_t n = 0;
	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return false;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	if (*p != '/' || p[1] == '\0' || strchr(p + 1, '/') != NULL ||
	    strstr(p + 1, "..") != NULL)
		return false;
	*id = n;
	return true;
}

uint64_t
wr_ckpt_meta_oldest(const wr_ckpt_meta *m)
{
	uint64_t oldest = m->id;
	for (size_t i = 0; i < m->nhandles; i++)
		for (size_t j = 0; j < m->handles[i].nshared; j++) {
			uint64_t id;
			if (wr_ckpt_shared_id(m->handles[i].shared[j], &id) &&
			    id < oldest)
				oldest = id;
		}
	return oldest;
}
