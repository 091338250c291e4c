"""test_dashboard.py - the JobManager's dashboard at GET /, served and
driven in headless Chromium (cdp.py).

A cluster with a token runs a job (datagen -> key_by -> file sink) whose
sink is slowed by a fault point, so its source is back-pressured. Over
HTTP: the page and its files come with their types, caching headers and a
Content-Security-Policy, without the token, while unknown paths (also
under /jobs and /web) still answer JSON errors. In Chromium: the page asks
for the token and then shows the TaskManagers and slots; the job's page
draws every vertex of its plan with records/s that change between
refreshes and the source's back-pressure HIGH; a savepoint triggered with
the page's button completes (checked through REST); a TaskManager killed
shows as the restart's cause. Screenshots go to the build directory's
test-artifacts/dashboard/.
"""
import json
import os
import urllib.request

from cdp import Browser
from weirtest import BIN, Cluster, Failure, check, main, wait_for

JOB = """\
name: dashboard
parallelism: 2
checkpointing: {{ interval: 300ms }}
restart: {{ strategy: fixed_delay, delay: 200ms, attempts: 10 }}
sources:
  gen:
    datagen: {{ rate: 0 }}
    event_time: {{ field: ts, max_out_of_orderness: 1s }}
nodes:
  - id: by_product
    from: gen
    key_by: [product_id]
  - id: out
    from: by_product
    sink: {{ file: {{ path: "{out}" }} }}
"""

ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(BIN)),
                         "test-artifacts", "dashboard")


def fetch(c, path, method="GET", headers=None, token=False):
    """(status, headers, body bytes) of a request, the token sent only
    when token is True."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (c.rest_port,
                                                             path),
                                 method=method, headers=headers or {})
    if token:
        req.add_header("Authorization", "Bearer " + c.token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def check_json_error(c, path, status, method="GET"):
    st, hdr, body = fetch(c, path, method, token=True)
    check(st == status and hdr["Content-Type"] == "application/json" and
          isinstance(json.loads(body).get("errors"), list),
          "%s %s: %d %s %r, want %d JSON errors" %
          (method, path, st, hdr["Content-Type"], body[:200], status))


def check_files(c):
    want = {"/": "text/html; charset=utf-8",
            "/web/app.js": "text/javascript; charset=utf-8",
            "/web/app.css": "text/css; charset=utf-8",
            "/web/favicon.svg": "image/svg+xml"}
    for path, ctype in want.items():
        st, hdr, body = fetch(c, path)  # no token: the page asks for it
        check(st == 200 and hdr["Content-Type"] == ctype and body,
              "GET %s: %d %s" % (path, st, hdr["Content-Type"]))
        csp = hdr["Content-Security-Policy"] or ""
        check("script-src 'self'" in csp and "default-src 'none'" in csp and
              "unsafe-inline" not in csp, "%s: CSP %r" % (path, csp))
        check(hdr["Cache-Control"] == "no-cache" and hdr["ETag"] and
              hdr["X-Content-Type-Options"] == "nosniff",
              "%s: caching headers %s" % (path, dict(hdr)))
        st, _, body = fetch(c, path, headers={"If-None-Match": hdr["ETag"]})
        check(st == 304 and body == b"", "%s revalidated: %d" % (path, st))
    st, _, body = fetch(c, "/")
    check(b'<script src="/web/app.js"' in body and b"<script>" not in body,
          "the page loads its one script: %r" % body[:400])
    st, _, _ = fetch(c, "/overview")
    check(st == 401, "/overview without the token: %d" % st)
    check_json_error(c, "/web/nope.js", 404)
    check_json_error(c, "/nope", 404)
    check_json_error(c, "/jobs/nope", 404)
    check_json_error(c, "/jobs/overview/nope", 404)
    check_json_error(c, "/", 405, method="POST")


def page_wait(b, cond, timeout_s, what):
    """wait_for on the page; a timeout says what the page showed."""
    try:
        return wait_for(cond, timeout_s, what)
    except Failure as e:
        raise Failure("%s; the page: %s" % (e, b.evaluate(
            "JSON.stringify({href: location.href, ready: "
            "document.readyState, status: (document.getElementById("
            "'status') || {}).textContent, login: !(document."
            "getElementById('login') || {hidden: true}).hidden, text: "
            "(document.body || {innerText: ''}).innerText.slice(0, 600)})")))


def shot(b, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    return b.screenshot(os.path.join(ARTIFACTS, name))


def text_of(b, sel):
    return b.evaluate("(document.querySelector(%s) || {}).textContent || ''"
                      % json.dumps(sel))


def login_and_overview(b, c):
    page_wait(b, lambda: b.evaluate(
        "(document.getElementById('login') || {hidden: true}).hidden "
        "=== false"), 30, "the page asking for the token")
    shot(b, "login.png")
    b.evaluate("document.getElementById('login-token').value = %s;"
               "document.getElementById('login-form').requestSubmit()"
               % json.dumps(c.token))
    page_wait(b, lambda: text_of(b, "#c-tms .v") == "2", 15,
              "the overview's 2 TaskManagers")
    check(text_of(b, "#c-slots-total .v") == "4" and
          b.evaluate("document.querySelectorAll('#taskmanagers tr[data-tm]')"
                     ".length") == 2 and
          b.evaluate("document.getElementById('login').hidden"),
          "overview: slots %r, TaskManager rows" %
          text_of(b, "#c-slots-total"))
    # the job runs: a slot in use on each TaskManager
    page_wait(b, lambda: text_of(b, "#c-slots-free .v") == "2" == str(
        c.rest_json("/overview")["slots-available"]), 15,
        "the job's slots in use")
    shot(b, "overview.png")


VERTICES_JS = """Array.from(document.querySelectorAll('#job-graph g.vertex'))
  .map(g => ({vid: g.dataset.vid, bp: g.dataset.bp,
              rin: g.dataset.inRate, rout: g.dataset.outRate}))"""


def check_graph(b, c, jid, job):
    b.navigate("http://127.0.0.1:%d/#/jobs" % c.rest_port)
    page_wait(b, lambda: b.evaluate(
        "!!document.querySelector('#jobs tr[data-jid=\"%s\"] a')" % jid),
        15, "the job in the jobs list")
    shot(b, "jobs.png")
    b.evaluate("document.querySelector('#jobs tr[data-jid=\"%s\"] a')"
               ".click()" % jid)
    vids = sorted(v["id"] for v in job["vertices"])

    def rates():
        vs = b.evaluate(VERTICES_JS)
        ok = sorted(v["vid"] for v in vs) == vids and all(
            v.get("rin") and float(v["rin"]) > 0 and v.get("rout") and
            float(v["rout"]) > 0 for v in vs)
        return vs if ok else None
    first = page_wait(b, rates, 20,
                      "the graph with every vertex and its rates")
    edges = b.evaluate("document.querySelectorAll('#job-graph path.edge')"
                       ".length")
    check(edges == sum(len(n["inputs"]) for n in job["plan"]["nodes"]),
          "edges drawn: %d" % edges)

    def changed():
        vs = rates()
        return vs if vs and [v["rin"] for v in vs] != \
            [v["rin"] for v in first] else None
    page_wait(b, changed, 20, "the rates changing between refreshes")
    src = job["vertices"][0]["id"]
    page_wait(b, lambda: [v for v in b.evaluate(VERTICES_JS)
                          if v["vid"] == src and v["bp"] == "HIGH"], 20,
              "the source's back-pressure HIGH")
    tms = {t["id"] for t in c.rest_json("/taskmanagers")["taskmanagers"]}
    shown = set(b.evaluate("Array.from(document.querySelectorAll("
                           "'#subtasks td.tm')).map(e => e.textContent)"))
    check(shown == tms, "subtasks on %s, TaskManagers %s" % (shown, tms))
    shot(b, "job.png")


def check_hidden_pause(b):
    """A hidden tab stops polling, and resumes when shown again (the
    page's visibility is overridden: headless Chromium's tab never
    hides)."""
    set_hidden = ("Object.defineProperty(document, 'hidden', {value: %s, "
                  "configurable: true});"
                  "document.dispatchEvent(new Event('visibilitychange'))")
    b.evaluate(set_hidden % "true")
    # a refresh running as it hid may still land: wait for it
    page_wait(b, lambda: b.evaluate("document.body.dataset.busy") ==
              "false", 10, "the refresh in flight to end")
    before = b.evaluate("document.body.dataset.updated")
    b.evaluate("new Promise(r => setTimeout(r, 4500))")  # 3 polls
    check(b.evaluate("document.body.dataset.updated") == before,
          "the page refreshed while hidden")
    b.evaluate(set_hidden % "false")
    page_wait(b, lambda: b.evaluate("document.body.dataset.updated") !=
              before, 5, "refreshes resuming when shown")


def check_savepoint(b, c, jid):
    b.evaluate("document.getElementById('btn-savepoint').click()")
    rid = page_wait(b, lambda: b.evaluate(
        "document.getElementById('op').dataset.requestId"), 15,
        "the savepoint's request id on the page")
    page_wait(b, lambda: b.evaluate(
        "document.getElementById('op').dataset.done") == rid, 30,
        "the page showing savepoint %s done" % rid)
    st = c.rest_json("/jobs/%s/savepoints/%s" % (jid, rid))
    loc = st["operation"]["location"]
    check(st["status"]["id"] == "COMPLETED" and os.path.exists(
        os.path.join(loc.replace("file://", ""), "_metadata")) and
        loc in text_of(b, "#op"), "savepoint %s: %s, page %r" %
        (rid, st, text_of(b, "#op")))
    shot(b, "savepoint.png")


def check_restart(b, c, jid):
    tm = c.rest_json("/jobs/%s/vertices/0" % jid)["subtasks"][0][
        "taskmanager-id"]
    c.kill_taskmanager(c.pid_of(tm))
    cause = "TaskManager %s was lost" % tm
    page_wait(b, lambda: cause in text_of(b, "#exceptions"), 30,
              "the page showing the restart's cause")
    c.wait_running(jid, 30)
    shot(b, "restart.png")


def test_dashboard():
    env = dict(os.environ, WEIR_FAULT_SINK_SLEEP_US="200",
               WEIR_JOBMANAGER_HEARTBEAT_INTERVAL="200ms",
               WEIR_JOBMANAGER_HEARTBEAT_TIMEOUT="1200ms")
    with Cluster(mode="daemons", taskmanagers=2, slots=2, env=env,
                 token=True) as c:
        check_files(c)
        jid = c.submit(JOB.format(out=os.path.join(c.dir, "out")))
        c.wait_running(jid)
        job = c.rest_json("/jobs/" + jid)
        with Browser("http://127.0.0.1:%d/" % c.rest_port) as b:
            login_and_overview(b, c)
            check_graph(b, c, jid, job)
            check_hidden_pause(b)
            check_savepoint(b, c, jid)
            check_restart(b, c, jid)
        c.cancel(jid)


if __name__ == "__main__":
    main([test_dashboard])
