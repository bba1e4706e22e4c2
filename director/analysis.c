/* Design note: the analysis, on small luma copies at about 10 Hz.
 *
 * Every live source is shrunk to analysis_width (160) wide, grey, by
 * libswscale with area averaging, which also averages sensor and coding
 * noise away.  One pass over the small picture keeps, per pixel:
 *  - moving: |cur - prev| > motion_threshold (prev: the last tick);
 *  - still: ticks in a row without moving;
 *  - bg: a background (8.8 fixed point) learnt where nothing is in front of
 *    it; what differs from it by presence_threshold, the picture's median
 *    brightness aligned with the background's (the lights, the camera's
 *    exposure), is foreground (a person); foreground that moved within
 *    ACTIVE_S is someone there (on a board camera: someone at the board);
 *    foreground that stays still for absorb_s becomes background, so a ghost
 *    left by someone who stood still goes away; the teacher's centroid is
 *    taken over foreground that moved in the last 2 s, which leaves such
 *    ghosts out at once;
 *  - ref: the board as last settled.  A pixel that differs from ref and has
 *    been still for board_persist_s settles into ref; if it moved away from
 *    the board's colour (the median of ref) it is a new mark, if it moved
 *    back towards it, it was erased.  The whole 8x8 block around it must
 *    have been still as long: a mark counts once the hand has left it, if
 *    at least 3 pixels of the block settle at once (a lone pixel is noise)
 *    and no block around it filled at once in the last 5 s (someone
 *    standing still: the rest of the body settles in the next ticks),
 *    and the board's brightness is aligned with ref's first (the camera's
 *    exposure drifting is not writing).  A teacher walking past never settles;
 *    one who stops in front of the board settles as one large blob at once,
 *    which is told apart from writing (thin strokes, a few pixels a tick) by
 *    its size.  Marks start a writing session only while someone is at
 *    the board (board_writing()).
 * A students picture moving in a quarter of its blocks at once (the camera
 * knocked or panned) is learnt anew, like one that changed at once.
 * Zones sum moving and foreground pixels in their rectangles.  Screens add
 * two detectors on the share of moving pixels: a slide is a burst that then
 * settles for slide_settle_s into a picture that differs from the one before
 * the burst; video is motion above video_min in most ticks of video_s.
 *
 * Mics: a level smoothed in power (100 ms), a noise floor that follows the
 * quietest level down at once and up by 0.2 dB/s, voice when the level is
 * above both vad_threshold_dbfs and the floor plus vad_margin_db and within
 * vad_dominance_db of the loudest mic (so the teacher's voice leaking into
 * the students' mic is not the students speaking), for vad_attack_s, held
 * for vad_hangover_s; while speaking, any voice renews the hangover.  The
 * attack also wants the unsmoothed level above the threshold for most of
 * it (a bang's smoothed level lingers). */
#include "director_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/error.h>
#include <libavutil/common.h>
#include <libavutil/dict.h>
#include <libavutil/mem.h>
#include <libswscale/swscale.h>

#include "lb_log.h"

#define FLOOR_RISE_DB_PER_S 0.2
#define LEVEL_SMOOTH_S 0.1
#define LOUD_SHARE 0.6
#define SILENCE_DBFS (-120.0)
/* a settle of more than this share of the picture in one tick is someone
 * standing still in front of the board, not writing */
#define MARKS_BLOB_MAX 0.015
#define SLIDE_MAX_S 2.0
#define TRACK_S 2.0             /* foreground that moved this recently is tracked */
#define RELEARN 0.6             /* share of the picture: not a person */
#define MARK_MIN_PIXELS 3       /* settling in one block at once to count as a mark */
#define OCCLUSION_S 5.0         /* after a body settled, its neighbourhood is not writing */
#define BLANK_PERCENT 95        /* of a screen within 4 levels of its median: blank */
#define BLOCK 8                 /* stillness of the neighbourhood, analysis pixels */
#define FRAME_MOTION_BLOCKS 0.25 /* share of a students picture's blocks moving: the camera moved */
#define ACTIVE_S 0.5            /* foreground that moved this recently is someone there */

int lb_find_role(const lb_director *d, lb_role role)
{
    for (int i = 0; i < d->setup.nb_sources; i++)
        if (d->setup.source_roles[i] == role)
            return i;
    return -1;
}

int lb_find_live(const lb_director *d, lb_role role)
{
    for (int i = 0; i < d->setup.nb_sources; i++)
        if (d->setup.source_roles[i] == role && d->src[i].live)
            return i;
    return -1;
}

static int source_by_ref(const lb_director_setup *setup, const char *ref)
{
    for (int i = 0; i < setup->nb_sources; i++)
        if (!strcmp(setup->source_names[i], ref))
            return i;
    for (int i = 0; i < setup->nb_sources; i++)
        if (!strcmp(lb_role_name(setup->source_roles[i]), ref))
            return i;
    return -1;
}

/* zones = NAME@SOURCE:x,y,w,h[; ...] with SOURCE a source name or role and
 * the rectangle in shares of the picture. */
int lb_zones_parse(lb_director *d, const lb_config_section *sec, char *err, size_t err_size)
{
    char buf[LB_ZONES_SIZE];
    snprintf(buf, sizeof buf, "%s", d->settings.zones);
    char *save = NULL;
    for (char *item = strtok_r(buf, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        while (*item == ' ' || *item == '\t')
            item++;
        if (!*item)
            continue;
        char *at = strchr(item, '@'), *colon = at ? strchr(at, ':') : NULL;
        if (!at || !colon || at == item || colon == at + 1) {
            lb_config_error(sec, "zones", err, err_size,
                            "'%s' is not NAME@SOURCE:x,y,w,h (e.g. stand@students:0.5,0.2,0.3,0.6)",
                            item);
            return AVERROR(EINVAL);
        }
        if (d->nb_zones == LB_MAX_ZONES) {
            lb_config_error(sec, "zones", err, err_size, "more than %d zones", LB_MAX_ZONES);
            return AVERROR(EINVAL);
        }
        *at = *colon = 0;
        lb_zone *z = &d->zones[d->nb_zones];
        if (strlen(item) >= sizeof z->name) {
            lb_config_error(sec, "zones", err, err_size, "zone name '%s' is too long", item);
            return AVERROR(EINVAL);
        }
        char *src = at + 1;
        while (*src == ' ')
            src++;
        char *end = src + strlen(src);
        while (end > src && end[-1] == ' ')
            *--end = 0;
        snprintf(z->name, sizeof z->name, "%s", item);
        char *nend = z->name + strlen(z->name);
        while (nend > z->name && nend[-1] == ' ')
            *--nend = 0;
        if ((z->source = source_by_ref(&d->setup, src)) < 0) {
            lb_config_error(sec, "zones", err, err_size, "zone '%s': no source or role named '%s'",
                            z->name, src);
            return AVERROR(EINVAL);
        }
        double v[4];
        char *p = colon + 1;
        for (int k = 0; k < 4; k++) {
            char *e;
            v[k] = strtod(p, &e);
            while (*e == ' ')
                e++;
            if (e == p || (k < 3 && *e != ',') || (k == 3 && *e) || !isfinite(v[k])) {
                lb_config_error(sec, "zones", err, err_size,
                                "zone '%s': '%s' is not four numbers x,y,w,h", z->name, colon + 1);
                return AVERROR(EINVAL);
            }
            p = e + 1;
        }
        if (v[0] < 0 || v[1] < 0 || v[2] <= 0 || v[3] <= 0 || v[0] + v[2] > 1.0001 ||
            v[1] + v[3] > 1.0001) {
            lb_config_error(sec, "zones", err, err_size,
                            "zone '%s': %g,%g,%g,%g is not inside the picture (0..1)",
                            z->name, v[0], v[1], v[2], v[3]);
            return AVERROR(EINVAL);
        }
        z->rect = (lb_rectf){ v[0], v[1], v[2], v[3] };
        d->nb_zones++;
    }
    return 0;
}

int lb_analysis_init(lb_director *d, char *err, size_t err_size)
{
    for (int i = 0; i < d->setup.nb_sources; i++) {
        d->src[i].pts_moved_us = INT64_MIN;
        d->src[i].last_slide_us = INT64_MIN;
        d->src[i].last_mark_us = INT64_MIN;
        d->src[i].last_video_us = INT64_MIN;
        d->src[i].last_chapter_us = INT64_MIN;
        d->src[i].present_since_us = INT64_MIN;
        d->src[i].board_seen_us = INT64_MIN;
    }
    for (int z = 0; z < d->nb_zones; z++)
        d->zones[z].present_since_us = INT64_MIN;
    for (int m = 0; m < d->setup.nb_mics; m++) {
        d->mic[m].level_dbfs = SILENCE_DBFS;
        d->mic[m].floor_dbfs = 0;
        d->mic[m].last_voice_us = INT64_MIN;
    }
    return 0;
}

static void free_buffers(lb_source_analysis *a)
{
    av_freep(&a->cur);
    av_freep(&a->prev);
    av_freep(&a->ref);
    av_freep(&a->still);
    av_freep(&a->before);
    av_freep(&a->mask);
    av_freep(&a->block_still);
    av_freep(&a->block_settled);
    av_freep(&a->block_occluded);
    av_freep(&a->bg);
    av_freep(&a->fg_ticks);
}

void lb_analysis_uninit(lb_director *d)
{
    for (int i = 0; i < LB_MAX_SOURCES; i++) {
        sws_freeContext(d->src[i].sws);
        d->src[i].sws = NULL;
        free_buffers(&d->src[i]);
    }
}

static int is_slate(const AVFrame *f)
{
    return f->metadata && av_dict_get(f->metadata, LB_SLATE_METADATA, NULL, 0);
}

void lb_analysis_liveness(lb_director *d, int64_t t_us, AVFrame *const *frames)
{
    int64_t stale_us = (int64_t)(d->settings.stale_s * 1e6);
    for (int i = 0; i < d->setup.nb_sources; i++) {
        lb_source_analysis *a = &d->src[i];
        const AVFrame *f = frames ? frames[i] : NULL;
        int was = a->live;
        if (!f || is_slate(f)) {
            a->live = 0;
        } else {
            if (a->pts_moved_us == INT64_MIN || f->pts != a->last_pts || f->pts == AV_NOPTS_VALUE) {
                a->last_pts = f->pts;
                a->pts_moved_us = t_us;
            }
            a->live = t_us - a->pts_moved_us < stale_us;
        }
        if (!a->live) {
            /* coming back, the picture is compared with nothing old */
            a->have_prev = 0;
            a->has_centroid = 0;
            a->slide_pending = 0;
            a->motion = a->presence = 0;
            a->present_since_us = INT64_MIN;
        }
        if (was != a->live && d->ticked)
            LB_LOGI("director", "source %s %s", d->setup.source_names[i],
                    a->live ? "is back" : "is lost");
    }
}

static int alloc_buffers(lb_director *d, lb_source_analysis *a, const AVFrame *f)
{
    a->w = d->settings.analysis_width & ~1;
    a->h = (int)lrint((double)a->w * f->height / f->width) & ~1;
    if (a->h < 8)
        a->h = 8;
    size_t n = (size_t)a->w * (size_t)a->h;
    size_t nb_blocks = (size_t)(((a->w + BLOCK - 1) / BLOCK) * ((a->h + BLOCK - 1) / BLOCK));
    if (!(a->cur = av_malloc(n)) || !(a->prev = av_malloc(n)) || !(a->ref = av_malloc(n)) ||
        !(a->still = av_mallocz(n)) || !(a->before = av_malloc(n)) ||
        !(a->mask = av_mallocz(n)) || !(a->block_still = av_mallocz(nb_blocks)) ||
        !(a->block_settled = av_mallocz(nb_blocks)) || !(a->block_occluded = av_mallocz(nb_blocks)) || !(a->bg = av_malloc(n * 2)) ||
        !(a->fg_ticks = av_mallocz(n * 2))) {
        free_buffers(a);
        return AVERROR(ENOMEM);
    }
    a->have_prev = 0;
    a->fresh = 1;
    return 0;
}

static int shrink(lb_director *d, lb_source_analysis *a, const AVFrame *f)
{
    int ret;
    if (!a->cur && (ret = alloc_buffers(d, a, f)) < 0)
        return ret;
    /* a tall picture is read every other row: area averaging over the
     * rest still smooths the noise, at half the cost */
    int skip = f->height >= 4 * a->h ? 2 : 1;
    int linesize[4];
    for (int p = 0; p < 4; p++)
        linesize[p] = f->linesize[p] * skip;
    a->sws = sws_getCachedContext(a->sws, f->width, f->height / skip, f->format, a->w, a->h,
                                  AV_PIX_FMT_GRAY8, SWS_AREA, NULL, NULL, NULL);
    if (!a->sws)
        return AVERROR(EINVAL);
    uint8_t *dst[4] = { a->cur };
    int dst_linesize[4] = { a->w };
    ret = sws_scale(a->sws, (const uint8_t *const *)f->data, linesize, 0, f->height / skip, dst,
                    dst_linesize);
    return ret < 0 ? ret : 0;
}

static int median(const uint8_t *p, int n)
{
    int hist[256] = { 0 };
    for (int i = 0; i < n; i++)
        hist[p[i]]++;
    int acc = 0;
    for (int v = 0; v < 256; v++)
        if ((acc += hist[v]) * 2 >= n)
            return v;
    return 128;
}

static int is_board(const lb_director *d, int source)
{
    return d->setup.source_roles[source] == LB_ROLE_BOARD;
}

double lb_board_marks(const lb_source_analysis *a)
{
    return a->w ? (double)a->marks_sum / ((double)a->w * a->h) : 0;
}

static void push_chapter(lb_director *d, const char *title)
{
    pthread_mutex_lock(&d->lock);
    if (d->chapter_write - d->chapter_read < LB_MAX_CHAPTERS) {
        snprintf(d->chapters[d->chapter_write % LB_MAX_CHAPTERS],
                 sizeof d->chapters[0], "%s", title);
        d->chapter_write++;
    }
    pthread_mutex_unlock(&d->lock);
}

static void analyse_screen(lb_director *d, int i, int64_t t_us)
{
    const lb_director_settings *st = &d->settings;
    lb_source_analysis *a = &d->src[i];
    int n = a->w * a->h;
    int ticks = (int)lrint(st->video_s * st->analysis_hz);
    ticks = ticks < 1 ? 1 : ticks > LB_RING ? LB_RING : ticks;

    /* a blank screen (the presenter blanked it, a "no signal" card) is
     * nothing to show: neither a slide nor a chapter */
    int level = median(a->cur, n), flat = 0;
    for (int k = 0; k < n; k++)
        flat += abs(a->cur[k] - level) <= 4;
    a->blank = flat * 100 >= n * BLANK_PERCENT;

    int moving = a->motion >= st->video_min;
    if (a->video_len == ticks)
        a->video_sum -= a->video_ring[(a->video_pos + LB_RING - ticks) % LB_RING];
    else
        a->video_len++;
    a->video_ring[a->video_pos] = (uint8_t)moving;
    a->video_pos = (a->video_pos + 1) % LB_RING;
    a->video_sum += moving;
    a->video = a->video_len == ticks && a->video_sum * 10 >= ticks * 6;

    if (a->video) {
        a->slide_pending = 0;
        a->last_video_us = t_us;
        return;
    }
    /* the picture that comes back when a video stops is not a new slide */
    if (a->last_video_us != INT64_MIN && t_us - a->last_video_us < (int64_t)(st->video_s * 1e6)) {
        a->slide_pending = 0;
        return;
    }
    if (!a->slide_pending) {
        if (a->motion >= st->slide_min) {
            a->slide_pending = 1;
            a->slide_pending_us = a->slide_last_change_us = t_us;
            memcpy(a->before, a->prev, (size_t)n);
        }
        return;
    }
    if (a->motion >= st->slide_min / 2)
        a->slide_last_change_us = t_us;
    if (t_us - a->slide_pending_us > (int64_t)(SLIDE_MAX_S * 1e6)) {
        a->slide_pending = 0;   /* changing for too long: not a slide */
        return;
    }
    if (t_us - a->slide_last_change_us < (int64_t)(st->slide_settle_s * 1e6))
        return;
    a->slide_pending = 0;
    int changed = 0;
    for (int k = 0; k < n; k++)
        changed += abs(a->cur[k] - a->before[k]) > st->motion_threshold;
    if (changed < st->slide_min * n || a->blank)
        return;                 /* came back to the same picture (a flash), or blank */
    a->last_slide_us = a->slide_pending_us;
    LB_LOGD("director", "%s: new slide (%.1f%% changed)", d->setup.source_names[i],
            100.0 * changed / n);
    /* a bullet appearing is worth a look, not a chapter */
    if (changed < st->chapter_min * n ||
        (a->last_chapter_us != INT64_MIN &&
         t_us - a->last_chapter_us < (int64_t)(st->chapter_gap_s * 1e6)))
        return;
    a->last_chapter_us = t_us;
    a->slides++;
    char title[64];
    snprintf(title, sizeof title, "Slide %d", a->slides + 1);
    if (d->nb_screens > 1)
        snprintf(title, sizeof title, "%s: slide %d", d->setup.source_names[i], a->slides + 1);
    push_chapter(d, title);
}

static void zone_pixels(const lb_zone *zn, int w, int h, int *x0, int *y0, int *x1, int *y1)
{
    *x0 = (int)(zn->rect.x * w);
    *y0 = (int)(zn->rect.y * h);
    *x1 = (int)ceil((zn->rect.x + zn->rect.w) * w);
    *y1 = (int)ceil((zn->rect.y + zn->rect.h) * h);
    *x1 = *x1 > w ? w : *x1;
    *y1 = *y1 > h ? h : *y1;
}

/* A writing session starts with a mark that settles while someone is
 * still at the board (a stroke added in passing settles after they left;
 * a walk past leaves none).  Someone is there when foreground moved in
 * front of the board within ACTIVE_S.  It ends when the marks stop for
 * board_hold_s, or sooner on the evidence that the teacher has left: nobody
 * at the board for board_leave_s and the teacher, lost by the podium
 * camera meanwhile, back in its picture. */
static void board_writing(lb_director *d, lb_source_analysis *a, int marks, int64_t t_us)
{
    const lb_director_settings *st = &d->settings;
    if (a->active >= LB_BOARD_PERSON_MIN)
        a->board_seen_us = t_us;
    int present = a->board_seen_us != INT64_MIN &&
                  t_us - a->board_seen_us < (int64_t)(st->board_leave_s * 1e6);
    int held = lb_board_marks(a) >= st->board_min_marks;
    int tc = d->vcam_source >= 0 && d->setup.source_roles[d->vcam_source] == LB_ROLE_TEACHER
                 ? d->vcam_source : lb_find_role(d, LB_ROLE_TEACHER);
    int podium = tc >= 0 && d->src[tc].live ? d->src[tc].has_centroid : -1;
    if (!a->writing) {
        /* a board camera that never saw anyone (a visualiser, a tight
         * framing) has only the marks to go by */
        int someone = a->active >= LB_BOARD_PERSON_MIN || a->board_seen_us == INT64_MIN;
        if (marks && someone && held) {
            a->writing = 1;
            a->writing_since_us = t_us;
            a->podium_left = podium == 0;
        }
        return;
    }
    if (podium == 0)
        a->podium_left = 1;
    if (!held || (!present && a->podium_left && podium == 1))
        a->writing = 0;
}

static void analyse_source(lb_director *d, int i, int64_t t_us)
{
    const lb_director_settings *st = &d->settings;
    lb_source_analysis *a = &d->src[i];
    const int w = a->w, h = a->h, n = w * h;
    const int thr_m = st->motion_threshold, thr_p = st->presence_threshold;
    const int absorb = (int)lrint(st->absorb_s * st->analysis_hz);
    const int persist = (int)lrint(st->board_persist_s * st->analysis_hz);
    const int board = is_board(d, i);

    if (a->fresh) {
        for (int k = 0; k < n; k++) {
            a->bg[k] = (uint16_t)(a->cur[k] << 8);
            a->ref[k] = a->cur[k];
        }
        a->board_level = median(a->ref, n);
        a->fresh = 0;
    }
    if (!a->have_prev)
        memcpy(a->prev, a->cur, (size_t)n);

    int moving = 0, fg = 0, marks = 0, tracked = 0, active = 0;
    /* the teacher is tracked inside a zone "podium" of this camera, if any */
    int tx0 = 0, ty0 = 0, tx1 = w, ty1 = h;
    for (int z = 0; z < d->nb_zones; z++) {
        const lb_zone *zn = &d->zones[z];
        if (zn->source == i && !strcmp(zn->name, "podium"))
            zone_pixels(zn, w, h, &tx0, &ty0, &tx1, &ty1);
    }
    const int track = (int)lrint(TRACK_S * st->analysis_hz);
    const int active_ticks = (int)lrint(ACTIVE_S * st->analysis_hz);
    /* the lights or the camera's exposure moving the whole picture is
     * nobody: compare with the background brightness aligned (screens
     * change as a whole on purpose) */
    int bg_offset = 0, motion_offset = 0;
    if (d->setup.source_roles[i] != LB_ROLE_SCREEN) {
        int hist[256] = { 0 };
        for (int k = 0; k < n; k++)
            hist[(a->bg[k] + 128) >> 8 > 255 ? 255 : (a->bg[k] + 128) >> 8]++;
        int acc = 0, bg_median = 128;
        for (int v = 0; v < 256; v++)
            if ((acc += hist[v]) * 2 >= n) {
                bg_median = v;
                break;
            }
        int cur_median = median(a->cur, n);
        bg_offset = cur_median - bg_median;
        /* and motion is measured brightness aligned too: the lights
         * switched move every pixel at once, which is not the camera
         * knocked (that would learn a standing student into the
         * background) */
        motion_offset = a->have_prev ? cur_median - a->prev_median : 0;
        a->prev_median = cur_median;
    }
    double sx = 0, sy = 0, sxx = 0;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int k = y * w + x;
            int c = a->cur[k];
            int m = abs(c - a->prev[k] - motion_offset) > thr_m;
            a->still[k] = m ? 0 : a->still[k] < 255 ? a->still[k] + 1 : 255;
            int b = (a->bg[k] + 128) >> 8;
            int f = abs(c - bg_offset - b) > thr_p;
            if (f) {
                active += a->still[k] < active_ticks;
                a->fg_ticks[k] = m ? 0 : a->fg_ticks[k] + 1;
                if (a->fg_ticks[k] > absorb) {
                    a->bg[k] = (uint16_t)(c << 8);
                    a->fg_ticks[k] = 0;
                } else if (bg_offset) {
                    /* behind someone standing, the background follows the
                     * lights as the rest of it does (else where they stood
                     * shows the old lights when they sit: a ghost) */
                    int v = a->bg[k] + bg_offset * 16;
                    a->bg[k] = (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v);
                }
                /* someone who moved lately: not the ghost of where the
                 * teacher stood when the background was first learnt */
                if (a->still[k] < track && x >= tx0 && x < tx1 && y >= ty0 && y < ty1) {
                    sx += x;
                    sy += y;
                    sxx += (double)x * x;
                    tracked++;
                }
            } else {
                a->bg[k] = (uint16_t)(a->bg[k] + (((c << 8) - a->bg[k]) >> 4));
                a->fg_ticks[k] = 0;
            }
            a->mask[k] = (uint8_t)(m | f << 1);
            moving += m;
            fg += f;
        }
    }
    /* most of a camera's picture new at once is not a person: the lights,
     * the camera moved, a "no signal" card.  Learn the picture anew. */
    int relearn = d->setup.source_roles[i] != LB_ROLE_SCREEN && fg > RELEARN * n;
    if (relearn) {
        LB_LOGI("director", "%s: %.0f%% of the picture changed at once, learning it anew",
                d->setup.source_names[i], 100.0 * fg / n);
        a->fresh = 1;
        fg = tracked = 0;
    }
    /* settle changes where the whole block has been still long enough:
     * a swaying body's edges keep their blocks moving, a finished stroke's
     * block goes still once the hand has left it */
    const int bw = (w + BLOCK - 1) / BLOCK, bh = (h + BLOCK - 1) / BLOCK;
    /* the camera's exposure or the room's light drifting moves the whole
     * board: compare with the board as it was, brightness aligned */
    int offset = board ? median(a->cur, n) - median(a->ref, n) : 0;
    int settled_all = 0, moved_blocks = 0;
    const int students = d->setup.source_roles[i] == LB_ROLE_STUDENTS;
    const int occlusion_ticks = (int)lrint(OCCLUSION_S * st->analysis_hz);
    for (int by = 0; by < bh && !relearn; by++) {
        for (int bx = 0; bx < bw; bx++) {
            int b = by * bw + bx;
            int x0 = bx * BLOCK, y0 = by * BLOCK;
            int x1 = x0 + BLOCK < w ? x0 + BLOCK : w, y1 = y0 + BLOCK < h ? y0 + BLOCK : h;
            int moved = 0;
            for (int y = y0; y < y1 && !moved; y++)
                for (int x = x0; x < x1; x++)
                    moved |= a->mask[y * w + x] & 1;
            uint8_t *bs = &a->block_still[b];
            *bs = moved ? 0 : *bs < 255 ? *bs + 1 : 255;
            if (moved && students) {
                /* a block where a few noisy pixels flicker has not moved */
                int count = 0;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++)
                        count += a->mask[y * w + x] & 1;
                moved_blocks += count * 8 >= (x1 - x0) * (y1 - y0);
            }
            a->block_settled[b] = 0;
            if (*bs < persist)
                continue;
            int settled = 0;
            for (int y = y0; y < y1; y++) {
                for (int x = x0; x < x1; x++) {
                    int k = y * w + x, c = av_clip_uint8(a->cur[k] - offset);
                    if (a->still[k] < persist || abs(c - a->ref[k]) <= thr_p)
                        continue;
                    if (abs(c - a->board_level) > abs(a->ref[k] - a->board_level))
                        settled++;
                    a->ref[k] = (uint8_t)c;
                }
            }
            a->block_settled[b] = (uint8_t)settled;
            settled_all += settled;
            /* a block filled at once (over 40 %) is a body standing still:
             * what settles around it for a while is that body too */
            if (settled * 5 > (x1 - x0) * (y1 - y0) * 2)
                for (int ny = by - 1; ny <= by + 1; ny++)
                    for (int nx = bx - 1; nx <= bx + 1; nx++)
                        if (ny >= 0 && ny < bh && nx >= 0 && nx < bw)
                            a->block_occluded[ny * bw + nx] = (uint8_t)occlusion_ticks;
        }
    }
    /* a stroke settles as a few pixels of a block at once; a lone pixel is
     * noise */
    for (int b = 0; b < bw * bh && !relearn; b++) {
        if (a->block_occluded[b]) {
            a->block_occluded[b]--;
            continue;
        }
        if (a->block_settled[b] >= MARK_MIN_PIXELS)
            marks += a->block_settled[b];
    }
    /* a students picture moving all over at once is the camera knocked or
     * panned, not someone standing up: learn it anew */
    if (!relearn && students && moved_blocks >= FRAME_MOTION_BLOCKS * bw * bh) {
        LB_LOGD("director", "%s: motion in %.0f%% of the picture at once, learning it anew",
                d->setup.source_names[i], 100.0 * moved_blocks / (bw * bh));
        relearn = 1;
        a->fresh = 1;
        fg = tracked = 0;
    }
    a->motion = (double)moving / n;
    a->presence = (double)fg / n;
    a->active = relearn ? 0 : (double)active / n;
    if (a->presence < st->stand_min)
        a->present_since_us = INT64_MIN;
    else if (a->present_since_us == INT64_MIN)
        a->present_since_us = t_us;
    a->has_centroid = tracked >= n / 500 + 1;
    if (a->has_centroid) {
        double mx = sx / tracked;
        a->cx = (mx + 0.5) / w;
        a->cy = (sy / tracked + 0.5) / h;
        double var = sxx / tracked - mx * mx;
        a->spread = sqrt(var > 0 ? var : 0) / w;
    }

    if (board) {
        int ticks = (int)lrint(st->board_hold_s * st->analysis_hz);
        ticks = ticks < 1 ? 1 : ticks > LB_RING ? LB_RING : ticks;
        if (settled_all > MARKS_BLOB_MAX * n)
            marks = 0;          /* someone stopped in front of the board */
        if (a->marks_len == ticks)
            a->marks_sum -= a->marks_ring[(a->marks_pos + LB_RING - ticks) % LB_RING];
        else
            a->marks_len++;
        a->marks_ring[a->marks_pos] = marks;
        a->marks_pos = (a->marks_pos + 1) % LB_RING;
        a->marks_sum += marks;
        if (marks)
            a->last_mark_us = t_us;
        board_writing(d, a, marks, t_us);
        if (a->ticks % 10 == 0)
            a->board_level = median(a->ref, n);
    }
    a->ticks++;

    for (int z = 0; z < d->nb_zones; z++) {
        lb_zone *zn = &d->zones[z];
        if (zn->source != i)
            continue;
        int x0, y0, x1, y1;
        zone_pixels(zn, w, h, &x0, &y0, &x1, &y1);
        int zm = 0, zf = 0, zn_px = (x1 - x0) * (y1 - y0);
        double fx = 0, fy = 0, fyy = 0;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) {
                int mk = a->mask[y * w + x];
                zm += mk & 1;
                if (mk >> 1) {
                    zf++;
                    fx += x;
                    fy += y;
                    fyy += (double)y * y;
                }
            }
        if (relearn)
            zm = zf = 0;
        zn->motion = zn_px > 0 ? (double)zm / zn_px : 0;
        zn->presence = zn_px > 0 ? (double)zf / zn_px : 0;
        if (zn->presence < st->stand_min)
            zn->present_since_us = INT64_MIN;
        else if (zn->present_since_us == INT64_MIN)
            zn->present_since_us = t_us;
        if (zf) {
            double my = fy / zf, var = fyy / zf - my * my;
            zn->cx = (fx / zf + 0.5) / w;
            zn->cy = (my + 0.5) / h;
            zn->spread_y = sqrt(var > 0 ? var : 0) / h;
        }
    }

    if (d->setup.source_roles[i] == LB_ROLE_SCREEN)
        analyse_screen(d, i, t_us);
}

int lb_analysis_tick(lb_director *d, int64_t t_us, AVFrame *const *frames)
{
    for (int i = 0; i < d->setup.nb_sources; i++) {
        lb_source_analysis *a = &d->src[i];
        if (!a->live)
            continue;
        int ret = shrink(d, a, frames[i]);
        if (ret < 0) {
            if (ret == AVERROR(ENOMEM))
                return ret;
            a->live = 0;        /* a picture swscale cannot read: treat as lost */
            continue;
        }
        analyse_source(d, i, t_us);
        uint8_t *tmp = a->prev;
        a->prev = a->cur;
        a->cur = tmp;
        a->have_prev = 1;
    }
    for (int z = 0; z < d->nb_zones; z++)
        if (!d->src[d->zones[z].source].live)
            d->zones[z].motion = d->zones[z].presence = 0;
    d->ticked = 1;
    return 0;
}

void lb_analysis_mics(lb_director *d, int64_t t_us, const double *mic_dbfs)
{
    const lb_director_settings *st = &d->settings;
    double dt = d->last_update_us == INT64_MIN ? 0 : (double)(t_us - d->last_update_us) / 1e6;
    if (dt < 0)
        dt = 0;
    double k = 1 - exp(-dt / LEVEL_SMOOTH_S);
    double loudest = SILENCE_DBFS;
    for (int m = 0; m < d->setup.nb_mics; m++) {
        lb_mic_analysis *mc = &d->mic[m];
        double in = mic_dbfs ? mic_dbfs[m] : SILENCE_DBFS;
        if (!(in > SILENCE_DBFS))       /* also NaN and -inf */
            in = SILENCE_DBFS;
        double p = pow(10, mc->level_dbfs / 10), q = pow(10, in / 10);
        double level = 10 * log10(p + (q - p) * (dt ? k : 1) + 1e-12);
        mc->level_dbfs = level < SILENCE_DBFS ? SILENCE_DBFS : level;
        if (!mc->floor_set || mc->level_dbfs < mc->floor_dbfs) {
            mc->floor_dbfs = mc->level_dbfs;
            mc->floor_set = 1;
        } else {
            mc->floor_dbfs += FLOOR_RISE_DB_PER_S * dt;
        }
        if (mc->floor_dbfs < -90)
            mc->floor_dbfs = -90;
        if (mc->level_dbfs > loudest)
            loudest = mc->level_dbfs;
    }
    for (int m = 0; m < d->setup.nb_mics; m++) {
        lb_mic_analysis *mc = &d->mic[m];
        double thr = mc->floor_dbfs + st->vad_margin_db;
        thr = thr > st->vad_threshold_dbfs ? thr : st->vad_threshold_dbfs;
        int voice = mc->level_dbfs > thr && mc->level_dbfs >= loudest - st->vad_dominance_db;
        double in = mic_dbfs ? mic_dbfs[m] : SILENCE_DBFS;
        mc->active_s = voice ? mc->active_s + dt : 0;
        mc->loud_s = voice ? mc->loud_s + (in > thr ? dt : 0) : 0;
        /* the attack keeps a cough or a bang from starting speech: the
         * smoothed level of a loud bang stays up after it, so most of the
         * attack must be loud as it comes in, as speech is.  Once
         * speaking, a sentence after a pause goes on with its first word
         * (else a pause plus the attack outlasts the hangover and ends the
         * turn). */
        if (voice && ((mc->active_s >= st->vad_attack_s && mc->loud_s >= LOUD_SHARE * st->vad_attack_s) ||
                      mc->speaking))
            mc->last_voice_us = t_us;
        mc->speaking = mc->last_voice_us != INT64_MIN &&
                       t_us - mc->last_voice_us <= (int64_t)(st->vad_hangover_s * 1e6);
    }
}
