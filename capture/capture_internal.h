/* Private to capture/: the vtable every kind of source and mic implements,
 * and the helpers they share.  Not for other modules. */
#ifndef LB_CAPTURE_INTERNAL_H
#define LB_CAPTURE_INTERNAL_H

#include <stdatomic.h>

#include <libavcodec/packet.h>
#include <libavfilter/avfilter.h>
#include <libavutil/frame.h>

#include "capture.h"

/* [source.NAME] and [mic.NAME]: one settings struct for every kind; each
 * kind reads the keys it needs and configure() rejects what does not fit. */
typedef struct lb_source_settings {
    int type;                 /* lb_source_kind */
    int role;                 /* lb_role */
    char device[256];         /* v4l2 device, alsa PCM name */
    char url[1024];           /* url sources; a file path */
    char pattern[32];         /* synthetic: teacher, students, board, screen, bars */
    char graph[1024];         /* synthetic: a lavfi graph in place of the pattern */
    char format[16];          /* v4l2: mjpeg, yuyv, nv12, h264; "" = best */
    char transport[8];        /* rtsp: tcp or udp */
    int width, height;        /* requested size; 0 = the device's */
    int fps;                  /* requested rate; 0 = program rate */
    int loop;                 /* files */
    int timeout_ms;           /* network read timeout */
    /* mics */
    int channels, rate, period_ms;
    double gain_db;
    int mute;
    double frequency_hz;      /* synthetic mic tone */
    double drift_ppm;         /* synthetic mic: run the clock this fast (tests) */
    char speaks[128];         /* synthetic mic: "start-end,start-end" seconds within a minute */
} lb_source_settings;

typedef enum lb_source_kind {
    LB_KIND_INVALID = 0,
    LB_KIND_SYNTHETIC,
    LB_KIND_URL,
    LB_KIND_V4L2,
    LB_KIND_ALSA,
} lb_source_kind;

/* The context the framework gives a source implementation. */
typedef struct lb_source_ctx {
    const char *name;               /* for logs: "capture:teacher" */
    const lb_source_settings *settings;
    const lb_capture_params *params;
    atomic_int *stop;               /* read() must return soon after it is set */
} lb_source_ctx;

typedef struct lb_source_ops {
    const char *kind;
    size_t priv_size;
    /* Checks the settings; no I/O. */
    int (*configure)(void *priv, const lb_source_ctx *ctx, const lb_config_section *sec,
                     char *err, size_t err_size);
    /* Opens the device or connects.  Errors are retried by the framework. */
    int (*open)(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size);
    /* Blocks for the next frame.  Fills frame (YUV420P) with pts in us of
     * media time (monotonic from open, any origin) and/or pkt with a
     * compressed packet (same time base).  Returns 0 for a frame,
     * AVERROR(EAGAIN) if only pkt was filled or nothing yet, AVERROR_EOF at
     * the end of a file, another error when the source is lost. */
    int (*read)(void *priv, const lb_source_ctx *ctx, AVFrame *frame, AVPacket *pkt,
                char *err, size_t err_size);
    /* Always called after open, even a failed one. */
    void (*close)(void *priv);
    /* Codec parameters of the compressed stream, or NULL (optional). */
    const AVCodecParameters *(*codecpar)(void *priv);
    /* 1 when frames arrive in real time by themselves (devices, network):
     * the framework stamps them on arrival instead of pacing them. */
    int live;
} lb_source_ops;

typedef struct lb_mic_ops {
    const char *kind;
    size_t priv_size;
    int (*configure)(void *priv, const lb_source_ctx *ctx, const lb_config_section *sec,
                     char *err, size_t err_size);
    int (*open)(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size);
    /* Blocks for the next block of mono float samples at 48 kHz; sets
     * *nb_samples and *capture_us (lb_clock time of the first sample when
     * live, else ignored).  Returns 0, AVERROR_EOF or an error (lost). */
    int (*read)(void *priv, const lb_source_ctx *ctx, float *samples, int max_samples,
                int *nb_samples, int64_t *capture_us, char *err, size_t err_size);
    void (*close)(void *priv);
    int live;
} lb_mic_ops;

extern const lb_source_ops lb_source_synthetic;
extern const lb_mic_ops lb_mic_synthetic;

/* A lavfi graph with one output (video or audio) read frame by frame. */
typedef struct lb_lavfi lb_lavfi;
int lb_lavfi_open(lb_lavfi **g, const char *desc, int audio, char *err, size_t err_size);
/* 0 with a frame (pts in the sink's time base), AVERROR_EOF, or error. */
int lb_lavfi_read(lb_lavfi *g, AVFrame *frame);
AVRational lb_lavfi_time_base(const lb_lavfi *g);
void lb_lavfi_close(lb_lavfi **g);

/* A lavfi-drawable text: escapes ' : \ and % for drawtext. */
void lb_lavfi_escape_text(const char *in, char *out, size_t size);
/* The font drawtext uses. */
#define LB_FONT_FILE "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"

#endif
