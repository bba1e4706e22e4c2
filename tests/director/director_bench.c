/* The director's cost: lb_director_update (analysis, rules, virtual camera)
 * and lb_compositor_compose for N program frames of four sources (teacher,
 * students, board, screen) at 1080p30 by default, in thread CPU time.
 *
 *   director_bench [--frames N] [--width W] [--height H] [--dissolve-ms MS]
 *
 * The sources change every frame (a moving figure, strokes appearing, a
 * slide change every 5 s) so that the analysis does its real work; drawing
 * them is not timed.  The shot cycles through single, pip and sbs (with the
 * virtual camera's crop) so that every layout is measured. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavutil/frame.h>

#include "director.h"

static int64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void box(AVFrame *f, int x, int y, int w, int h, int v)
{
    if (x < 0) { w += x; x = 0; }
    if (x + w > f->width) w = f->width - x;
    for (int r = y; r < y + h && r < f->height; r++)
        if (w > 0)
            memset(f->data[0] + r * f->linesize[0] + x, v, (size_t)w);
}

static AVFrame *make(int w, int h, int luma)
{
    AVFrame *f = av_frame_alloc();
    if (!f)
        return NULL;
    f->format = AV_PIX_FMT_YUV420P;
    f->width = w;
    f->height = h;
    if (av_frame_get_buffer(f, 0) < 0) {
        av_frame_free(&f);
        return NULL;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            f->data[0][y * f->linesize[0] + x] = (uint8_t)(luma + ((x ^ y) & 7));
    for (int p = 1; p < 3; p++)
        for (int y = 0; y < h / 2; y++)
            memset(f->data[p] + y * f->linesize[p], 128, (size_t)(w / 2));
    return f;
}

int main(int argc, char **argv)
{
    int frames_n = 300, w = 1920, h = 1080, dissolve = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--frames")) frames_n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--width")) w = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--height")) h = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dissolve-ms")) dissolve = atoi(argv[i + 1]);
    }
    char ini[256], err[512];
    snprintf(ini, sizeof ini, "[director]\nvcam = teacher\ndissolve_ms = %d\n", dissolve);
    lb_config *cfg = NULL;
    lb_director *d = NULL;
    lb_compositor *c = NULL;
    AVFrame *src[4] = { NULL }, *program = NULL;
    int ret = 1;
    lb_director_setup setup = {
        .nb_sources = 4,
        .source_names = { "teacher", "students", "board", "screen" },
        .source_roles = { LB_ROLE_TEACHER, LB_ROLE_STUDENTS, LB_ROLE_BOARD, LB_ROLE_SCREEN },
        .nb_mics = 2,
        .mic_names = { "teacher", "students" },
        .mic_roles = { LB_ROLE_TEACHER, LB_ROLE_STUDENTS },
        .width = w, .height = h, .fps_num = 30, .fps_den = 1,
    };
    if (lb_config_load_string(&cfg, "bench.ini", ini, err, sizeof err) < 0 ||
        lb_director_create(&d, lb_config_find(cfg, "director"), &setup, err, sizeof err) < 0 ||
        lb_compositor_create(&c, &setup, lb_config_find(cfg, "director"), err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        goto end;
    }
    for (int i = 0; i < 4; i++)
        if (!(src[i] = make(w, h, 40 + 40 * i)))
            goto end;
    if (!(program = make(w, h, 16)))
        goto end;

    static const lb_layout layouts[] = { LB_LAYOUT_SINGLE, LB_LAYOUT_PIP, LB_LAYOUT_SBS };
    int64_t t_update = 0, t_compose[3] = { 0 };
    int n_compose[3] = { 0 };
    for (int n = 0; n < frames_n; n++) {
        int64_t t_us = (int64_t)n * 1000000 / 30;
        /* untimed: the scene moves */
        int fx = w / 2 + (int)(w / 3.0 * ((n % 120) - 60) / 60.0);
        box(src[0], fx - w / 20, h / 3, w / 10, h / 2, 200);
        if (n % 30 == 0)
            box(src[2], w / 10 + (n / 30 % 5) * w / 8, h / 10 + (n / 30) % 9 * h / 10, w / 10, 4, 230);
        if (n % 150 == 0)
            box(src[3], 0, h / 3, w, h / 3, 60 + n / 150 * 50 % 150);
        for (int i = 0; i < 4; i++)
            src[i]->pts = t_us;
        double levels[2] = { (n / 60) % 2 ? -18 : -60, -60 };

        lb_shot shot;
        int64_t t0 = cpu_us();
        if (lb_director_update(d, t_us, src, levels, &shot) < 0)
            goto end;
        int64_t t1 = cpu_us();
        /* measure every layout: force it, with the teacher's crop */
        int l = n / 10 % 3;
        shot.layout = layouts[l];
        shot.nb_sources = l ? 2 : 1;
        shot.sources[0] = l ? 3 : 0;
        shot.sources[1] = 0;
        shot.crop[0] = l ? (lb_rectf){ 0 } : (lb_rectf){ 0.25, 0.25, 0.5, 0.5 };
        shot.crop[1] = (lb_rectf){ 0.25, 0.25, 0.5, 0.5 };
        if (lb_compositor_compose(c, &shot, src, program) < 0)
            goto end;
        int64_t t2 = cpu_us();
        box(src[0], fx - w / 20, h / 3, w / 10, h / 2, 40);   /* untimed: erase the figure */
        t_update += t1 - t0;
        t_compose[l] += t2 - t1;
        n_compose[l]++;
    }
    double upd = (double)t_update / frames_n;
    double comp_all = (double)(t_compose[0] + t_compose[1] + t_compose[2]) / frames_n;
    printf("director_bench: %d frames, 4 sources %dx%d, program %dx%d at 30 fps, dissolve %d ms\n",
           frames_n, w, h, w, h, dissolve);
    printf("  update (analysis + rules + vcam): %8.1f us/frame\n", upd);
    for (int l = 0; l < 3; l++)
        printf("  compose %-6s:                   %8.1f us/frame\n", lb_layout_name(layouts[l]),
               n_compose[l] ? (double)t_compose[l] / n_compose[l] : 0);
    printf("  total: %.1f us/frame = %.1f%% of one core at 30 fps\n", upd + comp_all,
           (upd + comp_all) * 30 / 1e4);
    ret = 0;
end:
    for (int i = 0; i < 4; i++)
        av_frame_free(&src[i]);
    av_frame_free(&program);
    lb_compositor_free(&c);
    lb_director_free(&d);
    lb_config_free(&cfg);
    return ret;
}
