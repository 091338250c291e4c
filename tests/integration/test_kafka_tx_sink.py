"""test_kafka_tx_sink.py - the exactly-once Kafka sink on `weir local`.

The Kafka sink with semantic: exactly_once on `weir local`: a bounded
datagen job (2 subtasks, checkpointing every 300 ms) writes through
transactions committed on checkpoints; a read_committed reader (kcat) gets
every order exactly once, with its key.

The embedded Kafka (librdkafka's mock cluster) does not isolate aborted
transactions and does not fence (notes/dependencies.md), so this shows the
transactional path runs and loses or repeats nothing when nothing fails;
it cannot show that aborted records stay hidden.
"""
import json
import os

from weirtest import LocalCluster, check, main, run, wait_for

COUNT = 3000

JOB = """\
name: kafka-tx
parallelism: 2
checkpointing: {{ interval: 300ms }}
restart: {{ strategy: none }}
sources:
  gen:
    datagen: {{ rate: 1500, count: {count} }}
nodes:
  - id: to_kafka
    from: gen
    sink: {{ kafka: {{ topic: tx_out, semantic: exactly_once,
                      key: order_id }} }}
"""


def info(c, job_id):
    return json.loads(c.cli("info", job_id, "-o", "json").stdout)


def test_exactly_once_bounded():
    c = LocalCluster(taskmanagers=2, slots=2, topics=["tx_out:4"])
    try:
        path = os.path.join(c.dir, "kafka-tx.yaml")
        with open(path, "w") as f:
            f.write(JOB.format(count=COUNT))
        job = json.loads(c.cli("run", "-d", "-o", "json", path)
                         .stdout)["job_id"]
        ji = wait_for(lambda: (lambda j: j if j["state"] in (
            "FINISHED", "FAILED", "CANCELED") else None)(info(c, job)),
            90, "job to end", 0.2)
        check(ji["state"] == "FINISHED", "job %s: %s" % (ji["state"],
                                                         ji["failure"]))
        done = json.loads(c.cli("checkpoints", job, "-o", "json")
                          .stdout)["counts"]["completed"]
        check(done >= 1, "checkpoints completed: %d" % done)
        r = run(["kcat", "-b", c.bootstrap, "-C", "-t", "tx_out", "-e", "-q",
                 "-X", "isolation.level=read_committed", "-f", "%k\t%s\n"],
                check_rc=0, timeout=60)
        lines = r.stdout.decode().splitlines()
        keys = [l.split("\t", 1)[0] for l in lines]
        ids = [json.loads(l.split("\t", 1)[1])["order_id"] for l in lines]
        want = {"o-%d-%d" % (s, n) for s in range(2) for n in range(COUNT)}
        check(len(ids) == 2 * COUNT, "%d records, want %d" %
              (len(ids), 2 * COUNT))
        check(set(ids) == want, "every order once (%d missing)" %
              len(want - set(ids)))
        check(keys == ids, "each record keyed by its order_id")
        log = c.log("taskmanager-1") + c.log("taskmanager-2")
        check("KAFKA-TX-FENCED" in log, "transactional ids fenced at start")
    finally:
        c.stop()


if __name__ == "__main__":
    main([test_exactly_once_bounded])
