#!/usr/bin/env bash
# Integration tests: the real executables, real sockets, on loopback.
# usage: run-integration.sh BIN_DIR [pytest args...]
set -u
bin=$(cd "$1" && pwd); shift
cd "$(dirname "$0")/integration"
export EPSIP_BIN="$bin"
# Debian's python3 has python3-pytest (make deps); prefer it to others.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
out=$(mktemp)
"$PY" -m pytest -q -p no:cacheprovider "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# Restate pytest's tally in the project's summary form.
p=$(grep -oE '[0-9]+ passed' "$out" | tail -1 | grep -oE '[0-9]+')
f=$(grep -oE '[0-9]+ (failed|error)' "$out" | awk '{s+=$1} END {print s+0}')
echo "integration: ${p:-0} passed, ${f:-0} failed"
rm -f "$out"
exit $rc
