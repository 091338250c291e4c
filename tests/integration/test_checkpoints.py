"""test_checkpoints.py - checkpoints, recovery and exactly-once output,
with real SIGKILLs.

A windowed job (Kafka -> key_by/tumbling 1 s -> file sink, exactly-once by
checkpoints every 200 ms) runs while the records arrive in chunks; a
random TaskManager is SIGKILLed at random moments at least 5 times (and a
replacement started); the committed output must equal what a failure-free
run produces (computed here) exactly: no window lost, none twice.

The checkpoints are incremental (the default): the file-sink run also
checks that deltas were written and that restores applied them.

Then: with the newest checkpoint's _metadata truncated, a recovery skips
it (CKPT-CORRUPT) and restores the one before; nothing is lost (what the
damaged checkpoint had committed is written again).
"""
import collections
import glob
import json
import os
import random
import re
import time

from weirtest import (Cluster, Failure, check, main, metric_sum, sink_lines,
                      wait_for)

BASE = 1796000000000
OOO_MS = 300
KEYS = ["p-%d" % i for i in range(5)]
PARTS = 4

CONFIG = """\
jobmanager: { heartbeat_interval: 300ms, heartbeat_timeout: 1500ms }
"""

JOB = """\
name: chaos-{name}
parallelism: 2
checkpointing: {{ interval: {interval}, timeout: 10s, retained: 3 }}
restart: {{ strategy: fixed_delay, delay: {delay}, attempts: 100 }}
sources:
  orders:
    kafka: {{ topic: {topic}, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ product_id: string, amount: long, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: {ooo}ms }}
nodes:
  - id: w
    from: orders
    key_by: [product_id]
    window: {{ tumbling: 1s }}
    aggregate: {{ n: count(), total: sum(amount) }}
  - id: out
    from: w
    sink: {sink}
"""


def gen(seed, n):
    rnd = random.Random(seed)
    t, recs = BASE, []
    for _ in range(n):
        t += rnd.randrange(1, 40)
        recs.append({"product_id": rnd.choice(KEYS),
                     "amount": rnd.randrange(1, 1000), "ts": t,
                     "_p": rnd.randrange(PARTS)})
    # disorder within a partition stays below the bound
    return sorted(recs, key=lambda r: r["ts"] + rnd.randrange(OOO_MS - 50))


def flush_records(last_ts):
    """One far-future record per partition: the watermark passes every
    window (its own window stays open)."""
    return [{"product_id": "zz", "amount": 0, "ts": last_ts + 60000,
             "_p": p} for p in range(PARTS)]


def reference(recs):
    acc = collections.defaultdict(lambda: [0, 0])
    for r in recs:
        s = r["ts"] - r["ts"] % 1000
        a = acc[(r["product_id"], s)]
        a[0] += 1
        a[1] += r["amount"]
    return collections.Counter(
        (k, s, n, tot) for (k, s), (n, tot) in acc.items())


def iso_ms(s):
    """2026-...T..:..:..(.mmm)Z -> epoch ms."""
    import datetime
    d = datetime.datetime.strptime(s.replace("Z", "+0000"),
                                   "%Y-%m-%dT%H:%M:%S.%f%z"
                                   if "." in s else "%Y-%m-%dT%H:%M:%S%z")
    return int(d.timestamp() * 1000)


def two_more_checkpoints(c, job):
    """Waits for two more completed checkpoints: anything a sink would
    still commit (a duplicate) is visible then."""
    c.wait_checkpoint(job, c.completed_checkpoints(job) + 2, 30)


def committed(out):
    got = collections.Counter()
    for line in sink_lines(out, committed_only=True):
        r = json.loads(line)
        got[(r["product_id"], iso_ms(r["window_start"]), r["n"],
             r["total"])] += 1
    return got


def submit(c, name, topic, out, interval="200ms", delay="200ms", sink=None):
    if sink is None:
        sink = '{ file: { path: "%s" } }' % out
    return c.submit(JOB.format(name=name, topic=topic, bootstrap=c.bootstrap,
                               ooo=OOO_MS, interval=interval, delay=delay,
                               sink=sink), name=name + ".yaml")


def restarts(c, job):
    return int(metric_sum(c.metrics(), "weir_job_restarts_total", job=job))


def kill_and_recover(c, rnd, job, k):
    """SIGKILLs a TaskManager running a task of job, starts a replacement,
    waits until the job restarted and runs again."""
    before = restarts(c, job)
    c.kill_taskmanager(job=job, rnd=rnd)
    c.start_taskmanager()
    wait_for(lambda: restarts(c, job) > before, 30,
             "restart after kill %d" % k)
    try:
        c.wait_running(job, 60)
    except Exception:
        print("\n".join(l for l in c.log("jobmanager").splitlines()
                        if "CKPT-" not in l)[-4000:])
        print(json.dumps(c.info(job))[:1500])
        raise


def chaos_run(c, rnd, job, recs, got_fn, what):
    """Produces recs in chunks while killing TaskManagers running the job
    at random moments (5 or 6 times); then checks got_fn() (a Counter of
    (key, window start, n, total)) equals the failure-free result."""
    c.wait_running(job, 30)
    chunks = [recs[i:i + 300] for i in range(0, len(recs), 300)]
    kills, next_kill = 0, time.monotonic() + 1.0
    for i, chunk in enumerate(chunks):
        c.produce("ev", chunk)
        time.sleep(0.15)  # pacing of the producer, not a wait
        if time.monotonic() >= next_kill and kills < 6:
            kills += 1
            kill_and_recover(c, rnd, job, kills)
            print("  chunk %d: kill %d" % (i, kills))
            next_kill = time.monotonic() + rnd.uniform(0.5, 1.5)
    while kills < 5:
        kills += 1
        kill_and_recover(c, rnd, job, kills)
    c.produce("ev", flush_records(max(r["ts"] for r in recs)))
    want = reference(recs)
    try:
        wait_for(lambda: sum(got_fn().values()) >= sum(want.values()),
                 90, "every window committed")
    except Exception:
        print(c.log("jobmanager")[-6000:])
        raise
    two_more_checkpoints(c, job)
    got = got_fn()
    missing, dup = want - got, got - want
    check(not missing and not dup,
          "committed %s output differs from a failure-free run: %d "
          "missing (%s), %d extra (%s)" %
          (what, sum(missing.values()), list(missing)[:3],
           sum(dup.values()), list(dup)[:3]))
    n = restarts(c, job)
    check(n >= 5, "only %d restarts recorded for %d kills" % (n, kills))
    print("  %s: %d kills, %d restarts, %d windows exact" %
          (what, kills, n, sum(want.values())))


def test_chaos_postgres_sink_exactly_once():
    from pgserver import PgServer
    rnd = random.Random(int(os.environ.get("WEIR_CHAOS_SEED", "8")))
    with PgServer() as pg:
        pg.sql("CREATE TABLE win (product_id text, window_start "
               "timestamptz, window_end timestamptz, n bigint, "
               "total bigint)")
        with Cluster(taskmanagers=3, slots=2,
                     topics=["ev:%d" % PARTS], config=CONFIG) as c:
            sink = '{ postgres: { dsn: "%s", table: win } }' % pg.dsn
            job = submit(c, "pg", "ev", None, sink=sink)

            def rows():
                return collections.Counter(
                    (k, int(s), int(n), int(t)) for k, s, n, t in pg.query(
                        "SELECT product_id, (extract(epoch FROM "
                        "window_start) * 1000)::bigint, n, total FROM win"))
            chaos_run(c, rnd, job, gen(14, 6000), rows, "postgres")
            c.cancel(job)
            left = pg.prepared()
            check(len(left) <= 1, "prepared transactions left after "
                  "cancel: %s" % (left,))


def test_chaos_file_sink_exactly_once():
    rnd = random.Random(int(os.environ.get("WEIR_CHAOS_SEED", "7")))
    with Cluster(taskmanagers=3, slots=2, topics=["ev:%d" % PARTS],
                 config=CONFIG) as c:
        out = os.path.join(c.dir, "out")
        job = submit(c, "file", "ev", out)
        chaos_run(c, rnd, job, gen(11, 6000), lambda: committed(out),
                  "file")
        c.cancel(job)
        # incremental checkpoints (the default): deltas were written, and
        # restores applied them on top of a full snapshot
        deltas = glob.glob(os.path.join(c.dir, "checkpoints", job,
                                        "chk-*", "*.delta"))
        check(deltas, "no delta in the job's checkpoints")
        logs = "".join(open(p, errors="replace").read() for p in
                       glob.glob(os.path.join(c.dir, "log", "*.log")))
        applied = [int(n) for n in re.findall(
            r"CKPT-RESTORE-KEYED .* and (\d+) deltas", logs)]
        check(any(n > 0 for n in applied),
              "no restore applied a delta: %s" % applied)
        print("  %d deltas written, restores applied %s" %
              (len(deltas), applied))


def test_truncated_metadata_uses_previous():
    with Cluster(taskmanagers=2, slots=2, topics=["tr:%d" % PARTS],
                 config=CONFIG) as c:
        out = os.path.join(c.dir, "out")
        recs = gen(12, 3000)
        job = submit(c, "trunc", "tr", out, interval="300ms", delay="2s")
        c.wait_running(job, 30)
        c.produce("tr", recs[:1500])
        ckdir = os.path.join(c.dir, "checkpoints", job)

        def completed():
            return sorted(int(d.rsplit("-", 1)[1]) for d in
                          glob.glob(os.path.join(ckdir, "chk-*"))
                          if os.path.exists(os.path.join(d, "_metadata")))
        wait_for(lambda: len(completed()) >= 2, 30, "2 checkpoints")
        c.kill_taskmanager(job=job, rnd=random.Random(3))
        # a checkpoint whose acks were all in may still complete: the
        # newest stays put once the JobManager notices the loss
        wait_for(lambda: "JOB-RESTART" in c.log("jobmanager"), 30,
                 "the JobManager noticed the loss")
        newest = completed()[-1]
        meta = os.path.join(ckdir, "chk-%d" % newest, "_metadata")
        size = os.path.getsize(meta)
        with open(meta, "r+b") as f:
            f.truncate(size // 2)
        c.start_taskmanager()
        wait_for(lambda: "JOB-REDEPLOY" in c.log("jobmanager"), 30,
                 "the job redeployed")
        log = c.log("jobmanager")
        check(re.search(r"CKPT-CORRUPT.*checkpoint %d " % newest, log),
              "no CKPT-CORRUPT for checkpoint %d:\n%s" % (newest, log[-3000:]))
        m = re.search(r"JOB-REDEPLOY.*from (\S+)", log)
        check(m and m.group(1).endswith("/chk-%d" % (newest - 1)),
              "redeployed from %s, not chk-%d" %
              (m.group(1) if m else None, newest - 1))
        c.wait_running(job, 30)
        c.produce("tr", recs[1500:] +
                  flush_records(max(r["ts"] for r in recs)))
        want = reference(recs)
        # Checkpoint n had completed and its files were committed before
        # its metadata was damaged: restoring n-1 replays what n covered,
        # so output is complete (nothing lost), not exactly-once. The
        # replayed duplicates can bring the count of committed windows to
        # the total before the last windows are in, so wait for every
        # window itself, not for a count.
        try:
            wait_for(lambda: not (want - committed(out)), 60,
                     "every window committed")
        except Failure:
            pass
        got = committed(out)
        check(not (want - got), "output lost %d windows" %
              sum((want - got).values()))
        c.cancel(job)


def first_half(c, name, seed, interval):
    """Submits the job on topic `name`, produces the first half of 4000
    records and waits until windows were committed (state holds open
    ones). Returns (out, recs, job)."""
    out = os.path.join(c.dir, "out")
    recs = gen(seed, 4000)
    job = submit(c, name, name, out, interval=interval)
    c.wait_running(job, 30)
    c.produce(name, recs[:2000])
    wait_for(lambda: sum(committed(out).values()) > 50, 30,
             "first windows committed")
    return out, recs, job


def check_restored_exact(c, out, recs, job2):
    """After a restore, the whole committed output equals the failure-free
    result."""
    want = reference(recs)
    wait_for(lambda: sum(committed(out).values()) >= sum(want.values()),
             60, "every window committed")
    two_more_checkpoints(c, job2)
    got = committed(out)
    check(got == want, "output differs after the rescaled restore: "
          "%d missing (%s), %d extra (%s)" %
          (sum((want - got).values()), list(want - got)[:3],
           sum((got - want).values()), list(got - want)[:3]))


def test_savepoint_stop_resubmit_rescaled():
    """Savepoint -> stop -> resubmit from it at parallelism 3 (was 2):
    keyed state moves by key group, partitions by p mod 3, staged files
    are committed once; the output continues with nothing lost or
    doubled. The savepoint directory is moved first (relocatable)."""
    with Cluster(taskmanagers=2, slots=3, topics=["sp:%d" % PARTS],
                 config=CONFIG) as c:
        out, recs, job = first_half(c, "sp", 13, "300ms")
        spdir = os.path.join(c.dir, "savepoints")
        r = c.cli("stop", job, "--savepoint-dir", spdir, "-o", "json",
                  timeout=120)
        path = json.loads(r.stdout)["path"]
        check(path.startswith("file://" + spdir + "/savepoint-"),
              "savepoint path %s" % path)
        check(c.info(job)["state"] == "FINISHED", "stopped job FINISHED")
        moved = os.path.join(c.dir, "moved-savepoint")
        os.rename(path[len("file://"):], moved)
        # An edited job whose window node lost its id: the savepoint's
        # state for 'w' maps to no node - refused, naming it, unless
        # allowed.
        jpath = os.path.join(c.dir, "sp.yaml")
        with open(jpath) as f:
            edited = f.read().replace("- id: w\n", "- id: w2\n").replace(
                "from: w\n", "from: w2\n").replace(
                out, os.path.join(c.dir, "out-edited"))
        epath = c.write("edited.yaml", edited)
        r = c.cli("run", "-d", "--from-savepoint", moved, epath, check_rc=1)
        err = r.stderr.decode()
        check("'w'" in err and "allow-non-restored-state" in err,
              "refusal does not name the operator: %r" % err)
        c.cancel(c.submit(epath, "--from-savepoint", moved,
                          "--allow-non-restored-state"))
        c.produce("sp", recs[2000:] +
                  flush_records(max(r["ts"] for r in recs)))
        job2 = c.submit(jpath, "-p", "3", "--from-savepoint", moved)
        i2 = c.info(job2)
        check(all(v["parallelism"] == 3 for v in i2["vertices"]),
              "resubmitted at parallelism 3: %s" %
              [v["parallelism"] for v in i2["vertices"]])
        check_restored_exact(c, out, recs, job2)
        c.cancel(job2)


def test_incremental_checkpoint_resubmit_rescaled():
    """A cancelled job's newest retained checkpoint, made of a full
    snapshot and deltas in older checkpoints' directories, restores a
    resubmission at parallelism 3 (was 2): each new subtask keeps its key
    groups of the base and of every delta; the output continues exactly
    (pre-commits of the checkpoint committed once)."""
    with Cluster(taskmanagers=2, slots=3, topics=["inc:%d" % PARTS],
                 config=CONFIG) as c:
        out, recs, job = first_half(c, "inc", 17, "200ms")
        c.wait_checkpoint(job, c.completed_checkpoints(job) + 4, 30)
        c.cancel(job)
        ckdir = os.path.join(c.dir, "checkpoints", job)
        done = sorted(int(d.rsplit("-", 1)[1]) for d in
                      glob.glob(os.path.join(ckdir, "chk-*"))
                      if os.path.exists(os.path.join(d, "_metadata")))
        # the newest retained one made only of deltas (every few a chain
        # is folded into a full snapshot)
        deltas = [n for n in done if not glob.glob(
            os.path.join(ckdir, "chk-%d" % n, "*.mdb"))]
        check(deltas, "every retained checkpoint (%s) holds a full "
              "snapshot: no delta to restore" % done)
        newest = deltas[-1]
        c.produce("inc", recs[2000:] +
                  flush_records(max(r["ts"] for r in recs)))
        job2 = c.submit(os.path.join(c.dir, "inc.yaml"), "-p", "3",
                        "--from-savepoint",
                        os.path.join(ckdir, "chk-%d" % newest))
        check_restored_exact(c, out, recs, job2)
        logs = "".join(open(p, errors="replace").read() for p in
                       glob.glob(os.path.join(c.dir, "log", "*.log")))
        check("CKPT-RESTORE-DELTA" in logs, "no delta applied")
        c.cancel(job2)


def test_stop_with_drain_fires_every_window():
    """`weir stop --drain`: the sources send the final watermark before
    the savepoint barrier, so every window - the open ones too - fires
    and is committed by the savepoint; the job ends FINISHED."""
    with Cluster(taskmanagers=1, slots=2, topics=["dr:%d" % PARTS],
                 config=CONFIG) as c:
        out = os.path.join(c.dir, "out")
        recs = gen(15, 1500)
        job = submit(c, "drain", "dr", out, interval="300ms")
        c.wait_running(job, 30)
        c.produce("dr", recs)  # no flush records: windows stay open
        want = reference(recs)
        # everything read (windows behind the watermark fired)
        wait_for(lambda: c.tm_metric("weir_records_in_total", job, "0") >=
                 len(recs), 30, "the source read every record")
        wait_for(lambda: sum(committed(out).values()) > 0, 30,
                 "first windows committed")
        check(sum(committed(out).values()) < sum(want.values()),
              "some windows must still be open before the drain")
        r = c.cli("stop", job, "--drain", "--savepoint-dir",
                  os.path.join(c.dir, "sp"), "-o", "json", timeout=120)
        check(json.loads(r.stdout)["path"].startswith("file://"),
              "stop printed no path")
        check(c.info(job)["state"] == "FINISHED", "job FINISHED")
        got = committed(out)
        check(got == want, "after the drain: %d missing, %d extra" %
              (sum((want - got).values()), sum((got - want).values())))


def test_startup_latest_resumes_from_savepoint():
    """A source started at `latest` that has read nothing yet still names
    its partitions' start offsets in a savepoint: records produced while
    the job was stopped are read after the resubmit, none skipped."""
    with Cluster(taskmanagers=1, slots=2, topics=["lt:2"],
                 config=CONFIG) as c:
        out = os.path.join(c.dir, "out")
        path = c.write("latest.yaml", """\
name: latest
parallelism: 2
checkpointing: { interval: 200ms }
sources:
  ev:
    kafka: { topic: lt, bootstrap: "%s", startup: latest }
    format: json
    schema: { product_id: string, amount: long, ts: timestamp }
nodes:
  - id: out
    from: ev
    sink: { file: { path: "%s" } }
""" % (c.bootstrap, out))
        job = c.submit(path)
        c.wait_running(job, 30)
        wait_for(lambda: c.completed_checkpoints(job) >= 1, 30, "a checkpoint")
        r = c.cli("stop", job, "--savepoint-dir",
                  os.path.join(c.dir, "sp"), "-o", "json", timeout=120)
        sp = json.loads(r.stdout)["path"]
        recs = [{"product_id": "p-%d" % (i % 3), "amount": i, "ts": BASE + i,
                 "_p": i % 2} for i in range(200)]
        c.produce("lt", recs)
        job2 = c.submit(path, "--from-savepoint", sp)
        wait_for(lambda: len(sink_lines(out, committed_only=True)) >= 200,
                 30, "every record produced while stopped")
        got = sorted(json.loads(l)["amount"]
                     for l in sink_lines(out, committed_only=True))
        check(got == list(range(200)), "read %d records, want 200 once" %
              len(got))
        c.cancel(job2)


def test_failing_checkpoints_tolerated_then_fail_over():
    """Checkpoints that cannot be written (storage is not writable) fail
    and are counted; tolerable_failed of them are tolerated, one more
    fails the job over (one restart allowed), then it fails."""
    with Cluster(taskmanagers=1, slots=2, topics=[],
                 config=CONFIG + 'checkpoints: { storage: '
                 '"file:///proc/weir-not-writable" }\n') as c:
        job = c.submit("""\
name: tolerate
parallelism: 1
checkpointing: { interval: 100ms, timeout: 5s, tolerable_failed: 2 }
restart: { strategy: fixed_delay, delay: 100ms, attempts: 1 }
sources:
  gen:
    datagen: { rate: 500 }
nodes:
  - id: per_product
    from: gen
    key_by: [product_id]
    reduce: { n: count() }
  - id: out
    from: per_product
    sink: { file: { path: "%s" } }
""" % os.path.join(c.dir, "out"), name="tol.yaml")
        ji = c.wait_state(job, "FAILED", 60)
        check("consecutive checkpoints failed (tolerable_failed is 2)"
              in (ji.get("failure") or ""), "failure: %s" % ji.get("failure"))
        cp = c.checkpoints(job)
        check(cp["counts"]["failed"] >= 6 and cp["counts"]["completed"] == 0,
              "counts %s" % cp["counts"])
        check(cp["restarts"] == 1, "restarts %s" % cp["restarts"])
        fails = [h for h in cp["history"] if h["status"] == "FAILED"]
        check(fails and "/proc/weir-not-writable" in
              (fails[0]["failure_message"] or ""),
              "failure reason: %s" % (fails[0] if fails else None))


if __name__ == "__main__":
    main([test_chaos_file_sink_exactly_once,
          test_chaos_postgres_sink_exactly_once,
          test_truncated_metadata_uses_previous,
          test_savepoint_stop_resubmit_rescaled,
          test_incremental_checkpoint_resubmit_rescaled,
          test_stop_with_drain_fires_every_window,
          test_startup_latest_resumes_from_savepoint,
          test_failing_checkpoints_tolerated_then_fail_over])
