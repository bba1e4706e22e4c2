#!/usr/bin/env python3
"""Renders a scenario of scenarios.py to files, as cameras and mics would
deliver them: one H.264 file per camera (640x360, 15 fps, with sensor-like
noise and the burned-in name and timecode of the demo classroom), one WAV
per mic (espeak-ng speech in Mandarin and English with pauses, over room
noise, each voice leaking into the other mic 20 dB down: speech.py), a luobo.ini that describes
the hall as url sources, and scenario.json with the script and the truth.

Usage: gen.py NAME OUTDIR
A finished OUTDIR (same script, same generator) is reused as it is.
"""
import hashlib
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seeds  # noqa: E402
import speech  # noqa: E402
from scenarios import FPS, H, SCENARIOS, W, ZONES  # noqa: E402

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def spans(expr_spans):
    if not expr_spans:
        return "0"
    return "+".join("between(t,%g,%g)" % (a, b) for a, b in expr_spans)


def label(name):
    if not os.path.exists(FONT):
        return ""
    return (",drawtext=fontfile=%s:fontsize=h/20:fontcolor=white:box=1:boxcolor=black@0.6:"
            "boxborderw=4:x=w/40:y=h/30:text='%s',"
            "drawtext=fontfile=%s:fontsize=h/20:fontcolor=yellow:box=1:boxcolor=black@0.6:"
            "boxborderw=4:x=w-tw-w/40:y=h/30:text='%%{pts\\:hms}'" % (FONT, name, FONT))


def color(c, w, h, d):
    return "color=c=%s:s=%dx%d:r=%d:d=%g" % (c, w, h, FPS, d)


def finish(name, sc):
    # sensor noise, and the camera's exposure breathing (a slow brightness
    # swing) for the lessons that ask for harsh cameras; the room's lights
    # switched (a step in brightness at a time) on the cameras listed
    noise, swing = sc.get("camera", (3, 0))
    if sc.get("small") and name == "screen":
        # the seeded lessons take the screen from the computer's output (a
        # capture card): no exposure to breathe
        swing = 0
    bright = ["%g*sin(2*PI*t/7)" % swing] if swing else []
    bright += ["%g*gte(t,%g)" % (step, t) for cam, t, step in sc.get("lights", []) if cam == name]
    eq = "eq=brightness='%s':eval=frame," % "+".join(bright) if bright else ""
    if sc.get("small"):
        # the seeded lessons: a quarter of the pixels to render, encode and
        # decode (the analysis works on 160 pixels wide anyway)
        eq = "scale=%d:%d," % (W // 2, H // 2) + eq
    return "%snoise=alls=%d:allf=t:all_seed=42%s,format=yuv420p" % (eq, noise, label(name))


def teacher_graph(sc, d):
    # the teacher leaves the podium camera's picture while at the board
    away = sc.get("teacher_away", [])
    enable = ":enable='not(%s)'" % spans(away) if away else ""
    return ("%s[bg];%s[board];%s[fig];"
            "[bg][board]overlay=x=64:y=30[room];"
            "[room][fig]overlay=x='W/2-w/2+W/4*sin(2*PI*t/23)':y=H/3:eval=frame%s,%s"
            % (color("0x4a5560", W, H, d), color("0x2d3a2d", 512, 120, d),
               color("0xe0b080", 64, 180, d), enable, finish("teacher", sc)))


def seats():
    return [(40 + col * 75, 150 + row * 60) for row in range(3) for col in range(8)]


def students_graph(sc, d):
    g = color("0x5a4a3a", W, H, d) + "[bg];"
    boxes = ",".join("drawbox=x=%d:y=%d:w=24:h=24:c=0xc09070:t=fill" % s for s in seats())
    # col: the seat's column, 0..7; below 0 or over 7 towards the edges
    for a, b, col in sc["stands"]:
        x = int(40 + col * 75 - 13)
        boxes += ",drawbox=x=%d:y=60:w=50:h=150:c=0xf0c090:t=fill:enable='between(t,%g,%g)'" % (x, a, b)
    g += "[bg]%s[room]" % boxes
    last = "room"
    if sc.get("fidget"):
        # students writing: small, low-contrast movements here and there
        for k, (x, y) in enumerate(seats()[::5]):
            g += (";%s[f%d];[%s][f%d]overlay=x='%d+6*sin(2*PI*t*%g)':y=%d:eval=frame[r%d]"
                  % (color("0x6a5a48", 20, 14, d), k, last, k, x, 0.3 + 0.1 * k, y + 26, k))
            last = "r%d" % k
    return g + ";[%s]%s" % (last, finish("students", sc))


def board_graph(sc, d):
    g = color("0x203a28", W, H, d)
    for s in sc["strokes"]:
        until = s["until"] if s["until"] is not None else d + 1
        g += ",drawbox=x=%d:y=%d:w=%d:h=3:c=0xe8e8e8:t=fill:enable='between(t,%g,%g)'" % (
            s["x"], s["y"], s["w"], s["t"], until)
    g += "[b0]"
    last = "b0"
    for k, (a, b, x0, x1) in enumerate(sc["board_figures"]):
        walking = abs(x1 - x0) > 200
        sway = "" if walking or x0 == x1 else "+15*sin(2*PI*0.5*t)"
        g += (";%s[fg%d];[%s][fg%d]overlay=x='%g+(%g)*(t-%g)/%g%s':y=120:eval=frame:"
              "enable='between(t,%g,%g)'[b%d]"
              % (color("0xe0b080", 64, 220, d), k, last, k, x0, x1 - x0, a, b - a, sway, a, b, k + 1))
        last = "b%d" % (k + 1)
    return g + ";[%s]%s" % (last, finish("board", sc))


def screen_graph(sc, d):
    starts = [0] + list(sc["slides"])
    ends = list(sc["slides"]) + [d + 1]
    g = color("0xf4f4f0", W, H, d) + ",drawbox=x=0:y=0:w=iw:h=ih/7:c=0x1f3a93:t=fill"
    palette = ["0xc0392b", "0x27ae60", "0x8e44ad", "0xd35400"]
    for i, (a, b) in enumerate(zip(starts, ends)):
        en = "enable='between(t,%g,%g)'" % (a, b - 0.001)
        g += ",drawbox=x=%d:y=%d:w=%d:h=%d:c=%s:t=fill:%s" % (
            40 + (i % 3) * 180, 90 + (i % 2) * 60, 200, 140, palette[i % 4], en)
        for line in range(2 + i % 3):
            g += ",drawbox=x=%d:y=%d:w=%d:h=10:c=0x606060:t=fill:%s" % (
                300 - (i % 3) * 100 + 120, 260 + line * 22, 180 - line * 30, en)
    for a, b in sc.get("bullets", []):
        g += ",drawbox=x=40:y=300:w=200:h=40:c=0x303030:t=fill:enable='between(t,%g,%g)'" % (a, b - 0.001)
    g += "[s0]"
    last = "s0"
    for k, (a, b) in enumerate(sc["videos"]):
        g += (";testsrc2=s=320x180:r=%d:d=%g[v%d];[%s][v%d]overlay=x=160:y=110:"
              "enable='between(t,%g,%g)'[s%d]" % (FPS, d, k, last, k, a, b, k + 1))
        last = "s%d" % (k + 1)
    return g + ";[%s]%s" % (last, finish("screen", sc))


def wide_graph(sc, d):
    g = color("0x505050", W, H, d) + ",drawbox=x=80:y=20:w=480:h=90:c=0x2d3a2d:t=fill"
    for row in range(3):
        for col in range(10):
            g += ",drawbox=x=%d:y=%d:w=16:h=16:c=0xb08060:t=fill" % (60 + col * 54, 220 + row * 44)
    g += ("[w0];%s[wf];[w0][wf]overlay=x='W/2-w/2+W/3*sin(2*PI*t/41)':y=110:eval=frame,%s"
          % (color("0xe0b080", 20, 60, d), finish("wide", sc)))
    return g


GRAPHS = {"teacher": teacher_graph, "students": students_graph, "board": board_graph,
          "screen": screen_graph, "wide": wide_graph}


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def scenario(name):
    if name.startswith("seed") and name[4:].isdigit():
        return seeds.lesson(int(name[4:]))
    if name not in SCENARIOS:
        raise SystemExit("no scenario %s: one of %s or seedN" % (name, ",".join(SCENARIOS)))
    return SCENARIOS[name]


def generate(name, out):
    sc = scenario(name)
    d = sc["duration"]
    me = b"".join(open(os.path.abspath(m.__file__), "rb").read() for m in (sys.modules[__name__], speech, seeds))
    key = hashlib.sha256(json.dumps([sc, W, H, FPS, ZONES], sort_keys=True).encode() + me).hexdigest()
    stamp = os.path.join(out, ".generated")
    if os.path.exists(stamp) and open(stamp).read() == key:
        return
    os.makedirs(out, exist_ok=True)
    for cam in sc["cameras"]:
        graph = GRAPHS[cam](sc, d)
        run(["ffmpeg", "-nostdin", "-y", "-loglevel", "error", "-filter_complex", graph,
             "-t", str(d), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "26", "-g", str(2 * FPS),
             "-threads", "2", os.path.join(out, cam + ".mp4")])
    mics = ("teacher", "students")
    speech.render_mics({"teacher": sc["teacher_speaks"], "students": sc["students_speaks"]}, out, d,
                       sc.get("seed", name), os.path.join(os.path.dirname(os.path.abspath(out)), "speech"),
                       langs=sc.get("langs"), noise_dbfs=sc.get("noise_dbfs", -50),
                       speech_gain_db=sc.get("speech_gain_db", 0), bursts=sc.get("bursts", ()))
    div = 2 if sc.get("small") else 1
    ini = ["[general]", "fps = %d" % FPS, "width = %d" % (W // div), "height = %d" % (H // div), ""]
    for cam in sc["cameras"]:
        ini += ["[source.%s]" % cam, "type = url", "role = %s" % cam,
                "url = %s" % os.path.abspath(os.path.join(out, cam + ".mp4")), ""]
    for mic in mics:
        ini += ["[mic.%s]" % mic, "type = url", "role = %s" % mic,
                "url = %s" % os.path.abspath(os.path.join(out, mic + "_mic.wav")), ""]
    ini += ["[director]", "zones = %s" % sc.get("zones", ZONES), "vcam = teacher", ""]
    open(os.path.join(out, "luobo.ini"), "w").write("\n".join(ini))
    json.dump(dict(name=name, duration=d, roles={c: c for c in sc["cameras"]},
                   drops=sc["drops"], truth=sc["truth"], chapters=sc["chapters"],
                   speech=dict(teacher=sc["teacher_speaks"], students=sc["students_speaks"]),
                   events=sc.get("events", []), episodes=sc.get("episodes", [])),
              open(os.path.join(out, "scenario.json"), "w"), indent=1)
    open(stamp, "w").write(key)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: gen.py {%s,seedN} OUTDIR" % ",".join(SCENARIOS))
    try:
        generate(sys.argv[1], sys.argv[2])
    except subprocess.CalledProcessError as e:
        sys.exit("gen.py: %s failed: %s" % (e.cmd[0], e.stderr.decode(errors="replace")[-2000:]))
