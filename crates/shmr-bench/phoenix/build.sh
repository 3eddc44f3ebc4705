#!/usr/bin/env bash
# Builds Phoenix++ 1.0's numeric applications (kmeans, pca,
# matrix_multiply, linear_regression, histogram) with g++, for the
# harness's head-to-head (shmr-bench --phoenix DIR). Fetches nothing.
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
# - the tree ships a file named `lib` where the Makefiles expect a folder.
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
for app in kmeans pca matrix_multiply linear_regression histogram; do
  make -s -C "tests/$app" >/dev/null
  test -x "tests/$app/$app"
done
echo "Phoenix++ built in $out"
