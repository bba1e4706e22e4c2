/* The program encoder on its own: quality against the source (PSNR after a
 * real H.264 decode), key frames exactly every keyint, a forced IDR, key
 * frames by time when ticks are missing,
 * timestamps passed through, and settings x264 would reject caught first. */
#include <math.h>
#include <stdlib.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavutil/mathematics.h>
#include <libavutil/opt.h>

#include "../core/check.h"
#include "encoder.h"
#include "lb_config.h"

#define W 1280
#define H 720
#define FPS 30
#define FRAMES 120

typedef struct run {
    AVCodecContext *dec;
    AVFrame *decoded;
    AVFrame *sources[FRAMES];
    int nb_packets, nb_keys;
    int64_t key_pts[16];
    int64_t last_dts;
    double psnr_sum;
    int nb_decoded;
    int64_t bytes;
} run;

static double psnr_y(const AVFrame *a, const AVFrame *b)
{
    double se = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width; x++) {
            int d = a->data[0][y * a->linesize[0] + x] - b->data[0][y * b->linesize[0] + x];
            se += d * d;
        }
    double mse = se / (a->width * a->height);
    return mse > 0 ? 10 * log10(255.0 * 255.0 / mse) : 99;
}

static int sink(void *opaque, AVPacket *pkt)
{
    run *r = opaque;
    CHECK(pkt->stream_index == 7);
    CHECK(pkt->dts > r->last_dts);          /* never reordered or duplicated */
    r->last_dts = pkt->dts;
    r->nb_packets++;
    r->bytes += pkt->size;
    if (pkt->flags & AV_PKT_FLAG_KEY && r->nb_keys < 16)
        r->key_pts[r->nb_keys++] = pkt->pts;
    CHECK(avcodec_send_packet(r->dec, pkt) == 0);
    while (avcodec_receive_frame(r->dec, r->decoded) == 0) {
        int index = (int)(r->decoded->pts * FPS / 1000000);
        CHECK(index >= 0 && index < FRAMES);
        if (index >= 0 && index < FRAMES) {
            r->psnr_sum += psnr_y(r->decoded, r->sources[index]);
            r->nb_decoded++;
            /* BT.709 limited range, as tagged */
            CHECK(r->decoded->color_primaries == AVCOL_PRI_BT709);
            CHECK(r->decoded->color_range == AVCOL_RANGE_MPEG);
        }
        av_frame_unref(r->decoded);
    }
    return 0;
}

typedef struct keys {
    int nb_packets, nb_keys;
    int64_t key_pts[16];
} keys;

static int key_sink(void *opaque, AVPacket *pkt)
{
    keys *k = opaque;
    k->nb_packets++;
    if (pkt->flags & AV_PKT_FLAG_KEY && k->nb_keys < 16)
        k->key_pts[k->nb_keys++] = pkt->pts;
    return 0;
}

/* Ticks the program did not make (an overload) do not stretch the GOP: the
 * IDR goes to the first frame past each multiple of keyint_s. */
static void check_keys_by_time(AVFrame **sources, const lb_encoder_settings *s)
{
    char err[512];
    lb_video_encoder *e = NULL;
    lb_video_encoder_params p = { .settings = s, .width = W, .height = H, .fps_num = FPS, .fps_den = 1,
                                  .stream_index = 7, .name = "gaps" };
    CHECK(lb_video_encoder_open(&e, &p, err, sizeof err) == 0);
    keys k = { 0 };
    AVFrame *f = av_frame_alloc();
    for (int tick = 0; tick <= 185; tick++) {
        if ((tick >= 40 && tick < 71) || (tick >= 101 && tick < 130))
            continue;               /* not made */
        /* load shedding between frames: veryfast -> superfast (no further) and back */
        if (tick == 100)
            CHECK(lb_video_encoder_set_speed(e, 9) == 1);
        if (tick == 150)
            CHECK(lb_video_encoder_set_speed(e, 0) == 0);
        CHECK(av_frame_ref(f, sources[tick % FRAMES]) == 0);
        f->pts = av_rescale(tick, 1000000, FPS);
        CHECK(lb_video_encoder_encode(e, f, 0, key_sink, &k) == 0);
        av_frame_unref(f);
    }
    CHECK(lb_video_encoder_encode(e, NULL, 0, key_sink, &k) == 0);
    av_frame_free(&f);
    lb_video_encoder_close(&e);
    /* grid 0, 2, 4, 6 s: ticks 0, 60 (not made: 71), 120 (not made: 130), 180 */
    CHECK(k.nb_packets == 186 - 31 - 29);
    CHECK(k.nb_keys == 4);
    CHECK(k.key_pts[0] == 0 && k.key_pts[1] == av_rescale(71, 1000000, FPS) &&
          k.key_pts[2] == av_rescale(130, 1000000, FPS) && k.key_pts[3] == 6000000);
}

static int make_sources(AVFrame **frames)
{
    AVFilterGraph *g = avfilter_graph_alloc();
    AVFilterContext *sink_ctx;
    AVFilterInOut *in = avfilter_inout_alloc();
    char desc[128];
    snprintf(desc, sizeof desc, "testsrc2=s=%dx%d:r=%d,format=yuv420p", W, H, FPS);
    avfilter_graph_create_filter(&sink_ctx, avfilter_get_by_name("buffersink"), "out", NULL, NULL, g);
    in->name = av_strdup("out");
    in->filter_ctx = sink_ctx;
    int ret = avfilter_graph_parse_ptr(g, desc, &in, NULL, NULL);
    avfilter_inout_free(&in);
    if (ret < 0 || avfilter_graph_config(g, NULL) < 0)
        return -1;
    for (int i = 0; i < FRAMES; i++) {
        frames[i] = av_frame_alloc();
        if (av_buffersink_get_frame(sink_ctx, frames[i]) < 0)
            return -1;
        frames[i]->pts = (int64_t)i * 1000000 / FPS;
    }
    avfilter_graph_free(&g);
    return 0;
}

static lb_encoder_settings defaults(void)
{
    lb_encoder_settings s;
    char err[256];
    lb_config_apply(NULL, lb_encoder_options, &s, err, sizeof err);
    return s;
}

int main(void)
{
    static run r;
    char err[512];
    CHECK(make_sources(r.sources) == 0);
    const AVCodec *h264 = avcodec_find_decoder(AV_CODEC_ID_H264);
    r.dec = avcodec_alloc_context3(h264);
    r.dec->thread_count = 1;
    CHECK(avcodec_open2(r.dec, h264, NULL) == 0);
    r.decoded = av_frame_alloc();
    r.last_dts = INT64_MIN;

    lb_encoder_settings s = defaults();
    s.bitrate_kbps = 2500;
    lb_video_encoder *e = NULL;
    lb_video_encoder_params p = { .settings = &s, .width = W, .height = H, .fps_num = FPS, .fps_den = 1,
                                  .stream_index = 7, .name = "test" };
    CHECK(lb_video_encoder_open(&e, &p, err, sizeof err) == 0);
    const AVCodecParameters *par = lb_video_encoder_codecpar(e);
    CHECK(par->codec_id == AV_CODEC_ID_H264 && par->width == W && par->extradata_size > 8);
    CHECK(par->profile == FF_PROFILE_H264_HIGH);
    for (int i = 0; i < FRAMES; i++)
        CHECK(lb_video_encoder_encode(e, r.sources[i], i == 75, sink, &r) == 0);
    CHECK(lb_video_encoder_encode(e, NULL, 0, sink, &r) == 0);
    CHECK(avcodec_send_packet(r.dec, NULL) == 0);
    while (avcodec_receive_frame(r.dec, r.decoded) == 0) {
        int index = (int)(r.decoded->pts * FPS / 1000000);
        r.psnr_sum += psnr_y(r.decoded, r.sources[index]);
        r.nb_decoded++;
        av_frame_unref(r.decoded);
    }
    lb_video_encoder_close(&e);
    CHECK(e == NULL);

    CHECK(r.nb_packets == FRAMES && r.nb_decoded == FRAMES);
    /* IDRs at 0, 60 (keyint 2 s), the forced one at 75, then 135 is past the end */
    CHECK(r.nb_keys == 3);
    CHECK(r.key_pts[0] == 0 && r.key_pts[1] == 2000000 && r.key_pts[2] == 2500000);
    check_keys_by_time(r.sources, &s);
    double psnr = r.psnr_sum / r.nb_decoded;
    double kbps = r.bytes * 8.0 / (FRAMES / (double)FPS) / 1000;
    printf("720p30 testsrc2 at %d kbit/s (veryfast, zerolatency): Y-PSNR %.2f dB, %.0f kbit/s\n",
           s.bitrate_kbps, psnr, kbps);
    /* the floor for the default preset at 2.5 Mbit/s on testsrc2, a busier
     * picture than any classroom camera (measured 31.4 dB) */
    CHECK(psnr > 30.0);

    /* settings x264 would reject, or would silently break, are errors */
    lb_encoder_settings bad = defaults();
    snprintf(bad.level, sizeof bad.level, "3.0");
    CHECK(lb_encoder_check(&bad, NULL, 1920, 1080, 30, 1, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "level: 3.0 is too low for 1920x1080");
    bad = defaults();
    snprintf(bad.level, sizeof bad.level, "4.0");
    bad.bitrate_kbps = 30000;
    CHECK(lb_encoder_check(&bad, NULL, 1920, 1080, 30, 1, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "4.0 allows at most 25000 kbit/s");
    bad = defaults();
    CHECK(lb_encoder_check(&bad, NULL, 1919, 1080, 30, 1, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "must be even");
    snprintf(bad.profile, sizeof bad.profile, "high10");
    CHECK(lb_encoder_check(&bad, NULL, 1920, 1080, 30, 1, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "profile: unknown value 'high10'");
    bad = defaults();
    snprintf(bad.renditions, sizeof bad.renditions, "1280x720");
    CHECK(lb_encoder_check(&bad, NULL, 1920, 1080, 30, 1, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "renditions: '1280x720' is not a list");
    lb_config *cfg = NULL;
    CHECK(lb_config_load_string(&cfg, "e.ini", "[encoder]\nbitrate_kbps = 0\n", err, sizeof err) == 0);
    CHECK(lb_config_apply(lb_config_find(cfg, "encoder"), lb_encoder_options, &bad, err, sizeof err) < 0);
    CHECK_STR_CONTAINS(err, "e.ini:2: encoder: bitrate_kbps: 0 is out of range");
    lb_config_free(&cfg);

    for (int i = 0; i < FRAMES; i++)
        av_frame_free(&r.sources[i]);
    av_frame_free(&r.decoded);
    avcodec_free_context(&r.dec);
    return CHECK_DONE();
}
