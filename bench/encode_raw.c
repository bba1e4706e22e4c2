/* bench/'s program encode on its own: raw yuv420p frames through
 * lb_video_encoder (luobo's x264 setup, exactly as the daemon opens it)
 * into an H.264 Annex B file, so that the bench can set it beside
 * `ffmpeg -f rawvideo ... -c:v libx264` on the same frames.
 *
 *   lb_bench_encode WxH FPS IN.yuv OUT.h264 [key=value ...]
 *
 * The keys are [encoder]'s (luobo --help), read through the same option
 * table as the daemon's config.  Prints one JSON line: frames, bytes, and the
 * wall time of the encode loop (reading the file included, as ffmpeg's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavutil/error.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/mem.h>

#include "encoder.h"
#include "lb_config.h"

typedef struct out_file {
    FILE *f;
    int64_t frames, bytes;
} out_file;

static int write_packet(void *opaque, AVPacket *pkt)
{
    out_file *o = opaque;
    if (fwrite(pkt->data, 1, (size_t)pkt->size, o->f) != (size_t)pkt->size)
        return AVERROR(EIO);
    o->frames++;
    o->bytes += pkt->size;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    int w, h, fps;
    if (argc < 5 || sscanf(argv[1], "%dx%d", &w, &h) != 2 || (fps = atoi(argv[2])) <= 0) {
        fprintf(stderr, "usage: %s WxH FPS IN.yuv OUT.h264 [key=value ...]  ([encoder] keys)\n", argv[0]);
        return 2;
    }
    char text[4096], err[LB_CONFIG_ERR_SIZE];
    size_t n = (size_t)snprintf(text, sizeof text, "[encoder]\n");
    for (int i = 5; i < argc && n < sizeof text; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "%s: '%s' is not key=value\n", argv[0], argv[i]);
            return 2;
        }
        n += (size_t)snprintf(text + n, sizeof text - n, "%.*s = %s\n", (int)(eq - argv[i]), argv[i], eq + 1);
    }
    lb_config *cfg = NULL;
    lb_encoder_settings settings;
    lb_video_encoder *enc = NULL;
    FILE *in = NULL;
    out_file out = { 0 };
    AVFrame *frame = NULL;
    int ret = 2;
    if (lb_config_load_string(&cfg, "command line", text, err, sizeof err) < 0 ||
        lb_config_apply(lb_config_find(cfg, "encoder"), lb_encoder_options, &settings, err, sizeof err) < 0 ||
        lb_config_check_unused(cfg, err, sizeof err) < 0 ||
        lb_video_encoder_open(&enc, &(lb_video_encoder_params){
            .settings = &settings, .width = w, .height = h, .fps_num = fps, .fps_den = 1,
            .stream_index = 0, .name = "bench" }, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", argv[0], err);
        goto end;
    }
    ret = 1;
    if (!(in = fopen(argv[3], "rb")) || !(out.f = fopen(argv[4], "wb"))) {
        perror(in ? argv[4] : argv[3]);
        goto end;
    }
    /* one contiguous frame: a single fread, planes at their natural strides */
    if (!(frame = av_frame_alloc()))
        goto end;
    frame->format = AV_PIX_FMT_YUV420P;
    frame->width = w;
    frame->height = h;
    int size = av_image_get_buffer_size(AV_PIX_FMT_YUV420P, w, h, 1);
    if (!(frame->buf[0] = av_buffer_alloc((size_t)size)) ||
        av_image_fill_arrays(frame->data, frame->linesize, frame->buf[0]->data, AV_PIX_FMT_YUV420P, w, h, 1) < 0)
        goto end;
    double t0 = now_s();
    int e = 0;
    for (int64_t i = 0; fread(frame->buf[0]->data, 1, (size_t)size, in) == (size_t)size; i++) {
        frame->pts = i * 1000000 / fps;
        if ((e = lb_video_encoder_encode(enc, frame, 0, write_packet, &out)) < 0)
            break;
    }
    if (e >= 0)
        e = lb_video_encoder_encode(enc, NULL, 0, write_packet, &out);
    double wall = now_s() - t0;
    if (e < 0 || ferror(in)) {
        fprintf(stderr, "%s: %s\n", argv[0], e < 0 ? av_err2str(e) : "read error");
        goto end;
    }
    printf("{\"frames\": %lld, \"bytes\": %lld, \"encode_wall_s\": %.3f}\n",
           (long long)out.frames, (long long)out.bytes, wall);
    ret = 0;
end:
    av_frame_free(&frame);
    if (in)
        fclose(in);
    if (out.f && fclose(out.f) != 0 && ret == 0)
        ret = 1;
    lb_video_encoder_close(&enc);
    lb_config_free(&cfg);
    return ret;
}
