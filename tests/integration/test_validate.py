"""test_validate.py - `weir validate` on every example and broken job.

`weir validate`: every example job validates (table and JSON output);
every broken job under jobs/bad/ is refused with exit code 1 and the
file:line:col message its first line announces ("# expect: LINE:COL: text");
usage errors exit 2.

No cluster is needed: validate parses and plans locally."""
import glob
import json
import os

from weirtest import WEIR, check, main, run

SRC = os.environ.get("WEIR_SOURCE_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..")
EXAMPLES = sorted(glob.glob(os.path.join(SRC, "examples", "*.yaml")))
BAD = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(
    __file__)), "jobs", "bad", "*.yaml")))


def test_examples_validate():
    check(len(EXAMPLES) >= 2, "no examples found under %s" % SRC)
    for path in EXAMPLES:
        r = run([WEIR, "validate", path], check_rc=0, timeout=30)
        out = r.stdout.decode()
        check(out.startswith(path + ": ok (job '"),
              "%s: unexpected output %r" % (path, out))
        check("vertices, needs" in out, "%s: no plan summary: %r" %
              (path, out))
        check(r.stderr == b"", "%s: stderr %r" % (path, r.stderr))


def test_examples_json():
    for path in EXAMPLES:
        r = run([WEIR, "-o", "json", "validate", path], check_rc=0,
                timeout=30)
        doc = json.loads(r.stdout)
        check(doc["valid"] is True, "%s: %r" % (path, doc))
        check(isinstance(doc["name"], str) and doc["name"], "name")
        check(len(doc["vertices"]) >= 1, "%s: no vertices" % path)
        for v in doc["vertices"]:
            check(set(v) == {"name", "parallelism"}, "vertex keys %r" % v)
        check(doc["slots"] == max(v["parallelism"] for v in doc["vertices"]),
              "%s: slots %r" % (path, doc))


def test_order_analytics_plan():
    path = os.path.join(SRC, "examples", "order-analytics.yaml")
    doc = json.loads(run([WEIR, "validate", path, "-o", "json"],
                         check_rc=0).stdout)
    check(doc["name"] == "order-analytics", "name %r" % doc["name"])
    check(doc["vertices"] == [
        {"name": "orders -> paid", "parallelism": 2},
        {"name": "per_product -> to_kafka", "parallelism": 2}],
        "vertices %r" % doc["vertices"])
    check(doc["slots"] == 2, "slots %r" % doc["slots"])
    # -p replaces the job's default parallelism.
    doc = json.loads(run([WEIR, "-o", "json", "validate", "-p", "4", path],
                         check_rc=0).stdout)
    check(doc["slots"] == 4, "-p 4: slots %r" % doc["slots"])


def expectation(path):
    with open(path) as f:
        first = f.readline().rstrip("\n")
    prefix = "# expect: "
    check(first.startswith(prefix), "%s: first line %r" % (path, first))
    line, col, text = first[len(prefix):].split(":", 2)
    return int(line), int(col), text.strip()


def test_bad_jobs():
    check(len(BAD) >= 12, "only %d broken jobs" % len(BAD))
    failures = []
    for path in BAD:
        line, col, text = expectation(path)
        r = run([WEIR, "validate", path], timeout=30)
        err = r.stderr.decode()
        want = "%s:%d:%d: " % (path, line, col)
        if r.returncode != 1 or not err.startswith(want) or text not in err:
            failures.append("%s: exit %d, stderr %r (wanted %r ... %r)" %
                            (os.path.basename(path), r.returncode, err,
                             want, text))
        elif r.stdout != b"" or err.count("\n") != 1:
            # One line on stderr: also catches a sanitizer report after it.
            failures.append("%s: stdout %r, stderr %r" %
                            (path, r.stdout, err))
    check(not failures, "\n".join(failures))


def test_bad_job_json():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "jobs",
                        "bad", "cycle.yaml")
    r = run([WEIR, "-o", "json", "validate", path], check_rc=1)
    doc = json.loads(r.stdout)
    check(doc["valid"] is False, "%r" % doc)
    check(doc["error"].startswith(path + ":9:11: "), "%r" % doc)
    # the same error as JSON on stderr (-o json)
    check(json.loads(r.stderr)["error"] == doc["error"], "stderr")


def test_usage():
    path = EXAMPLES[0]
    r = run([WEIR, "validate", "--help"], check_rc=0)
    check(b"usage: weir validate" in r.stdout, "help: %r" % r.stdout)
    run([WEIR, "validate"], check_rc=2)
    run([WEIR, "validate", path, path], check_rc=2)
    run([WEIR, "validate", "-p", "0", path], check_rc=2)
    run([WEIR, "validate", "-p", "x", path], check_rc=2)
    run([WEIR, "validate", "--bogus", path], check_rc=2)
    r = run([WEIR, "validate", "/nonexistent/job.yaml"], check_rc=1)
    check(b"/nonexistent/job.yaml: " in r.stderr, "%r" % r.stderr)
    r = run([WEIR, "--help"], check_rc=0)
    check(b"validate" in r.stdout, "verb not listed: %r" % r.stdout)


if __name__ == "__main__":
    main([test_examples_validate, test_examples_json,
          test_order_analytics_plan, test_bad_jobs, test_bad_job_json,
          test_usage])
