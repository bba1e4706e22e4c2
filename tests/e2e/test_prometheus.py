"""contrib/prometheus/luobo-rules.yml with a real Prometheus.

"rules": promtool check rules passes and names a rule per alert of the
★ contract.  "scrape": Prometheus (1 s scrape and evaluation) scrapes a
recording luobo on loopback whose mic is silent (synthetic, speaks = ""):
LuoboMicSilent fires, with the mic as its subject.  Skips (77) only when
Debian's prometheus package is missing (scripts/setup.sh installs it).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from lbtest import SRC, LUOBO, Scratch, check, free_port, main  # noqa: E402

RULES = os.path.join(SRC, "contrib", "prometheus", "luobo-rules.yml")
ALERTS = ["mic_silent", "mic_clipping", "mic_lost", "camera_lost", "camera_black", "camera_frozen",
          "substream_lost", "av_drift", "output_down", "upload_failing", "disk_low", "overload",
          "clock_unsynced"]


def test_rules():
    p = subprocess.run(["promtool", "check", "rules", RULES], capture_output=True, text=True)
    check(p.returncode == 0 and "SUCCESS" in p.stdout + p.stderr, "promtool: %s%s" % (p.stdout, p.stderr))
    text = open(RULES).read()
    for a in ALERTS:
        check('luobo_alert{alert="%s"}' % a in text, "a rule for %s" % a)


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return json.loads(r.read())
    except OSError:
        return None


def test_scrape():
    with Scratch("prometheus") as d:
        port, prom_port = free_port(), free_port()
        ini = os.path.join(d, "luobo.ini")
        with open(ini, "w") as f:
            f.write("[general]\ndata_dir = %s/data\nhttp_port = %d\nhttp_address = 127.0.0.1\n"
                    "width = 320\nheight = 180\nfps = 15\n\n[source.cam]\ntype = synthetic\n\n"
                    "[mic.lapel]\ntype = synthetic\nspeaks =\n\n"
                    "[encoder]\npreset = ultrafast\nbitrate_kbps = 300\niso = false\n\n"
                    "[output.archive]\ntype = archive\nmin_free_mb = 10\nstop_free_mb = 5\n\n"
                    "[auth]\nmetrics_public = true\n\n"
                    "[health]\nmic_silent_s = 2\nclock_check = false\n" % (d, port))
        with open(os.path.join(d, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "rule_files: [%s]\n"
                    "scrape_configs:\n  - job_name: luobo\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % (RULES, port))
        log = open(os.path.join(d, "luobo.log"), "w")
        plog = open(os.path.join(d, "prometheus.log"), "w")
        luobo = subprocess.Popen([LUOBO, "--config", ini, "--record"], stdout=log, stderr=subprocess.STDOUT)
        prom = subprocess.Popen(["prometheus", "--config.file=%s/prometheus.yml" % d,
                                 "--storage.tsdb.path=%s/tsdb" % d,
                                 "--web.listen-address=127.0.0.1:%d" % prom_port],
                                stdout=plog, stderr=subprocess.STDOUT)
        t0 = time.monotonic()
        firing = None
        try:
            for _ in range(600):
                check(luobo.poll() is None and prom.poll() is None, "luobo and prometheus run")
                j = get_json("http://127.0.0.1:%d/api/v1/alerts" % prom_port)
                for a in (j or {}).get("data", {}).get("alerts", []):
                    if a["labels"].get("alertname") == "LuoboMicSilent" and a["state"] == "firing":
                        firing = a
                if firing:
                    break
                time.sleep(0.5)
            check(firing is not None, "LuoboMicSilent fires")
            check(firing["labels"].get("subject") == "lapel" and "lapel" in firing["annotations"]["summary"],
                  "the rule names the mic: %s" % firing)
            print("LuoboMicSilent firing %.1f s after luobo started (mic_silent_s = 2)" %
                  (time.monotonic() - t0))
        finally:
            for p in (prom, luobo):
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait()
            log.close()
            plog.close()


if __name__ == "__main__":
    if not shutil.which("prometheus") or not shutil.which("promtool"):
        print("prometheus missing (Debian's prometheus package; scripts/setup.sh installs it)")
        sys.exit(77)
    main({"rules": test_rules, "scrape": test_scrape})
