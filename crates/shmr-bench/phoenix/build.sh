#!/usr/bin/env bash
# Builds Phoenix++ 1.0's applications (kmeans, pca, matrix_multiply,
# linear_regression, histogram, word_count, string_match) with g++, for
# the harness's head-to-head (shmr-bench --phoenix DIR). Fetches nothing.
#
#   bash crates/shmr-bench/phoenix/build.sh SRC [OUT]
#
# SRC is the phoenix++-1.0 folder of Phoenix++'s public source:
#   git clone https://github.com/kozyraki/phoenix && SRC=phoenix/phoenix++-1.0
# OUT (default target/phoenix) receives a patched copy and the binaries,
# OUT/tests/APP/APP. The source itself is not modified.
#
# The patches, each needed to build or to measure (see docs/benchmarks.md):
# - TIMING defined in include/stddefines.h, so that each program prints its
#   `library` time (the MapReduce proper), which the harness reads;
# - -fpermissive -w added to CFLAGS: the 2011 code does not build with a
#   modern g++ otherwise;
# - the tree ships a file named `lib` where the Makefiles expect a folder;
# - string_match as shipped does no work (`if (!strcmp(...));` with a no-op
#   body, which -O3 removes with the loop around it), so a second program,
#   tests/string_match_counted/string_match_counted, is built with the stray
#   `;` gone, each match emitted into a sum container and the counts
#   printed: the work the program was meant to do, to compare with.
set -euo pipefail

src=${1:?usage: build.sh PHOENIX++-1.0-SOURCE [OUT]}
out=${2:-target/phoenix}
for tool in g++ make; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing (apt-get install g++ make)" >&2; exit 1; }
done
[ -f "$src/include/map_reduce.h" ] || { echo "build.sh: $src is not a phoenix++-1.0 folder" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
cp -r "$src"/. "$out"/
cd "$out"
sed -i 's|^//#define TIMING|#define TIMING|' include/stddefines.h
grep -q '^#define TIMING' include/stddefines.h
sed -i 's|^\(CFLAGS = .*\)$|\1 -fpermissive -w|' Defines.mk
rm -rf lib
mkdir lib
make -s -C src >/dev/null
cp -r tests/string_match tests/string_match_counted
(
  cd tests/string_match_counted
  mv string_match.cpp string_match_counted.cpp
  sed -i 's/string_match/string_match_counted/g; s/STR_MATCH_OBJS/STR_MATCH_COUNTED_OBJS/g' Makefile
  perl -0pi -e '
    s/MapReduce<MatchMR, str_map_data_t, int, int>/MapReduce<MatchMR, str_map_data_t, int, int, hash_container<int, int, sum_combiner> >/;
    s/if\(!strcmp\(key(\d)_final, cur_word_final\)\);/if(!strcmp(key$1_final, cur_word_final)) emit_intermediate(out, $1, 1);/g;
    s/(print_time\("library", begin, end\);)/$1\n    for (size_t i = 0; i < out.size(); i++) printf("key %d: %d matches\\n", out[i].key, out[i].val);/;
  ' string_match_counted.cpp
  [ "$(grep -c 'emit_intermediate(out, [1-4], 1)' string_match_counted.cpp)" = 4 ] || {
    echo "build.sh: string_match.cpp is not the one this patch knows" >&2; exit 1; }
)
for app in kmeans pca matrix_multiply linear_regression histogram word_count string_match string_match_counted; do
  make -s -C "tests/$app" >/dev/null
  test -x "tests/$app/$app"
done
echo "Phoenix++ built in $out"
