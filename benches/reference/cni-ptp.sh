#!/usr/bin/env bash
# Per-VM reference for the bench: the CNI `ptp` plugin with `host-local`
# IPAM (Debian's containernetworking-plugins) adding and deleting one more
# container on a host that already holds COUNT, RUNS times.
# Usage: cni-ptp.sh COUNT RUNS SCRATCH   prints "add_ns del_ns" per run.
# Each container gets its own network namespace (ptp adds a gateway route
# inside it), persisted by a bind mount in a private mount namespace, so
# every namespace and mount is gone when this script exits.
set -euo pipefail
if [[ "${BX_ISOLATED:-}" != 1 ]]; then
  exec env BX_ISOLATED=1 unshare --net -- "$0" "$@"
fi
if [[ "${BX_PRIVATE_MOUNTS:-}" != 1 ]]; then
  exec env BX_PRIVATE_MOUNTS=1 unshare --mount --propagation private -- "$0" "$@"
fi
count=$1; runs=$2; scratch=$3
cni=/usr/lib/cni
mkdir -p "$scratch/ns" "$scratch/ipam"
mount -t tmpfs none "$scratch/ns"
conf="$scratch/ptp.json"
cat > "$conf" <<JSON
{"cniVersion":"0.4.0","name":"bench","type":"ptp","ipMasq":false,
 "ipam":{"type":"host-local","subnet":"10.200.0.0/16","dataDir":"$scratch/ipam"}}
JSON
plugin() { # COMMAND ID
  touch "$scratch/ns/$2" 2>/dev/null || true
  CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS="$scratch/ns/$2" CNI_IFNAME=eth0 \
    CNI_PATH=$cni "$cni/ptp" < "$conf" > /dev/null
}
for i in $(seq 1 "$count"); do
  touch "$scratch/ns/c$i"; unshare --net="$scratch/ns/c$i" true
  plugin ADD "c$i"
done
touch "$scratch/ns/probe"; unshare --net="$scratch/ns/probe" true
for _ in $(seq 1 "$runs"); do
  t0=$(date +%s%N); plugin ADD probe; t1=$(date +%s%N)
  plugin DEL probe; t2=$(date +%s%N)
  echo "$(( t1 - t0 )) $(( t2 - t1 ))"
done
