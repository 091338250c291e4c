#!/usr/bin/env python3
"""lease_server.py - a small stand-in for the Kubernetes API server's Lease
endpoints (coordination.k8s.io/v1), for tests: no API server can be
installed here. It keeps Leases in memory and enforces what leader election
relies on: resourceVersion optimistic concurrency (a PUT with a stale
version is 409 Conflict, a POST of an existing Lease is 409 AlreadyExists),
404 for a missing Lease, and a bearer token when --token-file is given (401
without it). It is not Kubernetes: no watch, no field validation beyond the
Lease's shape.

    lease_server.py --port P [--token-file F] [--address A]
                                                # prints "ready" when serving
"""
import argparse
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = re.compile(r"^/apis/coordination\.k8s\.io/v1/namespaces/([a-z0-9-]+)/leases(?:/([a-z0-9.-]+))?$")


class Store:
    def __init__(self):
        self.lock = threading.Lock()
        self.leases = {}
        self.version = 0

    def next_version(self):
        self.version += 1
        return str(self.version)


def make_handler(store, token):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout); nothing to tell

        def status(self, code, reason, message):
            self.reply(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                              "reason": reason, "message": message, "code": code})

        def route(self):
            if token is not None and self.headers.get("Authorization") != "Bearer " + token:
                self.status(401, "Unauthorized", "Unauthorized")
                return None
            m = PATH.match(self.path)
            if not m:
                self.status(404, "NotFound", "no such path " + self.path)
                return None
            return m.group(1), m.group(2)

        def body(self):
            n = int(self.headers.get("Content-Length", "0"))
            if n > 1 << 20:
                return None
            try:
                obj = json.loads(self.rfile.read(n))
            except ValueError:
                return None
            if obj.get("kind") != "Lease" or not isinstance(obj.get("spec"), dict):
                return None
            return obj

        def do_GET(self):
            r = self.route()
            if r is None:
                return
            ns, name = r
            with store.lock:
                lease = store.leases.get((ns, name))
            if lease is None:
                self.status(404, "NotFound", f'leases "{name}" not found')
            else:
                self.reply(200, lease)

        def do_POST(self):
            r = self.route()
            if r is None:
                return
            ns, name = r
            obj = self.body()
            if name is not None or obj is None:
                self.status(400, "BadRequest", "a Lease is expected")
                return
            name = obj.get("metadata", {}).get("name", "")
            with store.lock:
                if (ns, name) in store.leases:
                    self.status(409, "AlreadyExists", f'leases "{name}" already exists')
                    return
                obj["metadata"] = {"name": name, "namespace": ns,
                                   "resourceVersion": store.next_version()}
                store.leases[(ns, name)] = obj
            self.reply(201, obj)

        def do_PUT(self):
            r = self.route()
            if r is None:
                return
            ns, name = r
            obj = self.body()
            if name is None or obj is None:
                self.status(400, "BadRequest", "a Lease is expected")
                return
            with store.lock:
                cur = store.leases.get((ns, name))
                if cur is None:
                    self.status(404, "NotFound", f'leases "{name}" not found')
                    return
                want = obj.get("metadata", {}).get("resourceVersion")
                if want != cur["metadata"]["resourceVersion"]:
                    self.status(409, "Conflict", "the object has been modified; "
                                "please apply your changes to the latest version and try again")
                    return
                obj["metadata"] = {"name": name, "namespace": ns,
                                   "resourceVersion": store.next_version()}
                store.leases[(ns, name)] = obj
            self.reply(200, obj)

    return Handler


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token-file")
    ap.add_argument("--address", default="127.0.0.1",
                    help="listen address (a pod simulation's API host)")
    a = ap.parse_args()
    token = None
    if a.token_file:
        with open(a.token_file) as f:
            token = f.read().strip()
    srv = ThreadingHTTPServer((a.address, a.port), make_handler(Store(), token))
    print("ready", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
