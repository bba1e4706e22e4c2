/* The lesson: a recording folder with lesson.json and director.jsonl.
 *
 * lesson.json is always replaced atomically (temp file, fsync, rename, fsync
 * of the folder), so a crash or a power cut leaves either the old or the new
 * version, never a torn one.  The status "recording" in it is what
 * lb_lesson_repair_all() looks for after a crash.
 *
 * While recording, the callers are the program thread, which must never
 * wait for the disk: the rewrites for a chapter and the fdatasync of
 * director.jsonl (at most once a second, after the lines were flushed to the
 * page cache) run on the lesson's own syncer thread ("lb-lesson-io").  The
 * first lesson.json (creating the lesson) and the last one (finishing it)
 * are written at once. */
#include "streamer_priv.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lb_clock.h"
#include "lb_text.h"
#include "lb_log.h"

typedef struct chapter {
    double t_s;
    char *title;
} chapter;

/* The director's chapter titles as codes, for pages in other languages:
 * "Slide 9" also as "code": "slide", "params": {"n": "9"}. */
static const lb_text_code chapter_codes[] = {
    { "slide", "Slide %d", { "n" } },
};

static void add_chapter_code(cJSON *c, const char *title)
{
    cJSON *params = cJSON_CreateObject();
    const lb_text_code *code = params ? lb_text_code_find(title, chapter_codes, 1, params) : NULL;
    if (!code) {
        cJSON_Delete(params);
        return;
    }
    cJSON_AddStringToObject(c, "code", code->code);
    cJSON_AddItemToObject(c, "params", params);
}

typedef struct outage {
    double from_s, to_s;        /* lesson time: the recording's gap */
} outage;

typedef struct source {
    char *name;
    lb_role role;
    char *file;
    int mic;
} source;

struct lb_lesson {
    char dir[PATH_MAX];
    char id[128];
    lb_lesson_info info;
    int64_t started_wall_us;
    source *sources;
    int nb_sources;
    chapter *chapters;
    int nb_chapters;
    FILE *decisions;
    lb_syncer *io;              /* chapters' rewrites, director.jsonl's syncs */
    int decisions_sync;         /* director.jsonl's id in io */
    pthread_mutex_t lock;
    /* resume (parts.c): the gaps so far, a stop asked for, and the keys of
     * a reopened lesson.json that this code does not write itself */
    outage *outages;
    int nb_outages;
    double part_offset_s;       /* lesson time of this part's first frame */
    int stop_requested;
    char ended_by[16];          /* lesson.json's "ended_by": "stop", "shutdown", "end"; "" not yet */
    cJSON *kept;
    int marked_open;            /* in open_dirs (lb_lesson_wait_closed) */
};

#define DECISIONS_SYNC_US 1000000

/* The lessons open in this process (their folders), for the archive's
 * finaliser: it waits until the lesson's last lesson.json is written
 * (lb_lesson_finish) before it reads the chapters and tags for the files. */
#define MAX_OPEN 8
static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t open_cond = PTHREAD_COND_INITIALIZER;
static char open_dirs[MAX_OPEN][PATH_MAX];

static void mark_open(const char *dir, int open)
{
    pthread_mutex_lock(&open_lock);
    for (int i = 0; i < MAX_OPEN; i++) {
        if (open ? !open_dirs[i][0] : !strcmp(open_dirs[i], dir)) {
            if (open)
                snprintf(open_dirs[i], sizeof open_dirs[i], "%s", dir);
            else
                open_dirs[i][0] = 0;
            break;
        }
    }
    pthread_cond_broadcast(&open_cond);
    pthread_mutex_unlock(&open_lock);
}

int lb_lesson_wait_closed(const char *dir, int64_t timeout_us)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(timeout_us / 1000000);
    until.tv_nsec += (long)(timeout_us % 1000000) * 1000;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int ret = 0;
    pthread_mutex_lock(&open_lock);
    for (;;) {
        int found = 0;
        for (int i = 0; i < MAX_OPEN && !found; i++)
            found = !strcmp(open_dirs[i], dir);
        if (!found)
            break;
        if (pthread_cond_timedwait(&open_cond, &open_lock, &until) == ETIMEDOUT) {
            ret = AVERROR(ETIMEDOUT);
            break;
        }
    }
    pthread_mutex_unlock(&open_lock);
    return ret;
}

static void slug_of(const char *title, char *slug, size_t size)
{
    size_t n = 0;
    int dash = 0;
    for (const unsigned char *p = (const unsigned char *)title; *p && n + 1 < size && n < 40; p++) {
        if (isalnum(*p) && *p < 128) {
            if (dash && n)
                slug[n++] = '-';
            dash = 0;
            if (n + 1 < size)
                slug[n++] = (char)tolower(*p);
        } else {
            dash = 1;
        }
    }
    slug[n] = 0;
}

/* The folder's name after its time: the title's ASCII letters and digits.
 * A title in Chinese leaves little of it ("七年级3班 数学" gives "3"), so
 * then the timetable entry's id names the folder ("math-7-3"), else
 * "lesson". */
static void make_slug(const lb_lesson_info *info, char *slug, size_t size)
{
    slug_of(info->title, slug, size);
    int non_ascii = 0;
    for (const unsigned char *p = (const unsigned char *)info->title; *p; p++)
        non_ascii |= *p >= 128;
    if ((non_ascii && strlen(slug) < 4) || !*slug) {
        char entry[sizeof info->schedule_uid];
        snprintf(entry, sizeof entry, "%s", info->schedule_uid);
        char *at = strchr(entry, '@');
        if (at)
            *at = 0;
        char from_entry[64];
        slug_of(entry, from_entry, sizeof from_entry);
        if (*from_entry)
            snprintf(slug, size, "%s", from_entry);
    }
    if (!*slug)
        snprintf(slug, size, "lesson");
}

static cJSON *lesson_json(const lb_lesson *l, const char *status, double duration_s,
                          int64_t ended_wall_us)
{
    char buf[64];
    cJSON *root = cJSON_CreateObject(), *arr;
    if (!root)
        return NULL;
    cJSON_AddNumberToObject(root, "schema", LB_LESSON_SCHEMA);
    cJSON_AddStringToObject(root, "id", l->id);
    if (lb_meta_to_json(&l->info, LB_META_ALL, root) < 0) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddStringToObject(root, "started_at", lb_clock_iso8601(l->started_wall_us, buf, sizeof buf));
    /* started_at has whole seconds; a resumed part is placed to the ms */
    cJSON_AddNumberToObject(root, "started_at_ms", (double)(l->started_wall_us / 1000));
    if (ended_wall_us > 0) {
        cJSON_AddStringToObject(root, "ended_at", lb_clock_iso8601(ended_wall_us, buf, sizeof buf));
        cJSON_AddNumberToObject(root, "ended_at_ms", (double)(ended_wall_us / 1000));
    } else
        cJSON_AddNullToObject(root, "ended_at");
    cJSON_AddNumberToObject(root, "duration_s", duration_s);
    /* cameras in "sources" (the contract), microphones beside them in "mics" */
    for (int mic = 0; mic < 2; mic++) {
        int any = 0;
        for (int i = 0; i < l->nb_sources; i++)
            any |= l->sources[i].mic == mic;
        if ((mic && !any) || !(arr = cJSON_AddArrayToObject(root, mic ? "mics" : "sources")))
            continue;
        for (int i = 0; i < l->nb_sources; i++) {
            if (l->sources[i].mic != mic)
                continue;
            cJSON *s = cJSON_CreateObject();
            if (!s)
                continue;
            cJSON_AddStringToObject(s, "name", l->sources[i].name);
            cJSON_AddStringToObject(s, "role", lb_role_name(l->sources[i].role));
            cJSON_AddStringToObject(s, "file", l->sources[i].file);
            cJSON_AddItemToArray(arr, s);
        }
    }
    if ((arr = cJSON_AddArrayToObject(root, "chapters"))) {
        for (int i = 0; i < l->nb_chapters; i++) {
            cJSON *c = cJSON_CreateObject();
            if (!c)
                continue;
            cJSON_AddNumberToObject(c, "t", l->chapters[i].t_s);
            cJSON_AddStringToObject(c, "title", l->chapters[i].title);
            add_chapter_code(c, l->chapters[i].title);
            cJSON_AddItemToArray(arr, c);
        }
    }
    if (l->nb_outages && (arr = cJSON_AddArrayToObject(root, "outages"))) {
        for (int i = 0; i < l->nb_outages; i++) {
            cJSON *o = cJSON_CreateObject();
            if (!o)
                continue;
            cJSON_AddNumberToObject(o, "from", l->outages[i].from_s);
            cJSON_AddNumberToObject(o, "to", l->outages[i].to_s);
            cJSON_AddItemToArray(arr, o);
        }
    }
    if (l->stop_requested)
        cJSON_AddTrueToObject(root, "stop_requested");
    if (l->ended_by[0])
        cJSON_AddStringToObject(root, "ended_by", l->ended_by);
    cJSON_AddStringToObject(root, "status", status);
    /* a reopened lesson keeps what others wrote into it (metadata, the
     * timetable's keys) */
    for (const cJSON *k = l->kept ? l->kept->child : NULL; k; k = k->next) {
        cJSON *dup;
        if (k->string && !cJSON_GetObjectItemCaseSensitive(root, k->string) &&
            (dup = cJSON_Duplicate(k, 1)))
            cJSON_AddItemToObject(root, k->string, dup);
    }
    return root;
}

/* async: queued on that syncer rather than written at once. */
static int write_json(const char *dir, cJSON *root, lb_syncer *async)
{
    char path[PATH_MAX];
    if (!root)
        return AVERROR(ENOMEM);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return AVERROR(ENOMEM);
    snprintf(path, sizeof path, "%s/lesson.json", dir);
    size_t len = strlen(text);
    text[len] = '\n';                     /* the NUL becomes the final newline */
    int ret = async ? lb_syncer_write_atomic(async, path, text, len + 1, 0644)
                    : lb_write_file_atomic(path, text, len + 1, 0644);
    cJSON_free(text);
    if (ret < 0)
        LB_LOGE("lesson", "%s: cannot write: %s", path, av_err2str(ret));
    return ret;
}

static int write_lesson(const lb_lesson *l, const char *status, double duration_s,
                        int64_t ended_wall_us, lb_syncer *async)
{
    return write_json(l->dir, lesson_json(l, status, duration_s, ended_wall_us), async);
}

static int write_episode(const lb_lesson *l, int64_t ended_wall_us, lb_syncer *async)
{
    char started[64], ended[64];
    lb_clock_iso8601(l->started_wall_us, started, sizeof started);
    if (ended_wall_us > 0)
        lb_clock_iso8601(ended_wall_us, ended, sizeof ended);
    return lb_episode_write(l->dir, &l->info, started, ended_wall_us > 0 ? ended : NULL, async);
}

/* Ends the background writes (what is queued is done). */
static void stop_io(lb_lesson *l)
{
    if (!l->io)
        return;
    lb_syncer_remove(l->io, l->decisions_sync);
    lb_syncer_free(&l->io);
}

static void lesson_free(lb_lesson *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->nb_sources; i++) {
        free(l->sources[i].name);
        free(l->sources[i].file);
    }
    free(l->sources);
    for (int i = 0; i < l->nb_chapters; i++)
        free(l->chapters[i].title);
    free(l->chapters);
    free(l->outages);
    cJSON_Delete(l->kept);
    stop_io(l);
    if (l->decisions)
        fclose(l->decisions);
    if (l->marked_open)
        mark_open(l->dir, 0);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

/* The lesson's files and its writer, for a new lesson and a reopened one:
 * iso/, director.jsonl (appended), lesson.json "recording". */
static int open_files(lb_lesson *l, const lb_lesson_source *sources, int nb_sources,
                      char *err, size_t err_size)
{
    int ret;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/iso", l->dir);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
        ret = AVERROR(errno);
        snprintf(err, err_size, "%s: cannot create: %s", path, av_err2str(ret));
        return ret;
    }
    if (nb_sources > 0 && !(l->sources = calloc((size_t)nb_sources, sizeof *l->sources)))
        goto nomem;
    for (int i = 0; i < nb_sources; i++) {
        source *s = &l->sources[i];
        s->role = sources[i].role;
        s->mic = sources[i].mic;
        s->name = strdup(sources[i].name ? sources[i].name : "");
        s->file = strdup(sources[i].file ? sources[i].file : "");
        l->nb_sources++;
        if (!s->name || !s->file)
            goto nomem;
    }
    snprintf(path, sizeof path, "%s/director.jsonl", l->dir);
    if (!(l->decisions = fopen(path, "ae"))) {
        ret = AVERROR(errno);
        snprintf(err, err_size, "%s: cannot create: %s", path, av_err2str(ret));
        return ret;
    }
    /* director.jsonl's entry is made durable with lesson.json's rename */
    if ((ret = write_lesson(l, "recording", 0, 0, NULL)) < 0) {
        snprintf(err, err_size, "%s/lesson.json: cannot write: %s", l->dir, av_err2str(ret));
        return ret;
    }
    if ((ret = write_episode(l, 0, NULL)) < 0) {
        snprintf(err, err_size, "%s/episode.xml: cannot write: %s", l->dir, av_err2str(ret));
        return ret;
    }
    if ((ret = lb_syncer_create(&l->io, "lb-lesson-io")) < 0 ||
        (ret = l->decisions_sync = lb_syncer_add(l->io, fileno(l->decisions), path, 0,
                                                 DECISIONS_SYNC_US)) < 0) {
        snprintf(err, err_size, "%s: cannot start its writer: %s", l->dir, av_err2str(ret));
        return ret;
    }
    lb_log_set_lesson(l->id);           /* the journal tags the lesson's lines */
    mark_open(l->dir, 1);
    l->marked_open = 1;
    return 0;
nomem:
    snprintf(err, err_size, "lesson: out of memory");
    return AVERROR(ENOMEM);
}

int lb_lesson_create(lb_lesson **pl, const char *data_dir, const lb_lesson_info *info,
                     const lb_lesson_source *sources, int nb_sources,
                     char *err, size_t err_size)
{
    int ret;
    char slug[64], stamp[32];
    lb_lesson *l = calloc(1, sizeof *l);
    *pl = NULL;
    if (!l) {
        snprintf(err, err_size, "lesson: out of memory");
        return AVERROR(ENOMEM);
    }
    pthread_mutex_init(&l->lock, NULL);
    if (info)
        l->info = *info;
    l->started_wall_us = lb_clock_wall_us();
    time_t secs = (time_t)(l->started_wall_us / 1000000);
    struct tm tm;
    localtime_r(&secs, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    make_slug(&l->info, slug, sizeof slug);

    if ((ret = lb_mkdir_p(data_dir)) < 0) {
        snprintf(err, err_size, "%s: cannot create: %s", data_dir, av_err2str(ret));
        goto fail;
    }
    /* Two lessons started within the same second with the same title get
     * a counter rather than sharing a folder. */
    for (int n = 1;; n++) {
        if (n == 1)
            snprintf(l->id, sizeof l->id, "%s-%s", stamp, slug);
        else
            snprintf(l->id, sizeof l->id, "%s-%s-%d", stamp, slug, n);
        if ((size_t)snprintf(l->dir, sizeof l->dir, "%s/%s", data_dir, l->id) >= sizeof l->dir) {
            snprintf(err, err_size, "%s: path too long", data_dir);
            ret = AVERROR(ENAMETOOLONG);
            goto fail;
        }
        if (mkdir(l->dir, 0755) == 0)
            break;
        if (errno != EEXIST || n > 100) {
            ret = AVERROR(errno);
            snprintf(err, err_size, "%s: cannot create: %s", l->dir, av_err2str(ret));
            goto fail;
        }
    }
    if ((ret = open_files(l, sources, nb_sources, err, err_size)) < 0)
        goto fail;
    lb_fsync_dir(data_dir);               /* the lesson folder's own entry */
    LB_LOGI("lesson", "%s: recording", l->dir);
    *pl = l;
    return 0;
fail:
    lesson_free(l);
    return ret;
}

const char *lb_lesson_dir(const lb_lesson *l) { return l->dir; }
const char *lb_lesson_id(const lb_lesson *l) { return l->id; }

int lb_lesson_log_decision(lb_lesson *l, const char *json_line)
{
    int ret = 0;
    size_t len = strlen(json_line);
    while (len && (json_line[len - 1] == '\n' || json_line[len - 1] == '\r'))
        len--;
    pthread_mutex_lock(&l->lock);
    if (fwrite(json_line, 1, len, l->decisions) != len || fputc('\n', l->decisions) == EOF ||
        fflush(l->decisions) == EOF)
        ret = AVERROR(errno ? errno : EIO);
    lb_syncer_kick(l->io, l->decisions_sync);
    pthread_mutex_unlock(&l->lock);
    return ret;
}

int lb_lesson_add_chapter(lb_lesson *l, double t_s, const char *title)
{
    int ret;
    pthread_mutex_lock(&l->lock);
    chapter *grown = realloc(l->chapters, sizeof *grown * (size_t)(l->nb_chapters + 1));
    if (!grown) {
        ret = AVERROR(ENOMEM);
        goto out;
    }
    l->chapters = grown;
    if (!(grown[l->nb_chapters].title = strdup(title ? title : ""))) {
        ret = AVERROR(ENOMEM);
        goto out;
    }
    grown[l->nb_chapters++].t_s = t_s;
    ret = write_lesson(l, "recording", 0, 0, l->io);
out:
    pthread_mutex_unlock(&l->lock);
    return ret;
}

int lb_lesson_set_info(lb_lesson *l, const lb_lesson_info *info)
{
    pthread_mutex_lock(&l->lock);
    l->info = *info;
    int ret = write_lesson(l, "recording", 0, 0, l->io);
    if (ret >= 0)
        ret = write_episode(l, 0, l->io);
    pthread_mutex_unlock(&l->lock);
    LB_LOGI("lesson", "%s: metadata set (%s)", l->dir, info->title);
    return ret;
}

void lb_lesson_finish(lb_lesson **pl, double duration_s, int complete)
{
    lb_lesson *l = pl ? *pl : NULL;
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    stop_io(l);                          /* a chapter's rewrite lands before the last one */
    if (l->decisions) {
        fflush(l->decisions);
        fdatasync(fileno(l->decisions));
    }
    int64_t ended_us = lb_clock_wall_us();
    write_episode(l, ended_us, NULL);
    write_lesson(l, complete ? "complete" : "interrupted", duration_s, ended_us, NULL);
    pthread_mutex_unlock(&l->lock);
    LB_LOGI("lesson", "%s: %s, %.1f s", l->dir, complete ? "complete" : "interrupted", duration_s);
    lb_log_set_lesson(NULL);
    lesson_free(l);
    *pl = NULL;
}

int lb_lesson_json_read(const char *dir, cJSON **proot, char *err, size_t err_size)
{
    char path[PATH_MAX];
    int ret;
    char *buf = NULL;
    *proot = NULL;
    snprintf(path, sizeof path, "%s/lesson.json", dir);
    FILE *f = fopen(path, "re");
    if (!f) {
        ret = AVERROR(errno);
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return ret;
    }
    /* bounded whatever the file claims: read one byte past the limit */
    if (!(buf = malloc(LB_LESSON_JSON_MAX + 2))) {
        fclose(f);
        snprintf(err, err_size, "%s: out of memory", path);
        return AVERROR(ENOMEM);
    }
    size_t len = fread(buf, 1, LB_LESSON_JSON_MAX + 1, f);
    int read_error = ferror(f);
    fclose(f);
    if (read_error) {
        snprintf(err, err_size, "%s: read error", path);
        ret = AVERROR(EIO);
        goto fail;
    }
    if (len > LB_LESSON_JSON_MAX) {
        snprintf(err, err_size, "%s: larger than %d bytes", path, LB_LESSON_JSON_MAX);
        ret = AVERROR_INVALIDDATA;
        goto fail;
    }
    /* a NUL ends the text, as for every reader of the file (C strings) */
    buf[len] = 0;
    len = strlen(buf);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (!root) {
        snprintf(err, err_size, "%s: malformed JSON at byte %zu", path,
                 end && end >= buf ? (size_t)(end - buf) : (size_t)0);
        ret = AVERROR_INVALIDDATA;
        goto fail;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        snprintf(err, err_size, "%s: not a JSON object", path);
        ret = AVERROR_INVALIDDATA;
        goto fail;
    }
    free(buf);
    *proot = root;
    return 0;
fail:
    free(buf);
    return ret;
}

static cJSON *read_json(const char *dir)
{
    cJSON *root = NULL;
    char err[PATH_MAX + 64];
    int ret = lb_lesson_json_read(dir, &root, err, sizeof err);
    if (ret < 0 && ret != AVERROR(ENOENT))
        LB_LOGW("lesson", "%s", err);
    return root;
}

/* episode.xml from lesson.json as it is on disk (a repair, an edit). */
static int episode_from_json(const char *dir, const cJSON *root)
{
    lb_lesson_meta meta = { 0 };
    char err[256];
    lb_meta_from_json(&meta, root, LB_META_LENIENT, err, sizeof err);
    if (*err)
        LB_LOGW("lesson", "%s/lesson.json: %s (left out of episode.xml)", dir, err);
    const cJSON *started = cJSON_GetObjectItemCaseSensitive(root, "started_at");
    const cJSON *ended = cJSON_GetObjectItemCaseSensitive(root, "ended_at");
    return lb_episode_write(dir, &meta, cJSON_IsString(started) ? started->valuestring : NULL,
                            cJSON_IsString(ended) ? ended->valuestring : NULL, NULL);
}

/* Case-sensitive, as every reader looks keys up: "Status" is another member. */
static void set_number(cJSON *root, const char *key, double v)
{
    cJSON *n = cJSON_CreateNumber(v);
    if (n && !cJSON_ReplaceItemInObjectCaseSensitive(root, key, n) &&
        !cJSON_AddItemToObject(root, key, n))
        cJSON_Delete(n);
}

static void set_string(cJSON *root, const char *key, const char *v)
{
    cJSON *n = cJSON_CreateString(v);
    if (n && !cJSON_ReplaceItemInObjectCaseSensitive(root, key, n) &&
        !cJSON_AddItemToObject(root, key, n))
        cJSON_Delete(n);
}

static atomic_uint rewrites;

void lb_lesson_rewritten(void)
{
    atomic_fetch_add(&rewrites, 1);
}

unsigned lb_lesson_rewrites(void)
{
    return atomic_load(&rewrites);
}

/* A crash during the fast-start rewrite: the fragmented files are whole;
 * drop the half-written copies and the marker. */
void lb_lesson_clear_finalising(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" LB_FINALISING_MARKER, dir);
    if (access(path, F_OK) != 0)
        return;
    static const char *const subs[] = { "", "/iso", "/audio" };
    for (int sub = 0; sub < 3; sub++) {
        char folder[PATH_MAX];
        snprintf(folder, sizeof folder, "%s%s", dir, subs[sub]);
        DIR *d = opendir(folder);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            size_t l = strlen(e->d_name);
            if (l > 14 && !strcmp(e->d_name + l - 14, ".faststart.tmp")) {
                char tmp[PATH_MAX + 256];
                snprintf(tmp, sizeof tmp, "%s/%s", folder, e->d_name);
                unlink(tmp);
            }
        }
        if (d)
            closedir(d);
    }
    unlink(path);
    lb_lesson_rewritten();
    LB_LOGW("lesson", "%s: the fast-start rewrite was interrupted; the files stay fragmented", dir);
}

int lb_lesson_write_json(const char *dir, cJSON *root)
{
    return write_json(dir, root, NULL);
}

static const char *json_text(const cJSON *root, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

int lb_lesson_open(lb_lesson **pl, const char *dir, const lb_lesson_source *sources,
                   int nb_sources, int64_t first_frame_wall_us, char *err, size_t err_size)
{
    int ret = AVERROR_INVALIDDATA;
    char why[256];
    lb_lesson *l = calloc(1, sizeof *l);
    *pl = NULL;
    if (!l) {
        snprintf(err, err_size, "lesson: out of memory");
        return AVERROR(ENOMEM);
    }
    pthread_mutex_init(&l->lock, NULL);
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    const char *slash = strrchr(dir, '/');
    snprintf(l->id, sizeof l->id, "%s", slash ? slash + 1 : dir);
    if ((ret = lb_lesson_json_read(dir, &l->kept, err, err_size)) < 0)
        goto fail;
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(l->kept, "started_at_ms");
    const cJSON *outages = cJSON_GetObjectItemCaseSensitive(l->kept, "outages"), *it;
    int64_t started_ms = 0;
    if (strcmp(json_text(l->kept, "status"), "recording") ||
        lb_json_int64(ms, 1, LB_JSON_WALL_MS_MAX, &started_ms) < 0 || cJSON_GetArraySize(outages) < 1) {
        snprintf(err, err_size, "%s/lesson.json: not a lesson prepared for resuming", dir);
        goto fail;
    }
    l->started_wall_us = started_ms * 1000;
    /* its metadata as lesson.json has it now (a bad member is skipped) */
    lb_meta_from_json(&l->info, l->kept, LB_META_LENIENT, why, sizeof why);
    const cJSON *chapters = cJSON_GetObjectItemCaseSensitive(l->kept, "chapters");
    int nb = cJSON_GetArraySize(chapters), n = 0;
    if (nb > 0 && !(l->chapters = calloc((size_t)nb, sizeof *l->chapters)))
        goto nomem;
    cJSON_ArrayForEach(it, chapters) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "t");
        if (n < nb && cJSON_IsNumber(t) && (l->chapters[n].title = strdup(json_text(it, "title"))))
            l->chapters[n++].t_s = t->valuedouble;
    }
    l->nb_chapters = n;
    nb = cJSON_GetArraySize(outages);
    if (!(l->outages = calloc((size_t)nb, sizeof *l->outages)))
        goto nomem;
    cJSON_ArrayForEach(it, outages) {
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(it, "from");
        const cJSON *to = cJSON_GetObjectItemCaseSensitive(it, "to");
        if (cJSON_IsNumber(from) && cJSON_IsNumber(to))
            l->outages[l->nb_outages++] = (outage){ from->valuedouble, to->valuedouble };
    }
    if (!l->nb_outages) {
        snprintf(err, err_size, "%s/lesson.json: its outages are not numbers", dir);
        goto fail;
    }
    /* The outage noted at start-up ends now: this part's first frame is at
     * the wall time since the lesson's start. */
    outage *last = &l->outages[l->nb_outages - 1];
    double now_s = (double)((first_frame_wall_us > 0 ? first_frame_wall_us : lb_clock_wall_us()) -
                            l->started_wall_us) / 1e6;
    last->to_s = now_s > last->from_s ? now_s : last->from_s;
    l->part_offset_s = last->to_s;
    /* what this code writes itself is taken from the struct, not kept */
    static const char *const own[] = { "stop_requested", "ended_by", "ended_at", "ended_at_ms",
                                       "duration_s", "sources", "mics" };
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(l->kept, own[i]);
    if ((ret = open_files(l, sources, nb_sources, err, err_size)) < 0)
        goto fail;
    LB_LOGI("lesson", "%s: resumed at %.3f s (recording interrupted from %.3f s)", l->dir,
            last->to_s, last->from_s);
    *pl = l;
    return 0;
nomem:
    ret = AVERROR(ENOMEM);
    snprintf(err, err_size, "lesson: out of memory");
fail:
    lesson_free(l);
    return ret;
}

double lb_lesson_part_offset(const lb_lesson *l)
{
    return l->part_offset_s;
}

void lb_lesson_request_stop(lb_lesson *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    if (!l->stop_requested) {
        l->stop_requested = 1;
        if (!l->ended_by[0])
            snprintf(l->ended_by, sizeof l->ended_by, "stop");
        write_lesson(l, "recording", 0, 0, l->io);
    }
    pthread_mutex_unlock(&l->lock);
}

void lb_lesson_set_ended_by(lb_lesson *l, const char *how)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    if (!l->ended_by[0]) {
        snprintf(l->ended_by, sizeof l->ended_by, "%s", how);
        /* on disk before the archive's finaliser reads it (a lesson to be
         * resumed keeps its parts apart), behind any rewrite still queued */
        write_lesson(l, "recording", 0, 0, l->io);
        if (l->io)
            lb_syncer_flush(l->io);
    }
    pthread_mutex_unlock(&l->lock);
}

static lb_lesson_joiner joiner;

void lb_lesson_set_joiner(lb_lesson_joiner join)
{
    joiner = join;
}

int lb_lesson_has_parts(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/" LB_PARTS_DIR, dir);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int lb_lesson_join(const char *dir, const AVDictionary *tags)
{
    if (!lb_lesson_has_parts(dir))
        return 0;
    if (!joiner) {
        LB_LOGW("lesson", "%s: its parts stay apart: nothing here can join them", dir);
        return AVERROR(ENOSYS);
    }
    return joiner(dir, tags);
}

static void cut_torn(const char *path)
{
    int64_t cut = lb_mp4_cut_torn(path);
    if (cut > 0)
        LB_LOGW("lesson", "%s: its last fragment was torn (a power cut): %lld bytes cut", path,
                (long long)cut);
    else if (cut < 0 && cut != AVERROR(ENOENT))
        LB_LOGW("lesson", "%s: cannot look for a torn fragment: %s", path, av_err2str((int)cut));
}

/* A power cut can leave the last fragment of each file torn: it goes
 * before the duration is read (and before a resumed lesson's files become
 * a part), so that the files decode to their end and the duration is what
 * they hold. */
void lb_lesson_cut_torn_files(const char *dir)
{
    static const char *const subs[] = { "iso", "audio" };
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/program.mp4", dir) < sizeof path)
        cut_torn(path);
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, subs[i]) >= sizeof path)
            continue;
        DIR *d = opendir(path);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *ext = strrchr(e->d_name, '.');
            if (e->d_name[0] == '.' || !ext || (strcmp(ext, ".mp4") && strcmp(ext, ".m4a")))
                continue;
            char file[PATH_MAX];
            if ((size_t)snprintf(file, sizeof file, "%s/%s", path, e->d_name) < sizeof file)
                cut_torn(file);
        }
        closedir(d);
    }
}

/* Repairs one lesson folder; 1 if it was repaired. */
/* A re-cut's work files, which a crash left: no re-cut runs at a start
 * (the web UI's child is ended with the UI; a web UI kept through a reload
 * keeps its child, and then this is not called), but `luobo recut` run by hand
 * may, so its half-written version goes only once it has not grown for a
 * minute.  A re-cut writes to the first free N, which a crash leaves free. */
static void clear_recut_temps(const char *dir)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/" LB_RECUT_EDIT_LOG, dir);
    if (unlink(path) == 0)
        LB_LOGW("lesson", "%s: removed a re-cut's edited log a crash left", dir);
    for (int n = 1; n < 10000; n++) {
        struct stat st;
        snprintf(path, sizeof path, "%s/program.recut-%d.mp4", dir, n);
        if (access(path, F_OK) == 0)
            continue;
        snprintf(path, sizeof path, "%s/" LB_RECUT_PART_FMT, dir, n);
        if (stat(path, &st) == 0 && time(NULL) - st.st_mtim.tv_sec > 60 &&
            unlink(path) == 0)
            LB_LOGW("lesson", "%s: removed a re-cut a crash cut short (" LB_RECUT_PART_FMT ")", dir, n);
        break;
    }
}

/* A clip a crash cut short: its hidden work folder in the data folder
 * (chapters.c), unless the edit thread may be making it (a reload). */
static void clear_clip_temp(const char *data_dir, const char *name, int keep_temps)
{
    char path[PATH_MAX];
    size_t len = strlen(name), sl = strlen(LB_CLIP_TEMP_SUFFIX);
    struct stat st;
    if (name[0] != '.' || len <= 1 + sl || strcmp(name + len - sl, LB_CLIP_TEMP_SUFFIX) ||
        (size_t)snprintf(path, sizeof path, "%s/%s", data_dir, name) >= sizeof path ||
        lstat(path, &st) < 0 || !S_ISDIR(st.st_mode) || keep_temps)
        return;
    lb_remove_flat_dir(path);
    LB_LOGW("lesson", "%s: removed a clip a crash cut short", path);
}

static int repair_one(const char *dir, int keep_temps)
{
    char path[PATH_MAX], buf[64];
    if (!keep_temps) {
        lb_lesson_clear_finalising(dir);
        clear_recut_temps(dir);
    }
    cJSON *root = read_json(dir);          /* names what is wrong with it: left alone */
    if (!root)
        return 0;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    if (!cJSON_IsString(status) || strcmp(status->valuestring, "recording")) {
        cJSON_Delete(root);
        /* a crash while a resumed lesson's parts were joined: joined now,
         * with the chapters after */
        if (lb_lesson_has_parts(dir) && lb_lesson_join(dir, NULL) >= 0 && !lb_lesson_has_parts(dir))
            lb_lesson_apply_chapters(dir);
        return 0;
    }
    lb_lesson_cut_torn_files(dir);
    /* a resumed lesson: its current part starts after the last outage */
    double duration_s = 0, offset_s = lb_lesson_last_outage_end(root);
    snprintf(path, sizeof path, "%s/program.mp4", dir);
    struct stat stp;
    int have_program = stat(path, &stp) == 0;
    int64_t ended_wall_us = have_program ? (int64_t)stp.st_mtim.tv_sec * 1000000 +
                                           stp.st_mtim.tv_nsec / 1000
                                         : lb_clock_wall_us();
    if (have_program) {
        int ret = lb_media_probe_duration(path, &duration_s);
        if (ret < 0)
            LB_LOGW("lesson", "%s: cannot read: %s", path, av_err2str(ret));
    }
    duration_s += offset_s;
    set_number(root, "duration_s", duration_s);
    set_string(root, "ended_at", lb_clock_iso8601(ended_wall_us, buf, sizeof buf));
    set_string(root, "status", "interrupted");
    episode_from_json(dir, root);          /* with its end, before lesson.json says so */
    int ret = write_json(dir, root, NULL);
    if (ret < 0)
        return 0;
    LB_LOGW("lesson", "%s: was left recording (crash or power loss): marked interrupted, %.1f s",
            dir, duration_s);
    /* a resumed lesson's joined program gets its chapters (lesson time, as
     * the joined file's) as after a lesson that ended well */
    if (lb_lesson_has_parts(dir) && lb_lesson_join(dir, NULL) >= 0 && !lb_lesson_has_parts(dir))
        lb_lesson_apply_chapters(dir);
    else      /* its fragmented files stay as they are: the player's chapters */
        lb_lesson_write_chapters_vtt(dir);
    return 1;
}

int lb_lesson_edit(const char *dir, const lb_lesson_meta *meta, unsigned mask, char *err,
                   size_t err_size)
{
    cJSON *root = NULL;
    int ret = lb_lesson_json_read(dir, &root, err, err_size);
    if (ret < 0)
        return ret;
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    if (cJSON_IsString(status) && !strcmp(status->valuestring, "recording")) {
        cJSON_Delete(root);
        snprintf(err, err_size, "the lesson is being recorded");
        return AVERROR(EBUSY);
    }
    /* only the members given change: the rest of the file stays as it is */
    if (lb_meta_to_json(meta, mask, root) < 0) {
        cJSON_Delete(root);
        snprintf(err, err_size, "out of memory");
        return AVERROR(ENOMEM);
    }
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(root, "schema");
    if (!cJSON_IsNumber(schema) || schema->valuedouble < LB_LESSON_SCHEMA)
        set_number(root, "schema", LB_LESSON_SCHEMA);
    /* episode.xml first: lesson.json is what says the edit happened */
    if ((ret = episode_from_json(dir, root)) < 0) {
        cJSON_Delete(root);
        snprintf(err, err_size, "%s/episode.xml: cannot write: %s", dir, av_err2str(ret));
        return ret;
    }
    if ((ret = write_json(dir, root, NULL)) < 0) {
        snprintf(err, err_size, "%s/lesson.json: cannot write: %s", dir, av_err2str(ret));
        return ret;
    }
    LB_LOGI("lesson", "%s: metadata edited", dir);
    return 0;
}

int lb_lesson_each_shut_down(const char *data_dir, const char *keep_dir,
                             void (*each)(void *opaque, const char *dir), void *opaque)
{
    DIR *d = opendir(data_dir);
    int n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char dir[PATH_MAX], path[PATH_MAX + 16], err[PATH_MAX + 64];
        if (e->d_name[0] == '.' ||
            (size_t)snprintf(dir, sizeof dir, "%s/%s", data_dir, e->d_name) >= sizeof dir ||
            (keep_dir && !strcmp(dir, keep_dir)))
            continue;
        /* upload.json: the upload has seen it already (this runs at every start) */
        snprintf(path, sizeof path, "%s/upload.json", dir);
        if (access(path, F_OK) == 0)
            continue;
        cJSON *root = NULL;
        if (lb_lesson_json_read(dir, &root, err, sizeof err) < 0)
            continue;
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
        const cJSON *ended_by = cJSON_GetObjectItemCaseSensitive(root, "ended_by");
        int shut_down = cJSON_IsString(status) && !strcmp(status->valuestring, "complete") &&
                        cJSON_IsString(ended_by) && !strcmp(ended_by->valuestring, "shutdown");
        cJSON_Delete(root);
        if (!shut_down)
            continue;
        each(opaque, dir);
        n++;
    }
    closedir(d);
    return n;
}

int lb_lesson_repair_all(const char *data_dir)
{
    return lb_lesson_repair_each_except(data_dir, NULL, 0, NULL, NULL);
}

int lb_lesson_repair_each(const char *data_dir, void (*repaired)(void *opaque, const char *dir),
                          void *opaque)
{
    return lb_lesson_repair_each_except(data_dir, NULL, 0, repaired, opaque);
}

int lb_lesson_repair_each_except(const char *data_dir, const char *keep_dir, unsigned flags,
                                 void (*repaired)(void *opaque, const char *dir), void *opaque)
{
    DIR *d = opendir(data_dir);
    int n = 0;
    /* an edit queued before a reload runs on through it */
    int keep_temps = (flags & LB_REPAIR_KEEP_TEMPS) || lb_lesson_edits_pending() > 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') {
            clear_clip_temp(data_dir, e->d_name, keep_temps);
            continue;
        }
        char dir[PATH_MAX];
        if ((size_t)snprintf(dir, sizeof dir, "%s/%s", data_dir, e->d_name) >= sizeof dir)
            continue;
        struct stat stt;
        if (stat(dir, &stt) < 0 || !S_ISDIR(stt.st_mode))
            continue;
        if (keep_dir && !strcmp(dir, keep_dir))
            continue;
        if (repair_one(dir, keep_temps)) {
            n++;
            if (repaired)
                repaired(opaque, dir);
        }
    }
    closedir(d);
    return n;
}
