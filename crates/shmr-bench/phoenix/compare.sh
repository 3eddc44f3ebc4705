#!/usr/bin/env bash
# Phoenix++ against shmr, head to head: runs Phoenix++ 1.0's numeric
# applications (built by build.sh) and shmr's examples on the same inputs,
# Phoenix++ with 1 and 2 threads, shmr with 1 and 2 workers, and prints a
# Markdown table of times and of whether the answers agree. Fetches nothing.
#
#   bash crates/shmr-bench/phoenix/compare.sh PHOENIX_OUT [--quick]
#
# Times: Phoenix++'s `library` (its MapReduce proper, summed over kmeans'
# iterations); shmr's warm median (kmeans: the whole loop); the same
# computation on a rayon pool of 2 threads and the sequential loop, both of
# which each example runs to check itself. Inputs: Phoenix++'s own generators
# (glibc rand(), unseeded) for kmeans and pca, matrix files written the
# same way, a file of byte pairs below 128 for linear_regression.
set -euo pipefail

phx=$(cd "${1:?usage: compare.sh PHOENIX_OUT [--quick]}" && pwd)
quick=${2:-}
for app in kmeans pca matrix_multiply linear_regression word_count string_match_counted; do
  [ -x "$phx/tests/$app/$app" ] || { echo "compare.sh: no $phx/tests/$app/$app; run build.sh first" >&2; exit 1; }
done
cd "$(dirname "$0")/../../.."
cargo build --quiet --release --example kmeans --example pca --example matrix_multiply --example linear_regression \
  --example word_count --example string_match
ex=$PWD/target/release/examples
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$quick" = --quick ]; then
  points=20000000 kpts=20000 pr=300 pc=400 mm=500 text=20000000
else
  points=500000000 kpts=100000 pr=1000 pc=1000 mm=2000 text=500000000
fi

# Milliseconds from Phoenix++'s "library : 1.234" (seconds).
phx_ms() { grep -E '^library :' | tail -1 | awk '{printf "%.0f", $3 * 1000}'; }
# Milliseconds from a Rust Duration after LABEL ("775.40ms", "1.34s", "980.1µs").
shmr_ms() {
  grep -E "$1" | head -1 | sed -E 's/^[^:]*: *([0-9.]+)(µs|ms|s).*/\1 \2/' |
    awk '{ v = $1; if ($2 == "s") v *= 1000; if ($2 == "µs") v /= 1000; printf "%.0f", v }'
}

echo "| application | input | Phoenix++ 1 thread | Phoenix++ 2 threads | shmr 1 worker | shmr 2 workers | rayon 2 threads | loop | answers |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---|"

# linear_regression: one file, both read it.
"$ex/linear_regression" --points "$points" --file "$work/lr.bin" --workers 1 > "$work/lr1.txt"
"$ex/linear_regression" --file "$work/lr.bin" --workers 2 > "$work/lr2.txt"
for t in 1 2; do MAPRED_NPROCESSORS=$t "$phx/tests/linear_regression/linear_regression" "$work/lr.bin" > "$work/plr$t.txt" 2>&1; done
ours=$(grep -oE 'SX = [0-9]+, SY = [0-9]+, SXX = [0-9]+, SYY = [0-9]+, SXY = [0-9]+' "$work/lr2.txt" | tr -dc '0-9,')
theirs=$(for k in SX SY SXX SYY SXY; do grep -E "^\s$k +=" "$work/plr2.txt" | awk '{print $3}'; done | paste -sd, -)
same=$([ "$ours" = "$theirs" ] && echo "five sums identical" || echo "DIFFERENT ($ours vs $theirs)")
echo "| linear_regression | $points points | $(phx_ms < "$work/plr1.txt") ms | $(phx_ms < "$work/plr2.txt") ms | $(shmr_ms 'shmr, 1 workers' < "$work/lr1.txt") ms | $(shmr_ms 'shmr, 2 workers' < "$work/lr2.txt") ms | $(shmr_ms 'rayon, 2 threads' < "$work/lr2.txt") ms | $(shmr_ms 'sequential loop' < "$work/lr2.txt") ms | $same |"

# kmeans: each generates the same input.
kargs=(-d 3 -c 100 -p "$kpts" -s 1000)
for w in 1 2; do "$ex/kmeans" "${kargs[@]}" --workers $w --means > "$work/km$w.txt"; done
for t in 1 2; do MAPRED_NPROCESSORS=$t "$phx/tests/kmeans/kmeans" "${kargs[@]}" > "$work/pkm$t.txt" 2>&1; done
sed -n '/Final means/,$p' "$work/km2.txt" | sed 's/ *$//' > "$work/km_ours"
sed -n '/Final means/,/^finalize/p' "$work/pkm2.txt" | grep -v '^finalize' | sed 's/ *$//' > "$work/km_theirs"
its=$(grep -c 'map avg user time' "$work/pkm2.txt" || true)
ours_its=$(grep -oE '\(([0-9]+) iterations: until no mean' "$work/km2.txt" | grep -oE '[0-9]+')
same=$(cmp -s "$work/km_ours" "$work/km_theirs" && echo "final means identical ($ours_its / $its iterations)" || echo DIFFERENT)
echo "| kmeans | ${kargs[*]} | $(phx_ms < "$work/pkm1.txt") ms | $(phx_ms < "$work/pkm2.txt") ms | $(shmr_ms 'shmr, 1 workers' < "$work/km1.txt") ms | $(shmr_ms 'shmr, 2 workers' < "$work/km2.txt") ms | $(shmr_ms 'rayon, 2 threads' < "$work/km2.txt") ms | $(shmr_ms 'sequential loop' < "$work/km2.txt") ms | $same |"

# pca
pargs=(-r "$pr" -c "$pc" -s 100)
for w in 1 2; do "$ex/pca" "${pargs[@]}" --workers $w > "$work/pca$w.txt"; done
for t in 1 2; do MAPRED_NPROCESSORS=$t "$phx/tests/pca/pca" "${pargs[@]}" > "$work/ppca$t.txt" 2>&1; done
ours=$(grep -oE 'covariance sum *: -?[0-9]+' "$work/pca2.txt" | grep -oE -- '-?[0-9]+$')
theirs=$(grep -oE 'Covariance sum: -?[0-9]+' "$work/ppca2.txt" | grep -oE -- '-?[0-9]+$')
same=$([ "$ours" = "$theirs" ] && echo "covariance sum identical ($ours)" || echo "DIFFERENT ($ours vs $theirs)")
echo "| pca | ${pargs[*]} | $(phx_ms < "$work/ppca1.txt") ms | $(phx_ms < "$work/ppca2.txt") ms | $(shmr_ms 'shmr, 1 workers' < "$work/pca1.txt") ms | $(shmr_ms 'shmr, 2 workers' < "$work/pca2.txt") ms | $(shmr_ms 'rayon, 2 threads' < "$work/pca2.txt") ms | $(shmr_ms 'sequential loop' < "$work/pca2.txt") ms | $same |"

# matrix_multiply: shmr writes the files, Phoenix++ reads them from its
# working directory (the `1` keeps it from writing new ones).
for w in 1 2; do "$ex/matrix_multiply" "$mm" --dir "$work" --keep --workers $w > "$work/mm$w.txt"; done
for t in 1 2; do (cd "$work" && MAPRED_NPROCESSORS=$t "$phx/tests/matrix_multiply/matrix_multiply" "$mm" 1 > "$work/pmm$t.txt" 2>&1); done
ours=$(grep -oE 'total sum *: -?[0-9]+' "$work/mm2.txt" | grep -oE -- '-?[0-9]+$')
theirs=$(grep -oE 'total sum is -?[0-9]+' "$work/pmm2.txt" | grep -oE -- '-?[0-9]+$')
same=$([ "$ours" = "$theirs" ] && echo "total sum identical ($ours)" || echo "DIFFERENT ($ours vs $theirs)")
echo "| matrix_multiply | $mm x $mm | $(phx_ms < "$work/pmm1.txt") ms | $(phx_ms < "$work/pmm2.txt") ms | $(shmr_ms 'shmr, 1 workers' < "$work/mm1.txt") ms | $(shmr_ms 'shmr, 2 workers' < "$work/mm2.txt") ms | $(shmr_ms 'rayon, 2 threads' < "$work/mm2.txt") ms | $(shmr_ms 'sequential loop' < "$work/mm2.txt") ms | $same |"

# word_count: shmr writes the generated text, Phoenix++ reads the file;
# the top 10 (Phoenix++'s order: count down, then word up), the total and
# the number of distinct words compared.
"$ex/word_count" --bytes "$text" --write "$work/words.txt" --workers 1 > "$work/wc1.txt"
"$ex/word_count" "$work/words.txt" --workers 2 > "$work/wc2.txt"
for t in 1 2; do MAPRED_NPROCESSORS=$t "$phx/tests/word_count/word_count" "$work/words.txt" 10 > "$work/pwc$t.txt" 2>&1; done
ours="$(grep -oE '^ +[0-9]+\. [A-Z'"'"']+ +[0-9]+$' "$work/wc2.txt" | awk '{print $2"="$3}' | paste -sd, -);$(grep -oE 'words *: [0-9]+ \([0-9]+' "$work/wc2.txt" | grep -oE '[0-9]+' | paste -sd/ -)"
theirs="$(grep -E '^ *[A-Z'"'"']+ - [0-9]+$' "$work/pwc2.txt" | awk '{print $1"="$3}' | paste -sd, -);$(grep -oE '^Total: [0-9]+' "$work/pwc2.txt" | grep -oE '[0-9]+')/$(grep -oE 'TOP [0-9]+ of [0-9]+' "$work/pwc2.txt" | awk '{print $4}')"
same=$([ "$ours" = "$theirs" ] && echo "top 10, total and distinct words identical (${ours#*;})" || echo "DIFFERENT ($ours vs $theirs)")
echo "| word_count | $text bytes of Zipf text | $(phx_ms < "$work/pwc1.txt") ms | $(phx_ms < "$work/pwc2.txt") ms | $(shmr_ms 'shmr, 1 workers' < "$work/wc1.txt") ms | $(shmr_ms 'shmr, 2 workers' < "$work/wc2.txt") ms | $(shmr_ms 'rayon, 2 threads' < "$work/wc2.txt") ms | $(shmr_ms 'sequential loop' < "$work/wc2.txt") ms | $same |"

# string_match: Phoenix++'s program as shipped does no work; the counted
# variant build.sh makes is the one compared (and the shipped one shown).
"$ex/string_match" --bytes "$text" --write "$work/keys.txt" --workers 1 > "$work/sm1.txt"
"$ex/string_match" "$work/keys.txt" --workers 2 > "$work/sm2.txt"
for t in 1 2; do MAPRED_NPROCESSORS=$t "$phx/tests/string_match_counted/string_match_counted" "$work/keys.txt" > "$work/psm$t.txt" 2>&1; done
MAPRED_NPROCESSORS=2 "$phx/tests/string_match/string_match" "$work/keys.txt" > "$work/psm_shipped.txt" 2>&1
ours=$(grep -E '^  (Helloworld|howareyou|ferrari|whotheman) +: [0-9]+$' "$work/sm2.txt" | awk '{print $3}' | paste -sd, -)
theirs=$(grep -oE '^key [1-4]: [0-9]+' "$work/psm2.txt" | sort | awk '{print $3}' | paste -sd, -)
same=$([ "$ours" = "$theirs" ] && echo "matches per key identical ($ours); shipped program: $(phx_ms < "$work/psm_shipped.txt") ms, no work" || echo "DIFFERENT ($ours vs $theirs)")
echo "| string_match (counted) | $text bytes of words | $(phx_ms < "$work/psm1.txt") ms | $(phx_ms < "$work/psm2.txt") ms | $(shmr_ms 'shmr, 1 workers' < "$work/sm1.txt") ms | $(shmr_ms 'shmr, 2 workers' < "$work/sm2.txt") ms | $(shmr_ms 'rayon, 2 threads' < "$work/sm2.txt") ms | $(shmr_ms 'sequential loop' < "$work/sm2.txt") ms | $same |"
