#!/usr/bin/env bash
# Question: I own a budget PC with a GTX 1650 (4 GB). What can it run, with which split, and how fast?
# Needs a built gemmasim (bash scripts/main.sh builds it into build/); GEMMASIM=path overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
GEMMASIM="${GEMMASIM:-./build/gemmasim}"
"$GEMMASIM" advise --hw budget-pc-gtx1650 "$@"
