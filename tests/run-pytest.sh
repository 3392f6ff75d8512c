#!/usr/bin/env bash
# Run pytest in the current directory and restate its tally in the
# project's summary form: one line "skipped: LABEL TEST: WHY" per skipped
# test, then "LABEL: N passed, N failed, N skipped".
# Counted from pytest's JUnit XML, one outcome per test: an error in a
# test's set-up or tear-down (a process left behind, a sanitizer report)
# fails it.  pytest exiting non-zero with no test failed (no tests
# collected, INTERNALERROR, interrupted) counts as one failure.
# usage: run-pytest.sh LABEL [pytest args...]   (exit status: pytest's)
set -u
label=$1; shift
# Debian's python3 has python3-pytest (make deps); prefer it to others.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
xml=$(mktemp)
"$PY" -m pytest -q -p no:cacheprovider --junitxml="$xml" "$@"
rc=$?
"$PY" - "$label" "$xml" "$rc" <<'EOF'
import sys
import xml.etree.ElementTree as ET

label, path, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
passed = failed = skipped = 0
try:
    cases = list(ET.parse(path).getroot().iter("testcase"))
except (OSError, ET.ParseError):
    cases = []                  # pytest died before writing it
for case in cases:
    test = "%s::%s" % (case.get("classname", "?"), case.get("name", "?"))
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    elif case.find("skipped") is not None:
        skipped += 1
        why = case.find("skipped").get("message") or "no reason given"
        print("skipped: %s %s: %s" % (label, test, why.splitlines()[0]))
    else:
        passed += 1
if rc != 0 and failed == 0:
    failed = 1
    print("failed: %s: pytest exited %d with no test failed" % (label, rc))
print("%s: %d passed, %d failed, %d skipped" % (label, passed, failed,
                                               skipped))
EOF
rm -f "$xml"
exit $rc
