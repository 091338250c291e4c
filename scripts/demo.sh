#!/usr/bin/env bash
# demo.sh - the demo: `weir local`, generated orders, two jobs.
#
# Builds weir (release preset) and runs the demo on an embedded local
# cluster: `weir local` with 2 TaskManagers and its embedded Kafka;
# `weir gen orders` writes orders, the job examples/paid-orders.yaml keeps
# the paid ones, prices them in euros and writes them, keyed by product, to
# the paid_orders topic, where `weir consume` reads them; the job
# examples/order-analytics-live.yaml computes per-product, per-minute order
# counts and revenue in event-time windows into order_analytics.
#   scripts/demo.sh          # runs the demo, then stops the cluster
#   scripts/demo.sh --keep   # leaves the cluster running until Ctrl-C
# Ports: WEIR_DEMO_KAFKA_PORT (9092), WEIR_DEMO_REST_PORT (8081),
# WEIR_JOBMANAGER (tcp://127.0.0.1:6123). The jobs name no brokers and the
# CLI runs on build/demo/weir.env, so any free ports do.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
keep=0
[ "${1:-}" = "--keep" ] && keep=1

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
bin="$here/build/release/bin"
dir="$here/build/demo"
rm -rf "$dir"
mkdir -p "$dir"

kport=${WEIR_DEMO_KAFKA_PORT:-9092}
rport=${WEIR_DEMO_REST_PORT:-8081}
export WEIR_JOBMANAGER=${WEIR_JOBMANAGER:-tcp://127.0.0.1:6123}
"$bin/weir" local --taskmanagers 2 --slots 2 --kafka-port "$kport" \
	--rest-port "$rport" --topic orders:4 --topic paid_orders:4 \
	--topic order_analytics:4 --topic orders-dlq:1 --dir "$dir" \
	>"$dir/local.out" 2>&1 &
local_pid=$!
stop() {
	kill -INT "$local_pid" 2>/dev/null || true
	wait "$local_pid" 2>/dev/null || true
}
trap stop EXIT

for _ in $(seq 1 300); do
	grep -q 'cluster is up' "$dir/local.out" 2>/dev/null && break
	if ! kill -0 "$local_pid" 2>/dev/null; then
		cat "$dir/local.out"
		exit 1
	fi
	sleep 0.1
done
cat "$dir/local.out"
# the CLI's addresses (JobManager, Kafka bootstrap), as a user's shell has them
. "$dir/weir.env"
echo
echo "== weir cluster"
"$bin/weir" cluster
echo
echo "== REST /overview"
curl -s "http://127.0.0.1:$rport/overview"
echo
echo
echo "== weir gen orders: 20000 orders over the last 5 minutes of event time -> topic orders"
"$bin/weir" gen orders --rate 0 --count 20000 --time-step 15 --topic orders \
	--seed 42
echo
echo "== weir run -d examples/paid-orders.yaml"
job=$("$bin/weir" run -d examples/paid-orders.yaml -o json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
echo "job $job"
echo
echo "== the first paid orders, in euros, keyed by product (weir consume paid_orders)"
"$bin/weir" consume paid_orders -n 10 --timeout 30s
echo
echo "== weir run -d examples/order-analytics-live.yaml (per product, per minute)"
job2=$("$bin/weir" run -d examples/order-analytics-live.yaml -o json |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])')
echo "job $job2"
echo
echo "== per-minute order analytics as the windows fire (weir consume order_analytics)"
"$bin/weir" consume order_analytics -n 12 --timeout 60s
echo
echo "== weir list; weir info"
"$bin/weir" list
echo
"$bin/weir" info "$job"
echo
echo "== records through each task (TaskManager /metrics)"
curl -s "http://127.0.0.1:$rport/taskmanagers" | python3 -c '
import json, sys, urllib.request
for t in json.load(sys.stdin)["taskmanagers"]:
    text = urllib.request.urlopen("http://%s/metrics" % t["metrics_address"]).read().decode()
    for line in text.splitlines():
        if line.startswith("weir_records_"):
            print("  " + line)'
if [ "$keep" = 1 ]; then
	echo
	echo "The job keeps running: in another shell, '. $dir/weir.env', then try 'weir gen orders --rate 100 --count 0 --topic orders' and 'weir consume paid_orders'."
	echo "The cluster keeps running (JobManager $WEIR_JOBMANAGER, REST http://127.0.0.1:$rport). Ctrl-C stops it."
	wait "$local_pid"
fi
