/* AAC-LC at 48 kHz through libavcodec.  Samples arrive in any count and are
 * cut into the encoder's 1024-sample frames; timestamps count samples from
 * the first call, so audio never drifts against its own clock. */
#include "encoder.h"

#include <stdio.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/channel_layout.h>

#include "lb_media.h"

struct lb_audio_encoder {
    AVCodecContext *ctx;
    AVCodecParameters *par;
    AVAudioFifo *fifo;
    AVFrame *frame;
    AVPacket *pkt;
    int64_t next_pts;           /* in samples; AV_NOPTS_VALUE before the first call */
};

int lb_audio_encoder_open(lb_audio_encoder **pe, int bitrate_kbps, char *err, size_t err_size)
{
    int ret;
    lb_audio_encoder *e = av_mallocz(sizeof *e);
    if (!e)
        return AVERROR(ENOMEM);
    e->next_pts = AV_NOPTS_VALUE;
    const AVCodec *codec = avcodec_find_encoder(AV_CODEC_ID_AAC);
    if (!codec) {
        snprintf(err, err_size, "encoder: this FFmpeg has no AAC encoder");
        ret = AVERROR_ENCODER_NOT_FOUND;
        goto fail;
    }
    if (!(e->ctx = avcodec_alloc_context3(codec)) || !(e->par = avcodec_parameters_alloc()) ||
        !(e->frame = av_frame_alloc()) || !(e->pkt = av_packet_alloc())) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    e->ctx->sample_fmt = AV_SAMPLE_FMT_FLTP;
    e->ctx->sample_rate = LB_AUDIO_RATE;
    av_channel_layout_default(&e->ctx->ch_layout, 1);
    e->ctx->bit_rate = (int64_t)bitrate_kbps * 1000;
    e->ctx->profile = FF_PROFILE_AAC_LOW;
    e->ctx->time_base = (AVRational){ 1, LB_AUDIO_RATE };
    e->ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if ((ret = avcodec_open2(e->ctx, codec, NULL)) < 0) {
        snprintf(err, err_size, "encoder: AAC at %d kbit/s: %s", bitrate_kbps, av_err2str(ret));
        goto fail;
    }
    if ((ret = avcodec_parameters_from_context(e->par, e->ctx)) < 0)
        goto fail;
    if (!(e->fifo = av_audio_fifo_alloc(AV_SAMPLE_FMT_FLT, 1, e->ctx->frame_size * 4))) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    *pe = e;
    return 0;
fail:
    lb_audio_encoder_close(&e);
    return ret;
}

static int drain(lb_audio_encoder *e, lb_packet_sink sink, void *opaque)
{
    int ret;
    while ((ret = avcodec_receive_packet(e->ctx, e->pkt)) >= 0) {
        av_packet_rescale_ts(e->pkt, e->ctx->time_base, AV_TIME_BASE_Q);
        e->pkt->stream_index = LB_STREAM_PROGRAM_AUDIO;
        ret = sink(opaque, e->pkt);
        av_packet_unref(e->pkt);
        if (ret < 0)
            return ret;
    }
    return ret == AVERROR(EAGAIN) || ret == AVERROR_EOF ? 0 : ret;
}

static int encode_frame(lb_audio_encoder *e, int nb, lb_packet_sink sink, void *opaque)
{
    int ret;
    av_frame_unref(e->frame);
    e->frame->nb_samples = nb;
    e->frame->format = AV_SAMPLE_FMT_FLTP;
    e->frame->sample_rate = LB_AUDIO_RATE;
    if ((ret = av_channel_layout_copy(&e->frame->ch_layout, &e->ctx->ch_layout)) < 0 ||
        (ret = av_frame_get_buffer(e->frame, 0)) < 0)
        return ret;
    /* mono: packed and planar float are the same bytes */
    void *planes[1] = { e->frame->data[0] };
    if (av_audio_fifo_read(e->fifo, planes, nb) < nb)
        return AVERROR_BUG;
    e->frame->pts = e->next_pts;
    e->next_pts += nb;
    if ((ret = avcodec_send_frame(e->ctx, e->frame)) < 0)
        return ret;
    return drain(e, sink, opaque);
}

int lb_audio_encoder_encode(lb_audio_encoder *e, const float *samples, int nb_samples,
                            int64_t pts_us, lb_packet_sink sink, void *opaque)
{
    int ret;
    int fs = e->ctx->frame_size;
    if (!samples) {
        int left = av_audio_fifo_size(e->fifo);
        if (left > 0 && (ret = encode_frame(e, left, sink, opaque)) < 0)
            return ret;
        if ((ret = avcodec_send_frame(e->ctx, NULL)) < 0 && ret != AVERROR_EOF)
            return ret;
        return drain(e, sink, opaque);
    }
    if (e->next_pts == AV_NOPTS_VALUE)
        e->next_pts = av_rescale(pts_us, LB_AUDIO_RATE, 1000000);
    void *planes[1] = { (void *)samples };
    if (av_audio_fifo_write(e->fifo, planes, nb_samples) < nb_samples)
        return AVERROR(ENOMEM);
    while (av_audio_fifo_size(e->fifo) >= fs)
        if ((ret = encode_frame(e, fs, sink, opaque)) < 0)
            return ret;
    return 0;
}

const AVCodecParameters *lb_audio_encoder_codecpar(const lb_audio_encoder *e)
{
    return e->par;
}

void lb_audio_encoder_close(lb_audio_encoder **pe)
{
    lb_audio_encoder *e = pe ? *pe : NULL;
    if (!e)
        return;
    avcodec_free_context(&e->ctx);
    avcodec_parameters_free(&e->par);
    av_audio_fifo_free(e->fifo);
    av_frame_free(&e->frame);
    av_packet_free(&e->pkt);
    av_freep(pe);
}
