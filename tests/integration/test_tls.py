"""test_tls.py - TLS (security.tls) end to end, on top of the cluster
token.

Standalone daemons with a throwaway CA (openssl at test time) and mutual
TLS: a keyed job whose shuffle crosses two TaskManagers finishes with
every record; the CLI with the cluster's CA and certificate is served,
with a certificate of another CA or without TLS it is refused (exit 3,
saying why); REST and a TaskManager's /metrics answer https with the CA
and not plain http; a TaskManager whose certificate another CA signed
cannot register; a JobManager dialled by a name its certificate does not
carry is refused; unreadable, mismatched or half-set files stop a daemon
at start, naming the file."""
import os
import re
import socket
import subprocess

from weirtest import (JOBMANAGER, WEIR, Cluster, check, free_port, main,
                      make_pki, run, scratch_dir, sink_lines, spawn, text_of,
                      wait_for)

N = 1000  # records per source subtask
JOB = """\
name: tls-shuffle
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


def env_without_tls():
    env = dict(os.environ)
    for k in list(env):
        if k.startswith("WEIR_SECURITY_TLS_") or k == "WEIR_TOKEN_FILE":
            env.pop(k)
    return env


def weir(c, *args, tls=None):
    """weir with the cluster's token and the TLS files tls (ca, cert,
    key; None: no TLS flags)."""
    flags = ["--jobmanager", c.jm, "--token-file", c.token_file]
    if tls is not None:
        flags += ["--tls-ca", tls[0], "--tls-cert", tls[1], "--tls-key",
                  tls[2]]
    return run([WEIR] + flags + list(args), env=env_without_tls(),
               timeout=30)


def check_cli(c, wrong):
    r = weir(c, "list", "-o", "json", tls=c.tls)
    check(r.returncode == 0, "list with the cluster's CA: %s" % text_of(r))
    r = weir(c, "list", tls=wrong)
    err = r.stderr.decode()
    check(r.returncode == 3, "list with another CA exited %d: %s" %
          (r.returncode, text_of(r)))
    check("TLS handshake failed" in err and "--tls-ca" in err,
          "the refusal says why: %r" % err)
    r = weir(c, "list")
    err = r.stderr.decode()
    check(r.returncode == 3, "list without TLS exited %d: %s" %
          (r.returncode, text_of(r)))
    check("does not speak weir's RPC" in err and "--tls-ca" in err,
          "a plain client is told about TLS: %r" % err)
    # the right CA but no certificate of its own: mutual TLS refuses it
    r = run([WEIR, "--jobmanager", c.jm, "--token-file", c.token_file,
             "--tls-ca", c.tls[0], "list"], env=env_without_tls(),
            timeout=30)
    check(r.returncode == 3 and "TLS handshake failed" in
          r.stderr.decode(), "a CLI without a client certificate: %s" %
          text_of(r))


def curl(*args):
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w",
                           "%{http_code}", "--max-time", "10"] +
                          list(args), capture_output=True, text=True)


def check_https(c, ca, port, path):
    url = "127.0.0.1:%d%s" % (port, path)
    auth = "Authorization: Bearer " + c.token
    r = curl("--cacert", ca, "-H", auth, "https://" + url)
    check(r.returncode == 0 and r.stdout == "200",
          "https %s with the CA: %s %s" % (url, r.stdout, r.stderr))
    r = curl("--cacert", ca, "https://" + url)
    check(r.stdout == "401", "https %s without the token: %s" %
          (url, r.stdout))
    r = curl("-H", auth, "http://" + url)
    check(r.returncode != 0, "plain http %s answered: %s" % (url, r.stdout))
    r = curl("-H", auth, "https://" + url)
    check(r.returncode != 0, "https %s without the CA answered" % url)


def check_rest(c):
    check_https(c, c.tls[0], c.rest_port, "/jobs")
    st, body = c.rest("/jobs")  # weirtest's own client, https
    check(st == 200 and "jobs" in body, "rest(): %d %s" % (st, body))
    m = re.search(r"TM-STARTED .* metrics=127\.0\.0\.1:(\d+)",
                  c.log("tm-extra-0"))
    check(m is not None, "the TaskManager's metrics port")
    check_https(c, c.tls[0], int(m.group(1)), "/metrics")


SP_HEADER = b"\x00SP\x00\x00\x30\x00\x00"  # nng's req0, in clear


def check_plain_sp(c):
    """A plain tcp:// nng peer's first bytes to the JobManager's and a
    TaskManager's RPC and the shuffle's data port: a plain listener
    answers with its SP header; these answer none (TLS wants a
    ClientHello first, and closes)."""
    tm = c.log("tm-extra-0")
    ports = {"jobmanager rpc": c.jm_port}
    for name in ("rpc", "data"):
        m = re.search(r"TM-STARTED .* %s=tcp://127\.0\.0\.1:(\d+)" % name,
                      tm)
        check(m is not None, "the TaskManager's %s port" % name)
        ports["taskmanager " + name] = int(m.group(1))
    for name, port in ports.items():
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            s.settimeout(5)
            s.sendall(SP_HEADER)
            try:
                got = s.recv(8)
            except (socket.timeout, ConnectionResetError):
                got = b""
        check(not got.startswith(b"\x00SP"),
              "%s answered a plain nng peer: %r" % (name, got))


def check_wrong_taskmanager(c, wrong):
    """Its certificate signed by another CA: the JobManager's handshake
    refuses it, so it never registers."""
    env = dict(os.environ, WEIR_SECURITY_TLS_CERT=wrong[1],
               WEIR_SECURITY_TLS_KEY=wrong[2])
    p = c.start_taskmanager(env=env)
    name = "tm-extra-%d" % (len(c.extra) - 1)
    wait_for(lambda: "TM-REGISTER-FAILED" in c.log(name), 30,
             "the TaskManager with another CA's certificate to fail")
    check("security.tls" in c.log(name), "its log points at TLS: %s" %
          c.log(name)[-1000:])
    check(p.poll() is None, "it keeps retrying")
    check(len(c.cluster_json()["taskmanagers"]) == 2,
          "the TaskManager with another CA's certificate did not register")
    p.kill()
    p.wait()


def check_shuffle_job(c):
    out = os.path.join(c.dir, "out")
    job = c.submit(JOB.format(n=N, out=out))
    info = c.wait_state(job, "FINISHED", timeout_s=40)
    check(info["state"] == "FINISHED", "the job finished: %s" % info)
    got = sink_lines(out)
    check(len(got) == 2 * N, "%d records out of %d" % (len(got), 2 * N))
    check(len(set(got)) == 2 * N, "no record twice")


def test_daemons_with_tls():
    with Cluster(mode="daemons", taskmanagers=2, slots=1, token=True,
                 tls=True) as c:
        wrong = make_pki(c.dir, "wrong")
        for log in ("jobmanager", "tm-extra-0"):
            check("TLS-ON" in c.log(log), "%s says TLS is on" % log)
        check_shuffle_job(c)
        check_cli(c, wrong)
        check_rest(c)
        check_plain_sp(c)
        check_wrong_taskmanager(c, wrong)


def jm_config(d, tls, rpc_port=None):
    """A JobManager's weir.yaml in d with security.tls = tls (a dict)."""
    cfg = os.path.join(d, "jm.yaml")
    with open(cfg, "w") as f:
        f.write("jobmanager: { rpc: \"tcp://127.0.0.1:%d\", "
                "rest: \"127.0.0.1:%d\" }\n"
                "checkpoints: { storage: \"file://%s/ckpt\" }\n"
                "security: { tls: { %s } }\n" %
                (rpc_port or free_port(), free_port(), d,
                 ", ".join("%s: \"%s\"" % kv for kv in tls.items())))
    return cfg


def test_host_name_checked():
    """A JobManager whose certificate names localhost only: the CLI
    dialling it as localhost is served, as 127.0.0.1 refused (the chain
    is right, the name is not)."""
    d = scratch_dir("tls")
    ca, cert, key = make_pki(d, san="DNS:localhost")
    port = free_port()
    cfg = jm_config(d, {"cert": cert, "key": key, "ca": ca}, port)
    log = open(os.path.join(d, "jm.log"), "w")
    p = spawn([JOBMANAGER, "--config", cfg], stdout=log,
              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    try:
        def cli(host):
            return run([WEIR, "--jobmanager", "tcp://%s:%d" % (host, port),
                        "--tls-ca", ca, "--tls-cert", cert, "--tls-key",
                        key, "list"], env=env_without_tls(), timeout=30)
        wait_for(lambda: cli("localhost").returncode == 0, 20,
                 "the JobManager to serve the CLI as localhost")
        r = cli("127.0.0.1")
        check(r.returncode == 3 and "does not name host 127.0.0.1" in
              r.stderr.decode(), "dialled as 127.0.0.1: %s" % text_of(r))
    finally:
        p.terminate()
        p.wait(timeout=10)


def start_fails(d, tls):
    r = run([JOBMANAGER, "--config", jm_config(d, tls)], timeout=20)
    check(r.returncode == 1, "exit %d: %s" % (r.returncode, text_of(r)))
    check("TLS-CONFIG" in text_of(r), "TLS-CONFIG: %s" % text_of(r))
    return text_of(r)


def test_bad_files_stop_start():
    d = scratch_dir("tls")
    ca, cert, key = make_pki(d)
    _, _, other_key = make_pki(d, "other")
    missing = os.path.join(d, "nope.pem")
    out = start_fails(d, {"cert": cert, "key": missing, "ca": ca})
    check("security.tls.key" in out and missing in out and
          "not found" in out, "names the missing key: %s" % out)
    out = start_fails(d, {"cert": cert, "key": other_key, "ca": ca})
    check("is not the key of cert" in out and other_key in out,
          "a key of another certificate: %s" % out)
    out = start_fails(d, {"cert": cert, "key": key, "ca": key})
    check("security.tls.ca" in out and "not PEM CA" in out,
          "a CA file that is no certificate: %s" % out)
    out = start_fails(d, {"cert": cert})
    check("cert and key go together" in out, "cert without key: %s" % out)
    out = start_fails(d, {"ca": ca})
    check("without cert and key" in out, "a daemon with a CA only: %s" % out)


if __name__ == "__main__":
    main([test_bad_files_stop_start, test_host_name_checked,
          test_daemons_with_tls])
