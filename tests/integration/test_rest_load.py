"""test_rest_load.py - 400 concurrent REST requests while a job runs: every
request is answered, no TaskManager is declared lost, the job does not
restart and heartbeats stay on time.

Issue 10: every REST handler used to call the JobManager's own RPC
endpoint and wait up to 15 s for it; with nng's threads all blocked in
handlers, RPC replies and heartbeats stopped, TaskManagers were declared
lost and a running job restarted over and over. GETs now read what the
JobManager's loop publishes, writes queue a command to it (503 when the
queue is full), and nothing waits on the loop for long.
"""
import json
import os
import threading
import time
import urllib.error
import urllib.request

from weirtest import Cluster, check, main, metric_sum, metric_value

REQUESTS = 400
# Long enough for any answer; a request not answered by then counts as
# lost (the old JobManager answered 400 requests in about 9.5 minutes).
REQUEST_TIMEOUT_S = 30

JOB = """\
name: rest-load
parallelism: 2
checkpointing: { interval: 500ms }
sources:
  gen:
    datagen: { rate: 500 }
nodes:
  - id: out
    from: gen
    sink: { file: { path: "%s" } }
"""

BAD_BODIES = [b"", b"{not yaml", b"name: x\n", b"sources: 7\n",
              b"\x00\x01\x02"]


def _request(base, i, job_id):
    """(method path, status or the error) of request number i."""
    kind = i % 4
    data, method = None, "GET"
    if kind == 0:
        path = "/jobs"
    elif kind == 1:
        path = "/jobs/" + job_id
    elif kind == 2:
        path = "/overview"
    else:
        path, method = "/jobs", "POST"
        data = BAD_BODIES[i % len(BAD_BODIES)]
    req = urllib.request.Request(base + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_S) as r:
            r.read()
            return method + " " + path, r.status
    except urllib.error.HTTPError as e:
        e.read()
        return method + " " + path, e.code
    except OSError as e:  # timeout, reset: not answered
        return method + " " + path, "no answer: %s" % e


def _heartbeat_sampler(c, stop, out):
    """The longest time since a TaskManager's last heartbeat /taskmanagers
    shows, sampled until stop is set; out["max"], out["samples"]."""
    while not stop.is_set():
        d = c.rest_json("/taskmanagers")
        if d is not None:
            out["samples"] += 1
            for t in d["taskmanagers"]:
                out["max"] = max(out["max"],
                                 t["time_since_last_heartbeat_ms"])
        stop.wait(0.2)


def test_concurrent_rest_requests():
    with Cluster(taskmanagers=2, slots=2, mode="daemons") as c:
        job = c.submit(JOB % os.path.join(c.dir, "out"), name="load.yaml")
        c.wait_running(job)
        c.wait_checkpoint(job, 1)
        m = c.metrics()
        lost0 = metric_value(m, "weir_taskmanagers_lost_total")
        restarts0 = metric_sum(m, "weir_job_restarts_total", job=job,
                               missing=None)
        base = "http://127.0.0.1:%d" % c.rest_port
        results = [None] * REQUESTS
        beats = {"max": 0, "samples": 0}
        stop = threading.Event()
        sampler = threading.Thread(target=_heartbeat_sampler,
                                   args=(c, stop, beats))
        sampler.start()

        def one(i):
            results[i] = _request(base, i, job)

        t0 = time.monotonic()
        threads = [threading.Thread(target=one, args=(i,))
                   for i in range(REQUESTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - t0
        stop.set()
        sampler.join()

        lost = [r for r in results if not isinstance(r[1], int)]
        statuses = {}
        for what, st in results:
            statuses.setdefault(what, {}).setdefault(st, 0)
            statuses[what][st] += 1
        print("%d requests in %.1f s: %s; longest heartbeat gap seen "
              "%d ms (%d samples)" % (REQUESTS, took, json.dumps(
                  {k: {str(s): n for s, n in v.items()}
                   for k, v in statuses.items()}), beats["max"],
                  beats["samples"]))
        check(not lost, "%d of %d requests not answered, e.g. %s" %
              (len(lost), REQUESTS, lost[:3]))
        for what, st in results:
            if what.startswith("GET"):
                check(st == 200, "%s answered %s" % (what, st))
            else:  # a bad job: 400, or 503 when the loop's queue is full
                check(st in (400, 503), "%s answered %s" % (what, st))
        m = c.metrics()
        check(metric_value(m, "weir_taskmanagers_lost_total") == lost0,
              "TaskManagers were declared lost:\n%s" %
              c.log("jobmanager")[-3000:])
        check(metric_sum(m, "weir_job_restarts_total", job=job,
                         missing=None) == restarts0,
              "the job restarted:\n%s" % c.log("jobmanager")[-3000:])
        check("TM-LOST" not in c.log("jobmanager"), "a TM-LOST line")
        # heartbeats every 1 s by default, timeout 5 s: a gap past 2.5 s
        # means the JobManager stopped taking them
        check(beats["samples"] > 0, "/taskmanagers never answered")
        check(beats["max"] < 2500, "a heartbeat gap of %d ms" %
              beats["max"])
        check(c.running(job), "the job is not running: %s" % c.info(job))
        c.cancel(job)


if __name__ == "__main__":
    main([test_concurrent_rest_requests])
