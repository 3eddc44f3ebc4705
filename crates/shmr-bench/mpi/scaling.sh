#!/usr/bin/env bash
# shmr across MPI ranks on this machine against shmr on one machine:
# examples/distributed (1 GiB of f64 by default) under `mpirun -np 1, 2, 4`
# and with --single (2 workers, no MPI), runs alternated ROUNDS times (the
# machine is noisy: medians of runs made side by side), printing a
# Markdown table of median job times, their ratio to the single-machine
# run, the exchange between ranks and MPI_Init. Needs Open MPI.
#
#   bash crates/shmr-bench/mpi/scaling.sh [ROUNDS] [-- ARGS for the example]
set -euo pipefail
cd "$(dirname "$0")/../../.."
rounds=${1:-3}; shift || true
[ "${1:-}" = "--" ] && shift
args=("$@")
command -v mpirun >/dev/null || { echo "scaling.sh: no mpirun (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 1; }
cargo build --quiet --release --features mpi --example distributed
ex=$PWD/target/release/examples/distributed
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for r in $(seq "$rounds"); do
  "$ex" --single "${args[@]}" > "$work/single.$r"
  for np in 1 2 4; do mpirun -np $np "$ex" --ranks $np "${args[@]}" > "$work/np$np.$r"; done
done

# Milliseconds of LABEL's line in FILE ("12.3ms", "1.2s", "950.1µs", "870ns").
ms() {
  grep -E "$1" "$2" | head -1 | sed -E "s/.*$1[^0-9]*([0-9.]+)(ns|µs|ms|s).*/\1 \2/" |
    awk '{ v = $1; if ($2 == "s") v *= 1000; if ($2 == "µs") v /= 1000; if ($2 == "ns") v /= 1e6; print v }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
med() { for r in $(seq "$rounds"); do ms "$1" "$work/$2.$r"; done | median; }

echo "| run | sum | stats | histogram | sum vs single | stats vs single | exchange | MPI_Init |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
s_sum=$(med "sum +:" single); s_st=$(med "stats +:" single); s_h=$(med "histogram :" single)
printf "| one machine, 2 workers | %.1f ms | %.1f ms | %.1f ms | 1.00 | 1.00 | - | - |\n" "$s_sum" "$s_st" "$s_h"
for np in 1 2 4; do
  sum=$(med "sum +:" np$np); st=$(med "stats +:" np$np); h=$(med "histogram :" np$np)
  x=$(med "last job\\):" np$np); init=$(med "MPI_Init" np$np)
  printf "| mpirun -np %d | %.1f ms | %.1f ms | %.1f ms | %.2f | %.2f | %.3f ms | %.0f ms |\n" \
    "$np" "$sum" "$st" "$h" "$(awk "BEGIN { print $sum / $s_sum }")" "$(awk "BEGIN { print $st / $s_st }")" "$x" "$init"
done
echo
echo "Medians of $rounds alternated runs; each job a median of the example's repetitions, warm."
