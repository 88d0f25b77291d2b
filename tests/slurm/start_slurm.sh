#!/usr/bin/env bash
# Start a single-node Slurm (munge + slurmctld + slurmd from Debian's packages) on this
# machine for the tests. Usage: start_slurm.sh DIR  -> writes DIR/slurm.conf, prints it.
# Installs the packages first when they are missing and we are root with apt-get.
set -euo pipefail
dir=${1:?usage: start_slurm.sh DIR}
mkdir -p "$dir/state" "$dir/spool"

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "SKIP: Slurm is not installed and cannot be (needs root and apt-get)"; exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq slurm-wlm munge >/dev/null 2>&1 || {
    apt-get update -qq >/dev/null 2>&1
    apt-get install -y -qq slurm-wlm munge >/dev/null
  }
fi

# munge: a key, its run dir, the daemon (once)
if [ ! -s /etc/munge/munge.key ]; then /usr/sbin/mungekey -c -f; fi
chown munge:munge /etc/munge/munge.key 2>/dev/null || true
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
if ! munge -n >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
  sleep 1
fi
munge -n | unmunge >/dev/null

host=$(hostname)
cpus=$(nproc)
cat > "$dir/slurm.conf" <<CONF
ClusterName=odahgentest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=26817
SlurmdPort=26818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MaxArraySize=100001
NodeName=$host CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$host Default=NO MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"
slurmctld -c
slurmd
for _ in $(seq 1 60); do
  if sinfo -h -o "%t" 2>/dev/null | grep -qE "idle|mix|alloc"; then echo "$dir/slurm.conf"; exit 0; fi
  sleep 0.5
done
echo "slurm did not come up:"; tail -5 "$dir/slurmctld.log" "$dir/slurmd.log"; exit 1
