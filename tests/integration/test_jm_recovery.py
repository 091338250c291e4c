"""test_jm_recovery.py - a JobManager without HA (mode none) SIGKILLed and
started again recovers its jobs from the job store.

weir local with 2 TaskManagers: a keyed tumbling-window job (Kafka ->
key_by/tumbling 1 s -> exactly-once file sink, checkpoints every 500 ms)
runs while records arrive; a second job is submitted and acknowledged just
before the SIGKILL, a third cancelled before it. The JobManager is started
again on the same weir.yaml: the first two jobs come back with their ids
and run, checkpoint ids continue above every id the killed JobManager
used, the tasks the killed JobManager left running are adopted as they
run (every TaskManager is alive: no task restarts, the attempt and the
restart count stay), the cancelled job stays gone, and the committed
output equals a failure-free run exactly - what the sinks pre-committed
for the checkpoint in flight at the kill is committed by the next one. Prints the time from
restart to RUNNING.
"""
import json
import os
import re
import time

from test_checkpoints import (flush_records, gen, reference, committed,
                              submit, two_more_checkpoints)
from weirtest import Cluster, check, main, metric_sum, wait_for

CONFIG = """\
jobmanager: { heartbeat_interval: 300ms, heartbeat_timeout: 1500ms }
"""


def list_all(c):
    return {j["job_id"]: j for j in
            json.loads(c.cli("list", "-a", "-o", "json").stdout)["jobs"]}


def ckpt_ids(c, job):
    return [k["id"] for k in c.checkpoints(job)["history"]]


def test_jm_sigkill_recovers_jobs():
    with Cluster(taskmanagers=2, slots=3, topics=["ev:4", "side:1"],
                 config=CONFIG) as c:
        out = os.path.join(c.dir, "out")
        recs = gen(21, 4000)
        job = submit(c, "rec", "ev", out, interval="500ms", delay="200ms")
        c.wait_running(job, 30)
        half = len(recs) // 2
        for i in range(0, half, 400):
            c.produce("ev", recs[i:i + 400])
        c.wait_checkpoint(job, 3, 30)
        wait_for(lambda: sum(committed(out).values()) > 0, 30,
                 "first windows committed")
        gone = submit(c, "gone", "side", os.path.join(c.dir, "out-gone"),
                      interval="500ms")
        c.wait_running(gone, 30)
        c.cancel(gone)
        late = submit(c, "late", "side", os.path.join(c.dir, "out-late"),
                      interval="500ms")
        # acknowledged: killed before it ever checkpointed; records in
        # flight, windows open, a checkpoint likely in progress
        c.produce("ev", recs[half:half + 400])
        before = ckpt_ids(c, job)
        c.kill_jobmanager()
        t0 = time.monotonic()
        c.start_jobmanager("jm2")
        wait_for(lambda: c.running(job), 30, "recovered job RUNNING")
        print("     restart -> RUNNING in %.2fs" % (time.monotonic() - t0))
        c.wait_running(late, 30)
        jobs = list_all(c)
        check(job in jobs and late in jobs,
              "weir list -a after the restart: %s" % list(jobs))
        check(gone not in jobs, "the cancelled job came back: %s" %
              jobs.get(gone))
        log = c.log("jm2")
        check(re.search(r"JOB-RECOVERED job=%s" % job, log) and
              re.search(r"JOB-RECOVERED job=%s" % late, log),
              "no JOB-RECOVERED lines:\n" + log[-3000:])
        # every TaskManager is alive and reports the killed JobManager's
        # attempt where it runs: the job is adopted as it runs - no task
        # restarted, same attempt, restarts not counted
        check(re.search(r"JOB-ADOPTED job=%s attempt 0: " % job, log),
              "the job was not adopted:\n" + log[-3000:])
        check("TM-TASK-NOT-KEPT" not in log or
              not re.search(r"TM-TASK-NOT-KEPT .* job %s " % job, log),
              "a task of the adopted job was not kept:\n" + log[-3000:])
        check(metric_sum(c.metrics(), "weir_job_restarts_total", job=job,
                         missing=None) == 0,
              "weir_job_restarts_total moved")
        for i in range(half + 400, len(recs), 400):
            c.produce("ev", recs[i:i + 400])
        c.produce("ev", flush_records(max(r["ts"] for r in recs)))
        want = reference(recs)
        wait_for(lambda: sum(committed(out).values()) >= sum(want.values()),
                 60, "every window committed")
        two_more_checkpoints(c, job)
        after = ckpt_ids(c, job)
        check(after and min(after) > max(before),
              "checkpoint ids after the restart %s do not continue above "
              "%d" % (sorted(after)[:5], max(before)))
        got = committed(out)
        check(got == want, "output differs from a failure-free run: %d "
              "missing (%s), %d extra (%s)" %
              (sum((want - got).values()), list(want - got)[:3],
               sum((got - want).values()), list(got - want)[:3]))
        c.cancel(job)
        c.cancel(late)
        store = os.path.join(c.dir, "checkpoints", "jobstore", "jobs")
        left = os.listdir(store) if os.path.isdir(store) else []
        check(not left, "entries of cancelled jobs left in the job "
              "store: %s" % left)


if __name__ == "__main__":
    main([test_jm_sigkill_recovers_jobs])
