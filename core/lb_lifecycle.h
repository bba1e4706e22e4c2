/* A lesson's life as one state machine.
 *
 * Many things drive a lesson: the API (a teacher's start and stop), the
 * timetable (an entry's start, end and a teacher's extension), resume at
 * start-up, the disk guard, a reload, and the pipeline itself reporting
 * what it did.  They all send events here; lb_lifecycle_step() is the only
 * place that decides the next state, from a table of the transitions
 * allowed, and says which effects the pipeline must carry out.  Nobody else
 * writes the state.  An event that is not allowed in a state is refused
 * with a reason (the API answers it as a 409).
 *
 *            API start / entry start / resume
 *   idle ───────────────────────────────────► starting ──started──► recording
 *    ▲ ▲  armed/disarmed                      │ stop, entry end,      │ stop, entry end, disk full,
 *    │ └──────► scheduled ─ entry start ─────►│ disk full, failure:   │ extension end, failure
 *    │          (idle with an entry armed)    │ back to idle          ▼
 *    │                                                             stopping ──stop done──► finishing
 *    └──────────────────────── finish done, failure ◄────────────────────────────────────────┘
 *
 * Resumed and extended are flags on a lesson (starting, recording,
 * stopping, finishing), not states of their own: a resumed or extended
 * lesson takes exactly the events of a recording one and goes through the
 * same stop and finish, so as states each would duplicate every row of
 * recording (and of stopping and finishing: a resumed lesson still finishes
 * as resumed).  What they change is what an event means (an extended
 * lesson ignores its entry's end; a resumed one opens its old folder), and
 * a flag says that with one row.  Restarting and shutting down are flags
 * of the machine: once the restart is decided (or the program ends) the
 * pipeline is on its way out, so a start would be cut or lost; START,
 * ENTRY_START and RESUME are refused until the next pipeline's machine,
 * which begins afresh.  Scheduled is a state because it is what
 * an operator sees between lessons ("next lesson armed"); it is idle with
 * LB_LESSON_ARMED, which outlives a lesson, so a lesson that ends while an
 * entry is armed returns to scheduled.
 *
 * Pure: no clock, no I/O, no globals; lb_lifecycle_send() adds the log
 * line.  Not thread-safe: the caller keeps the state under its lock. */
#ifndef LB_LIFECYCLE_H
#define LB_LIFECYCLE_H

#include <stddef.h>

typedef enum lb_lesson_state {
    LB_LESSON_INVALID = 0,
    LB_LESSON_IDLE,
    LB_LESSON_SCHEDULED,        /* idle, a timetable entry is armed */
    LB_LESSON_STARTING,         /* asked: the next tick creates the lesson and starts the archive */
    LB_LESSON_RECORDING,
    LB_LESSON_STOPPING,         /* asked: the next tick's frame is the lesson's last */
    LB_LESSON_FINISHING,        /* the encoder thread finishes the archive and lesson.json */
    LB_LESSON_NB_STATES
} lb_lesson_state;

/* Flags of the lesson (cleared when it ends) and of the machine. */
enum {
    LB_LESSON_ENTRY = 1 << 0,           /* a timetable entry's lesson: its end stops it */
    LB_LESSON_RESUMED = 1 << 1,         /* recording into an interrupted lesson's folder */
    LB_LESSON_EXTENDED = 1 << 2,        /* an entry's lesson past its end on a teacher's request */
    LB_LESSON_ARMED = 1 << 3,           /* a timetable entry is armed (outlives a lesson) */
    LB_LESSON_RELOAD_PENDING = 1 << 4,  /* a reload that restarts the pipeline waits for idle */
    LB_LESSON_RESTARTING = 1 << 5,      /* the pipeline restarts: no lesson starts in it */
    LB_LESSON_SHUTTING_DOWN = 1 << 6,   /* the program ends: no lesson starts in it */
    LB_LESSON_SUSPENDED = 1 << 7,       /* a shutdown (SUSPEND) finished a recording lesson (the
                                         * next start resumes it) or dropped a start: its entry
                                         * is not over */
    LB_LESSON_START_FAILED = 1 << 8,    /* the last start was not carried out (the folder or
                                         * the archive refused): the scheduler tries its entry
                                         * again; cleared by the next start */
};
#define LB_LESSON_FLAGS_OF_LESSON (LB_LESSON_ENTRY | LB_LESSON_RESUMED | LB_LESSON_EXTENDED)

typedef enum lb_lesson_event {
    LB_EV_INVALID = 0,
    /* the API (and --record, --duration) */
    LB_EV_START,                /* with the lesson's metadata */
    LB_EV_STOP,
    /* the timetable */
    LB_EV_ENTRY_ARMED,          /* an entry is next */
    LB_EV_ENTRY_DISARMED,       /* none is */
    LB_EV_ENTRY_START,          /* with the entry's metadata */
    LB_EV_ENTRY_END,
    LB_EV_EXTEND,               /* a teacher keeps the entry's lesson going */
    LB_EV_EXTENSION_END,
    LB_EV_ENTRY_MOVED,          /* the schedule moved the running entry's end (schedule_end_s) */
    /* start-up */
    LB_EV_RESUME,               /* an interrupted lesson within the resume window */
    /* guards and the process */
    LB_EV_DISK_FULL,
    LB_EV_RELOAD,               /* a config change that needs the pipeline restarted */
    LB_EV_SHUTDOWN,             /* the program ends: the encoder finishes a lesson in progress */
    LB_EV_SUSPEND,              /* the same, for a service stop or a reboot: a recording lesson
                                 * is resumed at the next start (+suspended) */
    /* the pipeline reporting */
    LB_EV_STARTED,              /* lesson folder made, archive started at a frame */
    LB_EV_FIRST_FRAME,          /* the lesson's first frame is in the archive */
    LB_EV_STOP_DONE,            /* the lesson's last frame is marked and on its way */
    LB_EV_FINISH_DONE,          /* archive and lesson.json finished */
    LB_EV_FAILURE,              /* what was asked could not be done */
    LB_EV_NB_EVENTS
} lb_lesson_event;

/* Effects for the pipeline to carry out, in this order. */
enum {
    LB_FX_SET_METADATA = 1 << 0,  /* the event's metadata becomes the lesson's (a running one: no cut) */
    LB_FX_CREATE_LESSON = 1 << 1, /* next tick: a new lesson folder and lesson.json */
    LB_FX_OPEN_LESSON = 1 << 2,   /* next tick: the interrupted lesson's folder, again */
    LB_FX_START_ARCHIVE = 1 << 3, /* at that tick's frame (every encoder gives a key frame) */
    LB_FX_CANCEL = 1 << 4,        /* a start not carried out yet is dropped */
    LB_FX_MARK_STOP = 1 << 5,     /* next tick's frame is the lesson's last */
    LB_FX_FINISH = 1 << 6,        /* the encoder thread finishes after the marked (or last) frame */
    LB_FX_SET_ERROR = 1 << 7,     /* the event's reason is the status' last error */
    LB_FX_RESTART = 1 << 8,       /* apply the pending reload: restart the pipeline */
    LB_FX_PUBLISH = 1 << 9,       /* the status changed: publish it at once */
    LB_FX_SET_END = 1 << 10,      /* the event's schedule_end_s becomes the lesson's (lesson.json) */
};

typedef struct lb_lifecycle {
    lb_lesson_state state;
    unsigned flags;
} lb_lifecycle;

typedef struct lb_lifecycle_effects {
    unsigned fx;                /* LB_FX_* */
    const char *refused;        /* NULL: accepted; else why not (static text) */
} lb_lifecycle_effects;

#define LB_LIFECYCLE_INIT ((lb_lifecycle){ LB_LESSON_IDLE, 0 })

/* The transition table: next state and effects of ev in cur.  A refused
 * event returns cur unchanged, with fx->refused set and no effects. */
lb_lifecycle lb_lifecycle_step(lb_lifecycle cur, lb_lesson_event ev, lb_lifecycle_effects *fx);

/* Steps *lc and logs one line when the state or a flag changed:
 *   lesson 20261204-080000-math: recording -> stopping (timetable: period ended)
 * lesson_id may be NULL or "" (no lesson yet); why says who sent the event
 * and why.  Refusals are logged at debug level.  Returns 0, or
 * AVERROR(EBUSY) when refused. */
int lb_lifecycle_send(lb_lifecycle *lc, const char *lesson_id, lb_lesson_event ev, const char *why,
                      lb_lifecycle_effects *fx);

/* The transition line as lb_lifecycle_send() logs it, without the log's prefix. */
int lb_lifecycle_describe(char *buf, size_t size, const char *lesson_id, lb_lifecycle from,
                          lb_lifecycle to, const char *why);

/* "idle", "scheduled", "starting", ...; "invalid" out of range. */
const char *lb_lesson_state_name(lb_lesson_state s);
const char *lb_lesson_event_name(lb_lesson_event ev);
/* 1 while a lesson is asked for or running (starting to finishing). */
int lb_lesson_state_busy(lb_lesson_state s);

#endif
