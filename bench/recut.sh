#!/bin/sh
# The re-cut's speed and fidelity on a longer 1080p lesson (issue #20; not
# in CI): four 1080p H.264 cameras (tests/e2e/test_recut.py's scenes at full
# size) recorded offline through luobo (stream-copied into iso/), then
# `luobo recut` with the unedited log, timed, and the PSNR of the re-cut
# against the live program.
#   bench/recut.sh [SECONDS] [LUOBO]      (default 60 s, build/daemon/luobo)
set -eu
secs=${1:-60}
luobo=${2:-build/daemon/luobo}
work=$(mktemp -d /tmp/luobo-recut-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
scene() {
    ffmpeg -v error -nostdin -y -f lavfi -i "$2" -t $((secs + 2)) -c:v libx264 -preset ultrafast \
        -bf 2 -g 60 -b:v 6M -pix_fmt yuv420p "$work/$1.mp4"
}
S=1920x1080
scene teacher "color=c=0x4a5560:s=$S:r=30[bg];color=c=0x2d3a2d:s=1536x360:r=30[board];color=c=0xe0b080:s=192x540:r=30[fig];[bg][board]overlay=x=W/10:y=H/12:format=yuv420[room];[room][fig]overlay=x='W/2-w/2+W/3*sin(2*PI*t/20)':y=H/3:eval=frame:format=yuv420,noise=alls=8:allf=t"
scene students "testsrc2=s=$S:r=30,drawbox=x=iw*5/8:y=ih/4:w=iw/8:h=ih/2:c=0xf0c090:t=fill:enable='between(mod(t,30),10,20)'"
scene board "color=c=0x203a28:s=$S:r=30,drawbox=x=iw/10:y=ih/5:w=iw*min(t\,20)/30:h=12:c=white:t=fill,noise=alls=6:allf=t"
scene screen "color=c=0xf4f4f0:s=$S:r=30,drawbox=x=0:y=0:w=iw:h=ih/7:c=0x1f3a93:t=fill,drawbox=x=iw/10:y=ih/3:w=iw/3:h=ih/3:c=0xc0392b:t=fill:enable='lt(mod(t,30),15)',drawbox=x=iw/2:y=ih/3:w=iw/3:h=ih/3:c=0x27ae60:t=fill:enable='gte(mod(t,30),15)'"
cat > "$work/hall.ini" <<EOF
[general]
data_dir = $work/data
http_port = 0
[source.teacher]
type = url
role = teacher
url = $work/teacher.mp4
[source.students]
type = url
role = students
url = $work/students.mp4
[source.board]
type = url
role = board
url = $work/board.mp4
[source.screen]
type = url
role = screen
url = $work/screen.mp4
[mic.teacher]
type = synthetic
role = teacher
speaks = 0-59
[director]
vcam = teacher
dissolve_ms = 300
[encoder]
preset = veryfast
bitrate_kbps = 4000
keyint_s = 2
EOF
"$luobo" --config "$work/hall.ini" --record --offline --duration "$secs" 2>"$work/record.log" ||
    { tail -5 "$work/record.log"; exit 1; }
lesson=$(ls -d "$work"/data/*/)
# wall and CPU time of the re-cut alone (the CPU time does not depend on
# what else the machine runs)
python3 - "$luobo" "$lesson" "$secs" <<'PY'
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run([sys.argv[1], "recut", sys.argv[2], "--quiet"], check=True, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)
wall = time.monotonic() - t
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = ru.ru_utime + ru.ru_stime
secs = float(sys.argv[3])
print("recut of %g s at 1080p: %.1f s wall (%.2fx real time), %.1f s CPU (%.2fx real time per core)"
      % (secs, wall, secs / wall, cpu, secs / cpu))
PY
ffmpeg -v error -nostdin -i "$lesson/program.mp4" -i "$lesson/program.recut-1.mp4" \
    -lavfi "[0:v][1:v]psnr=stats_file=$work/psnr.log" -f null - 
awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^psnr_avg:/) { v = substr($i, 10); if (v == "inf") v = 100; v += 0; s += v; n++; if (n == 1 || v < min) min = v } }
     END { printf "PSNR against the live program: %.2f dB average over %d frames, min %.2f dB\n", s / n, n, min }' "$work/psnr.log"
