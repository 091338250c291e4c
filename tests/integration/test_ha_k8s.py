"""test_ha_k8s.py - JobManager failover through a Kubernetes Lease
(high_availability mode kubernetes).

No API server can be installed here: the Lease is served by
tests/tools/lease_server.py, written for the tests, which enforces
resourceVersion conflicts and a bearer token - not a real API server.

Two JobManagers on the Lease weir/weir-leader, two TaskManagers given both
addresses, the job store in the checkpoint storage. The epoch is the
Lease's leaseTransitions + 1 and its holderIdentity names the leader. The
keyed window job of test_ha_etcd.py checkpoints into the exactly-once file
sink; the leader is SIGKILLed; the standby takes over (time printed),
recovers the job from the job store in the checkpoint storage (entries
stamped with its epoch) and adopts its running tasks (no restart), and
the committed output equals a failure-free run exactly. A standby answers the CLI, REST writes (503 + leader) and
/readyz (503) as in mode etcd.

Split brain: the leader SIGSTOPped past the lease; the standby takes the
Lease and completes checkpoints; on SIGCONT the old leader exits 75
(JM-HA-DEPOSED) and completes no checkpoint after it was stopped.
"""
import json
import os
import signal
import time
import urllib.request

from weirtest import (WEIR, Cluster, check, http_get, main, metric_value,
                      run, wait_for)
from test_ha_etcd import (ENV, JOB, N, RATE, check_standby, ckpt_ids,
                          committed, wait_running_again)


def lease(c):
    """The Lease as the server holds it (its spec), with the token."""
    req = urllib.request.Request(
        c.leases_url + "/apis/coordination.k8s.io/v1/namespaces/weir/"
        "leases/weir-leader",
        headers={"Authorization": "Bearer test-token"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())["spec"]


def check_lease(c, leader):
    """The Lease names the leader, and the epoch is leaseTransitions + 1;
    returns the epoch."""
    spec, cj = lease(c), c.cluster_json()
    check(spec["holderIdentity"].split("#")[0] == c.jms[leader] and
          cj["epoch"] == spec.get("leaseTransitions", 0) + 1,
          "Lease %s, weir cluster %s" % (spec, cj))
    return cj["epoch"]


def stored_epoch(c, job):
    """The epoch stamped on the job's entry in the checkpoint storage."""
    path = os.path.join(c.dir, "checkpoints", "jobstore", "jobs",
                        job + ".json")
    with open(path) as f:
        return json.load(f)["epoch"]


def standby_names(c, standby, leader):
    r = run([WEIR, "--jobmanager", c.jms[standby], "list"])
    return r.returncode == 0 or \
        "the leader is " + c.jms[leader] in r.stderr.decode(errors="replace")


def jm_name(i):
    return "jobmanager" if i == 0 else "jobmanager-%d" % i


def a_leader(c):
    return wait_for(lambda: c.leader() is not None and [c.leader()],
                    20, "a leader")[0]


def test_leader_sigkill_failover():
    with Cluster(mode="daemons", jobmanagers=2, taskmanagers=2, slots=3,
                 env=ENV, ha="kubernetes") as c:
        leader = a_leader(c)
        standby = 1 - leader
        # the standby alone answers the CLI with the leader's address (or
        # the CLI follows it), once it has read the Lease: at most a retry
        # period after the leader took it
        wait_for(lambda: standby_names(c, standby, leader), 10,
                 "the standby to name the leader to the CLI")
        check_standby(c, standby, leader)
        epoch = check_lease(c, leader)

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
        check(stored_epoch(c, job) == epoch,
              "the job store entry's epoch is not the Lease's")
        before = ckpt_ids(c, job)
        c.kill_jobmanager()
        t0 = time.monotonic()
        wait_for(lambda: c.leader() == standby, 30, "the standby to lead")
        t_lead = time.monotonic() - t0
        new_epoch = check_lease(c, standby)
        check(new_epoch > epoch, "epoch %d after %d" % (new_epoch, epoch))
        # the recovery rewrites the entry with the new epoch (the job
        # cannot finish before: it runs seconds more under the new leader)
        wait_for(lambda: stored_epoch(c, job) == new_epoch, 30,
                 "the job store entry stamped with epoch %d" % new_epoch)
        wait_running_again(c, job, 60)
        print("     SIGKILL -> new leader %.2fs, -> job RUNNING %.2fs" %
              (t_lead, time.monotonic() - t0))
        log = c.log(jm_name(standby))
        check("JM-HA-LEADER" in log and "JOB-RECOVERED job=%s" % job in log,
              "the new leader did not recover the job:\n" + log[-3000:])
        # every TaskManager is alive: the new leader adopts the tasks
        check("JOB-ADOPTED job=%s attempt 0:" % job in log,
              "the new leader did not adopt the job:\n" + log[-3000:])
        st, text = http_get("http://127.0.0.1:%d/metrics" %
                            c.rest_ports[standby])
        check(metric_value(text, "weir_job_restarts_total",
                           '{job="%s"}' % job) == 0,
              "weir_job_restarts_total moved on the new leader")
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
        check(not os.path.exists(os.path.join(c.dir, "checkpoints",
                                              "jobstore", "epoch")),
              "mode kubernetes took an epoch from the storage's counter")


def test_leader_sigstop_steps_down():
    with Cluster(mode="daemons", jobmanagers=2, taskmanagers=2, slots=3,
                 env=ENV, ha="kubernetes") as c:
        leader = a_leader(c)
        standby = 1 - leader
        out = os.path.join(c.dir, "out")
        job = c.submit(JOB.format(name="stop", rate=RATE, n=10 * N,
                                  out=out), name="stop.yaml")
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
        c.wait_checkpoint(job, c.completed_checkpoints(job) + 1, 30)
        check(c.running(job), "the job does not run under the new leader")
        c.cancel(job)


if __name__ == "__main__":
    main([test_leader_sigkill_failover, test_leader_sigstop_steps_down])
