"""test_pg_sink.py - the PostgreSQL sink against a real, throwaway
PostgreSQL 15 (pgserver.py).

- the sink's unit test binary (sink_pg_test) with a server: its hooks
  driven by hand through two-phase commit, crash, restore, fresh start,
  upsert, reconnect, and a second server with max_prepared_transactions = 0;
- bounded jobs on `weir local` (datagen, 2 subtasks): one source feeding a
  file sink (the reference), a postgres sink in append mode and, through
  key_by + reduce, a postgres sink in upsert mode - once without
  checkpointing (autocommitted batches) and once checkpointing every
  300 ms (prepared transactions committed on checkpoints, seen in the
  server's statement log). The tables must equal what the file sink got:
  every order exactly once with every field, one row per product with its
  final count, sum and max;
- a job whose table does not exist fails with PostgreSQL's reason.
"""
import json
import os
import re
import subprocess

from pgserver import PgServer, available
from weirtest import BIN, Cluster, check, main, sink_lines

COUNT = 4000  # orders per source subtask
RATE = 2000   # per second per subtask: the job runs about 2 s

JOB = """\
name: pg-{tag}
parallelism: 2
{ckpt}
restart: {{ strategy: none }}
sources:
  gen:
    datagen: {{ rate: {rate}, count: {count} }}
nodes:
  - id: raw_file
    from: gen
    sink: {{ file: {{ path: "{out}" }} }}
  - id: raw_pg
    from: gen
    sink: {{ postgres: {{ dsn: "{dsn}", table: orders_{tag} }} }}
  - id: per_product
    from: gen
    key_by: [product_id]
    reduce: {{ orders: count(), revenue: sum(amount), top: max(amount) }}
  - id: stats_pg
    from: per_product
    sink: {{ postgres: {{ dsn: "{dsn}", table: "public.product_stats_{tag}",
                         mode: upsert, key: [product_id] }} }}
"""

TABLES = """
CREATE TABLE orders_{tag} (order_id text, product_id text, customer_id text,
                           amount double precision, status text,
                           ts timestamptz, loaded_at timestamptz DEFAULT now());
CREATE TABLE product_stats_{tag} (product_id text PRIMARY KEY, orders bigint,
                                  revenue double precision,
                                  top double precision);
"""

ISO = "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"


def submit(c, text, name):
    c.cli("validate", c.write(name, text))
    return c.submit(text, name=name)


def wait_end(c, job_id, timeout_s=90):
    return c.wait_state(job_id, ("FINISHED", "FAILED", "CANCELED"),
                        timeout_s, 0.2)


def test_unit_binary_with_server():
    """sink_pg_test's server cases, which ctest alone skips."""
    with PgServer() as pg, PgServer(max_prepared_transactions=0) as pg0:
        env = dict(os.environ, WEIR_TEST_PG_DSN=pg.dsn,
                   WEIR_TEST_PG_DSN_NOPREP=pg0.dsn)
        r = subprocess.run([os.path.join(BIN, "sink_pg_test")], env=env,
                           capture_output=True, timeout=240)
        out = r.stdout.decode(errors="replace") + \
            r.stderr.decode(errors="replace")
        check(r.returncode == 0, "sink_pg_test failed (%d):\n%s" %
              (r.returncode, out[-6000:]))
        check("SKIPPED" not in out and "PASSED  ] 16 test(s)" in out,
              "every case ran against the server:\n%s" % out[-3000:])
        check(pg.prepared() == [], "no prepared transaction left: %s" %
              pg.prepared())


def expected_stats(rows):
    stats = {}
    for r in rows:
        s = stats.setdefault(r["product_id"], [0, 0.0, None])
        s[0] += 1
        s[1] += r["amount"]
        s[2] = r["amount"] if s[2] is None else max(s[2], r["amount"])
    return stats


def run_job(c, pg, tag, ckpt):
    pg.sql(TABLES.format(tag=tag))
    out = os.path.join(c.dir, "out-" + tag)
    job = submit(c, JOB.format(
        tag=tag, ckpt=ckpt, rate=RATE, count=COUNT, out=out, dsn=pg.dsn),
        "pg-%s.yaml" % tag)
    ji = wait_end(c, job)
    check(ji["state"] == "FINISHED", "job %s: %s" % (ji["state"],
                                                       ji["failure"]))
    # The reference: what the file sink received.
    ref = [json.loads(l) for l in sink_lines(out, True)]
    check(len(ref) == 2 * COUNT, "file sink: %d rows" % len(ref))
    want_ids = {"o-%d-%d" % (s, n) for s in range(2) for n in range(COUNT)}
    check({r["order_id"] for r in ref} == want_ids,
          "the file sink has every order once")

    # Append: every order exactly once, every field as the file sink got
    # it (timestamps to the millisecond, doubles exactly).
    got = pg.query("SELECT order_id, product_id, customer_id, amount, "
                   "status, %s FROM orders_%s" % (ISO, tag))
    check(len(got) == 2 * COUNT, "orders_%s: %d rows, want %d" %
          (tag, len(got), 2 * COUNT))
    got_set = {(o, p, cu, float(a), st, ts) for o, p, cu, a, st, ts in got}
    ref_set = {(r["order_id"], r["product_id"], r["customer_id"],
                r["amount"], r["status"], r["ts"]) for r in ref}
    check(len(got_set) == len(got), "no order twice in orders_%s" % tag)
    check(got_set == ref_set, "orders_%s equals the file sink's rows "
          "(%d missing, %d extra)" % (tag, len(ref_set - got_set),
                                      len(got_set - ref_set)))

    # Upsert: one row per product with the final running aggregates.
    want = expected_stats(ref)
    stats = pg.query("SELECT product_id, orders, revenue, top FROM "
                     "product_stats_%s" % tag)
    check(len(stats) == len(want), "product_stats_%s: %d rows, want %d" %
          (tag, len(stats), len(want)))
    for p, n, rev, top in stats:
        w = want.get(p)
        check(w is not None and int(n) == w[0] and float(top) == w[2] and
              abs(float(rev) - w[1]) <= 1e-9 * max(1.0, abs(w[1])),
              "product %s: got (%s, %s, %s), want %s" % (p, n, rev, top, w))
    check(pg.prepared() == [], "no prepared transaction left: %s" %
          pg.prepared())
    return job


def prepares(pg, job):
    """Statements of job's sinks in the server's statement log."""
    log = pg.server_log()
    gid = "'weir:%s:" % job
    return (log.count("PREPARE TRANSACTION " + gid),
            log.count("COMMIT PREPARED " + gid))


def test_jobs():
    check(available(), "PostgreSQL 15 server binaries are not installed")
    with PgServer(extra_conf={"log_statement": "'all'"}) as pg:
        with Cluster(taskmanagers=2, slots=2) as c:
            # Without checkpointing: batches autocommit; nothing prepared.
            job = run_job(c, pg, "plain", "")
            check(prepares(pg, job) == (0, 0),
                  "no two-phase commit without checkpointing")

            # Checkpointing: prepared transactions committed on
            # checkpoints (and at the end of the input).
            job = run_job(c, pg, "ckpt", "checkpointing: { interval: 300ms }")
            done = c.checkpoints(job)["counts"]["completed"]
            check(done >= 1, "checkpoints completed: %d" % done)
            np, nc = prepares(pg, job)
            print("     %d checkpoints, %d transactions prepared and "
                  "committed" % (done, np))
            check(np >= 2 and nc == np,
                  "prepared %d, committed %d transactions" % (np, nc))
            log = pg.server_log()
            for node in ("raw_pg", "stats_pg"):
                check("PREPARE TRANSACTION 'weir:%s:%s:" % (job, node) in log,
                      "%s prepared transactions" % node)

            # A table that does not exist: the job fails saying so. Both
            # sinks' tables are missing; whichever task fails first names
            # the job's failure.
            job = submit(c, JOB.format(
                tag="missing", ckpt="", rate=RATE, count=10,
                out=os.path.join(c.dir, "out-missing"), dsn=pg.dsn),
                "pg-missing.yaml")
            ji = wait_end(c, job, 60)
            check(ji["state"] == "FAILED" and re.search(
                  r'relation "(public\.product_stats|orders)_missing" '
                  r'does not exist', ji["failure"] or ""),
                  "missing table: %s" % ji)


if __name__ == "__main__":
    main([test_unit_binary_with_server, test_jobs])
