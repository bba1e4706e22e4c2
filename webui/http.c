/* Design note: one libwebsockets protocol serves everything.
 *
 * A request is read in LWS_CALLBACK_HTTP (headers: method, path, cookie,
 * tokens, Range are copied out at once, because lws may drop its header
 * buffer later), then its body, if any, arrives in LWS_CALLBACK_HTTP_BODY
 * (at most WEBUI_MAX_BODY; Content-Length is required, larger is 413 and
 * the connection is closed rather than reading what we will not use).  The
 * handler then fills the response into the connection: a status, headers
 * and either a memory body or an open file with a byte range.  Nothing is
 * written from the handler: the response goes out from
 * LWS_CALLBACK_HTTP_WRITEABLE one WEBUI_CHUNK at a time, asking for the next
 * writable callback only after the kernel took the previous chunk, so a
 * slow client holds one file descriptor and no memory, and never the loop.
 *
 * The WebSocket /api/v1/events is an upgrade of the same protocol (lws
 * gives it fresh per-session data); see events.c.
 *
 * Driving lws 4.1.6 safely (Debian 12's build; the faults are in lws):
 * - A client that sends more after a request's body, before its answer,
 *   is cut off unless the answer is ready: the request stays in LRS_BODY
 *   and lws re-issues BODY_COMPLETION for what it buffered at every turn of
 *   the loop, spinning until the answer is out (a login waits for its
 *   hash).  rx flow
 *   control is no way out: a flow-controlled h1 connection never gets its
 *   POLLOUT serviced, so its answer would never leave and the loop would
 *   spin on the writable socket instead.
 * - A request that lws parses from bytes it buffered behind an earlier one
 *   (HTTP pipelining) must not have a body: for such a request
 *   lws_http_action() re-reads the very buffer it is parsing as the body,
 *   and once that body is complete loops for ever, consuming nothing
 *   (`while (1)` over lws_read_h1() in lws_http_action; one lws_service()
 *   call that never returns).  Such requests are refused and the
 *   connection closed before lws gets there.
 * - Every Upgrade is refused except the events WebSocket: h2 (and its
 *   HPACK code) stays unreachable, and LWS_CALLBACK_HTTP_CONFIRM_UPGRADE
 *   never lets lws go on after it answered an unknown upgrade itself (it
 *   reads the freed header table then, CVE-2025-11677). */
#include "webui_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_redact.h"

/* ---- responses ---- */

void webui_add_header(webui_conn *c, const char *name, const char *fmt, ...)
{
    va_list ap;
    if (c->nb_headers >= WEBUI_MAX_HEADERS)
        return;
    webui_header *h = &c->headers[c->nb_headers++];
    snprintf(h->name, sizeof h->name, "%s", name);
    va_start(ap, fmt);
    vsnprintf(h->value, sizeof h->value, fmt, ap);
    va_end(ap);
}

void webui_respond(webui_conn *c, int status, const char *mime, char *body, size_t len)
{
    free(c->resp);
    c->status = status;
    snprintf(c->mime, sizeof c->mime, "%s", mime);
    c->resp = body;
    c->resp_len = len;
    c->resp_off = 0;
    c->content_len_total = (int64_t)len;
    c->responding = 1;
}

void webui_respond_json(webui_conn *c, int status, cJSON *json)
{
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    if (!text) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        text = strdup(oom);
        status = 500;
    }
    webui_respond(c, status, "application/json", text, text ? strlen(text) : 0);
}

/* {"error": msg} with the message redacted: errors may quote a daemon's message */
static cJSON *error_object(char *msg, size_t size, const char *fmt, va_list ap)
{
    lb_redact_vformat(msg, size, fmt, ap);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", msg);
    return o;
}

void webui_respond_error(webui_conn *c, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    cJSON *o = error_object(msg, sizeof msg, fmt, ap);
    va_end(ap);
    webui_error_add_code(o, msg);
    webui_respond_json(c, status, o);
}

void webui_respond_coded(webui_conn *c, int status, const char *code, cJSON *params,
                         const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    cJSON *o = error_object(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON_AddStringToObject(o, "code", code);
    cJSON_AddItemToObject(o, "params", params ? params : cJSON_CreateObject());
    webui_respond_json(c, status, o);
}

static void conn_reset(webui_conn *c)
{
    webui_hasher_forget(c);
    free(c->body);
    free(c->resp);
    if (c->fd > 0)
        close(c->fd);
    struct lws *wsi = c->wsi;
    memset(c, 0, sizeof *c);
    c->wsi = wsi;
}

/* Answers status with {"error": msg} and Connection: close at once, from a
 * callback that is about to return -1 (lws then closes the connection):
 * for refusals at points where lws must not be let on. */
static void refuse_now(lb_webui *w, struct lws *wsi, int status, const char *msg)
{
    unsigned char *start = w->wbuf + LWS_PRE, *p = start, *end = w->wbuf + sizeof w->wbuf - 1;
    cJSON *o = cJSON_CreateObject();
    char *text;

    cJSON_AddStringToObject(o, "error", msg);
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return;
    size_t len = strlen(text);
    if (!lws_add_http_common_headers(wsi, (unsigned)status, "application/json",
                                     (lws_filepos_t)len, &p, end) &&
        !lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
                                     (const unsigned char *)"nosniff", 7, &p, end) &&
        !lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                     (const unsigned char *)"no-store", 8, &p, end) &&
        !lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close",
                                      5, &p, end) &&
        !lws_finalize_write_http_header(wsi, start, &p, end) &&
        len < WEBUI_CHUNK) {
        memcpy(start, text, len);
        lws_write(wsi, start, len, LWS_WRITE_HTTP_FINAL);
    }
    free(text);
}

/* Set on a connection (lws opaque user data, which outlives the per-request
 * data) while lws holds bytes of a next request read with an earlier one. */
static const char pipelined_tag;
#define PIPELINED ((void *)&pipelined_tag)

/* After lws_http_transaction_completed(): 1 if lws kept bytes of a next
 * request.  lws 4.1 keeps the connection's header table exactly then (and
 * frees it otherwise), and lws_hdr_custom_copy() clears its output only when
 * there is a table: the one way its API tells. */
static int rx_pipelined(struct lws *wsi)
{
    char probe[2] = "?";
    lws_hdr_custom_copy(wsi, probe, sizeof probe, "x-luobo-probe:", 14);
    return probe[0] == 0;
}

/* 1 if lws will read a body for this request: POST, PUT and PATCH always
 * (lws assumes one even without Content-Length), others with one. */
static int lws_expects_body(struct lws *wsi, webui_method m)
{
    return m == WEBUI_POST || m == WEBUI_PUT || m == WEBUI_PATCH ||
           lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 ||
           lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
}

/* ---- files: static UI, /live/, /recordings/ ---- */

/* media: a file of a recording or of the live output (ranges allowed).
 * Those folders hold what luobo wrote, but a lesson folder can be copied
 * in from elsewhere: whatever it holds is never run as a page of ours. */
static void serve_file(webui_conn *c, const char *root, const char *rel, const char *cache_control,
                       int media)
{
    const int ranges = media;
    int64_t size = 0, first = 0, last = 0, mtime = 0;
    char last_modified[64] = "";
    int fd;

    if (c->method != WEBUI_GET && c->method != WEBUI_HEAD) {
        webui_add_header(c, "Allow", "GET, HEAD");
        webui_respond_error(c, 405, "method not allowed");
        return;
    }
    if (!root[0] || (fd = webui_open_confined(root, rel, &size, &mtime)) < 0) {
        webui_respond_error(c, 404, "not found");
        return;
    }
    /* Revalidation by date only: the browser echoes our own string back, so
     * an exact match is enough and no date parsing is needed. */
    time_t mt = (time_t)mtime;
    struct tm tm;
    if (gmtime_r(&mt, &tm))
        strftime(last_modified, sizeof last_modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (last_modified[0] && !c->range[0] && !strcmp(c->if_modified_since, last_modified)) {
        close(fd);
        webui_respond(c, 304, webui_mime_type(rel), NULL, 0);
        if (cache_control)
            webui_add_header(c, "Cache-Control", "%s", cache_control);
        return;
    }
    webui_range_result rr = ranges ? webui_parse_range(c->range, size, &first, &last)
                                   : WEBUI_RANGE_NONE;
    if (rr == WEBUI_RANGE_UNSATISFIABLE) {
        close(fd);
        webui_add_header(c, "Content-Range", "bytes */%lld", (long long)size);
        webui_respond_error(c, 416, "range not satisfiable");
        return;
    }
    if (rr == WEBUI_RANGE_NONE) {
        first = 0;
        last = size - 1;
    }
    webui_respond(c, rr == WEBUI_RANGE_OK ? 206 : 200, webui_mime_type(rel), NULL, 0);
    c->fd = fd;
    c->file_off = first;
    c->file_left = last - first + 1;
    c->content_len_total = c->file_left;
    if (ranges)
        webui_add_header(c, "Accept-Ranges", "bytes");
    if (rr == WEBUI_RANGE_OK)
        webui_add_header(c, "Content-Range", "bytes %lld-%lld/%lld", (long long)first,
                         (long long)last, (long long)size);
    if (cache_control)
        webui_add_header(c, "Cache-Control", "%s", cache_control);
    if (last_modified[0])
        webui_add_header(c, "Last-Modified", "%s", last_modified);
    if (media)
        webui_add_header(c, "Content-Security-Policy", "default-src 'none'; sandbox");
}

/* ---- blocking playlist reloads (LL-HLS) ----
 *
 * draft-pantos-hls-rfc8216bis 6.2.5.2: GET NAME.m3u8?_HLS_msn=M[&_HLS_part=P]
 * of a playlist that says CAN-BLOCK-RELOAD=YES is answered once the
 * playlist holds segment M whole (no P) or part P of segment M, or a later
 * one; at once with 400 when M is more than two segments ahead of the
 * last whole one or P more than the Advance Part Limit (3 / PART-TARGET
 * parts) ahead of the last part; 503 after three target durations.  The
 * request is not answered from the handler: the connection waits in
 * w->held (at most WEBUI_MAX_HELD, WEBUI_MAX_HELD_PER_IP per address,
 * beyond that 503 with Retry-After), and a timer on the loop looks at the
 * playlists every WEBUI_HELD_POLL_US while any waits; an answer leaves
 * through the writable callback like any other.  The playlist file is the
 * one truth between the streamer (which renames it into place after each
 * part) and us, so no other channel is needed. */

typedef struct live_playlist {
    int blocking;              /* CAN-BLOCK-RELOAD=YES */
    int endlist;
    int target_s;
    double part_target_s;
    int64_t last_msn;          /* the last whole segment (MEDIA-SEQUENCE - 1 when none) */
    int open_parts;            /* parts listed after it (of segment last_msn + 1) */
} live_playlist;

static int live_read(const char *root, const char *rel, live_playlist *pl)
{
    int64_t size = 0, mtime = 0;
    char line[512];
    int fd = webui_open_confined(root, rel, &size, &mtime);
    if (fd < 0)
        return -1;
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return -1;
    }
    memset(pl, 0, sizeof *pl);
    int64_t mseq = -1, nseg = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "#EXT-X-MEDIA-SEQUENCE:", 22))
            mseq = strtoll(line + 22, NULL, 10);
        else if (!strncmp(line, "#EXT-X-TARGETDURATION:", 22))
            pl->target_s = atoi(line + 22);
        else if (!strncmp(line, "#EXT-X-SERVER-CONTROL:", 22))
            pl->blocking = strstr(line, "CAN-BLOCK-RELOAD=YES") != NULL;
        else if (!strncmp(line, "#EXT-X-PART-INF:PART-TARGET=", 28))
            pl->part_target_s = strtod(line + 28, NULL);
        else if (!strncmp(line, "#EXTINF:", 8)) {
            nseg++;
            pl->open_parts = 0;
        } else if (!strncmp(line, "#EXT-X-PART:", 12))
            pl->open_parts++;
        else if (!strncmp(line, "#EXT-X-ENDLIST", 14))
            pl->endlist = 1;
    }
    fclose(f);
    if (mseq < 0 || pl->target_s <= 0)
        return -1;
    pl->last_msn = mseq + nseg - 1;
    return 0;
}

/* 1: answer now; 0: hold; -1: answered with 400. */
static int live_ready(lb_webui *w, webui_conn *c, const live_playlist *pl)
{
    if (!pl->blocking || pl->endlist)
        return 1;
    if (c->want_msn <= pl->last_msn ||
        (c->want_part >= 0 && c->want_msn == pl->last_msn + 1 && c->want_part < pl->open_parts))
        return 1;
    (void)w;
    if (c->want_msn > pl->last_msn + 2) {
        webui_respond_error(c, 400, "_HLS_msn=%lld is more than two segments ahead of %lld",
                            (long long)c->want_msn, (long long)pl->last_msn);
        return -1;
    }
    int limit = pl->part_target_s > 0 && pl->part_target_s < 1 ? (int)(3 / pl->part_target_s) : 3;
    int64_t ahead = c->want_msn == pl->last_msn + 1 ? c->want_part - (pl->open_parts - 1)
                                                   : c->want_part + 1;
    if (c->want_part >= 0 && ahead > limit) {
        webui_respond_error(c, 400, "_HLS_part=%d is more than %d parts ahead", c->want_part, limit);
        return -1;
    }
    return 0;
}

/* A decimal below 2^53, nothing else. */
static int hls_number(const char *text, int64_t *out)
{
    int64_t v = 0;
    if (!*text)
        return -1;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || (v = v * 10 + (*p - '0')) >= (1LL << 53))
            return -1;
    }
    *out = v;
    return 0;
}

static void held_remove(lb_webui *w, webui_conn *c)
{
    for (int i = 0; i < w->nb_held; i++) {
        if (w->held[i] == c) {
            w->held[i] = w->held[--w->nb_held];
            break;
        }
    }
    c->held = 0;
}

static void held_answer(lb_webui *w, webui_conn *c)
{
    held_remove(w, c);
    if (!c->responding)
        serve_file(c, w->live_dir, c->path + 6, "no-cache, no-store", 1);
    lws_callback_on_writable(c->wsi);
}

static void held_poll(lws_sorted_usec_list_t *sul)
{
    lb_webui *w = lws_container_of(sul, lb_webui, held_sul);
    int64_t now = lb_clock_now();
    live_playlist pl;
    char last_path[WEBUI_MAX_PATH] = "";
    int have = 0;
    if (atomic_load(&w->stop))
        return;
    for (int i = w->nb_held - 1; i >= 0; i--) {
        webui_conn *c = w->held[i];
        if (strcmp(c->path, last_path)) {       /* one read per playlist and turn */
            snprintf(last_path, sizeof last_path, "%s", c->path);
            have = live_read(w->live_dir, c->path + 6, &pl) == 0;
        }
        int r = have ? live_ready(w, c, &pl) : 1;        /* gone: its 404 */
        if (r == 0 && now >= c->held_until_us) {
            webui_add_header(c, "Retry-After", "1");
            webui_respond_error(c, 503, "_HLS_msn=%lld not there within three target durations",
                                (long long)c->want_msn);
        }
        if (r != 0 || c->responding)
            held_answer(w, c);
    }
    if (w->nb_held)
        lws_sul_schedule(w->ctx, 0, &w->held_sul, held_poll, WEBUI_HELD_POLL_US);
}

const char *webui_query_arg(webui_conn *c, const char *name, char *buf, int size)
{
    char key[32];
    if ((size_t)snprintf(key, sizeof key, "%s=", name) >= sizeof key)
        return NULL;
    /* lws copies "name=value" and points at the value */
    return c->wsi ? lws_get_urlarg_by_name(c->wsi, key, buf, size) : NULL;
}

int webui_query_fragment(webui_conn *c, int idx, char *buf, int size)
{
    if (!c->wsi)
        return -1;
    int len = lws_hdr_fragment_length(c->wsi, WSI_TOKEN_HTTP_URI_ARGS, idx);
    if (len >= size)
        return -2;
    /* 0 is also what lws says past the last one: the copy tells them apart */
    return lws_hdr_copy_fragment(c->wsi, buf, size, WSI_TOKEN_HTTP_URI_ARGS, idx) < 0 ? -1 : len;
}

/* Serves a playlist, holding it when the query asks for what is not there
 * yet. */
static void serve_live_playlist(lb_webui *w, webui_conn *c)
{
    char msn_buf[48] = "", part_buf[48] = "";
    int64_t v = 0;
    live_playlist pl;
    const char *rel = c->path + 6;
    const char *msn = webui_query_arg(c, "_HLS_msn", msn_buf, sizeof msn_buf);
    const char *part = webui_query_arg(c, "_HLS_part", part_buf, sizeof part_buf);
    int has_msn = msn != NULL, has_part = part != NULL;
    if ((!has_msn && !has_part) || (c->method != WEBUI_GET && c->method != WEBUI_HEAD) ||
        live_read(w->live_dir, rel, &pl) < 0 || !pl.blocking) {
        serve_file(c, w->live_dir, rel, "no-cache, no-store", 1);   /* ignored, as a plain server */
        return;
    }
    if (!has_msn) {
        webui_respond_error(c, 400, "_HLS_part without _HLS_msn");
        return;
    }
    if (hls_number(msn, &c->want_msn) < 0 || (has_part && hls_number(part, &v) < 0) ||
        (has_part && v > 100000)) {
        webui_respond_error(c, 400, "_HLS_msn and _HLS_part must be decimal numbers");
        return;
    }
    c->want_part = has_part ? (int)v : -1;
    int r = live_ready(w, c, &pl);
    if (r < 0)
        return;
    if (r > 0) {
        serve_file(c, w->live_dir, rel, "no-cache, no-store", 1);
        return;
    }
    int same_ip = 0;
    for (int i = 0; i < w->nb_held; i++)
        same_ip += !strcmp(w->held[i]->ip, c->ip);
    if (w->nb_held >= WEBUI_MAX_HELD || same_ip >= WEBUI_MAX_HELD_PER_IP) {
        w->held_refused++;
        webui_add_header(c, "Retry-After", "1");
        webui_respond_error(c, 503, "too many blocking playlist reloads waiting");
        return;
    }
    c->held = 1;
    c->held_until_us = lb_clock_now() + 3LL * pl.target_s * 1000000;
    w->held[w->nb_held++] = c;
    w->held_total++;
    if (w->nb_held == 1)
        lws_sul_schedule(w->ctx, 0, &w->held_sul, held_poll, WEBUI_HELD_POLL_US);
}

static int role_allows(const webui_principal *who, webui_role need)
{
    return who->role >= need;
}

static void route_files(lb_webui *w, webui_conn *c)
{
    const char *path = c->path;

    if (!strncmp(path, "/live/", 6)) {
        if (!w->auth_settings.public_viewer && !role_allows(&c->who, WEBUI_ROLE_VIEWER)) {
            webui_respond_error(c, 401, "login required");
            return;
        }
        /* Playlists change every segment (or part); segments never change. */
        size_t pl = strlen(path);
        if (pl > 5 && !strcmp(path + pl - 5, ".m3u8"))
            serve_live_playlist(w, c);
        else
            serve_file(c, w->live_dir, path + 6, "max-age=60", 1);
        return;
    }
    if (!strncmp(path, "/recordings/", 12)) {
        if (!role_allows(&c->who, WEBUI_ROLE_OPERATOR)) {
            webui_respond_error(c, c->who.role ? 403 : 401, c->who.role ? "forbidden"
                                                                        : "login required");
            return;
        }
        /* Only files inside a lesson folder, never the data folder itself. */
        if (!strchr(path + 12, '/')) {
            webui_respond_error(c, 404, "not found");
            return;
        }
        serve_file(c, w->data_dir, path + 12, "private, max-age=300", 1);
        return;
    }
    const char *rel = path + 1;
    if (!*rel)
        rel = "index.html";
    serve_file(c, w->www_dir, rel, "no-cache", 0);
    if (c->status == 200 && strstr(rel, ".html"))
        webui_add_header(c, "Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data: blob:; "
                         "media-src 'self' blob:; worker-src 'self' blob:; "
                         "connect-src 'self' ws: wss:; object-src 'none'; "
                         "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
}

/* A timetable is a document of its own: larger than a command's body. */
static int64_t body_limit(const webui_conn *c)
{
    return !strcmp(c->path, "/api/v1/timetable") ? WEBUI_MAX_DOC_BODY : WEBUI_MAX_BODY;
}

void webui_route(lb_webui *w, webui_conn *c)
{
    if (c->body_too_large)
        webui_respond_error(c, 413, "request body larger than %lld bytes", (long long)body_limit(c));
    else if (!strncmp(c->path, "/api/", 5) || !strcmp(c->path, "/metrics"))
        webui_api_handle(w, c);
    else
        route_files(w, c);
}

static void dispatch(lb_webui *w, webui_conn *c)
{
    if (c->dispatched)
        return;
    c->dispatched = 1;
    w->requests++;
    webui_route(w, c);
    if (c->hash_job || c->held)
        return;                     /* the hasher or held_poll() will answer */
    if (!c->responding)
        webui_respond_error(c, 500, "no response");
    lws_callback_on_writable(c->wsi);
}

/* ---- reading a request ---- */

static webui_method method_of(struct lws *wsi)
{
    static const struct { enum lws_token_indexes tok; webui_method m; } map[] = {
        { WSI_TOKEN_GET_URI, WEBUI_GET },       { WSI_TOKEN_POST_URI, WEBUI_POST },
        { WSI_TOKEN_HEAD_URI, WEBUI_HEAD },     { WSI_TOKEN_PUT_URI, WEBUI_PUT },
        { WSI_TOKEN_PATCH_URI, WEBUI_PATCH },   { WSI_TOKEN_DELETE_URI, WEBUI_DELETE },
        { WSI_TOKEN_OPTIONS_URI, WEBUI_OPTIONS },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (lws_hdr_total_length(wsi, map[i].tok))
            return map[i].m;
    return WEBUI_METHOD_INVALID;
}

/* Copies header h into buf; empty when absent or too long to be honest. */
static void copy_header(struct lws *wsi, enum lws_token_indexes h, char *buf, int size)
{
    buf[0] = 0;
    if (lws_hdr_total_length(wsi, h) >= size || lws_hdr_copy(wsi, buf, size, h) < 0)
        buf[0] = 0;
}

static void cookie_value(const char *cookies, const char *name, char *out, size_t out_size)
{
    size_t nlen = strlen(name);
    const char *p = cookies;
    out[0] = 0;
    while (p && *p) {
        while (*p == ' ' || *p == ';')
            p++;
        if (!strncmp(p, name, nlen) && p[nlen] == '=') {
            const char *v = p + nlen + 1, *end = strchr(v, ';');
            size_t len = end ? (size_t)(end - v) : strlen(v);
            if (len < out_size) {
                memcpy(out, v, len);
                out[len] = 0;
            }
            return;
        }
        p = strchr(p, ';');
    }
}

void webui_identify(lb_webui *w, const char *authorization, const char *cookies,
                    webui_principal *who)
{
    char sid[128];

    memset(who, 0, sizeof *who);
    if (!strncasecmp(authorization, "Bearer ", 7)) {
        webui_auth_token(w->auth, authorization + 7, who);
        return;          /* a bad token is not silently replaced by a cookie */
    }
    cookie_value(cookies, WEBUI_SESSION_COOKIE, sid, sizeof sid);
    if (sid[0])
        webui_auth_session(w->auth, sid, who);
}

static void identify(lb_webui *w, struct lws *wsi, webui_principal *who)
{
    char authorization[4096], cookies[4096];

    copy_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, authorization, sizeof authorization);
    copy_header(wsi, WSI_TOKEN_HTTP_COOKIE, cookies, sizeof cookies);
    webui_identify(w, authorization, cookies, who);
}

/* An answer decided before the body: the connection closes after it, as
 * the body (if any) is never read. */
static int answer_early(webui_conn *c, int status, const char *msg)
{
    c->close_after = 1;
    c->dispatched = 1;
    webui_respond_error(c, status, "%s", msg);
    lws_callback_on_writable(c->wsi);
    return 0;
}

/* Any page can make a browser post a form here, and login and setup have
 * no CSRF token yet (a pupil's page could log a teacher's browser into the
 * pupil's account): a state change from a browser must come from one of
 * our pages.  Sec-Fetch-Site says so where the browser sends it; else the
 * Origin, which every browser sends with a POST.  Our pages' no-referrer
 * policy makes even their own POSTs carry "Origin: null", so null is let
 * through only when Sec-Fetch-Site cannot tell (an old browser).  API
 * clients send neither header. */
static int from_our_page(lb_webui *w, struct lws *wsi, const char *host, char *why,
                         size_t why_size)
{
    char site[32], origin[256];
    if (lws_hdr_custom_copy(wsi, site, sizeof site, "sec-fetch-site:", 15) < 0)
        site[0] = 0;
    if (site[0]) {
        if (strcmp(site, "same-origin") && strcmp(site, "none")) {
            snprintf(why, why_size, "foreign origin (Sec-Fetch-Site: %s)", site);
            return 0;
        }
        return 1;
    }
    copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin);
    return !strcmp(origin, "null") || webui_origin_allowed(w, origin, host, why, why_size);
}

static int on_http(lb_webui *w, webui_conn *c, struct lws *wsi, const char *uri)
{
    char num[32], host[256], why[320];

    conn_reset(c);
    c->wsi = wsi;
    c->content_length = -1;
    c->method = method_of(wsi);
    if (lws_get_opaque_user_data(wsi) == PIPELINED && lws_expects_body(wsi, c->method)) {
        /* Returning 0 would let lws 4.1.6 spin for ever (see the top). */
        refuse_now(w, wsi, 400, "a request with a body must not be pipelined: "
                                "send it after the previous answer");
        return -1;
    }
    if (!uri || strlen(uri) >= sizeof c->path)
        return answer_early(c, 414, "URI too long");
    snprintf(c->path, sizeof c->path, "%s", uri);
    lws_get_peer_simple(wsi, c->ip, sizeof c->ip);
    if (webui_tls_on_request(w, c, wsi)) {      /* plain HTTP while HTTPS is on */
        c->dispatched = 1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    /* After the redirect to HTTPS, which serves nothing and keeps the host
     * the client asked for (the HTTPS side checks it). */
    copy_header(wsi, WSI_TOKEN_HOST, host, sizeof host);
    if (!webui_host_allowed(w, host, why, sizeof why))
        return answer_early(c, host[0] ? 421 : 400, why);
    if (c->method != WEBUI_GET && c->method != WEBUI_HEAD && !from_our_page(w, wsi, host, why,
                                                                            sizeof why))
        return answer_early(c, 403, why);
    copy_header(wsi, WSI_TOKEN_HTTP_RANGE, c->range, sizeof c->range);
    copy_header(wsi, WSI_TOKEN_HTTP_IF_MODIFIED_SINCE, c->if_modified_since,
                sizeof c->if_modified_since);
    if (lws_hdr_custom_copy(wsi, c->csrf_header, sizeof c->csrf_header, "x-csrf-token:", 13) < 0)
        c->csrf_header[0] = 0;
    identify(w, wsi, &c->who);
    copy_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, num, sizeof num);
    if (num[0]) {
        char *end;
        long long v = strtoll(num, &end, 10);
        c->content_length = (*end || v < 0) ? WEBUI_MAX_DOC_BODY + 1 : v;
    }
    /* lws 4.1 does not decode chunked request bodies for us. */
    if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING))
        return answer_early(c, 411, "Content-Length required");
    /* lws would wait for a body that has no end */
    if ((c->method == WEBUI_POST || c->method == WEBUI_PUT || c->method == WEBUI_PATCH) &&
        c->content_length < 0)
        return answer_early(c, 411, "Content-Length required");
    if (c->content_length > body_limit(c)) {
        c->close_after = 1;        /* do not read what we will refuse */
        c->body_too_large = 1;
        dispatch(w, c);
        return 0;
    }
    /* lws delivers BODY_COMPLETION for a body, and for a POST with an
     * explicit zero length; everything else is complete now. */
    if (c->content_length > 0 || (c->method == WEBUI_POST && c->content_length == 0))
        return 0;
    dispatch(w, c);
    return 0;
}

static int on_body(webui_conn *c, const void *in, size_t len)
{
    if (c->dispatched || c->body_too_large)
        return 0;
    if ((int64_t)(c->body_len + len) > body_limit(c)) {
        c->body_too_large = 1;
        c->close_after = 1;
        return 0;
    }
    char *grown = realloc(c->body, c->body_len + len + 1);
    if (!grown)
        return -1;
    c->body = grown;
    if (len)
        memcpy(c->body + c->body_len, in, len);
    c->body_len += len;
    c->body[c->body_len] = 0;
    return 0;
}

/* ---- writing a response ---- */

static int write_headers(lb_webui *w, webui_conn *c)
{
    unsigned char *start = w->wbuf + LWS_PRE, *p = start, *end = w->wbuf + sizeof w->wbuf - 1;
    struct lws *wsi = c->wsi;

    /* 204 and 304 carry no body and, by RFC 9110, no Content-Length. */
    if (c->status == 204 || c->status == 304) {
        if (lws_add_http_header_status(wsi, (unsigned)c->status, &p, end))
            return -1;
    } else if (lws_add_http_common_headers(wsi, (unsigned)c->status, c->mime,
                                           (lws_filepos_t)c->content_len_total, &p, end)) {
        return -1;
    }
    static const struct { const char *name, *value; } always[] = {
        { "x-content-type-options:", "nosniff" },
        { "referrer-policy:", "no-referrer" },
        { "x-frame-options:", "DENY" },
    };
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)always[i].name,
                                        (const unsigned char *)always[i].value,
                                        (int)strlen(always[i].value), &p, end))
            return -1;
    for (int i = 0; i < c->nb_headers; i++) {
        char name[48];
        snprintf(name, sizeof name, "%s:", c->headers[i].name);
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                        (const unsigned char *)c->headers[i].value,
                                        (int)strlen(c->headers[i].value), &p, end))
            return -1;
    }
    if (!strncmp(c->path, "/api/", 5) &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end))
        return -1;
    if (c->close_after &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close",
                                     5, &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    c->headers_sent = 1;
    return 0;
}

/* Returns 1 when the whole body is out. */
static int write_body_chunk(lb_webui *w, webui_conn *c)
{
    unsigned char *buf = w->wbuf + LWS_PRE;
    size_t n = 0;

    if (c->method == WEBUI_HEAD)
        return 1;
    if (c->resp) {
        n = c->resp_len - c->resp_off;
        if (n > WEBUI_CHUNK)
            n = WEBUI_CHUNK;
        memcpy(buf, c->resp + c->resp_off, n);
        c->resp_off += n;
    } else if (c->fd > 0 && c->file_left > 0) {
        size_t want = c->file_left > WEBUI_CHUNK ? WEBUI_CHUNK : (size_t)c->file_left;
        ssize_t got = pread(c->fd, buf, want, c->file_off);
        if (got <= 0) {
            /* The file shrank under us (a recording was deleted): we promised
             * a length we cannot keep, so the connection must end. */
            LB_LOGW("webui", "%s: read failed, closing the connection", c->path);
            return -1;
        }
        n = (size_t)got;
        c->file_off += got;
        c->file_left -= got;
    }
    int done = c->resp ? c->resp_off >= c->resp_len : c->file_left <= 0;
    if (n && lws_write(c->wsi, buf, n, done ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
        return -1;
    return done;
}

static int on_writeable(lb_webui *w, webui_conn *c)
{
    if (!c->responding)
        return 0;
    if (!c->headers_sent) {
        if (write_headers(w, c) < 0)
            return -1;
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    int done = c->body_done ? 1 : write_body_chunk(w, c);
    if (done < 0)
        return -1;
    if (!done) {
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    /* What lws still holds of the last write goes out first: closing would
     * cut it, and lws_http_transaction_completed() would defer the end of
     * the transaction to later, where rx_pipelined() cannot look. */
    c->body_done = 1;
    if (lws_partial_buffered(c->wsi)) {
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    int close_after = c->close_after;
    struct lws *wsi = c->wsi;
    conn_reset(c);
    if (close_after)
        return -1;
    if (lws_http_transaction_completed(wsi))
        return -1;
    /* c was freed: lws gives each transaction fresh per-session data. */
    lws_set_opaque_user_data(wsi, rx_pipelined(wsi) ? PIPELINED : NULL);
    return 0;
}

/* ---- the events WebSocket: who may upgrade ---- */

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: only the events WebSocket may leave
 * HTTP/1.1.  Reads the request through lws_hdr_*() only, never lws's `in`:
 * when lws answered an unknown upgrade itself before asking, its header
 * table is gone (or reset for the next request) and `in` points into it
 * (CVE-2025-11677); then there is no method and the answer is to hang up. */
static int confirm_upgrade(lb_webui *w, struct lws *wsi)
{
    char up[32], uri[64], host[256], origin[256], why[320];

    if (!lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) &&
        method_of(wsi) == WEBUI_METHOD_INVALID)
        return -1;
    copy_header(wsi, WSI_TOKEN_UPGRADE, up, sizeof up);
    copy_header(wsi, WSI_TOKEN_GET_URI, uri, sizeof uri);
    copy_header(wsi, WSI_TOKEN_HOST, host, sizeof host);
    copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin);
    if (strcasecmp(up, "websocket")) {
        snprintf(why, sizeof why, "upgrade to '%s' refused: this server speaks HTTP/1.1 "
                 "(and WebSocket on /api/v1/events)", up);
        refuse_now(w, wsi, 400, why);
        return -1;
    }
    if (lws_get_opaque_user_data(wsi) == PIPELINED) {
        refuse_now(w, wsi, 400, "a WebSocket upgrade must not be pipelined");
        return -1;
    }
    if (strcmp(uri, "/api/v1/events")) {
        refuse_now(w, wsi, 404, "no WebSocket here: the events socket is /api/v1/events");
        return -1;
    }
    if (!webui_host_allowed(w, host, why, sizeof why)) {
        refuse_now(w, wsi, host[0] ? 421 : 400, why);
        return -1;
    }
    /* Cross-site WebSocket hijacking: a browser always sends Origin. */
    if (!webui_origin_allowed(w, origin, host, why, sizeof why)) {
        refuse_now(w, wsi, 403, why);
        return -1;
    }
    return 0;
}

static int ws_filter(lb_webui *w, webui_conn *c, struct lws *wsi)
{
    char uri[64], host[256], origin[256], why[320];
    /* confirm_upgrade() checked these already; this is the last door. */
    copy_header(wsi, WSI_TOKEN_GET_URI, uri, sizeof uri);
    copy_header(wsi, WSI_TOKEN_HOST, host, sizeof host);
    copy_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof origin);
    if (strcmp(uri, "/api/v1/events") || !webui_host_allowed(w, host, why, sizeof why) ||
        !webui_origin_allowed(w, origin, host, why, sizeof why) ||
        webui_tls_refuse_upgrade(w, wsi))
        return -1;
    memset(c, 0, sizeof *c);
    c->wsi = wsi;
    c->is_ws = 1;
    identify(w, wsi, &c->who);
    if (!c->who.role && !w->auth_settings.public_viewer)
        return -1;
    c->ws_view = webui_status_view_for(c->who.role);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    struct lws_context *ctx = lws_get_context(wsi);
    lb_webui *w = ctx ? lws_context_user(ctx) : NULL;
    webui_conn *c = user;

    if (!w || atomic_load(&w->abandoned))
        return 0;
    switch (reason) {
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        pthread_mutex_lock(&w->lock);
        webui_apply_settings(w);
        pthread_mutex_unlock(&w->lock);
        webui_hasher_drain(w);
        webui_events_drain(w);
        break;
    case LWS_CALLBACK_HTTP:
        return on_http(w, c, wsi, in);
    case LWS_CALLBACK_HTTP_BODY:
        return on_body(c, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        /* Again for the same request: the client sent more before our
         * answer (see the top).  An answer that is ready leaves at the next
         * turn; a client that waits for a login's hash, or does not read,
         * is cut off.  (Not inside lws_http_action()'s loop here: pipelined
         * bodies never get there, so closing is safe.) */
        if (c->body_completed)
            return !c->responding || ++c->body_repeats > WEBUI_MAX_BODY_REPEATS ? -1 : 0;
        c->body_completed = 1;
        dispatch(w, c);
        return 0;
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return c ? on_writeable(w, c) : 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c && c->held)
            held_remove(w, c);
        if (c && !c->is_ws)
            conn_reset(c);
        break;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return confirm_upgrade(w, wsi);
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return ws_filter(w, c, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        return webui_events_attach(w, c);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return webui_events_write(w, c);
    case LWS_CALLBACK_RECEIVE:
        break;                      /* the socket only speaks; input is ignored */
    case LWS_CALLBACK_CLOSED:
        if (c && c->is_ws)
            webui_events_detach(w, c);
        break;
    default:
        break;
    }
    return 0;
}

const struct lws_protocols webui_protocols[] = {
    { "luobo", callback, sizeof(webui_conn), 4096, 0, NULL, 0 },
    { NULL, NULL, 0, 0, 0, NULL, 0 },
};
