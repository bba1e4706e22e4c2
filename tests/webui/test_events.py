#!/usr/bin/env python3
"""The events WebSocket under a slow reader: a client that does not read
loses its oldest events (counted in /metrics), while a reading client, the
HTTP API and the publisher carry on.  Bounded waits only, no timings."""
import json
import os
import signal
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from webui_common import (setup_admin, Server, check, cookie_of, curl, finish, ws_connect,  # noqa: E402
                          ws_recv)

PW = "events test pw"


def metric(srv, jar, name):
    r = curl(srv.base + "/metrics", jar=jar)
    for line in r.body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def main():
    srv = Server()
    if not check(srv.alive(), "webui_testd starts"):
        finish()
    jar = os.path.join(srv.tmp, "jar")
    r = setup_admin(srv, PW, jar)
    check(r.status == 201, "admin set up")
    cookie = cookie_of(jar)

    # The slow client: a tiny receive buffer, and it does not read.
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.settimeout(30)
    slow.connect(("127.0.0.1", srv.port))
    slow.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\nCookie: %s\r\n\r\n" % (srv.port, cookie)).encode())

    fast, line = ws_connect(srv.port, cookie=cookie)
    check(" 101 " in line, "fast client connected")
    got = {"burst": 0, "end": False, "error": None}

    def reader():
        try:
            while True:
                ev = json.loads(ws_recv(fast))
                if ev.get("type") == "burst":
                    got["burst"] += 1
                elif ev.get("type") == "burst_end":
                    got["end"] = True
                    return
        except Exception as e:  # noqa: BLE001
            got["error"] = str(e)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    # A client that vanishes mid-stream must not disturb anyone.
    gone, _ = ws_connect(srv.port, cookie=cookie)
    gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    os.kill(srv.proc.pid, signal.SIGUSR1)          # 3000 events of 4 KB
    gone.close()
    during = curl(srv.base + "/api/v1/status", jar=jar)
    check(during.status == 200, "the API answers during the burst")
    t.join(timeout=120)
    check(got["end"] and got["error"] is None,
          "the reading client got to the end of the burst (%d of 3000 burst events)" % got["burst"])
    check(got["burst"] > 0, "the reading client received burst events")

    dropped = metric(srv, jar, "luobo_webui_ws_events_dropped_total")
    check(dropped is not None and dropped > 0,
          "events dropped for the slow client are counted (%s)" % dropped)

    # Now the slow client reads: what is left is its newest events, in order.
    head = b""
    while b"\r\n\r\n" not in head:
        head += slow.recv(1)
    check(b" 101 " in head.split(b"\r\n")[0], "slow client was upgraded")
    seen = []
    try:
        while True:
            ev = json.loads(ws_recv(slow))
            if ev.get("type") == "burst":
                seen.append(ev["n"])
            elif ev.get("type") == "burst_end":
                break
    except Exception as e:  # noqa: BLE001
        check(False, "slow client stream readable: %s" % e)
    check(len(seen) < 3000, "the slow client lost events (%d of 3000 arrived)" % len(seen))
    check(seen == sorted(seen), "what arrived is in order")
    check(seen and seen[-1] == max(seen), "the newest burst events are kept")
    slow.close()
    fast.close()

    clients = metric(srv, jar, "luobo_webui_ws_clients")
    check(clients is not None, "ws client gauge exported")
    check(srv.stop() == 0, "webui_testd exits 0 (no leak, no crash)")
    srv.cleanup()
    finish()


if __name__ == "__main__":
    main()
