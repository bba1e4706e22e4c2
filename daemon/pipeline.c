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
#include <sys/stat.h>

#include <libavutil/imgutils.h>
#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_log.h"

#define OFF(x) offsetof(lb_general_settings, x)
#define STR(x) OFF(x), sizeof(((lb_general_settings *)0)->x)

const lb_option lb_general_options[] = {
    { "data_dir", LB_OPT_STRING, STR(data_dir), "recordings", 0, 0, NULL, "where lessons are recorded" },
    { "live_dir", LB_OPT_STRING, STR(live_dir), NULL, 0, 0, NULL, "where live HLS is written (default: DATA_DIR/../live)" },
    { "http_port", LB_OPT_INT, OFF(http_port), 0, "8080", 0, 65535, NULL, "web UI and API port (0: none)" },
    { "width", LB_OPT_INT, OFF(width), 0, "1920", 160, 7680, NULL, "program width" },
    { "height", LB_OPT_INT, OFF(height), 0, "1080", 90, 4320, NULL, "program height" },
    { "fps", LB_OPT_INT, OFF(fps), 0, "30", 1, 120, NULL, "program frame rate" },
    { "log_level", LB_OPT_STRING, STR(log_level), "info", 0, 0, NULL, "error, warn, info or debug" },
    { "sync_delay_ms", LB_OPT_INT, OFF(sync_delay_ms), 0, "60", 0, 2000, NULL, "realtime: how far the program runs behind capture" },
    { "www_dir", LB_OPT_STRING, STR(www_dir), NULL, 0, 0, NULL, "web UI files (default: the installed ones)" },
    { NULL },
};

/* An item of the encoder queue: one program frame, the audio of its
 * period, and recording commands that take effect at this frame. */
typedef struct program_item {
    AVFrame *video;
    float *audio;
    int nb_audio;
    int64_t audio_pts_us;
    int start_recording;
    int stop_recording;
    char lesson_dir[1024];
} program_item;

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
    if (!*p->general.live_dir)
        snprintf(p->general.live_dir, sizeof p->general.live_dir, "%s/../live", p->general.data_dir);
    p->fps_num = p->general.fps;
    p->fps_den = 1;

    const lb_config_section *enc = lb_config_find(cfg, "encoder");
    if ((ret = lb_config_apply(enc, lb_encoder_options, &p->encoder, err, err_size)) < 0 ||
        (ret = lb_encoder_check(&p->encoder, enc, p->general.width, p->general.height,
                                p->fps_num, p->fps_den, err, err_size)) < 0)
        goto fail;

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
        .live_dir = p->general.live_dir, .ops = &lb_pipeline_control_ops, .opaque = p,
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

static int to_streamer(void *opaque, AVPacket *pkt)
{
    lb_pipeline *p = opaque;
    /* encoders tag packets with their kind; the streamer wants table indices */
    for (int i = 0; i < p->nb_streams; i++) {
        if ((int)p->streams[i].kind == pkt->stream_index) {
            pkt->stream_index = i;
            return lb_streamer_send(p->streamer, pkt);
        }
    }
    return 0;
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
        if (it->start_recording) {
            if (lb_streamer_start_recording(p->streamer, it->lesson_dir) < 0) {
                LB_LOGE("pipeline", "cannot start the archive in %s", it->lesson_dir);
            } else {
                recording = 1;
            }
        }
        if (it->audio && (ret = lb_audio_encoder_encode(p->aenc, it->audio, it->nb_audio,
                                                        it->audio_pts_us, to_streamer, p)) < 0)
            LB_LOGE("pipeline", "audio encoding failed: %s", av_err2str(ret));
        if (it->video && (ret = lb_video_encoder_encode(p->venc, it->video, it->start_recording,
                                                        to_streamer, p)) < 0)
            LB_LOGE("pipeline", "video encoding failed: %s", av_err2str(ret));
        if (it->stop_recording && recording) {
            finish_recording(p, 1);
            recording = 0;
        }
        free_item(it);
    }
    /* end of the program: the encoders' last packets belong to the recording */
    lb_video_encoder_encode(p->venc, NULL, 0, to_streamer, p);
    lb_audio_encoder_encode(p->aenc, NULL, 0, 0, to_streamer, p);
    if (recording)
        finish_recording(p, 1);
    return NULL;
}

/* ---- the program thread ---- */

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
    if (av_frame_get_buffer(f, 0) < 0)
        av_frame_free(&f);
    return f;
}

static double dbfs(const float *s, int n)
{
    double e = 0;
    for (int i = 0; i < n; i++)
        e += (double)s[i] * s[i];
    return n ? fmax(-120, 10 * log10(e / n + 1e-12)) : -120;
}

/* Handles a start request at this tick; lock held. */
static void begin_recording(lb_pipeline *p, program_item *it, int64_t t_us)
{
    char err[512];
    lb_lesson_source srcs[LB_MAX_SOURCES];
    for (int i = 0; i < p->nb_sources; i++)
        srcs[i] = (lb_lesson_source){ .name = lb_source_name(p->sources[i]),
                                      .role = lb_source_role(p->sources[i]), .file = NULL };
    int ret = lb_lesson_create(&p->lesson, p->general.data_dir, &p->pending_info, srcs,
                               p->nb_sources, err, sizeof err);
    if (ret < 0) {
        LB_LOGE("pipeline", "cannot start a recording: %s", err);
        snprintf(p->last_error, sizeof p->last_error, "%s", err);
        p->rec_state = REC_IDLE;
        return;
    }
    snprintf(it->lesson_dir, sizeof it->lesson_dir, "%s", lb_lesson_dir(p->lesson));
    it->start_recording = 1;
    p->rec_state = REC_RECORDING;
    p->rec_start_us = t_us;
    p->rec_frames = 0;
    p->last_error[0] = 0;
    LB_LOGI("pipeline", "recording %s started", lb_lesson_id(p->lesson));
    /* the first decision of a lesson is logged even if the shot holds */
    char line[1024];
    if (lb_shot_to_json(&p->shot, 0, &p->setup, line, sizeof line) > 0)
        lb_lesson_log_decision(p->lesson, line);
}

static void *program_thread(void *arg)
{
    lb_pipeline *p = arg;
    AVFrame *frames[LB_MAX_SOURCES] = { 0 };
    float *mic_buf = NULL, *mix = NULL;
    int64_t max_samples = av_rescale(LB_AUDIO_RATE, p->fps_den, p->fps_num) + 2;
    int64_t duration_us = (int64_t)(p->params.duration_s * 1000000 + 0.5);
    int64_t total_frames = duration_us ? av_rescale(duration_us, p->fps_num, 1000000LL * p->fps_den) : -1;
    int64_t audio_pos = 0;          /* next sample index of the program audio */
    int64_t delay_us = (int64_t)p->general.sync_delay_ms * 1000;

    if (!(mic_buf = malloc(sizeof(float) * (size_t)max_samples)) ||
        !(mix = malloc(sizeof(float) * (size_t)max_samples)))
        goto end;
    for (int i = 0; i < p->nb_sources; i++)
        if (!(frames[i] = av_frame_alloc()))
            goto end;

    for (int64_t n = 0; !atomic_load(&p->stop); n++) {
        if (total_frames >= 0 && n >= total_frames)
            break;
        int64_t t = av_rescale(n, 1000000LL * p->fps_den, p->fps_num);
        int64_t t_next = av_rescale(n + 1, 1000000LL * p->fps_den, p->fps_num);
        if (!p->params.offline) {
            int64_t due = p->capture.epoch_us + t + delay_us;
            int64_t now = lb_clock_now();
            if (now < due)
                lb_clock_sleep_until(due);
            else if (now - due > 1000000 / (p->fps_num / p->fps_den) * 2)
                p->frames_late++;
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
        memset(mix, 0, sizeof(float) * (size_t)nb);
        for (int m = 0; m < p->nb_mics; m++) {
            lb_mic_read(p->mics[m], first, mic_buf, nb);
            levels[m] = dbfs(mic_buf, nb);
            for (int i = 0; i < nb; i++)
                mix[i] += mic_buf[i];
        }
        for (int i = 0; i < nb; i++)           /* keep the sum inside full scale */
            mix[i] = fmaxf(-1.0f, fminf(1.0f, mix[i]));
        audio_pos += nb;

        AVFrame *valid[LB_MAX_SOURCES];
        for (int i = 0; i < p->nb_sources; i++)
            valid[i] = frames[i]->buf[0] ? frames[i] : NULL;
        lb_shot shot;
        int changed = lb_director_update(p->director, t, valid, levels, &shot);
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
        lb_compositor_compose(p->compositor, &shot, valid, out);
        out->pts = t;
        memcpy(it->audio, mix, sizeof(float) * (size_t)nb);
        it->nb_audio = nb;
        it->audio_pts_us = av_rescale(first, 1000000, LB_AUDIO_RATE);

        pthread_mutex_lock(&p->lock);
        p->shot = shot;
        p->program_time_us = t;
        p->frames_composed++;
        for (int m = 0; m < p->nb_mics; m++)
            p->mic_dbfs[m] = levels[m];
        p->program_dbfs = dbfs(mix, nb);
        for (int i = 0; i < p->nb_sources; i++) {
            av_frame_free(&p->latest[i]);
            p->latest[i] = valid[i] ? av_frame_clone(valid[i]) : NULL;
        }
        av_frame_free(&p->latest_program);
        p->latest_program = av_frame_clone(out);
        if (p->rec_state == REC_STARTING)
            begin_recording(p, it, t);
        if (p->rec_state == REC_RECORDING) {
            p->rec_frames++;
            double t_lesson = (double)(t - p->rec_start_us) / 1000000;
            if (changed && !it->start_recording) {
                char line[1024];
                if (lb_shot_to_json(&shot, t - p->rec_start_us, &p->setup, line, sizeof line) > 0)
                    lb_lesson_log_decision(p->lesson, line);
            }
            if (has_chapter)
                lb_lesson_add_chapter(p->lesson, t_lesson, chapter);
        }
        if (p->rec_state == REC_STOPPING) {
            it->stop_recording = 1;
            p->rec_state = REC_IDLE;     /* the encoder thread finishes the lesson */
        }
        pthread_mutex_unlock(&p->lock);

        it->video = out;
        if (lb_queue_push(p->to_encoder, it, -1) < 0) {
            free_item(it);
            break;
        }
    }
end:
    for (int i = 0; i < p->nb_sources; i++)
        av_frame_free(&frames[i]);
    free(mic_buf);
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
        size_t n = (size_t)snprintf(meters, sizeof meters, "{\"type\":\"meters\",\"program\":%.1f,\"mics\":{",
                                    p->program_dbfs);
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
             .stream_index = LB_STREAM_PROGRAM_VIDEO, .name = "program" }, err, err_size)) < 0)
        return ret;
    if ((ret = lb_audio_encoder_open(&p->aenc, p->encoder.audio_bitrate_kbps, err, err_size)) < 0)
        return ret;
    p->streams[0] = (lb_stream_desc){ LB_STREAM_PROGRAM_VIDEO, "program", lb_video_encoder_codecpar(p->venc) };
    p->streams[1] = (lb_stream_desc){ LB_STREAM_PROGRAM_AUDIO, "audio", lb_audio_encoder_codecpar(p->aenc) };
    p->nb_streams = 2;

    lb_queue_params qp = { .name = "program->encoder", .capacity = 8, .policy = LB_QUEUE_BLOCK,
                           .free_item = free_item };
    if (!(p->to_encoder = lb_queue_alloc(&qp)))
        return AVERROR(ENOMEM);
    if ((ret = lb_streamer_start_live(p->streamer, p->streams, p->nb_streams)) < 0) {
        snprintf(err, err_size, "cannot start the live outputs: %s", av_err2str(ret));
        return ret;
    }
    if (p->general.http_port && (ret = lb_webui_start(p->webui, err, err_size)) < 0)
        return ret;

    for (int i = 0; i < p->nb_sources; i++)
        if ((ret = lb_source_start(p->sources[i])) < 0)
            return ret;
    for (int i = 0; i < p->nb_mics; i++)
        if ((ret = lb_mic_start(p->mics[i])) < 0)
            return ret;
    if (p->params.record) {
        pthread_mutex_lock(&p->lock);
        snprintf(p->pending_info.title, sizeof p->pending_info.title, "%s",
                 p->params.title ? p->params.title : "Lesson");
        p->rec_state = REC_STARTING;
        pthread_mutex_unlock(&p->lock);
    }
    if ((ret = lb_thread_start(&p->encoder_thread, "lb-encode", encoder_thread, p)) < 0 ||
        (ret = lb_thread_start(&p->program_thread, "lb-program", program_thread, p)) < 0)
        return ret;
    if (p->general.http_port && (ret = lb_thread_start(&p->status_thread, "lb-status", status_thread, p)) < 0)
        return ret;
    p->started = 1;
    return 0;
}

void lb_pipeline_wait(lb_pipeline *p)
{
    lb_shutdown_wait(-1);
}

int lb_pipeline_stop(lb_pipeline *p)
{
    atomic_store(&p->stop, 1);
    lb_thread_join(&p->program_thread);
    if (p->to_encoder)
        lb_queue_close(p->to_encoder);
    lb_thread_join(&p->encoder_thread);
    lb_thread_join(&p->status_thread);
    for (int i = 0; i < p->nb_sources; i++)
        lb_source_stop(p->sources[i]);
    for (int i = 0; i < p->nb_mics; i++)
        lb_mic_stop(p->mics[i]);
    if (p->streamer)
        lb_streamer_stop_live(p->streamer);
    if (p->webui && p->general.http_port)
        lb_webui_stop(p->webui);
    return 0;
}

void lb_pipeline_free(lb_pipeline **pp)
{
    lb_pipeline *p = pp ? *pp : NULL;
    if (!p)
        return;
    if (p->started)
        lb_pipeline_stop(p);
    lb_webui_free(&p->webui);
    lb_streamer_free(&p->streamer);
    lb_queue_free(&p->to_encoder);
    lb_video_encoder_close(&p->venc);
    lb_audio_encoder_close(&p->aenc);
    lb_compositor_free(&p->compositor);
    lb_director_free(&p->director);
    for (int i = 0; i < p->nb_sources; i++) {
        lb_source_free(&p->sources[i]);
        av_frame_free(&p->latest[i]);
    }
    for (int i = 0; i < p->nb_mics; i++)
        lb_mic_free(&p->mics[i]);
    av_frame_free(&p->latest_program);
    lb_lesson_finish(&p->lesson, 0, 0);
    pthread_mutex_destroy(&p->lock);
    free(p);
    *pp = NULL;
}
