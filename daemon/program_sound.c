/* The program's sound, read tick by tick from the mics and mixed.
 *
 * Offline, a tick's sound goes in its picture's item.  Realtime it is read
 * one tick after its picture, and goes to the encoder in an item of its
 * own just before the next picture's: a tick's sound runs to the next
 * tick, so reading it with its picture would hold every picture back a
 * tick more than the mics need (docs/ARCHITECTURE.md "Live latency").  The
 * sound keeps its own pts, so only the order of the items in the encoder
 * queue changes; a lesson starts at its first picture (the archive drops
 * what is older) and stops after its last tick's sound, which is awaited
 * at once when the lifecycle stops. */
#include "pipeline_priv.h"

#include <stdlib.h>
#include <string.h>

#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_log.h"

struct lb_program_sound {
    lb_pipeline *p;
    int late;                       /* realtime: a tick's sound is read at the next tick */
    float *bufs[LB_MAX_MICS];       /* each mic's samples of the tick read last */
    float *mix;
    int64_t max_samples;
    int nb;
    int64_t first;                  /* sample index of that tick's first sample */
    int64_t pos;                    /* next sample index of the program audio */
    lb_mixer_levels mixed;
    int read;                       /* bufs hold a tick's sound not sent yet */
    int64_t seq;                    /* the tick whose sound is in bufs */
    int start, stop;                /* its recording commands */
    int64_t pending;                /* realtime: the tick whose sound is still to come, or -1 */
    int pending_start, pending_stop;
};

int lb_program_sound_alloc(lb_pipeline *p, lb_program_sound **out)
{
    lb_program_sound *snd = calloc(1, sizeof *snd);
    if (!snd)
        return AVERROR(ENOMEM);
    snd->p = p;
    snd->late = !p->params.offline;
    snd->pending = -1;
    snd->max_samples = av_rescale(LB_AUDIO_RATE, p->fps_den, p->fps_num) + 2;
    /* the director and the meters hear silence before the first sound */
    for (int m = 0; m < LB_MAX_MICS; m++)
        snd->mixed.raw_dbfs[m] = snd->mixed.in_dbfs[m] = -120;
    snd->mixed.out_dbfs = snd->mixed.out_peak_dbfs = -120;
    if (!(snd->mix = malloc(sizeof(float) * (size_t)snd->max_samples)))
        goto fail;
    for (int m = 0; m < p->nb_mics; m++)
        if (!(snd->bufs[m] = malloc(sizeof(float) * (size_t)snd->max_samples)))
            goto fail;
    *out = snd;
    return 0;
fail:
    lb_program_sound_free(&snd);
    return AVERROR(ENOMEM);
}

void lb_program_sound_free(lb_program_sound **psnd)
{
    lb_program_sound *snd = *psnd;
    if (!snd)
        return;
    for (int m = 0; m < LB_MAX_MICS; m++)
        free(snd->bufs[m]);
    free(snd->mix);
    free(snd);
    *psnd = NULL;
}

/* Reads and mixes the sound of tick seq, up to the start of the next. */
static void read_tick(lb_program_sound *snd, int64_t seq, int start, int stop)
{
    lb_pipeline *p = snd->p;
    snd->first = snd->pos;
    snd->nb = (int)FFMIN(av_rescale(lb_pipeline_tick_us(p, seq + 1), LB_AUDIO_RATE, 1000000) - snd->first,
                         snd->max_samples);
    for (int m = 0; m < p->nb_mics; m++)
        lb_mic_read(p->mics[m], snd->first, snd->bufs[m], snd->nb);
    lb_mixer_process(p->mixer, (const float *const *)snd->bufs, snd->nb, snd->mix, &snd->mixed);
    snd->pos += snd->nb;
    snd->seq = seq;
    snd->start = start;
    snd->stop = stop;
    snd->read = 1;
}

const lb_mixer_levels *lb_program_sound_read(lb_program_sound *snd, int64_t n)
{
    if (!snd->late)
        read_tick(snd, n, 0, 0);
    else if (snd->pending >= 0) {
        read_tick(snd, snd->pending, snd->pending_start, snd->pending_stop);
        snd->pending = -1;
    }
    return &snd->mixed;
}

/* The read sound into it, and to the mics' own files with its tick's marks. */
static int take(lb_program_sound *snd, lb_program_item *it)
{
    if (!(it->audio = malloc(sizeof(float) * (size_t)FFMAX(snd->nb, 1))))
        return AVERROR(ENOMEM);
    memcpy(it->audio, snd->mix, sizeof(float) * (size_t)snd->nb);
    it->nb_audio = snd->nb;
    it->audio_pts_us = av_rescale(snd->first, 1000000, LB_AUDIO_RATE);
    lb_mic_archive_push(snd->p, snd->seq, snd->bufs, snd->nb, it->audio_pts_us, snd->start, snd->stop);
    snd->read = 0;
    return 0;
}

/* Realtime: the read sound as an item of its own. */
static int send_read(lb_program_sound *snd)
{
    lb_program_item *it = calloc(1, sizeof *it);
    if (!it || take(snd, it) < 0) {
        lb_program_item_free(it);
        LB_LOGE("pipeline", "out of memory");
        return AVERROR(ENOMEM);
    }
    it->seq = snd->seq;
    it->stop_recording = snd->stop;
    return lb_program_item_push(snd->p, it);
}

/* Realtime: waits until the pending tick's sound has all come, reads and
 * sends it. */
static int send_pending_now(lb_program_sound *snd)
{
    lb_pipeline *p = snd->p;
    lb_clock_sleep_until(p->capture.epoch_us + lb_pipeline_tick_us(p, snd->pending + 1) +
                         atomic_load(&p->sync_delay_us));
    lb_program_sound_read(snd, snd->pending + 1);
    return send_read(snd);
}

int lb_program_sound_send(lb_program_sound *snd, int64_t n, lb_program_item *it, int start, int stop)
{
    int ret;
    it->start_recording = start;
    if (!snd->late) {
        snd->start = start;
        snd->stop = stop;
        it->stop_recording = stop;
        if ((ret = take(snd, it)) < 0) {
            lb_program_item_free(it);
            LB_LOGE("pipeline", "out of memory");
            return ret;
        }
        return lb_program_item_push(snd->p, it);
    }
    /* the last tick's sound goes first: the encoder keeps their order */
    if (snd->read && (ret = send_read(snd)) < 0) {
        lb_program_item_free(it);
        return ret;
    }
    if ((ret = lb_program_item_push(snd->p, it)) < 0)
        return ret;
    snd->pending = n;
    snd->pending_start = start;
    snd->pending_stop = stop;
    return stop ? send_pending_now(snd) : 0;
}

void lb_program_sound_flush(lb_program_sound *snd)
{
    if (snd->late && snd->read)
        send_read(snd);
    if (snd->late && snd->pending >= 0)
        send_pending_now(snd);
}
