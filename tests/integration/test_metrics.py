"""test_metrics.py - /metrics series people can graph.

weir local with 2 TaskManagers and a short metrics.ended_job_grace: every
per-job series on both daemons carries job_id and job_name (TaskManagers'
also vertex, vertex_name, subtask, task_manager) and no label is named
job; a job without event time exports no watermark, one before its first
checkpoint no checkpoint duration or size; a cancelled job's series stay
for the grace period, then disappear from both daemons."""
import os
import re
import time

from weirtest import Cluster, check, http_get, main, wait_for

GRACE_S = 4
CONFIG = """\
metrics:
  ended_job_grace: %ds
""" % GRACE_S

# No event time anywhere: no watermark. interval is the first
# checkpoint's delay too.
JOB = """\
name: %s
parallelism: %d
checkpointing: { interval: %s }
sources:
  gen:
    datagen: { rate: 200 }
nodes:
  - id: out
    from: gen
    sink: { file: { path: "%s" } }
"""

SAMPLE = re.compile(r'^(\w+)\{([^}]*)\} \S+$', re.M)
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def series(text):
    """[(name, {label: value})] of a Prometheus text's labelled samples."""
    return [(m.group(1), dict(LABEL.findall(m.group(2))))
            for m in SAMPLE.finditer(text)]


def scrapes(c):
    """{"jm": text, TaskManager id: text}; None if one does not answer."""
    out = {}
    st, out["jm"] = c.rest("/metrics")
    for t in c.taskmanagers():
        try:
            st2, text = http_get("http://%s/metrics" % t["metrics_address"])
        except OSError:
            return None
        if st != 200 or st2 != 200:
            return None
        out[t["id"]] = text
    return out


def of_job(texts, job):
    return [(who, n, ls) for who, text in texts.items()
            for n, ls in series(text) if ls.get("job_id") == job]


def check_labels(texts, names, vertex_names):
    for who, text in texts.items():
        check(not re.search(r'[{,]job="', text),
              "a label named job on %s:\n%s" % (who, text))
        for n, ls in series(text):
            if "job_id" not in ls:
                continue
            check(ls.get("job_name") == names[ls["job_id"]],
                  "%s on %s: job_name %s" % (n, who, ls))
            if who == "jm":
                continue
            want = {"job_id", "job_name", "vertex", "vertex_name",
                    "subtask", "task_manager"}
            check(want <= set(ls), "%s on %s lacks labels: %s" % (n, who, ls))
            check(ls["task_manager"] == who,
                  "%s on %s: task_manager %s" % (n, who, ls))
            check(ls["vertex_name"] == vertex_names[ls["vertex"]],
                  "%s: vertex_name %s" % (n, ls))


def test_labels_values_and_expiry():
    with Cluster(taskmanagers=2, slots=2, config=CONFIG) as c:
        a = c.submit(JOB % ("graphed", 2, "300ms",
                            os.path.join(c.dir, "a.out")), name="a.yaml")
        b = c.submit(JOB % ("unchecked", 1, "1h",
                            os.path.join(c.dir, "b.out")), name="b.yaml")
        c.wait_running(a, 30)
        c.wait_running(b, 30)
        c.wait_checkpoint(a, 1)
        names = {a: "graphed", b: "unchecked"}
        vnames = {str(i): v["name"] for i, v in
                  enumerate(c.rest_json("/jobs/%s" % a)["vertices"])}
        check(vnames == {"0": "gen -> out"}, "vertices %s" % vnames)

        def both_counted():
            t = scrapes(c)
            return t if t and all(
                any(n == "weir_records_in_total" and ls["subtask"] == s
                    for _, n, ls in of_job(t, a)) for s in ("0", "1")) \
                and any(n == "weir_records_in_total"
                        for _, n, ls in of_job(t, b)) else None
        texts = wait_for(both_counted, 20, "both jobs' records_in series")
        check_labels(texts, names, vnames)
        # A: on the TaskManagers that run its subtasks, restarts and
        # checkpoint series on the JobManager.
        got = {(who == "jm", n) for who, n, _ in of_job(texts, a)}
        for n in ("weir_job_restarts_total", "weir_checkpoints_total",
                  "weir_checkpoint_duration_seconds",
                  "weir_checkpoint_size_bytes"):
            check((True, n) in got, "no %s of job a: %s" % (n, got))
        check((False, "weir_records_out_total") in got, "records_out")
        # No value where there is none.
        for who, text in texts.items():
            check("weir_current_watermark_ms" not in text,
                  "a watermark without event time on %s" % who)
        got_b = {n for who, n, _ in of_job(texts, b) if who == "jm"}
        check("weir_checkpoints_total" in got_b and
              "weir_checkpoint_duration_seconds" not in got_b and
              "weir_checkpoint_size_bytes" not in got_b and
              "weir_checkpoint_alignment_seconds" not in got_b,
              "job b before a checkpoint: %s" % got_b)

        # Cancelled: a's series stay for the grace period (a last
        # scrape), then go from both daemons; b's stay.
        c.cancel(a)
        t0 = time.monotonic()
        texts = scrapes(c)
        if time.monotonic() - t0 < GRACE_S - 1:
            check(any(who == "jm" for who, _, _ in of_job(texts, a)),
                  "a's series went at once")
        wait_for(lambda: (lambda t: t and not of_job(t, a))(scrapes(c)),
                 GRACE_S + 15, "a's series to disappear")
        took = time.monotonic() - t0
        # t0 is a little after the job ended (cancel polls its state)
        check(took >= GRACE_S - 1.5, "gone after %.1fs, grace %ds" %
              (took, GRACE_S))
        texts = scrapes(c)
        check(any(who != "jm" and n == "weir_records_in_total"
                  for who, n, _ in of_job(texts, b)) and
              any(who == "jm" for who, _, _ in of_job(texts, b)),
              "b's series went with a's")
        check_labels(texts, names, vnames)
        c.cancel(b)
        wait_for(lambda: (lambda t: t and not of_job(t, b))(scrapes(c)),
                 GRACE_S + 15, "b's series to disappear")
        print("     a's series gone %.1fs after its cancel (grace %ds)"
              % (took, GRACE_S))


if __name__ == "__main__":
    main([test_labels_values_and_expiry])
