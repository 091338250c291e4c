#!/usr/bin/env python3
"""tcp_forward.py - forwards TCP ports from one host address to another,
for tests/integration/netlab.py's bridge to the embedded Kafka.

    tcp_forward.py LISTEN_HOST TARGET_HOST PORT [PORT...]

Listens on LISTEN_HOST:PORT for every PORT and copies each connection both
ways to TARGET_HOST:PORT (a host name is resolved per connection, in the
network namespace the forwarder runs in). Prints "ready" once every port
listens; runs until killed. A half-closed side is passed on (shutdown), so
a client's end of stream reaches the server.

Why: librdkafka's mock cluster (weir local's Kafka) binds 127.0.0.1 and
advertises 127.0.0.1:PORT in its metadata, with no way to change either
(notes/dependencies.md). Run in the Kafka host's namespace as
`BRIDGE_IP -> 127.0.0.1` and in each client host's as
`127.0.0.1 -> kafka-host`, the advertised loopback addresses lead to the
Kafka host over the network.
"""
import socket
import sys
import threading


def pipe(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
        try:
            s.shutdown(how)
        except OSError:
            pass


def serve(lsock, target):
    while True:
        c, _ = lsock.accept()
        try:
            t = socket.create_connection(target, timeout=5)
            t.settimeout(None)
        except OSError:
            c.close()
            continue
        for a, b in ((c, t), (t, c)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


def main():
    if len(sys.argv) < 4:
        sys.exit("usage: tcp_forward.py LISTEN_HOST TARGET_HOST PORT...")
    listen_host, target_host = sys.argv[1], sys.argv[2]
    threads = []
    for p in (int(x) for x in sys.argv[3:]):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((listen_host, p))
        s.listen(64)
        threads.append(threading.Thread(target=serve,
                                        args=(s, (target_host, p)),
                                        daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    main()
