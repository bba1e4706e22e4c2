/* Private to capture/: the vtable every kind of source and mic implements,
 * and the helpers they share.  Not for other modules. */
#ifndef LB_CAPTURE_INTERNAL_H
#define LB_CAPTURE_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include <libavcodec/packet.h>
#include <libavfilter/avfilter.h>
#include <libavutil/avutil.h>
#include <libavutil/frame.h>

#include "capture.h"

/* [source.NAME] and [mic.NAME]: one settings struct for every kind; each
 * kind reads the keys it needs and configure() rejects what does not fit. */
typedef struct lb_source_settings {
    int type;                 /* lb_source_kind */
    char label[96];           /* the name people see (UI, slate): any text, e.g. 讲台; "" = NAME */
    int role;                 /* lb_role */
    char device[256];         /* v4l2 device, alsa PCM name */
    char url[1024];           /* url sources; a file path */
    char analysis_url[1024];  /* url sources: the camera's low-resolution sub-stream */
    char pattern[32];         /* synthetic: teacher, students, board, screen, bars */
    char graph[1024];         /* synthetic: a lavfi graph in place of the pattern */
    char format[16];          /* v4l2: mjpeg, yuyv, nv12, h264; "" = best */
    char transport[8];        /* rtsp: tcp or udp */
    int width, height;        /* requested size; 0 = the device's */
    int fps;                  /* requested rate; 0 = program rate */
    int loop;                 /* files */
    int timeout_ms;           /* network read timeout */
    int threads;              /* decoding threads */
    int decode;               /* lb_decode_mode */
    int retry_max_ms;         /* longest wait between two attempts to (re)open */
    int sync_offset_ms;       /* added to every timestamp (lip sync by hand) */
    /* mics */
    int channels, rate, period_ms;
    double gain_db;
    int mute;
    double frequency_hz;      /* synthetic mic tone */
    double drift_ppm;         /* synthetic mic: run the clock this fast (tests) */
    char speaks[128];         /* synthetic mic: "start-end,start-end" seconds within a minute */
    int pace;                 /* alsa: pace reads on lb_clock (PCMs without a clock) */
} lb_source_settings;

/* How much of a compressed camera is decoded while it is off the air. */
typedef enum lb_decode_mode {
    LB_DECODE_AUTO = 0,       /* on_air, but full while an automatic director watches */
    LB_DECODE_ON_AIR,         /* key frames only while off the air */
    LB_DECODE_FULL,           /* every frame, always */
} lb_decode_mode;

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
    /* Set by the framework before every read(): 0 when the frames read
     * next may be partial (key frames only, see LB_PARTIAL_METADATA) because
     * the camera is off the air.  Kinds that cannot decode less ignore it. */
    int want_full;
    /* With want_full 0: 1 when the key frames are still wanted (previews,
     * the director's analysis), 0 when nothing looks at the camera's
     * pictures off the air (its sub-stream is analysed): the last picture
     * then repeats until the camera goes on the air again. */
    int want_keys;
    /* Frames for analysis only (a sub-stream): the decoder may take
     * shortcuts that cost picture quality (no deblocking). */
    int analysis_only;
} lb_source_ctx;

typedef struct lb_source_ops {
    const char *kind;
    size_t priv_size;
    /* Checks the settings; no I/O. */
    int (*configure)(void *priv, const lb_source_ctx *ctx, const lb_config_section *sec,
                     char *err, size_t err_size);
    /* Opens the device or connects.  Errors are retried by the framework,
     * except AVERROR(EINVAL): a setting that can never work (the source is
     * then FAILED, with err as its last error). */
    int (*open)(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size);
    /* Blocks for the next frame; returns within about 100 ms of *ctx->stop
     * being set.  Fills frame (YUV420P) and/or pkt with a compressed packet.
     * Times are in us: paced kinds give media time (monotonic from open,
     * any origin); live kinds give the lb_clock time of capture (device
     * timestamps mapped onto lb_clock), or AV_NOPTS_VALUE to be stamped on
     * arrival.  pkt->pts/dts are on the same clock as frame->pts.  Returns
     * 0 for a frame, AVERROR(EAGAIN) if only pkt was filled or nothing yet,
     * AVERROR_EOF at the end of a file, another error when the source is
     * lost. */
    int (*read)(void *priv, const lb_source_ctx *ctx, AVFrame *frame, AVPacket *pkt,
                char *err, size_t err_size);
    /* Always called after open, even a failed one. */
    void (*close)(void *priv);
    /* Codec parameters of the compressed stream, or NULL (optional).  Once
     * non-NULL, the pointer and its contents stay valid and unchanged until
     * the source is freed. */
    const AVCodecParameters *(*codecpar)(void *priv);
    /* 1 when frames arrive in real time by themselves (devices, network):
     * the framework stamps them on arrival instead of pacing them. */
    int live;
    /* Optional: overrides live for kinds that can be either (a url is a
     * file or a network stream); called after configure. */
    int (*is_live)(void *priv);
    /* Optional: frees what configure allocated (after the last close). */
    void (*uninit)(void *priv);
} lb_source_ops;

/* One block of mono float samples at 48 kHz from a mic kind. */
typedef struct lb_mic_block {
    float *samples;           /* in: room for max_samples */
    int max_samples;          /* in */
    int nb_samples;           /* out */
    /* out: the time of the first sample on the kind's own clock, or
     * AV_NOPTS_VALUE when it has none (files, exact synthetic tones: their
     * samples are consecutive by definition).  Live kinds give lb_clock
     * time; paced kinds with a simulated clock give us from open.  When set,
     * the framework measures the drift between the kind's sample rate and
     * that clock and corrects it by resampling. */
    int64_t capture_us;
    /* out: samples were lost before this block (an xrun, a gap in the
     * stream): the framework places the block anew instead of slewing. */
    int discontinuity;
    int xruns;                /* out: overruns recovered since the last block */
} lb_mic_block;

typedef struct lb_mic_ops {
    const char *kind;
    size_t priv_size;
    int (*configure)(void *priv, const lb_source_ctx *ctx, const lb_config_section *sec,
                     char *err, size_t err_size);
    /* As lb_source_ops.open: AVERROR(EINVAL) is final (FAILED). */
    int (*open)(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size);
    /* Blocks for the next block (returns within about 100 ms of *ctx->stop
     * being set).  Returns 0, AVERROR_EOF or an error (lost). */
    int (*read)(void *priv, const lb_source_ctx *ctx, lb_mic_block *blk,
                char *err, size_t err_size);
    void (*close)(void *priv);
    int live;
    int (*is_live)(void *priv);
    void (*uninit)(void *priv);
} lb_mic_ops;

extern const lb_source_ops lb_source_synthetic;
extern const lb_source_ops lb_source_url;
extern const lb_source_ops lb_source_v4l2;
extern const lb_mic_ops lb_mic_synthetic;
extern const lb_mic_ops lb_mic_url;
extern const lb_mic_ops lb_mic_alsa;

/* libavformat input with a deadline on every blocking call (demux.c). */
typedef struct lb_demux lb_demux;
typedef struct lb_demux_params {
    const char *url;
    const char *transport;          /* rtsp: "tcp" or "udp" */
    int timeout_ms;                 /* no data for this long: ETIMEDOUT */
    enum AVMediaType type;          /* the stream to read */
    atomic_int *stop;
} lb_demux_params;
/* 1 for network streams (which run in real time by themselves). */
int lb_url_is_live(const char *url);
/* 1 for an SRT URL in listener mode (the camera calls luobo). */
int lb_url_is_srt_listener(const char *url);
/* Errors: AVERROR(EINVAL) when retrying cannot help (a file that is not
 * media), ETIMEDOUT, or what libavformat said; err says it in words. */
int lb_demux_open(lb_demux **d, const lb_demux_params *p, char *err, size_t err_size);
/* The next packet of the stream.  AVERROR_EOF at the end of a file; the end
 * of a network stream is an error (ECONNRESET). */
int lb_demux_read(lb_demux *d, AVPacket *pkt, char *err, size_t err_size);
struct AVStream *lb_demux_stream(const lb_demux *d);
int lb_demux_live(const lb_demux *d);
int lb_demux_rewind(lb_demux *d);
void lb_demux_close(lb_demux **d);

/* Maps a network stream's timestamps onto lb_clock.  The offset follows
 * the earliest arrival (arrival - media time, at its minimum, is the
 * transport's fixed latency); it creeps up slowly (at most 2 ms/s) when
 * packets keep coming later (the sender's clock is slower than ours) and
 * re-anchors on a jump of the stream's timestamps.  Network jitter thus never reaches the
 * stamps. */
typedef struct lb_ts_map {
    int64_t offset_us;
    int anchored;
    int64_t last_arrival_us;
    int64_t late_since_us;
} lb_ts_map;
/* Feeds one arrival (media time of a packet in decode order) and returns
 * its lb_clock time. */
int64_t lb_ts_map_update(lb_ts_map *m, int64_t media_us, int64_t arrival_us);
static inline int64_t lb_ts_map_apply(const lb_ts_map *m, int64_t media_us)
{
    return media_us + m->offset_us;
}

/* A lavfi graph with one output (video or audio) read frame by frame. */
typedef struct lb_lavfi lb_lavfi;
int lb_lavfi_open(lb_lavfi **g, const char *desc, int audio, char *err, size_t err_size);
/* 0 with a frame (pts in the sink's time base), AVERROR_EOF, or error. */
int lb_lavfi_read(lb_lavfi *g, AVFrame *frame);
AVRational lb_lavfi_time_base(const lb_lavfi *g);
void lb_lavfi_close(lb_lavfi **g);

/* One line of UTF-8 text (at most LB_TEXT_MAX_CHARS characters, the rest
 * left out) drawn into a YUV420P picture's luma with a FreeType font, centred
 * across it; its box (as high as its glyphs reach, th) begins
 * th_offset * th below the picture's middle (negative: above).  luma is
 * the text's, anti-aliased into the picture's.  0 or an AVERROR (ENOENT:
 * the font cannot be read). */
#define LB_TEXT_MAX_CHARS 256
int lb_text_draw_line(AVFrame *f, const char *utf8, const char *font_file, int px_size,
                      double th_offset, int luma);

/* A lavfi-drawable text: escapes ' : \ and % for drawtext. */
void lb_lavfi_escape_text(const char *in, char *out, size_t size);
/* The font of the slates and of drawtext. */
#define LB_FONT_FILE "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
/* [source|mic.NAME] label: printable text (any language). */
int lb_label_check(const lb_config_section *sec, const char *label, char *err, size_t err_size);
/* The font for text with CJK characters (fonts-noto-cjk; its first face). */
#define LB_CJK_FONT_FILE "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"

/* How late a source's frames or a mic's samples arrive: lb_clock time when
 * they are handed to the consumer minus the program time they are stamped
 * with (a mic: of a block's first sample).  The producing thread records,
 * any thread reads the highest of the last LB_LAG_WINDOW_US to 2 x that
 * (two buckets).  The daemon's program runs that far behind capture
 * ([general] sync_delay_auto) rather than a fixed delay. */
#define LB_LAG_WINDOW_US 2000000
/* later than this, a frame is catching up (a GOP decoded at a cut, a
 * reconnection), not a steady delay: not counted */
#define LB_LAG_IGNORE_US 500000
typedef struct lb_lag_window {
    _Atomic int64_t cur, prev;      /* highest lag of each bucket, INT64_MIN: none */
    _Atomic int64_t updated_us;     /* lb_clock time of the last record */
    int64_t bucket_start_us;        /* producer only */
} lb_lag_window;

static inline void lb_lag_init(lb_lag_window *w)
{
    atomic_store(&w->cur, INT64_MIN);
    atomic_store(&w->prev, INT64_MIN);
    atomic_store(&w->updated_us, 0);
    w->bucket_start_us = 0;
}

static inline void lb_lag_record(lb_lag_window *w, int64_t now_us, int64_t lag_us)
{
    if (lag_us > LB_LAG_IGNORE_US)
        return;
    if (now_us - w->bucket_start_us >= LB_LAG_WINDOW_US) {
        atomic_store(&w->prev, atomic_load(&w->cur));
        atomic_store(&w->cur, lag_us);
        w->bucket_start_us = now_us;
    } else if (lag_us > atomic_load(&w->cur)) {
        atomic_store(&w->cur, lag_us);
    }
    atomic_store(&w->updated_us, now_us);
}

/* The highest lag lately, or INT64_MIN when nothing arrived for a window
 * (lost, ended, or not started). */
static inline int64_t lb_lag_get(lb_lag_window *w, int64_t now_us)
{
    if (now_us - atomic_load(&w->updated_us) > LB_LAG_WINDOW_US)
        return INT64_MIN;
    int64_t a = atomic_load(&w->cur), b = atomic_load(&w->prev);
    return a > b ? a : b;
}

#endif
