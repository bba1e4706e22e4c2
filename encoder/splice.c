/* Design note: pictures spliced into a camera's stream copy.
 *
 * Resource mode copies a compressed camera's H.264 as it came.  While the
 * camera is away its track shows the "no signal" slate rather than a gap,
 * so the slate is encoded into the same track: one decodable H.264 stream
 * whose sample entry carries the camera's parameter sets and the slate's.
 *
 * - The slate's SPS and PPS take an id the camera's do not use, so a
 *   decoder keeps both sets side by side and each IDR names its own.
 * - Its profile is one the camera's admits (baseline for baseline or
 *   extended, main for main, high for the high profiles; 8-bit 4:2:0 only)
 *   and its level is the camera's: the avcC's profile, level and chroma
 *   fields come from the camera's SPS (the first) and stay true.
 * - libavformat's mp4 muxer (FFmpeg 5.1, ff_isom_write_avcc) builds the
 *   avcC from Annex B extradata with any number of SPS and PPS and then
 *   turns Annex B packets into length-prefixed ones; avcC extradata and
 *   its packets go in as they are.  So the slate's sets are added in the
 *   camera's format, and slate packets are written in it as well (start
 *   codes, or the avcC's NAL length size).
 * - The slate repeats its SPS and PPS before every IDR too (identical to
 *   those in the sample entry): a player that only reads the first set of
 *   an avcC still finds them.
 *
 * x264 is open only while a slate is being encoded (at a camera's size it
 * holds tens of MB).  The parameter sets are made once at set-up; x264
 * writes them from the parameters alone, so a later open gives the same
 * bytes, and that is checked: if it ever did not, the slate is given up
 * rather than writing pictures the sample entry does not describe. */
#include "encoder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <x264.h>

#include <libavcodec/avcodec.h>
#include <libavutil/intreadwrite.h>
#include <libavutil/mathematics.h>

#include "lb_log.h"
#include "x264_frame.h"

#define MAX_SPS_ID 31                /* H.264 7.4.2.1.1; x264 takes 0..31 for both */
#define MAX_PPS_ID 255
#define MAX_XPS_SIZE 1024            /* a parameter set larger than this is not ours to parse */

struct lb_splice_encoder {
    x264_param_t param;
    x264_t *x264;
    x264_picture_t pic_in;
    AVCodecParameters *par;          /* the camera's, with the slate's sets added */
    int annexb;                      /* the camera's format: start codes, or lengths */
    int length_size;                 /* avcC: bytes of a NAL length */
    int id;                          /* the slate's SPS and PPS id */
    uint8_t sps[MAX_XPS_SIZE], pps[MAX_XPS_SIZE];
    int sps_size, pps_size;
    AVRational rate;                 /* the slate's frame rate */
    int64_t frame_us;
    int broken;                      /* a reopen gave other parameter sets */
    char log_name[64];
};

/* ---- reading the camera's parameter sets ---- */

typedef struct bits {
    uint8_t buf[64];                 /* the start of a NAL's RBSP: enough for the ids */
    int size, pos;
} bits;

/* The first bytes of a NAL without its emulation prevention bytes. */
static void bits_init(bits *b, const uint8_t *nal, int size)
{
    int zeros = 0;
    b->size = b->pos = 0;
    for (int i = 1; i < size && b->size < (int)sizeof b->buf; i++) {
        if (zeros >= 2 && nal[i] == 3) {
            zeros = 0;
            continue;
        }
        zeros = nal[i] ? 0 : zeros + 1;
        b->buf[b->size++] = nal[i];
    }
}

static int bit(bits *b)
{
    if (b->pos >= b->size * 8)
        return -1;
    int v = (b->buf[b->pos >> 3] >> (7 - (b->pos & 7))) & 1;
    b->pos++;
    return v;
}

static int u(bits *b, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        int x = bit(b);
        if (x < 0)
            return -1;
        v = v << 1 | x;
    }
    return v;
}

static int ue(bits *b)
{
    int zeros = 0, x;
    while ((x = bit(b)) == 0)
        if (++zeros > 16)
            return -1;
    if (x < 0)
        return -1;
    int rest = u(b, zeros);
    return rest < 0 ? -1 : (1 << zeros) - 1 + rest;
}

/* What the set-up learns from the camera's SPS and PPS. */
typedef struct camera_sets {
    uint8_t sps_used[MAX_SPS_ID + 1];
    uint8_t pps_used[MAX_PPS_ID + 1];
    int nb_sps, nb_pps;
    int profile_idc, level_idc;      /* of the first SPS */
    int chroma_format_idc, bit_depth_luma, bit_depth_chroma;
} camera_sets;

static int read_nal(camera_sets *cs, const uint8_t *nal, int size, char *err, size_t err_size)
{
    if (size < 2)
        return 0;
    int type = nal[0] & 0x1f;
    bits b;
    if (type == 7) {
        bits_init(&b, nal, size);
        int profile = u(&b, 8);
        u(&b, 8);                    /* constraint flags */
        int level = u(&b, 8);
        int id = ue(&b);
        if (id < 0 || id > MAX_SPS_ID) {
            snprintf(err, err_size, "the camera's SPS cannot be read");
            return AVERROR_INVALIDDATA;
        }
        cs->sps_used[id] = 1;
        if (cs->nb_sps++)
            return 0;
        cs->profile_idc = profile;
        cs->level_idc = level;
        cs->chroma_format_idc = 1;
        cs->bit_depth_luma = cs->bit_depth_chroma = 8;
        if (profile == 100 || profile == 110 || profile == 122 || profile == 244 || profile == 44 ||
            profile == 83 || profile == 86 || profile == 118 || profile == 128 || profile == 138 ||
            profile == 139 || profile == 134 || profile == 135) {
            cs->chroma_format_idc = ue(&b);
            if (cs->chroma_format_idc == 3)
                u(&b, 1);            /* separate_colour_plane_flag */
            cs->bit_depth_luma = ue(&b) + 8;
            cs->bit_depth_chroma = ue(&b) + 8;
        }
    } else if (type == 8) {
        bits_init(&b, nal, size);
        int id = ue(&b);
        if (id < 0 || id > MAX_PPS_ID) {
            snprintf(err, err_size, "the camera's PPS cannot be read");
            return AVERROR_INVALIDDATA;
        }
        cs->pps_used[id] = 1;
        cs->nb_pps++;
    }
    return 0;
}

static const uint8_t *next_start_code(const uint8_t *p, const uint8_t *end)
{
    for (; p + 3 <= end; p++)
        if (!p[0] && !p[1] && p[2] == 1)
            return p;
    return end;
}

/* Annex B: NALs between start codes (of 3 or 4 bytes). */
static int read_annexb(camera_sets *cs, const uint8_t *p, int size, char *err, size_t err_size)
{
    const uint8_t *end = p + size, *sc = next_start_code(p, end);
    while (sc < end) {
        const uint8_t *nal = sc + 3, *next = next_start_code(nal, end), *nal_end = next;
        /* a NAL never ends in a zero byte: those belong to the next start code */
        while (nal_end > nal && !nal_end[-1])
            nal_end--;
        int ret = read_nal(cs, nal, (int)(nal_end - nal), err, err_size);
        if (ret < 0)
            return ret;
        sc = next;
    }
    return 0;
}

/* avcC (ISO/IEC 14496-15 5.3.3.1): the offset just after the PPS array in
 * *end; what follows it (the high profiles' chroma and bit depth fields)
 * is kept as it is. */
static int read_avcc(camera_sets *cs, const uint8_t *p, int size, int *end,
                     char *err, size_t err_size)
{
    if (size < 7)
        goto bad;
    int pos = 6, ret;
    for (int n = p[5] & 0x1f; n > 0; n--) {
        if (pos + 2 > size || pos + 2 + AV_RB16(p + pos) > size)
            goto bad;
        if ((ret = read_nal(cs, p + pos + 2, AV_RB16(p + pos), err, err_size)) < 0)
            return ret;
        pos += 2 + AV_RB16(p + pos);
    }
    if (pos + 1 > size)
        goto bad;
    for (int n = p[pos++]; n > 0; n--) {
        if (pos + 2 > size || pos + 2 + AV_RB16(p + pos) > size)
            goto bad;
        if ((ret = read_nal(cs, p + pos + 2, AV_RB16(p + pos), err, err_size)) < 0)
            return ret;
        pos += 2 + AV_RB16(p + pos);
    }
    *end = pos;
    return 0;
bad:
    snprintf(err, err_size, "the camera's avcC is truncated");
    return AVERROR_INVALIDDATA;
}

/* ---- x264 ---- */

/* x264's name tables are indexed by the H.264 VUI code; "" marks a gap. */
static int known_code(const char *const *names, int code)
{
    for (int i = 0; names[i]; i++)
        if (i == code)
            return code > 0 && code != 2 && *names[i];   /* 0: RGB or reserved, 2: unspecified */
    return 0;
}

static void x264_log(void *opaque, int level, const char *fmt, va_list ap)
{
    lb_log_level l = level <= X264_LOG_ERROR ? LB_LOG_ERROR : level <= X264_LOG_WARNING ? LB_LOG_WARN
                                                                                         : LB_LOG_DEBUG;
    lb_logv(l, opaque, fmt, ap);
}

/* Opens x264 and checks its SPS and PPS against those reserved (or, the
 * first time, reserves them). */
static int open_x264(lb_splice_encoder *e, int reserve)
{
    x264_nal_t *nals;
    int nb_nals;
    if (!(e->x264 = x264_encoder_open(&e->param)))
        return AVERROR_EXTERNAL;
    if (x264_encoder_headers(e->x264, &nals, &nb_nals) <= 0)
        return AVERROR_EXTERNAL;
    int same = 1, got = 0;
    for (int i = 0; i < nb_nals; i++) {
        /* without b_annexb each NAL starts with its 4-byte length */
        const uint8_t *nal = nals[i].p_payload + 4;
        int size = nals[i].i_payload - 4;
        uint8_t *dst = nals[i].i_type == NAL_SPS ? e->sps : nals[i].i_type == NAL_PPS ? e->pps : NULL;
        int *dst_size = nals[i].i_type == NAL_SPS ? &e->sps_size : &e->pps_size;
        if (!dst)
            continue;
        if (size <= 0 || size > MAX_XPS_SIZE)
            return AVERROR_EXTERNAL;
        got++;
        if (reserve) {
            memcpy(dst, nal, (size_t)size);
            *dst_size = size;
        } else {
            same &= size == *dst_size && !memcmp(dst, nal, (size_t)size);
        }
    }
    if (got != 2)
        return AVERROR_EXTERNAL;
    if (!same) {
        LB_LOGE(e->log_name, "x264 made other parameter sets than at set-up: no slate in this track "
                "from now on (its gaps stay gaps)");
        e->broken = 1;
        return AVERROR_BUG;
    }
    return 0;
}

static void close_x264(lb_splice_encoder *e)
{
    if (e->x264)
        x264_encoder_close(e->x264);
    e->x264 = NULL;
}

/* ---- the track's extradata ---- */

static int put_nal(uint8_t *out, int pos, const uint8_t *nal, int size, int annexb, int length_size)
{
    if (annexb) {
        AV_WB32(out + pos, 1);
        pos += 4;
    } else {
        for (int i = length_size - 1; i >= 0; i--)
            out[pos++] = (uint8_t)(size >> (8 * i));
    }
    memcpy(out + pos, nal, (size_t)size);
    return pos + size;
}

static int extend_extradata(lb_splice_encoder *e, const AVCodecParameters *cam, int avcc_end)
{
    const uint8_t *in = cam->extradata;
    int in_size = cam->extradata_size;
    size_t size = (size_t)in_size + 4 + (size_t)e->sps_size + 4 + (size_t)e->pps_size;
    uint8_t *out = av_mallocz(size + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!out)
        return AVERROR(ENOMEM);
    int pos;
    if (e->annexb) {
        /* the camera's first: the avcC takes profile and level from the first SPS */
        memcpy(out, in, (size_t)in_size);
        pos = put_nal(out, in_size, e->sps, e->sps_size, 1, 0);
        pos = put_nal(out, pos, e->pps, e->pps_size, 1, 0);
    } else {
        int sps_end = 6;
        for (int n = in[5] & 0x1f; n > 0; n--)
            sps_end += 2 + AV_RB16(in + sps_end);
        memcpy(out, in, (size_t)sps_end);
        out[5] = (uint8_t)(0xe0 | ((in[5] & 0x1f) + 1));
        pos = put_nal(out, sps_end, e->sps, e->sps_size, 0, 2);
        out[pos++] = (uint8_t)(in[sps_end] + 1);
        memcpy(out + pos, in + sps_end + 1, (size_t)(avcc_end - sps_end - 1));
        pos += avcc_end - sps_end - 1;
        pos = put_nal(out, pos, e->pps, e->pps_size, 0, 2);
        memcpy(out + pos, in + avcc_end, (size_t)(in_size - avcc_end));
        pos += in_size - avcc_end;
    }
    av_freep(&e->par->extradata);
    e->par->extradata = out;
    e->par->extradata_size = pos;
    return 0;
}

int lb_splice_encoder_create(lb_splice_encoder **pe, const lb_splice_params *sp,
                             char *err, size_t err_size)
{
    const AVCodecParameters *cam = sp->camera;
    camera_sets cs = { 0 };
    int avcc_end = 0, ret;
    *pe = NULL;
    if (cam->codec_id != AV_CODEC_ID_H264) {
        snprintf(err, err_size, "%s: slates are spliced into H.264 only", avcodec_get_name(cam->codec_id));
        return AVERROR(ENOSYS);
    }
    if (cam->extradata_size < 7) {
        snprintf(err, err_size, "the camera's parameter sets are only in band (no extradata)");
        return AVERROR(ENOSYS);
    }
    if (cam->width <= 0 || cam->height <= 0 || cam->width % 2 || cam->height % 2) {
        snprintf(err, err_size, "%dx%d is not an even 4:2:0 size", cam->width, cam->height);
        return AVERROR(ENOSYS);
    }
    int annexb = AV_RB24(cam->extradata) == 1 || AV_RB32(cam->extradata) == 1;
    if (annexb)
        ret = read_annexb(&cs, cam->extradata, cam->extradata_size, err, err_size);
    else if (cam->extradata[0] == 1)
        ret = read_avcc(&cs, cam->extradata, cam->extradata_size, &avcc_end, err, err_size);
    else {
        snprintf(err, err_size, "the camera's extradata is neither Annex B nor avcC");
        ret = AVERROR_INVALIDDATA;
    }
    if (ret < 0)
        return AVERROR(ENOSYS);
    if (!cs.nb_sps || !cs.nb_pps) {
        snprintf(err, err_size, "no SPS or PPS in the camera's extradata");
        return AVERROR(ENOSYS);
    }
    const char *profile;
    switch (cs.profile_idc) {
    case 66: case 88: profile = "baseline"; break;
    case 77: profile = "main"; break;
    case 100: case 110: case 122: case 244: profile = "high"; break;
    default:
        snprintf(err, err_size, "H.264 profile_idc %d", cs.profile_idc);
        return AVERROR(ENOSYS);
    }
    if (cs.chroma_format_idc != 1 || cs.bit_depth_luma != 8 || cs.bit_depth_chroma != 8) {
        snprintf(err, err_size, "the camera is not 8-bit 4:2:0 (chroma_format_idc %d, %d/%d bits)",
                 cs.chroma_format_idc, cs.bit_depth_luma, cs.bit_depth_chroma);
        return AVERROR(ENOSYS);
    }
    int id = -1;
    /* from the top: cameras number their sets from 0 */
    for (int i = MAX_SPS_ID; i >= 0 && id < 0; i--)
        if (!cs.sps_used[i] && !cs.pps_used[i])
            id = i;
    if (id < 0) {
        snprintf(err, err_size, "the camera uses every SPS id");
        return AVERROR(ENOSYS);
    }

    lb_splice_encoder *e = av_mallocz(sizeof *e);
    if (!e || !(e->par = avcodec_parameters_alloc())) {
        av_free(e);
        return AVERROR(ENOMEM);
    }
    snprintf(e->log_name, sizeof e->log_name, "%s", sp->name ? sp->name : "slate");
    e->annexb = annexb;
    e->length_size = annexb ? 4 : (cam->extradata[4] & 3) + 1;
    e->id = id;
    /* the slate keeps within the camera's level: the program's rate,
     * unless that is more macroblocks a second than the level allows (a
     * 10 fps camera is often given the least level that fits it) */
    e->rate = (AVRational){ sp->fps_num, sp->fps_den };
    int64_t mbs = (int64_t)((cam->width + 15) / 16) * ((cam->height + 15) / 16);
    for (const x264_level_t *l = x264_levels; l->level_idc; l++)
        if (l->level_idc == cs.level_idc && mbs * sp->fps_num > (int64_t)l->mbps * sp->fps_den)
            e->rate = (AVRational){ FFMAX(1, (int)(l->mbps / mbs)), 1 };
    e->frame_us = av_rescale(1000000, e->rate.den, e->rate.num);
    if ((ret = avcodec_parameters_copy(e->par, cam)) < 0)
        goto fail;

    x264_param_t *p = &e->param;
    /* a still card: the fastest settings, one thread, and no delay so each
     * frame comes out of the call that took it */
    x264_param_default_preset(p, "ultrafast", "zerolatency");
    p->pf_log = x264_log;
    p->p_log_private = e->log_name;
    p->i_log_level = X264_LOG_WARNING;
    p->i_threads = 1;
    p->b_sliced_threads = 0;
    p->i_width = cam->width;
    p->i_height = cam->height;
    p->i_csp = X264_CSP_I420;
    p->i_fps_num = (uint32_t)e->rate.num;
    p->i_fps_den = (uint32_t)e->rate.den;
    p->i_timebase_num = 1;
    p->i_timebase_den = 1000000;
    p->b_vfr_input = 0;
    int keyint = FFMAX(1, (int)(sp->keyint_s * e->rate.num / e->rate.den + 0.5));
    p->i_keyint_max = keyint;
    p->i_keyint_min = keyint;
    p->i_scenecut_threshold = 0;
    p->b_repeat_headers = 1;
    p->b_annexb = 0;
    p->b_aud = 0;
    p->i_sps_id = id;
    p->i_level_idc = cs.level_idc;
    p->rc.i_rc_method = X264_RC_CRF;
    p->rc.f_rf_constant = 26;
    /* the camera's colour description where it gives one (AVCOL_* values
     * are the VUI codes) */
    if (known_code(x264_colorprim_names, cam->color_primaries))
        p->vui.i_colorprim = cam->color_primaries;
    if (known_code(x264_transfer_names, cam->color_trc))
        p->vui.i_transfer = cam->color_trc;
    if (known_code(x264_colmatrix_names, cam->color_space))
        p->vui.i_colmatrix = cam->color_space;
    /* each SPS describes its own pictures: the slate is drawn in limited range */
    p->vui.b_fullrange = 0;
    if (cam->sample_aspect_ratio.num > 0 && cam->sample_aspect_ratio.den > 0) {
        p->vui.i_sar_width = cam->sample_aspect_ratio.num;
        p->vui.i_sar_height = cam->sample_aspect_ratio.den;
    }
    if (x264_param_apply_profile(p, profile) < 0) {
        snprintf(err, err_size, "x264 rejects profile %s", profile);
        ret = AVERROR(ENOSYS);
        goto fail;
    }
    if ((ret = open_x264(e, 1)) < 0) {
        snprintf(err, err_size, "x264 does not open at %dx%d", cam->width, cam->height);
        ret = AVERROR(ENOSYS);
        goto fail;
    }
    close_x264(e);
    if ((ret = extend_extradata(e, cam, avcc_end)) < 0)
        goto fail;
    x264_picture_init(&e->pic_in);
    e->pic_in.img.i_csp = X264_CSP_I420;
    e->pic_in.img.i_plane = 3;
    LB_LOGI(e->log_name, "slate ready: H.264 %s level %d.%d at %.4g fps, SPS/PPS id %d beside the "
            "camera's, %s", profile, cs.level_idc / 10, cs.level_idc % 10, av_q2d(e->rate), id,
            annexb ? "Annex B" : "avcC");
    *pe = e;
    return 0;
fail:
    lb_splice_encoder_free(&e);
    return ret;
}

const AVCodecParameters *lb_splice_encoder_codecpar(const lb_splice_encoder *e)
{
    return e->par;
}

/* One x264 frame as one packet in the camera's format. */
static int emit(lb_splice_encoder *e, x264_nal_t *nals, int nb_nals, const x264_picture_t *out,
                lb_packet_sink sink, void *opaque)
{
    int size = 0;
    for (int i = 0; i < nb_nals; i++)
        size += (e->annexb ? 4 : e->length_size) + nals[i].i_payload - 4;
    if (!size)
        return 0;
    AVPacket *pkt = av_packet_alloc();
    if (!pkt || av_new_packet(pkt, size) < 0) {
        av_packet_free(&pkt);
        return AVERROR(ENOMEM);
    }
    int pos = 0;
    for (int i = 0; i < nb_nals; i++)
        pos = put_nal(pkt->data, pos, nals[i].p_payload + 4, nals[i].i_payload - 4, e->annexb,
                      e->length_size);
    pkt->pts = out->i_pts;
    pkt->dts = out->i_dts;
    pkt->duration = e->frame_us;
    pkt->time_base = (AVRational){ 1, 1000000 };
    if (out->b_keyframe)
        pkt->flags |= AV_PKT_FLAG_KEY;
    int ret = sink(opaque, pkt);
    av_packet_free(&pkt);
    return ret;
}

int lb_splice_encoder_encode(lb_splice_encoder *e, const AVFrame *frame,
                             lb_packet_sink sink, void *opaque)
{
    x264_nal_t *nals;
    int nb_nals, ret, first = 0;
    x264_picture_t out;
    if (e->broken)
        return AVERROR_BUG;
    if (frame->width != e->param.i_width || frame->height != e->param.i_height ||
        frame->format != AV_PIX_FMT_YUV420P)
        return AVERROR(EINVAL);
    if (!e->x264) {
        if ((ret = open_x264(e, 0)) < 0) {
            close_x264(e);
            return ret;
        }
        first = 1;
    }
    int size = lb_x264_encode_frame(e->x264, &e->pic_in, frame, first, X264_QP_AUTO, &nals, &nb_nals, &out);
    if (size < 0)
        return size;
    return size ? emit(e, nals, nb_nals, &out, sink, opaque) : 0;
}

AVRational lb_splice_encoder_frame_rate(const lb_splice_encoder *e)
{
    return e->rate;
}

void lb_splice_encoder_idle(lb_splice_encoder *e)
{
    /* zerolatency: nothing is held back, there is nothing to flush */
    if (e)
        close_x264(e);
}

void lb_splice_encoder_free(lb_splice_encoder **pe)
{
    lb_splice_encoder *e = pe ? *pe : NULL;
    if (!e)
        return;
    close_x264(e);
    avcodec_parameters_free(&e->par);
    av_freep(pe);
}
