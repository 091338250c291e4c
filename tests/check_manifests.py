#!/usr/bin/env python3
"""check_manifests.py - validates every overlay of deploy/kubernetes/
without a cluster (ctest deploy.manifests).

Each overlay is rendered by tests/tools/kustomize_lite.py and every object
is checked twice:

- against the Kubernetes OpenAPI schemas, with unknown fields refused
  (tests/tools/k8s_validate/validate.mjs on the pinned npm package
  kubernetes-models, installed by scripts/install-k8s-validate.sh);
- against what weir's manifests promise and a schema cannot see: the
  restricted security context on every pod and container, probes on
  /healthz and /readyz (or /healthz) on the ports the container names,
  Prometheus annotations naming a container port, resources, the image
  weir:<project version>, every Service selecting a pod template and
  targeting its ports, every ConfigMap, Secret and ServiceAccount a pod
  uses present, every $(VAR) defined before its use, the JobManager
  StatefulSet's headless Service present and every WEIR_JOBMANAGER list
  naming each of its pods (POD-i.SERVICE) and nothing else; every weir
  container given the cluster token (WEIR_SECURITY_TOKEN_FILE for a
  daemon, WEIR_TOKEN_FILE for the CLI) as a key of a rendered Secret
  mounted read-only.

deploy/prometheus/prometheus.yml must keep pods by the annotations the
manifests set (prometheus.io/scrape, /port, /path as Prometheus names
them) and send the cluster token (authorization.credentials_file). Then
it proves the checks can fail: broken copies of the single overlay (a
string for replicas, an httpGet probe without a port, a misspelt field, a
kind with no schema, a container allowed to escalate privileges, a
Service selecting nothing, a TaskManager without its token file, a
JobManager whose token Secret is not mounted, two JobManagers with one
listed) must each be refused, naming the fault.
"""
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.environ.get("WEIR_SOURCE_DIR") or
                       os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
import kustomize_lite  # noqa: E402

OVERLAYS = os.path.join(ROOT, "deploy", "kubernetes", "overlays")
VALIDATE = os.path.join(ROOT, "tests", "tools", "k8s_validate",
                        "validate.mjs")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return re.search(r"project\(weir VERSION ([0-9.]+)", f.read()).group(1)


def schema_check(modules, objs, tmp):
    """validate.mjs's verdict: (exit status, its output)."""
    path = os.path.join(tmp, "objects.json")
    with open(path, "w") as f:
        json.dump(objs, f)
    r = subprocess.run(["node", VALIDATE, modules, path],
                       capture_output=True, text=True, timeout=120)
    return r.returncode, r.stdout + r.stderr


def pod_problems(name, spec, template_meta, version):
    out = []
    sc = spec.get("securityContext", {})
    if sc.get("runAsNonRoot") is not True:
        out.append("%s: pod securityContext.runAsNonRoot is not true" % name)
    if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        out.append("%s: pod seccompProfile is not RuntimeDefault" % name)
    if spec.get("enableServiceLinks") is not False:
        out.append("%s: enableServiceLinks is not false (Service env vars "
                   "would land in weir's WEIR_* space)" % name)
    ann = template_meta.get("annotations", {})
    for c in spec["containers"]:
        cn = "%s/%s" % (name, c["name"])
        csc = c.get("securityContext", {})
        if csc.get("allowPrivilegeEscalation") is not False:
            out.append("%s: allowPrivilegeEscalation is not false" % cn)
        if csc.get("readOnlyRootFilesystem") is not True:
            out.append("%s: readOnlyRootFilesystem is not true" % cn)
        if (csc.get("capabilities") or {}).get("drop") != ["ALL"]:
            out.append("%s: capabilities.drop is not [ALL]" % cn)
        if c.get("image") != "weir:%s" % version:
            out.append("%s: image %s is not weir:%s" %
                       (cn, c.get("image"), version))
        res = c.get("resources", {})
        if "requests" not in res or "memory" not in res.get("limits", {}):
            out.append("%s: no resource requests or memory limit" % cn)
        ports = {p.get("name"): p["containerPort"]
                 for p in c.get("ports", [])}
        for probe in ("livenessProbe", "readinessProbe"):
            if not ports:
                continue  # no server: weir apply
            get = (c.get(probe) or {}).get("httpGet")
            if get is None:
                out.append("%s: no httpGet %s" % (cn, probe))
            elif get.get("port") not in ports and \
                    get.get("port") not in ports.values():
                out.append("%s: %s port %s is not a container port" %
                           (cn, probe, get.get("port")))
            elif get.get("path") not in ("/healthz", "/readyz"):
                out.append("%s: %s path %s" % (cn, probe, get.get("path")))
        if ports and ann.get("prometheus.io/scrape") == "true" and \
                int(ann.get("prometheus.io/port", 0)) not in ports.values():
            out.append("%s: prometheus.io/port %s is no container port" %
                       (cn, ann.get("prometheus.io/port")))
        defined = set()
        for e in c.get("env", []):
            for ref in re.findall(r"\$\((\w+)\)", e.get("value", "")):
                if ref not in defined:
                    out.append("%s: env %s uses $(%s) before it is "
                               "defined" % (cn, e["name"], ref))
            defined.add(e["name"])
    return out


def references(spec):
    """(kind, name) of the objects a pod spec needs."""
    refs = set()
    if spec.get("serviceAccountName"):
        refs.add(("ServiceAccount", spec["serviceAccountName"]))
    for v in spec.get("volumes", []):
        if "configMap" in v:
            refs.add(("ConfigMap", v["configMap"]["name"]))
        if "secret" in v:
            refs.add(("Secret", v["secret"]["secretName"]))
    for c in spec["containers"]:
        for ef in c.get("envFrom", []):
            for kind, key in (("ConfigMap", "configMapRef"),
                              ("Secret", "secretRef")):
                if key in ef:
                    refs.add((kind, ef[key]["name"]))
    return refs


DAEMONS = ("weir-jobmanager", "weir-taskmanager")


def token_problems(name, spec, secrets):
    """Every weir container has the cluster token (docs/security.md): a
    daemon's WEIR_SECURITY_TOKEN_FILE and every container's WEIR_TOKEN_FILE
    (the CLI: kubectl exec, weir apply) name a key of a rendered Secret,
    mounted read-only. A daemon without it accepts anyone's calls."""
    out = []
    vols = {v["name"]: v for v in spec.get("volumes", [])}
    for c in spec["containers"]:
        cn = "%s/%s" % (name, c["name"])
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        need = ["WEIR_TOKEN_FILE"]
        if any(d in " ".join(c.get("command", [])) for d in DAEMONS):
            need.insert(0, "WEIR_SECURITY_TOKEN_FILE")
        for var in need:
            path = env.get(var)
            if not path:
                out.append("%s: no %s (the cluster token)" % (cn, var))
                continue
            mount = next((m for m in c.get("volumeMounts", [])
                          if os.path.dirname(path) ==
                          m["mountPath"].rstrip("/")), None)
            secret = (vols.get(mount["name"], {}).get("secret")
                      if mount else None)
            if not secret or mount.get("readOnly") is not True:
                out.append("%s: %s %s is on no read-only Secret volume" %
                           (cn, var, path))
            elif secret["secretName"] in secrets and \
                    os.path.basename(path) not in \
                    secrets[secret["secretName"]]:
                out.append("%s: %s %s: Secret %s has no key %s" %
                           (cn, var, path, secret["secretName"],
                            os.path.basename(path)))
    return out


def jobmanager_list_problems(objs):
    """Every WEIR_JOBMANAGER names exactly the JobManager StatefulSet's
    pods through its headless Service."""
    out = []
    sts = [o for o in objs if o["kind"] == "StatefulSet" and
           o["metadata"]["name"] == "weir-jobmanager"]
    if len(sts) != 1:
        return ["no StatefulSet weir-jobmanager"]
    spec = sts[0]["spec"]
    svc = [o for o in objs if o["kind"] == "Service" and
           o["metadata"]["name"] == spec["serviceName"]]
    if not svc or svc[0]["spec"].get("clusterIP") != "None":
        out.append("StatefulSet weir-jobmanager: no headless Service %s" %
                   spec["serviceName"])
    want = ",".join("tcp://weir-jobmanager-%d.%s:6123" %
                    (i, spec["serviceName"])
                    for i in range(spec.get("replicas", 1)))
    for o in objs:
        if o["kind"] not in WORKLOADS:
            continue
        for c in o["spec"]["template"]["spec"]["containers"]:
            for e in c.get("env", []):
                if e["name"] == "WEIR_JOBMANAGER" and e.get("value") != want:
                    out.append("%s/%s: WEIR_JOBMANAGER %s, not %s" %
                               (o["metadata"]["name"], c["name"],
                                e.get("value"), want))
    return out


def policy_problems(objs, version):
    out = jobmanager_list_problems(objs)
    have = {(o["kind"], o["metadata"]["name"]) for o in objs}
    secrets = {o["metadata"]["name"]: set(o.get("data", {})) |
               set(o.get("stringData", {}))
               for o in objs if o["kind"] == "Secret"}
    pods = []
    for o in objs:
        if o["kind"] not in WORKLOADS:
            continue
        t = o["spec"]["template"]
        name = "%s/%s" % (o["kind"], o["metadata"]["name"])
        if any(t["metadata"].get("labels", {}).get(k) != v for k, v in
               o["spec"]["selector"]["matchLabels"].items()):
            out.append("%s: selector does not match its template" % name)
        out += pod_problems(name, t["spec"], t["metadata"], version)
        out += token_problems(name, t["spec"], secrets)
        for ref in sorted(references(t["spec"]) - have):
            out.append("%s: uses %s/%s, which is not rendered" %
                       ((name,) + ref))
        pods.append(t)
    for s in (o for o in objs if o["kind"] == "Service"):
        sel = s["spec"]["selector"]
        hit = [t for t in pods if all(
            t["metadata"].get("labels", {}).get(k) == v
            for k, v in sel.items())]
        if not hit:
            out.append("Service/%s selects no pod template" %
                       s["metadata"]["name"])
        for p in s["spec"]["ports"]:
            names = {cp.get("name") for t in hit
                     for c in t["spec"]["containers"]
                     for cp in c.get("ports", [])}
            if hit and p.get("targetPort") not in names:
                out.append("Service/%s: targetPort %s is no container "
                           "port's name" % (s["metadata"]["name"],
                                            p.get("targetPort")))
    return out


def prometheus_problems(objs):
    """The scrape job keys on the annotations the pod templates carry."""
    with open(os.path.join(ROOT, "deploy", "prometheus",
                           "prometheus.yml")) as f:
        cfg = yaml.safe_load(f)
    used = {label for job in cfg["scrape_configs"]
            for r in job.get("relabel_configs", [])
            for label in r.get("source_labels", [])}
    out = ["prometheus.yml: job %s sends no cluster token "
           "(authorization.credentials_file)" % job.get("job_name")
           for job in cfg["scrape_configs"]
           if not (job.get("authorization") or {}).get("credentials_file")]
    for o in objs:
        if o["kind"] not in WORKLOADS:
            continue
        for a in o["spec"]["template"]["metadata"].get("annotations", {}):
            name = "__meta_kubernetes_pod_annotation_" + re.sub(
                r"[^a-zA-Z0-9_]", "_", a)
            if a.startswith("prometheus.io/") and name not in used:
                out.append("%s: annotation %s is not used by "
                           "deploy/prometheus/prometheus.yml" %
                           (o["metadata"]["name"], a))
    return out


def find(objs, kind, name):
    return next(o for o in objs
                if o["kind"] == kind and o["metadata"]["name"] == name)


def tm_container(objs):
    return find(objs, "Deployment",
                "weir-taskmanager")["spec"]["template"]["spec"][
                    "containers"][0]


# Broken copies of an overlay: (what, mutation, the text the refusal must
# contain, "schema" or "policy").
def _replicas(o):
    find(o, "Deployment", "weir-taskmanager")["spec"]["replicas"] = "two"


def _probe_port(o):
    del tm_container(o)["readinessProbe"]["httpGet"]["port"]


def _misspelt(o):
    c = tm_container(o)
    c["readinesProbe"] = c.pop("readinessProbe")


def _no_schema(o):
    o.append({"apiVersion": "weir.dev/v1", "kind": "WeirJob",
              "metadata": {"name": "x", "namespace": "weir"}})


def _escalate(o):
    tm_container(o)["securityContext"]["allowPrivilegeEscalation"] = True


def _service(o):
    find(o, "Service", "weir-jobmanager")["spec"]["selector"][
        "app.kubernetes.io/component"] = "jobmanagr"


def _no_token(o):
    c = tm_container(o)
    c["env"] = [e for e in c["env"]
                if e["name"] != "WEIR_SECURITY_TOKEN_FILE"]


def _token_not_mounted(o):
    c = find(o, "StatefulSet", "weir-jobmanager")["spec"]["template"][
        "spec"]["containers"][0]
    c["volumeMounts"] = [m for m in c["volumeMounts"]
                         if not m["mountPath"].startswith(
                             "/var/run/secrets/weir")]


def _one_jm_listed(o):
    find(o, "StatefulSet", "weir-jobmanager")["spec"]["replicas"] = 2


BROKEN = [
    ("replicas as a string", _replicas,
     "/spec/replicas must be integer", "schema"),
    ("probe without a port", _probe_port,
     "httpGet must have required property port", "schema"),
    ("misspelt readinessProbe", _misspelt,
     "unknown fields: /spec/template/spec/containers/0/readinesProbe",
     "schema"),
    ("a kind with no schema", _no_schema,
     "WeirJob/x: no schema", "schema"),
    ("privilege escalation allowed", _escalate,
     "weir-taskmanager/taskmanager: allowPrivilegeEscalation is not false",
     "policy"),
    ("a Service selecting nothing", _service,
     "Service/weir-jobmanager selects no pod template", "policy"),
    ("a TaskManager without the token file", _no_token,
     "weir-taskmanager/taskmanager: no WEIR_SECURITY_TOKEN_FILE", "policy"),
    ("the token Secret not mounted", _token_not_mounted,
     "weir-jobmanager/jobmanager: WEIR_SECURITY_TOKEN_FILE "
     "/var/run/secrets/weir/token is on no read-only Secret volume",
     "policy"),
    ("two JobManagers, one listed", _one_jm_listed,
     "weir-taskmanager/taskmanager: WEIR_JOBMANAGER "
     "tcp://weir-jobmanager-0.weir-jobmanager-headless:6123, not", "policy"),
]


def main():
    version = project_version()
    modules = subprocess.run(
        ["bash", os.path.join(ROOT, "scripts", "install-k8s-validate.sh")],
        capture_output=True, text=True, check=True).stdout.strip()
    failed = passed = 0
    rendered = {}
    with tempfile.TemporaryDirectory(prefix="weir-manifests-") as tmp:
        for overlay in sorted(os.listdir(OVERLAYS)):
            objs = kustomize_lite.render(os.path.join(OVERLAYS, overlay))
            rendered[overlay] = objs
            rc, out = schema_check(modules, objs, tmp)
            problems = (policy_problems(objs, version) +
                        prometheus_problems(objs))
            ok = rc == 0 and not problems
            print("%s overlays/%s: %d objects, schema %s, %d policy "
                  "problems" % ("ok  " if ok else "FAIL", overlay, len(objs),
                                "valid" if rc == 0 else "INVALID",
                                len(problems)))
            if not ok:
                print("".join("     " + l + "\n" for l in out.splitlines()
                              if not l.startswith("ok ")), end="")
                print("".join("     %s\n" % p for p in problems), end="")
            failed, passed = failed + (not ok), passed + ok
        for what, mutate, expect, by in BROKEN:
            objs = copy.deepcopy(rendered["single"])
            mutate(objs)
            if by == "schema":
                rc, out = schema_check(modules, objs, tmp)
                refused = rc != 0 and expect in out
            else:
                out = "\n".join(policy_problems(objs, version))
                refused = expect in out
            print("%s broken: %s -> %s" %
                  ("ok  " if refused else "FAIL", what,
                   "refused" if refused else "NOT refused as expected"))
            if not refused:
                print("     wanted %r in:\n%s" % (expect, out))
            failed, passed = failed + (not refused), passed + refused
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
