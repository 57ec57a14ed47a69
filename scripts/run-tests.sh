#!/usr/bin/env bash
# The README's test command: unit tests, short fuzzing, integration tests.
# Exit non-zero on any failure, and also when no test ran (pytest exit 5).
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
run() {
  "$@"; local r=$?
  if [ $r -eq 5 ]; then echo "run-tests: no tests collected by: $*" >&2; r=1; fi
  [ $r -ne 0 ] && rc=1
  return 0
}
echo "== unit tests"
run .venv/bin/pytest -q -m "not slow" tests/unit
echo "== short fuzz run"
run .venv/bin/python scripts/fuzz.py --seconds "${FUZZ_SHORT_SECONDS:-4}"
if [ "$(id -u)" -eq 0 ]; then
  echo "== integration tests (root)"
  run .venv/bin/pytest -q tests/integration
else
  echo "== integration tests SKIPPED: they need root (network namespaces, bridges); run 'sudo make test'"
fi
exit $rc
