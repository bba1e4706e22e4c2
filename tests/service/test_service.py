"""luobo as a systemd service, without systemd: the notify protocol, the
journal, the manual pages.

  notify   NOTIFY_SOCKET is a datagram socket this test binds, as systemd
           does: READY=1 arrives once the web UI answers; STATUS= says
           "idle, 4 cameras live", then "recording 'Notify test' 00:00:0x"
           once a recording is started through the API; WATCHDOG=1 arrives
           at a quarter of WATCHDOG_USEC, stops while the program thread is
           stalled (LUOBO_TEST_STALL_FILE, the test-only hook), comes back
           when it runs again; a reload that restarts the pipeline (SIGHUP
           with a new program size, idle) says RELOADING=1, then READY=1,
           and the watchdog is fed throughout; STOPPING=1 at SIGTERM, exit 0.
  journal  stderr is "the journal" (JOURNAL_STREAM = its dev:inode) but no
           journald listens (a private mount namespace hides any): every
           line falls back to the stream with its priority prefix (<6> info,
           <4> warning, <3> error) and no time stamp; with JOURNAL_STREAM
           naming another file, lines keep their time stamp.
  journald a real systemd-journald in a private mount namespace (tmpfs over
           /run/systemd and the journal folders), luobo's stderr connected
           to it by systemd-cat: `journalctl LUOBO_LESSON=<id>` lists the
           lesson's lines, `-p warning` only warnings and errors, and
           LUOBO_MODULE / LUOBO_SOURCE / PRIORITY are set.
  man      `groff -ww -man -Tutf8` prints no warning on luobo(8) and
           luobo.ini(5); every key --help lists is in luobo.ini(5), every
           option in luobo(8).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "webui"))
from lbtest import (LUOBO, Failure, Scratch, check, demo_config, free_port, lessons,  # noqa: E402
                    main, run_luobo, write_config)

BUILD = os.environ.get("LUOBO_BUILD", "")
SMALL = {"width = 1920\nheight = 1080": "width = 640\nheight = 360",
         "fps = 30": "fps = 15"}


def small_config(tmp, port, extra=""):
    text = demo_config(os.path.join(tmp, "data"), port, replace=SMALL,
                       extra=extra)
    return write_config(tmp, text)


class Notifications:
    """The datagrams a daemon sends to $NOTIFY_SOCKET, with arrival times."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.items = []
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            now = time.monotonic()
            with self.lock:
                for line in data.decode().split("\n"):
                    if line:
                        self.items.append((now, line))

    def lines(self, prefix=""):
        with self.lock:
            return [(t, l) for t, l in self.items if l.startswith(prefix)]

    def wait(self, pred, timeout, what, alive=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [x for x in self.lines() if pred(x[1])]
            if found:
                return found[0]
            if alive and not alive():
                raise Failure("luobo ended while waiting for %s" % what)
            time.sleep(0.05)
        raise Failure("no %s within %d s (got %r)" % (what, timeout, [l for _, l in self.lines()][-10:]))

    def close(self):
        self.stop = True
        self.thread.join()
        self.sock.close()


class Server:
    def __init__(self, proc, port, logpath):
        self.proc, self.base, self.logpath = proc, "http://127.0.0.1:%d" % port, logpath

    def alive(self):
        return self.proc.poll() is None

    def log_text(self):
        with open(self.logpath) as f:
            return f.read()


def test_notify():
    from webui_common import curl, login, setup_admin
    watchdog_us = 2000000
    with Scratch("notify") as tmp:
        port = free_port()
        cfg = small_config(tmp, port)
        sock_path = os.path.join(tmp, "notify.sock")
        stall = os.path.join(tmp, "stall")
        notes = Notifications(sock_path)
        logpath = os.path.join(tmp, "luobo.log")
        log = open(logpath, "w")
        env = dict(os.environ, NOTIFY_SOCKET=sock_path, WATCHDOG_USEC=str(watchdog_us),
                   LUOBO_TEST_STALL_FILE=stall)
        env.pop("WATCHDOG_PID", None)
        proc = subprocess.Popen([LUOBO, "--config", cfg], stdout=log, stderr=subprocess.STDOUT, env=env)
        srv = Server(proc, port, logpath)
        try:
            t_ready, _ = notes.wait(lambda l: l == "READY=1", 120, "READY=1", srv.alive)
            # the web UI listened before READY was sent: it answers at once
            r = curl(srv.base + "/api/v1/session")
            check(r.status == 200, "the web UI answers when READY=1 arrives (%d)" % r.status)
            check(not [l for t, l in notes.lines("WATCHDOG=1") if t < t_ready - 0.5],
                  "no watchdog ping long before READY")
            notes.wait(lambda l: re.fullmatch(r"STATUS=idle, 4 cameras live", l), 60,
                       "STATUS=idle, 4 cameras live", srv.alive)

            # WATCHDOG=1 at about a quarter of the period: at least 6 in 3 s
            t0 = time.monotonic()
            time.sleep(3)
            pings = [t for t, _ in notes.lines("WATCHDOG=1") if t >= t0]
            check(len(pings) >= 4, "WATCHDOG=1 keeps coming while the program ticks (%d in 3 s)" % len(pings))
            gaps = [b - a for a, b in zip(pings, pings[1:])]
            print("notify: %d pings in 3 s, largest gap %.2f s (period %.1f s)" %
                  (len(pings), max(gaps) if gaps else -1, watchdog_us / 1e6))

            # a recording started through the API shows in STATUS
            jar = os.path.join(tmp, "jar")
            check(setup_admin(srv, "notify-test-pw", jar).status in (200, 201), "admin set up")
            r, csrf = login(srv, "admin", "notify-test-pw", jar)
            check(r.status == 200 and csrf, "logged in")
            auth = dict(jar=jar, headers=["X-CSRF-Token: " + csrf])
            r = curl(srv.base + "/api/v1/recording", "POST", {"action": "start", "title": "Notify test"}, **auth)
            check(r.status in (200, 201, 202), "recording starts (%d %s)" % (r.status, r.body[:200]))
            notes.wait(lambda l: re.fullmatch(r"STATUS=recording 'Notify test' 00:00:0[1-9]", l), 60,
                       "STATUS=recording 'Notify test' 00:00:0x", srv.alive)

            # the program thread stalls: the pings stop (within half a
            # period for the heartbeat to go stale, plus a quarter)
            open(stall, "w").close()
            t_stall = time.monotonic()
            deadline = t_stall + 30
            quiet_since = None
            while time.monotonic() < deadline:
                last = notes.lines("WATCHDOG=1")[-1][0]
                if time.monotonic() - last > 2 * watchdog_us / 1e6:
                    quiet_since = last
                    break
                time.sleep(0.1)
            check(quiet_since is not None, "WATCHDOG=1 stops while the program thread is stalled")
            print("notify: last ping %.2f s after the stall began" % (quiet_since - t_stall))
            check("the watchdog is no longer fed" in srv.log_text(), "the log says the watchdog is not fed")
            check(srv.alive(), "the rest of the process runs on")
            os.unlink(stall)
            t_back = time.monotonic()
            notes.wait(lambda l: l == "WATCHDOG=1" and notes.lines("WATCHDOG=1")[-1][0] > t_back, 30,
                       "WATCHDOG=1 again after the stall", srv.alive)

            # a reload that restarts the pipeline (the program size, while
            # idle): RELOADING=1, READY=1 again, the watchdog fed throughout
            r = curl(srv.base + "/api/v1/recording", "POST", {"action": "stop"}, **auth)
            check(r.status == 200, "recording stops (%d)" % r.status)
            notes.wait(lambda l: l.startswith("STATUS=idle"), 60, "STATUS=idle after the lesson", srv.alive)
            with open(cfg) as f:
                text = f.read()
            with open(cfg, "w") as f:
                f.write(text.replace("width = 640\n", "width = 480\n"))
            t_hup = time.monotonic()
            proc.send_signal(signal.SIGHUP)
            t_rel, _ = notes.wait(lambda l: l == "RELOADING=1" and notes.lines("RELOADING=1")[-1][0] >= t_hup,
                                  60, "RELOADING=1 after SIGHUP", srv.alive)
            t_ready2, _ = notes.wait(lambda l: l == "READY=1" and notes.lines("READY=1")[-1][0] > t_rel,
                                     120, "READY=1 after the reload", srv.alive)
            late = [t for t, _ in notes.lines("WATCHDOG=1") if t > t_ready2]
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(late) < 3:
                time.sleep(0.2)
                late = [t for t, _ in notes.lines("WATCHDOG=1") if t > t_ready2]
            check(len(late) >= 3, "WATCHDOG=1 goes on after the reload")
            pings = [t for t, _ in notes.lines("WATCHDOG=1") if t_hup <= t <= t_ready2]
            gaps = [b - a for a, b in zip([t_hup] + pings, pings + [t_ready2])]
            check(max(gaps) < watchdog_us / 1e6, "the watchdog is fed while the pipeline restarts "
                  "(largest gap %.2f s)" % max(gaps))

            proc.send_signal(signal.SIGTERM)
            check(proc.wait(120) == 0, "luobo stops with status 0")
            check(notes.lines("STOPPING=1"), "STOPPING=1 at shutdown")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
            notes.close()
        found = lessons(os.path.join(tmp, "data"))
        check(len(found) == 1, "one lesson recorded")
        print("notify: READY %d times, RELOADING %d, STATUS lines %d" % (
            len(notes.lines("READY=1")), len(notes.lines("RELOADING=1")), len(notes.lines("STATUS="))))

    # a title with control characters (the API refuses them, --title does
    # not): STATUS stays one line, a newline forges no WATCHDOG=trigger
    with Scratch("notify-title") as tmp:
        cfg = small_config(tmp, free_port())
        sock_path = os.path.join(tmp, "notify.sock")
        notes = Notifications(sock_path)
        env = dict(os.environ, NOTIFY_SOCKET=sock_path)
        env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        with open(os.path.join(tmp, "luobo.log"), "w") as log:
            proc = subprocess.Popen([LUOBO, "--config", cfg, "--record", "--duration", "3", "--title",
                                     "x\nWATCHDOG=trigger\n\tend\x7f"], stdout=log, stderr=subprocess.STDOUT,
                                    env=env)
            try:
                check(proc.wait(180) == 0, "luobo --record --duration 3 exits 0")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        notes.wait(lambda l: l.startswith("STATUS=recording"), 30, "STATUS=recording")
        notes.close()
        status = [l for _, l in notes.lines("STATUS=recording")]
        check(status and all(re.fullmatch(r"STATUS=recording 'x WATCHDOG=trigger  end ' \d\d:\d\d:\d\d", l)
                             for l in status), "the title's control characters are spaces in STATUS (%r)" % status)
        forged = [l for _, l in notes.lines() if l.startswith("WATCHDOG=") and l != "WATCHDOG=1"]
        check(not forged, "no notify line forged by the title (%r)" % forged)
        print("notify: with a title of control characters, %r" % status[-1])


def journal_env(stderr_file):
    st = os.fstat(stderr_file.fileno())
    return "%d:%d" % (st.st_dev, st.st_ino)


def unshare_available():
    return shutil.which("unshare") and subprocess.run(
        ["unshare", "-m", "true"], capture_output=True).returncode == 0


def test_journal():
    with Scratch("journal") as tmp:
        # a warning (an unreachable camera) and an error (its retries) come
        # with the info lines of an offline run
        cfg = small_config(tmp, 0, extra="\n[source.gone]\ntype = url\nrole = wide\nurl = %s\n"
                           % os.path.join(tmp, "missing.mp4"))
        errpath = os.path.join(tmp, "stderr")
        with open(errpath, "w") as err:
            env = dict(os.environ, JOURNAL_STREAM=journal_env(err))
            args = [LUOBO, "--config", cfg, "--record", "--duration", "2"]
            if unshare_available():
                # hide a journald this machine may run: the fields' sink
                # must fail over to the stream
                args = ["unshare", "-m", "sh", "-c",
                        "mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd && exec \"$0\" \"$@\""] + args
            elif os.path.exists("/run/systemd/journal/socket"):
                raise Failure("journald runs here and unshare is not available to hide it")
            p = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=300)
        text = open(errpath).read()
        check(p.returncode == 0, "luobo exits 0 (%d): %s" % (p.returncode, text[-2000:]))
        lines = [l for l in text.splitlines() if l]
        bad = [l for l in lines if not re.match(r"<[3467]>(ERROR|WARN |INFO |DEBUG) \[", l)]
        check(not bad, "every line starts with its priority, no time: %r" % bad[:3])
        prio = {"ERROR": "3", "WARN ": "4", "INFO ": "6", "DEBUG": "7"}
        wrong = [l for l in lines if l[1] != prio[l[3:8]]]
        check(not wrong, "the priority matches the level: %r" % wrong[:3])
        check(any(l.startswith("<6>") for l in lines), "info lines are <6>")
        check(any(l.startswith("<4>") or l.startswith("<3>") for l in lines),
              "the missing camera's lines are <4> or <3>: %r" % [l for l in lines if "gone" in l][:3])

        # JOURNAL_STREAM naming another file: stderr is not the journal
        other = os.path.join(tmp, "other")
        with open(other, "w") as o, open(errpath, "w") as err:
            env = dict(os.environ, JOURNAL_STREAM=journal_env(o))
            p = subprocess.run([LUOBO, "--config", small_config(tmp, 0), "--offline", "--duration", "1"],
                               stdout=subprocess.DEVNULL, stderr=err, env=env, timeout=300)
        lines = [l for l in open(errpath).read().splitlines() if l]
        check(p.returncode == 0 and lines, "luobo runs with a foreign JOURNAL_STREAM")
        check(all(re.match(r"\d\d:\d\d:\d\d\.\d\d\d (ERROR|WARN |INFO |DEBUG) \[", l) for l in lines),
              "with stderr elsewhere, lines keep their time stamp: %r" % lines[:2])


JOURNALD_SCRIPT = r"""
set -e
mkdir -p /run/systemd /run/log
mount -t tmpfs tmpfs /run/systemd
mount -t tmpfs tmpfs /run/log
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
"$JOURNALD" >"$TMP/journald.out" 2>&1 &
jpid=$!
i=0
while [ ! -S /run/systemd/journal/stdout ] || [ ! -S /run/systemd/journal/socket ]; do
  i=$((i + 1)); [ $i -lt 200 ] || { echo "journald did not start" >&2; kill $jpid; exit 1; }
  sleep 0.05
done
# as systemd does for a service: stderr is a journal stream, JOURNAL_STREAM names it
systemd-cat -t luobo sh -c 'JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@"' sh "$@" || rc=$?
# journald takes the stream's last lines as it reads them
sleep 1
journalctl -D /run/log/journal --no-pager -o json SYSLOG_IDENTIFIER=luobo > "$TMP/all.json"
cp -r /run/log/journal "$TMP/journal"
kill $jpid
wait $jpid || true
exit ${rc:-0}
"""


def test_journald():
    journald = "/lib/systemd/systemd-journald"
    if not os.path.exists(journald) or not shutil.which("journalctl") or not shutil.which("systemd-cat"):
        print("SKIP: systemd-journald, journalctl or systemd-cat missing (package systemd)")
        sys.exit(77)
    if os.geteuid() != 0 or not unshare_available():
        print("SKIP: a private journald needs root and unshare -m")
        sys.exit(77)
    with Scratch("journald") as tmp:
        cfg = small_config(tmp, 0, extra="\n[source.gone]\ntype = url\nrole = wide\nurl = %s\n"
                           % os.path.join(tmp, "missing.mp4"))
        env = dict(os.environ, TMP=tmp, JOURNALD=journald)
        p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", JOURNALD_SCRIPT, "sh",
                            LUOBO, "--config", cfg, "--record", "--duration", "2",
                            "--title", "Journal test"], env=env, capture_output=True, text=True, timeout=300)
        check(p.returncode == 0, "luobo under a private journald exits 0 (%d): %s %s" %
              (p.returncode, p.stderr[-2000:], open(os.path.join(tmp, "journald.out")).read()[-500:]))
        entries = [json.loads(l) for l in open(os.path.join(tmp, "all.json")) if l.strip()]
        check(entries, "the journal has luobo's lines")
        found = lessons(os.path.join(tmp, "data"))
        check(len(found) == 1, "one lesson")
        lesson_id = os.path.basename(found[0])
        tagged = [e for e in entries if e.get("LUOBO_LESSON") == lesson_id]
        check(len(tagged) >= 2, "lines of the lesson carry LUOBO_LESSON=%s (%d)" % (lesson_id, len(tagged)))
        check(any("recording %s started" % lesson_id in e["MESSAGE"] for e in tagged),
              "the lesson's start is tagged with it")
        check(all(e.get("LUOBO_MODULE") for e in entries if "MESSAGE" in e and e["MESSAGE"].startswith("[")),
              "every line has LUOBO_MODULE")
        gone = [e for e in entries if e.get("LUOBO_SOURCE") == "gone"]
        check(gone and all(e.get("LUOBO_MODULE") == "capture" for e in gone),
              "the missing camera's lines carry LUOBO_SOURCE=gone, LUOBO_MODULE=capture")
        check(any(int(e["PRIORITY"]) <= 4 for e in gone), "... at warning or error priority")
        check(all(e["PRIORITY"] in "34567" for e in entries), "priorities are syslog's")
        # the same through journalctl's own filters, as an administrator types them
        jdir = os.path.join(tmp, "journal")
        q = subprocess.run(["journalctl", "-D", jdir, "--no-pager", "-o", "cat", "LUOBO_LESSON=" + lesson_id],
                           capture_output=True, text=True)
        check(q.returncode == 0 and "recording %s started" % lesson_id in q.stdout,
              "journalctl LUOBO_LESSON=%s lists the lesson's lines: %r" % (lesson_id, q.stdout[:300]))
        q = subprocess.run(["journalctl", "-D", jdir, "--no-pager", "-o", "json", "-p", "warning",
                            "SYSLOG_IDENTIFIER=luobo"], capture_output=True, text=True)
        warn = [json.loads(l) for l in q.stdout.splitlines() if l.strip()]
        check(warn and all(int(e["PRIORITY"]) <= 4 for e in warn),
              "journalctl -p warning: only warnings and errors (%d)" % len(warn))
        print("journald: %d entries, %d of lesson %s" % (len(entries), len(tagged), lesson_id))


def groff_warnings(path):
    p = subprocess.run(["groff", "-ww", "-man", "-Tutf8", path], capture_output=True, text=True)
    return p.returncode, p.stderr.strip(), p.stdout


def test_man():
    with Scratch("man") as tmp:
        pages = {}
        for section, name in (("8", "luobo.8"), ("5", "luobo.ini.5")):
            built = os.path.join(BUILD, "daemon", name) if BUILD else ""
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                check(subprocess.run([LUOBO, "--print-man", section], stdout=f).returncode == 0,
                      "--print-man %s" % section)
            if built and os.path.exists(built):
                check(open(built).read() == open(path).read(), "the build's %s is the binary's" % name)
            rc, warnings, text = groff_warnings(path)
            check(rc == 0 and not warnings, "groff -ww on %s: no warning (%s)" % (name, warnings[:500]))
            pages[section] = re.sub(r".\x08", "", text)
        p = run_luobo(["--print-man", "3"], check_rc=2)
        check("no section '3'" in p.stderr, "--print-man 3 is refused: %r" % p.stderr)

        help_text = run_luobo(["--help"]).stdout
        keys, section = [], None
        for line in help_text.splitlines():
            m = re.match(r"  \[(.+)\]$", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"    (\S+)\s", line)
            if section and m:
                keys.append((section, m.group(1)))
        check(len(keys) > 100, "--help lists keys (%d)" % len(keys))
        man5 = pages["5"]
        # each section's heading, then each of its keys after it
        headings = {m.group(1): m.start() for m in re.finditer(r"(?m)^   \[(.+)\]$", man5)}
        for sec in sorted({s for s, _ in keys}):
            check(sec in headings, "luobo.ini(5) has a heading [%s]" % sec)
        missing = []
        for sec, key in keys:
            start = headings[sec]
            end = man5.find("\n   [", start + 1)
            body = man5[start:end if end > 0 else len(man5)]
            if not re.search(r"(?m)^\s+%s(\s|$)" % re.escape(key), body):
                missing.append("%s.%s" % (sec, key))
        check(not missing, "every --help key is in its section of luobo.ini(5): missing %r" % missing[:10])
        for opt in re.findall(r"--([a-z-]+)", help_text.split("Configuration keys")[0]):
            check("--" + opt in pages["8"].replace("\u2010", "-"), "luobo(8) documents --%s" % opt)
        for word in ("SIGNALS", "FILES", "EXIT STATUS", "EXAMPLES", "SIGTERM", "SIGHUP", "/etc/luobo/luobo.ini"
                     if "/etc/" in pages["8"] else "luobo.ini"):
            check(word in pages["8"], "luobo(8) has %s" % word)
        print("man: %d keys in luobo.ini(5), groff -ww quiet" % len(keys))


if __name__ == "__main__":
    main({"notify": test_notify, "journal": test_journal, "journald": test_journald, "man": test_man})
