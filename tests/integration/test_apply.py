"""test_apply.py - `weir apply DIR` on `weir local`: jobs as declarations.

A directory of three job files -> three jobs started; applied again ->
nothing changes; one file edited -> --dry-run prints the plan and changes
nothing, then apply upgrades only that job (the others keep their job id
and start time); one removed with --prune -> its job is stopped with a
savepoint. A file that does not validate is reported at file:line:column
and changes nothing (no pruning either); two running jobs of one name are
refused. --watch on a Kubernetes-ConfigMap-shaped directory (files linked
through a ..data symlink that is swapped) picks up an edit and upgrades
that job, and exits 0 on SIGTERM.
"""
import json
import os
import signal
import subprocess

from weirtest import WEIR, Cluster, check, main, spawn, wait_for

JOB = """\
name: {name}
parallelism: 1
checkpointing: {{ interval: 200ms }}
restart: {{ strategy: none }}
sources:
  gen:
    datagen: {{ rate: {rate} }}
nodes:
  - id: per_product
    from: gen
    key_by: [product_id]
    reduce: {{ n: count() }}
  - id: out
    from: per_product
    sink: {{ file: {{ path: "{out}" }} }}
"""


def job_text(c, name, rate=200):
    return JOB.format(name=name, rate=rate,
                      out=os.path.join(c.dir, "out-" + name))


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def jobs_by_name(c):
    """{name: [`weir info -o json` of each job of that name that has not
    ended]}"""
    out = {}
    for j in json.loads(c.cli("list", "-o", "json").stdout)["jobs"]:
        out.setdefault(j["name"], []).append(c.info(j["job_id"]))
    return out


def apply(c, *args, rc=0):
    r = c.cli("-o", "json", "apply", *args, check_rc=rc, timeout=120)
    return json.loads(r.stdout), r.stderr.decode()


def actions(res):
    return sorted((a["action"], a["name"]) for a in res["actions"])


def test_apply_start_upgrade_prune():
    with Cluster(taskmanagers=2, slots=3) as c:
        d = os.path.join(c.dir, "jobs")
        os.makedirs(d)
        for n in ("a", "b", "c"):
            write(os.path.join(d, n + ".yaml"), job_text(c, n))
        write(os.path.join(d, "README.md"), "not a job file\n")

        res, _ = apply(c, d)
        check(actions(res) == [("start", "a"), ("start", "b"),
                               ("start", "c")], "first apply %s" % res)
        first = jobs_by_name(c)
        check(sorted(first) == ["a", "b", "c"], "jobs %s" % list(first))
        for n, js in first.items():
            c.wait_running(js[0]["id"], 30)
            c.wait_checkpoint(js[0]["id"], 1)

        res, _ = apply(c, d)
        check(actions(res) == [("unchanged", "a"), ("unchanged", "b"),
                               ("unchanged", "c")], "again: %s" % res)

        write(os.path.join(d, "b.yaml"), job_text(c, "b", rate=300))
        res, _ = apply(c, d, "--dry-run")
        check(res["dry_run"] and ("upgrade", "b") in actions(res),
              "dry run plan %s" % res)
        check({n: js[0]["id"] for n, js in jobs_by_name(c).items()} ==
              {n: js[0]["id"] for n, js in first.items()},
              "--dry-run changed nothing")

        res, _ = apply(c, d)
        check(actions(res) == [("unchanged", "a"), ("unchanged", "c"),
                               ("upgrade", "b")], "edit: %s" % res)
        up = [a for a in res["actions"] if a["action"] == "upgrade"][0]
        check(up["error"] is None and "savepoint-" in up["savepoint"],
              "upgrade of b: %s" % up)
        now = jobs_by_name(c)
        for n in ("a", "c"):
            check(now[n][0]["id"] == first[n][0]["id"] and
                  now[n][0]["start_time"] == first[n][0]["start_time"],
                  "%s kept its job" % n)
        check(now["b"][0]["id"] == up["job_id"] != first["b"][0]["id"],
              "b upgraded to %s" % up["job_id"])
        check(now["b"][0]["spec_hash"] != first["b"][0]["spec_hash"],
              "b's spec hash changed")
        check(c.state(first["b"][0]["id"]) == "FINISHED", "old b stopped")

        # a file that does not validate: reported, nothing changes
        write(os.path.join(d, "d.yaml"), "name: d\nparallelism: 1\n"
              "bogus_key: 1\n")
        os.remove(os.path.join(d, "c.yaml"))
        res, err = apply(c, d, "--prune", rc=1)
        check("d.yaml:3:1" in err, "file:line:column: %s" % err)
        check("not pruning" in err, "no pruning with a broken file: %s"
              % err)
        check(sorted(jobs_by_name(c)) == ["a", "b", "c"],
              "nothing stopped")
        os.remove(os.path.join(d, "d.yaml"))

        # --prune: c is stopped with a savepoint
        res, _ = apply(c, d, "--prune")
        st = [a for a in res["actions"] if a["action"] == "stop"]
        check(len(st) == 1 and st[0]["name"] == "c" and
              "savepoint-" in (st[0]["savepoint"] or ""), "prune %s" % res)
        check(c.state(first["c"][0]["id"]) == "FINISHED", "c stopped")
        sp = st[0]["savepoint"][len("file://"):]
        check(os.path.isfile(os.path.join(sp, "_metadata")),
              "c's savepoint %s" % sp)
        check(sorted(jobs_by_name(c)) == ["a", "b"], "a, b left")

        # two running jobs named a: refused
        dup = c.submit(job_text(c, "a"), name="dup-a.yaml")
        res, err = apply(c, d, rc=1)
        check("2 running jobs are named 'a'" in err, "refused: %s" % err)
        c.cancel(dup)

        watch(c, first)


def watch(c, first):
    """--watch on a ConfigMap-shaped directory: a.yaml and b.yaml link to
    ..data/, ..data links to a timestamped directory; an update writes a
    new directory and swaps ..data (as the kubelet does)."""
    d = os.path.join(c.dir, "cm")
    v1 = os.path.join(d, "..2026_12_07_v1")
    os.makedirs(v1)
    current = {j[0]["name"]: j[0] for j in jobs_by_name(c).values()}
    for n in ("a", "b"):
        # b's current file is the rate-300 version
        write(os.path.join(v1, n + ".yaml"),
              job_text(c, n, rate=300 if n == "b" else 200))
        os.symlink(os.path.join("..data", n + ".yaml"),
                   os.path.join(d, n + ".yaml"))
    os.symlink("..2026_12_07_v1", os.path.join(d, "..data"))
    log = open(os.path.join(c.dir, "watch.out"), "w")
    p = spawn([WEIR, "--jobmanager", c.jm, "apply", "--watch", d],
              stdout=log, stderr=subprocess.STDOUT)
    out = os.path.join(c.dir, "watch.out")
    try:
        wait_for(lambda: "watching for changes" in open(out).read(), 30,
                 "the first apply")
        text = open(out).read()
        check("unchanged  a" in text and "unchanged  b" in text,
              "files equal to the running jobs: %s" % text)
        v2 = os.path.join(d, "..2026_12_07_v2")
        os.makedirs(v2)
        write(os.path.join(v2, "a.yaml"), job_text(c, "a", rate=250))
        write(os.path.join(v2, "b.yaml"),
              job_text(c, "b", rate=300))
        os.symlink("..2026_12_07_v2", os.path.join(d, "..data_tmp"))
        os.rename(os.path.join(d, "..data_tmp"), os.path.join(d, "..data"))
        wait_for(lambda: open(out).read().count("watching for changes")
                 >= 2, 60, "the apply after the ..data swap")
        text = open(out).read()
        check("upgrade    a" in text and "upgrade    b" not in text,
              "only a upgraded: %s" % text)
        now = jobs_by_name(c)
        check(now["a"][0]["id"] != current["a"]["id"] and
              now["b"][0]["id"] == current["b"]["id"],
              "a upgraded, b kept")
        p.send_signal(signal.SIGTERM)
        check(p.wait(timeout=10) == 0, "--watch exits 0 on SIGTERM")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()


if __name__ == "__main__":
    main([test_apply_start_upgrade_prune])
