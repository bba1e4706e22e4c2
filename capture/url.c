/* Design note: url cameras and microphones (rtsp, srt, rtmp, http, files).
 *
 * A url source reads one video stream through lb_demux, decodes it with
 * libavcodec and hands out YUV420P frames (libswscale only when the decoder
 * gives another format or a size was asked for).  H.264 and HEVC packets are
 * also handed out as they came, for resource mode's stream copy; after every
 * (re)connection they start at a key frame, so a recording of them always
 * decodes.
 *
 * Time: a network stream is live.  Its packets' timestamps are mapped onto
 * lb_clock by lb_ts_map at arrival, and frames and packets carry the mapped
 * time, so jitter of the network and of the decoder never reaches the
 * program.  A file is paced by the framework on its media time; with loop,
 * every pass continues the media time of the previous one.
 *
 * A url mic is the same for the first audio stream, decoded and resampled
 * to 48 kHz mono float by libswresample. */
#include "capture_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_media.h"

#define EARLY_MAX 512
/* a read this fast came from libavformat's buffer, not from the network */
#define BUFFERED_READ_US 2000
#define AUDIO_OBSERVE_US 1000000
/* packets kept since the last key frame for catching up: 20 s at 30 fps;
 * a camera with longer GOPs is decoded in full */
#define GOP_MAX 600

/* ---- the video decoders' pictures ----
 *
 * libavcodec's own pool of pictures grows to the most a decoder ever had
 * out at once (its references, plus every frame in the realtime queue and
 * in the program's hands: 8 more 1080p frames, 25 MB, after the program
 * was late once) and never shrinks.  A camera's decoders take their
 * pictures from a block pool instead (lb_block_pool), which frees the
 * pictures that lay unused through a whole window: after a burst it is
 * back to what the decoder and the queue hold now, a picture at a time
 * (glibc gives each back to the system at once: daemon/main.c).  The
 * layout is libavcodec's; only the source's thread (its decoders) lays
 * out and takes pictures, any thread may give one back. */
#define PLANE_SLACK 128     /* SIMD reads past a plane's end */

typedef struct pic_pool {
    lb_block_pool *blocks;              /* pictures of the layout below */
    int format, width, height;          /* what the layout is for, and */
    enum AVCodecID codec_id;            /* its codec's alignment (avcodec_align_dimensions2) */
    int linesize[4];
    size_t offset[4];                   /* planes in the block */
    int nb_planes;
    int idle;                           /* keeps no free pictures (see pic_pool_idle) */
} pic_pool;

static pic_pool *pic_pool_alloc(void)
{
    pic_pool *pp = calloc(1, sizeof *pp);
    if (pp)
        pp->format = AV_PIX_FMT_NONE;
    return pp;
}

/* A camera off the air decodes a key frame now and then at most: its pool
 * keeps no pictures meanwhile (those of its decoding in full are freed as
 * they come back) and idle = 0 makes it a pool again. */
static void pic_pool_idle(pic_pool *pp, int idle)
{
    pp->idle = idle;
    if (pp->blocks)
        lb_block_pool_set_idle(pp->blocks, idle);
}

/* Pictures still out keep their blocks until they come back. */
static void pic_pool_close(pic_pool **ppp)
{
    pic_pool *pp = *ppp;
    if (!pp)
        return;
    lb_block_pool_close(&pp->blocks);
    free(pp);
    *ppp = NULL;
}

/* The planes of a picture of f's format and size as this decoder wants
 * them: libavcodec's own computation (update_frame_pool in decode.c). */
static int pic_pool_layout(pic_pool *pp, AVCodecContext *c, const AVFrame *f)
{
    int w = f->width, h = f->height, align[AV_NUM_DATA_POINTERS] = { 0 };
    int linesize[4], unaligned, ret;
    avcodec_align_dimensions2(c, &w, &h, align);
    do {
        if ((ret = av_image_fill_linesizes(linesize, f->format, w)) < 0)
            return ret;
        w += w & ~(w - 1);
        unaligned = 0;
        for (int i = 0; i < 4; i++)
            unaligned |= align[i] ? linesize[i] % align[i] : 0;
    } while (unaligned);
    ptrdiff_t ls[4] = { linesize[0], linesize[1], linesize[2], linesize[3] };
    size_t sizes[4];
    if ((ret = av_image_fill_plane_sizes(sizes, f->format, h, ls)) < 0)
        return ret;
    size_t off = 0;
    pp->nb_planes = 0;
    for (int i = 0; i < 4 && sizes[i]; i++) {
        pp->offset[i] = off;
        pp->linesize[i] = linesize[i];
        off += FFALIGN(sizes[i] + PLANE_SLACK, 64);
        pp->nb_planes++;
    }
    /* pictures of the old layout go as they come back */
    lb_block_pool_close(&pp->blocks);
    if (!(pp->blocks = lb_block_pool_create(off, 1, LB_BLOCK_POOL_WINDOW_US))) {
        pp->format = AV_PIX_FMT_NONE;
        return AVERROR(ENOMEM);
    }
    lb_block_pool_set_idle(pp->blocks, pp->idle);
    pp->format = f->format;
    pp->width = f->width;
    pp->height = f->height;
    pp->codec_id = c->codec_id;
    return 0;
}

static int pic_pool_get(pic_pool *pp, AVCodecContext *c, AVFrame *f)
{
    int ret;
    if ((pp->format != f->format || pp->width != f->width || pp->height != f->height ||
         pp->codec_id != c->codec_id) && (ret = pic_pool_layout(pp, c, f)) < 0)
        return ret;
    if (!(f->buf[0] = lb_block_pool_get(pp->blocks)))
        return AVERROR(ENOMEM);
    for (int i = 0; i < AV_NUM_DATA_POINTERS; i++) {
        f->data[i] = i < pp->nb_planes ? f->buf[0]->data + pp->offset[i] : NULL;
        f->linesize[i] = i < pp->nb_planes ? pp->linesize[i] : 0;
    }
    f->extended_data = f->data;
    return 0;
}

static int pooled_get_buffer2(AVCodecContext *c, AVFrame *f, int flags)
{
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(f->format);
    /* what this pool does not lay out: libavcodec's own */
    if (!c->opaque || !desc || c->hw_frames_ctx || !(c->codec->capabilities & AV_CODEC_CAP_DR1) ||
        (desc->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BITSTREAM)))
        return avcodec_default_get_buffer2(c, f, flags);
    return pic_pool_get(c->opaque, c, f);
}

/* What a url source and a url mic share: input, decoder, time. */
typedef struct url_input {
    pic_pool *pics;           /* video: the decoders' pictures */
    lb_demux *dm;
    AVCodecContext *dec;
    AVPacket *in;
    AVFrame *decoded;
    lb_ts_map map;
    int live;
    int draining;             /* the file ended: the decoder gives what it holds */
    int64_t loop_offset_us;   /* added to media time: earlier passes of a loop */
    int64_t pass_start_us, pass_end_us;
    /* live: what probing had already buffered, read at open (see
     * settle()) and handed out first */
    AVPacket *early[EARLY_MAX];
    int nb_early, early_pos;
} url_input;

static int check_url(const lb_source_ctx *ctx, const lb_config_section *sec, int *live,
                     char *err, size_t err_size)
{
    const lb_source_settings *st = ctx->settings;
    if (!*st->url) {
        lb_config_error(sec, "url", err, err_size, "missing (rtsp://, srt://, rtmp://, http://, or a file)");
        return AVERROR(EINVAL);
    }
    if (strcmp(st->transport, "tcp") && strcmp(st->transport, "udp")) {
        lb_config_error(sec, "transport", err, err_size, "'%s' is neither tcp nor udp", st->transport);
        return AVERROR(EINVAL);
    }
    *live = lb_url_is_live(st->url);
    if (lb_url_is_srt_listener(st->url) && !strstr(st->url, "passphrase="))
        LB_LOGW(ctx->name, "%s: the SRT listener has no passphrase: anyone who can reach its "
                "port can send it a stream (add passphrase=<10 to 79 characters> to the url)",
                lb_config_section_name(sec));
    if (*live && st->loop) {
        lb_config_error(sec, "loop", err, err_size, "only files can loop, %s is a live stream", st->url);
        return AVERROR(EINVAL);
    }
    return 0;
}

static int64_t to_us(int64_t ts, AVRational tb)
{
    return ts == AV_NOPTS_VALUE ? AV_NOPTS_VALUE : av_rescale_q(ts, tb, AV_TIME_BASE_Q);
}

static void map_packet(url_input *u, const AVPacket *pkt, int64_t arrival_us)
{
    AVRational tb = lb_demux_stream(u->dm)->time_base;
    int64_t t = to_us(pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts, tb);
    if (t != AV_NOPTS_VALUE)
        lb_ts_map_update(&u->map, t, arrival_us);
}

/* Probing a live stream reads up to a second of it before the first
 * packet comes out; those packets then come out at once, and the first of
 * them would anchor the time map a second late.  So read what is buffered
 * now (reads that return at once), let the map see all of it (the freshest
 * packet sets it right: arrival - media is smallest there), and hand the
 * packets out afterwards.  Audio watches the stream for observe_us more:
 * muxers send it in bursts, and its stamps must not move once out (a
 * move is a cut or a repeat in the sound). */
static int settle(url_input *u, int64_t observe_us, char *err, size_t err_size)
{
    int ret = 0;
    int64_t until = lb_clock_now() + observe_us;
    u->nb_early = u->early_pos = 0;
    while (u->nb_early < EARLY_MAX) {
        AVPacket *p = av_packet_alloc();
        if (!p)
            return AVERROR(ENOMEM);
        int64_t t0 = lb_clock_now();
        if ((ret = lb_demux_read(u->dm, p, err, err_size)) < 0) {
            av_packet_free(&p);
            break;
        }
        int64_t now = lb_clock_now();
        map_packet(u, p, now);
        u->early[u->nb_early++] = p;
        if (now - t0 > BUFFERED_READ_US && now >= until)
            break;              /* this one came from the network: caught up */
    }
    return ret < 0 && !u->nb_early ? ret : 0;
}

/* A decoder for the stream, with up to threads frame or slice threads;
 * pics: where its pictures come from (NULL: libavcodec's own pool).  On
 * failure err says why, and the caller frees *dec. */
static int open_decoder(const AVStream *stream, int threads, int analysis_only, pic_pool *pics,
                        AVCodecContext **dec, char *err, size_t err_size)
{
    const AVCodec *codec = avcodec_find_decoder(stream->codecpar->codec_id);
    int ret;
    if (!codec) {
        snprintf(err, err_size, "no decoder for %s", avcodec_get_name(stream->codecpar->codec_id));
        return AVERROR(EINVAL);
    }
    if (!(*dec = avcodec_alloc_context3(codec))) {
        snprintf(err, err_size, "no memory for the %s decoder", codec->name);
        return AVERROR(ENOMEM);
    }
    if ((ret = avcodec_parameters_to_context(*dec, stream->codecpar)) < 0) {
        snprintf(err, err_size, "the %s decoder cannot take the stream's parameters: %s", codec->name,
                 av_err2str(ret));
        return ret;
    }
    (*dec)->pkt_timebase = stream->time_base;
    (*dec)->thread_count = threads;
    (*dec)->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    /* frame threads (a 4K camera) keep libavcodec's pool: with a callback
     * of ours, libavcodec 59 warns at every open that it may not be
     * thread-safe (it is: pictures come back to an lb_block_pool, which has
     * its lock) */
    if (pics && stream->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && threads == 1) {
        (*dec)->opaque = pics;
        (*dec)->get_buffer2 = pooled_get_buffer2;
        (*dec)->thread_type = FF_THREAD_SLICE;
    }
    /* the director shrinks the picture to 160 pixels: block edges do not
     * survive that, and deblocking is a good part of decoding */
    if (analysis_only)
        (*dec)->skip_loop_filter = AVDISCARD_ALL;
    if ((ret = avcodec_open2(*dec, codec, NULL)) < 0) {
        snprintf(err, err_size, "cannot open the %s decoder: %s", codec->name, av_err2str(ret));
        return ret;
    }
    return 0;
}

static int input_open(url_input *u, const lb_source_ctx *ctx, enum AVMediaType type,
                      int threads, char *err, size_t err_size)
{
    const lb_source_settings *st = ctx->settings;
    lb_demux_params dp = {
        .url = st->url, .transport = st->transport, .timeout_ms = st->timeout_ms,
        .type = type, .stop = ctx->stop,
    };
    int ret;
    if (!(u->in = av_packet_alloc()) || !(u->decoded = av_frame_alloc()))
        return AVERROR(ENOMEM);
    if ((ret = lb_demux_open(&u->dm, &dp, err, err_size)) < 0)
        return ret;
    /* frame threads add a frame of latency and a frame of memory each;
     * with several cameras one thread each already fills the cores */
    if ((ret = open_decoder(lb_demux_stream(u->dm), threads, ctx->analysis_only, u->pics, &u->dec, err, err_size)) < 0)
        return ret;
    u->live = lb_demux_live(u->dm);
    u->map = (lb_ts_map){ 0 };
    if (u->live && (ret = settle(u, type == AVMEDIA_TYPE_AUDIO ? AUDIO_OBSERVE_US : 0, err, err_size)) < 0)
        return ret;
    u->draining = 0;
    u->pass_start_us = AV_NOPTS_VALUE;
    u->pass_end_us = 0;
    return 0;
}

static void input_close(url_input *u)
{
    for (int i = u->early_pos; i < u->nb_early; i++)
        av_packet_free(&u->early[i]);
    u->nb_early = u->early_pos = 0;
    avcodec_free_context(&u->dec);
    lb_demux_close(&u->dm);
    av_packet_free(&u->in);
    av_frame_free(&u->decoded);
}

/* Reads the next packet of the stream into u->in; at the end of a file
 * starts draining the decoder.  Returns 0 when a packet was read, 1 when
 * draining began, or an error. */
static int input_read(url_input *u, char *err, size_t err_size)
{
    int ret;
    if (u->early_pos < u->nb_early) {
        av_packet_move_ref(u->in, u->early[u->early_pos]);
        av_packet_free(&u->early[u->early_pos++]);
        return 0;
    }
    ret = lb_demux_read(u->dm, u->in, err, err_size);
    if (ret == AVERROR_EOF) {
        u->draining = 1;
        if (u->dec)         /* none off the air */
            avcodec_send_packet(u->dec, NULL);
        return 1;
    }
    if (ret < 0)
        return ret;
    if (u->live)
        map_packet(u, u->in, lb_clock_now());
    return 0;
}

static void input_send(url_input *u, const lb_source_ctx *ctx, const AVPacket *pkt)
{
    /* callers take every frame out first, so the decoder has room */
    int ret = avcodec_send_packet(u->dec, pkt);
    if (ret < 0)
        /* a damaged packet (lost over udp): the decoder conceals, go on */
        lb_log(LB_LOG_DEBUG, ctx->name, "decoder refused a packet: %s", av_err2str(ret));
}

/* Reads the next packet and feeds it to the decoder (see input_read). */
static int input_feed(url_input *u, const lb_source_ctx *ctx, char *err, size_t err_size)
{
    int ret = input_read(u, err, err_size);
    if (ret == 0)
        input_send(u, ctx, u->in);
    return ret;
}

/* The time of a decoded frame or block: lb_clock for live streams, media
 * time continued across loop passes for files. */
static int64_t input_time(url_input *u, int64_t ts, int64_t duration_us)
{
    int64_t t = to_us(ts, lb_demux_stream(u->dm)->time_base);
    if (t == AV_NOPTS_VALUE)
        return AV_NOPTS_VALUE;
    if (u->live)
        return u->map.anchored ? lb_ts_map_apply(&u->map, t) : AV_NOPTS_VALUE;
    if (u->pass_start_us == AV_NOPTS_VALUE)
        u->pass_start_us = t;
    u->pass_end_us = FFMAX(u->pass_end_us, t + duration_us);
    return t + u->loop_offset_us;
}

/* The decoder has given everything of a file: start the next pass. */
static int input_rewind(url_input *u, const lb_source_ctx *ctx, char *err, size_t err_size)
{
    int ret = lb_demux_rewind(u->dm);
    if (ret < 0) {
        snprintf(err, err_size, "cannot loop: %s", av_err2str(ret));
        return ret;
    }
    if (u->dec)
        avcodec_flush_buffers(u->dec);
    if (u->pass_start_us != AV_NOPTS_VALUE)
        u->loop_offset_us += u->pass_end_us - u->pass_start_us;
    u->pass_start_us = AV_NOPTS_VALUE;
    u->pass_end_us = 0;
    u->draining = 0;
    return 0;
}

/* ---- cameras ---- */

/* What a receive that gave no frame means, for the video and the audio
 * decode loops alike: 1 when the decoder wants more input, 0 when a looped
 * file was rewound (receive again), or AVERROR_EOF / an error to return. */
static int after_receive(url_input *u, const lb_source_ctx *ctx, int ret, char *err, size_t err_size)
{
    if (ret == AVERROR(EAGAIN) && u->draining)
        ret = AVERROR_EOF;      /* a draining decoder gives frames, then EOF */
    if (ret == AVERROR_EOF) {
        if (!ctx->settings->loop)
            return AVERROR_EOF;
        ret = input_rewind(u, ctx, err, err_size);
        return ret < 0 ? ret : 0;
    }
    if (ret != AVERROR(EAGAIN)) {
        snprintf(err, err_size, "decode: %s", av_err2str(ret));
        return ret;
    }
    return 1;
}

typedef struct url_source {
    url_input u;
    int live;
    int threads;
    struct SwsContext *sws;
    lb_frame_pool scaled;     /* the pictures sws makes */
    AVFrame *converted;
    int64_t frame_us;
    /* passthrough: par is filled once, by the first connection that carries
     * H.264 or HEVC, and published through par_ready */
    AVCodecParameters *par;
    atomic_int par_ready;
    int pass;                 /* this connection's packets go out */
    int need_key;
    int64_t last_dts_us;
    /* decoding on demand (see lb_source_set_on_air): off the air only key
     * frames are decoded, each alone, and the last picture is repeated at
     * every packet's time; going on the air, the packets since the last key
     * frame are decoded again so that the next frame is exact */
    int can_skip;             /* the codec has inter frames to skip */
    int keys_only;
    int full_only;            /* a GOP too long to keep: decode everything */
    AVPacket *gop[GOP_MAX];
    int nb_gop;
    AVFrame *last_out;        /* the last frame handed out */
    int64_t last_out_us;
    int64_t catch_up_to_us;   /* frames up to here were handed out already */
    AVFrame *ready;           /* a frame made between two decoder calls */
} url_source;

static int source_configure(void *priv, const lb_source_ctx *ctx, const lb_config_section *sec,
                            char *err, size_t err_size)
{
    url_source *s = priv;
    int ret = check_url(ctx, sec, &s->live, err, err_size);
    if (ret < 0)
        return ret;
    s->threads = ctx->settings->threads ? ctx->settings->threads : 1;
    if (!(s->par = avcodec_parameters_alloc()) || !(s->last_out = av_frame_alloc()) ||
        !(s->ready = av_frame_alloc()) || !(s->u.pics = pic_pool_alloc()))
        return AVERROR(ENOMEM);
    return 0;
}

static void gop_reset(url_source *s)
{
    for (int i = 0; i < s->nb_gop; i++)
        av_packet_free(&s->gop[i]);
    s->nb_gop = 0;
}

/* Keeps a reference to every packet since the last key frame. */
static void gop_add(url_source *s, const lb_source_ctx *ctx, const AVPacket *pkt)
{
    if (pkt->flags & AV_PKT_FLAG_KEY)
        gop_reset(s);
    else if (!s->nb_gop)
        return;                 /* no key frame yet: nothing to catch up from */
    if (s->nb_gop == GOP_MAX) {
        if (!s->full_only)
            lb_log(LB_LOG_INFO, ctx->name, "no key frame in %d packets: decoding every frame "
                   "even off the air", GOP_MAX);
        s->full_only = 1;
        gop_reset(s);
        return;
    }
    if ((s->gop[s->nb_gop] = av_packet_clone(pkt)))
        s->nb_gop++;
}

static void mark_partial(AVFrame *f)
{
    av_dict_set(&f->metadata, LB_PARTIAL_METADATA, "1", 0);
}

/* Remembers what was handed out, to repeat it off the air. */
static void handed_out(url_source *s, const AVFrame *frame)
{
    av_frame_unref(s->last_out);
    av_frame_ref(s->last_out, frame);
    s->last_out_us = frame->pts;
}

static int same_stream(const AVCodecParameters *a, const AVCodecParameters *b)
{
    return a->codec_id == b->codec_id && a->width == b->width && a->height == b->height &&
           a->extradata_size == b->extradata_size &&
           (!a->extradata_size || !memcmp(a->extradata, b->extradata, (size_t)a->extradata_size));
}

static int source_open(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size)
{
    url_source *s = priv;
    int ret = input_open(&s->u, ctx, AVMEDIA_TYPE_VIDEO, s->threads, err, err_size);
    if (ret < 0)
        return ret;
    const AVStream *st = lb_demux_stream(s->u.dm);
    AVRational rate = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
    s->frame_us = rate.num && rate.den ? av_rescale(1000000, rate.den, rate.num) : 40000;
    const AVCodecParameters *par = st->codecpar;
    s->pass = 0;
    const AVCodecDescriptor *desc = avcodec_descriptor_get(par->codec_id);
    s->can_skip = desc && !(desc->props & AV_CODEC_PROP_INTRA_ONLY);
    s->keys_only = s->full_only = 0;
    pic_pool_idle(s->u.pics, 0);
    s->last_out_us = s->catch_up_to_us = INT64_MIN;
    if (par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC) {
        if (!atomic_load(&s->par_ready)) {
            if ((ret = avcodec_parameters_copy(s->par, par)) < 0)
                return ret;
            atomic_store(&s->par_ready, 1);
        }
        s->pass = same_stream(s->par, par);
        if (!s->pass)
            lb_log(LB_LOG_WARN, ctx->name, "the stream changed (%s %dx%d) since the first "
                   "connection: no passthrough packets until restart",
                   avcodec_get_name(par->codec_id), par->width, par->height);
    }
    s->need_key = 1;
    s->last_dts_us = AV_NOPTS_VALUE;
    lb_log(LB_LOG_INFO, ctx->name, "%s %dx%d %s%s", avcodec_get_name(par->codec_id),
           par->width, par->height, av_get_pix_fmt_name(s->u.dec->pix_fmt) ?
           av_get_pix_fmt_name(s->u.dec->pix_fmt) : "?", s->pass ? ", passthrough" : "");
    return 0;
}

/* Gives frame the decoded picture as YUV420P (at the requested size). */
static int output_frame(url_source *s, const lb_source_ctx *ctx, AVFrame *frame)
{
    AVFrame *d = s->u.decoded;
    int w = ctx->settings->width ? ctx->settings->width : d->width;
    int h = ctx->settings->height ? ctx->settings->height : d->height;
    int ret;
    if (d->format == AV_PIX_FMT_YUV420P && w == d->width && h == d->height) {
        av_frame_move_ref(frame, d);
        return 0;
    }
    s->sws = sws_getCachedContext(s->sws, d->width, d->height, d->format, w, h,
                                  AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (!s->sws)
        return AVERROR(EINVAL);
    if (d->format == AV_PIX_FMT_YUVJ420P || d->format == AV_PIX_FMT_YUVJ422P ||
        d->color_range == AVCOL_RANGE_JPEG) {
        /* full-range input (MJPEG) to the program's limited range */
        const int *coefs = sws_getCoefficients(SWS_CS_ITU709);
        sws_setColorspaceDetails(s->sws, coefs, 1, coefs, 0, 0, 1 << 16, 1 << 16);
    }
    if ((ret = lb_frame_pool_get(&s->scaled, frame, w, h)) < 0)
        return ret;
    sws_scale(s->sws, (const uint8_t *const *)d->data, d->linesize, 0, d->height,
              frame->data, frame->linesize);
    frame->pts = d->pts;
    frame->color_range = AVCOL_RANGE_MPEG;
    av_frame_unref(d);
    return 0;
}

/* The media time of a connection's first packet when it came without one
 * (rtp before its first sync): a frame per packet before the next early
 * packet that has one.  Stamped on arrival instead, it would land after
 * the packets that follow it (mapped from their own times, earlier), which
 * would all be squeezed a microsecond apart behind it. */
static int64_t first_packet_time(const url_source *s)
{
    const url_input *u = &s->u;
    AVRational tb = lb_demux_stream(u->dm)->time_base;
    for (int i = u->early_pos; i < u->nb_early; i++) {
        const AVPacket *e = u->early[i];
        int64_t t = to_us(e->dts != AV_NOPTS_VALUE ? e->dts : e->pts, tb);
        if (t != AV_NOPTS_VALUE)
            return t - (i - u->early_pos + 1) * s->frame_us;
    }
    return AV_NOPTS_VALUE;
}

/* Off the air: the decoder goes, and from now on the stream's key frames
 * are decoded alone (decode_key_alone).  Its pictures (the references, the
 * frames in the realtime queue: 6-9 1080p frames, 20-30 MB) are freed as
 * they come back (pic_pool_idle).  Even a new, empty decoder would keep
 * 0.75 MB of context (H.264), zeroed and so resident, for the camera's time
 * off the air (a flushed one its tables of each picture too, 1 MB a 1080p
 * picture): going on the air opens one, which costs little beside the
 * decoding that follows. */
static void enter_keys_only(url_source *s, const lb_source_ctx *ctx)
{
    url_input *u = &s->u;
    pic_pool_idle(u->pics, 1);
    avcodec_free_context(&u->dec);
    /* scaled pictures (a full-range camera, a set size) are made only on
     * the air: pictures still out keep the old pool until they come back */
    lb_frame_pool_uninit(&s->scaled);
    s->keys_only = 1;
    lb_log(LB_LOG_DEBUG, ctx->name, "off the air: decoding key frames only");
}

/* Back to decoding every frame: a new decoder, the pictures pooled again,
 * and those the source handed out as repeats not handed out again. */
static int leave_keys_only_at(url_source *s, const lb_source_ctx *ctx, char *err, size_t err_size)
{
    url_input *u = &s->u;
    int ret = open_decoder(lb_demux_stream(u->dm), s->threads, ctx->analysis_only, u->pics, &u->dec,
                           err, err_size);
    if (ret < 0) {
        avcodec_free_context(&u->dec);
        return ret;
    }
    pic_pool_idle(u->pics, 0);
    s->keys_only = 0;
    s->catch_up_to_us = s->last_out_us;
    return 0;
}

/* On the air: decodes the packets since the last key frame again (their
 * pictures were handed out as repeats already and are dropped), so that
 * the next packet's frame is exact. */
static int leave_keys_only(url_source *s, const lb_source_ctx *ctx, char *err, size_t err_size)
{
    url_input *u = &s->u;
    int ret = leave_keys_only_at(s, ctx, err, err_size);
    if (ret < 0)
        return ret;
    for (int i = 0; i < s->nb_gop; i++) {
        /* EAGAIN from send: take output and send again; a receive that
         * gives nothing has still taken the packet in (frame threads) */
        for (;;) {
            ret = avcodec_send_packet(u->dec, s->gop[i]);
            if (ret != AVERROR(EAGAIN))
                break;
            ret = avcodec_receive_frame(u->dec, u->decoded);
            if (ret >= 0)
                av_frame_unref(u->decoded);
            else if (ret != AVERROR(EAGAIN))
                break;
        }
    }
    lb_log(LB_LOG_DEBUG, ctx->name, "on the air: decoding every frame (%d caught up)", s->nb_gop);
    return 0;
}

/* Off the air, a key frame is decoded alone, by a decoder of its own with
 * one thread, drained for each key frame (no reordering or frame-thread
 * delay) and freed after: a key frame comes every second or few, and an
 * H.264 decoder's context alone is 0.75 MB, zeroed and so resident, kept
 * by each of a dozen streams off the air.  The main decoder meanwhile is
 * closed (enter_keys_only). */
static int decode_key_alone(url_source *s, const lb_source_ctx *ctx)
{
    url_input *u = &s->u;
    AVCodecContext *key_dec = NULL;
    char err[128];
    int ret = open_decoder(lb_demux_stream(u->dm), 1, 0, u->pics, &key_dec, err, sizeof err);
    if (ret < 0) {
        lb_log(LB_LOG_WARN, ctx->name, "off the air: %s", err);
        goto end;
    }
    avcodec_send_packet(key_dec, u->in);
    avcodec_send_packet(key_dec, NULL);
    while ((ret = avcodec_receive_frame(key_dec, u->decoded)) >= 0) {
        int64_t t = input_time(u, u->decoded->best_effort_timestamp, s->frame_us);
        if (s->ready->buf[0] || t == AV_NOPTS_VALUE || t <= s->last_out_us) {
            av_frame_unref(u->decoded);
            continue;
        }
        u->decoded->pts = t;
        if ((ret = output_frame(s, ctx, s->ready)) < 0)
            break;
        mark_partial(s->ready);
    }
    ret = ret == AVERROR_EOF || ret == AVERROR(EAGAIN) ? 0 : ret;
end:
    avcodec_free_context(&key_dec);
    return ret;
}

/* Off the air beside a sub-stream that gives pictures, nothing shows the
 * main stream's picture: the director, the console's preview and an inset
 * take the sub-stream's.  The picture repeated then shrinks to a stand-in
 * STAND_IN_SHRINK times smaller each way (0.2 MB where a 1080p picture is
 * 3 MB, for each camera off the air) that still says the camera is there:
 * what a program forced to cut before the camera's catch-up would show, and
 * the director's picture for the moments between a sub-stream's failure
 * and the main stream's next key frame.  The camera's size in its stats
 * stays that of its full pictures (capture/source.c). */
#define STAND_IN_SHRINK 4
#define STAND_IN_MIN_WIDTH 640
#define STAND_IN_METADATA "lb_stand_in"

static void shrink_last(url_source *s, const lb_source_ctx *ctx)
{
    AVFrame *f = s->last_out, *small = NULL;
    struct SwsContext *sws = NULL;
    if (f->width < STAND_IN_MIN_WIDTH || (f->metadata && av_dict_get(f->metadata, STAND_IN_METADATA, NULL, 0)))
        return;
    int w = (f->width / STAND_IN_SHRINK) & ~1, h = (f->height / STAND_IN_SHRINK) & ~1;
    if (!(small = av_frame_alloc()))
        return;
    small->format = AV_PIX_FMT_YUV420P;
    small->width = w;
    small->height = h;
    if (av_frame_get_buffer(small, 0) < 0 || av_frame_copy_props(small, f) < 0 ||
        !(sws = sws_getContext(f->width, f->height, f->format, w, h, AV_PIX_FMT_YUV420P, SWS_BILINEAR,
                               NULL, NULL, NULL)))
        goto end;
    sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, small->data, small->linesize);
    av_dict_set(&small->metadata, STAND_IN_METADATA, "1", 0);
    av_frame_unref(s->last_out);
    av_frame_move_ref(s->last_out, small);
    lb_log(LB_LOG_DEBUG, ctx->name, "off the air beside the sub-stream: a %dx%d stand-in repeated", w, h);
end:
    sws_freeContext(sws);
    av_frame_free(&small);
}

/* Off the air, a packet that is not a key frame shows the last picture
 * again at its time. */
static int repeat_last(url_source *s, const lb_source_ctx *ctx)
{
    /* decode order, one packet per frame interval: with B-frames the
     * presentation times jump ahead and back, and a source repeating at
     * them would run frames ahead of the program */
    const AVPacket *in = s->u.in;
    int64_t t = input_time(&s->u, in->dts != AV_NOPTS_VALUE ? in->dts : in->pts, s->frame_us);
    if (!s->last_out->buf[0] || t == AV_NOPTS_VALUE || t <= s->last_out_us)
        return 0;       /* nothing to repeat, or a reordered packet */
    if (!ctx->want_keys && !ctx->want_full)
        shrink_last(s, ctx);
    int ret = av_frame_ref(s->ready, s->last_out);
    if (ret < 0)
        return ret;
    s->ready->pts = t;
    mark_partial(s->ready);
    return 0;
}

static int source_read(void *priv, const lb_source_ctx *ctx, AVFrame *frame, AVPacket *pkt,
                       char *err, size_t err_size)
{
    url_source *s = priv;
    url_input *u = &s->u;
    for (;;) {
        if (atomic_load(ctx->stop))
            return AVERROR_EXIT;
        if (s->ready->buf[0]) {
            av_frame_move_ref(frame, s->ready);
            handed_out(s, frame);
            return 0;
        }
        /* off the air there is no decoder (enter_keys_only) */
        int ret = u->dec ? avcodec_receive_frame(u->dec, u->decoded) : AVERROR(EAGAIN);
        if (ret >= 0) {
            int64_t t = input_time(u, u->decoded->best_effort_timestamp, s->frame_us);
            if (t != AV_NOPTS_VALUE && t <= s->catch_up_to_us) {
                av_frame_unref(u->decoded);     /* caught up: shown as a repeat already */
                continue;
            }
            u->decoded->pts = t;
            if ((ret = output_frame(s, ctx, frame)) >= 0)
                handed_out(s, frame);
            return ret;
        }
        if ((ret = after_receive(u, ctx, ret, err, err_size)) <= 0) {
            if (ret < 0)
                return ret;
            gop_reset(s);
            continue;               /* a looped file started again */
        }
        if (pkt->size)
            return AVERROR(EAGAIN);     /* one packet per call */

        int want_keys = !ctx->want_full && s->can_skip && !s->full_only;
        if (!want_keys && s->keys_only && s->nb_gop) {
            if ((ret = leave_keys_only(s, ctx, err, err_size)) < 0)
                return ret;
            continue;       /* take the decoder's output before feeding it more */
        } else if (want_keys && !s->keys_only && !u->draining)
            enter_keys_only(s, ctx);
        if ((ret = input_read(u, err, err_size)) < 0)
            return ret;
        if (ret == 1)
            continue;
        gop_add(s, ctx, u->in);
        /* no packets to catch up from: start here */
        if (s->keys_only && (u->in->flags & AV_PKT_FLAG_KEY) && !want_keys &&
            (ret = leave_keys_only_at(s, ctx, err, err_size)) < 0)
            return ret;
        if (!s->keys_only)
            input_send(u, ctx, u->in);
        else if ((u->in->flags & AV_PKT_FLAG_KEY) && (ctx->want_keys || !s->last_out->buf[0]))
            ret = decode_key_alone(s, ctx);
        else
            ret = repeat_last(s, ctx);
        if (ret < 0)
            return ret;
        if (s->pass && (!s->need_key || (u->in->flags & AV_PKT_FLAG_KEY))) {
            AVRational tb = lb_demux_stream(u->dm)->time_base;
            int64_t pts = to_us(u->in->pts, tb), dts = to_us(u->in->dts, tb);
            if (dts == AV_NOPTS_VALUE)
                dts = pts;          /* rtp carries no dts: cameras send no B-frames */
            if (pts == AV_NOPTS_VALUE)
                pts = dts;
            if (dts == AV_NOPTS_VALUE && s->last_dts_us == AV_NOPTS_VALUE && u->live)
                pts = dts = first_packet_time(s);
            if (dts == AV_NOPTS_VALUE && s->last_dts_us != AV_NOPTS_VALUE)
                pts = dts = s->last_dts_us + s->frame_us;   /* rtp before its first sync */
            s->last_dts_us = dts;
            s->need_key = 0;
            av_packet_move_ref(pkt, u->in);
            if (dts == AV_NOPTS_VALUE) {
                pkt->pts = pkt->dts = AV_NOPTS_VALUE;       /* stamped on arrival */
            } else if (u->live) {
                pkt->pts = u->map.anchored ? lb_ts_map_apply(&u->map, pts) : AV_NOPTS_VALUE;
                pkt->dts = u->map.anchored ? lb_ts_map_apply(&u->map, dts) : AV_NOPTS_VALUE;
            } else {
                pkt->pts = pts + u->loop_offset_us;
                pkt->dts = dts + u->loop_offset_us;
            }
            pkt->duration = to_us(pkt->duration, tb);
            pkt->time_base = AV_TIME_BASE_Q;
        }
        av_packet_unref(u->in);
    }
}

static void source_close(void *priv)
{
    url_source *s = priv;
    input_close(&s->u);
    gop_reset(s);
    av_frame_unref(s->last_out);
    av_frame_unref(s->ready);
    s->keys_only = s->full_only = 0;
    /* disconnected for however long: no pictures kept (open undoes it) */
    if (s->u.pics)
        pic_pool_idle(s->u.pics, 1);
    sws_freeContext(s->sws);
    s->sws = NULL;
    lb_frame_pool_uninit(&s->scaled);
    /* par stays: codecpar() is valid until the source is freed, and the
     * framework frees priv with free() */
}

static const AVCodecParameters *source_codecpar(void *priv)
{
    url_source *s = priv;
    return atomic_load(&s->par_ready) ? s->par : NULL;
}

static int source_is_live(void *priv)
{
    return ((url_source *)priv)->live;
}

static void source_uninit(void *priv)
{
    url_source *s = priv;
    avcodec_parameters_free(&s->par);
    av_frame_free(&s->last_out);
    av_frame_free(&s->ready);
    pic_pool_close(&s->u.pics);
}

const lb_source_ops lb_source_url = {
    .kind = "url",
    .priv_size = sizeof(url_source),
    .configure = source_configure,
    .open = source_open,
    .read = source_read,
    .close = source_close,
    .codecpar = source_codecpar,
    .is_live = source_is_live,
    .uninit = source_uninit,
};

/* ---- microphones ---- */

typedef struct url_mic {
    url_input u;
    int live;
    SwrContext *swr;
    int64_t expect_us;        /* stream time the next frame should start at */
} url_mic;

static int mic_configure(void *priv, const lb_source_ctx *ctx, const lb_config_section *sec,
                         char *err, size_t err_size)
{
    url_mic *m = priv;
    return check_url(ctx, sec, &m->live, err, err_size);
}

static int mic_open(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size)
{
    url_mic *m = priv;
    int ret = input_open(&m->u, ctx, AVMEDIA_TYPE_AUDIO, 1, err, err_size);
    if (ret < 0)
        return ret;
    AVCodecContext *dec = m->u.dec;
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    AVChannelLayout in = { 0 };
    if (dec->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || !dec->ch_layout.nb_channels)
        av_channel_layout_default(&in, FFMAX(dec->ch_layout.nb_channels, 1));
    else if ((ret = av_channel_layout_copy(&in, &dec->ch_layout)) < 0)
        return ret;
    ret = swr_alloc_set_opts2(&m->swr, &mono, AV_SAMPLE_FMT_FLT, LB_AUDIO_RATE,
                              &in, dec->sample_fmt, dec->sample_rate, 0, NULL);
    av_channel_layout_uninit(&in);
    if (ret < 0 || (ret = swr_init(m->swr)) < 0) {
        snprintf(err, err_size, "cannot resample %d Hz %s: %s", dec->sample_rate,
                 av_get_sample_fmt_name(dec->sample_fmt), av_err2str(ret));
        return ret;
    }
    m->expect_us = AV_NOPTS_VALUE;
    lb_log(LB_LOG_INFO, ctx->name, "%s %d Hz, %d channels", dec->codec->name, dec->sample_rate,
           dec->ch_layout.nb_channels);
    return 0;
}

static int mic_read(void *priv, const lb_source_ctx *ctx, lb_mic_block *blk,
                    char *err, size_t err_size)
{
    url_mic *m = priv;
    url_input *u = &m->u;
    for (;;) {
        if (atomic_load(ctx->stop))
            return AVERROR_EXIT;
        int ret = avcodec_receive_frame(u->dec, u->decoded);
        if (ret >= 0) {
            AVFrame *f = u->decoded;
            int64_t dur = av_rescale(f->nb_samples, 1000000, f->sample_rate ? f->sample_rate : 48000);
            int64_t media = to_us(f->best_effort_timestamp, lb_demux_stream(u->dm)->time_base);
            int64_t t = input_time(u, f->best_effort_timestamp, dur);
            int max_in = (int)av_rescale(blk->max_samples - 64, f->sample_rate, LB_AUDIO_RATE);
            if (f->nb_samples > max_in) {
                snprintf(err, err_size, "audio frames of %d samples are too long", f->nb_samples);
                return AVERROR(EINVAL);
            }
            /* the block's first sample came out of the resampler's delay */
            int64_t delay_us = swr_get_delay(m->swr, 1000000);
            uint8_t *out[1] = { (uint8_t *)blk->samples };
            int n = swr_convert(m->swr, out, blk->max_samples, (const uint8_t **)f->extended_data,
                                f->nb_samples);
            av_frame_unref(f);
            if (n < 0) {
                snprintf(err, err_size, "resample: %s", av_err2str(n));
                return n;
            }
            blk->nb_samples = n;
            blk->capture_us = u->live && t != AV_NOPTS_VALUE ? t - delay_us : AV_NOPTS_VALUE;
            /* a hole in a live stream's own timestamps is lost audio (the
             * mapped times jitter: they are for the drift loop to smooth) */
            blk->discontinuity = u->live && m->expect_us != AV_NOPTS_VALUE && media != AV_NOPTS_VALUE &&
                                 llabs(media - m->expect_us) > 50000;
            m->expect_us = media != AV_NOPTS_VALUE ? media + dur : AV_NOPTS_VALUE;
            if (n)
                return 0;
            continue;
        }
        if ((ret = after_receive(u, ctx, ret, err, err_size)) <= 0) {
            if (ret < 0)
                return ret;
            continue;               /* a looped file started again */
        }
        if ((ret = input_feed(u, ctx, err, err_size)) < 0)
            return ret;
        av_packet_unref(u->in);
    }
}

static void mic_close(void *priv)
{
    url_mic *m = priv;
    input_close(&m->u);
    swr_free(&m->swr);
}

static int mic_is_live(void *priv)
{
    return ((url_mic *)priv)->live;
}

const lb_mic_ops lb_mic_url = {
    .kind = "url",
    .priv_size = sizeof(url_mic),
    .configure = mic_configure,
    .open = mic_open,
    .read = mic_read,
    .close = mic_close,
    .is_live = mic_is_live,
};
