/* The lesson's state machine: one table, read top to bottom; the first row
 * whose state, event and flags match decides.  A row with a refusal text
 * refuses; an event with no matching row is refused as "not allowed while
 * <state>" (which a test treats as a hole in the table). */
#include "lb_lifecycle.h"

#include <errno.h>
#include <stdio.h>

#include <libavutil/error.h>

#include "lb_log.h"

/* Pseudo-state for rows: the state is kept. */
#define SAME LB_LESSON_INVALID
/* States a row applies to, as a mask. */
#define S(x) (1u << LB_LESSON_##x)
#define REST (S(IDLE) | S(SCHEDULED))
#define LESSON (S(STARTING) | S(RECORDING) | S(STOPPING) | S(FINISHING))
#define ANY (REST | LESSON)

typedef struct row {
    unsigned from;              /* S() mask */
    lb_lesson_event ev;
    unsigned require, forbid;   /* flags */
    lb_lesson_state to;         /* SAME: kept; IDLE: idle, or scheduled when armed */
    unsigned set, clear;        /* flags */
    unsigned fx;
    const char *refused;
} row;

static const row table[] = {
    /* the pipeline is on its way out: a lesson started now would be cut or lost */
#define CLOSING_ROWS(ev)                                                                          \
    { ANY, ev, LB_LESSON_SHUTTING_DOWN, 0, SAME, 0, 0, 0, "shutting down" },                      \
    { ANY, ev, LB_LESSON_RESTARTING, 0, SAME, 0, 0, 0, "restarting, try again in a few seconds" }
    CLOSING_ROWS(LB_EV_START),
    CLOSING_ROWS(LB_EV_ENTRY_START),
    CLOSING_ROWS(LB_EV_RESUME),
#undef CLOSING_ROWS

    /* a teacher's start and stop */
    { REST, LB_EV_START, 0, 0, LB_LESSON_STARTING, 0, LB_LESSON_START_FAILED,
      LB_FX_SET_METADATA | LB_FX_CREATE_LESSON | LB_FX_START_ARCHIVE | LB_FX_PUBLISH, NULL },
    { S(STARTING) | S(RECORDING), LB_EV_START, 0, 0, SAME, 0, 0, 0, "a recording is already running" },
    { S(STOPPING) | S(FINISHING), LB_EV_START, 0, 0, SAME, 0, 0, 0,
      "the last recording is still being finished; try again in a moment" },
    { S(STARTING), LB_EV_STOP, 0, 0, LB_LESSON_IDLE, 0, 0, LB_FX_CANCEL | LB_FX_PUBLISH, NULL },
    { S(RECORDING), LB_EV_STOP, 0, 0, LB_LESSON_STOPPING, 0, 0, LB_FX_MARK_STOP | LB_FX_PUBLISH, NULL },
    { S(STOPPING) | S(FINISHING), LB_EV_STOP, 0, 0, SAME, 0, 0, 0, "the recording is already stopping" },
    { REST, LB_EV_STOP, 0, 0, SAME, 0, 0, 0, "no recording is running" },

    /* the timetable */
    { ANY, LB_EV_ENTRY_ARMED, 0, 0, SAME, LB_LESSON_ARMED, 0, LB_FX_PUBLISH, NULL },
    { ANY, LB_EV_ENTRY_DISARMED, 0, 0, SAME, 0, LB_LESSON_ARMED, LB_FX_PUBLISH, NULL },
    { REST, LB_EV_ENTRY_START, 0, 0, LB_LESSON_STARTING, LB_LESSON_ENTRY, LB_LESSON_START_FAILED,
      LB_FX_SET_METADATA | LB_FX_CREATE_LESSON | LB_FX_START_ARCHIVE | LB_FX_PUBLISH, NULL },
    /* a manual recording overtaken by an entry becomes its lesson, no cut */
    { S(STARTING) | S(RECORDING), LB_EV_ENTRY_START, 0, LB_LESSON_ENTRY, SAME, LB_LESSON_ENTRY, 0,
      LB_FX_SET_METADATA | LB_FX_PUBLISH, NULL },
    { S(STARTING) | S(RECORDING), LB_EV_ENTRY_START, LB_LESSON_ENTRY, 0, SAME, 0, 0, 0,
      "the lesson of another timetable entry is recording" },
    { S(STOPPING) | S(FINISHING), LB_EV_ENTRY_START, 0, 0, SAME, 0, 0, 0,
      "the last recording is still being finished" },
    { S(STARTING), LB_EV_ENTRY_END, LB_LESSON_ENTRY, 0, LB_LESSON_IDLE, 0, 0, LB_FX_CANCEL | LB_FX_PUBLISH, NULL },
    { S(RECORDING), LB_EV_ENTRY_END, LB_LESSON_ENTRY, LB_LESSON_EXTENDED, LB_LESSON_STOPPING, 0, 0,
      LB_FX_MARK_STOP | LB_FX_PUBLISH, NULL },
    { S(RECORDING), LB_EV_ENTRY_END, LB_LESSON_ENTRY | LB_LESSON_EXTENDED, 0, SAME, 0, 0, 0,
      "the lesson was extended: it ends with its extension" },
    { S(STARTING) | S(RECORDING), LB_EV_ENTRY_END, 0, LB_LESSON_ENTRY, SAME, 0, 0, 0,
      "a manual recording: the timetable does not stop it" },
    { REST | S(STOPPING) | S(FINISHING), LB_EV_ENTRY_END, 0, 0, SAME, 0, 0, 0,
      "no timetable lesson is recording" },
    /* the extended end goes into lesson.json: a crash in the extension resumes up to it */
    { S(RECORDING), LB_EV_EXTEND, LB_LESSON_ENTRY, 0, SAME, LB_LESSON_EXTENDED, 0,
      LB_FX_SET_END | LB_FX_PUBLISH, NULL },
    { S(RECORDING), LB_EV_EXTEND, 0, LB_LESSON_ENTRY, SAME, 0, 0, 0,
      "only a timetable lesson can be extended" },
    { REST | S(STARTING) | S(STOPPING) | S(FINISHING), LB_EV_EXTEND, 0, 0, SAME, 0, 0, 0,
      "no lesson is recording" },
    { S(RECORDING), LB_EV_EXTENSION_END, LB_LESSON_EXTENDED, 0, LB_LESSON_STOPPING, 0, 0,
      LB_FX_MARK_STOP | LB_FX_PUBLISH, NULL },
    { ANY, LB_EV_EXTENSION_END, 0, 0, SAME, 0, 0, 0, "no extended lesson is recording" },
    /* the timetable or the feed moved the running entry's end: lesson.json
     * says the new one (a resume after a crash stops there) */
    { S(STARTING) | S(RECORDING), LB_EV_ENTRY_MOVED, LB_LESSON_ENTRY, 0, SAME, 0, 0,
      LB_FX_SET_END | LB_FX_PUBLISH, NULL },
    { ANY, LB_EV_ENTRY_MOVED, 0, 0, SAME, 0, 0, 0, "no timetable lesson is recording" },

    /* resume at start-up: into the interrupted lesson's own folder */
    { REST, LB_EV_RESUME, 0, 0, LB_LESSON_STARTING, LB_LESSON_RESUMED, LB_LESSON_START_FAILED,
      LB_FX_SET_METADATA | LB_FX_OPEN_LESSON | LB_FX_START_ARCHIVE | LB_FX_PUBLISH, NULL },
    { LESSON, LB_EV_RESUME, 0, 0, SAME, 0, 0, 0, "a recording is already running" },

    /* the disk guard */
    { S(RECORDING), LB_EV_DISK_FULL, 0, 0, LB_LESSON_STOPPING, 0, 0,
      LB_FX_MARK_STOP | LB_FX_SET_ERROR | LB_FX_PUBLISH, NULL },
    { S(STARTING), LB_EV_DISK_FULL, 0, 0, LB_LESSON_IDLE, LB_LESSON_START_FAILED, 0,
      LB_FX_CANCEL | LB_FX_SET_ERROR | LB_FX_PUBLISH, NULL },
    { REST | S(STOPPING) | S(FINISHING), LB_EV_DISK_FULL, 0, 0, SAME, 0, 0, 0, "no recording to stop" },

    /* a reload that needs a restart applies when idle, never cuts a lesson */
    { REST, LB_EV_RELOAD, 0, 0, SAME, LB_LESSON_RESTARTING, 0, LB_FX_RESTART, NULL },
    { LESSON, LB_EV_RELOAD, 0, 0, SAME, LB_LESSON_RELOAD_PENDING, 0, 0, NULL },

    /* the program ends: the encoder thread finishes a lesson at its last frame */
    { S(STARTING), LB_EV_SHUTDOWN, 0, 0, LB_LESSON_IDLE, LB_LESSON_SHUTTING_DOWN, 0, LB_FX_CANCEL, NULL },
    { S(RECORDING) | S(STOPPING), LB_EV_SHUTDOWN, 0, 0, LB_LESSON_FINISHING, LB_LESSON_SHUTTING_DOWN, 0,
      LB_FX_FINISH, NULL },
    { REST | S(FINISHING), LB_EV_SHUTDOWN, 0, 0, SAME, LB_LESSON_SHUTTING_DOWN, 0, 0, NULL },
    /* a service stop or a reboot: a lesson that was recording is finished
     * as well, to be resumed; one already stopping was stopped on purpose;
     * a start not carried out yet is dropped, its entry not done (the
     * next start records the rest of it) */
    { S(STARTING), LB_EV_SUSPEND, 0, 0, LB_LESSON_IDLE, LB_LESSON_SHUTTING_DOWN | LB_LESSON_SUSPENDED, 0,
      LB_FX_CANCEL, NULL },
    { S(RECORDING), LB_EV_SUSPEND, 0, 0, LB_LESSON_FINISHING,
      LB_LESSON_SHUTTING_DOWN | LB_LESSON_SUSPENDED, 0, LB_FX_FINISH, NULL },
    { S(STOPPING), LB_EV_SUSPEND, 0, 0, LB_LESSON_FINISHING, LB_LESSON_SHUTTING_DOWN, 0, LB_FX_FINISH, NULL },
    { REST | S(FINISHING), LB_EV_SUSPEND, 0, 0, SAME, LB_LESSON_SHUTTING_DOWN, 0, 0, NULL },

    /* the pipeline reporting */
    { S(STARTING), LB_EV_STARTED, 0, 0, LB_LESSON_RECORDING, 0, 0, LB_FX_PUBLISH, NULL },
    { S(RECORDING) | S(STOPPING) | S(FINISHING), LB_EV_FIRST_FRAME, 0, 0, SAME, 0, 0, 0, NULL },
    { S(STOPPING), LB_EV_STOP_DONE, 0, 0, LB_LESSON_FINISHING, 0, 0, LB_FX_FINISH, NULL },
    { S(FINISHING), LB_EV_FINISH_DONE, 0, 0, LB_LESSON_IDLE, 0, 0, LB_FX_PUBLISH, NULL },
    /* the folder or the archive refused: the start failed (a timetable entry is tried again) */
    { S(STARTING), LB_EV_FAILURE, 0, 0, LB_LESSON_IDLE, LB_LESSON_START_FAILED, 0,
      LB_FX_SET_ERROR | LB_FX_PUBLISH, NULL },
    { S(RECORDING), LB_EV_FAILURE, 0, 0, LB_LESSON_STOPPING, 0, 0,
      LB_FX_MARK_STOP | LB_FX_SET_ERROR | LB_FX_PUBLISH, NULL },
    { S(STOPPING), LB_EV_FAILURE, 0, 0, LB_LESSON_FINISHING, 0, 0, LB_FX_FINISH | LB_FX_SET_ERROR, NULL },
    /* finishing failed: the lesson stays interrupted, repaired at the next start */
    { S(FINISHING), LB_EV_FAILURE, 0, 0, LB_LESSON_IDLE, 0, 0, LB_FX_SET_ERROR | LB_FX_PUBLISH, NULL },
};

lb_lifecycle lb_lifecycle_step(lb_lifecycle cur, lb_lesson_event ev, lb_lifecycle_effects *fx)
{
    static const char *const not_allowed[LB_LESSON_NB_STATES] = {
        [LB_LESSON_IDLE] = "not allowed while idle",
        [LB_LESSON_SCHEDULED] = "not allowed while scheduled",
        [LB_LESSON_STARTING] = "not allowed while starting",
        [LB_LESSON_RECORDING] = "not allowed while recording",
        [LB_LESSON_STOPPING] = "not allowed while stopping",
        [LB_LESSON_FINISHING] = "not allowed while finishing",
    };
    *fx = (lb_lifecycle_effects){ 0 };
    if (cur.state <= LB_LESSON_INVALID || cur.state >= LB_LESSON_NB_STATES) {
        fx->refused = "invalid state";
        return cur;
    }
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        const row *r = &table[i];
        if (!(r->from & (1u << cur.state)) || r->ev != ev || (cur.flags & r->require) != r->require ||
            (cur.flags & r->forbid))
            continue;
        if (r->refused) {
            fx->refused = r->refused;
            return cur;
        }
        lb_lifecycle next = { r->to == SAME ? cur.state : r->to, (cur.flags | r->set) & ~r->clear };
        fx->fx = r->fx;
        if (next.state == LB_LESSON_IDLE || next.state == LB_LESSON_SCHEDULED) {
            next.flags &= ~(unsigned)LB_LESSON_FLAGS_OF_LESSON;
            next.state = next.flags & LB_LESSON_ARMED ? LB_LESSON_SCHEDULED : LB_LESSON_IDLE;
            if (next.flags & LB_LESSON_RELOAD_PENDING) {
                next.flags &= ~(unsigned)LB_LESSON_RELOAD_PENDING;
                next.flags |= LB_LESSON_RESTARTING;
                fx->fx |= LB_FX_RESTART;
            }
        }
        return next;
    }
    fx->refused = not_allowed[cur.state];
    return cur;
}

const char *lb_lesson_state_name(lb_lesson_state s)
{
    static const char *const names[LB_LESSON_NB_STATES] = {
        [LB_LESSON_IDLE] = "idle", [LB_LESSON_SCHEDULED] = "scheduled",
        [LB_LESSON_STARTING] = "starting", [LB_LESSON_RECORDING] = "recording",
        [LB_LESSON_STOPPING] = "stopping", [LB_LESSON_FINISHING] = "finishing",
    };
    return s > LB_LESSON_INVALID && s < LB_LESSON_NB_STATES ? names[s] : "invalid";
}

const char *lb_lesson_event_name(lb_lesson_event ev)
{
    static const char *const names[LB_EV_NB_EVENTS] = {
        [LB_EV_START] = "start", [LB_EV_STOP] = "stop",
        [LB_EV_ENTRY_ARMED] = "entry armed", [LB_EV_ENTRY_DISARMED] = "entry disarmed",
        [LB_EV_ENTRY_START] = "entry start", [LB_EV_ENTRY_END] = "entry end",
        [LB_EV_EXTEND] = "extend", [LB_EV_EXTENSION_END] = "extension end",
        [LB_EV_ENTRY_MOVED] = "entry moved",
        [LB_EV_RESUME] = "resume", [LB_EV_DISK_FULL] = "disk full", [LB_EV_RELOAD] = "reload",
        [LB_EV_SHUTDOWN] = "shutdown", [LB_EV_SUSPEND] = "suspend", [LB_EV_STARTED] = "started",
        [LB_EV_FIRST_FRAME] = "first frame", [LB_EV_STOP_DONE] = "stop done",
        [LB_EV_FINISH_DONE] = "finish done", [LB_EV_FAILURE] = "failure",
    };
    return ev > LB_EV_INVALID && ev < LB_EV_NB_EVENTS ? names[ev] : "invalid";
}

int lb_lesson_state_busy(lb_lesson_state s)
{
    return s >= LB_LESSON_STARTING && s <= LB_LESSON_FINISHING;
}

/* "recording", or "recording (resumed, extended)" */
static void state_text(char *buf, size_t size, lb_lifecycle lc)
{
    int n = snprintf(buf, size, "%s", lb_lesson_state_name(lc.state));
    static const struct { unsigned flag; const char *name; } shown[] = {
        { LB_LESSON_ENTRY, "timetable" }, { LB_LESSON_RESUMED, "resumed" },
        { LB_LESSON_EXTENDED, "extended" }, { LB_LESSON_RELOAD_PENDING, "reload pending" },
        { LB_LESSON_RESTARTING, "restarting" }, { LB_LESSON_SHUTTING_DOWN, "shutting down" },
        { LB_LESSON_SUSPENDED, "to be resumed" }, { LB_LESSON_START_FAILED, "start failed" },
    };
    const char *sep = " (";
    for (size_t i = 0; i < sizeof shown / sizeof *shown && n > 0 && (size_t)n < size; i++)
        if (lc.flags & shown[i].flag) {
            n += snprintf(buf + n, size - (size_t)n, "%s%s", sep, shown[i].name);
            sep = ", ";
        }
    if (*sep == ',' && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, ")");
}

int lb_lifecycle_describe(char *buf, size_t size, const char *lesson_id, lb_lifecycle from,
                          lb_lifecycle to, const char *why)
{
    char a[96], b[96];
    state_text(a, sizeof a, from);
    state_text(b, sizeof b, to);
    return snprintf(buf, size, "lesson %s: %s -> %s (%s)", lesson_id && *lesson_id ? lesson_id : "(new)",
                    a, b, why && *why ? why : "no reason given");
}

int lb_lifecycle_send(lb_lifecycle *lc, const char *lesson_id, lb_lesson_event ev, const char *why,
                      lb_lifecycle_effects *fx)
{
    lb_lifecycle from = *lc;
    lb_lifecycle to = lb_lifecycle_step(from, ev, fx);
    if (fx->refused) {
        LB_LOGD("lifecycle", "lesson %s: %s refused while %s (%s): %s",
                lesson_id && *lesson_id ? lesson_id : "(new)", lb_lesson_event_name(ev),
                lb_lesson_state_name(from.state), why ? why : "", fx->refused);
        return AVERROR(EBUSY);
    }
    *lc = to;
    if (to.state != from.state || to.flags != from.flags) {
        char line[512];
        lb_lifecycle_describe(line, sizeof line, lesson_id, from, to, why);
        LB_LOGI("lifecycle", "%s", line);
    }
    return 0;
}
