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
             "source.[source.teacher: source names are 1-32 letters"),
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


TESTS = {"help_version": test_help_version, "bad_usage": test_bad_usage, "check_config": test_check_config}

if __name__ == "__main__":
    main(TESTS)
