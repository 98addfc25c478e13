#!/usr/bin/env bash
# README command 2: set up, build, and run the whole test suite (ctest over doctest).
#   bash scripts/test.sh              # Release build in build/
#   bash scripts/test.sh --sanitize   # ASan + UBSan build in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--sanitize" ]; then
  bash scripts/setup.sh build-asan -DGEMMASIM_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
  ASAN_OPTIONS=detect_leaks=0 ctest --test-dir build-asan --output-on-failure -j"$(nproc)"
else
  bash scripts/setup.sh build
  ctest --test-dir build --output-on-failure -j"$(nproc)"
fi
