/* The scheduler's decisions on a made-up wall clock, against the real
 * lifecycle table with a pipeline that does at once what it is asked:
 * arming, start and end of each entry, neighbours' rolls, an extension
 * capped at the next entry, a teacher's stop that is not undone, clock
 * steps back into a lesson (no second start) and over one (skipped, not
 * started late), the remaining recording time today, the memory of
 * ended lessons across a new scheduler (a restart), schedule_end given
 * with each start and extension, and a resumed timetable lesson taken
 * back as the current entry (ending with its entry, its extension, or its
 * schedule_end when the entry is gone); the week grid's window of
 * lessons with their states; a start the pipeline could not carry out
 * (START_FAILED) tried again with a backoff while the entry's time lasts,
 * listed for the alert until it records or its time is over; the running
 * entry's end moved or the entry removed by a timetable edit, and kept
 * when an entry added over it starts earlier; "today"
 * ending at midnight in [schedule] timezone, not in TZ's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/error.h>

#include "check.h"
#include "lb_config.h"
#include "scheduler.h"

typedef struct fake {
    lb_lifecycle lc;
    char log[64][160];
    int n;
    char title[256];
    long long end_s;            /* the schedule_end of the last SET_METADATA or SET_END */
    lb_live live;               /* of the last SET_METADATA */
    int fail_starts;            /* the pipeline fails this many starts (START_FAILED) */
} fake;

static lb_lifecycle step(lb_lifecycle lc, lb_lesson_event ev)
{
    lb_lifecycle_effects fx;
    return lb_lifecycle_step(lc, ev, &fx);
}

static int on_event(void *opaque, lb_lesson_event ev, const char *why, const lb_lesson_meta *meta,
                    char *err, size_t err_size)
{
    fake *f = opaque;
    lb_lifecycle_effects fx;
    lb_lifecycle next = lb_lifecycle_step(f->lc, ev, &fx);
    if (fx.refused) {
        snprintf(err, err_size, "%s", fx.refused);
        return AVERROR(EBUSY);
    }
    f->lc = next;
    if (f->n < 64)
        snprintf(f->log[f->n++], sizeof f->log[0], "%s%s%s", lb_lesson_event_name(ev),
                 meta ? " " : "", meta ? meta->schedule_uid : "");
    if (meta && (fx.fx & LB_FX_SET_METADATA)) {
        snprintf(f->title, sizeof f->title, "%s", meta->title);
        f->live = meta->live;
    }
    if (meta && (fx.fx & (LB_FX_SET_METADATA | LB_FX_SET_END)))
        f->end_s = meta->schedule_end_s;
    /* the pipeline, at once */
    if ((fx.fx & LB_FX_START_ARCHIVE) && f->fail_starts > 0) {
        f->fail_starts--;
        f->lc = step(f->lc, LB_EV_FAILURE);
    } else if (fx.fx & LB_FX_START_ARCHIVE) {
        f->lc = step(f->lc, LB_EV_STARTED);
    }
    if (fx.fx & LB_FX_MARK_STOP) {
        f->lc = step(f->lc, LB_EV_STOP_DONE);
        f->lc = step(f->lc, LB_EV_FINISH_DONE);
    }
    return 0;
}

static lb_lifecycle on_lifecycle(void *opaque)
{
    return ((fake *)opaque)->lc;
}

static void on_last_error(void *opaque, char *buf, size_t size)
{
    snprintf(buf, size, "/data/lessons: cannot create: Not a directory");
}

static const lb_scheduler_ops ops = { .event = on_event, .lifecycle = on_lifecycle,
                                      .last_error = on_last_error };

/* What the ticks sent since the last call, as one line. */
static const char *sent(fake *f, char *buf, size_t size)
{
    buf[0] = 0;
    for (int i = 0; i < f->n; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "; " : "", f->log[i]);
    f->n = 0;
    return buf;
}

#define EXPECT(f, text) do {                                                   \
        char got_[4096];                                                       \
        sent((f), got_, sizeof got_);                                          \
        if (strcmp(got_, (text))) {                                            \
            fprintf(stderr, "%s:%d: sent '%s', expected '%s'\n", __FILE__, __LINE__, got_, (text)); \
            check_failures++;                                                  \
        }                                                                      \
    } while (0)

int main(void)
{
    setenv("TZ", "UTC", 1);                 /* "today" ends at midnight UTC, like the timetable */
    char dir[] = "/tmp/luobo-test-scheduler-XXXXXX", err[512], buf[256];
    CHECK(mkdtemp(dir) != NULL);
    lb_config *cfg = NULL;
    CHECK(lb_config_load_string(&cfg, "test.ini", "[schedule]\npre_roll_s = 60\npost_roll_s = 120\n",
                                err, sizeof err) == 0);
    /* 2026-12-07 (a Monday) in UTC */
    struct tm day = { .tm_year = 126, .tm_mon = 11, .tm_mday = 7 };
    time_t t0 = timegm(&day);
    const char *tt = "{\"timezone\":\"UTC\",\"entries\":["
        "{\"id\":\"a\",\"date\":\"2026-12-07\",\"start\":\"08:00\",\"end\":\"08:45\",\"title\":\"A\"},"
        "{\"id\":\"b\",\"date\":\"2026-12-07\",\"start\":\"08:47\",\"end\":\"09:30\",\"title\":\"B\"},"
        "{\"id\":\"c\",\"date\":\"2026-12-07\",\"start\":\"09:40\",\"end\":\"10:20\",\"title\":\"C\","
        "\"lesson_type\":\"open\"},"
        "{\"id\":\"d\",\"date\":\"2026-12-07\",\"start\":\"11:00\",\"end\":\"11:40\",\"title\":\"D\"},"
        "{\"id\":\"e\",\"date\":\"2026-12-07\",\"start\":\"13:00\",\"end\":\"13:40\",\"title\":\"E\"},"
        "{\"id\":\"f\",\"date\":\"2026-12-07\",\"start\":\"15:00\",\"end\":\"15:40\",\"title\":\"F\","
        "\"record\":false},"
        "{\"id\":\"g\",\"date\":\"2026-12-07\",\"start\":\"16:00\",\"end\":\"16:40\",\"title\":\"G\"}]}";
#define AT(h, m, s) ((double)(t0 + (h) * 3600 + (m) * 60 + (s)))

    fake f = { .lc = LB_LIFECYCLE_INIT };
    lb_scheduler *s = NULL;
    CHECK(lb_scheduler_create(&s, lb_config_find(cfg, "schedule"), dir, &ops, &f, err, sizeof err) == 0);
    CHECK(lb_scheduler_set_timetable(s, tt, strlen(tt), err, sizeof err) == 0);
    char bad[] = "{\"entries\":[{\"id\":\"x\",\"weekday\":\"mon\",\"start\":\"08:00\",\"end\":\"08:30\"},"
                 "{\"id\":\"y\",\"weekday\":\"mon\",\"start\":\"08:10\",\"end\":\"08:20\"}]}";
    CHECK(lb_scheduler_set_timetable(s, bad, strlen(bad), err, sizeof err) == AVERROR(EINVAL));
    CHECK_STR_CONTAINS(err, "entries[1]");
    CHECK_STR_CONTAINS(err, "entries[0]");

    /* armed before its pre-roll, started at it, with its metadata */
    lb_scheduler_tick(s, AT(7, 0, 0));
    EXPECT(&f, "entry armed");
    CHECK(f.lc.state == LB_LESSON_SCHEDULED);
    lb_scheduler_tick(s, AT(7, 58, 59));
    EXPECT(&f, "");
    lb_scheduler_tick(s, AT(7, 59, 0));
    EXPECT(&f, "entry start a@2026-12-07; entry armed");
    CHECK(f.lc.state == LB_LESSON_RECORDING && !strcmp(f.title, "A"));
    CHECK(f.end_s == (long long)AT(8, 46, 0));   /* lesson.json's schedule_end: where it stops */
    CHECK(f.live == LB_LIVE_NO);            /* an ordinary lesson is not live: its start says so */
    /* the remaining time today: A's rest and post-roll, B, C, D, E (F is not recorded) */
    double rest = lb_scheduler_remaining_s(s);
    CHECK(rest > 0);

    /* a step back of 10 min: A goes on, nothing is sent */
    lb_scheduler_tick(s, AT(7, 49, 0));
    EXPECT(&f, "");
    CHECK(f.lc.state == LB_LESSON_RECORDING);
    lb_scheduler_tick(s, AT(8, 30, 0));
    EXPECT(&f, "");

    /* A's post-roll meets B's pre-roll at 08:46 (not 08:47): A ends there, B starts */
    lb_scheduler_tick(s, AT(8, 45, 59));
    EXPECT(&f, "");
    lb_scheduler_tick(s, AT(8, 46, 0));
    EXPECT(&f, "entry end; entry start b@2026-12-07; entry armed");
    CHECK(!strcmp(f.title, "B"));

    /* +10 min on B (ends 09:32 with its post-roll) is capped at C's pre-roll, 09:39 */
    CHECK(lb_scheduler_extend(s, 10, err, sizeof err) == 0);
    CHECK(f.lc.flags & LB_LESSON_EXTENDED);
    EXPECT(&f, "extend b@2026-12-07");
    CHECK(f.end_s == (long long)AT(9, 39, 0));   /* the extended end, for a resume after a crash */
    CHECK(lb_scheduler_extend(s, 5, err, sizeof err) == AVERROR(EBUSY));
    CHECK_STR_CONTAINS(err, "no time to extend");
    lb_scheduler_tick(s, AT(9, 32, 0));
    EXPECT(&f, "");
    CHECK(f.lc.state == LB_LESSON_RECORDING);
    lb_scheduler_tick(s, AT(9, 39, 0));
    EXPECT(&f, "extension end; entry start c@2026-12-07; entry armed");
    CHECK(f.live == LB_LIVE_YES);           /* an open lesson is live */

    /* a teacher stops C early: it is not started again, also after a step back into it */
    f.lc = step(f.lc, LB_EV_STOP);
    f.lc = step(f.lc, LB_EV_STOP_DONE);
    f.lc = step(f.lc, LB_EV_FINISH_DONE);
    lb_scheduler_tick(s, AT(9, 50, 0));
    EXPECT(&f, "");
    lb_scheduler_tick(s, AT(9, 45, 0));
    EXPECT(&f, "");
    CHECK(f.lc.state == LB_LESSON_SCHEDULED);
    CHECK(lb_scheduler_extend(s, 5, err, sizeof err) == AVERROR(EBUSY));

    /* a step forward into D starts it at once; one over E entirely skips E */
    lb_scheduler_tick(s, AT(11, 10, 0));
    EXPECT(&f, "entry start d@2026-12-07; entry armed");
    lb_scheduler_tick(s, AT(11, 42, 0));
    EXPECT(&f, "entry end");
    lb_scheduler_tick(s, AT(14, 0, 0));
    EXPECT(&f, "entry armed");               /* E skipped; F is not recorded: G is next */
    CHECK(f.lc.state == LB_LESSON_SCHEDULED);
    lb_scheduler_tick(s, AT(15, 10, 0));
    EXPECT(&f, "");
    /* what is left today: G with its rolls */
    CHECK(lb_scheduler_remaining_s(s) == 40 * 60 + 60 + 120);

    cJSON *st = lb_scheduler_status(s);
    const cJSON *cur = cJSON_GetObjectItemCaseSensitive(st, "current");
    CHECK(cJSON_IsObject(cur) && !strcmp(cJSON_GetObjectItemCaseSensitive(cur, "state")->valuestring,
                                         "not_recorded"));
    cJSON_Delete(st);

    /* the week grid's window: each lesson with what the scheduler knows of
     * it (E skipped by the step, C stopped early is done, F not recorded,
     * G to come); a window without lessons is empty, one too long refused */
    cJSON *win = lb_scheduler_window(s, (int64_t)t0 - 86400, (int64_t)t0 + 7 * 86400, err, sizeof err);
    CHECK(cJSON_IsArray(win) && cJSON_GetArraySize(win) == 7);
    char states[160] = "";
    const cJSON *o;
    cJSON_ArrayForEach(o, win) {
        const cJSON *title = cJSON_GetObjectItemCaseSensitive(o, "title");
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(o, "state");
        snprintf(states + strlen(states), sizeof states - strlen(states), "%s%s:%s%s", states[0] ? " " : "",
                 cJSON_IsString(title) ? title->valuestring : "?", cJSON_IsString(state) ? state->valuestring : "?",
                 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "skipped")) ? "+skipped" : "");
    }
    if (strcmp(states, "A:done B:done C:done D:done E:done+skipped F:not_recorded G:waiting")) {
        fprintf(stderr, "%s:%d: window states '%s'\n", __FILE__, __LINE__, states);
        check_failures++;
    }
    cJSON_Delete(win);
    win = lb_scheduler_window(s, (int64_t)t0 + 86400, (int64_t)t0 + 8 * 86400, err, sizeof err);
    CHECK(cJSON_IsArray(win) && cJSON_GetArraySize(win) == 0);
    cJSON_Delete(win);
    err[0] = 0;
    CHECK(lb_scheduler_window(s, (int64_t)t0, (int64_t)t0 + 90 * 86400, err, sizeof err) == NULL);
    CHECK(err[0] != 0);
    lb_scheduler_free(&s);
    CHECK(s == NULL);

    /* a new scheduler (a restart) remembers what ended: back at 09:45 C is not recorded again */
    fake g = { .lc = LB_LIFECYCLE_INIT };
    CHECK(lb_scheduler_create(&s, lb_config_find(cfg, "schedule"), dir, &ops, &g, err, sizeof err) == 0);
    lb_scheduler_load(s);            /* no thread: it would tick at the real time */
    g.n = 0;
    g.lc = LB_LIFECYCLE_INIT;
    lb_scheduler_tick(s, AT(9, 45, 0));
    EXPECT(&g, "entry armed");               /* G next: C, D and the skipped E stay done */
    CHECK(g.lc.state == LB_LESSON_SCHEDULED);
    lb_scheduler_tick(s, AT(11, 5, 0));
    EXPECT(&g, "");
    lb_scheduler_free(&s);

    /* a restart in the middle of G with G's lesson resumed: it is taken back
     * as the current entry (no second lesson) and stops at G's end plus
     * post-roll, 16:42 */
    fake r = { .lc = LB_LIFECYCLE_INIT };
    lb_lesson_meta resumed = { .title = "G", .schedule_end_s = (long long)AT(16, 42, 0) };
    snprintf(resumed.schedule_uid, sizeof resumed.schedule_uid, "g@2026-12-07");
    CHECK(lb_scheduler_create(&s, lb_config_find(cfg, "schedule"), dir, &ops, &r, err, sizeof err) == 0);
    lb_scheduler_load(s);            /* no thread: it would tick at the real time */
    r.n = 0;
    r.lc = step(LB_LIFECYCLE_INIT, LB_EV_RESUME);
    lb_scheduler_resumed(s, &resumed);
    lb_scheduler_tick(s, AT(16, 10, 0));
    EXPECT(&r, "entry start g@2026-12-07");
    CHECK(r.lc.state == LB_LESSON_STARTING && (r.lc.flags & LB_LESSON_RESUMED) && (r.lc.flags & LB_LESSON_ENTRY));
    CHECK(r.end_s == (long long)AT(16, 42, 0));
    r.lc = step(r.lc, LB_EV_STARTED);
    lb_scheduler_tick(s, AT(16, 41, 59));
    EXPECT(&r, "");
    lb_scheduler_tick(s, AT(16, 42, 0));
    EXPECT(&r, "entry end");
    CHECK(r.lc.state == LB_LESSON_IDLE);
    lb_scheduler_tick(s, AT(16, 20, 0));     /* a step back into G: not recorded again */
    EXPECT(&r, "");
    lb_scheduler_free(&s);

    /* one extended to 16:50 before the crash stops at its extension; one
     * whose entry is gone from the schedule stops at its schedule_end */
    for (int gone = 0; gone < 2; gone++) {
        fake x = { .lc = LB_LIFECYCLE_INIT };
        lb_lesson_meta ext = resumed;
        ext.schedule_end_s = (long long)AT(16, 50, 0);
        if (gone)
            snprintf(ext.schedule_uid, sizeof ext.schedule_uid, "gone@2026-12-07");
        snprintf(buf, sizeof buf, "%s/.schedule-done.json", dir);
        unlink(buf);                        /* G's memory from the run above */
        CHECK(lb_scheduler_create(&s, lb_config_find(cfg, "schedule"), dir, &ops, &x, err, sizeof err) == 0);
        lb_scheduler_load(s);
        x.n = 0;
        x.lc = step(step(LB_LIFECYCLE_INIT, LB_EV_RESUME), LB_EV_STARTED);
        lb_scheduler_resumed(s, &ext);
        lb_scheduler_tick(s, AT(16, 30, 0));
        /* with its entry gone, G (not begun) is armed until its time is over */
        EXPECT(&x, gone ? "entry start gone@2026-12-07; entry armed" : "entry start g@2026-12-07");
        CHECK(x.end_s == (long long)AT(16, 50, 0));
        lb_scheduler_tick(s, AT(16, 42, 0));
        EXPECT(&x, gone ? "entry disarmed" : "");
        CHECK(x.lc.state == LB_LESSON_RECORDING);
        lb_scheduler_tick(s, AT(16, 50, 0));
        EXPECT(&x, "entry end");
        lb_scheduler_free(&s);
    }

    /* a manual lesson resumed (no schedule_uid) is left alone */
    fake mnl = { .lc = LB_LIFECYCLE_INIT };
    lb_lesson_meta manual = { .title = "M" };
    CHECK(lb_scheduler_create(&s, lb_config_find(cfg, "schedule"), dir, &ops, &mnl, err, sizeof err) == 0);
    mnl.lc = step(step(LB_LIFECYCLE_INIT, LB_EV_RESUME), LB_EV_STARTED);
    lb_scheduler_resumed(s, &manual);
    lb_scheduler_tick(s, AT(17, 0, 0));
    EXPECT(&mnl, "");
    CHECK(mnl.lc.state == LB_LESSON_RECORDING && !(mnl.lc.flags & LB_LESSON_ENTRY));
    lb_scheduler_free(&s);

    /* the next day: a start the pipeline could not carry out (the lesson
     * folder refused) leaves the entry not done: tried again after 2 s, then
     * 4 s, listed for the alert with the reason until it records */
    fake x = { .lc = LB_LIFECYCLE_INIT, .fail_starts = 2 };
    lb_scheduler_failure fails[4];
#define DAY2 "{\"timezone\":\"UTC\",\"entries\":[" \
    "{\"id\":\"h\",\"date\":\"2026-12-08\",\"start\":\"08:00\",\"end\":\"%s\",\"title\":\"H\"}%s]}"
#define AT2(h, m, s) AT((h) + 24, m, s)
    char tt2[1024];
    const char *entry_i = ",{\"id\":\"i\",\"date\":\"2026-12-08\",\"start\":\"10:00\",\"end\":\"10:40\","
                          "\"title\":\"I\"},{\"id\":\"j\",\"date\":\"2026-12-08\",\"start\":\"11:00\","
                          "\"end\":\"11:01\",\"title\":\"J\"}";
    snprintf(tt2, sizeof tt2, DAY2, "08:45", entry_i);
    CHECK(lb_scheduler_create(&s, lb_config_find(cfg, "schedule"), dir, &ops, &x, err, sizeof err) == 0);
    CHECK(lb_scheduler_set_timetable(s, tt2, strlen(tt2), err, sizeof err) == 0);
    lb_scheduler_tick(s, AT2(7, 59, 0));
    EXPECT(&x, "entry start h@2026-12-08; entry armed");
    CHECK(x.lc.state == LB_LESSON_SCHEDULED && (x.lc.flags & LB_LESSON_START_FAILED));
    CHECK(lb_scheduler_failures(s, fails, 4) == 0);     /* not seen yet */
    lb_scheduler_tick(s, AT2(7, 59, 1));
    EXPECT(&x, "entry armed");                /* H again: it is not done */
    CHECK(lb_scheduler_failures(s, fails, 4) == 1);
    CHECK(!strcmp(fails[0].uid, "h@2026-12-08") && !strcmp(fails[0].title, "H") && fails[0].attempts == 1);
    CHECK_STR_CONTAINS(fails[0].reason, "Not a directory");
    cJSON *st2 = lb_scheduler_status(s);
    char *st2_text = cJSON_PrintUnformatted(st2);
    CHECK_STR_CONTAINS(st2_text, "\"state\":\"start_failed\",\"start_error\":\"/data/lessons: cannot create");
    free(st2_text);
    cJSON_Delete(st2);
    lb_scheduler_tick(s, AT2(7, 59, 2));
    EXPECT(&x, "");                           /* backing off: 2 s */
    lb_scheduler_tick(s, AT2(7, 59, 3));
    EXPECT(&x, "entry start h@2026-12-08; entry armed");
    lb_scheduler_tick(s, AT2(7, 59, 4));
    EXPECT(&x, "entry armed");
    CHECK(lb_scheduler_failures(s, fails, 4) == 1 && fails[0].attempts == 2);
    lb_scheduler_tick(s, AT2(7, 59, 7));
    EXPECT(&x, "");                           /* then 4 s */
    lb_scheduler_tick(s, AT2(7, 59, 8));
    EXPECT(&x, "entry start h@2026-12-08; entry armed");
    CHECK(x.lc.state == LB_LESSON_RECORDING && !(x.lc.flags & LB_LESSON_START_FAILED));
    CHECK(x.end_s == (long long)AT2(8, 47, 0));
    lb_scheduler_tick(s, AT2(7, 59, 9));
    EXPECT(&x, "");
    CHECK(lb_scheduler_failures(s, fails, 4) == 0);     /* recording: the alert clears */

    /* the timetable moves H's end to 08:30: the lesson is told (lesson.json's
     * schedule_end), stops there; later moved again is as good */
    snprintf(tt2, sizeof tt2, DAY2, "08:30", entry_i);
    CHECK(lb_scheduler_set_timetable(s, tt2, strlen(tt2), err, sizeof err) == 0);
    lb_scheduler_tick(s, AT2(8, 0, 0));
    EXPECT(&x, "entry moved h@2026-12-08");
    CHECK(x.end_s == (long long)AT2(8, 32, 0) && x.lc.state == LB_LESSON_RECORDING);
    snprintf(tt2, sizeof tt2, DAY2, "08:35", entry_i);
    CHECK(lb_scheduler_set_timetable(s, tt2, strlen(tt2), err, sizeof err) == 0);
    lb_scheduler_tick(s, AT2(8, 1, 0));
    EXPECT(&x, "entry moved h@2026-12-08");
    CHECK(x.end_s == (long long)AT2(8, 37, 0));
    lb_scheduler_tick(s, AT2(8, 32, 0));
    EXPECT(&x, "");
    lb_scheduler_tick(s, AT2(8, 37, 0));
    EXPECT(&x, "entry end");
    /* I starts; removed from the timetable while it records, it stops */
    lb_scheduler_tick(s, AT2(9, 59, 0));
    EXPECT(&x, "entry start i@2026-12-08; entry armed");
    CHECK(x.lc.state == LB_LESSON_RECORDING);
    snprintf(tt2, sizeof tt2, DAY2, "08:35", ",{\"id\":\"j\",\"date\":\"2026-12-08\",\"start\":\"11:00\","
             "\"end\":\"11:01\",\"title\":\"J\"}");
    CHECK(lb_scheduler_set_timetable(s, tt2, strlen(tt2), err, sizeof err) == 0);
    lb_scheduler_tick(s, AT2(10, 0, 0));
    EXPECT(&x, "entry end");
    CHECK(x.lc.state == LB_LESSON_SCHEDULED);
    /* J fails for its whole time: then it is done, no longer listed */
    x.fail_starts = 1000;
    lb_scheduler_tick(s, AT2(10, 59, 0));
    EXPECT(&x, "entry start j@2026-12-08; entry disarmed");
    lb_scheduler_tick(s, AT2(10, 59, 1));
    EXPECT(&x, "entry armed");
    CHECK(lb_scheduler_failures(s, fails, 4) == 1);
    lb_scheduler_tick(s, AT2(11, 3, 0));
    CHECK(lb_scheduler_failures(s, fails, 4) == 0);
    EXPECT(&x, "entry disarmed");
    lb_scheduler_tick(s, AT2(11, 2, 0));     /* a step back: never started again */
    EXPECT(&x, "");
    lb_scheduler_free(&s);

    /* a rival added while an entry records: the feed's X (10:00-10:45 on
     * 2026-12-09) records when the timetable gains Y 09:50-10:10.  The merge
     * alone keeps the earlier start: Y, and X, gone from the slots, would
     * stop as if removed (and Y start mid-time).  X keeps its time, Y is not
     * scheduled, the conflict says so */
    char cdir[600], feed_path[700], got[4096];
    snprintf(cdir, sizeof cdir, "%s/conflict", dir);
    CHECK(mkdir(cdir, 0755) == 0);
    snprintf(feed_path, sizeof feed_path, "%s/.schedule-feed.ics", cdir);
    FILE *feed = fopen(feed_path, "w");
    CHECK(feed != NULL);
    if (feed) {
        fputs("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:x\r\n"
              "DTSTART:20261209T100000Z\r\nDTEND:20261209T104500Z\r\nSUMMARY:X\r\nEND:VEVENT\r\n"
              "END:VCALENDAR\r\n", feed);
        fclose(feed);
    }
    lb_config *cfg_c = NULL;
    CHECK(lb_config_load_string(&cfg_c, "test.ini", "[schedule]\nical = /nonexistent/feed.ics\n",
                                err, sizeof err) == 0);
    fake c = { .lc = LB_LIFECYCLE_INIT };
    CHECK(lb_scheduler_create(&s, lb_config_find(cfg_c, "schedule"), cdir, &ops, &c, err, sizeof err) == 0);
    lb_scheduler_load(s);
    lb_scheduler_tick(s, AT(48 + 10, 0, 0));
    CHECK_STR_CONTAINS(sent(&c, got, sizeof got), "entry start x@");
    CHECK(c.lc.state == LB_LESSON_RECORDING);
    const char *tt_y = "{\"timezone\":\"UTC\",\"entries\":[{\"id\":\"y\",\"date\":\"2026-12-09\","
                       "\"start\":\"09:50\",\"end\":\"10:10\",\"title\":\"Y\"}]}";
    CHECK(lb_scheduler_set_timetable(s, tt_y, strlen(tt_y), err, sizeof err) == 0);
    lb_scheduler_tick(s, AT(48 + 10, 1, 0));
    EXPECT(&c, "");
    lb_scheduler_tick(s, AT(48 + 10, 2, 0));
    EXPECT(&c, "");
    CHECK(c.lc.state == LB_LESSON_RECORDING);
    cJSON *cst = lb_scheduler_status(s);
    char *cst_text = cJSON_PrintUnformatted(cst);
    CHECK_STR_CONTAINS(cst_text, "\"conflict\":\"'Y' (timetable y@2026-12-09) overlaps 'X' (iCal "
                       "x@20261209T100000Z), which is recording: it is not scheduled\"");
    free(cst_text);
    cJSON_Delete(cst);
    /* the week grid (expanded outside the scheduler's lock) agrees: X, no Y */
    cJSON *cwin = lb_scheduler_window(s, (int64_t)AT(48, 0, 0), (int64_t)AT(72, 0, 0), err, sizeof err);
    char *win_text = cJSON_PrintUnformatted(cwin);
    CHECK(win_text && strstr(win_text, "\"schedule_uid\":\"x@20261209T100000Z\"") &&
          !strstr(win_text, "y@2026-12-09"));
    free(win_text);
    cJSON_Delete(cwin);
    lb_scheduler_tick(s, AT(48 + 10, 44, 59));
    EXPECT(&c, "");
    lb_scheduler_tick(s, AT(48 + 10, 45, 0));
    EXPECT(&c, "entry end");
    lb_scheduler_free(&s);
    lb_config_free(&cfg_c);

    /* "today" is the schedule's: [schedule] timezone = Asia/Shanghai with
     * the process in New York.  At 22:00 in Shanghai on 2026-12-09 (09:00
     * in New York) the 23:00 lesson counts; the 01:00 one is tomorrow in
     * Shanghai, though before midnight in New York */
    setenv("TZ", "America/New_York", 1);
    tzset();
    lb_config *cfg_sh = NULL;
    CHECK(lb_config_load_string(&cfg_sh, "test.ini", "[schedule]\ntimezone = Asia/Shanghai\n", err,
                                sizeof err) == 0);
    fake z = { .lc = LB_LIFECYCLE_INIT };
    const char *tt3 = "{\"entries\":["
        "{\"id\":\"late\",\"date\":\"2026-12-09\",\"start\":\"23:00\",\"end\":\"23:40\"},"
        "{\"id\":\"night\",\"date\":\"2026-12-10\",\"start\":\"01:00\",\"end\":\"01:40\"}]}";
    CHECK(lb_scheduler_create(&s, lb_config_find(cfg_sh, "schedule"), dir, &ops, &z, err, sizeof err) == 0);
    CHECK(lb_scheduler_set_timetable(s, tt3, strlen(tt3), err, sizeof err) == 0);
    lb_scheduler_tick(s, AT(48 + 22 - 8, 0, 0));     /* 14:00 UTC */
    CHECK(lb_scheduler_remaining_s(s) == 40 * 60);
    lb_scheduler_free(&s);
    lb_config_free(&cfg_sh);
    lb_config_free(&cfg);

    snprintf(buf, sizeof buf, "rm -rf %s", dir);
    CHECK(system(buf) == 0);
    return CHECK_DONE();
}
