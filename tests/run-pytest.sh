#!/usr/bin/env bash
# Run pytest in the current directory and restate its tally in the
# project's summary form, "LABEL: N passed, N failed".
# usage: run-pytest.sh LABEL [pytest args...]   (exit status: pytest's)
set -u
label=$1; shift
# Debian's python3 has python3-pytest (make deps); prefer it to others.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
out=$(mktemp)
"$PY" -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
p=$(grep -oE '[0-9]+ passed' "$out" | tail -1 | grep -oE '[0-9]+')
f=$(grep -oE '[0-9]+ (failed|error)' "$out" | awk '{s+=$1} END {print s+0}')
echo "$label: ${p:-0} passed, ${f:-0} failed"
rm -f "$out"
exit $rc
