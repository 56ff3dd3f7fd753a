#!/usr/bin/env bash
# Runs refund-recon through the single-node Slurm of .ci/slurm.sh with
# deploy/slurm/submit.sh, as a user would: the bundled sample and a
# generated set, each merged folder compared byte for byte with a run in
# one piece; then a set whose shard task fails, whose merge must not run.
#   .ci/slurm-jobs.sh BINARY
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "$1")"
scratch="$(mktemp -d)"
export REFUND_RECON="$bin" SBATCH_ARGS="--chdir=$scratch"

# Waits for a job to leave the queue; fails after 5 minutes.
wait_gone() {
  for _ in $(seq 1 300); do
    if [ -z "$(squeue -h -j "$1" 2>/dev/null)" ]; then return 0; fi
    sleep 1
  done
  echo "slurm job $1 did not finish" >&2
  squeue >&2
  exit 1
}

# Compares a merged folder with a run in one piece (summary.json without
# its timings, start and file list).
same() {
  for f in discrepancies.csv resolved.csv refunds.csv monthly_bill.csv quota_usage.csv rejects.csv report.html; do
    cmp "$1/$f" "$2/$f"
  done
  strip() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); [s.pop(k, None) for k in ("elapsed_seconds","started_at","files","shards")]; print(json.dumps(s, sort_keys=True))' "$1"; }
  test "$(strip "$1/summary.json")" = "$(strip "$2/summary.json")"
}

run_set() { # name shards input-options...
  local name="$1" shards="$2"
  shift 2
  "$bin" run --out "$scratch/$name-one" "$@" >/dev/null || [ $? -eq 1 ]
  read -r array merge < <(WORK="$scratch/$name-work" OUT="$scratch/$name-merged" SHARDS="$shards" \
    deploy/slurm/submit.sh "$@" | tail -1)
  wait_gone "$merge"
  test -s "$scratch/$name-merged/summary.json" || { cat "$scratch"/*.out >&2; exit 1; }
  same "$scratch/$name-one" "$scratch/$name-merged"
  echo "slurm: $name in $shards shards (array job $array, merge job $merge): the same reports as one run"
}

run_set sample 3 --data data --policy data/policy.toml
"$bin" generate --out "$scratch/gen" --orders 20000 --malformed-rate 0.01 --seed 5 >/dev/null
run_set generated 4 --data "$scratch/gen" --policy data/policy.toml
# The partition itself as Slurm jobs: 3 read tasks, the settle, 3 copies.
PARTS=3 run_set parts 4 --data "$scratch/gen" --policy "$PWD/data/policy.toml"

# A failed shard stops the merge: shard 1's rows are gone, its task exits 3,
# and the merge stays pending on a dependency that can never be met.
"$bin" partition --shards 3 --work "$scratch/bad-work" --data data --policy data/policy.toml >/dev/null
rm "$scratch/bad-work/shard-00001/orders.csv"
export WORK="$scratch/bad-work" OUT="$scratch/bad-merged"
array=$(sbatch --parsable --array=0-2 --chdir="$scratch" --export=ALL deploy/slurm/shard.sbatch)
merge=$(sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=no --chdir="$scratch" --export=ALL deploy/slurm/merge.sbatch)
wait_gone "$array"
# slurmctld marks the dependency failed at its next scheduling pass.
reason=""
for _ in $(seq 1 60); do
  reason="$(squeue -h -j "$merge" -o %r)"
  if [ "$reason" = "DependencyNeverSatisfied" ] || [ -z "$reason" ]; then break; fi
  sleep 1
done
scancel "$merge" 2>/dev/null || true
test "$reason" = "DependencyNeverSatisfied" || { echo "the merge after a failed shard: $reason" >&2; exit 1; }
test ! -e "$scratch/bad-merged"
echo "slurm: a failed shard left the merge unrun ($reason)"
rm -rf "$scratch"
