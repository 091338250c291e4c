"""test_rpc_bad_input.py - bad input never stops the JobManager.

Bad input never stops the JobManager: random bytes on its RPC port,
garbage, truncated and oversized frames, a registration of another protocol
version, clients that vanish mid-call, malformed config files.

The test speaks nng's SP-over-TCP framing itself (8-byte handshake, then
64-bit big-endian length + payload; REQ payloads start with a 32-bit request
id with the high bit set) and hand-encodes protobuf, so it depends on
nothing but the wire format."""
import os
import random
import socket
import struct
import subprocess

from weirtest import (JOBMANAGER, TASKMANAGER, WEIR, Cluster, check, main,
                      run, scratch_dir, wait_for)

SP_REQ, SP_REP = 0x30, 0x31
MAGIC = b"WEIR"


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    return varint((num << 3) | 2) + varint(len(b)) + b


def parse(buf):
    """Top-level protobuf fields: {num: [values]} (varints and bytes)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % wt)
        out.setdefault(num, []).append(v)
    return out


def read_varint(buf, i):
    v, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def envelope(version, body_field, body):
    return MAGIC + field_varint(1, version) + field_bytes(body_field, body)


CLUSTER_INFO_REQ = envelope(1, 24, b"")


def register_tm(version):
    body = (field_bytes(1, b"tm-x") + field_bytes(2, b"tcp://127.0.0.1:1") +
            field_bytes(3, b"") + field_varint(4, 2))
    return envelope(version, 20, body)


class SpClient:
    """A REQ peer speaking nng's TCP transport by hand."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.s.sendall(b"\x00SP\x00" + struct.pack(">HH", SP_REQ, 0))
        hs = self.recv_exact(8)
        check(hs[:4] == b"\x00SP\x00" and
              struct.unpack(">H", hs[4:6])[0] == SP_REP, "SP handshake")
        self.id = 1

    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            if not chunk:
                raise EOFError("peer closed")
            b += chunk
        return b

    def send_raw(self, payload_len, payload):
        self.s.sendall(struct.pack(">Q", payload_len) + payload)

    def call(self, body):
        self.id += 1
        hdr = struct.pack(">I", 0x80000000 | self.id)
        self.send_raw(len(hdr) + len(body), hdr + body)
        n = struct.unpack(">Q", self.recv_exact(8))[0]
        rep = self.recv_exact(n)
        check(rep[:4] == hdr, "reply id")
        return rep[4:]

    def close(self):
        self.s.close()


def error_of(reply):
    """(code, message) if reply is an Error envelope, else None."""
    if reply[:4] != MAGIC:
        return None
    f = parse(reply[4:])
    if 10 not in f:
        return None
    e = parse(f[10][0])
    return e[1][0], e[2][0].decode()


def cluster_ok(jm):
    return run([WEIR, "--jobmanager", jm, "cluster", "-o", "json"],
               timeout=20).returncode == 0


def test_garbage_on_rpc_port():
    with Cluster(mode="daemons", taskmanagers=0) as cl:
        port, jm = cl.jm_port, cl.jm
        wait_for(lambda: cluster_ok(jm), 10, "JobManager up")
        rnd = random.Random(7)
        # 1. Raw random bytes, no SP handshake.
        for _ in range(50):
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(os.urandom(rnd.randrange(1, 4000)))
        # 2. Valid SP framing, garbage payloads: every one answered with an
        #    Error envelope.
        c = SpClient(port)
        for i in range(300):
            body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 600)))
            if i % 3 == 0:
                body = MAGIC + body
            err = error_of(c.call(body))
            check(err is not None, "garbage %d answered with an Error" % i)
        # 3. Every truncation of a valid request is refused, not crashed on.
        full = register_tm(1)
        for n in range(len(full)):
            err = error_of(c.call(full[:n]))
            check(err is not None, "truncated to %d bytes refused" % n)
        # A valid request on the same connection still works.
        rep = c.call(CLUSTER_INFO_REQ)
        check(rep[:4] == MAGIC and 25 in parse(rep[4:]), "valid call works")
        # 4. A registration speaking another protocol version.
        code, msg = error_of(c.call(register_tm(99)))
        check("99" in msg and "1" in msg, "version error names both: " + msg)
        c.close()
        # 5. An oversized frame: the server drops the connection.
        c = SpClient(port)
        c.send_raw(64 * 1024 * 1024, b"WEIR" + b"\x00" * 1000)
        try:
            c.s.settimeout(5)
            closed = c.s.recv(1) == b""
        except ConnectionResetError:
            closed = True
        check(closed, "oversized frame: connection closed")
        c.close()
        # 6. Clients that vanish mid-call.
        for _ in range(50):
            c = SpClient(port)
            c.send_raw(4 + len(CLUSTER_INFO_REQ),
                       struct.pack(">I", 0x80000001) + CLUSTER_INFO_REQ)
            c.close()
            c = SpClient(port)
            c.send_raw(1000, b"WEIR\x08")  # announces more than it sends
            c.close()
        # The JobManager kept serving throughout.
        check(cl.proc.poll() is None, "JobManager still running")
        check(cluster_ok(jm), "weir cluster still answers")
        log = cl.log("jobmanager")
        # Hundreds of bad frames on one connection: one line (no flood).
        check(log.count("RPC-BAD-FRAME") == 1,
              "bad frames logged once per connection, not %d times" %
              log.count("RPC-BAD-FRAME"))
        check("RPC-VERSION-MISMATCH" in log, "version mismatch logged")


def test_bad_config_files():
    d = scratch_dir("weir-it-badcfg-")
    cases = [
        ("unknown.yaml", "jobmanager:\n  rpc: tcp://127.0.0.1:1\n  bogus: 1\n",
         "unknown.yaml:3:3:"),
        ("range.yaml", "jobmanager:\n  heartbeat_timeout: 10ms\n",
         "range.yaml:2:22:"),
        ("syntax.yaml", "jobmanager: {rpc: [\n", "syntax.yaml:"),
        ("type.yaml", "taskmanager:\n  slots: many\n", "type.yaml:2:10:"),
    ]
    for name, text, want in cases:
        path = os.path.join(d, name)
        with open(path, "w") as f:
            f.write(text)
        for binary in (JOBMANAGER, TASKMANAGER):
            r = run([binary, "--config", path], timeout=10)
            check(r.returncode != 0, "%s refused %s" % (binary, name))
            check(want.encode() in r.stderr,
                  "%s: want %r in %r" % (name, want, r.stderr))
    r = run([JOBMANAGER, "--config", os.path.join(d, "missing.yaml")])
    check(r.returncode != 0 and b"missing.yaml" in r.stderr, "missing file")
    # A mode that was accepted and ignored is refused; one the JobManager
    # does not run yet stops it with the reason, never silently.
    path = os.path.join(d, "ha-kafka.yaml")
    with open(path, "w") as f:
        f.write("high_availability: { mode: kafka }\n")
    r = run([JOBMANAGER, "--config", path], timeout=10)
    check(r.returncode != 0 and b"ha-kafka.yaml:1:28:" in r.stderr,
          "mode kafka: %r" % r.stderr)
    # kubernetes without an API server (none configured, not in a pod):
    # refused at start with the reason
    path = os.path.join(d, "ha-k8s.yaml")
    with open(path, "w") as f:
        f.write("high_availability: { mode: kubernetes }\n"
                "jobmanager: { rpc: \"tcp://127.0.0.1:0\", "
                "rest: \"127.0.0.1:0\" }\n"
                "checkpoints: { storage: \"file://%s/ck\" }\n" % d)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KUBERNETES_SERVICE_")}
    r = subprocess.run([JOBMANAGER, "--config", path], env=env,
                       capture_output=True, timeout=10)
    check(r.returncode == 1 and b"JM-HA-K8S" in r.stderr and
          b"KUBERNETES_SERVICE_HOST is not set" in r.stderr,
          "mode kubernetes: rc %d %r" % (r.returncode, r.stderr))
    path = os.path.join(d, "ha-renew.yaml")
    with open(path, "w") as f:
        f.write("high_availability:\n  mode: etcd\n"
                "  lease_duration: 2s\n  renew_interval: 3s\n")
    r = run([JOBMANAGER, "--config", path], timeout=10)
    check(r.returncode != 0 and b"ha-renew.yaml:4:19: high_availability."
          b"renew_interval (3s) must be less than" in r.stderr,
          "renew >= lease: rc %d %r" % (r.returncode, r.stderr))


def test_bad_advertise():
    """An advertised address others could not dial stops the daemon at
    start, naming the key; so does an HA JobManager without one of its
    own (jobmanager.address listing every JobManager)."""
    d = scratch_dir("weir-it-adv-")
    path = os.path.join(d, "weir.yaml")
    with open(path, "w") as f:
        f.write("jobmanager: { rpc: \"tcp://127.0.0.1:0\", "
                "rest: \"127.0.0.1:0\" }\n"
                "taskmanager: { rpc: \"tcp://127.0.0.1:0\", "
                "data: \"tcp://127.0.0.1:0\", metrics: \"127.0.0.1:0\" }\n"
                "checkpoints: { storage: \"file://%s/ck\" }\n" % d)
    cases = [
        ([JOBMANAGER, "--advertise", "0.0.0.0"],
         b"JM-ADVERTISE jobmanager.advertise '0.0.0.0'"),
        ([JOBMANAGER, "--advertise", "http://jm:80"],
         b"JM-ADVERTISE jobmanager.advertise 'http://jm:80'"),
        ([TASKMANAGER, "--advertise", "tm-1:7000"],
         b"TM-ADVERTISE taskmanager.advertise 'tm-1:7000'"),
        ([TASKMANAGER, "--advertise", "::"],
         b"TM-ADVERTISE taskmanager.advertise '::'"),
    ]
    for args, want in cases:
        r = run(args + ["--config", path], timeout=10)
        check(r.returncode == 1 and want in r.stderr,
              "%s: rc %d %r" % (args, r.returncode, r.stderr))
    env = dict(os.environ, WEIR_HIGH_AVAILABILITY_MODE="etcd",
               WEIR_JOBMANAGER_ADDRESS="jm-a:6123,jm-b:6123")
    r = subprocess.run([JOBMANAGER, "--config", path], env=env,
                       capture_output=True, timeout=10)
    check(r.returncode == 1 and b"JM-ADVERTISE" in r.stderr and
          b"lists several JobManagers" in r.stderr,
          "HA without an advertised address: rc %d %r" %
          (r.returncode, r.stderr))


if __name__ == "__main__":
    main([test_garbage_on_rpc_port, test_bad_config_files,
          test_bad_advertise])
