/* Design note: microphones.
 *
 * One thread per mic reads blocks from the kind's ops and writes them into
 * a ring of mono float samples addressed by absolute sample index on the
 * program timeline (index = program time x 48 kHz).  Paced kinds (files,
 * synthetic) are consecutive from where the mic started; live kinds are
 * placed by their capture time and then kept consecutive, re-placed only
 * when they stray by more than RESYNC_US (a device that stalled).
 *
 * Clock drift.  A kind that has a clock of its own (an ALSA card, a
 * camera's audio, a simulated device) stamps its blocks; a card's crystal
 * is never exactly 48 kHz on lb_clock, and over an hour 100 ppm is 360 ms.
 * Such blocks go through a 48 kHz -> 48 kHz libswresample context whose
 * compensation is set by a phase-locked loop: the phase error is where a
 * block lands in the ring minus where its stamp says it belongs; a PI
 * controller (critically damped, about 10 s) turns it into a rate
 * correction, so the error settles to zero for any constant drift and the
 * integral term is the measured drift (stats.drift_ppm).  Timestamp jitter
 * is averaged out by a 1 s low-pass filter before the loop.  A lost block
 * (xrun, a hole in a stream) or an error beyond RESYNC_US places the next
 * block by its stamp at once instead of slewing.
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
#include <libswresample/swresample.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_redact.h"
#include "lb_thread.h"

#define RING_SAMPLES (LB_AUDIO_RATE * 4)
#define BLOCK_MAX 48000         /* 1 s: longer than any period */
#define RESYNC_US 200000
#define PEAK_HOLD_US 1000000     /* a peak stays in the stats this long: pollers see it */
#define FIRST_BACKOFF_US 250000
/* the drift loop: see the design note */
#define LOOP_KP 0.2              /* 1/s */
#define LOOP_KI 0.01             /* 1/s^2 */
#define LOOP_FILTER_S 1.0
#define MAX_CORRECTION 0.01      /* 1%: far beyond any real crystal */
#define COMP_DISTANCE 480000     /* compensation in 1/480000 steps: 2 ppm */

/* The drift-correcting resampler of a clocked kind. */
typedef struct drift_loop {
    SwrContext *swr;
    int placed;
    int64_t next_index;     /* where the next corrected sample goes */
    int64_t clock_origin;   /* paced kinds: their clock's 0 on the program timeline */
    double phase_s;         /* filtered phase error */
    double integral;        /* the measured drift */
    uint64_t resyncs;       /* placed anew after straying (not after a known gap) */
} drift_loop;

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
    int live;
    lb_mic_stats stats;
    int64_t peak_at_us;     /* when stats.peak_dbfs was set: it holds PEAK_HOLD_US */
    drift_loop drift;       /* mic thread only */
    lb_lag_window lag;      /* realtime: how late blocks arrive */
};

static const lb_mic_ops *mic_ops_for(int kind)
{
    switch (kind) {
    case LB_KIND_SYNTHETIC: return &lb_mic_synthetic;
    case LB_KIND_URL:       return &lb_mic_url;
    case LB_KIND_ALSA:      return &lb_mic_alsa;
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
    lb_lag_init(&m->lag);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    snprintf(m->name, sizeof m->name, "%s", lb_config_section_instance(sec));
    snprintf(m->log_name, sizeof m->log_name, "capture:mic:%s", m->name);
    m->params = *params;
    m->stats.level_dbfs = -120;
    m->stats.peak_dbfs = -120;
    if ((ret = lb_config_apply(sec, lb_mic_options, &m->settings, err, err_size)) < 0 ||
        (ret = lb_label_check(sec, m->settings.label, err, err_size)) < 0)
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
    m->live = m->ops->is_live ? m->ops->is_live(m->priv) : m->ops->live;
    m->stats.state = LB_SOURCE_CONNECTING;
    *pm = m;
    return 0;
fail:
    lb_mic_free(&m);
    return ret;
}

static void set_state(lb_mic *m, lb_source_state state, const char *raw_error)
{
    /* a URL's password never reaches the status, the API or the log */
    char redacted[sizeof m->stats.last_error];
    const char *error = raw_error ? redacted : NULL;
    if (raw_error)
        lb_redact_text(redacted, sizeof redacted, raw_error);
    pthread_mutex_lock(&m->lock);
    lb_source_state old = m->stats.state;
    int retrying = (old == LB_SOURCE_LOST && state == LB_SOURCE_RECONNECTING) ||
                   (old == LB_SOURCE_RECONNECTING && state == LB_SOURCE_LOST &&
                    error && !strcmp(error, m->stats.last_error));
    m->stats.state = state;
    if (error && *error)
        snprintf(m->stats.last_error, sizeof m->stats.last_error, "%s", error);
    if (state == LB_SOURCE_RECONNECTING)
        m->stats.reconnects++;
    pthread_mutex_unlock(&m->lock);
    if (old != state)
        lb_log(retrying ? LB_LOG_DEBUG :
               state == LB_SOURCE_LOST || state == LB_SOURCE_FAILED ? LB_LOG_WARN : LB_LOG_INFO,
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

/* Sleeps up to us in small steps so that stop is honoured. */
static void nap(lb_mic *m, int64_t us)
{
    int64_t end = lb_clock_now() + us;
    while (!atomic_load(&m->stop) && lb_clock_now() < end)
        lb_clock_sleep_until(FFMIN(end, lb_clock_now() + 100000));
}

/* Runs a stamped block through the drift loop.  t_us is the program time
 * of its first sample.  Returns the number of corrected samples in out and
 * their index in *at, or an error. */
static int drift_correct(lb_mic *m, int64_t t_us, int discontinuity, const float *in, int n,
                         float *out, int out_size, int64_t *at)
{
    drift_loop *d = &m->drift;
    int ret;
    if (!d->swr) {
        AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
        if ((ret = swr_alloc_set_opts2(&d->swr, &mono, AV_SAMPLE_FMT_FLT, LB_AUDIO_RATE,
                                       &mono, AV_SAMPLE_FMT_FLT, LB_AUDIO_RATE, 0, NULL)) < 0 ||
            (ret = swr_init(d->swr)) < 0)
            return ret;
    }
    double expected = (double)t_us * LB_AUDIO_RATE / 1e6;
    int64_t delay = swr_get_delay(d->swr, LB_AUDIO_RATE);
    double phase = (double)(d->next_index + delay) - expected;
    if (!d->placed || discontinuity || fabs(phase) > (double)RESYNC_US * LB_AUDIO_RATE / 1e6) {
        if (d->placed && !discontinuity)
            d->resyncs++;
        if (d->placed)
            lb_log(discontinuity ? LB_LOG_DEBUG : LB_LOG_WARN, m->log_name,
                   "audio placed anew (off by %.1f ms)", phase * 1000 / LB_AUDIO_RATE);
        d->next_index = llrint(expected) - delay;
        d->placed = 1;
        d->phase_s = 0;
        phase = 0;
    }
    double dt = (double)n / LB_AUDIO_RATE;
    d->phase_s += (phase / LB_AUDIO_RATE - d->phase_s) * FFMIN(1.0, dt / LOOP_FILTER_S);
    d->integral = av_clipd(d->integral + LOOP_KI * d->phase_s * dt, -MAX_CORRECTION, MAX_CORRECTION);
    double c = av_clipd(-(LOOP_KP * d->phase_s + d->integral), -MAX_CORRECTION, MAX_CORRECTION);
    if ((ret = swr_set_compensation(d->swr, (int)lrint(c * COMP_DISTANCE), COMP_DISTANCE)) < 0)
        return ret;
    uint8_t *o[1] = { (uint8_t *)out };
    const uint8_t *i[1] = { (const uint8_t *)in };
    if ((ret = swr_convert(d->swr, o, out_size, i, n)) < 0)
        return ret;
    *at = d->next_index;
    d->next_index += ret;
    return ret;
}

static void *mic_thread(void *arg)
{
    lb_mic *m = arg;
    float *block = malloc(sizeof(float) * BLOCK_MAX);
    float *corrected = malloc(sizeof(float) * BLOCK_MAX * 2);
    int64_t backoff = FIRST_BACKOFF_US;
    double gain = pow(10, m->settings.gain_db / 20);
    /* indexes are computed without the sync offset, which is added just
     * before writing: where the next sample would go without it */
    int64_t offset = av_rescale(m->settings.sync_offset_ms, LB_AUDIO_RATE, 1000);
    int64_t unshifted_end = 0;
    char err[256];

    while (block && corrected && !atomic_load(&m->stop)) {
        err[0] = 0;
        int ret = m->ops->open(m->priv, &m->ctx, err, sizeof err);
        if (ret < 0) {
            m->ops->close(m->priv);
            if (atomic_load(&m->stop))
                break;
            if (ret == AVERROR(EINVAL)) {
                set_state(m, LB_SOURCE_FAILED, *err ? err : av_err2str(ret));
                break;
            }
            set_state(m, LB_SOURCE_LOST, *err ? err : av_err2str(ret));
            nap(m, backoff);
            backoff = FFMIN(backoff * 2, (int64_t)m->settings.retry_max_ms * 1000);
            set_state(m, LB_SOURCE_RECONNECTING, NULL);
            continue;
        }
        /* paced mics start where the timeline is now */
        int64_t origin_index = m->params.offline ? unshifted_end
            : FFMAX(unshifted_end, av_rescale(lb_clock_now() - m->params.epoch_us, LB_AUDIO_RATE, 1000000));
        int64_t produced = 0;
        int got_first = 0;
        /* a new connection: placed anew, nothing of the old one left in the
         * resampler; the measured drift (the device's) is kept */
        m->drift.placed = 0;
        m->drift.clock_origin = AV_NOPTS_VALUE;
        swr_free(&m->drift.swr);
        while (!atomic_load(&m->stop)) {
            lb_mic_block blk = { .samples = block, .max_samples = BLOCK_MAX,
                                 .capture_us = AV_NOPTS_VALUE };
            ret = m->ops->read(m->priv, &m->ctx, &blk, err, sizeof err);
            if (ret < 0)
                break;
            if (!got_first) {
                got_first = 1;
                backoff = FIRST_BACKOFF_US;
                set_state(m, LB_SOURCE_LIVE, NULL);
            }
            int n = blk.nb_samples;
            double energy = 0;
            float peak = 0;
            for (int i = 0; i < n; i++) {
                energy += (double)block[i] * block[i];
                peak = fmaxf(peak, fabsf(block[i]));
            }
            if (gain != 1)
                for (int i = 0; i < n; i++)
                    block[i] *= (float)gain;
            const float *out = block;
            int64_t at;
            if (blk.capture_us != AV_NOPTS_VALUE) {
                int64_t t;
                if (m->live) {
                    t = blk.capture_us - m->params.epoch_us;
                } else {
                    if (m->drift.clock_origin == AV_NOPTS_VALUE)
                        m->drift.clock_origin = av_rescale(origin_index, 1000000, LB_AUDIO_RATE) -
                                                blk.capture_us;
                    t = m->drift.clock_origin + blk.capture_us;
                }
                ret = drift_correct(m, t, blk.discontinuity, block, n, corrected,
                                    BLOCK_MAX * 2, &at);
                if (ret < 0) {
                    snprintf(err, sizeof err, "drift correction: %s", av_err2str(ret));
                    break;
                }
                out = corrected;
                n = ret;
            } else if (m->live) {
                /* a live kind without stamps: placed on arrival */
                at = av_rescale(lb_clock_now() - m->params.epoch_us, LB_AUDIO_RATE, 1000000) - n;
                if (produced && llabs(at - unshifted_end) <= (int64_t)RESYNC_US * LB_AUDIO_RATE / 1000000)
                    at = unshifted_end;
            } else {
                at = origin_index + produced;
            }
            unshifted_end = at + n;
            at += offset;
            if (!m->live && !m->params.offline)
                lb_clock_sleep_until(m->params.epoch_us + av_rescale(at, 1000000, LB_AUDIO_RATE));
            produced += n;
            pthread_mutex_lock(&m->lock);
            while (m->params.offline && !m->live && !atomic_load(&m->stop) &&
                   at + n - m->read_index > RING_SAMPLES)
                pthread_cond_wait(&m->cond, &m->lock);
            ring_write(m, at, out, n);
            if (!m->params.offline) {
                int64_t now = lb_clock_now();
                lb_lag_record(&m->lag, now, now - m->params.epoch_us -
                                            av_rescale(at, 1000000, LB_AUDIO_RATE));
            }
            m->stats.level_dbfs = n ? 10 * log10(energy / FFMAX(blk.nb_samples, 1) + 1e-12) : -120;
            m->stats.drift_ppm = m->drift.integral * 1e6;
            m->stats.resyncs = m->drift.resyncs;
            double peak_dbfs = peak > 0 ? 20 * log10(peak) : -120;
            int64_t now_us = lb_clock_now();
            if (peak_dbfs >= m->stats.peak_dbfs || now_us - m->peak_at_us > PEAK_HOLD_US) {
                m->stats.peak_dbfs = peak_dbfs;
                m->peak_at_us = now_us;
            }
            m->stats.xruns += (uint64_t)blk.xruns;
            pthread_mutex_unlock(&m->lock);
        }
        m->ops->close(m->priv);
        if (atomic_load(&m->stop))
            break;
        if (ret == AVERROR_EOF) {
            set_state(m, LB_SOURCE_ENDED, "end of file");
            break;
        }
        if (ret == AVERROR(EINVAL)) {
            set_state(m, LB_SOURCE_FAILED, *err ? err : av_err2str(ret));
            break;
        }
        set_state(m, LB_SOURCE_LOST, *err ? err : av_err2str(ret));
        nap(m, backoff);
        backoff = FFMIN(backoff * 2, (int64_t)m->settings.retry_max_ms * 1000);
        set_state(m, LB_SOURCE_RECONNECTING, NULL);
    }
    free(block);
    free(corrected);
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
    swr_free(&m->drift.swr);
    if (m->priv && m->ops && m->ops->uninit)
        m->ops->uninit(m->priv);
    free(m->ring);
    free(m->priv);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m);
    *pm = NULL;
}

const char *lb_mic_name(const lb_mic *m) { return m->name; }
const char *lb_mic_label(const lb_mic *m) { return *m->settings.label ? m->settings.label : m->name; }
lb_role lb_mic_role(const lb_mic *m) { return (lb_role)m->settings.role; }

void lb_mic_get_stats(lb_mic *m, lb_mic_stats *stats)
{
    pthread_mutex_lock(&m->lock);
    *stats = m->stats;
    pthread_mutex_unlock(&m->lock);
    stats->cpu_us = lb_thread_cpu_us(&m->thread);
}

int64_t lb_mic_arrival_lag_us(lb_mic *m)
{
    return lb_lag_get(&m->lag, lb_clock_now());
}

int lb_mic_read(lb_mic *m, int64_t first, float *dst, int n)
{
    pthread_mutex_lock(&m->lock);
    while (m->params.offline && !m->live && !m->ended && m->write_index < first + n)
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
