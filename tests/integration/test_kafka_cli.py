"""test_kafka_cli.py - weir's Kafka helpers as a kcat user drives them, on
`weir local`.

produce with keys (-K), headers (-H) and partitions (-p); a line without
the key separator and one over the size limit in the middle are reported
by line number and skipped, nothing else is lost, and the summary is
exact (also as -o json); consume's -f FORMAT prints what kcat's same
format prints, -o json the same messages as objects; --offset,
--from-beginning and --group; topic list/describe against `kcat -L`,
topic delete, and bad topic specs named rather than answered with the
usage."""
import collections
import json
import time

from weirtest import Cluster, check, main

LIMIT = 1000000  # CLI_PRODUCE_MAX_LINE_BYTES


def kcli(c, verb, *args, **kw):
    """weir VERB against the cluster's Kafka."""
    return c.cli(verb, "-b", c.bootstrap, *args, **kw)


def summary(r):
    """The last stderr line of weir produce."""
    return r.stderr.decode().strip().splitlines()[-1]


def lines_json(r):
    return [json.loads(l) for l in r.stdout.decode().splitlines()]


def test_produce_keys_headers_bad_lines(c):
    good = ["k%d:{\"n\":%d,\"s\":\"a:b\"}" % (i % 7, i) for i in range(300)]
    lines = list(good)
    lines.insert(100, "no separator here")        # line 101
    lines.insert(200, "k:" + "x" * LIMIT)          # line 201: too long
    lines.insert(250, "")                          # ignored, not counted
    data = ("\n".join(lines) + "\n").encode()
    r = kcli(c, "produce", "keyed", "-K", ":", "-H", "source=test",
              "-H", "reason=a=b", input=data, check_rc=1)
    err = r.stderr.decode()
    check("line 101: no key separator (-K); skipped" in err, err)
    check("line 201: %d bytes, over the limit of %d; skipped" %
          (LIMIT + 2, LIMIT) in err, err)
    check(summary(r) ==
          "weir produce: 300 delivered, 0 failed, 2 skipped (topic keyed "
          "at %s)" % c.bootstrap, err)

    # What kcat reads back with its own format is what weir prints with
    # the same one: every field, every message.
    fmt = "%t|%p|%o|%T|%k|%h|%s|%K|%S\\n"
    r = kcli(c, "consume", "keyed", "--exit", "-f", fmt)
    mine = r.stdout.decode().splitlines()
    theirs = c.consume("keyed", fmt.replace("\\n", "\n"))
    check(collections.Counter(mine) == collections.Counter(theirs),
          "-f: weir %d lines, kcat %d; first %s vs %s" %
          (len(mine), len(theirs), mine[:1], theirs[:1]))
    want = collections.Counter(
        (l.split(":", 1)[0], l.split(":", 1)[1]) for l in good)
    got = collections.Counter((l.split("|")[4], l.split("|")[6])
                              for l in mine)
    check(got == want, "keys and values round trip (%d)" % len(got))
    check(all(l.split("|")[5] == "source=test,reason=a=b" for l in mine),
          "headers on every message: %s" % mine[0])
    # One key, one partition (librdkafka's partitioner, as kcat's).
    parts = collections.defaultdict(set)
    for l in mine:
        parts[l.split("|")[4]].add(l.split("|")[1])
    check(all(len(p) == 1 for p in parts.values()), "keys %s" % dict(parts))

    # -o json: the same messages as objects.
    objs = lines_json(kcli(c, "consume", "-o", "json", "keyed", "--exit"))
    check(len(objs) == 300, "%d JSON lines" % len(objs))
    o = objs[0]
    check(set(o) == {"topic", "partition", "offset", "timestamp", "key",
                     "value", "headers"}, "keys %s" % sorted(o))
    check(o["headers"] == [{"name": "source", "value": "test"},
                           {"name": "reason", "value": "a=b"}],
          "headers %s" % o["headers"])
    as_fmt = ["%s|%d|%d|%d|%s|source=test,reason=a=b|%s|%d|%d" %
              (x["topic"], x["partition"], x["offset"], x["timestamp"],
               x["key"], x["value"], len(x["key"]), len(x["value"]))
              for x in objs]
    check(collections.Counter(as_fmt) == collections.Counter(mine),
          "-o json and -f agree")

    # Without -K: whole lines as values, null keys; -p picks the
    # partition; -o json prints the summary as an object.
    r = kcli(c, "produce", "-o", "json", "keyed", "-p", "2",
              input=b"a:1\nb\n")
    check(json.loads(r.stdout) == {"topic": "keyed", "delivered": 2,
                                   "failed": 0, "skipped": 0},
          r.stdout)
    r = kcli(c, "consume", "keyed", "--offset", "-2", "--exit", "-f",
             "%p %K %s\\n")
    got = [l for l in r.stdout.decode().splitlines() if l.startswith("2 ")]
    check(got == ["2 -1 a:1", "2 -1 b"], "-p 2, null keys: %s" % got)

    # A partition that does not exist: every line fails, counted exactly.
    r = kcli(c, "produce", "-o", "json", "keyed", "-p", "9",
              input=b"x\ny\nz\n", check_rc=1)
    check(json.loads(r.stdout) == {"topic": "keyed", "delivered": 0,
                                   "failed": 3, "skipped": 0},
          "%s %s" % (r.stdout, r.stderr))
    check(b"line 1: " in r.stderr and b"line 3: " in r.stderr, r.stderr)


def test_consume_offsets_and_groups(c):
    vals = ["v%d" % i for i in range(20)]
    kcli(c, "produce", "one", input=("\n".join(vals) + "\n").encode())
    r = kcli(c, "consume", "one", "--offset", "15", "--exit")
    check(r.stdout.decode().split() == vals[15:], "--offset 15")
    r = kcli(c, "consume", "one", "--offset", "-3", "--exit")
    check(r.stdout.decode().split() == vals[17:], "--offset -3")
    r = kcli(c, "consume", "one", "--from-beginning", "-n", "2")
    check(r.stdout.decode().split() == vals[:2], "--from-beginning")
    r = kcli(c, "consume", "one", "--offset", "end", "--timeout", "500ms")
    check(r.stdout == b"", "--offset end: %s" % r.stdout)

    # A group resumes where its last member stopped; another group starts
    # from the beginning.
    r = kcli(c, "consume", "one", "--group", "g1", "-n", "8",
              "-f", "%o %s\\n")
    first = r.stdout.decode().splitlines()
    check(first == ["%d v%d" % (i, i) for i in range(8)], "g1: %s" % first)
    r = kcli(c, "consume", "one", "-G", "g1", "--exit", "-f", "%o %s\\n")
    rest = r.stdout.decode().splitlines()
    check(rest == ["%d v%d" % (i, i) for i in range(8, 20)],
          "g1 resumes: %s" % rest)
    r = kcli(c, "consume", "one", "-G", "g2", "-n", "1")
    check(r.stdout.decode().split() == ["v0"], "g2 from the start")
    # --offset overrides the group's committed offsets.
    r = kcli(c, "consume", "one", "-G", "g1", "--offset", "3", "-n", "1")
    check(r.stdout.decode().split() == ["v3"], "g1 --offset 3")

    r = kcli(c, "consume", "one", "-f", "%x", check_rc=2)
    check(b"unknown format specifier %x" in r.stderr, r.stderr)
    r = kcli(c, "consume", "-o", "json", "one", "-f", "%s", check_rc=2)
    check(b"-f and -o json exclude each other" in r.stderr, r.stderr)


def kcat_topics(md):
    """{name: partition count} of the topics kcat sees without error."""
    return {t["topic"]: len(t["partitions"]) for t in md["topics"]
            if "error" not in t}


def test_topics(c):
    dirflag = ("--dir", c.dir)
    r = kcli(c, "topic", "-o", "json", "create", "made:3", *dirflag)
    check(json.loads(r.stdout) == {"name": "made", "partition_count": 3},
          r.stdout)

    # list: the topics and partition counts kcat -L reports.
    listed = json.loads(kcli(c, "topic", "-o", "json", "list").stdout)
    mine = {t["name"]: t["partition_count"] for t in listed["topics"]}
    theirs = kcat_topics(c.kafka_metadata())
    check(mine == theirs, "list %s, kcat %s" % (mine, theirs))
    check(mine["made"] == 3 and mine["keyed"] == 4, "counts %s" % mine)
    table = kcli(c, "topic", "list").stdout.decode().splitlines()
    check(table[0].split() == ["TOPIC", "PARTITIONS"] and
          sorted(l.split()[0] for l in table[1:]) == sorted(theirs),
          "table %s" % table)

    # describe: leaders, replicas and in-sync replicas as kcat sees them.
    for name in ("made", "keyed"):
        d = json.loads(kcli(c, "topic", "-o", "json", "describe",
                             name).stdout)
        k = [t for t in c.kafka_metadata(name)["topics"]
             if t["topic"] == name][0]
        want = sorted((p["partition"], p["leader"],
                       [r["id"] for r in p["replicas"]],
                       [r["id"] for r in p["isrs"]])
                      for p in k["partitions"])
        got = sorted((p["partition"], p["leader"], p["replicas"], p["isr"])
                     for p in d["partitions"])
        check(d["name"] == name and d["partition_count"] == len(want) and
              got == want, "describe %s: %s, kcat %s" % (name, got, want))
    out = kcli(c, "topic", "describe", "made").stdout.decode().splitlines()
    check(out[0] == "topic made: 3 partitions" and
          out[1].split() == ["PARTITION", "LEADER", "REPLICAS", "ISR"] and
          len(out) == 5, "describe table %s" % out)

    # delete: gone from list and describe, unknown to kcat, and its name
    # stays taken in the embedded Kafka.
    r = kcli(c, "topic", "-o", "json", "delete", "made", *dirflag)
    check(json.loads(r.stdout) == {"name": "made"}, r.stdout)
    listed = json.loads(kcli(c, "topic", "-o", "json", "list").stdout)
    check("made" not in [t["name"] for t in listed["topics"]],
          "deleted topic listed: %s" % listed)
    r = kcli(c, "topic", "describe", "made", check_rc=1)
    check(b"topic made does not exist" in r.stderr, r.stderr)
    k = c.kafka_metadata("made")["topics"][0]
    check(k["partitions"] == [] and "Unknown topic" in k.get("error", ""),
          "kcat sees %s" % k)
    r = kcli(c, "topic", "delete", "made", *dirflag, check_rc=1)
    check(b"topic made does not exist" in r.stderr, r.stderr)
    r = kcli(c, "topic", "delete", "never", *dirflag, check_rc=1)
    check(b"topic never does not exist" in r.stderr, r.stderr)
    check("never" not in kcat_topics(c.kafka_metadata()),
          "asking about a topic must not create it")
    r = kcli(c, "topic", "create", "made:1", *dirflag, check_rc=1)
    check(b"was deleted" in r.stderr, r.stderr)
    r = kcli(c, "consume", "made", "--exit", check_rc=1)
    check(b"topic made: does not exist" in r.stderr, r.stderr)

    # Bad specs: what is wrong, not the usage; exit 2.
    for spec, why in (
            ("x:0", "topic x: PARTITIONS must be 1 .. 10000, not '0'"),
            ("x:", "not ''"),
            ("x:10001", "not '10001'"),
            (":3", "invalid topic name ''"),
            ("bad/name:1", "invalid topic name 'bad/name'")):
        r = kcli(c, "topic", "create", spec, *dirflag, check_rc=2)
        err = r.stderr.decode()
        check(why in err and "usage:" not in err, "%s: %s" % (spec, err))
    r = kcli(c, "topic", "remove", "x", check_rc=2)
    check(b"unknown command 'remove'" in r.stderr, r.stderr)


def test_kafka_cli():
    with Cluster(taskmanagers=1, topics=["keyed:4", "one:1"]) as c:
        for t in (test_produce_keys_headers_bad_lines,
                  test_consume_offsets_and_groups, test_topics):
            t0 = time.monotonic()
            t(c)
            print("     %-36s %.1fs" % (t.__name__, time.monotonic() - t0))


if __name__ == "__main__":
    main([test_kafka_cli])
