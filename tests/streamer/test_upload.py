"""Upload of finished lessons to a real nginx WebDAV origin on 127.0.0.1:
every file arrives with its size; with the origin down the lesson waits in
the persistent queue, a restart of luobo (the tool) with the origin back
completes and verifies it; upload.json tells the state."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from testlib import spawn, TOOL, check, fail, ffprobe_json, free_tcp_port, parse_kv, run_tool, scratch

work = scratch("upload")
port = free_tcp_port()
root = os.path.join(work, "root")
data = os.path.join(work, "data")
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
cfg = os.path.join(work, "luobo.ini")
queue = os.path.join(work, "upload-queue")
with open(cfg, "w") as f:
    f.write(f"[output.archive]\ntype = archive\nmin_free_mb = 1\nstop_free_mb = 0\n"
            f"[output.platform]\ntype = upload\nurl = http://127.0.0.1:{port}/lessons\nallow_http = true\n"
            f"queue_file = {queue}\nretry_max_s = 2\n")
env = {"STREAMER_CONFIG": cfg}


def start_nginx():
    p = spawn(["nginx", "-c", conf], stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    if p.poll() is not None:
        fail("nginx did not start")
    return p


def check_uploaded(lesson):
    lid = os.path.basename(lesson)
    n = 0
    for dirpath, _, names in os.walk(lesson):
        for name in names:
            if name == "upload.json" or name.endswith(".tmp"):
                continue
            local = os.path.join(dirpath, name)
            rel = os.path.relpath(local, lesson)
            remote = os.path.join(root, "lessons", lid, rel)
            if not os.path.exists(remote) or os.path.getsize(remote) != os.path.getsize(local):
                fail(f"{rel} missing or wrong size on the origin")
            n += 1
    check(n >= 4, f"{lid}: all {n} files on the origin with their sizes")
    with open(os.path.join(lesson, "upload.json")) as f:
        st = json.load(f)
    check(st["state"] == "done" and st["files_done"] == st["files_total"] == n,
          f"upload.json says done ({st['state']}, {st['files_done']}/{st['files_total']})")


nginx = start_nginx()
try:
    kv = run_tool("archive", data, "3", env={**env, "UPLOAD_WAIT": "60"})
    check(kv["upload_state"] == "idle", f"upload finished ({kv['upload_state']} {kv['upload_error']})")
    check_uploaded(kv["lesson_dir"])
    with open(queue) as f:
        check(f.read().strip() == "", "the queue is empty")

    # origin down: the second lesson waits in the queue across a restart
    nginx.send_signal(signal.SIGTERM)
    nginx.wait()
    kv2 = run_tool("archive", data, "3", env={**env, "UPLOAD_WAIT": "3"})
    check(kv2["upload_state"] in ("lost", "queued", "uploading"), f"origin down: {kv2['upload_state']}")
    check(kv2["upload_error"] != "", f"the error is visible: {kv2['upload_error']}")
    with open(queue) as f:
        check(f.read().strip() == kv2["lesson_dir"], "the lesson waits in the queue file")
    with open(os.path.join(kv2["lesson_dir"], "upload.json")) as f:
        check(json.load(f)["state"] in ("waiting", "queued"), "upload.json says waiting")

    nginx = start_nginx()
    kv3 = run_tool("upload", cfg, "60")
    check(kv3["upload_state"] == "idle", f"after the restart the upload completes ({kv3['upload_state']})")
    check_uploaded(kv2["lesson_dir"])
    with open(queue) as f:
        check(f.read().strip() == "", "the queue is empty again")
    # the origin comes back while luobo waits: the retry with backoff finds it
    nginx.send_signal(signal.SIGTERM)
    nginx.wait()
    w = spawn([TOOL, "archive", data, "3"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True, env={**os.environ, **env, "UPLOAD_WAIT": "60"})
    time.sleep(6)
    nginx = start_nginx()
    out, _ = w.communicate(timeout=120)
    kv5 = parse_kv(out)
    check(kv5["upload_state"] == "idle", f"the upload resumed in the same run ({kv5['upload_state']})")
    check_uploaded(kv5["lesson_dir"])

    # a second run finds everything there and uploads nothing
    with open(queue, "w") as f:
        f.write(kv2["lesson_dir"] + "\n")
    kv4 = run_tool("upload", cfg, "60")
    # the media are skipped; the metadata files are small and always sent
    # again (an edit may keep their size): lesson.json, episode.xml and the
    # chapters' program.chapters.vtt
    check(kv4["upload_files"] == "3", f"resume: media already there are skipped, lesson.json, "
          f"episode.xml and program.chapters.vtt sent again ({kv4['upload_files']})")
    check_uploaded(kv2["lesson_dir"])

    # a chapter edit of an uploaded lesson: the upload waits in a state for
    # the edit's remux ("waiting", one log line, no tries every 0.5 s), the
    # edit's end wakes it (the fallback look is 60 s away) and the remuxed
    # program.mp4 goes again
    with open(queue, "w") as f:
        f.write(kv2["lesson_dir"] + "\n")
    p = subprocess.run([TOOL, "upload_edit", cfg, kv2["lesson_dir"]], capture_output=True, text=True, timeout=240)
    kv6 = parse_kv(p.stdout)
    check(p.returncode == 0 and kv6.get("waited") == "1", f"the upload waited for the edit ({p.stdout} {p.stderr[-500:]})")
    check(p.stderr.count("waits until its files are rewritten") == 1, "one wait, logged once")
    check(kv6.get("upload_state") == "idle" and float(kv6["edit_to_idle_s"]) < 45,
          f"the edit's end woke the upload: idle {kv6.get('edit_to_idle_s')} s after the edit was queued")
    check_uploaded(kv2["lesson_dir"])
    remote = os.path.join(root, "lessons", os.path.basename(kv2["lesson_dir"]), "program.mp4")
    titles = [c["tags"]["title"] for c in ffprobe_json(remote, "-show_chapters")["chapters"]]
    check(titles == ["Edited", "Second"], f"the origin has the edited chapters: {titles}")
finally:
    if nginx.poll() is None:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait()
print("PASS")
