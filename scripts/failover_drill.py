#!/usr/bin/env python3
"""failover_drill.py - the JobManager failover drill (scripts/failover-drill.sh
runs it; docs/operations.md, "HA and failover drills").

On a `weir local --jobmanagers N` cluster (started here in a temporary
directory, or the one in --dir), runs an exactly-once job - the nexmark
source (bounded, so its output is known in advance), a keyed tumbling
window, the exactly-once file sink, checkpoints every 500 ms - and kills
the leader JobManager --kills times, alternating SIGKILL and SIGSTOP (held
past the lease, then SIGCONT: the old leader must step down and exit).
Each killed JobManager is started again as a supervisor would: the same
command line and environment (read from /proc before the kill), its log
appended to. Per failover it prints the kind, the takeover times from the
kill (new leader elected; job RUNNING; first record committed after
that) and the job's weir_job_restarts_total delta on the new leader's
/metrics. At the end it compares the committed output with what a
failure-free run writes (computed from the source's definition) and exits
1 unless it is exact.

Python 3 standard library only. Everything it starts is stopped at the
end (JobManagers it restarted on a cluster given with --dir are left
running, as a supervisor's would be, and listed).
"""
import argparse
import collections
import datetime
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# The nexmark source's definition (taskmanager/nexmark_gen.c): event id
# mod 50 is a person (0), an auction (1-3) or a bid; subtask k of a
# bounded source generates ids k*count.. and event times
# BASE + n * 1000 / rate ms for its n-th event.
NEX_BASE_MS = 1436918400000
WINDOW_MS = 200

JOB = """\
name: failover-drill
parallelism: {p}
checkpointing: {{ interval: 500ms, timeout: 10s, retained: 3 }}
restart: {{ strategy: fixed_delay, delay: 200ms, attempts: 1000 }}
sources:
  events:
    nexmark: {{ rate: {rate}, count: {count} }}
    event_time: {{ field: ts }}
nodes:
  - id: w
    from: events
    key_by: [event_type]
    window: {{ tumbling: {window}ms }}
    aggregate: {{ n: count() }}
  - id: out
    from: w
    sink: {{ file: {{ path: "{out}" }} }}
"""


def say(msg):
    print(msg, flush=True)


class DrillError(Exception):
    pass


def wait_for(cond, timeout_s, what, interval_s=0.02):
    deadline = time.monotonic() + timeout_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise DrillError("timed out after %.0f s waiting for %s" %
                             (timeout_s, what))
        time.sleep(interval_s)


def http_get(url, timeout=2.0):
    """(status, body) or (None, None) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (OSError, ValueError):
        return None, None


def free_port():
    """A loopback port free now, below the kernel's ephemeral range (where
    no outgoing connection takes it before weir local binds it)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo = int(f.read().split()[0])
    except (OSError, ValueError):
        lo = 32768
    rnd = random.SystemRandom()
    for _ in range(200):
        port = rnd.randrange(max(1024, lo - 12000), lo)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_env(d):
    """DIR/weir.env as a dict."""
    out = {}
    with open(os.path.join(d, "weir.env")) as f:
        for line in f:
            m = re.match(r"export (\w+)='([^']*)'$", line.strip())
            if m:
                out[m.group(1)] = m.group(2)
    return out


def lease_settings(d):
    """high_availability's lease settings as weir local wrote them."""
    text = open(os.path.join(d, "weir.yaml")).read()
    out = {}
    for k in ("lease_duration", "renew_interval", "retry_period"):
        m = re.search(r"^\s*%s:\s*\"?([^\"\s]+)" % k, text, re.M)
        out[k] = m.group(1) if m else "?"
    return out


def duration_s(text):
    m = re.match(r"^(\d+(?:\.\d+)?)(ms|s|m)$", text)
    if not m:
        return 3.0
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60}[m.group(2)]


def iso_ms(s):
    d = datetime.datetime.strptime(
        s.replace("Z", "+0000"),
        "%Y-%m-%dT%H:%M:%S.%f%z" if "." in s else "%Y-%m-%dT%H:%M:%S%z")
    return int(round(d.timestamp() * 1000))


def expected(p, rate, count):
    """What a failure-free run commits: (event_type, window start ms) ->
    count."""
    want = collections.Counter()
    for k in range(p):
        for n in range(count):
            rem = (k * count + n) % 50
            kind = "person" if rem < 1 else "auction" if rem < 4 else "bid"
            ts = NEX_BASE_MS + n * 1000 // rate
            want[(kind, ts - ts % WINDOW_MS)] += 1
    return want


def committed_lines(out):
    """Complete lines of the committed part files (never the in-progress
    ones); a file renamed while listing: list again."""
    for _ in range(20):
        try:
            lines = []
            for path in glob.glob(os.path.join(out, "part-*")):
                with open(path) as f:
                    lines.extend(l for l in f if l.endswith("\n"))
            return lines
        except FileNotFoundError:
            continue
    raise DrillError("part files of %s kept moving" % out)


def proc_cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return [a.decode() for a in f.read().split(b"\0")[:-1]]


def proc_environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return dict(kv.decode().split("=", 1)
                    for kv in f.read().split(b"\0") if b"=" in kv)


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


class Drill:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.abspath(args.bin)
        self.weir = os.path.join(self.bin, "weir")
        self.local = None  # weir local when started here
        self.restarted = []  # JobManagers started again here (Popen)
        self.own_dir = args.dir is None
        self.dir = args.dir or tempfile.mkdtemp(prefix="weir-drill-")
        self.rnd = random.Random(args.seed)
        self.down = None  # index of the JobManager killed or stopped

    # ---- the cluster ----

    def start_cluster(self):
        jm = "tcp://127.0.0.1:%d" % free_port()
        cmd = [self.weir, "--jobmanager", jm, "local", "--jobmanagers",
               str(self.args.jobmanagers), "--taskmanagers", "2",
               "--slots", "2", "--kafka-port", str(free_port()),
               "--rest-port", str(free_port()), "--dir", self.dir]
        self.out_path = os.path.join(self.dir, "local.out")
        self.local = subprocess.Popen(
            cmd, stdout=open(self.out_path, "w"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)

        def up():
            if self.local.poll() is not None:
                raise DrillError("weir local exited %d:\n%s" %
                                 (self.local.returncode,
                                  open(self.out_path).read()))
            return "cluster is up" in open(self.out_path).read()
        wait_for(up, 60, "weir local --jobmanagers %d to come up" %
                 self.args.jobmanagers, 0.1)

    def attach(self):
        env = read_env(self.dir)
        self.jms = env["WEIR_JOBMANAGER"].split(",")
        self.rests = env["WEIR_REST"].split(",")
        if len(self.jms) < 2:
            raise DrillError("%s: one JobManager; the drill needs "
                             "`weir local --jobmanagers N` with N >= 2" %
                             self.dir)
        self.env = dict(os.environ, WEIR_JOBMANAGER=env["WEIR_JOBMANAGER"])
        self.lease = lease_settings(self.dir)

    def leader(self):
        """Index of the JobManager whose /readyz is 200, or None. The one
        killed or stopped is not asked (a stopped one would hold every
        poll for the whole timeout)."""
        for i, url in enumerate(self.rests):
            if i != self.down and http_get(url + "/readyz", 1)[0] == 200:
                return i
        return None

    def jm_pid(self, i):
        """The pid of the JobManager serving REST self.rests[i]."""
        flag = "127.0.0.1:" + self.rests[i].rsplit(":", 1)[1]
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                argv = proc_cmdline(int(d))
            except OSError:
                continue
            if argv and argv[0].endswith("weir-jobmanager") and \
                    proc_state(int(d)) not in (None, "Z") and \
                    any(argv[k] == "--rest" and argv[k + 1] == flag
                        for k in range(len(argv) - 1)):
                return int(d)
        return None

    def restart_jm(self, i, argv, env, cwd):
        """Starts JobManager i again: the same command line and
        environment, its log appended to."""
        log = open(os.path.join(self.dir, "log", "jobmanager-%d.log" %
                                (i + 1)), "a")
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log,
                             stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL,
                             start_new_session=True)
        log.close()
        self.restarted.append(p)
        return p

    def restarts_metric(self, i, job):
        st, text = http_get(self.rests[i] + "/metrics")
        if st != 200:
            return None
        m = re.search(r'^weir_job_restarts_total\{[^}]*job_id="%s"[^}]*\} '
                      r'(\S+)$' % job, text, re.M)
        return float(m.group(1)) if m else 0.0

    def log_marks(self):
        """Sizes of the JobManagers' logs now."""
        return {p: os.path.getsize(p) for p in glob.glob(
            os.path.join(self.dir, "log", "jobmanager*.log"))}

    def redeploys_since(self, marks, job):
        """JOB-REDEPLOY lines of the job in the JobManagers' logs written
        since marks: each is a restart of every task of the job."""
        n = 0
        for p in glob.glob(os.path.join(self.dir, "log", "jobmanager*.log")):
            with open(p, "rb") as f:
                f.seek(marks.get(p, 0))
                n += f.read().decode(errors="replace").count(
                    "JOB-REDEPLOY job=%s" % job)
        return n

    # ---- the job ----

    def job_info(self, i, job):
        st, body = http_get(self.rests[i] + "/jobs/" + job)
        try:
            return json.loads(body) if st == 200 else None
        except ValueError:
            return None

    def running(self, job):
        i = self.leader()
        info = self.job_info(i, job) if i is not None else None
        if info is None:
            return False
        if info["state"] in ("FINISHED", "FAILED", "CANCELED"):
            raise DrillError("the job is %s: %s" % (info["state"],
                                                    info.get("failure")))
        return info["state"] == "RUNNING" and all(
            s["state"] == "RUNNING" for v in info["vertices"]
            for s in v["subtasks"])

    def completed_ckpts(self, job):
        i = self.leader()
        if i is None:
            return -1
        st, body = http_get(self.rests[i] + "/jobs/%s/checkpoints" % job)
        try:
            return json.loads(body)["counts"]["completed"] if st == 200 \
                else -1
        except (ValueError, KeyError):
            return -1

    def submit(self):
        a = self.args
        self.count = int(a.rate * (15 + a.seconds_per_kill * a.kills))
        self.out = os.path.join(self.dir, "drill-out-%d" % int(time.time()))
        path = os.path.join(self.dir, "failover-drill.yaml")
        with open(path, "w") as f:
            f.write(JOB.format(p=a.parallelism, rate=a.rate,
                               count=self.count, window=WINDOW_MS,
                               out=self.out))
        r = subprocess.run([self.weir, "run", "-d", "-o", "json", path],
                           env=self.env, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise DrillError("weir run: %s" % r.stderr.decode())
        job = json.loads(r.stdout)["job_id"]
        wait_for(lambda: self.running(job), 60, "the job RUNNING")
        return job

    # ---- one failover ----

    def settle(self, job):
        """Before a kill: the job runs, has completed a checkpoint since
        the last look and committed output; every JobManager is up."""
        c0 = self.completed_ckpts(job)
        wait_for(lambda: self.completed_ckpts(job) > max(c0, 0), 60,
                 "a completed checkpoint")
        wait_for(lambda: committed_lines(self.out), 60, "committed output")
        wait_for(lambda: all(http_get(u + "/healthz", 1)[0] == 200
                             for u in self.rests), 60,
                 "every JobManager answering /healthz")
        time.sleep(self.rnd.uniform(0, 1))  # a random moment of the run

    def failover(self, n, kind, job):
        old = wait_for(lambda: self.leader() is not None and
                       [self.leader()], 30, "a leader")[0]
        pid = self.jm_pid(old)
        if pid is None:
            raise DrillError("no process serves %s" % self.rests[old])
        argv, env = proc_cmdline(pid), proc_environ(pid)
        cwd = os.readlink("/proc/%d/cwd" % pid)
        before = {i: self.restarts_metric(i, job) or 0.0
                  for i in range(len(self.rests))}
        lines0 = len(committed_lines(self.out))
        marks = self.log_marks()
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL if kind == "SIGKILL" else signal.SIGSTOP)
        self.down = old
        new = wait_for(lambda: self.leader() is not None and
                       [self.leader()], 60, "a new leader")[0]
        t_lead = time.monotonic() - t0
        wait_for(lambda: self.running(job), 90, "the job RUNNING again")
        t_run = time.monotonic() - t0
        lines1 = len(committed_lines(self.out))
        wait_for(lambda: len(committed_lines(self.out)) > lines1, 60,
                 "a record committed after the takeover")
        t_commit = time.monotonic() - t0
        after = self.restarts_metric(new, job)
        delta = "?" if after is None else "%+d" % (after - before[new])
        redeploys = self.redeploys_since(marks, job)
        note = self.end_old(kind, pid, t0)
        self.restart_jm(old, argv, env, cwd)
        self.down = None
        say("%-3d %-8s %-7s %-10s %9.2f %10.2f %12.2f %9s %10d  %s" %
            (n, kind, "jm-%d" % (old + 1), "jm-%d" % (new + 1), t_lead,
             t_run, t_commit, delta, redeploys, note))
        return dict(kind=kind, leader_s=t_lead, running_s=t_run,
                    commit_s=t_commit, restarts=delta, redeploys=redeploys,
                    committed_before=lines0)

    def end_old(self, kind, pid, t0):
        """SIGKILL: waits until it is gone. SIGSTOP: holds it stopped past
        twice the lease, then SIGCONT; it must step down and exit."""
        if kind == "SIGKILL":
            wait_for(lambda: proc_state(pid) in (None, "Z"), 10,
                     "the killed JobManager to die")
            return ""
        hold = 2 * duration_s(self.lease["lease_duration"])
        wait_for(lambda: time.monotonic() - t0 >= hold, hold + 1,
                 "the lease to pass", 0.05)
        os.kill(pid, signal.SIGCONT)
        try:
            wait_for(lambda: proc_state(pid) in (None, "Z"), 15,
                     "the resumed old leader to step down")
            return "old leader resumed after %.1fs, stepped down" % hold
        except DrillError:
            os.kill(pid, signal.SIGKILL)
            return "old leader did NOT step down (killed)"

    # ---- the run ----

    def run(self):
        a = self.args
        if self.own_dir:
            self.start_cluster()
        self.attach()
        say("failover drill: %d JobManagers in %s; lease_duration %s, "
            "renew_interval %s, retry_period %s; %d kills (seed %d)" %
            (len(self.jms), self.dir, self.lease["lease_duration"],
             self.lease["renew_interval"], self.lease["retry_period"],
             a.kills, a.seed))
        job = self.submit()
        say("job %s: nexmark %d x %d events at %d/s per subtask -> keyed "
            "%d ms windows -> exactly-once file sink %s" %
            (job, a.parallelism, self.count, a.rate, WINDOW_MS, self.out))
        say("%-3s %-8s %-7s %-10s %9s %10s %12s %9s %10s" %
            ("#", "kind", "killed", "new leader", "leader_s", "running_s",
             "committed_s", "restarts", "redeploys"))
        results = []
        for n in range(1, a.kills + 1):
            if self.finished(job):
                say("the job finished before failover %d; use more "
                    "--rate or fewer --kills" % n)
                break
            self.settle(job)
            kind = "SIGKILL" if n % 2 == 1 or a.sigkill_only else "SIGSTOP"
            results.append(self.failover(n, kind, job))
        return self.verdict(job, results)

    def finished(self, job):
        i = self.leader()
        info = self.job_info(i, job) if i is not None else None
        return info is not None and info["state"] == "FINISHED"

    def verdict(self, job, results):
        a = self.args
        left = self.count / a.rate + 120
        wait_for(lambda: self.finished(job), left, "the job FINISHED", 0.2)
        got = collections.Counter()
        for l in committed_lines(self.out):
            r = json.loads(l)
            got[(r["event_type"], iso_ms(r["window_start"]))] += r["n"]
        rows = collections.Counter()
        for l in committed_lines(self.out):
            r = json.loads(l)
            rows[(r["event_type"], r["window_start"])] += 1
        want = expected(a.parallelism, a.rate, self.count)
        dup = sum(1 for v in rows.values() if v > 1)
        missing, extra = want - got, got - want
        exact = not missing and not extra and dup == 0
        for k, label in (("leader_s", "leader_s"), ("running_s",
                         "running_s"), ("commit_s", "committed_s")):
            xs = sorted(r[k] for r in results)
            if xs:
                say("median %-11s %.2f s (max %.2f s)" %
                    (label, xs[len(xs) // 2], xs[-1]))
        say("output: %d windows, %d records counted; expected %d windows, "
            "%d records: %s" %
            (len(rows), sum(got.values()), len(want), sum(want.values()),
             "EXACT" if exact else
             "NOT EXACT (%d windows duplicated, %d records missing, %d "
             "extra; e.g. %s)" % (dup, sum(missing.values()),
                                  sum(extra.values()),
                                  list((missing + extra).items())[:3])))
        print(json.dumps(dict(failovers=results, lease=self.lease,
                              exact=exact)), flush=True)
        return 0 if exact else 1

    def close(self):
        if self.local is not None and self.local.poll() is None:
            for p in self.restarted:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    os.kill(p.pid, signal.SIGCONT)
            for p in self.restarted:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            self.local.send_signal(signal.SIGINT)
            try:
                self.local.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.local.kill()
                self.local.wait()
        elif self.restarted:
            say("JobManagers started again by the drill (not children of "
                "weir local; stop them with kill): %s" %
                " ".join(str(p.pid) for p in self.restarted
                         if p.poll() is None))
        if self.own_dir and not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self.own_dir:
            say("kept %s" % self.dir)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("WEIR_BIN_DIR") or
                    os.path.join(REPO, "build", "release", "bin"))
    ap.add_argument("--dir", help="a running `weir local --jobmanagers N` "
                    "cluster's directory (default: start one in a "
                    "temporary directory)")
    ap.add_argument("--jobmanagers", type=int, default=2,
                    help="JobManagers of the cluster started (2)")
    ap.add_argument("--kills", type=int, default=3,
                    help="leader kills, alternating SIGKILL and SIGSTOP (3)")
    ap.add_argument("--rate", type=int, default=400,
                    help="events/s per source subtask (400)")
    ap.add_argument("--sigkill-only", action="store_true",
                    help="every kill a SIGKILL (scripts/bench.sh's "
                    "failover row)")
    ap.add_argument("--seconds-per-kill", type=float, default=25,
                    help="the job runs 15 s plus this per kill (25): a "
                    "failover and the checkpoint before the next kill "
                    "must fit")
    ap.add_argument("--parallelism", type=int, default=2)
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory (logs)")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(args.bin, "weir")):
        sys.exit("failover-drill: no %s/weir: build first (bash "
                 "scripts/demo.sh, or cmake --preset release && cmake "
                 "--build --preset release) or pass --bin" % args.bin)
    if args.jobmanagers < 2 or args.kills < 0:
        sys.exit("failover-drill: --jobmanagers >= 2, --kills >= 0")
    d = Drill(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        rc = d.run()
    except DrillError as e:
        say("failover-drill: %s" % e)
        rc = 1
    finally:
        d.close()
    sys.exit(rc)


if __name__ == "__main__":
    main()
