#!/usr/bin/env python3
"""Writes kubernetes-fields.txt: the JSON field names of the Kubernetes kinds antlab
checks strictly, and the shape of each field's value, read from the Go types of
k8s.io/api and k8s.io/apimachinery (the `json:"..."` tags).

Usage: gen_kubernetes_fields.py API_CHECKOUT APIMACHINERY_CHECKOUT TAG > kubernetes-fields.txt
(each checkout a git directory holding TAG, e.g. v0.36.1 as used by Antrea v2.7.0).

Output, one Go type per line: `pkg.Type field=shape ...` where a shape is `s` (a
scalar), `*` (anything: raw JSON), `[X` (a list of X), `{X` (a map from string to
X) or another type's name.
"""
import re
import subprocess
import sys

API, MACHINERY, TAG = sys.argv[1:4]

# package alias -> (checkout, path)
PACKAGES = {
    "core/v1": (API, "core/v1/types.go"),
    "apps/v1": (API, "apps/v1/types.go"),
    "discovery/v1": (API, "discovery/v1/types.go"),
    "meta/v1": (MACHINERY, "pkg/apis/meta/v1/types.go"),
}
# Go import names used inside each package for the others.
IMPORTS = {"metav1": "meta/v1", "v1": "core/v1", "corev1": "core/v1"}
# Types that marshal to JSON on their own terms.
SPECIAL = {
    "resource.Quantity": "s", "intstr.IntOrString": "s", "runtime.RawExtension": "*",
    "meta/v1.Time": "s", "meta/v1.MicroTime": "s", "meta/v1.Duration": "s",
    "meta/v1.FieldsV1": "*", "types.UID": "s", "[]byte": "s", "json.RawMessage": "*",
}
ROOTS = [
    "core/v1.Namespace", "core/v1.Node", "core/v1.Pod", "core/v1.Service",
    "core/v1.ConfigMap", "core/v1.Secret", "core/v1.ServiceAccount", "core/v1.Endpoints",
    "apps/v1.Deployment", "apps/v1.DaemonSet", "apps/v1.StatefulSet", "apps/v1.ReplicaSet",
    "discovery/v1.EndpointSlice",
]
SCALARS = {"string", "bool", "int", "int32", "int64", "uint", "uint32", "uint64",
           "float32", "float64", "byte"}

structs = {}   # qualified name -> [(json name or None for inline, go type)]
aliases = {}   # qualified name -> go type (non-struct named types)

for pkg, (repo, path) in PACKAGES.items():
    src = subprocess.run(["git", "-C", repo, "show", f"{TAG}:{path}"],
                         check=True, capture_output=True, text=True).stdout
    src = re.sub(r"//[^\n]*", "", src)
    for m in re.finditer(r"^type (\w+) struct \{(.*?)^\}", src, re.S | re.M):
        fields = []
        for line in m.group(2).splitlines():
            line = line.strip()
            if not line:
                continue
            tag = re.search(r'json:"([^"]*)"', line)
            decl = line.split("`")[0].split()
            if tag is None:
                continue
            name = tag.group(1).split(",")[0]
            if name == "-":
                continue
            gotype = decl[-1] if len(decl) >= 1 else ""
            inline = ",inline" in tag.group(1) or (len(decl) == 1)
            fields.append((None if inline and name == "" else name, gotype))
        structs[f"{pkg}.{m.group(1)}"] = fields
    for m in re.finditer(r"^type (\w+) =? ?([^\s{][^\n]*)$", src, re.M):
        if m.group(2).startswith("struct"):
            continue
        aliases[f"{pkg}.{m.group(1)}"] = m.group(2).strip()


def qualify(gotype, pkg):
    t = gotype.lstrip("*")
    if "." in t:
        alias, name = t.split(".", 1)
        if alias in IMPORTS:
            return f"{IMPORTS[alias]}.{name}"
        return t
    return f"{pkg}.{t}"


def shape(gotype, pkg, todo):
    t = gotype.lstrip("*")
    if t in SPECIAL:
        return SPECIAL[t]
    if t.startswith("[]"):
        inner = t[2:]
        if inner == "byte":
            return "s"
        return "[" + shape(inner, pkg, todo)
    if t.startswith("map["):
        value = t[t.index("]") + 1:]
        return "{" + shape(value, pkg, todo)
    if t in SCALARS:
        return "s"
    q = qualify(t, pkg)
    if q in SPECIAL:
        return SPECIAL[q]
    if q in structs:
        todo.append(q)
        return q
    if q in aliases:
        return shape(aliases[q], q.rsplit(".", 1)[0], todo)
    raise SystemExit(f"unknown Go type {gotype} in {pkg}")


def fields_of(name, todo):
    pkg = name.rsplit(".", 1)[0]
    out = []
    for json_name, gotype in structs[name]:
        if json_name is None:  # inline: the embedded type's fields
            out.extend(fields_of(qualify(gotype, pkg), todo))
        else:
            out.append((json_name, shape(gotype, pkg, todo)))
    return out


todo = list(ROOTS)
done = {}
while todo:
    name = todo.pop()
    if name in done:
        continue
    done[name] = fields_of(name, todo)

print(f"# Kubernetes field names and value shapes, k8s.io/api and k8s.io/apimachinery {TAG}.")
print("# Written by gen_kubernetes_fields.py; see its doc for the format.")
for name in sorted(done):
    print(name + "".join(f" {f}={s}" for f, s in done[name]))
