"""Low-latency HLS (#17 item 6) as a player gets it from the daemon's /live/.

  luobo runs live (synthetic hall, 2 s segments, part_s default) and serves
  program.ll.m3u8 beside program.m3u8:

  - the LL playlist, reloaded for a while: VERSION, one TARGETDURATION,
    EXT-X-SERVER-CONTROL with CAN-BLOCK-RELOAD=YES and PART-HOLD-BACK at
    least 3 x PART-TARGET, every EXT-X-PART DURATION <= PART-TARGET, the
    first part of a segment INDEPENDENT, segment and part names following
    EXT-X-MEDIA-SEQUENCE, an EXT-X-PRELOAD-HINT naming the next part, an
    EXT-X-MAP; the MEDIA-SEQUENCE never goes back;
  - a whole segment over HTTP is the concatenation of its parts (bytes), and
    init + segment decodes with ffprobe: 2 s x fps frames, AAC audio, no
    error; init + parts decode the same; the sum of the parts' durations is
    the EXTINF;
  - blocking reloads: _HLS_msn of the next segment is answered once the
    playlist has it whole (the answer says so); _HLS_msn/_HLS_part of the
    next part once it is listed; far in the future: 400 at once; _HLS_part
    alone, non-numbers: 400; more than 6 held from one address: 503 with
    Retry-After at once, the 6 answered normally; /metrics counts them
    (luobo_webui_hls_held, _held_total, _held_refused_total);
  - program.m3u8 (MPEG-TS, for origins and plain players) has no LL tags;
  - in plain builds with node, npm and Chromium (the sanitizers' timing
    measures nothing): tests/browser/llhls_viewer.js opens the real viewer
    page, which must play program.ll.m3u8 with hls.js in lowLatencyMode over
    blocking reloads and parts; it prints the latency it saw (hls.js' to the
    live edge, and the wall clock against PROGRAM-DATE-TIME);
  - on stop both playlists end with EXT-X-ENDLIST, and a reload held across
    the stop is answered.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from lbtest import LUOBO, Failure, Scratch, check, free_port, write_config  # noqa: E402

FPS = 30
SEGMENT_S = 2
SRC = os.environ.get("LUOBO_SRC", os.path.join(HERE, "..", ".."))
BROWSER = os.path.join(SRC, "tests", "browser")


def config(data, port):
    return f"""[general]
data_dir = {data}
http_port = {port}
http_address = 127.0.0.1
www_dir = {os.path.join(SRC, "webui", "www")}
width = 640
height = 360
fps = {FPS}

[source.cam]
type = synthetic
role = teacher
pattern = bars
width = 640
height = 360

[mic.voice]
type = synthetic
role = teacher
frequency_hz = 440

[encoder]
preset = ultrafast
bitrate_kbps = 600
keyint_s = {SEGMENT_S}
iso = false

[output.live]
type = hls
segment_s = {SEGMENT_S}
list_size = 6

[auth]
public_viewer = true
metrics_public = true
"""


def get(url, timeout=20):
    """(status, body, seconds, headers); HTTP errors are answers too."""
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read(), time.monotonic() - t0, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), time.monotonic() - t0, dict(e.headers)


def attrs(value):
    return {k: v.strip('"') for k, v in re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', value)}


def parse_ll(text):
    """tags, [segment {msn, extinf, uri, parts: [(dur, uri, independent)]}],
    open parts (of the segment after the last), preload hint."""
    lines = text.splitlines()
    check(lines and lines[0] == "#EXTM3U", "the playlist starts with #EXTM3U")
    tags, segs, parts, hint, maps = {}, [], [], None, []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-PART:"):
            a = attrs(line.split(":", 1)[1])
            parts.append((float(a["DURATION"]), a["URI"], a.get("INDEPENDENT") == "YES"))
        elif line.startswith("#EXTINF:"):
            segs.append({"extinf": float(line[8:].split(",")[0]), "uri": lines[i + 1].strip(),
                         "parts": parts})
            parts = []
        elif line.startswith("#EXT-X-PRELOAD-HINT:"):
            hint = attrs(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-MAP:"):
            maps.append(attrs(line.split(":", 1)[1])["URI"])
        elif line.startswith("#EXT-X-") and ":" in line:
            k, v = line[1:].split(":", 1)
            tags.setdefault(k, v)
    mseq = int(tags["EXT-X-MEDIA-SEQUENCE"])
    for n, s in enumerate(segs):
        s["msn"] = mseq + n
    return tags, segs, parts, hint, maps


def last_whole(text):
    tags, segs, open_parts, _, _ = parse_ll(text)
    return int(tags["EXT-X-MEDIA-SEQUENCE"]) + len(segs) - 1, len(open_parts)


def check_playlist(text, state):
    tags, segs, open_parts, hint, maps = parse_ll(text)
    check(tags.get("EXT-X-VERSION") == "6", "EXT-X-VERSION 6 (EXT-X-MAP)")
    target = int(tags["EXT-X-TARGETDURATION"])
    state.setdefault("target", target)
    check(target == state["target"] == SEGMENT_S, "TARGETDURATION %d, never changes" % target)
    sc = attrs(tags["EXT-X-SERVER-CONTROL"])
    part_target = float(attrs(tags["EXT-X-PART-INF"])["PART-TARGET"])
    check(sc.get("CAN-BLOCK-RELOAD") == "YES", "SERVER-CONTROL CAN-BLOCK-RELOAD=YES")
    check(float(sc["PART-HOLD-BACK"]) >= 3 * part_target - 0.0015,
          "PART-HOLD-BACK %s >= 3 x PART-TARGET %s" % (sc["PART-HOLD-BACK"], part_target))
    check(0.3 <= part_target <= 0.5, "PART-TARGET %.3f in 0.3-0.5 s" % part_target)
    check(len(maps) >= 1, "an EXT-X-MAP")
    mseq = int(tags["EXT-X-MEDIA-SEQUENCE"])
    check(mseq >= state.get("mseq", 0), "MEDIA-SEQUENCE %d never goes back" % mseq)
    state["mseq"] = mseq
    name = re.compile(r"program-ll-(\d+)\.m4s$")
    pname = re.compile(r"program-ll-(\d+)\.(\d+)\.m4s$")
    for s in segs:
        m = name.match(s["uri"])
        check(m and int(m.group(1)) == s["msn"], "segment %s is number %d" % (s["uri"], s["msn"]))
        check(round(s["extinf"]) <= target, "EXTINF %.3f within the target" % s["extinf"])
        for k, (dur, uri, indep) in enumerate(s["parts"]):
            pm = pname.match(uri)
            check(pm and int(pm.group(1)) == s["msn"] and int(pm.group(2)) == k,
                  "part %s is part %d of %d" % (uri, k, s["msn"]))
            check(dur <= part_target + 1e-6, "part %s: %.5f <= PART-TARGET" % (uri, dur))
            check(indep == (k == 0), "part %s INDEPENDENT only first" % uri)
        if s["parts"]:
            total = sum(d for d, _, _ in s["parts"])
            check(abs(total - s["extinf"]) < 0.002, "parts of %d add up to EXTINF %.3f (%.3f)"
                  % (s["msn"], s["extinf"], total))
    open_msn = mseq + len(segs)
    for k, (dur, uri, indep) in enumerate(open_parts):
        pm = pname.match(uri)
        check(pm and int(pm.group(1)) == open_msn and int(pm.group(2)) == k,
              "open part %s is part %d of %d" % (uri, k, open_msn))
        check(dur <= part_target + 1e-6, "open part %s: %.5f <= PART-TARGET" % (uri, dur))
    check(hint is not None and hint.get("TYPE") == "PART", "EXT-X-PRELOAD-HINT TYPE=PART")
    if hint and "EXT-X-ENDLIST" not in text:
        hm = pname.match(hint["URI"])
        want = (open_msn, len(open_parts))
        check(hm and (int(hm.group(1)), int(hm.group(2))) == want,
              "the hint %s names the next part %d.%d" % (hint["URI"], *want))
    return tags, segs, open_parts, maps, part_target


def probe(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                        "stream=codec_type,codec_name,nb_read_frames", "-of", "csv=p=0", path],
                       capture_output=True, text=True, timeout=60)
    d = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"],
                       capture_output=True, text=True, timeout=60)
    return p.stdout.strip().splitlines(), (p.stderr + d.stderr).strip()


def check_media(base, tmp, segs, maps):
    """The newest whole segment with parts: bytes and decoding."""
    s = [x for x in segs if x["parts"]][-1]
    init = get(base + maps[-1])[1]
    _, seg, _, _ = get(base + s["uri"])
    parts = b"".join(get(base + uri)[1] for _, uri, _ in s["parts"])
    check(len(seg) > 0 and seg == parts, "segment %d (%d bytes) is its %d parts concatenated"
          % (s["msn"], len(seg), len(s["parts"])))
    for what, body in (("segment", seg), ("parts", parts)):
        path = os.path.join(tmp, "ll-%s.mp4" % what)
        with open(path, "wb") as f:
            f.write(init + body)
        streams, err = probe(path)
        print("%s %d: %s" % (what, s["msn"], streams))
        check(not err, "init + %s decodes without errors (%s)" % (what, err[:300]))
        rows = [x.split(",") for x in streams]          # codec, type, frames
        video = [r for r in rows if r[1:2] == ["video"]]
        audio = [r for r in rows if r[1:2] == ["audio"]]
        check(video and video[0][0] == "h264", "%s: H.264 video" % what)
        frames = int(video[0][2])
        check(abs(frames - round(s["extinf"] * FPS)) <= 1,
              "%s: %d frames for %.3f s" % (what, frames, s["extinf"]))
        check(audio and audio[0][0] == "aac" and int(audio[0][2]) > 0, "%s: AAC audio" % what)


def check_blocking(url):
    _, body, _, _ = get(url)
    last, open_parts = last_whole(body.decode())
    # the next segment, whole
    st, body, secs, _ = get("%s?_HLS_msn=%d" % (url, last + 1))
    now, _ = last_whole(body.decode())
    check(st == 200 and now >= last + 1, "_HLS_msn=%d (next segment): 200 after %.2f s, the "
          "playlist has it whole (last %d)" % (last + 1, secs, now))
    check(secs < 3 * SEGMENT_S + 2, "... within three target durations")
    # the next part
    last, open_parts = last_whole(body.decode())
    st, body, secs, _ = get("%s?_HLS_msn=%d&_HLS_part=%d" % (url, last + 1, open_parts))
    now, now_parts = last_whole(body.decode())
    check(st == 200 and (now >= last + 1 or now_parts > open_parts),
          "_HLS_msn=%d&_HLS_part=%d (next part): 200 after %.2f s, listed (last whole %d, "
          "%d parts after it)" % (last + 1, open_parts, secs, now, now_parts))
    print("ok   next segment and next part answered when there")
    # too far ahead, malformed
    for q, why in (("_HLS_msn=%d" % (now + 10), "ten segments ahead"),
                   ("_HLS_msn=%d&_HLS_part=40" % (now + 1), "40 parts ahead"),
                   ("_HLS_part=1", "_HLS_part alone"), ("_HLS_msn=x1", "not a number"),
                   ("_HLS_msn=99999999999999999999", "out of range")):
        st, body, secs, _ = get("%s?%s" % (url, q))
        check(st == 400, "%s (%s): %d in %.2f s: %s" % (q, why, st, secs, body.decode()[:100]))
    # bounded: 6 held per address, the 7th refused at once
    last, open_parts = last_whole(get(url)[1].decode())
    ahead = "%s?_HLS_msn=%d&_HLS_part=%d" % (url, last + 1, open_parts + 1)
    results = [None] * 6

    def held(i):
        results[i] = get(ahead)
    threads = [threading.Thread(target=held, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.15)
    st, body, secs, headers = get(ahead)
    for t in threads:
        t.join(30)
    check(st == 503 and headers.get("Retry-After") == "1" and secs < 2,
          "a 7th held reload from one address: %d (Retry-After %s) after %.2f s"
          % (st, headers.get("Retry-After"), secs))
    check(all(r and r[0] == 200 for r in results),
          "the 6 held ones answered 200 (%s)" % [r[0] if r else None for r in results])
    print("ok   bounded: 6 held per address, the 7th 503 at once")
    text = get(url.replace("/live/program.ll.m3u8", "/metrics"))[1].decode()
    held = {k: int(v) for k, v in re.findall(r"^(luobo_webui_hls_held\w*) (\d+)$", text, re.M)}
    check(held.get("luobo_webui_hls_held") == 0 and held.get("luobo_webui_hls_held_total", 0) >= 8
          and held.get("luobo_webui_hls_held_refused_total", 0) >= 1,
          "/metrics: none held now, held and refused counted (%s)" % held)


def browser(port):
    """The viewer page in Chromium (plain builds, tools present)."""
    if os.environ.get("LUOBO_SANITIZE_BUILD") in ("1", "ON", "TRUE") or \
            os.environ.get("LUOBO_SANITIZE") == "1":
        print("note: browser part skipped in a sanitizer build (its timing measures nothing)")
        return
    missing = [t for t in ("node", "npm", "/usr/bin/chromium") if not shutil.which(t)]
    if missing or not os.path.exists(os.path.join(SRC, "webui", "www", "vendor", "hls.min.js")):
        print("note: browser part skipped: %s missing (scripts/setup.sh installs them)"
              % (", ".join(missing) or "webui/www/vendor/hls.min.js"))
        return
    sys.path.insert(0, BROWSER)
    from run_browser import npm_install  # noqa: E402
    node_dir = npm_install()
    with Scratch("llhls-browser") as profile:
        env = dict(os.environ, BASE="http://127.0.0.1:%d" % port, PROFILE=profile,
                   NODE_PATH=os.path.join(node_dir, "node_modules"))
        code = subprocess.run(["node", os.path.join(BROWSER, "llhls_viewer.js")], env=env,
                              timeout=300).returncode
    check(code == 0, "the viewer page plays low-latency HLS with hls.js (llhls_viewer.js)")


def main():
    with Scratch("llhls") as tmp:
        data = os.path.join(tmp, "data")
        port = free_port()
        cfg = write_config(tmp, config(data, port))
        log = open(os.path.join(tmp, "luobo.log"), "w")
        proc = subprocess.Popen([LUOBO, "--config", cfg], stdout=subprocess.DEVNULL, stderr=log)
        base = "http://127.0.0.1:%d/live/" % port
        url = base + "program.ll.m3u8"
        try:
            deadline = time.monotonic() + 90
            while True:
                check(proc.poll() is None, "luobo is running")
                try:
                    st, body, _, _ = get(url)
                    if st == 200 and len(parse_ll(body.decode())[1]) >= 2:
                        break
                except OSError:
                    pass                  # not listening yet
                if time.monotonic() > deadline:
                    raise Failure("no LL playlist with 2 segments at %s" % url)
                time.sleep(0.3)
            state = {}
            print(body.decode())
            for _ in range(6):      # across parts and a segment boundary
                _, body, _, _ = get(url)
                tags, segs, _, maps, _ = check_playlist(body.decode(), state)
                time.sleep(0.37)
            check_media(base, tmp, segs, maps)
            check_blocking(url)
            _, ts, _, _ = get(base + "program.m3u8")
            ts = ts.decode()
            check("#EXT-X-PART" not in ts and "#EXT-X-SERVER-CONTROL" not in ts and
                  re.search(r"^program-\d+\.ts$", ts, re.M),
                  "program.m3u8 stays plain MPEG-TS HLS")
            browser(port)
            # a reload held across the stop does not keep luobo from stopping
            last, _ = last_whole(get(url)[1].decode())
            answer = []

            def held_at_stop():
                try:
                    answer.append(get("%s?_HLS_msn=%d" % (url, last + 2))[0])
                except OSError as e:          # the server closed it
                    answer.append(str(e))
            t = threading.Thread(target=held_at_stop)
            t.start()
            time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            t.join(30)
            print("a reload held at the stop: %s" % answer)
            check(answer, "a reload held at the stop got an answer or was closed")
            check(proc.wait(60) == 0, "luobo stops with status 0")
            live = os.path.join(data, ".live")
            for name in ("program.ll.m3u8", "program.m3u8"):
                text = open(os.path.join(live, name)).read()
                check(text.rstrip().endswith("#EXT-X-ENDLIST"), "%s ends with EXT-X-ENDLIST" % name)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print("FAIL:", e)
        sys.exit(1)
    print("PASS")
