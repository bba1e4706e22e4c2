"""Disk guard on small tmpfs file systems: a recording does not start below
min_free_mb; a disk that fills up during a recording stops the archive
cleanly with an alert, and every file decodes."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from testlib import spawn, TOOL, check, decode_errors, fail, ffprobe_json, parse_kv, scratch

work = scratch("disk")
mounts = []


def mount(name, size_mb):
    path = os.path.join(work, name)
    os.makedirs(path)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", path],
                      capture_output=True).returncode != 0:
        print("SKIP: cannot mount a tmpfs here (needs root)")
        sys.exit(77)
    mounts.append(path)
    return path


def config(min_free, stop_free):
    cfg = os.path.join(work, f"luobo-{min_free}.ini")
    with open(cfg, "w") as f:
        f.write(f"[output.archive]\ntype = archive\nmin_free_mb = {min_free}\nstop_free_mb = {stop_free}\n")
    return cfg


try:
    small = mount("small", 8)
    p = subprocess.run([TOOL, "archive", small, "2"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "STREAMER_CONFIG": config(20, 10)})
    check(p.returncode != 0, "a recording does not start with 8 MB free and min_free_mb = 20")
    check("MB free" in p.stderr and "20 MB needed" in p.stderr, "the refusal says why")

    disk = mount("disk", 48)
    w = spawn([TOOL, "writer", disk], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, env={**os.environ, "STREAMER_CONFIG": config(30, 24),
                                         "WRITER_SECONDS": "14"})
    progress = os.path.join(disk, "progress")

    def sent():
        try:
            with open(progress) as f:
                return float(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return -1.0

    def fill(name, mb):
        with open(os.path.join(disk, name), "wb") as f:
            f.write(b"\0" * (mb << 20))

    deadline = time.monotonic() + 60
    while sent() < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    fill("filler1", 20)           # ~28 MB left: still above stop_free_mb
    while sent() < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    fill("filler2", 6)            # ~22 MB left: the guard stops the archive
    out, _ = w.communicate(timeout=120)
    kv = parse_kv(out)
    check(kv.get("archive_state") == "disk-full", f"archive state {kv.get('archive_state')}")
    check("disk almost full" in kv.get("archive_error", ""), f"alert: {kv.get('archive_error')}")
    check(kv.get("stop_ret", "0") != "0", f"stop_recording reports it ({kv.get('stop_ret')})")
    check(kv.get("recording_error") == "No space left on device" and
          float(kv.get("recording_error_at", "99")) < 13,
          f"lb_streamer_recording_error tells the recorder at once ({kv.get('recording_error_at')} s)")
    lessons = [d for d in os.listdir(disk) if os.path.isdir(os.path.join(disk, d))]
    lesson = os.path.join(disk, lessons[0])
    for name in ("program.mp4", "iso/teacher.mp4"):
        path = os.path.join(lesson, name)
        err = decode_errors(path)
        check(not err, f"{name} decodes without errors {err[:200]}")
        frames = ffprobe_json(path, "-select_streams", "v:0", "-show_entries", "frame=pts_time")["frames"]
        end = max(float(f["pts_time"]) for f in frames)
        check(5 <= end < 13, f"{name} holds the lesson up to the guard ({end:.1f} s)")
    with open(os.path.join(lesson, "lesson.json")) as f:
        check(json.load(f)["status"] == "interrupted", "the lesson is marked interrupted")

    # retention: below retention_free_mb the oldest uploaded lessons go,
    # never one that was not uploaded
    ret = mount("retention", 40)

    def fake(name, mb, uploaded):
        d = os.path.join(ret, name)
        os.makedirs(d)
        with open(os.path.join(d, "lesson.json"), "w") as f:
            json.dump({"id": name, "status": "complete"}, f)
        if uploaded:
            with open(os.path.join(d, "upload.json"), "w") as f:
                json.dump({"state": "done"}, f, indent=2)
        with open(os.path.join(d, "program.mp4"), "wb") as f:
            f.write(b"\0" * (mb << 20))

    fake("20200101-000000-not-uploaded", 12, False)
    fake("20200102-000000-uploaded", 12, True)
    fake("20200103-000000-newer-uploaded", 4, True)
    cfg = os.path.join(work, "retention.ini")
    with open(cfg, "w") as f:
        f.write("[output.archive]\ntype = archive\nmin_free_mb = 5\nstop_free_mb = 2\n"
                "retention_free_mb = 20\n")
    p = subprocess.run([TOOL, "archive", ret, "2"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "STREAMER_CONFIG": cfg})
    check(p.returncode == 0, "recording with retention")
    left = sorted(os.listdir(ret))
    check("20200101-000000-not-uploaded" in left, "a lesson not uploaded is never deleted")
    check("20200102-000000-uploaded" not in left, "the oldest uploaded lesson was deleted")
    check("20200103-000000-newer-uploaded" in left, "only as much as needed was deleted")
finally:
    for m in mounts:
        subprocess.run(["umount", m])
print("PASS")
