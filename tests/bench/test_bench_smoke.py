"""bench/run --smoke: the benchmark still runs and its JSON parses.

Reports the figures it measured but asserts nothing about time.  Skips
(exit 77) in sanitizer builds (LUOBO_SANITIZE_BUILD=1 from CMake, or
LUOBO_SANITIZE=1 in the environment): timings there mean nothing and
ASan's memory use would only slow CI down."""
import json
import os
import subprocess
import sys

SRC = os.environ.get("LUOBO_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("LUOBO_BUILD") or os.path.join(SRC, "build")
LUOBO = os.environ.get("LUOBO_BIN") or os.path.join(BUILD, "daemon", "luobo")


def fail(msg):
    sys.stderr.write("bench_smoke: FAIL: %s\n" % msg)
    sys.exit(1)


def main():
    if os.environ.get("LUOBO_SANITIZE_BUILD") in ("1", "ON", "TRUE") or os.environ.get("LUOBO_SANITIZE") == "1":
        print("bench_smoke: sanitizer build, skipped")
        sys.exit(77)
    base = os.path.join(BUILD, "bench-smoke")
    out = os.path.join(base, "result.json")
    if os.path.exists(out):
        os.unlink(out)
    env = dict(os.environ, LUOBO_BENCH_DIR=base)
    p = subprocess.run([os.path.join(SRC, "bench", "run"), "--smoke", "--luobo", LUOBO,
                        "--work", os.path.join(base, "work"), "--out", out], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=540)
    sys.stdout.write(p.stdout[-6000:])
    if p.returncode != 0:
        fail("bench/run --smoke exited %d" % p.returncode)
    try:
        with open(out) as f:
            r = json.load(f)
    except (OSError, ValueError) as e:
        fail("no parseable result: %s" % e)
    for key in ("schema", "machine", "ratios", "limit", "ffmpeg", "luobo"):
        if key not in r:
            fail("result lacks %r" % key)
    for sec in ("limit", "ffmpeg", "luobo", "psnr", "encoder"):
        if isinstance(r.get(sec), dict) and "error" in r[sec]:
            fail("section %s failed: %s" % (sec, r[sec]["error"]))
    if r["luobo"].get("n", 0) < 1 or r["ffmpeg"].get("n", 0) < 1:
        fail("luobo or the ffmpeg CLI did not complete a run: %s / %s"
             % (r["luobo"].get("n_failed"), r["ffmpeg"].get("n_failed")))
    if not r["luobo"].get("program_frames"):
        fail("luobo wrote no program frames")
    if not r["luobo"].get("stages"):
        fail("no per-thread CPU was sampled")
    pip = r.get("encoder", {}).get("inputs", {}).get("pip", {})
    if not all((pip.get(k) or {}).get("n") for k in ("luobo", "ffmpeg")) or not (pip.get("luobo") or {}).get("psnr"):
        fail("the encoder section did not encode and measure the PiP picture with luobo and ffmpeg")
    rep = subprocess.run([sys.executable, os.path.join(SRC, "bench", "report.py"), out],
                         capture_output=True, text=True)
    if rep.returncode != 0 or "Against the limit" not in rep.stdout or "libx264" not in rep.stdout:
        fail("report.py cannot render the result: %s" % rep.stderr[-2000:])
    print("bench_smoke: ok; ratios %s" % json.dumps(r["ratios"]))


main()
