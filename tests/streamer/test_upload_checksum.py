"""Upload verification with a server that gives checksums
(X-Checksum-Sha256): the first copy of program.mp4 arrives corrupted (same
size, one byte changed); luobo sees the checksum differ, sends it again, and
the lesson ends verified."""
import hashlib
import http.server
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
from testlib import check, free_tcp_port, run_tool, scratch

work = scratch("upload-checksum")
store = {}
puts = {}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_PUT(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            puts[self.path] = puts.get(self.path, 0) + 1
            if self.path.endswith("/program.mp4") and puts[self.path] == 1:
                body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
            store[self.path] = body
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        with lock:
            body = store.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("X-Checksum-Sha256", hashlib.sha256(body).hexdigest())
        self.end_headers()

    def do_DELETE(self):
        with lock:
            store.pop(self.path, None)
        self.send_response(204)
        self.end_headers()


port = free_tcp_port()
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
cfg = os.path.join(work, "luobo.ini")
with open(cfg, "w") as f:
    f.write(f"[output.archive]\ntype = archive\nmin_free_mb = 1\nstop_free_mb = 0\n"
            f"[output.platform]\ntype = upload\nurl = http://127.0.0.1:{port}/in/\nallow_http = true\n"
            f"queue_file = {work}/queue\nretry_max_s = 1\n")
kv = run_tool("archive", os.path.join(work, "data"), "2",
              env={"STREAMER_CONFIG": cfg, "UPLOAD_WAIT": "60"})
server.shutdown()
check(kv["upload_state"] == "idle", f"the upload completed ({kv['upload_state']} {kv['upload_error']})")
lid = os.path.basename(kv["lesson_dir"])
prog = f"/in/{lid}/program.mp4"
check(puts.get(prog) == 2, f"program.mp4 was sent again after the checksum mismatch ({puts.get(prog)})")
with open(os.path.join(kv["lesson_dir"], "program.mp4"), "rb") as f:
    check(store[prog] == f.read(), "the server ends with the right bytes")
check(puts.get(f"/in/{lid}/lesson.json") == 1, "lesson.json sent once, last")
print("PASS")
