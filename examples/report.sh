#!/usr/bin/env bash
# Question: show me the comparison charts (speed, memory, context, price) as a web page.
# Needs a built gemmasim (bash scripts/main.sh builds it into build/); GEMMASIM=path overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
GEMMASIM="${GEMMASIM:-./build/gemmasim}"
"$GEMMASIM" report --out reports/out "$@"
echo "open reports/out/index.html"
