/* The lesson's state machine without a pipeline: every edge a driver can
 * take (API, timetable, resume, disk guard, reload, shutdown, the
 * pipeline's reports), fed as events, with the effects and the log lines. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/error.h>

#include "check.h"
#include "lb_lifecycle.h"
#include "lb_log.h"

#define ID "20261204-080000-math"

/* stderr into a file, so the log lines can be read back */
static FILE *log_file;
static int saved_stderr = -1;

static void capture_log(void)
{
    fflush(stderr);
    log_file = tmpfile();
    saved_stderr = dup(2);
    dup2(fileno(log_file), 2);
}

static char *captured_log(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    long size = ftell(log_file);
    char *text = calloc(1, (size_t)size + 1);
    rewind(log_file);
    if (text && fread(text, 1, (size_t)size, log_file) != (size_t)size)
        text[0] = 0;
    fclose(log_file);
    return text;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *s = hay; (s = strstr(s, needle)); s += strlen(needle))
        n++;
    return n;
}

/* Sends ev and checks the state it leads to and the effects it asks for. */
#define SEND(lc, ev, why, want_state, want_fx) do {                                \
        lb_lifecycle_effects fx_;                                                  \
        int r_ = lb_lifecycle_send(&(lc), ID, (ev), (why), &fx_);                  \
        CHECK(r_ == 0);                                                            \
        CHECK(!fx_.refused);                                                       \
        if ((lc).state != (want_state))                                            \
            fprintf(stderr, "%s:%d: %s gave %s, expected %s\n", __FILE__, __LINE__, \
                    lb_lesson_event_name(ev), lb_lesson_state_name((lc).state),    \
                    lb_lesson_state_name(want_state));                             \
        CHECK((lc).state == (want_state));                                         \
        if (fx_.fx != (unsigned)(want_fx))                                         \
            fprintf(stderr, "%s:%d: %s: effects 0x%x, expected 0x%x\n", __FILE__,  \
                    __LINE__, lb_lesson_event_name(ev), fx_.fx, (unsigned)(want_fx)); \
        CHECK(fx_.fx == (unsigned)(want_fx));                                      \
    } while (0)

/* Sends ev, expects it refused with a reason containing want_reason. */
#define REFUSE(lc, ev, want_reason) do {                                           \
        lb_lifecycle before_ = (lc);                                               \
        lb_lifecycle_effects fx_;                                                  \
        int r_ = lb_lifecycle_send(&(lc), ID, (ev), "test", &fx_);                 \
        CHECK(r_ == AVERROR(EBUSY));                                               \
        CHECK(fx_.refused && fx_.fx == 0);                                         \
        if (fx_.refused)                                                           \
            CHECK_STR_CONTAINS(fx_.refused, want_reason);                          \
        CHECK((lc).state == before_.state && (lc).flags == before_.flags);         \
    } while (0)

#define START_FX (LB_FX_SET_METADATA | LB_FX_CREATE_LESSON | LB_FX_START_ARCHIVE | LB_FX_PUBLISH)

static void test_plain_lesson(void)
{
    capture_log();
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STARTED, "pipeline: archive started", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_FIRST_FRAME, "pipeline: first frame written", LB_LESSON_RECORDING, 0);
    SEND(lc, LB_EV_STOP, "api: stop", LB_LESSON_STOPPING, LB_FX_MARK_STOP | LB_FX_PUBLISH);
    SEND(lc, LB_EV_STOP_DONE, "pipeline: last frame marked", LB_LESSON_FINISHING, LB_FX_FINISH);
    SEND(lc, LB_EV_FINISH_DONE, "pipeline: lesson finished", LB_LESSON_IDLE, LB_FX_PUBLISH);
    CHECK(lc.flags == 0);
    char *log = captured_log();
    /* one line per transition, none for a step that changes nothing */
    CHECK(count(log, "[lifecycle] lesson ") == 5);
    CHECK_STR_CONTAINS(log, "lesson " ID ": idle -> starting (api: start)");
    CHECK_STR_CONTAINS(log, "lesson " ID ": starting -> recording (pipeline: archive started)");
    CHECK_STR_CONTAINS(log, "lesson " ID ": recording -> stopping (api: stop)");
    CHECK_STR_CONTAINS(log, "lesson " ID ": stopping -> finishing (pipeline: last frame marked)");
    CHECK_STR_CONTAINS(log, "lesson " ID ": finishing -> idle (pipeline: lesson finished)");
    CHECK(!strstr(log, "first frame written"));
    free(log);
}

static void test_stop_during_starting(void)
{
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STOP, "api: stop", LB_LESSON_IDLE, LB_FX_CANCEL | LB_FX_PUBLISH);
    /* the pipeline's late report of a start that was cancelled is a bug, refused */
    REFUSE(lc, LB_EV_STARTED, "not allowed while idle");
}

static void test_start_during_stopping(void)
{
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    REFUSE(lc, LB_EV_START, "already running");
    SEND(lc, LB_EV_STOP, "api: stop", LB_LESSON_STOPPING, LB_FX_MARK_STOP | LB_FX_PUBLISH);
    REFUSE(lc, LB_EV_START, "still being finished");
    SEND(lc, LB_EV_STOP_DONE, "pipeline", LB_LESSON_FINISHING, LB_FX_FINISH);
    REFUSE(lc, LB_EV_START, "still being finished");
    SEND(lc, LB_EV_FINISH_DONE, "pipeline", LB_LESSON_IDLE, LB_FX_PUBLISH);
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
}

static void test_failures(void)
{
    capture_log();
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    /* the archive cannot start */
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_FAILURE, "pipeline: the archive cannot start", LB_LESSON_IDLE,
         LB_FX_SET_ERROR | LB_FX_PUBLISH);
    CHECK(lc.flags & LB_LESSON_START_FAILED);           /* the scheduler tries its entry again */
    /* a crash during finishing: back to idle, the lesson left for repair */
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    CHECK(!(lc.flags & LB_LESSON_START_FAILED));        /* the next start clears it */
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_STOP, "api: stop", LB_LESSON_STOPPING, LB_FX_MARK_STOP | LB_FX_PUBLISH);
    SEND(lc, LB_EV_STOP_DONE, "pipeline", LB_LESSON_FINISHING, LB_FX_FINISH);
    SEND(lc, LB_EV_FAILURE, "pipeline: the archive failed while finishing", LB_LESSON_IDLE,
         LB_FX_SET_ERROR | LB_FX_PUBLISH);
    REFUSE(lc, LB_EV_FINISH_DONE, "not allowed while idle");
    /* a failure while recording stops at the next frame; while stopping, finishes */
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_FAILURE, "pipeline: archive error", LB_LESSON_STOPPING,
         LB_FX_MARK_STOP | LB_FX_SET_ERROR | LB_FX_PUBLISH);
    SEND(lc, LB_EV_FAILURE, "pipeline: cannot mark", LB_LESSON_FINISHING, LB_FX_FINISH | LB_FX_SET_ERROR);
    SEND(lc, LB_EV_FAILURE, "pipeline: cannot finish", LB_LESSON_IDLE, LB_FX_SET_ERROR | LB_FX_PUBLISH);
    REFUSE(lc, LB_EV_FAILURE, "not allowed while idle");
    char *log = captured_log();
    CHECK_STR_CONTAINS(log, "lesson " ID ": finishing -> idle (pipeline: the archive failed while finishing)");
    CHECK_STR_CONTAINS(log, ": starting -> idle (start failed) (pipeline: the archive cannot start)");
    free(log);
    /* a timetable entry's start refused by the disk guard: failed too */
    lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_ENTRY_START, "timetable", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_DISK_FULL, "disk full", LB_LESSON_IDLE, LB_FX_CANCEL | LB_FX_SET_ERROR | LB_FX_PUBLISH);
    CHECK(lc.flags & LB_LESSON_START_FAILED);
    SEND(lc, LB_EV_ENTRY_START, "timetable: again", LB_LESSON_STARTING, START_FX);
    CHECK(!(lc.flags & LB_LESSON_START_FAILED));
    /* the entry's end moved in the schedule: the new end into lesson.json */
    SEND(lc, LB_EV_ENTRY_MOVED, "timetable: moved", LB_LESSON_STARTING, LB_FX_SET_END | LB_FX_PUBLISH);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_ENTRY_MOVED, "timetable: moved", LB_LESSON_RECORDING, LB_FX_SET_END | LB_FX_PUBLISH);
    lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    REFUSE(lc, LB_EV_ENTRY_MOVED, "no timetable lesson is recording");
}

static void test_timetable_end_during_extension(void)
{
    capture_log();
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_ENTRY_ARMED, "timetable: period 1 next", LB_LESSON_SCHEDULED, LB_FX_PUBLISH);
    SEND(lc, LB_EV_ENTRY_START, "timetable: period 1 began", LB_LESSON_STARTING, START_FX);
    CHECK(lc.flags & LB_LESSON_ENTRY);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_EXTEND, "api: extend +5 min", LB_LESSON_RECORDING, LB_FX_SET_END | LB_FX_PUBLISH);
    CHECK(lc.flags & LB_LESSON_EXTENDED);
    REFUSE(lc, LB_EV_ENTRY_END, "extended");
    CHECK(lc.state == LB_LESSON_RECORDING);
    SEND(lc, LB_EV_EXTENSION_END, "timetable: extension ended", LB_LESSON_STOPPING,
         LB_FX_MARK_STOP | LB_FX_PUBLISH);
    SEND(lc, LB_EV_STOP_DONE, "pipeline", LB_LESSON_FINISHING, LB_FX_FINISH);
    /* the entry stays armed: back to scheduled, the lesson's flags gone */
    SEND(lc, LB_EV_FINISH_DONE, "pipeline", LB_LESSON_SCHEDULED, LB_FX_PUBLISH);
    CHECK(lc.flags == LB_LESSON_ARMED);
    SEND(lc, LB_EV_ENTRY_DISARMED, "timetable: no more entries today", LB_LESSON_IDLE, LB_FX_PUBLISH);
    char *log = captured_log();
    CHECK_STR_CONTAINS(log, "lesson " ID ": idle -> scheduled (timetable: period 1 next)");
    CHECK_STR_CONTAINS(log, ": recording (timetable) -> recording (timetable, extended) (api: extend +5 min)");
    CHECK_STR_CONTAINS(log, ": recording (timetable, extended) -> stopping (timetable, extended) "
                            "(timetable: extension ended)");
    free(log);
}

static void test_timetable_end_and_manual(void)
{
    capture_log();
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    /* a manual recording is not stopped by the timetable and cannot be extended */
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    REFUSE(lc, LB_EV_ENTRY_END, "manual recording");
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    REFUSE(lc, LB_EV_ENTRY_END, "manual recording");
    REFUSE(lc, LB_EV_EXTEND, "only a timetable lesson");
    /* overtaken by an entry: becomes that lesson, metadata updated, no cut */
    SEND(lc, LB_EV_ENTRY_START, "timetable: period 2 began", LB_LESSON_RECORDING,
         LB_FX_SET_METADATA | LB_FX_PUBLISH);
    CHECK(lc.flags & LB_LESSON_ENTRY);
    REFUSE(lc, LB_EV_ENTRY_START, "another timetable entry");
    SEND(lc, LB_EV_ENTRY_END, "timetable: period ended", LB_LESSON_STOPPING, LB_FX_MARK_STOP | LB_FX_PUBLISH);
    REFUSE(lc, LB_EV_ENTRY_START, "still being finished");
    REFUSE(lc, LB_EV_ENTRY_END, "no timetable lesson");
    /* an entry's start that was cancelled by its end before the first frame */
    SEND(lc, LB_EV_STOP_DONE, "pipeline", LB_LESSON_FINISHING, LB_FX_FINISH);
    SEND(lc, LB_EV_FINISH_DONE, "pipeline", LB_LESSON_IDLE, LB_FX_PUBLISH);
    SEND(lc, LB_EV_ENTRY_START, "timetable: period 3 began", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_ENTRY_END, "timetable: period 3 cancelled", LB_LESSON_IDLE, LB_FX_CANCEL | LB_FX_PUBLISH);
    /* a manual start pending when an entry starts takes the entry's metadata */
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_ENTRY_START, "timetable: period 4 began", LB_LESSON_STARTING,
         LB_FX_SET_METADATA | LB_FX_PUBLISH);
    char *log = captured_log();
    CHECK_STR_CONTAINS(log, "lesson " ID ": recording -> recording (timetable) (timetable: period 2 began)");
    CHECK_STR_CONTAINS(log, "lesson " ID ": recording (timetable) -> stopping (timetable) (timetable: period ended)");
    free(log);
}

static void test_disk_full(void)
{
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    REFUSE(lc, LB_EV_DISK_FULL, "no recording");
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_DISK_FULL, "disk guard: the disk is almost full", LB_LESSON_STOPPING,
         LB_FX_MARK_STOP | LB_FX_SET_ERROR | LB_FX_PUBLISH);
    REFUSE(lc, LB_EV_DISK_FULL, "no recording");
    SEND(lc, LB_EV_STOP_DONE, "pipeline", LB_LESSON_FINISHING, LB_FX_FINISH);
    SEND(lc, LB_EV_FINISH_DONE, "pipeline", LB_LESSON_IDLE, LB_FX_PUBLISH);
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_DISK_FULL, "disk guard", LB_LESSON_IDLE, LB_FX_CANCEL | LB_FX_SET_ERROR | LB_FX_PUBLISH);
}

static void test_double_stop(void)
{
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    REFUSE(lc, LB_EV_STOP, "no recording is running");
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_STOP, "api: stop", LB_LESSON_STOPPING, LB_FX_MARK_STOP | LB_FX_PUBLISH);
    REFUSE(lc, LB_EV_STOP, "already stopping");
    SEND(lc, LB_EV_STOP_DONE, "pipeline", LB_LESSON_FINISHING, LB_FX_FINISH);
    REFUSE(lc, LB_EV_STOP, "already stopping");
    SEND(lc, LB_EV_FINISH_DONE, "pipeline", LB_LESSON_IDLE, LB_FX_PUBLISH);
    REFUSE(lc, LB_EV_STOP, "no recording is running");
}

static void test_resume(void)
{
    capture_log();
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_RESUME, "start-up: interrupted 42 s ago", LB_LESSON_STARTING,
         LB_FX_SET_METADATA | LB_FX_OPEN_LESSON | LB_FX_START_ARCHIVE | LB_FX_PUBLISH);
    CHECK(lc.flags == LB_LESSON_RESUMED);
    REFUSE(lc, LB_EV_RESUME, "already running");
    REFUSE(lc, LB_EV_START, "already running");
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    CHECK(lc.flags == LB_LESSON_RESUMED);
    SEND(lc, LB_EV_SHUTDOWN, "signal: SIGTERM", LB_LESSON_FINISHING, LB_FX_FINISH);
    SEND(lc, LB_EV_FINISH_DONE, "pipeline", LB_LESSON_IDLE, LB_FX_PUBLISH);
    CHECK(lc.flags == LB_LESSON_SHUTTING_DOWN);   /* the lesson's flags go, the machine's stays */
    char *log = captured_log();
    CHECK_STR_CONTAINS(log, "lesson " ID ": idle -> starting (resumed) (start-up: interrupted 42 s ago)");
    CHECK_STR_CONTAINS(log, ": recording (resumed) -> finishing (resumed, shutting down) (signal: SIGTERM)");
    free(log);
}

/* A service stop or a reboot (SUSPEND) finishes a recording lesson as
 * SHUTDOWN does, and marks the machine suspended (the lesson is resumed at
 * the next start, its entry not counted done); a lesson already stopping
 * was stopped on purpose: not suspended; a start not carried out is
 * dropped, suspended too (its entry records at the next start). */
static void test_suspend(void)
{
    capture_log();
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_ENTRY_START, "timetable: a@2026-12-07 (A)", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_SUSPEND, "signal: SIGTERM", LB_LESSON_FINISHING, LB_FX_FINISH);
    CHECK(lc.flags == (LB_LESSON_ENTRY | LB_LESSON_SHUTTING_DOWN | LB_LESSON_SUSPENDED));
    SEND(lc, LB_EV_SUSPEND, "signal: SIGTERM", LB_LESSON_FINISHING, 0);
    REFUSE(lc, LB_EV_RESUME, "shutting down");
    SEND(lc, LB_EV_FINISH_DONE, "pipeline", LB_LESSON_IDLE, LB_FX_PUBLISH);
    CHECK(lc.flags == (LB_LESSON_SHUTTING_DOWN | LB_LESSON_SUSPENDED));   /* the machine's stay */
    char *log = captured_log();
    CHECK_STR_CONTAINS(log, ": recording (timetable) -> finishing (timetable, shutting down, to be resumed) "
                       "(signal: SIGTERM)");
    free(log);
    lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_STOP, "api: stop", LB_LESSON_STOPPING, LB_FX_MARK_STOP | LB_FX_PUBLISH);
    SEND(lc, LB_EV_SUSPEND, "signal", LB_LESSON_FINISHING, LB_FX_FINISH);
    CHECK(lc.flags == LB_LESSON_SHUTTING_DOWN);
    lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_ENTRY_START, "timetable: b@2026-12-07 (B)", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_SUSPEND, "signal", LB_LESSON_IDLE, LB_FX_CANCEL);
    CHECK(lc.flags == (LB_LESSON_SHUTTING_DOWN | LB_LESSON_SUSPENDED));   /* B is not done */
    lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_SUSPEND, "signal", LB_LESSON_IDLE, 0);
    CHECK(lc.flags == LB_LESSON_SHUTTING_DOWN);
}

/* A resumed timetable lesson is taken back by its entry (the scheduler's
 * entry start on a lesson that is no entry's): the same lesson, no new
 * folder, and from then on its entry's end and extension stop it. */
static void test_resume_of_an_entry(void)
{
    capture_log();
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_RESUME, "start-up", LB_LESSON_STARTING,
         LB_FX_SET_METADATA | LB_FX_OPEN_LESSON | LB_FX_START_ARCHIVE | LB_FX_PUBLISH);
    SEND(lc, LB_EV_ENTRY_START, "timetable: a@2026-12-07 (A) resumed", LB_LESSON_STARTING,
         LB_FX_SET_METADATA | LB_FX_PUBLISH);
    CHECK(lc.flags == (LB_LESSON_RESUMED | LB_LESSON_ENTRY));
    REFUSE(lc, LB_EV_ENTRY_START, "another timetable entry");
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_EXTEND, "teacher: +5 min", LB_LESSON_RECORDING, LB_FX_SET_END | LB_FX_PUBLISH);
    SEND(lc, LB_EV_EXTENSION_END, "timetable: extension ended", LB_LESSON_STOPPING,
         LB_FX_MARK_STOP | LB_FX_PUBLISH);
    SEND(lc, LB_EV_STOP_DONE, "pipeline", LB_LESSON_FINISHING, LB_FX_FINISH);
    CHECK(lc.flags == (LB_LESSON_RESUMED | LB_LESSON_ENTRY | LB_LESSON_EXTENDED));
    SEND(lc, LB_EV_FINISH_DONE, "pipeline", LB_LESSON_IDLE, LB_FX_PUBLISH);
    CHECK(lc.flags == 0);
    char *log = captured_log();
    CHECK_STR_CONTAINS(log, ": starting (resumed) -> starting (timetable, resumed) "
                       "(timetable: a@2026-12-07 (A) resumed)");
    free(log);
}

static void test_reload_and_shutdown(void)
{
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_RELOAD, "signal: SIGHUP", LB_LESSON_IDLE, LB_FX_RESTART);
    CHECK(lc.flags == LB_LESSON_RESTARTING);
    lc = LB_LIFECYCLE_INIT;             /* the restarted pipeline's machine */
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    /* a lesson in progress is never cut: the restart waits for its end */
    SEND(lc, LB_EV_RELOAD, "signal: SIGHUP", LB_LESSON_RECORDING, 0);
    CHECK(lc.flags & LB_LESSON_RELOAD_PENDING);
    SEND(lc, LB_EV_STOP, "api: stop", LB_LESSON_STOPPING, LB_FX_MARK_STOP | LB_FX_PUBLISH);
    SEND(lc, LB_EV_STOP_DONE, "pipeline", LB_LESSON_FINISHING, LB_FX_FINISH);
    SEND(lc, LB_EV_FINISH_DONE, "pipeline", LB_LESSON_IDLE, LB_FX_PUBLISH | LB_FX_RESTART);
    CHECK(lc.flags == LB_LESSON_RESTARTING);
    /* shutdown: a pending start is dropped, a stopping lesson finished */
    lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_SHUTDOWN, "signal", LB_LESSON_IDLE, LB_FX_CANCEL);
    SEND(lc, LB_EV_SHUTDOWN, "signal", LB_LESSON_IDLE, 0);
    lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_STOP, "api: stop", LB_LESSON_STOPPING, LB_FX_MARK_STOP | LB_FX_PUBLISH);
    SEND(lc, LB_EV_SHUTDOWN, "signal", LB_LESSON_FINISHING, LB_FX_FINISH);
    SEND(lc, LB_EV_SHUTDOWN, "signal", LB_LESSON_FINISHING, 0);
}

/* Once a restart is decided (at once, or at the end of the lesson it waited
 * for) or the program ends, the pipeline is on its way out: a start, an
 * entry's start or a resume is refused with a reason the API shows (a 409),
 * not accepted and then cut by the shutdown or left "starting" for ever. */
static void test_no_start_while_closing(void)
{
    capture_log();
    /* a reload when idle: the restart begins at once */
    lb_lifecycle lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_RELOAD, "signal: SIGHUP", LB_LESSON_IDLE, LB_FX_RESTART);
    REFUSE(lc, LB_EV_START, "restarting, try again in a few seconds");
    REFUSE(lc, LB_EV_ENTRY_START, "restarting, try again in a few seconds");
    REFUSE(lc, LB_EV_RESUME, "restarting, try again in a few seconds");
    REFUSE(lc, LB_EV_STOP, "no recording is running");
    /* a timetable entry armed meanwhile still shows; it starts in the next pipeline */
    SEND(lc, LB_EV_ENTRY_ARMED, "timetable: period 2 next", LB_LESSON_SCHEDULED, LB_FX_PUBLISH);
    REFUSE(lc, LB_EV_ENTRY_START, "restarting");
    SEND(lc, LB_EV_RELOAD, "signal: SIGHUP", LB_LESSON_SCHEDULED, LB_FX_RESTART);
    SEND(lc, LB_EV_SHUTDOWN, "shutdown", LB_LESSON_SCHEDULED, 0);
    /* shutting down wins: the program ends, it does not come back */
    REFUSE(lc, LB_EV_START, "shutting down");

    /* a reload pending during a lesson fires at its end, just as the next
     * teacher presses start */
    lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_RELOAD, "signal: SIGHUP", LB_LESSON_RECORDING, 0);
    SEND(lc, LB_EV_STOP, "api: stop", LB_LESSON_STOPPING, LB_FX_MARK_STOP | LB_FX_PUBLISH);
    SEND(lc, LB_EV_STOP_DONE, "pipeline", LB_LESSON_FINISHING, LB_FX_FINISH);
    SEND(lc, LB_EV_FINISH_DONE, "pipeline", LB_LESSON_IDLE, LB_FX_PUBLISH | LB_FX_RESTART);
    REFUSE(lc, LB_EV_START, "restarting, try again in a few seconds");
    /* the restart stops the program thread: its shutdown finds nothing to cancel */
    SEND(lc, LB_EV_SHUTDOWN, "shutdown", LB_LESSON_IDLE, 0);
    REFUSE(lc, LB_EV_START, "shutting down");

    /* shutdown while recording: the lesson finishes, nothing new starts */
    lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_STARTED, "pipeline", LB_LESSON_RECORDING, LB_FX_PUBLISH);
    SEND(lc, LB_EV_SHUTDOWN, "signal: SIGTERM", LB_LESSON_FINISHING, LB_FX_FINISH);
    REFUSE(lc, LB_EV_START, "shutting down");
    REFUSE(lc, LB_EV_ENTRY_START, "shutting down");
    REFUSE(lc, LB_EV_RESUME, "shutting down");
    SEND(lc, LB_EV_FINISH_DONE, "pipeline", LB_LESSON_IDLE, LB_FX_PUBLISH);
    CHECK(lc.flags == LB_LESSON_SHUTTING_DOWN);
    REFUSE(lc, LB_EV_START, "shutting down");
    /* a start cancelled by the shutdown (asked before the program thread saw it) */
    lc = LB_LIFECYCLE_INIT;
    SEND(lc, LB_EV_START, "api: start", LB_LESSON_STARTING, START_FX);
    SEND(lc, LB_EV_SHUTDOWN, "shutdown", LB_LESSON_IDLE, LB_FX_CANCEL);
    REFUSE(lc, LB_EV_START, "shutting down");
    char *log = captured_log();
    CHECK_STR_CONTAINS(log, ": idle -> idle (restarting) (signal: SIGHUP)");
    CHECK_STR_CONTAINS(log, ": finishing (reload pending) -> idle (restarting) (pipeline)");
    CHECK_STR_CONTAINS(log, ": recording -> finishing (shutting down) (signal: SIGTERM)");
    free(log);
}

/* Every state, with every combination of flags it can hold, against every
 * event: the answer is a valid state or a refusal; events from outside the
 * pipeline always have a row of their own (a reason, not "not allowed");
 * idle and scheduled carry no lesson flags and differ exactly by ARMED;
 * reaching stopping always marks the stop frame, finishing always finishes. */
static void test_whole_table(void)
{
    static const lb_lesson_event outside[] = {
        LB_EV_START, LB_EV_STOP, LB_EV_ENTRY_ARMED, LB_EV_ENTRY_DISARMED, LB_EV_ENTRY_START,
        LB_EV_ENTRY_END, LB_EV_EXTEND, LB_EV_EXTENSION_END, LB_EV_RESUME, LB_EV_DISK_FULL,
        LB_EV_RELOAD, LB_EV_SHUTDOWN, LB_EV_SUSPEND, LB_EV_ENTRY_MOVED,
    };
    int edges = 0;
    for (int s = LB_LESSON_IDLE; s < LB_LESSON_NB_STATES; s++) {
        for (unsigned flags = 0; flags < 512; flags++) {
            int rest = s == LB_LESSON_IDLE || s == LB_LESSON_SCHEDULED;
            if ((flags & LB_LESSON_SUSPENDED) && !(flags & LB_LESSON_SHUTTING_DOWN))
                continue;       /* suspended only by a shutdown */
            if (!rest && (flags & LB_LESSON_RESTARTING))
                continue;       /* the restart is decided only when idle, and no lesson starts after */
            if (rest && ((flags & LB_LESSON_FLAGS_OF_LESSON) || (flags & LB_LESSON_RELOAD_PENDING) ||
                         !(flags & LB_LESSON_ARMED) != (s == LB_LESSON_IDLE)))
                continue;       /* not reachable */
            if ((flags & LB_LESSON_EXTENDED) && !(flags & LB_LESSON_ENTRY))
                continue;
            for (int ev = LB_EV_START; ev < LB_EV_NB_EVENTS; ev++) {
                lb_lifecycle cur = { (lb_lesson_state)s, flags }, fxs;
                lb_lifecycle_effects fx;
                fxs = lb_lifecycle_step(cur, (lb_lesson_event)ev, &fx);
                CHECK(fxs.state > LB_LESSON_INVALID && fxs.state < LB_LESSON_NB_STATES);
                if (fx.refused) {
                    CHECK(fxs.state == cur.state && fxs.flags == cur.flags && !fx.fx);
                    for (size_t k = 0; k < sizeof outside / sizeof *outside; k++)
                        if ((int)outside[k] == ev && !strncmp(fx.refused, "not allowed", 11)) {
                            fprintf(stderr, "no row for %s while %s (flags 0x%x)\n",
                                    lb_lesson_event_name(ev), lb_lesson_state_name(s), flags);
                            CHECK(0);
                        }
                    continue;
                }
                edges++;
                if (fxs.state == LB_LESSON_IDLE || fxs.state == LB_LESSON_SCHEDULED) {
                    CHECK(!(fxs.flags & (LB_LESSON_FLAGS_OF_LESSON | LB_LESSON_RELOAD_PENDING)));
                    CHECK((fxs.state == LB_LESSON_SCHEDULED) == !!(fxs.flags & LB_LESSON_ARMED));
                }
                if (fxs.state == LB_LESSON_STOPPING && cur.state != LB_LESSON_STOPPING)
                    CHECK(fx.fx & LB_FX_MARK_STOP);
                if (fxs.state == LB_LESSON_FINISHING && cur.state != LB_LESSON_FINISHING)
                    CHECK(fx.fx & LB_FX_FINISH);
                if (fxs.state == LB_LESSON_STARTING && cur.state != LB_LESSON_STARTING) {
                    CHECK(fx.fx & LB_FX_START_ARCHIVE);
                    CHECK(!(cur.flags & (LB_LESSON_RESTARTING | LB_LESSON_SHUTTING_DOWN)));
                }
                /* closing is for good, within a pipeline */
                CHECK((fxs.flags & cur.flags & (LB_LESSON_RESTARTING | LB_LESSON_SHUTTING_DOWN)) ==
                      (cur.flags & (LB_LESSON_RESTARTING | LB_LESSON_SHUTTING_DOWN)));
                if ((fxs.flags & LB_LESSON_EXTENDED))
                    CHECK(fxs.flags & LB_LESSON_ENTRY);
                /* only a suspend of a recording (or starting) lesson suspends */
                if ((fxs.flags & LB_LESSON_SUSPENDED) && !(cur.flags & LB_LESSON_SUSPENDED))
                    CHECK(ev == LB_EV_SUSPEND &&
                          (cur.state == LB_LESSON_RECORDING || cur.state == LB_LESSON_STARTING));
            }
        }
    }
    CHECK(edges > 50);
    CHECK(!strcmp(lb_lesson_state_name(LB_LESSON_INVALID), "invalid"));
    lb_lifecycle_effects fx;
    lb_lifecycle bad = { LB_LESSON_INVALID, 0 };
    lb_lifecycle_step(bad, LB_EV_START, &fx);
    CHECK(fx.refused != NULL);
}

int main(void)
{
    lb_log_set_level(LB_LOG_INFO);
    test_plain_lesson();
    test_stop_during_starting();
    test_start_during_stopping();
    test_failures();
    test_timetable_end_during_extension();
    test_timetable_end_and_manual();
    test_disk_full();
    test_double_stop();
    test_resume();
    test_suspend();
    test_resume_of_an_entry();
    test_reload_and_shutdown();
    test_no_start_while_closing();
    test_whole_table();
    return CHECK_DONE();
}
