#!/usr/bin/env bash
# How much of each loader a fuzz corpus reaches: builds the fuzz targets with clang's
# source-based coverage (no sanitizers) in build-fuzzcov/, replays every input of the seed
# corpus (fuzz/corpus/<target>/) and of the last campaign (build-fuzz/corpus/<target>/) once,
# and prints, per target, the branch and region coverage of every function of the files that
# target parses (scripts/fuzz-coverage.txt lists them). Exit 1 when a listed function stays
# below the floor (default 80% of its branches; regions where it has no branch); functions that
# parse nothing of the input (file I/O, lookups in the bundled data) are listed with the reason
# in scripts/fuzz-coverage-exempt.txt and not judged.
#   bash scripts/fuzz.sh 3600 && bash scripts/fuzz-coverage.sh      # a campaign, then its coverage
#   bash scripts/fuzz-coverage.sh --floor 0                          # print only
set -euo pipefail
cd "$(dirname "$0")/.."
FLOOR=80
[ "${1:-}" = "--floor" ] && FLOOR="$2"
GEMMASIM_EXTRA_PKGS="clang libclang-rt-14-dev llvm" bash scripts/setup.sh build-fuzzcov -DCMAKE_CXX_COMPILER=clang++ \
  -DGEMMASIM_FUZZ=ON -DGEMMASIM_FUZZ_COVERAGE=ON -DGEMMASIM_TESTS=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1"
PROFDATA=$(command -v llvm-profdata || command -v llvm-profdata-14)
COV=$(command -v llvm-cov || command -v llvm-cov-14)
out=build-fuzzcov/coverage
rm -rf "$out" && mkdir -p "$out"
status=0
while read -r target files; do
  case "$target" in ''|'#'*) continue ;; esac
  bin="build-fuzzcov/$target"
  [ -x "$bin" ] || { echo "fuzz-coverage: $bin missing" >&2; exit 1; }
  dirs="fuzz/corpus/$target"
  [ -d "build-fuzz/corpus/$target" ] && dirs="$dirs build-fuzz/corpus/$target"
  n=$(find $dirs -type f | wc -l)
  LLVM_PROFILE_FILE="$out/$target.profraw" "$bin" -runs=0 -max_len=65536 -timeout=10 $dirs >"$out/$target.log" 2>&1 || {
    echo "fuzz-coverage: $target failed replaying its corpus (log: $out/$target.log)" >&2; exit 1; }
  "$PROFDATA" merge -sparse "$out/$target.profraw" -o "$out/$target.profdata"
  # one function a line: name, then regions/missed/% lines/missed/% branches/missed/%
  "$COV" report "$bin" -instr-profile="$out/$target.profdata" -show-functions -show-branch-summary \
    -Xdemangler=c++filt $files >"$out/$target.txt"
  if ! python3 scripts/fuzz_coverage_table.py "$target" "$n" "$FLOOR" scripts/fuzz-coverage-exempt.txt <"$out/$target.txt"; then
    status=1
  fi
done <scripts/fuzz-coverage.txt
exit $status
