#!/usr/bin/env bash
# The whole test suite on a fresh machine: restore, build, every spec project (PostgreSQL 15 and
# Graphviz are installed by the specs themselves when missing, tests/Actors.TestSupport/DebianPackages.cs),
# then the C programs (built with gcc) through the shim. Ends with "N passed, N failed".
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

# The C side: the shim against a fake server, the conformance programs through the shim against a
# real host (both build with gcc), then the kernel's iommufd selftest through the shim, compared
# with tests/selftest/expected-failures.txt. Each ends with its own "N passed, N failed".
for suite in tests/shim/run.sh tests/iommufd/run.sh tests/selftest/run.sh; do
  "$suite" 2>&1 | tee "$log"
  suite_status=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  [ -n "$line" ] || line="0 passed, 1 failed"
  passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
  failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
  [ "$suite_status" -eq 0 ] || status=$suite_status
done

echo "$passed passed, $failed failed"
exit "$status"
