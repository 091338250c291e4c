"""netlab.py - hosts as Linux network namespaces, and a weir cluster
spread over them, for multi-host integration tests (root only).

Lab: a bridge in the root namespace and hosts on it, each a network
namespace (`ip netns`) with a veth on the bridge, an address in
10.231.0.0/24 and an /etc/netns/<ns>/hosts naming every host (`ip netns
exec` bind-mounts it over /etc/hosts, so host names resolve as on real
hosts). The bridge has no address: the root namespace routes nothing to
the lab, and two labs (parallel runs) never meet. Names carry this
process's pid; teardown kills every process in the lab's namespaces and
deletes them, the bridge and the hosts files, however the test ends.

NetCluster: a weirtest.Cluster whose processes run on lab hosts - the
embedded Kafka (`weir local --taskmanagers 0`) on "weir-kafka", one
JobManager on "weir-jm" (HA: "weir-jm1".. and an etcd on weir-kafka), one
TaskManager on each "weir-tm<i>"; the CLI, REST, /metrics and kcat are run
on the Kafka host, a client of the others by name. Every daemon binds
0.0.0.0 and advertises its host name.

The embedded Kafka is librdkafka's mock cluster, which binds 127.0.0.1 and
advertises 127.0.0.1:PORT in its metadata (no API changes either;
notes/dependencies.md). The lab bridges that: tests/tools/tcp_forward.py
listens on the Kafka host's bridge address for the bootstrap port and
every broker port and forwards to its loopback, and on each TaskManager
host listens on 127.0.0.1 for the same ports and forwards to weir-kafka.
Kafka traffic does cross hosts; only the mock's loopback advertisement is
bridged by the test.
"""
import atexit
import json
import os
import re
import shutil
import signal
import subprocess

from weirtest import (ETCD, JOBMANAGER, TASKMANAGER, WEIR, Cluster, Failure,
                      check, lines_by_partition, run, spawn, wait_for)

TCP_FORWARD = os.path.join(os.path.dirname(__file__), "..", "tools",
                           "tcp_forward.py")
SUBNET = "10.231.0"
KAFKA_PORT = 9092


def sh(*args):
    """Runs an ip(8) command; fails with its stderr."""
    r = subprocess.run(list(args), capture_output=True)
    if r.returncode != 0:
        raise Failure("%s: %s" % (" ".join(args),
                                  r.stderr.decode(errors="replace")))


class Lab:
    """Hosts on a bridge, each a network namespace; see the module
    docstring. add(name) adds a host and returns its IP."""

    count = 0  # labs made by this process: each its own names

    def __init__(self):
        Lab.count += 1
        self.tag = "wr%d%s" % (os.getpid(), chr(ord("a") + Lab.count - 1))
        self.bridge = self.tag + "br"
        self.hosts = {}  # name -> (namespace, ip, host-side veth)
        self.closed = False
        atexit.register(self.close)
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "link", "set", self.bridge, "up")

    def ns(self, host):
        return self.hosts[host][0]

    def ip(self, host):
        return self.hosts[host][1]

    def add(self, name):
        i = len(self.hosts) + 1
        ns, ip = "%s-%s" % (self.tag, name), "%s.%d" % (SUBNET, i + 1)
        outer, inner = "%sh%d" % (self.tag, i), "%sn%d" % (self.tag, i)
        self.hosts[name] = (ns, ip, outer)
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        sh("ip", "link", "set", outer, "master", self.bridge, "up")
        sh("ip", "link", "set", inner, "netns", ns)
        sh("ip", "-n", ns, "link", "set", inner, "name", "eth0")
        sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        self._write_hosts()
        return ip

    def _write_hosts(self):
        text = "127.0.0.1 localhost\n::1 localhost\n" + "".join(
            "%s %s\n" % (ip, name) for name, (_, ip, _) in self.hosts.items())
        for ns, _, _ in self.hosts.values():
            d = os.path.join("/etc/netns", ns)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "hosts"), "w") as f:
                f.write(text)

    def cmd(self, host, args):
        """args run on host."""
        return ["ip", "netns", "exec", self.ns(host)] + list(args)

    def pids(self, host):
        r = subprocess.run(["ip", "netns", "pids", self.ns(host)],
                           capture_output=True)
        return [int(p) for p in r.stdout.split()]

    def kill_host(self, host):
        """The host dies: SIGKILL to every process in its namespace, then
        its link goes down (peers see silence, not a reset)."""
        pids = self.pids(host)
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        sh("ip", "link", "set", self.hosts[host][2], "down")
        wait_for(lambda: not self.pids(host), 10, "%s's processes gone" % host)
        return pids

    def close(self):
        """Kills every process on the lab's hosts, then deletes the veths
        (one end takes the other), the namespaces, the bridge and the
        hosts files. A namespace's deletion completes in the kernel
        later: leftovers() is empty once it has."""
        if self.closed:
            return
        self.closed = True
        for name in list(self.hosts):
            for p in self.pids(name):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        for name in list(self.hosts):
            try:
                wait_for(lambda: not self.pids(name), 10,
                         "%s's processes gone" % name)
            except Failure:
                pass  # deleted all the same; the kernel finishes later
        for ns, _, outer in self.hosts.values():
            subprocess.run(["ip", "link", "del", outer], capture_output=True)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            shutil.rmtree(os.path.join("/etc/netns", ns), ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge],
                       capture_output=True)


def leftovers(tag):
    """Namespaces, links and hosts files of lab tag still present."""
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True).stdout
    files = " ".join(os.listdir("/etc/netns")) if os.path.isdir(
        "/etc/netns") else ""
    return re.findall(r"\b%s\S*" % tag, (ns + links).decode() + files)


def check_torn_down(tag):
    """Waits (bounded) until lab tag has left nothing behind."""
    try:
        wait_for(lambda: not leftovers(tag), 10, "lab %s torn down" % tag)
    except Failure:
        raise Failure("lab left behind: %s" % leftovers(tag))


class NetCluster(Cluster):
    """A cluster on a Lab (module docstring): Kafka on weir-kafka, the
    JobManager on weir-jm, `taskmanagers` TaskManagers of `slots` slots on
    weir-tm1.. (topics: "name:partitions"; config: more weir.yaml,
    appended). The Cluster methods that dial (cli, rest, produce, consume,
    tm_metrics) run on the Kafka host."""

    def __init__(self, taskmanagers=2, slots=2, topics=(), config="",
                 jobmanagers=1):
        self.lab = Lab()
        self.tm_hosts = []
        self.nt, self.slots, self.topics = taskmanagers, slots, topics
        self.base_config = config
        self.jm_hosts = ["weir-jm"] if jobmanagers == 1 else [
            "weir-jm%d" % (i + 1) for i in range(jobmanagers)]
        super().__init__(mode="netns", jobmanagers=jobmanagers)

    # Cluster.__init__ calls the start of its mode: this one.
    def _start_netns(self):
        for h in ["weir-kafka"] + self.jm_hosts + [
                "weir-tm%d" % (i + 1) for i in range(self.nt)]:
            self.lab.add(h)
        self.client = "weir-kafka"
        self.rest_host = self.jm_hosts[0]
        self.jms = ["tcp://%s:6123" % h for h in self.jm_hosts]
        self.jm = ",".join(self.jms)
        self.bootstrap = "127.0.0.1:%d" % KAFKA_PORT
        self._start_kafka()
        if self.ha:
            self._start_etcd_on_client()
        self.config_path = self.write("weir.yaml", self._config())
        for h in self.jm_hosts:
            p = self._spawn(h, self.jm_log(h),
                            [JOBMANAGER, "--config", self.config_path,
                             "--advertise", h])
            self.proc = self.proc or p
        for _ in range(self.nt):
            self.start_taskmanager()
        wait_for(lambda: self._daemons_up(self.nt), 30,
                 "the JobManagers and %d TaskManagers up" % self.nt)

    def jm_log(self, host):
        return "jobmanager" if host == "weir-jm" else "jobmanager-" + host

    def _start_etcd_on_client(self):
        """A one-member etcd on the client host's bridge address (clients
        dial it by name), peers on its loopback."""
        url = "http://%s:2379" % self.lab.ip(self.client)
        self.etcd = self._spawn(self.client, "etcd", [
            ETCD, "--name", "e0", "--data-dir",
            os.path.join(self.dir, "etcd"), "--listen-client-urls", url,
            "--advertise-client-urls", "http://%s:2379" % self.client,
            "--listen-peer-urls", "http://127.0.0.1:2380",
            "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
            "--initial-cluster", "e0=http://127.0.0.1:2380",
            "--initial-cluster-state", "new"])
        wait_for(lambda: self._etcd_healthy(), 30, "etcd on " + self.client)

    def _etcd_healthy(self):
        check(self.etcd.poll() is None, "etcd exited:\n" + self.log("etcd"))
        try:
            st, body = self.http("http://%s:2379/health" % self.client)
            return st == 200 and '"true"' in body
        except OSError:
            return False

    def _config(self):
        ha = ("high_availability: { mode: etcd, cluster_id: netlab, "
              "lease_duration: 2s, renew_interval: 500ms, "
              "etcd: { endpoints: [\"http://%s:2379\"] } }\n" %
              self.client) if self.ha else ""
        return ("jobmanager: { rpc: \"tcp://0.0.0.0:6123\", "
                "address: \"%s\", rest: \"0.0.0.0:8081\" }\n"
                "taskmanager: { rpc: \"tcp://0.0.0.0:0\", "
                "data: \"tcp://0.0.0.0:0\", metrics: \"0.0.0.0:9249\", "
                "slots: %d }\n"
                "checkpoints: { storage: \"file://%s/checkpoints\" }\n"
                "kafka: { bootstrap: \"%s\" }\n%s%s" %
                (self.jm, self.slots, self.dir, self.bootstrap, ha,
                 self.base_config))

    def _spawn(self, host, name, args, env=None):
        log = open(os.path.join(self.dir, "log", name + ".log"), "w")
        p = spawn(self.lab.cmd(host, args), stdout=log,
                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                  env=env)
        log.close()
        self.extra.append(p)
        return p

    def _start_kafka(self):
        """weir local with no TaskManager on the Kafka host (its own
        JobManager stays unused, on that host's loopback), then the
        forwarders on that host (bridge address -> loopback)."""
        args = [WEIR, "local", "--taskmanagers", "0", "--kafka-port",
                str(KAFKA_PORT), "--dir", os.path.join(self.dir, "kafka")]
        for t in self.topics:
            args += ["--topic", t]
        self.kafka = self._spawn(self.client, "kafka", args)
        wait_for(lambda: "cluster is up" in self.log("kafka") or
                 self.kafka.poll() is not None, 30, "weir local up")
        check(self.kafka.poll() is None,
              "weir local exited:\n" + self.log("kafka"))
        meta = json.loads(run(self.lab.cmd(self.client, [
            "kcat", "-b", self.bootstrap, "-L", "-J", "-m", "10"]),
            check_rc=0).stdout)
        self.kafka_ports = [KAFKA_PORT] + [
            int(b["name"].rsplit(":", 1)[1]) for b in meta["brokers"]]
        self._forward(self.client, self.lab.ip(self.client), "127.0.0.1")

    def _forward(self, host, listen, target):
        args = ["python3", TCP_FORWARD, listen, target] + [
            str(p) for p in self.kafka_ports]
        name = "forward-%s" % host
        p = self._spawn(host, name, args)
        wait_for(lambda: "ready" in self.log(name) or p.poll() is not None,
                 10, "the forwarder on %s" % host)
        check(p.poll() is None, "forwarder on %s:\n%s" %
              (host, self.log(name)))

    def start_taskmanager(self, env=None):
        """Another TaskManager, on a new host weir-tm<i> when the lab has
        none free (with its forwarder to Kafka); returns its Popen."""
        host = "weir-tm%d" % (len(self.tm_hosts) + 1)
        if host not in self.lab.hosts:
            self.lab.add(host)
        self.tm_hosts.append(host)
        self._forward(host, "127.0.0.1", self.client)
        e = dict(env if env is not None else os.environ,
                 WEIR_TASKMANAGER_STATE_DIR=os.path.join(
                     self.dir, "state-" + host))
        return self._spawn(host, "taskmanager-" + host,
                           [TASKMANAGER, "--config", self.config_path,
                            "--advertise", host], env=e)

    def taskmanager_pids(self):
        return [p.pid for p in self.extra if p.poll() is None and
                TASKMANAGER in p.args]

    # ---- what dials, run on the client host ----

    def cli(self, *args, check_rc=0, input=None, timeout=60):
        return run(self.lab.cmd(self.client, [WEIR, "--jobmanager", self.jm]
                                + list(args)),
                   input=input, timeout=timeout, check_rc=check_rc)

    def http(self, url):
        """(status, body) of a GET from the client host."""
        r = run(self.lab.cmd(self.client, ["curl", "-s", "-m", "5", "-w",
                                           "\n%{http_code}", url]))
        body, _, status = r.stdout.decode().rpartition("\n")
        if r.returncode != 0:
            raise OSError("curl %s: exit %d" % (url, r.returncode))
        return int(status), body

    def rest(self, path):
        """GET path on the REST API of rest_host (the first JobManager
        unless a test moves it)."""
        return self.http("http://%s:8081%s" % (self.rest_host, path))

    def tm_metrics(self):
        out = []
        for t in self.taskmanagers():
            try:
                st, text = self.http("http://%s/metrics" %
                                     t["metrics_address"])
            except OSError:
                continue
            if st == 200:
                out.append(text)
        return out

    def _kcat(self, args, input=None, timeout=60):
        return run(self.lab.cmd(self.client, ["kcat", "-b", self.bootstrap]
                                + args), input=input, check_rc=0,
                   timeout=timeout)

    def produce(self, topic, lines, partition=None):
        for p, ls in lines_by_partition(lines, partition).items():
            self._kcat(["-P", "-t", topic] + (["-p", str(p)] if p is not None
                                              else []),
                       input="".join(ls).encode())

    def log(self, name):
        try:
            with open(os.path.join(self.dir, "log", name + ".log"),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    # ---- stopping ----

    def stop(self):
        """SIGTERM to every daemon (each must exit 0), then weir local
        (SIGINT); then the sanitizer check of every log."""
        self.stopped = True
        for binary in (TASKMANAGER, JOBMANAGER):
            daemons = [p for p in self.extra if p.poll() is None and
                       binary in p.args]
            for p in daemons:
                p.send_signal(signal.SIGTERM)
            for p in daemons:
                rc = p.wait(timeout=30)
                check(rc == 0, "%s on %s exited %d on SIGTERM" %
                      (binary, p.args[3], rc))
        if self.ha and self.etcd.poll() is None:
            self.etcd.terminate()  # after the JobManagers: they resign
            self.etcd.wait(timeout=30)
        if self.kafka.poll() is None:
            self.kafka.send_signal(signal.SIGINT)
            check(self.kafka.wait(timeout=30) == 0, "weir local exit")
        self.check_sanitizers()

    def close(self):
        if self.closed:
            return
        self.lab.close()  # kills every process on the lab's hosts
        for p in self.extra:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.proc = None
        super().close()
