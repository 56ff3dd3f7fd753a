#!/usr/bin/env bash
# CI check of deploy/k8s/ against the Kubernetes schemas with PyPI's
# kubernetes-validate (offline: the schemas ship in the package), strict
# (an unknown field fails), plus what the schemas cannot see: the Indexed
# Job's completions equal partition's --shards, and every Job mounts the
# claim the volume file declares. A deliberately broken copy must fail,
# so the check is known to bite. The venv is made once at
# ${K8S_VENV:-$HOME/.cache/refund-recon/k8s-venv}.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${K8S_VENV:-$HOME/.cache/refund-recon/k8s-venv}"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "kubernetes-validate==1.37.0"
fi
"$venv/bin/kubernetes-validate" --strict --quiet deploy/k8s/*.yaml
bad="$(mktemp --suffix=.yaml)"
sed 's/completionMode: Indexed/completionMod: Indexed/' deploy/k8s/shards-job.yaml > "$bad"
if "$venv/bin/kubernetes-validate" --strict --quiet "$bad" >/dev/null 2>&1; then
  echo "kubernetes-validate accepted a broken manifest" >&2
  exit 1
fi
rm -f "$bad"
"$venv/bin/python" - <<'PY'
import glob, yaml
docs = {f: yaml.safe_load(open(f)) for f in glob.glob("deploy/k8s/*-job.yaml")}
part = docs["deploy/k8s/partition-job.yaml"]["spec"]["template"]["spec"]["containers"][0]["args"]
shards = int(part[part.index("--shards") + 1])
spec = docs["deploy/k8s/shards-job.yaml"]["spec"]
assert spec["completionMode"] == "Indexed", spec
assert spec["completions"] == shards, f"completions {spec['completions']} != --shards {shards}"
claim = yaml.safe_load(open("deploy/k8s/work-volume.yaml"))["metadata"]["name"]
for f, d in docs.items():
    claims = [v["persistentVolumeClaim"]["claimName"] for v in d["spec"]["template"]["spec"]["volumes"]]
    assert claim in claims, f"{f} does not mount {claim}"
print(f"k8s: manifests valid (strict), {shards} shards, claim {claim}")
PY
