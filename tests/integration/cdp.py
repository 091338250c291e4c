"""cdp.py - headless Chromium driven over the DevTools protocol, with a
websocket client in the standard library (no puppeteer, no network).

Browser(url) starts Debian's `chromium` on a temporary profile with
--remote-debugging-port=0, reads the port it chose from the profile's
DevToolsActivePort, and talks to the page's target: evaluate() runs
JavaScript in the page (awaiting promises), screenshot() saves a PNG.
close() (or leaving a `with` block) kills Chromium and removes the
profile, however the test ended.
"""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import urllib.request

from weirtest import Failure, wait_for

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class WebSocket:
    """A client websocket (RFC 6455) for text messages: enough for CDP."""

    def __init__(self, url, timeout_s=30):
        assert url.startswith("ws://")
        hostport, _, path = url[5:].partition("/")
        host, _, port = hostport.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout_s)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            "GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n" % (path, hostport, key)
        ).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Failure("websocket handshake: connection closed")
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise Failure("websocket handshake refused: %r" % head[:200])

    def send(self, text):
        data = text.encode()
        n = len(data)
        hdr = bytes([0x81])  # FIN, text
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)  # a client masks every frame
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(hdr + mask + body)

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise Failure("websocket closed by Chromium")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """The next whole text message (continuation frames joined)."""
        parts = []
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7f
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            op = b0 & 0x0f
            if op == 0x8:
                raise Failure("websocket closed by Chromium")
            if op in (0x9, 0xa):  # ping/pong: nothing to answer for CDP
                continue
            parts.append(data)
            if b0 & 0x80:
                return b"".join(parts).decode()

    def close(self):
        self.sock.close()


class Browser:
    def __init__(self, url, width=1400, height=1100):
        self.profile = tempfile.mkdtemp(prefix="weir-chromium-")
        self.proc = None
        self.ws = None
        self.next_id = 0
        try:
            self._start(url, width, height)
        except BaseException:
            self.close()
            raise

    def _start(self, url, width, height):
        args = [CHROMIUM, "--headless", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync",
                "--remote-debugging-port=0",
                "--user-data-dir=" + self.profile,
                "--window-size=%d,%d" % (width, height), url]
        if os.geteuid() == 0:  # Chromium refuses root with its sandbox
            args.insert(1, "--no-sandbox")
        self.log = open(os.path.join(self.profile, "chromium.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        port_file = os.path.join(self.profile, "DevToolsActivePort")

        def port():
            if self.proc.poll() is not None:
                raise Failure("chromium exited %d" % self.proc.returncode)
            try:
                with open(port_file) as f:
                    return int(f.readline().strip() or 0) or None
            except (OSError, ValueError):
                return None
        self.port = wait_for(port, 30, "chromium's DevTools port")

        def page():
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" %
                                        self.port, timeout=5) as r:
                targets = json.loads(r.read())
            pages = [t for t in targets if t.get("type") == "page"]
            return pages[0]["webSocketDebuggerUrl"] if pages else None
        self.ws = WebSocket(wait_for(page, 15, "chromium's page target"))

    def call(self, method, **params):
        """Sends a CDP command; returns its result (events are skipped)."""
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method,
                                 "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") != mid:
                continue
            if "error" in msg:
                raise Failure("CDP %s: %s" % (method, msg["error"]))
            return msg["result"]

    def evaluate(self, expr):
        """The value of a JavaScript expression in the page (a promise is
        awaited); a thrown exception fails."""
        r = self.call("Runtime.evaluate", expression=expr,
                      returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise Failure("JS %s: %s" % (expr[:80], r["exceptionDetails"]))
        return r["result"].get("value")

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png",
                         captureBeyondViewport=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        print("screenshot: %s" % path)
        return path

    def close(self):
        if self.ws is not None:
            self.ws.close()
        if self.proc is not None and self.proc.poll() is None:
            # its own session: the renderer and GPU children go too
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        if getattr(self, "log", None):
            self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
