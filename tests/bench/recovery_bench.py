#!/usr/bin/env python3
"""recovery_bench.py - recovery time and checkpoint cost with large keyed
state, on `weir local`.

Measured, never asserted (the targets of the benchmarks issue are printed
next to the figures: recovery <= 2 s with 100 MB of keyed state; a
checkpoint of 1 GB <= 2 s with <= 10 % throughput dip).

The job is examples/bench/state-keyed.yaml: the datagen source as fast as
the job takes orders -> key_by order_id (unique per order) -> reduce, so
every order adds one entry to the keyed state (about 90 bytes of LMDB file
each). Parallelism 1: one source task and one keyed task, in one slot of
one TaskManager. The cluster: `weir local --taskmanagers 2 --slots 1`, so
a spare slot is always free for a restart, with short heartbeats.

1. Recovery, --runs times, each with a fresh job (source at --rate
   orders/s, checkpoint every --interval, restart fixed_delay
   --restart-delay): once the newest completed checkpoint holds
   >= --state-mb MiB, SIGKILL the TaskManager
   running the keyed task - at once ("between" checkpoints), and, in
   another --runs jobs, once the next checkpoint is in progress ("during":
   then no checkpoint trigger reaches the dead TaskManager, see
   --kill-at) - and start a replacement (the cluster's weir.yaml), then
   time from the kill:
     (a) JOB-RESTART in the JobManager log (the JobManager noticed),
     (b) JOB-REDEPLOY in the JobManager log,
         CKPT-RESTORE-KEYED in the new TaskManager's log (state copied in),
     (c) every task RUNNING (REST /jobs/ID, polled every 20 ms),
     (d) the first record processed after the restore:
         weir_records_in_total of the keyed vertex on a live TaskManager
         above what it was before the kill (its /metrics, every 20 ms).
   Log lines carry wall-clock milliseconds, as does the kill time here.
2. Checkpoint of big state: a job without checkpoints grows its state to
   --big-state-mb MiB (the keyed task's data.mdb; at most --build-timeout
   seconds, else the size reached is used and printed), is stopped with a
   savepoint, and is resubmitted from it with its source renamed (and
   --allow-non-restored-state): the new source starts again at order 0, so
   it updates keys the state already holds and the state keeps its size
   while the checkpoints are measured (--big-rate orders/s: about 1 % of
   the keys change between two checkpoints; checkpoints are incremental
   unless --full: the first after the restore, a warm-up, copies the whole
   state, the next ones only the keys changed; checkpoint every --big-interval,
   at least --big-min-pause apart). The first checkpoint after the restore
   is a warm-up; the next --runs are reported: size, duration
   (end_to_end_duration), the keyed task's own snapshot time (CKPT-TAKEN,
   a debug line of the TaskManager log), alignment, and the source's
   records/s (weir_records_out_total of the source vertex, sampled every
   100 ms) during each checkpoint against the time between checkpoints.
   With --profile, `perf trace` follows the TaskManager's file syscalls
   during these checkpoints and a third table splits each snapshot into
   its steps (flush, mdb_env_copy2, fsyncs, the upload's read/write copy,
   rename, unlink of the local copy).

    tests/bench/recovery_bench.py [--bin DIR] [--state-mb 100]
        [--big-state-mb 1024] [--runs 3] [--kill-at between|during|both]
        [--only recovery|checkpoint] [--profile] [--keep]

About 1 min 45 s at the defaults on 2 vCPUs; 6 x the big state's size of
free disk is checked first. Prints the tables, then one JSON line with every figure. Python 3 standard
library only; uses tests/integration/weirtest.py. Everything it starts is
stopped and its temporary directory removed (--keep keeps the directory).
"""
import argparse
import calendar
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
JOB_FILE = os.path.join(REPO, "examples", "bench", "state-keyed.yaml")
MIB = 1024 * 1024
KEYED_NODE = "per_order"
SOURCE_NODE = "orders"

ap = argparse.ArgumentParser(
    description=__doc__.split("\n\n")[0],
    formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--bin", default=os.environ.get("WEIR_BENCH_BIN") or
                os.path.join(REPO, "build", "release", "bin"),
                help="directory of weir, weir-jobmanager, weir-taskmanager "
                "(default: $WEIR_BENCH_BIN or build/release/bin)")
ap.add_argument("--state-mb", type=float, default=100,
                help="keyed state (MiB) at the kill (default 100)")
ap.add_argument("--big-state-mb", type=float, default=1024,
                help="keyed state (MiB) of the checkpoint runs (1024)")
ap.add_argument("--runs", type=int, default=3,
                help="recoveries and measured checkpoints (3)")
ap.add_argument("--interval", default="1s",
                help="checkpoint interval of the recovery job (1s)")
ap.add_argument("--rate", type=int, default=250000,
                help="orders/s of the recovery job's source (about 21 MB "
                "of state a second: the kill comes within ~20 MiB of "
                "--state-mb); 0 = as fast as the job takes them (250000)")
ap.add_argument("--restart-delay", default="100ms",
                help="fixed_delay restart delay (100ms)")
ap.add_argument("--heartbeat-interval", default="200ms")
ap.add_argument("--heartbeat-timeout", default="1s")
ap.add_argument("--big-interval", default="3s",
                help="checkpoint interval of the big-state job (3s)")
ap.add_argument("--big-min-pause", default="3s",
                help="least time between two big checkpoints (3s)")
ap.add_argument("--big-rate", type=int, default=40000,
                help="orders/s of the source while the big checkpoints "
                "are measured: each updates one key, so about 1 %% of a "
                "1 GiB state's ~12 M keys change between two checkpoints "
                "3 s apart; 0 = as fast as the job takes them (40000)")
ap.add_argument("--full", action="store_true",
                help="checkpoints copy the whole state "
                "(checkpointing.incremental: false) instead of deltas")
ap.add_argument("--build-timeout", type=float, default=240,
                help="seconds allowed to grow the big state (240)")
ap.add_argument("--kill-at", choices=("between", "during", "both"),
                default="both",
                help="kill right after the checkpoint that reached "
                "--state-mb completed (between), or once the next one is "
                "in progress (during); default both, --runs each")
ap.add_argument("--only", choices=("recovery", "checkpoint"))
ap.add_argument("--profile", action="store_true",
                help="attach `perf trace` (file syscalls only) to the "
                "TaskManager during the big checkpoints and print where "
                "each snapshot's time goes")
ap.add_argument("--keep", action="store_true",
                help="keep the cluster's directory (logs) at the end")
args = ap.parse_args()
if not os.path.exists(os.path.join(args.bin, "weir")):
    sys.exit("recovery_bench: no %s/weir: build weir first or pass --bin "
             "(cmake --preset release && cmake --build --preset release)"
             % args.bin)
os.environ["WEIR_BIN_DIR"] = os.path.abspath(args.bin)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import weirtest as wt  # noqa: E402  (needs WEIR_BIN_DIR first)

T_START = time.monotonic()


def say(msg):
    print("[%5.1fs] %s" % (time.monotonic() - T_START, msg), flush=True)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---- small clients ----

def http_text(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode()
    except (OSError, urllib.error.URLError):
        return None


def metric(addr, name, job, vertex):
    """Sum over subtasks of name{job, vertex} on one TaskManager; None when
    the TaskManager does not answer, 0 when the series is absent."""
    t = http_text("http://%s/metrics" % addr, timeout=1.0)
    if t is None:
        return None
    return int(wt.metric_sum(t, name, job, vertex))


def job_info(c, job):
    return c.rest_json("/jobs/%s" % job)


def all_running(info):
    return info is not None and info.get("state") == "RUNNING" and all(
        s["state"] == "RUNNING" for v in info["vertices"]
        for s in v["subtasks"])


def vertex_of(info, node):
    for v in info["vertices"]:
        if v["name"] == node or v["name"].startswith(node + " "):
            return v
    raise wt.Failure("no vertex for node %s in %s" % (node, info))


def checkpoints(c, job):
    return c.rest_json("/jobs/%s/checkpoints" % job) or {}


LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z ")


def log_ts(line):
    m = LOG_TS.match(line)
    if not m:
        return None
    return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) \
        + int(m.group(2)) / 1000.0


def log_lines(path, since=0):
    try:
        with open(path, errors="replace") as f:
            f.seek(since)
            return f.read().splitlines()
    except OSError:
        return []


def tm_logs(c):
    return [p for p in glob.glob(os.path.join(c.dir, "log", "*.log"))
            if not p.endswith("/jobmanager.log")]


def find_event(lines, event, needle, after):
    """(wall time, line) of the first `event` line holding needle at or
    after `after`."""
    for line in lines:
        if " %s " % event in line and needle in line:
            ts = log_ts(line)
            if ts is not None and ts >= after - 0.0005:
                return ts, line
    return None, None


def wait_for(cond, timeout_s, what, interval_s=0.05):
    return wt.wait_for(cond, timeout_s, what, interval_s)


# ---- the job ----

def job_yaml(name, interval, delay="100ms", min_pause="0s",
             source=SOURCE_NODE, rate=0):
    """examples/bench/state-keyed.yaml with the bench's settings."""
    with open(JOB_FILE) as f:
        text = f.read()
    subs = [
        (r"(?m)^name: .*$", "name: %s" % name),
        (r"(?m)^checkpointing: .*$",
         "checkpointing: { interval: %s, timeout: 5m, min_pause: %s, "
         "retained: 1, incremental: %s }" %
         (interval, min_pause, "false" if args.full else "true")),
        (r"(?m)^restart: .*$",
         "restart: { strategy: fixed_delay, delay: %s, attempts: 1000 }"
         % delay),
        (r"(?m)^  %s:$" % SOURCE_NODE, "  %s:" % source),
        (r"(?m)^    from: %s$" % SOURCE_NODE, "    from: %s" % source),
        (r"(?m)^    datagen: \{ rate: 0 \}$",
         "    datagen: { rate: %d }" % rate),
    ]
    for pat, rep in subs:
        text, n = re.subn(pat, rep, text)
        if n != 1:
            raise wt.Failure("%s: expected one match of %r" % (JOB_FILE,
                                                               pat))
    return text


def submit(c, text, extra=()):
    return c.submit(text, *extra, name="job.yaml", timeout=300)


def drop_job_files(c, job):
    for d in (os.path.join(c.dir, "state", job),
              os.path.join(c.dir, "checkpoints", job)):
        shutil.rmtree(d, ignore_errors=True)


def cancel(c, job):
    try:
        c.cancel(job, timeout_s=120)
    except Exception as e:  # report, clean up, go on
        say("cancel of %s: %s" % (job, e))
    drop_job_files(c, job)


# ---- 1. recovery ----

def recovery_run(c, k, mode):
    job = submit(c, job_yaml("bench-recovery-%s-%d" % (mode, k),
                             args.interval, args.restart_delay,
                             rate=args.rate))
    try:
        return recovery_measure(c, job, k, mode)
    finally:
        cancel(c, job)


def recovery_measure(c, job, k, mode):
    wait_for(lambda: all_running(job_info(c, job)), 60, "job running")
    target = args.state_mb * MIB
    t0 = time.monotonic()

    def big_enough():
        done = (checkpoints(c, job).get("latest") or {}).get("completed")
        return done if done and done["state_size"] >= target else None
    ck = wait_for(big_enough, 300, "a checkpoint of %.0f MiB" %
                  args.state_mb, 0.05)
    build_s = time.monotonic() - t0
    if mode == "during":
        def next_in_progress():
            return any(h["status"] == "IN_PROGRESS" and h["id"] > ck["id"]
                       for h in checkpoints(c, job).get("history", []))
        wait_for(next_in_progress, 60, "checkpoint %d in progress" %
                 (ck["id"] + 1), 0.01)
    info = job_info(c, job)
    kv = vertex_of(info, KEYED_NODE)
    victim_id = kv["subtasks"][0]["taskmanager"]
    victim = c.pid_of(victim_id)
    if victim is None:
        raise wt.Failure("no pid for TaskManager %s" % victim_id)
    # records the keyed vertex received on every other TaskManager before
    # the kill (a TaskManager that ran it before keeps its counter)
    base = {}
    for t in c.taskmanagers():
        if t["id"] != victim_id:
            base[t["id"]] = metric(t["metrics_address"],
                                   "weir_records_in_total", job, kv["id"])
    jm_log = os.path.join(c.dir, "log", "jobmanager.log")
    jm_off = os.path.getsize(jm_log)
    t_kill = time.time()
    c.kill_taskmanager(victim)
    c.start_taskmanager()
    t_running = t_first = None
    redeployed = False
    tml, tml_at = [], 0.0
    deadline = time.monotonic() + 120
    while t_first is None or t_running is None:
        if time.monotonic() > deadline:
            raise wt.Failure("run %d: no %s within 120 s of the kill" %
                             (k, "record" if t_first is None else
                              "RUNNING"))
        now = time.time()
        if now - tml_at > 0.2:
            tml = [t for t in c.taskmanagers() if t["id"] != victim_id]
            tml_at = now
        if t_first is None:
            for t in tml:
                v = metric(t["metrics_address"], "weir_records_in_total",
                           job, kv["id"])
                if v is not None and v > (base.get(t["id"]) or 0):
                    t_first = time.time()
                    break
        if t_running is None:
            if not redeployed:
                redeployed = any(" JOB-REDEPLOY " in l and job in l
                                 for l in log_lines(jm_log, jm_off))
            if redeployed and all_running(job_info(c, job)):
                t_running = time.time()
        time.sleep(max(0.0, 0.02 - (time.time() - now)))
    jl = log_lines(jm_log, jm_off)
    t_lost, _ = find_event(jl, "TM-LOST", victim_id, t_kill)
    t_restart, _ = find_event(jl, "JOB-RESTART", job, t_kill)
    _, rline = find_event(jl, "JOB-RESTART", job, t_kill)
    m = re.search(r" after: (.*)$", rline or "")
    cause = m.group(1) if m else None
    t_redeploy, line = find_event(jl, "JOB-REDEPLOY", job, t_kill)
    upto = [l for l in jl if (log_ts(l) or 0) <= (t_redeploy or 1e18)]
    cancel_timeouts = sum(1 for l in upto if " JOB-CANCEL-TASK " in l and
                          job in l and "timed out" in l)
    others_lost = sum(1 for l in upto if " TM-LOST " in l and
                      victim_id not in l)
    m = re.search(r" from (\S+)", line or "")
    restored_url = m.group(1) if m else None
    restored = None
    for h in checkpoints(c, job).get("history", []):
        if h.get("external_path") == restored_url:
            restored = h
    restored_id = int(re.search(r"chk-(\d+)", restored_url).group(1)) \
        if restored_url and "chk-" in restored_url else None
    t_restored = None
    label = "job=%s task=%s/0" % (job[:8], kv["id"])
    for p in tm_logs(c):
        ts, _ = find_event(log_lines(p), "CKPT-RESTORE-KEYED", label,
                           t_kill)
        if ts is not None:
            t_restored = ts
    size = restored["state_size"] if restored else ck["state_size"]

    def rel(t):
        return None if t is None else t - t_kill
    r = {"state_mib": size / MIB, "restored_checkpoint": restored_id,
         "build_s": build_s,
         "tm_lost_s": rel(t_lost), "notice_s": rel(t_restart),
         "redeploy_s": rel(t_redeploy), "state_restored_s": rel(t_restored),
         "running_s": rel(t_running), "first_record_s": rel(t_first),
         "cause": cause, "cancel_timeouts": cancel_timeouts,
         "live_tms_declared_lost": others_lost}
    say("recovery run %d (kill %s checkpoints): %.0f MiB (checkpoint %s) "
        "restored; first record %.3f s after the kill" % (
            k, mode, r["state_mib"], restored_id, r["first_record_s"]))
    return r


# ---- 2. checkpoint of big state ----

PERF_LINE = re.compile(r"^\s*([\d.]+) \(\s*([\d.]+) ms\): \S+?/(\d+) "
                       r"(\w+)\((.*)\)\s+= (\S+)")
# a call that another thread's event interrupted: "... [continued]: fsync())"
PERF_CONT = re.compile(r"^\s*([\d.]+) \(\s*([\d.]+) ms\): \S+?/(\d+)\s+"
                       r"\.\.\. \[continued\]: (\w+)\((.*)\)\s+= (\S+)")


def perf_trace_start(c, pid):
    """perf trace of the syscalls a snapshot makes, on every thread of
    pid; None when perf cannot run."""
    path = os.path.join(c.dir, "perf-trace.txt")
    try:
        p = wt.spawn(["perf", "trace", "-p", str(pid), "-o", path, "-e",
                      "openat,fsync,rename,unlink,fcntl,clone3,clone"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                     stdin=subprocess.DEVNULL)
    except OSError as e:
        say("--profile: cannot run perf: %s" % e)
        return None
    time.sleep(1.0)
    if p.poll() is not None:
        say("--profile: perf trace exited: %s" %
            p.stderr.read().decode(errors="replace")[-300:])
        return None
    return p, path


def perf_trace_stop(pt):
    p, path = pt
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return path


def snapshot_phases(path):
    """Splits the keyed task's syscalls into one segment per snapshot.
    The sequence (taskmanager/task_ckpt.c, common/storage/state.c,
    common/storage/objstore_file.c): flush (no syscall here),
    mdb_env_copy2 into <state>.chk-N/data.mdb (openat O_CREAT|O_EXCL ..
    the next openat), its fsync, put_file (openat O_CREAT|O_TRUNC of the
    .tmp .. its fsync: the read/write copy), that fsync, rename +
    directory fsync, then rmtree of the local copy (unlink)."""
    ev = []
    with open(path, errors="replace") as f:
        for line in f:
            m = PERF_LINE.match(line) or PERF_CONT.match(line)
            if m:
                ev.append((float(m.group(1)), float(m.group(2)),
                           int(m.group(3)), m.group(4), m.group(5)))
    starts = [e for e in ev if e[3] == "openat" and "EXCL" in e[4] and
              "CREAT" in e[4]]
    if not starts:
        return []
    tid = starts[0][2]
    ev = [e for e in ev if e[2] == tid]
    segs, cur = [], None
    for e in ev:
        if e[3] == "openat" and "EXCL" in e[4] and "CREAT" in e[4]:
            cur = [e]
            segs.append(cur)
        elif cur is not None:
            cur.append(e)
    out = []
    for seg in segs:
        t0 = seg[0][0]
        ph = {"copy_start": t0}
        i = 1
        # mdb_env_copy2 ends where the task opens the copy to fsync it
        while i < len(seg) and not (seg[i][3] == "openat" and
                                    "CREAT" not in seg[i][4]):
            i += 1
        if i >= len(seg):
            continue
        ph["mdb_env_copy2_ms"] = seg[i][0] - t0
        fs = [e for e in seg[i:] if e[3] == "fsync"]
        up = [e for e in seg if e[3] == "openat" and "TRUNC" in e[4]]
        ul = [e for e in seg if e[3] == "unlink"]
        if len(fs) < 3 or not up or not ul:
            continue
        ph["fsync_copy_ms"] = fs[0][1]
        up_fs = [e for e in fs if e[0] > up[0][0]]
        ph["upload_copy_ms"] = up_fs[0][0] - up[0][0]
        ph["upload_fsync_ms"] = up_fs[0][1]
        ph["rename_dirsync_ms"] = sum(e[1] for e in seg if e[3] in (
            "rename",)) + (up_fs[1][1] if len(up_fs) > 1 else 0)
        ph["unlink_ms"] = ul[-1][1]
        ph["copy_to_end_ms"] = ul[-1][0] + ul[-1][1] - t0
        out.append(ph)
    return out

class Sampler(threading.Thread):
    """A counter on one TaskManager every 100 ms: (wall time, value)."""

    def __init__(self, addr, name, job, vertex):
        super().__init__(daemon=True)
        self.addr, self.name, self.job, self.vertex = addr, name, job, vertex
        self.samples = []
        self.stop_ev = threading.Event()

    def run(self):
        nxt = time.time()
        while not self.stop_ev.is_set():
            v = metric(self.addr, self.name, self.job, self.vertex)
            if v is not None:
                self.samples.append((time.time(), v))
            nxt += 0.1
            self.stop_ev.wait(max(0.0, nxt - time.time()))


def state_file_bytes(c, job):
    return sum(os.path.getsize(p) for p in glob.glob(
        os.path.join(c.dir, "state", job, "*", "data.mdb")))


def rates(samples, windows, lo, hi):
    """Records/s over [lo, hi] inside and outside the windows: each
    sampling step counts where its midpoint falls."""
    din = tin = dout = tout = 0.0
    per = [[0.0, 0.0] for _ in windows]
    for (t0, v0), (t1, v1) in zip(samples, samples[1:]):
        mid = (t0 + t1) / 2
        if mid < lo or mid > hi or t1 <= t0:
            continue
        hit = [i for i, (a, b) in enumerate(windows) if a <= mid <= b]
        if hit:
            din += v1 - v0
            tin += t1 - t0
            per[hit[0]][0] += v1 - v0
            per[hit[0]][1] += t1 - t0
        else:
            dout += v1 - v0
            tout += t1 - t0
    return (din / tin if tin else None, dout / tout if tout else None,
            [d / t if t else None for d, t in per])


def checkpoint_bench(c):
    target = args.big_state_mb * MIB
    # Build: no checkpoint while the state grows.
    job = submit(c, job_yaml("bench-state-build", "7d"))
    build = {}
    try:
        wait_for(lambda: all_running(job_info(c, job)), 60, "job running")
        t0 = time.monotonic()
        last_say = t0
        while True:
            size = state_file_bytes(c, job)
            el = time.monotonic() - t0
            if size >= target or el > args.build_timeout:
                break
            if time.monotonic() - last_say > 10:
                say("building state: %.0f MiB after %.0f s" %
                    (size / MIB, el))
                last_say = time.monotonic()
            time.sleep(0.2)
        build["build_s"] = time.monotonic() - t0
        build["build_file_mib"] = size / MIB
        build["timed_out"] = size < target
        info = job_info(c, job)
        sv = vertex_of(info, SOURCE_NODE)
        addr = {t["id"]: t["metrics_address"] for t in c.taskmanagers()}
        build["records"] = metric(
            addr[sv["subtasks"][0]["taskmanager"]],
            "weir_records_out_total", job, sv["id"])
        say("state built: %.0f MiB (data.mdb) in %.1f s, %s orders%s" %
            (size / MIB, build["build_s"], build["records"],
             " (build timeout: using this size)" if build["timed_out"]
             else ""))
        spdir = os.path.join(c.dir, "savepoints")
        r = c.cli("stop", job, "--savepoint-dir", spdir, "-o", "json",
                  timeout=600)
        sp_path = json.loads(r.stdout)["path"]
        sp = (checkpoints(c, job).get("latest") or {}).get("savepoint") or {}
        build["savepoint_mib"] = sp.get("state_size", 0) / MIB
        build["savepoint_ms"] = sp.get("end_to_end_duration")
        say("savepoint: %.0f MiB in %s ms" % (build["savepoint_mib"],
                                              build["savepoint_ms"]))
    finally:
        if job_info(c, job) and job_info(c, job)["state"] in (
                "RUNNING", "RESTARTING", "CREATED"):
            cancel(c, job)
        drop_job_files(c, job)
    # Measure: the same state, its keys updated by a source that starts
    # again at order 0.
    text = job_yaml("bench-state-checkpoints", args.big_interval,
                    min_pause=args.big_min_pause, source="orders_again",
                    rate=args.big_rate)
    t_sub = time.monotonic()
    job = submit(c, text, ("--from-savepoint", sp_path,
                           "--allow-non-restored-state"))
    try:
        wait_for(lambda: all_running(job_info(c, job)), 600,
                 "job running from the savepoint")
        build["restore_s"] = time.monotonic() - t_sub
        shutil.rmtree(sp_path[len("file://"):], ignore_errors=True)
        info = job_info(c, job)
        sv = vertex_of(info, "orders_again")
        kv = vertex_of(info, KEYED_NODE)
        addr = {t["id"]: t["metrics_address"] for t in c.taskmanagers()}
        smp = Sampler(addr[sv["subtasks"][0]["taskmanager"]],
                      "weir_records_out_total", job, sv["id"])
        pt = None
        if args.profile:
            pid = c.pid_of(kv["subtasks"][0]["taskmanager"])
            pt = perf_trace_start(c, pid) if pid else None
        smp.start()
        want = args.runs + 1

        def completed():
            hs = [h for h in checkpoints(c, job).get("history", [])
                  if h["status"] == "COMPLETED" and not h["is_savepoint"]]
            return hs if len(hs) >= want else None
        hs = None
        try:
            hs = wait_for(completed, 120 + 60 * want,
                          "%d completed checkpoints" % want, 0.2)
        finally:
            time.sleep(0.3)
            smp.stop_ev.set()
            smp.join()
            trace = perf_trace_stop(pt) if pt else None
        # (the history may hold failed ones too: say so)
        failed = [h for h in checkpoints(c, job).get("history", [])
                  if h["status"] == "FAILED"]
    finally:
        cancel(c, job)
    hs = sorted(hs, key=lambda h: h["id"])
    warm, meas = hs[0], hs[1:want]
    windows = [(h["trigger_timestamp"] / 1000.0,
                (h["trigger_timestamp"] + h["end_to_end_duration"]) / 1000.0)
               for h in meas]
    lo = (warm["trigger_timestamp"] + warm["end_to_end_duration"]) / 1000.0
    hi = windows[-1][1]
    during, between, per = rates(smp.samples, windows, lo, hi)
    allr = [(v1 - v0) / (t1 - t0) for (t0, v0), (t1, v1)
            in zip(smp.samples, smp.samples[1:])
            if lo <= (t0 + t1) / 2 <= hi and t1 > t0]
    # the keyed task's own time (debug log)
    taken = {}
    label = "job=%s task=%s/0 checkpoint " % (job[:8], kv["id"])
    for p in tm_logs(c):
        for line in log_lines(p):
            if " CKPT-TAKEN " in line and label in line:
                m = re.search(r"checkpoint (\d+): (\d+) bytes in (\d+) ms",
                              line)
                if m:
                    taken[int(m.group(1))] = int(m.group(3))
    rows = []
    for h, d in zip(meas, per):
        rows.append({"id": h["id"], "size_mib": h["state_size"] / MIB,
                     "duration_ms": h["end_to_end_duration"],
                     "task_snapshot_ms": taken.get(h["id"]),
                     "alignment_ms": h["alignment_duration"],
                     # the keyed task's blocked time and its copy + upload
                     # (absent in builds before they were reported)
                     "sync_ms": h.get("sync_duration"),
                     "async_ms": h.get("async_duration"),
                     "src_rps_during": d,
                     "dip_pct": None if d is None or not between else
                     100.0 * (1 - d / between)})
    prof = []
    if trace:
        segs = snapshot_phases(trace)
        ids = sorted(taken)
        # the trace started after the restore: align from the newest
        for cid, ph in zip(reversed(ids), reversed(segs)):
            ph["id"] = cid
            ph["total_ms"] = taken[cid]
            ph["flush_and_rest_ms"] = taken[cid] - ph["copy_to_end_ms"]
            prof.insert(0, ph)
    span = hi - lo
    total = None
    if smp.samples:
        ins = [(t, v) for t, v in smp.samples if lo <= t <= hi]
        if len(ins) >= 2:
            total = (ins[-1][1] - ins[0][1]) / (ins[-1][0] - ins[0][0])
    return {"build": build, "checkpoints": rows,
            "src_rps_during": during, "src_rps_between": between,
            "src_rps_overall": total,
            "dip_pct": None if during is None or not between else
            100.0 * (1 - during / between),
            "overall_loss_pct": None if total is None or not between else
            100.0 * (1 - total / between),
            "span_s": span, "failed_checkpoints": len(failed),
            "warmup_checkpoint": {"id": warm["id"],
                                  "duration_ms": warm["end_to_end_duration"],
                                  "size_mib": warm["state_size"] / MIB},
            "samples": len(smp.samples), "profile": prof,
            "max_rps": max(allr) if allr else None}


# ---- tables ----

def fmt(v, f="%.3f"):
    return "-" if v is None else f % v


def recovery_table(runs, mode):
    n = len(runs)
    print("recovery, SIGKILL %s" % (
        "right after the checkpoint that reached the size completed"
        if mode == "between" else
        "while the next checkpoint is in progress"))
    hdr = "%-52s" % "seconds after the SIGKILL" + "".join(
        "%9s" % ("run %d" % (i + 1)) for i in range(n)) + "%9s" % "median"
    print(hdr)
    rows = [("restored state (MiB)", "state_mib", "%.0f"),
            ("restored checkpoint id", "restored_checkpoint", "%d"),
            ("(a) JobManager notices: JOB-RESTART", "notice_s", "%.3f"),
            ("    (TM-LOST logged)", "tm_lost_s", "%.3f"),
            ("(b) JOB-REDEPLOY", "redeploy_s", "%.3f"),
            ("    keyed state restored (CKPT-RESTORE-KEYED)",
             "state_restored_s", "%.3f"),
            ("(c) every task RUNNING", "running_s", "%.3f"),
            ("(d) first record processed after restore = TOTAL",
             "first_record_s", "%.3f")]
    for title, key, f in rows:
        vals = [r.get(key) for r in runs]
        print("%-52s" % title + "".join("%9s" % fmt(v, f) for v in vals) +
              "%9s" % fmt(median(vals), f))
    for i, r in enumerate(runs):
        print("run %d: restart cause: %s; cancel RPCs timed out before the "
              "redeploy: %d; live TaskManagers declared lost: %d" % (
                  i + 1, r["cause"], r["cancel_timeouts"],
                  r["live_tms_declared_lost"]))
    print("target: recovery <= 2 s (TOTAL)")


def checkpoint_table(cb):
    b = cb["build"]
    print("checkpoints of big keyed state: built %.0f MiB (data.mdb) in "
          "%.1f s (%.0f MiB/s, %s orders)%s; savepoint of it %.0f MiB in "
          "%s ms; restored in %.1f s" % (
              b["build_file_mib"], b["build_s"],
              b["build_file_mib"] / b["build_s"], b["records"],
              " - BUILD TIMEOUT, this size used" if b["timed_out"] else "",
              b["savepoint_mib"], b["savepoint_ms"], b["restore_s"]))
    print("%-6s %10s %12s %14s %8s %9s %13s %16s %8s" % (
        "ckpt", "uploaded MiB", "duration ms", "task snap. ms", "sync ms",
        "async ms", "alignment ms", "src rec/s during", "dip %"))
    for r in cb["checkpoints"]:
        print("%-6d %10.0f %12d %14s %8s %9s %13d %16s %8s" % (
            r["id"], r["size_mib"], r["duration_ms"],
            fmt(r["task_snapshot_ms"], "%d"), fmt(r["sync_ms"], "%d"),
            fmt(r["async_ms"], "%d"), r["alignment_ms"],
            fmt(r["src_rps_during"], "%.0f"), fmt(r["dip_pct"], "%.1f")))
    cs = cb["checkpoints"]
    print("%-6s %10.0f %12.0f %14s %8s %9s %13.0f %16s %8s" % (
        "median", median([r["size_mib"] for r in cs]),
        median([r["duration_ms"] for r in cs]),
        fmt(median([r["task_snapshot_ms"] for r in cs]), "%.0f"),
        fmt(median([r["sync_ms"] for r in cs]), "%.0f"),
        fmt(median([r["async_ms"] for r in cs]), "%.0f"),
        median([r["alignment_ms"] for r in cs]),
        fmt(median([r["src_rps_during"] for r in cs]), "%.0f"),
        fmt(median([r["dip_pct"] for r in cs]), "%.1f")))
    print("source records/s: %s between checkpoints, %s during them "
          "(dip %s %%); %s over the whole %.1f s (%s %% below "
          "'between'); warm-up checkpoint %d: %.0f MiB in %d ms; %d failed" %
          (fmt(cb["src_rps_between"], "%.0f"),
           fmt(cb["src_rps_during"], "%.0f"), fmt(cb["dip_pct"], "%.1f"),
           fmt(cb["src_rps_overall"], "%.0f"), cb["span_s"],
           fmt(cb["overall_loss_pct"], "%.1f"),
           cb["warmup_checkpoint"]["id"], cb["warmup_checkpoint"]["size_mib"],
           cb["warmup_checkpoint"]["duration_ms"], cb["failed_checkpoints"]))
    grown = max(r["size_mib"] for r in cb["checkpoints"])
    if grown > 1.1 * b["savepoint_mib"]:
        print("note: the state grew during the measurement (%.0f -> %.0f "
              "MiB): the source passed the orders of the build (%s)" %
              (b["savepoint_mib"], grown, b["records"]))
    print("target: checkpoint of 1 GB <= 2000 ms, throughput dip <= 10 %")
    if cb.get("profile"):
        print()
        print("where the keyed task's snapshot time goes (perf trace of its "
              "syscalls; ms)")
        cols = [("total", "total_ms"), ("flush+rest", "flush_and_rest_ms"),
                ("env_copy2", "mdb_env_copy2_ms"),
                ("fsync copy", "fsync_copy_ms"),
                ("upload r/w", "upload_copy_ms"),
                ("upload fsync", "upload_fsync_ms"),
                ("rename+dir", "rename_dirsync_ms"),
                ("unlink copy", "unlink_ms")]
        print("%-8s" % "ckpt" + "".join("%13s" % t for t, _ in cols))
        measured = {r["id"] for r in cb["checkpoints"]}
        for ph in cb["profile"]:
            print("%-8s" % ("%d%s" % (ph["id"], "" if ph["id"] in measured
                                      else " (w)")) +
                  "".join("%13.1f" % ph[k] for _, k in cols))
        meas = [ph for ph in cb["profile"] if ph["id"] in measured]
        if meas:
            print("%-8s" % "median" + "".join(
                "%13.1f" % median([ph[k] for ph in meas]) for _, k in cols))
        print("(w): warm-up, not in the median. flush+rest = total minus "
              "the rest (wr_state_flush, mkdir, bookkeeping); env_copy2 = "
              "mdb_env_copy2(MDB_CP_COMPACT) into <state_dir>/...chk-N "
              "(LMDB writes it O_DIRECT); upload r/w = objstore put_file's "
              "read/write loop into the checkpoint directory")


# ---- main ----

def main():
    if args.runs < 1:
        sys.exit("recovery_bench: --runs must be >= 1")
    tmp = os.environ.get("TMPDIR", "/tmp")
    free = shutil.disk_usage(tmp).free
    # state + savepoint + restored state + local copy + stored copy, twice
    need = 6 * args.big_state_mb * MIB + 1024 * MIB
    if args.only != "recovery" and free < need:
        fit = max(64.0, (free - 1024 * MIB) / 6 / MIB)
        print("recovery_bench: %.1f GiB free in %s, %.1f GiB needed for "
              "%.0f MiB of state: using %.0f MiB" % (
                  free / 1024 / MIB, tmp, need / 1024 / MIB,
                  args.big_state_mb, fit))
        args.big_state_mb = fit
    config = ("jobmanager: { heartbeat_interval: %s, heartbeat_timeout: %s "
              "}\nlog: { level: debug }\n" % (args.heartbeat_interval,
                                               args.heartbeat_timeout))
    say("starting weir local (2 TaskManagers x 1 slot) from %s" % args.bin)
    c = wt.Cluster(taskmanagers=2, slots=1, config=config, keep=args.keep)
    say("cluster directory %s" % c.dir)
    result = {"bin": os.path.abspath(args.bin), "runs": args.runs,
              "state_mb": args.state_mb, "big_state_mb": args.big_state_mb,
              "interval": args.interval, "restart_delay": args.restart_delay,
              "rate": args.rate,
              "heartbeat": [args.heartbeat_interval,
                            args.heartbeat_timeout],
              "nproc": os.cpu_count()}
    rec, cb = [], None
    try:
        modes = ["between", "during"] if args.kill_at == "both" else \
            [args.kill_at]
        if args.only != "checkpoint":
            for mode in modes:
                rec.append((mode, [recovery_run(c, k, mode)
                                   for k in range(1, args.runs + 1)]))
        if args.only != "recovery":
            cb = checkpoint_bench(c)
    finally:
        try:
            c.stop()
        except Exception as e:
            say("weir local did not stop cleanly: %s" % e)
        finally:
            c.close()  # kills what is left; removes the directory
    print()
    print("weir recovery/checkpoint bench: %d CPUs, load %s; job: "
          "parallelism 1, datagen -> key_by order_id -> reduce; 2 "
          "TaskManagers x 1 slot, heartbeat %s/%s; recovery jobs: source "
          "%s orders/s, checkpoint every %s, restart fixed_delay %s; "
          "medians of %d" % (
              os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg()),
              args.heartbeat_interval, args.heartbeat_timeout,
              args.rate or "unthrottled", args.interval, args.restart_delay,
              args.runs))
    result["recovery"] = {}
    for mode, runs in rec:
        print()
        recovery_table(runs, mode)
        keys = [k for k in runs[0] if k != "cause"]
        result["recovery"][mode] = {
            "median": {k: median([r[k] for r in runs]) for k in keys},
            "runs": runs}
    if cb:
        print()
        checkpoint_table(cb)
        cs = cb["checkpoints"]
        cb["median"] = {k: median([r[k] for r in cs]) for k in
                        ("size_mib", "duration_ms", "task_snapshot_ms",
                         "alignment_ms", "src_rps_during", "dip_pct")}
        result["checkpoint"] = cb
    result["wall_s"] = time.monotonic() - T_START
    print()
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
