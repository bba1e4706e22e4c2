"""kill -9 in the middle of a paced recording: program.mp4 and the ISO file
decode to within 1.5 s of the last packet sent; lb_lesson_repair_all marks
the lesson interrupted with the real duration.  A copy of the lesson with
its files torn as a power cut leaves them (the last mdat cut short, a moof
without its mdat: found by tests/streamer/powercut) is repaired too: the
torn fragment is cut off, the files decode to their end and duration_s is
what they hold; and, resumed instead (lb_lesson_prepare_resume), its files
become parts/1/ without the torn fragment, its outage starting where they
end."""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from testlib import spawn, TOOL, check, decode_errors, ffprobe_json, run_tool, scratch

data = scratch("kill")
writer = spawn([TOOL, "writer", data], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
progress = os.path.join(data, "progress")


def sent():
    try:
        with open(progress) as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return -1.0


deadline = time.monotonic() + 60
while sent() < 4.5 and writer.poll() is None and time.monotonic() < deadline:
    time.sleep(0.05)
check(writer.poll() is None, "writer still running at 4.5 s of media")
writer.send_signal(signal.SIGKILL)
writer.wait()
last = sent()
print("last packet sent at", last)

lessons = [d for d in os.listdir(data) if os.path.isdir(os.path.join(data, d))]
check(len(lessons) == 1, "one lesson folder")
lesson = os.path.join(data, lessons[0])
with open(os.path.join(lesson, "lesson.json")) as f:
    check(json.load(f)["status"] == "recording", "status is still recording after the kill")


def decoded_end(path):
    frames = ffprobe_json(path, "-select_streams", "v:0", "-show_entries", "frame=pts_time")["frames"]
    return len(frames), max(float(f["pts_time"]) for f in frames) + 0.04


for name in ("program.mp4", "iso/teacher.mp4"):
    path = os.path.join(lesson, name)
    n, end = decoded_end(path)
    print(name, "decodes", n, "frames up to", end)
    check(end >= last - 1.5, f"{name} decodes to within 1.5 s of the kill ({end:.2f} vs {last:.2f})")
    err = decode_errors(path)
    check(not err,
          f"{name} decodes ({err[:200]})")



def boxes(path):
    """(type, start, end) of each top-level box."""
    out, pos = [], 0
    with open(path, "rb") as f:
        data = f.read()
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        out.append((kind.decode(), pos, pos + size))
        pos += size
    return out


# the power cut's tears, on a copy (the folder's name is not a lesson id:
# the repair takes any folder)
torn = os.path.join(data, "torn")
shutil.copytree(lesson, torn)
whole = {}
for name, how in (("program.mp4", "mdat cut short"), ("iso/teacher.mp4", "moof without its mdat")):
    path = os.path.join(torn, name)
    b = boxes(path)
    check([k for k, _, _ in b[-2:]] == ["moof", "mdat"], f"{name} ends in a fragment: {b[-3:]}")
    moof, mdat = b[-2], b[-1]
    cut_at = mdat[1] + 8 + (mdat[2] - mdat[1] - 8) // 2 if how == "mdat cut short" else mdat[1]
    os.truncate(path, cut_at)
    whole[name] = moof[1]       # what the repair must keep: up to the torn fragment
    print(f"{name}: torn ({how}) at {cut_at} of {mdat[2]}; whole fragments end at {moof[1]}")
check(decode_errors(os.path.join(torn, "program.mp4")) != "", "the torn program.mp4 fails to decode at its end")
# the same tears in a lesson that is resumed: its files become parts/1/
# without the torn fragment, and its outage starts where they end
resumed = os.path.join(scratch("kill-resumed"), "torn")
shutil.copytree(torn, resumed)
kv = run_tool("prepare_resume", resumed)
check(kv["ret"] == "0", f"prepare_resume: {kv}")
for name, size in whole.items():
    path = os.path.join(resumed, "parts", "1", name)
    check(os.path.getsize(path) == size, f"resumed: parts/1/{name} cut back to its whole fragments")
    err = decode_errors(path)
    check(not err, f"resumed: parts/1/{name} decodes ({err[:200]})")
with open(os.path.join(resumed, "lesson.json")) as f:
    outage = json.load(f)["outages"][0]
n, end = decoded_end(os.path.join(resumed, "parts", "1", "program.mp4"))
check(abs(outage["from"] - end) < 0.1, f"resumed: the outage starts where part 1 ends ({outage['from']} vs {end:.2f})")

# what a crash in the middle of an edit leaves (the start-up scan removes
# it): a clip's hidden work folder in the data folder, a re-cut's edited log
# and its half-written version (a minute old: luobo recut run by hand may
# still be writing a newer one); beside them a complete lesson with a
# re-cut version, which the scan leaves as it is
clip_tmp = os.path.join(data, ".%s-clip-000001-000005.tmp" % lessons[0])
os.makedirs(clip_tmp)
with open(os.path.join(clip_tmp, "program.mp4"), "wb") as f:
    f.write(b"half a clip")
recut_junk = [os.path.join(lesson, n) for n in (".recut-edit.jsonl", ".program.recut-1.mp4.part")]
for path in recut_junk:
    with open(path, "w") as f:
        f.write("{}\n")
    os.utime(path, (time.time() - 120, time.time() - 120))
young_part = os.path.join(torn, ".program.recut-1.mp4.part")
with open(young_part, "w") as f:
    f.write("being written")
complete = os.path.join(data, "complete")
os.makedirs(os.path.join(complete, "iso"))
shutil.copy(os.path.join(lesson, "program.mp4"), os.path.join(complete, "program.mp4"))
shutil.copy(os.path.join(lesson, "program.mp4"), os.path.join(complete, "program.recut-1.mp4"))
with open(os.path.join(complete, "lesson.json"), "w") as f:
    json.dump({"id": "complete", "status": "complete", "duration_s": 4, "chapters": [{"t": 0, "title": "A"}],
               "versions": [{"file": "program.mp4", "kind": "live", "log": "director.jsonl"},
                            {"file": "program.recut-1.mp4", "kind": "recut", "log": "director.jsonl"}]}, f)
with open(os.path.join(complete, "director.jsonl"), "w") as f:
    f.write('{"t": 0.000, "shot": "teacher", "layout": "single", "sources": ["teacher"], "reason": "x"}\n')


def tree(top):
    out = {}
    for root, dirs, files in os.walk(top):
        for n in files:
            path = os.path.join(root, n)
            st = os.stat(path)
            out[os.path.relpath(path, top)] = (st.st_size, st.st_mtime_ns)
    return out


complete_before = tree(complete)
for folder in (lesson, torn):      # chapters as the director finds them while recording
    with open(os.path.join(folder, "lesson.json")) as f:
        lj = json.load(f)
    lj["chapters"] = [{"t": 0, "title": "Intro"}, {"t": 2, "title": "Slide 2"}]
    with open(os.path.join(folder, "lesson.json"), "w") as f:
        json.dump(lj, f)
kv = run_tool("repair", data)
check(kv["repaired"] == "2", "repair_all repaired the lesson and its torn copy")
check(not os.path.exists(clip_tmp), "the clip's work folder a crash left is gone")
check(not any(os.path.exists(p) for p in recut_junk), "the re-cut's work files a crash left are gone")
check(os.path.exists(young_part), "a re-cut written to a minute ago stays")
check(tree(complete) == complete_before, "the complete lesson beside them is untouched")
# the interrupted lessons' chapters for the player: their files are not
# rewritten (no MP4 chapters), the VTT ends at duration_s
for folder in (lesson, torn):
    with open(os.path.join(folder, "lesson.json")) as f:
        dur = json.load(f)["duration_s"]
    vtt = os.path.join(folder, "program.chapters.vtt")
    check(os.path.exists(vtt), "%s: the repair wrote program.chapters.vtt" % folder)
    with open(vtt) as f:
        text = f.read()
    cues = [line.split(" --> ") for line in text.splitlines() if " --> " in line]
    secs = lambda t: sum(float(x) * m for x, m in zip(reversed(t.split(":")), (1, 60, 3600)))
    check(text.startswith("WEBVTT") and len(cues) == 2 and "Slide 2" in text and secs(cues[0][0]) == 0 and
          secs(cues[1][0]) == 2 and abs(secs(cues[-1][1]) - dur) < 0.01,
          "%s: the VTT covers 0 to duration_s %.3f: %s" % (folder, dur, cues))
for name, size in whole.items():
    path = os.path.join(torn, name)
    check(os.path.getsize(path) == size, f"{name}: cut back to its whole fragments ({os.path.getsize(path)} vs {size})")
    err = decode_errors(path)
    check(not err, f"{name} decodes after the repair ({err[:200]})")
with open(os.path.join(torn, "lesson.json")) as f:
    lj = json.load(f)
n, end = decoded_end(os.path.join(torn, "program.mp4"))
check(lj["status"] == "interrupted", "the torn copy is interrupted")
check(abs(lj["duration_s"] - end) < 0.1, f"torn copy: duration_s {lj['duration_s']} is what it holds ({end:.2f})")
print(f"torn copy: repaired to {end:.2f} s")
with open(os.path.join(lesson, "lesson.json")) as f:
    lj = json.load(f)
check(lj["status"] == "interrupted", "status interrupted")
n, end = decoded_end(os.path.join(lesson, "program.mp4"))
check(abs(lj["duration_s"] - end) < 0.1, f"duration_s {lj['duration_s']} is the real one ({end:.2f})")
check(lj["ended_at"] is not None, "ended_at set")
kv = run_tool("repair", data)
check(kv["repaired"] == "0", "a second repair finds nothing")

# a crash during the fast-start rewrite leaves the marker and a temp copy:
# the repair drops both and keeps the (whole) fragmented file
size = os.path.getsize(os.path.join(lesson, "program.mp4"))
for junk in (".finalising", "program.mp4.faststart.tmp", "iso/teacher.mp4.faststart.tmp"):
    with open(os.path.join(lesson, junk), "wb") as f:
        f.write(b"x" * 100)
run_tool("repair", data)
check(not any(os.path.exists(os.path.join(lesson, j)) for j in
              (".finalising", "program.mp4.faststart.tmp", "iso/teacher.mp4.faststart.tmp")),
      "an interrupted rewrite is cleaned up")
check(os.path.getsize(os.path.join(lesson, "program.mp4")) == size, "program.mp4 untouched")
# the resume rule on lesson.json's contents (lb_lesson_not_resumable, pure):
# left recording (a crash) or finished by a shutdown, within the window
# from its last write or from the shutdown; never a stop asked for, an
# entry that has ended, an offline/--duration run's end ("end"), or a
# lesson finished any other way
NOW = 1796461200.0
base = {"started_at_ms": (NOW - 600) * 1000, "ended_at": None}
shut = dict(base, status="complete", ended_by="shutdown", ended_at_ms=(NOW - 100) * 1000)
cases = [
    ("crash, written 30 s ago", dict(base, status="recording"), 600, NOW - 30, True, ""),
    ("crash, after the window", dict(base, status="recording"), 600, NOW - 700, False,
     "outside [general] resume_window_s = 600"),
    ("crash while finishing a stop", dict(base, status="recording", stop_requested=True, ended_by="stop"),
     600, NOW - 1, False, "stopped on purpose"),
    ("crash while a shutdown finished it", dict(base, status="recording", ended_by="shutdown"), 600, NOW - 1,
     True, ""),
    ("shutdown 100 s ago", shut, 600, NOW - 1, True, ""),
    # the window runs from the shutdown, not from a later write of its files
    ("shutdown 100 s ago, window 60 s", shut, 60, NOW - 1, False,
     "a shutdown finished it 100 s ago, outside [general] resume_window_s = 60: it stays complete"),
    ("shutdown, resume off", shut, 0, NOW - 1, False, "resume is off"),
    ("shutdown, its entry ended", dict(shut, schedule_end=int(NOW) - 5), 600, NOW - 1, False,
     "its timetable entry has ended"),
    ("shutdown, its entry goes on", dict(shut, schedule_end=int(NOW) + 60), 600, NOW - 1, True, ""),
    ("shutdown of a lesson stopped on purpose", dict(shut, stop_requested=True), 600, NOW - 1, False,
     "stopped on purpose"),
    ("stopped by its teacher", dict(base, status="complete", ended_by="stop"), 600, NOW - 1, False,
     "it is complete"),
    ("an offline or --duration run's end", dict(base, status="complete", ended_by="end"), 600, NOW - 1,
     False, "it is complete"),
    ("complete, written before ended_by", dict(base, status="complete"), 600, NOW - 1, False, "it is complete"),
    ("interrupted (repaired)", dict(base, status="interrupted"), 600, NOW - 1, False, "it is interrupted"),
    ("shutdown without started_at_ms", {"status": "complete", "ended_by": "shutdown"}, 600, NOW - 1, False,
     "no started_at_ms"),
]
p = subprocess.run([TOOL, "resumable"], input="".join("%d %.3f %.3f %s\n" % (c[2], NOW, c[3], json.dumps(c[1]))
                                                     for c in cases),
                   capture_output=True, text=True, timeout=60)
check(p.returncode == 0, f"streamer_tool resumable: {p.returncode} {p.stderr[-2000:]}")
answers = p.stdout.splitlines()
check(len(answers) == len(cases), f"one answer per case: {answers}")
for (name, lj, window, written, want, why), answer in zip(cases, answers):
    candidate, resumable, got_why = (answer.split(" ", 2) + [""])[:3]
    check(resumable == ("1" if want else "0") and why in got_why,
          f"resume rule, {name}: resumable={resumable} ({got_why}), want {want} ({why})")
    check(candidate == ("1" if lj.get("status") == "recording" or lj.get("ended_by") == "shutdown"
                        and lj.get("status") == "complete" else "0"), f"{name}: candidate {answer}")
print("PASS")
