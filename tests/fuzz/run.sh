#!/usr/bin/env bash
# Build the libFuzzer targets of tests/fuzz/ (clang, ASan/UBSan) and run
# each SECONDS, as many at once as there are cores, on a copy of its seeds
# (tests/fuzz/corpus/<target>/: the committed corpus never grows), with
# its dictionary when it has one.  A crash, a leak, a timeout (one input
# taking over 10 s) or an out-of-memory fails the target; its report is
# printed and the input kept in BUILD/fuzz/artifacts/<target>/.  One line
# per target with libFuzzer's count of executions, then
# "fuzz: N passed, N failed, 0 skipped".
# usage: run.sh [BUILD [SECONDS [TARGET...]]]   (targets: the Makefile's
#        FUZZ_TARGETS)
set -u
build=${1:-build}
seconds=${2:-20}
shift $(($# < 2 ? $# : 2))
cd "$(dirname "$0")/../.."
if [ $# -gt 0 ]; then
	targets=("$@")
else
	read -r -a targets <<<"$(make -s --no-print-directory fuzz-targets)"
fi
passed=0; failed=0

bins=()
for t in "${targets[@]}"; do bins+=("$build/fuzz/fuzz_$t"); done
if ! make -s --no-print-directory -j"$(nproc)" BUILD="$build" "${bins[@]}"
then
	echo "fuzz: cannot build the targets (clang and libclang-rt-dev:" \
	    "make fuzz-deps)"
	echo "fuzz: 0 passed, ${#targets[@]} failed, 0 skipped"
	exit 1
fi

# What the inputs look like, for the targets that read text.
dict_of() {
	case $1 in
	sip_frame|router) echo tests/fuzz/sip.dict ;;
	ws) echo tests/fuzz/ws.dict ;;
	udp_stun) echo tests/fuzz/stun.dict ;;
	esac
}
# Long enough to reach the limits: WS_UPGRADE_MAX (8 KiB), and the
# 4096-byte max_message sip_frame and ws try.
max_len_of() {
	case $1 in
	sip_frame|ws) echo 16384 ;;
	*) echo 4096 ;;
	esac
}

# One target, its log in $results/$t.log and its exit status in .rc.
run_one() {
	local t=$1 work dict artifacts=$build/fuzz/artifacts/$1
	work=$(mktemp -d)
	mkdir -p "$artifacts"
	cp -r "tests/fuzz/corpus/$t/." "$work/" 2>/dev/null
	dict=$(dict_of "$t")
	"$build/fuzz/fuzz_$t" -max_total_time="$seconds" \
	    -print_final_stats=1 -timeout=10 -rss_limit_mb=4096 \
	    -max_len="$(max_len_of "$t")" -artifact_prefix="$artifacts/" \
	    ${dict:+-dict="$dict"} "$work" >"$results/$t.log" 2>&1
	echo $? >"$results/$t.rc"
	rm -rf "$work"
}

# As many at once as there are cores: each target is one process.
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
jobs_max=$(nproc)
for t in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do
		wait -n
	done
	run_one "$t" &
done
wait

for t in "${targets[@]}"; do
	log=$results/$t.log
	rc=$(cat "$results/$t.rc" 2>/dev/null || echo 1)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" |
	    tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
		passed=$((passed + 1))
		echo "ok   fuzz $t: $execs executions in $seconds s" \
		    "(${rate:-?}/s)"
	else
		failed=$((failed + 1))
		echo "--- fuzz $t failed (exit $rc) after ${execs:-?}" \
		    "executions; input kept in $build/fuzz/artifacts/$t/:"
		grep -v '^#[0-9]' "$log" | tail -60
	fi
done
echo "fuzz: $passed passed, $failed failed, 0 skipped"
[ "$failed" -eq 0 ]
