"""Audio clock drift: a synthetic microphone whose clock runs PPM fast (or
slow) delivers 48 kHz x (1 + PPM/1e6) samples per program second, stamped
with their true time as a card is stamped on lb_clock.  The framework's
drift loop must keep its sound on the program timeline: the tone that
starts each minute of the room (speaks = 0-1) is found within 20 ms of the
minute, over 10 minutes read offline.  Uncorrected, 1000 ppm is 60 ms a
minute: 540 ms at the last onset.

Usage: test_drift.py PPM
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caplib import *  # noqa: E402,F401

ppm = float(sys.argv[1])
wd = scratch("drift_%g" % ppm)
cfg = """[mic.lectern]
type = synthetic
frequency_hz = 1000
speaks = 0-1
drift_ppm = %g
""" % ppm
ev = run_tool("mic", cfg, "mic.lectern", 600, "--offline", "--onsets", workdir=wd)
e = end(ev)
print(e)
check(e["state"] == "live", "the mic ran for 10 minutes")
check(abs(e["drift_ppm"] - ppm) < max(5, abs(ppm) * 0.01), "measured drift %.1f ppm (simulated %g)" % (e["drift_ppm"], ppm))
onsets = [o["index"] for o in by(ev, "onset")]
minute = 60 * 48000
check(len(onsets) == 9, "an onset at each minute 1..9 (%d)" % len(onsets))
worst = 0
for k, idx in enumerate(onsets, 1):
    err_ms = (idx - k * minute) / 48.0
    uncorrected = k * 60 * ppm / 1000.0
    print("minute %d: %+.2f ms (uncorrected it would be %+.0f ms)" % (k, err_ms, uncorrected))
    worst = max(worst, abs(err_ms))
check(worst <= 20, "audio stays within 20 ms of the program clock over 10 minutes (worst %.2f ms)" % worst)
print("PASS")
