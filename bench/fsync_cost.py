#!/usr/bin/env python3
"""What power-cut durability costs: the hall-3 job with the archive's
`sync = fragment` (every fragment fdatasynced on lb-archive-sync) against
`sync = off` (writeback when the kernel likes), on the disk that holds --work.

  bench/fsync_cost.py [--luobo BIN] [--inputs DIR] [--work DIR] [--duration S]
                      [--reps N] [--paced | --no-paced] [--out FILE.json]

Offline runs (as fast as the machine goes, so the archive writes faster than
real time: the harder case for the disk), alternating the two settings, N
times each: wall time, CPU of the process, of the archive's output thread
(lb-out-archive: muxing and write(2)), of the syncer thread, the fdatasync
latency per call (p50/p99/max, from the archive's log line) and the archive
queue's peak (a blocking queue at its capacity would mean the encoder was
held up).  Then, unless --no-paced, one paced run of each (the files played
as live cameras): fdatasync latency at the real write rate.

Inputs: bench/gen_inputs.sh DIR S (bench/run makes them in build-bench/).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402

SYNC_LINE = re.compile(r"(\d+) fragments made durable \(fdatasync p50 ([\d.]+) ms, p99 ([\d.]+) ms, "
                       r"max ([\d.]+) ms, ([\d.]+) s in all")
QUEUE_LINE = re.compile(r"archive \(archive\) stopped: (\d+) packets.*queue peak (\d+) of (\d+)")


def one_run(a, mode, paced, i):
    name = "fsync-%s-%s-%d" % (mode, "paced" if paced else "offline", i)
    d = os.path.join(a.work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    data = os.path.join(d, "data")
    cfg = bench.write(os.path.join(d, "luobo.ini"),
                      bench.luobo_config(a, data) + "\n[output.archive]\ntype = archive\nsync = %s\n" % mode)
    cmd = [a.luobo, "--config", cfg, "--record", "--duration", str(a.duration)]
    if not paced:
        cmd.insert(3, "--offline")
    bench.log("%s: %s" % (name, " ".join(cmd)))
    r = bench.run_measured(cmd, name, a.work, sample=True)
    r.update(mode=mode, paced=paced)
    with open(os.path.join(a.work, name + ".log"), errors="replace") as f:
        text = f.read()
    m = SYNC_LINE.search(text)
    if m:
        r.update(fdatasyncs=int(m.group(1)), p50_ms=float(m.group(2)), p99_ms=float(m.group(3)),
                 max_ms=float(m.group(4)), fdatasync_s=float(m.group(5)))
    m = QUEUE_LINE.search(text)
    if m:
        r.update(archive_packets=int(m.group(1)), queue_peak=int(m.group(2)), queue_capacity=int(m.group(3)))
    th = r.get("threads", {})
    r["archive_thread_s"] = th.get("lb-out-archive", 0.0)
    r["syncer_thread_s"] = th.get("lb-archive-sync", 0.0)
    lesson = bench.newest_lesson(data) if os.path.isdir(data) else None
    size = 0
    for root, _, files in os.walk(lesson or d):
        size += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    r["lesson_mib"] = round(size / 2 ** 20, 1)
    r.pop("threads", None)
    bench.log("  %s" % {k: v for k, v in r.items() if k not in ("mode", "paced")})
    shutil.rmtree(d, ignore_errors=True)
    return r


def med(runs, key):
    vals = [r[key] for r in runs if key in r]
    return round(statistics.median(vals), 3) if vals else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--luobo", default=os.path.join(os.path.dirname(HERE), "build", "daemon", "luobo"))
    ap.add_argument("--inputs", default=os.path.join(os.path.dirname(HERE), "build-bench", "inputs-60"))
    ap.add_argument("--work", default=os.path.join(os.path.dirname(HERE), "build-bench", "work-fsync"))
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--paced", dest="paced", action="store_true", default=True)
    ap.add_argument("--no-paced", dest="paced", action="store_false")
    ap.add_argument("--out")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    a.sub_streams, a.mic_url_ok, a.pip_ok, a.hls_ok = True, True, True, False
    runs = []
    t0 = time.monotonic()
    load0 = os.getloadavg()
    for i in range(a.reps):
        for mode in (("fragment", "off") if i % 2 == 0 else ("off", "fragment")):
            runs.append(one_run(a, mode, False, i))
    if a.paced:
        for mode in ("fragment", "off"):
            runs.append(one_run(a, mode, True, 0))
    out = dict(duration_s=a.duration, reps=a.reps, loadavg_start=load0, loadavg_end=os.getloadavg(),
               wall_s=round(time.monotonic() - t0, 1), runs=runs, summary={})
    print("\n| run | mode | n | wall s | CPU s | lb-out-archive s | lb-archive-sync s | "
          "fdatasync calls | p50 ms | p99 ms | max ms | in fdatasync s | archive queue peak |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for paced in (False, True):
        for mode in ("fragment", "off"):
            rs = [r for r in runs if r["mode"] == mode and r["paced"] == paced and r.get("rc") == 0]
            if not rs:
                continue
            s = {k: med(rs, k) for k in ("wall_s", "cpu_s", "archive_thread_s", "syncer_thread_s",
                                         "fdatasyncs", "p50_ms", "p99_ms", "max_ms", "fdatasync_s",
                                         "queue_peak", "queue_capacity", "lesson_mib")}
            s["n"] = len(rs)
            out["summary"]["%s-%s" % ("paced" if paced else "offline", mode)] = s

            def f(v):
                return "-" if v is None else ("%g" % v)
            print("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s of %s |" % (
                "paced" if paced else "offline", mode, s["n"], f(s["wall_s"]), f(s["cpu_s"]),
                f(s["archive_thread_s"]), f(s["syncer_thread_s"]), f(s["fdatasyncs"]), f(s["p50_ms"]),
                f(s["p99_ms"]), f(s["max_ms"]), f(s["fdatasync_s"]), f(s["queue_peak"]),
                f(s["queue_capacity"])))
    print("load average %.1f at the start, %.1f at the end; %.0f s in all"
          % (load0[0], out["loadavg_end"][0], out["wall_s"]))
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
