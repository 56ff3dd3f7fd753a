#!/usr/bin/env bash
# Runs refund-recon over a Slurm cluster (docs/scale.md#slurm):
#   1. partition, here (it reads the exports once and writes the shards
#      into WORK, a folder every node sees) — or, with PARTS=M, as jobs:
#      M read tasks (part.sbatch, STEP=read), the settle (settle.sbatch),
#      M copy tasks (part.sbatch, STEP=copy), each after the one before;
#   2. one array job, a task per shard (shard.sbatch);
#   3. the merge (merge.sbatch), after the whole array succeeded.
# Prints the two job ids (array, merge) on its last line.
#
#   WORK=/shared/work OUT=/shared/reports SHARDS=16 \
#     deploy/slurm/submit.sh --data /shared/exports/2026-03 --policy ten-a-year
#
# The arguments are partition's input options. REFUND_RECON names the
# binary (default: refund-recon on PATH); SBATCH_ARGS are added to both
# sbatch calls (partition, account, time limits); MERGE_ARGS to merge
# (e.g. --fail-on error).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${REFUND_RECON:-refund-recon}"
: "${WORK:?set WORK to a shared work folder}" "${OUT:?set OUT to the reports folder}" "${SHARDS:?set SHARDS}"
export REFUND_RECON="$bin" WORK OUT SHARDS MERGE_ARGS="${MERGE_ARGS:-}"
after=()
if [ "${PARTS:-0}" -gt 0 ]; then
  export PARTS
  # shellcheck disable=SC2086
  read_job=$(sbatch --parsable --array=0-$((PARTS - 1)) ${SBATCH_ARGS:-} --export=ALL,STEP=read "$here/part.sbatch" "$@")
  # shellcheck disable=SC2086
  settle=$(sbatch --parsable --dependency=afterok:"$read_job" --kill-on-invalid-dep=no ${SBATCH_ARGS:-} --export=ALL "$here/settle.sbatch" "$@")
  # shellcheck disable=SC2086
  copy=$(sbatch --parsable --array=0-$((PARTS - 1)) --dependency=afterok:"$settle" --kill-on-invalid-dep=no ${SBATCH_ARGS:-} --export=ALL,STEP=copy "$here/part.sbatch")
  echo "parts: read $read_job, settle $settle, copy $copy"
  after=(--dependency=afterok:"$copy" --kill-on-invalid-dep=no)
else
  "$bin" partition --shards "$SHARDS" --work "$WORK" "$@"
fi
# shellcheck disable=SC2086
array=$(sbatch --parsable --array=0-$((SHARDS - 1)) "${after[@]}" ${SBATCH_ARGS:-} --export=ALL "$here/shard.sbatch")
# shellcheck disable=SC2086
merge=$(sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=no ${SBATCH_ARGS:-} --export=ALL "$here/merge.sbatch")
echo "$array $merge"
