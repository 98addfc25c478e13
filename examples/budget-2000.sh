#!/usr/bin/env bash
# Question: I have $2,000. Which Gemma 4 variant, quantization and machine should I buy, and how fast is it?
# Needs a built gemmasim (bash scripts/main.sh builds it into build/); GEMMASIM=path overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
GEMMASIM="${GEMMASIM:-./build/gemmasim}"
"$GEMMASIM" advise --budget 2000 --out reports/out/budget-2000 "$@"
