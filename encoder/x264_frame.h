/* Private to encoder/: handing an AVFrame to x264, shared by the program
 * encoder (video.c) and the slate that splices into a stream copy
 * (splice.c). */
#ifndef LB_X264_FRAME_H
#define LB_X264_FRAME_H

#include <x264.h>

#include <libavutil/error.h>
#include <libavutil/frame.h>

/* Encodes a YUV420P frame through pic_in (set up by x264_picture_init);
 * idr forces a key frame; qpplus1 forces a quantiser (X264_QP_AUTO: the
 * rate control's).  Returns x264's payload size (0: nothing out
 * yet) or AVERROR_EXTERNAL. */
static inline int lb_x264_encode_frame(x264_t *x264, x264_picture_t *pic_in, const AVFrame *frame,
                                       int idr, int qpplus1, x264_nal_t **nals, int *nb_nals,
                                       x264_picture_t *out)
{
    for (int i = 0; i < 3; i++) {
        pic_in->img.plane[i] = frame->data[i];
        pic_in->img.i_stride[i] = frame->linesize[i];
    }
    pic_in->i_pts = frame->pts;
    pic_in->i_type = idr ? X264_TYPE_IDR : X264_TYPE_AUTO;
    pic_in->i_qpplus1 = qpplus1;
    int size = x264_encoder_encode(x264, nals, nb_nals, pic_in, out);
    return size < 0 ? AVERROR_EXTERNAL : size;
}

#endif
