"""End-to-end: the demo classroom recorded through the whole pipeline."""
import json
import math
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from lbtest import *  # noqa: E402,F401,F403

FPS = 30


def check_program(path, seconds, tolerance_frames):
    info = streams(path)
    v = [s for s in info["streams"] if s["codec_type"] == "video"]
    a = [s for s in info["streams"] if s["codec_type"] == "audio"]
    check(len(v) == 1 and len(a) == 1, "program.mp4 should have one video and one audio stream")
    v, a = v[0], a[0]
    check(v["codec_name"] == "h264", "video codec %s" % v["codec_name"])
    check((v["width"], v["height"]) == (1920, 1080), "size %sx%s" % (v["width"], v["height"]))
    check(v["r_frame_rate"] == "%d/1" % FPS, "frame rate %s" % v["r_frame_rate"])
    check(a["codec_name"] == "aac" and a["sample_rate"] == "48000", "audio %s %s" % (a["codec_name"], a["sample_rate"]))
    check(a.get("profile") == "LC", "AAC profile %s" % a.get("profile"))
    frames = count_decoded_frames(path)
    expect = seconds * FPS
    check(abs(frames - expect) <= tolerance_frames, "%d frames, expected %d +- %d" % (frames, expect, tolerance_frames))
    vp = packet_times(path, "v:0")
    ap = packet_times(path, "a:0")
    v_start = min(p[0] for p in vp)
    a_start = min(p[0] for p in ap)
    check(abs(v_start) < 0.001 and abs(a_start) < 0.001, "streams start at %.3f / %.3f, not 0" % (v_start, a_start))
    v_end = max(p[0] + p[1] for p in vp)
    a_end = max(p[0] + p[1] for p in ap)
    check(abs(v_end - a_end) <= 0.100, "video ends at %.3f, audio at %.3f" % (v_end, a_end))
    check(decode_errors(path) == "", "decoding errors: %s" % decode_errors(path))
    return frames, v_end, a_end


def test_record_5s():
    with Scratch("rec5") as tmp:
        data = os.path.join(tmp, "data")
        # with the default max_lag_ms: a busy machine may make the program
        # repeat pictures to catch up, never leave a hole (test_overload.py)
        cfg = write_config(tmp, demo_config(data))
        run_luobo(["--config", cfg, "--record", "--duration", "5", "--title", "Five seconds"])
        found = lessons(data)
        check(len(found) == 1, "one lesson expected, found %d" % len(found))
        lesson = load_lesson(found[0])
        check(lesson["status"] == "complete", "status %s" % lesson["status"])
        check(lesson["title"] == "Five seconds", "title %r" % lesson["title"])
        check(abs(lesson["duration_s"] - 5) < 0.1, "duration_s %s" % lesson["duration_s"])
        check(os.path.basename(found[0]) == lesson["id"], "folder and id differ")
        for key in ("id", "title", "teacher", "course", "started_at", "ended_at", "duration_s", "sources", "chapters"):
            check(key in lesson, "lesson.json lacks %s" % key)
        check(sorted(s["name"] for s in lesson["sources"]) == ["board", "screen", "students", "teacher"],
              "sources %s" % lesson["sources"])
        frames, v_end, a_end = check_program(os.path.join(found[0], "program.mp4"), 5, 2)
        # resource mode: every camera's file covers the lesson from its start
        # (its key frame forced at the same frame as the program's)
        for src in lesson["sources"]:
            iso = os.path.join(found[0], src["file"])
            n = count_decoded_frames(iso)
            first_pts = sorted(packet_times(iso, "v:0"))[0][0]
            check(n == frames and abs(first_pts) < 0.001,
                  "%s: %d frames from %.3f s (the program has %d from 0)" % (src["file"], n, first_pts, frames))
        with open(os.path.join(found[0], "director.jsonl")) as f:
            first = json.loads(f.readline())
        check(first["t"] == 0 and first["layout"] in ("single", "pip", "sbs") and first["sources"],
              "first decision %s" % first)
        print("record 5 s: %d frames, video ends %.3f s, audio %.3f s" % (frames, v_end, a_end))


def test_offline_30s():
    with Scratch("off30") as tmp:
        data = os.path.join(tmp, "data")
        cfg = write_config(tmp, demo_config(data))
        t0 = time.monotonic()
        run_luobo(["--config", cfg, "--record", "--offline", "--duration", "30"])
        wall = time.monotonic() - t0
        found = lessons(data)
        check(len(found) == 1, "one lesson expected")
        path = os.path.join(found[0], "program.mp4")
        frames = count_decoded_frames(path)
        check(frames == 30 * FPS, "%d frames, expected exactly %d" % (frames, 30 * FPS))
        check_program(path, 30, 0)
        # reported, not asserted: timing depends on the machine
        print("offline 30 s: %.1f s wall, %.0f frames/s (%.2fx real time)" % (wall, frames / wall, 30 / wall))


def test_offline_deterministic():
    """Two offline runs choose the same frames: identical decision logs and
    identical decoded pictures (x264 output may differ in threading, so the
    check is on what the director saw and on the frame count)."""
    logs = []
    with Scratch("det") as tmp:
        for run in range(2):
            data = os.path.join(tmp, "data%d" % run)
            cfg = write_config(tmp, demo_config(data), "run%d.ini" % run)
            run_luobo(["--config", cfg, "--record", "--offline", "--duration", "6"])
            lesson = lessons(data)[0]
            with open(os.path.join(lesson, "director.jsonl"), "rb") as f:
                logs.append(f.read())
            check(count_decoded_frames(os.path.join(lesson, "program.mp4")) == 180, "frame count")
        check(logs[0] == logs[1], "director.jsonl differs between two offline runs")


def test_decode_on_demand():
    """[source] decode = auto: compressed cameras are decoded in full while
    the automatic director watches them; with an operator directing
    (mode = manual), a camera off the air is decoded from its key frames
    only, and the program still decodes with every frame.  A camera shown
    only as the inset of a picture in picture, with a sub-stream at least the
    inset's size, is drawn from its sub-stream, live, and its main stream is
    not decoded meanwhile ([director] pip_sub_stream)."""
    import re
    with Scratch("ondemand") as tmp:
        files = {}
        # the sub-stream compressed hard, with x264's loop filter (ultrafast
        # has none): drawn in the program, it must be decoded with it
        for cam, src, size, preset in (("teacher", "testsrc2", "640x360", "ultrafast"),
                                       ("students", "rgbtestsrc", "640x360", "ultrafast"),
                                       ("teacher_sub", "testsrc2", "320x180", "veryfast")):
            files[cam] = os.path.join(tmp, cam + ".mp4")
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                            "%s=s=%s:r=30:d=10" % (src, size), "-c:v", "libx264", "-preset", preset,
                            "-crf", "36" if cam == "teacher_sub" else "23",
                            "-bf", "0", "-g", "30", "-pix_fmt", "yuv420p", files[cam]], check=True)
        partial, first, programs = {}, {}, {}
        # manual-students: an operator's shot set in the config ([director] shot);
        # manual-pip: students with the teacher as the inset, from its sub-stream
        for mode in ("auto", "manual", "manual-students", "manual-pip"):
            data = os.path.join(tmp, "data-" + mode)
            text = "[general]\ndata_dir = %s\nhttp_port = 0\nwidth = 640\nheight = 360\n\n" % data
            for cam in ("teacher", "students"):
                text += "[source.%s]\ntype = url\nrole = %s\nurl = %s\n" % (cam, cam, files[cam])
                if mode == "manual-pip" and cam == "teacher":
                    text += "analysis_url = %s\n" % files["teacher_sub"]
                text += "\n"
            text += "[director]\nmode = %s\n" % mode.replace("-students", "\nshot = students").replace(
                "-pip", "\nshot = students\nlayout = pip")
            text += "\n[encoder]\npreset = ultrafast\nbitrate_kbps = 1000\n"
            cfg = write_config(tmp, text, mode + ".ini")
            p = run_luobo(["--config", cfg, "--record", "--offline", "--duration", "8"])
            got = dict((m.group(1), int(m.group(2))) for m in re.finditer(
                r"source (\w+): \w+, \d+ frames \((\d+) from key frames only\)", p.stderr))
            check(set(got) == {"teacher", "students"}, "%s: summary names every source (%s)" % (mode, got))
            partial[mode] = got
            with open(os.path.join(lessons(data)[0], "director.jsonl")) as f:
                first[mode] = json.loads(f.readline())
            program = programs[mode] = os.path.join(lessons(data)[0], "program.mp4")
            check(count_decoded_frames(program) == 8 * FPS, "%s: program has %d frames" % (mode, 8 * FPS))
            check(not decode_errors(program), "%s: program decodes without errors" % mode)
        check(all(n == 0 for n in partial["auto"].values()),
              "the automatic director watches: every frame decoded (%s)" % partial["auto"])
        on_air = [c for c, n in partial["manual"].items() if n == 0]
        off_air = [c for c, n in partial["manual"].items() if n > 0]
        check(len(on_air) == 1 and len(off_air) == 1 and partial["manual"][off_air[0]] >= 6 * FPS,
              "an operator directs: the camera off the air is decoded from key frames only (%s)"
              % partial["manual"])
        check(first["manual-students"]["sources"] == ["students"] and
              first["manual-students"]["reason"] == "operator" and
              partial["manual-students"]["students"] == 0 and partial["manual-students"]["teacher"] >= 6 * FPS,
              "the configured shot (students) is on the air from the start, the teacher off it (%s, %s)"
              % (first["manual-students"], partial["manual-students"]))
        check(first["manual-pip"]["layout"] == "pip" and first["manual-pip"]["sources"] == ["students", "teacher"] and
              partial["manual-pip"]["students"] == 0 and partial["manual-pip"]["teacher"] >= 6 * FPS,
              "the teacher only in the inset, with a sub-stream: its main stream is decoded from key frames "
              "only (%s, %s)" % (first["manual-pip"], partial["manual-pip"]))
        # the inset (compositor.c: pip_size 0.28, margin 0.02, border 2,
        # bottom right) against the sub-stream's own frame of that moment,
        # at 3 s and 4 s: the same picture, and a moving one
        W, H = 640, 360
        pw = int(W * 0.28) & ~1
        ph = (pw * H // W) & ~1
        m, bd = int(W * 0.02) & ~1, 2
        x, y = W - pw - m - bd, H - ph - m - bd

        def luma(args):
            out = subprocess.run(["ffmpeg", "-v", "error"] + args + ["-frames:v", "1", "-f", "rawvideo",
                                 "-pix_fmt", "gray", "-"], capture_output=True, timeout=120).stdout
            return out if len(out) == pw * ph else b""
        insets, subs = [], []
        for t in (3, 4):
            n = t * FPS
            insets.append(luma(["-i", programs["manual-pip"], "-vf",
                                "select=eq(n\\,%d),crop=%d:%d:%d:%d" % (n, pw, ph, x, y)]))
            subs.append(luma(["-i", files["teacher_sub"], "-vf",
                              "select=eq(n\\,%d),scale=%d:%d:flags=bicubic" % (n, pw, ph)]))
        if all(insets) and all(subs):
            mse = [sum((a - b) ** 2 for a, b in zip(i, sb)) / len(i) for i, sb in zip(insets, subs)]
            psnr = [10 * math.log10(255 ** 2 / e) if e else 99.0 for e in mse]
            moved = sum(abs(a - b) for a, b in zip(insets[0], insets[1])) / len(insets[0])
            what = ("the inset is the teacher's sub-stream, live (PSNR %.1f / %.1f dB against it at 3 s and "
                    "4 s; %.1f mean luma change between them)" % (psnr[0], psnr[1], moved))
            # 51-55 dB: the same decode, scaled alike; decoded without its
            # loop filter (as analysis alone would) it was 43 dB
            check(min(psnr) >= 47 and moved > 1, what)
            print(what)
        else:
            check(False, "the inset and the sub-stream's frames decode")
        print("decode on demand: %s" % partial)


def test_stall():
    """The machine stalls for 3 s in the middle of a live recording (the
    whole process stopped with SIGSTOP): the program catches up instead of
    running seconds behind from then on, the ticks that passed repeating
    the last picture (issue #17: no hole in the recording), the sound stays
    whole, and the lesson is complete and in sync."""
    import re
    with Scratch("stall") as tmp:
        data = os.path.join(tmp, "data")
        cfg = write_config(tmp, demo_config(data, replace={"width = 1920": "width = 640",
                                                            "height = 1080": "height = 360"}))
        p = subprocess.Popen([LUOBO, "--config", cfg, "--record", "--duration", "14"],
                             stderr=subprocess.PIPE, text=True)
        time.sleep(5)
        p.send_signal(signal.SIGSTOP)
        time.sleep(3)
        p.send_signal(signal.SIGCONT)
        _, err = p.communicate(timeout=120)
        check(p.returncode == 0, "luobo exited %d after the stall" % p.returncode)
        m = re.search(r"program: (\d+) frames composed, \d+ late, (\d+) skipped", err)
        check(m is not None, "the summary gives the skipped frames")
        skipped = int(m.group(2))
        check(skipped >= 45, "the stall's pictures were skipped, not made late (%d skipped)" % skipped)
        check("behind real time: the last picture stands" in err, "the catch-up is in the log")
        lesson = lessons(data)[0]
        check(load_lesson(lesson).get("status") == "complete", "the lesson is complete")
        path = os.path.join(lesson, "program.mp4")
        check(not decode_errors(path), "program.mp4 decodes without errors")
        v = sorted(packet_times(path, "v:0"))
        a = sorted(packet_times(path, "a:0"))
        v_end, a_end = v[-1][0] + v[-1][1], a[-1][0] + a[-1][1]
        gaps = [b[0] - a_[0] for a_, b in zip(v, v[1:])]
        check(max(gaps) < 1.5 / FPS, "a frame for every tick, no hole (largest gap %.3f s)" % max(gaps))
        check(len(v) == 14 * FPS, "%d frames in 14 s" % len(v))
        check(abs(v_end - 14.0) < 0.2, "the lesson lasts its 14 s (video ends %.3f s)" % v_end)
        check(abs(a_end - v_end) < 0.1, "sound and pictures end together (%.3f vs %.3f s)" % (a_end, v_end))
        a_gaps = [b[0] - (a_[0] + a_[1]) for a_, b in zip(a, a[1:])]
        check(max(a_gaps) < 0.005, "the sound has no gap (largest %.3f s)" % max(a_gaps))
        print("stall: %d pictures repeated, %d frames, video ends %.3f s, audio %.3f s" %
              (skipped, len(v), v_end, a_end))


def test_frame_timing():
    """A file camera with B-frames (its first packet's dts before its first
    frame's pts) and a mic file: program frame k is camera frame k, and a
    flash at 1 s is heard with a click at 1 s, in the program and in the
    camera's own file.  Each camera frame is a flat grey whose level tells
    its number."""
    import array
    with Scratch("timing") as tmp:
        cam, mic = os.path.join(tmp, "cam.mp4"), os.path.join(tmp, "mic.wav")
        level = lambda n: 16 + (n * 37) % 200      # noqa: E731  (frame number -> luma)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "color=c=black:s=320x180:r=30:d=4,format=yuv420p,"
                        "geq=lum='if(eq(N,30),235,16+mod(N*37,200))':cb=128:cr=128",
                        "-c:v", "libx264", "-preset", "medium", "-bf", "3", "-g", "60", "-crf", "10",
                        cam], check=True)
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "aevalsrc='if(between(t,1,1.1),0.5*sin(2*PI*1000*t),0)':s=48000:d=4",
                        "-c:a", "pcm_s16le", mic], check=True)
        p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-read_intervals", "%+#1",
                            "-show_entries", "packet=pts_time,dts_time", "-of", "csv=p=0", cam],
                           capture_output=True, text=True, check=True)
        pts, dts = (float(x) for x in p.stdout.split(",")[:2])
        check(dts < pts, "the camera file starts with a dts before its pts (%s)" % p.stdout.strip())
        data = os.path.join(tmp, "data")
        cfg = write_config(tmp, "[general]\ndata_dir = %s\nhttp_port = 0\nwidth = 320\nheight = 180\n\n"
                           "[source.cam]\ntype = url\nrole = teacher\nurl = %s\n\n"
                           "[mic.teacher]\ntype = url\nrole = teacher\nurl = %s\n\n"
                           "[encoder]\npreset = ultrafast\nbitrate_kbps = 2000\n" % (data, cam, mic))
        run_luobo(["--config", cfg, "--record", "--offline", "--duration", "3"])
        program = os.path.join(lessons(data)[0], "program.mp4")
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", program, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"],
                             capture_output=True, check=True).stdout
        size, frame = 320 * 180, 320 * 180 * 3 // 2     # the luma plane, as coded (16-235)
        means = [sum(raw[i * frame:i * frame + size:7]) / len(raw[i * frame:i * frame + size:7])
                 for i in range(len(raw) // frame)]
        check(len(means) == 90, "program has %d frames, expected 90" % len(means))
        wrong = [(k, round(m)) for k, m in enumerate(means)
                 if abs(m - (235 if k == 30 else level(k))) > 6]
        check(not wrong, "program frames that are not the camera's frame of the same number "
              "(frame, level): %s" % wrong[:10])
        flash = [k for k, m in enumerate(means) if m > 225]
        check(flash == [30], "the flash is program frame 30 (%s)" % flash)
        samples = decode_audio(program)
        onset = next(i for i, x in enumerate(samples) if abs(x) > 0.1) / 48000.0
        v = sorted(packet_times(program, "v:0"))
        flash_t = v[30][0]
        check(abs(onset - flash_t) <= 0.010, "the click is heard at %.3f s, the flash shown at %.3f s"
              % (onset, flash_t))
        print("frame timing: 90 frames each the camera's own, flash at %.3f s, click at %.3f s"
              % (flash_t, onset))


def test_preview_sub_streams():
    """With an operator directing (the director does not watch), a camera's
    sub-stream is decoded in full only while a console shows its preview
    (asks for snapshots), from its key frames only otherwise: /metrics
    counts its frames of either kind in each window."""
    import re
    import urllib.request
    with Scratch("previews") as tmp:
        files = {}
        for cam, src, size in (("teacher", "testsrc2", "640x360"), ("students", "rgbtestsrc", "640x360"),
                               ("students_sub", "rgbtestsrc", "320x180")):
            files[cam] = os.path.join(tmp, cam + ".mp4")
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "%s=s=%s:r=30:d=40" % (src, size),
                            "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "30",
                            "-pix_fmt", "yuv420p", files[cam]], check=True)
        port = free_port()
        data = os.path.join(tmp, "data")
        cfg = write_config(tmp, "[general]\ndata_dir = %s\nhttp_port = %d\nwidth = 640\nheight = 360\n\n"
                           "[source.teacher]\ntype = url\nrole = teacher\nurl = %s\n\n"
                           "[source.students]\ntype = url\nrole = students\nurl = %s\nanalysis_url = %s\n\n"
                           "[director]\nmode = manual\nshot = teacher\n\n"
                           "[encoder]\npreset = ultrafast\nbitrate_kbps = 800\niso = false\n\n"
                           "[auth]\nmetrics_public = true\n"
                           % (data, port, files["teacher"], files["students"], files["students_sub"]))
        log_path = os.path.join(tmp, "luobo.log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen([LUOBO, "--config", cfg, "--duration", "22"], stderr=log)
        base = "http://127.0.0.1:%d" % port

        def counts():
            with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
                text = r.read().decode()
            get = lambda name: float(re.search(name + r'\{source="students"\} (\d+)', text).group(1))  # noqa: E731
            return get("luobo_source_analysis_frames_total"), get("luobo_source_analysis_partial_frames_total")
        try:
            code = None
            for _ in range(100):
                time.sleep(0.1)
                found = re.findall(r"setup code ([A-Z0-9]{4}-[A-Z0-9]{4})", open(log_path).read())
                if found:
                    code = found[-1]
                    break
            check(code, "the log gives the first-run setup code")
            # libavfilter and the thirty libraries it needs are loaded for
            # synthetic sources only (capture/lavfi.c)
            with open("/proc/%d/maps" % proc.pid) as f:
                maps = f.read()
            check("libavfilter" not in maps and "libfreetype" in maps,
                  "a hall of url cameras does not load libavfilter")
            jar = os.path.join(tmp, "cookies")
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-c", jar, "-X", "POST",
                                "-H", "Content-Type: application/json", "-d",
                                json.dumps({"code": code, "password": "preview-test-pw-1"}),
                                base + "/api/v1/setup"], capture_output=True, text=True)
            check(r.stdout in ("200", "201"), "setup answered %s" % r.stdout)
            time.sleep(3)
            quiet0 = counts()
            time.sleep(4)               # nobody watches
            watched0 = counts()
            for _ in range(6):          # a console shows the students' preview
                r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-b", jar,
                                    base + "/api/v1/sources/students/snapshot.jpg"], capture_output=True, text=True)
                check(r.stdout == "200", "snapshot answered %s" % r.stdout)
                time.sleep(1)
            watched1 = counts()
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        quiet = (watched0[0] - quiet0[0], watched0[1] - quiet0[1])
        watched = (watched1[0] - watched0[0], watched1[1] - watched0[1])
        check(quiet[0] >= 90 and quiet[1] >= quiet[0] - 3,
              "nobody watching: the sub-stream's frames come from key frames only (%d of %d)" % (quiet[1], quiet[0]))
        check(watched[0] >= 150 and watched[1] <= 10,
              "a console watching: the sub-stream is decoded in full (%d of %d from key frames)"
              % (watched[1], watched[0]))
        print("previews: %d/%d sub-stream frames from key frames while nobody watched, %d/%d while a console did"
              % (quiet[1], quiet[0], watched[1], watched[0]))


def metric(port, name):
    """A value from luobo's /metrics (public in this test's config)."""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def test_kill_9():
    """kill -9 mid-recording: what was recorded up to 1.5 s before the kill
    decodes.  The reference is the number of program frames the daemon had
    composed when it was killed (from /metrics), not the wall clock, so a
    busy machine cannot make the test lie either way."""
    with Scratch("kill9") as tmp:
        data = os.path.join(tmp, "data")
        port = free_port()
        # with the default max_lag_ms: ticks the program repeats to catch up
        # still give frames, so the repaired duration is frames / fps;
        # resume_window_s = 0: the next start repairs the lesson rather than
        # resuming it (resume is e2e_resume's)
        cfg = write_config(tmp, demo_config(data, http_port=port, replace={
            "[general]\n": "[general]\nresume_window_s = 0\n"},
            extra="\n[auth]\nmetrics_public = true\n"))
        proc = subprocess.Popen([LUOBO, "--config", cfg, "--record", "--duration", "60"],
                                stderr=subprocess.DEVNULL)
        composed = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                if metric(port, "luobo_recording") == 1:
                    break
            except OSError:
                pass
        time.sleep(8)
        composed = metric(port, "luobo_program_frames_total")
        # what the power-cut trials read (tests/streamer/powercut): the
        # lesson's program clock and the ticks the encoder finished
        elapsed = metric(port, "luobo_recording_elapsed_seconds")
        encoded = metric(port, "luobo_program_encoded_frames_total")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check(composed and composed > 0, "no program frames reported before the kill")
        check(elapsed and 5 < elapsed < 60, "luobo_recording_elapsed_seconds %r after 8 s of lesson" % elapsed)
        check(encoded and encoded > elapsed * FPS / 2,
              "luobo_program_encoded_frames_total %r after %r s of lesson" % (encoded, elapsed))
        found = lessons(data)
        check(len(found) == 1, "one lesson expected")
        path = os.path.join(found[0], "program.mp4")
        check(load_lesson(found[0])["status"] == "recording", "a killed lesson is still 'recording'")
        errors = decode_errors(path)
        check(errors == "", "partial program.mp4 does not decode cleanly: %s" % errors)
        frames = count_decoded_frames(path)
        held = frames / FPS
        recorded = composed / FPS
        check(held >= recorded - 1.5, "holds %.2f s of %.2f s composed before the kill" % (held, recorded))
        print("kill -9 after %.2f s composed: program.mp4 holds %.2f s" % (recorded, held))
        # the next start repairs it
        run_luobo(["--config", cfg, "--duration", "0.5"])
        lesson = load_lesson(found[0])
        check(lesson["status"] == "interrupted", "after restart the lesson is %s" % lesson["status"])
        check(abs(lesson["duration_s"] - held) < 1.0, "repaired duration %s vs %.2f" % (lesson["duration_s"], held))


def test_disk_full():
    """A recording on a nearly full disk stops by itself with an alert, and
    every file it wrote decodes.  Needs root for a small tmpfs."""
    if os.geteuid() != 0:
        print("SKIP: needs root to mount a tmpfs")
        sys.exit(77)
    with Scratch("disk") as tmp:
        data = os.path.join(tmp, "data")
        os.makedirs(data)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=14m", "tmpfs", data], check=True)
        try:
            extra = "\n[output.archive]\ntype = archive\nmin_free_mb = 5\nstop_free_mb = 2\nfaststart = false\n"
            # live HLS elsewhere: only the archive fills this disk
            cfg = write_config(tmp, demo_config(data, extra=extra, replace={
                "[output.live]\ntype = hls\n": "[output.live]\ntype = hls\ndir = %s\n" % os.path.join(tmp, "live"),
                # a smaller picture at the same bit rate fills the disk as fast for less CPU
                "width = 1920\nheight = 1080\n": "width = 640\nheight = 360\n",
                "preset = veryfast\n": "preset = ultrafast\n"}))
            p = run_luobo(["--config", cfg, "--record", "--offline", "--duration", "40"])
            check("disk is almost full" in p.stderr, "no alert about the disk in the log")
            found = lessons(data)
            check(len(found) == 1, "one lesson expected, found %d" % len(found))
            lesson = load_lesson(found[0])
            check(lesson["status"] in ("interrupted", "complete"), "status %s" % lesson["status"])
            check(0 < lesson["duration_s"] < 40, "duration %s" % lesson["duration_s"])
            files = [os.path.join(found[0], "program.mp4")] + \
                [os.path.join(found[0], "iso", f) for f in os.listdir(os.path.join(found[0], "iso"))]
            for f in files:
                errors = decode_errors(f)
                check(errors == "", "%s does not decode: %s" % (f, errors))
            held = count_decoded_frames(files[0]) / FPS
            print("disk full after %.1f s of program: %d files decode, status %s" %
                  (held, len(files), lesson["status"]))
            # and a new recording is refused with a clear error
            p = run_luobo(["--config", cfg, "--record", "--offline", "--duration", "2"], check_rc=None)
            check("not enough free disk space" in p.stderr,
                  "a start on a full disk does not say why: %s" % p.stderr[-1500:])
            check(len(lessons(data)) == 1, "a refused recording left a lesson folder")
        finally:
            subprocess.run(["umount", data])


TESTS = {
    "record_5s": test_record_5s,
    "offline_30s": test_offline_30s,
    "offline_deterministic": test_offline_deterministic,
    "decode_on_demand": test_decode_on_demand,
    "stall": test_stall,
    "frame_timing": test_frame_timing,
    "preview_sub_streams": test_preview_sub_streams,
    "kill_9": test_kill_9,
    "disk_full": test_disk_full,
}

if __name__ == "__main__":
    main(TESTS)
