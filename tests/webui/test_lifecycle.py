#!/usr/bin/env python3
"""The lesson's state machine through the real luobo: the status JSON shows
the lifecycle state ("lesson_state") through an API start and stop, events
not allowed in a state are refused with 409 and the reason, the log has one
[lifecycle] line per transition, and the lesson it made is complete.

Then reload (SIGHUP): a bad file is refused with its file:line and the
recording goes on; a changed program size during a lesson waits ("reload
pending") and applies when the lesson has finished, in one piece; while
idle it applies at once."""
import json
import os
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from webui_common import Daemon, Server, check, curl, finish, login, setup_admin  # noqa: E402

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


def relogin(srv, jar, timeout_s=120):
    """After a restart the web UI is new (sessions are in memory): log in
    again once it answers; returns the CSRF token or None."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r, csrf = login(srv, "admin", PW, jar)
        if r.status == 200 and csrf:
            return csrf
        time.sleep(0.2)
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
    frames = program(srv, jar).get("frames", 0)
    check(rec.get("lesson_flags") == ["reload_pending"] and program(srv, jar).get("width") == 640,
          "the status shows reload_pending, the program still 640 wide: %s" % rec)
    time.sleep(1)
    check(program(srv, jar).get("frames", 0) > frames and status(srv, jar).get("id") == lesson_id,
          "the program goes on in the same lesson")
    r = curl(srv.base + "/api/v1/recording", "POST", {"action": "stop"}, **auth)
    check(r.status == 200, "stop: 200")
    check(wait_log(srv, "the pipeline starts again with the new configuration"),
          "the lesson finished, the pipeline restarts")
    csrf = relogin(srv, jar)
    check(csrf is not None, "the new web UI answers a login")
    check(program(srv, jar).get("width") == 480, "the new program is 480 wide")
    with open(os.path.join(srv.data, lesson_id, "lesson.json")) as f:
        lesson = json.load(f)
    check(lesson["status"] == "complete" and lesson["duration_s"] > 1,
          "the lesson was not cut: complete, %.2f s" % lesson["duration_s"])
    check(sorted(os.listdir(srv.data)).count(lesson_id) == 1 and
          len([d for d in os.listdir(srv.data) if d.endswith("-reload")]) == 1, "one folder for the lesson")

    # idle: at once
    log_len = len(srv.log_text())
    with open(srv.ini, "w") as f:
        f.write(good)
    srv.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and \
            srv.log_text()[log_len:].count("the pipeline starts again with the new configuration") < 1:
        time.sleep(0.1)
    check(relogin(srv, jar) is not None and program(srv, jar).get("width") == 640,
          "a reload while idle applies at once: 640 wide again")

    # only the log level: applied without a restart (the session survives)
    with open(srv.ini, "w") as f:
        f.write(good.replace("[general]\n", "[general]\nlog_level = info\n", 1))
    srv.proc.send_signal(signal.SIGHUP)
    check(wait_log(srv, "only log_level changed: applied at once, no restart"),
          "a log_level change is applied without a restart")
    check(srv.log_text()[log_len:].count("the pipeline starts again") == 1 and
          curl(srv.base + "/api/v1/status", jar=jar).status == 200, "no restart: the session still works")


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
        test_reload(srv, jar, auth)
    finally:
        rc = srv.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    check(rc == 0, "luobo exits 0 on SIGTERM (%s)" % rc)
    finish()


if __name__ == "__main__":
    main()
