"""Measures what the streamer adds between a packet leaving the encoder and
its arrival at an SRT receiver on 127.0.0.1: queue, MPEG-TS muxing, 1316-byte
payloads, SRT with the configured latency (TSBPD), srt-live-transmit.

Both ends read CLOCK_MONOTONIC: the tool prints the monotonic time of program
time 0 and sends video frame n at t0 + n * 40 ms; this script stamps every TS
packet that starts a video PES as it comes out of srt-live-transmit and
compares with its PTS.  Not a ctest (it measures, it does not judge):
    STREAMER_TOOL=build/tests/streamer/streamer_tool python3 bench_srt_latency.py [latency_ms] [seconds] ["low_delay = true"]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from testlib import TOOL, free_port

latency = int(sys.argv[1]) if len(sys.argv) > 1 else 120
seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
extra = sys.argv[3] if len(sys.argv) > 3 else ""      # e.g. "low_delay = true"
port = free_port()
TS_OFFSET_US = 10_000_000

rx = subprocess.Popen(["stdbuf", "-o0", "srt-live-transmit", "-q",
                       f"srt://127.0.0.1:{port}?mode=listener&latency={latency}", "file://con"],
                      stdout=subprocess.PIPE, bufsize=0)
arrivals = []


def reader():
    buf = b""
    while True:
        chunk = rx.stdout.read(1316)
        if not chunk:
            return
        now = time.monotonic_ns() // 1000
        buf += chunk
        while len(buf) >= 188:
            pkt, buf = buf[:188], buf[188:]
            if pkt[0] != 0x47 or not (pkt[1] & 0x40):
                continue
            off = 4
            if pkt[3] & 0x20:
                off += 1 + pkt[4]
            p = pkt[off:]
            if len(p) > 14 and p[:3] == b"\0\0\1" and 0xE0 <= p[3] <= 0xEF and p[7] & 0x80:
                b = p[9:14]
                pts = ((b[0] >> 1) & 7) << 30 | b[1] << 22 | (b[2] >> 1) << 15 | b[3] << 7 | b[4] >> 1
                arrivals.append((now, pts * 1_000_000 // 90000 - TS_OFFSET_US))


t = threading.Thread(target=reader, daemon=True)
t.start()
time.sleep(0.5)
with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as f:
    f.write(f"[output.platform]\ntype = srt\nurl = srt://127.0.0.1:{port}?mode=caller&latency={latency}\n{extra}\n")
    cfg = f.name
tool = subprocess.Popen([TOOL, "live", cfg, str(seconds), "paced"], stdout=subprocess.PIPE, text=True,
                        stderr=subprocess.DEVNULL, env={**os.environ, "WAIT_LIVE": "1"})
out, _ = tool.communicate()
t0 = int([l for l in out.splitlines() if l.startswith("t0_us=")][0][6:])
time.sleep(1)
rx.terminate()
t.join(2)
os.unlink(cfg)
lat = [(a - (t0 + pts)) / 1000 for a, pts in arrivals if pts >= 0]
lat.sort()
print(f"SRT latency={latency} ms, {len(lat)} frames: median {statistics.median(lat):.1f} ms, "
      f"p95 {lat[int(len(lat) * 0.95)]:.1f} ms, max {lat[-1]:.1f} ms "
      f"(from lb_streamer_send to the receiver's output)")
cpu = [l for l in out.splitlines() if l.startswith("output=platform")]
print(cpu[0] if cpu else "")
