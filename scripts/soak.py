#!/usr/bin/env python3
"""soak.py - the soak run (scripts/soak.sh runs it; docs/operations.md,
"Soak").

On a `weir local` cluster (2 TaskManagers, 2 slots each, started here in
a temporary directory) it measures the peak rate of a keyed window job
(Kafka orders -> key_by product_id -> 10 s tumbling windows counting and
summing -> Kafka, checkpoints every 2 s, parallelism 2) over orders
written beforehand, then feeds the same job `weir gen orders` at a
fraction of that peak (default 80 %) for --minutes, SIGKILLs a
TaskManager every --kill-every seconds (the two in turn) and starts it
again as a supervisor would (the same command line and environment).

Every --sample seconds it writes a CSV row: elapsed seconds, per daemon
its resident memory, open file descriptors and threads, the latest
completed checkpoint's size, the consumer lag (the sources'
weir_kafka_consumer_lag_records), the job's restarts. At the end it compares the
last fifth of the run with the fifth after warm-up and exits 1 when the
JobManager's memory, descriptors or threads, a TaskManager's (per
process life: a killed one starts over), the checkpoint size or the lag
grew beyond the bounds below.

Python 3 standard library only.
"""
import argparse
import csv
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from failover_drill import (DrillError, free_port, http_get,  # noqa: E402
                            proc_cmdline, proc_environ, read_env, say,
                            wait_for)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

JOB = """\
name: soak
parallelism: 2
checkpointing: {{ interval: 2s, timeout: 30s, retained: 2 }}
restart: {{ strategy: fixed_delay, delay: 500ms, attempts: -1 }}
sources:
  orders:
    kafka: {{ topic: orders, startup: {startup}, group: soak }}
    schema: {{ order_id: string, product_id: string, amount: double,
               status: string, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: 2s }}
nodes:
  - id: per_product
    from: orders
    key_by: [product_id]
    window: {{ tumbling: 10s }}
    aggregate: {{ n: count(), revenue: sum(amount) }}
  - id: out
    from: per_product
    sink: {{ kafka: {{ topic: soak_out, semantic: at_least_once }} }}
"""

# Growth allowed from the fifth after warm-up to the last fifth (medians).
RSS_GROWTH = 0.25          # and at least RSS_SLACK more
RSS_SLACK = 12 * 1024 * 1024
FD_SLACK = 8
THREAD_SLACK = 4


def proc_stats(pid):
    """(rss bytes, fds, threads) of a live process, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            st = f.read()
        rss = int(re.search(r"VmRSS:\s+(\d+) kB", st).group(1)) * 1024
        threads = int(re.search(r"Threads:\s+(\d+)", st).group(1))
        fds = len(os.listdir("/proc/%d/fd" % pid))
        return rss, fds, threads
    except (OSError, AttributeError):
        return None


def metric_total(text, name):
    total = 0.0
    for line in (text or "").splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


class Soak:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.abspath(args.bin)
        self.weir = os.path.join(self.bin, "weir")
        self.dir = tempfile.mkdtemp(prefix="weir-soak-")
        self.local = None
        self.gen = None
        self.restarted = []
        self.job = None

    def cli(self, *argv, check=True, timeout=60):
        r = subprocess.run([self.weir, "--jobmanager", self.jm] +
                           list(argv), capture_output=True, text=True,
                           timeout=timeout, env=self.env)
        if check and r.returncode != 0:
            raise DrillError("weir %s: %s" % (" ".join(argv), r.stderr))
        return r

    def start(self):
        self.jm = "tcp://127.0.0.1:%d" % free_port()
        out = os.path.join(self.dir, "local.out")
        self.local = subprocess.Popen(
            [self.weir, "--jobmanager", self.jm, "local", "--taskmanagers",
             "2", "--slots", "2", "--kafka-port", str(free_port()),
             "--rest-port", str(free_port()), "--dir", self.dir,
             "--topic", "orders:4", "--topic", "soak_out:4"],
            stdout=open(out, "w"), stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        wait_for(lambda: "cluster is up" in open(out).read() or
                 self.local.poll() is not None, 60, "weir local", 0.1)
        if self.local.poll() is not None:
            raise DrillError("weir local exited:\n" + open(out).read())
        env = read_env(self.dir)
        self.rest = env["WEIR_REST"].split(",")[0]
        self.env = dict(os.environ, WEIR_KAFKA_BOOTSTRAP=env[
            "WEIR_KAFKA_BOOTSTRAP"])

    def pids(self, name):
        """Pids of live processes whose argv[0] ends in name, children of
        weir local or started again here."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                argv = proc_cmdline(int(d))
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if not argv or not argv[0].endswith(name) or fields[0] == "Z":
                continue
            if "--dir" in argv and self.dir not in " ".join(argv) and \
                    int(fields[1]) != self.local.pid:
                continue
            if int(fields[1]) == self.local.pid or \
                    any(p.pid == int(d) for p in self.restarted):
                out.append(int(d))
        return sorted(out)

    def metrics(self):
        """Summed TaskManager metrics text."""
        st, body = http_get(self.rest + "/taskmanagers")
        text = ""
        if st == 200:
            for t in json.loads(body).get("taskmanagers", []):
                a = t.get("metrics_address") or t.get("metricsAddress")
                if a:
                    s2, b2 = http_get("http://%s/metrics" % a)
                    text += (b2 or "") if s2 == 200 else ""
        return text

    def records_in(self):
        """Records the job's sources read (their vertex is the first)."""
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith("weir_records_in_total{") and \
                    'vertex="0"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    def run_job(self, startup):
        path = os.path.join(self.dir, "soak.yaml")
        with open(path, "w") as f:
            f.write(JOB.format(startup=startup))
        r = self.cli("run", "-d", "-o", "json", path)
        self.job = json.loads(r.stdout)["job_id"]
        wait_for(lambda: self.running(), 60, "the soak job RUNNING", 0.2)

    def running(self):
        st, body = http_get(self.rest + "/jobs/" + self.job)
        if st != 200:
            return False
        j = json.loads(body)
        return j.get("state") == "RUNNING" and all(
            v.get("status") == "RUNNING" for v in j.get("vertices", []))

    def measure_peak(self):
        """Orders per second the job reads from a backlog: the time from
        its first record to reading the whole backlog (or to the end of
        --peak-seconds)."""
        n = self.args.peak_orders
        say("soak: writing %d orders to measure the peak" % n)
        self.cli("gen", "orders", "--rate", "0", "--count", str(n),
                 "--topic", "orders", "-o", "json", timeout=600)
        self.run_job("earliest")
        wait_for(lambda: self.records_in() > 0, 60, "the first record", 0.05)
        t0, r0 = time.monotonic(), self.records_in()
        deadline = t0 + self.args.peak_seconds
        while time.monotonic() < deadline and self.records_in() < n:
            time.sleep(0.1)
        t1, r1 = time.monotonic(), self.records_in()
        self.cli("cancel", self.job)
        return (r1 - r0) / (t1 - t0)

    def lag(self):
        """Records written to orders that the job has not read: the
        sources' weir_kafka_consumer_lag_records summed."""
        return metric_total(self.metrics(), "weir_kafka_consumer_lag_records")

    def ckpt_size(self):
        st, body = http_get(self.rest + "/jobs/%s/checkpoints" % self.job)
        try:
            j = json.loads(body) if st == 200 else {}
            c = (j.get("latest") or {}).get("completed") or {}
            return c.get("state_size") or c.get("checkpointed_size") or 0
        except ValueError:
            return 0

    def restarts(self):
        st, body = http_get(self.rest + "/metrics")
        # one series per cause
        return sum(float(v) for v in re.findall(
            r'^weir_job_restarts_total\{[^}]*job_id="%s"[^}]*\} (\S+)$' %
            self.job, body or "", re.M))

    def kill_tm(self, k):
        tms = self.pids("weir-taskmanager")
        if len(tms) < 2:
            return
        pid = tms[k % len(tms)]
        argv, env = proc_cmdline(pid), proc_environ(pid)
        cwd = os.readlink("/proc/%d/cwd" % pid)
        os.kill(pid, signal.SIGKILL)
        log = open(os.path.join(self.dir, "log", "soak-tm-%d.log" % k), "w")
        self.restarted.append(subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True))
        say("soak: SIGKILLed TaskManager %d, started it again" % pid)

    def soak(self, rate):
        a = self.args
        self.gen = subprocess.Popen(
            [self.weir, "gen", "orders", "--rate", str(int(rate)),
             "--count", "0", "--topic", "orders", "-o", "json"],
            env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.run_job("latest")
        start = time.monotonic()
        end = start + a.minutes * 60
        next_kill = start + a.kill_every
        kills = 0
        rows = []
        with open(a.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t_s", "daemon", "pid", "rss_bytes", "fds",
                        "threads", "ckpt_bytes", "lag_records",
                        "restarts"])
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_kill:
                    self.kill_tm(kills)
                    kills += 1
                    next_kill = now + a.kill_every
                t = now - start
                lag = self.lag()
                ck, rs = self.ckpt_size(), self.restarts()
                for name in ("weir-jobmanager", "weir-taskmanager"):
                    for i, pid in enumerate(self.pids(name)):
                        s = proc_stats(pid)
                        if s is None:
                            continue
                        row = [round(t, 1), "%s-%d" % (name[5:], i), pid,
                               s[0], s[1], s[2], ck, int(lag), rs]
                        w.writerow(row)
                        rows.append(row)
                f.flush()
                time.sleep(a.sample)
        return rows, kills

    def close(self):
        for p in [self.gen] + self.restarted:
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
        if self.local is not None and self.local.poll() is None:
            self.local.send_signal(signal.SIGINT)
            try:
                self.local.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.local.kill()
        if self.args.keep:
            say("soak: kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def window(rows, lo, hi, t_end):
    return [r for r in rows if lo * t_end <= r[0] < hi * t_end]


def judge(rows, duration_s, rate):
    """Growth from the fifth after warm-up to the last fifth; the
    failures as text."""
    bad = []
    t_end = duration_s
    early, late = window(rows, 0.2, 0.4, t_end), window(rows, 0.8, 1.01,
                                                        t_end)
    # the JobManager lives the whole run
    for col, name, slack, frac in ((3, "resident memory", RSS_SLACK,
                                    RSS_GROWTH), (4, "descriptors",
                                                  FD_SLACK, 0),
                                   (5, "threads", THREAD_SLACK, 0)):
        e = [r[col] for r in early if r[1].startswith("jobmanager")]
        l = [r[col] for r in late if r[1].startswith("jobmanager")]
        if e and l:
            m0, m1 = statistics.median(e), statistics.median(l)
            if m1 > m0 * (1 + frac) + slack:
                bad.append("JobManager %s grew from %d to %d" %
                           (name, m0, m1))
    # TaskManagers: per process life, its last samples against its
    # samples after warm-up
    lives = {}
    for r in rows:
        if r[1].startswith("taskmanager"):
            lives.setdefault(r[2], []).append(r)
    for pid, rs in lives.items():
        if rs[-1][0] - rs[0][0] < 0.3 * duration_s:
            continue  # too short a life to tell
        n = len(rs)
        e, l = rs[n // 4: n // 2], rs[-max(1, n // 5):]
        for col, name, slack, frac in ((3, "resident memory", RSS_SLACK,
                                        RSS_GROWTH), (4, "descriptors",
                                                      FD_SLACK, 0),
                                       (5, "threads", THREAD_SLACK, 0)):
            m0 = statistics.median(r[col] for r in e)
            m1 = statistics.median(r[col] for r in l)
            if m1 > m0 * (1 + frac) + slack:
                bad.append("TaskManager %d %s grew from %d to %d" %
                           (pid, name, m0, m1))
    ck0 = statistics.median([r[6] for r in early] or [0])
    ck1 = statistics.median([r[6] for r in late] or [0])
    if ck0 > 0 and ck1 > 2 * ck0 + 1024 * 1024:
        bad.append("checkpoints grew from %d to %d bytes" % (ck0, ck1))
    lag0 = statistics.median([r[7] for r in early] or [0])
    lag1 = statistics.median([r[7] for r in late] or [0])
    # 15 s of input: a restart replays up to a checkpoint interval and
    # takes seconds; beyond that the job does not keep up
    if lag1 > max(2 * lag0, rate * 15):
        bad.append("lag grew from %d to %d records" % (lag0, lag1))
    return bad


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.environ.get("WEIR_BIN_DIR") or
                    os.path.join(REPO, "build", "release", "bin"))
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--kill-every", type=float, default=180,
                    help="seconds between TaskManager SIGKILLs (180)")
    ap.add_argument("--load", type=float, default=0.8,
                    help="share of the measured peak to feed (0.8)")
    ap.add_argument("--sample", type=float, default=5,
                    help="seconds between samples (5)")
    ap.add_argument("--peak-orders", type=int, default=300000)
    ap.add_argument("--peak-seconds", type=float, default=8)
    ap.add_argument("--csv", default="soak.csv")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    s = Soak(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    rc = 1
    try:
        s.start()
        peak = s.measure_peak()
        rate = max(100.0, peak * args.load)
        say("soak: peak %.0f orders/s; feeding %.0f/s for %.1f min, a "
            "TaskManager SIGKILL every %.0f s; samples in %s" %
            (peak, rate, args.minutes, args.kill_every, args.csv))
        rows, kills = s.soak(rate)
        bad = judge(rows, args.minutes * 60, rate)
        jm = [r for r in rows if r[1].startswith("jobmanager")]
        say("soak: %d samples, %d TaskManager kills, JobManager RSS %.1f -> "
            "%.1f MiB, restarts %d, last lag %d records" %
            (len(rows), kills, jm[0][3] / 2 ** 20 if jm else 0,
             jm[-1][3] / 2 ** 20 if jm else 0, rows[-1][8] if rows else 0,
             rows[-1][7] if rows else 0))
        for b in bad:
            say("soak: GROWTH: %s" % b)
        rc = 1 if bad or not rows else 0
        say("soak: %s" % ("OK" if rc == 0 else "FAILED"))
    except DrillError as e:
        say("soak: %s" % e)
    finally:
        s.close()
    sys.exit(rc)


if __name__ == "__main__":
    main()
