"""Helpers for the webui tests: start webui_testd, talk to it with curl."""
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

TESTD = os.environ.get("WEBUI_TESTD")
SRC = os.environ.get("LUOBO_SRC", os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("LUOBO_BIN", "")

failures = []


def check(cond, what):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        failures.append(what)
    return cond


def finish():
    if failures:
        print("%d check(s) failed:" % len(failures))
        for f in failures:
            print("  " + f)
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)


class Server:
    """webui_testd in a temporary folder; config is the INI text."""

    def __init__(self, config="", www=None, live=None, fixture=None, data=None,
                 address="127.0.0.1", args=()):
        self.tmp = tempfile.mkdtemp(prefix="webui-test-")
        self.data = data or os.path.join(self.tmp, "data")
        os.makedirs(self.data, exist_ok=True)
        self.www = www
        self.live = live
        self.port_file = os.path.join(self.tmp, "port")
        cfg = os.path.join(self.tmp, "luobo.ini")
        with open(cfg, "w") as f:
            f.write("[general]\nhttp_port = 0\nhttp_address = %s\n" % address + config)
        extra_args = args
        args = [TESTD, "--data", self.data, "--config", cfg, "--port-file", self.port_file]
        if www:
            args += ["--www", www]
        if live:
            args += ["--live", live]
        if fixture:
            args += ["--fixture", fixture]
        args += list(extra_args)
        self.log = open(os.path.join(self.tmp, "testd.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.port = None
        self.https_port = None      # with TLS: HTTPS there, self.port redirects
        # Wait for the port file (or the process to die); bounded, not timed.
        for _ in range(400):
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    ports = [int(p) for p in f.read().split()]
                self.port = ports[0]
                self.https_port = ports[1] if len(ports) > 1 else None
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.base = "http://%s:%d" % (address, self.port or 0)

    @staticmethod
    def scratch():
        return tempfile.mkdtemp(prefix="webui-scratch-")

    def alive(self):
        return self.port is not None and self.proc.poll() is None

    def log_text(self):
        if not self.log.closed:
            self.log.flush()
        with open(os.path.join(self.tmp, "testd.log")) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.log.close()
        return code

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body.decode())
        except ValueError:
            return None

    def header(self, name):
        return self.headers.get(name.lower())


def curl(url, method=None, data=None, jar=None, headers=(), extra=(), save_cookies=None):
    """One request with curl; returns Resp (status 0 if no HTTP answer)."""
    tmp = tempfile.mkdtemp(prefix="curl-")
    hfile, bfile = os.path.join(tmp, "h"), os.path.join(tmp, "b")
    args = ["curl", "-s", "--path-as-is", "-o", bfile, "-D", hfile, "-w", "%{http_code}",
            "--max-time", "30"]
    if method:
        args += ["-X", method]
    if data is not None:
        if isinstance(data, (dict, list)):
            data = json.dumps(data)
        dfile = os.path.join(tmp, "d")
        with open(dfile, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
        args += ["--data-binary", "@" + dfile, "-H", "Content-Type: application/json"]
    if jar:
        args += ["-b", jar]
    if save_cookies:
        args += ["-c", save_cookies]
    for h in headers:
        args += ["-H", h]
    args += list(extra)
    args.append(url)
    out = subprocess.run(args, capture_output=True, text=True)
    status = int(out.stdout.strip() or "0")
    hdrs = {}
    if os.path.exists(hfile):
        with open(hfile, "rb") as f:
            for line in f.read().decode("latin-1").splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    hdrs[k.strip().lower()] = v.strip()
    body = b""
    if os.path.exists(bfile):
        with open(bfile, "rb") as f:
            body = f.read()
    shutil.rmtree(tmp, ignore_errors=True)
    return Resp(status, hdrs, body)


def setup_code(server):
    """The first-run code the server printed in its log ("" if none)."""
    for _ in range(100):       # the line may follow the port opening by a moment (bounded)
        found = re.findall(r"setup code ([A-Z0-9]{4}-[A-Z0-9]{4})", server.log_text())
        if found or not server.alive():
            return found[-1] if found else ""
        time.sleep(0.05)
    return ""


def setup_admin(server, password, jar=None):
    """First run: sets the admin password with the setup code."""
    return curl(server.base + "/api/v1/setup", "POST",
                {"code": setup_code(server), "password": password}, save_cookies=jar)


def login(server, user, password, jar):
    r = curl(server.base + "/api/v1/login", "POST", {"user": user, "password": password},
             save_cookies=jar)
    j = r.json() or {}
    return r, j.get("csrf")


def kept_faders(path, want, limit_s=60):
    """The lesson's .faders.json "mics" once want(mics) holds (a writer
    thread writes it after the fader's POST has answered), else the last."""
    end = time.monotonic() + limit_s
    while True:
        try:
            with open(path) as f:
                kept = json.load(f).get("mics", {})
        except (OSError, ValueError):
            kept = None
        if (kept is not None and want(kept)) or time.monotonic() > end:
            return kept
        time.sleep(0.1)


def ws_connect(port, path="/api/v1/events", cookie=None, origin=None, host=None, bearer=None,
               timeout=15):
    """A minimal RFC 6455 client (Host: 127.0.0.1:port unless host says
    otherwise).  Returns (socket, status line)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           % (path, host or "127.0.0.1:%d" % port, key))
    if cookie:
        req += "Cookie: %s\r\n" % cookie
    if origin:
        req += "Origin: %s\r\n" % origin
    if bearer:
        req += "Authorization: Bearer %s\r\n" % bearer
    s.sendall((req + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            break
        head += chunk
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    return s, line


def ws_recv(s):
    """One text frame's payload as str (server frames are not masked)."""
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf
    b0, b1 = exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(exact(2), "big")
    elif n == 127:
        n = int.from_bytes(exact(8), "big")
    payload = exact(n)
    if (b0 & 0x0F) == 8:
        raise EOFError
    return payload.decode()


def ws_collect(port, cookie, sink, stop, poll_s=1):
    """Appends the events socket's status line, then every frame, to sink
    until stop is set (checked every poll_s) or the daemon closes it; a
    thread's target."""
    s, line = ws_connect(port, cookie=cookie, origin="http://127.0.0.1:%d" % port)
    sink.append(line)
    s.settimeout(poll_s)
    while not stop.is_set():
        try:
            sink.append(ws_recv(s))
        except socket.timeout:
            continue
        except (EOFError, OSError):
            break
    s.close()


def cookie_of(jar, name="luobo_session"):
    with open(jar) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 7 and parts[5] == name:
                return "%s=%s" % (name, parts[6])
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    """The real luobo with a small synthetic hall (demo-like), on loopback."""

    def __init__(self, scratch, extra="", encoder="preset = veryfast\nbitrate_kbps = 800\nkeyint_s = 1\n"):
        """extra: more ini sections for the hall (e.g. another camera);
        encoder: the [encoder] section's keys."""
        self.data = os.path.join(scratch, "data")
        self.live = os.path.join(scratch, "live")
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.ini = os.path.join(scratch, "luobo.ini")
        # The daemon serves /live/ from its hls output's folder.
        hall = ("[general]\ndata_dir = %s\nhttp_port = %d\n"
                "http_address = 127.0.0.1\nwww_dir = %s\nwidth = 640\nheight = 360\nfps = 25\n\n"
                % (self.data, self.port, os.path.join(SRC, "webui", "www")))
        for name in ("teacher", "students", "board"):
            hall += "[source.%s]\ntype = synthetic\nrole = %s\n\n" % (name, name)
        hall += extra
        hall += ("[mic.teacher]\ntype = synthetic\nrole = teacher\n\n"
                 "[mic.students]\ntype = synthetic\nrole = students\nfrequency_hz = 660\n\n"
                 "[encoder]\n" + encoder + "\n")
        live = "[output.live]\ntype = hls\ndir = %s\nname = program\nsegment_s = 1\n" % self.live
        # Live HLS only if this build of the daemon has the hls output.
        with open(self.ini, "w") as f:
            f.write(hall + live)
        self.has_live = subprocess.run([os.environ["LUOBO_BIN"], "--config", self.ini,
                                        "--check-config"], capture_output=True).returncode == 0
        if not self.has_live:
            with open(self.ini, "w") as f:
                f.write(hall)
        self.logf = open(os.path.join(scratch, "luobo.log"), "w")
        self.proc = subprocess.Popen([os.environ["LUOBO_BIN"], "--config", self.ini],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        for _ in range(400):
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        if not self.logf.closed:
            self.logf.flush()
        with open(self.logf.name) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logf.close()
        return self.proc.returncode


class LiveHls:
    """A live HLS stream made by ffmpeg in real time (for webui_testd's /live/)."""

    SRC = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    ENC = ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25",
           "-c:a", "aac", "-b:a", "96k"]

    def __init__(self, folder, list_size=6):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        self.playlist = os.path.join(folder, "program.m3u8")
        self.proc = subprocess.Popen(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-re"] + self.SRC + self.ENC +
            ["-f", "hls", "-hls_time", "1", "-hls_list_size", str(list_size),
             "-hls_flags", "delete_segments", "-hls_delete_threshold", "8", self.playlist],
            stdin=subprocess.DEVNULL)
        for _ in range(600):     # until two segments are listed (bounded)
            if os.path.exists(self.playlist) and open(self.playlist).read().count("#EXTINF") >= 2:
                break
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def make_mp4(path, seconds=8):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"] + LiveHls.SRC +
                   ["-t", str(seconds)] + LiveHls.ENC + ["-movflags", "+faststart", path],
                   check=True, timeout=300)


def thread_cpu_s(pid, name):
    """CPU seconds used so far by the process's threads called name."""
    total = 0
    hz = os.sysconf("SC_CLK_TCK")
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.index("(") + 1:stat.rindex(")")] == name:
            fields = stat[stat.rindex(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])
    return total / hz


def idle_share(pid, name="lb-webui", seconds=3.0):
    """Share of one core the named thread used over the next seconds."""
    t0, c0 = time.monotonic(), thread_cpu_s(pid, name)
    time.sleep(seconds)
    return (thread_cpu_s(pid, name) - c0) / (time.monotonic() - t0)


def sanitizer_report(log):
    """The first line of an ASan/UBSan/LSan report in a log, or None."""
    for line in log.splitlines():
        if ("ERROR: AddressSanitizer" in line or "ERROR: LeakSanitizer" in line or
                "runtime error:" in line):
            return line
    return None


def stops_within(proc, seconds):
    """SIGTERM; True if the process ended within seconds (killed otherwise)."""
    t0 = time.monotonic()
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
        print("     stopped %.2f s after SIGTERM" % (time.monotonic() - t0))
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def http_exchange(sock, data, timeout=5.0):
    """Sends data on sock, then reads until the peer closes or goes quiet
    for timeout; returns the bytes read ("<reset>" on a reset)."""
    sock.settimeout(timeout)
    out = b""
    try:
        if data:
            sock.sendall(data)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            out += chunk
    except socket.timeout:
        pass
    except (ConnectionResetError, BrokenPipeError):
        out += b"<reset>"
    return out


def read_response(sock, timeout=10.0):
    """One HTTP response (headers and Content-Length body) from sock."""
    sock.settimeout(timeout)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            return buf
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    want = int(m.group(1)) if m else 0
    while len(body) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


LIBRARY_TEACHERS = ["王老师", "李老师", "Ms Chen", "Mr Smith", "赵老师", "Ms Zhou"]
LIBRARY_SUBJECTS = ["数学", "语文", "English", "物理", "化学", "Biology"]
LIBRARY_GRADES = ["七年级", "八年级", "九年级", "Grade 10"]
LIBRARY_TYPES = ["ordinary", "open", "quality", "demonstration"]
LIBRARY_UPLOADS = [None, "queued", "uploading", "waiting", "failed", "done"]
LIBRARY_WORDS = ["Functions", "一次函数", "Optics", "古诗", "Cells", "Reading", "Algebra", "Acids", "光的折射"]


def make_library(data, n=300, seed=19, mic=None):
    """n finished lessons written straight into the data folder, valid per
    docs/lesson-json.md (schema 2), spread over 2025 (days, times, subjects,
    grades, types, statuses, upload states chosen by a seeded generator),
    so that each filter and sort has something to find.  mic: an audio file
    copied to audio/lapel.m4a of the first lesson.  Returns the lessons as
    written (dicts), with "upload" the upload state or None."""
    import random
    rnd = random.Random(seed)
    lessons = []
    for i in range(n):
        day = 1 + rnd.randrange(360)
        t = time.strptime("2025 %d %02d %02d %02d" % (day, 7 + rnd.randrange(10), rnd.randrange(60),
                                                        rnd.randrange(60)), "%Y %j %H %M %S")
        lid = time.strftime("%Y%m%d-%H%M%S", t) + "-lib%03d" % i
        started = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", t)
        dur = 300 + rnd.randrange(3000) + rnd.randrange(10) / 10
        title = "%s %s %d" % (rnd.choice(LIBRARY_WORDS), rnd.choice(LIBRARY_WORDS), i)
        lesson = {"schema": 2, "id": lid, "title": title, "teacher": rnd.choice(LIBRARY_TEACHERS),
                  "course": "Course %d" % (i % 7), "subject": rnd.choice(LIBRARY_SUBJECTS),
                  "grade": rnd.choice(LIBRARY_GRADES), "class": "%d班" % (1 + i % 4),
                  "lesson_type": rnd.choice(LIBRARY_TYPES), "started_at": started,
                  "ended_at": started, "duration_s": dur, "sources": [], "chapters": [],
                  "status": "interrupted" if i % 9 == 4 else "complete", "keywords": []}
        d = os.path.join(data, lid)
        os.makedirs(d)
        with open(os.path.join(d, "lesson.json"), "w") as f:
            json.dump(lesson, f, ensure_ascii=False)
        up = LIBRARY_UPLOADS[rnd.randrange(len(LIBRARY_UPLOADS))]
        if up:
            with open(os.path.join(d, "upload.json"), "w") as f:
                json.dump({"state": up, "files_done": 0, "files_total": 2, "bytes_done": 0,
                           "bytes_total": 1000}, f)
        if mic and i == 0:
            os.makedirs(os.path.join(d, "audio"))
            shutil.copy(mic, os.path.join(d, "audio", "lapel.m4a"))
            lesson["mics"] = [{"name": "lapel", "role": "teacher", "file": "audio/lapel.m4a"}]
            with open(os.path.join(d, "lesson.json"), "w") as f:
                json.dump(lesson, f, ensure_ascii=False)
        lesson["upload"] = up
        lessons.append(lesson)
    return lessons
