"""test_s3_store.py - S3 checkpoint storage (common/storage/objstore_s3.c)
against a real S3 server.

s3rver 3.7.1 (installed by scripts/install-s3rver.sh; the test fails, not
skips, without it) stores the objects. s3rver checks the access key id but
not SigV4 signatures, so the requests reach it through a small proxy in
this process that checks every signature the way AWS does (canonical
request of the decoded-and-re-encoded path and sorted query, the signed
headers, x-amz-content-sha256 as the payload hash). tests/tools/
objstore_tool drives the calls of objstore.h:

- put/get of binary, empty and odd-named objects, byte-exact;
- put-file/get-file and put/get of 5 MB, byte-exact;
- list with a prefix over ~30 keys, paged by WEIR_S3_LIST_MAX_KEYS (the
  proxy sees the continuation tokens), sorted;
- a missing object: exit 3 (WR_ENOENT), get-file leaves no file;
- a wrong secret: HTTP 403 SignatureDoesNotMatch (from the proxy), an
  unknown key id: HTTP 403 InvalidAccessKeyId (from s3rver), no
  credentials, an unknown bucket, an unreachable endpoint: exit 1;
- delete and delete-prefix leave nothing behind.
"""
import hashlib
import hmac
import http.client
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.parse

from weirtest import (BIN, Cluster, Failure, check, free_port, main, spawn,
                      wait_for)

TOOL = os.path.join(BIN, "objstore_tool")
SRC = os.environ.get("WEIR_SOURCE_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")
BUCKET = "weir-test"
KEY_ID = SECRET = "S3RVER"  # s3rver's built-in account
EXIT_NOENT = 3

DIR = tempfile.mkdtemp(prefix="weir-s3-")
S3 = {}  # port, proxy port, s3rver process and log path

# ---------------------------------------------------------------------------
# the SigV4-checking proxy

_lock = threading.Lock()
REQUESTS = []  # (method, raw path, verdict): verdict None when accepted


def _enc(s):
    return urllib.parse.quote(s, safe="-_.~")


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_problem(method, raw_path, headers, body):
    """Why the request's SigV4 signature is wrong, or None. Checks it as
    AWS S3 does, with the secret of KEY_ID."""
    auth = headers.get("Authorization", "")
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)"
                     r"/s3/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?"
                     r"Signature=([0-9a-f]{64})", auth)
    if not m:
        return "no SigV4 Authorization header: %r" % auth
    key_id, date, region, signed, sig = m.groups()
    if key_id != KEY_ID:
        return None  # s3rver answers InvalidAccessKeyId
    payload = headers.get("x-amz-content-sha256")
    if payload is None:
        return "no x-amz-content-sha256"
    if (payload != "UNSIGNED-PAYLOAD" and
            payload != hashlib.sha256(body).hexdigest()):
        return "x-amz-content-sha256 is not the body's hash"
    amz_date = headers.get("x-amz-date", "")
    names = signed.split(";")
    if (not amz_date.startswith(date) or names != sorted(names) or
            not {"host", "x-amz-date", "x-amz-content-sha256"} <=
            set(names)):
        return "bad x-amz-date or SignedHeaders %s" % signed
    path, _, query = raw_path.partition("?")
    uri = "/".join(_enc(urllib.parse.unquote(p)) for p in path.split("/"))
    params = sorted((_enc(urllib.parse.unquote(k)),
                     _enc(urllib.parse.unquote(v)))
                    for k, _, v in (p.partition("=")
                                    for p in query.split("&") if p))
    canon = "\n".join([
        method, uri, "&".join("%s=%s" % kv for kv in params),
        "".join("%s:%s\n" % (h, " ".join((headers.get(h) or "").split()))
                for h in names),
        signed, payload])
    scope = "%s/%s/s3/aws4_request" % (date, region)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canon.encode()).hexdigest()])
    k = ("AWS4" + SECRET).encode()
    for part in (date, region, "s3", "aws4_request"):
        k = _hmac(k, part)
    want = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    if want != sig:
        return "signature mismatch; canonical request:\n" + canon
    return None


class SigV4Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self._relay()

    do_PUT = do_DELETE = do_HEAD = do_POST = do_GET

    def _reply(self, status, body, headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _relay(self):
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            with _lock:
                REQUESTS.append((self.command, self.path, "chunked"))
            self._reply(411, b"want Content-Length")
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        why = sigv4_problem(self.command, self.path, self.headers, body)
        with _lock:
            REQUESTS.append((self.command, self.path, why))
        if why is not None:
            xml = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
                   "SignatureDoesNotMatch</Code><Message>The request "
                   "signature we calculated does not match the signature "
                   "you provided.</Message></Error>")
            self._reply(403, xml.encode(),
                        [("Content-Type", "application/xml")])
            return
        up = http.client.HTTPConnection("127.0.0.1", S3["port"], timeout=30)
        try:
            hdrs = {k: v for k, v in self.headers.items()
                    if k.lower() not in ("connection", "expect")}
            up.request(self.command, self.path, body=body, headers=hdrs)
            r = up.getresponse()
            data = r.read()
            keep = [(k, v) for k, v in r.getheaders() if k.lower() not in
                    ("connection", "keep-alive", "transfer-encoding",
                     "content-length")]
            self._reply(r.status, data, keep)
        finally:
            up.close()


# ---------------------------------------------------------------------------
# s3rver

def s3rver_log():
    try:
        with open(S3["log"], errors="replace") as f:
            return f.read()[-3000:]
    except (KeyError, OSError):
        return ""


def start_s3():
    r = subprocess.run(["bash", os.path.join(SRC, "scripts",
                                             "install-s3rver.sh")],
                       capture_output=True, timeout=600)
    if r.returncode != 0:
        raise Failure("scripts/install-s3rver.sh failed (%d): %s" %
                      (r.returncode, r.stderr.decode(errors="replace")))
    binary = r.stdout.decode().strip().splitlines()[-1]
    check(os.access(binary, os.X_OK), "no s3rver at %r" % binary)
    S3["port"] = free_port()
    S3["log"] = os.path.join(DIR, "s3rver.log")
    data = os.path.join(DIR, "s3rver-data")
    os.mkdir(data)
    env = dict(os.environ)
    # s3rver makes continuation tokens with DES, which OpenSSL 3 keeps in
    # its legacy provider.
    env["NODE_OPTIONS"] = (env.get("NODE_OPTIONS", "") +
                           " --openssl-legacy-provider").strip()
    log = open(S3["log"], "w")
    S3["proc"] = spawn([binary, "--directory", data, "--address",
                        "127.0.0.1", "--port", str(S3["port"]),
                        "--configure-bucket", BUCKET, "--silent"],
                       stdout=log, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, env=env)

    def up():
        if S3["proc"].poll() is not None:
            raise Failure("s3rver exited %d:\n%s" %
                          (S3["proc"].returncode, s3rver_log()))
        c = http.client.HTTPConnection("127.0.0.1", S3["port"], timeout=2)
        try:
            c.request("GET", "/" + BUCKET)
            return c.getresponse().status == 200
        except OSError:
            return False
        finally:
            c.close()
    wait_for(up, 30, "s3rver on port %d" % S3["port"])
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SigV4Proxy)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    S3["proxy"] = proxy
    S3["proxy_port"] = proxy.server_address[1]


def stop_s3():
    p = S3.get("proc")
    if p is not None and p.poll() is None:
        p.kill()
        p.wait(timeout=10)
    if "proxy" in S3:
        S3["proxy"].shutdown()
    shutil.rmtree(DIR, ignore_errors=True)


# ---------------------------------------------------------------------------
# helpers

def s3_env(**over):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL_S3="http://127.0.0.1:%d" % S3["proxy_port"],
               AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
               AWS_REGION="us-east-1")
    for k, v in over.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def tool(*args, input=None, rc=0, env=None):
    """Runs objstore_tool; checks its exit status (rc None: any)."""
    r = subprocess.run([TOOL] + list(args), input=input, capture_output=True,
                       timeout=120, env=env if env is not None else s3_env())
    if rc is not None and r.returncode != rc:
        raise Failure("objstore_tool %s exited %d (wanted %d): %s" %
                      (" ".join(args[:2]), r.returncode, rc,
                       r.stderr.decode(errors="replace")))
    return r


def lines(r):
    return r.stdout.decode().splitlines()


URL = "s3://%s/ckpt/root" % BUCKET


def rejected():
    with _lock:
        return [(m, p, w) for m, p, w in REQUESTS if w is not None]


# ---------------------------------------------------------------------------
# tests

def test_small_objects():
    data = bytes(range(256)) * 3 + b"\0end"
    tool("put", URL, "job1/chk-1/a.bin", input=data)
    check(tool("get", URL, "job1/chk-1/a.bin").stdout == data,
          "binary object differs")
    tool("put", URL, "job1/empty", input=b"")
    check(tool("get", URL, "job1/empty").stdout == b"", "empty object")
    out = os.path.join(DIR, "empty.out")
    tool("get-file", URL, "job1/empty", out)
    check(os.path.getsize(out) == 0, "empty get-file")
    odd = "job1/odd name+&=%~,;:@$()[].txt"
    tool("put", URL, odd, input=b"odd")
    check(tool("get", URL, odd).stdout == b"odd", "odd key")
    check(odd in lines(tool("list", URL, "job1/")), "odd key listed")
    tool("put", URL, "job1/chk-1/a.bin", input=b"replaced")
    check(tool("get", URL, "job1/chk-1/a.bin").stdout == b"replaced",
          "put replaces")
    tool("put", URL, "job1/bad//key", input=b"x", rc=1)
    check(not rejected(), "requests with bad signatures: %s" % rejected())


def test_big_objects():
    big = os.urandom(5 * 1024 * 1024 + 17)
    src = os.path.join(DIR, "big.in")
    with open(src, "wb") as f:
        f.write(big)
    tool("put-file", URL, "job1/chk-1/state.mdb", src)
    out = os.path.join(DIR, "big.out")
    tool("get-file", URL, "job1/chk-1/state.mdb", out)
    with open(out, "rb") as f:
        check(f.read() == big, "5 MB put-file/get-file differs")
    tool("put", URL, "job1/chk-1/mem.bin", input=big[::-1])
    check(tool("get", URL, "job1/chk-1/mem.bin").stdout == big[::-1],
          "5 MB put/get differs")
    # The server has exactly the bytes (not, say, a chunked encoding).
    c = http.client.HTTPConnection("127.0.0.1", S3["port"], timeout=10)
    c.request("GET", "/%s/ckpt/root/job1/chk-1/state.mdb" % BUCKET)
    check(c.getresponse().read() == big, "s3rver holds other bytes")
    c.close()
    check(not rejected(), "requests with bad signatures: %s" % rejected())


def test_list_paged():
    keys = ["job2/chk-%d/k-%02d" % (i % 3, i) for i in range(30)]
    for k in keys:
        tool("put", URL, k, input=k.encode())
    tool("put", URL, "job2x/other", input=b"x")
    with _lock:
        before = len(REQUESTS)
    got = lines(tool("list", URL, "job2/",
                     env=s3_env(WEIR_S3_LIST_MAX_KEYS="7")))
    check(got == sorted(keys), "paged list: %s" % got)
    with _lock:
        pages = [p for m, p, w in REQUESTS[before:] if "list-type=2" in p]
    check(len(pages) == 5 and
          sum("continuation-token=" in p for p in pages) == 4,
          "list took %d requests: %s" % (len(pages), pages))
    check(lines(tool("list", URL, "job2/chk-1/")) ==
          sorted(k for k in keys if k.startswith("job2/chk-1/")),
          "list of a sub-prefix")
    # A plain string prefix: "job2" matches job2x/ too.
    check(lines(tool("list", URL, "job2")) == sorted(keys + ["job2x/other"]),
          "list of a partial name")
    check(lines(tool("list", URL, "nothing/")) == [], "empty list")
    # The store's own prefix is not part of the keys, and other prefixes
    # of the bucket are not listed.
    tool("put", "s3://%s/elsewhere" % BUCKET, "job2/z", input=b"z")
    check("job2/z" not in lines(tool("list", URL, "")), "store prefix")
    check(not rejected(), "requests with bad signatures: %s" % rejected())


def test_missing_object():
    r = tool("get", URL, "job1/nope", rc=EXIT_NOENT)
    check(b"HTTP 404" in r.stderr, "404 message: %r" % r.stderr)
    out = os.path.join(DIR, "nope.out")
    tool("get-file", URL, "job1/nope", out, rc=EXIT_NOENT)
    check(not os.path.exists(out), "get-file of a missing object made %s" %
          out)
    tool("delete", URL, "job1/nope")  # a missing one is fine


def test_auth_failures():
    r = tool("put", URL, "job1/forged", input=b"x", rc=1,
             env=s3_env(AWS_SECRET_ACCESS_KEY="not-the-secret"))
    check(b"HTTP 403" in r.stderr and b"SignatureDoesNotMatch" in r.stderr,
          "wrong secret: %r" % r.stderr)
    with _lock:
        check(REQUESTS[-1][2] is not None, "the proxy accepted a bad secret")
        del REQUESTS[-1]
    tool("get", URL, "job1/forged", rc=EXIT_NOENT)
    r = tool("get", URL, "job1/empty", rc=1,
             env=s3_env(AWS_ACCESS_KEY_ID="NOBODY"))
    check(b"HTTP 403" in r.stderr and b"InvalidAccessKeyId" in r.stderr,
          "unknown key id: %r" % r.stderr)
    r = tool("list", URL, rc=1, env=s3_env(AWS_ACCESS_KEY_ID=None))
    check(b"credentials" in r.stderr, "no credentials: %r" % r.stderr)


def test_bad_places():
    r = tool("get", "s3://no-such-bucket/x", "k", rc=1)
    check(b"NoSuchBucket" in r.stderr, "unknown bucket: %r" % r.stderr)
    env = s3_env(AWS_ENDPOINT_URL_S3="http://127.0.0.1:%d" % free_port())
    r = tool("get", URL, "job1/empty", rc=1, env=env)
    check(b"s3 GET job1/empty" in r.stderr, "unreachable: %r" % r.stderr)


def test_delete():
    tool("delete", URL, "job1/chk-1/mem.bin")
    tool("get", URL, "job1/chk-1/mem.bin", rc=EXIT_NOENT)
    tool("delete-prefix", URL, "job2/", env=s3_env(WEIR_S3_LIST_MAX_KEYS="4"))
    check(lines(tool("list", URL, "job2/")) == [], "job2/ left")
    check(lines(tool("list", URL, "job2")) == ["job2x/other"],
          "delete-prefix went past its prefix")
    tool("delete-prefix", URL, "")
    check(lines(tool("list", URL, "")) == [], "objects left")
    check(lines(tool("list", "s3://%s" % BUCKET, "")) == ["elsewhere/job2/z"],
          "delete-prefix of the store touched other prefixes")
    check(not rejected(), "requests with bad signatures: %s" % rejected())


def test_job_checkpoints_on_s3():
    """A whole job with checkpoints.storage on s3://: checkpoints land in
    the bucket (through the signature-checking proxy), a TaskManager is
    SIGKILLed, the job restores from S3 and its output stays exact."""
    import random
    import test_checkpoints as tc
    with Cluster(taskmanagers=2, slots=2, topics=["s3ev:4"],
                 config=tc.CONFIG + 'checkpoints: { storage: '
                 '"s3://%s/jobs" }\n' % BUCKET, env=s3_env()) as c:
        out = os.path.join(c.dir, "out")
        recs = tc.gen(21, 2000)
        job = tc.submit(c, "s3", "s3ev", out, interval="300ms")
        c.wait_running(job, 30)
        c.produce("s3ev", recs[:1000])

        def metas():
            # s3rver answers a list racing its own writes with a 500 now
            # and then: poll again
            r = tool("list", "s3://%s/jobs" % BUCKET, job + "/", rc=None)
            if r.returncode != 0:
                return []
            return [k for k in lines(r) if k.endswith("/_metadata")]
        wait_for(lambda: len(metas()) >= 2, 30, "2 checkpoints in S3")
        tc.kill_and_recover(c, random.Random(5), job, 1)
        log = c.log("jobmanager")
        check("from s3://%s/jobs/%s/chk-" % (BUCKET, job) in log,
              "the restart did not restore from S3")
        c.produce("s3ev", recs[1000:] +
                  tc.flush_records(max(r["ts"] for r in recs)))
        want = tc.reference(recs)
        wait_for(lambda: sum(tc.committed(out).values()) >=
                 sum(want.values()), 60, "every window committed")
        got = tc.committed(out)
        check(got == want, "output differs: %d missing, %d extra" %
              (sum((want - got).values()), sum((got - want).values())))
        cp = c.checkpoints(job)
        check(cp["counts"]["completed"] >= 2, "checkpoints: %s" %
              cp["counts"])
        c.cancel(job)
    check(not rejected(), "requests with bad signatures: %s" % rejected())


if __name__ == "__main__":
    try:
        start_s3()
    except BaseException:
        print(s3rver_log())
        stop_s3()
        raise
    try:
        main([test_small_objects, test_big_objects, test_list_paged,
              test_missing_object, test_auth_failures, test_bad_places,
              test_delete, test_job_checkpoints_on_s3])
    finally:
        stop_s3()
