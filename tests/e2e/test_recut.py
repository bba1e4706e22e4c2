"""Issue #20: luobo recut re-makes a lesson's program from iso/ and director.jsonl.

One short offline lesson (12 s, 320x180) from four H.264 camera files (the
demo classroom's scenes, sped up, made by ffmpeg's lavfi), so the cameras are
stream-copied into iso/; then:
  - recut with the unedited log: the same frames at the same times as the
    live program, PSNR >= 40 dB on average, the program audio packet for
    packet, program.mp4 untouched, lesson.json lists both versions;
  - recut with an edited log (one shot changed): only the frames of that
    shot differ (per-frame PSNR), the rest match;
  - --redirect with another weight: other decisions, the same in two runs;
  - a missing ISO file, a torn one, bad options, a hostile header (bad mic
    and source names, a config section that is no object, a value or a
    --set with a new line): clear errors naming them.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from lbtest import *  # noqa: E402,F401,F403

SECONDS = 12
W, H = 320, 180

# the demo classroom's scenes (capture/synthetic.c), faster: the teacher walks
# (8 s period), a student stands 4-8 s, the slide changes at 6 s, the board
# is written on from 2 s
SCENES = {
    "teacher": "color=c=0x4a5560:s=320x180:r=30[bg];color=c=0x2d3a2d:s=256x60:r=30[board];"
               "color=c=0xe0b080:s=32x90:r=30[fig];[bg][board]overlay=x=W/10:y=H/12:format=yuv420[room];"
               "[room][fig]overlay=x='W/2-w/2+W/3*sin(2*PI*t/8)':y=H/3:eval=frame:format=yuv420",
    "students": "color=c=0x5a4a3a:s=320x180:r=30,drawgrid=w=iw/8:h=ih/4:t=6:c=0x806040,"
                "drawbox=x=iw*5/8:y=ih/4:w=iw/8:h=ih/2:c=0xf0c090:t=fill:enable='between(t,4,8)'",
    "board": "color=c=0x203a28:s=320x180:r=30," + ",".join(
        "drawbox=x=iw*%d/20:y=ih*%d/10:w=iw*%d/40:h=6:c=white:t=fill:enable='gte(t,%g)'"
        % (2 + (i % 2) * 8, 2 + i, 4 + i % 3, 2 + 0.5 * i) for i in range(8)),
    "screen": "color=c=0xf4f4f0:s=320x180:r=30,drawbox=x=0:y=0:w=iw:h=ih/7:c=0x1f3a93:t=fill,"
              "drawbox=x=iw/10:y=ih/3:w=iw/3:h=ih/3:c=0xc0392b:t=fill:enable='lt(t,6)',"
              "drawbox=x=iw/2:y=ih/3:w=iw/3:h=ih/3:c=0x27ae60:t=fill:enable='gte(t,6)'",
}


def make_cameras(tmp):
    files = {}
    for cam, graph in SCENES.items():
        files[cam] = os.path.join(tmp, cam + ".mp4")
        subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", graph, "-t", str(SECONDS + 2),
                        "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "30",
                        "-pix_fmt", "yuv420p", files[cam]], check=True)
    return files


def lesson_config(tmp, files):
    data = os.path.join(tmp, "data")
    text = "[general]\ndata_dir = %s\nhttp_port = 0\nwidth = %d\nheight = %d\n\n" % (data, W, H)
    for cam, path in files.items():
        text += "[source.%s]\ntype = url\nrole = %s\nurl = %s\n\n" % (cam, cam, path)
    text += ("[mic.teacher]\ntype = synthetic\nrole = teacher\nfrequency_hz = 440\nspeaks = 0-40\n\n"
             "[mic.students]\ntype = synthetic\nrole = students\nfrequency_hz = 660\nspeaks = 5-8\n\n"
             "[director]\nmode = auto\nvcam = teacher\ndissolve_ms = 200\nmin_shot_s = 1.5\n"
             "min_shot_event_s = 1\ncutaway_s = 2\nmax_shot_s = 5\n\n"
             "[encoder]\npreset = ultrafast\nbitrate_kbps = 1500\nkeyint_s = 2\n")
    return data, write_config(tmp, text)


def recut(args, rc=0):
    p = subprocess.run([LUOBO, "recut"] + args, capture_output=True, text=True, timeout=600)
    if rc is not None and p.returncode != rc:
        sys.stderr.write(p.stderr[-3000:])
        raise Failure("luobo recut %s exited %d, expected %d" % (" ".join(args), p.returncode, rc))
    return p


def frame_times(path):
    data = ffprobe_json(path, "-select_streams", "v:0", "-show_entries", "frame=pts_time")
    return [f["pts_time"] for f in data["frames"]]


def psnr_frames(a, b):
    """Per-frame PSNR (Y, U, V together) of b against a, from ffmpeg's psnr filter."""
    stats = a + ".psnr.log"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", a, "-i", b, "-lavfi",
                    "[0:v][1:v]psnr=stats_file=%s" % stats, "-f", "null", "-"], check=True)
    out = []
    for line in open(stats):
        m = re.search(r"psnr_avg:(\S+)", line)
        out.append(100.0 if m.group(1) == "inf" else float(m.group(1)))
    os.remove(stats)
    return out


def audio_md5s(path):
    p = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", path, "-map", "0:a", "-c", "copy",
                        "-f", "framemd5", "-"], capture_output=True, text=True, check=True)
    return [line for line in p.stdout.splitlines() if line and not line.startswith("#")]


def md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def decisions(path):
    """(t, sources, layout) of every decision of a log (pan keyframes left out)."""
    out = []
    for line in open(path):
        if line.strip():
            d = json.loads(line)
            if not d.get("pan"):
                out.append((d["t"], tuple(d["sources"]), d["layout"]))
    return out


def test_recut():
    with Scratch("recut") as tmp:
        data, cfg = lesson_config(tmp, make_cameras(tmp))
        run_luobo(["--config", cfg, "--record", "--offline", "--duration", str(SECONDS)])
        lesson = lessons(data)[0]
        program = os.path.join(lesson, "program.mp4")
        live_md5 = md5(program)
        log = os.path.join(lesson, "director.jsonl")
        lines = [json.loads(x) for x in open(log) if x.strip()]

        # the log: every line keeps the contract's keys; the first carries the header
        for d in lines:
            check(all(k in d for k in ("t", "shot", "layout", "sources", "reason")), "contract keys in %s" % d)
        head = lines[0]
        check(head.get("v") == 2 and head["program"]["width"] == W and head["program"]["fps_num"] == 30 and
              [s["name"] for s in head["program"]["sources"]] == list(SCENES) and
              head["program"]["config"]["director"]["dissolve_ms"] == "200" and "t0_us" in head,
              "header %s" % {k: head.get(k) for k in ("v", "program", "t0_us")})
        cuts = decisions(log)
        pans = [d for d in lines if d.get("pan")]
        check(len(cuts) >= 3 and len(set(c[1] for c in cuts)) >= 2, "decisions %s" % cuts)
        check(pans and all(d["crop"][d["sources"].index(head["program"]["vcam"]["source"])] == "vcam"
                           and "tx" in d["vcam"] for d in pans), "pan keyframes carry the virtual camera")
        print("log: %d lines, %d decisions, %d pan keyframes" % (len(lines), len(cuts), len(pans)))

        # 1. the unedited log: the live program again
        p = recut([lesson, "--offline"])
        out1 = p.stdout.strip()
        check(os.path.basename(out1) == "program.recut-1.mp4" and os.path.exists(out1), "output %r" % out1)
        check(re.search(r"\d+(\.\d)? of 12\.0 s \(100%\)", p.stderr), "progress on the terminal: %s" % p.stderr)
        speed = float(re.search(r"([\d.]+)x real time\)", p.stderr).group(1))
        live_t, cut_t = frame_times(program), frame_times(out1)
        check(len(live_t) == len(cut_t) == SECONDS * 30 and live_t == cut_t,
              "frames %d vs %d, same times: %s" % (len(live_t), len(cut_t), live_t == cut_t))
        psnr = psnr_frames(program, out1)
        avg = sum(psnr) / len(psnr)
        check(avg >= 40, "PSNR against the live program %.2f dB (min %.2f)" % (avg, min(psnr)))
        # an ISO file starts at its camera's first key frame in the lesson (up to a
        # GOP in): from the last one's on, every frame is the live one's
        iso_start = max(float(streams(os.path.join(lesson, "iso", c + ".mp4"))["streams"][0]["start_time"])
                        for c in SCENES)
        after = [psnr[i] for i in range(len(psnr)) if float(live_t[i]) >= iso_start]
        check(iso_start <= 1.001 and min(after) >= 40, "from %.3f s on every frame matches: min %.2f dB" % (
            iso_start, min(after)))
        check(audio_md5s(program) == audio_md5s(out1), "the program audio, packet for packet")
        chapters = lambda path: [(c["start_time"], c["end_time"], c.get("tags", {}).get("title"))  # noqa: E731
                                 for c in ffprobe_json(path, "-show_chapters")["chapters"]]
        tags = lambda path: ffprobe_json(path, "-show_format")["format"].get("tags", {})  # noqa: E731
        check(chapters(out1) == chapters(program) and chapters(out1), "the lesson's chapters, as program.mp4's: %s / %s"
              % (chapters(out1), chapters(program)))
        check(tags(out1).get("title") == tags(program).get("title") and tags(out1).get("title"),
              "the lesson's tags: %s" % tags(out1))
        check(md5(program) == live_md5, "program.mp4 untouched")
        check(decode_errors(out1) == "", "the re-cut decodes cleanly")
        versions = load_lesson(lesson)["versions"]
        check([v["file"] for v in versions] == ["program.mp4", "program.recut-1.mp4"] and
              versions[1]["kind"] == "recut" and versions[1]["log"] == "director.jsonl", "versions %s" % versions)
        print("recut: %d frames, PSNR %.2f dB average (min %.2f; %.2f from %.3f s), %.1fx real time" % (
            len(cut_t), avg, min(psnr), min(after), iso_start, speed))

        # 2. an edited log: one shot shows another camera
        k = next(i for i in range(1, len(cuts) - 1) if "board" not in cuts[i][1] and cuts[i + 1][0] - cuts[i][0] >= 1)
        t_from, t_to = cuts[k][0], cuts[k + 1][0]
        edited = os.path.join(tmp, "edited.jsonl")
        with open(edited, "w") as f:
            for d in lines:
                if t_from <= d["t"] < t_to:
                    if d.get("pan"):
                        continue
                    d = {"t": d["t"], "shot": "board", "layout": "single", "sources": ["board"],
                         "reason": "operator: the board, not %s" % d["shot"]}
                f.write(json.dumps(d) + "\n")
        out2 = recut([lesson, "--log", edited, "--quiet"]).stdout.strip()
        check(os.path.basename(out2) == "program.recut-2.mp4", "second version %s" % out2)
        check(frame_times(out2) == live_t, "edited: the same frame times")
        per = psnr_frames(program, out2)
        # the first frames of the range dissolve (200 ms) from the shot before, in both
        inside = [per[i] for i in range(len(per)) if t_from + 0.25 <= float(live_t[i]) < t_to]
        # a dissolve (200 ms) follows each cut; the encoder settles within a GOP after the change
        outside = [per[i] for i in range(len(per)) if float(live_t[i]) >= iso_start and
                   (float(live_t[i]) < t_from - 0.001 or float(live_t[i]) >= t_to + 0.25)]
        check(inside and max(inside) < 25, "edited shot %.3f-%.3f s differs: max PSNR %.2f dB" % (
            t_from, t_to, max(inside)))
        check(min(outside) >= 30 and sum(outside) / len(outside) >= 40,
              "outside the edit the frames match: min %.2f, average %.2f dB" % (min(outside), sum(outside) / len(outside)))
        check(open(os.path.join(lesson, "director.recut-2.jsonl")).read() == open(edited).read(),
              "the edited log is kept beside its version")
        print("edited %.3f-%.3f s: inside max %.2f dB, outside min %.2f dB" % (t_from, t_to, max(inside), min(outside)))

        # 3. the director again, with another weight: other decisions, deterministically
        runs = []
        for _ in range(2):
            out = recut([lesson, "--redirect", "--set", "director.weight_idle=1", "--quiet"]).stdout.strip()
            n = re.search(r"recut-(\d+)\.mp4$", out).group(1)
            runs.append(os.path.join(lesson, "director.recut-%s.jsonl" % n))
            check(len(frame_times(out)) == len(live_t), "redirect: every frame")
        check(open(runs[0]).read() == open(runs[1]).read(), "two --redirect runs decide alike")
        again = decisions(runs[0])
        # idle (the teacher) outweighs every rule: no board, no students close-up, only the
        # cutaway that max_shot_s forces
        check(again != cuts and again[0][1] == ("teacher",) and
              not [s for _, s, _ in again if "board" in s or "students" in s],
              "weight_idle = 1: the teacher but for cutaways (%s), not the live decisions (%s)" % (again, cuts))
        head2 = json.loads(open(runs[0]).readline())
        check(head2["program"]["config"]["director"]["weight_idle"] == "1", "the new log records the setting")
        versions = load_lesson(lesson)["versions"]
        check(versions[-1]["kind"] == "redirect" and versions[-1]["set"] == ["director.weight_idle=1"],
              "versions %s" % versions[-1])

        # 4. bad lessons and options: clear errors
        broken = os.path.join(tmp, "broken")
        shutil.copytree(lesson, broken)
        os.remove(os.path.join(broken, "iso", "screen.mp4"))
        p = recut([broken], rc=1)
        check("iso/screen.mp4: missing" in p.stderr, "missing ISO named: %s" % p.stderr)
        shutil.copy(os.path.join(lesson, "iso", "screen.mp4"), os.path.join(broken, "iso", "screen.mp4"))
        torn = os.path.join(broken, "iso", "students.mp4")
        size = os.path.getsize(torn)
        with open(torn, "r+b") as f:
            f.truncate(size // 3)
        p = recut([broken], rc=1)
        check("iso/students.mp4" in p.stderr and ("interrupted" in p.stderr or "cannot open" in p.stderr),
              "torn ISO named: %s" % p.stderr)
        check(not [f for f in os.listdir(broken) if "recut" in f and "jsonl" not in f and f.endswith(".mp4")
                   and f not in os.listdir(lesson)], "nothing written for a broken lesson")
        p = recut([lesson, "--set", "director.weight_idle=1"], rc=2)
        check("--redirect" in p.stderr, "--set without --redirect: %s" % p.stderr)
        p = recut([lesson, "--redirect", "--set", "director.no_such_key=1"], rc=2)
        check("no_such_key" in p.stderr, "unknown key named: %s" % p.stderr)
        # a hostile header (director.jsonl's first line): names checked as the
        # config's, objects where objects belong, no control characters in
        # values (a new line would be a setting of its own); refused before
        # any media is read, naming the log and its line
        with open(os.path.join(lesson, "director.jsonl")) as f:
            first, rest = f.read().split("\n", 1)
        badhead = os.path.join(tmp, "badhead")
        os.mkdir(badhead)
        shutil.copy(os.path.join(lesson, "lesson.json"), badhead)

        def header_case(edit, args, want):
            h = json.loads(first)
            edit(h["program"])
            with open(os.path.join(badhead, "director.jsonl"), "w") as f:
                f.write(json.dumps(h) + "\n" + rest)
            p = recut([badhead] + args, rc=1)
            check("director.jsonl:1: " in p.stderr and want in p.stderr, "%s: %s" % (want, p.stderr))
        header_case(lambda pr: pr["mics"][0].update(name="m" * 200), ["--redirect"],
                    "the header's mic 1 has no valid name")
        header_case(lambda pr: pr["sources"][0].update(name="teacher\n"), [], "source 1 has no valid name")
        header_case(lambda pr: pr["config"].update(director=["x"]),
                    ["--redirect", "--set", "director.weight_idle=1"], "config \"director\" is not an object")
        header_case(lambda pr: pr["config"]["director"].update(mode="auto\n[general]\nlog_level = debug"), [],
                    "free of control characters")
        with open(os.path.join(badhead, "director.jsonl"), "w") as f:
            f.write(first + "\n" + rest)
        p = recut([badhead, "--redirect", "--set", "director.weight_idle=1\nmode=manual"], rc=None)
        check(p.returncode != 0 and "--set 1: a control character" in p.stderr, "--set with a new line: %s" % p.stderr)
        p = recut([os.path.join(tmp, "nowhere")], rc=1)
        check("lesson.json" in p.stderr, "no lesson: %s" % p.stderr)
        check(md5(program) == live_md5, "program.mp4 still untouched")


if __name__ == "__main__":
    sys.exit(main({"recut": test_recut}))
