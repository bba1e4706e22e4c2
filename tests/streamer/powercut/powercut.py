#!/usr/bin/env python3
"""Power-cut trials: luobo records onto a virtio disk (ext4, qemu
cache=none, so what the guest has not flushed is lost with it) in a VM that
is killed with SIGKILL at a random moment; then the image is checked on the
host and the next start repairs the lesson.

  python3 tests/streamer/powercut/powercut.py [--trials 5] [--build build]
          [--seed N] [--min-s 4] [--max-s 14] [--keep]

Each trial:
  1. boot the VM (Debian's kernel, the host's root over 9p read-only; see
     tests/capture/vm/vivid_vm.py), mount the disk, luobo --record (paced:
     one synthetic camera, its ISO file, one mic's file); every 50 ms the
     guest appends to a shared file (JSON lines) what luobo's /metrics says
     (the lesson's program clock luobo_recording_elapsed_seconds, the late
     and repeated ticks, how late the last tick was, the ticks encoded) and
     program.mp4's size as the guest's kernel has it; luobo's threads' CPU
     time goes to threads.jsonl every second;
  2. SIGKILL qemu at the first line the guest writes after a random moment
     (--min-s..--max-s into the lesson): the media time at the cut is that
     line's program clock plus at most the line's age (since_read_s, tens
     of ms: the guest's clock paired with the host's), never extrapolated
     over a poll, since a guest starved by the host may go a second without
     writing and its program clock does not run meanwhile;
  3. on a copy of the image: e2fsck (the journal replay a reboot would do),
     debugfs rdump of the lesson; lesson.json parses and says "recording";
     program.mp4, iso/cam.mp4 and audio/teacher.m4a decode; lost = media
     time at the cut - program.mp4's decoded end: at most --max-lost (1.5
     s; lost_min_s leaves the line's age out).  Bytes of program.mp4 the
     guest had (at the last line) that the disk lacks are the durability's
     own loss; the rest is what was still in the encoders and the fragment
     being built (encoder_backlog_s: ticks made but not encoded at the
     last line).  The guest's lateness is reported with each trial
     (guest_late, guest_skipped: ticks over two frames late and ticks
     repeated to catch up during the lesson; lag_s, lag_max_s);
     A file may end in a torn fragment (its moof or part of its mdat on the
     disk, the rest not): it decodes up to there ("torn" lists it);
  4. boot again on the image: luobo starts (repairing: a torn last
     fragment is cut off), exits; lesson.json says "interrupted" with
     program.mp4's duration, and the three files decode without an error.
Prints one line per trial and a summary; exits 1 if a trial fails.
Takes 1-2 minutes a trial on 2 cores with TCG (no KVM); not in CI.
Needs qemu-system-x86, busybox-static, kmod, e2fsprogs, ffmpeg."""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "capture", "vm"))
import vivid_vm  # noqa: E402

MODULES = ["crc32c_generic", "virtio_blk", "ext4"]
FPS = 10     # light enough for a TCG guest on a busy host
# The synthetic teacher speaks one second in five.  Under TCG the guest's
# float arithmetic is emulated: each AAC encoder (the program's and the
# mic's own file) costs ~0.6 vCPU-s per second of a tone (60 times what it
# costs natively) and ~0.13 of silence, so a teacher talking all the time
# keeps the 2-vCPU guest 97 % busy and the program falls 1-2.5 s behind
# real time (2026-12-05: 25 late, 11 repeated ticks in 7 s).
SPEAKS = ",".join("%d-%d" % (s, s + 1) for s in range(0, 60, 5))


def config(port):
    return """[general]
data_dir = /run/rec/data
resume_window_s = 0
http_port = %d
width = 320
height = 180
fps = %d

[source.cam]
type = synthetic
role = teacher
width = 320
height = 180

[mic.teacher]
type = synthetic
role = teacher
frequency_hz = 440
speaks = %s

[encoder]
preset = ultrafast
bitrate_kbps = 500
iso_width = 160
iso_height = 90
iso_preset = ultrafast
iso_bitrate_kbps = 200

[auth]
public_viewer = true
metrics_public = true
""" % (port, FPS, SPEAKS)


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def decoded_end(path, stream):
    p = run(["ffprobe", "-v", "error", "-of", "json", "-select_streams", stream,
             "-show_entries", "frame=pts_time,duration_time", path])
    if p.returncode != 0:
        return None, p.stderr.strip()[-300:]
    frames = json.loads(p.stdout).get("frames", [])
    if not frames:
        return None, "no frames"
    return max(float(f["pts_time"]) + float(f.get("duration_time") or 0) for f in frames), ""


def decode_errors(path):
    p = run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-f", "null", "-"])
    return (p.stderr.strip() if p.returncode == 0 else "exit %d: %s" % (p.returncode, p.stderr)).strip()


def env_for(vm, work, port):
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("LUOBO_", "ASAN_", "LSAN_", "UBSAN_")) or k == "PATH"}
    env.update({"KROOT": vm["root"], "WORK": work, "PORT": str(port), "HOME": work,
                "TMPDIR": os.path.join(work, "tmp"), "LANG": "C.UTF-8", "TZ": "UTC"})
    return env


def trial(a, vm, n, rnd):
    work = os.path.join(a.work, "trial-%d" % n)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "tmp"))
    image = os.path.join(a.work, "disk.img")
    port = 8000 + n   # inside the VM's own loopback: nothing else listens there
    with open(os.path.join(work, "luobo.ini"), "w") as f:
        f.write(config(port))
    drive = ["-drive", "file=%s,format=raw,if=virtio,cache=none,aio=threads" % image]
    guest = "exec python3 %s" % os.path.join(HERE, "guest.py")
    env = env_for(vm, work, port)
    env["LUOBO_BIN"] = a.luobo
    cut_at = rnd.uniform(a.min_s, a.max_s)

    # 1-2: record, cut the power
    p = vivid_vm.start(vm, work, guest + " record", env, drive)
    progress = os.path.join(work, "progress")
    last = None            # the guest's last progress line (+ "seen": host time)
    first = None           # the first: where the lesson's clocks and counters began
    offset = float("inf")  # host clock - guest clock, as closely as the lines tell
    n0 = -1 << 60          # the program's tick at the lesson's start (estimated)
    lines = 0
    lag_max = 0.0
    cut_el = None          # elapsed_s at which to cut: counted from the first fragment
    armed = False
    deadline = time.monotonic() + a.boot_timeout + a.max_s * 4
    pos = 0
    while time.monotonic() < deadline and p.poll() is None:
        try:
            with open(progress) as f:
                f.seek(pos)
                chunk = f.read()
        except FileNotFoundError:
            chunk = ""
        now = time.monotonic()
        fresh = chunk.endswith("\n")
        if fresh:
            pos += len(chunk.encode())
            for line in chunk.strip().split("\n"):
                st = json.loads(line)
                st["seen"] = now
                lines += 1
                # the smallest host - guest clock difference: the pairing
                # with the least delay (ask, 9p, this poll) in between
                offset = min(offset, now - st["g"])
                # ticks encoded - ticks of the lesson made: at most the tick
                # the lesson began at (the encoder is never ahead)
                n0 = max(n0, st["encoded"] - round(st["el"] * FPS))
                first = first or st
                lag_max = max(lag_max, st["lag"])
            last = st
            if cut_el is None and last["size"] > 0:
                cut_el = last["el"] + cut_at
        # Past the random moment the cut waits for the guest's next line and
        # comes as soon as it is seen: the program clock at the cut is then
        # known to within the line's age (since_read_s), not extrapolated
        # over a poll (a guest starved by the host may go a second without
        # writing, and its program clock does not run meanwhile).
        if cut_el is not None and last["el"] + (now - last["seen"]) >= cut_el:
            if armed and fresh:
                break
            armed = True
        time.sleep(0.005)
    if p.poll() is not None or not last:
        p.kill()
        p.communicate()
        raise vivid_vm.VmError("trial %d: the recording did not run (guest log: %s; console: %s)" % (
            n, vivid_vm.tail(os.path.join(work, "guest.log")), vivid_vm.tail(os.path.join(work, "console.log"))))
    t_cut = time.monotonic()
    os.kill(p.pid, signal.SIGKILL)
    p.communicate()
    guest_size, el, seen = last["size"], last["el"], last["seen"]
    # The program clock at the cut: the last elapsed_s the guest read (a
    # lower bound), plus at most the wall time since it was read (its guest
    # clock put on the host's by the best pairing).
    since_read = max(0.0, t_cut - (last["g"] + offset))
    media_at_cut = el + since_read

    # 3: the image as the power cut left it
    copy = os.path.join(work, "cut.img")
    subprocess.run(["cp", "--sparse=always", image, copy], check=True)
    fsck = run(["e2fsck", "-fy", copy])
    if fsck.returncode not in (0, 1):
        raise vivid_vm.VmError("trial %d: e2fsck exited %d: %s" % (n, fsck.returncode, fsck.stdout[-800:]))
    out = os.path.join(work, "cut")
    os.makedirs(out)
    ls = run(["debugfs", "-R", "ls /data", copy]).stdout.split()
    new = sorted(x for x in ls if x[:8].isdigit() and "-" in x and x not in a.known)
    lesson_id = new[-1] if new else "?"
    a.known.update(new)
    d = run(["debugfs", "-R", "rdump /data/%s %s" % (lesson_id, out), copy])
    os.unlink(copy)
    lesson = os.path.join(out, lesson_id)
    res = dict(trial=n, cut_at_s=round(media_at_cut, 2), last_read_el_s=el,
               since_read_s=round(since_read, 3), since_seen_s=round(t_cut - seen, 3),
               # the guest's lateness during the lesson (the first line holds
               # the start-up's): late and repeated ticks, the shedding step,
               # how late the program's tick was at the last read (the
               # program clock behind real time: at most max_lag_ms, 1 s,
               # then it repeats ticks), the most it was in the lesson, and
               # the ticks made but not yet encoded at the last read
               guest_late=last["late"] - first["late"], guest_skipped=last["skipped"] - first["skipped"],
               guest_late_total=last["late"], guest_skipped_total=last["skipped"], guest_shed=last["shed"],
               lag_s=last["lag"], lag_max_s=lag_max,
               encoder_backlog_s=round((n0 + el * FPS - last["encoded"]) / FPS, 2),
               progress_lines=lines, fsck=fsck.returncode, errors=[], guest_program_bytes=guest_size)
    if not os.path.isdir(lesson):
        res["errors"].append("the lesson folder is not on the disk (%s)" % d.stderr.strip()[-200:])
        return res
    try:
        lj = json.load(open(os.path.join(lesson, "lesson.json")))
        if lj.get("status") != "recording":
            res["errors"].append("lesson.json status %r" % lj.get("status"))
    except (OSError, ValueError) as e:
        res["errors"].append("lesson.json: %s" % e)
    res["disk_program_bytes"] = os.path.getsize(os.path.join(lesson, "program.mp4")) \
        if os.path.exists(os.path.join(lesson, "program.mp4")) else 0
    end, why = decoded_end(os.path.join(lesson, "program.mp4"), "v:0")
    if end is None:
        res["errors"].append("program.mp4 does not decode: %s" % why)
    else:
        res["program_end_s"] = round(end, 2)
        res["lost_s"] = round(media_at_cut - end, 2)
        res["lost_min_s"] = round(el - end, 2)     # against the last elapsed_s read
        if res["lost_s"] > a.max_lost:
            res["errors"].append("lost %.2f s > %.1f s" % (res["lost_s"], a.max_lost))
    # what luobo had written (the guest's view at the last poll before the
    # cut) and the disk lacks: the durability's own loss
    res["written_not_on_disk_bytes"] = max(0, guest_size - res["disk_program_bytes"])
    if res["written_not_on_disk_bytes"] and res.get("program_end_s"):
        rate = res["disk_program_bytes"] / max(res["program_end_s"], 0.1)
        res["written_not_on_disk_s"] = round(res["written_not_on_disk_bytes"] / rate, 2)
        if res["written_not_on_disk_s"] > 1.0:
            res["errors"].append("%.2f s of what luobo had written is not on the disk"
                                 % res["written_not_on_disk_s"])
    for name, stream in (("program.mp4", "v:0"), ("iso/cam.mp4", "v:0"), ("audio/teacher.m4a", "a:0")):
        path = os.path.join(lesson, name)
        if not os.path.exists(path):
            res["errors"].append("%s missing" % name)
            continue
        e, why = decoded_end(path, stream)
        res[name + "_end_s"] = None if e is None else round(e, 2)
        if e is None:
            res["errors"].append("%s: %s" % (name, why[:300]))
        elif decode_errors(path):
            # decodes up to a torn last fragment (its data not on the disk
            # yet): the repair must cut it off (checked below)
            res.setdefault("torn", []).append(name)

    # 4: the next start repairs it
    try:
        rc, _ = vivid_vm.boot(vm, work, guest + " repair", env, a.boot_timeout + 120, drive)
    except vivid_vm.VmError as e:
        res["errors"].append("repair boot: %s" % e)
        return res
    if rc != 0:
        res["errors"].append("repair run exited %d: %s" % (rc, vivid_vm.tail(os.path.join(work, "guest.log"))))
        return res
    after = os.path.join(work, "after")
    os.makedirs(after)
    run(["debugfs", "-R", "rdump /data/%s %s" % (lesson_id, after), image])
    after_lesson = os.path.join(after, lesson_id)
    # every file decodes to its end after the repair
    for name, stream in (("program.mp4", "v:0"), ("iso/cam.mp4", "v:0"), ("audio/teacher.m4a", "a:0")):
        path = os.path.join(after_lesson, name)
        err = decode_errors(path) if os.path.exists(path) else "missing"
        if err:
            res["errors"].append("after the repair, %s: %s" % (name, err[:300]))
    end, _ = decoded_end(os.path.join(after_lesson, "program.mp4"), "v:0")
    res["repaired_program_end_s"] = None if end is None else round(end, 2)
    if end is not None and "cut_at_s" in res:
        res["lost_after_repair_s"] = round(media_at_cut - end, 2)
    after = after_lesson
    try:
        lj = json.load(open(os.path.join(after, "lesson.json")))
        res["repaired_status"] = lj.get("status")
        res["repaired_duration_s"] = lj.get("duration_s")
        if lj.get("status") != "interrupted":
            res["errors"].append("after the restart: status %r" % lj.get("status"))
        if end is not None and abs(float(lj.get("duration_s", -1)) - end) > 0.15:
            res["errors"].append("repaired duration_s %s, the file holds %.2f s" % (lj.get("duration_s"), end))
    except (OSError, ValueError) as e:
        res["errors"].append("lesson.json after the restart: %s" % e)
    return res


def main():
    ap = argparse.ArgumentParser(description="power-cut trials in a VM")
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--build", default=os.path.join(SRC, "build"))
    ap.add_argument("--luobo")
    ap.add_argument("--work")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--min-s", type=float, default=4)
    ap.add_argument("--max-s", type=float, default=14)
    ap.add_argument("--boot-timeout", type=float, default=180)
    ap.add_argument("--max-lost", type=float, default=1.5,
                    help="most media time a cut may lose against the program clock (s)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    a = ap.parse_args()
    a.luobo = os.path.abspath(a.luobo or os.path.join(a.build, "daemon", "luobo"))
    a.work = os.path.abspath(a.work or os.path.join(a.build, "test-scratch", "powercut"))
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    vm = vivid_vm.prepare(os.path.join(a.build, "powercut-vm"), MODULES)
    image = os.path.join(a.work, "disk.img")
    with open(image, "wb") as f:
        f.truncate(1 << 30)
    subprocess.run(["mkfs.ext4", "-q", "-F", image], check=True)
    print("seed %d, %s, cuts between %.0f and %.0f s of lesson" % (a.seed, vivid_vm.accel(), a.min_s, a.max_s),
          flush=True)
    rnd = random.Random(a.seed)
    a.known = set()
    results = []
    for n in range(a.trials):
        t0 = time.monotonic()
        r = trial(a, vm, n, rnd)
        r["wall_s"] = round(time.monotonic() - t0, 1)
        results.append(r)
        print(json.dumps(r), flush=True)
    lost = [r["lost_s"] for r in results if "lost_s" in r]
    failed = [r for r in results if r["errors"]]
    print("trials %d, failed %d; lost against the program clock (s): %s; max %.2f; "
          "written but not on the disk (bytes): %s" % (
              len(results), len(failed), " ".join("%.2f" % x for x in lost), max(lost) if lost else -1,
              " ".join(str(r.get("written_not_on_disk_bytes")) for r in results)))
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    if not a.keep and not failed:
        shutil.rmtree(a.work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
