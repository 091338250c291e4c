"""test_policy.py - what a job may touch (security.allowed_paths,
allowed_kafka, allowed_hosts; docs/security.md), on a cluster whose
JobManager sets all three:

- a job whose file sink writes outside the allowed paths (directly or
  through "..") is refused at submit by the CLI (exit 1, the file, line
  and column, the path and the list) and by REST (403, {"errors": [...]});
  so are a Kafka bootstrap and a PostgreSQL host not on their lists;
- a job inside the lists runs; a savepoint into a directory outside is
  refused, one inside completes; a restore from outside is refused.
"""
import os
import re
import shutil
import tempfile

from weirtest import Cluster, check, main


def job(sink, extra=""):
    return ("name: policy\nparallelism: 1\n%s"
            "sources:\n  in:\n    datagen: { rate: 50 }\n"
            "nodes:\n  - id: out\n    from: in\n    sink: %s\n" %
            (extra, sink))


def refused(c, yaml, want):
    path = c.write("bad.yaml", yaml)
    r = c.cli("run", "-d", path, check_rc=None)
    err = r.stderr.decode()
    check(r.returncode == 1 and want in err and
          re.search(r"bad(-\d+)?\.yaml:7:9: node 'out'", err),
          "CLI: rc %d, %r" % (r.returncode, err))
    st, body = c.rest_call("POST", "/jobs", yaml.encode())
    check(st == 403 and any(want in e for e in body.get("errors", [])),
          "REST: %d %s" % (st, body))


def test_policy():
    allowed = tempfile.mkdtemp(prefix="weir-policy-")
    outside = tempfile.mkdtemp(prefix="weir-policy-out-")
    try:
        with Cluster(taskmanagers=1, slots=2, config=(
                "security: { allowed_paths: \"%s\", allowed_kafka: "
                "\"kafka.internal:9092\", allowed_hosts: \"db.internal\" "
                "}\n" % allowed)) as c:
            check_cluster(c, allowed, outside)
    finally:
        shutil.rmtree(allowed, ignore_errors=True)
        shutil.rmtree(outside, ignore_errors=True)


def check_cluster(c, allowed, outside):
    refused(c, job('{ file: { path: "%s/x" } }' % outside),
            "file sink path '%s/x' is outside security.allowed_paths" %
            outside)
    refused(c, job('{ file: { path: "%s/../%s" } }' %
                   (allowed, os.path.basename(outside))),
            "file sink path '%s' is outside" % outside)
    refused(c, job('{ kafka: { topic: o, bootstrap: "evil:9092" } }'),
            "Kafka server 'evil:9092' is not in security.allowed_kafka "
            "(kafka.internal:9092)")
    refused(c, job('{ postgres: { dsn: "postgresql://u@evil.example/db", '
                   'table: t } }'),
            "database host 'evil.example' is not in security.allowed_hosts")
    # inside: runs, savepoints only into an allowed directory
    ok = c.submit(job('{ file: { path: "%s/out" } }' % allowed,
                      "checkpointing: { interval: 300ms }\n"),
                  wait="RUNNING")
    c.wait_checkpoint(ok, 1)
    r = c.cli("savepoint", ok, outside, check_rc=None)
    check(r.returncode == 1 and
          b"outside security.allowed_paths" in r.stderr,
          "savepoint outside: rc %d %s" % (r.returncode, r.stderr))
    r = c.cli("savepoint", ok, os.path.join(allowed, "sp"))
    sp = r.stdout.decode().strip().splitlines()[-1].split()[-1]
    check(sp.startswith(("file://" + allowed, allowed)) and
          os.path.exists(os.path.join(sp.replace("file://", ""),
                                      "_metadata")),
          "savepoint inside: %s" % r.stdout)
    c.cancel(ok)
    r = c.cli("run", "-d", "--from-savepoint", outside,
              c.write("restore.yaml",
                      job('{ file: { path: "%s/out2" } }' % allowed)),
              check_rc=None)
    check(r.returncode == 1 and b"savepoint to restore" in r.stderr and
          b"outside security.allowed_paths" in r.stderr,
          "restore from outside: rc %d %s" % (r.returncode, r.stderr))


if __name__ == "__main__":
    main([test_policy])
