#!/usr/bin/env python3
"""Runs ui_test.js (playwright-core + /usr/bin/chromium) against webui_testd
with a real MP4 fixture and a live HLS stream made by ffmpeg.  Screenshots
go to $LUOBO_BUILD/screenshots."""
import array
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))
from webui_common import Daemon, LiveHls, Server, free_port, make_library, make_mp4, setup_code  # noqa: E402

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
    if target == "alerts":
        sys.exit(run_alerts(node_dir, scratch, shots))
    if target == "schedule":
        sys.exit(run_schedule(node_dir, scratch, shots))
    fixture = os.path.join(scratch, "fixture.mp4")
    make_mp4(fixture)
    live = os.path.join(scratch, "live")
    hls = LiveHls(live)
    srv = None
    code = 1
    try:
        srv = Server(www=os.path.join(SRC, "webui", "www"), live=live, fixture=fixture,
                     args=("--luobo", os.environ["LUOBO_BIN"]) if os.environ.get("LUOBO_BIN") else ())
        if not srv.alive():
            print(srv.log_text())
            sys.exit(1)
        env = dict(os.environ, BASE=srv.base, SHOTS=shots,
                   SETUP_CODE=setup_code(srv),
                   PROFILE=os.path.join(scratch, "profile"), LIVE="1",
                   NODE_PATH=os.path.join(node_dir, "node_modules"))
        code = subprocess.run(["node", os.path.join(HERE, "ui_test.js")], env=env,
                              timeout=600).returncode
        # accounts and the library (#19 items 2 and 6) on the same server
        code = run_library(srv, env, scratch) or code
        if srv.stop() != 0:
            print("webui_testd did not exit cleanly:\n" + srv.log_text())
            code = code or 1
    finally:
        hls.stop()
        if srv and srv.proc.poll() is None:
            srv.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    print("screenshots in " + shots)
    sys.exit(code)


def run_library(srv, env, scratch):
    """300 lessons written into the running server's data folder, and
    Python's own order of their ids for the queries library_test.js makes
    through the page."""
    import json
    if os.environ.get("LUOBO_SANITIZE") == "1":
        # CI time: the server's side of these flows (the library's queries
        # on 300 lessons, password changes, resets, roles) runs under the
        # sanitizers in webui_api and webui_security; here it would be the
        # same JavaScript again
        print("skip library_test.js under the sanitizers (webui_api and webui_security cover the server)")
        return 0
    mic = os.path.join(scratch, "lapel.m4a")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=f=440:d=2:r=48000", "-c:a", "aac",
                    "-b:a", "64k", mic], check=True)
    lessons = make_library(srv.data, 300, mic=mic)

    def order(pred, key="started_at", desc=False):
        sel = [x for x in lessons if pred(x)]
        sel.sort(key=lambda x: (x[key] if key == "duration_s" else x[key].encode(), x["id"].encode()),
                 reverse=desc)
        return [x["id"] for x in sel]

    def has(x, word):
        return any(word in x[k].lower() for k in ("title", "teacher", "subject"))
    expect = {
        "all": order(lambda x: True, desc=True),
        "optics_title": order(lambda x: has(x, "optics"), "title"),
        "open_failed_longest": order(lambda x: x["lesson_type"] == "open" and x["upload"] == "failed",
                                     "duration_s", True),
        "march_maths_teacher": order(lambda x: x["subject"] == "数学" and
                                     "2025-03-01" <= x["started_at"][:10] <= "2025-03-31", "teacher"),
        "interrupted_oldest": order(lambda x: x["status"] == "interrupted"),
        "failed_title": order(lambda x: x["upload"] == "failed", "title"),
        "mic_title": lessons[0]["title"],
    }
    path = os.path.join(scratch, "expect.json")
    with open(path, "w") as f:
        json.dump(expect, f, ensure_ascii=False)
    env = dict(env, EXPECT=path, MIC=lessons[0]["id"], TMP=scratch, PASSWORD="first run pw 1")
    code = subprocess.run(["node", os.path.join(HERE, "library_test.js")], env=env, timeout=600).returncode
    return run_recut(srv, env, scratch) or code


def run_recut(srv, env, scratch):
    """Issue #20 item 3: a real lesson (4 s of the demo classroom, recorded offline into the
    server's data folder after library_test.js counted its 300), re-cut through the page
    (recut_test.js); webui_testd runs luobo recut as the daemon does."""
    import time
    t0 = time.time()
    luobo = os.environ["LUOBO_BIN"]
    text = subprocess.run([luobo, "--print-demo-config"], check=True, capture_output=True, text=True).stdout
    for old, new in (("data_dir = recordings", "data_dir = " + srv.data), ("http_port = 8080", "http_port = 0"),
                     ("width = 1920", "width = 320"), ("height = 1080", "height = 180"), ("fps = 30", "fps = 15"),
                     ("iso_width = 640", "iso_width = 160"), ("iso_height = 360", "iso_height = 90")):
        text = text.replace(old, new)
    ini = os.path.join(scratch, "recut.ini")
    with open(ini, "w") as f:
        f.write(text)
    before = set(os.listdir(srv.data))
    subprocess.run([luobo, "--config", ini, "--record", "--offline", "--duration", "4"],
                   check=True, capture_output=True, timeout=300)
    # the new lesson folder (the run also leaves its hidden .live/ there)
    lid = [x for x in set(os.listdir(srv.data)) - before
           if not x.startswith(".") and os.path.exists(os.path.join(srv.data, x, "lesson.json"))][0]
    env = dict(env, RECUT_ID=lid, DATA=srv.data)
    code = subprocess.run(["node", os.path.join(HERE, "recut_test.js")], env=env, timeout=600).returncode
    print("re-cut in the browser: %.1f s with the lesson's recording" % (time.time() - t0))
    return code


# Issue 19: a camera labelled in Chinese that never connects (a closed
# port), so its tile says 讲台 and the console shows its "no signal" slate.
CAMERA, LABEL = "lectern", "讲台"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
NOTO_CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"


def gray_rows(args, rows):
    """ffmpeg's picture (args: its input) as 320x180 grey, the given rows."""
    out = subprocess.run(["ffmpeg", "-v", "error"] + args +
                         ["-frames:v", "1", "-vf", "scale=320:180:flags=bilinear,format=gray",
                          "-f", "rawvideo", "-"], capture_output=True, timeout=60).stdout
    return out[rows[0] * 320:rows[1] * 320] if len(out) == 320 * 180 else b""


def check_slate(jpg):
    """The slate's title (LABEL  NO SIGNAL) as the daemon drew it, decoded
    from the console's snapshot, against the same title drawn by ffmpeg with
    the CJK font and with DejaVu (whose boxes are what a missing font gives):
    nearer the CJK rendering.  Only the title's rows (the line under it
    says since when)."""
    if not os.path.exists(NOTO_CJK):
        print("SKIP slate: fonts-noto-cjk is not installed (scripts/setup.sh installs it)")
        return 0
    rows = (50, 92)
    snap = gray_rows(["-i", jpg], rows)

    def drawn(font):
        return gray_rows(["-f", "lavfi", "-i", "color=c=0x303030:s=640x360:r=1:d=1,drawtext=fontfile=%s:"
                          "fontcolor=white:fontsize=h/12:x=(w-tw)/2:y=h/2-th*1.5:text='%s  NO SIGNAL'"
                          % (font, LABEL)], rows)
    cjk, dejavu = drawn(NOTO_CJK), drawn(DEJAVU)
    if not snap or not cjk or not dejavu:
        print("FAIL slate: cannot decode the snapshot or the renderings")
        return 1
    mad = lambda a, b: sum(abs(x - y) for x, y in zip(a, b)) / len(a)  # noqa: E731
    m_cjk, m_dejavu = mad(snap, cjk), mad(snap, dejavu)
    ok = m_cjk < m_dejavu and m_cjk < 6
    print(("ok   " if ok else "FAIL ") + "slate of %s: its title is drawn with the CJK font "
          "(mean difference %.2f to the CJK rendering, %.2f to DejaVu's)" % (CAMERA, m_cjk, m_dejavu))
    return 0 if ok else 1


def run_daemon(node_dir, scratch, shots):
    # The pages are under test, not the encoders: no ISO encodes, the
    # fastest preset.  With four ISO encodes at veryfast this hall needed
    # most of a core, and at load 60-80 on two cores the program fell
    # minutes behind real time (each catch-up's repeated pictures took
    # longer to encode than they stood for), so whatever the pages show at
    # program time (meters, the timer, a take) came minutes late.
    d = Daemon(scratch, "[source.%s]\ntype = url\nrole = wide\nlabel = %s\nurl = rtsp://127.0.0.1:%d/none\n"
               "timeout_ms = 500\n\n" % (CAMERA, LABEL, free_port()),
               encoder="preset = ultrafast\nbitrate_kbps = 800\nkeyint_s = 1\niso = false\n")
    code = 1
    try:
        if not d.alive():
            print(d.log_text())
            return 1
        marks_path = os.path.join(scratch, "marks.json")
        env = dict(os.environ, BASE=d.base, SHOTS=shots, PROFILE=os.path.join(scratch, "profile"),
                   SETUP_CODE=setup_code(d), DAEMON="1", LUOBO_PID=str(d.proc.pid), MARKS=marks_path,
                   LIVE="1" if d.has_live else "0", NODE_PATH=os.path.join(node_dir, "node_modules"))
        if not d.has_live:
            print("note: this luobo has no hls output yet; the live viewer check is skipped")
        started = time.monotonic()
        code = subprocess.run(["node", os.path.join(HERE, "ui_test.js")], env=env,
                              timeout=900).returncode
        print("MEASURED ui_test.js %.1f s" % (time.monotonic() - started))
        started = time.monotonic()
        # Issue 19: both languages on every page, on the same daemon.  Not
        # under the sanitizers (CI time): the same JavaScript again, while
        # the server's side (error codes, reasons, labels, the CJK slate
        # drawn for the console's tile above) runs under them here and in
        # webui_api and director_unit.
        if os.environ.get("LUOBO_SANITIZE") != "1":
            env.update(PROFILE=os.path.join(scratch, "profile-i18n"), PASSWORD="first run pw 1",
                       CAMERA=CAMERA, LABEL=LABEL)
            code = subprocess.run(["node", os.path.join(HERE, "i18n_test.js")], env=env,
                                  timeout=600).returncode or code
            slate = os.path.join(shots, "slate-%s.jpg" % CAMERA)
            code = (check_slate(slate) if os.path.exists(slate) else 1) or code
        else:
            print("skip i18n_test.js under the sanitizers (the pages' JavaScript is the same)")
        print("MEASURED i18n_test.js and the slate %.1f s" % (time.monotonic() - started))
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
        if not check_muted_audio(d.data, marks_path):
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


def rms_dbfs(samples):
    if not samples:
        return -120.0
    ms = sum(x * x for x in samples) / len(samples) / (32768.0 * 32768.0)
    return 10 * math.log10(ms) if ms > 1e-12 else -120.0


def check_muted_audio(data, marks_path):
    """#19 item 3: the console muted every mic for a while (ui_test.js
    wrote when, in lesson seconds); the program's decoded audio is silent
    then and was not before."""
    if not os.path.exists(marks_path):
        print("FAIL daemon: ui_test.js wrote no mute marks")
        return False
    with open(marks_path) as f:
        marks = json.load(f)
    mp4 = None
    for lesson in os.listdir(data):
        try:
            with open(os.path.join(data, lesson, "lesson.json")) as f:
                if json.load(f).get("title") == marks["title"]:
                    mp4 = os.path.join(data, lesson, "program.mp4")
        except (OSError, ValueError):
            continue
    if not mp4 or not os.path.exists(mp4):
        print("FAIL daemon: the console lesson's program.mp4 is missing")
        return False
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", mp4, "-vn", "-ac", "1", "-ar", "48000", "-f", "s16le", "-"],
                         capture_output=True).stdout
    pcm = array.array("h", raw[:len(raw) // 2 * 2])

    def window(a, b):
        return rms_dbfs(pcm[int(a * 48000):int(b * 48000)])
    before = window(max(0.3, marks["before_to"] - 2), marks["before_to"])
    # the marks are the pictures' lesson time; a fader acts on the sound
    # mixed next, which realtime is a tick behind the picture
    # (daemon/program_sound.c), and AAC spreads a step over its frames
    muted = window(marks["muted_from"] + 0.1, marks["muted_to"] - 0.1)
    ok = before > -40 and muted < -70
    print(("ok   " if ok else "FAIL ") + "daemon: program.mp4's audio is silent while the mics were muted "
          "(%.1f dBFS in %.1f-%.1f s, %.1f dBFS before)" % (muted, marks["muted_from"], marks["muted_to"], before))
    return ok


def run_with_daemon(node_dir, scratch, shots, sections, args, script):
    """Starts luobo on a synthetic teacher camera with the ini sections
    after it and args, its data in scratch/data; runs script against it in
    Chromium, stops luobo and removes scratch.  The script's exit code
    (luobo's log printed when it failed)."""
    port = free_port()
    ini = os.path.join(scratch, "luobo.ini")
    with open(ini, "w") as f:
        f.write("[general]\ndata_dir = %s\nhttp_port = %d\nhttp_address = 127.0.0.1\nwww_dir = %s\n"
                "width = 320\nheight = 180\nfps = 15\n\n[source.cam]\ntype = synthetic\nrole = teacher\n\n"
                % (os.path.join(scratch, "data"), port, os.path.join(SRC, "webui", "www")) + sections)
    log = open(os.path.join(scratch, "luobo.log"), "w")
    proc = subprocess.Popen([os.environ["LUOBO_BIN"], "--config", ini] + args, stdout=log,
                            stderr=subprocess.STDOUT)
    code = 1
    try:
        for _ in range(400):
            if proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)

        class Log:
            def log_text(self):
                log.flush()
                return open(log.name).read()

            def alive(self):
                return proc.poll() is None
        env = dict(os.environ, BASE="http://127.0.0.1:%d" % port, SHOTS=shots,
                   PROFILE=os.path.join(scratch, "profile"), SETUP_CODE=setup_code(Log()),
                   NODE_PATH=os.path.join(node_dir, "node_modules"))
        code = subprocess.run(["node", os.path.join(HERE, script)], env=env,
                              timeout=600).returncode
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if code:
            print(open(log.name).read()[-3000:])
        shutil.rmtree(scratch, ignore_errors=True)
    return code


def run_alerts(node_dir, scratch, shots):
    """A recording daemon whose mic "lapel" is silent for its first 25 s."""
    sections = ("[mic.lapel]\ntype = synthetic\nrole = teacher\nspeaks = 25-60\n\n"
                "[encoder]\npreset = ultrafast\nbitrate_kbps = 300\niso = false\n\n"
                "[output.archive]\ntype = archive\nmin_free_mb = 10\nstop_free_mb = 5\n\n"
                "[health]\nmic_silent_s = 3\nclear_s = 2\nclock_check = false\n")
    return run_with_daemon(node_dir, scratch, shots, sections, ["--record"], "alerts_test.js")


def schedule_timetable():
    """A lesson under way now and the next one, each within its day (not
    recorded: the page is what is tested, not a recording)."""
    def local(t):
        return time.localtime(t)

    def entry(eid, a, b, **meta):
        day_end = time.mktime(local(a)[:3] + (23, 59, 59, 0, 0, -1))
        b = min(b, day_end)
        return dict(id=eid, date=time.strftime("%Y-%m-%d", local(a)),
                    start=time.strftime("%H:%M:%S", local(a)),
                    end=time.strftime("%H:%M:%S", local(b)), record=False, **meta)
    now = time.time()
    first = entry("maths-7-3", now - 60, now + 900, subject="数学", grade="七年级", **{"class": "3班"},
                  teacher="王老师")
    first_end = time.mktime(time.strptime(first["date"] + " " + first["end"], "%Y-%m-%d %H:%M:%S"))
    second = entry("physics-9-1", first_end + 60, first_end + 1800, subject="物理", grade="九年级",
                   **{"class": "1班"}, teacher="赵老师", lesson_type="open")
    # a weekly lesson three days on (never today or tomorrow: no overlap),
    # for the week grid's next week
    weekly = dict(id="english-8-2", weekday=("mon", "tue", "wed", "thu", "fri", "sat", "sun")[
        local(now + 3 * 86400).tm_wday], start="10:00", end="10:45", subject="英语", grade="八年级",
        teacher="陈老师", lesson_type="open", **{"class": "2班"})
    return {"entries": [first, second, weekly]}


def schedule_feed(path):
    """An iCal feed with a weekly assembly on the weekday four days on (the
    grid shows it read-only)."""
    # begun two weeks ago: this week has one whatever today's weekday
    day = time.strftime("%Y%m%d", time.localtime(time.time() + (4 - 14) * 86400))
    with open(path, "w") as f:
        f.write("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//luobo tests//EN\r\nBEGIN:VEVENT\r\n"
                "UID:assembly@school.example\r\nDTSTAMP:20260101T000000Z\r\n"
                "DTSTART:%sT110000\r\nDTEND:%sT114000\r\nRRULE:FREQ=WEEKLY\r\n"
                "SUMMARY:全校周会\r\nX-LUOBO-TEACHER:校长\r\nX-LUOBO-RECORD:FALSE\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n" % (day, day))


def run_schedule(node_dir, scratch, shots):
    """A daemon with a timetable (a lesson now, the next one, a weekly one)
    and an iCal feed."""
    data = os.path.join(scratch, "data")
    os.makedirs(data)
    with open(os.path.join(data, "timetable.json"), "w") as f:
        json.dump(schedule_timetable(), f, ensure_ascii=False)
    feed = os.path.join(scratch, "school.ics")
    schedule_feed(feed)
    sections = ("[encoder]\npreset = ultrafast\nbitrate_kbps = 300\niso = false\n\n"
                "[health]\nclock_check = false\n\n[auth]\npublic_viewer = true\n\n"
                "[schedule]\nical = %s\n" % feed)
    return run_with_daemon(node_dir, scratch, shots, sections, [], "schedule_test.js")


if __name__ == "__main__":
    main()
