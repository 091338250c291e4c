"""test_cli_manners.py - the CLI as a Flink user reaches for it.

The real binary against `weir local`:
- `--jobmanager host:port` (and WEIR_JOBMANAGER, and a comma list of
  either spelling with a dead address first);
- `--version`: the version and the commit it was built from;
- `weir help VERB` prints what `weir VERB --help` prints, for every verb;
- Flink's flag spellings: `run -s/--fromSavepoint`,
  `--allowNonRestoredState`, `stop -p/--savepointPath`, `stop -d/--drain`;
- `-o json` on every verb that talks to the JobManager, and on validate and
  gen: each stdout parses, with the keys SPEC names (a job id is `job_id`
  wherever the CLI prints one itself; `weir info` prints GET /jobs/{id}'s
  object, as SPEC says);
- errors under `-o json`: one `{"error": ...}` line on stderr, the exit
  codes as without it;
- an unresolvable host, a refused address and a listener that is not a
  JobManager each named as such (not nng's "invalid argument" or
  "protocol error").
(`produce`, `consume` and `topic` are the Kafka verbs' own tests.)
"""
import json
import os
import re
import socket
import subprocess
import threading

from weirtest import (WEIR, Cluster, check, free_port, main, run,
                      scratch_dir, write_file)

UNKNOWN = "0123456789abcdef0123456789abcdef"

# Never ends by itself; checkpoints every 500 ms so savepoints work.
JOB = """\
name: %(name)s
parallelism: 1
checkpointing: { interval: 500ms }
sources:
  gen:
    datagen: { rate: 50 }
nodes:
  - id: out
    from: gen
    sink: { file: { path: "%(out)s" } }
"""

_tmp = scratch_dir("weir-manners-")


def weir(*args, env=None, check_rc=None, timeout=60):
    r = subprocess.run([WEIR] + list(args), capture_output=True,
                       timeout=timeout, env=env)
    if check_rc is not None:
        check(r.returncode == check_rc, "weir %s: rc %d, want %d\n%s%s" %
              (" ".join(args), r.returncode, check_rc, r.stdout.decode(),
               r.stderr.decode()))
    return r


def json_out(r):
    """stdout as one JSON value (what -o json promises)."""
    text = r.stdout.decode()
    try:
        return json.loads(text)
    except ValueError:
        raise AssertionError("not JSON on stdout: %r (stderr %r)" %
                             (text, r.stderr.decode()))


def json_error(r):
    """The message of the {"error": ...} line that ends stderr (progress
    lines, such as a savepoint's, may stand before it)."""
    lines = r.stderr.decode().splitlines()
    check(lines, "an error on stderr")
    e = json.loads(lines[-1])
    check(set(e) == {"error"} and isinstance(e["error"], str) and
          e["error"], "an {\"error\"} object: %r" % e)
    return e["error"]


def job_file(name):
    return write_file(_tmp, name + ".yaml", JOB % {
        "name": name, "out": os.path.join(_tmp, name + "-out")})


def test_offline():
    r = weir("--version", check_rc=0)
    m = re.fullmatch(r"weir (\d+\.\d+\.\d+) \(commit ([0-9a-f]+(-dirty)?|"
                     r"unknown)\)\n", r.stdout.decode())
    check(m, "--version: %r" % r.stdout)
    here = os.path.dirname(os.path.abspath(__file__))
    if subprocess.run(["git", "-C", here, "rev-parse"],
                      capture_output=True).returncode == 0:
        # built from this checkout: a commit of it (HEAD when built)
        commit = m.group(2).split("-")[0]
        g = subprocess.run(["git", "-C", here, "cat-file", "-e",
                            commit + "^{commit}"], capture_output=True)
        check(commit != "unknown" and g.returncode == 0,
              "commit %s is not one of this checkout" % m.group(2))
    v = json_out(weir("-o", "json", "--version", check_rc=0))
    check(v == {"version": m.group(1), "commit": m.group(2)}, "%s" % v)

    verbs = re.findall(r"^  (\w+) ", weir("--help", check_rc=0)
                       .stdout.decode().split("verbs:")[1]
                       .split("global flags")[0], re.M)
    check(len(verbs) >= 14, "verbs listed: %s" % verbs)
    for verb in verbs:
        h = weir("help", verb, check_rc=0).stdout
        check(h.startswith(b"usage: weir " + verb.encode()),
              "help %s: %r" % (verb, h[:80]))
        check(h == weir(verb, "--help", check_rc=0).stdout,
              "help %s differs from %s --help" % (verb, verb))
    r = weir("help", "nope", check_rc=2)
    check(b"unknown verb 'nope'" in r.stderr, r.stderr)

    # Usage errors as JSON: exit 2 as without -o json.
    for args in (["list", "--bogus"], ["info", "xyz"], ["cancel"],
                 ["run", "-p", "0", job_file("usage")], ["nope"],
                 ["stop", UNKNOWN, "-p"]):
        r = weir("-o", "json", *args, check_rc=2)
        json_error(r)
        check(r.stdout == b"", "%s: stdout %r" % (args, r.stdout))
    r = weir("-o", "json", "validate", "/nonexistent.yaml", check_rc=1)
    check("/nonexistent.yaml" in json_error(r), r.stderr)
    check(json_out(r)["valid"] is False, "validate: %r" % r.stdout)


def test_unreachable_addresses():
    dead = free_port()
    cases = [
        ("127.0.0.1:%d" % dead,
         "no JobManager answers at tcp://127.0.0.1:%d (connection "
         "refused)" % dead),
        ("tcp://127.0.0.1:%d" % dead,
         "no JobManager answers at tcp://127.0.0.1:%d (connection "
         "refused)" % dead),
        ("no-such-host.invalid:6123",
         "cannot resolve host no-such-host.invalid ("),
    ]
    # Something that accepts TCP connections and closes them at once.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    cases.append(("127.0.0.1:%d" % port,
                  "no JobManager answers at tcp://127.0.0.1:%d (something "
                  "accepts TCP connections there but does not speak "
                  "weir's RPC" % port))
    try:
        for addr, want in cases:
            r = weir("--jobmanager", addr, "list", check_rc=3)
            check(("weir list: " + want).encode() in r.stderr,
                  "%s: %r" % (addr, r.stderr))
            r = weir("--jobmanager", addr, "-o", "json", "list",
                     check_rc=3)
            check(json_error(r).startswith(want), "%s: %r" %
                  (addr, r.stderr))
            env = dict(os.environ, WEIR_JOBMANAGER=addr)
            r = weir("info", UNKNOWN, env=env, check_rc=3)
            check(want.encode() in r.stderr, "env %s: %r" % (addr, r.stderr))
    finally:
        srv.close()


def test_with_cluster():
    with Cluster(taskmanagers=1, slots=4, topics=("manners:1",)) as c:
        hp = c.jm[len("tcp://"):]
        dead = "127.0.0.1:%d" % free_port()
        env = dict(os.environ, WEIR_JOBMANAGER=hp)
        env.pop("WEIR_KAFKA_BOOTSTRAP", None)
        # host:port, alone, from the environment, in a list after a dead
        # one (either spelling)
        for args, e in ((["--jobmanager", hp], None), ([], env),
                        (["--jobmanager", dead + "," + hp], None),
                        (["--jobmanager", "tcp://" + dead + ", " + hp],
                         None)):
            r = weir(*(args + ["-o", "json", "cluster"]), env=e, check_rc=0)
            check(json_out(r)["leader"] == c.jm, "%s: %s" % (args, r.stdout))

        def j(*args, rc=0):
            return weir("--jobmanager", hp, "-o", "json", *args,
                        check_rc=rc)

        jf = job_file("manners")
        check(json_out(j("validate", jf))["valid"] is True, "validate")
        started = json_out(j("run", "-d", jf))
        check(set(started) == {"job_id"}, "run: %s" % started)
        job_id = started["job_id"]
        c.wait_running(job_id, 30)
        jobs = json_out(j("list"))
        check(set(jobs) == {"jobs"} and len(jobs["jobs"]) == 1, "%s" % jobs)
        check(set(jobs["jobs"][0]) ==
              {"job_id", "name", "state", "start_time"} and
              jobs["jobs"][0]["job_id"] == job_id, "list: %s" % jobs)
        check(json_out(j("list", "-a"))["jobs"][0]["job_id"] == job_id,
              "list -a")
        info = json_out(j("info", job_id))
        check(info["id"] == job_id and {"name", "state", "vertices",
                                        "failure"} <= set(info),
              "info (GET /jobs/{id}'s object): %s" % info)
        # REST adds Flink's keys (docs/rest.md) to weir's, which the CLI
        # prints
        rest = c.rest_json("/jobs/" + job_id)
        check(set(info) <= set(rest) and "jid" in rest,
              "info keys %s, REST %s" % (sorted(info), sorted(rest)))
        c.wait_checkpoint(job_id, 1)
        cps = json_out(j("checkpoints", job_id))
        check({"counts", "history"} <= set(cps), "checkpoints: %s" % cps)
        cl = json_out(j("cluster"))
        check({"leader", "epoch", "jobmanagers", "taskmanagers"} <= set(cl),
              "cluster: %s" % cl)

        # savepoint, then Flink's stop -p DIR -d
        sp = json_out(j("savepoint", job_id, os.path.join(_tmp, "sp0")))
        check(set(sp) == {"path"}, "savepoint: %s" % sp)
        stopped = json_out(j("stop", job_id, "-p",
                             os.path.join(_tmp, "sp1"), "-d"))
        check(set(stopped) == {"path"} and "/sp1/" in stopped["path"],
              "stop -p -d: %s" % stopped)
        check(c.state(job_id) == "FINISHED", "stopped: FINISHED")

        # run -s and Flink's --fromSavepoint / --allowNonRestoredState
        again = json_out(j("run", "-d", "-s", stopped["path"], jf))["job_id"]
        c.wait_running(again, 30)
        c.wait_checkpoint(again, 1)
        r = j("stop", again, "--savepointPath", os.path.join(_tmp, "sp2"),
              "--drain")
        path2 = json_out(r)["path"]
        check("/sp2/" in path2, "stop --savepointPath: %s" % path2)
        third = json_out(j("run", "-d", "--fromSavepoint", path2,
                           "--allowNonRestoredState", jf))["job_id"]
        c.wait_running(third, 30)
        cancelled = json_out(j("cancel", third))
        check(cancelled == {"job_id": third}, "cancel: %s" % cancelled)
        c.wait_state(third, "CANCELED", 30)
        gen = json_out(j("gen", "orders", "--bootstrap", c.bootstrap,
                         "--topic", "manners", "--rate", "0", "--count",
                         "5"))
        check(gen.get("count") == 5, "gen: %s" % gen)

        # errors of the JobManager and of the job as JSON, exit codes kept
        for args in (["info", UNKNOWN], ["cancel", UNKNOWN],
                     ["cancel", third], ["savepoint", UNKNOWN]):
            msg = json_error(j(*args, rc=1))
            check(msg, "%s: %s" % (args, msg))


if __name__ == "__main__":
    main([test_offline, test_unreachable_addresses, test_with_cluster])
