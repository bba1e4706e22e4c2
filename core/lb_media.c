#include "lb_media.h"

#include <pthread.h>
#include <stdlib.h>

#include <libavutil/buffer.h>
#include <libavutil/common.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/mem.h>

#include "lb_clock.h"

const char *lb_role_name(lb_role role)
{
    static const char *const names[LB_ROLE_COUNT] = {
        "none", "teacher", "students", "board", "screen", "wide",
    };
    return role > LB_ROLE_INVALID && role < LB_ROLE_COUNT ? names[role] : "none";
}

const char *lb_source_state_name(lb_source_state state)
{
    static const char *const names[] = {
        "invalid", "connecting", "live", "lost", "reconnecting", "ended", "failed",
    };
    return state > LB_SOURCE_INVALID && state <= LB_SOURCE_FAILED ? names[state] : "invalid";
}

#define BLOCKS_FREE_MAX 64

struct lb_block_pool {
    pthread_mutex_t lock;
    size_t size;
    int zeroed;
    int64_t window_us;
    uint8_t *free_list[BLOCKS_FREE_MAX];
    int nb_free, nb_out;
    int low_free;                   /* fewest blocks free in this window */
    int64_t window_start_us;
    int idle, closed;
};

lb_block_pool *lb_block_pool_create(size_t size, int zeroed, int64_t window_us)
{
    lb_block_pool *bp = calloc(1, sizeof *bp);
    if (!bp)
        return NULL;
    pthread_mutex_init(&bp->lock, NULL);
    bp->size = size;
    bp->zeroed = zeroed;
    bp->window_us = window_us;
    bp->window_start_us = lb_clock_now();
    return bp;
}

static void drop_free(lb_block_pool *bp, int n)
{
    while (n-- > 0 && bp->nb_free)
        av_free(bp->free_list[--bp->nb_free]);
}

static void destroy(lb_block_pool *bp)
{
    drop_free(bp, bp->nb_free);
    pthread_mutex_destroy(&bp->lock);
    free(bp);
}

/* A block back from its last reference (or NULL: one never made). */
static void block_release(void *opaque, uint8_t *data)
{
    lb_block_pool *bp = opaque;
    pthread_mutex_lock(&bp->lock);
    bp->nb_out--;
    if (data && !bp->closed && !bp->idle && bp->nb_free < BLOCKS_FREE_MAX) {
        bp->free_list[bp->nb_free++] = data;
        data = NULL;
    }
    int last = bp->closed && !bp->nb_out;
    pthread_mutex_unlock(&bp->lock);
    av_free(data);
    if (last)
        destroy(bp);
}

AVBufferRef *lb_block_pool_get(lb_block_pool *bp)
{
    int64_t now = lb_clock_now();
    uint8_t *block = NULL;
    pthread_mutex_lock(&bp->lock);
    if (now - bp->window_start_us >= bp->window_us) {
        drop_free(bp, bp->low_free);    /* free through the whole window */
        bp->low_free = bp->nb_free;
        bp->window_start_us = now;
    }
    if (bp->nb_free) {
        block = bp->free_list[--bp->nb_free];
        bp->low_free = FFMIN(bp->low_free, bp->nb_free);
    }
    bp->nb_out++;       /* before the lock goes: a close now waits for it */
    pthread_mutex_unlock(&bp->lock);
    if (!block)
        block = bp->zeroed ? av_mallocz(bp->size) : av_malloc(bp->size);
    AVBufferRef *ref = block ? av_buffer_create(block, bp->size, block_release, bp, 0) : NULL;
    if (!ref)
        block_release(bp, block);
    return ref;
}

void lb_block_pool_set_idle(lb_block_pool *bp, int idle)
{
    pthread_mutex_lock(&bp->lock);
    bp->idle = idle;
    if (idle)
        drop_free(bp, bp->nb_free);
    bp->low_free = bp->nb_free;
    pthread_mutex_unlock(&bp->lock);
}

size_t lb_block_pool_size(const lb_block_pool *bp)
{
    return bp->size;
}

int lb_block_pool_nb_free(lb_block_pool *bp)
{
    pthread_mutex_lock(&bp->lock);
    int n = bp->nb_free;
    pthread_mutex_unlock(&bp->lock);
    return n;
}

void lb_block_pool_close(lb_block_pool **pbp)
{
    lb_block_pool *bp = *pbp;
    if (!bp)
        return;
    *pbp = NULL;
    pthread_mutex_lock(&bp->lock);
    bp->closed = 1;
    drop_free(bp, bp->nb_free);
    int last = !bp->nb_out;
    pthread_mutex_unlock(&bp->lock);
    if (last)
        destroy(bp);
}

int lb_frame_pool_get(lb_frame_pool *fp, AVFrame *frame, int width, int height)
{
    if (!fp->blocks || fp->width != width || fp->height != height) {
        int size = av_image_get_buffer_size(AV_PIX_FMT_YUV420P, width, height, 64);
        if (size < 0)
            return size;
        lb_block_pool_close(&fp->blocks);
        /* the slack as in av_frame_get_buffer(): SIMD reads past the end */
        if (!(fp->blocks = lb_block_pool_create((size_t)size + 64, 0, LB_BLOCK_POOL_WINDOW_US)))
            return AVERROR(ENOMEM);
        fp->width = width;
        fp->height = height;
    }
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = width;
    frame->height = height;
    if (!(frame->buf[0] = lb_block_pool_get(fp->blocks)))
        return AVERROR(ENOMEM);
    int ret = av_image_fill_arrays(frame->data, frame->linesize, frame->buf[0]->data,
                                   AV_PIX_FMT_YUV420P, width, height, 64);
    frame->extended_data = frame->data;
    return ret < 0 ? ret : 0;
}

void lb_frame_pool_uninit(lb_frame_pool *fp)
{
    lb_block_pool_close(&fp->blocks);
    fp->width = fp->height = 0;
}
