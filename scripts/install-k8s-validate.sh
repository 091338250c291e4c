#!/usr/bin/env bash
# install-k8s-validate.sh - installs the Kubernetes schema validator's npm
# packages (tests/tools/k8s_validate) and prints their node_modules path.
#
# `npm ci` from the committed package.json and package-lock.json (pinned
# versions and integrity hashes) into a fixed cache directory. Idempotent:
# an install of the same lockfile is reused; anything else there is
# replaced. Needs npm and the npm registry on the first run; progress goes
# to stderr, the path alone to stdout.
#   scripts/install-k8s-validate.sh     # prints .../k8s-validate/node_modules
set -euo pipefail

src="$(cd "$(dirname "$0")/../tests/tools/k8s_validate" && pwd)"
dir="${WEIR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/weir}/k8s-validate"
want=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)

mkdir -p "$(dirname "$dir")"
# Two test runs at once (plain and sanitizer builds) install one at a time.
exec 9>"$dir.lock"
flock -w 600 9 || {
	echo "install-k8s-validate: $dir.lock stayed locked" >&2
	exit 1
}
if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$want" ]; then
	command -v npm >/dev/null || {
		echo "install-k8s-validate: npm not found (apt-get install npm)" >&2
		exit 1
	}
	echo "install-k8s-validate: npm ci into $dir" >&2
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$src/package.json" "$src/package-lock.json" "$dir/"
	# kubernetes-models asks for node >= 22 but runs on the node 20 here
	# (tests/check_manifests.py proves it on every run).
	npm ci --prefix "$dir" --no-audit --no-fund --engine-strict=false \
		--loglevel=error >&2
	echo "$want" >"$dir/.installed"
fi
echo "$dir/node_modules"
