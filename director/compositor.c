/* The compositor: a shot and the sources' frames become the program frame.
 * Scaling is libswscale's, straight into the destination planes (no
 * intermediate copies); a source already at the program size in a single
 * layout is passed by reference-free plane copy only. */
#include "director.h"

#include <stdlib.h>
#include <string.h>

#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#define MAX_SCALERS 8

typedef struct scaler {
    struct SwsContext *sws;
} scaler;

struct lb_compositor {
    lb_director_setup setup;
    scaler scalers[MAX_SCALERS];
};

int lb_compositor_create(lb_compositor **pc, const lb_director_setup *setup,
                         const lb_config_section *sec, char *err, size_t err_size)
{
    lb_compositor *c = calloc(1, sizeof *c);
    if (!c)
        return AVERROR(ENOMEM);
    c->setup = *setup;
    *pc = c;
    return 0;
}

void lb_compositor_free(lb_compositor **pc)
{
    lb_compositor *c = pc ? *pc : NULL;
    if (!c)
        return;
    for (int i = 0; i < MAX_SCALERS; i++)
        sws_freeContext(c->scalers[i].sws);
    free(c);
    *pc = NULL;
}

static void fill_black(AVFrame *dst, int x, int y, int w, int h)
{
    for (int p = 0; p < 3; p++) {
        int sh = p ? 1 : 0;
        uint8_t v = p ? 128 : 16;
        for (int row = y >> sh; row < (y + h) >> sh; row++)
            memset(dst->data[p] + row * dst->linesize[p] + (x >> sh), v, (size_t)(w >> sh));
    }
}

/* Scales src into the rectangle (x, y, w, h) of dst; all even. */
static int place(lb_compositor *c, int slot, const AVFrame *src, AVFrame *dst,
                 int x, int y, int w, int h)
{
    if (!src) {
        fill_black(dst, x, y, w, h);
        return 0;
    }
    if (src->width == w && src->height == h && src->format == AV_PIX_FMT_YUV420P) {
        uint8_t *planes[4];
        for (int p = 0; p < 3; p++)
            planes[p] = dst->data[p] + (y >> (p ? 1 : 0)) * dst->linesize[p] + (x >> (p ? 1 : 0));
        av_image_copy(planes, dst->linesize, (const uint8_t **)src->data, src->linesize,
                      AV_PIX_FMT_YUV420P, w, h);
        return 0;
    }
    scaler *sc = &c->scalers[slot];
    sc->sws = sws_getCachedContext(sc->sws, src->width, src->height, src->format, w, h,
                                   AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
    if (!sc->sws)
        return AVERROR(EINVAL);
    uint8_t *planes[4];
    for (int p = 0; p < 3; p++)
        planes[p] = dst->data[p] + (y >> (p ? 1 : 0)) * dst->linesize[p] + (x >> (p ? 1 : 0));
    int ret = sws_scale(sc->sws, (const uint8_t *const *)src->data, src->linesize, 0, src->height,
                        planes, dst->linesize);
    return ret < 0 ? ret : 0;
}

int lb_compositor_compose(lb_compositor *c, const lb_shot *shot, AVFrame *const *frames,
                          AVFrame *dst)
{
    int W = dst->width, H = dst->height;
    const AVFrame *a = shot->nb_sources > 0 ? frames[shot->sources[0]] : NULL;
    const AVFrame *b = shot->nb_sources > 1 ? frames[shot->sources[1]] : NULL;
    switch (shot->layout) {
    case LB_LAYOUT_PIP: {
        int ret = place(c, 0, a, dst, 0, 0, W, H);
        int pw = (W / 4) & ~1, ph = (H / 4) & ~1;
        int margin = (W / 80) & ~1;
        return ret < 0 ? ret : place(c, 1, b, dst, W - pw - margin, H - ph - margin, pw, ph);
    }
    case LB_LAYOUT_SBS: {
        int half = (W / 2) & ~1;
        int h = ((half * 9 / 16) + 1) & ~1;
        int y = ((H - h) / 2) & ~1;
        fill_black(dst, 0, 0, W, y);
        fill_black(dst, 0, y + h, W, H - y - h);
        int ret = place(c, 0, a, dst, 0, y, half, h);
        return ret < 0 ? ret : place(c, 1, b, dst, half, y, W - half, h);
    }
    default:
        return place(c, 0, a, dst, 0, 0, W, H);
    }
}
