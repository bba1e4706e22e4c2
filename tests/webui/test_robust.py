#!/usr/bin/env python3
"""Hostile and broken clients on raw sockets: garbage, huge or endless
headers, bad lengths, deep JSON, pipelining, half requests, held-open
connections.  Afterwards the server answers normally and exits cleanly
(under ASan: without a memory error or leak)."""
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(__file__))
from webui_common import setup_admin, Server, check, curl, finish  # noqa: E402

PW = "robust test pw"


def raw(port, data, read=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    try:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
                if b"\r\n\r\n" in out and read == "head":
                    break
        except socket.timeout:
            pass
        return out
    except (ConnectionResetError, BrokenPipeError):
        return b"<reset>"
    finally:
        s.close()


def status_of(resp):
    try:
        return int(resp.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def main():
    srv = Server()
    if not check(srv.alive(), "webui_testd starts"):
        finish()
    port = srv.port
    jar = os.path.join(srv.tmp, "jar")
    r = setup_admin(srv, PW, jar)
    csrf = r.json()["csrf"]
    cookie = open(jar).read().split("luobo_session\t")[1].split()[0]

    def up(what):
        check(curl(srv.base + "/api/v1/session").status == 200, "still serving after " + what)

    raw(port, os.urandom(4096) + b"\r\n\r\n")
    up("random bytes")
    raw(port, b"\x00\x00\x00GET / HTTP/1.1\r\n\r\n")
    up("NULs before a request")
    r = raw(port, b"BREW /pot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    check(status_of(r) != 200, "unknown method refused (%d)" % status_of(r))
    raw(port, b"GET /\r\n\r\n")
    up("a request line without version")
    r = raw(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    check(status_of(r) != 200, "a 20 KB header is refused (%s)" % (status_of(r) or "closed"))
    r = raw(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(2000)) + b"\r\n")
    check(status_of(r) != 200, "2000 headers are refused (%s)" % (status_of(r) or "closed"))
    up("oversized headers")
    r = raw(port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    check(status_of(r) != 200, "a 9000-byte URI is refused (%s)" % (status_of(r) or "closed"))
    for cl in (b"-5", b"abc", b"99999999999999999999999"):
        r = raw(port, b"POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + cl + b"\r\n\r\n{}",
                read="head")
        check(status_of(r) in (400, 411, 413) or not r, "Content-Length %s refused (%d)" % (cl.decode(), status_of(r)))
    up("bad lengths")
    body = b"[" * 5000 + b"]" * 5000
    r = raw(port, b"POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
            read="head")
    check(status_of(r) == 400, "deeply nested JSON: 400 (%d)" % status_of(r))
    body = b'{"user":"\xff\xfe\x00","password":"x"}'
    r = raw(port, b"POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
            read="head")
    check(status_of(r) in (400, 401), "invalid UTF-8 and NUL in JSON: 400 or 401 (%d)" % status_of(r))
    r = raw(port, b"GET /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    check(r.count(b"HTTP/1.1 200") == 2, "two pipelined requests, two answers")
    raw(port, b"POST /api/v1/recording HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"act", read=False)
    up("a body cut short")
    r = raw(port, b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                  b"Cookie: luobo_session=" + cookie.encode() + b"\r\n\r\n", read="head")
    check(b" 101 " not in r[:20], "WebSocket on another path refused")

    # A client that asks for a big file and never reads: the server streams
    # it in chunks as the socket drains, so its memory does not grow by the
    # file, and everyone else is served meanwhile.
    lesson = os.path.join(srv.data, "20260101-000000-big")
    os.makedirs(lesson)
    size = 256 * 1024 * 1024
    with open(os.path.join(lesson, "program.mp4"), "wb") as f:
        f.truncate(size)                               # sparse: costs no disk
    def rss_kb():
        with open("/proc/%d/status" % srv.proc.pid) as f:
            return int([x for x in f if x.startswith("VmRSS:")][0].split()[1])
    before = rss_kb()
    stalled = socket.create_connection(("127.0.0.1", port), timeout=30)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    stalled.sendall(b"GET /recordings/20260101-000000-big/program.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Cookie: luobo_session=" + cookie.encode() + b"\r\n\r\n")
    for _ in range(20):
        check_ok = curl(srv.base + "/api/v1/status", jar=jar).status == 200
    check(check_ok, "a stalled 256 MB download does not hold up other requests")
    grown = rss_kb() - before
    check(grown < 64 * 1024, "server memory grew by %d KB, far less than the file" % grown)
    got = 0
    head = b""
    while b"\r\n\r\n" not in head:
        head += stalled.recv(1)
    check(b"content-length: %d" % size in head.lower(), "the stalled download announces the whole length")
    while got < size:
        chunk = stalled.recv(1 << 20)
        if not chunk:
            break
        got += len(chunk)
    stalled.close()
    check(got == size, "then it reads every byte (%d of %d)" % (got, size))

    # Connections that send half a header and wait: the others go on.
    held = []
    for _ in range(40):
        s = socket.create_connection(("127.0.0.1", port), timeout=15)
        s.sendall(b"GET /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        held.append(s)
    check(curl(srv.base + "/api/v1/status", jar=jar).status == 200,
          "40 half-sent requests held open: others are served")
    r = curl(srv.base + "/api/v1/recording", "POST", {"action": "start"}, jar=jar,
             headers=["X-CSRF-Token: " + csrf])
    check(r.status == 200, "and can start a recording")
    for s in held:
        s.close()
    up("held connections closed")
    check(srv.stop() == 0, "webui_testd exits 0")
    srv.cleanup()
    finish()


if __name__ == "__main__":
    main()
