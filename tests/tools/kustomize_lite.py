#!/usr/bin/env python3
"""kustomize_lite.py - renders deploy/kubernetes/ overlays without kustomize,
for the tests (kustomize is not packaged for Debian 12).

It implements exactly the subset of kustomize the layout uses, and refuses
any other kustomization key so the layout cannot drift out of it:

- `resources`: YAML files (several documents each) and directories holding
  a kustomization.yaml, rendered first and in order;
- `namespace`: set on every namespaced object; a Namespace object is
  renamed to it, and ServiceAccount subjects of RoleBindings get it;
- `patches` (`path` or inline `patch`): strategic-merge patches aimed at the
  object of the patch's own kind and name, merging lists of containers,
  env, volumes, volumeMounts and ports by their merge key as kubectl does;
  other lists are replaced;
- `images`: `name` with `newName`, `newTag` or `digest`, on containers and
  initContainers.

`kubectl kustomize DIR` (or `kustomize build DIR`) gives the same objects;
this prints them in kustomize's default order (Namespace, RBAC, ConfigMaps,
Secrets, Services, workloads, then the rest), one YAML document each.

    tests/tools/kustomize_lite.py deploy/kubernetes/overlays/single
    tests/tools/kustomize_lite.py DIR --json     one JSON array instead
"""
import argparse
import copy
import json
import os
import sys

import yaml

KNOWN_KEYS = {"apiVersion", "kind", "resources", "namespace", "patches",
              "images"}
# Kinds that live outside any namespace (of those a weir layout could use).
CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding",
                 "CustomResourceDefinition", "PersistentVolume",
                 "StorageClass", "PriorityClass"}
# kustomize's legacy order (api/resid/gvk.go, orderFirst); others follow.
ORDER_FIRST = ["Namespace", "ResourceQuota", "StorageClass",
               "CustomResourceDefinition", "ServiceAccount",
               "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding",
               "ClusterRoleBinding", "ConfigMap", "Secret", "Endpoints",
               "Service", "LimitRange", "PriorityClass",
               "PersistentVolume", "PersistentVolumeClaim", "Deployment",
               "StatefulSet", "CronJob", "PodDisruptionBudget"]
# Strategic-merge keys of the lists the patches touch (the Kubernetes API's
# x-kubernetes-patch-merge-key of each field).
MERGE_KEYS = {"containers": "name", "initContainers": "name",
              "env": "name", "volumes": "name", "volumeMounts": "mountPath",
              "ports": "containerPort", "imagePullSecrets": "name"}


class RenderError(Exception):
    pass


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def merge(base, patch):
    """Strategic merge of patch into base (both plain data); returns the
    result and leaves both alone."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif (k in MERGE_KEYS and isinstance(v, list) and
              isinstance(out.get(k), list)):
            out[k] = merge_list(out[k], v, MERGE_KEYS[k])
        elif k in out:
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def merge_list(base, patch, key):
    out = copy.deepcopy(base)
    for item in patch:
        for i, old in enumerate(out):
            if old.get(key) == item.get(key):
                out[i] = merge(old, item)
                break
        else:
            out.append(copy.deepcopy(item))
    return out


def apply_patch(objs, patch, where):
    kind = patch.get("kind")
    name = (patch.get("metadata") or {}).get("name")
    hits = [i for i, o in enumerate(objs)
            if o.get("kind") == kind and o["metadata"].get("name") == name]
    if len(hits) != 1:
        raise RenderError("%s: patch of %s/%s matches %d objects" %
                          (where, kind, name, len(hits)))
    objs[hits[0]] = merge(objs[hits[0]], patch)


def set_image(container, images):
    ref = container.get("image", "")
    name, sep, tag = ref.partition("@")
    if not sep:
        colon = ref.rfind(":")
        name, tag = ((ref[:colon], ref[colon + 1:])
                     if colon > ref.rfind("/") else (ref, ""))
    for im in images:
        if im["name"] != name:
            continue
        new = im.get("newName", name)
        if "digest" in im:
            container["image"] = "%s@%s" % (new, im["digest"])
        elif "newTag" in im:
            container["image"] = "%s:%s" % (new, im["newTag"])
        else:
            container["image"] = new + (":" + tag if tag else "")


def apply_images(objs, images):
    for o in objs:
        spec = ((o.get("spec") or {}).get("template") or {}).get("spec")
        if o.get("kind") == "Pod":
            spec = o.get("spec")
        for c in (spec or {}).get("containers", []) + \
                (spec or {}).get("initContainers", []):
            set_image(c, images)


def apply_namespace(objs, ns):
    for o in objs:
        if o["kind"] == "Namespace":
            o["metadata"]["name"] = ns
        elif o["kind"] not in CLUSTER_KINDS:
            o["metadata"]["namespace"] = ns
        if o["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            for s in o.get("subjects", []):
                if s.get("kind") == "ServiceAccount":
                    s["namespace"] = ns


def render(directory):
    """The objects of the kustomization in directory, in kustomize's
    order."""
    kpath = os.path.join(directory, "kustomization.yaml")
    if not os.path.exists(kpath):
        raise RenderError("%s: no kustomization.yaml" % directory)
    k = load_docs(kpath)[0]
    unknown = set(k) - KNOWN_KEYS
    if unknown:
        raise RenderError("%s: kustomization keys outside the subset "
                          "kustomize_lite renders: %s" %
                          (kpath, ", ".join(sorted(unknown))))
    objs = []
    for r in k.get("resources", []):
        p = os.path.normpath(os.path.join(directory, r))
        objs.extend(render(p) if os.path.isdir(p) else load_docs(p))
    for p in k.get("patches", []):
        if set(p) - {"path", "patch"}:
            raise RenderError("%s: patch with %s: only path or patch "
                              "(strategic merge by the patch's kind and "
                              "name)" % (kpath, sorted(p)))
        docs = (load_docs(os.path.join(directory, p["path"]))
                if "path" in p else list(yaml.safe_load_all(p["patch"])))
        for d in docs:
            apply_patch(objs, d, kpath)
    if "namespace" in k:
        apply_namespace(objs, k["namespace"])
    apply_images(objs, k.get("images", []))
    return sort_kustomize(objs)


def sort_kustomize(objs):
    def rank(o):
        kind = o.get("kind", "")
        first = ORDER_FIRST.index(kind) if kind in ORDER_FIRST else len(
            ORDER_FIRST)
        return (first, kind, o["metadata"].get("namespace", ""),
                o["metadata"].get("name", ""))
    return sorted(objs, key=rank)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="a directory holding a kustomization.yaml")
    ap.add_argument("--json", action="store_true",
                    help="print one JSON array instead of YAML documents")
    a = ap.parse_args()
    try:
        objs = render(a.dir)
    except (RenderError, OSError, yaml.YAMLError) as e:
        print("kustomize_lite: %s" % e, file=sys.stderr)
        return 1
    if a.json:
        json.dump(objs, sys.stdout, indent=1)
        print()
    else:
        yaml.safe_dump_all(objs, sys.stdout, sort_keys=False,
                           explicit_start=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
