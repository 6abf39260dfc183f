#!/usr/bin/env bash
# The whole test suite on a fresh machine: restore, build, every spec project (PostgreSQL 15 is
# installed and started by the specs' own fixture when missing), then the C shim's programs
# (built with gcc by tests/shim/run.sh). Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"

log=$(mktemp)
trap 'rm -f "$log"' EXIT

dotnet test IommuActors.sln --nologo --logger "console;verbosity=minimal" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# dotnet test prints one summary line per test assembly; add them up.
passed=$(grep -E '(Passed|Failed)! +- ' "$log" | sed -E 's/.*Passed: +([0-9]+).*/\1/' | awk '{s+=$1} END {print s+0}')
failed=$(grep -E '(Passed|Failed)! +- ' "$log" | sed -E 's/.*Failed: +([0-9]+),.*/\1/' | awk '{s+=$1} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # the build or a test host failed before any test could report
fi

# The C side ends with its own "N passed, N failed" line; add it in.
tests/shim/run.sh 2>&1 | tee "$log"
shim_status=${PIPESTATUS[0]}
shim_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
[ -n "$shim_line" ] || shim_line="0 passed, 1 failed"
passed=$((passed + $(echo "$shim_line" | cut -d' ' -f1)))
failed=$((failed + $(echo "$shim_line" | cut -d' ' -f3)))
[ "$shim_status" -eq 0 ] || status=$shim_status

echo "$passed passed, $failed failed"
exit "$status"
