#!/usr/bin/env python3
"""The lesson's state machine through the real luobo: the status JSON shows
the lifecycle state ("lesson_state") through an API start and stop, events
not allowed in a state are refused with 409 and the reason, the log has one
[lifecycle] line per transition, and the lesson it made is complete."""
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from webui_common import Daemon, Server, check, curl, finish, setup_admin  # noqa: E402

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
    finally:
        rc = srv.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    check(rc == 0, "luobo exits 0 on SIGTERM (%s)" % rc)
    finish()


if __name__ == "__main__":
    main()
