#!/bin/bash
# Submit the three chained phases of a planned dataset by hand (what `odahgen run DATASET
# --executor slurm --no-wait` does for you). Usage: jobs/submit_all.sh DATASET [CONCURRENCY]
set -euo pipefail
DATASET=$(realpath "${1:?usage: submit_all.sh DATASET [CONCURRENCY]}")
C=${2:-64}
N=$(wc -l < "$DATASET/jobs/_trials.txt")
here=$(dirname "$0")
cpu=$(sbatch --parsable --array=0-$((N-1))%$C --export=ALL,DATASET="$DATASET" "$here/odahgen_cpu.sbatch")
gpu=$(sbatch --parsable --array=0-$((N-1))%$C --dependency=aftercorr:$cpu --export=ALL,DATASET="$DATASET" "$here/odahgen_gpu.sbatch")
post=$(sbatch --parsable --array=0-$((N-1))%$C --dependency=aftercorr:$gpu --export=ALL,DATASET="$DATASET" "$here/odahgen_post.sbatch")
echo "submitted $N trials: cpu $cpu -> gpu $gpu -> post $post; watch with: odahgen status $DATASET"
