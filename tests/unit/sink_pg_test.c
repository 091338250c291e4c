/*
 * sink_pg_test.c - the PostgreSQL sink (taskmanager/sink_pg.c).
 *
 * Without a server: the job file's postgres settings, value encoding for
 * COPY and SQL literals, the statements, upsert deduplication inside a
 * batch, transaction ids and the snapshot format.
 *
 * With a server (WEIR_TEST_PG_DSN, set by
 * tests/integration/test_pg_sink.py, which starts a throwaway PostgreSQL):
 * the operator's hooks driven by hand as task.c drives them - append and
 * upsert with and without checkpoints, two-phase commit across
 * checkpoints, a crash (destroy without finish) and the restore that
 * commits what the restored checkpoint holds and rolls back the rest, a
 * fresh start rolling back leftovers, restores from another job id and of
 * two old subtasks, a broken connection, and the server checks at open.
 * Without the variable those cases are skipped (ctest runs this binary
 * as unit.sink_pg with no server).
 *
 * The test includes sink_pg.c to reach its static helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sink_pg.c"

#include "jobspec.h"
#include "tm_int.h"
#include "wrtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *dsn;

/* ---- harness --------------------------------------------------------- */

#define SCHEMA                                                                 \
	"{ id: long, name: string, amount: double, ok: bool, ts: timestamp, "  \
	"note: string }"

/* The sink operator under test, as node "out" of a job_yaml job. */
typedef wrt_op harness;

/* A job whose sink 'out' is the operator under test. sink: the postgres
 * map's contents; ckpt: checkpointing on. */
static char *
job_yaml(const char *sink, bool ckpt, const char *extra)
{
	return wr_xasprintf("name: pgt\n"
	                    "%s"
	                    "sources:\n"
	                    "  src:\n"
	                    "    file: { path: /dev/null }\n"
	                    "    schema: " SCHEMA "\n"
	                    "nodes:\n"
	                    "  - id: out\n"
	                    "    from: src\n"
	                    "    sink: { postgres: { %s } }\n",
	                    ckpt ? (extra ? extra
	                                  : "checkpointing: { interval: 1s, "
	                                    "timeout: 3s }\n")
	                         : "",
	                    sink);
}

static void
h_init(harness *h, const char *sink, bool ckpt, const char *job_id, int subtask)
{
	char *y = job_yaml(sink, ckpt, NULL);
	wrt_op_init(h, y, "out", job_id, 1, subtask);
	free(y);
}

/* Like task.c's build: WR_OK or the error (message in err). */
static int
h_open(harness *h, char *err, size_t len)
{
	return wrt_op_open(h, &tm_sink_pg, err, len);
}

static void
h_open_ok(harness *h)
{
	char err[512] = "";
	int rv = h_open(h, err, sizeof(err));
	if (rv != WR_OK)
		fail_msg("open: %s: %s", wr_strerror(rv), err);
}

/* The sink under the two-phase-commit skeleton. */
static tm_pg *
pg(harness *h)
{
	return tm_2pc_backend(h->op.self);
}

static char note_buf[64];

/* Row i: deterministic values (name has characters COPY and SQL must
 * escape; every 7th note is NULL). */
static void
mk_row(wr_row *r, int64_t i, double amount)
{
	static char name[64];
	snprintf(name, sizeof(name), "n%lld\t'q'\\\n\"x\" é", (long long)i);
	snprintf(note_buf, sizeof(note_buf), "note-%lld", (long long)i);
	memset(r, 0, sizeof(*r));
	r->n = 6;
	r->v[0] = wrt_vlong(i);
	r->v[1] = wrt_vstr(name);
	r->v[2] = wrt_vdouble(amount);
	r->v[3] = wrt_vbool(i % 2 == 0);
	r->v[4] = wrt_vts(1795000000000 + i * 1001);
	r->v[5] = i % 7 == 0 ? wrt_vnull() : wrt_vstr(note_buf);
}

static void
push_range(harness *h, int64_t from, int64_t to, double amount)
{
	for (int64_t i = from; i < to; i++) {
		wr_row r;
		mk_row(&r, i, amount);
		wrt_op_push(h, &r);
	}
}

static void
restore(harness *h, const wr_buf *const *states, const int *subtasks, int n)
{
	tm_op_state st[8];
	for (int i = 0; i < n; i++)
		st[i] = (tm_op_state){.subtask = subtasks[i],
		                      .ckpt = 0,
		                      .data = (const uint8_t *)states[i]->data,
		                      .len = states[i]->len};
	int rv = h->op.vt->restore(h->op.self, st, n);
	if (rv != WR_OK)
		fail_msg("restore: %s: %s", wr_strerror(rv), h->task.failure);
}

/* ---- a separate connection for checks -------------------------------- */

static PGconn *
db(void)
{
	static PGconn *c;
	if (c == NULL) {
		c = PQconnectdb(dsn);
		if (PQstatus(c) != CONNECTION_OK)
			fail_msg("connect: %s", PQerrorMessage(c));
		PQclear(PQexec(c, "SET TimeZone = 'UTC'; SET "
		                  "client_min_messages = warning"));
	}
	return c;
}

static void
sql(const char *q)
{
	PGresult *r = PQexec(db(), q);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(db()));
	PQclear(r);
}

/* The result as "v,v;v,v;" (NULL as ~). */
static char *
query(const char *q)
{
	PGresult *r = PQexec(db(), q);
	wr_buf b;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(db()));
	wr_buf_init(&b);
	wr_buf_puts(&b, "");
	for (int i = 0; i < PQntuples(r); i++) {
		for (int j = 0; j < PQnfields(r); j++)
			wr_buf_printf(
			    &b, "%s%s", j ? "," : "",
			    PQgetisnull(r, i, j) ? "~" : PQgetvalue(r, i, j));
		wr_buf_putc(&b, ';');
	}
	PQclear(r);
	return wr_buf_steal(&b);
}

static long
count(const char *q)
{
	char *s = query(q);
	long n = atol(s);
	free(s);
	return n;
}

static void
assert_query(const char *q, const char *want)
{
	char *got = query(q);
	if (strcmp(got, want) != 0)
		fail_msg("%s\n got: %.600s\nwant: %.600s", q, got, want);
	free(got);
}

static void
make_table(const char *name, const char *pk)
{
	char q[512];
	snprintf(q, sizeof(q),
	         "DROP TABLE IF EXISTS %s; CREATE TABLE %s (id bigint%s, "
	         "name text, amount double precision, ok boolean, ts "
	         "timestamptz, note text, extra text DEFAULT 'd')",
	         name, name, pk);
	sql(q);
}

/* gids prepared by job (all if NULL), sorted, ";"-separated. */
static char *
prepared(const char *job)
{
	char q[256];
	snprintf(q, sizeof(q),
	         "SELECT gid FROM pg_prepared_xacts WHERE database = "
	         "current_database() AND gid LIKE 'weir:%s:%%' ORDER BY gid",
	         job);
	return query(q);
}

static void
assert_prepared(const char *job, const char *want)
{
	char *got = prepared(job);
	if (strcmp(got, want) != 0)
		fail_msg("prepared of %s: got '%s' want '%s'", job, got, want);
	free(got);
}

/* ids in the table, as "a-b" runs: "1-10,21-25" (each id once, else
 * the duplicate shows as a new run). */
static char *
id_runs(const char *table)
{
	char q[256];
	snprintf(q, sizeof(q), "SELECT id FROM %s ORDER BY id", table);
	PGresult *r = PQexec(db(), q);
	wr_buf b;
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(db()));
	wr_buf_init(&b);
	wr_buf_puts(&b, "");
	long start = 0, prev = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		long v = atol(PQgetvalue(r, i, 0));
		if (i > 0 && v == prev + 1) {
			prev = v;
			continue;
		}
		if (i > 0)
			wr_buf_printf(&b, "%s%ld-%ld", b.len ? "," : "", start,
			              prev);
		start = prev = v;
	}
	if (PQntuples(r) > 0)
		wr_buf_printf(&b, "%s%ld-%ld", b.len ? "," : "", start, prev);
	PQclear(r);
	return wr_buf_steal(&b);
}

static void
assert_ids(const char *table, const char *want)
{
	char *got = id_runs(table);
	if (strcmp(got, want) != 0)
		fail_msg("ids of %s: got '%s' want '%s'", table, got, want);
	free(got);
}

/* The state of the sink's session: "idle;" or "idle in transaction;". */
static void
assert_backend_state(harness *h, const char *want)
{
	char q[128];
	tm_pg *s = pg(h);
	snprintf(q, sizeof(q),
	         "SELECT state FROM pg_stat_activity WHERE pid = %d",
	         PQbackendPID(s->conn));
	assert_query(q, want);
}

#define NEED_SERVER()                                                          \
	do {                                                                   \
		if (dsn == NULL) {                                             \
			print_message("no WEIR_TEST_PG_DSN: skipped\n");       \
			skip();                                                \
		}                                                              \
	} while (0)

static char *
sink_cfg(const char *table, const char *more)
{
	return wr_xasprintf("dsn: \"%s\", table: %s%s", dsn ? dsn : "x", table,
	                    more ? more : "");
}

/* ---- without a server -------------------------------------------------- */

static void
parse_bad(const char *sink, bool ckpt, const char *where, const char *what)
{
	char *y = job_yaml(sink, ckpt, NULL);
	wrt_job_bad(y, where, what);
	free(y);
}

static void
test_parse(void **state)
{
	(void)state;
	harness h;
	h_init(&h,
	       "dsn: x, table: public.orders_out, mode: upsert, key: [id, "
	       "name]",
	       true, "j", 0);
	const wr_sink_spec *sk = &h.op.node->sink;
	assert_int_equal(sk->kind, WR_SINK_POSTGRES);
	assert_string_equal(sk->dsn, "x");
	assert_string_equal(sk->table, "public.orders_out");
	assert_true(sk->upsert);
	assert_int_equal(sk->npg_keys, 2);
	assert_int_equal(sk->pg_keys[0], 0);
	assert_int_equal(sk->pg_keys[1], 1);
	assert_int_equal(sk->semantic, WR_SEM_EXACTLY_ONCE);
	wrt_op_free(&h);
	h_init(&h, "dsn: x, table: t, key: id, mode: upsert", false, "j", 0);
	assert_int_equal(h.op.node->sink.npg_keys, 1);
	assert_int_equal(h.op.node->sink.semantic, WR_SEM_AT_LEAST_ONCE);
	wrt_op_free(&h);
	h_init(&h, "dsn: x, table: t", false, "j", 0);
	assert_false(h.op.node->sink.upsert);
	wrt_op_free(&h);

	/* line 9 is the sink; the postgres map's keys start at column 25 */
	parse_bad("dsn: x, table: t, mode: upsert", false,
	          "t.yaml:9:", "sink.postgres.mode: upsert needs 'key'");
	parse_bad("dsn: x, table: t, key: [id]", false,
	          "t.yaml:9:", "key applies only to mode: upsert");
	parse_bad("dsn: x, table: t, mode: upsert, key: [id, nope]", false,
	          "t.yaml:9:67: ", "sink.postgres.key: no field 'nope'");
	parse_bad("dsn: x, table: t, mode: upsert, key: [id, id]", false,
	          "t.yaml:9:", "'id' is listed twice");
	parse_bad("dsn: x, table: t, mode: upsert, key: []", false,
	          "t.yaml:9:", "key is empty");
	parse_bad("dsn: x, table: t, mode: merge", false,
	          "t.yaml:9:", "'merge' is not one of append, upsert");
	parse_bad("dsn: x, table: \"a;drop\"", false,
	          "t.yaml:9:", "is not a table name");
	parse_bad("dsn: x, table: a.b.c", false,
	          "t.yaml:9:", "is not a table name");
	parse_bad("table: t", false, "t.yaml:9:", "dsn");
	parse_bad("dsn: x", false, "t.yaml:9:", "table");
	parse_bad("dsn: x, table: t, topic: y", false, "t.yaml:9:", "topic");
}

static void
test_values(void **state)
{
	(void)state;
	wr_buf b;
	const char *why = NULL;
	wr_value v;
	wr_buf_init(&b);
#define VAL(fmt, want)                                                         \
	do {                                                                   \
		wr_buf_reset(&b);                                              \
		assert_int_equal(tm_pg_put_value(&b, &v, fmt, &why), WR_OK);   \
		assert_string_equal(b.data ? b.data : "", want);               \
	} while (0)
	v = (wr_value){.type = WR_T_NULL};
	VAL(TM_PG_COPY, "\\N");
	VAL(TM_PG_LITERAL, "NULL");
	v = (wr_value){.type = WR_T_LONG, .u.i = INT64_MIN};
	VAL(TM_PG_COPY, "-9223372036854775808");
	VAL(TM_PG_LITERAL, "'-9223372036854775808'");
	v = (wr_value){.type = WR_T_DOUBLE, .u.d = 0.1};
	VAL(TM_PG_COPY, "0.1");
	v.u.d = 1.0 / 3.0;
	VAL(TM_PG_COPY, "0.3333333333333333");
	v.u.d = -0.0;
	VAL(TM_PG_COPY, "0");
	v.u.d = NAN;
	VAL(TM_PG_LITERAL, "'NaN'");
	v.u.d = -INFINITY;
	VAL(TM_PG_COPY, "-Infinity");
	v = (wr_value){.type = WR_T_BOOL, .u.b = true};
	VAL(TM_PG_COPY, "true");
	v = (wr_value){.type = WR_T_TIMESTAMP, .u.i = 1795000000123};
	VAL(TM_PG_LITERAL, "'2026-11-18T11:06:40.123Z'");
	v.type = WR_T_STRING;
	v.u.s.p = "a'b\\c\td\ne\rf";
	v.u.s.len = (uint32_t)strlen(v.u.s.p);
	VAL(TM_PG_COPY, "a'b\\\\c\\td\\ne\\rf");
	VAL(TM_PG_LITERAL, "'a''b\\c\td\ne\rf'");
	v.u.s.p = "a\0b";
	v.u.s.len = 3;
	wr_buf_reset(&b);
	assert_int_equal(tm_pg_put_value(&b, &v, TM_PG_COPY, &why), WR_EINVAL);
	assert_non_null(strstr(why, "NUL"));
	v = (wr_value){.type = WR_T_TIMESTAMP, .u.i = INT64_MAX};
	assert_int_equal(tm_pg_put_value(&b, &v, TM_PG_LITERAL, &why),
	                 WR_EINVAL);
#undef VAL
	wr_buf_fini(&b);
}

static void
test_statements(void **state)
{
	(void)state;
	harness h;
	h_init(&h, "dsn: x, table: sch.Orders", false, "j", 0);
	tm_pg *s = tm_pg_new(&h.op, h.op.node);
	assert_string_equal(s->copy_sql.data,
	                    "COPY \"sch\".\"Orders\" (\"id\",\"name\","
	                    "\"amount\",\"ok\",\"ts\",\"note\") FROM STDIN");
	assert_string_equal(
	    s->check_sql.data,
	    "EXPLAIN INSERT INTO \"sch\".\"Orders\" (\"id\","
	    "\"name\",\"amount\",\"ok\",\"ts\",\"note\") VALUES "
	    "(NULL,NULL,NULL,NULL,NULL,NULL)");
	assert_false(s->twopc);
	tm_pg_free(s);
	wrt_op_free(&h);

	h_init(&h, "dsn: x, table: t, mode: upsert, key: [name, id]", true, "j",
	       0);
	s = tm_pg_new(&h.op, h.op.node);
	assert_true(s->twopc);
	assert_int_equal(s->lock_timeout_ms, 3000);
	assert_string_equal(s->upsert_tail.data,
	                    " ON CONFLICT (\"name\",\"id\") DO UPDATE SET "
	                    "\"amount\"=EXCLUDED.\"amount\",\"ok\"=EXCLUDED."
	                    "\"ok\",\"ts\"=EXCLUDED.\"ts\",\"note\"=EXCLUDED."
	                    "\"note\"");
	tm_pg_free(s);
	wrt_op_free(&h);

	/* every field a key: nothing to update */
	h_init(&h,
	       "dsn: x, table: t, mode: upsert, key: [id, name, amount, ok, "
	       "ts, note]",
	       false, "j", 0);
	s = tm_pg_new(&h.op, h.op.node);
	assert_string_equal(s->upsert_tail.data,
	                    " ON CONFLICT (\"id\",\"name\",\"amount\",\"ok\","
	                    "\"ts\",\"note\") DO NOTHING");
	tm_pg_free(s);
	wrt_op_free(&h);
}

/* Upsert batches keep the last row per key; rows with a NULL in the key
 * are all kept (a unique index never matches NULL). */
static void
test_upsert_dedup(void **state)
{
	(void)state;
	harness h;
	h_init(&h, "dsn: x, table: t, mode: upsert, key: [id]", false, "j", 0);
	tm_pg *s = tm_pg_new(&h.op, h.op.node);
	wr_row r;
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 1500; i++) {
			mk_row(&r, i, round);
			assert_int_equal(tm_pg_add_row(s, &r), WR_OK);
		}
	mk_row(&r, 7, 9.5);
	r.v[0].type = WR_T_NULL;
	assert_int_equal(tm_pg_add_row(s, &r), WR_OK);
	assert_int_equal(tm_pg_add_row(s, &r), WR_OK);
	assert_int_equal(s->nrows, 1502);
	assert_int_equal(s->nents, 4502);
	size_t live = 0;
	for (size_t i = 0; i < s->nents; i++) {
		const tm_pg_ent *e = &s->ents[i];
		if (e->dead)
			continue;
		live++;
		/* the live row of each key is the last round's */
		if (e->keyed)
			assert_non_null(memmem(s->batch.data + e->row_off,
			                       e->row_len, ",'2',", 5));
	}
	assert_int_equal(live, 1502);
	tm_pg_batch_reset(s);
	assert_int_equal(s->nrows, 0);
	mk_row(&r, 1, 0);
	assert_int_equal(tm_pg_add_row(s, &r), WR_OK);
	assert_int_equal(s->nrows, 1);
	tm_pg_free(s);
	wrt_op_free(&h);
}

static void
test_gid_and_state(void **state)
{
	(void)state;
	char gid[TM_PG_GID_BYTES], pre[TM_PG_GID_BYTES];
	uint64_t ck = 0;
	tm_pg_gid(gid, sizeof(gid), "0123456789abcdef0123456789abcdef",
	          "to_pg-1", 12, 18446744073709551615ull);
	assert_string_equal(gid, "weir:0123456789abcdef0123456789abcdef:"
	                         "to_pg-1:12:18446744073709551615");
	assert_true(strlen(gid) < TM_PG_GID_BYTES);
	tm_pg_gid_prefix(pre, sizeof(pre), "0123456789abcdef0123456789abcdef",
	                 "to_pg-1", 12);
	assert_true(tm_pg_gid_ckpt(gid, pre, &ck));
	assert_true(ck == UINT64_MAX);
	tm_pg_gid_prefix(pre, sizeof(pre), "j", "n", 1);
	assert_false(tm_pg_gid_ckpt("weir:j:n:12:3", pre, &ck));
	assert_false(tm_pg_gid_ckpt("weir:j:n:1:", pre, &ck));
	assert_false(tm_pg_gid_ckpt("weir:j:n:1:3x", pre, &ck));
	assert_false(
	    tm_pg_gid_ckpt("weir:j:n:1:99999999999999999999", pre, &ck));
	assert_true(tm_pg_gid_ckpt("weir:j:n:1:42", pre, &ck));
	assert_int_equal(ck, 42);

	tm_2pc_head st = {.ckpt = 300, .subtask = 1000}, got;
	snprintf(st.job_id, sizeof(st.job_id), "%s",
	         "0123456789abcdef0123456789abcdef");
	snprintf(st.node, sizeof(st.node), "%s", "to_pg");
	snprintf(st.target, sizeof(st.target), "%s", "pub$1.Orders_2");
	wr_buf b;
	wr_buf_init(&b);
	tm_pg_state_encode(&st, true, &b);
	/* compact: 2 + 2 + 2 + 1 + 32 + 1 + 5 + 1 + 14 bytes */
	assert_int_equal(b.len, 60);
	const uint8_t *p = (const uint8_t *)b.data;
	memset(&got, 0, sizeof(got));
	assert_int_equal(tm_pg_state_decode(p, b.len, &got), WR_OK);
	assert_int_equal(got.ckpt, 300);
	assert_int_equal(got.subtask, 1000);
	assert_int_equal(got.npending, 1); /* prepared */
	assert_string_equal(got.job_id, st.job_id);
	assert_string_equal(got.node, "to_pg");
	assert_string_equal(got.target, "pub$1.Orders_2");
	assert_string_equal(
	    got.name, "weir:0123456789abcdef0123456789abcdef:to_pg:1000:");
	/* every truncation, a trailing byte, another version, bad names */
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(tm_pg_state_decode(p, n, &got), WR_ECORRUPT);
	wr_buf_putc(&b, 0);
	assert_int_equal(tm_pg_state_decode(p, b.len, &got), WR_ECORRUPT);
	b.len--;
	b.data[0] = 2;
	assert_int_equal(tm_pg_state_decode(p, b.len, &got), WR_ECORRUPT);
	b.data[0] = TM_PG_STATE_V1;
	b.data[1] = 2;
	assert_int_equal(tm_pg_state_decode(p, b.len, &got), WR_ECORRUPT);
	b.data[1] = 1;
	b.data[8] = '\'';
	assert_int_equal(tm_pg_state_decode(p, b.len, &got), WR_ECORRUPT);
	wr_buf_fini(&b);
}

/* ---- with a server ----------------------------------------------------- */

/* Every value type and awkward string survives COPY and comes back as
 * written; batches larger than one COPY. */
static void
test_append_autocommit(void **state)
{
	(void)state;
	NEED_SERVER();
	harness h;
	char *cfg = sink_cfg("pg_append", NULL);
	make_table("pg_append", "");
	h_init(&h, cfg, false, "aaaa", 0);
	h_open_ok(&h);
	push_range(&h, 1, 12001, 2.5);
	/* two COPYs of 5000 went out (autocommit): visible before finish */
	assert_int_equal(count("SELECT count(*) FROM pg_append"), 10000);
	wrt_op_finish(&h);
	assert_ids("pg_append", "1-12000");
	assert_query(
	    "SELECT id, name, amount, ok, ts, note, extra FROM "
	    "pg_append WHERE id IN (7, 8) ORDER BY id",
	    "7,n7\t'q'\\\n\"x\" é,2.5,f,2026-11-18 11:06:47.007+00,~,d;"
	    "8,n8\t'q'\\\n\"x\" é,2.5,t,2026-11-18 11:06:48.008+00,"
	    "note-8,d;");
	wrt_op_free(&h);
	free(cfg);
}

/* The open transaction holds the rows since the last barrier; a barrier
 * prepares it; a completion commits it and earlier ones. Then a crash
 * (destroy without finish) and a restore from checkpoint 2: 2 commits, 3
 * rolls back, and the replay after it lands once. */
static void
test_twopc_crash_restore(void **state)
{
	(void)state;
	NEED_SERVER();
	harness h, h2;
	wr_buf s1, s2, s3;
	char *cfg = sink_cfg("pg_2pc", NULL);
	wr_buf_init(&s1);
	wr_buf_init(&s2);
	wr_buf_init(&s3);
	make_table("pg_2pc", "");
	h_init(&h, cfg, true, "bbbb", 0);
	h_open_ok(&h);
	push_range(&h, 1, 11, 1);
	wrt_op_snapshot(&h, 1, &s1);
	push_range(&h, 11, 21, 1);
	wrt_op_snapshot(&h, 2, &s2);
	assert_prepared("bbbb", "weir:bbbb:out:0:1;weir:bbbb:out:0:2;");
	/* rows after barrier 2 wait in memory while 1 and 2 are pending:
	 * the session stays outside a transaction */
	push_range(&h, 21, 26, 1);
	pg(&h)->first_ms -= 1000;
	assert_int_equal(h.op.vt->tick(h.op.self, 0), WR_OK);
	assert_backend_state(&h, "idle;");
	assert_ids("pg_2pc", "");
	wrt_op_commit(&h, 1);
	assert_ids("pg_2pc", "1-10");
	assert_prepared("bbbb", "weir:bbbb:out:0:2;");
	push_range(&h, 26, 31, 1);
	wrt_op_snapshot(&h, 3, &s3);
	assert_prepared("bbbb", "weir:bbbb:out:0:2;weir:bbbb:out:0:3;");
	push_range(&h, 31, 36, 1);
	wrt_op_snapshot(&h, 4, &s3);
	push_range(&h, 36, 40, 1); /* held back, then the crash */
	wrt_op_destroy(&h);
	assert_ids("pg_2pc", "1-10");
	assert_prepared("bbbb", "weir:bbbb:out:0:2;weir:bbbb:out:0:3;"
	                        "weir:bbbb:out:0:4;");

	/* attempt 2 restores checkpoint 2 */
	h_init(&h2, cfg, true, "bbbb", 0);
	h2.spec.attempt = 1;
	h_open_ok(&h2);
	const wr_buf *st[] = {&s2};
	int subs[] = {0};
	restore(&h2, st, subs, 1);
	assert_ids("pg_2pc", "1-20");
	assert_prepared("bbbb", "");
	push_range(&h2, 21, 31, 1); /* the replay */
	wrt_op_snapshot(&h2, 3, &s3);
	wrt_op_commit(&h2, 3);
	push_range(&h2, 31, 41, 1);
	wrt_op_finish(&h2);
	assert_ids("pg_2pc", "1-40");
	assert_prepared("bbbb", "");
	wrt_op_free(&h2);
	wrt_op_free(&h);
	wr_buf_fini(&s1);
	wr_buf_fini(&s2);
	wr_buf_fini(&s3);
	free(cfg);
}

/* A restore commits a pending transaction older than the restored
 * checkpoint (its completion was not delivered) and one that a previous
 * restore already committed is no error. */
static void
test_restore_commits_older(void **state)
{
	(void)state;
	NEED_SERVER();
	harness h, h2, h3;
	wr_buf s1, s2, s3;
	char *cfg = sink_cfg("pg_older", NULL);
	wr_buf_init(&s1);
	wr_buf_init(&s2);
	wr_buf_init(&s3);
	make_table("pg_older", "");
	h_init(&h, cfg, true, "cccc", 0);
	h_open_ok(&h);
	push_range(&h, 1, 6, 1);
	wrt_op_snapshot(&h, 1, &s1);
	wrt_op_snapshot(&h, 2, &s2); /* nothing new: nothing prepared */
	push_range(&h, 6, 11, 1);
	wrt_op_snapshot(&h, 3, &s3);
	wrt_op_destroy(&h);
	assert_prepared("cccc", "weir:cccc:out:0:1;weir:cccc:out:0:3;");
	/* restored from 3: the completion of 3 (covering 1) was lost */
	h_init(&h2, cfg, true, "cccc", 0);
	h_open_ok(&h2);
	const wr_buf *st[] = {&s3};
	int subs[] = {0};
	restore(&h2, st, subs, 1);
	assert_ids("pg_older", "1-10");
	assert_prepared("cccc", "");
	assert_prepared("cccc", "");
	wrt_op_free(&h2);
	/* the same restore again (a failure during the first one) */
	h_init(&h3, cfg, true, "cccc", 0);
	h_open_ok(&h3);
	restore(&h3, st, subs, 1);
	wrt_op_finish(&h3);
	assert_ids("pg_older", "1-10");
	wrt_op_free(&h3);
	wrt_op_free(&h);
	wr_buf_fini(&s1);
	wr_buf_fini(&s2);
	wr_buf_fini(&s3);
	free(cfg);
}

/* A crash with rows in the open transaction leaves nothing behind; a
 * start without restore rolls back what this subtask prepared before,
 * and only that. */
static void
test_fresh_start(void **state)
{
	(void)state;
	NEED_SERVER();
	harness a, a2, b, c;
	wr_buf s;
	char *cfg = sink_cfg("pg_fresh", NULL);
	wr_buf_init(&s);
	make_table("pg_fresh", "");
	h_init(&a, cfg, true, "dddd", 0);
	h_open_ok(&a);
	push_range(&a, 1, 6, 1);
	wrt_op_snapshot(&a, 1, &s);
	wrt_op_commit(&a, 1);
	push_range(&a, 6, 10, 1);
	pg(&a)->first_ms -= 1000;
	assert_int_equal(a.op.vt->tick(a.op.self, 0), WR_OK);
	assert_backend_state(&a, "idle in transaction;");
	wrt_op_destroy(&a);
	assert_ids("pg_fresh", "1-5");
	assert_prepared("dddd", "");

	h_init(&a2, cfg, true, "dddd", 0);
	h_init(&b, cfg, true, "dddd", 1);
	h_open_ok(&a2);
	h_open_ok(&b);
	push_range(&a2, 60, 65, 1);
	wrt_op_snapshot(&a2, 7, &s);
	push_range(&b, 100, 106, 1);
	wrt_op_snapshot(&b, 7, &s);
	wrt_op_destroy(&a2);
	wrt_op_destroy(&b);
	assert_prepared("dddd", "weir:dddd:out:0:7;weir:dddd:out:1:7;");
	h_init(&c, cfg, true, "dddd", 0);
	h_open_ok(&c);
	push_range(&c, 50, 52, 1);
	assert_prepared("dddd", "weir:dddd:out:1:7;");
	wrt_op_finish(&c);
	assert_ids("pg_fresh", "1-5,50-51");
	sql("ROLLBACK PREPARED 'weir:dddd:out:1:7'");
	wrt_op_free(&c);
	wrt_op_free(&a);
	wrt_op_free(&a2);
	wrt_op_free(&b);
	wr_buf_fini(&s);
	free(cfg);
}

/* Restored from a savepoint of another job, rescaled from 2 subtasks to
 * 1: both old subtasks' transactions are settled by their own job id,
 * and the new job's leftovers of an earlier attempt roll back. */
static void
test_restore_other_job_rescaled(void **state)
{
	(void)state;
	NEED_SERVER();
	harness a, b, c, d;
	wr_buf sa, sb, tmp;
	char *cfg = sink_cfg("pg_resc", NULL);
	wr_buf_init(&sa);
	wr_buf_init(&sb);
	wr_buf_init(&tmp);
	make_table("pg_resc", "");
	h_init(&a, cfg, true, "eeee", 0);
	h_init(&b, cfg, true, "eeee", 1);
	h_open_ok(&a);
	h_open_ok(&b);
	push_range(&a, 1, 4, 1);
	wrt_op_snapshot(&a, 7, &sa);
	push_range(&a, 4, 6, 1);
	wrt_op_snapshot(&a, 8, &tmp);
	push_range(&b, 10, 13, 1);
	wrt_op_snapshot(&b, 7, &sb);
	push_range(&b, 13, 15, 1);
	wrt_op_snapshot(&b, 8, &tmp);
	wrt_op_destroy(&a);
	wrt_op_destroy(&b);
	/* an earlier attempt of the new job left one too */
	h_init(&d, cfg, true, "ffff", 0);
	h_open_ok(&d);
	push_range(&d, 90, 92, 1);
	wrt_op_snapshot(&d, 1, &tmp);
	wrt_op_destroy(&d);
	assert_prepared("ffff", "weir:ffff:out:0:1;");

	h_init(&c, cfg, true, "ffff", 0);
	h_open_ok(&c);
	const wr_buf *st[] = {&sa, &sb};
	int subs[] = {0, 1};
	restore(&c, st, subs, 2);
	assert_ids("pg_resc", "1-3,10-12");
	assert_prepared("eeee", "");
	assert_prepared("ffff", "");
	wrt_op_finish(&c);
	wrt_op_free(&c);
	wrt_op_free(&d);
	wrt_op_free(&a);
	wrt_op_free(&b);
	wr_buf_fini(&sa);
	wr_buf_fini(&sb);
	wr_buf_fini(&tmp);
	free(cfg);
}

/* A job forked from a savepoint of a running job into another table
 * commits what the savepoint holds but leaves the old job's later
 * transactions to it. */
static void
test_restore_fork_other_table(void **state)
{
	(void)state;
	NEED_SERVER();
	harness a, b;
	wr_buf s1, s2;
	char *cfga = sink_cfg("pg_forka", NULL);
	char *cfgb = sink_cfg("pg_forkb", NULL);
	wr_buf_init(&s1);
	wr_buf_init(&s2);
	make_table("pg_forka", "");
	make_table("pg_forkb", "");
	h_init(&a, cfga, true, "llll", 0);
	h_open_ok(&a);
	push_range(&a, 1, 4, 1);
	wrt_op_snapshot(&a, 1, &s1);
	push_range(&a, 4, 6, 1);
	wrt_op_snapshot(&a, 2, &s2);
	h_init(&b, cfgb, true, "mmmm", 0);
	h_open_ok(&b);
	const wr_buf *st[] = {&s1};
	int subs[] = {0};
	restore(&b, st, subs, 1);
	assert_ids("pg_forka", "1-3");
	assert_prepared("llll", "weir:llll:out:0:2;");
	push_range(&b, 100, 103, 1);
	wrt_op_finish(&b);
	assert_ids("pg_forkb", "100-102");
	/* the old job goes on: 1 is gone (a warning), 2 commits */
	wrt_op_commit(&a, 2);
	wrt_op_finish(&a);
	assert_ids("pg_forka", "1-5");
	assert_prepared("llll", "");
	wrt_op_free(&a);
	wrt_op_free(&b);
	wr_buf_fini(&s1);
	wr_buf_fini(&s2);
	free(cfga);
	free(cfgb);
}

/* Upsert: one row per key with the last values, across batches and
 * checkpoints; a key updated right after a barrier does not wait for the
 * prepared transaction's row lock (lock_timeout is 3 s here: a wait
 * fails the test). */
static void
test_upsert_twopc(void **state)
{
	(void)state;
	NEED_SERVER();
	harness h;
	wr_buf s;
	char *cfg = sink_cfg("pg_ups", ", mode: upsert, key: [id]");
	wr_buf_init(&s);
	make_table("pg_ups", " PRIMARY KEY");
	sql("INSERT INTO pg_ups (id, amount) VALUES (5, -1)");
	h_init(&h, cfg, true, "gggg", 0);
	h_open_ok(&h);
	push_range(&h, 0, 1200, 1);
	push_range(&h, 0, 600, 2);
	wrt_op_snapshot(&h, 1, &s);
	push_range(&h, 0, 10, 3); /* keys locked by checkpoint 1 */
	pg(&h)->first_ms -= 1000;
	assert_int_equal(h.op.vt->tick(h.op.self, 0), WR_OK);
	wrt_op_commit(&h, 1);
	assert_int_equal(count("SELECT count(*) FROM pg_ups"), 1200);
	assert_int_equal(count("SELECT count(*) FROM pg_ups WHERE amount = 2"),
	                 600);
	assert_int_equal(h.op.vt->tick(h.op.self, 0), WR_OK); /* now sent */
	wrt_op_snapshot(&h, 2, &s);
	push_range(&h, 1000, 1300, 4);
	wrt_op_finish(&h);
	assert_int_equal(count("SELECT count(*) FROM pg_ups"), 1300);
	assert_query("SELECT amount, count(*) FROM pg_ups GROUP BY amount "
	             "ORDER BY amount",
	             "1,400;2,590;3,10;4,300;");
	assert_query("SELECT id, amount, note, extra FROM pg_ups WHERE id IN "
	             "(5, 1299) ORDER BY id",
	             "5,3,note-5,d;1299,4,note-1299,d;");
	assert_prepared("gggg", "");
	wrt_op_free(&h);
	wr_buf_fini(&s);
	free(cfg);
}

static void
test_upsert_autocommit(void **state)
{
	(void)state;
	NEED_SERVER();
	harness h;
	char *cfg = sink_cfg("pg_ups2", ", mode: upsert, key: [id]");
	make_table("pg_ups2", " PRIMARY KEY");
	h_init(&h, cfg, false, "hhhh", 0);
	h_open_ok(&h);
	push_range(&h, 0, 700, 1);
	push_range(&h, 100, 200, 2);
	wrt_op_finish(&h);
	assert_query("SELECT amount, count(*) FROM pg_ups2 GROUP BY amount "
	             "ORDER BY amount",
	             "1,600;2,100;");
	wrt_op_free(&h);
	free(cfg);
}

/* What open checks, and what push refuses. */
static void
test_open_errors(void **state)
{
	(void)state;
	NEED_SERVER();
	harness h;
	char err[512] = "";
	char *cfg = sink_cfg("pg_missing", NULL);
	h_init(&h, cfg, false, "iiii", 0);
	assert_int_not_equal(h_open(&h, err, sizeof(err)), WR_OK);
	print_message("%s\n", err);
	assert_non_null(strstr(err, "pg_missing"));
	assert_non_null(strstr(err, "does not exist"));
	assert_null(h.op.self);
	wrt_op_free(&h);
	free(cfg);

	make_table("pg_nokey", "");
	cfg = sink_cfg("pg_nokey", ", mode: upsert, key: [id]");
	h_init(&h, cfg, false, "iiii", 0);
	assert_int_not_equal(h_open(&h, err, sizeof(err)), WR_OK);
	print_message("%s\n", err);
	assert_non_null(strstr(err, "no unique or exclusion constraint"));
	wrt_op_free(&h);
	free(cfg);

	sql("DROP TABLE IF EXISTS pg_cols; CREATE TABLE pg_cols (id bigint)");
	cfg = sink_cfg("pg_cols", NULL);
	h_init(&h, cfg, false, "iiii", 0);
	assert_int_not_equal(h_open(&h, err, sizeof(err)), WR_OK);
	print_message("%s\n", err);
	assert_non_null(strstr(err, "column \"name\""));
	wrt_op_free(&h);
	free(cfg);

	cfg = wr_xasprintf("dsn: \"%s connect_timeout=2\", table: t",
	                   "host=/nonexistent port=1");
	h_init(&h, cfg, false, "iiii", 0);
	assert_int_not_equal(h_open(&h, err, sizeof(err)), WR_OK);
	print_message("%s\n", err);
	assert_non_null(strstr(err, "cannot connect"));
	wrt_op_free(&h);
	free(cfg);

	/* a NUL in a string fails the task with the field's name */
	make_table("pg_nul", "");
	cfg = sink_cfg("pg_nul", NULL);
	h_init(&h, cfg, false, "iiii", 0);
	h_open_ok(&h);
	wr_row r;
	mk_row(&r, 1, 1);
	r.v[5].u.s.p = "a\0b";
	r.v[5].u.s.len = 3;
	assert_int_equal(h.op.vt->process(h.op.self, 0, &r), WR_EINVAL);
	print_message("%s\n", h.task.failure);
	assert_non_null(strstr(h.task.failure, "field 'note'"));
	assert_int_equal(h.op.vt->tick(h.op.self, 0), WR_EINVAL); /* sticky */
	wrt_op_free(&h);
	free(cfg);
}

/* max_prepared_transactions = 0 is refused at open when checkpointing
 * (WEIR_TEST_PG_DSN_NOPREP: a server configured so). */
static void
test_no_prepared_xacts(void **state)
{
	(void)state;
	const char *dsn0 = getenv("WEIR_TEST_PG_DSN_NOPREP");
	harness h;
	char err[512] = "";
	if (dsn0 == NULL) {
		print_message("no WEIR_TEST_PG_DSN_NOPREP: skipped\n");
		skip();
	}
	PGconn *c = PQconnectdb(dsn0);
	PGresult *r = PQexec(c, "DROP TABLE IF EXISTS t; CREATE TABLE t (id "
	                        "bigint, name text, amount float8, ok bool, "
	                        "ts timestamptz, note text)");
	assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	PQfinish(c);
	char *cfg = wr_xasprintf("dsn: \"%s\", table: t", dsn0);
	h_init(&h, cfg, true, "jjjj", 0);
	assert_int_not_equal(h_open(&h, err, sizeof(err)), WR_OK);
	print_message("%s\n", err);
	assert_non_null(strstr(err, "max_prepared_transactions = 0"));
	wrt_op_free(&h);
	/* without checkpoints it is not needed */
	h_init(&h, cfg, false, "jjjj", 0);
	h_open_ok(&h);
	push_range(&h, 1, 3, 1);
	wrt_op_finish(&h);
	wrt_op_free(&h);
	free(cfg);
}

static void
kill_backend(harness *h)
{
	char q[128];
	tm_pg *s = pg(h);
	/* waits (up to 5 s) until the backend is gone */
	snprintf(q, sizeof(q), "SELECT pg_terminate_backend(%d, 5000)",
	         PQbackendPID(s->conn));
	assert_query(q, "t;");
}

/* A broken connection: without checkpoints the batch is sent again on a
 * new connection; with rows in an open transaction the task fails (they
 * are gone); with nothing open yet, it reconnects. */
static void
test_reconnect(void **state)
{
	(void)state;
	NEED_SERVER();
	harness h;
	wr_buf s;
	wr_buf_init(&s);
	make_table("pg_recon", "");
	char *cfg = sink_cfg("pg_recon", NULL);
	h_init(&h, cfg, false, "kkkk", 0);
	h_open_ok(&h);
	push_range(&h, 1, 5, 1);
	kill_backend(&h);
	push_range(&h, 5, 11, 1);
	wrt_op_finish(&h);
	assert_ids("pg_recon", "1-10");
	wrt_op_free(&h);

	h_init(&h, cfg, true, "kkkk", 0);
	h_open_ok(&h);
	push_range(&h, 20, 25, 1);
	wrt_op_snapshot(&h, 1, &s);
	wrt_op_commit(&h, 1);
	kill_backend(&h); /* nothing open: the next batch reconnects */
	push_range(&h, 25, 30, 1);
	pg(&h)->first_ms -= 1000;
	assert_int_equal(h.op.vt->tick(h.op.self, 0), WR_OK);
	kill_backend(&h); /* now rows 25-29 are gone with it */
	push_range(&h, 30, 32, 1);
	assert_int_not_equal(h.op.vt->snapshot(h.op.self, 2, &s), WR_OK);
	print_message("%s\n", h.task.failure);
	assert_non_null(strstr(h.task.failure, "pg_recon"));
	assert_int_not_equal(h.op.vt->tick(h.op.self, 0), WR_OK); /* sticky */
	wrt_op_free(&h);
	assert_ids("pg_recon", "1-10,20-24");
	free(cfg);
	wr_buf_fini(&s);
}

int
main(void)
{
	dsn = getenv("WEIR_TEST_PG_DSN");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_statements),
	    cmocka_unit_test(test_upsert_dedup),
	    cmocka_unit_test(test_gid_and_state),
	    cmocka_unit_test(test_append_autocommit),
	    cmocka_unit_test(test_twopc_crash_restore),
	    cmocka_unit_test(test_restore_commits_older),
	    cmocka_unit_test(test_fresh_start),
	    cmocka_unit_test(test_restore_other_job_rescaled),
	    cmocka_unit_test(test_restore_fork_other_table),
	    cmocka_unit_test(test_upsert_twopc),
	    cmocka_unit_test(test_upsert_autocommit),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_no_prepared_xacts),
	    cmocka_unit_test(test_reconnect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
