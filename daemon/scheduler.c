/* Design note: recording by the schedule.
 *
 * The schedule (core/lb_schedule.h) gives occurrences with absolute start
 * and end times.  Each tick the scheduler compares the wall clock with them
 * and sends the lifecycle the timetable's events: ENTRY_ARMED/DISARMED for
 * the next occurrence to record, ENTRY_START at start - pre_roll (a manual
 * lesson running then becomes the entry's, no cut: the lifecycle's
 * SET_METADATA), ENTRY_END at end + post_roll (EXTENSION_END at a
 * teacher's extension's end).  Two neighbours whose rolls overlap meet at
 * the later one's start - pre_roll (never before the earlier one's end).
 *
 * It fires on transitions, never on levels: every occurrence is started at
 * most once, and remembered by its schedule_uid (on disk, so a restart or
 * a reload does not record it twice).  So a lesson a teacher stopped early
 * stays stopped; a clock stepped back into a lesson already recorded does
 * not record it again; a clock stepped forward into a lesson starts it at
 * once (as a start in the middle of an entry does); one it stepped over
 * entirely is logged as skipped.  Steps are noticed by comparing the wall
 * clock with the monotonic one, and logged.
 *
 * A start the pipeline could not carry out (the lifecycle's START_FAILED)
 * is no transition: the entry is tried again with a backoff while its time
 * lasts and reported for the schedule_start_failed alert.  The running
 * entry follows the schedule: a moved end is sent as ENTRY_MOVED (the
 * lesson's schedule_end), a removed entry ends its lesson.  Live is not
 * the scheduler's: the entry start's metadata says it, as the API's start
 * does.
 *
 * The feed thread (lb-ical) reads or fetches the iCal feed and swaps the
 * parsed calendar in only when it parsed: a broken feed keeps the last good
 * schedule and shows its error. */
#include "scheduler.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libavutil/error.h>

#include "lb_clock.h"
#include "lb_file.h"
#include "lb_log.h"
#include "lb_redact.h"
#include "lb_thread.h"

#define OFF(x) offsetof(lb_schedule_settings, x)
const lb_option lb_schedule_options[] = {
    { "enabled", LB_OPT_BOOL, OFF(enabled), 0, "true", 0, 0, NULL,
      "record by the timetable (DATA_DIR/timetable.json, edited in the web UI) and the iCal feed" },
    { "ical", LB_OPT_STRING, OFF(ical), sizeof(((lb_schedule_settings *)0)->ical), NULL, 0, 0, NULL,
      "an iCalendar feed (RFC 5545): a file, or an https:// URL polled every poll_s" },
    { "timezone", LB_OPT_STRING, OFF(timezone), sizeof(((lb_schedule_settings *)0)->timezone), NULL, 0, 0,
      NULL, "the zone the timetable's times are read in, e.g. Asia/Shanghai (default: the system's)" },
    { "pre_roll_s", LB_OPT_INT, OFF(pre_roll_s), 0, "0", 0, 900, NULL,
      "start recording this long before a lesson's start" },
    { "post_roll_s", LB_OPT_INT, OFF(post_roll_s), 0, "0", 0, 1800, NULL,
      "stop recording this long after a lesson's end (never past the next lesson's start)" },
    { "poll_s", LB_OPT_INT, OFF(poll_s), 0, "300", 1, 86400, NULL,
      "read or fetch the iCal feed this often" },
    { "fetch_timeout_s", LB_OPT_INT, OFF(fetch_timeout_s), 0, "20", 1, 300, NULL,
      "give up a fetch of the feed after this long" },
    { "allow_http", LB_OPT_BOOL, OFF(allow_http), 0, "false", 0, 0, NULL,
      "allow a plain http:// feed (its content can be changed on the way)" },
    { NULL },
};
#undef OFF

#define TICK_US 250000
#define STEP_NOTICE_S 2.0               /* a wall clock step larger than this is logged */
#define WINDOW_BEFORE_S 86400           /* occurrences expanded: yesterday ... */
#define WINDOW_AFTER_S (2 * 86400)      /* ... to the day after tomorrow */
#define REEXPAND_S 3600                 /* and again when the clock moved this far */
#define MEMO_KEEP_S (3 * 86400)
#define RETRY_FIRST_S 2.0               /* a failed start is tried again after this ... */
#define RETRY_MAX_S 30.0                /* ... doubling up to this, while the entry's time lasts */

/* What the scheduler remembers of an occurrence it acted on. */
typedef struct memo {
    char uid[256];
    int64_t end_s;
    int started;                /* ENTRY_START accepted: never sent again */
    int done;                   /* recorded, stopped early or skipped: never started */
    char refused[128];          /* the last refusal, logged once */
    int failures;               /* starts that failed in a row (START_FAILED): not done, */
    double retry_at;            /* tried again from this wall time */
    char reason[256];           /* why the last one failed */
} memo;

/* An occurrence with when it is recorded. */
typedef struct slot {
    lb_schedule_occurrence occ;
    int64_t start_at, stop_at;  /* rolls applied, neighbours resolved */
} slot;

struct lb_scheduler {
    lb_schedule_settings set;
    char data_dir[PATH_MAX];
    lb_scheduler_ops ops;
    void *opaque;
    const char *offset_file;    /* LUOBO_TEST_WALL_OFFSET_FILE */

    pthread_mutex_t lock;
    /* the week grid expands timetable and ical outside lock holding this for
     * reading; a swap that frees one holds it for writing (taken before lock) */
    pthread_rwlock_t objs_lock;
    pthread_cond_t cond;
    atomic_int stop;
    lb_thread thread, feed_thread;
    int running;

    lb_timetable *timetable;
    char timetable_error[512];
    lb_ical *ical;
    /* the feed */
    char feed_state[16];        /* "none", "waiting", "ok", "error" */
    char feed_error[512];
    int64_t feed_ok_wall_us, feed_try_wall_us;
    char *feed_text;            /* the last good text (to skip an unchanged one) */

    slot *slots;
    int nb_slots;
    int dirty;                  /* expand again */
    double expanded_at;
    char expand_error[512];
    char conflict[512];

    memo *memos;
    int nb_memos;

    char cur_uid[256];          /* the occurrence whose lesson is recording */
    int64_t cur_stop_at;
    int64_t ext_until;          /* the teacher's extension: 0 none */
    int64_t cur_told_end;       /* the stop time the lifecycle last got (lesson.json's schedule_end) */
    int cur_seen;               /* the current entry was in the schedule (gone after: removed) */
    char armed_uid[256];
    /* a timetable lesson resumed at start-up, taken back at the first tick */
    lb_lesson_meta resumed;
    int resumed_pending;
    double now_s;               /* the last tick's wall clock */
    double prev_wall_s;
    int64_t prev_mono_us;
    double last_step_s;         /* the last clock step noticed (for the status) */
    char published[64];         /* cur/next of the last event: publish on change */
};

/* ---- files ---- */

static int read_file(const char *path, char **text, size_t *size, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    *text = NULL;
    *size = 0;
    if (!f) {
        int ret = AVERROR(errno);
        snprintf(err, err_size, "%s: %s", path, av_err2str(ret));
        return ret;
    }
    char *buf = malloc(LB_SCHEDULE_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, LB_SCHEDULE_MAX_BYTES + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf)
        return AVERROR(ENOMEM);
    if (bad || n > LB_SCHEDULE_MAX_BYTES) {
        free(buf);
        snprintf(err, err_size, "%s: %s", path, bad ? "read error" : "larger than 4 MiB");
        return AVERROR(bad ? EIO : EFBIG);
    }
    buf[n] = 0;
    *text = buf;
    *size = n;
    return 0;
}

static void path_of(const lb_scheduler *s, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s", s->data_dir, name);
}

/* ---- memory of the occurrences acted on ---- */

static memo *memo_find(lb_scheduler *s, const char *uid)
{
    for (int i = 0; i < s->nb_memos; i++)
        if (!strcmp(s->memos[i].uid, uid))
            return &s->memos[i];
    return NULL;
}

static memo *memo_get(lb_scheduler *s, const lb_schedule_occurrence *o)
{
    memo *m = memo_find(s, o->meta.schedule_uid);
    if (m)
        return m;
    memo *grown = realloc(s->memos, sizeof *grown * (size_t)(s->nb_memos + 1));
    if (!grown)
        return NULL;
    s->memos = grown;
    m = &s->memos[s->nb_memos++];
    memset(m, 0, sizeof *m);
    snprintf(m->uid, sizeof m->uid, "%s", o->meta.schedule_uid);
    m->end_s = o->end_s;
    return m;
}

static void memo_save(lb_scheduler *s)
{
    char path[PATH_MAX];
    cJSON *arr = cJSON_CreateArray();
    int64_t now = (int64_t)s->now_s;
    int kept = 0;
    for (int i = 0; i < s->nb_memos; i++) {
        memo *m = &s->memos[i];
        if (now && m->end_s < now - MEMO_KEEP_S)
            continue;                   /* long past: forget it */
        s->memos[kept++] = *m;
        /* only what ended: a lesson that a restart interrupted is recorded
         * again for the rest of its time (as luobo started in the middle of
         * an entry would) */
        if (!m->done)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "uid", m->uid);
        cJSON_AddNumberToObject(o, "end_s", (double)m->end_s);
        cJSON_AddItemToArray(arr, o);
    }
    s->nb_memos = kept;
    char *text = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    path_of(s, ".schedule-done.json", path, sizeof path);
    if (text && lb_write_file_atomic(path, text, strlen(text), 0644) < 0)
        LB_LOGW("schedule", "%s: cannot write", path);
    free(text);
}

static void memo_load(lb_scheduler *s)
{
    char path[PATH_MAX], err[256];
    char *text;
    size_t size;
    path_of(s, ".schedule-done.json", path, sizeof path);
    if (access(path, F_OK) || read_file(path, &text, &size, err, sizeof err) < 0)
        return;
    cJSON *arr = cJSON_ParseWithLength(text, size), *o;
    free(text);
    cJSON_ArrayForEach(o, arr) {
        const cJSON *uid = cJSON_GetObjectItemCaseSensitive(o, "uid");
        const cJSON *end = cJSON_GetObjectItemCaseSensitive(o, "end_s");
        lb_schedule_occurrence occ = { 0 };
        if (!cJSON_IsString(uid) || lb_json_int64(end, 0, LB_JSON_WALL_S_MAX, &occ.end_s) < 0)
            continue;
        snprintf(occ.meta.schedule_uid, sizeof occ.meta.schedule_uid, "%s", uid->valuestring);
        memo *m = memo_get(s, &occ);
        if (m)
            m->started = m->done = 1;
    }
    cJSON_Delete(arr);
}

/* ---- the occurrences ---- */

static const char *zone(const lb_scheduler *s)
{
    if (s->set.timezone[0])
        return s->set.timezone;
    return s->timetable && lb_timetable_timezone(s->timetable) ? lb_timetable_timezone(s->timetable) : "";
}

static const char *origin_name(const lb_schedule_occurrence *o)
{
    return o->origin == LB_SCHEDULE_ICAL ? "iCal" : "timetable";
}

/* The occurrence being recorded (uid) keeps its time: an entry or an event
 * added over it (the merge would keep the earlier start and drop the later
 * one, and so stop a running lesson as if removed) is dropped instead, from
 * both lists, with a note in conflict when the merge has none.  Compacts
 * a and b in place. */
static void keep_recording(const char *uid, lb_schedule_occurrence *a, int *nb_a,
                           lb_schedule_occurrence *b, int *nb_b, char *conflict, size_t conflict_size)
{
    const lb_schedule_occurrence *cur = NULL;
    for (int i = 0; uid[0] && !cur && i < *nb_a; i++)
        if (!strcmp(a[i].meta.schedule_uid, uid))
            cur = &a[i];
    for (int i = 0; uid[0] && !cur && i < *nb_b; i++)
        if (!strcmp(b[i].meta.schedule_uid, uid))
            cur = &b[i];
    if (!cur)
        return;
    lb_schedule_occurrence keep = *cur;
    lb_schedule_occurrence *list[2] = { a, b };
    int *nb[2] = { nb_a, nb_b };
    for (int l = 0; l < 2; l++) {
        int kept = 0;
        for (int i = 0; i < *nb[l]; i++) {
            const lb_schedule_occurrence *o = &list[l][i];
            if (strcmp(o->meta.schedule_uid, keep.meta.schedule_uid) &&
                o->start_s < keep.end_s && keep.start_s < o->end_s) {
                if (!conflict[0])
                    snprintf(conflict, conflict_size, "'%s' (%s %s) overlaps '%s' (%s %s), which is recording: "
                             "it is not scheduled", o->meta.title, origin_name(o), o->meta.schedule_uid,
                             keep.meta.title, origin_name(&keep), keep.meta.schedule_uid);
                continue;
            }
            list[l][kept++] = *o;
        }
        *nb[l] = kept;
    }
}

static void expand(lb_scheduler *s, double now_s)
{
    lb_schedule_occurrence *a = NULL, *b = NULL, *all = NULL;
    int nb_a = 0, nb_b = 0, nb = 0;
    char err[512] = "";
    int64_t from = (int64_t)now_s - WINDOW_BEFORE_S, to = (int64_t)now_s + WINDOW_AFTER_S;

    s->expand_error[0] = 0;
    if (s->timetable && lb_timetable_expand(s->timetable, zone(s), from, to, &a, &nb_a, err, sizeof err) < 0) {
        snprintf(s->expand_error, sizeof s->expand_error, "timetable: %s", err);
        nb_a = 0;
    }
    if (s->ical && lb_ical_expand(s->ical, zone(s), from, to, &b, &nb_b, err, sizeof err) < 0) {
        snprintf(s->expand_error, sizeof s->expand_error, "iCal feed: %s", err);
        nb_b = 0;
    }
    char conflict[512] = "", rival[512] = "";
    keep_recording(s->cur_uid, a, &nb_a, b, &nb_b, rival, sizeof rival);
    if (lb_schedule_merge(a, nb_a, b, nb_b, &all, &nb, conflict, sizeof conflict) < 0) {
        snprintf(s->expand_error, sizeof s->expand_error, "cannot merge the timetable and the feed");
        nb = 0;
    }
    if (!conflict[0])
        snprintf(conflict, sizeof conflict, "%s", rival);
    if (strcmp(conflict, s->conflict) && conflict[0])
        LB_LOGW("schedule", "%s", conflict);
    snprintf(s->conflict, sizeof s->conflict, "%s", conflict);
    if (s->expand_error[0])
        LB_LOGW("schedule", "%s", s->expand_error);
    free(a);
    free(b);

    free(s->slots);
    s->slots = nb > 0 ? calloc((size_t)nb, sizeof *s->slots) : NULL;
    s->nb_slots = s->slots ? nb : 0;
    int prev = -1;
    for (int i = 0; i < s->nb_slots; i++) {
        slot *sl = &s->slots[i];
        sl->occ = all[i];
        sl->start_at = all[i].start_s - s->set.pre_roll_s;
        sl->stop_at = all[i].end_s + s->set.post_roll_s;
        if (!sl->occ.record)
            continue;
        /* neighbours meet at the later one's pre-roll, never inside the earlier lesson */
        if (prev >= 0 && s->slots[prev].stop_at > sl->start_at) {
            int64_t meet = sl->start_at > s->slots[prev].occ.end_s ? sl->start_at : s->slots[prev].occ.end_s;
            s->slots[prev].stop_at = meet;
            if (sl->start_at < meet)
                sl->start_at = meet;
        }
        prev = i;
    }
    free(all);
    s->expanded_at = now_s;
    s->dirty = 0;
    /* the running lesson follows its entry's new end */
    for (int i = 0; i < s->nb_slots && s->cur_uid[0]; i++)
        if (!strcmp(s->slots[i].occ.meta.schedule_uid, s->cur_uid))
            s->cur_stop_at = s->slots[i].stop_at;
}

static slot *slot_of(lb_scheduler *s, const char *uid)
{
    for (int i = 0; i < s->nb_slots; i++)
        if (!strcmp(s->slots[i].occ.meta.schedule_uid, uid))
            return &s->slots[i];
    return NULL;
}

/* The next occurrence to record after the current one: not begun, not done. */
static slot *next_slot(lb_scheduler *s, double now_s)
{
    for (int i = 0; i < s->nb_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->occ.record || sl->stop_at <= now_s || !strcmp(sl->occ.meta.schedule_uid, s->cur_uid))
            continue;
        memo *m = memo_find(s, sl->occ.meta.schedule_uid);
        if (m && (m->started || m->done))
            continue;
        return sl;
    }
    return NULL;
}

/* When the running lesson stops: its entry's end and post-roll, or the
 * teacher's extension when that is later (an entry moved past it keeps
 * the lesson to the entry's new end). */
static int64_t cur_until(const lb_scheduler *s)
{
    return s->ext_until > s->cur_stop_at ? s->ext_until : s->cur_stop_at;
}

/* ---- status ---- */

static void add_time(cJSON *o, const char *key, int64_t wall_s)
{
    char buf[40];
    cJSON_AddStringToObject(o, key, lb_clock_iso8601(wall_s * 1000000, buf, sizeof buf));
}

static cJSON *meta_json(const lb_lesson_meta *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "title", m->title);
    cJSON_AddStringToObject(o, "teacher", m->teacher);
    cJSON_AddStringToObject(o, "subject", m->subject);
    cJSON_AddStringToObject(o, "grade", m->grade);
    cJSON_AddStringToObject(o, "class", m->class_name);
    const char *type = lb_lesson_type_name(m->lesson_type);
    if (type) {
        cJSON_AddStringToObject(o, "lesson_type", type);
        cJSON_AddStringToObject(o, "lesson_type_label", lb_lesson_type_label(m->lesson_type));
    }
    cJSON_AddStringToObject(o, "hall", m->hall);
    cJSON_AddStringToObject(o, "school", m->school);
    cJSON_AddStringToObject(o, "description", m->description);
    cJSON_AddStringToObject(o, "schedule_uid", m->schedule_uid);
    return o;
}

static cJSON *slot_json(lb_scheduler *s, const slot *sl)
{
    cJSON *o = meta_json(&sl->occ.meta);
    cJSON_AddStringToObject(o, "origin", sl->occ.origin == LB_SCHEDULE_ICAL ? "ical" : "timetable");
    add_time(o, "start", sl->occ.start_s);
    add_time(o, "end", sl->occ.end_s);
    cJSON_AddNumberToObject(o, "start_s", (double)sl->occ.start_s);
    cJSON_AddNumberToObject(o, "end_s", (double)sl->occ.end_s);
    cJSON_AddNumberToObject(o, "record_from_s", (double)sl->start_at);
    cJSON_AddNumberToObject(o, "record_until_s", (double)sl->stop_at);
    cJSON_AddBoolToObject(o, "record", sl->occ.record);
    cJSON_AddBoolToObject(o, "live", sl->occ.meta.live != LB_LIVE_NO);
    const memo *m = memo_find(s, sl->occ.meta.schedule_uid);
    /* a start tried again after a failure is start_failed until it
     * records; one whose time ran out failing stays so */
    const char *state = !sl->occ.record ? "not_recorded"
                      : m && m->failures ? "start_failed"
                      : !strcmp(s->cur_uid, sl->occ.meta.schedule_uid) ? "recording"
                      : m && (m->started || m->done) ? "done"
                      : sl->stop_at <= s->now_s ? "past" : "waiting";
    cJSON_AddStringToObject(o, "state", state);
    /* the grid tells a lesson the clock stepped over from one recorded */
    if (m && m->done && !m->started && !m->failures)
        cJSON_AddBoolToObject(o, "skipped", 1);
    if (m && m->refused[0] && !m->started)
        cJSON_AddStringToObject(o, "refused", m->refused);
    if (m && m->failures) {
        /* its start failed: tried again while its time lasts */
        cJSON_AddStringToObject(o, "start_error", m->reason);
        cJSON_AddNumberToObject(o, "start_attempts", m->failures);
        if (!m->done)
            cJSON_AddNumberToObject(o, "retry_at_s", floor(m->retry_at));
    }
    return o;
}

static cJSON *status_locked(lb_scheduler *s)
{
    cJSON *root = cJSON_CreateObject();
    char redacted[1100];
    cJSON_AddBoolToObject(root, "enabled", s->set.enabled);
    cJSON_AddStringToObject(root, "timezone", zone(s)[0] ? zone(s) : "system");
    cJSON_AddNumberToObject(root, "now_s", floor(s->now_s));
    if (s->now_s > 0)
        add_time(root, "now", (int64_t)s->now_s);
    cJSON_AddNumberToObject(root, "pre_roll_s", s->set.pre_roll_s);
    cJSON_AddNumberToObject(root, "post_roll_s", s->set.post_roll_s);
    cJSON_AddNumberToObject(root, "last_clock_step_s", s->last_step_s);
    slot *cur = s->cur_uid[0] ? slot_of(s, s->cur_uid) : NULL;
    if (cur) {
        cJSON *c = slot_json(s, cur);
        cJSON_AddNumberToObject(c, "record_until_s", (double)cur_until(s));
        if (s->ext_until)
            add_time(c, "extended_until", s->ext_until);
        cJSON_AddItemToObject(root, "current", c);
    } else {
        /* an occurrence under way that is not recorded (record = false, or
         * stopped early) is still the current lesson for the teacher's page */
        slot *now_sl = NULL;
        for (int i = 0; i < s->nb_slots && !now_sl; i++)
            if (s->slots[i].occ.start_s <= s->now_s && s->now_s < s->slots[i].occ.end_s)
                now_sl = &s->slots[i];
        if (now_sl)
            cJSON_AddItemToObject(root, "current", slot_json(s, now_sl));
        else
            cJSON_AddNullToObject(root, "current");
    }
    slot *next = NULL;
    for (int i = 0; i < s->nb_slots && !next; i++)
        if (s->slots[i].occ.start_s > s->now_s)
            next = &s->slots[i];
    if (next)
        cJSON_AddItemToObject(root, "next", slot_json(s, next));
    else
        cJSON_AddNullToObject(root, "next");
    /* today and tomorrow, for the timetable page */
    cJSON *list = cJSON_AddArrayToObject(root, "occurrences");
    for (int i = 0; i < s->nb_slots; i++)
        if (s->slots[i].occ.end_s > s->now_s - 12 * 3600 && s->slots[i].occ.start_s < s->now_s + 36 * 3600)
            cJSON_AddItemToArray(list, slot_json(s, &s->slots[i]));
    cJSON *tt = cJSON_AddObjectToObject(root, "timetable");
    cJSON_AddBoolToObject(tt, "present", s->timetable != NULL);
    if (s->timetable_error[0])
        cJSON_AddStringToObject(tt, "error", s->timetable_error);
    else
        cJSON_AddNullToObject(tt, "error");
    cJSON *feed = cJSON_AddObjectToObject(root, "feed");
    lb_redact_url(redacted, sizeof redacted, s->set.ical);
    cJSON_AddStringToObject(feed, "source", redacted);
    cJSON_AddStringToObject(feed, "state", s->feed_state);
    cJSON_AddBoolToObject(feed, "have_schedule", s->ical != NULL);
    if (s->feed_ok_wall_us)
        add_time(feed, "last_ok_at", s->feed_ok_wall_us / 1000000);
    if (s->feed_try_wall_us)
        add_time(feed, "last_try_at", s->feed_try_wall_us / 1000000);
    if (s->feed_error[0])
        cJSON_AddStringToObject(feed, "last_error", s->feed_error);
    else
        cJSON_AddNullToObject(feed, "last_error");
    if (s->conflict[0])
        cJSON_AddStringToObject(root, "conflict", s->conflict);
    else
        cJSON_AddNullToObject(root, "conflict");
    if (s->expand_error[0])
        cJSON_AddStringToObject(root, "error", s->expand_error);
    else
        cJSON_AddNullToObject(root, "error");
    return root;
}

static void publish_locked(lb_scheduler *s)
{
    if (!s->ops.publish)
        return;
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", "schedule");
    cJSON_AddItemToObject(ev, "schedule", status_locked(s));
    char *text = cJSON_PrintUnformatted(ev);
    cJSON_Delete(ev);
    if (text)
        s->ops.publish(s->opaque, text);
    free(text);
}

cJSON *lb_scheduler_status(lb_scheduler *s)
{
    pthread_mutex_lock(&s->lock);
    cJSON *o = status_locked(s);
    pthread_mutex_unlock(&s->lock);
    return o;
}

/* The occurrences of [from_s, to_s) for the timetable page's week grid:
 * expanded on demand (the ticking window holds only yesterday to the day
 * after tomorrow), each with the state the ticking window knows for it,
 * else its rolls alone (no neighbours: the grid shows lessons, not the
 * recorder's hand-overs). */
cJSON *lb_scheduler_window(lb_scheduler *s, int64_t from_s, int64_t to_s, char *err, size_t err_size)
{
    lb_schedule_occurrence *a = NULL, *b = NULL, *all = NULL;
    int nb_a = 0, nb_b = 0, nb = 0, ret = 0;
    char conflict[512] = "", tz[sizeof s->set.timezone + 64], cur_uid[sizeof s->cur_uid];
    cJSON *list = NULL;

    /* up to 15 days of a feed expand without lock (libical's own lock waits
     * for a feed being parsed): the tick and the status go on meanwhile */
    pthread_rwlock_rdlock(&s->objs_lock);
    pthread_mutex_lock(&s->lock);
    const lb_timetable *tt = s->timetable;
    const lb_ical *cal = s->ical;
    snprintf(tz, sizeof tz, "%s", zone(s));
    snprintf(cur_uid, sizeof cur_uid, "%s", s->cur_uid);
    pthread_mutex_unlock(&s->lock);
    if (tt && (ret = lb_timetable_expand(tt, tz, from_s, to_s, &a, &nb_a, err, err_size)) >= 0 && cal)
        ret = lb_ical_expand(cal, tz, from_s, to_s, &b, &nb_b, err, err_size);
    else if (!tt && cal)
        ret = lb_ical_expand(cal, tz, from_s, to_s, &b, &nb_b, err, err_size);
    pthread_rwlock_unlock(&s->objs_lock);
    if (ret < 0)
        goto fail;
    keep_recording(cur_uid, a, &nb_a, b, &nb_b, conflict, sizeof conflict);
    if ((ret = lb_schedule_merge(a, nb_a, b, nb_b, &all, &nb, conflict, sizeof conflict)) < 0) {
        snprintf(err, err_size, "cannot merge the timetable and the feed");
        goto fail;
    }
    /* the states: the ticking window's, under lock */
    pthread_mutex_lock(&s->lock);
    list = cJSON_CreateArray();
    for (int i = 0; i < nb; i++) {
        const slot *known = slot_of(s, all[i].meta.schedule_uid);
        slot tmp = { .occ = all[i], .start_at = all[i].start_s - s->set.pre_roll_s,
                     .stop_at = all[i].end_s + s->set.post_roll_s };
        cJSON_AddItemToArray(list, slot_json(s, known ? known : &tmp));
    }
    pthread_mutex_unlock(&s->lock);
fail:
    free(a);
    free(b);
    free(all);
    return list;
}

/* ---- the tick ---- */

static int send_event(lb_scheduler *s, lb_lesson_event ev, const char *why, const lb_lesson_meta *meta,
                char *err, size_t err_size)
{
    err[0] = 0;
    return s->ops.event(s->opaque, ev, why, meta, err, err_size);
}

static void end_current(lb_scheduler *s, const char *how)
{
    memo *m = memo_find(s, s->cur_uid);
    if (m)
        m->done = 1;
    LB_LOGI("schedule", "%s: %s", s->cur_uid, how);
    s->cur_uid[0] = 0;
    s->ext_until = 0;
    memo_save(s);
}

/* The lifecycle could not carry the entry's start out (START_FAILED: the
 * lesson folder or the archive refused).  The entry is not done: it is
 * tried again after a backoff while its time lasts, and the health checks
 * raise schedule_start_failed (lb_scheduler_failures) until a start
 * succeeds or its time is over. */
static void start_failed(lb_scheduler *s, double now_s)
{
    char reason[256] = "";
    memo *m = memo_find(s, s->cur_uid);
    if (s->ops.last_error)
        s->ops.last_error(s->opaque, reason, sizeof reason);
    if (m) {
        m->started = 0;
        m->failures++;
        double delay = fmin(RETRY_FIRST_S * pow(2, fmin(m->failures - 1, 16)), RETRY_MAX_S);
        m->retry_at = now_s + delay;
        snprintf(m->reason, sizeof m->reason, "%s", reason[0] ? reason : "the recording could not start");
        LB_LOGW("schedule", "%s: its lesson could not start (%s): tried again in %.0f s while its "
                "time lasts (%d failed)", s->cur_uid, m->reason, delay, m->failures);
    }
    s->cur_uid[0] = 0;
    s->ext_until = 0;
    s->published[0] = 0;                /* the teacher's page shows it */
}

/* The running entry as the schedule has it now.  Its end moved (a
 * timetable edit, a changed feed: expand() moved cur_stop_at): the
 * lifecycle's ENTRY_MOVED gives the lesson the new stop time (lesson.json's
 * schedule_end, the status).  Gone from the schedule (removed from the
 * timetable or the feed: DESIGN's event records from DTSTART to DTEND, and
 * there is none any more): its lesson stops now, as at its end; an
 * extended one keeps the teacher's extension.  0, or 1 when it was ended. */
static int follow_entry(lb_scheduler *s, double now_s)
{
    char why[512], err[256];
    slot *sl = slot_of(s, s->cur_uid);
    if (sl)
        s->cur_seen = 1;
    else if (s->cur_seen && !s->expand_error[0] && !s->ext_until) {
        snprintf(why, sizeof why, "timetable: %s removed from the schedule", s->cur_uid);
        if (send_event(s, LB_EV_ENTRY_END, why, NULL, err, sizeof err) >= 0) {
            end_current(s, "removed from the schedule: recording stops");
            return 1;
        }
        LB_LOGD("schedule", "%s: end refused: %s", s->cur_uid, err);
        return 0;
    }
    int64_t until = cur_until(s);
    if (until == s->cur_told_end)
        return 0;
    lb_lesson_meta end = { .schedule_end_s = until };   /* only its end is read (LB_FX_SET_END) */
    snprintf(end.schedule_uid, sizeof end.schedule_uid, "%s", s->cur_uid);
    snprintf(why, sizeof why, "timetable: %s now ends at %+.0f s from now", s->cur_uid, until - now_s);
    if (send_event(s, LB_EV_ENTRY_MOVED, why, &end, err, sizeof err) < 0) {
        LB_LOGD("schedule", "%s: the new end refused: %s", s->cur_uid, err);
        return 0;
    }
    LB_LOGI("schedule", "%s: its end moved in the schedule: recording until %+.0f s from now (was %+.0f s)",
            s->cur_uid, until - now_s, s->cur_told_end - now_s);
    s->cur_told_end = until;
    s->published[0] = 0;
    return 0;
}

/* The lesson resumed at start-up was a timetable entry's: it becomes the
 * current entry again (the entry start of a recording lesson: no cut, its
 * folder stays), so it stops at its entry's end plus post-roll, or at the
 * extension lesson.json's schedule_end records, whichever is later.  An
 * entry no longer in the schedule stops at schedule_end. */
static void adopt_resumed(lb_scheduler *s, lb_lifecycle lc, double now_s)
{
    char why[512], err[256];
    lb_lesson_meta meta = s->resumed;
    const char *uid = meta.schedule_uid;
    if (!(lc.flags & LB_LESSON_RESUMED) || (lc.flags & LB_LESSON_ENTRY) ||
        (lc.state != LB_LESSON_STARTING && lc.state != LB_LESSON_RECORDING))
        return;                         /* it did not resume after all */
    slot *sl = slot_of(s, uid);
    int64_t stop_at = sl ? sl->stop_at : meta.schedule_end_s;
    int64_t ext = sl && meta.schedule_end_s > sl->stop_at ? meta.schedule_end_s : 0;
    if (stop_at <= 0) {
        LB_LOGW("schedule", "%s: resumed, but its entry is neither in the schedule nor has a "
                "schedule_end: it records until it is stopped", uid);
        return;
    }
    meta.schedule_end_s = ext ? ext : stop_at;
    if (sl && meta.live == LB_LIVE_UNSET)
        meta.live = sl->occ.meta.live;  /* a lesson.json from before "live" was kept */
    snprintf(why, sizeof why, "timetable: %s (%s) resumed", uid, meta.title);
    if (send_event(s, LB_EV_ENTRY_START, why, &meta, err, sizeof err) < 0) {
        LB_LOGW("schedule", "%s: resumed, but not taken back as the timetable's: %s", uid, err);
        return;
    }
    lb_schedule_occurrence occ = { .end_s = sl ? sl->occ.end_s : stop_at };
    snprintf(occ.meta.schedule_uid, sizeof occ.meta.schedule_uid, "%s", uid);
    memo *m = memo_get(s, &occ);
    if (m)
        m->started = 1;
    snprintf(s->cur_uid, sizeof s->cur_uid, "%s", uid);
    s->cur_stop_at = stop_at;
    s->ext_until = ext;
    s->cur_told_end = meta.schedule_end_s;
    s->cur_seen = sl != NULL;
    LB_LOGI("schedule", "%s (%s): resumed, recording until %+.0f s from now%s%s", uid, meta.title,
            (double)(ext ? ext : stop_at) - now_s, ext ? " (its extension)" : "", sl ? "" :
            " (its entry is no longer in the schedule: lesson.json's schedule_end)");
}

static void tick_locked(lb_scheduler *s, double now_s)
{
    char why[512], err[256];
    int64_t mono = lb_clock_now();
    double stepped_from = 0;           /* a forward step this tick: the wall time before it */
    if (s->prev_mono_us) {
        double step = (now_s - s->prev_wall_s) - (mono - s->prev_mono_us) / 1e6;
        if (fabs(step) > STEP_NOTICE_S) {
            LB_LOGW("schedule", "the wall clock stepped by %+.0f s: lessons already started or "
                    "recorded are not started again, lessons stepped over are skipped", step);
            s->last_step_s = step;
            if (step > 0)
                stepped_from = s->prev_wall_s;
            s->dirty |= fabs(now_s - s->expanded_at) > REEXPAND_S;
        }
    }
    s->prev_wall_s = now_s;
    s->prev_mono_us = mono;
    s->now_s = now_s;
    if (s->dirty || fabs(now_s - s->expanded_at) > REEXPAND_S)
        expand(s, now_s);
    if (!s->set.enabled)
        return;

    lb_lifecycle lc = s->ops.lifecycle(s->opaque);
    if (s->resumed_pending) {
        s->resumed_pending = 0;
        adopt_resumed(s, lc, now_s);
        lc = s->ops.lifecycle(s->opaque);
    }
    int busy = lb_lesson_state_busy(lc.state);

    /* 1. the running lesson: ended by someone else, or due to end */
    if (s->cur_uid[0]) {
        if (lc.flags & LB_LESSON_SUSPENDED) {
            /* a service stop or a reboot finished it: the next start resumes
             * it and takes it back (adopt_resumed), so its entry is not done */
            LB_LOGI("schedule", "%s: its lesson was finished by a shutdown: resumed at the next start, "
                    "the entry is not done", s->cur_uid);
            s->cur_uid[0] = 0;
            s->ext_until = 0;
        } else if (!busy && (lc.flags & LB_LESSON_START_FAILED)) {
            start_failed(s, now_s);
        } else if (!busy || !(lc.flags & LB_LESSON_ENTRY)) {
            end_current(s, lc.state == LB_LESSON_IDLE || lc.state == LB_LESSON_SCHEDULED
                           ? "its lesson ended (stopped early, or failed): it is not started again"
                           : "its lesson is no longer the timetable's");
        } else if (lc.state == LB_LESSON_STARTING || lc.state == LB_LESSON_RECORDING) {
            memo *cm = memo_find(s, s->cur_uid);
            if (lc.state == LB_LESSON_RECORDING && cm && cm->failures) {
                LB_LOGI("schedule", "%s: recording, after %d failed start%s", s->cur_uid, cm->failures,
                        cm->failures == 1 ? "" : "s");
                cm->failures = 0;
                cm->reason[0] = 0;
            }
            /* removed from the schedule: stopped; else its end, moved or not */
            if (!follow_entry(s, now_s) && now_s >= cur_until(s)) {
                int extended = !!(lc.flags & LB_LESSON_EXTENDED);
                snprintf(why, sizeof why, "timetable: %s %s", s->cur_uid,
                         extended ? "extension ended" : "period ended");
                if (send_event(s, extended ? LB_EV_EXTENSION_END : LB_EV_ENTRY_END, why, NULL, err, sizeof err) >= 0)
                    end_current(s, extended ? "extension ended, recording stops" : "period ended, recording stops");
                else
                    LB_LOGD("schedule", "%s: end refused: %s", s->cur_uid, err);
            }
        }
    }

    /* 2. the occurrence due now, if none is recording */
    for (int i = 0; i < s->nb_slots && !s->cur_uid[0]; i++) {
        slot *sl = &s->slots[i];
        if (!sl->occ.record || now_s < sl->start_at)
            continue;
        memo *m = memo_find(s, sl->occ.meta.schedule_uid);
        if (m && (m->started || m->done))
            continue;
        if (now_s >= sl->stop_at) {
            if (m && m->failures) {
                /* its time is over and it never started: done (the alert clears) */
                m->done = 1;
                LB_LOGW("schedule", "%s (%s): its time is over: not recorded, the start failed %d "
                        "time%s (%s)", m->uid, sl->occ.meta.title, m->failures, m->failures == 1 ? "" : "s",
                        m->reason);
                memo_save(s);
                continue;
            }
            /* a clock step went over its whole time */
            if (stepped_from && sl->stop_at > stepped_from && !m && (m = memo_get(s, &sl->occ))) {
                m->done = 1;
                LB_LOGW("schedule", "%s (%s): skipped: the clock stepped over its whole time",
                        sl->occ.meta.schedule_uid, sl->occ.meta.title);
                memo_save(s);
            }
            continue;
        }
        if (m && m->failures && now_s < m->retry_at)
            continue;                   /* its start failed: backing off */
        if (lc.state == LB_LESSON_STOPPING || lc.state == LB_LESSON_FINISHING)
            break;                      /* the last lesson is being finished: next tick */
        snprintf(why, sizeof why, "timetable: %s (%s)%s", sl->occ.meta.schedule_uid, sl->occ.meta.title,
                 now_s > sl->start_at + 2 ? ", in the middle of its time" : "");
        if (!(m = memo_get(s, &sl->occ)))
            break;
        /* lesson.json says when it ends: a crash before then resumes it, not after */
        lb_lesson_meta meta = sl->occ.meta;
        meta.schedule_end_s = sl->stop_at;
        if (send_event(s, LB_EV_ENTRY_START, why, &meta, err, sizeof err) < 0) {
            if (strcmp(m->refused, err)) {
                LB_LOGW("schedule", "%s (%s): cannot start now: %s; trying again", m->uid,
                        sl->occ.meta.title, err);
                snprintf(m->refused, sizeof m->refused, "%s", err);
            }
            break;
        }
        m->started = 1;
        snprintf(s->cur_uid, sizeof s->cur_uid, "%s", m->uid);
        s->cur_stop_at = sl->stop_at;
        s->cur_told_end = sl->stop_at;
        s->cur_seen = 1;
        s->ext_until = 0;
        LB_LOGI("schedule", "%s (%s): recording until %+.0f s from now%s", m->uid, sl->occ.meta.title,
                sl->stop_at - now_s, sl->occ.meta.live == LB_LIVE_NO ? ", not live" : "");
        memo_save(s);
        lc = s->ops.lifecycle(s->opaque);
    }

    /* 3. the next occurrence is armed */
    slot *next = next_slot(s, now_s);
    const char *next_uid = next ? next->occ.meta.schedule_uid : "";
    if (strcmp(next_uid, s->armed_uid) || !!(lc.flags & LB_LESSON_ARMED) != !!next) {
        if (next)
            snprintf(why, sizeof why, "timetable: next is %s (%s)", next_uid, next->occ.meta.title);
        else
            snprintf(why, sizeof why, "timetable: no lesson to record next");
        if (send_event(s, next ? LB_EV_ENTRY_ARMED : LB_EV_ENTRY_DISARMED, why, NULL, err, sizeof err) >= 0)
            snprintf(s->armed_uid, sizeof s->armed_uid, "%s", next_uid);
    }

    /* 4. what the teacher's page shows changed: tell it */
    char shown[64];
    slot *cur = s->cur_uid[0] ? slot_of(s, s->cur_uid) : NULL;
    snprintf(shown, sizeof shown, "%p/%p/%lld", (void *)cur, (void *)next, (long long)s->ext_until);
    if (strcmp(shown, s->published)) {
        snprintf(s->published, sizeof s->published, "%s", shown);
        publish_locked(s);
    }
}

void lb_scheduler_tick(lb_scheduler *s, double now_s)
{
    pthread_mutex_lock(&s->lock);
    tick_locked(s, now_s);
    pthread_mutex_unlock(&s->lock);
}

/* The wall clock, moved by LUOBO_TEST_WALL_OFFSET_FILE's seconds in tests. */
static double wall_now(lb_scheduler *s)
{
    double now = lb_clock_wall_us() / 1e6;
    if (s->offset_file) {
        FILE *f = fopen(s->offset_file, "r");
        double off = 0;
        if (f) {
            if (fscanf(f, "%lf", &off) == 1 && isfinite(off))
                now += off;
            fclose(f);
        }
    }
    return now;
}

static void *schedule_thread(void *arg)
{
    lb_scheduler *s = arg;
    int64_t next = lb_clock_now();
    while (!atomic_load(&s->stop)) {
        lb_scheduler_tick(s, wall_now(s));
        next += TICK_US;
        int64_t now = lb_clock_now();
        if (next < now)
            next = now;
        pthread_mutex_lock(&s->lock);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait = next - now;
        ts.tv_sec += wait / 1000000;
        ts.tv_nsec += (wait % 1000000) * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (!atomic_load(&s->stop))
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

/* ---- the feed ---- */

typedef struct fetch_buf {
    lb_scheduler *s;
    char *data;
    size_t len;
    int too_big;
} fetch_buf;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *opaque)
{
    fetch_buf *b = opaque;
    size_t n = size * nmemb;
    if (b->len + n > LB_SCHEDULE_MAX_BYTES) {
        b->too_big = 1;
        return 0;
    }
    char *grown = realloc(b->data, b->len + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, ptr, n);
    b->data = grown;
    b->len += n;
    b->data[b->len] = 0;
    return n;
}

static int on_progress(void *opaque, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    return atomic_load(&((fetch_buf *)opaque)->s->stop);
}

static int is_url(const char *src)
{
    return !strncmp(src, "http://", 7) || !strncmp(src, "https://", 8);
}

static int fetch_url(lb_scheduler *s, char **text, size_t *size, char *err, size_t err_size)
{
    char cerr[CURL_ERROR_SIZE] = "", url[1100];
    fetch_buf b = { .s = s };
    long code = 0;
    CURL *c = curl_easy_init();
    if (!c)
        return AVERROR(ENOMEM);
    const char *protos = s->set.allow_http ? "http,https" : "https";
    curl_easy_setopt(c, CURLOPT_URL, s->set.ical);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protos);
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protos);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)s->set.fetch_timeout_s);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)LB_SCHEDULE_MAX_BYTES);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &b);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "luobo/" LUOBO_VERSION);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    lb_redact_url(url, sizeof url, s->set.ical);
    if (rc == CURLE_OK && code >= 200 && code < 300) {
        *text = b.data ? b.data : strdup("");
        *size = b.len;
        return *text ? 0 : AVERROR(ENOMEM);
    }
    free(b.data);
    if (b.too_big || rc == CURLE_FILESIZE_EXCEEDED)
        snprintf(err, err_size, "%s: larger than 4 MiB", url);
    else if (rc == CURLE_OK)
        snprintf(err, err_size, "%s: HTTP %ld", url, code);
    else
        snprintf(err, err_size, "%s: %s", url, cerr[0] ? cerr : curl_easy_strerror(rc));
    return AVERROR(EIO);
}

/* Reads or fetches the feed once; a good one is parsed, stored and applied. */
static void poll_feed(lb_scheduler *s)
{
    char *text = NULL, err[512] = "", path[PATH_MAX];
    size_t size = 0;
    lb_ical *cal = NULL;
    int ret = is_url(s->set.ical) ? fetch_url(s, &text, &size, err, sizeof err)
                                  : read_file(s->set.ical, &text, &size, err, sizeof err);
    int unchanged = 0;
    if (ret >= 0) {
        pthread_mutex_lock(&s->lock);
        unchanged = s->feed_text && s->ical && !strcmp(s->feed_text, text);
        pthread_mutex_unlock(&s->lock);
        char perr[400] = "";
        if (!unchanged && (ret = lb_ical_parse(&cal, text, size, perr, sizeof perr)) < 0)
            snprintf(err, sizeof err, "the feed does not parse: %s", perr);
    }
    if (ret >= 0 && !unchanged) {
        path_of(s, ".schedule-feed.ics", path, sizeof path);
        if (lb_write_file_atomic(path, text, size, 0600) < 0)
            LB_LOGW("schedule", "%s: cannot keep the feed for the next start", path);
    }
    pthread_rwlock_wrlock(&s->objs_lock);     /* the old feed may be freed */
    pthread_mutex_lock(&s->lock);
    s->feed_try_wall_us = lb_clock_wall_us();
    if (ret >= 0) {
        if (!unchanged) {
            lb_ical_free(&s->ical);
            s->ical = cal;
            cal = NULL;
            free(s->feed_text);
            s->feed_text = text;
            text = NULL;
            s->dirty = 1;
            LB_LOGI("schedule", "iCal feed read (%zu bytes)", size);
        }
        if (strcmp(s->feed_state, "ok"))
            LB_LOGI("schedule", "iCal feed: ok");
        snprintf(s->feed_state, sizeof s->feed_state, "ok");
        s->feed_error[0] = 0;
        s->feed_ok_wall_us = s->feed_try_wall_us;
        if (!unchanged)
            publish_locked(s);
    } else {
        int changed = strcmp(s->feed_error, err);
        if (changed)
            LB_LOGW("schedule", "iCal feed: %s; the last good schedule stays%s", err,
                    s->ical ? "" : " (there is none yet)");
        snprintf(s->feed_state, sizeof s->feed_state, "error");
        snprintf(s->feed_error, sizeof s->feed_error, "%s", err);
        if (changed)
            publish_locked(s);
    }
    pthread_mutex_unlock(&s->lock);
    pthread_rwlock_unlock(&s->objs_lock);
    lb_ical_free(&cal);
    free(text);
}

static void *feed_thread(void *arg)
{
    lb_scheduler *s = arg;
    while (!atomic_load(&s->stop)) {
        poll_feed(s);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += s->set.poll_s;
        pthread_mutex_lock(&s->lock);
        if (!atomic_load(&s->stop))
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

/* ---- set-up ---- */

static int check_settings(lb_schedule_settings *set, const lb_config_section *sec, char *err, size_t err_size)
{
    const char *src = set->ical;
    if (!strncmp(src, "http://", 7) && !set->allow_http) {
        lb_config_error(sec, "ical", err, err_size, "a plain http:// feed needs allow_http = true "
                        "(use https://)");
        return AVERROR(EINVAL);
    }
    if (strstr(src, "://") && !is_url(src)) {
        lb_config_error(sec, "ical", err, err_size, "'%s': a file, or an http(s) URL", src);
        return AVERROR(EINVAL);
    }
    const char *tz = set->timezone;
    if (tz[0]) {
        char path[256];
        struct stat st;
        int plain = tz[0] != '/' && !strstr(tz, "..");
        for (const char *c = tz; *c && plain; c++)
            plain = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
                    strchr("/_-+", *c);
        snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
        if (!plain || stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
            lb_config_error(sec, "timezone", err, err_size, "unknown time zone '%s' (an IANA name such "
                            "as Asia/Shanghai)", tz);
            return AVERROR(EINVAL);
        }
    }
    return 0;
}

int lb_scheduler_create(lb_scheduler **ps, const lb_config_section *sec, const char *data_dir,
                        const lb_scheduler_ops *ops, void *opaque, char *err, size_t err_size)
{
    int ret;
    lb_scheduler *s = calloc(1, sizeof *s);
    *ps = NULL;
    if (!s)
        return AVERROR(ENOMEM);
    pthread_mutex_init(&s->lock, NULL);
    pthread_rwlock_init(&s->objs_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    s->ops = *ops;
    s->opaque = opaque;
    snprintf(s->data_dir, sizeof s->data_dir, "%s", data_dir);
    snprintf(s->feed_state, sizeof s->feed_state, "none");
    s->offset_file = getenv("LUOBO_TEST_WALL_OFFSET_FILE");
    if ((ret = lb_config_apply(sec, lb_schedule_options, &s->set, err, err_size)) < 0 ||
        (ret = check_settings(&s->set, sec, err, err_size)) < 0) {
        lb_scheduler_free(&s);
        return ret;
    }
    if (s->set.ical[0])
        snprintf(s->feed_state, sizeof s->feed_state, "waiting");
    s->dirty = 1;
    *ps = s;
    return 0;
}

void lb_scheduler_load(lb_scheduler *s)
{
    char path[PATH_MAX], err[512], tt_error[sizeof s->timetable_error] = "";
    char *text = NULL, *feed_text = NULL;
    size_t size;
    lb_timetable *tt = NULL;
    lb_ical *cal = NULL;
    if (!s)
        return;
    path_of(s, "timetable.json", path, sizeof path);
    if (!access(path, F_OK)) {
        if (read_file(path, &text, &size, err, sizeof err) < 0 ||
            lb_timetable_parse(&tt, text ? text : "", size, err, sizeof err) < 0) {
            snprintf(tt_error, sizeof tt_error, "%s: %s", path, err);
            LB_LOGE("schedule", "%s", tt_error);
        }
        free(text);
        text = NULL;
    }
    path_of(s, ".schedule-feed.ics", path, sizeof path);
    if (s->set.ical[0] && !access(path, F_OK) && read_file(path, &text, &size, err, sizeof err) >= 0) {
        if (lb_ical_parse(&cal, text, size, err, sizeof err) >= 0) {
            feed_text = text;
            text = NULL;
            LB_LOGI("schedule", "the last good iCal feed is kept until the feed is read");
        }
        free(text);
    }
    /* the web UI runs already: a timetable PUT meanwhile is newer than the file */
    pthread_mutex_lock(&s->lock);
    if (!s->timetable) {
        s->timetable = tt;
        tt = NULL;
        snprintf(s->timetable_error, sizeof s->timetable_error, "%s", tt_error);
    }
    if (!s->ical) {
        s->ical = cal;
        cal = NULL;
        s->feed_text = feed_text;
        feed_text = NULL;
    }
    s->dirty = 1;
    memo_load(s);
    pthread_mutex_unlock(&s->lock);
    lb_timetable_free(&tt);
    lb_ical_free(&cal);
    free(feed_text);
}

int lb_scheduler_start(lb_scheduler *s)
{
    int ret;
    if (!s)
        return 0;
    mkdir(s->data_dir, 0755);           /* the web UI makes it too; a failure shows at the first write */
    lb_scheduler_load(s);
    if ((ret = lb_thread_start(&s->thread, "lb-schedule", schedule_thread, s)) < 0)
        return ret;
    s->running = 1;
    if (s->set.ical[0] && (ret = lb_thread_start(&s->feed_thread, "lb-ical", feed_thread, s)) < 0)
        return ret;
    s->running = 2;
    if (s->set.enabled)
        LB_LOGI("schedule", "recording by the schedule (%s%s%s; time zone %s; pre-roll %d s, post-roll %d s)",
                s->timetable ? "timetable" : "no timetable", s->set.ical[0] ? ", iCal feed" : "",
                "", zone(s)[0] ? zone(s) : "the system's", s->set.pre_roll_s, s->set.post_roll_s);
    return 0;
}

void lb_scheduler_stop(lb_scheduler *s)
{
    if (!s || !s->running)
        return;
    atomic_store(&s->stop, 1);
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    lb_thread_join(&s->thread);
    if (s->running > 1)
        lb_thread_join(&s->feed_thread);
    s->running = 0;
}

void lb_scheduler_free(lb_scheduler **ps)
{
    lb_scheduler *s = ps ? *ps : NULL;
    if (!s)
        return;
    lb_scheduler_stop(s);
    lb_timetable_free(&s->timetable);
    lb_ical_free(&s->ical);
    free(s->feed_text);
    free(s->slots);
    free(s->memos);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    pthread_rwlock_destroy(&s->objs_lock);
    free(s);
    *ps = NULL;
}

/* ---- the API's ---- */

char *lb_scheduler_timetable(lb_scheduler *s)
{
    pthread_mutex_lock(&s->lock);
    char *text = s->timetable ? lb_timetable_to_json(s->timetable) : NULL;
    pthread_mutex_unlock(&s->lock);
    return text;
}

int lb_scheduler_set_timetable(lb_scheduler *s, const char *text, size_t size, char *err, size_t err_size)
{
    char path[PATH_MAX];
    lb_timetable *tt = NULL;
    char *canon = NULL;
    int ret;
    if (size && (ret = lb_timetable_parse(&tt, text, size, err, err_size)) < 0)
        return ret == AVERROR(ENOMEM) ? ret : AVERROR(EINVAL);
    path_of(s, "timetable.json", path, sizeof path);
    if (tt) {
        if (!(canon = lb_timetable_to_json(tt))) {
            lb_timetable_free(&tt);
            return AVERROR(ENOMEM);
        }
        ret = lb_write_file_atomic(path, canon, strlen(canon), 0644);
    } else {
        ret = unlink(path) < 0 && errno != ENOENT ? AVERROR(errno) : 0;
        if (ret >= 0)
            lb_fsync_parents(path, 1);
    }
    free(canon);
    if (ret < 0) {
        snprintf(err, err_size, "%s: cannot write: %s", path, av_err2str(ret));
        lb_timetable_free(&tt);
        return ret;
    }
    pthread_rwlock_wrlock(&s->objs_lock);
    pthread_mutex_lock(&s->lock);
    lb_timetable_free(&s->timetable);
    s->timetable = tt;
    s->timetable_error[0] = 0;
    s->dirty = 1;
    expand(s, s->now_s > 0 ? s->now_s : lb_clock_wall_us() / 1e6);
    s->published[0] = 0;                /* the next tick tells the pages */
    publish_locked(s);
    pthread_mutex_unlock(&s->lock);
    pthread_rwlock_unlock(&s->objs_lock);
    LB_LOGI("schedule", "timetable %s", tt ? "replaced" : "removed");
    return 0;
}

int lb_scheduler_extend(lb_scheduler *s, int minutes, char *err, size_t err_size)
{
    char why[320];
    int ret;
    pthread_mutex_lock(&s->lock);
    lb_lifecycle lc = s->ops.lifecycle(s->opaque);
    if (!s->cur_uid[0] || lc.state != LB_LESSON_RECORDING || !(lc.flags & LB_LESSON_ENTRY)) {
        snprintf(err, err_size, "%s", lc.state == LB_LESSON_RECORDING
                 ? "only a timetable lesson can be extended" : "no timetable lesson is recording");
        ret = AVERROR(EBUSY);
        goto out;
    }
    int64_t base = cur_until(s);
    int64_t until = base + (int64_t)minutes * 60;
    slot *next = next_slot(s, s->now_s);
    if (next && next->start_at < until) {
        if (next->start_at <= base) {
            char at[40];
            snprintf(err, err_size, "the next lesson (%s) starts at %s: no time to extend into",
                     next->occ.meta.title, lb_clock_iso8601(next->start_at * 1000000, at, sizeof at));
            ret = AVERROR(EBUSY);
            goto out;
        }
        until = next->start_at;
    }
    snprintf(why, sizeof why, "teacher: +%d min (%s)", minutes, s->cur_uid);
    lb_lesson_meta end = { .schedule_end_s = until };   /* only its end is read (LB_FX_SET_END) */
    snprintf(end.schedule_uid, sizeof end.schedule_uid, "%s", s->cur_uid);
    if ((ret = send_event(s, LB_EV_EXTEND, why, &end, err, err_size)) < 0)
        goto out;
    s->ext_until = until;
    s->cur_told_end = until;
    LB_LOGI("schedule", "%s: extended by %d min: recording until %+.0f s from now", s->cur_uid,
            minutes, until - s->now_s);
    s->published[0] = 0;
    publish_locked(s);
out:
    pthread_mutex_unlock(&s->lock);
    return ret;
}

void lb_scheduler_resumed(lb_scheduler *s, const lb_lesson_meta *meta)
{
    if (!s || !meta->schedule_uid[0])
        return;
    pthread_mutex_lock(&s->lock);
    s->resumed = *meta;
    s->resumed_pending = 1;
    pthread_mutex_unlock(&s->lock);
}

double lb_scheduler_remaining_s(lb_scheduler *s)
{
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    double total = 0, now = s->now_s;
    int64_t next_midnight;
    char err[256];
    /* the hall's day, in the schedule's zone (not the process's TZ) */
    if (s->set.enabled && now > 0 &&
        lb_schedule_next_midnight(zone(s), (int64_t)now, &next_midnight, err, sizeof err) >= 0) {
        double midnight = (double)next_midnight;
        for (int i = 0; i < s->nb_slots; i++) {
            slot *sl = &s->slots[i];
            int cur = !strcmp(sl->occ.meta.schedule_uid, s->cur_uid) && s->cur_uid[0];
            memo *m = memo_find(s, sl->occ.meta.schedule_uid);
            if (!sl->occ.record || (!cur && m && (m->started || m->done)))
                continue;
            double from = fmax(now, (double)sl->start_at);
            double to = fmin(midnight, (double)(cur ? cur_until(s) : sl->stop_at));
            if (to > from)
                total += to - from;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return total;
}

int lb_scheduler_failures(lb_scheduler *s, lb_scheduler_failure *out, int max)
{
    int n = 0;
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->nb_memos && n < max; i++) {
        const memo *m = &s->memos[i];
        slot *sl = m->failures && !m->done ? slot_of(s, m->uid) : NULL;
        if (!sl || s->now_s >= sl->stop_at)
            continue;                   /* recording now, over, or gone from the schedule */
        lb_scheduler_failure *f = &out[n++];
        snprintf(f->uid, sizeof f->uid, "%s", m->uid);
        snprintf(f->title, sizeof f->title, "%s", sl->occ.meta.title);
        snprintf(f->reason, sizeof f->reason, "%s", m->reason);
        f->attempts = m->failures;
        f->retry_in_s = fmax(0, m->retry_at - s->now_s);
    }
    pthread_mutex_unlock(&s->lock);
    return n;
}
