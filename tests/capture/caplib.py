"""Helpers for the capture tests (python3 stdlib only): media made with
ffmpeg, peers on 127.0.0.1, and capture_tool runs parsed from JSON lines."""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TOOL = os.environ.get("CAPTURE_TOOL", "capture_tool")
RTSP_CAM = os.environ.get("RTSP_CAM", "rtsp_cam")


def fail(msg):
    print("FAIL:", msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok:", msg, flush=True)


def scratch(name):
    base = os.environ.get("LUOBO_BUILD", tempfile.gettempdir())
    d = os.path.join(base, "test-scratch", "capture", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_h264(path, seconds, size="640x360", fps=30, gop=30, extra=()):
    """An H.264 MP4 without B-frames (as cameras send) of testsrc2."""
    if os.path.exists(path):
        return path
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=s=%s:r=%d:d=%g" % (size, fps, seconds),
                    "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", str(gop),
                    "-pix_fmt", "yuv420p", *extra, path], check=True)
    return path


def packet_sizes(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "packet=size,flags", "-of", "csv=p=0", path],
                       capture_output=True, text=True, check=True)
    out = []
    for line in p.stdout.split():
        size, flags = line.split(",")[:2]
        out.append((int(size), "K" in flags))
    return out


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


class Peer:
    """A child process (a camera, a listener) that can be killed and restarted."""

    def __init__(self, args, ready=None, log=None):
        self.args, self.ready, self.log = args, ready, log
        self.p = None

    def start(self):
        self.p = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self.log or subprocess.DEVNULL,
                                  text=True)
        if self.ready:
            line = self.p.stdout.readline()
            if self.ready not in line:
                fail("peer %s did not start: %r" % (self.args[0], line))
        self.started_mono_us = int(time.monotonic() * 1e6)
        return self

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.p = None


def run_tool(kind, config_text, section, seconds, *args, workdir, env=None, background=False):
    cfg = write(os.path.join(workdir, "capture.ini"), config_text)
    cmd = [TOOL, kind, cfg, section, str(seconds), *args]
    e = dict(os.environ)
    e.update(env or {})
    log = open(os.path.join(workdir, "tool.log"), "w")
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=e)
    if background:
        return p
    return finish(p, workdir)


def finish(p, workdir, timeout=900):
    out, _ = p.communicate(timeout=timeout)
    if p.returncode != 0:
        sys.stderr.write(open(os.path.join(workdir, "tool.log")).read()[-3000:])
        fail("capture_tool exited %d" % p.returncode)
    events = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    return events


def by(events, ev):
    return [e for e in events if e["ev"] == ev]


def end(events):
    e = by(events, "end")
    if not e:
        fail("capture_tool printed no end: %s" % by(events, "create_error"))
    return e[0]
