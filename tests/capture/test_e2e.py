"""End to end through the daemon: an RTSP IP camera (rtsp_cam) and a
synthetic mic, recorded for 40 s in real time; the camera is killed at 12 s
and comes back at 22 s.  program.mp4 must have 40 s x fps frames (+-1%):
the program never stalls; the frames of the gap are the "no signal"
slate; those after it are the camera again.

Usage: test_e2e.py rtsp_dropout
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caplib import *  # noqa: E402,F401

LUOBO = os.environ.get("LUOBO_BIN", "luobo")
FPS = 30
SECONDS = 40


def frame_luma(path, t):
    """Mean luma of the top-left 32x32 block and of the frame at t seconds."""
    p = subprocess.run(["ffmpeg", "-v", "error", "-ss", "%.3f" % t, "-i", path, "-frames:v", "1",
                        "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True)
    data = p.stdout
    w = 640
    h = len(data) // w
    corner = sum(data[y * w + x] for y in range(32) for x in range(32)) / 1024.0
    return corner, sum(data[::97]) / len(data[::97]), h


def rtsp_dropout():
    wd = scratch("e2e_rtsp_dropout")
    media = os.path.join(os.environ.get("LUOBO_BUILD", "/tmp"), "test-scratch", "capture-media")
    os.makedirs(media, exist_ok=True)
    cam_mp4 = make_h264(os.path.join(media, "cam360.mp4"), 60)
    port = free_port()
    data = os.path.join(wd, "data")
    cfg = write(os.path.join(wd, "luobo.ini"), """[general]
data_dir = %s
http_port = %d
width = 640
height = 360
fps = %d

[source.cam]
type = url
role = teacher
url = rtsp://127.0.0.1:%d/cam

[mic.teacher]
type = synthetic
role = teacher
frequency_hz = 440

[encoder]
preset = ultrafast
bitrate_kbps = 1000

[director]
mode = auto
""" % (data, free_port(), FPS, port))
    log = open(os.path.join(wd, "cam.log"), "w")
    cam = Peer([RTSP_CAM, str(port), cam_mp4], ready="ready", log=log).start()
    dlog = open(os.path.join(wd, "luobo.log"), "w")
    d = subprocess.Popen([LUOBO, "--config", cfg, "--record", "--duration", str(SECONDS)],
                         stdout=dlog, stderr=subprocess.STDOUT)
    try:
        time.sleep(12)
        cam.stop()
        time.sleep(10)
        cam = Peer([RTSP_CAM, str(port), cam_mp4], ready="ready", log=log).start()
        rc = d.wait(timeout=SECONDS + 60)
    finally:
        cam.stop()
        if d.poll() is None:
            d.kill()
    check(rc == 0, "luobo exited %d" % rc)
    lessons = [os.path.join(data, n) for n in os.listdir(data) if os.path.isdir(os.path.join(data, n))]
    check(len(lessons) == 1, "one lesson")
    program = os.path.join(lessons[0], "program.mp4")
    p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                        "stream=nb_read_frames", "-of", "csv=p=0", program], capture_output=True, text=True)
    frames = int(p.stdout.strip().split(",")[0])
    want = SECONDS * FPS
    check(abs(frames - want) <= want * 0.01, "program.mp4 has %d frames (40 s x %d fps = %d, +-1%%)"
          % (frames, FPS, want))
    log_text = open(os.path.join(wd, "luobo.log")).read()
    check("[capture:cam] lost" in log_text and log_text.count("[capture:cam] live") >= 2,
          "the log tells the camera was lost and came back")
    # the gap shows the slate (grey 0x303030: luma 48 once decoded to full-range gray)
    corner, mean, h = frame_luma(program, 17.0)
    check(abs(corner - 48) < 6, "at 17 s the program shows the slate (corner luma %.1f)" % corner)
    corner2, mean2, _ = frame_luma(program, 35.0)
    check(abs(corner2 - 48) >= 6 or abs(mean2 - mean) > 10,
          "at 35 s the program shows the camera again (corner %.1f, mean %.1f)" % (corner2, mean2))


if __name__ == "__main__":
    {"rtsp_dropout": rtsp_dropout}[sys.argv[1]]()
    print("PASS")
