/* Health checks: the pure logic (no I/O, no threads, no clock of its own).
 *
 * The daemon (daemon/health_feed.c) gathers the pipeline's stats once a
 * second into an lb_health_input and calls lb_health_update(); this module
 * decides which alerts are raised and cleared and says so through a
 * callback.  A unit test feeds made-up stats and a made-up time.
 *
 * Each alert is a (kind, subject) pair, e.g. (mic_silent, "teacher").  Its
 * condition is judged every update as bad, good or unknown (no new
 * information: a camera that gave no new picture, a level between the two
 * thresholds).  Hysteresis is two-fold: an alert is raised when its
 * condition was bad without a break for its own time ([health] *_s) and
 * cleared when it was good without a break for clear_s; levels have a
 * margin between the "bad" and the "good" threshold.  Unknown keeps both
 * timers as they are.
 *
 * Names (★ DESIGN.md "Alerts"): mic_silent, mic_clipping, mic_lost,
 * camera_lost, camera_black, camera_frozen, substream_lost, av_drift,
 * output_down, upload_failing, disk_low, overload, clock_unsynced; and
 * schedule_start_failed (a timetable entry whose lesson could not start,
 * its subject the entry's schedule_uid). */
#ifndef LB_HEALTH_H
#define LB_HEALTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/timex.h>

#include "lb_config.h"

typedef enum lb_alert_kind {
    LB_ALERT_INVALID = 0,
    LB_ALERT_MIC_SILENT,
    LB_ALERT_MIC_CLIPPING,
    LB_ALERT_MIC_LOST,
    LB_ALERT_CAMERA_LOST,
    LB_ALERT_CAMERA_BLACK,
    LB_ALERT_CAMERA_FROZEN,
    LB_ALERT_SUBSTREAM_LOST,
    LB_ALERT_AV_DRIFT,
    LB_ALERT_OUTPUT_DOWN,
    LB_ALERT_UPLOAD_FAILING,
    LB_ALERT_DISK_LOW,
    LB_ALERT_OVERLOAD,
    LB_ALERT_CLOCK_UNSYNCED,
    LB_ALERT_SCHEDULE_START_FAILED,
    LB_ALERT_NB
} lb_alert_kind;

const char *lb_alert_name(lb_alert_kind kind);

/* [health]: thresholds, in the units their names say. */
typedef struct lb_health_settings {
    int enabled;
    double clear_s;                 /* good this long: cleared */
    double mic_silent_s, mic_silent_dbfs;
    double mic_clipping_s, mic_clip_dbfs;
    double mic_lost_s;
    double camera_lost_s;
    double camera_black_s, black_luma, black_spread;
    double camera_frozen_s, frozen_diff;
    double substream_lost_s;
    double drift_max_ppm;
    int resyncs_max;                /* audio re-placed this often ... */
    double resync_window_s;         /* ... within this window: av_drift */
    double output_down_s;
    double upload_failing_s;
    double disk_hours_needed;       /* when the timetable does not say what the day needs */
    double disk_rate_window_s;
    int overload_frames;            /* late or skipped program frames ... */
    double overload_window_s;       /* ... within this window: overload */
    int clock_check;
    double clock_maxerror_ms, clock_unsynced_s;
} lb_health_settings;

extern const lb_option lb_health_options[];

/* What the checks see at one update.  Strings are only read during the call. */
typedef struct lb_health_mic {
    const char *name;
    int up;                         /* its state is live */
    double level_dbfs;              /* loudest RMS seen since the last update */
    double peak_dbfs;               /* loudest sample since the last update */
    double drift_ppm;               /* measured clock drift */
    uint64_t resyncs;               /* times its audio was re-placed, since start */
} lb_health_mic;

typedef struct lb_health_camera {
    const char *name;
    int up;                         /* its state is live */
    int measured;                   /* a picture newer than the last measured one */
    double luma_mean, luma_spread;  /* of that picture (0..255, standard deviation) */
    double luma_diff;               /* mean absolute difference from the previous measured */
    int has_diff;                   /* luma_diff is meaningful (a previous picture existed) */
    int sub_present, sub_up;        /* its sub-stream ([source] analysis_url) */
} lb_health_camera;

typedef struct lb_health_output {
    const char *name, *kind, *state;
    const char *last_error;
} lb_health_output;

#define LB_HEALTH_MAX_ITEMS 32
#define LB_HEALTH_MAX_FAILED_STARTS 8

/* A timetable entry whose start failed and is tried again (the scheduler's
 * lb_scheduler_failures): raised at once, cleared when it is no longer
 * reported (started, or its time is over). */
typedef struct lb_health_failed_start {
    const char *entry;              /* schedule_uid, at most 63 bytes (the alert's subject) */
    const char *title;
    const char *reason;
    int attempts;
} lb_health_failed_start;

typedef struct lb_health_input {
    int64_t now_us;                 /* monotonic */
    double wall_s;                  /* seconds since the epoch, for "since" */
    int recording;
    lb_health_mic mics[LB_HEALTH_MAX_ITEMS];
    int nb_mics;
    lb_health_camera cameras[LB_HEALTH_MAX_ITEMS];
    int nb_cameras;
    lb_health_output outputs[LB_HEALTH_MAX_ITEMS];
    int nb_outputs;
    int disk_known;
    double disk_free_bytes;
    uint64_t recorded_bytes;        /* written by per-lesson outputs so far (a counter) */
    /* what the rest of the day still needs recorded, in seconds: the
     * timetable's remaining lessons (the running one's rest included); with
     * day_known 0 the configured disk_hours_needed stands in for it */
    int day_known;
    double day_needed_s;
    uint64_t late_frames;           /* late + skipped program frames so far (a counter) */
    const char *shedding;           /* the overload's last shedding step, or NULL */
    int clock_known, clock_unsynced;
    double clock_maxerror_ms;
    lb_health_failed_start failed_starts[LB_HEALTH_MAX_FAILED_STARTS];
    int nb_failed_starts;
} lb_health_input;

/* Reads what adjtimex(2) returned (state) and filled in (tx) into in's
 * clock_* fields: unsynchronised when the state is TIME_ERROR or the
 * status has STA_UNSYNC; maxerror is in microseconds.  state < 0 (the call
 * failed): the clock's state stays unknown and is not judged. */
void lb_health_read_clock(int state, const struct timex *tx, lb_health_input *in);

/* An alert, raised or just cleared. */
typedef struct lb_alert {
    uint64_t id;                    /* one per raise, increasing from 1 */
    lb_alert_kind kind;
    char subject[64];
    int raised;
    double since_wall_s;            /* when it was raised */
    int64_t since_us;
    char message[512];              /* plain English */
    char label[128];                /* the subject's name for people where it has one (a lesson's title) */
    /* for a UI that says it in its own language: the threshold and the
     * measured value, in the units of the kind (s, dBFS, ppm, hours ...) */
    double threshold, value;
    char detail[256];               /* an output's state or error, ... */
} lb_alert;

typedef struct lb_health lb_health;

/* Called for every raise and clear, in order, during lb_health_update. */
typedef void (*lb_health_cb)(void *opaque, const lb_alert *alert);

int lb_health_create(lb_health **h, const lb_health_settings *s);
void lb_health_free(lb_health **h);
void lb_health_update(lb_health *h, const lb_health_input *in, lb_health_cb cb, void *opaque);
/* The raised alerts, oldest first; returns how many were written. */
int lb_health_raised(const lb_health *h, lb_alert *out, int max);

/* A cheap measure of a picture's luma plane: every 16th pixel of every 16th
 * row (a 1/16 scale), into grid (at most grid_max samples; *nb the count).
 * With prev (nb_prev samples of the previous picture of the same size) it
 * gives the mean absolute difference, else *diff < 0. */
void lb_health_measure_luma(const uint8_t *y, int linesize, int width, int height,
                            uint8_t *grid, int grid_max, int *nb,
                            const uint8_t *prev, int nb_prev,
                            double *mean, double *spread, double *diff);

#endif
