"""Helpers shared by luobo's Python tests: run the daemon, probe its output.

Everything here checks content with ffprobe/ffmpeg; nothing asserts on
wall-clock time.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

LUOBO = os.environ.get("LUOBO_BIN", "luobo")
SRC = os.environ.get("LUOBO_SRC", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class Failure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failure(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo_config(data_dir, http_port=0, extra=None, replace=None):
    """The built-in demo classroom's config with a private data_dir and port.
    extra: text appended; replace: {old: new} substitutions."""
    text = subprocess.run([LUOBO, "--print-demo-config"], check=True,
                          capture_output=True, text=True).stdout
    text = text.replace("data_dir = recordings", "data_dir = %s" % data_dir)
    text = text.replace("http_port = 8080", "http_port = %d" % http_port)
    for old, new in (replace or {}).items():
        check(old in text, "demo config has no %r" % old)
        text = text.replace(old, new)
    return text + (extra or "")


def write_config(directory, text, name="luobo.ini"):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_luobo(args, timeout=600, check_rc=0):
    p = subprocess.run([LUOBO] + args, capture_output=True, text=True, timeout=timeout)
    if check_rc is not None and p.returncode != check_rc:
        sys.stderr.write(p.stderr[-4000:])
        raise Failure("luobo %s exited %d, expected %d" % (" ".join(args), p.returncode, check_rc))
    return p


def stop_daemon(proc, timeout=120):
    """SIGTERM, as a service manager stops it; killed when it does not end."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def lessons(data_dir):
    out = []
    for name in sorted(os.listdir(data_dir)):
        if os.path.isfile(os.path.join(data_dir, name, "lesson.json")):
            out.append(os.path.join(data_dir, name))
    return out


def load_lesson(lesson_dir):
    with open(os.path.join(lesson_dir, "lesson.json")) as f:
        return json.load(f)


def ffprobe_json(path, *args):
    p = subprocess.run(["ffprobe", "-v", "error", "-of", "json"] + list(args) + [path],
                       capture_output=True, text=True)
    check(p.returncode == 0, "ffprobe %s failed: %s" % (path, p.stderr.strip()))
    return json.loads(p.stdout)


def streams(path):
    return ffprobe_json(path, "-show_streams", "-show_format")


def packet_times(path, stream):
    """(pts_time, duration_time, flags) of every packet of a stream (v:0, a:0)."""
    data = ffprobe_json(path, "-select_streams", stream, "-show_entries",
                        "packet=pts_time,duration_time,flags")
    out = []
    for p in data.get("packets", []):
        out.append((float(p.get("pts_time", "nan")), float(p.get("duration_time", 0) or 0),
                    p.get("flags", "")))
    return out


def count_decoded_frames(path, stream="v:0"):
    data = ffprobe_json(path, "-count_frames", "-select_streams", stream,
                        "-show_entries", "stream=nb_read_frames")
    return int(data["streams"][0]["nb_read_frames"])


def decode_errors(path):
    """Decodes the whole file; returns ffmpeg's error output (empty when clean)."""
    p = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-f", "null", "-"],
                       capture_output=True, text=True)
    return (p.stderr.strip() if p.returncode == 0 else "exit %d: %s" % (p.returncode, p.stderr)).strip()


def decode_audio(path, rate=48000):
    """The first audio stream as a list of float samples (mono)."""
    import array
    p = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-map", "a:0",
                        "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"], capture_output=True)
    check(p.returncode == 0, "cannot decode audio of %s" % path)
    a = array.array("h")
    a.frombytes(p.stdout[: len(p.stdout) // 2 * 2])
    return [x / 32768.0 for x in a]


def tone_frequency(samples, rate=48000):
    """Frequency of a steady tone by counting rising zero crossings."""
    crossings = 0
    for i in range(1, len(samples)):
        if samples[i - 1] < 0 <= samples[i]:
            crossings += 1
    return crossings * rate / max(1, len(samples))


class Scratch:
    """A temporary folder removed at exit unless the test failed."""

    def __init__(self, prefix):
        self.path = tempfile.mkdtemp(prefix="luobo-%s-" % prefix)

    def __enter__(self):
        return self.path

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            sys.stderr.write("scratch kept in %s\n" % self.path)
        return False


def main(tests):
    """Runs the named test functions (argv[1:] or all) and prints a summary."""
    names = sys.argv[1:] or list(tests)
    failed = 0
    for name in names:
        try:
            tests[name]()
            print("PASS %s" % name)
        except Failure as e:
            failed += 1
            print("FAIL %s: %s" % (name, e))
    print("%d passed, %d failed" % (len(names) - failed, failed))
    sys.exit(1 if failed else 0)
