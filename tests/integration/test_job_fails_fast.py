"""test_job_fails_fast.py - a failed task fails its job at once.

A job of two vertices of two subtasks each (a Kafka source, a keyed count
into files) with no restarts: one source task fails on a record that is
not JSON. The JobManager tells the other tasks to stop; once each has
reported its end - CANCELED, or FAILED itself - the job is FAILED, within
about a heartbeat, not at the cancel deadline (JOB-CANCEL-TIMEOUT, 10 s).
"""
import os
import time

from weirtest import Cluster, check, main, scratch_dir

JOB = """\
name: fails-fast
parallelism: 2
restart: { strategy: none }
sources:
  orders:
    kafka: { topic: %(topic)s, bootstrap: "%(bootstrap)s", startup: earliest }
    format: json
    schema: { order_id: string, product: string }
    invalid: { policy: fail }
nodes:
  - id: per_product
    from: orders
    key_by: [product]
    reduce: { n: count() }
  - id: out
    from: per_product
    sink: { file: { path: "%(out)s" } }
"""

ROUNDS = 4
_tmp = scratch_dir("weir-failfast-")


def test_failed_task_fails_job_at_once():
    # Whether the last word the JobManager gets is a task's report or the
    # answer to its cancel is a race: a few jobs, one after the other.
    topics = ["orders%d" % i for i in range(ROUNDS)]
    with Cluster(taskmanagers=1, slots=2,
                 topics=["%s:2" % t for t in topics]) as c:
        for topic in topics:
            one_job(c, topic)
        check("JOB-CANCEL-TIMEOUT" not in c.log("jobmanager"),
              "no task was waited for until the cancel deadline")


def one_job(c, topic):
    job_id = c.submit(JOB % {"bootstrap": c.bootstrap, "topic": topic,
                             "out": os.path.join(_tmp, topic)})
    c.wait_running(job_id, 30)
    c.produce(topic, [{"order_id": "1", "product": "a", "_p": 1}])
    t0 = time.monotonic()
    c.produce(topic, ["this is not json"], partition=0)
    info = c.wait_state(job_id, "FAILED", 30, interval_s=0.02)
    took = time.monotonic() - t0
    # the first failure reported: the bad record's, or a consumer's whose
    # producer went away with it
    check(info["failure"], "a failure: %s" % info)
    # the source polls, the JobManager ticks and heartbeats at 1 s: well
    # under the 10 s cancel deadline
    check(took < 3.0, "%s: FAILED %.1f s after the bad record" %
          (topic, took))

if __name__ == "__main__":
    main([test_failed_task_fails_job_at_once])
