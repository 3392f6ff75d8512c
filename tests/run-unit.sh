#!/usr/bin/env bash
# Run cmocka unit test binaries; print a line "skipped: unit-VARIANT BIN
# TEST: WHY" per skipped test, then "unit-VARIANT: N passed, N failed,
# N skipped".  A binary that exits non-zero counts at least one failure.
# usage: run-unit.sh release|asan|valgrind BIN...
set -u
variant=$1; shift
passed=0; failed=0; skipped=0; failed_bins=()
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# nng 1.5.2's own leak at shutdown (see the file).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$(cd "$(dirname "$0")" && pwd)/lsan.supp:print_suppressions=0}
for bin in "$@"; do
	name=$(basename "$bin")
	log=$(mktemp)
	if [ "$variant" = valgrind ]; then
		valgrind -q --error-exitcode=99 --leak-check=full \
		    --errors-for-leak-kinds=definite "$bin" >"$log" 2>&1
	else
		"$bin" >"$log" 2>&1
	fi
	rc=$?
	# cmocka prints "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)..."
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	k=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	p=${p:-0}; f=${f:-0}; k=${k:-0}
	skipped=$((skipped + k))
	# A skip is never a pass: name it, with the reason the test gave
	# (tests/unit/skip_reason.h).
	sed -n 's/^\[  SKIPPED \] \([A-Za-z0-9_]*\)$/\1/p' "$log" | sort -u |
	while read -r test; do
		why=$(sed -n "s/^skip reason: $test: //p" "$log" | head -1)
		echo "skipped: unit-$variant $name $test: ${why:-no reason given}"
	done
	if [ $rc -ne 0 ] && [ "$f" = 0 ]; then f=1; fi
	passed=$((passed + p)); failed=$((failed + f))
	if [ $rc -ne 0 ]; then
		failed_bins+=("$name"); echo "--- $variant $name failed (exit $rc):"
		tail -40 "$log"
	else
		[ "$k" = 0 ] && k= || k=", $k skipped"
		echo "ok   $variant $name ($p tests$k)"
	fi
	rm -f "$log"
done
echo "unit-$variant: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
