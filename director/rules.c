/* The rules: each looks at the analysis and proposes at most one shot with
 * its weight and a reason in plain words.  Their order breaks ties. */
#include "director_internal.h"

#include <stdio.h>
#include <string.h>

/* The teacher as an inset: the virtual camera if it is a teacher camera. */
static int teacher_inset(const lb_director *d, int main)
{
    int t = d->vcam_source;
    if (t < 0 || d->setup.source_roles[t] != LB_ROLE_TEACHER || !d->src[t].live)
        t = lb_find_live(d, LB_ROLE_TEACHER);
    return t == main ? -1 : t;
}

static void with_inset(const lb_director *d, lb_candidate *c, lb_layout layout)
{
    c->second = layout == LB_LAYOUT_SINGLE ? -1 : teacher_inset(d, c->main);
    c->layout = c->second >= 0 ? layout : LB_LAYOUT_SINGLE;
}

static int propose_students(const lb_director *d, int64_t t_us, lb_candidate *c)
{
    const lb_director_settings *st = &d->settings;
    const lb_mic_analysis *mic = NULL;
    int mic_index = -1;
    for (int m = 0; m < d->setup.nb_mics; m++)
        if (d->setup.mic_roles[m] == LB_ROLE_STUDENTS && d->mic[m].speaking &&
            (!mic || d->mic[m].level_dbfs > mic->level_dbfs)) {
            mic = &d->mic[m];
            mic_index = m;
        }
    /* the best "stand" zone, else the whole picture of a students camera */
    const lb_zone *zone = NULL;
    int zones = 0;
    for (int z = 0; z < d->nb_zones; z++) {
        const lb_zone *zn = &d->zones[z];
        if (strcmp(zn->name, "stand"))
            continue;
        zones++;
        if (d->src[zn->source].live && (!zone || zn->presence > zone->presence))
            zone = zn;
    }
    int stand_src = -1;
    double presence = 0, motion = 0;
    int64_t since = INT64_MIN;
    if (zone) {
        stand_src = zone->source;
        presence = zone->presence;
        motion = zone->motion;
        since = zone->present_since_us;
    } else if (!zones) {
        /* a student standing is a small part of a wide students picture;
         * half of it new is the camera zooming or the lights */
        for (int i = 0; i < d->setup.nb_sources; i++)
            if (d->setup.source_roles[i] == LB_ROLE_STUDENTS && d->src[i].live &&
                d->src[i].presence > presence && d->src[i].presence <= st->stand_max) {
                presence = d->src[i].presence;
                motion = d->src[i].motion;
                since = d->src[i].present_since_us;
                stand_src = i;
            }
    }
    /* someone bending down for a pen is up for less than stand_s */
    int standing = stand_src >= 0 && presence >= st->stand_min && since != INT64_MIN &&
                   t_us - since >= (int64_t)(st->stand_s * 1e6);
    if (!mic && !standing)
        return 0;
    c->main = standing ? stand_src : lb_find_live(d, LB_ROLE_STUDENTS);
    if (c->main < 0)
        return 0;
    c->score = st->weight_students;
    c->layout = LB_LAYOUT_SINGLE;
    c->event = standing;
    if (standing && !zone && st->students_closeup && d->src[stand_src].has_centroid) {
        /* no zone: frame where the picture changed lately, a student's
         * height being about a third of a wide students picture */
        const lb_source_analysis *a = &d->src[stand_src];
        double size = 0.5;
        double x = a->cx - size / 2, y = a->cy - size / 2;
        x = x < 0 ? 0 : x + size > 1 ? 1 - size : x;
        y = y < 0 ? 0 : y + size > 1 ? 1 - size : y;
        c->crop = (lb_rectf){ x, y, size, size };
    } else if (standing && zone && st->students_closeup) {
        /* frame the student who stands: about twice their height, as an
         * operator would with a PTZ camera; kept for the whole shot */
        double size = 4.5 * zone->spread_y;
        size = size < 0.4 ? 0.4 : size > 1 ? 1 : size;
        double x = zone->cx - size / 2, y = zone->cy - size / 2;
        x = x < 0 ? 0 : x + size > 1 ? 1 - size : x;
        y = y < 0 ? 0 : y + size > 1 ? 1 - size : y;
        c->crop = (lb_rectf){ x, y, size, size };
    }
    int n = 0;
    if (mic)
        n = snprintf(c->reason, sizeof c->reason, LB_REASON_MIC_SPEAKING "%s",
                     d->setup.mic_names[mic_index], mic->level_dbfs, standing ? "; " : "");
    /* snprintf gives the length it would have written: a long mic name
     * must not put the second part past the buffer */
    if (n < 0 || (size_t)n >= sizeof c->reason)
        n = n < 0 ? 0 : (int)sizeof c->reason - 1;
    if (standing)
        snprintf(c->reason + n, sizeof c->reason - (size_t)n,
                 zone ? (c->crop.w > 0 ? LB_REASON_STUDENT_STANDING_ZONE_CLOSEUP : LB_REASON_STUDENT_STANDING_ZONE)
                      : (c->crop.w > 0 ? LB_REASON_STUDENT_STANDING_CLOSEUP : LB_REASON_STUDENT_STANDING),
                 presence, motion, zone ? zone->name : d->setup.source_names[stand_src]);
    return 1;
}

static int propose_slide(const lb_director *d, int64_t t_us, lb_candidate *c)
{
    const lb_director_settings *st = &d->settings;
    int best = -1;
    for (int i = 0; i < d->setup.nb_sources; i++) {
        const lb_source_analysis *a = &d->src[i];
        if (d->setup.source_roles[i] == LB_ROLE_SCREEN && a->live && !a->blank && a->last_slide_us != INT64_MIN &&
            (best < 0 || a->last_slide_us > d->src[best].last_slide_us))
            best = i;
    }
    if (best < 0)
        return 0;
    /* a change being confirmed while the last slide is still shown full
     * keeps it full: a flip through slides does not blink to the inset */
    double age = (double)(t_us - d->src[best].last_slide_us) / 1e6;
    if (d->src[best].slide_pending &&
        d->src[best].slide_pending_us - d->src[best].last_slide_us <= (int64_t)(st->slide_full_s * 1e6))
        age = 0;
    if (age >= st->slide_pip_s)
        return 0;
    c->main = best;
    if (age < st->slide_full_s) {
        c->score = st->weight_slide;
        c->event = 1;
        c->layout = LB_LAYOUT_SINGLE;
        snprintf(c->reason, sizeof c->reason, LB_REASON_NEW_SLIDE,
                 d->setup.source_names[best], age);
    } else {
        c->score = st->weight_slide_pip;
        with_inset(d, c, LB_LAYOUT_PIP);
        snprintf(c->reason, sizeof c->reason, c->second >= 0 ? LB_REASON_SLIDE_TEACHER_INSET : LB_REASON_SLIDE,
                 d->setup.source_names[best], age);
    }
    return 1;
}

static int propose_video(const lb_director *d, int64_t t_us, lb_candidate *c)
{
    for (int i = 0; i < d->setup.nb_sources; i++) {
        const lb_source_analysis *a = &d->src[i];
        if (d->setup.source_roles[i] != LB_ROLE_SCREEN || !a->live || !a->video || a->blank)
            continue;
        c->main = i;
        c->score = d->settings.weight_video;
        c->layout = LB_LAYOUT_SINGLE;
        snprintf(c->reason, sizeof c->reason, LB_REASON_VIDEO,
                 d->setup.source_names[i], a->motion);
        return 1;
    }
    return 0;
}

static int propose_board(const lb_director *d, int64_t t_us, lb_candidate *c)
{
    const lb_director_settings *st = &d->settings;
    int best = -1;
    double best_marks = 0;
    for (int i = 0; i < d->setup.nb_sources; i++) {
        double marks = lb_board_marks(&d->src[i]);
        if (d->setup.source_roles[i] == LB_ROLE_BOARD && d->src[i].live && d->src[i].writing &&
            marks >= st->board_min_marks && marks > best_marks) {
            best = i;
            best_marks = marks;
        }
    }
    if (best < 0)
        return 0;
    c->main = best;
    c->score = st->weight_board;
    with_inset(d, c, (lb_layout)st->board_layout);
    const lb_source_analysis *a = &d->src[best];
    snprintf(c->reason, sizeof c->reason, LB_REASON_BOARD_WRITING,
             d->setup.source_names[best], best_marks * 100, st->board_hold_s,
             (double)(t_us - a->last_mark_us) / 1e6, a->active >= LB_BOARD_PERSON_MIN ? "someone" : "nobody",
             a->board_seen_us == INT64_MIN ? -1.0 : (double)(t_us - a->board_seen_us) / 1e6);
    return 1;
}

/* The room, for a voice whose camera is lost. */
static int stand_in(const lb_director *d)
{
    static const lb_role order[] = { LB_ROLE_WIDE, LB_ROLE_SCREEN, LB_ROLE_BOARD, LB_ROLE_STUDENTS };
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        int s = lb_find_live(d, order[k]);
        if (s >= 0)
            return s;
    }
    return -1;
}

static int propose_speaker(const lb_director *d, int64_t t_us, lb_candidate *c)
{
    int best = -1, src = -1;
    for (int m = 0; m < d->setup.nb_mics; m++) {
        lb_role role = d->setup.mic_roles[m];
        if (role == LB_ROLE_STUDENTS || !d->mic[m].speaking)
            continue;
        int s = role == LB_ROLE_TEACHER ? teacher_inset(d, -1) : lb_find_live(d, role);
        if (best < 0 || d->mic[m].level_dbfs > d->mic[best].level_dbfs) {
            best = m;
            src = s;
        }
    }
    if (best < 0)
        return 0;
    c->score = d->settings.weight_speaker;
    c->layout = LB_LAYOUT_SINGLE;
    if ((c->main = src) >= 0) {
        snprintf(c->reason, sizeof c->reason, LB_REASON_MIC_SPEAKING, d->setup.mic_names[best],
                 d->mic[best].level_dbfs);
        return 1;
    }
    if ((c->main = stand_in(d)) < 0)
        return 0;
    snprintf(c->reason, sizeof c->reason, LB_REASON_MIC_SPEAKING_CAMERA_LOST,
             d->setup.mic_names[best], d->mic[best].level_dbfs, d->setup.source_names[c->main]);
    return 1;
}

static int propose_idle(const lb_director *d, int64_t t_us, lb_candidate *c)
{
    static const lb_role order[] = { LB_ROLE_WIDE, LB_ROLE_TEACHER, LB_ROLE_STUDENTS,
                                     LB_ROLE_SCREEN, LB_ROLE_BOARD };
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        int s = order[k] == LB_ROLE_TEACHER ? teacher_inset(d, -1) : lb_find_live(d, order[k]);
        if (s < 0)
            continue;
        c->main = s;
        c->score = d->settings.weight_idle;
        c->layout = LB_LAYOUT_SINGLE;
        snprintf(c->reason, sizeof c->reason, LB_REASON_IDLE, lb_role_name(order[k]));
        return 1;
    }
    return 0;
}

#define RULE(n) static const lb_rule_ops rule_##n = { #n, propose_##n }
RULE(students);
RULE(slide);
RULE(board);
RULE(video);
RULE(speaker);
RULE(idle);

const lb_rule_ops *const lb_director_rules[] = {
    &rule_students, &rule_slide, &rule_board, &rule_video, &rule_speaker, &rule_idle, NULL,
};
