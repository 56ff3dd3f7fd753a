#!/usr/bin/env bash
# Runs refund-recon over a Slurm cluster (docs/scale.md#slurm):
#   1. partition, here (it reads the exports once and writes the shards
#      into WORK, a folder every node sees);
#   2. one array job, a task per shard (shard.sbatch);
#   3. the merge (merge.sbatch), after the whole array succeeded.
# Prints the two job ids (array, merge).
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
"$bin" partition --shards "$SHARDS" --work "$WORK" "$@"
export REFUND_RECON="$bin" WORK OUT MERGE_ARGS="${MERGE_ARGS:-}"
# shellcheck disable=SC2086
array=$(sbatch --parsable --array=0-$((SHARDS - 1)) ${SBATCH_ARGS:-} --export=ALL "$here/shard.sbatch")
# shellcheck disable=SC2086
merge=$(sbatch --parsable --dependency=afterok:"$array" --kill-on-invalid-dep=no ${SBATCH_ARGS:-} --export=ALL "$here/merge.sbatch")
echo "$array $merge"
