/* Design note: the program's video encode, through libx264's own API.
 *
 * One encode feeds every output, so the bitstream suits them all: Annex B
 * with SPS/PPS repeated before every IDR (MPEG-TS for SRT and HLS needs them
 * in band; the MP4 muxer turns Annex B into avcC), a fixed GOP of keyint_s
 * seconds with scene-cut off so that every HLS segment starts with an IDR
 * and renditions line up, and BT.709 limited-range VUI.
 *
 * Key frames by time, not by count: an IDR goes to the first frame at or
 * past each multiple of keyint_s on the timeline (from the last forced IDR,
 * a recording's first frame, so every file of a lesson has its key frames
 * at multiples of keyint_s from its start).  x264 is never left to count
 * frames: a tick the program did not make would stretch its GOP, and the
 * HLS segment with it.  x264 runs its own
 * threads; with zerolatency it uses sliced threads and no lookahead, so a
 * frame comes out of the call that took it in. */
#include "encoder.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <x264.h>

#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/mathematics.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_thread.h"
#include "x264_frame.h"

static const lb_option_choice rc_choices[] = {
    { "cbr", LB_RC_CBR }, { "vbr", LB_RC_VBR }, { "crf", LB_RC_CRF }, { NULL, 0 },
};

#define OFF(x) offsetof(lb_encoder_settings, x)
#define STR(x) OFF(x), sizeof(((lb_encoder_settings *)0)->x)

const lb_option lb_encoder_options[] = {
    { "preset", LB_OPT_STRING, STR(preset), "veryfast", 0, 0, NULL, "x264 preset, ultrafast ... veryslow" },
    { "tune", LB_OPT_STRING, STR(tune), NULL, 0, 0, NULL, "x264 tune: film, animation, grain, stillimage, psnr, ssim, fastdecode" },
    { "profile", LB_OPT_STRING, STR(profile), "high", 0, 0, NULL, "H.264 profile: baseline, main, high" },
    { "level", LB_OPT_STRING, STR(level), NULL, 0, 0, NULL, "H.264 level, e.g. 4.1 (empty: x264 chooses)" },
    { "rate_control", LB_OPT_ENUM, OFF(rate_control), 0, "cbr", 0, 0, rc_choices, "cbr, vbr (with VBV) or crf" },
    { "bitrate_kbps", LB_OPT_INT, OFF(bitrate_kbps), 0, "4000", 100, 100000, NULL, "program video bitrate" },
    { "maxrate_kbps", LB_OPT_INT, OFF(maxrate_kbps), 0, "0", 0, 200000, NULL, "VBV max rate (0: bitrate for cbr, 1.5 x for vbr)" },
    { "bufsize_kbits", LB_OPT_INT, OFF(bufsize_kbits), 0, "0", 0, 400000, NULL, "VBV buffer (0: 2 x max rate)" },
    { "crf", LB_OPT_INT, OFF(crf), 0, "23", 0, 51, NULL, "quality for crf" },
    { "keyint_s", LB_OPT_DOUBLE, OFF(keyint_s), 0, "2", 0.5, 10, NULL, "seconds between IDR frames (= HLS segment length)" },
    { "threads", LB_OPT_INT, OFF(threads), 0, "0", 0, 64, NULL, "x264 threads (0: automatic)" },
    { "zerolatency", LB_OPT_BOOL, OFF(zerolatency), 0, "true", 0, 0, NULL, "no lookahead, no B-frames: for live" },
    { "audio_bitrate_kbps", LB_OPT_INT, OFF(audio_bitrate_kbps), 0, "128", 32, 512, NULL, "AAC-LC bitrate" },
    { "renditions", LB_OPT_STRING, STR(renditions), NULL, 0, 0, NULL, "lower HLS renditions, e.g. 1280x720:2500,640x360:800" },
    { "iso", LB_OPT_BOOL, OFF(iso), 0, "true", 0, 0, NULL, "resource mode: encode each raw camera to iso/<name>.mp4" },
    { "iso_width", LB_OPT_INT, OFF(iso_width), 0, "1280", 160, 3840, NULL, "size of encoded camera recordings" },
    { "iso_height", LB_OPT_INT, OFF(iso_height), 0, "720", 90, 2160, NULL, "size of encoded camera recordings" },
    { "iso_bitrate_kbps", LB_OPT_INT, OFF(iso_bitrate_kbps), 0, "2500", 100, 50000, NULL, "bitrate of encoded camera recordings" },
    { "iso_preset", LB_OPT_STRING, STR(iso_preset), "veryfast", 0, 0, NULL, "x264 preset of encoded camera recordings" },
    { "iso_audio", LB_OPT_BOOL, OFF(iso_audio), 0, "true", 0, 0, NULL, "resource mode: each mic's own sound (before the mixer) as AAC-LC to audio/<name>.m4a (with iso)" },
    { "agc", LB_OPT_BOOL, OFF(agc), 0, "true", 0, 0, NULL, "automatic gain toward agc_target_dbfs" },
    { "agc_target_dbfs", LB_OPT_DOUBLE, OFF(agc_target_dbfs), 0, "-20", -40, -6, NULL, "program loudness (RMS) the gain aims at" },
    { "agc_max_gain_db", LB_OPT_DOUBLE, OFF(agc_max_gain_db), 0, "20", 0, 40, NULL, "most the automatic gain may add" },
    { "limiter_dbfs", LB_OPT_DOUBLE, OFF(limiter_dbfs), 0, "-1", -20, 0, NULL, "peak ceiling of the program audio" },
    { "gate_dbfs", LB_OPT_DOUBLE, OFF(gate_dbfs), 0, "-120", -120, -20, NULL, "mute a mic below this level (-120: off)" },
    { NULL },
};

struct lb_video_encoder {
    x264_t *x264;
    x264_picture_t pic_in;
    AVCodecParameters *par;
    int stream_index;
    int64_t frame_duration_us;
    char log_name[64];
    int is_program;                     /* the latency trace follows the program's frames */
    int64_t frames_in;
    atomic_int speed_wanted;     /* presets faster than the configured one (load shedding) */
    int speed_applied;
    int preset_index;            /* in x264_preset_names */
    char tune[64], profile[16];
    int frame_reference;         /* as opened: a faster preset never raises it */
    int64_t keyint_us;           /* the GOP on the timeline */
    int64_t gop_anchor_us;       /* pts of the last forced IDR: the grid starts there */
    int64_t gop_index;           /* the grid's interval of the last IDR */
};

static int in_list(const char *const *names, const char *value)
{
    for (; *names; names++)
        if (!strcmp(*names, value))
            return 1;
    return 0;
}

static void list(const char *const *names, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (; *names && n < size; names++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", *names);
}

static int parse_level(const char *level)
{
    if (!*level)
        return -1;
    char *end;
    double v = strtod(level, &end);
    if (*end || v <= 0)
        return 0;
    return (int)(v * 10 + 0.5);
}

int lb_encoder_check(const lb_encoder_settings *s, const lb_config_section *sec,
                     int width, int height, int fps_num, int fps_den,
                     char *err, size_t err_size)
{
    char names[256];
    if (!in_list(x264_preset_names, s->preset)) {
        list(x264_preset_names, names, sizeof names);
        lb_config_error(sec, "preset", err, err_size, "unknown value '%s' (expected %s)", s->preset, names);
        return AVERROR(EINVAL);
    }
    if (*s->tune && (!in_list(x264_tune_names, s->tune) || !strcmp(s->tune, "zerolatency"))) {
        lb_config_error(sec, "tune", err, err_size,
                        "unknown value '%s' (expected film, animation, grain, stillimage, psnr, ssim, "
                        "fastdecode; zerolatency has its own key)", s->tune);
        return AVERROR(EINVAL);
    }
    if (!in_list(x264_profile_names, s->profile) || strstr(s->profile, "10") || strstr(s->profile, "4")) {
        lb_config_error(sec, "profile", err, err_size, "unknown value '%s' (expected baseline, main, high)",
                        s->profile);
        return AVERROR(EINVAL);
    }
    if (width <= 0 || height <= 0 || width % 2 || height % 2) {
        lb_config_error(NULL, NULL, err, err_size, "program size %dx%d: width and height must be even",
                        width, height);
        return AVERROR(EINVAL);
    }
    int level = parse_level(s->level);
    if (level == 0) {
        lb_config_error(sec, "level", err, err_size, "'%s' is not an H.264 level like 3.1 or 4.1", s->level);
        return AVERROR(EINVAL);
    }
    if (level > 0) {
        const x264_level_t *l = x264_levels;
        while (l->level_idc && l->level_idc != level)
            l++;
        if (!l->level_idc) {
            lb_config_error(sec, "level", err, err_size, "'%s' is not an H.264 level", s->level);
            return AVERROR(EINVAL);
        }
        int64_t mbs = (int64_t)((width + 15) / 16) * ((height + 15) / 16);
        int64_t mbps = mbs * fps_num / fps_den;
        int maxrate = s->maxrate_kbps ? s->maxrate_kbps : s->bitrate_kbps;
        /* High profile may use 1.25 x the level's rate (H.264 table A-1) */
        int64_t level_rate = l->bitrate * (!strcmp(s->profile, "high") ? 5 : 4) / 4;
        if (mbs > l->frame_size || mbps > l->mbps) {
            lb_config_error(sec, "level", err, err_size,
                            "%s is too low for %dx%d at %.2f fps (%lld macroblocks/s, level allows %d)",
                            s->level, width, height, (double)fps_num / fps_den, (long long)mbps, l->mbps);
            return AVERROR(EINVAL);
        }
        if (s->rate_control != LB_RC_CRF && maxrate > level_rate) {
            lb_config_error(sec, "level", err, err_size, "%s allows at most %lld kbit/s, not %d",
                            s->level, (long long)level_rate, maxrate);
            return AVERROR(EINVAL);
        }
    }
    if (!in_list(x264_preset_names, s->iso_preset)) {
        list(x264_preset_names, names, sizeof names);
        lb_config_error(sec, "iso_preset", err, err_size, "unknown value '%s' (expected %s)", s->iso_preset, names);
        return AVERROR(EINVAL);
    }
    if (s->iso_width % 2 || s->iso_height % 2) {
        lb_config_error(sec, "iso_width", err, err_size, "camera recording size %dx%d must be even",
                        s->iso_width, s->iso_height);
        return AVERROR(EINVAL);
    }
    lb_rendition ladder[LB_MAX_RENDITIONS];
    int nb;
    int ret = lb_encoder_renditions(s, sec, ladder, &nb, err, err_size);
    if (ret < 0)
        return ret;
    if (s->rate_control == LB_RC_CBR && s->maxrate_kbps && s->maxrate_kbps != s->bitrate_kbps) {
        lb_config_error(sec, "maxrate_kbps", err, err_size,
                        "with rate_control = cbr the max rate is the bitrate (%d); use vbr for a different one",
                        s->bitrate_kbps);
        return AVERROR(EINVAL);
    }
    if (s->rate_control == LB_RC_VBR && s->maxrate_kbps && s->maxrate_kbps < s->bitrate_kbps) {
        lb_config_error(sec, "maxrate_kbps", err, err_size, "%d is below bitrate_kbps %d",
                        s->maxrate_kbps, s->bitrate_kbps);
        return AVERROR(EINVAL);
    }
    return 0;
}

int lb_encoder_renditions(const lb_encoder_settings *s, const lb_config_section *sec,
                          lb_rendition *out, int *nb, char *err, size_t err_size)
{
    *nb = 0;
    const char *p = s->renditions;
    while (*p) {
        lb_rendition r;
        int used = 0;
        if (sscanf(p, "%dx%d:%d%n", &r.width, &r.height, &r.bitrate_kbps, &used) != 3 ||
            (p[used] && p[used] != ',')) {
            lb_config_error(sec, "renditions", err, err_size,
                            "'%s' is not a list like 1280x720:2500,640x360:800", s->renditions);
            return AVERROR(EINVAL);
        }
        if (r.width < 160 || r.height < 90 || r.width % 2 || r.height % 2 ||
            r.bitrate_kbps < 100 || r.bitrate_kbps > 50000) {
            lb_config_error(sec, "renditions", err, err_size,
                            "%dx%d:%d: sizes must be even and at least 160x90, bitrates 100-50000 kbit/s",
                            r.width, r.height, r.bitrate_kbps);
            return AVERROR(EINVAL);
        }
        if (*nb == LB_MAX_RENDITIONS) {
            lb_config_error(sec, "renditions", err, err_size, "at most %d renditions", LB_MAX_RENDITIONS);
            return AVERROR(EINVAL);
        }
        out[(*nb)++] = r;
        p += used;
        if (*p == ',')
            p++;
    }
    return 0;
}

static void x264_log(void *opaque, int level, const char *fmt, va_list ap)
{
    lb_log_level l = level <= X264_LOG_ERROR ? LB_LOG_ERROR : level <= X264_LOG_WARNING ? LB_LOG_WARN
                                                                                         : LB_LOG_DEBUG;
    lb_logv(l, opaque, fmt, ap);
}

static int fill_codecpar(lb_video_encoder *e, const x264_param_t *p)
{
    x264_nal_t *nals;
    int nb_nals;
    int size = x264_encoder_headers(e->x264, &nals, &nb_nals);
    if (size <= 0)
        return AVERROR_EXTERNAL;
    AVCodecParameters *par = e->par;
    par->codec_type = AVMEDIA_TYPE_VIDEO;
    par->codec_id = AV_CODEC_ID_H264;
    par->width = p->i_width;
    par->height = p->i_height;
    par->format = AV_PIX_FMT_YUV420P;
    par->color_primaries = AVCOL_PRI_BT709;
    par->color_trc = AVCOL_TRC_BT709;
    par->color_space = AVCOL_SPC_BT709;
    par->color_range = AVCOL_RANGE_MPEG;
    par->sample_aspect_ratio = (AVRational){ 1, 1 };
    par->bit_rate = (int64_t)p->rc.i_bitrate * 1000;
    /* SPS and PPS only: the SEI x264 adds is not codec configuration */
    int extra = 0;
    for (int i = 0; i < nb_nals; i++)
        if (nals[i].i_type != NAL_SEI)
            extra += nals[i].i_payload;
    par->extradata = av_mallocz((size_t)extra + AV_INPUT_BUFFER_PADDING_SIZE);
    if (!par->extradata)
        return AVERROR(ENOMEM);
    for (int i = 0; i < nb_nals; i++) {
        if (nals[i].i_type == NAL_SEI)
            continue;
        memcpy(par->extradata + par->extradata_size, nals[i].p_payload, (size_t)nals[i].i_payload);
        par->extradata_size += nals[i].i_payload;
    }
    return 0;
}

int lb_video_encoder_open(lb_video_encoder **pe, const lb_video_encoder_params *vp,
                          char *err, size_t err_size)
{
    const lb_encoder_settings *s = vp->settings;
    x264_param_t p;
    int ret = lb_encoder_check(s, NULL, vp->width, vp->height, vp->fps_num, vp->fps_den, err, err_size);
    if (ret < 0)
        return ret;
    lb_video_encoder *e = av_mallocz(sizeof *e);
    if (!e || !(e->par = avcodec_parameters_alloc())) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    snprintf(e->log_name, sizeof e->log_name, "encoder:%s", vp->name ? vp->name : "program");
    e->stream_index = vp->stream_index;
    e->is_program = !vp->name || !strcmp(vp->name, "program");
    e->frame_duration_us = av_rescale(1000000, vp->fps_den, vp->fps_num);

    char tune[64];
    snprintf(tune, sizeof tune, "%s%s%s", s->tune, *s->tune && s->zerolatency ? "," : "",
             s->zerolatency ? "zerolatency" : "");
    if (x264_param_default_preset(&p, s->preset, *tune ? tune : NULL) < 0) {
        snprintf(err, err_size, "encoder: x264 rejects preset '%s' with tune '%s'", s->preset, tune);
        ret = AVERROR(EINVAL);
        goto fail;
    }
    p.pf_log = x264_log;
    p.p_log_private = e->log_name;
    p.i_log_level = X264_LOG_WARNING;
    p.i_threads = s->threads ? s->threads : X264_THREADS_AUTO;
    p.i_width = vp->width;
    p.i_height = vp->height;
    p.i_csp = X264_CSP_I420;
    p.i_fps_num = (uint32_t)vp->fps_num;
    p.i_fps_den = (uint32_t)vp->fps_den;
    /* timestamps pass through in microseconds; rate control uses the fps */
    p.i_timebase_num = 1;
    p.i_timebase_den = 1000000;
    p.b_vfr_input = 0;
    int keyint = (int)(s->keyint_s * vp->fps_num / vp->fps_den + 0.5);
    e->keyint_us = (int64_t)(s->keyint_s * 1e6 + 0.5);
    /* every IDR is ours (by time, see the note at the top) */
    p.i_keyint_max = X264_KEYINT_MAX_INFINITE;
    p.i_keyint_min = keyint;
    p.i_scenecut_threshold = 0;
    p.b_repeat_headers = 1;
    p.b_annexb = 1;
    p.b_aud = 0;
    p.vui.i_colorprim = 1;      /* BT.709 */
    p.vui.i_transfer = 1;
    p.vui.i_colmatrix = 1;
    p.vui.b_fullrange = 0;
    p.vui.i_sar_width = 1;
    p.vui.i_sar_height = 1;
    int maxrate = s->maxrate_kbps ? s->maxrate_kbps
                : s->rate_control == LB_RC_VBR ? s->bitrate_kbps * 3 / 2 : s->bitrate_kbps;
    switch (s->rate_control) {
    case LB_RC_CRF:
        p.rc.i_rc_method = X264_RC_CRF;
        p.rc.f_rf_constant = (float)s->crf;
        if (s->maxrate_kbps) {
            p.rc.i_vbv_max_bitrate = s->maxrate_kbps;
            p.rc.i_vbv_buffer_size = s->bufsize_kbits ? s->bufsize_kbits : 2 * s->maxrate_kbps;
        }
        break;
    default:
        p.rc.i_rc_method = X264_RC_ABR;
        p.rc.i_bitrate = s->bitrate_kbps;
        p.rc.i_vbv_max_bitrate = maxrate;
        p.rc.i_vbv_buffer_size = s->bufsize_kbits ? s->bufsize_kbits : 2 * maxrate;
        break;
    }
    if (s->rate_control == LB_RC_CBR) {
        /* true CBR, as a platform's ingest expects it: HRD signalled and
         * filler data where the picture needs fewer bits than the rate */
        p.i_nal_hrd = X264_NAL_HRD_CBR;
        p.rc.b_filler = 1;
    }
    int level = parse_level(s->level);
    if (level > 0)
        p.i_level_idc = level;
    if (x264_param_apply_profile(&p, s->profile) < 0) {
        snprintf(err, err_size, "encoder: x264 rejects profile '%s' for these settings", s->profile);
        ret = AVERROR(EINVAL);
        goto fail;
    }
    /* x264's workers take the opening thread's name: give them the
     * encoder's, so that top -H and the stop summary tell encoders apart */
    char thread_name[16], saved_name[16];
    snprintf(thread_name, sizeof thread_name, "x264:%s", vp->name ? vp->name : "program");
    lb_thread_rename_self(thread_name, saved_name);
    e->x264 = x264_encoder_open(&p);
    lb_thread_restore_name(saved_name);
    if (!e->x264) {
        snprintf(err, err_size, "encoder: x264 refused the settings (see the log above)");
        ret = AVERROR(EINVAL);
        goto fail;
    }
    x264_encoder_parameters(e->x264, &p);
    for (e->preset_index = 0; x264_preset_names[e->preset_index] &&
                              strcmp(x264_preset_names[e->preset_index], s->preset); e->preset_index++)
        ;
    snprintf(e->tune, sizeof e->tune, "%s", tune);
    snprintf(e->profile, sizeof e->profile, "%s", s->profile);
    e->frame_reference = p.i_frame_reference;
    if ((ret = fill_codecpar(e, &p)) < 0) {
        snprintf(err, err_size, "encoder: no SPS/PPS from x264");
        goto fail;
    }
    e->par->profile = !strcmp(s->profile, "baseline") ? FF_PROFILE_H264_BASELINE
                    : !strcmp(s->profile, "main") ? FF_PROFILE_H264_MAIN : FF_PROFILE_H264_HIGH;
    e->par->level = p.i_level_idc;
    x264_picture_init(&e->pic_in);
    e->pic_in.img.i_csp = X264_CSP_I420;
    e->pic_in.img.i_plane = 3;
    LB_LOGI(e->log_name, "x264 %s%s%s, %dx%d, %s %d kbit/s, IDR every %g s (%d frames), %d threads",
            s->preset, *tune ? "/" : "", tune, vp->width, vp->height,
            s->rate_control == LB_RC_CRF ? "crf" : s->rate_control == LB_RC_VBR ? "vbr" : "cbr",
            s->rate_control == LB_RC_CRF ? s->crf : s->bitrate_kbps, s->keyint_s, keyint, p.i_threads);
    *pe = e;
    return 0;
fail:
    lb_video_encoder_close(&e);
    return ret;
}

static int emit(lb_video_encoder *e, x264_nal_t *nals, int nb_nals, int size,
                const x264_picture_t *out, lb_packet_sink sink, void *opaque)
{
    if (size <= 0)
        return 0;
    AVPacket *pkt = av_packet_alloc();
    if (!pkt || av_new_packet(pkt, size) < 0) {
        av_packet_free(&pkt);
        return AVERROR(ENOMEM);
    }
    /* x264 lays its NALs out back to back in one buffer */
    memcpy(pkt->data, nals[0].p_payload, (size_t)size);
    pkt->pts = out->i_pts;
    pkt->dts = out->i_dts;
    pkt->duration = e->frame_duration_us;
    pkt->stream_index = e->stream_index;
    if (out->b_keyframe)
        pkt->flags |= AV_PKT_FLAG_KEY;
    if (e->is_program)
        lb_clock_trace("x264out", pkt->pts, size);
    int ret = sink(opaque, pkt);
    av_packet_free(&pkt);
    return ret;
}

/* The fastest preset shedding goes to: x264 warns that ultrafast's
 * shortcuts cannot be switched out of by a reconfiguration. */
#define FASTEST_SHED_PRESET 1           /* superfast */

int lb_video_encoder_set_speed(lb_video_encoder *e, int steps)
{
    int target = FFMAX(FFMIN(e->preset_index, FASTEST_SHED_PRESET), e->preset_index - FFMAX(steps, 0));
    atomic_store(&e->speed_wanted, e->preset_index - target);
    return e->preset_index - target;
}

/* Takes the analysis of a faster preset (or back the configured one's)
 * between two frames: x264_encoder_reconfig() changes analysis, never the
 * rate control, sizes or the stream's headers. */
static void apply_speed(lb_video_encoder *e, int steps)
{
    x264_param_t cur, want;
    const char *name = x264_preset_names[e->preset_index - steps];
    x264_encoder_parameters(e->x264, &cur);
    if (x264_param_default_preset(&want, name, *e->tune ? e->tune : NULL) < 0)
        return;
    cur.analyse = want.analyse;
    cur.i_frame_reference = FFMIN(want.i_frame_reference, e->frame_reference);
    cur.b_deblocking_filter = want.b_deblocking_filter;
    x264_param_apply_profile(&cur, e->profile);
    if (x264_encoder_reconfig(e->x264, &cur) < 0) {
        LB_LOGW(e->log_name, "x264 refused the %s preset's analysis", name);
        return;
    }
    e->speed_applied = steps;
    LB_LOGI(e->log_name, "x264 analysis now %s's%s", name, steps ? " (load shedding)" : " (as configured)");
}

int lb_video_encoder_encode(lb_video_encoder *e, const AVFrame *frame, int flags,
                            lb_packet_sink sink, void *opaque)
{
    int wanted = atomic_load(&e->speed_wanted);
    if (frame && wanted != e->speed_applied)
        apply_speed(e, wanted);
    int force_idr = !!(flags & LB_ENCODE_FORCE_IDR);
    x264_nal_t *nals;
    int nb_nals, ret;
    x264_picture_t out;
    if (frame) {
        if (e->is_program)
            lb_clock_trace("x264in", frame->pts, 0);
        /* the first frame at or past the next multiple of keyint (half a
         * frame early counts: pts are rounded to the microsecond) */
        int64_t index = (frame->pts - e->gop_anchor_us + e->frame_duration_us / 2) / e->keyint_us;
        if (force_idr || !e->frames_in || frame->pts < e->gop_anchor_us) {
            e->gop_anchor_us = frame->pts;
            e->gop_index = 0;
            force_idr = 1;
        } else if (index != e->gop_index) {
            e->gop_index = index;
            force_idr = 1;
        }
        /* a repeat at QP 51: its residual quantises to nothing, so x264
         * finds every macroblock skipped at once (at the rate control's
         * QP it would refine the picture, at half a frame's cost) */
        int size = lb_x264_encode_frame(e->x264, &e->pic_in, frame, force_idr,
                                        (flags & LB_ENCODE_REPEAT) && !force_idr ? 51 + 1 : X264_QP_AUTO,
                                        &nals, &nb_nals, &out);
        if (size < 0)
            return size;
        e->frames_in++;
        return emit(e, nals, nb_nals, size, &out, sink, opaque);
    }
    while (x264_encoder_delayed_frames(e->x264) > 0) {
        int size = x264_encoder_encode(e->x264, &nals, &nb_nals, NULL, &out);
        if (size < 0)
            return AVERROR_EXTERNAL;
        if ((ret = emit(e, nals, nb_nals, size, &out, sink, opaque)) < 0)
            return ret;
    }
    return 0;
}

const AVCodecParameters *lb_video_encoder_codecpar(const lb_video_encoder *e)
{
    return e->par;
}

void lb_video_encoder_close(lb_video_encoder **pe)
{
    lb_video_encoder *e = pe ? *pe : NULL;
    if (!e)
        return;
    if (e->x264)
        x264_encoder_close(e->x264);
    avcodec_parameters_free(&e->par);
    av_freep(pe);
}
