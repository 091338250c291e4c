"""chserver.py - a throwaway clickhouse-server (Debian's 18.16) for a test.

    with ChServer() as ch:
        ch.sql("CREATE TABLE t (a Int64) ENGINE = MergeTree ORDER BY a")
        url = ch.url                  # http://127.0.0.1:PORT for the sink
        rows = ch.query("SELECT a FROM t ORDER BY a")  # list of tuples

Its config is /etc/clickhouse-server/{config,users}.xml copied into a
temporary directory with everything that would write outside it pointed
inside (data, tmp, user_files, format schemas, logs), HTTP and native
ports picked free, the interserver port off, listening on 127.0.0.1
only. Queries go over HTTP (no client library needed). The server is
killed on leaving the `with`, and at exit if the test died first. Every
wait is a bounded poll.
"""
import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from weirtest import free_port

CH_SERVER = os.environ.get("WEIR_CH_SERVER", "/usr/sbin/clickhouse-server")
CH_CONF = "/etc/clickhouse-server"

_servers = []


def _stop_all():
    for s in list(_servers):
        s.stop()


atexit.register(_stop_all)


class ChError(AssertionError):
    pass


def available():
    """True when clickhouse-server and its stock config are installed."""
    return os.access(CH_SERVER, os.X_OK) and \
        os.path.exists(os.path.join(CH_CONF, "config.xml"))


def _tag(text, name, value):
    """Sets every <name>...</name> in text to value."""
    return re.sub(r"<%s>[^<]*</%s>" % (name, name),
                  "<%s>%s</%s>" % (name, value, name), text)


class ChServer:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="weir-ch-")
        self.http_port = free_port()
        self.tcp_port = free_port()
        self.url = "http://127.0.0.1:%d" % self.http_port
        self.proc = None

    def _config(self):
        with open(os.path.join(CH_CONF, "config.xml")) as f:
            text = f.read()
        d = self.dir
        for name, value in (("log", d + "/log/server.log"),
                            ("errorlog", d + "/log/server.err.log"),
                            ("path", d + "/data/"),
                            ("tmp_path", d + "/tmp/"),
                            ("user_files_path", d + "/user_files/"),
                            ("format_schema_path", d + "/format_schemas/"),
                            ("http_port", str(self.http_port)),
                            ("tcp_port", str(self.tcp_port))):
            text = _tag(text, name, value)
        # No interserver port (no replication here) and one listen
        # address: 127.0.0.1 (the stock config also listens on ::1).
        text = re.sub(r"<interserver_http_port>[^<]*</interserver_http_port>",
                      "", text)
        text = re.sub(r"<listen_host>[^<]*</listen_host>", "", text)
        text = text.replace("</yandex>",
                            "<listen_host>127.0.0.1</listen_host>\n"
                            "</yandex>")
        with open(os.path.join(d, "config.xml"), "w") as f:
            f.write(text)
        shutil.copy(os.path.join(CH_CONF, "users.xml"), d)

    def start(self, timeout_s=60):
        self._config()
        for sub in ("log", "data", "tmp", "user_files", "format_schemas"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        _servers.append(self)
        return self._spawn(timeout_s)

    def kill(self):
        """SIGKILLs the server (a crash); its data stays for start_again."""
        self.proc.kill()
        self.proc.wait(10)

    def start_again(self, timeout_s=60):
        """Starts the killed server on the same ports and data."""
        return self._spawn(timeout_s)

    def _spawn(self, timeout_s):
        self.out = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(
            [CH_SERVER, "--config-file=" + os.path.join(self.dir,
                                                        "config.xml")],
            cwd=self.dir, stdout=self.out, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.out.close()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self.query("SELECT 1") == [("1",)]:
                    return self
            except (OSError, ChError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ChError("clickhouse-server not up after %.0fs "
                              "(exit %s): %s" % (timeout_s, self.proc.poll(),
                                                 self.server_log()[-2000:]))
            time.sleep(0.1)

    def stop(self):
        if self in _servers:
            _servers.remove(self)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def server_log(self):
        text = ""
        for name in ("stdout.log", "log/server.err.log"):
            try:
                with open(os.path.join(self.dir, name)) as f:
                    text += f.read()
            except OSError:
                pass
        return text

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- queries ---------------------------------------------------------

    def sql(self, sql, timeout=30):
        """Runs one statement; returns the response text. ChError with
        ClickHouse's message on failure."""
        req = urllib.request.Request(self.url + "/", data=sql.encode())
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise ChError("%s: %s" % (sql[:200], e.read().decode()[:1000]))

    def query(self, sql, timeout=30):
        """Rows of a SELECT as tuples of strings (TabSeparated)."""
        text = self.sql(sql + " FORMAT TabSeparated", timeout)
        return [tuple(l.split("\t")) for l in text.splitlines()]
