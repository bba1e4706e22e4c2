#include "synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/opt.h>

#define MAX_OUT 64

struct synth {
    synth_params p;
    AVCodecContext *venc, *aenc;
    AVCodecParameters *vpar, *apar;
    AVFrame *vframe, *aframe;
    int64_t vcount, acount;             /* frames / samples fed */
    AVPacket *out[MAX_OUT];
    int nb_out;
};

static int drain(synth *s, AVCodecContext *enc, int index)
{
    for (;;) {
        AVPacket *pkt = av_packet_alloc();
        if (!pkt)
            return AVERROR(ENOMEM);
        int ret = avcodec_receive_packet(enc, pkt);
        if (ret < 0) {
            av_packet_free(&pkt);
            return ret == AVERROR(EAGAIN) || ret == AVERROR_EOF ? 0 : ret;
        }
        av_packet_rescale_ts(pkt, enc->time_base, AV_TIME_BASE_Q);
        pkt->stream_index = index;
        if (s->nb_out == MAX_OUT) {
            av_packet_free(&pkt);
            return AVERROR(ENOSPC);
        }
        s->out[s->nb_out++] = pkt;
    }
}

int synth_open(synth **ps, const synth_params *p)
{
    int ret;
    synth *s = calloc(1, sizeof *s);
    if (!s)
        return AVERROR(ENOMEM);
    s->p = *p;
    const AVCodec *vc = avcodec_find_encoder_by_name("libx264");
    const AVCodec *ac = avcodec_find_encoder_by_name("aac");
    if (!vc || !ac) {
        ret = AVERROR_ENCODER_NOT_FOUND;
        goto fail;
    }
    s->venc = avcodec_alloc_context3(vc);
    s->aenc = avcodec_alloc_context3(ac);
    s->vpar = avcodec_parameters_alloc();
    s->apar = avcodec_parameters_alloc();
    s->vframe = av_frame_alloc();
    s->aframe = av_frame_alloc();
    if (!s->venc || !s->aenc || !s->vpar || !s->apar || !s->vframe || !s->aframe) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    s->venc->width = p->width;
    s->venc->height = p->height;
    s->venc->pix_fmt = AV_PIX_FMT_YUV420P;
    s->venc->time_base = (AVRational){ 1, p->fps };
    s->venc->framerate = (AVRational){ p->fps, 1 };
    s->venc->gop_size = p->keyint;
    s->venc->keyint_min = p->keyint;
    s->venc->max_b_frames = p->bframes;
    s->venc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER | AV_CODEC_FLAG_CLOSED_GOP;
    s->venc->thread_count = 1;
    av_opt_set(s->venc->priv_data, "preset", "ultrafast", 0);
    av_opt_set(s->venc->priv_data, "x264-params", p->bframes ? "scenecut=0:rc-lookahead=4:bframes=2"
                                                             : "scenecut=0:rc-lookahead=0", 0);
    if (p->bitrate_kbps > 0) {
        s->venc->bit_rate = p->bitrate_kbps * 1000LL;
        s->venc->rc_max_rate = s->venc->bit_rate;
        s->venc->rc_buffer_size = (int)s->venc->bit_rate;
    } else {
        av_opt_set(s->venc->priv_data, "crf", "30", 0);
    }
    if ((ret = avcodec_open2(s->venc, vc, NULL)) < 0)
        goto fail;
    s->aenc->sample_rate = 48000;
    s->aenc->sample_fmt = AV_SAMPLE_FMT_FLTP;
    av_channel_layout_default(&s->aenc->ch_layout, 1);
    s->aenc->bit_rate = 64000;
    s->aenc->time_base = (AVRational){ 1, 48000 };
    s->aenc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((ret = avcodec_open2(s->aenc, ac, NULL)) < 0)
        goto fail;
    if ((ret = avcodec_parameters_from_context(s->vpar, s->venc)) < 0 ||
        (ret = avcodec_parameters_from_context(s->apar, s->aenc)) < 0)
        goto fail;
    s->vframe->format = AV_PIX_FMT_YUV420P;
    s->vframe->width = p->width;
    s->vframe->height = p->height;
    if ((ret = av_frame_get_buffer(s->vframe, 0)) < 0)
        goto fail;
    s->aframe->format = AV_SAMPLE_FMT_FLTP;
    s->aframe->nb_samples = s->aenc->frame_size;
    s->aframe->sample_rate = 48000;
    av_channel_layout_default(&s->aframe->ch_layout, 1);
    if ((ret = av_frame_get_buffer(s->aframe, 0)) < 0)
        goto fail;
    *ps = s;
    return 0;
fail:
    synth_close(&s);
    return ret;
}

static int feed_video(synth *s)
{
    AVFrame *f = s->vframe;
    int ret = av_frame_make_writable(f);
    if (ret < 0)
        return ret;
    int n = (int)s->vcount;
    for (int y = 0; y < f->height; y++)
        for (int x = 0; x < f->width; x++)
            f->data[0][y * f->linesize[0] + x] = (uint8_t)((x + y + n * 3) & 0xff);
    for (int y = 0; y < f->height / 2; y++) {
        memset(f->data[1] + y * f->linesize[1], 128 + (n % 50), (size_t)f->width / 2);
        memset(f->data[2] + y * f->linesize[2], 128 - (n % 50), (size_t)f->width / 2);
    }
    f->pts = s->vcount++;
    if ((ret = avcodec_send_frame(s->venc, f)) < 0)
        return ret;
    return drain(s, s->venc, 0);
}

static int feed_audio(synth *s)
{
    AVFrame *f = s->aframe;
    int ret = av_frame_make_writable(f);
    if (ret < 0)
        return ret;
    float *d = (float *)f->data[0];
    for (int i = 0; i < f->nb_samples; i++)
        d[i] = 0.3f * (float)sin(2 * M_PI * 440.0 * (double)(s->acount + i) / 48000.0);
    f->pts = s->acount;
    s->acount += f->nb_samples;
    if ((ret = avcodec_send_frame(s->aenc, f)) < 0)
        return ret;
    return drain(s, s->aenc, 1);
}

int synth_next(synth *s, AVPacket **pkt)
{
    while (!s->nb_out) {
        int ret;
        /* feed whichever input is behind in time */
        int64_t vt = s->vcount * 1000000 / s->p.fps;
        int64_t at = s->acount * 1000000 / 48000;
        if ((ret = at <= vt ? feed_audio(s) : feed_video(s)) < 0)
            return ret;
    }
    *pkt = s->out[0];
    memmove(s->out, s->out + 1, sizeof *s->out * (size_t)--s->nb_out);
    return 0;
}

const AVCodecParameters *synth_video_par(const synth *s) { return s->vpar; }
const AVCodecParameters *synth_audio_par(const synth *s) { return s->apar; }

void synth_close(synth **ps)
{
    synth *s = *ps;
    if (!s)
        return;
    for (int i = 0; i < s->nb_out; i++)
        av_packet_free(&s->out[i]);
    avcodec_free_context(&s->venc);
    avcodec_free_context(&s->aenc);
    avcodec_parameters_free(&s->vpar);
    avcodec_parameters_free(&s->apar);
    av_frame_free(&s->vframe);
    av_frame_free(&s->aframe);
    free(s);
    *ps = NULL;
}
