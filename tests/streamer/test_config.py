"""The [output.*] sections: good ones load, bad ones give one error line in
the standard form file:line: section: key: message."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from testlib import TOOL, check, parse_kv, scratch

work = scratch("config")


def load(text):
    path = os.path.join(work, "luobo.ini")
    with open(path, "w") as f:
        f.write(text)
    p = subprocess.run([TOOL, "check", path], capture_output=True, text=True, timeout=30)
    kv = parse_kv(p.stdout)
    return p.returncode, kv.get("error", "").replace(path, "luobo.ini"), kv


rc, err, kv = load("")
check(rc == 0 and kv["outputs"] == "1" and kv["live_dir"] == "(none)",
      "no [output.*]: the archive alone")
rc, err, kv = load("[output.web]\ntype = hls\ndir = /tmp/x/live\n"
                   "[output.up]\ntype = upload\nurl = http://10.0.0.1/lessons\nallow_http = true\nqueue_file = /tmp/q\n"
                   "[output.platform]\ntype = srt\nurl = srt://10.0.0.2:9000?mode=caller&latency=200"
                   "&passphrase=0123456789abc&pbkeylen=32&streamid=hall1\n"
                   "[output.pull]\ntype = srt\nurl = srt://:9001?mode=listener\n")
check(rc == 0 and kv["outputs"] == "5" and kv["live_dir"] == "/tmp/x/live",
      f"hls, upload, srt caller and listener load; the archive is added ({kv})")

cases = [
    ("[output.x]\ntype = rtmp\n",
     "luobo.ini:2: output.x: type: unknown value 'rtmp' (expected archive, hls, srt, upload)"),
    ("[output.x]\nurl = srt://a:1\n", "luobo.ini:1: output.x: type: missing"),
    ("[output.a]\ntype = archive\n[output.b]\ntype = archive\n",
     "luobo.ini:4: output.b: type: only one archive output is allowed"),
    ("[output.a]\ntype = archive\nfragment_ms = 5000\n",
     "luobo.ini:3: output.a: fragment_ms: 5000 is out of range [100, 1000]"),
    ("[output.a]\ntype = archive\nmin_free_mb = 100\nstop_free_mb = 200\n",
     "luobo.ini:4: output.a: stop_free_mb: must not exceed min_free_mb (100)"),
    ("[output.a]\ntype = archive\ncolour = red\n", "luobo.ini:3: output.a: unknown key 'colour'"),
    ("[output.s]\ntype = srt\n", "luobo.ini:1: output.s: url: missing"),
    ("[output.s]\ntype = srt\nurl = udp://a:1\n", "luobo.ini:3: output.s: url: 'udp://a:1' is not an srt:// URL"),
    ("[output.s]\ntype = srt\nurl = srt://a\n", "luobo.ini:3: output.s: url: 'srt://a' needs host:port"),
    ("[output.s]\ntype = srt\nurl = srt://a:1?mode=rendezvous\n",
     "luobo.ini:3: output.s: url: mode 'rendezvous' is not supported"),
    ("[output.s]\ntype = srt\nurl = srt://a:1?passphrase=short\n",
     "luobo.ini:3: output.s: url: passphrase must have 10 to 79 characters"),
    ("[output.s]\ntype = srt\nurl = srt://a:1?passphrase=0123456789&pbkeylen=20\n",
     "luobo.ini:3: output.s: url: pbkeylen '20' must be 16, 24 or 32"),
    ("[output.s]\ntype = srt\nurl = srt://a:1?latency=fast\n",
     "luobo.ini:3: output.s: url: latency 'fast' must be milliseconds"),
    ("[output.s]\ntype = srt\nurl = srt://a:1?foo=1\n",
     "luobo.ini:3: output.s: url: unknown parameter 'foo'"),
    ("[output.h]\ntype = hls\nurl = ftp://x/\n", "luobo.ini:3: output.h: url: 'ftp://x/' is not an http://"),
    ("[output.h]\ntype = hls\nsegment_s = 0.1\n", "luobo.ini:3: output.h: segment_s: 0.1 is out of range"),
    ("[output.u]\ntype = upload\n", "luobo.ini:1: output.u: url: missing"),
    ("[output.h]\ntype = hls\nname = ../x\n", "luobo.ini:3: output.h: name: '../x': use letters"),
]
for text, want in cases:
    rc, err, _ = load(text)
    check(rc == 2 and err.startswith(want), f"{want!r} (got {err!r})")
print("PASS")
