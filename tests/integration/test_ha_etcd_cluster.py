"""test_ha_etcd_cluster.py - JobManager failover on a three-member etcd
while etcd itself fails.

Three etcd members (static bootstrap, weirtest's etcd_members=3), two
JobManagers given all three endpoints, three TaskManagers, the keyed
tumbling-window job of hachaos.py checkpointing every 500 ms into the
exactly-once file sink.

- one member SIGKILLed (the first endpoint: the one the JobManagers talk
  to until it fails; whether it also led etcd's raft is printed): the
  leadership survives a full lease, or a new election works, and
  checkpoints go on completing; then the leader JobManager SIGKILLed: a
  new leader is elected with two of three members, the job runs again;
  the member restarted on its data dir rejoins; output exact.
- every member SIGKILLed (and in test_ha_etcd_cluster_hung.py every
  member SIGSTOPped - a hung etcd, whose calls time out rather than fail,
  through all_members_stopped here): the leader steps
  down (exit 75, JM-HA-DEPOSED); the TaskManagers keep running their
  tasks (their weir_records_in_total keeps rising with no leader; the
  heartbeat timeout, 10 s here, outlasts the outage, so sinks stay open);
  etcd restarted (or SIGCONTed), exited JobManagers started again (a
  supervisor's job): a leader is elected, the job RUNNING; output exact.

Adoption (the new leader keeps the running tasks instead of restarting
the job from its checkpoint): across the failover the job's
weir_job_restarts_total on the leader and the TaskManagers' TASK-DEPLOYED
count do not move.
"""
import os
import signal
import time

import hachaos
from weirtest import Cluster, check, http_get, main, metric_sum, wait_for

RATE = 500


def check_no_restart(before, after):
    """Adoption: across the failover the job's restarts counter did not
    move and no TaskManager deployed a task (before, after: restart_marks
    of then)."""
    print("     weir_job_restarts_total %g -> %g, tasks deployed %d -> %d "
          "over the failover" % (before[0], after[0], before[1], after[1]))
    check(after == before, "the new leader restarted the job (restarts "
          "%g -> %g, tasks deployed %d -> %d) instead of adopting its "
          "tasks" % (before[0], after[0], before[1], after[1]))


def test_member_killed_then_leader():
    n = 12000  # events per source subtask: 24 s, past two failovers under load
    with Cluster(mode="daemons", jobmanagers=2, etcd_members=3,
                 taskmanagers=3, slots=2, env=hachaos.ENV) as c:
        leader = hachaos.wait_leader(c)
        out = os.path.join(c.dir, "out")
        job = c.submit(hachaos.job("member", n, RATE, hachaos.file_sink(out)),
                       name="member.yaml")
        c.wait_running(job, 30)
        c.wait_checkpoint(job, 2, 30)
        raft = c.etcd_raft_leader()
        c.etcd_signal(0, signal.SIGKILL)
        t0 = time.monotonic()
        print("     etcd member 0 SIGKILLed (etcd's raft leader: %s)" %
              ("yes" if raft == 0 else "no, member %s" % raft))
        done = c.completed_checkpoints(job)
        # A full lease (3 s) with the member gone: the leader renewed
        # through another endpoint, or a standby was elected.
        wait_for(lambda: time.monotonic() - t0 > 3.5, 5, "a lease")
        now = hachaos.wait_leader(c, 20)
        print("     leader after the member's loss: %s" %
              ("the same" if now == leader else "JobManager %d" % now))
        hachaos.wait_running_again(c, job, 60)
        c.wait_checkpoint(job, done + 2, 30)

        before = hachaos.restart_marks(c, job)
        t_lead, t_run = hachaos.kill_leader(c, job)
        print("     leader SIGKILL on two members: new leader %.2fs, job "
              "RUNNING %.2fs" % (t_lead, t_run))
        check_no_restart(before, hachaos.restart_marks(c, job))
        c.wait_checkpoint(job, c.completed_checkpoints(job) + 1, 30)

        c.etcd_start(0)
        c.wait_etcd_healthy(range(3))
        c.wait_state(job, "FINISHED", 60)
        hachaos.check_exact(hachaos.file_committed(out),
                            hachaos.expected(n, RATE))


def records_in(urls, job):
    """weir_records_in_total of the job summed over the TaskManagers'
    metrics endpoints (reachable without a JobManager)."""
    total = 0.0
    for u in urls:
        try:
            st, text = http_get("http://%s/metrics" % u, 2)
        except OSError:
            continue
        if st == 200:
            total += metric_sum(text, "weir_records_in_total", job)
    return total


def all_members_stopped(sig):
    n = 12000  # events per source subtask: 24 s of events
    env = dict(hachaos.ENV, WEIR_JOBMANAGER_HEARTBEAT_TIMEOUT="10s")
    with Cluster(mode="daemons", jobmanagers=2, etcd_members=3,
                 taskmanagers=3, slots=2, env=env) as c:
        leader = hachaos.wait_leader(c)
        out = os.path.join(c.dir, "out")
        job = c.submit(hachaos.job("outage", n, RATE, hachaos.file_sink(out)),
                       name="outage.yaml")
        c.wait_running(job, 30)
        c.wait_checkpoint(job, 2, 30)
        tms = [t["metrics_address"] for t in
               hachaos.leader_json(c, "/taskmanagers")["taskmanagers"]]
        check(len(tms) == 3, "TaskManagers: %s" % tms)
        before = hachaos.restart_marks(c, job)
        mark = len(c.log(c.jm_log_name(leader)))
        c.etcd_stop_all(sig)
        t0 = time.monotonic()
        rc = c.jm_procs[leader].wait(timeout=10)
        t_down = time.monotonic() - t0
        log = c.log(c.jm_log_name(leader))[mark:]
        check(rc == 75 and "JM-HA-DEPOSED" in log,
              "the leader exited %d without etcd:\n%s" % (rc, log[-2000:]))
        print("     every etcd member %s: the leader stepped down after "
              "%.2fs" % (sig.name, t_down))

        # No leader now: the TaskManagers' tasks go on reading.
        check(c.leader() is None, "a leader without etcd")
        r0 = records_in(tms, job)
        wait_for(lambda: records_in(tms, job) > r0 + RATE, 5,
                 "records flowing with no leader")
        print("     with no leader: %d records read in %.2fs" %
              (records_in(tms, job) - r0, time.monotonic() - t0 - t_down))

        c.etcd_start_all()
        for i, p in c.jm_procs.items():
            if p.poll() is not None:
                c.restart_jobmanager(i)
        new = hachaos.wait_leader(c, 30)
        t_lead = time.monotonic() - t0
        hachaos.wait_running_again(c, job, 60)
        print("     etcd back, JobManager %d leads %.2fs after the outage "
              "began, job RUNNING at %.2fs" %
              (new, t_lead, time.monotonic() - t0))
        check_no_restart(before, hachaos.restart_marks(c, job))
        c.wait_state(job, "FINISHED", 60)
        hachaos.check_exact(hachaos.file_committed(out),
                            hachaos.expected(n, RATE))


def test_all_members_killed():
    all_members_stopped(signal.SIGKILL)


if __name__ == "__main__":
    main([test_member_killed_then_leader, test_all_members_killed])
