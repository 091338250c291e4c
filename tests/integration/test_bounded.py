"""test_bounded.py - bounded inputs (docs/security.md) on `weir local`.

Records up to the documented limit cross a key_by shuffle intact (one
over a shuffle batch travels alone); one over WR_RECORD_MAX_BYTES is
dead-lettered at the source with its offset and the limit, and the job
keeps running. Timestamps outside years 0000..9999 (INT64_MAX, year
10000) are invalid records that never reach the watermark: windows after
them still fire with the right counts. Keyed state on a full disk (a
small tmpfs mounted over the state directory: needs root, else skipped)
fails the job with "No space left on device", not LMDB's "Input/output
error". A source topic that does not exist fails the job at start naming
topic and brokers; with kafka.allow_missing the source warns and waits
for it. Neither creates it. What this proves and what not: librdkafka's
mock broker auto-creates a topic that a metadata request naming it
allows to be created, as a real broker with auto.create.topics.enable
does, and the source's old per-topic lookup created it there (the job
then ran on an empty topic). The topic list (kcat -L: an all-topics
request, which creates nothing) lacking the topic shows weir never asked
for it that way; a broker that auto-creates on other requests (the mock
also does on Produce and Fetch) is not exercised, as weir sends none for
a topic it did not find."""
import glob
import json
import os
import random
import subprocess
import time

from weirtest import Cluster, check, main, run, sink_lines, wait_for

RECORD_LIMIT = 1024 * 1024  # WR_RECORD_MAX_BYTES (common/base/wr_limits.h)
BIG_KCAT = ["-X", "message.max.bytes=8000000"]

BIG_JOB = """\
name: big-records
parallelism: 2
sources:
  big:
    kafka: {{ topic: big, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ id: string, blob: string }}
    invalid: {{ policy: dead_letter, topic: big-dlq }}
nodes:
  - id: by_id
    from: big
    key_by: [id]
  - id: out
    from: by_id
    sink: {{ file: {{ path: "{out}" }} }}
  - id: to_kafka
    from: by_id
    sink: {{ kafka: {{ topic: big-out, bootstrap: "{bootstrap}" }} }}
"""

TS_JOB = """\
name: ts-range
parallelism: 1
sources:
  ev:
    kafka: {{ topic: ts, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ k: string, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: 0ms }}
    invalid: {{ policy: skip }}
nodes:
  - id: w
    from: ev
    key_by: [k]
    window: {{ tumbling: 1s }}
    aggregate: {{ n: count() }}
  - id: out
    from: w
    sink: {{ file: {{ path: "{out}" }} }}
"""

FULL_JOB = """\
name: state-disk-full
parallelism: 1
restart: {{ strategy: none }}
sources:
  orders:
    datagen: {{ rate: 0 }}
nodes:
  - id: per_order
    from: orders
    key_by: [order_id]
    reduce: {{ n: count() }}
  - id: dup
    from: per_order
    filter: "n > 1"
  - id: out
    from: dup
    sink: {{ file: {{ path: "{out}" }} }}
"""

MISSING_JOB = """\
name: missing-{topic}
parallelism: 1
restart: {{ strategy: none }}
sources:
  s:
    kafka: {{ topic: {topic}, bootstrap: "{bootstrap}", startup: earliest{extra} }}
    format: json
    schema: {{ a: string }}
nodes:
  - id: out
    from: s
    sink: {{ file: {{ path: "{out}" }} }}
"""

BASE = 1795000000000  # epoch ms, a whole second


def blob(rnd, n):
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789")
                   for _ in range(n))


def test_big_records(c):
    rnd = random.Random(15)
    big = blob(rnd, 900 * 1024)       # over a 32 KiB batch, under the limit
    huge = blob(rnd, 2 * 1024 * 1024)  # over the limit
    # Just under the limit, over librdkafka's default message.max.bytes
    # (1,000,000) that the Kafka sink's producer must not keep.
    edge = blob(rnd, RECORD_LIMIT - 40)
    recs = [{"id": "a", "blob": "small"}, {"id": "b", "blob": big},
            {"id": "c", "blob": huge}, {"id": "d", "blob": "after"},
            {"id": "e", "blob": edge}]
    out = c.dir + "/big-out"
    job = c.submit(BIG_JOB.format(bootstrap=c.bootstrap, out=out),
                   name="big.yaml", wait="RUNNING")
    c.produce("big", recs, partition=0, kcat_args=BIG_KCAT)

    def arrived():
        rows = [json.loads(l) for l in sink_lines(out)]
        return rows if len(rows) >= 4 else None
    rows = wait_for(arrived, 30, "the four records under the limit")
    got = {r["id"]: r["blob"] for r in rows}
    check(sorted(got) == ["a", "b", "d", "e"] and len(rows) == 4,
          "ids at the sink: %s" % sorted(r["id"] for r in rows))
    check(got["b"] == big, "the 900 KiB record arrived intact (%d bytes)"
          % len(got["b"]))
    check(got["e"] == edge, "the record at the limit arrived intact")

    def in_kafka():
        msgs = [json.loads(l) for l in c.consume("big-out") if l]
        return msgs if len(msgs) >= 4 else None
    msgs = wait_for(in_kafka, 30, "the four records in the Kafka sink")
    check({m["id"]: m["blob"] for m in msgs} == got,
          "the Kafka sink wrote them whole: %s" %
          sorted((m["id"], len(m["blob"])) for m in msgs))

    def dead():
        return [l for l in c.consume("big-dlq", fmt="%o\t%S\t%h\n")
                if l] or None
    dlq = wait_for(dead, 30, "the 2 MiB record dead-lettered")
    check(len(dlq) == 1, "one dead letter: %s" % [l[:200] for l in dlq])
    _, size, headers = dlq[0].split("\t", 2)
    check(int(size) == len(json.dumps(recs[2])), "its bytes: %s" % size)
    check("weir.offset=2" in headers and "weir.partition=0" in headers and
          "weir.topic=big" in headers, headers)
    check("big [0] offset 2" in headers and
          "over the record limit of %d bytes" % RECORD_LIMIT in headers,
          "the reason names offset and limit: %s" % headers)
    check(c.state(job) == "RUNNING", "the job keeps running")
    c.cancel(job)


def test_timestamps_out_of_range(c):
    out = c.dir + "/ts-out"
    job = c.submit(TS_JOB.format(bootstrap=c.bootstrap, out=out),
                   name="ts.yaml", wait="RUNNING")

    def window(sec, n=3):  # n records in [BASE + sec s, + 1 s)
        return [{"k": "x", "ts": BASE + sec * 1000 + i * 100}
                for i in range(n)]

    def rows():
        return [json.loads(l) for l in sink_lines(out)]
    # Windows 0 and 1, the poison, and the first record of window 2,
    # whose time fires windows 0 and 1: once they are out, the poison was
    # read (an accepted one would have moved the watermark past 9999).
    c.produce("ts", window(0) + window(1) + [
        '{"k": "x", "ts": 9223372036854775807}',  # INT64_MAX
        '{"k": "x", "ts": 253402300800000}',  # 10000-01-01
        '{"k": "x", "ts": "+10000-01-01T00:00:00Z"}',
        '{"k": "x", "ts": -62167219200001}',  # before 0000-01-01
    ] + window(2, 1), partition=0)
    wait_for(lambda: len(rows()) >= 2, 30, "windows 0 and 1")
    # The rest: windows after the poison still fire, nothing is late.
    c.produce("ts", [{"k": "x", "ts": BASE + 2000 + i * 100}
                     for i in (1, 2)] + window(3) +
              [{"k": "x", "ts": BASE + 10000}], partition=0)

    def fired():
        r = rows()
        return r if len(r) >= 4 and all(x["n"] == 3 for x in r) else None
    got = wait_for(fired, 30, "the four windows, two after the poison")
    check(len(got) == 4, "windows: %s" % got)
    starts = sorted(r["window_start"] for r in got)
    check(starts == sorted(set(starts)) and starts[0].startswith("2026-"),
          "four distinct windows in ISO form: %s" % starts)
    wait_for(lambda: c.tm_metric("weir_invalid_records_total", job) >= 4,
             20, "the out-of-range records counted as invalid")
    c.cancel(job)


def test_state_disk_full(c):
    if os.geteuid() != 0:
        print("     skipped: mounting a tmpfs needs root")
        return
    state = os.path.join(c.dir, "state")
    os.makedirs(state, exist_ok=True)
    # Keyed state opens its directory by path at deploy: jobs from now on
    # keep their state on this 2 MiB filesystem.
    run(["mount", "-t", "tmpfs", "-o", "size=2m", "weir-it-full", state],
        check_rc=0)
    try:
        job = c.submit(FULL_JOB.format(out=c.dir + "/full-out"),
                       name="full.yaml")
        info = c.wait_state(job, "FAILED", 60)
        check("No space left on device" in (info.get("failure") or ""),
              "the failure names the full disk: %s" % info.get("failure"))
        check("Input/output error" not in info["failure"], info["failure"])
    finally:
        # Lazy: a TaskManager may still hold the job's files open.
        subprocess.run(["umount", "-l", state])


def topics(c):
    return [t["topic"] for t in c.kafka_metadata()["topics"]]


def tm_logs(c):
    text = ""
    for path in glob.glob(os.path.join(c.dir, "log", "*taskmanager*.log")):
        with open(path, errors="replace") as f:
            text += f.read()
    return text


def test_missing_topic(c):
    job = c.submit(MISSING_JOB.format(topic="nosuch", bootstrap=c.bootstrap,
                                      out=c.dir + "/m-out", extra=""),
                   name="missing.yaml")
    info = c.wait_state(job, "FAILED", 30)
    why = info.get("failure") or ""
    check("topic nosuch: does not exist (brokers %s)" % c.bootstrap in why
          and "allow_missing" in why, "failure: %s" % why)
    check("nosuch" not in topics(c), "weir created the missing topic")

    out = c.dir + "/later-out"
    job = c.submit(MISSING_JOB.format(
        topic="later", bootstrap=c.bootstrap, out=out,
        extra=", allow_missing: true"), name="later.yaml")
    c.wait_running(job)
    wait_for(lambda: "SOURCE-TOPIC-MISSING" in tm_logs(c) and
             "topic=later" in tm_logs(c), 20, "the missing-topic warning")
    check("later" not in topics(c), "weir created the topic it waits for")
    check(c.state(job) == "RUNNING", "the job waits, RUNNING")
    c.cli("topic", "create", "later:1", "--dir", c.dir)
    c.produce("later", [{"a": "found"}], partition=0)
    wait_for(lambda: len(sink_lines(out)) == 1, 30,
             "the record of the topic made later at the sink")
    c.cancel(job)


def test_bounded():
    with Cluster(taskmanagers=2, slots=2,
                 topics=["big:1", "big-dlq:1", "big-out:2", "ts:1"]) as c:
        for t in (test_big_records, test_timestamps_out_of_range,
                  test_missing_topic, test_state_disk_full):
            t0 = time.monotonic()
            t(c)
            print("     %-32s %.1fs" % (t.__name__, time.monotonic() - t0))


if __name__ == "__main__":
    main([test_bounded])
