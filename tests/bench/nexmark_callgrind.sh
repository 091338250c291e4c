#!/usr/bin/env bash
# nexmark_callgrind.sh - one Nexmark query into the blackhole sink with the
# TaskManager under `valgrind --tool=callgrind`, and its instructions per
# event per stage of the task's hot path (docs/benchmarks.md, "Hot path,
# callgrind").
#
# `weir local` cannot wait for a TaskManager that runs 50x slower, so this
# starts `weir local --taskmanagers 0` (the JobManager alone) and one
# weir-taskmanager of the same build under callgrind against it; the job
# runs the real deployment, task and operator code. After FINISHED the
# profile is dumped (callgrind_control -d), so start-up is in it too but
# no stage below includes it.
#
#   tests/bench/nexmark_callgrind.sh q1 [EVENTS]     # default 20000
#   WEIR_BENCH_BIN=build/release/bin tests/bench/nexmark_callgrind.sh q5 50000
#   KEEP=1 ...: leaves the profile in the printed directory
set -euo pipefail

q=${1:?usage: nexmark_callgrind.sh QUERY [EVENTS]}
n=${2:-20000}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${WEIR_BENCH_BIN:-$root/build/release/bin}
dir=$(mktemp -d /tmp/weir-cg-XXXXXX)
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
jm="tcp://127.0.0.1:$(free_port)"
local_pid="" tm_pid=""

cleanup() {
	[ -n "$tm_pid" ] && kill -KILL "$tm_pid" 2>/dev/null || true
	[ -n "$local_pid" ] && kill -INT "$local_pid" 2>/dev/null || true
	[ -n "$local_pid" ] && wait "$local_pid" 2>/dev/null || true
	[ -z "${KEEP:-}" ] && rm -rf "$dir"
	return 0
}
trap cleanup EXIT

rest=$(free_port)
kafka=$(free_port)
"$bin/weir" local --taskmanagers 0 --dir "$dir/cluster" --jobmanager "$jm" \
	--rest-port "$rest" --kafka-port "$kafka" >"$dir/local.log" 2>&1 &
local_pid=$!
# weir.env is written once the cluster is up.
for _ in $(seq 300); do
	[ -f "$dir/cluster/weir.env" ] && break
	sleep 0.1
done
[ -f "$dir/cluster/weir.env" ] || {
	cat "$dir/local.log" >&2
	exit 1
}

valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
	"$bin/weir-taskmanager" --config "$dir/cluster/weir.yaml" --slots 1 \
	>"$dir/tm.log" 2>&1 &
tm_pid=$!
for _ in $(seq 300); do
	grep -q TM-REGISTERED "$dir/tm.log" && break
	sleep 0.1
done
grep -q TM-REGISTERED "$dir/tm.log" || {
	cat "$dir/tm.log" >&2
	exit 1
}

sed -e 's#file: { path: "__OUT__" }#blackhole: {}#' \
	-e "s/count: [0-9]*/count: $n/" "$root/examples/nexmark/$q.yaml" \
	>"$dir/job.yaml"
"$bin/weir" --jobmanager "$jm" run "$dir/job.yaml" >"$dir/run.log" 2>&1
grep -q FINISHED "$dir/run.log" || {
	cat "$dir/run.log" >&2
	exit 1
}
callgrind_control -d "$tm_pid" >/dev/null 2>&1
for _ in $(seq 100); do
	[ -s "$dir/cg.out.1" ] && break
	sleep 0.1
done
callgrind_annotate --inclusive=yes --threshold=100 "$dir/cg.out.1" \
	>"$dir/inclusive.txt" 2>/dev/null

# Inclusive instructions per event of each stage's function(s); "-" marks
# one subtracted (a stage that is a caller minus its callees).
awk -v n="$n" -v q="$q" '
/^ *[0-9,]+ \(/ {
	v = $1; gsub(",", "", v)
	f = $0; sub(/^[^)]*\) +/, "", f); sub(/ .*$/, "", f); sub(/^.*:/, "", f)
	if (!(f in ir)) ir[f] = v
}
function s(list,   a, k, t, m) {
	t = 0
	k = split(list, a, " ")
	for (m = 1; m <= k; m++)
		if (substr(a[m], 1, 1) == "-")
			t -= ir[substr(a[m], 2)]
		else
			t += ir[a[m]]
	return t
}
function row(name, list) {
	printf "  %-34s %9.0f\n", name, s(list) / n
}
END {
	printf "%s, %d events: instructions per event (callgrind Ir, inclusive)\n", q, n
	row("all tasks (tm_task_main)", "tm_task_main")
	row("source loop (tm_gen_run)", "tm_gen_run")
	row("  generator (tm_nex_event_gen)", "tm_nex_event_gen")
	row("  row building", "tm_nex_make -tm_nex_event_gen")
	row("  chain: emit + operators", "tm_src_emit")
	row("    filter (and what it emits to)", "tm_filter_process")
	row("    select (and what it emits to)", "tm_select_process")
	row("    expression eval (wr_expr_run)", "wr_expr_run")
	row("    blackhole", "tm_blackhole_process")
	row("  watermarks (record+poll+emit)", "tm_wm_record tm_wm_poll tm_src_watermark")
	row("  clock reads (wr_mono_ms)", "wr_mono_ms")
	row("  task ticks, checkpoint hooks", "tm_src_tick")
	row("  arena reset", "wr_arena_reset")
	row("window: records in (tm_win_push)", "tm_win_push")
	row("window join: records in", "tm_join_op_process")
	row("timers fire (windows, join)", "tm_timers_fire")
	row("  window firing (pane merge)", "tm_win_fire_window")
	row("keyed state: get", "wr_state_get")
	row("keyed state: put", "wr_state_put")
	row("keyed state: flush to LMDB", "wr_state_flush")
	row("shuffle: encode", "wr_row_encode")
	row("shuffle: decode", "wr_row_decode")
}' "$dir/inclusive.txt"
[ -n "${KEEP:-}" ] && echo "profile: $dir/cg.out.1 ($dir/inclusive.txt)"
exit 0
