#!/usr/bin/env python3
"""seeds_latency.py - the seeds' latency table (issue 13): each seed
pipeline on `weir local`, fed by `weir gen` at its target rate for a fixed
time, end-to-end latency from Kafka to Kafka.

The pipelines (one SEEDS entry each: a job file, a generator kind, the
target rate and latency; docs/benchmarks.md "The seeds' latency table"):
  anomaly    examples/sensor-anomalies.yaml, `weir gen readings`
  sessions   examples/bench/seeds-sessions.yaml, `weir gen clicks`
  dashboards examples/bench/seeds-dashboard.yaml, `weir gen orders`
  fraud      examples/bench/seeds-fraud.yaml, `weir gen payments`
A job the JobManager refuses at submit (the fraud job while the pattern
operator is missing) prints its row as n/a with the reason.

Latency. Every Kafka record carries a timestamp: its CreateTime, stamped
by the producer's produce() call (weir gen's for the input, the weir
sink's for the output; the embedded Kafka keeps it as given). The latency
of a result is its output record's timestamp minus the timestamp of the
input record that completed it:
  anomaly   the reading the anomalous record is (same sensor_id and ts);
  fraud     the match's last event (card_id, ts = match_end);
  sessions  the session's last click (user_id, ts = window_end - gap):
            the session fires once the watermark passes window_end, so
            this includes the gap and the out-of-orderness bound in event
            time, divided by how much faster than the wall clock the
            generator's simulated clock runs (printed as "x wall");
  dashboards (processing-time windows) the window's end on the
            TaskManager's clock: no record arriving later can enter the
            window, so this is how long after the window closed its result
            was in Kafka; it leaves out the input's own trip to the window
            operator (the kafka rows of scripts/bench.sh: ~20 ms).
Nothing is subtracted. CreateTime is when the record was handed to
the producer, not when Kafka appended it: the row also prints how long
the generator's records waited for Kafka's acknowledgement (p50/p99 of
`weir gen -o json`'s ack_ms), an upper bound of the part of the latency
spent before the input was in Kafka, and how many records the job
dropped as late (weir_late_records_dropped_total).
Results completed by input records written in the
first --warmup seconds are not counted; results are read 2 s after the
generator stopped, so a run counts as behind (and the rate is halved, up
to --steps times) when the job's Kafka lag is then above a second of
input or its lag (sampled every second) grew over the run. Not its
latency: the generators' simulated clocks do not run at one speed (a
sessions run measured x37 to x120 the wall clock within 8 s), and
event-time waits shrink and grow with that speed. p50/p99 are over all
counted results of a run; the table shows the median over --runs runs
of each figure. Besides: the achieved input rate (records / gen's wall
time), and the CPU seconds of the JobManager and TaskManager per second
of run (weir local's own process, the embedded Kafka, is not counted;
the JSON line has it, and the generator's, as kafka_cpu_per_s and
gen_cpu_per_s).

    tests/bench/seeds_latency.py [--bin DIR] [--runs 3] [--seconds 10]
        [--warmup 2] [--scale 1.0] [--only anomaly,sessions,...]

--scale multiplies every target rate (the machine cannot reach them all:
the generator then runs as fast as it can, and the row says so). Python 3
standard library, kcat, and tests/integration/weirtest.py's Cluster.

What the machine can offer (--probe, on by default): before a
pipeline's runs, with no job running, `weir gen` writes 1 s of its target
rate (at most 500 K records) as fast as it can into a topic of its own that
nothing reads, then kcat reads it back. The row's "in max/s" is the
generator's rate into the embedded Kafka alone, and its note the CPU
microseconds a record costs the generator and the embedded Kafka (weir
local's process) and the rate a plain consumer reads it back at: a target
above what the input alone reaches here cannot be met here, whatever the
job does.
"""
import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# name, job file, its input and output topics, generator kind and flags,
# target rate (events/s) and target latency (ms), how a result maps to the
# input record that completed it (match: "record" = key + ts fields,
# "session" = key + window_end - gap, "window_end" = processing time).
SEEDS = [
    dict(name="anomaly", job="examples/sensor-anomalies.yaml",
         topics=("readings", "anomalies"), gen="readings",
         gen_args=["--keys", "1000"], rate=500000, target_ms=5000,
         match="record", key="sensor_id", ts="ts"),
    dict(name="sessions", job="examples/bench/seeds-sessions.yaml",
         topics=("clicks", "click_sessions"), gen="clicks",
         gen_args=["--keys", "10000"], rate=200000, target_ms=10000,
         match="session", key="user_id", gap_ms=30000),
    dict(name="dashboards", job="examples/bench/seeds-dashboard.yaml",
         topics=("orders", "order_dashboard"), gen="orders", gen_args=[],
         rate=100000, target_ms=1000, match="window_end"),
    dict(name="fraud", job="examples/bench/seeds-fraud.yaml",
         topics=("payments", "fraud_alerts"), gen="payments",
         gen_args=["--keys", "100000"], rate=50000, target_ms=100,
         match="record", key="card_id", ts="match_end"),
]
# The embedded Kafka keeps about 5 MB a partition: 64 hold 10 s of
# readings at 500 K/s (about 55 bytes each), read after the run.
IN_PARTITIONS, OUT_PARTITIONS = 64, 4

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--bin", default=os.path.join(REPO, "build", "release",
                                              "bin"))
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--seconds", type=float, default=10.0,
                help="how long the generator writes (10)")
ap.add_argument("--warmup", type=float, default=2.0,
                help="results of the first seconds are not counted (2)")
ap.add_argument("--scale", type=float, default=1.0,
                help="multiplies every target rate (1.0)")
ap.add_argument("--steps", type=int, default=3,
                help="halvings of the rate allowed while the job falls "
                "behind (3)")
ap.add_argument("--only", default="",
                help="comma-separated pipeline names (default: all)")
ap.add_argument("--no-probe", dest="probe", action="store_false",
                help="skip measuring the input alone (generator into the "
                "embedded Kafka, then a plain reader)")
ap.add_argument("--json", action="store_true",
                help="print one JSON line with every figure at the end")
args = ap.parse_args()
if not os.path.exists(os.path.join(args.bin, "weir")):
    sys.exit("seeds_latency: no %s/weir: build weir first or pass --bin"
             % args.bin)
os.environ["WEIR_BIN_DIR"] = os.path.abspath(args.bin)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import weirtest as wt  # noqa: E402  (needs WEIR_BIN_DIR first)

HZ = os.sysconf("SC_CLK_TCK")


def say(msg):
    print("seeds_latency: " + msg, file=sys.stderr, flush=True)


def ms_of(v):
    """A timestamp field of a JSON record: epoch ms or ISO-8601 UTC."""
    if isinstance(v, (int, float)):
        return int(v)
    d = datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ")
    d = d.replace(tzinfo=datetime.timezone.utc)
    return int(round(d.timestamp() * 1000))


def cpu_ticks(pids):
    t = 0
    for p in pids:
        with open("/proc/%d/stat" % p) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        t += int(fields[11]) + int(fields[12])
    return t


def records(c, topic):
    """(timestamp ms, value) of every record of topic (kcat)."""
    out = []
    for line in c.consume(topic, fmt="%T\t%s\n", timeout=120):
        ts, _, v = line.partition("\t")
        if v:
            out.append((int(ts), v))
    return out


def pct(xs, p):
    return xs[min(len(xs) - 1, (len(xs) * p) // 100)]


def latencies(seed, ins, outs, counted_from):
    """The latency of each counted result; unmatched results."""
    lat, unmatched = [], 0
    index = {}
    if seed["match"] != "window_end":
        for t, v in ins:
            r = json.loads(v)
            index[(r[seed["key"]], ms_of(r["ts"]))] = t
    for t, v in outs:
        r = json.loads(v)
        if seed["match"] == "window_end":
            t_in = ms_of(r["window_end"])
        else:
            ts = ms_of(r["window_end"]) - seed["gap_ms"] \
                if seed["match"] == "session" else ms_of(r[seed["ts"]])
            t_in = index.get((r[seed["key"]], ts))
            if t_in is None:
                unmatched += 1
                continue
        if t_in >= counted_from:
            lat.append((t_in, t - t_in))
    return lat, unmatched


def lag_grew(lags, rate):
    """Whether the job's Kafka lag grew through the run: the median of the
    samples of its last third above the first third's by more than half
    a second of input. With credit-based flow control a stage that cannot
    keep up stops the source, so this sees every stage's backlog."""
    if len(lags) < 3:
        return False
    third = max(1, len(lags) // 3)
    first = statistics.median(lags[:third])
    last = statistics.median(lags[-third:])
    return last > first + max(1000, rate / 2)


def event_speed(seed, ins):
    """How much faster than the wall clock the inputs' event time ran."""
    if len(ins) < 2 or seed["match"] == "window_end":
        return None
    ev = [ms_of(json.loads(v)["ts"]) for _, v in (ins[0], ins[-1])]
    wall = ins[-1][0] - ins[0][0]
    return (ev[1] - ev[0]) / wall if wall > 0 else None


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def probe_input(c, seed):
    """The input alone: the generator as fast as it can into a topic
    nothing reads (its rate, its and the embedded Kafka's CPU per
    record), then kcat reading it all back (its rate)."""
    topic = "%s_probe" % seed["topics"][0]
    count = max(10000, min(500000, int(seed["rate"] * args.scale)))
    kafka = [c.proc.pid]
    k0, g0, t0 = cpu_ticks(kafka), children_cpu(), time.monotonic()
    subprocess.run([wt.WEIR, "gen", seed["gen"], "--rate", "0", "--count",
                    str(count), "--topic", topic, "--bootstrap", c.bootstrap,
                    "--seed", "1"] + seed["gen_args"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=120)
    gen_s = time.monotonic() - t0
    gen_cpu, k1 = children_cpu() - g0, cpu_ticks(kafka)
    t1 = time.monotonic()
    n = len(c.consume(topic, fmt="%o\n", timeout=120))
    read_s = time.monotonic() - t1
    k2 = cpu_ticks(kafka)
    r = {"records": n, "gen_rate": n / gen_s, "read_rate": n / read_s,
         "gen_us": 1e6 * gen_cpu / max(n, 1),
         "kafka_in_us": 1e6 * (k1 - k0) / HZ / max(n, 1),
         "kafka_out_us": 1e6 * (k2 - k1) / HZ / max(n, 1)}
    say("%s input alone: %s" % (seed["name"], json.dumps(r)))
    return r


def one_run(c, seed, k, pids, rate):
    tin, tout = ("%s_%d" % (t, k) for t in seed["topics"])
    with open(os.path.join(REPO, seed["job"])) as f:
        text = f.read()
    for old, new in zip(seed["topics"], (tin, tout)):
        text = text.replace("topic: %s," % old, "topic: %s," % new)
    text = text.replace("startup: earliest", "startup: latest")
    count = int(rate * args.seconds)
    try:
        job = c.submit(text, name="%s-%d.yaml" % (seed["name"], k))
    except wt.Failure as e:
        return {"refused": str(e).strip().splitlines()[-1]}
    c.wait_running(job)
    c0, t0 = cpu_ticks(pids), time.monotonic()
    k0, g0 = cpu_ticks([c.proc.pid]), children_cpu()
    counted_from = int(time.time() * 1000 + args.warmup * 1000)
    # --count is what the rate would write in --seconds; a generator that
    # is slower is stopped then (SIGTERM: it stops within a second).
    errf, outf = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    g = subprocess.Popen([wt.WEIR, "-o", "json", "gen", seed["gen"],
                          "--rate", str(rate), "--count", str(count),
                          "--topic", tin, "--bootstrap", c.bootstrap,
                          "--seed", str(k)] + seed["gen_args"],
                         stdout=outf, stderr=errf)
    # The job's Kafka lag about every second while the generator writes.
    lags = []
    while g.poll() is None:
        if time.monotonic() - t0 > args.seconds + 1:
            g.terminate()
            g.wait(timeout=30)
            break
        try:
            g.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            lags.append(c.tm_metric("weir_kafka_consumer_lag_records",
                                    job=job))
    errf.seek(0)
    outf.seek(0)
    err, out = errf.read(), outf.read()
    errf.close()
    outf.close()
    try:
        ack = json.loads(out.decode()).get("ack_ms", {})
    except ValueError:
        ack = {}
    gen_s = time.monotonic() - t0
    gen_cpu = children_cpu() - g0
    # What was in flight when the generator stopped; then how far behind
    # the job's source still is (its lag metric is refreshed every second).
    time.sleep(2.0)
    lag = c.tm_metric("weir_kafka_consumer_lag_records", job=job)
    late = c.tm_metric("weir_late_records_dropped_total", job=job)
    cpu_s = (cpu_ticks(pids) - c0) / HZ
    kafka_s = (cpu_ticks([c.proc.pid]) - k0) / HZ
    wall_s = time.monotonic() - t0
    c.cancel(job)
    ins, outs = records(c, tin), records(c, tout)
    tl, unmatched = latencies(seed, ins, outs, counted_from)
    lat = sorted(x for _, x in tl)
    achieved = len(ins) / gen_s
    r = {"gen_rate": rate, "rate": achieved, "lag_records": lag,
         # behind by more than a second of input 2 s after the generator
         # stopped, or the lag grew over the run
         "lagging": lag > max(1000, achieved) or lag_grew(lags, achieved),
         "lags": lags, "in": len(ins),
         "out": len(outs), "counted": len(lat), "unmatched": unmatched,
         "cpu_per_s": cpu_s / wall_s, "kafka_cpu_per_s": kafka_s / wall_s,
         "gen_cpu_per_s": gen_cpu / gen_s,
         "event_speed": event_speed(seed, ins),
         "late": int(late), "ack_p50_ms": ack.get("p50"),
         "ack_p99_ms": ack.get("p99"),
         "gen": out.decode().strip() or err.decode().strip().splitlines()[-1:]}
    if lat:
        r.update(p50_ms=pct(lat, 50), p99_ms=pct(lat, 99), max_ms=lat[-1])
    return r


def probe_note(p):
    """The row's note on what the input alone reached here."""
    return ("input alone here: gen -> Kafka %.0f/s (%.1f us CPU a record "
            "in gen, %.1f in Kafka), Kafka -> kcat %.0f/s (%.1f us in "
            "Kafka)" % (p["gen_rate"], p["gen_us"], p["kafka_in_us"],
                        p["read_rate"], p["kafka_out_us"]))


def row(seed, runs, probe):
    """The table's row: the target rate, the rate the runs wrote at (a
    lower one than the target when the job fell behind there: "steps"
    halvings), medians of the runs at it; beside it what the input alone
    reached (probe, or None)."""
    name = seed["name"]
    inmax = "%9.0f" % probe["gen_rate"] if probe else "%9s" % "-"
    if "refused" in runs[0]:
        why = runs[0]["refused"]
        if "pattern" in why:
            why = "pattern operator missing"
        print("%-10s %9d %9s %s %8s %8s %8s %7s %9d  n/a (%s)" % (
            name, seed["rate"], "-", inmax, "-", "-", "-", "-",
            seed["target_ms"], why))
        return
    ok = [r for r in runs if "p50_ms" in r]
    rate = statistics.median(r["rate"] for r in runs)
    cpu = statistics.median(r["cpu_per_s"] for r in runs)
    sp = [r["event_speed"] for r in runs if r["event_speed"]]
    notes = ["event time x%.0f wall" % statistics.median(sp)] if sp else []
    late = [r["late"] for r in runs if "late" in r]
    if late:
        notes.append("late %d" % statistics.median(late))
    acks = [r for r in runs if r.get("ack_p50_ms") is not None]
    if acks:
        notes.append("input acked after p50 %d / p99 %d ms" % (
            statistics.median(r["ack_p50_ms"] for r in acks),
            statistics.median(r["ack_p99_ms"] for r in acks)))
    if runs[0]["gen_rate"] < seed["rate"] * args.scale:
        notes.append("target rate not sustained: halved %d times" %
                     runs[0]["steps"])
    if rate < 0.9 * runs[0]["gen_rate"]:
        notes.append("the generator reached %.0f%% of the %d/s asked "
                     "beside the job" % (100.0 * rate / runs[0]["gen_rate"],
                                         runs[0]["gen_rate"]))
    behind = any(r["lagging"] for r in runs)
    if behind:
        notes.append("job falling behind (in %d of %d runs)" % (
            sum(1 for r in runs if r["lagging"]), len(runs)))
    if probe:
        notes.append(probe_note(probe))
    if not ok:
        print("%-10s %9d %9.0f %s %8s %8s %8s %7.2f %9d  no result counted%s"
              % (name, seed["rate"], rate, inmax, "-", "-", "-", cpu,
                 seed["target_ms"], "; " + "; ".join(notes) if notes
                 else ""))
        return
    med = (lambda key: statistics.median(r[key] for r in ok))
    p99 = med("p99_ms")
    print("%-10s %9d %9.0f %s %8.0f %8.0f %8d %7.2f %9d  %s%s" % (
        name, seed["rate"], rate, inmax, med("p50_ms"), p99,
        int(med("counted")), cpu, seed["target_ms"],
        "not sustained" if behind else
        "meets" if p99 < seed["target_ms"] else "misses",
        "; " + "; ".join(notes) if notes else ""))


def bench_seed(c, s, pids, topic_no):
    """Halves the rate the generator reached (at most --steps times)
    while the job falls behind or no result was counted in a first run,
    then --runs runs in all at the rate that run reached."""
    rate, runs = max(1, int(s["rate"] * args.scale)), []
    for step in range(args.steps + 1):
        say("%s at %d/s (run %d)" % (s["name"], rate, topic_no[0]))
        r = one_run(c, s, topic_no[0], pids, rate)
        topic_no[0] += 1
        say(json.dumps(r))
        if "refused" in r:
            return [r]
        r["steps"] = step
        if (not r["lagging"] and "p50_ms" in r) or step == args.steps:
            runs.append(r)
            break
        rate = max(1, int(min(rate, r["rate"]) / 2))
    # The other runs at what the first one reached, not at more.
    rate = max(1, int(min(rate, runs[0]["rate"])))
    while len(runs) < args.runs:
        say("%s at %d/s (run %d)" % (s["name"], rate, topic_no[0]))
        r = one_run(c, s, topic_no[0], pids, rate)
        r["steps"] = runs[0]["steps"]
        topic_no[0] += 1
        say(json.dumps(r))
        runs.append(r)
    return runs


def main():
    only = [s for s in args.only.split(",") if s]
    seeds = [s for s in SEEDS if not only or s["name"] in only]
    topics = ["%s_probe:%d" % (s["topics"][0], IN_PARTITIONS)
              for s in seeds] if args.probe else []
    for k in range(1, args.runs + args.steps + 1):
        for s in seeds:
            topics += ["%s_%d:%d" % (s["topics"][0], k, IN_PARTITIONS),
                       "%s_%d:%d" % (s["topics"][1], k, OUT_PARTITIONS)]
    say("starting weir local (1 TaskManager x 4 slots) from %s" % args.bin)
    c = wt.Cluster(taskmanagers=1, slots=4, topics=topics)
    result, probes = {}, {}
    try:
        pids = c.pids_named("weir-jobmanager") + \
            c.pids_named("weir-taskmanager")
        for s in seeds:
            probes[s["name"]] = probe_input(c, s) if args.probe else None
            result[s["name"]] = bench_seed(c, s, pids, [1])
    finally:
        try:
            c.stop()
        finally:
            c.close()
    print("seeds' latency, Kafka append -> result's append (docs/"
          "benchmarks.md); %d CPUs, load %s; %g s a run, medians of %d "
          "runs" % (os.cpu_count(), " ".join(
              "%.2f" % x for x in os.getloadavg()), args.seconds, args.runs))
    print("%-10s %9s %9s %9s %8s %8s %8s %7s %9s  %s" % (
        "pipeline", "target/s", "in/s", "in max/s", "p50_ms", "p99_ms",
        "results", "cpu/s", "target_ms", "p99 vs target"))
    for s in seeds:
        row(s, result[s["name"]], probes[s["name"]])
    if args.json:
        print(json.dumps({"runs": result, "input_alone": probes},
                         sort_keys=True))


if __name__ == "__main__":
    main()
