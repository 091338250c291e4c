"""weirtest.py - shared pieces of weir's integration tests: real
processes on loopback.

Every wait is a bounded poll (wait_for); nothing sleeps blindly. A test
runs against a Cluster (weir local, or standalone daemons) in a `with`
block: processes are stopped or killed and the temporary directory removed
however the test ends, so a failing test leaves nothing behind.
"""
import atexit
import glob
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import http.client
import urllib.request

BIN = os.environ.get("WEIR_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "debug", "bin")
WEIR = os.path.join(BIN, "weir")
JOBMANAGER = os.path.join(BIN, "weir-jobmanager")
TASKMANAGER = os.path.join(BIN, "weir-taskmanager")
# Debian's etcd-server (tests/unit/wrtest.c starts it the same way).
ETCD = shutil.which("etcd") or "/usr/bin/etcd"
# The Lease server written for the tests (no API server can be installed).
LEASE_SERVER = os.path.join(os.path.dirname(__file__), "..", "tools",
                            "lease_server.py")

_procs = []

# Leak checking is off in the daemons these tests start (it stays on in the
# unit tests, which ctest runs with the preset's ASAN_OPTIONS): nng 1.5.2
# keeps a reply whose peer vanished, or a dialer's pipe, past nng_close now
# and then, and LeakSanitizer then fails a daemon's exit at random (seen in
# test_rpc_bad_input and test_windows under ASan, with every allocation
# inside libnng). Memory errors still abort and fail the test.
if "detect_leaks=1" in os.environ.get("ASAN_OPTIONS", ""):
    os.environ["ASAN_OPTIONS"] = os.environ["ASAN_OPTIONS"].replace(
        "detect_leaks=1", "detect_leaks=0")


def _cleanup():
    for c in _clusters:
        c.close()
    for d in _scratch:
        if os.environ.get("WEIR_KEEP_TMP"):
            print("     kept %s" % d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    for p in _procs:
        if p.poll() is None:
            p.kill()
            p.wait()


atexit.register(_cleanup)


def lines_by_partition(lines, partition=None):
    """{partition: [line + newline]} of lines to produce: strings, or
    objects written as JSON (an object's "_p" names its partition and is
    left out). partition: of every line; None: the "_p" of each, else
    kcat's choice."""
    by_part = {}
    for l in lines:
        p = partition
        if not isinstance(l, str):
            p = l.get("_p", p)
            l = json.dumps({k: v for k, v in l.items() if k != "_p"})
        by_part.setdefault(p, []).append(l + "\n")
    return by_part


def make_pki(dir, name="pki",
             san="DNS:localhost,DNS:127.0.0.1,IP:127.0.0.1"):
    """A throwaway CA and one certificate it signs, made with the openssl
    CLI in dir/name: (ca, cert, key) paths. The certificate serves and
    authenticates every process of a test cluster: serverAuth and
    clientAuth, SAN (default) localhost and 127.0.0.1, the latter as a
    DNS name too (mbedTLS 2.28 matches a host only against DNS names)."""
    d = os.path.join(dir, name)
    os.makedirs(d)
    ca, crt, key = (os.path.join(d, f) for f in ("ca.crt", "node.crt",
                                                    "node.key"))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
          "-nodes"]
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + san + "\n"
                "extendedKeyUsage=serverAuth,clientAuth\n"
                "basicConstraints=CA:FALSE\n")
    for args in (
            ["req", "-x509"] + ec + ["-keyout", os.path.join(d, "ca.key"),
                                     "-out", ca, "-days", "2", "-subj",
                                     "/CN=weir test CA " + name],
            ["req"] + ec + ["-keyout", key, "-out",
                            os.path.join(d, "node.csr"), "-subj",
                            "/CN=weir test node"],
            ["x509", "-req", "-in", os.path.join(d, "node.csr"), "-CA", ca,
             "-CAkey", os.path.join(d, "ca.key"), "-CAcreateserial", "-out",
             crt, "-days", "2", "-extfile", ext]):
        subprocess.run(["openssl"] + args, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return ca, crt, key


class Failure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def wait_for(cond, timeout_s, what, interval_s=0.05):
    """Polls cond() until it returns a truthy value or timeout_s passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise Failure("timed out after %.1fs waiting for %s" %
                          (timeout_s, what))
        time.sleep(interval_s)


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A loopback port free now, for a daemon to listen on. Chosen below
    the kernel's ephemeral range: a port from bind(0) is an ephemeral one,
    which any outgoing connection (a client, a Kafka fetcher) may take
    between this check and the daemon's bind - "address already in use"
    in a parallel run. Ports below the range are only ever taken by
    listeners that ask for them."""
    lo, _ = _ephemeral_range()
    rnd = random.SystemRandom()
    for _ in range(200):
        port = rnd.randrange(max(1024, lo - 12000), lo)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # the range below is crowded: any port
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(args, **kw):
    p = subprocess.Popen(args, **kw)
    _procs.append(p)
    return p


def run(args, input=None, timeout=60, check_rc=None, env=None):
    r = subprocess.run(args, input=input, capture_output=True,
                       timeout=timeout, env=env)
    if check_rc is not None and r.returncode != check_rc:
        raise Failure("%s exited %d (wanted %d)\nstdout: %s\nstderr: %s" %
                      (" ".join(args), r.returncode, check_rc,
                       r.stdout.decode(errors="replace")[-2000:],
                       r.stderr.decode(errors="replace")[-2000:]))
    return r


def write_file(d, name, text):
    """Writes text to d/name; returns the path."""
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def text_of(r):
    """stdout, then stderr, of a finished run, as text."""
    return r.stdout.decode(errors="replace") + r.stderr.decode(
        errors="replace")


def http_get(url, timeout=5, token=None, ca=None):
    """(status, body text) of a GET; token: sent as a bearer token; ca:
    the CA file an https server's certificate is checked against."""
    req = urllib.request.Request(url)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    # nng 1.5.2's HTTPS server closes a connection right after a response
    # to a client that asked for "Connection: close" (urllib does); now and
    # then the close overtakes the body's last TLS record (seen about once
    # in 5 runs of test_tls under load; docs/security.md): one retry.
    for attempt in (0, 1):
        try:
            with urllib.request.urlopen(req, timeout=timeout,
                                        context=ctx) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (http.client.IncompleteRead, ConnectionResetError):
            if ctx is None or attempt == 1:
                raise


def http_call(method, url, body=None, timeout=10):
    """(status, body text) of an HTTP request; body: bytes, str or None."""
    if isinstance(body, str):
        body = body.encode()
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def children_of(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def metric_value(text, name, labels=""):
    """The value of the series name{labels} in a Prometheus text, or None."""
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)),
                  text, re.M)
    return float(m.group(1)) if m else None


def metric_sum(text, name, job=None, vertex=None, missing=0.0):
    """Sum of every name{...} series of a Prometheus text, of one job
    (job_id) and vertex when given; missing when there is none."""
    total, seen = 0.0, False
    for line in text.splitlines():
        if not (line.startswith(name + "{") or line.startswith(name + " ")):
            continue
        if job is not None and 'job_id="%s"' % job not in line:
            continue
        if vertex is not None and 'vertex="%s"' % vertex not in line:
            continue
        total += float(line.rsplit(" ", 1)[1])
        seen = True
    return total if seen else missing


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read()
    except OSError:
        return b""


_clusters = []
_scratch = []


def scratch_dir(prefix):
    """A temporary directory removed at exit (for files a test writes
    outside a cluster's directory)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _scratch.append(d)
    return d


class EtcdMember:
    """One etcd-server process of a test's etcd (Debian's etcd-server;
    tests/unit/wrtest.c starts a single one the same way): its client and
    peer URLs on loopback, its data dir, its log (appended to across
    restarts)."""

    def __init__(self, name, port, peer_port, data_dir, log_path):
        self.name, self.data_dir, self.log_path = name, data_dir, log_path
        self.url = "http://127.0.0.1:%d" % port
        self.peer_url = "http://127.0.0.1:%d" % peer_port
        self.proc = None

    def start(self, initial_cluster, token):
        """Starts it: initial_cluster ("name=peer,...") and token on the
        first start; None again on its data dir (etcd then ignores the
        bootstrap flags and rejoins as the member it was)."""
        args = [ETCD, "--name", self.name, "--data-dir", self.data_dir,
                "--listen-client-urls", self.url,
                "--advertise-client-urls", self.url,
                "--listen-peer-urls", self.peer_url,
                "--initial-advertise-peer-urls", self.peer_url]
        if initial_cluster is not None:
            args += ["--initial-cluster", initial_cluster,
                     "--initial-cluster-token", token,
                     "--initial-cluster-state", "new"]
        log = open(self.log_path, "a")
        self.proc = spawn(args, stdout=log, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL)
        log.close()

    def healthy(self):
        try:
            st, body = http_get(self.url + "/health", 2)
            return st == 200 and json.loads(body).get("health") == "true"
        except (OSError, ValueError):
            return False

    def status(self):
        """etcd's maintenance status of this member (member_id in its
        header, the raft leader's id in leader), or None."""
        req = urllib.request.Request(self.url + "/v3/maintenance/status",
                                     data=b"{}", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=2) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-3000:]


class Cluster:
    """What a test runs against, on free loopback ports in a temporary
    directory, and always cleaned up: on leaving a `with` block, at
    close(), or at exit for a cluster shared by several tests.

    mode "local": `weir local` - the embedded Kafka, a JobManager and
    `taskmanagers` TaskManagers of `slots` slots (topics: "name:partitions"
    created at start; config: a base weir.yaml). mode "daemons": a
    standalone weir-jobmanager and `taskmanagers` weir-taskmanager
    processes, no Kafka (config: more weir.yaml sections, appended). env:
    the environment of the processes started at start (None: this
    process's), for fault injection or credentials, say.

    Leaving a `with` block normally stops the cluster with stop(), which
    checks the processes exit cleanly; leaving it on an exception kills
    them. Either way the directory is removed (kept when WEIR_KEEP_TMP is
    set, or keep=True).

    HA: jobmanagers=N >= 2 starts N JobManagers in high_availability.mode
    etcd, each on its own RPC and REST ports (jms[i], rest_ports[i]);
    TaskManagers and the CLI are given every address (jm is the
    comma-separated list). Mode "daemons": the test starts them and an
    etcd of etcd_members members (1 or 3; etcd_urls, its client URLs;
    etcd_url, the first), given every etcd URL; etcd_signal / etcd_start
    kill, pause and restart a member on its data dir; etcd_stop_all /
    etcd_start_all do it to every member. ha="kubernetes" (mode
    "daemons"): tests/tools/lease_server.py (leases_url, a bearer token)
    instead of etcd, the JobManagers in mode kubernetes on its Lease
    weir/weir-leader, the job store in the checkpoint storage. Mode
    "local": `weir local --jobmanagers N` starts its own etcd, and the
    addresses are those of its DIR/weir.env (env_file()).

    token=True: a cluster token (docs/security.md) in DIR/token (mode
    "local": `weir local --token` writes it; "daemons": written here and
    named by security.token_file); cli() and rest() send it, token_file
    and token say what it is.

    tls=True (mode "daemons"): a CA and a certificate it signs, made with
    make_pki in DIR/pki, named by security.tls (mutual TLS); tls is then
    (ca, cert, key), cli() passes them as --tls-ca/--tls-cert/--tls-key
    and rest() speaks https."""

    def __init__(self, taskmanagers=2, slots=2, topics=(), config=None,
                 mode="local", env=None, keep=False, jobmanagers=1,
                 ha="etcd", etcd_members=1, token=False, tls=False):
        self.dir = tempfile.mkdtemp(prefix="weir-it-")
        self.tls = make_pki(self.dir) if tls else None
        self.mode, self.keep = mode, keep
        self.token_file = os.path.join(self.dir, "token") if token else None
        self.token = None
        self.env = env
        self.ha = jobmanagers > 1
        self.rest_ports = [free_port() for _ in range(jobmanagers)]
        self.rest_port = self.rest_ports[0]
        self.jms = ["tcp://127.0.0.1:%d" % free_port()
                    for _ in range(jobmanagers)]
        self.jm_port = int(self.jms[0].rsplit(":", 1)[1])
        self.jm = ",".join(self.jms)
        self.bootstrap = None
        self.proc = None  # weir local, or the (first) standalone JobManager
        self.jm_procs = {}  # JobManager index -> its latest Popen (HA)
        self.etcd_members = []  # EtcdMember each (HA)
        self.etcd_urls, self.etcd_url = [], None
        self.ha_backend, self.leases = ha, None  # Lease server (kubernetes)
        self.extra = []  # processes started here besides self.proc
        self.stopped = self.closed = False
        os.makedirs(os.path.join(self.dir, "log"))
        self.out_path = os.path.join(self.dir, "local.out")
        self.out = open(self.out_path, "w")
        _clusters.append(self)
        try:
            if mode == "local":
                self._start_local(taskmanagers, slots, topics, config)
            elif mode == "daemons":
                self._start_daemons(taskmanagers, slots, config,
                                    etcd_members)
            elif hasattr(self, "_start_" + mode):  # a subclass's mode
                getattr(self, "_start_" + mode)()
            else:
                raise ValueError("mode %r" % mode)
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None and not self.stopped:
                self.stop()
            elif exc_type is not None:
                self.print_evidence()
        finally:
            self.close()
        return False

    def print_evidence(self, lines=40):
        """A failed test's evidence before the directory goes: the last
        warnings and errors of every daemon's log (a flaky failure in CI
        leaves nothing else)."""
        logdir = os.path.join(self.dir, "log")
        try:
            names = sorted(os.listdir(logdir))
        except OSError:
            return
        for name in names:
            try:
                with open(os.path.join(logdir, name), errors="replace") as f:
                    bad = [ln.rstrip() for ln in f
                           if " WARN " in ln or " ERROR " in ln]
            except OSError:
                continue
            if bad:
                print("     --- %s: last %d of %d warnings/errors" %
                      (name, min(lines, len(bad)), len(bad)))
                for ln in bad[-lines:]:
                    print("     " + ln[:400])

    # ---- starting and stopping ----

    def _start_local(self, taskmanagers, slots, topics, config):
        kafka_port = free_port()
        self.bootstrap = "127.0.0.1:%d" % kafka_port
        args = [WEIR, "--jobmanager", self.jms[0], "local",
                "--jobmanagers", str(len(self.jms)),
                "--taskmanagers", str(taskmanagers), "--slots", str(slots),
                "--kafka-port", str(kafka_port),
                "--rest-port", str(self.rest_port), "--dir", self.dir]
        if config is not None:
            args[1:1] = ["--config", self.write("base.yaml", config)]
        if self.token_file:
            args.append("--token")
        for t in topics:
            args += ["--topic", t]
        self.proc = spawn(args, stdout=self.out, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, env=self.env)
        wait_for(self._local_up, 30, "weir local to come up")
        if self.token_file:
            with open(self.token_file) as f:
                self.token = f.read().strip()
        if self.ha:  # the other JobManagers are on ports weir local chose
            env = self.env_file()
            self.jm = env["WEIR_JOBMANAGER"]
            self.jms = self.jm.split(",")
            self.rest_ports = [int(u.rsplit(":", 1)[1])
                               for u in env["WEIR_REST"].split(",")]
            self.etcd_url = env["WEIR_ETCD"]

    def env_file(self):
        """weir local's DIR/weir.env as a dict (its `export K='V'`
        lines)."""
        out = {}
        with open(os.path.join(self.dir, "weir.env")) as f:
            for line in f:
                m = re.match(r"export (\w+)='([^']*)'$", line.strip())
                if m:
                    out[m.group(1)] = m.group(2)
        return out

    def _local_up(self):
        if self.proc.poll() is not None:
            raise Failure("weir local exited %d:\n%s" %
                          (self.proc.returncode, self.output()))
        return "cluster is up" in self.output()

    def _start_etcd(self, n):
        """An etcd of n members in DIR/etcd-<i> on free client and peer
        ports, bootstrapped statically (every member named in
        --initial-cluster), all of them answering healthy."""
        peers = []
        for i in range(n):
            m = EtcdMember("m%d" % i, free_port(), free_port(),
                           os.path.join(self.dir, "etcd-%d" % i),
                           os.path.join(self.dir, "log", "etcd-%d.log" % i))
            self.etcd_members.append(m)
            peers.append("%s=%s" % (m.name, m.peer_url))
        self.etcd_urls = [m.url for m in self.etcd_members]
        self.etcd_url = self.etcd_urls[0]
        for m in self.etcd_members:
            m.start(",".join(peers), os.path.basename(self.dir))
        self.wait_etcd_healthy(range(n))

    def wait_etcd_healthy(self, members, timeout_s=30):
        """Polls until each of members (indexes) answers /health with
        true: it is up and its cluster has a raft leader."""
        def healthy():
            for i in members:
                m = self.etcd_members[i]
                if m.proc.poll() is not None:
                    raise Failure("etcd member %s exited %d:\n%s" %
                                  (m.name, m.proc.returncode, m.log()))
                if not m.healthy():
                    return False
            return True
        wait_for(healthy, timeout_s, "etcd members %s healthy" %
                 list(members), 0.1)

    def _start_lease_server(self):
        """tests/tools/lease_server.py on a free port with a bearer token;
        returns the high_availability section naming it."""
        port = free_port()
        self.leases_url = "http://127.0.0.1:%d" % port
        token = self.write("k8s-token", "test-token\n")
        log_path = os.path.join(self.dir, "log", "leases.log")
        log = open(log_path, "w")
        self.leases = spawn([sys.executable, LEASE_SERVER, "--port",
                             str(port), "--token-file", token],
                            stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
        log.close()

        def up():
            if self.leases.poll() is not None:
                raise Failure("lease_server.py exited %d" %
                              self.leases.returncode)
            with open(log_path) as f:
                return "ready" in f.read()
        wait_for(up, 20, "the Lease server to serve")
        return ("high_availability: { mode: kubernetes, kubernetes: { "
                "api: \"%s\", namespace: weir, lease: weir-leader, "
                "token_file: \"%s\", ca_file: \"\" } }\n" %
                (self.leases_url, token))

    def etcd_signal(self, i, sig=signal.SIGKILL):
        """Sends sig to etcd member i (SIGKILL: waits until it is gone;
        SIGSTOP/SIGCONT pause and resume it)."""
        m = self.etcd_members[i]
        m.proc.send_signal(sig)
        if sig == signal.SIGKILL:
            m.proc.wait(timeout=10)

    def etcd_start(self, i):
        """Starts etcd member i again on its data dir (after a SIGKILL);
        does not wait (wait_etcd_healthy: a lone member of three has no
        quorum)."""
        m = self.etcd_members[i]
        check(m.proc.poll() is not None, "etcd member %s still runs" %
              m.name)
        m.start(None, None)

    def etcd_stop_all(self, sig=signal.SIGKILL):
        """Every etcd member at once: SIGKILL (gone) or SIGSTOP (hung:
        connections accepted, nothing answered)."""
        for i in range(len(self.etcd_members)):
            self.etcd_signal(i, sig)

    def etcd_start_all(self):
        """Brings every member back after etcd_stop_all (SIGCONT to a
        stopped one, a new process on its data dir for a killed one) and
        waits until all are healthy."""
        for i, m in enumerate(self.etcd_members):
            if m.proc.poll() is None:
                m.proc.send_signal(signal.SIGCONT)
            else:
                self.etcd_start(i)
        self.wait_etcd_healthy(range(len(self.etcd_members)))

    def etcd_raft_leader(self):
        """The index of the member that leads etcd's raft, or None."""
        ids = {}
        for i, m in enumerate(self.etcd_members):
            st = m.status()
            if st is not None:
                ids[st["header"]["member_id"]] = i
                lead = st.get("leader")
        return ids.get(lead) if ids else None

    def _start_daemons(self, taskmanagers, slots, config, etcd_members):
        if self.ha and self.ha_backend == "kubernetes":
            config = self._start_lease_server() + (config or "")
        elif self.ha:
            self._start_etcd(etcd_members)
            config = ("high_availability: { mode: etcd, etcd: "
                      "{ endpoints: [%s] } }\n" % ", ".join(
                          '"%s"' % u for u in self.etcd_urls)) + \
                (config or "")
        text = ("jobmanager: { rpc: \"%s\", address: \"%s\", "
                "rest: \"127.0.0.1:%d\" }\n"
                "taskmanager: { rpc: \"tcp://127.0.0.1:0\", "
                "data: \"tcp://127.0.0.1:0\", advertise: 127.0.0.1, "
                "metrics: \"127.0.0.1:0\", slots: %d, "
                "state_dir: \"%s/state\" }\n"
                "checkpoints: { storage: \"file://%s/checkpoints\" }\n" %
                (self.jm, self.jm, self.rest_port, slots, self.dir,
                 self.dir)) + (config or "")
        if self.token_file:
            self.token = "it-" + os.urandom(16).hex()
            fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, (self.token + "\n").encode())
            os.close(fd)
        security = []
        if self.token_file:
            security.append("token_file: \"%s\"" % self.token_file)
        if self.tls:
            security.append("tls: { ca: \"%s\", cert: \"%s\", "
                            "key: \"%s\" }" % self.tls)
        if security:
            text += "security: { %s }\n" % ", ".join(security)
        self.write("weir.yaml", text)
        self.proc = self.start_jobmanager()
        for i in range(1, len(self.jms)):
            self.start_jobmanager("jobmanager-%d" % i, i)
        for _ in range(taskmanagers):
            self.start_taskmanager()
        wait_for(lambda: self._daemons_up(taskmanagers), 30,
                 "JobManager and %d TaskManagers up" % taskmanagers)

    def _daemons_up(self, taskmanagers):
        if self.proc.poll() is not None:
            raise Failure("weir-jobmanager exited %d:\n%s" %
                          (self.proc.returncode, self.log("jobmanager")))
        r = self.cli("cluster", "-o", "json", check_rc=None, timeout=20)
        return r.returncode == 0 and len(
            json.loads(r.stdout)["taskmanagers"]) == taskmanagers

    def start_jobmanager(self, name="jobmanager", index=0):
        """A weir-jobmanager on the cluster's weir.yaml, logging to
        log/<name>.log (after kill_jobmanager: a new leader). HA: the
        JobManager number index, on its own ports."""
        log = open(os.path.join(self.dir, "log", name + ".log"), "a")
        args = [JOBMANAGER, "--config", os.path.join(self.dir, "weir.yaml")]
        if self.ha:
            args += ["--rpc", self.jms[index], "--address", self.jms[index],
                     "--rest", "127.0.0.1:%d" % self.rest_ports[index]]
        p = spawn(args, stdout=log, stderr=subprocess.STDOUT,
                  stdin=subprocess.DEVNULL, env=self.env)
        log.close()
        self.jm_procs[index] = p
        if self.proc is not None:
            self.extra.append(p)
        return p

    @staticmethod
    def jm_log_name(i):
        """The log (Cluster.log) of JobManager number i."""
        return "jobmanager" if i == 0 else "jobmanager-%d" % i

    def restart_jobmanager(self, i):
        """HA: starts JobManager number i again after it died (killed, or
        exited deposed: a supervisor's job); returns its Popen."""
        self.jm_procs[i].wait(timeout=10)  # killed: gone (reaped) soon
        return self.start_jobmanager(self.jm_log_name(i), i)

    def leader(self):
        """HA: the index of the JobManager whose /readyz is 200, or
        None."""
        for i, port in enumerate(self.rest_ports):
            try:
                if http_get("http://127.0.0.1:%d/readyz" % port, 2)[0] \
                        == 200:
                    return i
            except OSError:
                pass
        return None

    def start_taskmanager(self, env=None):
        """Another TaskManager on the cluster's weir.yaml (env: its
        environment; None: the cluster's); returns its Popen."""
        n = len(self.extra)
        log = open(os.path.join(self.dir, "log", "tm-extra-%d.log" % n), "w")
        p = spawn([TASKMANAGER, "--config",
                   os.path.join(self.dir, "weir.yaml")],
                  stdout=log, stderr=subprocess.STDOUT,
                  stdin=subprocess.DEVNULL,
                  env=env if env is not None else self.env)
        log.close()
        self.extra.append(p)
        return p

    def stop(self):
        """Stops everything and checks it went cleanly: weir local on
        Ctrl-C (every child gone, exit 0), standalone daemons on SIGTERM;
        processes started here besides are killed. Then fails on a
        sanitizer report in any log."""
        self.stopped = True
        for p in self.extra:
            if p.poll() is None and self.mode == "local":
                p.kill()
        if self.mode == "local":
            kids = self.child_pids()
            self.proc.send_signal(signal.SIGINT)
            rc = self.proc.wait(timeout=30)
            self.out.close()
            left = [p for p in kids if alive(p)]
            check(rc == 0, "weir local exited %d on SIGINT" % rc)
            check(not left,
                  "processes left after weir local stopped: %s" % left)
        else:
            procs = [p for p in [self.proc] + self.extra if p.poll() is None]
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                rc = p.wait(timeout=30)
                check(rc == 0, "%s exited %d on SIGTERM" % (
                    _cmdline(p.pid).split(b"\0")[0] or p.args[0], rc))
            # etcd and the Lease server last: leaders resign through them
            for m in self.etcd_members:
                if m.proc.poll() is None:
                    m.proc.terminate()
            for m in self.etcd_members:
                m.proc.wait(timeout=30)
            if self.leases is not None:
                self.leases.terminate()
                self.leases.wait(timeout=30)
            self.out.close()
        for p in self.extra:
            p.wait()
        self.check_sanitizers()

    def close(self):
        """Kills whatever still runs (children of weir local too) and
        removes the directory. Safe to call twice."""
        if self.closed:
            return
        self.closed = True
        procs = [p for p in [self.proc, self.leases] + self.extra +
                 [m.proc for m in self.etcd_members] if p is not None]
        kids = self.child_pids() if self.proc is not None else []
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if not self.out.closed:
            self.out.close()
        if self.keep or os.environ.get("WEIR_KEEP_TMP"):
            print("     kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- files and logs ----

    def write(self, name, text):
        """Writes text to a new file in the cluster's directory (name, or
        name-N when taken); returns its path."""
        path = os.path.join(self.dir, name)
        base, ext = os.path.splitext(path)
        n = 1
        while os.path.exists(path):
            path = "%s-%d%s" % (base, n, ext)
            n += 1
        with open(path, "w") as f:
            f.write(text)
        return path

    def output(self):
        with open(self.out_path) as f:
            return f.read()

    def log(self, name):
        with open(os.path.join(self.dir, "log", name + ".log")) as f:
            return f.read()

    def check_sanitizers(self):
        """Fails on a sanitizer report in any daemon's log (a sanitizer
        build's processes report and go on or abort; either is a bug)."""
        for path in glob.glob(os.path.join(self.dir, "log", "*.log")):
            with open(path, errors="replace") as f:
                text = f.read()
            for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                         "WARNING: ThreadSanitizer", "runtime error:"):
                i = text.find(mark)
                check(i < 0, "%s in %s:\n%s" % (mark, path,
                                                 text[i:i + 3000]))

    # ---- the CLI, REST and jobs ----

    def cli(self, *args, check_rc=0, input=None, timeout=60):
        tok = ["--token-file", self.token_file] if self.token_file else []
        if self.tls:
            tok += ["--tls-ca", self.tls[0], "--tls-cert", self.tls[1],
                    "--tls-key", self.tls[2]]
        return run([WEIR, "--jobmanager", self.jm] + tok + list(args),
                   input=input, timeout=timeout, check_rc=check_rc)

    def cluster_json(self):
        return json.loads(self.cli("cluster", "-o", "json").stdout)

    def rest(self, path):
        """(status, body text) of a GET on the JobManager's REST API."""
        return http_get("%s://127.0.0.1:%d%s" %
                        ("https" if self.tls else "http", self.rest_port,
                         path), token=self.token,
                        ca=self.tls[0] if self.tls else None)

    def rest_call(self, method, path, body=None):
        """(status, parsed JSON body) of a request to the JobManager's
        REST API."""
        st, text = http_call(method, "http://127.0.0.1:%d%s" %
                             (self.rest_port, path), body)
        return st, json.loads(text)

    def rest_json(self, path):
        """The parsed body of a GET, or None when the JobManager does not
        answer it (busy, restarting)."""
        try:
            st, body = self.rest(path)
            return json.loads(body) if st == 200 else None
        except (OSError, ValueError):
            return None

    def submit(self, job, *flags, name="job.yaml", wait=None, timeout=60):
        """Submits a job detached: job is YAML text (written to the
        cluster's directory as name) or a job file's path; flags go to
        `weir run` (-p, --from-savepoint, ...). wait: a state to wait for
        (wait_state). Returns the job id."""
        path = self.write(name, job) if "\n" in job else job
        r = self.cli("run", "-d", "-o", "json", *flags, path,
                     timeout=timeout)
        job_id = json.loads(r.stdout)["job_id"]
        if wait is not None:
            self.wait_state(job_id, wait, timeout)
        return job_id

    def info(self, job_id):
        return json.loads(self.cli("info", job_id, "-o", "json").stdout)

    def state(self, job_id):
        return self.info(job_id)["state"]

    def running(self, job_id):
        """The job and every subtask RUNNING (False also while the
        JobManager does not answer)."""
        try:
            i = self.info(job_id)
        except Failure:
            return False
        return i["state"] == "RUNNING" and all(
            s["state"] == "RUNNING" for v in i["vertices"]
            for s in v["subtasks"])

    def wait_state(self, job_id, state, timeout_s=60, interval_s=0.05):
        """Polls until the job is in state (or one of a tuple of states);
        returns its info. A state the job cannot leave (FINISHED, FAILED,
        CANCELED) other than the ones waited for fails at once."""
        want = (state,) if isinstance(state, str) else tuple(state)

        def reached():
            try:
                i = self.info(job_id)
            except Failure:  # a busy JobManager: poll again
                return None
            st = i["state"]
            if st in want:
                return i
            if st in ("FINISHED", "FAILED", "CANCELED"):
                raise Failure("job %s is %s (failure: %s), waited for %s" %
                              (job_id, st, i.get("failure"),
                               "/".join(want)))
            return None
        return wait_for(reached, timeout_s, "job %s %s" %
                        (job_id, "/".join(want)), interval_s)

    def wait_running(self, job_id, timeout_s=60):
        """Polls until the job and every subtask are RUNNING; a timeout
        says where the job was (its state, failure, subtasks not
        RUNNING)."""
        try:
            wait_for(lambda: self.running(job_id), timeout_s,
                     "job %s and every subtask RUNNING" % job_id)
        except Failure as e:
            try:
                i = self.info(job_id)
                late = ["%s/%s %s" % (v.get("name", "?"), s.get("subtask"),
                                      s.get("state"))
                        for v in i["vertices"] for s in v["subtasks"]
                        if s.get("state") != "RUNNING"]
                where = "job %s, failure %r, not RUNNING: %s" % (
                    i.get("state"), i.get("failure"), ", ".join(late[:8]))
            except Failure as e2:
                where = "info failed: %s" % e2
            raise Failure("%s (%s)" % (e, where))

    def cancel(self, job_id, timeout_s=30):
        """Cancels a job and waits until it is CANCELED (its slots are
        free only then)."""
        self.cli("cancel", job_id)
        self.wait_state(job_id, "CANCELED", timeout_s)

    def checkpoints(self, job_id):
        return json.loads(self.cli("checkpoints", job_id, "-o", "json")
                          .stdout)

    def completed_checkpoints(self, job_id):
        """Completed checkpoints of the job; -1 while the JobManager does
        not answer."""
        try:
            return self.checkpoints(job_id)["counts"]["completed"]
        except (Failure, ValueError, KeyError):
            return -1

    def wait_checkpoint(self, job_id, n, timeout_s=30):
        """Polls until at least n checkpoints of the job completed;
        returns `weir checkpoints` of then."""
        wait_for(lambda: self.completed_checkpoints(job_id) >= n, timeout_s,
                 "%d completed checkpoints of %s" % (n, job_id))
        return self.checkpoints(job_id)

    # ---- Kafka (kcat) ----

    def produce(self, topic, lines, partition=None, kcat_args=()):
        """Writes lines to topic: strings, or objects written as JSON (an
        object's "_p" names its partition and is left out). partition: of
        every line; None: the "_p" of each, else kcat's choice. kcat_args:
        more kcat flags (-X message.max.bytes=N for big records)."""
        for p, ls in lines_by_partition(lines, partition).items():
            args = ["kcat", "-b", self.bootstrap, "-P", "-t", topic]
            args += list(kcat_args)
            if p is not None:
                args += ["-p", str(p)]
            run(args, input="".join(ls).encode(), check_rc=0)

    def produce_keyed(self, topic, messages):
        """Writes keyed messages to topic: (key, value, partition) each,
        value an object written as JSON or None for a tombstone (a null
        value, kcat -Z), in order per partition."""
        by_part = {}
        for key, value, p in messages:
            check("\t" not in key and "\n" not in key, "key %r" % key)
            v = "" if value is None else json.dumps(value)
            by_part.setdefault(p, []).append("%s\t%s\n" % (key, v))
        for p, ls in by_part.items():
            run(["kcat", "-b", self.bootstrap, "-P", "-t", topic, "-K",
                 "\t", "-Z", "-p", str(p)],
                input="".join(ls).encode(), check_rc=0)

    def kafka_metadata(self, topic=None):
        """What `kcat -L -J` reports (every topic, or topic's)."""
        args = ["kcat", "-b", self.bootstrap, "-L", "-J", "-m", "10"]
        if topic is not None:
            args += ["-t", topic]
        return json.loads(run(args, check_rc=0).stdout)

    def consume(self, topic, fmt="%s\n", committed=False, timeout=60):
        """Every message of topic up to the end of each partition, one
        string each as fmt (kcat -f) makes it; committed: only those of
        committed transactions."""
        args = ["kcat", "-b", self.bootstrap, "-C", "-t", topic, "-e", "-q",
                "-f", fmt]
        if committed:
            args[-2:-2] = ["-X", "isolation.level=read_committed"]
        r = run(args, check_rc=0, timeout=timeout)
        return r.stdout.decode().splitlines()

    # ---- processes ----

    def child_pids(self):
        return children_of(self.proc.pid)

    def pids_named(self, name):
        """Live children of weir local whose command line holds name."""
        return [p for p in self.child_pids()
                if name.encode() in _cmdline(p) and alive(p)]

    def taskmanager_pids(self):
        """Live TaskManagers: weir local's, then those started here."""
        pids = self.pids_named("weir-taskmanager") \
            if self.mode == "local" else []
        return pids + [p.pid for p in self.extra
                       if TASKMANAGER.encode() in _cmdline(p.pid) and
                       alive(p.pid)]

    @staticmethod
    def tm_id(pid):
        """The TaskManager's id, from the TM-STARTED line of its log."""
        try:
            with open(os.readlink("/proc/%d/fd/1" % pid)) as f:
                m = re.search(r"TM-STARTED id=(\S+)", f.read())
            return m.group(1) if m else None
        except OSError:
            return None

    def pid_of(self, tm_id):
        for p in self.taskmanager_pids():
            if self.tm_id(p) == tm_id:
                return p
        return None

    def kill_taskmanager(self, pid=None, job=None, rnd=None,
                         sig=signal.SIGKILL):
        """Sends sig (SIGKILL; SIGSTOP/SIGCONT to pause and resume) to a
        TaskManager: pid, or one chosen with rnd (the first without) among
        those running a task of job when given. Returns its pid."""
        if pid is None:
            pids = self.taskmanager_pids()
            if job is not None:
                used = {s.get("taskmanager") for v in
                        self.info(job)["vertices"] for s in v["subtasks"]}
                pids = [p for p in pids if self.tm_id(p) in used] or pids
            check(pids, "no TaskManager to signal")
            pid = rnd.choice(pids) if rnd is not None else pids[0]
        os.kill(pid, sig)
        return pid

    def pause_taskmanager(self, pid):
        self.kill_taskmanager(pid, sig=signal.SIGSTOP)

    def resume_taskmanager(self, pid):
        self.kill_taskmanager(pid, sig=signal.SIGCONT)

    def jobmanager_pid(self):
        """The pid of the JobManager weir local or the cluster started
        (SIGSTOP/SIGCONT it to pause and resume)."""
        return self.pids_named("weir-jobmanager")[0] \
            if self.mode == "local" else self.proc.pid

    def local_jobmanager_pid(self, index):
        """HA under weir local: the pid of its JobManager number index
        (the one on rest_ports[index]), or None."""
        flag = b"--rest\x00127.0.0.1:%d\x00" % self.rest_ports[index]
        for p in self.pids_named("weir-jobmanager"):
            if flag in _cmdline(p) + b"\x00":
                return p
        return None

    def kill_jobmanager(self):
        """SIGKILLs the JobManager (HA: the leader) and waits until it is
        gone; returns its pid."""
        if self.ha:
            i = wait_for(lambda: self.leader() is not None and
                         [self.leader()], 20, "a leader")[0]
            pid = self.local_jobmanager_pid(i) if self.mode == "local" \
                else self.jm_procs[i].pid
        else:
            pid = self.jobmanager_pid()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not alive(pid), 5, "JobManager to die")
        return pid

    # ---- metrics ----

    def metrics(self):
        """The JobManager's /metrics text."""
        st, text = self.rest("/metrics")
        check(st == 200, "JobManager /metrics: %d" % st)
        return text

    def taskmanagers(self):
        """The live TaskManagers as REST /taskmanagers lists them."""
        d = self.rest_json("/taskmanagers") or {}
        return [t for t in d.get("taskmanagers", [])
                if t.get("state") == "alive"]

    def tm_metrics(self):
        """The /metrics texts of the live TaskManagers (those that
        answer)."""
        out = []
        for t in self.taskmanagers():
            try:
                st, text = http_get("http://%s/metrics" %
                                    t["metrics_address"])
            except OSError:
                continue
            if st == 200:
                out.append(text)
        return out

    def tm_metric(self, name, job=None, vertex=None):
        """Sum of a metric over the live TaskManagers (of one job and
        vertex when given)."""
        return sum(metric_sum(t, name, job, vertex)
                   for t in self.tm_metrics())


def main(tests):
    """Runs test functions in order; prints a summary line; exits 1 on
    failure."""
    failed = 0
    for t in tests:
        t0 = time.monotonic()
        try:
            t()
            print("ok   %-40s %.1fs" % (t.__name__, time.monotonic() - t0))
        except Exception as e:  # report every failure, then go on
            failed += 1
            print("FAIL %-40s %s: %s" % (t.__name__, type(e).__name__, e))
            if not isinstance(e, Failure):  # not a check: say where
                here = os.path.dirname(os.path.abspath(__file__))
                tb = [f for f in traceback.extract_tb(e.__traceback__)
                      if os.path.abspath(f.filename).startswith(here)]
                print("".join(traceback.format_list(tb[-5:])), end="")
        sys.stdout.flush()
    print("%d passed, %d failed" % (len(tests) - failed, failed))
    _cleanup()
    sys.exit(1 if failed else 0)


def sink_lines(out_dir, committed_only=False):
    """Complete lines of a file sink's part files. With committed_only
    False, files in progress count too (a part file may be renamed into
    place between listing and reading: then list again)."""
    for _ in range(10):
        paths = glob.glob(os.path.join(out_dir, "part-*"))
        if not committed_only:
            paths += glob.glob(os.path.join(out_dir, ".part-*"))
        lines = []
        try:
            for path in paths:
                with open(path) as f:
                    # A file in progress may end in a line being written.
                    lines.extend(l for l in f if l.endswith("\n"))
            return lines
        except FileNotFoundError:
            continue
    raise Failure("part files of %s kept moving" % out_dir)


def _pb_fields(buf):
    """(field number, wire type, value) of a protobuf message: ints for
    varints, bytes for length-delimited fields (what checkpoint metadata
    uses)."""
    i, out = 0, []

    def varint():
        nonlocal i
        v, shift = 0, 0
        while True:
            b = buf[i]
            i += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return v
    while i < len(buf):
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            out.append((num, wt, varint()))
        elif wt == 2:
            n = varint()
            out.append((num, wt, bytes(buf[i:i + n])))
            i += n
        elif wt == 1:
            out.append((num, wt, buf[i:i + 8]))
            i += 8
        elif wt == 5:
            out.append((num, wt, buf[i:i + 4]))
            i += 4
        else:
            raise Failure("protobuf wire type %d" % wt)
    return out


def checkpoint_offsets(url):
    """{(topic, partition): next offset to read} of a checkpoint's or
    savepoint's _metadata (url: its file:// directory or path): the
    24-byte header of common/storage/ckpt_meta.c, then the protobuf
    CheckpointMetadata, whose field 9 lists SourceOffsets."""
    path = url[len("file://"):] if url.startswith("file://") else url
    with open(os.path.join(path, "_metadata"), "rb") as f:
        data = f.read()
    check(data[:4] == b"WRCK", "checkpoint metadata magic of %s" % path)
    offsets = {}
    for num, _, v in _pb_fields(data[24:]):
        if num != 9:
            continue
        so = {n: val for n, _, val in _pb_fields(v)}
        offsets[(so[1].decode(), so[2])] = so[3]
    return offsets
