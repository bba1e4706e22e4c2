#!/usr/bin/env python3
"""Read raw gray frames (1408x32, the top-left strip of the program picture) from stdin.
The sender burned the wallclock (ms since epoch, 44 bits, LSB first, 32x32 px per bit, 235=1/16=0)
into that strip.  For every frame: receive time (time.time() when the frame's last byte arrived),
decoded stamp, latency = receive - stamp.   Usage: barcode_rx.py OUT.csv [--skip N] [--nolat]
(From ../shared/reference-ffmpeg/barcode_rx.py; decode() importable.)"""
import sys, time, statistics
W, H, BITS, CELL = 1408, 32, 44, 32
FS = W * H
def decode(buf):
    v = 0
    row = 16 * W
    for k in range(BITS):
        x0 = k * CELL + 8
        s = sum(buf[row + x0: row + x0 + 16]) + sum(buf[row - 8*W + x0: row - 8*W + x0 + 16])
        if s > 128 * 32: v |= (1 << k)
    return v
def summary(lats, label):
    if not lats: return f'{label}: no samples'
    q = statistics.quantiles(lats, n=20)
    return (f'{label}: n={len(lats)} median={statistics.median(lats):.1f} ms mean={statistics.mean(lats):.1f} '
            f'p5={q[0]:.1f} p95={q[-1]:.1f} min={min(lats):.1f} max={max(lats):.1f}')
def main():
    out = sys.argv[1]; skip = 300; nolat = '--nolat' in sys.argv
    if '--skip' in sys.argv: skip = int(sys.argv[sys.argv.index('--skip') + 1])
    f = open(out, 'w'); f.write('idx,t_rx_ms,stamp_ms,lat_ms\n')
    inp = sys.stdin.buffer; idx = 0; lats = []; bad = 0
    while True:
        buf = bytearray()
        while len(buf) < FS:
            chunk = inp.read1(FS - len(buf)) if hasattr(inp, 'read1') else inp.read(FS - len(buf))
            if not chunk: break
            buf += chunk
        if len(buf) < FS: break
        t = time.time() * 1000.0
        st = decode(buf)
        lat = t - st
        ok = (abs(lat) < 120000) if not nolat else True
        if not ok: bad += 1
        f.write(f'{idx},{t:.3f},{st},{lat:.3f}\n' if not nolat else f'{idx},,{st},\n')
        if ok and not nolat and idx >= skip: lats.append(lat)
        idx += 1
    f.close()
    if not nolat:
        print(summary(lats, f'{out} frames={idx} undecodable={bad} steady(after {skip} frames)'), file=sys.stderr)
    else:
        print(f'{out} frames={idx}', file=sys.stderr)
if __name__ == '__main__':
    main()
