#!/usr/bin/env python3
"""Issue #16 on webui_testd: the pipelined requests that made lws 4.1.6 spin
for ever, upgrades (h2c, h2 prior knowledge, ALPN h2, unknown ones: the
CVE-2025-11677 sequence), Host and Origin checks (DNS rebinding, cross-site
WebSocket), and a web thread stuck for good not keeping SIGTERM from ending
the process.  After each part the web thread must be idle and the server
must answer; under ASan the server's log must hold no report."""
import json
import os
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from webui_common import (SRC, Server, check, curl, finish, http_exchange, idle_share,  # noqa: E402
                          read_response, sanitizer_report, setup_admin, stops_within, ws_connect)

# The report's reproducer, byte for byte (Host: x is now refused first, so it
# is also sent with a Host this server answers to).
REPRO = [
    b'GET /recordings/\xc0/program.mp4 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n',
    b'POST /api/v1/login HTTP/1.1\x00\r\nHost: x\r\nContent-Type: applicati)n/json\r\n'
    b'Content-Length: 30\r\n\r\n{"user":"a",\x00"paswob"}',
    b'GET /recordings/xrogram1.1\r\nHost: x\r\nRange:rbytes=0-1\r\n\r\n.mp4 HTTP/1.1\r\nHost: x\r\n'
    b'Range: bytes=0-1\r\n\r\n',
]
IDLE = 0.2      # share of a core; a spinning loop uses ~1.0


def status_of(resp):
    try:
        return int(resp.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def statuses(resp):
    return [int(x) for x in __import__("re").findall(rb"HTTP/1\.[01] (\d{3})", resp)]


def body_json(resp):
    try:
        return json.loads(resp.split(b"\r\n\r\n", 1)[1].decode("utf-8", "replace"))
    except (IndexError, ValueError):
        return None


def healthy(srv, what):
    share = idle_share(srv.proc.pid, seconds=1.0)
    check(share < IDLE, "%s: lb-webui idle afterwards (%.0f%% of a core)" % (what, 100 * share))
    check(curl(srv.base + "/api/v1/session").status == 200, "%s: the UI still answers" % what)


def conn(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def pipelining(srv):
    port = srv.port
    host = b"Host: 127.0.0.1:%d" % port
    for name, reqs in (("as reported", REPRO),
                       ("with a good Host", [r.replace(b"Host: x", host) for r in REPRO])):
        # One write makes lws read them together whatever the timing.
        for how in ("in one write", "in three writes", "50 ms apart"):
            s = conn(port)
            try:
                for r in ([b"".join(reqs)] if how == "in one write" else reqs):
                    s.sendall(r)
                    if how == "50 ms apart":
                        time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass                # the server may hang up on the first
            s.close()
            healthy(srv, "the reproducer %s, %s" % (name, how))

    # The root cause: a request with a body parsed from bytes lws buffered
    # behind another.  It is refused by name and the connection closed;
    # before, lws fed the headers to the body callback and then looped.
    s = conn(port)
    r = http_exchange(s, b"GET /api/v1/session HTTP/1.1\r\n" + host + b"\r\n\r\n"
                      b"POST /api/v1/login HTTP/1.1\r\n" + host + b"\r\nContent-Length: 2\r\n\r\n{}")
    s.close()
    check(statuses(r) == [200, 400] and b"pipelined" in r.split(b"HTTP/1.1 400")[-1],
          "GET then a pipelined POST: 200, then 400 naming pipelining (%s)" % statuses(r))
    healthy(srv, "a pipelined POST")
    s = conn(port)
    r = http_exchange(s, b"GET /api/v1/session HTTP/1.1\r\n" + host + b"\r\n\r\n"
                      b"POST /api/v1/login HTTP/1.1\r\n" + host + b"\r\n\r\n")
    s.close()
    check(statuses(r) == [200, 400], "a pipelined POST without Content-Length: 200, 400 (%s)"
          % statuses(r))
    # Pipelining without bodies still works, and a request after a body too.
    s = conn(port)
    r = http_exchange(s, (b"GET /api/v1/session HTTP/1.1\r\n" + host + b"\r\n\r\n") * 2 +
                      b"GET /api/v1/session HTTP/1.1\r\n" + host + b"\r\nConnection: close\r\n\r\n")
    s.close()
    check(statuses(r) == [200, 200, 200], "three pipelined GETs: three answers (%s)" % statuses(r))
    s = conn(port)
    r = http_exchange(s, b"POST /api/v1/login HTTP/1.1\r\n" + host + b"\r\nContent-Length: 2\r\n\r\n{}"
                      b"GET /api/v1/session HTTP/1.1\r\n" + host + b"\r\nConnection: close\r\n\r\n")
    s.close()
    check(statuses(r) == [400, 200], "a POST then a GET in one write: both answered (%s)"
          % statuses(r))
    # A login that waits for its hash while the client sends more: cut off,
    # no spinning while the hasher works.
    s = conn(port)
    body = b'{"user":"admin","password":"not the password"}'
    r = http_exchange(s, b"POST /api/v1/login HTTP/1.1\r\n" + host + b"\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body + b"GET /api/v1/session HTTP/1.1\r\n" + host + b"\r\n\r\n")
    s.close()
    check(statuses(r) in ([], [401], [401, 200]), "a login with more behind it: %s" % statuses(r))
    healthy(srv, "a login with a pipelined request")
    # Not pipelined: a POST after an answer was read, on a kept-alive
    # connection, whatever lws still held of that answer when it ended
    # (a small receive buffer makes its writes partial).
    body = b'{"user":"admin","password":"wrong"}'
    for path in (b"/", b"/common.js", b"/app.css", b"/console.js", b"/api/v1/status"):
        s = conn(port)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET " + path + b" HTTP/1.1\r\n" + host + b"\r\n\r\n")
        time.sleep(0.2)
        first = read_response(s)
        s.sendall(b"POST /api/v1/login HTTP/1.1\r\n" + host + b"\r\nContent-Length: %d\r\n\r\n"
                  % len(body) + body)
        r = read_response(s)
        s.close()
        check(status_of(first) in (200, 401) and status_of(r) in (401, 429),
              "GET %s, its answer read, then a POST on that connection: %d, %d"
              % (path.decode(), status_of(first), status_of(r)))

    # A body cut short, then silence, then the peer half-closes.
    s = conn(port)
    s.sendall(b"POST /api/v1/login HTTP/1.1\r\n" + host + b"\r\nContent-Length: 30\r\n\r\n{\"us")
    s.shutdown(socket.SHUT_WR)
    http_exchange(s, b"", timeout=2)
    s.close()
    healthy(srv, "a half-closed body")


def upgrades(srv):
    port, base = srv.port, srv.base
    out = subprocess.run(["curl", "-sS", "--http2", "-D", "-", "-o", "/dev/null", "--max-time", "20",
                          "-w", "\n%{http_code} %{http_version}", base + "/api/v1/session"],
                         capture_output=True, text=True)
    last = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""
    check(" 101 " not in out.stdout and "HTTP/2" not in out.stdout and last.split()[-1:] in (["1"], ["1.1"]),
          "curl --http2: no 101, answered in HTTP/1.x (%s)" % last)
    check(last.startswith("400"), "curl --http2: the h2c upgrade is refused with 400 (%s)" % last)
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "--max-time",
                          "20", "-w", "%{http_code} %{http_version}", base + "/api/v1/session"],
                         capture_output=True, text=True)
    check(not out.stdout.endswith(" 2") and not out.stdout.startswith("200"),
          "curl --http2-prior-knowledge: no HTTP/2 (%r, exit %d)" % (out.stdout, out.returncode))
    s = conn(port)
    r = http_exchange(s, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
    s.close()
    check(not r or status_of(r) >= 400 or r == b"<reset>", "the h2 preface in plain text: refused")
    s = conn(port)
    r = http_exchange(s, b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n" % port)
    s.close()
    check(b" 101 " not in r and status_of(r) == 400 and "h2c" in (body_json(r) or {}).get("error", ""),
          "Upgrade: h2c on a raw socket: 400 naming h2c")
    s = conn(port)
    r = http_exchange(s, b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      b"Sec-WebSocket-Version: 13\r\n\r\n" % port)
    s.close()
    check(status_of(r) == 404, "a WebSocket on another path: 404 (%d)" % status_of(r))
    healthy(srv, "upgrades")

    # CVE-2025-11677: a keep-alive request, then one with an unknown
    # Upgrade on the same connection: lws answers it itself, frees the
    # header table and (before) went on to read it.
    for up in (b"foo", b"h2c", b"WebSocket2", b"websocket"):
        s = conn(port)
        s.sendall(b"GET /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % port)
        first = read_response(s)
        r = http_exchange(s, b"GET /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                          b"Connection: Upgrade\r\nUpgrade: %s\r\nSec-WebSocket-Key: "
                          b"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                          % (port, up), timeout=3)
        s.close()
        check(status_of(first) == 200 and b" 101 " not in r,
              "keep-alive, then Upgrade: %s on the same connection: no switch (%d)"
              % (up.decode(), status_of(r)))
        # The same two requests in one write (the header table is kept).
        s = conn(port)
        r = http_exchange(s, b"GET /api/v1/session HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
                          b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: Upgrade\r\n"
                          b"Upgrade: %s\r\n\r\n" % (port, port, up), timeout=3)
        s.close()
        check(b" 101 " not in r, "pipelined Upgrade: %s: no switch" % up.decode())
    check(srv.alive() and sanitizer_report(srv.log_text()) is None,
          "CVE-2025-11677 sequences: the server lives, no sanitizer report")
    healthy(srv, "the CVE-2025-11677 sequences")


def alpn(tmp):
    crt, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
    gen = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                          "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", crt], capture_output=True)
    if not check(gen.returncode == 0, "self-signed certificate made"):
        return
    ts = Server(config="[auth]\ntls_cert = %s\ntls_key = %s\n" % (crt, key))
    if check(ts.alive(), "webui_testd with TLS starts"):
        tls_port = ts.https_port or ts.port
        for offer in (["h2"], ["h2", "http/1.1"]):
            ctx = ssl.create_default_context(cafile=crt)
            ctx.check_hostname = False
            ctx.set_alpn_protocols(offer)
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port), timeout=15)) as s:
                got = s.selected_alpn_protocol()
            check(got in (None, "http/1.1"), "TLS, client offers %s: ALPN picks %s, never h2"
                  % (",".join(offer), got))
        out = subprocess.run(["curl", "-sS", "--http2", "--cacert", crt, "-o", "/dev/null",
                              "--max-time", "20", "-w", "%{http_code} %{http_version}",
                              "https://127.0.0.1:%d/api/v1/session" % tls_port],
                             capture_output=True, text=True)
        check(out.stdout == "200 1.1", "curl --http2 over TLS: HTTP/1.1 200 (%s)" % out.stdout)
    check(ts.stop() == 0, "webui_testd with TLS exits 0")
    ts.cleanup()


def hosts():
    addrs = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
    srv = Server(config="[auth]\npublic_viewer = true\n"
                        "[webui]\nserver_names = luobo.school.example, 10.9.8.7\n")
    if not check(srv.alive(), "webui_testd with server_names starts"):
        return
    port = srv.port

    def get(host_line):
        s = conn(port)
        r = http_exchange(s, b"GET /api/v1/session HTTP/1.1\r\n" + host_line +
                          b"Connection: close\r\n\r\n")
        s.close()
        return r

    allowed = ["127.0.0.1:%d" % port, "localhost:%d" % port, "[::1]:%d" % port, "127.0.0.1",
               "luobo.school.example:%d" % port, "LUOBO.School.Example.", "10.9.8.7:%d" % port,
               socket.gethostname().lower()]
    allowed += ["%s:%d" % (a if ":" not in a else "[%s]" % a, port) for a in addrs[:2]]
    for h in allowed:
        r = get(b"Host: %s\r\n" % h.encode())
        check(status_of(r) == 200, "Host %s: 200 (%d)" % (h, status_of(r)))
    for h in ("evil.example:%d" % port, "evil.example", "127.0.0.1.evil.example", "10.9.8.8",
              "luobo.school.example.evil.example"):
        r = get(b"Host: %s\r\n" % h.encode())
        err = (body_json(r) or {}).get("error", "")
        check(status_of(r) == 421 and "unknown host" in err and "server_names" in err,
              "rebinding Host %s: 421 naming the problem (%d %s)" % (h, status_of(r), err))
    for line, what in ((b"", "no Host"), (b"Host: a b\r\n", "a Host with a space"),
                       (b"Host: [zz::1]:80\r\n", "a bracketed non-address"),
                       (b"Host: 127.0.0.1:99999\r\n", "a port out of range")):
        r = get(line)
        check(status_of(r) in (400, 421) and (body_json(r) or {}).get("error"),
              "%s: %d with a JSON error" % (what, status_of(r)))
    r = curl(srv.base + "/api/v1/session", headers=["Host: attacker.example"])
    check(r.status == 421, "curl with a rebinding Host: 421")

    def ws(host, origin, to=None):
        s, line = ws_connect(to or port, origin=origin, host=host)
        s.close()
        return line

    # Host None: ws_connect's Host: 127.0.0.1:port.
    for host, origin, ok in (
            (None, "http://127.0.0.1:%d" % port, True), (None, "http://localhost:%d" % port, True),
            (None, "http://luobo.school.example:%d" % port, True), (None, None, True),
            (None, "http://evil.example:%d" % port, False), (None, "http://evil.example", False),
            (None, "http://127.0.0.1:%d" % (port + 1 if port < 65535 else 1), False),
            # a page of another service on port 80 of this machine
            (None, "http://127.0.0.1", False), (None, "https://127.0.0.1", False),
            # behind a proxy on the scheme's port: Host without a port
            ("luobo.school.example", "https://luobo.school.example", True),
            ("127.0.0.1", "http://127.0.0.1", True), ("127.0.0.1", "http://127.0.0.1:80", True),
            ("127.0.0.1:443", "https://127.0.0.1", True),
            ("127.0.0.1", "http://127.0.0.1:%d" % port, False),
            ("127.0.0.1:443", "http://127.0.0.1", False),
            (None, "null", False),
            (None, "file://", False), (None, "http://127.0.0.1:%d.evil.example" % port, False)):
        line = ws(host, origin)
        check((" 101 " in line) == ok, "WebSocket with Host %s, Origin %s: %s (%s)"
              % (host or "127.0.0.1:%d" % port, origin, "accepted" if ok else "refused", line))
    s = conn(port)
    r = http_exchange(s, b"GET /api/v1/events HTTP/1.1\r\nHost: evil.example:%d\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                      b"Sec-WebSocket-Version: 13\r\nOrigin: http://evil.example:%d\r\n\r\n"
                      % (port, port), timeout=3)
    s.close()
    check(status_of(r) == 421, "a WebSocket to a rebinding Host: 421 (%d)" % status_of(r))
    healthy(srv, "Host and Origin checks")
    check(srv.stop() == 0, "webui_testd with server_names exits 0")
    check(sanitizer_report(srv.log_text()) is None, "no sanitizer report")
    srv.cleanup()

    for bad in ("http://luobo.example", "luobo.example:8080", "a b/c", "[nope]"):
        b = Server(config="[webui]\nserver_names = %s\n" % bad)
        code = b.stop()
        log = b.log_text()
        check(code != 0 and "server_names" in log,
              "server_names = %s: a config error naming the key" % bad)
        b.cleanup()
    any_host = Server(config="[auth]\npublic_viewer = true\n[webui]\nserver_names = *\n")
    r = curl(any_host.base + "/api/v1/session", headers=["Host: anything.example"])
    check(r.status == 200, "server_names = *: any Host")
    ap = any_host.port
    for host, origin, ok in (("anything.example:%d" % ap, "http://anything.example:%d" % ap, True),
                             ("127.0.0.1:%d" % ap, "http://127.0.0.1:%d" % ap, True),
                             ("127.0.0.1:%d" % ap, "http://evil.example:%d" % ap, False),
                             ("anything.example", "https://evil.example", False)):
        line = ws(host, origin, to=ap)
        check((" 101 " in line) == ok, "server_names = *: WebSocket with Host %s, Origin %s: %s (%s)"
              % (host, origin, "accepted" if ok else "refused", line))
    any_host.stop()
    any_host.cleanup()


def wedged():
    srv = Server(config="[auth]\nmetrics_public = true\n", args=["--wedge", "metrics"])
    if not check(srv.alive(), "webui_testd --wedge metrics starts"):
        return
    r = curl(srv.base + "/metrics", extra=["--max-time", "2"])
    check(r.status == 0, "GET /metrics wedges the web thread")
    # lb_webui_stop() waits WEBUI_STOP_TIMEOUT_US (10 s) for the web thread
    # before leaving it behind; the rest is margin for a busy machine.
    check(stops_within(srv.proc, 30), "SIGTERM ends the process within 30 s all the same")
    srv.log.close()
    log = srv.log_text()
    check("did not stop within" in log, "the log says the web thread was left behind")
    check(sanitizer_report(log) is None, "no sanitizer report")
    srv.cleanup()

    # A thread left behind that comes unstuck later closes its listeners:
    # a reload's restart can bind the port again.  The connections it
    # served leak by design (its callbacks return at once once it is left
    # behind, since the state they would clean up may be gone), so leak
    # detection is off for this one process; ASan and UBSan stay on.
    asan = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "detect_leaks=0"
    srv = Server(config="[auth]\nmetrics_public = true\n", args=["--wedge", "metrics-briefly"])
    if asan is None:
        del os.environ["ASAN_OPTIONS"]
    else:
        os.environ["ASAN_OPTIONS"] = asan
    if not check(srv.alive(), "webui_testd --wedge metrics-briefly starts"):
        return
    r = curl(srv.base + "/metrics", extra=["--max-time", "2"])
    check(r.status == 0, "GET /metrics wedges the web thread")
    srv.proc.terminate()
    try:
        code = srv.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        code = srv.proc.wait()
    srv.log.close()
    log = srv.log_text()
    check("did not stop within" in log, "the log says the web thread was left behind")
    check("port %d free again" % srv.port in log and code == 0,
          "once unstuck, the thread left behind closes its listener (exit %d)" % code)
    check(sanitizer_report(log) is None, "no sanitizer report")
    srv.cleanup()


def main():
    srv = Server(www=os.path.join(SRC, "webui", "www"))
    if not check(srv.alive(), "webui_testd starts"):
        finish()
    setup_admin(srv, "hardening test pw")
    pipelining(srv)
    upgrades(srv)
    alpn(srv.tmp)
    check(stops_within(srv.proc, 5), "SIGTERM ends webui_testd within 5 s")
    srv.log.close()
    check(srv.proc.returncode == 0, "webui_testd exits 0")
    check(sanitizer_report(srv.log_text()) is None, "no sanitizer report in its log")
    srv.cleanup()
    hosts()
    wedged()
    finish()


if __name__ == "__main__":
    main()
