/* capture_tool: drives one source or mic through capture's public API, as
 * the program thread does, and prints what it saw as JSON lines.
 *
 *   capture_tool source CONFIG SECTION SECONDS [options]
 *     ticks at 30 fps (program time), calls lb_source_frame_at each tick;
 *     --packets FILE   also collects passthrough packets: one line each,
 *                      "size key pts_us dts_us"
 *     --offline        offline capture params
 *     --delay-ms N     realtime: tick N ms behind capture (default 100)
 *     --wait-codecpar  first waits for lb_source_wait_codecpar (up to 5 s)
 *     --on-air LIST    decoding on demand: "a-b,c-d" seconds of program time
 *                      when the source is on the air (lb_source_set_on_air
 *                      every tick; off the air otherwise); each tick then
 *                      prints "partial" and "adler" (Adler-32 of the luma)
 *     prints {"ev":"state",...} on every state change (mono_us = lb_clock),
 *     {"ev":"tick",...} every tick, and {"ev":"end",...} with the stats.
 *
 *   capture_tool mic CONFIG SECTION SECONDS [options]
 *     reads consecutive 10 ms windows with lb_mic_read;
 *     --raw FILE       writes the samples (float32 mono 48 kHz)
 *     --offline        offline (as fast as the mic goes)
 *     --onsets         prints the sample index of every onset (a sound
 *                      after at least 100 ms of silence)
 *
 *   capture_tool slate TITLE LINE WIDTH HEIGHT OUT
 *     draws the "no signal" card (lb_slate_draw_text) and writes its luma
 *     plane, WIDTH x HEIGHT bytes, to OUT.
 *
 * Exit status 0 unless the API failed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <libavcodec/avcodec.h>
#include <libavutil/adler32.h>
#include <libavutil/dict.h>

#include "capture.h"
#include "lb_clock.h"
#include "lb_log.h"

/* "a-b,c-d" seconds: is t (us) inside one of the ranges? */
static int in_ranges(const char *list, int64_t t_us)
{
    for (const char *p = list; p && *p;) {
        double a, b;
        if (sscanf(p, "%lf-%lf", &a, &b) == 2 && t_us >= a * 1e6 && t_us < b * 1e6)
            return 1;
        p = strchr(p, ',');
        p = p ? p + 1 : NULL;
    }
    return 0;
}

static unsigned long luma_adler(const AVFrame *f)
{
    unsigned long a = 1;
    for (int y = 0; y < f->height; y++)
        a = av_adler32_update(a, f->data[0] + (ptrdiff_t)y * f->linesize[0], (size_t)f->width);
    return a;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = 0;
    fclose(f);
    return buf;
}

static int has_arg(int argc, char **argv, const char *name)
{
    for (int i = 5; i < argc; i++)
        if (!strcmp(argv[i], name))
            return 1;
    return 0;
}

static const char *arg_value(int argc, char **argv, const char *name)
{
    for (int i = 5; i + 1 < argc; i++)
        if (!strcmp(argv[i], name))
            return argv[i + 1];
    return NULL;
}

/* Mean luma of a 16x16 corner block and of the whole picture. */
static void luma_stats(const AVFrame *f, double *corner, double *mean)
{
    double c = 0, m = 0;
    for (int y = 0; y < 16 && y < f->height; y++)
        for (int x = 0; x < 16 && x < f->width; x++)
            c += f->data[0][y * f->linesize[0] + x];
    int step = 8;
    long n = 0;
    for (int y = 0; y < f->height; y += step)
        for (int x = 0; x < f->width; x += step, n++)
            m += f->data[0][y * f->linesize[0] + x];
    *corner = c / 256;
    *mean = n ? m / (double)n : 0;
}

/* CPU time of the whole process (capture and decoder threads), us. */
static int64_t process_cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

static int run_source(const lb_config_section *sec, double seconds, int argc, char **argv)
{
    char err[LB_CONFIG_ERR_SIZE];
    lb_capture_params params = { .offline = has_arg(argc, argv, "--offline"),
                                 .epoch_us = lb_clock_now(), .fps_num = 30, .fps_den = 1 };
    lb_source *s = NULL;
    lb_queue *q = NULL;
    FILE *pf = NULL;
    int ret = lb_source_create(&s, sec, &params, err, sizeof err);
    if (ret < 0) {
        printf("{\"ev\":\"create_error\",\"error\":\"%s\"}\n", err);
        return 0;
    }
    const char *packets = arg_value(argc, argv, "--packets");
    if (packets) {
        lb_queue_params qp = { .name = "packets", .capacity = 100000, .policy = LB_QUEUE_BLOCK,
                               .free_item = NULL };
        q = lb_queue_alloc(&qp);
        pf = fopen(packets, "w");
        if (!q || !pf) {
            ret = 1;
            goto done;
        }
        lb_source_set_packet_queue(s, q);
    }
    if ((ret = lb_source_start(s)) < 0)
        goto done;
    int64_t k0 = 0;
    if (has_arg(argc, argv, "--wait-codecpar")) {
        const AVCodecParameters *wp = lb_source_wait_codecpar(s, 5000000);
        printf("{\"ev\":\"codecpar\",\"codec\":\"%s\"}\n", wp ? avcodec_get_name(wp->codec_id) : "");
        /* the ticks start now (the source keeps its epoch) */
        k0 = (lb_clock_now() - params.epoch_us) * 30 / 1000000;
    }
    AVFrame *f = av_frame_alloc();
    lb_source_state last = LB_SOURCE_INVALID;
    int64_t ticks = (int64_t)(seconds * 30);
    int64_t last_pts = -1;
    uint64_t distinct = 0, slates = 0;
    int64_t cpu0 = -1, thread0 = -1, wall0 = 0;
    /* like the daemon's program thread, run behind capture so that a live
     * frame stamped at t has been decoded when the tick for t comes */
    const char *dv = arg_value(argc, argv, "--delay-ms");
    int64_t delay_us = (dv ? atoi(dv) : 100) * 1000LL;
    const char *on_air = arg_value(argc, argv, "--on-air");
    for (int64_t k = k0; k < k0 + ticks; k++) {
        int64_t t = k * 1000000 / 30;
        if (!params.offline)
            lb_clock_sleep_until(params.epoch_us + t + delay_us);
        lb_source_stats st;
        lb_source_get_stats(s, &st);
        if (st.state == LB_SOURCE_LIVE && cpu0 < 0) {
            cpu0 = process_cpu_us();
            thread0 = st.cpu_us;
            wall0 = lb_clock_now();
        }
        if (st.state != last) {
            printf("{\"ev\":\"state\",\"state\":\"%s\",\"t_us\":%lld,\"mono_us\":%lld,\"error\":\"%s\"}\n",
                   lb_source_state_name(st.state), (long long)t, (long long)lb_clock_now(),
                   st.last_error);
            last = st.state;
        }
        av_frame_unref(f);
        if (on_air)
            lb_source_set_on_air(s, in_ranges(on_air, t), 0, t);
        ret = lb_source_frame_at(s, t, f);
        int slate = 0;
        double corner = -1, mean = -1;
        if (ret >= 0 || ret == AVERROR_EOF) {
            slate = av_dict_get(f->metadata, LB_SLATE_METADATA, NULL, 0) != NULL;
            if (f->data[0])
                luma_stats(f, &corner, &mean);
            if (!slate && f->pts != last_pts) {
                distinct++;
                last_pts = f->pts;
            }
            slates += slate;
        }
        int64_t lag = lb_source_arrival_lag_us(s);
        char lag_text[24] = "null";
        if (lag != INT64_MIN)
            snprintf(lag_text, sizeof lag_text, "%lld", (long long)lag);
        printf("{\"ev\":\"tick\",\"t_us\":%lld,\"ret\":%d,\"slate\":%d,\"pts\":%lld,\"w\":%d,\"h\":%d,"
               "\"corner\":%.1f,\"mean\":%.1f,\"state\":\"%s\",\"lag_us\":%s}\n",
               (long long)t, ret, slate, ret >= 0 ? (long long)f->pts : -1LL, f->width, f->height,
               corner, mean, lb_source_state_name(st.state), lag_text);
        if (on_air && (ret >= 0 || ret == AVERROR_EOF) && f->data[0])
            printf("{\"ev\":\"air\",\"t_us\":%lld,\"pts\":%lld,\"on_air\":%d,\"partial\":%d,"
                   "\"adler\":\"%08lx\"}\n", (long long)t, (long long)f->pts, in_ranges(on_air, t),
                   av_dict_get(f->metadata, LB_PARTIAL_METADATA, NULL, 0) != NULL, luma_adler(f));
        if (ret == AVERROR_EOF)
            break;
        if (q) {
            void *item;
            while (lb_queue_pop(q, &item, 0) >= 0) {
                AVPacket *p = item;
                fprintf(pf, "%d %d %lld %lld\n", p->size, !!(p->flags & AV_PKT_FLAG_KEY),
                        (long long)p->pts, (long long)p->dts);
                av_packet_free(&p);
            }
        }
        fflush(stdout);
    }
    av_frame_free(&f);
    lb_source_stats st;
    lb_source_get_stats(s, &st);
    if (cpu0 >= 0)
        printf("{\"ev\":\"cpu\",\"wall_us\":%lld,\"process_cpu_us\":%lld,\"thread_cpu_us\":%lld}\n",
               (long long)(lb_clock_now() - wall0), (long long)(process_cpu_us() - cpu0),
               (long long)(st.cpu_us - thread0));
    lb_source_stop(s);
    lb_source_get_stats(s, &st);
    const AVCodecParameters *par = lb_source_codecpar(s);
    printf("{\"ev\":\"end\",\"state\":\"%s\",\"frames\":%llu,\"dropped\":%llu,\"reconnects\":%llu,"
           "\"distinct\":%llu,\"slates\":%llu,\"packets\":%llu,\"packets_dropped\":%llu,"
           "\"codec\":\"%s\",\"par_w\":%d,\"par_h\":%d,\"extradata\":%d,\"kind\":\"%s\",\"error\":\"%s\"}\n",
           lb_source_state_name(st.state), (unsigned long long)st.frames,
           (unsigned long long)st.dropped, (unsigned long long)st.reconnects,
           (unsigned long long)distinct, (unsigned long long)slates,
           (unsigned long long)st.packets, (unsigned long long)st.packets_dropped,
           par ? avcodec_get_name(par->codec_id) : "", par ? par->width : 0, par ? par->height : 0,
           par ? par->extradata_size : 0, st.kind, st.last_error);
    ret = 0;
done:
    lb_source_free(&s);
    if (q) {
        void *item;
        while (lb_queue_pop(q, &item, 0) >= 0) {
            AVPacket *p = item;
            av_packet_free(&p);
        }
    }
    lb_queue_free(&q);
    if (pf)
        fclose(pf);
    return ret;
}

static int run_mic(const lb_config_section *sec, double seconds, int argc, char **argv)
{
    char err[LB_CONFIG_ERR_SIZE];
    lb_capture_params params = { .offline = has_arg(argc, argv, "--offline"),
                                 .epoch_us = lb_clock_now(), .fps_num = 30, .fps_den = 1 };
    lb_mic *m = NULL;
    FILE *raw = NULL;
    int onsets = has_arg(argc, argv, "--onsets");
    int ret = lb_mic_create(&m, sec, &params, err, sizeof err);
    if (ret < 0) {
        printf("{\"ev\":\"create_error\",\"error\":\"%s\"}\n", err);
        return 0;
    }
    const char *rawpath = arg_value(argc, argv, "--raw");
    if (rawpath && !(raw = fopen(rawpath, "wb"))) {
        ret = 1;
        goto done;
    }
    if ((ret = lb_mic_start(m)) < 0)
        goto done;
    enum { WIN = 480 };
    float buf[WIN];
    int64_t total = (int64_t)(seconds * LB_AUDIO_RATE);
    int64_t quiet = 0;
    int64_t cpu0 = -1, thread0 = -1, wall0 = 0;
    lb_source_state last = LB_SOURCE_INVALID;
    /* read what is --delay-ms old (default 200): the device had time to
     * deliver it */
    const char *dv = arg_value(argc, argv, "--delay-ms");
    int64_t delay_us = (dv ? atoi(dv) : 200) * 1000LL;
    for (int64_t first = 0; first < total; first += WIN) {
        if (!params.offline)
            lb_clock_sleep_until(params.epoch_us + (first + WIN) * 1000000 / LB_AUDIO_RATE + delay_us);
        lb_mic_stats st;
        lb_mic_get_stats(m, &st);
        if (st.state == LB_SOURCE_LIVE && cpu0 < 0) {
            cpu0 = process_cpu_us();
            thread0 = st.cpu_us;
            wall0 = lb_clock_now();
        }
        if (st.state != last) {
            printf("{\"ev\":\"state\",\"state\":\"%s\",\"index\":%lld,\"mono_us\":%lld,\"error\":\"%s\"}\n",
                   lb_source_state_name(st.state), (long long)first, (long long)lb_clock_now(),
                   st.last_error);
            last = st.state;
        }
        ret = lb_mic_read(m, first, buf, WIN);
        if (raw)
            fwrite(buf, sizeof(float), WIN, raw);
        for (int i = 0; onsets && i < WIN; i++) {
            if (fabsf(buf[i]) < 0.001f) {
                quiet++;
            } else {
                if (fabsf(buf[i]) > 0.005f && quiet >= LB_AUDIO_RATE / 10)
                    printf("{\"ev\":\"onset\",\"index\":%lld}\n", (long long)(first + i));
                if (fabsf(buf[i]) > 0.005f)
                    quiet = 0;
            }
        }
        if (ret == AVERROR_EOF)
            break;
    }
    lb_mic_stats st;
    lb_mic_get_stats(m, &st);
    if (cpu0 >= 0)
        printf("{\"ev\":\"cpu\",\"wall_us\":%lld,\"process_cpu_us\":%lld,\"thread_cpu_us\":%lld}\n",
               (long long)(lb_clock_now() - wall0), (long long)(process_cpu_us() - cpu0),
               (long long)(st.cpu_us - thread0));
    lb_mic_stop(m);
    lb_mic_get_stats(m, &st);
    printf("{\"ev\":\"end\",\"state\":\"%s\",\"samples\":%llu,\"xruns\":%llu,\"reconnects\":%llu,"
           "\"drift_ppm\":%.1f,\"kind\":\"%s\",\"error\":\"%s\"}\n",
           lb_source_state_name(st.state), (unsigned long long)st.samples,
           (unsigned long long)st.xruns, (unsigned long long)st.reconnects, st.drift_ppm, st.kind,
           st.last_error);
    ret = 0;
done:
    lb_mic_free(&m);
    if (raw)
        fclose(raw);
    return ret;
}

static int run_slate(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: capture_tool slate TITLE LINE WIDTH HEIGHT OUT\n");
        return 2;
    }
    AVFrame *f = NULL;
    int w = atoi(argv[4]), h = atoi(argv[5]);
    int ret = lb_slate_draw_text(argv[2], argv[3], w, h, &f);
    if (ret < 0) {
        fprintf(stderr, "capture_tool: slate: %s\n", av_err2str(ret));
        return 1;
    }
    FILE *out = fopen(argv[6], "wb");
    for (int y = 0; out && y < h; y++)
        fwrite(f->data[0] + (ptrdiff_t)y * f->linesize[0], 1, (size_t)w, out);
    ret = !out || !av_dict_get(f->metadata, LB_SLATE_METADATA, NULL, 0) || fclose(out);
    av_frame_free(&f);
    return ret;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "slate"))
        return run_slate(argc, argv);
    if (argc < 5) {
        fprintf(stderr, "usage: capture_tool source|mic CONFIG SECTION SECONDS [options]\n");
        return 2;
    }
    lb_log_route_av();
    if (getenv("CAPTURE_TOOL_DEBUG"))
        lb_log_set_level(LB_LOG_DEBUG);
    char err[LB_CONFIG_ERR_SIZE];
    char *text = slurp(argv[2]);
    lb_config *cfg = NULL;
    if (!text || lb_config_load_string(&cfg, argv[2], text, err, sizeof err) < 0) {
        fprintf(stderr, "capture_tool: %s\n", text ? err : "cannot read config");
        free(text);
        return 2;
    }
    free(text);
    const lb_config_section *sec = lb_config_find(cfg, argv[3]);
    if (!sec) {
        fprintf(stderr, "capture_tool: no section %s\n", argv[3]);
        lb_config_free(&cfg);
        return 2;
    }
    double seconds = atof(argv[4]);
    int ret = !strcmp(argv[1], "mic") ? run_mic(sec, seconds, argc, argv)
                                      : run_source(sec, seconds, argc, argv);
    lb_config_free(&cfg);
    return ret ? 1 : 0;
}
