"""test_ha_etcd.py - JobManager failover through etcd (high_availability
mode etcd).

One etcd, two JobManagers, two TaskManagers given both JobManager
addresses. A keyed tumbling-window job (nexmark events, deterministic in
event time, key_by event_type, 200 ms windows) checkpoints every 500 ms
into the exactly-once file sink; the leader is SIGKILLed mid-run; the
standby takes over (takeover time printed), recovers the job from the
etcd job store and adopts its tasks as they run (no restart counted;
they read on while there is no leader), the job runs on with checkpoint ids above the killed
leader's, and the committed output equals a failure-free run of the same
job exactly. Also: `weir --jobmanager A,B list` works whichever is first,
a standby's REST write answers 503 with the leader, its /readyz is 503,
its /healthz 200, and weir cluster -o json names the leader and epoch.

Split brain: the leader SIGSTOPped for twice the lease while the job
checkpoints; the standby takes over and completes checkpoints; on SIGCONT
the old leader exits with 75 (JM-HA-DEPOSED) and logs no completed
checkpoint after it was stopped; no checkpoint id is completed by both;
the job runs on under the new leader to its end, and its output equals a
failure-free run's on a cluster of its own, beside it.
"""
import collections
import re
import signal
import json
import os
import time
import urllib.request

from weirtest import (WEIR, Cluster, Failure, check, http_get, main,
                      metric_sum, metric_value, run, sink_lines, wait_for)

# Heartbeats as in the other recovery tests (the fixture's weir.yaml
# holds the jobmanager section already).
# A heartbeat timeout short enough for quick tests, long enough that a
# machine loaded by a parallel suite does not declare TaskManagers lost.
ENV = dict(os.environ, WEIR_JOBMANAGER_HEARTBEAT_INTERVAL="500ms",
           WEIR_JOBMANAGER_HEARTBEAT_TIMEOUT="3s")


def logs_tail(c):
    """The end of every daemon's log, for a failure's message."""
    out = []
    for name in ("jobmanager", "jobmanager-1", "tm-extra-1", "tm-extra-2"):
        try:
            text = c.log(name)
        except OSError:
            continue
        out.append("== %s\n%s" % (name, "\n".join(
            l for l in text.splitlines()[-400:]
            if "HEARTBEAT" not in l)[-2500:]))
    return "\n".join(out)


def records_in(addrs, job):
    """weir_records_in_total of job over the TaskManagers at addrs."""
    n = 0
    for a in addrs:
        try:
            st, text = http_get("http://%s/metrics" % a)
        except OSError:
            continue
        n += metric_sum(text, "weir_records_in_total", job=job)
    return n


def wait_running_again(c, job, timeout_s):
    try:
        wait_for(lambda: c.running(job), timeout_s, "the job RUNNING again")
    except Failure as e:
        raise Failure("%s\n%s" % (e, logs_tail(c)))

N = 4000  # events per subtask
# the same in both runs: nexmark spaces event times by the rate
RATE = 600
JOB = """\
name: ha-{name}
parallelism: 2
checkpointing: {{ interval: 500ms, timeout: 10s, retained: 3 }}
restart: {{ strategy: fixed_delay, delay: 200ms, attempts: 100 }}
sources:
  events:
    nexmark: {{ rate: {rate}, count: {n} }}
    event_time: {{ field: ts }}
nodes:
  - id: w
    from: events
    key_by: [event_type]
    window: {{ tumbling: 200ms }}
    aggregate: {{ n: count() }}
  - id: out
    from: w
    sink: {{ file: {{ path: "{out}" }} }}
"""


def committed(out):
    return collections.Counter(
        (r["event_type"], r["window_start"], r["n"])
        for r in (json.loads(l) for l in sink_lines(out, True)))


def post(port, path, body):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=body.encode(), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def ckpt_ids(c, job):
    return [k["id"] for k in c.checkpoints(job)["history"]
            if k["status"] == "COMPLETED"]


def check_standby(c, standby, leader):
    port = c.rest_ports[standby]
    st, _ = http_get("http://127.0.0.1:%d/readyz" % port)
    check(st == 503, "standby /readyz: %d" % st)
    st, _ = http_get("http://127.0.0.1:%d/healthz" % port)
    check(st == 200, "standby /healthz: %d" % st)
    st, body = post(port, "/jobs", "name: x\n")
    check(st == 503 and json.loads(body).get("leader") == c.jms[leader],
          "standby REST write: %d %s" % (st, body))
    for order in (c.jms, c.jms[::-1]):
        r = run([WEIR, "--jobmanager", ",".join(order), "list"],
                check_rc=0)
        check(r.returncode == 0, "list via %s" % order)
    cj = c.cluster_json()
    check(cj["leader"] == c.jms[leader] and cj["epoch"] > 0 and
          {j["address"]: j["role"] for j in cj["jobmanagers"]} ==
          {c.jms[leader]: "leader", c.jms[standby]: "standby"},
          "weir cluster: %s" % cj)


def test_leader_sigkill_failover():
    with Cluster(mode="daemons", jobmanagers=2, taskmanagers=2, slots=3,
                 env=ENV) as c:
        leader = wait_for(lambda: c.leader() is not None and [c.leader()],
                          20, "a leader")[0]
        standby = 1 - leader
        check_standby(c, standby, leader)

        # the failure-free run, to compare with
        ref_out = os.path.join(c.dir, "ref")
        ref = c.submit(JOB.format(name="ref", rate=RATE, n=N, out=ref_out),
                       name="ref.yaml")
        c.wait_state(ref, "FINISHED", 60)
        want = committed(ref_out)
        check(sum(want.values()) > 0, "the reference run wrote nothing")

        out = os.path.join(c.dir, "out")
        job = c.submit(JOB.format(name="ha", rate=RATE, n=N, out=out),
                       name="ha.yaml")
        c.wait_running(job, 30)
        c.wait_checkpoint(job, 3, 30)
        before = ckpt_ids(c, job)
        # the leader's registry (a standby's lists no TaskManager)
        st, body = http_get("http://127.0.0.1:%d/taskmanagers" %
                            c.rest_ports[leader])
        tm_addrs = [t["metrics_address"]
                    for t in json.loads(body)["taskmanagers"]]
        check(len(tm_addrs) == 2, "TaskManagers: %s" % body)
        n0 = records_in(tm_addrs, job)
        c.kill_jobmanager()
        t0 = time.monotonic()
        wait_for(lambda: c.leader() == standby, 30, "the standby to lead")
        t_lead = time.monotonic() - t0
        n1 = records_in(tm_addrs, job)
        wait_running_again(c, job, 60)
        print("     SIGKILL -> new leader %.2fs, -> job RUNNING %.2fs; "
              "%d records read while there was no leader" %
              (t_lead, time.monotonic() - t0, n1 - n0))
        log = c.log("jobmanager" if standby == 0 else "jobmanager-1")
        check("JM-HA-LEADER" in log and "JOB-RECOVERED job=%s" % job in log,
              "the new leader did not recover the job:\n" + log[-3000:])
        # adoption: every TaskManager is alive, so no task restarts; the
        # tasks kept reading while there was no leader
        check("JOB-ADOPTED job=%s attempt 0:" % job in log,
              "the new leader did not adopt the job:\n" + log[-3000:])
        st, text = http_get("http://127.0.0.1:%d/metrics" %
                            c.rest_ports[standby])
        check(metric_value(text, "weir_job_restarts_total",
                           '{job="%s"}' % job) == 0,
              "weir_job_restarts_total moved on the new leader")
        check(n1 > n0, "no record read while there was no leader")
        c.wait_state(job, "FINISHED", 90)
        after = [i for i in ckpt_ids(c, job) if i not in before]
        check(after and min(after) > max(before),
              "checkpoint ids after the failover %s do not continue above "
              "%d" % (sorted(after)[:5], max(before)))
        got = committed(out)
        check(got == want, "output differs from a failure-free run: %d "
              "missing (%s), %d extra (%s)" %
              (sum((want - got).values()), list(want - got)[:3],
               sum((got - want).values()), list(got - want)[:3]))
        for order in (c.jms, c.jms[::-1]):
            run([WEIR, "--jobmanager", ",".join(order), "list", "-a"],
                check_rc=0)


def test_leader_sigstop_steps_down():
    # The failure-free run, beside it on a cluster of its own (3N events
    # take 20 s: long enough for the stop, the takeover and checkpoints
    # under the new leader).
    with Cluster(taskmanagers=1, slots=2) as rc:
        ref_out = os.path.join(rc.dir, "ref")
        ref = rc.submit(JOB.format(name="ref", rate=RATE, n=3 * N,
                                   out=ref_out), name="ref.yaml")
        with Cluster(mode="daemons", jobmanagers=2, taskmanagers=2, slots=3,
                     env=ENV) as c:
            got = committed(split_brain(c))  # before c's dir goes
        rc.wait_state(ref, "FINISHED", 90)
        want = committed(ref_out)
        check(sum(want.values()) > 0, "the reference run wrote nothing")
        check(got == want, "output differs from a failure-free run: %d "
              "missing (%s), %d extra (%s)" %
              (sum((want - got).values()), list(want - got)[:3],
               sum((got - want).values()), list(got - want)[:3]))


def split_brain(c):
    """The SIGSTOP of the leader past its lease; the job's output
    directory."""
    leader = wait_for(lambda: c.leader() is not None and [c.leader()],
                      20, "a leader")[0]
    standby = 1 - leader
    out = os.path.join(c.dir, "out")
    job = c.submit(JOB.format(name="stop", rate=RATE, n=3 * N, out=out),
                   name="stop.yaml")
    c.wait_checkpoint(job, 3, 30)
    old = c.jm_procs[leader]
    name = "jobmanager" if leader == 0 else "jobmanager-1"
    old.send_signal(signal.SIGSTOP)
    t0 = time.monotonic()
    mark = len(c.log(name))
    wait_for(lambda: c.leader() == standby, 30, "the standby to lead")
    print("     SIGSTOP -> new leader %.2fs" % (time.monotonic() - t0))
    wait_running_again(c, job, 60)
    c.wait_checkpoint(job, 2, 30)
    wait_for(lambda: time.monotonic() - t0 > 6, 10, "twice the lease")
    old.send_signal(signal.SIGCONT)
    rc = old.wait(timeout=10)
    log = c.log(name)[mark:]
    check(rc == 75 and "JM-HA-DEPOSED" in log,
          "the old leader exited %d:\n%s" % (rc, log[-2000:]))
    check("CKPT-COMPLETED" not in log,
          "the deposed leader completed a checkpoint:\n" + log[-2000:])
    c.wait_state(job, "FINISHED", 90)
    # no checkpoint id completed twice: the old leader's before the stop,
    # the new one's from its own log
    new_log = c.log("jobmanager" if standby == 0 else "jobmanager-1")
    old_ids = re.findall(r"CKPT-COMPLETED job=%s checkpoint (\d+):" % job,
                         c.log(name)[:mark])
    new_ids = re.findall(r"CKPT-COMPLETED job=%s checkpoint (\d+):" % job,
                         new_log)
    check(old_ids and new_ids and not set(old_ids) & set(new_ids) and
          min(map(int, new_ids)) > max(map(int, old_ids)),
          "checkpoint ids: old leader %s, new leader %s" %
          (old_ids, new_ids))
    return out


if __name__ == "__main__":
    main([test_leader_sigkill_failover, test_leader_sigstop_steps_down])
