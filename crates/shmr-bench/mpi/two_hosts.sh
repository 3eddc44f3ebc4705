#!/usr/bin/env bash
# Two "machines" on one: two network namespaces joined by a veth pair, each
# a separate host to MPI (its own address; ranks talk over TCP between
# them, never through shared memory), and examples/distributed run across
# them with one rank on each, then the same job on one machine to compare.
# The two hosts share this machine's cores, so each rank gets one worker
# (each host believes it has all the cores; left alone, both would bind
# their rank to core 0) and the single-machine run two. Needs root,
# iproute2 and Open MPI; cleans up after itself. ARGS must not repeat
# --workers.
#
#   bash crates/shmr-bench/mpi/two_hosts.sh [-- ARGS for the example]
#
# How: mpirun runs in namespace shmr-a (10.77.0.1); for the other host
# (10.77.0.2) it starts its daemon through a launch agent (Open MPI's
# plm_rsh_agent, normally ssh) that here is `ip netns exec shmr-b`.
set -euo pipefail
cd "$(dirname "$0")/../../.."
[ "$(id -u)" = 0 ] || { echo "two_hosts.sh: needs root (network namespaces)" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "two_hosts.sh: no mpirun (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 1; }
[ "${1:-}" = "--" ] && shift
args=("$@")

cargo build --quiet --release --features mpi --example distributed
ex=$PWD/target/release/examples/distributed
work=$(mktemp -d)
cleanup() {
  ip netns del shmr-a 2>/dev/null || true
  ip netns del shmr-b 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cleanup; work=$(mktemp -d)

ip netns add shmr-a
ip netns add shmr-b
ip link add shmr-va type veth peer name shmr-vb
ip link set shmr-va netns shmr-a
ip link set shmr-vb netns shmr-b
ip -n shmr-a addr add 10.77.0.1/24 dev shmr-va
ip -n shmr-b addr add 10.77.0.2/24 dev shmr-vb
for ns in shmr-a shmr-b; do
  ip -n $ns link set lo up
done
ip -n shmr-a link set shmr-va up
ip -n shmr-b link set shmr-vb up

# The launch agent: called as `agent HOST COMMAND...`, as ssh would be.
cat > "$work/agent" <<'AGENT'
#!/bin/sh
host=$1; shift
case "$host" in
  10.77.0.2) exec ip netns exec shmr-b sh -c "$*" ;;
  *) exec sh -c "$*" ;;
esac
AGENT
chmod +x "$work/agent"
printf '10.77.0.1 slots=1\n10.77.0.2 slots=1\n' > "$work/hosts"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "== across two hosts (one rank each, TCP between them over the veth pair)"
ip netns exec shmr-a mpirun -np 2 --hostfile "$work/hosts" \
  --mca plm_rsh_agent "$work/agent" \
  --mca btl tcp,self --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
  --map-by node --bind-to none \
  "$ex" --ranks 2 --workers 1 "${args[@]}" | tee "$work/two.txt"
echo "== the same job on one machine, without MPI, 2 workers"
"$ex" --single --workers 2 "${args[@]}" | tee "$work/one.txt"
if grep -q '^words: ' "$work/one.txt"; then
  # A word count (--words FILE): the summary of the shards, and the top words.
  if [ "$(grep '^words: ' "$work/two.txt")" = "$(grep '^words: ' "$work/one.txt")" ]; then
    echo "two_hosts.sh: word count identical to the single-machine run"; exit 0
  fi
  echo "two_hosts.sh: word counts DIFFER"; exit 1
fi
a=$(grep -oE 'sum=0x[0-9a-f]+ count=[0-9]+ min=0x[0-9a-f]+ max=0x[0-9a-f]+' "$work/two.txt")
b=$(grep -oE 'sum=0x[0-9a-f]+ count=[0-9]+ min=0x[0-9a-f]+ max=0x[0-9a-f]+' "$work/one.txt")
ha=$(grep -oE 'histogram=.*' "$work/two.txt"); hb=$(grep -oE 'histogram=.*' "$work/one.txt")
if [ "$a" = "$b" ] && [ "$ha" = "$hb" ]; then
  echo "two_hosts.sh: sum, count, extremes and histogram identical to the single-machine run"
else
  echo "two_hosts.sh: answers DIFFER"; exit 1
fi
