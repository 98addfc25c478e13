#!/usr/bin/env bash
# Question: can a Raspberry Pi 5 (16 GB) run Gemma 4 as an on-device assistant?
# Needs a built gemmasim (bash scripts/main.sh builds it into build/); GEMMASIM=path overrides.
set -euo pipefail
cd "$(dirname "$0")/.."
GEMMASIM="${GEMMASIM:-./build/gemmasim}"
"$GEMMASIM" advise --hw rpi5-16gb-kit --use-case mobile "$@"
