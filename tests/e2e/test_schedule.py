"""e2e_schedule: recording by the schedule, in real time, on one daemon.

The feed is an iCalendar file served by nginx (polled every second), so
every case also checks that a changed feed is picked up between two polls.
Times are seconds from "now"; a lesson's length is checked with ffprobe
(its period +-1 s), its metadata in lesson.json.

  two_lessons    a timetable (PUT) of two entries 6 s long, 2 s apart: two
                 lessons, each its period, with their metadata (lesson.json,
                 the MP4 tags, episode.xml parsed as XML); the first,
                 ordinary (live = false by default), pauses the HLS output
                 (nothing sent), the second, open, is carried live
  takeover       a manual recording running when an entry starts becomes the
                 entry's lesson (one folder, no cut); +5 min is capped at the
                 next entry's start, where the extension ends and the next
                 entry starts; that one is stopped early and not restarted
  clock_steps    with the test-only wall-clock offset: +10 min into a lesson
                 starts it at once (not skipped), -10 min back neither stops
                 nor restarts it, stopped early it is not restarted by
                 stepping into it again
  bad_feed       a truncated feed: error in GET /api/v1/schedule and a
                 schedule event, the schedule kept
  timetable      PUT /api/v1/timetable: overlapping entries are a 400 naming
                 both; a good one is stored, exported with
                 Content-Disposition, and its lessons are listed
  failed_start   a timetable entry whose start fails for real (the data
                 folder is a file: no lesson folder can be made) is not done
                 (.schedule-done.json), shows start_failed in the schedule
                 and raises schedule_start_failed naming it and the reason;
                 the folder back, the retry records it within its time and
                 the alert clears; the entry's end moved by a timetable PUT
                 reaches lesson.json's schedule_end and the status, and the
                 lesson stops there
  private_start  POST start with "live": false: the HLS output (follows the
                 schedule) sends nothing while the archive records, the
                 status says live false, lesson.json "live": false; a 'live'
                 that is not a boolean is a 400 naming it
  restart        a service stop (SIGTERM) while an entry records: the lesson
                 ends "ended_by": "shutdown" and the entry is not counted
                 done (.schedule-done.json); luobo back within
                 resume_window_s with the feed's server down: the same folder
                 resumes and stops at the entry's end by itself (its length
                 +-1 s, one outage); the next entry killed, luobo back after
                 its end: repaired, not resumed; the stored feed's entry under
                 way then records at once
"""
import json
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))
from lbtest import Failure, Scratch, check, ffprobe_json, free_port, stop_daemon  # noqa: E402
from webui_common import cookie_of, curl, setup_code, ws_connect, ws_recv  # noqa: E402

LUOBO = os.environ.get("LUOBO_BIN", "luobo")
SLOW = os.environ.get("LUOBO_SANITIZE") == "1"
DCTERMS = "http://purl.org/dc/terms/"


def wait_for(cond, what, timeout=60):
    end = time.monotonic() + (timeout * 3 if SLOW else timeout)
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise Failure("timed out waiting for " + what)


def ical_time(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def feed(events):
    """events: (uid, start, end, summary, extra lines)."""
    out = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//luobo tests//EN"]
    for uid, start, end, summary, extra in events:
        out += ["BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:" + ical_time(time.time()),
                "DTSTART:" + ical_time(start), "DTEND:" + ical_time(end), "SUMMARY:" + summary]
        out += extra
        out.append("END:VEVENT")
    out.append("END:VCALENDAR")
    return "\r\n".join(out) + "\r\n"


class Hall:
    """nginx serving the feed, and one luobo recording by it."""

    def __init__(self, d):
        self.d = d
        self.www = os.path.join(d, "www")
        self.data = os.path.join(d, "data")
        self.offset = os.path.join(d, "offset")
        os.makedirs(self.www)
        os.makedirs(os.path.join(d, "tmp"))
        self.set_offset(0)
        self.write_feed([])
        self.nginx_port, self.port = free_port(), free_port()
        self.nginx = None
        self.proc = None
        self.events = []
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write("daemon off; user root; pid %s/nginx.pid; error_log %s/nginx.log;\n"
                    "events {}\nhttp { access_log off; client_body_temp_path %s/tmp;\n"
                    "  server { listen 127.0.0.1:%d; root %s; } }\n"
                    % (d, d, d, self.nginx_port, self.www))
        self.ini = os.path.join(d, "luobo.ini")
        with open(self.ini, "w") as f:
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

[mic.lapel]
type = synthetic
role = teacher

[encoder]
preset = ultrafast
bitrate_kbps = 300
iso = false

[output.archive]
type = archive
min_free_mb = 10
stop_free_mb = 5

[output.live]
type = hls
dir = {live}

[health]
clock_check = false

[schedule]
ical = http://127.0.0.1:{np}/feed.ics
allow_http = true
poll_s = 1
fetch_timeout_s = 5
""".format(data=self.data, port=self.port, np=self.nginx_port, live=os.path.join(d, "live")))

    def set_offset(self, s):
        with open(self.offset + ".tmp", "w") as f:
            f.write("%d\n" % s)
        os.rename(self.offset + ".tmp", self.offset)

    def write_feed(self, events, text=None):
        path = os.path.join(self.www, "feed.ics")
        with open(path + ".tmp", "w") as f:
            f.write(text if text is not None else feed(events))
        os.rename(path + ".tmp", path)

    def start_nginx(self):
        self.nginx = subprocess.Popen(["nginx", "-c", os.path.join(self.d, "nginx.conf")],
                                      stderr=subprocess.DEVNULL)
        wait_for(lambda: curl("http://127.0.0.1:%d/feed.ics" % self.nginx_port).status == 200,
                 "nginx")

    def stop_nginx(self):
        if self.nginx and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait()

    def start(self, first=True):
        self.log = open(os.path.join(self.d, "luobo.log"), "a")
        env = dict(os.environ, LUOBO_TEST_WALL_OFFSET_FILE=self.offset)
        self.proc = subprocess.Popen([LUOBO, "--config", self.ini], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        wait_for(lambda: self.proc.poll() is not None or
                 curl(self.url("/api/v1/session")).status == 200, "the web UI")
        check(self.proc.poll() is None, "luobo runs")
        self.jar = os.path.join(self.d, "jar")
        if first:
            hall = self

            class Log:
                def log_text(self):
                    hall.log.flush()
                    return open(hall.log.name).read()

                def alive(self):
                    return hall.proc.poll() is None
            r = curl(self.url("/api/v1/setup"), "POST", {"code": setup_code(Log()),
                                                          "password": "schedule-test-pw"},
                     save_cookies=self.jar)
        else:
            r = curl(self.url("/api/v1/login"), "POST", {"user": "admin",
                                                          "password": "schedule-test-pw"},
                     save_cookies=self.jar)
        check(r.status in (200, 201), "login: %d %s" % (r.status, r.body[:200]))
        self.csrf = r.json()["csrf"]
        sock, line = ws_connect(self.port, cookie=cookie_of(self.jar))
        check(" 101 " in line, "events socket: " + line)
        sock.settimeout(1)
        self.sock = sock
        threading.Thread(target=self.read_events, args=(sock,), daemon=True).start()

    def read_events(self, sock):
        while True:
            try:
                ev = json.loads(ws_recv(sock))
            except (OSError, EOFError, ValueError):
                if self.proc.poll() is not None or getattr(self, "sock", None) is not sock:
                    return
                continue
            if ev.get("type") == "schedule":
                self.events.append(ev["schedule"])

    def kill9(self):
        self.sock = None
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        self.sock = None
        if self.proc and not self.log.closed:
            stop_daemon(self.proc)
            self.log.close()
            # a sanitizer's report makes the exit code non-zero
            check(self.proc.returncode == 0, "luobo exits cleanly (%d)" % self.proc.returncode)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def api(self, method, path, body=None, raw=None):
        headers = ["X-CSRF-Token: " + self.csrf] if method != "GET" else []
        return curl(self.url(path), method, raw if raw is not None else body, jar=self.jar,
                    headers=headers)

    def status(self):
        return self.api("GET", "/api/v1/status").json()["recording"]

    def schedule(self):
        return self.api("GET", "/api/v1/schedule").json()

    def lesson_dirs(self):
        if not os.path.isdir(self.data):
            return []
        return sorted(x for x in os.listdir(self.data)
                      if os.path.isfile(os.path.join(self.data, x, "lesson.json")))

    def lesson(self, name):
        with open(os.path.join(self.data, name, "lesson.json")) as f:
            return json.load(f)

    def finished(self, name):
        # complete, and its files finished: the fast start, a resumed lesson's
        # parts joined (the folder's .finalising marker goes last)
        return (self.lesson(name)["status"] == "complete" and
                not os.path.exists(os.path.join(self.data, name, ".finalising")))

    def wait_complete(self, name):
        wait_for(lambda: self.finished(name), name + " complete")
        return self.lesson(name)

    def wait_state(self, states, what):
        return wait_for(lambda: self.status()["lesson_state"] in states and self.status(), what)

    def new_lessons(self, before, n, what):
        return wait_for(lambda: len(set(self.lesson_dirs()) - set(before)) >= n and
                        sorted(set(self.lesson_dirs()) - set(before)), what)


def duration(hall, name):
    info = ffprobe_json(os.path.join(hall.data, name, "program.mp4"), "-show_format")
    return float(info["format"]["duration"])


def two_lessons(h):
    h.events.clear()
    before = h.lesson_dirs()
    t = time.time()
    if time.localtime(t + 20).tm_mday != time.localtime(t).tm_mday:
        time.sleep(25)                  # a one-off entry is within one day
        t = time.time()
    day = time.strftime("%Y-%m-%d", time.localtime(t))

    def hms(x):
        return time.strftime("%H:%M:%S", time.localtime(x))
    tt = {"entries": [
        {"id": "maths-1", "date": day, "start": hms(t + 3), "end": hms(t + 9), "title": "Maths 1",
         "subject": "数学", "teacher": "Li Hua"},
        {"id": "chinese-2", "date": day, "start": hms(t + 11), "end": hms(t + 17), "title": "Chinese 2",
         "subject": "语文", "teacher": "Wang Fang", "lesson_type": "open"}]}
    r = h.api("PUT", "/api/v1/timetable", raw=json.dumps(tt))
    check(r.status == 200, "the timetable is stored: %d %s" % (r.status, r.body[:300]))

    def hls():
        return [o for o in h.api("GET", "/api/v1/status").json()["outputs"] if o["name"] == "live"][0]
    # an ordinary lesson is not live: the HLS output carries nothing while it records
    wait_for(lambda: h.status()["title"] == "Maths 1" and hls()["state"] == "paused",
             "the live output paused for a lesson that is not live")
    sent = hls()["bytes"]
    time.sleep(1.5)
    check(hls()["bytes"] == sent and h.status()["title"] == "Maths 1",
          "nothing is sent while the lesson that is not live records")
    # an open lesson is live
    wait_for(lambda: h.status()["title"] == "Chinese 2" and h.status()["lesson_state"] == "recording"
             and hls()["state"] == "live", "the live output carries the open lesson")
    sent = hls()["bytes"]
    wait_for(lambda: hls()["bytes"] > sent, "the open lesson is sent live")
    new = h.new_lessons(before, 2, "two lessons")
    for name, entry in zip(new, tt["entries"]):
        j = h.wait_complete(name)
        check(j["title"] == entry["title"] and j["teacher"] == entry["teacher"] and
              j.get("subject") == entry["subject"] and
              j.get("lesson_type") == entry.get("lesson_type", "ordinary") and
              j.get("schedule_uid") == "%s@%s" % (entry["id"], day),
              "%s: the entry's metadata in lesson.json: %s" % (name, {k: j.get(k) for k in (
                  "title", "teacher", "subject", "lesson_type", "schedule_uid")}))
        tags = {k.lower(): v for k, v in ffprobe_json(os.path.join(h.data, name, "program.mp4"),
                                                      "-show_entries", "format_tags")
                .get("format", {}).get("tags", {}).items()}
        check(tags.get("title") == entry["title"] and tags.get("artist") == entry["teacher"] and
              tags.get("genre") == entry["subject"], "%s: the MP4 tags (%s)" % (name, tags))
        root = ET.parse(os.path.join(h.data, name, "episode.xml")).getroot()
        dc = {e.tag.split("}")[1]: e.text for e in root if e.tag.startswith("{" + DCTERMS + "}")}
        check(dc.get("title") == entry["title"] and dc.get("creator") == entry["teacher"] and
              dc.get("subject") == entry["subject"], "%s: episode.xml's dcterms (%s)" % (name, dc))
        dur = duration(h, name)
        print("  %s: %.2f s (period 6 s)" % (name, dur))
        check(abs(dur - 6) <= 1, "%s lasts its period: %.2f s" % (name, dur))
    check(any((e.get("current") or {}).get("title") == "Maths 1" for e in h.events),
          "a schedule event showed Maths 1 as the current lesson")
    check(h.api("DELETE", "/api/v1/timetable").status == 204, "the timetable is removed")


def takeover(h):
    before = h.lesson_dirs()
    r = h.api("POST", "/api/v1/recording", {"action": "start", "title": "manual"})
    check(r.status == 200, "manual start: %d" % r.status)
    h.wait_state(("recording",), "the manual recording")
    r = h.api("POST", "/api/v1/recording", {"action": "extend", "minutes": 5})
    check(r.status == 409, "a manual recording is not extended: %d %s" % (r.status, r.body))
    r = h.api("POST", "/api/v1/recording", {"action": "extend", "minutes": 2.5})
    check(r.status == 400 and "minutes" in r.json()["error"], "minutes 2.5: 400 %s" % r.body)
    t = time.time()
    h.write_feed([("physics-3", t + 2, t + 6, "Physics 3", ["X-LUOBO-TEACHER:Zhao Lei"]),
                  ("history-4", t + 9, t + 600, "History 4", [])])
    wait_for(lambda: "timetable" in h.status()["lesson_flags"], "the entry takes the lesson over")
    check(h.status()["title"] == "Physics 3", "the running lesson's title is the entry's")
    r = h.api("POST", "/api/v1/recording", {"action": "extend", "minutes": 5})
    check(r.status == 200, "extend +5: %d %s" % (r.status, r.body))
    cur = h.schedule()["current"]
    check(cur and cur["title"] == "Physics 3" and abs(cur["record_until_s"] - (int(t) + 9)) <= 1,
          "the extension is capped at the next entry's start (%s)" % (cur or {}).get("record_until_s"))
    check("extended" in h.status()["lesson_flags"], "the lesson is extended")
    # past the entry's end it records on, then the next entry starts
    wait_for(lambda: time.time() > t + 7, "the entry's end")
    check(h.status()["lesson_state"] == "recording" and h.status()["title"] == "Physics 3",
          "the extended lesson records past its entry's end")
    wait_for(lambda: h.status()["title"] == "History 4" and h.status()["lesson_state"] == "recording",
             "the next entry starts where the extension ended")
    r = h.api("POST", "/api/v1/recording", {"action": "stop"})
    check(r.status == 200, "stop early: %d" % r.status)
    h.wait_state(("idle", "scheduled"), "the stopped lesson finished")
    new = h.new_lessons(before, 2, "two lessons")
    check(len(new) == 2, "one folder for the manual recording and its entry, one for the next: %s" % new)
    first = h.wait_complete(new[0])
    check(first["title"] == "Physics 3" and first["teacher"] == "Zhao Lei" and
          first.get("schedule_uid", "").startswith("physics-3@"),
          "the taken-over lesson is the entry's: %s %s" % (first["title"], first.get("schedule_uid")))
    dur = duration(h, new[0])
    print("  %s: %.2f s (manual from -1 s, extension to +9 s)" % (new[0], dur))
    check(dur > 8, "one lesson from the manual start to the extension's end, no cut: %.2f s" % dur)
    time.sleep(2)       # ticks and feed polls pass: the stopped entry must not restart
    check(h.status()["lesson_state"] in ("idle", "scheduled"), "stopped early: not restarted")
    check(len(set(h.lesson_dirs()) - set(before)) == 2, "no new folder after the stop")


def clock_steps(h):
    before = h.lesson_dirs()
    t = time.time()
    h.write_feed([("long-5", t + 300, t + 1200, "Long 5", [])])
    wait_for(lambda: (h.schedule().get("next") or {}).get("title") == "Long 5", "the feed change")
    check(h.status()["lesson_state"] == "scheduled", "armed: " + h.status()["lesson_state"])
    h.set_offset(600)                   # NTP steps the clock +10 min: into the lesson
    wait_for(lambda: h.status()["title"] == "Long 5" and h.status()["lesson_state"] == "recording",
             "stepped into the lesson: it starts at once")
    lid = h.status()["id"]
    h.set_offset(0)                     # and back, -10 min: before its start
    time.sleep(2)
    s = h.status()
    check(s["lesson_state"] == "recording" and s["id"] == lid, "stepped back: the lesson goes on")
    check(len(set(h.lesson_dirs()) - set(before)) == 1, "no second folder")
    r = h.api("POST", "/api/v1/recording", {"action": "stop"})
    check(r.status == 200, "stop early")
    h.wait_state(("idle", "scheduled"), "stopped")
    h.set_offset(600)                   # into it again: it is not started twice
    time.sleep(2)
    check(h.status()["lesson_state"] in ("idle", "scheduled"), "stepped into it again: not restarted")
    check(len(set(h.lesson_dirs()) - set(before)) == 1, "still one folder")
    h.set_offset(0)
    check(any("stepped by +600 s" in line for line in open(h.log.name)), "the step is logged")


def bad_feed(h):
    t = time.time()
    good = feed([("later-6", t + 3600, t + 4000, "Later 6", [])])
    h.write_feed(None, good)
    wait_for(lambda: (h.schedule().get("next") or {}).get("title") == "Later 6", "the feed change")
    h.write_feed(None, good[: len(good) // 2])
    s = wait_for(lambda: h.schedule()["feed"]["state"] == "error" and h.schedule(), "the feed's error")
    print("  feed error: " + s["feed"]["last_error"])
    check(s["feed"]["last_error"], "the error is shown")
    check((s.get("next") or {}).get("title") == "Later 6", "the last good schedule is kept")
    check(any(e["feed"]["state"] == "error" for e in h.events), "a schedule event carries the error")
    h.write_feed(None, good)
    wait_for(lambda: h.schedule()["feed"]["state"] == "ok", "the feed is good again")


def timetable(h):
    r = h.api("GET", "/api/v1/timetable")
    check(r.status == 404, "no timetable yet: %d" % r.status)
    # roles: a viewer reads the schedule, only an operator edits the timetable
    tok = {}
    for role in ("viewer", "teacher"):
        r = h.api("POST", "/api/v1/tokens", {"name": "sched-" + role, "role": role})
        check(r.status == 201, "a %s token: %d" % (role, r.status))
        tok[role] = r.json()["token"]
    as_viewer = ["Authorization: Bearer " + tok["viewer"]]
    check(curl(h.url("/api/v1/schedule"), headers=as_viewer).status == 200, "a viewer reads the schedule")
    check(curl(h.url("/api/v1/timetable"), "PUT", "{}", headers=as_viewer).status == 403,
          "a viewer may not change the timetable")
    check(curl(h.url("/api/v1/timetable"), "PUT", "{}",
               headers=["Authorization: Bearer " + tok["teacher"]]).status == 403,
          "nor a teacher")
    r = curl(h.url("/api/v1/recording"), "POST", {"action": "extend", "minutes": 5},
             headers=["Authorization: Bearer " + tok["teacher"]])
    check(r.status == 409 and "no timetable lesson" in r.json()["error"],
          "a teacher may extend, but no timetable lesson records: %d %s" % (r.status, r.body))
    r = h.api("PUT", "/api/v1/timetable", raw="{not json")
    check(r.status == 400, "malformed: 400 %s" % r.body)
    r = h.api("PUT", "/api/v1/timetable", raw="x" * (1100 * 1024))
    check(r.status == 413, "a body over 1 MiB: %d" % r.status)
    doc = overlapping_timetable()
    if doc is not None:
        r = h.api("PUT", "/api/v1/timetable", raw=json.dumps(doc))
        err = (r.json() or {}).get("error", "")
        print("  overlap: " + err)
        check(r.status == 400 and "entries[0]" in err and "entries[1]" in err,
              "overlapping entries: 400 naming both")
        good = good_timetable()
        r = h.api("PUT", "/api/v1/timetable", raw=json.dumps(good))
        check(r.status == 200, "a good timetable is stored: %d %s" % (r.status, r.body[:300]))
        r = h.api("GET", "/api/v1/timetable")
        check(r.status == 200 and "attachment" in (r.header("content-disposition") or ""),
              "exported as a file")
        check(r.json()["entries"][0]["id"] == "tt-1", "the export is the timetable")
        occ = [o for o in h.schedule()["occurrences"] if o["schedule_uid"].startswith("tt-1@")]
        check(len(occ) == 1 and occ[0]["title"] == "九年级2班 化学" and occ[0]["lesson_type"] == "open"
              and occ[0]["live"], "its lesson is in the schedule: %s" % occ)
        check(os.path.exists(os.path.join(h.data, "timetable.json")), "DATA_DIR/timetable.json")
        r = h.api("DELETE", "/api/v1/timetable")
        check(r.status == 204, "removed: %d" % r.status)


def restart(h):
    # A records by the feed, luobo is stopped (SIGTERM: a service stop, a
    # reboot; a kill -9 takes the same way back, e2e_resume) and starts again with
    # the feed's server down, within resume_window_s while A runs: A goes on
    # in its own folder (one outage) and stops by itself at its end.  B is
    # killed and luobo comes back after B's end: B is repaired, not resumed;
    # C, under way then, records at once from the stored feed.
    la = 7 if SLOW else 6                # A's length: room for a start-up under ASan
    t = time.time()
    a0, a1 = int(t) + 3, int(t) + 3 + la
    b0, b1 = a1 + 1, a1 + 4
    h.write_feed([("crash-a", a0, a1, "Crash A", []), ("crash-b", b0, b1, "Crash B", []),
                  ("mid-7", b1 + 1, b1 + 120, "Mid 7", ["X-LUOBO-TEACHER:Sun Li"])])
    wait_for(lambda: (h.schedule().get("next") or {}).get("title") == "Crash A", "the feed change")
    before = h.lesson_dirs()
    wait_for(lambda: h.status()["title"] == "Crash A" and h.status()["lesson_state"] == "recording",
             "A recording")
    (a,) = h.new_lessons(before, 1, "A's folder")
    prog = os.path.join(h.data, a, "program.mp4")
    wait_for(lambda: os.path.exists(prog) and os.path.getsize(prog) > 0, "A's first fragment")
    check(h.lesson(a)["schedule_end"] == a1, "lesson.json's schedule_end is A's end: %s"
          % h.lesson(a).get("schedule_end"))
    h.stop()
    j = h.lesson(a)
    check(j["status"] == "complete" and j.get("ended_by") == "shutdown", "SIGTERM: A ended by the shutdown: "
          "%s, %s" % (j["status"], j.get("ended_by")))
    done = os.path.join(h.data, ".schedule-done.json")
    done = json.load(open(done)) if os.path.exists(done) else []
    check(not [d for d in done if d["uid"].startswith("crash-a")], "A's entry is not done: %s" % done)
    h.stop_nginx()                      # the feed's server is down when luobo starts again
    h.start(first=False)
    wait_for(lambda: h.status()["lesson_state"] == "recording" and h.status()["title"] == "Crash A" and
             h.status().get("resumed") is True, "A resumed")
    wait_for(lambda: h.finished(a), "A stops at its end by itself, its parts joined", 60)
    j = h.lesson(a)
    dur = duration(h, a)
    print("  %s: resumed, %.2f s (entry %d s), outage %s" % (a, dur, la, j.get("outages")))
    check(len(j.get("outages", [])) == 1, "one outage: %s" % j.get("outages"))
    check(abs(dur - la) <= 1, "A lasts its entry: %.2f s" % dur)
    check(j.get("ended_by") == "stop", "A ended by its entry's end: %s" % j.get("ended_by"))
    # B: killed while it records, back after its end
    wait_for(lambda: h.status()["title"] == "Crash B" and h.status()["lesson_state"] == "recording",
             "B recording")
    (b,) = h.new_lessons(before + [a], 1, "B's folder")
    check(b != a and h.lesson(b)["title"] == "Crash B", "B in a folder of its own")
    prog = os.path.join(h.data, b, "program.mp4")
    wait_for(lambda: os.path.exists(prog) and os.path.getsize(prog) > 0, "B's first fragment")
    h.kill9()
    wait_for(lambda: time.time() > b1 + 1.2, "the end of B and the start of Mid 7")
    h.start(first=False)
    check(h.lesson(b)["status"] == "interrupted", "B repaired, not resumed: %s" % h.lesson(b)["status"])
    check("its timetable entry has ended" in open(h.log.name).read(), "the log says why B is not resumed")
    wait_for(lambda: h.status()["title"] == "Mid 7" and h.status()["lesson_state"] == "recording",
             "started in the middle of an entry: it records at once")
    s = wait_for(lambda: h.schedule()["feed"]["state"] == "error" and h.schedule(), "the feed is down")
    check(s["feed"]["have_schedule"], "the stored feed is kept: " + s["feed"]["last_error"])
    r = h.api("POST", "/api/v1/recording", {"action": "stop"})
    check(r.status == 200, "stop")
    new = h.new_lessons(before + [a, b], 1, "the lesson's folder")
    j = h.wait_complete(new[0])
    check(j["title"] == "Mid 7" and j["teacher"] == "Sun Li", "its metadata")


def today_or_tomorrow(span_s):
    """A time from which span_s seconds stay within one local day."""
    t = time.time()
    if time.localtime(t + span_s).tm_mday != time.localtime(t).tm_mday:
        time.sleep(span_s + 5)
        t = time.time()
    return t


def hms(x):
    return time.strftime("%H:%M:%S", time.localtime(x))


def alerts_of(h, kind):
    return [a for a in h.api("GET", "/api/v1/alerts").json()["alerts"] if a["alert"] == kind]


def done_uids(data):
    path = os.path.join(data, ".schedule-done.json")
    return [d["uid"] for d in json.load(open(path))] if os.path.exists(path) else []


def local_epoch(day, hhmmss):
    return int(time.mktime(time.strptime(day + " " + hhmmss, "%Y-%m-%d %H:%M:%S")))


def failed_start(h):
    t = today_or_tomorrow(90)
    day = time.strftime("%Y-%m-%d", time.localtime(t))
    uid = "retry-9@" + day
    entry = {"id": "retry-9", "date": day, "start": hms(t + 3), "end": hms(t + 80), "title": "Retry 9",
             "lesson_type": "open"}
    end = local_epoch(day, entry["end"])
    r = h.api("PUT", "/api/v1/timetable", raw=json.dumps({"entries": [entry]}))
    check(r.status == 200, "the timetable is stored: %d %s" % (r.status, r.body[:300]))
    # the data folder becomes a file: no lesson folder can be made (as root,
    # permissions would not stop it)
    away = h.data + ".away"
    os.rename(h.data, away)
    try:
        open(h.data, "w").close()
        a = wait_for(lambda: alerts_of(h, "schedule_start_failed"), "the schedule_start_failed alert")[0]
        print("  alert: " + a["message"])
        check(a["subject"] == uid and "Retry 9" in a["message"] and "Not a directory" in a["message"],
              "the alert names the entry and the reason: %s" % a)
        occ = [o for o in h.schedule()["occurrences"] if o["schedule_uid"] == uid]
        check(len(occ) == 1 and occ[0]["state"] == "start_failed" and
              "Not a directory" in occ[0].get("start_error", ""), "the schedule shows the failure: %s" % occ)
        check(uid not in done_uids(away), "the entry is not counted done")
        # a retry may be starting (it fails at the program's next tick): nothing records
        check(h.status()["lesson_state"] != "recording", "nothing records")
    finally:
        os.remove(h.data)
        os.rename(away, h.data)
    st = h.wait_state(("recording",), "the entry retried once the folder is back")
    check(st["title"] == "Retry 9" and time.time() < end, "its lesson records within its time")
    wait_for(lambda: not alerts_of(h, "schedule_start_failed"), "the alert cleared")
    lid = st["id"]
    check(h.lesson(lid)["schedule_end"] == end and st["schedule_end"] == end,
          "schedule_end is the entry's end: %s %s" % (h.lesson(lid).get("schedule_end"), st["schedule_end"]))
    # the timetable moves its end 4 s ahead: lesson.json, the status and the stop follow
    entry["end"] = hms(time.time() + 4)
    new_end = local_epoch(day, entry["end"])
    r = h.api("PUT", "/api/v1/timetable", raw=json.dumps({"entries": [entry]}))
    check(r.status == 200, "the end moved: %d %s" % (r.status, r.body[:300]))
    wait_for(lambda: h.lesson(lid)["schedule_end"] == new_end, "lesson.json's schedule_end moved")
    s = h.status()
    check(s["lesson_state"] != "recording" or s["schedule_end"] == new_end,
          "the status' schedule_end moved: %s" % s.get("schedule_end"))
    j = h.wait_complete(lid)
    check(time.time() < end - 20, "it stopped at the new end, not the old one")
    check(j.get("ended_by") == "stop", "ended by its entry's end: %s" % j.get("ended_by"))
    wait_for(lambda: uid in done_uids(h.data), "the entry done once recorded")
    check(h.api("DELETE", "/api/v1/timetable").status == 204, "the timetable is removed")


def private_start(h):
    def output(pick):
        return [o for o in h.api("GET", "/api/v1/status").json()["outputs"] if pick(o)][0]

    def hls():
        return output(lambda o: o["name"] == "live")

    def archive_bytes():
        return output(lambda o: o["kind"] == "archive")["bytes"]
    r = h.api("POST", "/api/v1/recording", {"action": "start", "title": "Private", "live": "no"})
    check(r.status == 400 and "'live'" in r.json()["error"], "live \"no\": 400 naming it: %d %s"
          % (r.status, r.body))
    wait_for(lambda: hls()["state"] == "live", "the live output carries the program")
    r = h.api("POST", "/api/v1/recording", {"action": "start", "title": "Private", "live": False})
    check(r.status == 200, "start, not live: %d %s" % (r.status, r.body))
    st = h.wait_state(("recording",), "the private lesson")
    check(st["live"] is False, "the status says it is not live: %s" % st.get("live"))
    wait_for(lambda: hls()["state"] == "paused", "the live output paused")
    sent, archived = hls()["bytes"], archive_bytes()
    wait_for(lambda: archive_bytes() > archived + 20000, "the archive records")
    check(hls()["bytes"] == sent, "nothing is sent live while the lesson that is not live records")
    check(h.api("POST", "/api/v1/recording", {"action": "stop"}).status == 200, "stop")
    j = h.wait_complete(st["id"])
    check(j.get("live") is False, "lesson.json says it was not live: %s" % j.get("live"))
    wait_for(lambda: hls()["state"] == "live" and h.status()["live"] is True, "live again after the lesson")


# docs/schedule.md's timetable format
def overlapping_timetable():
    return {"entries": [
        {"id": "maths-a", "weekday": "mon", "start": "08:00", "end": "08:45", "subject": "数学"},
        {"id": "chinese-b", "weekday": "mon", "start": "08:30", "end": "09:15", "subject": "语文"}]}


def good_timetable():
    tomorrow = time.strftime("%Y-%m-%d", time.localtime(time.time() + 86400))
    return {"entries": [
        {"id": "tt-1", "date": tomorrow, "start": "12:00", "end": "12:45", "subject": "化学",
         "grade": "九年级", "class": "2班", "teacher": "周老师", "lesson_type": "公开课"}]}


def config(h):
    """[schedule] errors name the file, the key and the problem (--check-config)."""
    for extra, want in (("ical = http://example.invalid/x.ics\n", "allow_http"),
                        ("ical = ftp://example.invalid/x.ics\n", "a file, or an http(s) URL"),
                        ("timezone = Mars/Olympus\n", "unknown time zone 'Mars/Olympus'"),
                        ("pre_roll_s = -5\n", "pre_roll_s"),
                        ("poll = 5\n", "poll")):
        ini = os.path.join(h.d, "bad.ini")
        with open(ini, "w") as f:
            f.write("[source.cam]\ntype = synthetic\nrole = teacher\n[schedule]\n" + extra)
        p = subprocess.run([LUOBO, "--config", ini, "--check-config"], capture_output=True, text=True)
        err = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ""
        check(p.returncode == 2 and "bad.ini:" in err and "schedule" in err and want in err,
              "%s -> exit 2: %s" % (extra.strip(), err))


CASES = [config, two_lessons, takeover, clock_steps, bad_feed, timetable, failed_start, private_start,
         restart]


def main():
    names = sys.argv[1:] or [c.__name__ for c in CASES]
    failed = 0
    with Scratch("schedule") as d:
        h = Hall(d)
        try:
            h.start_nginx()
            h.start()
            f = wait_for(lambda: h.schedule()["feed"]["state"] not in ("waiting", "none") and
                         h.schedule()["feed"], "the first read of the feed")
            if "not supported" in (f["last_error"] or ""):
                print("note: this luobo does not parse iCal feeds yet (%s): only the timetable's "
                      "cases run" % f["last_error"])
                names = [n for n in names if n in ("config", "two_lessons", "timetable")]
            for c in CASES:
                if c.__name__ not in names:
                    continue
                t0 = time.monotonic()
                try:
                    c(h)
                    print("PASS %s (%.0f s)" % (c.__name__, time.monotonic() - t0))
                except Failure as e:
                    failed += 1
                    print("FAIL %s: %s" % (c.__name__, e))
                    if h.proc.poll() is not None:
                        break
        finally:
            try:
                h.stop()
            except Failure as e:
                failed += 1
                print("FAIL stop: %s" % e)
            h.stop_nginx()
            if failed:
                print(open(os.path.join(d, "luobo.log")).read()[-6000:])
    print("%d failed" % failed)
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
