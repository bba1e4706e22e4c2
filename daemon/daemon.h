/* The daemon: wires the modules from the config and owns the program's
 * threads.  Private to daemon/.
 *
 *   main.c         command line, exit codes
 *   pipeline.c     set-up; the program thread (one tick per output frame:
 *                  capture, mix, director, compose, hand to the encoders);
 *                  the encoder and rendition/ISO encode threads
 *   lifecycle.c    the lesson's life on the pipeline: every start, stop,
 *                  disk-full, failure and shutdown is an event into the state
 *                  machine of core/lb_lifecycle.h (its only writer); the
 *                  lesson folder and the archive's start and stop at a frame
 *   iso_copy.c     resource mode by stream copy (iso-copy threads, the slate)
 *   mic_archive.c  resource mode for mics (enc-mics)
 *   status.c       the lb-status thread: meters, status, the tally
 *   control.c      lb_control_ops for the web UI (status JSON, recording
 *                  start/stop as lifecycle events, snapshots, metrics)
 *   faders.c       the operator's mic faders kept with the lesson
 *                  (.faders.json in its folder), restored when it resumes
 *   reload.c       SIGHUP: live changes, the pending restart, the web UI
 *                  kept (or its sessions carried) through it
 *
 * Shared state and the files' interfaces are in pipeline_priv.h. */
#ifndef LB_DAEMON_H
#define LB_DAEMON_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "lb_config.h"
#include "lb_meta.h"
#include "webui.h"

extern const char lb_demo_config[];

/* [general] */
typedef struct lb_general_settings {
    char data_dir[512];
    int http_port;
    int width, height;
    int fps;
    char log_level[16];
    int sync_delay_ms;
    int sync_delay_auto;      /* realtime: follow the sources' measured delay, at most sync_delay_ms */
    int max_lag_ms;           /* realtime: further behind, repeat the last picture to catch up; 0 never */
    int overload_recover_s;   /* realtime: on time this long, a shedding step is undone */
    int resume_window_s;      /* an interrupted lesson younger than this is resumed; 0 never */
    char www_dir[512];
    char school[128];         /* a lesson's defaults (lb_lesson_meta) */
    char hall[128];
    char language[32];
} lb_general_settings;

extern const lb_option lb_general_options[];

typedef struct lb_pipeline lb_pipeline;

typedef struct lb_pipeline_params {
    const lb_config *cfg;
    int offline;
    int record;               /* start a recording at program time 0 */
    double duration_s;        /* stop after this much program time; 0: until asked */
    const char *title;
    const lb_lesson_meta *meta; /* --record's lesson (--title and the other metadata
                                 * options; NULL: none); title overrides its title */
} lb_pipeline_params;

/* Reads and checks every section (no I/O): the whole of --check-config. */
int lb_pipeline_create(lb_pipeline **p, const lb_pipeline_params *params,
                       char *err, size_t err_size);
/* Starts capture, encoding, live outputs and the web UI. */
int lb_pipeline_start(lb_pipeline *p, char *err, size_t err_size);
/* Blocks until the duration has passed, shutdown was requested or the
 * offline sources ended (returns 0), or a reload asks for the pipeline to
 * be restarted with a new configuration, which happens only while no
 * lesson runs (returns 1: stop, free and create it anew). */
int lb_pipeline_wait(lb_pipeline *p);
/* A new configuration was read and checked: the lifecycle's "reload",
 * which restarts the pipeline now when idle, or once the lesson has
 * finished (never cutting it).  Any thread. */
void lb_pipeline_reload(lb_pipeline *p, const char *why);
/* A reload's live part (daemon/reload.c), any thread: an output of cfg
 * started or stopped in the running streamer, [director] and [auth]'s live
 * keys.  cfg must outlive the pipeline.  0 or a negative AVERROR with err. */
int lb_pipeline_add_output(lb_pipeline *p, const lb_config *cfg, const char *name,
                           char *err, size_t err_size);
int lb_pipeline_remove_output(lb_pipeline *p, const char *name);
int lb_pipeline_reconfigure_director(lb_pipeline *p, const lb_config *cfg, char *err,
                                     size_t err_size);
int lb_pipeline_reconfigure_webui(lb_pipeline *p, const lb_config *cfg, char *err,
                                  size_t err_size);
/* A restart that keeps the web UI (daemon/reload.c).  take(), before
 * lb_pipeline_stop(): detaches the running web UI from p (its actions
 * answer 503 until the next pipeline has started) and leaves it running
 * for the caller, who now owns it; NULL when p has none running or it did
 * not answer.  webui(): p's own web UI (NULL once taken), e.g. to save its
 * sessions after the stop.  adopt(), on the next pipeline before its
 * start: it takes *w (NULLed), applies cfg's live [auth] keys and its
 * /live/ folder, and attaches it in lb_pipeline_start(); 0 or AVERROR with
 * err (it owns *w either way). */
lb_webui *lb_pipeline_take_webui(lb_pipeline *p);
lb_webui *lb_pipeline_webui(lb_pipeline *p);
int lb_pipeline_adopt_webui(lb_pipeline *p, lb_webui **w, const lb_config *cfg, char *err,
                            size_t err_size);
/* The status's "reload" member (a JSON object; copied). */
void lb_pipeline_set_reload_status(lb_pipeline *p, const char *json);
/* Stops everything; a recording in progress is finished (the lifecycle's
 * "shutdown": the encoder thread finishes it after the last frame).
 * Returns 0, or a negative AVERROR if a recording could not be finalised. */
int lb_pipeline_stop(lb_pipeline *p);
void lb_pipeline_free(lb_pipeline **p);

const lb_general_settings *lb_pipeline_general(const lb_pipeline *p);

/* Reload on SIGHUP (daemon/reload.c): reads and checks the file on the
 * lb-signals thread and compares it with the last good one, key by key.
 * What the option tables mark live (LB_OPT_LIVE: [director] mode, weights
 * and the cutter's durations; [auth] public_viewer, metrics_public, the
 * session and login limits; [general] log_level) and [output.NAME] of
 * kinds hls, srt, upload (added, removed, changed) apply to the running
 * pipeline at once.  The rest (sources, mics, program size, encoder,
 * archive, ports, TLS...) waits as a pending restart of the pipeline,
 * which its lifecycle allows only while no lesson runs (lb_pipeline_wait()
 * returns 1). */
typedef struct lb_reload_changes {
    char items[64][96];         /* "director.weight_board", "output.hls2 (added)" */
    int nb;
} lb_reload_changes;

typedef struct lb_reload {
    pthread_mutex_t lock;
    const char *path;           /* NULL: the demo classroom, nothing to read */
    lb_pipeline_params params;  /* .cfg: the running pipeline's */
    int verbose;
    lb_pipeline *pipeline;      /* the running one, under lock */
    lb_config **kept;           /* good files since the pipeline started, oldest
                                 * first: live outputs may point into them */
    int nb_kept;
    lb_config *pending;         /* one of kept: the restart's */
    lb_reload_changes waiting;  /* what the pending restart will apply */
    char *loaded_text;
    char status_json[8192];     /* the status's "reload" */
    lb_webui *webui;            /* taken from the stopping pipeline, for the next */
} lb_reload;

void lb_reload_init(lb_reload *r, const char *path, const lb_pipeline_params *params, int verbose,
                    lb_pipeline *p);
/* Before lb_pipeline_stop() of a restart: when the pending config changes
 * none of the web UI's keys (lb_reload_webui_changed()), the running web UI
 * is taken from p, to go on serving through the restart. */
void lb_reload_keep_webui(lb_reload *r, lb_pipeline *p);
/* 1 when b differs from a in a key that needs a new web UI: any of
 * [webui], [auth] but its live keys, [general] http_port, http_address,
 * data_dir, www_dir. */
int lb_reload_webui_changed(const lb_config *a, const lb_config *b);
/* Frees the stopped pipeline and its config, creates the next from the
 * pending config, with the web UI kept running (lb_reload_keep_webui()),
 * or a new one that keeps the old one's sessions.  Returns 1, or a
 * negative AVERROR with err. */
int lb_reload_next(lb_reload *r, lb_pipeline **p, lb_config **cfg, char *err, size_t err_size);
void lb_reload_uninit(lb_reload *r);

/* The command line (daemon/main.c): one entry per option; short_name is
 * the letter, or a value >= 256 for long-only options. */
typedef struct lb_cli_option {
    int short_name;
    const char *long_name;
    const char *arg;          /* NULL: takes no value */
    const char *help;
} lb_cli_option;
extern const lb_cli_option lb_cli_options[];
/* luobo recut's options (daemon/recut.c), for its --help and luobo(8). */
extern const lb_cli_option lb_recut_options[];
/* Prints every configuration table with print (--help, luobo.ini(5)). */
void lb_print_config_tables(FILE *f, lb_options_printer print);
/* daemon/man.c: luobo(8) (section 8) or luobo.ini(5) (section 5) as roff. */
void lb_print_man(FILE *f, int section);
/* luobo recut LESSON_DIR [--log FILE] [--redirect [--set director.KEY=VALUE]...]
 * (daemon/recut.c): argv[0] is "recut".  Returns the exit status. */
int lb_recut_main(int argc, char **argv);

/* daemon/install.c: the web UI's folder when [general] www_dir is not
 * set: the source tree's for a binary in the build tree, else the
 * installed one (next to the binary: ../share/luobo/www, or the
 * configured install prefix's). */
const char *lb_default_www_dir(void);

/* For the web UI (daemon/control.c). */
extern const lb_control_ops lb_pipeline_control_ops;

#endif
