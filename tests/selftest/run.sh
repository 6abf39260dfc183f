#!/usr/bin/env bash
# Builds the Linux kernel's iommufd selftest (tools/testing/selftests/iommu/iommufd.c) from a kernel
# tree, runs it through the LD_PRELOAD shim against a host of its own, and compares the outcome with
# tests/selftest/expected-failures.txt: a test that fails and is not listed, or is listed and passes,
# fails the run. Prints "N passed, N failed" (tests of the selftest that met their expectation /
# did not) and returns non-zero when any did not.
#
# KERNEL_SRC names the kernel tree. Two layouts are understood:
#   - a checkout of the kernel (tools/testing/selftests/iommu/iommufd.c at its top); the uAPI
#     headers it needs are passed through the tree's scripts/headers_install.sh first;
#   - the project's shared copy (linux/ holding those same paths, inc/ the installed headers).
# Without KERNEL_SRC, ../shared/kernel beside the repository (or beside its main checkout, for a
# git worktree) is used when it exists; when neither exists the run is skipped with one line.
#
# Other knobs: SELFTEST_STORE (host store, default memory), SELFTEST_TIMEOUT (seconds for the
# whole selftest, default 900), SELFTEST_HUGEPAGES (2 MiB pages to reserve when root, default 300).
# Extra arguments go to the selftest binary (e.g. -r FIXTURE.VARIANT.TEST).
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
expected=tests/selftest/expected-failures.txt

fail() {
	echo "$1"
	echo "0 passed, 1 failed"
	exit 1
}

if [ -z "${KERNEL_SRC:-}" ]; then
	# Beside the repository; for a git worktree, beside its main checkout too.
	main=$(dirname "$(cd "$(git rev-parse --git-common-dir 2>/dev/null || echo .git)" 2>/dev/null && pwd)")
	for candidate in ../shared/kernel "$main/../shared/kernel"; do
		[ -d "$candidate" ] && { KERNEL_SRC=$(cd "$candidate" && pwd); break; }
	done
	if [ -z "${KERNEL_SRC:-}" ]; then
		echo "kernel selftest skipped: set KERNEL_SRC to a Linux tree (none at ../shared/kernel)"
		echo "0 passed, 0 failed"
		exit 0
	fi
fi
if [ -f "$KERNEL_SRC/tools/testing/selftests/iommu/iommufd.c" ]; then
	tree=$KERNEL_SRC
	headers=""
elif [ -f "$KERNEL_SRC/linux/tools/testing/selftests/iommu/iommufd.c" ]; then
	tree=$KERNEL_SRC/linux
	headers=$KERNEL_SRC/inc
else
	fail "KERNEL_SRC=$KERNEL_SRC holds no tools/testing/selftests/iommu/iommufd.c"
fi

# libcap-dev (sys/capability.h, -lcap): installed as root when missing, as the specs install theirs.
if [ ! -f /usr/include/sys/capability.h ]; then
	[ "$(id -u)" -eq 0 ] || fail "sys/capability.h is missing; install the Debian package libcap-dev."
	lock="-o DPkg::Lock::Timeout=600"
	apt-get $lock update -qq >/dev/null &&
		DEBIAN_FRONTEND=noninteractive apt-get $lock install -y -qq libcap-dev >/dev/null ||
		fail "apt-get could not install libcap-dev"
fi

dir=$(mktemp -d)
host=""
hugepages_before=""
cleanup() {
	[ -n "$host" ] && { kill -TERM "$host" 2>/dev/null; wait "$host" 2>/dev/null; }
	[ -n "$hugepages_before" ] && echo "$hugepages_before" >/proc/sys/vm/nr_hugepages 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

# The uAPI headers as user space sees them, when the tree has not installed them.
if [ -z "$headers" ]; then
	headers=$dir/inc
	mkdir -p "$headers/linux"
	for h in iommufd vfio stddef; do
		sh "$tree/scripts/headers_install.sh" "$tree/include/uapi/linux/$h.h" "$headers/linux/$h.h" ||
			fail "headers_install.sh failed on include/uapi/linux/$h.h"
	done
fi

mkdir -p build/selftest
binary=build/selftest/iommufd
gcc -Wall -O2 -Wno-unused-function -D_GNU_SOURCE -isystem "$headers" -pthread \
	-o "$binary" "$tree/tools/testing/selftests/iommu/iommufd.c" -lcap >"$dir/gcc.log" 2>&1 ||
	{ tail -n 20 "$dir/gcc.log"; fail "the selftest did not build"; }

host_dll=src/Actors.Host/bin/Debug/net10.0/Actors.Host.dll
if [ ! -f "$host_dll" ]; then
	dotnet build src/Actors.Host -c Debug --nologo -v q >/dev/null || fail "the host did not build"
fi
make -s -C src/Actors.Shim >/dev/null || fail "the shim did not build"

# The hugetlb variants need about 300 free 2 MiB pages; only root can reserve them (restored after).
want=${SELFTEST_HUGEPAGES:-300}
if [ "$(id -u)" -eq 0 ] && [ -w /proc/sys/vm/nr_hugepages ]; then
	current=$(cat /proc/sys/vm/nr_hugepages)
	if [ "$current" -lt "$want" ]; then
		hugepages_before=$current
		echo "$want" >/proc/sys/vm/nr_hugepages
	fi
fi
echo "huge pages: $(grep HugePages_Free /proc/meminfo | awk '{print $2}') free"

sock="$dir/run/iommufd.sock"
dotnet "$host_dll" --Iommu:WorkDir "$dir" --Iommu:Store "${SELFTEST_STORE:-memory}" >"$dir/host.log" 2>&1 &
host=$!
for _ in $(seq 600); do
	[ -S "$sock" ] && grep -q "Ready:" "$dir/host.log" && break
	kill -0 "$host" 2>/dev/null || break
	sleep 0.1
done
if [ ! -S "$sock" ]; then
	tail -n 40 "$dir/host.log"
	fail "the host did not start listening on its socket"
fi

start=$(date +%s)
IOMMUFD_SOCKET="$sock" LD_PRELOAD="$repo/build/libiommufd_shim.so" \
	timeout "${SELFTEST_TIMEOUT:-900}" "$repo/$binary" "$@" >"$dir/selftest.log" 2>&1
rc=$?
echo "selftest: exit $rc after $(($(date +%s) - start)) s; $(grep -E '^# Totals' "$dir/selftest.log")"
kill -0 "$host" 2>/dev/null || { tail -n 40 "$dir/host.log"; fail "the host died during the selftest"; }

# Compare each test's outcome with the list (lines "FIXTURE.VARIANT.TEST reason", # comments).
grep -vE '^[[:space:]]*(#|$)' "$expected" | awk '{print $1}' | sort -u >"$dir/listed"
grep -E '^(not )?ok [0-9]+ ' "$dir/selftest.log" |
	sed -E 's/^not ok [0-9]+ ([^ ]+).*/fail \1/; s/^ok [0-9]+ ([^ ]+).*/pass \1/' >"$dir/outcomes"
passed=0
failed=0
while read -r verdict name; do
	if grep -qxF "$name" "$dir/listed"; then listed=1; else listed=0; fi
	if [ "$verdict" = pass ] && [ "$listed" -eq 1 ]; then
		echo "UNEXPECTED PASS: $name (listed in $expected)"
		failed=$((failed + 1))
	elif [ "$verdict" = fail ] && [ "$listed" -eq 0 ]; then
		echo "FAILED: $name"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
done <"$dir/outcomes"
if [ "$passed" -eq 0 ] && [ "$failed" -eq 0 ]; then
	tail -n 20 "$dir/selftest.log"
	fail "the selftest reported no test"
fi
if [ "$failed" -gt 0 ] && [ -n "${SELFTEST_LOG:-}" ]; then
	cp "$dir/selftest.log" "$SELFTEST_LOG"
fi
echo "selftest: $(grep -c '^pass ' "$dir/outcomes") ok, $(grep -c '^fail ' "$dir/outcomes") not ok; $(wc -l <"$dir/listed") listed as expected failures"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
