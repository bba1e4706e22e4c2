/* Unit tests of director/: configuration errors, the rules and the cutter
 * on drawn frames, operator override, chapters, lost sources, and the
 * compositor's layouts, crop, letterbox and dissolve checked pixel by pixel. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>

#include "director.h"
#include "lb_text.h"

static int failures;

#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            fprintf(stderr, "%s:%d: FAIL: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                             \
            fputc('\n', stderr);                                      \
            failures++;                                               \
        }                                                             \
    } while (0)

enum { TEACHER, STUDENTS, BOARD, SCREEN, NB };

static lb_director_setup hall(void)
{
    lb_director_setup s = {
        .nb_sources = NB,
        .source_names = { "cam1", "cam2", "cam3", "cam4" },
        .source_roles = { LB_ROLE_TEACHER, LB_ROLE_STUDENTS, LB_ROLE_BOARD, LB_ROLE_SCREEN },
        .nb_mics = 2,
        .mic_names = { "lapel", "room" },
        .mic_roles = { LB_ROLE_TEACHER, LB_ROLE_STUDENTS },
        .width = 320, .height = 180, .fps_num = 10, .fps_den = 1,
    };
    return s;
}

static AVFrame *frame(int w, int h, int luma)
{
    AVFrame *f = av_frame_alloc();
    f->format = AV_PIX_FMT_YUV420P;
    f->width = w;
    f->height = h;
    if (av_frame_get_buffer(f, 0) < 0)
        abort();
    for (int p = 0; p < 3; p++)
        for (int y = 0; y < (p ? h / 2 : h); y++)
            memset(f->data[p] + y * f->linesize[p], p ? 128 : luma, (size_t)(p ? w / 2 : w));
    return f;
}

static void rect(AVFrame *f, int x, int y, int w, int h, int luma)
{
    for (int r = y; r < y + h; r++)
        memset(f->data[0] + r * f->linesize[0] + x, luma, (size_t)w);
}

static int create(lb_director **d, const char *ini, char *err, size_t size)
{
    lb_config *cfg = NULL;
    lb_director_setup s = hall();
    int ret = lb_config_load_string(&cfg, "t.ini", ini, err, size);
    if (ret >= 0)
        ret = lb_director_create(d, lb_config_find(cfg, "director"), &s, err, size);
    lb_config_free(&cfg);
    return ret;
}

static void test_config(void)
{
    static const struct { const char *ini, *want; } bad[] = {
        { "[director]\nzones = stand:students\n", "t.ini:2: director: zones: 'stand:students' is not NAME@SOURCE" },
        { "[director]\nzones = stand@nobody:0,0,1,1\n", "no source or role named 'nobody'" },
        { "[director]\n\nzones = a@students:0,0,1\n", "t.ini:3: director: zones: zone 'a': '0,0,1' is not four numbers" },
        { "[director]\nzones = a@cam2:0.5,0,0.6,1\n", "is not inside the picture" },
        { "[director]\nvcam = crane\n", "t.ini:2: director: vcam: no source or role named 'crane'" },
        { "[director]\ncutaway_s = 1\n", "cutaway_s: 1 is shorter than min_shot_s (3)" },
        { "[director]\nmin_shot_s = 0.1\n", "min_shot_s: 0.1 is out of range" },
        { "[director]\nboard_layout = grid\n", "unknown value 'grid' (expected single, pip, sbs)" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lb_director *d = NULL;
        char err[512] = "";
        int ret = create(&d, bad[i].ini, err, sizeof err);
        CHECK(ret == AVERROR(EINVAL) && !d, "%s: ret %d", bad[i].ini, ret);
        CHECK(strstr(err, bad[i].want), "got '%s', want '%s'", err, bad[i].want);
    }
    lb_director *d = NULL;
    char err[512] = "";
    CHECK(create(&d, "[director]\nzones = stand@students:0.5,0.2,0.3,0.6; podium @ cam1 : 0,0.3,1,0.7\n"
                     "vcam = teacher\n", err, sizeof err) == 0, "%s", err);
    lb_director_free(&d);
    CHECK(!d, "free sets NULL");
    lb_director_free(&d);
    for (int l = LB_LAYOUT_SINGLE; l <= LB_LAYOUT_SBS; l++)
        CHECK(lb_layout_from_name(lb_layout_name((lb_layout)l)) == (lb_layout)l, "layout %d", l);
    CHECK(lb_layout_from_name("grid") == LB_LAYOUT_INVALID, "grid");
}

/* A small classroom drawn per tick, with mic levels. */
typedef struct scene {
    AVFrame *f[NB];
    double mic[2];
    int standing, strokes, slide, lost_teacher, slate_teacher, lights, blank_screen;
} scene;

static void draw(scene *s, int64_t t_us)
{
    for (int i = 0; i < NB; i++)
        av_frame_free(&s->f[i]);
    s->f[TEACHER] = frame(320, 180, 70);
    int x = 160 + (int)(80 * sin(t_us / 1e6));
    rect(s->f[TEACHER], x - 15, 60, 30, 90, 200);
    s->f[STUDENTS] = frame(320, 180, 90 + s->lights);
    if (s->standing)
        rect(s->f[STUDENTS], 200, 30, 30, 100, 220);
    s->f[BOARD] = frame(320, 180, 40);
    for (int k = 0; k < s->strokes; k++)
        rect(s->f[BOARD], 20 + (k % 2) * 150, 20 + k * 16, 80, 2, 230);
    s->f[SCREEN] = frame(320, 180, s->blank_screen ? 48 : 230);
    if (!s->blank_screen)
        rect(s->f[SCREEN], 40 + (s->slide % 3) * 60, 50, 100, 80, 60 + 40 * (s->slide % 4));
    else                        /* a "no signal" card: a grey picture and a line of text */
        rect(s->f[SCREEN], 100, 85, 120, 6, 220);
    for (int i = 0; i < NB; i++)
        s->f[i]->pts = t_us;
    if (s->slate_teacher)
        av_dict_set(&s->f[TEACHER]->metadata, LB_SLATE_METADATA, "1", 0);
    if (s->lost_teacher)
        av_frame_free(&s->f[TEACHER]);
}

typedef struct run {
    int64_t cut_us[256];
    lb_shot shot[256];
    int nb;
    char chapters[8][64];
    int nb_chapters;
} run;

static int step(lb_director *d, scene *s, int64_t t_us, run *r, lb_shot *shot)
{
    draw(s, t_us);
    int ret = lb_director_update(d, t_us, s->f, s->mic, shot);
    if (ret == 1 && r->nb < 256) {
        r->cut_us[r->nb] = t_us;
        r->shot[r->nb++] = *shot;
    }
    char title[64];
    while (lb_director_next_chapter(d, title, sizeof title))
        if (r->nb_chapters < 8)
            snprintf(r->chapters[r->nb_chapters++], 64, "%s", title);
    return ret;
}

static int shot_at(const run *r, int64_t t_us)
{
    int k = -1;
    for (int i = 0; i < r->nb && r->cut_us[i] <= t_us; i++)
        k = i;
    return k;
}

/* A scripted minute at 10 fps: teacher speaking, a student answering,
 * writing, a slide, the teacher camera lost and back. */
static void script(run *r, int flicker, const char *extra)
{
    lb_director *d = NULL;
    char err[512], ini[512];
    snprintf(ini, sizeof ini, "[director]\nzones = stand@students:0.5,0,0.5,1\nvcam = teacher\n%s", extra);
    CHECK(create(&d, ini, err, sizeof err) == 0, "%s", err);
    if (!d)
        return;
    scene s = { .mic = { -90, -90 } };
    lb_shot shot;
    for (int n = 0; n < 600; n++) {
        int64_t t = (int64_t)n * 100000;
        double sec = t / 1e6;
        s.mic[0] = sec < 10 || (sec >= 22 && sec < 60) ? -20 : -70;
        s.mic[1] = sec >= 10 && sec < 18 ? -22 : -70;
        if (flicker)        /* a mic that flips every 0.7 s must not make cuts that short */
            s.mic[1] = (n / 7) % 2 ? -15 : -70;
        s.standing = sec >= 10 && sec < 18;
        s.strokes = sec >= 24 && sec < 34 ? (int)(sec - 24) / 2 + 1 : sec >= 34 ? 5 : 0;
        s.slide = sec >= 40 ? 1 : 0;
        s.lost_teacher = sec >= 50 && sec < 54;
        s.slate_teacher = sec >= 54 && sec < 56;
        CHECK(step(d, &s, t, r, &shot) >= 0, "update");
        if (s.lost_teacher || s.slate_teacher)
            for (int k = 0; k < shot.nb_sources; k++)
                CHECK(shot.sources[k] != TEACHER, "teacher lost but on screen at %.1f", sec);
        if (shot.nb_sources && shot.sources[0] == TEACHER && !s.lost_teacher && !s.slate_teacher) {
            CHECK(shot.crop[0].w > 0 && shot.crop[0].w <= 1, "vcam crop %.2f", shot.crop[0].w);
            /* the virtual camera keeps the walking teacher in its crop */
            double fx = (160 + 80 * sin(sec)) / 320, cx = shot.crop[0].x + shot.crop[0].w / 2;
            if (sec > 5)
                CHECK(fabs(fx - cx) < shot.crop[0].w / 2, "teacher at %.2f outside the crop %.2f+-%.2f at %.1f s",
                      fx, cx, shot.crop[0].w / 2, sec);
        }
    }
    for (int i = 0; i < NB; i++)
        av_frame_free(&s.f[i]);
    lb_director_free(&d);
}

static void test_rules(void)
{
    run r = { 0 };
    script(&r, 0, "");
    static const struct { double t; int main; } want[] = {
        { 5, TEACHER }, { 11.5, STUDENTS }, { 17, STUDENTS }, { 21.5, TEACHER },
        { 26.5, BOARD }, { 33, BOARD }, { 42, SCREEN }, { 47, SCREEN },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int k = shot_at(&r, (int64_t)(want[i].t * 1e6));
        CHECK(k >= 0 && r.shot[k].sources[0] == want[i].main, "at %.1f s: main %d (%s), want %d",
              want[i].t, k >= 0 ? r.shot[k].sources[0] : -1, k >= 0 ? r.shot[k].reason : "", want[i].main);
    }
    int k = shot_at(&r, 47000000);
    CHECK(k >= 0 && r.shot[k].layout == LB_LAYOUT_PIP && r.shot[k].sources[1] == TEACHER,
          "screen with the teacher in picture 7 s after the slide");
    for (int i = 1; i < r.nb; i++) {
        double len = (r.cut_us[i] - r.cut_us[i - 1]) / 1e6;
        int forced = strstr(r.shot[i].reason, "lost") != NULL;
        /* min_shot_s, or min_shot_event_s before a student standing up or a new slide */
        CHECK(len >= 3 - 1e-9 || forced || (len >= 2 - 1e-9 && (strstr(r.shot[i].reason, "standing") ||
                                                strstr(r.shot[i].reason, "new slide"))),
              "shot %d lasted %.1f s (%s)", i - 1, len, r.shot[i].reason);
    }
    CHECK(r.nb_chapters == 1 && !strcmp(r.chapters[0], "Slide 2"), "%d chapters, first '%s'",
          r.nb_chapters, r.nb_chapters ? r.chapters[0] : "");
    for (int i = 0; i < r.nb; i++)
        CHECK(*r.shot[i].reason, "decision %d has a reason", i);
    int k11 = shot_at(&r, 15000000);
    if (k11 >= 0) {             /* the close-up frames the student who stands */
        lb_rectf c = r.shot[k11].crop[0];
        CHECK(c.w >= 0.4 && c.w < 1 && c.x <= 215 / 320.0 && c.x + c.w >= 215 / 320.0 &&
              c.y <= 80 / 180.0 && c.y + c.h >= 80 / 180.0, "close-up %.2f,%.2f %.2fx%.2f",
              c.x, c.y, c.w, c.h);
    }
    CHECK(k11 >= 0 && strstr(r.shot[k11].reason, "mic room speaking") &&
          strstr(r.shot[k11].reason, "zone stand"), "reason '%s'", k11 >= 0 ? r.shot[k11].reason : "");

    run again = { 0 };
    script(&again, 0, "");
    CHECK(again.nb == r.nb && !memcmp(again.cut_us, r.cut_us, sizeof r.cut_us), "deterministic");
    for (int i = 0; i < r.nb && i < again.nb; i++)
        CHECK(!strcmp(again.shot[i].reason, r.shot[i].reason), "same reasons");

    run fl = { 0 };
    script(&fl, 1, "");
    for (int i = 1; i < fl.nb; i++) {
        double len = (fl.cut_us[i] - fl.cut_us[i - 1]) / 1e6;
        CHECK(len >= 3 - 1e-9 || strstr(fl.shot[i].reason, "lost") ||
              (len >= 2 - 1e-9 && (strstr(fl.shot[i].reason, "standing") ||
                                                 strstr(fl.shot[i].reason, "new slide"))), "flicker: shot of %.1f s (%s)", len, fl.shot[i].reason);
    }
    CHECK(fl.nb < 30, "flicker: %d cuts in a minute", fl.nb);

    run sbs = { 0 };            /* the board beside the teacher */
    script(&sbs, 0, "board_layout = sbs\n");
    int kb = shot_at(&sbs, 30000000);
    CHECK(kb >= 0 && sbs.shot[kb].sources[0] == BOARD && sbs.shot[kb].layout == LB_LAYOUT_SBS &&
          sbs.shot[kb].nb_sources == 2 && sbs.shot[kb].sources[1] == TEACHER &&
          sbs.shot[kb].crop[1].w > 0, "board sbs: %s", kb >= 0 ? sbs.shot[kb].reason : "");
}

/* A long stretch of the teacher talking: a cutaway at max_shot_s that keeps
 * the teacher in picture, then back; the virtual camera pans no faster
 * than vcam_speed. */
static void test_cutaway_and_pan(void)
{
    lb_director *d = NULL;
    char err[512];
    CHECK(create(&d, "[director]\nvcam = cam1\nvcam_speed = 0.1\n", err, sizeof err) == 0, "%s", err);
    if (!d)
        return;
    scene s = { .mic = { -20, -90 } };
    run r = { 0 };
    lb_shot shot;
    double last_x = -1;
    for (int n = 0; n < 450; n++) {
        step(d, &s, (int64_t)n * 100000, &r, &shot);
        if (shot.nb_sources && shot.sources[0] == TEACHER) {
            double x = shot.crop[0].x + shot.crop[0].w / 2;
            CHECK(last_x < 0 || fabs(x - last_x) <= 0.1 * 0.1 + 1e-9, "pan %.3f in 0.1 s", fabs(x - last_x));
            last_x = x;
        } else {
            last_x = -1;
        }
    }
    CHECK(r.nb == 3 && r.shot[1].sources[0] == SCREEN && r.shot[1].layout == LB_LAYOUT_PIP &&
          r.shot[1].sources[1] == TEACHER && strstr(r.shot[1].reason, "cutaway after 30 s on cam1") &&
          llabs(r.cut_us[1] - 30000000) <= 100000 && llabs(r.cut_us[2] - 34000000) <= 100000 &&
          r.shot[2].sources[0] == TEACHER, "%d decisions; second at %.1f: %s", r.nb,
          r.nb > 1 ? r.cut_us[1] / 1e6 : 0, r.nb > 1 ? r.shot[1].reason : "");
    for (int i = 0; i < NB; i++)
        av_frame_free(&s.f[i]);
    lb_director_free(&d);
}

/* A screen going blank (or showing a "no signal" card) is neither a slide
 * nor a chapter; the slide after it is both. */
static void test_blank_screen(void)
{
    lb_director *d = NULL;
    char err[512];
    CHECK(create(&d, "[director]\n", err, sizeof err) == 0, "%s", err);
    if (!d)
        return;
    scene s = { .mic = { -20, -90 } };
    run r = { 0 };
    lb_shot shot;
    for (int n = 0; n < 250; n++) {
        s.blank_screen = n >= 50 && n < 150;
        s.slide = n >= 150 ? 2 : 0;
        step(d, &s, (int64_t)n * 100000, &r, &shot);
        if (n < 150)
            CHECK(shot.sources[0] == TEACHER, "at %.1f s: %s", n / 10.0, shot.reason);
    }
    CHECK(r.nb == 3 && r.shot[1].sources[0] == SCREEN && r.cut_us[1] < 16000000 && r.nb_chapters == 1,
          "%d decisions, %d chapters", r.nb, r.nb_chapters);
    for (int i = 0; i < NB; i++)
        av_frame_free(&s.f[i]);
    lb_director_free(&d);
}

/* The lights of the room going up is not a student standing. */
static void test_lights(void)
{
    lb_director *d = NULL;
    char err[512];
    CHECK(create(&d, "[director]\n", err, sizeof err) == 0, "%s", err);
    if (!d)
        return;
    scene s = { .mic = { -20, -90 } };
    run r = { 0 };
    lb_shot shot;
    for (int n = 0; n < 200; n++) {
        s.lights = n >= 100 ? 60 : 0;
        CHECK(step(d, &s, (int64_t)n * 100000, &r, &shot) >= 0 && shot.sources[0] != STUDENTS,
              "lights up at %.1f s: %s", n / 10.0, shot.reason);
    }
    CHECK(r.nb == 1, "%d decisions", r.nb);
    for (int i = 0; i < NB; i++)
        av_frame_free(&s.f[i]);
    lb_director_free(&d);
}

/* Director v2 (issue #18) on drawn frames: a teacher who goes to the board,
 * writes and goes back; a walk past the board; a stroke added in passing;
 * students standing at the edges of a picture without zones, after the
 * lights went up; a new slide just after a cut. */
typedef struct room {
    AVFrame *f[NB];
    double mic[2];
    int podium;               /* the teacher in the teacher camera */
    int board_x;              /* the teacher in front of the board, or -1 */
    int strokes, stroke_x;
    int lights;
    int stand_x;              /* a student standing, or -1 */
    int slide;
    int shake_x;              /* the students camera shaken sideways */
} room;

static void draw_room(room *s, int64_t t_us)
{
    double t = t_us / 1e6;
    for (int i = 0; i < NB; i++)
        av_frame_free(&s->f[i]);
    s->f[TEACHER] = frame(320, 180, 70);
    if (s->podium)
        rect(s->f[TEACHER], 160 + (int)(60 * sin(t)) - 15, 60, 30, 90, 200);
    s->f[BOARD] = frame(320, 180, 40);
    for (int k = 0; k < s->strokes; k++)
        rect(s->f[BOARD], s->stroke_x, 20 + k * 16, 60, 2, 230);
    if (s->board_x >= 0) {
        int x = s->board_x + (int)(8 * sin(M_PI * t));
        x = x < 0 ? 0 : x > 290 ? 290 : x;
        rect(s->f[BOARD], x, 50, 30, 100, 180);
    }
    s->f[STUDENTS] = frame(320, 180, 90 + s->lights);
    for (int row = 0; row < 5; row++)     /* rows of desks, moved when the camera shakes */
        for (int col = 0; col < 8; col++)
            rect(s->f[STUDENTS], 12 + col * 38 + s->shake_x, 40 + row * 28, 22, 12, 150 + s->lights);
    if (s->stand_x >= 0)
        rect(s->f[STUDENTS], s->stand_x, 30, 30, 100, 220);
    s->f[SCREEN] = frame(320, 180, 230);
    rect(s->f[SCREEN], 40 + (s->slide % 3) * 60, 50, 100, 80, 60 + 40 * (s->slide % 4));
    for (int i = 0; i < NB; i++)
        s->f[i]->pts = t_us;
}

static int room_step(lb_director *d, room *s, int64_t t_us, run *r, lb_shot *shot)
{
    draw_room(s, t_us);
    int ret = lb_director_update(d, t_us, s->f, s->mic, shot);
    if (ret == 1 && r->nb < 256) {
        r->cut_us[r->nb] = t_us;
        r->shot[r->nb++] = *shot;
    }
    return ret;
}

/* The first time from `from` the main picture is `src`, or -1. */
static double on_air(const run *r, double from, double to, int src)
{
    for (int64_t t = (int64_t)(from * 1e6); t < (int64_t)(to * 1e6); t += 100000) {
        int k = shot_at(r, t);
        if (k >= 0 && r->shot[k].sources[0] == src)
            return t / 1e6 - from;
    }
    return -1;
}

static void check_min_shot(const run *r, const char *what)
{
    for (int i = 1; i < r->nb; i++) {
        double len = (r->cut_us[i] - r->cut_us[i - 1]) / 1e6;
        CHECK(len >= 2 - 1e-9, "%s: shot %d lasted %.1f s (%s)", what, i - 1, len, r->shot[i].reason);
    }
}

static void test_board_v2(void)
{
    lb_director *d = NULL;
    char err[512];
    CHECK(create(&d, "[director]\nvcam = teacher\nzones = podium@teacher:0,0.25,1,0.75\n", err,
                 sizeof err) == 0, "%s", err);
    if (!d)
        return;
    room s = { .mic = { -20, -90 }, .board_x = -1, .stand_x = -1, .stroke_x = 200 };
    run r = { 0 };
    lb_shot shot;
    for (int n = 0; n < 500; n++) {
        int64_t t = (int64_t)n * 100000;
        double sec = t / 1e6;
        /* 5-13 s at the board writing a stroke a second from 6 s; 20-23 s
         * walking past; 33-34 s a stroke at 33.3 s in passing */
        int at_board = (sec >= 5 && sec < 13) || (sec >= 33 && sec < 33.8);
        int walking = sec >= 20 && sec < 23;
        s.podium = !at_board && !walking && !(sec >= 33 && sec < 34);
        s.board_x = at_board ? 60 : walking ? (int)(-30 + 120 * (sec - 20)) : -1;
        s.strokes = sec >= 6 ? (sec < 12 ? (int)(sec - 6) + 1 : 7) : 0;
        s.strokes += sec >= 33.3;
        CHECK(room_step(d, &s, t, &r, &shot) >= 0, "update");
    }
    double start = on_air(&r, 6, 13, BOARD), back = on_air(&r, 13, 20, TEACHER);
    CHECK(start >= 0 && start <= 1.5, "writing from 6 s on the air after %.1f s", start);
    CHECK(back >= 0 && back <= 1.5, "the teacher back at the podium at 13 s on the air after %.1f s", back);
    CHECK(on_air(&r, 14.5, 50, BOARD) < 0, "the board taken again for a walk past or a single stroke");
    int kb = shot_at(&r, 10000000);
    CHECK(kb >= 0 && strstr(r.shot[kb].reason, "someone at the board"), "reason '%s'",
          kb >= 0 ? r.shot[kb].reason : "");
    check_min_shot(&r, "board");
    for (int i = 0; i < NB; i++)
        av_frame_free(&s.f[i]);
    lb_director_free(&d);
}

static void test_students_v2(void)
{
    lb_director *d = NULL;
    char err[512];
    CHECK(create(&d, "[director]\n", err, sizeof err) == 0, "%s", err);
    if (!d)
        return;
    room s = { .mic = { -20, -90 }, .podium = 1, .board_x = -1, .stand_x = -1 };
    run r = { 0};
    lb_shot shot;
    for (int n = 0; n < 400; n++) {
        int64_t t = (int64_t)n * 100000;
        double sec = t / 1e6;
        s.lights = sec >= 5 ? 30 : 0;           /* the lights go up on the students */
        s.lights += sec >= 18 && sec < 19 ? (int)((sec - 18) * 10) : sec >= 19 ? 10 : 0;
        s.stand_x = sec >= 10 && sec < 16 ? 0 : sec >= 22 && sec < 28 ? 290 : -1;
        s.slide = sec >= 29.2;                  /* just after the cut back to the teacher */
        /* the students camera knocked sideways at 33 s and back at 35 s */
        s.shake_x = sec >= 33 && sec < 35 ? 6 : 0;
        CHECK(room_step(d, &s, t, &r, &shot) >= 0, "update");
        if (sec < 10)
            CHECK(shot.sources[0] != STUDENTS, "lights up at %.1f s: %s", sec, shot.reason);
    }
    double left = on_air(&r, 10, 16, STUDENTS), right = on_air(&r, 22, 28, STUDENTS);
    CHECK(left >= 0 && left <= 1.5, "student at the left edge on the air after %.1f s", left);
    CHECK(right >= 0 && right <= 1.5, "student at the right edge on the air after %.1f s", right);
    int k = shot_at(&r, 24000000);
    if (k >= 0) {
        lb_rectf c = r.shot[k].crop[0];
        CHECK(c.w > 0 && c.w < 1 && c.x + c.w >= 300 / 320.0, "close-up %.2f,%.2f %.2fx%.2f",
              c.x, c.y, c.w, c.h);
    }
    double slide = on_air(&r, 29.2, 38, SCREEN);
    CHECK(on_air(&r, 30, 40, STUDENTS) < 0, "the students camera shaken taken for a student standing");
    CHECK(slide >= 0 && slide <= 1.5, "a new slide after a cut on the air after %.1f s", slide);
    check_min_shot(&r, "students");
    for (int i = 0; i < NB; i++)
        av_frame_free(&s.f[i]);
    lb_director_free(&d);
}

static void test_override(void)
{
    lb_director *d = NULL;
    char err[512];
    CHECK(create(&d, "[director]\n", err, sizeof err) == 0, "%s", err);
    if (!d)
        return;
    scene s = { .mic = { -20, -90 } };
    lb_shot shot;
    run r = { 0 };
    step(d, &s, 0, &r, &shot);
    CHECK(lb_director_set_mode(d, LB_DIRECTOR_MANUAL, "nobody", LB_LAYOUT_SINGLE, err, sizeof err) ==
          AVERROR(EINVAL) && strstr(err, "nobody"), "unknown shot: %s", err);
    CHECK(lb_director_set_mode(d, LB_DIRECTOR_MANUAL, "board", LB_LAYOUT_SBS, err, sizeof err) == 0, "%s", err);
    CHECK(lb_director_get_mode(d) == LB_DIRECTOR_MANUAL, "manual");
    CHECK(step(d, &s, 100000, &r, &shot) == 1, "the operator's shot is a decision");
    CHECK(shot.sources[0] == BOARD && shot.layout == LB_LAYOUT_SBS && shot.nb_sources == 2 &&
          shot.sources[1] == TEACHER && !strcmp(shot.reason, "operator") && !strcmp(shot.name, "board"),
          "manual board sbs: %d %d", shot.sources[0], shot.layout);
    for (int n = 2; n < 100; n++) {   /* the rules do not take over */
        s.mic[1] = -10;
        s.standing = 1;
        CHECK(step(d, &s, n * 100000, &r, &shot) == 0 && shot.sources[0] == BOARD, "stays manual");
    }
    CHECK(lb_director_set_mode(d, LB_DIRECTOR_AUTO, NULL, LB_LAYOUT_INVALID, err, sizeof err) == 0, "%s", err);
    CHECK(step(d, &s, 10000000, &r, &shot) == 1 && shot.sources[0] == STUDENTS, "back to auto: %s", shot.reason);
    char status[4096];
    int len = lb_director_status_json(d, status, sizeof status);
    CHECK(len > 0 && status[0] == '{' && status[len - 1] == '}' && strstr(status, "\"mode\": \"auto\"") &&
          strstr(status, "{\"name\": \"room\", \"dbfs\": ") && strstr(status, "\"name\": \"cam3\", \"live\": true"),
          "status %s", status);
    CHECK(lb_director_status_json(d, status, 10) == 9 && strlen(status) == 9, "status truncated");
    char line[LB_SHOT_JSON_MAX];
    lb_director_setup setup = hall();
    snprintf(shot.reason, sizeof shot.reason, "say \"hi\"\\\n");
    shot.crop[0] = (lb_rectf){ 0.25, 0.5, 0.5, 0.5 };   /* a close-up: format 2's "crop" */
    shot.vcam_slots = 0;
    lb_shot_to_json(&shot, 12345678, &setup, line, sizeof line);
    CHECK(!strcmp(line, "{\"t\": 12.345, \"shot\": \"students\", \"layout\": \"single\", \"sources\": "
                        "[\"cam2\"], \"reason\": \"say \\\"hi\\\"\\\\\\u000a\", \"crop\": [[0.25, 0.5, 0.5, 0.5]], "
                        "\"reasons\": [{\"text\":\"say \\\"hi\\\"\\\\\\n\"}]}"), "json %s", line);
    /* the reason's parts as codes: known ones with their parameters, an unknown one as text */
    snprintf(shot.reason, sizeof shot.reason, "mic lapel speaking (-21 dBFS); cam3 lost; something new");
    lb_shot_to_json(&shot, 0, &setup, line, sizeof line);
    CHECK(strstr(line, "\"reasons\": [{\"code\":\"mic_speaking\",\"params\":{\"mic\":\"lapel\",\"dbfs\":\"-21\"}},"
                       "{\"code\":\"source_lost\",\"params\":{\"source\":\"cam3\"}},{\"text\":\"something new\"}]}"),
          "reasons as codes: %s", line);
    /* a line too short for them: without "reasons", still whole */
    char small[200];
    int n = lb_shot_to_json(&shot, 0, &setup, small, sizeof small);
    CHECK(n > 0 && (size_t)n < sizeof small && !strstr(small, "reasons") && small[n - 1] == '}', "no room: %s", small);
    for (int i = 0; i < NB; i++)
        av_frame_free(&s.f[i]);
    lb_director_free(&d);
}

static int luma_at(const AVFrame *f, int x, int y)
{
    return f->data[0][y * f->linesize[0] + x];
}

static lb_compositor *compositor(const char *ini, int fps)
{
    lb_config *cfg = NULL;
    lb_compositor *c = NULL;
    char err[512];
    lb_director_setup s = hall();
    s.fps_num = fps;
    if (lb_config_load_string(&cfg, "t.ini", ini, err, sizeof err) < 0 ||
        lb_compositor_create(&c, &s, lb_config_find(cfg, "director"), err, sizeof err) < 0)
        fprintf(stderr, "%s\n", err);
    lb_config_free(&cfg);
    return c;
}

static void test_compositor(void)
{
    AVFrame *f[NB] = { frame(640, 360, 50), frame(640, 360, 200), frame(480, 360, 120), frame(640, 360, 0) };
    rect(f[SCREEN], 0, 0, 320, 360, 60);        /* the screen: left half 60, right half 180 */
    rect(f[SCREEN], 320, 0, 320, 360, 180);
    AVFrame *dst = frame(320, 180, 0);
    lb_compositor *c = compositor("[director]\n", 10);
    CHECK(c, "create");
    if (!c)
        return;
    lb_shot shot = { .layout = LB_LAYOUT_PIP, .nb_sources = 2, .sources = { TEACHER, STUDENTS } };
    CHECK(lb_compositor_compose(c, &shot, f, dst) == 0, "pip");
    CHECK(abs(luma_at(dst, 10, 10) - 50) <= 1 && abs(luma_at(dst, 280, 150) - 200) <= 1 &&
          luma_at(dst, 320 - 6 - 90 - 1, 150) >= 230, "pip bottom-right with a frame: %d %d %d",
          luma_at(dst, 10, 10), luma_at(dst, 280, 150), luma_at(dst, 320 - 6 - 90 - 1, 150));
    lb_compositor_free(&c);
    CHECK(!c, "free sets NULL");

    c = compositor("[director]\npip_corner = top-left\npip_size = 0.5\npip_border = 0\n", 10);
    CHECK(lb_compositor_compose(c, &shot, f, dst) == 0, "pip");
    CHECK(abs(luma_at(dst, 20, 20) - 200) <= 1 && abs(luma_at(dst, 300, 170) - 50) <= 1, "pip top-left");

    shot = (lb_shot){ .layout = LB_LAYOUT_SBS, .nb_sources = 2, .sources = { SCREEN, STUDENTS } };
    CHECK(lb_compositor_compose(c, &shot, f, dst) == 0, "sbs");
    CHECK(luma_at(dst, 80, 5) == 16 && abs(luma_at(dst, 20, 90) - 60) <= 1 &&
          abs(luma_at(dst, 140, 90) - 180) <= 1 && abs(luma_at(dst, 240, 90) - 200) <= 1,
          "sbs letterboxed halves: %d %d %d %d", luma_at(dst, 80, 5), luma_at(dst, 20, 90),
          luma_at(dst, 140, 90), luma_at(dst, 240, 90));

    shot = (lb_shot){ .layout = LB_LAYOUT_SINGLE, .nb_sources = 1, .sources = { SCREEN },
                      .crop = { { 0.55, 0.2, 0.4, 0.4 } } };
    CHECK(lb_compositor_compose(c, &shot, f, dst) == 0, "crop");
    CHECK(abs(luma_at(dst, 2, 2) - 180) <= 1 && abs(luma_at(dst, 317, 177) - 180) <= 1, "crop of the right half");

    shot = (lb_shot){ .layout = LB_LAYOUT_SINGLE, .nb_sources = 1, .sources = { BOARD } };
    CHECK(lb_compositor_compose(c, &shot, f, dst) == 0, "4:3");
    CHECK(luma_at(dst, 5, 90) == 16 && luma_at(dst, 314, 90) == 16 && abs(luma_at(dst, 160, 90) - 120) <= 1,
          "4:3 pillarboxed: %d %d", luma_at(dst, 5, 90), luma_at(dst, 160, 90));

    AVFrame *none[NB] = { NULL };
    CHECK(lb_compositor_compose(c, &shot, none, dst) == 0 && luma_at(dst, 160, 90) == 16, "missing: black");
    lb_compositor_free(&c);

    /* dissolve: 300 ms at 10 fps = 3 frames between black-ish 50 and 200 */
    c = compositor("[director]\ndissolve_ms = 300\n", 10);
    shot = (lb_shot){ .layout = LB_LAYOUT_SINGLE, .nb_sources = 1, .sources = { TEACHER } };
    lb_compositor_compose(c, &shot, f, dst);
    lb_compositor_compose(c, &shot, f, dst);
    shot.sources[0] = STUDENTS;
    int seen[5];
    for (int k = 0; k < 5; k++) {
        lb_compositor_compose(c, &shot, f, dst);
        seen[k] = luma_at(dst, 160, 90);
    }
    CHECK(seen[0] > 55 && seen[0] < seen[1] && seen[1] < seen[2] && seen[2] < 195 &&
          abs(seen[3] - 200) <= 1 && abs(seen[4] - 200) <= 1, "dissolve %d %d %d %d %d",
          seen[0], seen[1], seen[2], seen[3], seen[4]);
    lb_compositor_free(&c);
    for (int i = 0; i < NB; i++)
        av_frame_free(&f[i]);
    av_frame_free(&dst);
}

/* Voice activity on speech-like levels: a bang in the room (a door, a
 * chair) is not the students speaking; a student's answer with a pause
 * between sentences is one turn, not two. */
static void test_vad(void)
{
    lb_director *d = NULL;
    char err[512];
    CHECK(create(&d, "[director]\nvcam = teacher\n", err, sizeof err) == 0, "%s", err);
    if (!d)
        return;
    scene s = { .mic = { -60, -60 } };
    lb_shot shot;
    run r = { .nb = 0 };
    for (int n = 0; n < 250; n++) {
        double t = n / 10.0;
        s.mic[0] = t < 5 ? -20 : t < 20 ? -45 : -20;
        s.mic[1] = (t >= 6 && t < 6.4) ? -10 : (t >= 10 && t < 13) || (t >= 13.7 && t < 17) ? -22 : -60;
        step(d, &s, (int64_t)n * 100000, &r, &shot);
    }
    int in = -1, out = -1;
    for (int i = 0; i < r.nb; i++) {
        if (r.shot[i].sources[0] == STUDENTS && in < 0)
            in = i;
        else if (in >= 0 && out < 0 && r.shot[i].sources[0] != STUDENTS)
            out = i;
    }
    CHECK(in >= 0 && r.cut_us[in] >= 10000000 && r.cut_us[in] <= 11500000,
          "the answer on the air within 1.5 s (cut at %.1f s)", in >= 0 ? r.cut_us[in] / 1e6 : -1);
    CHECK(out >= 0 && r.cut_us[out] >= 17000000 && r.cut_us[out] <= 19500000,
          "the pause kept the turn; back after the answer (cut at %.1f s)", out >= 0 ? r.cut_us[out] / 1e6 : -1);
    for (int i = 0; i < r.nb; i++)
        CHECK(r.cut_us[i] < 6000000 || r.cut_us[i] >= 10000000, "no cut for a bang: %.1f s %s",
              r.cut_us[i] / 1e6, r.shot[i].reason);
    lb_director_free(&d);
    for (int i = 0; i < NB; i++)
        av_frame_free(&s.f[i]);
}

/* Every reason the director can write is an entry of its table (the rules
 * write with the table's formats, LB_REASON_*): each entry, written with
 * sample values, reads back as its own code with those values, alone and
 * joined with another part; and each code has a text in both of the UI's
 * languages (webui/www/i18n.js) that uses only the code's parameters. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long len;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = calloc(1, (size_t)len + 1)) && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* the UI text of key in one language's table [from, to), or NULL */
static const char *ui_text(const char *from, const char *to, const char *key, char *out, size_t size)
{
    char pat[128];
    snprintf(pat, sizeof pat, " %s: '", key);
    const char *p = strstr(from, pat);
    if (!p || p >= to)
        return NULL;
    p += strlen(pat);
    const char *q = strchr(p, '\'');
    if (!q || q >= to)
        return NULL;
    snprintf(out, size, "%.*s", (int)(q - p), p);
    return out;
}

static void test_reason_codes(void)
{
    size_t nb = 0;
    const lb_text_code *tab = lb_director_reason_codes(&nb);
    char *js = slurp(LB_I18N_JS);
    CHECK(js, "read %s", LB_I18N_JS);
    const char *en = js ? strstr(js, "\n  en: {") : NULL, *zh = js ? strstr(js, "\n  zh: {") : NULL;
    CHECK(en && zh && en < zh, "%s: no en and zh tables", LB_I18N_JS);
    CHECK(nb >= 16, "%zu reasons", nb);
    for (size_t i = 0; i < nb && en && zh && en < zh; i++) {
        const lb_text_code *c = &tab[i];
        for (size_t k = 0; k < i; k++)
            CHECK(strcmp(tab[k].code, c->code), "code %s twice", c->code);
        /* the format written with sample values, as the rules would */
        char text[512], want[LB_TEXT_MAX_PARAMS][32];
        size_t n = 0;
        int nparams = 0;
        for (const char *f = c->tpl; *f && n < sizeof text - 40; f++) {
            if (f[0] == '%' && f[1] == '%') {
                text[n++] = '%';
                f++;
                continue;
            }
            if (*f != '%') {
                text[n++] = *f;
                continue;
            }
            const char *e = f + 1;
            while (*e == '.' || (*e >= '0' && *e <= '9'))
                e++;
            CHECK(*e == 's' || *e == 'd' || *e == 'f', "%s: conversion %%%c", c->code, *e);
            if (nparams < LB_TEXT_MAX_PARAMS) {
                /* text with spaces and digits, numbers signed or not */
                if (*e == 's')
                    snprintf(want[nparams], sizeof want[nparams], "cam %d", nparams + 1);
                else if (*e == 'd')
                    snprintf(want[nparams], sizeof want[nparams], "%d", 40 + nparams);
                else
                    snprintf(want[nparams], sizeof want[nparams], "%s%d.5", nparams % 2 ? "-" : "", nparams);
                n += (size_t)snprintf(text + n, sizeof text - n, "%s", want[nparams]);
            }
            nparams++;
            f = e;
        }
        text[n] = 0;
        int declared = 0;
        while (declared < LB_TEXT_MAX_PARAMS && c->params[declared])
            declared++;
        CHECK(nparams == declared, "%s: %d conversions, %d parameters", c->code, nparams, declared);
        for (int joined = 0; joined < 2; joined++) {
            char both[600];
            snprintf(both, sizeof both, "%s%s", text, joined ? "; cam 9 lost" : "");
            cJSON *arr = lb_director_reasons_json(both);
            const cJSON *o = cJSON_GetArrayItem(arr, 0), *params = cJSON_GetObjectItem(o, "params");
            const char *code = cJSON_GetStringValue(cJSON_GetObjectItem(o, "code"));
            CHECK(cJSON_GetArraySize(arr) == 1 + joined && code && !strcmp(code, c->code),
                  "'%s' reads as %s, want %s", both, code ? code : "text", c->code);
            for (int k = 0; k < declared && k < nparams && code && !strcmp(code, c->code); k++) {
                const char *v = cJSON_GetStringValue(cJSON_GetObjectItem(params, c->params[k]));
                CHECK(v && !strcmp(v, want[k]), "%s: %s = '%s', want '%s'", c->code, c->params[k],
                      v ? v : "(none)", want[k]);
            }
            cJSON_Delete(arr);
        }
        /* a text in both languages, with only the code's parameters */
        char key[80], ui[512];
        snprintf(key, sizeof key, "reason_%s", c->code);
        for (int lang = 0; lang < 2; lang++) {
            const char *t = lang ? ui_text(zh, zh + strlen(zh), key, ui, sizeof ui) : ui_text(en, zh, key, ui, sizeof ui);
            CHECK(t && *t, "%s: no %s in i18n.js's %s table", c->code, key, lang ? "zh" : "en");
            for (const char *b = t ? strchr(t, '{') : NULL; b; b = strchr(b + 1, '{')) {
                const char *e = strchr(b, '}');
                int known = 0;
                for (int k = 0; e && k < declared; k++)
                    known |= strlen(c->params[k]) == (size_t)(e - b - 1) && !strncmp(b + 1, c->params[k], (size_t)(e - b - 1));
                CHECK(known, "%s (%s): '%s' names a parameter the code does not have", key, lang ? "zh" : "en", t);
            }
        }
    }
    free(js);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "reasons")) {   /* the reasons' table alone */
        test_reason_codes();
        return failures ? 1 : 0;
    }
    test_config();
    test_rules();
    test_vad();
    test_lights();
    test_board_v2();
    test_students_v2();
    test_blank_screen();
    test_cutaway_and_pan();
    test_override();
    test_compositor();
    test_reason_codes();
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("director unit tests passed\n");
    return failures ? 1 : 0;
}
