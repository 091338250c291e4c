"""test_local_ha.py - `weir local --jobmanagers 2`: an embedded etcd, two
JobManagers electing a leader, TaskManagers that follow it.

The cluster comes up; DIR/weir.env, sourced by a shell, points `weir` at
both JobManagers (`weir cluster -o json` shows one leader and one standby,
the addresses weir.env lists); a keyed tumbling-window job with
checkpoints every 500 ms into the exactly-once file sink runs. The leader
JobManager process is SIGKILLed: weir local reports it, the standby
becomes the leader, the job is RUNNING again and its committed output
keeps growing. Ctrl-C then stops everything, etcd included, and weir.env
is removed. Whether the new leader adopts the running tasks or restarts
the job from its checkpoint is not asserted here (test_adoption.py,
test_ha_etcd.py).
"""
import json
import os
import subprocess
import time

from weirtest import (BIN, Cluster, Failure, alive, check, main, sink_lines,
                      wait_for)

ENV = dict(os.environ, WEIR_JOBMANAGER_HEARTBEAT_INTERVAL="500ms",
           WEIR_JOBMANAGER_HEARTBEAT_TIMEOUT="3s")

JOB = """\
name: local-ha
parallelism: 2
checkpointing: { interval: 500ms, timeout: 10s, retained: 3 }
restart: { strategy: fixed_delay, delay: 200ms, attempts: 100 }
sources:
  events:
    nexmark: { rate: 400, count: 1000000 }
    event_time: { field: ts }
nodes:
  - id: w
    from: events
    key_by: [event_type]
    window: { tumbling: 200ms }
    aggregate: { n: count() }
  - id: out
    from: w
    sink: { file: { path: "%s" } }
"""


def sourced(c, *args):
    """Runs weir with the cluster's weir.env sourced by a shell (no
    --jobmanager): what a user of `. DIR/weir.env` gets."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("WEIR_")}
    env["PATH"] = BIN + ":" + env.get("PATH", "")
    r = subprocess.run(
        ["sh", "-c", '. "$0/weir.env" && exec weir "$@"', c.dir] +
        list(args), capture_output=True, timeout=60, env=env)
    if r.returncode != 0:
        raise Failure("weir %s via weir.env exited %d: %s" %
                      (" ".join(args), r.returncode,
                       r.stderr.decode(errors="replace")))
    return r.stdout.decode()


def roles(c):
    """(leader, {address: role}) from `weir cluster -o json` via weir.env;
    (None, {}) while it fails (no leader yet: the CLI dials the leader the
    standby still names, which is dead until its lease expires)."""
    try:
        cj = json.loads(sourced(c, "cluster", "-o", "json"))
    except Failure:
        return None, {}
    return cj["leader"], {j["address"]: j["role"]
                          for j in cj["jobmanagers"]}


def committed(out):
    return len(sink_lines(out, True))


def test_local_two_jobmanagers_failover():
    with Cluster(mode="local", jobmanagers=2, taskmanagers=2, slots=2,
                 env=ENV) as c:
        env = c.env_file()
        check(len(c.jms) == 2 and env["WEIR_KAFKA_BOOTSTRAP"] ==
              c.bootstrap, "weir.env: %s" % env)
        leader, r = wait_for(lambda: (lambda lr: lr[0] and lr)(roles(c)),
                             20, "a leader in weir cluster")
        check(r == {leader: "leader",
                    [a for a in c.jms if a != leader][0]: "standby"},
              "weir cluster via weir.env: leader %s, roles %s, "
              "weir.env lists %s" % (leader, r, c.jms))

        out = os.path.join(c.dir, "out")
        path = c.write("job.yaml", JOB % out)
        job = json.loads(sourced(c, "run", "-d", "-o", "json",
                                 path))["job_id"]
        c.wait_running(job, 30)
        c.wait_checkpoint(job, 2, 30)
        wait_for(lambda: committed(out) > 0, 30, "committed output")

        old = c.jms.index(leader)
        leader_pid = c.local_jobmanager_pid(old)
        pid = c.kill_jobmanager()
        t0 = time.monotonic()
        check(pid == leader_pid and not alive(pid),
              "killed pid %d, the leader's is %s" % (pid, leader_pid))
        wait_for(lambda: "jobmanager-%d exited on signal 9" % (old + 1) in
                 c.output(), 10, "weir local to report the killed leader")
        new = wait_for(lambda: (lambda lr: lr[0] not in (None, leader)
                                and lr)(roles(c)), 30,
                       "the standby to lead")
        t_lead = time.monotonic() - t0
        c.wait_running(job, 60)
        t_run = time.monotonic() - t0
        n0 = committed(out)
        wait_for(lambda: committed(out) > n0, 30,
                 "committed output to grow after the failover")
        print("     SIGKILL -> new leader %.2fs, -> job RUNNING %.2fs, "
              "-> more output committed %.2fs (new leader %s)" %
              (t_lead, t_run, time.monotonic() - t0, new[0]))
        check(c.state(job) == "RUNNING", "the job left RUNNING")

        kids = c.child_pids()
        etcd = [p for p in kids if b"etcd" in open(
            "/proc/%d/cmdline" % p, "rb").read().split(b"\0")[0]]
        check(len(etcd) == 1, "no etcd child of weir local: %s" % kids)
        c.stop()  # Ctrl-C: exit 0, no child left (etcd included)
        check(not os.path.exists(os.path.join(c.dir, "weir.env")),
              "weir.env left behind after weir local stopped")
        check("etcd exited" in c.output(), "etcd's end not reported")


if __name__ == "__main__":
    main([test_local_two_jobmanagers_failover])
