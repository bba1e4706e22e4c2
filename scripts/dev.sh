#!/bin/sh
# luobo's two set-up commands (see README.md):
#   scripts/dev.sh demo             install, build, run the demo classroom
#   scripts/dev.sh test             install, build (warnings are errors), run every test
#   scripts/dev.sh test --sanitize  the same under AddressSanitizer + UndefinedBehaviorSanitizer
# Safe to run again: set-up is idempotent and builds are incremental.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
what=${1:-}
sanitize=0
[ "${2:-}" = "--sanitize" ] && sanitize=1
jobs=$(nproc 2>/dev/null || echo 2)

"$top/scripts/setup.sh"
# Browser tests drive Debian's Chromium with playwright-core from npm.
if [ "$what" = test ] && [ -f "$top/tests/browser/package.json" ]; then
  (cd "$top/tests/browser" && npm install --no-audit --no-fund --loglevel=error)
fi
if [ -x "$top/webui/fetch-hlsjs.sh" ]; then
  "$top/webui/fetch-hlsjs.sh"
fi

case "$what" in
  demo)
    cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$top/build" -j"$jobs"
    echo "luobo: starting the demo classroom; open http://localhost:8080/ (Ctrl-C stops)"
    exec "$top/build/daemon/luobo"
    ;;
  test)
    if [ $sanitize = 1 ]; then
      build="$top/build-sanitize"
      cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DLUOBO_WERROR=ON -DLUOBO_SANITIZE=ON >/dev/null
      export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
      export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
      export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
      export LUOBO_SANITIZE=1   # tests that only measure speed skip themselves
      # the long sync test runs five minutes: every tick runs the same code,
      # and what a long run finds (a 32-bit time that wraps at 4295 s) is
      # the plain run's (4400 s)
      export LUOBO_SYNC_TEST_S=300
      export LUOBO_DRIFT_TEST_S=130   # the five-minute drift test runs two
    else
      build="$top/build"
      cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLUOBO_WERROR=ON >/dev/null
    fi
    cmake --build "$build" -j"$jobs"
    cd "$build"
    ctest --output-on-failure --timeout 900 ${LUOBO_CTEST_ARGS:-}
    ;;
  *)
    echo "usage: scripts/dev.sh demo | test [--sanitize]" >&2
    exit 2
    ;;
esac
