/* Private to webui/: what the server, the API, the auth store and the
 * event fan-out share.  Everything here runs on the webui thread except
 * where a comment says otherwise. */
#ifndef LB_WEBUI_PRIV_H
#define LB_WEBUI_PRIV_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <libwebsockets.h>

#include "lb_thread.h"
#include "webui.h"

#define WEBUI_MAX_BODY       (64 * 1024)   /* request bodies; more is 413 */
#define WEBUI_MAX_DOC_BODY   (1024 * 1024) /* a document's (PUT /api/v1/timetable) */
#define WEBUI_MAX_PATH       1024
#define WEBUI_CHUNK          (32 * 1024)   /* one write of a streamed body */
#define WEBUI_PUBLISH_RING   256           /* events waiting for the loop */
#define WEBUI_CLIENT_BACKLOG 64            /* events waiting per WebSocket client */
#define WEBUI_MAX_HEADERS    8             /* extra response headers */
#define WEBUI_MAX_BODY_REPEATS 64         /* see http.c's BODY_COMPLETION */
/* Blocking playlist reloads (LL-HLS) held at once, in all and per client
 * address, and how often a held one looks at its playlist again. */
#define WEBUI_MAX_HELD       64
#define WEBUI_MAX_HELD_PER_IP 6
#define WEBUI_HELD_POLL_US   20000
/* lb_webui_stop() waits this long for the loop: past the few seconds a
 * legitimate request may take (a listing of thousands of lessons parsed
 * anew), well under the service's TimeoutStopSec. */
#define WEBUI_STOP_TIMEOUT_US (10 * 1000000)
#define WEBUI_SESSION_COOKIE "luobo_session"
#define CRYPT_HASH_SIZE      384           /* crypt.h's CRYPT_OUTPUT_SIZE */

extern const struct lws_protocols webui_protocols[];

/* Roles are ranked: each may do what the ones below it may. */
typedef enum webui_role {
    WEBUI_ROLE_NONE = 0,
    WEBUI_ROLE_VIEWER,
    WEBUI_ROLE_TEACHER,
    WEBUI_ROLE_OPERATOR,
    WEBUI_ROLE_ADMIN,
} webui_role;

const char *webui_role_name(webui_role role);
webui_role webui_role_from_name(const char *name);

typedef enum webui_auth_via {
    WEBUI_VIA_NONE = 0,
    WEBUI_VIA_SESSION,    /* cookie: state changes also need the CSRF token */
    WEBUI_VIA_TOKEN,      /* Authorization: Bearer: no cookie, so no CSRF risk */
} webui_auth_via;

/* Who sent a request. */
typedef struct webui_principal {
    webui_role role;
    webui_auth_via via;
    char user[64];
    char session_id[48];
    char csrf[48];
    char token_id[24];        /* WEBUI_VIA_TOKEN */
    char auth_error[96];      /* why a credential was refused ("" : none sent) */
} webui_principal;

/* [auth]: see lb_auth_options. */
typedef struct webui_auth_settings {
    char admin_password_hash[256];
    int public_viewer;
    int metrics_public;
    char users_file[PATH_MAX];
    int session_idle_s;
    int session_max_s;
    int login_max_failures;
    int login_window_s;
    int login_backoff_max_s;
    char tls_cert[PATH_MAX];
    char tls_key[PATH_MAX];
} webui_auth_settings;

/* [general] keys the webui reads. */
typedef struct webui_http_settings {
    int http_port;
    char http_address[64];
} webui_http_settings;

typedef enum webui_tls_mode {
    WEBUI_TLS_DEFAULT = 0,    /* not in the file: on with a certificate, else off */
    WEBUI_TLS_OFF,
    WEBUI_TLS_AUTO,           /* the configured certificate, else a self-signed one */
    WEBUI_TLS_ON,             /* the configured certificate, required */
} webui_tls_mode;

/* [webui]: see lb_webui_options. */
typedef struct webui_tls_settings {
    int tls;                  /* webui_tls_mode */
    int https_port;
    int plain_live;
    char tls_cert[PATH_MAX];
    char tls_key[PATH_MAX];
} webui_tls_settings;
/* [webui] keys of hosts.c: see lb_webui_host_options. */
typedef struct webui_host_settings {
    char server_names[1024];
} webui_host_settings;

#define WEBUI_MAX_NAMES      32            /* names and addresses in server_names */
#define WEBUI_MAX_IF_ADDRS   64            /* the machine's addresses we remember */

typedef struct webui_addr {
    int family;                       /* AF_INET (4 bytes used) or AF_INET6 */
    unsigned char bytes[16];
} webui_addr;

/* ---- auth.c: users, sessions, API tokens, login rate limit ---- */

typedef struct webui_auth webui_auth;

int webui_auth_create(webui_auth **a, const webui_auth_settings *s, const char *data_dir,
                      char *err, size_t err_size);
/* Reads the users file, if any.  Returns 0 or AVERROR with err. */
int webui_auth_load(webui_auth *a, char *err, size_t err_size);
void webui_auth_free(webui_auth **a);
/* A reload: the session and login limits from now on (the loop's thread). */
void webui_auth_set_settings(webui_auth *a, const webui_auth_settings *s);
/* Applies a reload's staged settings; on the loop, under w->lock. */
void webui_apply_settings(lb_webui *w);

/* A pipeline restart that needs a new web UI: the sessions and the login
 * rate limits of a stopped one (a copy, secrets included: freed with
 * explicit_bzero), and their adoption by a new one once its users are
 * loaded: a session whose user is gone or has another role now ends. */
lb_webui_sessions *webui_auth_save(const webui_auth *a);
void webui_auth_restore(webui_auth *a, const lb_webui_sessions *s);

/* 1 while no admin exists: the UI then asks for the first password. */
int webui_auth_needs_setup(const webui_auth *a);
/* While no admin exists: makes a one-time setup code (for the log). */
int webui_auth_prepare_setup(webui_auth *a, char *err, size_t err_size);
const char *webui_auth_setup_code(const webui_auth *a);       /* "" when none */
/* Creates the first admin if code is the setup code: AVERROR(EACCES) if
 * not, AVERROR(EEXIST) when an admin exists already. */
int webui_auth_setup(webui_auth *a, const char *code, const char *user, const char *password,
                     char *err, size_t err_size);
/* Rate limit of password and code guesses, per client address (a fixed
 * window of login_window_s) and, when user is not NULL, per account
 * (exponential backoff past login_max_failures, capped at
 * login_backoff_max_s, reset by a success).  attempt() returns
 * AVERROR(EAGAIN) and the seconds to wait in *retry_after_s while ip or
 * user must wait; else it counts the attempt as failed until
 * attempt_done() says how it went: ok 1 right, 0 wrong, -1 never checked
 * (the hasher was full). */
int webui_auth_attempt(webui_auth *a, const char *ip, const char *user, int *retry_after_s);
void webui_auth_attempt_done(webui_auth *a, const char *ip, const char *user, int ok);
/* 0 and a new session in *who; AVERROR(EACCES) for a wrong name or
 * password; AVERROR(EAGAIN) while rate-limited.  Hashes on the calling
 * thread: for the first run only; logins go through the hasher. */
int webui_auth_login(webui_auth *a, const char *ip, const char *user, const char *password,
                     webui_principal *who);
/* The same in two halves around the slow part: begin checks the rate limit
 * (AVERROR(EAGAIN), *retry_after_s) and hands out the hash to check the
 * password against (a dummy one for unknown names);
 * webui_auth_verify_password() (any thread, no state) checks it; finish
 * counts the attempt and, if right, makes the session.  The password
 * change uses begin too, with attempt_done() as its finish. */
int webui_auth_login_begin(webui_auth *a, const char *ip, const char *user, char *hash,
                           size_t hash_size, int *retry_after_s);
int webui_auth_verify_password(const char *password, const char *hash);
/* yescrypt with a fresh salt; any thread, no state. */
int webui_auth_hash_password(const char *password, char *out, size_t out_size);
/* 1 if password is acceptable as a new one; else 0 and why in err. */
int webui_auth_password_acceptable(const char *password, char *err, size_t err_size);
int webui_auth_login_finish(webui_auth *a, const char *ip, const char *user, int password_ok,
                            webui_principal *who);
void webui_auth_logout(webui_auth *a, const char *session_id);
/* Fills who from a session cookie value or a bearer token; 0 if found.
 * An expired token leaves who->auth_error saying so. */
int webui_auth_session(webui_auth *a, const char *session_id, webui_principal *who);
int webui_auth_token(webui_auth *a, const char *token, webui_principal *who);
/* 1 while who's session or token is still valid (not revoked, not
 * expired), without counting as use; for open event sockets. */
int webui_auth_still_valid(webui_auth *a, const webui_principal *who);
/* The sessions of user (all when NULL), without their secrets: each has a
 * "ref" that DELETE /api/v1/sessions/<ref> takes.  current marks the
 * caller's own. */
cJSON *webui_auth_sessions_json(webui_auth *a, const char *user, const char *current_id);
/* Ends the session ref (only if it belongs to user, unless user is NULL):
 * 0 or AVERROR(ENOENT). */
int webui_auth_session_revoke(webui_auth *a, const char *ref, const char *user);
/* Ends every session of user but keep_id (NULL: all); returns how many. */
int webui_auth_user_revoke(webui_auth *a, const char *user, const char *keep_id);

/* 1 if equal; takes the same time wherever two secrets differ. */
int webui_secret_equal(const char *a, const char *b);
cJSON *webui_auth_users_json(const webui_auth *a);
/* The UI language user chose: "zh", "en" or "" (none; also for no such
 * user).  set_lang() stores it in the users file: lang "" clears it;
 * AVERROR(EINVAL) for another, AVERROR(ENOENT) for no such user. */
const char *webui_auth_user_lang(webui_auth *a, const char *user);
int webui_auth_user_set_lang(webui_auth *a, const char *user, const char *lang, char *err,
                             size_t err_size);
/* The role of user; WEBUI_ROLE_NONE when there is no such user. */
webui_role webui_auth_user_role_of(webui_auth *a, const char *user);
/* Checks, hashes (here: slow, not for the loop) and adds a user. */
int webui_auth_user_add(webui_auth *a, const char *user, const char *password, webui_role role,
                        char *err, size_t err_size);
/* The same in two steps, the hash made between them on the hasher's
 * thread: what may be refused before hashing (name, role, password, an
 * existing user, room); then the user added with its hash (checked again:
 * one of that name may have come meanwhile). */
int webui_auth_user_add_check(webui_auth *a, const char *user, const char *password, webui_role role,
                              char *err, size_t err_size);
int webui_auth_user_add_hashed(webui_auth *a, const char *user, const char *hash, webui_role role,
                               char *err, size_t err_size);
/* AVERROR(EBUSY) for the last administrator (also in webui_auth_user_role:
 * a demotion), whom webui_auth_users_json() marks "last_admin". */
int webui_auth_user_delete(webui_auth *a, const char *user, char *err, size_t err_size);
/* A new password for user (hashed on this thread: admins only); ends the
 * user's sessions but keep_id (NULL: all). */
int webui_auth_user_password(webui_auth *a, const char *user, const char *password,
                             const char *keep_id, char *err, size_t err_size);
/* The same with a hash made by webui_auth_hash_password(). */
int webui_auth_user_set_hash(webui_auth *a, const char *user, const char *hash,
                             const char *keep_id, char *err, size_t err_size);
/* A new role; the user's sessions end (they log in again with it). */
int webui_auth_user_role(webui_auth *a, const char *user, webui_role role, char *err,
                         size_t err_size);
cJSON *webui_auth_tokens_json(const webui_auth *a);
/* The secret is written to token (shown once, never stored).  created_by
 * is who made it; expires_wall_us is when it stops working (wall clock,
 * µs since the epoch; 0: never). */
int webui_auth_token_create(webui_auth *a, const char *name, webui_role role,
                            const char *created_by, int64_t expires_wall_us, char *token,
                            size_t token_size, char *err, size_t err_size);
/* Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)"; 0 or AVERROR(EINVAL). */
int webui_parse_iso8601(const char *text, int64_t *wall_us);
int webui_auth_token_delete(webui_auth *a, const char *id, char *err, size_t err_size);

/* ---- files.c: names from requests, MIME types, Range ---- */

/* 1 if rel (a decoded URL path below a root, no leading slash) is made of
 * plain names only: no "..", no hidden names, no '%', '\\' or controls. */
int webui_path_is_safe(const char *rel);
/* Resolves root/rel and checks it stays inside root (symlinks included)
 * and is a regular file; opens it.  Returns the fd, or -1 (404).  mtime is
 * in seconds since the epoch. */
int webui_open_confined(const char *root, const char *rel, int64_t *size, int64_t *mtime);
const char *webui_mime_type(const char *name);

typedef enum webui_range_result {
    WEBUI_RANGE_NONE = 0,        /* no Range header: whole file, 200 */
    WEBUI_RANGE_OK,              /* 206 with [first, last] */
    WEBUI_RANGE_UNSATISFIABLE,   /* 416 */
} webui_range_result;
webui_range_result webui_parse_range(const char *header, int64_t size, int64_t *first,
                                     int64_t *last);

/* ---- hosts.c: who may name us in Host and Origin ---- */

/* Applies [webui] server_names (sec may be NULL) and reads the machine's
 * names and addresses.  Returns 0 or AVERROR(EINVAL) with a config error. */
int webui_hosts_configure(lb_webui *w, const lb_config_section *sec, char *err, size_t err_size);
/* 1 if the Host header names this server; else 0 with the reason in why. */
int webui_host_allowed(lb_webui *w, const char *host_header, char *why, size_t why_size);
/* 1 if a WebSocket's Origin (none: not a browser) names this server at the
 * port of host_header; else 0 with the reason in why. */
int webui_origin_allowed(lb_webui *w, const char *origin, const char *host_header, char *why,
                         size_t why_size);

/* ---- http.c / api.c: one request ---- */

typedef enum webui_method {
    WEBUI_METHOD_INVALID = 0,
    WEBUI_GET,
    WEBUI_HEAD,
    WEBUI_POST,
    WEBUI_PUT,
    WEBUI_PATCH,
    WEBUI_DELETE,
    WEBUI_OPTIONS,
} webui_method;

typedef struct webui_header {
    char name[40];
    char value[512];
} webui_header;

typedef struct webui_event webui_event;
typedef struct webui_hash_job webui_hash_job;

/* Per-connection state (lws per-session data; zeroed by lws). */
typedef struct webui_conn {
    struct lws *wsi;
    int is_ws;

    /* request */
    webui_method method;
    char path[WEBUI_MAX_PATH];
    char ip[64];
    char range[128];
    char csrf_header[64];
    char if_modified_since[64];
    webui_principal who;
    int insecure_transport;           /* plain HTTP from another machine */
    int64_t content_length;           /* -1: none given */
    char *body;
    size_t body_len;
    int body_too_large;
    int body_completed;               /* lws said BODY_COMPLETION */
    int body_repeats;                 /* ... and said it again (http.c) */
    int dispatched;

    /* response */
    int status;
    char mime[96];
    webui_header headers[WEBUI_MAX_HEADERS];
    int nb_headers;
    char *resp;                       /* memory body, or NULL */
    size_t resp_len, resp_off;
    int fd;                           /* file body when > 0 (0 is never ours) */
    int64_t file_off, file_left;
    int64_t content_len_total;
    int headers_sent;
    int body_done;                    /* all handed to lws; waiting for its flush */
    int responding;
    int close_after;

    webui_hash_job *hash_job;         /* a password check waiting for the hasher */
    int held;                         /* a blocking playlist reload waiting (http.c) */
    int64_t held_until_us;            /* then 503 */
    int64_t want_msn;
    int want_part;                    /* -1: none asked */

    /* WebSocket /api/v1/events */
    struct webui_conn *ws_next;
    int ws_view;                      /* webui_status_view: what it may see */
    int ws_revoked;                   /* its session or token ended: close it */
    webui_event *backlog[WEBUI_CLIENT_BACKLOG];
    int backlog_head, backlog_count;
    uint64_t ws_dropped;
} webui_conn;

struct lb_webui {
    webui_auth_settings auth_settings;
    webui_auth_settings next_auth;    /* a reload's, under lock, for the loop */
    int have_next_auth;
    char next_live_dir[PATH_MAX];     /* a reload's /live/ folder, likewise */
    int have_next_live_dir;
    webui_http_settings http;
    webui_tls_settings tls_settings;
    char data_dir[PATH_MAX];
    char www_dir[PATH_MAX];
    char live_dir[PATH_MAX];          /* "" when none */
    char bind_address[64];
    const lb_control_ops *ops;        /* the loop's: changed only on it (webui_apply_settings) */
    void *opaque;
    const lb_control_ops *next_ops;   /* lb_webui_set_control()'s, under lock */
    void *next_opaque;
    int have_next_control;
    pthread_cond_t control_cond;      /* the loop took next_ops */
    webui_auth *auth;
    lb_webui_sessions *carried;       /* lb_webui_restore_sessions(): taken at start */

    /* hosts.c, webui thread only after start */
    webui_host_settings host_settings;
    char names[WEBUI_MAX_NAMES][256];
    int nb_names;
    webui_addr name_addrs[WEBUI_MAX_NAMES];
    int nb_name_addrs;
    webui_addr if_addrs[WEBUI_MAX_IF_ADDRS];
    int nb_if_addrs;
    int64_t if_addrs_us;              /* when if_addrs was read */
    int any_host;                     /* server_names = * */

    struct lws_context *ctx;
    lb_thread thread;
    atomic_int stop;
    int port;                         /* http_port as bound */
    int tls;                          /* HTTPS on https_port, http_port redirects */
    int https_port;                   /* as bound; 0 without TLS */
    int tls_hsts;                     /* the certificate is not self-signed */
    int tls_generated;                /* tls = auto made (or reused) our own */
    char tls_cert[PATH_MAX], tls_key[PATH_MAX];   /* what lws loads */
    struct lws_vhost *plain_vhost;    /* the redirecting listener (TLS only) */
    atomic_int abandoned;             /* the loop did not stop in time: see lb_webui_stop() */
    int loop_done;                    /* under lock: loop() has returned from lws */
    int64_t started_us;
    struct webui_library *library;    /* api.c: lesson.json parsed once per change */
    struct webui_recut *recut;        /* recut.c: the one re-cut at a time */
    struct webui_trash *trash;        /* trash.c: deleted lessons removed off the loop */
    char recut_exe[PATH_MAX];
    int64_t stop_timeout_us;        /* lb_webui_params */

    /* lb_webui_publish(): any thread, under lock */
    pthread_mutex_t lock;
    char *ring[WEBUI_PUBLISH_RING];
    int ring_head, ring_count;
    uint64_t ring_dropped;

    /* the hasher thread: yescrypt is slow on purpose, so logins are checked
     * off the loop; jobs under jobs_lock */
    lb_thread hasher;
    pthread_mutex_t jobs_lock;
    pthread_cond_t jobs_cond;
    webui_hash_job *jobs_todo, *jobs_done;
    int nb_jobs;
    int hasher_stop;

    /* webui thread only */
    webui_conn *ws_clients;
    uint64_t requests, ws_events_sent, ws_events_dropped;
    int64_t ws_checked_us;            /* last check of the sockets' credentials */
    webui_conn *held[WEBUI_MAX_HELD]; /* blocking playlist reloads (http.c) */
    int nb_held;
    uint64_t held_total, held_refused;
    lws_sorted_usec_list_t held_sul;
    unsigned char wbuf[LWS_PRE + WEBUI_CHUNK];     /* one header block or body chunk */
};

/* ---- tls.c: certificates, the plain listener's redirect ---- */

#define WEBUI_TLS_CERT_NAME ".luobo-tls.crt"   /* in the data folder, tls = auto */
#define WEBUI_TLS_KEY_NAME  ".luobo-tls.key"

/* Resolves the mode (no I/O): fills w->tls and the certificate paths, or a
 * config error naming the key.  tls_sec is [webui], auth_sec [auth]; either
 * may be NULL. */
int webui_tls_configure(lb_webui *w, const lb_config_section *tls_sec,
                        const lb_config_section *auth_sec, char *err, size_t err_size);
/* At start, with the data folder made: reads the configured certificate, or
 * makes (or reuses) the self-signed one.  Returns 0 or AVERROR with err. */
int webui_tls_prepare(lb_webui *w, char *err, size_t err_size);
/* On every request, before routing: notes whether the transport is
 * insecure, adds HSTS over HTTPS with a CA-issued certificate, and on the
 * plain listener of a TLS set-up answers with a redirect to HTTPS.  Returns
 * 1 when it answered (the caller only asks for the writable callback). */
int webui_tls_on_request(lb_webui *w, webui_conn *c, struct lws *wsi);
/* 1 if a WebSocket upgrade must be refused: it came to the plain listener
 * while HTTPS is on (the page that opens it is served over HTTPS). */
int webui_tls_refuse_upgrade(const lb_webui *w, struct lws *wsi);

/* Response helpers (http.c). */
void webui_respond(webui_conn *c, int status, const char *mime, char *body, size_t len);
void webui_respond_json(webui_conn *c, int status, cJSON *json);   /* takes json */
void webui_respond_error(webui_conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adds "code" and "params" to an error object whose English text msg is
 * one the catalogue knows (errcodes.c); nothing otherwise. */
void webui_error_add_code(cJSON *o, const char *msg);
void webui_add_header(webui_conn *c, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The value of the query's argument name ("q", "_HLS_msn") copied into buf,
 * or NULL when absent (or when c has no connection: the fuzz harness). */
const char *webui_query_arg(webui_conn *c, const char *name, char *buf, int size);
/* The query's argument idx ("name=value", urldecoded) copied into buf: its
 * length (0: an empty one, as in "a=1&&b=2"), -1 past the last one, -2 when
 * it does not fit in size. */
int webui_query_fragment(webui_conn *c, int idx, char *buf, int size);

/* ---- trash.c: a deleted lesson's files removed off the loop ---- */

#define WEBUI_TRASH_PREFIX ".trash-"      /* DATA_DIR/.trash-<id>-<n> */

/* Starts "lb-webui-trash", which at once removes what an earlier run left
 * in the trash (a crash between a delete's rename and the end of the
 * removal). */
int webui_trash_start(lb_webui *w);
/* Stops it (a removal under way stops between two entries; the next start
 * goes on with it).  Idempotent. */
void webui_trash_stop(lb_webui *w);
/* The web thread left behind still may call webui_trash_move(): the
 * thread is told to stop, the struct stays (leaked with the web UI). */
void webui_trash_abandon(lb_webui *w);
/* Loop thread: renames the lesson folder dir into the trash (one atomic
 * rename in the data folder) and wakes the thread to remove it (without
 * the thread, a web UI never started as in tests/fuzz/fuzz_http, removes
 * it at once).  0, or a negative AVERROR (the folder is left as it was). */
int webui_trash_move(lb_webui *w, const char *dir, const char *id);

/* ---- api.c: the library's query (GET /api/v1/recordings), apart from
 * lws so that tests/fuzz/fuzz_library can call it ---- */

#define WEBUI_QUERY_MAX_FRAGMENTS 64
#define WEBUI_QUERY_FRAGMENT_MAX 1023     /* bytes of one "key=value" */

typedef struct webui_library_query {
    char q[256], subject[64], grade[64], lesson_type[32], status[16], upload[16], from[16], to[16];
    char sort[32];
    long offset, limit;
} webui_library_query;

/* The query's fragments ("key=value" each, as webui_query_fragment() gives
 * them: split at '&', urldecoded) into lq: 0, or -400 with err naming the
 * parameter and what is wrong with it (DESIGN: "Library queries"). */
int webui_library_query_parse(const char *const *frags, int nb, webui_library_query *lq, char *err,
                              size_t err_size);
/* 1 when a lesson.json object passes lq's filters. */
int webui_library_matches(const cJSON *lesson, const webui_library_query *lq);
/* Sorts lessons by lq's sort (newest first by default; ties by id). */
void webui_library_sort(const cJSON **items, int nb, const webui_library_query *lq);

/* ---- edits.c: a finished lesson's chapters and clips ---- */

/* /api/v1/recordings/<id>/<what>: answers and returns 1 when what is
 * "chapters" (PUT) or "clips" (POST), else 0 (not ours). */
int webui_lesson_edit(lb_webui *w, webui_conn *c, const char *id, const char *what, cJSON *body);

/* ---- recut.c: shots, re-cuts and the upload version of a lesson ---- */

/* director.jsonl read back as GET shots and POST recut read it, apart
 * from the lesson folder (tests/fuzz/fuzz_director): text parsed with the
 * lesson's duration_s; *shots is GET shots' answer (NULL when the text is
 * no log of format 2: -1 then); with a camera and a duration, the edited
 * log of one edit (the middle third, *from_s to *to_s, on the first
 * camera) is written to edited_path (0, or a negative AVERROR), else 1. */
int webui_recut_log_read_back(const char *text, double duration_s, const char *edited_path, cJSON **shots,
                              double *from_s, double *to_s);
/* shots, recut, version: 1 when handled (answered) */
int webui_recut_request(lb_webui *w, webui_conn *c, const char *id, const char *what, cJSON *body);
/* a re-cut of lesson id runs: its lesson.json is the child's to write
 * (versions) until it ends, so the library's edits of it wait */
int webui_recut_running_for(lb_webui *w, const char *id);
/* ends a running re-cut (SIGTERM to the child) and joins its thread */
void webui_recut_free(lb_webui *w);
/* respond_coded of edits.c, for recut.c */
void webui_respond_coded(webui_conn *c, int status, const char *code, cJSON *params,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));


/* http.c: a complete request (method, path, headers and body in c) to its
 * handler, which fills c's response (or queues a login for the hasher). */
void webui_route(lb_webui *w, webui_conn *c);
/* Who sent a request, from its Authorization and Cookie headers ("" when
 * absent): a bearer token, else the session cookie; who is left empty when
 * neither is valid. */
void webui_identify(lb_webui *w, const char *authorization, const char *cookies,
                    webui_principal *who);

/* api.c: /api/v1/... and /metrics, once the body is complete. */
void webui_api_handle(lb_webui *w, webui_conn *c);
/* Frees the library's cache (the loop thread has ended). */
void webui_library_free(struct webui_library **pl);
/* What a client may see of the status (webui.h says what each holds).
 * Below an operator nobody sees errors, URLs, paths or outputs. */
typedef enum webui_status_view {
    WEBUI_VIEW_INVALID = 0,
    WEBUI_VIEW_PUBLIC,     /* no login (public_viewer): the lesson and whether it records */
    WEBUI_VIEW_VIEWER,     /* viewer, teacher: + live, cameras' and mics' name, role, state */
    WEBUI_VIEW_FULL,       /* operator, admin: all of it, secrets redacted */
} webui_status_view;

webui_status_view webui_status_view_for(webui_role role);
/* The status as the events socket and GET /api/v1/status show it to view. */
cJSON *webui_status_json(lb_webui *w, webui_status_view view);
/* A new copy of a full status reduced to what view may see (FULL: the
 * whole of it, every string redacted). */
cJSON *webui_status_filter(const cJSON *full, webui_status_view view);
/* Redacts every string in json, in place (lb_redact_text). */
void webui_redact_json(cJSON *json);

/* hasher.c: password checks and hashing off the loop thread */
int webui_hasher_start(lb_webui *w);
void webui_hasher_stop(lb_webui *w);

/* What the hasher hands back to the loop. */
typedef struct webui_hash_result {
    char user[64];                    /* whose password */
    char ip[64];                      /* who asked */
    int ok;                           /* the password was right (1 when none checked) */
    char new_hash[CRYPT_HASH_SIZE];   /* the new password's hash, when asked and ok */
    webui_role role;                  /* the request's, handed through (a new user's) */
} webui_hash_result;
/* Runs on the loop thread once the job is done; c is NULL when the client
 * left meanwhile (the attempt must still be counted). */
typedef void (*webui_hash_done_fn)(lb_webui *w, webui_conn *c, const webui_hash_result *r);
typedef struct webui_hash_request {
    const char *user;
    const char *password, *hash;      /* check password against hash (NULL: no check) */
    const char *new_password;         /* then hash this one (NULL: none) */
    webui_role role;                  /* handed to done() as is */
    webui_hash_done_fn done;
} webui_hash_request;
/* Queues the job for c; done() answers later, from webui_hasher_drain().
 * AVERROR(EAGAIN) when too many are waiting. */
int webui_hasher_submit(lb_webui *w, webui_conn *c, const webui_hash_request *req);
void webui_hasher_drain(lb_webui *w);
/* The connection is going away: its job, if any, must not answer it. */
void webui_hasher_forget(webui_conn *c);

/* events.c */
void webui_events_drain(lb_webui *w);              /* the publish ring to clients */
int webui_events_attach(lb_webui *w, webui_conn *c);
void webui_events_detach(lb_webui *w, webui_conn *c);
int webui_events_write(lb_webui *w, webui_conn *c);  /* one event; <0 closes */
/* Closes every event socket whose session or token has ended (revoked,
 * expired, its user deleted or changed). */
void webui_events_revalidate(lb_webui *w);

#endif
