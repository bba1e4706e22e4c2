/* lb_frame_pool (core/lb_media.h): pictures of the asked size with every
 * plane inside the buffer, a freed picture's buffer handed out again, a new
 * size renewing the pool while pictures of the old size are still out. */
#include <stdint.h>

#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixfmt.h>

#include "check.h"
#include "lb_media.h"

/* every plane's rows lie inside the buffer, and can be written */
static void check_picture(const AVFrame *f, int w, int h)
{
    CHECK(f->format == AV_PIX_FMT_YUV420P && f->width == w && f->height == h);
    CHECK(f->buf[0] && !f->buf[1] && f->extended_data == f->data);
    const uint8_t *start = f->buf[0]->data, *end = start + f->buf[0]->size;
    for (int pl = 0; pl < 3; pl++) {
        int rows = pl ? (h + 1) / 2 : h, bytes = pl ? (w + 1) / 2 : w;
        CHECK(f->linesize[pl] >= bytes && f->linesize[pl] % 64 == 0);
        CHECK(f->data[pl] >= start && f->data[pl] + (size_t)f->linesize[pl] * (size_t)rows <= end);
        memset(f->data[pl], pl ? 128 : 16, (size_t)f->linesize[pl] * (size_t)rows);
    }
    CHECK(!f->data[3]);
}

int main(void)
{
    lb_frame_pool fp = { 0 };
    AVFrame *a = av_frame_alloc(), *b = av_frame_alloc(), *c = av_frame_alloc();
    CHECK(a && b && c);

    CHECK(lb_frame_pool_get(&fp, a, 1280, 720) == 0);
    check_picture(a, 1280, 720);
    CHECK(lb_frame_pool_get(&fp, b, 1280, 720) == 0);
    check_picture(b, 1280, 720);
    CHECK(a->data[0] != b->data[0]);

    /* a picture given back is the next one handed out */
    const uint8_t *first = a->data[0];
    av_frame_unref(a);
    CHECK(lb_frame_pool_get(&fp, a, 1280, 720) == 0);
    CHECK(a->data[0] == first);

    /* odd sizes (a letterboxed ISO picture) and a new size while the old
     * size's pictures are still out: they stay valid until freed */
    CHECK(lb_frame_pool_get(&fp, c, 642, 362) == 0);
    check_picture(c, 642, 362);
    check_picture(a, 1280, 720);
    av_frame_unref(a);
    av_frame_unref(b);
    av_frame_unref(c);
    CHECK(lb_frame_pool_get(&fp, c, 642, 362) == 0);
    check_picture(c, 642, 362);

    /* a size no picture can have */
    av_frame_unref(c);
    CHECK(lb_frame_pool_get(&fp, c, 0, 0) < 0);
    CHECK(!c->buf[0]);

    lb_frame_pool_uninit(&fp);
    lb_frame_pool_uninit(&fp);      /* twice is harmless */
    CHECK(!fp.pool);
    av_frame_free(&a);
    av_frame_free(&b);
    av_frame_free(&c);
    return CHECK_DONE();
}
