#!/usr/bin/env bash
# bench.sh - the benchmarks of docs/benchmarks.md.
#
# Nexmark on weir against a hand-written C baseline, and Kafka -> job ->
# Kafka against a raw librdkafka loop (docs/benchmarks.md).
# Builds weir (release preset), starts `weir local --taskmanagers 1
# --slots 1`, runs each query of examples/nexmark/ (parallelism 1, a
# bounded nexmark source, file sink) and, in the same run, the baseline
# tests/bench/nexmark_baseline on the same events; a file row fails if
# their result counts differ. A `-bh` row (q5-bh) runs the same query into
# a blackhole sink and the baseline without writing, as Nexmark measures,
# printed beside Flink 1.13's published figure. Each row is
# WEIR_BENCH_RUNS runs (default 3), the median of each column: weir
# events/s per CPU second of the JobManager and TaskManager, baseline
# events/s (one thread, per CPU second of it, so that a busy machine does
# not count against it), their ratio, and the TaskManager's peak RSS; and
# the RSS of the idle TaskManager.
# The `kafka` row: orders pre-filled into the embedded Kafka (`weir gen`),
# filtered into another topic by examples/bench/kafka-filter.yaml
# (parallelism 1) and by tests/bench/kafka_baseline (`pipe`: one thread,
# librdkafka + jansson, the sink's producer settings); per CPU second of
# each, and beside them the physical limit: the same messages copied
# byte for byte by raw librdkafka (`bytes`: no decode). Then both
# end-to-end latencies at two fixed rates (5 K and 50 K records/s).
# The `recovery` row (tests/bench/recovery_bench.py, its own clusters):
# SIGKILL of a TaskManager holding ~100 MiB of keyed state -> first record
# processed after the restore, and checkpoints of 1 GiB of keyed state
# with the source's throughput during them.
# The `seeds` rows (tests/bench/seeds_latency.py, its own `weir local`):
# the seeds' pipelines (anomaly, sessions, dashboards, fraud) fed by
# `weir gen` at their target rates, end-to-end latency p50/p99 from the
# input's Kafka append to the result's, WEIR_BENCH_SEEDS_RUNS runs
# (default 1) of 5 s each at the highest rate (of the target and one
# halving) at which the job keeps up.
# The `failover` row (scripts/failover_drill.py --sigkill-only, its own
# `weir local --jobmanagers 2`): the leader JobManager SIGKILLed
# WEIR_BENCH_FAILOVER_RUNS times (default 3) under an exactly-once job ->
# new leader elected -> job RUNNING -> first record committed after it;
# medians, beside the lease settings (lease_duration / renew_interval /
# retry_period, the cluster's defaults unless WEIR_HIGH_AVAILABILITY_* set).
#   scripts/bench.sh                  # every query, default event counts
#   scripts/bench.sh q1 q7 kafka      # some queries
#   WEIR_BENCH_EVENTS=1000000 scripts/bench.sh   # one count for all
#   WEIR_BENCH_RUNS=1 scripts/bench.sh q5-bh      # runs per Nexmark row
#   WEIR_BENCH_BIN=DIR scripts/bench.sh          # binaries of another build
#   WEIR_BENCH_KAFKA_PARTITIONS=32 WEIR_BENCH_KAFKA_PER_PARTITION=24000
#       orders in the kafka row (the embedded Kafka keeps about 5 MB a
#       partition: 24000 orders are about 3.4 MB)
#   WEIR_BENCH_LATENCY_RATE=5000 WEIR_BENCH_LATENCY_RATE2=50000
#       (records/s of the two latency runs; 0: not that one)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

queries=("$@")
[ ${#queries[@]} -eq 0 ] && queries=(q0 q1 q2 q3 q5 q7 q8 q0-bh q1-bh q2-bh
	q5-bh q7-bh q8-bh kafka recovery failover seeds)
# Events per query (a -bh row: the same query into a blackhole sink): each
# run takes 0.5-5 s of CPU on weir on a current x86 core.
declare -A events=([q0]=1000000 [q1]=1000000 [q2]=3000000 [q3]=2000000
	[q5]=500000 [q7]=500000 [q8]=2000000)

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
kafka="127.0.0.1:$(free_port)"
# Kafka bench topics: 32 partitions of kper orders (the embedded Kafka
# keeps about 5 MB a partition: 24000 orders are about 3.4 MB), as many
# for both outputs (keyed by order id, so they stay within it too);
# latency runs on 4 (16 at the second rate: 10 s of 50 K records/s would
# not stay within 4).
kparts=${WEIR_BENCH_KAFKA_PARTITIONS:-32}
kper=${WEIR_BENCH_KAFKA_PER_PARTITION:-24000}
lat_rates=("${WEIR_BENCH_LATENCY_RATE:-5000}"
	"${WEIR_BENCH_LATENCY_RATE2:-50000}")
topics=()
for t in bench_in bench_out bench_out2; do
	topics+=(--topic "$t:$kparts")
done
for i in 0 1; do
	for t in lat_in1 lat_out1 lat_in2 lat_out2; do
		topics+=(--topic "${t}_$i:$((i == 0 ? 4 : 16))")
	done
done
"$bin/weir" --jobmanager "$jm" local --taskmanagers 1 --slots 1 \
	--kafka-port "${kafka#*:}" --rest-port "$(free_port)" --dir "$dir" \
	"${topics[@]}" >"$dir/local.out" 2>&1 &
local_pid=$!
pipe_pid=
stop() {
	[ -n "$pipe_pid" ] && kill -TERM "$pipe_pid" 2>/dev/null
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
printf '%-6s %9s %7s %7s %14s %14s %6s %12s %8s\n' query events wall_s \
	cpu_s "weir ev/s/core" "baseline ev/s" ratio "TM peak RSS" \
	"Flink 1.13"
# Flink 1.13's published Nexmark figures, events/s per core (blackhole
# sink; issue 14).
declare -A flink=([q0]=155K [q1]=158K [q2]=175K [q5]=22K [q7]=12K [q8]=146K)
# One run of a Nexmark query $1 (q5 or q5-bh) on n events: weir, then the
# baseline on the same events. Appends "wall cpu base_cpu hwm_kb" to
# $dir/$1.runs; a file row's results must have as many lines as the
# baseline's.
bench_nexmark_run() {
	local q=$1 base=${1%-bh} n=$2 job out c0 c1 t0 t1 hwm b rows
	job="$dir/$q.yaml"
	out="$dir/out-$q"
	if [ "$q" = "$base" ]; then
		sed -e "s#__OUT__#$out#" -e "s/count: [0-9]*/count: $n/" \
			"examples/nexmark/$base.yaml" >"$job"
	else
		sed -e 's#file: { path: "__OUT__" }#blackhole: {}#' \
			-e "s/count: [0-9]*/count: $n/" \
			"examples/nexmark/$base.yaml" >"$job"
	fi
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
	if [ "$q" = "$base" ]; then
		b=$("$bin/nexmark_baseline" "$base" "$n" "$dir/base-$q.jsonl")
		rows=$(cat "$out"/part-* 2>/dev/null | wc -l)
		if [ "$rows" != "$(echo "$b" | awk '{print $10}')" ]; then
			echo "bench: $q: weir wrote $rows rows, the baseline" \
				"$(echo "$b" | awk '{print $10}')" >&2
			exit 1
		fi
		rm -rf "$out" "$dir/base-$q.jsonl"
	else
		b=$("$bin/nexmark_baseline" "$base" "$n" -)
	fi
	echo "$t0 $t1 $c0 $c1 $hwm $b" | awk -v hz="$hz" '{
		print $2 - $1, ($4 - $3) / hz, $11, $5 }' >>"$dir/$q.runs"
}

# A Nexmark row: WEIR_BENCH_RUNS runs (default 3), the median of each
# column on its own.
bench_nexmark() {
	local q=$1 n r
	n=${WEIR_BENCH_EVENTS:-${events[${q%-bh}]}}
	rm -f "$dir/$q.runs"
	for r in $(seq 1 "${WEIR_BENCH_RUNS:-3}"); do
		bench_nexmark_run "$q" "$n"
	done
	awk -v q="$q" -v n="$n" -v fl="${flink[${q%-bh}]:-}" '
	function med(a, k,   i, j, t) {
		for (i = 1; i <= k; i++)
			for (j = i + 1; j <= k; j++)
				if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
	}
	{ k++; wall[k] = $1; cpu[k] = $2; w[k] = n / $2; bw[k] = n / $3
	  ratio[k] = w[k] / bw[k]; hwm[k] = $4 }
	END {
		if (q !~ /-bh$/) fl = ""
		printf "%-6s %9d %7.1f %7.1f %14.0f %14.0f %6.2f %8.1f MiB %8s\n",
		    q, n, med(wall, k), med(cpu, k), med(w, k), med(bw, k),
		    med(ratio, k), med(hwm, k) / 1024, fl }' "$dir/$q.runs"
}

# A job submitted detached; prints its id.
weir_submit() {
	"$bin/weir" --jobmanager "$jm" run -d "$1" >"$dir/submit.out" 2>&1 || {
		cat "$dir/submit.out" >&2
		exit 1
	}
	awk '/JobID/ {print $NF}' "$dir/submit.out"
}

weir_cancel() {
	"$bin/weir" --jobmanager "$jm" cancel "$1" >/dev/null
}

# Waits up to 10 s until job $1 and all its subtasks are RUNNING.
weir_wait_running() {
	local info
	for _ in $(seq 1 100); do
		info=$("$bin/weir" --jobmanager "$jm" info "$1" 2>/dev/null) ||
			true
		if echo "$info" | grep -q '^State: *RUNNING' &&
			! echo "$info" | awk '/^  [0-9]+ / {print $2}' |
			grep -qv RUNNING; then
			return 0
		fi
		sleep 0.1
	done
	echo "bench: job $1 is not running after 10 s" >&2
	exit 1
}

# Kafka -> job -> Kafka: kparts x kper orders pre-filled into bench_in;
# the raw loop filters them into bench_out, then weir into bench_out2
# (timed from submission until bench_out2 holds as many records as the
# raw loop wrote). The embedded Kafka runs inside `weir local`: its CPU
# counts for neither.
bench_kafka() {
	local n base bytes produced id c0 c1 t0 t1 hwm got
	n=$((kparts * kper))
	"$bin/weir" gen orders --rate 0 --count "$n" --topic bench_in \
		--bootstrap "$kafka" --seed 1 >"$dir/gen.out" 2>&1 || {
		cat "$dir/gen.out" >&2
		exit 1
	}
	base=$("$bin/kafka_baseline" pipe "$kafka" bench_in bench_out "$n")
	bytes=$("$bin/kafka_baseline" bytes "$kafka" bench_in bench_bytes "$n")
	produced=$(echo "$base" | awk '{print $4}')
	echo 5 >"/proc/$tm_pid/clear_refs" 2>/dev/null || true
	c0=$(cpu_ticks)
	t0=$(date +%s.%N)
	id=$(weir_submit examples/bench/kafka-filter.yaml)
	"$bin/kafka_baseline" wait "$kafka" bench_out2 "$produced" 300 \
		>"$dir/kafka.wait" || {
		echo "bench: weir wrote $(cat "$dir/kafka.wait")," \
			"not $produced records" >&2
		exit 1
	}
	t1=$(date +%s.%N)
	c1=$(cpu_ticks)
	hwm=$(status_kb VmHWM)
	weir_cancel "$id"
	got=$(awk '{print $2}' "$dir/kafka.wait")
	awk -v n="$n" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" \
		-v hz="$hz" -v hwm="$hwm" -v base="$base" -v bytes="$bytes" 'BEGIN {
		split(base, b, " "); cpu = (c1 - c0) / hz; w = n / cpu
		bw = n / b[8]
		printf "%-6s %9d %7.1f %7.1f %14.0f %14.0f %6.2f %8.1f MiB\n",
		    "kafka", n, t1 - t0, cpu, w, bw, w / bw, hwm / 1024
		printf "      raw loop: %d in, %d out, %.1f s wall, %.2f s CPU," \
		    " peak RSS %.1f MiB; records/s wall: raw loop %.0f," \
		    " weir %.0f\n", b[2], b[4], b[6], b[8], b[10] / 1024,
		    n / b[6], n / (t1 - t0)
		split(bytes, y, " "); yw = n / y[8]
		printf "      byte pass-through (raw librdkafka, no decode):" \
		    " %.0f records/s per CPU s, %.2f s CPU; weir at %.2fx" \
		    " of it\n", yw, y[8], w / yw }'
	if [ "$got" != "$produced" ]; then
		echo "bench: weir wrote $got records, the raw loop $produced" >&2
		exit 1
	fi
	bench_latency 0
	bench_latency 1
}

# End-to-end latency at lat_rates[$1] records/s for 10 s after 3 s of
# warmup (kafka_baseline latency): the raw loop, then the same job as
# above, on the topics lat_*_$1.
bench_latency() {
	local id l1 l2 i=$1 lat_rate=${lat_rates[$1]}
	[ "$lat_rate" -gt 0 ] || return 0
	"$bin/kafka_baseline" pipe "$kafka" "lat_in1_$i" "lat_out1_$i" \
		1000000000 >"$dir/lat.pipe" &
	pipe_pid=$!
	l1=$("$bin/kafka_baseline" latency "$kafka" "lat_in1_$i" \
		"lat_out1_$i" "$lat_rate" 10 3)
	kill -TERM "$pipe_pid"
	wait "$pipe_pid"
	pipe_pid=
	sed -e "s/topic: bench_in,/topic: lat_in2_$i,/" \
		-e "s/topic: bench_out2,/topic: lat_out2_$i,/" \
		-e "s/^name: .*/name: bench-kafka-latency-$i/" \
		examples/bench/kafka-filter.yaml >"$dir/latency.yaml"
	id=$(weir_submit "$dir/latency.yaml")
	weir_wait_running "$id"
	l2=$("$bin/kafka_baseline" latency "$kafka" "lat_in2_$i" \
		"lat_out2_$i" "$lat_rate" 10 3)
	weir_cancel "$id"
	awk -v r="$lat_rate" -v l1="$l1" -v l2="$l2" 'BEGIN {
		split(l1, a, " "); split(l2, b, " ")
		printf "      latency at %d records/s, p50 / p99 / max ms:" \
		    " weir %.1f / %.1f / %.1f, raw loop %.1f / %.1f / %.1f\n",
		    r, b[4], b[6], b[8], a[4], a[6], a[8] }'
}
# Leader SIGKILLs on a cluster of its own (the drill's); one row of medians.
bench_failover() {
	local runs=${WEIR_BENCH_FAILOVER_RUNS:-3}
	python3 scripts/failover_drill.py --bin "$bin" --sigkill-only \
		--kills "$runs" >"$dir/failover.out" 2>&1 || {
		cat "$dir/failover.out" >&2
		exit 1
	}
	tail -n 1 "$dir/failover.out" | python3 -c '
import json, statistics, sys
d = json.load(sys.stdin)
f, l = d["failovers"], d["lease"]
med = lambda k: statistics.median(x[k] for x in f)
print("%-8s %4s %10s %11s %13s %9s %10s  %s" % ("failover", "runs",
      "leader_s", "running_s", "committed_s", "restarts", "redeploys",
      "lease_duration / renew_interval / retry_period"))
print("%-8s %4d %10.2f %11.2f %13.2f %9s %10s  %s / %s / %s" % ("", len(f),
      med("leader_s"), med("running_s"), med("commit_s"),
      ",".join(x["restarts"] for x in f),
      ",".join(str(x["redeploys"]) for x in f), l["lease_duration"],
      l["renew_interval"], l["retry_period"]))
print("         medians of SIGKILL -> new leader / job RUNNING / first "
      "record committed; output %s; target: RUNNING <= 3 s" %
      ("exact" if d["exact"] else "NOT EXACT"))'
}
recovery=0
failover=0
seeds=0
for q in "${queries[@]}"; do
	case $q in
	kafka) bench_kafka ;;
	recovery) recovery=1 ;;
	failover) failover=1 ;;
	seeds) seeds=1 ;;
	*) bench_nexmark "$q" ;;
	esac
done
printf 'idle TaskManager RSS (fresh, before the first job): %.1f MiB\n' \
	"$(echo "$idle_kb" | awk '{print $1 / 1024}')"
if [ "$recovery" = 1 ]; then
	python3 tests/bench/recovery_bench.py --bin "$bin" --runs 3 |
		grep -v '^{'
fi
if [ "$failover" = 1 ]; then
	bench_failover
fi
if [ "$seeds" = 1 ]; then
	python3 tests/bench/seeds_latency.py --bin "$bin" --seconds 5 \
		--steps 1 --runs "${WEIR_BENCH_SEEDS_RUNS:-1}"
fi
