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
 * x264 makes a repeated picture of skipped macroblocks, a fraction of a
 * real frame's work, so the archive has a frame for every tick, the audio
 * whole and in sync, and the key frames stay on their grid (encoder/ puts
 * them by time).  The live outputs take the same frames; on a slow network
 * they drop whole GOPs as before.
 *
 * Counted as luobo_program_skipped_frames_total: ticks whose picture was
 * not made (the last one repeated).
 *
 * Memory given back.  An overload fills every queue and grows the pools of
 * frames to match; a pool never gives a buffer back by itself.  Once the
 * program has been on time for RECOVERED_US after being late, the program
 * frames' pool is replaced by an empty one (the old one frees its buffers
 * as the frames in flight come home) and malloc_trim() returns the freed
 * pages to the system. */
#include "pipeline_priv.h"

#include <malloc.h>

#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_log.h"

/* On time this long after being late: the overload has passed. */
#define RECOVERED_US 10000000

static void give_back(lb_pipeline *p)
{
    AVBufferPool *fresh = av_buffer_pool_init(p->frame_pool_size, NULL);
    if (fresh) {
        av_buffer_pool_uninit(&p->frame_pool);
        p->frame_pool = fresh;
    }
    malloc_trim(0);
    LB_LOGD("pipeline", "on time again for %d s: frame pools renewed, free memory given back",
            RECOVERED_US / 1000000);
}

int lb_overload_pace(lb_pipeline *p, int64_t n, int have_picture)
{
    if (n < p->repeat_until)
        return 1;                       /* catching up: no wait */
    int64_t delay_us = (int64_t)p->general.sync_delay_ms * 1000;
    int64_t due = p->capture.epoch_us + av_rescale(n, 1000000LL * p->fps_den, p->fps_num) + delay_us;
    int64_t now = lb_clock_now();
    if (now < due)
        lb_clock_sleep_until(due);
    else if (now - due > 1000000 / (p->fps_num / p->fps_den) * 2) {
        p->frames_late++;
        p->late_since_trim_us = now;
    }
    if (p->late_since_trim_us && now - p->late_since_trim_us > RECOVERED_US) {
        p->late_since_trim_us = 0;
        give_back(p);
    }
    if (!p->general.max_lag_ms || now - due <= (int64_t)p->general.max_lag_ms * 1000 || !have_picture)
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
