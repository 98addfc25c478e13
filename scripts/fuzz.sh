#!/usr/bin/env bash
# libFuzzer over the loaders (fuzz/): builds the targets with clang, ASan and UBSan in
# build-fuzz/ and runs each on its seed corpus (fuzz/corpus/<target>/), new inputs kept in
# build-fuzz/corpus/<target>/. A crash, a sanitizer finding or an exception other than the
# loaders' InputError stops it with the reproducer's path (exit 1).
#   bash scripts/fuzz.sh           # each target 10 s (CI: scripts/test.sh --fuzz)
#   bash scripts/fuzz.sh 3600      # each target an hour: a campaign (docs/robustness.md)
set -euo pipefail
cd "$(dirname "$0")/.."
EACH_S="${1:-10}"
GEMMASIM_EXTRA_PKGS="clang libclang-rt-14-dev" bash scripts/setup.sh build-fuzz -DCMAKE_CXX_COMPILER=clang++ \
  -DGEMMASIM_FUZZ=ON -DGEMMASIM_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only"  # the usual fuzzing build: quick to compile, line numbers in reports
export ASAN_OPTIONS=detect_leaks=0
status=0
total=0
for t in build-fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  mkdir -p "build-fuzz/corpus/$name" "build-fuzz/crashes"
  log="build-fuzz/$name.log"
  # a dictionary of the keys and names its loader looks for (scripts/fuzz_dict.py)
  sources=$(awk -v t="$name" '$1 == t { $1 = ""; print }' scripts/fuzz-coverage.txt)
  dict=()
  if [ -n "$sources" ]; then
    python3 scripts/fuzz_dict.py "build-fuzz/$name.dict" $sources
    dict=(-dict="build-fuzz/$name.dict")
  fi
  if "$t" "${dict[@]}" -max_total_time="$EACH_S" -print_final_stats=1 -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
       -artifact_prefix="build-fuzz/crashes/$name-" "build-fuzz/corpus/$name" "fuzz/corpus/$name" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    echo "fuzz: $name: $runs runs in ${EACH_S} s, $cov edges, no crash"
    total=$((total + ${runs:-0}))
  else
    status=1
    echo "fuzz: $name: FAILED (log: $log; reproducer in build-fuzz/crashes/)" >&2
    grep -E "ERROR|SUMMARY|terminate|what\(\)" "$log" | head -5 >&2 || true
  fi
done
[ $status -eq 0 ] && echo "fuzz: $total runs in all, no crash"
exit $status
