"""Power-cut durability of a recording, seen from outside the daemon.

  syscalls  a paced recording of the demo classroom (640x360; program, four
            ISO cameras, two mics' files; an upload output whose origin is
            down, so that its queue file is written) under
            `strace -f -e trace=openat,write,fdatasync,fsync,rename`:
            - every fragment written to program.mp4, iso/*.mp4, audio/*.m4a
              is covered by an fdatasync of that file that ends before the
              fragment after the next one is written (so within about one
              fragment, <= 1 s, of media time), by a thread that is not the
              one writing (the archive thread never waits for the disk);
            - each file's folder (and iso/, audio/ in the lesson folder) is
              fsynced after the file was created and before its first
              fdatasync;
            - lesson.json, .upload-queue and upload.json are only ever
              replaced by rename from a temp file that was fsynced first,
              and the folder is fsynced after the rename;
            - director.jsonl is fdatasynced, at most once a second.
  kill9     the same recording, lesson.json read in a loop the whole time
            (it is rewritten when a chapter comes): every read parses; kill
            -9 after the chapter; lesson.json parses and says "recording",
            program.mp4 decodes with no error past the chapter; the next
            start repairs it ("interrupted", the real duration).

strace stops LeakSanitizer (it cannot run under ptrace): leak checks are off
for the traced daemon only.
"""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from lbtest import (LUOBO, Scratch, check, decode_errors, demo_config, ffprobe_json,  # noqa: E402
                    free_port, lessons, load_lesson, main, run_luobo, write_config)

ARCHIVE_FILES = ("program.mp4", "iso/teacher.mp4", "iso/students.mp4", "iso/board.mp4",
                 "iso/screen.mp4", "audio/teacher.m4a", "audio/students.m4a")


def config(tmp, data, extra=""):
    # an origin that refuses: the lesson is queued for upload and stays queued
    return demo_config(data, 0, replace={"width = 1920": "width = 640",
                                         "height = 1080": "height = 360"},
                       extra="\n[output.up]\ntype = upload\nurl = http://127.0.0.1:%d/\nallow_http = true\n"
                       % free_port() + extra)


# ---- strace's log ----

LINE = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+) (.*)$")
DUR = re.compile(r"<(\d+\.\d+)>$")
CALL = re.compile(r"^(\w+)\((.*)$")
FD = re.compile(r"^(\d+)<([^>]*)>")


class Call:
    def __init__(self, pid, name, args, start):
        self.pid, self.name, self.args, self.start = pid, name, args, start
        self.end = None
        self.ret = None
        m = FD.match(args)
        self.fd, self.path = (int(m.group(1)), m.group(2)) if m else (None, None)

    def __repr__(self):
        return "%s %s(%s) %.3f-%.3f" % (self.pid, self.name, (self.path or self.args)[:80],
                                         self.start, self.end or -1)


def parse_strace(path):
    """Every traced call in order of entry, with start and end times (s)."""
    calls, pending = [], {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line.rstrip("\n"))
            if not m:
                continue
            pid = int(m.group(1))
            t = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
            rest = m.group(5)
            if rest.startswith("<... "):
                c = pending.pop(pid, None)
                if c:
                    c.end = t
                    c.ret = rest.split(") = ", 1)[-1].split(" ")[0]
                continue
            cm = CALL.match(rest)
            if not cm:
                continue                     # signals, exits
            c = Call(pid, cm.group(1), cm.group(2), t)
            calls.append(c)
            if rest.endswith("<unfinished ...>"):
                pending[pid] = c
            else:
                d = DUR.search(rest)
                c.end = t + (float(d.group(1)) if d else 0)
                c.ret = rest.rsplit(") = ", 1)[-1].split(" ")[0]
    return calls


def fragments(calls, path):
    """Bursts of writes to path: [(first write, last write)]; a new burst
    after 0.15 s without a write (fragments come about 1 s apart)."""
    out = []
    for c in calls:
        if c.name in ("write", "pwrite64") and c.path == path:
            if out and c.start - out[-1][1].start < 0.15:
                out[-1] = (out[-1][0], c)
            else:
                out.append((c, c))
    return out


def test_syscalls():
    with Scratch("durable-strace") as tmp:
        data = os.path.join(tmp, "data")
        cfg = write_config(tmp, config(tmp, data))
        log = os.path.join(tmp, "strace.log")
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
        p = subprocess.run(["strace", "-f", "--seccomp-bpf", "-qq", "-tt", "-T", "-y", "-o", log,
                            "-e", "trace=openat,write,pwrite64,fdatasync,fsync,rename",
                            LUOBO, "--config", cfg, "--record", "--duration", "10"],
                           env=env, capture_output=True, text=True, timeout=300)
        check(p.returncode == 0, "luobo under strace exited %d: %s" % (p.returncode, p.stderr[-2000:]))
        found = lessons(data)
        check(len(found) == 1, "one lesson")
        lesson = os.path.realpath(found[0])
        calls = parse_strace(log)
        check(calls, "strace logged calls")

        # every archive file: fragments followed by an fdatasync of it
        for name in ARCHIVE_FILES:
            path = os.path.join(lesson, name)
            check(os.path.exists(path), "%s exists" % name)
            frags = fragments(calls, path)
            syncs = [c for c in calls if c.name == "fdatasync" and c.path == path and c.ret == "0"]
            final = [c for c in calls if c.name == "fsync" and c.path == path]
            check(len(frags) >= 5, "%s: %d fragments written" % (name, len(frags)))
            check(final, "%s: fsynced when finished" % name)
            writers = {f[0].pid for f in frags}
            check(not writers & {s.pid for s in syncs},
                  "%s: fdatasync on a thread other than the writer's" % name)
            delays = []
            for k, (first, last) in enumerate(frags):
                if last.start > final[0].start:
                    continue                 # the trailer: the final fsync covers it
                covering = [s for s in syncs if s.start >= last.end]
                limit = frags[k + 2][0].start if k + 2 < len(frags) else final[0].start
                ok = covering and covering[0].end is not None and covering[0].end <= limit
                if not ok and k + 2 >= len(frags):
                    # the last fragments: the final fsync may cover them
                    ok = final[0].start >= last.end
                check(ok, "%s: fragment %d (written %.3f) not fdatasynced before the fragment "
                      "after the next one (%.3f); syncs %s" % (name, k, last.end, limit, syncs[:3]))
                if covering:
                    delays.append(covering[0].end - last.end)
            delays.sort()
            print("%-18s %3d fragments, %3d fdatasync, write -> durable p50 %.0f ms, max %.0f ms"
                  % (name, len(frags), len(syncs), 1000 * delays[len(delays) // 2],
                     1000 * delays[-1]))

            # the new entries are durable before the first fdatasync
            created = [c for c in calls if c.name == "openat" and c.args.split(",")[1].strip()
                       == '"%s"' % path and "O_CREAT" in c.args]
            check(created, "%s: openat with O_CREAT seen" % name)
            levels = [os.path.dirname(path)] + ([lesson] if "/" in name else [])
            for d in levels:
                dir_syncs = [c for c in calls if c.name == "fsync" and c.path == d
                             and c.start >= created[0].end and c.end <= syncs[0].start]
                check(dir_syncs, "%s: folder %s fsynced between the file's creation and its "
                      "first fdatasync" % (name, d))

        # state files: temp file fsynced, renamed, folder fsynced
        for target in (os.path.join(lesson, "lesson.json"), os.path.join(lesson, "upload.json"),
                       os.path.join(os.path.realpath(data), ".upload-queue")):
            tmpname = target + ".tmp"
            renames = [c for c in calls if c.name == "rename" and
                       ('"%s"' % target) in c.args.split(", ")[-1]]
            check(renames, "%s replaced by rename" % os.path.basename(target))
            for r in renames:
                check(r.args.startswith('"%s"' % tmpname),
                      "%s renamed from its temp file (%s)" % (target, r.args[:200]))
                before = [c for c in calls if c.pid == r.pid and c.start <= r.start]
                opened = [c for c in before if c.name == "openat" and ('"%s"' % tmpname) in c.args]
                check(opened, "%s: temp file opened before the rename" % target)
                fsyncs = [c for c in before if c.name == "fsync" and c.path == tmpname and
                          c.start >= opened[-1].start and c.end <= r.start and c.ret == "0"]
                check(fsyncs, "%s: temp file fsynced before the rename" % target)
                after = [c for c in calls if c.pid == r.pid and c.start >= r.end and
                         c.name == "fsync" and c.path == os.path.dirname(target)]
                check(after, "%s: folder fsynced after the rename" % target)
            print("%-18s %d atomic replacements" % (os.path.basename(target), len(renames)))
        # nothing else writes these files in place
        for c in calls:
            if c.name == "openat" and "O_CREAT" in c.args and re.search(
                    r'/(lesson\.json|upload\.json|\.upload-queue)"', c.args):
                check(False, "a state file opened for writing in place: %s" % c)

        # director.jsonl: fdatasync, at most once a second
        dpath = os.path.join(lesson, "director.jsonl")
        dsyncs = [c for c in calls if c.name == "fdatasync" and c.path == dpath]
        check(dsyncs, "director.jsonl fdatasynced")
        # the close may sync twice without waiting (the syncer's last sync of
        # what is dirty when it stops, then lb_lesson_finish's own): the
        # spacing is that of the syncs before those two
        spaced = [b.start - a.start for a, b in zip(dsyncs[:-2], dsyncs[1:-2])]
        check(all(gap >= 0.95 for gap in spaced),
              "director.jsonl fdatasynced at most once a second: %s" % spaced)
        print("director.jsonl     %d fdatasync" % len(dsyncs))


def test_kill9():
    with Scratch("durable-kill") as tmp:
        data = os.path.join(tmp, "data")
        port = free_port()
        # resume_window_s = 0: the next start repairs, never resumes
        cfg = write_config(tmp, config(tmp, data).replace("http_port = 0", "http_port = %d" % port)
                           .replace("[general]\n", "[general]\nresume_window_s = 0\n"))
        reads = {"ok": 0, "bad": [], "versions": set(), "stop": False, "lesson": None}

        def reader():
            while not reads["stop"]:
                if not reads["lesson"]:
                    found = lessons(data) if os.path.isdir(data) else []
                    if not found:
                        time.sleep(0.01)
                        continue
                    reads["lesson"] = found[0]
                try:
                    with open(os.path.join(reads["lesson"], "lesson.json"), "rb") as f:
                        text = f.read()
                except FileNotFoundError:
                    reads["bad"].append("missing")
                    continue
                try:
                    json.loads(text)
                    reads["ok"] += 1
                    reads["versions"].add(text)
                except ValueError as e:
                    reads["bad"].append("%s: %r" % (e, text[:200]))
                time.sleep(0.002)

        proc = subprocess.Popen([LUOBO, "--config", cfg, "--record", "--duration", "120"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        th = threading.Thread(target=reader)
        th.start()
        try:
            # the demo's slides change at 15 s: a chapter, lesson.json rewritten
            deadline = time.monotonic() + 180
            chapter = None
            while time.monotonic() < deadline and proc.poll() is None and chapter is None:
                time.sleep(0.2)
                if reads["lesson"]:
                    try:
                        chapters = load_lesson(reads["lesson"])["chapters"]
                        chapter = chapters[0]["t"] if chapters else None
                    except (OSError, ValueError):
                        pass
            check(chapter is not None, "a chapter was written while recording")
            time.sleep(1.5)
            check(proc.poll() is None, "luobo still recording")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            time.sleep(0.2)
            reads["stop"] = True
            th.join()
        print("lesson.json read %d times while recording, %d versions, %d bad"
              % (reads["ok"], len(reads["versions"]), len(reads["bad"])))
        check(not reads["bad"], "every read of lesson.json parses: %s" % reads["bad"][:3])
        check(len(reads["versions"]) >= 2, "lesson.json was rewritten while being read")
        lesson = reads["lesson"]
        lj = load_lesson(lesson)
        check(lj["status"] == "recording", "still 'recording' after the kill")
        prog = os.path.join(lesson, "program.mp4")
        frames = ffprobe_json(prog, "-select_streams", "v:0", "-show_entries",
                              "frame=pts_time")["frames"]
        end = max(float(f["pts_time"]) for f in frames) + 1 / 30
        print("killed: program.mp4 decodes %d frames up to %.2f s (chapter at %.2f s)"
              % (len(frames), end, chapter))
        check(end >= chapter, "program.mp4 holds the lesson up to the chapter")
        err = decode_errors(prog)
        check(not err, "program.mp4 decodes cleanly: %s" % err[:300])
        run_luobo(["--config", cfg, "--duration", "0.5"])
        lj = load_lesson(lesson)
        check(lj["status"] == "interrupted", "repaired: interrupted")
        check(abs(lj["duration_s"] - end) < 0.1,
              "repaired duration_s %.2f is the file's (%.2f)" % (lj["duration_s"], end))
        check(not decode_errors(prog), "program.mp4 still decodes after the repair")


if __name__ == "__main__":
    main({"syscalls": test_syscalls, "kill9": test_kill9})
