"""test_gen.py - `weir gen orders`: its events and its usage errors.

`weir gen orders` into the embedded Kafka of `weir local`: the events'
shape and types, unique ids, the status mix, hot products, event times
(on time and late), reproducibility by seed, the rate limit, and usage
errors. Needs only Kafka, so the cluster runs no TaskManager."""
import collections
import json
import re
import time

from weirtest import WEIR, Cluster, check, main, run

FIELDS = {"order_id": str, "product_id": str, "customer_id": str,
          "amount": float, "status": str, "ts": int}
STATUS_SHARE = {"PAID": 0.80, "PENDING": 0.15, "CANCELLED": 0.05}

_cluster = None


def cluster():
    global _cluster
    if _cluster is None:
        _cluster = Cluster(taskmanagers=0, topics=(
            "orders:3", "late:2", "det1:2", "det2:3", "paced:1", "usage:1"))
    return _cluster


def gen(c, *args, check_rc=0, timeout=60):
    return c.cli("gen", "orders", "--bootstrap", c.bootstrap, *args,
                 check_rc=check_rc, timeout=timeout)


def consume_all(c, topic, want):
    """Every message of topic (reads to the end of each partition)."""
    r = c.cli("consume", topic, "--bootstrap", c.bootstrap, "--exit",
              "--timeout", "20s", timeout=60)
    lines = r.stdout.decode().splitlines()
    check(len(lines) == want, "%s holds %d messages, want %d" %
          (topic, len(lines), want))
    return [json.loads(line) for line in lines]


def check_event(e, t0_ms, t1_ms, late_ok):
    check(set(e) == set(FIELDS), "fields of %s" % e)
    for k, typ in FIELDS.items():
        # bool is an int in Python; JSON true would be wrong here
        check(type(e[k]) is typ, "%s is %s in %s" % (k, typ.__name__, e))
    check(re.fullmatch(r"o-\d+-\d+", e["order_id"]), "order_id %s" % e)
    check(re.fullmatch(r"p-\d{3}", e["product_id"]), "product_id %s" % e)
    check(re.fullmatch(r"c-\d{5}", e["customer_id"]), "customer_id %s" % e)
    check(e["status"] in STATUS_SHARE, "status %s" % e)
    check(0 < e["amount"] and round(e["amount"], 2) == e["amount"],
          "amount with cents %s" % e)
    # ts is the wall clock when generated, minus up to 2 s (60 s if late)
    check(e["ts"] <= t1_ms, "ts in the future: %s" % e)
    check(e["ts"] >= t0_ms - (60000 if late_ok else 2000),
          "ts too far back: %s" % e)


def test_orders():
    c = cluster()
    n = 5000
    t0 = int(time.time() * 1000)
    gen(c, "--count", str(n), "--rate", "0", "--topic", "orders",
        "--seed", "11")
    t1 = int(time.time() * 1000)
    r = c.cli("consume", "orders", "--bootstrap", c.bootstrap, "-n", str(n),
              "--timeout", "20s")
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    check(len(events) == n, "consumed %d" % len(events))
    for e in events:
        check_event(e, t0, t1, late_ok=False)
    ids = {e["order_id"] for e in events}
    check(len(ids) == n, "%d distinct order ids of %d" % (len(ids), n))
    check(all(i.startswith("o-11-") for i in ids), "ids carry the seed")
    check(len(consume_all(c, "orders", n)) == n, "exactly %d messages" % n)

    status = collections.Counter(e["status"] for e in events)
    for s, share in STATUS_SHARE.items():
        got = status[s] / n
        check(abs(got - share) <= max(0.03, share * 0.3),
              "%s share %.3f, want about %.2f" % (s, got, share))
    products = collections.Counter(e["product_id"] for e in events)
    top_share = products.most_common(1)[0][1] / n
    check(len(products) <= 100, "at most 100 products: %d" % len(products))
    check(top_share > 3.0 / 100, "hottest product has %.3f of the orders"
          % top_share)
    mean = sum(e["amount"] for e in events) / n
    check(45 <= mean <= 75, "mean amount %.2f, want about 60" % mean)


def test_products_and_late():
    c = cluster()
    n = 2000
    t0 = int(time.time() * 1000)
    gen(c, "--count", str(n), "--rate", "0", "--topic", "late", "--seed",
        "3", "--products", "20", "--late-fraction", "0.2")
    t1 = int(time.time() * 1000)
    events = consume_all(c, "late", n)
    for e in events:
        check_event(e, t0, t1, late_ok=True)
    products = collections.Counter(e["product_id"] for e in events)
    check(set(products) <= {"p-%03d" % i for i in range(20)},
          "products of --products 20: %s" % sorted(products))
    check(products.most_common(1)[0][1] / n > 3.0 / 20, "skew with 20")
    # On-time events are at most 2 s behind t0, late ones at least 10 s
    # behind t1: they separate while generating took under 8 s.
    check(t1 - t0 < 8000, "generating 2000 events took %d ms" % (t1 - t0))
    late = sum(1 for e in events if e["ts"] < t0 - 2000)
    check(abs(late / n - 0.2) <= 0.04,
          "late share %.3f, want about 0.2" % (late / n))


def test_seed_reproducible():
    c = cluster()
    for topic in ("det1", "det2"):
        gen(c, "--count", "300", "--rate", "0", "--topic", topic,
            "--seed", "5")

    def without_ts(topic):
        evs = consume_all(c, topic, 300)
        return sorted((e["order_id"], e["product_id"], e["customer_id"],
                       e["amount"], e["status"]) for e in evs)

    check(without_ts("det1") == without_ts("det2"),
          "the same seed gives the same orders")


def test_rate():
    c = cluster()
    t0 = time.monotonic()
    gen(c, "--count", "2000", "--rate", "2000", "--topic", "paced")
    took = time.monotonic() - t0
    check(0.7 <= took <= 3.0, "2000 events at 2000/s took %.2fs" % took)
    consume_all(c, "paced", 2000)


def test_usage():
    c = cluster()
    base = ["--count", "10", "--rate", "0", "--topic", "usage"]
    bad = [
        [],                                         # no generator
        ["orders", "--count", "10", "--rate", "0"],  # no --topic
        ["orders", "--topic", "usage", "--rate", "0"],  # no --count
        ["orders", "--topic", "usage", "--count", "10"],  # no --rate
        ["orders"] + base + ["--rate", "-1"],
        ["orders"] + base + ["--rate", "fast"],
        ["orders"] + base + ["--late-fraction", "1.5"],
        ["orders"] + base + ["--late-fraction", "x"],
        ["orders"] + base + ["--products", "0"],
        ["orders"] + base + ["--seed", "-3"],
        ["orders"] + base + ["--bogus"],
        ["orders", "extra"] + base,
        ["orders", "--topic", "usage", "--count", "0", "--rate", "0"],
    ]
    for args in bad:
        r = run([WEIR, "gen"] + args + ["--bootstrap", c.bootstrap])
        check(r.returncode == 2, "weir gen %s: rc %d, stderr %s" %
              (" ".join(args), r.returncode, r.stderr))
    r = run([WEIR, "gen", "nexmark"] + base)
    check(r.returncode == 2 and b"unknown generator" in r.stderr,
          "nexmark is not offered yet: %d %s" % (r.returncode, r.stderr))
    r = run([WEIR, "gen", "--help"])
    check(r.returncode == 0 and b"usage: weir gen orders" in r.stdout,
          "--help")
    check(b"nexmark" not in r.stdout, "usage does not offer nexmark")
    # Nothing was written by the usage errors.
    r = run([WEIR, "gen", "orders", "--bootstrap", c.bootstrap] + base)
    check(r.returncode == 0, "the base flags are valid: %s" % r.stderr)
    consume_all(c, "usage", 10)


def test_stop_cluster():
    if _cluster is not None:
        _cluster.stop()
        _cluster.close()


if __name__ == "__main__":
    main([test_orders, test_products_and_late, test_seed_reproducible,
          test_rate, test_usage, test_stop_cluster])
