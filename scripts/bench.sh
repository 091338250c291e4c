#!/usr/bin/env bash
# Nexmark on weir against a hand-written C baseline (docs/benchmarks.md).
# Builds weir (release preset), starts `weir local --taskmanagers 1
# --slots 1`, runs each query of examples/nexmark/ (parallelism 1, a
# bounded nexmark source, file sink) and, in the same run, the baseline
# tests/bench/nexmark_baseline on the same events. Prints one table row a
# query: weir events/s per CPU second of the JobManager and TaskManager,
# baseline events/s (one thread, per CPU second of it, so that a busy
# machine does not count against it), their ratio, and the TaskManager's peak
# RSS; and the RSS of the idle TaskManager.
#   scripts/bench.sh                  # every query, default event counts
#   scripts/bench.sh q1 q7            # some queries
#   WEIR_BENCH_EVENTS=1000000 scripts/bench.sh   # one count for all
#   WEIR_BENCH_BIN=DIR scripts/bench.sh          # binaries of another build
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

queries=("$@")
[ ${#queries[@]} -eq 0 ] && queries=(q0 q1 q2 q5 q7)
# Events per query: each takes 5-20 s on weir on a current x86 core.
declare -A events=([q0]=4000000 [q1]=5000000 [q2]=12000000 [q5]=5000000
	[q7]=8000000)

if [ -z "${WEIR_BENCH_BIN:-}" ]; then
	cmake --preset release >/dev/null
	cmake --build --preset release >/dev/null
	bin="$here/build/release/bin"
else
	bin=$WEIR_BENCH_BIN
fi
dir=$(mktemp -d /tmp/weir-bench-XXXXXX)
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
jm="tcp://127.0.0.1:$(free_port)"
"$bin/weir" --jobmanager "$jm" local --taskmanagers 1 --slots 1 \
	--kafka-port "$(free_port)" --rest-port "$(free_port)" --dir "$dir" \
	>"$dir/local.out" 2>&1 &
local_pid=$!
stop() {
	kill -INT "$local_pid" 2>/dev/null || true
	wait "$local_pid" 2>/dev/null || true
	rm -rf "$dir"
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

# The JobManager and TaskManager: the children of weir local.
child() {
	for p in $(ps -o pid= --ppid "$local_pid"); do
		if grep -q "$1" "/proc/$p/cmdline" 2>/dev/null; then
			echo "$p"
		fi
	done
}
jm_pid=$(child weir-jobmanager)
tm_pid=$(child weir-taskmanager)
if [ -z "$jm_pid" ] || [ -z "$tm_pid" ]; then
	echo "bench: no JobManager/TaskManager under weir local" >&2
	exit 1
fi
hz=$(getconf CLK_TCK)
# utime + stime (fields 14 and 15 of /proc/PID/stat) of both, in ticks.
cpu_ticks() {
	local t=0 p f
	for p in "$jm_pid" "$tm_pid"; do
		f=$(sed 's/.*) //' "/proc/$p/stat")
		t=$((t + $(echo "$f" | awk '{print $12 + $13}')))
	done
	echo "$t"
}
status_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$tm_pid/status"; }

idle_kb=$(status_kb VmRSS)
printf '%-5s %10s %8s %8s %14s %17s %8s %14s\n' query events wall_s \
	cpu_s "weir ev/s/core" "baseline ev/s" ratio "TM peak RSS"
for q in "${queries[@]}"; do
	n=${WEIR_BENCH_EVENTS:-${events[$q]}}
	job="$dir/$q.yaml"
	sed -e "s#__OUT__#$dir/out-$q#" -e "s/count: [0-9]*/count: $n/" \
		"examples/nexmark/$q.yaml" >"$job"
	# Resets the TaskManager's VmHWM to its current RSS.
	echo 5 >"/proc/$tm_pid/clear_refs" 2>/dev/null || true
	c0=$(cpu_ticks)
	t0=$(date +%s.%N)
	"$bin/weir" --jobmanager "$jm" run "$job" >"$dir/$q.run" 2>&1 || {
		cat "$dir/$q.run"
		exit 1
	}
	t1=$(date +%s.%N)
	c1=$(cpu_ticks)
	grep -q FINISHED "$dir/$q.run" || {
		cat "$dir/$q.run"
		exit 1
	}
	hwm=$(status_kb VmHWM)
	rm -rf "$dir/out-$q"
	base=$("$bin/nexmark_baseline" "$q" "$n" "$dir/base-$q.jsonl")
	rm -f "$dir/base-$q.jsonl"
	awk -v q="$q" -v n="$n" -v t0="$t0" -v t1="$t1" -v c0="$c0" \
		-v c1="$c1" -v hz="$hz" -v hwm="$hwm" -v base="$base" 'BEGIN {
		split(base, b, " "); cpu = (c1 - c0) / hz; w = n / cpu
		bw = n / b[6]
		printf "%-5s %10d %8.1f %8.1f %14.0f %17.0f %8.2f %11.1f MiB\n",
		    q, n, t1 - t0, cpu, w, bw, w / bw, hwm / 1024 }'
done
printf 'idle TaskManager RSS (fresh, before the first job): %.1f MiB\n' \
	"$(echo "$idle_kb" | awk '{print $1 / 1024}')"
