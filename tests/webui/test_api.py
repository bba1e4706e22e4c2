#!/usr/bin/env python3
"""webui API over real HTTP (curl) against webui_testd: every endpoint's
success and error shape, roles, CSRF, body limits, path confinement, Range,
the events WebSocket, public viewer, config hash, TLS, login rate limit."""
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from webui_common import (Server, setup_admin, setup_code, check, cookie_of, curl, finish, login, ws_connect,  # noqa: E402
                          ws_recv, make_library)

PW = "correct horse 1"


def make_fixture(data):
    """A finished lesson with a deterministic 100 000-byte program.mp4."""
    lid = "20260101-080000-fixture"
    d = os.path.join(data, lid)
    os.makedirs(os.path.join(d, "iso"))
    blob = bytes((i * 7 + (i >> 8)) & 0xFF for i in range(100000))
    with open(os.path.join(d, "program.mp4"), "wb") as f:
        f.write(blob)
    with open(os.path.join(d, "iso", "teacher.mp4"), "wb") as f:
        f.write(blob[:1000])
    with open(os.path.join(d, "lesson.json"), "w") as f:
        json.dump({"id": lid, "title": "Fixture", "teacher": "Ms Li", "course": "Physics",
                   "started_at": "2026-01-01T08:00:00+00:00",
                   "ended_at": "2026-01-01T08:45:00+00:00", "duration_s": 2700,
                   "sources": [], "chapters": [], "status": "complete"}, f)
    os.symlink("/etc/passwd", os.path.join(d, "escape.mp4"))
    with open(os.path.join(d, "upload.json"), "w") as f:
        json.dump({"state": "uploading", "files_done": 1, "files_total": 3,
                   "bytes_done": 50000, "bytes_total": 101000}, f)
    return lid, blob


def library(srv, A):
    """#19 item 6: 300 lessons written into the data folder, searched,
    filtered, sorted and paged through; each answer against Python's own
    computation over the same lessons."""
    base = srv.base + "/api/v1/recordings"
    mic = os.path.join(srv.tmp, "lapel.m4a")
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=f=440:d=1:r=48000", "-c:a", "aac",
                    "-b:a", "64k", mic], check=True)
    lessons = make_library(srv.data, 300, mic=mic)
    upl = {x["id"]: x["upload"] or "none" for x in lessons}

    def expect(pred, key="started_at", desc=True):
        sel = [x for x in lessons if pred(x)]
        if key == "duration_s":
            sel.sort(key=lambda x: (x[key], x["id"].encode()), reverse=desc)
        else:
            sel.sort(key=lambda x: (x[key].encode(), x["id"].encode()), reverse=desc)
        return [x["id"] for x in sel]

    def pages(query, limit):
        got, total = [], None
        for off in range(0, 400, limit):
            r = curl(base + "?" + query + ("&" if query else "") + "offset=%d&limit=%d" % (off, limit), **A)
            j = r.json() or {}
            if r.status != 200:
                return None, r.status
            total = j["total"]
            got += [x["id"] for x in j["recordings"]]
            if off + limit >= total:
                break
        return got, total

    in_2025 = "to=2025-12-31"
    cases = [
        (in_2025, lambda x: True, "started_at", True, 50),
        ("q=optics&sort=title&" + in_2025,
         lambda x: "optics" in x["title"].lower() or "optics" in x["teacher"].lower() or
         "optics" in x["subject"].lower(), "title", False, 17),
        ("q=%E7%8E%8B%E8%80%81%E5%B8%88&sort=-duration_s", lambda x: "王老师" in x["teacher"], "duration_s",
         True, 40),
        ("subject=%E6%95%B0%E5%AD%A6&grade=%E5%85%AB%E5%B9%B4%E7%BA%A7&sort=teacher",
         lambda x: x["subject"] == "数学" and x["grade"] == "八年级", "teacher", False, 7),
        ("lesson_type=open&status=interrupted", lambda x: x["lesson_type"] == "open" and
         x["status"] == "interrupted", "started_at", True, 5),
        ("lesson_type=%E5%85%AC%E5%BC%80%E8%AF%BE&upload=failed&" + in_2025,
         lambda x: x["lesson_type"] == "open" and upl[x["id"]] == "failed", "started_at", True, 10),
        ("upload=none&sort=-teacher&" + in_2025, lambda x: upl[x["id"]] == "none", "teacher", True, 30),
        ("from=2025-03-01&to=2025-03-31&sort=duration_s",
         lambda x: "2025-03-01" <= x["started_at"][:10] <= "2025-03-31", "duration_s", False, 9),
        ("q=BIOLOGY&sort=-subject", lambda x: "biology" in x["subject"].lower() or
         "biology" in x["title"].lower() or "biology" in x["teacher"].lower(), "subject", True, 1000),
    ]
    for query, pred, key, desc, limit in cases:
        want = expect(pred, key, desc)
        got, total = pages(query, limit)
        check(got == want and total == len(want) and len(want) > 0,
              "library ?%s: %d lessons in order, %d a page (%s of %s)"
              % (query, len(want), limit, total, len(got or [])))
    r = curl(base + "?sort=-duration_s&offset=295&limit=10&" + in_2025, **A)
    j = r.json() or {}
    check(r.status == 200 and j.get("total") == 300 and len(j["recordings"]) == 5 and
          j.get("offset") == 295 and j.get("limit") == 10, "library: the last page holds the rest (5)")
    r = curl(base + "?limit=0&" + in_2025, **A)
    check(r.status == 200 and r.json()["total"] == 300 and r.json()["recordings"] == [],
          "library: limit=0 counts only")
    # every file of a lesson is listed and served; the mic decodes
    r = curl(base + "?q=" + lessons[0]["title"].split()[-1] + "&sort=title&limit=1000", **A)
    first = [x for x in (r.json() or {}).get("recordings", []) if x["id"] == lessons[0]["id"]]
    paths = [f["path"] for f in first[0]["files"]] if first else []
    check(paths == ["lesson.json", "audio/lapel.m4a"], "library: the lesson's files (%s)" % paths)
    got = os.path.join(srv.tmp, "got.m4a")
    r = curl(srv.base + "/recordings/%s/audio/lapel.m4a" % lessons[0]["id"], **A)
    with open(got, "wb") as f:
        f.write(r.body)
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate",
                            "-of", "json", got], capture_output=True, text=True)
    streams = json.loads(probe.stdout or "{}").get("streams", [])
    check(r.status == 200 and streams == [{"codec_name": "aac", "sample_rate": "48000"}],
          "library: the mic file downloads and decodes (%s)" % streams)
    # a changed lesson.json is read again (the listing caches by time and size)
    one = os.path.join(srv.data, lessons[1]["id"], "lesson.json")
    with open(one) as f:
        lj = json.load(f)
    lj["title"] = "Renamed in place"
    with open(one, "w") as f:
        json.dump(lj, f)
    r = curl(base + "?q=renamed+in+place", **A)
    check(r.status == 200 and [x["id"] for x in r.json()["recordings"]] == [lessons[1]["id"]],
          "library: a lesson.json rewritten in place is read again")
    # hostile queries: 400 naming the parameter
    for q, key in (("limit=-1", "'limit'"), ("limit=1001", "'limit'"), ("limit=abc", "'limit'"),
                   ("limit=", "'limit'"), ("offset=-5", "'offset'"), ("offset=99999999999999999999", "'offset'"),
                   ("from=2025-02-30", "'from'"), ("to=yesterday", "'to'"), ("from=2025-13-01", "'from'"),
                   ("from=2025-05-01&to=2025-04-01", "'from'"), ("sort=size", "'sort'"),
                   ("upload=lost", "'upload'"), ("status=x", "'status'"), ("lesson_type=x", "'lesson_type'"),
                   ("q=" + "x" * 300, "'q'"), ("q=a%01b", "'q'"), ("subject=" + "y" * 70, "'subject'"),
                   ("limt=5", "'limt'"), ("q=a&q=b", "'q'"), ("grade=%FF%FE", "'grade'"),
                   ("q=" + "z" * 3000, "longer than")):
        r = curl(base + "?" + q, **A)
        err = (r.json() or {}).get("error", "")
        check(r.status == 400 and key in err, "library ?%s: 400 naming %s (%d %s)" % (q[:40], key, r.status, err[:80]))


def main():
    scratch = Server.scratch()
    live, www = os.path.join(scratch, "live"), os.path.join(scratch, "www")
    os.makedirs(live)
    os.makedirs(www)
    with open(os.path.join(www, "index.html"), "w") as f:
        f.write("<!doctype html><title>t</title>")
    with open(os.path.join(live, "program.m3u8"), "w") as f:
        f.write("#EXTM3U\n#EXT-X-TARGETDURATION:2\n")
    # a delete that a crash cut short: its folder renamed into the trash,
    # not yet removed (webui/trash.c); a link inside points outside
    data = os.path.join(scratch, "data")
    trash = os.path.join(data, ".trash-20250101-080000-crashed-0")
    os.makedirs(os.path.join(trash, "iso"))
    for i in range(50):
        with open(os.path.join(trash, "iso", "part%d.mp4" % i), "wb") as f:
            f.write(b"x" * 1000)
    outside = os.path.join(scratch, "outside.txt")
    with open(outside, "w") as f:
        f.write("keep me")
    os.symlink(outside, os.path.join(trash, "escape.mp4"))
    srv = Server(config="[auth]\nlogin_max_failures = 5\n", www=www, live=live, data=data)
    check(srv.alive(), "webui_testd starts and reports its port")
    if not srv.alive():
        print(srv.log_text())
        finish()
    for _ in range(600):
        if not os.path.exists(trash):
            break
        time.sleep(0.05)
    check(not os.path.exists(trash) and os.path.exists(outside),
          "start-up: the trash a crash left is removed, a link in it not followed")
    base = srv.base
    lid, blob = make_fixture(srv.data)
    jars = os.path.join(srv.tmp, "jars")
    os.makedirs(jars)
    admin_jar = os.path.join(jars, "admin")

    # ---- first run ----
    r = curl(base + "/api/v1/session")
    check(r.status == 200 and r.json()["setup_required"] is True, "session: setup required at first")
    r = curl(base + "/api/v1/status")
    check(r.status == 401 and "error" in r.json(), "status without session: 401 JSON error")
    code = setup_code(srv)
    check(code, "first run: the log shows a setup code")
    check(os.listdir(srv.data) == [lid], "first run: nothing but lessons in the data folder")
    r = curl(base + "/api/v1/setup", "POST", {"password": PW})
    check(r.status == 403 and "setup code" in r.json()["error"], "setup without the code: 403")
    r = curl(base + "/api/v1/setup", "POST", {"code": "AAAA-AAAA", "password": PW})
    check(r.status == 403, "setup with a wrong code: 403")
    check(r.json().get("code") == "setup_code_wrong" and r.json().get("params") == {} and
          r.json()["error"].startswith("wrong setup code"),
          "wrong setup code: code setup_code_wrong beside the English error")
    r = curl(base + "/api/v1/setup", "POST", {"code": code, "password": "short"})
    check(r.status == 400 and "short" in r.json()["error"], "setup: short password 400")
    r = curl(base + "/api/v1/setup", "POST", {"code": code.lower().replace("-", ""), "password": PW},
             save_cookies=admin_jar)
    j = r.json() or {}
    check(r.status == 201 and j.get("role") == "admin" and j.get("csrf"), "setup: admin created")
    sc = r.header("set-cookie") or ""
    check("HttpOnly" in sc and "SameSite=Strict" in sc and "Path=/" in sc,
          "session cookie is HttpOnly, SameSite=Strict, Path=/")
    csrf = j.get("csrf")
    r = curl(base + "/api/v1/setup", "POST", {"code": code, "password": PW + "x"})
    check(r.status == 403, "setup again: 403")
    auth_file = os.path.join(srv.data, ".luobo-auth.json")
    check(os.path.exists(auth_file) and (os.stat(auth_file).st_mode & 0o077) == 0,
          "users file exists with mode 0600")
    with open(auth_file) as f:
        text = f.read()
    check(PW not in text and "$y$" in text, "users file holds a yescrypt hash, not the password")

    A = {"jar": admin_jar}
    AC = {"jar": admin_jar, "headers": ["X-CSRF-Token: " + csrf]}

    # ---- status and session ----
    r = curl(base + "/api/v1/status", **A)
    j = r.json() or {}
    check(r.status == 200 and "recording" in j and "director" in j and "disk" in j and
          len(j.get("sources", [])) == 4, "status: recording, director, sources, disk")
    check(r.header("cache-control") == "no-store", "API answers are not cached")
    r = curl(base + "/api/v1/session", **A)
    check(r.json().get("user") == "admin" and r.json().get("csrf") == csrf,
          "session: user and csrf")

    # ---- recording, CSRF, body errors ----
    r = curl(base + "/api/v1/recording", "POST", {"action": "start"}, **A)
    check(r.status == 403 and "CSRF" in r.json()["error"], "recording without CSRF token: 403")
    r = curl(base + "/api/v1/recording", "POST", {"action": "start"}, jar=admin_jar,
             headers=["X-CSRF-Token: wrong"])
    check(r.status == 403, "recording with a wrong CSRF token: 403")
    r = curl(base + "/api/v1/recording", "POST",
             {"action": "start", "title": "Optics", "teacher": "Mr Wang", "course": "Physics"}, **AC)
    check(r.status == 200 and r.json()["recording"]["active"] is True, "recording start: 200")
    rec_id = r.json()["recording"]["id"]
    r = curl(base + "/api/v1/recording", "POST", {"action": "start"}, **AC)
    check(r.status == 409 and r.json()["error"], "recording start twice: 409")
    r = curl(base + "/api/v1/recordings/" + rec_id, "PATCH", {"title": "x"}, **AC)
    check(r.status == 409, "editing a lesson being recorded: 409")
    r = curl(base + "/api/v1/recording", "POST", {"action": "stop"}, **AC)
    check(r.status == 200 and r.json()["recording"]["active"] is False, "recording stop: 200")
    r = curl(base + "/api/v1/recording", "POST", {"action": "pause"}, **AC)
    check(r.status == 400 and "action" in r.json()["error"], "recording bad action: 400")
    r = curl(base + "/api/v1/recording", "POST", '{"action": "start",', **AC)
    check(r.status == 400 and "malformed JSON" in r.json()["error"], "malformed JSON: 400 with message")
    r = curl(base + "/api/v1/recording", "POST", "[1,2]", **AC)
    check(r.status == 400 and "object" in r.json()["error"], "JSON that is not an object: 400")
    r = curl(base + "/api/v1/recording", "POST", {"action": "start", "title": 5}, **AC)
    check(r.status == 400 and "title" in r.json()["error"], "wrong member type: 400")
    # a control character in a lesson's metadata would forge a line of its
    # own in systemd's STATUS (WATCHDOG=trigger) or a log: refused, named
    for key, text in (("title", "x\nWATCHDOG=trigger\n"), ("teacher", "a\tb"), ("course", "c\x7f")):
        r = curl(base + "/api/v1/recording", "POST", {"action": "start", key: text}, **AC)
        check(r.status == 400 and ("'%s'" % key) in r.json()["error"] and "control" in r.json()["error"],
              "a control character in %s: 400 naming it (%d %s)" % (key, r.status, r.body[:120]))
    r = curl(base + "/api/v1/recording", "POST", {"action": "start", "title": "Lehrstück 录播 ✓"}, **AC)
    check(r.status == 200 and r.json()["recording"]["active"] is True, "a UTF-8 title is accepted")
    r = curl(base + "/api/v1/recording", "POST", {"action": "stop"}, **AC)
    check(r.status == 200, "and that recording stops")
    r = curl(base + "/api/v1/recording", "POST", "x" * (70 * 1024), **AC)
    check(r.status == 413 and "error" in (r.json() or {}), "oversized body: 413")
    # chunked upload without a length: refused, never waited for
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
    s.sendall(b"POST /api/v1/recording HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n0\r\n\r\n")
    first = s.recv(200).decode("latin-1")
    s.close()
    check(" 411 " in first, "chunked body: 411 Length Required")

    # ---- recordings ----
    r = curl(base + "/api/v1/recordings", **A)
    lst = (r.json() or {}).get("recordings", [])
    ids = [x["id"] for x in lst]
    check(r.json().get("total") == len(lst), "recordings list: total")
    check(r.status == 200 and lid in ids and rec_id in ids, "recordings list has both lessons")
    fx = [x for x in lst if x["id"] == lid][0]
    check(fx.get("upload", {}).get("state") == "uploading", "recordings list: upload state")
    check(fx["title"] == "Fixture" and fx["has_program"] is True and
          [f["path"] for f in fx["files"]] == ["program.mp4", "lesson.json", "iso/teacher.mp4"] and
          fx["files"][0]["size"] == 100000,
          "recordings list: every file of the lesson, program first (no upload.json, no symlink): %s"
          % [f["path"] for f in fx["files"]])
    r = curl(base + "/api/v1/recordings/" + lid, **A)
    check(r.status == 200 and r.json()["course"] == "Physics", "recording GET")
    r = curl(base + "/api/v1/recordings/nope", **A)
    check(r.status == 404 and "error" in r.json(), "unknown recording: 404")
    r = curl(base + "/api/v1/recordings/" + lid, "PATCH",
             {"title": "Fixture 2", "teacher": "Ms Zhao"}, **AC)
    check(r.status == 200 and r.json()["title"] == "Fixture 2", "recording PATCH edits metadata")
    with open(os.path.join(srv.data, lid, "lesson.json")) as f:
        saved = json.load(f)
    check(saved["title"] == "Fixture 2" and saved["course"] == "Physics" and
          "files" not in saved and "upload" not in saved and "has_program" not in saved,
          "lesson.json rewritten with its own fields only")
    r = curl(base + "/api/v1/recordings/" + lid, "POST", {"course": "Optics"}, **AC)
    check(r.status == 200 and r.json()["course"] == "Optics", "recording POST edits metadata too")
    r = curl(base + "/api/v1/recordings/" + lid, "PATCH", {"title": "x" * 300}, **AC)
    check(r.status == 400, "too long title: 400")
    r = curl(base + "/api/v1/recordings/" + lid, "PATCH", {"teacher": "Ms\rX"}, **AC)
    check(r.status == 400 and "'teacher'" in r.json()["error"], "recording PATCH with a control character: 400")

    # ---- director, sources, snapshots, metrics ----
    r = curl(base + "/api/v1/director", "POST", {"mode": "manual", "shot": "students",
                                                  "layout": "pip"}, **AC)
    j = r.json() or {}
    check(r.status == 200 and j.get("mode") == "manual" and j.get("sources", [None])[0] == "students",
          "director manual: 200 with the new shot")
    r = curl(base + "/api/v1/director", "POST", {"mode": "manual", "shot": "nobody"}, **AC)
    check(r.status == 400 and "nobody" in r.json()["error"], "director unknown shot: 400")
    r = curl(base + "/api/v1/director", "POST", {"mode": "sideways"}, **AC)
    check(r.status == 400, "director bad mode: 400")
    r = curl(base + "/api/v1/director", "POST", {"layout": "grid"}, **AC)
    check(r.status == 400, "director bad layout: 400")
    r = curl(base + "/api/v1/director", "POST", {"mode": "auto"}, **AC)
    check(r.status == 200 and r.json().get("mode") == "auto", "director back to auto")
    r = curl(base + "/api/v1/sources", **A)
    check(r.status == 200 and [s["name"] for s in r.json()] ==
          ["teacher", "students", "board", "screen"], "sources list")
    r = curl(base + "/api/v1/sources/board/snapshot.jpg", **A)
    check(r.status == 200 and r.header("content-type") == "image/jpeg" and
          r.body[:2] == b"\xff\xd8", "snapshot: a JPEG")
    r = curl(base + "/api/v1/sources/ghost/snapshot.jpg", **A)
    check(r.status == 404 and "error" in r.json(), "snapshot of unknown source: 404")
    r = curl(base + "/metrics", **A)
    check(r.status == 200 and b"luobo_webui_requests_total" in r.body and
          b"luobo_recording 0" in r.body and r.header("content-type").startswith("text/plain"),
          "metrics: Prometheus text from daemon and webui")
    r = curl(base + "/metrics")
    check(r.status == 401, "metrics without login: 401")
    r = curl(base + "/api/v1/nothing", **A)
    check(r.status == 404 and "error" in r.json(), "unknown API: 404 JSON")
    r = curl(base + "/api/v1/status", "DELETE", **AC)
    check(r.status == 405 and "GET" in (r.header("allow") or ""), "wrong method: 405 with Allow")

    # ---- users, roles ----
    for name, role in (("op1", "operator"), ("t1", "teacher"), ("v1", "viewer")):
        r = curl(base + "/api/v1/users", "POST", {"user": name, "password": PW, "role": role}, **AC)
        check(r.status == 201, "admin creates %s (%s)" % (name, role))
    r = curl(base + "/api/v1/users", "POST", {"user": "op1", "password": PW, "role": "operator"}, **AC)
    check(r.status == 409, "duplicate user: 409")
    j = r.json() or {}
    check(j.get("error") == "user 'op1' exists" and j.get("code") == "user_exists" and
          j.get("params") == {"user": "op1"}, "duplicate user: code user_exists, params {user: op1}: %s" % j)
    r = curl(base + "/api/v1/users", "POST", {"user": "x", "password": PW, "role": "god"}, **AC)
    check(r.status == 400, "bad role: 400")
    # the hash is made on the hasher's thread: two adds of one name at once
    # both pass the loop's checks, and the second is refused when its hash
    # comes back
    got = []
    adds = [threading.Thread(target=lambda: got.append(curl(base + "/api/v1/users", "POST", {
        "user": "race1", "password": PW, "role": "viewer"}, **AC))) for _ in range(2)]
    for t in adds:
        t.start()
    for t in adds:
        t.join()
    check(sorted(x.status for x in got) == [201, 409] and
          [x.json() for x in got if x.status == 201] == [{"user": "race1", "role": "viewer"}] and
          [(x.json() or {}).get("code") for x in got if x.status == 409] == ["user_exists"],
          "two adds of one user at once: 201 and 409 user_exists (%s)" % [x.status for x in got])
    check(curl(base + "/api/v1/users/race1", "DELETE", **AC).status == 204, "race1 deleted")
    r = curl(base + "/api/v1/users", **A)
    check(r.status == 200 and len(r.json()) == 4 and "hash" not in json.dumps(r.json()),
          "users list without hashes")
    jar = {}
    tok = {}
    for name in ("op1", "t1", "v1"):
        jar[name] = os.path.join(jars, name)
        r, tok[name] = login(srv, name, PW, jar[name])
        check(r.status == 200 and tok[name], "login " + name)

    def as_(name):
        return {"jar": jar[name], "headers": ["X-CSRF-Token: " + tok[name]]}

    r = curl(base + "/api/v1/recording", "POST", {"action": "start"}, **as_("t1"))
    check(r.status == 200, "teacher may start a recording")
    r = curl(base + "/api/v1/recording", "POST", {"action": "stop"}, **as_("t1"))
    check(r.status == 200, "teacher may stop a recording")
    r = curl(base + "/api/v1/status", **as_("t1"))
    check(r.status == 200, "teacher reads status")
    r = curl(base + "/api/v1/director", "POST", {"mode": "auto"}, **as_("t1"))
    check(r.status == 403 and "teacher" in r.json()["error"], "teacher may not direct: 403")
    r = curl(base + "/api/v1/recordings", **as_("t1"))
    check(r.status == 403, "teacher may not list recordings: 403")
    r = curl(base + "/recordings/%s/program.mp4" % lid, **as_("t1"))
    check(r.status == 403, "teacher may not download: 403")
    r = curl(base + "/api/v1/recording", "POST", {"action": "start"}, **as_("v1"))
    check(r.status == 403, "viewer may not record: 403")
    r = curl(base + "/api/v1/status", **as_("v1"))
    check(r.status == 200, "viewer reads status")
    r = curl(base + "/api/v1/director", "POST", {"mode": "manual", "shot": "board"}, **as_("op1"))
    check(r.status == 200, "operator directs")
    r = curl(base + "/api/v1/recordings/" + lid, "DELETE", **as_("op1"))
    check(r.status == 403, "operator may not delete: 403")
    r = curl(base + "/api/v1/users", **as_("op1"))
    check(r.status == 403, "operator may not list users: 403")
    r = curl(base + "/api/v1/recording", "POST", {"action": "start"})
    check(r.status == 401, "recording without login: 401")
    r = curl(base + "/recordings/%s/program.mp4" % lid)
    check(r.status == 401, "download without login: 401")

    # ---- API tokens ----
    r = curl(base + "/api/v1/tokens", "POST", {"name": "ci", "role": "operator"}, **AC)
    token = (r.json() or {}).get("token", "")
    check(r.status == 201 and token.startswith("lbt_"), "admin creates an API token")
    r = curl(base + "/api/v1/director", "POST", {"mode": "auto"},
             headers=["Authorization: Bearer " + token])
    check(r.status == 200, "bearer token: state change without CSRF")
    r = curl(base + "/api/v1/recordings/" + lid, "DELETE", headers=["Authorization: Bearer " + token])
    check(r.status == 403, "operator token may not delete")
    r = curl(base + "/api/v1/status", headers=["Authorization: Bearer lbt_x_forged"])
    check(r.status == 401, "forged token: 401")
    r = curl(base + "/api/v1/tokens", "POST", {"name": "ci\nx", "role": "operator"}, **AC)
    check(r.status == 400 and "'name'" in r.json()["error"], "a token name with a control character: 400")
    r = curl(base + "/api/v1/tokens", **A)
    tid = r.json()[0]["id"] if r.status == 200 and r.json() else ""
    check(r.status == 200 and tid and token.encode() not in r.body,
          "tokens list, without the secret")
    with open(auth_file) as f:
        check(token not in f.read(), "token secret not stored")
    r = curl(base + "/api/v1/tokens/" + tid, "DELETE", **AC)
    check(r.status == 204, "token deleted")
    r = curl(base + "/api/v1/status", headers=["Authorization: Bearer " + token])
    check(r.status == 401, "deleted token no longer works")

    # ---- files: Range ----
    url = base + "/recordings/%s/program.mp4" % lid
    r = curl(url, **A)
    check(r.status == 200 and r.body == blob and r.header("accept-ranges") == "bytes" and
          r.header("content-type") == "video/mp4", "download whole file: 200, bytes equal")
    r = curl(url, extra=["-r", "0-99"], **A)
    check(r.status == 206 and r.body == blob[:100] and
          r.header("content-range") == "bytes 0-99/100000", "Range 0-99: 206")
    r = curl(url, extra=["-r", "100-"], **A)
    check(r.status == 206 and r.body == blob[100:] and
          r.header("content-range") == "bytes 100-99999/100000", "Range 100-: 206")
    r = curl(url, extra=["-r", "-50"], **A)
    check(r.status == 206 and r.body == blob[-50:] and
          r.header("content-range") == "bytes 99950-99999/100000", "Range -50: 206")
    r = curl(url, extra=["-r", "99990-200000"], **A)
    check(r.status == 206 and r.body == blob[99990:], "Range past the end is clamped")
    r = curl(url, extra=["-r", "-200000"], **A)
    check(r.status == 206 and r.body == blob, "suffix longer than the file: whole file")
    for bad in ("100000-", "200-100", "-0"):
        r = curl(url, extra=["-r", bad], **A)
        check(r.status == 416 and r.header("content-range") == "bytes */100000",
              "Range %s: 416" % bad)
    for bad in ("bytes=0-1,5-6", "bytes=abc", "items=0-5", "bytes=1-2-3"):
        r = curl(url, headers=["Range: " + bad], **A)
        check(r.status == 416, "Range header '%s': 416" % bad)
    r = curl(url, extra=["-I"], **A)
    check(r.status == 200 and r.header("content-length") == "100000",
          "HEAD: the length")
    r = curl(base + "/recordings/%s/iso/teacher.mp4" % lid, extra=["-r", "10-19"], **A)
    check(r.status == 206 and r.body == blob[10:20], "Range on an ISO file")
    # a lesson folder copied in from elsewhere may hold a page or an SVG:
    # served, it must never run as one of ours
    page = os.path.join(srv.data, lid, "x.html")
    with open(page, "w") as f:
        f.write("<script>fetch('/api/v1/session')</script>")
    r = curl(base + "/recordings/%s/x.html" % lid, **A)
    csp = r.header("content-security-policy") or ""
    check(r.status == 200 and "sandbox" in csp and "default-src 'none'" in csp,
          "a recording's files are sandboxed (CSP '%s')" % csp)
    os.unlink(page)

    # ---- files: confinement ----
    bad_paths = [
        "/recordings/../../etc/passwd",
        "/recordings/%2e%2e/%2e%2e/etc/passwd",
        "/recordings/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/recordings/..%2f..%2fetc%2fpasswd",
        "/recordings/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        "/recordings/%252e%252e/%252e%252e/etc/passwd",
        "/recordings/" + lid + "/../../../etc/passwd",
        "/recordings/" + lid + "/escape.mp4",
        "/recordings/.luobo-auth.json",
        "/recordings/" + lid + "/..%2f.luobo-auth.json",
        "/recordings/" + lid,
        "/recordings/" + lid + "/",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/live/../../etc/passwd",
        "/live/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/recordings/" + lid + "/program.mp4%00.txt",
        "/recordings/" + lid + "\\..\\..\\etc\\passwd",
    ]
    for p in bad_paths:
        r = curl(base + p, **A)
        # lws itself drops a request whose path decodes to NUL: no answer.
        check(b"root:" not in r.body and
              (r.status == 404 or ("%00" in p and r.status in (0, 400, 403))),
              "confined: %s -> %d" % (p, r.status))

    # ---- live ----
    r = curl(base + "/live/program.m3u8")
    check(r.status == 401, "/live/ without login: 401 (no public viewer)")
    r = curl(base + "/live/program.m3u8", **A)
    check(r.status == 200 and r.header("content-type") == "application/vnd.apple.mpegurl" and
          "no-cache" in (r.header("cache-control") or ""), "/live/ playlist: no-cache")

    # ---- static ----
    r = curl(base + "/")
    check(r.status == 200 and b"<title>t</title>" in r.body and
          "default-src 'self'" in (r.header("content-security-policy") or ""),
          "static index with CSP")
    r = curl(base + "/nope.html")
    check(r.status == 404, "missing static file: 404")
    lm = curl(base + "/").header("last-modified")
    r = curl(base + "/", headers=["If-Modified-Since: " + (lm or "")])
    check(lm and r.status == 304 and not r.body and "content-length" not in r.headers,
          "static revalidation: 304 without a body")

    # ---- events WebSocket ----
    cookie = cookie_of(admin_jar)
    s, line = ws_connect(srv.port, cookie=cookie, origin=base)
    check(" 101 " in line, "events: upgrade with session")
    if " 101 " in line:
        first = json.loads(ws_recv(s))
        check(first.get("type") == "status" and "director" in first.get("status", {}),
              "events: status first")
        seen = set()
        for _ in range(60):
            seen.add(json.loads(ws_recv(s)).get("type"))
            if {"meters", "status"} <= seen:
                break
        check({"meters", "status"} <= seen, "events: meters and status follow")
        curl(base + "/api/v1/director", "POST", {"mode": "manual", "shot": "screen"}, **AC)
        tally = None
        for _ in range(60):
            ev = json.loads(ws_recv(s))
            if ev.get("type") == "tally":
                tally = ev
                break
        check(tally is not None and tally["program"] == ["screen"], "events: tally on change")
    s.close()
    s, line = ws_connect(srv.port)
    check(" 101 " not in line, "events without session refused")
    s.close()
    s, line = ws_connect(srv.port, cookie=cookie, origin="http://evil.example")
    check(" 101 " not in line, "events from a foreign Origin refused")
    s.close()

    # ---- password, logout ----
    r = curl(base + "/api/v1/password", "POST", {"old": "nope nope", "password": "another pw 2"},
             **as_("op1"))
    check(r.status == 403, "password change with wrong old password: 403")
    r = curl(base + "/api/v1/password", "POST", {"old": PW, "password": "another pw 2"}, **as_("op1"))
    check(r.status == 200, "password change")
    r = curl(base + "/api/v1/logout", "POST", {}, **as_("op1"))
    check(r.status == 200 and "Max-Age=0" in (r.header("set-cookie") or ""), "logout")
    r = curl(base + "/api/v1/status", jar=jar["op1"])
    check(r.status == 401, "session gone after logout")
    r, _ = login(srv, "op1", "another pw 2", jar["op1"])
    check(r.status == 200, "login with the new password")

    # ---- delete (admin) ----
    r = curl(base + "/api/v1/recordings/" + lid, "DELETE", **A)
    check(r.status == 403, "delete without CSRF: 403")
    # many files, so that the removal has work to do while another client
    # keeps asking (it runs on the trash thread, not the loop)
    many = os.path.join(srv.data, lid, "iso", "many")
    os.makedirs(many)
    for i in range(300):
        with open(os.path.join(many, "f%04d" % i), "wb") as f:
            f.write(b"y" * 100)
    answers, stop = [], threading.Event()

    def other_client():
        while not stop.is_set() or len(answers) < 3:
            answers.append(curl(base + "/api/v1/status", **A).status)

    other = threading.Thread(target=other_client)
    other.start()
    r = curl(base + "/api/v1/recordings/" + lid, "DELETE", **AC)
    gone_at_once = not os.path.exists(os.path.join(srv.data, lid))
    listed = [x["id"] for x in (curl(base + "/api/v1/recordings", **A).json() or {}).get("recordings", [])]
    for _ in range(1200):
        if not [n for n in os.listdir(srv.data) if n.startswith(".trash-")]:
            break
        time.sleep(0.05)
    stop.set()
    other.join()
    check(r.status == 204 and gone_at_once and "content-length" not in r.headers,
          "admin deletes a recording: 204, no body, the folder gone at once")
    check(lid not in listed, "the library no longer lists the deleted recording")
    check(not [n for n in os.listdir(srv.data) if n.startswith(".trash-")],
          "the deleted recording's files are removed (trash thread)")
    check(len(answers) >= 3 and set(answers) == {200},
          "another client's requests are answered during the delete (%d, statuses %s)"
          % (len(answers), sorted(set(answers))))
    check(os.path.exists("/etc/passwd"), "the escaping symlink's target survived")
    r = curl(base + "/api/v1/recordings/" + lid, **A)
    check(r.status == 404, "deleted recording: 404")
    r = curl(base + "/api/v1/users/v1", "DELETE", **AC)
    check(r.status == 204, "admin deletes a user")
    r = curl(base + "/api/v1/users/admin", "DELETE", **AC)
    check(r.status == 409 and (r.json() or {}).get("code") == "last_admin_delete",
          "the last admin cannot be deleted: 409 last_admin_delete")

    library(srv, A)

    code = srv.stop()
    check(code == 0, "webui_testd exits 0 on SIGTERM")

    # ---- login rate limit (its own server: wrong setup codes above count too) ----
    rl = Server(config="[auth]\nlogin_max_failures = 5\n")
    setup_admin(rl, PW)
    codes = [login(rl, "admin", "wrong password", os.path.join(jars, "x"))[0].status
             for _ in range(5)]
    check(codes == [401] * 5, "5 failed logins: 401 each")
    r, _ = login(rl, "admin", PW, os.path.join(jars, "x"))
    check(r.status == 429 and r.header("retry-after") and "error" in r.json(),
          "6th login, even right: 429")
    j = r.json() or {}
    check(j.get("code") == "rate_limited_logins" and
          j.get("params", {}).get("seconds") == r.header("retry-after"),
          "6th login: code rate_limited_logins, params.seconds = Retry-After: %s" % j)
    check(rl.stop() == 0, "rate-limit instance exits 0")
    rl.cleanup()

    # ---- public viewer ----
    pv = Server(config="[auth]\npublic_viewer = true\n", live=live)
    r = curl(pv.base + "/api/v1/status")
    j = r.json() or {}
    check(r.status == 200 and list(j.keys()) == ["recording"] and "sources" not in j,
          "public viewer: anonymous status-lite")
    r = curl(pv.base + "/live/program.m3u8")
    check(r.status == 200, "public viewer: /live/ without login")
    r = curl(pv.base + "/api/v1/recordings")
    check(r.status == 401, "public viewer: recordings still need login")
    s, line = ws_connect(pv.port)
    check(" 101 " in line, "public viewer: events without login")
    if " 101 " in line:
        ev = json.loads(ws_recv(s))
        check(ev.get("type") == "status" and set(ev["status"].keys()) == {"recording"},
              "public viewer: reduced status event")
        seen = set()
        for _ in range(3):
            ev = json.loads(ws_recv(s))
            seen.add(ev.get("type"))
        check(seen == {"status"}, "public viewer: no meters or tally")
    s.close()
    check(pv.stop() == 0, "public viewer instance exits 0")
    pv.cleanup()

    # ---- admin hash from the config ----
    h = subprocess.run(["openssl", "passwd", "-6", "-salt", "saltsalt", PW],
                       capture_output=True, text=True).stdout.strip()
    cf = Server(config="[auth]\nadmin_password_hash = %s\n" % h)
    r = curl(cf.base + "/api/v1/session")
    check(r.status == 200 and r.json()["setup_required"] is False, "config hash: no setup page")
    jar = os.path.join(cf.tmp, "jar")
    r, csrf = login(cf, "admin", PW, jar)
    check(r.status == 200 and r.json().get("lang") is None, "config hash: admin logs in (no language chosen)")
    r = curl(cf.base + "/api/v1/setup", "POST", {"code": "", "password": PW})
    check(r.status == 403 and not setup_code(cf), "config hash: no setup code, setup refused")
    # the UI language in the user's record: the config's admin has none in
    # the users file, so it is a "profiles" entry there
    r = curl(cf.base + "/api/v1/me", "PUT", {"lang": "zh"}, jar=jar, headers=["X-CSRF-Token: " + csrf])
    check(r.status == 200 and r.json().get("lang") == "zh", "PUT /api/v1/me lang zh: 200 (%d %s)" % (r.status, r.body[:200]))
    for bad_lang in ("fr", 3):
        r = curl(cf.base + "/api/v1/me", "PUT", {"lang": bad_lang}, jar=jar, headers=["X-CSRF-Token: " + csrf])
        check(r.status == 400, "PUT /api/v1/me lang %r: 400 (%s)" % (bad_lang, r.body[:200]))
    with open(os.path.join(cf.data, ".luobo-auth.json")) as f:
        users = json.load(f)
    check(users.get("profiles") == [{"name": "admin", "lang": "zh"}] and users.get("users") == [],
          "the users file keeps the config admin's language only: %s" % users)
    check(cf.stop() == 0, "config-hash instance exits 0")
    cf2 = Server(config="[auth]\nadmin_password_hash = %s\n" % h, data=cf.data)
    r, csrf = login(cf2, "admin", PW, jar)
    check(r.status == 200 and r.json().get("lang") == "zh", "after a restart the login brings the language: %s" % r.body[:200])
    r = curl(cf2.base + "/api/v1/me", "PUT", {"lang": None}, jar=jar, headers=["X-CSRF-Token: " + csrf])
    check(r.status == 200 and r.json().get("lang") is None, "lang null clears it")
    check(cf2.stop() == 0, "config-hash instance exits 0 again")
    cf2.cleanup()
    cf.cleanup()
    bad = Server(config="[auth]\nadmin_password_hash = plain-text-password\n")
    code = bad.stop()
    check(code != 0 and "admin_password_hash" in bad.log_text(),
          "a hash that is not crypt(5) is a config error naming the key")
    bad.cleanup()

    # ---- TLS ----
    tdir = os.path.join(srv.tmp, "tls")
    os.makedirs(tdir)
    crt, key = os.path.join(tdir, "c.pem"), os.path.join(tdir, "k.pem")
    gen = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                          "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", crt],
                         capture_output=True)
    if check(gen.returncode == 0, "self-signed certificate made"):
        # HTTPS on https_port; http_port redirects (test_tls.py checks the rest)
        ts = Server(config="[auth]\ntls_cert = %s\ntls_key = %s\n[webui]\nhttps_port = 0\n"
                    % (crt, key))
        hp = ts.https_port or 0
        r = curl("https://127.0.0.1:%d/api/v1/setup" % hp, "POST",
                 {"code": setup_code(ts), "password": PW}, extra=["--cacert", crt])
        check(r.status == 201 and "Secure" in (r.header("set-cookie") or ""),
              "TLS: HTTPS works, cookie is Secure")
        r = curl("http://127.0.0.1:%d/api/v1/session" % ts.port)
        check(r.status == 301, "TLS: plain HTTP redirected")
        tjar = os.path.join(tdir, "jar")
        curl("https://127.0.0.1:%d/api/v1/login" % hp, "POST", {"user": "admin", "password": PW},
             extra=["--cacert", crt], save_cookies=tjar)
        ctx = ssl.create_default_context(cafile=crt)
        ctx.check_hostname = False
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", hp), timeout=15))
        s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\nCookie: %s\r\n\r\n"
                   % (hp, cookie_of(tjar))).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(1)
        ev = json.loads(ws_recv(s)) if b" 101 " in head.split(b"\r\n")[0] else {}
        check(ev.get("type") == "status", "TLS: events over wss")
        s.close()
        check(ts.stop() == 0, "TLS instance exits 0")
        ts.cleanup()

    srv.cleanup()
    shutil.rmtree(scratch, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
