#!/usr/bin/env python3
"""Where the SRT glass-to-glass time goes, frame by frame (issue #17 item 8).

Joins luobo's latency trace (LUOBO_LATENCY_TRACE, core/lb_clock.h) with the
receiver's barcode readings (barcode_rx.py's CSV) of bench/run's latency
hall.  Each received frame carries the wall-clock ms at which lavfi made it
(S, the "glass"); the trace says when the screen source's graph gave that
frame to luobo (by the same barcode), which program tick first showed it,
when that tick was composed, went into and came out of x264, and when its
last TS bytes went to libsrt.  Per-frame deltas, medians over the run
(robust on a busy machine where whole glass-to-glass figures are not).

  lat_stages.py TRACE SRT_CSV [--skip-s 10] [--json]
"""
import argparse, collections, json, statistics, sys

TS_OFFSET_US = 10000000     # streamer/output_srt.c


def q(v):
    if not v:
        return None
    qq = statistics.quantiles(v, n=20) if len(v) > 1 else [v[0]] * 19
    return dict(median=round(statistics.median(v), 1), p5=round(qq[0], 1), p95=round(qq[-1], 1), n=len(v))


def stages(trace, csv, skip_s=10, source="screen"):
    off = epoch = None
    program_pts = {}
    synth = {}                  # media pts -> (lb_clock when the graph gave it, barcode ms)
    first_tick_of = {}          # a source frame's program pts -> the first tick that showed it
    st = collections.defaultdict(dict)
    for line in open(trace):
        f = line.split()
        if f[0] == "clock":
            off = int(f[2]) - int(f[1])             # wall = lb_clock + off
            continue
        a, b, c = int(f[1]), int(f[2]), int(f[3])
        if f[0] == "epoch":
            epoch = c
        elif f[0] == "synth" and c > 1e12:
            synth[a] = (b, c)
        elif f[0] == "src":
            first_tick_of.setdefault(c, a)
        elif f[0].startswith("pts:"):   # each camera's stamps; the screen's are the ones joined
            if f[0] == "pts:" + source:
                program_pts[a] = c      # media pts -> program pts
        else:
            st[a].setdefault(f[0], b)
    if off is None or epoch is None or not synth:
        return dict(error="no trace or no barcode frames in it")
    if not program_pts:
        return dict(error="no pts:%s lines in the trace (a luobo older than the trace of each frame's stamp)"
                    % source)
    by_stamp = {}
    rows = collections.defaultdict(list)
    for m, (got, stamp) in synth.items():
        p = program_pts.get(m)
        by_stamp[stamp] = p
        t = first_tick_of.get(p)
        if t is None or t < skip_s * 1e6:
            continue
        d = st[t]
        rows["capture: barcode -> frame out of its graph"].append((got + off) / 1e3 - stamp)
        if "tick" in d:
            rows["frame -> its tick composed (sync delay, tick phase)"].append((d["tick"] - got) / 1e3)
            rows["  the tick's due time - frame's arrival"].append((epoch + t - got) / 1e3)
        if "tick" in d and "x264in" in d:
            rows["tick -> x264 in (compose, encoder queue)"].append((d["x264in"] - d["tick"]) / 1e3)
        if "x264in" in d and "x264out" in d:
            rows["x264 in -> out"].append((d["x264out"] - d["x264in"]) / 1e3)
        if "x264out" in d and "srtsent" in d:
            rows["x264 out -> last TS bytes to libsrt"].append((d["srtsent"] - d["x264out"]) / 1e3)
        if "srtsent" in d:
            rows["luobo: barcode -> last TS bytes to libsrt"].append((d["srtsent"] + off) / 1e3 - stamp)
    out = {k: q(v) for k, v in rows.items()}
    rx, total = [], []
    for line in list(open(csv))[1:]:
        idx, t_rx, stamp, lat = line.strip().split(",")
        p = by_stamp.get(int(stamp))
        t = first_tick_of.get(p) if p is not None else None
        if t is None or t < skip_s * 1e6 or "srtsent" not in st[t]:
            continue
        rx.append(float(t_rx) - (st[t]["srtsent"] + off) / 1e3)
        total.append(float(t_rx) - int(stamp))
    out["libsrt + receiver: last TS bytes -> barcode read"] = q(rx)
    out["total: barcode -> read by the receiver"] = q(total)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("csv")
    ap.add_argument("--skip-s", type=float, default=10)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    out = stages(a.trace, a.csv, a.skip_s)
    if a.json:
        json.dump(out, sys.stdout, indent=1)
        return
    for k, v in out.items():
        print("%-52s %s" % (k, "median %(median)6.1f  p5 %(p5)6.1f  p95 %(p95)6.1f  n %(n)d" % v if isinstance(v, dict) else v))


if __name__ == "__main__":
    main()
