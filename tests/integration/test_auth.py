"""test_auth.py - the cluster token (security.token_file) end to end.

Standalone daemons with a token: the CLI without it refused (message and
exit code 1), with it (--token-file or WEIR_TOKEN_FILE) served; REST
without it 401 {"errors": [...]}, with it 200, /healthz and /readyz open;
a TaskManager with the wrong token cannot register, and the JobManager
logs that once (not per retry) while counting every refusal; a job whose
key_by crosses two TaskManagers finishes (the shuffle carries the token);
a missing or empty token file stops a daemon at start, naming the file;
`weir local --token` writes DIR/token (0600) and WEIR_TOKEN_FILE."""
import json
import os
import stat
import subprocess

from weirtest import (JOBMANAGER, WEIR, Cluster, check, free_port, http_get,
                      main, metric_value, run, scratch_dir, sink_lines,
                      text_of, wait_for)

N = 1500  # records per source subtask
JOB = """\
name: auth-shuffle
parallelism: 2
restart: {{ strategy: none }}
sources:
  gen:
    datagen: {{ rate: 0, count: {n} }}
nodes:
  - id: by_product
    from: gen
    key_by: [product_id]
  - id: out
    from: by_product
    sink: {{ file: {{ path: "{out}" }} }}
"""


def env_without_token():
    env = dict(os.environ)
    for k in ("WEIR_TOKEN_FILE", "WEIR_SECURITY_TOKEN_FILE"):
        env.pop(k, None)
    return env


def refusals(c):
    """AUTH-REFUSED lines in the JobManager's log."""
    return c.log("jobmanager").count("AUTH-REFUSED")


def rpc_failures(c):
    st, body = c.rest("/metrics")
    check(st == 200, "/metrics with the token: %d" % st)
    return metric_value(body, "weir_auth_failures_total",
                        '{listener="rpc"}')


def check_cli(c):
    env = env_without_token()
    r = run([WEIR, "--jobmanager", c.jm, "list"], env=env)
    err = r.stderr.decode()
    check(r.returncode == 1, "list without a token exited %d: %s" %
          (r.returncode, text_of(r)))
    check("cluster token" in err and "--token-file" in err,
          "the refusal says what is missing: %r" % err)
    wrong = c.write("wrong-token", "not-the-token\n")
    r = run([WEIR, "--jobmanager", c.jm, "--token-file", wrong, "list"],
            env=env)
    check(r.returncode == 1, "a wrong token exited %d" % r.returncode)
    r = run([WEIR, "--jobmanager", c.jm, "--token-file", c.token_file,
             "list"], env=env)
    check(r.returncode == 0, "list with --token-file: %s" % text_of(r))
    env["WEIR_TOKEN_FILE"] = c.token_file
    r = run([WEIR, "--jobmanager", c.jm, "list", "-o", "json"], env=env)
    check(r.returncode == 0, "list with WEIR_TOKEN_FILE: %s" % text_of(r))
    check(json.loads(r.stdout)["jobs"] == [], "no jobs yet")


def check_rest(c):
    base = "http://127.0.0.1:%d" % c.rest_port
    st, body = http_get(base + "/jobs")
    check(st == 401, "GET /jobs without a token: %d" % st)
    errs = json.loads(body)["errors"]
    check(len(errs) == 1 and "Bearer" in errs[0], "401 body: %r" % body)
    st, _ = http_get(base + "/jobs", token="wrong")
    check(st == 401, "GET /jobs with a wrong token: %d" % st)
    st, body = http_get(base + "/jobs", token=c.token)
    check(st == 200 and "jobs" in json.loads(body),
          "GET /jobs with the token: %d %s" % (st, body))
    for path in ("/healthz", "/readyz"):
        st, _ = http_get(base + path)
        check(st == 200, "%s without a token: %d" % (path, st))
    st, _ = http_get(base + "/metrics")
    check(st == 401, "/metrics without a token: %d" % st)
    st, body = http_get(base + "/metrics", token=c.token)
    n = metric_value(body, "weir_auth_failures_total", '{listener="http"}')
    check(n == 3, "each REST refusal counted: %s in\n%s" %
          (n, "\n".join(l for l in body.splitlines() if "auth" in l)))


def check_wrong_taskmanager(c):
    """Refused, said once in the JobManager's log however often it
    retries, every retry counted; the TaskManager says why."""
    wrong = c.write("tm-wrong-token", "also-not-the-token\n")
    lines, fails = refusals(c), rpc_failures(c)
    env = dict(os.environ, WEIR_SECURITY_TOKEN_FILE=wrong)
    p = c.start_taskmanager(env=env)
    wait_for(lambda: rpc_failures(c) >= fails + 4, 30,
             "4 refused registrations of the TaskManager")
    check(refusals(c) == lines + 1,
          "one AUTH-REFUSED line for a retrying TaskManager, not %d" %
          (refusals(c) - lines))
    check(len(c.cluster_json()["taskmanagers"]) == 2,
          "the TaskManager with the wrong token did not register")
    log = c.log("tm-extra-2")
    check("TM-REGISTER-FAILED" in log and "cluster token" in log,
          "the TaskManager logs why: %s" % log[-2000:])
    p.kill()
    p.wait()


def check_shuffle_job(c):
    out = os.path.join(c.dir, "out")
    job = c.submit(JOB.format(n=N, out=out))
    info = c.wait_state(job, "FINISHED", timeout_s=40)
    check(info["state"] == "FINISHED", "the job finished: %s" % info)
    got = sink_lines(out)
    check(len(got) == 2 * N, "%d records out of %d" % (len(got), 2 * N))


def test_daemons_with_token():
    with Cluster(mode="daemons", taskmanagers=2, slots=1, token=True) as c:
        check(stat.S_IMODE(os.stat(c.token_file).st_mode) == 0o600,
              "token file mode")
        check_cli(c)
        check_rest(c)
        check_wrong_taskmanager(c)
        check_shuffle_job(c)


def start_fails(d, token_file):
    cfg = os.path.join(d, "jm.yaml")
    with open(cfg, "w") as f:
        f.write("jobmanager: { rpc: \"tcp://127.0.0.1:%d\", "
                "rest: \"127.0.0.1:%d\" }\n"
                "checkpoints: { storage: \"file://%s/ckpt\" }\n"
                "security: { token_file: \"%s\" }\n" %
                (free_port(), free_port(), d, token_file))
    r = run([JOBMANAGER, "--config", cfg], timeout=20)
    check(r.returncode == 1, "exit %d: %s" % (r.returncode, text_of(r)))
    check(token_file in text_of(r), "names the file: %s" % text_of(r))
    return text_of(r)


def test_bad_token_file_stops_start():
    d = scratch_dir("auth")
    missing = os.path.join(d, "nope")
    check("no such file" in start_fails(d, missing), "says it is missing")
    empty = os.path.join(d, "empty")
    open(empty, "w").close()
    check("empty" in start_fails(d, empty), "says it is empty")


def test_local_token():
    with Cluster(taskmanagers=1, token=True) as c:
        check(stat.S_IMODE(os.stat(c.token_file).st_mode) == 0o600,
              "DIR/token mode 0600")
        check(len(c.token) == 64, "a 32-byte random token in hex")
        check(c.env_file().get("WEIR_TOKEN_FILE") == c.token_file,
              "weir.env exports WEIR_TOKEN_FILE")
        r = run([WEIR, "--jobmanager", c.jm, "cluster"],
                env=env_without_token())
        check(r.returncode == 1, "weir cluster without the token: %d" %
              r.returncode)
        env = dict(env_without_token(), WEIR_TOKEN_FILE=c.token_file)
        r = run([WEIR, "--jobmanager", c.jm, "cluster", "-o", "json"],
                env=env)
        check(r.returncode == 0 and
              len(json.loads(r.stdout)["taskmanagers"]) == 1,
              "weir cluster with WEIR_TOKEN_FILE: %s" % text_of(r))
        st, _ = c.rest("/jobs")
        check(st == 200, "REST with the token: %d" % st)


if __name__ == "__main__":
    main([test_bad_token_file_stops_start, test_daemons_with_token,
          test_local_token])
