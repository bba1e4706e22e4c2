#!/usr/bin/env python3
"""The "no signal" card's text (capture/text.c, FreeType) against the same
card drawn by ffmpeg's drawtext, which luobo's slates were until libavfilter
became a library loaded only for synthetic sources: the grey 0x303030, the
title in white at h/12 above the middle, the state in 0xbbbbbb at h/20
below it, each centred, with DejaVu Sans Bold or, for CJK names, Noto Sans
CJK.  Compared on the luma plane, pixel by pixel."""
import os
import subprocess
import sys
import tempfile

TOOL = os.environ.get("CAPTURE_TOOL", "capture_tool")
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
NOTO_CJK = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"
failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


def escape(text):
    """drawtext's two levels of quoting (capture/lavfi.c's escape)."""
    return "".join("\\\\\\" + c if c in "':\\%,;[]" else c for c in text)


def reference(title, line, w, h, title_font, line_font):
    graph = ("color=c=0x303030:s=%dx%d:r=1:d=1,"
             "drawtext=fontfile=%s:fontcolor=white:fontsize=h/12:x=(w-tw)/2:y=h/2-th*1.5:text=%s,"
             "drawtext=fontfile=%s:fontcolor=0xbbbbbb:fontsize=h/20:x=(w-tw)/2:y=h/2+th:text=%s"
             % (w, h, title_font, escape(title), line_font, escape(line)))
    out = subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", graph, "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"], capture_output=True, timeout=60)
    return out.stdout[:w * h]


def card(title, line, w, h, tmp):
    path = os.path.join(tmp, "card.y")
    r = subprocess.run([TOOL, "slate", title, line, str(w), str(h), path], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0, "capture_tool slate %r: exit %d %s" % (title[:40], r.returncode, r.stderr.strip()))
    return open(path, "rb").read() if r.returncode == 0 else b""


def compare(title, line, w, h, title_font, line_font, tmp):
    ours, ref = card(title, line, w, h, tmp), reference(title, line, w, h, title_font, line_font)
    if len(ours) != w * h or len(ref) != w * h:
        check(False, "%r at %dx%d: both cards drawn (%d and %d bytes)" % (title, w, h, len(ours), len(ref)))
        return
    diff = [abs(a - b) for a, b in zip(ours, ref)]
    mean = sum(diff) / len(diff)
    off = sum(1 for d in diff if d > 40)
    # where each puts text: rows with any pixel 24 above the grey
    rows = lambda y: [r for r in range(h) if max(y[r * w:(r + 1) * w]) > 57 + 24]  # noqa: E731
    ours_rows, ref_rows = rows(ours), rows(ref)
    check(ours[0] == 57 and ours[-1] == 57, "%r: the card's grey is luma 57 (0x303030)" % title)
    check(max(ours) >= 230, "%r: the title is white (brightest luma %d)" % (title, max(ours)))
    check(bool(ours_rows) and abs(ours_rows[0] - ref_rows[0]) <= 1 and abs(ours_rows[-1] - ref_rows[-1]) <= 1,
          "%r at %dx%d: text on rows %d-%d (drawtext: %d-%d)"
          % (title, w, h, ours_rows[0] if ours_rows else -1, ours_rows[-1] if ours_rows else -1,
             ref_rows[0], ref_rows[-1]))
    check(mean < 1.0 and off < w * h / 500,
          "%r at %dx%d: as drawtext draws it (mean luma difference %.3f, %d pixels over 40 apart)"
          % (title, w, h, mean, off))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        compare("Teacher  NO SIGNAL", "lost since 00:12:05 (7 s)", 640, 360, DEJAVU, DEJAVU, tmp)
        compare("Recording interrupted", "recording interrupted from 10:02:11 to 10:02:40 (29 s)",
                1920, 1080, DEJAVU, DEJAVU, tmp)
        if os.path.exists(NOTO_CJK):
            compare("讲台  NO SIGNAL", "reconnecting since 01:00:00 (3600 s)", 1280, 720, NOTO_CJK, DEJAVU, tmp)
        else:
            print("SKIP CJK: fonts-noto-cjk is not installed (scripts/setup.sh installs it)")
        # bytes that are not UTF-8 (a label saved in Latin-1) are drawn as
        # U+FFFD, the rest as it is: no hang, no crash
        path = os.path.join(tmp, "latin1.y")
        r = subprocess.run([os.fsencode(TOOL), b"slate", b"Inform\xe1tica \xc3", b"\xe4\xb8", b"640", b"360",
                            os.fsencode(path)], capture_output=True, timeout=60)
        ours = open(path, "rb").read() if r.returncode == 0 else b""
        check(len(ours) == 640 * 360 and max(ours) >= 230,
              "a title that is not UTF-8 is drawn (exit %d)" % r.returncode)
        # a title longer than the picture is clipped, not written outside it
        long_title = "W" * 300
        ours = card(long_title, "x", 320, 180, tmp)
        check(len(ours) == 320 * 180, "a title wider than the card is drawn clipped to it")
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
