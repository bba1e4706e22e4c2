"""Health checks triggered by real conditions in a live recording.

One daemon on loopback, recording at once (--record), with:
  - mic "lapel": synthetic, silent for the first 15 s of each minute
    (speaks = 15-60): mic_silent raised, then cleared when it speaks;
  - camera "dark": a url source of a file that is black for 10 s, then moving
    for 10 s (looped): camera_black raised, then cleared;
  - camera "still": a url source of a file that is a still picture (SMPTE
    bars) for 10 s, then moving: camera_frozen raised, then cleared;
  - output "platform": SRT caller to srt-live-transmit as the receiver,
    killed, then restarted: output_down raised, then cleared;
  - output "repo": upload to a closed port: upload_failing after the lesson
    is stopped;
  - data_dir on a 48 MB tmpfs (when mount works, i.e. root) with
    disk_hours_needed = 1: disk_low while recording; then a timetable
    (PUT, the scheduler's clock at noon) whose only lesson today is 14:00 to
    14:01: the day needs 1 min, disk_low cleared while recording; then one
    of 14:00 to 16:00: 2 h needed, raised again with the timetable's 2 h;
    cleared after the lesson;
  - mic "lectern": ALSA's file plugin (no sound card) playing 10 s of
    silence, 5 s of a full-scale (clipped) tone, then a tone at -10 dBFS:
    mic_silent raised and cleared, then mic_clipping raised and cleared;
  - camera "ipcam": a url camera over SRT from an ffmpeg listener, with a
    sub-stream (analysis_url) from another; mic "radio": a url mic over SRT
    from a third: the three peers are killed with the SRT receiver and
    restarted: camera_lost, substream_lost and mic_lost raised, then cleared;
  - mic "drifty": synthetic, its clock 8000 ppm fast (as test_drift.py
    makes drift), beyond drift_max_ppm: av_drift raised (it never ends in
    this run: the mic's clock stays fast);
  - the daemon starved of CPU (a cgroup with 3 % of a core when the cpu
    controller is there, else SIGSTOP for 2 s): the program falls behind
    real time: overload raised, then cleared once it has the CPU again;
  - clock_check on: the kernel's adjtimex (read here with ctypes) decides:
    an unsynchronised clock raises clock_unsynced with the kernel's maximum
    error, a synchronised one raises nothing; on a machine that nothing
    synchronises (no NTP daemon) and with CAP_SYS_TIME, the kernel is told
    for a few seconds that its clock is synchronised (status and maximum
    error only; put back after): clock_unsynced clears, then is raised again.
Each raise and clear must be seen on the events WebSocket; each raised
alert in GET /api/v1/alerts and as luobo_alert{...} 1 in /metrics while
raised; and in the log at warning level (raised) and info (cleared).
Times to raise are printed (measured from when the condition began, as
the test knows it).

The webhook ([alerts], HTTP Basic from a 0600 file) posts to a receiver
(python's http.server) that is down at first and comes up once the first
alerts were raised: it must then get every event the events socket saw,
in order, none twice, with the credentials, which the log never shows.
"config": bad [alerts] settings are refused by --check-config with a
message naming the problem.
"""
import array
import ctypes
import json
import math
import os
import re
import signal
import socket
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))
from lbtest import Scratch, check, free_port, main, stop_daemon  # noqa: E402
from webui_common import curl, setup_code, ws_connect, ws_recv, cookie_of  # noqa: E402

LUOBO = os.environ.get("LUOBO_BIN", "luobo")


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y"] + list(args), check=True)


LECTERN_SILENT_S, LECTERN_CLIP_S = 10, 5


def make_media(d):
    """dark.mp4: 10 s black + 10 s moving; still.mp4: 10 s bars + 10 s moving;
    ipcam.mp4 and sub.mp4: moving, for the SRT camera and its sub-stream;
    radio.m4a: a tone at -12 dBFS; lectern.raw: the ALSA mic's samples."""
    enc = ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "20", "-g", "15", "-pix_fmt", "yuv420p"]
    moving = "testsrc2=s=320x180:r=15:d=10"
    for name, first in (("dark", "color=c=black:s=320x180:r=15:d=10"),
                        ("still", "smptebars=s=320x180:r=15:d=10")):
        ffmpeg("-f", "lavfi", "-i", first, "-f", "lavfi", "-i", moving,
               "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", *enc,
               os.path.join(d, name + ".mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=15:d=10", *enc, os.path.join(d, "ipcam.mp4"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=15:d=10", *enc, os.path.join(d, "sub.mp4"))
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:r=48000:d=10,volume=0.5", "-c:a", "aac", "-b:a", "64k",
           os.path.join(d, "radio.m4a"))
    # sine's amplitude is 1/8: x10 is clipped to full scale in 16 bits,
    # x2.4 peaks at -10 dBFS
    ffmpeg("-f", "lavfi", "-i", "sine=f=440:r=48000:d=90,volume=eval=frame:volume='if(lt(t,%d),0,if(lt(t,%d),10,2.4))'"
           % (LECTERN_SILENT_S, LECTERN_SILENT_S + LECTERN_CLIP_S),
           "-f", "s16le", "-ac", "1", os.path.join(d, "lectern.raw"))
    with open(os.path.join(d, "asoundrc"), "w") as f:
        f.write('pcm.testmic {\n  type file\n  slave.pcm "null"\n  file "/dev/null"\n'
                '  infile "%s"\n  format "raw"\n}\n' % os.path.join(d, "lectern.raw"))


def udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SrtSender:
    """ffmpeg as an SRT listener sending a file in a loop, in real time: a
    camera or a mic that luobo calls.  Like a camera's server it takes a
    new caller after one went away (ffmpeg serves one and exits: a shell
    loop starts it again).  Killed, it is the device going away."""

    def __init__(self, port, path, log):
        self.port, self.path, self.log = port, path, log
        self.proc = None

    def start(self):
        cmd = ("while :; do ffmpeg -v error -re -stream_loop -1 -i '%s' -c copy -f mpegts "
               "'srt://127.0.0.1:%d?mode=listener' </dev/null; sleep 0.2; done" % (self.path, self.port))
        self.proc = subprocess.Popen(["sh", "-c", cmd], stdout=self.log, stderr=self.log,
                                     start_new_session=True)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class timex(ctypes.Structure):
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
                ("time", ctypes.c_long * 2), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("pad", ctypes.c_int * 11)]


STA_UNSYNC, ADJ_MAXERROR, ADJ_STATUS, TIME_ERROR = 0x40, 0x4, 0x10, 5


def kernel_clock():
    """(unsynchronised, maximum error in ms) as adjtimex(2) says."""
    tx = timex()
    state = ctypes.CDLL(None, use_errno=True).adjtimex(ctypes.byref(tx))
    check(state >= 0, "adjtimex: errno %d" % ctypes.get_errno())
    return state == TIME_ERROR or bool(tx.status & STA_UNSYNC), tx.maxerror / 1000.0


class KernelSync:
    """On a machine whose clock nothing synchronises (no NTP daemon), tells
    the kernel for a few seconds that it is synchronised with a maximum
    error of 100 ms (the status flag and the error only: the time and its
    rate are not touched), then puts back the status and error it had.
    Needs CAP_SYS_TIME; a synchronised machine's clock is left alone."""

    def __init__(self):
        self.saved = None

    def mark_synced(self):
        tx = timex()
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.adjtimex(ctypes.byref(tx)) < 0 or not tx.status & STA_UNSYNC:
            return False
        saved = (tx.status, tx.maxerror)
        new = timex(modes=ADJ_STATUS | ADJ_MAXERROR, status=tx.status & ~STA_UNSYNC, maxerror=100000)
        if libc.adjtimex(ctypes.byref(new)) < 0:
            return False
        self.saved = saved
        return True

    def restore(self):
        if self.saved:
            tx = timex(modes=ADJ_STATUS | ADJ_MAXERROR, status=self.saved[0], maxerror=self.saved[1])
            ctypes.CDLL(None).adjtimex(ctypes.byref(tx))
            self.saved = None


class Starver:
    """Starves the daemon of CPU: a cgroup (v1 cpu or v2) with 3 % of a
    core when one can be made, else SIGSTOP (no CPU at all) for a while."""

    def __init__(self, pid):
        self.pid, self.dir, self.quota = pid, None, None
        for root, quota in (("/sys/fs/cgroup/cpu", "cpu.cfs_quota_us"), ("/sys/fs/cgroup", "cpu.max")):
            d = os.path.join(root, "luobo-health-%d" % pid)
            try:
                if not os.path.exists(os.path.join(root, quota if quota != "cpu.max" else "cgroup.controllers")):
                    continue
                os.mkdir(d)
                if os.path.exists(os.path.join(d, quota)):
                    self.dir, self.root, self.quota = d, root, quota
                    break
                os.rmdir(d)
            except OSError:
                continue

    def how(self):
        return "cgroup %s" % self.dir if self.dir else "SIGSTOP"

    def _write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def start(self):
        if self.dir:
            self._write(self.quota, "3000" if self.quota == "cpu.cfs_quota_us" else "3000 100000")
            self._write("cgroup.procs", str(self.pid))
        else:
            os.kill(self.pid, signal.SIGSTOP)
            time.sleep(2)
            os.kill(self.pid, signal.SIGCONT)

    def end(self):
        if self.dir:
            self._write(self.quota, "-1" if self.quota == "cpu.cfs_quota_us" else "max 100000")

    def remove(self):
        if not self.dir:
            return
        try:
            self.end()
            if os.path.exists("/proc/%d" % self.pid):
                with open(os.path.join(self.root, "cgroup.procs"), "w") as f:
                    f.write(str(self.pid))
        except OSError:
            pass
        for _ in range(50):
            try:
                os.rmdir(self.dir)
                return
            except OSError:
                time.sleep(0.1)


class Receiver:
    """srt-live-transmit listening for luobo's SRT caller."""

    def __init__(self, port, out):
        self.port, self.out = port, out
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["srt-live-transmit", "-q",
                                      "srt://127.0.0.1:%d?mode=listener" % self.port, "file://con"],
                                     stdout=open(self.out, "ab"), stderr=subprocess.DEVNULL)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Hook:
    """The webhook's receiver: records each POST's Authorization and body."""

    def __init__(self, port):
        self.port, self.got, self.server = port, [], None

    def start(self):
        hook = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                hook.got.append((self.headers.get("Authorization"), json.loads(self.rfile.read(n))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()


def try_tmpfs(path, size_mb):
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        return False
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % size_mb, "tmpfs", path],
                       capture_output=True)
    return r.returncode == 0


def test_live():
    with Scratch("health") as d:
        make_media(d)
        data = os.path.join(d, "data")
        tmpfs = try_tmpfs(data, 48)
        if not tmpfs:
            print("note: no tmpfs (not root): the disk forecast is not checked")
        port, srt_port, closed_port, hook_port = free_port(), udp_port(), free_port(), free_port()
        cam_port, sub_port, radio_port = udp_port(), udp_port(), udp_port()
        creds = os.path.join(d, "creds")
        with open(creds, "w") as f:
            f.write("luobo:s3cret-pw-77\n")
        os.chmod(creds, 0o600)
        hook = Hook(hook_port)
        rx = Receiver(srt_port, os.path.join(d, "got.ts"))
        peer_log = open(os.path.join(d, "peers.log"), "w")
        peers = [SrtSender(cam_port, os.path.join(d, "ipcam.mp4"), peer_log),
                 SrtSender(sub_port, os.path.join(d, "sub.mp4"), peer_log),
                 SrtSender(radio_port, os.path.join(d, "radio.m4a"), peer_log)]
        rx.start()
        for peer in peers:
            peer.start()
        clock_unsynced, clock_maxerror_ms = kernel_clock()
        ini = os.path.join(d, "luobo.ini")
        with open(ini, "w") as f:
            f.write("""[general]
data_dir = {data}
http_port = {port}
http_address = 127.0.0.1
width = 320
height = 180
fps = 15
# a shedding step (#17) keeps overload raised until it is undone
overload_recover_s = 1

[source.cam]
type = synthetic
role = teacher

[source.dark]
type = url
role = students
url = {d}/dark.mp4
loop = true

[source.still]
type = url
role = board
url = {d}/still.mp4
loop = true

[source.ipcam]
type = url
role = wide
url = srt://127.0.0.1:{cam_port}?mode=caller
analysis_url = srt://127.0.0.1:{sub_port}?mode=caller

[mic.lapel]
type = synthetic
role = teacher
speaks = 15-60

[mic.lectern]
type = alsa
role = teacher
device = testmic
pace = true

[mic.radio]
type = url
role = students
url = srt://127.0.0.1:{radio_port}?mode=caller

[mic.drifty]
type = synthetic
role = students
drift_ppm = 8000
frequency_hz = 1000

[encoder]
preset = ultrafast
bitrate_kbps = 300
keyint_s = 1
iso = false

[output.archive]
type = archive
min_free_mb = 4
stop_free_mb = 2

[output.platform]
type = srt
url = srt://127.0.0.1:{srt_port}?mode=caller&latency=200

[output.repo]
type = upload
url = http://127.0.0.1:{closed_port}/up/
allow_http = true
retry_max_s = 2

[health]
clear_s = 2
mic_silent_s = 4
mic_lost_s = 2
camera_lost_s = 2
substream_lost_s = 2
camera_black_s = 3
camera_frozen_s = 4
output_down_s = 3
upload_failing_s = 2
disk_hours_needed = 1
disk_rate_window_s = 4
overload_window_s = 2
clock_check = true
clock_unsynced_s = 1

[alerts]
webhook = http://127.0.0.1:{hook_port}/hook
allow_http = true
credentials = {creds}
retry_max_s = 2
""".format(data=data, port=port, d=d, srt_port=srt_port, closed_port=closed_port,
           hook_port=hook_port, creds=creds, cam_port=cam_port, sub_port=sub_port,
           radio_port=radio_port))
        log = open(os.path.join(d, "luobo.log"), "w")
        t0, wall0 = time.monotonic(), time.time()
        tm0 = time.localtime(wall0)
        tod0 = tm0.tm_hour * 3600 + tm0.tm_min * 60 + tm0.tm_sec + wall0 % 1

        def logged_at(pattern):
            """The test time of the first log line matching pattern, from
            the line's own time of day (HH:MM:SS.mmm, local)."""
            log.flush()
            m = re.search(r"^(\d\d):(\d\d):(\d\d\.\d+) .*" + pattern, open(log.name).read(), re.M)
            check(m, "the log has a line matching %r" % pattern)
            tod = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
            return (tod - tod0) % 86400
        # the scheduler's clock reads noon today: a lesson at 14:00 is
        # today's and has not begun, whatever the time the test runs
        tm = time.localtime(wall0)
        noon = time.mktime((tm.tm_year, tm.tm_mon, tm.tm_mday, 12, 0, 0, 0, 0, -1))
        offset = os.path.join(d, "wall-offset")
        with open(offset, "w") as f:
            f.write("%.3f\n" % (noon - wall0))
        today = time.strftime("%Y-%m-%d", tm)
        env = dict(os.environ, ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:" + os.path.join(d, "asoundrc"),
                   LUOBO_TEST_WALL_OFFSET_FILE=offset)
        proc = subprocess.Popen([LUOBO, "--config", ini, "--record", "--title", "health"],
                                stdout=log, stderr=subprocess.STDOUT, env=env)
        starver, ksync = Starver(proc.pid), KernelSync()
        clock_toggled = False
        events, first_seen = [], {}
        stop_reader = threading.Event()
        try:
            for _ in range(600):
                r = curl("http://127.0.0.1:%d/api/v1/session" % port)
                if r.status == 200 or proc.poll() is not None:
                    break
                time.sleep(0.1)
            check(proc.poll() is None, "luobo runs")

            class FakeServer:
                def log_text(self):
                    log.flush()
                    return open(log.name).read()

                def alive(self):
                    return proc.poll() is None
            jar = os.path.join(d, "jar")
            r = curl("http://127.0.0.1:%d/api/v1/setup" % port, "POST",
                     {"code": setup_code(FakeServer()), "password": "health-test-pw"},
                     save_cookies=jar)
            check(r.status in (200, 201), "first-run setup: HTTP %d %s" % (r.status, r.body[:200]))
            csrf = (r.json() or {}).get("csrf")
            sock, line = ws_connect(port, cookie=cookie_of(jar))
            check(" 101 " in line, "events socket: %s" % line)
            sock.settimeout(1)

            def reader():
                while not stop_reader.is_set():
                    try:
                        ev = json.loads(ws_recv(sock))
                    except (OSError, EOFError, ValueError):
                        if stop_reader.is_set():
                            return
                        continue
                    if ev.get("type") == "alert":
                        ev["_t"] = time.monotonic() - t0
                        events.append(ev)
            th = threading.Thread(target=reader, daemon=True)
            th.start()

            def first(state, after=0):
                """(alert, subject) -> the test time of its first event in
                that state at or after `after`."""
                out = {}
                for e in list(events):
                    if e["state"] == state and e["_t"] >= after:
                        out.setdefault((e["alert"], e["subject"]), e["_t"])
                return out

            def raised_events(after=0):
                return first("raised", after)

            def cleared_events(after=0):
                return first("cleared", after)

            seen_api, seen_metrics = set(), set()

            def poll():
                r = curl("http://127.0.0.1:%d/api/v1/alerts" % port, jar=jar)
                if r.status == 200:
                    for a in r.json()["alerts"]:
                        check(set(a) >= {"id", "alert", "subject", "since", "message"},
                              "alert members: %s" % a)
                        seen_api.add((a["alert"], a["subject"]))
                        first_seen.setdefault((a["alert"], a["subject"]), time.monotonic() - t0)
                r = curl("http://127.0.0.1:%d/metrics" % port, jar=jar)
                for m in re.finditer(r'^luobo_alert\{alert="([a-z_]+)",subject="([^"]*)"\} 1$',
                                     r.body.decode(), re.M):
                    seen_metrics.add((m.group(1), m.group(2)))

            def wait_for(cond, what, limit_s=90):
                end = time.monotonic() + limit_s
                while time.monotonic() < end:
                    poll()
                    if cond():
                        return
                    check(proc.poll() is None, "luobo died waiting for %s" % what)
                    time.sleep(0.3)
                check(False, "timed out waiting for " + what)

            def status():
                return curl("http://127.0.0.1:%d/api/v1/status" % port, jar=jar).json()

            # the recording's start: the conditions of mics and cameras begin
            wait_for(lambda: status()["recording"]["active"], "the recording")
            rec_t = logged_at(r"\[lifecycle\] lesson \S+: starting -> recording")
            # the ALSA file plays from the PCM's start; the drifting mic
            # drifts from its own
            alsa_t = logged_at(r"\[capture:mic:lectern\] ALSA 'testmic'")
            drift_t = logged_at(r"\[capture:mic:drifty\] live")
            # the files' black and still pictures come first
            dark_t = logged_at(r"\[capture:dark\] live")
            still_t = logged_at(r"\[capture:still\] live")
            want = [("mic_silent", "lapel"), ("camera_black", "dark"), ("camera_frozen", "still"),
                    ("mic_silent", "lectern"), ("av_drift", "drifty")]
            if clock_unsynced or clock_maxerror_ms > 500:
                want.append(("clock_unsynced", "system"))
            if tmpfs:
                want.append(("disk_low", "disk"))
            wait_for(lambda: all(k in raised_events() for k in want), "mic/camera/clock/disk alerts")
            hook.start()        # the receiver comes back: the backlog follows

            def timetable(end):
                tt = {"entries": [{"id": "e1", "date": today, "start": "14:00", "end": end,
                                   "title": "Physics"}]}
                r = curl("http://127.0.0.1:%d/api/v1/timetable" % port, "PUT", json.dumps(tt), jar=jar,
                         headers=["X-CSRF-Token: %s" % csrf])
                check(r.status == 200, "timetable PUT: %d %s" % (r.status, r.body[:300]))
            # the clock is synchronised for a while (when this machine's is
            # not and we may say so): clock_unsynced clears, then comes back
            synced_t = time.monotonic() - t0
            clock_toggled = ("clock_unsynced", "system") in want and ksync.mark_synced()
            if not clock_toggled:
                print("note: the kernel's clock state is not changed here: clock_unsynced is not cleared")
            if tmpfs:
                # the rest of the day needs one minute: the disk holds that
                timetable("14:01")
                short_t = time.monotonic() - t0

            # the SRT receiver, the IP camera, its sub-stream and the radio
            # mic go away at once
            def all_live():
                st = status()
                outs = [o["state"] for o in st["outputs"] if o["name"] == "platform"]
                cam = [s for s in st["sources"] if s["name"] == "ipcam"][0]
                radio = [m for m in st["mics"] if m["name"] == "radio"][0]
                return outs == ["live"] and cam["state"] == "live" and \
                    cam["analysis_stream"]["state"] == "live" and radio["state"] == "live"
            lost = [("output_down", "platform"), ("camera_lost", "ipcam"), ("substream_lost", "ipcam"),
                    ("mic_lost", "radio")]

            def raised_now():
                r = curl("http://127.0.0.1:%d/api/v1/alerts" % port, jar=jar)
                return [(a["alert"], a["subject"]) for a in r.json()["alerts"]]
            # (a peer slow to connect at the start may have raised its alert)
            wait_for(lambda: all_live() and not set(lost) & set(raised_now()),
                     "the SRT output, camera, sub-stream and mic live")
            rx.stop()
            for peer in peers:
                peer.stop()
            kill_t = time.monotonic() - t0
            # each comes back once its alert was raised (SRT takes longest)
            wait_for(lambda: all(k in raised_events(kill_t) for k in lost[1:]), "the lost alerts")
            for peer in peers:
                peer.start()
            back_t = time.monotonic() - t0
            if clock_toggled:
                wait_for(lambda: ("clock_unsynced", "system") in cleared_events(synced_t),
                         "clock_unsynced cleared")
                ksync.restore()
                unsynced_t = time.monotonic() - t0
            if tmpfs:
                wait_for(lambda: ("disk_low", "disk") in cleared_events(short_t),
                         "disk_low cleared: the timetable needs 1 min")
                # two hours: more than the disk holds
                timetable("16:00")
                long_t = time.monotonic() - t0
            wait_for(lambda: lost[0] in raised_events(kill_t), "output_down")
            rx.start()
            rx_back_t = time.monotonic() - t0
            if tmpfs:
                wait_for(lambda: ("disk_low", "disk") in raised_events(long_t),
                         "disk_low raised: the timetable needs 2 h")
            # the mics speak, the cameras move, the peers are back: cleared
            # (while still recording); the lectern clips, then speaks softly
            clears = want[:4] + lost[1:]
            for k in clears:
                wait_for(lambda: k in cleared_events(), "%s %s cleared" % k)
            wait_for(lambda: ("mic_clipping", "lectern") in raised_events(), "mic_clipping")
            wait_for(lambda: ("mic_clipping", "lectern") in cleared_events(), "mic_clipping cleared")
            if clock_toggled:
                wait_for(lambda: ("clock_unsynced", "system") in raised_events(unsynced_t),
                         "clock_unsynced raised again")
                print("clock_unsynced: cleared %.1f s after the kernel said synchronised, raised "
                      "%.1f s after it said unsynchronised again"
                      % (cleared_events(synced_t)[("clock_unsynced", "system")] - synced_t,
                         raised_events(unsynced_t)[("clock_unsynced", "system")] - unsynced_t))

            # the daemon is starved of CPU: the program falls behind
            wait_for(lambda: ("overload", "program") not in raised_now(),
                     "no overload before the CPU is taken away")
            starve_t = time.monotonic() - t0
            starver.start()
            wait_for(lambda: ("overload", "program") in raised_events(starve_t), "overload", 120)
            starver.end()
            fed_t = time.monotonic() - t0
            wait_for(lambda: ("overload", "program") in cleared_events(starve_t), "overload cleared", 120)

            # the lesson ends: the upload to a closed port fails
            r = curl("http://127.0.0.1:%d/api/v1/recording" % port, "POST", {"action": "stop"},
                     jar=jar, headers=["X-CSRF-Token: %s" % csrf])
            check(r.status == 200, "stop: HTTP %d %s" % (r.status, r.body[:200]))
            stop_t = time.monotonic() - t0
            wait_for(lambda: ("output_down", "platform") in cleared_events(), "output_down cleared")
            wait_for(lambda: ("upload_failing", "repo") in raised_events(), "upload_failing")
            if tmpfs:
                wait_for(lambda: ("disk_low", "disk") in cleared_events(stop_t), "disk_low cleared")
            poll()
            wait_for(lambda: len(hook.got) >= len(events), "the webhook's receiver has every event")
            time.sleep(1)
            ws_ids = [e["event_id"] for e in events]
            hook_ids = [b["event_id"] for _, b in hook.got]
            check(hook_ids[:len(ws_ids)] == ws_ids, "webhook got the events in order, once each: %s vs %s"
                  % (hook_ids, ws_ids))
            check(all(b["type"] == "alert" and b["state"] in ("raised", "cleared") for _, b in hook.got),
                  "webhook bodies are alert events")
            import base64
            basic = "Basic " + base64.b64encode(b"luobo:s3cret-pw-77").decode()
            check(all(a == basic for a, _ in hook.got), "webhook sends the credentials")
            print("webhook: %d events delivered after the receiver came back" % len(hook.got))

            # when each condition began, as the test knows it
            # (or when the checks started, with the recording, if later)
            starts = {("mic_silent", "lapel"): rec_t, ("camera_black", "dark"): max(dark_t, rec_t),
                      ("camera_frozen", "still"): max(still_t, rec_t), ("disk_low", "disk"): rec_t,
                      ("mic_silent", "lectern"): rec_t, ("av_drift", "drifty"): max(drift_t, rec_t),
                      ("clock_unsynced", "system"): rec_t,
                      ("mic_clipping", "lectern"): alsa_t + LECTERN_SILENT_S,
                      ("overload", "program"): starve_t, ("upload_failing", "repo"): stop_t}
            for k in lost:
                starts[k] = kill_t
            after = {k: (kill_t if k in lost else starve_t if k[0] == "overload" else 0) for k in starts}
            all_raised = want + lost + [("mic_clipping", "lectern"), ("overload", "program"),
                                        ("upload_failing", "repo")]
            print("%-15s %-9s %-12s %s" % ("alert", "subject", "raised after", "(threshold: [health])"))
            for k in all_raised:
                check(k in seen_api, "%s %s in GET /api/v1/alerts" % k)
                check(k in seen_metrics, "%s %s in /metrics" % k)
                t = raised_events(after[k])[k]
                print("%-15s %-9s %5.1f s       (at %.1f s of the test)" % (k[0], k[1], t - starts[k], t))
            cleared = cleared_events()
            print("cleared: the SRT peers back at %.1f s: %s; the CPU back at %.1f s: overload at %.1f s"
                  % (back_t, ", ".join("%s %.1f s" % (k[0], cleared_events(back_t)[k] - back_t)
                                       for k in lost[1:]), fed_t, cleared_events(starve_t)[("overload",
                                                                                             "program")] - fed_t))
            print("output_down cleared %.1f s after the receiver came back" %
                  (cleared[("output_down", "platform")] - rx_back_t))
            print("overload: the CPU was taken by %s" % starver.how())
            ev = [e for e in events if e["alert"] == "mic_silent"][0]
            check(ev["params"]["threshold"] == 4 and "silent for 4 s" in ev["message"] and
                  isinstance(ev["event_id"], (int, float)), "mic_silent event: %s" % ev)
            clip = [e for e in events if e["alert"] == "mic_clipping" and e["state"] == "raised"][0]
            check(clip["params"]["value"] >= -0.1, "mic_clipping's value is the peak: %s" % clip)
            drift = [e for e in events if e["alert"] == "av_drift" and e["state"] == "raised"][0]
            check(drift["params"]["value"] > 1000 and "ppm" in drift["message"],
                  "av_drift says the measured drift: %s" % drift)
            # (the first raise: the kernel's own state, before the test changed it)
            for e in [e for e in events if e["alert"] == "clock_unsynced"][:1]:
                if e["state"] == "raised":
                    _, now_ms = kernel_clock()
                    check(clock_maxerror_ms - 1000 <= e["params"]["value"] <= now_ms + 1000,
                          "clock_unsynced gives the kernel's maximum error (%s ms; the kernel said %.0f "
                          "then %.0f ms)" % (e["params"]["value"], clock_maxerror_ms, now_ms))
                    check(("unsynchronised" in e["message"]) == clock_unsynced,
                          "clock_unsynced says whether the kernel calls it unsynchronised: %s" % e["message"])
            if not any(k == ("clock_unsynced", "system") for k in want):
                check(("clock_unsynced", "system") not in raised_events(), "a synchronised clock: no alert")
            if tmpfs:
                disk = [e for e in events if e["alert"] == "disk_low" and e["state"] == "raised"]
                check(disk[0]["params"]["threshold"] == 1 and disk[0]["params"]["value"] < 1 and
                      "than the 1.0 h needed" in disk[0]["message"],
                      "disk_low: the hours left at the write rate vs disk_hours_needed: %s" % disk[0])
                check(len(disk) >= 2 and disk[1]["params"]["threshold"] == 2 and
                      "than the 2.0 h that today's remaining lessons need" in disk[1]["message"],
                      "disk_low: the hours left vs the timetable's remaining lessons: %s" % disk[1:])
                print("disk_low: cleared %.1f s after the timetable needed 1 min, raised %.1f s after "
                      "it needed 2 h" % (cleared_events(short_t)[("disk_low", "disk")] - short_t,
                                         raised_events(long_t)[("disk_low", "disk")] - long_t))
            ids = [e["event_id"] for e in events]
            check(ids == sorted(ids) and len(set(ids)) == len(ids), "event ids increase: %s" % ids)
        finally:
            stop_reader.set()
            ksync.restore()
            starver.remove()
            stop_daemon(proc)
            rx.stop()
            for peer in peers:
                peer.stop()
            hook.stop()
            log.close()
            peer_log.close()
            if tmpfs:
                subprocess.run(["umount", data])
        text = open(os.path.join(d, "luobo.log")).read()
        for k in all_raised:
            check(re.search(r"WARN +\[health\] alert %s %s raised: " % k, text),
                  "log: %s %s raised at warning level" % k)
        for k in clears + [("output_down", "platform"), ("mic_clipping", "lectern"), ("overload", "program")] + \
                ([("clock_unsynced", "system")] if clock_toggled else []):
            check(re.search(r"INFO +\[health\] alert %s %s cleared" % k, text),
                  "log: %s %s cleared at info level" % k)
        check("s3cret-pw-77" not in text, "the log never shows the webhook's password")
        check(re.search(r"WARN +\[webhook\] cannot deliver", text), "log: webhook retries")
        check(proc.returncode == 0, "luobo exit code %d" % proc.returncode)


def test_config():
    with Scratch("health-config") as d:
        creds = os.path.join(d, "creds")
        with open(creds, "w") as f:
            f.write("luobo:pw\n")
        os.chmod(creds, 0o644)
        cases = [
            ("webhook = http://127.0.0.1:1/x\n", "allow_http = true"),
            ("webhook = ftp://x/\n", "expected an https:// URL"),
            ("webhook = https://x/\ncredentials = %s\n" % creds, "readable by others"),
            ("webhook = https://x/\ncredentials = %s/none\n" % d, "No such file"),
            ("credentials = %s\n" % creds, "without a webhook"),
        ]
        for text, want in cases:
            ini = os.path.join(d, "luobo.ini")
            with open(ini, "w") as f:
                f.write("[general]\ndata_dir = %s\nhttp_port = 0\n[source.cam]\ntype = synthetic\n"
                        "[alerts]\n%s" % (d, text))
            p = subprocess.run([LUOBO, "--config", ini, "--check-config"], capture_output=True, text=True)
            check(p.returncode == 2 and "alerts" in p.stderr and want in p.stderr,
                  "[alerts] %r refused with %r: rc %d, %s" % (text, want, p.returncode, p.stderr.strip()))
        with open(ini, "w") as f:
            f.write("[general]\ndata_dir = %s\nhttp_port = 0\n[source.cam]\ntype = synthetic\n"
                    "[health]\nmic_silent_s = 0\n" % d)
        p = subprocess.run([LUOBO, "--config", ini, "--check-config"], capture_output=True, text=True)
        check(p.returncode == 2 and "mic_silent_s" in p.stderr, "[health] bounds: %s" % p.stderr.strip())


if __name__ == "__main__":
    if not shutil.which("srt-live-transmit"):
        print("srt-live-transmit missing (srt-tools)")
        sys.exit(77)
    main({"config": test_config, "live": test_live})
