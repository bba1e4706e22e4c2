"""Resource mode for microphones: audio/<mic>.m4a, each mic on its own.

Two synthetic mics play different tones (440 and 660 Hz) while luobo records;
the program mixes them, each m4a must hold only its own mic:

  offline   --record --offline --duration 6: the lesson ends with the
            program (the encoders' flush at the end of the run)
  api       realtime, two lessons started and stopped through the API in
            one run (the mic encoders are flushed at each stop and opened
            again for the next lesson)
  kill9     kill -9 in the middle of a recording: the fragmented m4a files
            decode to within 1.5 s of the program, and after the restart's
            repair too
  config    iso_audio takes only a boolean, and the error names file:line

For every lesson: lesson.json lists the mics ("mics": name, role, file);
each m4a is one AAC-LC 48 kHz mono track whose tone is its mic's (within
1 %), with the other mic's tone at least 30 dB down, and whose decoded
length is the program's (+-40 ms); finished files are fast start.
"""
import array
import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))
from lbtest import (LUOBO, Failure, Scratch, check, decode_errors, free_port, lessons,  # noqa: E402
                    load_lesson, packet_times, run_luobo, streams, write_config)

FPS = 30
MICS = {"teacher": 440.0, "students": 660.0}


def config(data, port=0, extra=""):
    return f"""[general]
data_dir = {data}
http_port = {port}
width = 640
height = 360
fps = {FPS}

[source.cam]
type = synthetic
role = teacher
pattern = bars
width = 640
height = 360

[mic.teacher]
type = synthetic
role = teacher
frequency_hz = {MICS['teacher']:g}
speaks = 0-60

[mic.students]
type = synthetic
role = students
frequency_hz = {MICS['students']:g}
speaks = 0-60

[encoder]
preset = ultrafast
bitrate_kbps = 800
iso_width = 320
iso_height = 180
iso_preset = ultrafast
""" + extra


def decode_pcm(path):
    p = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-map", "a:0",
                        "-f", "s16le", "-ac", "1", "-ar", "48000", "-"], capture_output=True)
    check(p.returncode == 0, "%s: cannot decode: %s" % (path, p.stderr[-300:]))
    a = array.array("h")
    a.frombytes(p.stdout[: len(p.stdout) // 2 * 2])
    return [x / 32768.0 for x in a]


def power_at(x, freq, rate=48000):
    """Goertzel: the power of one frequency over the samples."""
    k = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + k * s1 - s2, s1
    return s1 * s1 + s2 * s2 - k * s1 * s2


def tone_hz(x, rate=48000):
    """The tone's frequency: the median over 100 ms windows of the periods
    between the first and last rising zero crossing (interpolated).  A
    realtime run on a loaded machine may lose a few ms of a mic (silence, in
    the program as well); the median does not see them."""
    est = []
    for w in range(0, len(x) - 4800, 4800):
        ups = [i - 1 + x[i - 1] / (x[i - 1] - x[i]) for i in range(w + 1, w + 4800)
               if x[i - 1] < 0 <= x[i]]
        if len(ups) > 2 and ups[-1] > ups[0]:
            est.append((len(ups) - 1) * rate / (ups[-1] - ups[0]))
    est.sort()
    return est[len(est) // 2] if est else 0.0


def top_atoms(path):
    out = []
    with open(path, "rb") as f:
        while True:
            h = f.read(8)
            if len(h) < 8:
                break
            size = int.from_bytes(h[:4], "big")
            kind = h[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(f.read(8), "big")
                f.seek(size - 16, 1)
            elif size == 0:
                out.append(kind)
                break
            else:
                f.seek(size - 8, 1)
            out.append(kind)
    return out


def program_end(lesson_dir):
    vp = packet_times(os.path.join(lesson_dir, "program.mp4"), "v:0")
    return max(p[0] + p[1] for p in vp)


def check_mic_file(lesson_dir, name, freq, program_s, tolerance_s, finished=True):
    path = os.path.join(lesson_dir, "audio", name + ".m4a")
    check(os.path.isfile(path), "%s exists" % path)
    info = streams(path)
    st = info["streams"]
    check(len(st) == 1 and st[0]["codec_type"] == "audio", "%s: one audio stream" % name)
    a = st[0]
    check(a["codec_name"] == "aac" and a.get("profile") == "LC" and a["sample_rate"] == "48000"
          and int(a["channels"]) == 1, "%s: AAC-LC 48 kHz mono (%s %s %s %s)" %
          (name, a["codec_name"], a.get("profile"), a["sample_rate"], a["channels"]))
    err = decode_errors(path)
    check(err == "", "%s decodes cleanly: %s" % (name, err[:300]))
    x = decode_pcm(path)
    dur = len(x) / 48000.0
    check(abs(dur - program_s) <= tolerance_s,
          "%s lasts %.3f s, the program %.3f s (+-%.0f ms)" % (name, dur, program_s, tolerance_s * 1000))
    mid = x[4800:-4800] if len(x) > 19200 else x
    hz = tone_hz(mid)
    check(abs(hz - freq) <= freq * 0.01, "%s: tone %.1f Hz, the mic plays %g Hz" % (name, hz, freq))
    seg = mid[:48000]
    own = power_at(seg, freq)
    for other, of in MICS.items():
        if other != name:
            leak = power_at(seg, of)
            check(leak < own * 1e-3, "%s: %s's %g Hz is %.1f dB down (>= 30 dB: before the mixer)"
                  % (name, other, of, 10 * math.log10(own / max(leak, 1e-30))))
    if finished:
        atoms = top_atoms(path)
        check("moov" in atoms and "mdat" in atoms and atoms.index("moov") < atoms.index("mdat"),
              "%s is fast start (%s)" % (name, atoms))
    return dur


def check_lesson(lesson_dir, tolerance_s=0.040, finished=True):
    lj = load_lesson(lesson_dir)
    check(lj.get("mics") == [{"name": n, "role": n, "file": "audio/%s.m4a" % n} for n in MICS],
          "lesson.json lists the mics: %s" % lj.get("mics"))
    check([s["name"] for s in lj["sources"]] == ["cam"], "sources are the cameras only")
    prog = program_end(lesson_dir)
    durs = [check_mic_file(lesson_dir, n, f, prog, tolerance_s, finished) for n, f in MICS.items()]
    return prog, durs


def wait_finished(lesson_dir, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if load_lesson(lesson_dir)["status"] != "recording" and \
                not os.path.exists(os.path.join(lesson_dir, ".finalising")):
            return
        time.sleep(0.2)
    raise Failure("%s not finished" % lesson_dir)


def test_offline():
    with Scratch("mics-offline") as tmp:
        data = os.path.join(tmp, "data")
        cfg = write_config(tmp, config(data))
        run_luobo(["--config", cfg, "--record", "--offline", "--duration", "6"])
        found = lessons(data)
        check(len(found) == 1, "one lesson")
        check(load_lesson(found[0])["status"] == "complete", "complete")
        prog, durs = check_lesson(found[0])
        print("offline: program %.3f s, mics %s" % (prog, ["%.3f" % d for d in durs]))


class Server:
    """What webui_common's helpers need of a server."""

    def __init__(self, proc, port, logpath):
        self.proc, self.base, self.logpath = proc, "http://127.0.0.1:%d" % port, logpath

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        with open(self.logpath) as f:
            return f.read()


def test_api():
    from webui_common import curl, login, setup_admin
    with Scratch("mics-api") as tmp:
        data = os.path.join(tmp, "data")
        port = free_port()
        cfg = write_config(tmp, config(data, port))
        logpath = os.path.join(tmp, "luobo.log")
        log = open(logpath, "w")
        proc = subprocess.Popen([LUOBO, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
        srv = Server(proc, port, logpath)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and curl(srv.base + "/api/v1/session").status != 200:
                check(srv.alive(), "luobo runs")
                time.sleep(0.2)
            jar = os.path.join(tmp, "jar")
            check(setup_admin(srv, "mic-archive-test-pw", jar).status in (200, 201), "admin set up")
            r, csrf = login(srv, "admin", "mic-archive-test-pw", jar)
            check(r.status == 200 and csrf, "logged in")
            auth = dict(jar=jar, headers=["X-CSRF-Token: " + csrf])
            for k in range(2):
                r = curl(srv.base + "/api/v1/recording", "POST", {"action": "start", "title": "Mics %d" % k}, **auth)
                check(r.status in (200, 201, 202), "recording %d starts (%d %s)" % (k, r.status, r.body[:200]))
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and len(lessons(data)) < k + 1:
                    time.sleep(0.1)
                time.sleep(3)
                r = curl(srv.base + "/api/v1/recording", "POST", {"action": "stop"}, **auth)
                check(r.status in (200, 202), "recording %d stops (%d %s)" % (k, r.status, r.body[:200]))
                found = lessons(data)
                check(len(found) == k + 1, "%d lesson(s)" % (k + 1))
                wait_finished(found[k])
                time.sleep(1)
            proc.send_signal(signal.SIGTERM)
            check(proc.wait(60) == 0, "luobo stops with status 0")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
        for lesson in lessons(data):
            check(load_lesson(lesson)["status"] == "complete", "complete")
            prog, durs = check_lesson(lesson)
            print("api: %s: program %.3f s, mics %s" % (os.path.basename(lesson), prog, ["%.3f" % d for d in durs]))


def metric(port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def test_kill9():
    with Scratch("mics-kill") as tmp:
        data = os.path.join(tmp, "data")
        port = free_port()
        # resume_window_s = 0: the next start repairs, never resumes
        cfg = write_config(tmp, config(data, port, "\n[auth]\nmetrics_public = true\n").replace(
            "[general]\n", "[general]\nresume_window_s = 0\n"))
        proc = subprocess.Popen([LUOBO, "--config", cfg, "--record", "--duration", "60"],
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                time.sleep(0.5)
                try:
                    if metric(port, "luobo_recording") == 1:
                        break
                except OSError:
                    pass
            time.sleep(6)
            check(proc.poll() is None, "luobo still recording")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        found = lessons(data)
        check(len(found) == 1, "one lesson")
        check(load_lesson(found[0])["status"] == "recording", "still 'recording' after the kill")
        prog, durs = check_lesson(found[0], tolerance_s=1.5, finished=False)
        print("kill -9: program %.3f s, mics %s" % (prog, ["%.3f" % d for d in durs]))
        check(prog > 2, "the program holds %.1f s" % prog)
        run_luobo(["--config", cfg, "--duration", "0.5"])
        check(load_lesson(found[0])["status"] == "interrupted", "repaired: interrupted")
        check_lesson(found[0], tolerance_s=1.5, finished=False)


def test_config():
    with Scratch("mics-config") as tmp:
        cfg = write_config(tmp, config(os.path.join(tmp, "data"), 0).replace(
            "[encoder]\n", "[encoder]\niso_audio = maybe\n"))
        p = run_luobo(["--config", cfg, "--check-config"], check_rc=2)
        line = config("x").split("\n").index("[encoder]") + 2
        check("luobo.ini:%d:" % line in p.stderr and "iso_audio" in p.stderr,
              "a bad iso_audio names file, line and key: %s" % p.stderr.strip()[-300:])
        cfg = write_config(tmp, config(os.path.join(tmp, "data"), 0).replace(
            "[encoder]\n", "[encoder]\niso_audio = false\n"))
        run_luobo(["--config", cfg, "--record", "--offline", "--duration", "2"])
        lesson = lessons(os.path.join(tmp, "data"))[0]
        check(not os.path.exists(os.path.join(lesson, "audio")) and "mics" not in load_lesson(lesson),
              "iso_audio = false: no audio/ and no mics in lesson.json")


TESTS = {"offline": test_offline, "api": test_api, "kill9": test_kill9, "config": test_config}

if __name__ == "__main__":
    from lbtest import main
    main(TESTS)
