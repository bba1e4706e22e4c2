#!/bin/bash
# Deterministic inputs for the hall-3 job (the approach of
# ../shared/reference-ffmpeg/gen_inputs.sh, with the duration as a parameter):
#   gen_inputs.sh DIR [SECONDS]      (default 60)
# cam_teacher 1920x1080p30 (testsrc2 + temporal noise), cam_students 1280x720p30
# (mandelbrot zoom, VBV-capped at 6 Mb/s), screen 1920x1080p30 (slides changing
# every 10 s), audio 48 kHz mono (440 Hz sine + pink noise) as AAC and WAV;
# and each camera's sub-stream as an IP camera sends it besides the main one
# (*_sub.mp4: 640x360p30, 512 kb/s, the same GOP, no B-frames), made from
# the main file.
# lavfi sources are deterministic and x264 threads are pinned, so the files
# depend on ffmpeg/x264 versions only; SHA256SUMS records them.
# Skips a file whose FILE.stamp matches the parameters (and the whole run
# when DIR/.done does).
set -euo pipefail
D=$1; T=${2:-60}
mkdir -p "$D"; cd "$D"
# GEN_PRESET (x264 preset of the camera files, default medium as the
# reference; the CI smoke test uses ultrafast to make them in seconds)
P=${GEN_PRESET:-medium}
STAMP="hall3 t=$T preset=$P $(ffmpeg -hide_banner -version | head -1)"
SUBSTAMP="$STAMP sub=640x360@512k,bf=0"
if [ -f .done ] && [ "$(cat .done)" = "$SUBSTAMP" ]; then exit 0; fi
rm -f .done
FONT=/usr/share/fonts/truetype/dejavu
X264="-c:v libx264 -preset $P -crf 18 -g 60 -pix_fmt yuv420p -threads 3 -movflags +faststart"
Q="-hide_banner -nostdin -loglevel error -y"
# make FILE ARGS...: runs ffmpeg ARGS... FILE.tmp.EXT unless FILE is up to date
# (stamped with $STAMP, or $S when set)
make() {
  local f=$1; shift
  local st=${S:-$STAMP}
  if [ -f "$f" ] && [ -f "$f.stamp" ] && [ "$(cat "$f.stamp")" = "$st" ]; then return 0; fi
  ffmpeg $Q "$@" "tmp.$f" && mv "tmp.$f" "$f" && echo "$st" > "$f.stamp"
}
# 1) teacher camera: 1920x1080p30, testsrc2 (moving) + light temporal "sensor" noise
make cam_teacher.mp4 -f lavfi -i "testsrc2=s=1920x1080:r=30:d=$T,noise=alls=2:allf=t" \
  $X264 -metadata title=cam_teacher
# 2) students camera: 1280x720p30, mandelbrot zoom (full-frame motion), CRF capped at 6 Mb/s (VBV)
make cam_students.mp4 -f lavfi -i "mandelbrot=s=1280x720:r=30" -t $T \
  $X264 -maxrate 6M -bufsize 12M -metadata title=cam_students
# 3) screen: 1920x1080p30, slides: content changes every 10 s (smptebars on even slides)
FG="color=c=0xF4F4F0:s=1920x1080:r=30:d=$T[bg];
smptebars=s=800x450:r=30:d=$T[bars];
[bg]drawbox=x=0:y=0:w=1920:h=150:color=0x1F3A93:t=fill,
drawbox=x=0:y=1040:w=1920:h=40:color=0xCCCCCC:t=fill,
drawtext=fontfile=$FONT/DejaVuSans-Bold.ttf:fontsize=64:fontcolor=white:x=60:y=42:text='Lecture 7 - Signals and Systems - Slide %{eif\:floor(t/10)+1\:d} / 6',
drawtext=fontfile=$FONT/DejaVuSans.ttf:fontsize=44:fontcolor=0x222222:x=80:y=230:text='- Point %{eif\:floor(t/10)*4+1\:d}\: sampling theorem, aliasing, Nyquist rate',
drawtext=fontfile=$FONT/DejaVuSans.ttf:fontsize=44:fontcolor=0x222222:x=80:y=310:text='- Point %{eif\:floor(t/10)*4+2\:d}\: convolution y[n] = sum x[k] h[n-k]',
drawtext=fontfile=$FONT/DejaVuSans.ttf:fontsize=44:fontcolor=0x222222:x=80:y=390:text='- Point %{eif\:floor(t/10)*4+3\:d}\: Fourier transform X(f) of x(t)',
drawtext=fontfile=$FONT/DejaVuSans.ttf:fontsize=44:fontcolor=0x222222:x=80:y=470:text='- Point %{eif\:floor(t/10)*4+4\:d}\: z-transform, poles and zeros, stability',
drawtext=fontfile=$FONT/DejaVuSansMono.ttf:fontsize=36:fontcolor=0x8B0000:x=80:y=600:text='H(z) = (1 - %{eif\:floor(t/10)+2\:d} z^-1) / (1 - 0.%{eif\:floor(t/10)+3\:d} z^-1)',
drawtext=fontfile=$FONT/DejaVuSans.ttf:fontsize=28:fontcolor=0x333333:x=60:y=1046:text='University lecture capture test pattern - page %{eif\:floor(t/10)+1\:d}'[txt];
[txt][bars]overlay=x=1040:y=560:enable='eq(mod(floor(t/10)\,2)\,1)'[out]"
make screen.mp4 -filter_complex "$FG" -map '[out]' -t $T $X264 -metadata title=screen
# 4) audio: 48 kHz mono, 440 Hz sine + pink noise; AAC-LC 128k in MP4 (+ the PCM original as WAV)
make audio.wav -filter_complex \
  "sine=f=440:r=48000:d=$T,volume=0.25[s];anoisesrc=r=48000:a=0.05:c=pink:d=$T:seed=42[n];[s][n]amix=inputs=2:duration=first:normalize=0,aformat=sample_fmts=s16:channel_layouts=mono[a]" \
  -map '[a]' -c:a pcm_s16le
make audio.mp4 -i audio.wav -c:a aac -b:a 128k -movflags +faststart -metadata title=audio
# 5) sub-streams: what the director analyses ([source] analysis_url)
for c in cam_teacher cam_students screen; do
  S="$SUBSTAMP" make ${c}_sub.mp4 -i $c.mp4 -vf scale=640:360 -c:v libx264 -preset $P -g 60 -bf 0 \
    -b:v 512k -maxrate 512k -bufsize 1024k -pix_fmt yuv420p -threads 3 -movflags +faststart -an \
    -metadata title=${c}_sub
done
sha256sum cam_teacher.mp4 cam_students.mp4 screen.mp4 audio.mp4 audio.wav \
  cam_teacher_sub.mp4 cam_students_sub.mp4 screen_sub.mp4 > SHA256SUMS
echo "$SUBSTAMP" > .done
