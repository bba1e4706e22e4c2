/* The demo classroom: synthetic cameras and microphones drawn by lavfi.
 *
 * Each camera pattern has its name and a running timecode burned in and a
 * scripted scene that repeats every minute, so that the director has
 * something to react to: the teacher walks across the podium, a student
 * stands up at 40-50 s, strokes appear on the board from 20 s, the slides
 * change every 15 s.  Synthetic mics are tones (a distinct frequency per mic,
 * easy to find again in a recording) shaped like syllables while the mic's
 * person "speaks".  All of it is integer-deterministic: offline runs repeat
 * exactly. */
#include "capture_internal.h"
#include "lb_clock.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/mathematics.h>
#include <libswresample/swresample.h>

typedef struct synthetic_video {
    char desc[4096];
    lb_lavfi *graph;
} synthetic_video;

static const char *default_pattern(int role)
{
    switch (role) {
    case LB_ROLE_TEACHER:  return "teacher";
    case LB_ROLE_STUDENTS: return "students";
    case LB_ROLE_BOARD:    return "board";
    case LB_ROLE_SCREEN:   return "screen";
    default:               return "bars";
    }
}

#define LABELS(name) \
    "drawtext=fontfile=%s:fontsize=h/20:fontcolor=white:box=1:boxcolor=black@0.6:" \
    "boxborderw=8:x=w/40:y=h/30:text='" name "',"                                                \
    "drawtext=fontfile=" LB_FONT_FILE ":fontsize=h/20:fontcolor=yellow:box=1:boxcolor=black@0.6:" \
    "boxborderw=8:x=w-tw-w/40:y=h/30:text='%%{pts\\:hms}'"

static int build_graph(const lb_source_settings *st, const char *name, int fps,
                       char *desc, size_t size, char *err, size_t err_size)
{
    const char *pattern = *st->pattern ? st->pattern : default_pattern(st->role);
    int w = st->width, h = st->height;
    int big = !strcmp(pattern, "teacher") || !strcmp(pattern, "screen");
    if (!w || !h) {
        w = big ? 1920 : 1280;
        h = big ? 1080 : 720;
    }
    int n;
    if (*st->graph) {
        n = snprintf(desc, size, "%s", st->graph);
    } else if (!strcmp(pattern, "teacher")) {
        n = snprintf(desc, size,
            "color=c=0x4a5560:s=%dx%d:r=%d[bg];"
            "color=c=0x2d3a2d:s=%dx%d:r=%d[board];"
            "color=c=0xe0b080:s=%dx%d:r=%d[fig];"
            "[bg][board]overlay=x=W/10:y=H/12:format=yuv420[room];"
            "[room][fig]overlay=x='W/2-w/2+W/3*sin(2*PI*t/20)':y=H/3:eval=frame:format=yuv420,"
            LABELS("%s"),
            w, h, fps, w * 8 / 10, h / 3, fps, w / 10, h / 2, fps, lb_slate_font_for(name), name);
    } else if (!strcmp(pattern, "students")) {
        n = snprintf(desc, size,
            "color=c=0x5a4a3a:s=%dx%d:r=%d,"
            "drawgrid=w=iw/8:h=ih/4:t=6:c=0x806040,"
            "drawbox=x=iw*5/8:y=ih/4:w=iw/8:h=ih/2:c=0xf0c090:t=fill:"
            "enable='between(mod(t\\,60)\\,40\\,50)',"
            LABELS("%s"),
            w, h, fps, lb_slate_font_for(name), name);
    } else if (!strcmp(pattern, "board")) {
        char strokes[2048] = "";
        size_t k = 0;
        for (int i = 0; i < 8; i++)
            k += (size_t)snprintf(strokes + k, sizeof strokes - k,
                "drawbox=x=iw*%d/20:y=ih*%d/10:w=iw*%d/40:h=6:c=white:t=fill:"
                "enable='between(mod(t\\,60)\\,%d\\,59)',",
                2 + (i % 2) * 8, 2 + i, 4 + i % 3, 20 + 2 * i);
        n = snprintf(desc, size,
            "color=c=0x203a28:s=%dx%d:r=%d,%s" LABELS("%s"),
            w, h, fps, strokes, lb_slate_font_for(name), name);
    } else if (!strcmp(pattern, "screen")) {
        n = snprintf(desc, size,
            "color=c=0xf4f4f0:s=%dx%d:r=%d,"
            "drawbox=x=0:y=0:w=iw:h=ih/7:c=0x1f3a93:t=fill,"
            "drawbox=x=iw/10:y=ih/3:w=iw/3:h=ih/3:c=0xc0392b:t=fill:enable='lt(mod(t\\,30)\\,15)',"
            "drawbox=x=iw/2:y=ih/3:w=iw/3:h=ih/3:c=0x27ae60:t=fill:enable='gte(mod(t\\,30)\\,15)',"
            "drawtext=fontfile=" LB_FONT_FILE ":fontsize=h/14:fontcolor=white:x=w/20:y=h/28:"
            "text='Slide %%{eif\\:floor(t/15)+1\\:d}',"
            LABELS("%s"),
            w, h, fps, lb_slate_font_for(name), name);
    } else if (!strcmp(pattern, "bars")) {
        n = snprintf(desc, size, "testsrc2=s=%dx%d:r=%d," LABELS("%s"), w, h, fps, lb_slate_font_for(name), name);
    } else {
        snprintf(err, err_size, "unknown pattern '%s' (expected teacher, students, board, screen, bars)",
                 pattern);
        return AVERROR(EINVAL);
    }
    if (n < 0 || (size_t)n >= size) {
        snprintf(err, err_size, "graph too long");
        return AVERROR(EINVAL);
    }
    return 0;
}

static int video_configure(void *priv, const lb_source_ctx *ctx, const lb_config_section *sec,
                           char *err, size_t err_size)
{
    synthetic_video *v = priv;
    const lb_source_settings *st = ctx->settings;
    int fps = st->fps ? st->fps : (int)av_rescale(1, ctx->params->fps_num, ctx->params->fps_den);
    char msg[256];
    int ret = build_graph(st, *st->label ? st->label : lb_config_section_instance(sec), fps, v->desc, sizeof v->desc,
                          msg, sizeof msg);
    if (ret < 0)
        lb_config_error(sec, *st->graph ? "graph" : "pattern", err, err_size, "%s", msg);
    return ret;
}

static int video_open(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size)
{
    synthetic_video *v = priv;
    return lb_lavfi_open(&v->graph, v->desc, 0, err, err_size);
}

static int video_read(void *priv, const lb_source_ctx *ctx, AVFrame *frame, AVPacket *pkt,
                      char *err, size_t err_size)
{
    synthetic_video *v = priv;
    int ret = lb_lavfi_read(v->graph, frame);
    if (ret < 0)
        return ret;
    frame->pts = av_rescale_q(frame->pts, lb_lavfi_time_base(v->graph), AV_TIME_BASE_Q);
    if (lb_clock_trace_on() && frame->format == AV_PIX_FMT_YUV420P && frame->width >= 1408 &&
        frame->height >= 32) {
        /* the bench's barcode (bench/bench.py barcode_graph: the wall-clock
         * ms at which lavfi made the frame, 44 bits in 32 px cells), read as
         * bench/barcode_rx.py does: when the frame leaves its graph */
        int64_t val = 0;
        const uint8_t *r16 = frame->data[0] + 16 * frame->linesize[0], *r8 = frame->data[0] + 8 * frame->linesize[0];
        for (int k = 0; k < 44; k++) {
            int sum = 0;
            for (int x = k * 32 + 8; x < k * 32 + 24; x++)
                sum += r16[x] + r8[x];
            if (sum > 128 * 32)
                val |= (int64_t)1 << k;
        }
        lb_clock_trace("synth", frame->pts, val);
    }
    return 0;
}

static void video_close(void *priv)
{
    synthetic_video *v = priv;
    lb_lavfi_close(&v->graph);
}

const lb_source_ops lb_source_synthetic = {
    .kind = "synthetic",
    .priv_size = sizeof(synthetic_video),
    .configure = video_configure,
    .open = video_open,
    .read = video_read,
    .close = video_close,
};

/* ---- microphones ---- */

typedef struct synthetic_mic {
    char desc[2048];
    lb_lavfi *graph;
    AVFrame *frame;
    /* drift_ppm != 0: a device whose crystal runs that much fast.  The room
     * (the lavfi graph) is in true time; the device samples it at
     * 48 kHz x (1 + drift), which a constant swr compensation does, and
     * stamps every block with its true time, as an ALSA card is stamped on
     * lb_clock. */
    double drift;
    SwrContext *swr;
    int64_t device_samples;
} synthetic_mic;

#define DRIFT_DISTANCE 480000

static int mic_configure(void *priv, const lb_source_ctx *ctx, const lb_config_section *sec,
                         char *err, size_t err_size)
{
    synthetic_mic *m = priv;
    const lb_source_settings *st = ctx->settings;
    char speaks[1024] = "0";
    size_t k = 1;
    const char *p = st->speaks;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10);
        if (end == p || *end != '-')
            goto bad;
        p = end + 1;
        long b = strtol(p, &end, 10);
        if (end == p || a < 0 || b > 60 || a >= b || (*end && *end != ','))
            goto bad;
        k += (size_t)snprintf(speaks + k, sizeof speaks - k, "+between(mod(t\\,60)\\,%ld\\,%ld)", a, b);
        p = *end ? end + 1 : end;
    }
    /* syllables: a 4 Hz amplitude modulation of a steady tone; sine is at
     * 1/8 of full scale, so the voice peaks at -12 dBFS, about -19 dBFS RMS */
    snprintf(m->desc, sizeof m->desc,
             "sine=f=%g:r=%d:samples_per_frame=480,"
             "volume=eval=frame:volume='gt(%s\\,0)*2*(0.6+0.4*sin(2*PI*4*t))'",
             st->frequency_hz, LB_AUDIO_RATE, speaks);
    m->drift = st->drift_ppm * 1e-6;
    return 0;
bad:
    lb_config_error(sec, "speaks", err, err_size,
                    "'%s' is not a list of spans within a minute, e.g. 0-20,40-50", st->speaks);
    return AVERROR(EINVAL);
}

static int mic_open(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size)
{
    synthetic_mic *m = priv;
    int ret;
    if (!(m->frame = av_frame_alloc()))
        return AVERROR(ENOMEM);
    if (m->drift != 0) {
        AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
        if ((ret = swr_alloc_set_opts2(&m->swr, &mono, AV_SAMPLE_FMT_FLT, LB_AUDIO_RATE,
                                       &mono, AV_SAMPLE_FMT_FLT, LB_AUDIO_RATE, 0, NULL)) < 0 ||
            (ret = swr_init(m->swr)) < 0)
            return ret;
        m->device_samples = 0;
    }
    return lb_lavfi_open(&m->graph, m->desc, 1, err, err_size);
}

static int mic_read(void *priv, const lb_source_ctx *ctx, lb_mic_block *blk,
                    char *err, size_t err_size)
{
    synthetic_mic *m = priv;
    int ret = lb_lavfi_read(m->graph, m->frame);
    if (ret < 0)
        return ret;
    int n = FFMIN(m->frame->nb_samples, blk->max_samples);
    if (!m->swr) {
        memcpy(blk->samples, m->frame->data[0], sizeof(float) * (size_t)n);
        blk->nb_samples = n;
        av_frame_unref(m->frame);
        return 0;
    }
    /* the compensation counts down: renew it for every block */
    if ((ret = swr_set_compensation(m->swr, (int)lrint(m->drift * DRIFT_DISTANCE), DRIFT_DISTANCE)) < 0)
        return ret;
    uint8_t *out[1] = { (uint8_t *)blk->samples };
    ret = swr_convert(m->swr, out, blk->max_samples, (const uint8_t **)m->frame->extended_data, n);
    av_frame_unref(m->frame);
    if (ret < 0)
        return ret;
    blk->nb_samples = ret;
    /* the true time of the block's first sample, as a card's timestamp */
    blk->capture_us = (int64_t)llrint(m->device_samples * 1e6 / (LB_AUDIO_RATE * (1 + m->drift)));
    m->device_samples += ret;
    return 0;
}

static void mic_close(void *priv)
{
    synthetic_mic *m = priv;
    lb_lavfi_close(&m->graph);
    av_frame_free(&m->frame);
    swr_free(&m->swr);
}
const lb_mic_ops lb_mic_synthetic = {
    .kind = "synthetic",
    .priv_size = sizeof(synthetic_mic),
    .configure = mic_configure,
    .open = mic_open,
    .read = mic_read,
    .close = mic_close,
};
