#!/usr/bin/env bash
# Builds the web page: the estimator compiled to WebAssembly (Emscripten) with the bundled data,
# and the static page, into build-web/site/. Serve it with any static host:
#   bash scripts/web.sh && python3 -m http.server -d build-web/site 8000
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v emcmake >/dev/null; then
  echo "web: Emscripten is missing (bash scripts/setup.sh installs Debian's emscripten package)" >&2
  exit 2
fi
# Debian's emscripten runs its JavaScript tools on node with Debian's node modules (acorn)
export NODE_PATH="${NODE_PATH:+$NODE_PATH:}/usr/share/nodejs"
emcmake cmake -S web -B build-web -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-web -j"$(nproc)"
echo "web: build-web/site/ (python3 -m http.server -d build-web/site 8000, then open http://localhost:8000)"
