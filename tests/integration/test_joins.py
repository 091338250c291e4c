"""test_joins.py - interval, window and stream-table joins through the
runtime against brute-force references.

Two Kafka topics (views and payments, 4 partitions each, several users,
event times out of order within max_out_of_orderness) feed one job with
four joins: an interval join (inner, between [-500ms, 1s]), a left
interval join ([0s, 500ms]), a tumbling window join (inner, 1 s) and a
left sliding window join (2 s every 1 s), each into an exactly-once file
sink (checkpoints). The committed output of each must equal, as a
multiset, the reference computed here from docs/joins.md's semantics:
at parallelism 1, at parallelism 4 over 2 TaskManagers, and at
parallelism 4 with a TaskManager SIGKILLed mid-run (a replacement
started; the job restores its keyed state and sinks from the last
checkpoint): nothing lost, nothing twice; no record counted late. At the
end of the parallelism-1 run, three records far behind its watermark
follow: each of the four joins drops each of them and counts it in
weir_late_records_dropped_total. Also examples/views-payments.yaml (a
left interval join, [0s, 10m]) runs on the same topics and must equal
its reference.

Stream-table joins, on the same cluster: an orders topic and a catalog
changelog topic (4 partitions; upserts with event times out of order,
re-inserts, and tombstones, null values keyed by the product id, whose
time is their Kafka timestamp) feed four joins: as_of processing_time
(a table without event time: it must not hold the join's watermark
back) and as_of event_time (versioned), inner and left. The whole catalog
reaches the joins before any order is written (so a processing-time
lookup sees the final table: deterministic), then the orders; output
equals the reference at p=1, at p=4 over 2 TaskManagers, and with a
TaskManager SIGKILLed mid-run (the catalog then lives only in the
restored keyed state; its partitions are quiet, so idle_timeout keeps
them from holding the event-time joins back). And
examples/orders-enriched.yaml, fed by `weir gen catalog` and `weir gen
orders`: each order with its product's final row."""
import collections
import datetime
import json
import os
import random
import time

from weirtest import Cluster, check, main, metric_sum, sink_lines, wait_for

EXAMPLES = os.path.join(os.environ.get("WEIR_SOURCE_DIR") or os.path.join(
    os.path.dirname(__file__), "..", ".."), "examples")
EXAMPLE = os.path.join(EXAMPLES, "views-payments.yaml")

BASE = 1797000000000  # epoch ms, a whole second
OOO_MS = 300
PARTS = 4
USERS = ["u-%d" % i for i in range(6)]
N = 700  # records per topic

CONFIG = """\
jobmanager: { heartbeat_interval: 300ms, heartbeat_timeout: 1500ms }
"""

JOB = """\
name: joins-{name}
parallelism: {p}
checkpointing: {{ interval: 200ms, timeout: 10s, retained: 3 }}
restart: {{ strategy: fixed_delay, delay: 200ms, attempts: 20 }}
sources:
  views:
    kafka: {{ topic: {views}, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ user_id: string, page: string, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: {ooo}ms }}
  payments:
    kafka: {{ topic: {payments}, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ user_id: string, amount: long, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: {ooo}ms }}
nodes:
  - id: iv
    join: {{ left: views, right: payments, on: [user_id], between: [-500ms, 1s] }}
  - id: iv_left
    join: {{ left: views, right: payments, on: [user_id], between: [0s, 500ms], type: left }}
  - id: win
    join: {{ left: views, right: payments, on: [user_id], window: {{ tumbling: 1s }} }}
  - id: win_left
    join: {{ left: views, right: payments, on: [user_id], window: {{ sliding: 2s, slide: 1s }}, type: left }}
{sinks}"""

SINK = """\
  - id: out_{n}
    from: {n}
    sink: {{ file: {{ path: "{out}/{n}" }} }}
"""

JOINS = ("iv", "iv_left", "win", "win_left")
# interval joins: name, lower, upper, left; ex: the example's join
INTERVALS = (("iv", -500, 1000, False), ("iv_left", 0, 500, True),
             ("ex", 0, 600000, True))


def gen(seed, kind):
    """N records of one topic in production order: event times disordered
    by less than OOO_MS within each partition."""
    rnd = random.Random(seed)
    t, recs = BASE, []
    for i in range(N):
        t += rnd.randrange(1, 80)
        r = {"user_id": rnd.choice(USERS), "ts": t,
             "_p": rnd.randrange(PARTS)}
        if kind == "views":
            r["page"] = "v%d" % i
        else:
            r["amount"] = i  # unique: names the payment
        recs.append(r)
    return sorted(recs, key=lambda r: r["ts"] + rnd.randrange(OOO_MS - 50))


def flush(kind, last_ts):
    """A far-future record per partition, of a user no other record has:
    every watermark passes every real window and interval; the flush
    records pair with nothing and their own state never fires."""
    r = {"user_id": "zz-" + kind, "ts": last_ts + 3600000}
    r.update({"page": "flush"} if kind == "views" else {"amount": -1})
    return [dict(r, _p=p) for p in range(PARTS)]


# Behind every watermark once the flush records are read: dropped.
LATE = [{"user_id": USERS[0], "page": "late-0", "ts": BASE + 1000, "_p": 0},
        {"user_id": USERS[1], "page": "late-1", "ts": BASE + 2000, "_p": 1},
        {"user_id": USERS[0], "amount": 10**6, "ts": BASE + 1500, "_p": 2}]


def iso(ms):
    d = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def windows(ts, size, slide):
    s = ts - ts % slide
    while s > ts - size:
        yield s
        s -= slide


def reference(views, pays):
    """{join: Counter of (page, amount or None, window start or None)}:
    a view and a payment are unique by page and amount, so these name
    each output row."""
    by_user = collections.defaultdict(list)
    for p in pays:
        by_user[p["user_id"]].append(p)
    ref = {n: collections.Counter() for n in JOINS + ("ex",)}
    for v in views:
        mine = by_user[v["user_id"]]
        for name, lo, hi, left in INTERVALS:
            hit = [p for p in mine if v["ts"] + lo <= p["ts"] <= v["ts"] + hi]
            for p in hit:
                ref[name][(v["page"], p["amount"], None)] += 1
            if not hit and left:
                ref[name][(v["page"], None, None)] += 1
        for name, size, slide in (("win", 1000, 1000),
                                  ("win_left", 2000, 1000)):
            for s in windows(v["ts"], size, slide):
                hit = [p for p in mine if s <= p["ts"] < s + size]
                for p in hit:
                    ref[name][(v["page"], p["amount"], s)] += 1
                if not hit and name == "win_left":
                    ref[name][(v["page"], None, s)] += 1
    return ref


def committed(out, name):
    got = collections.Counter()
    for line in sink_lines(os.path.join(out, name), committed_only=True):
        r = json.loads(line)
        ws = r.get("window_start")
        got[(r["page"], r["amount"],
             None if ws is None else iso_ms(ws))] += 1
    return got


def iso_ms(s):
    d = datetime.datetime.strptime(s.replace("Z", "+0000"),
                                   "%Y-%m-%dT%H:%M:%S.%f%z"
                                   if "." in s else "%Y-%m-%dT%H:%M:%S%z")
    return int(round(d.timestamp() * 1000))


def submit(c, name, p, views, payments, out):
    sinks = "".join(SINK.format(n=n, out=out) for n in JOINS)
    return c.submit(JOB.format(name=name, p=p, views=views,
                               payments=payments, bootstrap=c.bootstrap,
                               ooo=OOO_MS, sinks=sinks),
                    name="joins-%s.yaml" % name)


def restarts(c, job):
    return int(metric_sum(c.metrics(), "weir_job_restarts_total", job=job))


def late_dropped(c, job):
    return c.tm_metric("weir_late_records_dropped_total", job=job)


def check_exact(c, job, out, ref, what, joins=JOINS, late=0, read=None):
    """Waits until every join's committed output (read by `read`, the
    stream joins' reader by default) holds as many rows as its reference,
    two checkpoints more (a duplicate would show), and late records counted
    as dropped, then compares each exactly."""
    read = read or committed

    def done():
        return all(sum(read(out, n).values()) >= sum(ref[n].values())
                   for n in joins)
    wait_for(done, 60, "%s: every join's rows committed" % what,
             interval_s=0.2)
    c.wait_checkpoint(job, c.completed_checkpoints(job) + 2, 30)
    figures = []
    for n in joins:
        got = read(out, n)
        missing, extra = ref[n] - got, got - ref[n]
        check(not missing and not extra,
              "%s %s: %d rows missing (%s), %d extra (%s)" %
              (what, n, sum(missing.values()), list(missing)[:3],
               sum(extra.values()), list(extra)[:3]))
        figures.append("%s %d" % (n, sum(ref[n].values())))
    wait_for(lambda: late_dropped(c, job) >= late, 30,
             "%s: %d late records dropped" % (what, late))
    got = late_dropped(c, job)
    check(got == late, "%s: %s records dropped as late, want %d" %
          (what, got, late))
    print("     %s: exact (%s), %d late dropped" %
          (what, ", ".join(figures), late))


def test_joins_match_reference():
    topics = ["views:%d" % PARTS, "payments:%d" % PARTS,
              "views-k:%d" % PARTS, "payments-k:%d" % PARTS,
              "catalog:%d" % PARTS, "catalog-ex:%d" % PARTS]
    topics += ["orders-%s:%d" % (r, PARTS) for r in ("1", "4", "k", "ex")]
    with Cluster(taskmanagers=2, slots=2, topics=topics,
                 config=CONFIG) as c:
        views, pays = gen(7, "views"), gen(8, "payments")
        last = max(r["ts"] for r in views + pays)
        ref = reference(views, pays)
        c.produce("views", views + flush("views", last))
        c.produce("payments", pays + flush("payments", last))
        # The example, on the same topics (its sink in the cluster's
        # directory, checkpoints more often).
        out = os.path.join(c.dir, "out-example")
        with open(EXAMPLE) as f:
            text = f.read()
        for old, new in (("/tmp/weir-views-payments", out + "/ex"),
                         ("interval: 5s", "interval: 200ms")):
            check(old in text, "the example holds %r" % old)
            text = text.replace(old, new)
        job = c.submit(text, name="views-payments.yaml")
        check_exact(c, job, out, ref, "example views-payments",
                    joins=("ex",))
        c.cancel(job)

        for p in (4, 1):
            out = os.path.join(c.dir, "out-%d" % p)
            job = submit(c, "p%d" % p, p, "views", "payments", out)
            check_exact(c, job, out, ref, "p=%d" % p)
            if p != 1:
                c.cancel(job)
        # Late records: once the last run's watermark passed the flush
        # records (its output is complete), each of the four joins drops
        # each of them.
        c.produce("views", LATE[:2])
        c.produce("payments", LATE[2:])
        wait_for(lambda: late_dropped(c, job) == 4 * len(LATE), 30,
                 "p=1: the late records dropped")
        print("     p=1: %d late records dropped" % late_dropped(c, job))
        c.cancel(job)

        # Mid-run SIGKILL: records arrive in chunks; a TaskManager running
        # the job dies after the first half and a checkpoint.
        out = os.path.join(c.dir, "out-kill")
        job = submit(c, "kill", 4, "views-k", "payments-k", out)
        c.wait_running(job, 30)
        rnd = random.Random(3)
        step = N // 6
        for i in range(0, N, step):
            c.produce("views-k", views[i:i + step])
            c.produce("payments-k", pays[i:i + step])
            if i // step == 2:
                c.wait_checkpoint(job, c.completed_checkpoints(job) + 1, 30)
                before = restarts(c, job)
                c.kill_taskmanager(job=job, rnd=rnd)
                c.start_taskmanager()
                wait_for(lambda: restarts(c, job) > before, 30,
                         "a restart after the kill")
                c.wait_running(job, 60)
            time.sleep(0.1)  # pacing of the producer, not a wait
        c.produce("views-k", flush("views", last))
        c.produce("payments-k", flush("payments", last))
        check_exact(c, job, out, ref, "p=4, TaskManager SIGKILLed")
        print("     restarts: %d" % restarts(c, job))
        c.cancel(job)

        run_table_joins(c)
        run_enriched_example(c)


# ---- stream-table joins ------------------------------------------------

PRODUCTS = ["p-%02d" % i for i in range(12)]
NORDERS = 400
TABLE_JOINS = ("pt", "pt_left", "et", "et_left")

TABLE_JOB = """\
name: enrich-{name}
parallelism: {p}
checkpointing: {{ interval: 200ms, timeout: 10s, retained: 3 }}
restart: {{ strategy: fixed_delay, delay: 200ms, attempts: 20 }}
sources:
  orders:
    kafka: {{ topic: {orders}, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ order_id: string, product_id: string, amount: long, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: {ooo}ms }}
tables:
  catalog:
    kafka: {{ topic: catalog, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ product_id: string, category: string, price: double, ts: timestamp }}
    primary_key: [product_id]
    event_time: {{ field: ts, max_out_of_orderness: 10m, idle_timeout: 1s }}
  catalog_now:                  # the same, without event time
    kafka: {{ topic: catalog, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ product_id: string, category: string, price: double, ts: timestamp }}
    primary_key: [product_id]
nodes:
  - id: pt
    from: orders
    join: {{ table: catalog_now, on: [product_id] }}
  - id: pt_left
    from: orders
    join: {{ table: catalog_now, on: [product_id], type: left }}
  - id: et
    from: orders
    join: {{ table: catalog, on: [product_id], as_of: event_time }}
  - id: et_left
    from: orders
    join: {{ table: catalog, on: [product_id], type: left, as_of: event_time }}
{sinks}"""


def gen_catalog(t0):
    """The catalog's changelog: (key, value or None, partition) in
    production order; a product's messages all go to one partition
    (index mod PARTS). Every product is inserted and updated with event
    times out of order (unique), one in three deleted once and
    re-inserted, one in four deleted at the end; a tombstone's key is
    the bare id or a JSON object; each version's price is unique. Then
    a far-future row per partition (a product no order has) moves the
    table's watermark past every real version."""
    rnd = random.Random(11)
    msgs, seq = [], 0
    times = rnd.sample(range(-20000, 20000), 10 * len(PRODUCTS))
    for _ in range(10):
        for i, p in enumerate(PRODUCTS):
            msgs.append((p, {"product_id": p, "category": "c%d" % (i % 3),
                             "price": seq + 0.5, "ts": t0 + times[seq]},
                         i % PARTS))
            seq += 1
    rnd.shuffle(msgs)
    for i, p in enumerate(PRODUCTS):
        # The key of a tombstone: the bare id, or a JSON object of the
        # primary key (both are read).
        key = p if i % 2 else json.dumps({"product_id": p})
        if i % 3 == 0:  # a tombstone somewhere in the middle
            at = rnd.randrange(len(msgs) // 3, 2 * len(msgs) // 3)
            msgs.insert(at, (key, None, i % PARTS))
        if i % 4 == 1:  # deleted for good
            msgs.append((key, None, i % PARTS))
    # Sorted per partition by nothing: out of order, within 10m.
    return msgs + [("zz-%d" % q, {"product_id": "zz-%d" % q,
                                  "category": "flush", "price": -1.0,
                                  "ts": t0 + 3600000}, q)
                   for q in range(PARTS)]


def gen_orders(t0):
    """NORDERS orders over the catalog's time span (and the tombstones'
    wall-clock times), out of order within OOO_MS per partition, and a
    far-future flush order per partition (order_id flush-*, left out of
    the comparison)."""
    rnd = random.Random(12)
    t, recs = t0 - 21000, []
    for i in range(NORDERS):
        t += rnd.randrange(1, 120)
        recs.append({"order_id": "o-%d" % i,
                     "product_id": rnd.choice(PRODUCTS + ["p-none"]),
                     "amount": i, "ts": t, "_p": rnd.randrange(PARTS)})
    recs.sort(key=lambda r: r["ts"] + rnd.randrange(OOO_MS - 50))
    return recs + [{"order_id": "flush-%d" % q, "product_id": "zz-none",
                    "amount": -1, "ts": t + 7200000, "_p": q}
                   for q in range(PARTS)]


def catalog_versions(c):
    """{product: [(time, price or None)]} as read back from the topic:
    a tombstone's time is its Kafka timestamp (kcat %T)."""
    versions = collections.defaultdict(list)
    for line in c.consume("catalog", fmt="%k\t%T\t%S\t%s\n"):
        key, kts, size, value = line.split("\t", 3)
        key = json.loads(key)["product_id"] if key[0] == "{" else key
        if size == "-1":  # a null value
            versions[key].append((int(kts), None))
        else:
            v = json.loads(value)
            versions[key].append((v["ts"], v["price"]))
    return versions


def table_reference(msgs, versions, orders):
    """{join: Counter of (order_id, price or None)}."""
    final = {}
    for key, value, _ in msgs:  # a key's messages are in one partition
        key = json.loads(key)["product_id"] if key[0] == "{" else key
        final[key] = None if value is None else value["price"]
    ref = {n: collections.Counter() for n in TABLE_JOINS}
    deleted = collections.Counter()  # [True]: as of a tombstone
    for o in orders:
        if o["order_id"].startswith("flush"):
            continue
        now = final.get(o["product_id"])
        older = [v for v in versions.get(o["product_id"], [])
                 if v[0] <= o["ts"]]
        then = max(older)[1] if older else None
        deleted[bool(older) and then is None] += 1
        for name, price in (("pt", now), ("et", then)):
            if price is not None:
                ref[name][(o["order_id"], price)] += 1
            ref[name + "_left"][(o["order_id"], price)] += 1
    return ref, deleted[True]


def table_committed(out, name):
    got = collections.Counter()
    for line in sink_lines(os.path.join(out, name), committed_only=True):
        r = json.loads(line)
        if not r["order_id"].startswith("flush"):
            got[(r["order_id"], r["price"])] += 1
    return got


def join_watermarks(c, job, vertex_name):
    """The input watermark of each subtask of a vertex (by its name)."""
    wms = []
    for text in c.tm_metrics():
        for line in text.splitlines():
            if (line.startswith("weir_current_watermark_ms{") and
                    'job_id="%s"' % job in line and
                    'vertex_name="%s"' % vertex_name in line):
                wms.append(float(line.rsplit(" ", 1)[1]))
    return wms


def check_pt_watermark(c, job, p, orders):
    """A table without event time holds its join's watermark nowhere:
    the processing-time join's follows the orders past the last real
    one (their flush records)."""
    last = max(o["ts"] for o in orders if o["order_id"][0] != "f")
    wait_for(lambda: len(join_watermarks(c, job, "pt -> out_pt")) == p and
             min(join_watermarks(c, job, "pt -> out_pt")) > last, 30,
             "the processing-time join's watermark past the last order")


def submit_table_job(c, name, p, orders, out, nmsgs):
    """Submits the four table joins and waits until the whole catalog
    reached each of them (before any order is written)."""
    sinks = "".join(SINK.format(n=n, out=out) for n in TABLE_JOINS)
    job = c.submit(TABLE_JOB.format(name=name, p=p, orders=orders,
                                    bootstrap=c.bootstrap, ooo=OOO_MS,
                                    sinks=sinks),
                   name="enrich-%s.yaml" % name)
    # The two table sources' records in, and each join's.
    want = nmsgs * (2 + len(TABLE_JOINS))
    wait_for(lambda: c.tm_metric("weir_records_in_total", job=job) >= want,
             60, "%s: the catalog loaded into the joins" % name)
    return job


def run_table_joins(c):
    t0 = int(time.time() * 1000)
    msgs = gen_catalog(t0)
    c.produce_keyed("catalog", msgs)
    versions = catalog_versions(c)
    orders = gen_orders(t0)
    ref, deleted = table_reference(msgs, versions, orders)
    print("     catalog: %d messages, %d tombstones; %d orders, %d of them "
          "as of a tombstone (event time), %d of a deleted product now" %
          (len(msgs), sum(v is None for _, v, _ in msgs), NORDERS, deleted,
           sum(ref["pt_left"].values()) - sum(ref["pt"].values())))
    for p in (1, 4):
        out = os.path.join(c.dir, "out-table-%d" % p)
        job = submit_table_job(c, "p%d" % p, p, "orders-%d" % p, out,
                               len(msgs))
        c.produce("orders-%d" % p, orders)
        check_exact(c, job, out, ref, "table joins p=%d" % p,
                    joins=TABLE_JOINS, read=table_committed)
        check_pt_watermark(c, job, p, orders)
        c.cancel(job)
    out = os.path.join(c.dir, "out-table-kill")
    job = submit_table_job(c, "kill", 4, "orders-k", out, len(msgs))
    # A checkpoint begun after the catalog was in: the restore point
    # then holds all of it (the topic is not read again).
    c.wait_checkpoint(job, c.completed_checkpoints(job) + 2, 30)
    rnd, step = random.Random(5), len(orders) // 4
    for i in range(0, len(orders), step):
        c.produce("orders-k", orders[i:i + step])
        if i // step == 1:
            c.wait_checkpoint(job, c.completed_checkpoints(job) + 1, 30)
            before = restarts(c, job)
            c.kill_taskmanager(job=job, rnd=rnd)
            c.start_taskmanager()
            wait_for(lambda: restarts(c, job) > before, 30,
                     "a restart after the kill")
            c.wait_running(job, 60)
    check_exact(c, job, out, ref, "table joins p=4, SIGKILL",
                joins=TABLE_JOINS, read=table_committed)
    print("     restarts: %d" % restarts(c, job))
    c.cancel(job)



def run_enriched_example(c):
    """examples/orders-enriched.yaml as docs/joins.md runs it: `weir gen
    catalog`, the job, then `weir gen orders`; each order comes out once
    with its product's final row (the catalog was whole before the first
    order), or nulls for a deleted product."""
    out = os.path.join(c.dir, "out-enriched")
    with open(os.path.join(EXAMPLES, "orders-enriched.yaml")) as f:
        text = f.read()
    for old, new in (("/tmp/weir-orders-enriched", out),
                     ("interval: 5s", "interval: 200ms"),
                     ("topic: orders", "topic: orders-ex"),
                     ("topic: catalog", "topic: catalog-ex")):
        check(old in text, "the example holds %r" % old)
        text = text.replace(old, new)
    c.cli("gen", "catalog", "--rate", "0", "--count", "600", "--products",
          "40", "--seed", "5", "--topic", "catalog-ex", "--bootstrap",
          c.bootstrap)
    final = {}
    for line in c.consume("catalog-ex", fmt="%k\t%S\t%s\n"):
        key, size, value = line.split("\t", 2)
        final[key] = None if size == "-1" else json.loads(value)
    job = c.submit(text, name="orders-enriched.yaml")
    wait_for(lambda: c.tm_metric("weir_records_in_total", job=job) >= 1200,
             60, "example: the catalog loaded into the join")
    c.cli("gen", "orders", "--rate", "0", "--count", "500", "--products",
          "40", "--seed", "6", "--topic", "orders-ex", "--bootstrap",
          c.bootstrap)
    ref = collections.Counter()
    for line in c.consume("orders-ex"):
        o, row = json.loads(line), final.get(json.loads(line)["product_id"])
        ref[(o["order_id"], row and row["category"],
             row and row["price"])] += 1

    def got():
        return collections.Counter(
            (r["order_id"], r["category"], r["price"])
            for r in map(json.loads, sink_lines(out, committed_only=True)))
    wait_for(lambda: sum(got().values()) >= 500, 60,
             "example: 500 orders committed")
    c.wait_checkpoint(job, c.completed_checkpoints(job) + 2, 30)
    g = got()
    check(g == ref, "example orders-enriched: %d missing, %d extra" %
          (sum((ref - g).values()), sum((g - ref).values())))
    print("     example orders-enriched: exact (500 orders, %d of a "
          "deleted product)" % sum(1 for k in ref if k[1] is None))
    c.cancel(job)


if __name__ == "__main__":
    main([test_joins_match_reference])
