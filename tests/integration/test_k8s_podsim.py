"""test_k8s_podsim.py - deploy/kubernetes/overlays/single, rendered as
kustomize would (tests/tools/kustomize_lite.py), run by the pod simulation
(podsim.py): every pod's container command, env (the downward API's pod IP,
the Secret weir-s3), mounted ConfigMap, user and read-only root as real
processes, one network namespace per pod, Service names resolved to the
Ready pods behind them, probes polled as the kubelet does.

The overlay is used as shipped except for what a test cluster replaces,
through a kustomize overlay of its own (DIR/overlay, printed on failure):
the Secret weir-s3 points at s3rver (scripts/install-s3rver.sh) in a
namespace of its own on the pods' bridge, so checkpoints and the job
store are on S3 as in production; and the TaskManagers get a hostPath
volume at /var/lib/weir/out, the shared directory of the job's
exactly-once file sink (on a real cluster: a shared volume, or a Kafka
sink).

The scenario: the cluster forms (JobManager and both TaskManagers Ready,
the TaskManagers registered under their pod IPs); a keyed nexmark job
with 200 ms windows runs with checkpoints every 500 ms; the TaskManagers
get a rolling restart (`kubectl rollout restart`: a new pod Ready, then
an old one SIGTERMed within its grace period, one at a time); the job
finishes with output exactly that of a failure-free run (no window
missing, none twice) and its checkpoints are in the bucket. Then every pod
is deleted and each daemon must exit on SIGTERM, within its grace period.
About 60 s: label heavy.
"""
import json
import os
import subprocess
import sys
import tempfile

import yaml

from weirtest import check, main, metric_sum, spawn, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("WEIR_SOURCE_DIR") or os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(SRC, "tests", "tools"))
sys.path.insert(0, os.path.join(SRC, "scripts"))
import failover_drill  # noqa: E402
import kustomize_lite  # noqa: E402
import podsim  # noqa: E402

SINGLE = os.path.join(SRC, "deploy", "kubernetes", "overlays", "single")
BUCKET = "weir-checkpoints"  # the base's checkpoints.storage bucket
S3_PORT = 4569
RATE, COUNT, P = 400, 12000, 2  # per subtask: a 30 s job

JOB = failover_drill.JOB.replace("name: failover-drill", "name: podsim")


def test_overlay(d, s3_ip):
    """DIR/overlay: the single overlay with this test cluster's S3 and
    output volume."""
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
         "kind": "Kustomization", "resources": [SINGLE],
         "patches": [{"patch": yaml.safe_dump(secret)},
                     {"patch": yaml.safe_dump(out)}]}
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


def rest(sim, pod, path):
    st, body = sim.node_call(podsim.http_status, pod.ip, 8081, path, 2)
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


def scenario(sim, d, s3_data):
    sim.apply()
    jm = sim.wait_ready("weir-jobmanager", 1)[0]
    tms = sim.wait_ready("weir-taskmanager", 2)
    cl = json.loads(cli(sim, jm, "-o", "json", "cluster"))
    hosts = json.dumps(cl["taskmanagers"])
    for tm in tms:
        check(tm.ip in hosts, "TaskManager %s registered under its pod IP "
              "%s: %s" % (tm.name, tm.ip, hosts))
    # kubectl cp podsim.yaml JM:/tmp/, then kubectl exec JM -- weir run
    with open(jm.host_path("/tmp/podsim.yaml"), "w") as f:
        f.write(JOB.format(p=P, rate=RATE, count=COUNT,
                           window=failover_drill.WINDOW_MS,
                           out="/var/lib/weir/out/counts"))
    job = json.loads(cli(sim, jm, "-o", "json", "run", "-d",
                         "/tmp/podsim.yaml"))["job_id"]
    wait_for(lambda: job_state(sim, jm, job) == "RUNNING", 30,
             "job %s RUNNING" % job)
    wait_for(lambda: completed_ckpts(sim, jm, job) >= 2, 30,
             "two completed checkpoints")
    before = completed_ckpts(sim, jm, job)
    steps = sim.rollout_restart("weir-taskmanager")
    for old, new, how in steps:
        print("     rolled %s -> %s: old %s" % (old.name, new.name, how))
        check("exited 0 after SIGTERM" in how,
              "%s did not exit cleanly on SIGTERM: %s" % (old.name, how))
    state = job_state(sim, jm, job)
    check(state in ("RUNNING", "RESTARTING", "CREATED"),
          "the job is %s right after the rolling restart (it must outlast "
          "it to test anything)" % state)
    wait_for(lambda: job_state(sim, jm, job) == "FINISHED", COUNT / RATE +
             90, "job FINISHED", 0.2)
    check(completed_ckpts(sim, jm, job) > before,
          "checkpoints completed after the rolling restart")
    _, metrics = sim.node_call(podsim.http_status, jm.ip, 8081, "/metrics",
                               2)
    restarts = metric_sum(metrics, "weir_job_restarts_total", job=job)
    print("     job restarts during the rollout: %d" % restarts)
    check(restarts >= 1, "the rolling restart restarted the job's tasks "
          "(else it tested nothing)")
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
    stored = [os.path.join(r, f) for r, _, fs in os.walk(s3_data)
              for f in fs]
    check(any("jobstore" in p for p in stored) and
          any("chk-" in p or "ckpt" in p for p in stored),
          "checkpoints and the job store in the bucket: %s" % stored[:5])
    for p in sim.pods_of("weir-taskmanager") + [jm]:
        how = p.delete()
        check("exited 0 after SIGTERM" in how,
              "%s on deletion: %s\n%s" % (p.name, how, p.log()[-2000:]))


def test_single_overlay_rolling_restart():
    d = tempfile.mkdtemp(prefix="weir-it-podsim-")
    os.makedirs(os.path.join(d, "out"))
    os.chown(os.path.join(d, "out"), 10001, 10001)
    sim = podsim.Sim(d)
    try:
        s3_ip, s3_data = start_s3rver(sim, d)
        sim.load(kustomize_lite.render(test_overlay(d, s3_ip)))
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


if __name__ == "__main__":
    main([test_single_overlay_rolling_restart])
