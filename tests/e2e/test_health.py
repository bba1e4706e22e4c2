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
    disk_hours_needed = 1: disk_low while recording, cleared after.
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
import json
import os
import re
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


def make_media(d):
    """dark.mp4: 10 s black + 10 s moving; still.mp4: 10 s bars + 10 s moving."""
    enc = ["-c:v", "libx264", "-preset", "ultrafast", "-qp", "20", "-g", "15", "-pix_fmt", "yuv420p"]
    moving = "testsrc2=s=320x180:r=15:d=10"
    for name, first in (("dark", "color=c=black:s=320x180:r=15:d=10"),
                        ("still", "smptebars=s=320x180:r=15:d=10")):
        ffmpeg("-f", "lavfi", "-i", first, "-f", "lavfi", "-i", moving,
               "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", *enc,
               os.path.join(d, name + ".mp4"))


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
        port, srt_port, closed_port, hook_port = free_port(), free_port(), free_port(), free_port()
        creds = os.path.join(d, "creds")
        with open(creds, "w") as f:
            f.write("luobo:s3cret-pw-77\n")
        os.chmod(creds, 0o600)
        hook = Hook(hook_port)
        rx = Receiver(srt_port, os.path.join(d, "got.ts"))
        rx.start()
        ini = os.path.join(d, "luobo.ini")
        with open(ini, "w") as f:
            f.write("""[general]
data_dir = {data}
http_port = {port}
http_address = 127.0.0.1
width = 320
height = 180
fps = 15

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

[mic.lapel]
type = synthetic
role = teacher
speaks = 15-60

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
camera_black_s = 3
camera_frozen_s = 4
output_down_s = 3
upload_failing_s = 2
disk_hours_needed = 1
disk_rate_window_s = 4
clock_check = false

[alerts]
webhook = http://127.0.0.1:{hook_port}/hook
allow_http = true
credentials = {creds}
retry_max_s = 2
""".format(data=data, port=port, d=d, srt_port=srt_port, closed_port=closed_port,
           hook_port=hook_port, creds=creds))
        log = open(os.path.join(d, "luobo.log"), "w")
        t0 = time.monotonic()
        proc = subprocess.Popen([LUOBO, "--config", ini, "--record", "--title", "health"],
                                stdout=log, stderr=subprocess.STDOUT)
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

            def first(state):
                out = {}
                for e in events:
                    if e["state"] == state:
                        out.setdefault((e["alert"], e["subject"]), e["_t"])
                return out

            def raised_events():
                return first("raised")

            def cleared_events():
                return first("cleared")

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

            # the recording's start: the conditions of mic and cameras begin
            wait_for(lambda: curl("http://127.0.0.1:%d/api/v1/status" % port, jar=jar).json()
                     ["recording"]["active"], "the recording")
            rec_t = time.monotonic() - t0
            want = [("mic_silent", "lapel"), ("camera_black", "dark"), ("camera_frozen", "still")]
            if tmpfs:
                want.append(("disk_low", "disk"))
            wait_for(lambda: all(k in raised_events() for k in want), "mic/camera/disk alerts")
            hook.start()        # the receiver comes back: the backlog follows
            # the SRT receiver goes away
            wait_for(lambda: [o["state"] for o in curl("http://127.0.0.1:%d/api/v1/status" % port,
                                                       jar=jar).json()["outputs"]
                              if o["name"] == "platform"] == ["live"], "the SRT output live")
            rx.stop()
            kill_t = time.monotonic() - t0
            wait_for(lambda: ("output_down", "platform") in raised_events(), "output_down")
            rx.start()
            back_t = time.monotonic() - t0
            # the mic speaks, the cameras move: cleared (while still recording)
            for k in want[:3]:
                wait_for(lambda: k in cleared_events(), "%s %s cleared" % k)
            # the lesson ends: the upload to a closed port fails
            r = curl("http://127.0.0.1:%d/api/v1/recording" % port, "POST", {"action": "stop"},
                     jar=jar, headers=["X-CSRF-Token: %s" % csrf])
            check(r.status == 200, "stop: HTTP %d %s" % (r.status, r.body[:200]))
            stop_t = time.monotonic() - t0
            wait_for(lambda: ("output_down", "platform") in cleared_events(), "output_down cleared")
            wait_for(lambda: ("upload_failing", "repo") in raised_events(), "upload_failing")
            if tmpfs:
                wait_for(lambda: ("disk_low", "disk") in cleared_events(), "disk_low cleared")
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

            raised, cleared = raised_events(), cleared_events()
            starts = {("mic_silent", "lapel"): rec_t, ("camera_black", "dark"): rec_t,
                      ("camera_frozen", "still"): rec_t, ("disk_low", "disk"): rec_t,
                      ("output_down", "platform"): kill_t, ("upload_failing", "repo"): stop_t}
            for k in want + [("output_down", "platform"), ("upload_failing", "repo")]:
                check(k in seen_api, "%s %s in GET /api/v1/alerts" % k)
                check(k in seen_metrics, "%s %s in /metrics" % k)
                print("raised %-15s %-9s %5.1f s after its condition began (at %.1f s)"
                      % (k[0], k[1], raised[k] - starts[k], raised[k]))
            print("output_down cleared %.1f s after the receiver came back" %
                  (cleared[("output_down", "platform")] - back_t))
            ev = [e for e in events if e["alert"] == "mic_silent"][0]
            check(ev["params"]["threshold"] == 4 and "silent for 4 s" in ev["message"] and
                  isinstance(ev["event_id"], (int, float)), "mic_silent event: %s" % ev)
            ids = [e["event_id"] for e in events]
            check(ids == sorted(ids) and len(set(ids)) == len(ids), "event ids increase: %s" % ids)
        finally:
            stop_reader.set()
            stop_daemon(proc)
            rx.stop()
            hook.stop()
            log.close()
            if tmpfs:
                subprocess.run(["umount", data])
        text = open(os.path.join(d, "luobo.log")).read()
        for k in want + [("output_down", "platform"), ("upload_failing", "repo")]:
            check(re.search(r"WARN +\[health\] alert %s %s raised: " % k, text),
                  "log: %s %s raised at warning level" % k)
        for k in want[:3] + [("output_down", "platform")]:
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
