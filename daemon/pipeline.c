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
#include "scheduler.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libswscale/swscale.h>

#include <libavutil/imgutils.h>
#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "service.h"

#define OFF(x) offsetof(lb_general_settings, x)
#define STR(x) OFF(x), sizeof(((lb_general_settings *)0)->x)

const lb_option lb_general_options[] = {
    { "data_dir", LB_OPT_STRING, STR(data_dir), "recordings", 0, 0, NULL, "where lessons are recorded" },
    { "http_port", LB_OPT_INT, OFF(http_port), 0, "8080", 0, 65535, NULL, "web UI and API port (0: none)" },
    { "width", LB_OPT_INT, OFF(width), 0, "1920", 160, 7680, NULL, "program width" },
    { "height", LB_OPT_INT, OFF(height), 0, "1080", 90, 4320, NULL, "program height" },
    { "fps", LB_OPT_INT, OFF(fps), 0, "30", 1, 120, NULL, "program frame rate" },
    { "log_level", LB_OPT_STRING, STR(log_level), "info", 0, 0, NULL, "error, warn, info or debug" },
    { "sync_delay_ms", LB_OPT_INT, OFF(sync_delay_ms), 0, "60", 0, 2000, NULL, "realtime: how far the program runs behind capture (with sync_delay_auto: at most)" },
    { "sync_delay_auto", LB_OPT_BOOL, OFF(sync_delay_auto), 0, "false", 0, 0, NULL, "realtime: run only as far behind capture as the cameras' frames and the mics' sound take to arrive (measured, plus 10 ms), at most sync_delay_ms; false: always sync_delay_ms" },
    { "max_lag_ms", LB_OPT_INT, OFF(max_lag_ms), 0, "1000", 0, 60000, NULL, "realtime: further behind than this, the program catches up to the frame due now, the ticks between repeating the last picture (0: never, make every late frame)" },
    { "overload_recover_s", LB_OPT_INT, OFF(overload_recover_s), 0, "10", 1, 600, NULL, "realtime: on time this long after an overload, a shedding step is undone and memory given back" },
    { "resume_window_s", LB_OPT_INT, OFF(resume_window_s), 0, "600", 0, 604800, NULL, "a lesson interrupted by a crash, a kill or a power cut (not stopped) that was last written less than this long ago, or finished by a service stop or a reboot (SIGTERM, SIGINT) less than this long ago, is resumed into its own folder at the next start, its outage shown as a slate (s; 0: never resume: an interrupted lesson is marked interrupted, a shut-down one stays complete)" },
    { "www_dir", LB_OPT_STRING, STR(www_dir), NULL, 0, 0, NULL, "web UI files (default: the installed ones)" },
    { "school", LB_OPT_STRING, STR(school), NULL, 0, 0, NULL, "the school, for every lesson's metadata (lesson.json, episode.xml)" },
    { "hall", LB_OPT_STRING, STR(hall), NULL, 0, 0, NULL, "this hall's name, for every lesson's metadata (episode.xml's spatial)" },
    { "language", LB_OPT_STRING, STR(language), NULL, 0, 0, NULL, "the lessons' language as a BCP 47 tag, e.g. zh-CN (episode.xml's language; empty: not said)" },
    { NULL },
};

typedef struct worker_item {
    AVFrame *frame;             /* NULL: the last picture again, at pts */
    int64_t pts;
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

void lb_program_item_free(void *opaque)
{
    lb_program_item *it = opaque;
    if (!it)
        return;
    av_frame_free(&it->video);
    free(it->audio);
    free(it);
}

int lb_program_item_push(lb_pipeline *p, lb_program_item *it)
{
    if (lb_queue_push(p->to_encoder, it, -1) < 0) {
        lb_program_item_free(it);
        return AVERROR_EXIT;
    }
    return 0;
}

const lb_general_settings *lb_pipeline_general(const lb_pipeline *p) { return &p->general; }

static int fail_with(char *err, size_t err_size, const char *msg)
{
    snprintf(err, err_size, "%s", msg);
    return AVERROR(EINVAL);
}

/* /live/ follows the first HLS output, else the default one's folder. */
static void live_dir_of(const lb_pipeline *p, char *dir, size_t size)
{
    if (lb_streamer_live_dir(p->streamer))
        snprintf(dir, size, "%s", lb_streamer_live_dir(p->streamer));
    else
        snprintf(dir, size, "%s/.live", p->general.data_dir);
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
    pthread_mutex_init(&p->faders_lock, NULL);
    pthread_mutex_init(&p->faders_io_lock, NULL);
    pthread_cond_init(&p->faders_cond, NULL);
    pthread_cond_init(&p->workers_cond, NULL);
    p->params = *params;
    p->lc = LB_LIFECYCLE_INIT;

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
    /* a lesson's metadata: the same checks as the API's */
    static const struct { const char *key; size_t off, size; } meta_keys[] = {
        { "school", offsetof(lb_general_settings, school), sizeof(((lb_lesson_meta *)0)->school) },
        { "hall", offsetof(lb_general_settings, hall), sizeof(((lb_lesson_meta *)0)->hall) },
        { "language", offsetof(lb_general_settings, language), sizeof(((lb_lesson_meta *)0)->language) },
    };
    for (size_t i = 0; i < sizeof meta_keys / sizeof meta_keys[0]; i++) {
        char why[128];
        if (lb_meta_check_text((const char *)&p->general + meta_keys[i].off, meta_keys[i].size - 1, 0,
                               why, sizeof why) < 0) {
            lb_config_error(lb_config_find(cfg, "general"), meta_keys[i].key, err, err_size, "%s", why);
            ret = AVERROR(EINVAL);
            goto fail;
        }
    }
    if (!p->general.data_dir[0]) {
        lb_config_error(lb_config_find(cfg, "general"), "data_dir", err, err_size,
                        "must not be empty (the folder where lessons are recorded)");
        ret = AVERROR(EINVAL);
        goto fail;
    }
    if (p->general.width % 2 || p->general.height % 2) {
        lb_config_error(lb_config_find(cfg, "general"), "width", err, err_size,
                        "program size %dx%d: width and height must be even",
                        p->general.width, p->general.height);
        ret = AVERROR(EINVAL);
        goto fail;
    }
    p->fps_num = p->general.fps;
    p->fps_den = 1;
    atomic_init(&p->sync_delay_us, (int64_t)p->general.sync_delay_ms * 1000);

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
    lb_clock_trace("epoch", 0, p->capture.epoch_us);
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
    p->inset_sub_source = -1;
    for (int i = 0; i < p->nb_sources; i++)
        lb_source_set_sub_stream_drawn(p->sources[i], lb_compositor_draws_sub_streams(p->compositor));
    p->log_header = lb_recut_log_header(p, cfg);    /* a log without it is still a log */
    if ((ret = lb_streamer_create(&p->streamer, cfg, err, err_size)) < 0)
        goto fail;

    /* without an HLS output /live/ is still the default one's folder: a
     * reload may add it */
    char live_dir[sizeof p->general.data_dir + 8];
    live_dir_of(p, live_dir, sizeof live_dir);
    lb_webui_params wp = {
        .cfg = cfg, .data_dir = p->general.data_dir,
        .www_dir = *p->general.www_dir ? p->general.www_dir : lb_default_www_dir(),
        .live_dir = live_dir, .ops = &lb_pipeline_control_ops, .opaque = p,
    };
    /* created (and [auth] checked) even when http_port = 0 turns it off */
    if ((ret = lb_webui_create(&p->webui, &wp, err, err_size)) < 0)
        goto fail;

    if ((ret = lb_health_feed_create(p, lb_config_find(cfg, "health"), lb_config_find(cfg, "alerts"),
                                     err, err_size)) < 0)
        goto fail;
    if ((ret = lb_pipeline_scheduler_create(p, cfg, err, err_size)) < 0)
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

static void *encoder_thread(void *arg)
{
    lb_pipeline *p = arg;
    int recording = 0;
    for (;;) {
        void *item_ptr;
        if (lb_queue_pop(p->to_encoder, &item_ptr, -1) < 0)
            break;
        lb_program_item *it = item_ptr;
        int ret = 0;
        if (it->start_recording)
            recording = 1;
        if (it->audio && (ret = lb_audio_encoder_encode(p->aenc, it->audio, it->nb_audio,
                                                        it->audio_pts_us, program_audio_sink, p)) < 0)
            LB_LOGE("pipeline", "audio encoding failed: %s", av_err2str(ret));
        int flags = (it->start_recording ? LB_ENCODE_FORCE_IDR : 0) | (it->repeat ? LB_ENCODE_REPEAT : 0);
        if (it->video && (ret = lb_video_encoder_encode(p->venc, it->video, flags, program_video_sink, p)) < 0)
            LB_LOGE("pipeline", "video encoding failed: %s", av_err2str(ret));
        pthread_mutex_lock(&p->workers_lock);
        p->encoded_frames = it->seq + 1;
        pthread_cond_broadcast(&p->workers_cond);
        pthread_mutex_unlock(&p->workers_lock);
        if (it->stop_recording && recording) {
            lb_lifecycle_finish_at(p, it->seq);
            recording = 0;
        }
        lb_program_item_free(it);
    }
    /* end of the program: the encoders' last packets belong to the recording */
    lb_video_encoder_encode(p->venc, NULL, 0, program_video_sink, p);
    lb_audio_encoder_encode(p->aenc, NULL, 0, 0, program_audio_sink, p);
    if (recording)
        lb_lifecycle_finish_at_end(p);
    return NULL;
}

/* Scales src into a new frame of the worker's size (letterboxed to keep the
 * picture's shape). */
static AVFrame *scale_for(encode_worker *w, const AVFrame *src)
{
    AVFrame *dst = av_frame_alloc();
    if (!dst)
        return NULL;
    if (lb_frame_pool_get(&w->scaled, dst, w->width, w->height) < 0)
        goto fail;
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
    if (!w->sws)
        goto fail;
    uint8_t *planes[4];
    for (int pl = 0; pl < 3; pl++)
        planes[pl] = dst->data[pl] + (y >> (pl ? 1 : 0)) * dst->linesize[pl] + (x >> (pl ? 1 : 0));
    sws_scale(w->sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
              planes, dst->linesize);
    return dst;
fail:
    av_frame_free(&dst);
    return NULL;
}

/* A rendition or ISO encode: scale to its size and encode; a repeated
 * picture (the program behind real time) reuses the last one scaled. */
static void *worker_thread(void *arg)
{
    encode_worker *w = arg;
    AVFrame *last = NULL;
    for (;;) {
        void *item_ptr;
        if (lb_queue_pop(w->queue, &item_ptr, -1) < 0)
            break;
        worker_item *it = item_ptr;
        int ret = 0;
        AVFrame *dst = it->frame ? scale_for(w, it->frame) : last ? av_frame_clone(last) : NULL;
        if (dst) {
            dst->pts = it->frame ? it->frame->pts : it->pts;
            ret = lb_video_encoder_encode(w->enc, dst, (it->force_idr ? LB_ENCODE_FORCE_IDR : 0) |
                                                       (it->frame ? 0 : LB_ENCODE_REPEAT), worker_sink, w);
            if (it->frame) {
                av_frame_free(&last);
                last = av_frame_clone(dst);
            }
        } else if (it->frame) {
            ret = AVERROR(ENOMEM);
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
    av_frame_free(&last);
    lb_video_encoder_encode(w->enc, NULL, 0, worker_sink, w);
    pthread_mutex_lock(&w->p->workers_lock);
    pthread_cond_broadcast(&w->p->workers_cond);
    pthread_mutex_unlock(&w->p->workers_lock);
    return NULL;
}

/* ---- the program thread ---- */

/* Program frames come from a pool: at 1080p a fresh 3 MB buffer per frame
 * would cost page faults on every tick. */
static AVFrame *new_program_frame(lb_pipeline *p)
{
    AVFrame *f = av_frame_alloc();
    if (f && lb_frame_pool_get(&p->program_frames, f, p->general.width, p->general.height) < 0)
        av_frame_free(&f);
    if (f)
        lb_compositor_frame_setup(f, p->general.width, p->general.height);
    return f;
}

static void fill_black_frame(AVFrame *f)
{
    for (int pl = 0; pl < 3; pl++)
        memset(f->data[pl], pl ? 128 : 16, (size_t)f->linesize[pl] * (size_t)(pl ? f->height / 2 : f->height));
}

/* How long start-up waits for compressed cameras to tell their codec. */
#define CODEC_WAIT_US 3000000

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
/* The shot's inset (the second camera of a picture in picture) drawn from
 * the camera's sub-stream: one decoded in full that gives pictures of the
 * camera's view at least the inset's size ([director] pip_sub_stream).  Its
 * main stream need not be decoded then: a 1080p camera decoded in full
 * holds 8 pictures and their motion tables (30 MB) and takes a sixth of a
 * core, for a picture a quarter of the program's width.  Once drawn from
 * its sub-stream, an inset stays so until it would be enlarged by more than
 * a tenth: a virtual camera zooming about the threshold would otherwise
 * close and reopen the main decoder tick after tick. */
/* Camera i's sub-stream picture of this tick, decoded in full, or NULL
 * (no sub-stream, or one not giving pictures: analysis_frames). */
static AVFrame *full_sub(int i, AVFrame *const *seen, AVFrame *const *sub)
{
    return seen[i] && seen[i] == sub[i] && !is_partial(sub[i]) ? sub[i] : NULL;
}

static int inset_from_sub(const lb_pipeline *p, const lb_shot *shot, AVFrame *const *valid,
                          AVFrame *const *seen, AVFrame *const *sub)
{
    if (shot->layout != LB_LAYOUT_PIP || shot->nb_sources < 2)
        return 0;
    int i = shot->sources[1];
    return full_sub(i, seen, sub) &&
           lb_compositor_inset_fits(p->compositor, shot, p->general.width, p->general.height, sub[i],
                                    valid[i], p->inset_sub_source == i ? 0.9 : 1.0);
}

/* The shot shows camera i from its main stream. */
static int shows_main(const lb_shot *shot, int i, int inset_sub)
{
    return shows(shot, i) && !(inset_sub && shot->sources[1] == i);
}

/* Camera i is the shot's inset: its sub-stream is then decoded in full
 * (LB_WATCH_INSET) whether or not it fits, so that it is ready the moment
 * it does. */
static int is_inset(const lb_pipeline *p, const lb_shot *shot, int i)
{
    return shot->layout == LB_LAYOUT_PIP && shot->nb_sources > 1 && shot->sources[1] == i &&
           lb_compositor_draws_sub_streams(p->compositor);
}

static int take_shot(lb_pipeline *p, int64_t t, int decided, const lb_shot *shot,
                     AVFrame *const *valid, AVFrame *const *seen, AVFrame *const *sub, lb_shot *air,
                     int *air_inset_sub)
{
    if (decided && !p->shot_waiting) {
        p->shot_waiting = 1;
        p->shot_wait_since_us = t;
    }
    int shot_sub = inset_from_sub(p, shot, valid, seen, sub);
    int ready = 1;
    for (int k = 0; k < shot->nb_sources; k++)
        ready &= !is_partial((k == 1 && shot_sub ? sub : valid)[shot->sources[k]]);
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
    int air_sub = *air_inset_sub = inset_from_sub(p, air, valid, seen, sub);
    int director = lb_director_get_mode(p->director) == LB_DIRECTOR_AUTO ? LB_WATCH_DIRECTOR : 0;
    int64_t now = lb_clock_now();
    for (int i = 0; i < p->nb_sources; i++) {
        int inset = is_inset(p, air, i) || is_inset(p, shot, i);
        lb_source_set_on_air(p->sources[i], none_yet || shows_main(air, i, air_sub) ||
                                            shows_main(shot, i, shot_sub) || p->source_needs_frames[i],
                             director | (inset ? LB_WATCH_INSET : 0) |
                             (now < atomic_load(&p->preview_until_us[i]) &&
                              atomic_load(&p->shed_level) < LB_SHED_PREVIEWS ? LB_WATCH_PREVIEW : 0),
                             t);
    }
    return changed;
}

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
                             (*w == ANALYSIS_STARTING && t >= LB_SUB_STREAM_GRACE_US)))
            LB_LOGW("pipeline", "source %s: its sub-stream gives no picture: the director "
                    "analyses the main stream, decoded in full", lb_source_name(p->sources[i]));
        if (ret >= 0)
            *w = ANALYSIS_ON_SUB;
        else if (*w == ANALYSIS_ON_SUB || t >= LB_SUB_STREAM_GRACE_US)
            *w = ANALYSIS_ON_MAIN;
    }
}

/* Renditions take the program frame, ISO encodes their camera's; a lesson's
 * first frame is a key frame in every one of them.  out NULL: the tick
 * repeats the last picture, and every worker its last one. */
static void feed_workers(lb_pipeline *p, int64_t n, int64_t t, AVFrame *out, AVFrame *const *valid,
                         int start_recording)
{
    for (int i = 0; i < p->nb_workers; i++) {
        encode_worker *w = &p->workers[i];
        AVFrame *src = w->source < 0 ? out : valid[w->source];
        worker_item *wi = calloc(1, sizeof *wi);
        if (wi && !out) {
            wi->pts = t;
        } else if (!wi || !src || !(wi->frame = av_frame_clone(src))) {
            /* an ISO camera with no picture at all yet: black at its size */
            if (wi && !wi->frame && (wi->frame = new_program_frame(p))) {
                fill_black_frame(wi->frame);
            }
            if (!wi || !wi->frame) {
                free_worker_item(wi);
                continue;
            }
        }
        if (wi->frame)
            wi->frame->pts = t;
        wi->seq = n;
        wi->force_idr = start_recording;
        if (lb_queue_push(w->queue, wi, -1) < 0)
            free_worker_item(wi);
    }
}

/* What the tick made, for the API, the meters and the console's previews
 * (preview NULL: the tick repeated the last picture). */
static void share_tick(lb_pipeline *p, int64_t t, const lb_shot *air,
                       const lb_mixer_levels *mixed, AVFrame *const *preview, const AVFrame *out)
{
    pthread_mutex_lock(&p->lock);
    p->shot = *air;
    p->program_time_us = t;
    for (int m = 0; m < p->nb_mics; m++)      /* the meters: what goes into the mix */
        p->mic_dbfs[m] = mixed->in_dbfs[m];
    p->mix_levels = *mixed;
    p->program_dbfs = mixed->out_dbfs;
    if (!preview) {                     /* the last picture repeated: nothing new to show */
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->frames_composed++;
    for (int i = 0; i < p->nb_sources; i++) {
        av_frame_free(&p->latest[i]);
        p->latest[i] = preview[i] ? av_frame_clone(preview[i]) : NULL;
    }
    av_frame_free(&p->latest_program);
    p->latest_program = av_frame_clone(out);
    pthread_mutex_unlock(&p->lock);
}

static void *program_thread(void *arg)
{
    lb_pipeline *p = arg;
    AVFrame *frames[LB_MAX_SOURCES] = { 0 };
    AVFrame *sub_frames[LB_MAX_SOURCES] = { 0 };
    lb_program_sound *sound = NULL;
    int64_t duration_us = (int64_t)(p->params.duration_s * 1000000 + 0.5);
    int64_t total_frames = duration_us ? av_rescale(duration_us, p->fps_num, 1000000LL * p->fps_den) : -1;
    int64_t next_sent = 0;          /* number of the frame after the last one sent on */
    lb_shot air = { 0 };            /* what the program shows: nothing yet */
    AVFrame *last_out = NULL;       /* the last composed picture (daemon/overload.c) */

    if (lb_program_sound_alloc(p, &sound) < 0)
        goto end;
    for (int i = 0; i < p->nb_sources; i++)
        if (!(frames[i] = av_frame_alloc()) || !(sub_frames[i] = av_frame_alloc()))
            goto end;

    for (int64_t n = 0; !atomic_load(&p->stop); n++) {
        lb_service_heartbeat();
        if (lb_lifecycle_duration_reached(p, n, total_frames))
            break;
        int64_t t = lb_pipeline_tick_us(p, n);
        /* behind real time: the last picture stands for this tick */
        int repeat = !p->params.offline && lb_overload_pace(p, n, last_out != NULL);
        int live_sources = 0;
        for (int i = 0; i < p->nb_sources && !repeat; i++) {
            av_frame_unref(frames[i]);
            int ret = lb_source_frame_at(p->sources[i], t, frames[i]);
            if (ret >= 0 || (ret == AVERROR_EOF && frames[i]->buf[0]))
                live_sources += ret >= 0;
            if (frames[i]->buf[0])
                lb_clock_trace("src", t, frames[i]->pts);
        }
        lb_clock_trace("tick", t, 0);
        if (p->params.offline && !live_sources && total_frames < 0) {
            LB_LOGI("pipeline", "every source has ended");
            break;
        }

        const lb_mixer_levels *mixed = lb_program_sound_read(sound, n);
        double levels[LB_MAX_MICS];
        /* the director hears the mics as they are, whatever the operator's
         * faders do to the mix (its thresholds are set for the room) */
        for (int m = 0; m < p->nb_mics; m++)
            levels[m] = mixed->raw_dbfs[m];

        AVFrame *valid[LB_MAX_SOURCES], *seen[LB_MAX_SOURCES], *preview[LB_MAX_SOURCES];
        for (int i = 0; i < p->nb_sources; i++)
            valid[i] = frames[i]->buf[0] ? frames[i] : NULL;
        int changed = 0, has_chapter = 0, inset_sub = 0;
        char chapter[128];
        if (!repeat) {
            analysis_frames(p, t, valid, sub_frames, seen, preview);
            lb_shot shot;
            int decided = lb_director_update(p->director, t, seen, levels, &shot);
            changed = take_shot(p, t, decided, &shot, valid, seen, sub_frames, &air, &inset_sub);
            has_chapter = lb_director_next_chapter(p->director, chapter, sizeof chapter);
        }

        AVFrame *out = repeat ? av_frame_clone(last_out) : new_program_frame(p);
        lb_program_item *it = calloc(1, sizeof *it);
        if (!out || !it) {
            av_frame_free(&out);
            lb_program_item_free(it);
            LB_LOGE("pipeline", "out of memory");
            break;
        }
        if (!repeat) {
            /* the inset from the sub-stream, or while the main stream
             * catches up from its key frame (a zoom past the sub-stream's
             * size) */
            AVFrame *drawn[LB_MAX_SOURCES];
            memcpy(drawn, valid, sizeof(AVFrame *) * (size_t)p->nb_sources);
            int k = air.sources[1];
            AVFrame *inset = is_inset(p, &air, k) ? full_sub(k, seen, sub_frames) : NULL;
            if (inset && (inset_sub || is_partial(valid[k])))
                drawn[k] = inset;
            p->inset_sub_source = inset_sub ? k : -1;
            lb_compositor_compose(p->compositor, &air, drawn, out);
            av_frame_free(&last_out);
            last_out = av_frame_clone(out);
        }
        out->pts = t;
        lb_clock_trace("composed", t, 0);

        share_tick(p, t, &air, mixed, repeat ? NULL : preview, out);

        if (changed)
            lb_status_decision(p, &air, t);     /* the console's tally follows at once */
        lb_lifecycle_tick_info tick = { .t_us = t, .next_sent = next_sent, .shot_changed = changed,
                                        .air = &air, .chapter = has_chapter ? chapter : NULL };
        lb_lifecycle_tick(p, &tick);
        feed_workers(p, n, t, repeat ? NULL : out, valid, tick.start);

        it->seq = n;
        it->video = out;
        it->repeat = repeat;
        if (lb_program_sound_send(sound, n, it, tick.start, tick.stop) < 0)
            break;
        next_sent = n + 1;
    }
    if (sound)
        lb_program_sound_flush(sound);
end:
    av_frame_free(&last_out);
    for (int i = 0; i < p->nb_sources; i++) {
        av_frame_free(&frames[i]);
        av_frame_free(&sub_frames[i]);
    }
    lb_program_sound_free(&sound);
    lb_lifecycle_shutdown(p, atomic_load(&p->stop), atomic_load(&p->stop) ? "shutdown" : "the program ended");
    lb_queue_close(p->to_encoder);
    atomic_store(&p->finished, 1);
    if (!atomic_load(&p->stop))         /* not stopped for a restart: the run is over */
        lb_shutdown_request(NULL);
    return NULL;
}

/* A rendition or an ISO encode runs in its own worker thread, beside the
 * program's: the encoders already work in parallel, and x264's sliced
 * threads (zerolatency) would only add each thread's buffers (about 35 MB
 * RSS with a 720p rendition, docs/ARCHITECTURE.md) to halve a frame's wall
 * time nobody waits for.  The program keeps x264's choice: its frame's
 * time is the live outputs' latency.  [encoder] threads set by hand is
 * every encoder's. */
static int worker_threads(const lb_pipeline *p)
{
    return p->encoder.threads ? p->encoder.threads : 1;
}

static void queue_repaired(void *opaque, const char *dir)
{
    lb_pipeline *p = opaque;
    lb_streamer_lesson_done(p->streamer, dir);
}

static void queue_shut_down(void *opaque, const char *dir)
{
    lb_pipeline *p = opaque;
    if (lb_streamer_lesson_done(p->streamer, dir) > 0)
        p->shut_down_queued++;
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
    /* a lesson left recording is resumed (the archive starts at the first
     * tick) or repaired; a lesson a crash left behind goes to the platform
     * like any other */
    int resume = lb_resume_prepare(p);
    int repaired = lb_lesson_repair_each_except(p->general.data_dir, resume ? p->resume_dir : NULL,
                                                p->webui_adopted ? LB_REPAIR_KEEP_TEMPS : 0,
                                                queue_repaired, p);
    if (repaired > 0)
        LB_LOGW("pipeline", "repaired %d lesson(s) left unfinished by a crash", repaired);
    /* a lesson a shutdown finished and this start did not resume is over:
     * to the platform now (its end did not queue it) */
    p->shut_down_queued = 0;
    lb_lesson_each_shut_down(p->general.data_dir, resume ? p->resume_dir : NULL, queue_shut_down, p);
    if (p->shut_down_queued > 0)
        LB_LOGI("pipeline", "%d lesson(s) a shutdown finished and not resumed: queued for upload",
                p->shut_down_queued);

    if ((ret = lb_video_encoder_open(&p->venc, &(lb_video_encoder_params){
             .settings = &p->encoder, .width = p->general.width, .height = p->general.height,
             .fps_num = p->fps_num, .fps_den = p->fps_den,
             .stream_index = 0, .name = "program" }, err, err_size)) < 0)
        return ret;
    if ((ret = lb_audio_encoder_open(&p->aenc, p->encoder.audio_bitrate_kbps, err, err_size)) < 0 ||
        (ret = lb_mixer_create(&p->mixer, &p->encoder, p->nb_mics)) < 0)
        return ret;
    int64_t keyint_us = (int64_t)(p->encoder.keyint_s * 1e6 + 0.5);
    p->streams[0] = (lb_stream_desc){ LB_STREAM_PROGRAM_VIDEO, "program", lb_video_encoder_codecpar(p->venc),
                                      keyint_us };
    p->streams[1] = (lb_stream_desc){ LB_STREAM_PROGRAM_AUDIO, "audio", lb_audio_encoder_codecpar(p->aenc),
                                      0 };
    p->nb_streams = 2;

    lb_rendition ladder[LB_MAX_RENDITIONS];
    int nb_renditions = 0;
    if ((ret = lb_encoder_renditions(&p->encoder, NULL, ladder, &nb_renditions, err, err_size)) < 0)
        return ret;
    for (int i = 0; i < nb_renditions; i++) {
        encode_worker *w = &p->workers[p->nb_workers];
        snprintf(w->name, sizeof w->name, "%dp", ladder[i].height);
        lb_encoder_settings rs = p->encoder;
        rs.threads = worker_threads(p);
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
                                                        lb_video_encoder_codecpar(w->enc), keyint_us };
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
            if ((ret = lb_iso_copy_add(p, i, par)) < 0)
                return ret;
        } else if (p->encoder.iso) {
            encode_worker *w = &p->workers[p->nb_workers];
            lb_encoder_settings is = p->encoder;
            is.threads = worker_threads(p);
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
                                                            lb_video_encoder_codecpar(w->enc), keyint_us };
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

    /* 4 ticks: realtime a tick is a picture and, apart, a sound */
    lb_queue_params qp = { .name = "program->encoder", .capacity = p->params.offline ? 4 : 8,
                           .policy = LB_QUEUE_BLOCK, .free_item = lb_program_item_free };
    if (!(p->to_encoder = lb_queue_alloc(&qp)))
        return AVERROR(ENOMEM);
    if ((ret = lb_streamer_start_live(p->streamer, p->streams, p->nb_streams)) < 0) {
        snprintf(err, err_size, "cannot start the live outputs: %s", av_err2str(ret));
        return ret;
    }
    if (p->webui_adopted) {
        /* the web UI ran on through the restart: from now on it is ours */
        if ((ret = lb_webui_set_control(p->webui, &lb_pipeline_control_ops, p)) < 0) {
            snprintf(err, err_size, "the web UI kept through the restart does not answer");
            return ret;
        }
    } else if (p->general.http_port && (ret = lb_webui_start(p->webui, err, err_size)) < 0) {
        return ret;
    }

    if (resume)
        lb_resume_request(p);
    if (p->params.record) {
        lb_lifecycle_request_record(p, p->params.title);
    }
    for (int i = 0; i < p->nb_workers; i++) {
        char tname[16];
        snprintf(tname, sizeof tname, "enc-%s", p->workers[i].name);
        if ((ret = lb_thread_start(&p->workers[i].thread, tname, worker_thread, &p->workers[i])) < 0)
            return ret;
    }
    if ((ret = lb_iso_copy_start(p)) < 0)
        return ret;
    if ((ret = lb_mic_archive_start(p)) < 0)
        return ret;
    if ((ret = lb_thread_start(&p->encoder_thread, "lb-encode", encoder_thread, p)) < 0 ||
        (ret = lb_thread_start(&p->program_thread, "lb-program", program_thread, p)) < 0)
        return ret;
    if ((ret = lb_status_start(p)) < 0 || (ret = lb_health_feed_start(p)) < 0 ||
        (ret = lb_scheduler_start(p->scheduler)) < 0)
        return ret;
    return 0;
}

int lb_pipeline_wait(lb_pipeline *p)
{
    while (!lb_shutdown_wait(200000))
        if (atomic_load(&p->restart))
            return 1;
    return 0;
}

void lb_pipeline_reload(lb_pipeline *p, const char *why)
{
    lb_lifecycle_event(p, LB_EV_RELOAD, why, NULL, NULL, 0);
}

static void update_live_dir(lb_pipeline *p)
{
    char dir[sizeof p->general.data_dir + 8];
    live_dir_of(p, dir, sizeof dir);
    lb_webui_set_live_dir(p->webui, dir);
}

int lb_pipeline_add_output(lb_pipeline *p, const lb_config *cfg, const char *name,
                           char *err, size_t err_size)
{
    int ret = lb_streamer_add_output(p->streamer, cfg, name, err, err_size);
    update_live_dir(p);
    return ret;
}

int lb_pipeline_remove_output(lb_pipeline *p, const char *name)
{
    int ret = lb_streamer_remove_output(p->streamer, name);
    update_live_dir(p);
    return ret;
}

int lb_pipeline_reconfigure_director(lb_pipeline *p, const lb_config *cfg, char *err,
                                     size_t err_size)
{
    return lb_director_reconfigure(p->director, lb_config_find(cfg, "director"), err, err_size);
}

int lb_pipeline_reconfigure_webui(lb_pipeline *p, const lb_config *cfg, char *err,
                                  size_t err_size)
{
    return lb_webui_reconfigure(p->webui, cfg, err, err_size);
}

lb_webui *lb_pipeline_take_webui(lb_pipeline *p)
{
    if (!p->webui || p->webui_taken || !lb_webui_started(p->webui))
        return NULL;
    /* no call into p once this returns; its threads may still publish
     * their last events, which is harmless */
    if (lb_webui_set_control(p->webui, NULL, NULL) < 0) {
        LB_LOGW("pipeline", "the web UI does not answer: it is made anew with the pipeline");
        return NULL;
    }
    p->webui_taken = 1;
    return p->webui;
}

lb_webui *lb_pipeline_webui(lb_pipeline *p)
{
    return p->webui_taken ? NULL : p->webui;
}

int lb_pipeline_adopt_webui(lb_pipeline *p, lb_webui **w, const lb_config *cfg, char *err,
                            size_t err_size)
{
    lb_webui_free(&p->webui);           /* made only to check the keys */
    p->webui = *w;
    *w = NULL;
    p->webui_adopted = 1;
    update_live_dir(p);
    return lb_webui_reconfigure(p->webui, cfg, err, err_size);
}

void lb_pipeline_set_reload_status(lb_pipeline *p, const char *json)
{
    pthread_mutex_lock(&p->lock);
    snprintf(p->reload_status, sizeof p->reload_status, "%s", json);
    pthread_mutex_unlock(&p->lock);
    atomic_store(&p->status_dirty, 1);
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
    LB_LOGI("summary", "program: %llu frames composed, %llu late, %llu skipped to stay live "
            "(the last picture repeated)",
            (unsigned long long)p->frames_composed, (unsigned long long)p->frames_late,
            (unsigned long long)p->frames_skipped);
    if (!p->params.offline)
        LB_LOGI("summary", "program: %.0f ms behind capture at the end (sync_delay_ms %d%s)",
                atomic_load(&p->sync_delay_us) / 1e3, p->general.sync_delay_ms,
                p->general.sync_delay_auto ? ", sync_delay_auto: measured" : "");
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
    lb_scheduler_stop(p->scheduler);    /* no timetable event into a pipeline on its way out */
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
    lb_status_stop(p);
    lb_health_feed_stop(p);
    for (int i = 0; i < p->nb_sources; i++)
        lb_source_stop(p->sources[i]);
    lb_iso_copy_stop(p);
    for (int i = 0; i < p->nb_mics; i++)
        lb_mic_stop(p->mics[i]);
    if (p->streamer)
        lb_streamer_stop_live(p->streamer);
    if (p->webui && !p->webui_taken)
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
    if (!p->webui_taken)
        lb_webui_free(&p->webui);
    lb_faders_stop(p);
    lb_health_feed_free(p);
    lb_scheduler_free(&p->scheduler);
    lb_streamer_free(&p->streamer);
    lb_queue_free(&p->to_encoder);
    lb_video_encoder_close(&p->venc);
    lb_audio_encoder_close(&p->aenc);
    lb_mixer_free(&p->mixer);
    lb_mic_archive_free(p);
    for (int i = 0; i < p->nb_workers; i++) {
        lb_video_encoder_close(&p->workers[i].enc);
        sws_freeContext(p->workers[i].sws);
        lb_frame_pool_uninit(&p->workers[i].scaled);
        lb_queue_free(&p->workers[i].queue);
    }
    lb_iso_copy_free(p);
    pthread_cond_destroy(&p->workers_cond);
    pthread_mutex_destroy(&p->workers_lock);
    pthread_mutex_destroy(&p->faders_lock);
    pthread_mutex_destroy(&p->faders_io_lock);
    pthread_cond_destroy(&p->faders_cond);
    lb_compositor_free(&p->compositor);
    lb_director_free(&p->director);
    free(p->log_header);
    for (int i = 0; i < p->nb_sources; i++) {
        lb_source_free(&p->sources[i]);
        av_frame_free(&p->latest[i]);
    }
    for (int i = 0; i < p->nb_mics; i++)
        lb_mic_free(&p->mics[i]);
    av_frame_free(&p->latest_program);
    lb_frame_pool_uninit(&p->program_frames);
    lb_lesson_finish(&p->lesson, 0, 0);
    pthread_mutex_destroy(&p->lock);
    free(p);
    *pp = NULL;
}
