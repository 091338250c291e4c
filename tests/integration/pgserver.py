"""pgserver.py - a throwaway PostgreSQL 15 server for a test.

    with PgServer() as pg:
        pg.sql("CREATE TABLE t (a bigint)")
        dsn = pg.dsn            # for libpq: "host=DIR port=N dbname=weir ..."
        rows = pg.query("SELECT a FROM t ORDER BY a")   # list of tuples

initdb into a temporary directory, max_prepared_transactions = 32 (the
PostgreSQL sink's two-phase commit needs it), fsync off (a test server
needs no durability), listening only on a Unix socket in that directory
(no TCP port to collide with), a database and a role `weir`. Runs as the
`postgres` OS user when started as root (postgres refuses to run as root).
The server is always stopped: on leaving the `with`, and at exit if the
test died first. Every wait is a bounded poll. Queries go through psql
(no Python driver is needed).
"""
import atexit
import os
import pwd
import shutil
import subprocess
import tempfile
import time

PG_BIN = os.environ.get("WEIR_PG_BIN", "/usr/lib/postgresql/15/bin")

_servers = []


def _stop_all():
    for s in list(_servers):
        s.stop()


atexit.register(_stop_all)


class PgError(AssertionError):
    pass


def available():
    """True when the PostgreSQL server binaries are installed."""
    return all(os.access(os.path.join(PG_BIN, b), os.X_OK)
               for b in ("initdb", "pg_ctl", "postgres", "psql"))


class PgServer:
    def __init__(self, max_prepared_transactions=32, db="weir",
                 user="weir", port=5432, extra_conf=None):
        # port only names the socket file (.s.PGSQL.<port>): nothing
        # listens on TCP, so any number works and tests never collide.
        self.db, self.user, self.port = db, user, port
        self.max_prepared = max_prepared_transactions
        self.extra_conf = extra_conf or {}
        self.proc_log = None
        self.started = False
        self.dir = tempfile.mkdtemp(prefix="weir-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sock = self.dir
        self.dsn = "host=%s port=%d dbname=%s user=%s" % (
            self.sock, port, db, user)

    # -- running commands as the server's OS user ------------------------

    def _as_owner(self, args):
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--"] + args
        return args

    def _run(self, args, timeout=60, input=None):
        r = subprocess.run(self._as_owner(args), capture_output=True,
                           timeout=timeout, input=input)
        if r.returncode != 0:
            raise PgError("%s exited %d: %s" % (
                " ".join(args), r.returncode,
                (r.stderr or r.stdout).decode(errors="replace")[-2000:]))
        return r.stdout.decode()

    # -- lifecycle -------------------------------------------------------

    def start(self, timeout_s=60):
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o755)
        self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data,
                   "-U", "postgres", "-A", "trust", "-E", "UTF8",
                   "--no-locale", "--no-sync"], timeout=timeout_s)
        conf = {
            "listen_addresses": "''",
            "unix_socket_directories": "'%s'" % self.sock,
            "port": str(self.port),
            "max_prepared_transactions": str(self.max_prepared),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "shared_buffers": "32MB",
            "log_min_messages": "warning",
        }
        conf.update(self.extra_conf)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        self.log = os.path.join(self.dir, "server.log")
        _servers.append(self)
        self.started = True
        # pg_ctl -w waits (bounded by -t) until the server accepts
        # connections.
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data,
                   "-l", self.log, "-w", "-t", str(int(timeout_s)),
                   "start"], timeout=timeout_s + 10)
        self._wait_ready(timeout_s)
        self.psql_admin("CREATE ROLE %s LOGIN SUPERUSER" % self.user)
        self.psql_admin("CREATE DATABASE %s OWNER %s" % (self.db, self.user))
        return self

    def _wait_ready(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        while True:
            r = subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-h",
                                self.sock, "-p", str(self.port), "-q"],
                               capture_output=True, timeout=10)
            if r.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PgError("PostgreSQL not ready after %.0fs: %s" %
                              (timeout_s, self.server_log()[-2000:]))
            time.sleep(0.05)

    def stop(self):
        if self in _servers:
            _servers.remove(self)
        if self.started:
            self.started = False
            try:
                self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data,
                           "-m", "immediate", "-w", "-t", "30", "stop"],
                          timeout=40)
            except (PgError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def restart(self, timeout_s=60):
        """Stops the server at once (like a crash) and starts it again:
        prepared transactions survive, open ones are gone."""
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data,
                   "-m", "immediate", "-w", "-t", "30", "stop"], timeout=40)
        self._run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data,
                   "-l", self.log, "-w", "-t", str(int(timeout_s)),
                   "start"], timeout=timeout_s + 10)
        self._wait_ready(timeout_s)

    def server_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- queries ---------------------------------------------------------

    def _psql(self, user, db, sql, timeout):
        # -X: no ~/.psqlrc; ON_ERROR_STOP: a failing statement fails psql.
        args = [os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t",
                "-F", "\x1f", "-v", "ON_ERROR_STOP=1", "-h", self.sock,
                "-p", str(self.port), "-U", user, "-d", db]
        r = subprocess.run(args, input=sql.encode(), capture_output=True,
                           timeout=timeout)
        if r.returncode != 0:
            raise PgError("psql failed (%d): %s\nSQL: %s" % (
                r.returncode, r.stderr.decode(errors="replace")[-2000:],
                sql[:500]))
        return r.stdout.decode()

    def psql_admin(self, sql, timeout=30):
        return self._psql("postgres", "postgres", sql, timeout)

    def sql(self, sql, timeout=30):
        """Runs SQL as the test role in the test database; returns psql's
        unaligned output."""
        return self._psql(self.user, self.db, sql, timeout)

    def query(self, sql, timeout=30):
        """Rows as tuples of strings (None for NULL), in the server's
        order."""
        # NULL shows as a marker no value here contains.
        out = self._psql(self.user, self.db,
                         "\\pset null '\x1e'\n" + sql, timeout)
        rows = []
        for line in out.split("\n"):
            if line == "":
                continue
            rows.append(tuple(None if v == "\x1e" else v
                              for v in line.split("\x1f")))
        return rows

    def scalar(self, sql, timeout=30):
        rows = self.query(sql, timeout)
        if len(rows) != 1 or len(rows[0]) != 1:
            raise PgError("wanted one value from %r, got %r" % (sql, rows))
        return rows[0][0]

    def prepared(self):
        """gids of the transactions prepared in the test database."""
        return sorted(r[0] for r in self.query(
            "SELECT gid FROM pg_prepared_xacts WHERE database = "
            "current_database()"))


if __name__ == "__main__":
    # Smoke check: python3 pgserver.py
    with PgServer() as pg:
        pg.sql("CREATE TABLE t (a bigint, b text)")
        pg.sql("INSERT INTO t VALUES (1, 'x'), (2, NULL)")
        print(pg.dsn, pg.query("SELECT a, b FROM t ORDER BY a"),
              pg.scalar("SHOW max_prepared_transactions"))
