/* A finished lesson's shots and its re-cut from the library (issue #20 item 3).
 *
 *   GET  /api/v1/recordings/<id>/shots   director.jsonl's decisions as spans
 *   POST /api/v1/recordings/<id>/recut   {"edits":[{"from","to","shot","layout","with"}]}
 *   GET  /api/v1/recordings/<id>/recut   the re-cut's state and progress
 *
 * A re-cut decodes every camera and encodes the program again: minutes of
 * CPU for a long lesson.  So it runs as `luobo recut DIR --log FILE`, a
 * child process (its own address space: a crash or a leak there is not the
 * daemon's), one at a time, and a job thread here reads its progress lines
 * from a pipe and waits for it; the lws thread only reads the job's state
 * under its lock.  The edited log is the lesson's own with the edited
 * ranges replaced (pan lines inside them dropped, the shot in force at each
 * range's end put back there), kept by luobo recut as
 * director.recut-N.jsonl beside program.recut-N.mp4. */
#include "webui_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libavutil/error.h>

#include "lb_log.h"
#include "lb_thread.h"
#include "streamer.h"

#define MAX_LOG_BYTES (64 << 20)   /* a day of pan lines is ~30 MB */
#define MAX_SHOTS 4000             /* spans answered; more are cut off ("truncated") */
#define MAX_EDITS 64
#define MAX_SOURCES 16

extern char **environ;

typedef struct webui_recut {
    pthread_mutex_t lock;
    lb_thread thread;
    int started;                  /* thread to join */
    pid_t pid;                    /* the child while it runs, else 0 */
    /* under lock */
    int running;
    unsigned seq;
    char job[32], lesson[256], state[16], file[128], error[512];
    double done_s, total_s;
    int percent;
    int64_t started_at;
    /* the job thread's own */
    int fd;
    char log_path[PATH_MAX];
    lb_webui *w;
} webui_recut;

/* ---- the lesson's files ---- */

static char *read_text(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (!f)
        return NULL;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (size_t)st.st_size <= max && (buf = malloc((size_t)st.st_size + 1))) {
        *len = fread(buf, 1, (size_t)st.st_size, f);
        buf[*len] = 0;
    }
    int err = buf ? 0 : EFBIG;
    fclose(f);
    errno = err;
    return buf;
}

typedef struct lesson_log {
    cJSON **lines;                /* every line parsed, pans too */
    char **raw;                   /* and as written: cJSON would print the vcam's
                                   * 17-digit doubles rounded */
    int nb;
    cJSON *head;                  /* lines[0]: the header's keys */
    double duration_s;
    const char *sources[MAX_SOURCES], *roles[MAX_SOURCES];
    int nb_sources;
} lesson_log;

static void log_free(lesson_log *l)
{
    for (int i = 0; i < l->nb; i++) {
        cJSON_Delete(l->lines[i]);
        free(l->raw[i]);
    }
    free(l->lines);
    free(l->raw);
    memset(l, 0, sizeof *l);
}

/* director.jsonl's text into l (l->duration_s set by the caller: the
 * lesson's, raised to the last line's t): 0, or -1 when it is no log of
 * format 2 (l freed).  Lines that do not parse or have no "t" are skipped:
 * a torn last line after a power cut. */
static int parse_log(const char *text, lesson_log *l)
{
    int cap = 0;
    for (const char *s = text, *e; *s; s = e) {
        e = strchr(s, '\n');
        e = e ? e + 1 : s + strlen(s);
        if (e - s < 3)
            continue;
        if (l->nb == cap) {
            cap = cap ? cap * 2 : 256;
            cJSON **n = realloc(l->lines, (size_t)cap * sizeof *n);
            if (n)
                l->lines = n;
            char **r = realloc(l->raw, (size_t)cap * sizeof *r);
            if (r)
                l->raw = r;
            if (!n || !r)
                break;
        }
        cJSON *o = cJSON_ParseWithLength(s, (size_t)(e - s));
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "t");
        /* as luobo recut reads "t": 1e400 parses as infinity, which the
         * answer's JSON would print as null */
        if (!cJSON_IsObject(o) || !cJSON_IsNumber(t) || !(t->valuedouble >= 0 && t->valuedouble <= 1e8)) {
            cJSON_Delete(o);
            continue;
        }
        size_t n = (size_t)(e - s);
        while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
            n--;
        if (!(l->raw[l->nb] = strndup(s, n))) {
            cJSON_Delete(o);
            break;
        }
        l->lines[l->nb++] = o;
    }
    l->head = l->nb ? l->lines[0] : NULL;
    const cJSON *v = l->head ? cJSON_GetObjectItemCaseSensitive(l->head, "v") : NULL;
    const cJSON *srcs = l->head ? cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(l->head, "program"), "sources") : NULL;
    if (!cJSON_IsNumber(v) || v->valueint < 2 || !cJSON_IsArray(srcs)) {
        log_free(l);
        return -1;
    }
    const cJSON *s;
    cJSON_ArrayForEach(s, srcs) {
        const cJSON *n = cJSON_GetObjectItemCaseSensitive(s, "name"), *r = cJSON_GetObjectItemCaseSensitive(s, "role");
        if (cJSON_IsString(n) && l->nb_sources < MAX_SOURCES) {
            l->roles[l->nb_sources] = cJSON_IsString(r) ? r->valuestring : n->valuestring;
            l->sources[l->nb_sources++] = n->valuestring;
        }
    }
    if (l->nb && l->duration_s < cJSON_GetObjectItemCaseSensitive(l->lines[l->nb - 1], "t")->valuedouble)
        l->duration_s = cJSON_GetObjectItemCaseSensitive(l->lines[l->nb - 1], "t")->valuedouble;
    return 0;
}

/* lesson.json finished, director.jsonl of format 2: 0; else responded */
static int load_lesson(lb_webui *w, webui_conn *c, const char *id, char *dir, size_t dir_size, lesson_log *l)
{
    char path[PATH_MAX + 32];
    size_t len;
    memset(l, 0, sizeof *l);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "id", id);
    if (!webui_path_is_safe(id) || strchr(id, '/') ||
        snprintf(dir, dir_size, "%s/%s", w->data_dir, id) >= (int)dir_size) {
        webui_respond_coded(c, 404, "recording_unknown", p, "no recording '%s'", id);
        return -1;
    }
    cJSON *lj = NULL;
    char err[PATH_MAX + 64];
    int ret = lb_lesson_json_read(dir, &lj, err, sizeof err);
    if (ret < 0) {
        if (ret == AVERROR(ENOENT) || ret == AVERROR(ENOTDIR))
            webui_respond_coded(c, 404, "recording_unknown", p, "no recording '%s'", id);
        else
            webui_respond_coded(c, 422, "lesson_json_damaged", p, "%s/lesson.json: cannot be read", id);
        return -1;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(lj, "status");
    const cJSON *dur = cJSON_GetObjectItemCaseSensitive(lj, "duration_s");
    snprintf(path, sizeof path, "%s/.finalising", dir);
    int busy = (cJSON_IsString(st) && !strcmp(st->valuestring, "recording")) || access(path, F_OK) == 0;
    l->duration_s = cJSON_IsNumber(dur) && isfinite(dur->valuedouble) ? dur->valuedouble : 0;
    cJSON_Delete(lj);
    if (busy) {
        webui_respond_coded(c, 409, "recording_busy", p, "'%s' is being recorded", id);
        return -1;
    }
    snprintf(path, sizeof path, "%s/director.jsonl", dir);
    char *text = read_text(path, MAX_LOG_BYTES, &len);
    if (!text && errno == EFBIG) {
        cJSON_AddNumberToObject(p, "max_mb", MAX_LOG_BYTES >> 20);
        webui_respond_coded(c, 409, "recut_log_too_big", p, "'%s': director.jsonl is larger than %d MiB",
                            id, MAX_LOG_BYTES >> 20);
        return -1;
    }
    if (!text) {
        webui_respond_coded(c, 409, "recut_no_log", p, "'%s' has no decision log (director.jsonl) to re-cut", id);
        return -1;
    }
    ret = parse_log(text, l);
    free(text);
    snprintf(path, sizeof path, "%s/iso", dir);
    if (ret < 0 || access(path, F_OK) != 0) {
        log_free(l);
        webui_respond_coded(c, 409, "recut_no_log", p,
                            "'%s' has no decision log (director.jsonl) to re-cut", id);
        return -1;
    }
    cJSON_Delete(p);
    return 0;
}

static int is_pan(const cJSON *o)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "pan"));
}

static double t_of(const cJSON *o)
{
    return cJSON_GetObjectItemCaseSensitive(o, "t")->valuedouble;
}

/* ---- GET shots ---- */

static void copy_member(cJSON *to, const cJSON *from, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(from, key);
    if (m)
        cJSON_AddItemToObject(to, key, cJSON_Duplicate(m, 1));
}

/* GET shots' answer */
static cJSON *shots_json(const lesson_log *lp, const char *id)
{
    const lesson_log l = *lp;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", id);
    cJSON_AddNumberToObject(out, "duration_s", l.duration_s);
    cJSON *cams = cJSON_AddArrayToObject(out, "sources");
    for (int i = 0; i < l.nb_sources; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", l.sources[i]);
        cJSON_AddStringToObject(o, "role", l.roles[i]);
        cJSON_AddItemToArray(cams, o);
    }
    cJSON *arr = cJSON_AddArrayToObject(out, "shots");
    int n = 0, truncated = 0;
    cJSON *prev = NULL;
    for (int i = 0; i < l.nb; i++) {
        const cJSON *d = l.lines[i];
        if (is_pan(d))
            continue;
        if (n == MAX_SHOTS) {
            truncated = 1;
            break;
        }
        if (prev)
            cJSON_AddNumberToObject(prev, "end", t_of(d));
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "start", t_of(d));
        copy_member(o, d, "shot");
        copy_member(o, d, "layout");
        copy_member(o, d, "sources");
        copy_member(o, d, "reason");
        copy_member(o, d, "reasons");
        cJSON_AddItemToArray(arr, o);
        prev = o;
        n++;
    }
    if (prev)
        cJSON_AddNumberToObject(prev, "end", l.duration_s);
    if (truncated)
        cJSON_AddBoolToObject(out, "truncated", 1);
    return out;
}

static void get_shots(lb_webui *w, webui_conn *c, const char *id)
{
    char dir[PATH_MAX];
    lesson_log l;
    if (load_lesson(w, c, id, dir, sizeof dir, &l) < 0)
        return;
    cJSON *out = shots_json(&l, id);
    log_free(&l);
    webui_respond_json(c, 200, out);
}

/* ---- POST recut: the edited log ---- */

typedef struct edit {
    double from_s, to_s;
    const char *shot, *layout, *with;
    const char *role;
} edit;

static void respond_field(webui_conn *c, const char *field, const char *detail)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "field", field);
    cJSON_AddStringToObject(p, "detail", detail);
    webui_respond_coded(c, 400, "field_invalid", p, "'%s': %s", field, detail);
}

static int source_index(const lesson_log *l, const char *name)
{
    for (int i = 0; i < l->nb_sources; i++)
        if (!strcmp(l->sources[i], name))
            return i;
    return -1;
}

/* body -> edits (sorted by from, not overlapping); <0 when responded */
static int take_edits(webui_conn *c, const cJSON *body, const lesson_log *l, edit *e, int *nb)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(body, "edits");
    char field[64], detail[160];
    *nb = 0;
    if (!cJSON_IsArray(list) || !cJSON_GetArraySize(list)) {
        respond_field(c, "edits", "must be a list of {\"from\", \"to\", \"shot\", \"layout\"}, not empty");
        return -1;
    }
    if (cJSON_GetArraySize(list) > MAX_EDITS) {
        snprintf(detail, sizeof detail, "more than %d edits", MAX_EDITS);
        respond_field(c, "edits", detail);
        return -1;
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, list) {
        edit *x = &e[*nb];
        const cJSON *from = cJSON_GetObjectItemCaseSensitive(o, "from"), *to = cJSON_GetObjectItemCaseSensitive(o, "to");
        const cJSON *shot = cJSON_GetObjectItemCaseSensitive(o, "shot");
        const cJSON *layout = cJSON_GetObjectItemCaseSensitive(o, "layout");
        const cJSON *with = cJSON_GetObjectItemCaseSensitive(o, "with");
        const char *bad = NULL, *what = NULL;
        int i = *nb;
        if (!cJSON_IsNumber(from) || !isfinite(from->valuedouble) || from->valuedouble < 0 ||
            from->valuedouble >= l->duration_s)
            bad = "from", what = "must be a time in seconds within the lesson";
        else if (!cJSON_IsNumber(to) || !isfinite(to->valuedouble) || to->valuedouble > l->duration_s + 0.001)
            bad = "to", what = "must be a time in seconds within the lesson";
        else if (to->valuedouble <= from->valuedouble)
            bad = "to", what = "must be after 'from'";
        else if (!cJSON_IsString(shot) || source_index(l, shot->valuestring) < 0)
            bad = "shot", what = "must be one of the lesson's cameras";
        else if (layout && (!cJSON_IsString(layout) || (strcmp(layout->valuestring, "single") &&
                                                         strcmp(layout->valuestring, "pip") &&
                                                         strcmp(layout->valuestring, "sbs"))))
            bad = "layout", what = "must be \"single\", \"pip\" or \"sbs\"";
        else if (layout && strcmp(layout->valuestring, "single") &&
                 (!cJSON_IsString(with) || source_index(l, with->valuestring) < 0 ||
                  !strcmp(with->valuestring, shot->valuestring)))
            bad = "with", what = "pip and sbs need a second camera of the lesson";
        else if (i && from->valuedouble < e[i - 1].to_s)
            bad = "from", what = "edits must be in time order and not overlap";
        if (bad) {
            snprintf(field, sizeof field, "edits[%d].%s", i, bad);
            respond_field(c, field, what);
            return -1;
        }
        x->from_s = round(from->valuedouble * 1000) / 1000;
        x->to_s = round(fmin(to->valuedouble, l->duration_s) * 1000) / 1000;
        x->shot = shot->valuestring;
        x->role = l->roles[source_index(l, shot->valuestring)];
        x->layout = layout ? layout->valuestring : "single";
        x->with = strcmp(x->layout, "single") ? with->valuestring : NULL;
        (*nb)++;
    }
    return 0;
}

static int write_line(FILE *f, cJSON *o)
{
    char *s = cJSON_PrintUnformatted(o);
    int ret = s && fprintf(f, "%s\n", s) > 0 ? 0 : -1;
    free(s);
    return ret;
}

static cJSON *decision_at(const lesson_log *l, double t_s)
{
    cJSON *in_force = NULL;
    for (int i = 0; i < l->nb && t_of(l->lines[i]) <= t_s + 0.0005; i++)
        in_force = l->lines[i];
    return in_force;
}

static int write_edit(FILE *f, const edit *e)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "t", e->from_s);
    cJSON_AddStringToObject(o, "shot", e->role);
    cJSON_AddStringToObject(o, "layout", e->layout);
    cJSON *s = cJSON_AddArrayToObject(o, "sources");
    cJSON_AddItemToArray(s, cJSON_CreateString(e->shot));
    if (e->with)
        cJSON_AddItemToArray(s, cJSON_CreateString(e->with));
    cJSON_AddStringToObject(o, "reason", "operator: re-cut");
    /* the director's code for it (LB_REASON_OPERATOR_RECUT), for pages in
     * other languages, as on the director's own lines */
    cJSON *codes = cJSON_AddArrayToObject(o, "reasons"), *code = cJSON_CreateObject();
    cJSON_AddStringToObject(code, "code", "operator_recut");
    cJSON_AddItemToObject(code, "params", cJSON_CreateObject());
    cJSON_AddItemToArray(codes, code);
    int ret = write_line(f, o);
    cJSON_Delete(o);
    return ret;
}

/* at an edit's end, the line in force there in the lesson's log (a pan
 * line's state too: the virtual camera's framing at that moment) */
static int write_back(FILE *f, const lesson_log *l, const edit *e)
{
    const cJSON *back = decision_at(l, e->to_s);
    if (!back || e->to_s >= l->duration_s)
        return 0;
    cJSON *d = cJSON_Duplicate(back, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(d, "t", cJSON_CreateNumber(e->to_s));
    static const char *const drop[] = { "pan", "format", "v", "program", "t0_us" };
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(d, drop[i]);
    int ret = write_line(f, d);
    cJSON_Delete(d);
    return ret;
}

/* the lesson's log with each edit's range replaced: inside a range every
 * line (decisions and pans) gives way to the edit's one decision, and at
 * its end the shot in force there comes back.  luobo recut takes the
 * header from director.jsonl itself, so the edited file may start with an
 * edit. */
static int write_edited(const char *path, const lesson_log *l, const edit *e, int nb)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return AVERROR(errno);
    int ret = 0, k = 0, started = 0;
    for (int i = 0; i < l->nb && ret == 0; i++) {
        double t = t_of(l->lines[i]);
        while (k < nb && e[k].from_s <= t + 0.0005) {
            if (!started)
                ret |= write_edit(f, &e[k]);
            started = 1;
            if (e[k].to_s > t + 0.0005)
                break;
            ret |= write_back(f, l, &e[k]);
            k++;
            started = 0;
        }
        if (k < nb && started)
            continue;             /* inside the range: replaced */
        ret |= fprintf(f, "%s\n", l->raw[i]) < 0;
    }
    for (; k < nb && ret == 0; k++, started = 0) {
        if (!started)
            ret |= write_edit(f, &e[k]);
        ret |= write_back(f, l, &e[k]);
    }
    if (fclose(f) != 0 || ret)
        return AVERROR(EIO);
    return 0;
}

int webui_recut_log_read_back(const char *text, double duration_s, const char *edited_path, cJSON **shots,
                              double *from_s, double *to_s)
{
    lesson_log l;
    memset(&l, 0, sizeof l);
    l.duration_s = duration_s;
    *shots = NULL;
    if (parse_log(text, &l) < 0)
        return -1;
    *shots = shots_json(&l, "fuzz");
    int ret = 0;
    if (l.nb_sources && l.duration_s > 0.01 && isfinite(l.duration_s)) {
        /* the middle third shown from the first camera, as take_edits()
         * would make it */
        edit e = { round(l.duration_s / 3 * 1000) / 1000, round(l.duration_s * 2 / 3 * 1000) / 1000,
                   l.sources[0], "single", NULL, l.roles[0] };
        *from_s = e.from_s;
        *to_s = e.to_s;
        ret = e.to_s > e.from_s ? write_edited(edited_path, &l, &e, 1) : 1;
    } else {
        ret = 1;
    }
    log_free(&l);
    return ret;
}

/* ---- the job: luobo recut as a child, its progress from a pipe ---- */

static void publish_state(webui_recut *r)
{
    char ev[1024];
    pthread_mutex_lock(&r->lock);
    snprintf(ev, sizeof ev, "{\"type\":\"recut\",\"job\":\"%s\",\"id\":\"%s\",\"state\":\"%s\",\"percent\":%d}",
             r->job, r->lesson, r->state, r->percent);
    pthread_mutex_unlock(&r->lock);
    lb_webui_publish(r->w, ev);
}

/* "luobo recut: 3.0 of 12.0 s (25%), 4.10x real time", the output's path
 * on stdout, and on failure "luobo recut: <why>" */
static void take_line(webui_recut *r, const char *line)
{
    double done_s, total_s;
    int pct;
    const char *prefix = "luobo recut: ";
    pthread_mutex_lock(&r->lock);
    if (sscanf(line, "luobo recut: %lf of %lf s (%d%%)", &done_s, &total_s, &pct) == 3) {
        r->done_s = done_s;
        r->total_s = total_s;
        r->percent = pct < 0 ? 0 : pct > 100 ? 100 : pct;
    } else if (line[0] == '/' && strlen(line) > 4 && !strcmp(line + strlen(line) - 4, ".mp4")) {
        const char *base = strrchr(line, '/') + 1;
        snprintf(r->file, sizeof r->file, "%s", base);
    } else if (!strncmp(line, prefix, strlen(prefix)) && strncmp(line + strlen(prefix), "wrote ", 6)) {
        snprintf(r->error, sizeof r->error, "%s", line + strlen(prefix));
    }
    pthread_mutex_unlock(&r->lock);
}

static void *job_main(void *arg)
{
    webui_recut *r = arg;
    char buf[4096];
    size_t have = 0;
    int last_pct = -1;
    for (;;) {
        ssize_t n = read(r->fd, buf + have, sizeof buf - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = 0;
        char *s = buf, *e;
        while ((e = strpbrk(s, "\r\n"))) {
            *e = 0;
            take_line(r, s);
            s = e + 1;
        }
        have = strlen(s);
        memmove(buf, s, have + 1);
        if (have == sizeof buf - 1)
            have = 0;                 /* a line longer than the buffer: not ours */
        pthread_mutex_lock(&r->lock);
        int pct = r->percent;
        pthread_mutex_unlock(&r->lock);
        if (pct / 10 != last_pct / 10) {
            last_pct = pct;
            publish_state(r);
        }
    }
    close(r->fd);
    int status = 0;
    while (waitpid(r->pid, &status, 0) < 0 && errno == EINTR)
        ;
    unlink(r->log_path);
    pthread_mutex_lock(&r->lock);
    r->pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && r->file[0]) {
        snprintf(r->state, sizeof r->state, "done");
        r->percent = 100;
        r->error[0] = 0;
    } else {
        snprintf(r->state, sizeof r->state, "failed");
        if (!r->error[0])
            snprintf(r->error, sizeof r->error, "luobo recut %s %d", WIFSIGNALED(status) ? "was killed by signal" :
                     "exited", WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
    }
    r->running = 0;
    LB_LOGI("webui", "re-cut %s of %s: %s %s", r->job, r->lesson, r->state, r->state[0] == 'd' ? r->file : r->error);
    pthread_mutex_unlock(&r->lock);
    publish_state(r);
    return NULL;
}

static cJSON *job_json(webui_recut *r)
{
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&r->lock);
    cJSON_AddStringToObject(o, "job", r->job);
    cJSON_AddStringToObject(o, "id", r->lesson);
    cJSON_AddStringToObject(o, "state", r->state);
    cJSON_AddNumberToObject(o, "percent", r->percent);
    cJSON_AddNumberToObject(o, "done_s", r->done_s);
    cJSON_AddNumberToObject(o, "total_s", r->total_s);
    if (r->file[0])
        cJSON_AddStringToObject(o, "file", r->file);
    if (r->error[0])
        cJSON_AddStringToObject(o, "error", r->error);
    pthread_mutex_unlock(&r->lock);
    return o;
}

static webui_recut *job_of(lb_webui *w)
{
    if (!w->recut && (w->recut = calloc(1, sizeof *w->recut)))
        pthread_mutex_init(&w->recut->lock, NULL);
    return w->recut;
}

static void post_recut(lb_webui *w, webui_conn *c, const char *id, cJSON *body)
{
    char dir[PATH_MAX];
    lesson_log l;
    edit e[MAX_EDITS];
    int nb, ret, fds[2] = { -1, -1 };
    webui_recut *r = job_of(w);
    if (!r) {
        webui_respond_coded(c, 500, "internal", NULL, "out of memory");
        return;
    }
    pthread_mutex_lock(&r->lock);
    int running = r->running;
    pthread_mutex_unlock(&r->lock);
    if (running) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "id", r->lesson);
        webui_add_header(c, "Retry-After", "10");
        webui_respond_coded(c, 409, "recut_running", p, "a re-cut of '%s' is running; one at a time", r->lesson);
        return;
    }
    if (load_lesson(w, c, id, dir, sizeof dir, &l) < 0)
        return;
    if (take_edits(c, body, &l, e, &nb) < 0) {
        log_free(&l);
        return;
    }
    if (r->started) {
        lb_thread_join(&r->thread);   /* ended: running is 0 */
        r->started = 0;
    }
    snprintf(r->log_path, sizeof r->log_path, "%s/.recut-edit.jsonl", dir);
    ret = write_edited(r->log_path, &l, e, nb);
    log_free(&l);
    if (ret < 0) {
        webui_respond_coded(c, 500, "internal", NULL, "%s: cannot write the edited log: %s", id, av_err2str(ret));
        return;
    }
    posix_spawn_file_actions_t fa;
    char *argv[] = { "luobo", "recut", dir, "--log", r->log_path, NULL };
    pid_t pid = 0;
    if (pipe2(fds, O_CLOEXEC) < 0) {
        ret = AVERROR(errno);
    } else {
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
        posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        /* the daemon's threads block or ignore signals it takes by signalfd */
        posix_spawnattr_t at;
        sigset_t none, deflt;
        sigemptyset(&none);
        sigemptyset(&deflt);
        sigaddset(&deflt, SIGTERM);
        sigaddset(&deflt, SIGINT);
        sigaddset(&deflt, SIGPIPE);
        sigaddset(&deflt, SIGHUP);
        posix_spawnattr_init(&at);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &deflt);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        int err = posix_spawn(&pid, w->recut_exe, &fa, &at, argv, environ);
        posix_spawnattr_destroy(&at);
        posix_spawn_file_actions_destroy(&fa);
        close(fds[1]);
        ret = err ? AVERROR(err) : 0;
    }
    if (ret < 0) {
        if (fds[0] >= 0)
            close(fds[0]);
        unlink(r->log_path);
        webui_respond_coded(c, 500, "internal", NULL, "cannot run %s recut: %s", w->recut_exe, av_err2str(ret));
        return;
    }
    pthread_mutex_lock(&r->lock);
    r->seq++;
    snprintf(r->job, sizeof r->job, "recut-%u-%lld", r->seq, (long long)time(NULL));
    snprintf(r->lesson, sizeof r->lesson, "%s", id);
    snprintf(r->state, sizeof r->state, "running");
    r->file[0] = r->error[0] = 0;
    r->done_s = r->total_s = 0;
    r->percent = 0;
    r->pid = pid;
    r->fd = fds[0];
    r->w = w;
    r->running = 1;
    pthread_mutex_unlock(&r->lock);
    if ((ret = lb_thread_start(&r->thread, "lb-recut-job", job_main, r)) < 0) {
        kill(pid, SIGTERM);
        r->fd = -1;
        close(fds[0]);
        waitpid(pid, NULL, 0);
        unlink(r->log_path);
        pthread_mutex_lock(&r->lock);
        r->running = 0;
        snprintf(r->state, sizeof r->state, "failed");
        pthread_mutex_unlock(&r->lock);
        webui_respond_coded(c, 500, "internal", NULL, "cannot start the re-cut's thread");
        return;
    }
    r->started = 1;
    LB_LOGI("webui", "%s started the re-cut %s of %s (%d edits)", c->who.user, r->job, id, nb);
    webui_respond_json(c, 202, job_json(r));
}

static void get_recut(lb_webui *w, webui_conn *c, const char *id)
{
    webui_recut *r = w->recut;
    int ours = 0;
    if (r) {
        pthread_mutex_lock(&r->lock);
        ours = r->job[0] && !strcmp(r->lesson, id);
        pthread_mutex_unlock(&r->lock);
    }
    if (!ours) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "state", "none");
        webui_respond_json(c, 200, o);
        return;
    }
    webui_respond_json(c, 200, job_json(r));
}

int webui_recut_running_for(lb_webui *w, const char *id)
{
    webui_recut *r = w->recut;
    int running = 0;
    if (r) {
        pthread_mutex_lock(&r->lock);
        running = r->running && !strcmp(r->lesson, id);
        pthread_mutex_unlock(&r->lock);
    }
    return running;
}

void webui_recut_free(lb_webui *w)
{
    webui_recut *r = w->recut;
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    if (r->pid > 0)
        kill(r->pid, SIGTERM);        /* the child removes its half-written output */
    pthread_mutex_unlock(&r->lock);
    if (r->started)
        lb_thread_join(&r->thread);
    pthread_mutex_destroy(&r->lock);
    free(r);
    w->recut = NULL;
}

/* ---- PUT version: which version the platform gets as program.mp4 ---- */

static void put_version(lb_webui *w, webui_conn *c, const char *id, cJSON *body)
{
    char dir[PATH_MAX], err[512] = "", path[PATH_MAX + 160];
    cJSON *root = NULL, *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "id", id);
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(body, "file");
    if (!webui_path_is_safe(id) || strchr(id, '/') ||
        snprintf(dir, sizeof dir, "%s/%s", w->data_dir, id) >= (int)sizeof dir) {
        webui_respond_coded(c, 404, "recording_unknown", p, "no recording '%s'", id);
        return;
    }
    int ret = lb_lesson_json_read(dir, &root, err, sizeof err);
    if (ret < 0) {
        if (ret == AVERROR(ENOENT) || ret == AVERROR(ENOTDIR))
            webui_respond_coded(c, 404, "recording_unknown", p, "no recording '%s'", id);
        else
            webui_respond_coded(c, 422, "lesson_json_damaged", p, "%s/lesson.json: %s", id, err);
        return;
    }
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
    if (cJSON_IsString(st) && !strcmp(st->valuestring, "recording")) {
        cJSON_Delete(root);
        webui_respond_coded(c, 409, "recording_busy", p, "'%s' is being recorded", id);
        return;
    }
    if (webui_recut_running_for(w, id)) {
        cJSON_Delete(root);
        webui_respond_coded(c, 409, "recut_running", p, "a re-cut of '%s' is running; one at a time", id);
        return;
    }
    const cJSON *versions = cJSON_GetObjectItemCaseSensitive(root, "versions"), *v;
    int known = cJSON_IsString(file) && !strcmp(file->valuestring, "program.mp4");
    cJSON_ArrayForEach(v, versions) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, "file");
        if (cJSON_IsString(file) && cJSON_IsString(f) && !strcmp(f->valuestring, file->valuestring))
            known = 1;
    }
    if (known)
        snprintf(path, sizeof path, "%s/%s", dir, file->valuestring);
    if (!known || strchr(file->valuestring, '/') || access(path, R_OK) != 0) {
        cJSON_Delete(root);
        cJSON_Delete(p);
        respond_field(c, "file", "must be one of the lesson's versions (lesson.json \"versions\")");
        return;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(root, "upload_version");
    if (strcmp(file->valuestring, "program.mp4"))
        cJSON_AddStringToObject(root, "upload_version", file->valuestring);
    /* the uploader sends a media file changed since the last upload began
     * again: the chosen file counts as changed now */
    utimensat(AT_FDCWD, path, NULL, 0);
    if ((ret = lb_lesson_write_json(dir, root)) < 0) {
        webui_respond_coded(c, 500, "internal", NULL, "%s/lesson.json: cannot write: %s", id, av_err2str(ret));
        cJSON_Delete(p);
        return;
    }
    LB_LOGI("webui", "%s chose %s of %s for upload", c->who.user, file->valuestring, id);
    snprintf(path, sizeof path, "%s/upload.json", dir);
    if (access(path, F_OK) == 0 && w->ops->upload && w->ops->upload(w->opaque, dir, err, sizeof err) < 0)
        LB_LOGW("webui", "%s: the chosen version is not uploaded: %s", id, err);
    cJSON_AddStringToObject(p, "upload_version", file->valuestring);
    webui_respond_json(c, 200, p);
}

int webui_recut_request(lb_webui *w, webui_conn *c, const char *id, const char *what, cJSON *body)
{
    if (!strcmp(what, "shots")) {
        if (c->method != WEBUI_GET && c->method != WEBUI_HEAD) {
            webui_add_header(c, "Allow", "GET, HEAD");
            webui_respond_error(c, 405, "method not allowed");
        } else {
            get_shots(w, c, id);
        }
        return 1;
    }
    if (!strcmp(what, "recut")) {
        if (c->method == WEBUI_POST) {
            post_recut(w, c, id, body);
        } else if (c->method == WEBUI_GET || c->method == WEBUI_HEAD) {
            get_recut(w, c, id);
        } else {
            webui_add_header(c, "Allow", "GET, HEAD, POST");
            webui_respond_error(c, 405, "method not allowed");
        }
        return 1;
    }
    if (!strcmp(what, "version")) {
        if (c->method != WEBUI_PUT) {
            webui_add_header(c, "Allow", "PUT");
            webui_respond_error(c, 405, "method not allowed");
        } else {
            put_version(w, c, id, body);
        }
        return 1;
    }
    return 0;
}
