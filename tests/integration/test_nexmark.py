"""test_nexmark.py - the nexmark source inside a job.

The nexmark source inside a job: event proportions 1:3:46, ids from
1000, and the q2 selection over it, run on `weir local` and checked
against the event model here; and examples/nexmark/'s joins (q3, q5, q7,
q8) against tests/bench/nexmark_baseline's results on the same events
(counts and contents equal, in any order)."""
import collections
import json
import os
import subprocess

from weirtest import BIN, Cluster, check, main, sink_lines

N = 4600
ALL = """\
name: nexmark-all
parallelism: 1
sources:
  events:
    nexmark: {{ rate: 0, count: {n} }}
    event_time: {{ field: ts }}
nodes:
  - id: out
    from: events
    sink: {{ file: {{ path: "{out}" }} }}
"""


def run_job(c, text, name):
    job = c.submit(text, name=name + ".yaml")
    c.wait_state(job, "FINISHED", 60)


def check_source_and_q2(c):
    out = os.path.join(c.dir, "all")
    run_job(c, ALL.format(n=N, out=out), "all")
    rows = [json.loads(l) for l in sink_lines(out, True)]
    check(len(rows) == N, "%d events" % len(rows))
    kinds = collections.Counter(r["event_type"] for r in rows)
    check(kinds == {"person": N // 50, "auction": 3 * N // 50,
                    "bid": 46 * N // 50}, "proportions %s" % kinds)
    bids = [r for r in rows if r["event_type"] == "bid"]
    check(all(r["auction_id"] >= 1000 and r["price"] > 0 for r in bids),
          "bid ids from 1000, positive prices")
    ts = [r["ts"] for r in rows]
    check(ts == sorted(ts), "event time advances with the event number")

    with open(os.path.join(os.environ.get("WEIR_SOURCE_DIR", "."),
                           "examples", "nexmark", "q2.yaml")) as f:
        q2 = f.read()
    out2 = os.path.join(c.dir, "q2")
    q2 = q2.replace("__OUT__", out2).replace("count: 2000000",
                                              "count: %d" % N)
    run_job(c, q2, "q2")
    got = sorted((r["auction"], r["price"]) for r in
                 (json.loads(l) for l in sink_lines(out2, True)))
    want = sorted((r["auction_id"], r["price"]) for r in bids
                  if r["auction_id"] % 123 == 0)
    check(want and got == want,
          "q2: %d rows, want %d" % (len(got), len(want)))


# Events of the join queries: 10 q7/q8 windows, 50 q5 windows, and q3's
# persons kept past its 50 s bound.
JOIN_N = 100000


def example(q, out, n):
    with open(os.path.join(os.environ.get("WEIR_SOURCE_DIR", "."),
                           "examples", "nexmark", q + ".yaml")) as f:
        text = f.read()
    return text.replace("__OUT__", out).replace("count: 2000000",
                                                "count: %d" % n)


def rows_of(lines):
    return collections.Counter(json.dumps(json.loads(l), sort_keys=True)
                               for l in lines)


def check_joins(c):
    for q in ("q3", "q5", "q7", "q8"):
        out = os.path.join(c.dir, "out-" + q)
        run_job(c, example(q, out, JOIN_N), q)
        got = rows_of(sink_lines(out, True))
        base = os.path.join(c.dir, "base-" + q + ".jsonl")
        subprocess.run([os.path.join(BIN, "nexmark_baseline"), q,
                        str(JOIN_N), base], check=True,
                       stdout=subprocess.DEVNULL)
        with open(base) as f:
            want = rows_of(f)
        check(sum(want.values()) > 0, "%s: the baseline has rows" % q)
        check(got == want, "%s: weir %d rows, baseline %d; only in "
              "weir %s, only in the baseline %s" %
              (q, sum(got.values()), sum(want.values()),
               list((got - want).elements())[:3],
               list((want - got).elements())[:3]))


def test_nexmark():
    with Cluster(taskmanagers=1, slots=1) as c:
        check_source_and_q2(c)
        check_joins(c)


if __name__ == "__main__":
    main([test_nexmark])
