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
the committed output equals a failure-free run exactly. A standby
answers the CLI, REST writes (503 + leader) and /readyz (503) as in mode
etcd.

Split brain (test_ha_etcd.split_brain): the leader SIGSTOPped past the
lease; the standby takes the Lease and completes checkpoints; on SIGCONT
the old leader exits 75 (JM-HA-DEPOSED) having completed no checkpoint
after it was stopped; no checkpoint id is completed by both; output
exact.
"""
import json
import os
import urllib.request

from weirtest import WEIR, Cluster, check, main, run, wait_for
from test_ha_etcd import (ENV, check_standby, sigkill_failover,
                          split_brain)


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

        def running(job):
            check(stored_epoch(c, job) == epoch,
                  "the job store entry's epoch is not the Lease's")

        def new_leader(job):
            new_epoch = check_lease(c, standby)
            check(new_epoch > epoch, "epoch %d after %d" %
                  (new_epoch, epoch))
            # the recovery rewrites the entry with the new epoch (the job
            # cannot finish before: it runs seconds more under the new
            # leader)
            wait_for(lambda: stored_epoch(c, job) == new_epoch, 30,
                     "the job store entry stamped with epoch %d" %
                     new_epoch)

        sigkill_failover(c, leader, standby, running, new_leader)
        check(not os.path.exists(os.path.join(c.dir, "checkpoints",
                                              "jobstore", "epoch")),
              "mode kubernetes took an epoch from the storage's counter")


def test_leader_sigstop_steps_down():
    with Cluster(mode="daemons", jobmanagers=2, taskmanagers=2, slots=3,
                 env=ENV, ha="kubernetes") as c:
        a_leader(c)
        split_brain(c)


if __name__ == "__main__":
    main([test_leader_sigkill_failover, test_leader_sigstop_steps_down])
