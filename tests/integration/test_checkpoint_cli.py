"""test_checkpoint_cli.py - the user-facing side of checkpoints: CLI and REST.

The user-facing side of checkpoints: `weir checkpoints`, `weir savepoint`,
`weir stop`, `weir info`'s last checkpoint, and the REST paths
GET /jobs/{id}/checkpoints, POST /jobs/{id}/savepoints, POST /jobs/{id}/stop.

- offline: usage errors (2), --help (0), an unreachable JobManager (3);
- a job without checkpointing: `weir savepoint`/`stop` fail (1) with the
  JobManager's reason, REST answers 409; `weir checkpoints` prints counts
  all 0 and the same object as REST; unknown jobs (1, REST 404); bad REST
  bodies (400);
- a job checkpointing every 300 ms: the history fills (completed >= 2,
  durations, sizes, acks), CLI and REST agree, `weir info` names the last
  checkpoint; `weir savepoint JOB DIR` (relative DIR made absolute) prints a
  path whose _metadata exists; REST POST savepoints; `weir stop
  --savepoint-dir` leaves the job FINISHED; a job started from that
  savepoint reports what it restored; REST POST stop.
"""
import json
import os
import subprocess
import time
import urllib.request

from weirtest import (WEIR, Cluster, check, free_port, main, run,
                      scratch_dir, text_of, wait_for, write_file)

UNKNOWN = "0123456789abcdef0123456789abcdef"
VERBS = ("checkpoints", "savepoint", "stop")

# Never ends by itself; no checkpointing.
PLAIN_JOB = """\
name: ckpt-plain
parallelism: 1
sources:
  gen:
    datagen: { rate: 200 }
nodes:
  - id: out
    from: gen
    sink: { file: { path: "%(out)s" } }
"""

# Checkpoints every 300 ms; keyed state (reduce) so checkpoints carry
# state files, and a file sink that commits on checkpoints.
CKPT_JOB = """\
name: %(name)s
parallelism: 2
checkpointing: { interval: 300ms }
sources:
  gen:
    datagen: { rate: 500 }
nodes:
  - id: per_product
    from: gen
    key_by: [product_id]
    reduce: { orders: count(), revenue: sum(amount) }
  - id: out
    from: per_product
    sink: { file: { path: "%(out)s" } }
"""

HISTORY_KEYS = {"id", "status", "is_savepoint", "trigger_timestamp",
                "end_to_end_duration", "state_size", "alignment_duration",
                "sync_duration", "async_duration", "external_path", "failure_message",
                "num_acknowledged_subtasks", "num_subtasks"}

_tmp = scratch_dir("weir-ckptcli-")


def rest(c, method, path, body=None):
    """(status, parsed JSON body) of a REST call."""
    data = None if body is None else (
        body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(
        "http://127.0.0.1:%d%s" % (c.rest_port, path), data=data,
        method=method)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def check_shape(cp):
    check(set(cp) == {"counts", "latest", "restarts", "history"},
          "checkpoints keys %s" % sorted(cp))
    check(set(cp["counts"]) == {"completed", "failed", "in_progress",
                                "restored", "total"},
          "counts keys %s" % cp["counts"])
    check(set(cp["latest"]) == {"completed", "savepoint", "restored"},
          "latest keys %s" % cp["latest"])
    counts = cp["counts"]
    check(counts["total"] == counts["completed"] + counts["failed"] +
          counts["in_progress"], "total %s" % counts)
    for h in cp["history"]:
        check(set(h) == HISTORY_KEYS, "history entry keys %s" % sorted(h))
        check(h["status"] in ("IN_PROGRESS", "COMPLETED", "FAILED"),
              "status %s" % h)
    ids = [h["id"] for h in cp["history"]]
    check(ids == sorted(ids, reverse=True), "newest first: %s" % ids)


def test_offline():
    dead = "tcp://127.0.0.1:%d" % free_port()
    for verb in VERBS:
        r = run([WEIR, verb, "--help"])
        check(r.returncode == 0 and
              ("usage: weir " + verb).encode() in r.stdout,
              "%s --help: %d %s" % (verb, r.returncode, r.stdout))
    r = run([WEIR, "--help"])
    for verb in VERBS:
        check(("  " + verb + " ").encode() in r.stdout,
              "%s missing from weir --help" % verb)
    usage = [["checkpoints"], ["checkpoints", UNKNOWN, UNKNOWN],
             ["checkpoints", "not-a-job"], ["checkpoints", "--bogus", UNKNOWN],
             ["savepoint"], ["savepoint", "xyz"],
             ["savepoint", UNKNOWN, "/a", "/b"],
             ["savepoint", "--timeout", "0", UNKNOWN],
             ["savepoint", "--timeout", "soon", UNKNOWN],
             ["savepoint", UNKNOWN, "http://example.com/sp"],
             ["savepoint", UNKNOWN, ""], ["savepoint", "--drain", UNKNOWN],
             ["stop"], ["stop", UNKNOWN, "/dir"], ["stop", "--bogus", UNKNOWN],
             ["stop", "--savepoint-dir", "ftp://x/y", UNKNOWN],
             ["stop", UNKNOWN[:-1]]]
    for args in usage:
        r = run([WEIR, "--jobmanager", dead] + args)
        check(r.returncode == 2, "%s: rc %d, want 2\n%s" %
              (args, r.returncode, text_of(r)))
    for args in (["checkpoints", UNKNOWN], ["savepoint", UNKNOWN],
                 ["stop", "--drain", UNKNOWN]):
        r = run([WEIR, "--jobmanager", dead] + args)
        check(r.returncode == 3, "%s: rc %d, want 3\n%s" %
              (args, r.returncode, text_of(r)))


_cluster = None


def cluster():
    """One cluster for the tests below (1 TaskManager, 4 slots); the last
    test stops it."""
    global _cluster
    if _cluster is None:
        _cluster = Cluster(taskmanagers=1, slots=4)
    return _cluster


def test_unknown_job():
    c = cluster()
    for args in (["checkpoints", UNKNOWN], ["savepoint", UNKNOWN],
                 ["stop", UNKNOWN], ["-o", "json", "savepoint", UNKNOWN,
                                     _tmp]):
        r = c.cli(*args, check_rc=1)
        check(("no job " + UNKNOWN).encode() in r.stderr,
              "%s: %s" % (args, r.stderr))
        check(r.stdout.strip() == b"" or args[0] != "-o",
              "nothing on stdout with -o json: %s" % r.stdout)
    for method, path, body in (
            ("GET", "/jobs/%s/checkpoints" % UNKNOWN, None),
            ("POST", "/jobs/%s/savepoints" % UNKNOWN, {}),
            ("POST", "/jobs/%s/stop" % UNKNOWN, {"drain": False})):
        st, b = rest(c, method, path, body)
        check(st == 404 and b == {"errors": ["no job " + UNKNOWN]},
              "%s %s: %d %s" % (method, path, st, b))
    st, b = rest(c, "GET", "/jobs/%s/nope" % UNKNOWN)
    check(st == 404 and "errors" in b, "unknown resource: %d %s" % (st, b))
    st, b = rest(c, "GET", "/jobs/%s/savepoints" % UNKNOWN)
    check(st == 405, "GET savepoints: %d %s" % (st, b))


def test_without_checkpointing():
    c = cluster()
    job_id = c.submit(write_file(_tmp, "plain.yaml", PLAIN_JOB % {
        "out": os.path.join(_tmp, "plain")}), wait="RUNNING", timeout=30)
    try:
        # Counts all 0, nothing restored, no history; REST says the same.
        cp = c.checkpoints(job_id)
        check_shape(cp)
        check(cp == {"counts": {"completed": 0, "failed": 0,
                                "in_progress": 0, "restored": 0,
                                "total": 0},
                     "latest": {"completed": None, "savepoint": None,
                                "restored": None},
                     "restarts": 0, "history": []}, "empty history %s" % cp)
        st, b = rest(c, "GET", "/jobs/%s/checkpoints" % job_id)
        check(st == 200 and b == cp, "REST %d %s != CLI %s" % (st, b, cp))
        r = c.cli("checkpoints", job_id)
        check(b"0 completed, 0 failed, 0 in progress" in r.stdout and
              b"No checkpoints." in r.stdout, "table: %s" % r.stdout)
        check(c.info(job_id)["last_checkpoint"] is None, "no last")
        check(b"Last checkpoint: none" in c.cli("info", job_id).stdout,
              "info table")

        # A savepoint needs checkpointing: refused, with the reason.
        for args in (["savepoint", job_id, _tmp],
                     ["-o", "json", "stop", job_id]):
            r = c.cli(*args, check_rc=1)
            err = r.stderr.decode()
            check("checkpointing" in err, "%s: reason %r" % (args, err))
            check(b"{" not in r.stdout, "no path printed: %s" % r.stdout)
        for path, body in (("savepoints", {"target-directory": _tmp}),
                           ("stop", {"targetDirectory": _tmp})):
            st, b = rest(c, "POST", "/jobs/%s/%s" % (job_id, path), body)
            check(st == 409 and len(b.get("errors", [])) == 1 and
                  "checkpointing" in b["errors"][0],
                  "POST %s: %d %s" % (path, st, b))
        # Bodies that cannot be right, whatever the job.
        for path, body in (
                ("savepoints", b"not json"), ("savepoints", b"[1]"),
                ("savepoints", {"target-directory": "relative/dir"}),
                ("savepoints", {"target-directory": 7}),
                ("savepoints", {"cancel-job": "yes"}),
                ("savepoints", {"target_directory": "/x"}),
                ("stop", {"targetDirectory": "rel"}),
                ("stop", {"drain": 1}), ("stop", {"target-directory": "/x"})):
            st, b = rest(c, "POST", "/jobs/%s/%s" % (job_id, path), body)
            check(st == 400 and len(b.get("errors", [])) == 1,
                  "POST %s %r: %d %s" % (path, body, st, b))
        check(c.info(job_id)["state"] == "RUNNING", "job still running")
    finally:
        c.cancel(job_id)


def metadata_of(url):
    """The local _metadata file of a savepoint or checkpoint URL."""
    check(url.startswith("file://"), "a file:// URL: %r" % url)
    return os.path.join(url[len("file://"):], "_metadata")


def check_savepoint_path(url, parent, job_id):
    """url is file://PARENT/savepoint-<job-id-prefix>-<random>."""
    check(url.startswith("file://" + parent + "/"),
          "savepoint %s under %s" % (url, parent))
    name = url.rstrip("/").rsplit("/", 1)[1].split("-")
    check(len(name) >= 3 and name[0] == "savepoint" and name[1] and
          job_id.startswith(name[1]), "savepoint directory name %s" % url)


def check_history(c, job_id):
    cp = c.wait_checkpoint(job_id, 2)
    check_shape(cp)
    done = [h for h in cp["history"] if h["status"] == "COMPLETED"]
    check(len(done) >= 2, "completed entries %s" % cp["history"])
    now_ms = time.time() * 1000
    for h in done:
        check(not h["is_savepoint"], "a checkpoint %s" % h)
        check(abs(h["trigger_timestamp"] - now_ms) < 120000,
              "trigger_timestamp in epoch ms %s" % h)
        check(0 <= h["end_to_end_duration"] < 30000 and
              h["alignment_duration"] >= 0, "durations in ms %s" % h)
        # parts of a task's snapshot, within the trigger -> completion
        check(0 <= h["sync_duration"] <= h["end_to_end_duration"] and
              0 <= h["async_duration"] <= h["end_to_end_duration"],
              "sync and async durations in ms %s" % h)
        check(h["state_size"] > 0, "state written %s" % h)
        check(h["num_subtasks"] > 0 and
              h["num_acknowledged_subtasks"] == h["num_subtasks"],
              "every task acked %s" % h)
        check(h["external_path"].startswith("file://") and
              h["external_path"].rstrip("/").endswith("/chk-%d" % h["id"]),
              "checkpoint directory %s" % h)
        check(h["failure_message"] is None, "no failure %s" % h)
    latest = cp["latest"]["completed"]
    check(latest is not None and latest["id"] == done[0]["id"],
          "latest.completed %s" % latest)
    check(cp["latest"]["savepoint"] is None and
          cp["latest"]["restored"] is None and
          cp["counts"]["restored"] == 0, "no savepoint, no restore %s" % cp)
    # REST serves the same object (shape; the history moves meanwhile,
    # and REST reads what the JobManager's loop last published, which
    # may trail an RPC answer by a loop turn).
    def rest_caught_up():
        st, b = rest(c, "GET", "/jobs/%s/checkpoints" % job_id)
        check(st == 200, "REST %d %s" % (st, b))
        check_shape(b)
        return b["counts"]["completed"] >= cp["counts"]["completed"]
    wait_for(rest_caught_up, 10, "REST's checkpoint counts to catch up")
    last = c.info(job_id)["last_checkpoint"]
    check(isinstance(last, int) and last >= latest["id"],
          "info last_checkpoint %s (latest %s)" % (last, latest["id"]))
    st, b = rest(c, "GET", "/jobs/%s" % job_id)
    check(st == 200 and isinstance(b["last_checkpoint"], int) and
          b["last_checkpoint"] >= latest["id"], "REST last %s" % b)
    r = c.cli("checkpoints", job_id)
    check(b"COMPLETED" in r.stdout and b"checkpoint" in r.stdout,
          "table: %s" % r.stdout)
    return cp


def test_savepoint():
    c = cluster()
    job_id = c.submit(write_file(_tmp, "sp.yaml", CKPT_JOB % {
        "name": "ckpt-sp", "out": os.path.join(_tmp, "sp-out")}),
        wait="RUNNING", timeout=30)
    try:
        check_history(c, job_id)
        # A relative directory is made absolute by the CLI.
        work = os.path.join(_tmp, "work")
        os.makedirs(work, exist_ok=True)
        r = subprocess.run([WEIR, "--jobmanager", c.jm, "-o", "json",
                            "savepoint", job_id, "sps"], cwd=work,
                           capture_output=True, timeout=120)
        check(r.returncode == 0, "savepoint rc %d\n%s" % (r.returncode,
                                                          text_of(r)))
        path = json.loads(r.stdout)["path"]
        check(set(json.loads(r.stdout)) == {"path"}, "only the path")
        check_savepoint_path(path, os.path.join(work, "sps"), job_id)
        check(os.path.isfile(metadata_of(path)), "_metadata of %s" % path)
        cp = c.checkpoints(job_id)
        sp = cp["latest"]["savepoint"]
        check(sp is not None and sp["is_savepoint"] and
              sp["status"] == "COMPLETED" and sp["external_path"] == path,
              "latest.savepoint %s" % sp)
        check(c.info(job_id)["state"] == "RUNNING", "a savepoint does "
              "not stop the job")
        # Table output ends with the path.
        r = c.cli("savepoint", job_id, os.path.join(_tmp, "sps2"),
                  timeout=120)
        check(b"Savepoint completed. Path: file://" in r.stdout,
              "table: %s" % r.stdout)

        # REST: 202 with the checkpoint id as request id; it completes.
        st, b = rest(c, "POST", "/jobs/%s/savepoints" % job_id,
                     {"target-directory": os.path.join(_tmp, "rest-sp"),
                      "cancel-job": False})
        check(st == 202 and set(b) == {"request-id", "path"} and
              b["request-id"].isdigit(), "POST savepoints %d %s" % (st, b))
        rid = int(b["request-id"])

        def rest_done():
            _, cp2 = rest(c, "GET", "/jobs/%s/checkpoints" % job_id)
            e = [h for h in cp2["history"] if h["id"] == rid]
            return e and e[0]["status"] == "COMPLETED" and e[0]
        e = wait_for(rest_done, 60, "REST savepoint %d" % rid, 0.2)
        check(e["external_path"] == b["path"] and e["is_savepoint"],
              "REST savepoint entry %s" % e)
        check(os.path.isfile(metadata_of(b["path"])), "REST _metadata")

        # "cancel-job": true stops the job; no directory: the cluster's
        # <checkpoints.storage>/savepoints.
        st, b = rest(c, "POST", "/jobs/%s/savepoints" % job_id,
                     {"cancel-job": True})
        check(st == 202, "POST savepoints cancel-job %d %s" % (st, b))
        check_savepoint_path(b["path"], os.path.join(c.dir, "checkpoints",
                                                     "savepoints"), job_id)
        c.wait_state(job_id, "FINISHED", 60, 0.2)
        check(os.path.isfile(metadata_of(b["path"])), "cancel-job _metadata")
    finally:
        if c.info(job_id)["state"] == "RUNNING":
            c.cancel(job_id)


def test_stop_and_restore():
    c = cluster()
    job = write_file(_tmp, "stop.yaml", CKPT_JOB % {
        "name": "ckpt-stop", "out": os.path.join(_tmp, "stop-out")})
    job_id = c.submit(job, wait="RUNNING", timeout=30)
    c.wait_checkpoint(job_id, 1)
    spdir = os.path.join(_tmp, "stop-sps")
    r = c.cli("-o", "json", "stop", job_id, "--savepoint-dir", spdir,
              timeout=120)
    path = json.loads(r.stdout)["path"]
    check_savepoint_path(path, spdir, job_id)
    check(os.path.isfile(metadata_of(path)), "_metadata of %s" % path)
    ji = c.info(job_id)
    check(ji["state"] == "FINISHED", "stopped job %s" % ji["state"])
    sp_id = c.checkpoints(job_id)["latest"]["savepoint"]["id"]
    check(ji["last_checkpoint"] == sp_id, "last checkpoint is the "
          "savepoint: %s vs %d" % (ji["last_checkpoint"], sp_id))
    r = c.cli("savepoint", job_id, check_rc=1)
    check(r.stderr.strip(), "a finished job takes no savepoint")

    # The next version starts from it and says so.
    new_id = c.submit(job, "--from-savepoint", path, wait="RUNNING", timeout=30)
    try:
        cp = c.checkpoints(new_id)
        check(cp["counts"]["restored"] == 1 and
              cp["latest"]["restored"] == {"id": sp_id,
                                           "external_path": path},
              "restored %s" % cp["latest"])
        r = c.cli("checkpoints", new_id)
        check(("checkpoint %d from %s" % (sp_id, path)).encode()
              in r.stdout, "table restored: %s" % r.stdout)
        c.wait_checkpoint(new_id, 1)
        # REST stop: 202, then FINISHED.
        st, b = rest(c, "POST", "/jobs/%s/stop" % new_id,
                     {"targetDirectory": spdir, "drain": False})
        check(st == 202 and set(b) == {"request-id", "path"},
              "POST stop %d %s" % (st, b))
        c.wait_state(new_id, "FINISHED", 60, 0.2)
        check(os.path.isfile(metadata_of(b["path"])), "REST stop _metadata")
    finally:
        if c.info(new_id)["state"] == "RUNNING":
            c.cancel(new_id)


def test_stop_cluster():
    if _cluster is not None:
        _cluster.stop()
        _cluster.close()


if __name__ == "__main__":
    main([test_offline, test_unknown_job, test_without_checkpointing,
          test_savepoint, test_stop_and_restore, test_stop_cluster])
