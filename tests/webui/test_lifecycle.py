#!/usr/bin/env python3
"""The lesson's state machine through the real luobo: the status JSON shows
the lifecycle state ("lesson_state") through an API start and stop, events
not allowed in a state are refused with 409 and the reason, the log has one
[lifecycle] line per transition, and the lesson it made is complete.  A
mic's fader moved during it is kept in the lesson's .faders.json and goes
back to 0 dB when the lesson ends.

Then reload (SIGHUP): a bad file is refused with its file:line and the
recording goes on; a changed program size during a lesson waits ("reload
pending") and applies when the lesson has finished, in one piece; while
idle it applies at once.  The web UI runs on through a restart that
changes none of its keys: the session cookie and its CSRF token still work
and the events socket opened before stays open and shows the new program;
a restart that changes [webui] makes a new web UI that keeps the sessions
(the same cookie works, the old socket closes, a new one with the cookie
is let in), but ends that of a user whose hash the users file changed
(401).

Then the live part of a reload, during one lesson: a director weight and
an added HLS output apply at once (an operator's manual shot stays) (the output in the status, its playlist
served and playable), removing outputs stops them, mode auto -> manual
applies, a bad key keeps everything, and a mixed change applies its
director part at once while its camera part waits for the end of the
lesson; the lesson's program.mp4 has every frame, without a gap."""
import json
import os
import re
import subprocess
import shutil
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from webui_common import (Daemon, Server, check, cookie_of, curl, finish,  # noqa: E402
                          kept_faders, login, setup_admin, ws_connect, ws_recv)

PW = "correct horse 1"


def status(srv, jar):
    return (curl(srv.base + "/api/v1/status", jar=jar).json() or {}).get("recording", {})


def wait_state(srv, jar, wanted, timeout_s=60):
    """Polls the status until recording.lesson_state is one of wanted."""
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        st = status(srv, jar).get("lesson_state")
        if not seen or seen[-1] != st:
            seen.append(st)
        if st in wanted:
            return st, seen
        time.sleep(0.05)
    return None, seen


def wait_log(srv, needle, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if needle in srv.log_text():
            return True
        time.sleep(0.1)
    return False


def after_restart(srv, jar, cond, timeout_s=120):
    """Polls the status with the session from before a restart until cond
    holds for it (the status is empty while the pipeline restarts); a 401
    (the session lost) ends it at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = curl(srv.base + "/api/v1/status", jar=jar)
        if r.status == 401:
            return False
        if r.status == 200 and cond(r.json() or {}):
            return True
        time.sleep(0.2)
    return False


def ws_wait(sock, cond, timeout_s=120):
    """Reads events until one satisfies cond: True; False when the socket
    closes; None when the time is up."""
    deadline = time.monotonic() + timeout_s
    sock.settimeout(5)
    while time.monotonic() < deadline:
        try:
            ev = json.loads(ws_recv(sock))
        except socket.timeout:
            continue
        except (EOFError, OSError, ValueError):
            return False
        if cond(ev):
            return True
    return None


def program(srv, jar):
    return (curl(srv.base + "/api/v1/status", jar=jar).json() or {}).get("program", {})


def test_reload(srv, jar, auth):
    with open(srv.ini) as f:
        good = f.read()
    check("width = 640\n" in good, "the hall's program is 640 wide")
    r = curl(srv.base + "/api/v1/recording", "POST", {"action": "start", "title": "Reload"}, **auth)
    st, seen = wait_state(srv, jar, ("recording",))
    check(r.status == 200 and st == "recording", "a lesson records before the reloads (seen %s)" % seen)
    lesson_id = status(srv, jar).get("id", "")

    # a bad file: refused with its file and line, nothing else changes
    with open(srv.ini, "w") as f:
        f.write(good + "\n[bogus]\nkey = 1\n")
    line = good.count("\n") + 2
    srv.proc.send_signal(signal.SIGHUP)
    check(wait_log(srv, "[reload] %s:%d: unknown section [bogus]: keeping the running configuration"
                   % (srv.ini, line)), "a bad file on reload: logged with file:line, the running configuration kept")
    rec = status(srv, jar)
    check(rec.get("lesson_state") == "recording" and rec.get("id") == lesson_id and
          "reload_pending" not in rec.get("lesson_flags", []), "the recording goes on: %s" % rec)

    # the program size changes: it waits for the lesson to end
    with open(srv.ini, "w") as f:
        f.write(good.replace("width = 640\n", "width = 480\n"))
    srv.proc.send_signal(signal.SIGHUP)
    check(wait_log(srv, "lesson %s: recording -> recording (reload pending) (reload: the configuration changed)"
                   % lesson_id), "a reload during a lesson is pending, logged as a transition")
    rec = status(srv, jar)
    # program time, not frames made: a loaded machine skips frames to stay
    # live (a run at load 50 made 6 frames in 4.8 s), its clock goes on
    t_prog = program(srv, jar).get("time_s", 0)
    check(rec.get("lesson_flags") == ["reload_pending"] and program(srv, jar).get("width") == 640,
          "the status shows reload_pending, the program still 640 wide: %s" % rec)
    time.sleep(1)
    check(program(srv, jar).get("time_s", 0) > t_prog and status(srv, jar).get("id") == lesson_id,
          "the program goes on in the same lesson")
    # an events socket open through the restart (webui keys unchanged)
    port = int(srv.base.rsplit(":", 1)[1])
    ws, line = ws_connect(port, cookie=cookie_of(jar), origin=srv.base)
    check(" 101 " in line, "the events socket opens (%s)" % line)
    r = curl(srv.base + "/api/v1/recording", "POST", {"action": "stop"}, **auth)
    check(r.status == 200, "stop: 200")
    check(wait_log(srv, "the pipeline starts again with the new configuration"),
          "the lesson finished, the pipeline restarts")
    check("the web UI goes on serving while the pipeline restarts" in srv.log_text(),
          "the web UI is kept through the restart")
    check(after_restart(srv, jar, lambda st: st.get("program", {}).get("width") == 480),
          "the session from before the restart still works: the new program is 480 wide")
    check(ws_wait(ws, lambda ev: ev.get("type") == "status" and
                  ev.get("status", {}).get("program", {}).get("width") == 480),
          "the events socket opened before the restart stays open and shows the new program")
    ws.close()
    r = curl(srv.base + "/api/v1/director", "POST", {"mode": "auto"}, **auth)
    check(r.status == 200, "the CSRF token from before the restart still works (%d %s)" % (r.status, r.body[:200]))
    with open(os.path.join(srv.data, lesson_id, "lesson.json")) as f:
        lesson = json.load(f)
    check(lesson["status"] == "complete" and lesson["duration_s"] > 1,
          "the lesson was not cut: complete, %.2f s" % lesson["duration_s"])
    check(sorted(os.listdir(srv.data)).count(lesson_id) == 1 and
          len([d for d in os.listdir(srv.data) if d.endswith("-reload")]) == 1, "one folder for the lesson")

    # idle: at once; a [webui] key changes too, so the web UI is made anew
    # (the old events socket closes) and takes the sessions over, but not
    # that of a user whose hash the users file changed meanwhile
    r = curl(srv.base + "/api/v1/users", "POST", {"user": "t1", "password": PW, "role": "teacher"}, **auth)
    check(r.status == 201, "admin creates t1 (%d)" % r.status)
    jar_t1 = jar + "-t1"
    r, _ = login(srv, "t1", PW, jar_t1)
    check(r.status == 200, "t1 logs in (%d)" % r.status)
    users_file = os.path.join(srv.data, ".luobo-auth.json")
    with open(users_file) as f:
        users = json.load(f)
    by_name = {u["name"]: u for u in users["users"]}
    by_name["t1"]["hash"] = by_name["admin"]["hash"]      # another valid hash
    with open(users_file, "w") as f:
        json.dump(users, f)
    ws, line = ws_connect(port, cookie=cookie_of(jar), origin=srv.base)
    check(" 101 " in line, "the events socket opens (%s)" % line)
    log_len = len(srv.log_text())
    good = good.replace("[mic.teacher]", "[webui]\nserver_names = reload.test\n\n[mic.teacher]", 1)
    with open(srv.ini, "w") as f:
        f.write(good)
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and \
            srv.log_text()[log_len:].count("the pipeline starts again with the new configuration") < 1:
        time.sleep(0.1)
    check(after_restart(srv, jar, lambda st: st.get("program", {}).get("width") == 640),
          "a reload while idle applies at once: 640 wide again, the session still works")
    check("the web UI goes on serving" not in srv.log_text()[log_len:] and
          "the new web UI keeps 1 session(s); those of users gone, with another role or password end"
          in srv.log_text()[log_len:],
          "a [webui] change: a new web UI, which keeps the session of a user whose hash is the same")
    r = curl(srv.base + "/api/v1/status", jar=jar_t1)
    check(r.status == 401, "the session of t1, whose hash changed in the users file, ended (%d)" % r.status)
    check(ws_wait(ws, lambda ev: False, 30) is False, "the old web UI's events socket closes")
    ws.close()
    ws, line = ws_connect(port, cookie=cookie_of(jar), origin=srv.base)
    check(" 101 " in line, "the new web UI lets the session's events socket in (%s)" % line)
    check(ws_wait(ws, lambda ev: ev.get("type") == "status", 30), "and sends it the status")
    ws.close()
    r = curl(srv.base + "/api/v1/director", "POST", {"mode": "auto"}, **auth)
    check(r.status == 200, "the CSRF token works with the new web UI (%d)" % r.status)
    csrf = auth["headers"][0].split(": ", 1)[1]

    # only the log level: applied without a restart (the session survives)
    with open(srv.ini, "w") as f:
        f.write(good.replace("[general]\n", "[general]\nlog_level = info\n", 1))
    srv.proc.send_signal(signal.SIGHUP)
    check(wait_log(srv, "applied at once: general.log_level; waits for a pipeline restart: nothing"),
          "a log_level change is applied without a restart")
    check(srv.log_text()[log_len:].count("the pipeline starts again") == 1 and
          curl(srv.base + "/api/v1/status", jar=jar).status == 200, "no restart: the session still works")
    return csrf


def full_status(srv, jar):
    return curl(srv.base + "/api/v1/status", jar=jar).json() or {}


def reload_with(srv, jar, text, timeout_s=60):
    """Writes the file, sends SIGHUP and returns the status's reload member
    once it is newer than before (None on a time-out)."""
    before = len(srv.log_text())
    with open(srv.ini, "w") as f:
        f.write(text)
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tail = srv.log_text()[before:]
        if "[reload] " in tail and ("applied at once:" in tail or "keeping the running" in tail):
            time.sleep(0.3)         # the status is published right after the line
            return full_status(srv, jar).get("reload")
        time.sleep(0.1)
    return None


def output(srv, jar, name):
    for o in full_status(srv, jar).get("outputs", []):
        if o.get("name") == name:
            return o
    return None


def wait_for(cond, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    return None


def test_reload_live(srv, jar, auth, scratch):
    with open(srv.ini) as f:
        base = f.read()
    has_live = "[output.live]" in base
    # every frame made however late (a busy or sanitized machine would
    # otherwise skip ahead to stay live): a gap can then only be the reload's
    base = base.replace("[general]\n", "[general]\nmax_lag_ms = 0\n", 1)
    reload_with(srv, jar, base)         # idle: the restart follows at once

    def restarted():
        rl = full_status(srv, jar).get("reload") or {}
        if rl.get("applied") == ["general.max_lag_ms"] and rl.get("pending") == []:
            return rl
        return None
    check(wait_for(restarted, 120), "max_lag_ms = 0: restarted, the status says it applied (same session)")
    r = curl(srv.base + "/api/v1/recording", "POST", {"action": "start", "title": "Live reload"}, **auth)
    st, seen = wait_state(srv, jar, ("recording",))
    check(r.status == 200 and st == "recording", "a lesson records for the live reloads (seen %s)" % seen)
    lesson_id = status(srv, jar).get("id", "")
    live2 = os.path.join(scratch, "live2")
    hls2 = "\n[output.hls2]\ntype = hls\ndir = %s\nname = second\nsegment_s = 1\n" % live2

    # the operator takes a shot by hand (the file says auto)
    r = curl(srv.base + "/api/v1/director", "POST", {"mode": "manual", "shot": "students"}, **auth)
    check(r.status == 200 and (r.json() or {}).get("mode") == "manual", "the operator's shot: 200 (%d)" % r.status)

    # a director weight and a new HLS output: at once, nothing restarts
    text = base + "\n[director]\nweight_board = 0.75\n" + hls2
    rl = reload_with(srv, jar, text)
    check(rl is not None and rl.get("applied") == ["director.weight_board", "output.hls2 (added)"] and
          rl.get("pending") == [] and rl.get("error") is None and re.match(r"\d{4}-\d\d-\d\dT", rl.get("at", "")),
          "weight and output applied at once, nothing pending: %s" % rl)
    # the file's mode did not change: the operator's shot stays
    time.sleep(0.5)                     # a few frames past the reload
    d = full_status(srv, jar).get("director", {})
    check(d.get("mode") == "manual" and d.get("sources", [None])[0] == "students",
          "a reload of a weight keeps the operator's manual shot: %s" % {k: d.get(k) for k in ("mode", "sources")})
    r = curl(srv.base + "/api/v1/director", "POST", {"mode": "auto"}, **auth)
    check(r.status == 200, "the operator gives the shots back to the director")
    o = wait_for(lambda: (lambda x: x if x and x.get("packets", 0) > 0 else None)(output(srv, jar, "hls2")))
    check(o is not None and o.get("kind") == "hls", "the new HLS output is in the status and running: %s" % o)
    playlist = os.path.join(live2, "second.m3u8")
    check(wait_for(lambda: os.path.exists(playlist) and "#EXTINF" in open(playlist).read()),
          "the new output writes its playlist")
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                            "-of", "csv=p=0", playlist], capture_output=True, text=True)
    check(probe.returncode == 0 and "h264" in probe.stdout, "its playlist plays: %s %s" % (probe.stdout, probe.stderr[-300:]))
    rec = status(srv, jar)
    check(rec.get("id") == lesson_id and rec.get("lesson_state") == "recording" and
          "reload_pending" not in rec.get("lesson_flags", []), "the lesson goes on, no restart pending: %s" % rec)

    # director mode auto -> manual: at once
    check(full_status(srv, jar).get("director", {}).get("mode") == "auto", "the director is automatic")
    text = base + "\n[director]\nweight_board = 0.75\nmode = manual\n" + hls2
    rl = reload_with(srv, jar, text)
    check(rl is not None and rl.get("applied") == ["director.mode"] and rl.get("pending") == [],
          "mode applied at once: %s" % rl)
    check(wait_for(lambda: full_status(srv, jar).get("director", {}).get("mode") == "manual"),
          "the director is manual now")

    # the first HLS output removed: stopped, and /live/ serves the new one
    if has_live:
        base_nolive = base[:base.index("[output.live]")]
        text = base_nolive + "\n[director]\nweight_board = 0.75\nmode = manual\n" + hls2
        rl = reload_with(srv, jar, text)
        check(rl is not None and rl.get("applied") == ["output.live (removed)"], "output.live removed: %s" % rl)
        check(output(srv, jar, "live") is None, "the removed output is gone from the status")
        base = base_nolive
    pl = wait_for(lambda: (lambda r: r if r.status == 200 else None)(curl(srv.base + "/live/second.m3u8", jar=jar)))
    lines = pl.body.decode().splitlines() if pl else []
    segs = [l for l in lines if l and not l.startswith("#")]
    check(lines[:1] == ["#EXTM3U"] and any(l.startswith("#EXTINF:") for l in lines) and segs,
          "/live/second.m3u8 is served and parses as a playlist: %s" % lines[:8])
    seg = curl(srv.base + "/live/" + segs[-1], jar=jar) if segs else None
    if seg is not None:
        seg_path = os.path.join(scratch, "seg.ts")
        with open(seg_path, "wb") as f:
            f.write(seg.body)
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name",
                                "-of", "csv=p=0", seg_path], capture_output=True, text=True)
    check(seg is not None and seg.status == 200 and "h264" in probe.stdout, "a served segment decodes")

    # removing the added one stops it
    text = base + "\n[director]\nweight_board = 0.75\nmode = manual\n"
    rl = reload_with(srv, jar, text)
    check(rl is not None and rl.get("applied") == ["output.hls2 (removed)"], "hls2 removed: %s" % rl)
    check(output(srv, jar, "hls2") is None and "[streamer] hls2 (hls) stopped" in srv.log_text(),
          "the removed output is stopped and gone from the status")

    # [auth] public_viewer on, then off again: an anonymous event socket
    # opened meanwhile is closed by the reload, not left receiving status
    rl = reload_with(srv, jar, text + "\n[auth]\npublic_viewer = true\n")
    check(rl is not None and rl.get("applied") == ["auth.public_viewer"], "public_viewer on: %s" % rl)
    ws, line = ws_connect(int(srv.base.rsplit(":", 1)[1]))
    check(" 101 " in line, "an anonymous events socket while public_viewer is on (%s)" % line)
    check(json.loads(ws_recv(ws)).get("type") == "status", "it receives the status")
    # (its reload line is the one just logged: the log folds it into a
    # "repeated" line, so the socket's close is what is waited for)
    with open(srv.ini, "w") as f:
        f.write(text)
    srv.proc.send_signal(signal.SIGHUP)
    closed = False
    ws.settimeout(10)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:      # status events until the close
            ws_recv(ws)
    except (EOFError, ConnectionError):
        closed = True
    except socket.timeout:
        pass
    ws.close()
    check(closed and wait_log(srv, "closing an anonymous event socket: [auth] public_viewer is off"),
          "the reload that turns public_viewer off closes the anonymous socket")
    ws, line = ws_connect(int(srv.base.rsplit(":", 1)[1]))
    ws.close()
    check(" 101 " not in line, "and a new anonymous one is refused (%s)" % line)

    # [auth] metrics_public: at once, the console's session is kept
    check(curl(srv.base + "/metrics").status in (401, 403), "/metrics needs a login")
    text += "\n[auth]\nmetrics_public = true\n"
    rl = reload_with(srv, jar, text)
    check(rl is not None and rl.get("applied") == ["auth.metrics_public"], "auth applied at once: %s" % rl)
    m = wait_for(lambda: (lambda r: r if r.status == 200 else None)(curl(srv.base + "/metrics")))
    check(m is not None and b"luobo_" in m.body and curl(srv.base + "/api/v1/status", jar=jar).status == 200,
          "/metrics without a login now, and the session still works")

    # a bad key: the running configuration and the recording stay
    bad = text.replace("mode = manual\n", "mode = manual\nbogus_key = 1\n")
    line = bad[:bad.index("bogus_key")].count("\n") + 1
    rl = reload_with(srv, jar, bad)
    msg = "%s:%d: director: unknown key 'bogus_key'" % (srv.ini, line)
    check(rl is not None and msg in (rl.get("error") or "") and
          wait_log(srv, "[reload] %s: keeping the running configuration" % msg),
          "a bad key: logged with file:line, in the status: %s" % rl)
    rec = status(srv, jar)
    check(rec.get("id") == lesson_id and rec.get("lesson_state") == "recording" and
          full_status(srv, jar).get("director", {}).get("mode") == "manual", "the recording and the config stay")

    # mixed: the director part at once, the camera waits for the lesson's end
    mixed = text.replace("weight_board = 0.75", "weight_board = 0.7").replace(
        "[source.board]\n", "[source.board]\npattern = screen\n")
    rl = reload_with(srv, jar, mixed)
    check(rl is not None and rl.get("applied") == ["director.weight_board"] and
          rl.get("pending") == ["source.board.pattern"], "mixed: one applied, one pending: %s" % rl)
    check(wait_log(srv, "applied at once: director.weight_board; waits for a pipeline restart (when no lesson "
                   "records): source.board.pattern"), "one log line says what applied and what waits")
    check(status(srv, jar).get("lesson_flags") == ["reload_pending"], "the lesson is flagged reload_pending")
    time.sleep(2)
    restarts = srv.log_text().count("the pipeline starts again with the new configuration")
    r = curl(srv.base + "/api/v1/recording", "POST", {"action": "stop"}, **auth)
    check(r.status == 200, "stop: 200")
    check(wait_for(lambda: srv.log_text().count("the pipeline starts again with the new configuration") > restarts,
                   120),
          "the camera change applies once the lesson has ended")
    check(after_restart(srv, jar, lambda st: st.get("reload", {}).get("pending") == []),
          "the web UI answers the same session after the restart")
    rl = full_status(srv, jar).get("reload") or {}
    check(rl.get("applied") == ["source.board.pattern"] and rl.get("pending") == [],
          "after the restart the pending part is applied: %s" % rl)

    # the lesson's program has no gap through the reloads
    ldir = os.path.join(srv.data, lesson_id)
    check(wait_for(lambda: not os.path.exists(os.path.join(ldir, ".finalising")) and
                   json.load(open(os.path.join(ldir, "lesson.json"))).get("status") == "complete", 120),
          "the lesson is complete")
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "frame=pts_time", "-of", "csv=p=0", os.path.join(ldir, "program.mp4")],
                           capture_output=True, text=True)
    pts = [float(x.strip().strip(",")) for x in probe.stdout.split() if x.strip().strip(",")]
    fps = 25.0
    gaps = [b - a for a, b in zip(pts, pts[1:])]
    duration = (pts[-1] - pts[0] + 1 / fps) if pts else 0
    check(len(pts) > 5 * fps and abs(len(pts) - duration * fps) <= 1 and max(gaps) <= 1.5 / fps,
          "program.mp4: %d frames decoded over %.2f s (%.1f expected), largest pts step %.3f s" %
          (len(pts), duration, duration * fps, max(gaps) if gaps else -1))
    print("figures: %d frames, %.2f s, largest pts step %.1f ms" % (len(pts), duration, 1000 * max(gaps)))


def main():
    if not os.access(os.environ.get("LUOBO_BIN", ""), os.X_OK):
        print("SKIP: no luobo binary")
        sys.exit(77)
    scratch = Server.scratch()
    srv = Daemon(scratch)
    try:
        if not check(srv.alive(), "luobo starts"):
            print(srv.log_text())
            finish()
        jar = os.path.join(scratch, "jar")
        r = setup_admin(srv, PW, jar)
        check(r.status == 201, "admin set up")
        auth = {"jar": jar, "headers": ["X-CSRF-Token: " + r.json()["csrf"]]}
        rec = status(srv, jar)
        check(rec.get("lesson_state") == "idle" and rec.get("lesson_flags") == [],
              "idle at start-up: %s" % rec)

        r = curl(srv.base + "/api/v1/recording", "POST", {"action": "stop"}, **auth)
        check(r.status == 409 and "no recording is running" in (r.json() or {}).get("error", ""),
              "stop while idle: 409 with the reason (%d %s)" % (r.status, r.body[:200]))

        r = curl(srv.base + "/api/v1/recording", "POST",
                 {"action": "start", "title": "Optics", "teacher": "Mr Wang"}, **auth)
        check(r.status == 200 and r.json()["recording"]["lesson_state"] in ("starting", "recording"),
              "start: 200, starting or recording (%d %s)" % (r.status, r.body[:300]))
        st, seen = wait_state(srv, jar, ("recording",))
        check(st == "recording", "the status reaches recording (seen %s)" % seen)
        lesson_id = status(srv, jar).get("id", "")
        check(lesson_id != "", "the recording has an id")
        # the operator's fader is the lesson's: kept in its folder while it
        # records, back at 0 dB once it has ended
        r = curl(srv.base + "/api/v1/mics/teacher", "POST", {"mute": True, "gain_db": -6}, **auth)
        check(r.status == 200, "the teacher's mic muted at -6 dB (%d)" % r.status)
        kept = kept_faders(os.path.join(srv.data, lesson_id, ".faders.json"),
                           lambda k: k.get("teacher") == {"mute": True, "gain_db": -6}) or {}
        check(kept.get("teacher") == {"mute": True, "gain_db": -6} and
              kept.get("students") == {"mute": False, "gain_db": 0}, "the lesson keeps its faders: %s" % kept)

        r = curl(srv.base + "/api/v1/recording", "POST", {"action": "start"}, **auth)
        check(r.status == 409 and "already running" in (r.json() or {}).get("error", ""),
              "start while recording: 409 with the reason (%d %s)" % (r.status, r.body[:200]))
        time.sleep(1.5)     # a second of lesson, by the program's own count below
        r = curl(srv.base + "/api/v1/recording", "POST", {"action": "stop"}, **auth)
        check(r.status == 200 and r.json()["recording"]["lesson_state"] in ("stopping", "finishing", "idle"),
              "stop: 200, stopping (%d %s)" % (r.status, r.body[:300]))
        r = curl(srv.base + "/api/v1/recording", "POST", {"action": "stop"}, **auth)
        err = (r.json() or {}).get("error", "")
        check(r.status == 409 and ("already stopping" in err or "no recording is running" in err),
              "double stop: 409 with the reason (%d %s)" % (r.status, err))
        st, seen = wait_state(srv, jar, ("idle",))
        check(st == "idle", "the status is back to idle (seen %s)" % seen)
        mics = {m["name"]: (m.get("mute"), m.get("gain_db")) for m in full_status(srv, jar).get("mics", [])}
        check(mics.get("teacher") == (False, 0), "the lesson ended: the faders are back at 0 dB (%s)" % mics)

        log = srv.log_text()
        lines = [l for l in log.splitlines() if "[lifecycle] lesson " in l]
        want = ["lesson (new): idle -> starting (api: start)",
                "lesson %s: starting -> recording (pipeline: archive started at" % lesson_id,
                "lesson %s: recording -> stopping (api: stop)" % lesson_id,
                "lesson %s: stopping -> finishing (pipeline: last frame marked)" % lesson_id,
                "lesson %s: finishing -> idle (pipeline: lesson finished, " % lesson_id]
        check(len(lines) == len(want) and all(w in l for w, l in zip(want, lines)),
              "one [lifecycle] line per transition, in order:\n  " + "\n  ".join(lines))
        with open(os.path.join(srv.data, lesson_id, "lesson.json")) as f:
            lesson = json.load(f)
        check(lesson["status"] == "complete" and lesson["title"] == "Optics" and lesson["duration_s"] > 0,
              "lesson.json complete, with the start's metadata: %s %s %s" %
              (lesson["status"], lesson["title"], lesson["duration_s"]))
        csrf = test_reload(srv, jar, auth)
        auth = {"jar": jar, "headers": ["X-CSRF-Token: " + (csrf or "")]}
        test_reload_live(srv, jar, auth, scratch)
    finally:
        rc = srv.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    check(rc == 0, "luobo exits 0 on SIGTERM (%s)" % rc)
    finish()


if __name__ == "__main__":
    main()
