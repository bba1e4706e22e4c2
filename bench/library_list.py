#!/usr/bin/env python3
"""How long GET /api/v1/recordings takes on a library of N lessons.

  bench/library_list.py [--testd BUILD/tests/webui/webui_testd] [--lessons 300] [--reps 21]

webui_testd (the web UI on a fake hall) on a data folder of N lessons
written by tests/webui/webui_common.make_library (valid lesson.json, some
with upload.json); after the first listing (which parses every lesson.json)
each query is asked --reps times with curl and the median and least time
to the first byte are printed, as curl's time_starttransfer.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "webui"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--testd", default=os.path.join(HERE, "..", "build", "tests", "webui", "webui_testd"))
    ap.add_argument("--lessons", type=int, default=300)
    ap.add_argument("--reps", type=int, default=21)
    a = ap.parse_args()
    os.environ["WEBUI_TESTD"] = a.testd
    from webui_common import Server, make_library, setup_admin   # reads WEBUI_TESTD
    srv = Server()
    try:
        make_library(srv.data, a.lessons)
        jar = os.path.join(srv.tmp, "jar")
        setup_admin(srv, "bench password 1", jar)
        for q in ("", "?limit=50", "?q=Optics&sort=teacher", "?limit=1000"):
            url = srv.base + "/api/v1/recordings" + q
            subprocess.run(["curl", "-s", "-o", "/dev/null", "-b", jar, url], check=True)
            out = subprocess.run(["curl", "-s", "-w", "%{time_starttransfer}\\n", "-b", jar] +
                                 ["-o", "/dev/null", url] * a.reps, capture_output=True, text=True).stdout
            ts = sorted(float(x) * 1000 for x in out.split())
            print("%d lessons, %-26s median %6.1f ms, least %6.1f ms" % (a.lessons, q or "(no query)",
                                                                        ts[len(ts) // 2], ts[0]))
    finally:
        srv.stop()
        srv.cleanup()


if __name__ == "__main__":
    main()
