#!/usr/bin/env bash
# README command 2: set up, build, and run the whole test suite (ctest over doctest, and the
# web page's tests).
#   bash scripts/test.sh              # Release build in build/
#   bash scripts/test.sh --sanitize   # ASan + UBSan build in build-asan/
#   bash scripts/test.sh --fuzz       # the libFuzzer targets, 10 s each (build-fuzz/)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fuzz" ]; then
  bash scripts/fuzz.sh 10  # each libFuzzer target 10 s on its seed corpus (clang, ASan + UBSan)
elif [ "${1:-}" = "--sanitize" ]; then
  # -O1 -g1: what the sanitizers' authors recommend (line tables for the reports, no full debug
  # info: the build takes about half the time of -O2 -g)
  bash scripts/setup.sh build-asan -DGEMMASIM_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
  ASAN_OPTIONS=detect_leaks=0 ctest --test-dir build-asan --output-on-failure -j"$(nproc)"
else
  bash scripts/setup.sh build
  bash scripts/web.sh  # the web page, for its tests (the same JSON as the CLI; headless Chromium)
  ctest --test-dir build --output-on-failure -j"$(nproc)"
fi
