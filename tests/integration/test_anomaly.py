"""test_anomaly.py - the anomaly operator against a brute-force reference.

Readings of several sensors (Kafka, 4 partitions, event times out of order
within max_out_of_orderness, planted spikes) go through `anomaly:` (a
sliding history) into an exactly-once file sink (checkpoints). The
committed output must equal, record for record, what the definition of
docs/anomaly.md gives when computed here from the same input: per sensor,
the mean and population stddev of the values with ts in [ts - history,
ts), at least min_count of them, |x - mean| > threshold * stddev. At
parallelism 1, at parallelism 4 over 2 TaskManagers, and at parallelism 4
with a TaskManager SIGKILLed mid-run (and a replacement started): exact,
nothing lost, nothing twice."""
import collections
import datetime
import json
import math
import os
import random
import time

from weirtest import Cluster, check, main, metric_sum, sink_lines, wait_for

BASE = 1797000000000
OOO_MS = 300
HISTORY_MS = 2000
THRESHOLD = 3.0
MIN_COUNT = 5
SENSORS = ["s-%d" % i for i in range(6)]
PARTS = 4

CONFIG = """\
jobmanager: { heartbeat_interval: 300ms, heartbeat_timeout: 1500ms }
"""

JOB = """\
name: anomaly-{name}
parallelism: {p}
checkpointing: {{ interval: 200ms, timeout: 10s, retained: 3 }}
restart: {{ strategy: fixed_delay, delay: 200ms, attempts: 100 }}
sources:
  readings:
    kafka: {{ topic: {topic}, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ sensor_id: string, temperature: double, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: {ooo}ms }}
nodes:
  - id: spikes
    from: readings
    key_by: [sensor_id]
    anomaly: {{ value: temperature, history: {history}ms, threshold: {thr}, min_count: {min_count} }}
  - id: out
    from: spikes
    sink: {{ file: {{ path: "{out}" }} }}
"""


def gen(seed, n):
    """Readings in production order: distinct event times, disordered by
    less than the bound; about 2% spikes."""
    rnd = random.Random(seed)
    t, recs = BASE, []
    for _ in range(n):
        t += rnd.randrange(1, 12)
        i = rnd.randrange(len(SENSORS))
        x = 20.0 + 5 * i + round(rnd.gauss(0, 1), 3)
        if rnd.random() < 0.02:
            x += rnd.choice((-1, 1)) * rnd.uniform(8, 15)
        recs.append({"sensor_id": SENSORS[i], "temperature": x, "ts": t,
                     "_p": rnd.randrange(PARTS)})
    return sorted(recs, key=lambda r: r["ts"] + rnd.randrange(OOO_MS - 50))


def flush_records(last_ts):
    """One far-future record per partition: the watermark passes every
    reading (a key of its own, never emitted: below min_count)."""
    return [{"sensor_id": "zz", "temperature": 0.0, "ts": last_ts + 60000,
             "_p": p} for p in range(PARTS)]


def reference(recs):
    """{(sensor, ts): (x, mean, stddev)} of the anomalous readings."""
    by = collections.defaultdict(list)
    for r in recs:
        by[r["sensor_id"]].append((r["ts"], r["temperature"]))
    out = {}
    for k, rs in by.items():
        rs.sort()
        for ts, x in rs:
            h = [v for t2, v in rs if ts - HISTORY_MS <= t2 < ts]
            if len(h) < MIN_COUNT:
                continue
            mean = math.fsum(h) / len(h)
            sd = math.sqrt(math.fsum((v - mean) ** 2 for v in h) / len(h))
            dev, lim = abs(x - mean), THRESHOLD * sd
            check(abs(dev - lim) > 1e-6 * max(1.0, lim),
                  "the input has a borderline reading (change the seed)")
            if dev > lim:
                out[(k, ts)] = (x, mean, sd)
    return out


def iso_ms(s):
    d = datetime.datetime.strptime(s.replace("Z", "+0000"),
                                   "%Y-%m-%dT%H:%M:%S.%f%z"
                                   if "." in s else "%Y-%m-%dT%H:%M:%S%z")
    return int(d.timestamp() * 1000)


def committed(out):
    """Counter of (sensor, ts) over committed output, and the rows."""
    n, rows = collections.Counter(), {}
    for line in sink_lines(out, committed_only=True):
        r = json.loads(line)
        key = (r["sensor_id"], iso_ms(r["ts"]))
        n[key] += 1
        rows[key] = r
    return n, rows


def compare(want, out, what):
    n, rows = committed(out)
    dup = [k for k, c in n.items() if c > 1]
    missing = set(want) - set(rows)
    extra = set(rows) - set(want)
    check(not dup and not missing and not extra,
          "%s: %d twice (%s), %d missing (%s), %d extra (%s)" %
          (what, len(dup), dup[:2], len(missing), sorted(missing)[:2],
           len(extra), sorted(extra)[:2]))
    for k, (x, mean, sd) in want.items():
        r = rows[k]
        score = (x - mean) / sd
        ok = (r["temperature"] == x and
              abs(r["mean"] - mean) <= 1e-9 * max(1.0, abs(mean)) and
              abs(r["stddev"] - sd) <= 1e-9 * max(1.0, sd) and
              abs(r["score"] - score) <= 1e-7 * max(1.0, abs(score)))
        check(ok, "%s: %s: got %s, want x %r mean %r stddev %r score %r" %
              (what, k, r, x, mean, sd, score))


def submit(c, name, p, topic, out):
    return c.submit(JOB.format(name=name, p=p, topic=topic,
                               bootstrap=c.bootstrap, ooo=OOO_MS,
                               history=HISTORY_MS, thr=THRESHOLD,
                               min_count=MIN_COUNT, out=out),
                    name=name + ".yaml")


def settle(c, job, out, want, what):
    """Waits for every anomaly committed, then two more checkpoints (what
    a sink would still commit twice shows by then), and compares."""
    wait_for(lambda: len(committed(out)[1]) >= len(want), 60,
             "%s: %d anomalies committed" % (what, len(want)),
             interval_s=0.2)
    c.wait_checkpoint(job, c.completed_checkpoints(job) + 2, 30)
    compare(want, out, what)


def restarts(c, job):
    return int(metric_sum(c.metrics(), "weir_job_restarts_total", job=job))


def test_anomaly_matches_reference():
    recs = gen(11, 3000)
    want = reference(recs)
    check(len(want) >= 30, "the input plants enough spikes: %d" % len(want))
    with Cluster(taskmanagers=2, slots=2, topics=["rd:4", "rk:4"],
                 config=CONFIG) as c:
        c.produce("rd", recs + flush_records(recs[-1]["ts"] + OOO_MS))
        for p in (1, 4):
            t0 = time.monotonic()
            out = os.path.join(c.dir, "out-%d" % p)
            job = submit(c, "p%d" % p, p, "rd", out)
            settle(c, job, out, want, "p=%d" % p)
            c.cancel(job)
            print("     p=%d: %d readings, %d sensors, %d anomalies exact "
                  "(%.1fs)" % (p, len(recs), len(SENSORS), len(want),
                               time.monotonic() - t0))

        # A TaskManager SIGKILLed mid-run, records still coming.
        t0 = time.monotonic()
        out = os.path.join(c.dir, "out-kill")
        job = submit(c, "kill", 4, "rk", out)
        c.wait_running(job, 30)
        half = len(recs) // 2
        c.produce("rk", recs[:half])
        c.wait_checkpoint(job, c.completed_checkpoints(job) + 2, 30)
        before = restarts(c, job)
        c.kill_taskmanager(job=job, rnd=random.Random(3))
        c.start_taskmanager()
        c.produce("rk", recs[half:])
        wait_for(lambda: restarts(c, job) > before, 30, "a restart")
        c.wait_running(job, 60)
        c.produce("rk", flush_records(recs[-1]["ts"] + OOO_MS))
        settle(c, job, out, want, "p=4 with a SIGKILL")
        c.cancel(job)
        print("     p=4, TaskManager SIGKILLed mid-run: %d anomalies exact, "
              "%d restart(s) (%.1fs)" % (len(want), restarts(c, job) - before,
                                         time.monotonic() - t0))


if __name__ == "__main__":
    main([test_anomaly_matches_reference])
