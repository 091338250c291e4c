"""test_rest_flink.py - the REST paths weir has with Flink's shapes and
field names, on a running job.

A job (datagen -> key_by -> file sink) runs on two TaskManagers whose
file sink is slowed by a fault point, so its source is back-pressured.
Every Flink path answers with Flink's field names and values consistent
with each other: the vertex ids of /jobs/{id} work in the vertex paths
(subtasks on the TaskManagers /taskmanagers lists, the source HIGH in
backpressure, the sink's watermarks), a checkpoint id of /checkpoints
in checkpoints/details, a savepoint triggered by POST and followed to
COMPLETED at savepoints/{request-id}; a TaskManager SIGKILLed shows in
/exceptions with its cause. Errors are {"errors": [...]}: 404 (also
outside /jobs), 405 and 400 for bad query parameters.
"""
import os

from weirtest import Cluster, check, main, wait_for

JOB = """\
name: rest-flink
parallelism: 2
checkpointing: {{ interval: 300ms }}
restart: {{ strategy: fixed_delay, delay: 200ms, attempts: 10 }}
sources:
  gen:
    datagen: {{ rate: 0 }}
    event_time: {{ field: ts, max_out_of_orderness: 1s }}
nodes:
  - id: by_product
    from: gen
    key_by: [product_id]
  - id: out
    from: by_product
    sink: {{ file: {{ path: "{out}" }} }}
"""

EXEC_STATES = {"CREATED", "SCHEDULED", "DEPLOYING", "RUNNING", "FINISHED",
               "CANCELING", "CANCELED", "FAILED", "RECONCILING",
               "INITIALIZING"}


def get(c, path, status=200):
    st, doc = c.rest_call("GET", path)
    check(st == status, "GET %s: %d, want %d: %s" % (path, st, status, doc))
    return doc


def check_error(c, method, path, status):
    st, doc = c.rest_call(method, path)
    check(st == status and isinstance(doc, dict) and list(doc) == ["errors"]
          and isinstance(doc["errors"], list) and doc["errors"] and
          all(isinstance(e, str) for e in doc["errors"]),
          "%s %s: %d %r, want %d {\"errors\": [...]}" %
          (method, path, st, doc, status))


def has(doc, keys, what):
    missing = set(keys) - set(doc)
    check(not missing, "%s lacks %s: %s" % (what, sorted(missing), doc))


def check_job(c, jid):
    job = get(c, "/jobs/" + jid)
    has(job, ["jid", "name", "state", "start-time", "end-time", "duration",
              "now", "timestamps", "vertices", "status-counts", "plan",
              "isStoppable", "maxParallelism"], "/jobs/{id}")
    check(job["jid"] == jid and job["state"] == "RUNNING" and
          job["end-time"] == -1 and job["timestamps"]["RUNNING"] > 0 and
          job["duration"] >= 0 and job["now"] >= job["start-time"],
          "job %s" % job)
    check(set(job["status-counts"]) == EXEC_STATES and
          job["status-counts"]["RUNNING"] == len(job["vertices"]),
          "status-counts %s" % job["status-counts"])
    for v in job["vertices"]:
        has(v, ["id", "name", "parallelism", "maxParallelism", "status",
                "start-time", "end-time", "duration", "tasks", "metrics"],
            "vertex")
        check(v["status"] == "RUNNING" and v["tasks"]["RUNNING"] ==
              v["parallelism"] == 2, "vertex %s" % v)
    nodes = job["plan"]["nodes"]
    check([n["id"] for n in nodes] == [v["id"] for v in job["vertices"]] and
          nodes[1]["inputs"][0]["id"] == nodes[0]["id"] and
          nodes[1]["inputs"][0]["ship_strategy"] == "HASH",
          "plan %s" % job["plan"])
    check(get(c, "/jobs/%s/plan" % jid)["plan"] == job["plan"], "plan")
    return job


def check_lists(c, jid):
    ov = get(c, "/jobs/overview")["jobs"]
    check(len(ov) == 1, "overview %s" % ov)
    has(ov[0], ["jid", "name", "state", "start-time", "end-time",
                "duration", "last-modification", "tasks"], "overview")
    check(ov[0]["jid"] == jid and ov[0]["tasks"]["total"] == 4 and
          ov[0]["tasks"]["running"] == 4, "overview %s" % ov[0])
    cl = get(c, "/overview")
    check(cl["jobs-running"] == 1 and cl["jobs-failed"] == 0 and
          cl["taskmanagers"] == 2 and cl["slots-available"] == 2,
          "/overview %s" % cl)
    # Flink's /jobs has id and status
    lst = get(c, "/jobs")["jobs"][0]
    check(lst["id"] == lst["jid"] == jid and lst["status"] == "RUNNING" and
          "start_time" not in lst, "/jobs %s" % lst)


def check_vertices(c, jid, job, tms):
    src, sink = job["vertices"][0]["id"], job["vertices"][1]["id"]
    v = get(c, "/jobs/%s/vertices/%s" % (jid, src))
    has(v, ["id", "name", "parallelism", "maxParallelism", "now",
            "subtasks"], "vertex details")
    for s in v["subtasks"]:
        has(s, ["subtask", "status", "attempt", "taskmanager-id", "endpoint",
                "start-time", "end-time", "duration", "metrics"], "subtask")
        check(s["taskmanager-id"] in tms, "subtask on %s, TaskManagers %s"
              % (s["taskmanager-id"], sorted(tms)))

    def high():
        bp = get(c, "/jobs/%s/vertices/%s/backpressure" % (jid, src))
        return bp if bp["backpressure-level"] == "high" else None
    bp = wait_for(high, 20, "the source's back-pressure HIGH")
    has(bp, ["status", "backpressure-level", "end-timestamp", "subtasks"],
        "backpressure")
    for s in bp["subtasks"]:
        has(s, ["subtask", "attempt-number", "backpressure-level", "ratio",
                "idleRatio", "busyRatio"], "backpressure subtask")
        check(0 <= s["ratio"] <= 1 and 0 <= s["idleRatio"] <= 1 and
              0 <= s["busyRatio"] <= 1 and
              s["ratio"] + s["idleRatio"] + s["busyRatio"] <= 1.01,
              "ratios %s" % s)
    check(max(s["ratio"] for s in bp["subtasks"]) > 0.5, "ratio %s" % bp)

    def marks():
        w = get(c, "/jobs/%s/vertices/%s/watermarks" % (jid, sink))
        return w if len(w) == 2 else None
    wm = wait_for(marks, 20, "the sink's watermarks")
    check(sorted(m["id"] for m in wm) == ["0.currentInputWatermark",
                                          "1.currentInputWatermark"] and
          all(int(m["value"]) > 1e12 for m in wm), "watermarks %s" % wm)
    check_error(c, "GET", "/jobs/%s/vertices/99" % jid, 404)
    check_error(c, "GET", "/jobs/%s/vertices/%s/nope" % (jid, src), 404)
    check_error(c, "POST", "/jobs/%s/vertices/%s" % (jid, src), 405)


def check_checkpoints(c, jid):
    def one():
        h = get(c, "/jobs/%s/checkpoints" % jid)["history"]
        return [x for x in h if x["status"] == "COMPLETED"] or None
    ck = wait_for(one, 30, "a completed checkpoint")[0]
    d = get(c, "/jobs/%s/checkpoints/details/%d" % (jid, ck["id"]))
    has(d, ["className", "id", "status", "is_savepoint", "trigger_timestamp",
            "latest_ack_timestamp", "state_size", "checkpointed_size",
            "end_to_end_duration", "num_subtasks",
            "num_acknowledged_subtasks", "checkpoint_type", "external_path",
            "discarded", "tasks"], "checkpoint details")
    check(d["id"] == ck["id"] and d["className"] == "completed" and
          d["checkpoint_type"] == "CHECKPOINT" and
          d["num_acknowledged_subtasks"] == d["num_subtasks"] == 4,
          "details %s" % d)
    cfg = get(c, "/jobs/%s/checkpoints/config" % jid)
    has(cfg, ["mode", "interval", "timeout", "min_pause", "max_concurrent",
              "externalization", "state_backend", "checkpoint_storage",
              "unaligned_checkpoints", "tolerable_failed_checkpoints"],
        "checkpoint config")
    check(cfg["interval"] == 300 and cfg["mode"] == "exactly_once",
          "config %s" % cfg)
    check_error(c, "GET", "/jobs/%s/checkpoints/details/abc" % jid, 400)
    check_error(c, "GET", "/jobs/%s/checkpoints/details/999999" % jid, 404)


def check_savepoint(c, jid):
    st, doc = c.rest_call("POST", "/jobs/%s/savepoints" % jid, "{}")
    check(st == 202 and "request-id" in doc, "trigger: %d %s" % (st, doc))
    rid = doc["request-id"]

    def done():
        s = get(c, "/jobs/%s/savepoints/%s" % (jid, rid))
        check(s["status"]["id"] in ("IN_PROGRESS", "COMPLETED"), "%s" % s)
        return s if s["status"]["id"] == "COMPLETED" else None
    s = wait_for(done, 30, "savepoint %s COMPLETED" % rid)
    loc = s["operation"]["location"]
    check(loc == doc["path"] and os.path.exists(
        os.path.join(loc.replace("file://", ""), "_metadata")),
        "savepoint %s at %s" % (s, doc["path"]))
    check_error(c, "GET", "/jobs/%s/savepoints/nope" % jid, 400)


def check_cluster(c):
    cfg = get(c, "/config")
    has(cfg, ["refresh-interval", "timezone-name", "timezone-offset",
              "flink-version", "features"], "/config")
    keys = {e["key"]: e["value"] for e in get(c, "/jobmanager/config")}
    check(keys["jobmanager.heartbeat_timeout"] == "1200ms" and
          keys["jobmanager.rest"] == "127.0.0.1:%d" % c.rest_port,
          "/jobmanager/config %s" % keys)
    # parallelism 2 spreads over both: a slot each, running subtask i of
    # both vertices
    tms = get(c, "/taskmanagers")["taskmanagers"]
    check(len(tms) == 2, "taskmanagers %s" % tms)
    for t in tms:
        d = get(c, "/taskmanagers/" + t["id"])
        has(d, ["id", "path", "dataPort", "timeSinceLastHeartbeat",
                "slotsNumber", "freeSlots"], "/taskmanagers/{id}")
        check(d["slotsNumber"] == 2 and d["freeSlots"] == 1, "tm %s" % d)
        names = {m["id"] for m in get(c, "/taskmanagers/%s/metrics" %
                                      t["id"])}
        check("numRecordsOut" in names, "metrics %s" % names)
        want = [{"id": "Status.Slots.Total", "value": "2"},
                {"id": "Status.Tasks.Running", "value": "2"}]
        # what the next heartbeat reports
        wait_for(lambda: get(c, "/taskmanagers/%s/metrics?get="
                             "Status.Slots.Total,Status.Tasks.Running" %
                             t["id"]) == want, 10,
                 "TaskManager %s's metrics %s" % (t["id"], want))
        check_error(c, "GET", "/taskmanagers/%s/metrics?get=nope" %
                    t["id"], 400)
    check_error(c, "GET", "/taskmanagers/nope", 404)
    return {t["id"] for t in tms}


def check_errors(c, jid):
    check_error(c, "GET", "/nope", 404)
    check_error(c, "GET", "/jobmanager/nope", 404)
    check_error(c, "GET", "/jobs/nope", 404)
    check_error(c, "GET", "/jobs/%s/nope" % jid, 404)
    check_error(c, "POST", "/overview", 405)
    check_error(c, "DELETE", "/config", 405)
    check_error(c, "POST", "/jobs/%s/plan" % jid, 405)
    check_error(c, "POST", "/jobs/overview", 405)
    check_error(c, "GET", "/jobs/overview?bogus=1", 400)
    check_error(c, "GET", "/config?x=1", 400)
    check_error(c, "GET", "/jobs/%s?x=1" % jid, 400)
    check_error(c, "PATCH", "/jobs/%s?mode=cancel&x=1" % jid, 400)
    check_error(c, "GET", "/jobs/%s/exceptions?maxExceptions=0" % jid, 400)


def check_restart(c, jid, job):
    exc = get(c, "/jobs/%s/exceptions" % jid)
    has(exc, ["root-exception", "timestamp", "all-exceptions", "truncated",
              "exceptionHistory"], "exceptions")
    check(exc["root-exception"] is None and
          exc["exceptionHistory"]["entries"] == [], "no failure yet %s" % exc)
    victim = job["vertices"][0]
    tm = get(c, "/jobs/%s/vertices/%s" % (jid, victim["id"]))[
        "subtasks"][0]["taskmanager-id"]
    c.kill_taskmanager(c.pid_of(tm))

    def lost():
        """The newest entry once it or a failure that came with it (the
        TaskManager's tasks' input may fail first) is the lost one."""
        e = get(c, "/jobs/%s/exceptions" % jid)
        ents = e["exceptionHistory"]["entries"]
        if not ents:
            return None
        causes = [ents[0]] + ents[0]["concurrentExceptions"]
        return e if any(x["taskManagerId"] == tm and
                        "TaskManager %s was lost" % tm == x["stacktrace"]
                        for x in causes) else None
    exc = wait_for(lost, 20, "the restart in /exceptions")
    e = exc["exceptionHistory"]["entries"][0]
    has(e, ["exceptionName", "stacktrace", "timestamp", "taskName",
            "endpoint", "taskManagerId", "failureLabels",
            "concurrentExceptions"], "exception entry")
    check(exc["root-exception"] == e["stacktrace"] and
          exc["all-exceptions"][0]["exception"] == exc["root-exception"] and
          e["exceptionName"] in ("weir.TaskManagerLost", "weir.TaskFailure")
          and len(exc["exceptionHistory"]["entries"]) == 1,
          "one restart, its cause first: %s" % exc)
    c.wait_running(jid, 30)
    one = get(c, "/jobs/%s/exceptions?maxExceptions=1" % jid)
    check(len(one["exceptionHistory"]["entries"]) == 1, "maxExceptions")
    check(get(c, "/jobs/" + jid)["timestamps"]["RESTARTING"] > 0,
          "RESTARTING timestamp")


def test_rest_flink():
    # a slow sink; a lost TaskManager noticed in 1.2 s
    env = dict(os.environ, WEIR_FAULT_SINK_SLEEP_US="200",
               WEIR_JOBMANAGER_HEARTBEAT_INTERVAL="200ms",
               WEIR_JOBMANAGER_HEARTBEAT_TIMEOUT="1200ms")
    with Cluster(mode="daemons", taskmanagers=2, slots=2, env=env) as c:
        jid = c.submit(JOB.format(out=os.path.join(c.dir, "out")))
        c.wait_running(jid)
        tms = check_cluster(c)
        job = check_job(c, jid)
        check_lists(c, jid)
        check_vertices(c, jid, job, tms)
        check_checkpoints(c, jid)
        check_savepoint(c, jid)
        check_errors(c, jid)
        check_restart(c, jid, job)
        c.cancel(jid)


if __name__ == "__main__":
    main([test_rest_flink])
