"""HLS as a viewer gets it: from the daemon's own web server.

  luobo runs live (realtime, no recording) with a small synthetic hall and an
  [output.live] hls of 2 s segments; /live/ is open to anyone because the
  config sets [auth] public_viewer = true (what a public viewer page needs;
  without it /live/ wants a viewer's session).

  - ffmpeg reads http://127.0.0.1:PORT/live/program.m3u8 and decodes 20 s:
    no error output, 20 s x fps frames (+-1 %);
  - meanwhile the playlist is reloaded every second and checked: one
    TARGETDURATION that covers every EXTINF (rounded), a MEDIA-SEQUENCE that
    never goes back and grows, segment numbers that follow it, no
    discontinuity within one run; every segment listed is fetched over HTTP
    and must start with an IDR (first video packet flagged K, holding a NAL
    unit of type 5 after SPS and PPS);
  - the daemon is stopped (the playlist ends with EXT-X-ENDLIST) and
    started again: the new playlist goes on with higher sequence numbers,
    its first segment carries EXT-X-DISCONTINUITY and decodes.
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from lbtest import LUOBO, Failure, Scratch, check, free_port, write_config  # noqa: E402

FPS = 30
SEGMENT_S = 2
DECODE_S = 20


def config(data, port):
    return f"""[general]
data_dir = {data}
http_port = {port}
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
bitrate_kbps = 800
keyint_s = {SEGMENT_S}
iso = false

[output.live]
type = hls
segment_s = {SEGMENT_S}
list_size = 6

[auth]
public_viewer = true
"""


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read()


def parse_playlist(text):
    """Structural check of one media playlist; returns its tags and segments."""
    lines = text.splitlines()
    check(lines and lines[0] == "#EXTM3U", "playlist starts with #EXTM3U")
    tags, segs, disc = {}, [], False
    for i, line in enumerate(lines):
        m = re.match(r"#EXT-X-(TARGETDURATION|MEDIA-SEQUENCE|DISCONTINUITY-SEQUENCE):(\d+)$", line)
        if m:
            check(m.group(1) not in tags, "one EXT-X-%s" % m.group(1))
            tags[m.group(1)] = int(m.group(2))
        if line == "#EXT-X-DISCONTINUITY":
            disc = True
        if line.startswith("#EXTINF:"):
            uri = lines[i + 1]
            check(uri and not uri.startswith("#"), "EXTINF followed by a URI")
            segs.append({"dur": float(line[8:].split(",")[0]), "uri": uri, "disc": disc})
            disc = False
    for t in ("TARGETDURATION", "MEDIA-SEQUENCE"):
        check(t in tags, "EXT-X-%s present" % t)
    for s in segs:
        check(int(s["dur"] + 0.5) <= tags["TARGETDURATION"],
              "EXTINF %.3f within TARGETDURATION %d" % (s["dur"], tags["TARGETDURATION"]))
    nums = [int(re.search(r"-(\d+)\.ts$", s["uri"]).group(1)) for s in segs]
    check(nums == list(range(tags["MEDIA-SEQUENCE"], tags["MEDIA-SEQUENCE"] + len(segs))),
          "segment numbers follow MEDIA-SEQUENCE (%s from %d)" % (nums, tags["MEDIA-SEQUENCE"]))
    tags["ENDLIST"] = "#EXT-X-ENDLIST" in lines
    return tags, segs


def nal_types(annexb):
    return [annexb[m.end()] & 0x1f for m in re.finditer(b"\x00\x00\x01", annexb) if m.end() < len(annexb)]


def check_idr(path, name):
    """The segment's first video packet is a key frame and an IDR."""
    p = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                        "packet=flags", "-read_intervals", "%+#1", "-of", "csv=p=0", path],
                       capture_output=True, text=True)
    flags = p.stdout.split()
    check(flags and "K" in flags[0], "%s: first video packet is flagged K (%s)" % (name, flags[:1]))
    p = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v:0", "-c", "copy",
                        "-frames:v", "1", "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-"],
                       capture_output=True)
    types = nal_types(p.stdout)
    check(5 in types and 7 in types and 8 in types and types.index(7) < types.index(5),
          "%s: first access unit has SPS, PPS and an IDR slice (NAL types %s)" % (name, types))


class Watcher(threading.Thread):
    """Reloads the playlist every second, checks each version and fetches
    every new segment for the IDR check."""

    def __init__(self, base, work):
        super().__init__(daemon=True)
        self.base, self.work = base, work
        self.stop = threading.Event()
        self.seqs, self.fetched, self.error = [], set(), None

    def run(self):
        try:
            while not self.stop.wait(1.0):
                status, body = get(self.base + "program.m3u8")
                tags, segs = parse_playlist(body.decode())
                check(not any(s["disc"] for s in segs), "no discontinuity within one run")
                if self.seqs:
                    check(tags["MEDIA-SEQUENCE"] >= self.seqs[-1], "MEDIA-SEQUENCE never goes back")
                self.seqs.append(tags["MEDIA-SEQUENCE"])
                for s in segs:
                    if s["uri"] in self.fetched:
                        continue
                    status, data = get(self.base + s["uri"])
                    path = os.path.join(self.work, s["uri"])
                    with open(path, "wb") as f:
                        f.write(data)
                    check_idr(path, s["uri"])
                    self.fetched.add(s["uri"])
        except (Failure, OSError, ValueError) as e:
            self.error = e


def start(cfg, log):
    return subprocess.Popen([LUOBO, "--config", cfg], stdout=subprocess.DEVNULL, stderr=log)


def wait_playlist(url, proc, min_segments, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check(proc.poll() is None, "luobo is running")
        try:
            status, body = get(url)
            tags, segs = parse_playlist(body.decode())
            if len(segs) >= min_segments:
                return tags, segs
        except OSError:
            pass
        time.sleep(0.5)
    raise Failure("no playlist with %d segments at %s" % (min_segments, url))


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise Failure("luobo did not stop on SIGTERM")


def decode(url, seconds):
    """ffmpeg as a player: (frames decoded, error output)."""
    p = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-t", str(seconds),
                        "-f", "null", "-progress", "pipe:1", "-nostats", "-"],
                       capture_output=True, text=True, timeout=seconds * 6 + 60)
    frames = [int(m) for m in re.findall(r"^frame=(\d+)$", p.stdout, re.M)]
    err = p.stderr.strip() if p.returncode == 0 else "exit %d: %s" % (p.returncode, p.stderr.strip())
    return (frames[-1] if frames else 0), err


def main():
    with Scratch("hls-daemon") as tmp:
        data = os.path.join(tmp, "data")
        port = free_port()
        cfg = write_config(tmp, config(data, port))
        base = "http://127.0.0.1:%d/live/" % port
        url = base + "program.m3u8"
        log = open(os.path.join(tmp, "luobo.log"), "w")
        proc = start(cfg, log)
        try:
            wait_playlist(url, proc, 2)
            watcher = Watcher(base, tmp)
            watcher.start()
            frames, err = decode(url, DECODE_S)
            watcher.stop.set()
            watcher.join()
            if watcher.error:
                raise watcher.error
            check(err == "", "ffmpeg decodes %d s from /live/ without errors (%s)" % (DECODE_S, err[:500]))
            want = DECODE_S * FPS
            check(abs(frames - want) <= want // 100,
                  "%d frames decoded, expected %d +- 1 %%" % (frames, want))
            check(len(watcher.seqs) >= 5 and watcher.seqs[-1] > watcher.seqs[0],
                  "MEDIA-SEQUENCE grows across reloads (%s)" % watcher.seqs)
            check(len(watcher.fetched) >= DECODE_S // SEGMENT_S,
                  "%d segments fetched over HTTP, each starts with an IDR" % len(watcher.fetched))
            check(stop(proc) == 0, "luobo stops with status 0")
            with open(os.path.join(data, ".live", "program.m3u8")) as f:
                last_tags, last_segs = parse_playlist(f.read())
            check(last_tags["ENDLIST"], "a stopped stream's playlist ends with EXT-X-ENDLIST")
            last_seq = last_tags["MEDIA-SEQUENCE"] + len(last_segs) - 1

            # the restart: the new run goes on from the old playlist
            proc = start(cfg, log)
            tags, segs = wait_playlist(url, proc, 2)
            first = int(re.search(r"-(\d+)\.ts$", segs[0]["uri"]).group(1))
            check(first > last_seq, "after a restart the segments go on after %d (%d)" % (last_seq, first))
            check(segs[0]["disc"], "the first segment after a restart has EXT-X-DISCONTINUITY")
            check(not any(s["disc"] for s in segs[1:]), "and only that one")
            check(tags.get("DISCONTINUITY-SEQUENCE", 0) >= last_tags.get("DISCONTINUITY-SEQUENCE", 0),
                  "DISCONTINUITY-SEQUENCE does not go back")
            check(not tags["ENDLIST"], "the live playlist is open again")
            for s in segs:
                status, body = get(base + s["uri"])
                path = os.path.join(tmp, "after-" + s["uri"])
                with open(path, "wb") as f:
                    f.write(body)
                check_idr(path, s["uri"])
            frames, err = decode(url, 4)
            check(err == "" and frames > 0, "the restarted stream decodes (%d frames; %s)" % (frames, err[:300]))
            check(stop(proc) == 0, "luobo stops with status 0")
            print("PASS: %d frames in %d s from /live/, sequences %s, restart at %d -> %d"
                  % (DECODE_S * FPS, DECODE_S, watcher.seqs[:3] + ["..."] + watcher.seqs[-2:], last_seq, first))
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
