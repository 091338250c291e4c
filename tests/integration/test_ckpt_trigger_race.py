"""test_ckpt_trigger_race.py - a checkpoint trigger that races with a bounded
source finishing is skipped, not a failure counted against tolerable_failed.

A bounded datagen job (2 subtasks, chained into an exactly-once Kafka sink,
checkpoints every 200 ms, tolerable_failed 0, no restarts) runs with the
debug fault point WEIR_FAULT_FINISHED_REPORT_MS: every task holds its
FINISHED report back 2 s after its source ended. The JobManager still counts
the tasks as running and triggers checkpoints at sources that have ended -
the interleaving that made test_kafka_tx_sink fail once in a full parallel
run ("no source task of job ... here" counted as a failed checkpoint, the job
FAILED). The TaskManager must answer "not every task runs", the coordinator
skip the checkpoint without counting it, the job FINISH and a
read_committed reader see every order exactly once.

Then a stop-with-savepoint whose trigger reaches the sources as their
bounded input ends (WEIR_FAULT_SOURCE_END_MS holds each source at its end
of input before its last trigger poll - the interleaving that doubled three
windows in test_k8s_podsim's upgrade under load): the stop barrier must be
the last thing the sources send. Before the fix the end of stream followed
it; the final watermark fired the windows the savepoint holds, the sink
committed them at its finish, and the job resubmitted from the savepoint
fired them again.
"""
import collections
import json
import os
import sys

from weirtest import Cluster, check, main, wait_for

SRC = os.environ.get("WEIR_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(SRC, "scripts"))
import failover_drill  # noqa: E402

COUNT = 1500
HOLD_MS = 2000

JOB = """\
name: trigger-race
parallelism: 2
checkpointing: {{ interval: 200ms, tolerable_failed: 0 }}
restart: {{ strategy: none }}
sources:
  gen:
    datagen: {{ rate: 1500, count: {count} }}
nodes:
  - id: to_kafka
    from: gen
    sink: {{ kafka: {{ topic: race_out, semantic: exactly_once,
                      key: order_id }} }}
"""


def test_trigger_after_bounded_source_finished():
    env = dict(os.environ, WEIR_FAULT_FINISHED_REPORT_MS=str(HOLD_MS))
    with Cluster(taskmanagers=2, slots=2, topics=["race_out:4"],
                 env=env) as c:
        job = c.submit(JOB.format(count=COUNT), name="race.yaml")
        ji = c.wait_state(job, ("FINISHED", "FAILED", "CANCELED"), 90)
        tms = c.log("taskmanager-1") + c.log("taskmanager-2")
        check("FAULT-FINISHED-REPORT" in tms,
              "the fault point held no FINISHED report back (a debug "
              "build is needed)")
        check(ji["state"] == "FINISHED", "job %s: %s" % (ji["state"],
                                                         ji["failure"]))
        # Triggers landed while the ended tasks' reports were held back:
        # skipped, never counted.
        jm = c.log("jobmanager")
        check("CKPT-SKIPPED" in jm and "not every task runs" in jm,
              "no trigger was skipped:\n%s" % jm[-3000:])
        check("trigger failed" not in jm, "a trigger failed:\n%s" %
              jm[-3000:])
        cp = c.checkpoints(job)
        check(cp["counts"]["completed"] >= 1, "counts %s" % cp["counts"])
        check(cp["counts"]["in_progress"] == 0,
              "a checkpoint still in progress after the job finished: %s" %
              cp["counts"])
        for h in cp["history"]:
            check(h["status"] != "FAILED" or
                  h["failure_message"].startswith("skipped: "),
                  "a checkpoint failed: %s" % h)
        lines = c.consume("race_out", fmt="%k\t%s\n", committed=True)
        ids = [json.loads(l.split("\t", 1)[1])["order_id"] for l in lines]
        want = {"o-%d-%d" % (s, n) for s in range(2) for n in range(COUNT)}
        check(len(ids) == 2 * COUNT, "%d records, want %d" %
              (len(ids), 2 * COUNT))
        check(set(ids) == want, "every order once (%d missing)" %
              len(want - set(ids)))


def committed_windows(out):
    rows = collections.Counter()
    for line in failover_drill.committed_lines(out):
        r = json.loads(line)
        rows[(r["event_type"], failover_drill.iso_ms(r["window_start"]))] \
            += r["n"]
    return rows


def test_stop_trigger_at_end_of_input():
    p, rate, count = 2, 1000, 1000
    env = dict(os.environ, WEIR_FAULT_SOURCE_END_MS="6000")
    with Cluster(taskmanagers=1, slots=2, env=env) as c:
        out = os.path.join(c.dir, "out")
        # No periodic checkpoint in the way: the stop's savepoint is the
        # one trigger the held sources take.
        text = failover_drill.JOB.format(
            p=p, rate=rate, count=count, window=failover_drill.WINDOW_MS,
            out=out).replace("interval: 500ms", "interval: 1h")
        path = c.write("stopend.yaml", text)
        job = c.submit(path)
        wait_for(lambda: c.log("taskmanager-1").count("FAULT-SOURCE-END")
                 == p, 30, "both sources held at the end of their input")
        r = c.cli("stop", job, "--savepoint-dir",
                  os.path.join(c.dir, "sp"), "-o", "json", timeout=60)
        sp = json.loads(r.stdout)["path"]
        check(c.info(job)["state"] == "FINISHED", "stopped job FINISHED")
        first = committed_windows(out)
        want = failover_drill.expected(p, rate, count)
        job2 = c.submit(path, "--from-savepoint", sp)
        ji = c.wait_state(job2, ("FINISHED", "FAILED", "CANCELED"), 30)
        check(ji["state"] == "FINISHED", "resubmitted job %s" % ji["state"])
        rows = collections.Counter(
            (json.loads(l)["event_type"], json.loads(l)["window_start"])
            for l in failover_drill.committed_lines(out))
        dup = sorted(k for k, v in rows.items() if v > 1)
        got = committed_windows(out)
        check(not dup and got == want,
              "output not exact: %d windows twice (%s), missing %s, "
              "extra %s" % (len(dup), dup[:3], list((want - got).items())[:3],
                            list((got - want).items())[:3]))
        check(first and first != want, "the stop committed every window "
              "(%d): the final watermark followed its barrier" % len(first))


if __name__ == "__main__":
    main([test_trigger_after_bounded_source_finished,
          test_stop_trigger_at_end_of_input])
