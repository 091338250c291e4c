"""test_ha_etcd.py - JobManager failover through etcd (high_availability
mode etcd).

One etcd, two JobManagers, two TaskManagers given both JobManager
addresses. A keyed tumbling-window job (nexmark events, deterministic in
event time, key_by event_type, 200 ms windows) checkpoints every 500 ms
into the exactly-once file sink; the leader is SIGKILLed mid-run; the
standby takes over (takeover time printed), recovers the job from the
etcd job store and adopts its tasks as they run (no restart counted;
they read on while there is no leader), the job runs on with checkpoint
ids above the killed leader's, and the committed output equals a
failure-free run of the same job exactly (computed from the generator's
definition). Also: `weir --jobmanager A,B list` works whichever is
first, a standby's REST write answers 503 with the leader, its /readyz is 503,
its /healthz 200, and weir cluster -o json names the leader and epoch.

Split brain: the leader SIGSTOPped for twice the lease while the job
checkpoints; the standby takes over and completes checkpoints; on SIGCONT
the old leader exits with 75 (JM-HA-DEPOSED) and logs no completed
checkpoint after it was stopped; no checkpoint id is completed by both;
the job runs on under the new leader to its end, and its output equals a
failure-free run's (computed from the generator's definition,
hachaos.expected).
"""
import json
import os
import re
import signal
import time
import urllib.request

import hachaos
from hachaos import ENV, check_exact, expected, file_committed, file_sink
from weirtest import (WEIR, Cluster, check, http_get, main, metric_sum,
                      run, wait_for)


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
    hachaos.wait_running_again(c, job, timeout_s)


def jm_name(i):
    return "jobmanager" if i == 0 else "jobmanager-%d" % i


N = 8000  # events per subtask (~13 s: outlasts a loaded failover)
# events per subtask at RATE per second: the expected output is computed
# from the generator's definition (hachaos.expected)
RATE = 600


def job_yaml(name, n, out):
    return hachaos.job("ha-" + name, n, RATE, file_sink(out))


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


def sigkill_failover(c, leader, standby, running=None, new_leader=None):
    """A job runs, the leader is SIGKILLed, the standby takes over and
    adopts the job's tasks (no restart; they read on while there is no
    leader), checkpoint ids continue above the old ones and the output is
    exact. running(job), new_leader(job): more checks, then."""
    out = os.path.join(c.dir, "out")
    job = c.submit(job_yaml("ha", N, out), name="ha.yaml")
    c.wait_running(job, 30)
    c.wait_checkpoint(job, 3, 30)
    if running is not None:
        running(job)
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
    if new_leader is not None:
        new_leader(job)
    wait_running_again(c, job, 60)
    print("     SIGKILL -> new leader %.2fs, -> job RUNNING %.2fs; "
          "%d records read while there was no leader" %
          (t_lead, time.monotonic() - t0, n1 - n0))
    log = c.log(jm_name(standby))
    check("JM-HA-LEADER" in log and "JOB-RECOVERED job=%s" % job in log,
          "the new leader did not recover the job:\n" + log[-3000:])
    # etcd: the killed leader's port refuses connections, so the standby
    # revoked its lease rather than wait for it to expire (a Kubernetes
    # Lease is left to expire)
    check("HA-LEADER-EVICTED" in log or "in Lease " in log,
          "the standby waited for the dead leader's lease:\n" + log[-3000:])
    # adoption: every TaskManager is alive, so no task restarts; the
    # tasks kept reading while there was no leader
    check("JOB-ADOPTED job=%s attempt 0:" % job in log,
          "the new leader did not adopt the job:\n" + log[-3000:])
    st, text = http_get("http://127.0.0.1:%d/metrics" %
                        c.rest_ports[standby])
    check(metric_sum(text, "weir_job_restarts_total", job=job,
                     missing=None) == 0,
          "weir_job_restarts_total moved on the new leader")
    check(n1 > n0, "no record read while there was no leader")
    c.wait_state(job, "FINISHED", 90)
    after = [i for i in ckpt_ids(c, job) if i not in before]
    check(after and min(after) > max(before),
          "checkpoint ids after the failover %s do not continue above "
          "%d" % (sorted(after)[:5], max(before)))
    check_exact(file_committed(out), expected(N, RATE))


def test_leader_sigkill_failover():
    with Cluster(mode="daemons", jobmanagers=2, taskmanagers=2, slots=3,
                 env=ENV) as c:
        leader = wait_for(lambda: c.leader() is not None and [c.leader()],
                          20, "a leader")[0]
        standby = 1 - leader
        check_standby(c, standby, leader)
        sigkill_failover(c, leader, standby)
        for order in (c.jms, c.jms[::-1]):
            run([WEIR, "--jobmanager", ",".join(order), "list", "-a"],
                check_rc=0)


def test_leader_sigstop_steps_down():
    with Cluster(mode="daemons", jobmanagers=2, taskmanagers=2, slots=3,
                 env=ENV) as c:
        split_brain(c)


def split_brain(c):
    """The leader SIGSTOPped past its lease while the job checkpoints: the
    standby takes over; the old one, resumed, steps down having completed
    no checkpoint; no checkpoint id is completed by both; output exact."""
    leader = wait_for(lambda: c.leader() is not None and [c.leader()],
                      20, "a leader")[0]
    standby = 1 - leader
    out = os.path.join(c.dir, "out")
    n = 3 * N  # 20 s: the stop, the takeover, checkpoints after it
    job = c.submit(job_yaml("stop", n, out), name="stop.yaml")
    c.wait_checkpoint(job, 3, 30)
    old = c.jm_procs[leader]
    name = jm_name(leader)
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
    pat = r"CKPT-COMPLETED job=%s checkpoint (\d+):" % job
    old_ids = re.findall(pat, c.log(name)[:mark])
    new_ids = re.findall(pat, c.log(jm_name(standby)))
    check(old_ids and new_ids and not set(old_ids) & set(new_ids) and
          min(map(int, new_ids)) > max(map(int, old_ids)),
          "checkpoint ids: old leader %s, new leader %s" %
          (old_ids, new_ids))
    check_exact(file_committed(out), expected(n, RATE))


if __name__ == "__main__":
    main([test_leader_sigkill_failover, test_leader_sigstop_steps_down])
