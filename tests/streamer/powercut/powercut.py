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
     one synthetic camera, its ISO file, one mic's file); the guest appends
     the lesson's elapsed_s to a shared file every 50 ms;
  2. SIGKILL qemu when the lesson has run a random time (--min-s..--max-s);
     the media time at the cut is the last elapsed_s seen plus the wall time
     since it was seen (an overestimate by up to one poll: the loss counted
     errs on the large side);
  3. on a copy of the image: e2fsck (the journal replay a reboot would do),
     debugfs rdump of the lesson; lesson.json parses and says "recording";
     program.mp4, iso/cam.mp4 and audio/teacher.m4a decode; lost = media
     time at the cut - program.mp4's decoded end: at most --max-lost (1.5 s).
     The guest also reports program.mp4's size as its kernel sees it: bytes
     luobo had written that the disk lacks are the durability's own loss
     (the rest is what was still in the encoders and the fragment being
     built; in a TCG guest on a busy host the program falls behind real
     time and that part grows);
  4. boot again on the image: luobo starts (repairing), exits; lesson.json
     says "interrupted" with program.mp4's duration.
Prints one line per trial and a summary; exits 1 if a trial fails.
Takes about a minute per trial on 2 cores with TCG (no KVM); not in CI.
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
""" % (port, FPS)


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
    last = None            # (guest's program.mp4 size, elapsed_s, host time seen)
    cut_el = None          # elapsed_s at which to cut: counted from the first fragment
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
        if chunk.endswith("\n"):
            pos += len(chunk.encode())
            el, size = chunk.strip().split("\n")[-1].split()
            last = (int(size), float(el), now)
            if cut_el is None and last[0] > 0:
                cut_el = last[1] + cut_at
        if cut_el is not None and last[1] + (now - last[2]) >= cut_el:
            break
        time.sleep(0.02)
    if p.poll() is not None or not last:
        p.kill()
        p.communicate()
        raise vivid_vm.VmError("trial %d: the recording did not run (guest log: %s; console: %s)" % (
            n, vivid_vm.tail(os.path.join(work, "guest.log")), vivid_vm.tail(os.path.join(work, "console.log"))))
    t_cut = time.monotonic()
    os.kill(p.pid, signal.SIGKILL)
    p.communicate()
    guest_size, el, seen = last
    media_at_cut = el + (t_cut - seen)

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
    res = dict(trial=n, cut_at_s=round(media_at_cut, 2), fsck=fsck.returncode, errors=[],
               guest_program_bytes=guest_size)
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
        err = decode_errors(path)
        if e is None or err:
            res["errors"].append("%s: %s" % (name, (why or err)[:300]))

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
    run(["debugfs", "-R", "dump /data/%s/lesson.json %s/lesson.json" % (lesson_id, after), image])
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
