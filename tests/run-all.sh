#!/usr/bin/env bash
# make test: unit tests (plain, ASan/UBSan, valgrind), integration tests
# (plain and ASan daemons), the fuzz targets, the NAT lab, the browser
# phones, the Docker image.  Each suite's
# runner prints a line "skipped: SUITE TEST: WHY" per skipped test and
# ends with "SUITE: N passed, N failed, N skipped"; this adds them up and
# ends with every skip line, every failed suite, and one line "N passed,
# N failed, N skipped".  A suite that exits non-zero counts at least one
# failure, whatever its line said (pytest's exit 5, an INTERNALERROR,
# namespaces or containers left behind); so does one that prints no
# summary line.
set -u
build=${1:-build}
cd "$(dirname "$0")/.."
total_p=0; total_f=0; total_k=0; status=0
skips=$(mktemp); fails=$(mktemp)
trap 'rm -f "$skips" "$fails"' EXIT
summary_re='^[A-Za-z0-9_-]+: [0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$'
run() { # name, command...
	local name=$1; shift
	local log line rc p f k
	log=$(mktemp)
	echo "=== $name"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	line=$(grep -E "$summary_re" "$log" | tail -1)
	p=$(echo "$line" | sed -nE 's/.* ([0-9]+) passed.*/\1/p')
	f=$(echo "$line" | sed -nE 's/.* ([0-9]+) failed.*/\1/p')
	k=$(echo "$line" | sed -nE 's/.* ([0-9]+) skipped$/\1/p')
	p=${p:-0}; f=${f:-0}; k=${k:-0}
	grep '^skipped: ' "$log" >>"$skips"
	if [ -z "$line" ]; then
		f=$((f > 0 ? f : 1))
		echo "failed: $name: no summary line (exit $rc)" >>"$fails"
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "failed: $name: exit $rc after \"0 failed\"" >>"$fails"
	elif [ "$f" -gt 0 ]; then
		echo "failed: $name: $f failed (exit $rc)" >>"$fails"
	fi
	[ "$rc" -eq 0 ] && [ "$f" -eq 0 ] || status=1
	total_p=$((total_p + p)); total_f=$((total_f + f))
	total_k=$((total_k + k))
	rm -f "$log"
}
run unit-release tests/run-unit.sh release "$build"/release/tests/*_test
run unit-asan tests/run-unit.sh asan "$build"/asan/tests/*_test
run unit-valgrind tests/run-unit.sh valgrind "$build"/release/tests/*_test
run integration tests/run-integration.sh "$build/bin"
# The daemons themselves under ASan/UBSan, on the same call flows; the
# fixture fails a test whose processes wrote a sanitizer report.
run integration-asan tests/run-integration.sh "$build/asan/bin"
# The libFuzzer targets (tests/fuzz), 20 s each on a copy of their seeds:
# a crash, leak or timeout fails the suite.
run fuzz tests/fuzz/run.sh "$build" 20
# A real phone (baresip) behind a real NAT in network namespaces; when
# not root or namespaces are missing, its tests are reported skipped.
run nat tests/nat/run.sh "$build/bin"
# Two browser phones, JsSIP and SIP.js in chromium, over WSS through the
# edge, calling each other (tests/browser); skipped with why when not root.
run browser tests/browser/run.sh "$build/bin"
# The image of deploy/docker built and run by docker-compose, phones
# against it; with no Docker engine reachable, its tests are reported
# skipped with why (tests/docker/run.sh).
run docker tests/docker/run.sh
echo
cat "$skips" "$fails"
echo "$total_p passed, $total_f failed, $total_k skipped"
exit $status
