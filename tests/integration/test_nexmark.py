"""test_nexmark.py - the nexmark source inside a job.

The nexmark source inside a job: event proportions 1:3:46, ids from
1000, and the q2 selection over it, run on `weir local` and checked
against the event model here."""
import collections
import json
import os

from weirtest import Cluster, check, main, sink_lines

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


def test_nexmark_source_and_q2():
    with Cluster(taskmanagers=1, slots=1) as c:
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


if __name__ == "__main__":
    main([test_nexmark_source_and_q2])
