/* Design note: the events fan-out.
 *
 * lb_webui_publish() (any thread) only copies the text into a bounded ring
 * under a mutex and wakes the loop with lws_cancel_service(); when the ring
 * is full the oldest event goes, so a stalled loop costs the publisher
 * nothing.  On the loop, each event becomes one refcounted buffer shared by
 * every client, and each client has its own small backlog: a client that
 * reads too slowly loses its oldest events (meters are stale after 100 ms
 * anyway) and never delays the others.  Below an operator a client
 * receives status events reduced to its view (webui_status_filter: no
 * errors, URLs, paths or outputs) and, from viewer up, alert, schedule
 * and meters events (the teacher page shows the mic's level; a public
 * viewer, who may be one of many, gets no meters); nothing else (tally and
 * decisions are the console's).
 *
 * A socket is as good as the session or API token it was opened with: when
 * that ends (logout, revocation, a password or role change, the user
 * deleted, the token deleted, idle or absolute expiry) the socket is closed
 * with 1008 "credentials ended".  The API checks right after every state
 * change; expiry is checked here about once a second. */
#include "webui_priv.h"

#include <stdlib.h>
#include <string.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_redact.h"

struct webui_event {
    int refs;
    size_t len;
    unsigned char data[];         /* LWS_PRE bytes of room, then the text */
};

static webui_event *event_new(const char *text, size_t len)
{
    webui_event *ev = malloc(sizeof *ev + LWS_PRE + len);
    if (!ev)
        return NULL;
    ev->refs = 1;
    ev->len = len;
    memcpy(ev->data + LWS_PRE, text, len);
    return ev;
}

static webui_event *event_ref(webui_event *ev)
{
    if (ev)
        ev->refs++;
    return ev;
}

static void event_unref(webui_event **pev)
{
    if (*pev && --(*pev)->refs == 0)
        free(*pev);
    *pev = NULL;
}

static void client_push(lb_webui *w, webui_conn *c, webui_event *ev)
{
    if (c->ws_revoked)
        return;
    if (c->backlog_count == WEBUI_CLIENT_BACKLOG) {
        event_unref(&c->backlog[c->backlog_head]);
        c->backlog_head = (c->backlog_head + 1) % WEBUI_CLIENT_BACKLOG;
        c->backlog_count--;
        c->ws_dropped++;
        w->ws_events_dropped++;
    }
    ev->refs++;
    c->backlog[(c->backlog_head + c->backlog_count) % WEBUI_CLIENT_BACKLOG] = ev;
    c->backlog_count++;
    lws_callback_on_writable(c->wsi);
}

static webui_event *event_from_json(cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    webui_event *ev = text ? event_new(text, strlen(text)) : NULL;
    free(text);
    return ev;
}

/* A status event reduced to what view may see. */
static webui_event *status_event(const cJSON *full, webui_status_view view)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(full, "status");
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "type", "status");
    cJSON_AddItemToObject(out, "status", webui_status_filter(data ? data : full, view));
    webui_event *ev = event_from_json(out);
    cJSON_Delete(out);
    return ev;
}

void webui_events_revalidate(lb_webui *w)
{
    for (webui_conn *c = w->ws_clients; c; c = c->ws_next) {
        if (c->ws_revoked)
            continue;
        if (!c->who.role) {
            /* anonymous: only while [auth] public_viewer (a reload may
             * have turned it off) */
            if (w->auth_settings.public_viewer)
                continue;
            LB_LOGI("webui", "closing an anonymous event socket: [auth] public_viewer is off");
        } else if (webui_auth_still_valid(w->auth, &c->who)) {
            continue;
        } else {
            LB_LOGI("webui", "closing the event socket of '%s': its %s ended", c->who.user,
                    c->who.via == WEBUI_VIA_TOKEN ? "API token" : "session");
        }
        c->ws_revoked = 1;
        lws_callback_on_writable(c->wsi);
    }
}

void webui_events_drain(lb_webui *w)
{
    char *batch[WEBUI_PUBLISH_RING];
    int n = 0;
    int64_t now = lb_clock_now();

    if (now - w->ws_checked_us >= 1000000) {       /* expiry: about once a second */
        w->ws_checked_us = now;
        webui_events_revalidate(w);
    }

    pthread_mutex_lock(&w->lock);
    while (w->ring_count) {
        batch[n++] = w->ring[w->ring_head];
        w->ring[w->ring_head] = NULL;
        w->ring_head = (w->ring_head + 1) % WEBUI_PUBLISH_RING;
        w->ring_count--;
    }
    pthread_mutex_unlock(&w->lock);

    for (int i = 0; i < n; i++) {
        /* one shared buffer per view: full, viewer, public */
        webui_event *ev[WEBUI_VIEW_FULL + 1] = { NULL };
        int wanted[WEBUI_VIEW_FULL + 1] = { 0 };
        for (webui_conn *c = w->ws_clients; c; c = c->ws_next)
            wanted[c->ws_view] = 1;
        int viewer_sees_all = 0;
        if (wanted[WEBUI_VIEW_PUBLIC] || wanted[WEBUI_VIEW_VIEWER]) {
            /* below an operator: status events, reduced; viewers also get
             * alerts and the schedule (GET /api/v1/alerts and
             * /api/v1/schedule are theirs too) and the meters (the
             * teacher page's mic level; names they see in the status) */
            cJSON *json = cJSON_Parse(batch[i]);
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(json, "type");
            if (cJSON_IsString(type) && !strcmp(type->valuestring, "status")) {
                for (int v = WEBUI_VIEW_PUBLIC; v < WEBUI_VIEW_FULL; v++)
                    if (wanted[v])
                        ev[v] = status_event(json, (webui_status_view)v);
            } else if (cJSON_IsString(type) && (!strcmp(type->valuestring, "alert") ||
                                                !strcmp(type->valuestring, "schedule") ||
                                                !strcmp(type->valuestring, "meters"))) {
                viewer_sees_all = wanted[WEBUI_VIEW_VIEWER];
            }
            cJSON_Delete(json);
        }
        if (wanted[WEBUI_VIEW_FULL] || viewer_sees_all)
            ev[WEBUI_VIEW_FULL] = event_new(batch[i], strlen(batch[i]));
        if (viewer_sees_all)
            ev[WEBUI_VIEW_VIEWER] = event_ref(ev[WEBUI_VIEW_FULL]);
        for (webui_conn *c = w->ws_clients; c; c = c->ws_next)
            if (ev[c->ws_view])
                client_push(w, c, ev[c->ws_view]);
        for (int v = 0; v <= WEBUI_VIEW_FULL; v++)
            event_unref(&ev[v]);
        free(batch[i]);
    }
}

int webui_events_attach(lb_webui *w, webui_conn *c)
{
    cJSON *status = webui_status_json(w, (webui_status_view)c->ws_view);
    cJSON *msg = cJSON_CreateObject();
    webui_event *ev;

    c->ws_next = w->ws_clients;
    w->ws_clients = c;
    cJSON_AddStringToObject(msg, "type", "status");
    cJSON_AddItemToObject(msg, "status", status ? status : cJSON_CreateObject());
    ev = event_from_json(msg);
    cJSON_Delete(msg);
    if (ev) {
        client_push(w, c, ev);
        event_unref(&ev);
    }
    return 0;
}

void webui_events_detach(lb_webui *w, webui_conn *c)
{
    for (webui_conn **p = &w->ws_clients; *p; p = &(*p)->ws_next)
        if (*p == c) {
            *p = c->ws_next;
            break;
        }
    while (c->backlog_count) {
        event_unref(&c->backlog[c->backlog_head]);
        c->backlog_head = (c->backlog_head + 1) % WEBUI_CLIENT_BACKLOG;
        c->backlog_count--;
    }
    c->is_ws = 0;
}

int webui_events_write(lb_webui *w, webui_conn *c)
{
    static const char reason[] = "credentials ended";
    if (c && c->is_ws && c->ws_revoked) {
        lws_close_reason(c->wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)reason,
                         sizeof reason - 1);
        return -1;
    }
    if (!c || !c->is_ws || !c->backlog_count)
        return 0;
    webui_event *ev = c->backlog[c->backlog_head];
    c->backlog[c->backlog_head] = NULL;
    c->backlog_head = (c->backlog_head + 1) % WEBUI_CLIENT_BACKLOG;
    c->backlog_count--;
    int n = lws_write(c->wsi, ev->data + LWS_PRE, ev->len, LWS_WRITE_TEXT);
    event_unref(&ev);
    if (n < 0)
        return -1;
    w->ws_events_sent++;
    if (c->backlog_count)
        lws_callback_on_writable(c->wsi);
    return 0;
}
