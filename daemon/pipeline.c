/* Design note: the program's threads.
 *
 *   cap-<src> x N ─► frame queues ─┐
 *   mic-<mic> x M ─► sample rings ─┤
 *                                  ▼
 *   lb-program: ticks at the output rate (paced on lb_clock + sync delay, or
 *     as fast as possible offline); takes each source's frame for the tick,
 *     asks the director for the shot, composes the program frame, reads and
 *     mixes each mic's samples for the tick; hands both to the encoder
 *     queue (blocking: nothing is dropped between capture and archive).
 *   lb-encode: x264 (its own worker threads) and AAC; packets go to the
 *     streamer, which refs them into every output's queue; recording start
 *     and stop travel in the same queue as the frames, so they take effect
 *     exactly at a frame boundary.
 *   lb-status: publishes status and meters to the web UI.
 *
 * Realtime, the program runs sync_delay_ms behind the sources so that the
 * audio of a tick has arrived when the tick is composed. */
#include "pipeline_priv.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libswscale/swscale.h>

#include <libavutil/imgutils.h>
#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_log.h"

#define OFF(x) offsetof(lb_general_settings, x)
#define STR(x) OFF(x), sizeof(((lb_general_settings *)0)->x)

const lb_option lb_general_options[] = {
    { "data_dir", LB_OPT_STRING, STR(data_dir), "recordings", 0, 0, NULL, "where lessons are recorded" },
    { "http_port", LB_OPT_INT, OFF(http_port), 0, "8080", 0, 65535, NULL, "web UI and API port (0: none)" },
    { "width", LB_OPT_INT, OFF(width), 0, "1920", 160, 7680, NULL, "program width" },
    { "height", LB_OPT_INT, OFF(height), 0, "1080", 90, 4320, NULL, "program height" },
    { "fps", LB_OPT_INT, OFF(fps), 0, "30", 1, 120, NULL, "program frame rate" },
    { "log_level", LB_OPT_STRING, STR(log_level), "info", 0, 0, NULL, "error, warn, info or debug" },
    { "sync_delay_ms", LB_OPT_INT, OFF(sync_delay_ms), 0, "60", 0, 2000, NULL, "realtime: how far the program runs behind capture" },
    { "max_lag_ms", LB_OPT_INT, OFF(max_lag_ms), 0, "1000", 0, 60000, NULL, "realtime: further behind than this, the program skips to the frame due now to stay live (0: never skip, make every late frame)" },
    { "www_dir", LB_OPT_STRING, STR(www_dir), NULL, 0, 0, NULL, "web UI files (default: the installed ones)" },
    { NULL },
};

/* An item of the encoder queue: one program frame, the audio of its
 * period, and recording commands that take effect at this frame. */
typedef struct program_item {
    int64_t seq;                /* frame number since the program started */
    AVFrame *video;
    float *audio;
    int nb_audio;
    int64_t audio_pts_us;
    int start_recording;        /* the archive was started for this frame */
    int stop_recording;
} program_item;

typedef struct worker_item {
    AVFrame *frame;
    int force_idr;
    int64_t seq;                /* the program frame's number */
} worker_item;

static void free_worker_item(void *opaque)
{
    worker_item *it = opaque;
    if (it) {
        av_frame_free(&it->frame);
        free(it);
    }
}

static void free_packet_item(void *opaque)
{
    AVPacket *pkt = opaque;
    av_packet_free(&pkt);
}

static void free_item(void *opaque)
{
    program_item *it = opaque;
    if (!it)
        return;
    av_frame_free(&it->video);
    free(it->audio);
    free(it);
}

const lb_general_settings *lb_pipeline_general(const lb_pipeline *p) { return &p->general; }

static int fail_with(char *err, size_t err_size, const char *msg)
{
    snprintf(err, err_size, "%s", msg);
    return AVERROR(EINVAL);
}

int lb_pipeline_create(lb_pipeline **pp, const lb_pipeline_params *params,
                       char *err, size_t err_size)
{
    int ret;
    const lb_config *cfg = params->cfg;
    lb_pipeline *p = calloc(1, sizeof *p);
    if (!p)
        return AVERROR(ENOMEM);
    pthread_mutex_init(&p->lock, NULL);
    pthread_mutex_init(&p->workers_lock, NULL);
    pthread_cond_init(&p->workers_cond, NULL);
    p->params = *params;
    p->rec_state = REC_IDLE;

    if ((ret = lb_config_apply(lb_config_find(cfg, "general"), lb_general_options, &p->general,
                               err, err_size)) < 0)
        goto fail;
    lb_log_level level = lb_log_level_from_name(p->general.log_level);
    if (!level) {
        lb_config_error(lb_config_find(cfg, "general"), "log_level", err, err_size,
                        "unknown value '%s' (expected error, warn, info, debug)", p->general.log_level);
        ret = AVERROR(EINVAL);
        goto fail;
    }
    lb_log_set_level(level);
    if (p->general.width % 2 || p->general.height % 2) {
        lb_config_error(lb_config_find(cfg, "general"), "width", err, err_size,
                        "program size %dx%d: width and height must be even",
                        p->general.width, p->general.height);
        ret = AVERROR(EINVAL);
        goto fail;
    }
    p->fps_num = p->general.fps;
    p->fps_den = 1;

    const lb_config_section *enc = lb_config_find(cfg, "encoder");
    if ((ret = lb_config_apply(enc, lb_encoder_options, &p->encoder, err, err_size)) < 0 ||
        (ret = lb_encoder_check(&p->encoder, enc, p->general.width, p->general.height,
                                p->fps_num, p->fps_den, err, err_size)) < 0)
        goto fail;

    /* an HLS segment starts with an IDR: its length is a whole number of
     * GOPs, so a segment_s that is not one would be silently longer */
    for (int i = 0; i < lb_config_nb_sections(cfg); i++) {
        const lb_config_section *sec = lb_config_section_at(cfg, i);
        const char *type = lb_config_get(sec, "type"), *seg = lb_config_get(sec, "segment_s");
        if (strcmp(lb_config_section_kind(sec), "output") || !type || strcmp(type, "hls"))
            continue;
        double segment_s = seg ? strtod(seg, NULL) : 2.0, gops = segment_s / p->encoder.keyint_s;
        if (segment_s > 0 && (gops < 0.999 || fabs(gops - round(gops)) > 0.001)) {
            lb_config_error(sec, seg ? "segment_s" : "type", err, err_size,
                            "segments of %g s are not a whole number of GOPs ([encoder] keyint_s = %g): "
                            "every segment starts with an IDR, so they would last %g s; make segment_s "
                            "a multiple of keyint_s", segment_s, p->encoder.keyint_s,
                            ceil(gops - 0.001) * p->encoder.keyint_s);
            ret = AVERROR(EINVAL);
            goto fail;
        }
    }

    /* program time 0 is now: the sources are started moments later */
    p->capture = (lb_capture_params){ .offline = params->offline, .fps_num = p->fps_num,
                                      .fps_den = p->fps_den, .epoch_us = lb_clock_now() };
    for (int i = 0; i < lb_config_nb_sections(cfg); i++) {
        const lb_config_section *sec = lb_config_section_at(cfg, i);
        const char *kind = lb_config_section_kind(sec);
        if (!strcmp(kind, "source")) {
            if (p->nb_sources == LB_MAX_SOURCES) {
                ret = fail_with(err, err_size, "too many [source.*] sections (at most 16)");
                goto fail;
            }
            if ((ret = lb_source_create(&p->sources[p->nb_sources], sec, &p->capture, err, err_size)) < 0)
                goto fail;
            p->setup.source_names[p->nb_sources] = lb_source_name(p->sources[p->nb_sources]);
            p->setup.source_roles[p->nb_sources] = lb_source_role(p->sources[p->nb_sources]);
            p->nb_sources++;
        } else if (!strcmp(kind, "mic")) {
            if (p->nb_mics == LB_MAX_MICS) {
                ret = fail_with(err, err_size, "too many [mic.*] sections (at most 8)");
                goto fail;
            }
            if ((ret = lb_mic_create(&p->mics[p->nb_mics], sec, &p->capture, err, err_size)) < 0)
                goto fail;
            p->setup.mic_names[p->nb_mics] = lb_mic_name(p->mics[p->nb_mics]);
            p->setup.mic_roles[p->nb_mics] = lb_mic_role(p->mics[p->nb_mics]);
            p->nb_mics++;
        }
    }
    if (!p->nb_sources) {
        snprintf(err, err_size, "%s: no [source.NAME] section: luobo needs at least one camera",
                 lb_config_file_name(cfg));
        ret = AVERROR(EINVAL);
        goto fail;
    }
    p->setup.nb_sources = p->nb_sources;
    p->setup.nb_mics = p->nb_mics;
    p->setup.width = p->general.width;
    p->setup.height = p->general.height;
    p->setup.fps_num = p->fps_num;
    p->setup.fps_den = p->fps_den;
    const lb_config_section *dsec = lb_config_find(cfg, "director");
    if ((ret = lb_director_create(&p->director, dsec, &p->setup, err, err_size)) < 0 ||
        (ret = lb_compositor_create(&p->compositor, &p->setup, dsec, err, err_size)) < 0)
        goto fail;
    if ((ret = lb_streamer_create(&p->streamer, cfg, err, err_size)) < 0)
        goto fail;

    lb_webui_params wp = {
        .cfg = cfg, .data_dir = p->general.data_dir,
        .www_dir = *p->general.www_dir ? p->general.www_dir : LUOBO_WWW_DIR,
        .live_dir = lb_streamer_live_dir(p->streamer), .ops = &lb_pipeline_control_ops, .opaque = p,
    };
    /* created (and [auth] checked) even when http_port = 0 turns it off */
    if ((ret = lb_webui_create(&p->webui, &wp, err, err_size)) < 0)
        goto fail;

    if ((ret = lb_config_check_unused(cfg, err, err_size)) < 0)
        goto fail;
    *pp = p;
    return 0;
fail:
    lb_pipeline_free(&p);
    return ret;
}

/* ---- the encoder thread ---- */

static int program_video_sink(void *opaque, AVPacket *pkt)
{
    lb_pipeline *p = opaque;
    pkt->stream_index = 0;
    return lb_streamer_send(p->streamer, pkt);
}

static int program_audio_sink(void *opaque, AVPacket *pkt)
{
    lb_pipeline *p = opaque;
    pkt->stream_index = 1;
    return lb_streamer_send(p->streamer, pkt);
}

static int worker_sink(void *opaque, AVPacket *pkt)
{
    encode_worker *w = opaque;
    pkt->stream_index = w->stream;
    return lb_streamer_send(w->p->streamer, pkt);
}

/* Waits until every ISO encode has finished the frames up to seq, so the
 * camera recordings end with the program. */
static void wait_for_isos(lb_pipeline *p, int64_t seq)
{
    pthread_mutex_lock(&p->workers_lock);
    for (int i = 0; i < p->nb_workers; i++) {
        encode_worker *w = &p->workers[i];
        while (w->source >= 0 && w->done <= seq && !lb_queue_is_closed(w->queue))
            pthread_cond_wait(&p->workers_cond, &p->workers_lock);
    }
    pthread_mutex_unlock(&p->workers_lock);
}

static void finish_recording(lb_pipeline *p, int complete)
{
    int ret = lb_streamer_stop_recording(p->streamer);
    pthread_mutex_lock(&p->lock);
    lb_lesson *lesson = p->lesson;
    p->lesson = NULL;
    double duration = (double)p->rec_frames * p->fps_den / p->fps_num;
    p->rec_state = REC_IDLE;
    pthread_mutex_unlock(&p->lock);
    if (ret < 0)
        LB_LOGE("pipeline", "the archive reported an error while finishing: %s", av_err2str(ret));
    if (lesson)
        LB_LOGI("pipeline", "recording %s finished: %.2f s", lb_lesson_id(lesson), duration);
    lb_lesson_finish(&lesson, duration, complete && ret >= 0);
}

static void *encoder_thread(void *arg)
{
    lb_pipeline *p = arg;
    int recording = 0;
    for (;;) {
        void *item_ptr;
        if (lb_queue_pop(p->to_encoder, &item_ptr, -1) < 0)
            break;
        program_item *it = item_ptr;
        int ret = 0;
        if (it->start_recording)
            recording = 1;
        if (it->audio && (ret = lb_audio_encoder_encode(p->aenc, it->audio, it->nb_audio,
                                                        it->audio_pts_us, program_audio_sink, p)) < 0)
            LB_LOGE("pipeline", "audio encoding failed: %s", av_err2str(ret));
        if (it->video && (ret = lb_video_encoder_encode(p->venc, it->video, it->start_recording,
                                                        program_video_sink, p)) < 0)
            LB_LOGE("pipeline", "video encoding failed: %s", av_err2str(ret));
        pthread_mutex_lock(&p->workers_lock);
        p->encoded_frames = it->seq + 1;
        pthread_cond_broadcast(&p->workers_cond);
        pthread_mutex_unlock(&p->workers_lock);
        if (it->stop_recording && recording) {
            wait_for_isos(p, it->seq);
            lb_mic_archive_wait(p, it->seq);
            finish_recording(p, 1);
            recording = 0;
        }
        free_item(it);
    }
    /* end of the program: the encoders' last packets belong to the recording */
    lb_video_encoder_encode(p->venc, NULL, 0, program_video_sink, p);
    lb_audio_encoder_encode(p->aenc, NULL, 0, 0, program_audio_sink, p);
    if (recording) {
        for (int i = 0; i < p->nb_workers; i++)
            lb_queue_close(p->workers[i].queue);
        for (int i = 0; i < p->nb_workers; i++)
            lb_thread_join(&p->workers[i].thread);
        lb_mic_archive_stop(p);
        finish_recording(p, 1);
    }
    return NULL;
}

/* A rendition or ISO encode: scale to its size (letterboxed to keep the
 * picture's shape) and encode. */
static void *worker_thread(void *arg)
{
    encode_worker *w = arg;
    for (;;) {
        void *item_ptr;
        if (lb_queue_pop(w->queue, &item_ptr, -1) < 0)
            break;
        worker_item *it = item_ptr;
        AVFrame *src = it->frame;
        AVFrame *dst = av_frame_alloc();
        int ret = AVERROR(ENOMEM);
        if (dst) {
            dst->format = AV_PIX_FMT_YUV420P;
            dst->width = w->width;
            dst->height = w->height;
            ret = av_frame_get_buffer(dst, 0);
        }
        if (ret >= 0) {
            int fw = w->width, fh = w->height;
            if ((int64_t)src->width * w->height > (int64_t)src->height * w->width)
                fh = (int)((int64_t)w->width * src->height / src->width) & ~1;
            else
                fw = (int)((int64_t)w->height * src->width / src->height) & ~1;
            int x = ((w->width - fw) / 2) & ~1, y = ((w->height - fh) / 2) & ~1;
            if (fw != w->width || fh != w->height) {
                for (int pl = 0; pl < 3; pl++)
                    memset(dst->data[pl], pl ? 128 : 16,
                           (size_t)dst->linesize[pl] * (size_t)(pl ? w->height / 2 : w->height));
            }
            w->sws = sws_getCachedContext(w->sws, src->width, src->height, src->format, fw, fh,
                                          AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
            if (w->sws) {
                uint8_t *planes[4];
                for (int pl = 0; pl < 3; pl++)
                    planes[pl] = dst->data[pl] + (y >> (pl ? 1 : 0)) * dst->linesize[pl] + (x >> (pl ? 1 : 0));
                sws_scale(w->sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
                          planes, dst->linesize);
                dst->pts = src->pts;
                ret = lb_video_encoder_encode(w->enc, dst, it->force_idr, worker_sink, w);
            }
        }
        if (ret < 0)
            LB_LOGE("pipeline", "%s: encoding failed: %s", w->name, av_err2str(ret));
        av_frame_free(&dst);
        int64_t seq = it->seq;
        free_worker_item(it);
        pthread_mutex_lock(&w->p->workers_lock);
        w->done = seq + 1;      /* frame numbers, not a count: ticks may be skipped */
        pthread_cond_broadcast(&w->p->workers_cond);
        pthread_mutex_unlock(&w->p->workers_lock);
    }
    lb_video_encoder_encode(w->enc, NULL, 0, worker_sink, w);
    pthread_mutex_lock(&w->p->workers_lock);
    pthread_cond_broadcast(&w->p->workers_cond);
    pthread_mutex_unlock(&w->p->workers_lock);
    return NULL;
}

/* Resource mode by stream copy: the camera's packets as they came, and
 * while the camera is away the slate, encoded into the same track so that
 * it has no gap (encoder/splice.c).  The slate continues the camera's
 * timeline at the program's rate from its last packet on; the camera comes
 * back at its first key frame, after the slate's last picture. */

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

/* ---- the program thread ---- */

/* Program frames come from a pool: at 1080p a fresh 3 MB buffer per frame
 * would cost page faults on every tick. */
static AVFrame *new_program_frame(lb_pipeline *p)
{
    AVFrame *f = av_frame_alloc();
    if (!f)
        return NULL;
    f->format = AV_PIX_FMT_YUV420P;
    f->width = p->general.width;
    f->height = p->general.height;
    f->color_primaries = AVCOL_PRI_BT709;
    f->color_trc = AVCOL_TRC_BT709;
    f->colorspace = AVCOL_SPC_BT709;
    f->color_range = AVCOL_RANGE_MPEG;
    if (!(f->buf[0] = av_buffer_pool_get(p->frame_pool)) ||
        av_image_fill_arrays(f->data, f->linesize, f->buf[0]->data, AV_PIX_FMT_YUV420P,
                             f->width, f->height, 64) < 0)
        av_frame_free(&f);
    return f;
}

static void fill_black_frame(AVFrame *f)
{
    for (int pl = 0; pl < 3; pl++)
        memset(f->data[pl], pl ? 128 : 16, (size_t)f->linesize[pl] * (size_t)(pl ? f->height / 2 : f->height));
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* A lesson whose archive could not start holds nothing: remove its folder. */
static void discard_lesson(lb_lesson **lesson)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", lb_lesson_dir(*lesson));
    lb_lesson_finish(lesson, 0, 0);
    nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Starts the lesson and the archive at this tick.  Called on the program
 * thread, before any encoder is given this tick's frame, so that every
 * packet of the lesson reaches the archive. */
static int begin_recording(lb_pipeline *p, int64_t t_us, const lb_lesson_info *info)
{
    char err[512];
    lb_lesson_source srcs[LB_MAX_SOURCES + LB_MAX_MICS];
    char files[LB_MAX_SOURCES + LB_MAX_MICS][96];
    for (int i = 0; i < p->nb_sources; i++) {
        snprintf(files[i], sizeof files[i], "iso/%s.mp4", lb_source_name(p->sources[i]));
        srcs[i] = (lb_lesson_source){ .name = lb_source_name(p->sources[i]),
                                      .role = lb_source_role(p->sources[i]),
                                      .file = p->encoder.iso || lb_source_codecpar(p->sources[i]) ? files[i] : NULL };
    }
    int nb_srcs = p->nb_sources;
    for (int m = 0; p->mic_archive.enabled && m < p->nb_mics; m++, nb_srcs++) {
        snprintf(files[nb_srcs], sizeof files[nb_srcs], "audio/%s.m4a", lb_mic_name(p->mics[m]));
        srcs[nb_srcs] = (lb_lesson_source){ .name = lb_mic_name(p->mics[m]), .role = lb_mic_role(p->mics[m]),
                                            .file = files[nb_srcs], .mic = 1 };
    }
    lb_lesson *lesson = NULL;
    int ret = lb_lesson_create(&lesson, p->general.data_dir, info, srcs, nb_srcs, err, sizeof err);
    if (ret >= 0 && (ret = lb_streamer_start_recording(p->streamer, lb_lesson_dir(lesson))) < 0) {
        snprintf(err, sizeof err, "the archive cannot start in %s: %s", lb_lesson_dir(lesson),
                 ret == AVERROR(ENOSPC) ? "not enough free disk space" : av_err2str(ret));
        discard_lesson(&lesson);
    }
    pthread_mutex_lock(&p->lock);
    if (ret < 0) {
        LB_LOGE("pipeline", "cannot start a recording: %s", err);
        snprintf(p->last_error, sizeof p->last_error, "%s", err);
        p->rec_state = REC_IDLE;
    } else {
        p->lesson = lesson;
        p->rec_state = REC_RECORDING;
        p->rec_start_us = t_us;
        p->rec_frames = 0;
        p->last_error[0] = 0;
        LB_LOGI("pipeline", "recording %s started", lb_lesson_id(lesson));
        /* the first decision of a lesson is logged even if the shot holds */
        char line[1024];
        if (lb_shot_to_json(&p->shot, 0, &p->setup, line, sizeof line) > 0)
            lb_lesson_log_decision(p->lesson, line);
    }
    pthread_mutex_unlock(&p->lock);
    return ret;
}

/* Waits until every encoder has finished the frames before frame n, so that
 * the archive, started next, sees nothing older than the lesson's first
 * frame (a short bubble, once per recording). */
static void wait_for_encoders(lb_pipeline *p, int64_t n)
{
    pthread_mutex_lock(&p->workers_lock);
    for (;;) {
        int behind = p->encoded_frames < n;
        for (int i = 0; i < p->nb_workers; i++)
            behind |= p->workers[i].done < n && !lb_queue_is_closed(p->workers[i].queue);
        if (!behind || lb_queue_is_closed(p->to_encoder))
            break;
        pthread_cond_wait(&p->workers_cond, &p->workers_lock);
    }
    pthread_mutex_unlock(&p->workers_lock);
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

/* How long start-up waits for compressed cameras to tell their codec. */
#define CODEC_WAIT_US 3000000

/* How long --record waits at start-up for the cameras to connect. */
#define RECORD_WAIT_US 5000000
#define RECORD_WAIT_FRAMES(p) av_rescale(RECORD_WAIT_US, (p)->fps_num, 1000000LL * (p)->fps_den)

/* No camera is still connecting for the first time (a broken one has
 * already said so: lost or failed, and the lesson should not wait for it). */
static int sources_settled(lb_pipeline *p)
{
    for (int i = 0; i < p->nb_sources; i++) {
        lb_source_stats st;
        lb_source_get_stats(p->sources[i], &st);
        if (st.state == LB_SOURCE_CONNECTING)
            return 0;
    }
    return 1;
}

/* Sound the mics keep (capture's ring holds 4 s): the most a skip can take. */
#define MIC_KEEP_S 3

/* Longest a decided shot waits for its cameras to be decoded in full. */
#define ON_AIR_WAIT_MAX_US 1000000

static int shows(const lb_shot *shot, int source)
{
    for (int k = 0; k < shot->nb_sources; k++)
        if (shot->sources[k] == source)
            return 1;
    return 0;
}

static int is_partial(const AVFrame *f)
{
    return f && f->metadata && av_dict_get(f->metadata, LB_PARTIAL_METADATA, NULL, 0);
}

/* Decoding on demand: a camera off the air is decoded from its key frames
 * only (capture/), so a shot the director decides goes on the air once its
 * cameras are decoded in full again, a few frames later; the decision log
 * and the tally say when it went on the air.  Returns 1 when the program
 * changed shot.  Between decisions the director's shot is taken as it is
 * (the virtual camera pans). */
static int take_shot(lb_pipeline *p, int64_t t, int decided, const lb_shot *shot,
                     AVFrame *const *valid, lb_shot *air)
{
    if (decided && !p->shot_waiting) {
        p->shot_waiting = 1;
        p->shot_wait_since_us = t;
    }
    int ready = 1;
    for (int k = 0; k < shot->nb_sources; k++)
        ready &= !is_partial(valid[shot->sources[k]]);
    int changed = 0;
    if (!p->shot_waiting || ready || t - p->shot_wait_since_us >= ON_AIR_WAIT_MAX_US) {
        changed = p->shot_waiting;
        p->shot_waiting = 0;
        *air = *shot;
    }
    /* before the first decision every camera may be the first shot; the
     * automatic director analyses every camera at full rate, a console
     * shows the previews it asked for lately */
    int none_yet = !air->nb_sources && !shot->nb_sources;
    int director = lb_director_get_mode(p->director) == LB_DIRECTOR_AUTO ? LB_WATCH_DIRECTOR : 0;
    int64_t now = lb_clock_now();
    for (int i = 0; i < p->nb_sources; i++)
        lb_source_set_on_air(p->sources[i], none_yet || shows(air, i) || shows(shot, i) ||
                                            p->source_needs_frames[i],
                             director | (now < atomic_load(&p->preview_until_us[i]) ? LB_WATCH_PREVIEW : 0),
                             t);
    return changed;
}

#define ANALYSIS_START_GRACE_US 5000000

static int is_slate(const AVFrame *f)
{
    return f && f->metadata && av_dict_get(f->metadata, LB_SLATE_METADATA, NULL, 0);
}

/* What the director analyses of each camera: its sub-stream when it has one
 * that gives pictures, else what the program would show.  A camera whose
 * main stream is lost stays lost for the director, whatever its sub-stream
 * shows.  The console's preview of a camera off the air (whose main stream
 * is then not decoded) is the sub-stream's moving picture. */
static void analysis_frames(lb_pipeline *p, int64_t t, AVFrame *const *valid, AVFrame **sub,
                            AVFrame **seen, AVFrame **preview)
{
    for (int i = 0; i < p->nb_sources; i++) {
        av_frame_unref(sub[i]);
        int ret = lb_source_analysis_frame_at(p->sources[i], t, sub[i]);
        int use_sub = ret >= 0 && valid[i] && !is_slate(valid[i]);
        seen[i] = use_sub ? sub[i] : valid[i];
        preview[i] = use_sub && is_partial(valid[i]) ? sub[i] : valid[i];
        /* say once when the director changes which stream it watches (a
         * sub-stream still connecting at start-up is given a few seconds) */
        if (ret == AVERROR(ENOENT))
            continue;
        analysis_watch *w = &p->analysis_watch[i];
        if (ret >= 0 && *w == ANALYSIS_ON_MAIN)
            LB_LOGI("pipeline", "source %s: the director analyses its sub-stream again",
                    lb_source_name(p->sources[i]));
        else if (ret < 0 && (*w == ANALYSIS_ON_SUB ||
                             (*w == ANALYSIS_STARTING && t >= ANALYSIS_START_GRACE_US)))
            LB_LOGW("pipeline", "source %s: its sub-stream gives no picture: the director "
                    "analyses the main stream, decoded in full", lb_source_name(p->sources[i]));
        if (ret >= 0)
            *w = ANALYSIS_ON_SUB;
        else if (*w == ANALYSIS_ON_SUB || t >= ANALYSIS_START_GRACE_US)
            *w = ANALYSIS_ON_MAIN;
    }
}

static void *program_thread(void *arg)
{
    lb_pipeline *p = arg;
    AVFrame *frames[LB_MAX_SOURCES] = { 0 };
    AVFrame *sub_frames[LB_MAX_SOURCES] = { 0 };
    float *mic_bufs[LB_MAX_MICS] = { 0 }, *mix = NULL;
    /* a tick's sound, or what a skip ahead takes at once (max_lag_ms):
     * at most what the mics keep */
    int64_t max_samples = av_rescale(LB_AUDIO_RATE, p->fps_den, p->fps_num) + 2 +
                          (p->params.offline ? 0 : LB_AUDIO_RATE * MIC_KEEP_S);
    int64_t duration_us = (int64_t)(p->params.duration_s * 1000000 + 0.5);
    int64_t total_frames = duration_us ? av_rescale(duration_us, p->fps_num, 1000000LL * p->fps_den) : -1;
    int64_t audio_pos = 0;          /* next sample index of the program audio */
    int64_t next_sent = 0;          /* number of the frame after the last one sent on */
    int64_t delay_us = (int64_t)p->general.sync_delay_ms * 1000;
    lb_shot air = { 0 };            /* what the program shows: nothing yet */

    if (!(mix = malloc(sizeof(float) * (size_t)max_samples)))
        goto end;
    for (int m = 0; m < p->nb_mics; m++)
        if (!(mic_bufs[m] = malloc(sizeof(float) * (size_t)max_samples)))
            goto end;
    for (int i = 0; i < p->nb_sources; i++)
        if (!(frames[i] = av_frame_alloc()) || !(sub_frames[i] = av_frame_alloc()))
            goto end;

    for (int64_t n = 0; !atomic_load(&p->stop); n++) {
        if (total_frames >= 0) {
            /* with --record the duration is the lesson's; a lesson that
             * could not start still ends the run a little later */
            pthread_mutex_lock(&p->lock);
            int64_t recorded = p->rec_frames;
            int has_lesson = p->lesson != NULL || p->rec_state == REC_RECORDING;
            pthread_mutex_unlock(&p->lock);
            if (!p->params.record ? n >= total_frames
                                  : (has_lesson ? recorded >= total_frames
                                                : n >= total_frames + RECORD_WAIT_FRAMES(p)))
                break;
        }
        int64_t t = av_rescale(n, 1000000LL * p->fps_den, p->fps_num);
        int64_t t_next = av_rescale(n + 1, 1000000LL * p->fps_den, p->fps_num);
        if (!p->params.offline) {
            int64_t due = p->capture.epoch_us + t + delay_us;
            int64_t now = lb_clock_now();
            if (now < due)
                lb_clock_sleep_until(due);
            else if (now - due > 1000000 / (p->fps_num / p->fps_den) * 2)
                p->frames_late++;
            if (p->general.max_lag_ms && now - due > (int64_t)p->general.max_lag_ms * 1000) {
                /* the machine stalled or cannot keep up: showing every
                 * late frame would put the live outputs ever further
                 * behind; go on from the tick due now (the sound is kept
                 * whole, the pictures of the ticks passed are not made) */
                int64_t n_now = av_rescale(now - p->capture.epoch_us - delay_us, p->fps_num,
                                           1000000LL * p->fps_den);
                int64_t skipped = n_now - n;
                LB_LOGW("pipeline", "%.1f s behind real time: skipping %lld frames to stay live",
                        (now - due) / 1e6, (long long)skipped);
                pthread_mutex_lock(&p->lock);
                p->frames_skipped += (uint64_t)skipped;
                if (p->rec_state == REC_RECORDING)
                    p->rec_frames += skipped;       /* --duration counts the lesson's time */
                pthread_mutex_unlock(&p->lock);
                n = n_now;
                t = av_rescale(n, 1000000LL * p->fps_den, p->fps_num);
                t_next = av_rescale(n + 1, 1000000LL * p->fps_den, p->fps_num);
                if (av_rescale(t_next, LB_AUDIO_RATE, 1000000) - audio_pos > max_samples)
                    audio_pos = av_rescale(t_next, LB_AUDIO_RATE, 1000000) - max_samples;
            }
        }

        int live_sources = 0;
        for (int i = 0; i < p->nb_sources; i++) {
            av_frame_unref(frames[i]);
            int ret = lb_source_frame_at(p->sources[i], t, frames[i]);
            if (ret >= 0 || (ret == AVERROR_EOF && frames[i]->buf[0]))
                live_sources += ret >= 0;
        }
        if (p->params.offline && !live_sources && total_frames < 0) {
            LB_LOGI("pipeline", "every source has ended");
            break;
        }

        int64_t first = audio_pos;
        int nb = (int)(av_rescale(t_next, LB_AUDIO_RATE, 1000000) - first);
        double levels[LB_MAX_MICS];
        lb_mixer_levels mixed = { 0 };
        for (int m = 0; m < p->nb_mics; m++)
            lb_mic_read(p->mics[m], first, mic_bufs[m], nb);
        lb_mixer_process(p->mixer, (const float *const *)mic_bufs, nb, mix, &mixed);
        for (int m = 0; m < p->nb_mics; m++)
            levels[m] = mixed.in_dbfs[m];
        audio_pos += nb;

        AVFrame *valid[LB_MAX_SOURCES], *seen[LB_MAX_SOURCES], *preview[LB_MAX_SOURCES];
        for (int i = 0; i < p->nb_sources; i++)
            valid[i] = frames[i]->buf[0] ? frames[i] : NULL;
        analysis_frames(p, t, valid, sub_frames, seen, preview);
        lb_shot shot;
        int decided = lb_director_update(p->director, t, seen, levels, &shot);
        int changed = take_shot(p, t, decided, &shot, valid, &air);
        char chapter[128];
        int has_chapter = lb_director_next_chapter(p->director, chapter, sizeof chapter);

        AVFrame *out = new_program_frame(p);
        program_item *it = calloc(1, sizeof *it);
        if (!out || !it || !(it->audio = malloc(sizeof(float) * (size_t)nb))) {
            av_frame_free(&out);
            free_item(it);
            LB_LOGE("pipeline", "out of memory");
            break;
        }
        lb_compositor_compose(p->compositor, &air, valid, out);
        out->pts = t;
        memcpy(it->audio, mix, sizeof(float) * (size_t)nb);
        it->nb_audio = nb;
        it->audio_pts_us = av_rescale(first, 1000000, LB_AUDIO_RATE);

        pthread_mutex_lock(&p->lock);
        p->shot = air;
        p->program_time_us = t;
        p->frames_composed++;
        for (int m = 0; m < p->nb_mics; m++)
            p->mic_dbfs[m] = levels[m];
        p->mix_levels = mixed;
        p->program_dbfs = mixed.out_dbfs;
        for (int i = 0; i < p->nb_sources; i++) {
            av_frame_free(&p->latest[i]);
            p->latest[i] = preview[i] ? av_frame_clone(preview[i]) : NULL;
        }
        av_frame_free(&p->latest_program);
        p->latest_program = av_frame_clone(out);
        recording_state state = p->rec_state;
        lb_lesson_info info = p->pending_info;
        pthread_mutex_unlock(&p->lock);

        if (changed && p->general.http_port) {
            /* the console's tally follows the program at once */
            char line[1024], event[1200];
            int64_t rel = state == REC_RECORDING ? t - p->rec_start_us : t;
            if (lb_shot_to_json(&air, rel, &p->setup, line, sizeof line) > 0) {
                /* the decision's own fields, as director.jsonl has them */
                snprintf(event, sizeof event, "{\"type\":\"decision\", %s", line + 1);
                lb_webui_publish(p->webui, event);
            }
        }
        if (state == REC_STARTING && !p->params.offline && t < RECORD_WAIT_US &&
            !sources_settled(p))
            state = REC_IDLE;   /* --record at start-up: begin once the cameras are up */
        if (state == REC_STARTING)
            wait_for_encoders(p, next_sent);     /* not n: ticks may have been skipped */
        if (state == REC_STARTING && begin_recording(p, t, &info) >= 0)
            it->start_recording = 1;

        /* the archive stopped by itself (the disk guard): end the lesson
         * here and say why */
        int archive_error = state == REC_RECORDING ? lb_streamer_recording_error(p->streamer) : 0;
        pthread_mutex_lock(&p->lock);
        if (archive_error < 0 && p->rec_state == REC_RECORDING) {
            snprintf(p->last_error, sizeof p->last_error, "recording stopped: %s",
                     archive_error == AVERROR(ENOSPC) ? "the disk is almost full"
                                                      : av_err2str(archive_error));
            LB_LOGE("pipeline", "%s", p->last_error);
            p->rec_state = REC_STOPPING;
        }
        if (p->rec_state == REC_RECORDING) {
            p->rec_frames++;
            double t_lesson = (double)(t - p->rec_start_us) / 1000000;
            if (changed && !it->start_recording) {
                char line[1024];
                if (lb_shot_to_json(&air, t - p->rec_start_us, &p->setup, line, sizeof line) > 0)
                    lb_lesson_log_decision(p->lesson, line);
            }
            if (has_chapter)
                lb_lesson_add_chapter(p->lesson, t_lesson, chapter);
        }
        if (p->rec_state == REC_STOPPING) {
            it->stop_recording = 1;
            p->rec_state = REC_FINISHING;    /* the encoder thread finishes the lesson */
        }
        pthread_mutex_unlock(&p->lock);

        /* renditions take the program frame, ISO encodes their camera's */
        for (int i = 0; i < p->nb_workers; i++) {
            encode_worker *w = &p->workers[i];
            AVFrame *src = w->source < 0 ? out : valid[w->source];
            worker_item *wi = calloc(1, sizeof *wi);
            if (!wi || !src || !(wi->frame = av_frame_clone(src))) {
                /* an ISO camera with no picture at all yet: black at its size */
                if (wi && !wi->frame && (wi->frame = new_program_frame(p))) {
                    fill_black_frame(wi->frame);
                }
                if (!wi || !wi->frame) {
                    free_worker_item(wi);
                    continue;
                }
            }
            wi->frame->pts = t;
            wi->seq = n;
            wi->force_idr = it->start_recording;
            if (lb_queue_push(w->queue, wi, -1) < 0)
                free_worker_item(wi);
        }
        lb_mic_archive_push(p, n, mic_bufs, nb, it->audio_pts_us, it->start_recording,
                            it->stop_recording);

        it->seq = n;
        it->video = out;
        if (lb_queue_push(p->to_encoder, it, -1) < 0) {
            free_item(it);
            break;
        }
        next_sent = n + 1;
    }
end:
    for (int i = 0; i < p->nb_sources; i++) {
        av_frame_free(&frames[i]);
        av_frame_free(&sub_frames[i]);
    }
    for (int m = 0; m < p->nb_mics; m++)
        free(mic_bufs[m]);
    free(mix);
    lb_queue_close(p->to_encoder);
    atomic_store(&p->finished, 1);
    lb_shutdown_request(NULL);
    return NULL;
}

/* ---- status to the web UI ---- */

static void *status_thread(void *arg)
{
    lb_pipeline *p = arg;
    for (int tick = 0; !atomic_load(&p->stop); tick++) {
        lb_clock_sleep_until(lb_clock_now() + 100000);
        pthread_mutex_lock(&p->lock);
        char meters[512];
        size_t n = (size_t)snprintf(meters, sizeof meters,
                                    "{\"type\":\"meters\",\"program\":%.1f,\"program_peak\":%.1f,"
                                    "\"agc_gain_db\":%.1f,\"mics\":{",
                                    p->mix_levels.out_dbfs, p->mix_levels.out_peak_dbfs,
                                    p->mix_levels.gain_db);
        for (int m = 0; m < p->nb_mics && n < sizeof meters; m++)
            n += (size_t)snprintf(meters + n, sizeof meters - n, "%s\"%s\":%.1f", m ? "," : "",
                                  lb_mic_name(p->mics[m]), p->mic_dbfs[m]);
        pthread_mutex_unlock(&p->lock);
        if (n < sizeof meters)
            snprintf(meters + n, sizeof meters - n, "}}");
        lb_webui_publish(p->webui, meters);
        if (tick % 10 == 0) {
            cJSON *st = lb_pipeline_control_ops.status(p);
            if (st) {
                cJSON *ev = cJSON_CreateObject();
                cJSON_AddStringToObject(ev, "type", "status");
                cJSON_AddItemToObject(ev, "status", st);
                char *text = cJSON_PrintUnformatted(ev);
                if (text)
                    lb_webui_publish(p->webui, text);
                free(text);
                cJSON_Delete(ev);
            }
        }
    }
    return NULL;
}

int lb_pipeline_start(lb_pipeline *p, char *err, size_t err_size)
{
    int ret;
    /* from here on, stop() joins and closes whatever was started */
    p->started = 1;
    if (mkdir(p->general.data_dir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, err_size, "data_dir %s: %s", p->general.data_dir, strerror(errno));
        return AVERROR(errno);
    }
    int repaired = lb_lesson_repair_all(p->general.data_dir);
    if (repaired > 0)
        LB_LOGW("pipeline", "repaired %d lesson(s) left unfinished by a crash", repaired);

    if ((ret = lb_video_encoder_open(&p->venc, &(lb_video_encoder_params){
             .settings = &p->encoder, .width = p->general.width, .height = p->general.height,
             .fps_num = p->fps_num, .fps_den = p->fps_den,
             .stream_index = 0, .name = "program" }, err, err_size)) < 0)
        return ret;
    if ((ret = lb_audio_encoder_open(&p->aenc, p->encoder.audio_bitrate_kbps, err, err_size)) < 0 ||
        (ret = lb_mixer_create(&p->mixer, &p->encoder, p->nb_mics)) < 0)
        return ret;
    p->streams[0] = (lb_stream_desc){ LB_STREAM_PROGRAM_VIDEO, "program", lb_video_encoder_codecpar(p->venc) };
    p->streams[1] = (lb_stream_desc){ LB_STREAM_PROGRAM_AUDIO, "audio", lb_audio_encoder_codecpar(p->aenc) };
    p->nb_streams = 2;

    lb_rendition ladder[LB_MAX_RENDITIONS];
    int nb_renditions = 0;
    if ((ret = lb_encoder_renditions(&p->encoder, NULL, ladder, &nb_renditions, err, err_size)) < 0)
        return ret;
    for (int i = 0; i < nb_renditions; i++) {
        encode_worker *w = &p->workers[p->nb_workers];
        snprintf(w->name, sizeof w->name, "%dp", ladder[i].height);
        lb_encoder_settings rs = p->encoder;
        rs.bitrate_kbps = ladder[i].bitrate_kbps;
        rs.maxrate_kbps = rs.bufsize_kbits = 0;
        rs.level[0] = 0;
        *w = (encode_worker){ .p = p, .source = -1, .width = ladder[i].width, .height = ladder[i].height,
                              .stream = p->nb_streams };
        snprintf(w->name, sizeof w->name, "%dp", ladder[i].height);
        if ((ret = lb_video_encoder_open(&w->enc, &(lb_video_encoder_params){
                 .settings = &rs, .width = w->width, .height = w->height, .fps_num = p->fps_num,
                 .fps_den = p->fps_den, .stream_index = w->stream, .name = w->name }, err, err_size)) < 0)
            return ret;
        p->streams[p->nb_streams++] = (lb_stream_desc){ LB_STREAM_RENDITION_VIDEO, w->name,
                                                        lb_video_encoder_codecpar(w->enc) };
        p->nb_workers++;
    }

    /* capture starts first: a camera's codec is known once it connected */
    for (int i = 0; i < p->nb_sources; i++)
        if ((ret = lb_source_start(p->sources[i])) < 0)
            return ret;
    for (int i = 0; i < p->nb_mics; i++)
        if ((ret = lb_mic_start(p->mics[i])) < 0)
            return ret;

    /* resource mode: compressed cameras are copied, raw ones encoded; a
     * camera that has not connected within the wait is encoded (its slate
     * until it comes), so its track is never missing */
    int64_t codec_deadline = lb_clock_now() + CODEC_WAIT_US;
    for (int i = 0; i < p->nb_sources; i++) {
        const AVCodecParameters *par = lb_source_wait_codecpar(p->sources[i],
                                            FFMAX(0, codec_deadline - lb_clock_now()));
        if (par) {
            copy_worker *c = &p->copiers[p->nb_copiers];
            *c = (copy_worker){ .p = p, .source = i, .stream = p->nb_streams };
            snprintf(c->name, sizeof c->name, "iso:%s", lb_source_name(p->sources[i]));
            lb_queue_params cq = { .name = lb_source_name(p->sources[i]), .capacity = 512,
                                   .policy = LB_QUEUE_BLOCK, .free_item = free_packet_item };
            if (!(c->queue = lb_queue_alloc(&cq)) || !(c->par = avcodec_parameters_alloc()) ||
                avcodec_parameters_copy(c->par, par) < 0)
                return AVERROR(ENOMEM);
            if ((ret = attach_slate(p, c)) < 0)
                return ret;
            lb_source_set_packet_queue(p->sources[i], c->queue);
            p->streams[p->nb_streams++] = (lb_stream_desc){ LB_STREAM_ISO_VIDEO,
                                                            lb_source_name(p->sources[i]), c->par };
            p->nb_copiers++;
        } else if (p->encoder.iso) {
            encode_worker *w = &p->workers[p->nb_workers];
            lb_encoder_settings is = p->encoder;
            snprintf(is.preset, sizeof is.preset, "%s", p->encoder.iso_preset);
            is.bitrate_kbps = p->encoder.iso_bitrate_kbps;
            is.maxrate_kbps = is.bufsize_kbits = 0;
            is.level[0] = 0;
            *w = (encode_worker){ .p = p, .source = i, .width = p->encoder.iso_width,
                                  .height = p->encoder.iso_height, .stream = p->nb_streams };
            snprintf(w->name, sizeof w->name, "iso:%s", lb_source_name(p->sources[i]));
            if ((ret = lb_video_encoder_open(&w->enc, &(lb_video_encoder_params){
                     .settings = &is, .width = w->width, .height = w->height, .fps_num = p->fps_num,
                     .fps_den = p->fps_den, .stream_index = w->stream, .name = w->name }, err, err_size)) < 0)
                return ret;
            p->streams[p->nb_streams++] = (lb_stream_desc){ LB_STREAM_ISO_VIDEO,
                                                            lb_source_name(p->sources[i]),
                                                            lb_video_encoder_codecpar(w->enc) };
            p->nb_workers++;
            p->source_needs_frames[i] = 1;
        }
    }
    if ((ret = lb_mic_archive_setup(p, err, err_size)) < 0)
        return ret;
    for (int i = 0; i < p->nb_workers; i++) {
        encode_worker *w = &p->workers[i];
        lb_queue_params wq = { .name = w->name, .capacity = 4, .policy = LB_QUEUE_BLOCK,
                               .free_item = free_worker_item };
        if (!(w->queue = lb_queue_alloc(&wq)))
            return AVERROR(ENOMEM);
    }

    int frame_size = av_image_get_buffer_size(AV_PIX_FMT_YUV420P, p->general.width, p->general.height, 64);
    if (!(p->frame_pool = av_buffer_pool_init((size_t)frame_size + 64, NULL)))
        return AVERROR(ENOMEM);
    lb_queue_params qp = { .name = "program->encoder", .capacity = 4, .policy = LB_QUEUE_BLOCK,
                           .free_item = free_item };
    if (!(p->to_encoder = lb_queue_alloc(&qp)))
        return AVERROR(ENOMEM);
    if ((ret = lb_streamer_start_live(p->streamer, p->streams, p->nb_streams)) < 0) {
        snprintf(err, err_size, "cannot start the live outputs: %s", av_err2str(ret));
        return ret;
    }
    if (p->general.http_port && (ret = lb_webui_start(p->webui, err, err_size)) < 0)
        return ret;

    if (p->params.record) {
        pthread_mutex_lock(&p->lock);
        snprintf(p->pending_info.title, sizeof p->pending_info.title, "%s",
                 p->params.title ? p->params.title : "Lesson");
        p->rec_state = REC_STARTING;
        pthread_mutex_unlock(&p->lock);
    }
    for (int i = 0; i < p->nb_workers; i++) {
        char tname[16];
        snprintf(tname, sizeof tname, "enc-%s", p->workers[i].name);
        if ((ret = lb_thread_start(&p->workers[i].thread, tname, worker_thread, &p->workers[i])) < 0)
            return ret;
    }
    for (int i = 0; i < p->nb_copiers; i++)
        if ((ret = lb_thread_start(&p->copiers[i].thread, "iso-copy", copy_thread, &p->copiers[i])) < 0)
            return ret;
    if ((ret = lb_mic_archive_start(p)) < 0)
        return ret;
    if ((ret = lb_thread_start(&p->encoder_thread, "lb-encode", encoder_thread, p)) < 0 ||
        (ret = lb_thread_start(&p->program_thread, "lb-program", program_thread, p)) < 0)
        return ret;
    if (p->general.http_port && (ret = lb_thread_start(&p->status_thread, "lb-status", status_thread, p)) < 0)
        return ret;
    return 0;
}

void lb_pipeline_wait(lb_pipeline *p)
{
    lb_shutdown_wait(-1);
}

/* Where the CPU went, per thread name (x264's workers are named after their
 * encoder): read before the threads end, so it covers the run, not the
 * flush at the end. */
static void log_cpu_summary(void)
{
    lb_thread_cpu cpu[64];
    int n = lb_thread_cpu_by_name(cpu, 64);
    if (n <= 0)
        return;
    int64_t total = 0;
    for (int i = 0; i < n; i++)
        total += cpu[i].cpu_us;
    char line[1024] = "";
    size_t len = 0;
    for (int i = 0; i < n && cpu[i].cpu_us >= 10000 && len < sizeof line; i++) {
        char threads[24] = "";
        if (cpu[i].threads > 1)
            snprintf(threads, sizeof threads, " (%d threads)", cpu[i].threads);
        len += (size_t)snprintf(line + len, sizeof line - len, "%s %s %.2f s%s",
                                i ? "," : "", cpu[i].name, cpu[i].cpu_us / 1e6, threads);
    }
    /* threads that already ended without being luobo's (a closed decoder's
     * workers) left their time only in the process's total */
    struct rusage ru;
    if (!getrusage(RUSAGE_SELF, &ru)) {
        int64_t all = (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                      ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
        if (all - total >= 10000 && len < sizeof line)
            snprintf(line + len, sizeof line - len, ", threads that ended %.2f s", (all - total) / 1e6);
        total = all > total ? all : total;
    }
    LB_LOGI("summary", "cpu: %.2f s in all;%s", total / 1e6, line);
}

/* What an operator reads after a run: drops, reconnects, late frames. */
static void log_summary(lb_pipeline *p)
{
    LB_LOGI("summary", "program: %llu frames composed, %llu late, %llu skipped to stay live",
            (unsigned long long)p->frames_composed, (unsigned long long)p->frames_late,
            (unsigned long long)p->frames_skipped);
    for (int i = 0; i < p->nb_sources; i++) {
        lb_source_stats st;
        lb_source_get_stats(p->sources[i], &st);
        LB_LOGI("summary", "source %s: %s, %llu frames (%llu from key frames only), %llu dropped, "
                "%llu reconnects%s%s", lb_source_name(p->sources[i]), lb_source_state_name(st.state),
                (unsigned long long)st.frames, (unsigned long long)st.partial_frames,
                (unsigned long long)st.dropped,
                (unsigned long long)st.reconnects, *st.last_error ? ", last error: " : "", st.last_error);
        if (st.analysis.present)
            LB_LOGI("summary", "source %s, sub-stream analysed: %s, %dx%d, %llu frames (%llu from "
                    "key frames only)%s%s",
                    lb_source_name(p->sources[i]), lb_source_state_name(st.analysis.state),
                    st.analysis.width, st.analysis.height, (unsigned long long)st.analysis.frames,
                    (unsigned long long)st.analysis.partial_frames,
                    *st.analysis.last_error ? ", last error: " : "", st.analysis.last_error);
    }
    for (int m = 0; m < p->nb_mics; m++) {
        lb_mic_stats st;
        lb_mic_get_stats(p->mics[m], &st);
        LB_LOGI("summary", "mic %s: %s, %llu xruns, %llu reconnects", lb_mic_name(p->mics[m]),
                lb_source_state_name(st.state), (unsigned long long)st.xruns,
                (unsigned long long)st.reconnects);
    }
    for (int i = 0; i < lb_streamer_nb_outputs(p->streamer); i++) {
        lb_output_stats st;
        lb_streamer_get_stats(p->streamer, i, &st);
        LB_LOGI("summary", "output %s (%s): %s, %llu packets, %llu dropped, %llu reconnects",
                st.name, st.kind, st.state, (unsigned long long)st.packets,
                (unsigned long long)st.dropped, (unsigned long long)st.reconnects);
    }
}

int lb_pipeline_stop(lb_pipeline *p)
{
    if (!p->started)
        return 0;
    p->started = 0;
    if (p->streamer)
        log_cpu_summary();
    atomic_store(&p->stop, 1);
    lb_thread_join(&p->program_thread);
    if (p->to_encoder)
        lb_queue_close(p->to_encoder);
    lb_thread_join(&p->encoder_thread);
    for (int i = 0; i < p->nb_workers; i++) {
        lb_queue_close(p->workers[i].queue);
        lb_thread_join(&p->workers[i].thread);
    }
    lb_mic_archive_stop(p);
    lb_thread_join(&p->status_thread);
    for (int i = 0; i < p->nb_sources; i++)
        lb_source_stop(p->sources[i]);
    for (int i = 0; i < p->nb_copiers; i++) {
        lb_queue_close(p->copiers[i].queue);
        lb_thread_join(&p->copiers[i].thread);
    }
    for (int i = 0; i < p->nb_mics; i++)
        lb_mic_stop(p->mics[i]);
    if (p->streamer)
        lb_streamer_stop_live(p->streamer);
    if (p->webui && p->general.http_port)
        lb_webui_stop(p->webui);
    if (p->streamer)
        log_summary(p);
    return 0;
}

void lb_pipeline_free(lb_pipeline **pp)
{
    lb_pipeline *p = pp ? *pp : NULL;
    if (!p)
        return;
    lb_pipeline_stop(p);
    lb_webui_free(&p->webui);
    lb_streamer_free(&p->streamer);
    lb_queue_free(&p->to_encoder);
    lb_video_encoder_close(&p->venc);
    lb_audio_encoder_close(&p->aenc);
    lb_mixer_free(&p->mixer);
    lb_mic_archive_free(p);
    for (int i = 0; i < p->nb_workers; i++) {
        lb_video_encoder_close(&p->workers[i].enc);
        sws_freeContext(p->workers[i].sws);
        lb_queue_free(&p->workers[i].queue);
    }
    for (int i = 0; i < p->nb_sources; i++)
        if (p->sources[i])
            lb_source_set_packet_queue(p->sources[i], NULL);
    for (int i = 0; i < p->nb_copiers; i++) {
        lb_queue_free(&p->copiers[i].queue);
        avcodec_parameters_free(&p->copiers[i].par);
        lb_splice_encoder_free(&p->copiers[i].slate);
    }
    pthread_cond_destroy(&p->workers_cond);
    pthread_mutex_destroy(&p->workers_lock);
    lb_compositor_free(&p->compositor);
    lb_director_free(&p->director);
    for (int i = 0; i < p->nb_sources; i++) {
        lb_source_free(&p->sources[i]);
        av_frame_free(&p->latest[i]);
    }
    for (int i = 0; i < p->nb_mics; i++)
        lb_mic_free(&p->mics[i]);
    av_frame_free(&p->latest_program);
    av_buffer_pool_uninit(&p->frame_pool);
    lb_lesson_finish(&p->lesson, 0, 0);
    pthread_mutex_destroy(&p->lock);
    free(p);
    *pp = NULL;
}
