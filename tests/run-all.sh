#!/usr/bin/env bash
# make test: unit tests (plain and ASan/UBSan), then integration tests;
# ends with one line "N passed, N failed".
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
total_p=0; total_f=0; status=0
summary() { # add the counts of a "X: N passed, N failed" line
	local line; line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
	local p f
	p=$(echo "$line" | sed -E 's/.* ([0-9]+) passed.*/\1/')
	f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
	total_p=$((total_p + ${p:-0})); total_f=$((total_f + ${f:-0}))
}
run() { # name, command...
	local name=$1; shift
	local log; log=$(mktemp)
	echo "=== $name"
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	summary "$log"
	if [ "$rc" -ne 0 ]; then
		status=1
		grep -qE '[0-9]+ passed, [0-9]+ failed' "$log" ||
		    total_f=$((total_f + 1))
	fi
	rm -f "$log"
}
run unit tests/run-unit.sh release "$build"/release/tests/*_test
run unit-asan tests/run-unit.sh asan "$build"/asan/tests/*_test
run unit-valgrind tests/run-unit.sh valgrind "$build"/release/tests/*_test
run integration tests/run-integration.sh "$build/bin"
# The daemons themselves under ASan/UBSan, on the same call flows; the
# fixture fails a test whose processes wrote a sanitizer report.
run integration-asan tests/run-integration.sh "$build/asan/bin"
# A real phone (baresip) behind a real NAT in network namespaces; prints
# "skipped: ..." and counts nothing when not root or namespaces are missing.
run nat tests/nat/run.sh "$build/bin"
echo
echo "$total_p passed, $total_f failed"
exit $status
