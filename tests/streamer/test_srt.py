"""SRT with real peers (srt-live-transmit) on 127.0.0.1.

  caller     luobo calls a listening receiver; every frame arrives and decodes
  listener   two receivers with the passphrase pull at once and decode; one
             with a wrong passphrase gets nothing
  reconnect  the receiver is killed and restarted: luobo reconnects and the
             stream resumes, decodable from a key frame
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from testlib import (spawn, TOOL, check, decode_errors, fail, ffprobe_json, free_port, parse_kv, scratch,
                     stream_info)

mode = sys.argv[1]
work = scratch("srt-" + mode)
port = free_port()
PASS = "correct-horse-battery"


def receiver(name, url):
    out = open(os.path.join(work, name + ".ts"), "wb")
    err = open(os.path.join(work, name + ".log"), "wb")
    return spawn(["srt-live-transmit", "-q", url, "file://con"], stdout=out, stderr=err)


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def udp_bound(port):
    with open("/proc/net/udp") as f:
        return any(int(l.split()[1].split(":")[1], 16) == port for l in f.readlines()[1:])


def tool(config_text, seconds, wait_live, record=False):
    cfg = os.path.join(work, "luobo.ini")
    with open(cfg, "w") as f:
        f.write(config_text)
    env = dict(os.environ)
    if wait_live:
        env["WAIT_LIVE"] = "1"
    if record:
        env["RECORD_DIR"] = os.path.join(work, "data")
    return spawn([TOOL, "live", cfg, str(seconds), "paced"], stdout=subprocess.PIPE,
                            stderr=open(os.path.join(work, "tool.log"), "wb"), text=True, env=env)


def finish(p):
    out, _ = p.communicate(timeout=120)
    if p.returncode != 0:
        fail(f"streamer_tool exited {p.returncode}")
    kv = parse_kv(out)
    outputs = [dict(x.split("=", 1) for x in l.split() if "=" in x) for l in out.splitlines()
               if l.startswith("output=")]
    return kv, outputs


def check_ts(name, min_frames, exact=None, clean=True):
    path = os.path.join(work, name + ".ts")
    check(os.path.getsize(path) > 0, f"{name} received data")
    streams = stream_info(path)
    codecs = sorted(s["codec_name"] for s in streams)
    check(codecs == ["aac", "h264"], f"{name}: H.264 + AAC ({codecs})")
    n = int([s for s in streams if s["codec_type"] == "video"][0]["nb_read_frames"])
    if exact is not None:
        check(n == exact, f"{name}: {n} video frames == {exact} sent")
    else:
        check(n >= min_frames, f"{name}: {n} video frames >= {min_frames}")
    frames = ffprobe_json(path, "-select_streams", "v:0", "-show_entries", "frame=key_frame",
                          "-read_intervals", "%+#1")["frames"]
    check(frames and frames[0]["key_frame"] == 1, f"{name}: starts with a key frame")
    if clean:
        err = decode_errors(path)
        check(not err, f"{name}: decodes without errors {err[:300]}")


if mode == "caller":
    r = receiver("got", f"srt://127.0.0.1:{port}?mode=listener")
    deadline = time.monotonic() + 10
    while not udp_bound(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    p = tool(f"[output.platform]\ntype = srt\nurl = srt://127.0.0.1:{port}?mode=caller&latency=400&streamid=hall1\n",
             8, True)
    kv, outs = finish(p)
    time.sleep(0.5)
    stop(r)
    check(outs[0]["kind"] == "srt" and outs[0]["dropped"] == "0", "nothing dropped")
    check(float(outs[0]["rtt_ms"]) >= 0 and float(outs[0]["send_kbps"]) > 0 and
          "retransmits" in outs[0] and "loss_pct" in outs[0],
          f"SRT statistics (rtt {outs[0]['rtt_ms']} ms, {outs[0]['send_kbps']} kbit/s)")
    check_ts("got", 0, exact=int(kv["sent_video_frames"]))
elif mode == "listener":
    p = tool(f"[output.pull]\ntype = srt\nurl = srt://127.0.0.1:{port}?mode=listener&latency=120"
             f"&passphrase={PASS}&pbkeylen=32\nlow_delay = true\n", 10, False)
    deadline = time.monotonic() + 10
    while not udp_bound(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    r1 = receiver("r1", f"srt://127.0.0.1:{port}?mode=caller&passphrase={PASS}&pbkeylen=32")
    r2 = receiver("r2", f"srt://127.0.0.1:{port}?mode=caller&passphrase={PASS}")
    bad = receiver("bad", f"srt://127.0.0.1:{port}?mode=caller&passphrase=wrong-horse-battery")
    kv, outs = finish(p)
    for r in (r1, r2, bad):
        stop(r)
    check_ts("r1", 150)
    check_ts("r2", 150)
    check(os.path.getsize(os.path.join(work, "bad.ts")) == 0, "wrong passphrase: nothing received")
    with open(os.path.join(work, "bad.log"), errors="replace") as f:
        log = f.read()
    check("passphrase" in log.lower() or "reject" in log.lower(), "wrong passphrase: refused")
elif mode == "reconnect":
    r = receiver("before", f"srt://127.0.0.1:{port}?mode=listener")
    deadline = time.monotonic() + 10
    while not udp_bound(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    p = tool(f"[output.archive]\ntype = archive\nmin_free_mb = 1\nstop_free_mb = 0\n"
             f"[output.platform]\ntype = srt\nurl = srt://127.0.0.1:{port}?mode=caller&latency=120\n",
             22, True, record=True)
    time.sleep(5)
    r.kill()
    r.wait()
    time.sleep(4)
    r = receiver("after", f"srt://127.0.0.1:{port}?mode=listener")
    kv, outs = finish(p)
    time.sleep(0.5)
    stop(r)
    srt = [o for o in outs if o["kind"] == "srt"][0]
    check(int(srt["reconnects"]) >= 1, f"reconnected ({srt['reconnects']})")
    check_ts("before", 75, clean=False)     # killed mid-packet: its tail is torn
    check_ts("after", 150)
    prog = os.path.join(kv["lesson_dir"], "program.mp4")
    n = int([s for s in stream_info(prog) if s["codec_type"] == "video"][0]["nb_read_frames"])
    check(n == int(kv["sent_video_frames"]), f"the archive holds every frame ({n})")
else:
    fail("mode?")
print("PASS")
