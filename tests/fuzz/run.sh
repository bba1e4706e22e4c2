#!/bin/sh
# Builds luobo's libFuzzer harnesses with clang (ASan + UBSan, and
# source-based coverage) and runs them: each one first replays its whole
# corpus (tests/fuzz/corpus/<harness>/, the regression test), then fuzzes
# for a fixed time, then reports libFuzzer's execs/s and edge coverage and
# the line coverage of the files it tests.  See README.md.
#
#   tests/fuzz/run.sh [--seconds N | --minutes N] [--seed N] [--merge] [--ci]
#                     [--build-only] [HARNESS...]
#
#   --seconds N, --minutes N  fuzzing time per harness (default 30 s)
#   --seed N                  libFuzzer's seed (default 1: CI runs repeat)
#   --merge                   afterwards, add what the run found that covers
#                             something new to tests/fuzz/corpus/ (minimised)
#   --ci                      as ctest runs it: skipped (77) under
#                             LUOBO_SANITIZE=1, the fuzzers being ASan+UBSan
#   --build-only              build and stop
#   HARNESS                   config, http, lesson, hls, timetable, ical, library,
#                             director (default: all)
#
# The build goes to $LUOBO_BUILD/fuzz (ctest sets LUOBO_BUILD), else to
# build-fuzz/ in the source tree; crashes to <build>/artifacts/, with the
# command that replays them.
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
here="$src/tests/fuzz"
seconds=30 seed=1 merge=0 ci=0 build_only=0 harnesses=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift ;;
    --minutes) seconds=$(($2 * 60)); shift ;;
    --seed) seed=$2; shift ;;
    --merge) merge=1 ;;
    --ci) ci=1 ;;
    --build-only) build_only=1 ;;
    config|http|lesson|hls|timetable|ical|library|director) harnesses="$harnesses $1" ;;
    *) echo "usage: tests/fuzz/run.sh [--seconds N|--minutes N] [--seed N] [--merge] [--ci] [--build-only] [config|http|lesson|hls|timetable|ical|library|director]..." >&2
       exit 2 ;;
  esac
  shift
done
[ -n "$harnesses" ] || harnesses="config http lesson hls timetable ical library director"

if [ $ci = 1 ] && [ "${LUOBO_SANITIZE:-0}" = 1 ]; then
  echo "skipped: the fuzzers are ASan+UBSan builds already and run in the plain pass"
  exit 77
fi
for tool in clang llvm-profdata llvm-cov; do
  command -v $tool >/dev/null 2>&1 || { echo "fuzz: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

build=${LUOBO_BUILD:+$LUOBO_BUILD/fuzz}
build=${build:-$src/build-fuzz}
jobs=$(nproc 2>/dev/null || echo 2)
if [ ! -f "$build/CMakeCache.txt" ]; then
  mkdir -p "$build"
  CC=clang cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLUOBO_FUZZ=ON \
    -DLUOBO_FUZZ_COVERAGE=ON >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log"; exit 1; }
fi
targets=""
for h in $harnesses; do targets="$targets fuzz_$h"; done
# shellcheck disable=SC2086
cmake --build "$build" -j"$jobs" --target $targets >"$build/build.log" 2>&1 ||
  { grep -E "error|Error" "$build/build.log" | head -40; exit 1; }
[ $build_only = 0 ] || { echo "fuzz: built$targets in $build"; exit 0; }

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$src/tests/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# The files each harness is about, for the line coverage.
files_of() {
  case "$1" in
    config) echo core/lb_config.c daemon/pipeline.c capture/source.c capture/mic.c \
                 director/director.c director/analysis.c director/compositor.c encoder/video.c \
                 streamer/streamer.c webui/webui.c webui/tls.c ;;
    http)   echo webui/http.c webui/files.c webui/api.c webui/auth.c ;;
    lesson) echo streamer/lesson.c streamer/output_upload.c streamer/util.c ;;
    hls)    echo streamer/output_hls.c ;;
    timetable) echo core/lb_schedule.c ;;
    ical)   echo core/lb_ical.c core/lb_schedule.c ;;
    library) echo webui/api.c core/lb_meta.c ;;
    director) echo daemon/recut.c webui/recut.c ;;
  esac
}

status=0
for h in $harnesses; do
  bin="$build/tests/fuzz/fuzz_$h"
  work="$build/work/$h"
  prof="$build/profile/$h"
  mkdir -p "$build/artifacts"
  rm -rf "$work" "$prof"
  mkdir -p "$work" "$prof"
  log="$build/fuzz_$h.log"
  echo "== fuzz_$h: replaying tests/fuzz/corpus/$h ($(ls "$here/corpus/$h" | wc -l) inputs)"
  # each input once, named in the output: a failure says which file it was
  if ! LLVM_PROFILE_FILE="$prof/replay.profraw" "$bin" "$here/corpus/$h"/* >"$log" 2>&1; then
    grep -a -B2 -A30 "ERROR\|==fuzz==\|runtime error" "$log" | head -60
    echo "fuzz_$h: FAILED on the corpus (full output: $log)"
    status=1
    continue
  fi
  echo "== fuzz_$h: fuzzing for $seconds s (seed $seed)"
  if ! LLVM_PROFILE_FILE="$prof/fuzz.profraw" "$bin" -max_total_time="$seconds" -seed="$seed" \
       -timeout=25 -print_final_stats=1 -artifact_prefix="$build/artifacts/$h-" \
       "$work" "$here/corpus/$h" >"$log" 2>&1; then
    grep -a -B2 -A40 "ERROR\|==fuzz==\|runtime error" "$log" | head -80
    crash=$(sed -n "s/.*Test unit written to \(.*\)/\1/p" "$log" | tail -1)
    echo "fuzz_$h: FAILED: the input is $crash; replay it with: $bin $crash"
    echo "(fix the bug, then add the input to tests/fuzz/corpus/$h/; full output: $log)"
    status=1
    continue
  fi
  last=$(grep -a "^#[0-9]" "$log" | tail -1)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
  ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
  llvm-profdata merge -sparse "$prof"/*.profraw -o "$prof/all.profdata"
  # Lines of each file, and of the functions the run entered at all (the
  # files also hold code no input can reach, e.g. a source's capture loop).
  # shellcheck disable=SC2046
  (cd "$src" && llvm-cov report "$bin" -instr-profile="$prof/all.profdata" -show-functions \
     $(files_of "$h")) >"$prof/report.txt" 2>/dev/null || true
  awk -v top="$src/" '
    function show(name, l, m, rl, rm) {
      printf "   %-24s %6d lines %5.1f%%   %6d in functions entered %5.1f%%\n", name, l,
             l ? 100 * (l - m) / l : 0, rl, rl ? 100 * (rl - rm) / rl : 0 }
    /^File / { if (f) show(f, l, m, rl, rm); f = $2; gsub(/[\047:]/, "", f); sub(top, "", f)
               l = m = rl = rm = 0; next }
    $1 != "TOTAL" && NF == 10 && $2 ~ /^[0-9]+$/ && $5 ~ /^[0-9]+$/ {
      l += $5; m += $6; L += $5; M += $6
      if ($3 < $2) { rl += $5; rm += $6; RL += $5; RM += $6 } }
    END { if (f) show(f, l, m, rl, rm); show("all of the above", L, M, RL, RM) }' \
    "$prof/report.txt"
  echo "fuzz_$h: ok: $runs runs in $seconds s, $rate execs/s, cov $cov edges, ft $ft, corpus $corp (+$(ls "$work" | wc -l) new)"
  if [ $merge = 1 ]; then
    before=$(ls "$here/corpus/$h" | wc -l)
    "$bin" -merge=1 "$here/corpus/$h" "$work" >>"$log" 2>&1
    echo "fuzz_$h: merged: corpus $before -> $(ls "$here/corpus/$h" | wc -l) inputs"
  fi
done
exit $status
