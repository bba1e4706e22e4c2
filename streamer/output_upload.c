/* Design note: the upload output sends finished lessons to the resource
 * platform with HTTP PUT (WebDAV style), one file at a time.
 *
 * It takes no packets.  A lesson enters the queue when the streamer
 * finalises it (lesson_done); the queue is a text file (queue_file, one
 * lesson folder a line, replaced atomically), so uploads survive restarts
 * and crashes.  The work runs on the output's own thread from its idle
 * callback: one lesson at a time, files in name order with lesson.json
 * last, so the platform sees lesson.json only once the media are there.
 *
 * Resume is per file: a file whose size on the server (HEAD) already
 * matches is skipped, so an interrupted lesson continues where it stopped.
 * After each PUT a HEAD verifies the size, and a checksum when the server
 * gives one (X-Checksum-Sha256, or Digest: sha-256=).  Network errors and
 * 5xx retry with a doubling backoff (capped at retry_max_s); other 4xx
 * mark the lesson failed and move on.  The state of each lesson is written
 * to <lesson>/upload.json for the API. */
#include "streamer_priv.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <libavutil/base64.h>
#include <libavutil/sha.h>

#include "lb_clock.h"
#include "lb_log.h"
#include "lb_redact.h"

#define MAX_FILES 256

typedef struct upload_settings {
    char url[1024];
    char queue_file[1024];
    int retry_max_s;
    int timeout_s;
    char credentials[1024];
    int allow_http;
} upload_settings;

static const lb_option upload_options[] = {
    { "url", LB_OPT_STRING, offsetof(upload_settings, url), sizeof(((upload_settings *)0)->url), NULL,
      0, 0, NULL, "where lessons go: http://host/path/ (each lesson to <url>/<lesson-id>/...)" },
    { "queue_file", LB_OPT_STRING, offsetof(upload_settings, queue_file),
      sizeof(((upload_settings *)0)->queue_file), NULL, 0, 0, NULL,
      "lessons waiting for upload, kept across restarts (default DATA_DIR/.upload-queue)" },
    { "retry_max_s", LB_OPT_INT, offsetof(upload_settings, retry_max_s), 0, "30", 1, 3600, NULL,
      "longest wait between attempts (s)" },
    { "timeout_s", LB_OPT_INT, offsetof(upload_settings, timeout_s), 0, "30", 1, 3600, NULL,
      "a transfer slower than 1 kB/s for this long is abandoned (s)" },
    { "credentials", LB_OPT_STRING, offsetof(upload_settings, credentials),
      sizeof(((upload_settings *)0)->credentials), NULL, 0, 0, NULL,
      "a file (mode 0600, owned by luobo's user) with user:password (HTTP Basic) or "
      "'Bearer TOKEN' on its first line" },
    { "allow_http", LB_OPT_BOOL, offsetof(upload_settings, allow_http), 0, "false", 0, 0, NULL,
      "allow a plain http:// url (lessons and credentials cross the network in clear)" },
    { NULL },
};

typedef struct upload {
    upload_settings set;
    lb_credentials cred;
    CURL *curl;
    atomic_int stop;
    atomic_int retry_now;        /* an operator's retry: no backoff wait */
    int queue_loaded;            /* the queue file was read (under lock) */
    int64_t next_attempt_us;
    int backoff_s;
    int waiting_rewrite;         /* the queue's head waits for a .finalising marker to go */
    unsigned rewrites_seen;      /* lb_lesson_rewrites() when it was found */

    pthread_mutex_t lock;        /* queue and stats */
    int lock_init;
    char **queue;
    int nb_queue;
    char state[16];
    char last_error[256];
    uint64_t files_done, bytes_done, lessons_done, failures;
} upload;

typedef struct file_entry {
    char rel[PATH_MAX];
    char src[128];                /* the file sent under rel's name ("" = rel) */
    int64_t size;
    int64_t mtime_ms;
} file_entry;

void lb_upload_set_default_queue(void *priv, const char *path)
{
    upload *u = priv;
    if (!*u->set.queue_file)
        snprintf(u->set.queue_file, sizeof u->set.queue_file, "%s", path);
}

static void set_error(upload *u, const char *state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_error(upload *u, const char *state, const char *fmt, ...)
{
    pthread_mutex_lock(&u->lock);
    if (state)
        snprintf(u->state, sizeof u->state, "%s", state);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        lb_redact_vformat(u->last_error, sizeof u->last_error, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&u->lock);
}

static int upload_configure(void *priv, const lb_config_section *sec, char *err, size_t err_size)
{
    upload *u = priv;
    int ret = lb_config_apply(sec, upload_options, &u->set, err, err_size);
    if (ret < 0)
        return ret;
    size_t ul = strlen(u->set.url);
    if (!ul) {
        lb_config_error(sec, "url", err, err_size, "missing (the platform's http:// folder)");
        return AVERROR(EINVAL);
    }
    if (strncmp(u->set.url, "http://", 7) && strncmp(u->set.url, "https://", 8)) {
        lb_config_error(sec, "url", err, err_size, "'%s' is not an http:// or https:// URL", u->set.url);
        return AVERROR(EINVAL);
    }
    if (!strncmp(u->set.url, "http://", 7) && !u->set.allow_http) {
        lb_config_error(sec, "url", err, err_size, "a plain http:// URL needs allow_http = true "
                        "(lessons and credentials would cross the network in clear); use https://");
        return AVERROR(EINVAL);
    }
    if (*u->set.credentials) {
        char why[1200];
        if (lb_credentials_read(u->set.credentials, &u->cred, why, sizeof why) < 0) {
            lb_config_error(sec, "credentials", err, err_size, "%s", why);
            return AVERROR(EINVAL);
        }
    }
    if (u->set.url[ul - 1] != '/') {
        if (ul + 1 >= sizeof u->set.url) {
            lb_config_error(sec, "url", err, err_size, "too long");
            return AVERROR(EINVAL);
        }
        u->set.url[ul] = '/';
        u->set.url[ul + 1] = 0;
    }
    pthread_mutex_init(&u->lock, NULL);
    u->lock_init = 1;
    snprintf(u->state, sizeof u->state, "idle");
    return 0;
}

/* ---- the persistent queue ---- */

static int save_queue(upload *u)
{
    size_t len = 1;
    for (int i = 0; i < u->nb_queue; i++)
        len += strlen(u->queue[i]) + 1;
    char *text = malloc(len), *p = text;
    if (!text)
        return AVERROR(ENOMEM);
    for (int i = 0; i < u->nb_queue; i++)
        p += sprintf(p, "%s\n", u->queue[i]);
    int ret = lb_write_file_atomic(u->set.queue_file, text, (size_t)(p - text), 0644);
    free(text);
    if (ret < 0)
        LB_LOGE("upload", "%s: cannot save the queue: %s", u->set.queue_file, av_err2str(ret));
    return ret;
}

static int queue_add(upload *u, const char *dir)
{
    for (int i = 0; i < u->nb_queue; i++)
        if (!strcmp(u->queue[i], dir))
            return 0;
    char **grown = realloc(u->queue, sizeof *grown * (size_t)(u->nb_queue + 1));
    if (!grown)
        return AVERROR(ENOMEM);
    u->queue = grown;
    if (!(u->queue[u->nb_queue] = strdup(dir)))
        return AVERROR(ENOMEM);
    u->nb_queue++;
    return 0;
}

static void queue_remove(upload *u, const char *dir)
{
    for (int i = 0; i < u->nb_queue; i++) {
        if (strcmp(u->queue[i], dir))
            continue;
        free(u->queue[i]);
        memmove(u->queue + i, u->queue + i + 1, sizeof *u->queue * (size_t)(u->nb_queue - i - 1));
        u->nb_queue--;
        return;
    }
}

static void load_queue(upload *u)
{
    if (u->queue_loaded)
        return;
    if (!*u->set.queue_file)
        snprintf(u->set.queue_file, sizeof u->set.queue_file, "recordings/.upload-queue");
    u->queue_loaded = 1;
    FILE *f = fopen(u->set.queue_file, "re");
    if (!f)
        return;
    /* One folder a line, as save_queue() writes them.  A line that cannot
     * be one (a NUL inside, longer than a path) is skipped, not cut into
     * pieces that would name other folders. */
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = 0;
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        if (strlen(line) != (size_t)len || len >= PATH_MAX)
            LB_LOGW("upload", "%s: skipping a line that is no folder", u->set.queue_file);
        else if (len)
            queue_add(u, line);
    }
    free(line);
    fclose(f);
    if (u->nb_queue)
        LB_LOGI("upload", "%d lesson(s) waiting for upload from an earlier run", u->nb_queue);
}

/* ---- files of a lesson ---- */

/* The metadata files: sent after the media, lesson.json last, and always
 * sent again (an edit may keep a file's size). */
static int metadata_rank(const char *rel)
{
    return !strcmp(rel, "lesson.json") ? 2 : !strcmp(rel, "episode.xml") ||
           !strcmp(rel, LB_CHAPTERS_VTT) ? 1 : 0;
}

static int cmp_files(const void *a, const void *b)
{
    const file_entry *x = a, *y = b;
    int xr = metadata_rank(x->rel), yr = metadata_rank(y->rel);
    if (xr != yr)
        return xr - yr;
    return strcmp(x->rel, y->rel);
}

static int list_files(const char *root, const char *rel, file_entry *files, int *nb)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d)
        return AVERROR(errno);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "upload.json") ||
            (l > 4 && !strcmp(e->d_name + l - 4, ".tmp")))
            continue;
        char sub[PATH_MAX], full[PATH_MAX + 8];
        snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (stat(full, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            list_files(root, sub, files, nb);
        } else if (S_ISREG(st.st_mode) && *nb < MAX_FILES) {
            snprintf(files[*nb].rel, sizeof files[*nb].rel, "%s", sub);
            files[*nb].src[0] = 0;
            files[*nb].mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
            files[(*nb)++].size = st.st_size;
        }
    }
    closedir(d);
    return 0;
}

/* When the last whole upload of the lesson began (ms since the epoch; 0:
 * never): a media file changed since (a chapter edit remuxed program.mp4)
 * is sent again even when the platform has a file of its size. */
static int64_t read_done_from(const char *dir)
{
    char path[PATH_MAX];
    cJSON *root = NULL;
    char text[4096];
    snprintf(path, sizeof path, "%s/upload.json", dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    root = cJSON_Parse(text);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "done_from_ms");
    int64_t ms = 0;
    lb_json_int64(v, 0, LB_JSON_WALL_MS_MAX, &ms);         /* else from the start */
    cJSON_Delete(root);
    return ms;
}

/* done_from_ms: for state "done", when that upload began; else kept */
static void write_status_from(const char *dir, const char *state, int files_done, int files_total,
                              int64_t bytes_done, int64_t bytes_total, const char *error,
                              int64_t done_from_ms)
{
    char path[PATH_MAX], date[64];
    if (!done_from_ms)
        done_from_ms = read_done_from(dir);
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return;
    if (done_from_ms > 0)
        cJSON_AddNumberToObject(root, "done_from_ms", (double)done_from_ms);
    cJSON_AddStringToObject(root, "state", state);
    cJSON_AddNumberToObject(root, "files_done", files_done);
    cJSON_AddNumberToObject(root, "files_total", files_total);
    cJSON_AddNumberToObject(root, "bytes_done", (double)bytes_done);
    cJSON_AddNumberToObject(root, "bytes_total", (double)bytes_total);
    cJSON_AddStringToObject(root, "updated_at", lb_clock_iso8601(lb_clock_wall_us(), date, sizeof date));
    if (error && *error)
        cJSON_AddStringToObject(root, "last_error", error);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return;
    snprintf(path, sizeof path, "%s/upload.json", dir);
    lb_write_file_atomic(path, text, strlen(text), 0644);
    cJSON_free(text);
}

static void write_status(const char *dir, const char *state, int files_done, int files_total,
                         int64_t bytes_done, int64_t bytes_total, const char *error)
{
    write_status_from(dir, state, files_done, files_total, bytes_done, bytes_total, error, 0);
}

/* ---- HTTP ---- */

typedef struct head_info {
    int64_t length;
    char sha256_hex[65];
} head_info;

static size_t on_header(char *buf, size_t size, size_t n, void *opaque)
{
    head_info *hi = opaque;
    size_t len = size * n;
    char line[512];
    if (len >= sizeof line)
        return len;
    memcpy(line, buf, len);
    line[len] = 0;
    line[strcspn(line, "\r\n")] = 0;
    if (!strncasecmp(line, "X-Checksum-Sha256:", 18)) {
        const char *v = line + 18;
        while (*v == ' ')
            v++;
        if (strlen(v) == 64)
            snprintf(hi->sha256_hex, sizeof hi->sha256_hex, "%s", v);
    } else if (!strncasecmp(line, "Digest:", 7)) {
        const char *v = strcasestr(line, "sha-256=");
        uint8_t raw[64];
        if (v && av_base64_decode(raw, v + 8, sizeof raw) == 32)
            for (int i = 0; i < 32; i++)
                snprintf(hi->sha256_hex + 2 * i, 3, "%02x", raw[i]);
    }
    return len;
}

static size_t discard_body(char *ptr, size_t size, size_t n, void *opaque)
{
    return size * n;
}

static int on_progress(void *opaque, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    upload *u = opaque;
    return atomic_load(&u->stop);          /* non-zero aborts the transfer */
}

/* Performs one request; *status is the HTTP code.  0, or AVERROR(EIO) on a
 * network error (the message in last_error). */
static int request(upload *u, const char *method, const char *url, FILE *body, int64_t size,
                   head_info *hi, long *status)
{
    char err[CURL_ERROR_SIZE] = "";
    CURL *c = u->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1000L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)u->set.timeout_s);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, u);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, u->set.allow_http ? "http,https" : "https");
    struct curl_slist *hdrs = NULL;
    if (*u->cred.bearer_header) {
        hdrs = curl_slist_append(NULL, u->cred.bearer_header);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    } else if (*u->cred.userpwd) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, u->cred.userpwd);
    }
    if (hi) {
        memset(hi, 0, sizeof *hi);
        hi->length = -1;
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, hi);
    }
    if (!strcmp(method, "HEAD")) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READDATA, body);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    if (cc != CURLE_OK) {
        set_error(u, NULL, "%s %s: %s", method, url, *err ? err : curl_easy_strerror(cc));
        return AVERROR(EIO);
    }
    if (hi) {
        curl_off_t len = -1;
        if (curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len) == CURLE_OK)
            hi->length = len;
    }
    return 0;
}

static int sha256_file(const char *path, char hex[65])
{
    struct AVSHA *sha = av_sha_alloc();
    FILE *f = fopen(path, "rbe");
    uint8_t buf[65536], digest[32];
    int ret = 0;
    if (!sha || !f) {
        ret = AVERROR(ENOMEM);
        goto out;
    }
    av_sha_init(sha, 256);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        av_sha_update(sha, buf, n);
    av_sha_final(sha, digest);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
out:
    if (f)
        fclose(f);
    av_free(sha);
    return ret;
}

/* The URL of a file: each path component escaped. */
static int file_url(upload *u, const char *id, const char *rel, char *url, size_t size)
{
    char *eid = curl_easy_escape(u->curl, id, 0);
    if (!eid)
        return AVERROR(ENOMEM);
    size_t n = (size_t)snprintf(url, size, "%s%s/", u->set.url, eid);
    curl_free(eid);
    char comp[PATH_MAX];
    const char *p = rel;
    while (*p && n < size) {
        size_t l = strcspn(p, "/");
        memcpy(comp, p, l);
        comp[l] = 0;
        char *e = curl_easy_escape(u->curl, comp, 0);
        if (!e)
            return AVERROR(ENOMEM);
        n += (size_t)snprintf(url + n, size - n, "%s%s", e, p[l] ? "/" : "");
        curl_free(e);
        p += l + (p[l] ? 1 : 0);
    }
    return n < size ? 0 : AVERROR(ENAMETOOLONG);
}

/* lesson_done comes before the lesson's final lesson.json is written:
 * a lesson still marked "recording" is not ready. */
static int lesson_still_recording(const char *dir)
{
    char path[PATH_MAX], status[32];
    snprintf(path, sizeof path, "%s/lesson.json", dir);
    return lb_json_file_string(path, "status", status, sizeof status) == 0 &&
           !strcmp(status, "recording");
}

#define NOT_READY 2
#define WAIT_REWRITE 3            /* the .finalising marker: files being rewritten */
/* A marker no one in this process removes (another process's): looked at
 * again after this long; the removals here wake the upload at once. */
#define REWRITE_WAIT_MAX_US (60 * INT64_C(1000000))

/* lesson.json's "upload_version" (a re-cut chosen in the library): the
 * platform's program.mp4 is that file, so a platform that plays
 * program.mp4 plays the chosen version; every file also goes under its own
 * name as before (program.recut-N.mp4 among them). */
static void choose_program(const char *dir, file_entry *files, int nb)
{
    char path[PATH_MAX], chosen[128];
    struct stat st;
    snprintf(path, sizeof path, "%s/lesson.json", dir);
    if (lb_json_file_string(path, "upload_version", chosen, sizeof chosen) < 0 || !*chosen ||
        strchr(chosen, '/') || chosen[0] == '.' || !strcmp(chosen, "program.mp4"))
        return;
    snprintf(path, sizeof path, "%s/%s", dir, chosen);
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        LB_LOGW("upload", "%s: the chosen version %s is missing: program.mp4 goes as it is", dir, chosen);
        return;
    }
    for (int i = 0; i < nb; i++) {
        if (!strcmp(files[i].rel, "program.mp4")) {
            snprintf(files[i].src, sizeof files[i].src, "%s", chosen);
            files[i].size = st.st_size;
            files[i].mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        }
    }
}

/* The platform refused us: say so plainly (never with the secret). */
static void refused(upload *u, const char *method, const char *url, long status)
{
    set_error(u, NULL, "%s %s: HTTP %ld: the platform refused %s (check [output] credentials)",
              method, url, status, *u->cred.userpwd || *u->cred.bearer_header
              ? "the credentials" : "an upload without credentials");
}

/* Uploads one lesson: 0 done, 1 failed for good, NOT_READY, WAIT_REWRITE,
 * negative to retry. */
static int upload_lesson_files(upload *u, const char *dir, file_entry *files);

static int upload_lesson(upload *u, const char *dir)
{
    file_entry *files = calloc(MAX_FILES, sizeof *files);
    if (!files)
        return AVERROR(ENOMEM);
    int ret = upload_lesson_files(u, dir, files);
    free(files);
    return ret;
}

static int upload_lesson_files(upload *u, const char *dir, file_entry *files)
{
    int nb = 0, ret;
    int64_t total = 0, done_bytes = 0;
    char url[4096], path[PATH_MAX * 2];
    const char *id = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    if (!*id) {
        set_error(u, NULL, "%s: not a lesson folder", dir);
        return 1;
    }
    if ((ret = list_files(dir, "", files, &nb)) < 0) {
        set_error(u, NULL, "%s: %s", dir, av_err2str(ret));
        return 1;                           /* deleted meanwhile: nothing to do */
    }
    char marker[PATH_MAX];
    snprintf(marker, sizeof marker, "%s/" LB_FINALISING_MARKER, dir);
    /* read before looking: a removal after the look moves it */
    unsigned rewrites = lb_lesson_rewrites();
    if (lesson_still_recording(dir))
        return NOT_READY;
    if (access(marker, F_OK) == 0) {
        u->rewrites_seen = rewrites;
        return WAIT_REWRITE;                /* an edit's remux or the fast start */
    }
    qsort(files, (size_t)nb, sizeof *files, cmp_files);
    choose_program(dir, files, nb);
    for (int i = 0; i < nb; i++)
        total += files[i].size;
    /* a file changed since the last whole upload began goes again */
    int64_t started_ms = lb_clock_wall_us() / 1000, done_from_ms = read_done_from(dir);
    set_error(u, "uploading", NULL);
    write_status(dir, "uploading", 0, nb, 0, total, NULL);

    for (int i = 0; i < nb; i++) {
        const file_entry *fe = &files[i];
        head_info hi;
        long status;
        if ((ret = file_url(u, id, fe->rel, url, sizeof url)) < 0)
            return 1;
        snprintf(path, sizeof path, "%s/%s", dir, fe->src[0] ? fe->src : fe->rel);
        /* resume: what is already there with the right size stays */
        if ((ret = request(u, "HEAD", url, NULL, 0, &hi, &status)) < 0)
            goto retry;
        if (status == 401 || status == 403) {
            refused(u, "HEAD", url, status);
            goto retry;
        }
        int changed = done_from_ms > 0 && fe->mtime_ms >= done_from_ms;
        if (metadata_rank(fe->rel) || changed || !(status == 200 && hi.length == fe->size)) {
            FILE *f = fopen(path, "rbe");
            if (!f) {
                set_error(u, NULL, "%s: %s", path, strerror(errno));
                continue;                   /* vanished: skip it */
            }
            ret = request(u, "PUT", url, f, fe->size, NULL, &status);
            fclose(f);
            if (ret < 0)
                goto retry;
            if (status / 100 != 2) {
                set_error(u, NULL, "PUT %s: HTTP %ld", url, status);
                if (status == 401 || status == 403)
                    refused(u, "PUT", url, status);
                /* refused credentials may be mended on the platform's side */
                if (status >= 500 || status == 408 || status == 429 || status == 401 || status == 403)
                    goto retry;
                write_status(dir, "failed", i, nb, done_bytes, total, u->last_error);
                return 1;
            }
            if ((ret = request(u, "HEAD", url, NULL, 0, &hi, &status)) < 0)
                goto retry;
            if (status != 200 || hi.length != fe->size) {
                set_error(u, NULL, "%s: the server has %lld bytes, we sent %lld", url,
                          (long long)hi.length, (long long)fe->size);
                goto retry;
            }
            pthread_mutex_lock(&u->lock);
            u->files_done++;
            u->bytes_done += (uint64_t)fe->size;
            pthread_mutex_unlock(&u->lock);
        }
        if (*hi.sha256_hex) {
            char local[65];
            if (sha256_file(path, local) == 0 && strcasecmp(local, hi.sha256_hex)) {
                set_error(u, NULL, "%s: checksum differs from the server's", url);
                /* a HEAD size match with a wrong checksum: send it again */
                request(u, "DELETE", url, NULL, 0, NULL, &status);
                goto retry;
            }
        }
        done_bytes += fe->size;
        write_status(dir, "uploading", i + 1, nb, done_bytes, total, NULL);
    }
    write_status_from(dir, "done", nb, nb, total, total, NULL, started_ms);
    LB_LOGI("upload", "%s: uploaded and verified (%d files, %lld bytes)", id, nb, (long long)total);
    return 0;
retry:
    pthread_mutex_lock(&u->lock);
    char msg[256];
    snprintf(msg, sizeof msg, "%s", u->last_error);
    pthread_mutex_unlock(&u->lock);
    write_status(dir, "waiting", 0, nb, done_bytes, total, msg);
    return AVERROR(EAGAIN);
}

/* ---- the output ---- */

static int upload_open(void *priv, const lb_stream_desc *streams, int nb_streams, const char *dir)
{
    upload *u = priv;
    atomic_store(&u->stop, 0);
    u->next_attempt_us = 0;
    u->backoff_s = 0;
    if (!(u->curl = curl_easy_init()))
        return AVERROR(ENOMEM);
    pthread_mutex_lock(&u->lock);
    load_queue(u);
    snprintf(u->state, sizeof u->state, "%s", u->nb_queue ? "queued" : "idle");
    pthread_mutex_unlock(&u->lock);
    return 0;
}

static int upload_write(void *priv, const AVPacket *pkt)
{
    return 0;
}

static void upload_idle(void *priv)
{
    upload *u = priv;
    char dir[PATH_MAX];
    if (atomic_exchange(&u->retry_now, 0)) {
        u->next_attempt_us = 0;
        u->backoff_s = 0;
    }
    if (u->waiting_rewrite && lb_lesson_rewrites() != u->rewrites_seen)
        u->next_attempt_us = 0;              /* a marker went: perhaps this lesson's */
    if (lb_clock_now() < u->next_attempt_us || atomic_load(&u->stop))
        return;
    pthread_mutex_lock(&u->lock);
    int have = u->nb_queue > 0;
    if (have)
        snprintf(dir, sizeof dir, "%s", u->queue[0]);
    pthread_mutex_unlock(&u->lock);
    if (!have)
        return;
    int ret = upload_lesson(u, dir);
    if (atomic_load(&u->stop) && ret < 0)
        return;                              /* interrupted: resumes next run */
    if (ret == WAIT_REWRITE) {
        /* no tries meanwhile: whoever removes the marker counts it */
        if (!u->waiting_rewrite)
            LB_LOGI("upload", "%s: waits until its files are rewritten (an edit or the fast start)", dir);
        u->waiting_rewrite = 1;
        u->next_attempt_us = lb_clock_now() + REWRITE_WAIT_MAX_US;
        pthread_mutex_lock(&u->lock);
        snprintf(u->state, sizeof u->state, "waiting");
        pthread_mutex_unlock(&u->lock);
        return;
    }
    u->waiting_rewrite = 0;
    if (ret == NOT_READY) {
        /* A lesson left "recording" by a crash is repaired at start-up
         * (lb_lesson_repair_all) before it can be retried. */
        u->next_attempt_us = lb_clock_now() + 500000;
        return;
    }
    pthread_mutex_lock(&u->lock);
    if (ret >= 0) {
        queue_remove(u, dir);
        save_queue(u);
        if (ret == 0)
            u->lessons_done++;
        else
            u->failures++;
        if (ret > 0)
            LB_LOGE("upload", "%s: upload failed for good: %s", dir, u->last_error);
        snprintf(u->state, sizeof u->state, "%s", u->nb_queue ? "uploading" : "idle");
        if (ret == 0)
            u->last_error[0] = 0;            /* the alert is over */
        u->backoff_s = 0;
    } else {
        u->backoff_s = u->backoff_s ? u->backoff_s * 2 : 1;
        if (u->backoff_s > u->set.retry_max_s)
            u->backoff_s = u->set.retry_max_s;
        u->next_attempt_us = lb_clock_now() + u->backoff_s * 1000000LL;
        snprintf(u->state, sizeof u->state, "lost");
        LB_LOGW("upload", "%s; retry in %d s", u->last_error, u->backoff_s);
    }
    pthread_mutex_unlock(&u->lock);
}

static void upload_lesson_done(void *priv, const char *dir)
{
    upload *u = priv;
    if (!u->lock_init)
        return;
    pthread_mutex_lock(&u->lock);
    load_queue(u);                       /* before saving: keep an earlier run's */
    int was_queued = 0;
    for (int i = 0; i < u->nb_queue; i++)
        was_queued |= !strcmp(u->queue[i], dir);
    if (queue_add(u, dir) == 0 && save_queue(u) == 0) {
        if (!was_queued)
            write_status(dir, "queued", 0, 0, 0, 0, NULL);
        if (!strcmp(u->state, "idle"))
            snprintf(u->state, sizeof u->state, "queued");
    }
    atomic_store(&u->retry_now, 1);      /* a retry is tried now, not after the backoff */
    pthread_mutex_unlock(&u->lock);
}

static void upload_interrupt(void *priv)
{
    upload *u = priv;
    atomic_store(&u->stop, 1);
}

static void upload_stats(void *priv, lb_output_stats *out)
{
    upload *u = priv;
    if (!u->lock_init)
        return;
    pthread_mutex_lock(&u->lock);
    snprintf(out->state, sizeof out->state, "%s", u->state);
    snprintf(out->last_error, sizeof out->last_error, "%s", u->last_error);
    out->packets = u->files_done;              /* files, for this output */
    out->bytes = u->bytes_done;
    out->reconnects = u->failures;
    pthread_mutex_unlock(&u->lock);
}

static void upload_close(void *priv)
{
    upload *u = priv;
    if (u->curl)
        curl_easy_cleanup(u->curl);
    u->curl = NULL;
    if (u->lock_init)
        set_error(u, "idle", NULL);
}

static void upload_uninit(void *priv)
{
    upload *u = priv;
    for (int i = 0; i < u->nb_queue; i++)
        free(u->queue[i]);
    free(u->queue);
    u->queue = NULL;
    u->nb_queue = 0;
    if (u->lock_init)
        pthread_mutex_destroy(&u->lock);
    u->lock_init = 0;
    u->queue_loaded = 0;
    lb_credentials_clear(&u->cred);
}

const lb_output_ops lb_output_upload = {
    .kind = "upload",
    .priv_size = sizeof(upload),
    .configure = upload_configure,
    .open = upload_open,
    .write = upload_write,
    .stats = upload_stats,
    .close = upload_close,
    .stream_kinds = 0,
    .interrupt = upload_interrupt,
    .lesson_done = upload_lesson_done,
    .idle = upload_idle,
    .uninit = upload_uninit,
    .options = upload_options,
};
