/* Design note: libavformat input with deadlines.
 *
 * Every blocking libavformat call (open, probe, read, close) runs under an
 * AVIOInterruptCB that gives up when a deadline passes or the capture
 * thread is asked to stop.  The deadline is re-armed before each call, so a
 * camera that stops answering costs at most timeout_ms before the read
 * fails with ETIMEDOUT and the source is reported lost; a stop request is
 * honoured within the protocol's poll interval (100 ms for tcp, udp, srt).
 * Protocol timeouts (rw_timeout, rtsp's timeout) are set as well: they catch
 * the same stalls inside calls that do not poll the callback.
 *
 * Only packets of the chosen stream come out; every other stream is
 * discarded by the demuxer (and, for rtsp, never set up). */
#include "capture_internal.h"

#include <stdio.h>
#include <string.h>

#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/opt.h>

#include "lb_clock.h"

struct lb_demux {
    AVFormatContext *fmt;
    int stream;
    int live;
    int timeout_ms;
    int64_t deadline_us;
    int64_t last_data_us;   /* when the stream last gave a packet */
    int timed_out;
    atomic_int *stop;
};

static int interrupt_cb(void *opaque)
{
    lb_demux *d = opaque;
    if (d->stop && atomic_load(d->stop))
        return 1;
    if (d->deadline_us && lb_clock_now() > d->deadline_us) {
        d->timed_out = 1;
        return 1;
    }
    return 0;
}

static void arm(lb_demux *d, int64_t us)
{
    d->timed_out = 0;
    d->deadline_us = lb_clock_now() + us;
}

int lb_url_is_live(const char *url)
{
    static const char *const live[] = {
        "rtsp:", "rtsps:", "srt:", "rtmp:", "rtmps:", "rtmpt:", "udp:", "rtp:", "tcp:",
        "http:", "https:", "mmsh:",
    };
    for (size_t i = 0; i < FF_ARRAY_ELEMS(live); i++)
        if (!av_strncasecmp(url, live[i], strlen(live[i])))
            return 1;
    return 0;
}

int lb_url_is_srt_listener(const char *url)
{
    return !av_strncasecmp(url, "srt:", 4) && strstr(url, "mode=listener");
}

/* Turns what libavformat said into what an operator should read. */
static int explain(lb_demux *d, int ret, const char *what, char *err, size_t err_size)
{
    if (d->stop && atomic_load(d->stop))
        return AVERROR_EXIT;
    if (d->timed_out || ret == AVERROR(ETIMEDOUT)) {
        snprintf(err, err_size, "%s: no answer within %d ms", what, d->timeout_ms);
        return AVERROR(ETIMEDOUT);
    }
    snprintf(err, err_size, "%s: %s", what, av_err2str(ret));
    return ret;
}

int lb_demux_open(lb_demux **pd, const lb_demux_params *p, char *err, size_t err_size)
{
    AVDictionary *opts = NULL;
    char buf[32];
    int ret;
    lb_demux *d = av_mallocz(sizeof *d);
    if (!d)
        return AVERROR(ENOMEM);
    d->stop = p->stop;
    d->timeout_ms = p->timeout_ms;
    d->live = lb_url_is_live(p->url);
    d->stream = -1;
    if (!(d->fmt = avformat_alloc_context())) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    d->fmt->interrupt_callback = (AVIOInterruptCB){ interrupt_cb, d };

    snprintf(buf, sizeof buf, "%lld", (long long)p->timeout_ms * 1000);
    if (d->live) {
        av_dict_set(&opts, "rw_timeout", buf, 0);
        /* a camera's stream parameters are known from its first key frame:
         * do not wait for the default 5 s of analysis */
        av_dict_set(&opts, "analyzeduration", "1000000", 0);
        av_dict_set(&opts, "probesize", "2000000", 0);
    }
    if (!av_strncasecmp(p->url, "rtsp", 4)) {
        av_dict_set(&opts, "rtsp_transport", *p->transport ? p->transport : "tcp", 0);
        av_dict_set(&opts, "timeout", buf, 0);
        av_dict_set(&opts, "allowed_media_types",
                    p->type == AVMEDIA_TYPE_AUDIO ? "audio" : "video", 0);
    } else if (!av_strncasecmp(p->url, "srt:", 4)) {
        av_dict_set(&opts, "timeout", buf, 0);
    }

    /* a listener (the camera calls us: srt mode=listener) waits for its
     * caller as long as it takes; stop still ends the wait */
    int listener = lb_url_is_srt_listener(p->url);
    arm(d, listener ? INT64_MAX / 2 - lb_clock_now() : (int64_t)p->timeout_ms * 1000);
    ret = avformat_open_input(&d->fmt, p->url, NULL, &opts);
    if (ret < 0) {
        ret = explain(d, ret, "open", err, err_size);
        /* a local file that is not media will not become media by retrying */
        if (ret == AVERROR_INVALIDDATA && !d->live)
            ret = AVERROR(EINVAL);
        goto fail;
    }
    /* probing reads packets: give it its analysis time on top */
    arm(d, (int64_t)p->timeout_ms * 1000 + 1000000);
    if ((ret = avformat_find_stream_info(d->fmt, NULL)) < 0) {
        ret = explain(d, ret, "probe", err, err_size);
        goto fail;
    }
    ret = av_find_best_stream(d->fmt, p->type, -1, -1, NULL, 0);
    if (ret < 0) {
        snprintf(err, err_size, "%s has no %s stream", p->url,
                 av_get_media_type_string(p->type));
        ret = d->live ? AVERROR(ENOENT) : AVERROR(EINVAL);
        goto fail;
    }
    d->stream = ret;
    d->last_data_us = lb_clock_now();
    for (unsigned i = 0; i < d->fmt->nb_streams; i++)
        if ((int)i != d->stream)
            d->fmt->streams[i]->discard = AVDISCARD_ALL;
    av_dict_free(&opts);
    *pd = d;
    return 0;
fail:
    av_dict_free(&opts);
    lb_demux_close(&d);
    return ret;
}

int lb_demux_read(lb_demux *d, AVPacket *pkt, char *err, size_t err_size)
{
    for (;;) {
        /* A stream's deadline runs from the last data, not from this call:
         * a demuxer that answers a timeout with what it still had queued
         * (rtsp does) must not restart the wait.  A file is read when the
         * pacing says so: its deadline is per call. */
        d->timed_out = 0;
        d->deadline_us = (d->live ? d->last_data_us : lb_clock_now()) + (int64_t)d->timeout_ms * 1000;
        int ret = av_read_frame(d->fmt, pkt);
        if (ret >= 0 && !d->timed_out)
            d->last_data_us = lb_clock_now();
        if (ret >= 0 && d->timed_out) {
            av_packet_unref(pkt);
            ret = AVERROR_EXIT;
        }
        if (ret == AVERROR_EOF && d->live) {
            snprintf(err, err_size, "the stream ended");
            return AVERROR(ECONNRESET);
        }
        if (ret == AVERROR_EOF)
            return ret;
        if (ret < 0)
            return explain(d, ret, "read", err, err_size);
        if (pkt->stream_index == d->stream)
            return 0;
        av_packet_unref(pkt);
    }
}

AVStream *lb_demux_stream(const lb_demux *d) { return d->fmt->streams[d->stream]; }
int lb_demux_live(const lb_demux *d) { return d->live; }

int lb_demux_rewind(lb_demux *d)
{
    arm(d, (int64_t)d->timeout_ms * 1000);
    return av_seek_frame(d->fmt, -1, d->fmt->start_time != AV_NOPTS_VALUE ? d->fmt->start_time : 0,
                         AVSEEK_FLAG_BACKWARD);
}

void lb_demux_close(lb_demux **pd)
{
    lb_demux *d = pd ? *pd : NULL;
    if (!d)
        return;
    /* rtsp says TEARDOWN on close: a dead server must not hold us */
    arm(d, 500000);
    avformat_close_input(&d->fmt);
    av_freep(pd);
}

/* A jump larger than this is a new timeline (camera restarted, RTCP
 * re-synchronised), not jitter: earlier at once, later when it lasts. */
#define TS_JUMP_US 300000
#define TS_LATE_FOR_US 1000000
/* Following packets that keep coming later (the sender's clock is slower
 * than ours) is rate-limited to 2 ms per second (2000 ppm, far beyond any
 * crystal), so that bursts of late packets (audio muxed in chunks, a
 * retransmission) barely move the stamps. */
#define TS_CREEP_US_PER_S 2000

int64_t lb_ts_map_update(lb_ts_map *m, int64_t media_us, int64_t arrival_us)
{
    int64_t d = arrival_us - media_us - m->offset_us;
    if (!m->anchored || d < -TS_JUMP_US) {
        m->offset_us = arrival_us - media_us;
        m->anchored = 1;
        m->late_since_us = 0;
    } else if (d < 0) {
        m->offset_us += d;
        m->late_since_us = 0;
    } else if (d > TS_JUMP_US) {
        if (!m->late_since_us)
            m->late_since_us = arrival_us;
        else if (arrival_us - m->late_since_us > TS_LATE_FOR_US) {
            m->offset_us = arrival_us - media_us;
            m->late_since_us = 0;
        }
    } else {
        int64_t dt = m->last_arrival_us ? arrival_us - m->last_arrival_us : 0;
        m->offset_us += FFMIN(d >> 6, dt * TS_CREEP_US_PER_S / 1000000);
        m->late_since_us = 0;
    }
    m->last_arrival_us = arrival_us;
    return media_us + m->offset_us;
}
