#!/usr/bin/env bash
# soak.sh - the soak run (scripts/soak.py): a keyed window job fed at 80 %
# of its measured peak for a while, a TaskManager SIGKILLed every few
# minutes, memory, descriptors, threads, checkpoint sizes and lag sampled
# into a CSV; exit 1 when any of them grew.
#   scripts/soak.sh                               # 30 min, release build
#   scripts/soak.sh --minutes 2 --kill-every 40   # CI's short version
#   WEIR_BIN_DIR=build/debug/bin scripts/soak.sh --csv /tmp/soak.csv
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
if [ -z "${WEIR_BIN_DIR:-}" ]; then
	cmake --preset release >/dev/null
	cmake --build --preset release >/dev/null
	export WEIR_BIN_DIR="$here/build/release/bin"
fi
exec python3 scripts/soak.py --bin "$WEIR_BIN_DIR" "$@"
