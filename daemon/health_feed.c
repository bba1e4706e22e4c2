/* The health checks on the pipeline: the lb-health thread samples the mics'
 * levels at 10 Hz (a second's loudest decides silence) and once a second
 * gathers the rest of the stats, measures each camera's latest picture
 * (1/16-scale luma: mean, spread, difference from a second ago), and runs
 * lb_health_update (daemon/health.c, pure).  Raises and clears go to the
 * log (warning / info), the events WebSocket, and are kept for
 * GET /api/v1/alerts and /metrics (daemon/control.c). */
#include "pipeline_priv.h"
#include "health.h"
#include "scheduler.h"
#include "webhook.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/timex.h>

#include <libavutil/pixdesc.h>

#include "lb_clock.h"
#include "lb_log.h"

#define GRID_MAX 16384              /* 1/16 of 2048x2048 */
#define MAX_RAISED 128

typedef struct camera_probe {
    uint8_t grid[GRID_MAX];
    int nb;
    int64_t pts;                    /* of the picture measured last */
    int has;
} camera_probe;

struct lb_health_feed {
    lb_pipeline *p;
    lb_health_settings settings;
    lb_health *health;              /* under lock */
    lb_webhook *webhook;            /* NULL: none */
    pthread_mutex_t lock;
    lb_thread thread;
    atomic_int stop;
    uint64_t event_id;              /* of the last alert event */
    double level_max[LB_MAX_MICS], peak_max[LB_MAX_MICS];  /* health thread */
    camera_probe cams[LB_MAX_SOURCES];
    /* health thread: the timetable entries failing to start, for the input's strings */
    lb_scheduler_failure failures[LB_HEALTH_MAX_FAILED_STARTS];
    char failure_subject[LB_HEALTH_MAX_FAILED_STARTS][64];
};

int lb_health_feed_create(lb_pipeline *p, const lb_config_section *sec,
                          const lb_config_section *alerts, char *err, size_t err_size)
{
    int ret;
    lb_health_feed *f = calloc(1, sizeof *f);
    if (!f)
        return AVERROR(ENOMEM);
    f->p = p;
    pthread_mutex_init(&f->lock, NULL);
    p->health = f;
    if ((ret = lb_config_apply(sec, lb_health_options, &f->settings, err, err_size)) < 0)
        return ret;
    if (lb_health_create(&f->health, &f->settings) < 0)
        return AVERROR(ENOMEM);
    return lb_webhook_create(&f->webhook, alerts, err, err_size);
}

static void format_since(const lb_alert *a, char *buf, int size)
{
    lb_clock_iso8601((int64_t)(a->since_wall_s * 1e6), buf, size);
}

static cJSON *alert_json(const lb_alert *a)
{
    char since[64];
    format_since(a, since, sizeof since);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)a->id);
    cJSON_AddStringToObject(o, "alert", lb_alert_name(a->kind));
    cJSON_AddStringToObject(o, "subject", a->subject);
    cJSON_AddStringToObject(o, "since", since);
    cJSON_AddStringToObject(o, "message", a->message);
    /* a UI says it in its own language from the code and these */
    cJSON *params = cJSON_AddObjectToObject(o, "params");
    if (isfinite(a->threshold))
        cJSON_AddNumberToObject(params, "threshold", a->threshold);
    if (isfinite(a->value))
        cJSON_AddNumberToObject(params, "value", round(a->value * 10) / 10);
    cJSON_AddStringToObject(params, "detail", a->detail);
    if (*a->label)
        cJSON_AddStringToObject(params, "label", a->label);
    return o;
}

/* health thread, inside lb_health_update (f->lock held) */
static void on_alert(void *opaque, const lb_alert *a)
{
    lb_health_feed *f = opaque;
    if (a->raised) {
        /* the log limits warnings per format string (5 in 10 s): through
         * "%s" each alert's text is its own site, so a burst of different
         * alerts is never folded into "similar suppressed" */
        char line[768];
        snprintf(line, sizeof line, "alert %s %s raised: %s", lb_alert_name(a->kind), a->subject,
                 a->message);
        LB_LOGW("health", "%s", line);
    } else
        LB_LOGI("health", "alert %s %s cleared (raised %.0f s ago)", lb_alert_name(a->kind),
                a->subject, (lb_clock_now() - a->since_us) / 1e6);
    cJSON *ev = alert_json(a);
    cJSON_AddStringToObject(ev, "type", "alert");
    cJSON_AddStringToObject(ev, "state", a->raised ? "raised" : "cleared");
    cJSON_AddNumberToObject(ev, "event_id", (double)++f->event_id);
    char *text = cJSON_PrintUnformatted(ev);
    if (text) {
        lb_webui_publish(f->p->webui, text);
        lb_webhook_post(f->webhook, text);
    }
    free(text);
    cJSON_Delete(ev);
}

static int luma_plane_8bit(const AVFrame *fr)
{
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(fr->format);
    return d && !(d->flags & (AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL)) && d->nb_components >= 1 &&
           d->comp[0].plane == 0 && d->comp[0].depth == 8 && d->comp[0].step == 1;
}

static void probe_camera(lb_health_feed *f, int i, lb_health_camera *c)
{
    lb_pipeline *p = f->p;
    pthread_mutex_lock(&p->lock);
    AVFrame *fr = p->latest[i] ? av_frame_clone(p->latest[i]) : NULL;
    pthread_mutex_unlock(&p->lock);
    camera_probe *cp = &f->cams[i];
    /* a slate is no picture (camera_lost says it); the same picture as a
     * second ago is no news (a camera off the air is decoded from its key
     * frames only, and repeats) */
    if (fr && luma_plane_8bit(fr) && !(fr->metadata && av_dict_get(fr->metadata, LB_SLATE_METADATA, NULL, 0)) &&
        (!cp->has || fr->pts != cp->pts)) {
        uint8_t grid[GRID_MAX];
        int nb;
        lb_health_measure_luma(fr->data[0], fr->linesize[0], fr->width, fr->height, grid, GRID_MAX,
                               &nb, cp->has ? cp->grid : NULL, cp->nb, &c->luma_mean,
                               &c->luma_spread, &c->luma_diff);
        c->measured = 1;
        c->has_diff = c->luma_diff >= 0;
        memcpy(cp->grid, grid, (size_t)nb);
        cp->nb = nb;
        cp->pts = fr->pts;
        cp->has = 1;
    }
    av_frame_free(&fr);
}

/* Seconds of recording the rest of the day needs: the schedule's
 * remaining lessons (daemon/scheduler.c), when the hall has a schedule (a
 * timetable or an iCal feed that parsed); < 0 without one, and the
 * configured [health] disk_hours_needed applies.  lb_scheduler_remaining_s
 * answers 0 both for "no schedule" and "no lesson left today": the
 * status tells the two apart. */
static double day_remaining_s(lb_pipeline *p)
{
    if (!p->scheduler)
        return -1;
    cJSON *st = lb_scheduler_status(p->scheduler);
    int has = cJSON_IsTrue(cJSON_GetObjectItem(st, "enabled")) &&
              (cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "timetable"), "present")) ||
               cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(st, "feed"), "have_schedule")));
    cJSON_Delete(st);
    return has ? lb_scheduler_remaining_s(p->scheduler) : -1;
}

static void gather(lb_health_feed *f, lb_health_input *in, lb_output_stats *ost)
{
    lb_pipeline *p = f->p;
    in->now_us = lb_clock_now();
    in->wall_s = lb_clock_wall_us() / 1e6;
    pthread_mutex_lock(&p->lock);
    in->recording = p->lc.state == LB_LESSON_RECORDING;
    in->late_frames = p->frames_late + p->frames_skipped;
    in->shedding = lb_overload_shedding(p);
    pthread_mutex_unlock(&p->lock);
    for (int m = 0; m < p->nb_mics && m < LB_HEALTH_MAX_ITEMS; m++) {
        lb_mic_stats st;
        lb_mic_get_stats(p->mics[m], &st);
        lb_health_mic *hm = &in->mics[in->nb_mics++];
        hm->name = lb_mic_name(p->mics[m]);
        hm->up = st.state == LB_SOURCE_LIVE;
        hm->level_dbfs = fmax(f->level_max[m], st.level_dbfs);
        hm->peak_dbfs = fmax(f->peak_max[m], st.peak_dbfs);
        hm->drift_ppm = st.drift_ppm;
        hm->resyncs = st.resyncs;
        f->level_max[m] = f->peak_max[m] = -120;
    }
    for (int i = 0; i < p->nb_sources && i < LB_HEALTH_MAX_ITEMS; i++) {
        lb_source_stats st;
        lb_source_get_stats(p->sources[i], &st);
        lb_health_camera *c = &in->cameras[in->nb_cameras++];
        c->name = lb_source_name(p->sources[i]);
        c->up = st.state == LB_SOURCE_LIVE;
        c->sub_present = st.analysis.present;
        c->sub_up = st.analysis.state == LB_SOURCE_LIVE;
        if (c->up)
            probe_camera(f, i, c);
    }
    for (int i = 0; i < lb_streamer_nb_outputs(p->streamer) && i < LB_HEALTH_MAX_ITEMS; i++) {
        lb_streamer_get_stats(p->streamer, i, &ost[i]);
        if (!*ost[i].name)
            continue;                   /* a reload removed it meanwhile */
        lb_health_output *o = &in->outputs[in->nb_outputs++];
        o->name = ost[i].name;
        o->kind = ost[i].kind;
        o->state = ost[i].state;
        o->last_error = ost[i].last_error;
        if (!strcmp(ost[i].kind, "archive"))
            in->recorded_bytes += ost[i].bytes;
    }
    struct statvfs vfs;
    if (statvfs(p->general.data_dir, &vfs) == 0) {
        in->disk_known = 1;
        in->disk_free_bytes = (double)vfs.f_bavail * vfs.f_frsize;
    }
    double day_s = day_remaining_s(p);
    if (day_s >= 0) {
        in->day_known = 1;
        in->day_needed_s = day_s;
    }
    struct timex tx = { 0 };
    lb_health_read_clock(adjtimex(&tx), &tx, in);
    int nb = lb_scheduler_failures(p->scheduler, f->failures, LB_HEALTH_MAX_FAILED_STARTS);
    for (int i = 0; i < nb; i++) {
        lb_health_failed_start *fs = &in->failed_starts[in->nb_failed_starts++];
        /* the alert's subject holds 63 bytes: the same cut every second */
        snprintf(f->failure_subject[i], sizeof f->failure_subject[i], "%s", f->failures[i].uid);
        fs->entry = f->failure_subject[i];
        fs->title = f->failures[i].title;
        fs->reason = f->failures[i].reason;
        fs->attempts = f->failures[i].attempts;
    }
}

static void *health_thread(void *arg)
{
    lb_health_feed *f = arg;
    lb_pipeline *p = f->p;
    lb_output_stats *ost = calloc(LB_HEALTH_MAX_ITEMS, sizeof *ost);
    lb_health_input *in = calloc(1, sizeof *in);
    if (!ost || !in)
        goto end;
    for (int m = 0; m < LB_MAX_MICS; m++)
        f->level_max[m] = f->peak_max[m] = -120;
    int64_t next = lb_clock_now();
    for (int tick = 1; !atomic_load(&f->stop); tick++) {
        next += 100000;
        lb_clock_sleep_until(next);
        for (int m = 0; m < p->nb_mics; m++) {
            lb_mic_stats st;
            lb_mic_get_stats(p->mics[m], &st);
            f->level_max[m] = fmax(f->level_max[m], st.level_dbfs);
            f->peak_max[m] = fmax(f->peak_max[m], st.peak_dbfs);
        }
        if (tick % 10)
            continue;
        memset(in, 0, sizeof *in);
        gather(f, in, ost);
        pthread_mutex_lock(&f->lock);
        lb_health_update(f->health, in, on_alert, f);
        pthread_mutex_unlock(&f->lock);
    }
end:
    free(ost);
    free(in);
    return NULL;
}

int lb_health_feed_start(lb_pipeline *p)
{
    lb_health_feed *f = p->health;
    if (!f || !f->settings.enabled)
        return 0;
    int ret = lb_webhook_start(f->webhook);
    return ret < 0 ? ret : lb_thread_start(&f->thread, "lb-health", health_thread, f);
}

void lb_health_feed_stop(lb_pipeline *p)
{
    lb_health_feed *f = p->health;
    if (!f)
        return;
    atomic_store(&f->stop, 1);
    lb_thread_join(&f->thread);
}

void lb_health_feed_free(lb_pipeline *p)
{
    lb_health_feed *f = p->health;
    if (!f)
        return;
    lb_health_feed_stop(p);
    lb_webhook_free(&f->webhook);
    lb_health_free(&f->health);
    pthread_mutex_destroy(&f->lock);
    free(f);
    p->health = NULL;
}

static int raised(lb_health_feed *f, lb_alert *out, int max)
{
    if (!f || !f->health)
        return 0;
    pthread_mutex_lock(&f->lock);
    int n = lb_health_raised(f->health, out, max);
    pthread_mutex_unlock(&f->lock);
    return n;
}

cJSON *lb_health_feed_alerts_json(lb_pipeline *p)
{
    lb_alert *list = calloc(MAX_RAISED, sizeof *list);
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "alerts");
    int n = list ? raised(p->health, list, MAX_RAISED) : 0;
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, alert_json(&list[i]));
    free(list);
    return root;
}

/* Prometheus label values: backslash, quote and newline escaped. */
static void label(char *dst, size_t size, const char *s)
{
    size_t k = 0;
    for (; *s && k + 3 < size; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n')
            dst[k++] = '\\';
        dst[k++] = *s == '\n' ? 'n' : *s;
    }
    dst[k] = 0;
}

char *lb_health_feed_metrics(lb_pipeline *p)
{
    lb_alert *list = calloc(MAX_RAISED, sizeof *list);
    int n = list ? raised(p->health, list, MAX_RAISED) : 0;
    size_t size = 1024 + (size_t)n * 200;
    char *buf = malloc(size);
    if (!buf) {
        free(list);
        return NULL;
    }
    size_t len = (size_t)snprintf(buf, size, "# HELP luobo_alert 1 while the alert is raised "
                                             "(GET /api/v1/alerts says why).\n"
                                             "# TYPE luobo_alert gauge\n");
    for (int i = 0; i < n && len < size; i++) {
        char subject[140];
        label(subject, sizeof subject, list[i].subject);
        len += (size_t)snprintf(buf + len, size - len, "luobo_alert{alert=\"%s\",subject=\"%s\"} 1\n",
                                lb_alert_name(list[i].kind), subject);
    }
    free(list);
    if (p->health && p->health->webhook && len < size) {
        lb_webhook_stats st;
        lb_webhook_get_stats(p->health->webhook, &st);
        snprintf(buf + len, size - len,
                 "# HELP luobo_webhook_pending Alert events waiting for the webhook's receiver.\n"
                 "# TYPE luobo_webhook_pending gauge\nluobo_webhook_pending %d\n"
                 "# TYPE luobo_webhook_sent_total counter\nluobo_webhook_sent_total %llu\n"
                 "# TYPE luobo_webhook_failures_total counter\nluobo_webhook_failures_total %llu\n",
                 st.pending, (unsigned long long)st.sent, (unsigned long long)st.failures);
    }
    return buf;
}
