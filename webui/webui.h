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

typedef struct lb_recording_request {
    int start;                    /* 1 start, 0 stop */
    char title[128];
    char teacher[64];
    char course[64];
} lb_recording_request;

/* Implemented by the daemon; called on the webui thread, must not block
 * for long.  cJSON results are new objects the webui frees.  Errors return
 * a negative AVERROR with a human message in err. */
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
    /* Small JPEG of a source (or "program") for the multiview; *jpeg is
     * av_malloc'ed and freed by the webui with av_free. */
    int (*snapshot)(void *opaque, const char *source, uint8_t **jpeg, size_t *size);
    /* Prometheus text for /metrics (malloc'ed, freed by the webui). */
    char *(*metrics)(void *opaque);
} lb_control_ops;

typedef struct lb_webui lb_webui;

typedef struct lb_webui_params {
    const lb_config *cfg;         /* [general] http_port, [auth] */
    const char *data_dir;         /* recordings, served under /recordings/ */
    const char *www_dir;          /* static UI */
    const char *live_dir;         /* local HLS, served under /live/ (NULL: none) */
    const lb_control_ops *ops;
    void *opaque;
} lb_webui_params;

extern const lb_option lb_auth_options[];

/* Validates [auth] (no I/O). */
int lb_webui_create(lb_webui **w, const lb_webui_params *p, char *err, size_t err_size);
/* Binds the port and starts the loop thread.  Returns 0 or AVERROR with err. */
int lb_webui_start(lb_webui *w, char *err, size_t err_size);
/* Thread-safe: pushes a JSON text event to every WebSocket client of
 * /api/v1/events (slow clients lose old events, never block anyone). */
void lb_webui_publish(lb_webui *w, const char *json);
void lb_webui_stop(lb_webui *w);
void lb_webui_free(lb_webui **w);
int lb_webui_port(const lb_webui *w);   /* the bound port (useful with port 0) */

#endif
