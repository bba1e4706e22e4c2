/* Resource mode by stream copy (the iso-copy workers): a compressed
 * camera's own packets go to its ISO track as they came, and while the
 * camera is away the slate, encoded into the same track so that it has no
 * gap (encoder/splice.c).  The slate continues the camera's timeline at the
 * program's rate from its last packet on; the camera comes back at its
 * first key frame, after the slate's last picture. */
#include "pipeline_priv.h"

#include <errno.h>

#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_log.h"


/* How long a camera that capture still calls live may send nothing before
 * its track shows the slate (its stream changed and is no longer copied,
 * or it stalls).  The slate fills the track from the last packet on
 * whenever it starts, so a longer wait costs no gap, and a camera that
 * merely paused keeps its own pictures. */
#define COPY_SILENCE_US 1000000
/* How far behind the clock the slate is encoded.  A camera that comes back
 * stamps its first packets up to the length of capture's probe (1 s)
 * before they reach this thread: slate pictures not encoded yet can still
 * give way to them, encoded ones cannot. */
#define SLATE_LAG_US 2000000

typedef struct copy_state {
    copy_worker *c;
    int64_t frame_us;
    int64_t max_pts, last_dts;      /* of the track so far, camera or slate */
    int64_t last_arrival_us;        /* lb_clock time of the camera's last packet */
    int away;                       /* the track shows the slate (or has a gap) */
    int64_t slate_origin_us;        /* pts of this loss's first slate picture */
    int64_t slate_n;                /* slate pictures encoded in this loss */
    AVFrame *picture;               /* the slate as drawn for picture_second */
    int64_t picture_second;
    int draw_failed;
} copy_state;

static void track_sent(copy_state *cs, const AVPacket *pkt)
{
    cs->max_pts = cs->max_pts == AV_NOPTS_VALUE ? pkt->pts : FFMAX(cs->max_pts, pkt->pts);
    cs->last_dts = pkt->dts;
}

static int slate_sink(void *opaque, AVPacket *pkt)
{
    copy_state *cs = opaque;
    pkt->stream_index = cs->c->stream;
    track_sent(cs, pkt);
    return lb_streamer_send(cs->c->p->streamer, pkt);
}

/* Encodes the slate pictures whose time is before until_us. */
static void fill_slate(copy_state *cs, int64_t until_us)
{
    copy_worker *c = cs->c;
    lb_pipeline *p = c->p;
    while (c->slate) {
        AVRational rate = lb_splice_encoder_frame_rate(c->slate);
        int64_t t = cs->slate_origin_us + av_rescale(cs->slate_n, 1000000LL * rate.den, rate.num);
        if (t >= until_us)
            break;
        /* the text says since when, in seconds: drawn once a second */
        int64_t second = t / 1000000;
        if (!cs->picture || cs->picture_second != second) {
            AVFrame *f = NULL;
            if (lb_source_draw_slate(p->sources[c->source], t, c->par->width, c->par->height, &f) >= 0) {
                av_frame_free(&cs->picture);
                cs->picture = f;
                cs->picture_second = second;
            } else if (!cs->draw_failed++) {
                LB_LOGE(c->name, "the slate cannot be drawn%s", cs->picture ? ": its last one is kept" : "");
            }
            if (!cs->picture)
                return;
            cs->picture_second = second;
        }
        cs->picture->pts = t;
        int ret = lb_splice_encoder_encode(c->slate, cs->picture, slate_sink, cs);
        if (ret == AVERROR_BUG) {
            lb_splice_encoder_free(&c->slate);
            return;
        }
        if (ret < 0)
            LB_LOGE(c->name, "slate encoding failed: %s", av_err2str(ret));
        cs->slate_n++;
    }
}

/* The camera is away: lost by capture's account and nothing came since
 * (a reconnected camera sends its first packets before capture calls it
 * live again, at its own rate), or silent for long. */
static int camera_away(copy_state *cs, int64_t now)
{
    lb_pipeline *p = cs->c->p;
    int64_t silent = now - cs->last_arrival_us;
    if (silent <= 2 * cs->frame_us)
        return 0;
    lb_source_stats st;
    lb_source_get_stats(p->sources[cs->c->source], &st);
    if (st.state == LB_SOURCE_FAILED)
        return 1;
    if (st.state == LB_SOURCE_LOST || st.state == LB_SOURCE_RECONNECTING)
        return cs->last_arrival_us - p->capture.epoch_us < st.lost_at_us + 2 * cs->frame_us;
    return !p->params.offline && st.state == LB_SOURCE_LIVE && silent > COPY_SILENCE_US;
}

/* A camera packet while the track shows the slate: 1 when the camera takes
 * the track back with it. */
static int camera_back(copy_state *cs, const AVPacket *pkt)
{
    copy_worker *c = cs->c;
    if (!c->slate && !cs->slate_n)
        return 1;                   /* a gap, over: the camera's own references are there */
    if (!(pkt->flags & AV_PKT_FLAG_KEY) || pkt->dts == AV_NOPTS_VALUE)
        return 0;
    if (c->slate) {
        /* a whole frame before the key frame: players that put timestamps
         * on the frame grid must not see two pictures in one slot */
        AVRational rate = lb_splice_encoder_frame_rate(c->slate);
        fill_slate(cs, pkt->dts - av_rescale(1000000, rate.den, rate.num) + 1);
    }
    if (cs->last_dts != AV_NOPTS_VALUE && (pkt->dts <= cs->last_dts || pkt->pts <= cs->max_pts))
        return 0;                   /* older than slate already written: the next key frame */
    lb_splice_encoder_idle(c->slate);
    return 1;
}

static void *copy_thread(void *arg)
{
    copy_worker *c = arg;
    lb_pipeline *p = c->p;
    copy_state cs = { .c = c, .frame_us = av_rescale(1000000, p->fps_den, p->fps_num),
                      .max_pts = AV_NOPTS_VALUE, .last_dts = AV_NOPTS_VALUE,
                      .last_arrival_us = lb_clock_now() };
    for (;;) {
        void *item;
        int ret = lb_queue_pop(c->queue, &item, cs.frame_us);
        if (ret == AVERROR_EOF)
            break;
        int64_t now = lb_clock_now();
        if (ret >= 0) {
            AVPacket *pkt = item;
            cs.last_arrival_us = now;
            if (cs.away && camera_back(&cs, pkt)) {
                cs.away = 0;
                av_frame_free(&cs.picture);
                LB_LOGI(c->name, "the camera is back at %.3f s%s", pkt->pts / 1e6,
                        c->slate ? ", after the slate" : "");
            }
            if (!cs.away) {
                pkt->stream_index = c->stream;
                track_sent(&cs, pkt);
                lb_streamer_send(p->streamer, pkt);
            }
            av_packet_free(&pkt);
        }
        if (!cs.away && camera_away(&cs, now)) {
            cs.away = 1;
            cs.slate_n = 0;
            cs.draw_failed = 0;
            cs.slate_origin_us = cs.max_pts != AV_NOPTS_VALUE ? cs.max_pts + cs.frame_us
                                                             : now - p->capture.epoch_us - SLATE_LAG_US;
            if (c->slate)
                LB_LOGI(c->name, "the camera is away: its track shows the slate from %.3f s",
                        cs.slate_origin_us / 1e6);
            else
                LB_LOGW(c->name, "the camera is away: its track (a %s stream copy) has a gap until "
                        "it returns", avcodec_get_name(c->par->codec_id));
        }
        if (cs.away)
            fill_slate(&cs, now - p->capture.epoch_us - SLATE_LAG_US);
    }
    av_frame_free(&cs.picture);
    return NULL;
}

static void free_packet_item(void *opaque)
{
    AVPacket *pkt = opaque;
    av_packet_free(&pkt);
}

/* The slate for a copied camera's track, when the camera's stream can take
 * one: the track's parameters then carry the slate's SPS and PPS too. */
static int attach_slate(lb_pipeline *p, copy_worker *c)
{
    char why[256] = "";
    lb_splice_params sp = { .camera = c->par, .fps_num = p->fps_num, .fps_den = p->fps_den,
                            .keyint_s = p->encoder.keyint_s, .name = c->name };
    int ret = lb_splice_encoder_create(&c->slate, &sp, why, sizeof why);
    if (ret == AVERROR(ENOSYS)) {
        LB_LOGW(c->name, "no slate in this track while the camera is away (%s): it has gaps then", why);
        return 0;
    }
    if (ret < 0)
        return ret;
    return avcodec_parameters_copy(c->par, lb_splice_encoder_codecpar(c->slate));
}

int lb_iso_copy_add(lb_pipeline *p, int source, const AVCodecParameters *par)
{
    int ret;
    copy_worker *c = &p->copiers[p->nb_copiers];
    *c = (copy_worker){ .p = p, .source = source, .stream = p->nb_streams };
    snprintf(c->name, sizeof c->name, "iso:%s", lb_source_name(p->sources[source]));
    lb_queue_params cq = { .name = lb_source_name(p->sources[source]), .capacity = 512,
                           .policy = LB_QUEUE_BLOCK, .free_item = free_packet_item };
    if (!(c->queue = lb_queue_alloc(&cq)) || !(c->par = avcodec_parameters_alloc()) ||
        avcodec_parameters_copy(c->par, par) < 0)
        return AVERROR(ENOMEM);
    if ((ret = attach_slate(p, c)) < 0)
        return ret;
    lb_source_set_packet_queue(p->sources[source], c->queue);
    p->streams[p->nb_streams++] = (lb_stream_desc){ LB_STREAM_ISO_VIDEO,
                                                    lb_source_name(p->sources[source]), c->par, 0 };
    p->nb_copiers++;
    return 0;
}

int lb_iso_copy_start(lb_pipeline *p)
{
    int ret;
    for (int i = 0; i < p->nb_copiers; i++)
        if ((ret = lb_thread_start(&p->copiers[i].thread, "iso-copy", copy_thread, &p->copiers[i])) < 0)
            return ret;
    return 0;
}

void lb_iso_copy_stop(lb_pipeline *p)
{
    for (int i = 0; i < p->nb_copiers; i++) {
        lb_queue_close(p->copiers[i].queue);
        lb_thread_join(&p->copiers[i].thread);
    }
}

void lb_iso_copy_free(lb_pipeline *p)
{
    for (int i = 0; i < p->nb_sources; i++)
        if (p->sources[i])
            lb_source_set_packet_queue(p->sources[i], NULL);
    for (int i = 0; i < p->nb_copiers; i++) {
        lb_queue_free(&p->copiers[i].queue);
        avcodec_parameters_free(&p->copiers[i].par);
        lb_splice_encoder_free(&p->copiers[i].slate);
    }
}
