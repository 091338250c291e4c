"""test_gen.py - `weir gen`: its generators' events and its usage errors.

`weir gen` into the embedded Kafka of `weir local`, read back with `weir
consume -o json`. orders: the events' shape and types, unique ids, the
status mix, hot products, event times (on time and late), reproducibility
by seed, the rate limit. clicks, payments, catalog, readings: fields and
keys, and what each plants counted from the data as a job would find it
(sessions by gap, decline bursts and account takeovers, tombstones,
spikes), equal to the counts gen reports. Usage errors. Needs only Kafka,
so the cluster runs no TaskManager."""
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
            "orders:3", "late:2", "det1:2", "det2:3", "paced:1", "usage:1",
            "clicks:3", "payments:3", "pay2:2", "catalog:1", "readings:2"))
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


def gen_kind(c, kind, topic, *args):
    """Runs generator kind into topic; returns its JSON report."""
    r = c.cli("gen", kind, "--bootstrap", c.bootstrap, "--topic", topic,
              "--rate", "0", "-o", "json", *args, timeout=120)
    return json.loads(r.stdout)


def messages(c, topic, want):
    """(key, value or None) of every message of topic, by partition and
    offset: a key's messages in the order they were written."""
    r = c.cli("consume", topic, "--bootstrap", c.bootstrap, "--exit",
              "--timeout", "20s", "-o", "json", timeout=60)
    ms = [json.loads(line) for line in r.stdout.decode().splitlines()]
    check(len(ms) == want, "%s holds %d messages, want %d" %
          (topic, len(ms), want))
    ms.sort(key=lambda m: (m["partition"], m["offset"]))
    return [(m["key"], None if m["value"] is None else
             json.loads(m["value"])) for m in ms]


def by_key(msgs, fields, key_field):
    """The events of each key in order, after checking fields and key."""
    keys = collections.defaultdict(list)
    for k, e in msgs:
        check(e is not None and list(e) == fields, "fields of %s" % e)
        check(e[key_field] == k, "key %s of %s" % (k, e))
        check(type(e["ts"]) is int, "ts of %s" % e)
        if keys[k]:
            check(e["ts"] >= keys[k][-1]["ts"], "ts goes back: %s" % e)
        keys[k].append(e)
    return keys


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


def test_clicks():
    """Sessions: clicks 1-20 s apart, 60-600 s between a user's sessions,
    so a 30 s gap cuts them exactly: as many as gen reports."""
    c = cluster()
    rep = gen_kind(c, "clicks", "clicks", "--count", "3000", "--keys",
                   "100", "--seed", "4", "--products", "20")
    check(rep["generator"] == "clicks" and rep["count"] == 3000,
          "report %s" % rep)
    # produce() -> Kafka's acknowledgement, over the delivered records
    ack = rep.get("ack_ms", {})
    check(0 <= ack.get("p50", -1) <= ack.get("p99", -1) <= 30000,
          "ack_ms %s" % rep)
    users = by_key(messages(c, "clicks", 3000), ["user_id", "page", "ts"],
                   "user_id")
    check(len(users) == 100, "%d users" % len(users))
    sessions = 0
    for evs in users.values():
        for a, b in zip(evs, evs[1:]):
            gap = b["ts"] - a["ts"]
            check(gap <= 20000 or gap >= 60000, "gap %d ms" % gap)
        sessions += 1 + sum(1 for a, b in zip(evs, evs[1:])
                            if b["ts"] - a["ts"] > 30000)
        for e in evs:
            check(re.fullmatch(r"/(search|cart|checkout|account|"
                               r"product/p-0[01]\d)?", e["page"]),
                  "page %s" % e)
    check(sessions == rep["planted"]["sessions"],
          "%d sessions in the data, %s reported" % (sessions, rep))
    check(sessions > 300, "sessions %d" % sessions)


def payment_patterns(cards):
    """(decline bursts, takeovers) as the seeds' fraud rules see them:
    three DECLINED then an APPROVED in a row within 5 minutes; a
    password_change then, next, a purchase within a minute of over 10x
    the card's median purchase."""
    bursts = takeovers = 0
    for evs in cards.values():
        amounts = sorted(e["amount"] for e in evs if e["kind"] == "purchase")
        median = amounts[len(amounts) // 2] if amounts else 0
        st = [e["status"] for e in evs]
        for i in range(len(evs)):
            if (st[i:i + 4] == ["DECLINED"] * 3 + ["APPROVED"] and
                    evs[i + 3]["ts"] - evs[i]["ts"] <= 300000):
                bursts += 1
            check(st[i:i + 4] != ["DECLINED"] * 4, "4 declines %s" % evs)
            if (evs[i]["kind"] == "password_change" and i + 1 < len(evs)
                    and evs[i + 1]["kind"] == "purchase"
                    and evs[i + 1]["ts"] - evs[i]["ts"] <= 60000
                    and evs[i + 1]["amount"] > 10 * median):
                takeovers += 1
    return bursts, takeovers


def test_payments():
    c = cluster()
    fields = ["card_id", "customer_id", "kind", "status", "amount", "ts"]
    rep = gen_kind(c, "payments", "payments", "--count", "12000", "--keys",
                   "500", "--seed", "9")
    cards = by_key(messages(c, "payments", 12000), fields, "card_id")
    check(len(cards) == 500, "%d cards" % len(cards))
    kinds = collections.Counter(e["kind"] for evs in cards.values()
                                for e in evs)
    check(set(kinds) == {"purchase", "login", "password_change"},
          "kinds %s" % kinds)
    bursts, takeovers = payment_patterns(cards)
    want = rep["planted"]
    check(bursts == want["decline_bursts"] and
          takeovers == want["takeovers"],
          "found %d bursts, %d takeovers; planted %s" %
          (bursts, takeovers, want))
    check(bursts > 50 and takeovers > 50, "planted %s" % want)
    # the same seed: the same events (ts has the wall clock as its base)
    rep2 = gen_kind(c, "payments", "pay2", "--count", "12000", "--keys",
                    "500", "--seed", "9")
    check(rep2["planted"] == want, "same seed, same plants")
    cards2 = by_key(messages(c, "pay2", 12000), fields, "card_id")
    strip = [(k, e["kind"], e["status"], e["amount"])
             for k in sorted(cards) for e in cards[k]]
    check(strip == [(k, e["kind"], e["status"], e["amount"])
                    for k in sorted(cards2) for e in cards2[k]],
          "the same seed gives the same payments")


def test_catalog():
    """Every product first, then updates and tombstones (null values) by
    product_id, for a compacted topic."""
    c = cluster()
    rep = gen_kind(c, "catalog", "catalog", "--count", "600", "--products",
                   "50", "--seed", "2")
    msgs = messages(c, "catalog", 600)  # one partition: the order written
    check([k for k, _ in msgs[:50]] == ["p-%03d" % i for i in range(50)],
          "the snapshot first")
    deleted, tombstones = set(), 0
    for i, (k, e) in enumerate(msgs):
        check(re.fullmatch(r"p-0[0-4]\d", k), "key %s" % k)
        if e is None:
            check(i >= 50 and k not in deleted, "tombstone of %s" % k)
            deleted.add(k)
            tombstones += 1
            continue
        deleted.discard(k)
        check(list(e) == ["product_id", "category", "price", "ts"] and
              e["product_id"] == k and e["price"] > 0 and
              type(e["ts"]) is int, "update %s" % e)
    check(tombstones == rep["planted"]["tombstones"] and tombstones > 10,
          "%d tombstones, %s reported" % (tombstones, rep))
    cats = {e["product_id"]: e["category"] for _, e in msgs if e}
    check(len(set(cats.values())) > 3, "categories %s" % cats)
    check(all(e["category"] == cats[k] for k, e in msgs if e),
          "a product keeps its category")


def test_readings():
    """About one reading a second per sensor; spikes of 8-15 degrees off
    the sensor's median, normal readings within 4."""
    c = cluster()
    rep = gen_kind(c, "readings", "readings", "--count", "6000", "--keys",
                   "20", "--seed", "8")
    sensors = by_key(messages(c, "readings", 6000),
                     ["sensor_id", "temperature", "ts"], "sensor_id")
    check(len(sensors) == 20, "%d sensors" % len(sensors))
    spikes = 0
    for evs in sensors.values():
        for a, b in zip(evs, evs[1:]):
            check(900 <= b["ts"] - a["ts"] <= 1100, "period %s %s" % (a, b))
        temps = sorted(e["temperature"] for e in evs)
        med = temps[len(temps) // 2]
        for e in evs:
            off = abs(e["temperature"] - med)
            check(off < 4 or off > 6, "neither normal nor spike: %s" % e)
            spikes += off > 6
    check(spikes == rep["planted"]["spikes"] and spikes > 10,
          "%d spikes, %s reported" % (spikes, rep))


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
        ["orders"] + base + ["--keys", "5"],          # not for orders
        ["clicks"] + base + ["--late-fraction", "0.1"],
        ["payments"] + base + ["--products", "7"],
        ["readings"] + base + ["--time-step", "10"],
        ["clicks"] + base + ["--keys", "0"],
    ]
    for args in bad:
        r = run([WEIR, "gen"] + args + ["--bootstrap", c.bootstrap])
        check(r.returncode == 2, "weir gen %s: rc %d, stderr %s" %
              (" ".join(args), r.returncode, r.stderr))
    r = run([WEIR, "gen", "nexmark"] + base)
    check(r.returncode == 2 and b"unknown generator" in r.stderr and
          b"orders, clicks, payments, catalog, readings" in r.stderr,
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
          test_rate, test_clicks, test_payments, test_catalog,
          test_readings, test_usage, test_stop_cluster])
