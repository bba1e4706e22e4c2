"""Runs inside the power-cut VM (see powercut.py): mounts the virtio disk
and either records until the host pulls the plug, or starts luobo once more
(which repairs the interrupted lesson) and exits.

  guest.py record    luobo --record, paced; the lesson's elapsed_s from
                     /api/v1/status and the lesson's program.mp4's size as
                     the guest sees it appended to $WORK/progress every 50 ms
  guest.py repair    luobo --duration 1 (start-up repair), then a clean
                     unmount

Environment: LUOBO_BIN, KROOT (the unpacked kernel package), WORK, PORT."""
import json
import os
import subprocess
import sys
import time
import urllib.request

KROOT = os.environ["KROOT"]
WORK = os.environ["WORK"]
LUOBO = os.environ["LUOBO_BIN"]
MNT = "/run/rec"


def log(msg):
    print("guest: %s" % msg, flush=True)


def sh(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        log("%s exited %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
        sys.exit(1)
    return p.stdout


def mount():
    sh(["modprobe", "-d", KROOT, "crc32c_generic"])
    sh(["modprobe", "-d", KROOT, "virtio_blk"])
    sh(["modprobe", "-d", KROOT, "ext4"])
    for _ in range(500):
        if os.path.exists("/dev/vda"):
            break
        time.sleep(0.01)
    os.makedirs(MNT, exist_ok=True)
    sh(["mount", "-t", "ext4", "/dev/vda", MNT])
    log("disk mounted")


def newest_program():
    data = os.path.join(MNT, "data")
    names = sorted(d for d in os.listdir(data) if d[:8].isdigit()) if os.path.isdir(data) else []
    return os.path.join(data, names[-1], "program.mp4") if names else None


def thread_cpu(pid):
    """luobo's threads' CPU time (s) by name, as the guest's kernel counts it."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            stat = open("/proc/%d/task/%s/stat" % (pid, tid)).read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        f = stat[stat.rindex(")") + 2:].split()
        out[name] = round(out.get(name, 0) + (int(f[11]) + int(f[12])) / tick, 2)
    return out


def record():
    cfg = os.path.join(WORK, "luobo.ini")
    progress = open(os.path.join(WORK, "progress"), "a")
    threads = open(os.path.join(WORK, "threads.jsonl"), "a")
    p = subprocess.Popen([LUOBO, "--config", cfg, "--record", "--duration", "3600"],
                         stdout=open(os.path.join(WORK, "luobo-record.log"), "a"),
                         stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%s/metrics" % os.environ["PORT"]
    last_threads = 0
    el = None
    while p.poll() is None:
        try:
            t0 = time.monotonic()
            with urllib.request.urlopen(url, timeout=2) as r:
                m = dict(line.rsplit(" ", 1) for line in r.read().decode().splitlines()
                         if line and not line.startswith("#"))
            el = float(m["luobo_recording_elapsed_seconds"])
            if m["luobo_recording"] == "1" and el > 0:
                # and how much of this lesson's program.mp4 the guest's
                # kernel has (its page cache): what luobo wrote, durable or not
                path = newest_program()
                size = os.path.getsize(path) if path and os.path.exists(path) else 0
                # g: the guest's clock when the metrics were asked for (the
                # host pairs it with its own to place the cut on the
                # program clock); the program's counters say whether the
                # guest kept real time, frames - encoded is the encoder's queue
                progress.write(json.dumps({
                    "g": round(t0, 3), "el": el, "size": size,
                    "ask_s": round(time.monotonic() - t0, 3),
                    "late": int(m["luobo_program_late_frames_total"]),
                    "skipped": int(m["luobo_program_skipped_frames_total"]),
                    "shed": int(m["luobo_program_shed_level"]),
                    "lag": float(m["luobo_program_lag_seconds"]),
                    "frames": int(m["luobo_program_frames_total"]),
                    "encoded": int(m["luobo_program_encoded_frames_total"])}) + "\n")
                progress.flush()
            if time.monotonic() - last_threads >= 1:
                last_threads = time.monotonic()
                cpu = open("/proc/stat").readline().split()[1:]
                threads.write(json.dumps({"g": round(last_threads, 3), "el": el,
                                          "threads": thread_cpu(p.pid),
                                          "idle_s": int(cpu[3]) / os.sysconf("SC_CLK_TCK"),
                                          "total_s": sum(map(int, cpu[:8])) / os.sysconf("SC_CLK_TCK")})
                              + "\n")
                threads.flush()
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    log("luobo exited %d before the power cut" % p.returncode)
    sys.exit(1)


def repair():
    cfg = os.path.join(WORK, "luobo.ini")
    with open(os.path.join(WORK, "luobo-repair.log"), "w") as out:
        rc = subprocess.run([LUOBO, "--config", cfg, "--duration", "1"], stdout=out,
                            stderr=subprocess.STDOUT).returncode
    sh(["umount", MNT])
    log("repair run exited %d, disk unmounted" % rc)
    sys.exit(rc)


if __name__ == "__main__":
    mount()
    {"record": record, "repair": repair}[sys.argv[1]]()
