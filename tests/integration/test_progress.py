"""test_progress.py - progress of long verbs: savepoint, stop and gen.

- A savepoint of a job holding STATE_MIB MiB of keyed state (datagen ->
  key_by order_id, a new key per order -> reduce; ~70 bytes of LMDB a
  key, grown in ~10 s): `weir savepoint` with stderr a pipe prints plain
  progress lines whose acknowledged subtasks and bytes grow, the last one
  complete with the savepoint's whole size; stdout is as before. On a
  terminal (a pty) the progress is one line rewritten with \\r. `weir
  stop` prints the same lines; under -o json no progress, stdout the JSON.
- `weir gen` with a live broker prints lines with a rate and an ETA
  (plain on a pipe, \\r on a pty).
- `weir gen` whose broker is gone exits within 1 s of SIGTERM and reports
  the orders delivered: a broker that accepts connections but never
  answers (gen still waits for the topic), the embedded Kafka frozen
  (SIGSTOP) while gen sends, and the embedded Kafka killed (SIGKILL of
  `weir local`). A dead port from the start fails at once, naming it.
"""
import json
import os
import pty
import re
import signal
import socket
import subprocess
import threading
import time

from weirtest import (WEIR, Cluster, check, free_port, main, run,
                      scratch_dir, spawn, text_of, wait_for)

STATE_MIB = 200
BYTES_PER_KEY = 70  # LMDB bytes per key of the reduce below (measured)
# SIGTERM to exit, broker gone (the bound).
EXIT_WITHIN_S = 1.0

JOB = """\
name: progress-state
parallelism: 2
checkpointing: { interval: 1h, timeout: 2m }
sources:
  orders:
    datagen: { rate: 0 }
nodes:
  - id: per_order
    from: orders
    key_by: [order_id]
    reduce: { n: count(), total: sum(amount) }
  - id: none
    from: per_order
    filter: "n < 0"
  - id: sink
    from: none
    sink: { stdout: {} }
"""

UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
SP_LINE = re.compile(r"^Savepoint (\d+)( complete)?: (\d+)/(\d+) subtasks "
                     r"acknowledged, ([\d.]+) (B|KiB|MiB|GiB) written, "
                     r"([\d.]+)s$")
GEN_LINE = re.compile(r"^weir gen: (\d+)(?: of (\d+))? orders delivered"
                      r"(?:, (\d+) waiting)?, (\d+)/s(?:, ETA ([\dhms.]+))?"
                      r", ([\dhms.]+)$")
GEN_REPORT = re.compile(r"^weir gen: (\d+) orders to (\S+) in [\d.]+s "
                        r"\(seed \d+\)$", re.M)

_tmp = scratch_dir("weir-progress-")


def sp_lines(stderr):
    """(acks, subtasks, bytes, seconds, complete) of each savepoint
    progress line."""
    out = []
    for line in stderr.decode().splitlines():
        m = SP_LINE.match(line)
        if m:
            out.append((int(m.group(3)), int(m.group(4)),
                        float(m.group(5)) * UNITS[m.group(6)],
                        float(m.group(7)), m.group(2) is not None))
    return out


def gen_lines(text):
    """(delivered, count, waiting, rate, eta) of each gen progress line."""
    out = []
    for line in text.splitlines():
        m = GEN_LINE.match(line)
        if m:
            out.append((int(m.group(1)), m.group(2) and int(m.group(2)),
                        int(m.group(3) or 0), int(m.group(4)), m.group(5)))
    return out


def run_pty(args, timeout=120):
    """Runs args with stderr on a terminal (a pty), stdout a pipe: (exit
    code, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave,
                         stdin=subprocess.DEVNULL)
    os.close(slave)
    got = []

    def read():
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:  # EIO: the last writer closed it
                return
            if not b:
                return
            got.append(b)
    t = threading.Thread(target=read)
    t.start()
    out = p.communicate(timeout=timeout)[0]
    t.join(10)
    os.close(master)
    return p.returncode, out, b"".join(got)


class Reader:
    """A process's stderr, read line by line as it comes."""

    def __init__(self, p):
        self.p, self.lines = p, []
        self.t = threading.Thread(target=self._read)
        self.t.start()

    def _read(self):
        for line in self.p.stderr:
            self.lines.append(line.decode().rstrip("\n"))

    def text(self):
        return "\n".join(self.lines)

    def wait_line(self, pred, what, timeout_s=30):
        def seen():
            if self.p.poll() is not None:
                raise AssertionError("exited %d before %s:\n%s" %
                                     (self.p.returncode, what, self.text()))
            return next((l for l in list(self.lines) if pred(l)), None)
        return wait_for(seen, timeout_s, what, 0.05)

    def stop(self):
        """SIGTERM; waits for the exit: (exit code, seconds it took)."""
        t0 = time.monotonic()
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(10)
        took = time.monotonic() - t0
        self.t.join(10)
        return rc, took


def gen(bootstrap, topic, *args):
    """weir gen orders running, its stderr read as it comes."""
    p = spawn([WEIR, "gen", "orders", "--bootstrap", bootstrap, "--topic",
               topic] + list(args), stdout=subprocess.PIPE,
              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    return Reader(p)


def grow_state(c, job_id, mib):
    """Waits until the keyed task has taken keys for about mib MiB."""
    want = mib * (1 << 20) / BYTES_PER_KEY

    def grown():
        # vertex 1: per_order and what is chained to it
        return c.tm_metric("weir_records_in_total", job_id, "1") >= want
    wait_for(grown, 120, "%d keys of state" % want, 0.5)


def test_savepoint_and_stop():
    with Cluster(taskmanagers=1, slots=2) as c:
        job_id = c.submit(JOB, wait="RUNNING", timeout=30)
        c.wait_running(job_id)
        t0 = time.monotonic()
        grow_state(c, job_id, STATE_MIB)
        print("     %d MiB of state in %.1fs" % (STATE_MIB,
                                                   time.monotonic() - t0))
        t0 = time.monotonic()
        r = c.cli("savepoint", job_id, os.path.join(_tmp, "sp"),
                  timeout=120)
        took = time.monotonic() - t0
        check(b"\r" not in r.stderr, "plain lines on a pipe: %r" %
              r.stderr[:300])
        lines = sp_lines(r.stderr)
        print("     savepoint in %.1fs:\n       %s" % (
            took, "\n       ".join(l for l in r.stderr.decode()
                                   .splitlines())))
        check(len(lines) >= 2, "two progress lines or more:\n%s" %
              text_of(r))
        check(all(a[0] <= b[0] and a[2] <= b[2] and a[3] <= b[3]
                  for a, b in zip(lines, lines[1:])),
              "acks, bytes and time never go back: %s" % lines)
        first, last = lines[0], lines[-1]
        check(last[4] and last[0] == last[1] == 4,
              "the last line: complete, every subtask: %s" % (last,))
        check(first[0] < last[0] and first[2] < last[2],
              "acks and bytes grow: %s" % lines)
        sp = c.checkpoints(job_id)["latest"]["savepoint"]
        check(abs(last[2] - sp["state_size"]) <= last[2] / 1000 + 1 and
              sp["state_size"] >= STATE_MIB * (1 << 20) * 0.8,
              "the last line says the whole state, %d bytes: %s" %
              (sp["state_size"], last))
        check(re.fullmatch(rb"Triggering .*\nSavepoint \d+ is being "
                           rb"written to .*\nSavepoint completed\. Path: "
                           rb"file://\S+\n", r.stdout),
              "stdout as before: %r" % r.stdout)

        # On a terminal: one line, rewritten.
        rc, out, tty = run_pty([WEIR, "--jobmanager", c.jm, "savepoint",
                                job_id, os.path.join(_tmp, "sp-tty")])
        check(rc == 0 and b"Savepoint completed. Path: file://" in out,
              "savepoint on a terminal: %d %r" % (rc, out))
        check(re.search(rb"\rSavepoint \d+ complete: 4/4 subtasks "
                        rb"acknowledged, [\d.]+ MiB written, [\d.]+s\r\n$",
                        tty) and
              tty.count(b"\n") == tty.count(b"\r\n") == 1,
              "one line rewritten with \\r, ended once: %r" % tty)

        # -o json: no progress, the JSON on stdout.
        r = c.cli("-o", "json", "savepoint", job_id,
                  os.path.join(_tmp, "sp-json"), timeout=120)
        check(set(json.loads(r.stdout)) == {"path"}, "json: %r" % r.stdout)
        check(b"subtasks" not in r.stderr,
              "no progress under -o json: %r" % r.stderr)

        # stop: the same lines, then the job stops.
        r = c.cli("stop", job_id, "-p", os.path.join(_tmp, "stop"),
                  timeout=120)
        lines = sp_lines(r.stderr)
        check(len(lines) >= 2 and lines[-1][4] and lines[-1][0] == 4,
              "stop's progress: %s" % text_of(r))
        check(b"Savepoint completed. Path: file://" in r.stdout,
              "stop's path: %r" % r.stdout)
        check(c.state(job_id) == "FINISHED", "stopped")


def test_gen_live_broker():
    c = Cluster(taskmanagers=0, topics=("live:2", "tty:1", "frozen:2",
                                        "killed:1"))
    try:
        gen_checks(c)
    finally:
        c.close()


def gen_checks(c):
    # A pipe: a line a second with the rate and the ETA.
    r = run([WEIR, "gen", "orders", "--bootstrap", c.bootstrap, "--topic",
             "live", "--rate", "1000", "--count", "3500"], check_rc=0)
    lines = gen_lines(r.stderr.decode())
    check(len(lines) >= 3, "a line a second: %s" % text_of(r))
    check(all(l[1] == 3500 for l in lines), "of --count: %s" % lines)
    check(any(600 <= l[3] <= 1500 and l[4] for l in lines),
          "a rate of about 1000/s with an ETA: %s" % lines)
    check(lines[-1][0] == 3500 and GEN_REPORT.search(r.stderr.decode())
          .group(1) == "3500", "all delivered, reported: %s" % text_of(r))
    check(b"\r" not in r.stderr, "plain lines on a pipe")

    # A terminal: one line rewritten.
    rc, out, tty = run_pty([WEIR, "gen", "orders", "--bootstrap",
                            c.bootstrap, "--topic", "tty", "--rate",
                            "2000", "--count", "3000"])
    check(rc == 0, "gen on a terminal: %d %r" % (rc, tty))
    check(tty.count(b"\rweir gen: ") >= 3 and
          b"\rweir gen: 3000 of 3000 orders delivered, " in tty and
          re.search(rb"/s, ETA [\d.]+s, ", tty),
          "one line rewritten, with the rate and ETA: %r" % tty)

    # The broker frozen while gen sends: SIGTERM ends it within 1 s; it
    # reports what Kafka acknowledged, and all of that is in the topic.
    g = gen(c.bootstrap, "frozen", "--rate", "2000", "--count", "0")
    g.wait_line(lambda l: (gen_lines(l) or [(0,)])[0][0] > 0,
                "orders delivered")
    os.kill(c.proc.pid, signal.SIGSTOP)
    try:
        g.wait_line(lambda l: (gen_lines(l) or [(0, 0, 0)])[0][2] > 100,
                    "orders waiting for the frozen broker")
        rc, took = g.stop()
    finally:
        os.kill(c.proc.pid, signal.SIGCONT)
    check(took < EXIT_WITHIN_S, "SIGTERM to exit: %.2fs" % took)
    m = GEN_REPORT.search(g.text())
    check(rc == 1 and m and "not delivered" in g.text(),
          "exit 1, delivered and lost reported: %d\n%s" % (rc, g.text()))
    delivered = int(m.group(1))
    print("     frozen broker: exit %.2fs after SIGTERM, %d delivered" %
          (took, delivered))
    r = run(["kcat", "-b", c.bootstrap, "-C", "-t", "frozen", "-e", "-q",
             "-f", "x\n"], check_rc=0)
    check(r.stdout.count(b"x") >= delivered,
          "the topic holds what was reported delivered: %d < %d" %
          (r.stdout.count(b"x"), delivered))

    # The broker killed (weir local SIGKILLed: its Kafka with it).
    g = gen(c.bootstrap, "killed", "--rate", "2000", "--count", "100000")
    g.wait_line(lambda l: (gen_lines(l) or [(0,)])[0][0] > 0,
                "orders delivered")
    c.proc.kill()
    c.proc.wait()
    g.wait_line(lambda l: (gen_lines(l) or [(0, 0, 0)])[0][2] > 100,
                "orders waiting for the killed broker")
    rc, took = g.stop()
    check(took < EXIT_WITHIN_S, "SIGTERM to exit: %.2fs" % took)
    m = GEN_REPORT.search(g.text())
    check(rc == 1 and m and int(m.group(1)) > 0,
          "exit 1, delivered reported: %d\n%s" % (rc, g.text()))
    print("     killed broker: exit %.2fs after SIGTERM, %s delivered" %
          (took, m.group(1)))


def test_gen_no_broker():
    # Something accepts connections but never answers: gen waits for the
    # topic, and SIGTERM ends the wait.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        hung = "127.0.0.1:%d" % s.getsockname()[1]
        g = gen(hung, "t", "--rate", "100", "--count", "1000")
        g.wait_line(lambda l: l.startswith("weir gen: waiting for Kafka "
                                           "at " + hung), "waiting")
        rc, took = g.stop()
    check(took < EXIT_WITHIN_S, "SIGTERM to exit: %.2fs" % took)
    check(rc == 1 and GEN_REPORT.search(g.text()).group(1) == "0" and
          "interrupted after 0 of 1000 orders" in g.text(),
          "exit 1, nothing delivered: %d\n%s" % (rc, g.text()))

    # Nothing listens: an error at once, naming where.
    dead = "127.0.0.1:%d" % free_port()
    t0 = time.monotonic()
    r = run([WEIR, "gen", "orders", "--bootstrap", dead, "--topic", "t",
             "--rate", "100", "--count", "10"], check_rc=1, timeout=30)
    check(time.monotonic() - t0 < 10 and
          b"topic t: " in r.stderr and
          ("(brokers %s)" % dead).encode() in r.stderr,
          "a dead port: %s" % text_of(r))


if __name__ == "__main__":
    main([test_savepoint_and_stop, test_gen_live_broker, test_gen_no_broker])
