"""test_adoption.py - TaskManagers without a JobManager: fencing of
sinks, adoption of running tasks, no orphans, stale epochs.

- zombie: a TaskManager SIGSTOPped past the heartbeat timeout while its
  job (Kafka -> at-least-once Kafka sink, checkpoints) restarts on the
  other one, resumed once the restarted job has read new input: its old
  task ends within a bound, the sink holds each input exactly once (the
  restart replays nothing: no input came between the last checkpoint and
  the restart), and both TaskManagers' slots are counted right;
- a JobManager SIGKILLed and not restarted: the TaskManager cancels its
  task once taskmanager.adoption_grace passed, and its sink wrote nothing
  after the heartbeat timeout;
- a JobManager SIGKILLed and restarted within the grace: the TaskManager
  reports its task, the new JobManager recovers the job and adopts the
  task as it runs (no cancel, no restart counted, records go on);
- the same with a TaskManager SIGKILLed while there is no JobManager: no
  adoption, the job restarts (counted) once the other TaskManager's task
  of the old attempt ended;
- a bounded job whose input ends while its JobManager is dead (within the
  heartbeat timeout, so its sinks commit their final output): the
  TaskManagers report the ended tasks when they register with the
  restarted JobManager, which adopts the job as FINISHED - no restart
  from the checkpoint, so the output is exact, not written twice;
- a stale epoch: a request with an epoch below the highest a TaskManager
  has seen is refused and counted, logged once per epoch; the JobManager
  (epoch 0) is then fenced off too: its deploy is refused.
"""
import json
import os
import re
import signal
import subprocess
import time

import hachaos
from weirtest import (BIN, Cluster, Failure, check, http_get, main,
                      metric_sum, metric_value, run, wait_for)

HB_INTERVAL_MS = 300
HB_TIMEOUT_MS = 1500
RPC_TOOL = os.path.join(BIN, "rpc_tool")


def config(grace, timeout_ms=HB_TIMEOUT_MS):
    return ("jobmanager: { heartbeat_interval: %dms, heartbeat_timeout: "
            "%dms }\ntaskmanager: { adoption_grace: %s }\n" %
            (HB_INTERVAL_MS, timeout_ms, grace))


def tm_log(pid):
    """The log of a live TaskManager (its stdout)."""
    with open(os.readlink("/proc/%d/fd/1" % pid), errors="replace") as f:
        return f.read()


def tm_metrics_of(c, tm_id):
    for t in c.taskmanagers():
        if t["id"] == tm_id:
            st, text = http_get("http://%s/metrics" % t["metrics_address"])
            return text if st == 200 else None
    return None


def kafka_job(c, name, source, extra=""):
    return """\
name: %s
parallelism: %%d
%s
sources:
  in:
%s
nodes:
  - id: out
    from: in
    sink: { kafka: { topic: out, bootstrap: "%s", semantic: at_least_once } }
""" % (name, extra, source, c.bootstrap)


def out_records(c):
    """(timestamp ms, value) of every record of topic out."""
    recs = []
    for line in c.consume("out", fmt="%T %s\n"):
        ts, _, value = line.partition(" ")
        recs.append((int(ts), value))
    return recs


def test_zombie_taskmanager():
    # A longer heartbeat timeout: the JobManager is paused below (for at
    # most 4 s: a resumed Kafka consumer may take seconds to fetch again
    # on a busy machine) and the healthy TaskManager must not be declared
    # lost meanwhile.
    timeout_ms = 6000
    with Cluster(taskmanagers=2, slots=2, topics=["in:2", "out:1"],
                 config=config("30s", timeout_ms)) as c:
        job = kafka_job(
            c, "zombie",
            "    kafka: { topic: in, bootstrap: \"%s\", startup: earliest }\n"
            "    schema: { id: long }" % c.bootstrap,
            "checkpointing: { interval: 500ms, timeout: 10s }\n"
            "restart: { strategy: fixed_delay, delay: 200ms, attempts: 100 }"
        ) % 2
        job_id = c.submit(job)
        c.wait_running(job_id)
        c.produce("in", [{"id": i, "_p": i % 2} for i in range(500)])
        wait_for(lambda: len(c.consume("out")) >= 500, 30, "500 records out")
        # Checkpoints after the last record: a restart replays nothing.
        done = c.completed_checkpoints(job_id)
        c.wait_checkpoint(job_id, done + 2)

        zombie = c.kill_taskmanager(job=job_id, sig=signal.SIGSTOP)
        zid = c.tm_id(zombie)
        t_stop = time.monotonic()

        def restarted_elsewhere():
            if not c.running(job_id):
                return False
            subs = [s for v in c.info(job_id)["vertices"]
                    for s in v["subtasks"]]
            return all(s["taskmanager"] != zid for s in subs)
        wait_for(restarted_elsewhere, 30, "the job running without %s" % zid)
        # (A checkpoint the zombie cannot take may restart the job before
        # the zombie is declared lost; the fence is about after that.)
        wait_for(lambda: "TM-LOST id=%s" % zid in c.log("jobmanager"), 30,
                 "the zombie declared lost")
        print("     restarted elsewhere, zombie lost %.1fs after SIGSTOP" %
              (time.monotonic() - t_stop))
        c.produce("in", [{"id": i, "_p": i % 2} for i in range(500, 1000)])
        wait_for(lambda: len(set(c.consume("out"))) >= 1000, 30,
                 "the restarted job to write the new records")

        # Resumed while the JobManager is paused (so no answer ends its
        # task at once): the zombie's task reads its partition on from
        # where it stopped, and its sink must hold back what it read.
        jm = c.jobmanager_pid()
        os.kill(jm, signal.SIGSTOP)
        try:
            c.resume_taskmanager(zombie)
            t_cont = time.monotonic()
            # Bounded below the heartbeat timeout, or the paused
            # JobManager would find the healthy TaskManager silent too.
            # A loaded machine may not let the zombie read a record in
            # that time: the exact count below is what proves it wrote
            # nothing (1,250 records with the fence disabled).
            try:
                wait_for(lambda: "TASK-FENCED" in tm_log(zombie), 4,
                         "the zombie's sink to be held back")
            except Failure:
                print("     the zombie read nothing while the JobManager "
                      "was paused")
        finally:
            os.kill(jm, signal.SIGCONT)
        wait_for(lambda: re.search(r"TASK-END job=%s \S+ CANCELED" % job_id,
                                   tm_log(zombie)), 5,
                 "the zombie's task to end")
        print("     zombie's task ended %.2fs after SIGCONT" %
              (time.monotonic() - t_cont))
        check("TASK-ORPHAN" in tm_log(zombie),
              "TASK-ORPHAN in the zombie's log")
        jm_log = c.log("jobmanager")
        check("TM-TASK-NOT-KEPT" in jm_log,
              "the JobManager said it keeps none")
        check(jm_log.count("TM-LOST") == 1, "only the zombie was lost")

        # Slots: the zombie holds nothing, the other TaskManager the job.
        def slots_right():
            tms = {t["id"]: t for t in c.cluster_json()["taskmanagers"]}
            z = tms.get(zid)
            others = [t for i, t in tms.items() if i != zid]
            text = tm_metrics_of(c, zid)
            return (z is not None and z["state"] == "alive" and
                    z["slots_free"] == 2 and len(others) == 1 and
                    others[0]["slots_free"] == 0 and text is not None and
                    metric_value(text, "weir_taskmanager_slots",
                                 '{state="used"}') == 0)
        wait_for(slots_right, 10, "slots counted right in weir cluster")

        out = c.consume("out")
        want = [json.dumps({"id": i}, separators=(",", ":"))
                for i in range(1000)]
        check(set(out) == set(want),
              "the sink holds ids 0..999: %d distinct" % len(set(out)))
        check(len(out) == 1000,
              "%d records for 1000 inputs: the zombie wrote %d" %
              (len(out), len(out) - 1000))
        c.cancel(job_id)


def wait_orphaned(pid, job_id, timeout_s):
    return wait_for(lambda: re.search(
        r"TASK-END job=%s \S+ CANCELED" % job_id, tm_log(pid)),
        timeout_s, "the TaskManager to cancel its task")


def generator_job(c):
    return kafka_job(c, "orphan", "    datagen: { rate: 200 }") % 1


def test_jobmanager_gone():
    grace_s = 4
    with Cluster(taskmanagers=1, slots=2, topics=["out:1"],
                 config=config("%ds" % grace_s)) as c:
        job_id = c.submit(generator_job(c))
        c.wait_running(job_id)
        wait_for(lambda: len(c.consume("out")) >= 100, 30, "records out")
        tm = c.taskmanager_pids()[0]
        t_kill_wall = time.time()
        c.kill_jobmanager()
        t_kill = time.monotonic()
        wait_orphaned(tm, job_id, grace_s + 3)
        took = time.monotonic() - t_kill
        print("     task cancelled %.2fs after the JobManager died "
              "(grace %ds)" % (took, grace_s))
        check(took >= grace_s - (HB_INTERVAL_MS + 500) / 1000.0,
              "cancelled after %.2fs, before the grace of %ds" %
              (took, grace_s))
        check("TM-ADOPTION-GRACE" in tm_log(tm), "TM-ADOPTION-GRACE logged")
        # Sinks were fenced once the heartbeat timeout passed without a
        # JobManager: nothing was written after it, nor after the cancel.
        recs = out_records(c)
        last = max(ts for ts, _ in recs)
        fence = t_kill_wall * 1000 + HB_TIMEOUT_MS + 300
        check(last <= fence, "a record written %.0f ms after the JobManager "
              "died (heartbeat timeout %d ms)" %
              (last - t_kill_wall * 1000, HB_TIMEOUT_MS))
        check(len(out_records(c)) == len(recs), "records after the cancel")


def test_jobmanager_restarted():
    with Cluster(taskmanagers=1, slots=2, topics=["out:1"],
                 config=config("20s")) as c:
        job_id = c.submit(generator_job(c))
        c.wait_running(job_id)
        wait_for(lambda: len(c.consume("out")) >= 100, 30, "records out")
        tm = c.taskmanager_pids()[0]
        c.kill_jobmanager()
        t_kill = time.monotonic()
        c.start_jobmanager("jm2")
        # The new JobManager recovers the job from the job store; the
        # TaskManager's registration reports its task at the stored
        # attempt, where the job store placed it: the job is adopted as
        # it runs, well before the grace of 20 s - no cancel, no restart.
        # (Bounded below the grace; typically 0.3-4 s, but a loaded
        # machine slows jm2's start and the TaskManager's redial.)
        wait_for(lambda: re.search(r"JOB-ADOPTED job=%s attempt 0: 1 task"
                                   % job_id, c.log("jm2")), 18,
                 "jm2 to adopt the job")
        print("     adopted %.2fs after the JobManager was killed" %
              (time.monotonic() - t_kill))
        check(re.search(r"TM-REGISTERED .* tasks=1", tm_log(tm)),
              "the registration reported the task")
        c.wait_running(job_id, 10)
        check(metric_sum(c.metrics(), "weir_job_restarts_total", job=job_id,
                         missing=None) == 0, "a restart counted")
        wait_for(lambda: [t["slots_free"] for t in
                          c.cluster_json()["taskmanagers"]] == [1], 10,
                 "one slot used, by the adopted task")
        n = len(c.consume("out"))
        wait_for(lambda: len(c.consume("out")) > n, 30,
                 "records from the adopted task")
        log = tm_log(tm)
        check(not re.search(r"TASK-END job=%s" % job_id, log) and
              "TM-ADOPTION-GRACE" not in log,
              "the task ended:\n" + log[-2000:])


def test_jobmanager_restarted_tm_lost():
    with Cluster(taskmanagers=2, slots=2, topics=["out:1"],
                 config=config("20s")) as c:
        job_id = c.submit(kafka_job(c, "orphan", "    datagen: { rate: 200 }")
                          % 2)
        c.wait_running(job_id)
        wait_for(lambda: len(c.consume("out")) >= 100, 30, "records out")
        pids = c.taskmanager_pids()
        c.kill_jobmanager()
        c.kill_taskmanager(pids[1])
        c.start_jobmanager("jm2")
        # A task's TaskManager is gone: no adoption, the job restarts at
        # attempt 1 on the slots left (counted), and the task the other
        # TaskManager still runs of attempt 0 is cancelled first.
        wait_for(lambda: re.search(r"JOB-NOT-ADOPTED job=%s attempt 0" %
                                   job_id, c.log("jm2")), 15,
                 "jm2 to give adoption up")
        wait_orphaned(pids[0], job_id, 15)
        c.wait_running(job_id, 30)
        check(metric_sum(c.metrics(), "weir_job_restarts_total", job=job_id,
                         missing=None) == 1,
              "the restart was not counted")
        n = len(c.consume("out"))
        wait_for(lambda: len(c.consume("out")) > n, 30,
                 "records from the restarted job")


def test_job_ends_without_jobmanager():
    n, rate = 3000, 1000  # 3 s of input per source subtask
    # A heartbeat timeout longer than the input: the sinks are not
    # fenced, so they commit the final output with no JobManager there.
    with Cluster(taskmanagers=2, slots=2,
                 config=config("30s", 15000)) as c:
        out = os.path.join(c.dir, "out")
        job_id = c.submit(hachaos.job("ends", n, rate,
                                      hachaos.file_sink(out)))
        c.wait_running(job_id)
        ntasks = sum(len(v["subtasks"]) for v in c.info(job_id)["vertices"])
        c.wait_checkpoint(job_id, 1)
        c.kill_jobmanager()
        pids = c.taskmanager_pids()

        def ended():
            return sum(len(re.findall(r"TASK-END job=%s \S+ FINISHED" %
                                      job_id, tm_log(p))) for p in pids)
        wait_for(lambda: ended() == ntasks, 12,
                 "every task to finish with no JobManager")
        wait_for(lambda: any("JobManager did not take it" in tm_log(p)
                             for p in pids), 10,
                 "an end report that went nowhere")
        c.start_jobmanager("jm2")
        c.wait_state(job_id, "FINISHED", 20)
        log = c.log("jm2")
        check(re.search(r"JOB-ADOPTED job=%s attempt 0: %d task\(s\) .*"
                        r"\(%d of them finished meanwhile\)" %
                        (job_id, ntasks, ntasks), log),
              "jm2 adopted the finished tasks:\n" + log[-3000:])
        check("JOB-NOT-ADOPTED" not in log and
              c.info(job_id).get("restarts", 0) == 0, "a restart")
        hachaos.check_exact(hachaos.file_committed(out),
                            hachaos.expected(n, rate))


def rpc_ping(address, epoch):
    return run([RPC_TOOL, "ping", address, str(epoch)], timeout=20)


def test_stale_epoch():
    with Cluster(taskmanagers=1, slots=1, mode="daemons") as c:
        tm = c.cluster_json()["taskmanagers"][0]
        pid = c.pid_of(tm["id"])
        # The JobManager's own epoch: the job store's counter (no HA).
        m = re.search(r"JM-EPOCH epoch (\d+)", c.log("jobmanager"))
        check(m, "the JobManager logged its epoch")
        jm_epoch = int(m.group(1))
        hi, lo = jm_epoch + 7, jm_epoch + 3
        r = rpc_ping(tm["address"], hi)
        check(r.returncode == 0, "epoch %d answered: %s" % (hi, r.stderr))
        for _ in range(2):
            r = rpc_ping(tm["address"], lo)
            check(r.returncode == 3 and
                  ("stale epoch %d" % lo).encode() in r.stderr,
                  "epoch %d refused: rc %d %s" % (lo, r.returncode,
                                                   r.stderr))
        check(rpc_ping(tm["address"], hi).returncode == 0, "%d again" % hi)
        log = tm_log(pid)
        check(len(re.findall(r"TM-STALE-EPOCH refusing a JobManager of "
                             r"epoch %d\b" % lo, log)) == 1,
              "TM-STALE-EPOCH logged once for epoch %d:\n%s" % (lo, log))
        text = tm_metrics_of(c, tm["id"])
        check(metric_value(text, "weir_taskmanager_stale_epoch_total") >= 2,
              "stale epochs counted:\n" + text)
        # The JobManager is below hi now: its heartbeat answers and its
        # deploys are refused too.
        mine = "epoch %d:" % jm_epoch
        wait_for(lambda: mine in tm_log(pid), 5,
                 "the JobManager's epoch %d refused" % jm_epoch)
        out = os.path.join(c.dir, "out")
        job_id = c.submit("name: fenced\nparallelism: 1\nsources:\n  in:\n"
                          "    datagen: { rate: 10 }\nnodes:\n  - id: out\n"
                          "    from: in\n    sink: { file: { path: \"%s\" } }"
                          "\n" % out)
        i = c.wait_state(job_id, "FAILED", 30)
        check(("stale epoch %d" % jm_epoch) in (i.get("failure") or ""),
              "deploy refused for its epoch: %s" % i.get("failure"))
        check(len(re.findall(re.escape(mine), tm_log(pid))) == 1,
              "epoch %d logged once" % jm_epoch)


if __name__ == "__main__":
    main([test_stale_epoch, test_jobmanager_restarted,
          test_jobmanager_restarted_tm_lost, test_job_ends_without_jobmanager,
          test_jobmanager_gone,
          test_zombie_taskmanager])
