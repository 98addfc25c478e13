#!/usr/bin/env bash
# Question: which machine under $2,000 reads 32K-token documents with a 128K context?
# Needs a built gemmasim (bash scripts/main.sh builds it into build/); GEMMASIM=path overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
GEMMASIM="${GEMMASIM:-./build/gemmasim}"
"$GEMMASIM" advise --budget 2000 --use-case documents "$@"
