/* lb_frame_pool (core/lb_media.h): pictures of the asked size with every
 * plane inside the buffer, a freed picture's buffer handed out again, a new
 * size renewing the pool while pictures of the old size are still out.
 * lb_block_pool under it: blocks that lay free through a whole window are
 * given back, an idle pool keeps none, a closed one goes with its last
 * block (ASan's leak check sees the rest). */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <libavutil/buffer.h>

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

static void sleep_us(long us)
{
    struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void block_pool(void)
{
    enum { N = 6 };
    const int64_t window_us = 20000;
    lb_block_pool *bp = lb_block_pool_create(4096, 1, window_us);
    CHECK(bp && lb_block_pool_size(bp) == 4096);
    AVBufferRef *b[N];
    for (int i = 0; i < N; i++) {
        CHECK((b[i] = lb_block_pool_get(bp)) != NULL);
        CHECK(b[i]->size == 4096 && b[i]->data[0] == 0 && b[i]->data[4095] == 0);
        memset(b[i]->data, 0xa5, 4096);
    }
    for (int i = 0; i < N; i++)
        av_buffer_unref(&b[i]);
    CHECK(lb_block_pool_nb_free(bp) == N);

    /* a burst of six, then one in use at a time: once a whole window has
     * passed with five lying free, they go (time only adds to the sleep,
     * so this holds however busy the machine) */
    for (int round = 0; round < 3; round++) {
        sleep_us(2 * window_us);
        CHECK((b[0] = lb_block_pool_get(bp)) != NULL);
        av_buffer_unref(&b[0]);
    }
    CHECK(lb_block_pool_nb_free(bp) == 1);

    /* idle: blocks out are freed as they come back, none kept */
    CHECK((b[0] = lb_block_pool_get(bp)) != NULL);
    CHECK((b[1] = lb_block_pool_get(bp)) != NULL);
    lb_block_pool_set_idle(bp, 1);
    CHECK(lb_block_pool_nb_free(bp) == 0);
    av_buffer_unref(&b[0]);
    CHECK(lb_block_pool_nb_free(bp) == 0);
    lb_block_pool_set_idle(bp, 0);
    av_buffer_unref(&b[1]);
    CHECK(lb_block_pool_nb_free(bp) == 1);

    /* closed with a block out: that block stays valid, and the pool goes
     * with it */
    CHECK((b[0] = lb_block_pool_get(bp)) != NULL);
    lb_block_pool_close(&bp);
    CHECK(!bp);
    memset(b[0]->data, 0x5a, 4096);
    av_buffer_unref(&b[0]);
    lb_block_pool_close(&bp);       /* NULL is harmless */
}

int main(void)
{
    block_pool();

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
    CHECK(!fp.blocks);
    av_frame_free(&a);
    av_frame_free(&b);
    av_frame_free(&c);
    return CHECK_DONE();
}
