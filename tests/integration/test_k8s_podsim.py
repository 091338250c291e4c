"""test_k8s_podsim.py - deploy/kubernetes/overlays/single and ha, rendered
as kustomize would (tests/tools/kustomize_lite.py), run by the pod simulation
(podsim.py): every pod's container command, env (the downward API's pod IP,
the Secret weir-s3), mounted ConfigMap, user and read-only root as real
processes, one network namespace per pod, Service names resolved to the
Ready pods behind them, probes polled as the kubelet does.

Every pod mounts the Secret weir-token (its shipped placeholder): the
test's REST calls send it as a bearer token, the CLI in the pods reads it
through the pods' WEIR_TOKEN_FILE, and no daemon logs DAEMON-EXPOSED.

The overlay is used as shipped except for what a test cluster replaces,
through a kustomize overlay of its own (DIR/overlay, printed on failure):
the Secret weir-s3 points at s3rver (scripts/install-s3rver.sh) in a
namespace of its own on the pods' bridge, so checkpoints and the job
store are on S3 as in production; and the TaskManagers get a hostPath
volume at /var/lib/weir/out, the shared directory of the job's
exactly-once file sink (on a real cluster: a shared volume, or a Kafka
sink).

single (probe timing and the grace period shortened for the TaskManagers):
the cluster forms (JobManager and both TaskManagers Ready, the
TaskManagers registered under their pod IPs); without the token REST and
/metrics answer 401 and the CLI exits 1, while /healthz and /readyz
answer 200; a keyed nexmark job with
200 ms windows runs with checkpoints every 500 ms; the TaskManagers get a
rolling restart (`kubectl rollout restart`: a new pod Ready, then an old
one SIGTERMed within its grace period, one at a time); the job's tasks
restart and it finishes with output exactly that of a failure-free run
(no window missing, none twice), its checkpoints (and job store) in the
bucket. A TaskManager is then hung (SIGSTOP): its liveness probe fails,
the kubelet SIGTERMs, then SIGKILLs it after the grace period, restarts
the container in the same pod, and it registers again. The JobManager
pod is deleted and its StatefulSet's replacement (same name, new IP) gets
the TaskManagers' registrations. Then every pod is deleted and each daemon must exit 0 on SIGTERM within its grace period.

ha: tests/tools/lease_server.py stands in for the API server's Lease
endpoints (in its own namespace; the JobManagers get its address through
high_availability.kubernetes.api, the only other patch, and the service
account token the simulation mounts). Two JobManagers, one leads; the
TaskManagers, given both by their StatefulSet names, register with it; a
standby refuses the CLI naming the leader; the same job runs; the leader
pod is deleted (SIGTERM) and recreated as its StatefulSet would: the
standby takes over, recovers the job from the job store on S3, and the
output is exact.

gitops: the single overlay plus `weir apply --watch` on the ConfigMap
weir-jobs (holding this test's job): the apply pod starts the job; the
ConfigMap is edited (the kubelet's ..data swap, podsim.update_configmap)
with a change that alters no result; weir apply upgrades the job through
a savepoint, and the output across the upgrade is exact.

About 45, 40 and 25 s: label heavy.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

import yaml

from weirtest import check, main, metric_sum, spawn, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("WEIR_SOURCE_DIR") or os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(SRC, "tests", "tools"))
sys.path.insert(0, os.path.join(SRC, "scripts"))
import failover_drill  # noqa: E402
import kustomize_lite  # noqa: E402
import podsim  # noqa: E402

OVERLAYS = os.path.join(SRC, "deploy", "kubernetes", "overlays")
LEASE_SERVER = os.path.join(SRC, "tests", "tools", "lease_server.py")
API_PORT, API_TOKEN = 6443, "podsim-token"
BUCKET = "weir-checkpoints"  # the base's checkpoints.storage bucket
S3_PORT = 4569
RATE, COUNT, P = 400, 8000, 2  # per subtask: a 20 s job

JOB = failover_drill.JOB.replace("name: failover-drill", "name: podsim")
JOB_TEXT = JOB.format(p=P, rate=RATE, count=COUNT,
                      window=failover_drill.WINDOW_MS,
                      out="/var/lib/weir/out/counts")


def test_overlay(d, overlay, s3_ip, more=()):
    """DIR/overlay: the overlay with this test cluster's S3 and output
    volume, and the patches in more."""
    o = os.path.join(d, "overlay")
    os.makedirs(o)
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "weir-s3"},
              "stringData": {"AWS_ACCESS_KEY_ID": "S3RVER",
                             "AWS_SECRET_ACCESS_KEY": "S3RVER",
                             "AWS_ENDPOINT_URL_S3": "http://%s:%d" %
                             (s3_ip, S3_PORT)}}
    out = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "weir-taskmanager"},
           "spec": {"template": {"spec": {
               "containers": [{"name": "taskmanager", "volumeMounts": [
                   {"name": "out", "mountPath": "/var/lib/weir/out"}]}],
               "volumes": [{"name": "out", "hostPath": {
                   "path": os.path.join(d, "out"),
                   "type": "Directory"}}]}}}}
    k = {"apiVersion": "kustomize.config.k8s.io/v1beta1",
         "kind": "Kustomization", "resources": [overlay],
         "patches": [{"patch": yaml.safe_dump(x)}
                     for x in [secret, out] + list(more)]}
    with open(os.path.join(o, "kustomization.yaml"), "w") as f:
        yaml.safe_dump(k, f)
    return o


def start_s3rver(sim, d):
    r = subprocess.run(["bash", os.path.join(SRC, "scripts",
                                             "install-s3rver.sh")],
                       capture_output=True, text=True, timeout=600)
    check(r.returncode == 0, "install-s3rver.sh: %s" % r.stderr)
    ns, ip = sim.net.add_host("s3")
    data = os.path.join(d, "s3rver-data")
    os.mkdir(data)
    env = dict(os.environ)
    env["NODE_OPTIONS"] = "--openssl-legacy-provider"
    log = open(os.path.join(d, "s3rver.log"), "w")
    spawn(["nsenter", "--net=/run/netns/" + ns,
           r.stdout.strip().splitlines()[-1], "--directory", data,
           "--address", ip, "--port", str(S3_PORT), "--configure-bucket",
           BUCKET, "--silent"], stdout=log, stderr=subprocess.STDOUT,
          stdin=subprocess.DEVNULL, env=env)
    wait_for(lambda: sim.node_call(podsim.http_status, ip, S3_PORT,
                                   "/" + BUCKET, 2)[0] == 200,
             30, "s3rver in its namespace")
    return ip, data


def bearer(sim):
    """The Authorization header of the cluster token: the Secret
    weir-token as shipped (its placeholder), which every pod mounts."""
    return {"Authorization": "Bearer " + sim.secret("weir-token")["token"]}


def rest(sim, pod, path):
    st, body = sim.node_call(podsim.http_status, pod.ip, 8081, path, 2,
                             bearer(sim))
    return json.loads(body) if st == 200 else None


def job_state(sim, jm, job):
    info = rest(sim, jm, "/jobs/" + job)
    return info["state"] if info else None


def completed_ckpts(sim, jm, job):
    c = rest(sim, jm, "/jobs/%s/checkpoints" % job)
    return (c or {}).get("counts", {}).get("completed", 0)


def cli(sim, jm, *args):
    r = sim.exec(jm, ["weir", "--jobmanager", "tcp://127.0.0.1:6123"] +
                 list(args))
    check(r.returncode == 0, "weir %s in %s: %s%s" %
          (" ".join(args), jm.name, r.stdout, r.stderr))
    return r.stdout


def submit(sim, pod):
    """kubectl cp podsim.yaml POD:/tmp/, then kubectl exec POD -- weir run
    -d (the pod's WEIR_JOBMANAGER: every JobManager); the job id."""
    with open(pod.host_path("/tmp/podsim.yaml"), "w") as f:
        f.write(JOB_TEXT)
    r = sim.exec(pod, ["weir", "-o", "json", "run", "-d",
                       "/tmp/podsim.yaml"])
    check(r.returncode == 0, "weir run in %s: %s%s" %
          (pod.name, r.stdout, r.stderr))
    return json.loads(r.stdout)["job_id"]


def check_tms_registered(sim, jm, tms):
    cl = json.loads(cli(sim, jm, "-o", "json", "cluster"))
    hosts = json.dumps(cl["taskmanagers"])
    for tm in tms:
        check(tm.ip in hosts, "TaskManager %s registered under its pod IP "
              "%s: %s" % (tm.name, tm.ip, hosts))


def check_exact(d):
    got, rows = failover_drill.collections.Counter(), \
        failover_drill.collections.Counter()
    for line in failover_drill.committed_lines(os.path.join(d, "out",
                                                            "counts")):
        r = json.loads(line)
        key = (r["event_type"], failover_drill.iso_ms(r["window_start"]))
        got[key] += r["n"]
        rows[key] += 1
    want = failover_drill.expected(P, RATE, COUNT)
    dup = [k for k, v in rows.items() if v > 1]
    check(not dup and got == want,
          "output not exact: %d windows twice, missing %s, extra %s" %
          (len(dup), list((want - got).items())[:3],
           list((got - want).items())[:3]))


def check_bucket(s3_data):
    """The checkpoints went to s3rver (the base's s3:// storage with the
    Secret's credentials); the job store there is what a new leader
    recovered the job from."""
    stored = [os.path.join(r, f) for r, _, fs in os.walk(s3_data)
              for f in fs]
    check(any("/weir-checkpoints/weir/" in p and "/chk-" in p
              for p in stored), "checkpoints in the bucket: %s" %
          stored[:5])


def check_token_required(sim, jm, tm):
    """The Secret weir-token is in force: REST and /metrics without it are
    401 and the CLI without it exits 1, while /healthz and /readyz (the
    probes) answer without it."""
    for pod, port, path in ((jm, 8081, "/jobs"), (jm, 8081, "/metrics"),
                            (tm, 9249, "/metrics")):
        st, body = sim.node_call(podsim.http_status, pod.ip, port, path, 2)
        check(st == 401, "%s:%d%s without the token: %s %s" %
              (pod.name, port, path, st, body[:200]))
    for pod, port, path in ((jm, 8081, "/healthz"), (tm, 9249, "/healthz"),
                            (tm, 9249, "/readyz")):
        st, _ = sim.node_call(podsim.http_status, pod.ip, port, path, 2)
        check(st == 200, "%s:%d%s without the token: %s" %
              (pod.name, port, path, st))
    r = sim.exec(jm, ["env", "-u", "WEIR_TOKEN_FILE", "-u",
                      "WEIR_SECURITY_TOKEN_FILE", "weir", "list"])
    check(r.returncode == 1 and "authentication failed" in r.stderr,
          "weir list without the token in %s: exit %d %s%s" %
          (jm.name, r.returncode, r.stdout, r.stderr))
    print("     without the token: REST and /metrics 401, the CLI exit 1; "
          "probes 200")


def check_not_exposed(sim):
    """Every daemon started with the token file: none warned that its
    ports are open to anyone."""
    for p in sim.pods:
        check("DAEMON-EXPOSED" not in p.log(), "%s logged DAEMON-EXPOSED "
              "(no token file?):\n%s" % (p.name, p.log()[-2000:]))


def delete_all(sim):
    check_not_exposed(sim)
    for p in sim.pods_of("weir-apply") + sim.pods_of("weir-taskmanager") + \
            sim.pods_of("weir-jobmanager"):
        how = p.delete()
        check("exited 0 after SIGTERM" in how,
              "%s on deletion: %s\n%s" % (p.name, how, p.log()[-2000:]))


def single_scenario(sim, d, s3_data):
    sim.apply()
    jm = sim.wait_ready("weir-jobmanager", 1)[0]
    tms = sim.wait_ready("weir-taskmanager", 2)
    check_tms_registered(sim, jm, tms)
    check_token_required(sim, jm, tms[0])
    job = submit(sim, jm)
    wait_for(lambda: job_state(sim, jm, job) == "RUNNING", 30,
             "job %s RUNNING" % job)
    wait_for(lambda: completed_ckpts(sim, jm, job) >= 2, 30,
             "two completed checkpoints")
    before = completed_ckpts(sim, jm, job)
    t0 = time.monotonic()
    for old, new, how in sim.rollout_restart("weir-taskmanager"):
        print("     rolled %s -> %s: old %s" % (old.name, new.name, how))
        check("exited 0 after SIGTERM" in how,
              "%s did not exit cleanly on SIGTERM: %s" % (old.name, how))
    print("     rolling restart took %.1f s" % (time.monotonic() - t0))
    state = job_state(sim, jm, job)
    check(state in ("RUNNING", "RESTARTING", "CREATED"),
          "the job is %s right after the rolling restart (it must outlast "
          "it to test anything)" % state)
    wait_for(lambda: job_state(sim, jm, job) == "FINISHED", COUNT / RATE +
             90, "job FINISHED", 0.2)
    check(completed_ckpts(sim, jm, job) > before,
          "checkpoints completed after the rolling restart")
    _, metrics = sim.node_call(podsim.http_status, jm.ip, 8081, "/metrics",
                               2, bearer(sim))
    restarts = metric_sum(metrics, "weir_job_restarts_total", job=job)
    print("     job restarts during the rollout: %d" % restarts)
    check(restarts >= 1, "the rolling restart restarted the job's tasks "
          "(else it tested nothing)")
    check_exact(d)
    check_bucket(s3_data)
    liveness_restart(sim, jm)
    jobmanager_replaced(sim, jm)
    delete_all(sim)


def jobmanager_replaced(sim, jm):
    """kubectl delete pod weir-jobmanager-0: the StatefulSet's new pod has
    another IP under the same name; the TaskManagers, given the name,
    register with it."""
    old_ip, t0 = jm.ip, time.monotonic()
    how = jm.delete()
    check("exited 0 after SIGTERM" in how, "the JobManager: %s" % how)
    new = sim.create_pod("weir-jobmanager", 0)
    check(new.ip != old_ip, "the new pod has a new IP")
    sim.wait_ready("weir-jobmanager", 1)
    tms = sim.pods_of("weir-taskmanager")
    wait_for(lambda: all(t.ip in json.dumps(json.loads(cli(
        sim, new, "-o", "json", "cluster"))["taskmanagers"]) for t in tms),
        30, "the TaskManagers registered with the new JobManager pod")
    print("     JobManager pod replaced (%s -> %s): TaskManagers registered "
          "with it after %.1f s" % (old_ip, new.ip, time.monotonic() - t0))


def liveness_restart(sim, jm):
    """A hung TaskManager (SIGSTOP): its /healthz stops answering, the
    kubelet restarts the container - SIGTERM, which a stopped process
    cannot act on, then SIGKILL after the grace period - in the same pod
    (same IP), and it registers again."""
    tm = sim.pods_of("weir-taskmanager")[0]
    old_pid, t0 = tm.pid(), time.monotonic()
    os.kill(old_pid, signal.SIGSTOP)
    wait_for(lambda: tm.restarts == 1 and tm.ready, 30,
             "the hung TaskManager restarted and Ready again")
    how = tm.exits[-1][0]
    check("SIGKILLed after the 2s grace period (liveness probe failed)" ==
          how, "the hung TaskManager: %s" % how)
    check_tms_registered(sim, jm, [tm])
    print("     hung TaskManager restarted by its liveness probe, Ready "
          "again after %.1f s" % (time.monotonic() - t0))


def leader(sim):
    """The JobManager pod whose /readyz is 200 (a standby's: 503)."""
    lead = [p for p in sim.pods_of("weir-jobmanager")
            if sim.node_call(podsim.http_status, p.ip, 8081, "/readyz",
                             2)[0] == 200]
    return lead[0] if len(lead) == 1 else None


def ha_scenario(sim, d, s3_data):
    sim.apply()
    jms = sim.wait_ready("weir-jobmanager", 2)
    tms = sim.wait_ready("weir-taskmanager", 2)
    lead = wait_for(lambda: leader(sim), 30, "one JobManager leading")
    standby = [p for p in jms if p is not lead][0]
    check_tms_registered(sim, lead, tms)
    # A standby given only itself refuses, naming the leader's pod IP.
    r = sim.exec(standby, ["weir", "--jobmanager", "tcp://127.0.0.1:6123",
                           "list"])
    check(r.returncode != 0 and "the leader is tcp://%s:6123" % lead.ip in
          r.stdout + r.stderr, "the standby names the leader: %s%s" %
          (r.stdout, r.stderr))
    job = submit(sim, standby)  # its WEIR_JOBMANAGER lists both
    wait_for(lambda: job_state(sim, lead, job) == "RUNNING", 30,
             "job %s RUNNING" % job)
    wait_for(lambda: completed_ckpts(sim, lead, job) >= 2, 30,
             "two completed checkpoints")
    # kubectl delete pod LEADER; the StatefulSet starts it again.
    t0 = time.monotonic()
    how = lead.delete()
    check("exited 0 after SIGTERM" in how, "the leader on SIGTERM: %s" % how)
    ordinal = int(lead.name.rsplit("-", 1)[1])
    sim.create_pod("weir-jobmanager", ordinal)
    new = wait_for(lambda: leader(sim), 30, "a new leader")
    check(new is standby, "the standby %s leads (not %s)" %
          (standby.name, new.name))
    took = time.monotonic() - t0
    wait_for(lambda: job_state(sim, new, job) in ("RUNNING", "FINISHED"),
             30, "job %s recovered on the new leader" % job)
    print("     leader %s deleted: %s leads after %.1f s, the job runs "
          "after %.1f s" % (lead.name, new.name, took,
                            time.monotonic() - t0))
    sim.wait_ready("weir-jobmanager", 2)
    wait_for(lambda: job_state(sim, new, job) == "FINISHED", COUNT / RATE +
             90, "job FINISHED", 0.2)
    check_exact(d)
    check_bucket(s3_data)
    delete_all(sim)


def podsim_jobs(sim, jm):
    """(id, state, spec_hash) of the jobs named podsim."""
    out = []
    for j in (rest(sim, jm, "/jobs") or {}).get("jobs", []):
        if j["name"] == "podsim":
            info = rest(sim, jm, "/jobs/" + j["id"]) or {}
            out.append((j["id"], j["state"], info.get("spec_hash")))
    return out


def gitops_scenario(sim, d, s3_data):
    sim.apply()
    jm = sim.wait_ready("weir-jobmanager", 1)[0]
    sim.wait_ready("weir-taskmanager", 2)
    check(len(sim.pods_of("weir-apply")) == 1, "one weir-apply pod")
    first = wait_for(lambda: [j for j in podsim_jobs(sim, jm)
                              if j[1] == "RUNNING"], 60,
                     "weir apply to start the job of weir-jobs")[0]
    wait_for(lambda: completed_ckpts(sim, jm, first[0]) >= 2, 30,
             "two completed checkpoints")
    # kubectl apply of an edited weir-jobs: weir apply --watch sees the
    # kubelet's ..data swap and upgrades the job through a savepoint. The
    # edit changes no result, so the output across it must be exact.
    t0 = time.monotonic()
    sim.update_configmap("weir-jobs", {"podsim.yaml": JOB_TEXT.replace(
        "interval: 500ms", "interval: 400ms")})
    new = wait_for(lambda: [j for j in podsim_jobs(sim, jm)
                            if j[0] != first[0] and
                            j[1] in ("RUNNING", "FINISHED")], 60,
                   "the job upgraded from the edited ConfigMap")[0]
    print("     ConfigMap edited: job %s upgraded to %s in %.1f s" %
          (first[0][:8], new[0][:8], time.monotonic() - t0))
    check(new[2] != first[2], "a new spec_hash: %s" % [first, new])
    check(job_state(sim, jm, first[0]) == "FINISHED",
          "the old version stopped with a savepoint")
    wait_for(lambda: job_state(sim, jm, new[0]) == "FINISHED",
             COUNT / RATE + 90, "the upgraded job FINISHED", 0.2)
    check_exact(d)
    log = sim.pods_of("weir-apply")[0].log()
    delete_all(sim)
    check(log.count("upgrade") >= 1, "weir apply's log names the "
          "upgrade:\n%s" % log[-2000:])


def start_api(sim, d):
    """tests/tools/lease_server.py in a namespace of its own, as the API
    server's Lease endpoints; the pods get its address and token. Returns
    the patch pointing the JobManagers at it: their default is
    https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the
    service account's CA, and the stand-in speaks http."""
    ns, ip = sim.net.add_host("api")
    token = os.path.join(d, "api-token")
    with open(token, "w") as f:
        f.write(API_TOKEN)
    log_path = os.path.join(d, "api.log")
    log = open(log_path, "w")
    spawn(["nsenter", "--net=/run/netns/" + ns, sys.executable,
           LEASE_SERVER, "--address", ip, "--port", str(API_PORT),
           "--token-file", token], stdout=log, stderr=subprocess.STDOUT,
          stdin=subprocess.DEVNULL)
    log.close()

    def up():
        with open(log_path) as f:
            return "ready" in f.read()
    wait_for(up, 20, "the Lease server")
    sim.api = (ip, API_PORT, API_TOKEN)
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "weir-jobmanager"},
            "spec": {"template": {"spec": {"containers": [
                {"name": "jobmanager", "env": [
                    {"name": "WEIR_HIGH_AVAILABILITY_KUBERNETES_API",
                     "value": "http://%s:%d" % (ip, API_PORT)}]}]}}}}


def run_overlay(name, scenario, ha=False, more=()):
    d = tempfile.mkdtemp(prefix="weir-it-podsim-")
    os.makedirs(os.path.join(d, "out"))
    os.chown(os.path.join(d, "out"), 10001, 10001)
    sim = podsim.Sim(d)
    try:
        s3_ip, s3_data = start_s3rver(sim, d)
        more = list(more) + ([start_api(sim, d)] if ha else [])
        sim.load(kustomize_lite.render(test_overlay(
            d, os.path.join(OVERLAYS, name), s3_ip, more)))
        try:
            scenario(sim, d, s3_data)
        except BaseException:
            for p in sim.pods:
                print("---- %s (%s, restarts %d, exits %s)\n%s" %
                      (p.name, p.ip, p.restarts, p.exits, p.log()[-3000:]))
            raise
    finally:
        sim.close()
        if not os.environ.get("WEIR_KEEP_TMP"):
            subprocess.run(["rm", "-rf", d])


def test_single_overlay_rolling_restart():
    # Only timing changes: the liveness check at the end takes seconds,
    # not the shipped 3 x 10 s probes plus a 30 s grace period.
    fast = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "weir-taskmanager"},
            "spec": {"template": {"spec": {
                "terminationGracePeriodSeconds": 2,
                "containers": [{"name": "taskmanager", "livenessProbe": {
                    "periodSeconds": 1, "failureThreshold": 2}}]}}}}
    run_overlay("single", single_scenario, more=[fast])


def test_ha_overlay_leader_deleted():
    run_overlay("ha", ha_scenario, ha=True)


def test_gitops_overlay_apply_upgrades():
    # weir-jobs holds this test's job instead of the example (whose Kafka
    # sink has no Kafka here).
    jobs = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "weir-jobs"},
            "data": {"nexmark-counts.yaml": None, "podsim.yaml": JOB_TEXT}}
    run_overlay("gitops", gitops_scenario, more=[jobs])


if __name__ == "__main__":
    main([test_single_overlay_rolling_restart,
          test_ha_overlay_leader_deleted,
          test_gitops_overlay_apply_upgrades])
