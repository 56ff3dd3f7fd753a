#!/usr/bin/env bash
# A single-node Slurm on this machine for CI (docs/scale.md#slurm):
#   .ci/slurm.sh start   munged, slurmctld and slurmd, with a minimal
#                        slurm.conf on localhost; waits until the node is idle
#   .ci/slurm.sh stop    stops them by pid
# Needs root (or sudo) and Debian's slurmctld, slurmd, slurm-client, munge.
set -euo pipefail
as_root=""
if [ "$(id -u)" -ne 0 ]; then as_root="sudo"; fi
state=/tmp/refund-recon-slurm

start() {
  $as_root mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge "$state/ctld" "$state/d"
  if [ ! -s /etc/munge/munge.key ]; then
    $as_root dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  $as_root chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
  $as_root chmod 0700 /etc/munge /var/lib/munge /var/log/munge
  $as_root chmod 0755 /run/munge
  $as_root chmod 0400 /etc/munge/munge.key
  if pgrep -x munged >/dev/null; then
    : # already running (a package's service)
  elif [ -z "$as_root" ]; then
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  else
    sudo -u munge /usr/sbin/munged --pid-file=/run/munge/munged.pid
  fi
  local host cpus mem
  host="$(hostname -s)"
  cpus="$(nproc)"
  mem="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"
  $as_root mkdir -p /etc/slurm
  $as_root tee /etc/slurm/slurm.conf >/dev/null <<CONF
ClusterName=refund-recon-ci
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  $as_root /usr/sbin/slurmctld
  $as_root /usr/sbin/slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o %t 2>/dev/null | grep -q idle; then
      sinfo
      return 0
    fi
    sleep 1
  done
  echo "slurm did not come up; its logs:" >&2
  $as_root cat "$state/slurmctld.log" "$state/slurmd.log" >&2 || true
  exit 1
}

stop() {
  for pid in "$state/slurmd.pid" "$state/slurmctld.pid" /run/munge/munged.pid; do
    if [ -s "$pid" ]; then $as_root kill "$(cat "$pid")" 2>/dev/null || true; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
