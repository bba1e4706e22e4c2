"""HLS push to a real nginx WebDAV origin on 127.0.0.1: the origin's playlist
plays through ffmpeg; nginx stopped for 8 s (four segments, four push
timeouts) and restarted: pushing resumes,
expired segments are deleted, the origin ends with the final playlist."""
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from testlib import spawn, TOOL, check, decode_errors, fail, free_tcp_port, parse_kv, scratch

work = scratch("hls-push")
port = free_tcp_port()
root = os.path.join(work, "root")
os.makedirs(os.path.join(work, "tmp"))
os.makedirs(root)
conf = os.path.join(work, "nginx.conf")
with open(conf, "w") as f:
    f.write(f"""daemon off; user root; pid {work}/nginx.pid; error_log {work}/error.log;
events {{}}
http {{ access_log off; client_body_temp_path {work}/tmp;
  server {{ listen 127.0.0.1:{port}; root {root}; client_max_body_size 0;
    location / {{ dav_methods PUT DELETE MKCOL; create_full_put_path on; }} }} }}
""")


def start_nginx():
    p = spawn(["nginx", "-c", conf], stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    if p.poll() is not None:
        fail("nginx did not start")
    return p


live = os.path.join(work, "live")
cfg = os.path.join(work, "luobo.ini")
with open(cfg, "w") as f:
    f.write(f"[output.web]\ntype = hls\ndir = {live}\nurl = http://127.0.0.1:{port}/live\n"
            f"list_size = 4\nkeep_segments = 1\nsegment_s = 2\npush_timeout_ms = 2000\n")

nginx = start_nginx()
tool = spawn([TOOL, "live", cfg, "24", "paced"], stdout=subprocess.PIPE,
                        stderr=open(os.path.join(work, "tool.log"), "wb"), text=True)
time.sleep(6)
check(os.path.exists(os.path.join(root, "live", "program.m3u8")), "origin has the playlist")
nginx.send_signal(signal.SIGTERM)
nginx.wait()
time.sleep(8)
nginx = start_nginx()
out, _ = tool.communicate(timeout=120)
if tool.returncode:
    fail(f"streamer_tool exited {tool.returncode}")       # nginx is stopped at exit
kv = parse_kv(out)
stats = [l for l in out.splitlines() if l.startswith("output=web")][0]
reconnects = int(re.search(r"reconnects=(\d+)", stats).group(1))
try:
    check(reconnects >= 1, f"the push came back after the outage ({reconnects})")
    with open(os.path.join(live, "program.m3u8")) as f:
        local = f.read()
    with open(os.path.join(root, "live", "program.m3u8")) as f:
        remote = f.read()
    check(local == remote, "the origin ends with the final playlist")
    names = [l for l in remote.splitlines() if l.endswith(".ts")]
    for n in names:
        check(os.path.exists(os.path.join(root, "live", n)), f"origin has {n}")
    on_origin = [n for n in os.listdir(os.path.join(root, "live")) if n.endswith(".ts")]
    check(len(on_origin) <= 5, f"expired segments deleted from the origin ({len(on_origin)} left)")
    err = decode_errors(f"http://127.0.0.1:{port}/live/program.m3u8")
    check(not err, f"ffmpeg plays the origin's playlist {err[:300]}")
finally:
    nginx.send_signal(signal.SIGTERM)
    nginx.wait()
print("PASS")
