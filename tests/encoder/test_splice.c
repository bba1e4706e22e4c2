/* The slate spliced into a camera's stream copy (encoder/splice.c): camera,
 * slate, camera, slate, camera in one MP4 track, for cameras whose
 * parameter sets are Annex B or avcC, of each profile the slate follows,
 * and one whose SPS id is the slate's first choice.  The file must demux
 * and decode without one error, each packet to one picture, the slate's
 * pictures grey and the camera's not; its avcC holds both sets of
 * parameter sets, the camera's first.  Streams that cannot take a slate are
 * refused with ENOSYS. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <x264.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/intreadwrite.h>

#include "../core/check.h"
#include "encoder.h"

#define W 320
#define H 240
#define FPS 30
#define FRAME_US (1000000 / FPS)
#define MAX_PACKETS 256
#define SLATE_Y 48

typedef struct stream {
    AVPacket *pkts[MAX_PACKETS];
    int slate[MAX_PACKETS];
    int nb;
} stream;

static int decoder_errors;

static void count_errors(void *avcl, int level, const char *fmt, va_list vl)
{
    if (level <= AV_LOG_ERROR) {
        decoder_errors++;
        vfprintf(stderr, fmt, vl);
    }
}

static void fill(AVFrame *f, int n, int grey)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            f->data[0][y * f->linesize[0] + x] = grey ? SLATE_Y : (uint8_t)(100 + ((x + y + 4 * n) & 127));
    for (int pl = 1; pl < 3; pl++)
        for (int y = 0; y < H / 2; y++)
            for (int x = 0; x < W / 2; x++)
                f->data[pl][y * f->linesize[pl] + x] = grey ? 128 : (uint8_t)(64 + pl * 40 + (x & 31));
}

/* A camera: x264 with its own profile, SPS id and format, no parameter
 * sets in band (as the RTSP test camera sends). */
typedef struct camera {
    x264_t *x264;
    AVCodecParameters *par;
    int annexb;
} camera;

static int camera_open(camera *c, const char *profile, int sps_id, int annexb, int fps)
{
    x264_param_t p;
    x264_param_default_preset(&p, "veryfast", "zerolatency");
    p.i_width = W;
    p.i_height = H;
    p.i_fps_num = (uint32_t)fps;
    p.i_fps_den = 1;
    p.i_timebase_num = 1;
    p.i_timebase_den = 1000000;
    p.i_keyint_max = 1000;
    p.b_repeat_headers = 0;
    p.b_annexb = annexb;
    p.i_sps_id = sps_id;
    p.i_threads = 1;
    p.i_log_level = X264_LOG_NONE;
    if (x264_param_apply_profile(&p, profile) < 0 || !(c->x264 = x264_encoder_open(&p)))
        return -1;
    c->annexb = annexb;
    c->par = avcodec_parameters_alloc();
    c->par->codec_type = AVMEDIA_TYPE_VIDEO;
    c->par->codec_id = AV_CODEC_ID_H264;
    c->par->width = W;
    c->par->height = H;
    c->par->format = AV_PIX_FMT_YUV420P;
    x264_nal_t *nals;
    int nb;
    x264_encoder_headers(c->x264, &nals, &nb);
    const x264_nal_t *sps = NULL, *pps = NULL;
    for (int i = 0; i < nb; i++) {
        if (nals[i].i_type == NAL_SPS)
            sps = &nals[i];
        if (nals[i].i_type == NAL_PPS)
            pps = &nals[i];
    }
    if (!sps || !pps)
        return -1;
    uint8_t *x = av_mallocz(256 + AV_INPUT_BUFFER_PADDING_SIZE);
    int n = 0;
    if (annexb) {
        memcpy(x, sps->p_payload, (size_t)sps->i_payload);
        n = sps->i_payload;
        memcpy(x + n, pps->p_payload, (size_t)pps->i_payload);
        n += pps->i_payload;
    } else {
        /* avcC, 4-byte lengths (ISO/IEC 14496-15 5.3.3.1) */
        const uint8_t *s = sps->p_payload + 4;
        int ss = sps->i_payload - 4, ps = pps->i_payload - 4;
        x[n++] = 1;
        x[n++] = s[1];
        x[n++] = s[2];
        x[n++] = s[3];
        x[n++] = 0xff;
        x[n++] = 0xe1;
        AV_WB16(x + n, ss);
        memcpy(x + n + 2, s, (size_t)ss);
        n += 2 + ss;
        x[n++] = 1;
        AV_WB16(x + n, ps);
        memcpy(x + n + 2, pps->p_payload + 4, (size_t)ps);
        n += 2 + ps;
        if (s[1] == 100) {
            x[n++] = 0xfd;       /* 4:2:0 */
            x[n++] = 0xf8;       /* 8 bits */
            x[n++] = 0xf8;
            x[n++] = 0;
        }
    }
    c->par->extradata = x;
    c->par->extradata_size = n;
    return 0;
}

static void add(stream *st, AVPacket *pkt, int slate)
{
    CHECK(st->nb < MAX_PACKETS);
    if (st->nb < MAX_PACKETS) {
        st->slate[st->nb] = slate;
        st->pkts[st->nb++] = av_packet_clone(pkt);
    }
}

static void camera_frames(camera *c, stream *st, AVFrame *f, int first, int n)
{
    x264_picture_t in, out;
    x264_nal_t *nals;
    int nb;
    x264_picture_init(&in);
    in.img.i_csp = X264_CSP_I420;
    in.img.i_plane = 3;
    for (int i = first; i < first + n; i++) {
        fill(f, i, 0);
        for (int pl = 0; pl < 3; pl++) {
            in.img.plane[pl] = f->data[pl];
            in.img.i_stride[pl] = f->linesize[pl];
        }
        in.i_pts = (int64_t)i * FRAME_US;
        /* a camera comes back with a key frame */
        in.i_type = i == first ? X264_TYPE_IDR : X264_TYPE_AUTO;
        int size = x264_encoder_encode(c->x264, &nals, &nb, &in, &out);
        CHECK(size > 0);
        AVPacket *pkt = av_packet_alloc();
        av_new_packet(pkt, size);
        memcpy(pkt->data, nals[0].p_payload, (size_t)size);
        pkt->pts = out.i_pts;
        pkt->dts = out.i_dts;
        if (out.b_keyframe)
            pkt->flags |= AV_PKT_FLAG_KEY;
        add(st, pkt, 0);
        av_packet_free(&pkt);
    }
}

static int slate_sink(void *opaque, AVPacket *pkt)
{
    add(opaque, pkt, 1);
    return 0;
}

static void slate_frames(lb_splice_encoder *e, stream *st, AVFrame *f, int first, int n)
{
    int before = st->nb;
    for (int i = first; i < first + n; i++) {
        fill(f, i, 1);
        f->pts = (int64_t)i * FRAME_US;
        CHECK(lb_splice_encoder_encode(e, f, slate_sink, st) == 0);
    }
    CHECK(st->nb == before + n);                /* a packet per picture, at once */
    CHECK(st->pkts[before]->flags & AV_PKT_FLAG_KEY);
    lb_splice_encoder_idle(e);
}

/* Counts the SPS and PPS of an avcC. */
static void avcc_sets(const uint8_t *x, int size, int *nb_sps, int *nb_pps)
{
    *nb_sps = *nb_pps = -1;
    if (size < 7 || x[0] != 1)
        return;
    int pos = 6;
    *nb_sps = x[5] & 0x1f;
    for (int i = 0; i < *nb_sps && pos + 2 <= size; i++)
        pos += 2 + AV_RB16(x + pos);
    if (pos < size)
        *nb_pps = x[pos];
}

static void run_case(const char *profile, int sps_id, int annexb)
{
    char path[] = "/tmp/luobo-test-splice-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    camera cam = { 0 };
    CHECK(camera_open(&cam, profile, sps_id, annexb, FPS) == 0);
    char err[256] = "";
    lb_splice_encoder *e = NULL;
    lb_splice_params sp = { .camera = cam.par, .fps_num = FPS, .fps_den = 1, .keyint_s = 0.5,
                            .name = "test" };
    CHECK(lb_splice_encoder_create(&e, &sp, err, sizeof err) == 0);
    if (!e) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    fprintf(stderr, "case %s, camera SPS id %d, %s\n", profile, sps_id, annexb ? "Annex B" : "avcC");

    AVFrame *f = av_frame_alloc();
    f->format = AV_PIX_FMT_YUV420P;
    f->width = W;
    f->height = H;
    av_frame_get_buffer(f, 0);
    stream st = { 0 };
    camera_frames(&cam, &st, f, 0, 20);
    slate_frames(e, &st, f, 20, 40);            /* more than a keyint: a second IDR */
    camera_frames(&cam, &st, f, 60, 20);
    slate_frames(e, &st, f, 80, 10);            /* x264 opened again: the same sets */
    camera_frames(&cam, &st, f, 90, 10);

    /* mux as the archive does */
    AVFormatContext *oc = NULL;
    CHECK(avformat_alloc_output_context2(&oc, NULL, "mp4", path) >= 0);
    AVStream *os = avformat_new_stream(oc, NULL);
    avcodec_parameters_copy(os->codecpar, lb_splice_encoder_codecpar(e));
    os->codecpar->codec_tag = 0;
    os->time_base = (AVRational){ 1, 90000 };
    CHECK(avio_open(&oc->pb, path, AVIO_FLAG_WRITE) >= 0);
    CHECK(avformat_write_header(oc, NULL) >= 0);
    for (int i = 0; i < st.nb; i++) {
        AVPacket *pkt = av_packet_clone(st.pkts[i]);
        pkt->duration = FRAME_US;
        av_packet_rescale_ts(pkt, (AVRational){ 1, 1000000 }, os->time_base);
        pkt->stream_index = 0;
        CHECK(av_write_frame(oc, pkt) >= 0);
        av_packet_free(&pkt);
    }
    CHECK(av_write_trailer(oc) >= 0);
    avio_closep(&oc->pb);
    avformat_free_context(oc);

    /* demux and decode as a player does */
    AVFormatContext *ic = NULL;
    CHECK(avformat_open_input(&ic, path, NULL, NULL) == 0);
    CHECK(avformat_find_stream_info(ic, NULL) >= 0);
    const AVCodecParameters *par = ic->streams[0]->codecpar;
    int nb_sps, nb_pps;
    avcc_sets(par->extradata, par->extradata_size, &nb_sps, &nb_pps);
    CHECK(nb_sps == 2 && nb_pps == 2);
    CHECK(par->extradata_size > 1 && par->extradata[1] == cam.par->extradata[annexb ? 5 : 1]);  /* the camera's profile */
    AVCodecContext *dec = avcodec_alloc_context3(avcodec_find_decoder(AV_CODEC_ID_H264));
    avcodec_parameters_to_context(dec, par);
    CHECK(avcodec_open2(dec, dec->codec, NULL) == 0);
    AVPacket *pkt = av_packet_alloc();
    AVFrame *d = av_frame_alloc();
    int decoded = 0, wrong = 0, eof = 0;
    decoder_errors = 0;
    av_log_set_callback(count_errors);
    while (!eof) {
        if (av_read_frame(ic, pkt) >= 0) {
            CHECK(avcodec_send_packet(dec, pkt) == 0);
            av_packet_unref(pkt);
        } else {
            avcodec_send_packet(dec, NULL);
            eof = 1;
        }
        while (avcodec_receive_frame(dec, d) == 0) {
            int grey = abs(d->data[0][5 * d->linesize[0] + 7] - SLATE_Y) <= 2 &&
                       abs(d->data[0][(H - 3) * d->linesize[0] + W - 9] - SLATE_Y) <= 2;
            if (decoded < st.nb && grey != st.slate[decoded])
                wrong++;
            if (decoded < st.nb && !st.slate[decoded]) {
                /* the camera's own picture, decoded with its own sets */
                int n = (int)(st.pkts[decoded]->pts / FRAME_US), diff = 0;
                for (int y = 0; y < H; y += 7)
                    for (int x = 0; x < W; x += 5)
                        diff += abs(d->data[0][y * d->linesize[0] + x] - (100 + ((x + y + 4 * n) & 127)));
                if (diff > 4 * (H / 7 + 1) * (W / 5 + 1))
                    wrong++;
            }
            decoded++;
            av_frame_unref(d);
        }
    }
    av_log_set_callback(av_log_default_callback);
    CHECK(decoder_errors == 0);
    CHECK(decoded == st.nb);
    CHECK(wrong == 0);
    fprintf(stderr, "  %d packets, %d decoded, %d misplaced, %d decoder errors\n", st.nb, decoded, wrong,
            decoder_errors);
    av_packet_free(&pkt);
    av_frame_free(&d);
    avcodec_free_context(&dec);
    avformat_close_input(&ic);
    for (int i = 0; i < st.nb; i++)
        av_packet_free(&st.pkts[i]);
    av_frame_free(&f);
    lb_splice_encoder_free(&e);
    CHECK(!e);
    x264_encoder_close(cam.x264);
    avcodec_parameters_free(&cam.par);
    unlink(path);
}

static void refused(void)
{
    char err[256];
    lb_splice_encoder *e = NULL;
    AVCodecParameters *par = avcodec_parameters_alloc();
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_HEVC;
    par->width = W;
    par->height = H;
    lb_splice_params sp = { .camera = par, .fps_num = FPS, .fps_den = 1, .keyint_s = 2, .name = "test" };
    CHECK(lb_splice_encoder_create(&e, &sp, err, sizeof err) == AVERROR(ENOSYS) && !e);
    CHECK_STR_CONTAINS(err, "hevc");
    par->codec_id = AV_CODEC_ID_H264;       /* parameter sets only in band */
    CHECK(lb_splice_encoder_create(&e, &sp, err, sizeof err) == AVERROR(ENOSYS) && !e);
    CHECK_STR_CONTAINS(err, "in band");
    avcodec_parameters_free(&par);

    /* High 4:2:2 */
    x264_param_t p;
    x264_param_default_preset(&p, "ultrafast", NULL);
    p.i_width = W;
    p.i_height = H;
    p.i_csp = X264_CSP_I422;
    p.i_log_level = X264_LOG_NONE;
    x264_param_apply_profile(&p, "high422");
    x264_t *x = x264_encoder_open(&p);
    if (!x)
        return;                             /* an x264 built without 4:2:2 */
    x264_nal_t *nals;
    int nb;
    x264_encoder_headers(x, &nals, &nb);
    par = avcodec_parameters_alloc();
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    par->width = W;
    par->height = H;
    par->extradata = av_mallocz(512 + AV_INPUT_BUFFER_PADDING_SIZE);
    for (int i = 0; i < nb; i++)
        if (nals[i].i_type == NAL_SPS || nals[i].i_type == NAL_PPS) {
            memcpy(par->extradata + par->extradata_size, nals[i].p_payload, (size_t)nals[i].i_payload);
            par->extradata_size += nals[i].i_payload;
        }
    x264_encoder_close(x);
    sp.camera = par;
    CHECK(lb_splice_encoder_create(&e, &sp, err, sizeof err) == AVERROR(ENOSYS) && !e);
    CHECK_STR_CONTAINS(err, "4:2:0");
    avcodec_parameters_free(&par);
}

/* A camera whose level is too low for the slate at the program's rate (a
 * 5 fps camera with the least level that fits it): the slate slows down. */
static void slower(void)
{
    camera cam = { 0 };
    char err[256];
    lb_splice_encoder *e = NULL;
    CHECK(camera_open(&cam, "baseline", 0, 1, 5) == 0);
    lb_splice_params sp = { .camera = cam.par, .fps_num = FPS, .fps_den = 1, .keyint_s = 2, .name = "test" };
    CHECK(lb_splice_encoder_create(&e, &sp, err, sizeof err) == 0);
    if (e) {
        AVRational r = lb_splice_encoder_frame_rate(e);
        int level = cam.par->extradata[7];
        const x264_level_t *l = x264_levels;
        while (l->level_idc && l->level_idc != level)
            l++;
        int64_t mbs = (int64_t)(W / 16) * (H / 16);
        fprintf(stderr, "5 fps camera at level %d: the slate runs at %d/%d fps\n", level, r.num, r.den);
        CHECK(l->level_idc && r.num < FPS * r.den && mbs * r.num <= (int64_t)l->mbps * r.den);
    }
    lb_splice_encoder_free(&e);
    x264_encoder_close(cam.x264);
    avcodec_parameters_free(&cam.par);
}

int main(void)
{
    run_case("baseline", 0, 1);
    run_case("main", 31, 0);         /* the slate takes 30 */
    run_case("high", 0, 0);
    run_case("high", 5, 1);
    refused();
    slower();
    return CHECK_DONE();
}
