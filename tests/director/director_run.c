/* Runs the director offline on a hall described by a luobo.ini whose
 * sources and mics are files (type = url): decodes them with libavformat
 * and libavcodec, keeps for every program tick the newest frame of each
 * camera (as the frame synchroniser does) and each mic's RMS level over the
 * tick, calls lb_director_update and lb_compositor_compose, and writes the
 * decisions as director.jsonl and the chapters as JSON lines.
 *
 *   director_run --config luobo.ini --duration S --out director.jsonl
 *                [--chapters chapters.jsonl] [--drop NAME:FROM-TO]...
 *                [--program program.y4m] [--trace]
 *
 * --drop hands NULL for a camera from FROM to TO seconds (a camera lost).
 * --trace prints the analysis at every tick (tests may read the private
 * header; the daemon never does). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>

#include "director_internal.h"
#include "lb_config.h"

typedef struct input {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    int stream;
    AVPacket *pkt;
    AVFrame *cur, *next;     /* next: decoded, not due yet */
    int eof;
    double drop_from, drop_to;
    /* audio */
    float *samples;
    int64_t nb_samples, cap_samples;
} input;

static int open_input(input *in, const char *url, enum AVMediaType type)
{
    int ret;
    if ((ret = avformat_open_input(&in->fmt, url, NULL, NULL)) < 0 ||
        (ret = avformat_find_stream_info(in->fmt, NULL)) < 0)
        return ret;
    const AVCodec *codec = NULL;
    if ((ret = in->stream = av_find_best_stream(in->fmt, type, -1, -1, &codec, 0)) < 0)
        return ret;
    if (!(in->dec = avcodec_alloc_context3(codec)))
        return AVERROR(ENOMEM);
    if ((ret = avcodec_parameters_to_context(in->dec, in->fmt->streams[in->stream]->codecpar)) < 0)
        return ret;
    in->dec->thread_count = 1;  /* deterministic and fair to the 2-core box */
    if ((ret = avcodec_open2(in->dec, codec, NULL)) < 0)
        return ret;
    if (!(in->pkt = av_packet_alloc()) || !(in->cur = av_frame_alloc()) || !(in->next = av_frame_alloc()))
        return AVERROR(ENOMEM);
    in->drop_from = in->drop_to = -1;
    return 0;
}

static void close_input(input *in)
{
    avcodec_free_context(&in->dec);
    avformat_close_input(&in->fmt);
    av_packet_free(&in->pkt);
    av_frame_free(&in->cur);
    av_frame_free(&in->next);
    free(in->samples);
}

/* Decodes the next frame into f. Returns 0, AVERROR_EOF or an error. */
static int decode_one(input *in, AVFrame *f)
{
    for (;;) {
        int ret = avcodec_receive_frame(in->dec, f);
        if (ret != AVERROR(EAGAIN))
            return ret;
        if ((ret = av_read_frame(in->fmt, in->pkt)) == AVERROR_EOF) {
            avcodec_send_packet(in->dec, NULL);
            continue;
        }
        if (ret < 0)
            return ret;
        if (in->pkt->stream_index == in->stream)
            ret = avcodec_send_packet(in->dec, in->pkt);
        av_packet_unref(in->pkt);
        if (ret < 0 && ret != AVERROR(EAGAIN))
            return ret;
    }
}

static int64_t frame_us(const input *in, const AVFrame *f)
{
    int64_t pts = f->best_effort_timestamp;
    return av_rescale_q(pts == AV_NOPTS_VALUE ? 0 : pts, in->fmt->streams[in->stream]->time_base,
                        AV_TIME_BASE_Q);
}

/* Advances to the newest frame with pts <= t_us. */
static int video_at(input *in, int64_t t_us)
{
    for (;;) {
        if (!in->next->buf[0] && !in->eof) {
            int ret = decode_one(in, in->next);
            if (ret == AVERROR_EOF) {
                in->eof = 1;
                return 0;
            }
            if (ret < 0)
                return ret;
            in->next->pts = frame_us(in, in->next);
        }
        if (in->eof || in->next->pts > t_us)
            return 0;
        av_frame_unref(in->cur);
        av_frame_move_ref(in->cur, in->next);
    }
}

static int audio_until(input *in, int64_t nb)
{
    AVFrame *f = in->next;
    while (in->nb_samples < nb && !in->eof) {
        int ret = decode_one(in, f);
        if (ret == AVERROR_EOF) {
            in->eof = 1;
            break;
        }
        if (ret < 0)
            return ret;
        if (in->nb_samples + f->nb_samples > in->cap_samples) {
            int64_t cap = (in->cap_samples + f->nb_samples) * 2;
            float *grown = realloc(in->samples, sizeof(float) * (size_t)cap);
            if (!grown)
                return AVERROR(ENOMEM);
            in->samples = grown;
            in->cap_samples = cap;
        }
        for (int i = 0; i < f->nb_samples; i++) {
            float v;
            if (f->format == AV_SAMPLE_FMT_S16)
                v = ((const int16_t *)f->data[0])[i * f->ch_layout.nb_channels] / 32768.0f;
            else if (f->format == AV_SAMPLE_FMT_FLT)
                v = ((const float *)f->data[0])[i * f->ch_layout.nb_channels];
            else if (f->format == AV_SAMPLE_FMT_FLTP)
                v = ((const float *)f->data[0])[i];
            else
                return AVERROR(ENOSYS);
            in->samples[in->nb_samples++] = v;
        }
        av_frame_unref(f);
    }
    return 0;
}

static double rms_dbfs(const input *in, int64_t from, int64_t to)
{
    double acc = 0;
    int64_t n = 0;
    for (int64_t i = from; i < to && i < in->nb_samples; i++, n++)
        acc += (double)in->samples[i] * in->samples[i];
    if (!n || acc <= 0)
        return -120;
    double db = 10 * log10(acc / (double)n);
    return db < -120 ? -120 : db;
}

static void write_y4m(FILE *f, const AVFrame *p, int first, int fps)
{
    if (first)
        fprintf(f, "YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n", p->width, p->height, fps);
    fputs("FRAME\n", f);
    for (int pl = 0; pl < 3; pl++) {
        int w = pl ? p->width / 2 : p->width, h = pl ? p->height / 2 : p->height;
        for (int y = 0; y < h; y++)
            fwrite(p->data[pl] + y * p->linesize[pl], 1, (size_t)w, f);
    }
}

static void trace(const lb_director *d, int64_t t)
{
    printf("%7.2f", t / 1e6);
    for (int i = 0; i < d->setup.nb_sources; i++) {
        const lb_source_analysis *a = &d->src[i];
        printf(" | %s%s m%.3f p%.3f", d->setup.source_names[i], a->live ? "" : "(lost)",
               a->motion, a->presence);
        if (d->setup.source_roles[i] == LB_ROLE_BOARD)
            printf(" marks%.4f", lb_board_marks(a));
        if (d->setup.source_roles[i] == LB_ROLE_SCREEN)
            printf("%s%s", a->video ? " video" : "", a->slide_pending ? " pending" : "");
        if (i == d->vcam_source)
            printf(" c%.2f,%.2f s%.2f vcam %.2f,%.2f w%.2f", a->cx, a->cy, a->spread, d->vc.x, d->vc.y, d->vc.w);
    }
    for (int z = 0; z < d->nb_zones; z++)
        printf(" | zone %s m%.3f p%.3f", d->zones[z].name, d->zones[z].motion, d->zones[z].presence);
    for (int m = 0; m < d->setup.nb_mics; m++)
        printf(" | mic %s %.0f floor %.0f%s", d->setup.mic_names[m], d->mic[m].level_dbfs,
               d->mic[m].floor_dbfs, d->mic[m].speaking ? " SPEAKING" : "");
    printf(" => %s\n", d->cur.reason);
}

int main(int argc, char **argv)
{
    const char *config = NULL, *out_path = NULL, *chapters_path = NULL, *program_path = NULL;
    const char *drops[LB_MAX_SOURCES];
    int nb_drops = 0, do_trace = 0;
    double duration = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) config = argv[++i];
        else if (!strcmp(argv[i], "--duration") && i + 1 < argc) duration = atof(argv[++i]);
        else if (!strcmp(argv[i], "--out") && i + 1 < argc) out_path = argv[++i];
        else if (!strcmp(argv[i], "--chapters") && i + 1 < argc) chapters_path = argv[++i];
        else if (!strcmp(argv[i], "--program") && i + 1 < argc) program_path = argv[++i];
        else if (!strcmp(argv[i], "--drop") && i + 1 < argc && nb_drops < LB_MAX_SOURCES) drops[nb_drops++] = argv[++i];
        else if (!strcmp(argv[i], "--trace")) do_trace = 1;
        else {
            fprintf(stderr, "usage: %s --config FILE --duration S --out FILE [--chapters FILE] "
                            "[--drop NAME:FROM-TO]... [--program FILE.y4m] [--trace]\n", argv[0]);
            return 2;
        }
    }
    if (!config || !out_path || duration <= 0) {
        fprintf(stderr, "%s: --config, --duration and --out are required\n", argv[0]);
        return 2;
    }

    int ret = 1;
    char err[LB_CONFIG_ERR_SIZE];
    lb_config *cfg = NULL;
    lb_director *d = NULL;
    lb_compositor *comp = NULL;
    AVFrame *program = NULL;
    FILE *out = NULL, *chapters = NULL, *y4m = NULL;
    input video[LB_MAX_SOURCES] = { 0 }, audio[LB_MAX_MICS] = { 0 };
    lb_director_setup setup = { .width = 640, .height = 360, .fps_num = 15, .fps_den = 1 };
    char names[LB_MAX_SOURCES + LB_MAX_MICS][64];

    if (lb_config_load_file(&cfg, config, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    const lb_config_section *general = lb_config_find(cfg, "general");
    if (general) {
        const char *v;
        if ((v = lb_config_get(general, "fps"))) setup.fps_num = atoi(v);
        if ((v = lb_config_get(general, "width"))) setup.width = atoi(v);
        if ((v = lb_config_get(general, "height"))) setup.height = atoi(v);
    }
    for (int s = 0; s < lb_config_nb_sections(cfg); s++) {
        const lb_config_section *sec = lb_config_section_at(cfg, s);
        const char *kind = lb_config_section_kind(sec);
        int is_mic = !strcmp(kind, "mic");
        if (strcmp(kind, "source") && !is_mic)
            continue;
        const char *role = lb_config_get(sec, "role"), *url = lb_config_get(sec, "url");
        lb_role r = LB_ROLE_INVALID;
        for (int k = 1; k < LB_ROLE_COUNT; k++)
            if (role && !strcmp(role, lb_role_name((lb_role)k)))
                r = (lb_role)k;
        if (!url || !r) {
            fprintf(stderr, "%s: [%s] needs a role and a url\n", config, lb_config_section_name(sec));
            goto end;
        }
        int idx = is_mic ? setup.nb_mics : setup.nb_sources;
        if (idx >= (is_mic ? LB_MAX_MICS : LB_MAX_SOURCES))
            goto end;
        char *name = names[is_mic ? LB_MAX_SOURCES + idx : idx];
        snprintf(name, 64, "%s", lb_config_section_instance(sec));
        input *in = is_mic ? &audio[idx] : &video[idx];
        if ((ret = open_input(in, url, is_mic ? AVMEDIA_TYPE_AUDIO : AVMEDIA_TYPE_VIDEO)) < 0) {
            fprintf(stderr, "%s: %s: %s\n", config, url, av_err2str(ret));
            ret = 1;
            goto end;
        }
        if (is_mic) {
            setup.mic_names[idx] = name;
            setup.mic_roles[idx] = r;
            setup.nb_mics++;
        } else {
            setup.source_names[idx] = name;
            setup.source_roles[idx] = r;
            setup.nb_sources++;
        }
    }
    for (int k = 0; k < nb_drops; k++) {
        char name[64];
        double a, b;
        if (sscanf(drops[k], "%63[^:]:%lf-%lf", name, &a, &b) != 3) {
            fprintf(stderr, "--drop %s: expected NAME:FROM-TO\n", drops[k]);
            goto end;
        }
        for (int i = 0; i < setup.nb_sources; i++)
            if (!strcmp(setup.source_names[i], name)) {
                video[i].drop_from = a;
                video[i].drop_to = b;
            }
    }
    const lb_config_section *dsec = lb_config_find(cfg, "director");
    if (lb_director_create(&d, dsec, &setup, err, sizeof err) < 0 ||
        lb_compositor_create(&comp, &setup, dsec, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        ret = 2;
        goto end;
    }
    if (!(program = av_frame_alloc()))
        goto end;
    program->format = AV_PIX_FMT_YUV420P;
    program->width = setup.width;
    program->height = setup.height;
    if (av_frame_get_buffer(program, 0) < 0)
        goto end;
    if (!(out = fopen(out_path, "w")) || (chapters_path && !(chapters = fopen(chapters_path, "w"))) ||
        (program_path && !(y4m = fopen(program_path, "wb")))) {
        perror("director_run");
        goto end;
    }

    int64_t nb_ticks = (int64_t)(duration * setup.fps_num / setup.fps_den);
    for (int64_t n = 0; n < nb_ticks; n++) {
        int64_t t_us = av_rescale(n, (int64_t)1000000 * setup.fps_den, setup.fps_num);
        int64_t t_next = av_rescale(n + 1, (int64_t)1000000 * setup.fps_den, setup.fps_num);
        AVFrame *frames[LB_MAX_SOURCES] = { NULL };
        double levels[LB_MAX_MICS];
        for (int i = 0; i < setup.nb_sources; i++) {
            if ((ret = video_at(&video[i], t_us)) < 0) {
                fprintf(stderr, "%s: %s\n", setup.source_names[i], av_err2str(ret));
                ret = 1;
                goto end;
            }
            double t = t_us / 1e6;
            int dropped = t >= video[i].drop_from && t < video[i].drop_to;
            frames[i] = video[i].cur->buf[0] && !dropped ? video[i].cur : NULL;
        }
        /* the level of the last frame period, as the daemon measures it */
        int64_t s0 = t_us * LB_AUDIO_RATE / 1000000, s1 = t_next * LB_AUDIO_RATE / 1000000;
        for (int m = 0; m < setup.nb_mics; m++) {
            if ((ret = audio_until(&audio[m], s1)) < 0) {
                fprintf(stderr, "%s: %s\n", setup.mic_names[m], av_err2str(ret));
                ret = 1;
                goto end;
            }
            levels[m] = rms_dbfs(&audio[m], s0, s1);
        }
        lb_shot shot;
        int changed = lb_director_update(d, t_us, frames, levels, &shot);
        if (changed < 0) {
            fprintf(stderr, "director: %s\n", av_err2str(changed));
            ret = 1;
            goto end;
        }
        if (changed) {
            char line[LB_SHOT_JSON_MAX];
            lb_shot_to_json(&shot, t_us, &setup, line, sizeof line);
            fprintf(out, "%s\n", line);
        }
        char title[128];
        while (lb_director_next_chapter(d, title, sizeof title))
            if (chapters)
                fprintf(chapters, "{\"t\": %lld.%03lld, \"title\": \"%s\"}\n",
                        (long long)(t_us / 1000000), (long long)(t_us / 1000 % 1000), title);
        if (do_trace && n % 3 == 0)
            trace(d, t_us);
        if ((ret = lb_compositor_compose(comp, &shot, frames, program)) < 0) {
            fprintf(stderr, "compositor: %s\n", av_err2str(ret));
            ret = 1;
            goto end;
        }
        if (y4m)
            write_y4m(y4m, program, n == 0, setup.fps_num / setup.fps_den);
    }
    ret = 0;
end:
    if (out && fclose(out) && !ret)
        ret = 1;
    if (chapters)
        fclose(chapters);
    if (y4m)
        fclose(y4m);
    for (int i = 0; i < LB_MAX_SOURCES; i++)
        close_input(&video[i]);
    for (int m = 0; m < LB_MAX_MICS; m++)
        close_input(&audio[m]);
    av_frame_free(&program);
    lb_compositor_free(&comp);
    lb_director_free(&d);
    lb_config_free(&cfg);
    return ret;
}
