/* The lesson's life on the pipeline: the state machine of core/lb_lifecycle.h
 * driven by the API, --record/--duration, the disk guard and shutdown, and
 * its effects carried out: the lesson folder, the archive's start and stop
 * at a frame, the waits for the encoders around them.
 *
 * Every event goes through lb_lifecycle_event() (or send_locked()), the only
 * writer of p->lc.  Effects that need the program thread (create the
 * lesson, start the archive, mark the stop frame) are noted in p->lc_todo;
 * the program thread calls lb_lifecycle_tick() once per tick, before any
 * encoder is given the tick's frame, carries them out and reports back
 * (started, failure, stop done).  The encoder thread, after encoding the marked
 * frame, calls lb_lifecycle_finish_at(), which waits until every ISO encode
 * and the mics' worker have finished that frame too, then finishes the
 * archive and lesson.json. */
#include "pipeline_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_file.h"
#include "lb_lifecycle.h"
#include "lb_log.h"

#define START_FX (LB_FX_CREATE_LESSON | LB_FX_OPEN_LESSON | LB_FX_START_ARCHIVE)

/* What a lesson's metadata does not say, [general] does. */
static void meta_defaults(const lb_pipeline *p, lb_lesson_info *m)
{
    if (!*m->title)
        snprintf(m->title, sizeof m->title, "Lesson");
    if (!*m->school)
        snprintf(m->school, sizeof m->school, "%s", p->general.school);
    if (!*m->hall)
        snprintf(m->hall, sizeof m->hall, "%s", p->general.hall);
    if (!*m->language)
        snprintf(m->language, sizeof m->language, "%s", p->general.language);
}

/* Steps the machine with p->lock held and applies the effects that are
 * bookkeeping; the rest is left in p->lc_todo for the program thread, or
 * returned for the caller (LB_FX_FINISH: the reporter marks the frame). */
static int send_locked(lb_pipeline *p, lb_lesson_event ev, const char *why, const lb_lesson_info *info,
                       unsigned *fx_out, char *err, size_t err_size)
{
    lb_lifecycle_effects fx;
    int ret = lb_lifecycle_send(&p->lc, p->lesson_id, ev, why, &fx);
    if (fx_out)
        *fx_out = fx.fx;
    if (ret < 0) {
        if (err)
            snprintf(err, err_size, "%s", fx.refused);
        return ret;
    }
    if ((fx.fx & LB_FX_SET_METADATA) && info) {
        p->pending_info = *info;
        /* a running lesson taken over by a timetable entry: same folder, no cut */
        if (p->lesson) {
            lb_lesson_info taken = *info;
            meta_defaults(p, &taken);
            lb_lesson_set_info(p->lesson, &taken);
        }
    }
    if ((fx.fx & LB_FX_SET_END) && info) {
        /* an extension, or the entry's end moved in the schedule:
         * lesson.json's schedule_end follows it, so a crash resumes up to
         * the end in force */
        p->pending_info.schedule_end_s = info->schedule_end_s;
        if (p->lesson) {
            lb_lesson_info taken = p->pending_info;
            meta_defaults(p, &taken);
            lb_lesson_set_info(p->lesson, &taken);
        }
    }
    if (fx.fx & START_FX)
        p->lc_start_gen++;
    if (fx.fx & LB_FX_CANCEL)
        p->lc_todo &= ~(unsigned)START_FX;
    p->lc_todo |= fx.fx & (START_FX | LB_FX_MARK_STOP);
    if (fx.fx & LB_FX_SET_ERROR)
        snprintf(p->last_error, sizeof p->last_error, "%s", why);
    if (fx.fx & LB_FX_RESTART) {
        LB_LOGI("lifecycle", "no lesson is running: the pipeline restarts with the new configuration");
        atomic_store(&p->restart, 1);
    }
    if (fx.fx & LB_FX_PUBLISH)
        atomic_store(&p->status_dirty, 1);
    if (!lb_lesson_state_busy(p->lc.state))
        p->lesson_id[0] = 0;
    return 0;
}

int lb_lifecycle_event(lb_pipeline *p, lb_lesson_event ev, const char *why, const lb_lesson_info *info,
                       char *err, size_t err_size)
{
    pthread_mutex_lock(&p->lock);
    int ret = send_locked(p, ev, why, info, NULL, err, err_size);
    pthread_mutex_unlock(&p->lock);
    return ret;
}

/* How long --record waits at start-up for the cameras to connect. */
#define RECORD_WAIT_US 5000000
#define RECORD_WAIT_FRAMES(p) av_rescale(RECORD_WAIT_US, (p)->fps_num, 1000000LL * (p)->fps_den)

/* A lesson whose archive could not start holds nothing: remove its folder.
 * A resumed one holds its earlier parts: it stays interrupted (the next
 * start joins them). */
static void discard_lesson(lb_lesson **lesson)
{
    char dir[1024];
    double offset_s = lb_lesson_part_offset(*lesson);
    snprintf(dir, sizeof dir, "%s", lb_lesson_dir(*lesson));
    lb_lesson_finish(lesson, offset_s, 0);
    if (offset_s == 0 && !lb_lesson_has_parts(dir))
        lb_remove_tree(dir);
}

/* Starts the lesson and the archive at this tick.  Called on the program
 * thread, before any encoder is given this tick's frame, so that every
 * packet of the lesson reaches the archive.  gen is the start's
 * p->lc_start_gen: if the start was stopped and another asked for while the
 * encoders were waited for, this one's outcome is not the newer one's (its
 * failure must not end it, nor its lesson become the newer one's): the newer
 * start stays to do at the next tick. */
static int begin_recording(lb_pipeline *p, int64_t t_us, const lb_lesson_info *given, int open_lesson,
                           unsigned gen)
{
    char err[512];
    lb_lesson_info meta = *given, *info = &meta;
    meta_defaults(p, &meta);
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
    /* the wall time of this tick's frame: the program thread may be late
     * with it (the first ticks after start-up are), and a resumed part
     * belongs where its pictures were taken */
    int64_t due_us = p->capture.epoch_us + t_us + atomic_load(&p->sync_delay_us);
    int64_t late_us = p->params.offline ? 0 : FFMAX(lb_clock_now() - due_us, 0);
    int ret = open_lesson ? lb_lesson_open(&lesson, p->resume_dir, srcs, nb_srcs, lb_clock_wall_us() - late_us,
                                           err, sizeof err)
                          : lb_lesson_create(&lesson, p->general.data_dir, info, srcs, nb_srcs, err,
                                             sizeof err);
    if (ret >= 0 && (ret = lb_streamer_start_recording(p->streamer, lb_lesson_dir(lesson))) < 0) {
        snprintf(err, sizeof err, "the archive cannot start in %s: %s", lb_lesson_dir(lesson),
                 ret == AVERROR(ENOSPC) ? "not enough free disk space" : av_err2str(ret));
        discard_lesson(&lesson);
    }
    pthread_mutex_lock(&p->lock);
    if (p->lc_start_gen != gen) {
        LB_LOGI("pipeline", "a start was stopped and another asked for meanwhile: the older one is "
                "dropped%s%s", ret < 0 ? "; it had failed: " : "", ret < 0 ? err : "");
        pthread_mutex_unlock(&p->lock);
        if (ret >= 0) {
            lb_streamer_stop_recording(p->streamer);
            discard_lesson(&lesson);
        }
        return AVERROR(ECANCELED);
    }
    if (ret < 0) {
        LB_LOGE("pipeline", "cannot start a recording: %s", err);
        send_locked(p, LB_EV_FAILURE, err, NULL, NULL, NULL, 0);
        p->lc_todo &= ~(unsigned)START_FX;
        pthread_mutex_unlock(&p->lock);
        return ret;
    }
    p->lesson = lesson;
    /* a timetable entry took the start over while the folder was being made */
    if (memcmp(&p->pending_info, given, sizeof *given)) {
        lb_lesson_info taken = p->pending_info;
        meta_defaults(p, &taken);
        lb_lesson_set_info(lesson, &taken);
    }
    snprintf(p->lesson_id, sizeof p->lesson_id, "%s", lb_lesson_id(lesson));
    char why[64];
    snprintf(why, sizeof why, "pipeline: archive started at %.3f s", t_us / 1e6);
    if ((ret = send_locked(p, LB_EV_STARTED, why, NULL, NULL, NULL, 0)) < 0) {
        /* stopped while the encoders were waited for: nothing of it is kept */
        p->lesson = NULL;
        p->lesson_id[0] = 0;
        pthread_mutex_unlock(&p->lock);
        lb_streamer_stop_recording(p->streamer);
        discard_lesson(&lesson);
        return ret;
    }
    p->lc_todo &= ~(unsigned)START_FX;
    /* a resumed part goes on the lesson's timeline: program time of the
     * resumed part = wall time since the lesson's start, for chapters and
     * director.jsonl alike */
    p->rec_offset_s = lb_lesson_part_offset(lesson);
    p->rec_start_us = t_us - (int64_t)(p->rec_offset_s * 1e6 + 0.5);
    p->rec_frames = 0;
    p->last_error[0] = 0;
    if (open_lesson)
        LB_LOGI("pipeline", "recording %s resumed at lesson time %.3f s", lb_lesson_id(lesson),
                p->rec_offset_s);
    else
        LB_LOGI("pipeline", "recording %s started", lb_lesson_id(lesson));
    /* the first decision of a lesson is logged even if the shot holds; it
     * carries the log's header (format 2: the program's geometry and
     * settings, docs/director-jsonl.md) */
    char line[LB_LOG_LINE_SIZE];
    int len = lb_shot_to_json(&p->shot, t_us - p->rec_start_us, &p->setup, line, sizeof line);
    if (len > 0 && (size_t)len < sizeof line) {
        size_t size = p->log_header ? (size_t)len + strlen(p->log_header) + 64 : 0;
        char *first = size ? malloc(size) : NULL;
        if (first) {
            line[len - 1] = 0;          /* the closing brace */
            /* t0_us: the program time of the lesson's first frame, so that
             * a re-cut makes its frames at the live ticks' times */
            snprintf(first, size, "%s, %s, \"t0_us\": %lld}", line, p->log_header,
                     (long long)p->rec_start_us);
        }
        lb_lesson_log_decision(p->lesson, first ? first : line);
        free(first);
    }
    pthread_mutex_unlock(&p->lock);
    lb_faders_lesson_started(p, open_lesson);
    return 0;
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

void lb_lifecycle_request_record(lb_pipeline *p, const char *title)
{
    lb_lesson_info info = { 0 };
    if (p->params.meta)
        info = *p->params.meta;
    if (title)
        snprintf(info.title, sizeof info.title, "%s", title);
    lb_lifecycle_event(p, LB_EV_START, "command line: --record", &info, NULL, 0);
}

int lb_lifecycle_duration_reached(lb_pipeline *p, int64_t n, int64_t total_frames)
{
    if (total_frames < 0)
        return 0;
    if (!p->params.record)
        return n >= total_frames;
    /* with --record the duration is the lesson's; a lesson that could not
     * start still ends the run a little later */
    pthread_mutex_lock(&p->lock);
    int64_t recorded = p->rec_frames;
    int has_lesson = p->lesson != NULL || p->lc.state == LB_LESSON_RECORDING;
    pthread_mutex_unlock(&p->lock);
    return has_lesson ? recorded >= total_frames : n >= total_frames + RECORD_WAIT_FRAMES(p);
}

void lb_lifecycle_tick(lb_pipeline *p, lb_lifecycle_tick_info *tk)
{
    pthread_mutex_lock(&p->lock);
    unsigned todo = p->lc_todo;
    lb_lesson_state state = p->lc.state;
    lb_lesson_info info = p->pending_info;
    unsigned gen = p->lc_start_gen;
    pthread_mutex_unlock(&p->lock);

    tk->start = tk->stop = 0;
    /* live is a property of the start (the API's "live": false, a
     * timetable entry's live): a lesson that is not live keeps the live
     * outputs that follow the schedule paused from its first frame until it
     * stops (lb_streamer_set_private: an atomic, a no-op when unchanged) */
    lb_streamer_set_private(p->streamer, (state == LB_LESSON_STARTING || state == LB_LESSON_RECORDING) &&
                                         info.live == LB_LIVE_NO);
    /* --record at start-up: begin once the cameras are up */
    if ((todo & LB_FX_START_ARCHIVE) &&
        (p->params.offline || tk->t_us >= RECORD_WAIT_US || sources_settled(p))) {
        wait_for_encoders(p, tk->next_sent);     /* not n: ticks may have been skipped */
        tk->start = begin_recording(p, tk->t_us, &info, !!(todo & LB_FX_OPEN_LESSON), gen) >= 0;
    }

    /* the archive stopped by itself (the disk guard): end the lesson here
     * and say why */
    int archive_error = state == LB_LESSON_RECORDING ? lb_streamer_recording_error(p->streamer) : 0;
    pthread_mutex_lock(&p->lock);
    if (archive_error < 0 && p->lc.state == LB_LESSON_RECORDING) {
        char why[256];
        snprintf(why, sizeof why, "recording stopped: %s", archive_error == AVERROR(ENOSPC)
                 ? "the disk is almost full" : av_err2str(archive_error));
        LB_LOGE("pipeline", "%s", why);
        send_locked(p, archive_error == AVERROR(ENOSPC) ? LB_EV_DISK_FULL : LB_EV_FAILURE, why,
                    NULL, NULL, NULL, 0);
    }
    if (p->lc.state == LB_LESSON_RECORDING) {
        p->rec_frames++;
        /* a decision, or a pan keyframe of the virtual camera (the shot
         * repeated with "pan": true) */
        if ((tk->shot_changed || tk->air->pan_key) && !tk->start) {
            char line[LB_LOG_LINE_SIZE];
            if (lb_shot_to_json2(tk->air, tk->t_us - p->rec_start_us, &p->setup, !tk->shot_changed,
                                 line, sizeof line) > 0)
                lb_lesson_log_decision(p->lesson, line);
        }
        if (tk->chapter)
            lb_lesson_add_chapter(p->lesson, (double)(tk->t_us - p->rec_start_us) / 1000000, tk->chapter);
    }
    if (p->lc_todo & LB_FX_MARK_STOP) {
        /* this frame is the lesson's last: the encoder thread finishes after it */
        unsigned fx = 0;
        p->lc_todo &= ~(unsigned)LB_FX_MARK_STOP;
        /* stopped on purpose: a crash while finishing is repaired, never resumed */
        lb_lesson_request_stop(p->lesson);
        send_locked(p, LB_EV_STOP_DONE, "pipeline: last frame marked", NULL, &fx, NULL, 0);
        tk->stop = !!(fx & LB_FX_FINISH);
    }
    pthread_mutex_unlock(&p->lock);
}

void lb_lifecycle_shutdown(lb_pipeline *p, int signalled, const char *why)
{
    /* A service stop or a reboot suspends a recording lesson: finished as
     * always, then resumed at the next start (its entry not done).  A run
     * that ends by itself (--duration, an offline run's sources ran out) or
     * records offline is the command line's: it ends for good. */
    int suspend = signalled && !p->params.offline && p->params.duration_s <= 0;
    pthread_mutex_lock(&p->lock);
    p->lc_todo &= ~(unsigned)LB_FX_MARK_STOP;   /* the encoder finishes at the program's last frame */
    lb_lesson_state was = p->lc.state;
    send_locked(p, suspend ? LB_EV_SUSPEND : LB_EV_SHUTDOWN, why, NULL, NULL, NULL, 0);
    /* into lesson.json before the archive's finaliser reads it */
    if (was == LB_LESSON_RECORDING && p->lesson)
        lb_lesson_set_ended_by(p->lesson, p->lc.flags & LB_LESSON_SUSPENDED ? "shutdown" : "end");
    pthread_mutex_unlock(&p->lock);
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
    double duration = p->rec_offset_s + (double)p->rec_frames * p->fps_den / p->fps_num;
    pthread_mutex_unlock(&p->lock);
    char why[256];
    if (ret < 0) {
        snprintf(why, sizeof why, "the archive reported an error while finishing: %s", av_err2str(ret));
        LB_LOGE("pipeline", "%s", why);
    } else {
        snprintf(why, sizeof why, "pipeline: lesson finished, %.2f s", duration);
    }
    if (lesson)
        LB_LOGI("pipeline", "recording %s finished: %.2f s", lb_lesson_id(lesson), duration);
    lb_lesson_finish(&lesson, duration, complete && ret >= 0);
    lb_faders_lesson_ended(p);
    pthread_mutex_lock(&p->lock);
    send_locked(p, ret < 0 ? LB_EV_FAILURE : LB_EV_FINISH_DONE, why, NULL, NULL, NULL, 0);
    pthread_mutex_unlock(&p->lock);
}

void lb_lifecycle_finish_at(lb_pipeline *p, int64_t seq)
{
    wait_for_isos(p, seq);
    lb_mic_archive_wait(p, seq);
    finish_recording(p, 1);
}

void lb_lifecycle_finish_at_end(lb_pipeline *p)
{
    for (int i = 0; i < p->nb_workers; i++)
        lb_queue_close(p->workers[i].queue);
    for (int i = 0; i < p->nb_workers; i++)
        lb_thread_join(&p->workers[i].thread);
    lb_mic_archive_stop(p);
    finish_recording(p, 1);
}
