#include "lb_media.h"

#include <libavutil/buffer.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>

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

int lb_frame_pool_get(lb_frame_pool *fp, AVFrame *frame, int width, int height)
{
    if (!fp->pool || fp->width != width || fp->height != height) {
        int size = av_image_get_buffer_size(AV_PIX_FMT_YUV420P, width, height, 64);
        if (size < 0)
            return size;
        av_buffer_pool_uninit(&fp->pool);
        /* the slack as in av_frame_get_buffer(): SIMD reads past the end */
        if (!(fp->pool = av_buffer_pool_init((size_t)size + 64, NULL)))
            return AVERROR(ENOMEM);
        fp->width = width;
        fp->height = height;
    }
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = width;
    frame->height = height;
    if (!(frame->buf[0] = av_buffer_pool_get(fp->pool)))
        return AVERROR(ENOMEM);
    int ret = av_image_fill_arrays(frame->data, frame->linesize, frame->buf[0]->data,
                                   AV_PIX_FMT_YUV420P, width, height, 64);
    frame->extended_data = frame->data;
    return ret < 0 ? ret : 0;
}

void lb_frame_pool_uninit(lb_frame_pool *fp)
{
    av_buffer_pool_uninit(&fp->pool);
    fp->width = fp->height = 0;
}
