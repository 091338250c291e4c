"""test_readme.py - README.md's "Try a job by hand" as a user runs it, on
non-default ports.

The sh block after "Try a job by hand:" is read from README.md and run
by a fresh `bash -c` whose environment holds no WEIR_* variable, changed
only as the README says: the build's bin directory for build/release/bin,
a scratch DIR for /tmp/weir-try, and `weir local` given free Kafka, REST
and JobManager ports (the flags the README names). Every command after
`. DIR/weir.env` runs as written, so `weir gen`, `run` and `consume` must
find the cluster from weir.env alone. Then the other verbs, still without
an address on their line: topic create, produce and consume of a new
topic, cluster, list, info, checkpoints, cancel. The script stops
`weir local` with Ctrl-C on its way out (a trap); the test checks it
exited cleanly and removed weir.env.
"""
import json
import os
import re
import signal
import subprocess

from weirtest import BIN, check, free_port, main, scratch_dir

SRC = os.environ.get("WEIR_SOURCE_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..")

# After the README's commands: the verbs a user tries next, from weir.env.
MORE = """
echo "== more verbs"
weir topic create extra:2
printf '{"n":1}\\n{"n":2}\\n' | weir produce extra
weir consume extra -n 2 --timeout 30s
weir cluster
weir list
job=$(weir list -o json | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]
print(j.get("job_id") or j["id"])')
weir info "$job"
weir checkpoints "$job"
weir cancel "$job"
"""


def readme_block():
    with open(os.path.join(SRC, "README.md")) as f:
        text = f.read()
    m = re.search(r"Try a job by hand:\s*```sh\n(.*?)```", text, re.S)
    check(m, "README.md has a 'Try a job by hand' sh block")
    return m.group(1)


def script(d, ports):
    """The README block as the README says to change it, then MORE."""
    kafka, rest, jm = ports
    out = []
    for line in readme_block().splitlines():
        line = line.replace("$PWD/build/release/bin", BIN)
        line = line.replace("/tmp/weir-try", d)
        if re.match(r"weir local .*&\s*$", line):
            line = re.sub(r"\s*&\s*$", " --kafka-port %d --rest-port %d "
                          "--jobmanager tcp://127.0.0.1:%d &" % ports, line)
            # the user's Ctrl-C, however the script ends
            line += ("\nlocal_pid=$!\ntrap 'kill -INT $local_pid; rc=0; "
                     "wait $local_pid || rc=$?; echo \"local exited $rc\"' "
                     "EXIT")
        out.append(line)
    text = "\n".join(out)
    check(text.count("--kafka-port") == 1, "weir local in:\n%s" % text)
    return "set -euo pipefail\n" + text + "\n" + MORE


def test_try_a_job_by_hand():
    d = os.path.join(scratch_dir("weir-it-readme-"), "try")
    ports = (free_port(), free_port(), free_port())
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEIR_")}
    p = subprocess.Popen(["bash", "-c", script(d, ports)], cwd=SRC, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        raise AssertionError("README commands still running after 120 s:\n"
                             "%s" % out.decode(errors="replace")[-3000:])
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    text = out.decode(errors="replace")
    check(p.returncode == 0, "README commands exited %d:\n%s" %
          (p.returncode, text[-3000:]))
    lines = text.splitlines()
    paid = [json.loads(l) for l in lines if l.startswith('{"order_id"')]
    check(len(paid) == 10 and all("amount_eur" in o for o in paid),
          "weir consume paid_orders -n 10 printed:\n%s" % text[-3000:])
    check(re.search(r"127\.0\.0\.1:%d" % ports[0], text),
          "weir local on Kafka port %d:\n%s" % (ports[0], text[-3000:]))
    check('{"n":1}' in text and '{"n":2}' in text,
          "produce/consume extra:\n%s" % text[-3000:])
    check(lines[-1] == "local exited 0", "weir local on Ctrl-C: %s" %
          lines[-1])
    check(not os.path.exists(os.path.join(d, "weir.env")),
          "weir.env removed when weir local stopped")


if __name__ == "__main__":
    main([test_try_a_job_by_hand])
