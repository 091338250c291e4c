"""hachaos.py - shared pieces of the JobManager failover tests on a
three-member etcd (test_ha_etcd_cluster, test_ha_chaos_file,
test_ha_chaos_pg): the keyed tumbling-window job, its exact output
computed from the nexmark generator's definition (no reference run to
wait for), and the chaos loop that SIGKILLs the leader at random moments.

The job: nexmark events (event times a function of the event's index and
the rate, taskmanager/nexmark_gen.c), key_by event_type, 200 ms tumbling
windows counting events, checkpoints every 500 ms, an exactly-once sink.
"""
import collections
import glob
import json
import os
import sys
import time

from weirtest import (Failure, check, http_get, metric_sum, sink_lines,
                      wait_for)

# The generator's definition - event types by id % 50, event times by
# the event's number and the rate - is kept once, in the failover drill.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "scripts"))
import failover_drill  # noqa: E402
from failover_drill import iso_ms  # noqa: E402

# A heartbeat timeout short enough for quick tests, long enough that a
# machine loaded by a parallel suite does not declare TaskManagers lost
# (as test_ha_etcd.py).
ENV = dict(os.environ, WEIR_JOBMANAGER_HEARTBEAT_INTERVAL="500ms",
           WEIR_JOBMANAGER_HEARTBEAT_TIMEOUT="3s")

PARALLELISM = 2
WINDOW_MS = failover_drill.WINDOW_MS
JOB = """\
name: {name}
parallelism: %d
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
    window: {{ tumbling: %dms }}
    aggregate: {{ n: count() }}
  - id: out
    from: w
    sink: {sink}
""" % (PARALLELISM, WINDOW_MS)


def job(name, n, rate, sink):
    """The job's YAML: n events per source subtask at rate per second,
    into sink (the YAML flow mapping of the sink)."""
    return JOB.format(name=name, n=n, rate=rate, sink=sink)


def file_sink(path):
    return '{ file: { path: "%s" } }' % path


def expected(n, rate):
    """Counter of (event_type, window start in ms, count) the job writes
    (failover_drill.expected: n events per source subtask at rate)."""
    per = failover_drill.expected(PARALLELISM, rate, n)
    return collections.Counter((k, w, c) for (k, w), c in per.items())


def file_committed(out):
    """The committed output of the file sink in out, as expected()
    counts it."""
    return collections.Counter(
        (r["event_type"], iso_ms(r["window_start"]), r["n"])
        for r in (json.loads(l) for l in sink_lines(out, True)))


def check_exact(got, want):
    check(sum(want.values()) > 0, "nothing expected")
    check(got == want, "output differs from a failure-free run: %d "
          "missing (%s), %d extra (%s)" %
          (sum((want - got).values()), sorted(want - got)[:3],
           sum((got - want).values()), sorted(got - want)[:3]))


def logs_tail(c):
    """The end of every daemon's log, for a failure's message."""
    out = []
    for path in sorted(os.listdir(os.path.join(c.dir, "log"))):
        name = path[:-4]
        if not name.startswith(("jobmanager", "tm-extra")):
            continue
        text = c.log(name)
        out.append("== %s\n%s" % (name, "\n".join(
            l for l in text.splitlines()[-300:]
            if "HEARTBEAT" not in l)[-2000:]))
    return "\n".join(out)


def wait_leader(c, timeout_s=30, other_than=None):
    """Polls until a JobManager (not other_than) leads; its index."""
    return wait_for(lambda: [i for i in [c.leader()]
                             if i is not None and i != other_than],
                    timeout_s, "a leader")[0]


def wait_running_again(c, job_id, timeout_s=60):
    """Polls until the job and every subtask run again after a failover,
    or the job FINISHED: a bounded input can end within a second of the
    takeover on a loaded machine, before a poll sees it RUNNING (the
    callers check the adoption or restart and the exact output)."""
    def again():
        if c.running(job_id):
            return True
        try:
            return c.state(job_id) == "FINISHED"
        except Failure:
            return False
    try:
        wait_for(again, timeout_s,
                 "job %s and every subtask RUNNING (or FINISHED)" % job_id)
    except Failure as e:
        raise Failure("%s\n%s" % (e, logs_tail(c)))


def restart_marks(c, job_id):
    """(weir_job_restarts_total of the job on the leader's /metrics, tasks
    deployed so far by the TaskManagers: TASK-DEPLOYED in their logs).
    The counter alone misses a new leader's restart: a recovered job's
    counter starts at 0 on the new leader, and recovery does not count."""
    deployed = 0
    for path in glob.glob(os.path.join(c.dir, "log", "tm-extra-*.log")):
        with open(path, errors="replace") as f:
            deployed += f.read().count(" TASK-DEPLOYED ")
    st, text = leader_get(c, "/metrics")
    check(st == 200, "the leader's /metrics: %d" % st)
    return metric_sum(text, "weir_job_restarts_total", job_id), deployed


def leader_get(c, path):
    """(status, body) of a GET on the leader's REST API (the fixture's
    rest_port is JobManager 0's, a standby as often as not)."""
    return http_get("http://127.0.0.1:%d%s" %
                    (c.rest_ports[wait_leader(c)], path))


def leader_json(c, path):
    st, body = leader_get(c, path)
    check(st == 200, "GET %s on the leader: %d" % (path, st))
    return json.loads(body)


def kill_leader(c, job_id):
    """SIGKILLs the leader, starts a replacement for it (the same
    JobManager number, a new process), waits for a new leader and the job
    RUNNING again. Returns (seconds to the new leader, to the job
    RUNNING)."""
    old = wait_leader(c)
    t0 = time.monotonic()
    c.kill_jobmanager()
    c.restart_jobmanager(old)
    wait_leader(c, 30)
    t_lead = time.monotonic() - t0
    wait_running_again(c, job_id, 60)
    return t_lead, time.monotonic() - t0


def chaos(c, job_id, kills, rnd, max_delay_s=2.0):
    """SIGKILLs the leader kills times, each a random 0..max_delay_s after
    the job ran again (or after its first checkpoint); prints every
    failover's takeover time. Returns the takeover times."""
    c.wait_checkpoint(job_id, 1, 30)
    times = []
    for k in range(kills):
        at = time.monotonic() + rnd.uniform(0, max_delay_s)
        wait_for(lambda: time.monotonic() >= at, max_delay_s + 1,
                 "the moment of kill %d" % (k + 1))
        check(c.state(job_id) != "FINISHED",
              "the job finished before kill %d: make it longer" % (k + 1))
        t_lead, t_run = kill_leader(c, job_id)
        times.append((t_lead, t_run))
        print("     kill %d: SIGKILL -> new leader %.2fs, -> job RUNNING "
              "%.2fs" % (k + 1, t_lead, t_run))
    return times
