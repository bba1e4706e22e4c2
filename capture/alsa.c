/* Design note: ALSA microphones.
 *
 * The PCM is opened non-blocking and read one period at a time, waiting in
 * snd_pcm_wait() slices of 100 ms so that a stop request or a card that
 * stopped delivering (no samples for timeout_ms) is noticed; an unplugged
 * USB microphone returns ENODEV and is reported lost, then retried.
 *
 * Each block is stamped on lb_clock as "now minus what is still buffered":
 * its last sample was captured snd_pcm_delay() frames ago.  The framework's
 * drift loop (mic.c) compares these stamps with the number of samples and
 * corrects the card's clock error; an xrun (snd_pcm_recover) is counted and
 * marks a discontinuity, so the next block is placed by its stamp instead
 * of being slewed to.
 *
 * A PCM without a clock of its own (ALSA's file plugin over the null one,
 * without `pace = true`) hands out samples as fast as it is read: more
 * sound than time has passed since it started is the sign.  Such a PCM is
 * paced on lb_clock from then on, as `pace = true` would, with one warning,
 * instead of a thread spinning on a core.
 *
 * Channels are averaged to mono here (a predictable mix for any channel
 * count, unlike a layout-based matrix), then libswresample converts the
 * card's rate to 48 kHz when it differs. */
#include "capture_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <alsa/asoundlib.h>
#include <libavutil/mathematics.h>
#include <libswresample/swresample.h>

#include "lb_clock.h"
#include "lb_log.h"

typedef struct alsa_mic {
    snd_pcm_t *pcm;
    snd_pcm_format_t format;
    unsigned rate, channels;
    snd_pcm_uframes_t period, buffer;
    void *buf;                  /* one period, interleaved */
    float *mono;
    SwrContext *swr;            /* rate -> 48 kHz, when they differ */
    int64_t paced_origin_us;    /* pace: lb_clock time of frame 0 */
    int paced;                  /* pace = true, or found faster than real time */
    int64_t started_us;         /* when the PCM started: nothing real is ahead of it */
    int64_t frames_read;
    int64_t last_data_us;
    int xrun_pending;
    int replace;                /* the next block is placed by its stamp */
} alsa_mic;

static pthread_once_t error_handler_once = PTHREAD_ONCE_INIT;

/* alsa-lib's messages go to the one log sink, not to stderr. */
static void alsa_error(const char *file, int line, const char *function, int err,
                       const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lb_log(LB_LOG_DEBUG, "alsa", "%s%s%s", msg, err ? ": " : "", err ? snd_strerror(err) : "");
}

static void install_error_handler(void)
{
    snd_lib_error_set_handler(alsa_error);
}

static int mic_configure(void *priv, const lb_source_ctx *ctx, const lb_config_section *sec,
                         char *err, size_t err_size)
{
    if (!*ctx->settings->device) {
        lb_config_error(sec, "device", err, err_size, "missing (an ALSA PCM name, e.g. hw:1,0 or default)");
        return AVERROR(EINVAL);
    }
    pthread_once(&error_handler_once, install_error_handler);
    return 0;
}

/* "what the device offers" for error messages about a setting. */
static void describe_device(snd_pcm_t *pcm, snd_pcm_hw_params_t *hw, char *out, size_t size)
{
    unsigned cmin = 0, cmax = 0, rmin = 0, rmax = 0;
    snd_pcm_hw_params_any(pcm, hw);
    snd_pcm_hw_params_get_channels_min(hw, &cmin);
    snd_pcm_hw_params_get_channels_max(hw, &cmax);
    snd_pcm_hw_params_get_rate_min(hw, &rmin, NULL);
    snd_pcm_hw_params_get_rate_max(hw, &rmax, NULL);
    snprintf(out, size, "the device offers %u-%u channels at %u-%u Hz", cmin, cmax, rmin, rmax);
}

static int mic_open(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size)
{
    alsa_mic *a = priv;
    const lb_source_settings *st = ctx->settings;
    snd_pcm_hw_params_t *hw;
    snd_pcm_sw_params_t *sw;
    char offers[160];
    int ret;
    snd_pcm_hw_params_alloca(&hw);
    snd_pcm_sw_params_alloca(&sw);

    if ((ret = snd_pcm_open(&a->pcm, st->device, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK)) < 0) {
        snprintf(err, err_size, "cannot open ALSA PCM '%s': %s", st->device, snd_strerror(ret));
        a->pcm = NULL;
        return AVERROR(-ret);
    }
    if ((ret = snd_pcm_hw_params_any(a->pcm, hw)) < 0 ||
        (ret = snd_pcm_hw_params_set_access(a->pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0) {
        snprintf(err, err_size, "'%s': no interleaved access: %s", st->device, snd_strerror(ret));
        return AVERROR(EINVAL);
    }
    /* 16-bit first: what every card and the file plugin in tests speak */
    static const snd_pcm_format_t formats[] = {
        SND_PCM_FORMAT_S16_LE, SND_PCM_FORMAT_S32_LE, SND_PCM_FORMAT_FLOAT_LE,
    };
    ret = -EINVAL;
    for (size_t i = 0; i < FF_ARRAY_ELEMS(formats) && ret < 0; i++)
        if ((ret = snd_pcm_hw_params_set_format(a->pcm, hw, formats[i])) >= 0)
            a->format = formats[i];
    if (ret < 0) {
        snprintf(err, err_size, "'%s' offers none of S16_LE, S32_LE, FLOAT_LE", st->device);
        return AVERROR(EINVAL);
    }
    a->channels = (unsigned)st->channels;
    if ((ret = snd_pcm_hw_params_set_channels(a->pcm, hw, a->channels)) < 0) {
        describe_device(a->pcm, hw, offers, sizeof offers);
        snprintf(err, err_size, "'%s' cannot capture %u channels: %s", st->device, a->channels, offers);
        return AVERROR(EINVAL);
    }
    a->rate = (unsigned)st->rate;
    if ((ret = snd_pcm_hw_params_set_rate(a->pcm, hw, a->rate, 0)) < 0) {
        describe_device(a->pcm, hw, offers, sizeof offers);
        snprintf(err, err_size, "'%s' cannot capture at %u Hz: %s", st->device, a->rate, offers);
        return AVERROR(EINVAL);
    }
    snd_pcm_uframes_t period = (snd_pcm_uframes_t)a->rate * (unsigned)st->period_ms / 1000;
    snd_pcm_uframes_t buffer = period * 8;
    int dir = 0;
    if ((ret = snd_pcm_hw_params_set_period_size_near(a->pcm, hw, &period, &dir)) < 0 ||
        (ret = snd_pcm_hw_params_set_buffer_size_near(a->pcm, hw, &buffer)) < 0 ||
        (ret = snd_pcm_hw_params(a->pcm, hw)) < 0) {
        snprintf(err, err_size, "'%s': cannot use %d ms periods: %s", st->device, st->period_ms,
                 snd_strerror(ret));
        return AVERROR(EINVAL);
    }
    snd_pcm_hw_params_get_period_size(hw, &a->period, &dir);
    a->buffer = buffer;
    if ((ret = snd_pcm_sw_params_current(a->pcm, sw)) < 0 ||
        (ret = snd_pcm_sw_params_set_avail_min(a->pcm, sw, a->period)) < 0 ||
        (ret = snd_pcm_sw_params_set_start_threshold(a->pcm, sw, 1)) < 0 ||
        (ret = snd_pcm_sw_params(a->pcm, sw)) < 0) {
        snprintf(err, err_size, "'%s': sw params: %s", st->device, snd_strerror(ret));
        return AVERROR(EINVAL);
    }
    a->buf = malloc(a->period * a->channels * (size_t)snd_pcm_format_physical_width(a->format) / 8);
    a->mono = malloc(sizeof(float) * a->period);
    if (!a->buf || !a->mono)
        return AVERROR(ENOMEM);
    if (a->rate != LB_AUDIO_RATE) {
        AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
        if ((ret = swr_alloc_set_opts2(&a->swr, &mono, AV_SAMPLE_FMT_FLT, LB_AUDIO_RATE,
                                       &mono, AV_SAMPLE_FMT_FLT, (int)a->rate, 0, NULL)) < 0 ||
            (ret = swr_init(a->swr)) < 0)
            return ret;
    }
    if ((ret = snd_pcm_prepare(a->pcm)) < 0 || (ret = snd_pcm_start(a->pcm)) < 0) {
        snprintf(err, err_size, "'%s': cannot start: %s", st->device, snd_strerror(ret));
        return AVERROR(-ret);
    }
    a->frames_read = 0;
    a->paced_origin_us = a->last_data_us = a->started_us = lb_clock_now();
    a->paced = st->pace;
    a->xrun_pending = a->replace = 0;
    lb_log(LB_LOG_INFO, ctx->name, "ALSA '%s': %s, %u channels, %u Hz, %lu-frame periods%s",
           st->device, snd_pcm_format_name(a->format), a->channels, a->rate,
           (unsigned long)a->period, st->pace ? ", paced" : "");
    return 0;
}

static void to_mono(alsa_mic *a, long n)
{
    unsigned ch = a->channels;
    float scale = 1.0f / (float)ch;
    for (long i = 0; i < n; i++) {
        float sum = 0;
        for (unsigned c = 0; c < ch; c++) {
            size_t k = (size_t)i * ch + c;
            switch (a->format) {
            case SND_PCM_FORMAT_S16_LE: sum += ((const int16_t *)a->buf)[k] / 32768.0f; break;
            case SND_PCM_FORMAT_S32_LE: sum += (float)(((const int32_t *)a->buf)[k] / 2147483648.0); break;
            default:                    sum += ((const float *)a->buf)[k]; break;
            }
        }
        a->mono[i] = sum * scale;
    }
}

/* Sleeps until t (pace) in slices, honouring stop. */
static int wait_until(const lb_source_ctx *ctx, int64_t t)
{
    while (lb_clock_now() < t) {
        if (atomic_load(ctx->stop))
            return AVERROR_EXIT;
        lb_clock_sleep_until(FFMIN(t, lb_clock_now() + 100000));
    }
    return 0;
}

/* A card cannot have captured more than the time since it started, plus
 * its buffer: a PCM 100 ms ahead of that delivers faster than real time. */
static int too_fast(const alsa_mic *a, snd_pcm_sframes_t n, int64_t now)
{
    int64_t possible = av_rescale(now - a->started_us, a->rate, 1000000) + (int64_t)a->buffer;
    return a->frames_read + n > possible + (int64_t)a->rate / 10;
}

static int mic_read(void *priv, const lb_source_ctx *ctx, lb_mic_block *blk,
                    char *err, size_t err_size)
{
    alsa_mic *a = priv;
    const lb_source_settings *st = ctx->settings;
    for (;;) {
        if (atomic_load(ctx->stop))
            return AVERROR_EXIT;
        if (a->paced) {
            int64_t due = a->paced_origin_us +
                          av_rescale(a->frames_read + (int64_t)a->period, 1000000, a->rate);
            if (wait_until(ctx, due) < 0)
                return AVERROR_EXIT;
        }
        snd_pcm_sframes_t n = snd_pcm_readi(a->pcm, a->buf, a->period);
        int64_t now = lb_clock_now();
        if (n == -EAGAIN) {
            if (now - a->last_data_us > (int64_t)st->timeout_ms * 1000) {
                snprintf(err, err_size, "'%s' gave no samples for %d ms", st->device, st->timeout_ms);
                return AVERROR(ETIMEDOUT);
            }
            snd_pcm_wait(a->pcm, 100);
            continue;
        }
        if (n == -EPIPE || n == -ESTRPIPE || n == -EINTR) {
            /* overrun (we were late) or suspend: recover, count, go on */
            int ret = snd_pcm_recover(a->pcm, (int)n, 1);
            if (ret < 0) {
                snprintf(err, err_size, "'%s': cannot recover from %s: %s", st->device,
                         snd_strerror((int)n), snd_strerror(ret));
                return AVERROR(-ret);
            }
            if (n != -EINTR) {
                a->xrun_pending++;
                snd_pcm_start(a->pcm);
            }
            continue;
        }
        if (n < 0) {
            snprintf(err, err_size, "'%s': %s", st->device, snd_strerror((int)n));
            return AVERROR((int)-n);
        }
        if (n == 0)
            continue;
        a->last_data_us = now;
        if (!a->paced && too_fast(a, n, now)) {
            lb_log(LB_LOG_WARN, ctx->name, "ALSA '%s' gave %.2f s of sound in %.2f s: it has no clock of "
                   "its own (a file plugin?); reads are paced on the system clock from now on (say "
                   "pace = true to expect it)", st->device,
                   (double)(a->frames_read + n) / a->rate, (now - a->started_us) / 1e6);
            a->paced = 1;
            /* the block goes on from where it is due now, placed anew */
            a->paced_origin_us = now - av_rescale(a->frames_read, 1000000, a->rate);
            a->replace = 1;
        }
        snd_pcm_sframes_t delay = 0;
        if (a->paced || snd_pcm_delay(a->pcm, &delay) < 0 || delay < 0)
            delay = 0;
        /* the block's first sample was captured n + delay frames ago */
        int64_t first_us = a->paced ? a->paced_origin_us + av_rescale(a->frames_read, 1000000, a->rate)
                                    : now - av_rescale(n + delay, 1000000, a->rate);
        a->frames_read += n;
        to_mono(a, n);
        int out_n = (int)n;
        if (a->swr) {
            first_us -= swr_get_delay(a->swr, 1000000);
            uint8_t *o[1] = { (uint8_t *)blk->samples };
            const uint8_t *i[1] = { (const uint8_t *)a->mono };
            out_n = swr_convert(a->swr, o, blk->max_samples, i, (int)n);
            if (out_n < 0) {
                snprintf(err, err_size, "resample: %s", av_err2str(out_n));
                return out_n;
            }
        } else {
            out_n = (int)FFMIN(n, blk->max_samples);
            memcpy(blk->samples, a->mono, sizeof(float) * (size_t)out_n);
        }
        blk->nb_samples = out_n;
        blk->capture_us = first_us;
        blk->discontinuity = a->xrun_pending > 0 || a->replace;
        blk->xruns = a->xrun_pending;
        a->xrun_pending = a->replace = 0;
        return 0;
    }
}

static void mic_close(void *priv)
{
    alsa_mic *a = priv;
    if (a->pcm)
        snd_pcm_close(a->pcm);
    a->pcm = NULL;
    swr_free(&a->swr);
    free(a->buf);
    free(a->mono);
    a->buf = NULL;
    a->mono = NULL;
}

const lb_mic_ops lb_mic_alsa = {
    .kind = "alsa",
    .priv_size = sizeof(alsa_mic),
    .configure = mic_configure,
    .open = mic_open,
    .read = mic_read,
    .close = mic_close,
    .live = 1,
};
