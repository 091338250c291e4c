"""test_cep.py - the pattern (CEP) operator against a brute-force reference.

Payments-like events of several cards (a Kafka topic of 4 partitions,
event times out of order within max_out_of_orderness; planted decline
bursts, account takeovers, quiet spells that time partial matches out)
feed one job with three `pattern:` nodes, each into an exactly-once file
sink (checkpoints):

- fraud: the seed rule "three DECLINED then APPROVED within 5 minutes"
  (times: 3, contiguity next, skip past_last_event), its expired partial
  matches to a timeout_output read by a fourth sink;
- takeover: the seed rule "a purchase above 10x the customer's average
  within 1 minute of a password change": two to six approved purchases
  (followed_by), a password change, then the card's very next event
  (next) a purchase above 10x avg(buys.amount) less than a minute after
  the change; it emits the purchases' sum, avg, min, max and count;
- spree: followed_by, an optional step and one_or_more (no_skip: every
  combination is a match): a login, maybe a password change, approved
  purchases, then a decline, within 3 minutes.

A fifth node, `loose`, sees only a burst of `tick` records of a card of
their own: its partial matches double with each one past the per-key
bound, and the run counts exactly the dropped ones in
weir_cep_partial_matches_dropped_total and warns once.

The committed output of each must equal, as a multiset, what docs/cep.md's
definition gives when computed here by enumerating every assignment of
events to steps (not the engine's algorithm): at parallelism 1, at
parallelism 4 over 2 TaskManagers, and at parallelism 4 with a
TaskManager SIGKILLed mid-run (a replacement started): nothing lost,
nothing twice. At the end of the parallelism-1 run, records behind its
watermark are dropped and counted by each pattern. The takeover check
also shows it would see a wrong aggregate: max for avg changes rows."""
import collections
import glob
import json
import math
import os
import random
import time

from test_anomaly import iso_ms, restarts
from test_joins import late_dropped
from weirtest import Cluster, check, main, sink_lines, wait_for

BASE = 1797000000000  # epoch ms, a whole second
OOO_MS = 2000
PARTS = 4
CARDS = ["card-%d" % i for i in range(6)]
N = 1500
INF = math.inf

CONFIG = """\
jobmanager: { heartbeat_interval: 300ms, heartbeat_timeout: 1500ms }
"""

JOB = """\
name: cep-{name}
parallelism: {p}
checkpointing: {{ interval: 200ms, timeout: 10s, retained: 3 }}
restart: {{ strategy: fixed_delay, delay: 200ms, attempts: 100 }}
sources:
  pay:
    kafka: {{ topic: {topic}, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ card_id: string, kind: string, status: string, amount: double, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: {ooo}ms }}
nodes:
  - id: fraud
    from: pay
    key_by: [card_id]
    pattern:
      steps:
        - {{ name: declined, where: "status == 'DECLINED'", times: 3 }}
        - {{ name: approved, where: "status == 'APPROVED'" }}
      contiguity: next
      within: 5m
      skip: past_last_event
      emit: {{ first_decline: "first(declined.ts)", amount: "approved.amount" }}
      timeout_output: fraud_timeouts
  - id: takeover
    from: pay
    key_by: [card_id]
    pattern:
      steps:
        - {{ name: buys, where: "kind == 'purchase' && status == 'APPROVED'", times: [2, 6] }}
        - {{ name: pw, where: "kind == 'password_change'" }}
        - {{ name: big, where: "kind == 'purchase' && amount > 10 * avg(buys.amount) && ts - pw.ts < 60000", contiguity: next }}
      contiguity: followed_by
      within: 10m
      skip: past_last_event
      emit: {{ changed_at: "pw.ts", avg_amount: "avg(buys.amount)", total: "sum(buys.amount)", least: "min(buys.amount)", most: "max(buys.amount)", buys: "count(buys)", amount: "big.amount" }}
  - id: spree
    from: pay
    key_by: [card_id]
    pattern:
      steps:
        - {{ name: login, where: "kind == 'login'" }}
        - {{ name: pw, where: "kind == 'password_change'", optional: true }}
        - {{ name: buys, where: "kind == 'purchase' && status == 'APPROVED'", one_or_more: true }}
        - {{ name: dec, where: "status == 'DECLINED'" }}
      within: 3m
      emit: {{ pws: "count(pw)", buys: "count(buys)", first_buy: "first(buys.amount)", last_buy: "buys.amount", declined: "dec.amount" }}
  - id: loose
    from: pay
    key_by: [card_id]
    pattern:
      steps:
        - {{ name: ticks, where: "kind == 'tick'", one_or_more: true }}
        - {{ name: tock, where: "kind == 'tock'" }}
      contiguity: followed_by_any
      within: 1h
{sinks}"""

SINK = """\
  - id: out_{n}
    from: {n}
    sink: {{ file: {{ path: "{out}/{n}" }} }}
"""

OUTPUTS = ("fraud", "fraud_timeouts", "takeover", "spree")
# Read by a sink, not compared: it matches nothing.
SINKS = OUTPUTS + ("loose",)


def gen(seed):
    """Per card: events 5-60 s apart (sometimes a quiet 6-8 minutes),
    decline bursts and takeovers planted; merged in production order,
    disordered by less than the bound."""
    rnd = random.Random(seed)
    recs = []
    for card in CARDS:
        t, level, script = BASE + rnd.randrange(60000), rnd.uniform(20, 200), []
        for _ in range(N // len(CARDS)):
            amount = round(level * min(3.0, max(0.2, rnd.lognormvariate(
                0, 0.4))), 2)
            kind, status = "purchase", "APPROVED"
            if not script:
                u = rnd.random()
                if u < 0.04:
                    script = ["D", "D", "D", "A"]
                elif u < 0.08:
                    script = ["PW", "BIG"]
                elif u < 0.20:
                    script = ["LOGIN"]
                elif u < 0.24:
                    script = ["PW"]
                elif u < 0.40:
                    script = ["D"]
                else:
                    script = ["A"]
            step = script.pop(0)
            if step == "D":
                status = "DECLINED"
            elif step == "PW":
                kind, amount = "password_change", 0.0
            elif step == "LOGIN":
                kind, amount = "login", 0.0
            elif step == "BIG":
                amount = round(level * rnd.uniform(15, 25), 2)
            recs.append({"card_id": card, "kind": kind, "status": status,
                         "amount": amount, "ts": t,
                         "_p": rnd.randrange(PARTS)})
            t += (rnd.randrange(360000, 480000) if rnd.random() < 0.03
                  else rnd.randrange(5000, 60000))
    return sorted(recs, key=lambda r: r["ts"] + rnd.randrange(OOO_MS - 200))


def flush_records(last_ts):
    """One far-future record per partition: the watermark passes every
    event and every `within` (a card of its own that no step takes)."""
    return [{"card_id": "zz", "kind": "flush", "status": "NONE",
             "amount": 0.0, "ts": last_ts + 3600000, "_p": p}
            for p in range(PARTS)]


# A card's burst of ticks, after the data and before the flush: each
# partial match of `loose` takes the next tick and also lets it go by, so
# after the k-th tick 2^k - 1 of them, past TM_CEP_MAX_PARTIALS (1,024)
# from the 11th: 2n + 1 made of n, the excess dropped.
TICKS = 12
MAX_PARTIALS = 1024


def tick_records(last_ts):
    return [{"card_id": "zz-loose", "kind": "tick", "status": "NONE",
             "amount": 0.0, "ts": last_ts + 10000 + 1000 * i, "_p": 0}
            for i in range(TICKS)]


def ticks_dropped():
    n = dropped = 0
    for _ in range(TICKS):
        made = 2 * n + 1
        n = min(made, MAX_PARTIALS)
        dropped += made - n
    return dropped


# Behind every watermark once the flush records are read: dropped.
LATE = [{"card_id": CARDS[0], "kind": "purchase", "status": "DECLINED",
         "amount": 1.0, "ts": BASE + 1000 * i, "_p": i} for i in range(3)]


# ---- the reference: docs/cep.md's definition, by enumeration -----------

class Step:
    def __init__(self, name, cond, lo=1, hi=1, optional=False,
                 contiguity="followed_by"):
        self.name, self.cond, self.lo, self.hi = name, cond, lo, hi
        self.optional, self.contiguity = optional, contiguity


class Pattern:
    def __init__(self, steps, within, skip, emit, aggs=()):
        self.steps, self.within, self.skip, self.emit = (steps, within,
                                                         skip, emit)
        # the (step, field)s aggregates read, fields in schema order
        self.aggs = aggs


def last(ctx, name):
    return ctx[name][-1] if ctx.get(name) else None


def values(ctx, name, field):
    return [e[field] for e in ctx.get(name, []) if e[field] is not None]


def agg_sum(ctx, name, field):
    """Added in event order (Python's sum() compensates floats)."""
    v = values(ctx, name, field)
    if not v:
        return None
    total = 0.0
    for x in v:
        total += x
    return total


def agg_avg(ctx, name, field):
    v = values(ctx, name, field)
    return agg_sum(ctx, name, field) / len(v) if v else None


def agg_min(ctx, name, field):
    v = values(ctx, name, field)
    return min(v) if v else None


def agg_max(ctx, name, field):
    v = values(ctx, name, field)
    return max(v) if v else None


def takeover(avg):
    """The takeover rule with avg as "the customer's average" (agg_max
    shows what a wrong aggregate changes)."""
    return Pattern(
        [Step("buys", lambda e, x: e["kind"] == "purchase" and
              e["status"] == "APPROVED", 2, 6),
         Step("pw", lambda e, x: e["kind"] == "password_change"),
         Step("big", lambda e, x: e["kind"] == "purchase" and
              e["amount"] > 10 * avg(x, "buys", "amount") and
              e["ts"] - last(x, "pw")["ts"] < 60000, contiguity="next")],
        600000, "past_last_event",
        lambda x: {"changed_at": x["pw"][-1]["ts"],
                   "avg_amount": avg(x, "buys", "amount"),
                   "total": agg_sum(x, "buys", "amount"),
                   "least": agg_min(x, "buys", "amount"),
                   "most": agg_max(x, "buys", "amount"),
                   "buys": len(x["buys"]),
                   "amount": x["big"][-1]["amount"]},
        aggs=[("buys", "amount")])


PATTERNS = {
    "fraud": Pattern(
        [Step("declined", lambda e, x: e["status"] == "DECLINED", 3, 3,
              contiguity="next"),
         Step("approved", lambda e, x: e["status"] == "APPROVED",
              contiguity="next")],
        300000, "past_last_event",
        lambda x: {"first_decline": x["declined"][0]["ts"],
                   "amount": x["approved"][-1]["amount"]
                   if x.get("approved") else None}),
    "takeover": takeover(agg_avg),
    "spree": Pattern(
        [Step("login", lambda e, x: e["kind"] == "login"),
         Step("pw", lambda e, x: e["kind"] == "password_change",
              optional=True),
         Step("buys", lambda e, x: e["kind"] == "purchase" and
              e["status"] == "APPROVED", 1, INF),
         Step("dec", lambda e, x: e["status"] == "DECLINED")],
        180000, "no_skip",
        lambda x: {"pws": len(x.get("pw", [])),
                   "buys": len(x["buys"]),
                   "first_buy": x["buys"][0]["amount"],
                   "last_buy": x["buys"][-1]["amount"],
                   "declined": x["dec"][-1]["amount"]}),
}


def options(pat, s, c):
    """The steps the next event may take after c events at step s (s -1:
    none yet): s again while it may repeat, then the next step and, past
    optional ones, the steps after them."""
    out = [s] if s >= 0 and c < pat.steps[s].hi else []
    if s < 0 or c >= pat.steps[s].lo:
        t = s + 1
        while t < len(pat.steps):
            out.append(t)
            if not pat.steps[t].optional:
                break
            t += 1
    return out


def complete(pat, s, c):
    return s == len(pat.steps) - 1 and c >= pat.steps[s].lo


def contiguous(pat, ev, t, p, q, ctx):
    """Event q may follow matched event p at step t (rule 3)."""
    how = pat.steps[t].contiguity
    if how == "next":
        return q == p + 1
    if how == "followed_by":
        return not any(pat.steps[t].cond(ev[k], ctx)
                       for k in range(p + 1, q))
    return True


def enumerate_matches(pat, ev):
    """Every assignment of the key's events to steps that satisfies rules
    1-5: [(assigned [(step, index)], ctx)]."""
    found = []

    def extend(assigned, ctx, s, c):
        if complete(pat, s, c):
            found.append((list(assigned), {k: list(v) for k, v in
                                           ctx.items()}))
        p = assigned[-1][1]
        start = ev[assigned[0][1]]["ts"]
        for t in options(pat, s, c):
            for q in range(p + 1, len(ev)):
                if ev[q]["ts"] - start >= pat.within:
                    break
                if not contiguous(pat, ev, t, p, q, ctx):
                    break
                if pat.steps[t].cond(ev[q], ctx):
                    name = pat.steps[t].name
                    ctx.setdefault(name, []).append(ev[q])
                    assigned.append((t, q))
                    extend(assigned, ctx, t, c + 1 if t == s else 1)
                    assigned.pop()
                    ctx[name].pop()

    for i in range(len(ev)):
        for t in options(pat, -1, 0):
            if pat.steps[t].cond(ev[i], {}):
                extend([(t, i)], {pat.steps[t].name: [ev[i]]}, t, 1)
    return found


def nulls_first(v):
    return (v is not None, v if v is not None else 0)


def order_key(pat, assigned, ctx):
    """docs/cep.md's order of the matches one event completes: by their
    events' positions, then (ties of followed_by_any loops) by the
    aggregates, step by step, field by field in schema order."""
    key = [assigned[0][1]]
    for s in range(len(pat.steps)):
        idx = [q for t, q in assigned if t == s]
        key += [idx[0], -len(idx), idx[-1]] if idx else [INF, 0, INF]
    for step in pat.steps:
        for name, field in [(n, f) for n, f in pat.aggs
                            if n == step.name and ctx.get(n)]:
            key += [nulls_first(f(ctx, name, field)) for f in
                    (agg_sum, agg_min, agg_max)]
            key.append(len(values(ctx, name, field)))
    return key


def emitted(pat, ev):
    """The matches after the skip strategy: [(assigned, ctx)]."""
    ms = sorted(enumerate_matches(pat, ev),
                key=lambda m: (m[0][-1][1], order_key(pat, m[0], m[1])))
    if pat.skip == "no_skip":
        return ms
    out, floor = [], -1
    for m in ms:
        if m[0][0][1] > floor:
            out.append(m)
            floor = m[0][-1][1]
    return out


def strict_timeouts(pat, ev, matches):
    """The expired partial matches of a pattern whose every step is
    `next`: a run of consecutive events from a start, extended while the
    key's next event takes a step, expires when the next event is
    `within` or more after the start (or there is none: the flush); not
    if a match discarded it (past_last_event) first."""
    ends = [m[0][-1][1] for m in matches]
    out = []
    for i in range(len(ev)):
        live = [([(t, i)], t, 1) for t in options(pat, -1, 0)
                if pat.steps[t].cond(ev[i], {})]
        while live:
            grown = []
            for assigned, s, c in live:
                j = assigned[-1][1]
                ctx = collections.defaultdict(list)
                for t, q in assigned:
                    ctx[pat.steps[t].name].append(ev[q])
                if complete(pat, s, c):
                    continue
                if (j + 1 >= len(ev) or
                        ev[j + 1]["ts"] - ev[i]["ts"] >= pat.within):
                    if not any(i <= m <= j for m in ends):
                        out.append((assigned, dict(ctx)))
                    continue
                for t in options(pat, s, c):
                    if pat.steps[t].cond(ev[j + 1], ctx):
                        grown.append((assigned + [(t, j + 1)], t,
                                      c + 1 if t == s else 1))
            live = grown
    return out


def row(pat, ev, key, m):
    assigned, ctx = m
    r = {"card_id": key, "match_start": ev[assigned[0][1]]["ts"],
         "match_end": ev[assigned[-1][1]]["ts"]}
    r.update(pat.emit(ctx))
    return tuple(sorted(r.items()))


def reference(recs, patterns=PATTERNS):
    """{output: Counter of rows}."""
    by = collections.defaultdict(list)
    for r in recs:
        by[r["card_id"]].append(r)
    ref = {n: collections.Counter() for n in OUTPUTS}
    for key, ev in by.items():
        ev.sort(key=lambda r: r["ts"])
        for name, pat in patterns.items():
            ms = emitted(pat, ev)
            ref[name].update(row(pat, ev, key, m) for m in ms)
            if name == "fraud":
                ref["fraud_timeouts"].update(
                    row(pat, ev, key, m)
                    for m in strict_timeouts(pat, ev, ms))
    return ref


# ---- the runs ------------------------------------------------------------

TS_FIELDS = ("match_start", "match_end", "first_decline", "changed_at")


def committed(out, name):
    n = collections.Counter()
    for line in sink_lines(os.path.join(out, name), committed_only=True):
        r = json.loads(line)
        for f in TS_FIELDS:
            if r.get(f) is not None:
                r[f] = iso_ms(r[f])
        n[tuple(sorted(r.items()))] += 1
    return n


def submit(c, name, p, topic, out):
    sinks = "".join(SINK.format(n=n, out=out) for n in SINKS)
    return c.submit(JOB.format(name=name, p=p, topic=topic,
                               bootstrap=c.bootstrap, ooo=OOO_MS,
                               sinks=sinks), name=name + ".yaml")


def dropped_warnings(c, job):
    """The TaskManagers' TM-CEP-PARTIALS-DROPPED lines about job."""
    n = 0
    for path in glob.glob(os.path.join(c.dir, "log", "*.log")):
        with open(path, errors="replace") as f:
            n += sum(1 for line in f if "TM-CEP-PARTIALS-DROPPED" in line
                     and "job=%s " % job in line)
    return n


def check_exact(c, job, out, ref, what):
    """Every output's rows committed, two checkpoints more (a duplicate
    would show), then each compared exactly; no record counted late."""
    def done():
        return all(sum(committed(out, n).values()) >= sum(ref[n].values())
                   for n in OUTPUTS)
    wait_for(done, 60, "%s: every output's rows committed" % what,
             interval_s=0.2)
    c.wait_checkpoint(job, c.completed_checkpoints(job) + 2, 30)
    for n in OUTPUTS:
        got = committed(out, n)
        missing, extra = ref[n] - got, got - ref[n]
        check(not missing and not extra,
              "%s %s: %d rows missing (%s), %d extra (%s)" %
              (what, n, sum(missing.values()), list(missing)[:2],
               sum(extra.values()), list(extra)[:2]))
    check(late_dropped(c, job) == 0, "%s: records counted late" % what)


def test_cep_matches_reference():
    recs = gen(21)
    ref = reference(recs)
    figures = ", ".join("%s %d" % (n, sum(ref[n].values())) for n in OUTPUTS)
    for n in OUTPUTS:
        check(sum(ref[n].values()) >= 5, "the input makes enough %s: %s" %
              (n, figures))
    check(any(dict(r)["pws"] for r in ref["spree"]) and
          any(dict(r)["buys"] > 1 for r in ref["spree"]),
          "spree matches with a password change and with several buys")
    check(len({dict(r)["buys"] for r in ref["takeover"]}) > 1,
          "takeovers averaging different numbers of purchases")
    # The check sees a wrong aggregate: max for avg changes rows.
    wrong = reference(recs, {"takeover": takeover(agg_max)})["takeover"]
    missing = sum((ref["takeover"] - wrong).values())
    extra = sum((wrong - ref["takeover"]).values())
    check(missing > 0 and extra > 0,
          "avg replaced with max changes takeover rows")
    print("     takeover with max for avg: %d matches instead of %d, "
          "%d rows missing, %d extra" % (sum(wrong.values()),
                                         sum(ref["takeover"].values()),
                                         missing, extra))
    last_ts = max(r["ts"] for r in recs)
    flush = flush_records(last_ts)
    with Cluster(taskmanagers=2, slots=2, topics=["cp:4", "ck:4"],
                 config=CONFIG) as c:
        c.produce("cp", recs + tick_records(last_ts) + flush)
        for p in (4, 1):
            t0 = time.monotonic()
            out = os.path.join(c.dir, "out-%d" % p)
            job = submit(c, "p%d" % p, p, "cp", out)
            check_exact(c, job, out, ref, "p=%d" % p)
            print("     p=%d: %d events, %d cards: exact (%s) (%.1fs)" %
                  (p, len(recs), len(CARDS), figures,
                   time.monotonic() - t0))
            if p != 1:
                c.cancel(job)
        # Late records, once the run's watermark passed the flush records
        # (its output is complete): each of the four patterns drops them.
        c.produce("cp", LATE)
        wait_for(lambda: late_dropped(c, job) == 4 * len(LATE), 30,
                 "p=1: the late records dropped")
        # The ticks' partial matches past the bound: counted exactly,
        # one warning (rate-limited).
        got = c.tm_metric("weir_cep_partial_matches_dropped_total", job=job)
        check(got == ticks_dropped(),
              "p=1: %s partial matches counted dropped, not %d" %
              (got, ticks_dropped()))
        wait_for(lambda: dropped_warnings(c, job) > 0, 10,
                 "p=1: a TM-CEP-PARTIALS-DROPPED warning")
        check(dropped_warnings(c, job) == 1,
              "p=1: %d drop warnings, not one" % dropped_warnings(c, job))
        c.cancel(job)

        # A TaskManager SIGKILLed mid-run, records still coming.
        t0 = time.monotonic()
        out = os.path.join(c.dir, "out-kill")
        job = submit(c, "kill", 4, "ck", out)
        c.wait_running(job, 30)
        half = len(recs) // 2
        c.produce("ck", recs[:half])
        c.wait_checkpoint(job, c.completed_checkpoints(job) + 2, 30)
        before = restarts(c, job)
        c.kill_taskmanager(job=job, rnd=random.Random(3))
        c.start_taskmanager()
        c.produce("ck", recs[half:])
        wait_for(lambda: restarts(c, job) > before, 30, "a restart")
        c.wait_running(job, 60)
        c.produce("ck", flush)
        check_exact(c, job, out, ref, "p=4 with a SIGKILL")
        c.cancel(job)
        print("     p=4, TaskManager SIGKILLed mid-run: exact, %d "
              "restart(s) (%.1fs)" % (restarts(c, job) - before,
                                      time.monotonic() - t0))


if __name__ == "__main__":
    main([test_cep_matches_reference])
