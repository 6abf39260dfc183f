#!/usr/bin/env bash
# Builds the LD_PRELOAD shim and its C tests, starts the fake server on a temporary socket, runs
# each test program under the shim and prints "N passed, N failed" last.
set -uo pipefail
cd "$(dirname "$0")/../.."

if ! make -s -C src/Actors.Shim >/dev/null; then
	echo "0 passed, 1 failed"
	exit 1
fi

bin=build/shim-tests
dir=$(mktemp -d)
sock="$dir/iommufd.sock"
"$bin/fake_server" "$sock" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$dir"' EXIT

for _ in $(seq 100); do
	[ -S "$sock" ] && break
	sleep 0.05
done

. tests/shim/run_programs.sh
run_programs "$sock" 30 "$bin"/t_*
