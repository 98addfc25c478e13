#!/usr/bin/env bash
# README command 1: set up, build, and run the main job on the bundled data:
# the advisor (which Gemma 4 variant, quantization and split for a $2,000 budget,
# chat use case) and the HTML report with the comparison charts.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh build
./build/gemmasim advise
./build/gemmasim report --out reports/out
echo "Report: reports/out/index.html (charts: reports/out/*.png and *.svg, data *.csv, gnuplot scripts *.gp;" \
     "advisor answer: reports/out/advise.html and advise.json)"
