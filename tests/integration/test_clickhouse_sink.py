"""test_clickhouse_sink.py - the ClickHouse sink against a real, throwaway
clickhouse-server 18.16 (chserver.py) on 2 TaskManagers.

- chaos: the keyed tumbling-window job of hachaos.py (nexmark events,
  key_by event_type, 200 ms windows counting events, checkpoints every
  500 ms) writes into a ReplacingMergeTree keyed by (event_type,
  window_start) - and, through a second sink, into a plain MergeTree -
  while a TaskManager running it is SIGKILLed 5 times (a replacement
  started each time). Restarts replay the rows written after the
  restored checkpoint: `SELECT ... FINAL` must equal the failure-free
  result (computed from the generator's definition) exactly; the plain
  table must hold every expected row at least once and nothing else
  (at-least-once), its surplus being the replayed rows (printed);
- retries: clickhouse-server SIGKILLed while the job writes and started
  again 2 s later on the same ports: the sink retries with backoff
  (CH-SINK-RETRY in a TaskManager's log), the job never restarts, and
  FINAL equals the failure-free result;
- a table that does not exist fails the job with ClickHouse's message;
- examples/click-sessions.yaml (its url pointed at the server): the
  sessions it writes equal those computed here from the clicks `weir gen
  clicks` wrote (gap 30 s, merging as docs/windows.md says): every row is
  one of them, and every session that ends well before the watermark the
  input reaches (a minute of event time) is there.
"""
import glob
import json
import os
import random
import re
import time

import hachaos
from chserver import ChServer, available
from weirtest import Cluster, check, main, metric_sum, wait_for

SRC = os.environ.get("WEIR_SOURCE_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..")

CONFIG = """\
jobmanager: { heartbeat_interval: 300ms, heartbeat_timeout: 1500ms }
"""
RATE = 2000    # events per second per source subtask
COUNT = 36000  # per source subtask: about 18 s without failures
KILLS = 5

TABLE = """CREATE TABLE {name} (event_type String, window_start Int64,
    window_end Int64, n Int64)
    ENGINE = {engine} ORDER BY (event_type, window_start)"""
RAW_NODE = """\
  - id: raw
    from: w
    sink: {sink}
"""


def ch_sink(ch, table):
    return ('{ clickhouse: { url: "%s", table: %s, batch_rows: 500, '
            'flush_interval: 200ms } }' % (ch.url, table))


def restarts(c, job):
    return int(metric_sum(c.metrics(), "weir_job_restarts_total", job=job))


def kill_and_recover(c, rnd, job, k):
    """SIGKILLs a TaskManager running a task of job, starts a
    replacement, waits until the job restarted and runs again."""
    before = restarts(c, job)
    c.kill_taskmanager(job=job, rnd=rnd)
    c.start_taskmanager()
    wait_for(lambda: restarts(c, job) > before, 30,
             "restart after kill %d" % k)
    c.wait_running(job, 60)


def final_rows(ch):
    return {(k, int(s)): int(n) for k, s, n in ch.query(
        "SELECT event_type, window_start, n FROM win FINAL")}


def test_chaos_effectively_once():
    rnd = random.Random(int(os.environ.get("WEIR_CHAOS_SEED", "13")))
    want = dict(hachaos.failover_drill.expected(hachaos.PARALLELISM, RATE,
                                                COUNT))
    with ChServer() as ch, Cluster(taskmanagers=2, slots=2,
                                   config=CONFIG) as c:
        ch.sql(TABLE.format(name="win", engine="ReplacingMergeTree"))
        ch.sql(TABLE.format(name="win_raw", engine="MergeTree"))
        job = c.submit(hachaos.job("ch-chaos", COUNT, RATE,
                                   ch_sink(ch, "default.win")) +
                       RAW_NODE.format(sink=ch_sink(ch, "win_raw")),
                       name="ch-chaos.yaml")
        c.wait_running(job, 30)
        c.wait_checkpoint(job, 1, 30)
        for k in range(1, KILLS + 1):
            kill_and_recover(c, rnd, job, k)
            check(c.info(job)["state"] == "RUNNING",
                  "the job ended before kill %d: make COUNT larger" % k)
            # Let it write and checkpoint between kills.
            c.wait_checkpoint(job, c.completed_checkpoints(job) + 1, 30)
            time.sleep(rnd.uniform(0.0, 0.8))  # a random moment to kill
        ji = c.wait_state(job, ("FINISHED", "FAILED"), 120, 0.2)
        check(ji["state"] == "FINISHED", "job ended %s" % ji)
        got = final_rows(ch)
        raw = ch.query("SELECT event_type, window_start, n, count() "
                       "FROM win_raw GROUP BY event_type, window_start, n")
        replayed = sum(int(r[3]) - 1 for r in raw)
        raw = {(k, int(s)): int(n) for k, s, n, _ in raw}
        check(raw == want, "the MergeTree table's distinct rows differ "
              "from a failure-free run: %d missing or wrong, %d extra" % (
                  sum(1 for k, v in want.items() if raw.get(k) != v),
                  sum(1 for k in raw if k not in want)))
        missing = {k: v for k, v in want.items() if got.get(k) != v}
        extra = {k: v for k, v in got.items() if k not in want}
        check(not missing and not extra,
              "FINAL differs from a failure-free run: %d wrong or missing "
              "(%s), %d extra (%s)" % (len(missing), list(missing.items())[:3],
                                       len(extra), list(extra.items())[:3]))
        n = restarts(c, job)
        check(n >= KILLS, "only %d restarts for %d kills" % (n, KILLS))
        print("  %d kills, %d restarts, %d windows exact (%d rows "
              "replayed into the plain MergeTree)" % (KILLS, n, len(want),
                                                     replayed))


def tm_logs(c):
    text = ""
    for path in glob.glob(os.path.join(c.dir, "log", "*.log")):
        with open(path, errors="replace") as f:
            text += f.read()
    return text


def test_retries_while_server_down():
    count = 10000  # 5 s per source subtask
    want = dict(hachaos.failover_drill.expected(hachaos.PARALLELISM, RATE,
                                                count))
    with ChServer() as ch, Cluster(taskmanagers=2, slots=2,
                                   config=CONFIG) as c:
        ch.sql(TABLE.format(name="win", engine="ReplacingMergeTree"))
        job = c.submit(hachaos.job("ch-retry", count, RATE,
                                   ch_sink(ch, "win")), name="ch-retry.yaml")
        c.wait_running(job, 30)
        wait_for(lambda: int(ch.query("SELECT count() FROM win")[0][0]) > 0,
                 30, "first rows in ClickHouse")
        ch.kill()
        wait_for(lambda: "CH-SINK-RETRY" in tm_logs(c), 30,
                 "the sink retrying")
        time.sleep(2)  # the server stays down a while: more retries
        ch.start_again()
        ji = c.wait_state(job, ("FINISHED", "FAILED"), 90, 0.2)
        check(ji["state"] == "FINISHED", "job ended %s" % ji)
        check(restarts(c, job) == 0, "the job restarted: the sink did not "
              "ride out the outage")
        got = final_rows(ch)
        check(got == want, "FINAL differs from a failure-free run: %d "
              "rows, %d expected" % (len(got), len(want)))


def test_missing_table_fails():
    with ChServer() as ch, Cluster(taskmanagers=2, slots=2,
                                   config=CONFIG) as c:
        job = c.submit(hachaos.job("ch-missing", 2000, 2000,
                                   ch_sink(ch, "nosuch")).replace(
            "restart: { strategy: fixed_delay, delay: 200ms, attempts: "
            "100 }", "restart: { strategy: none }"),
            name="ch-missing.yaml")
        ji = c.wait_state(job, ("FINISHED", "FAILED", "CANCELED"), 60, 0.2)
        check(ji["state"] == "FAILED" and re.search(
              r"clickhouse sink nosuch: insert refused: HTTP 404: Code: "
              r"60, .*Table default\.nosuch doesn't exist",
              ji["failure"] or ""), "missing table: %s" % ji)


SESSION_TABLE = """CREATE TABLE click_sessions (user_id String,
    window_start Int64, window_end Int64, clicks Int64, last_page String)
    ENGINE = ReplacingMergeTree ORDER BY (user_id, window_start)"""
GAP_MS = 30000


def sessions_of(clicks):
    """(user, start, end, clicks, last page) of every session: a click at
    ts opens [ts, ts + GAP); touching or overlapping ones merge."""
    by_user, out = {}, []
    for r in clicks:
        by_user.setdefault(r["user_id"], []).append((r["ts"], r["page"]))
    for user, cs in by_user.items():
        cs.sort()
        start, n = cs[0][0], 0
        for i, (ts, page) in enumerate(cs):
            n += 1
            if i + 1 == len(cs) or cs[i + 1][0] > ts + GAP_MS:
                out.append((user, start, ts + GAP_MS, n, page))
                if i + 1 < len(cs):
                    start, n = cs[i + 1][0], 0
    return out


def test_click_sessions_example():
    with open(os.path.join(SRC, "examples", "click-sessions.yaml")) as f:
        text = f.read()
    check("http://localhost:8123" in text, "the example's url changed")
    with ChServer() as ch, Cluster(taskmanagers=1, slots=2,
                                   topics=("clicks:4",)) as c:
        ch.sql(SESSION_TABLE)
        c.cli("gen", "clicks", "--rate", "0", "--count", "3000", "--keys",
              "100", "--seed", "5", "--topic", "clicks", "--bootstrap",
              c.bootstrap)
        clicks = [json.loads(v) for v in c.consume("clicks")]
        want = sessions_of(clicks)
        # Fired for sure: ended a minute (event time) before the input's
        # last click; the watermark is the slowest partition's.
        sure = {s for s in want
                if s[2] < max(r["ts"] for r in clicks) - 60000}
        job = c.submit(text.replace("http://localhost:8123", ch.url),
                       name="click-sessions.yaml")

        def rows():
            return {(u, int(s), int(e), int(n), p) for u, s, e, n, p in
                    ch.query("SELECT * FROM click_sessions FINAL")}
        wait_for(lambda: len(rows()) >= len(sure), 30,
                 "%d sessions in ClickHouse" % len(sure))
        got = rows()
        c.cancel(job)
        check(got <= set(want), "rows that are no session of the input: "
              "%s" % sorted(got - set(want))[:3])
        check(sure <= got, "sessions missing: %s" % sorted(sure - got)[:3])
        print("  %d clicks, %d sessions in ClickHouse (%d sure to have "
              "fired)" % (len(clicks), len(got), len(sure)))


if __name__ == "__main__":
    if not available():
        print("clickhouse-server not installed: skipped")
        raise SystemExit(77)
    main([test_missing_table_fails, test_click_sessions_example,
          test_retries_while_server_down,
          test_chaos_effectively_once])
