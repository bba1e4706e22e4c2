"""The Debian package, built once with scripts/package.sh (dpkg-buildpackage
from the committed tree) and installed on this machine, then purged.

  - dpkg-deb -c lists the daemon, the unit, the conffile, the web UI, both
    manual pages and the example; Depends comes from shlibs; the conffile
    is /etc/luobo/luobo.ini;
  - lintian reports no error (warnings and notes are printed);
  - apt-get install ./luobo_*.deb: the system user luobo (groups video and
    audio, home /var/lib/luobo, no login shell), /var/lib/luobo and its
    recordings/ owned by luobo with mode 0750, the configuration root:luobo
    0640, the service enabled; systemd-analyze verify accepts the unit;
  - the installed binary, as user luobo: --check-config on the shipped
    configuration; a short run that serves the installed web UI (no
    www_dir); without the configuration, an error naming it and the example;
  - dpkg --remove keeps the recordings and the configuration, dpkg --purge
    removes them, the user and the statoverride.

Runs as root on a machine where luobo is not installed otherwise (CI's
throwaway machine); skipped under the sanitizer pass (it tests packaging,
not memory) and where luobo is installed for real.  The package is rebuilt
only when the commit changed (build/package/commit).
"""
import grp
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from lbtest import SRC, Failure, check, free_port  # noqa: E402

BUILD = os.environ.get("LUOBO_BUILD", os.path.join(SRC, "build"))
OUT = os.path.join(BUILD, "package")
PACKAGE_FILES = [
    "./usr/bin/luobo",
    "./lib/systemd/system/luobo.service",
    "./etc/luobo/luobo.ini",
    "./usr/share/luobo/www/index.html",
    "./usr/share/luobo/www/console.js",
    "./usr/share/man/man8/luobo.8.gz",
    "./usr/share/man/man5/luobo.ini.5.gz",
    "./usr/share/doc/luobo/examples/luobo.ini",
    "./usr/share/doc/luobo/copyright",
]


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def run(args, ok=(0,), **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if p.returncode not in ok:
        raise Failure("%s exited %d: %s%s" % (" ".join(args), p.returncode, p.stdout[-1500:], p.stderr[-1500:]))
    return p


def installed():
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "luobo"], capture_output=True, text=True)
    return "installed" in p.stdout or "config-files" in p.stdout


def build_once():
    head = run(["git", "-C", SRC, "rev-parse", "HEAD"]).stdout.strip()
    stamp = os.path.join(OUT, "commit")
    debs = [f for f in os.listdir(OUT) if re.match(r"luobo_.*\.deb$", f)] if os.path.isdir(OUT) else []
    if debs and os.path.exists(stamp) and open(stamp).read().strip() == head:
        print("package: reusing %s (commit %s)" % (debs[0], head[:12]))
        return os.path.join(OUT, debs[0])
    t0 = time.monotonic()
    run([os.path.join(SRC, "scripts", "package.sh"), OUT, head])
    with open(stamp, "w") as f:
        f.write(head + "\n")
    debs = [f for f in os.listdir(OUT) if re.match(r"luobo_.*\.deb$", f)]
    check(len(debs) == 1, "one luobo .deb built: %r" % debs)
    print("package: built %s in %.0f s" % (debs[0], time.monotonic() - t0))
    return os.path.join(OUT, debs[0])


def check_contents(deb):
    listing = run(["dpkg-deb", "-c", deb]).stdout
    paths = {}
    for line in listing.splitlines():
        f = line.split()
        paths[f[5]] = (f[0], f[1])
    for p in PACKAGE_FILES:
        check(p in paths, "the package holds %s" % p)
    check(paths["./usr/bin/luobo"][0] == "-rwxr-xr-x", "the daemon is executable")
    check(not [p for p in paths if "/build/" in p or p.endswith(".o")], "no build leftovers")
    info = run(["dpkg-deb", "-f", deb, "Depends"]).stdout
    for lib in ("libavformat", "libwebsockets", "libx264", "libsystemd0", "libfreetype6", "adduser"):
        check(lib in info, "Depends names %s (from shlibs): %s" % (lib, info.strip()))
    # loaded with dlopen() (capture/lavfi.c): named by debian/rules
    avfilter = "libavfilter" + subprocess.run(["pkg-config", "--modversion", "libavfilter"], capture_output=True,
                                              text=True).stdout.split(".")[0]
    check(avfilter in [d.strip().split(" ")[0] for d in info.split(",")],
          "Depends names %s (dlopen'd by synthetic sources): %s" % (avfilter, info.strip()))
    ctrl = subprocess.run(["dpkg-deb", "-I", deb, "conffiles"], capture_output=True, text=True).stdout
    check(ctrl.strip() == "/etc/luobo/luobo.ini", "the conffile is /etc/luobo/luobo.ini: %r" % ctrl)
    print("package: %d entries" % len(paths))


def check_lintian(deb):
    changes = [f for f in os.listdir(OUT) if f.endswith(".changes")]
    target = os.path.join(OUT, changes[0]) if changes else deb
    p = subprocess.run(["lintian", "--allow-root", "--display-info", target], capture_output=True, text=True)
    tags = [l for l in p.stdout.splitlines() if re.match(r"[EWIP]: ", l)]
    errors = [l for l in tags if l.startswith("E: ")]
    for l in tags:
        print("lintian: " + l)
    check(not errors, "lintian reports no error: %r" % errors)
    check(p.returncode == 0, "lintian exits 0 (%d): %s" % (p.returncode, p.stderr[-500:]))
    print("lintian: %d errors, %d warnings, %d notes" % (len(errors), len([l for l in tags if l[0] == "W"]),
                                                          len([l for l in tags if l[0] in "IP"])))


def owner_mode(path):
    st = os.stat(path)
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name, stat.S_IMODE(st.st_mode)


def check_installed():
    user = pwd.getpwnam("luobo")
    check(user.pw_uid < 1000, "luobo is a system user (uid %d)" % user.pw_uid)
    check(user.pw_dir == "/var/lib/luobo", "its home is /var/lib/luobo")
    check(user.pw_shell in ("/usr/sbin/nologin", "/bin/false"), "it has no login shell (%s)" % user.pw_shell)
    groups = run(["id", "-nG", "luobo"]).stdout.split()
    check("video" in groups and "audio" in groups, "luobo is in video and audio: %r" % groups)
    check(owner_mode("/var/lib/luobo") == ("luobo", "luobo", 0o750), "/var/lib/luobo: luobo:luobo 0750 (%r)"
          % (owner_mode("/var/lib/luobo"),))
    check(owner_mode("/var/lib/luobo/recordings") == ("luobo", "luobo", 0o750),
          "/var/lib/luobo/recordings: luobo:luobo 0750")
    check(owner_mode("/etc/luobo/luobo.ini") == ("root", "luobo", 0o640),
          "/etc/luobo/luobo.ini: root:luobo 0640 (%r)" % (owner_mode("/etc/luobo/luobo.ini"),))
    check(os.path.islink("/etc/systemd/system/multi-user.target.wants/luobo.service"), "the service is enabled")
    p = subprocess.run(["systemd-analyze", "verify", "/lib/systemd/system/luobo.service"],
                       capture_output=True, text=True)
    noise = [l for l in (p.stdout + p.stderr).splitlines() if "luobo" in l]
    check(p.returncode == 0 and not noise, "systemd-analyze verify accepts the unit: %r" % noise)
    unit = open("/lib/systemd/system/luobo.service").read()
    for line in ("Type=notify", "WatchdogSec=", "Restart=on-failure", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "ReadWritePaths=/var/lib/luobo", "ProtectHome=yes", "PrivateTmp=yes",
                 "DeviceAllow=char-video4linux rw", "DeviceAllow=char-alsa rw", "CapabilityBoundingSet=\n",
                 "ExecReload=/usr/bin/luobo --config /etc/luobo/luobo.ini --check-config"):
        check(line in unit, "the unit has %s" % line.strip())
    check(run(["man", "-w", "luobo.ini"]).stdout.strip().endswith("luobo.ini.5.gz"), "man luobo.ini finds it")


# setpriv execs the command itself (runuser would stay between, and die of
# the signal it passes on)
AS_LUOBO = ["setpriv", "--reuid=luobo", "--regid=luobo", "--init-groups", "--"]


def as_luobo(args, **kw):
    return subprocess.run(AS_LUOBO + args, capture_output=True, text=True, **kw)


def check_runs():
    p = as_luobo(["/usr/bin/luobo", "--config", "/etc/luobo/luobo.ini", "--check-config"])
    check(p.returncode == 0, "the shipped configuration is valid, read as user luobo: %s" % p.stderr)
    work = "/var/lib/luobo/test-run"
    os.makedirs(work)
    shutil.chown(work, "luobo", "luobo")
    port = free_port()
    text = open("/etc/luobo/luobo.ini").read()
    text = text.replace("data_dir = /var/lib/luobo/recordings", "data_dir = %s/data" % work)
    text = text.replace("http_port = 8080", "http_port = %d" % port)
    text = text.replace("width = 1920\nheight = 1080", "width = 640\nheight = 360")
    cfg = os.path.join(work, "luobo.ini")
    with open(cfg, "w") as f:
        f.write(text)
    proc = subprocess.Popen(AS_LUOBO + ["/usr/bin/luobo", "--config", cfg,
                             "--duration", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and body is None and proc.poll() is None:
            try:
                body = urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5).read()
            except OSError:
                time.sleep(0.2)
        check(body is not None, "the installed daemon serves its web UI")
        check(body == open("/usr/share/luobo/www/index.html", "rb").read(),
              "... from /usr/share/luobo/www, without www_dir")
    finally:
        proc.terminate()
        err = proc.communicate(timeout=120)[1]
    check(proc.returncode == 0, "it stops cleanly (%d): %s" % (proc.returncode, err[-1000:]))
    shutil.rmtree(work)

    # a fresh install whose configuration went missing: say where to start
    os.rename("/etc/luobo/luobo.ini", "/etc/luobo/luobo.ini.moved")
    try:
        p = as_luobo(["/usr/bin/luobo", "--config", "/etc/luobo/luobo.ini"])
    finally:
        os.rename("/etc/luobo/luobo.ini.moved", "/etc/luobo/luobo.ini")
    check(p.returncode == 2, "a missing configuration exits 2 (%d)" % p.returncode)
    check("/etc/luobo/luobo.ini: cannot open" in p.stderr and
          "/usr/share/doc/luobo/examples/luobo.ini" in p.stderr,
          "its error names the file and the example: %r" % p.stderr)
    check(len(p.stderr.strip().splitlines()) == 1, "in one line")


def check_remove_purge():
    with open("/var/lib/luobo/recordings/keep-me", "w") as f:
        f.write("a lesson\n")
    run(["dpkg", "--remove", "luobo"])
    check(os.path.exists("/var/lib/luobo/recordings/keep-me"), "remove keeps the recordings")
    check(os.path.exists("/etc/luobo/luobo.ini"), "remove keeps the configuration")
    run(["dpkg", "--purge", "luobo"])
    for path in ("/var/lib/luobo", "/etc/luobo", "/etc/systemd/system/multi-user.target.wants/luobo.service",
                 "/usr/bin/luobo"):
        check(not os.path.lexists(path), "purge removes %s" % path)
    check(subprocess.run(["getent", "passwd", "luobo"], capture_output=True).returncode != 0,
          "purge removes the user")
    check(subprocess.run(["dpkg-statoverride", "--list", "/etc/luobo/luobo.ini"],
                         capture_output=True).returncode != 0, "purge removes the statoverride")


def main():
    if os.environ.get("LUOBO_SANITIZE") == "1":
        skip("the package is built and installed in the plain pass only (it tests packaging, not memory)")
    if os.geteuid() != 0:
        skip("installing a package needs root")
    for tool in ("dpkg-buildpackage", "dh", "lintian", "apt-get", "systemd-analyze", "git", "setpriv"):
        if not shutil.which(tool):
            skip("%s is missing (scripts/setup.sh installs it)" % tool)
    if not os.path.isdir(os.path.join(SRC, ".git")) and not os.path.isfile(os.path.join(SRC, ".git")):
        skip("not a git checkout: scripts/package.sh builds from a commit")
    if installed():
        skip("luobo is installed on this machine: this test would purge it")
    deb = build_once()
    try:
        check_contents(deb)
        check_lintian(deb)
        p = run(["apt-get", "install", "-y", "--no-install-recommends", deb],
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        check("luobo" in p.stdout, "apt-get installs the package")
        check_installed()
        check_runs()
        check_remove_purge()
    finally:
        if installed():
            subprocess.run(["dpkg", "--purge", "luobo"], capture_output=True)
    print("PASS package")


if __name__ == "__main__":
    try:
        main()
    except Failure as e:
        print("FAIL package: %s" % e)
        sys.exit(1)
