"""test_windows.py - event-time windows against a brute-force reference.

Event-time windows against a brute-force reference computed here,
over a randomized, out-of-order stream (fixed seed): tumbling, sliding and
session windows at parallelism 1 and 4 across 2 TaskManagers. Also: an
idle partition does not stall windows once idle_timeout passes; late
records within allowed lateness update results, later ones are counted
as dropped; with a late_output read by a node, they reach its sink
instead. Processing-time windows (no event time): records counted into
wall-clock windows fired by the clock, and at the end of bounded input."""
import collections
import datetime
import glob
import json
import os
import random
import time

from weirtest import Cluster, Failure, check, main, sink_lines, wait_for

BASE = 1795000000000  # epoch ms, a whole second
OOO_MS = 400
KEYS = ["p-%d" % i for i in range(6)]

JOB = """\
name: win-{name}
parallelism: {p}
sources:
  orders:
    kafka: {{ topic: {topic}, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ product_id: string, amount: double, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: {ooo}ms{idle} }}
nodes:
  - id: w
    from: orders
    key_by: [product_id]
    window: {window}
    allowed_lateness: {lateness}
    aggregate: {{ n: count(), revenue: sum(amount), lo: min(amount), hi: max(amount), mean: avg(amount) }}
  - id: out
    from: w
    sink: {{ file: {{ path: "{out}" }} }}
"""


def gen_stream(seed, n):
    """Records in production order; event times disordered by < OOO_MS."""
    rnd = random.Random(seed)
    t, recs = BASE, []
    for i in range(n):
        t += rnd.randrange(1, 60) if rnd.random() > 0.03 else 700
        recs.append({"product_id": rnd.choice(KEYS),
                     "amount": float(rnd.randrange(1, 1000)), "ts": t})
    # Disorder: sort by time plus a jitter below the bound.
    keyed = sorted(recs, key=lambda r: r["ts"] + rnd.randrange(OOO_MS - 50))
    return keyed


def iso(ms):
    d = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def agg(vals):
    return (len(vals), sum(vals), min(vals), max(vals), sum(vals) / len(vals))


def reference(recs, kind, size, slide=None, gap=None):
    """{(key, start, end): (count, sum, min, max, avg)}"""
    acc = collections.defaultdict(list)
    if kind == "session":
        by_key = collections.defaultdict(list)
        for r in recs:
            by_key[r["product_id"]].append(r)
        for k, rs in by_key.items():
            rs.sort(key=lambda r: r["ts"])
            start, end, vals = None, None, []
            for r in rs:
                # Flink merges sessions that touch: [a, b) and [b, c).
                if start is not None and r["ts"] <= end:
                    end = max(end, r["ts"] + gap)
                    vals.append(r["amount"])
                    continue
                if start is not None:
                    acc[(k, start, end)] = vals
                start, end, vals = r["ts"], r["ts"] + gap, [r["amount"]]
            acc[(k, start, end)] = vals
    else:
        step = slide or size
        for r in recs:
            last = r["ts"] - r["ts"] % step
            s = last
            while s > r["ts"] - size:
                acc[(r["product_id"], s, s + size)].append(r["amount"])
                s -= step
    return {k: agg(v) for k, v in acc.items()}


def produce(cluster, topic, recs, partitions):
    """recs to topic, each to its "_p" partition or a random one."""
    rnd = random.Random(5)
    cluster.produce(topic, [r if "_p" in r else
                            dict(r, _p=rnd.randrange(partitions))
                            for r in recs])


def flush_records(partitions, key="zz-flush"):
    # Far-future records on every partition push every watermark past
    # every real window; their own windows never fire.
    return [{"product_id": key, "amount": 1.0, "ts": BASE + 86400000,
             "_p": p} for p in range(partitions)]


def read_results(out_dir):
    return [json.loads(l) for l in sink_lines(out_dir)]


def as_map(rows):
    out = {}
    for r in rows:
        out[(r["product_id"], r["window_start"], r["window_end"])] = (
            r["n"], r["revenue"], r["lo"], r["hi"], r["mean"])
    return out


def submit(cluster, **kw):
    return cluster.submit(JOB.format(**kw), name="win-%s.yaml" % kw["name"])


def compare(ref, rows, what):
    want = {(k, iso(s), iso(e)): v for (k, s, e), v in ref.items()}
    got = as_map(rows)
    check(len(rows) == len(got), "%s: no window emitted twice" % what)
    missing = set(want) - set(got)
    extra = set(got) - set(want)
    check(not missing and not extra, "%s: %d missing, %d extra (e.g. %s)" %
          (what, len(missing), len(extra), sorted(missing or extra)[:2]))
    for k, v in want.items():
        g = got[k]
        check(g[0] == v[0] and g[1] == v[1] and g[2] == v[2] and
              g[3] == v[3] and abs(g[4] - v[4]) < 1e-9 * max(1, abs(v[4])),
              "%s: window %s: got %s want %s" % (what, k, g, v))


CASES = [
    ("tumbling", "{ tumbling: 1s }", dict(size=1000)),
    ("sliding", "{ sliding: 2s, slide: 500ms }", dict(size=2000, slide=500)),
    ("session", "{ session: 300ms }", dict(size=None, gap=300)),
]


def task_ends(c, job):
    """How the job's tasks ended, from the daemons' logs: what a failed
    comparison needs to tell a lost in-progress file from a wrong window."""
    lines = []
    for path in sorted(glob.glob(os.path.join(c.dir, "log", "*.log"))):
        with open(path, errors="replace") as f:
            lines += ["%s: %s" % (os.path.basename(path), l.rstrip())
                      for l in f if job in l and any(
                          w in l for w in ("TASK-END", "FENCED", "ORPHAN",
                                           "JOB-", "FAILED"))]
    return "\n".join(lines[-40:])


def test_windows_match_reference():
    with Cluster(taskmanagers=2, slots=2, topics=["ev:4"]) as c:
        recs = gen_stream(42, 4000)
        produce(c, "ev", recs + flush_records(4), 4)
        for p in (1, 4):
            for name, window, params in CASES:
                kind = name
                ref = reference(recs, kind, **params)
                out = os.path.join(c.dir, "out-%s-%d" % (name, p))
                job = submit(c, name="%s-%d" % (name, p), p=p, topic="ev",
                             bootstrap=c.bootstrap, ooo=OOO_MS, idle="",
                             window=window, lateness="0s", out=out)
                wait_for(lambda: len(read_results(out)) >= len(ref), 60,
                         "%s p=%d: %d windows" % (name, p, len(ref)),
                         interval_s=0.2)
                c.cancel(job)
                what = "%s p=%d" % (name, p)
                try:
                    compare(ref, read_results(out), what)
                except Failure as e:
                    raise Failure("%s\n%s" % (e, task_ends(c, job)))
                print("     %s p=%d: %d windows exact" % (name, p, len(ref)))


def test_idle_partition_and_lateness():
    with Cluster(taskmanagers=2, slots=2, topics=["idle:2"]) as c:
        # Only partition 0 gets data; partition 1 stays silent.
        recs = [{"product_id": "k", "amount": float(i + 1),
                 "ts": BASE + i * 100, "_p": 0} for i in range(30)]
        recs.append({"product_id": "k", "amount": 1.0,
                     "ts": BASE + 10000, "_p": 0})
        produce(c, "idle", recs, 2)
        out = os.path.join(c.dir, "out-idle")
        job = submit(c, name="idle", p=1, topic="idle",
                     bootstrap=c.bootstrap, ooo=0,
                     idle=", idle_timeout: 1s", window="{ tumbling: 1s }",
                     lateness="2s", out=out)
        # Windows [0,1s), [1s,2s), [2s,3s) fire once partition 1 is idle.
        wait_for(lambda: len(read_results(out)) >= 3, 30,
                 "windows despite an idle partition", interval_s=0.2)
        got = as_map(read_results(out))
        check(got[("k", iso(BASE), iso(BASE + 1000))][0] == 10,
              "first window counts 10: %s" % got)
        # A late record within lateness (watermark is BASE+10000, window
        # [2s,3s) ends at BASE+3000: 3000-1+2000 < 10000? no: beyond)
        # -> dropped and counted; a record for [9s,10s) is within
        # lateness and updates that window when it fires.
        late = [{"product_id": "k", "amount": 5.0, "ts": BASE + 2500,
                 "_p": 0},
                {"product_id": "k", "amount": 7.0, "ts": BASE + 9500,
                 "_p": 0},
                {"product_id": "k", "amount": 1.0, "ts": BASE + 13000,
                 "_p": 0}]
        produce(c, "idle", late, 2)

        wait_for(lambda: c.tm_metric("weir_late_records_dropped_total") == 1, 20, "one late record dropped")
        wait_for(lambda: any(r["window_start"] == iso(BASE + 9000) and
                             r["n"] == 1 for r in read_results(out)), 20,
                 "the [9s,10s) window fires with the in-lateness record")
        c.cancel(job)


LATE_JOB = """\
name: win-late-side
parallelism: 1
sources:
  orders:
    kafka: {{ topic: {topic}, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ product_id: string, amount: double, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: 0ms }}
nodes:
  - id: w
    from: orders
    key_by: [product_id]
    window: {{ tumbling: 1s }}
    allowed_lateness: 1s
    late_output: late
    aggregate: {{ n: count() }}
  - id: out
    from: w
    sink: {{ file: {{ path: "{out}" }} }}
  - id: late_out
    from: late
    sink: {{ file: {{ path: "{late_out}" }} }}
"""


def late_dropped(c, job):
    """weir_late_records_dropped_total of job, summed over its tasks."""
    return c.tm_metric("weir_late_records_dropped_total", job=job)


def test_late_output_side_stream():
    with Cluster(taskmanagers=2, slots=2, topics=["lateside:1"]) as c:
        recs = [{"product_id": "k", "amount": float(i + 1),
                 "ts": BASE + i * 100, "_p": 0} for i in range(30)]
        recs.append({"product_id": "k", "amount": 1.0,
                     "ts": BASE + 10000, "_p": 0})
        produce(c, "lateside", recs, 1)
        out = os.path.join(c.dir, "out-late-main")
        late_out = os.path.join(c.dir, "out-late-side")
        job = c.submit(LATE_JOB.format(topic="lateside",
                                       bootstrap=c.bootstrap, out=out,
                                       late_out=late_out),
                       name="win-late-side.yaml")
        # The watermark has passed BASE+10000 once [2s,3s) fired.
        wait_for(lambda: len(read_results(out)) >= 3, 30,
                 "main windows fire", interval_s=0.2)
        # [2s,3s) is beyond its lateness (3000-1+1000 <= 10000): the record
        # goes to the late output with its fields as they arrived.
        late = {"product_id": "late-k", "amount": 5.0, "ts": BASE + 2500,
                "_p": 0}
        produce(c, "lateside", [late], 1)
        want = {"product_id": "late-k", "amount": 5.0,
                "ts": iso(BASE + 2500)}
        wait_for(lambda: want in read_results(late_out), 30,
                 "the late record in the late_output sink", interval_s=0.2)
        rows = read_results(late_out)
        check(rows == [want], "only the late record: %s" % rows)
        check(not any(r["product_id"] == "late-k"
                      for r in read_results(out)),
              "the late record updates no window")
        check(late_dropped(c, job) == 0,
              "nothing dropped: %s" % late_dropped(c, job))
        c.cancel(job)


PROC_JOB = """\
name: win-proc-{name}
parallelism: {p}
sources:
  {src}
nodes:
  - id: w
    from: orders
    key_by: [product_id]
    window: {{ tumbling: {size}, processing_time: true }}
    aggregate: {{ n: count(), revenue: sum(amount) }}
  - id: out
    from: w
    sink: {{ file: {{ path: "{out}" }} }}
"""


def epoch_ms(iso_text):
    return int(datetime.datetime.strptime(
        iso_text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp() * 1000)


def test_processing_time_windows():
    """A source without event time: 1 s windows of the wall clock, fired by
    it (no watermark, no flush record); two bursts 1.5 s apart land in
    different windows; every record counted once. A bounded generator
    into a 1 h window: the window fires at the end of input."""
    with Cluster(taskmanagers=2, slots=2, topics=["proc:4"]) as c:
        out = os.path.join(c.dir, "out-proc")
        src = ('orders: { kafka: { topic: proc, bootstrap: "%s", '
               'startup: earliest }, format: json, schema: '
               '{ product_id: string, amount: double } }' % c.bootstrap)
        job = c.submit(PROC_JOB.format(name="kafka", p=2, src=src,
                                       size="1s", out=out),
                       name="win-proc.yaml")
        c.wait_running(job, 30)
        rnd = random.Random(9)
        t0 = int(time.time() * 1000)
        first = [{"product_id": rnd.choice(KEYS), "amount": 1.0,
                  "_p": rnd.randrange(4)} for _ in range(300)]
        produce(c, "proc", first, 4)
        wait_for(lambda: sum(r["n"] for r in read_results(out)) >= 300, 30,
                 "the first burst's windows fired by the clock",
                 interval_s=0.2)
        time.sleep(1.5)  # the next burst in a later wall-clock window
        second = [{"product_id": rnd.choice(KEYS), "amount": 2.0,
                   "_p": rnd.randrange(4)} for _ in range(200)]
        produce(c, "proc", second, 4)
        wait_for(lambda: sum(r["n"] for r in read_results(out)) >= 500, 30,
                 "the second burst's windows", interval_s=0.2)
        t1 = int(time.time() * 1000)
        rows = read_results(out)
        check(sum(r["n"] for r in rows) == 500,
              "500 records counted once: %d" % sum(r["n"] for r in rows))
        check(sum(r["revenue"] for r in rows) == 700.0,
              "revenue 300 x 1 + 200 x 2: %s" %
              sum(r["revenue"] for r in rows))
        starts = set()
        for r in rows:
            s, e = epoch_ms(r["window_start"]), epoch_ms(r["window_end"])
            check(s % 1000 == 0 and e - s == 1000,
                  "a 1 s window aligned to the second: %s" % r)
            check(t0 - 1000 <= s <= t1, "window %s..%s outside the "
                  "run's wall clock %d..%d" % (s, e, t0, t1))
            starts.add(s)
        check(any(r["revenue"] == r["n"] * 2.0 for r in rows) and
              any(r["revenue"] == r["n"] * 1.0 for r in rows),
              "the bursts land in windows of their own: %s" % rows)
        c.cancel(job)
        out2 = os.path.join(c.dir, "out-proc-bounded")
        src2 = "orders: { datagen: { rate: 0, count: 1000 } }"
        job2 = c.submit(PROC_JOB.format(name="bounded", p=1, src=src2,
                                        size="1h", out=out2),
                        name="win-proc-bounded.yaml")
        wait_for(lambda: c.info(job2)["state"] == "FINISHED", 60,
                 "the bounded job finished")
        n = sum(r["n"] for r in read_results(out2))
        check(n == 1000, "the 1 h window fired at the end of input with "
              "every record: %d" % n)
        print("     processing time: %d windows over %d ms, bounded %d" %
              (len(rows), t1 - t0, n))


if __name__ == "__main__":
    main([test_windows_match_reference, test_idle_partition_and_lateness,
          test_late_output_side_stream, test_processing_time_windows])
