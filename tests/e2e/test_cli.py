"""The command line contract: options, exit codes, one clear line on error."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from lbtest import *  # noqa: E402,F401,F403


def one_line_error(p, text):
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(len(lines) == 1, "expected one line on stderr, got %d: %r" % (len(lines), p.stderr))
    check(text in lines[0], "%r does not say %r" % (lines[0], text))


def test_help_version():
    p = run_luobo(["--help"])
    for word in ("--config", "--record", "--duration", "--offline", "--check-config", "--version",
                 "[source.NAME]", "bitrate_kbps"):
        check(word in p.stdout, "--help does not mention %s" % word)
    p = run_luobo(["--version"])
    check(p.stdout.startswith("luobo "), "--version says %r" % p.stdout)


def test_bad_usage():
    one_line_error(run_luobo(["--frobnicate"], check_rc=2), "unknown option '--frobnicate'")
    one_line_error(run_luobo(["--duration", "soon"], check_rc=2), "--duration: 'soon'")
    one_line_error(run_luobo(["--duration"], check_rc=2), "--duration needs a value")
    one_line_error(run_luobo(["extra"], check_rc=2), "unexpected argument 'extra'")
    one_line_error(run_luobo(["--config", "/nonexistent.ini"], check_rc=2), "/nonexistent.ini: cannot open")


def test_check_config():
    with Scratch("cli") as tmp:
        good = write_config(tmp, demo_config(os.path.join(tmp, "d")), "good.ini")
        p = run_luobo(["--config", good, "--check-config"])
        check("valid" in p.stdout, "check-config says %r" % p.stdout)
        check(not os.path.exists(os.path.join(tmp, "d")), "--check-config must not create data_dir")
        cases = [
            ({"type = synthetic\nrole = teacher": "type = v4l\nrole = teacher"},
             "source.teacher: type: unknown value 'v4l' (expected synthetic, url, v4l2)"),
            ({"bitrate_kbps = 4000": "bitrate_kbps = 0"}, "encoder: bitrate_kbps: 0 is out of range"),
            ({"preset = veryfast": "preset = quick"}, "encoder: preset: unknown value 'quick'"),
            ({"width = 1920": "width = 1921"}, "width and height must be even"),
            ({"fps = 30": "fps = thirty"}, "general: fps: 'thirty' is not a whole number"),
            ({"mode = auto": "mode = auto\ncolour = red"}, "director: unknown key 'colour'"),
            ({"speaks = 0-40": "speaks = 0-70"}, "mic.teacher: speaks:"),
            ({"type = synthetic\nrole = teacher": "type = synthetic\nrole = teacher\nanalysis_url = /x.mp4"},
             "source.teacher: analysis_url: only url cameras have a sub-stream (this one is type = synthetic)"),
            ({"mode = auto": "mode = auto\nshot = screen"},
             "director: shot: the automatic director picks its own shots (mode = manual fixes one)"),
            ({"mode = auto": "mode = manual\nshot = podium"}, "director: shot: no source or role named 'podium'"),
            ({"segment_s = 2": "segment_s = 3"},
             "output.live: segment_s: segments of 3 s are not a whole number of GOPs ([encoder] keyint_s = 2)"),
            # found by fuzz_config (tests/fuzz): a crash, and an error that named no file
            ({"[source.teacher]": "[source.[source.teacher]"},
             "bad section name [source.[source.teacher] (expected [kind] or [kind.NAME]"),
            ({"data_dir = " + os.path.join(tmp, "d"): "data_dir ="}, "general: data_dir: must not be empty"),
        ]
        for subst, message in cases:
            path = write_config(tmp, demo_config(os.path.join(tmp, "d"), replace=subst), "bad.ini")
            p = run_luobo(["--config", path, "--check-config"], check_rc=2)
            one_line_error(p, message)
            check("bad.ini:" in p.stderr, "error does not name the file: %r" % p.stderr)
        path = write_config(tmp, demo_config(os.path.join(tmp, "d"), replace={"[encoder]\n": "[encoderx]\n"}), "bad.ini")
        one_line_error(run_luobo(["--config", path, "--check-config"], check_rc=2), "unknown section [encoderx]")
        path = write_config(tmp, demo_config(os.path.join(tmp, "d"), replace={"keyint_s = 2": "keyint_s = 2\nlevel = 3.0"}), "bad.ini")
        one_line_error(run_luobo(["--config", path, "--check-config"], check_rc=2), "level: 3.0 is too low for 1920x1080")


def check_bytes(tmp, data, message, name="bad.ini"):
    """--check-config on a file of these bytes: exit 2, one line naming the file and message."""
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(data)
    p = run_luobo(["--config", path, "--check-config"], check_rc=2)
    one_line_error(p, message)
    check(("%s:" % path) in p.stderr, "error does not name the file: %r" % p.stderr)
    return p


def test_nasty_config():
    """Malformed files: one clear line with file:line and exit 2, never a crash."""
    with Scratch("cli-nasty") as tmp:
        demo = demo_config(os.path.join(tmp, "d"))
        lines = demo.split("\n")
        at = lines.index("[source.teacher]") + 1
        # the crash of issue #16: a section header inside a section header
        check_bytes(tmp, demo.replace("[source.teacher]", "[source.[source.a]").encode(),
                    "bad.ini:%d: bad section name [source.[source.a]" % at)
        check_bytes(tmp, demo.replace("[source.teacher]", "[mic.../../x]").encode(),
                    "bad.ini:%d: bad section name [mic.../../x]" % at)
        check_bytes(tmp, demo.replace("[source.teacher]", "[source.teacher").encode(),
                    "bad.ini:%d: section header without a closing ']'" % at)
        # NUL bytes and other controls
        check_bytes(tmp, demo.replace("role = teacher", "role = tea\0cher", 1).encode(),
                    "bad.ini:%d: control character 0x00" % (at + 2))
        check_bytes(tmp, b"\0" * 64, "bad.ini:1: control character 0x00")
        check_bytes(tmp, demo.replace("[encoder]", "[enc\roder]").encode(), "control character 0x0d")
        # a huge line
        check_bytes(tmp, demo.replace("type = synthetic", "type = " + "s" * 400, 1).encode(),
                    "bad.ini:%d: line longer than" % (at + 1))
        # duplicated sections, with and without keys
        check_bytes(tmp, (demo + "\n[source.teacher]\n").encode(),
                    "section [source.teacher] appears twice (first at line %d)" % at)
        # keys without a section
        check_bytes(tmp, ("fps = 30\n" + demo).encode(), "bad.ini:1: key 'fps' outside of any [section]")
        # a label saved in Latin-1, not UTF-8 (the slate draws labels)
        check_bytes(tmp, demo.replace("role = teacher", "role = teacher\nlabel = Inform\xe1tica", 1)
                    .encode("latin-1"), "source.teacher: label: is not UTF-8 text")
        # CRLF files are fine
        path = os.path.join(tmp, "crlf.ini")
        with open(path, "wb") as f:
            f.write(demo.replace("\n", "\r\n").encode())
        run_luobo(["--config", path, "--check-config"])


def test_secrets_in_config():
    """Config errors about a URL do not show its password or passphrase; an SRT
    listener without a passphrase is accepted with a warning."""
    pw = "supersecret123"
    with Scratch("cli-secrets") as tmp:
        d = os.path.join(tmp, "d")
        srt = "srt://127.0.0.1:%d?mode=caller&passphrase=" + pw
        cases = [
            ("[output.push]\ntype = srt\nurl = " + (srt % 99999) + "\n",
             "output.push: url: 'srt://127.0.0.1:99999?mode=caller&passphrase=***' needs host:port"),
            ("[output.push]\ntype = srt\nurl = " + (srt % 9000) + "\nbogus = 1\n",
             "output.push: unknown key 'bogus'"),
            ("[output.push]\ntype = srt\nurl = srtx://127.0.0.1:9000?passphrase=" + pw + "\n",
             "output.push: url: 'srtx://127.0.0.1:9000?passphrase=***' is not an srt:// URL"),
            ("[source.cam]\ntype = url\nrole = wide\nloop = true\nurl = " + (srt % 9000) + "\n",
             "source.cam: loop: only files can loop, srt://127.0.0.1:9000?mode=caller&passphrase=*** is a live stream"),
            ("[output.platform]\ntype = upload\nurl = ftp://up:" + pw + "@10.0.0.5/x/\n",
             "output.platform: url: 'ftp://up:***@10.0.0.5/x/' is not an http:// or https:// URL"),
            ("[output.platform]\ntype = upload\nurl = up:" + pw + "@10.0.0.5/x/\n",
             "'up:***@10.0.0.5/x/' is not an http:// or https:// URL"),
        ]
        for extra, message in cases:
            path = write_config(tmp, demo_config(d, extra="\n" + extra), "bad.ini")
            p = run_luobo(["--config", path, "--check-config"], check_rc=2)
            one_line_error(p, message)
            check(pw not in p.stderr and pw not in p.stdout, "the error shows the secret: %r" % p.stderr)
        # listeners without a passphrase: valid, with a warning each
        extra = ("\n[output.pull]\ntype = srt\nurl = srt://127.0.0.1:9000?mode=listener\n"
                 "\n[source.enc]\ntype = url\nrole = wide\nurl = srt://127.0.0.1:9001?mode=listener\n")
        p = run_luobo(["--config", write_config(tmp, demo_config(d, extra=extra)), "--check-config"])
        check("valid" in p.stdout, "check-config says %r" % p.stdout)
        check("output.pull: the listener on port 9000 has no passphrase: anyone who can reach the port "
              "can pull the program" in p.stderr, "no warning for the SRT output: %r" % p.stderr)
        check("source.enc: the SRT listener has no passphrase: anyone who can reach its port can send "
              "it a stream" in p.stderr, "no warning for the SRT camera: %r" % p.stderr)
        # with passphrases: no warning, and the passphrases appear nowhere
        extra = extra.replace("mode=listener", "mode=listener&passphrase=" + pw)
        p = run_luobo(["--config", write_config(tmp, demo_config(d, extra=extra)), "--check-config"])
        check("passphrase" not in p.stderr and pw not in p.stdout + p.stderr,
              "a listener with a passphrase: %r" % p.stderr)


TESTS = {"help_version": test_help_version, "bad_usage": test_bad_usage, "check_config": test_check_config,
         "nasty_config": test_nasty_config, "secrets_in_config": test_secrets_in_config}

if __name__ == "__main__":
    main(TESTS)
