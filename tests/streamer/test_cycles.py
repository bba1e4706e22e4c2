"""Start and stop recordings repeatedly while another thread sends packets
as fast as it can into a small blocking archive queue: no deadlock, and
every lesson decodes.  The archive keeps its files fragmented (faststart =
false): each lesson still gets its chapters for the player
(program.chapters.vtt) when it ends."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from testlib import check, decode_errors, ffprobe_json, run_tool, scratch, top_boxes

work = scratch("cycles")
cfg = os.path.join(work, "luobo.ini")
with open(cfg, "w") as f:
    f.write("[output.archive]\ntype = archive\nmin_free_mb = 1\nstop_free_mb = 0\nqueue_packets = 16\n"
            "faststart = false\n"
            f"[output.web]\ntype = hls\ndir = {work}/live\nqueue_packets = 16\n")
data = os.path.join(work, "data")
kv = run_tool("cycles", data, "12", env={"STREAMER_CONFIG": cfg}, timeout=240)
check(kv["cycles"] == "12", "12 start/stop cycles")
lessons = sorted(os.listdir(data))
check(len(lessons) == 12, f"12 lesson folders ({len(lessons)})")
for l in lessons:
    d = os.path.join(data, l)
    with open(os.path.join(d, "lesson.json")) as f:
        st = json.load(f)["status"]
    check(st == "complete", f"{l}: complete")
    prog = os.path.join(d, "program.mp4")
    if os.path.exists(prog):
        err = decode_errors(prog)
        check(not err, f"{l}: program.mp4 decodes {err[:200]}")
        check("moof" in top_boxes(prog), f"{l}: program.mp4 stays fragmented")
        # written by the finaliser, which the tool waits for at its end
        vtt = os.path.join(d, "program.chapters.vtt")
        with open(vtt) as f:
            text = f.read()
        check(text.startswith("WEBVTT") and text.count(" --> ") == 2 and "cycle " in text and "Slide 2" in text,
              f"{l}: program.chapters.vtt has the lesson's chapter: {text[:200]!r}")
# the HLS queue (16 packets) overflowed under the flood: every gap must end
# a segment and start the next one at a key frame, marked as a discontinuity
live = os.path.join(work, "live")
with open(os.path.join(live, "program.m3u8")) as f:
    playlist = f.read()
segs = [l for l in playlist.splitlines() if l.endswith(".ts")]
for name in segs:
    frames = ffprobe_json(os.path.join(live, name), "-select_streams", "v:0", "-show_entries",
                          "frame=key_frame", "-read_intervals", "%+#1")["frames"]
    check(frames and frames[0]["key_frame"] == 1, f"{name} starts with a key frame")
err = decode_errors(os.path.join(live, "program.m3u8"))
check(not err, f"the HLS playlist decodes after the gaps {err[:300]}")
print("PASS")
