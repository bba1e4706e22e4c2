"""Helpers shared by the streamer tests (python3 stdlib only)."""
import atexit
import json
import os
import signal
import shutil
import socket
import subprocess
import sys
import tempfile

TOOL = os.environ.get("STREAMER_TOOL", "")

_children = []


def spawn(args, **kwargs):
    """Popen that is stopped when the test exits, whatever the way out
    (SIGTERM first: an nginx master then takes its workers with it)."""
    p = subprocess.Popen(args, **kwargs)
    _children.append(p)
    return p


@atexit.register
def _stop_children():
    for p in _children:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in _children:
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def fail(msg):
    print("FAIL:", msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok:", msg, flush=True)


def scratch(name):
    base = os.environ.get("LUOBO_BUILD", tempfile.gettempdir())
    d = os.path.join(base, "test-scratch", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def run_tool(*args, env=None, timeout=240):
    e = dict(os.environ)
    if env:
        e.update(env)
    p = subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=timeout, env=e)
    sys.stderr.write(p.stderr[-4000:])
    if p.returncode != 0:
        fail(f"streamer_tool {' '.join(args)} exited {p.returncode}: {p.stdout}")
    return parse_kv(p.stdout)


def parse_kv(text):
    out = {}
    for line in text.splitlines():
        if "=" in line and " " not in line.split("=", 1)[0]:
            k, v = line.split("=", 1)
            out[k] = v
    return out


def ffprobe_json(path, *args):
    p = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, path],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        fail(f"ffprobe {path}: {p.stderr}")
    return json.loads(p.stdout)


def stream_info(path):
    return ffprobe_json(path, "-show_streams", "-count_frames")["streams"]


def decode_errors(path, extra=()):
    """Decodes the whole file; returns ffmpeg's error output."""
    p = subprocess.run(["ffmpeg", "-v", "error", *extra, "-i", path, "-f", "null", "-"],
                       capture_output=True, text=True, timeout=300)
    return p.stderr.strip() if p.returncode == 0 else (p.stderr.strip() or "exit %d" % p.returncode)


def top_boxes(path):
    boxes = []
    with open(path, "rb") as f:
        while True:
            h = f.read(8)
            if len(h) < 8:
                break
            size = int.from_bytes(h[:4], "big")
            hdr = 8
            if size == 1:
                size = int.from_bytes(f.read(8), "big")
                hdr = 16
            boxes.append(h[4:8].decode("latin1"))
            if size == 0:
                break
            f.seek(size - hdr, 1)
    return boxes


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
