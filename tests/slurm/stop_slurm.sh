#!/usr/bin/env bash
# Stop the test Slurm started by start_slurm.sh DIR.
dir=${1:?usage: stop_slurm.sh DIR}
for pid in "$dir/slurmd.pid" "$dir/slurmctld.pid"; do
  [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null
done
exit 0
