#!/usr/bin/env bash
# Builds the LD_PRELOAD shim and its C tests, starts the fake server on a temporary socket, runs
# each test program under the shim and prints "N passed, N failed" last.
set -uo pipefail
cd "$(dirname "$0")/../.."

if ! make -s -C src/Actors.Shim >/dev/null; then
	echo "0 passed, 1 failed"
	exit 1
fi

shim="$PWD/build/libiommufd_shim.so"
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

passed=0
failed=0
for t in "$bin"/t_*; do
	name=$(basename "$t")
	if IOMMUFD_SOCKET="$sock" LD_PRELOAD="$shim" timeout 30 "$t"; then
		echo "passed: $name"
		passed=$((passed + 1))
	else
		echo "FAILED: $name (exit $?)"
		failed=$((failed + 1))
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
