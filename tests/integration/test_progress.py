"""test_progress.py - progress of long verbs: savepoint and stop.

- A savepoint of a job holding STATE_MIB MiB of keyed state (datagen ->
  key_by order_id, a new key per order -> reduce; ~70 bytes of LMDB a
  key, grown in ~10 s): `weir savepoint` with stderr a pipe prints plain
  progress lines whose acknowledged subtasks and bytes grow, the last one
  complete with the savepoint's whole size; stdout is as before. On a
  terminal (a pty) the progress is one line rewritten with \\r. `weir
  stop` prints the same lines; under -o json no progress, stdout the JSON.
"""
import json
import os
import pty
import re
import subprocess
import threading
import time

from weirtest import WEIR, Cluster, check, main, scratch_dir, text_of, wait_for

STATE_MIB = 200
BYTES_PER_KEY = 70  # LMDB bytes per key of the reduce below (measured)

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


if __name__ == "__main__":
    main([test_savepoint_and_stop])
