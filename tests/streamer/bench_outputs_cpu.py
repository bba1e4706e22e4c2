"""CPU cost of the outputs together (archive with its ISO copy, HLS, SRT
listener with one receiver), as a share of one core, on a paced stream.
Not a ctest:
    STREAMER_TOOL=... python3 bench_outputs_cpu.py [seconds] [WxH] [kbps]
The encoding of the synthetic stream is the tool's own cost and is not
counted: only the output threads' CPU time (lb_output_stats.cpu_us) and
libsrt's own threads (from /proc; sampled every 0.2 s, so a thread's last
0.2 s may be missed)."""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from testlib import TOOL, free_port

seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 30
size = sys.argv[2] if len(sys.argv) > 2 else "1280x720"
kbps = sys.argv[3] if len(sys.argv) > 3 else "4000"
work = tempfile.mkdtemp(prefix="lb-bench-")
port = free_port()
cfg = os.path.join(work, "luobo.ini")
with open(cfg, "w") as f:
    f.write(f"[output.archive]\ntype = archive\nmin_free_mb = 100\nstop_free_mb = 10\n"
            f"[output.web]\ntype = hls\ndir = {work}/live\n"
            f"[output.pull]\ntype = srt\nurl = srt://127.0.0.1:{port}?mode=listener&latency=120\n")
tool = subprocess.Popen([TOOL, "live", cfg, str(seconds), "paced"], stdout=subprocess.PIPE, text=True,
                        stderr=subprocess.DEVNULL,
                        env={**os.environ, "RECORD_DIR": os.path.join(work, "data"),
                             "SYNTH_SIZE": size, "SYNTH_KBPS": kbps})
time.sleep(1)
rx = subprocess.Popen(["srt-live-transmit", "-q", f"srt://127.0.0.1:{port}?mode=caller", "file:///dev/null"],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
# libsrt's own threads (SRT:SndQ, SRT:RcvQ, ...) are part of the SRT
# output's cost: their CPU time from /proc, the last value seen per thread
tick = os.sysconf("SC_CLK_TCK")
srt_threads = {}
while tool.poll() is None:
    try:
        for tid in os.listdir(f"/proc/{tool.pid}/task"):
            with open(f"/proc/{tool.pid}/task/{tid}/stat") as f:
                st = f.read()
            name = st[st.index("(") + 1:st.rindex(")")]
            fields = st[st.rindex(")") + 2:].split()
            if name.startswith("SRT:"):
                srt_threads[tid] = (name, (int(fields[11]) + int(fields[12])) * 1000.0 / tick)
    except (OSError, ValueError):
        pass
    time.sleep(0.2)
out, _ = tool.communicate()
rx.terminate()
total = 0.0
for l in out.splitlines():
    m = re.match(r"output=(\S+) kind=(\S+).* packets=(\d+).* cpu_ms=([\d.]+)", l)
    if m:
        total += float(m.group(4))
        print(f"{m.group(1):8} {m.group(2):8} {int(m.group(3)):6} packets  {float(m.group(4)):8.1f} ms CPU"
              f"  = {float(m.group(4)) / 10 / seconds:.2f} % of a core")
libsrt = sum(ms for _, ms in srt_threads.values())
total += libsrt
print(f"libsrt   threads  {' '.join(sorted(set(n for n, _ in srt_threads.values())))}  {libsrt:8.1f} ms CPU"
      f"  = {libsrt / 10 / seconds:.2f} % of a core")
print(f"all outputs: {total / 10 / seconds:.2f} % of one core for {seconds} s of {size} at {kbps} kbit/s "
      f"(+ the same video again as an ISO stream)")
subprocess.run(["rm", "-rf", work])
