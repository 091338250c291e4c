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

from weirtest import Cluster, check, main

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


def test_exactly_once_bounded():
    with Cluster(taskmanagers=2, slots=2, topics=["tx_out:4"]) as c:
        job = c.submit(JOB.format(count=COUNT), name="kafka-tx.yaml")
        ji = c.wait_state(job, ("FINISHED", "FAILED", "CANCELED"), 90, 0.2)
        check(ji["state"] == "FINISHED", "job %s: %s" % (ji["state"],
                                                         ji["failure"]))
        done = c.checkpoints(job)["counts"]["completed"]
        check(done >= 1, "checkpoints completed: %d" % done)
        lines = c.consume("tx_out", fmt="%k\t%s\n", committed=True)
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


if __name__ == "__main__":
    main([test_exactly_once_bounded])
