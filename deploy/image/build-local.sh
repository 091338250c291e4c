#!/usr/bin/env bash
# build-local.sh - builds weir's image without an image registry, then
# smoke-tests it.
#
# For a machine that reaches Debian's mirrors but no image registry (CI,
# this repository's sandbox). Run as root from anywhere:
#   deploy/image/build-local.sh            # base (once), image, smoke test
#   deploy/image/build-local.sh --no-smoke # base (once), image
#   deploy/image/build-local.sh --rebase   # remake the base image first
# 1. base: a bookworm minbase made by mmdebstrap (as debian:12-slim is),
#    imported as localhost/debian:12-slim; kept between runs (--rebase
#    remakes it, e.g. for security updates).
# 2. image: `podman build` of deploy/image/Containerfile with
#    BASE=localhost/debian:12-slim, tagged localhost/weir:VERSION (VERSION
#    from CMakeLists.txt), its build stage as localhost/weir:VERSION-build
#    (kept as the layer cache: only a change under the copied source
#    directories recompiles).
# 3. smoke: on the host network, a JobManager and a TaskManager container
#    (read-only root, no tmpfs, one named volume at /var/lib/weir, as the
#    image's user) form a cluster; a keyed job with file:// checkpoints
#    runs until a checkpoint completes; `podman stop` (SIGTERM, 10 s grace)
#    stops each daemon, which must exit 0 well within the grace period.
# Installs podman, runc and mmdebstrap from Debian when missing. Uses runc:
# crun refuses hybrid cgroup hierarchies (cgroup v1 + unified). Ulimits are
# given explicitly: podman's defaults exceed what a container-in-a-VM root
# without CAP_SYS_RESOURCE may set.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
smoke=1
rebase=0
for a in "$@"; do
	case "$a" in
	--no-smoke) smoke=0 ;;
	--rebase) rebase=1 ;;
	*)
		echo "usage: $0 [--no-smoke] [--rebase]" >&2
		exit 2
		;;
	esac
done

if [ "$(id -u)" -ne 0 ]; then
	echo "build-local: run as root (mmdebstrap --mode=root, rootful podman)" >&2
	exit 1
fi

base=localhost/debian:12-slim
version=$(sed -n 's/^project(weir VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
image=localhost/weir:$version
mirror=${WEIR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${WEIR_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
t_all=$(date +%s)

step() { echo "== build-local: $* ($(($(date +%s) - t_all)) s)"; }

tools() {
	local missing=()
	for p in podman runc mmdebstrap; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	step "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
}

nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then
	nproc=32768 # podman lowers its own hard limit to this
fi
podman() {
	command podman --runtime runc "$@"
}
limits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")

# debian:12-slim is debuerreotype's minbase without docs, man pages and
# translations; the same from mmdebstrap, merged /usr without usrmerge.
make_base() {
	if [ $rebase -eq 0 ] && podman image exists "$base"; then
		step "base $base exists"
		return 0
	fi
	step "base: mmdebstrap bookworm minbase"
	mkdir -p build
	mmdebstrap --quiet --variant=minbase --mode=root --format=tar \
		--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-include=/usr/share/doc/*/copyright' \
		--aptopt='Acquire::Languages "none"' \
		bookworm - "deb $mirror bookworm main" \
		"deb $mirror bookworm-updates main" \
		"deb $security bookworm-security main" 2>build/image-base.log |
		podman import --change 'CMD ["bash"]' - "$base" >/dev/null
}

build_image() {
	step "image: podman build $image"
	local log=build/image-build.log commit
	commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
	git diff --quiet HEAD -- 2>/dev/null || commit="$commit-dirty"
	mkdir -p build
	# The build stage is tagged too: the prune below then keeps its layers
	# (the -dev packages above all) as the next build's cache.
	if ! podman build --network host "${limits[@]}" \
		--build-arg BASE="$base" --build-arg WEIR_COMMIT="$commit" \
		-f deploy/image/Containerfile --target build -t "$image-build" . \
		>"$log" 2>&1 ||
		! podman build --network host "${limits[@]}" \
			--build-arg BASE="$base" --build-arg WEIR_COMMIT="$commit" \
			-f deploy/image/Containerfile -t "$image" . >>"$log" 2>&1; then
		tail -n 40 "$log"
		echo "build-local: podman build failed (whole log: $log)" >&2
		exit 1
	fi
	podman image prune -f >/dev/null
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Polls CMD every 0.2 s for up to $1 seconds; 0 when it succeeded.
poll() {
	local n=$(($1 * 5))
	shift
	while [ $n -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
		n=$((n - 1))
	done
	return 1
}

fail() {
	echo "build-local: smoke test failed: $*" >&2
	for c in "$jm" "$tm"; do
		echo "-- podman logs $c" >&2
		podman logs "$c" 2>&1 | tail -n 20 >&2 || true
	done
	exit 1
}

cleanup() {
	podman rm -f -t 0 "$jm" "$tm" >/dev/null 2>&1 || true
	podman volume rm -f "$vol" >/dev/null 2>&1 || true
	rm -rf "$work"
}

# Stops container $1 with SIGTERM (grace 10 s): it must exit 0 within 5 s.
stop_clean() {
	local t0 t rc
	t0=$(date +%s%N)
	podman stop -t 10 "$1" >/dev/null
	t=$((($(date +%s%N) - t0) / 1000000))
	rc=$(podman inspect -f '{{.State.ExitCode}}' "$1")
	echo "build-local: podman stop $1: exit code $rc after $t ms"
	if [ "$rc" != 0 ] || [ $t -ge 5000 ]; then
		fail "$1 did not stop cleanly"
	fi
}

smoke_test() {
	step "smoke test"
	local rpc rest metrics run job
	work=$(mktemp -d)
	jm=weir-smoke-jm-$$
	tm=weir-smoke-tm-$$
	vol=weir-smoke-$$
	trap cleanup EXIT
	rpc=tcp://127.0.0.1:$(free_port)
	rest=127.0.0.1:$(free_port)
	metrics=127.0.0.1:$(free_port)
	cat >"$work/smoke.yaml" <<-'EOF'
		name: image-smoke
		parallelism: 1
		checkpointing: { interval: 1s }
		sources:
		  orders:
		    datagen: { rate: 200 }
		nodes:
		  - id: per_customer
		    from: orders
		    key_by: [customer_id]
		    reduce: { n: count(), total: sum(amount) }
		  - id: out
		    from: per_customer
		    sink: { file: { path: /var/lib/weir/out } }
	EOF
	podman volume create "$vol" >/dev/null
	# As a pod's readOnlyRootFilesystem: no writable /tmp or /run either.
	run=(podman run -d --network host --read-only --read-only-tmpfs=false
		"${limits[@]}" -v "$vol:/var/lib/weir" -e WEIR_JOBMANAGER="$rpc")
	"${run[@]}" --name "$jm" -v "$work/smoke.yaml:/etc/weir/smoke.yaml:ro" \
		"$image" weir-jobmanager --rpc "$rpc" --rest "$rest" >/dev/null
	"${run[@]}" --name "$tm" "$image" weir-taskmanager \
		--jobmanager "$rpc" --rpc tcp://127.0.0.1:0 \
		--metrics "$metrics" >/dev/null

	poll 20 sh -c "podman exec $jm weir cluster | grep -q ' alive '" ||
		fail "the TaskManager did not join"
	podman exec "$jm" weir cluster
	for c in "$jm" "$tm"; do
		[ "$(podman exec "$c" id -u)" = 10001 ] || fail "$c: not uid 10001"
		podman exec "$c" cat /proc/1/cmdline | tr '\0' ' ' |
			grep -q '^weir-' || fail "$c: the daemon is not PID 1"
	done
	echo "build-local: both daemons are PID 1, uid 10001"
	job=$(podman exec "$jm" weir run -d /etc/weir/smoke.yaml | tail -n 1 |
		awk '{print $NF}')
	poll 30 sh -c "podman exec $jm weir checkpoints $job | grep -q COMPLETED" ||
		fail "job $job completed no checkpoint"
	podman exec "$jm" weir checkpoints "$job" | head -n 3
	podman exec "$tm" sh -c 'ls /var/lib/weir/state /var/lib/weir/checkpoints' |
		tr '\n' ' '
	echo
	stop_clean "$tm"
	stop_clean "$jm"
}

tools
make_base
build_image
size=$(podman image inspect -f '{{.Size}}' "$image")
echo "build-local: $image, $((size / 1000000)) MB"
if [ $smoke -eq 1 ]; then
	smoke_test
fi
step "done"
