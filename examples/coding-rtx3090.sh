#!/usr/bin/env bash
# Question: I have a used RTX 3090 box. What is the best Gemma 4 coding assistant it can serve?
# Needs a built gemmasim (bash scripts/main.sh builds it into build/); GEMMASIM=path overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
GEMMASIM="${GEMMASIM:-./build/gemmasim}"
"$GEMMASIM" advise --hw desktop-rtx3090-used --use-case coding "$@"
