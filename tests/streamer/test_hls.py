"""HLS: the local live playlist and segments.

  local       ffmpeg decodes the whole playlist, every frame is there, every
              segment starts with an IDR, the playlist is well formed
  renditions  a master playlist over two variants, each decodable
  jump        a jump of the timeline gives EXT-X-DISCONTINUITY; in the
              low-latency playlist too, with a new EXT-X-MAP (a new fMP4
              muxer), and it decodes (ffmpeg) across the jump
"""
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from testlib import TOOL, check, decode_errors, fail, ffprobe_json, parse_kv, scratch, stream_info

mode = sys.argv[1]
work = scratch("hls-" + mode)
live = os.path.join(work, "live")


def run(config, seconds, env=None):
    cfg = os.path.join(work, "luobo.ini")
    with open(cfg, "w") as f:
        f.write(config)
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([TOOL, "live", cfg, str(seconds)], capture_output=True, text=True, env=e,
                       timeout=240)
    sys.stderr.write(p.stderr[-3000:])
    if p.returncode:
        fail(f"streamer_tool exited {p.returncode}")
    return parse_kv(p.stdout)


def parse_playlist(path, segment_s=2.0):
    with open(path) as f:
        lines = f.read().splitlines()
    check(lines[0] == "#EXTM3U", f"{os.path.basename(path)}: starts with #EXTM3U")
    tags = {}
    segs = []
    disc = False
    for i, l in enumerate(lines):
        m = re.match(r"#EXT-X-(TARGETDURATION|MEDIA-SEQUENCE|DISCONTINUITY-SEQUENCE):(\d+)$", l)
        if m:
            check(m.group(1) not in tags, f"one {m.group(1)}")
            tags[m.group(1)] = int(m.group(2))
        if l == "#EXT-X-DISCONTINUITY":
            disc = True
        if l.startswith("#EXTINF:"):
            dur = float(l[8:].split(",")[0])
            name = lines[i + 1]
            check(not name.startswith("#"), f"EXTINF followed by a URI ({name})")
            pdt = lines[i - 1].startswith("#EXT-X-PROGRAM-DATE-TIME:") or \
                lines[i - 2].startswith("#EXT-X-PROGRAM-DATE-TIME:")
            segs.append({"dur": dur, "name": name, "disc": disc, "pdt": pdt})
            disc = False
    for t in ("TARGETDURATION", "MEDIA-SEQUENCE"):
        check(t in tags, f"#EXT-X-{t} present")
    check(all(math.floor(s["dur"] + 0.5) <= tags["TARGETDURATION"] for s in segs),
          "every EXTINF within TARGETDURATION")
    check(all(s["pdt"] for s in segs), "every segment has PROGRAM-DATE-TIME")
    seqs = [int(re.search(r"-(\d+)\.ts$", s["name"]).group(1)) for s in segs]
    check(seqs == list(range(tags["MEDIA-SEQUENCE"], tags["MEDIA-SEQUENCE"] + len(segs))),
          "segment numbers follow MEDIA-SEQUENCE")
    check(all(abs(s["dur"] - segment_s) < 0.05 for s in segs[:-1] if not segs[segs.index(s) + 1]["disc"]),
          f"segments last {segment_s} s (cut at key frames)")
    return tags, segs


def check_segments(segs):
    for s in segs:
        path = os.path.join(live, s["name"])
        frames = ffprobe_json(path, "-select_streams", "v:0", "-show_entries",
                              "frame=key_frame,pict_type", "-read_intervals", "%+#1")["frames"]
        if not (frames and frames[0]["key_frame"] == 1 and frames[0]["pict_type"] == "I"):
            fail(f"{s['name']} does not start with an IDR: {frames[:1]}")
    check(True, f"all {len(segs)} segments start with an IDR")


if mode == "local":
    kv = run(f"[output.web]\ntype = hls\ndir = {live}\nlist_size = 20\nsegment_s = 2\n", 13)
    tags, segs = parse_playlist(os.path.join(live, "program.m3u8"))
    check(len(segs) == 7, f"7 segments for 13 s ({len(segs)})")
    check(not any(s["disc"] for s in segs), "no discontinuity in one run")
    check_segments(segs)
    streams = stream_info(os.path.join(live, "program.m3u8"))
    n = int([s for s in streams if s["codec_type"] == "video"][0]["nb_read_frames"])
    check(n == int(kv["sent_video_frames"]), f"playlist holds every frame ({n})")
    check(sorted(s["codec_name"] for s in streams) == ["aac", "h264"], "H.264 + AAC")
    err = decode_errors(os.path.join(live, "program.m3u8"))
    check(not err, f"decodes without errors {err[:300]}")
    # the rolling window: with list_size 3 and keep 1 only 4 segments stay
    kv = run(f"[output.web]\ntype = hls\ndir = {live}\nlist_size = 3\nkeep_segments = 1\n", 13)
    tags, segs = parse_playlist(os.path.join(live, "program.m3u8"))
    check(len(segs) == 3, "rolling playlist of 3")
    ts = [n for n in os.listdir(live) if n.endswith(".ts")]
    check(len(ts) == 4, f"old segments deleted locally ({len(ts)} left)")
    check(tags["MEDIA-SEQUENCE"] == int(re.search(r"-(\d+)\.ts$", segs[0]["name"]).group(1)),
          "media sequence of the first listed segment")
elif mode == "renditions":
    run(f"[output.web]\ntype = hls\ndir = {live}\nlist_size = 20\n", 7, {"RENDITION": "1"})
    with open(os.path.join(live, "program.m3u8")) as f:
        master = f.read()
    check("#EXT-X-STREAM-INF:" in master and "program-main.m3u8" in master and
          "program-low.m3u8" in master, "master playlist lists both variants")
    check(re.search(r'CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"', master) is not None, "CODECS")
    check(re.search(r"BANDWIDTH=\d+,RESOLUTION=320x240", master) is not None, "BANDWIDTH, RESOLUTION")
    for v in ("program-main.m3u8", "program-low.m3u8"):
        tags, segs = parse_playlist(os.path.join(live, v))
        check_segments(segs)
        err = decode_errors(os.path.join(live, v))
        check(not err, f"{v} decodes {err[:200]}")
    err = decode_errors(os.path.join(live, "program.m3u8"))
    check(not err, f"master decodes {err[:200]}")
elif mode == "jump":
    run(f"[output.web]\ntype = hls\ndir = {live}\nlist_size = 20\n", 9, {"JUMP_AT_S": "4.5"})
    tags, segs = parse_playlist(os.path.join(live, "program.m3u8"))
    disc = [i for i, s in enumerate(segs) if s["disc"]]
    check(len(disc) == 1 and disc[0] == 3, f"EXT-X-DISCONTINUITY before the 4th segment ({disc})")
    check(abs(segs[2]["dur"] - 0.5) < 0.05, f"the segment before the jump ends at it ({segs[2]['dur']})")
    check_segments(segs)
    err = decode_errors(os.path.join(live, "program.m3u8"))
    check(not err, f"decodes {err[:200]}")
    with open(os.path.join(live, "program.ll.m3u8")) as f:
        ll = f.read().splitlines()
    check(ll[-1] == "#EXT-X-ENDLIST", "the LL playlist ended")
    seg_lines = [l for l in ll if re.match(r"program-ll-\d+\.m4s$", l)]
    check([re.search(r"-(\d+)\.ts$", s["name"]).group(1) for s in segs] ==
          [re.search(r"-(\d+)\.m4s$", l).group(1) for l in seg_lines],
          "the LL playlist lists the same segment numbers")
    i = ll.index("#EXT-X-DISCONTINUITY")
    maps = [l for l in ll if l.startswith("#EXT-X-MAP:")]
    check(len(maps) == 2 and ll[i + 1].startswith("#EXT-X-MAP:") and ll[i + 1] == maps[1],
          f"LL: EXT-X-DISCONTINUITY then a new EXT-X-MAP at the jump ({maps})")
    check(sum(l.startswith("#EXTINF:") for l in ll[:i]) == 3, "LL: the discontinuity before the 4th segment")
    err = decode_errors(os.path.join(live, "program.ll.m3u8"))
    check(not err, f"the LL playlist decodes {err[:200]}")
else:
    fail("mode?")
print("PASS")
