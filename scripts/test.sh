#!/usr/bin/env bash
# test.sh - builds with a CMake preset and runs the whole suite.
#
# Installs what is missing, builds with a CMake preset and runs the whole
# test suite (unit + integration) through ctest.
#   scripts/test.sh            # preset debug
#   scripts/test.sh asan       # ASan+UBSan
#   scripts/test.sh tsan       # ThreadSanitizer
set -euo pipefail
preset=${1:-debug}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bash scripts/install-deps.sh
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
jobs=${WEIR_TEST_JOBS:-2}
ctest --preset "$preset" -j "$jobs" ${WEIR_CTEST_ARGS:-}
