#!/usr/bin/env python3
"""[webui] tls against real peers: curl and openssl check the self-signed
certificate that tls = auto makes (SANs, key mode, reuse, regeneration), the
redirect from plain HTTP, /live/ kept plain for HLS players (ffprobe reads
it), WSS with Python's ssl verifying the certificate, configured
certificates (the [auth] names, a CA-issued chain with HSTS), config errors.

insecure_transport needs a peer that is not loopback: the second half runs
in a private network namespace (unshare --net) with a veth pair, 10.254.0.1
and 10.254.0.2, so the server sees a real non-loopback peer; Chromium there
shows the console's warning in English and Chinese.  Without the privilege
for a namespace that half is skipped with a message (the rest still runs).

  test_tls.py            everything
  test_tls.py --netns    (internal) the namespace half, already inside it"""
import atexit
import json
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import time

from webui_common import (Server, check, cookie_of, curl, finish, free_port, setup_code,
                           ws_recv)

PW = "tls test pw 1"
STARTED = []


class Srv(Server):
    """Server, killed at exit if a failed check left it running."""

    def __init__(self, *args, **kwargs):
        STARTED.append(self)
        Server.__init__(self, *args, **kwargs)


atexit.register(lambda: [s.proc.kill() for s in STARTED
                         if getattr(s, "proc", None) and s.proc.poll() is None])
HERE = os.path.dirname(os.path.abspath(__file__))
NS_SERVER, NS_CLIENT = "10.254.0.1", "10.254.0.2"


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), capture_output=True, text=True, input=data)


def fingerprint(cert):
    out = openssl("x509", "-in", cert, "-noout", "-fingerprint", "-sha256").stdout
    return out.strip().split("=", 1)[-1]


def sans(cert):
    text = openssl("x509", "-in", cert, "-noout", "-text").stdout
    m = re.search(r"Subject Alternative Name:.*?\n\s*(.*)\n", text)
    return [s.strip() for s in m.group(1).split(",")] if m else []


def tls_server(data, extra="", live=None):
    return Srv(config="[webui]\ntls = auto\nhttps_port = 0\n" + extra, data=data, live=live)


def wss_status(port, cert, cookie, host="127.0.0.1"):
    """The events WebSocket over TLS, verifying the certificate and host."""
    ctx = ssl.create_default_context(cafile=cert)
    with socket.create_connection((host, port), timeout=15) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\nCookie: %s\r\n\r\n"
                       % (host, port, cookie)).encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(1)
                if not chunk:
                    break
                head += chunk
            if b" 101 " not in head.split(b"\r\n")[0]:
                return None
            for _ in range(50):
                ev = json.loads(ws_recv(s))
                if ev.get("type") == "status":
                    return ev
    return None


def make_live(folder):
    """Two real HLS segments made by ffmpeg (not paced: fast)."""
    os.makedirs(folder, exist_ok=True)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=320x180:rate=25", "-t", "2", "-c:v", "libx264", "-preset",
                    "ultrafast", "-g", "25", "-f", "hls", "-hls_time", "1", "-hls_list_size", "0",
                    os.path.join(folder, "program.m3u8")], check=True, timeout=120)


def auto_cert(scratch):
    data = os.path.join(scratch, "data")
    live = os.path.join(scratch, "live")
    make_live(live)
    srv = tls_server(data, "plain_live = true\n[auth]\npublic_viewer = true\n", live=live)
    if not check(srv.alive() and srv.https_port, "tls = auto: starts, HTTPS port given"):
        print(srv.log_text())
        return
    crt, key = os.path.join(data, ".luobo-tls.crt"), os.path.join(data, ".luobo-tls.key")
    check(os.path.isfile(crt) and os.path.isfile(key), "auto: certificate and key in the data folder")
    check(stat.S_IMODE(os.stat(key).st_mode) == 0o600, "auto: key mode 0600")
    names = sans(crt)
    host = socket.gethostname()
    check("DNS:localhost" in names and "IP Address:127.0.0.1" in names and
          "DNS:%s" % host in names, "auto: SANs name localhost, 127.0.0.1 and %s: %s"
          % (host, names))
    check("CA:FALSE" in openssl("x509", "-in", crt, "-noout", "-text").stdout,
          "auto: a leaf certificate (CA:FALSE), as browsers want for a server")
    check(openssl("x509", "-in", crt, "-noout", "-checkend", str(9 * 365 * 86400)).returncode == 0,
          "auto: valid for years")
    https = "https://127.0.0.1:%d" % srv.https_port
    r = curl(https + "/api/v1/status", extra=["--cacert", crt])
    check(r.status == 200 and "recording" in (r.json() or {}),
          "curl --cacert verifies the generated certificate: /api/v1/status 200")
    r = curl("https://localhost:%d/api/v1/session" % srv.https_port, extra=["--cacert", crt])
    check(r.status == 200, "curl --cacert https://localhost verifies (DNS SAN)")
    r = curl(https + "/api/v1/session")
    check(r.status == 0, "without --cacert curl refuses the self-signed certificate")
    r = curl(https + "/api/v1/session", extra=["--cacert", crt])
    check(r.header("strict-transport-security") is None, "no HSTS with a self-signed certificate")
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_version}", "--cacert",
                          crt, "--http2", https + "/api/v1/session"], capture_output=True,
                         text=True).stdout
    check(out == "1.1", "ALPN: http/1.1 even when the client offers h2 (got %s)" % out)

    plain = "http://127.0.0.1:%d" % srv.port
    r = curl(plain + "/recordings.html?a=1&b=x%20y")
    check(r.status == 301 and r.header("location") ==
          "https://127.0.0.1:%d/recordings.html?a=1&b=x%%20y" % srv.https_port,
          "plain HTTP: 301 to the same path and query over HTTPS (%s)" % r.header("location"))
    r = curl(plain + "/api/v1/status", headers=["Host: hall3.school.example:8080"])
    check(r.status == 301 and r.header("location") ==
          "https://hall3.school.example:%d/api/v1/status" % srv.https_port,
          "plain HTTP: the redirect keeps the host the client asked for")
    r = curl(plain + "/api/v1/login", "POST", {"user": "admin", "password": "x"})
    check(r.status == 301, "plain HTTP: a POST is redirected, not served")
    r = curl(plain + "/", extra=["-L", "--cacert", crt])
    check(r.status == 200 and b"<html" in r.body.lower(), "curl -L follows the redirect to the UI")
    r = curl(plain + "/live/program.m3u8")
    check(r.status == 200 and r.body.startswith(b"#EXTM3U"),
          "plain_live: /live/ playlist stays on plain HTTP")
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
                            "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0",
                            plain + "/live/program.m3u8"], capture_output=True, text=True,
                           timeout=120)
    check(probe.returncode == 0 and (probe.stdout.split() or ["0"])[0] == "50",
          "plain_live: ffprobe plays the live HLS over plain HTTP (%s frames)"
          % probe.stdout.strip())
    r = curl(https + "/live/program.m3u8", extra=["--cacert", crt])
    check(r.status == 200, "/live/ over HTTPS too")
    r = curl(plain + "/viewer.html")
    check(r.status == 301, "plain_live: only /live/ is plain, the viewer page redirects")

    # first run and login over HTTPS; the session is not insecure on loopback
    jar = os.path.join(scratch, "jar")
    r = curl(https + "/api/v1/setup", "POST", {"code": setup_code(srv), "password": PW},
             extra=["--cacert", crt], save_cookies=jar)
    check(r.status == 201 and "Secure" in (r.header("set-cookie") or ""),
          "setup over HTTPS, cookie Secure")
    check((r.json() or {}).get("insecure_transport") is False, "HTTPS: insecure_transport false")
    ev = wss_status(srv.https_port, crt, cookie_of(jar))
    check(ev is not None and "recording" in ev.get("status", {}),
          "events WebSocket over wss (Python ssl verifying certificate and host)")
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=15)
    s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = s.recv(200)
    s.close()
    check(b" 101 " not in head.split(b"\r\n")[0], "no WebSocket upgrade on the plain port")
    first = fingerprint(crt)
    check(srv.stop() == 0, "auto instance exits 0")

    # a second start reuses the certificate
    again = tls_server(data)
    check(again.alive(), "second start")
    check(fingerprint(crt) == first and "made a self-signed" not in again.log_text(),
          "second start reuses the same certificate (%s)" % first[:23])
    r = curl("https://127.0.0.1:%d/api/v1/session" % again.https_port, extra=["--cacert", crt])
    check(r.status == 200, "second start serves it")
    check(again.stop() == 0, "second instance exits 0")
    again.cleanup()

    # no plain_live: /live/ redirects like the rest
    nolive = tls_server(data, "[auth]\npublic_viewer = true\n", live=live)
    r = curl("http://127.0.0.1:%d/live/program.m3u8" % nolive.port)
    check(r.status == 301, "without plain_live /live/ redirects too")
    nolive.stop()
    nolive.cleanup()

    # a corrupt key is made again, with a log line
    with open(key, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    os.chmod(key, 0o644)
    fixed = tls_server(data)
    check(fixed.alive(), "starts with a corrupt key")
    log = fixed.log_text()
    check(re.search(r"not a PEM private key.*making a new one", log) is not None,
          "corrupt key: the log says why a new certificate is made")
    check(fingerprint(crt) != first and stat.S_IMODE(os.stat(key).st_mode) == 0o600,
          "corrupt key: a new certificate, key mode 0600")
    r = curl("https://127.0.0.1:%d/api/v1/session" % fixed.https_port, extra=["--cacert", crt])
    check(r.status == 200, "corrupt key: the new certificate verifies")
    fixed.stop()
    fixed.cleanup()

    # a certificate about to expire is made again too
    made = openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-days", "1", "-subj", "/CN=old", "-keyout", key, "-out", crt)
    check(made.returncode == 0, "a one-day certificate in its place")
    os.chmod(key, 0o600)
    renewed = tls_server(data)
    check(renewed.alive() and "expires within 30 days; making a new one" in renewed.log_text(),
          "expiring certificate: made again, with a log line")
    check("CN = old" not in openssl("x509", "-in", crt, "-noout", "-subject").stdout,
          "expiring certificate: replaced")
    renewed.stop()
    renewed.cleanup()
    srv.cleanup()


def configured(scratch):
    d = os.path.join(scratch, "ca")
    os.makedirs(d)
    p = lambda n: os.path.join(d, n)   # noqa: E731
    ok = all(r.returncode == 0 for r in [
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-days", "2", "-subj", "/CN=test CA", "-keyout", p("ca.key"), "-out", p("ca.crt")),
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", "/CN=localhost", "-keyout", p("srv.key"), "-out", p("srv.csr")),
        openssl("x509", "-req", "-in", p("srv.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
                "-CAcreateserial", "-days", "2", "-out", p("srv.crt"), "-extfile", "/dev/stdin",
                data="subjectAltName=DNS:localhost,IP:127.0.0.1\n"),
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", p("self.key"), "-out", p("self.crt"))])
    if not check(ok, "test CA, a certificate it issued, and a self-signed one made with openssl"):
        return
    srv = Srv(config="[webui]\nhttps_port = 0\ntls_cert = %s\ntls_key = %s\n"
                 % (p("srv.crt"), p("srv.key")), data=os.path.join(scratch, "d1"))
    check(srv.https_port is not None, "a configured certificate turns TLS on (tls not set)")
    r = curl("https://localhost:%d/api/v1/session" % srv.https_port,
             extra=["--cacert", p("ca.crt")])
    check(r.status == 200 and (r.header("strict-transport-security") or "").startswith("max-age="),
          "CA-issued certificate: verifies against the CA, HSTS sent")
    r = curl("http://127.0.0.1:%d/api/v1/session" % srv.port)
    check(r.status == 301 and r.header("strict-transport-security") is None,
          "plain port: redirect, no HSTS")
    check(not os.path.exists(os.path.join(scratch, "d1", ".luobo-tls.crt")),
          "nothing generated when a certificate is configured")
    srv.stop()
    srv.cleanup()
    nginx_front(scratch, p)
    old = Srv(config="[auth]\ntls_cert = %s\ntls_key = %s\n[webui]\ntls = auto\nhttps_port = 0\n"
                 % (p("self.crt"), p("self.key")), data=os.path.join(scratch, "d2"))
    r = curl("https://127.0.0.1:%d/api/v1/session" % (old.https_port or 0),
             extra=["--cacert", p("self.crt")])
    check(r.status == 200 and r.header("strict-transport-security") is None,
          "[auth] tls_cert/tls_key (older names) still work; self-signed: no HSTS")
    old.stop()
    old.cleanup()

    def bad(config, want, what):
        srv = Srv(config=config, data=os.path.join(scratch, "bad"))
        code = srv.stop()
        check(code != 0 and want in srv.log_text(), what + ": " + srv.log_text().strip()[-160:])
        srv.cleanup()
    bad("[webui]\ntls = on\n", "webui: tls: 'on' needs tls_cert", "tls = on without a certificate")
    bad("[webui]\ntls = maybe\n", "tls: unknown value 'maybe'", "tls = maybe")
    bad("[webui]\ntls_cert = %s\n" % p("srv.crt"), "webui: tls_key: tls_cert and tls_key go",
        "tls_cert without tls_key")
    bad("[webui]\ntls_cert = %s\ntls_key = %s\n[auth]\ntls_cert = %s\ntls_key = %s\n"
        % (p("srv.crt"), p("srv.key"), p("self.crt"), p("self.key")),
        "webui: tls_cert: differs from [auth] tls_cert", "[webui] and [auth] tls_cert disagree")
    bad("[webui]\ntls = auto\nplain_live = true\n", "plain_live: needs [auth] public_viewer",
        "plain_live without public_viewer")
    bad("[webui]\ntls = on\ntls_cert = %s\ntls_key = %s\n" % (p("srv.crt"), p("self.key")),
        "is not the key of", "a key that is not the certificate's")

    # the daemon: a config error is exit 2, named
    lb = os.environ.get("LUOBO_BIN")
    if lb and os.access(lb, os.X_OK):
        ini = os.path.join(scratch, "on.ini")
        with open(ini, "w") as f:
            f.write("[general]\ndata_dir = %s\n[source.cam]\ntype = synthetic\nrole = teacher\n"
                    "[webui]\ntls = on\n" % os.path.join(scratch, "dd"))
        for extra in (["--check-config"], ["--duration", "1"]):
            r = subprocess.run([lb, "--config", ini] + extra, capture_output=True, text=True,
                               timeout=120)
            check(r.returncode == 2 and "on.ini:" in r.stderr and "webui: tls: 'on' needs"
                  in r.stderr, "luobo %s: tls = on without a certificate exits 2, naming the key"
                  % extra[0])
        daemon_auto(lb, scratch)
        h = subprocess.run([lb, "--help"], capture_output=True, text=True).stdout
        check("webui" in h and "https_port" in h and "plain_live" in h, "luobo --help lists [webui]")


def daemon_auto(lb, scratch):
    """The packaged configuration's line, in the real daemon."""
    data = os.path.join(scratch, "daemon-data")
    port, https_port = free_port(), free_port()
    ini = os.path.join(scratch, "auto.ini")
    with open(ini, "w") as f:
        f.write("[general]\ndata_dir = %s\nhttp_port = %d\nhttp_address = 127.0.0.1\n"
                "width = 320\nheight = 180\nfps = 10\n[source.cam]\ntype = synthetic\n"
                "role = teacher\n[webui]\ntls = auto\nhttps_port = %d\n" % (data, port, https_port))
    logf = open(os.path.join(scratch, "daemon.log"), "w+")
    proc = subprocess.Popen([lb, "--config", ini], stdout=logf, stderr=subprocess.STDOUT)
    atexit.register(lambda: proc.poll() is None and proc.kill())
    crt = os.path.join(data, ".luobo-tls.crt")
    r = None
    for _ in range(600):                 # until it serves (bounded)
        if os.path.exists(crt):
            r = curl("https://127.0.0.1:%d/api/v1/session" % https_port, extra=["--cacert", crt])
            if r.status:
                break
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    check(r is not None and r.status == 200, "luobo with tls = auto: HTTPS with its certificate")
    r = curl("http://127.0.0.1:%d/" % port)
    check(r.status == 301 and r.header("location") == "https://127.0.0.1:%d/" % https_port,
          "luobo with tls = auto: http_port redirects")
    proc.terminate()
    code = proc.wait(timeout=60)
    logf.seek(0)
    log = logf.read()
    logf.close()
    check(code == 0 and "SHA-256" in log, "luobo with tls = auto exits 0, logged the fingerprint")


def nginx_front(scratch, p):
    """webui/README.md's nginx example, as written, in front of luobo on
    plain HTTP: HTTPS with the CA-issued certificate, the WebSocket through
    the proxy, the port-80 redirect."""
    if not shutil.which("nginx"):
        print("skip nginx example: nginx not installed")
        return
    with open(os.path.join(HERE, "..", "..", "webui", "README.md")) as f:
        example = re.search(r"```nginx\n(.*?)```", f.read(), re.S).group(1)
    srv = Srv(data=os.path.join(scratch, "behind"))
    tls_port, plain_port = free_port(), free_port()
    t = os.path.join(scratch, "nginx")
    os.makedirs(os.path.join(t, "tmp"))
    conf = (example.replace("listen 443 ssl;", "listen 127.0.0.1:%d ssl;" % tls_port)
            .replace("listen 80;", "listen 127.0.0.1:%d;" % plain_port)
            .replace("/etc/ssl/hall3/fullchain.pem", p("srv.crt"))
            .replace("/etc/ssl/hall3/privkey.pem", p("srv.key"))
            .replace("127.0.0.1:8080", "127.0.0.1:%d" % srv.port))
    with open(os.path.join(t, "nginx.conf"), "w") as f:
        f.write("daemon off; user root; pid %s/nginx.pid; error_log %s/error.log;\nevents {}\n"
                "http { access_log off; client_body_temp_path %s/tmp; proxy_temp_path %s/tmp;\n%s}\n"
                % (t, t, t, t, conf))
    ng = subprocess.Popen(["nginx", "-c", os.path.join(t, "nginx.conf")],
                          stderr=subprocess.PIPE)
    base = "https://localhost:%d" % tls_port
    try:
        r = None
        for _ in range(200):           # until nginx listens (bounded)
            r = curl(base + "/api/v1/session", extra=["--cacert", p("ca.crt")])
            if r.status or ng.poll() is not None:
                break
            time.sleep(0.05)
        check(r.status == 200 and r.json().get("insecure_transport") is False and
              (r.header("strict-transport-security") or "").startswith("max-age="),
              "nginx example: HTTPS through nginx, HSTS from nginx")
        jar = os.path.join(t, "jar")
        r = curl(base + "/api/v1/setup", "POST", {"code": setup_code(srv), "password": PW},
                 extra=["--cacert", p("ca.crt")], save_cookies=jar)
        check(r.status == 201, "nginx example: first run through the proxy")
        ctx = ssl.create_default_context(cafile=p("ca.crt"))
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", tls_port), timeout=15),
                             server_hostname="localhost") as s:
            # a browser on port 443 sends this Origin; nginx passes Host: localhost
            s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: localhost:%d\r\n"
                       "Origin: https://localhost\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\nCookie: %s\r\n\r\n"
                       % (tls_port, cookie_of(jar))).encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(1)
                if not chunk:
                    break
                head += chunk
            ev = {}
            if b" 101 " in head.split(b"\r\n")[0]:
                for _ in range(50):
                    ev = json.loads(ws_recv(s))
                    if ev.get("type") == "status":
                        break
            check(ev.get("type") == "status", "nginx example: the events WebSocket through nginx")
        r = curl("http://localhost:%d/console.html" % plain_port)
        check(r.status == 301 and r.header("location") == "https://localhost/console.html",
              "nginx example: port 80 redirects")
    finally:
        ng.terminate()
        ng.wait()
        srv.stop()
        srv.cleanup()


# ---- the namespace half: a non-loopback peer ----

def netns_main():
    for cmd in (["ip", "link", "set", "lo", "up"],
                ["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                ["ip", "addr", "add", NS_SERVER + "/24", "dev", "v0"],
                ["ip", "addr", "add", NS_CLIENT + "/24", "dev", "v1"],
                ["ip", "link", "set", "v0", "up"], ["ip", "link", "set", "v1", "up"]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            print("SKIP namespace half: %s: %s" % (" ".join(cmd), r.stderr.strip()))
            sys.exit(77)
    scratch = Server.scratch()
    try:
        ns_checks(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    finish()


def ns_checks(scratch):
    # tls = auto names the machine's addresses, and verifies at one of them
    srv = Srv(config="[webui]\ntls = auto\nhttps_port = 0\n", address="0.0.0.0",
                 data=os.path.join(scratch, "auto"))
    crt = os.path.join(scratch, "auto", ".luobo-tls.crt")
    names = sans(crt) if os.path.exists(crt) else []
    check("IP Address:" + NS_SERVER in names and "IP Address:" + NS_CLIENT in names,
          "auto: SANs name the machine's addresses (%s, %s)" % (NS_SERVER, NS_CLIENT))
    https = "https://%s:%d" % (NS_SERVER, srv.https_port or 0)
    jar = os.path.join(scratch, "jar1")
    r = curl(https + "/api/v1/setup", "POST", {"code": setup_code(srv), "password": PW},
             extra=["--cacert", crt, "--interface", NS_CLIENT], save_cookies=jar)
    check(r.status == 201, "curl --cacert verifies the certificate at %s (IP SAN)" % NS_SERVER)
    r = curl(https + "/api/v1/session", jar=jar, extra=["--cacert", crt, "--interface", NS_CLIENT])
    check(r.status == 200 and r.json().get("role") == "admin" and
          r.json().get("insecure_transport") is False,
          "HTTPS from another machine: insecure_transport false")
    srv.stop()
    srv.cleanup()

    # plain HTTP: the same login from another machine is insecure, from loopback not
    srv = Srv(address="0.0.0.0", data=os.path.join(scratch, "plain"))
    far = "http://%s:%d" % (NS_SERVER, srv.port)
    near = "http://127.0.0.1:%d" % srv.port
    jar = os.path.join(scratch, "jar2")
    r = curl(far + "/api/v1/setup", "POST", {"code": setup_code(srv), "password": PW},
             save_cookies=jar, extra=["--interface", NS_CLIENT])
    check(r.status == 201 and r.json().get("insecure_transport") is True,
          "setup over plain HTTP from %s: insecure_transport true" % NS_CLIENT)
    r = curl(far + "/api/v1/login", "POST", {"user": "admin", "password": PW}, save_cookies=jar,
             extra=["--interface", NS_CLIENT])
    check(r.status == 200 and r.json().get("insecure_transport") is True,
          "login over plain HTTP from another machine: insecure_transport true")
    cookie = ["Cookie: " + (cookie_of(jar) or "")]     # the jar's cookie is for 10.254.0.1
    for path in ("/api/v1/session", "/api/v1/status"):
        r = curl(far + path, headers=cookie, extra=["--interface", NS_CLIENT])
        check(r.status == 200 and r.json().get("insecure_transport") is True,
              "%s from another machine: insecure_transport true" % path)
        r = curl(near + path, headers=cookie)
        check(r.status == 200 and r.json().get("insecure_transport") is False,
              "%s from loopback: insecure_transport false" % path)
    r = curl(near + "/api/v1/session", headers=cookie)
    check(r.json().get("role") == "admin", "(the same session on both)")
    r = curl(far + "/api/v1/session", extra=["--interface", NS_CLIENT])
    check(r.json().get("authenticated") is False and r.json().get("insecure_transport") is True,
          "the login page learns it too (anonymous session)")
    browser(srv, far, near, scratch)
    check(srv.stop() == 0, "plain instance exits 0")
    srv.cleanup()


def browser(srv, far, near, scratch):
    """The console's banner in Chromium (inside the namespace: its address
    for 10.254.0.1 is a non-loopback one)."""
    node_dir = os.environ.get("TLS_NODE_DIR")
    if not node_dir:
        print("skip: no node, npm or chromium for the banner check")
        return
    env = dict(os.environ, FAR=far, NEAR=near, PASSWORD=PW, PROFILE=os.path.join(scratch, "prof"),
               NODE_PATH=os.path.join(node_dir, "node_modules"))
    r = subprocess.run(["node", os.path.join(HERE, "tls_banner.js")], env=env, timeout=300,
                       capture_output=True, text=True)
    print(r.stdout + r.stderr)
    check(r.returncode == 0, "Chromium: the console warns on plain HTTP from another machine "
          "(en, zh), not from loopback")


def netns_half():
    """Runs this script's namespace half in a new network namespace."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        print("skip namespace half: no unshare or ip (util-linux, iproute2)")
        return
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True)
    if probe.returncode:
        print("skip namespace half (insecure_transport from a non-loopback peer): "
              "unshare --net needs CAP_SYS_ADMIN: " + probe.stderr.strip())
        return
    env = dict(os.environ)
    if shutil.which("node") and shutil.which("npm") and os.path.exists("/usr/bin/chromium"):
        # npm needs the network, which the namespace has not
        sys.path.insert(0, os.path.join(HERE, "..", "browser"))
        from run_browser import npm_install   # noqa: E402
        env["TLS_NODE_DIR"] = npm_install()
    r = subprocess.run(["unshare", "--net", sys.executable, os.path.abspath(__file__), "--netns"],
                       timeout=600, env=env)
    check(r.returncode in (0, 77), "namespace half (see its lines above)")


if __name__ == "__main__":
    if "--netns" in sys.argv:
        netns_main()
    scratch = Server.scratch()
    try:
        auto_cert(scratch)
        configured(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    netns_half()
    finish()
