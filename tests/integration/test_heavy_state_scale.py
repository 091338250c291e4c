"""test_heavy_state_scale.py - 5 million keys of window state, memory bounded.

5 million distinct keys in window state on one TaskManager, with the
state cache bounded at 16 MiB: every window fires with the right count, and
the TaskManager's anonymous memory stays under the bound stated here.

LMDB's map is file-backed: pages it touches show in RSS as RssFile, which
the kernel can drop and reread at will; RssAnon is the memory that cannot be
reclaimed (what an OOM killer weighs), so that is what is bounded."""
import json
import os
import time

from weirtest import Cluster, check, main, sink_lines, wait_for

KEYS = 5000000
ANON_BOUND_KB = 64 * 1024

JOB = """\
name: many-keys
parallelism: 1
sources:
  gen:
    datagen: {{ rate: 0, count: {n} }}
    event_time: {{ field: ts, max_out_of_orderness: 0s }}
nodes:
  - id: per_order
    from: gen
    key_by: [order_id]
    window: {{ tumbling: 1d }}
    aggregate: {{ n: count() }}
  - id: per_window
    from: per_order
    key_by: [window_end]
    reduce: {{ keys: count(), total: sum(n) }}
  - id: milestones
    from: per_window
    filter: "keys % 1000000 == 0"
  - id: out
    from: milestones
    sink: {{ file: {{ path: "{out}" }} }}
"""


def status_kb(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def test_five_million_keys():
    with Cluster(taskmanagers=1, slots=1) as c:
        out = os.path.join(c.dir, "out")
        job = c.submit(JOB.format(n=KEYS, out=out), name="many-keys.yaml")
        tm = c.taskmanager_pids()[0]
        peak = {"anon": 0, "file": 0}
        t0 = time.monotonic()

        def sample_until_done():
            info = c.info(job)
            peak["anon"] = max(peak["anon"], status_kb(tm, "RssAnon"))
            peak["file"] = max(peak["file"], status_kb(tm, "RssFile"))
            return info if info["state"] != "RUNNING" else None
        info = wait_for(sample_until_done, 800, "the job to end in time",
                        0.5)
        peak_anon, peak_file = peak["anon"], peak["file"]
        took = time.monotonic() - t0
        check(info["state"] == "FINISHED", "state %s: %s" %
              (info["state"], info["failure"]))
        rows = [json.loads(l) for l in sink_lines(out, True)]
        # One day window (two if the run crosses midnight UTC): every key
        # counted once, every key's window fired.
        finals = {}
        for r in rows:
            finals[r["window_end"]] = max(finals.get(r["window_end"], 0),
                                          r["keys"])
            check(r["total"] == r["keys"], "each key counted once: %s" % r)
        check(sum(finals.values()) == KEYS or len(finals) > 1,
              "all %d windows fired: %s" % (KEYS, rows))
        print("     %d keys in %.0fs; TaskManager peak RssAnon %d KiB "
              "(bound %d KiB), RssFile %d KiB" %
              (KEYS, took, peak_anon, ANON_BOUND_KB, peak_file))
        check(peak_anon < ANON_BOUND_KB, "RssAnon %d KiB" % peak_anon)


if __name__ == "__main__":
    main([test_five_million_keys])
