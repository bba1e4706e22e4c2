"""url sources against real peers on 127.0.0.1: an RTSP camera (rtsp_cam,
gst-rtsp-server), an SRT camera (ffmpeg as listener), files, and errors.

Usage: test_url.py rtsp_read | rtsp_udp | rtsp_dropout | srt | http | rtmp | file_loop | on_demand | errors
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from caplib import *  # noqa: E402,F401


def media_dir():
    d = os.path.join(os.environ.get("LUOBO_BUILD", "/tmp"), "test-scratch", "capture-media")
    os.makedirs(d, exist_ok=True)
    return d


def cam_file():
    return make_h264(os.path.join(media_dir(), "cam360.mp4"), 60)


def source_config(url, extra=""):
    return "[source.cam]\ntype = url\nrole = teacher\nurl = %s\n%s" % (url, extra)


def start_rtsp(port, log):
    return Peer([RTSP_CAM, str(port), cam_file()], ready="ready", log=log).start()


def live_ticks(events):
    """The ticks from the first one that showed the camera's picture."""
    ticks = by(events, "tick")
    first = next((i for i, e in enumerate(ticks) if e["ret"] == 0 and not e["slate"]), None)
    return ticks[first:] if first is not None else []


def check_packets(path, sizes, label, connections=1):
    """The passthrough packets are the file's packets, in order, from its
    start (rtsp_cam starts every client at the beginning of the file)."""
    got = []
    for line in open(path):
        size, key, pts, dts = line.split()
        got.append((int(size), key == "1", int(pts), int(dts)))
    check(len(got) > 100, "%s: %d passthrough packets" % (label, len(got)))
    check(got[0][1], "%s: the first passthrough packet is a key frame" % label)
    want = [s for s, _ in sizes]
    wkeys = [k for _, k in sizes]
    # split at each reconnection: where the file starts again
    runs, start = [], 0
    for i in range(1, len(got) + 1):
        if i == len(got) or ([g[0] for g in got[i:i + 30]] == want[:30] and i > start):
            runs.append(got[start:i])
            start = i
    check(len(runs) == connections, "%s: %d connection(s) in the passthrough (want %d)"
          % (label, len(runs), connections))
    for r in runs:
        check([g[0] for g in r] == want[:len(r)], "%s: all %d packet sizes of a connection match the file"
              % (label, len(r)))
        check([g[1] for g in r] == wkeys[:len(r)], "%s: key frame flags match" % label)
    dts = [g[3] for g in got]
    check(all(b > a for a, b in zip(dts, dts[1:])), "%s: passthrough dts strictly increase" % label)
    return got


def check_lag(ticks, what):
    """Realtime, the source says how late its frames arrive after their
    stamps (lb_source_arrival_lag_us: how far the daemon's program runs
    behind capture, [general] sync_delay_auto)."""
    lags = [t["lag_us"] for t in ticks[60:]]
    known = [x for x in lags if x is not None]
    check(len(known) >= len(lags) * 0.9, "%s: the arrival lag is measured (%d of %d ticks)"
          % (what, len(known), len(lags)))
    med = sorted(known)[len(known) // 2]
    # a live stream's stamps are its earliest arrivals: never much before
    check(-5000 <= med < 500000, "%s: arrival lag %d us" % (what, med))
    print("%s: arrival lag median %.1f ms, max %.1f ms" % (what, med / 1e3, max(known) / 1e3))


def rtsp_read(transport="tcp", seconds=20):
    wd = scratch("rtsp_read_" + transport)
    port = free_port()
    cam = start_rtsp(port, open(os.path.join(wd, "cam.log"), "w"))
    try:
        ev = run_tool("source", source_config("rtsp://127.0.0.1:%d/cam" % port,
                                               "transport = %s\n" % transport),
                      "source.cam", seconds, "--packets", os.path.join(wd, "packets.txt"),
                      "--wait-codecpar", workdir=wd)
    finally:
        cam.stop()
    e = end(ev)
    print(e)
    cp = by(ev, "codecpar")
    check(cp and cp[0]["codec"] == "h264", "lb_source_wait_codecpar gives H.264 once connected (%s)" % cp)
    check(e["state"] == "live", "the camera is live at the end (%s)" % e["state"])
    check(e["codec"] == "h264" and (e["par_w"], e["par_h"]) == (640, 360),
          "codecpar is H.264 640x360 (%s %dx%d)" % (e["codec"], e["par_w"], e["par_h"]))
    check(e["extradata"] > 0, "codecpar has the parameter sets (%d bytes)" % e["extradata"])
    ticks = live_ticks(ev)
    check(len(ticks) >= (seconds - 3) * 30, "live within 3 s of the start (%d live ticks)" % len(ticks))
    check(all(t["ret"] == 0 and not t["slate"] for t in ticks), "every tick since live has a picture")
    check(all((t["w"], t["h"]) == (640, 360) for t in ticks), "frames are 640x360")
    # a 30 fps camera read at 30 ticks/s: nearly every tick is a new frame
    # (not all: a test machine under load delays ticks)
    check(e["distinct"] >= len(ticks) * 0.85, "%d distinct frames in %d ticks" % (e["distinct"], len(ticks)))
    pts = [t["pts"] for t in ticks]
    deltas = sorted(b - a for a, b in zip(pts, pts[1:]) if b != a)
    med = deltas[len(deltas) // 2]
    check(30000 <= med <= 36700, "frames are stamped 1/30 s apart (median %d us)" % med)
    # jitter smoothing: stamps follow the stream's clock, not arrival
    near = sum(1 for d in deltas if abs(d - 33333) < 3000)
    check(near >= len(deltas) * 0.85, "%d of %d frame intervals within 3 ms of 33.3 ms" % (near, len(deltas)))
    if transport == "tcp":
        got = check_packets(os.path.join(wd, "packets.txt"), packet_sizes(cam_file()), "rtsp")
        check(e["packets_dropped"] == 0, "no passthrough packet dropped")
        check(abs(len(got) - e["frames"]) <= 5, "one packet per decoded frame (%d, %d)" % (len(got), e["frames"]))


def rtsp_dropout():
    """Kill the camera for 10 s (first it hangs, then it is gone)."""
    wd = scratch("rtsp_dropout")
    port = free_port()
    log = open(os.path.join(wd, "cam.log"), "w")
    cam = start_rtsp(port, log)
    p = run_tool("source", source_config("rtsp://127.0.0.1:%d/cam" % port), "source.cam", 32,
                 "--packets", os.path.join(wd, "packets.txt"), workdir=wd, background=True)
    try:
        time.sleep(8)
        # the camera stops answering: no RST, no data
        os.kill(cam.p.pid, signal.SIGSTOP)
        stall_us = int(time.monotonic() * 1e6)
        time.sleep(4)
        cam.p.send_signal(signal.SIGKILL)
        cam.p.wait()
        time.sleep(6)
        cam = start_rtsp(port, log)
        back_us = cam.started_mono_us
        ev = finish(p, wd)
    finally:
        cam.stop()
        if p.poll() is None:
            p.kill()
    states = by(ev, "state")
    print([(s["state"], s["mono_us"], s["error"]) for s in states])
    lost = [s for s in states if s["state"] == "lost" and s["mono_us"] > stall_us]
    check(lost, "the hung camera is reported lost (%s)" % (lost[0]["error"] if lost else ""))
    detect_ms = (lost[0]["mono_us"] - stall_us) / 1000
    check(detect_ms <= 2600, "a camera that stops answering is lost within 2 s + 0.6 s of slack (%.0f ms)"
          % detect_ms)
    relive = [s for s in states if s["state"] == "live" and s["mono_us"] > back_us]
    check(relive, "the camera is live again")
    back_ms = (relive[0]["mono_us"] - back_us) / 1000
    check(back_ms <= 2000, "live again within 2 s of the server's return (%.0f ms)" % back_ms)
    ticks = by(ev, "tick")
    check(len(ticks) == 32 * 30, "the consumer ran every tick (%d)" % len(ticks))
    after = live_ticks(ev)
    check(all(t["ret"] == 0 for t in after), "frame_at always gave a frame after the first one")
    slates = [t for t in after if t["slate"]]
    gap = [t for t in after if t["state"] in ("lost", "reconnecting")]
    check(len(gap) >= 8 * 30, "about 10 s of lost/reconnecting ticks (%d)" % len(gap))
    check(all(t["slate"] for t in gap), "every tick while lost is the slate")
    check(len(slates) == len(gap), "the slate only while lost (%d slates, %d lost ticks)" % (len(slates), len(gap)))
    grey = [t for t in slates if abs(t["corner"] - 57) < 6]
    check(len(grey) == len(slates), "the slate is the grey card (corner luma %s)" % slates[0]["corner"])
    e = end(ev)
    check(e["reconnects"] >= 1 and e["state"] == "live", "reconnected and live at the end (%s)" % e)
    check_packets(os.path.join(wd, "packets.txt"), packet_sizes(cam_file()), "rtsp after dropout", 2)


def hevc_file():
    path = os.path.join(media_dir(), "cam360_hevc.mp4")
    if not os.path.exists(path):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=30:d=30",
                        "-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "bframes=0:keyint=30:log-level=error",
                        "-pix_fmt", "yuv420p", path], check=True)
    return path


def served(proto, hevc=False):
    """ffmpeg serves the camera file in real time and luobo's url source
    connects to it: SRT (ffmpeg is the listener, luobo the caller), HTTP
    (MPEG-TS from ffmpeg's one-client HTTP server), RTMP (FLV from ffmpeg's
    RTMP listener)."""
    wd = scratch(proto)
    if proto == "srt":
        port = free_port(socket.SOCK_DGRAM)
        out, fmt, url = "srt://127.0.0.1:%d?mode=listener" % port, "mpegts", "srt://127.0.0.1:%d?mode=caller" % port
    elif proto == "http":
        port = free_port()
        out, fmt, url = "http://127.0.0.1:%d/cam.ts" % port, "mpegts", "http://127.0.0.1:%d/cam.ts" % port
    else:
        port = free_port()
        out, fmt, url = "rtmp://127.0.0.1:%d/live/cam" % port, "flv", "rtmp://127.0.0.1:%d/live/cam" % port
    media = hevc_file() if hevc else cam_file()
    codec = "hevc" if hevc else "h264"
    args = ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", media, "-c", "copy", "-f", fmt]
    if proto != "srt":
        args += ["-listen", "1"]
    listener = Peer(args + [out], log=open(os.path.join(wd, "ffmpeg.log"), "w")).start()
    try:
        time.sleep(0.5)
        ev = run_tool("source", source_config(url), "source.cam", 12,
                      "--packets", os.path.join(wd, "packets.txt"), workdir=wd)
    finally:
        listener.stop()
    e = end(ev)
    print(e)
    check(e["state"] == "live" and e["codec"] == codec, "the %s camera is live, %s (%s)" % (proto, codec, e))
    ticks = live_ticks(ev)
    check(len(ticks) >= 9 * 30, "live within 3 s of the start (%d live ticks)" % len(ticks))
    check(all(t["ret"] == 0 and not t["slate"] for t in ticks), "every tick since live has a picture")
    check(e["distinct"] >= len(ticks) * 0.9, "%d distinct frames in %d ticks" % (e["distinct"], len(ticks)))
    check_lag(ticks, proto)
    sizes = [int(l.split()[0]) for l in open(os.path.join(wd, "packets.txt"))]
    want = set(s for s, _ in packet_sizes(media))
    check(len(sizes) > 200, "%d passthrough packets" % len(sizes))
    # FLV carries the file's packets as they are; MPEG-TS as access units
    # with start codes (and maybe an AUD): a few bytes more
    near = sum(1 for s in sizes if any((s - d) in want for d in range(0, 41 if fmt == "mpegts" else 1)))
    check(near >= len(sizes) * 0.95, "passthrough packets have the file's sizes (%d of %d)" % (near, len(sizes)))


def srt_push():
    """The camera calls luobo: the url source listens (srt mode=listener)
    and ffmpeg pushes MPEG-TS to it, starting after luobo, going away for a
    while and calling again."""
    wd = scratch("srt_push")
    port = free_port(socket.SOCK_DGRAM)
    p = run_tool("source", source_config("srt://127.0.0.1:%d?mode=listener" % port), "source.cam", 20,
                 workdir=wd, background=True)
    args = ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-i", cam_file(), "-c", "copy",
            "-f", "mpegts", "srt://127.0.0.1:%d?mode=caller" % port]
    log = open(os.path.join(wd, "ffmpeg.log"), "w")
    try:
        time.sleep(3)       # luobo waits for its caller meanwhile
        cam = Peer(args, log=log).start()
        time.sleep(6)
        cam.stop()
        time.sleep(4)
        cam = Peer(args, log=log).start()
        back_us = cam.started_mono_us
        ev = finish(p, wd)
    finally:
        cam.stop()
        if p.poll() is None:
            p.kill()
    states = by(ev, "state")
    print([(s["state"], s["error"]) for s in states])
    lives = [s for s in states if s["state"] == "live"]
    check(len(lives) == 2, "live when the camera calls, and again when it calls back (%d)" % len(lives))
    check(lives[1]["mono_us"] - back_us <= 3000000, "live %.1f s after the second call"
          % ((lives[1]["mono_us"] - back_us) / 1e6))
    check(any(s["state"] == "lost" for s in states), "lost while the camera was away")
    e = end(ev)
    check(e["state"] == "live" and e["codec"] == "h264", "live at the end (%s)" % e["state"])


def file_loop():
    wd = scratch("file_loop")
    path = make_h264(os.path.join(media_dir(), "short3s.mp4"), 3)
    ev = run_tool("source", source_config(path, "loop = true\n"), "source.cam", 10, "--offline",
                  "--packets", os.path.join(wd, "packets.txt"), workdir=wd)
    e = end(ev)
    ticks = by(ev, "tick")
    check(len(ticks) == 300 and all(t["ret"] == 0 for t in ticks), "300 ticks, each with a frame")
    check(e["distinct"] == 300, "a 3 s file looped offline gives a new frame every tick (%d)" % e["distinct"])
    pts = [t["pts"] for t in ticks]
    check(all(abs(p - i * 1000000 / 30) <= 1 for i, p in enumerate(pts)),
          "frames continue across the loop on the program timeline")
    sizes = [int(l.split()[0]) for l in open(os.path.join(wd, "packets.txt"))]
    want = [s for s, _ in packet_sizes(path)]
    check(sizes[:len(want) * 3] == (want * 4)[:len(sizes[:len(want) * 3])],
          "passthrough of a looped file repeats its packets")
    # sync_offset_ms moves the pictures on the program timeline
    ev = run_tool("source", source_config(path, "sync_offset_ms = 500\n"), "source.cam", 2, "--offline",
                  workdir=scratch("file_offset"))
    first = next(t for t in by(ev, "tick") if not t["slate"])
    check(first["t_us"] == 500000 and first["pts"] == 500000,
          "with sync_offset_ms = 500 the first frame is at 0.5 s (tick %d, pts %d)" % (first["t_us"], first["pts"]))
    # width/height scale the pictures
    ev = run_tool("source", source_config(path, "width = 320\nheight = 180\n"), "source.cam", 1, "--offline",
                  workdir=scratch("file_scaled"))
    check(all((t["w"], t["h"]) == (320, 180) for t in by(ev, "tick") if not t["slate"]),
          "width = 320, height = 180: the frames are scaled")
    # realtime: the file is paced on its media time, loop after loop
    wd3 = scratch("file_loop_realtime")
    ev = run_tool("source", source_config(path, "loop = true\n"), "source.cam", 8, workdir=wd3)
    ticks = live_ticks(ev)
    pts = [t["pts"] for t in ticks]
    steps = [b - a for a, b in zip(pts, pts[1:])]
    near = sum(1 for d in steps if abs(d - 33333) <= 2000)
    check(len(ticks) >= 7 * 30 and near >= len(steps) * 0.85,
          "realtime, a looped file gives a frame each 1/30 s (%d of %d steps)" % (near, len(steps)))
    # without loop: the file ends, EOF after its 90 frames
    wd2 = scratch("file_end")
    ev = run_tool("source", source_config(path), "source.cam", 10, "--offline", workdir=wd2)
    e = end(ev)
    ticks = by(ev, "tick")
    check(ticks[-1]["ret"] != 0 and e["state"] == "ended", "the file ends: EOF and state ended (%s)" % e["state"])
    check(e["distinct"] == 90, "all 90 frames were shown (%d)" % e["distinct"])


def on_demand():
    """Decoding on demand (decode = on_air): off the air only key frames are
    decoded; on the air again, every frame is exactly what a full decode
    gives at that time (Adler-32 of the luma), from a few frames after the
    switch.  With B-frames (a file from an encoder) and without (a camera),
    with one decoding thread and with frame threads, over a looped file."""
    schedule = "0-3,5-5.5,5.9-6,8-12,15-16.2,17.5-30"
    lead_us = 300000        # the switch falls this long after the tick that asks (7 frames), plus a frame
    files = {
        "bframes": make_h264(os.path.join(media_dir(), "ondemand_b.mp4"), 10, gop=45,
                             extra=("-bf", "3", "-preset", "medium")),
        "camera": make_h264(os.path.join(media_dir(), "ondemand_p.mp4"), 10, gop=60),
    }
    for label, path in files.items():
        for threads in (1, 2):
            name = "%s, %d thread(s)" % (label, threads)
            extra = "loop = true\nthreads = %d\n" % threads
            # capture_tool says no director watches: auto behaves as on_air
            ref = run_tool("source", source_config(path, extra + "decode = full\n"), "source.cam", 25,
                           "--offline", "--on-air", "0-1000", workdir=scratch("on_demand_ref"))
            got = run_tool("source", source_config(path, extra), "source.cam", 25, "--offline",
                           "--on-air", schedule, workdir=scratch("on_demand"))
            full = {e["pts"]: e["adler"] for e in by(ref, "air")}
            check(not any(e["partial"] for e in by(ref, "air")), "%s: decode = full is never partial" % name)
            ticks = {e["t_us"]: e for e in by(got, "tick")}
            air = by(got, "air")
            check(len(air) >= 740, "%s: %d ticks with a frame" % (name, len(air)))
            wrong = [e for e in air if not e["partial"] and not ticks[e["t_us"]]["slate"]
                     and full.get(e["pts"]) != e["adler"]]
            check(not wrong, "%s: every complete frame equals the full decode at its time (%d differ, first %s)"
                  % (name, len(wrong), wrong[:1]))
            # on the air (after the switch's lead): complete; off the air: partial
            late_partial, early_full = [], []
            edges = [float(x) * 1e6 for r in schedule.split(",") for x in r.split("-")]
            for e in air:
                t = e["t_us"]
                near_edge = any(0 <= t - x < lead_us for x in edges)
                if near_edge or ticks[t]["slate"]:
                    continue
                if e["on_air"] and e["partial"]:
                    late_partial.append(t)
                if not e["on_air"] and not e["partial"]:
                    early_full.append(t)
            check(not late_partial, "%s: on the air, frames are complete %0.1f s after the switch (partial at %s)"
                  % (name, lead_us / 1e6, late_partial[:5]))
            check(not early_full, "%s: off the air, only key frames are decoded (complete at %s)"
                  % (name, early_full[:5]))
            # off the air the picture still moves: one new key frame per GOP
            off = [e for e in air if e["partial"]]
            distinct = len({e["adler"] for e in off})
            check(distinct >= 5, "%s: off the air the picture follows the key frames (%d pictures)"
                  % (name, distinct))


def errors():
    # a camera that refuses: lost/reconnecting, retried, the consumer never waits
    wd = scratch("errors")
    port = free_port()
    ev = run_tool("source", source_config("rtsp://127.0.0.1:%d/cam" % port), "source.cam", 3, workdir=wd)
    e = end(ev)
    states = set(s["state"] for s in by(ev, "state"))
    check(e["state"] in ("lost", "reconnecting") and "refused" in e["error"].lower(),
          "a refused URL: %s, '%s'" % (e["state"], e["error"]))
    check("lost" in states and e["reconnects"] >= 2, "it is retried (%d times in 3 s)" % e["reconnects"])
    check(len(by(ev, "tick")) == 90, "the consumer ran every tick")

    # a file that is not media: FAILED, not retried
    junk = write(os.path.join(wd, "notes.mp4"), "these are lecture notes, not a video\n" * 100)
    ev = run_tool("source", source_config(junk), "source.cam", 2, workdir=wd)
    e = end(ev)
    check(e["state"] == "failed" and "invalid data" in e["error"].lower(),
          "a file that is not media: failed, '%s'" % e["error"])
    check(e["reconnects"] == 0, "and it is not retried")

    # a V4L2 device that does not exist: lost, retried (a USB camera may come)
    ev = run_tool("source", "[source.cam]\ntype = v4l2\ndevice = /dev/video9\n", "source.cam", 2, workdir=wd)
    e = end(ev)
    check(e["state"] in ("lost", "reconnecting") and "/dev/video9" in e["error"]
          and "no such file" in e["error"].lower(), "a missing /dev/video9: %s, '%s'" % (e["state"], e["error"]))

    # a device node that is no camera: failed, not retried
    ev = run_tool("source", "[source.cam]\ntype = v4l2\ndevice = /dev/null\n", "source.cam", 1, workdir=wd)
    e = end(ev)
    check(e["state"] == "failed" and "not a V4L2 device" in e["error"], "/dev/null: %s, '%s'" % (e["state"], e["error"]))
    ev = run_tool("source", "[source.cam]\ntype = v4l2\ndevice = /dev/video0\nformat = rgb24\n", "source.cam", 1, workdir=wd)
    err = by(ev, "create_error")
    check(err and "format: 'rgb24' is not one of mjpeg, yuyv, nv12, h264" in err[0]["error"], "bad v4l2 format: %s" % err)

    # config errors name the file, line and key
    ev = run_tool("source", "[source.cam]\ntype = url\n", "source.cam", 1, workdir=wd)
    err = by(ev, "create_error")
    check(err and "capture.ini:1: source.cam: url: missing" in err[0]["error"], "no url: %s" % err)
    ev = run_tool("source", "[source.cam]\ntype = url\nurl = srt://127.0.0.1:9/x\nloop = true\n",
                  "source.cam", 1, workdir=wd)
    err = by(ev, "create_error")
    check(err and "capture.ini:4: source.cam: loop:" in err[0]["error"], "loop on a stream: %s" % err)
    ev = run_tool("source", "[source.cam]\ntype = url\nurl = rtsp://127.0.0.1:9/x\ntransport = sctp\n",
                  "source.cam", 1, workdir=wd)
    err = by(ev, "create_error")
    check(err and "transport: 'sctp'" in err[0]["error"], "bad transport: %s" % err)


import socket  # noqa: E402

if __name__ == "__main__":
    {"rtsp_read": rtsp_read, "rtsp_udp": lambda: rtsp_read("udp", 10), "rtsp_dropout": rtsp_dropout,
     "srt": lambda: served("srt"), "srt_push": srt_push, "srt_hevc": lambda: served("srt", True), "http": lambda: served("http"), "rtmp": lambda: served("rtmp"),
     "file_loop": file_loop, "on_demand": on_demand, "errors": errors}[sys.argv[1]]()
    print("PASS")
