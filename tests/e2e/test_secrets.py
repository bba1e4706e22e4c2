#!/usr/bin/env python3
"""Credentials in URLs never leave the daemon.

The real luobo with cameras and outputs whose URLs carry a password:
  - cam: rtsp://user:PW@127.0.0.1:<closed port>/cam (fails: connection refused)
  - web: http://user:PW@127.0.0.1:<port>/live.m3u8, an HLS camera served by a
    real HTTP server; with -v libavformat logs "Opening 'URL' for reading"
  - platform: an upload output to http://up:PW@127.0.0.1:<closed port>/, with
    a lesson of an earlier run waiting in its queue (fails at once)
  - live: the HLS output pushing to http://push:PW@127.0.0.1:<closed port>/
  - push: an SRT caller with passphrase=PW... to a closed port;
  - alerts raised after 1 s, POSTed to a webhook (a real HTTP receiver here)
    whose URL has a password too.
Once the errors are there: PW is nowhere in a viewer's /api/v1/status (which
has no last_error, no outputs, no kinds), an operator's status (redacted,
with the errors), /api/v1/sources, /api/v1/alerts, /metrics, the events
WebSocket of either, the webhook's bodies, the daemon's log (which shows
the redacted form of libavformat's lines and curl's errors), or any file in
the data folder."""
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))
from lbtest import LUOBO, Scratch, check, free_port, main, stop_daemon  # noqa: E402
from webui_common import cookie_of, curl, ws_collect  # noqa: E402

PW = "secretpw"
ADMIN_PW = "secrets test admin pw"


def wait_for(what, cond, proc, tries=600):
    """Polls cond (bounded: tries x 0.1 s plus the time cond takes)."""
    for _ in range(tries):
        v = cond()
        if v:
            return v
        check(proc.poll() is None, "luobo exited (%s) while waiting for %s" % (proc.returncode, what))
        time.sleep(0.1)
    check(False, "gave up waiting for %s" % what)


def hls_camera(tmp):
    """A short HLS stream made by ffmpeg, served by a real HTTP server."""
    folder = os.path.join(tmp, "cam")
    os.makedirs(folder)
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25", "-t", "3", "-c:v", "libx264", "-preset", "ultrafast",
                    "-g", "25", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
                    os.path.join(folder, "live.m3u8")], check=True)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.05)
    return server, port


def webhook_receiver():
    """A real HTTP server that keeps the bodies POSTed to it."""
    bodies = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, bodies


def find_key(obj, key):
    if isinstance(obj, dict):
        return key in obj or any(find_key(v, key) for v in obj.values())
    if isinstance(obj, list):
        return any(find_key(v, key) for v in obj)
    return False


def test_secrets():
    with Scratch("secrets") as tmp:
        closed = free_port()                 # nothing listens there
        http_server, cam_port = hls_camera(tmp)
        data = os.path.join(tmp, "data")
        # a lesson of an earlier run, waiting for upload
        old = os.path.join(data, "20260101-080000-old")
        os.makedirs(old)
        with open(os.path.join(old, "lesson.json"), "w") as f:
            json.dump({"id": "20260101-080000-old", "title": "Old", "status": "complete"}, f)
        with open(os.path.join(old, "program.mp4"), "wb") as f:
            f.write(b"\0" * 1000)
        with open(os.path.join(data, ".upload-queue"), "w") as f:
            f.write(old + "\n")
        http_port = free_port()
        hook, hook_bodies = webhook_receiver()
        ini = os.path.join(tmp, "luobo.ini")
        with open(ini, "w") as f:
            f.write("""[general]
data_dir = {data}
http_port = {http}
http_address = 127.0.0.1
width = 640
height = 360
fps = 25

[source.teacher]
type = synthetic
role = teacher

[source.cam]
type = url
role = students
url = rtsp://user:{pw}@127.0.0.1:{closed}/cam

[source.web]
type = url
role = board
url = http://user:{pw}@127.0.0.1:{cam}/live.m3u8

[mic.teacher]
type = synthetic
role = teacher

[encoder]
preset = ultrafast
bitrate_kbps = 500
keyint_s = 1

[output.live]
type = hls
segment_s = 1
url = http://push:{pw}@127.0.0.1:{closed}/live/

[output.platform]
type = upload
url = http://up:{pw}@127.0.0.1:{closed}/lessons/
allow_http = true
retry_max_s = 2

[output.push]
type = srt
url = srt://127.0.0.1:{closed}?mode=caller&passphrase={pw}{pw}

[health]
camera_lost_s = 1
upload_failing_s = 1
output_down_s = 1

[alerts]
webhook = http://hook:{pw}@127.0.0.1:{hook}/hook
allow_http = true
""".format(data=data, http=http_port, pw=PW, closed=closed, cam=cam_port, hook=hook.server_port))
        log_path = os.path.join(tmp, "luobo.log")
        log = open(log_path, "w")
        proc = subprocess.Popen([LUOBO, "--config", ini, "-v"], stdout=log, stderr=subprocess.STDOUT)
        stop = threading.Event()
        threads = []
        try:
            base = "http://127.0.0.1:%d" % http_port

            def log_text():
                log.flush()
                with open(log_path, errors="replace") as f:
                    return f.read()

            code = wait_for("the setup code", lambda: [l.split("setup code ")[1].split()[0]
                                                       for l in log_text().splitlines()
                                                       if "setup code " in l], proc)[-1]
            jar = os.path.join(tmp, "admin.jar")
            r = wait_for("the API", lambda: (lambda r: r if r.status else None)(
                curl(base + "/api/v1/setup", "POST", {"code": code, "password": ADMIN_PW},
                     save_cookies=jar)), proc)
            check(r.status == 201, "admin set up (%d %s)" % (r.status, r.body[:200]))
            admin = {"jar": jar, "headers": ["X-CSRF-Token: " + r.json()["csrf"]]}
            jars = {}
            for name, role in (("op1", "operator"), ("v1", "viewer")):
                r = curl(base + "/api/v1/users", "POST", {"user": name, "password": ADMIN_PW, "role": role},
                         **admin)
                check(r.status == 201, "admin creates %s (%s)" % (name, role))
                jars[name] = os.path.join(tmp, name + ".jar")
                r = curl(base + "/api/v1/login", "POST", {"user": name, "password": ADMIN_PW},
                         save_cookies=jars[name])
                check(r.status == 200, "%s logs in" % name)

            events = {"op1": [], "v1": []}
            for name in events:
                t = threading.Thread(target=ws_collect, args=(http_port, cookie_of(jars[name]),
                                                              events[name], stop, 2))
                t.start()
                threads.append(t)

            def op_status():
                return curl(base + "/api/v1/status", jar=jars["op1"]).json() or {}

            def errors_seen():
                st = op_status()
                src = {s["name"]: s for s in st.get("sources", [])}
                out = {o["name"]: o for o in st.get("outputs", [])}
                ok = (src.get("cam", {}).get("last_error") and src.get("web", {}).get("frames", 0) > 0 and
                      "up:***@" in out.get("platform", {}).get("last_error", "") and
                      "push:***@" in out.get("live", {}).get("last_error", "") and
                      out.get("push", {}).get("last_error") and
                      os.path.exists(os.path.join(old, "upload.json")))
                return st if ok else None

            st = wait_for("the errors of the camera and the outputs", errors_seen, proc)
            # the events sockets saw a status or two with the errors
            wait_for("status events with the errors", lambda: any(
                '"last_error":"HEAD http://up:***@' in m for m in events["op1"]), proc)
            # the upload's alert, quoting its error, went to the webhook
            wait_for("the upload_failing alert at the webhook", lambda: any(
                '"upload_failing"' in b and "up:***@" in b for b in hook_bodies), proc)

            # operator: the full status, redacted
            text = json.dumps(st)
            check(PW not in text, "operator's status: no password")
            check("http://up:***@127.0.0.1" in text, "operator's status: the upload's error, redacted")
            check(any(s.get("last_error") for s in st["sources"]), "operator's status has camera errors")
            # viewer: only what a viewer needs
            r = curl(base + "/api/v1/status", jar=jars["v1"])
            check(r.status == 200, "viewer reads the status")
            vst = r.json()
            check(PW not in r.body.decode(), "viewer's status: no password")
            check(not find_key(vst, "last_error"), "viewer's status: no last_error (%s)" % r.body[:300])
            check(set(vst) - {"insecure_transport"} == {"recording", "live", "sources", "mics"},
                  "viewer's status: recording, live, sources, mics only (%s)" % sorted(vst))
            check({s["name"] for s in vst["sources"]} == {"teacher", "cam", "web"} and
                  all(set(s) == {"name", "label", "role", "state"} for s in vst["sources"]),
                  "viewer's status: cameras' name, label, role and state (%s)" % vst["sources"])
            check("://" not in r.body.decode() and "/" not in json.dumps(vst["sources"]),
                  "viewer's status: no URL, no path")
            r = curl(base + "/api/v1/sources", jar=jars["v1"])
            check(r.status == 403, "viewer may not list sources: %d" % r.status)
            # sources, metrics (operator)
            r = curl(base + "/api/v1/sources", jar=jars["op1"])
            check(r.status == 200 and PW not in r.body.decode() and "cam" in r.body.decode(),
                  "/api/v1/sources: no password")
            r = curl(base + "/api/v1/alerts", jar=jars["v1"])
            check(r.status == 200 and PW not in r.body.decode() and "upload_failing" in r.body.decode(),
                  "a viewer's /api/v1/alerts: no password (%s)" % r.body[:300])
            r = curl(base + "/metrics", jar=jars["op1"])
            check(r.status == 200 and PW not in r.body.decode() and "luobo_source_up" in r.body.decode(),
                  "/metrics: no password")

            stop.set()
            for t in threads:
                t.join(timeout=30)
            for name, msgs in events.items():
                check(msgs and " 101 " in msgs[0], "%s's events socket opened (%s)" % (name, msgs[:1]))
                check(len(msgs) > 2, "%s got events (%d)" % (name, len(msgs)))
                check(not any(PW in m for m in msgs), "%s's events: no password" % name)
            vmsgs = [json.loads(m) for m in events["v1"][1:]]
            # meters: the mics' levels (the teacher page's meter; a viewer hears the sound anyway)
            check({m.get("type") for m in vmsgs} <= {"status", "alert", "meters"},
                  "viewer's events: status, alerts and meters only (%s)" % sorted({m.get("type") for m in vmsgs}))
            check(not any("://" in json.dumps(m) for m in vmsgs if m.get("type") == "meters"),
                  "viewer's meters: no URL")
            check(not any(find_key(m, "last_error") or find_key(m, "outputs") or find_key(m, "kind")
                          for m in vmsgs if m.get("type") == "status"),
                  "viewer's status events: no errors, no outputs, no kinds")
            check(any(json.loads(m).get("type") == "meters" for m in events["op1"][1:]),
                  "operator's events: meters too")
        finally:
            stop.set()
            stop_daemon(proc)
            http_server.terminate()
            http_server.wait()
            hook.shutdown()
            log.close()
        check(proc.returncode == 0, "luobo exits 0 (%s)" % proc.returncode)
        check(hook_bodies and not any(PW in b for b in hook_bodies),
              "the webhook's bodies: no password (%d bodies)" % len(hook_bodies))
        with open(log_path, errors="replace") as f:
            text = f.read()
        check(PW not in text, "the log: no password (%s)" % [l for l in text.splitlines() if PW in l][:3])
        check("Opening 'http://user:***@127.0.0.1" in text,
              "the log has libavformat's line with the URL, redacted")
        check("HEAD http://up:***@127.0.0.1" in text, "the log has curl's error, redacted")
        # every file in the data folder
        found = []
        for root, _, files in os.walk(data):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    if PW.encode() in f.read():
                        found.append(os.path.join(root, name))
        check(not found, "data folder: no password (%s)" % found)
        with open(os.path.join(old, "upload.json")) as f:
            up = json.load(f)
        check("http://up:***@" in up.get("last_error", ""), "upload.json: the error, redacted (%s)" % up)


if __name__ == "__main__":
    main({"secrets": test_secrets})
