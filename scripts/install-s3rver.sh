#!/usr/bin/env bash
# install-s3rver.sh - installs s3rver, the S3 server of the tests.
#
# Installs s3rver (an S3-compatible server on node.js, test use only) into
# a fixed cache directory and prints the path of its executable.
# Idempotent: an install of the pinned version is reused; anything else
# there (a half-finished install, another version) is replaced.
#   scripts/install-s3rver.sh          # prints .../node_modules/.bin/s3rver
#   WEIR_CACHE_DIR=/x scripts/install-s3rver.sh
# Needs npm (Debian's nodejs/npm packages) and access to the npm registry
# on the first run. Progress goes to stderr, the path alone to stdout.
set -euo pipefail

version=3.7.1
dir="${WEIR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/weir}/s3rver"
bin="$dir/node_modules/.bin/s3rver"
pkg="$dir/node_modules/s3rver/package.json"

installed() {
	[ -x "$bin" ] && [ -f "$pkg" ] &&
		node -e 'process.exit(require(process.argv[1]).version ===
			process.argv[2] ? 0 : 1)' "$pkg" "$version" 2>/dev/null
}

mkdir -p "$(dirname "$dir")"
# Two test runs at once (plain and sanitizer builds) install one at a time.
exec 9>"$dir.lock"
flock -w 600 9 || {
	echo "install-s3rver: $dir.lock stayed locked" >&2
	exit 1
}
if ! installed; then
	command -v npm >/dev/null || {
		echo "install-s3rver: npm not found (apt-get install npm)" >&2
		exit 1
	}
	echo "install-s3rver: installing s3rver@$version into $dir" >&2
	rm -rf "$dir"
	mkdir -p "$dir"
	# A private package.json keeps npm from walking up to another project.
	echo '{"name":"weir-s3rver","private":true}' >"$dir/package.json"
	npm install --prefix "$dir" "s3rver@$version" --no-audit --no-fund \
		--no-save --loglevel=error >&2
	installed || {
		echo "install-s3rver: s3rver@$version not usable in $dir" >&2
		exit 1
	}
fi
echo "$bin"
