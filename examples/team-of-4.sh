#!/usr/bin/env bash
# Question: four people share one box for chat. What does $2,000 buy for 4 concurrent users?
# Needs a built gemmasim (bash scripts/main.sh builds it into build/); GEMMASIM=path overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
GEMMASIM="${GEMMASIM:-./build/gemmasim}"
"$GEMMASIM" advise --budget 2000 --users 4 "$@"
