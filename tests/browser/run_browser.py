#!/usr/bin/env python3
"""Runs ui_test.js (playwright-core + /usr/bin/chromium) against webui_testd
with a real MP4 fixture and a live HLS stream made by ffmpeg.  Screenshots
go to $LUOBO_BUILD/screenshots."""
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))
from webui_common import Server  # noqa: E402

BUILD = os.environ.get("LUOBO_BUILD", os.getcwd())
SRC = os.environ.get("LUOBO_SRC", os.path.join(HERE, "..", ".."))


def npm_install():
    # scripts/dev.sh installs next to package.json; otherwise into the build tree.
    if os.path.exists(os.path.join(HERE, "node_modules", "playwright-core")):
        return HERE
    node_dir = os.path.join(BUILD, "tests", "browser-node")
    os.makedirs(node_dir, exist_ok=True)
    shutil.copy(os.path.join(HERE, "package.json"), node_dir)
    if not os.path.exists(os.path.join(node_dir, "node_modules", "playwright-core")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=node_dir,
                       check=True, timeout=600)
    return node_dir


def ffmpeg(*args, background=False):
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"] + list(args)
    if background:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    subprocess.run(cmd, check=True, timeout=300)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """The real luobo with a small synthetic hall (demo-like), on loopback."""

    def __init__(self, scratch):
        self.data = os.path.join(scratch, "data")
        self.live = os.path.join(scratch, "live")
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.ini = os.path.join(scratch, "luobo.ini")
        hall = ("[general]\ndata_dir = %s\nlive_dir = %s\nhttp_port = %d\n"
                "http_address = 127.0.0.1\nwww_dir = %s\nwidth = 640\nheight = 360\nfps = 25\n\n"
                % (self.data, self.live, self.port, os.path.join(SRC, "webui", "www")))
        for name in ("teacher", "students", "board"):
            hall += "[source.%s]\ntype = synthetic\nrole = %s\n\n" % (name, name)
        hall += ("[mic.teacher]\ntype = synthetic\nrole = teacher\n\n"
                 "[mic.students]\ntype = synthetic\nrole = students\nfrequency_hz = 660\n\n"
                 "[encoder]\npreset = veryfast\nbitrate_kbps = 800\nkeyint_s = 1\n\n")
        live = "[output.live]\ntype = hls\ndir = %s\nname = program\nsegment_s = 1\n" % self.live
        # Live HLS only if this build of the daemon has the hls output.
        with open(self.ini, "w") as f:
            f.write(hall + live)
        self.has_live = subprocess.run([os.environ["LUOBO_BIN"], "--config", self.ini,
                                        "--check-config"], capture_output=True).returncode == 0
        if not self.has_live:
            with open(self.ini, "w") as f:
                f.write(hall)
        self.logf = open(os.path.join(scratch, "luobo.log"), "w")
        self.proc = subprocess.Popen([os.environ["LUOBO_BIN"], "--config", self.ini],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        for _ in range(400):
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        self.logf.flush()
        with open(self.logf.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else "testd"
    if target == "daemon" and not os.access(os.environ.get("LUOBO_BIN", ""), os.X_OK):
        print("SKIP: no luobo binary")
        sys.exit(77)
    for tool in ("node", "npm", "ffmpeg", "/usr/bin/chromium"):
        if not shutil.which(tool):
            print("SKIP: %s not installed (scripts/setup.sh installs it)" % tool)
            sys.exit(77)
    node_dir = npm_install()
    scratch = Server.scratch()
    shots = os.path.join(BUILD, "screenshots", target)
    os.makedirs(shots, exist_ok=True)
    if target == "daemon":
        sys.exit(run_daemon(node_dir, scratch, shots))
    fixture = os.path.join(scratch, "fixture.mp4")
    src = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    enc = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25",
           "-c:a", "aac", "-b:a", "96k"]
    ffmpeg(*src, "-t", "8", *enc, "-movflags", "+faststart", fixture)
    live = os.path.join(scratch, "live")
    os.makedirs(live)
    hls = ffmpeg("-re", *src, *enc, "-f", "hls", "-hls_time", "1", "-hls_list_size", "6",
                 "-hls_flags", "delete_segments", os.path.join(live, "program.m3u8"),
                 background=True)
    srv = None
    code = 1
    try:
        # the playlist exists once ffmpeg wrote its first segments
        for _ in range(600):
            p = os.path.join(live, "program.m3u8")
            if os.path.exists(p) and open(p).read().count("#EXTINF") >= 2:
                break
            time.sleep(0.05)
        srv = Server(www=os.path.join(SRC, "webui", "www"), live=live, fixture=fixture)
        if not srv.alive():
            print(srv.log_text())
            sys.exit(1)
        env = dict(os.environ, BASE=srv.base, SHOTS=shots,
                   PROFILE=os.path.join(scratch, "profile"), LIVE="1",
                   NODE_PATH=os.path.join(node_dir, "node_modules"))
        code = subprocess.run(["node", os.path.join(HERE, "ui_test.js")], env=env,
                              timeout=600).returncode
        if srv.stop() != 0:
            print("webui_testd did not exit cleanly:\n" + srv.log_text())
            code = code or 1
    finally:
        hls.terminate()
        hls.wait()
        if srv and srv.proc.poll() is None:
            srv.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print("screenshots in " + shots)
    sys.exit(code)


def run_daemon(node_dir, scratch, shots):
    d = Daemon(scratch)
    code = 1
    try:
        if not d.alive():
            print(d.log_text())
            return 1
        env = dict(os.environ, BASE=d.base, SHOTS=shots, PROFILE=os.path.join(scratch, "profile"),
                   LIVE="1" if d.has_live else "0", NODE_PATH=os.path.join(node_dir, "node_modules"))
        if not d.has_live:
            print("note: this luobo has no hls output yet; the live viewer check is skipped")
        code = subprocess.run(["node", os.path.join(HERE, "ui_test.js")], env=env,
                              timeout=900).returncode
        # The lesson the browser recorded must be a playable file.
        lessons = [x for x in os.listdir(d.data) if not x.startswith(".")] if os.path.isdir(d.data) else []
        mp4s = [os.path.join(d.data, x, "program.mp4") for x in lessons]
        mp4s = [m for m in mp4s if os.path.exists(m)]
        frames = 0
        if mp4s:
            out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                                  "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", mp4s[0]],
                                 capture_output=True, text=True)
            frames = int(out.stdout.strip() or 0) if out.stdout.strip().isdigit() else 0
        print(("ok   " if frames > 25 else "FAIL ") +
              "daemon: the recorded program.mp4 decodes (%d frames)" % frames)
        if frames <= 25:
            code = code or 1
        if d.stop() != 0:
            print("luobo did not exit cleanly:\n" + d.log_text()[-3000:])
            code = code or 1
    finally:
        if d.alive():
            d.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print("screenshots in " + shots)
    return code


if __name__ == "__main__":
    main()
