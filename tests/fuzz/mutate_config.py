#!/usr/bin/env python3
"""A mutation campaign against the config loader, from the command line.

Mutates the demo config (and a richer one with url cameras and srt, hls and
upload outputs) N times, bytes and lines, and runs
`luobo --config X --check-config` on each copy.  A run must exit 0 or 2; on
2, stderr must be one line naming the file (and a line where there is one).
Anything else (a sanitizer report, a signal, another exit code, a message
that echoes a secret of the input) is a finding: the input is kept in the
output folder.  Inputs worth replaying go to tests/fuzz/corpus/config/.

    python3 tests/fuzz/mutate_config.py --luobo build-san/daemon/luobo -n 3000 -o /tmp/mut

Run it against the sanitizer build (ASan + UBSan) with the environment
scripts/dev.sh sets.  Deterministic for a given --seed.
"""
import argparse
import concurrent.futures
import os
import random
import re
import subprocess
import sys

SECRET = "hunter2secretpw"

RICH = """
[source.cam]
type = url
role = wide
url = rtsp://admin:%(s)s@127.0.0.1:9/cam
analysis_url = rtsp://admin:%(s)s@127.0.0.1:9/sub
timeout_ms = 2000

[source.enc]
type = url
role = screen
url = srt://127.0.0.1:9001?mode=listener&passphrase=%(s)s

[mic.lapel]
type = url
role = teacher
url = rtsp://admin:%(s)s@127.0.0.1:9/mic

[output.push]
type = srt
url = srt://127.0.0.1:9000?mode=caller&latency=120&passphrase=%(s)s&pbkeylen=16

[output.platform]
type = upload
url = http://up:%(s)s@127.0.0.1:9/lessons/
allow_http = true

[output.origin]
type = hls
url = http://push:%(s)s@127.0.0.1:9/live/
segment_s = 2

[auth]
public_viewer = true
""" % {"s": SECRET}

NASTY_LINES = [
    "[source.[source.a]", "[]", "[.]", "[source.]", "[.x]", "[source..a]", "[source.a.b]",
    "[source.a", "source.a]", "[ source.a ]", "[source.a] junk", "[SOURCE.A]", "[source.%s]" % ("x" * 40),
    "[source.a/../../b]", "[mic.../../etc]", "[output.a b]", "[general]", "[encoder]", "[director]",
    "key", "=", "= value", "key =", "key = ", "  indented = x", ";comment", "#comment", "[source.teacher]",
    "type = url", "type = v4l2", "type = srt", "type = upload", "type = hls", "type = archive",
    "url = ", "url = rtsp://", "url = srt://", "url = srt://:0", "url = srt://[::1]:99999",
    "url = srt://h:1?passphrase=%s&bogus" % SECRET, "url = srt://h:1?" + "a=b&" * 40,
    "url = http://", "url = user:%s@host" % SECRET, "url = %s" % ("x" * 190),
    "role = ", "role = teacher", "mode = manual", "shot = teacher", "layout = pip",
    "width = -1", "width = 0", "height = 99999999999", "fps = 0", "fps = 1e308", "fps = nan",
    "bitrate_kbps = inf", "keyint_s = -0", "segment_s = 0.0000001", "speaks = 0-",
    "speaks = -", "speaks = 5-1", "frequency_hz = -440", "renditions = ", "renditions = 1x1@1",
    "renditions = 640x360@800,,", "iso = true", "log_level = debug", "data_dir = ",
    "http_port = 65536", "vcam = nobody", "vcam = ", "\ufeff[general]", "\t[general]",
    "x" * 198, "y" * 199, "z" * 400, "key = " + "v" * 193,
]

NASTY_VALUES = ["", "-1", "0", "1", "2147483648", "-2147483649", "99999999999999999999", "1e308",
                "nan", "inf", "-inf", "0x10", " ", "true", "false", "a" * 150, "\u5f55\u64ad",
                "%s%n%x", "../../etc/passwd", "rtsp://u:%s@h/c" % SECRET, "srt://h:1?passphrase=%s" % SECRET]


def mutate(rng, text):
    data = bytearray(text.encode())
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(12)
        if op == 0 and data:                      # flip a byte
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
            lines = data.decode("latin-1").split("\n")
        elif op == 1:                             # insert a byte (NUL, controls, ']' '[' '.' '=')
            i = rng.randrange(len(data) + 1)
            data[i:i] = bytes([rng.choice([0, 1, 9, 13, 27, 0x7f, 0xff, 0x5b, 0x5d, 0x2e, 0x3d, 0x3b, 0x23,
                                           rng.randrange(256)])])
            lines = data.decode("latin-1").split("\n")
        elif op == 2 and data:                    # delete a span
            i = rng.randrange(len(data))
            del data[i:i + rng.randint(1, 16)]
            lines = data.decode("latin-1").split("\n")
        elif op == 3 and lines:                   # duplicate a line
            i = rng.randrange(len(lines))
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
            data = bytearray("\n".join(lines).encode("latin-1", "replace"))
        elif op == 4 and lines:                   # delete a line
            del lines[rng.randrange(len(lines))]
            data = bytearray("\n".join(lines).encode("latin-1", "replace"))
        elif op == 5 and len(lines) > 1:          # swap two lines
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = bytearray("\n".join(lines).encode("latin-1", "replace"))
        elif op in (6, 7):                        # a nasty line
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(NASTY_LINES))
            data = bytearray("\n".join(lines).encode("utf-8", "replace"))
        elif op == 8 and lines:                   # a nasty value for an existing key
            cand = [i for i, l in enumerate(lines) if "=" in l]
            if cand:
                i = rng.choice(cand)
                k = lines[i].split("=", 1)[0]
                lines[i] = k + "= " + rng.choice(NASTY_VALUES)
                data = bytearray("\n".join(lines).encode("utf-8", "replace"))
        elif op == 9 and lines:                   # a section header mangled with its neighbour
            cand = [i for i, l in enumerate(lines) if l.startswith("[")]
            if cand:
                i = rng.choice(cand)
                lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)] + rng.choice(
                    ["[", "]", ".", lines[rng.choice(cand)], "", " ", "\x00"])
                data = bytearray("\n".join(lines).encode("utf-8", "replace"))
        elif op == 10:                            # a huge line, or many lines
            if rng.random() < 0.5:
                lines.insert(rng.randrange(len(lines) + 1), "k = " + "w" * rng.choice([190, 196, 197, 198, 5000, 70000]))
            else:
                lines[rng.randrange(len(lines) + 1):0] = ["[output.o%d]\ntype = hls" % n for n in range(rng.randint(1, 40))]
            data = bytearray("\n".join(lines).encode("utf-8", "replace"))
        else:                                     # CRLF, no final newline, or truncation
            choice = rng.randrange(3)
            if choice == 0:
                data = bytearray(bytes(data).replace(b"\n", b"\r\n"))
            elif choice == 1:
                data = data.rstrip(b"\n")
            else:
                data = data[:rng.randrange(len(data) + 1)]
            lines = data.decode("latin-1").split("\n")
    return bytes(data)


def run_one(luobo, path, env):
    p = subprocess.run([luobo, "--config", path, "--check-config"], capture_output=True, env=env,
                       timeout=120)
    out = p.stderr.decode("utf-8", "replace")
    problems = []
    if p.returncode not in (0, 2):
        problems.append("exit %d" % p.returncode)
    if "Sanitizer" in out or "runtime error" in out:
        problems.append("sanitizer report")
    if SECRET in out or SECRET in p.stdout.decode("utf-8", "replace"):
        problems.append("secret echoed")
    if p.returncode == 2:
        lines = [l for l in out.splitlines() if l.strip() and not re.match(r"^\d\d:\d\d:\d\d\.\d{3} ", l)]
        if len(lines) != 1:
            problems.append("%d error lines" % len(lines))
        elif not lines[0].startswith("luobo: " + path):
            problems.append("error does not name the file")
    return p.returncode, problems, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--luobo", required=True)
    ap.add_argument("-n", type=int, default=3000)
    ap.add_argument("-o", "--out", default="/tmp/luobo-mutate")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-j", type=int, default=2)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    demo = subprocess.run([args.luobo, "--print-demo-config"], capture_output=True, text=True,
                          check=True).stdout
    data_dir = os.path.join(args.out, "data")
    demo = demo.replace("data_dir = recordings", "data_dir = %s" % data_dir).replace(
        "http_port = 8080", "http_port = 0")
    bases = [demo, demo + RICH]
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1:strict_string_checks=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    rng = random.Random(args.seed)
    jobs = []
    for i in range(args.n):
        path = os.path.join(args.out, "m%05d.ini" % i)
        with open(path, "wb") as f:
            f.write(mutate(rng, rng.choice(bases)))
        jobs.append(path)
    counts, findings = {}, []
    with concurrent.futures.ThreadPoolExecutor(args.j) as pool:
        for path, (rc, problems, out) in zip(jobs, pool.map(lambda p: run_one(args.luobo, p, env), jobs)):
            counts[rc] = counts.get(rc, 0) + 1
            if problems:
                findings.append((path, problems, out))
                with open(path + ".stderr", "w") as f:
                    f.write(out)
            else:
                os.unlink(path)
    print("runs: %d, exit codes: %s, findings: %d" % (args.n, counts, len(findings)))
    for path, problems, out in findings:
        first = [l for l in out.splitlines() if l.strip()][:1]
        print("%s: %s: %s" % (path, ", ".join(problems), first[0][:200] if first else ""))
    sys.exit(1 if findings else 0)


if __name__ == "__main__":
    main()
