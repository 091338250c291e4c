"""test_pid1.py - the daemons as PID 1 (a container's): SIGTERM stops them.

The kernel delivers no signal to a pid namespace's init for which it has
no handler, so a daemon that relied on SIGTERM's default action would
ignore `podman stop` or a pod's termination until SIGKILL. Here
weir-jobmanager and weir-taskmanager each run as PID 1 of their own pid
namespace (unshare --pid --fork --mount-proc, as in deploy/image); the
TaskManager joins, a keyed job checkpoints, then SIGTERM from outside
must stop each one, exit status 0, within a few seconds."""
import json
import os
import signal
import subprocess

from weirtest import (JOBMANAGER, TASKMANAGER, WEIR, check, children_of,
                      free_port, main, run, scratch_dir, spawn, wait_for)

JOB = """\
name: pid1
parallelism: 1
checkpointing: { interval: 200ms }
sources:
  orders:
    datagen: { rate: 200 }
nodes:
  - id: per_customer
    from: orders
    key_by: [customer_id]
    reduce: { n: count(), total: sum(amount) }
  - id: out
    from: per_customer
    sink: { file: { path: "%s/out" } }
"""


def as_pid1(args, log, env):
    """Starts args as PID 1 of a new pid namespace; returns the unshare
    process (its exit status is the daemon's) and the daemon's pid here."""
    with open(log, "w") as f:
        p = spawn(["unshare", "--pid", "--fork", "--mount-proc",
                   "--kill-child"] + args,
                  stdout=f, stderr=subprocess.STDOUT,
                  stdin=subprocess.DEVNULL, env=env)
    pid = wait_for(lambda: children_of(p.pid) or p.poll() is not None, 10,
                   "%s started" % args[0])
    check(p.poll() is None, "unshare exited %s:\n%s" % (p.poll(),
                                                         open(log).read()))
    pid = pid[0]
    with open("/proc/%d/status" % pid) as f:
        nspid = [l for l in f if l.startswith("NSpid:")][0].split()
    check(nspid[-1] == "1", "%s is pid %s in its namespace" % (
        args[0], nspid[-1]))
    return p, pid


def sigterm_stops(p, pid, log, what):
    os.kill(pid, signal.SIGTERM)
    try:
        rc = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("%s as PID 1 ignored SIGTERM" % what)
    check(rc == 0, "%s exited %d on SIGTERM:\n%s" % (what, rc,
                                                     open(log).read()))
    check("-STOPPING" in open(log).read(), "%s logged no stop" % what)


def test_sigterm_as_pid1():
    d = scratch_dir("weir-it-pid1-")
    jm = "tcp://127.0.0.1:%d" % free_port()
    env = dict(os.environ, WEIR_JOBMANAGER=jm,
               WEIR_TASKMANAGER_STATE_DIR=d + "/state",
               WEIR_CHECKPOINTS_STORAGE="file://%s/checkpoints" % d)
    jm_log, tm_log = d + "/jobmanager.log", d + "/taskmanager.log"
    jm_p, jm_pid = as_pid1([JOBMANAGER, "--rpc", jm, "--rest",
                            "127.0.0.1:%d" % free_port()], jm_log, env)
    tm_p, tm_pid = as_pid1([TASKMANAGER, "--rpc", "tcp://127.0.0.1:0",
                            "--metrics", "127.0.0.1:0"], tm_log, env)

    def cli(*args, check_rc=0):
        return run([WEIR] + list(args) + ["-o", "json"], env=env,
                   check_rc=check_rc)

    def joined():
        r = cli("cluster", check_rc=None)
        return r.returncode == 0 and any(
            t["state"] == "alive" for t in json.loads(r.stdout)
            ["taskmanagers"])

    wait_for(joined, 20, "the TaskManager joined")
    with open(d + "/job.yaml", "w") as f:
        f.write(JOB % d)
    job = json.loads(cli("run", "-d", d + "/job.yaml").stdout)["job_id"]
    wait_for(lambda: json.loads(cli("checkpoints", job).stdout)["counts"]
             ["completed"] >= 1, 30, "a completed checkpoint")
    sigterm_stops(tm_p, tm_pid, tm_log, "weir-taskmanager")
    sigterm_stops(jm_p, jm_pid, jm_log, "weir-jobmanager")


if __name__ == "__main__":
    main([test_sigterm_as_pid1])
