"""test_cluster.py - the cluster: membership, loss, restarts, shutdown.

weir local with 2 TaskManagers: membership, loss detection, JobManager
restart, REST and metrics, clean shutdown, CLI exit codes. Standalone
daemons: host names in place of addresses, the deprecated
taskmanager.host, log.format json."""
import json
import os
import signal
import subprocess
import time

from weirtest import (WEIR, Cluster, check, free_port, http_get, main,
                      metric_value, run, sink_lines, wait_for)

HB_INTERVAL_MS = 300
HB_TIMEOUT_MS = 1500
CONFIG = """\
jobmanager:
  heartbeat_interval: %dms
  heartbeat_timeout: %dms
""" % (HB_INTERVAL_MS, HB_TIMEOUT_MS)


def alive_tms(cluster):
    return [t for t in cluster.cluster_json()["taskmanagers"]
            if t["state"] == "alive"]


def test_cluster_lifecycle():
    with Cluster(taskmanagers=2, slots=2, config=CONFIG) as c:
        # weir cluster lists both TaskManagers with their slots.
        info = c.cluster_json()
        check(info["leader"] == c.jm, "leader %r" % info["leader"])
        tms = info["taskmanagers"]
        check(len(tms) == 2, "want 2 TaskManagers, got %s" % tms)
        for t in tms:
            check(t["state"] == "alive" and t["slots_total"] == 2 and
                  t["slots_free"] == 2, "TaskManager %s" % t)
        table = c.cli("cluster").stdout.decode()
        check(all(t["id"] in table for t in tms), "table lists ids")

        # REST agrees with the RPC view.
        st, body = c.rest("/overview")
        ov = json.loads(body)
        check(st == 200 and ov["taskmanagers"] == 2 and
              ov["slots-total"] == 4 and ov["slots-available"] == 4,
              "overview %s" % body)
        st, body = c.rest("/taskmanagers")
        rest_ids = sorted(t["id"] for t in json.loads(body)["taskmanagers"])
        check(rest_ids == sorted(t["id"] for t in tms), "REST ids")
        st, text = c.rest("/metrics")
        check(metric_value(text, "weir_jobmanager_leader") == 1, "leader metric")
        check(metric_value(text, "weir_taskmanager_slots", '{state="free"}') == 4,
              "JM slot metric:\n" + text)
        check(c.rest("/healthz")[0] == 200 and c.rest("/readyz")[0] == 200,
              "JM health")
        # Each TaskManager serves /metrics, /healthz and /readyz.
        for t in json.loads(body)["taskmanagers"]:
            base = "http://%s" % t["metrics_address"]
            st, text = http_get(base + "/metrics")
            check(st == 200 and metric_value(text, "weir_taskmanager_slots",
                                       '{state="free"}') == 2,
                  "TM metrics at %s:\n%s" % (base, text))
            check(http_get(base + "/readyz")[0] == 200, "TM ready")

        # SIGKILL one TaskManager: declared lost within timeout + 1 s.
        c.kill_taskmanager()
        t0 = time.monotonic()
        wait_for(lambda: any(t["state"] == "lost" for t in
                             c.cluster_json()["taskmanagers"]),
                 (HB_TIMEOUT_MS + 1000) / 1000.0 + 1.0, "TaskManager lost")
        took = time.monotonic() - t0
        check(took <= (HB_TIMEOUT_MS + 1000) / 1000.0,
              "lost after %.2fs, timeout is %dms" % (took, HB_TIMEOUT_MS))
        info = c.cluster_json()["taskmanagers"]
        check([t["state"] for t in info] == ["alive", "lost"],
              "states %s" % info)
        st, text = c.rest("/metrics")
        check(metric_value(text, "weir_taskmanagers_lost_total") == 1,
              "lost counter")
        check(metric_value(text, "weir_taskmanager_slots", '{state="free"}') == 2,
              "lost slots removed")
        check("TM-LOST" in c.log("jobmanager"), "TM-LOST logged")

        # Restart the JobManager: the surviving TaskManager registers again.
        c.kill_jobmanager()
        jm2 = c.start_jobmanager("jm2")
        wait_for(lambda: run([WEIR, "--jobmanager", c.jm, "cluster"])
                 .returncode == 0, 10, "new JobManager to answer")
        t0 = time.monotonic()
        wait_for(lambda: len(alive_tms(c)) == 1, 10,
                 "TaskManager to re-register")
        print("     re-registered %.2fs after the new JobManager answered"
              % (time.monotonic() - t0))
        check(len(c.cluster_json()["taskmanagers"]) == 1,
              "only the survivor is known to the new JobManager")
        # The new JobManager stops cleanly on SIGTERM.
        jm2.send_signal(signal.SIGTERM)
        check(jm2.wait(timeout=10) == 0, "JobManager exit status on SIGTERM")
        c.stop()
        out = c.output()
        check("exited with status 0" in out,
              "TaskManager clean exit:\n" + out)


def test_exit_codes():
    dead = "tcp://127.0.0.1:%d" % free_port()
    r = run([WEIR, "--jobmanager", dead, "cluster"])
    check(r.returncode == 3, "unreachable JobManager: rc %d" % r.returncode)
    check(b"no JobManager answers at %s (connection refused)" %
          dead.encode() in r.stderr, r.stderr)
    env = dict(os.environ, WEIR_JOBMANAGER=dead)
    r = subprocess.run([WEIR, "cluster"], env=env, capture_output=True)
    check(r.returncode == 3, "WEIR_JOBMANAGER honoured")
    check(run([WEIR, "cluster", "--bogus"]).returncode == 2, "bad flag")
    check(run([WEIR, "no-such-verb"]).returncode == 2, "unknown verb")
    check(run([WEIR, "-o", "xml", "cluster"]).returncode == 2, "bad -o")
    check(run([WEIR, "--help"]).returncode == 0, "--help")
    for verb in ("cluster", "local", "produce", "consume", "topic"):
        r = run([WEIR, verb, "--help"])
        check(r.returncode == 0 and b"usage: weir " + verb.encode()
              in r.stdout, "%s --help" % verb)


NAMED_JOB = """\
name: named-hosts
parallelism: 2
sources:
  gen:
    datagen: { rate: 0, count: 2000 }
nodes:
  - id: by_product
    from: gen
    key_by: [product_id]
  - id: out
    from: by_product
    sink: { file: { path: "%s" } }
"""


def test_host_names_and_deprecated_host():
    """Host names work wherever addresses do, on loopback too: a second
    TaskManager dials the JobManager as localhost and advertises
    "localhost" through the deprecated taskmanager.host (it warns and
    names taskmanager.advertise); the JobManager calls it, the other
    TaskManager sends it record batches by that name, and a keyed job
    across both finishes with every record once."""
    with Cluster(mode="daemons", taskmanagers=1, slots=1) as c:
        env = dict(os.environ, WEIR_TASKMANAGER_ADVERTISE="",
                   WEIR_TASKMANAGER_HOST="localhost",
                   WEIR_JOBMANAGER="tcp://localhost:%d" % c.jm_port)
        c.start_taskmanager(env=env)
        wait_for(lambda: len(alive_tms(c)) == 2, 30, "2 TaskManagers")
        named = [t for t in c.taskmanagers()
                 if t["address"].startswith("tcp://localhost:")]
        check(len(named) == 1 and
              named[0]["data_address"].startswith("tcp://localhost:") and
              named[0]["metrics_address"].startswith("localhost:"),
              "addresses: %s" % c.taskmanagers())
        log = c.log("tm-extra-1")
        check("TM-HOST-DEPRECATED" in log and "taskmanager.advertise" in log,
              "no deprecation warning:\n" + log[-2000:])
        out = os.path.join(c.dir, "out")
        job = c.submit(NAMED_JOB % out, name="named.yaml")
        ji = c.wait_state(job, ("FINISHED",), 60)
        hosts = {s["taskmanager"].split(":")[0] for v in ji["vertices"]
                 for s in v["subtasks"]}
        check(hosts == {"127.0.0.1", "localhost"}, "subtasks on %s" % hosts)
        ids = [json.loads(l)["order_id"] for l in sink_lines(out)]
        want = {"o-%d-%d" % (s, n) for s in range(2) for n in range(2000)}
        check(len(ids) == len(want) and set(ids) == want,
              "%d records, %d distinct, want %d" %
              (len(ids), len(set(ids)), len(want)))


LOG_KEYS = ("time", "level", "event", "component", "message")


def test_json_logs():
    """log.format: json: every line the daemons write, from start to
    SIGTERM, is one JSON object with time, level, event, component and
    message; a job's task lines carry its full job id and their task."""
    with Cluster(mode="daemons", taskmanagers=1, slots=2,
                 config="log: { format: json }\n") as c:
        out = os.path.join(c.dir, "out")
        job = c.submit(NAMED_JOB % out, name="named.yaml")
        ji = c.wait_state(job, ("FINISHED",), 60)
        n = sum(len(v["subtasks"]) for v in ji["vertices"])
        wait_for(lambda: c.log("tm-extra-0").count("TASK-END") == n, 10,
                 "%d TASK-END lines" % n)
        c.stop()
        lines = {}
        for name in ("jobmanager", "tm-extra-0"):
            lines[name] = []
            for l in c.log(name).splitlines():
                try:
                    o = json.loads(l)
                except ValueError:
                    o = None
                check(isinstance(o, dict) and
                      all(isinstance(o.get(k), str) for k in LOG_KEYS),
                      "%s: not a JSON log line: %r" % (name, l))
                lines[name].append(o)
        comps = {n: {o["component"] for o in ls} for n, ls in lines.items()}
        check(comps == {"jobmanager": {"jobmanager"},
                        "tm-extra-0": {"taskmanager"}},
              "components: %s" % comps)
        ends = [o for o in lines["tm-extra-0"] if o["event"] == "TASK-END"]
        check(len(ends) == n and all(
            o.get("job_id") == job and o.get("task") and
            "job=%s" % job in o["message"] for o in ends),
              "TASK-END lines without the full job id: %s" % ends)
        mine = [o for o in lines["jobmanager"] if o.get("job_id") == job]
        check(mine, "no JobManager line with job_id %s" % job)
        check(not any(o["event"] == "TM-JM-CHANGED"
                      for o in lines["tm-extra-0"]),
              "TM-JM-CHANGED with one JobManager that never changed")


def test_dead_taskmanager_noticed_at_once():
    """A TaskManager whose process dies closes its connections at once:
    the JobManager probes its port, finds it refusing, and declares it
    lost then, not a heartbeat timeout (20 s here) later; the job runs
    again on the other one. A SIGSTOPped one keeps its port (the kernel
    accepts connections) and is left to the timeout."""
    with Cluster(taskmanagers=2, slots=2, config=(
            "jobmanager: { heartbeat_interval: 1s, heartbeat_timeout: 20s "
            "}\n")) as c:
        job = c.submit("name: dead\nparallelism: 2\nrestart: { strategy: "
                       "fixed_delay, delay: 100ms, attempts: 10 }\n"
                       "sources:\n  in:\n    datagen: { rate: 100 }\n"
                       "nodes:\n  - id: out\n    from: in\n    sink: { "
                       "file: { path: \"%s\" } }\n" %
                       os.path.join(c.dir, "out"), wait="RUNNING")
        pid = c.taskmanager_pids()[0]
        tm = c.tm_id(pid)  # from its log: read while it lives
        c.kill_taskmanager(pid)
        t0 = time.monotonic()
        wait_for(lambda: "TM-LOST id=%s" % tm in c.log("jobmanager"), 10,
                 "the dead TaskManager declared lost")
        lost = time.monotonic() - t0
        check("its process is gone" in c.log("jobmanager"),
              "lost for another reason:\n" + c.log("jobmanager")[-2000:])
        wait_for(lambda: c.running(job), 20, "the job running again")
        print("     SIGKILL -> lost %.2fs, job RUNNING %.2fs (heartbeat "
              "timeout 20 s)" % (lost, time.monotonic() - t0))


if __name__ == "__main__":
    main([test_cluster_lifecycle, test_exit_codes,
          test_host_names_and_deprecated_host, test_json_logs,
          test_dead_taskmanager_noticed_at_once])
