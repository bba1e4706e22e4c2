#!/usr/bin/env python3
"""A lesson's metadata (issue #14 items 4 and 5), with the real daemon.

metadata: a lesson started through the API with every member (Chinese,
  XML's special characters, a newline in the description) and [general]
  school, hall and language as defaults: lesson.json (schema 2, parsed),
  the MP4 tags of program.mp4, every iso/*.mp4 and audio/*.m4a (ffprobe's
  format_tags), episode.xml parsed with xml.etree (Opencast's namespaces);
  bad metadata (an unknown lesson_type, an oversized member, keywords that
  are no list, a control character) is refused with 400 naming the member
  and starts nothing; PATCH changes lesson.json and episode.xml; the
  library's query keys; a damaged lesson.json (torn, over 1 MiB, not an
  object) is named with 422, never served; bad --lesson-type, --grade,
  --keywords, --teacher: exit 2 naming the option.
upload: a lesson killed with kill -9 while recording (not resumed) is
  repaired at the next start and uploaded to nginx WebDAV with HTTP Basic;
  first with a wrong password: a clear error in the status and upload.json,
  retried until the platform accepts the password (its htpasswd changed
  and nginx reloaded), then lesson.json and episode.xml are on the
  platform and parse; an operator's re-upload; the password is nowhere in
  the log, the status or the events.  A credentials file readable by
  others and an http:// url without allow_http are refused by
  --check-config with the key named."""
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))
from lbtest import LUOBO, Scratch, check, decode_errors, demo_config, ffprobe_json, free_port, main, stop_daemon  # noqa: E402
from webui_common import cookie_of, curl, ws_collect  # noqa: E402

ADMIN_PW = "metadata test admin pw"
DC = "{http://purl.org/dc/terms/}"
OC = "{http://www.opencastproject.org/xsd/1.0/dublincore/}"

META = {
    "title": "一次函数的图像 <第1课> & \"复习\"",
    "teacher": "王老师",
    "course": "初中数学",
    "subject": "数学",
    "grade": "初二",
    "class": "3班",
    "lesson_type": "公开课",
    "description": "第一行\n第二行 <b>&amp;</b>",
    "keywords": ["函数", "图像", "一次函数"],
}


def wait_for(what, cond, proc, tries=900):
    """Polls cond (bounded: tries x 0.1 s plus the time cond takes)."""
    for _ in range(tries):
        v = cond()
        if v:
            return v
        check(proc is None or proc.poll() is None,
              "luobo exited (%s) while waiting for %s" % (proc and proc.returncode, what))
        time.sleep(0.1)
    check(False, "gave up waiting for %s" % what)


# a screen whose picture changes every second (a white box on and off) and a director that
# makes a chapter of each such slide: chapters within a few seconds of recording
SLIDES = {"[source.screen]\ntype = synthetic\nrole = screen\n":
          "[source.screen]\ntype = synthetic\nrole = screen\ngraph = color=c=0x303030:s=160x90:r=15,"
          "drawbox=x=0:y=0:w=160:h=60:color=white:t=fill:enable='gte(mod(t\\,2)\\,1)'\n",
          "[director]\n": "[director]\nchapter_gap_s = 0.5\n"}


def small_config(data, http_port, extra="", more=None):
    return demo_config(data, http_port, replace=dict(more or {}, **{
        "width = 1920": "width = 320", "height = 1080": "height = 180", "fps = 30": "fps = 15",
        "iso_width = 640": "iso_width = 160", "iso_height = 360": "iso_height = 90",
        "keyint_s = 2": "keyint_s = 1",
        "[general]\n": "[general]\nhttp_address = 127.0.0.1\nmax_lag_ms = 0\n" + extra}))


class Daemon:
    def __init__(self, tmp, ini, name="luobo"):
        self.log_path = os.path.join(tmp, name + ".log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([LUOBO, "--config", ini], stdout=self.log, stderr=subprocess.STDOUT)

    def text(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        stop_daemon(self.proc)
        self.log.close()


def admin_session(tmp, base, d):
    """The first run's admin (the setup code from the log): curl arguments."""
    code = wait_for("the setup code", lambda: [l.split("setup code ")[1].split()[0]
                                               for l in d.text().splitlines() if "setup code " in l],
                    d.proc)[-1]
    jar = os.path.join(tmp, "admin.jar")
    r = wait_for("the API", lambda: (lambda r: r if r.status else None)(
        curl(base + "/api/v1/setup", "POST", {"code": code, "password": ADMIN_PW}, save_cookies=jar)),
        d.proc)
    check(r.status == 201, "admin set up (%d %s)" % (r.status, r.body[:200]))
    return {"jar": jar, "headers": ["X-CSRF-Token: " + r.json()["csrf"]]}


def tags(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags", "-of", "json", path],
                         capture_output=True, text=True)
    check(out.returncode == 0, "ffprobe %s: %s" % (path, out.stderr[-300:]))
    return {k.lower(): v for k, v in json.loads(out.stdout).get("format", {}).get("tags", {}).items()}


def episode(path):
    """episode.xml parsed: {local name: [texts]}."""
    root = ET.parse(path).getroot()
    check(root.tag == OC + "dublincore", "episode.xml's root is Opencast's dublincore (%s)" % root.tag)
    out = {}
    for e in root:
        check(e.tag.startswith(DC), "episode.xml: %s is in the dcterms namespace" % e.tag)
        out.setdefault(e.tag[len(DC):], []).append(e.text or "")
    return out


def lesson_done(data, lid):
    path = os.path.join(data, lid, "lesson.json")
    try:
        with open(path) as f:
            j = json.load(f)
    except (OSError, ValueError):
        return None
    if j.get("status") == "recording" or os.path.exists(os.path.join(data, lid, ".finalising")):
        return None
    return j


def test_metadata():
    # the command line's metadata options are checked as the API checks them
    for args, want in ((["--lesson-type", "lecture"], "--lesson-type: 'lesson_type': unknown lesson type"),
                       (["--grade", "x" * 64], "--grade: 'grade': longer than 63 bytes"),
                       (["--keywords", ",".join("k%d" % i for i in range(17))], "--keywords: 'keywords': more than 16"),
                       (["--teacher", "a\nb"], "--teacher: 'teacher': a control character")):
        p = subprocess.run([LUOBO] + args + ["--check-config"], capture_output=True, text=True)
        check(p.returncode == 2 and want in p.stderr, "%s: exit 2 naming it (%d %s)"
              % (args[0], p.returncode, p.stderr.strip()[-200:]))
    with Scratch("metadata") as tmp:
        data = os.path.join(tmp, "data")
        http_port = free_port()
        ini = os.path.join(tmp, "luobo.ini")
        with open(ini, "w") as f:
            f.write(small_config(data, http_port, "school = 实验中学\nhall = 多功能厅\nlanguage = zh-CN\n",
                                 SLIDES))
        d = Daemon(tmp, ini)
        try:
            base = "http://127.0.0.1:%d" % http_port
            A = admin_session(tmp, base, d)
            rec = base + "/api/v1/recording"
            # bad metadata: 400 naming the member, nothing starts
            for body, member in (({"lesson_type": "lecture"}, "'lesson_type'"),
                                 ({"title": "长" * 100}, "'title'"),
                                 ({"grade": "x" * 64}, "'grade'"),
                                 ({"keywords": "函数"}, "'keywords'"),
                                 ({"keywords": ["k"] * 17}, "'keywords'"),
                                 ({"keywords": ["ok", 5]}, "'keywords'"),
                                 ({"description": "a\x01b"}, "'description'"),
                                 ({"subject": 12}, "'subject'")):
                r = curl(rec, "POST", dict(body, action="start"), **A)
                err = (r.json() or {}).get("error", "")
                check(r.status == 400 and member in err,
                      "bad %s: 400 naming it (%d %s)" % (member, r.status, err))
            st = curl(base + "/api/v1/status", **A).json()
            check(not st["recording"]["active"], "no lesson was started by bad metadata")

            r = curl(rec, "POST", dict(META, action="start"), **A)
            check(r.status == 200 and r.json()["recording"]["active"], "start with metadata (%d %s)"
                  % (r.status, r.body[:200]))
            check(r.json()["recording"].get("subject") == "数学" and
                  r.json()["recording"].get("lesson_type") == "open", "the status shows the metadata")
            # 3 s: clips need key frames (one a second) to cut at
            wait_for("3 s of recording", lambda: (curl(base + "/api/v1/status", **A).json() or {})
                     .get("recording", {}).get("elapsed_s", 0) >= 3, d.proc)
            lid = curl(base + "/api/v1/status", **A).json()["recording"]["id"]
            # written at the start already
            ep = episode(os.path.join(data, lid, "episode.xml"))
            check(ep.get("title") == [META["title"]] and "end=" not in ep["temporal"][0],
                  "episode.xml at the start: title, a period without its end (%s)" % ep.get("temporal"))
            r = curl(rec, "POST", {"action": "stop"}, **A)
            check(r.status == 200, "stop")
            lj = wait_for("the lesson finished", lambda: lesson_done(data, lid), d.proc)

            check(lj["schema"] == 2 and lj["status"] == "complete", "lesson.json: schema 2, complete")
            for k, v in META.items():
                want = "open" if k == "lesson_type" else v
                check(lj.get(k) == want, "lesson.json %s = %r (%r)" % (k, want, lj.get(k)))
            check(lj["school"] == "实验中学" and lj["hall"] == "多功能厅" and lj["language"] == "zh-CN",
                  "lesson.json: [general] school, hall, language as defaults")
            check("schedule_uid" not in lj, "lesson.json: no schedule_uid for a manual lesson")
            for k in ("id", "started_at", "ended_at", "duration_s", "sources", "chapters", "mics"):
                check(k in lj, "lesson.json keeps %s" % k)

            folder = os.path.join(data, lid)
            files = ["program.mp4"] + ["iso/" + n for n in sorted(os.listdir(os.path.join(folder, "iso")))] \
                + ["audio/" + n for n in sorted(os.listdir(os.path.join(folder, "audio")))]
            check(len(files) == 1 + 4 + 2, "program, four cameras, two mics (%s)" % files)
            for rel in files:
                t = tags(os.path.join(folder, rel))
                check(t.get("title") == META["title"] and t.get("artist") == "王老师" and
                      t.get("genre") == "数学" and t.get("comment") == META["description"] and
                      t.get("date") == lj["started_at"],
                      "%s: MP4 tags title, artist, genre, comment, date (%s)" % (rel, t))

            ep = episode(os.path.join(folder, "episode.xml"))
            check(ep["title"] == [META["title"]] and ep["creator"] == ["王老师"] and
                  ep["subject"][0] == "数学" and ep["subject"][1:] == META["keywords"] and
                  ep["spatial"] == ["多功能厅"] and ep["description"] == [META["description"]] and
                  ep["type"] == ["公开课"] and ep["language"] == ["zh-CN"] and
                  ep["created"] == [lj["started_at"]] and ep["publisher"] == ["实验中学"] and
                  ep["educationLevel"] == ["初二"] and ep["audience"] == ["初二 3班"],
                  "episode.xml: every member (%s)" % ep)
            check(ep["temporal"] == ["start=%s; end=%s; scheme=W3C-DTF;" % (lj["started_at"], lj["ended_at"])],
                  "episode.xml: temporal as Opencast writes it (%s)" % ep["temporal"])

            # PATCH: refused with the member named, then the files change
            one = base + "/api/v1/recordings/" + lid
            for body, member in (({"lesson_type": "seminar"}, "'lesson_type'"),
                                 ({"hall": "h" * 200}, "'hall'"),
                                 ({"title": "a\nb"}, "'title'")):
                r = curl(one, "PATCH", body, **A)
                check(r.status == 400 and member in (r.json() or {}).get("error", ""),
                      "PATCH bad %s: 400 naming it (%d %s)" % (member, r.status, r.body[:200]))
            with open(os.path.join(folder, "lesson.json")) as f:
                check(json.load(f)["title"] == META["title"], "a refused PATCH changed nothing")
            edit = {"title": "一次函数 (修订)", "lesson_type": "demonstration", "grade": "初三",
                    "keywords": ["函数"], "description": "控制字符之外 \t 都可以"}
            r = curl(one, "PATCH", edit, **A)
            check(r.status == 200 and r.json().get("title") == edit["title"], "PATCH: 200 (%d %s)"
                  % (r.status, r.body[:200]))
            with open(os.path.join(folder, "lesson.json")) as f:
                lj2 = json.load(f)
            check(lj2["title"] == edit["title"] and lj2["lesson_type"] == "demonstration" and
                  lj2["grade"] == "初三" and lj2["keywords"] == ["函数"] and lj2["teacher"] == "王老师" and
                  lj2["sources"] == lj["sources"] and lj2["status"] == "complete",
                  "PATCH: lesson.json has the edit and keeps the rest")
            ep = episode(os.path.join(folder, "episode.xml"))
            check(ep["title"] == [edit["title"]] and ep["type"] == ["示范课"] and
                  ep["subject"] == ["数学", "函数"] and ep["educationLevel"] == ["初三"] and
                  ep["description"] == [edit["description"]] and ep["creator"] == ["王老师"],
                  "PATCH: episode.xml rewritten (%s)" % ep)

            # the library's queries
            lst = base + "/api/v1/recordings"
            for q, n in (("", 1), ("?subject=%E6%95%B0%E5%AD%A6", 1), ("?subject=English", 0),
                         ("?lesson_type=demonstration", 1), ("?lesson_type=%E7%A4%BA%E8%8C%83%E8%AF%BE", 1),
                         ("?lesson_type=open", 0), ("?q=%E7%8E%8B", 1), ("?grade=%E5%88%9D%E4%B8%89", 1),
                         ("?status=complete&from=2000-01-01&to=2999-12-31", 1), ("?to=2000-01-01", 0),
                         ("?offset=1", 1), ("?sort=-title&limit=1", 1)):
                r = curl(lst + q, **A)
                j = r.json() or {}
                check(r.status == 200 and j.get("total") == n and
                      len(j.get("recordings", [])) == (0 if q == "?offset=1" else n),
                      "library %s: total %d (%d %s)" % (q or "(all)", n, r.status, r.body[:200]))
            # lesson.json read back as hostile: a damaged one is named, never served
            for name, body, what in (("20260101-080000-torn", b'{"title": "torn', "malformed JSON at byte"),
                                     ("20260101-090000-huge", b'{"t": "' + b"x" * (1 << 20) + b'"}',
                                      "larger than 1048576 bytes"),
                                     ("20260101-100000-list", b"[1, 2]", "not a JSON object")):
                os.makedirs(os.path.join(data, name))
                with open(os.path.join(data, name, "lesson.json"), "wb") as f:
                    f.write(body)
                for method in ("GET", "PATCH"):
                    r = curl(base + "/api/v1/recordings/" + name, method, {"title": "x"} if method == "PATCH"
                             else None, **A)
                    err = (r.json() or {}).get("error", "")
                    check(r.status == 422 and what in err and err.startswith(name + "/lesson.json"),
                          "%s %s: 422 saying what is wrong (%d %s)" % (method, name, r.status, err))
            r = curl(lst, **A)
            check(r.status == 200 and r.json().get("total") == 1, "the library leaves damaged lessons out")
            for q, key in (("?limit=x", "'limit'"), ("?from=yesterday", "'from'"),
                           ("?lesson_type=x", "'lesson_type'"), ("?sort=size", "'sort'")):
                r = curl(lst + q, **A)
                check(r.status == 400 and key in (r.json() or {}).get("error", ""),
                      "library %s: 400 naming %s" % (q, key))
            chapters_and_clips(base, data, lid, A, d.proc, d.text)
            recut_api(base, data, lid, A, d.proc)
        finally:
            d.stop()


def chapters_of(path):
    """ffprobe -show_chapters: [(start_s, end_s, title)]."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-of", "json", path],
                         capture_output=True, text=True)
    check(out.returncode == 0, "ffprobe -show_chapters %s: %s" % (path, out.stderr[-300:]))
    return [(float(c["start_time"]), float(c["end_time"]), c.get("tags", {}).get("title", ""))
            for c in json.loads(out.stdout).get("chapters", [])]


def vtt_time(text):
    h, m, rest = text.split(":")
    check(len(h) >= 2 and len(m) == 2 and len(rest) == 6 and rest[2] == ".",
          "a WebVTT timestamp hh:mm:ss.ttt (%r)" % text)
    return int(h) * 3600 + int(m) * 60 + float(rest)


def read_vtt(path):
    """A strict reader of WebVTT chapter cues: [(start_s, end_s, title)]."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    check(text.startswith("WEBVTT") and text[6:7] in ("", "\n", " ", "\t"), "%s: a WebVTT header" % path)
    blocks = [b for b in text.split("\n\n")[1:] if b.strip()]
    cues = []
    for b in blocks:
        lines = b.strip("\n").split("\n")
        if "-->" not in lines[0]:
            check(len(lines) >= 3 and "-->" not in lines[0] and "-->" in lines[1],
                  "%s: a cue is an identifier, the timing, the text (%r)" % (path, b))
            lines = lines[1:]
        a, _, z = lines[0].partition(" --> ")
        start, end = vtt_time(a.strip()), vtt_time(z.split()[0])
        check(end > start, "%s: a cue ends after it starts (%r)" % (path, lines[0]))
        cues.append((start, end, "\n".join(lines[1:]).replace("&lt;", "<").replace("&amp;", "&")))
    try:  # the packaged parser agrees, where it is installed (python3-webvtt)
        import webvtt
        parsed = [(c.start_in_seconds, c.end_in_seconds) for c in webvtt.read(path)]
        check([(round(a, 3), round(b, 3)) for a, b in parsed] ==
              [(round(a, 3), round(b, 3)) for a, b, _ in cues], "python webvtt reads the same cues")
    except ImportError:
        pass
    return cues


def packet_hashes(path):
    """framemd5 of every video and audio packet, by stream copy: stream, dts, pts, size, md5 (not
    the duration: the mov demuxer gives the last AAC packet of a file with an edit list 1024 or
    256 samples, alternately from one remux to the next; its data and time stay)."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-map", "0:a?", "-c", "copy",
                          "-f", "framemd5", "-"], capture_output=True, text=True)
    check(out.returncode == 0, "framemd5 %s: %s" % (path, out.stderr[-300:]))
    return [[f.strip() for i, f in enumerate(l.split(",")) if i != 3]
            for l in out.stdout.splitlines() if l and not l.startswith("#")]


def key_frames(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-skip_frame", "nokey",
                          "-show_entries", "frame=pts_time", "-of", "csv=p=0", path],
                         capture_output=True, text=True)
    check(out.returncode == 0, "key frames of %s" % path)
    return [float(x) for x in out.stdout.split() if x.strip()]


def check_chapters(folder, want, what, lead):
    """program.mp4's MP4 chapters and program.chapters.vtt are want [(t, title)], from 0: a first
    one titled lead (the lesson's title) when want's first begins later."""
    if want and want[0][0] > 0:
        want = [(0, lead)] + want
    got = chapters_of(os.path.join(folder, "program.mp4"))
    check([(round(a, 2), t) for a, _, t in got] == [(round(a, 2), t) for a, t in want],
          "%s: ffprobe lists the chapters %s (%s)" % (what, want, got))
    vtt = read_vtt(os.path.join(folder, "program.chapters.vtt"))
    check([(round(a, 2), t) for a, _, t in vtt] == [(round(a, 2), t) for a, t in want],
          "%s: program.chapters.vtt has the same cues (%s)" % (what, vtt))
    for i in range(len(vtt) - 1):
        check(abs(vtt[i][1] - vtt[i + 1][0]) < 0.002, "%s: a cue ends where the next begins" % what)
    return got, vtt


def chapters_and_clips(base, data, lid, A, proc, log_text):
    """Issue #20 items 4, 5: chapters in the files after the lesson and after an edit in the
    library; clips of the program and of a camera."""
    folder = os.path.join(data, lid)
    with open(os.path.join(folder, "lesson.json")) as f:
        lj = json.load(f)
    want = [(c["t"], c["title"]) for c in lj["chapters"]]
    print("chapters after the lesson: %s" % want)
    # on a starved machine (ASan, a loaded CI host) the program runs seconds behind real time
    # and the director sees no slide settle: then (the log says so) the list may be empty
    check(want or "falling behind real time" in log_text(),
          "the lesson has chapters (the screen's slides), or the program fell behind")
    # finalised before the PATCH: the lead chapter has the title of then
    got, vtt = check_chapters(folder, want, "after the lesson", META["title"])
    dur = lj["duration_s"]
    if vtt:
        check(abs(vtt[-1][1] - dur) < 0.2, "the last cue ends with the program (%s, %s)" % (vtt[-1], dur))
    before = packet_hashes(os.path.join(folder, "program.mp4"))
    one = base + "/api/v1/recordings/" + lid
    # refused, naming the member; nothing changes
    for body, member in (({"chapters": "x"}, "'chapters'"),
                         ({}, "'chapters'"),
                         ({"chapters": [{"t": -1, "title": "a"}]}, "'chapters[0].t'"),
                         ({"chapters": [{"t": 0, "title": "a"}, {"t": dur + 5, "title": "b"}]},
                          "'chapters[1].t'"),
                         ({"chapters": [{"t": 0, "title": "x" * 256}]}, "'chapters[0].title'"),
                         ({"chapters": [{"t": 0, "title": "a\nb"}]}, "'chapters[0].title'"),
                         ({"chapters": [{"t": 0, "title": ""}]}, "'chapters[0].title'"),
                         ({"chapters": [{"t": 1, "title": "a"}, {"t": 1, "title": "b"}]}, "'chapters'"),
                         ({"chapters": [{"t": i * 0.001, "title": "c"} for i in range(255)]}, "'chapters'")):
        r = curl(one + "/chapters", "PUT", body, **A)
        j = r.json() or {}
        check(r.status == 400 and member in j.get("error", "") and j.get("code") == "field_invalid"
              and "params" in j, "PUT chapters %s: 400 naming %s with a code (%d %s)"
              % (json.dumps(body)[:60], member, r.status, r.body[:200]))
    for url, status in ((base + "/api/v1/recordings/20000101-000000-none/chapters", 404),
                        (base + "/api/v1/recordings/.hidden/chapters", 404)):
        r = curl(url, "PUT", {"chapters": []}, **A)
        check(r.status == status and (r.json() or {}).get("code") == "recording_unknown",
              "PUT chapters of no lesson: %d (%d %s)" % (status, r.status, r.body[:200]))
    r = curl(one + "/chapters", "POST", {"chapters": []}, **A)
    check(r.status == 405, "POST chapters: 405 (%d)" % r.status)
    check(chapters_of(os.path.join(folder, "program.mp4")) == got, "a refused edit changed nothing")
    # add, rename, remove: the list replaced (any order; sorted by time)
    mid = round(dur / 2, 3)
    edit = [{"t": mid, "title": "例题 <2> & --> 讲解"}, {"t": 0, "title": "导入 (renamed)"},
            {"t": round(dur - 0.5, 3), "title": "小结"}]
    r = curl(one + "/chapters", "PUT", {"chapters": edit}, **A)
    check(r.status == 202 and [c["title"] for c in r.json()["chapters"]] ==
          ["导入 (renamed)", "例题 <2> & --> 讲解", "小结"], "PUT chapters: 202, sorted (%d %s)"
          % (r.status, r.body[:300]))
    wait_for("the edited chapters in program.mp4", lambda: lesson_done(data, lid) and
             len(chapters_of(os.path.join(folder, "program.mp4"))) == 3, proc)
    want = [(0, "导入 (renamed)"), (mid, "例题 <2> & --> 讲解"), (round(dur - 0.5, 3), "小结")]
    got = chapters_of(os.path.join(folder, "program.mp4"))
    check([(round(a, 2), t) for a, _, t in got] == [(round(a, 2), t) for a, t in want],
          "after the edit: ffprobe lists %s (%s)" % (want, got))
    vtt = read_vtt(os.path.join(folder, "program.chapters.vtt"))
    check([(round(a, 2), t) for a, _, t in vtt] ==
          [(round(a, 2), t.replace("-->", "- ->")) for a, t in want],
          "after the edit: the VTT's cues (%s)" % vtt)
    with open(os.path.join(folder, "lesson.json")) as f:
        lj2 = json.load(f)
    check([(c["t"], c["title"]) for c in lj2["chapters"]] == want and lj2["title"] == lj["title"],
          "after the edit: lesson.json's chapters, the rest kept")
    check(packet_hashes(os.path.join(folder, "program.mp4")) == before,
          "the edit remuxed by stream copy: every packet the same (%d)" % len(before))
    check(tags(os.path.join(folder, "program.mp4")).get("title") == lj["title"], "the remux keeps the tags")

    # clips: the program from mid-lesson, and a camera's file
    kf = key_frames(os.path.join(folder, "program.mp4"))
    check(len(kf) >= 2, "the program has key frames to cut at (%s)" % kf)
    frm, to = round(kf[1] + 0.2, 3), round(min(dur, kf[1] + 1.4), 3)
    for body, member in (({"file": "program.mp4", "from": 2, "to": 1}, "'to'"),
                         ({"file": "program.mp4", "from": -1, "to": 1}, "'from'"),
                         ({"file": "program.mp4", "from": 0, "to": dur + 10}, "'to'"),
                         ({"file": "program.mp4", "from": 0, "to": 0.5}, "'to'"),
                         ({"file": "../x.mp4", "from": 0, "to": 2}, "'file'"),
                         ({"file": "iso/nope.mp4", "from": 0, "to": 2}, "'file'"),
                         ({"file": "lesson.json", "from": 0, "to": 2}, "'file'"),
                         ({"file": "program.mp4", "from": "0", "to": 2}, "'from'")):
        r = curl(one + "/clips", "POST", body, **A)
        j = r.json() or {}
        check(r.status == 400 and member in j.get("error", "") and j.get("code") == "field_invalid",
              "clip %s: 400 naming %s (%d %s)" % (json.dumps(body), member, r.status, r.body[:200]))
    r = curl(base + "/api/v1/recordings/20000101-000000-none/clips", "POST",
             {"file": "program.mp4", "from": 0, "to": 2}, **A)
    check(r.status == 404, "a clip of no lesson: 404 (%d %s)" % (r.status, r.body[:200]))
    cams = sorted(os.listdir(os.path.join(folder, "iso")))
    clips = []
    for rel in ("program.mp4", "iso/" + cams[0]):
        r = curl(one + "/clips", "POST", {"file": rel, "from": frm, "to": to}, **A)
        check(r.status == 202 and r.json().get("id", "").startswith(lid + "-clip-"),
              "clip of %s: 202 with its id (%d %s)" % (rel, r.status, r.body[:200]))
        clips.append((rel, r.json()["id"]))
    r = curl(one + "/clips", "POST", {"file": "program.mp4", "from": frm, "to": to}, **A)
    check(r.status in (202, 409), "the same clip again: refused once made (%d)" % r.status)
    for rel, cid in clips:
        cl = wait_for("clip " + cid, lambda: (lambda r: r.json() if r.status == 200 else None)(
            curl(base + "/api/v1/recordings/" + cid, **A)), proc)
        path = os.path.join(data, cid, "program.mp4")
        src_kf = key_frames(os.path.join(folder, rel))
        start = cl["clip"]["start"]
        check(abs(start - max(k for k in src_kf if k <= frm + 1e-6)) < 0.002,
              "clip of %s starts at the key frame at or before %.3f (%.3f; %s)" % (rel, frm, start, src_kf))
        ck = key_frames(path)
        check(ck and ck[0] < 0.001, "clip of %s begins with a key frame (%s)" % (rel, ck[:2]))
        gop = max(b - a for a, b in zip(src_kf, src_kf[1:])) if len(src_kf) > 1 else 2
        d = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                                  "csv=p=0", path], capture_output=True, text=True).stdout.strip())
        check(abs(d - (to - frm)) <= gop + 0.1, "clip of %s lasts the range within a GOP (%.3f for %.3f; GOP %.2f)"
              % (rel, d, to - frm, gop))
        dec = subprocess.run(["ffmpeg", "-v", "error", "-xerror", "-i", path, "-f", "null", "-"],
                             capture_output=True, text=True)
        check(dec.returncode == 0 and not dec.stderr.strip(), "clip of %s decodes without an error (%s)"
              % (rel, dec.stderr[-300:]))
        t = tags(path)
        check(t.get("title", "").startswith(lj["title"]) and "(clip " in t["title"] and
              t.get("artist") == "王老师" and t.get("date") == lj["started_at"] and t.get("genre") == "数学",
              "clip of %s carries the lesson's tags, titled as a clip (%s)" % (rel, t))
        check(cl["clip"]["of"] == lid and cl["clip"]["file"] == rel and cl["status"] == "complete" and
              cl["title"] == t["title"], "clip %s: lesson.json says what it is (%s)" % (cid, cl.get("clip")))
        check(os.path.exists(os.path.join(data, cid, "episode.xml")), "clip %s has its episode.xml" % cid)


def file_md5(path):
    import hashlib
    try:
        with open(path, "rb") as f:
            return hashlib.md5(f.read()).hexdigest()
    except OSError:
        return None


def event_json(frame):
    try:
        return json.loads(frame if isinstance(frame, str) else frame.decode())
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None


def log_lines(path):
    with open(path) as f:
        return [json.loads(x) for x in f if x.strip()]


def recut_api(base, data, lid, A, proc):
    """Issue #20 item 3: the lesson's shots, a re-cut with one range changed run by the daemon in
    the background (its progress, the edited log, the new version), and the refusals."""
    t0 = time.time()
    folder = os.path.join(data, lid)
    one = base + "/api/v1/recordings/" + lid
    log = log_lines(os.path.join(folder, "director.jsonl"))
    cuts = [d for d in log if not d.get("pan")]
    r = curl(one + "/shots", **A)
    j = r.json() or {}
    shots = j.get("shots", [])
    dur = j.get("duration_s", 0)
    check(r.status == 200 and len(shots) == len(cuts) and
          [(s["start"], s["shot"], s["sources"], s["reason"]) for s in shots] ==
          [(d["t"], d["shot"], d["sources"], d["reason"]) for d in cuts] and
          all(a["end"] == b["start"] for a, b in zip(shots, shots[1:])) and shots[-1]["end"] == dur,
          "GET shots: the %d decisions as spans, no pan lines (%d %s)" % (len(cuts), r.status, r.body[:300]))
    cams = [c["name"] for c in j["sources"]]
    # the range: the lesson's middle, shown by a camera that is not on screen at its start
    a, b = round(dur * 0.3, 3), round(dur * 0.7, 3)
    before = [d for d in cuts if d["t"] <= a][-1]
    cam = next(c for c in cams if c not in before["sources"])
    for body, member in (({}, "'edits'"), ({"edits": []}, "'edits'"),
                         ({"edits": [{"from": a, "to": b, "shot": cam}] * 65}, "'edits'"),
                         ({"edits": [{"from": b, "to": a, "shot": cam}]}, "'edits[0].to'"),
                         ({"edits": [{"from": -1, "to": a, "shot": cam}]}, "'edits[0].from'"),
                         ({"edits": [{"from": a, "to": dur + 5, "shot": cam}]}, "'edits[0].to'"),
                         ({"edits": [{"from": a, "to": b, "shot": "nope"}]}, "'edits[0].shot'"),
                         ({"edits": [{"from": a, "to": b, "shot": cam, "layout": "grid"}]}, "'edits[0].layout'"),
                         ({"edits": [{"from": a, "to": b, "shot": cam, "layout": "pip"}]}, "'edits[0].with'"),
                         ({"edits": [{"from": b, "to": dur, "shot": cam}, {"from": a, "to": b, "shot": cam}]},
                          "'edits[1].from'")):
        r = curl(one + "/recut", "POST", body, **A)
        e = r.json() or {}
        check(r.status == 400 and member in e.get("error", "") and e.get("code") == "field_invalid",
              "POST recut %s: 400 naming %s (%d %s)" % (json.dumps(body)[:70], member, r.status, r.body[:200]))
    # no lesson, one still recording, one without a decision log: 404, 409, 409
    for name, lj, status, code in (("20000101-000000-none", None, 404, "recording_unknown"),
                                   ("20000101-000000-busy", {"status": "recording"}, 409, "recording_busy"),
                                   ("20000101-000000-nolog", {"status": "complete"}, 409, "recut_no_log"),
                                   ("20000101-000000-huge", {"status": "complete"}, 409, "recut_log_too_big")):
        if lj:
            os.makedirs(os.path.join(data, name))
            with open(os.path.join(data, name, "lesson.json"), "w") as f:
                json.dump(lj, f)
        if name.endswith("huge"):
            with open(os.path.join(data, name, "director.jsonl"), "w") as f:
                f.truncate(65 << 20)            # sparse: over the 64 MiB bound, nothing written
        for what, method, body in (("shots", None, None),
                                   ("recut", "POST", {"edits": [{"from": 0, "to": 1, "shot": cam}]})):
            r = curl(base + "/api/v1/recordings/%s/%s" % (name, what), method, body, **A)
            check(r.status == status and (r.json() or {}).get("code") == code,
                  "%s %s of %s: %d %s (%d %s)" % (method or "GET", what, name, status, code, r.status, r.body[:200]))
        if lj:
            shutil.rmtree(os.path.join(data, name))
    versions0 = json.load(open(os.path.join(folder, "lesson.json"))).get("versions", [])
    port = int(base.rsplit(":", 1)[1])
    events, stop = [], threading.Event()
    t = threading.Thread(target=ws_collect, args=(port, cookie_of(A["jar"]), events, stop, 0.2), daemon=True)
    t.start()
    wait_for("the events socket", lambda: events, proc)
    r = curl(one + "/recut", "POST", {"edits": [{"from": a, "to": b, "shot": cam}]}, **A)
    job = (r.json() or {}).get("job")
    check(r.status == 202 and job and r.json()["state"] == "running", "POST recut: 202 with a job (%d %s)"
          % (r.status, r.body[:200]))
    r = curl(one + "/recut", "POST", {"edits": [{"from": a, "to": b, "shot": cam}]}, **A)
    check(r.status == 409 and (r.json() or {}).get("code") == "recut_running", "a second re-cut meanwhile: 409 (%d %s)"
          % (r.status, r.body[:200]))
    # lesson.json is the child's to write until it ends: the library's edits of it wait
    title = json.load(open(os.path.join(folder, "lesson.json")))["title"]
    r = curl(one, "PATCH", {"title": title}, **A)
    running = (curl(one + "/recut", **A).json() or {}).get("state") == "running"
    check((r.status == 409 and (r.json() or {}).get("code") == "recut_running") or (r.status == 200 and not running),
          "PATCH during the re-cut: 409 recut_running (or it had ended) (%d %s)" % (r.status, r.body[:200]))
    seen = []

    def state():
        st = curl(one + "/recut", **A).json() or {}
        seen.append(st.get("percent"))
        return st if st.get("state") in ("done", "failed") else None
    st = wait_for("the re-cut", state, proc)
    check(st["state"] == "done" and st["job"] == job and st["percent"] == 100 and
          re.fullmatch(r"program\.recut-\d+\.mp4", st.get("file", "")), "the re-cut is done (%s)" % st)
    check(seen == sorted(seen), "its progress only grows (%s)" % seen)
    try:
        ev = wait_for("the re-cut's last event", lambda: [e for e in map(event_json, events[1:]) if e and
                      e.get("type") == "recut" and e.get("state") == "done"], proc)
        check(ev[0]["job"] == job and ev[0]["id"] == lid and ev[0]["percent"] == 100, "the event says so (%s)" % ev)
    finally:
        stop.set()
        t.join()
    out = os.path.join(folder, st["file"])
    n = re.search(r"recut-(\d+)", st["file"]).group(1)
    versions = json.load(open(os.path.join(folder, "lesson.json")))["versions"]
    check(len(versions) == max(len(versions0), 1) + 1 and versions[-1]["file"] == st["file"] and
          versions[-1]["kind"] == "recut" and versions[-1]["log"] == "director.recut-%s.jsonl" % n,
          "lesson.json lists the new version (%s)" % versions)
    # the edited log: outside the range the lesson's lines, inside it one decision, then the shot back
    ed = log_lines(os.path.join(folder, "director.recut-%s.jsonl" % n))
    inside = [d for d in ed if a <= d["t"] < b]
    check([d for d in ed if d["t"] < a] == [d for d in log if d["t"] < a] and
          len(inside) == 1 and inside[0]["sources"] == [cam] and inside[0]["layout"] == "single" and
          [d for d in ed if d["t"] > b] == [d for d in log if d["t"] > b], "the edited log (%s)" % inside)
    check(inside and inside[0].get("reasons") == [{"code": "operator_recut", "params": {}}],
          "the operator's line has its reason's code, for the Chinese page (%s)" % inside[:1])
    back = [d for d in ed if d["t"] == b]
    check(back and back[0]["sources"] == [d for d in log if d["t"] <= b][-1]["sources"] and not back[0].get("pan"),
          "at the range's end the shot in force comes back (%s)" % back[:1])
    check(not os.path.exists(os.path.join(folder, ".recut-edit.jsonl")), "the work file is gone")
    check(decode_errors(out) == "", "the new version decodes cleanly")
    d_new = float(ffprobe_json(out, "-show_entries", "format=duration")["format"]["duration"])
    d_old = float(ffprobe_json(os.path.join(folder, "program.mp4"), "-show_entries", "format=duration")["format"]["duration"])
    check(abs(d_new - d_old) < 0.2, "as long as the program (%.3f, %.3f s)" % (d_new, d_old))
    # a chapter edit after it: every version's chapters follow the lesson's, by stream copy
    # (on the edit thread, after program.mp4; the marker goes when all are done)
    packets = packet_hashes(out)
    edit = [{"t": 0, "title": "版本 A"}, {"t": round(d_old / 2, 3), "title": "Version B"}]
    r = curl(one + "/chapters", "PUT", {"chapters": edit}, **A)
    check(r.status == 202, "PUT chapters with a re-cut: 202 (%d %s)" % (r.status, r.body[:200]))
    titles = ["版本 A", "Version B"]
    wait_for("the edited chapters in the re-cut", lambda: lesson_done(data, lid) and
             [t for _, _, t in chapters_of(out)] == titles, proc)
    check([t for _, _, t in chapters_of(os.path.join(folder, "program.mp4"))] == titles,
          "program.mp4 has them too")
    check(packet_hashes(out) == packets, "the re-cut remuxed by stream copy: every packet the same (%d)" % len(packets))
    print("re-cut through the API: %s, %d shots, %.3f-%.3f s shows %s, progress %s (%.1f s)" % (
        st["file"], len(shots), a, b, cam, sorted(set(x for x in seen if x is not None)), time.time() - t0))


def nginx_conf(tmp, port):
    root = os.path.join(tmp, "root")
    for sub in ("root", "tmp"):
        os.makedirs(os.path.join(tmp, sub), exist_ok=True)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""daemon off; user root; pid {t}/nginx.pid; error_log {t}/error.log;
events {{}}
http {{ access_log off; client_body_temp_path {t}/tmp;
  server {{ listen 127.0.0.1:{p}; root {r}; client_max_body_size 0;
    location / {{ auth_basic "platform"; auth_basic_user_file {t}/htpasswd;
      dav_methods PUT DELETE MKCOL; create_full_put_path on; }} }} }}
""".format(t=tmp, p=port, r=root))
    return conf, root


def htpasswd(tmp, user, password):
    h = subprocess.run(["openssl", "passwd", "-apr1", password], capture_output=True, text=True,
                       check=True).stdout.strip()
    with open(os.path.join(tmp, "htpasswd"), "w") as f:
        f.write("%s:%s\n" % (user, h))


def has_resume_window():
    out = subprocess.run([LUOBO, "--help"], capture_output=True, text=True).stdout
    return "resume_window_s" in out


def test_upload():
    pw, good_pw = "wrong-Pa55word", "right-Pa55word"
    with Scratch("metadata-upload") as tmp:
        data = os.path.join(tmp, "data")
        port = free_port()
        conf, root = nginx_conf(tmp, port)
        htpasswd(tmp, "hall1", good_pw)
        cred = os.path.join(tmp, "platform.cred")
        fd = os.open(cred, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, ("hall1:%s\n" % pw).encode())
        os.close(fd)
        upload = ("\n[output.platform]\ntype = upload\nurl = http://127.0.0.1:%d/lessons/\n"
                  "allow_http = true\ncredentials = %s\nretry_max_s = 1\n" % (port, cred))
        # resume (a lesson interrupted lately continues at the next start) must not take it
        general = "resume_window_s = 0\n" if has_resume_window() else ""

        # refusals: a credentials file others can read; http:// without allow_http
        ini = os.path.join(tmp, "check.ini")
        os.chmod(cred, 0o640)
        with open(ini, "w") as f:
            f.write(small_config(data, 0, general) + upload)
        p = subprocess.run([LUOBO, "--config", ini, "--check-config"], capture_output=True, text=True)
        check(p.returncode == 2 and "output.platform: credentials" in p.stderr and
              "readable by others" in p.stderr and pw not in p.stderr,
              "a group-readable credentials file is refused (%d %s)" % (p.returncode, p.stderr[-300:]))
        os.chmod(cred, 0o600)
        with open(ini, "w") as f:
            f.write(small_config(data, 0, general) + upload.replace("allow_http = true\n", ""))
        p = subprocess.run([LUOBO, "--config", ini, "--check-config"], capture_output=True, text=True)
        check(p.returncode == 2 and "output.platform: url" in p.stderr and "allow_http" in p.stderr,
              "http:// without allow_http is refused (%d %s)" % (p.returncode, p.stderr[-300:]))

        # run 1: a lesson killed while it records
        ini = os.path.join(tmp, "luobo.ini")
        with open(ini, "w") as f:
            f.write(small_config(data, free_port(), general))
        p1 = subprocess.Popen([LUOBO, "--config", ini, "--record", "--title", "断电的课", "--teacher", "李老师",
                               "--subject", "物理", "--grade", "高一", "--class", "2班", "--lesson-type", "ordinary",
                               "--keywords", "力学, 牛顿"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def recording_lesson():
                for name in os.listdir(data) if os.path.isdir(data) else []:
                    prog = os.path.join(data, name, "program.mp4")
                    if os.path.exists(prog) and os.path.getsize(prog) > 20000:
                        return name
                return None
            lid = wait_for("program.mp4 growing", recording_lesson, p1)
        finally:
            p1.send_signal(signal.SIGKILL)
            p1.wait()
        with open(os.path.join(data, lid, "lesson.json")) as f:
            check(json.load(f)["status"] == "recording", "killed while recording")

        # run 2: repaired and uploaded; the platform refuses the password first
        http_port = free_port()
        with open(ini, "w") as f:
            f.write(small_config(data, http_port, general) + upload)
        nginx = subprocess.Popen(["nginx", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        d = Daemon(tmp, ini)
        stop = threading.Event()
        events = []
        t = None
        try:
            base = "http://127.0.0.1:%d" % http_port
            A = admin_session(tmp, base, d)
            t = threading.Thread(target=ws_collect, args=(http_port, cookie_of(A["jar"]), events, stop))
            t.start()
            up_json = os.path.join(data, lid, "upload.json")

            def refused():
                try:
                    with open(up_json) as f:
                        u = json.load(f)
                except (OSError, ValueError):
                    return None
                return u if "401" in u.get("last_error", "") else None
            u = wait_for("the platform's refusal", refused, d.proc)
            check(u["state"] == "waiting" and "credentials" in u["last_error"],
                  "upload.json: waiting, with a clear error (%s)" % u["last_error"])
            with open(os.path.join(data, lid, "lesson.json")) as f:
                lj = json.load(f)
            check(lj["status"] == "interrupted" and lj["duration_s"] > 0 and lj["subject"] == "物理",
                  "the killed lesson was repaired: interrupted, with its duration and metadata")
            st = wait_for("the error in the status", lambda: (lambda s: s if any(
                "401" in o.get("last_error", "") for o in s.get("outputs", [])) else None)(
                curl(base + "/api/v1/status", **A).json() or {}), d.proc)
            out = [o for o in st["outputs"] if o["name"] == "platform"][0]
            check("credentials" in out["last_error"], "the status says the credentials were refused (%s)"
                  % out["last_error"])

            # the platform takes the password now: the retry goes through
            htpasswd(tmp, "hall1", pw)
            subprocess.run(["nginx", "-c", conf, "-s", "reload"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

            def done():
                try:
                    with open(up_json) as f:
                        return json.load(f).get("state") == "done"
                except (OSError, ValueError):
                    return False
            wait_for("the upload after a retry", done, d.proc)
            remote = os.path.join(root, "lessons", lid)
            for rel in ("program.mp4", "lesson.json", "episode.xml"):
                check(os.path.exists(os.path.join(remote, rel)) and
                      os.path.getsize(os.path.join(remote, rel)) ==
                      os.path.getsize(os.path.join(data, lid, rel)), "%s on the platform" % rel)
            with open(os.path.join(remote, "lesson.json")) as f:
                rj = json.load(f)
            check(rj["status"] == "interrupted" and rj["title"] == "断电的课", "the platform's lesson.json")
            ep = episode(os.path.join(remote, "episode.xml"))
            check(ep["title"] == ["断电的课"] and ep["creator"] == ["李老师"] and
                  ep["subject"] == ["物理", "力学", "牛顿"] and ep["type"] == ["常态课"] and
                  "end=" in ep["temporal"][0], "the platform's episode.xml, with the lesson's end (%s)" % ep)
            lst = curl(base + "/api/v1/recordings", **A).json()["recordings"]
            check([x.get("upload", {}).get("state") for x in lst if x["id"] == lid] == ["done"],
                  "the library shows the upload done")

            # an operator uploads it again (the platform lost it)
            os.remove(os.path.join(remote, "program.mp4"))
            r = curl(base + "/api/v1/recordings/%s/upload" % lid, "POST", {}, **A)
            check(r.status == 202, "re-upload: 202 (%d %s)" % (r.status, r.body[:200]))
            wait_for("program.mp4 sent again", lambda: os.path.exists(os.path.join(remote, "program.mp4"))
                     and done(), d.proc)
            r = curl(base + "/api/v1/recordings/nope/upload", "POST", {}, **A)
            check(r.status == 404, "re-upload of no lesson: 404")

            # issue #20: a chapter edit of an uploaded lesson goes to the platform, also when
            # program.mp4 keeps its size (a title renamed to one as long): sent as changed
            def remote_titles():
                out = subprocess.run(["ffprobe", "-v", "error", "-show_chapters", "-of", "json",
                                      os.path.join(remote, "program.mp4")], capture_output=True, text=True)
                if out.returncode or not done():
                    return None
                return [c.get("tags", {}).get("title") for c in json.loads(out.stdout).get("chapters", [])]
            sizes = []
            for title in ("AAAA", "BBBB"):
                r = curl(base + "/api/v1/recordings/%s/chapters" % lid, "PUT",
                         {"chapters": [{"t": 0, "title": title}]}, **A)
                check(r.status == 202, "chapters of an uploaded lesson: 202 (%d %s)" % (r.status, r.body[:200]))
                wait_for("the platform's program.mp4 with chapter " + title,
                         lambda: remote_titles() == [title], d.proc)
                sizes.append(os.path.getsize(os.path.join(data, lid, "program.mp4")))
                vtt = read_vtt(os.path.join(remote, "program.chapters.vtt"))
                check([c[2] for c in vtt] == [title], "the platform's VTT has chapter %s (%s)" % (title, vtt))
            print("program.mp4 after the two chapter edits: %s bytes" % sizes)

            # issue #20 item 3: a version chosen in the library is the platform's program.mp4
            # (a camera's file stands in for a re-cut here: only the choice is tested)
            t0 = time.time()
            folder = os.path.join(data, lid)
            shutil.copy(os.path.join(folder, "iso", sorted(os.listdir(os.path.join(folder, "iso")))[0]),
                        os.path.join(folder, "program.recut-1.mp4"))
            with open(os.path.join(folder, "lesson.json")) as f:
                lj = json.load(f)
            lj["versions"] = [{"file": "program.mp4", "kind": "live", "log": "director.jsonl"},
                              {"file": "program.recut-1.mp4", "kind": "recut", "log": "director.jsonl"}]
            with open(os.path.join(folder, "lesson.json"), "w") as f:
                json.dump(lj, f)
            ver = base + "/api/v1/recordings/%s/version" % lid
            for body in ({"file": "program.recut-9.mp4"}, {"file": "../program.mp4"}, {"file": 3}, {}):
                r = curl(ver, "PUT", body, **A)
                check(r.status == 400 and "'file'" in (r.json() or {}).get("error", ""),
                      "PUT version %s: 400 naming 'file' (%d %s)" % (body, r.status, r.body[:200]))
            for chosen in ("program.recut-1.mp4", "program.mp4"):
                r = curl(ver, "PUT", {"file": chosen}, **A)
                check(r.status == 200 and r.json().get("upload_version") == chosen, "PUT version %s: 200 (%d %s)"
                      % (chosen, r.status, r.body[:200]))
                with open(os.path.join(folder, "lesson.json")) as f:
                    check(json.load(f).get("upload_version") == (None if chosen == "program.mp4" else chosen),
                          "lesson.json's upload_version for %s" % chosen)
                want = file_md5(os.path.join(folder, chosen))
                wait_for("the platform's program.mp4 is " + chosen, lambda: done() and
                         file_md5(os.path.join(remote, "program.mp4")) == want, d.proc)
            check(file_md5(os.path.join(remote, "program.recut-1.mp4")) ==
                  file_md5(os.path.join(folder, "program.recut-1.mp4")), "the version also goes under its own name")
            print("the chosen version uploaded as program.mp4, and back (%.1f s)" % (time.time() - t0))
            final_status = curl(base + "/api/v1/status", **A).body.decode(errors="replace")
        finally:
            stop.set()
            if t:
                t.join()
            d.stop()
            nginx.send_signal(signal.SIGTERM)
            nginx.wait()
        check(len(events) > 2, "events were seen (%d)" % len(events))
        for what, text in (("the log", d.text()), ("the status", final_status),
                           ("the events", "\n".join(str(e) for e in events)),
                           ("upload.json", open(os.path.join(data, lid, "upload.json")).read())):
            check(pw not in text and good_pw not in text, "the password is not in %s" % what)


if __name__ == "__main__":
    main({"metadata": test_metadata, "upload": test_upload})
