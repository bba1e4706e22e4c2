"""Isolation: with an SRT caller whose receiver never answers and an HLS
push to a dead origin, the archive still gets every frame, at full speed;
the SRT queue drops whole GOPs and counts them."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from testlib import TOOL, check, fail, free_port, free_tcp_port, parse_kv, scratch, stream_info

work = scratch("isolation")
cfg = os.path.join(work, "luobo.ini")
with open(cfg, "w") as f:
    f.write(f"[output.archive]\ntype = archive\nmin_free_mb = 1\nstop_free_mb = 0\n"
            f"[output.platform]\ntype = srt\nurl = srt://127.0.0.1:{free_port()}?mode=caller\n"
            f"queue_packets = 32\n"
            f"[output.web]\ntype = hls\ndir = {work}/live\nurl = http://127.0.0.1:{free_tcp_port()}/live/\n")
p = subprocess.run([TOOL, "archive", os.path.join(work, "data"), "8"], capture_output=True, text=True,
                   env={**os.environ, "STREAMER_CONFIG": cfg}, timeout=120)
sys.stderr.write(p.stderr[-3000:])
if p.returncode:
    fail(f"streamer_tool exited {p.returncode}")
kv = parse_kv(p.stdout)
lines = {re.search(r"output=(\S+)", l).group(1): l for l in p.stdout.splitlines() if l.startswith("output=")}
prog = os.path.join(kv["lesson_dir"], "program.mp4")
n = int([s for s in stream_info(prog) if s["codec_type"] == "video"][0]["nb_read_frames"])
check(n == int(kv["expected_video_frames"]), f"the archive has every frame ({n})")
check("dropped=0" in lines["archive"], "the archive dropped nothing")
drops = int(re.search(r"dropped=(\d+)", lines["platform"]).group(1))
check(drops > 0, f"the SRT queue dropped {drops} packets while nobody answered")
check(re.search(r"state=(connecting|lost|idle)", lines["platform"]) is not None, "SRT never went live")
check(os.path.exists(os.path.join(work, "live", "program.m3u8")), "HLS still writes locally")
print("PASS")
