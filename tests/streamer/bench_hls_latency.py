"""When does a frame become playable over HLS?  For each segment: the time
from its first frame leaving the encoder to the playlist listing it (the
HLS output's share of glass-to-glass; a player then adds its own buffer,
typically 3 target durations behind the live edge).  Not a ctest:
    STREAMER_TOOL=... python3 bench_hls_latency.py [segment_s] [seconds]"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from testlib import TOOL

segment_s = sys.argv[1] if len(sys.argv) > 1 else "2"
seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
work = tempfile.mkdtemp(prefix="lb-hls-")
cfg = os.path.join(work, "luobo.ini")
with open(cfg, "w") as f:
    f.write(f"[output.web]\ntype = hls\ndir = {work}/live\nsegment_s = {segment_s}\nlist_size = 48\n")
tool = subprocess.Popen([TOOL, "live", cfg, str(seconds), "paced"], stdout=subprocess.PIPE, text=True,
                        stderr=subprocess.DEVNULL)
t0 = int(tool.stdout.readline().split("=")[1])
seen = {}
playlist = os.path.join(work, "live", "program.m3u8")
while tool.poll() is None:
    try:
        with open(playlist) as f:
            names = re.findall(r"^(program-\d+\.ts)$", f.read(), re.M)
    except OSError:
        names = []
    now = time.monotonic_ns() // 1000
    for n in names:
        seen.setdefault(n, now)
    time.sleep(0.005)
tool.communicate()


def first_pts_us(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "packet=pts_time", "-read_intervals", "%+#1", "-of", "csv=p=0", path],
                       capture_output=True, text=True)
    return int(float(p.stdout.split()[0].strip(",")) * 1e6) - 10_000_000


delays = []
for name, at in sorted(seen.items())[:-1]:       # the last one is written at stop
    path = os.path.join(work, "live", name)
    if os.path.exists(path):
        delays.append((at - (t0 + first_pts_us(path))) / 1e6)
print(f"HLS {segment_s} s segments, {len(delays)} segments: first frame -> listed in the playlist "
      f"median {statistics.median(delays):.3f} s, max {max(delays):.3f} s "
      f"(the last frame of a segment waits ~1 frame; a player adds ~3 target durations)")
subprocess.run(["rm", "-rf", work])
