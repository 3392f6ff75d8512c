#!/bin/sh
# bench/run.sh BIN_DIR -- measure both flow ownership modes on loopback.
#
# `make bench` runs `bench/run.sh build/bin`.  Each measurement starts its
# own epsipd (temporary --run-dir/--state-dir, loopback ports) and stops it
# by PID with SIGTERM; see bench/flows.py and bench/register_rate.py.
#
# Rounds interleave paper mode (--flows-per-child 1) and pooled mode so
# that every paper/pooled ratio comes from the same few minutes of a shared
# machine.  Results: $BENCH_OUT (default bench/results/<UTC time>/):
# raw.jsonl (one JSON record per run), machine.txt, summary.md.
#
# Environment:
#   BENCH_ROUNDS   rounds (default 5; every measurement runs once a round)
#   BENCH_PAPER    paper-mode flows (default 1000; never more than 1000
#                  on a shared machine: ~14 PIDs per flow)
#   BENCH_POOLED   pooled-mode flows (default 15000)
#   BENCH_REACH    flows for one extra pooled run at the end (default
#                  40000; 0 skips it)
#   BENCH_OUT      result directory
#   BENCH_ONLY     "upstream": only the embedded-vs-Kamailio REGISTER runs
#                  (they run in every round when kamailio is installed);
#                  "sipp": only the sipp part below
#
# The sipp part (bench/sipp_bench.py, issue 7 §5) runs last: EPSIP and a
# Kamailio 5.6 edge + registrar (bench/kamailio/) side by side in the same
# run, REGISTER ramps over UDP and TCP and calls/s to phones on TCP flows,
# ratios EPSIP ÷ Kamailio in summary.md, plots sipp-*.png (gnuplot,
# bench/sipp_plot.gp).  Steps of 10 s; a ramp stops after 2 steps in a
# row that did not hold.  Measured on 2 shared cores (Dec 2026): 6-9 min
# with the defaults (8 min when both systems held 5,000-10,000
# REGISTER/s); every step more that a system holds adds about 12 s; never
# more than BENCH_SIPP_LIMIT (23 min) plus start-up and phone
# registration (1 min at most): under 25 min.  BENCH_SIPP_QUICK=1: 1.5-2.5
# minutes.
#   BENCH_SIPP        0 skips the sipp part (default 1; skipped anyway
#                     without sipp)
#   BENCH_SIPP_QUICK  1: 3 s steps, REGISTER 1000,3000,7500/s, calls
#                     500,1500/s, 2 phones x 250 users
#   BENCH_SIPP_STEPS  REGISTER/s steps (default 1000,2000,3000,5000,7500,
#                     10000,12500,15000,20000)
#   BENCH_SIPP_CALL_STEPS  calls/s steps (default 250,500,1000,1500,2000,
#                     3000,4000,5000,7500)
#   BENCH_SIPP_DURATION    seconds per step (default 10, quick 3)
#   BENCH_SIPP_LIMIT  seconds for the sipp part's steps (default 1380;
#                     a step that would end later is skipped and said so)
#   BENCH_SIPP_SYSTEMS     default epsip,kamailio
set -u

BIN=${1:?usage: bench/run.sh BIN_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
ROUNDS=${BENCH_ROUNDS:-5}
PAPER=${BENCH_PAPER:-1000}
POOLED=${BENCH_POOLED:-15000}
REACH=${BENCH_REACH:-40000}
OUT=${BENCH_OUT:-$HERE/results/$(date -u +%Y%m%dT%H%M%SZ)}
RUN_LIMIT=240           # seconds, any single run

if [ "$PAPER" -gt 1000 ]; then
	echo "bench: BENCH_PAPER capped at 1000 (PIDs on a shared machine)" >&2
	PAPER=1000
fi
for b in epsipd epsip-flow-manager epsip-sip-router epsip-registrar-bridge; do
	if [ ! -x "$BIN/$b" ]; then
		echo "bench: $BIN/$b missing (run make first)" >&2
		exit 2
	fi
done

TMP=$(mktemp -d /tmp/epsip-bench-bin.XXXXXX) || exit 2
CUR=
cleanup() {
	if [ -n "$CUR" ] && kill -0 "$CUR" 2>/dev/null; then
		kill -TERM "$CUR" 2>/dev/null
		wait "$CUR" 2>/dev/null
	fi
	CUR=
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "bench: interrupted" >&2; exit 130' INT TERM HUP

# A private copy of the executables: other people's rebuilds of build/bin
# cannot change them in the middle of a run.
cp "$BIN"/epsipd "$BIN"/epsip-flow-manager "$BIN"/epsip-sip-router \
    "$BIN"/epsip-registrar-bridge "$TMP"/ || exit 2
mkdir -p "$OUT" || exit 2
RAW=$OUT/raw.jsonl
FAILED=0

{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "git: $(git -C "$HERE/.." rev-parse --short HEAD 2>/dev/null)" \
	    "$(git -C "$HERE/.." status --porcelain --untracked-files=no \
	    2>/dev/null | tr '\n' ' ')"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
	echo "mem: $(grep MemTotal /proc/meminfo)"
	echo "kernel: $(uname -srm)"
	echo "debian: $(cat /etc/debian_version 2>/dev/null)"
	echo "pid_max: $(cat /proc/sys/kernel/pid_max)"
	echo "nofile: soft $(ulimit -Sn) hard $(ulimit -Hn)"
	echo "somaxconn: $(cat /proc/sys/net/core/somaxconn)"
	echo "python: $($PY --version 2>&1)"
	echo "loadavg at start: $(cat /proc/loadavg)"
} > "$OUT/machine.txt"

# bounded WHAT COMMAND...: run in the background (so a signal reaches the
# trap at once) and wait; a failure is said and counted.
bounded() {
	what=$1
	shift
	"$@" >/dev/null &
	CUR=$!
	wait "$CUR"
	rc=$?
	CUR=
	if [ "$rc" -ne 0 ]; then
		echo "bench: $what failed (exit $rc)" >&2
		FAILED=$((FAILED + 1))
	fi
}

# run LABEL ROUND SCRIPT ARGS...: one bounded measurement.
run() {
	label=$1 round=$2 script=$3
	shift 3
	echo "== round $round: $label" >&2
	bounded "$label round $round" timeout --kill-after=20 "$RUN_LIMIT" \
	    "$PY" "$HERE/$script" --bin "$TMP" --label "$label" \
	    --round "$round" --out "$RAW" "$@"
}

flows_set() {
	r=$1
	src=$((10 + 4 * (r % 8)))       # fresh source addresses each round
	run paper-$PAPER "$r" flows.py --flows-per-child 1 --flows "$PAPER" \
	    --src-base "$src"
	run pooled4096-$PAPER "$r" flows.py --flows-per-child 4096 \
	    --flows "$PAPER" --src-base "$src"
	for fpc in 1024 4096 16384; do
		run pooled$fpc-$POOLED "$r" flows.py --flows-per-child "$fpc" \
		    --flows "$POOLED" --src-base "$src"
	done
}

register_set() {
	r=$1
	for t in udp tcp; do
		run reg-$t-paper "$r" register_rate.py --flows-per-child 1 \
		    --transport $t
		run reg-$t-pooled4096 "$r" register_rate.py \
		    --flows-per-child 4096 --transport $t
	done
	if [ "$r" -le 3 ]; then
		# Unloaded: one flow, one REGISTER at a time.
		for t in udp tcp; do
			run lat-$t-paper "$r" register_rate.py \
			    --flows-per-child 1 --transport $t --flows 1 \
			    --window 1 --duration 3
			run lat-$t-pooled4096 "$r" register_rate.py \
			    --flows-per-child 4096 --transport $t --flows 1 \
			    --window 1 --duration 3
		done
	fi
}

# Embedded registrar vs in front of Kamailio (upstream mode), same load:
# 8 flows x 8 outstanding, the same AoRs refreshed (Kamailio's table does
# not grow).  Only the edge's processes are counted in "edge CPU".
upstream_set() {
	r=$1
	command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ] ||
	    return 0
	for t in udp tcp; do
		run up-$t-embedded "$r" register_rate.py --flows-per-child 4096 \
		    --transport $t --users refresh
		run up-$t-kamailio-$t "$r" register_rate.py \
		    --flows-per-child 4096 --transport $t --users refresh \
		    --upstream $t
	done
}

# The sipp part: one bounded run of bench/sipp_bench.py.
sipp_part() {
	[ "${BENCH_SIPP:-1}" = 0 ] && return 0
	if ! command -v sipp >/dev/null 2>&1; then
		echo "bench: sipp not installed (apt-get install sip-tester)," \
		    "no sipp part" >&2
		return 0
	fi
	if [ "${BENCH_SIPP_QUICK:-0}" = 1 ]; then
		steps=${BENCH_SIPP_STEPS:-1000,3000,7500}
		csteps=${BENCH_SIPP_CALL_STEPS:-500,1500}
		dur=${BENCH_SIPP_DURATION:-3}
		phones="--phones 2 --phone-users 250"
	else
		steps=${BENCH_SIPP_STEPS:-1000,2000,3000,5000,7500,10000,12500,15000,20000}
		csteps=${BENCH_SIPP_CALL_STEPS:-250,500,1000,1500,2000,3000,4000,5000,7500}
		dur=${BENCH_SIPP_DURATION:-10}
		phones="--phones 4 --phone-users 500"
	fi
	limit=${BENCH_SIPP_LIMIT:-1380}
	echo "== sipp: EPSIP vs Kamailio edge+registrar (at most $limit s)" >&2
	# shellcheck disable=SC2086
	bounded "sipp part" timeout --kill-after=30 $((limit + 240)) \
	    "$PY" "$HERE/sipp_bench.py" --bin "$TMP" --out "$RAW" \
	    --dir "$OUT" --steps "$steps" --call-steps "$csteps" \
	    --duration "$dur" --call-duration "$dur" --limit "$limit" \
	    $phones --systems "${BENCH_SIPP_SYSTEMS:-epsip,kamailio}"
}

# The machine at the end, the summary; the exit status says if all ran.
finish() {
	echo "loadavg at end: $(cat /proc/loadavg)" >> "$OUT/machine.txt"
	echo "elapsed: $(( $(date +%s) - START )) s, failed runs: $FAILED" \
	    >> "$OUT/machine.txt"
	"$PY" "$HERE/summarize.py" "$OUT" > "$OUT/summary.md"
	cat "$OUT/summary.md"
	echo "bench: results in $OUT ($(( $(date +%s) - START )) s," \
	    "$FAILED failed run(s))" >&2
	[ "$FAILED" -eq 0 ]
	exit
}

START=$(date +%s)
if [ "${BENCH_ONLY:-}" = sipp ]; then
	sipp_part
	finish
fi
if [ "${BENCH_ONLY:-}" = upstream ]; then
	r=1
	while [ "$r" -le "$ROUNDS" ]; do
		upstream_set "$r"
		r=$((r + 1))
	done
	finish
fi
r=1
while [ "$r" -le "$ROUNDS" ]; do
	if [ $((r % 2)) -eq 1 ]; then
		flows_set "$r"
		register_set "$r"
	else
		register_set "$r"
		flows_set "$r"
	fi
	upstream_set "$r"
	r=$((r + 1))
done
# A burst without a client window (3 runs: the listen backlog), and once
# how far pooled mode goes.
for r in 1 2 3; do
	run pooled4096-$POOLED-burst "$r" flows.py --flows-per-child 4096 \
	    --flows "$POOLED" --window 0 --src-base $((60 + r))
done
if [ "$REACH" -gt 0 ]; then
	run pooled4096-$REACH 1 flows.py --flows-per-child 4096 \
	    --flows "$REACH" --workers 4 --src-base 70
fi
# Once each: 3000 registered flows ending together (clients reset; the
# owning child killed).
run closed-rst 1 closed_burst.py --how rst --flows 3000 --src-base 80
run closed-crash 1 closed_burst.py --how crash --flows 3000 --src-base 81
sipp_part
finish
