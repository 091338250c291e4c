"""test_job_cli.py - the job verbs of the CLI.

The job verbs of the CLI: `weir run`, `weir list`, `weir info`,
`weir cancel`.

- offline: local validation (file:line:col, exit 1, the JobManager never
  contacted), usage errors (2), an unreachable JobManager (3), --help (0);
- a fresh cluster without TaskManagers: empty lists, unknown ids (1),
  submissions the JobManager refuses, its error passed through (1);
- with a TaskManager (needs the job runtime): detached and attached runs,
  list / info / cancel of a running job, an attached run ending FINISHED
  (0), CANCELED (1) or FAILED (1, with the failure), and Ctrl-C detaching.
"""
import json
import os
import re
import signal
import subprocess
import time

from weirtest import (WEIR, Cluster, check, free_port, main, run,
                      scratch_dir, spawn, text_of, write_file)

UNKNOWN = "0123456789abcdef0123456789abcdef"
VERBS = ("run", "list", "info", "cancel")

BROKEN = """\
name: broken
sources:
  orders:
    kafka: { topic: orders }
    format: json
    schema: { order_id: string }
    colour: blue
nodes:
  - id: out
    from: orders
    sink: { stdout: {} }
"""

# Never ends by itself: reads a Kafka topic. A record that is not valid
# JSON fails it (invalid: fail, no restarts).
KAFKA_JOB = """\
name: %(name)s
parallelism: 1
restart: { strategy: none }
sources:
  orders:
    kafka: { topic: %(topic)s, bootstrap: "%(bootstrap)s", startup: earliest }
    format: json
    schema: { order_id: string, amount: double, status: string }
    invalid: { policy: fail }
nodes:
  - id: out
    from: orders
    sink: { file: { path: "%(out)s" } }
"""

# Ends by itself: 200 generated orders into files.
BOUNDED_JOB = """\
name: cli-bounded
parallelism: 1
sources:
  gen:
    datagen: { rate: 0, count: 200 }
nodes:
  - id: out
    from: gen
    sink: { file: { path: "%(out)s" } }
"""

_tmp = scratch_dir("weir-jobcli-")


def test_offline():
    dead = "tcp://127.0.0.1:%d" % free_port()
    broken = write_file(_tmp, "broken.yaml", BROKEN)
    # Validated locally: the dead JobManager is never dialled (1, not 3).
    r = run([WEIR, "--jobmanager", dead, "run", broken])
    check(r.returncode == 1, "broken job: rc %d\n%s" % (r.returncode,
                                                         text_of(r)))
    check(re.search(r"broken\.yaml:7:5: unknown key 'colour'",
                    r.stderr.decode()), "file:line:col in %s" % r.stderr)
    check(b"JobManager" not in r.stderr, "JobManager contacted")
    r = run([WEIR, "--jobmanager", dead, "run", "-d",
             os.path.join(_tmp, "missing.yaml")])
    check(r.returncode == 1 and b"missing.yaml" in r.stderr,
          "missing file: %d %s" % (r.returncode, r.stderr))

    # A valid job, lists, info and cancel: the JobManager is unreachable.
    job = write_file(_tmp, "ok.yaml", KAFKA_JOB % {
        "name": "ok", "topic": "t", "bootstrap": "127.0.0.1:1",
        "out": _tmp})
    for args in (["run", "-d", job], ["run", job], ["list"], ["list", "-a"],
                 ["info", UNKNOWN], ["cancel", UNKNOWN]):
        r = run([WEIR, "--jobmanager", dead] + args)
        check(r.returncode == 3, "%s: rc %d, want 3\n%s" %
              (args, r.returncode, text_of(r)))

    for verb in VERBS:
        r = run([WEIR, verb, "--help"])
        check(r.returncode == 0 and
              ("usage: weir " + verb).encode() in r.stdout,
              "%s --help: %d %s" % (verb, r.returncode, r.stdout))
    usage = [["run"], ["run", job, job], ["run", "-p", "0", job],
             ["run", "-p", "x", job], ["run", "--bogus", job],
             ["list", "extra"], ["list", "--bogus"], ["info"],
             ["info", UNKNOWN, UNKNOWN], ["info", "not-a-job-id"],
             ["info", UNKNOWN[:-1]], ["cancel"], ["cancel", "xyz"],
             ["cancel", "--bogus", UNKNOWN]]
    for args in usage:
        r = run([WEIR, "--jobmanager", dead] + args)
        check(r.returncode == 2, "%s: rc %d, want 2\n%s" %
              (args, r.returncode, text_of(r)))


def test_fresh_cluster():
    with Cluster(taskmanagers=0) as c:
        check(json.loads(c.cli("list", "-o", "json").stdout) == {"jobs": []},
              "no running jobs")
        check(json.loads(c.cli("-o", "json", "list", "-a").stdout) ==
              {"jobs": []}, "no jobs at all")
        r = c.cli("list")
        check(b"No running jobs" in r.stdout, "table: %s" % r.stdout)
        for verb in ("info", "cancel"):
            r = c.cli(verb, UNKNOWN, check_rc=1)
            check(("no job " + UNKNOWN).encode() in r.stderr,
                  "%s unknown: %s" % (verb, r.stderr))
        # Valid here, refused there (no slots): the JobManager's reason.
        job = write_file(_tmp, "noslots.yaml", KAFKA_JOB % {
            "name": "noslots", "topic": "t", "bootstrap": c.bootstrap,
            "out": os.path.join(_tmp, "noslots")})
        r = c.cli("run", "-d", job, check_rc=1)
        check(b"slots" in r.stderr, "no slots: %s" % r.stderr)
        r = c.cli("run", "-d", "--from-savepoint",
                  os.path.join(_tmp, "no-such-savepoint"),
                  "--allow-non-restored-state", job, check_rc=1)
        check(b"savepoint" in r.stderr, "savepoint refused: %s" % r.stderr)


def listed(c, *flags):
    return {j["job_id"]: j for j in
            json.loads(c.cli("list", "-o", "json", *flags).stdout)["jobs"]}


def kafka_job(c, name, topic):
    return write_file(_tmp, name + ".yaml", KAFKA_JOB % {
        "name": name, "topic": topic, "bootstrap": c.bootstrap,
        "out": os.path.join(_tmp, name)})


def check_info_shape(c, ji, job_id, name):
    keys = {"id", "name", "state", "start_time", "end_time", "failure",
            "vertices", "last_checkpoint", "spec_hash"}
    check(set(ji) == keys, "info keys %s" % sorted(ji))
    check(ji["id"] == job_id and ji["name"] == name, "info %s" % ji)
    check(isinstance(ji["start_time"], int) and
          abs(ji["start_time"] / 1000.0 - time.time()) < 120,
          "start_time in epoch ms: %s" % ji["start_time"])
    check(ji["failure"] is None, "no failure: %s" % ji)
    check(ji["last_checkpoint"] is None or
          isinstance(ji["last_checkpoint"], int), "last_checkpoint")
    tms = {t["id"] for t in c.cluster_json()["taskmanagers"]}
    check(len(ji["vertices"]) >= 1, "vertices %s" % ji)
    for v in ji["vertices"]:
        check(set(v) == {"id", "name", "parallelism", "subtasks"} and
              v["parallelism"] == 1 and len(v["subtasks"]) == 1,
              "vertex %s" % v)
        for s in v["subtasks"]:
            check(s["index"] == 0 and s["state"] and s["taskmanager"] in tms,
                  "subtask %s (TaskManagers %s)" % (s, tms))


def test_detached_list_info_cancel(c):
    job = kafka_job(c, "cli-detached", "idle")
    job_id = c.submit(job)
    check(re.fullmatch(r"[0-9a-f]{32}", job_id), "job id %r" % job_id)
    c.wait_state(job_id, "RUNNING", 15)
    j = listed(c).get(job_id)
    check(j is not None and j["name"] == "cli-detached" and
          j["state"] == "RUNNING" and set(j) ==
          {"job_id", "name", "state", "start_time"}, "listed %s" % j)
    table = c.cli("list").stdout.decode()
    check(job_id in table and "cli-detached" in table and
          re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", table),
          "list table:\n" + table)
    check_info_shape(c, c.info(job_id), job_id, "cli-detached")
    table = c.cli("info", job_id).stdout.decode()
    check(job_id in table and "RUNNING" in table, "info table:\n" + table)

    r = c.cli("cancel", job_id)
    check(("Cancelled job " + job_id).encode() in r.stdout, r.stdout)
    c.wait_state(job_id, "CANCELED", 15)
    check(job_id not in listed(c), "a canceled job is not running")
    check(listed(c, "-a")[job_id]["state"] == "CANCELED", "list -a")
    check(c.info(job_id)["end_time"] >= c.info(job_id)["start_time"],
          "end_time")
    c.cli("cancel", job_id, check_rc=1)


def test_attached_finished(c):
    job = write_file(_tmp, "bounded.yaml", BOUNDED_JOB % {
        "out": os.path.join(_tmp, "bounded")})
    r = c.cli("run", job, timeout=60)
    out = r.stdout.decode()
    m = re.search(r"Job has been submitted with JobID ([0-9a-f]{32})", out)
    check(m, "submitted line in:\n" + out)
    check("has finished" in out, "finished in:\n" + out)
    check(c.state(m.group(1)) == "FINISHED", "state after run")


def attach(c, job):
    p = spawn([WEIR, "--jobmanager", c.jm, "-o", "json", "run", job],
              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # With -o json the first stdout line is the id; progress is on stderr.
    job_id = json.loads(p.stdout.readline())["job_id"]
    c.wait_state(job_id, "RUNNING", 15)
    return p, job_id


def test_attached_canceled(c):
    p, job_id = attach(c, kafka_job(c, "cli-attached", "idle"))
    c.cli("cancel", job_id)
    rc = p.wait(timeout=20)
    err = p.stderr.read().decode()
    check(rc == 1 and "CANCELED" in err, "attached run: rc %d\n%s" %
          (rc, err))


def test_attached_failed(c):
    p, job_id = attach(c, kafka_job(c, "cli-failing", "bad"))
    c.cli("produce", "bad", "--bootstrap", c.bootstrap,
          input=b"this is not json\n")
    rc = p.wait(timeout=30)
    err = p.stderr.read().decode()
    check(rc == 1 and "FAILED" in err and "invalid record" in err,
          "attached run of a failing job: rc %d\n%s" % (rc, err))
    ji = c.info(job_id)
    check(ji["state"] == "FAILED" and ji["failure"], "info %s" % ji)


def test_attached_detach(c):
    p, job_id = attach(c, kafka_job(c, "cli-detach", "idle"))
    p.send_signal(signal.SIGINT)
    rc = p.wait(timeout=10)
    err = p.stderr.read().decode()
    check(rc == 0 and "detached" in err, "Ctrl-C: rc %d\n%s" % (rc, err))
    # For longer than two polls of an attached run: still RUNNING.
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        check(c.state(job_id) == "RUNNING", "the job keeps running")
    c.cancel(job_id, 15)


def test_with_taskmanager():
    with Cluster(taskmanagers=1, slots=4, topics=("idle:1", "bad:1")) as c:
        for t in (test_detached_list_info_cancel, test_attached_finished,
                  test_attached_canceled, test_attached_failed,
                  test_attached_detach):
            t0 = time.monotonic()
            t(c)
            print("     %-36s %.1fs" % (t.__name__, time.monotonic() - t0))


if __name__ == "__main__":
    main([test_offline, test_fresh_cluster, test_with_taskmanager])
