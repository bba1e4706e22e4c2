/* Health checks: see health.h.  Every check turns an input into a verdict
 * per subject (bad, good, unknown); one timer pair per (kind, subject)
 * turns verdicts into raises and clears. */
#include "health.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF(x) offsetof(lb_health_settings, x)

const lb_option lb_health_options[] = {
    { "enabled", LB_OPT_BOOL, OFF(enabled), 0, "true", 0, 0, NULL, "run the health checks" },
    { "clear_s", LB_OPT_DOUBLE, OFF(clear_s), 0, "5", 0, 3600, NULL, "an alert clears after its condition was fine this long" },
    { "mic_silent_s", LB_OPT_DOUBLE, OFF(mic_silent_s), 0, "20", 1, 3600, NULL, "mic_silent: a mic below mic_silent_dbfs this long while recording" },
    { "mic_silent_dbfs", LB_OPT_DOUBLE, OFF(mic_silent_dbfs), 0, "-60", -120, 0, NULL, "mic_silent: the level taken for silence (clears 6 dB above)" },
    { "mic_clipping_s", LB_OPT_DOUBLE, OFF(mic_clipping_s), 0, "2", 0, 3600, NULL, "mic_clipping: samples at mic_clip_dbfs this long" },
    { "mic_clip_dbfs", LB_OPT_DOUBLE, OFF(mic_clip_dbfs), 0, "-0.1", -20, 0, NULL, "mic_clipping: the peak taken for clipping (clears 3 dB below)" },
    { "mic_lost_s", LB_OPT_DOUBLE, OFF(mic_lost_s), 0, "5", 0, 3600, NULL, "mic_lost: a mic not live this long" },
    { "camera_lost_s", LB_OPT_DOUBLE, OFF(camera_lost_s), 0, "5", 0, 3600, NULL, "camera_lost: a camera not live this long" },
    { "camera_black_s", LB_OPT_DOUBLE, OFF(camera_black_s), 0, "10", 0, 3600, NULL, "camera_black: a black picture this long" },
    { "black_luma", LB_OPT_DOUBLE, OFF(black_luma), 0, "32", 0, 255, NULL, "camera_black: mean luma at most this ..." },
    { "black_spread", LB_OPT_DOUBLE, OFF(black_spread), 0, "6", 0, 128, NULL, "camera_black: ... and its standard deviation at most this" },
    { "camera_frozen_s", LB_OPT_DOUBLE, OFF(camera_frozen_s), 0, "20", 0, 3600, NULL, "camera_frozen: new frames that do not change this long" },
    { "frozen_diff", LB_OPT_DOUBLE, OFF(frozen_diff), 0, "0.3", 0, 255, NULL, "camera_frozen: mean luma difference between pictures a second apart below this" },
    { "substream_lost_s", LB_OPT_DOUBLE, OFF(substream_lost_s), 0, "10", 0, 3600, NULL, "substream_lost: a camera's analysis_url not live this long" },
    { "drift_max_ppm", LB_OPT_DOUBLE, OFF(drift_max_ppm), 0, "1000", 1, 100000, NULL, "av_drift: a mic's clock drift beyond this" },
    { "resyncs_max", LB_OPT_INT, OFF(resyncs_max), 0, "3", 1, 1000, NULL, "av_drift: a mic's audio re-placed this often ..." },
    { "resync_window_s", LB_OPT_DOUBLE, OFF(resync_window_s), 0, "60", 1, 3600, NULL, "av_drift: ... within this window" },
    { "output_down_s", LB_OPT_DOUBLE, OFF(output_down_s), 0, "10", 0, 3600, NULL, "output_down: an SRT or HLS push output not connected this long" },
    { "upload_failing_s", LB_OPT_DOUBLE, OFF(upload_failing_s), 0, "60", 0, 86400, NULL, "upload_failing: uploads failing this long" },
    { "disk_hours_needed", LB_OPT_DOUBLE, OFF(disk_hours_needed), 0, "4", 0, 1000, NULL, "disk_low: hours of recording the disk must still hold at the current write rate, when no timetable says what the rest of the day needs" },
    { "disk_rate_window_s", LB_OPT_DOUBLE, OFF(disk_rate_window_s), 0, "30", 2, 3600, NULL, "disk_low: the write rate is measured over this window" },
    { "overload_frames", LB_OPT_INT, OFF(overload_frames), 0, "10", 1, 100000, NULL, "overload: late or skipped program frames ..." },
    { "overload_window_s", LB_OPT_DOUBLE, OFF(overload_window_s), 0, "10", 1, 3600, NULL, "overload: ... within this window" },
    { "clock_check", LB_OPT_BOOL, OFF(clock_check), 0, "true", 0, 0, NULL, "clock_unsynced: check the system clock's synchronisation (adjtimex)" },
    { "clock_maxerror_ms", LB_OPT_DOUBLE, OFF(clock_maxerror_ms), 0, "500", 1, 1e7, NULL, "clock_unsynced: the kernel's maximum error beyond this" },
    { "clock_unsynced_s", LB_OPT_DOUBLE, OFF(clock_unsynced_s), 0, "60", 0, 86400, NULL, "clock_unsynced: unsynchronised this long" },
    { NULL },
};

static const char *const alert_names[LB_ALERT_NB] = {
    [LB_ALERT_MIC_SILENT] = "mic_silent",
    [LB_ALERT_MIC_CLIPPING] = "mic_clipping",
    [LB_ALERT_MIC_LOST] = "mic_lost",
    [LB_ALERT_CAMERA_LOST] = "camera_lost",
    [LB_ALERT_CAMERA_BLACK] = "camera_black",
    [LB_ALERT_CAMERA_FROZEN] = "camera_frozen",
    [LB_ALERT_SUBSTREAM_LOST] = "substream_lost",
    [LB_ALERT_AV_DRIFT] = "av_drift",
    [LB_ALERT_OUTPUT_DOWN] = "output_down",
    [LB_ALERT_UPLOAD_FAILING] = "upload_failing",
    [LB_ALERT_DISK_LOW] = "disk_low",
    [LB_ALERT_OVERLOAD] = "overload",
    [LB_ALERT_CLOCK_UNSYNCED] = "clock_unsynced",
    [LB_ALERT_SCHEDULE_START_FAILED] = "schedule_start_failed",
};

const char *lb_alert_name(lb_alert_kind kind)
{
    return kind > LB_ALERT_INVALID && kind < LB_ALERT_NB ? alert_names[kind] : "unknown";
}

typedef enum verdict {
    UNKNOWN = 0,
    GOOD,
    BAD,
} verdict;

typedef struct instance {
    lb_alert a;
    int64_t bad_since, good_since;  /* -1: not in that run */
    int seen;                       /* judged at this update */
} instance;

/* A counter's history, for rates over a window. */
#define HISTORY 512
typedef struct history {
    int64_t t_us[HISTORY];
    double v[HISTORY];
    int head, nb;
} history;

typedef struct mic_history {
    char name[64];
    history resyncs;
} mic_history;

#define MAX_INSTANCES 256

struct lb_health {
    lb_health_settings s;
    instance inst[MAX_INSTANCES];
    int nb;
    uint64_t next_id;
    history recorded, late;
    mic_history mics[LB_HEALTH_MAX_ITEMS];
};

int lb_health_create(lb_health **h, const lb_health_settings *s)
{
    *h = calloc(1, sizeof **h);
    if (!*h)
        return -1;
    (*h)->s = *s;
    (*h)->next_id = 1;
    return 0;
}

void lb_health_free(lb_health **h)
{
    if (h) {
        free(*h);
        *h = NULL;
    }
}

static void history_add(history *hs, int64_t t_us, double v)
{
    int i = (hs->head + hs->nb) % HISTORY;
    if (hs->nb == HISTORY)
        hs->head = (hs->head + 1) % HISTORY;
    else
        hs->nb++;
    hs->t_us[i] = t_us;
    hs->v[i] = v;
}

/* The counter's growth over the last window_s and the time it covers. */
static double history_growth(history *hs, int64_t now_us, double window_s, double *span_s)
{
    while (hs->nb > 1 && now_us - hs->t_us[(hs->head + 1) % HISTORY] >= (int64_t)(window_s * 1e6))
        hs->head = (hs->head + 1) % HISTORY, hs->nb--;
    if (hs->nb < 2) {
        *span_s = 0;
        return 0;
    }
    int last = (hs->head + hs->nb - 1) % HISTORY;
    *span_s = (hs->t_us[last] - hs->t_us[hs->head]) / 1e6;
    return hs->v[last] - hs->v[hs->head];
}

static instance *find(lb_health *h, lb_alert_kind kind, const char *subject)
{
    for (int i = 0; i < h->nb; i++)
        if (h->inst[i].a.kind == kind && !strcmp(h->inst[i].a.subject, subject))
            return &h->inst[i];
    if (h->nb == MAX_INSTANCES)
        return NULL;
    instance *in = &h->inst[h->nb++];
    memset(in, 0, sizeof *in);
    in->a.kind = kind;
    snprintf(in->a.subject, sizeof in->a.subject, "%s", subject);
    in->bad_since = in->good_since = -1;
    return in;
}

static void describe(lb_alert *a)
{
    const char *s = a->subject;
    switch (a->kind) {
    case LB_ALERT_MIC_SILENT:
        snprintf(a->message, sizeof a->message, "microphone %s has been silent for %.0f s "
                 "(below %.0f dBFS): is it switched on?", s, a->threshold, a->value);
        break;
    case LB_ALERT_MIC_CLIPPING:
        snprintf(a->message, sizeof a->message, "microphone %s is clipping (peaks at %.1f dBFS): "
                 "turn its gain down", s, a->value);
        break;
    case LB_ALERT_MIC_LOST:
        snprintf(a->message, sizeof a->message, "microphone %s gives no sound%s%s", s,
                 *a->detail ? ": " : "", a->detail);
        break;
    case LB_ALERT_CAMERA_LOST:
        snprintf(a->message, sizeof a->message, "camera %s gives no picture%s%s", s,
                 *a->detail ? ": " : "", a->detail);
        break;
    case LB_ALERT_CAMERA_BLACK:
        snprintf(a->message, sizeof a->message, "camera %s has shown a black picture for %.0f s: "
                 "is its lens covered or its light off?", s, a->threshold);
        break;
    case LB_ALERT_CAMERA_FROZEN:
        snprintf(a->message, sizeof a->message, "camera %s has shown the same still picture for "
                 "%.0f s: it may have frozen", s, a->threshold);
        break;
    case LB_ALERT_SUBSTREAM_LOST:
        snprintf(a->message, sizeof a->message, "camera %s: its sub-stream gives no picture%s%s", s,
                 *a->detail ? ": " : "", a->detail);
        break;
    case LB_ALERT_AV_DRIFT:
        snprintf(a->message, sizeof a->message, "microphone %s: %s", s, a->detail);
        break;
    case LB_ALERT_OUTPUT_DOWN:
        snprintf(a->message, sizeof a->message, "output %s has been disconnected for %.0f s (%s)",
                 s, a->threshold, a->detail);
        break;
    case LB_ALERT_UPLOAD_FAILING:
        snprintf(a->message, sizeof a->message, "uploads to %s have been failing for %.0f s: %s",
                 s, a->threshold, a->detail);
        break;
    case LB_ALERT_DISK_LOW:
        snprintf(a->message, sizeof a->message, "the disk holds %.1f h more at the current write "
                 "rate, less than the %.1f h %s", a->value, a->threshold, a->detail);
        break;
    case LB_ALERT_OVERLOAD:
        if (*a->detail && a->value < 1)     /* raised (or kept) by the ladder, no frame lost yet */
            snprintf(a->message, sizeof a->message, "the program fell behind real time; work "
                     "is shed to keep up: %s", a->detail);
        else
            snprintf(a->message, sizeof a->message, "the program is falling behind real time: "
                     "%.0f late or skipped frames in %.0f s%s%s", a->value, a->threshold,
                     *a->detail ? "; shed: " : "", a->detail);
        break;
    case LB_ALERT_CLOCK_UNSYNCED:
        snprintf(a->message, sizeof a->message, "the system clock is not synchronised (%s)",
                 a->detail);
        break;
    case LB_ALERT_SCHEDULE_START_FAILED:
        if (*a->label)
            snprintf(a->message, sizeof a->message, "the timetable's lesson '%s' (%s) could not start: "
                     "%s; it is tried again while its time lasts", a->label, s, a->detail);
        else
            snprintf(a->message, sizeof a->message, "the timetable's lesson %s could not start: %s; "
                     "it is tried again while its time lasts", s, a->detail);
        break;
    default:
        snprintf(a->message, sizeof a->message, "%s", lb_alert_name(a->kind));
    }
}

/* Updates come on a period (1 s) but their times jitter by the thread's
 * wake-up: a condition seen bad at two updates 4 s apart may measure
 * 3.9999 s, and a 4 s threshold would wait for one more update. */
#define SLACK_US 50000

/* One verdict for one (kind, subject): the timers, then a raise or a clear. */
static void judge(lb_health *h, const lb_health_input *in, lb_alert_kind kind, const char *subject,
                  verdict v, double raise_s, double threshold, double value, const char *detail,
                  lb_health_cb cb, void *opaque)
{
    instance *it = find(h, kind, subject);
    if (!it)
        return;
    it->seen = 1;
    if (v == BAD) {
        it->good_since = -1;
        if (it->bad_since < 0)
            it->bad_since = in->now_us;
        if (!it->a.raised) {
            /* while it is not raised, say what is measured now */
            it->a.threshold = threshold;
            it->a.value = value;
            snprintf(it->a.detail, sizeof it->a.detail, "%s", detail ? detail : "");
        }
        if (!it->a.raised && in->now_us - it->bad_since >= (int64_t)(raise_s * 1e6) - SLACK_US) {
            it->a.raised = 1;
            it->a.id = h->next_id++;
            it->a.since_us = in->now_us;
            it->a.since_wall_s = in->wall_s;
            describe(&it->a);
            if (cb)
                cb(opaque, &it->a);
        }
    } else if (v == GOOD) {
        it->bad_since = -1;
        if (it->good_since < 0)
            it->good_since = in->now_us;
        if (it->a.raised && in->now_us - it->good_since >= (int64_t)(h->s.clear_s * 1e6) - SLACK_US) {
            it->a.raised = 0;
            if (cb)
                cb(opaque, &it->a);
        }
    }
}

static mic_history *mic_hist(lb_health *h, const char *name)
{
    for (int i = 0; i < LB_HEALTH_MAX_ITEMS; i++) {
        mic_history *m = &h->mics[i];
        if (!strcmp(m->name, name))
            return m;
        if (!*m->name) {
            snprintf(m->name, sizeof m->name, "%s", name);
            return m;
        }
    }
    return NULL;
}

static int output_is_pushed(const lb_health_output *o)
{
    return !strcmp(o->kind, "srt") || !strcmp(o->kind, "hls");
}

static int output_state_down(const char *state)
{
    static const char *const down[] = { "connecting", "reconnecting", "lost", "failed", NULL };
    for (int i = 0; down[i]; i++)
        if (!strcmp(state, down[i]))
            return 1;
    return 0;
}

void lb_health_update(lb_health *h, const lb_health_input *in, lb_health_cb cb, void *opaque)
{
    const lb_health_settings *s = &h->s;
    if (!s->enabled)
        return;
    for (int i = 0; i < h->nb; i++)
        h->inst[i].seen = 0;

    for (int i = 0; i < in->nb_mics; i++) {
        const lb_health_mic *m = &in->mics[i];
        judge(h, in, LB_ALERT_MIC_LOST, m->name, m->up ? GOOD : BAD, s->mic_lost_s, s->mic_lost_s,
              0, "", cb, opaque);
        verdict silent = !in->recording ? GOOD
                       : !m->up ? UNKNOWN
                       : m->level_dbfs < s->mic_silent_dbfs ? BAD
                       : m->level_dbfs > s->mic_silent_dbfs + 6 ? GOOD : UNKNOWN;
        judge(h, in, LB_ALERT_MIC_SILENT, m->name, silent, s->mic_silent_s, s->mic_silent_s,
              s->mic_silent_dbfs, NULL, cb, opaque);
        verdict clip = !m->up ? UNKNOWN
                     : m->peak_dbfs >= s->mic_clip_dbfs ? BAD
                     : m->peak_dbfs < s->mic_clip_dbfs - 3 ? GOOD : UNKNOWN;
        judge(h, in, LB_ALERT_MIC_CLIPPING, m->name, clip, s->mic_clipping_s, s->mic_clip_dbfs,
              m->peak_dbfs, NULL, cb, opaque);
        mic_history *mh = mic_hist(h, m->name);
        double span = 0, resyncs = 0;
        if (mh) {
            history_add(&mh->resyncs, in->now_us, (double)m->resyncs);
            resyncs = history_growth(&mh->resyncs, in->now_us, s->resync_window_s, &span);
        }
        char detail[128];
        verdict drift = GOOD;
        if (fabs(m->drift_ppm) > s->drift_max_ppm) {
            drift = BAD;
            snprintf(detail, sizeof detail, "its clock drifts by %.0f ppm, more than a sound card's "
                     "should: is its sample rate right?", m->drift_ppm);
        } else if (resyncs >= s->resyncs_max) {
            drift = BAD;
            snprintf(detail, sizeof detail, "its audio was re-placed %.0f times in %.0f s: "
                     "sound and picture may be out of sync", resyncs, s->resync_window_s);
        }
        judge(h, in, LB_ALERT_AV_DRIFT, m->name, !m->up ? UNKNOWN : drift, 0, s->drift_max_ppm,
              m->drift_ppm, drift == BAD ? detail : "", cb, opaque);
    }

    for (int i = 0; i < in->nb_cameras; i++) {
        const lb_health_camera *c = &in->cameras[i];
        judge(h, in, LB_ALERT_CAMERA_LOST, c->name, c->up ? GOOD : BAD, s->camera_lost_s,
              s->camera_lost_s, 0, "", cb, opaque);
        verdict black = !c->up || !c->measured ? UNKNOWN
                      : c->luma_mean <= s->black_luma && c->luma_spread <= s->black_spread ? BAD : GOOD;
        judge(h, in, LB_ALERT_CAMERA_BLACK, c->name, black, s->camera_black_s, s->camera_black_s,
              c->luma_mean, NULL, cb, opaque);
        /* a black picture does not change either: one alert says it */
        verdict frozen = !c->up || !c->measured || !c->has_diff || black == BAD ? UNKNOWN
                       : c->luma_diff < s->frozen_diff ? BAD : GOOD;
        judge(h, in, LB_ALERT_CAMERA_FROZEN, c->name, frozen, s->camera_frozen_s, s->camera_frozen_s,
              c->luma_diff, NULL, cb, opaque);
        if (c->sub_present)
            judge(h, in, LB_ALERT_SUBSTREAM_LOST, c->name, c->sub_up ? GOOD : BAD, s->substream_lost_s,
                  s->substream_lost_s, 0, "", cb, opaque);
    }

    for (int i = 0; i < in->nb_outputs; i++) {
        const lb_health_output *o = &in->outputs[i];
        if (output_is_pushed(o))
            judge(h, in, LB_ALERT_OUTPUT_DOWN, o->name, output_state_down(o->state) ? BAD : GOOD,
                  s->output_down_s, s->output_down_s, 0,
                  *o->last_error ? o->last_error : o->state, cb, opaque);
        else if (!strcmp(o->kind, "upload"))
            judge(h, in, LB_ALERT_UPLOAD_FAILING, o->name, *o->last_error ? BAD : GOOD,
                  s->upload_failing_s, s->upload_failing_s, 0, o->last_error, cb, opaque);
    }

    if (in->disk_known) {
        double span = 0;
        history_add(&h->recorded, in->now_us, (double)in->recorded_bytes);
        double grown = history_growth(&h->recorded, in->now_us, s->disk_rate_window_s, &span);
        /* a rate is known once a good part of the window was seen */
        verdict v = GOOD;
        double hours = INFINITY;
        double needed_h = in->day_known ? fmax(0, in->day_needed_s) / 3600 : s->disk_hours_needed;
        if (in->recording && span >= s->disk_rate_window_s / 4 && grown > 0) {
            double rate = grown / span;
            hours = in->disk_free_bytes / rate / 3600;
            v = hours < needed_h ? BAD : GOOD;
        } else if (in->recording) {
            v = UNKNOWN;
        }
        judge(h, in, LB_ALERT_DISK_LOW, "disk", v, 0, needed_h, hours,
              in->day_known ? "that today's remaining lessons need" : "needed", cb, opaque);
    }

    {
        double span = 0;
        history_add(&h->late, in->now_us, (double)in->late_frames);
        double late = history_growth(&h->late, in->now_us, s->overload_window_s, &span);
        /* shedding work keeps it raised until the ladder is undone */
        judge(h, in, LB_ALERT_OVERLOAD, "program", late >= s->overload_frames || in->shedding ? BAD : GOOD,
              0, s->overload_window_s, late, in->shedding, cb, opaque);
    }

    if (s->clock_check && in->clock_known) {
        char detail[128];
        int bad = in->clock_unsynced || in->clock_maxerror_ms > s->clock_maxerror_ms;
        snprintf(detail, sizeof detail, "%smaximum error %.0f ms",
                 in->clock_unsynced ? "the kernel says unsynchronised, " : "", in->clock_maxerror_ms);
        judge(h, in, LB_ALERT_CLOCK_UNSYNCED, "system", bad ? BAD : GOOD, s->clock_unsynced_s,
              s->clock_maxerror_ms, in->clock_maxerror_ms, detail, cb, opaque);
    }

    /* a timetable entry's start failed: at once (the scheduler retries with
     * a backoff); it clears when the entry is no longer reported */
    for (int i = 0; i < in->nb_failed_starts && i < LB_HEALTH_MAX_FAILED_STARTS; i++) {
        const lb_health_failed_start *fs = &in->failed_starts[i];
        instance *it = find(h, LB_ALERT_SCHEDULE_START_FAILED, fs->entry);
        if (it && !it->a.raised)
            snprintf(it->a.label, sizeof it->a.label, "%s", fs->title ? fs->title : "");
        judge(h, in, LB_ALERT_SCHEDULE_START_FAILED, fs->entry, BAD, 0, 0, fs->attempts, fs->reason,
              cb, opaque);
    }

    /* a subject that went away (an output removed, a mic no longer
     * reported, an entry started) clears its alerts */
    for (int i = 0; i < h->nb; i++) {
        instance *it = &h->inst[i];
        if (!it->seen && it->a.raised) {
            it->a.raised = 0;
            if (cb)
                cb(opaque, &it->a);
        }
    }
}

void lb_health_read_clock(int state, const struct timex *tx, lb_health_input *in)
{
    if (state < 0)
        return;
    in->clock_known = 1;
    in->clock_unsynced = state == TIME_ERROR || (tx->status & STA_UNSYNC);
    in->clock_maxerror_ms = tx->maxerror / 1000.0;
}

int lb_health_raised(const lb_health *h, lb_alert *out, int max)
{
    int n = 0;
    /* oldest raise first: ids increase with time */
    uint64_t last = 0;
    while (n < max) {
        const instance *next = NULL;
        for (int i = 0; i < h->nb; i++) {
            const instance *it = &h->inst[i];
            if (it->a.raised && it->a.id > last && (!next || it->a.id < next->a.id))
                next = it;
        }
        if (!next)
            break;
        out[n++] = next->a;
        last = next->a.id;
    }
    return n;
}

void lb_health_measure_luma(const uint8_t *y, int linesize, int width, int height,
                            uint8_t *grid, int grid_max, int *nb,
                            const uint8_t *prev, int nb_prev,
                            double *mean, double *spread, double *diff)
{
    int64_t sum = 0, sum2 = 0, dsum = 0;
    int n = 0;
    for (int r = 8; r < height && n < grid_max; r += 16) {
        const uint8_t *row = y + (size_t)r * (size_t)linesize;
        for (int c = 8; c < width && n < grid_max; c += 16) {
            int v = row[c];
            sum += v;
            sum2 += v * v;
            if (prev && n < nb_prev)
                dsum += abs(v - prev[n]);
            grid[n++] = (uint8_t)v;
        }
    }
    *nb = n;
    *mean = n ? (double)sum / n : 0;
    *spread = n ? sqrt(fmax(0, (double)sum2 / n - *mean * *mean)) : 0;
    *diff = prev && nb_prev == n && n ? (double)dsum / n : -1;
}
