"""End to end through the daemon: an RTSP IP camera (rtsp_cam) and a
synthetic mic, recorded for 40 s in real time; the camera is killed at 12 s
and comes back at 22 s.  program.mp4 must have 40 s x fps frames (+-1%):
the program never stalls; the frames of the gap are the "no signal"
slate; those after it are the camera again.  The camera's resource-mode
track (iso/cam.mp4, a stream copy) shows the slate during the gap too: one
H.264 stream that decodes without an error, the camera's own packets
before and after the gap, no hole in its timestamps.

Usage: test_e2e.py rtsp_dropout | rtsp_substream | drift | alsa | errors
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caplib import *  # noqa: E402,F401

LUOBO = os.environ.get("LUOBO_BIN", "luobo")
FPS = 30
SECONDS = 40


def lesson_dir(data):
    found = [os.path.join(data, n) for n in sorted(os.listdir(data))
             if os.path.isfile(os.path.join(data, n, "program.mp4"))]
    check(len(found) == 1, "one lesson recorded (%s)" % found)
    return found[0]


def program_frames(lesson):
    """The number of frames in a lesson's program.mp4, and its duration_s."""
    p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                        "stream=nb_read_frames", "-of", "csv=p=0", os.path.join(lesson, "program.mp4")],
                       capture_output=True, text=True)
    with open(os.path.join(lesson, "lesson.json")) as f:
        return int(p.stdout.strip().split(",")[0]), json.load(f)["duration_s"]


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
    # --record waits (a little) for the cameras to come up before the lesson
    # starts: the lesson is duration_s long, at most 40 s
    frames, duration = program_frames(lessons[0])
    check(SECONDS - 5 <= duration <= SECONDS + 0.1, "the lesson lasts %.2f s" % duration)
    want = duration * FPS
    check(abs(frames - want) <= want * 0.01, "program.mp4 has %d frames (%.2f s x %d fps = %.0f, +-1%%)"
          % (frames, duration, FPS, want))
    log_text = open(os.path.join(wd, "luobo.log")).read()
    check("[capture:cam] lost" in log_text and log_text.count("[capture:cam] live") >= 2,
          "the log tells the camera was lost and came back")
    # the gap shows the slate (grey 0x303030: luma 48 once decoded to full-range gray)
    corner, mean, h = frame_luma(program, 17.0)
    check(abs(corner - 48) < 6, "at 17 s the program shows the slate (corner luma %.1f)" % corner)
    corner2, mean2, _ = frame_luma(program, 35.0)
    check(abs(corner2 - 48) >= 6 or abs(mean2 - mean) > 10,
          "at 35 s the program shows the camera again (corner %.1f, mean %.1f)" % (corner2, mean2))
    # resource mode: the IP camera's own H.264, stream-copied, and the slate
    # in the same track while it was away
    iso = os.path.join(lessons[0], "iso", "cam.mp4")
    check_stream_copy(cam_mp4, iso)
    check_iso_slate(cam_mp4, iso, program, duration)


def scrape_metrics(port):
    import urllib.request
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=2) as r:
            return r.read().decode()
    except OSError:
        return ""


def rtsp_substream():
    """An IP camera with a main stream (640x360) and a sub-stream (320x180),
    each from its own RTSP server, recorded 30 s in real time with the
    automatic director.  The sub-stream is killed at 10 s and comes back at
    18 s: the director analyses the main stream meanwhile (decoded in full)
    and the sub-stream again after; the log and /metrics say so, and the
    program never misses a frame."""
    wd = scratch("e2e_rtsp_substream")
    media = os.path.join(os.environ.get("LUOBO_BUILD", "/tmp"), "test-scratch", "capture-media")
    os.makedirs(media, exist_ok=True)
    main_mp4 = make_h264(os.path.join(media, "cam360.mp4"), 60)
    sub_mp4 = make_h264(os.path.join(media, "cam180.mp4"), 60, size="320x180")
    main_port, sub_port, http_port = free_port(), free_port(), free_port()
    data = os.path.join(wd, "data")
    seconds = 30
    cfg = write(os.path.join(wd, "luobo.ini"), """[general]
data_dir = %s
http_port = %d
width = 640
height = 360
fps = %d

[source.cam]
type = url
role = students
url = rtsp://127.0.0.1:%d/cam
analysis_url = rtsp://127.0.0.1:%d/cam

[source.screen]
type = synthetic
role = screen
width = 640
height = 360

[mic.teacher]
type = synthetic
role = teacher

[encoder]
preset = ultrafast
bitrate_kbps = 1000

[director]
mode = auto

[auth]
metrics_public = true
""" % (data, http_port, FPS, main_port, sub_port))
    log = open(os.path.join(wd, "cam.log"), "w")
    main_cam = Peer([RTSP_CAM, str(main_port), main_mp4], ready="ready", log=log).start()
    sub_cam = Peer([RTSP_CAM, str(sub_port), sub_mp4], ready="ready", log=log).start()
    dlog = open(os.path.join(wd, "luobo.log"), "w")
    d = subprocess.Popen([LUOBO, "--config", cfg, "--record", "--duration", str(seconds)],
                         stdout=dlog, stderr=subprocess.STDOUT)
    metrics = {}
    try:
        time.sleep(8)
        metrics["before"] = scrape_metrics(http_port)
        sub_cam.stop()
        time.sleep(6)
        metrics["gap"] = scrape_metrics(http_port)
        time.sleep(2)
        sub_cam = Peer([RTSP_CAM, str(sub_port), sub_mp4], ready="ready", log=log).start()
        time.sleep(6)
        metrics["after"] = scrape_metrics(http_port)
        rc = d.wait(timeout=seconds + 60)
    finally:
        sub_cam.stop()
        main_cam.stop()
        if d.poll() is None:
            d.kill()
    check(rc == 0, "luobo exited %d" % rc)
    for when, state, up in (("before", "live", 1), ("gap", None, 0), ("after", "live", 1)):
        m = re.search(r'luobo_source_analysis_up\{source="cam",state="(\w+)"\} (\d)', metrics[when])
        check(m and int(m.group(2)) == up and (state is None or m.group(1) == state),
              "/metrics %s the gap: luobo_source_analysis_up %s" % (when, m.group(0) if m else "missing"))
    log_text = open(os.path.join(wd, "luobo.log")).read()
    for line in ("[capture:cam/analysis] lost",
                 "source cam: its sub-stream gives no picture: the director analyses the main stream",
                 "source cam: the director analyses its sub-stream again",
                 "source cam, sub-stream analysed: live, 320x180"):
        check(line in log_text, "the log says %r" % line)
    lesson = lesson_dir(data)
    program = os.path.join(lesson, "program.mp4")
    err, _ = ffmpeg_errors("-i", program, "-f", "null", "-")
    check(not err, "program.mp4 decodes without errors: %s" % err[:300])
    frames, duration = program_frames(lesson)
    want = duration * FPS
    check(seconds - 5 <= duration and abs(frames - want) <= want * 0.01,
          "program.mp4 has %d frames (%.2f s x %d fps, +-1%%)" % (frames, duration, FPS))
    print("sub-stream dropout: %d frames in %.2f s; metrics %s" % (frames, duration, {
        k: re.search(r'luobo_source_analysis_up\{[^}]*\} \d', v).group(0) for k, v in metrics.items()}))


def ffmpeg_errors(*args):
    """What ffmpeg -v error says (nothing for a clean file) and its stdout."""
    p = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *args], capture_output=True)
    return p.stderr.decode(errors="replace").strip(), p.stdout


def small_gray_frames(path, w=64, h=36):
    """Every frame (no frame rate conversion) as a w x h gray image."""
    errors, raw = ffmpeg_errors("-i", path, "-fps_mode", "passthrough", "-enc_time_base", "-1",
                                "-vf", "scale=%d:%d" % (w, h),
                                "-f", "rawvideo", "-pix_fmt", "gray", "-")
    return errors, [raw[i:i + w * h] for i in range(0, len(raw) - w * h + 1, w * h)]


def looks_like_slate(img, w=64):
    """The slate is flat grey 0x303030 (luma 48 once decoded to full-range
    gray) above and below its text."""
    rows = img[:6 * w] + img[-6 * w:]
    return all(abs(v - 48) <= 6 for v in rows)


def camera_marks(iso_sizes, cam_sizes, window=30):
    """For each of the ISO's packets, whether it lies in a run of `window`
    packets that the camera sent in that order (the file is looped)."""
    looped = cam_sizes * 3
    known = set(tuple(looped[i:i + window]) for i in range(len(cam_sizes)))
    marks = [False] * len(iso_sizes)
    for i in range(len(iso_sizes) - window + 1):
        if tuple(iso_sizes[i:i + window]) in known:
            for k in range(i, i + window):
                marks[k] = True
    return marks


def check_iso_slate(cam_mp4, iso, program, duration):
    p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "packet=pts_time,dts_time,size,flags", "-of", "csv=p=0", iso],
                       capture_output=True, text=True, check=True)
    pkts = []
    for line in p.stdout.split():
        pts, dts, size, flags = line.split(",")[:4]
        pkts.append((float(pts), float(dts), int(size), "K" in flags))
    # decodable end to end, by a decoder and through a stream copy: no error
    # anywhere, in particular where the slate begins and ends.  Timestamps
    # are kept as they are: put on ffmpeg's frame grid, two of the camera's
    # own frames that capture stamped 13 ms apart (its time map stepping
    # back to an early arrival) would make a complaint about the grid, not
    # about the stream
    errors, _ = ffmpeg_errors("-i", iso, "-fps_mode", "passthrough", "-enc_time_base", "-1", "-f", "null", "-")
    check(not errors, "iso/cam.mp4 decodes without an error%s" % (": " + errors[:300] if errors else ""))
    errors, _ = ffmpeg_errors("-i", iso, "-c", "copy", "-copytb", "1", "-f", "null", "-")
    check(not errors, "iso/cam.mp4 stream-copies without an error%s" % (": " + errors[:300] if errors else ""))
    errors, frames = small_gray_frames(iso)
    check(not errors and len(frames) == len(pkts),
          "every one of the %d packets decodes to a picture (%d decoded)%s"
          % (len(pkts), len(frames), ": " + errors[:300] if errors else ""))
    # no hole: the slate continues the camera's timeline and the camera
    # continues the slate's
    dts = [d for _, d, _, _ in pkts]
    steps = [b - a for a, b in zip(dts, dts[1:])]
    check(min(steps) > 0, "dts strictly increase (smallest step %.6f s)" % min(steps))
    worst = max(range(len(steps)), key=lambda i: steps[i])
    check(steps[worst] <= 2.0 / FPS + 0.0005,
          "no timestamp gap over 2 frame intervals (largest %.1f ms, at %.3f s)"
          % (steps[worst] * 1000, dts[worst]))
    # the whole lesson from the camera's first key frame on: a stream copy
    # starts at a key frame (one a second here), and the burst that capture's
    # probe buffered (a key frame and the second after it) may reach the
    # archive before the lesson has started it
    first = pkts[0][0]
    check(0 <= first <= 2.0 + 0.3, "the ISO starts at a key frame of the camera, %.3f s in" % first)
    want = (duration - first) * FPS
    check(abs(len(pkts) - want) <= want * 0.01, "the ISO has %d frames ((%.2f - %.2f) s x %d fps = %.0f, +-1%%)"
          % (len(pkts), duration, first, FPS, want))
    # the camera's own packets before and after the gap, the slate between
    cam_sizes = packet_sizes(cam_mp4)
    sizes = [sz for _, _, sz, _ in pkts]
    # a camera packet is one inside a run of 30 that the camera sent in that
    # order; the slate is the longest stretch of others.  On a loaded
    # machine the peer can stall for over a second while it streams, and
    # the track then shows the slate for that moment too (a "blip", not the
    # outage): allowed, short, reported
    marks = camera_marks(sizes, cam_sizes)
    runs, i = [], 0
    while i < len(marks):
        j = i
        while j < len(marks) and marks[j] == marks[i]:
            j += 1
        if not marks[i]:
            runs.append((i, j - i))
        i = j
    before, slate = max(runs, key=lambda r: r[1]) if runs else (len(pkts), 0)
    blips = [r for r in runs if r != (before, slate)]
    blip_idx = set(k for b, n in blips for k in range(b, b + n))
    check(sum(n for _, n in blips) <= 2 * FPS,
          "besides the outage, %d short stretch(es) of %s frames not from the camera (a stalled "
          "peer on a busy machine; at most 2 s in all)" % (len(blips), [n for _, n in blips]))
    after = len(pkts) - before - slate
    check(before >= 5 * FPS and after >= 5 * FPS and 8 * FPS <= slate <= 14 * FPS,
          "camera packets %d (to %.2f s), slate %d (%.1f s), camera packets %d (from %.2f s)"
          % (before, pkts[before - 1][0], slate, slate / FPS, after, pkts[before + slate][0]))
    check(pkts[before][3] and pkts[before + slate][3],
          "the slate starts with a key frame, and so does the camera's return")
    # the switches are a frame interval apart at least (so they hold on any
    # frame grid) and at most two
    for i in (before, before + slate):
        step = pkts[i][1] - pkts[i - 1][1]
        check(1.0 / FPS - 0.0005 <= step <= 2.0 / FPS + 0.0005,
              "%.1f ms between the last picture before the switch at %.3f s and the first after"
              % (step * 1000, pkts[i][0]))
    not_slate = [i for i in range(before + slate, len(frames))
                 if i not in blip_idx and looks_like_slate(frames[i])]
    not_slate += [i for i in range(before) if i not in blip_idx and looks_like_slate(frames[i])]
    check(not not_slate, "the camera's pictures are not the slate (%d are)" % len(not_slate))
    bad = [i for i in range(before, before + slate) if not looks_like_slate(frames[i])]
    check(not bad, "every picture of the gap is the slate (%d are not, first at %.3f s)"
          % (len(bad), pkts[bad[0]][0] if bad else 0))
    # the same slate as the program's (name, state, since when)
    mid = before + slate // 2
    errors, prog = ffmpeg_errors("-ss", "%.3f" % pkts[mid][0], "-i", program, "-frames:v", "1",
                                 "-vf", "scale=64:36", "-f", "rawvideo", "-pix_fmt", "gray", "-")
    diff = sum(abs(a - b) for a, b in zip(prog, frames[mid])) / len(prog)
    check(looks_like_slate(prog) and diff < 4,
          "at %.2f s the ISO shows the program's slate (mean difference %.1f)" % (pkts[mid][0], diff))


def packet_sizes(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "packet=size", "-of", "csv=p=0", path], capture_output=True, text=True, check=True)
    return [int(l.split(",")[0]) for l in p.stdout.split()]


def video_params(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "stream=codec_name,profile,level,width,height,pix_fmt", "-of", "json", path],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout)["streams"][0]


def check_stream_copy(source, iso):
    """The ISO has the camera's codec parameters and, packet for packet, the
    sizes the camera sent: a copy, not a re-encode."""
    check(os.path.exists(iso), "no ISO file %s" % iso)
    src, got = video_params(source), video_params(iso)
    check(src == got, "ISO codec parameters %s differ from the camera's %s" % (got, src))
    src_sizes = packet_sizes(source)
    iso_sizes = packet_sizes(iso)
    check(len(iso_sizes) > 60, "ISO has only %d packets" % len(iso_sizes))
    run = iso_sizes[:60]
    looped = src_sizes + src_sizes
    found = any(looped[i:i + 60] == run for i in range(len(src_sizes)))
    check(found, "the ISO's first 60 packet sizes are not a run of the camera's packets")
    print("ISO is a stream copy: %s %sx%s, %d packets, sizes match the camera's" %
          (got["codec_name"], got["width"], got["height"], len(iso_sizes)))


def drift(seconds=600):
    """A synthetic mic whose clock runs 0.1% fast, recorded offline: the tone
    that starts every minute of the room is in program.mp4's AAC within
    20 ms of the minute, and audio and video end together (+-20 ms)."""
    wd = scratch("e2e_drift")
    data = os.path.join(wd, "data")
    cfg = write(os.path.join(wd, "luobo.ini"), """[general]
data_dir = %s
http_port = %d
width = 320
height = 180
fps = %d

[source.teacher]
type = synthetic
role = teacher
pattern = bars
width = 320
height = 180

[mic.teacher]
type = synthetic
role = teacher
frequency_hz = 1000
speaks = 0-1
drift_ppm = 1000

[encoder]
preset = ultrafast
bitrate_kbps = 300

[director]
mode = auto
""" % (data, free_port(), FPS))
    with open(os.path.join(wd, "luobo.log"), "w") as dlog:
        rc = subprocess.run([LUOBO, "--config", cfg, "--record", "--offline", "--duration", str(seconds)],
                            stdout=dlog, stderr=subprocess.STDOUT, timeout=1200).returncode
    check(rc == 0, "luobo exited %d" % rc)
    lesson = lesson_dir(data)
    program = os.path.join(lesson, "program.mp4")
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", program, "-vn", "-ac", "1", "-ar", "48000", "-f", "s16le", "-"],
                         capture_output=True, check=True).stdout
    import array
    x = array.array("h")
    x.frombytes(pcm)
    # per sample, a tone after at least 0.1 s of quiet; a block of 0.1 s
    # that is quiet throughout is counted at once (min and max run in C:
    # the per-sample loop over five minutes took 90 s of CI on a busy
    # machine), so only the blocks with sound in them are walked
    onsets, quiet = [], 0
    for b in range(0, len(x), 4800):
        block = x[b:b + 4800]
        if -30 < min(block) and max(block) < 30:
            quiet += len(block)
            continue
        for i, v in enumerate(block, b):
            if abs(v) < 30:
                quiet += 1
            else:
                if abs(v) > 160 and quiet >= 4800:
                    onsets.append(i)
                if abs(v) > 160:
                    quiet = 0
    minutes = seconds // 60
    found = [o for o in onsets if o > 48000]
    check(len(found) == minutes - (1 if seconds % 60 == 0 else 0),
          "an onset each minute after the first (%d: %s)" % (len(found), found[:12]))
    worst = 0
    for k, o in enumerate(found, 1):
        err_ms = (o - k * 60 * 48000) / 48.0
        print("minute %d: tone at %+.2f ms (uncorrected: %+.0f ms)" % (k, err_ms, k * 60.0))
        worst = max(worst, abs(err_ms))
    check(worst <= 20, "audio within 20 ms of the video timeline over %d s (worst %.2f ms)" % (seconds, worst))
    p = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,duration", "-of", "csv=p=0",
                        program], capture_output=True, text=True, check=True)
    ends = dict(l.split(",")[:2] for l in p.stdout.split())
    v_end, a_end = float(ends["video"]), float(ends["audio"])
    check(abs(v_end - a_end) <= 0.020, "video ends at %.3f s, audio at %.3f s" % (v_end, a_end))


def alsa():
    """An ALSA microphone (the file plugin playing 1 s of silence, 2 s of
    1 kHz, 2 s of 440 Hz) recorded through the daemon in real time: the
    program's AAC, decoded, has the same tones for the same durations."""
    import array
    import test_alsa
    wd = scratch("e2e_alsa")
    raw = os.path.join(wd, "mic.raw")
    test_alsa.make_raw(raw, 48000, 1)
    rc_path = test_alsa.asoundrc(wd, raw, 48000, 1)
    data = os.path.join(wd, "data")
    cfg = write(os.path.join(wd, "luobo.ini"), """[general]
data_dir = %s
http_port = %d
width = 320
height = 180
fps = %d
# the test machine may be loaded: let the program run well behind capture
# (always: not only as far as the mic's measured delay)
sync_delay_ms = 500
sync_delay_auto = false

[source.teacher]
type = synthetic
role = teacher
pattern = bars
width = 320
height = 180

[mic.lectern]
type = alsa
role = teacher
device = testmic
pace = true

[encoder]
preset = ultrafast
bitrate_kbps = 300

[director]
mode = auto
""" % (data, free_port(), FPS))
    env = dict(os.environ, ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:" + rc_path)
    with open(os.path.join(wd, "luobo.log"), "w") as dlog:
        rc = subprocess.run([LUOBO, "--config", cfg, "--record", "--duration", "8"], env=env,
                            stdout=dlog, stderr=subprocess.STDOUT, timeout=120).returncode
    check(rc == 0, "luobo exited %d" % rc)
    check("[capture:mic:lectern] live" in open(os.path.join(wd, "luobo.log")).read(), "the ALSA mic went live")
    lesson = lesson_dir(data)
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", os.path.join(lesson, "program.mp4"), "-vn", "-ac", "1",
                          "-ar", "48000", "-f", "f32le", "-"], capture_output=True, check=True).stdout
    x = array.array("f")
    x.frombytes(pcm)
    peak = max(abs(v) for v in x)
    check(peak > 0.05, "the program has the mic's sound (peak %.3f)" % peak)
    if peak < 0.3:      # the mixer's gain: bring it to the level analyse() expects
        x = array.array("f", (v * 0.45 / peak for v in x))
    test_alsa.analyse(x)


def errors():
    """A file that is not media, a missing V4L2 device, a refused RTSP URL
    and a missing sound card next to a good camera: the daemon records the
    lesson all the same and tells what is wrong with each."""
    wd = scratch("e2e_errors")
    data = os.path.join(wd, "data")
    junk = write(os.path.join(wd, "notes.mp4"), "lecture notes, not a video\n" * 50)
    cfg = write(os.path.join(wd, "luobo.ini"), """[general]
data_dir = %s
http_port = %d
width = 320
height = 180
fps = %d

[source.teacher]
type = synthetic
role = teacher
pattern = bars
width = 320
height = 180

[source.notes]
type = url
role = screen
url = %s

[source.usb]
type = v4l2
role = students
device = /dev/video9

[source.ptz]
type = url
role = wide
url = rtsp://127.0.0.1:%d/cam

[mic.lectern]
type = alsa
role = teacher
device = hw:7,0

[mic.teacher]
type = synthetic
role = teacher

[encoder]
preset = ultrafast
bitrate_kbps = 300

[director]
mode = auto
""" % (data, free_port(), FPS, junk, free_port()))
    with open(os.path.join(wd, "luobo.log"), "w") as dlog:
        rc = subprocess.run([LUOBO, "--config", cfg, "--record", "--duration", "12"],
                            stdout=dlog, stderr=subprocess.STDOUT, timeout=120).returncode
    log_text = open(os.path.join(wd, "luobo.log")).read()
    check(rc == 0, "luobo exited %d" % rc)
    check("[capture:notes] failed: open: Invalid data" in log_text, "the file that is not media failed")
    check("[capture:usb] lost: cannot open /dev/video9: No such file or directory" in log_text,
          "the missing V4L2 device is lost")
    check("[capture:ptz] lost: open: Connection refused" in log_text, "the refused camera is lost")
    check("[capture:mic:lectern] lost: cannot open ALSA PCM 'hw:7,0'" in log_text, "the missing sound card is lost")
    frames, duration = program_frames(lesson_dir(data))
    check(duration >= 5 and abs(frames - duration * FPS) <= 2,
          "the lesson was recorded: %d frames in %.2f s" % (frames, duration))


if __name__ == "__main__":
    # CI's plain run records five minutes of a 0.1 % fast mic (300 ms of
    # drift uncorrected, 20 ms allowed); the ten-minute soak is
    # LUOBO_DRIFT_TEST_S=600 ctest -R capture_e2e_drift.  Under sanitizers
    # (scripts/dev.sh test --sanitize) it is shorter still: it looks for
    # memory errors there, the plain run for drift
    {"rtsp_dropout": rtsp_dropout, "rtsp_substream": rtsp_substream, "alsa": alsa, "errors": errors,
     "drift": lambda: drift(int(os.environ.get("LUOBO_DRIFT_TEST_S", "300"))),
     "drift_short": lambda: drift(130)}[sys.argv[1]]()
    print("PASS")
