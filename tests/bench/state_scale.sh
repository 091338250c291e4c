#!/bin/sh
# state_scale.sh - the windows scale check: 5 million distinct 16-byte keys
# with 32-byte values in one state backend with a 16 MiB cache; every value
# is read back and checked. Two configurations, STATE_SCALE_RUNS runs each
# (default 3; each run is a fresh process):
#
#  1. The default (no bound on LMDB's mapped pages). Fails when a run's
#     peak RssAnon passes 48 MiB:
#         16 MiB  the cache budget (entries and bucket array, as malloc
#                 charges them; plus ~2 MiB of sort array during a flush)
#       + 20 MiB  LMDB's dirty-page buffers: a flush transaction is at most
#                 4096 puts, about one 4 KiB leaf each, plus branch pages
#       + 12 MiB  the program: libraries' data, allocator slack
#     RssFile grows to the data size (~470 MB): it is page cache, which the
#     kernel drops and rereads at will.
#  2. map_resident_bytes = 64 MiB. Fails when a run's peak RSS (VmHWM, file
#     pages included) passes 160 MiB: the 48 MiB above, + 64 MiB of mapped
#     pages, + 16 MiB that reads may map between two checks (256 accesses,
#     up to 16 pages each with the kernel's fault-around), + 32 MiB for the
#     program's own mapped files and slack.
#
# Neither bound grows with the number of keys. Measured (docs/state.md):
# RssAnon 28.5 MiB; VmHWM 111 MiB with the map bound.
#
#   tests/bench/state_scale.sh [path/to/state_bench]
set -eu

bench=${1:-}
if [ -z "$bench" ]; then
	for b in build/bin/state_bench /tmp/build-state-rel/bin/state_bench; do
		if [ -x "$b" ]; then
			bench=$b
			break
		fi
	done
fi
if [ -z "$bench" ] || [ ! -x "$bench" ]; then
	echo "state_scale.sh: state_bench not found; pass its path" >&2
	exit 2
fi
runs=${STATE_SCALE_RUNS:-3}
keys=${STATE_SCALE_KEYS:-5000000} # fewer only to try the script out
anon_bound=48
rss_bound=160

# run_check ARGS FIELD BOUND WHAT: runs the bench, checks FIELD <= BOUND.
run_check() {
	out=$("$bench" -n "$keys" -c 16777216 -r "$runs" $1)
	echo "$out"
	got=$(echo "$out" | sed -n "s/.* $2=\([0-9.]*\).*/\1/p")
	if [ -z "$got" ]; then
		echo "state_scale.sh: no result from $bench" >&2
		exit 1
	fi
	if awk -v g="$got" -v b="$3" 'BEGIN { exit !(g > b) }'; then
		echo "FAIL: $4 ${got} MiB exceeds the bound of $3 MiB"
		exit 1
	fi
	echo "OK: $4 ${got} MiB within the bound of $3 MiB"
}

run_check "" max_peak_anon_mib $anon_bound "peak RssAnon (no map bound)"
run_check "-m 67108864" max_peak_rss_mib $rss_bound \
	"peak RSS (map bound 64 MiB)"
