/* Design note: microphones.
 *
 * One thread per mic reads blocks from the kind's ops and writes them into
 * a ring of mono float samples addressed by absolute sample index on the
 * program timeline (index = program time x 48 kHz).  Paced kinds (files,
 * synthetic) are consecutive from where the mic started; live kinds are
 * placed by their capture time and then kept consecutive, re-placed only
 * when they stray by more than RESYNC_US (a device that stalled).
 *
 * The consumer reads consecutive windows.  Offline it waits until the mic
 * has written them and the producer waits for room: nothing is lost and runs
 * repeat.  Realtime nobody waits: samples not there yet are silence. */
#include "capture_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_thread.h"

#define RING_SAMPLES (LB_AUDIO_RATE * 4)
#define BLOCK_MAX 4800
#define RESYNC_US 200000
#define MAX_BACKOFF_US 5000000

struct lb_mic {
    char name[64];
    char log_name[80];
    lb_source_settings settings;
    lb_capture_params params;
    const lb_mic_ops *ops;
    void *priv;
    lb_source_ctx ctx;
    atomic_int stop;
    lb_thread thread;

    pthread_mutex_t lock;
    pthread_cond_t cond;
    float *ring;
    int64_t write_index;    /* absolute index of the next sample written */
    int64_t read_index;     /* absolute index the consumer reads next */
    int ended;
    lb_mic_stats stats;
};

static const lb_mic_ops *mic_ops_for(int kind)
{
    switch (kind) {
    case LB_KIND_SYNTHETIC: return &lb_mic_synthetic;
    default:                return NULL;
    }
}

int lb_mic_create(lb_mic **pm, const lb_config_section *sec, const lb_capture_params *params,
                  char *err, size_t err_size)
{
    int ret;
    lb_mic *m = calloc(1, sizeof *m);
    if (!m)
        return AVERROR(ENOMEM);
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(m->name, sizeof m->name, "%s", lb_config_section_instance(sec));
    snprintf(m->log_name, sizeof m->log_name, "capture:mic:%s", m->name);
    m->params = *params;
    m->stats.level_dbfs = -120;
    if ((ret = lb_config_apply(sec, lb_mic_options, &m->settings, err, err_size)) < 0)
        goto fail;
    if (!m->settings.type) {
        lb_config_error(sec, "type", err, err_size, "missing (expected synthetic, url or alsa)");
        ret = AVERROR(EINVAL);
        goto fail;
    }
    if (!(m->ops = mic_ops_for(m->settings.type))) {
        lb_config_error(sec, "type", err, err_size, "this build cannot capture from '%s' yet",
                        lb_config_get(sec, "type"));
        ret = AVERROR(ENOSYS);
        goto fail;
    }
    snprintf(m->stats.kind, sizeof m->stats.kind, "%s", m->ops->kind);
    m->ctx = (lb_source_ctx){ .name = m->log_name, .settings = &m->settings,
                              .params = &m->params, .stop = &m->stop };
    if (!(m->priv = calloc(1, m->ops->priv_size ? m->ops->priv_size : 1)) ||
        !(m->ring = calloc(RING_SAMPLES, sizeof *m->ring))) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    if (m->ops->configure && (ret = m->ops->configure(m->priv, &m->ctx, sec, err, err_size)) < 0)
        goto fail;
    m->stats.state = LB_SOURCE_CONNECTING;
    *pm = m;
    return 0;
fail:
    lb_mic_free(&m);
    return ret;
}

static void set_state(lb_mic *m, lb_source_state state, const char *error)
{
    pthread_mutex_lock(&m->lock);
    lb_source_state old = m->stats.state;
    m->stats.state = state;
    if (error && *error)
        snprintf(m->stats.last_error, sizeof m->stats.last_error, "%s", error);
    if (state == LB_SOURCE_RECONNECTING)
        m->stats.reconnects++;
    pthread_mutex_unlock(&m->lock);
    if (old != state)
        lb_log(state == LB_SOURCE_LOST || state == LB_SOURCE_FAILED ? LB_LOG_WARN : LB_LOG_INFO,
               m->log_name, "%s%s%s", lb_source_state_name(state), error && *error ? ": " : "",
               error ? error : "");
}

/* Writes n samples at absolute index at; lock held.  Offline waits for room. */
static void ring_write(lb_mic *m, int64_t at, const float *samples, int n)
{
    if (at > m->write_index) {              /* a gap: silence */
        int64_t gap = FFMIN(at - m->write_index, RING_SAMPLES);
        for (int64_t i = 0; i < gap; i++)
            m->ring[(at - gap + i) % RING_SAMPLES] = 0;
    }
    if (at < m->write_index) {              /* overlap: the newest wins */
        int64_t skip = m->write_index - at;
        if (skip >= n)
            return;
        samples += skip;
        n -= (int)skip;
        at = m->write_index;
    }
    for (int i = 0; i < n; i++)
        m->ring[(at + i) % RING_SAMPLES] = samples[i];
    m->write_index = at + n;
    m->stats.samples += (uint64_t)n;
    pthread_cond_broadcast(&m->cond);
}

static void *mic_thread(void *arg)
{
    lb_mic *m = arg;
    float *block = malloc(sizeof(float) * BLOCK_MAX);
    int64_t backoff = 500000;
    double gain = pow(10, m->settings.gain_db / 20);
    char err[256];

    while (block && !atomic_load(&m->stop)) {
        err[0] = 0;
        int ret = m->ops->open(m->priv, &m->ctx, err, sizeof err);
        if (ret < 0) {
            m->ops->close(m->priv);
            set_state(m, LB_SOURCE_LOST, *err ? err : av_err2str(ret));
            lb_clock_sleep_until(lb_clock_now() + backoff);
            backoff = FFMIN(backoff * 2, MAX_BACKOFF_US);
            set_state(m, LB_SOURCE_RECONNECTING, NULL);
            continue;
        }
        /* paced mics start where the timeline is now */
        int64_t origin_index = m->params.offline ? m->write_index
            : FFMAX(m->write_index, av_rescale(lb_clock_now() - m->params.epoch_us, LB_AUDIO_RATE, 1000000));
        int64_t produced = 0;
        int got_first = 0;
        while (!atomic_load(&m->stop)) {
            int n = 0;
            int64_t capture_us = 0;
            ret = m->ops->read(m->priv, &m->ctx, block, BLOCK_MAX, &n, &capture_us, err, sizeof err);
            if (ret < 0)
                break;
            if (!got_first) {
                got_first = 1;
                backoff = 500000;
                set_state(m, LB_SOURCE_LIVE, NULL);
            }
            double energy = 0;
            for (int i = 0; i < n; i++)
                energy += (double)block[i] * block[i];
            if (gain != 1)
                for (int i = 0; i < n; i++)
                    block[i] *= (float)gain;
            int64_t at;
            if (m->ops->live) {
                int64_t placed = av_rescale(capture_us - m->params.epoch_us, LB_AUDIO_RATE, 1000000);
                at = m->write_index;
                if (!produced || llabs(placed - at) > (int64_t)RESYNC_US * LB_AUDIO_RATE / 1000000)
                    at = placed;
            } else {
                at = origin_index + produced;
                if (!m->params.offline)
                    lb_clock_sleep_until(m->params.epoch_us +
                                         av_rescale(at, 1000000, LB_AUDIO_RATE));
            }
            produced += n;
            pthread_mutex_lock(&m->lock);
            while (m->params.offline && !atomic_load(&m->stop) &&
                   at + n - m->read_index > RING_SAMPLES)
                pthread_cond_wait(&m->cond, &m->lock);
            ring_write(m, at, block, n);
            m->stats.level_dbfs = n ? 10 * log10(energy / n + 1e-12) : -120;
            pthread_mutex_unlock(&m->lock);
        }
        m->ops->close(m->priv);
        if (atomic_load(&m->stop))
            break;
        if (ret == AVERROR_EOF) {
            set_state(m, LB_SOURCE_ENDED, "end of file");
            break;
        }
        set_state(m, LB_SOURCE_LOST, *err ? err : av_err2str(ret));
        lb_clock_sleep_until(lb_clock_now() + backoff);
        backoff = FFMIN(backoff * 2, MAX_BACKOFF_US);
        set_state(m, LB_SOURCE_RECONNECTING, NULL);
    }
    free(block);
    pthread_mutex_lock(&m->lock);
    m->ended = 1;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

int lb_mic_start(lb_mic *m)
{
    char tname[16];
    snprintf(tname, sizeof tname, "mic-%s", m->name);
    return lb_thread_start(&m->thread, tname, mic_thread, m);
}

void lb_mic_stop(lb_mic *m)
{
    if (!m)
        return;
    atomic_store(&m->stop, 1);
    pthread_mutex_lock(&m->lock);
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    lb_thread_join(&m->thread);
}

void lb_mic_free(lb_mic **pm)
{
    lb_mic *m = pm ? *pm : NULL;
    if (!m)
        return;
    lb_mic_stop(m);
    free(m->ring);
    free(m->priv);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m);
    *pm = NULL;
}

const char *lb_mic_name(const lb_mic *m) { return m->name; }
lb_role lb_mic_role(const lb_mic *m) { return (lb_role)m->settings.role; }

void lb_mic_get_stats(lb_mic *m, lb_mic_stats *stats)
{
    pthread_mutex_lock(&m->lock);
    *stats = m->stats;
    pthread_mutex_unlock(&m->lock);
}

int lb_mic_read(lb_mic *m, int64_t first, float *dst, int n)
{
    pthread_mutex_lock(&m->lock);
    while (m->params.offline && !m->ended && m->write_index < first + n)
        pthread_cond_wait(&m->cond, &m->lock);
    int ended = m->ended && m->write_index < first + n;
    for (int i = 0; i < n; i++) {
        int64_t idx = first + i;
        int fresh = idx < m->write_index && idx >= m->write_index - RING_SAMPLES;
        dst[i] = fresh && !m->settings.mute ? m->ring[idx % RING_SAMPLES] : 0;
    }
    m->read_index = first + n;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return ended ? AVERROR_EOF : n;
}
