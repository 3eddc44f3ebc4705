#!/usr/bin/env bash
# What the exchange between ranks costs as the ranks grow, in bytes: a
# word count shuffled by word (examples/distributed --words, with the old
# all-gather of whole tables run beside it to compare) and a job whose
# result is 1,000,000 f64 (8 MB, pca-sized) reduced up the tree, at each
# number of ranks given (oversubscribed: this is about bytes, not time).
# Prints two Markdown tables: per P, the largest and mean bytes a rank
# received, messages, exchange time, peak private memory per rank; and
# checks every P's answer against the single machine's. Needs Open MPI.
#
#   bash crates/shmr-bench/mpi/exchange.sh [RANKS...]    (default 2 4 8 16)
#
# TEXT_BYTES and VOCAB set the generated text (default 200 MB of a
# 1,000,000-word Zipf vocabulary: about 1.3 million distinct words).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ranks=("$@"); [ ${#ranks[@]} -gt 0 ] || ranks=(2 4 8 16)
command -v mpirun >/dev/null || { echo "exchange.sh: no mpirun (apt-get install openmpi-bin libopenmpi-dev)" >&2; exit 1; }
cargo build --quiet --release --features mpi --example distributed
ex=$PWD/target/release/examples/distributed
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$ex" --write-text "$work/text" --len "${TEXT_BYTES:-200000000}" --vocab "${VOCAB:-1000000}"
"$ex" --single --words "$work/text" > "$work/words.single"
"$ex" --single --len 16000000 --wide 1000000 > "$work/wide.single"

# max and mean of FIELD over the "traffic: KIND" lines of FILE
stat() {
  grep "^traffic: $2 " "$1" | sed -E "s/.* $3=([0-9.]+).*/\1/" |
    awk '{ s += $1; if ($1 > m) m = $1 } END { printf "%s %s\n", m, s / NR }'
}
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }
same() { [ "$(grep "^$2" "$1")" = "$(grep "^$2" "$3")" ] && echo yes || echo NO; }

echo "Word count, $(grep -o 'distinct=[0-9]*' "$work/words.single") words:"
echo
echo "| ranks | shuffle: received per rank, max / mean | messages per rank | exchange, max | peak memory per rank | gather to rank 0: received | all-gather: received per rank | all-gather: exchange / merge, max | same answer |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for p in "${ranks[@]}"; do
  out="$work/words.$p"
  mpirun -np "$p" "$ex" --words "$work/text" --gather --all-gather > "$out"
  read -r rmax rmean < <(stat "$out" shuffle received_bytes)
  read -r msgs _ < <(stat "$out" shuffle received_messages)
  read -r tmax _ < <(stat "$out" shuffle exchange_ms)
  read -r peak _ < <(stat "$out" shuffle peak_mb)
  g=$(grep "^traffic: gather rank=0 " "$out" | sed -E 's/.* received_bytes=([0-9]+).*/\1/')
  read -r amax _ < <(stat "$out" all-gather received_bytes)
  read -r atmax _ < <(stat "$out" all-gather exchange_ms)
  read -r mmax _ < <(stat "$out" all-gather merge_ms)
  ok=$(same "$out" "words:" "$work/words.single")
  grep -q "gathered: same" "$out" || ok=NO
  printf "| %s | %s / %s MB | %s | %.1f ms | %.0f MB | %s MB | %s MB | %.1f / %.0f ms | %s |\n" \
    "$p" "$(mb "$rmax")" "$(mb "$rmean")" "$msgs" "$tmax" "$peak" "$(mb "$g")" "$(mb "$amax")" "$atmax" "$mmax" "$ok"
done
echo
echo "A result of 1,000,000 f64 (8 MB) up the tree:"
echo
echo "| ranks | received per rank, max / mean | messages per rank, max | exchange, max | all-gather would receive per rank | same answer |"
echo "|---:|---:|---:|---:|---:|---|"
for p in "${ranks[@]}"; do
  out="$work/wide.$p"
  mpirun -np "$p" "$ex" --len 16000000 --wide 1000000 > "$out"
  read -r rmax rmean < <(stat "$out" wide received_bytes)
  read -r msgs _ < <(stat "$out" wide received_messages)
  read -r tmax _ < <(stat "$out" wide exchange_ms)
  one=$(grep "^traffic: wide rank=$((p - 1)) " "$out" | sed -E 's/.* sent_bytes=([0-9]+).*/\1/')
  printf "| %s | %s / %s MB | %s | %.1f ms | %s MB | %s |\n" \
    "$p" "$(mb "$rmax")" "$(mb "$rmean")" "$msgs" "$tmax" "$(mb $((one * (p - 1))))" \
    "$(same "$out" "wide:" "$work/wide.single")"
done
