#!/usr/bin/env python3
"""A raw-socket fuzz of the running daemon (luobo, one synthetic camera):
mutated requests, pipelining, slow clients, half-closed and reset
connections, oversized headers, upgrades, WebSocket frames with bad lengths,
opcodes and masks.  Bounded in count and time, deterministic for a seed
(LUOBO_FUZZ_SEED, printed; LUOBO_FUZZ_CASES and LUOBO_FUZZ_S for longer
runs).  Afterwards the daemon must answer, its web thread must be idle, and
SIGTERM must end it within 5 s with exit status 0 and, under ASan, no
report."""
import os
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from webui_common import (check, curl, finish, free_port, idle_share, sanitizer_report,  # noqa: E402
                          stops_within)

SEED = int(os.environ.get("LUOBO_FUZZ_SEED", "16"))
MAX_CASES = int(os.environ.get("LUOBO_FUZZ_CASES", "700"))
MAX_S = float(os.environ.get("LUOBO_FUZZ_S", "25"))

NASTY_HEADERS = [
    b"Content-Length: -1", b"Content-Length: 0", b"Content-Length: 99999999999999999999",
    b"Content-Length: 1, 2", b"Content-Length:  5", b"Content-Length: 3\r\nContent-Length: 9",
    b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked", b"Expect: 100-continue",
    b"Connection: close", b"Connection: keep-alive", b"Connection: Upgrade",
    b"Upgrade: websocket", b"Upgrade: h2c", b"Upgrade: foo", b"Upgrade: ", b"HTTP2-Settings: AAMAAABk",
    b"Host: evil.example", b"Host: [::1]", b"Host: 127.0.0.1:0", b"Host:", b"Host: a\x00b",
    b"Range: bytes=0-1", b"Range: bytes=-0", b"Range: bytes=5-1,0-", b"Range: bytes=99999999999999999999-",
    b"Origin: null", b"Origin: http://evil.example", b"Cookie: luobo_session=" + b"A" * 300,
    b"Authorization: Bearer \xff\xfe", b"X-CSRF-Token: " + b"x" * 100, b"If-Modified-Since: \x01",
    b"X-Big: " + b"b" * 9000, b"Sec-WebSocket-Version: 99", b"Sec-WebSocket-Key: !!",
]


def corpus(port):
    host = b"Host: 127.0.0.1:%d\r\n" % port
    ws = (b"GET /api/v1/events HTTP/1.1\r\n" + host + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
          b"Origin: http://127.0.0.1:%d\r\n\r\n" % port)
    login = b'{"user":"admin","password":"x"}'
    return [
        b"GET / HTTP/1.1\r\n" + host + b"\r\n",
        b"GET /api/v1/session HTTP/1.1\r\n" + host + b"\r\n",
        b"GET /api/v1/status HTTP/1.1\r\n" + host + b"\r\n",
        b"HEAD /index.html HTTP/1.1\r\n" + host + b"\r\n",
        b"POST /api/v1/login HTTP/1.1\r\n" + host + b"Content-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(login) + login,
        b"POST /api/v1/recording HTTP/1.1\r\n" + host + b"Content-Length: 17\r\n\r\n{\"action\":\"stop\"}",
        b"GET /recordings/x/program.mp4 HTTP/1.1\r\n" + host + b"Range: bytes=0-1\r\n\r\n",
        b"GET /live/program.m3u8 HTTP/1.1\r\n" + host + b"\r\n",
        b"OPTIONS * HTTP/1.1\r\n" + host + b"\r\n",
        b"DELETE /api/v1/recordings/x HTTP/1.1\r\n" + host + b"\r\n",
        b"PATCH /api/v1/recordings/x HTTP/1.1\r\n" + host + b"Content-Length: 2\r\n\r\n{}",
        b"GET /metrics HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + host + b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
        b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00",
        b"CONNECT 127.0.0.1:22 HTTP/1.1\r\n" + host + b"\r\n",
        ws,
    ]


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:                               # flip bytes
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 1:                                      # insert specials
            data[pos:pos] = bytes(rng.choice(b"\x00\r\n: \t\xff%/.") for _ in range(rng.randint(1, 6)))
        elif op == 2 and data:                             # delete a span
            del data[pos:pos + rng.randint(1, 20)]
        elif op == 3 and data:                             # repeat a span
            data[pos:pos] = data[pos:pos + rng.randint(1, 40)] * rng.randint(2, 5)
        elif op == 4:                                      # truncate
            del data[pos:]
        else:                                              # a nasty header
            end = data.find(b"\r\n")
            if end > 0:
                data[end + 2:end + 2] = rng.choice(NASTY_HEADERS) + b"\r\n"
    return bytes(data)


def ws_frame(rng):
    opcode = rng.choice([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB, 0xF])
    fin = rng.random() < 0.7
    masked = rng.random() < 0.7
    payload = os.urandom(rng.choice([0, 1, 5, 125, 126, 200, 4000]))
    kind = rng.randrange(4)
    if kind == 0:                                          # honest length
        n = len(payload)
    elif kind == 1:                                        # lies by a little
        n = max(0, len(payload) + rng.randint(-3, 3))
    elif kind == 2:                                        # huge
        n = rng.choice([0xFFFF, 2 ** 31, 2 ** 63 - 1, 2 ** 64 - 1])
    else:
        n = rng.randrange(1 << 16)
    head = bytes([(0x80 if fin else 0) | (rng.randrange(8) << 4 if rng.random() < 0.1 else 0) | opcode])
    mbit = 0x80 if masked else 0
    if n < 126 and rng.random() < 0.8:
        head += bytes([mbit | n])
    elif n < 65536 and rng.random() < 0.7:
        head += bytes([mbit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack(">Q", n & (2 ** 64 - 1))
    if masked:
        key = os.urandom(4)
        head += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + payload


def run_case(rng, port, seeds):
    kind = rng.choices(["mutated", "pipelined", "slow", "halfclose", "reset", "ws", "huge"],
                       weights=[30, 20, 10, 10, 8, 15, 7])[0]
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        return kind, False
    s.settimeout(0.25)
    try:
        if kind == "mutated":
            s.sendall(mutate(rng, rng.choice(seeds)))
        elif kind == "pipelined":
            s.sendall(b"".join(mutate(rng, rng.choice(seeds)) if rng.random() < 0.5
                               else rng.choice(seeds) for _ in range(rng.randint(2, 4))))
        elif kind == "slow":
            data = mutate(rng, rng.choice(seeds)) if rng.random() < 0.5 else rng.choice(seeds)
            t_end = time.monotonic() + 0.4
            while data and time.monotonic() < t_end:
                n = rng.randint(1, 40)
                s.sendall(data[:n])
                data = data[n:]
                time.sleep(rng.random() * 0.02)
        elif kind == "halfclose":
            s.sendall(mutate(rng, rng.choice(seeds)) if rng.random() < 0.5 else rng.choice(seeds))
            s.shutdown(socket.SHUT_WR)
        elif kind == "reset":
            s.sendall(rng.choice(seeds)[:rng.randint(1, 80)])
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            return kind, True
        elif kind == "ws":
            s.sendall(seeds[-1])
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    chunk = s.recv(1024)
                    if not chunk:
                        break
                    head += chunk
            except socket.timeout:
                pass
            for _ in range(rng.randint(1, 6)):
                s.sendall(ws_frame(rng))
        else:
            s.sendall(b"GET /" + b"a" * rng.randint(1, 20000) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                      b"X-H: " + b"v" * rng.randint(1, 20000) + b"\r\n\r\n")
        try:
            while s.recv(65536):
                pass
        except socket.timeout:
            pass
    except OSError:
        pass
    finally:
        s.close()
    return kind, True


def main():
    if not os.environ.get("LUOBO_BIN"):
        print("LUOBO_BIN is not set")
        sys.exit(77)
    print("fuzz seed %d (LUOBO_FUZZ_SEED), at most %d cases or %.0f s" % (SEED, MAX_CASES, MAX_S))
    tmp = tempfile.mkdtemp(prefix="webui-fuzz-")
    port = free_port()
    ini = os.path.join(tmp, "luobo.ini")
    with open(ini, "w") as f:
        f.write("[general]\ndata_dir = %s\nhttp_port = %d\nhttp_address = 127.0.0.1\n"
                "width = 320\nheight = 180\nfps = 10\n\n[source.teacher]\ntype = synthetic\n"
                "role = teacher\n\n[auth]\npublic_viewer = true\n" % (os.path.join(tmp, "data"), port))
    logf = open(os.path.join(tmp, "luobo.log"), "w")
    proc = subprocess.Popen([os.environ["LUOBO_BIN"], "--config", ini], stdout=logf,
                            stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % port
    for _ in range(600):                    # until it answers (bounded)
        if proc.poll() is not None or curl(base + "/api/v1/session").status == 200:
            break
        time.sleep(0.1)
    if not check(proc.poll() is None, "luobo starts"):
        finish()

    rng = random.Random(SEED)
    seeds = corpus(port)
    counts = {}
    t0 = time.monotonic()
    n = 0
    while n < MAX_CASES and time.monotonic() - t0 < MAX_S:
        kind, _ = run_case(rng, port, seeds)
        counts[kind] = counts.get(kind, 0) + 1
        n += 1
        if n % 100 == 0 and proc.poll() is not None:
            break
    print("     %d cases in %.1f s: %s" % (n, time.monotonic() - t0,
                                          ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    check(proc.poll() is None, "luobo survives %d fuzz cases" % n)
    ok = False
    for _ in range(300):                    # a generous poll, not a deadline
        if curl(base + "/api/v1/session").status == 200:
            ok = True
            break
        time.sleep(0.1)
    check(ok, "luobo answers a normal request afterwards")
    share = idle_share(proc.pid, "lb-webui", 3.0)
    check(share < 0.2, "lb-webui idle afterwards (%.1f%% of a core over 3 s)" % (100 * share))
    check(stops_within(proc, 5), "SIGTERM ends luobo within 5 s")
    check(proc.returncode == 0, "luobo exits 0 (%s)" % proc.returncode)
    logf.close()
    with open(logf.name, errors="replace") as f:
        log = f.read()
    report = sanitizer_report(log)
    check(report is None, "no sanitizer report in luobo's log%s" % (": " + report if report else ""))
    if failures_exist():
        print(log[-3000:])
    finish()


def failures_exist():
    from webui_common import failures
    return bool(failures)


if __name__ == "__main__":
    main()
