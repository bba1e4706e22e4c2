#!/usr/bin/env python3
"""luobo's benchmark: the hall-3 job against the limit and against the ffmpeg CLI.

Run through bench/run, which builds luobo and makes the inputs.  Everything
here is measured in this one run, beside the alternative; nothing is compared
with figures from another day or machine.

  bench.py --luobo BIN --inputs DIR --work DIR --out FILE.json
           [--duration 60] [--reps 3] [--sections LIST] [--smoke]

Sections (default: all):
  limit     decode the three cameras alone; encode the program alone (raw
            composite through x264 with the job's settings)
  ffmpeg    the ffmpeg CLI doing hall-3 (PiP + tee to fMP4, HLS, SRT)
  luobo     luobo doing hall-3 offline (director watching all three cameras),
            with per-thread CPU (cost per stage)
  luobo_noiso  the same without resource mode (one run)
  limit_own the limit for luobo's own program picture (x264 alone on it)
  psnr      both programs against the same reference composite
  encoder   luobo's program encode (bench/lb_bench_encode) against ffmpeg
            -c:v libx264 on the same raw frames: fps, CPU, PSNR, x264's SEI
  realtime  luobo paced in real time: CPU share, drops (from /metrics), RSS
  latency   glass-to-glass over SRT and HLS delay, luobo and the ffmpeg CLI;
            luobo's per-stage delays from its latency trace (bench/lat_stages.py)
  latency_luobo  (not in the default list) luobo's latency row alone, with
            --lat-general KEY=VALUE,... ([general] keys: sync_delay_ms,
            sync_delay_auto) for one change at a time
  scaling   cameras 1..6 and program 720p/1080p/2160p (offline)
  overload  (not in the default list) the capacity job in real time, inputs
            looped: quiet, then a one-minute overload (busy loops on every
            core), then quiet again; RSS every second, frames written

CPU and max RSS come from wait4() of the child (the whole process tree that
the child waited for), wall from the monotonic clock; per-thread CPU from
/proc/PID/task/*/stat sampled every 100 ms (the last sample of each thread).
Python standard library only.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")
FPS = 30
W, H = 1920, 1080

# The job's x264 settings, for luobo's [encoder] and the ffmpeg CLI alike.
VENC = ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", "4M",
        "-maxrate", "4M", "-bufsize", "8M", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
        "-pix_fmt", "yuv420p"]
AENC = ["-c:a", "aac", "-b:a", "128k"]
# screen full frame, teacher 480x270 bottom right with a 24 px margin
FC = "[1:v]scale=480:270[pip];[0:v][pip]overlay=x=W-w-24:y=H-h-24:format=yuv420[prog]"
PIP_JOB = dict(size=0.25, margin=0.0125, border=0)      # = FC's geometry
PIP_DEFAULT = dict(size=0.28, margin=0.02, border=2)    # luobo's defaults


def pip_rect(W, H, st):
    """Where luobo's compositor puts the inset (director/compositor.c, bottom
    right): the inset rectangle, its border and the letterboxed picture."""
    pw = int(W * st["size"]) & ~1
    ph = (pw * H // W) & ~1
    m = int(W * st["margin"]) & ~1
    bd = (st["border"] + 1) & ~1
    px, py = W - pw - m - bd, H - ph - m - bd
    # a 16:9 source into pw x ph, letterboxed like place()
    fw, fh = pw, ph
    if 16 * ph > 9 * pw:
        fh = (pw * 9 // 16) & ~1
    elif 16 * ph < 9 * pw:
        fw = (ph * 16 // 9) & ~1
    fx, fy = px + (((pw - fw) // 2) & ~1), py + (((ph - fh) // 2) & ~1)
    return dict(x=px, y=py, w=pw, h=ph, bd=bd, fx=fx, fy=fy, fw=fw, fh=fh)
FF = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error"]


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_udp_port():
    return free_port(socket.SOCK_DGRAM)


# ---------------------------------------------------------------- measuring

def read_threads(pid):
    """{tid: (comm, cpu_s)} of a running process."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1: s.rindex(")")]
        fields = s[s.rindex(")") + 2:].split()
        out[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


class Sampler(threading.Thread):
    """Keeps the last CPU time of every thread of pid; calls hook(t, pid) each period."""

    def __init__(self, pid, period=0.1, hook=None):
        super().__init__(daemon=True)
        self.pid, self.period, self.hook = pid, period, hook
        self.threads = {}
        self.done = threading.Event()

    def run(self):
        t0 = time.monotonic()
        while not self.done.is_set():
            for tid, v in read_threads(self.pid).items():
                self.threads[tid] = v
            if self.hook:
                try:
                    self.hook(time.monotonic() - t0, self.pid)
                except Exception:   # a hook never stops the measurement
                    pass
            self.done.wait(self.period)


def run_measured(cmd, name, work, env=None, sample=False, timeout=900, hook=None, cwd=None,
                 stdin=None, stdout=None):
    """Runs cmd; returns wall_s, cpu_s, user_s, sys_s, maxrss_mib, rc (and threads)."""
    errpath = os.path.join(work, name + ".log")
    err = open(errpath, "wb")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=stdout or subprocess.DEVNULL, stderr=err, env=env, cwd=cwd,
                         stdin=stdin or subprocess.DEVNULL)
    sampler = None
    if sample or hook:
        sampler = Sampler(p.pid, hook=hook)
        sampler.start()
    killer = threading.Timer(timeout, lambda: p.kill())
    killer.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    killer.cancel()
    p.returncode = os.waitstatus_to_exitcode(status)
    err.close()
    r = dict(wall_s=round(wall, 3), cpu_s=round(ru.ru_utime + ru.ru_stime, 3),
             user_s=round(ru.ru_utime, 3), sys_s=round(ru.ru_stime, 3),
             maxrss_mib=round(ru.ru_maxrss / 1024, 1), rc=p.returncode)
    if sampler:
        sampler.done.set()
        sampler.join()
        r["threads"] = thread_summary(p.pid, sampler.threads)
    if p.returncode != 0:
        with open(errpath, "rb") as f:
            tail = f.read()[-3000:].decode("utf-8", "replace")
        log("%s exited %d; log %s:\n%s" % (name, p.returncode, errpath, tail))
    return r


def thread_summary(pid, threads):
    """CPU seconds by thread name; x264's workers are named after the thread
    that opened the encoder, the main one, so main is told apart by tid."""
    by = {}
    for tid, (comm, cpu) in threads.items():
        if tid == pid:
            comm = "main"
        by[comm] = round(by.get(comm, 0) + cpu, 3)
    return by


STAGES = [
    ("capture/decode (cap-*)", lambda n: n.startswith("cap-")),
    ("the director's sub-streams (sub-*)", lambda n: n.startswith("sub-")),
    ("microphones (mic-*)", lambda n: n.startswith("mic-")),
    ("director + compositor + mixer (lb-program)", lambda n: n == "lb-program"),
    ("program encode (lb-encode: x264 calls and AAC; x264:program: its workers)",
     lambda n: n in ("lb-encode", "x264:program")),
    ("resource mode (enc-iso:*, x264:iso:*, iso-copy)",
     lambda n: n.startswith("enc-iso") or n.startswith("x264:iso") or n.startswith("iso-copy")),
    ("each mic's own file (enc-mics)", lambda n: n == "enc-mics"),
    ("renditions (enc-*, x264:<rendition>)", lambda n: n.startswith("enc-") or n.startswith("x264:")),
    ("outputs (lb-out-*, libsrt, HLS)", lambda n: n.startswith("lb-out") or n.startswith("lb-srt")
     or n.startswith("lb-hls") or n.startswith("SRT:")),
    ("other (main, status, web UI)", lambda n: True),
]


def stages(threads):
    out = {name: 0.0 for name, _ in STAGES}
    for comm, cpu in threads.items():
        for name, match in STAGES:
            if match(comm):
                out[name] += cpu
                break
    return {k: round(v, 3) for k, v in out.items()}


def med(runs, key):
    vals = [r[key] for r in runs if r.get("rc") == 0 and key in r]
    return round(statistics.median(vals), 3) if vals else None


def summarize(runs):
    ok = [r for r in runs if r.get("rc") == 0]
    s = dict(n=len(ok), n_failed=len(runs) - len(ok))
    for k in ("wall_s", "cpu_s", "user_s", "sys_s", "maxrss_mib"):
        s[k] = med(runs, k)
    if ok and "threads" in ok[0]:
        # the thread profile of the median run (by CPU)
        mid = sorted(ok, key=lambda r: r["cpu_s"])[len(ok) // 2]
        s["threads"] = mid["threads"]
        s["stages"] = stages(mid["threads"])
        if mid.get("memory_at_peak"):
            s["memory_at_peak"] = mid["memory_at_peak"]
    return s


def repeat(n, fn):
    return [fn(i) for i in range(n)]


# ---------------------------------------------------------------- peers

class SrtSink:
    """srt-live-transmit listening on 127.0.0.1, writing what it receives."""

    def __init__(self, work, name, out="/dev/null"):
        self.port = free_udp_port()
        self.out = open(out, "wb")
        self.p = subprocess.Popen(["srt-live-transmit", "-q", "srt://127.0.0.1:%d?mode=listener" % self.port,
                                   "file://con"], stdout=self.out,
                                  stderr=open(os.path.join(work, name + ".srt.log"), "wb"))
        time.sleep(0.3)

    def close(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(3)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.out.close()


# ---------------------------------------------------------------- luobo

def luobo_supports(luobo, work, section_text):
    """Whether luobo accepts a config fragment (e.g. an output kind)."""
    cfg = os.path.join(work, "probe.ini")
    with open(cfg, "w") as f:
        f.write("[general]\nhttp_port = 0\ndata_dir = %s\n[source.a]\ntype = synthetic\nrole = teacher\n%s"
                % (os.path.join(work, "probe-data"), section_text))
    p = subprocess.run([luobo, "--config", cfg, "--check-config"], capture_output=True, text=True)
    return p.returncode == 0, (p.stderr or p.stdout).strip()


def luobo_config(a, data_dir, cams=("teacher", "students", "screen"), width=W, height=H,
                 srt_port=None, hls_dir=None, http_port=0, extra_sources="", mic_url=True,
                 director="auto", iso=None, encoder_extra=(), loop=False, sub_streams=None,
                 director_extra=()):
    I = a.inputs
    files = {"teacher": "cam_teacher.mp4", "students": "cam_students.mp4", "screen": "screen.mp4"}
    t = ["[general]", "data_dir = %s" % data_dir, "http_port = %d" % http_port,
         "width = %d" % width, "height = %d" % height, "fps = %d" % FPS, ""]
    for i, cam in enumerate(cams):
        base = cam.split("#")[0]
        name = cam.replace("#", "")
        role = base if base in files else "wide"
        t += ["[source.%s]" % name, "type = url", "role = %s" % role,
              "url = %s" % os.path.join(I, files[base])]
        if a.sub_streams if sub_streams is None else sub_streams:
            t.append("analysis_url = %s" % os.path.join(I, files[base].replace(".mp4", "_sub.mp4")))
        t += (["loop = true"] if loop else []) + [""]
    t.append(extra_sources)
    if mic_url and a.mic_url_ok:
        t += ["[mic.teacher]", "type = url", "role = teacher", "url = %s" % os.path.join(I, "audio.mp4")]
        t += (["loop = true"] if loop else []) + [""]
    else:
        t += ["[mic.teacher]", "type = synthetic", "role = teacher", "frequency_hz = 440", ""]
    # luobo's cbr (nal-hrd and filler, strict CBR for the platform's ingest)
    # against the CLI's -b:v 4M -maxrate 4M -bufsize 8M: a run with luobo
    # set exactly as the CLI (vbr, maxrate = bitrate) cost the same CPU
    # within noise (40.97 against 39.67 CPU-s, 2026-11-29), and section 7
    # measures the two encoders on the same frames.
    t += ["[encoder]", "preset = veryfast", "rate_control = cbr", "bitrate_kbps = 4000",
          "bufsize_kbits = 8000", "keyint_s = 2", "zerolatency = true", "audio_bitrate_kbps = 128"]
    if iso is not None:
        t.append("iso = %s" % ("true" if iso else "false"))
    t += list(encoder_extra)
    t += ["",
          "[director]", "mode = %s" % director] + list(director_extra)
    if a.pip_ok:    # the ffmpeg job's picture in picture: 480x270, 24 px from the corner, no border
        t += ["pip_size = %s" % PIP_JOB["size"], "pip_margin = %s" % PIP_JOB["margin"],
              "pip_border = %d" % PIP_JOB["border"]]
    t.append("")
    if srt_port:
        t += ["[output.srt]", "type = srt",
              "url = srt://127.0.0.1:%d?mode=caller&latency=120" % srt_port, ""]
    if hls_dir and a.hls_ok:
        t += ["[output.hls]", "type = hls", "dir = %s" % hls_dir, "segment_s = 2", ""]
    if http_port:
        t += ["[auth]", "metrics_public = true", ""]
    return "\n".join(t) + "\n"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def newest_lesson(data_dir):
    ls = sorted(d for d in os.listdir(data_dir) if os.path.isfile(os.path.join(data_dir, d, "lesson.json")))
    return os.path.join(data_dir, ls[-1]) if ls else None


def memory_map(pid):
    """Where a process's resident memory is, from /proc/PID/smaps, by kind of
    mapping: anonymous ones by size (glibc serves blocks of 128 KiB and more,
    frames, with mmaps of their own; x264 allocates each frame as one block),
    the heap, thread arenas (64 MiB reservations), shared libraries."""
    out = {}
    size = name = None
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$", line)
            if m:
                size, name = int(m.group(2), 16) - int(m.group(1), 16), m.group(3)
                continue
            if not line.startswith("Rss:") or size is None:
                continue
            mib = int(line.split()[1]) / 1024
            if name.startswith("/"):
                key = "shared libraries and files"
            elif name:
                key = name              # [heap], [stack], ...
            elif size == 64 << 20 or size == (64 << 20) - 4096 or (size > 60 << 20 and size <= 64 << 20):
                key = "thread arenas (glibc, 64 MiB each)"
            elif size >= 4 << 20:
                key = "anonymous blocks of 4 MiB and more (x264's frames)"
            elif size >= 1 << 20:
                key = "anonymous blocks of 1-4 MiB (decoded and program frames)"
            else:
                key = "anonymous, smaller"
            out[key] = out.get(key, 0) + mib
    return {k: round(v, 1) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def run_luobo_offline(a, name, duration, sample=True, **cfg_kw):
    d = os.path.join(a.work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    sink = SrtSink(a.work, name)
    cfg = write(os.path.join(d, "luobo.ini"),
                luobo_config(a, os.path.join(d, "data"), srt_port=sink.port,
                             hls_dir=os.path.join(d, "hls"), **cfg_kw))
    peak = dict(rss_mib=0)

    def hook(t, pid):
        # the memory map at the highest resident set seen (every 0.5 s)
        if int(t * 10) % 5:
            return
        rss = vm_rss_mib(pid) or 0
        if rss > peak["rss_mib"]:
            peak.update(rss_mib=round(rss, 1), t_s=round(t, 1), map=memory_map(pid))
    try:
        r = run_measured([a.luobo, "--config", cfg, "--record", "--offline", "--duration", str(duration)],
                         name, a.work, sample=sample, hook=hook if sample else None)
    finally:
        sink.close()
    r["lesson"] = newest_lesson(os.path.join(d, "data")) if os.path.isdir(os.path.join(d, "data")) else None
    r["memory_at_peak"] = peak
    return r


# ---------------------------------------------------------------- sections

def ffmpeg_inputs(a):
    return ["-i", os.path.join(a.inputs, "screen.mp4"), "-i", os.path.join(a.inputs, "cam_teacher.mp4"),
            "-i", os.path.join(a.inputs, "cam_students.mp4"), "-i", os.path.join(a.inputs, "audio.mp4")]


def section_limit(a, res):
    d = os.path.join(a.work, "limit")
    os.makedirs(d, exist_ok=True)
    dec_cmd = FF + ["-i", os.path.join(a.inputs, "cam_teacher.mp4"), "-i", os.path.join(a.inputs, "cam_students.mp4"),
                    "-i", os.path.join(a.inputs, "screen.mp4"), "-map", "0:v", "-map", "1:v", "-map", "2:v",
                    "-f", "null", "-"]
    # the program picture, rendered once (not timed) as raw video, so that
    # "encode alone" is x264 and nothing else
    raw = os.path.join(d, "program.yuv")
    if not os.path.exists(raw):
        log("limit: rendering the raw PiP program once")
        subprocess.run(FF + ffmpeg_inputs(a)[:4] + ["-filter_complex", FC, "-map", "[prog]", "-t", str(a.duration),
                                                    "-f", "rawvideo", "-pix_fmt", "yuv420p", raw], check=True)
    # read once so the page cache holds it for every rep
    subprocess.run(["cat", raw], stdout=subprocess.DEVNULL)
    enc_cmd = encode_raw_cmd(raw)
    dec, enc = [], []
    for i in range(a.reps):
        log("limit: decode the three cameras, run %d/%d" % (i + 1, a.reps))
        dec.append(run_measured(dec_cmd, "limit-decode-%d" % i, a.work))
        log("limit: encode the program alone, run %d/%d" % (i + 1, a.reps))
        enc.append(run_measured(enc_cmd, "limit-encode-%d" % i, a.work))
    res["limit"] = dict(decode=summarize(dec), encode=summarize(enc), runs=dict(decode=dec, encode=enc),
                        commands=dict(decode=" ".join(dec_cmd), encode=" ".join(enc_cmd)))
    if res["limit"]["decode"]["cpu_s"] is not None and res["limit"]["encode"]["cpu_s"] is not None:
        res["limit"]["cpu_s"] = round(res["limit"]["decode"]["cpu_s"] + res["limit"]["encode"]["cpu_s"], 3)
    if not a.keep_raw:
        os.unlink(raw)


def encode_raw_cmd(raw):
    return FF + ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "%dx%d" % (W, H), "-r", str(FPS),
                 "-i", raw] + VENC + ["-f", "null", "-"]


def section_limit_own(a, res):
    """The limit for the picture luobo really encoded: its director cuts to
    the cameras (noisy, moving) where the CLI shows mostly static slides, and
    x264's cost follows the content.  Renders the reference composite of
    luobo's shots (not timed) and times x264 alone on it."""
    lesson = (res.get("luobo", {}).get("runs") or [{}])[-1].get("lesson")
    if not lesson:
        res["limit_own"] = dict(error="needs the luobo section")
        return
    d = os.path.join(a.work, "limit")
    os.makedirs(d, exist_ok=True)
    raw = os.path.join(d, "luobo-program.yuv")
    segs = lesson_segments(lesson, a.duration)
    pip = pip_rect(W, H, PIP_JOB if a.pip_ok else PIP_DEFAULT)
    log("limit_own: rendering luobo's shots once as raw video")
    graph = reference_graph(segs, a.duration, pip)
    subprocess.run(FF + ["-f", "lavfi", "-i", "nullsrc=s=16x16:d=1", "-i", os.path.join(a.inputs, "screen.mp4"),
                         "-i", os.path.join(a.inputs, "cam_teacher.mp4"), "-i", os.path.join(a.inputs, "cam_students.mp4"),
                         "-filter_complex", graph, "-map", "[ref]", "-t", str(a.duration),
                         "-f", "rawvideo", "-pix_fmt", "yuv420p", raw], check=True)
    subprocess.run(["cat", raw], stdout=subprocess.DEVNULL)
    runs = []
    for i in range(a.reps):
        log("limit_own: encode luobo's program picture alone, run %d/%d" % (i + 1, a.reps))
        runs.append(run_measured(encode_raw_cmd(raw), "limit-own-encode-%d" % i, a.work))
    out = dict(encode=summarize(runs), runs=runs, shots=segs)
    dec = res.get("limit", {}).get("decode", {}).get("cpu_s")
    if dec is not None and out["encode"]["cpu_s"] is not None:
        out["cpu_s"] = round(dec + out["encode"]["cpu_s"], 3)
    res["limit_own"] = out
    if not a.keep_raw:
        os.unlink(raw)


def ffmpeg_job_cmd(a, d, srt_port, realtime=False, fg=None, srt_port2=None):
    srt = "srt://127.0.0.1:%d?mode=caller&latency=120000&pkt_size=1316&linger=5" % srt_port
    tee = ("[f=mp4:movflags=+frag_keyframe+empty_moov]{d}/archive.mp4|"
           "[f=hls:hls_time=2:hls_list_size=6:hls_flags=delete_segments:hls_segment_filename={d}/hls/seg_%05d.ts]{d}/hls/live.m3u8|"
           "[f=mpegts:onfail=ignore]{srt}").format(d=d, srt=srt)
    if srt_port2:       # the latency section's second receiver (LAT_RECEIVERS)
        tee += "|[f=mpegts:onfail=ignore]" + srt.replace(":%d?" % srt_port, ":%d?" % srt_port2)
    ins = ffmpeg_inputs(a)
    if realtime:
        ins = [x for i in range(0, len(ins), 2) for x in ("-re", ins[i], ins[i + 1])]
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-benchmark"] + ins
    if fg:
        cmd += ["-filter_complex_script", fg]
    else:
        cmd += ["-filter_complex", FC]
    cmd += ["-map", "[prog]", "-map", "3:a", "-t", str(a.duration)] + (["-r", str(FPS)] if fg else []) + VENC + AENC + \
        ["-flags", "+global_header", "-f", "tee", tee]
    return cmd


def section_ffmpeg(a, res):
    runs = []
    cmd = None
    for i in range(a.reps):
        d = os.path.join(a.work, "ffmpeg-%d" % i)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "hls"))
        sink = SrtSink(a.work, "ffmpeg-%d" % i)
        cmd = ffmpeg_job_cmd(a, d, sink.port)
        log("ffmpeg CLI hall-3, run %d/%d" % (i + 1, a.reps))
        try:
            r = run_measured(cmd, "ffmpeg-%d" % i, a.work)
        finally:
            sink.close()
        r["archive"] = os.path.join(d, "archive.mp4")
        runs.append(r)
    res["ffmpeg"] = dict(summarize(runs), runs=runs, command=" ".join(cmd).replace(str(runs[-1]["archive"]), "out/archive.mp4"))


def section_luobo(a, res):
    runs = []
    for i in range(a.reps):
        log("luobo hall-3 offline, run %d/%d" % (i + 1, a.reps))
        runs.append(run_luobo_offline(a, "luobo-%d" % i, a.duration))
    s = summarize(runs)
    lesson = runs[-1].get("lesson")
    extra = dict(sub_streams=a.sub_streams, shots=lesson_shots(lesson))
    if lesson:
        prog = os.path.join(lesson, "program.mp4")
        extra["program_frames"] = count_frames(prog)
        extra["director_decisions"] = sum(1 for _ in open(os.path.join(lesson, "director.jsonl")))
        iso = os.path.join(lesson, "iso")
        extra["iso_files"] = sorted(os.listdir(iso)) if os.path.isdir(iso) else []
    if runs[-1].get("rc") is not None:
        with open(os.path.join(a.work, "luobo-%d.log" % (len(runs) - 1)), errors="replace") as f:
            logtext = f.read()
        extra["iso_encoders"] = re.findall(r"\[encoder:(iso:[^\]]+)\] (x264[^\n]*)", logtext)
        extra["passthrough"] = re.findall(r"\[capture:([^\]]+)\] (\S+ \d+x\d+) \S+, passthrough", logtext)
    res["luobo"] = dict(s, runs=runs, config=open(os.path.join(a.work, "luobo-0", "luobo.ini")).read(), **extra)


def lesson_shots(lesson):
    path = os.path.join(lesson, "director.jsonl") if lesson else None
    if not path or not os.path.exists(path):
        return []
    return [(d["t"], d["layout"], d["sources"]) for d in map(json.loads, open(path))]


def section_luobo_nosub(a, res):
    """luobo's job with the director analysing the main streams (no
    analysis_url: every camera decoded in full while it watches): one run,
    and how its decisions compare with the sub-streams' ones."""
    log("luobo hall-3 offline, the director on the main streams")
    r = run_luobo_offline(a, "luobo-nosub", a.duration, sub_streams=False)
    out = dict(summarize([r]), runs=[r], shots=lesson_shots(r.get("lesson")))
    with_sub = res.get("luobo", {}).get("shots")
    if with_sub and out["shots"]:
        same = [x[1:] for x in with_sub] == [x[1:] for x in out["shots"]]
        out["same_shots_as_sub_streams"] = same
        if same:
            out["cut_delay_s"] = [round(x[0] - y[0], 3) for x, y in zip(with_sub, out["shots"])]
    res["luobo_nosub"] = out


def section_luobo_cli_picture(a, res):
    """luobo on the ffmpeg CLI's very picture: an operator's fixed shot
    ([director] mode = manual, shot = screen, layout = pip, the CLI's PiP
    geometry), so that CPU and PSNR compare the same job.  luobo still does
    what it always does besides: resource mode, the sub-streams for the
    console's previews.  Medians of --reps runs."""
    runs = []
    for i in range(a.reps):
        log("luobo hall-3 offline on the CLI's picture (manual: screen + teacher PiP), run %d/%d" % (i + 1, a.reps))
        runs.append(run_luobo_offline(a, "luobo-pip-%d" % i, a.duration, director="manual",
                                      director_extra=("shot = screen", "layout = pip")))
    res["luobo_cli_picture"] = dict(summarize(runs), runs=runs, shots=lesson_shots(runs[-1].get("lesson")))


def section_luobo_noiso(a, res):
    """luobo's job without resource mode ([encoder] iso = false): one run."""
    log("luobo hall-3 offline without resource mode")
    r = run_luobo_offline(a, "luobo-noiso", a.duration, iso=False)
    res["luobo_noiso"] = dict(summarize([r]), runs=[r])


def section_luobo_manual(a, res):
    """luobo's job with an operator directing ([director] mode = manual: the
    first automatic shot, frozen): cameras off the air are not decoded (with
    sub-streams) or from their key frames only ([source] decode = auto).
    One run."""
    log("luobo hall-3 offline, an operator directing (decoding on demand)")
    r = run_luobo_offline(a, "luobo-manual", a.duration, director="manual")
    lesson = r.get("lesson")
    shots = []
    if lesson and os.path.exists(os.path.join(lesson, "director.jsonl")):
        shots = [json.loads(l).get("shot") for l in open(os.path.join(lesson, "director.jsonl"))]
    with open(os.path.join(a.work, "luobo-manual.log"), errors="replace") as f:
        partial = dict(re.findall(r"source (\w+): \w+, \d+ frames \((\d+) from key frames only\)", f.read()))
    res["luobo_manual"] = dict(summarize([r]), runs=[r], shots=shots,
                               partial_frames={k: int(v) for k, v in partial.items()})


def count_frames(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
                        "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path],
                       capture_output=True, text=True)
    try:
        return int(p.stdout.strip().split(",")[0])
    except ValueError:
        return None


# ---- PSNR against a reference composite

def reference_graph(segments, duration, pip):
    """An ffmpeg filter graph over inputs 1 (screen), 2 (teacher), 3 (students)
    that renders, with lanczos scaling and no encoding, the shots in segments
    [(t0, t1, layout, [sources])] the way luobo's compositor lays them out.
    Output label [ref]."""
    idx = {"screen": 1, "teacher": 2, "students": 3}
    uses = {k: {"full": 0, "pip": 0, "half": 0} for k in idx}
    ops = []
    for (t0, t1, layout, srcs) in segments:
        if not srcs:            # no shot yet ("none"): the black base
            continue
        en = "enable='between(t,%.4f,%.4f)'" % (t0, t1 - 0.5 / FPS)
        if layout == "single" or len(srcs) < 2:
            ops.append((srcs[0], "full", 0, 0, en))
        elif layout == "pip":
            ops.append((srcs[0], "full", 0, 0, en))
            ops.append(("box", pip, en))
            ops.append((srcs[1], "pip", pip["fx"], pip["fy"], en))
        elif layout == "sbs":
            half = W // 2
            fh = (half * 9 // 16) & ~1
            fy = ((H - fh) // 2) & ~1
            ops.append((srcs[0], "half", 0, fy, en))
            ops.append((srcs[1], "half", half, fy, en))
    for op in ops:
        if op[0] != "box":
            uses[op[0]][op[1]] += 1
    g = []
    sizes = {"full": "%d:%d" % (W, H), "pip": "%d:%d" % (pip["fw"], pip["fh"]),
             "half": "%d:%d" % (W // 2, (W // 2 * 9 // 16) & ~1)}
    for s, i in idx.items():
        for kind, n in uses[s].items():
            if n:
                g.append("[%d:v]scale=%s:flags=lanczos,format=yuv420p,split=%d%s" % (
                    i, sizes[kind], n, "".join("[%s_%s_%d]" % (s, kind, k) for k in range(n))))
    g.append("color=c=black:s=%dx%d:r=%d:d=%s,format=yuv420p[base0]" % (W, H, FPS, duration))
    cnt = {}
    last = "base0"
    for j, op in enumerate(ops):
        if op[0] == "box":
            _, r, en = op
            b = r["bd"]
            if b:
                g.append("[%s]drawbox=x=%d:y=%d:w=%d:h=%d:color=white:t=fill:%s[base%da]" % (
                    last, r["x"] - b, r["y"] - b, r["w"] + 2 * b, r["h"] + 2 * b, en, j + 1))
                last = "base%da" % (j + 1)
            g.append("[%s]drawbox=x=%d:y=%d:w=%d:h=%d:color=black:t=fill:%s[base%d]" % (
                last, r["x"], r["y"], r["w"], r["h"], en, j + 1))
            last = "base%d" % (j + 1)
            continue
        s, kind, x, y, en = op
        k = cnt.get((s, kind), 0)
        cnt[(s, kind)] = k + 1
        g.append("[%s][%s_%s_%d]overlay=x=%d:y=%d:%s:eof_action=pass:format=yuv420[base%d]" % (
            last, s, kind, k, x, y, en, j + 1))
        last = "base%d" % (j + 1)
    g.append("[%s]null[ref]" % last)
    return ";".join(g)


def psnr_frames(a, program, segments, name, pip):
    """Per-frame PSNR (Y and average) of program against the reference."""
    stats = os.path.join(a.work, name + ".psnr.txt")
    graph = reference_graph(segments, a.duration, pip) + ";[0:v]format=yuv420p,setpts=PTS-STARTPTS[prog];" \
        "[ref]setpts=PTS-STARTPTS[r];[prog][r]psnr=stats_file=%s" % stats
    cmd = FF + ["-i", program, "-i", os.path.join(a.inputs, "screen.mp4"),
                "-i", os.path.join(a.inputs, "cam_teacher.mp4"), "-i", os.path.join(a.inputs, "cam_students.mp4"),
                "-filter_complex", graph, "-t", str(a.duration), "-f", "null", "-"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        log("psnr %s failed: %s" % (name, p.stderr[-2000:]))
        return None
    frames = []
    for line in open(stats):
        kv = dict(x.split(":", 1) for x in line.split())
        frames.append(dict(n=int(kv["n"]), y=float(kv["psnr_y"]), avg=float(kv["psnr_avg"]),
                           mse_y=float(kv["mse_y"])))
    return frames


def psnr_summary(frames):
    if not frames:
        return None
    import math
    mse = statistics.mean(f["mse_y"] for f in frames)
    finite = [min(f["y"], 100.0) for f in frames]
    return dict(frames=len(frames), psnr_y_mean=round(statistics.mean(finite), 2),
                psnr_y_global=round(10 * math.log10(255 ** 2 / mse), 2) if mse > 0 else 100.0,
                psnr_avg_mean=round(statistics.mean(min(f["avg"], 100.0) for f in frames), 2))


def lesson_segments(lesson, duration):
    decisions = [json.loads(l) for l in open(os.path.join(lesson, "director.jsonl")) if l.strip()]
    segs = []
    for i, dcs in enumerate(decisions):
        t0 = float(dcs["t"])
        t1 = float(decisions[i + 1]["t"]) if i + 1 < len(decisions) else float(duration)
        if t1 > t0:
            segs.append((t0, t1, dcs["layout"], dcs["sources"]))
    return segs


def section_psnr(a, res):
    if "luobo" not in res or "ffmpeg" not in res:
        res["psnr"] = dict(error="needs the luobo and ffmpeg sections")
        return
    lesson = res["luobo"]["runs"][-1].get("lesson")
    archive = res["ffmpeg"]["runs"][-1].get("archive")
    if not lesson or not os.path.exists(archive or ""):
        res["psnr"] = dict(error="no program to compare")
        return
    pip_seg = [(0.0, float(a.duration), "pip", ["screen", "teacher"])]
    log("psnr: ffmpeg's program against the fixed PiP reference")
    job_pip = pip_rect(W, H, PIP_JOB)
    ff = psnr_frames(a, archive, pip_seg, "psnr-ffmpeg", job_pip)
    log("psnr: luobo's program against the reference of its own shots")
    segs = lesson_segments(lesson, a.duration)
    lb_pip = pip_rect(W, H, PIP_JOB if a.pip_ok else PIP_DEFAULT)
    lb = psnr_frames(a, os.path.join(lesson, "program.mp4"), segs, "psnr-luobo", lb_pip)
    out = dict(reference="lossless composite by ffmpeg (lanczos scaling) of the same decoded inputs; "
                         "ffmpeg: fixed PiP; luobo: the shots of its director.jsonl in luobo's geometry",
               ffmpeg=psnr_summary(ff), luobo=psnr_summary(lb), luobo_shots=segs)
    # frames where both programs show the same shot: the very same reference
    if ff and lb and a.pip_ok:
        same = set()
        for (t0, t1, layout, srcs) in segs:
            if layout == "pip" and srcs[:2] == ["screen", "teacher"]:
                same.update(range(int(round(t0 * FPS)), int(round(t1 * FPS))))
        ffs = [f for f in ff if f["n"] - 1 in same]
        lbs = [f for f in lb if f["n"] - 1 in same]
        out["same_shot"] = dict(frames=len(same), ffmpeg=psnr_summary(ffs), luobo=psnr_summary(lbs))
    cli_pic = res.get("luobo_cli_picture", {}).get("runs", [{}])[-1].get("lesson")
    if cli_pic and a.pip_ok:
        log("psnr: luobo's program on the CLI's picture against the CLI's reference")
        out["luobo_cli_picture"] = psnr_summary(psnr_frames(a, os.path.join(cli_pic, "program.mp4"), pip_seg,
                                                            "psnr-luobo-pip", job_pip))
    res["psnr"] = out


# ---- luobo's program encode against ffmpeg -c:v libx264

# The job's x264 settings as [encoder] keys, for bench/lb_bench_encode
# (= luobo_config's [encoder] and VENC).
LB_VENC = ["preset=veryfast", "rate_control=cbr", "bitrate_kbps=4000", "bufsize_kbits=8000",
           "keyint_s=2", "zerolatency=true"]


def x264_sei(path):
    """The options string x264 writes into its SEI (every setting it used)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    m = re.search(rb"x264 - core [^\x00]*?options: ([^\x00]*)", head)
    if not m:
        return None
    return dict(kv.split("=", 1) for kv in m.group(1).decode("latin-1").split() if "=" in kv)


def vui_tags(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "stream=profile,level,color_range,color_primaries,color_transfer,color_space",
                        "-of", "json", path], capture_output=True, text=True)
    try:
        return json.loads(p.stdout)["streams"][0]
    except (ValueError, KeyError, IndexError):
        return None


def section_encoder(a, res):
    """luobo's program encode (lb_video_encoder, through bench/lb_bench_encode)
    beside `ffmpeg -f rawvideo ... -c:v libx264` with the job's settings, on
    the same raw frames: fps (wall), CPU (wait4) and PSNR against the raw
    input, medians of --reps.  Inputs: the CLI's PiP picture (slides +
    teacher inset: easy) and the teacher camera full frame (sensor noise:
    hard, what luobo's director often shows).  A third encoder, ffmpeg with
    -x264-params nal-hrd=cbr, has luobo's only x264 difference (HRD + filler:
    see the SEI diff) so that the two are compared at identical settings."""
    import hashlib
    tool = a.encode_tool or os.path.join(os.path.dirname(os.path.dirname(a.luobo)), "bench", "lb_bench_encode")
    if not os.access(tool, os.X_OK):
        res["encoder"] = dict(error="no %s (built with luobo by CMake)" % tool)
        return
    d = os.path.join(a.work, "encoder")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    seconds = min(a.duration, 3) if a.smoke else a.duration
    inputs = [("pip", "the CLI's PiP picture (screen + teacher inset)"),
              ("teacher", "the teacher camera full frame")]
    if a.smoke:
        inputs = inputs[:1]
    ff_base = FF + ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", "%dx%d" % (W, H), "-r", str(FPS), "-i"]
    out = dict(seconds=seconds, frames=seconds * FPS, tool=tool, settings=" ".join(LB_VENC),
               ffmpeg_settings=" ".join(VENC), inputs={})
    for name, what in inputs:
        raw = os.path.join(d, name + ".yuv")
        log("encoder: rendering %s once as raw video (%d s)" % (name, seconds))
        if name == "pip":
            render = FF + ffmpeg_inputs(a)[:4] + ["-filter_complex", FC, "-map", "[prog]"]
        else:
            render = FF + ["-i", os.path.join(a.inputs, "cam_teacher.mp4"), "-map", "0:v"]
        subprocess.run(render + ["-t", str(seconds), "-f", "rawvideo", "-pix_fmt", "yuv420p", raw], check=True)
        frames = os.path.getsize(raw) // (W * H * 3 // 2)
        cmds = dict(
            luobo=[tool, "%dx%d" % (W, H), str(FPS), raw, os.path.join(d, name + "-luobo.h264")] + LB_VENC,
            ffmpeg=ff_base + [raw] + VENC + ["-f", "h264", os.path.join(d, name + "-ffmpeg.h264")],
            ffmpeg_hrd=ff_base + [raw] + VENC + ["-x264-params", "nal-hrd=cbr", "-f", "h264",
                                                 os.path.join(d, name + "-ffmpeg_hrd.h264")])
        runs = {k: [] for k in cmds}
        digests = {k: set() for k in cmds}
        for i in range(a.reps):
            subprocess.run(["cat", raw], stdout=subprocess.DEVNULL)     # in the page cache for every run
            for k, cmd in cmds.items():
                log("encoder: %s through %s, run %d/%d" % (name, k, i + 1, a.reps))
                r = run_measured(cmd, "encoder-%s-%s-%d" % (name, k, i), a.work)
                r["fps"] = round(frames / r["wall_s"], 2) if r["wall_s"] else None
                runs[k].append(r)
                if r["rc"] == 0:
                    with open(cmd[4] if k == "luobo" else cmd[-1], "rb") as f:
                        digests[k].add(hashlib.md5(f.read()).hexdigest())
        per = dict(what=what, frames=frames)
        for k, cmd in cmds.items():
            path = cmd[4] if k == "luobo" else cmd[-1]
            s = summarize(runs[k])
            s["fps"] = med(runs[k], "fps")
            s["runs"] = runs[k]
            s["command"] = " ".join(cmd).replace(d + "/", "")
            s["same_output_every_run"] = len(digests[k]) == 1
            if os.path.exists(path):
                s["kbps"] = round(os.path.getsize(path) * 8 / (frames / FPS) / 1000, 1)
                s["sei"] = x264_sei(path)
                s["vui"] = vui_tags(path)
                stats = os.path.join(a.work, "encoder-%s-%s.psnr.txt" % (name, k))
                # raw H.264 carries no timestamps (its frames come out with none,
                # and framesync would repeat the first): pair the frames by number
                graph = ("[1:v]setpts=N/(%d*TB)[e];[0:v]setpts=N/(%d*TB)[r];"
                         "[e][r]psnr=stats_file=%s:shortest=1" % (FPS, FPS, stats))
                p = subprocess.run(ff_base + [raw, "-i", path, "-lavfi", graph, "-f", "null", "-"],
                                   capture_output=True, text=True)
                if p.returncode == 0:
                    fr = []
                    for line in open(stats):
                        kv = dict(x.split(":", 1) for x in line.split())
                        fr.append(dict(n=int(kv["n"]), y=float(kv["psnr_y"]), avg=float(kv["psnr_avg"]),
                                       mse_y=float(kv["mse_y"])))
                    s["psnr"] = psnr_summary(fr)
                os.unlink(path)
            per[k] = s
        lb = per["luobo"]
        for base in ("ffmpeg", "ffmpeg_hrd"):
            ff = per[base]
            if lb.get("fps") and ff.get("fps"):
                per["fps_luobo_over_" + base] = round(lb["fps"] / ff["fps"], 3)
            if lb.get("cpu_s") and ff.get("cpu_s"):
                per["cpu_luobo_over_" + base] = round(lb["cpu_s"] / ff["cpu_s"], 3)
            if lb.get("psnr") and ff.get("psnr"):
                per["psnr_y_luobo_minus_%s_db" % base] = round(lb["psnr"]["psnr_y_mean"] - ff["psnr"]["psnr_y_mean"], 3)
        # every x264 setting that differs, from the SEI each encode wrote
        for k in ("ffmpeg", "ffmpeg_hrd"):
            a_sei, b_sei = lb.get("sei") or {}, per[k].get("sei") or {}
            per["sei_diff_" + k] = {key: [a_sei.get(key), b_sei.get(key)]
                                    for key in sorted(set(a_sei) | set(b_sei)) if a_sei.get(key) != b_sei.get(key)}
        out["inputs"][name] = per
        if not a.keep_raw:
            os.unlink(raw)
    res["encoder"] = out


# ---- realtime

def scrape(url):
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.read().decode()
    except Exception:
        return None


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"(\S+?)(\{.*\})?\s+(\S+)$", line)
        if m:
            try:
                out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
            except ValueError:
                pass
    return out


def paced_setup(a, name, **cfg_kw):
    """A fresh folder, an SRT sink and the config of a paced run with
    /metrics public: (folder, http port, sink, config path)."""
    d = os.path.join(a.work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    port = free_port()
    sink = SrtSink(a.work, name)
    cfg = write(os.path.join(d, "luobo.ini"),
                luobo_config(a, os.path.join(d, "data"), srt_port=sink.port, hls_dir=os.path.join(d, "hls"),
                             http_port=port, **cfg_kw))
    return d, port, sink, cfg


def realtime_run(a, name, **cfg_kw):
    """luobo paced in real time for a.rt_duration s, /metrics scraped."""
    d, port, sink, cfg = paced_setup(a, name, **cfg_kw)
    last = {}
    rss = []

    def hook(t, pid):
        # a scrape every ~second, the last one before the end is kept
        if int(t * 10) % 10 == 0:
            text = scrape("http://127.0.0.1:%d/metrics" % port)
            if text:
                last.clear()
                last.update(parse_metrics(text))
    log("%s: luobo paced, %d s" % (name, a.rt_duration))
    try:
        r = run_measured([a.luobo, "--config", cfg, "--record", "--duration", str(a.rt_duration)],
                         name, a.work, sample=True, hook=hook, timeout=max(120, 3 * a.rt_duration))
    finally:
        sink.close()
    m = last
    dropped = dict(
        source_dropped=sum(v for k, v in m.items() if k.startswith("luobo_source_dropped_total")),
        program_late=m.get("luobo_program_late_frames_total"),
        output_dropped=sum(v for k, v in m.items() if k.startswith("luobo_output_dropped_total")))
    lesson = newest_lesson(os.path.join(d, "data")) if os.path.isdir(os.path.join(d, "data")) else None
    frames = count_frames(os.path.join(lesson, "program.mp4")) if lesson else None
    r.update(cpu_share_of_2_cores=round(r["cpu_s"] / r["wall_s"] / os.cpu_count(), 3) if r["wall_s"] else None,
             metrics_last=m, dropped=dropped, program_frames=frames,
             expected_frames=a.rt_duration * FPS, stages=stages(r.get("threads", {})))
    # also from the log: any line about late or dropped frames
    with open(os.path.join(a.work, name + ".log"), errors="replace") as f:
        r["log_warnings"] = [l.strip() for l in f if " WARN " in l or " ERROR " in l][:20]
    return r


def section_realtime(a, res):
    res["realtime"] = realtime_run(a, "realtime")


def section_capacity(a, res):
    """The issue's capacity target: six 1080p30 H.264 cameras (the teacher
    and screen inputs, three of each), the program and a 720p rendition, in
    real time on this machine, director on every camera."""
    cams = ("teacher", "screen", "teacher#2", "screen#2", "teacher#3", "screen#3")
    r = realtime_run(a, "capacity", cams=cams, encoder_extra=("renditions = 1280x720:2500",))
    r["cameras"] = list(cams)
    res["capacity"] = r


def vm_rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def section_longrun(a, res):
    """Memory over a long lesson: hall-3 in real time for --long-duration s
    (default one hour; not in the default sections), the inputs looped, the
    resident set and the drop counters sampled every 10 s.  Flat means: the
    slope of RSS after the first 5 minutes (least squares) is about 0."""
    name = "longrun"
    d, port, sink, cfg = paced_setup(a, name, loop=True)
    samples = []

    def hook(t, pid):
        if t < len(samples) * 10:
            return
        m = parse_metrics(scrape("http://127.0.0.1:%d/metrics" % port) or "")
        samples.append(dict(
            t_s=round(t, 1), rss_mib=round(vm_rss_mib(pid), 1),
            late=m.get("luobo_program_late_frames_total"),
            source_dropped=sum(v for k, v in m.items() if k.startswith("luobo_source_dropped_total")),
            output_dropped=sum(v for k, v in m.items() if k.startswith("luobo_output_dropped_total"))))
    log("%s: luobo paced, %d s, inputs looped" % (name, a.long_duration))
    try:
        r = run_measured([a.luobo, "--config", cfg, "--record", "--duration", str(a.long_duration)],
                         name, a.work, sample=True, hook=hook, timeout=a.long_duration + 600)
    finally:
        sink.close()
    lesson = newest_lesson(os.path.join(d, "data")) if os.path.isdir(os.path.join(d, "data")) else None
    frames = count_frames(os.path.join(lesson, "program.mp4")) if lesson else None
    steady = [s for s in samples if s["t_s"] >= 300 and s["rss_mib"] is not None]
    slope = None
    if len(steady) >= 3:
        xs = [s["t_s"] / 3600 for s in steady]
        ys = [s["rss_mib"] for s in steady]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    rss = [s["rss_mib"] for s in samples if s["rss_mib"] is not None]
    r.update(duration_s=a.long_duration, samples=samples, program_frames=frames,
             expected_frames=a.long_duration * FPS,
             cpu_share_of_2_cores=round(r["cpu_s"] / r["wall_s"] / os.cpu_count(), 3) if r["wall_s"] else None,
             rss_at_5min_mib=steady[0]["rss_mib"] if steady else None,
             rss_end_mib=rss[-1] if rss else None, rss_max_mib=max(rss) if rss else None,
             rss_slope_mib_per_h=round(slope, 2) if slope is not None else None,
             loadavg_end=os.getloadavg())
    if lesson:
        shutil.rmtree(os.path.join(d, "data"), ignore_errors=True)   # gigabytes of archive
    res["longrun"] = r


def section_overload(a, res):
    """Issue #17: memory bounded by time and given back.  The capacity job
    (six 1080p30 cameras, the program and a 720p rendition) in real time,
    inputs looped: --ov-quiet s quiet, --ov-load s with two busy loops per
    core, --ov-after s quiet again.  RSS every second; the quiet level is
    the median of the 15 s before the overload, the level after it the
    median of the last 15 s."""
    name = "overload"
    cams = ("teacher", "screen", "teacher#2", "screen#2", "teacher#3", "screen#3")
    d, port, sink, cfg = paced_setup(a, name, cams=cams, loop=True,
                                     encoder_extra=("renditions = 1280x720:2500",))
    q, l, af = a.ov_quiet, a.ov_load, a.ov_after
    total = q + l + af
    samples, hogs, maps = [], [], {}

    def hook(t, pid):
        if q <= t < q + l and not hogs:
            for _ in range(2 * os.cpu_count()):
                hogs.append(subprocess.Popen([sys.executable, "-c", "while True: pass"]))
        elif t >= q + l and hogs:
            for h in hogs:
                h.kill()
                h.wait()
            hogs.clear()
        if t < len(samples):
            return
        if len(samples) in (q - 1, q + l - 1, total - 2):   # where the memory is, by kind
            maps[samples[-1]["phase"] if samples else "quiet"] = memory_map(pid)
        m = parse_metrics(scrape("http://127.0.0.1:%d/metrics" % port) or "")
        samples.append(dict(t_s=round(t, 1), rss_mib=round(vm_rss_mib(pid), 1),
                            phase="quiet" if t < q else "overload" if t < q + l else "after",
                            late=m.get("luobo_program_late_frames_total"),
                            repeated=m.get("luobo_program_skipped_frames_total")))
    log("%s: luobo paced, %d s quiet, %d s overloaded, %d s quiet" % (name, q, l, af))
    try:
        r = run_measured([a.luobo, "--config", cfg, "--record", "--duration", str(total)],
                         name, a.work, sample=True, hook=hook, timeout=total + 600)
    finally:
        sink.close()
        for h in hogs:
            h.kill()
            h.wait()
    lesson = newest_lesson(os.path.join(d, "data")) if os.path.isdir(os.path.join(d, "data")) else None
    frames = count_frames(os.path.join(lesson, "program.mp4")) if lesson else None
    rss = lambda lo, hi: [s["rss_mib"] for s in samples if lo <= s["t_s"] < hi and s["rss_mib"]]
    quiet = rss(q - 15, q)
    during = rss(q, q + l)
    after = rss(total - 15, total + 60)
    scraped = [s for s in samples if s.get("late") is not None]
    last = scraped[-1] if scraped else {}
    r.update(quiet_s=q, overload_s=l, after_s=af, samples=samples, program_frames=frames,
             expected_frames=total * FPS,
             rss_quiet_mib=statistics.median(quiet) if quiet else None,
             rss_overload_max_mib=max(during) if during else None,
             rss_after_mib=statistics.median(after) if after else None,
             late=last.get("late"), repeated=last.get("repeated"), memory_maps=maps,
             loadavg_end=os.getloadavg())
    if r["rss_quiet_mib"] and r["rss_after_mib"]:
        r["after_vs_quiet"] = round(r["rss_after_mib"] / r["rss_quiet_mib"], 3)
    if lesson:
        shutil.rmtree(os.path.join(d, "data"), ignore_errors=True)
    res["overload"] = r


# ---- latency

def barcode_graph(movie_name):
    """lavfi: the screen file with the wall clock of the moment each frame is
    made (ms since the epoch, 44 bits) burned into the top-left 1408x32 strip
    as in reference-ffmpeg/lat_sender.fg; the realtime filter makes each frame
    when it is due, like a camera.  Short: luobo's INI lines end at ~200
    characters (inih's INI_MAX_LINE)."""
    return ("movie=%s:loop=0,realtime,settb=AVTB,setpts=RTCTIME,split[a][b];"
            "[b]crop=1408:32:0:0,geq=16+219*mod(floor(T*1e3/pow(2\\,floor(X/32)))\\,2):128:128[c];"
            "[a][c]overlay,setpts=N/30/TB,settb=1/30" % movie_name)


# The SRT receivers, ffmpeg listeners that decode the stream and hand the
# barcode strip of every frame to barcode_rx.py, at once: -fps_mode
# passthrough, as a player shows a frame when it is decoded (ffmpeg's
# default for rawvideo, constant frame rate, holds each frame until the
# next one comes: 33 ms of the receiver's, not the stream's).  "frame"
# decodes each PES as its last byte arrives (-fflags +noparse: luobo
# writes the PES length, streamer/output_srt.c); "parser" is ffmpeg's
# default demuxing, whose H.264 parser holds a frame until the next one
# begins (one frame interval more).
LAT_RECEIVERS = (("frame", ["-fflags", "+noparse"], "srt.csv"), ("parser", [], "srt-parser.csv"))


def lat_receivers(a, d, tag, srt_ports, hls_playlist, lat_us):
    """One receiver per LAT_RECEIVERS on srt_ports; the HLS playlist monitor."""
    crop = "crop=1408:32:0:0,format=gray"
    procs = []
    for (name, flags, csv), port in zip(LAT_RECEIVERS, srt_ports):
        rx = subprocess.Popen(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-threads", "1",
                               "-flags", "low_delay"] + flags +
                              ["-i", "srt://127.0.0.1:%d?mode=listener&latency=%d" % (port, lat_us),
                               "-map", "0:v", "-vf", crop, "-fps_mode", "passthrough", "-f", "rawvideo",
                               "-flush_packets", "1", "pipe:1"],
                              stdout=subprocess.PIPE, stderr=open(os.path.join(d, "rx_ffmpeg-%s.err" % name), "wb"))
        bc = subprocess.Popen([sys.executable, os.path.join(HERE, "barcode_rx.py"), os.path.join(d, csv),
                               "--skip", str(a.lat_skip)], stdin=rx.stdout,
                              stderr=open(os.path.join(d, "srt_summary-%s.txt" % name), "wb"))
        rx.stdout.close()
        procs += [rx, bc]
    mon = subprocess.Popen([sys.executable, os.path.join(HERE, "hls_monitor.py"), hls_playlist,
                            os.path.join(d, "hls_copy"), os.path.join(d, "hls_listing.csv")])
    return procs, mon


def srt_latencies(path):
    """The steady frames' glass-to-glass ms of one receiver's CSV (the first
    10 s dropped: connection, start-up)."""
    lats = []
    try:
        for line in list(open(path))[1:]:
            idx, t_rx, stamp, lat = line.strip().split(",")
            if lat and abs(float(lat)) < 120000:
                lats.append((int(idx), float(t_rx), float(lat)))
    except OSError:
        pass
    out = dict(frames_received=len(lats))
    if lats:
        t0 = lats[0][1]
        steady = [l for (i, t, l) in lats if t - t0 >= 10000]
        if steady:
            q = statistics.quantiles(steady, n=20) if len(steady) > 1 else [steady[0]] * 19
            out["ms"] = dict(n=len(steady), median=round(statistics.median(steady), 1),
                             p5=round(q[0], 1), p95=round(q[-1], 1), max=round(max(steady), 1))
    return out


def lat_collect(d, procs, mon, t_start_wall_ms):
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    mon.send_signal(signal.SIGTERM)
    mon.wait()
    out = {}
    for name, _, csv in LAT_RECEIVERS:
        r = srt_latencies(os.path.join(d, csv))
        key = "srt_ms" if name == "frame" else "srt_%s_ms" % name
        if name == "frame":
            out["srt_frames_received"] = r["frames_received"]
        if "ms" in r:
            out[key] = r["ms"]
    # HLS delay: when a segment is listed vs the capture time of its first frame
    # (decoded from the copied segment's barcode)
    delays = []
    try:
        rows = [l.strip().split(",") for l in list(open(os.path.join(d, "hls_listing.csv")))[1:]]
    except OSError:
        rows = []
    for t_listed, seg in rows[1:]:   # the first listing may predate the monitor
        path = os.path.join(d, "hls_copy", os.path.basename(seg))
        stamp = first_barcode(path)
        if stamp:
            delays.append(dict(segment=seg, listed_minus_first_frame_ms=round(float(t_listed) - stamp[0], 1),
                               listed_minus_last_frame_ms=round(float(t_listed) - stamp[1], 1)))
    out["hls_segments"] = delays
    if delays:
        out["hls_ms"] = dict(n=len(delays),
                             newest_segment_first_frame_median=round(statistics.median(
                                 x["listed_minus_first_frame_ms"] for x in delays), 1),
                             newest_segment_last_frame_median=round(statistics.median(
                                 x["listed_minus_last_frame_ms"] for x in delays), 1))
    return out


def first_barcode(path):
    """Capture time (ms) of a segment's first and last frames, estimated from
    the first and last frames whose barcode reads (the director may show
    another camera in between) at 30 frames/s; None if none reads."""
    if not os.path.exists(path):
        return None
    p = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v", "-vf", "crop=1408:32:0:0,format=gray",
                        "-f", "rawvideo", "-"], capture_output=True)
    fs = 1408 * 32
    sys.path.insert(0, HERE)
    from barcode_rx import decode
    stamps = []
    n = len(p.stdout) // fs
    now = time.time() * 1000
    for k in range(n):
        st = decode(p.stdout[k * fs:(k + 1) * fs])
        if abs(now - st) < 3600 * 1000:
            stamps.append((k, st))
    if not stamps:
        return None
    (k0, s0), (k1, s1) = stamps[0], stamps[-1]
    return (s0 - k0 * 1000.0 / FPS, s1 + (n - 1 - k1) * 1000.0 / FPS)


def lat_luobo(a, tag, sync_delay_ms=None, sync_delay_auto=None):
    """luobo's live path: teacher file paced, the screen drawn by lavfi with
    its capture time burned in; the director stays on the screen.  /metrics
    is scraped every second for the sync delay the program ran with."""
    lat_ms = 120
    d = os.path.join(a.work, "lat-" + tag)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    srt_ports = [free_udp_port() for _ in LAT_RECEIVERS]
    http_port = free_port()
    hls_dir = os.path.join(d, "hls")
    procs, mon = lat_receivers(a, d, tag, srt_ports, os.path.join(hls_dir, "program.m3u8"), lat_ms * 1000)
    time.sleep(1)
    barcode_src = "\n".join(["[source.screen]", "type = synthetic", "role = screen",
                             "graph = %s" % barcode_graph("s.mp4"), ""])
    os.symlink(os.path.join(a.inputs, "screen.mp4"), os.path.join(d, "s.mp4"))
    # without resource mode: a live latency, not whether 2 cores also hold
    # the ISO encodes (the realtime section answers that)
    cfg = luobo_config(a, os.path.join(d, "data"), cams=("teacher",), srt_port=None, hls_dir=hls_dir,
                       extra_sources=barcode_src, iso=False, http_port=http_port)
    general = ""
    if sync_delay_ms is not None:
        general += "sync_delay_ms = %d\n" % sync_delay_ms
    if sync_delay_auto is not None and a.sync_auto_ok:
        general += "sync_delay_auto = %s\n" % ("true" if sync_delay_auto else "false")
    cfg = cfg.replace("[general]\n", "[general]\n" + general, 1)
    for (name, _, _), port in zip(LAT_RECEIVERS, srt_ports):
        cfg += "[output.srt-%s]\ntype = srt\nurl = srt://127.0.0.1:%d?mode=caller&latency=%d\n" % (name, port, lat_ms)
    cfgp = write(os.path.join(d, "luobo.ini"), cfg)
    delays = []

    def hook(t, pid):
        if int(t * 10) % 10 == 0 and t > 10:
            m = parse_metrics(scrape("http://127.0.0.1:%d/metrics" % http_port) or "")
            if m.get("luobo_program_sync_delay_seconds") is not None:
                delays.append(m["luobo_program_sync_delay_seconds"] * 1000)
    log("latency: luobo %s%s, %d s" % (tag, "" if not general else " (%s)" % general.strip().replace("\n", ", "),
                                        a.lat_duration))
    # where the time goes, frame by frame (bench/lat_stages.py)
    trace = os.path.join(d, "latency-trace.txt")
    r = run_measured([a.luobo, "--config", cfgp, "--record", "--duration", str(a.lat_duration)],
                     "lat-" + tag, a.work, sample=True, hook=hook, cwd=d, timeout=max(120, 3 * a.lat_duration),
                     env=dict(os.environ, LUOBO_LATENCY_TRACE=trace))
    lr = lat_collect(d, procs, mon, None)
    if os.path.exists(trace):
        sys.path.insert(0, HERE)
        from lat_stages import stages
        try:
            lr["stages"] = stages(trace, os.path.join(d, "srt.csv"))
        except (OSError, ValueError, IndexError) as e:
            lr["stages"] = dict(error="%s: %s" % (type(e).__name__, e))
    lr.update(cpu_s=r["cpu_s"], wall_s=r["wall_s"], rc=r["rc"], sync_delay_ms=sync_delay_ms,
              sync_delay_auto=sync_delay_auto, loadavg_end=os.getloadavg())
    if delays:
        lr["sync_delay_measured_ms"] = dict(median=round(statistics.median(delays), 1), min=round(min(delays), 1),
                                            max=round(max(delays), 1), n=len(delays))
    lesson = newest_lesson(os.path.join(d, "data")) if os.path.isdir(os.path.join(d, "data")) else None
    if lesson:
        lr["shots"] = [json.loads(l) for l in open(os.path.join(lesson, "director.jsonl")) if l.strip()]
    # the playlist name luobo writes
    if os.path.isdir(hls_dir):
        lr["hls_files"] = sorted(os.listdir(hls_dir))[:10]
    return lr


def section_latency_luobo(a, res):
    """luobo's row of the latency section alone (quick iterations on one
    change; the CLI's row needs the full section)."""
    kw = {}
    for opt in (a.lat_general or "").split(","):
        if opt.startswith("sync_delay_ms="):
            kw["sync_delay_ms"] = int(opt.split("=")[1])
        elif opt.startswith("sync_delay_auto="):
            kw["sync_delay_auto"] = opt.split("=")[1] == "true"
    res["latency_luobo"] = dict(luobo=lat_luobo(a, "luobo", **kw), srt_latency_ms=120, general=a.lat_general)


def median_run(runs):
    """The run whose frame receiver's median is the median of the runs',
    with every run's figures beside it: each connection has its own phase
    (a frame's wait for its tick, and the receiver's by the SRT time base
    it settled on, each 0-33 ms), so one run alone says little."""
    ok = [r for r in runs if r.get("srt_ms")]
    if not ok:
        return runs[0]
    ok.sort(key=lambda r: r["srt_ms"]["median"])
    out = dict(ok[(len(ok) - 1) // 2])
    out["runs"] = [dict(srt_ms=(r.get("srt_ms") or {}).get("median"),
                        srt_parser_ms=(r.get("srt_parser_ms") or {}).get("median"),
                        luobo_ms=((r.get("stages") or {}).get("luobo: barcode -> last TS bytes to libsrt") or {})
                        .get("median")) for r in runs]
    return out


def section_latency(a, res):
    out = {}
    lat_ms = 120
    out["luobo"] = median_run([lat_luobo(a, "luobo-%d" % i, sync_delay_auto=True if a.sync_auto_ok else None)
                               for i in range(a.reps)])
    # before issue 17 item 8: the program always ran sync_delay_ms (60)
    # behind capture, however soon the frames and the sound had arrived
    if a.sync_auto_ok:
        out["luobo_fixed60"] = lat_luobo(a, "luobo-fixed60", sync_delay_auto=False)
    out["ffmpeg"] = median_run([lat_ffmpeg(a, i) for i in range(a.reps)])
    out["srt_latency_ms"] = lat_ms
    res["latency"] = out


def lat_ffmpeg(a, i):
    """The ffmpeg CLI (as reference-ffmpeg/lat_run.sh): -re inputs, the wall
    clock burned into the composite, tee to archive + HLS + SRT."""
    lat_ms = 120
    d = os.path.join(a.work, "lat-ffmpeg-%d" % i)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "hls"))
    srt_ports = [free_udp_port() for _ in LAT_RECEIVERS]
    procs, mon = lat_receivers(a, d, "ffmpeg", srt_ports, os.path.join(d, "hls", "live.m3u8"), lat_ms * 1000)
    time.sleep(1)
    fg = write(os.path.join(d, "lat_sender.fg"), open(os.path.join(HERE, "lat_sender.fg")).read())
    save = a.duration
    a.duration = a.lat_duration
    cmd = ffmpeg_job_cmd(a, d, srt_ports[0], realtime=True, fg=fg, srt_port2=srt_ports[1])
    a.duration = save
    log("latency: ffmpeg CLI, %d s (run %d/%d)" % (a.lat_duration, i + 1, a.reps))
    r = run_measured(cmd, "lat-ffmpeg-%d" % i, a.work, timeout=max(120, 3 * a.lat_duration))
    fr = lat_collect(d, procs, mon, None)
    fr.update(cpu_s=r["cpu_s"], wall_s=r["wall_s"], rc=r["rc"],
              cpu_share_of_2_cores=round(r["cpu_s"] / r["wall_s"] / os.cpu_count(), 3))
    return fr


# ---- viewers and the console (issue 17 items 6, 7)

def ms_summary(xs):
    if not xs:
        return None
    q = statistics.quantiles(xs, n=20) if len(xs) > 1 else [xs[0]] * 19
    return dict(n=len(xs), median=round(statistics.median(xs), 1), p5=round(q[0], 1), p95=round(q[-1], 1))


def section_viewer(a, res):
    """Glass-to-glass in Chromium: the screen camera burns its capture time
    into the picture (as the latency section), the operator's fixed shot
    shows it full frame, and bench/viewer_latency.js reads it back from the
    viewer page's video element (low-latency HLS, then plain HLS) and from
    the console's program preview (snapshot.jpg), each against Date.now()."""
    missing = [t for t in ("node", "npm", "/usr/bin/chromium") if not shutil.which(t)]
    if missing:
        res["viewer"] = dict(error="needs %s (scripts/setup.sh installs them)" % ", ".join(missing))
        return
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "browser"))
    os.environ.setdefault("LUOBO_BUILD", a.work)
    from run_browser import npm_install
    node_dir = npm_install()
    d = os.path.join(a.work, "viewer")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    port = free_port()
    password = "bench-viewer-pw-1"
    pw_hash = subprocess.run(["openssl", "passwd", "-6", password], capture_output=True, text=True,
                             check=True).stdout.strip()
    os.symlink(os.path.join(a.inputs, "screen.mp4"), os.path.join(d, "s.mp4"))
    barcode_src = "\n".join(["[source.screen]", "type = synthetic", "role = screen",
                             "graph = %s" % barcode_graph("s.mp4"), ""])
    cfg = luobo_config(a, os.path.join(d, "data"), cams=("teacher",), hls_dir=None, http_port=port,
                       extra_sources=barcode_src, iso=False, director="manual",
                       director_extra=("shot = screen",))
    cfg = cfg.replace("[general]\n", "[general]\nhttp_address = 127.0.0.1\nwww_dir = %s\n"
                      % os.path.join(HERE, "..", "webui", "www"), 1)
    cfg = cfg.replace("[auth]\n", "[auth]\npublic_viewer = true\nadmin_password_hash = %s\n" % pw_hash, 1)
    cfg += "[output.live]\ntype = hls\nsegment_s = 2\n"
    cfgp = write(os.path.join(d, "luobo.ini"), cfg)
    seconds = 20
    log("viewer: luobo with the web UI, Chromium reads the burned-in clock (%d s per part)" % seconds)
    err = open(os.path.join(d, "luobo.log"), "wb")
    lp = subprocess.Popen([a.luobo, "--config", cfgp, "--record", "--duration", str(6 * seconds + 120)],
                          stderr=err, stdout=subprocess.DEVNULL, cwd=d)
    out = dict(loadavg_start=os.getloadavg())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not scrape("http://127.0.0.1:%d/live/program.ll.m3u8" % port):
            time.sleep(0.5)
        env = dict(os.environ, BASE="http://127.0.0.1:%d" % port, PROFILE=os.path.join(d, "profile"),
                   PASSWORD=password, SECONDS=str(seconds), NODE_PATH=os.path.join(node_dir, "node_modules"))
        p = subprocess.run(["node", os.path.join(HERE, "viewer_latency.js")], env=env, capture_output=True,
                           text=True, timeout=600)
        for line in p.stdout.splitlines():
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if "error" in j:
                out["error"] = j["error"]
            else:
                out[j["part"]] = dict(ms=ms_summary(j["delays_ms"]), **{k: v for k, v in j.items()
                                                                       if k not in ("part", "delays_ms")})
        if p.returncode and "error" not in out:
            out["error"] = "viewer_latency.js exited %d: %s" % (p.returncode, p.stderr[-500:])
    finally:
        lp.send_signal(signal.SIGTERM)
        try:
            lp.wait(60)
        except subprocess.TimeoutExpired:
            lp.kill()
            lp.wait()
        err.close()
    out["loadavg_end"] = os.getloadavg()
    shutil.rmtree(os.path.join(d, "data"), ignore_errors=True)
    res["viewer"] = out


# ---- two jobs on one machine

def section_twojobs(a, res):
    """Two hall-3 jobs on this 2-core machine at once, in real time: two
    luobo processes, two configs (each its own data folder, port, SRT sink),
    started together; each one's late ticks and repeated pictures
    (/metrics), skipped camera frames, and program frames written."""
    runs = {}

    def one(name):
        runs[name] = realtime_run(a, name)
    log("twojobs: two hall-3 luobo processes at once, %d s in real time" % a.rt_duration)
    la0 = os.getloadavg()
    ts = [threading.Thread(target=one, args=(n,)) for n in ("twojobs-a", "twojobs-b")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    res["twojobs"] = dict(runs=runs, loadavg_start=la0, loadavg_end=os.getloadavg())


# ---- scaling

def section_scaling(a, res):
    dur = a.scale_duration
    out = dict(duration_s=dur, cameras=[], sizes=[])
    cams_for = {1: ("teacher",), 2: ("teacher", "screen"), 3: ("teacher", "students", "screen")}
    for n in range(1, 7):
        cams = cams_for.get(n) or (("teacher", "students", "screen") + tuple("students#%d" % k for k in range(2, n - 1)))
        log("scaling: %d camera(s), %d s" % (n, dur))
        r = run_luobo_offline(a, "scale-cams-%d" % n, dur, cams=cams)
        out["cameras"].append(dict(cameras=n, sources=list(c.replace("#", "") for c in cams),
                                   cpu_s=r["cpu_s"], wall_s=r["wall_s"], maxrss_mib=r["maxrss_mib"],
                                   rc=r["rc"], stages=stages(r.get("threads", {})),
                                   cpu_s_per_min=round(r["cpu_s"] * 60 / dur, 2),
                                   realtime_factor=round(dur / r["wall_s"], 2)))
    for (w, h) in ((1280, 720), (1920, 1080), (3840, 2160)):
        log("scaling: program %dx%d, %d s" % (w, h, dur))
        r = run_luobo_offline(a, "scale-size-%d" % h, dur, width=w, height=h)
        out["sizes"].append(dict(width=w, height=h, cpu_s=r["cpu_s"], wall_s=r["wall_s"],
                                 maxrss_mib=r["maxrss_mib"], rc=r["rc"], stages=stages(r.get("threads", {})),
                                 cpu_s_per_min=round(r["cpu_s"] * 60 / dur, 2),
                                 realtime_factor=round(dur / r["wall_s"], 2)))
    res["scaling"] = out


# ---------------------------------------------------------------- main

def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass

    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0].strip()
        except Exception:
            return None
    return dict(nproc=os.cpu_count(), cpu_model=model, mem_mib=mem, kernel=platform.release(),
                loadavg_start=os.getloadavg(), ffmpeg=ver(["ffmpeg", "-hide_banner", "-version"]),
                python=platform.python_version())


def ratios(res):
    """Every ratio of the run, keyed NUM_FIELD_over_DEN (as report.py reads them)."""
    lim, ff, own = res.get("limit", {}), res.get("ffmpeg", {}), res.get("limit_own", {})
    pairs = [  # (key, numerator, denominator, field)
        ("luobo_cpu_over_limit", "luobo", lim, "cpu_s"),
        ("ffmpeg_cpu_over_limit", "ffmpeg", lim, "cpu_s"),
        ("luobo_cpu_over_ffmpeg", "luobo", ff, "cpu_s"),
        ("luobo_wall_over_ffmpeg", "luobo", ff, "wall_s"),
        ("luobo_cli_picture_cpu_over_limit", "luobo_cli_picture", lim, "cpu_s"),
        ("luobo_cli_picture_cpu_over_ffmpeg", "luobo_cli_picture", ff, "cpu_s"),
        ("luobo_cli_picture_wall_over_ffmpeg", "luobo_cli_picture", ff, "wall_s"),
        ("luobo_nosub_cpu_over_limit", "luobo_nosub", lim, "cpu_s"),
        ("luobo_nosub_cpu_over_ffmpeg", "luobo_nosub", ff, "cpu_s"),
        ("luobo_noiso_cpu_over_limit", "luobo_noiso", lim, "cpu_s"),
        ("luobo_noiso_cpu_over_ffmpeg", "luobo_noiso", ff, "cpu_s"),
        ("luobo_noiso_cpu_over_limit_own_picture", "luobo_noiso", own, "cpu_s"),
        ("luobo_cpu_over_limit_own_picture", "luobo", own, "cpu_s"),
        ("luobo_rss_over_ffmpeg", "luobo", ff, "maxrss_mib"),
    ]
    r = {}
    for key, num, den, field in pairs:
        n, d = res.get(num, {}).get(field), den.get(field)
        if n and d:
            r[key] = round(n / d, 3)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--luobo", required=True)
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", type=int, default=60)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rt-duration", type=int, default=None)
    ap.add_argument("--lat-duration", type=int, default=30)
    ap.add_argument("--lat-skip", type=int, default=300)
    ap.add_argument("--lat-general", help="section latency_luobo: e.g. sync_delay_auto=true,sync_delay_ms=40")
    ap.add_argument("--scale-duration", type=int, default=15)
    ap.add_argument("--long-duration", type=int, default=3600, help="section longrun: seconds in real time")
    ap.add_argument("--ov-quiet", type=int, default=45, help="section overload: seconds before the overload")
    ap.add_argument("--ov-load", type=int, default=60, help="section overload: seconds of overload")
    ap.add_argument("--ov-after", type=int, default=60, help="section overload: seconds after it")
    ap.add_argument("--sections", default="limit,ffmpeg,luobo,luobo_cli_picture,luobo_nosub,luobo_noiso,luobo_manual,limit_own,psnr,encoder,realtime,capacity,overload,latency,viewer,twojobs,scaling")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--keep-raw", action="store_true")
    ap.add_argument("--encode-tool", help="bench/lb_bench_encode (default: next to --luobo's build)")
    ap.add_argument("--resume", help="a result JSON of this run to add the sections to (e.g. after a fix)")
    a = ap.parse_args()
    a.luobo = os.path.abspath(a.luobo)
    a.inputs = os.path.abspath(a.inputs)
    a.work = os.path.abspath(a.work)
    a.rt_duration = a.rt_duration or a.duration
    a.scale_duration = min(a.scale_duration, a.duration)
    a.lat_duration = min(a.lat_duration, a.duration)
    os.makedirs(a.work, exist_ok=True)
    sections = [s for s in a.sections.split(",") if s]

    a.mic_url_ok, why_mic = luobo_supports(a.luobo, a.work, "[mic.m]\ntype = url\nrole = teacher\nurl = %s\n"
                                           % os.path.join(a.inputs, "audio.mp4"))
    a.hls_ok, why_hls = luobo_supports(a.luobo, a.work, "[output.h]\ntype = hls\ndir = %s\nsegment_s = 2\n"
                                       % os.path.join(a.work, "probe-hls"))
    a.sub_streams, why_sub = luobo_supports(a.luobo, a.work, "[source.b]\ntype = url\nrole = screen\nurl = %s\n"
                                            "analysis_url = %s\n" % (os.path.join(a.inputs, "screen.mp4"),
                                                                     os.path.join(a.inputs, "screen_sub.mp4")))
    a.sync_auto_ok = "sync_delay_auto" in subprocess.run([a.luobo, "--help"], capture_output=True,
                                                         text=True).stdout
    a.pip_ok, why_pip = luobo_supports(a.luobo, a.work, "[director]\npip_size = 0.25\npip_margin = 0.0125\n"
                                       "pip_border = 0\n")
    version = subprocess.run([a.luobo, "--version"], capture_output=True, text=True).stdout.strip()
    res = dict(schema="luobo-bench/1", date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               luobo=None, smoke=a.smoke, duration_s=a.duration, reps=a.reps, sections=sections,
               machine=machine(), luobo_version=version,
               git=subprocess.run(["git", "-C", os.path.dirname(HERE), "describe", "--always", "--dirty"],
                                  capture_output=True, text=True).stdout.strip(),
               capabilities=dict(mic_url=a.mic_url_ok, mic_url_error=None if a.mic_url_ok else why_mic,
                                 hls_output=a.hls_ok, hls_error=None if a.hls_ok else why_hls,
                                 pip_geometry=a.pip_ok, pip_error=None if a.pip_ok else why_pip,
                                 sub_streams=a.sub_streams, sub_streams_error=None if a.sub_streams else why_sub))
    del res["luobo"]
    if a.resume:
        with open(a.resume) as f:
            old = json.load(f)
        old.setdefault("resumed", []).append(dict(date=res["date"], sections=sections, git=res["git"],
                                                  loadavg=os.getloadavg()))
        res = old
    t_start = time.monotonic()
    for s in sections:
        fn = globals().get("section_" + s)
        if not fn:
            ap.error("unknown section %s" % s)
        t = time.monotonic()
        try:
            fn(a, res)
        except Exception as e:  # a broken section is reported, the others still run
            import traceback
            traceback.print_exc()
            res[s] = dict(error="%s: %s" % (type(e).__name__, e))
        res.setdefault("section_wall_s", {})[s] = round(time.monotonic() - t, 1)
        with open(a.out, "w") as f:     # partial results survive an interruption
            json.dump(dict(res, ratios=ratios(res)), f, indent=1, default=str)
    res["ratios"] = ratios(res)
    if a.resume:    # the first run's figures stay; the resumed part's are its own
        res["resumed"][-1].update(wall_s=round(time.monotonic() - t_start, 1), loadavg_end=os.getloadavg())
    else:
        res["machine"]["loadavg_end"] = os.getloadavg()
        res["total_wall_s"] = round(time.monotonic() - t_start, 1)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1, default=str)
    log("results: %s" % a.out)
    print(json.dumps(res["ratios"]))


if __name__ == "__main__":
    main()
