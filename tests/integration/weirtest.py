"""weirtest.py - shared pieces of weir's integration tests: real
processes on loopback.

Every wait is a bounded poll (wait_for); nothing sleeps blindly. Processes a
test starts are stopped by the test (and killed at exit if it failed), so a
failing test leaves nothing behind.
"""
import atexit
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BIN = os.environ.get("WEIR_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "debug", "bin")
WEIR = os.path.join(BIN, "weir")
JOBMANAGER = os.path.join(BIN, "weir-jobmanager")
TASKMANAGER = os.path.join(BIN, "weir-taskmanager")

_procs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_cleanup)


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def wait_for(cond, timeout_s, what, interval_s=0.05):
    """Polls cond() until it returns a truthy value or timeout_s passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out after %.1fs waiting for %s" %
                          (timeout_s, what))
        time.sleep(interval_s)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    _procs.append(p)
    return p


def run(args, input=None, timeout=60, check_rc=None):
    r = subprocess.run(args, input=input, capture_output=True,
                       timeout=timeout)
    if check_rc is not None and r.returncode != check_rc:
        raise Failure("%s exited %d (wanted %d)\nstdout: %s\nstderr: %s" %
                      (" ".join(args), r.returncode, check_rc,
                       r.stdout.decode(errors="replace")[-2000:],
                       r.stderr.decode(errors="replace")[-2000:]))
    return r


def http_get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def children_of(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class LocalCluster:
    """`weir local` with free ports in a temporary directory."""

    def __init__(self, taskmanagers=2, slots=2, topics=(), config=None):
        self.dir = tempfile.mkdtemp(prefix="weir-it-")
        self.kafka_port = free_port()
        self.rest_port = free_port()
        self.jm = "tcp://127.0.0.1:%d" % free_port()
        self.bootstrap = "127.0.0.1:%d" % self.kafka_port
        args = [WEIR, "--jobmanager", self.jm, "local",
                "--taskmanagers", str(taskmanagers), "--slots", str(slots),
                "--kafka-port", str(self.kafka_port),
                "--rest-port", str(self.rest_port), "--dir", self.dir]
        if config is not None:
            path = os.path.join(self.dir, "base.yaml")
            with open(path, "w") as f:
                f.write(config)
            args[1:1] = ["--config", path]
        for t in topics:
            args += ["--topic", t]
        self.out_path = os.path.join(self.dir, "local.out")
        self.out = open(self.out_path, "w")
        self.proc = spawn(args, stdout=self.out, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
        wait_for(lambda: self._up(), 30, "weir local to come up")

    def _up(self):
        if self.proc.poll() is not None:
            raise Failure("weir local exited %d:\n%s" %
                          (self.proc.returncode, self.output()))
        return "cluster is up" in self.output()

    def output(self):
        with open(self.out_path) as f:
            return f.read()

    def log(self, name):
        with open(os.path.join(self.dir, "log", name + ".log")) as f:
            return f.read()

    def cli(self, *args, check_rc=0, input=None, timeout=60):
        return run([WEIR, "--jobmanager", self.jm] + list(args),
                   input=input, timeout=timeout, check_rc=check_rc)

    def cluster_json(self):
        return json.loads(self.cli("cluster", "-o", "json").stdout)

    def cancel(self, job_id, timeout_s=30):
        """Cancels a job and waits until it is CANCELED (its slots are
        free only then)."""
        self.cli("cancel", job_id)
        wait_for(lambda: json.loads(self.cli("info", job_id, "-o", "json")
                                    .stdout)["state"] == "CANCELED",
                 timeout_s, "job %s CANCELED" % job_id)

    def rest(self, path):
        return http_get("http://127.0.0.1:%d%s" % (self.rest_port, path))

    def child_pids(self):
        return children_of(self.proc.pid)

    def stop(self):
        """Ctrl-C; checks every child is gone and the exit is clean."""
        kids = self.child_pids()
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(timeout=30)
        self.out.close()
        left = [p for p in kids if alive(p)]
        check(rc == 0, "weir local exited %d on SIGINT" % rc)
        check(not left, "processes left after weir local stopped: %s" % left)
        self.check_sanitizers()

    def check_sanitizers(self):
        """Fails on a sanitizer report in any daemon's log (a sanitizer
        build's processes report and go on or abort; either is a bug)."""
        for path in glob.glob(os.path.join(self.dir, "log", "*.log")):
            with open(path, errors="replace") as f:
                text = f.read()
            for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                         "WARNING: ThreadSanitizer", "runtime error:"):
                i = text.find(mark)
                check(i < 0, "%s in %s:\n%s" % (mark, path,
                                                 text[i:i + 3000]))


def main(tests):
    """Runs test functions in order; prints a summary line; exits 1 on
    failure."""
    failed = 0
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
            print("ok   %-40s %.1fs" % (t.__name__, time.monotonic() - t0))
        except Exception as e:  # report every failure, then go on
            failed += 1
            print("FAIL %-40s %s: %s" % (t.__name__, type(e).__name__, e))
        sys.stdout.flush()
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    _cleanup()
    sys.exit(1 if failed else 0)


def sink_lines(out_dir, committed_only=False):
    """Complete lines of a file sink's part files. With committed_only
    False, files in progress count too (a part file may be renamed into
    place between listing and reading: then list again)."""
    for _ in range(10):
        paths = glob.glob(os.path.join(out_dir, "part-*"))
        if not committed_only:
            paths += glob.glob(os.path.join(out_dir, ".part-*"))
        lines = []
        try:
            for path in paths:
                with open(path) as f:
                    # A file in progress may end in a line being written.
                    lines.extend(l for l in f if l.endswith("\n"))
            return lines
        except FileNotFoundError:
            continue
    raise Failure("part files of %s kept moving" % out_dir)
