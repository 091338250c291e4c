#!/usr/bin/env bash
# install-deps.sh - installs the Debian 12 packages weir needs.
#
# Installs every Debian 12 package weir's build, tests and demo need.
# Idempotent: packages already present are skipped; apt-get update runs at
# most once per invocation, and only when something is missing.
set -euo pipefail

pkgs=(
	build-essential cmake pkg-config ninja-build git
	librdkafka-dev libprotobuf-c-dev protobuf-c-compiler
	libnng-dev liblmdb-dev libyaml-dev libcmocka-dev libjansson-dev
	kcat clang-format python3 procps iproute2 curl
	libcurl4-openssl-dev libpq-dev postgresql nodejs
	clickhouse-server
	etcd-server
	python3-yaml
	chromium prometheus
	clang
)

# npm (s3rver for the S3 tests): Debian packages it apart from nodejs;
# NodeSource's nodejs carries its own and conflicts with Debian's npm.
if ! command -v npm >/dev/null 2>&1; then
	pkgs+=(npm)
fi

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} packages present"
	exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
