#!/usr/bin/env bash
# Runs the C conformance programs of tests/iommufd through the LD_PRELOAD shim against a real
# host (in-memory store, temporary working folder). Expects the host to be built (test.sh's
# dotnet test builds it); builds the shim and the programs with gcc; prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."

host_dll=src/Actors.Host/bin/Debug/net10.0/Actors.Host.dll
if [ ! -f "$host_dll" ]; then
	dotnet build src/Actors.Host -c Debug --nologo -v q >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
fi
if ! make -s -C src/Actors.Shim >/dev/null; then
	echo "0 passed, 1 failed"
	exit 1
fi

dir=$(mktemp -d)
sock="$dir/run/iommufd.sock"
dotnet "$host_dll" --Iommu:WorkDir "$dir" --Iommu:Store memory >"$dir/host.log" 2>&1 &
host=$!
trap 'kill -TERM "$host" 2>/dev/null; wait "$host" 2>/dev/null; rm -rf "$dir"' EXIT

for _ in $(seq 600); do
	[ -S "$sock" ] && grep -q "Ready:" "$dir/host.log" && break
	kill -0 "$host" 2>/dev/null || break
	sleep 0.1
done
if [ ! -S "$sock" ]; then
	echo "the host did not start listening on its socket; its log:"
	tail -n 40 "$dir/host.log"
	echo "0 passed, 1 failed"
	exit 1
fi

. tests/shim/run_programs.sh
run_programs "$sock" 60 build/iommufd-tests/t_*
