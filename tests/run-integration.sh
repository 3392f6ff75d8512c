#!/usr/bin/env bash
# Integration tests: the real executables, real sockets, on loopback.
# usage: run-integration.sh BIN_DIR [pytest args...]
set -u
bin=$(cd "$1" && pwd); shift
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/integration"
export EPSIP_BIN="$bin"
# The sanitizer build's run says so in its summary and skip lines.
label=integration
case $bin in */asan/bin) label=integration-asan ;; esac
exec "$here/run-pytest.sh" "$label" "$@"
