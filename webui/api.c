/* Design note: the JSON API.
 *
 * Every route states the least role it needs, per method, in one table, so
 * that the permission model can be read in one place.  The checks run in a
 * fixed order: route (404), method (405), identity (401), role (403), CSRF
 * token for a state change made with a session cookie (403), body (400),
 * then the handler.  Errors are always {"error": "..."}.
 *
 * Recordings are read straight from DATA_DIR/<id>/lesson.json: the folder is
 * the truth, so lessons copied in from elsewhere show up too. */
#include "webui_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <libavutil/error.h>
#include <libavutil/mem.h>

#include "lb_clock.h"
#include "lb_file.h"
#include "lb_log.h"
#include "lb_redact.h"
#include "streamer.h"

#define MAX_LESSON_JSON (1 << 20)

typedef void (*handler_fn)(lb_webui *w, webui_conn *c, const char *arg, cJSON *body);

typedef struct route {
    const char *prefix;            /* path, or prefix when it ends with '/' */
    webui_role get, post, patch, del;   /* least role; NONE: method not allowed */
    handler_fn handler;
    int anonymous_ok;              /* handler decides (login, setup, session) */
    webui_role put;
} route;

/* ---- helpers ---- */

static const char *json_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A string member that must fit size; absent is "".  0, or -1 after a 400. */
static int take_string(webui_conn *c, const cJSON *body, const char *key, char *dst, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    dst[0] = 0;
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v)) {
        webui_respond_error(c, 400, "'%s' must be a string", key);
        return -1;
    }
    if (strlen(v->valuestring) >= size) {
        webui_respond_error(c, 400, "'%s' is longer than %zu bytes", key, size - 1);
        return -1;
    }
    snprintf(dst, size, "%s", v->valuestring);
    return 0;
}

/* take_string() for the text people read elsewhere (a lesson's metadata,
 * a token's name): it reaches logs, files and systemd's one-line STATUS,
 * where a control character could forge a line of its own. */
static int take_text(webui_conn *c, const cJSON *body, const char *key, char *dst, size_t size)
{
    if (take_string(c, body, key, dst, size) < 0)
        return -1;
    for (const unsigned char *ch = (const unsigned char *)dst; *ch; ch++) {
        if (*ch < 0x20 || *ch == 0x7f) {
            webui_respond_error(c, 400, "'%s' must not contain control characters (0x%02x)", key, *ch);
            return -1;
        }
    }
    return 0;
}

static int status_for_error(int err)
{
    if (err == AVERROR(EINVAL))
        return 400;
    if (err == AVERROR(ENOENT))
        return 404;
    if (err == AVERROR(EBUSY) || err == AVERROR(EEXIST) || err == AVERROR(EALREADY))
        return 409;
    if (err == AVERROR(EPERM) || err == AVERROR(EACCES))
        return 403;
    if (err == AVERROR(ENOSPC))
        return 507;
    if (err == AVERROR(EAGAIN))        /* the pipeline is restarting */
        return 503;
    return 500;
}

static cJSON *read_json_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    cJSON *json = NULL;
    long len;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 || len > MAX_LESSON_JSON ||
        fseek(f, 0, SEEK_SET) < 0)
        goto fail;
    if (!(text = malloc((size_t)len + 1)) || fread(text, 1, (size_t)len, f) != (size_t)len)
        goto fail;
    text[len] = 0;
    json = cJSON_Parse(text);
fail:
    free(text);
    fclose(f);
    return json;
}

/* ---- status ---- */

static void add_disk(lb_webui *w, cJSON *status)
{
    struct statvfs vfs;
    if (cJSON_GetObjectItemCaseSensitive(status, "disk") || statvfs(w->data_dir, &vfs) < 0)
        return;
    cJSON *disk = cJSON_AddObjectToObject(status, "disk");
    cJSON_AddNumberToObject(disk, "free_bytes", (double)vfs.f_bavail * (double)vfs.f_frsize);
    cJSON_AddNumberToObject(disk, "total_bytes", (double)vfs.f_blocks * (double)vfs.f_frsize);
}

webui_status_view webui_status_view_for(webui_role role)
{
    return role >= WEBUI_ROLE_OPERATOR ? WEBUI_VIEW_FULL
         : role >= WEBUI_ROLE_VIEWER ? WEBUI_VIEW_VIEWER : WEBUI_VIEW_PUBLIC;
}

void webui_redact_json(cJSON *json)
{
    if (!json)
        return;
    if (cJSON_IsString(json) && json->valuestring && lb_redact_needed(json->valuestring)) {
        char *redacted = lb_redact_dup(json->valuestring);
        cJSON_SetValuestring(json, redacted ? redacted : "");
        free(redacted);
    }
    for (cJSON *c = json->child; c; c = c->next)
        webui_redact_json(c);       /* cJSON parses at most 1000 levels deep */
}

static void copy_members(cJSON *dst, const cJSON *src, const char *const *keys, size_t nb)
{
    for (size_t i = 0; src && i < nb; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, keys[i]);
        if (v)
            cJSON_AddItemToObject(dst, keys[i], cJSON_Duplicate(v, 1));
    }
}

/* name, label, role and state of each camera or mic: no kind, no error, no URL */
static void copy_list(cJSON *dst, const cJSON *full, const char *key)
{
    static const char *const keep[] = { "name", "label", "role", "state" };
    const cJSON *item, *list = cJSON_GetObjectItemCaseSensitive(full, key);
    cJSON *out = cJSON_AddArrayToObject(dst, key);
    cJSON_ArrayForEach(item, list) {
        cJSON *o = cJSON_CreateObject();
        copy_members(o, item, keep, sizeof keep / sizeof keep[0]);
        cJSON_AddItemToArray(out, o);
    }
}

cJSON *webui_status_filter(const cJSON *full, webui_status_view view)
{
    static const char *const rec_keep[] = { "active", "title", "course", "teacher", "elapsed_s",
                                            "subject", "grade", "class", "lesson_type" };
    if (view == WEBUI_VIEW_FULL) {
        cJSON *copy = full ? cJSON_Duplicate(full, 1) : cJSON_CreateObject();
        webui_redact_json(copy);
        return copy;
    }
    /* the teacher's page follows the lesson's state (stopping, finishing) */
    static const char *const rec_viewer[] = { "started_at", "lesson_state", "lesson_flags" };
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(full, "recording");
    cJSON *out = cJSON_CreateObject(), *r = cJSON_AddObjectToObject(out, "recording");
    copy_members(r, rec, rec_keep, sizeof rec_keep / sizeof rec_keep[0]);
    if (view == WEBUI_VIEW_VIEWER) {
        copy_members(r, rec, rec_viewer, sizeof rec_viewer / sizeof rec_viewer[0]);
        /* live: the stream viewers watch (an HLS output) is up */
        int live = 0;
        const cJSON *o;
        cJSON_ArrayForEach(o, cJSON_GetObjectItemCaseSensitive(full, "outputs")) {
            const cJSON *kind = cJSON_GetObjectItemCaseSensitive(o, "kind");
            const cJSON *state = cJSON_GetObjectItemCaseSensitive(o, "state");
            live |= cJSON_IsString(kind) && !strcmp(kind->valuestring, "hls") &&
                    cJSON_IsString(state) && !strcmp(state->valuestring, "live");
        }
        cJSON_AddBoolToObject(out, "live", live);
        copy_list(out, full, "sources");
        copy_list(out, full, "mics");
    }
    webui_redact_json(out);               /* titles are typed by people, in every view */
    return out;
}

/* next_live: the timetable's next lesson that goes live, for the viewer
 * page while nothing is live (viewers and the public may not read the whole
 * schedule: its feed, the halls, the lessons that are not streamed). */
static void add_next_live(lb_webui *w, cJSON *out)
{
    static const char *const keep[] = { "title", "teacher", "subject", "grade", "class", "start_s",
                                        "end_s" };
    cJSON *sc = w->ops->schedule ? w->ops->schedule(w->opaque) : NULL;
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(sc, "next");
    if (cJSON_IsObject(next) && !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(next, "live"))) {
        cJSON *n = cJSON_AddObjectToObject(out, "next_live");
        copy_members(n, next, keep, sizeof keep / sizeof keep[0]);
        const cJSON *tz = cJSON_GetObjectItemCaseSensitive(sc, "timezone");
        if (cJSON_IsString(tz))
            cJSON_AddStringToObject(n, "timezone", tz->valuestring);
        webui_redact_json(n);
    }
    cJSON_Delete(sc);
}

cJSON *webui_status_json(lb_webui *w, webui_status_view view)
{
    cJSON *full = w->ops->status ? w->ops->status(w->opaque) : NULL;
    if (!full)
        full = cJSON_CreateObject();
    if (view == WEBUI_VIEW_FULL) {
        int clients = 0;
        for (webui_conn *c = w->ws_clients; c; c = c->ws_next)
            clients++;
        add_disk(w, full);
        cJSON *webui = cJSON_AddObjectToObject(full, "webui");
        cJSON_AddNumberToObject(webui, "ws_clients", clients);
        cJSON_AddNumberToObject(webui, "uptime_s", (double)(lb_clock_now() - w->started_us) / 1e6);
        cJSON_AddBoolToObject(webui, "tls", w->tls);
        webui_redact_json(full);
        return full;
    }
    cJSON *out = webui_status_filter(full, view);
    cJSON_Delete(full);
    add_next_live(w, out);
    return out;
}

static void h_status(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    if (!c->who.role && !w->auth_settings.public_viewer) {
        webui_respond_error(c, 401, "%s", c->who.auth_error[0] ? c->who.auth_error
                                                                : "login required");
        return;
    }
    cJSON *status = webui_status_json(w, webui_status_view_for(c->who.role));
    if (c->who.role)
        cJSON_AddBoolToObject(status, "insecure_transport", c->insecure_transport);
    webui_respond_json(c, 200, status);
}

/* ---- session, setup, login ---- */

static void set_session_cookie(lb_webui *w, webui_conn *c, const char *sid, int max_age)
{
    webui_add_header(c, "Set-Cookie", "%s=%s; HttpOnly; SameSite=Strict; Path=/%s%s",
                     WEBUI_SESSION_COOKIE, sid, w->tls ? "; Secure" : "",
                     max_age == 0 ? "; Max-Age=0" : "");
}

/* insecure_transport: the password and the session cookie of this
 * connection cross the network in clear (plain HTTP, peer not loopback);
 * the console then shows a warning. */
static cJSON *who_json(lb_webui *w, const webui_conn *c, const webui_principal *who)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user", who->user);
    cJSON_AddStringToObject(o, "role", webui_role_name(who->role));
    /* the UI language the user chose (null: none, or an API token) */
    const char *lang = who->via == WEBUI_VIA_SESSION ? webui_auth_user_lang(w->auth, who->user) : "";
    if (lang[0])
        cJSON_AddStringToObject(o, "lang", lang);
    else
        cJSON_AddNullToObject(o, "lang");
    if (who->csrf[0])
        cJSON_AddStringToObject(o, "csrf", who->csrf);
    cJSON_AddBoolToObject(o, "insecure_transport", c->insecure_transport);
    return o;
}

static void h_session(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    cJSON *o = c->who.role ? who_json(w, c, &c->who) : cJSON_CreateObject();
    if (!c->who.role)
        cJSON_AddBoolToObject(o, "insecure_transport", c->insecure_transport);
    cJSON_AddBoolToObject(o, "authenticated", !!c->who.role);
    cJSON_AddBoolToObject(o, "setup_required", webui_auth_needs_setup(w->auth));
    cJSON_AddBoolToObject(o, "public_viewer", w->auth_settings.public_viewer);
    webui_respond_json(c, 200, o);
}

static void h_setup(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    char user[64], password[260], code[32], err[256] = "";
    webui_principal who;
    int ret;

    if (!webui_auth_needs_setup(w->auth)) {
        webui_respond_error(c, 403, "setup is done: an administrator exists");
        return;
    }
    if (take_string(c, body, "code", code, sizeof code) < 0 ||
        take_string(c, body, "user", user, sizeof user) < 0 ||
        take_string(c, body, "password", password, sizeof password) < 0)
        return;
    if (!user[0])
        snprintf(user, sizeof user, "admin");
    /* Code guesses share the login rate limit (per address). */
    int retry_s = 0;
    if ((ret = webui_auth_attempt(w->auth, c->ip, NULL, &retry_s)) < 0) {
        explicit_bzero(password, sizeof password);
        webui_add_header(c, "Retry-After", "%d", retry_s);
        webui_respond_error(c, 429, "too many attempts; wait and try again");
        return;
    }
    ret = webui_auth_setup(w->auth, code, user, password, err, sizeof err);
    webui_auth_attempt_done(w->auth, c->ip, NULL, ret != AVERROR(EACCES));
    if (ret >= 0 && webui_auth_login(w->auth, c->ip, user, password, &who) < 0) {
        snprintf(err, sizeof err, "administrator created, but login failed");
        ret = AVERROR(EIO);
    }
    explicit_bzero(password, sizeof password);
    if (ret < 0) {
        webui_respond_error(c, status_for_error(ret), "%s", err);
        return;
    }
    LB_LOGI("webui", "first run: administrator '%s' set from %s", user, c->ip);
    set_session_cookie(w, c, who.session_id, -1);
    webui_respond_json(c, 201, who_json(w, c, &who));
}

/* GET /api/v1/me: who is asking, as /api/v1/session says it; PUT
 * {"lang":"zh"|"en"|null}: the UI language kept in the user's record, so
 * that it follows them to any browser at login. */
static void h_me(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    char lang[8], err[256] = "";
    if (c->method == WEBUI_PUT) {
        if (c->who.via != WEBUI_VIA_SESSION) {
            webui_respond_error(c, 403, "an API token has no profile: log in as a user");
            return;
        }
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "lang");
        if (!v) {
            webui_respond_error(c, 400, "'lang' is required (\"zh\", \"en\" or null)");
            return;
        }
        if (take_string(c, body, "lang", lang, sizeof lang) < 0)
            return;
        int ret = webui_auth_user_set_lang(w->auth, c->who.user, lang, err, sizeof err);
        if (ret < 0) {
            webui_respond_error(c, status_for_error(ret), "%s", err);
            return;
        }
    }
    webui_respond_json(c, 200, who_json(w, c, &c->who));
}

/* The hasher checked a login's password (c is NULL if the client left). */
static void login_checked(lb_webui *w, webui_conn *c, const webui_hash_result *r)
{
    webui_principal who;
    int ret = webui_auth_login_finish(w->auth, r->ip, r->user, r->ok, &who);
    if (!c) {
        if (ret >= 0)
            webui_auth_logout(w->auth, who.session_id);   /* nobody to give it to */
    } else if (ret == AVERROR(EACCES)) {
        webui_respond_error(c, 401, "wrong user name or password");
    } else if (ret < 0) {
        webui_respond_error(c, 500, "cannot make a session");
    } else {
        set_session_cookie(w, c, who.session_id, -1);
        webui_respond_json(c, 200, who_json(w, c, &who));
    }
    explicit_bzero(&who, sizeof who);
}

/* A password guess had to wait: 429 (rate limit) or 500. */
static void guess_refused(webui_conn *c, int ret, int retry_s, const char *what)
{
    if (ret == AVERROR(EAGAIN)) {
        webui_add_header(c, "Retry-After", "%d", retry_s > 0 ? retry_s : 1);
        webui_respond_error(c, 429, "too many %s; wait %d s and try again", what,
                            retry_s > 0 ? retry_s : 1);
        return;
    }
    webui_respond_error(c, 500, "cannot check the password");
}

static void h_login(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    char user[64], password[260], hash[CRYPT_HASH_SIZE];
    int ret, retry_s = 0;

    if (take_string(c, body, "user", user, sizeof user) < 0 ||
        take_string(c, body, "password", password, sizeof password) < 0)
        return;
    if (!user[0] || !password[0]) {
        webui_respond_error(c, 400, "'user' and 'password' are required");
        return;
    }
    ret = webui_auth_login_begin(w->auth, c->ip, user, hash, sizeof hash, &retry_s);
    if (ret >= 0) {
        webui_hash_request req = { .user = user, .password = password, .hash = hash,
                                   .done = login_checked };
        if ((ret = webui_hasher_submit(w, c, &req)) < 0)
            webui_auth_attempt_done(w->auth, c->ip, user, -1);   /* never checked */
    }
    explicit_bzero(password, sizeof password);
    if (ret < 0)
        guess_refused(c, ret, retry_s, "failed logins");
    /* else the hasher answers through login_checked() */
}

static void h_logout(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    if (c->who.via == WEBUI_VIA_SESSION)
        webui_auth_logout(w->auth, c->who.session_id);
    set_session_cookie(w, c, "", 0);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 1);
    webui_respond_json(c, 200, o);
}

static void respond_ok(webui_conn *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "ok", 1);
    webui_respond_json(c, 200, o);
}

/* 1 after a 400 for a new password that is too short or too long. */
static int bad_password(webui_conn *c, const char *password)
{
    char err[128];
    if (webui_auth_password_acceptable(password, err, sizeof err))
        return 0;
    webui_respond_error(c, 400, "%s", err);
    return 1;
}

/* The hasher checked the current password and hashed the new one.  A
 * client that left meanwhile changes nothing (it never learnt the result),
 * but its guess counts. */
static void password_checked(lb_webui *w, webui_conn *c, const webui_hash_result *r)
{
    char err[256] = "";
    int ret;

    webui_auth_attempt_done(w->auth, r->ip, r->user, r->ok);
    if (!r->ok) {
        LB_LOGW("webui", "wrong current password for '%s' from %s", r->user, r->ip);
        if (c)
            webui_respond_error(c, 403, "the current password is wrong");
        return;
    }
    if (!c)
        return;
    /* This session stays; the user's others end, with their event sockets. */
    ret = webui_auth_user_set_hash(w->auth, r->user, r->new_hash, c->who.session_id, err,
                                   sizeof err);
    webui_events_revalidate(w);
    if (ret < 0) {
        webui_respond_error(c, status_for_error(ret), "%s", err);
        return;
    }
    respond_ok(c);
}

static void h_password(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    char old[260], password[260], hash[CRYPT_HASH_SIZE];
    int ret, retry_s = 0;
    if (c->who.via != WEBUI_VIA_SESSION) {
        webui_respond_error(c, 403, "only a logged-in user changes their password");
        return;
    }
    if (take_string(c, body, "old", old, sizeof old) < 0 ||
        take_string(c, body, "password", password, sizeof password) < 0)
        return;
    if (!old[0]) {
        webui_respond_error(c, 400, "'old' (the current password) is required");
        goto done;
    }
    if (bad_password(c, password))
        goto done;
    /* A guess at the current password, limited like a login (per address
     * and per account), and checked off the loop like one. */
    ret = webui_auth_login_begin(w->auth, c->ip, c->who.user, hash, sizeof hash, &retry_s);
    if (ret >= 0) {
        webui_hash_request req = { .user = c->who.user, .password = old, .hash = hash,
                                   .new_password = password, .done = password_checked };
        if ((ret = webui_hasher_submit(w, c, &req)) < 0)
            webui_auth_attempt_done(w->auth, c->ip, c->who.user, -1);
    }
    if (ret < 0)
        guess_refused(c, ret, retry_s, "wrong passwords");
    /* else the hasher answers through password_checked() */
done:
    explicit_bzero(old, sizeof old);
    explicit_bzero(password, sizeof password);
}

/* ---- sessions ---- */

static void h_sessions(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    /* An admin sees and ends anyone's; everyone else only their own. */
    const char *only = c->who.role >= WEBUI_ROLE_ADMIN ? NULL : c->who.user;
    if (c->method == WEBUI_GET && !*arg) {
        webui_respond_json(c, 200, webui_auth_sessions_json(w->auth, only, c->who.session_id));
        return;
    }
    if (c->method == WEBUI_DELETE && *arg) {
        if (webui_auth_session_revoke(w->auth, arg, only) < 0) {
            webui_respond_error(c, 404, "no session '%s'", arg);
            return;
        }
        webui_respond(c, 204, "application/json", NULL, 0);
        return;
    }
    webui_respond_error(c, 405, "method not allowed");
}

/* ---- users and API tokens (admin) ---- */

/* The hasher made the hash of a password an admin set (PATCH
 * /api/v1/users/<name>).  An admin resetting their own password keeps the
 * session doing it; every other session of the user ends. */
static void reset_hashed(lb_webui *w, webui_conn *c, const webui_hash_result *r)
{
    char err[256] = "";
    int own = c && !strcmp(c->who.user, r->user);
    int ret = webui_auth_user_set_hash(w->auth, r->user, r->new_hash, own ? c->who.session_id : NULL,
                                       err, sizeof err);
    webui_events_revalidate(w);
    if (ret >= 0)
        LB_LOGI("webui", "%s reset the password of '%s'", c ? c->who.user : "an admin", r->user);
    if (!c)
        return;
    if (ret < 0) {
        webui_respond_error(c, status_for_error(ret), "%s", err);
        return;
    }
    respond_ok(c);
}

static void user_hashed(lb_webui *w, webui_conn *c, const webui_hash_result *r)
{
    char err[256] = "";
    int ret = webui_auth_user_add_hashed(w->auth, r->user, r->new_hash, r->role, err, sizeof err);
    if (ret >= 0)
        LB_LOGI("webui", "%s added user '%s'", c ? c->who.user : "an admin", r->user);
    if (!c)
        return;
    if (ret < 0) {
        webui_respond_error(c, status_for_error(ret), "%s", err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "user", r->user);
    cJSON_AddStringToObject(o, "role", webui_role_name(r->role));
    webui_respond_json(c, 201, o);
}

static void h_users(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    char user[64], password[260], role[16], err[256] = "";
    int ret;

    if (c->method == WEBUI_GET && !*arg) {
        webui_respond_json(c, 200, webui_auth_users_json(w->auth));
        return;
    }
    if (c->method == WEBUI_POST && !*arg) {
        if (take_string(c, body, "user", user, sizeof user) < 0 ||
            take_string(c, body, "password", password, sizeof password) < 0 ||
            take_string(c, body, "role", role, sizeof role) < 0)
            return;
        webui_role r = webui_role_from_name(role);
        ret = webui_auth_user_add_check(w->auth, user, password, r, err, sizeof err);
        if (ret < 0) {
            explicit_bzero(password, sizeof password);
            webui_respond_error(c, status_for_error(ret), "%s", err);
            return;
        }
        /* the hash is made on the hasher's thread, as a reset's */
        webui_hash_request req = { .user = user, .new_password = password, .role = r, .done = user_hashed };
        ret = webui_hasher_submit(w, c, &req);
        explicit_bzero(password, sizeof password);
        if (ret < 0)
            guess_refused(c, ret, 1, "password changes at once");
        return;                      /* else user_hashed() answers */
    }
    /* DELETE /api/v1/users/<name>/sessions: revoke, the account stays. */
    const char *slash = strchr(arg, '/');
    if (c->method == WEBUI_DELETE && slash && !strcmp(slash, "/sessions")) {
        snprintf(user, sizeof user, "%.*s", (int)(slash - arg), arg);
        if (!webui_auth_user_role_of(w->auth, user)) {
            webui_respond_error(c, 404, "no user '%s'", user);
            return;
        }
        int n = webui_auth_user_revoke(w->auth, user, NULL);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "user", user);
        cJSON_AddNumberToObject(o, "ended", n);
        webui_respond_json(c, 200, o);
        return;
    }
    if (slash) {
        webui_respond_error(c, 404, "no such API: %s", c->path);
        return;
    }
    if (c->method == WEBUI_DELETE && *arg) {
        if ((ret = webui_auth_user_delete(w->auth, arg, err, sizeof err)) < 0) {
            webui_respond_error(c, status_for_error(ret), "%s", err);
            return;
        }
        LB_LOGI("webui", "%s deleted user '%s'", c->who.user, arg);
        webui_respond(c, 204, "application/json", NULL, 0);
        return;
    }
    if (c->method == WEBUI_PATCH && *arg) {
        if (take_string(c, body, "password", password, sizeof password) < 0 ||
            take_string(c, body, "role", role, sizeof role) < 0)
            return;
        if (!password[0] && !role[0]) {
            webui_respond_error(c, 400, "nothing to change (password, role)");
            return;
        }
        if (role[0] && !webui_role_from_name(role)) {
            webui_respond_error(c, 400, "role must be admin, operator, teacher or viewer");
            return;
        }
        if (password[0] && bad_password(c, password)) {
            explicit_bzero(password, sizeof password);
            return;
        }
        if (!webui_auth_user_role_of(w->auth, arg)) {
            explicit_bzero(password, sizeof password);
            snprintf(err, sizeof err, "no user '%s'", arg);
            webui_respond_error(c, 404, "%s", err);
            return;
        }
        /* The role first: it is what may be refused (the last admin). */
        ret = role[0] ? webui_auth_user_role(w->auth, arg, webui_role_from_name(role), err,
                                             sizeof err) : 0;
        if (ret >= 0 && role[0])
            LB_LOGI("webui", "%s made '%s' %s", c->who.user, arg, role);
        if (ret >= 0 && password[0]) {
            /* the new hash is made on the hasher's thread, as a login's check */
            webui_hash_request req = { .user = arg, .new_password = password, .done = reset_hashed };
            ret = webui_hasher_submit(w, c, &req);
            explicit_bzero(password, sizeof password);
            if (ret < 0)
                guess_refused(c, ret, 1, "password changes at once");
            return;                  /* else reset_hashed() answers */
        }
        explicit_bzero(password, sizeof password);
        if (ret < 0) {
            webui_respond_error(c, status_for_error(ret), "%s", err);
            return;
        }
        respond_ok(c);
        return;
    }
    webui_respond_error(c, 405, "method not allowed");
}

/* The optional expiry of a new token: "expires_s" (seconds from now) or
 * "expires_at" (ISO 8601 with a zone).  0 and *at (0: never), or -1 after
 * a 400. */
static int token_expiry(webui_conn *c, const cJSON *body, int64_t *at)
{
    const cJSON *secs = cJSON_GetObjectItemCaseSensitive(body, "expires_s");
    const cJSON *when = cJSON_GetObjectItemCaseSensitive(body, "expires_at");
    int64_t now = lb_clock_wall_us();

    *at = 0;
    if (secs && cJSON_IsNull(secs))
        secs = NULL;
    if (when && cJSON_IsNull(when))
        when = NULL;
    if (secs && when) {
        webui_respond_error(c, 400, "give 'expires_s' or 'expires_at', not both");
        return -1;
    }
    if (secs) {
        double v = cJSON_IsNumber(secs) ? secs->valuedouble : -1;
        /* The range first: a cast of 1e300 to an integer is undefined. */
        if (!cJSON_IsNumber(secs) || !(v >= 1 && v <= 10.0 * 365 * 86400) ||
            v != (double)(int64_t)v) {
            webui_respond_error(c, 400, "'expires_s' must be a whole number of seconds "
                                "from 1 to 315360000");
            return -1;
        }
        *at = now + (int64_t)v * 1000000;
    } else if (when) {
        if (!cJSON_IsString(when) || webui_parse_iso8601(when->valuestring, at) < 0) {
            webui_respond_error(c, 400, "'expires_at' must be an ISO 8601 time with a zone, "
                                "e.g. 2027-07-01T00:00:00+08:00");
            return -1;
        }
        if (*at <= now) {
            webui_respond_error(c, 400, "'expires_at' is in the past");
            return -1;
        }
    }
    return 0;
}

static void h_tokens(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    char name[64], role[16], token[128], when[40], err[256] = "";
    int64_t expires_us = 0;
    int ret;

    if (c->method == WEBUI_GET && !*arg) {
        webui_respond_json(c, 200, webui_auth_tokens_json(w->auth));
        return;
    }
    if (c->method == WEBUI_POST && !*arg) {
        if (take_text(c, body, "name", name, sizeof name) < 0 ||
            take_string(c, body, "role", role, sizeof role) < 0 ||
            token_expiry(c, body, &expires_us) < 0)
            return;
        ret = webui_auth_token_create(w->auth, name, webui_role_from_name(role), c->who.user,
                                      expires_us, token, sizeof token, err, sizeof err);
        if (ret < 0) {
            webui_respond_error(c, status_for_error(ret), "%s", err);
            return;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "token", token);
        cJSON_AddStringToObject(o, "name", name);
        cJSON_AddStringToObject(o, "role", role);
        cJSON_AddStringToObject(o, "created_by", c->who.user);
        if (expires_us)
            cJSON_AddStringToObject(o, "expires_at",
                                    lb_clock_iso8601(expires_us, when, sizeof when));
        else
            cJSON_AddNullToObject(o, "expires_at");
        explicit_bzero(token, sizeof token);
        webui_respond_json(c, 201, o);
        return;
    }
    if (c->method == WEBUI_DELETE && *arg) {
        if ((ret = webui_auth_token_delete(w->auth, arg, err, sizeof err)) < 0) {
            webui_respond_error(c, status_for_error(ret), "%s", err);
            return;
        }
        webui_respond(c, 204, "application/json", NULL, 0);
        return;
    }
    webui_respond_error(c, 405, "method not allowed");
}

/* ---- recording, director, sources ---- */

/* {"action":"extend","minutes":N}: the timetable's lesson records N more
 * minutes (the teacher page offers 5 and 10), up to the next lesson. */
static void extend_recording(lb_webui *w, webui_conn *c, const cJSON *body)
{
    char err[256] = "";
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(body, "minutes");
    double v = cJSON_IsNumber(m) ? m->valuedouble : -1;
    if (!(v >= 1 && v <= 60) || v != (double)(int)v) {
        webui_respond_error(c, 400, "'minutes' must be a whole number of minutes from 1 to 60 "
                            "(e.g. 5 or 10)");
        return;
    }
    if (!w->ops->extend) {
        webui_respond_error(c, 501, "extending is not available");
        return;
    }
    int ret = w->ops->extend(w->opaque, (int)v, err, sizeof err);
    if (ret < 0) {
        webui_respond_error(c, status_for_error(ret), "%s", err[0] ? err : "cannot extend");
        return;
    }
    LB_LOGI("webui", "%s: recording extended by %d min", c->who.user, (int)v);
    webui_respond_json(c, 200, webui_status_json(w, webui_status_view_for(c->who.role)));
}

static void h_recording(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    lb_recording_request req;
    char action[16], err[256] = "";
    int ret;

    memset(&req, 0, sizeof req);
    if (take_string(c, body, "action", action, sizeof action) < 0)
        return;
    if (!strcmp(action, "extend")) {
        extend_recording(w, c, body);
        return;
    }
    if (!strcmp(action, "start"))
        req.start = 1;
    else if (strcmp(action, "stop")) {
        webui_respond_error(c, 400, "'action' must be \"start\", \"stop\" or \"extend\"");
        return;
    }
    /* every metadata member, checked as lesson.json is read back: the
     * error names the member */
    int given = lb_meta_from_json(&req.meta, body, 0, err, sizeof err);
    if (given < 0) {
        webui_respond_error(c, 400, "%s", err);
        return;
    }
    req.meta_given = (unsigned)given;
    if (!req.start)
        memset(&req.meta, 0, sizeof req.meta);
    if (!w->ops->recording) {
        webui_respond_error(c, 501, "recording is not available");
        return;
    }
    if ((ret = w->ops->recording(w->opaque, &req, err, sizeof err)) < 0) {
        webui_respond_error(c, status_for_error(ret), "%s", err[0] ? err : "recording failed");
        return;
    }
    LB_LOGI("webui", "%s: recording %s", c->who.user, req.start ? "start" : "stop");
    webui_respond_json(c, 200, webui_status_json(w, webui_status_view_for(c->who.role)));
}

static void h_director(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    char mode[16], shot[64], layout[16], err[256] = "";
    int ret;

    if (take_string(c, body, "mode", mode, sizeof mode) < 0 ||
        take_string(c, body, "shot", shot, sizeof shot) < 0 ||
        take_string(c, body, "layout", layout, sizeof layout) < 0)
        return;
    if (!mode[0])
        snprintf(mode, sizeof mode, "%s", shot[0] || layout[0] ? "manual" : "");
    if (strcmp(mode, "auto") && strcmp(mode, "manual")) {
        webui_respond_error(c, 400, "'mode' must be \"auto\" or \"manual\"");
        return;
    }
    if (layout[0] && strcmp(layout, "single") && strcmp(layout, "pip") && strcmp(layout, "sbs")) {
        webui_respond_error(c, 400, "'layout' must be \"single\", \"pip\" or \"sbs\"");
        return;
    }
    if (!w->ops->director) {
        webui_respond_error(c, 501, "the director is not available");
        return;
    }
    ret = w->ops->director(w->opaque, mode, shot[0] ? shot : NULL, layout[0] ? layout : NULL,
                           err, sizeof err);
    if (ret < 0) {
        webui_respond_error(c, status_for_error(ret), "%s", err[0] ? err : "director refused");
        return;
    }
    cJSON *status = webui_status_json(w, WEBUI_VIEW_FULL);
    cJSON *dir = cJSON_DetachItemFromObjectCaseSensitive(status, "director");
    cJSON_Delete(status);
    webui_respond_json(c, 200, dir ? dir : cJSON_CreateObject());
}

/* POST /api/v1/mics/<name> {"mute":true|false,"gain_db":x}: the mic's
 * fader in the program mix, either member or both; answers the mic as the
 * status lists it. */
#define MIC_GAIN_MIN_DB (-60)
#define MIC_GAIN_MAX_DB 20
static void h_mics(lb_webui *w, webui_conn *c, const char *name, cJSON *body)
{
    char err[256] = "";
    const cJSON *mute = cJSON_GetObjectItemCaseSensitive(body, "mute");
    const cJSON *gain = cJSON_GetObjectItemCaseSensitive(body, "gain_db");
    const cJSON *m;

    if (!webui_path_is_safe(name) || strlen(name) >= 64) {
        webui_respond_error(c, 404, "no mic named '%s'", name);
        return;
    }
    cJSON_ArrayForEach(m, body) {
        if (strcmp(m->string, "mute") && strcmp(m->string, "gain_db")) {
            webui_respond_error(c, 400, "unknown member '%s' (expected \"mute\" and \"gain_db\")",
                                m->string);
            return;
        }
    }
    if (!mute && !gain) {
        webui_respond_error(c, 400, "give 'mute' (true or false) or 'gain_db' (a number of dB)");
        return;
    }
    if (mute && !cJSON_IsBool(mute)) {
        webui_respond_error(c, 400, "'mute' must be true or false");
        return;
    }
    if (gain && (!cJSON_IsNumber(gain) || !(gain->valuedouble >= MIC_GAIN_MIN_DB &&
                                             gain->valuedouble <= MIC_GAIN_MAX_DB))) {
        webui_respond_error(c, 400, "'gain_db' must be a number from %d to %d (dB)", MIC_GAIN_MIN_DB,
                            MIC_GAIN_MAX_DB);
        return;
    }
    if (!w->ops->mic) {
        webui_respond_error(c, 501, "mics cannot be changed here");
        return;
    }
    int ret = w->ops->mic(w->opaque, name, mute ? cJSON_IsTrue(mute) : -1, gain ? gain->valuedouble : NAN,
                          err, sizeof err);
    if (ret < 0) {
        webui_respond_error(c, status_for_error(ret), "%s", err[0] ? err : "the mic refused");
        return;
    }
    LB_LOGI("webui", "%s: mic %s%s%s", c->who.user, name, mute ? (cJSON_IsTrue(mute) ? " muted" : " unmuted") : "",
            gain ? " gain set" : "");
    cJSON *status = webui_status_json(w, WEBUI_VIEW_FULL), *out = NULL;
    cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(status, "mics")) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(m, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) {
            out = cJSON_Duplicate(m, 1);
            break;
        }
    }
    cJSON_Delete(status);
    webui_respond_json(c, 200, out ? out : cJSON_CreateObject());
}

static void h_sources(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    if (!*arg) {
        cJSON *s = w->ops->sources ? w->ops->sources(w->opaque) : NULL;
        webui_redact_json(s);
        webui_respond_json(c, 200, s ? s : cJSON_CreateArray());
        return;
    }
    /* <name>/snapshot.jpg */
    char name[96];
    const char *slash = strchr(arg, '/');
    size_t len = slash ? (size_t)(slash - arg) : 0;
    if (!slash || strcmp(slash, "/snapshot.jpg") || len == 0 || len >= sizeof name) {
        webui_respond_error(c, 404, "not found");
        return;
    }
    memcpy(name, arg, len);
    name[len] = 0;
    uint8_t *jpeg = NULL;
    size_t size = 0;
    if (!webui_path_is_safe(name) || !w->ops->snapshot ||
        w->ops->snapshot(w->opaque, name, &jpeg, &size) < 0 || !jpeg) {
        av_free(jpeg);
        webui_respond_error(c, 404, "no picture from '%s'", name);
        return;
    }
    char *copy = malloc(size ? size : 1);
    if (!copy) {
        av_free(jpeg);
        webui_respond_error(c, 500, "out of memory");
        return;
    }
    memcpy(copy, jpeg, size);
    av_free(jpeg);
    webui_add_header(c, "Cache-Control", "no-store");
    webui_respond(c, 200, "image/jpeg", copy, size);
}

/* ---- the schedule ---- */

#define SCHEDULE_MAX_WINDOW_S (15 * 86400)   /* a week and its neighbours' edges */

/* ?from=&to=: Unix seconds, both or neither.  0 without them, 1 with,
 * -1 when refused (answered). */
static int parse_schedule_window(webui_conn *c, int64_t *from_s, int64_t *to_s)
{
    char buf[64];
    int64_t *dst[2] = { from_s, to_s };
    int seen[2] = { 0, 0 };
    static const char *const keys[2] = { "from", "to" };
    for (int idx = 0; idx < 16; idx++) {
        int len = webui_query_fragment(c, idx, buf, sizeof buf);
        if (len == -1)
            break;
        if (len == -2) {
            webui_respond_error(c, 400, "a query parameter is longer than %zu bytes", sizeof buf - 1);
            return -1;
        }
        if (!len)
            continue;
        char *v = strchr(buf, '=');
        if (v)
            *v++ = 0;
        int k = !strcmp(buf, "from") ? 0 : !strcmp(buf, "to") ? 1 : -1;
        if (k < 0) {
            char why[96];
            if (lb_meta_check_text(buf, 40, 0, why, sizeof why) < 0)
                snprintf(buf, sizeof buf, "?");
            webui_respond_error(c, 400, "unknown query parameter '%s' (from, to)", buf);
            return -1;
        }
        if (seen[k]++) {
            webui_respond_error(c, 400, "'%s' is given twice", keys[k]);
            return -1;
        }
        char *end;
        errno = 0;
        long long n = v ? strtoll(v, &end, 10) : 0;
        if (!v || !*v || *end || errno || n < 0 || n > 16725225600LL /* 2500-01-01 */) {
            webui_respond_error(c, 400, "'%s' must be a time in Unix seconds", keys[k]);
            return -1;
        }
        *dst[k] = n;
    }
    if (seen[0] != seen[1]) {
        webui_respond_error(c, 400, "'from' and 'to' go together (Unix seconds)");
        return -1;
    }
    if (seen[0] && (*to_s <= *from_s || *to_s - *from_s > SCHEDULE_MAX_WINDOW_S)) {
        webui_respond_error(c, 400, "'to' must be after 'from', at most %d days later",
                            SCHEDULE_MAX_WINDOW_S / 86400);
        return -1;
    }
    return seen[0];
}

/* The scheduler's view; with ?from=&to= also "window" (the week grid's
 * occurrences), leaving the rest as it is without them. */
static void h_schedule(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    int64_t from_s = 0, to_s = 0;
    char err[512] = "";
    int want = parse_schedule_window(c, &from_s, &to_s);
    if (want < 0)
        return;
    cJSON *o = w->ops->schedule ? w->ops->schedule(w->opaque) : NULL;
    if (!o) {
        webui_respond_error(c, 501, "the schedule is not available");
        return;
    }
    if (want) {
        cJSON *list = w->ops->schedule_window ? w->ops->schedule_window(w->opaque, from_s, to_s, err, sizeof err)
                                              : NULL;
        if (!list) {
            cJSON_Delete(o);
            webui_respond_error(c, w->ops->schedule_window ? 422 : 501, "%s",
                                err[0] ? err : "the schedule is not available");
            return;
        }
        cJSON *win = cJSON_AddObjectToObject(o, "window");
        cJSON_AddNumberToObject(win, "from_s", (double)from_s);
        cJSON_AddNumberToObject(win, "to_s", (double)to_s);
        cJSON_AddItemToObject(win, "occurrences", list);
    }
    webui_redact_json(o);         /* the feed's URL may carry credentials */
    webui_respond_json(c, 200, o);
}

/* GET: the timetable as a file (export); PUT: a new one (import, or the
 * page's edit), validated with the error naming the entry; DELETE: none. */
static void h_timetable(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    char err[512] = "";
    if (c->method == WEBUI_GET || c->method == WEBUI_HEAD) {
        char *text = w->ops->timetable_get ? w->ops->timetable_get(w->opaque) : NULL;
        if (!text) {
            webui_respond_error(c, 404, "no timetable yet (PUT one to /api/v1/timetable)");
            return;
        }
        webui_add_header(c, "Content-Disposition", "attachment; filename=\"timetable.json\"");
        webui_add_header(c, "Cache-Control", "no-store");
        webui_respond(c, 200, "application/json", text, strlen(text));
        return;
    }
    if (!w->ops->timetable_put) {
        webui_respond_error(c, 501, "the schedule is not available");
        return;
    }
    if (c->method == WEBUI_PUT && !c->body_len) {
        webui_respond_error(c, 400, "the body must be a timetable (JSON); DELETE removes it");
        return;
    }
    int del = c->method == WEBUI_DELETE;
    int ret = w->ops->timetable_put(w->opaque, del ? "" : c->body, del ? 0 : c->body_len, err, sizeof err);
    if (ret < 0) {
        webui_respond_error(c, status_for_error(ret), "%s", err[0] ? err : "cannot store the timetable");
        return;
    }
    LB_LOGI("webui", "%s: timetable %s", c->who.user, del ? "removed" : "replaced");
    if (del) {
        webui_respond(c, 204, "application/json", NULL, 0);
        return;
    }
    char *text = w->ops->timetable_get ? w->ops->timetable_get(w->opaque) : NULL;
    if (!text) {
        respond_ok(c);
        return;
    }
    webui_respond(c, 200, "application/json", text, strlen(text));
}

static void h_alerts(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    cJSON *a = w->ops->alerts ? w->ops->alerts(w->opaque) : NULL;
    if (!a) {
        a = cJSON_CreateObject();
        cJSON_AddArrayToObject(a, "alerts");
    }
    webui_redact_json(a);        /* messages quote errors, and viewers read them */
    webui_respond_json(c, 200, a);
}

static void h_metrics(lb_webui *w, webui_conn *c, const char *arg, cJSON *body)
{
    char *text = w->ops->metrics ? w->ops->metrics(w->opaque) : NULL;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    int clients = 0;

    for (webui_conn *k = w->ws_clients; k; k = k->ws_next)
        clients++;
    if (!f) {
        free(text);
        webui_respond_error(c, 500, "out of memory");
        return;
    }
    if (text && lb_redact_needed(text)) {
        /* labels are names checked at load, but the daemon's text is not
         * ours to trust */
        char *redacted = lb_redact_dup(text);
        free(text);
        text = redacted;
    }
    if (text)
        fputs(text, f);
    free(text);
    pthread_mutex_lock(&w->lock);
    uint64_t ring_dropped = w->ring_dropped;
    pthread_mutex_unlock(&w->lock);
    fprintf(f,
            "# HELP luobo_webui_requests_total HTTP requests handled by the web UI.\n"
            "# TYPE luobo_webui_requests_total counter\n"
            "luobo_webui_requests_total %llu\n"
            "# HELP luobo_webui_ws_clients Connected event WebSocket clients.\n"
            "# TYPE luobo_webui_ws_clients gauge\n"
            "luobo_webui_ws_clients %d\n"
            "# HELP luobo_webui_ws_events_sent_total Events written to WebSocket clients.\n"
            "# TYPE luobo_webui_ws_events_sent_total counter\n"
            "luobo_webui_ws_events_sent_total %llu\n"
            "# HELP luobo_webui_ws_events_dropped_total Events dropped for slow WebSocket clients.\n"
            "# TYPE luobo_webui_ws_events_dropped_total counter\n"
            "luobo_webui_ws_events_dropped_total %llu\n"
            "# HELP luobo_webui_publish_dropped_total Events dropped before the loop took them.\n"
            "# TYPE luobo_webui_publish_dropped_total counter\n"
            "luobo_webui_publish_dropped_total %llu\n"
            "# HELP luobo_webui_hls_held Blocking playlist reloads (LL-HLS) waiting now.\n"
            "# TYPE luobo_webui_hls_held gauge\n"
            "luobo_webui_hls_held %d\n"
            "# HELP luobo_webui_hls_held_total Blocking playlist reloads held.\n"
            "# TYPE luobo_webui_hls_held_total counter\n"
            "luobo_webui_hls_held_total %llu\n"
            "# HELP luobo_webui_hls_held_refused_total Blocking reloads refused (503): too many waiting.\n"
            "# TYPE luobo_webui_hls_held_refused_total counter\n"
            "luobo_webui_hls_held_refused_total %llu\n",
            (unsigned long long)w->requests, clients, (unsigned long long)w->ws_events_sent,
            (unsigned long long)w->ws_events_dropped, (unsigned long long)ring_dropped, w->nb_held,
            (unsigned long long)w->held_total, (unsigned long long)w->held_refused);
    fclose(f);
    webui_respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", out, len);
}

/* ---- recordings ---- */

static int lesson_path(lb_webui *w, const char *id, const char *file, char *out, size_t size)
{
    if (!webui_path_is_safe(id) || strchr(id, '/'))
        return -1;
    return snprintf(out, size, "%s/%s%s%s", w->data_dir, id, file ? "/" : "", file ? file : "") <
                   (int)size ? 0 : -1;
}

static void add_file(cJSON *files, const char *dir, const char *rel)
{
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/%s", dir, rel) >= (int)sizeof path ||
        lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
        return;                /* a symlink is not served either (files.c) */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", rel);
    cJSON_AddNumberToObject(o, "size", (double)st.st_size);
    cJSON_AddItemToArray(files, o);
}

/* What of a lesson folder is offered for download: upload.json is the
 * upload's bookkeeping (an older luobo wrote errors with the platform's
 * password into it), a .tmp is a file being replaced. */
static int offered(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && strcmp(name, "upload.json") &&
           !(len > 4 && !strcmp(name + len - 4, ".tmp"));
}

/* The files of dir/sub (sub "" for the folder itself), by name; program.mp4
 * is put first by the caller. */
static void add_folder_files(cJSON *files, const char *dir, const char *sub)
{
    char path[PATH_MAX], rel[PATH_MAX];
    struct dirent **names = NULL;
    int n;
    if (snprintf(path, sizeof path, "%s%s%s", dir, *sub ? "/" : "", sub) >= (int)sizeof path ||
        (n = scandir(path, &names, NULL, alphasort)) < 0)
        return;
    for (int i = 0; i < n; i++) {
        if (offered(names[i]->d_name) && (*sub || strcmp(names[i]->d_name, "program.mp4")) &&
            snprintf(rel, sizeof rel, "%s%s%s", sub, *sub ? "/" : "", names[i]->d_name) < (int)sizeof rel)
            add_file(files, dir, rel);
        free(names[i]);
    }
    free(names);
}

/* Every file of the lesson, each downloadable from /recordings/<id>/<path>:
 * program.mp4 first, then the folder's other files (lesson.json,
 * episode.xml, director.jsonl, a re-cut program...), the cameras (iso/) and
 * the microphones (audio/). */
static void add_files(cJSON *lesson, const char *dir)
{
    cJSON *files = cJSON_AddArrayToObject(lesson, "files");
    add_file(files, dir, "program.mp4");
    add_folder_files(files, dir, "");
    add_folder_files(files, dir, "iso");
    add_folder_files(files, dir, "audio");
}

/* lesson.json plus what is on disk; NULL when the folder is no lesson. */
static cJSON *lesson_json(lb_webui *w, const char *id, int with_files)
{
    char dir[PATH_MAX], path[PATH_MAX];
    cJSON *lesson;

    if (lesson_path(w, id, NULL, dir, sizeof dir) < 0 ||
        lesson_path(w, id, "lesson.json", path, sizeof path) < 0 ||
        !(lesson = read_json_file(path)))
        return NULL;
    if (!cJSON_IsObject(lesson)) {
        cJSON_Delete(lesson);
        return NULL;
    }
    /* The folder name is the id the URLs use, whatever the file says. */
    cJSON_DeleteItemFromObjectCaseSensitive(lesson, "id");
    cJSON_AddStringToObject(lesson, "id", id);
    snprintf(path, sizeof path, "%s/program.mp4", dir);
    cJSON_AddBoolToObject(lesson, "has_program", access(path, R_OK) == 0);
    /* The upload output keeps its progress next to the lesson. */
    cJSON *upload;
    snprintf(path, sizeof path, "%s/upload.json", dir);
    if (!cJSON_GetObjectItemCaseSensitive(lesson, "upload") && (upload = read_json_file(path))) {
        if (cJSON_IsObject(upload))
            cJSON_AddItemToObject(lesson, "upload", upload);
        else
            cJSON_Delete(upload);
    }
    /* an older luobo wrote upload errors with the platform's password */
    webui_redact_json(lesson);
    if (with_files)
        add_files(lesson, dir);
    return lesson;
}

/* ---- the library: GET /api/v1/recordings ---- */

/* Each listing stats every lesson folder, its lesson.json and upload.json,
 * and parses only what changed since the last one (lesson.json is replaced
 * by rename, which changes the folder too; one copied over in place changes
 * its own time and size).  3000 lessons were 220-490 ms a listing parsed
 * each time (docs/ARCHITECTURE.md has the figures); the loop must not stall
 * that long. */
typedef struct library_stamp {
    struct timespec dir_mtime, json_mtime, upload_mtime;
    off_t json_size, upload_size;
    ino_t json_ino, upload_ino;
} library_stamp;

typedef struct library_entry {
    char *id;
    library_stamp stamp;
    cJSON *lesson;                 /* lesson_json(id, 0); NULL: no lesson here */
} library_entry;

struct webui_library {
    library_entry *entries;        /* by id (strcmp) */
    int nb;
};

#define LIBRARY_MAX_LESSONS 100000

void webui_library_free(struct webui_library **pl)
{
    struct webui_library *l = pl ? *pl : NULL;
    if (!l)
        return;
    for (int i = 0; i < l->nb; i++) {
        free(l->entries[i].id);
        cJSON_Delete(l->entries[i].lesson);
    }
    free(l->entries);
    free(l);
    *pl = NULL;
}

static void stamp_of(const char *dir, library_stamp *st)
{
    char path[PATH_MAX];
    struct stat s;
    memset(st, 0, sizeof *st);
    if (stat(dir, &s) == 0)
        st->dir_mtime = s.st_mtim;
    if (snprintf(path, sizeof path, "%s/lesson.json", dir) < (int)sizeof path && stat(path, &s) == 0) {
        st->json_mtime = s.st_mtim;
        st->json_size = s.st_size;
        st->json_ino = s.st_ino;
    }
    if (snprintf(path, sizeof path, "%s/upload.json", dir) < (int)sizeof path && stat(path, &s) == 0) {
        st->upload_mtime = s.st_mtim;
        st->upload_size = s.st_size;
        st->upload_ino = s.st_ino;
    }
}

static int same_time(struct timespec a, struct timespec b)
{
    return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static int stamp_equal(const library_stamp *a, const library_stamp *b)
{
    return same_time(a->dir_mtime, b->dir_mtime) && same_time(a->json_mtime, b->json_mtime) &&
           same_time(a->upload_mtime, b->upload_mtime) && a->json_size == b->json_size &&
           a->upload_size == b->upload_size && a->json_ino == b->json_ino &&
           a->upload_ino == b->upload_ino;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int lesson_folder(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* The library brought up to date with the data folder: w->library's
 * entries, one per folder, in id order. */
static void library_refresh(lb_webui *w)
{
    struct webui_library *old = w->library, *fresh = calloc(1, sizeof *fresh);
    struct dirent **names = NULL;
    char dir[PATH_MAX];
    int total = scandir(w->data_dir, &names, lesson_folder, by_name), j = 0;
    int n = total < LIBRARY_MAX_LESSONS ? total : LIBRARY_MAX_LESSONS;

    if (!fresh || n < 0)
        goto done;
    if (n && !(fresh->entries = calloc((size_t)n, sizeof *fresh->entries)))
        goto done;
    for (int i = 0; i < n; i++) {
        const char *id = names[i]->d_name;
        library_entry *e = &fresh->entries[fresh->nb];
        if (lesson_path(w, id, NULL, dir, sizeof dir) < 0)
            continue;
        stamp_of(dir, &e->stamp);
        /* both lists are in strcmp order: walk the old one along */
        while (old && j < old->nb && strcmp(old->entries[j].id, id) < 0)
            j++;
        library_entry *was = old && j < old->nb && !strcmp(old->entries[j].id, id) ? &old->entries[j] : NULL;
        if (was && stamp_equal(&was->stamp, &e->stamp)) {
            e->id = was->id;
            e->lesson = was->lesson;
            was->id = NULL;
            was->lesson = NULL;
            j++;
        } else if (!(e->id = strdup(id))) {
            continue;
        } else {
            e->lesson = lesson_json(w, id, 0);
        }
        fresh->nb++;
    }
    webui_library_free(&w->library);
    w->library = fresh;
    fresh = NULL;
done:
    for (int i = 0; i < total; i++)
        free(names[i]);
    free(names);
    webui_library_free(&fresh);
}

#define LIBRARY_MAX_LIMIT 1000
#define LIBRARY_KEYS "q, subject, grade, lesson_type, status, upload, from, to, sort, offset, limit"

/* A real day, YYYY-MM-DD (2026-02-30 is not). */
static int is_date(const char *s)
{
    static const int days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    for (int i = 0; i < 10; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : !(s[i] >= '0' && s[i] <= '9'))
            return 0;
    if (s[10])
        return 0;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    int leap = (y % 4 == 0 && y % 100) || y % 400 == 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1] - (m == 2 && !leap);
}

static int one_of(const char *v, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(v, *list))
            return 1;
    return 0;
}

static int query_error(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int query_error(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
    return -400;
}

/* Every parameter is checked, unknown ones and repeats too: a typo
 * (limt=5) must not be taken as no filter at all. */
int webui_library_query_parse(const char *const *frags, int nb, webui_library_query *lq, char *err,
                              size_t err_size)
{
    static const struct { const char *key; size_t off, size; } text[] = {
        { "q", offsetof(webui_library_query, q), sizeof(((webui_library_query *)0)->q) },
        { "subject", offsetof(webui_library_query, subject), sizeof(((webui_library_query *)0)->subject) },
        { "grade", offsetof(webui_library_query, grade), sizeof(((webui_library_query *)0)->grade) },
        { "lesson_type", offsetof(webui_library_query, lesson_type),
          sizeof(((webui_library_query *)0)->lesson_type) },
        { "status", offsetof(webui_library_query, status), sizeof(((webui_library_query *)0)->status) },
        { "upload", offsetof(webui_library_query, upload), sizeof(((webui_library_query *)0)->upload) },
        { "from", offsetof(webui_library_query, from), sizeof(((webui_library_query *)0)->from) },
        { "to", offsetof(webui_library_query, to), sizeof(((webui_library_query *)0)->to) },
        { "sort", offsetof(webui_library_query, sort), sizeof(((webui_library_query *)0)->sort) },
        { "offset", 0, 0 },
        { "limit", 0, 0 },
    };
    static const char *const statuses[] = { "recording", "complete", "interrupted", NULL };
    static const char *const uploads[] = { "none", "queued", "uploading", "waiting", "failed", "done", NULL };
    static const char *const sorts[] = { "started_at", "title", "duration_s", "teacher", "subject", NULL };
    enum { NB_KEYS = sizeof text / sizeof text[0] };
    char buf[WEBUI_QUERY_FRAGMENT_MAX + 1];
    int seen[NB_KEYS] = { 0 };

    memset(lq, 0, sizeof *lq);
    lq->limit = 100;
    if (nb > WEBUI_QUERY_MAX_FRAGMENTS)
        return query_error(err, err_size, "more than %d query parameters", WEBUI_QUERY_MAX_FRAGMENTS);
    for (int idx = 0; idx < nb; idx++) {
        size_t len = strlen(frags[idx]);
        if (len > WEBUI_QUERY_FRAGMENT_MAX)
            return query_error(err, err_size, "a query parameter is longer than %d bytes",
                               WEBUI_QUERY_FRAGMENT_MAX);
        if (!len)
            continue;
        memcpy(buf, frags[idx], len + 1);
        char *v = strchr(buf, '=');
        if (v)
            *v++ = 0;
        size_t k = 0;
        while (k < NB_KEYS && strcmp(buf, text[k].key))
            k++;
        if (k == NB_KEYS) {
            char why[96];
            if (lb_meta_check_text(buf, 40, 0, why, sizeof why) < 0)
                snprintf(buf, sizeof buf, "?");
            return query_error(err, err_size, "unknown query parameter '%s' (%s)", buf, LIBRARY_KEYS);
        }
        if (seen[k]++)
            return query_error(err, err_size, "'%s' is given twice", text[k].key);
        if (!v)
            v = "";
        if (!text[k].size) {
            long max = !strcmp(text[k].key, "limit") ? LIBRARY_MAX_LIMIT : 1000000000L;
            char *end;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (!*v || *end || errno || n < 0 || n > max)
                return query_error(err, err_size, "'%s' must be a whole number from 0 to %ld", text[k].key, max);
            *(!strcmp(text[k].key, "limit") ? &lq->limit : &lq->offset) = n;
            continue;
        }
        char why[96];
        if (lb_meta_check_text(v, text[k].size - 1, 0, why, sizeof why) < 0)
            return query_error(err, err_size, "'%s': %s", text[k].key, why);
        snprintf((char *)lq + text[k].off, text[k].size, "%s", v);
    }
    if (*lq->lesson_type) {
        lb_lesson_type t = lb_lesson_type_parse(lq->lesson_type);
        if (!t)
            return query_error(err, err_size, "'lesson_type': unknown lesson type (ordinary, open, quality, "
                               "demonstration)");
        snprintf(lq->lesson_type, sizeof lq->lesson_type, "%s", lb_lesson_type_name(t));
    }
    if (*lq->status && !one_of(lq->status, statuses))
        return query_error(err, err_size, "'status' must be recording, complete or interrupted");
    if (*lq->upload && !one_of(lq->upload, uploads))
        return query_error(err, err_size, "'upload' must be none, queued, uploading, waiting, failed or done");
    if ((*lq->from && !is_date(lq->from)) || (*lq->to && !is_date(lq->to)))
        return query_error(err, err_size, "'%s' must be a date, YYYY-MM-DD",
                           *lq->from && !is_date(lq->from) ? "from" : "to");
    if (*lq->from && *lq->to && strcmp(lq->from, lq->to) > 0)
        return query_error(err, err_size, "'from' (%s) is after 'to' (%s)", lq->from, lq->to);
    if (*lq->sort && !one_of(*lq->sort == '-' ? lq->sort + 1 : lq->sort, sorts))
        return query_error(err, err_size, "'sort' must be started_at, title, duration_s, teacher or subject, "
                           "with a leading '-' for descending");
    return 0;
}

/* The connection's query through webui_library_query_parse(): 0, or -1
 * after a 400 naming the parameter. */
static int parse_library_query(webui_conn *c, webui_library_query *lq)
{
    enum { MAX = WEBUI_QUERY_MAX_FRAGMENTS + 1 };    /* one more: too many is an error */
    char (*bufs)[WEBUI_QUERY_FRAGMENT_MAX + 1] = malloc(MAX * sizeof *bufs);
    const char *frags[MAX];
    char err[1200];
    int nb = 0, ret = -1;

    if (!bufs) {
        webui_respond_error(c, 500, "out of memory");
        return -1;
    }
    for (; nb < MAX; nb++) {
        int len = webui_query_fragment(c, nb, bufs[nb], sizeof bufs[nb]);
        if (len == -1)
            break;
        if (len == -2) {
            webui_respond_error(c, 400, "a query parameter is longer than %d bytes", WEBUI_QUERY_FRAGMENT_MAX);
            goto fail;
        }
        frags[nb] = bufs[nb];
    }
    if (webui_library_query_parse(frags, nb, lq, err, sizeof err) < 0) {
        webui_respond_error(c, 400, "%s", err);
        goto fail;
    }
    ret = 0;
fail:
    free(bufs);
    return ret;
}

static int contains_nocase(const char *hay, const char *needle)
{
    return hay && strcasestr(hay, needle);
}

static const char *upload_state(const cJSON *l)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(l, "upload");
    const char *s = json_string(u, "state");
    return !u ? "none" : s ? s : cJSON_IsString(u) ? u->valuestring : "";
}

int webui_library_matches(const cJSON *l, const webui_library_query *lq)
{
    const char *started = json_string(l, "started_at");
    if (*lq->q && !contains_nocase(json_string(l, "title"), lq->q) &&
        !contains_nocase(json_string(l, "teacher"), lq->q) &&
        !contains_nocase(json_string(l, "subject"), lq->q))
        return 0;
    const struct { const char *want, *key; } exact[] = {
        { lq->subject, "subject" }, { lq->grade, "grade" }, { lq->status, "status" },
    };
    for (size_t i = 0; i < 3; i++) {
        const char *v = json_string(l, exact[i].key);
        if (*exact[i].want && (!v || strcmp(v, exact[i].want)))
            return 0;
    }
    if (*lq->lesson_type) {
        const char *v = json_string(l, "lesson_type");
        if (!v || lb_lesson_type_parse(v) != lb_lesson_type_parse(lq->lesson_type))
            return 0;
    }
    if (*lq->upload && strcmp(upload_state(l), lq->upload))
        return 0;
    /* dates compare as the start's day, as it was written (local time) */
    if ((*lq->from || *lq->to) && (!started || strlen(started) < 10))
        return 0;
    if (*lq->from && strncmp(started, lq->from, 10) < 0)
        return 0;
    if (*lq->to && strncmp(started, lq->to, 10) > 0)
        return 0;
    return 1;
}

typedef struct sort_order {
    const char *key;
    int desc;
} sort_order;

static int by_sort(const void *a, const void *b, void *opaque)
{
    const sort_order *so = opaque;
    const char *sort_key = so->key;
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    int r;
    if (!strcmp(sort_key, "duration_s")) {
        const cJSON *dx = cJSON_GetObjectItemCaseSensitive(x, "duration_s");
        const cJSON *dy = cJSON_GetObjectItemCaseSensitive(y, "duration_s");
        double vx = cJSON_IsNumber(dx) ? dx->valuedouble : 0, vy = cJSON_IsNumber(dy) ? dy->valuedouble : 0;
        r = vx < vy ? -1 : vx > vy;
    } else {
        const char *sx = json_string(x, sort_key), *sy = json_string(y, sort_key);
        r = strcmp(sx ? sx : "", sy ? sy : "");
    }
    if (!r)
        r = strcmp(json_string(x, "id"), json_string(y, "id"));
    return so->desc ? -r : r;
}

void webui_library_sort(const cJSON **items, int nb, const webui_library_query *lq)
{
    /* newest first unless asked otherwise */
    sort_order so = { !*lq->sort ? "started_at" : *lq->sort == '-' ? lq->sort + 1 : lq->sort,
                      !*lq->sort || *lq->sort == '-' };
    if (nb > 1)
        qsort_r(items, (size_t)nb, sizeof *items, by_sort, &so);
}

static void list_recordings(lb_webui *w, webui_conn *c)
{
    webui_library_query lq;
    const cJSON **items = NULL;
    char dir[PATH_MAX];
    int nb = 0;

    if (parse_library_query(c, &lq) < 0)
        return;
    library_refresh(w);
    struct webui_library *lib = w->library;
    if (lib && lib->nb && !(items = calloc((size_t)lib->nb, sizeof *items))) {
        webui_respond_error(c, 500, "out of memory");
        return;
    }
    for (int i = 0; lib && i < lib->nb; i++)
        if (lib->entries[i].lesson && webui_library_matches(lib->entries[i].lesson, &lq))
            items[nb++] = lib->entries[i].lesson;
    webui_library_sort(items, nb, &lq);
    /* the page's lessons only are copied and get their files listed */
    cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "recordings");
    for (long i = lq.offset; i < nb && i - lq.offset < lq.limit; i++) {
        cJSON *l = cJSON_Duplicate(items[i], 1);
        if (l && lesson_path(w, json_string(l, "id"), NULL, dir, sizeof dir) == 0)
            add_files(l, dir);
        cJSON_AddItemToArray(arr, l);
    }
    cJSON_AddNumberToObject(out, "total", nb);
    cJSON_AddNumberToObject(out, "offset", (double)lq.offset);
    cJSON_AddNumberToObject(out, "limit", (double)lq.limit);
    free(items);
    webui_respond_json(c, 200, out);
}

static void upload_recording(lb_webui *w, webui_conn *c, const char *id);

static void h_recordings(lb_webui *w, webui_conn *c, const char *id, cJSON *body)
{
    char dir[PATH_MAX], path[PATH_MAX], real_data[PATH_MAX], real_dir[PATH_MAX];
    cJSON *lesson;

    if (!*id) {
        if (c->method != WEBUI_GET) {
            webui_respond_error(c, 405, "method not allowed");
            return;
        }
        list_recordings(w, c);
        return;
    }
    const char *sub = strchr(id, '/');
    if (sub && !strchr(sub + 1, '/')) {
        char one[256];
        snprintf(one, sizeof one, "%.*s", (int)(sub - id), id);
        if (webui_lesson_edit(w, c, one, sub + 1, body))    /* chapters, clips: edits.c */
            return;
    }
    if (c->method == WEBUI_PUT) {
        webui_add_header(c, "Allow", "GET, HEAD, POST, PATCH, DELETE");
        webui_respond_error(c, 405, "method not allowed");
        return;
    }
    if (sub && !strcmp(sub, "/upload")) {
        char one[256];
        snprintf(one, sizeof one, "%.*s", (int)(sub - id), id);
        upload_recording(w, c, one);
        return;
    }
    if (sub || !(lesson = lesson_json(w, id, 1))) {
        /* a folder whose lesson.json is damaged says so, rather than not
         * being there (the list leaves it out) */
        cJSON *root = NULL;
        char why[PATH_MAX + 128];
        int ret = !sub && lesson_path(w, id, NULL, dir, sizeof dir) == 0
                      ? lb_lesson_json_read(dir, &root, why, sizeof why) : AVERROR(ENOENT);
        cJSON_Delete(root);
        const char *what = strstr(why, "lesson.json: ");
        if (ret < 0 && ret != AVERROR(ENOENT) && ret != AVERROR(ENOTDIR) && what)
            webui_respond_error(c, 422, "%s/%s", id, what);
        else
            webui_respond_error(c, 404, "no recording '%s'", id);
        return;
    }
    const char *status = json_string(lesson, "status");
    int busy = status && !strcmp(status, "recording");

    if (c->method == WEBUI_GET) {
        webui_respond_json(c, 200, lesson);
        return;
    }
    if (busy) {
        cJSON_Delete(lesson);
        webui_respond_error(c, 409, "'%s' is being recorded", id);
        return;
    }
    if (webui_recut_running_for(w, id)) {       /* it writes lesson.json when it ends */
        cJSON_Delete(lesson);
        webui_respond_error(c, 409, "a re-cut of '%s' is running; one at a time", id);
        return;
    }
    if (c->method == WEBUI_DELETE) {
        cJSON_Delete(lesson);
        if (lesson_path(w, id, NULL, dir, sizeof dir) < 0 || !realpath(w->data_dir, real_data) ||
            !realpath(dir, real_dir) || strncmp(real_dir, real_data, strlen(real_data)) ||
            real_dir[strlen(real_data)] != '/' || strchr(real_dir + strlen(real_data) + 1, '/')) {
            webui_respond_error(c, 404, "no recording '%s'", id);
            return;
        }
        /* renamed away here, removed by the trash thread (trash.c): a
         * multi-GB folder must not stall the loop */
        int ret = webui_trash_move(w, real_dir, id);
        if (ret < 0) {
            webui_respond_error(c, 500, "cannot delete '%s': %s", id, av_err2str(ret));
            return;
        }
        LB_LOGI("webui", "%s deleted recording %s (its files are being removed)", c->who.user, id);
        webui_respond(c, 204, "application/json", NULL, 0);
        return;
    }
    /* PATCH or POST: edit the metadata, in lesson.json as it is on disk
     * (not what lesson_json() added to it), and episode.xml with it */
    cJSON_Delete(lesson);
    lb_lesson_meta meta = { 0 };
    char err[512];
    int mask = lb_meta_from_json(&meta, body, 0, err, sizeof err);
    if (mask < 0) {
        webui_respond_error(c, 400, "%s", err);
        return;
    }
    /* where it came from and how it went out are history */
    mask &= ~(LB_META_SCHEDULE_UID | LB_META_SCHEDULE_END | LB_META_LIVE);
    if (!mask) {
        webui_respond_error(c, 400, "nothing to change (title, teacher, course, subject, grade, "
                            "class, lesson_type, school, hall, description, keywords, language)");
        return;
    }
    if (lesson_path(w, id, NULL, dir, sizeof dir) < 0) {
        webui_respond_error(c, 404, "no recording '%s'", id);
        return;
    }
    int ret = lb_lesson_edit(dir, &meta, (unsigned)mask, err, sizeof err);
    if (ret < 0) {
        webui_respond_error(c, ret == AVERROR(EBUSY) ? 409 : ret == AVERROR(ENOENT) ? 404 : 500,
                            "%s: %s", id, err);
        return;
    }
    LB_LOGI("webui", "%s edited the metadata of %s", c->who.user, id);
    /* the platform gets the new catalog: a lesson that was queued for
     * upload (or uploaded) goes again, its media skipped where they match */
    if (lesson_path(w, id, "upload.json", path, sizeof path) == 0 && access(path, F_OK) == 0 &&
        w->ops->upload && w->ops->upload(w->opaque, dir, err, sizeof err) < 0)
        LB_LOGW("webui", "%s: the edited metadata is not uploaded: %s", id, err);
    webui_respond_json(c, 200, lesson_json(w, id, 1));
}

/* POST /api/v1/recordings/<id>/upload: retry now, or upload again. */
static void upload_recording(lb_webui *w, webui_conn *c, const char *id)
{
    char dir[PATH_MAX], err[256] = "";
    cJSON *lesson;
    if (c->method != WEBUI_POST) {
        webui_add_header(c, "Allow", "POST");
        webui_respond_error(c, 405, "method not allowed");
        return;
    }
    if (!(lesson = lesson_json(w, id, 0)) || lesson_path(w, id, NULL, dir, sizeof dir) < 0) {
        cJSON_Delete(lesson);
        webui_respond_error(c, 404, "no recording '%s'", id);
        return;
    }
    const char *status = json_string(lesson, "status");
    int busy = status && !strcmp(status, "recording");
    cJSON_Delete(lesson);
    if (busy) {
        webui_respond_error(c, 409, "'%s' is being recorded", id);
        return;
    }
    if (!w->ops->upload) {
        webui_respond_error(c, 501, "uploads are not available");
        return;
    }
    int ret = w->ops->upload(w->opaque, dir, err, sizeof err);
    if (ret < 0) {
        webui_respond_error(c, status_for_error(ret), "%s", err[0] ? err : "cannot upload");
        return;
    }
    LB_LOGI("webui", "%s asked for the upload of %s", c->who.user, id);
    webui_respond_json(c, 202, lesson_json(w, id, 0));
}

/* ---- routing ---- */

#define NO WEBUI_ROLE_NONE
#define VIEWER WEBUI_ROLE_VIEWER
#define TEACHER WEBUI_ROLE_TEACHER
#define OPERATOR WEBUI_ROLE_OPERATOR
#define ADMIN WEBUI_ROLE_ADMIN

/* The least role per method; NO: the method is not allowed.  Routes with
 * anonymous_ok (last column) decide about identity in their handler, and
 * their role column only says which methods exist. */
static const route routes[] = {
    /* prefix                    GET       POST      PATCH     DELETE  handler anon PUT */
    { "/api/v1/session",         VIEWER,   NO,       NO,       NO,    h_session, 1, NO },
    { "/api/v1/setup",           NO,       VIEWER,   NO,       NO,    h_setup, 1, NO },
    { "/api/v1/login",           NO,       VIEWER,   NO,       NO,    h_login, 1, NO },
    { "/api/v1/logout",          NO,       VIEWER,   NO,       NO,    h_logout, 1, NO },
    { "/api/v1/password",        NO,       VIEWER,   NO,       NO,    h_password, 0, NO },
    { "/api/v1/sessions",        VIEWER,   NO,       NO,       NO,    h_sessions, 0, NO },
    { "/api/v1/me",              VIEWER,   NO,       NO,       NO,    h_me, 0, VIEWER },
    { "/api/v1/sessions/",       NO,       NO,       NO,       VIEWER, h_sessions, 0, NO },
    { "/api/v1/status",          VIEWER,   NO,       NO,       NO,    h_status, 1, NO },
    { "/api/v1/recording",       NO,       TEACHER,  NO,       NO,    h_recording, 0, NO },
    { "/api/v1/alerts",          VIEWER,   NO,       NO,       NO,    h_alerts, 0, NO },
    { "/api/v1/schedule",        VIEWER,   NO,       NO,       NO,    h_schedule, 0, NO },
    { "/api/v1/timetable",       VIEWER,   NO,       NO,       OPERATOR, h_timetable, 0, OPERATOR },
    { "/api/v1/director",        NO,       OPERATOR, NO,       NO,    h_director, 0, NO },
    { "/api/v1/mics/",           NO,       OPERATOR, NO,       NO,    h_mics, 0, NO },
    { "/api/v1/sources",         OPERATOR, NO,       NO,       NO,    h_sources, 0, NO },
    { "/api/v1/sources/",        OPERATOR, NO,       NO,       NO,    h_sources, 0, NO },
    { "/api/v1/recordings",      OPERATOR, NO,       NO,       NO,    h_recordings, 0, NO },
    { "/api/v1/recordings/",     OPERATOR, OPERATOR, OPERATOR, ADMIN, h_recordings, 0, OPERATOR },
    { "/api/v1/users",           ADMIN,    ADMIN,    NO,       NO,    h_users, 0, NO },
    { "/api/v1/users/",          NO,       NO,       ADMIN,    ADMIN, h_users, 0, NO },
    { "/api/v1/tokens",          ADMIN,    ADMIN,    NO,       NO,    h_tokens, 0, NO },
    { "/api/v1/tokens/",         NO,       NO,       NO,       ADMIN, h_tokens, 0, NO },
    { "/metrics",                OPERATOR, NO,       NO,       NO,    h_metrics, 0, NO },
};

static const route *find_route(const char *path, const char **arg)
{
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        const route *r = &routes[i];
        size_t len = strlen(r->prefix);
        if (r->prefix[len - 1] == '/') {
            if (!strncmp(path, r->prefix, len) && path[len]) {
                *arg = path + len;
                return r;
            }
        } else if (!strcmp(path, r->prefix)) {
            *arg = "";
            return r;
        }
    }
    return NULL;
}

static webui_role role_needed(const route *r, webui_method m)
{
    switch (m) {
    case WEBUI_GET:
    case WEBUI_HEAD:   return r->get;
    case WEBUI_POST:   return r->post ? r->post : r->patch;   /* POST may edit */
    case WEBUI_PATCH:  return r->patch;
    case WEBUI_PUT:    return r->put;
    case WEBUI_DELETE: return r->del;
    default:           return WEBUI_ROLE_NONE;
    }
}

static void allow_header(webui_conn *c, const route *r)
{
    char allow[64] = "";
    if (r->get)
        strcat(allow, "GET, HEAD, ");
    if (r->post || r->patch)
        strcat(allow, "POST, ");
    if (r->patch)
        strcat(allow, "PATCH, ");
    if (r->put)
        strcat(allow, "PUT, ");
    if (r->del)
        strcat(allow, "DELETE, ");
    size_t len = strlen(allow);
    if (len >= 2)
        allow[len - 2] = 0;
    webui_add_header(c, "Allow", "%s", allow);
}

void webui_api_handle(lb_webui *w, webui_conn *c)
{
    const char *arg = "";
    const route *r = find_route(c->path, &arg);
    cJSON *body = NULL;

    if (!r) {
        webui_respond_error(c, 404, "no such API: %s", c->path);
        return;
    }
    webui_role need = role_needed(r, c->method);
    if (!need) {
        allow_header(c, r);
        webui_respond_error(c, 405, "method not allowed");
        return;
    }
    if (r->handler == h_metrics && w->auth_settings.metrics_public)
        need = WEBUI_ROLE_NONE;
    if (!r->anonymous_ok && need && !c->who.role) {
        webui_respond_error(c, 401, "%s", c->who.auth_error[0] ? c->who.auth_error
                                                                : "login required");
        return;
    }
    if (!r->anonymous_ok && c->who.role < need) {
        webui_respond_error(c, 403, "%s may not do this (needs %s)", webui_role_name(c->who.role),
                            webui_role_name(need));
        return;
    }
    int changes_state = c->method != WEBUI_GET && c->method != WEBUI_HEAD;
    /* A session rides on a cookie the browser sends by itself, so a state
     * change must also prove it comes from our page.  Login and setup create
     * the session, so they have none yet. */
    if (changes_state && c->who.via == WEBUI_VIA_SESSION && r->handler != h_login &&
        r->handler != h_setup &&
        (!c->csrf_header[0] || !webui_secret_equal(c->csrf_header, c->who.csrf))) {
        webui_respond_error(c, 403, "missing or wrong X-CSRF-Token");
        return;
    }
    if (changes_state && c->body_len) {
        const char *end = NULL;
        body = cJSON_ParseWithLengthOpts(c->body, c->body_len, &end, 0);
        if (!body || !cJSON_IsObject(body)) {
            size_t at = end && end >= c->body ? (size_t)(end - c->body) : 0;
            if (body)
                webui_respond_error(c, 400, "the body must be a JSON object");
            else
                webui_respond_error(c, 400, "malformed JSON at byte %zu", at);
            cJSON_Delete(body);
            return;
        }
    }
    if (!body)
        body = cJSON_CreateObject();
    r->handler(w, c, arg, body);
    cJSON_Delete(body);
    /* A user deleted, demoted or logged out, a session or token ended:
     * their open event sockets close now, not at their next request. */
    if (changes_state)
        webui_events_revalidate(w);
}
