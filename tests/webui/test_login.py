#!/usr/bin/env python3
"""Logins are checked off the event loop: parallel attempts cannot pass the
rate limit, a client that leaves before its answer harms nothing, and the
API keeps answering while passwords are being hashed."""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from webui_common import setup_admin, Server, check, curl, finish, login  # noqa: E402

PW = "login test pw 1"


def parallel(n, fn):
    out = [None] * n

    def run(i):
        out[i] = fn(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def main():
    srv = Server(config="[auth]\nlogin_max_failures = 5\n")
    if not check(srv.alive(), "webui_testd starts"):
        finish()
    jar = os.path.join(srv.tmp, "jar")
    check(setup_admin(srv, PW).status == 201, "admin set up")

    # A client that sends a (right) login and leaves at once.
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    body = b'{"user":"admin","password":"%s"}' % PW.encode()
    s.sendall(b"POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s"
              % (len(body), body))
    s.close()

    # Right logins in parallel with other requests: all answered.
    results = parallel(8, lambda i: (login(srv, "admin", PW, jar + str(i))[0].status
                                     if i % 2 == 0 else curl(srv.base + "/api/v1/session").status))
    check(results == [200] * 8, "parallel logins and requests all answered 200 (%s)" % results)

    # Wrong ones in parallel: the limit holds even before any answer came back.
    codes = parallel(12, lambda i: login(srv, "admin", "wrong password", jar + "x%d" % i)[0].status)
    check(codes.count(401) <= 5 and codes.count(401) + codes.count(429) == 12 and 429 in codes,
          "12 parallel wrong logins: at most 5 checked, the rest 429 (%s)" % sorted(codes))
    r, _ = login(srv, "admin", PW, jar)
    check(r.status == 429, "then even the right password waits: 429")
    check(curl(srv.base + "/api/v1/session").status == 200, "the API still answers")
    check(srv.stop() == 0, "webui_testd exits 0")
    srv.cleanup()
    finish()


if __name__ == "__main__":
    main()
