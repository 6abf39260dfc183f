# Sourced by the C suites' runners: run_programs SOCKET SECONDS PROGRAM... runs each program under
# the shim against SOCKET, prints a line per program and "N passed, N failed", and returns non-zero
# when any failed.
run_programs() {
	local sock=$1 seconds=$2 passed=0 failed=0 t rc
	shift 2
	for t in "$@"; do
		IOMMUFD_SOCKET="$sock" LD_PRELOAD="$PWD/build/libiommufd_shim.so" timeout "$seconds" "$t"
		rc=$?
		if [ "$rc" -eq 0 ]; then
			echo "passed: ${t##*/}"
			passed=$((passed + 1))
		else
			echo "FAILED: ${t##*/} (exit $rc)"
			failed=$((failed + 1))
		fi
	done
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
