"""test_upgrade.py - `weir upgrade` and POST /jobs/{id}/upgrade on `weir local`.

A windowed job with keyed state reads a 2-partition topic while records
keep arriving; it is upgraded (savepoint mode) to a version with a changed
filter and an added node. The committed output across the upgrade must be
exactly a run of the old version up to the savepoint's source offsets and
the new one after them: every window's count and sum computed here from
the input and those offsets, no window missing, none twice. Then two
upgrades that fail - a sink the new version cannot open, and a state
change without --allow-non-restored-state - are rolled back to the
running version from the same savepoint, exit 1 naming why, and the
output is still exact. Also: a job whose savepoint fails for real (a
savepoint directory under a file) is upgraded with --mode last-state
from its latest checkpoint, exactly; --mode stateless; POST /jobs with
savepointPath / allowNonRestoredState and POST /jobs/{id}/upgrade.
"""
import json
import os
import threading
import time
import urllib.request

from weirtest import (Cluster, check, checkpoint_offsets, main, sink_lines,
                      wait_for)

BASE = 1796000000000
CONFIG = "jobmanager: { heartbeat_interval: 300ms, heartbeat_timeout: 1500ms }\n"
TOPIC = "up_in"
PRODUCTS = ["p-0", "p-1", "p-2"]

JOB = """\
name: up-win
parallelism: 2
checkpointing: {{ interval: 300ms }}
restart: {{ strategy: none }}
sources:
  orders:
    kafka: {{ topic: {topic}, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ seq: long, product_id: string, amount: long, status: string, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: 0s }}
nodes:
  - id: paid
    from: orders
    filter: "{filter}"
  - id: w
    from: paid
    key_by: [product_id]
    window: {{ tumbling: 1s }}
    aggregate: {{ n: count(), revenue: sum(amount) }}
  - id: out
    from: w
    sink: {{ file: {{ path: "{out}" }} }}
{extra}"""

OLD_FILTER = "status == 'PAID'"
NEW_FILTER = "status == 'PAID' && amount > 300"
BIG = """\
  - id: big
    from: orders
    filter: "amount > 900"
  - id: big_out
    from: big
    sink: {{ file: {{ path: "{path}" }} }}
"""


def old_filter(r):
    return r["status"] == "PAID"


def new_filter(r):
    return r["status"] == "PAID" and r["amount"] > 300


def record(i):
    """Record i: partition i % 2 (its offset there is i // 2), event time
    10 ms apart, monotone in each partition."""
    return {"seq": i, "product_id": PRODUCTS[(i * 7) % 3],
            "amount": (i * 37) % 1000,
            "status": "NEW" if i % 5 == 0 else "PAID",
            "ts": BASE + 10 * i, "_p": i % 2}


def iso(ms):
    t = time.gmtime(ms // 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S.", t) + "%03dZ" % (ms % 1000)


def expected_windows(recs, switches):
    """{(product, start, end): (n, revenue)}: record r counted by the
    version that read it - switches: [(offsets, filter)], the first whose
    offset of r's partition is above r's offset (the last: every record
    from there on)."""
    acc = {}
    for r in recs:
        off = r["seq"] // 2
        f = switches[-1][1]
        for offs, ff in switches:
            if offs is not None and off < offs.get((TOPIC, r["_p"]), 0):
                f = ff
                break
        if not f(r):
            continue
        s = r["ts"] - r["ts"] % 1000
        k = (r["product_id"], iso(s), iso(s + 1000))
        n, rev = acc.get(k, (0, 0))
        acc[k] = (n + 1, rev + r["amount"])
    return acc


def windows_of(out):
    rows = [json.loads(l) for l in sink_lines(out, committed_only=True)]
    got = {}
    for r in rows:
        got[(r["product_id"], r["window_start"], r["window_end"])] = (
            r["n"], r["revenue"])
    return rows, got


class Producer(threading.Thread):
    """Produces records [lo, hi) in batches while an upgrade runs."""

    def __init__(self, c, lo, hi, batch=20, pause=0.1):
        super().__init__(daemon=True)
        self.c, self.lo, self.hi = c, lo, hi
        self.batch, self.pause = batch, pause
        self.error = None

    def run(self):
        try:
            for i in range(self.lo, self.hi, self.batch):
                self.c.produce(TOPIC, [record(k) for k in
                                       range(i, min(i + self.batch,
                                                    self.hi))])
                time.sleep(self.pause)
        except Exception as e:  # reported by the test
            self.error = e


def upgrade(c, job, path, *flags, rc=0):
    r = c.cli("-o", "json", "upgrade", job, path, *flags, check_rc=rc,
              timeout=120)
    return json.loads(r.stdout), r.stderr.decode()


def test_savepoint_upgrade_rollback_exact():
    with Cluster(taskmanagers=2, slots=2, topics=["%s:2" % TOPIC],
                 config=CONFIG) as c:
        out = os.path.join(c.dir, "out")
        big = os.path.join(c.dir, "big")
        kw = dict(topic=TOPIC, bootstrap=c.bootstrap, out=out)
        v1 = c.write("v1.yaml", JOB.format(filter=OLD_FILTER, extra="",
                                           **kw))
        v2 = c.write("v2.yaml", JOB.format(
            filter=NEW_FILTER, extra=BIG.format(path=big), **kw))
        # v3: v2 with a sink it cannot open (a directory under a file)
        v3 = c.write("v3.yaml", JOB.format(
            filter=NEW_FILTER,
            extra=BIG.format(path=os.path.join(v1, "no", "big")), **kw))
        # v4: window state of "w" claimed by no node
        v4 = c.write("v4.yaml", JOB.format(
            filter=NEW_FILTER, extra=BIG.format(path=big), **kw)
            .replace("id: w\n", "id: w2\n").replace("from: w\n",
                                                    "from: w2\n"))
        c.produce(TOPIC, [record(i) for i in range(0, 300)])
        job = c.submit(v1)
        c.wait_running(job, 30)
        c.wait_checkpoint(job, 1)

        # -- savepoint upgrade while records arrive
        p = Producer(c, 300, 900)
        p.start()
        res, err = upgrade(c, job, v2)
        p.join()
        check(p.error is None, "producer: %s" % p.error)
        check(res["rolled_back"] is False and res["job_id"] != job,
              "upgrade result %s" % res)
        for step in ("stopping job %s with savepoint" % job,
                     "started the new version", "a checkpoint completed"):
            check(step in err, "step '%s' printed: %s" % (step, err))
        sp2 = res["savepoint"]
        job2 = res["job_id"]
        # A partition the old version read nothing of has no offset: the
        # new one starts it at `earliest`, offset 0.
        off2 = checkpoint_offsets(sp2)
        check(0 < sum(off2.values()) < 900, "switch offsets %s" % off2)
        check(c.state(job) == "FINISHED", "old job FINISHED")
        names = [v["name"] for v in c.info(job2)["vertices"]]
        check(any("big" in n for n in names), "new vertices %s" % names)

        # -- a new version that cannot open its sink: rolled back
        c.produce(TOPIC, [record(i) for i in range(900, 1000)])
        res3, err3 = upgrade(c, job2, v3, rc=1)
        check(res3["rolled_back"] is True and res3["job_id"] not in
              (job2, None), "rollback result %s" % res3)
        check("rolled back" in err3 and "did not run" in err3,
              "the reason is printed: %s" % err3)
        job3 = res3["job_id"]
        check(c.info(job3)["spec_hash"] == c.info(job2)["spec_hash"],
              "the rolled-back job runs v2")
        c.wait_running(job3, 30)
        c.wait_checkpoint(job3, 1)
        # -- a state change without --allow-non-restored-state
        c.produce(TOPIC, [record(i) for i in range(1000, 1100)])
        res4, err4 = upgrade(c, job3, v4, rc=1)
        check(res4["rolled_back"] is True, "rollback result %s" % res4)
        check("w" in err4 and "allow" in err4.lower(),
              "names the unclaimed state: %s" % err4)
        job4 = res4["job_id"]
        c.wait_running(job4, 30)

        # -- the whole output: v1 up to sp2's offsets, v2 after
        c.produce(TOPIC, [record(i) for i in range(1100, 1200)])
        c.produce(TOPIC, [dict(record(1200 + q), ts=BASE + 10 ** 8,
                               status="NEW", _p=q) for q in range(2)])
        recs = [record(i) for i in range(1200)]
        want = expected_windows(recs, [(off2, old_filter),
                                       (None, new_filter)])
        wait_for(lambda: len(windows_of(out)[1]) >= len(want), 60,
                 "%d windows committed" % len(want))
        rows, got = windows_of(out)
        check(len(rows) == len(got), "no window twice (%d rows, %d "
              "windows)" % (len(rows), len(got)))
        missing = set(want) - set(got)
        extra = set(got) - set(want)
        check(not missing and not extra, "%d missing, %d extra: %s" % (
            len(missing), len(extra), sorted(missing | extra)[:3]))
        bad = [k for k in want if want[k] != got[k]]
        check(not bad, "windows differ: %s" % [(k, want[k], got[k])
                                               for k in bad[:3]])
        want_big = sorted(r["seq"] for r in recs if r["amount"] > 900 and
                          r["seq"] // 2 >= off2.get((TOPIC, r["_p"]), 0))
        got_big = sorted(json.loads(l)["seq"]
                         for l in sink_lines(big, committed_only=True))
        wait_for(lambda: len(sink_lines(big, committed_only=True)) >=
                 len(want_big), 30, "the added node's output")
        got_big = sorted(json.loads(l)["seq"]
                         for l in sink_lines(big, committed_only=True))
        check(got_big == want_big, "added node: %d records, want %d" %
              (len(got_big), len(want_big)))
        print("     %d windows exact across 3 upgrades; switch at %s" %
              (len(want), off2))
        c.cancel(job4)


SIMPLE = """\
name: up-simple
parallelism: 1
checkpointing: {{ interval: 200ms }}
restart: {{ strategy: none }}
sources:
  orders:
    kafka: {{ topic: {topic}, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ seq: long, product_id: string, amount: long, status: string, ts: timestamp }}
nodes:
  - id: f
    from: orders
    filter: "{filter}"
  - id: out
    from: f
    sink: {{ file: {{ path: "{out}" }} }}
"""


def rest(c, method, path, body=None, ctype="application/yaml"):
    req = urllib.request.Request(
        "http://127.0.0.1:%d%s" % (c.rest_port, path), method=method,
        data=body.encode() if body is not None else None,
        headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_last_state_stateless_and_rest():
    topic = "ls_in"
    with Cluster(taskmanagers=1, slots=2, topics=["%s:1" % topic],
                 config=CONFIG) as c:
        out = os.path.join(c.dir, "ls-out")
        kw = dict(topic=topic, bootstrap=c.bootstrap, out=out)
        v1 = c.write("s1.yaml", SIMPLE.format(filter="amount > 100", **kw))
        v2 = c.write("s2.yaml", SIMPLE.format(filter="amount > 500", **kw))
        recs = [dict(record(i), _p=0) for i in range(400)]
        c.produce(topic, recs[:200])
        job = c.submit(v1)
        c.wait_running(job, 30)
        c.wait_checkpoint(job, 2)

        # The savepoint fails for real: its directory is under a file.
        res, err = upgrade(c, job, v2, "--savepoint-dir",
                           os.path.join(v1, "sp"), rc=1)
        check("savepoint failed" in err and "nothing changed" in err,
              "why: %s" % err)
        check(res["job_id"] == job and not res["rolled_back"],
              "result %s" % res)
        check(c.state(job) == "RUNNING", "the job keeps running")

        c.produce(topic, recs[200:300])
        res, err = upgrade(c, job, v2, "--mode", "last-state")
        chk = res["savepoint"]
        check("/chk-" in chk and not res["rolled_back"], "result %s" % res)
        check(c.state(job) == "CANCELED", "old job cancelled")
        check(os.path.isfile(os.path.join(chk[len("file://"):],
                                          "_metadata")),
              "the checkpoint outlives the cancel")
        job2 = res["job_id"]
        k = checkpoint_offsets(chk).get((topic, 0), 0)
        c.produce(topic, recs[300:])
        want = sorted(r["seq"] for r in recs
                      if (r["amount"] > 100 if r["seq"] < k
                          else r["amount"] > 500))
        wait_for(lambda: len(sink_lines(out, True)) >= len(want), 30,
                 "%d records committed" % len(want))
        got = sorted(json.loads(l)["seq"] for l in sink_lines(out, True))
        check(got == want, "last-state: %d records, want %d (switch %d)" %
              (len(got), len(want), k))

        # stateless: cancel and start without state
        res, err = upgrade(c, job2, v1, "--mode", "stateless")
        check(res["savepoint"] is None and not res["rolled_back"],
              "stateless result %s" % res)
        check(c.state(job2) == "CANCELED", "stateless cancelled the old")
        job3 = res["job_id"]
        check(c.checkpoints(job3)["latest"]["restored"] is None,
              "started without state")

        # REST: validation, then POST /jobs/{id}/upgrade
        yaml2 = open(v2).read()
        for q, what in (("savepointPath=relative/x", "savepointPath"),
                        ("allowNonRestoredState=yes",
                         "allowNonRestoredState"),
                        ("parallelism=x", "parallelism")):
            st, b = rest(c, "POST", "/jobs?" + q, yaml2)
            check(st == 400 and what in b["errors"][0],
                  "POST /jobs?%s: %d %s" % (q, st, b))
        st, b = rest(c, "POST", "/jobs/%s/upgrade?mode=fast" % job3, yaml2)
        check(st == 400 and "mode" in b["errors"][0], "bad mode %s" % b)
        st, b = rest(c, "POST", "/jobs/%s/upgrade" % job3, yaml2)
        check(st == 202, "POST upgrade %d %s" % (st, b))
        rid = b["request-id"]

        def completed():
            st, b = rest(c, "GET", "/jobs/%s/upgrade/%s" % (job3, rid))
            return b if b["status"]["id"] == "COMPLETED" else None
        b = wait_for(completed, 60, "the REST upgrade")
        check(b["rolled-back"] is False and b["jid"] not in (None, job3)
              and "savepoint-" in b["savepoint"], "REST upgrade %s" % b)
        job4 = b["jid"]
        # POST /jobs from that savepoint, Flink's parameter names
        c.cli("stop", job4, "--savepoint-dir", os.path.join(c.dir, "sps"),
              timeout=120)
        sp = c.checkpoints(job4)["latest"]["savepoint"]["external_path"]
        st, b = rest(c, "POST", "/jobs?savepointPath=%s"
                     "&allowNonRestoredState=true" %
                     urllib.request.quote(sp, safe=""), yaml2)
        check(st == 200, "POST /jobs from a savepoint %d %s" % (st, b))
        cp = c.checkpoints(b["job_id"])
        check(cp["latest"]["restored"]["external_path"] == sp,
              "restored from %s: %s" % (sp, cp["latest"]["restored"]))
        c.cancel(b["job_id"])


if __name__ == "__main__":
    main([test_savepoint_upgrade_rollback_exact,
          test_last_state_stateless_and_rest])
