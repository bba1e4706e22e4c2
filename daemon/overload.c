/* Design note: behind real time.
 *
 * Realtime, the program thread waits for each tick's time.  When the
 * machine cannot keep up (or stalled), the ticks fall behind; further
 * behind than [general] max_lag_ms, making every late picture would keep
 * the live outputs ever further behind.  The program then catches up
 * without leaving a hole: every tick up to the one due now still gives a
 * frame, but the last composed picture stands for it (no capture, no
 * director, no compositing; the renditions and ISO encodes reuse their last
 * scaled picture too), while each tick's sound is read and mixed as usual.
 * x264 makes a repeated picture of skipped macroblocks, about half a new
 * picture's work (its per-frame costs remain), so the archive has a frame for every tick, the audio
 * whole and in sync, and the key frames stay on their grid (encoder/ puts
 * them by time).  The live outputs take the same frames; on a slow network
 * they drop whole GOPs as before.
 *
 * Counted as luobo_program_skipped_frames_total: ticks whose picture was
 * not made (the last one repeated).
 *
 * An operator's take (POST /api/v1/director) is composed at the next tick
 * even while catching up: on a machine too busy even for the repeated
 * pictures the catch-up grows to minutes of ticks, and the take (its tally,
 * the console's program preview, the program) would wait for all of them.
 *
 * Memory given back.  An overload fills every queue and grows the pools of
 * frames to match; a pool never gives a buffer back by itself.  Once the
 * program has been on time for overload_recover_s after being late, the program
 * frames' pool is replaced by an empty one (the old one frees its buffers
 * as the frames in flight come home) and malloc_trim() returns the freed
 * pages to the system.
 *
 * The shedding ladder.  Before the program has to repeat pictures, work
 * that matters less goes, one step at a time, cheapest loss first: a step
 * is taken when the program has been more than SHED_LATE_US behind for
 * SHED_SUSTAIN_US (one late tick is a stall, not an overload: a disk flush,
 * a camera's burst; and the first seconds after start-up, while sources
 * open and encoders warm up, never count) and the last change is
 * SHED_STEP_US old (the step had time to help), and undone, last
 * first, once the program has been on time for overload_recover_s.  Each step is
 * logged and keeps the `overload` alert raised (daemon/health.c); a step
 * that would change nothing here (no ISO encode, the preset already the
 * fastest one shedding uses) is passed over.  docs/ARCHITECTURE.md says
 * why this order. */
#include "pipeline_priv.h"

#include <malloc.h>
#include <stdlib.h>

#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_log.h"

/* On time this long after being late: the overload has passed
 * ([general] overload_recover_s). */
#define RECOVERED_US ((int64_t)p->general.overload_recover_s * 1000000)

#define SHED_LATE_US 250000
#define SHED_SUSTAIN_US 1000000
#define SHED_STARTUP_US 5000000
#define SHED_STEP_US 3000000
#define SHED_UNDO_US RECOVERED_US

/* the console translates these by level (webui/www/i18n.js shed_step_N) */
static const char *const shed_steps[LB_SHED_STEPS + 1] = {
    [LB_SHED_PREVIEWS] = "console previews no longer keep sub-streams decoded in full",
    [LB_SHED_ISO] = "ISO encodes: x264 one preset faster",
    [LB_SHED_RENDITIONS] = "renditions: x264 one preset faster",
    [LB_SHED_PROGRAM] = "the program: x264 one preset faster",
};

/* Puts the encoders at level (each takes it before its next frame);
 * returns whether the step `level` changes anything. */
static int set_encoders(lb_pipeline *p, int level, int step)
{
    int changes = step == LB_SHED_PREVIEWS;
    for (int i = 0; i < p->nb_workers; i++) {
        encode_worker *w = &p->workers[i];
        int mine = w->source >= 0 ? LB_SHED_ISO : LB_SHED_RENDITIONS;
        int applied = lb_video_encoder_set_speed(w->enc, level >= mine);
        changes |= mine == step && applied > 0;
    }
    int applied = lb_video_encoder_set_speed(p->venc, level >= LB_SHED_PROGRAM);
    changes |= step == LB_SHED_PROGRAM && applied > 0;
    return changes;
}

static void shed(lb_pipeline *p, int64_t now, int64_t late_us)
{
    int level = atomic_load(&p->shed_level);
    if (late_us > SHED_LATE_US && now - p->capture.epoch_us >= SHED_STARTUP_US) {
        p->shed_late_us = now;
        if (!p->shed_late_since_us)
            p->shed_late_since_us = now;
        if (level == LB_SHED_STEPS || now - p->shed_changed_us < SHED_STEP_US ||
            now - p->shed_late_since_us < SHED_SUSTAIN_US)
            return;
        int next = level + 1;
        while (next <= LB_SHED_STEPS && !set_encoders(p, next, next))
            next++;                         /* nothing to shed at this step here */
        if (next > LB_SHED_STEPS) {         /* nothing left to shed */
            set_encoders(p, level, -1);
            p->shed_changed_us = now;
            return;
        }
        level = next;
        atomic_store(&p->shed_level, level);
        p->shed_changed_us = now;
        LB_LOGW("overload", "shedding step %d: %s (the program is %.2f s behind real time)", level,
                shed_steps[level], late_us / 1e6);
        return;
    }
    if (late_us <= SHED_LATE_US)
        p->shed_late_since_us = 0;
    if (level && now - p->shed_late_us >= SHED_UNDO_US && now - p->shed_changed_us >= SHED_UNDO_US) {
        LB_LOGI("overload", "step %d undone: %s (on time for %d s)", level, shed_steps[level],
                p->general.overload_recover_s);
        level--;
        /* passed-over steps go with the one below them */
        while (level && !set_encoders(p, level, level))
            level--;
        set_encoders(p, level, -1);
        atomic_store(&p->shed_level, level);
        p->shed_changed_us = now;
    }
}

const char *lb_overload_shedding(const lb_pipeline *p)
{
    int level = atomic_load(&p->shed_level);
    return level ? shed_steps[level] : NULL;
}

static void give_back(lb_pipeline *p)
{
    /* pictures still out keep the old pool until they come back */
    lb_frame_pool_uninit(&p->program_frames);
    malloc_trim(0);
    LB_LOGD("pipeline", "on time again for %d s: frame pools renewed, free memory given back",
            p->general.overload_recover_s);
}

/* How far behind capture the program runs ([general] sync_delay_auto):
 * far enough that the frames each camera shows and the sound of the last
 * tick have arrived.  A camera's frame stamped t is there lag after t; a
 * tick's sound, which runs to the next tick, is read a tick after its
 * picture (daemon/program_sound.c), so a mic needs only its lag.  Up at
 * once when a source gets slower (a frame that misses its tick shows one
 * tick later); down by SYNC_DOWN_US a tick, so that the ticks it saves
 * come a little early each rather than in a burst.  Nothing measured (the
 * first frames, every source lost): sync_delay_ms.  The margin is for a
 * late wake-up beyond those of the last seconds (a loaded machine): a mic's
 * block that misses its tick is silence in it. */
#define SYNC_MARGIN_US 10000
#define SYNC_DOWN_US 1000

static int64_t sync_delay(lb_pipeline *p)
{
    int64_t cap = (int64_t)p->general.sync_delay_ms * 1000;
    int64_t cur = atomic_load(&p->sync_delay_us);
    if (!p->general.sync_delay_auto) {
        atomic_store(&p->sync_delay_us, cap);
        return cap;
    }
    int64_t need = INT64_MIN;
    for (int i = 0; i < p->nb_sources; i++) {
        int64_t lag = lb_source_arrival_lag_us(p->sources[i]);
        lb_clock_trace("lagsrc", i, lag);
        need = FFMAX(need, lag);
    }
    for (int m = 0; m < p->nb_mics; m++) {
        int64_t lag = lb_mic_arrival_lag_us(p->mics[m]);
        lb_clock_trace("lagmic", m, lag);
        if (lag != INT64_MIN)
            need = FFMAX(need, lag);
    }
    int64_t target = need == INT64_MIN ? cap : av_clip64(need + SYNC_MARGIN_US, 0, cap);
    int64_t next = target >= cur ? target : FFMAX(target, cur - SYNC_DOWN_US);
    if (next != cur) {
        atomic_store(&p->sync_delay_us, next);
        if (llabs(next - p->sync_delay_logged_us) >= 5000) {
            LB_LOGD("pipeline", "the program runs %.0f ms behind capture (measured)", next / 1e3);
            p->sync_delay_logged_us = next;
        }
    }
    return next;
}

int lb_overload_pace(lb_pipeline *p, int64_t n, int have_picture)
{
    int64_t delay_us = sync_delay(p);
    int64_t due = p->capture.epoch_us + lb_pipeline_tick_us(p, n) + delay_us;
    int64_t now = lb_clock_now();
    atomic_store(&p->lag_us, now > due ? now - due : 0);
    int take = atomic_exchange(&p->take_pending, 0);
    if (n < p->repeat_until && take) {
        /* an operator's take ends the catch-up: a long one (a machine too
         * busy even for repeated pictures) would hold it back for as long */
        pthread_mutex_lock(&p->lock);
        p->frames_skipped -= (uint64_t)(p->repeat_until - n);
        pthread_mutex_unlock(&p->lock);
        p->repeat_until = n;
        return 0;
    }
    if (n < p->repeat_until)
        return 1;                       /* catching up: no wait */
    if (now < due) {
        if (!p->on_time_once && p->startup_ticks)
            LB_LOGI("pipeline", "the program started %.0f ms behind its time (encoders opening, cameras "
                    "connecting); %lld ticks began more than two ticks late before it caught up", p->startup_behind_us / 1e3,
                    (long long)p->startup_ticks);
        p->on_time_once = 1;
        lb_clock_sleep_until(due);
    } else if (now - due <= 1000000 / (p->fps_num / p->fps_den) * 2) {
        /* within two ticks: on time enough */
    } else if (!p->on_time_once && now - p->capture.epoch_us < SHED_STARTUP_US) {
        /* the pipeline's start (its epoch) to the first tick took this
         * long: not a machine that cannot keep up, so not a late tick */
        p->startup_ticks++;
        p->startup_behind_us = FFMAX(p->startup_behind_us, now - due);
    } else {
        LB_LOGD("pipeline", "tick %lld began %.0f ms after its time", (long long)n, (now - due) / 1e3);
        p->frames_late++;
        p->late_since_trim_us = now;
    }
    shed(p, now, now - due);
    if (p->late_since_trim_us && now - p->late_since_trim_us > RECOVERED_US) {
        p->late_since_trim_us = 0;
        give_back(p);
    }
    if (!p->general.max_lag_ms || now - due <= (int64_t)p->general.max_lag_ms * 1000 || !have_picture ||
        take)
        return 0;
    /* every tick before the one due now repeats the last picture */
    int64_t n_now = av_rescale(now - p->capture.epoch_us - delay_us, p->fps_num, 1000000LL * p->fps_den);
    if (n_now <= n)
        return 0;
    LB_LOGW("pipeline", "%.1f s behind real time: the last picture stands for the next %lld ticks "
            "to catch up", (now - due) / 1e6, (long long)(n_now - n));
    pthread_mutex_lock(&p->lock);
    p->frames_skipped += (uint64_t)(n_now - n);
    pthread_mutex_unlock(&p->lock);
    p->repeat_until = n_now;
    return 1;
}
