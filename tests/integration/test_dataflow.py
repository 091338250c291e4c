"""test_dataflow.py - jobs end to end on `weir local`.

Jobs end to end on `weir local` with 2 TaskManagers: a Kafka source
through filter and select, a key_by that moves records between
TaskManagers, a file sink; invalid records to a dead-letter topic;
cancellation freeing every slot; back-pressure from a slow sink with
bounded memory and nothing lost."""
import glob
import json
import os
import random
import re
import time

from weirtest import Cluster, check, main, sink_lines, wait_for

N_ORDERS = 3000
JOB = """\
name: paid-orders
parallelism: 2
sources:
  orders:
    kafka: {{ topic: orders, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ order_id: string, product_id: string, amount: double, status: string, ts: timestamp }}
    invalid: {{ policy: dead_letter, topic: orders-dlq }}
nodes:
  - id: paid
    from: orders
    filter: "status == 'PAID' && amount > 0"
  - id: priced
    from: paid
    select: {{ order_id: "order_id", product_id: "product_id", amount: "amount", amount_eur: "amount * 0.92" }}
  - id: by_product
    from: priced
    key_by: [product_id]
  - id: out
    from: by_product
    sink: {{ file: {{ path: "{out}" }} }}
"""


def make_orders(seed):
    rnd = random.Random(seed)
    out = []
    for i in range(N_ORDERS):
        out.append({
            "order_id": "o-%05d" % i,
            "product_id": "p-%02d" % rnd.randrange(40),
            "amount": rnd.choice([round(rnd.uniform(-20, 400), 2), 0.0,
                                  float(rnd.randrange(1, 50))]),
            "status": rnd.choice(["PAID", "PAID", "PAID", "PENDING",
                                  "CANCELLED"]),
            "ts": 1795000000000 + i * 1000,
        })
    return out


BAD = [
    '{"order_id": "bad-1", "amount": "twelve", "status": "PAID"}',
    'this is not json',
    '{"order_id": "bad-3", "product_id": "p-1", "amount": 5, "status": ',
    '[1, 2, 3]',
    '{"order_id": "bad-5", "ts": "yesterday", "status": "PAID"}',
]


def expected(orders):
    out = set()
    for o in orders:
        if o["status"] == "PAID" and o["amount"] > 0:
            out.add((o["order_id"], o["product_id"], o["amount"],
                     o["amount"] * 0.92))
    return out


def slots_free(cluster):
    return sum(t["slots_free"] for t in cluster.cluster_json()["taskmanagers"]
               if t["state"] == "alive")


def test_kafka_filter_select_keyby_file():
    with Cluster(taskmanagers=2, slots=2,
                 topics=["orders:4", "orders-dlq:1"]) as c:
        orders = make_orders(11)
        lines = [json.dumps(o) for o in orders] + BAD
        c.cli("produce", "orders", "--bootstrap", c.bootstrap,
              input=("\n".join(lines) + "\n").encode())
        out = os.path.join(c.dir, "out")
        job = c.submit(JOB.format(bootstrap=c.bootstrap, out=out))
        want = expected(orders)
        wait_for(lambda: len(sink_lines(out, False)) >= len(want), 60,
                 "%d records in the sink" % len(want), interval_s=0.2)
        info = c.info(job)
        check(info["state"] == "RUNNING", "job state %s" % info["state"])
        # The plan: the key_by starts a second vertex, and with one slot on
        # each TaskManager the keyed records cross between them.
        tms = {s["taskmanager"] for v in info["vertices"]
               for s in v["subtasks"]}
        check(len(info["vertices"]) == 2 and len(tms) == 2,
              "2 vertices over 2 TaskManagers: %s" % info["vertices"])
        check(slots_free(c) == 2, "the job holds 2 of 4 slots")
        # Invalid records: dead-letter topic with reasons, and counted.
        wait_for(lambda: c.tm_metric("weir_invalid_records_total")
                 == len(BAD), 20, "invalid records counted")
        def dead_letters():
            return c.consume("orders-dlq", fmt="%h\t%s\n")
        # Counted before the producer delivered them: wait for delivery.
        dlq = wait_for(lambda: (lambda d: d if len(d) >= len(BAD) else None)(
            dead_letters()), 20, "dead letters delivered")
        check(len(dlq) == len(BAD), "dead letters: %s" % dlq)
        check(sorted(l.split("\t", 1)[1] for l in dlq) == sorted(BAD),
              "dead letters keep the original bytes")
        check(all("weir.error=" in l and "weir.offset=" in l for l in dlq),
              "dead letters carry the reason: %s" % dlq[0])

        c.cancel(job, 20)
        check(slots_free(c) == 4, "cancel frees every slot")
        # Committed output equals the expected set exactly.
        got = sink_lines(out, True)
        check(not glob.glob(os.path.join(out, ".*inprogress")),
              "no files left in progress")
        rows = [json.loads(l) for l in got]
        got_set = {(r["order_id"], r["product_id"], r["amount"],
                    r["amount_eur"]) for r in rows}
        check(len(rows) == len(want), "%d rows, want %d" %
              (len(rows), len(want)))
        check(got_set == want, "exact set equality (%d missing, %d extra)" %
              (len(want - got_set), len(got_set - want)))
        # key_by: every product lands in exactly one subtask's files.
        owner = {}
        for path in glob.glob(os.path.join(out, "part-*.jsonl")):
            sub = os.path.basename(path).split("-")[3]
            with open(path) as f:
                for l in f:
                    p = json.loads(l)["product_id"]
                    owner.setdefault(p, set()).add(sub)
        check(all(len(s) == 1 for s in owner.values()),
              "a key goes to one subtask")
        for name in ("taskmanager-1", "taskmanager-2"):
            log = c.log(name)
            check(log.count("TASK-END") == log.count("TASK-DEPLOYED"),
                  "every task of %s ended" % name)


SLOW_JOB = """\
name: slow-sink
parallelism: 2
sources:
  gen:
    datagen: {{ rate: 0, count: {count} }}
nodes:
  - id: by_product
    from: gen
    key_by: [product_id]
  - id: out
    from: by_product
    sink: {{ file: {{ path: "{out}" }} }}
"""


def source_backpressure(cluster):
    """Largest weir_backpressured_time_ratio of the source vertex (0)."""
    best = 0.0
    for text in cluster.tm_metrics():
        for m in re.finditer(r'^weir_backpressured_time_ratio\{[^}]*'
                             r'vertex="0"[^}]*\} (\S+)$', text, re.M):
            best = max(best, float(m.group(1)))
    return best


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_backpressure_slow_sink():
    with Cluster(taskmanagers=2, slots=2,
                 env=dict(os.environ, WEIR_FAULT_SINK_SLEEP_US="100")) as c:
        per_subtask = 20000
        out = os.path.join(c.dir, "out")
        job = c.submit(SLOW_JOB.format(count=per_subtask, out=out))
        tms = c.taskmanager_pids()
        seen = {"peak": 0, "bp": 0.0}
        t0 = time.monotonic()

        def sample_until_done():
            seen["peak"] = max([seen["peak"]] + [rss_kb(p) for p in tms])
            seen["bp"] = max(seen["bp"], source_backpressure(c))
            return c.state(job) != "RUNNING"
        wait_for(sample_until_done, 120, "the job to finish in time", 0.2)
        peak, bp = seen["peak"], seen["bp"]
        info = c.info(job)
        check(info["state"] == "FINISHED", "state %s: %s" %
              (info["state"], info["failure"]))
        n = len(sink_lines(out, True))
        check(n == 2 * per_subtask, "nothing lost: %d of %d" %
              (n, 2 * per_subtask))
        # The source was held back: the sink takes >= 100 us a record.
        took = time.monotonic() - t0
        check(took > per_subtask * 100e-6, "the slow sink paced the job")
        bound_kb = 64 * 1024
        print("     peak TaskManager RSS %d KiB (bound %d KiB), %.1fs" %
              (peak, bound_kb, took))
        check(0 < peak < bound_kb, "RSS bounded: %d KiB" % peak)
        print("     source back-pressured %.0f%% of a second at most" %
              (100 * bp))
        check(bp > 0.5, "weir_backpressured_time_ratio shows the source "
              "held back: %.2f" % bp)
        check(slots_free(c) == 4, "slots free after FINISHED")


if __name__ == "__main__":
    main([test_kafka_filter_select_keyby_file, test_backpressure_slow_sink])
