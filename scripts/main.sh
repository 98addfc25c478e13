#!/usr/bin/env bash
# README command 1: set up, build, and run the main job on the bundled data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
./build/gemmasim
