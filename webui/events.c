/* Design note: the events fan-out.
 *
 * lb_webui_publish() (any thread) only copies the text into a bounded ring
 * under a mutex and wakes the loop with lws_cancel_service(); when the ring
 * is full the oldest event goes, so a stalled loop costs the publisher
 * nothing.  On the loop, each event becomes one refcounted buffer shared by
 * every client, and each client has its own small backlog: a client that
 * reads too slowly loses its oldest events (meters are stale after 100 ms
 * anyway) and never delays the others.  Public viewers (no login) receive
 * only a reduced status: title, course, whether a lesson is being
 * recorded. */
#include "webui_priv.h"

#include <stdlib.h>
#include <string.h>

#include "lb_log.h"

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

static void event_unref(webui_event **pev)
{
    if (*pev && --(*pev)->refs == 0)
        free(*pev);
    *pev = NULL;
}

static void client_push(lb_webui *w, webui_conn *c, webui_event *ev)
{
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

/* The reduced status for public viewers, from a full status event. */
static webui_event *lite_status_event(const cJSON *full)
{
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(full, "status");
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(data ? data : full, "recording");
    cJSON *out = cJSON_CreateObject(), *d = cJSON_AddObjectToObject(out, "status");
    cJSON *r = cJSON_AddObjectToObject(d, "recording");
    static const char *const keep[] = { "active", "title", "course", "teacher", "elapsed_s" };
    cJSON_AddStringToObject(out, "type", "status");
    for (size_t i = 0; rec && i < sizeof keep / sizeof keep[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, keep[i]);
        if (v)
            cJSON_AddItemToObject(r, keep[i], cJSON_Duplicate(v, 1));
    }
    webui_event *ev = event_from_json(out);
    cJSON_Delete(out);
    return ev;
}

void webui_events_drain(lb_webui *w)
{
    char *batch[WEBUI_PUBLISH_RING];
    int n = 0;

    pthread_mutex_lock(&w->lock);
    while (w->ring_count) {
        batch[n++] = w->ring[w->ring_head];
        w->ring[w->ring_head] = NULL;
        w->ring_head = (w->ring_head + 1) % WEBUI_PUBLISH_RING;
        w->ring_count--;
    }
    pthread_mutex_unlock(&w->lock);

    for (int i = 0; i < n; i++) {
        webui_event *full = NULL, *lite = NULL;
        int has_lite = 0;
        for (webui_conn *c = w->ws_clients; c; c = c->ws_next)
            has_lite |= c->ws_lite;
        if (has_lite) {
            cJSON *json = cJSON_Parse(batch[i]);
            const cJSON *type = cJSON_GetObjectItemCaseSensitive(json, "type");
            if (cJSON_IsString(type) && !strcmp(type->valuestring, "status"))
                lite = lite_status_event(json);
            cJSON_Delete(json);
        }
        full = event_new(batch[i], strlen(batch[i]));
        for (webui_conn *c = w->ws_clients; c; c = c->ws_next) {
            webui_event *ev = c->ws_lite ? lite : full;
            if (ev)
                client_push(w, c, ev);
        }
        event_unref(&full);
        event_unref(&lite);
        free(batch[i]);
    }
}

int webui_events_attach(lb_webui *w, webui_conn *c)
{
    cJSON *status = webui_status_json(w, c->ws_lite);
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
