/* Design note: the director is analysis (analysis.c), rules (rules.c) and,
 * here, the cutter and the virtual camera.
 *
 * At every analysis tick (analysis_hz, on program time) each rule proposes
 * a shot with a weight; the heaviest is wanted.  The cutter turns "wanted"
 * into cuts a viewer can follow:
 *  - a shot whose main source is lost is left at once;
 *  - otherwise no shot is shorter than min_shot_s, except that an event a
 *    viewer must not miss (a new slide, a student standing up) may cut
 *    after min_shot_event_s: a slide shown 3 s late has lost its moment;
 *  - a newcomer must have been wanted for settle_s (noise does not cut) and,
 *    while the rule behind the current shot still proposes it, outweigh it
 *    by hysteresis;
 *  - a shot wanted for max_shot_s is interrupted by a cutaway of cutaway_s
 *    that keeps the subject in mind (the teacher: the screen with the
 *    teacher in picture; the board: the teacher; else the room), which only
 *    a stronger event ends early.
 * The virtual camera runs every frame: its crop follows the teacher's
 * centroid with a dead zone, a speed limit and exponential smoothing, and
 * zooms out slowly when the teacher roams. */
#include "director_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libavutil/error.h>

#include "lb_log.h"

static const lb_option_choice mode_choices[] = {
    { "auto", LB_DIRECTOR_AUTO }, { "manual", LB_DIRECTOR_MANUAL }, { NULL, 0 },
};

static const lb_option_choice layout_choices[] = {
    { "single", LB_LAYOUT_SINGLE }, { "pip", LB_LAYOUT_PIP }, { "sbs", LB_LAYOUT_SBS }, { NULL, 0 },
};

#define OFF(x) offsetof(lb_director_settings, x)
#define STR(x) OFF(x), sizeof(((lb_director_settings *)0)->x)
const lb_option lb_director_options[] = {
    { "mode", LB_OPT_ENUM | LB_OPT_LIVE, OFF(mode), 0, "auto", 0, 0, mode_choices, "auto: rules pick shots; manual: the operator" },
    { "shot", LB_OPT_STRING | LB_OPT_LIVE, STR(shot), NULL, 0, 0, NULL, "manual: the shot to start with, a source or role (empty: the first automatic shot, frozen)" },
    { "layout", LB_OPT_ENUM | LB_OPT_LIVE, OFF(layout), 0, "single", 0, 0, layout_choices, "manual: the layout of that shot (pip and sbs add the teacher camera)" },
    { "min_shot_s", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(min_shot_s), 0, "3", 0.5, 60, NULL, "shortest shot" },
    { "min_shot_event_s", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(min_shot_event_s), 0, "2", 0.5, 60, NULL, "shortest shot before a new slide or a student standing up (min_shot_s if longer)" },
    { "max_shot_s", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(max_shot_s), 0, "30", 2, 600, NULL, "longest shot before a cutaway" },
    { "cutaway_s", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(cutaway_s), 0, "4", 0.5, 60, NULL, "length of a cutaway (at least min_shot_s)" },
    { "settle_s", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(settle_s), 0, "0.2", 0, 10, NULL, "a new shot must be wanted this long before a cut" },
    { "hysteresis", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(hysteresis), 0, "0.1", 0, 1, NULL, "weight a newcomer needs above a still valid shot" },
    { "analysis_hz", LB_OPT_DOUBLE, OFF(analysis_hz), 0, "10", 1, 30, NULL, "analysis ticks per second of program time" },
    { "analysis_width", LB_OPT_INT, OFF(analysis_width), 0, "160", 32, 640, NULL, "width of the small luma copies" },
    { "stale_s", LB_OPT_DOUBLE, OFF(stale_s), 0, "3", 0.2, 60, NULL, "a source whose picture stops this long is lost" },
    { "zones", LB_OPT_STRING, STR(zones), NULL, 0, 0, NULL, "NAME@SOURCE:x,y,w,h; ... (shares of the picture); zone 'stand' on the students camera, 'podium' on the teacher camera" },
    { "weight_students", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(weight_students), 0, "0.9", 0, 1, NULL, "a student standing or the students' mic" },
    { "weight_slide", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(weight_slide), 0, "0.8", 0, 1, NULL, "a new slide: the screen alone" },
    { "weight_board", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(weight_board), 0, "0.7", 0, 1, NULL, "the teacher writing on the board" },
    { "weight_video", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(weight_video), 0, "0.65", 0, 1, NULL, "video playing on a screen" },
    { "weight_slide_pip", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(weight_slide_pip), 0, "0.55", 0, 1, NULL, "a recent slide: screen with the teacher in picture" },
    { "weight_speaker", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(weight_speaker), 0, "0.5", 0, 1, NULL, "the camera of the speaking mic's role" },
    { "weight_idle", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(weight_idle), 0, "0.2", 0, 1, NULL, "nothing going on: wide, else teacher" },
    { "motion_threshold", LB_OPT_INT, OFF(motion_threshold), 0, "10", 1, 255, NULL, "luma change that counts as motion" },
    { "presence_threshold", LB_OPT_INT, OFF(presence_threshold), 0, "20", 1, 255, NULL, "luma difference from the background that counts as someone" },
    { "absorb_s", LB_OPT_DOUBLE, OFF(absorb_s), 0, "20", 1, 600, NULL, "still foreground becomes background after this" },
    { "stand_min", LB_OPT_DOUBLE, OFF(stand_min), 0, "0.02", 0.001, 1, NULL, "presence share in zone stand for a student standing" },
    { "stand_max", LB_OPT_DOUBLE, OFF(stand_max), 0, "0.3", 0.01, 1, NULL, "without a stand zone: presence share of the students picture above which the picture changed (camera moved, lights) rather than a student stood" },
    { "stand_s", LB_OPT_DOUBLE, OFF(stand_s), 0, "0.8", 0, 10, NULL, "a student is standing after this long" },
    { "board_persist_s", LB_OPT_DOUBLE, OFF(board_persist_s), 0, "1", 0.2, 10, NULL, "a change still this long is a mark" },
    { "board_hold_s", LB_OPT_DOUBLE, OFF(board_hold_s), 0, "8", 1, 25, NULL, "marks count as writing this long" },
    { "board_min_marks", LB_OPT_DOUBLE, OFF(board_min_marks), 0, "0.0005", 0, 1, NULL, "share of the board newly marked within board_hold_s" },
    { "board_leave_s", LB_OPT_DOUBLE, OFF(board_leave_s), 0, "0.3", 0, 10, NULL, "nobody at the board this long and the teacher back at the podium: the writing has ended" },
    { "board_layout", LB_OPT_ENUM | LB_OPT_LIVE, OFF(board_layout), 0, "single", 0, 0, layout_choices, "board alone, or with the teacher" },
    { "slide_min", LB_OPT_DOUBLE, OFF(slide_min), 0, "0.02", 0.001, 1, NULL, "share of the screen that changes for a new slide" },
    { "slide_settle_s", LB_OPT_DOUBLE, OFF(slide_settle_s), 0, "0.4", 0.1, 2, NULL, "a new slide must then stay still this long" },
    { "slide_full_s", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(slide_full_s), 0, "5", 0, 60, NULL, "a new slide alone on screen" },
    { "slide_pip_s", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(slide_pip_s), 0, "20", 0, 600, NULL, "then with the teacher in picture, until this long after the slide" },
    { "chapter_min", LB_OPT_DOUBLE, OFF(chapter_min), 0, "0.05", 0.001, 1, NULL, "share of the screen that changes for a new chapter" },
    { "chapter_gap_s", LB_OPT_DOUBLE | LB_OPT_LIVE, OFF(chapter_gap_s), 0, "10", 0, 3600, NULL, "shortest chapter" },
    { "video_min", LB_OPT_DOUBLE, OFF(video_min), 0, "0.01", 0.001, 1, NULL, "share of the screen moving for video" },
    { "video_s", LB_OPT_DOUBLE, OFF(video_s), 0, "2", 0.5, 25, NULL, "moving in most ticks of this long for video" },
    { "vad_threshold_dbfs", LB_OPT_DOUBLE, OFF(vad_threshold_dbfs), 0, "-50", -100, 0, NULL, "voice is louder than this" },
    { "vad_margin_db", LB_OPT_DOUBLE, OFF(vad_margin_db), 0, "10", 0, 60, NULL, "and than the noise floor plus this" },
    { "vad_dominance_db", LB_OPT_DOUBLE, OFF(vad_dominance_db), 0, "12", 0, 100, NULL, "and within this of the loudest mic" },
    { "vad_attack_s", LB_OPT_DOUBLE, OFF(vad_attack_s), 0, "0.8", 0, 5, NULL, "voice for this long starts speech (a cough is shorter)" },
    { "vad_hangover_s", LB_OPT_DOUBLE, OFF(vad_hangover_s), 0, "0.8", 0, 10, NULL, "speech lasts this long after the voice" },
    { "vcam", LB_OPT_STRING, STR(vcam), NULL, 0, 0, NULL, "virtual camera: the wide teacher camera (name or role) to crop" },
    { "vcam_zoom", LB_OPT_DOUBLE, OFF(vcam_zoom), 0, "2", 1, 8, NULL, "closest crop: 1/zoom of the picture" },
    { "vcam_speed", LB_OPT_DOUBLE, OFF(vcam_speed), 0, "0.15", 0.01, 2, NULL, "fastest pan, picture widths per second" },
    { "vcam_smooth_s", LB_OPT_DOUBLE, OFF(vcam_smooth_s), 0, "0.7", 0.05, 10, NULL, "time constant of pan and zoom" },
    { "vcam_dead_zone", LB_OPT_DOUBLE, OFF(vcam_dead_zone), 0, "0.3", 0, 0.9, NULL, "share of the crop the teacher may move in without a pan" },
    { "students_closeup", LB_OPT_BOOL, OFF(students_closeup), 0, "true", 0, 0, NULL, "frame a student standing in zone stand (a crop of the students camera)" },
    { "log_pans", LB_OPT_BOOL, OFF(log_pans), 0, "true", 0, 0, NULL, "director.jsonl: a line (\"pan\": true) whenever the virtual camera's target moves, so that a re-cut reproduces its pans exactly; false for tools that take every line for a cut" },
    { NULL },
};

const char *lb_layout_name(lb_layout layout)
{
    switch (layout) {
    case LB_LAYOUT_SINGLE: return "single";
    case LB_LAYOUT_PIP:    return "pip";
    case LB_LAYOUT_SBS:    return "sbs";
    default:               return "none";
    }
}

lb_layout lb_layout_from_name(const char *name)
{
    for (int l = LB_LAYOUT_SINGLE; l <= LB_LAYOUT_SBS; l++)
        if (name && !strcasecmp(name, lb_layout_name((lb_layout)l)))
            return (lb_layout)l;
    return LB_LAYOUT_INVALID;
}

static int find_source(const lb_director_setup *setup, const char *name_or_role)
{
    for (int i = 0; i < setup->nb_sources; i++)
        if (!strcmp(setup->source_names[i], name_or_role))
            return i;
    for (int i = 0; i < setup->nb_sources; i++)
        if (!strcmp(lb_role_name(setup->source_roles[i]), name_or_role))
            return i;
    return -1;
}

/* The checks across keys, at create and at a reload. */
static int check_settings(const lb_director_settings *st, const lb_config_section *sec,
                          char *err, size_t err_size)
{
    if (st->cutaway_s < st->min_shot_s) {
        lb_config_error(sec, "cutaway_s", err, err_size, "%g is shorter than min_shot_s (%g)",
                        st->cutaway_s, st->min_shot_s);
        return AVERROR(EINVAL);
    }
    if (st->max_shot_s <= st->min_shot_s) {
        lb_config_error(sec, "max_shot_s", err, err_size, "%g is not longer than min_shot_s (%g)",
                        st->max_shot_s, st->min_shot_s);
        return AVERROR(EINVAL);
    }
    if (st->board_hold_s * st->analysis_hz > LB_RING || st->video_s * st->analysis_hz > LB_RING) {
        lb_config_error(sec, "analysis_hz", err, err_size,
                        "board_hold_s and video_s may span at most %d analysis ticks", LB_RING);
        return AVERROR(EINVAL);
    }
    return 0;
}

int lb_director_create(lb_director **pd, const lb_config_section *sec,
                       const lb_director_setup *setup, char *err, size_t err_size)
{
    int ret;
    if (setup->nb_sources < 0 || setup->nb_sources > LB_MAX_SOURCES ||
        setup->nb_mics < 0 || setup->nb_mics > LB_MAX_MICS) {
        snprintf(err, err_size, "director: %d sources and %d mics (at most %d and %d)",
                 setup->nb_sources, setup->nb_mics, LB_MAX_SOURCES, LB_MAX_MICS);
        return AVERROR(EINVAL);
    }
    lb_director *d = calloc(1, sizeof *d);
    if (!d)
        return AVERROR(ENOMEM);
    pthread_mutex_init(&d->lock, NULL);
    d->setup = *setup;
    d->vcam_source = -1;
    d->vc.x = d->vc.y = 0.5;
    d->vc.w = d->vc.tw = 1;
    d->last_update_us = INT64_MIN;
    if ((ret = lb_config_apply(sec, lb_director_options, &d->settings, err, err_size)) < 0)
        goto fail;
    if ((ret = check_settings(&d->settings, sec, err, err_size)) < 0)
        goto fail;
    if ((ret = lb_zones_parse(d, sec, err, err_size)) < 0)
        goto fail;
    if (*d->settings.vcam && (d->vcam_source = find_source(setup, d->settings.vcam)) < 0) {
        lb_config_error(sec, "vcam", err, err_size, "no source or role named '%s'", d->settings.vcam);
        ret = AVERROR(EINVAL);
        goto fail;
    }
    for (int i = 0; i < setup->nb_sources; i++)
        d->nb_screens += setup->source_roles[i] == LB_ROLE_SCREEN;
    if ((ret = lb_analysis_init(d, err, err_size)) < 0)
        goto fail;
    d->mode = (lb_director_mode)d->settings.mode;
    if (*d->settings.shot) {
        char why[128];
        if (d->mode != LB_DIRECTOR_MANUAL) {
            lb_config_error(sec, "shot", err, err_size,
                            "the automatic director picks its own shots (mode = manual fixes one)");
            ret = AVERROR(EINVAL);
            goto fail;
        }
        if ((ret = lb_director_set_mode(d, LB_DIRECTOR_MANUAL, d->settings.shot,
                                        (lb_layout)d->settings.layout, why, sizeof why)) < 0) {
            lb_config_error(sec, "shot", err, err_size, "%s", why);
            goto fail;
        }
    }
    *pd = d;
    return 0;
fail:
    lb_director_free(&d);
    return ret;
}

void lb_director_free(lb_director **pd)
{
    lb_director *d = pd ? *pd : NULL;
    if (!d)
        return;
    lb_analysis_uninit(d);
    pthread_mutex_destroy(&d->lock);
    free(d);
    *pd = NULL;
}

/* Same picture: the same sources and layout, and both framed wide or both
 * close (going from the room to a close-up is a cut). */
static int same_key(const lb_candidate *a, const lb_candidate *b)
{
    return a->main == b->main && a->second == b->second && a->layout == b->layout &&
           (a->crop.w > 0) == (b->crop.w > 0);
}

static void take(lb_director *d, const lb_candidate *c, int64_t t_us)
{
    d->cur = *c;
    d->cur_start_us = t_us;
    d->have_cur = 1;
    d->pending.main = -1;
}

/* A cutaway that keeps the subject in mind; 0 if there is none. */
static int cutaway(const lb_director *d, lb_candidate *c)
{
    static const lb_role after[LB_ROLE_COUNT][4] = {
        [LB_ROLE_TEACHER]  = { LB_ROLE_SCREEN, LB_ROLE_WIDE, LB_ROLE_STUDENTS },
        [LB_ROLE_STUDENTS] = { LB_ROLE_TEACHER, LB_ROLE_WIDE },
        [LB_ROLE_BOARD]    = { LB_ROLE_TEACHER, LB_ROLE_WIDE, LB_ROLE_STUDENTS },
        [LB_ROLE_SCREEN]   = { LB_ROLE_TEACHER, LB_ROLE_WIDE, LB_ROLE_STUDENTS },
        [LB_ROLE_WIDE]     = { LB_ROLE_STUDENTS, LB_ROLE_TEACHER, LB_ROLE_SCREEN },
    };
    const lb_candidate *cur = &d->cur;
    lb_role role = d->setup.source_roles[cur->main];
    for (int k = 0; k < 4 && role > LB_ROLE_INVALID && role < LB_ROLE_COUNT && after[role][k]; k++) {
        int s = lb_find_live(d, after[role][k]);
        if (s < 0 || s == cur->main || d->src[s].blank)
            continue;
        *c = (lb_candidate){ .rule = "cutaway", .score = cur->score, .main = s, .second = -1,
                             .layout = LB_LAYOUT_SINGLE, .cutaway = 1 };
        /* the teacher stays in picture over the screen */
        if (role == LB_ROLE_TEACHER && after[role][k] == LB_ROLE_SCREEN) {
            c->second = cur->main;
            c->layout = LB_LAYOUT_PIP;
        }
        snprintf(c->reason, sizeof c->reason, c->second >= 0 ? LB_REASON_CUTAWAY_TEACHER_INSET : LB_REASON_CUTAWAY,
                 d->settings.max_shot_s, d->setup.source_names[cur->main]);
        return 1;
    }
    return 0;
}

static void cutter(lb_director *d, int64_t t_us)
{
    const lb_director_settings *st = &d->settings;
    lb_candidate best = { .main = -1 }, alive = { .main = -1 };
    for (const lb_rule_ops *const *r = lb_director_rules; *r; r++) {
        lb_candidate c = { .rule = (*r)->name, .second = -1, .layout = LB_LAYOUT_SINGLE };
        if (!(*r)->propose(d, t_us, &c) || c.main < 0)
            continue;
        if (best.main < 0 || c.score > best.score)
            best = c;
        /* still valid: the same picture, a close-up's source counts as it */
        if (d->have_cur && c.main == d->cur.main && c.second == d->cur.second &&
            c.layout == d->cur.layout && (alive.main < 0 || c.score > alive.score))
            alive = c;
    }
    if (best.main < 0)
        return;                 /* nothing live: keep the last shot */
    if (!d->have_cur) {
        take(d, &best, t_us);
        return;
    }
    lb_candidate *cur = &d->cur;
    if (!d->src[cur->main].live || (cur->second >= 0 && !d->src[cur->second].live)) {
        snprintf(best.reason + strlen(best.reason), sizeof best.reason - strlen(best.reason),
                 "; " LB_REASON_SOURCE_LOST, d->setup.source_names[d->src[cur->main].live ? cur->second : cur->main]);
        take(d, &best, t_us);
        return;
    }
    /* a close-up is kept while its source is still wanted (the student
     * sits down but the mic's hangover goes on): no cut back to the room */
    if (best.main == cur->main && best.second == cur->second && best.layout == cur->layout &&
        cur->crop.w > 0 && best.crop.w <= 0)
        best.crop = cur->crop;
    double elapsed = (double)(t_us - d->cur_start_us) / 1e6;
    if (same_key(&best, cur)) {
        d->pending.main = -1;
        if (!cur->cutaway)
            cur->score = best.score;
        lb_candidate c;
        if (!cur->cutaway && elapsed >= st->max_shot_s && cutaway(d, &c)) {
            take(d, &c, t_us);
            d->cutaway_until_us = t_us + (int64_t)(st->cutaway_s * 1e6);
        }
        return;
    }
    /* a newcomer must be wanted for settle_s, counted while the shot is
     * still too young to leave, so that settling adds no delay then */
    if (d->pending.main < 0 || !same_key(&d->pending, &best)) {
        d->pending = best;
        d->pending_since_us = t_us;
    }
    double min_s = st->min_shot_s;
    if (best.event && st->min_shot_event_s < min_s)
        min_s = st->min_shot_event_s;
    if (elapsed < min_s)
        return;
    if (cur->cutaway) {
        if (t_us < d->cutaway_until_us && best.score <= cur->score)
            return;
    } else if (alive.main >= 0 && best.score + 1e-9 < alive.score + st->hysteresis) {
        return;
    }
    if ((double)(t_us - d->pending_since_us) / 1e6 < st->settle_s)
        return;
    take(d, &best, t_us);
}

void lb_vcam_step(const lb_vcam_params *pa, lb_vcam_state *s, int64_t dt_us)
{
    double dt = (double)dt_us / 1e6;
    s->w += (s->tw - s->w) * (1 - exp(-dt / (2 * pa->smooth_s)));
    double *pos[2] = { &s->x, &s->y }, target[2] = { s->tx, s->ty };
    for (int k = 0; k < 2; k++) {
        /* vertically people move less: keep their height framed closer */
        double dx = target[k] - *pos[k], dead = pa->dead_zone * s->w / (k ? 4 : 2);
        if (fabs(dx) > dead) {
            double v = (fabs(dx) - dead) / pa->smooth_s;
            v = v > pa->speed ? pa->speed : v;
            double step = v * dt;
            *pos[k] += dx > 0 ? fmin(step, dx - dead) : -fmin(step, -dx - dead);
        }
        double half = s->w / 2;
        *pos[k] = *pos[k] < half ? half : *pos[k] > 1 - half ? 1 - half : *pos[k];
    }
}

lb_rectf lb_vcam_crop(const lb_vcam_state *s)
{
    return (lb_rectf){ s->x - s->w / 2, s->y - s->w / 2, s->w, s->w };
}

static lb_vcam_params vcam_params(const lb_director_settings *st)
{
    return (lb_vcam_params){ st->vcam_smooth_s, st->vcam_speed, st->vcam_dead_zone };
}

void lb_director_vcam_info(const lb_director *d, int *source, lb_vcam_params *params)
{
    *source = d->vcam_source;
    *params = vcam_params(&d->settings);
}

void lb_vcam_update(lb_director *d, int64_t dt_us)
{
    const lb_director_settings *st = &d->settings;
    if (d->vcam_source < 0)
        return;
    const lb_source_analysis *a = &d->src[d->vcam_source];
    double closest = 1 / st->vcam_zoom;
    if (a->live && a->has_centroid) {
        /* roaming widely: show more of the podium */
        double tw = a->spread * 4;
        d->vc.tw = tw < closest ? closest : tw > 1 ? 1 : tw;
        d->vc.tx = a->cx;
        d->vc.ty = a->cy;
    } else if (!d->vtx_set) {
        d->vc.tx = d->vc.ty = 0.5;
    }
    d->vtx_set = 1;
    lb_vcam_params pa = vcam_params(st);
    lb_vcam_step(&pa, &d->vc, dt_us);
}

static void to_shot(const lb_director *d, const lb_candidate *c, lb_shot *shot)
{
    memset(shot, 0, sizeof *shot);
    if (c->main < 0)
        return;
    shot->layout = c->layout;
    shot->sources[0] = c->main;
    shot->nb_sources = 1;
    if (c->second >= 0 && c->layout != LB_LAYOUT_SINGLE) {
        shot->sources[1] = c->second;
        shot->nb_sources = 2;
    }
    snprintf(shot->name, sizeof shot->name, "%s", lb_role_name(d->setup.source_roles[c->main]));
    snprintf(shot->reason, sizeof shot->reason, "%s", c->reason);
}

/* A new decision: other sources or layout, or the main picture going from
 * the whole to a close-up (a pan of the virtual camera is not one). */
static int same_shot(const lb_shot *a, const lb_shot *b)
{
    return a->layout == b->layout && a->nb_sources == b->nb_sources &&
           !memcmp(a->sources, b->sources, sizeof(int) * (size_t)a->nb_sources) &&
           (a->crop[0].w > 0) == (b->crop[0].w > 0);
}

static void json_escape(const char *in, char *out, size_t size);

/* Program thread, at each tick: the snapshot lb_director_status_json hands out. */
static void build_status(lb_director *d, int64_t t_us)
{
    char buf[sizeof d->status], reason[512];
    size_t n = 0;
#define PUT(...)                                                                  \
    do {                                                                          \
        if (n < sizeof buf)                                                       \
            n += (size_t)snprintf(buf + n, sizeof buf - n, __VA_ARGS__);          \
    } while (0)
    json_escape(d->have_cur ? d->cur.reason : "", reason, sizeof reason);
    pthread_mutex_lock(&d->lock);
    lb_director_mode mode = d->mode;
    pthread_mutex_unlock(&d->lock);
    PUT("{\"t\": %.1f, \"mode\": \"%s\", \"reason\": \"%s\", \"sources\": [", t_us / 1e6,
        mode == LB_DIRECTOR_MANUAL ? "manual" : "auto", reason);
    for (int i = 0; i < d->setup.nb_sources; i++) {
        const lb_source_analysis *a = &d->src[i];
        PUT("%s{\"name\": \"%s\", \"live\": %s, \"motion\": %.3f, \"presence\": %.3f, "
            "\"marks\": %.4f, \"video\": %s}", i ? ", " : "", d->setup.source_names[i],
            a->live ? "true" : "false", a->motion, a->presence, lb_board_marks(a),
            a->video ? "true" : "false");
    }
    PUT("], \"mics\": [");
    for (int m = 0; m < d->setup.nb_mics; m++)
        PUT("%s{\"name\": \"%s\", \"dbfs\": %.1f, \"speaking\": %s}", m ? ", " : "",
            d->setup.mic_names[m], d->mic[m].level_dbfs, d->mic[m].speaking ? "true" : "false");
    PUT("]}");
#undef PUT
    if (n >= sizeof buf)
        return;                 /* too many sources for the buffer: keep the last */
    pthread_mutex_lock(&d->lock);
    memcpy(d->status, buf, n + 1);
    pthread_mutex_unlock(&d->lock);
}

int lb_director_status_json(lb_director *d, char *buf, size_t size)
{
    if (!size)
        return AVERROR(EINVAL);
    pthread_mutex_lock(&d->lock);
    int n = snprintf(buf, size, "%s", *d->status ? d->status : "{}");
    pthread_mutex_unlock(&d->lock);
    return n < 0 ? AVERROR(EINVAL) : (size_t)n >= size ? (int)size - 1 : n;
}

int lb_director_update(lb_director *d, int64_t t_us, AVFrame *const *frames,
                       const double *mic_dbfs, lb_shot *shot)
{
    pthread_mutex_lock(&d->lock);
    if (d->have_next_settings) {        /* a reload: taken between two frames */
        d->settings = d->next_settings;
        d->have_next_settings = 0;
    }
    pthread_mutex_unlock(&d->lock);
    int64_t dt_us = d->last_update_us == INT64_MIN ? 0 : t_us - d->last_update_us;
    if (dt_us < 0)
        dt_us = 0;
    lb_analysis_liveness(d, t_us, frames);
    lb_analysis_mics(d, t_us, mic_dbfs);
    d->last_update_us = t_us;
    int64_t period_us = (int64_t)(1e6 / d->settings.analysis_hz);
    int lost = d->have_cur && (!d->src[d->cur.main].live ||
                               (d->cur.second >= 0 && !d->src[d->cur.second].live));
    if (t_us >= d->next_tick_us || lost) {
        if (t_us >= d->next_tick_us) {
            int ret = lb_analysis_tick(d, t_us, frames);
            if (ret < 0)
                return ret;
            d->next_tick_us += period_us;
            if (d->next_tick_us <= t_us)
                d->next_tick_us = t_us + period_us;
        }
        cutter(d, t_us);
        build_status(d, t_us);
    }
    lb_vcam_update(d, dt_us);

    lb_shot s;
    pthread_mutex_lock(&d->lock);
    if (d->mode == LB_DIRECTOR_MANUAL && d->manual.nb_sources)
        s = d->manual;
    else if (d->have_cur)
        to_shot(d, &d->cur, &s);
    else
        memset(&s, 0, sizeof s);
    s.vcam_slots = 0;
    s.pan_key = 0;
    for (int k = 0; k < s.nb_sources; k++) {
        if (s.sources[k] == d->vcam_source && d->src[d->vcam_source].live) {
            s.crop[k] = lb_vcam_crop(&d->vc);
            s.vcam_slots |= 1 << k;
        } else if (k == 0 && d->mode != LB_DIRECTOR_MANUAL && d->have_cur)
            s.crop[k] = d->cur.crop;
        else
            s.crop[k] = (lb_rectf){ 0, 0, 0, 0 };
    }
    /* a pan keyframe: the target moved (or the camera came on screen);
     * between keyframes lb_vcam_step() alone reproduces the crop */
    if (s.vcam_slots) {
        s.vcam = d->vc;
        s.pan_key = d->settings.log_pans && (!d->vcam_was_shown || d->vc.tx != d->logged_tx || d->vc.ty != d->logged_ty ||
                    d->vc.tw != d->logged_tw);
        d->logged_tx = d->vc.tx;
        d->logged_ty = d->vc.ty;
        d->logged_tw = d->vc.tw;
    }
    d->vcam_was_shown = s.vcam_slots != 0;
    /* taking over and handing back are decisions even on the same shot */
    int operator_now = !strcmp(s.reason, LB_REASON_OPERATOR),
        operator_before = !strcmp(d->current.reason, LB_REASON_OPERATOR);
    int changed = !d->have_current || !same_shot(&s, &d->current) || operator_now != operator_before;
    d->current = s;
    d->have_current = 1;
    pthread_mutex_unlock(&d->lock);
    *shot = s;
    return changed;
}

int lb_director_set_mode(lb_director *d, lb_director_mode mode, const char *shot_name,
                         lb_layout layout, char *err, size_t err_size)
{
    lb_shot shot = { 0 };
    if (mode != LB_DIRECTOR_AUTO && mode != LB_DIRECTOR_MANUAL) {
        snprintf(err, err_size, "mode must be auto or manual");
        return AVERROR(EINVAL);
    }
    if (mode == LB_DIRECTOR_MANUAL && shot_name && *shot_name) {
        int main_src = find_source(&d->setup, shot_name);
        if (main_src < 0) {
            snprintf(err, err_size, "no source or role named '%s'", shot_name);
            return AVERROR(EINVAL);
        }
        if (layout != LB_LAYOUT_INVALID && layout != LB_LAYOUT_SINGLE &&
            layout != LB_LAYOUT_PIP && layout != LB_LAYOUT_SBS) {
            snprintf(err, err_size, "layout must be single, pip or sbs");
            return AVERROR(EINVAL);
        }
        shot.layout = layout ? layout : LB_LAYOUT_SINGLE;
        shot.sources[0] = main_src;
        shot.nb_sources = 1;
        if (shot.layout != LB_LAYOUT_SINGLE) {
            int second = find_source(&d->setup, "teacher");
            if (second == main_src || second < 0)
                second = (main_src + 1) % d->setup.nb_sources;
            shot.sources[1] = second;
            shot.nb_sources = d->setup.nb_sources > 1 ? 2 : 1;
            if (shot.nb_sources == 1)
                shot.layout = LB_LAYOUT_SINGLE;
        }
        snprintf(shot.name, sizeof shot.name, "%s", lb_role_name(d->setup.source_roles[main_src]));
    }
    pthread_mutex_lock(&d->lock);
    d->mode = mode;
    if (mode == LB_DIRECTOR_MANUAL) {
        if (!shot.nb_sources)
            shot = d->current;     /* manual without a shot freezes the current one */
        snprintf(shot.reason, sizeof shot.reason, LB_REASON_OPERATOR);
        d->manual = shot;
    } else {
        memset(&d->manual, 0, sizeof d->manual);
    }
    pthread_mutex_unlock(&d->lock);
    return 0;
}

int lb_director_reconfigure(lb_director *d, const lb_config_section *sec, char *err,
                            size_t err_size)
{
    lb_director_settings next;
    int ret;
    if ((ret = lb_config_apply(sec, lb_director_options, &next, err, err_size)) < 0 ||
        (ret = check_settings(&next, sec, err, err_size)) < 0)
        return ret;
    if (*next.shot && next.mode != LB_DIRECTOR_MANUAL) {
        lb_config_error(sec, "shot", err, err_size,
                        "the automatic director picks its own shots (mode = manual fixes one)");
        return AVERROR(EINVAL);
    }
    /* only the live keys move; the rest keeps what the director was made
     * with.  The program thread writes d->settings (taking next_settings)
     * under the lock; the newest file's are next_settings if not taken yet. */
    pthread_mutex_lock(&d->lock);
    lb_director_settings cur = d->have_next_settings ? d->next_settings : d->settings;
    pthread_mutex_unlock(&d->lock);
    /* the file's mode, shot and layout apply only when the file changes
     * them: an operator's shot taken since stays through any other change */
    int mode_changed = next.mode != cur.mode || strcmp(next.shot, cur.shot) || next.layout != cur.layout;
    lb_option_copy_live(lb_director_options, &cur, &next);
    char why[128];
    if (mode_changed && (ret = lb_director_set_mode(d, (lb_director_mode)next.mode, next.shot,
                                                    (lb_layout)next.layout, why, sizeof why)) < 0) {
        lb_config_error(sec, "shot", err, err_size, "%s", why);
        return ret;
    }
    pthread_mutex_lock(&d->lock);
    d->next_settings = cur;
    d->have_next_settings = 1;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

int lb_director_next_chapter(lb_director *d, char *title, size_t size)
{
    int got = 0;
    pthread_mutex_lock(&d->lock);
    if (d->chapter_read != d->chapter_write) {
        snprintf(title, size, "%s", d->chapters[d->chapter_read % LB_MAX_CHAPTERS]);
        d->chapter_read++;
        got = 1;
    }
    pthread_mutex_unlock(&d->lock);
    return got;
}

lb_director_mode lb_director_get_mode(lb_director *d)
{
    pthread_mutex_lock(&d->lock);
    lb_director_mode m = d->mode;
    pthread_mutex_unlock(&d->lock);
    return m;
}

static void json_escape(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; *in && n + 7 < size; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = 0;
}

int lb_shot_to_json(const lb_shot *shot, int64_t t_us, const lb_director_setup *setup,
                    char *buf, size_t size)
{
    return lb_shot_to_json2(shot, t_us, setup, 0, buf, size);
}

/* Doubles as %.17g: read back, they are the same bits, so a replay of the
 * virtual camera is exact. */
int lb_shot_to_json2(const lb_shot *shot, int64_t t_us, const lb_director_setup *setup, int pan,
                     char *buf, size_t size)
{
    char names[256] = "", reason[512], extra[640] = "";
    size_t n = 0;
    for (int i = 0; i < shot->nb_sources && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s\"%s\"", i ? "," : "",
                              setup->source_names[shot->sources[i]]);
    json_escape(shot->reason, reason, sizeof reason);
    n = 0;
#define PUT(...)                                                                  \
    do {                                                                          \
        if (n < sizeof extra)                                                     \
            n += (size_t)snprintf(extra + n, sizeof extra - n, __VA_ARGS__);      \
    } while (0)
    if (shot->nb_sources) {
        PUT(", \"crop\": [");
        for (int k = 0; k < shot->nb_sources; k++) {
            const lb_rectf *c = &shot->crop[k];
            if (shot->vcam_slots & (1 << k))
                PUT("%s\"vcam\"", k ? ", " : "");
            else if (c->w > 0)
                PUT("%s[%.17g, %.17g, %.17g, %.17g]", k ? ", " : "", c->x, c->y, c->w, c->h);
            else
                PUT("%snull", k ? ", " : "");
        }
        PUT("]");
    }
    if (shot->vcam_slots) {
        const lb_vcam_state *v = &shot->vcam;
        PUT(", \"vcam\": {\"x\": %.17g, \"y\": %.17g, \"w\": %.17g, \"tx\": %.17g, \"ty\": %.17g, "
            "\"tw\": %.17g}", v->x, v->y, v->w, v->tx, v->ty, v->tw);
    }
    if (pan)
        PUT(", \"pan\": true");
#undef PUT
    if (n >= sizeof extra)
        return AVERROR(ENOSPC);
    /* the reason's parts as codes (reasons.c), last: for pages in other
     * languages; left out of a line they would not fit in */
    cJSON *codes = lb_director_reasons_json(shot->reason);
    char *codes_text = codes ? cJSON_PrintUnformatted(codes) : NULL;
    cJSON_Delete(codes);
    /* t printed from integers so that offline logs are byte-identical */
    int len = -1;
    for (int with_codes = !!codes_text; with_codes >= 0; with_codes--) {
        len = snprintf(buf, size,
                       "{\"t\": %lld.%03lld, \"shot\": \"%s\", \"layout\": \"%s\", \"sources\": [%s], \"reason\": \"%s\"%s%s%s}",
                       (long long)(t_us / 1000000), (long long)(t_us / 1000 % 1000), shot->name,
                       lb_layout_name(shot->layout), names, reason, extra, with_codes ? ", \"reasons\": " : "",
                       with_codes ? codes_text : "");
        if (len >= 0 && (size_t)len < size)
            break;
    }
    free(codes_text);
    return len;
}
