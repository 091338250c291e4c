#!/usr/bin/env bash
# Builds weir (release preset) and runs the demo on an embedded local
# cluster: `weir local` with 2 TaskManagers and its embedded Kafka, sample
# orders produced into the `orders` topic and read back.
#   scripts/demo.sh          # runs the demo, then stops the cluster
#   scripts/demo.sh --keep   # leaves the cluster running until Ctrl-C
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
	--rest-port "$rport" --topic orders:4 --dir "$dir" >"$dir/local.out" 2>&1 &
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
echo
echo "== weir cluster"
"$bin/weir" cluster
echo
echo "== REST /overview"
curl -s "http://127.0.0.1:$rport/overview"
echo
echo
echo "== 1000 sample orders -> topic orders"
python3 - <<'PY' | "$bin/weir" produce orders --bootstrap "127.0.0.1:$kport"
import json, random, time
rnd = random.Random(42)
now = int(time.time() * 1000)
for i in range(1000):
    print(json.dumps({"order_id": "o-%05d" % i,
                      "product_id": "p-%02d" % rnd.randrange(20),
                      "customer_id": "c-%03d" % rnd.randrange(200),
                      "amount": round(rnd.uniform(5, 300), 2),
                      "status": rnd.choice(["PAID"] * 4 + ["PENDING", "CANCELLED"]),
                      "ts": now - (1000 - i) * 60}))
PY
echo
echo "== the first 5 orders read back with weir consume"
"$bin/weir" consume orders --bootstrap "127.0.0.1:$kport" -n 1000 --timeout 20s | head -5
echo
echo "== kcat sees the same topic"
kcat -b "127.0.0.1:$kport" -L -t orders | sed -n '1,8p'
if [ "$keep" = 1 ]; then
	echo
	echo "The cluster keeps running (JobManager $WEIR_JOBMANAGER, REST http://127.0.0.1:$rport). Ctrl-C stops it."
	wait "$local_pid"
fi
