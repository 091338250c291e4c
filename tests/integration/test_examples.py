"""test_examples.py - every job in examples/ runs on `weir local` with
non-default ports, as README.md and its header comment say.

The cluster's Kafka, JobManager and REST ports are free ones (never 9092,
6123, 8081), and the CLI is given nothing but DIR/weir.env's variables:
`weir gen` and `weir run` take the addresses from there, and the jobs
(which name no brokers) read and write the embedded Kafka through the
TaskManagers' kafka.bootstrap. Each job is checked for what it should do:

- paid-orders, bench/kafka-filter: every paid order, in euros, in the
  output topic (as many as the input holds);
- order-analytics-live, then order-analytics (exactly once, on
  checkpoints): per-product window results in order_analytics;
- orders-filter: every PAID order in committed part files (its directory
  moved under the cluster's);
- orders-to-postgres (when PostgreSQL 15 is installed): every order in
  orders_out, a row per product in product_revenue, on a throwaway server
  that libpq finds through PGHOST/PGPORT in the TaskManagers' environment;
- nexmark/q*: FINISHED with output (__OUT__ replaced, as the comments say,
  and the count lowered, as scripts/bench.sh does);
- sensor-anomalies: anomalies of the readings `weir gen readings` wrote
  in the anomalies topic (at least half the spikes it planted; each with
  mean, stddev and a score beyond the threshold);
- card-fraud: the decline bursts and takeovers `weir gen payments`
  planted, in fraud_alerts (nine in ten bursts and half the takeovers at
  least: the watermark leaves the last events waiting; not more than were
  planted);
- bench/state-keyed: RUNNING with a completed checkpoint, then cancelled
  (it grows without bound);
- views-payments: validated here; test_joins.py runs it against a
  reference; click-sessions: validated here, test_clickhouse_sink.py runs
  it; bench/seeds-*: validated here, tests/bench/seeds_latency.py runs
  them.

A job in examples/ this test does not know fails it. A job whose Kafka
is unreachable fails naming the brokers it tried, and so does `weir gen`
on a WEIR_KAFKA_BOOTSTRAP with no broker. test_taskmanager_bootstrap: the
brokers of a job that names none are the TaskManager's kafka.bootstrap,
not the JobManager's.
"""
import glob
import json
import os
import re

import pgserver
from weirtest import (WEIR, Cluster, check, free_port, main, run,
                      sink_lines, wait_for)

SRC = os.environ.get("WEIR_SOURCE_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..")
EXAMPLES = os.path.join(SRC, "examples")
ORDERS = 6000
NEXMARK_COUNT = 100000
TOPICS = ("orders:4", "paid_orders:4", "order_analytics:4", "orders-dlq:1",
          "bench_in:4", "bench_out2:4", "readings:4", "anomalies:4",
          "payments:4", "fraud_alerts:4")
KNOWN = {"paid-orders.yaml", "order-analytics-live.yaml",
         "order-analytics.yaml", "orders-filter.yaml",
         "orders-to-postgres.yaml", "sensor-anomalies.yaml",
         "card-fraud.yaml",
         "bench/kafka-filter.yaml",
         "bench/state-keyed.yaml", "nexmark/q0.yaml", "nexmark/q1.yaml",
         "nexmark/q2.yaml", "nexmark/q3.yaml", "nexmark/q5.yaml",
         "nexmark/q7.yaml", "nexmark/q8.yaml",
         # run against a reference by test_joins.py
         "views-payments.yaml", "orders-enriched.yaml",
         # run against clickhouse-server by test_clickhouse_sink.py
         "click-sessions.yaml",
         # the seeds' latency table's: run by tests/bench/seeds_latency.py
         "bench/seeds-sessions.yaml", "bench/seeds-dashboard.yaml",
         "bench/seeds-fraud.yaml"}
PG_TABLES = """
CREATE TABLE orders_out (order_id text, product_id text, customer_id text,
  amount double precision, status text, ts timestamptz);
CREATE TABLE product_revenue (product_id text PRIMARY KEY, orders bigint,
  revenue double precision);
"""


def example(name):
    return os.path.join(EXAMPLES, name)


def weir(env, *args, timeout=60):
    """The CLI with weir.env's variables only: no address on its line."""
    return run([WEIR] + list(args), timeout=timeout, check_rc=0, env=env)


def submit(c, env, path):
    r = weir(env, "run", "-d", "-o", "json", path)
    return json.loads(r.stdout)["job_id"]


def rewritten(c, name, subst):
    """A copy of example name in the cluster's directory with each
    (old, new) of subst replaced (the changes its comment asks for)."""
    with open(example(name)) as f:
        text = f.read()
    for old, new in subst:
        check(old in text, "%s holds %r" % (name, old))
        text = text.replace(old, new)
    return c.write(name.replace("/", "-"), text)


def paid(orders, need_amount):
    return sum(1 for o in orders if o["status"] == "PAID" and
               (o["amount"] > 0 or not need_amount))


def wait_count(what, want, count, timeout_s=60):
    seen = [0]

    def done():
        seen[0] = count()
        return seen[0] >= want

    try:
        wait_for(done, timeout_s, "%s: %d records" % (what, want), 0.3)
    except AssertionError:
        raise AssertionError("%s: %d of %d records" % (what, seen[0], want))
    check(seen[0] == want, "%s: %d records, want %d" % (what, seen[0], want))


def pg_count(pg, table):
    return int(pg.query("SELECT count(*) FROM %s" % table)[0][0])


def kafka_jobs(c, env, pg):
    """The Kafka examples that share the orders topic, all at once."""
    for topic in ("orders", "bench_in"):
        weir(env, "gen", "orders", "--rate", "0", "--count", str(ORDERS),
             "--time-step", "15", "--topic", topic)
    orders = [json.loads(l) for l in c.consume("orders")]
    bench_in = [json.loads(l) for l in c.consume("bench_in")]
    check(len(orders) == ORDERS, "orders: %d" % len(orders))
    out = os.path.join(c.dir, "orders-filter")
    jobs = {
        "paid-orders": submit(c, env, example("paid-orders.yaml")),
        "live": submit(c, env, example("order-analytics-live.yaml")),
        "filter": submit(c, env, rewritten(c, "orders-filter.yaml", [
            ("/tmp/weir-orders-filter", out)])),
        "bench": submit(c, env, example("bench/kafka-filter.yaml")),
    }
    if pg is not None:
        pg.sql(PG_TABLES)
        jobs["pg"] = submit(c, env, example("orders-to-postgres.yaml"))
    for j in jobs.values():
        c.wait_running(j)
    wait_count("paid_orders", paid(orders, True),
               lambda: len(c.consume("paid_orders")))
    wait_count("bench_out2", paid(bench_in, True),
               lambda: len(c.consume("bench_out2")))
    wait_count("orders-filter part files", paid(orders, False),
               lambda: len(sink_lines(out, committed_only=True)))
    euros = [json.loads(l) for l in c.consume("paid_orders")]
    check(all("amount_eur" in e and "amount" not in e for e in euros),
          "paid_orders in euros: %s" % euros[:2])
    wait_for(lambda: c.consume("order_analytics"), 60,
             "order-analytics-live's windows", 0.3)
    row = json.loads(c.consume("order_analytics")[0])
    check({"product_id", "orders", "revenue"} <= set(row),
          "a window result: %s" % row)
    if pg is not None:
        wait_count("orders_out", ORDERS, lambda: pg_count(pg, "orders_out"))
        products = {o["product_id"] for o in orders}
        wait_count("product_revenue", len(products),
                   lambda: pg_count(pg, "product_revenue"))
    for j in jobs.values():
        c.cancel(j)
    return len(c.consume("order_analytics"))


def bounded_and_exactly_once(c, env, live_results):
    """order-analytics (exactly once: its windows appear as checkpoints
    commit) beside the Nexmark queries, which must finish with output."""
    job = submit(c, env, example("order-analytics.yaml"))
    nexmark = {}
    for q in sorted(glob.glob(os.path.join(EXAMPLES, "nexmark", "q*.yaml"))):
        name = "nexmark/" + os.path.basename(q)
        out = os.path.join(c.dir, name.replace("/", "-") + ".out")
        nexmark[name] = (out, submit(c, env, rewritten(c, name, [
            ("__OUT__", out), ("count: 2000000", "count: %d" %
                               NEXMARK_COUNT)])))
    for name, (out, j) in nexmark.items():
        ji = c.wait_state(j, "FINISHED", 60)
        check(ji is None or ji.get("state", "FINISHED") == "FINISHED",
              "%s: %s" % (name, ji))
        check(sink_lines(out, committed_only=True),
              "%s wrote nothing to %s" % (name, out))
    wait_for(lambda: len(c.consume("order_analytics", committed=True)) >
             live_results, 60, "order-analytics' committed windows", 0.3)
    c.cancel(job)


def sensor_anomalies(c, env):
    """sensor-anomalies finds the spikes weir gen planted."""
    r = weir(env, "gen", "readings", "--rate", "0", "--count", "6000",
             "--keys", "20", "--seed", "5", "--topic", "readings", "-o",
             "json")
    spikes = json.loads(r.stdout)["planted"]["spikes"]
    check(spikes >= 10, "weir gen planted %d spikes" % spikes)
    job = submit(c, env, example("sensor-anomalies.yaml"))
    c.wait_running(job)
    wait_for(lambda: len(c.consume("anomalies")) >= spikes // 2, 60,
             "anomalies: half of %d spikes" % spikes, 0.3)
    rows = [json.loads(l) for l in c.consume("anomalies")]
    for a in rows:
        check({"sensor_id", "temperature", "ts", "mean", "stddev"} <=
              set(a) and (a["score"] is None or abs(a["score"]) > 4.0),
              "an anomaly: %s" % a)
    c.cancel(job)
    print("     sensor-anomalies: %d anomalies (%d spikes planted)" %
          (len(rows), spikes))


def card_fraud(c, env):
    """card-fraud finds the shapes weir gen payments planted."""
    r = weir(env, "gen", "payments", "--rate", "0", "--count", "20000",
             "--keys", "200", "--seed", "5", "--topic", "payments", "-o",
             "json")
    planted = json.loads(r.stdout)["planted"]
    bursts, takeovers = planted["decline_bursts"], planted["takeovers"]
    check(bursts >= 20 and takeovers >= 20, "weir gen planted %s" % planted)
    job = submit(c, env, example("card-fraud.yaml"))
    c.wait_running(job)

    def found():
        n = {"decline_burst": 0, "takeover": 0}
        for l in c.consume("fraud_alerts"):
            n[json.loads(l)["rule"]] += 1
        return n
    wait_for(lambda: found()["decline_burst"] >= bursts * 9 // 10 and
             found()["takeover"] >= takeovers // 2, 60,
             "fraud_alerts: the planted shapes %s" % planted, 0.3)
    c.cancel(job)
    n = found()
    check(n["decline_burst"] <= bursts and n["takeover"] <= takeovers,
          "card-fraud: %s, more than planted %s" % (n, planted))
    print("     card-fraud: %d decline bursts of %d planted, %d takeovers "
          "of %d" % (n["decline_burst"], bursts, n["takeover"], takeovers))


def unbounded_state(c, env):
    job = submit(c, env, example("bench/state-keyed.yaml"))
    c.wait_running(job)
    c.wait_checkpoint(job, 1, 60)
    c.cancel(job)


def unreachable_kafka(c, env):
    """A job whose brokers are gone fails naming them."""
    dead = "127.0.0.1:%d" % free_port()
    # One task (no shuffle): its failure is the job's. A job of several
    # vertices may report a downstream task's "input: peer unreachable"
    # first (the failed source closed its outputs before it reported).
    path = rewritten(c, "bench/kafka-filter.yaml", [
        ("startup: earliest", 'startup: earliest, bootstrap: "%s"' % dead),
        ("name: bench-kafka-filter",
         "name: dead-kafka\nrestart: { strategy: none }")])
    job = submit(c, env, path)
    c.wait_state(job, "FAILED", 60)
    failure = c.info(job).get("failure") or ""
    check(re.search(r"topic bench_in: .*\(brokers %s\)" % re.escape(dead),
                    failure), "failure names the brokers: %r" % failure)
    # the CLI's Kafka verbs say the same of the bootstrap they were given
    r = run([WEIR, "gen", "orders", "--rate", "0", "--count", "1", "--topic",
             "orders"], env=dict(env, WEIR_KAFKA_BOOTSTRAP=dead), timeout=60)
    check(r.returncode != 0 and "topic orders: peer unreachable (brokers %s)"
          % dead in r.stderr.decode(), "weir gen on %s: %d %s" %
          (dead, r.returncode, r.stderr.decode()[-500:]))


def test_examples():
    found = {os.path.relpath(p, EXAMPLES) for p in
             glob.glob(os.path.join(EXAMPLES, "**", "*.yaml"),
                       recursive=True)}
    check(found == KNOWN, "examples this test does not run: %s; gone: %s" %
          (sorted(found - KNOWN), sorted(KNOWN - found)))
    for name in sorted(found):
        r = run([WEIR, "validate", example(name)])
        check(r.returncode == 0, "weir validate %s: %s" %
              (name, r.stderr.decode()))
        with open(example(name)) as f:
            text = f.read()
        check(not re.search(r"bootstrap:|127\.0\.0\.1|host=", text),
              "%s names an address" % name)
    pg = pgserver.PgServer() if pgserver.available() else None
    if pg is None:
        print("     PostgreSQL 15 not installed: orders-to-postgres "
              "not run")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEIR_")}
    if pg is not None:
        pg.start()
        # libpq's environment, inherited by the TaskManagers: the example's
        # dsn names no host or port
        env.update(PGHOST=pg.sock, PGPORT=str(pg.port))
    try:
        with Cluster(taskmanagers=2, slots=5, topics=TOPICS, env=env) as c:
            check(not c.bootstrap.endswith(":9092") and c.jm_port != 6123
                  and c.rest_port != 8081, "non-default ports")
            cli_env = dict(env, **c.env_file())
            results = kafka_jobs(c, cli_env, pg)
            bounded_and_exactly_once(c, cli_env, results)
            sensor_anomalies(c, cli_env)
            card_fraud(c, cli_env)
            unbounded_state(c, cli_env)
            unreachable_kafka(c, cli_env)
    finally:
        if pg is not None:
            pg.stop()


def test_taskmanager_bootstrap():
    """A job that names no brokers uses the kafka.bootstrap of the
    TaskManager that runs it, not the JobManager's: here weir local's
    JobManager has the embedded Kafka, the only TaskManager (started on
    the same weir.yaml) WEIR_KAFKA_BOOTSTRAP naming no broker."""
    dead = "127.0.0.1:%d" % free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEIR_")}
    with Cluster(taskmanagers=0, topics=("bench_in:1", "bench_out2:1"),
                 env=env) as c:
        c.start_taskmanager(env=dict(env, WEIR_KAFKA_BOOTSTRAP=dead))
        wait_for(lambda: len(c.cluster_json()["taskmanagers"]) == 1, 30,
                 "the TaskManager registered")
        cli_env = dict(env, **c.env_file())
        path = rewritten(c, "bench/kafka-filter.yaml", [
            ("name: bench-kafka-filter",
             "name: tm-view\nrestart: { strategy: none }")])
        job = submit(c, cli_env, path)
        c.wait_state(job, "FAILED", 60)
        failure = c.info(job).get("failure") or ""
        check("(brokers %s)" % dead in failure,
              "the TaskManager's brokers in %r" % failure)


if __name__ == "__main__":
    main([test_examples, test_taskmanager_bootstrap])
