"""podsim.py - a pod simulation: runs rendered Kubernetes objects
(tests/tools/kustomize_lite.py) as real processes, without an API server,
as far as weir's manifests need it.

What it does as Kubernetes would, and how:

- network: every pod gets its own network namespace with one address on a
  bridge (10.201.0.0/24), itself inside a private "switch" namespace, so
  nothing is added to the host's network. The kubelet's side (probes, and
  the test's own HTTP calls) runs in a "node" namespace on the same bridge
  (Sim.node_call: a thread that setns(2)s there).
- a pod's container: command and args as given ($(VAR) expanded), the
  binaries found on PATH (the image's /usr/local/bin is the build's bin
  directory here); env from value, the downward API (status.podIP,
  metadata.name and .namespace), Secret and ConfigMap keys and envFrom;
  run as securityContext.runAsUser/runAsGroup with no capabilities and
  no_new_privs (setpriv), in a private mount namespace (unshare -m) where
  configMap, secret (laid out as the kubelet does, with the ..data
  symlink that update_configmap() swaps, defaultMode and the fsGroup's
  group on the files), emptyDir and hostPath volumes
  are bind-mounted at their mountPath (a mountPath whose parent does not
  exist on this machine gets an overlayfs over its nearest existing
  ancestor, so the host is not touched), /etc/hosts is the pod's own
  file, and readOnlyRootFilesystem remounts / read-only;
- Services: their names (NAME, NAME.NS, NAME.NS.svc,
  NAME.NS.svc.cluster.local) resolve, through every pod's /etc/hosts,
  to the IPs of the Ready pods they select: a ClusterIP's kube-proxy
  balancing becomes the resolver's choice; a Service with no Ready pod
  resolves to the node's address, where nothing listens, so connecting
  is refused as kube-proxy's REJECT rule for a Service without endpoints
  makes it;
- the kubelet: one thread per pod polls the readiness and liveness
  probes (httpGet) with their initialDelaySeconds, periodSeconds,
  timeoutSeconds and thresholds; readiness gates the Service entries; a
  failed liveness probe, or an exited container, restarts the container
  (restartPolicy Always, back-off 10 s as the kubelet's first);
  termination sends SIGTERM, waits terminationGracePeriodSeconds, then
  SIGKILL; the pod leaves the Services at once;
- the API server, for a pod's service account only: with Sim.api set
  (an address, a port and a token: tests/tools/lease_server.py stands in
  for the Lease endpoints), KUBERNETES_SERVICE_HOST/_PORT are in every
  container's environment and pods of a serviceAccountName get its token,
  ca.crt and namespace at /var/run/secrets/kubernetes.io/serviceaccount
  unless automountServiceAccountToken is false;
- Deployments and StatefulSets: `replicas` pods named NAME-xxxxx (or
  NAME-0.. for a StatefulSet, each also named POD.SVC through its headless
  Service); a deleted pod is replaced by the test (create_pod), as the
  controller would; rollout_restart() of a Deployment follows the
  RollingUpdate strategy's maxSurge/maxUnavailable of 1/0 (a new pod
  Ready before an old one is stopped, one at a time), as `kubectl rollout
  restart` does.

Not simulated: the rest of the API server, the scheduler, kube-proxy's
virtual IPs, resource limits, image pulls, scaling.
"""
import base64
import ctypes
import http.client
import os
import random
import re
import shlex
import shutil
import signal
import string
import subprocess
import threading
import time

from weirtest import BIN, Failure, wait_for

CLONE_NEWNET = 0x40000000
SUBNET = "10.201.0"
RESTART_BACKOFF_S = 10
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
WORKLOADS = ("Deployment", "StatefulSet")
_libc = ctypes.CDLL(None, use_errno=True)


def sh(*args):
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise Failure("%s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


class Net:
    """The bridge in its switch namespace and one namespace per host."""

    def __init__(self, tag):
        self.tag, self.n, self.hosts = tag, 1, []
        self.sw = tag + "-sw"
        sh("ip", "netns", "add", self.sw)
        sh("ip", "-n", self.sw, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.sw, "link", "set", "br0", "up")

    def add_host(self, short):
        """A new namespace on the bridge: (its name, its address)."""
        self.n += 1
        if self.n > 250:
            raise Failure("podsim: out of addresses")
        ns, ip = "%s-%s" % (self.tag, short), "%s.%d" % (SUBNET, self.n)
        veth = "v%d" % self.n
        sh("ip", "netns", "add", ns)
        self.hosts.append(ns)
        sh("ip", "-n", self.sw, "link", "add", veth, "type", "veth", "peer",
           "name", "eth0", "netns", ns)
        sh("ip", "-n", self.sw, "link", "set", veth, "master", "br0", "up")
        sh("ip", "-n", ns, "addr", "add", ip + "/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        return ns, ip

    def remove_host(self, ns):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if ns in self.hosts:
            self.hosts.remove(ns)

    def close(self):
        for ns in list(self.hosts) + [self.sw]:
            self.remove_host(ns)


def enter_netns(ns):
    """Moves the calling thread into network namespace ns."""
    fd = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
    finally:
        os.close(fd)


def expand(text, env):
    """Kubernetes' $(VAR) expansion ($$ escapes; unknown stays)."""
    return re.sub(r"\$\$|\$\((\w+)\)",
                  lambda m: "$" if m.group(0) == "$$" else
                  env.get(m.group(1), m.group(0)), text)


def http_status(ip, port, path, timeout, headers=None):
    c = http.client.HTTPConnection(ip, port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    except OSError:
        return None, ""
    finally:
        c.close()


def write_atomic(d, data, mode=0o644, gid=-1):
    """A ConfigMap or Secret volume as the kubelet's AtomicWriter lays it
    out: the files in a fresh ..<time> directory, ..data a symlink to it
    (swapped by a rename on an update), each key a symlink through
    ..data; the files owned by root and group gid (the pod's fsGroup),
    with the volume's mode (volume_mode())."""
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    stamp = "..%d" % time.monotonic_ns()
    os.mkdir(os.path.join(d, stamp))
    os.chmod(os.path.join(d, stamp), 0o755)
    for k, val in data.items():
        with open(os.path.join(d, stamp, k), "w") as f:
            f.write(val)
        os.chown(os.path.join(d, stamp, k), 0, gid)
        os.chmod(os.path.join(d, stamp, k), mode)
    old = (os.readlink(os.path.join(d, "..data"))
           if os.path.islink(os.path.join(d, "..data")) else None)
    os.symlink(stamp, os.path.join(d, "..data_tmp"))
    os.rename(os.path.join(d, "..data_tmp"), os.path.join(d, "..data"))
    for k in data:
        if not os.path.islink(os.path.join(d, k)):
            os.symlink(os.path.join("..data", k), os.path.join(d, k))
    for k in os.listdir(d):
        if not k.startswith("..") and k not in data:
            os.unlink(os.path.join(d, k))
    if old:
        shutil.rmtree(os.path.join(d, old))


def volume_mode(spec, volume):
    """(file mode, group) of a ConfigMap or Secret volume's files as the
    kubelet sets them: defaultMode (0644 unless given); with a pod
    fsGroup, that group, and group read added (read-only volumes)."""
    src = volume.get("configMap") or volume.get("secret")
    mode = src.get("defaultMode", 0o644)
    fs_group = spec.get("securityContext", {}).get("fsGroup")
    return ((mode | 0o440, fs_group) if fs_group is not None else
            (mode, -1))


class Probe:
    def __init__(self, spec, ports):
        get = spec["httpGet"]
        self.path = get.get("path", "/")
        p = get["port"]
        self.port = ports[p] if isinstance(p, str) else p
        self.delay = spec.get("initialDelaySeconds", 0)
        self.period = spec.get("periodSeconds", 10)
        self.timeout = spec.get("timeoutSeconds", 1)
        self.fail_max = spec.get("failureThreshold", 3)
        self.ok_min = spec.get("successThreshold", 1)
        self.reset(time.monotonic())

    def reset(self, started):
        self.next = started + self.delay
        self.fails = self.oks = 0

    def due(self, now):
        if now < self.next:
            return False
        self.next = now + self.period
        return True

    def check(self, ip):
        st, _ = http_status(ip, self.port, self.path, self.timeout)
        ok = st is not None and 200 <= st < 400
        self.fails, self.oks = ((0, self.oks + 1) if ok else
                                (self.fails + 1, 0))
        return ok


class Pod:
    def __init__(self, sim, owner, name, template):
        self.sim, self.owner, self.name = sim, owner, name
        self.labels = template["metadata"].get("labels", {})
        self.spec = template["spec"]
        self.c = self.spec["containers"][0]
        self.ns, self.ip = sim.net.add_host(name)
        # A StatefulSet's replacement pod has the same name: own dir each.
        self.dir = os.path.join(sim.dir, "pods", "%s.%s" % (name, self.ip))
        os.makedirs(self.dir)
        self.hosts = os.path.join(self.dir, "hosts")
        self.log_path = os.path.join(self.dir, "container.log")
        self.proc, self.ready, self.restarts = None, False, 0
        self.terminating = self.gone = False
        self.exits = []  # (how, when) of each container that ended
        ports = {p.get("name"): p["containerPort"]
                 for p in self.c.get("ports", [])}
        self.readiness = (Probe(self.c["readinessProbe"], ports)
                          if "readinessProbe" in self.c else None)
        self.liveness = (Probe(self.c["livenessProbe"], ports)
                         if "livenessProbe" in self.c else None)
        self.grace = self.spec.get("terminationGracePeriodSeconds", 30)
        self.mounts = self._volumes()
        sim.write_hosts(self)
        self.start()
        self.thread = threading.Thread(target=self._kubelet, daemon=True)
        self.thread.start()

    # ---- the container ----

    def env(self):
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOSTNAME": self.name, "HOME": "/"}
        if self.sim.api:
            base["KUBERNETES_SERVICE_HOST"] = self.sim.api[0]
            base["KUBERNETES_SERVICE_PORT"] = str(self.sim.api[1])
        field = {"status.podIP": self.ip, "metadata.name": self.name,
                 "metadata.namespace": self.sim.namespace}
        for ef in self.c.get("envFrom", []):
            src = (self.sim.secret(ef["secretRef"]["name"])
                   if "secretRef" in ef else
                   self.sim.configmap(ef["configMapRef"]["name"]))
            base.update(src)
        for e in self.c.get("env", []):
            if "value" in e:
                base[e["name"]] = expand(e["value"], base)
                continue
            vf = e["valueFrom"]
            if "fieldRef" in vf:
                base[e["name"]] = field[vf["fieldRef"]["fieldPath"]]
            elif "secretKeyRef" in vf:
                ref = vf["secretKeyRef"]
                base[e["name"]] = self.sim.secret(ref["name"])[ref["key"]]
            else:
                ref = vf["configMapKeyRef"]
                base[e["name"]] = self.sim.configmap(ref["name"])[ref["key"]]
        return base

    def _volumes(self):
        """(source dir, mountPath, read-only) of each volumeMount."""
        uid = self._uid()
        out = []
        vols = {v["name"]: v for v in self.spec.get("volumes", [])}
        for vm in self.c.get("volumeMounts", []):
            v = vols[vm["name"]]
            src = os.path.join(self.dir, "vol", vm["name"])
            if "configMap" in v or "secret" in v:
                data = (self.sim.configmap(v["configMap"]["name"])
                        if "configMap" in v else
                        self.sim.secret(v["secret"]["secretName"]))
                write_atomic(src, data, *volume_mode(self.spec, v))
            elif "emptyDir" in v:
                os.makedirs(src, exist_ok=True)
                os.chown(src, uid[0], self.spec.get(
                    "securityContext", {}).get("fsGroup", uid[1]))
                os.chmod(src, 0o2775)
            elif "hostPath" in v:
                src = v["hostPath"]["path"]
            else:
                raise Failure("podsim: volume %s: kind not simulated" % v)
            out.append((src, vm["mountPath"], vm.get("readOnly", False)))
        if self.sim.api and self.spec.get("serviceAccountName") and \
                self.spec.get("automountServiceAccountToken", True):
            src = os.path.join(self.dir, "vol", "serviceaccount")
            os.makedirs(src)
            for k, v in (("token", self.sim.api[2]), ("ca.crt", ""),
                         ("namespace", self.sim.namespace)):
                with open(os.path.join(src, k), "w") as f:
                    f.write(v)
            os.chmod(src, 0o755)
            out.append((src, SA_DIR, True))
        return out

    def _uid(self):
        psc = self.spec.get("securityContext", {})
        csc = self.c.get("securityContext", {})
        uid = csc.get("runAsUser", psc.get("runAsUser", 0))
        gid = csc.get("runAsGroup", psc.get("runAsGroup", uid))
        if (csc.get("runAsNonRoot", psc.get("runAsNonRoot")) and uid == 0):
            raise Failure("%s: runAsNonRoot with user 0" % self.name)
        return uid, gid

    def mount_script(self):
        """The shell lines that lay out the container's filesystem in its
        private mount namespace; the command follows as "$@"."""
        # The build's binaries where the image has them: a volume at
        # /tmp (the JobManager's emptyDir) must not hide a build under
        # /tmp, nor a 0700 parent keep the pod's user from them.
        lines, overlaid = ["set -e", "mount --bind %s /usr/local/bin" %
                           shlex.quote(os.path.abspath(BIN))], set()
        for i, (src, dst, _) in enumerate(self.mounts):
            anc = dst
            while not os.path.exists(anc):
                anc = os.path.dirname(anc)
            if anc != dst and anc not in overlaid:
                # A fresh writable layer per container, as a runtime's.
                up = os.path.join(self.dir, "overlay%d" % i)
                shutil.rmtree(up, ignore_errors=True)
                os.makedirs(up + "/up")
                os.makedirs(up + "/work")
                lines.append("mount -t overlay overlay -o lowerdir=%s,"
                             "upperdir=%s/up,workdir=%s/work %s" %
                             (anc, up, up, anc))
                overlaid.add(anc)
            lines.append("mkdir -p %s" % shlex.quote(dst))
        binds = self.mounts + [(self.hosts, "/etc/hosts", False)]
        # A mount over a directory holding another's source (an emptyDir
        # at /tmp over this pod's files in /tmp) goes after it.
        srcs = [b[0] for b in binds]
        for src, dst, ro in sorted(binds, key=lambda b: sum(
                1 for s in srcs if s.startswith(b[1].rstrip("/") + "/"))):
            lines.append("mount --bind %s %s" % (shlex.quote(src),
                                                 shlex.quote(dst)))
            if ro:
                lines.append("mount -o remount,bind,ro %s" %
                             shlex.quote(dst))
        if self.c.get("securityContext", {}).get("readOnlyRootFilesystem"):
            for mp in ["/"] + sorted(overlaid):
                lines.append("mount -o remount,bind,ro %s" % mp)
        uid, gid = self._uid()
        lines.append("exec setpriv --reuid=%d --regid=%d --clear-groups "
                     "--inh-caps=-all --bounding-set=-all --no-new-privs "
                     "-- \"$@\"" % (uid, gid))
        return "\n".join(lines)

    def start(self):
        env = self.env()
        argv = [expand(a, env) for a in
                self.c.get("command", []) + self.c.get("args", [])]
        log = open(self.log_path, "a")
        log.write("=== container start %d: %s\n" % (self.restarts,
                                                    " ".join(argv)))
        log.flush()
        self.proc = subprocess.Popen(
            ["nsenter", "--net=/run/netns/" + self.ns, "unshare", "-m",
             "--propagation", "private", "sh", "-c", self.mount_script(),
             "sh"] + argv, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)
        log.close()
        self.started = time.monotonic()
        for p in (self.readiness, self.liveness):
            if p:
                p.reset(self.started)

    def stop_container(self, why):
        """SIGTERM, terminationGracePeriodSeconds, then SIGKILL."""
        p = self.proc
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(self.grace)
                how = "exited %d after SIGTERM" % p.returncode
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                how = "SIGKILLed after the %ds grace period" % self.grace
        else:
            how = "had exited %d" % p.returncode
        self.exits.append(("%s (%s)" % (how, why), time.monotonic()))
        return how

    def host_path(self, path):
        """Where a container path on a volume is on this machine (kubectl
        cp writes there)."""
        for src, dst, _ in self.mounts:
            if path.startswith(dst.rstrip("/") + "/"):
                return os.path.join(src, path[len(dst.rstrip("/")) + 1:])
        raise Failure("%s: %s is on no volume" % (self.name, path))

    def pid(self):
        return self.proc.pid

    # ---- the kubelet ----

    def _set_ready(self, ready):
        if ready != self.ready:
            self.ready = ready
            self.sim.endpoints_changed()

    def _kubelet(self):
        enter_netns(self.sim.node_ns)
        restart_at = None
        while not self.terminating:
            now = time.monotonic()
            with self.sim.lock:
                if self.terminating:
                    break
                if restart_at is not None:
                    if now >= restart_at:
                        self.restarts += 1
                        self.start()
                        restart_at = None
                elif self.proc.poll() is not None:
                    self.exits.append(("exited %d" % self.proc.returncode,
                                       now))
                    self._set_ready(False)
                    restart_at = now + RESTART_BACKOFF_S
            if restart_at is None and self.readiness and \
                    self.readiness.due(now):
                ok = self.readiness.check(self.ip)
                if ok and self.readiness.oks >= self.readiness.ok_min:
                    self._set_ready(True)
                elif not ok and \
                        self.readiness.fails >= self.readiness.fail_max:
                    self._set_ready(False)
            if restart_at is None and self.liveness and \
                    self.liveness.due(now) and \
                    not self.liveness.check(self.ip) and \
                    self.liveness.fails >= self.liveness.fail_max:
                with self.sim.lock:
                    if self.terminating:
                        break
                    self._set_ready(False)
                self.stop_container("liveness probe failed")
                with self.sim.lock:
                    if not self.terminating:
                        self.restarts += 1
                        self.start()
            time.sleep(0.05)

    def delete(self):
        """Termination: out of the Services at once, then the container is
        stopped with its grace period; returns how it ended."""
        with self.sim.lock:
            self.terminating = True
            self._set_ready(False)
        self.thread.join()
        how = self.stop_container("pod deleted")
        self.sim.net.remove_host(self.ns)
        self.gone = True
        return how

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()


class Sim:
    """The objects of one namespace, their pods and Services."""

    def __init__(self, directory):
        self.objs, self.dir, self.namespace = [], directory, "default"
        self.lock = threading.RLock()
        self.pods = []
        self.api = None  # (address, port, token) of the API stand-in
        self.net = Net("wps%d" % (os.getpid() % 100000))
        self.node_ns, self.node_ip = self.net.add_host("node")

    def load(self, objs):
        """The rendered objects to run (before apply())."""
        self.objs = objs
        ns = [o for o in objs if o["kind"] == "Namespace"]
        self.namespace = ns[0]["metadata"]["name"] if ns else "default"

    def find(self, kind, name):
        for o in self.objs:
            if o["kind"] == kind and o["metadata"]["name"] == name:
                return o
        raise Failure("podsim: no %s/%s among the rendered objects" %
                      (kind, name))

    def secret(self, name):
        s = self.find("Secret", name)
        out = {k: base64.b64decode(v).decode()
               for k, v in s.get("data", {}).items()}
        out.update(s.get("stringData", {}))
        return out

    def configmap(self, name):
        return dict(self.find("ConfigMap", name).get("data", {}))

    def update_configmap(self, name, data):
        """kubectl apply of a changed ConfigMap: the object, then every
        pod volume of it (the kubelet does that within its sync period,
        about a minute; here at once). Environment variables taken from it
        keep their old values until a container restarts, as in
        Kubernetes."""
        self.find("ConfigMap", name)["data"] = dict(data)
        with self.lock:
            pods = [p for p in self.pods if not p.gone]
        for p in pods:
            vols = {v["name"]: v for v in p.spec.get("volumes", [])}
            for vm in p.c.get("volumeMounts", []):
                v = vols[vm["name"]]
                if v.get("configMap", {}).get("name") == name:
                    write_atomic(os.path.join(p.dir, "vol", vm["name"]),
                                 data, *volume_mode(p.spec, v))

    # ---- Services ----

    def endpoints(self, service):
        """The pods behind a Service: those it selects that are Ready (or
        running at all, with publishNotReadyAddresses)."""
        spec = self.find("Service", service)["spec"]
        anyway = spec.get("publishNotReadyAddresses", False)
        with self.lock:
            return [p for p in self.pods if (p.ready or anyway) and
                    not p.terminating and all(
                        p.labels.get(k) == v
                        for k, v in spec["selector"].items())]

    def names(self, name):
        ns = self.namespace
        return "%s %s.%s %s.%s.svc %s.%s.svc.cluster.local" % (
            name, name, ns, name, ns, name, ns)

    def hosts_text(self, pod):
        lines = ["127.0.0.1\tlocalhost", "%s\t%s" % (pod.ip, pod.name)]
        for s in (o for o in self.objs if o["kind"] == "Service"):
            n = s["metadata"]["name"]
            eps = self.endpoints(n)
            headless = s["spec"].get("clusterIP") == "None"
            # A ClusterIP without endpoints refuses connections; a
            # headless name without them does not resolve.
            ips = [p.ip for p in eps] or ([] if headless else
                                          [self.node_ip])
            lines += ["%s\t%s" % (ip, self.names(n)) for ip in ips]
            # StatefulSet pods governed by a headless Service: POD.SVC
            lines += ["%s\t%s" % (p.ip, self.names("%s.%s" % (p.name, n)))
                      for p in eps if headless and
                      self.workload(p.owner)["spec"].get("serviceName") == n]
        return "\n".join(lines) + "\n"

    def write_hosts(self, pod):
        # In place: the file is bind-mounted, a rename would not be seen.
        with open(pod.hosts, "w") as f:
            f.write(self.hosts_text(pod))

    def endpoints_changed(self):
        with self.lock:
            for p in self.pods:
                if not p.gone:
                    self.write_hosts(p)

    # ---- Deployments and StatefulSets ----

    def workload(self, name):
        for o in self.objs:
            if o["kind"] in WORKLOADS and o["metadata"]["name"] == name:
                return o
        raise Failure("podsim: no Deployment or StatefulSet %s" % name)

    def create_pod(self, owner, ordinal=None):
        """A pod of the workload: NAME-xxxxx for a Deployment, NAME-i for
        a StatefulSet (the one that replaces pod i after its deletion)."""
        w = self.workload(owner)
        name = ("%s-%d" % (owner, ordinal) if w["kind"] == "StatefulSet"
                else "%s-%s" % (owner, "".join(
                    random.choice(string.ascii_lowercase + string.digits)
                    for _ in range(5))))
        with self.lock:
            pod = Pod(self, owner, name, w["spec"]["template"])
            self.pods.append(pod)
        self.endpoints_changed()
        return pod

    def apply(self):
        """Creates every Deployment's and StatefulSet's replicas."""
        for w in (o for o in self.objs if o["kind"] in WORKLOADS):
            for i in range(w["spec"].get("replicas", 1)):
                self.create_pod(w["metadata"]["name"], i)

    def pods_of(self, deployment):
        with self.lock:
            return [p for p in self.pods
                    if p.owner == deployment and not p.terminating]

    def wait_ready(self, deployment, n, timeout_s=60):
        return wait_for(lambda: len([p for p in self.pods_of(deployment)
                                     if p.ready]) >= n and
                        self.pods_of(deployment), timeout_s,
                        "%d Ready pods of %s" % (n, deployment), 0.1)

    def rollout_restart(self, deployment, timeout_s=60, on_step=None):
        """Replaces every pod of the Deployment as its RollingUpdate
        strategy says; only maxSurge 1 / maxUnavailable 0 (weir's
        TaskManagers) is simulated. Returns [(old, new, how old ended)]."""
        st = self.find("Deployment", deployment)["spec"]["strategy"]
        ru = st.get("rollingUpdate", {})
        if st["type"] != "RollingUpdate" or ru.get("maxSurge") != 1 or \
                ru.get("maxUnavailable") != 0:
            raise Failure("podsim: strategy %r not simulated" % st)
        steps = []
        for old in self.pods_of(deployment):
            new = self.create_pod(deployment)
            wait_for(lambda: new.ready, timeout_s,
                     "new pod %s Ready" % new.name, 0.1)
            steps.append((old, new, old.delete()))
            if on_step:
                on_step(old, new)
        return steps

    def node_call(self, fn, *args):
        """fn(*args) run from the node's network namespace."""
        box = {}

        def body():
            try:
                enter_netns(self.node_ns)
                box["v"] = fn(*args)
            except BaseException as e:  # re-raised in the caller
                box["e"] = e
        t = threading.Thread(target=body)
        t.start()
        t.join()
        if "e" in box:
            raise box["e"]
        return box["v"]

    def exec(self, pod, argv, timeout=60):
        """kubectl exec: argv in the pod's container (its namespaces, its
        user), with the container's environment."""
        uid, gid = pod._uid()
        return subprocess.run(
            ["nsenter", "-t", str(pod.pid()), "-n", "-m", "setpriv",
             "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups",
             "--"] + argv, env=pod.env(), capture_output=True, text=True,
            timeout=timeout)

    def close(self):
        with self.lock:
            pods = [p for p in self.pods if not p.gone]
            for p in pods:
                p.terminating = True
        for p in pods:
            p.thread.join(5)
            if p.proc and p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()
        self.net.close()
