/* The daemon's side of the web UI: lb_control_ops over the pipeline.
 * Called on the webui thread; everything it reads is either immutable after
 * start or taken under the pipeline's lock, and nothing here blocks on the
 * media threads. */
#include "pipeline_priv.h"
#include "health.h"
#include "scheduler.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/timex.h>

#include <libavcodec/avcodec.h>
#include <libswscale/swscale.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_redact.h"

/* Errors are redacted where they are made; again here, where they leave
 * for the API and the events, so that a new error path cannot leak. */
static void add_error(cJSON *o, const char *key, const char *text)
{
    char redacted[1024];
    lb_redact_text(redacted, sizeof redacted, text);
    cJSON_AddStringToObject(o, key, redacted);
}

static cJSON *sources_json(lb_pipeline *p)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < p->nb_sources; i++) {
        lb_source_stats st;
        lb_source_get_stats(p->sources[i], &st);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", lb_source_name(p->sources[i]));
        cJSON_AddStringToObject(o, "label", lb_source_label(p->sources[i]));
        cJSON_AddStringToObject(o, "role", lb_role_name(lb_source_role(p->sources[i])));
        cJSON_AddStringToObject(o, "kind", st.kind);
        cJSON_AddStringToObject(o, "state", lb_source_state_name(st.state));
        cJSON_AddNumberToObject(o, "width", st.width);
        cJSON_AddNumberToObject(o, "height", st.height);
        cJSON_AddNumberToObject(o, "frames", (double)st.frames);
        cJSON_AddNumberToObject(o, "partial_frames", (double)st.partial_frames);
        cJSON_AddNumberToObject(o, "dropped", (double)st.dropped);
        cJSON_AddNumberToObject(o, "reconnects", (double)st.reconnects);
        add_error(o, "last_error", st.last_error);
        if (st.analysis.present) {
            cJSON *a = cJSON_AddObjectToObject(o, "analysis_stream");
            cJSON_AddStringToObject(a, "state", lb_source_state_name(st.analysis.state));
            cJSON_AddNumberToObject(a, "width", st.analysis.width);
            cJSON_AddNumberToObject(a, "height", st.analysis.height);
            cJSON_AddNumberToObject(a, "frames", (double)st.analysis.frames);
            add_error(a, "last_error", st.analysis.last_error);
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

static cJSON *ctl_sources(void *opaque)
{
    return sources_json(opaque);
}

static void add_clock(lb_pipeline *p, cJSON *root);

static cJSON *ctl_status(void *opaque)
{
    lb_pipeline *p = opaque;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", LUOBO_VERSION);

    pthread_mutex_lock(&p->lock);
    cJSON *rec = cJSON_AddObjectToObject(root, "recording");
    int active = p->lc.state == LB_LESSON_RECORDING || p->lc.state == LB_LESSON_STARTING;
    cJSON_AddBoolToObject(rec, "active", active);
    cJSON_AddStringToObject(rec, "lesson_state", lb_lesson_state_name(p->lc.state));
    cJSON *flags = cJSON_AddArrayToObject(rec, "lesson_flags");
    if (p->lc.flags & LB_LESSON_ENTRY)
        cJSON_AddItemToArray(flags, cJSON_CreateString("timetable"));
    if (p->lc.flags & LB_LESSON_RESUMED)
        cJSON_AddItemToArray(flags, cJSON_CreateString("resumed"));
    if (p->lc.flags & LB_LESSON_EXTENDED)
        cJSON_AddItemToArray(flags, cJSON_CreateString("extended"));
    if (p->lc.flags & LB_LESSON_RELOAD_PENDING)
        cJSON_AddItemToArray(flags, cJSON_CreateString("reload_pending"));
    cJSON_AddStringToObject(rec, "id", p->lesson ? lb_lesson_id(p->lesson) : "");
    cJSON_AddStringToObject(rec, "title", active ? p->pending_info.title : "");
    cJSON_AddStringToObject(rec, "teacher", active ? p->pending_info.teacher : "");
    cJSON_AddStringToObject(rec, "course", active ? p->pending_info.course : "");
    cJSON_AddStringToObject(rec, "subject", active ? p->pending_info.subject : "");
    cJSON_AddStringToObject(rec, "grade", active ? p->pending_info.grade : "");
    cJSON_AddStringToObject(rec, "class", active ? p->pending_info.class_name : "");
    const char *lt = active ? lb_lesson_type_name(p->pending_info.lesson_type) : NULL;
    cJSON_AddStringToObject(rec, "lesson_type", lt ? lt : "");
    /* live: the live outputs that follow the schedule carry the program
     * (false while a lesson started with "live": false, or a timetable
     * entry that is not live, is asked for or records) */
    cJSON_AddBoolToObject(rec, "live", !active || p->pending_info.live != LB_LIVE_NO);
    /* when the schedule stops the lesson (lesson.json's schedule_end) */
    if (active && p->pending_info.schedule_end_s > 0)
        cJSON_AddNumberToObject(rec, "schedule_end", (double)p->pending_info.schedule_end_s);
    else
        cJSON_AddNullToObject(rec, "schedule_end");
    cJSON_AddNumberToObject(rec, "elapsed_s",
                            p->lc.state == LB_LESSON_RECORDING
                                ? p->rec_offset_s + (double)p->rec_frames * p->fps_den / p->fps_num : 0);
    /* a lesson resumed after a crash: where its current part began */
    cJSON_AddBoolToObject(rec, "resumed", !!(p->lc.flags & LB_LESSON_RESUMED));
    if (p->lc.flags & LB_LESSON_RESUMED)
        cJSON_AddNumberToObject(rec, "resumed_at_s", p->rec_offset_s);
    add_error(rec, "last_error", p->last_error);

    cJSON *dir = cJSON_AddObjectToObject(root, "director");
    cJSON_AddStringToObject(dir, "mode", lb_director_get_mode(p->director) == LB_DIRECTOR_MANUAL ? "manual" : "auto");
    cJSON_AddStringToObject(dir, "shot", p->shot.name);
    cJSON_AddStringToObject(dir, "layout", lb_layout_name(p->shot.layout));
    cJSON *on_air = cJSON_AddArrayToObject(dir, "sources");
    for (int i = 0; i < p->shot.nb_sources; i++)
        cJSON_AddItemToArray(on_air, cJSON_CreateString(p->setup.source_names[p->shot.sources[i]]));
    cJSON_AddStringToObject(dir, "reason", p->shot.reason);
    cJSON *reasons = lb_director_reasons_json(p->shot.reason);     /* for pages in other languages */
    if (reasons)
        cJSON_AddItemToObject(dir, "reasons", reasons);
    char analysis[8192];
    if (lb_director_status_json(p->director, analysis, sizeof analysis) > 0) {
        cJSON *a = cJSON_Parse(analysis);
        if (a)
            cJSON_AddItemToObject(dir, "analysis", a);
    }

    cJSON *program = cJSON_AddObjectToObject(root, "program");
    cJSON_AddNumberToObject(program, "width", p->general.width);
    cJSON_AddNumberToObject(program, "height", p->general.height);
    cJSON_AddNumberToObject(program, "fps", (double)p->fps_num / p->fps_den);
    cJSON_AddNumberToObject(program, "time_s", (double)p->program_time_us / 1000000);
    cJSON_AddNumberToObject(program, "frames", (double)p->frames_composed);
    cJSON_AddNumberToObject(program, "late_frames", (double)p->frames_late);
    cJSON_AddNumberToObject(program, "skipped_frames", (double)p->frames_skipped);
    cJSON_AddNumberToObject(program, "shed_level", atomic_load(&p->shed_level));
    if (lb_overload_shedding(p))
        cJSON_AddStringToObject(program, "shedding", lb_overload_shedding(p));
    cJSON_AddNumberToObject(program, "audio_dbfs", p->program_dbfs);
    double levels[LB_MAX_MICS];
    memcpy(levels, p->mic_dbfs, sizeof levels);
    pthread_mutex_unlock(&p->lock);

    cJSON_AddItemToObject(root, "sources", sources_json(p));
    cJSON *mics = cJSON_AddArrayToObject(root, "mics");
    for (int m = 0; m < p->nb_mics; m++) {
        lb_mic_stats st;
        lb_mic_get_stats(p->mics[m], &st);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", lb_mic_name(p->mics[m]));
        cJSON_AddStringToObject(o, "label", lb_mic_label(p->mics[m]));
        cJSON_AddStringToObject(o, "role", lb_role_name(lb_mic_role(p->mics[m])));
        cJSON_AddStringToObject(o, "kind", st.kind);
        cJSON_AddStringToObject(o, "state", lb_source_state_name(st.state));
        cJSON_AddNumberToObject(o, "level_dbfs", levels[m]);
        int mute;
        double gain_db;
        lb_mixer_get_fader(p->mixer, m, &mute, &gain_db);
        cJSON_AddBoolToObject(o, "mute", mute);
        cJSON_AddNumberToObject(o, "gain_db", gain_db);
        cJSON_AddNumberToObject(o, "xruns", (double)st.xruns);
        add_error(o, "last_error", st.last_error);
        cJSON_AddItemToArray(mics, o);
    }
    cJSON *outs = cJSON_AddArrayToObject(root, "outputs");
    for (int i = 0; i < lb_streamer_nb_outputs(p->streamer); i++) {
        lb_output_stats st;
        lb_streamer_get_stats(p->streamer, i, &st);
        if (!*st.name)
            continue;                   /* a reload removed it meanwhile */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", st.name);
        cJSON_AddStringToObject(o, "kind", st.kind);
        cJSON_AddStringToObject(o, "state", st.state);
        cJSON_AddNumberToObject(o, "packets", (double)st.packets);
        cJSON_AddNumberToObject(o, "bytes", (double)st.bytes);
        cJSON_AddNumberToObject(o, "dropped", (double)st.dropped);
        cJSON_AddNumberToObject(o, "reconnects", (double)st.reconnects);
        cJSON_AddNumberToObject(o, "rtt_ms", st.rtt_ms);
        cJSON_AddNumberToObject(o, "loss_pct", st.loss_pct);
        cJSON_AddNumberToObject(o, "send_kbps", st.send_kbps);
        add_error(o, "last_error", st.last_error);
        cJSON_AddItemToArray(outs, o);
    }
    struct statvfs vfs;
    pthread_mutex_lock(&p->lock);
    cJSON *reload = *p->reload_status ? cJSON_Parse(p->reload_status) : NULL;
    pthread_mutex_unlock(&p->lock);
    if (reload)
        cJSON_AddItemToObject(root, "reload", reload);
    add_clock(p, root);             /* the schedule runs on it */
    cJSON *disk = cJSON_AddObjectToObject(root, "disk");
    if (statvfs(p->general.data_dir, &vfs) == 0) {
        cJSON_AddNumberToObject(disk, "free_bytes", (double)vfs.f_bavail * vfs.f_frsize);
        cJSON_AddNumberToObject(disk, "total_bytes", (double)vfs.f_blocks * vfs.f_frsize);
    }
    return root;
}

static int ctl_recording(void *opaque, const lb_recording_request *req, char *err, size_t err_size)
{
    lb_lesson_info info = { 0 };
    if (req->start)
        info = req->meta;                /* checked by the web UI; [general] fills the gaps */
    /* a refusal is AVERROR(EBUSY): the API answers 409 with the reason */
    return lb_lifecycle_event(opaque, req->start ? LB_EV_START : LB_EV_STOP,
                              req->start ? "api: start" : "api: stop", &info, err, err_size);
}

static int ctl_director(void *opaque, const char *mode, const char *shot, const char *layout,
                        char *err, size_t err_size)
{
    lb_pipeline *p = opaque;
    lb_director_mode m = !mode ? LB_DIRECTOR_MANUAL
                       : !strcmp(mode, "auto") ? LB_DIRECTOR_AUTO
                       : !strcmp(mode, "manual") ? LB_DIRECTOR_MANUAL : LB_DIRECTOR_INVALID;
    if (!m) {
        snprintf(err, err_size, "mode must be \"auto\" or \"manual\"");
        return AVERROR(EINVAL);
    }
    lb_layout l = layout && *layout ? lb_layout_from_name(layout) : LB_LAYOUT_SINGLE;
    if (!l) {
        snprintf(err, err_size, "layout must be \"single\", \"pip\" or \"sbs\"");
        return AVERROR(EINVAL);
    }
    int ret = lb_director_set_mode(p->director, m, shot, l, err, err_size);
    if (ret >= 0)
        atomic_store(&p->take_pending, 1);  /* composed at the next tick, caught up or not */
    return ret;
}

/* POST /api/v1/mics/<name>: the operator's fader in the program mix (the
 * mixer's atomics; the program thread applies it at its next tick). */
static int ctl_mic(void *opaque, const char *name, int mute, double gain_db, char *err, size_t err_size)
{
    lb_pipeline *p = opaque;
    for (int m = 0; m < p->nb_mics; m++) {
        if (strcmp(lb_mic_name(p->mics[m]), name))
            continue;
        int was_mute;
        double was_db;
        lb_mixer_get_fader(p->mixer, m, &was_mute, &was_db);
        mute = mute < 0 ? was_mute : mute;
        gain_db = isnan(gain_db) ? was_db : gain_db;
        if (lb_mixer_set_fader(p->mixer, m, mute, gain_db) < 0) {
            snprintf(err, err_size, "gain_db must be from %g to %g dB", LB_MIXER_FADER_MIN_DB,
                     LB_MIXER_FADER_MAX_DB);
            return AVERROR(EINVAL);
        }
        if (mute != was_mute || gain_db != was_db) {
            LB_LOGI("mixer", "mic %s: %s, %+.1f dB in the program", name, mute ? "muted" : "on", gain_db);
            lb_faders_changed(p);       /* the lesson's, through a restart or a resume */
        }
        atomic_store(&p->status_dirty, 1);      /* every console sees it at once */
        return 0;
    }
    snprintf(err, err_size, "no mic named '%s'", name);
    return AVERROR(ENOENT);
}

#define PREVIEW_HOLD_US 5000000

/* A 320-pixel-wide JPEG of a source's latest frame (or the program's). */
static int ctl_snapshot(void *opaque, const char *source, uint8_t **jpeg, size_t *size)
{
    lb_pipeline *p = opaque;
    AVFrame *src = NULL;
    pthread_mutex_lock(&p->lock);
    if (!strcmp(source, "program")) {
        src = p->latest_program ? av_frame_clone(p->latest_program) : NULL;
    } else {
        for (int i = 0; i < p->nb_sources; i++)
            if (!strcmp(lb_source_name(p->sources[i]), source)) {
                src = p->latest[i] ? av_frame_clone(p->latest[i]) : NULL;
                /* the console polls every second; a hidden tab stops */
                atomic_store(&p->preview_until_us[i], lb_clock_now() + PREVIEW_HOLD_US);
            }
    }
    pthread_mutex_unlock(&p->lock);
    if (!src)
        return AVERROR(ENOENT);

    int ret;
    int w = 320, h = ((320 * src->height / src->width) + 1) & ~1;
    AVFrame *small = av_frame_alloc();
    AVPacket *pkt = av_packet_alloc();
    AVCodecContext *ctx = NULL;
    struct SwsContext *sws = NULL;
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_MJPEG);
    if (!small || !pkt || !codec || !(ctx = avcodec_alloc_context3(codec))) {
        ret = AVERROR(ENOMEM);
        goto end;
    }
    small->format = AV_PIX_FMT_YUVJ420P;
    small->width = w;
    small->height = h;
    if ((ret = av_frame_get_buffer(small, 0)) < 0)
        goto end;
    sws = sws_getContext(src->width, src->height, src->format, w, h, AV_PIX_FMT_YUVJ420P,
                         SWS_BILINEAR, NULL, NULL, NULL);
    if (!sws) {
        ret = AVERROR(EINVAL);
        goto end;
    }
    sws_scale(sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
              small->data, small->linesize);
    ctx->width = w;
    ctx->height = h;
    ctx->pix_fmt = AV_PIX_FMT_YUVJ420P;
    ctx->time_base = (AVRational){ 1, 1 };
    ctx->flags |= AV_CODEC_FLAG_QSCALE;
    ctx->global_quality = FF_QP2LAMBDA * 5;
    if ((ret = avcodec_open2(ctx, codec, NULL)) < 0 ||
        (ret = avcodec_send_frame(ctx, small)) < 0 ||
        (ret = avcodec_receive_packet(ctx, pkt)) < 0)
        goto end;
    if (!(*jpeg = av_malloc((size_t)pkt->size))) {
        ret = AVERROR(ENOMEM);
        goto end;
    }
    memcpy(*jpeg, pkt->data, (size_t)pkt->size);
    *size = (size_t)pkt->size;
    ret = 0;
end:
    sws_freeContext(sws);
    avcodec_free_context(&ctx);
    av_packet_free(&pkt);
    av_frame_free(&small);
    av_frame_free(&src);
    return ret;
}

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (*buf && *len + (size_t)n < *cap) {
            *len += (size_t)n;
            return;
        }
        size_t ncap = (*cap + (size_t)n + 1) * 2;
        char *grown = realloc(*buf, ncap);
        if (!grown)
            return;
        *buf = grown;
        *cap = ncap;
    }
}

static char *ctl_metrics(void *opaque)
{
    lb_pipeline *p = opaque;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    /* one read per source, then one family after the other */
    lb_source_stats sst[LB_MAX_SOURCES];
    for (int i = 0; i < p->nb_sources; i++)
        lb_source_get_stats(p->sources[i], &sst[i]);
    append(&buf, &len, &cap, "# HELP luobo_source_frames_total Frames decoded per source.\n"
                             "# TYPE luobo_source_frames_total counter\n");
    for (int i = 0; i < p->nb_sources; i++)
        append(&buf, &len, &cap, "luobo_source_frames_total{source=\"%s\"} %llu\n",
               lb_source_name(p->sources[i]), (unsigned long long)sst[i].frames);
    append(&buf, &len, &cap, "# HELP luobo_source_partial_frames_total Frames handed out while the camera "
                             "was decoded from its key frames only (off the air).\n"
                             "# TYPE luobo_source_partial_frames_total counter\n");
    for (int i = 0; i < p->nb_sources; i++)
        append(&buf, &len, &cap, "luobo_source_partial_frames_total{source=\"%s\"} %llu\n",
               lb_source_name(p->sources[i]), (unsigned long long)sst[i].partial_frames);
    append(&buf, &len, &cap, "# TYPE luobo_source_dropped_total counter\n");
    for (int i = 0; i < p->nb_sources; i++)
        append(&buf, &len, &cap, "luobo_source_dropped_total{source=\"%s\"} %llu\n",
               lb_source_name(p->sources[i]), (unsigned long long)sst[i].dropped);
    append(&buf, &len, &cap, "# TYPE luobo_source_up gauge\n");
    for (int i = 0; i < p->nb_sources; i++)
        append(&buf, &len, &cap, "luobo_source_up{source=\"%s\",state=\"%s\"} %d\n",
               lb_source_name(p->sources[i]), lb_source_state_name(sst[i].state),
               sst[i].state == LB_SOURCE_LIVE);
    append(&buf, &len, &cap, "# HELP luobo_source_analysis_up The camera's sub-stream, which the "
                             "director analyses, gives pictures ([source] analysis_url).\n"
                             "# TYPE luobo_source_analysis_up gauge\n");
    for (int i = 0; i < p->nb_sources; i++)
        if (sst[i].analysis.present)
            append(&buf, &len, &cap, "luobo_source_analysis_up{source=\"%s\",state=\"%s\"} %d\n",
                   lb_source_name(p->sources[i]), lb_source_state_name(sst[i].analysis.state),
                   sst[i].analysis.state == LB_SOURCE_LIVE);
    append(&buf, &len, &cap, "# TYPE luobo_source_analysis_frames_total counter\n");
    for (int i = 0; i < p->nb_sources; i++)
        if (sst[i].analysis.present)
            append(&buf, &len, &cap, "luobo_source_analysis_frames_total{source=\"%s\"} %llu\n",
                   lb_source_name(p->sources[i]), (unsigned long long)sst[i].analysis.frames);
    append(&buf, &len, &cap, "# HELP luobo_source_analysis_partial_frames_total Sub-stream frames "
                             "decoded from key frames only (neither the director nor a console watched).\n"
                             "# TYPE luobo_source_analysis_partial_frames_total counter\n");
    for (int i = 0; i < p->nb_sources; i++)
        if (sst[i].analysis.present)
            append(&buf, &len, &cap, "luobo_source_analysis_partial_frames_total{source=\"%s\"} %llu\n",
                   lb_source_name(p->sources[i]), (unsigned long long)sst[i].analysis.partial_frames);
    append(&buf, &len, &cap, "# TYPE luobo_source_reconnects_total counter\n");
    for (int i = 0; i < p->nb_sources; i++)
        append(&buf, &len, &cap, "luobo_source_reconnects_total{source=\"%s\"} %llu\n",
               lb_source_name(p->sources[i]), (unsigned long long)sst[i].reconnects);
    append(&buf, &len, &cap, "# TYPE luobo_mic_xruns_total counter\n");
    for (int m = 0; m < p->nb_mics; m++) {
        lb_mic_stats st;
        lb_mic_get_stats(p->mics[m], &st);
        append(&buf, &len, &cap, "luobo_mic_xruns_total{mic=\"%s\"} %llu\n",
               lb_mic_name(p->mics[m]), (unsigned long long)st.xruns);
        append(&buf, &len, &cap, "luobo_mic_level_dbfs{mic=\"%s\"} %.1f\n",
               lb_mic_name(p->mics[m]), st.level_dbfs);
    }
    append(&buf, &len, &cap, "# TYPE luobo_output_bytes_total counter\n");
    for (int i = 0; i < lb_streamer_nb_outputs(p->streamer); i++) {
        lb_output_stats st;
        lb_streamer_get_stats(p->streamer, i, &st);
        if (!*st.name)
            continue;
        append(&buf, &len, &cap, "luobo_output_bytes_total{output=\"%s\",kind=\"%s\"} %llu\n",
               st.name, st.kind, (unsigned long long)st.bytes);
        append(&buf, &len, &cap, "luobo_output_dropped_total{output=\"%s\",kind=\"%s\"} %llu\n",
               st.name, st.kind, (unsigned long long)st.dropped);
        if (!strcmp(st.kind, "srt"))
            append(&buf, &len, &cap, "luobo_srt_rtt_ms{output=\"%s\"} %.1f\n"
                                     "luobo_srt_loss_percent{output=\"%s\"} %.2f\n",
                   st.name, st.rtt_ms, st.name, st.loss_pct);
    }
    pthread_mutex_lock(&p->workers_lock);
    int64_t encoded = p->encoded_frames;
    pthread_mutex_unlock(&p->workers_lock);
    pthread_mutex_lock(&p->lock);
    double elapsed_s = p->lc.state == LB_LESSON_RECORDING
                           ? p->rec_offset_s + (double)p->rec_frames * p->fps_den / p->fps_num : 0;
    append(&buf, &len, &cap, "# TYPE luobo_program_frames_total counter\n"
                             "luobo_program_frames_total %llu\n"
                             "# HELP luobo_program_encoded_frames_total Program ticks the encoder "
                             "finished; behind the ticks made, the encoder's queue.\n"
                             "# TYPE luobo_program_encoded_frames_total counter\n"
                             "luobo_program_encoded_frames_total %lld\n"
                             "# TYPE luobo_program_late_frames_total counter\n"
                             "luobo_program_late_frames_total %llu\n"
                             "# HELP luobo_program_skipped_frames_total Ticks whose picture was not "
                             "made (the last one repeated) to catch up after falling behind real "
                             "time by over max_lag_ms.\n"
                             "# TYPE luobo_program_skipped_frames_total counter\n"
                             "luobo_program_skipped_frames_total %llu\n"
                             "# TYPE luobo_recording gauge\nluobo_recording %d\n"
                             "# HELP luobo_recording_elapsed_seconds The lesson's length so far on "
                             "the program clock (status' elapsed_s).\n"
                             "# TYPE luobo_recording_elapsed_seconds gauge\n"
                             "luobo_recording_elapsed_seconds %.3f\n"
                             "# HELP luobo_program_shed_level The overload's shedding ladder: the "
                             "step taken (0 none; docs/ARCHITECTURE.md).\n"
                             "# TYPE luobo_program_shed_level gauge\nluobo_program_shed_level %d\n"
                             "# HELP luobo_program_lag_seconds How late the program made its last "
                             "tick against real time (0: on time).\n"
                             "# TYPE luobo_program_lag_seconds gauge\nluobo_program_lag_seconds %.3f\n"
                             "# HELP luobo_program_sync_delay_seconds How far behind capture the "
                             "program runs ([general] sync_delay_ms, sync_delay_auto).\n"
                             "# TYPE luobo_program_sync_delay_seconds gauge\n"
                             "luobo_program_sync_delay_seconds %.3f\n",
           (unsigned long long)p->frames_composed, (long long)encoded, (unsigned long long)p->frames_late,
           (unsigned long long)p->frames_skipped,
           p->lc.state == LB_LESSON_RECORDING, elapsed_s, atomic_load(&p->shed_level),
           (double)atomic_load(&p->lag_us) / 1e6, (double)atomic_load(&p->sync_delay_us) / 1e6);
    pthread_mutex_unlock(&p->lock);
    char *alerts = lb_health_feed_metrics(p);
    if (alerts)
        append(&buf, &len, &cap, "%s", alerts);
    free(alerts);
    return buf;
}

static cJSON *ctl_alerts(void *opaque)
{
    return lb_health_feed_alerts_json(opaque);
}

/* ---- the schedule (daemon/scheduler.c) ---- */

/* Whether the wall clock the schedule runs on can be trusted: the kernel's
 * view (adjtimex), and the health checks' clock_unsynced alert, which
 * says it for long enough to matter (one alert, not a second one here). */
static void add_clock(lb_pipeline *p, cJSON *root)
{
    cJSON *clock = cJSON_AddObjectToObject(root, "clock");
    struct timex tx = { 0 };
    lb_health_input in = { 0 };
    lb_health_read_clock(adjtimex(&tx), &tx, &in);       /* as the health checks read it */
    if (in.clock_known) {
        cJSON_AddBoolToObject(clock, "synchronised", !in.clock_unsynced);
        cJSON_AddNumberToObject(clock, "maxerror_ms", in.clock_maxerror_ms);
    } else {
        cJSON_AddNullToObject(clock, "synchronised");
    }
    int raised = 0;
    cJSON *alerts = lb_health_feed_alerts_json(p), *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(alerts, "alerts")) {
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(a, "alert");
        raised |= cJSON_IsString(kind) && !strcmp(kind->valuestring, "clock_unsynced");
    }
    cJSON_Delete(alerts);
    cJSON_AddBoolToObject(clock, "alert", raised);
}

static cJSON *ctl_schedule(void *opaque)
{
    lb_pipeline *p = opaque;
    if (!p->scheduler)
        return NULL;
    cJSON *o = lb_scheduler_status(p->scheduler);
    add_clock(p, o);
    return o;
}

static cJSON *ctl_schedule_window(void *opaque, int64_t from_s, int64_t to_s, char *err, size_t err_size)
{
    lb_pipeline *p = opaque;
    if (!p->scheduler) {
        snprintf(err, err_size, "the schedule is not available");
        return NULL;
    }
    return lb_scheduler_window(p->scheduler, from_s, to_s, err, err_size);
}

static char *ctl_timetable_get(void *opaque)
{
    lb_pipeline *p = opaque;
    return p->scheduler ? lb_scheduler_timetable(p->scheduler) : NULL;
}

static int ctl_timetable_put(void *opaque, const char *text, size_t size, char *err, size_t err_size)
{
    lb_pipeline *p = opaque;
    if (!p->scheduler) {
        snprintf(err, err_size, "the schedule is not available");
        return AVERROR(ENOSYS);
    }
    return lb_scheduler_set_timetable(p->scheduler, text, size, err, err_size);
}

static int ctl_extend(void *opaque, int minutes, char *err, size_t err_size)
{
    lb_pipeline *p = opaque;
    if (!p->scheduler) {
        snprintf(err, err_size, "only a timetable lesson can be extended");
        return AVERROR(EBUSY);
    }
    return lb_scheduler_extend(p->scheduler, minutes, err, err_size);
}

static int sched_event(void *opaque, lb_lesson_event ev, const char *why, const lb_lesson_meta *meta,
                       char *err, size_t err_size)
{
    return lb_lifecycle_event(opaque, ev, why, meta, err, err_size);
}

static lb_lifecycle sched_lifecycle(void *opaque)
{
    lb_pipeline *p = opaque;
    pthread_mutex_lock(&p->lock);
    lb_lifecycle lc = p->lc;
    pthread_mutex_unlock(&p->lock);
    return lc;
}

static void sched_publish(void *opaque, const char *json)
{
    lb_pipeline *p = opaque;
    lb_webui_publish(p->webui, json);
}

static void sched_last_error(void *opaque, char *buf, size_t size)
{
    lb_pipeline *p = opaque;
    pthread_mutex_lock(&p->lock);
    lb_redact_text(buf, size, p->last_error);
    pthread_mutex_unlock(&p->lock);
}

int lb_pipeline_scheduler_create(lb_pipeline *p, const lb_config *cfg, char *err, size_t err_size)
{
    static const lb_scheduler_ops ops = {
        .event = sched_event, .lifecycle = sched_lifecycle, .publish = sched_publish,
        .last_error = sched_last_error,
    };
    return lb_scheduler_create(&p->scheduler, lb_config_find(cfg, "schedule"), p->general.data_dir, &ops,
                               p, err, err_size);
}

static int ctl_upload(void *opaque, const char *lesson_dir, char *err, size_t err_size)
{
    lb_pipeline *p = opaque;
    if (lb_streamer_lesson_done(p->streamer, lesson_dir) == 0) {
        snprintf(err, err_size, "no upload output is configured ([output.NAME] type = upload)");
        return AVERROR(ENOENT);
    }
    return 0;
}

const lb_control_ops lb_pipeline_control_ops = {
    .status = ctl_status,
    .sources = ctl_sources,
    .recording = ctl_recording,
    .director = ctl_director,
    .mic = ctl_mic,
    .snapshot = ctl_snapshot,
    .metrics = ctl_metrics,
    .alerts = ctl_alerts,
    .schedule = ctl_schedule,
    .schedule_window = ctl_schedule_window,
    .timetable_get = ctl_timetable_get,
    .timetable_put = ctl_timetable_put,
    .extend = ctl_extend,
    .upload = ctl_upload,
};
