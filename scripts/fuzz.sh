#!/usr/bin/env bash
# fuzz.sh - builds the libFuzzer harnesses of tests/fuzz (the `fuzz`
# preset: clang, ASan+UBSan) and runs each: first over its seed corpus in
# tests/fuzz/corpus/<name>/ (every crash ever found is kept there, so this
# replays them), then for a bounded time.
#
#   scripts/fuzz.sh                 # every harness, 20 s each
#   scripts/fuzz.sh -t 60 expr      # one harness, 60 s
#   scripts/fuzz.sh --merge         # also add new coverage to the corpus
#
# A crash, leak, sanitizer report or timeout fails the run; the input is
# kept in build/fuzz/artifacts/ (turn it into a seed: it becomes a
# regression test). Exit 0 when every harness ran clean.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
seconds=${WEIR_FUZZ_SECONDS:-20}
merge=0
names=()
while [ $# -gt 0 ]; do
	case "$1" in
	-t) seconds=$2; shift 2 ;;
	--merge) merge=1; shift ;;
	-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
	*) names+=("$1"); shift ;;
	esac
done
[ ${#names[@]} -eq 0 ] && names=(jobspec expr json_record json_diff record_codec
	rpc_frame shuffle_frame ckpt_meta)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"$(nproc)" >/dev/null
bin="$here/build/fuzz/bin"
art="$here/build/fuzz/artifacts"
mkdir -p "$art"
work=$(mktemp -d /tmp/weir-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
for n in "${names[@]}"; do
	seeds="$here/tests/fuzz/corpus/$n"
	[ -d "$seeds" ] || { echo "fuzz: no corpus $seeds" >&2; exit 2; }
	mkdir -p "$work/$n"
	# 1 MiB: the largest record, job file or frame a test would send
	# through these paths in one piece; a run that needs longer inputs
	# can say so with -t and its own options.
	if "$bin/fuzz_$n" -max_total_time="$seconds" -max_len=1048576 \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$art/$n-" "$work/$n" "$seeds" \
		>"$work/$n.log" 2>&1; then
		runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' \
			"$work/$n.log" | grep -o '[0-9]*$' || echo '?')
		cov=$(grep -o 'cov: [0-9]*' "$work/$n.log" | tail -1)
		echo "fuzz $n: ok, $runs runs in ${seconds}s, $cov"
	else
		failed=1
		echo "fuzz $n: FAILED (input kept in $art/)"
		tail -n 60 "$work/$n.log"
	fi
	if [ "$merge" = 1 ]; then
		"$bin/fuzz_$n" -merge=1 -max_len=1048576 "$seeds" "$work/$n" \
			>/dev/null 2>&1
	fi
done
exit $failed
