/* webui/: the web UI, JSON API, events and downloads, on one libwebsockets
 * event loop in its own thread.
 *
 * The webui knows the rest of the daemon only through lb_control_ops, which
 * the daemon implements.  Only the webui thread calls libwebsockets; other
 * threads publish events with lb_webui_publish(), which queues them and
 * wakes the loop with lws_cancel_service(). */
#ifndef LB_WEBUI_H
#define LB_WEBUI_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "lb_config.h"
#include "lb_meta.h"

/* What the UI reads (the scripts in webui/www/); unknown members are ignored and
 * missing ones shown as "-":
 *
 * status (GET /api/v1/status, and the "status" member of status events):
 *   { "recording": { "active", "id", "title", "teacher", "course", "subject",
 *                    "grade", "class", "lesson_type", "started_at", "elapsed_s" },
 *     "director":  { "mode": "auto"|"manual", "shot", "layout",
 *                    "sources": [names on the program, main first], "reason" },
 *     "sources":   [ { "name", "role", "kind", "state", "width", "height",
 *                      "frames", "dropped", "reconnects", "last_error" } ],
 *     "mics":      [ { "name", "role", "kind", "state", "level_dbfs" (after
 *                      the fader: what goes into the program), "mute",
 *                      "gain_db" (the operator's fader, POST /api/v1/mics) } ],
 *     "outputs":   [ { "name", "kind", "state", "packets", "bytes", "dropped",
 *                      "reconnects", "rtt_ms", "loss_pct", "send_kbps",
 *                      "last_error" } ],
 *     "disk":      { "free_bytes", "total_bytes" },   (added when absent)
 *     "reload":    { "at", "applied": [...], "pending": [...], "error" },
 *                  (after a SIGHUP: what applied at once, what waits for a
 *                  pipeline restart, the bad file's message or null)
 *     "clock":     { "synchronised", "maxerror_ms", "alert" } }
 *                  (the wall clock the schedule runs on: adjtimex, and
 *                  whether the clock_unsynced alert is raised)
 *
 * events published with lb_webui_publish(), one JSON object each:
 *   {"type":"status","status":{...}}                       about 1 Hz
 *   {"type":"meters","program":dBFS,"mics":{"name":dBFS}}  about 10 Hz
 *   {"type":"tally","program":[names],"preview":[names]}   on change
 *   {"type":"decision", ...one director.jsonl line}         on change
 *   {"type":"alert","state":"raised"|"cleared", "event_id", ...one alert
 *    as GET /api/v1/alerts lists it}                          on change
 *   {"type":"schedule","schedule":{...GET /api/v1/schedule}}  on change (the
 *    current or next lesson, an extension, the timetable, the feed)
 * What each role sees (webui_status_filter): operators and admins the whole
 * status and every event, with secrets redacted (lb_redact.h); viewers and
 * teachers status events reduced to recording.{active,title,teacher,
 * course,subject,grade,class,lesson_type,elapsed_s,started_at,lesson_state,lesson_flags}, "live" (the HLS
 * output is up) and sources[] and mics[]
 * as {name,role,state} (no errors, URLs, paths or outputs); GET
 * /api/v1/status below an operator (the public too) adds "next_live":
 * {title,teacher,subject,grade,class,start_s,end_s,timezone}, the
 * timetable's next lesson when it goes live (the viewer page's "next");
 * alert,
 * schedule and meters events; a public viewer (no login) only status events with the recording
 * part.  Every published
 * event is redacted on the way in (lb_webui_publish). */

typedef struct lb_recording_request {
    int start;                    /* 1 start, 0 stop */
    lb_lesson_meta meta;          /* start: the lesson's metadata, checked as
                                   * lb_meta_from_json() does */
    unsigned meta_given;          /* the LB_META_* members the request gave */
} lb_recording_request;

/* Implemented by the daemon; called on the webui thread only, must not
 * block for long (the loop serves everyone).  cJSON results are new objects
 * the webui frees.  Errors return a negative AVERROR with a human message in
 * err; the webui maps EINVAL to 400, ENOENT to 404, EBUSY/EEXIST to 409,
 * EPERM/EACCES to 403, anything else to 500.  Any member may be NULL (the
 * endpoint then answers 501 or an empty result). */
typedef struct lb_control_ops {
    /* GET /api/v1/status: recording, sources, mics, outputs, director, disk */
    cJSON *(*status)(void *opaque);
    /* GET /api/v1/sources */
    cJSON *(*sources)(void *opaque);
    /* POST /api/v1/recording */
    int (*recording)(void *opaque, const lb_recording_request *req, char *err, size_t err_size);
    /* POST /api/v1/director: mode "auto"|"manual", shot (role or source name), layout */
    int (*director)(void *opaque, const char *mode, const char *shot, const char *layout,
                    char *err, size_t err_size);
    /* POST /api/v1/mics/<name> {"mute":bool,"gain_db":x}: the mic's fader
     * in the program mix (mute -1, gain_db NAN: unchanged; gain_db already
     * checked to be within -60..+20 dB).  ENOENT: no such mic. */
    int (*mic)(void *opaque, const char *name, int mute, double gain_db, char *err, size_t err_size);
    /* Small JPEG of a source (or "program") for the multiview; *jpeg is
     * av_malloc'ed and freed by the webui with av_free. */
    int (*snapshot)(void *opaque, const char *source, uint8_t **jpeg, size_t *size);
    /* Prometheus text for /metrics (malloc'ed, freed by the webui). */
    char *(*metrics)(void *opaque);
    /* GET /api/v1/alerts: {"alerts":[{"id","alert","subject","since",
     * "message","params"}]}, the raised alerts oldest first */
    cJSON *(*alerts)(void *opaque);
    /* GET /api/v1/schedule: the scheduler's view (daemon/scheduler.h):
     * current and next occurrence with their metadata, the feed's state
     * and last error, the clock's synchronisation */
    cJSON *(*schedule)(void *opaque);
    /* GET /api/v1/schedule?from=&to= (Unix seconds): the occurrences of
     * that window as an array (the week grid), NULL with err when the
     * schedule cannot expand it */
    cJSON *(*schedule_window)(void *opaque, int64_t from_s, int64_t to_s, char *err, size_t err_size);
    /* GET /api/v1/timetable: the stored timetable as JSON text (malloc'ed,
     * freed by the webui), NULL when there is none */
    char *(*timetable_get)(void *opaque);
    /* PUT /api/v1/timetable: validates (EINVAL, err naming the entry),
     * stores and applies; size 0 removes the timetable */
    int (*timetable_put)(void *opaque, const char *text, size_t size, char *err, size_t err_size);
    /* POST /api/v1/recording {"action":"extend","minutes":5|10}: the
     * timetable lesson records that much longer (EBUSY: why not) */
    int (*extend)(void *opaque, int minutes, char *err, size_t err_size);
    /* POST /api/v1/recordings/<id>/upload, and after a metadata edit: the
     * finished lesson in lesson_dir goes (again) to every upload output,
     * at once.  AVERROR(ENOENT) with err when there is no upload output. */
    int (*upload)(void *opaque, const char *lesson_dir, char *err, size_t err_size);
} lb_control_ops;

typedef struct lb_webui lb_webui;

typedef struct lb_webui_params {
    const lb_config *cfg;         /* [general] http_port, [auth], [webui] */
    const char *data_dir;         /* recordings, served under /recordings/ */
    const char *www_dir;          /* static UI */
    const char *live_dir;         /* local HLS, served under /live/ (NULL: none) */
    const lb_control_ops *ops;
    void *opaque;
    const char *recut_exe;        /* the luobo binary run for re-cuts (NULL: /proc/self/exe) */
    int64_t stop_timeout_us;      /* how long lb_webui_free() waits for a stuck web thread
                                   * before leaving it behind (0: 10 s; tests wedge it) */
} lb_webui_params;

/* [auth]: admin_password_hash, public_viewer, metrics_public, users_file,
 * session_idle_s, session_max_s, login_max_failures, login_window_s,
 * login_backoff_max_s, and tls_cert, tls_key (the older names of [webui]
 * tls_cert and tls_key). */
extern const lb_option lb_auth_options[];
/* [webui]: tls = off | auto | on (not set: on when a certificate is
 * configured, else off), https_port, plain_live, tls_cert, tls_key.  With
 * TLS, HTTPS and WSS are served on https_port and http_port answers with a
 * redirect to it (except /live/ with plain_live). */
extern const lb_option lb_webui_options[];
/* [webui] server_names: more names the UI may be reached by (every
 * request's Host and a WebSocket's Origin must name this machine). */
extern const lb_option lb_webui_host_options[];
/* The [general] keys the webui reads itself: http_port (default 8080; 0 =
 * any free port, see lb_webui_port()) and http_address (default: every
 * interface).  lb_webui_create() applies them, which marks them used. */
extern const lb_option lb_webui_general_options[];

/* Applies [auth], [webui] and the webui's [general] keys and validates them (no
 * I/O).  p and its strings are copied (cfg is not kept); ops and opaque
 * must outlive the webui.  Returns 0 or AVERROR(EINVAL) with a config-style
 * message. */
int lb_webui_create(lb_webui **w, const lb_webui_params *p, char *err, size_t err_size);
/* A reload: the live keys of [auth] (public_viewer, metrics_public, the
 * session and login limits; LB_OPT_LIVE in lb_auth_options) of cfg apply
 * to the running web UI, without dropping a connection or a session.
 * Listeners, ports, TLS, the users file and the admin hash need a new web
 * UI.  Any thread; cfg is not kept.  Returns 0 or AVERROR(EINVAL) with err. */
int lb_webui_reconfigure(lb_webui *w, const lb_config *cfg, char *err, size_t err_size);
/* A reload added or removed the HLS output: /live/ serves dir from now on
 * (NULL or "": nothing).  Any thread. */
void lb_webui_set_live_dir(lb_webui *w, const char *dir);
/* Creates data_dir if needed, reads the users file, reads or (tls = auto)
 * makes the certificate, binds the port(s) and
 * starts two threads: "lb-webui" (the loop; every lb_control_ops call
 * happens there) and "lb-webui-auth" (password checks).  While no admin
 * exists it logs a one-time setup code that the first-run page asks for.
 * Returns 0 or AVERROR with err. */
int lb_webui_start(lb_webui *w, char *err, size_t err_size);
/* Any thread: copies json and queues it for every WebSocket client of
 * /api/v1/events.  Never blocks on clients: when the loop falls behind the
 * oldest queued events are dropped, and each slow client loses its own
 * oldest ones (both counted in /metrics).  A no-op unless started. */
void lb_webui_publish(lb_webui *w, const char *json);
/* Closes every connection and joins the threads; no ops call happens after
 * it returns.  Idempotent. */
void lb_webui_stop(lb_webui *w);
/* Stops if needed and frees; accepts NULL and *w == NULL; sets *w to NULL. */
void lb_webui_free(lb_webui **w);
/* A pipeline restart (daemon/reload.c) keeps the web UI when none of its
 * keys changed: the running web UI is handed from the old pipeline to the
 * new one, its sessions and event sockets untouched.  set_control() makes
 * every later lb_control_ops call go to ops/opaque; ops NULL means
 * detached (the pipeline is restarting): the status is empty and actions
 * answer 503 "the pipeline is restarting".  Any thread but the webui's;
 * once it returns 0 no call into the old opaque runs or will run.
 * AVERROR(ETIMEDOUT) if the loop did not take it within a few seconds
 * (then stop the web UI before freeing the old opaque). */
int lb_webui_set_control(lb_webui *w, const lb_control_ops *ops, void *opaque);
int lb_webui_started(const lb_webui *w);
/* When a restart must make a new web UI (a port, TLS, the users file...):
 * save() copies the sessions and login rate limits of a stopped one (NULL
 * when w is NULL, running or out of memory), restore() hands them to a new
 * one before lb_webui_start() (which takes them once the users file is read:
 * the sessions of users that are gone or have another role end), so the
 * logged-in consoles stay logged in.  API tokens live in the users file.
 * free() accepts NULL and wipes the secrets. */
typedef struct lb_webui_sessions lb_webui_sessions;
lb_webui_sessions *lb_webui_save_sessions(lb_webui *w);
void lb_webui_restore_sessions(lb_webui *w, lb_webui_sessions **s);
void lb_webui_sessions_free(lb_webui_sessions **s);
int lb_webui_port(const lb_webui *w);   /* the bound http_port (useful with port 0) */
int lb_webui_https_port(const lb_webui *w);   /* the bound https_port; 0 without TLS */

#endif
