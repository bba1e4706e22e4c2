/* Design note: V4L2 cameras and capture cards.
 *
 * The device is opened non-blocking and streamed with mmap buffers; read()
 * polls in 100 ms slices so that a stop request or a device that stopped
 * delivering (no frame for timeout_ms: a capture card without signal, a USB
 * camera gone) is noticed.  An unplugged device fails with ENODEV and is
 * retried by the framework; a missing one (ENOENT) too, since a USB camera
 * may be plugged in later.
 *
 * Format choice: the format, size and rate asked for must be one the device
 * offers (VIDIOC_ENUM_FMT / ENUM_FRAMESIZES / ENUM_FRAMEINTERVALS); when
 * none is asked for, the first of NV12, YUYV, MJPEG, H.264 that offers the
 * size and rate is taken (raw first: no decoding; MJPEG when USB 2 cannot
 * carry raw at that size).  A request that does not fit is a FAILED source
 * whose error sums up what the device offers (the log has all of it).
 *
 * Range: raw YUV the driver calls full range is converted to 16-235.
 *
 * Tested against the kernel's vivid driver (tests/capture/vm): a USB
 * unplug there is POLLERR on the fd, then ENODEV on open until it is back;
 * a driver that gives up streaming is POLLERR too, then EIO from DQBUF,
 * and a new open works at once.
 *
 * Time: buffers carry the driver's capture timestamp; when it is on
 * CLOCK_MONOTONIC (V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, every modern driver)
 * it is lb_clock time already, else the frame is stamped on arrival.
 *
 * H.264 devices: their packets also go out for passthrough (parameter sets
 * in-band: the codecpar carries no extradata). */
#include "capture_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/videodev2.h>

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/mathematics.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_media.h"

#define NB_BUFFERS 4

typedef struct v4l2_format_name {
    const char *name;
    uint32_t fourcc;
    enum AVPixelFormat pix_fmt;     /* raw formats */
    enum AVCodecID codec;           /* compressed formats */
} v4l2_format_name;

/* In the order tried when no format is asked for. */
static const v4l2_format_name format_names[] = {
    { "nv12",  V4L2_PIX_FMT_NV12,  AV_PIX_FMT_NV12,    AV_CODEC_ID_NONE },
    { "yuyv",  V4L2_PIX_FMT_YUYV,  AV_PIX_FMT_YUYV422, AV_CODEC_ID_NONE },
    { "mjpeg", V4L2_PIX_FMT_MJPEG, AV_PIX_FMT_NONE,    AV_CODEC_ID_MJPEG },
    { "h264",  V4L2_PIX_FMT_H264,  AV_PIX_FMT_NONE,    AV_CODEC_ID_H264 },
};

typedef struct v4l2_buffer_map {
    void *start;
    size_t length;
} v4l2_buffer_map;

typedef struct v4l2_source {
    const v4l2_format_name *wanted;   /* NULL: the best the device offers */
    int fd;
    const v4l2_format_name *format;
    int width, height, bytesperline;
    int full_range;                   /* raw formats: Y' 0-255, not 16-235 */
    v4l2_buffer_map buffers[NB_BUFFERS];
    int nb_buffers;
    int streaming;
    AVCodecContext *dec;
    AVFrame *decoded;
    AVPacket *in;
    struct SwsContext *sws;
    int sws_width, sws_height, sws_format, sws_full;    /* what sws was made for */
    lb_frame_pool converted;          /* the pictures sws makes */
    AVCodecParameters *par;
    atomic_int par_ready;
    int64_t last_frame_us;
} v4l2_source;

static int xioctl(int fd, unsigned long req, void *arg)
{
    int r;
    do
        r = ioctl(fd, req, arg);
    while (r < 0 && errno == EINTR);
    return r;
}

static int source_configure(void *priv, const lb_source_ctx *ctx, const lb_config_section *sec,
                            char *err, size_t err_size)
{
    v4l2_source *v = priv;
    const lb_source_settings *st = ctx->settings;
    v->fd = -1;
    if (!*st->device) {
        lb_config_error(sec, "device", err, err_size, "missing (e.g. /dev/video0)");
        return AVERROR(EINVAL);
    }
    if (*st->format) {
        for (size_t i = 0; i < FF_ARRAY_ELEMS(format_names); i++)
            if (!strcmp(st->format, format_names[i].name))
                v->wanted = &format_names[i];
        if (!v->wanted) {
            lb_config_error(sec, "format", err, err_size,
                            "'%s' is not one of mjpeg, yuyv, nv12, h264", st->format);
            return AVERROR(EINVAL);
        }
    }
    if ((st->width == 0) != (st->height == 0)) {
        lb_config_error(sec, st->width ? "height" : "width", err, err_size,
                        "give both width and height, or neither");
        return AVERROR(EINVAL);
    }
    if (!(v->par = avcodec_parameters_alloc()))
        return AVERROR(ENOMEM);
    return 0;
}

static void fourcc_str(uint32_t f, char out[5])
{
    for (int i = 0; i < 4; i++) {
        char c = (char)((f >> (8 * i)) & 0xff);
        out[i] = c >= ' ' && c < 127 ? c : '?';
    }
    out[4] = 0;
}

/* snprintf at out + n that never moves n past the buffer's end, so that
 * a list cut short stays a valid string. */
static size_t append(char *out, size_t size, size_t n, const char *fmt, ...)
{
    va_list ap;
    if (n + 1 >= size)
        return n;
    va_start(ap, fmt);
    int r = vsnprintf(out + n, size - n, fmt, ap);
    va_end(ap);
    return r < 0 ? n : FFMIN(n + (size_t)r, size - 1);
}

/* Appends the rates of one size: all of them ("@30,25,15"), or only the
 * highest ("@30"). */
static size_t list_rates(int fd, uint32_t fourcc, int w, int h, int all, char *out, size_t size)
{
    size_t n = 0;
    double best = 0;
    struct v4l2_frmivalenum iv = { .pixel_format = fourcc, .width = (uint32_t)w, .height = (uint32_t)h };
    for (iv.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv) == 0 && n + 16 < size; iv.index++) {
        if (iv.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
            double fps = (double)iv.discrete.denominator / FFMAX(iv.discrete.numerator, 1);
            best = FFMAX(best, fps);
            if (all)
                n = append(out, size, n, "%s%g", iv.index ? "," : "@", fps);
        } else {
            n = append(out, size, n, "@%g-%g",
                                  (double)iv.stepwise.max.denominator / FFMAX(iv.stepwise.max.numerator, 1),
                                  (double)iv.stepwise.min.denominator / FFMAX(iv.stepwise.min.numerator, 1));
            return n;
        }
    }
    if (!all && best > 0)
        n = append(out, size, n, "@%g", best);
    return n;
}

/* The sizes and rates of one format: " 1920x1080@30,15 1280x720@60,30",
 * or with only each size's highest rate. */
static void list_sizes(int fd, uint32_t fourcc, int all, char *out, size_t size)
{
    size_t n = 0;
    struct v4l2_frmsizeenum fs = { .pixel_format = fourcc };
    out[0] = 0;
    for (fs.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &fs) == 0 && n + 48 < size; fs.index++) {
        if (fs.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
            n = append(out, size, n, " %ux%u", fs.discrete.width, fs.discrete.height);
            n += list_rates(fd, fourcc, (int)fs.discrete.width, (int)fs.discrete.height, all,
                            out + n, size - n);
        } else {
            n = append(out, size, n, " %ux%u-%ux%u", fs.stepwise.min_width,
                                  fs.stepwise.min_height, fs.stepwise.max_width, fs.stepwise.max_height);
            n += list_rates(fd, fourcc, (int)fs.stepwise.max_width, (int)fs.stepwise.max_height, all,
                            out + n, size - n);
            break;
        }
    }
}

static const v4l2_format_name *known_format(uint32_t fourcc)
{
    for (size_t i = 0; i < FF_ARRAY_ELEMS(format_names); i++)
        if (format_names[i].fourcc == fourcc)
            return &format_names[i];
    return NULL;
}

/* What the device offers, for a request that does not fit.  A device may
 * offer dozens of formats (vivid has over 80) with a dozen rates per size:
 * the error (which the status and the web UI show, so it must stay short)
 * names the formats luobo reads with their sizes and each size's highest
 * rate, those with the same sizes together: "YUYV, NV12: 1920x1080@5
 * 1280x720@12.5; MJPG: 1920x1080@30".  The log gets every rate of every
 * format luobo reads, a line each, and the names of the others. */
static void describe_offers(int fd, const char *dev, const char *log_name, char *out, size_t size)
{
    enum { MAX_FORMATS = 16 };
    struct { uint32_t fourcc; char sizes[192]; int done; } usable[MAX_FORMATS];
    int nb = 0;
    char others[256] = "", line[480];
    size_t on = 0, n = 0;
    struct v4l2_fmtdesc d = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
    for (d.index = 0; xioctl(fd, VIDIOC_ENUM_FMT, &d) == 0; d.index++) {
        char cc[5];
        fourcc_str(d.pixelformat, cc);
        if (!known_format(d.pixelformat) || nb == MAX_FORMATS) {
            if (on + 8 < sizeof others)
                on = append(others, sizeof others, on, " %s", cc);
            continue;
        }
        list_sizes(fd, d.pixelformat, 1, line, sizeof line);
        lb_log(LB_LOG_INFO, log_name, "%s offers %s (%s):%s", dev, cc, known_format(d.pixelformat)->name,
               *line ? line : " no sizes");
        usable[nb].fourcc = d.pixelformat;
        usable[nb].done = 0;
        list_sizes(fd, d.pixelformat, 0, usable[nb].sizes, sizeof usable[nb].sizes);
        nb++;
    }
    if (on)
        lb_log(LB_LOG_INFO, log_name, "%s also offers formats luobo does not read:%s", dev, others);
    out[0] = 0;
    for (int i = 0; i < nb && n + 8 < size; i++) {
        if (usable[i].done)
            continue;
        for (int j = i; j < nb && n + 8 < size; j++) {
            if (usable[j].done || strcmp(usable[j].sizes, usable[i].sizes))
                continue;
            char cc[5];
            fourcc_str(usable[j].fourcc, cc);
            n = append(out, size, n, "%s%s", j == i ? (n ? "; " : "") : ", ", cc);
            usable[j].done = 1;
        }
        if (n + 8 < size)
            n = append(out, size, n, ":%s", *usable[i].sizes ? usable[i].sizes : " no sizes");
    }
    if (!nb)
        snprintf(out, size, "no format luobo reads (nv12, yuyv, mjpeg, h264)%s%s", on ? "; it has" : "",
                 others);
}

/* Does the device offer fourcc at w x h (0: its largest) and fps (0: at
 * any rate)?  Sets *w, *h to the size found. */
static int offers(int fd, uint32_t fourcc, int *w, int *h, int fps)
{
    struct v4l2_fmtdesc fmt = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
    int found = 0;
    for (fmt.index = 0; xioctl(fd, VIDIOC_ENUM_FMT, &fmt) == 0; fmt.index++)
        found |= fmt.pixelformat == fourcc;
    if (!found)
        return 0;
    struct v4l2_frmsizeenum fs = { .pixel_format = fourcc };
    int bw = 0, bh = 0;
    for (fs.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &fs) == 0; fs.index++) {
        if (fs.type == V4L2_FRMSIZE_TYPE_DISCRETE) {
            int fw = (int)fs.discrete.width, fh = (int)fs.discrete.height;
            if ((*w && (fw != *w || fh != *h)) || (!*w && fw * fh <= bw * bh))
                continue;
            bw = fw;
            bh = fh;
        } else {
            const struct v4l2_frmsize_stepwise *s = &fs.stepwise;
            if (!*w) {
                bw = (int)s->max_width;
                bh = (int)s->max_height;
            } else if (*w >= (int)s->min_width && *w <= (int)s->max_width &&
                       *h >= (int)s->min_height && *h <= (int)s->max_height &&
                       (*w - (int)s->min_width) % (int)FFMAX(s->step_width, 1) == 0 &&
                       (*h - (int)s->min_height) % (int)FFMAX(s->step_height, 1) == 0) {
                bw = *w;
                bh = *h;
            }
            break;
        }
    }
    if (!bw)
        return 0;
    /* the rate: any interval equal to 1/fps, or a range holding it */
    struct v4l2_frmivalenum iv = { .pixel_format = fourcc, .width = (uint32_t)bw, .height = (uint32_t)bh };
    int rate_ok = 0, any = 0;
    for (iv.index = 0; xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv) == 0; iv.index++) {
        any = 1;
        if (iv.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
            rate_ok |= iv.discrete.numerator * (uint32_t)fps == iv.discrete.denominator;
        } else {
            double lo = (double)iv.stepwise.min.numerator / iv.stepwise.min.denominator;
            double hi = (double)iv.stepwise.max.numerator / iv.stepwise.max.denominator;
            rate_ok |= 1.0 / fps >= lo - 1e-9 && 1.0 / fps <= hi + 1e-9;
            break;
        }
    }
    if (fps && any && !rate_ok)
        return 0;
    *w = bw;
    *h = bh;
    return 1;
}

static int open_decoder(v4l2_source *v, const lb_source_ctx *ctx, char *err, size_t err_size)
{
    const AVCodec *codec = avcodec_find_decoder(v->format->codec);
    int ret;
    if (!codec || !(v->dec = avcodec_alloc_context3(codec)))
        return AVERROR(ENOMEM);
    v->dec->thread_count = ctx->settings->threads ? ctx->settings->threads : 1;
    v->dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
    if ((ret = avcodec_open2(v->dec, codec, NULL)) < 0) {
        snprintf(err, err_size, "cannot open the %s decoder: %s", codec->name, av_err2str(ret));
        return ret;
    }
    if (v->format->codec == AV_CODEC_ID_H264 && !atomic_load(&v->par_ready)) {
        v->par->codec_type = AVMEDIA_TYPE_VIDEO;
        v->par->codec_id = AV_CODEC_ID_H264;
        v->par->width = v->width;
        v->par->height = v->height;
        atomic_store(&v->par_ready, 1);
    }
    return 0;
}

static int source_open(void *priv, const lb_source_ctx *ctx, char *err, size_t err_size)
{
    v4l2_source *v = priv;
    const lb_source_settings *st = ctx->settings;
    const char *dev = st->device;
    char list[256];
    int ret;
    int fps = st->fps ? st->fps : (int)av_rescale(1, ctx->params->fps_num, ctx->params->fps_den);

    if ((v->fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0) {
        ret = AVERROR(errno);
        snprintf(err, err_size, "cannot open %s: %s", dev, av_err2str(ret));
        return ret;
    }
    struct v4l2_capability cap = { 0 };
    if (xioctl(v->fd, VIDIOC_QUERYCAP, &cap) < 0) {
        snprintf(err, err_size, "%s is not a V4L2 device: %s", dev, strerror(errno));
        return AVERROR(EINVAL);
    }
    uint32_t caps = cap.capabilities & V4L2_CAP_DEVICE_CAPS ? cap.device_caps : cap.capabilities;
    if (!(caps & V4L2_CAP_VIDEO_CAPTURE) || !(caps & V4L2_CAP_STREAMING)) {
        snprintf(err, err_size, "%s (%s) is not a streaming capture device", dev, cap.card);
        return AVERROR(EINVAL);
    }

    int w = st->width, h = st->height;
    v->format = NULL;
    /* the program's rate if the device has it; when no rate was asked for,
     * else whatever it gives (many HDMI cards only do 60): the frame
     * synchroniser repeats or drops */
    int rate_set = 0;
    for (int pass = 0; pass < (st->fps ? 1 : 2) && !v->format; pass++) {
        for (size_t i = 0; i < FF_ARRAY_ELEMS(format_names) && !v->format; i++) {
            const v4l2_format_name *f = &format_names[i];
            int fw = w, fh = h;
            if ((!v->wanted || v->wanted == f) && offers(v->fd, f->fourcc, &fw, &fh, pass ? 0 : fps)) {
                v->format = f;
                w = fw;
                h = fh;
                rate_set = !pass;
            }
        }
    }
    if (!v->format) {
        describe_offers(v->fd, dev, ctx->name, list, sizeof list);
        char size[32] = "any size";
        if (w)
            snprintf(size, sizeof size, "%dx%d", w, h);
        snprintf(err, err_size, "%s does not offer %s %s at %d fps; it offers: %s", dev,
                 v->wanted ? v->wanted->name : "nv12/yuyv/mjpeg/h264", size, fps, list);
        return AVERROR(EINVAL);
    }

    struct v4l2_format fmt = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
    fmt.fmt.pix.width = (uint32_t)w;
    fmt.fmt.pix.height = (uint32_t)h;
    fmt.fmt.pix.pixelformat = v->format->fourcc;
    fmt.fmt.pix.field = V4L2_FIELD_ANY;
    if (xioctl(v->fd, VIDIOC_S_FMT, &fmt) < 0) {
        ret = AVERROR(errno);
        snprintf(err, err_size, "%s: cannot set %s %dx%d: %s", dev, v->format->name, w, h, av_err2str(ret));
        return ret == AVERROR(EBUSY) ? ret : AVERROR(EINVAL);
    }
    if (fmt.fmt.pix.pixelformat != v->format->fourcc || (int)fmt.fmt.pix.width != w ||
        (int)fmt.fmt.pix.height != h) {
        snprintf(err, err_size, "%s changed %s %dx%d into %ux%u", dev, v->format->name, w, h,
                 fmt.fmt.pix.width, fmt.fmt.pix.height);
        return AVERROR(EINVAL);
    }
    v->width = w;
    v->height = h;
    v->bytesperline = (int)fmt.fmt.pix.bytesperline;
    /* Capture cards fed by a PC's RGB output, and some webcams, say their
     * YUV is full range; taken as 16-235, such a picture would come out
     * with crushed blacks and clipped whites. */
    uint32_t quant = fmt.fmt.pix.quantization;
    if (quant == V4L2_QUANTIZATION_DEFAULT)
        quant = V4L2_MAP_QUANTIZATION_DEFAULT(0, fmt.fmt.pix.colorspace, fmt.fmt.pix.ycbcr_enc);
    v->full_range = v->format->codec == AV_CODEC_ID_NONE && quant == V4L2_QUANTIZATION_FULL_RANGE;
    struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
    parm.parm.capture.timeperframe.numerator = 1;
    parm.parm.capture.timeperframe.denominator = (uint32_t)fps;
    if (rate_set && xioctl(v->fd, VIDIOC_S_PARM, &parm) < 0)
        lb_log(LB_LOG_DEBUG, ctx->name, "%s: cannot set the frame rate: %s", dev, strerror(errno));
    if (!rate_set && xioctl(v->fd, VIDIOC_G_PARM, &parm) == 0 && parm.parm.capture.timeperframe.numerator)
        fps = (int)(parm.parm.capture.timeperframe.denominator / parm.parm.capture.timeperframe.numerator);

    struct v4l2_requestbuffers req = { .count = NB_BUFFERS, .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
                                       .memory = V4L2_MEMORY_MMAP };
    if (xioctl(v->fd, VIDIOC_REQBUFS, &req) < 0 || req.count < 2) {
        ret = AVERROR(errno ? errno : ENOMEM);
        snprintf(err, err_size, "%s: cannot get buffers: %s", dev, av_err2str(ret));
        return ret;
    }
    for (v->nb_buffers = 0; v->nb_buffers < (int)FFMIN(req.count, NB_BUFFERS); v->nb_buffers++) {
        struct v4l2_buffer b = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP,
                                 .index = (uint32_t)v->nb_buffers };
        if (xioctl(v->fd, VIDIOC_QUERYBUF, &b) < 0)
            return AVERROR(errno);
        void *p = mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, b.m.offset);
        if (p == MAP_FAILED)
            return AVERROR(errno);
        v->buffers[v->nb_buffers] = (v4l2_buffer_map){ p, b.length };
        if (xioctl(v->fd, VIDIOC_QBUF, &b) < 0)
            return AVERROR(errno);
    }
    if (v->format->codec != AV_CODEC_ID_NONE && (ret = open_decoder(v, ctx, err, err_size)) < 0)
        return ret;
    if (!(v->decoded = av_frame_alloc()) || !(v->in = av_packet_alloc()))
        return AVERROR(ENOMEM);
    enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
    if (xioctl(v->fd, VIDIOC_STREAMON, &type) < 0) {
        ret = AVERROR(errno);
        snprintf(err, err_size, "%s: cannot start streaming: %s", dev, av_err2str(ret));
        return ret;
    }
    v->streaming = 1;
    v->last_frame_us = lb_clock_now();
    lb_log(LB_LOG_INFO, ctx->name, "%s (%s): %s %dx%d at %d fps%s", dev, cap.card, v->format->name,
           w, h, fps, v->full_range ? ", full range" : "");
    return 0;
}

/* Converts src (any format) into frame as YUV420P limited range. */
static int convert(v4l2_source *v, const AVFrame *src, AVFrame *frame)
{
    int ret;
    int full = src->format == AV_PIX_FMT_YUVJ420P || src->format == AV_PIX_FMT_YUVJ422P ||
               src->color_range == AVCOL_RANGE_JPEG;
    if (src->format == AV_PIX_FMT_YUV420P && !full)
        return av_frame_ref(frame, src);
    if (!v->sws || v->sws_width != src->width || v->sws_height != src->height ||
        v->sws_format != src->format || v->sws_full != full) {
        /* The ranges must be set before sws_init_context: it picks a fast
         * unscaled path (NV12 or YUYV to YUV420P, or a plain copy) only
         * when they are equal, and that path never converts them, whatever
         * sws_setColorspaceDetails says later. */
        sws_freeContext(v->sws);
        if (!(v->sws = sws_alloc_context()))
            return AVERROR(ENOMEM);
        av_opt_set_int(v->sws, "srcw", src->width, 0);
        av_opt_set_int(v->sws, "srch", src->height, 0);
        av_opt_set_int(v->sws, "src_format", src->format, 0);
        av_opt_set_int(v->sws, "dstw", src->width, 0);
        av_opt_set_int(v->sws, "dsth", src->height, 0);
        av_opt_set_int(v->sws, "dst_format", AV_PIX_FMT_YUV420P, 0);
        av_opt_set_int(v->sws, "sws_flags", SWS_BILINEAR, 0);
        av_opt_set_int(v->sws, "src_range", full, 0);
        av_opt_set_int(v->sws, "dst_range", 0, 0);
        if (sws_init_context(v->sws, NULL, NULL) < 0) {
            sws_freeContext(v->sws);
            v->sws = NULL;
            return AVERROR(EINVAL);
        }
        v->sws_width = src->width;
        v->sws_height = src->height;
        v->sws_format = src->format;
        v->sws_full = full;
    }
    if ((ret = lb_frame_pool_get(&v->converted, frame, src->width, src->height)) < 0)
        return ret;
    sws_scale(v->sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
              frame->data, frame->linesize);
    frame->color_range = AVCOL_RANGE_MPEG;
    return 0;
}

/* The stream stopped: the device is gone (ENODEV) or the driver gave up
 * on the stream (EIO), which a DQBUF or a QBUF may be the first to see. */
static int stream_error(const char *device, int e, char *err, size_t err_size)
{
    if (e == ENODEV) {
        snprintf(err, err_size, "%s is gone", device);
        return AVERROR(ENODEV);
    }
    snprintf(err, err_size, "%s: streaming failed: %s", device, strerror(e));
    return e == EINVAL ? AVERROR(EIO) : AVERROR(e);    /* EINVAL would be "never retry" */
}

static int source_read(void *priv, const lb_source_ctx *ctx, AVFrame *frame, AVPacket *pkt,
                       char *err, size_t err_size)
{
    v4l2_source *v = priv;
    const lb_source_settings *st = ctx->settings;
    int ret;
    /* a frame the decoder still holds */
    if (v->dec && (ret = avcodec_receive_frame(v->dec, v->decoded)) >= 0) {
        int64_t t = v->decoded->best_effort_timestamp;
        ret = convert(v, v->decoded, frame);
        av_frame_unref(v->decoded);
        frame->pts = t;
        return ret;
    }
    for (;;) {
        if (atomic_load(ctx->stop))
            return AVERROR_EXIT;
        struct pollfd pfd = { .fd = v->fd, .events = POLLIN };
        int r = poll(&pfd, 1, 100);
        int64_t now = lb_clock_now();
        if (r < 0 && errno != EINTR) {
            snprintf(err, err_size, "%s: poll: %s", st->device, strerror(errno));
            return AVERROR(errno);
        }
        if (r <= 0) {
            if (now - v->last_frame_us > (int64_t)st->timeout_ms * 1000) {
                snprintf(err, err_size, "%s gave no frame for %d ms (no signal?)", st->device, st->timeout_ms);
                return AVERROR(ETIMEDOUT);
            }
            continue;
        }
        /* POLLERR is both a device that is gone and a queue the driver gave
         * up on (vb2_queue_error: a capture card's DMA fault, say); DQBUF
         * tells them apart: ENODEV or EIO. */
        int pollerr = pfd.revents & (POLLERR | POLLHUP);
        struct v4l2_buffer b = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE, .memory = V4L2_MEMORY_MMAP };
        if (xioctl(v->fd, VIDIOC_DQBUF, &b) < 0) {
            int e = errno;
            if (e == EAGAIN && !pollerr)
                continue;
            return stream_error(st->device, e == EAGAIN ? ENODEV : e, err, err_size);
        }
        v->last_frame_us = now;
        int64_t t = AV_NOPTS_VALUE;
        if ((b.flags & V4L2_BUF_FLAG_TIMESTAMP_MASK) == V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC &&
            (b.timestamp.tv_sec || b.timestamp.tv_usec))
            t = (int64_t)b.timestamp.tv_sec * 1000000 + b.timestamp.tv_usec;
        const uint8_t *data = v->buffers[b.index].start;
        ret = 0;
        if (b.flags & V4L2_BUF_FLAG_ERROR || !b.bytesused) {
            ret = AVERROR(EAGAIN);          /* a damaged frame: skip it */
        } else if (!v->dec) {
            AVFrame *raw = v->decoded;
            raw->format = v->format->pix_fmt;
            raw->width = v->width;
            raw->height = v->height;
            raw->color_range = v->full_range ? AVCOL_RANGE_JPEG : AVCOL_RANGE_MPEG;
            av_image_fill_arrays(raw->data, raw->linesize, data, raw->format, v->width, v->height, 1);
            if (v->bytesperline)
                raw->linesize[0] = v->bytesperline;
            if (raw->format == AV_PIX_FMT_NV12 && v->bytesperline) {
                raw->linesize[1] = v->bytesperline;
                raw->data[1] = (uint8_t *)data + (size_t)v->bytesperline * (size_t)v->height;
            }
            ret = convert(v, raw, frame);
            memset(raw->data, 0, sizeof raw->data);
            frame->pts = t;
        } else {
            v->in->data = (uint8_t *)data;
            v->in->size = (int)b.bytesused;
            v->in->pts = v->in->dts = t;
            v->in->flags = b.flags & V4L2_BUF_FLAG_KEYFRAME ? AV_PKT_FLAG_KEY : 0;
            if (v->format->codec == AV_CODEC_ID_H264 && (ret = av_packet_ref(pkt, v->in)) >= 0)
                pkt->time_base = AV_TIME_BASE_Q;    /* a copy: the buffer goes back below */
            /* without a reference the decoder copies what it keeps */
            if (ret >= 0 && (ret = avcodec_send_packet(v->dec, v->in)) < 0)
                lb_log(LB_LOG_DEBUG, ctx->name, "decoder refused a frame: %s", av_err2str(ret));
            v->in->data = NULL;
            v->in->size = 0;
            ret = avcodec_receive_frame(v->dec, v->decoded);
            if (ret >= 0) {
                int64_t ft = v->decoded->best_effort_timestamp;
                ret = convert(v, v->decoded, frame);
                av_frame_unref(v->decoded);
                frame->pts = ft;
            }
        }
        if (xioctl(v->fd, VIDIOC_QBUF, &b) < 0)
            return stream_error(st->device, errno, err, err_size);
        if (ret == AVERROR(EAGAIN) && !pkt->size)
            continue;
        return ret;
    }
}

static void source_close(void *priv)
{
    v4l2_source *v = priv;
    if (v->streaming) {
        enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
        xioctl(v->fd, VIDIOC_STREAMOFF, &type);
        v->streaming = 0;
    }
    for (int i = 0; i < v->nb_buffers; i++)
        munmap(v->buffers[i].start, v->buffers[i].length);
    v->nb_buffers = 0;
    if (v->fd >= 0)
        close(v->fd);
    v->fd = -1;
    avcodec_free_context(&v->dec);
    av_frame_free(&v->decoded);
    av_packet_free(&v->in);
    sws_freeContext(v->sws);
    v->sws = NULL;
    lb_frame_pool_uninit(&v->converted);
}

static const AVCodecParameters *source_codecpar(void *priv)
{
    v4l2_source *v = priv;
    return atomic_load(&v->par_ready) ? v->par : NULL;
}

static void source_uninit(void *priv)
{
    v4l2_source *v = priv;
    avcodec_parameters_free(&v->par);
}

const lb_source_ops lb_source_v4l2 = {
    .kind = "v4l2",
    .priv_size = sizeof(v4l2_source),
    .configure = source_configure,
    .open = source_open,
    .read = source_read,
    .close = source_close,
    .codecpar = source_codecpar,
    .live = 1,
    .uninit = source_uninit,
};
