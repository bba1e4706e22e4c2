/* fuzz_http: one HTTP request through luobo's handling below
 * libwebsockets: who sent it (webui_identify: bearer token, session
 * cookie), the route (webui_route: API table, /live/, /recordings/, the
 * static UI), the file checks (webui_open_confined), Range, and the JSON
 * body of every API route (webui_api_handle), against a web UI set up
 * without lws over a fake hall and real folders in a scratch directory.
 *
 * The input reads like the request lws would have parsed:
 *
 *   METHOD /path
 *   Header: value            Authorization, Cookie, Range, X-CSRF-Token,
 *   ...                      If-Modified-Since, Content-Length
 *   (empty line)
 *   body
 *
 * plus headers that only the harness reads:
 *   X-Fuzz-Login: ROLE       log a user of that role (admin, operator,
 *                            teacher, viewer) in first; "$SID" and "$CSRF"
 *                            in other headers become its session's values
 *   X-Fuzz-Auth: FLAGS       public_viewer, metrics_public, setup (no
 *                            administrator yet; "$SETUP" becomes the
 *                            one-time code)
 *   X-Fuzz-Lesson-Json: TEXT the finished lesson's lesson.json (one line)
 *   X-Fuzz-Upload-Json: TEXT and its upload.json, as the API reads them
 * API tokens of the users file are fixed: "Bearer lbt_fuzzadmin_" +
 * TOKEN_SECRET, and fuzzoper, fuzzteach, fuzzview for the other roles.
 *
 * Oracles beyond the sanitizers: an opened file lies inside the folder its
 * URL maps to and is no hidden file; /recordings/ answers only an operator,
 * /live/ only a viewer (unless public); a byte range lies inside the file;
 * a state change made with a session cookie never succeeds without its
 * CSRF token; JSON answers parse, errors as {"error": "..."}; no response
 * header carries CR or LF.
 *
 * Each input starts from the same state: a fresh web UI, and the folders
 * rebuilt after any request that may have changed them. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <crypt.h>
#include <libavutil/error.h>
#include <libavutil/mem.h>
#include <libavutil/sha.h>

#include "fuzz_common.h"
#include "lb_log.h"
#include "webui_priv.h"

#define TOKEN_SECRET "Fz3kQ9sLx0Vb7Tn2Wc5Rh8Jd4Mp6Ay1Ue_Gi-KoNqSt"
#define LESSON_DONE "20261204-204223-math-fractions"
#define LESSON_REC "20261204-204323-english-reading"

static const char *const roles[] = { NULL, "viewer", "teacher", "operator", "admin" };
static const char *const users[] = { NULL, "view", "teach", "oper", "admin" };
static const char *const token_ids[] = { NULL, "fuzzview", "fuzzteach", "fuzzoper", "fuzzadmin" };

static char top[PATH_MAX], data_dir[PATH_MAX], www_dir[PATH_MAX], live_dir[PATH_MAX];
static char secret_dir[PATH_MAX], setup_users[PATH_MAX];
static char real_data[PATH_MAX], real_www[PATH_MAX], real_live[PATH_MAX];
static char users_json[16384];

/* yescrypt at its lowest cost: the password code runs as it does in the
 * daemon, without the 100 ms per hash that would make fuzzing crawl. */
char *crypt_gensalt_ra(const char *prefix, unsigned long count, const char *rbytes, int nrbytes)
{
    static char *(*real)(const char *, unsigned long, const char *, int);
    (void)count;
    if (!real && !(real = (char *(*)(const char *, unsigned long, const char *, int))
                       dlsym(RTLD_NEXT, "crypt_gensalt_ra")))
        fuzz_fail("no crypt_gensalt_ra in libcrypt");
    return real(prefix, 1, rbytes, nrbytes);
}

/* ---- the fake hall: cheap and deterministic ---- */

static cJSON *fake_status(void *opaque)
{
    cJSON *st = cJSON_CreateObject();
    cJSON *rec = cJSON_AddObjectToObject(st, "recording");
    cJSON_AddBoolToObject(rec, "active", 1);
    cJSON_AddStringToObject(rec, "id", LESSON_REC);
    cJSON_AddStringToObject(rec, "title", "English: reading");
    cJSON_AddNumberToObject(rec, "elapsed_s", 6);
    cJSON *dir = cJSON_AddObjectToObject(st, "director");
    cJSON_AddStringToObject(dir, "mode", "auto");
    cJSON_AddStringToObject(dir, "shot", "teacher");
    cJSON_AddStringToObject(dir, "layout", "single");
    cJSON_AddArrayToObject(st, "sources");
    return st;
}

static cJSON *fake_sources(void *opaque)
{
    cJSON *arr = cJSON_CreateArray(), *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "name", "teacher");
    cJSON_AddStringToObject(s, "state", "live");
    cJSON_AddItemToArray(arr, s);
    return arr;
}

static void check_text(const char *what, const char *s, size_t size)
{
    if (!memchr(s, 0, size))
        fuzz_fail("%s reached the hall without its terminating NUL", what);
}

static int fake_recording(void *opaque, const lb_recording_request *req, char *err, size_t err_size)
{
    check_text("title", req->meta.title, sizeof req->meta.title);
    check_text("teacher", req->meta.teacher, sizeof req->meta.teacher);
    check_text("course", req->meta.course, sizeof req->meta.course);
    check_text("description", req->meta.description, sizeof req->meta.description);
    for (int i = 0; i < req->meta.nb_keywords; i++)
        check_text("keywords", req->meta.keywords[i], sizeof req->meta.keywords[i]);
    if (req->meta.nb_keywords < 0 || req->meta.nb_keywords > LB_META_MAX_KEYWORDS)
        fuzz_fail("%d keywords reached the hall", req->meta.nb_keywords);
    if (req->start && !strcmp(req->meta.title, "busy")) {
        snprintf(err, err_size, "already recording");
        return AVERROR(EBUSY);
    }
    return 0;
}

static int fake_director(void *opaque, const char *mode, const char *shot, const char *layout,
                         char *err, size_t err_size)
{
    if (strcmp(mode, "auto") && strcmp(mode, "manual"))
        fuzz_fail("the director got mode '%s'", mode);
    if (shot && strcmp(shot, "teacher") && strcmp(shot, "board")) {
        snprintf(err, err_size, "no source or role '%s'", shot);
        return AVERROR(EINVAL);
    }
    return 0;
}

static int fake_snapshot(void *opaque, const char *source, uint8_t **jpeg, size_t *size)
{
    static const uint8_t tiny[] = { 0xff, 0xd8, 0xff, 0xd9 };
    if (strcmp(source, "teacher") && strcmp(source, "program"))
        return AVERROR(ENOENT);
    if (!(*jpeg = av_malloc(sizeof tiny)))
        return AVERROR(ENOMEM);
    memcpy(*jpeg, tiny, sizeof tiny);
    *size = sizeof tiny;
    return 0;
}

static char *fake_metrics(void *opaque)
{
    return strdup("# TYPE luobo_recording gauge\nluobo_recording 1\n");
}

static cJSON *fake_alerts(void *opaque)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "alerts");
    cJSON *a = cJSON_CreateObject();
    cJSON_AddStringToObject(a, "id", "mic_silent:teacher");
    cJSON_AddStringToObject(a, "alert", "mic_silent");
    cJSON_AddStringToObject(a, "subject", "teacher");
    cJSON_AddItemToArray(arr, a);
    return o;
}

static const lb_control_ops fake_ops = {
    .status = fake_status, .sources = fake_sources, .recording = fake_recording,
    .director = fake_director, .snapshot = fake_snapshot, .metrics = fake_metrics,
    .alerts = fake_alerts,
};

/* ---- the folders ---- */

static void mkdir_or_fail(const char *path)
{
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        fuzz_fail("cannot create %s: %s", path, strerror(errno));
}

static void put(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fuzz_write_file(path, text, strlen(text));
}

static void link_or_fail(const char *target, const char *dir, const char *name)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (symlink(target, path) < 0 && errno != EEXIST)
        fuzz_fail("cannot link %s: %s", path, strerror(errno));
}

static void sha256_hex(const char *text, char out[65])
{
    uint8_t digest[32];
    struct AVSHA *sha = av_sha_alloc();
    if (!sha)
        abort();
    av_sha_init(sha, 256);
    av_sha_update(sha, (const uint8_t *)text, strlen(text));
    av_sha_final(sha, digest);
    av_free(sha);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

/* The users file: one user and one API token per role. */
static void make_users_json(void)
{
    size_t n = (size_t)snprintf(users_json, sizeof users_json, "{\"users\": [");
    for (int r = 1; r <= 4; r++) {
        struct crypt_data cd;
        char *setting = crypt_gensalt_ra("$y$", 1, NULL, 0);
        memset(&cd, 0, sizeof cd);
        const char *hash = setting ? crypt_rn("fuzz-password", setting, &cd, sizeof cd) : NULL;
        if (!hash || hash[0] == '*')
            fuzz_fail("cannot hash a password");
        n += (size_t)snprintf(users_json + n, sizeof users_json - n,
                              "%s{\"name\": \"%s\", \"role\": \"%s\", \"hash\": \"%s\"}",
                              r > 1 ? ", " : "", users[r], roles[r], hash);
        free(setting);
    }
    n += (size_t)snprintf(users_json + n, sizeof users_json - n, "], \"tokens\": [");
    for (int r = 1; r <= 4; r++) {
        char token[128], sha[65];
        snprintf(token, sizeof token, "lbt_%s_%s", token_ids[r], TOKEN_SECRET);
        sha256_hex(token, sha);
        n += (size_t)snprintf(users_json + n, sizeof users_json - n,
                              "%s{\"id\": \"%s\", \"name\": \"%s token\", \"role\": \"%s\", "
                              "\"sha256\": \"%s\", \"created_at\": \"2026-12-04T08:00:00Z\"}",
                              r > 1 ? ", " : "", token_ids[r], roles[r], roles[r], sha);
    }
    snprintf(users_json + n, sizeof users_json - n, "]}\n");
}

static const char lesson_done_json[] =
    "{\"id\": \"" LESSON_DONE "\", \"title\": \"数学 Math: fractions\", \"teacher\": \"\",\n"
    " \"course\": \"\", \"started_at\": \"2026-12-04T20:42:23+00:00\",\n"
    " \"ended_at\": \"2026-12-04T20:42:26+00:00\", \"duration_s\": 8,\n"
    " \"sources\": [{\"name\": \"teacher\", \"role\": \"teacher\", \"file\": \"iso/teacher.mp4\"}],\n"
    " \"mics\": [{\"name\": \"teacher\", \"role\": \"teacher\", \"file\": \"audio/teacher.m4a\"}],\n"
    " \"chapters\": [{\"t\": 15.4, \"title\": \"Slide 2\"}], \"status\": \"complete\"}\n";
static const char lesson_rec_json[] =
    "{\"id\": \"" LESSON_REC "\", \"title\": \"English: reading\", \"teacher\": \"\",\n"
    " \"course\": \"\", \"started_at\": \"2026-12-04T20:43:23+00:00\", \"ended_at\": null,\n"
    " \"duration_s\": 0, \"sources\": [], \"chapters\": [], \"status\": \"recording\"}\n";

/* (Re)builds the data folder as it is before every input. */
static void make_data(void)
{
    char dir[PATH_MAX * 2];
    fuzz_remove_tree(data_dir);
    mkdir_or_fail(data_dir);
    put(data_dir, ".luobo-auth.json", users_json);

    snprintf(dir, sizeof dir, "%s/%s", data_dir, LESSON_DONE);
    mkdir_or_fail(dir);
    put(dir, "lesson.json", lesson_done_json);
    put(dir, "director.jsonl",
        "{\"t\": 0.000, \"shot\": \"teacher\", \"layout\": \"single\", \"sources\": [\"teacher\"], "
        "\"reason\": \"nothing going on: teacher\"}\n");
    put(dir, "program.mp4", "not really an mp4, but 48 bytes of file content\n");
    put(dir, "upload.json", "{\"state\": \"queued\", \"files_done\": 0, \"files_total\": 0}\n");
    put(dir, ".finalising", "");
    link_or_fail("../../secret/passwd", dir, "escape.mp4");
    link_or_fail("/", dir, "root");
    snprintf(dir, sizeof dir, "%s/%s/iso", data_dir, LESSON_DONE);
    mkdir_or_fail(dir);
    put(dir, "teacher.mp4", "camera");
    snprintf(dir, sizeof dir, "%s/%s/audio", data_dir, LESSON_DONE);
    mkdir_or_fail(dir);
    put(dir, "teacher.m4a", "");

    snprintf(dir, sizeof dir, "%s/%s", data_dir, LESSON_REC);
    mkdir_or_fail(dir);
    put(dir, "lesson.json", lesson_rec_json);
    put(dir, "program.mp4", "growing");

    link_or_fail("../secret", data_dir, "20261204-000000-linked");
    snprintf(dir, sizeof dir, "%s/20261204-000000-broken", data_dir);
    mkdir_or_fail(dir);
    put(dir, "lesson.json", "[\"not an object\"]");
}

static void make_folders(const char *scratch)
{
    snprintf(top, sizeof top, "%s", scratch);
    snprintf(data_dir, sizeof data_dir, "%s/data", top);
    snprintf(www_dir, sizeof www_dir, "%s/www", top);
    snprintf(live_dir, sizeof live_dir, "%s/live", top);
    snprintf(secret_dir, sizeof secret_dir, "%s/secret", top);
    snprintf(setup_users, sizeof setup_users, "%s/setup-users.json", top);

    mkdir_or_fail(secret_dir);
    put(secret_dir, "passwd", "root:x:0:0:secret\n");
    put(secret_dir, "lesson.json", lesson_done_json);
    mkdir_or_fail(www_dir);
    put(www_dir, "index.html", "<!doctype html><title>luobo</title>\n");
    put(www_dir, "app.js", "'use strict';\n");
    put(www_dir, ".htpasswd", "hidden\n");
    link_or_fail("../secret/passwd", www_dir, "passwd.txt");
    mkdir_or_fail(live_dir);
    put(live_dir, "program.m3u8",
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1796416942\n"
        "#EXTINF:2.000,\nprogram-1796416942.ts\n");
    put(live_dir, "program-1796416942.ts", "G@\x11\x10");
    make_users_json();
    make_data();
    if (!realpath(data_dir, real_data) || !realpath(www_dir, real_www) ||
        !realpath(live_dir, real_live))
        fuzz_fail("cannot resolve the scratch folders");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const dict[] = {
        "GET ", "HEAD ", "POST ", "PUT ", "PATCH ", "DELETE ", "OPTIONS ",
        "/api/v1/session", "/api/v1/setup", "/api/v1/login", "/api/v1/logout",
        "/api/v1/password", "/api/v1/sessions", "/api/v1/alerts", "/api/v1/status", "/api/v1/recording", "/api/v1/director",
        "/api/v1/sources", "/api/v1/sources/teacher/snapshot.jpg", "/api/v1/recordings",
        "/api/v1/recordings/" LESSON_DONE, "/api/v1/recordings/" LESSON_REC, "/api/v1/users",
        "/api/v1/users/view", "/api/v1/tokens", "/api/v1/tokens/fuzzview", "/metrics",
        "/live/program.m3u8", "/recordings/" LESSON_DONE "/program.mp4", "/index.html",
        "Authorization: Bearer lbt_fuzzadmin_" TOKEN_SECRET, "Cookie: luobo_session=$SID",
        "X-CSRF-Token: $CSRF", "Range: bytes=", "If-Modified-Since: ", "Content-Length: ",
        "X-Fuzz-Login: ", "X-Fuzz-Auth: ", "X-Fuzz-Lesson-Json: ", "X-Fuzz-Upload-Json: ",
        "\"started_at\"", "\"status\"", "\"recording\"", "\"upload\"", "\"state\"", "public_viewer", "metrics_public", "setup", "$SETUP",
        "\"action\"", "\"start\"", "\"stop\"", "\"title\"", "\"teacher\"", "\"course\"",
        "\"mode\"", "\"auto\"", "\"manual\"", "\"shot\"", "\"layout\"", "\"pip\"", "\"sbs\"",
        "\"user\"", "\"password\"", "\"old\"", "\"code\"", "\"role\"", "\"name\"",
        "\"operator\"", "\"admin\"", "\"fuzz-password\"", "\\u0000", "..", "%2e", "/.",
    };
    make_folders(fuzz_scratch_dir("http"));
    fuzz_use_words(argc, argv, top, "http", dict, sizeof dict / sizeof dict[0]);
    lb_log_set_level(LB_LOG_ERROR);
    return 0;
}

/* ---- one request ---- */

typedef struct request {
    webui_method method;
    char path[WEBUI_MAX_PATH + 1];
    char authorization[4096], cookie[4096], range[4096], csrf[4096], ims[4096], length[64];
    char login[32], auth_flags[128], lesson_json[4096], upload_json[4096];
    const char *body;
    size_t body_len;
} request;

static webui_method method_of(const char *name, size_t len)
{
    static const struct { const char *name; webui_method m; } map[] = {
        { "GET", WEBUI_GET }, { "HEAD", WEBUI_HEAD }, { "POST", WEBUI_POST },
        { "PUT", WEBUI_PUT }, { "PATCH", WEBUI_PATCH }, { "DELETE", WEBUI_DELETE },
        { "OPTIONS", WEBUI_OPTIONS },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i].name) == len && !memcmp(map[i].name, name, len))
            return map[i].m;
    return WEBUI_METHOD_INVALID;
}

/* A header value as lws hands it over: empty when it does not fit. */
static void take(char *dst, size_t size, const char *v, size_t len)
{
    dst[0] = 0;
    if (len < size) {
        memcpy(dst, v, len);
        dst[len] = 0;
    }
}

/* Splits the text into request line, headers and body.  0, or -1 for text
 * that lws would never have delivered (no request line). */
static int parse_request(const char *text, size_t size, request *rq)
{
    const char *end = text + size, *p = text;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *line_end = nl ? nl : end;
    const char *sp = memchr(p, ' ', (size_t)(line_end - p));

    memset(rq, 0, sizeof *rq);
    if (!sp)
        return -1;
    rq->method = method_of(p, (size_t)(sp - p));
    take(rq->path, sizeof rq->path, sp + 1, (size_t)(line_end - sp - 1));
    if (!rq->path[0])
        return -1;
    p = nl ? nl + 1 : end;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        line_end = nl ? nl : end;
        if (line_end == p) {                  /* the empty line: the body follows */
            p++;
            break;
        }
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon) {
            size_t nlen = (size_t)(colon - p);
            const char *v = colon + 1;
            while (v < line_end && *v == ' ')
                v++;
            size_t vlen = (size_t)(line_end - v);
            static const struct { const char *name; size_t off, size; } fields[] = {
#define F(n, f) { n, offsetof(request, f), sizeof(((request *)0)->f) }
                F("authorization", authorization), F("cookie", cookie), F("range", range),
                F("x-csrf-token", csrf), F("if-modified-since", ims), F("content-length", length),
                F("x-fuzz-login", login), F("x-fuzz-auth", auth_flags),
                F("x-fuzz-lesson-json", lesson_json), F("x-fuzz-upload-json", upload_json),
#undef F
            };
            for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
                if (strlen(fields[i].name) == nlen && !strncasecmp(p, fields[i].name, nlen))
                    take((char *)rq + fields[i].off, fields[i].size, v, vlen);
        }
        p = nl ? nl + 1 : end;
    }
    rq->body = p;
    rq->body_len = (size_t)(end - p);
    return 0;
}

/* The body with every "$NAME" replaced by value, NUL-terminated as
 * on_body() leaves it (the body may hold NULs of its own). */
static char *replace(const char *body, size_t len, const char *name, const char *value,
                     size_t *out_len)
{
    size_t nl = strlen(name), vl = strlen(value), n = 0;
    char *out = malloc(len * (vl > nl ? vl : 1) + 1);
    if (!out)
        abort();
    for (size_t i = 0; i < len;) {
        if (i + nl <= len && !memcmp(body + i, name, nl)) {
            memcpy(out + n, value, vl);
            n += vl;
            i += nl;
        } else {
            out[n++] = body[i++];
        }
    }
    out[n] = 0;
    *out_len = n;
    return out;
}

static lb_webui *make_webui(const request *rq)
{
    char text[2048], err[LB_CONFIG_ERR_SIZE];
    int setup = strstr(rq->auth_flags, "setup") != NULL;
    lb_config *cfg = NULL;
    lb_webui *w = NULL;

    if (setup)
        unlink(setup_users);
    snprintf(text, sizeof text, "[general]\nhttp_port = 0\n[auth]\npublic_viewer = %s\n"
             "metrics_public = %s\n%s%s\n",
             strstr(rq->auth_flags, "public_viewer") ? "true" : "false",
             strstr(rq->auth_flags, "metrics_public") ? "true" : "false",
             setup ? "users_file = " : "", setup ? setup_users : "");
    lb_webui_params params = { .data_dir = data_dir, .www_dir = www_dir, .live_dir = live_dir,
                               .ops = &fake_ops };
    if (lb_config_load_string(&cfg, "fuzz.ini", text, err, sizeof err) < 0 ||
        !(params.cfg = cfg) || lb_webui_create(&w, &params, err, sizeof err) < 0 ||
        webui_auth_load(w->auth, err, sizeof err) < 0 ||
        webui_auth_prepare_setup(w->auth, err, sizeof err) < 0)
        fuzz_fail("cannot set up the web UI: %s", err);
    lb_config_free(&cfg);
    return w;
}

/* ---- the oracles ---- */

static int inside(const char *path, const char *root)
{
    size_t n = strlen(root);
    return !strncmp(path, root, n) && path[n] == '/';
}

static void check_file(const webui_conn *c, const webui_principal *who, int public_viewer)
{
    char link[64], real[PATH_MAX];
    const char *root = !strncmp(c->path, "/live/", 6)        ? real_live
                       : !strncmp(c->path, "/recordings/", 12) ? real_data
                                                               : real_www;
    struct stat st;
    ssize_t n;

    snprintf(link, sizeof link, "/proc/self/fd/%d", c->fd);
    if ((n = readlink(link, real, sizeof real - 1)) < 0)
        fuzz_fail("the response's fd %d is not open", c->fd);
    real[n] = 0;
    if (!inside(real, root))
        fuzz_fail("%s served %s, outside %s", c->path, real, root);
    if (strstr(real + strlen(root), "/."))
        fuzz_fail("%s served the hidden file %s", c->path, real);
    if (root == real_data && !strchr(real + strlen(root) + 1, '/'))
        fuzz_fail("%s served %s, a file of the data folder itself", c->path, real);
    if (root == real_data && who->role < WEBUI_ROLE_OPERATOR)
        fuzz_fail("%s served to role %d", c->path, who->role);
    if (root == real_live && who->role < WEBUI_ROLE_VIEWER && !public_viewer)
        fuzz_fail("%s served without login", c->path);
    if (fstat(c->fd, &st) < 0 || !S_ISREG(st.st_mode))
        fuzz_fail("%s: not a regular file", c->path);
    if (c->file_off < 0 || c->file_left < 0 || c->file_off + c->file_left > st.st_size ||
        (c->status == 206 && c->file_left < 1) ||
        (c->status == 200 && (c->file_off || c->file_left != st.st_size)) ||
        c->content_len_total != c->file_left)
        fuzz_fail("%s: bytes %lld+%lld of a %lld-byte file (status %d, range '%s')", c->path,
                  (long long)c->file_off, (long long)c->file_left, (long long)st.st_size,
                  c->status, c->range);
}

static void check_response(const webui_conn *c, const webui_principal *who, int public_viewer)
{
    if (c->hash_job)
        return;                               /* a login: the hasher answers */
    if (!c->responding || c->status < 200 || c->status > 599)
        fuzz_fail("%s: no response or status %d", c->path, c->status);
    for (int i = 0; i < c->nb_headers; i++)
        if (strpbrk(c->headers[i].name, "\r\n") || strpbrk(c->headers[i].value, "\r\n"))
            fuzz_fail("%s: header %s carries CR or LF", c->path, c->headers[i].name);
    int changes = c->method != WEBUI_GET && c->method != WEBUI_HEAD;
    if (changes && c->status < 400 && who->via == WEBUI_VIA_SESSION &&
        strcmp(c->path, "/api/v1/login") && strcmp(c->path, "/api/v1/setup") &&
        (!c->csrf_header[0] || strcmp(c->csrf_header, who->csrf)))
        fuzz_fail("%s: a state change without the CSRF token was answered %d", c->path,
                  c->status);
    if (c->fd > 0)
        check_file(c, who, public_viewer);
    if (!strcmp(c->mime, "application/json") && c->resp) {
        cJSON *json = cJSON_ParseWithLength(c->resp, c->resp_len);
        if (!json)
            fuzz_fail("%s: status %d with a body that is not JSON", c->path, c->status);
        if (c->status >= 400 && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(json, "error")))
            fuzz_fail("%s: error %d without {\"error\": \"...\"}", c->path, c->status);
        cJSON_Delete(json);
    }
}

/* Nothing outside the data folder is deleted or written through a link. */
static void check_secret(void)
{
    char path[PATH_MAX * 2], buf[64] = "";
    snprintf(path, sizeof path, "%s/passwd", secret_dir);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(buf, sizeof buf, f) || strcmp(buf, "root:x:0:0:secret\n"))
        fuzz_fail("%s was changed or removed", path);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    request rq;
    webui_conn *c;
    lb_webui *w;
    webui_principal session;
    char sid[64] = "", csrf[64] = "";

    if (parse_request((const char *)data, size, &rq) < 0)
        return -1;                            /* not a request: keep it out of the corpus */
    w = make_webui(&rq);
    int files_changed = 0;
    if (rq.lesson_json[0] || rq.upload_json[0]) {
        char dir[PATH_MAX * 2];
        snprintf(dir, sizeof dir, "%s/%s", data_dir, LESSON_DONE);
        if (rq.lesson_json[0])
            put(dir, "lesson.json", rq.lesson_json);
        if (rq.upload_json[0])
            put(dir, "upload.json", rq.upload_json);
        files_changed = 1;
    }
    memset(&session, 0, sizeof session);
    for (int r = 1; r <= 4; r++) {
        if (strcasecmp(rq.login, roles[r]))
            continue;
        if (webui_auth_login_finish(w->auth, "192.0.2.1", users[r], 1, &session) < 0)
            break;                            /* no such user: setup mode */
        snprintf(sid, sizeof sid, "%s", session.session_id);
        snprintf(csrf, sizeof csrf, "%s", session.csrf);
    }
    char *fields[] = { rq.authorization, rq.cookie, rq.csrf, (char *)NULL };
    for (int i = 0; fields[i]; i++) {
        size_t len;
        char *a = replace(fields[i], strlen(fields[i]), "$SID", sid, &len);
        char *b = replace(a, len, "$CSRF", csrf, &len);
        take(fields[i], 4096, b, len);        /* empty when too long, as lws does */
        free(a);
        free(b);
    }

    /* what on_http() and on_body() make of it */
    if (!(c = calloc(1, sizeof *c)))
        abort();
    c->method = rq.method;
    c->content_length = -1;
    snprintf(c->ip, sizeof c->ip, "192.0.2.7");
    take(c->path, sizeof c->path, rq.path, strlen(rq.path));
    take(c->range, sizeof c->range, rq.range, strlen(rq.range));
    take(c->if_modified_since, sizeof c->if_modified_since, rq.ims, strlen(rq.ims));
    take(c->csrf_header, sizeof c->csrf_header, rq.csrf, strlen(rq.csrf));
    webui_identify(w, rq.authorization, rq.cookie, &c->who);
    if (rq.length[0]) {
        char *end;
        long long v = strtoll(rq.length, &end, 10);
        c->content_length = (*end || v < 0) ? WEBUI_MAX_BODY + 1 : v;
    }
    if (c->content_length > WEBUI_MAX_BODY || rq.body_len > WEBUI_MAX_BODY) {
        c->body_too_large = 1;
    } else if (rq.body_len) {
        c->body = replace(rq.body, rq.body_len, "$SETUP", webui_auth_setup_code(w->auth),
                          &c->body_len);
    }
    if (c->path[0]) {
        webui_route(w, c);
        if (getenv("LUOBO_FUZZ_VERBOSE"))
            fprintf(stderr, "%s as %s: %d %.*s\n", c->path, webui_role_name(c->who.role),
                    c->hash_job ? 0 : c->status, c->resp ? (int)c->resp_len : 0,
                    c->resp ? c->resp : "");
        check_response(c, &c->who, w->auth_settings.public_viewer);
    }

    /* refused requests change nothing: only others need the folders rebuilt */
    int changed = files_changed || (rq.method != WEBUI_GET && rq.method != WEBUI_HEAD &&
                                    (c->status < 400 || c->status >= 500));
    webui_hasher_forget(c);
    webui_hasher_stop(w);                     /* frees a login left for the hasher */
    if (c->fd > 0)
        close(c->fd);
    free(c->resp);
    free(c->body);
    free(c);
    lb_webui_free(&w);
    if (changed) {
        check_secret();
        make_data();
    }
    return 0;
}
