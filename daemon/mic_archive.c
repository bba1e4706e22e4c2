/* Resource mode for microphones: each mic's own sound to audio/<mic>.m4a.
 *
 * The program thread hands this worker ("enc-mics") every tick's samples of
 * every mic as lb_mic_read gave them (48 kHz mono, before the operator's
 * faders (POST /api/v1/mics), the mixer's gate, AGC and limiter: raw), with the recording's start and stop marks of that tick.
 * The AAC encoders exist only during a lesson: opened at its first frame, so
 * each file's audio starts exactly with the lesson (the encoder's priming
 * packet included), and flushed at its last, so it ends with it; between
 * lessons the samples are dropped unencoded.  The stream table keeps its own
 * copy of the codec parameters, which every reopened encoder shares.
 *
 * The encoder thread waits for this worker at a lesson's stop (like for the
 * ISO video encodes), so every packet reaches the archive before it closes. */
#include "pipeline_priv.h"

#include <stdlib.h>
#include <string.h>

#include "lb_log.h"

typedef struct mic_item {
    int64_t seq;
    int64_t pts_us;
    int nb;
    int start, stop;
    float *samples;                 /* nb_mics x nb */
} mic_item;

static void free_mic_item(void *opaque)
{
    mic_item *it = opaque;
    if (it) {
        free(it->samples);
        free(it);
    }
}

static int mic_sink(void *opaque, AVPacket *pkt)
{
    mic_channel *c = opaque;
    pkt->stream_index = c->stream;
    return lb_streamer_send(c->ma->p->streamer, pkt);
}

int lb_mic_archive_setup(lb_pipeline *p, char *err, size_t err_size)
{
    mic_archive *ma = &p->mic_archive;
    int ret;
    ma->p = p;
    if (!p->encoder.iso || !p->encoder.iso_audio || !p->nb_mics)
        return 0;
    for (int m = 0; m < p->nb_mics; m++) {
        mic_channel *c = &ma->ch[m];
        lb_audio_encoder *probe = NULL;
        c->ma = ma;
        if ((ret = lb_audio_encoder_open(&probe, p->encoder.audio_bitrate_kbps, err, err_size)) < 0)
            return ret;
        if (!(c->par = avcodec_parameters_alloc()) ||
            avcodec_parameters_copy(c->par, lb_audio_encoder_codecpar(probe)) < 0) {
            lb_audio_encoder_close(&probe);
            return AVERROR(ENOMEM);
        }
        lb_audio_encoder_close(&probe);
        if (p->nb_streams == MAX_STREAMS) {
            snprintf(err, err_size, "too many streams for the microphones' files");
            return AVERROR(EINVAL);
        }
        c->stream = p->nb_streams;
        p->streams[p->nb_streams++] = (lb_stream_desc){ LB_STREAM_ISO_AUDIO, lb_mic_name(p->mics[m]),
                                                        c->par, 0 };
    }
    lb_queue_params q = { .name = "mics", .capacity = 16, .policy = LB_QUEUE_BLOCK,
                          .free_item = free_mic_item };
    if (!(ma->queue = lb_queue_alloc(&q)))
        return AVERROR(ENOMEM);
    ma->enabled = 1;
    return 0;
}

static void close_encoders(mic_archive *ma, int flush)
{
    for (int m = 0; m < ma->p->nb_mics; m++) {
        mic_channel *c = &ma->ch[m];
        int ret;
        if (flush && c->enc && (ret = lb_audio_encoder_encode(c->enc, NULL, 0, 0, mic_sink, c)) < 0)
            LB_LOGE("pipeline", "mic %s: audio encoding failed: %s", lb_mic_name(ma->p->mics[m]),
                    av_err2str(ret));
        lb_audio_encoder_close(&c->enc);
    }
}

static void *mic_thread(void *arg)
{
    mic_archive *ma = arg;
    lb_pipeline *p = ma->p;
    for (;;) {
        void *ptr;
        if (lb_queue_pop(ma->queue, &ptr, -1) < 0)
            break;
        mic_item *it = ptr;
        if (it->start) {
            close_encoders(ma, 0);
            for (int m = 0; m < p->nb_mics; m++) {
                char err[256];
                if (lb_audio_encoder_open(&ma->ch[m].enc, p->encoder.audio_bitrate_kbps, err,
                                          sizeof err) < 0)
                    LB_LOGE("pipeline", "mic %s: no audio/%s.m4a: %s", lb_mic_name(p->mics[m]),
                            lb_mic_name(p->mics[m]), err);
            }
        }
        for (int m = 0; m < p->nb_mics; m++) {
            mic_channel *c = &ma->ch[m];
            int ret;
            if (c->enc && (ret = lb_audio_encoder_encode(c->enc, it->samples + (size_t)m * (size_t)it->nb,
                                                         it->nb, it->pts_us, mic_sink, c)) < 0)
                LB_LOGE("pipeline", "mic %s: audio encoding failed: %s", lb_mic_name(p->mics[m]),
                        av_err2str(ret));
        }
        if (it->stop)
            close_encoders(ma, 1);
        pthread_mutex_lock(&p->workers_lock);
        ma->done = it->seq + 1;
        pthread_cond_broadcast(&p->workers_cond);
        pthread_mutex_unlock(&p->workers_lock);
        free_mic_item(it);
    }
    /* the end of the program: the last packets belong to the recording */
    close_encoders(ma, 1);
    pthread_mutex_lock(&p->workers_lock);
    pthread_cond_broadcast(&p->workers_cond);
    pthread_mutex_unlock(&p->workers_lock);
    return NULL;
}

int lb_mic_archive_start(lb_pipeline *p)
{
    mic_archive *ma = &p->mic_archive;
    if (!ma->enabled)
        return 0;
    int ret = lb_thread_start(&ma->thread, "enc-mics", mic_thread, ma);
    if (ret >= 0)
        ma->started = 1;
    return ret;
}

void lb_mic_archive_push(lb_pipeline *p, int64_t seq, float *const *bufs, int nb, int64_t pts_us,
                         int start, int stop)
{
    mic_archive *ma = &p->mic_archive;
    if (!ma->enabled)
        return;
    mic_item *it = calloc(1, sizeof *it);
    if (!it || !(it->samples = malloc(sizeof(float) * (size_t)nb * (size_t)p->nb_mics))) {
        free_mic_item(it);
        LB_LOGE("pipeline", "out of memory for the microphones' files");
        return;
    }
    *it = (mic_item){ .seq = seq, .pts_us = pts_us, .nb = nb, .start = start, .stop = stop,
                      .samples = it->samples };
    for (int m = 0; m < p->nb_mics; m++)
        memcpy(it->samples + (size_t)m * (size_t)nb, bufs[m], sizeof(float) * (size_t)nb);
    if (lb_queue_push(ma->queue, it, -1) < 0)
        free_mic_item(it);
}

void lb_mic_archive_wait(lb_pipeline *p, int64_t seq)
{
    mic_archive *ma = &p->mic_archive;
    if (!ma->enabled)
        return;
    pthread_mutex_lock(&p->workers_lock);
    while (ma->done <= seq && !lb_queue_is_closed(ma->queue))
        pthread_cond_wait(&p->workers_cond, &p->workers_lock);
    pthread_mutex_unlock(&p->workers_lock);
}

void lb_mic_archive_stop(lb_pipeline *p)
{
    mic_archive *ma = &p->mic_archive;
    lb_queue_close(ma->queue);
    if (ma->started)
        lb_thread_join(&ma->thread);
    ma->started = 0;
}

void lb_mic_archive_free(lb_pipeline *p)
{
    mic_archive *ma = &p->mic_archive;
    lb_mic_archive_stop(p);
    lb_queue_free(&ma->queue);
    for (int m = 0; m < LB_MAX_MICS; m++) {
        lb_audio_encoder_close(&ma->ch[m].enc);
        avcodec_parameters_free(&ma->ch[m].par);
    }
    ma->enabled = 0;
}
