"""test_prometheus.py - deploy/prometheus and deploy/grafana against a real
Prometheus scraping a real cluster.

weir local with 3 TaskManagers (every /metrics URL from DIR/weir.env's
WEIR_METRICS) runs an event-time Kafka job held back by a slow file sink
(the WEIR_FAULT_SINK_SLEEP_US fault point), so it lags. Prometheus
(Debian's) scrapes every daemon each second and evaluates a copy of
deploy/prometheus/weir-alerts.yml whose `for:` are 0 (the expressions are
the shipped ones). Then:

- every PromQL expression of deploy/grafana/weir.json (its template
  variables replaced: $job_name by a regex matching every job,
  $__rate_interval by a few scrapes) returns data, and its job_name
  variable has values;
- every alert expression is valid PromQL (the query API accepts it);
- no series has a label weir calls `job` (Prometheus would rename it
  exported_job), on the daemons' texts and in Prometheus, and
  `promtool check metrics` finds nothing to say about the texts but the
  unit in SPEC's weir_current_watermark_ms;
- the job is stopped with a savepoint: the last consumer lag it reports
  per partition is what kcat says - the high watermark (kcat -Q) minus
  the offset committed for the job's consumer group (the messages a kcat
  group member reads from there to the end);
- a job failing on an invalid record restarts until its strategy gives
  up: WeirJobRestarting (cause task_failure) and WeirJobFailed fire;
- a TaskManager killed with SIGKILL: WeirTaskManagerLost fires.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.parse

import yaml

from weirtest import (Cluster, check, free_port, http_get, main, run, spawn,
                      wait_for)

SRC = os.environ.get("WEIR_SOURCE_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..")
RULES = os.path.join(SRC, "deploy", "prometheus", "weir-alerts.yml")
STATIC = os.path.join(SRC, "deploy", "prometheus", "static.yml")
DASHBOARD = os.path.join(SRC, "deploy", "grafana", "weir.json")
PARTS = 3
RECORDS = 30000
BASE_TS = 1796000000000

CONFIG = """\
jobmanager: { heartbeat_interval: 300ms, heartbeat_timeout: 1500ms }
"""

LAGGING = """\
name: lagging
parallelism: 2
checkpointing: {{ interval: 1s }}
restart: {{ strategy: fixed_delay, delay: 500ms, attempts: 100 }}
sources:
  ev:
    kafka: {{ topic: ev, bootstrap: "{bootstrap}", startup: earliest, group: prom-lag }}
    format: json
    schema: {{ k: string, n: long, ts: timestamp }}
    event_time: {{ field: ts, max_out_of_orderness: 100ms }}
nodes:
  - id: out
    from: ev
    sink: {{ file: {{ path: "{out}" }} }}
"""

# One invalid record and invalid.policy fail: every attempt fails on it.
# Restarts 1 s apart: Prometheus (scraping every second) sees the counter
# climb - increase() does not count a series' first sample, so restarts
# faster than the scrapes (a loaded CI machine) could show an increase of
# 2 and never fire the alert (> 2).
FAILING = """\
name: failing
parallelism: 1
restart: {{ strategy: fixed_delay, delay: 1s, attempts: 5 }}
sources:
  bad:
    kafka: {{ topic: bad, bootstrap: "{bootstrap}", startup: earliest }}
    format: json
    schema: {{ n: long }}
    invalid: {{ policy: fail }}
nodes:
  - id: out
    from: bad
    sink: {{ file: {{ path: "{out}" }} }}
"""


class Prometheus:
    """A prometheus process on a free loopback port, scraping targets
    (host:port) every second and evaluating rule_file every second."""

    def __init__(self, d, targets, rule_file):
        self.port = free_port()
        self.dir = d
        cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "scrape_timeout": "900ms"},
            "rule_files": [rule_file],
            "scrape_configs": [{"job_name": "weir",
                                "static_configs": [{"targets": targets}]}],
        }
        path = os.path.join(d, "prometheus.yml")
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f)
        run(["promtool", "check", "config", path], check_rc=0)
        self.log = open(os.path.join(d, "prometheus.log"), "w")
        self.proc = spawn(["prometheus", "--config.file", path,
                           "--storage.tsdb.path", os.path.join(d, "tsdb"),
                           "--web.listen-address",
                           "127.0.0.1:%d" % self.port],
                          stdout=self.log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)

    def api(self, path, **params):
        url = "http://127.0.0.1:%d/api/v1/%s" % (self.port, path)
        if params:
            url += "?" + urllib.parse.urlencode(params)
        st, body = http_get(url)
        out = json.loads(body)
        check(st == 200 and out.get("status") == "success",
              "%s: %d %s" % (url, st, body[:500]))
        return out["data"]

    def query(self, expr):
        return self.api("query", query=expr)["result"]

    def firing(self):
        return {(a["labels"]["alertname"], a["labels"].get("cause", ""))
                for a in self.api("alerts")["alerts"]
                if a["state"] == "firing"}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def test_rules_copy(d):
    """weir-alerts.yml with every `for:` 0: the scenarios here last
    seconds. The expressions stay the shipped ones."""
    with open(RULES) as f:
        rules = yaml.safe_load(f)
    exprs = []
    for g in rules["groups"]:
        for r in g["rules"]:
            r.pop("for", None)
            exprs.append((r["alert"], r["expr"]))
    path = os.path.join(d, "rules.yml")
    with open(path, "w") as f:
        yaml.safe_dump(rules, f)
    return path, exprs


def dashboard_exprs():
    """(panel title, expr) of every target of deploy/grafana/weir.json,
    Grafana's variables replaced for a direct query."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                e = t["expr"].replace("$__rate_interval", "5s")
                e = e.replace("${job_name}", ".*").replace("$job_name", ".*")
                check("$" not in e, "an unreplaced variable in %r" % e)
                out.append((p["title"], e))
    walk(dash["panels"])
    variables = [(v["name"], v["definition"])
                 for v in dash["templating"]["list"] if v["type"] == "query"]
    return out, variables


def kcat_high_watermarks(c, topic):
    """{partition: high watermark} as kcat -Q (offset for time -1) says."""
    args = ["kcat", "-b", c.bootstrap, "-Q"]
    for p in range(PARTS):
        args += ["-t", "%s:%d:-1" % (topic, p)]
    out = run(args, check_rc=0).stdout.decode()
    got = {int(m.group(1)): int(m.group(2)) for m in
           re.finditer(r"\[(\d+)\]\s+offset\s+(-?\d+)", out)}
    check(set(got) == set(range(PARTS)), "kcat -Q: %s" % out)
    return got


def kcat_group_remaining(c, group, topic):
    """{partition: messages from group's committed offset to the end}:
    what a kcat member of the group reads (it commits nothing); a
    partition without a committed offset from its beginning, as the
    source's "earliest"."""
    r = run(["kcat", "-b", c.bootstrap, "-G", group, "-e", "-q",
             "-X", "enable.auto.commit=false",
             "-X", "auto.offset.reset=earliest",
             "-X", "session.timeout.ms=6000",
             "-f", "%p\n", topic], check_rc=0, timeout=60)
    got = {p: 0 for p in range(PARTS)}
    for line in r.stdout.decode().split():
        got[int(line)] += 1
    return got


def check_no_job_label(c, texts, prom):
    for url, text in texts.items():
        check(not re.search(r'[{,]job="', text),
              "a label named job on %s" % url)
    check(not prom.query('count({exported_job!=""})'),
          "Prometheus renamed a weir label job to exported_job")


def lag_of(prom_or_texts, job):
    """{partition: value} of job's weir_kafka_consumer_lag_records in the
    daemons' texts."""
    out = {}
    pat = re.compile(r'^weir_kafka_consumer_lag_records\{([^}]*)\} (\S+)$',
                     re.M)
    for text in prom_or_texts.values():
        for m in pat.finditer(text):
            ls = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if ls.get("job_id") == job:
                out[int(ls["partition"])] = float(m.group(2))
    return out


def scrape_all(urls):
    out = {}
    for u in urls:
        try:
            st, text = http_get(u)
        except OSError:
            continue
        if st == 200:
            out[u] = text
    return out


def test_prometheus():
    if shutil.which("prometheus") is None:
        raise AssertionError("prometheus is not installed "
                             "(scripts/install-deps.sh)")
    run(["promtool", "check", "rules", RULES], check_rc=0)
    run(["promtool", "check", "config", STATIC], check_rc=0)
    env = dict(os.environ, WEIR_FAULT_SINK_SLEEP_US="2000")
    with Cluster(taskmanagers=3, slots=2, config=CONFIG, env=env,
                 topics=("ev:%d" % PARTS, "bad:1")) as c:
        urls = c.env_file()["WEIR_METRICS"].split(",")
        check(len(urls) == 4 and all(u.endswith("/metrics") for u in urls),
              "WEIR_METRICS: %s" % urls)
        out = c.output()
        for u in urls[1:]:
            check("metrics %s" % u in out,
                  "weir local did not print %s:\n%s" % (u, out))
        c.produce("ev", [{"_p": i % PARTS, "k": "k%d" % (i % 7), "n": i,
                          "ts": BASE_TS + i} for i in range(RECORDS)])
        a = c.submit(LAGGING.format(bootstrap=c.bootstrap,
                                    out=os.path.join(c.dir, "a.out")),
                     name="lagging.yaml")
        c.wait_running(a, 30)
        c.wait_checkpoint(a, 1)

        rules, alert_exprs = test_rules_copy(c.dir)
        prom = Prometheus(c.dir, [u.split("/")[2] for u in urls], rules)
        try:
            run_checks(c, prom, urls, a, alert_exprs)
        finally:
            prom.stop()


def run_checks(c, prom, urls, a, alert_exprs):
    def all_up():
        try:
            ts = prom.api("targets")["activeTargets"]
        except (OSError, ValueError):  # not listening or ready yet
            return False
        return len(ts) == len(urls) and all(t["health"] == "up" for t in ts)
    wait_for(all_up, 30, "Prometheus to scrape every daemon")
    exprs, variables = dashboard_exprs()
    check(len(exprs) >= 20, "%d dashboard expressions" % len(exprs))
    empty = []

    def all_have_data():
        empty[:] = [(t, e) for t, e in exprs if not prom.query(e)]
        return not empty
    try:
        wait_for(all_have_data, 30, "data for every dashboard query", 1)
    except AssertionError:
        raise AssertionError("no data for: %s" % empty)
    for name, definition in variables:
        m = re.match(r"label_values\((\w+), *(\w+)\)$", definition)
        check(m, "variable %s: %s" % (name, definition))
        vals = prom.api("label/%s/values" % m.group(2),
                        **{"match[]": m.group(1)})
        check("lagging" in vals, "variable %s: %s" % (name, vals))
    for name, e in alert_exprs:
        prom.query(e)  # valid: the API refuses a bad expression
    texts = scrape_all(urls)
    check(len(texts) == len(urls), "scraped %s" % list(texts))
    check_no_job_label(c, texts, prom)
    # promtool's lint; SPEC names weir_current_watermark_ms (as Flink's
    # currentInputWatermark, in ms), the one name it objects to
    for url, text in texts.items():
        r = run(["promtool", "check", "metrics"], input=text.encode())
        said = [l for l in (r.stdout + r.stderr).decode().splitlines()
                if l.strip() and not l.startswith(
                    "weir_current_watermark_ms metric names should not "
                    "contain abbreviated units")]
        check(not said, "promtool check metrics on %s: %s" % (url, said))
    print("     %d dashboard queries with data, %d alert expressions "
          "valid" % (len(exprs), len(alert_exprs)))

    # The job lags (a slow sink); stopped with a savepoint, its offsets
    # are committed to its group and its last lag stays for a scrape.
    lag = lag_of(texts, a)
    check(sum(lag.values()) > 0, "no lag behind a slow sink: %s" % lag)
    c.cli("stop", a, timeout=60)
    c.wait_state(a, "FINISHED", 60)
    hi = kcat_high_watermarks(c, "ev")
    remaining = kcat_group_remaining(c, "prom-lag", "ev")
    last = lag_of(scrape_all(urls), a)
    check(last == {p: float(remaining[p]) for p in range(PARTS)},
          "lag per partition %s, kcat: high watermarks %s, committed "
          "%s" % (last, hi, {p: hi[p] - remaining[p] for p in hi}))
    check(sum(last.values()) > 0, "the job read everything: %s" % last)
    print("     lag at the stop %s = kcat's high watermark - committed"
          % sorted(last.items()))

    # A failing job: restarts, then FAILED.
    c.produce("bad", ['{"n": 1}\n', "not json\n"], partition=0)
    b = c.submit(FAILING.format(bootstrap=c.bootstrap,
                                out=os.path.join(c.dir, "b.out")),
                 name="failing.yaml")
    c.wait_state(b, "FAILED", 60)
    want = {("WeirJobRestarting", "task_failure"), ("WeirJobFailed", "")}
    wait_for(lambda: want <= prom.firing(), 30,
             "alerts %s to fire" % sorted(want))

    # A TaskManager lost.
    c.kill_taskmanager()
    wait_for(lambda: ("WeirTaskManagerLost", "") in prom.firing(), 30,
             "WeirTaskManagerLost to fire")
    print("     fired: %s" % sorted(prom.firing()))


if __name__ == "__main__":
    main([test_prometheus])
