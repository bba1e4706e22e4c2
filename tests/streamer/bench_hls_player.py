"""Glass-to-glass over HLS as a player sees it, from luobo's own /live/.

luobo runs live (realtime) with the bench's latency hall: the teacher camera
is bench's teacher file, the screen a synthetic source whose lavfi graph
burns the wall clock into the top-left strip when each frame is made (the
bench's barcode, bench/bench.py barcode_graph); HLS with segment_s
segments.  The player is ffmpeg with -re reading
http://127.0.0.1:PORT/live/program.m3u8: like hls.js and Safari it starts 3
segments behind the live edge (live_start_index -3) and plays at real
speed; bench/barcode_rx.py reads the strip of every frame it decodes and
logs arrival - stamp.  Only frames where the director shows the screen carry
a readable stamp.  Not a ctest (it measures, it does not judge):

    python3 tests/streamer/bench_hls_player.py LUOBO_BIN INPUTS_DIR [segment_s] [seconds]

INPUTS_DIR is bench/run's inputs folder (build-bench/inputs-60)."""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(HERE, "..", "..", "bench")
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from bench import barcode_graph  # noqa: E402
from lbtest import free_port  # noqa: E402

luobo, inputs = sys.argv[1], sys.argv[2]
segment_s = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
seconds = int(sys.argv[4]) if len(sys.argv) > 4 else 40
work = tempfile.mkdtemp(prefix="lb-hls-player-")
port = free_port()
os.symlink(os.path.join(inputs, "screen.mp4"), os.path.join(work, "s.mp4"))
cfg = os.path.join(work, "luobo.ini")
with open(cfg, "w") as f:
    f.write(f"""[general]
data_dir = {work}/data
http_port = {port}
width = 1920
height = 1080
fps = 30

[source.teacher]
type = url
role = teacher
url = {os.path.join(inputs, "cam_teacher.mp4")}
loop = true

[source.screen]
type = synthetic
role = screen
graph = {barcode_graph("s.mp4")}

[mic.teacher]
type = synthetic
role = teacher

[encoder]
preset = veryfast
rate_control = cbr
bitrate_kbps = 4000
bufsize_kbits = 8000
keyint_s = {segment_s:g}
zerolatency = true
iso = false

[output.live]
type = hls
segment_s = {segment_s:g}

[auth]
public_viewer = true
""")
log = open(os.path.join(work, "luobo.log"), "w")
daemon = subprocess.Popen([luobo, "--config", cfg, "--duration", str(seconds + 20)], cwd=work,
                          stdout=log, stderr=subprocess.STDOUT)
url = "http://127.0.0.1:%d/live/program.m3u8" % port
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.read().count(b"#EXTINF") >= 4:
                break
    except OSError:
        pass
    time.sleep(0.5)
player = subprocess.Popen(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-i", url,
                           "-t", str(seconds), "-map", "0:v", "-vf", "crop=1408:32:0:0,format=gray",
                           "-f", "rawvideo", "-flush_packets", "1", "pipe:1"], stdout=subprocess.PIPE)
csv = os.path.join(work, "hls_player.csv")
rx = subprocess.Popen([sys.executable, os.path.join(BENCH, "barcode_rx.py"), csv, "--skip", "0"],
                      stdin=player.stdout, stderr=subprocess.PIPE, text=True)
player.stdout.close()
player.wait()
rx.wait()
daemon.terminate()
daemon.wait()
lats = []
for line in list(open(csv))[1:]:
    idx, t_rx, stamp, lat = line.strip().split(",")
    if lat and 0 < float(lat) < 60000:
        lats.append(float(lat))
if lats:
    q = statistics.quantiles(lats, n=20) if len(lats) > 1 else [lats[0]] * 19
    print(f"HLS {segment_s:g} s segments, ffmpeg -re from /live/ (3 segments behind the edge): "
          f"glass-to-glass median {statistics.median(lats):.0f} ms, p5 {q[0]:.0f}, p95 {q[-1]:.0f}, "
          f"{len(lats)} frames with a readable stamp")
else:
    print("no frame with a readable stamp (the director did not show the screen?)")
shutil.rmtree(work, ignore_errors=True)
