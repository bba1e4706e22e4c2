/* Design note: the compositor turns a shot and the sources' frames into the
 * program frame.
 *
 * Scaling is libswscale's, straight into the destination planes (no
 * intermediate copies): one cached context per slot (main, inset), so a
 * steady shot never re-initialises one.  A source at the program size is a
 * plane copy.  A crop (the virtual camera) is a pointer offset into the
 * source planes; it is fitted to the destination's aspect ratio and its
 * width rounded to 8 pixels, so a pan costs nothing and a slow zoom
 * re-initialises the context only when the width crosses a step.  A source
 * whose aspect ratio differs from its rectangle is letterboxed, never
 * stretched.
 *
 * The dissolve (dissolve_ms > 0) keeps a copy of the last program frame;
 * when the shot changes, the next frames blend that copy into the new
 * picture.  The blend is a plain loop that compilers vectorise, and it runs
 * only during a dissolve. */
#include "director.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

enum { CORNER_INVALID, CORNER_TOP_LEFT, CORNER_TOP_RIGHT, CORNER_BOTTOM_LEFT, CORNER_BOTTOM_RIGHT };

typedef struct compositor_settings {
    int pip_corner;
    double pip_size;
    double pip_margin;
    int pip_border;
    int dissolve_ms;
    int pip_sub_stream;
} compositor_settings;

static const lb_option_choice corner_choices[] = {
    { "top-left", CORNER_TOP_LEFT }, { "top-right", CORNER_TOP_RIGHT },
    { "bottom-left", CORNER_BOTTOM_LEFT }, { "bottom-right", CORNER_BOTTOM_RIGHT },
    { NULL, 0 },
};

#define OFF(x) offsetof(compositor_settings, x)
const lb_option lb_compositor_options[] = {
    { "pip_corner", LB_OPT_ENUM, OFF(pip_corner), 0, "bottom-right", 0, 0, corner_choices, "where the picture in picture sits" },
    { "pip_size", LB_OPT_DOUBLE, OFF(pip_size), 0, "0.28", 0.1, 0.5, NULL, "inset width, share of the program width" },
    { "pip_margin", LB_OPT_DOUBLE, OFF(pip_margin), 0, "0.02", 0, 0.2, NULL, "inset distance from the edges, share of the width" },
    { "pip_border", LB_OPT_INT, OFF(pip_border), 0, "2", 0, 16, NULL, "white frame around the inset, pixels" },
    { "dissolve_ms", LB_OPT_INT, OFF(dissolve_ms), 0, "0", 0, 2000, NULL, "dissolve between shots (0: cut)" },
    { "pip_sub_stream", LB_OPT_BOOL, OFF(pip_sub_stream), 0, "true", 0, 0, NULL, "a camera shown only as the inset is drawn from its sub-stream ([source] analysis_url) when that is at least the inset's size, and its main stream is not decoded meanwhile (a 1080p camera's decoding: 30 MB and a sixth of a core)" },
    { NULL },
};

#define NB_SLOTS 2

struct lb_compositor {
    lb_director_setup setup;
    compositor_settings settings;
    struct SwsContext *sws[NB_SLOTS];
    int dissolve_frames;
    AVFrame *last;                /* the last program frame, for dissolves */
    int have_last;
    lb_shot last_shot;
    int have_last_shot;
    int dissolve_left;
};

int lb_compositor_create(lb_compositor **pc, const lb_director_setup *setup,
                         const lb_config_section *sec, char *err, size_t err_size)
{
    int ret;
    lb_compositor *c = calloc(1, sizeof *c);
    if (!c)
        return AVERROR(ENOMEM);
    c->setup = *setup;
    if ((ret = lb_config_apply(sec, lb_compositor_options, &c->settings, err, err_size)) < 0)
        goto fail;
    if (c->settings.dissolve_ms > 0 && setup->fps_den > 0) {
        c->dissolve_frames = (int)((int64_t)c->settings.dissolve_ms * setup->fps_num /
                                   (1000 * setup->fps_den));
        if (c->dissolve_frames > 1 && !(c->last = av_frame_alloc())) {
            ret = AVERROR(ENOMEM);
            goto fail;
        }
        if (c->dissolve_frames <= 1)
            c->dissolve_frames = 0;
    }
    *pc = c;
    return 0;
fail:
    lb_compositor_free(&c);
    return ret;
}

void lb_compositor_free(lb_compositor **pc)
{
    lb_compositor *c = pc ? *pc : NULL;
    if (!c)
        return;
    for (int i = 0; i < NB_SLOTS; i++)
        sws_freeContext(c->sws[i]);
    av_frame_free(&c->last);
    free(c);
    *pc = NULL;
}

static void fill(AVFrame *dst, int x, int y, int w, int h, const uint8_t yuv[3])
{
    if (w <= 0 || h <= 0)
        return;
    for (int p = 0; p < 3; p++) {
        int sh = p ? 1 : 0;
        for (int row = y >> sh; row < (y + h) >> sh; row++)
            memset(dst->data[p] + row * dst->linesize[p] + (x >> sh), yuv[p], (size_t)(w >> sh));
    }
}

static const uint8_t black[3] = { 16, 128, 128 };
static const uint8_t white[3] = { 235, 128, 128 };

static void fill_black(AVFrame *dst, int x, int y, int w, int h)
{
    fill(dst, x, y, w, h, black);
}

/* The part of src to show in a w x h rectangle: the crop fitted to the
 * rectangle's aspect ratio, or (no crop) the whole picture. */
static void crop_rect(const AVFrame *src, const lb_rectf *crop, int w, int h,
                      int *cx, int *cy, int *cw, int *ch)
{
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(src->format);
    int planar8 = desc && (desc->flags & AV_PIX_FMT_FLAG_PLANAR) && desc->comp[0].depth == 8 &&
                  !(desc->flags & AV_PIX_FMT_FLAG_ALPHA) && desc->nb_components == 3;
    if (!crop || crop->w <= 0 || !planar8) {
        *cx = *cy = 0;
        *cw = src->width;
        *ch = src->height;
        return;
    }
    double centre_x = (crop->x + crop->w / 2) * src->width;
    double centre_y = (crop->y + crop->h / 2) * src->height;
    int wpx = ((int)(crop->w * src->width) + 4) & ~7;
    if (wpx < 16)
        wpx = 16;
    if (wpx > src->width)
        wpx = src->width;
    int hpx = (int)((int64_t)wpx * h / w) & ~1;
    if (hpx > src->height) {
        hpx = src->height & ~1;
        wpx = (int)((int64_t)hpx * w / h) & ~1;
    }
    int x0 = (int)(centre_x - wpx / 2.0), y0 = (int)(centre_y - hpx / 2.0);
    x0 = x0 < 0 ? 0 : x0 + wpx > src->width ? src->width - wpx : x0;
    y0 = y0 < 0 ? 0 : y0 + hpx > src->height ? src->height - hpx : y0;
    int sx = desc->log2_chroma_w, sy = desc->log2_chroma_h;
    *cx = x0 & ~((1 << sx) - 1);
    *cy = y0 & ~((1 << sy) - 1);
    *cw = wpx;
    *ch = hpx;
}

/* Letterbox: the size cw x ch takes in w x h; within 2 % (a crop's
 * rounding) it is stretched instead of drawing a thin bar. */
static void fit(int cw, int ch, int w, int h, int *fw, int *fh)
{
    *fw = w;
    *fh = h;
    int64_t aw = (int64_t)cw * h, ah = (int64_t)ch * w;
    if (llabs(aw - ah) * 50 <= ah)
        ;
    else if (aw > ah)
        *fh = (int)((int64_t)w * ch / cw) & ~1;
    else
        *fw = (int)((int64_t)h * cw / ch) & ~1;
}

/* Scales (the crop of) src into the rectangle (x, y, w, h) of dst, all
 * even, letterboxed when the aspect ratios differ. */
static int place(lb_compositor *c, int slot, const AVFrame *src, const lb_rectf *crop,
                 AVFrame *dst, int x, int y, int w, int h)
{
    if (!src || src->width <= 0 || src->height <= 0) {
        fill_black(dst, x, y, w, h);
        return 0;
    }
    int cx, cy, cw, ch, fw, fh;
    crop_rect(src, crop, w, h, &cx, &cy, &cw, &ch);
    fit(cw, ch, w, h, &fw, &fh);
    if (fw < 2 || fh < 2) {
        fill_black(dst, x, y, w, h);
        return 0;
    }
    int fx = x + (((w - fw) / 2) & ~1), fy = y + (((h - fh) / 2) & ~1);
    fill_black(dst, x, y, w, fy - y);
    fill_black(dst, x, fy + fh, w, y + h - fy - fh);
    fill_black(dst, x, fy, fx - x, fh);
    fill_black(dst, fx + fw, fy, x + w - fx - fw, fh);

    uint8_t *planes[4] = { NULL };
    for (int p = 0; p < 3; p++)
        planes[p] = dst->data[p] + (fy >> (p ? 1 : 0)) * dst->linesize[p] + (fx >> (p ? 1 : 0));
    const uint8_t *in[4] = { NULL };
    const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(src->format);
    for (int p = 0; p < 4 && src->data[p]; p++) {
        int sx = p == 1 || p == 2 ? desc->log2_chroma_w : 0;
        int sy = p == 1 || p == 2 ? desc->log2_chroma_h : 0;
        in[p] = src->data[p] + (cy >> sy) * src->linesize[p] + (cx == 0 ? 0 : (cx >> sx));
    }
    if (cw == fw && ch == fh && src->format == AV_PIX_FMT_YUV420P) {
        av_image_copy(planes, dst->linesize, in, src->linesize, AV_PIX_FMT_YUV420P, fw, fh);
        return 0;
    }
    /* bicubic, as ffmpeg's scale filter: a teacher's face shrunk four
     * times into the inset keeps its detail (bilinear cost 6 dB of PSNR on
     * the PiP picture) */
    c->sws[slot] = sws_getCachedContext(c->sws[slot], cw, ch, src->format, fw, fh,
                                        AV_PIX_FMT_YUV420P, SWS_BICUBIC, NULL, NULL, NULL);
    if (!c->sws[slot])
        return AVERROR(EINVAL);
    int ret = sws_scale(c->sws[slot], in, src->linesize, 0, ch, planes, dst->linesize);
    return ret < 0 ? ret : 0;
}

static void inset_size(const lb_compositor *c, int W, int H, int *pw, int *ph)
{
    *pw = (int)(W * c->settings.pip_size) & ~1;
    *ph = (int)((int64_t)*pw * H / W) & ~1;
}

int lb_compositor_draws_sub_streams(const lb_compositor *c)
{
    return c->settings.pip_sub_stream;
}

int lb_compositor_inset_fits(const lb_compositor *c, const lb_shot *shot, int width, int height,
                             const AVFrame *picture, const AVFrame *main, double scale)
{
    if (!c->settings.pip_sub_stream || shot->layout != LB_LAYOUT_PIP || shot->nb_sources < 2 ||
        !picture || picture->width <= 0 || picture->height <= 0 || !main || main->width <= 0 ||
        main->height <= 0)
        return 0;
    /* the same view: a 4:3 sub-stream beside a 16:9 camera (often the same
     * view squeezed) would change the inset's shape and framing */
    int64_t a = (int64_t)picture->width * main->height, b = (int64_t)main->width * picture->height;
    if (llabs(a - b) * 50 > b)
        return 0;
    int pw, ph, cx, cy, cw, ch, fw, fh;
    inset_size(c, width & ~1, height & ~1, &pw, &ph);
    crop_rect(picture, &shot->crop[1], pw, ph, &cx, &cy, &cw, &ch);
    fit(cw, ch, pw, ph, &fw, &fh);
    return cw >= fw * scale && ch >= fh * scale;
}

static int compose(lb_compositor *c, const lb_shot *shot, AVFrame *const *frames, AVFrame *dst)
{
    int W = dst->width & ~1, H = dst->height & ~1;
    const compositor_settings *st = &c->settings;
    const AVFrame *a = shot->nb_sources > 0 ? frames[shot->sources[0]] : NULL;
    const AVFrame *b = shot->nb_sources > 1 ? frames[shot->sources[1]] : NULL;
    int ret;
    switch (shot->layout) {
    case LB_LAYOUT_PIP: {
        if ((ret = place(c, 0, a, &shot->crop[0], dst, 0, 0, W, H)) < 0 || shot->nb_sources < 2)
            return ret;
        int pw, ph;
        inset_size(c, W, H, &pw, &ph);
        int m = (int)(W * st->pip_margin) & ~1, bd = (st->pip_border + 1) & ~1;
        int left = st->pip_corner == CORNER_TOP_LEFT || st->pip_corner == CORNER_BOTTOM_LEFT;
        int top = st->pip_corner == CORNER_TOP_LEFT || st->pip_corner == CORNER_TOP_RIGHT;
        int px = left ? m + bd : W - pw - m - bd, py = top ? m + bd : H - ph - m - bd;
        if (bd)
            fill(dst, px - bd, py - bd, pw + 2 * bd, ph + 2 * bd, white);
        return place(c, 1, b, &shot->crop[1], dst, px, py, pw, ph);
    }
    case LB_LAYOUT_SBS: {
        int half = (W / 2) & ~1;
        if ((ret = place(c, 0, a, &shot->crop[0], dst, 0, 0, half, H)) < 0)
            return ret;
        return place(c, 1, b, &shot->crop[1], dst, half, 0, W - half, H);
    }
    default:
        return place(c, 0, a, &shot->crop[0], dst, 0, 0, W, H);
    }
}

static int same_shot(const lb_shot *a, const lb_shot *b)
{
    return a->layout == b->layout && a->nb_sources == b->nb_sources &&
           !memcmp(a->sources, b->sources, sizeof(int) * (size_t)a->nb_sources);
}

/* dst = (last * (n - k) + dst * k) / n, plane by plane.  Eight pixels at a
 * time in 16-bit lanes of a 64-bit word (SWAR): with wa + wb = 256 a lane
 * holds at most 255 * 256 + 128, so nothing carries into its neighbour;
 * portable, and about six times the plain loop, which -O2 leaves scalar. */
static void blend(AVFrame *dst, const AVFrame *last, int k, int n)
{
    const uint64_t lanes = 0x00FF00FF00FF00FFull, round = 0x0080008000800080ull;
    const uint64_t wa = (uint64_t)((k << 8) / n), wb = 256 - wa;
    for (int p = 0; p < 3; p++) {
        int pw = p ? (dst->width + 1) >> 1 : dst->width;
        int ph = p ? (dst->height + 1) >> 1 : dst->height;
        for (int y = 0; y < ph; y++) {
            uint8_t *d = dst->data[p] + y * dst->linesize[p];
            const uint8_t *s = last->data[p] + y * last->linesize[p];
            int x = 0;
            for (; x + 8 <= pw; x += 8) {
                uint64_t a, b;
                memcpy(&a, d + x, 8);
                memcpy(&b, s + x, 8);
                uint64_t even = (((a & lanes) * wa + (b & lanes) * wb + round) >> 8) & lanes;
                uint64_t odd = ((((a >> 8) & lanes) * wa + ((b >> 8) & lanes) * wb + round) >> 8) & lanes;
                a = even | odd << 8;
                memcpy(d + x, &a, 8);
            }
            for (; x < pw; x++)
                d[x] = (uint8_t)((d[x] * (int)wa + s[x] * (int)wb + 128) >> 8);
        }
    }
}

int lb_compositor_compose(lb_compositor *c, const lb_shot *shot, AVFrame *const *frames,
                          AVFrame *dst)
{
    int ret;
    if (dst->format != AV_PIX_FMT_YUV420P || dst->width < 2 || dst->height < 2)
        return AVERROR(EINVAL);
    if (c->dissolve_frames) {
        if (c->have_last_shot && !same_shot(shot, &c->last_shot) && c->have_last)
            c->dissolve_left = c->dissolve_frames;
        c->last_shot = *shot;
        c->have_last_shot = 1;
    }
    if ((ret = compose(c, shot, frames, dst)) < 0)
        return ret;
    if (!c->dissolve_frames)
        return 0;
    if (c->dissolve_left > 0) {
        blend(dst, c->last, c->dissolve_frames - c->dissolve_left + 1, c->dissolve_frames + 1);
        c->dissolve_left--;
    }
    if (!c->have_last || c->last->width != dst->width || c->last->height != dst->height) {
        av_frame_unref(c->last);
        c->last->format = AV_PIX_FMT_YUV420P;
        c->last->width = dst->width;
        c->last->height = dst->height;
        if ((ret = av_frame_get_buffer(c->last, 0)) < 0)
            return ret;
        c->have_last = 1;
    }
    return av_frame_copy(c->last, dst);
}

void lb_compositor_frame_setup(AVFrame *dst, int width, int height)
{
    dst->format = AV_PIX_FMT_YUV420P;
    dst->width = width;
    dst->height = height;
    dst->color_primaries = AVCOL_PRI_BT709;
    dst->color_trc = AVCOL_TRC_BT709;
    dst->colorspace = AVCOL_SPC_BT709;
    dst->color_range = AVCOL_RANGE_MPEG;
}
