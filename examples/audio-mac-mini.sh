#!/usr/bin/env bash
# Question: I want speech input on a 16 GB Mac mini M4. Which variant handles audio there?
# Needs a built gemmasim (bash scripts/main.sh builds it into build/); GEMMASIM=path overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
GEMMASIM="${GEMMASIM:-./build/gemmasim}"
"$GEMMASIM" advise --hw mac-mini-m4-16gb --modality audio "$@"
