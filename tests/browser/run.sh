#!/usr/bin/env bash
# The browser test (issue 11): JsSIP and SIP.js phones in Debian's
# chromium, driven by playwright-core, register through EPSIP over secure
# WebSocket and call each other, inside a network namespace of the test's
# own (tests/browser/README.md).
# usage: run.sh BIN_DIR [pytest args...]
# Installs what is missing first (install.sh).  Ends with the summary
# line "browser: N passed, N failed, N skipped"; when the machine cannot
# run it (not root, no network namespaces) every test is reported
# skipped with the reason and the exit status is 0.  The screenshots, the
# phones' SIP traces and EPSIP's log go to EPSIP_BROWSER_RESULTS (default
# build/test-browser).
set -u
[ $# -ge 1 ] || { echo "usage: $0 BIN_DIR [pytest args...]" >&2; exit 2; }
bin=$(cd "$1" && pwd) || exit 2; shift
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
pytest_args=("$@")
skip() {
	echo "browser test cannot run here: $*"
	EPSIP_BROWSER_SKIP="$*" exec ../run-pytest.sh browser "${pytest_args[@]}"
}
[ "$(id -u)" = 0 ] || skip "not root (network namespaces need CAP_SYS_ADMIN)"
command -v ip >/dev/null && ip netns list >/dev/null 2>&1 ||
	skip "no 'ip netns' (iproute2)"
probe=epsip-browser-probe-$$
ip netns add "$probe" 2>/dev/null || skip "cannot create network namespaces"
ip netns del "$probe"
[ -x "$bin/epsipd" ] || { echo "no $bin/epsipd: run make first" >&2; exit 2; }
if ! ./install.sh; then
	# Not a skip: a machine that can run the test but failed to install
	# what it needs is a failure to see.
	echo "failed: browser: install.sh could not install what the test needs"
	echo "browser: 0 passed, 1 failed, 0 skipped"
	exit 1
fi
export EPSIP_BIN="$bin"
results=${EPSIP_BROWSER_RESULTS:-$here/../../build/test-browser}
mkdir -p "$results"
export EPSIP_BROWSER_RESULTS=$(cd "$results" && pwd)
start=$(date +%s)
# The summary line is held back and printed last, after where the
# screenshots are.
summary_re='^browser: [0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$'
out=$(mktemp)
trap 'rm -f "$out"' EXIT
../run-pytest.sh browser "${pytest_args[@]}" | tee "$out" |
	grep --line-buffered -v -E "$summary_re"
rc=${PIPESTATUS[0]}
left=$(ip netns list | grep -c '^epsip-browser-' || true)
if [ "$left" != 0 ]; then
	echo "failed: browser: $left namespace(s) left behind"
	rc=1
fi
echo "browser: took $(( $(date +%s) - start )) s; screenshots, SIP traces and EPSIP's log in $EPSIP_BROWSER_RESULTS:"
ls "$EPSIP_BROWSER_RESULTS" | sed 's/^/  /'
grep -E "$summary_re" "$out" | tail -1
exit $rc
