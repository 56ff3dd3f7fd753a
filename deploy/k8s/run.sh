#!/usr/bin/env bash
# Runs the three Jobs in order on the current kubectl context
# (docs/scale.md#kubernetes): partition, the Indexed Job of shards, merge;
# each waits for the one before to complete, and a failed step stops the
# run. The Jobs are deleted first, so the same names can be run nightly.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
timeout="${TIMEOUT:-6h}"
kubectl apply -f "$here/work-volume.yaml"
for job in partition shards merge; do
  kubectl delete job "refund-recon-$job" --ignore-not-found
done
for job in partition shards merge; do
  kubectl apply -f "$here/$job-job.yaml"
  kubectl wait --for=condition=complete --timeout="$timeout" "job/refund-recon-$job"
done
