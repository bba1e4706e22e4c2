#!/usr/bin/env python3
"""50 HLS viewers, 20 event WebSocket clients and 4 consoles polling
snapshots, all on loopback at once, while a lesson is recorded.

  test_load.py testd    webui_testd with a live HLS stream made by ffmpeg
  test_load.py daemon   the real luobo: the archive must drop nothing and
                        program.mp4 must hold every frame of its duration

Counts, not timings: every viewer gets its segments, every WebSocket client
its events, and nothing answers with an error."""
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from webui_common import (setup_admin, Daemon, LiveHls, Server, check, cookie_of, curl, finish,  # noqa: E402
                          ws_connect, ws_recv)

PW = "load test pw 1"
VIEWERS, WS_CLIENTS, CONSOLES = 50, 20, 4
SEGMENTS_EACH = 4


def get(port, path, cookie):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path, headers={"Cookie": cookie})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def viewer(port, cookie, stats, lock, stop):
    """Plays the live program like hls.js: playlist, then each new segment."""
    fetched, seen, errors, rounds = 0, set(), [], 0
    playlist = "/live/program.m3u8"
    while fetched < SEGMENTS_EACH and rounds < 400 and not stop.is_set():
        rounds += 1
        status, body = get(port, playlist, cookie)
        if status != 200:
            errors.append("playlist %d" % status)
            stop.wait(0.2)
            continue
        text = body.decode(errors="replace")
        if "#EXT-X-STREAM-INF" in text:      # a master playlist: take the first variant
            uri = [x for x in text.splitlines() if x and not x.startswith("#")][0]
            playlist = "/live/" + uri
            continue
        base = playlist.rsplit("/", 1)[0]
        for uri in [x for x in text.splitlines() if x and not x.startswith("#")][-2:]:
            if uri in seen:
                continue
            seen.add(uri)
            status, body = get(port, base + "/" + uri, cookie)
            if status == 200 and body:
                fetched += 1
            elif status != 404:         # a segment may age out between the two requests
                errors.append("segment %d" % status)
        stop.wait(0.3)
    with lock:
        stats["segments"].append(fetched)
        stats["errors"] += errors


def ws_client(port, cookie, stats, lock, stop):
    counts = {}
    try:
        s, line = ws_connect(port, cookie=cookie)
        if " 101 " not in line:
            raise RuntimeError(line)
        s.settimeout(30)
        while not stop.is_set():
            ev = json.loads(ws_recv(s))
            counts[ev.get("type")] = counts.get(ev.get("type"), 0) + 1
        s.close()
    except Exception as e:  # noqa: BLE001
        counts["error"] = str(e)
    with lock:
        stats["ws"].append(counts)


def console(port, cookie, names, stats, lock, stop):
    n = 0
    while not stop.is_set():
        for name in names:
            status, body = get(port, "/api/v1/sources/%s/snapshot.jpg" % name, cookie)
            if status == 200 and body[:2] == b"\xff\xd8":
                n += 1
            else:
                with lock:
                    stats["errors"].append("snapshot %d" % status)
        stop.wait(1.0)
    with lock:
        stats["snapshots"] += n


def main():
    target = sys.argv[1] if len(sys.argv) > 1 else "testd"
    scratch = Server.scratch()
    hls = None
    if target == "daemon":
        if not os.access(os.environ.get("LUOBO_BIN", ""), os.X_OK):
            print("SKIP: no luobo binary")
            sys.exit(77)
        srv = Daemon(scratch)
        if not srv.has_live:
            print("SKIP: this luobo has no hls output")
            srv.stop()
            sys.exit(77)
    else:
        hls = LiveHls(os.path.join(scratch, "live"), list_size=8)
        srv = Server(live=hls.folder)
    if not check(srv.alive(), "%s starts" % target):
        print(srv.log_text())
        finish()
    jar = os.path.join(scratch, "jar")
    r = setup_admin(srv, PW, jar)
    check(r.status == 201, "admin set up")
    csrf = r.json()["csrf"]
    cookie = cookie_of(jar)
    auth = {"jar": jar, "headers": ["X-CSRF-Token: " + csrf]}
    names = [s["name"] for s in curl(srv.base + "/api/v1/sources", jar=jar).json()]

    if target == "daemon":     # wait (bounded) for the live playlist
        for _ in range(200):
            if get(srv.port, "/live/program.m3u8", cookie)[0] == 200:
                break
            threading.Event().wait(0.1)
    r = curl(srv.base + "/api/v1/recording", "POST", {"action": "start", "title": "Load"}, **auth)
    check(r.status == 200, "recording started")

    stats = {"segments": [], "errors": [], "ws": [], "snapshots": 0}
    lock, stop_ws = threading.Lock(), threading.Event()
    viewers = [threading.Thread(target=viewer, args=(srv.port, cookie, stats, lock, stop_ws))
               for _ in range(VIEWERS)]
    others = [threading.Thread(target=ws_client, args=(srv.port, cookie, stats, lock, stop_ws))
              for _ in range(WS_CLIENTS)]
    others += [threading.Thread(target=console, args=(srv.port, cookie, names, stats, lock, stop_ws))
               for _ in range(CONSOLES)]
    for t in viewers + others:
        t.start()
    for t in viewers:
        t.join()
    stop_ws.set()
    for t in others:
        t.join(timeout=60)

    r = curl(srv.base + "/api/v1/recording", "POST", {"action": "stop"}, **auth)
    check(r.status == 200, "recording stopped")
    done = [n for n in stats["segments"] if n >= SEGMENTS_EACH]
    check(len(done) == VIEWERS, "every HLS viewer got %d segments (%d of %d did)"
          % (SEGMENTS_EACH, len(done), VIEWERS))
    check(not stats["errors"], "no errors (%s)" % stats["errors"][:5])
    ok_ws = [c for c in stats["ws"] if c.get("status", 0) >= 1 and c.get("meters", 0) >= 1
             and "error" not in c]
    check(len(ok_ws) == WS_CLIENTS, "every WebSocket client got status and meters (%d of %d; %s)"
          % (len(ok_ws), WS_CLIENTS, [c for c in stats["ws"] if c not in ok_ws][:2]))
    check(stats["snapshots"] > 0, "consoles got snapshots (%d)" % stats["snapshots"])

    if target == "daemon":
        # the lesson finishes after stop; wait (bounded) for lesson.json to say so
        lesson = None
        for _ in range(600):
            lst = (curl(srv.base + "/api/v1/recordings", jar=jar).json() or {}).get("recordings", [])
            lesson = next((x for x in lst if x.get("title") == "Load"), None)
            if lesson and lesson.get("status") == "complete":
                break
            threading.Event().wait(0.1)
        check(lesson and lesson.get("status") == "complete", "the lesson is complete")
        st = curl(srv.base + "/api/v1/status", jar=jar).json()
        archive = [o for o in st.get("outputs", []) if o.get("kind") == "archive"]
        check(archive and all(o.get("dropped", 1) == 0 for o in archive),
              "the archive dropped nothing (%s)" % [o.get("dropped") for o in archive])
        mp4 = os.path.join(srv.data, lesson["id"], "program.mp4") if lesson else ""
        out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                              "-show_entries", "stream=nb_read_frames,r_frame_rate", "-of", "json",
                              mp4], capture_output=True, text=True)
        info = (json.loads(out.stdout or "{}").get("streams") or [{}])[0]
        frames = int(info.get("nb_read_frames", 0))
        num, den = (int(x) for x in info.get("r_frame_rate", "0/1").split("/"))
        expected = lesson["duration_s"] * num / den if lesson and den else 0
        check(frames > 0 and abs(frames - expected) <= 2,
              "program.mp4 holds every frame: %d decoded for %.2f s" %
              (frames, lesson["duration_s"] if lesson else 0))
    code = srv.stop()
    check(code == 0, "%s exits 0" % target)
    if hls:
        hls.stop()
    shutil.rmtree(scratch, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
