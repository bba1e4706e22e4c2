#!/usr/bin/env python3
"""Runs ui_test.js (playwright-core + /usr/bin/chromium) against webui_testd
with a real MP4 fixture and a live HLS stream made by ffmpeg.  Screenshots
go to $LUOBO_BUILD/screenshots."""
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))
from webui_common import Server  # noqa: E402

BUILD = os.environ.get("LUOBO_BUILD", os.getcwd())
SRC = os.environ.get("LUOBO_SRC", os.path.join(HERE, "..", ".."))


def npm_install():
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


def main():
    for tool in ("node", "npm", "ffmpeg", "/usr/bin/chromium"):
        if not shutil.which(tool):
            print("SKIP: %s not installed (scripts/setup.sh installs it)" % tool)
            sys.exit(77)
    node_dir = npm_install()
    scratch = Server.scratch()
    shots = os.path.join(BUILD, "screenshots")
    os.makedirs(shots, exist_ok=True)
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


if __name__ == "__main__":
    main()
