/* The scheduler: records by the timetable and the iCal feed (DESIGN.md's
 * ★ Schedule).  A module of its own on its own threads, fed by the wall
 * clock and the schedule, talking to the lesson's lifecycle through the
 * events the API uses (lb_scheduler_ops), and to the web UI through the
 * control ops (GET /api/v1/schedule, the timetable, extend).
 *
 * What it keeps:
 *   DATA_DIR/timetable.json    the timetable (core/lb_schedule.h), replaced
 *                              atomically by PUT /api/v1/timetable
 *   DATA_DIR/.schedule-feed.ics  the last iCal feed that parsed: a restart,
 *                              or a feed that breaks, keeps the schedule
 *   DATA_DIR/.schedule-done.json  the occurrences (schedule_uid) already
 *                              recorded or stopped early, so that neither a
 *                              restart nor a clock step records one twice
 *
 * Threads: "lb-schedule" ticks 4 times a second (wall clock in seconds,
 * plus LUOBO_TEST_WALL_OFFSET_FILE's offset in tests) and sends the
 * lifecycle its timetable events; "lb-ical" reads or fetches the feed every
 * poll_s.  Every other function may be called from any thread.
 *
 * Lock order: the scheduler's lock, then whatever ops take (the pipeline's):
 * ops must never call back into the scheduler. */
#ifndef LB_SCHEDULER_H
#define LB_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lb_config.h"
#include "lb_lifecycle.h"
#include "lb_schedule.h"

/* [schedule] */
typedef struct lb_schedule_settings {
    int enabled;
    char ical[1024];            /* a file, or an http(s) URL; "" none */
    char timezone[64];          /* IANA name; "" the system's */
    int pre_roll_s, post_roll_s;
    int poll_s;
    int fetch_timeout_s;
    int allow_http;             /* a plain http:// feed */
} lb_schedule_settings;

extern const lb_option lb_schedule_options[];

typedef struct lb_scheduler_ops {
    /* One lifecycle event (daemon/lifecycle.c's lb_lifecycle_event):
     * 0, or AVERROR(EBUSY) with the refusal in err. */
    int (*event)(void *opaque, lb_lesson_event ev, const char *why, const lb_lesson_meta *meta,
                 char *err, size_t err_size);
    /* The lifecycle's state and flags now. */
    lb_lifecycle (*lifecycle)(void *opaque);
    /* An event for the events socket (a JSON object, copied). */
    void (*publish)(void *opaque, const char *json);
    /* Why the last start failed (the status' last error), for the alert
     * and the status of an entry whose start failed.  May be NULL. */
    void (*last_error)(void *opaque, char *buf, size_t size);
} lb_scheduler_ops;
/* live: an entry's live = false goes with its ENTRY_START's metadata; the
 * lifecycle pauses the live outputs that follow the schedule while such a
 * lesson records (as for the API's start with "live": false). */

typedef struct lb_scheduler lb_scheduler;

/* Applies [schedule] (sec may be NULL: disabled unless a timetable exists),
 * reads the stored timetable, feed and memory.  No thread yet.  A bad
 * stored file is no error: it shows in the status. */
int lb_scheduler_create(lb_scheduler **s, const lb_config_section *sec, const char *data_dir,
                        const lb_scheduler_ops *ops, void *opaque, char *err, size_t err_size);
/* Reads the stored timetable, the last good feed and what ended (I/O);
 * lb_scheduler_start() does it before its first tick.  Alone, it lets a test
 * drive lb_scheduler_tick() at times of its own with no thread ticking at
 * the real time in between. */
void lb_scheduler_load(lb_scheduler *s);
int lb_scheduler_start(lb_scheduler *s);
void lb_scheduler_stop(lb_scheduler *s);
void lb_scheduler_free(lb_scheduler **s);

/* One step at wall time now_s (the thread's, or a test's): arms, starts
 * and ends the occurrences due. */
void lb_scheduler_tick(lb_scheduler *s, double now_s);

/* GET /api/v1/schedule: {"enabled","timezone","now","clock_offset_s",
 * "current","next","occurrences":[...today's],"timetable":{"entries","error"},
 * "feed":{"source","state","last_ok_at","last_error","events"},"conflict",
 * "pre_roll_s","post_roll_s","extended_until"}.  clock (synchronised or
 * not) is added by the caller, which knows the health checks. */
cJSON *lb_scheduler_status(lb_scheduler *s);
/* GET /api/v1/schedule?from=&to=: the occurrences starting before to_s and
 * ending after from_s (Unix seconds), as "occurrences" above (with
 * "skipped": true for one the clock stepped over, "refused" for why one
 * could not start), for the week grid.  NULL with err when an expansion
 * fails. */
cJSON *lb_scheduler_window(lb_scheduler *s, int64_t from_s, int64_t to_s, char *err, size_t err_size);
/* The stored timetable (canonical JSON, malloc'd), or NULL when none. */
char *lb_scheduler_timetable(lb_scheduler *s);
/* Validates, stores and applies a new timetable.  AVERROR(EINVAL) with the
 * parser's message (naming the entry) in err; size 0 removes it. */
int lb_scheduler_set_timetable(lb_scheduler *s, const char *text, size_t size, char *err,
                               size_t err_size);
/* A teacher's +minutes on the running timetable lesson, capped at the next
 * lesson's start (with its pre-roll).  AVERROR(EBUSY) with why in err. */
int lb_scheduler_extend(lb_scheduler *s, int minutes, char *err, size_t err_size);
/* The lesson resumed at start-up (its lesson.json's metadata), called after
 * the lifecycle accepted the resume and before the first tick.  A lesson
 * with a schedule_uid is taken back as the current entry at that tick:
 * it stops at its entry's end plus post-roll, or at its schedule_end when
 * that is later (an extension before the crash) or the entry is gone.
 * Nothing for a manual lesson (no schedule_uid). */
void lb_scheduler_resumed(lb_scheduler *s, const lb_lesson_meta *meta);
/* An entry whose start failed (the lifecycle's START_FAILED: the folder or
 * the archive refused) and that is tried again while its time lasts. */
typedef struct lb_scheduler_failure {
    char uid[256];              /* schedule_uid */
    char title[128];
    char reason[256];           /* the last failure's */
    int attempts;
    double retry_in_s;          /* from the last tick */
} lb_scheduler_failure;

/* The entries failing to start now, at most max; returns how many.  For
 * the health checks' schedule_start_failed alert: raised while an entry
 * is listed, cleared when its start succeeds or its time is over. */
int lb_scheduler_failures(lb_scheduler *s, lb_scheduler_failure *out, int max);

/* Seconds of recording the schedule still asks for today (from the last
 * tick's wall clock to the next midnight in the schedule's zone ([schedule]
 * timezone, else the timetable's, else the system's), rolls
 * included, the running lesson's rest and extension included), for the
 * disk forecast.  0 when disabled. */
double lb_scheduler_remaining_s(lb_scheduler *s);

#endif
