/* A deterministic H.264 + AAC packet source for the streamer's tests:
 * libavcodec's libx264 wrapper and native AAC encode a moving pattern and a
 * 440 Hz tone.  Packets come out in send order with pts/dts in
 * microseconds and stream_index 0 (video) or 1 (audio). */
#ifndef LB_TEST_SYNTH_H
#define LB_TEST_SYNTH_H

#include <libavcodec/avcodec.h>

typedef struct synth synth;

typedef struct synth_params {
    int width, height;
    int fps;
    int keyint;          /* frames */
    int bframes;
    int bitrate_kbps;    /* 0: constant quality (small packets) */
} synth_params;

int synth_open(synth **s, const synth_params *p);
/* Next packet (caller frees); 0, or negative AVERROR. */
int synth_next(synth *s, AVPacket **pkt);
const AVCodecParameters *synth_video_par(const synth *s);
const AVCodecParameters *synth_audio_par(const synth *s);
void synth_close(synth **s);

#endif
