#!/usr/bin/env bash
# install-deps.sh — install pysectrace's Debian build and test dependencies.
#   tools/install-deps.sh            install whatever is missing (apt-get)
#   tools/install-deps.sh --check    exit 0 when everything is present
#   tools/install-deps.sh --bench    also the peers `make bench` compares with
#                                    (optional: make test does not need them)
set -euo pipefail

PACKAGES=(make gcc clang libclang-rt-dev llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
	libjson-c-dev libcmocka-dev systemtap-sdt-dev python3 python3-dev libmicrohttpd-dev libyaml-dev
	libzstd-dev libssl-dev)
# capture reports: a test opens report.html in headless Chromium
PACKAGES+=(chromium)
# monitor tests: a real Prometheus server scrapes it, curl fetches /metrics,
# systemd-analyze verifies the unit
PACKAGES+=(prometheus curl systemd)
# the stdlib test suite of Debian's python3, for the corpus (make test)
if [ -x /usr/bin/python3 ]; then
	PACKAGES+=("libpython$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')-testsuite")
fi

if [ "${1:-}" = "--bench" ]; then
	PACKAGES+=(strace bpftrace)
	shift
fi

missing() {
	local out=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			out+=("$p")
	done
	echo "${out[@]:-}"
}

todo=$(missing)
if [ "${1:-}" = "--check" ]; then
	[ -z "$todo" ] && exit 0
	echo "missing packages: $todo" >&2
	exit 1
fi
[ -z "$todo" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install: $todo (run: sudo $0)" >&2
	exit 1
fi
echo "install-deps: installing $todo" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $todo
