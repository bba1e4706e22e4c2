"""Archive: a synthetic H.264+AAC lesson through lb_streamer into program.mp4
and iso/teacher.mp4; checks frame counts, start at 0, fragments while
recording, fast start at the end, lesson.json and director.jsonl."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from testlib import check, fail, ffprobe_json, run_tool, scratch, stream_info, top_boxes, decode_errors

variant = sys.argv[1] if len(sys.argv) > 1 else ""
bframes = variant == "bframes"
data = scratch("archive-" + (variant or "plain"))
env = {"ISO_FROM_S": "3.5"} if variant == "iso_late" else {}
kv = run_tool("archive", data, "6", *(["bframes"] if bframes else []), env=env)
lesson = kv["lesson_dir"]
expected = int(kv["expected_video_frames"])

check(int(kv["moof_while_recording"]) >= 2, f"fragments (moof) present while recording: {kv['moof_while_recording']}")

prog = os.path.join(lesson, "program.mp4")
streams = stream_info(prog)
video = [s for s in streams if s["codec_type"] == "video"]
audio = [s for s in streams if s["codec_type"] == "audio"]
check(len(video) == 1 and video[0]["codec_name"] == "h264", "program.mp4 has one H.264 stream")
check(len(audio) == 1 and audio[0]["codec_name"] == "aac", "program.mp4 has one AAC stream")
n = int(video[0]["nb_read_frames"])
check(n == expected, f"program video frames {n} == sent {expected}")
vstart = float(video[0]["start_time"])
astart = float(audio[0]["start_time"])
check(abs(vstart) < 0.001, f"video starts at 0 ({vstart})")
check(abs(astart) < 0.05, f"audio starts at 0 ({astart})")
adur = float(audio[0].get("duration", 0))
check(abs(adur - expected / 25) < 0.2, f"audio lasts as long as the video ({adur} s)")
boxes = top_boxes(prog)
check("moof" not in boxes and boxes.index("moov") < boxes.index("mdat"),
      f"program.mp4 rewritten as fast start: {boxes[:6]}")
err = decode_errors(prog)
check(not err, f"program.mp4 decodes without errors {err[:300]}")

# the first frame is a key frame at 0
frames = ffprobe_json(prog, "-select_streams", "v:0", "-show_entries", "frame=pts_time,key_frame",
                      "-read_intervals", "%+#1")["frames"]
check(frames and frames[0]["key_frame"] == 1 and abs(float(frames[0]["pts_time"])) < 0.001,
      "program starts with a key frame at 0")

iso = os.path.join(lesson, "iso", "teacher.mp4")
istreams = stream_info(iso)
check(len(istreams) == 1 and istreams[0]["codec_name"] == "h264", "iso/teacher.mp4 is one H.264 stream")
ni = int(istreams[0]["nb_read_frames"])
check(ni == int(kv["expected_iso_frames"]), f"iso frames {ni} == {kv['expected_iso_frames']}")
istart = float(istreams[0]["start_time"])
want = 2.0 if variant == "iso_late" else 0.0   # camera from 3.5 s: its key frame at 4.0, lesson at 2.0
check(abs(istart - want) < 0.05, f"the ISO file keeps its place on the lesson timeline ({istart})")

with open(os.path.join(lesson, "lesson.json")) as f:
    lj = json.load(f)
for key in ("id", "title", "teacher", "course", "started_at", "ended_at", "duration_s", "sources",
            "chapters", "status"):
    check(key in lj, f"lesson.json has {key}")
check(lj["status"] == "complete", "lesson.json status complete")
check(lj["id"] == os.path.basename(lesson) and lj["id"].endswith("-test-lesson-archive"),
      f"lesson id {lj['id']}")
check(abs(lj["duration_s"] - float(kv["duration_s"])) < 0.01, "duration_s")
check([c["title"] for c in lj["chapters"]] == ["Second half", "Start"], "chapters")
check(lj["sources"] == [{"name": "teacher", "role": "teacher", "file": "iso/teacher.mp4"}], "sources")
with open(os.path.join(lesson, "director.jsonl")) as f:
    lines = f.read().splitlines()
check(len(lines) == 2 and all(json.loads(l)["shot"] == "teacher" for l in lines), "director.jsonl")
check(not any(n.endswith(".tmp") for n in os.listdir(lesson)), "no temp files left")
print("PASS")
