"""Runs inside the vivid VM (see vivid_vm.py), as root, with the host's
files: loads vivid, then runs the cases that test_v4l2_vivid.py wrote to
cases.json, each in its own folder, and leaves everything there for the
host to check.  Only orchestration here: every check is on the host."""
import json
import os
import subprocess
import sys
import time

WORK = os.getcwd()
LUOBO = os.environ["LUOBO_BIN"]
KROOT = os.environ["VIVID_KERNEL_ROOT"]
# one capture node (/dev/video0), single-planar; the inputs stay vivid's
# default (webcam first: discrete sizes and rates, as USB cameras have)
VIVID = ["vivid", "n_devs=1", "node_types=0x1", "multiplanar=1"]
DEV = "/dev/video0"


def log(msg):
    print("guest: %s" % msg, flush=True)


def sh(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        log("%s exited %d: %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p


def load_vivid():
    sh(["modprobe", "-d", KROOT, *VIVID])
    for _ in range(500):
        if os.path.exists(DEV):
            return True
        time.sleep(0.01)
    return False


def wait_for(path, text, after=0, timeout=60):
    """Waits until text appears in the file beyond offset after; returns its
    offset or -1."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            data = open(path, errors="replace").read()
        except OSError:
            data = ""
        i = data.find(text, after)
        if i >= 0:
            return i
        time.sleep(0.01)
    return -1


def run_luobo(d, args, timeout):
    with open(os.path.join(d, "luobo.log"), "w") as out:
        p = subprocess.run([LUOBO] + args, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode


def set_ctrls(c):
    for ctrl in c.get("ctrls", []):
        sh(["v4l2-ctl", "-d", DEV, "--set-ctrl", ctrl])


def case_record(d, c):
    set_ctrls(c)
    if c.get("ref"):
        # a frame straight from the driver, by another program: the reference
        r = c["ref"]
        sh(["v4l2-ctl", "-d", DEV, "--set-fmt-video=width=%d,height=%d,pixelformat=%s" % (r["w"], r["h"], r["fourcc"]),
            "--stream-mmap", "--stream-skip=2", "--stream-count=1", "--stream-to=" + os.path.join(d, "ref.raw")])
    result = {"rc": run_luobo(d, c["args"], c.get("timeout", 300))}
    if c.get("tool"):
        with open(os.path.join(d, "tool.jsonl"), "w") as out:
            result["tool_rc"] = subprocess.run([os.environ["CAPTURE_TOOL"]] + c["tool"], stdout=out,
                                               stderr=subprocess.PIPE, text=True, timeout=300).returncode
    return result


def case_disconnect(d, c):
    """vivid's Disconnect control unregisters the device as a USB unplug
    does: the open fd gets POLLERR, every ioctl ENODEV, and opening it
    again fails with ENODEV.  vivid registers it again when its last user
    closes it, so holding one fd open keeps the camera away for away_s;
    closing it is the camera plugged in again."""
    set_ctrls(c)
    name = c["source"]
    logf = os.path.join(d, "luobo.log")
    out = open(logf, "w")
    p = subprocess.Popen([LUOBO] + c["args"], stdout=out, stderr=subprocess.STDOUT)
    t = {}
    holder = -1
    try:
        at = wait_for(logf, "[capture:%s] live" % name, timeout=120)
        t["first_live"] = at >= 0
        time.sleep(c["before_s"])
        holder = os.open(DEV, os.O_RDWR)
        t0 = time.monotonic()
        sh(["v4l2-ctl", "-d", DEV, "--set-ctrl", "disconnect=1"])
        lost = wait_for(logf, "[capture:%s] lost" % name, after=at, timeout=30)
        t["lost_s"] = time.monotonic() - t0 if lost >= 0 else None
        # luobo's attempts to reopen while the camera is away
        time.sleep(c["away_s"])
        t["reopen_error"] = wait_for(logf, "[capture:%s] lost: cannot open" % name, after=max(lost, 0),
                                     timeout=1) >= 0
        t1 = time.monotonic()
        os.close(holder)
        holder = -1
        live = wait_for(logf, "[capture:%s] live" % name, after=max(lost, 0), timeout=30)
        t["live_again_s"] = time.monotonic() - t1 if live >= 0 else None
        t["rc"] = p.wait(timeout=300)
    finally:
        if holder >= 0:
            os.close(holder)
        if p.poll() is None:
            p.kill()
            p.wait()
        out.close()
    return t


def case_fault(d, c):
    """vivid's "Inject Fatal Streaming Error": the driver gives up on the
    stream mid-lesson (vb2_queue_error), as a capture card does after a DMA
    fault; a new open works at once."""
    set_ctrls(c)
    name = c["source"]
    logf = os.path.join(d, "luobo.log")
    out = open(logf, "w")
    p = subprocess.Popen([LUOBO] + c["args"], stdout=out, stderr=subprocess.STDOUT)
    t = {}
    try:
        at = wait_for(logf, "[capture:%s] live" % name, timeout=120)
        t["first_live"] = at >= 0
        time.sleep(c["before_s"])
        t0 = time.monotonic()
        sh(["v4l2-ctl", "-d", DEV, "--set-ctrl", "inject_fatal_streaming_error=1"])
        lost = wait_for(logf, "[capture:%s] lost" % name, after=at, timeout=30)
        t["lost_s"] = time.monotonic() - t0 if lost >= 0 else None
        live = wait_for(logf, "[capture:%s] live" % name, after=max(lost, 0), timeout=30)
        t["live_again_s"] = time.monotonic() - t0 if live >= 0 else None
        t["rc"] = p.wait(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        out.close()
    return t


def main():
    cases = json.load(open(os.path.join(WORK, "cases.json")))
    if not load_vivid():
        log("vivid did not come up")
        return 1
    with open(os.path.join(WORK, "offers.txt"), "w") as f:
        f.write(sh(["v4l2-ctl", "-d", DEV, "--list-formats-ext"]).stdout)
    results = {}
    for c in cases:
        d = os.path.join(WORK, c["name"])
        os.makedirs(d, exist_ok=True)
        log("case %s" % c["name"])
        t0 = time.monotonic()
        try:
            run = {"disconnect": case_disconnect, "fault": case_fault}.get(c["kind"], case_record)
            results[c["name"]] = run(d, c)
        except Exception as e:  # the host reports it; the other cases still run
            results[c["name"]] = {"exception": repr(e)}
        results[c["name"]]["wall_s"] = time.monotonic() - t0
        log("case %s: %s" % (c["name"], results[c["name"]]))
        with open(os.path.join(WORK, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
