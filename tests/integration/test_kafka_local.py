"""test_kafka_local.py - the embedded Kafka of `weir local`.

The embedded Kafka of weir local, seen by real Kafka clients: kcat lists
its brokers and topics; weir produce/consume round-trip 10,000 JSON lines
exactly; topics are created from flags and on request."""
import collections
import json
import os
import random

from weirtest import Cluster, check, main

N = 10000


def topic_partitions(md, name):
    for t in md["topics"]:
        if t["topic"] == name:
            return len(t["partitions"])
    return None


def records(n, seed):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        out.append(json.dumps({
            "order_id": "o-%d-%d" % (seed, i),
            "product_id": "p-%d" % rnd.randrange(50),
            "amount": round(rnd.uniform(1, 500), 2),
            "status": rnd.choice(["PAID", "PENDING", "CANCELLED"]),
            "note": "ünïcode \"quoted\" \\ back",
        }, ensure_ascii=False, separators=(",", ":")))
    return out


def test_embedded_kafka():
    with Cluster(taskmanagers=1, topics=["orders:4", "clicks:2"]) as c:
        with open(os.path.join(c.dir, "kafka.bootstrap")) as f:
            check(f.read().strip() == c.bootstrap, "kafka.bootstrap file")

        md = c.kafka_metadata()
        check(len(md["brokers"]) == 3, "brokers %s" % md["brokers"])
        check(topic_partitions(md, "orders") == 4, "orders has 4 partitions")
        check(topic_partitions(md, "clicks") == 2, "clicks has 2 partitions")

        # Topic creation on request, through the local admin endpoint.
        r = c.cli("topic", "create", "events:3", "--dir", c.dir)
        check(b"created topic events" in r.stdout, r.stdout)
        check(topic_partitions(c.kafka_metadata(), "events") == 3,
              "events has 3 partitions")
        r = c.cli("topic", "create", "events:3", "--dir", c.dir, check_rc=1)
        check(b"already exists" in r.stderr, r.stderr)
        r = c.cli("topic", "create", "bad/name:1", "--dir", c.dir,
                  check_rc=2)
        check(b"invalid topic name" in r.stderr, r.stderr)

        # weir produce -> weir consume: exactly the same multiset of lines.
        lines = records(N, 1)
        data = ("\n".join(lines) + "\n").encode()
        r = c.cli("produce", "orders", "--bootstrap", c.bootstrap,
                  input=data)
        check(b"%d delivered, 0 failed, 0 skipped" % N in r.stderr,
              r.stderr)
        r = c.cli("consume", "orders", "--bootstrap", c.bootstrap, "-n",
                  str(N), "--timeout", "30s")
        got = r.stdout.decode().splitlines()
        check(collections.Counter(got) == collections.Counter(lines),
              "round trip: %d lines back, %d distinct" %
              (len(got), len(set(got))))
        # An independent client sees the same messages.
        got = c.consume("orders")
        check(collections.Counter(got) == collections.Counter(lines),
              "kcat sees %d lines" % len(got))
        # --exit stops at the end of every partition.
        r = c.cli("consume", "orders", "--bootstrap", c.bootstrap, "--exit")
        check(len(r.stdout.decode().splitlines()) == N, "--exit reads all")

        # kcat produces, weir consumes.
        more = records(500, 2)
        c.produce("clicks", more)
        r = c.cli("consume", "clicks", "--bootstrap", c.bootstrap, "-n",
                  "500", "--timeout", "30s")
        check(sorted(r.stdout.decode().splitlines()) == sorted(more),
              "kcat -> weir consume")

        # Asking for more than there is fails after the timeout.
        r = c.cli("consume", "clicks", "--bootstrap", c.bootstrap, "-n",
                  "501", "--timeout", "1s", check_rc=1)
        check(b"got 500 of 501" in r.stderr, r.stderr)


if __name__ == "__main__":
    main([test_embedded_kafka])
