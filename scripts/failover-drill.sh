#!/usr/bin/env bash
# failover-drill.sh - the JobManager failover drill (docs/operations.md,
# "HA and failover drills").
#
# Starts `weir local --jobmanagers 2` in a temporary directory (or uses the
# running cluster in --dir DIR), runs an exactly-once job on it (nexmark ->
# keyed tumbling window -> exactly-once file sink, checkpoints every
# 500 ms), kills the leader JobManager N times (--kills N, default 3;
# SIGKILL and SIGSTOP past the lease, alternating), starts each killed
# JobManager again with its command line, and prints per failover the
# takeover times and the job's restarts; at the end whether the committed
# output equals a failure-free run's. Exit 1 unless it does.
#   scripts/failover-drill.sh                    # builds (release), 3 kills
#   scripts/failover-drill.sh --kills 5 --jobmanagers 3
#   scripts/failover-drill.sh --dir /tmp/weir-local   # a running cluster
#   WEIR_BIN_DIR=build/debug/bin scripts/failover-drill.sh  # no build
# Lease settings: the cluster's (high_availability.* in weir.yaml or the
# environment, e.g. WEIR_HIGH_AVAILABILITY_LEASE_DURATION=2s).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
if [ -z "${WEIR_BIN_DIR:-}" ]; then
	if ! command -v etcd >/dev/null && [ ! -x /usr/bin/etcd ]; then
		bash scripts/install-deps.sh
	fi
	cmake --preset release >/dev/null
	cmake --build --preset release >/dev/null
	export WEIR_BIN_DIR="$here/build/release/bin"
fi
exec python3 scripts/failover_drill.py --bin "$WEIR_BIN_DIR" "$@"
