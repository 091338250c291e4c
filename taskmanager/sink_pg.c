/*
 * sink_pg.c - the PostgreSQL sink (libpq): rows go into an existing table,
 * one column per input field (by name, quoted), appended with COPY or
 * upserted with INSERT ... ON CONFLICT (key) DO UPDATE.
 *
 * Without checkpoints every batch commits on its own (at-least-once).
 * With checkpoints the sink is exactly-once by two-phase commit: the open
 * transaction holds the rows since the last barrier; the barrier prepares
 * it (PREPARE TRANSACTION 'weir:<job>:<node>:<subtask>:<ckpt>'); the
 * checkpoint's completion commits it (COMMIT PREPARED). A restore commits
 * the prepared transactions of the restored checkpoint and earlier ones
 * (their checkpoints are part of it) and rolls back later ones (their
 * checkpoints never completed). The protocol is the two-phase-commit
 * skeleton's (sink_2pc.h); this file supplies its steps, also without
 * checkpoints (then nothing is ever prepared). docs/sinks.md explains the
 * choices.
 *
 * Batches: COPY appends about 2.3x faster than multi-row INSERT (measured
 * on PostgreSQL 15: 500-690 K rows/s against 200-240 K rows/s for six
 * columns), so append uses COPY; upsert needs ON CONFLICT, so it sends
 * INSERTs of TM_PG_UPSERT_ROWS rows, after keeping only the last row of
 * each key in the batch (one statement may not update a row twice).
 *
 * While a prepared transaction waits for its checkpoint to complete, new
 * rows wait in memory (up to TM_PG_DEFER_MAX_BYTES): the prepared
 * transaction holds its row locks, and an upsert of the same key would
 * wait for a commit that only this thread can run.
 *
 * Everything runs on the task's thread.
 */
#include "sink_2pc.h"

#include "clock.h"
#include "err.h"
#include "log.h"
#include "mem.h"
#include "varint.h"
#include "wr_limits.h"

#include <libpq-fe.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows per COPY (append) and per INSERT statement (upsert): the measured
 * sweet spots (COPY gains little past 5000, INSERT loses past 500). */
#define TM_PG_APPEND_ROWS 5000
#define TM_PG_UPSERT_ROWS 500
/* A batch is sent at this size even with fewer rows. */
#define TM_PG_BATCH_BYTES (4u * 1024u * 1024u)
/* Rows wait at most this long before they are sent (a tick sends them). */
#define TM_PG_LINGER_MS 100
/* PostgreSQL's GIDSIZE: the longest transaction identifier, NUL included.
 * Ours take at most 5 + 32 + 1 + 63 + 1 + 10 + 1 + 20 = 133 bytes. */
#define TM_PG_GID_BYTES 200
#define TM_PG_STATE_V1  1
#define TM_PG_ERR_BYTES 400

enum tm_pg_fmt { TM_PG_COPY, TM_PG_LITERAL };

/* One buffered upsert row: its "(...)" tuple and its key's text in keys. */
typedef struct tm_pg_ent {
	size_t row_off, row_len;
	size_t key_off, key_len;
	uint64_t hash;
	bool dead;  /* replaced by a later row with the same key */
	bool keyed; /* no NULL in the key: takes part in deduplication */
} tm_pg_ent;

typedef struct tm_pg {
	tm_ctx *ctx;
	const tm_op_conf *conf;
	tm_2pc *x;
	const wr_node_spec *node;
	const wr_sink_spec *sk;
	const wr_schema *in;
	bool twopc; /* checkpointing on: exactly-once by two-phase commit */
	PGconn *conn;
	PGconn *ctl; /* COMMIT PREPARED while conn is inside a transaction */
	bool in_txn; /* conn is inside a transaction with rows (twopc) */
	int64_t lock_timeout_ms;
	/* statements, built once */
	wr_buf copy_sql, insert_head, upsert_tail, check_sql;
	/* the batch */
	wr_buf batch, keys;
	size_t nrows; /* live rows in batch */
	int64_t first_ms;
	tm_pg_ent *ents;
	size_t nents, cap_ents;
	uint32_t *slots; /* upsert: open addressing over ents (index + 1) */
	size_t nslots;
	wr_buf sql; /* scratch */
	char err[TM_PG_ERR_BYTES];
	char sqlstate[6];
} tm_pg;

/* ---- values and rows ------------------------------------------------- */

/* Appends a string for COPY's text format (backslash escapes) or inside a
 * standard-conforming SQL literal (quotes doubled). PostgreSQL text
 * cannot hold NUL: WR_EINVAL. */
static int
tm_pg_put_str(wr_buf *out, const char *p, size_t len, enum tm_pg_fmt fmt)
{
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		const char *esc = NULL;
		char c = p[i];
		if (c == '\0')
			return WR_EINVAL;
		if (fmt == TM_PG_LITERAL)
			esc = c == '\'' ? "''" : NULL;
		else
			esc = c == '\\'   ? "\\\\"
			      : c == '\n' ? "\\n"
			      : c == '\r' ? "\\r"
			      : c == '\t' ? "\\t"
			                  : NULL;
		if (esc == NULL)
			continue;
		wr_buf_append(out, p + run, i - run);
		wr_buf_puts(out, esc);
		run = i + 1;
	}
	wr_buf_append(out, p + run, len - run);
	return WR_OK;
}

/* The shortest of %.15g, %.16g, %.17g that reads back as d; NaN and the
 * infinities as PostgreSQL spells them; -0 as 0 (equal keys, one text). */
static void
tm_pg_put_double(wr_buf *out, double d)
{
	char tmp[32];
	if (isnan(d)) {
		wr_buf_puts(out, "NaN");
		return;
	}
	if (isinf(d)) {
		wr_buf_puts(out, d > 0 ? "Infinity" : "-Infinity");
		return;
	}
	if (d == 0.0)
		d = 0.0;
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	wr_buf_puts(out, tmp);
}

/*
 * Appends one value as PostgreSQL input text: COPY text format (NULL is
 * \N) or a quoted literal (NULL is NULL). Every non-null value is quoted
 * in a literal so the server converts it to the column's type. Timestamps
 * are ISO-8601 UTC with milliseconds. Errors: WR_EINVAL (a NUL in a
 * string, a timestamp outside the years 0000-9999) with the reason in why.
 */
static int
tm_pg_put_value(wr_buf *out, const wr_value *v, enum tm_pg_fmt fmt,
                const char **why)
{
	char ts[WR_TS_ISO_BYTES];
	if (v->type == WR_T_NULL) {
		wr_buf_puts(out, fmt == TM_PG_COPY ? "\\N" : "NULL");
		return WR_OK;
	}
	if (fmt == TM_PG_LITERAL)
		wr_buf_putc(out, '\'');
	switch (v->type) {
	case WR_T_STRING:
		if (tm_pg_put_str(out, v->u.s.p, v->u.s.len, fmt) != WR_OK) {
			*why = "contains a NUL byte, which PostgreSQL text "
			       "cannot store";
			return WR_EINVAL;
		}
		break;
	case WR_T_LONG:
		wr_buf_printf(out, "%" PRId64, v->u.i);
		break;
	case WR_T_DOUBLE:
		tm_pg_put_double(out, v->u.d);
		break;
	case WR_T_BOOL:
		wr_buf_puts(out, v->u.b ? "true" : "false");
		break;
	case WR_T_TIMESTAMP:
		if (!wr_ts_format_iso8601(v->u.i, ts)) {
			*why = "is a timestamp outside the years 0000-9999";
			return WR_EINVAL;
		}
		wr_buf_puts(out, ts);
		break;
	default:
		*why = "has an unknown type";
		return WR_EINVAL;
	}
	if (fmt == TM_PG_LITERAL)
		wr_buf_putc(out, '\'');
	return WR_OK;
}

static uint64_t
tm_pg_hash(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
	return h;
}

static void
tm_pg_batch_reset(tm_pg *s)
{
	wr_buf_reset(&s->batch);
	wr_buf_reset(&s->keys);
	s->nrows = 0;
	s->nents = 0;
	if (s->slots != NULL)
		memset(s->slots, 0, s->nslots * sizeof(*s->slots));
}

/* The slot of key (hash h) in the upsert table: the one holding an entry
 * with that key, or the empty one where it goes. */
static uint32_t *
tm_pg_slot(tm_pg *s, const char *key, size_t len, uint64_t h)
{
	size_t mask = s->nslots - 1;
	for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
		uint32_t *sl = &s->slots[i];
		if (*sl == 0)
			return sl;
		const tm_pg_ent *e = &s->ents[*sl - 1];
		if (e->hash == h && e->key_len == len &&
		    memcmp(s->keys.data + e->key_off, key, len) == 0)
			return sl;
	}
}

static void
tm_pg_slots_grow(tm_pg *s)
{
	free(s->slots);
	s->nslots = s->nslots ? s->nslots * 2 : 1024;
	s->slots = wr_xcalloc(s->nslots, sizeof(*s->slots));
	for (size_t i = 0; i < s->nents; i++) {
		const tm_pg_ent *e = &s->ents[i];
		if (e->dead || !e->keyed)
			continue;
		*tm_pg_slot(s, s->keys.data + e->key_off, e->key_len, e->hash) =
		    (uint32_t)(i + 1);
	}
}

/* Upsert: appends "(v1,v2,...)" to the batch; an earlier row of the batch
 * with the same key (all non-null) is replaced. */
static int
tm_pg_add_upsert(tm_pg *s, const wr_row *r, int *bad, const char **why)
{
	const wr_sink_spec *sk = s->sk;
	tm_pg_ent e = {.row_off = s->batch.len, .key_off = s->keys.len};
	e.keyed = true;
	wr_buf_putc(&s->batch, '(');
	for (uint32_t f = 0; f < s->in->n; f++) {
		const wr_value *v = &r->v[f];
		if (f > 0)
			wr_buf_putc(&s->batch, ',');
		if (tm_pg_put_value(&s->batch, v, TM_PG_LITERAL, why) !=
		    WR_OK) {
			*bad = (int)f;
			s->batch.len = e.row_off;
			s->keys.len = e.key_off;
			return WR_EINVAL;
		}
	}
	wr_buf_putc(&s->batch, ')');
	e.row_len = s->batch.len - e.row_off;
	for (int k = 0; k < sk->npg_keys; k++) {
		const wr_value *v = &r->v[sk->pg_keys[k]];
		e.keyed &= v->type != WR_T_NULL;
		if (k > 0)
			wr_buf_putc(&s->keys, ',');
		tm_pg_put_value(&s->keys, v, TM_PG_LITERAL, why);
	}
	e.key_len = s->keys.len - e.key_off;
	e.hash = tm_pg_hash(s->keys.data + e.key_off, e.key_len);
	if (s->nents == s->cap_ents) {
		s->cap_ents = s->cap_ents ? s->cap_ents * 2 : 1024;
		s->ents = wr_xrealloc(s->ents, s->cap_ents * sizeof(*s->ents));
	}
	if (s->nents + 1 > s->nslots / 2)
		tm_pg_slots_grow(s);
	s->ents[s->nents] = e;
	s->nrows++;
	if (e.keyed) {
		uint32_t *sl =
		    tm_pg_slot(s, s->keys.data + e.key_off, e.key_len, e.hash);
		if (*sl != 0) {
			s->ents[*sl - 1].dead = true;
			s->nrows--;
		}
		*sl = (uint32_t)(s->nents + 1);
	}
	s->nents++;
	return WR_OK;
}

/* Appends r to the batch (a COPY line, or an upsert tuple). */
static int
tm_pg_add_row(tm_pg *s, const wr_row *r)
{
	const char *why = "";
	int bad = 0, rv = WR_OK;
	if (s->nrows == 0)
		s->first_ms = wr_mono_ms();
	if (s->sk->upsert) {
		rv = tm_pg_add_upsert(s, r, &bad, &why);
	} else {
		size_t start = s->batch.len;
		for (uint32_t f = 0; f < s->in->n && rv == WR_OK; f++) {
			if (f > 0)
				wr_buf_putc(&s->batch, '\t');
			rv = tm_pg_put_value(&s->batch, &r->v[f], TM_PG_COPY,
			                     &why);
			bad = (int)f;
		}
		if (rv == WR_OK) {
			wr_buf_putc(&s->batch, '\n');
			s->nrows++;
		} else {
			s->batch.len = start;
		}
	}
	if (rv != WR_OK)
		tm_2pc_fail(s->x, rv, "field '%s' %s", s->in->fields[bad].name,
		            why);
	return rv;
}

/* ---- statements ------------------------------------------------------ */

static void
tm_pg_put_ident(wr_buf *out, const char *name, size_t len)
{
	wr_buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '"')
			wr_buf_putc(out, '"');
		wr_buf_putc(out, name[i]);
	}
	wr_buf_putc(out, '"');
}

/* "schema"."table" or "table": names are used as written. */
static void
tm_pg_put_table(wr_buf *out, const char *table)
{
	const char *dot = strchr(table, '.');
	if (dot != NULL) {
		tm_pg_put_ident(out, table, (size_t)(dot - table));
		wr_buf_putc(out, '.');
		table = dot + 1;
	}
	tm_pg_put_ident(out, table, strlen(table));
}

static bool
tm_pg_is_key(const wr_sink_spec *sk, uint32_t f)
{
	for (int k = 0; k < sk->npg_keys; k++)
		if (sk->pg_keys[k] == (int)f)
			return true;
	return false;
}

/* Builds COPY, INSERT, ON CONFLICT and the EXPLAIN that checks them. */
static void
tm_pg_build_sql(tm_pg *s)
{
	const wr_sink_spec *sk = s->sk;
	wr_buf cols;
	wr_buf_init(&cols);
	for (uint32_t f = 0; f < s->in->n; f++) {
		const char *name = s->in->fields[f].name;
		if (f > 0)
			wr_buf_putc(&cols, ',');
		tm_pg_put_ident(&cols, name, strlen(name));
	}
	wr_buf_puts(&s->copy_sql, "COPY ");
	tm_pg_put_table(&s->copy_sql, sk->table);
	wr_buf_printf(&s->copy_sql, " (%s) FROM STDIN", cols.data);
	wr_buf_puts(&s->insert_head, "INSERT INTO ");
	tm_pg_put_table(&s->insert_head, sk->table);
	wr_buf_printf(&s->insert_head, " (%s) VALUES ", cols.data);
	if (sk->upsert) {
		bool any = false;
		wr_buf_puts(&s->upsert_tail, " ON CONFLICT (");
		for (int k = 0; k < sk->npg_keys; k++) {
			const char *name = s->in->fields[sk->pg_keys[k]].name;
			if (k > 0)
				wr_buf_putc(&s->upsert_tail, ',');
			tm_pg_put_ident(&s->upsert_tail, name, strlen(name));
		}
		wr_buf_puts(&s->upsert_tail, ") DO UPDATE SET ");
		for (uint32_t f = 0; f < s->in->n; f++) {
			const char *name = s->in->fields[f].name;
			if (tm_pg_is_key(sk, f))
				continue;
			if (any)
				wr_buf_putc(&s->upsert_tail, ',');
			tm_pg_put_ident(&s->upsert_tail, name, strlen(name));
			wr_buf_puts(&s->upsert_tail, "=EXCLUDED.");
			tm_pg_put_ident(&s->upsert_tail, name, strlen(name));
			any = true;
		}
		if (!any) { /* every field is a key: nothing to update */
			char *p =
			    strstr(s->upsert_tail.data, " DO UPDATE SET ");
			s->upsert_tail.len = (size_t)(p - s->upsert_tail.data);
			s->upsert_tail.data[s->upsert_tail.len] = '\0';
			wr_buf_puts(&s->upsert_tail, " DO NOTHING");
		}
	}
	/* Planning (no execution) checks the table, the columns, the
	 * privileges and, for ON CONFLICT, the unique index on the key. */
	wr_buf_printf(&s->check_sql, "EXPLAIN %s(", s->insert_head.data);
	for (uint32_t f = 0; f < s->in->n; f++)
		wr_buf_puts(&s->check_sql, f > 0 ? ",NULL" : "NULL");
	wr_buf_printf(&s->check_sql, ")%s",
	              s->upsert_tail.len ? s->upsert_tail.data : "");
	wr_buf_fini(&cols);
}

/* ---- transaction ids and snapshots ----------------------------------- */

/* "weir:<job>:<node>:<subtask>:" - every gid of one sink subtask. */
static void
tm_pg_gid_prefix(char *out, size_t len, const char *job, const char *node,
                 int subtask)
{
	snprintf(out, len, "weir:%s:%s:%d:", job, node, subtask);
}

static void
tm_pg_gid(char *out, size_t len, const char *job, const char *node, int subtask,
          uint64_t ckpt)
{
	snprintf(out, len, "weir:%s:%s:%d:%" PRIu64, job, node, subtask, ckpt);
}

/* The checkpoint id of gid if it is prefix + decimal digits. */
static bool
tm_pg_gid_ckpt(const char *gid, const char *prefix, uint64_t *ckpt)
{
	size_t n = strlen(prefix);
	uint64_t v = 0;
	if (strncmp(gid, prefix, n) != 0 || gid[n] == '\0')
		return false;
	for (const char *p = gid + n; *p != '\0'; p++) {
		uint64_t d = (uint64_t)(*p - '0');
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*ckpt = v;
	return true;
}

/*
 * Snapshot layout, version 1 (docs/sinks.md): version byte 1, flags byte
 * (bit 0: a transaction was prepared for this checkpoint), then the shared
 * head (tm_2pc_head_put: subtask, checkpoint id, job id, node id, table).
 * The gid is "weir:<job>:<node>:<subtask>:<ckpt>".
 */
static void
tm_pg_state_encode(const tm_2pc_head *h, bool prepared, wr_buf *out)
{
	wr_buf_putc(out, TM_PG_STATE_V1);
	wr_buf_putc(out, prepared ? 1 : 0);
	tm_2pc_head_put(out, h);
}

/* WR_ECORRUPT unless p is exactly one version-1 snapshot; npending is 1
 * when it prepared a transaction. */
static int
tm_pg_state_decode(const uint8_t *p, size_t len, tm_2pc_head *h)
{
	size_t pos = 2;
	if (len < 2 || p[0] != TM_PG_STATE_V1 || (p[1] & ~1u) != 0 ||
	    tm_2pc_head_get(p, len, &pos, h, "_$.", 128) != WR_OK || pos != len)
		return WR_ECORRUPT;
	h->npending = p[1] & 1;
	tm_pg_gid_prefix(h->name, sizeof(h->name), h->job_id, h->node,
	                 h->subtask);
	return WR_OK;
}

/* ---- connections ----------------------------------------------------- */

/* Records the error of res (or of c) in s->err and s->sqlstate. */
static void
tm_pg_set_err(tm_pg *s, PGconn *c, const PGresult *res)
{
	const char *primary =
	    res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state =
	    res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", state ? state : "");
	if (primary != NULL) {
		const char *detail =
		    PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		const char *hint =
		    PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
		snprintf(s->err, sizeof(s->err), "%s%s%s%s%s (SQLSTATE %s)",
		         primary, detail ? "; " : "", detail ? detail : "",
		         hint ? "; hint: " : "", hint ? hint : "", s->sqlstate);
	} else {
		snprintf(s->err, sizeof(s->err), "%s",
		         c ? PQerrorMessage(c) : "out of memory");
	}
	/* libpq's messages end in newlines and may span lines: one line. */
	for (char *p = s->err; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	for (size_t n = strlen(s->err); n > 0 && s->err[n - 1] == ' '; n--)
		s->err[n - 1] = '\0';
}

/*
 * Runs sql on c and wants status back. On success *out (if not NULL)
 * takes the result (PQclear it). Errors: WR_EUNREACHABLE when the
 * connection is gone, WR_EINVAL for any other failure; s->err says why.
 */
static int
tm_pg_exec(tm_pg *s, PGconn *c, const char *sql, ExecStatusType want,
           PGresult **out)
{
	PGresult *res = PQexec(c, sql);
	if (res != NULL && PQresultStatus(res) == want) {
		if (out != NULL)
			*out = res;
		else
			PQclear(res);
		return WR_OK;
	}
	tm_pg_set_err(s, c, res);
	PQclear(res);
	return PQstatus(c) == CONNECTION_BAD ? WR_EUNREACHABLE : WR_EINVAL;
}

/* Session settings every connection needs: our literals are standard
 * conforming; a 'timestamp' column gets UTC; with prepared transactions a
 * lock wait must end (see the file comment). */
static int
tm_pg_session(tm_pg *s, PGconn *c)
{
	wr_buf_reset(&s->sql);
	wr_buf_puts(&s->sql, "SET standard_conforming_strings = on; "
	                     "SET TimeZone = 'UTC'");
	if (s->twopc)
		wr_buf_printf(&s->sql, "; SET lock_timeout = %lld",
		              (long long)s->lock_timeout_ms);
	return tm_pg_exec(s, c, s->sql.data, PGRES_COMMAND_OK, NULL);
}

/* The server's notices and warnings go to weir's log, not stderr. */
static void
tm_pg_notice(void *arg, const char *msg)
{
	const tm_pg *s = arg;
	int n = (int)strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		n--;
	wr_log(WR_LOG_INFO, "PG-SINK-NOTICE", "%s node=%s: %.*s",
	       s->conf->label, s->node->id, n, msg);
}

/* A new connection with weir's defaults; the DSN's settings win. */
static int
tm_pg_connect(tm_pg *s, PGconn **out)
{
	char app[96];
	const tm_op_conf *sp = s->conf;
	snprintf(app, sizeof(app), "weir %.8s %s/%d", sp->job_id, s->node->id,
	         sp->subtask);
	/* Later keywords override earlier ones, so dbname (the DSN,
	 * expanded) comes last. */
	const char *kw[] = {"application_name", "connect_timeout",
	                    "client_encoding",  "keepalives",
	                    "keepalives_idle",  "keepalives_interval",
	                    "keepalives_count", "tcp_user_timeout",
	                    "dbname",           NULL};
	const char *val[] = {app, "10", "UTF8",  "1",        "10",
	                     "5", "3",  "30000", s->sk->dsn, NULL};
	PGconn *c = PQconnectdbParams(kw, val, 1);
	int rv;
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		tm_pg_set_err(s, c, NULL);
		PQfinish(c);
		return WR_EUNREACHABLE;
	}
	PQsetNoticeProcessor(c, tm_pg_notice, s);
	if ((rv = tm_pg_session(s, c)) != WR_OK) {
		PQfinish(c);
		return rv;
	}
	*out = c;
	return WR_OK;
}

/* Reconnects *c (its transaction, if any, is gone). */
static int
tm_pg_reconnect(tm_pg *s, PGconn **c)
{
	wr_log(WR_LOG_WARN, "PG-SINK-RECONNECT", "%s node=%s: %s",
	       s->conf->label, s->node->id, s->err);
	PQfinish(*c);
	*c = NULL;
	return tm_pg_connect(s, c);
}

/* Records a failure of the sink: the task fails with the libpq text. */
static int
tm_pg_fail(tm_pg *s, int rv, const char *what)
{
	return tm_2pc_fail(s->x, rv, "%s: %s", what, s->err);
}

/* ---- sending a batch -------------------------------------------------- */

static int
tm_pg_send_copy(tm_pg *s)
{
	PGresult *res;
	int rv = tm_pg_exec(s, s->conn, s->copy_sql.data, PGRES_COPY_IN, NULL);
	if (rv != WR_OK)
		return rv;
	/* On a failed put, PQgetResult reports the error. */
	if (PQputCopyData(s->conn, s->batch.data, (int)s->batch.len) == 1)
		PQputCopyEnd(s->conn, NULL);
	else
		PQputCopyEnd(s->conn, "weir: sending failed");
	res = PQgetResult(s->conn);
	if (res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK) {
		rv = WR_OK;
	} else {
		tm_pg_set_err(s, s->conn, res);
		rv = PQstatus(s->conn) == CONNECTION_BAD ? WR_EUNREACHABLE
		                                         : WR_EINVAL;
	}
	PQclear(res);
	while ((res = PQgetResult(s->conn)) != NULL)
		PQclear(res);
	return rv;
}

static int
tm_pg_send_upsert(tm_pg *s)
{
	size_t i = 0;
	while (i < s->nents) {
		int n = 0, rv;
		wr_buf_reset(&s->sql);
		wr_buf_puts(&s->sql, s->insert_head.data);
		for (; i < s->nents && n < TM_PG_UPSERT_ROWS; i++) {
			const tm_pg_ent *e = &s->ents[i];
			if (e->dead)
				continue;
			if (n++ > 0)
				wr_buf_putc(&s->sql, ',');
			wr_buf_append(&s->sql, s->batch.data + e->row_off,
			              e->row_len);
		}
		if (n == 0)
			break;
		wr_buf_puts(&s->sql, s->upsert_tail.data);
		if ((rv = tm_pg_exec(s, s->conn, s->sql.data, PGRES_COMMAND_OK,
		                     NULL)) != WR_OK)
			return rv;
	}
	return WR_OK;
}

static int
tm_pg_send(tm_pg *s)
{
	int rv;
	if (s->twopc && !s->in_txn) {
		if ((rv = tm_pg_exec(s, s->conn, "BEGIN", PGRES_COMMAND_OK,
		                     NULL)) != WR_OK)
			return rv;
		s->in_txn = true;
	}
	return s->sk->upsert ? tm_pg_send_upsert(s) : tm_pg_send_copy(s);
}

/* The lock wait that a prepared transaction can cause (file comment). */
static const char *
tm_pg_lock_hint(const tm_pg *s)
{
	if (strcmp(s->sqlstate, "55P03") != 0)
		return "write failed";
	return "write failed waiting for a row lock (with checkpoints a "
	       "prepared transaction keeps its rows locked until its "
	       "checkpoint completes: in upsert mode, key_by the sink's "
	       "input on its key so one key's rows come from one subtask)";
}

/*
 * Sends the batch. A broken connection is reconnected and the batch sent
 * again once - unless the open transaction already held earlier rows:
 * they are gone with the connection, and the task must fail (a restart
 * replays them from the checkpoint).
 */
static int
tm_pg_flush(tm_pg *s)
{
	bool had_rows = s->in_txn;
	if (s->nrows == 0)
		return WR_OK;
	for (int attempt = 0;; attempt++) {
		int rv = tm_pg_send(s);
		if (rv == WR_OK)
			break;
		if (rv != WR_EUNREACHABLE || attempt > 0 || had_rows)
			return tm_pg_fail(s, rv, tm_pg_lock_hint(s));
		s->in_txn = false;
		if ((rv = tm_pg_reconnect(s, &s->conn)) != WR_OK)
			return tm_pg_fail(s, rv, "reconnect failed");
	}
	tm_pg_batch_reset(s);
	return WR_OK;
}

/* Rows are held back while a prepared transaction waits (file comment). */
static bool
tm_pg_deferred(const tm_pg *s)
{
	return s->twopc && tm_2pc_npending(s->x) > 0;
}

static int
tm_pg_maybe_flush(tm_pg *s, bool tick)
{
	size_t rows = s->sk->upsert ? TM_PG_UPSERT_ROWS : TM_PG_APPEND_ROWS;
	if (s->nrows == 0)
		return WR_OK;
	if (tm_pg_deferred(s))
		return s->batch.len >= TM_PG_DEFER_MAX_BYTES ? tm_pg_flush(s)
		                                             : WR_OK;
	if (s->nrows >= rows || s->batch.len >= TM_PG_BATCH_BYTES ||
	    (tick && wr_mono_ms() - s->first_ms >= TM_PG_LINGER_MS))
		return tm_pg_flush(s);
	return WR_OK;
}

/* ---- prepared transactions ------------------------------------------- */

/* The connection for COMMIT/ROLLBACK PREPARED, which cannot run inside a
 * transaction: conn, or a second one while conn is inside one. */
static int
tm_pg_ctl_conn(tm_pg *s, PGconn ***out)
{
	int rv;
	if (!s->in_txn) {
		*out = &s->conn;
		return WR_OK;
	}
	if (s->ctl == NULL && (rv = tm_pg_connect(s, &s->ctl)) != WR_OK)
		return rv;
	*out = &s->ctl;
	return WR_OK;
}

/* COMMIT PREPARED or ROLLBACK PREPARED gid. A gid that is gone was
 * finished by someone else (a restore of another attempt): a warning.
 * Reconnects once. */
static int
tm_pg_end_prepared(tm_pg *s, const char *gid, bool commit)
{
	PGconn **c;
	int rv = tm_pg_ctl_conn(s, &c);
	if (rv != WR_OK)
		return rv;
	wr_buf_reset(&s->sql);
	wr_buf_printf(&s->sql, "%s PREPARED '%s'",
	              commit ? "COMMIT" : "ROLLBACK", gid);
	for (int attempt = 0;; attempt++) {
		rv = tm_pg_exec(s, *c, s->sql.data, PGRES_COMMAND_OK, NULL);
		if (rv == WR_OK)
			return WR_OK;
		if (strcmp(s->sqlstate, "42704") == 0) { /* undefined_object */
			wr_log(WR_LOG_WARN, "PG-SINK-GID-GONE",
			       "%s node=%s: %s: %s", s->conf->label,
			       s->node->id, s->sql.data, s->err);
			return WR_OK;
		}
		if (rv != WR_EUNREACHABLE || attempt > 0)
			return rv;
		if ((rv = tm_pg_reconnect(s, c)) != WR_OK)
			return rv;
	}
}

/*
 * Settles what one subtask of a run left prepared (its gids start with
 * prefix): its transactions of checkpoint ckpt and earlier are part of
 * the restored checkpoint (commit), later ones belong to checkpoints that
 * never completed (roll back, unless later is false: then they are left
 * alone). ckpt 0 rolls back everything.
 */
static int
tm_pg_resolve(tm_pg *s, const char *prefix, uint64_t ckpt, bool later)
{
	const char *params[1] = {prefix};
	int rv = WR_OK, ncommit = 0, nrollback = 0;
	PGresult *res = PQexecParams(
	    s->conn,
	    "SELECT gid FROM pg_prepared_xacts WHERE database = "
	    "current_database() AND starts_with(gid, $1) ORDER BY prepared",
	    1, NULL, params, NULL, NULL, 0);
	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
		tm_pg_set_err(s, s->conn, res);
		PQclear(res);
		return WR_EINVAL;
	}
	for (int i = 0; i < PQntuples(res) && rv == WR_OK; i++) {
		const char *gid = PQgetvalue(res, i, 0);
		uint64_t id;
		if (!tm_pg_gid_ckpt(gid, prefix, &id) || (id > ckpt && !later))
			continue; /* not one of ours, or not ours to end */
		rv = tm_pg_end_prepared(s, gid, id <= ckpt);
		*(id <= ckpt ? &ncommit : &nrollback) += 1;
	}
	PQclear(res);
	if (ncommit + nrollback > 0)
		wr_log(WR_LOG_INFO, "PG-SINK-RESOLVED",
		       "%s node=%s: %s*: %d committed, %d rolled back (up to "
		       "checkpoint %" PRIu64 ")",
		       s->conf->label, s->node->id, prefix, ncommit, nrollback,
		       ckpt);
	return rv;
}

/* PREPARE TRANSACTION of the open transaction for ckpt. */
static int
tm_pg_prepare(tm_pg *s, uint64_t ckpt)
{
	char gid[TM_PG_GID_BYTES];
	const char *why = "PREPARE TRANSACTION failed";
	int rv;
	if (tm_2pc_npending(s->x) == TM_PG_MAX_PENDING) {
		snprintf(s->err, sizeof(s->err),
		         "%d prepared transactions wait for checkpoints that "
		         "do not complete",
		         TM_PG_MAX_PENDING);
		return tm_pg_fail(s, WR_EFULL, "cannot prepare");
	}
	tm_pg_gid(gid, sizeof(gid), s->conf->job_id, s->node->id,
	          s->conf->subtask, ckpt);
	wr_buf_reset(&s->sql);
	wr_buf_printf(&s->sql, "PREPARE TRANSACTION '%s'", gid);
	rv = tm_pg_exec(s, s->conn, s->sql.data, PGRES_COMMAND_OK, NULL);
	s->in_txn = false; /* prepared, or rolled back by the failure */
	if (rv == WR_OK)
		return WR_OK;
	if (strcmp(s->sqlstate, "55000") == 0)
		why = "PREPARE TRANSACTION failed: the server has prepared "
		      "transactions disabled; with checkpoints the sink needs "
		      "max_prepared_transactions > 0 (at least 2 x the sink's "
		      "parallelism) in postgresql.conf and a server restart";
	else if (strcmp(s->sqlstate, "53400") == 0)
		why = "PREPARE TRANSACTION failed: the server's "
		      "max_prepared_transactions is used up; raise it (at "
		      "least 2 x the sink's parallelism) and restart the "
		      "server";
	return tm_pg_fail(s, rv, why);
}

/* ---- the steps of the two-phase-commit skeleton ----------------------- */

/* A record joins the batch; BEGIN goes with the first batch sent. */
static int
tm_pg_write(void *b, const wr_row *r)
{
	tm_pg *s = b;
	int rv = tm_pg_add_row(s, r);
	return rv == WR_OK ? tm_pg_maybe_flush(s, false) : rv;
}

static int
tm_pg_tick(void *b, int64_t now_ms)
{
	(void)now_ms;
	return tm_pg_maybe_flush(b, true);
}

/* The barrier: everything before it is sent, then committed (without
 * checkpoints, e.g. a savepoint: nothing to prepare) or prepared. */
static int
tm_pg_precommit(void *b, uint64_t ckpt, bool *made, void **h)
{
	tm_pg *s = b;
	int rv;
	(void)h; /* the gid follows from ckpt */
	if ((rv = tm_pg_flush(s)) != WR_OK)
		return rv;
	if (!s->in_txn) /* only with checkpoints */
		return WR_OK;
	if ((rv = tm_pg_prepare(s, ckpt)) != WR_OK)
		return rv;
	*made = true;
	return WR_OK;
}

static int
tm_pg_commit(void *b, const tm_2pc_txn *txn)
{
	tm_pg *s = b;
	char gid[TM_PG_GID_BYTES];
	tm_pg_gid(gid, sizeof(gid), s->conf->job_id, s->node->id,
	          s->conf->subtask, txn->ckpt);
	int rv = tm_pg_end_prepared(s, gid, true);
	return rv == WR_OK ? WR_OK
	                   : tm_pg_fail(s, rv, "COMMIT PREPARED failed");
}

/* End of input: the batch, then the open transaction. */
static int
tm_pg_commit_open(void *b)
{
	tm_pg *s = b;
	int rv;
	if ((rv = tm_pg_flush(s)) != WR_OK)
		return rv;
	if (s->in_txn) {
		rv = tm_pg_exec(s, s->conn, "COMMIT", PGRES_COMMAND_OK, NULL);
		s->in_txn = false;
		if (rv != WR_OK)
			return tm_pg_fail(s, rv, "COMMIT failed");
	}
	return WR_OK;
}

static void
tm_pg_encode(void *b, const tm_2pc_head *self, const tm_2pc_txn *pending,
             int npending, wr_buf *out)
{
	(void)b;
	tm_pg_state_encode(
	    self, npending > 0 && pending[npending - 1].ckpt == self->ckpt,
	    out);
}

static int
tm_pg_decode(void *b, const uint8_t *p, size_t len, tm_2pc_head *head)
{
	(void)b;
	return tm_pg_state_decode(p, len, head);
}

/* Settles an old subtask's prepared transactions. One that wrote to
 * another table (a job forked from a savepoint) keeps what it prepared
 * after the checkpoint: only the same table's successor rolls those
 * back. */
static int
tm_pg_recover(void *b, const tm_2pc_head *old, bool same_target)
{
	tm_pg *s = b;
	if (!same_target)
		wr_log(WR_LOG_INFO, "PG-SINK-OTHER-TABLE",
		       "%s node=%s: old subtask %s/%d wrote to %s: its "
		       "transactions after checkpoint %" PRIu64
		       " are left to it",
		       s->conf->label, s->node->id, old->job_id, old->subtask,
		       old->target, old->ckpt);
	int rv = tm_pg_resolve(s, old->name, old->ckpt, same_target);
	return rv == WR_OK ? WR_OK : tm_pg_fail(s, rv, "restore failed");
}

/* With checkpoints, what earlier attempts of this subtask prepared belongs
 * to no completed checkpoint; without, this sink prepares nothing. */
static int
tm_pg_abort_leftovers(void *b)
{
	tm_pg *s = b;
	char prefix[TM_PG_GID_BYTES];
	if (!s->twopc)
		return WR_OK;
	tm_pg_gid_prefix(prefix, sizeof(prefix), s->conf->job_id, s->node->id,
	                 s->conf->subtask);
	int rv = tm_pg_resolve(s, prefix, 0, true);
	return rv == WR_OK ? WR_OK
	                   : tm_pg_fail(s, rv, "rolling back leftovers failed");
}

/* Without finish (cancel, failure) the open transaction is not committed:
 * closing the connection rolls it back. Prepared ones stay for a
 * restore. */
static void
tm_pg_free(void *b)
{
	tm_pg *s = b;
	if (s == NULL)
		return;
	PQfinish(s->conn);
	PQfinish(s->ctl);
	wr_buf_fini(&s->copy_sql);
	wr_buf_fini(&s->insert_head);
	wr_buf_fini(&s->upsert_tail);
	wr_buf_fini(&s->check_sql);
	wr_buf_fini(&s->batch);
	wr_buf_fini(&s->keys);
	wr_buf_fini(&s->sql);
	free(s->ents);
	free(s->slots);
	free(s);
}

/* Pre-committed (prepared) transactions are kept for a restore: no abort
 * or drop step; closing the connection rolls back the open one. */
static const tm_2pc_ops tm_pg_ops = {
    .write = tm_pg_write,
    .precommit = tm_pg_precommit,
    .commit = tm_pg_commit,
    .commit_open = tm_pg_commit_open,
    .encode = tm_pg_encode,
    .decode = tm_pg_decode,
    .recover = tm_pg_recover,
    .abort_leftovers = tm_pg_abort_leftovers,
    .tick = tm_pg_tick,
    .free = tm_pg_free,
};

/* A sink state without a connection (tm_sink_pg_new connects). */
static tm_pg *
tm_pg_new(tm_ctx *ctx, const wr_node_spec *node)
{
	tm_pg *s = wr_xcalloc(1, sizeof(*s));
	s->ctx = ctx;
	s->conf = tm_conf(ctx);
	int64_t lt = s->conf->job->checkpointing.timeout_ms;
	s->node = node;
	s->sk = &node->sink;
	s->in = wr_jobspec_input_schema(s->conf->job, node, 0);
	s->twopc = s->conf->checkpointing;
	/* A lock wait longer than a checkpoint may take is a wait for a
	 * commit that will not come (see the file comment). */
	s->lock_timeout_ms = lt > 1000 ? lt : 1000;
	wr_buf_init(&s->copy_sql);
	wr_buf_init(&s->insert_head);
	wr_buf_init(&s->upsert_tail);
	wr_buf_init(&s->check_sql);
	wr_buf_init(&s->batch);
	wr_buf_init(&s->keys);
	wr_buf_init(&s->sql);
	tm_pg_build_sql(s);
	return s;
}

/* Connects and checks what can be checked before the first row. */
static int
tm_pg_open(tm_pg *s, char *errbuf, size_t errlen)
{
	PGresult *res = NULL;
	int rv = tm_pg_connect(s, &s->conn);
	if (rv != WR_OK) {
		snprintf(errbuf, errlen, "postgres sink %s: cannot connect: %s",
		         s->sk->table, s->err);
		return rv;
	}
	if ((rv = tm_pg_exec(s, s->conn, s->check_sql.data, PGRES_TUPLES_OK,
	                     NULL)) != WR_OK) {
		snprintf(errbuf, errlen, "postgres sink %s: %s", s->sk->table,
		         s->err);
		return rv;
	}
	if (!s->twopc)
		return WR_OK;
	if ((rv = tm_pg_exec(s, s->conn, "SHOW max_prepared_transactions",
	                     PGRES_TUPLES_OK, &res)) != WR_OK) {
		snprintf(errbuf, errlen, "postgres sink %s: %s", s->sk->table,
		         s->err);
		return rv;
	}
	if (PQntuples(res) == 1 && atoi(PQgetvalue(res, 0, 0)) <= 0) {
		snprintf(
		    errbuf, errlen,
		    "postgres sink %s: the server has "
		    "max_prepared_transactions = 0; with checkpoints the "
		    "sink commits by PREPARE TRANSACTION / COMMIT PREPARED: "
		    "set max_prepared_transactions to at least 2 x the "
		    "sink's parallelism in postgresql.conf and restart the "
		    "server",
		    s->sk->table);
		rv = WR_ESTATE;
	}
	PQclear(res);
	return rv;
}

static int
tm_sink_pg_open(tm_ctx *ctx, const wr_node_spec *node, void **self,
                char *errbuf, size_t errlen)
{
	tm_pg *s = tm_pg_new(ctx, node);
	char what[200], name[TM_2PC_NAME_BYTES];
	int rv = tm_pg_open(s, errbuf, errlen);
	if (rv != WR_OK) {
		tm_pg_free(s);
		return rv;
	}
	snprintf(what, sizeof(what), "postgres sink %s", s->sk->table);
	tm_pg_gid_prefix(name, sizeof(name), s->conf->job_id, node->id,
	                 s->conf->subtask);
	s->x = tm_2pc_new(ctx, node, &tm_pg_ops, s, what, name, s->sk->table);
	*self = s->x;
	return WR_OK;
}

const tm_op_vt tm_sink_pg = {
    .name = "postgres sink",
    .open = tm_sink_pg_open,
    TM_2PC_CALLBACKS,
};
