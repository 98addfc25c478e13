#!/usr/bin/env bash
# Installs what gemmasim needs from Debian's archive (as root, on Debian 12) and builds it.
#   bash scripts/setup.sh [build-dir] [extra cmake args...]
# emscripten builds the web page (scripts/web.sh); chromium and chromium-driver test it headless.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="build-essential cmake libeigen3-dev libboost-program-options-dev nlohmann-json3-dev doctest-dev gnuplot-nox python3
      emscripten chromium chromium-driver ${GEMMASIM_EXTRA_PKGS:-}"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "setup: installing$missing" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
BUILD="${1:-build}"
shift || true
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$BUILD" -j"$(nproc)"
