"""End-to-end: a lesson killed mid-recording is resumed into its own folder.

One data folder, five runs of the real daemon:

1. --record, then kill -9 in the middle of the lesson.
2. A restart within [general] resume_window_s (no --record): the lesson is
   resumed (the status, the events socket and the log say so); 5 s later
   the daemon is stopped with SIGTERM (a service stop, a reboot): the
   lesson is finished, "complete" with "ended_by": "shutdown", its parts
   kept apart.  Meanwhile the operator moves the mic's fader (POST
   /api/v1/mics/voice): the lesson's .faders.json keeps it.
2b. A restart within the window resumes it again (a second outage, from
   the shutdown), and it ends with --duration ("ended_by": "end": the
   command line's end, never resumed), with the operator's fader back.  Its
   folder then holds one program.mp4, one file per
   ISO camera and per mic, each as long as the wall time from the lesson's
   start to its end (+-1 s), the outage shown as the slate (video) and
   silence (audio) exactly where lesson.json's two "outages" say, the flash
   and click of the camera and mic still together after it.  Beside it,
   lessons a restart must not resume: one stopped on purpose
   ("stop_requested"), one whose timetable entry has ended, a lesson.json
   that is not JSON and one that is too large: logged, never resumed.
3. --record, a teacher's stop through the API, kill -9 as soon as
   lesson.json says the stop was asked for (while finishing, when the
   kill lands first).
4. --record again: the stopped lesson is not resumed, a new lesson starts
   (its faders at 0 dB); kill -9; a restart resumes it (its .faders.json,
   made hostile meanwhile, is ignored entry by entry, each named in the
   log) and is killed again in its second part.
5. A restart after the window (resume_window_s small): that lesson is
   marked interrupted, its two parts joined by the repair (one file each,
   the slate in the outage, as long as the outage's end plus the second
   part), and nothing records.

The camera and the mic are a 320x180 H.264 file with a white flash every
second and a 1 kHz click at the same instants (stream-copied to its ISO
file, so the slate goes through the splice encoder there too); a synthetic
bars camera is encoded to its ISO file.

join_grid (no timing): mic parts made with ffmpeg, joined by the repair at
start-up for outage ends that round to samples differently; the joined
file's clicks, decoded by counting samples, where the gap's whole frames of
silence put them (a CI run once had one frame too many: 21.3 ms late).
"""
import array
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))
from lbtest import (LUOBO, Scratch, check, ffprobe_json, free_port, load_lesson, main,  # noqa: E402
                    write_config)
from webui_common import (cookie_of, curl, kept_faders, setup_code, ws_connect,  # noqa: E402
                          ws_recv)

W, H, FPS = 320, 180, 30
PASSWORD = "resume-test-pw-1"


def config(data, port, window_s, upload_port):
    return """[general]
data_dir = %s
http_port = %d
width = %d
height = %d
fps = %d
max_lag_ms = 0
resume_window_s = %d

[source.cam]
type = url
role = teacher
url = %s
loop = true

[source.board]
type = synthetic
role = board
pattern = bars
width = %d
height = %d

[mic.voice]
type = url
role = teacher
url = %s
loop = true

[director]
mode = manual
shot = cam

[encoder]
preset = ultrafast
bitrate_kbps = 400
iso_width = %d
iso_height = %d
iso_preset = ultrafast
iso_bitrate_kbps = 200

[auth]
metrics_public = true

# each run's own A/V relation, as it left the encoder: the reference for
# the joined file's
[output.live]
type = hls
segment_s = 2
list_size = 20

# a platform that is down (nothing listens): what is queued for upload, when
[output.platform]
type = upload
url = http://127.0.0.1:%d/lessons/
allow_http = true
""" % (data, port, W, H, FPS, window_s, os.path.join(os.path.dirname(data), "av.mp4"), W, H,
       os.path.join(os.path.dirname(data), "av.mp4"), W, H, upload_port)


def make_media(tmp):
    # luma 16..115 by frame number, white (235) on every 30th frame; the
    # click at every whole second
    # (one file for the camera and the mic: both open it alike, so the two
    # start within a few ms of each other)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "color=c=black:s=%dx%d:r=%d:d=10,format=yuv420p,"
                    "geq=lum='if(eq(mod(N,30),0),235,16+mod(N*7,100))':cb=128:cr=128" % (W, H, FPS),
                    "-f", "lavfi", "-i", "aevalsrc='if(lt(mod(t,1),0.02),0.5*sin(2*PI*1000*t),0)':s=48000:d=10",
                    "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-bf", "0",
                    "-c:a", "aac", "-b:a", "96k", os.path.join(tmp, "av.mp4")], check=True)


class Daemon:
    def __init__(self, tmp, cfg, args, name):
        self.log_path = os.path.join(tmp, name + ".log")
        self.log = open(self.log_path, "w")
        self.port = int([ln.split("=")[1] for ln in open(cfg) if ln.startswith("http_port")][0])
        self.base = "http://127.0.0.1:%d" % self.port
        self.t_launch = time.time()
        self.proc = subprocess.Popen([LUOBO, "--config", cfg] + args, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def log_text(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def alive(self):
        return self.proc.poll() is None

    def wait_for(self, cond, what, limit_s=120, every_s=0.05):
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            if cond():
                return
            check(self.alive(), "luobo ended while waiting for %s:\n%s" % (what, self.log_text()[-3000:]))
            time.sleep(every_s)
        check(False, "timed out waiting for " + what)

    def metric(self, name):
        r = curl(self.base + "/metrics")
        for line in r.body.decode(errors="replace").splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def wait_exit(self, limit_s=300):
        rc = self.proc.wait(timeout=limit_s)
        self.log.close()
        check(rc == 0, "luobo exited %d:\n%s" % (rc, open(self.log_path).read()[-3000:]))


def decode_errors(path):
    """Decodes every frame; ffmpeg's errors ("" when clean).  The frames go
    to the null muxer with their own timestamps: a stream-copied camera
    whose intervals are not all equal (one late packet) makes ffmpeg guess a
    rate like 29.92 and round two frames into one slot otherwise."""
    p = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-fps_mode", "passthrough",
                        "-enc_time_base", "1:90000", "-f", "null", "-"], capture_output=True, text=True)
    return (p.stderr.strip() if p.returncode == 0 else "exit %d: %s" % (p.returncode, p.stderr)).strip()


def span(path):
    """Seconds between the first and the last video packet's end (0 when
    the file has none yet): a resumed part's file starts at its lesson time."""
    try:
        data = ffprobe_json(path, "-select_streams", "v:0", "-show_entries", "packet=pts_time,duration_time")
    except Exception:
        return 0
    pts = [float(p["pts_time"]) for p in data.get("packets", []) if p.get("pts_time") not in (None, "N/A")]
    return max(pts) + 1.0 / FPS - min(pts) if pts else 0


def queued(data):
    path = os.path.join(data, ".upload-queue")
    return open(path).read().split() if os.path.exists(path) else []


def lesson_dirs(data, skip=()):
    return sorted(os.path.join(data, d) for d in os.listdir(data)
                  if not d.startswith(".") and d not in skip and os.path.isdir(os.path.join(data, d)))


def duration(path, stream):
    """End of the last packet of a stream (pts + duration), seconds."""
    data = ffprobe_json(path, "-select_streams", stream, "-show_entries", "packet=pts_time,duration_time")
    return max(float(p["pts_time"]) + float(p.get("duration_time", 0) or 0) for p in data["packets"])


_frames = {}


def frames(path):
    """(pts, mean luma, max - min luma) of every decoded frame of the first video stream."""
    if path not in _frames:
        _frames[path] = decode_frames(path)
    return _frames[path]


def decode_frames(path):
    # passthrough: one picture per decoded frame (a constant rate would
    # repeat one where a frame lasts longer, the slate's last, and shift the
    # rest against ffprobe's list)
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-map", "0:v:0", "-fps_mode", "passthrough",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    # no B-frames here: the pictures come in the order of their packets' pts
    info = ffprobe_json(path, "-select_streams", "v:0", "-show_entries", "packet=pts_time")
    pts = sorted(float(p["pts_time"]) for p in info["packets"])
    size = W * H
    out = []
    for i in range(min(len(pts), len(raw) // size)):
        px = raw[i * size:(i + 1) * size:7]
        out.append((pts[i], sum(px) / len(px), max(px) - min(px)))
    return out


_audio = {}


def audio(path):
    if path not in _audio:
        _audio[path] = decode_audio(path)
    return _audio[path]


def decode_audio(path):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-map", "0:a:0", "-ac", "1",
                          "-ar", "48000", "-f", "s16le", "-"], capture_output=True, check=True).stdout
    a = array.array("h")
    a.frombytes(raw[:len(raw) // 2 * 2])
    return a


def onsets(pcm):
    # a click, then 0.5 s passed over; a block of 0.1 s without one is
    # passed over at once (min and max run in C, a loop per sample in
    # Python took seconds a file)
    out, i = [], 0
    while i < len(pcm):
        block = pcm[i:i + 4800]
        if -3000 <= min(block) and max(block) <= 3000:
            i += len(block)
            continue
        j = next(k for k, v in enumerate(block) if abs(v) > 3000)
        out.append((i + j) / 48000.0)
        i += j + 24000
    return out


def av_offset(path, lo=0.0, hi=1e9):
    """Click minus flash, seconds, for each flash in [lo, hi] (decoded: the
    video by frame times, the audio by its samples from its first pts)."""
    fr = frames(path)
    # a flash is one white frame; a camera's first frame (white too) is
    # repeated while it starts: not a flash
    white = [m > 200 for _, m, _ in fr]
    flashes = [fr[i][0] for i in range(1, len(fr) - 1)
               if white[i] and not white[i - 1] and not white[i + 1] and lo <= fr[i][0] <= hi]
    a0 = float(ffprobe_json(path, "-select_streams", "a:0", "-show_entries", "stream=start_time")
               ["streams"][0]["start_time"])
    clicks = [a0 + t for t in onsets(audio(path))]
    pairs = [round(min(clicks, key=lambda c: abs(c - t)) - t, 4) for t in flashes if clicks]
    # a flash whose click is missing (the mic connected a moment after the
    # camera) has none nearby
    return [d for d in pairs if abs(d) < 0.25]


def hls_snapshot(data, path):
    """The live HLS segments of the run that wrote the playlist last (after
    its last discontinuity), concatenated into one TS file."""
    live = os.path.join(data, ".live")
    segs = []
    for line in open(os.path.join(live, "program.m3u8")):
        line = line.strip()
        if line == "#EXT-X-DISCONTINUITY":
            segs = []
        elif line and not line.startswith("#"):
            segs.append(os.path.join(live, line))
    with open(path, "wb") as f:
        for seg in segs:
            with open(seg, "rb") as g:
                f.write(g.read())
    return path


def is_slate(mean, spread):
    # the slate: grey 0x303030 with white text; the camera: one flat level per frame
    return spread > 100 and 35 < mean < 90


def fixture(data, name, text, age_s=0):
    d = os.path.join(data, name)
    os.makedirs(d)
    path = os.path.join(d, "lesson.json")
    with open(path, "w") as f:
        f.write(text if isinstance(text, str) else json.dumps(text))
    if age_s:
        t = time.time() - age_s
        os.utime(path, (t, t))
    return d


def test_resume():
    t0 = time.monotonic()
    phase = lambda what: print("%6.1f s %s" % (time.monotonic() - t0, what), flush=True)  # noqa: E731
    with Scratch("resume") as tmp:
        make_media(tmp)
        data = os.path.join(tmp, "data")
        port = free_port()
        upload_port = free_port()
        cfg = write_config(tmp, config(data, port, 60, upload_port))

        # 1: record, kill -9 in the middle
        d1 = Daemon(tmp, cfg, ["--record", "--title", "Resumed lesson"], "run1")
        d1.wait_for(lambda: d1.metric("luobo_recording") == 1, "the recording")
        d1.wait_for(lambda: lesson_dirs(data) and os.path.exists(os.path.join(lesson_dirs(data)[0], "program.mp4"))
                    and os.path.getsize(os.path.join(lesson_dirs(data)[0], "program.mp4")) > 0
                    and duration(os.path.join(lesson_dirs(data)[0], "program.mp4"), "v:0") >= 3,
                    "3 s in program.mp4")
        d1.kill9()
        t_kill = time.time()
        hls1 = hls_snapshot(data, os.path.join(tmp, "hls-run1.ts"))
        time.sleep(1.5)         # a box takes a while to come back: an outage long enough to see
        (lesson,) = lesson_dirs(data)
        held = duration(os.path.join(lesson, "program.mp4"), "v:0")
        check(load_lesson(lesson)["status"] == "recording", "killed: still recording")

        # the lessons beside it that must not be resumed
        now_ms = time.time() * 1000
        base = {"id": "x", "title": "t", "teacher": "", "course": "", "started_at": "2026-12-05T08:00:00+00:00",
                "started_at_ms": now_ms - 20000, "ended_at": None, "duration_s": 0, "sources": [],
                "chapters": [], "status": "recording"}
        stopped = fixture(data, "20261205-080000-stopped", dict(base, id="20261205-080000-stopped",
                                                                stop_requested=True))
        ended = fixture(data, "20261205-080001-ended", dict(base, id="20261205-080001-ended",
                                                            schedule_end=int(time.time()) - 5))
        garbage_text = '{"status": "recording", "started_at_ms": %d, oops' % now_ms
        garbage = fixture(data, "20261205-080002-garbage", garbage_text)
        huge_text = json.dumps(dict(base, id="20261205-080003-huge", description="x" * (1100 * 1024)))
        huge = fixture(data, "20261205-080004-huge", huge_text)
        fixtures = [os.path.basename(x) for x in (stopped, ended, garbage, huge)]

        phase("run 1 killed")
        # 2: restart within the window: resumed, then a service stop (SIGTERM)
        d2 = Daemon(tmp, cfg, [], "run2")
        d2.wait_for(lambda: curl(d2.base + "/api/v1/session").status == 200, "the web UI")
        jar = os.path.join(tmp, "jar")
        r = curl(d2.base + "/api/v1/setup", "POST", {"code": setup_code(d2), "password": PASSWORD},
                 save_cookies=jar)
        check(r.status in (200, 201), "first-run setup: HTTP %d %s" % (r.status, r.body[:200]))
        sock, line = ws_connect(port, cookie=cookie_of(jar))
        check(" 101 " in line, "events socket: %s" % line)
        sock.settimeout(1)
        seen = {}

        def reader():
            while "event" not in seen:
                try:
                    ev = json.loads(ws_recv(sock))
                except (OSError, EOFError, ValueError):
                    if not d2.alive():
                        return
                    continue
                rec = ev.get("status", {}).get("recording", {}) if ev.get("type") == "status" else {}
                if "resumed" in rec.get("lesson_flags", []) and rec.get("resumed") is True:
                    seen["event"] = rec
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        d2.wait_for(lambda: "event" in seen or not th.is_alive(), "a status event of a resumed lesson", 60)
        check("event" in seen, "the events socket says the lesson is resumed")
        st = curl(d2.base + "/api/v1/status", jar=jar).json()["recording"]
        check(st["resumed"] is True and "resumed" in st["lesson_flags"] and
              st["id"] == os.path.basename(lesson), "status: resumed %s" % st)
        sock.close()
        # the operator's fader, kept in the lesson for its next part
        r = curl(d2.base + "/api/v1/mics/voice", "POST", {"gain_db": -0.5}, jar=jar,
                 headers=["X-CSRF-Token: %s" % r.json()["csrf"]])
        check(r.status == 200, "the voice's fader to -0.5 dB: HTTP %d %s" % (r.status, r.body[:200]))
        want = {"voice": {"mute": False, "gain_db": -0.5}}
        kept = kept_faders(os.path.join(lesson, ".faders.json"), lambda k: k == want)
        check(kept == want, "kept in the lesson's .faders.json: %s" % kept)
        # 5 s of the second part (its file starts at its lesson time)
        d2.wait_for(lambda: span(os.path.join(lesson, "program.mp4")) >= 5, "5 s in the second part", 180)
        hls2 = hls_snapshot(data, os.path.join(tmp, "hls-run2.ts"))
        d2.proc.send_signal(signal.SIGTERM)
        d2.wait_exit()
        t_term = time.time()
        lj = load_lesson(lesson)
        check(lj["status"] == "complete" and lj.get("ended_by") == "shutdown" and "stop_requested" not in lj,
              "SIGTERM: complete, ended by the shutdown: %s" % {k: lj.get(k) for k in ("status", "ended_by")})
        check(os.path.isdir(os.path.join(lesson, "parts", "1")), "the shutdown keeps the parts apart")
        check(lesson not in queued(data) and not os.path.exists(os.path.join(lesson, "upload.json")),
              "not queued for upload: it goes on at the next start")
        err = decode_errors(os.path.join(lesson, "program.mp4"))
        check(not err, "the second part, finished by the shutdown, decodes: %s" % err[:300])
        log2 = open(d2.log_path).read()
        check("recording (resumed) -> finishing (resumed, shutting down, to be resumed)" in log2,
              "the log says the lesson is to be resumed")
        phase("run 2 stopped (SIGTERM)")
        time.sleep(1.5)         # a reboot's outage
        # 2b: within the window again: resumed from the shutdown, ends with --duration
        d2b = Daemon(tmp, cfg, ["--duration", "3"], "run2b")
        d2b.wait_exit()
        log2b = open(d2b.log_path).read()
        check("idle -> starting (resumed)" in log2b, "the lesson a shutdown finished is resumed")
        check("mic voice: on, -0.5 dB in the program (kept from the lesson's first part)" in log2b,
              "the resumed lesson has the operator's fader back")
        check("idle -> starting (resumed)" in log2 and "resumed at lesson time" in log2,
              "the log says the lesson was resumed")
        for name, why in ((stopped, "stopped on purpose"), (ended, "timetable entry has ended"),
                          (garbage, "malformed JSON"), (huge, "larger than")):
            check(why in "\n".join(ln for ln in log2.splitlines() if name in ln),
                  "the log names %s: %s" % (os.path.basename(name), why))

        phase("run 2 ended")
        # one lesson folder, complete, one file each
        check(lesson_dirs(data, fixtures) == [lesson], "one lesson folder: %s" % lesson_dirs(data))
        check(not os.path.exists(os.path.join(lesson, "parts")), "the parts are joined and gone")
        lj = load_lesson(lesson)
        check(lj["status"] == "complete" and lj.get("ended_by") == "end",
              "status %s, ended_by %s" % (lj["status"], lj.get("ended_by")))
        check(lesson in queued(data), "queued for upload when it really ended: %s" % queued(data))
        check(len(lj["outages"]) == 2, "two outages: %s" % lj["outages"])
        out_from, out_to = lj["outages"][0]["from"], lj["outages"][0]["to"]
        out2_from, out2_to = lj["outages"][1]["from"], lj["outages"][1]["to"]
        check(abs(out_from - held) < 0.1, "the outage starts where part 1 ends (%.3f vs %.3f)" % (out_from, held))
        start_s = lj["started_at_ms"] / 1000
        check(start_s <= t_kill - held + 0.5 and start_s + out_to >= t_kill,
              "the outage %.3f-%.3f s covers the kill at %.3f s" % (out_from, out_to, t_kill - start_s))
        check(out2_from >= out_to + 4.9 and start_s + out2_from <= t_term and start_s + out2_to >= t_term,
              "the second outage %.3f-%.3f s covers the shutdown at %.3f s"
              % (out2_from, out2_to, t_term - start_s))
        wall = (lj["ended_at_ms"] - lj["started_at_ms"]) / 1000
        prog = os.path.join(lesson, "program.mp4")
        v_end, a_end = duration(prog, "v:0"), duration(prog, "a:0")
        check(abs(v_end - wall) <= 1.0 and abs(a_end - wall) <= 1.0,
              "program.mp4 lasts %.3f s (audio %.3f s), the wall time %.3f s" % (v_end, a_end, wall))
        check(abs(lj["duration_s"] - v_end) < 0.1, "duration_s %.3f" % lj["duration_s"])
        files = ["program.mp4"] + [s["file"] for s in lj["sources"] + lj["mics"]]
        check(sorted(files[1:]) == ["audio/voice.m4a", "iso/board.mp4", "iso/cam.mp4"], "files %s" % files)
        for f in files:
            path = os.path.join(lesson, f)
            err = decode_errors(path)
            check(not err, "%s decodes: %s" % (f, err[:300]))
            end = duration(path, "a:0" if f.endswith(".m4a") else "v:0")
            check(abs(end - v_end) <= 0.5, "%s lasts %.3f s, the program %.3f s" % (f, end, v_end))
            info = ffprobe_json(path, "-show_entries", "stream=codec_type")
            check(len(info["streams"]) == (2 if f == "program.mp4" else 1), "%s: one track each" % f)

        # the slate where the outage was, the camera around it
        fr = frames(prog)
        inside = [(t, m, s) for t, m, s in fr if out_from + 0.1 < t < out_to - 0.1]
        inside2 = [(t, m, s) for t, m, s in fr if out2_from + 0.1 < t < out2_to - 0.1]
        outside = [(t, m, s) for t, m, s in fr if (t < out_from - 0.1 or t > out_to + 0.1) and
                   (t < out2_from - 0.1 or t > out2_to + 0.1)]
        check(inside and all(is_slate(m, s) for _, m, s in inside),
              "the outage shows the slate: %s" % [x for x in inside if not is_slate(x[1], x[2])][:5])
        check(inside2 and all(is_slate(m, s) for _, m, s in inside2),
              "the shutdown's outage shows the slate: %s" % [x for x in inside2 if not is_slate(x[1], x[2])][:5])
        check(not any(is_slate(m, s) for _, m, s in outside), "the slate only in the outages")
        back2 = min(t for t, m, s in fr if t > out2_from + 0.1 and not is_slate(m, s))
        check(abs(back2 - out2_to) <= 1.5 / FPS, "camera again at %.3f s after the shutdown's outage %.3f-%.3f s"
              % (back2, out2_from, out2_to))
        slate_t = [t for t, m, s in fr if is_slate(m, s)]
        first_after = min(t for t, m, s in fr if t > out_from and not is_slate(m, s))
        check(abs(slate_t[0] - out_from) <= 1.5 / FPS and abs(first_after - out_to) <= 1.5 / FPS,
              "slate %.3f-%.3f s, camera again at %.3f s; outage %.3f-%.3f s"
              % (slate_t[0], slate_t[-1], first_after, out_from, out_to))
        for f in ("iso/cam.mp4", "iso/board.mp4"):
            iso = frames(os.path.join(lesson, f))
            for lo, hi in ((out_from, out_to), (out2_from, out2_to)):
                # a kill can leave a camera's file a little longer than the
                # program's (the stream-copied camera's fragments end at
                # its key frames, one a second): its slate starts there
                first = min([t for t, m, sp in iso if t > lo - 0.1 and is_slate(m, sp)] or [hi])
                mid = [x for x in iso if first < x[0] < hi - 0.2]
                check(first <= lo + 1.1 and mid and all(is_slate(m, sp) for _, m, sp in mid),
                      "%s shows the slate in the outage %.3f-%.3f s (from %.3f s)" % (f, lo, hi, first))
        # audio and video together after the outage: the flash and the click
        # audio and video together after the outage: the flash and the
        # click, as far apart as in the same run's live stream (what the
        # encoders gave, before any join); the joined audio sits on the AAC
        # frame grid (1024 samples, 21.3 ms): up to half a frame off
        hls = [hls1, hls2, hls_snapshot(data, os.path.join(tmp, "hls-run2b.ts"))]
        offsets = {}
        for part, lo, hi, ref, tol in (("before", 0.3, out_from - 0.3, hls[0], 0.003),
                                       ("after", out_to + 0.3, out2_from - 0.3, hls[1], 0.0125),
                                       # a 3 s part whose run's live stream is mostly the
                                       # sources' first seconds (their A/V relation still
                                       # moves by up to a frame then; the join itself places
                                       # the part to the packet, as the two parts before)
                                       ("after the shutdown", out2_to + 0.3, v_end - 0.3, hls[2],
                                        1.0 / FPS + 0.0125)):
            pairs = av_offset(prog, lo, hi)
            live = av_offset(ref)
            if part == "after the shutdown" and not live:
                # its run's 3 s had no flash with its click even live (the
                # sources still starting up: seen under ASan): no reference
                print("note: no flash with its click in run 2b's live stream: A/V after the shutdown "
                      "not compared (recorded: %s)" % pairs)
                offsets[part] = (float("nan"), float("nan"))
                continue
            check(len(pairs) >= (3 if part == "after" else 1) and len(live) >= 1,
                  "flashes with their clicks %s the outage: %s; live: %s" % (part, pairs, live))
            got, want = sorted(pairs)[len(pairs) // 2], sorted(live)[len(live) // 2]
            check(abs(got - want) <= tol and max(pairs) - min(pairs) <= 0.002,
                  "click - flash %s the outage: %s; live %s" % (part, pairs, live))
            check(abs(got) <= 0.1, "click - flash %s the outage %.3f s" % (part, got))
            offsets[part] = (got, want)
        clicks = onsets(audio(prog))
        pcm = audio(prog)
        gap = pcm[int((out_from + 0.05) * 48000):int((out_to - 0.05) * 48000)]
        check(gap and max(abs(x) for x in gap) < 50, "silence in the program's outage")
        gap = pcm[int((out2_from + 0.05) * 48000):int((out2_to - 0.05) * 48000)]
        check(gap and max(abs(x) for x in gap) < 50, "silence in the program's shutdown outage")
        mic = audio(os.path.join(lesson, "audio/voice.m4a"))
        gap = mic[int((out_from + 0.05) * 48000):int((out_to - 0.05) * 48000)]
        check(gap and max(abs(x) for x in gap) < 50, "silence in the mic's outage")
        mic_after = [c for c in onsets(mic) if c > out_to]
        check(mic_after and all(min(abs(c - p) for p in clicks) <= 0.005 for c in mic_after),
              "the mic's clicks after the outage are the program's: %s" % mic_after)
        # decisions and chapters on the lesson's timeline
        with open(os.path.join(lesson, "director.jsonl")) as f:
            ts = [json.loads(x)["t"] for x in f if x.strip()]
        check(ts == sorted(ts) and ts[-1] >= out_to - 0.05,
              "director.jsonl times %s run on the lesson's timeline past %.3f s" % (ts, out_to))
        # the ones beside it
        for d, status in ((stopped, "interrupted"), (ended, "interrupted")):
            check(load_lesson(d)["status"] == status, "%s: %s" % (os.path.basename(d), load_lesson(d)["status"]))
        check(open(os.path.join(garbage, "lesson.json")).read() == garbage_text, "the garbage is left alone")
        check(open(os.path.join(huge, "lesson.json")).read() == huge_text, "the huge one is left alone")
        print("resume: part 1 held %.3f s; outage %.3f-%.3f s (kill -9), %.3f-%.3f s (SIGTERM); program "
              "%.3f s for %.3f s of wall time (%+.3f s); slate %.3f-%.3f s; click - flash before %.1f ms "
              "(live %.1f), after %.1f ms (live %.1f), after the shutdown %.1f ms (live %.1f); resumed %.2f s "
              "and %.2f s after the restarts' launch"
              % (held, out_from, out_to, out2_from, out2_to, v_end, wall, v_end - wall, slate_t[0],
                 slate_t[-1] + 1.0 / FPS, offsets["before"][0] * 1000, offsets["before"][1] * 1000,
                 offsets["after"][0] * 1000, offsets["after"][1] * 1000,
                 offsets["after the shutdown"][0] * 1000, offsets["after the shutdown"][1] * 1000,
                 start_s + out_to - d2.t_launch, start_s + out2_to - d2b.t_launch))

        phase("run 2 checked")
        # 3: a teacher's stop, killed while it finishes
        d3 = Daemon(tmp, cfg, ["--record", "--title", "Stopped"], "run3")
        d3.wait_for(lambda: d3.metric("luobo_recording") == 1, "the recording")
        (stopped_lesson,) = lesson_dirs(data, fixtures + [os.path.basename(lesson)])
        r = curl(d3.base + "/api/v1/login", "POST", {"user": "admin", "password": PASSWORD}, save_cookies=jar)
        check(r.status == 200, "login: HTTP %d %s" % (r.status, r.body[:200]))
        csrf = r.json()["csrf"]
        r = curl(d3.base + "/api/v1/recording", "POST", {"action": "stop"}, jar=jar,
                 headers=["X-CSRF-Token: %s" % csrf])
        check(r.status == 200, "stop: HTTP %d %s" % (r.status, r.body[:200]))

        def stop_noted():
            try:
                return load_lesson(stopped_lesson).get("stop_requested") is True or \
                    load_lesson(stopped_lesson)["status"] != "recording"
            except (OSError, ValueError):
                return False
        # polled closely: the kill should land while the lesson finishes
        d3.wait_for(stop_noted, "lesson.json's stop_requested", every_s=0.001)
        d3.kill9()
        killed_finishing = load_lesson(stopped_lesson)["status"] == "recording"
        phase("run 3 killed")
        # 4: not resumed; --record starts a new lesson, killed too
        d4 = Daemon(tmp, cfg, ["--record", "--title", "After the window"], "run4")
        d4.wait_for(lambda: d4.metric("luobo_recording") == 1, "the recording")
        (late,) = lesson_dirs(data, fixtures + [os.path.basename(x) for x in (lesson, stopped_lesson)])
        d4.wait_for(lambda: os.path.exists(os.path.join(late, "program.mp4")) and
                    os.path.getsize(os.path.join(late, "program.mp4")) > 0, "the new lesson's program")
        with open(os.path.join(late, ".faders.json")) as f:
            kept = json.load(f)["mics"]
        check(kept == {"voice": {"mute": False, "gain_db": 0}}, "a new lesson starts with the faders at 0 dB: %s" % kept)
        d4.kill9()
        log4 = open(d4.log_path).read()
        check(load_lesson(stopped_lesson)["status"] in ("interrupted", "complete") and
              "stop_requested" not in load_lesson(late), "the stopped lesson was not resumed")
        if killed_finishing:
            check("stopped on purpose" in log4, "the log says why the stopped lesson is not resumed")
            check(load_lesson(stopped_lesson)["status"] == "interrupted", "the stopped lesson is repaired")
        check("(resumed)" not in log4, "nothing resumed in run 4")
        phase("run 4 killed")
        # 4b: that lesson resumed, and killed again in its second part: the
        # repair after the window must put its parts together too
        time.sleep(1)
        with open(os.path.join(late, ".faders.json"), "w") as f:     # read as hostile
            json.dump({"mics": {"voice": {"mute": "yes", "gain_db": -3}, "ghost": {"mute": True, "gain_db": 0}}}, f)
        d4b = Daemon(tmp, cfg, [], "run4b")
        d4b.wait_for(lambda: "resumed at lesson time" in d4b.log_text(), "the lesson resumed")
        d4b.wait_for(lambda: os.path.exists(os.path.join(late, "program.mp4")) and
                     os.path.getsize(os.path.join(late, "program.mp4")) > 0 and
                     duration(os.path.join(late, "program.mp4"), "v:0") >= 1, "1 s in the second part")
        log4b = d4b.log_text()
        check("mic 'voice' ignored: \"mute\" is not true or false" in log4b and
              "mic 'ghost' ignored: no such mic in this hall" in log4b,
              "a bad .faders.json: each bad entry ignored, named in the log")
        d4b.kill9()
        held2 = duration(os.path.join(late, "program.mp4"), "v:0")
        check(os.path.isdir(os.path.join(late, "parts", "1")), "the first part is in parts/1")
        phase("run 4b killed")
        # 5: after the window
        time.sleep(1.5)
        cfg5 = write_config(tmp, config(data, free_port(), 1, upload_port), "late.ini")
        # a lesson a shutdown finished, outside the window: stays complete,
        # and is queued for upload now (its end did not queue it)
        shut = fixture(data, "20261205-080005-shut", dict(
            base, id="20261205-080005-shut", status="complete", ended_by="shutdown",
            ended_at_ms=time.time() * 1000 - 5000, started_at_ms=time.time() * 1000 - 9000))
        fixtures.append(os.path.basename(shut))
        d5 = Daemon(tmp, cfg5, ["--duration", "0.5"], "run5")
        d5.wait_exit()
        log5 = open(d5.log_path).read()
        lj = load_lesson(late)
        check(lj["status"] == "interrupted", "after the window: interrupted")
        # the resumed lesson's repair: one file each, the outage as the slate
        check(not os.path.exists(os.path.join(late, "parts")), "the repair joined the parts")
        check(len(lj["outages"]) == 1, "one outage: %s" % lj["outages"])
        out_from, out_to = lj["outages"][0]["from"], lj["outages"][0]["to"]
        prog = os.path.join(late, "program.mp4")
        v_end = duration(prog, "v:0")
        check(abs(v_end - (out_to + held2)) <= 0.1 and abs(lj["duration_s"] - v_end) <= 0.1,
              "repaired: program %.3f s = outage end %.3f + second part %.3f (duration_s %.3f)"
              % (v_end, out_to, held2, lj["duration_s"]))
        for f in ["program.mp4"] + [x["file"] for x in lj["sources"] + lj["mics"]]:
            path = os.path.join(late, f)
            # a camera's file that never had a fragment (its key frame came
            # after the kill) stays empty, joined or not
            if f.startswith("iso/") and os.path.getsize(path) == 0:
                continue
            err = decode_errors(path)
            check(not err, "repaired %s decodes: %s" % (f, err[:300]))
        mid = [x for x in frames(prog) if out_from + 0.2 < x[0] < out_to - 0.2]
        check(mid and all(is_slate(m, sp) for _, m, sp in mid), "the repaired program shows the slate")
        check("outside [general] resume_window_s = 1" in log5 and "(resumed)" not in log5,
              "after the window: not resumed, and the log says why")
        check(len(lesson_dirs(data, fixtures)) == 3, "no new lesson without --record")
        check(load_lesson(shut)["status"] == "complete" and "stays complete" in log5 and
              os.path.exists(os.path.join(shut, "upload.json")) and shut in queued(data),
              "shut down outside the window: complete, queued for upload")
        print("stopped lesson killed %s" % ("while finishing (repaired, not resumed)" if killed_finishing
                                            else "after it had finished (complete)"))


# outage ends whose silence starts between two samples (gap_from_us at x.5
# samples: 5.091594 is the one a CI run caught) and some around them
GRID_OUTAGE_ENDS = (5.091594, 5.091604, 5.0, 5.010427, 5.021344, 5.032281, 5.043198, 5.054115)


def test_join_grid():
    """The join's silence on the AAC frame grid, without timing: lessons
    whose mic was recorded in two parts (3 s each, a click at 0.5, 1.5 and
    2.5 s of each) are joined by the repair at start-up, with outage ends
    that round differently to samples; each joined file's clicks (decoded
    by counting samples, as players do) are where the outage's end puts
    them, within a ms: never a whole AAC frame (21.3 ms) off."""
    with Scratch("resume-grid") as tmp:
        data = os.path.join(tmp, "data")
        part = os.path.join(tmp, "part.m4a")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "aevalsrc='if(between(mod(t,1),0.5,0.52),0.5*sin(2*PI*1000*t),0)':s=48000:d=3",
                        "-ac", "1", "-c:a", "aac", "-b:a", "64k", part], check=True)
        part_clicks = [round(c, 4) for c in onsets(decode_audio(part))]
        part_end = duration(part, "a:0")
        part_decoded_s = len(decode_audio(part)) / 48000
        check(len(part_clicks) == 3, "the part's clicks: %s" % part_clicks)
        lessons = {}
        for n, to in enumerate(GRID_OUTAGE_ENDS):
            lid = "20261205-0900%02d-grid" % n
            d = os.path.join(data, lid)
            for sub in ("parts/1/audio", "audio"):
                os.makedirs(os.path.join(d, sub))
                shutil.copy(part, os.path.join(d, sub, "voice.m4a"))
            with open(os.path.join(d, "lesson.json"), "w") as f:
                json.dump({"schema": 2, "id": lid, "title": "grid", "started_at": "2026-12-05T09:00:00+00:00",
                           "started_at_ms": 1796461200000 + n * 1000, "ended_at": None, "duration_s": 0,
                           "sources": [], "mics": [{"name": "voice", "role": "teacher", "file": "audio/voice.m4a"}],
                           "chapters": [], "outages": [{"from": 3, "to": to}], "status": "complete"}, f)
            lessons[lid] = to
        cfg = write_config(tmp, """[general]
data_dir = %s
http_port = 0
width = 320
height = 180
fps = 30

[source.board]
type = synthetic
role = board
""" % data)
        p = subprocess.run([LUOBO, "--config", cfg, "--offline", "--duration", "0.2"], capture_output=True,
                           text=True, timeout=300)
        check(p.returncode == 0, "luobo exited %d:\n%s" % (p.returncode, (p.stdout + p.stderr)[-3000:]))
        bad = []
        for lid, to in sorted(lessons.items()):
            d = os.path.join(data, lid)
            check(not os.path.exists(os.path.join(d, "parts")), "%s: the repair joined the parts" % lid)
            path = os.path.join(d, "audio", "voice.m4a")
            a0 = float(ffprobe_json(path, "-select_streams", "a:0", "-show_entries", "stream=start_time")
                       ["streams"][0]["start_time"])
            got = [round(a0 + c, 4) for c in onsets(decode_audio(path))]
            # the gap's silence is whole AAC frames, as many as fit in the
            # outage (rounded); a decoder that counts samples plays them
            # after the whole of part 1 (its last frame too, which its
            # timestamps cut short): up to half a frame from the second
            # part's timestamps, and exactly there
            frame_s = 1024 / 48000
            second = part_decoded_s + round((to - part_end) / frame_s) * frame_s
            want = part_clicks + [round(second + c, 4) for c in part_clicks]
            if len(got) != len(want) or any(abs(g - w) > 0.001 for g, w in zip(got, want)):
                bad.append("outage to %.6f: clicks %s, want %s" % (to, got, want))
        check(not bad, "joined mic files off the grid: %s" % bad)
        print("join grid: %d outage ends, every click within 1 ms of its place" % len(lessons))


if __name__ == "__main__":
    main({"resume": test_resume, "join_grid": test_join_grid})
