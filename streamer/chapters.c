/* Design note: a lesson's chapters in its files, and clips of its files.
 *
 * lesson.json's "chapters" is the truth.  From it come program.mp4's MP4
 * chapters (libavformat's mov muxer writes AVFormatContext.chapters as a
 * Nero "chpl" box and a QuickTime chapter text track) and
 * program.chapters.vtt (WebVTT "chapters" cues for the web player).
 *
 * The mov muxer can add chapters only to a file it is not fragmenting
 * (chapters that come after the header are written by the trailer, "only
 * when we are not doing fragments"), and the recording is fragmented until
 * its end.  So the chapters go in where the file is remuxed anyway: the
 * fast-start rewrite after the lesson (lb_mp4_faststart_tags with the
 * chapters), set just before the trailer, when the program's end is known.
 * An edit in the library remuxes program.mp4 again the same way, by stream
 * copy: a temp file, fsynced and renamed over it, so program.mp4 is never
 * missing or torn; the folder's .finalising marker keeps uploads away
 * meanwhile.  That remux runs on the edit thread ("lb-lesson-edit"), never
 * on the web UI's loop; so does a clip.
 *
 * A clip is a new lesson folder beside its lesson (docs/lesson-json.md,
 * "Clips"): its program.mp4 is a range of one file of the lesson by stream
 * copy from the key frame at or before the range's start, with the
 * lesson's tags and its title marked as a clip.  It is made in a hidden
 * folder and renamed into place when whole, so the library, the repair and
 * the uploader see it complete or not at all. */
#include "streamer_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libavutil/avstring.h>
#include <libavutil/dict.h>

#include "lb_clock.h"
#include "lb_file.h"
#include "lb_log.h"
#include "lb_thread.h"

/* ---- chapters from JSON ---- */

/* err = "'chapters[i].member' what" */
static void bad_field(char *err, size_t err_size, int i, const char *member, const char *what)
{
    snprintf(err, err_size, "'chapters[%d]%s%s'%s%s", i, member ? "." : "", member ? member : "",
             *what == ':' ? "" : " ", what);
}

static int by_time(const void *a, const void *b)
{
    const lb_chapter *x = a, *y = b;
    return x->t_s < y->t_s ? -1 : x->t_s > y->t_s;
}

int lb_chapters_from_json(const cJSON *arr, double duration_s, int strict, lb_chapter **out,
                          int *nb_out, char *err, size_t err_size)
{
    const cJSON *it;
    lb_chapter *c = NULL;
    int n = 0, i = -1;
    *out = NULL;
    *nb_out = 0;
    if (err_size)
        err[0] = 0;
    if (!cJSON_IsArray(arr)) {
        if (!strict)
            return 0;
        snprintf(err, err_size, "'chapters' must be a list of {\"t\", \"title\"}");
        return AVERROR(EINVAL);
    }
    int size = cJSON_GetArraySize(arr);
    if (size > LB_CHAPTERS_MAX) {
        if (strict) {
            snprintf(err, err_size, "'chapters': more than %d chapters", LB_CHAPTERS_MAX);
            return AVERROR(EINVAL);
        }
        size = LB_CHAPTERS_MAX;
    }
    if (size && !(c = calloc((size_t)size, sizeof *c)))
        return AVERROR(ENOMEM);
    cJSON_ArrayForEach(it, arr) {
        char why[128];
        i++;
        if (n >= size)
            break;
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(it, "t");
        const cJSON *title = cJSON_GetObjectItemCaseSensitive(it, "title");
        if (!cJSON_IsObject(it)) {
            bad_field(err, err_size, i, NULL, "must be an object {\"t\", \"title\"}");
            goto bad;
        }
        if (!cJSON_IsNumber(t) || !isfinite(t->valuedouble) || t->valuedouble < 0) {
            bad_field(err, err_size, i, "t", "must be a number of seconds from 0");
            goto bad;
        }
        if (duration_s > 0 && t->valuedouble > duration_s) {
            snprintf(why, sizeof why, "is past the lesson's end (%.3f s)", duration_s);
            bad_field(err, err_size, i, "t", why);
            goto bad;
        }
        if (!cJSON_IsString(title)) {
            bad_field(err, err_size, i, "title", "must be a string");
            goto bad;
        }
        if (lb_meta_check_text(title->valuestring, LB_CHAPTER_TITLE_MAX, 0, why + 2,
                               sizeof why - 2) < 0) {
            why[0] = ':';
            why[1] = ' ';
            bad_field(err, err_size, i, "title", why);
            goto bad;
        }
        if (strict && !title->valuestring[0]) {
            bad_field(err, err_size, i, "title", "is empty");
            goto bad;
        }
        c[n].t_s = t->valuedouble;
        snprintf(c[n].title, sizeof c[n].title, "%s", title->valuestring);
        n++;
        continue;
bad:
        if (strict) {
            free(c);
            return AVERROR(EINVAL);
        }
        err[0] = 0;                       /* lenient: a bad one is left out */
    }
    /* a stable order by time (the API may list them in any order); two at
     * the same millisecond would be one chapter of no length */
    if (n > 1)
        qsort(c, (size_t)n, sizeof *c, by_time);
    for (int k = 1; k < n; k++) {
        if (llround(c[k].t_s * 1000) != llround(c[k - 1].t_s * 1000))
            continue;
        if (strict) {
            snprintf(err, err_size, "'chapters': two chapters at %.3f s ('%s' and '%s')", c[k].t_s,
                     c[k - 1].title, c[k].title);
            free(c);
            return AVERROR(EINVAL);
        }
        memmove(c + k, c + k + 1, sizeof *c * (size_t)(n - k - 1));
        n--;
        k--;
    }
    *out = c;
    *nb_out = n;
    return 0;
}

int lb_chapters_cover(const lb_chapter *c, int nb, const char *lead_title, lb_chapter **out,
                      int *nb_out)
{
    int lead = nb > 0 && llround(c[0].t_s * 1000) > 0;
    *out = NULL;
    *nb_out = 0;
    if (nb <= 0 || nb > LB_CHAPTERS_MAX)
        return 0;
    lb_chapter *o = calloc((size_t)nb + (size_t)lead, sizeof *o);
    if (!o)
        return AVERROR(ENOMEM);
    if (lead)
        snprintf(o[0].title, sizeof o[0].title, "%s", lead_title && *lead_title ? lead_title : "-");
    memcpy(o + lead, c, sizeof *c * (size_t)nb);
    *out = o;
    *nb_out = nb + lead;
    return 0;
}

/* ---- WebVTT ---- */

static void vtt_time(double t_s, char *buf, size_t size)
{
    long long ms = llround(t_s * 1000);
    if (ms < 0)
        ms = 0;
    snprintf(buf, size, "%02lld:%02lld:%02lld.%03lld", ms / 3600000, ms / 60000 % 60, ms / 1000 % 60,
             ms % 1000);
}

/* A cue's text may not hold "-->" nor a blank line; the titles have no
 * control characters, "-->" is written "- ->" and '&', '<' as entities. */
static void vtt_text(const char *s, char *out, size_t size)
{
    size_t n = 0;
    for (; *s && n + 6 < size; s++) {
        if (*s == '&') {
            n += (size_t)snprintf(out + n, size - n, "&amp;");
        } else if (*s == '<') {
            n += (size_t)snprintf(out + n, size - n, "&lt;");
        } else if (s[0] == '-' && s[1] == '-' && s[2] == '>') {
            n += (size_t)snprintf(out + n, size - n, "- -");
            s++;
        } else {
            out[n++] = *s;
        }
    }
    out[n] = 0;
}

char *lb_chapters_vtt(const lb_chapter *c, int nb, double end_s)
{
    size_t cap = 64 + (size_t)nb * (64 + 6 * LB_CHAPTER_TITLE_MAX), n = 0;
    char *text = malloc(cap);
    if (!text)
        return NULL;
    n += (size_t)snprintf(text, cap, "WEBVTT\n");
    for (int i = 0; i < nb; i++) {
        char from[32], to[32], title[6 * LB_CHAPTER_TITLE_MAX + 8];
        double end = i + 1 < nb ? c[i + 1].t_s : end_s;
        if (end <= c[i].t_s)
            end = c[i].t_s + 0.001;       /* a cue must end after it starts */
        vtt_time(c[i].t_s, from, sizeof from);
        vtt_time(end, to, sizeof to);
        vtt_text(c[i].title, title, sizeof title);
        n += (size_t)snprintf(text + n, cap - n, "\nchapter-%d\n%s --> %s\n%s\n", i + 1, from, to,
                              *title ? title : "-");
    }
    return text;
}

int lb_chapters_write_vtt(const char *dir, const lb_chapter *c, int nb, double end_s)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/" LB_CHAPTERS_VTT, dir) >= sizeof path)
        return AVERROR(ENAMETOOLONG);
    char *text = lb_chapters_vtt(c, nb, end_s);
    if (!text)
        return AVERROR(ENOMEM);
    int ret = lb_write_file_atomic(path, text, strlen(text), 0644);
    free(text);
    if (ret < 0)
        LB_LOGW("chapters", "%s: cannot write: %s", path, av_err2str(ret));
    return ret;
}

int lb_mp4_add_chapters(AVFormatContext *oc, const lb_chapter *c, int nb, int64_t end_us)
{
    for (int i = 0; i < nb; i++) {
        int64_t start = llround(c[i].t_s * 1e6);
        int64_t end = i + 1 < nb ? llround(c[i + 1].t_s * 1e6) : end_us;
        if (start >= end_us)
            break;                        /* past the file's end: nothing to mark */
        if (end <= start)
            end = start + 1000;
        AVChapter **grown = av_realloc_array(oc->chapters, oc->nb_chapters + 1, sizeof *grown);
        if (!grown)
            return AVERROR(ENOMEM);
        oc->chapters = grown;
        AVChapter *ch = av_mallocz(sizeof *ch);
        if (!ch)
            return AVERROR(ENOMEM);
        ch->id = i;
        ch->time_base = (AVRational){ 1, 1000000 };
        ch->start = start;
        ch->end = end;
        av_dict_set(&ch->metadata, "title", c[i].title, 0);
        oc->chapters[oc->nb_chapters++] = ch;
    }
    return 0;
}

/* ---- a lesson's chapters ---- */

int lb_lesson_chapters_read(const char *dir, lb_chapter **c, int *nb, double *duration_s)
{
    cJSON *root = NULL;
    char err[PATH_MAX + 64];
    int ret = lb_lesson_json_read(dir, &root, err, sizeof err);
    *c = NULL;
    *nb = 0;
    if (duration_s)
        *duration_s = 0;
    if (ret < 0)
        return ret;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "duration_s");
    if (duration_s && cJSON_IsNumber(d) && isfinite(d->valuedouble) && d->valuedouble > 0)
        *duration_s = d->valuedouble;
    ret = lb_chapters_from_json(cJSON_GetObjectItemCaseSensitive(root, "chapters"), 0, 0, c, nb,
                                err, sizeof err);
    cJSON_Delete(root);
    return ret;
}

/* The MP4 tags of the lesson in dir, from its lesson.json (NULL when it
 * cannot be read). */
static AVDictionary *tags_of(const cJSON *root, const char *dir)
{
    AVDictionary *tags = NULL;
    char err[256];
    lb_lesson_meta meta = { 0 };
    lb_meta_from_json(&meta, root, LB_META_LENIENT, err, sizeof err);
    if (*err)
        LB_LOGW("chapters", "%s/lesson.json: %s (left out of the tags)", dir, err);
    const cJSON *started = cJSON_GetObjectItemCaseSensitive(root, "started_at");
    lb_mp4_tags(&tags, &meta, cJSON_IsString(started) && lb_is_w3cdtf(started->valuestring)
                                  ? started->valuestring : NULL);
    return tags;
}

/* lesson.json's chapters as the files carry them and its tags; *duration_s
 * from lesson.json (0 unknown). */
static int lesson_chapters_and_tags(const char *dir, lb_chapter **c, int *nb, AVDictionary **tags,
                                    double *duration_s)
{
    cJSON *root = NULL;
    char err[PATH_MAX + 64];
    int ret = lb_lesson_json_read(dir, &root, err, sizeof err);
    if (ret < 0) {
        LB_LOGW("chapters", "%s", err);
        return ret;
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "duration_s");
    *duration_s = cJSON_IsNumber(d) && isfinite(d->valuedouble) && d->valuedouble > 0 ? d->valuedouble : 0;
    lb_chapter *listed = NULL;
    int nb_listed = 0;
    lb_chapters_from_json(cJSON_GetObjectItemCaseSensitive(root, "chapters"), 0, 0, &listed, &nb_listed,
                          err, sizeof err);
    *tags = tags_of(root, dir);
    cJSON_Delete(root);
    const AVDictionaryEntry *title = av_dict_get(*tags, "title", NULL, 0);
    *c = NULL;
    *nb = 0;
    lb_chapters_cover(listed, nb_listed, title ? title->value : NULL, c, nb);
    free(listed);
    return 0;
}

int lb_lesson_chapters_into(const char *dir, const char *path)
{
    lb_chapter *c = NULL;
    int nb = 0;
    double duration_s = 0;
    AVDictionary *tags = NULL;
    int ret = lesson_chapters_and_tags(dir, &c, &nb, &tags, &duration_s);
    if (ret < 0)
        return ret;
    int64_t end_us = 0;
    ret = lb_mp4_remux(path, tags, c, nb, &end_us);
    free(c);
    av_dict_free(&tags);
    return ret;
}

/* A version lesson.json lists as a file of this folder that a remux may
 * rewrite: program.recut-N.mp4 (never a path from elsewhere). */
static int is_recut_file(const char *name)
{
    int n = 0, len = 0;
    return sscanf(name, "program.recut-%d.mp4%n", &n, &len) == 1 && n > 0 && (size_t)len == strlen(name) &&
           !strchr(name, '/');
}

/* The chapters of a re-cut follow the lesson's, as program.mp4's do: each
 * version lesson.json lists is remuxed the same way, one after the other
 * (a long lesson's versions are as long as its program). */
static int apply_to_versions(const char *dir)
{
    cJSON *root = NULL;
    char err[PATH_MAX + 64], path[PATH_MAX + 300];
    int ret = lb_lesson_json_read(dir, &root, err, sizeof err), failed = 0;
    if (ret < 0)
        return ret;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(root, "versions")) {
        const char *file = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "file"));
        if (!file || !is_recut_file(file))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, file);
        if (access(path, F_OK) < 0)
            continue;                     /* deleted meanwhile */
        if ((ret = lb_lesson_chapters_into(dir, path)) < 0) {
            LB_LOGE("chapters", "%s: keeps its chapters: %s", path, av_err2str(ret));
            failed = ret;
        }
    }
    cJSON_Delete(root);
    return failed;
}

int lb_lesson_apply_chapters(const char *dir)
{
    char path[PATH_MAX];
    lb_chapter *c = NULL;
    int nb = 0;
    double duration_s = 0, end_s = 0;
    AVDictionary *tags = NULL;
    int ret = lesson_chapters_and_tags(dir, &c, &nb, &tags, &duration_s);
    if (ret < 0)
        return ret;
    snprintf(path, sizeof path, "%s/program.mp4", dir);
    if (access(path, F_OK) == 0) {
        int64_t end_us = 0;
        ret = lb_mp4_remux(path, tags, c, nb, &end_us);
        if (ret >= 0)
            end_s = (double)end_us / 1e6;
    } else {
        ret = 0;                          /* no program (resource mode only): the VTT alone */
    }
    if (end_s <= 0)
        end_s = duration_s;
    int vret = lb_chapters_write_vtt(dir, c, nb, end_s);
    free(c);
    av_dict_free(&tags);
    int vers = apply_to_versions(dir);
    return ret < 0 ? ret : vret < 0 ? vret : vers;
}

int lb_lesson_write_chapters_vtt(const char *dir)
{
    lb_chapter *c = NULL;
    int nb = 0;
    double duration_s = 0;
    AVDictionary *tags = NULL;
    int ret = lesson_chapters_and_tags(dir, &c, &nb, &tags, &duration_s);
    if (ret < 0)
        return ret;
    ret = lb_chapters_write_vtt(dir, c, nb, duration_s);
    free(c);
    av_dict_free(&tags);
    return ret;
}

static int is_recording(const cJSON *root)
{
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    return cJSON_IsString(status) && !strcmp(status->valuestring, "recording");
}

int lb_lesson_set_chapters(const char *dir, const cJSON *chapters, char *err, size_t err_size)
{
    cJSON *root = NULL;
    lb_chapter *c = NULL;
    int nb = 0;
    char marker[PATH_MAX];
    int ret = lb_lesson_json_read(dir, &root, err, err_size);
    if (ret < 0)
        return ret;
    if (is_recording(root)) {
        cJSON_Delete(root);
        snprintf(err, err_size, "the lesson is being recorded");
        return AVERROR(EBUSY);
    }
    double duration_s = 0;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "duration_s");
    if (cJSON_IsNumber(d) && isfinite(d->valuedouble) && d->valuedouble > 0)
        duration_s = d->valuedouble;
    if ((ret = lb_chapters_from_json(chapters, duration_s, 1, &c, &nb, err, err_size)) < 0) {
        cJSON_Delete(root);
        return ret;
    }
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < nb; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddNumberToObject(o, "t", llround(c[i].t_s * 1000) / 1000.0);
        cJSON_AddStringToObject(o, "title", c[i].title);
        cJSON_AddItemToArray(arr, o);
    }
    free(c);
    if (!arr || (!cJSON_ReplaceItemInObjectCaseSensitive(root, "chapters", arr) &&
                 !cJSON_AddItemToObject(root, "chapters", arr))) {
        cJSON_Delete(arr);
        cJSON_Delete(root);
        snprintf(err, err_size, "out of memory");
        return AVERROR(ENOMEM);
    }
    /* uploads wait until program.mp4 has the new chapters too (the edit
     * thread removes the marker); the marker is durable before lesson.json
     * says the chapters changed */
    snprintf(marker, sizeof marker, "%s/" LB_FINALISING_MARKER, dir);
    int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0)
        close(fd);
    lb_fsync_dir(dir);
    if ((ret = lb_lesson_write_json(dir, root)) < 0) {
        unlink(marker);
        lb_lesson_rewritten();
        snprintf(err, err_size, "lesson.json: cannot write: %s", av_err2str(ret));
        return ret;
    }
    LB_LOGI("chapters", "%s: %d chapters set", dir, nb);
    return 0;
}

/* ---- clips ---- */

static void clock_text(double t_s, char *buf, size_t size)
{
    long long s = (long long)floor(t_s + 1e-6);
    if (s >= 3600)
        snprintf(buf, size, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, size, "%02lld:%02lld", s / 60, s % 60);
}

static void stamp(double t_s, char *buf, size_t size)
{
    long long s = (long long)floor(t_s + 1e-6);
    snprintf(buf, size, "%02lld%02lld%02lld", s / 3600 % 100, s / 60 % 60, s % 60);
}

/* Is rel one of the lesson's media files: program.mp4, iso/<x>.mp4,
 * audio/<x>.m4a (a plain name, no dot first)? */
static int lesson_media(const char *rel, char *name, size_t size)
{
    const char *base = NULL, *ext = NULL;
    if (!strcmp(rel, "program.mp4")) {
        snprintf(name, size, "program");
        return 1;
    }
    /* a re-cut of the program (luobo recut): program.recut-N.mp4 */
    if (!strncmp(rel, "program.recut-", 14)) {
        const char *p = rel + 14;
        size_t digits = strspn(p, "0123456789");
        if (digits && digits < 9 && !strcmp(p + digits, ".mp4")) {
            snprintf(name, size, "recut-%.*s", (int)digits, p);
            return 1;
        }
        return 0;
    }
    if (!strncmp(rel, "iso/", 4))
        base = rel + 4, ext = ".mp4";
    else if (!strncmp(rel, "audio/", 6))
        base = rel + 6, ext = ".m4a";
    else
        return 0;
    size_t len = strlen(base), el = strlen(ext);
    if (len <= el || base[0] == '.' || strcmp(base + len - el, ext) || strpbrk(base, "/\\%") ||
        len - el >= size)
        return 0;
    for (const char *p = base; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    snprintf(name, size, "%.*s", (int)(len - el), base);
    return 1;
}

static void slug_ascii(const char *s, char *out, size_t size)
{
    size_t n = 0;
    int dash = 0;
    for (; *s && n + 2 < size && n < 24; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')) {
            if (dash && n)
                out[n++] = '-';
            dash = 0;
            out[n++] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
        } else {
            dash = 1;
        }
    }
    out[n] = 0;
}

int lb_clip_plan(const char *data_dir, const char *id, const char *file, double from_s,
                 double to_s, lb_clip *clip, char *err, size_t err_size)
{
    cJSON *root = NULL;
    char name[128], slug[32], a[16], b[16];
    struct stat st;
    int ret;
    memset(clip, 0, sizeof *clip);
    if ((size_t)snprintf(clip->lesson_dir, sizeof clip->lesson_dir, "%s/%s", data_dir, id) >=
        sizeof clip->lesson_dir) {
        snprintf(err, err_size, "'%s': name too long", id);
        return AVERROR(ENOENT);
    }
    if ((ret = lb_lesson_json_read(clip->lesson_dir, &root, err, err_size)) < 0)
        return ret;
    if (is_recording(root)) {
        cJSON_Delete(root);
        snprintf(err, err_size, "the lesson is being recorded");
        return AVERROR(EBUSY);
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "duration_s");
    double duration_s = cJSON_IsNumber(d) && isfinite(d->valuedouble) ? d->valuedouble : 0;
    cJSON_Delete(root);
    if (!lesson_media(file, name, sizeof name)) {
        snprintf(err, err_size, "'file': '%s' is not one of the lesson's media files (program.mp4, "
                 "program.recut-N.mp4, iso/<camera>.mp4, audio/<mic>.m4a)", file);
        return AVERROR(EINVAL);
    }
    if ((size_t)snprintf(clip->src, sizeof clip->src, "%s/%s", clip->lesson_dir, file) >=
            sizeof clip->src || stat(clip->src, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "'file': the lesson has no '%s'", file);
        return AVERROR(EINVAL);
    }
    if (!isfinite(from_s) || from_s < 0) {
        snprintf(err, err_size, "'from' must be a number of seconds from 0");
        return AVERROR(EINVAL);
    }
    if (!isfinite(to_s) || to_s <= from_s) {
        snprintf(err, err_size, "'to' must be a number of seconds after 'from' (%.3f)", from_s);
        return AVERROR(EINVAL);
    }
    if (to_s - from_s < LB_CLIP_MIN_S) {
        snprintf(err, err_size, "'to': a clip lasts at least %.0f s (asked: %.3f s)", LB_CLIP_MIN_S,
                 to_s - from_s);
        return AVERROR(EINVAL);
    }
    if (duration_s > 0 && to_s > duration_s + 0.5) {
        snprintf(err, err_size, "'to' is past the lesson's end (%.3f s)", duration_s);
        return AVERROR(EINVAL);
    }
    snprintf(clip->file, sizeof clip->file, "%s", file);
    clip->from_s = from_s;
    clip->to_s = duration_s > 0 && to_s > duration_s ? duration_s : to_s;
    slug_ascii(name, slug, sizeof slug);
    stamp(clip->from_s, a, sizeof a);
    stamp(clip->to_s, b, sizeof b);
    if (strcmp(name, "program") && *slug)
        snprintf(clip->id, sizeof clip->id, "%.160s-clip-%s-%s-%s", id, slug, a, b);
    else
        snprintf(clip->id, sizeof clip->id, "%.160s-clip-%s-%s", id, a, b);
    snprintf(clip->dir, sizeof clip->dir, "%s/%s", data_dir, clip->id);
    snprintf(clip->data_dir, sizeof clip->data_dir, "%s", data_dir);
    if (access(clip->dir, F_OK) == 0) {
        snprintf(err, err_size, "the clip '%s' exists already", clip->id);
        return AVERROR(EEXIST);
    }
    return 0;
}

/* The clip's stream copy: from the last key frame at or before from_us to
 * the first video packet (in decode order) at or past to_us, so every
 * packet copied has its references; audio from the key frame's time.  A
 * file without video starts at the audio packet at or before from_us.
 * *start_us, *end_us: the clip's range on the lesson's timeline. */
static int copy_range(const char *src, const char *dst, int64_t from_us, int64_t to_us,
                      const AVDictionary *tags, const lb_chapter *c, int nb, int64_t *start_us,
                      int64_t *end_us)
{
    AVFormatContext *ic = NULL, *oc = NULL;
    AVPacket *pkt = av_packet_alloc();
    int *map = NULL, header = 0, ret;
    int64_t *last_dts = NULL;
    if (!pkt)
        return AVERROR(ENOMEM);
    if ((ret = avformat_open_input(&ic, src, NULL, NULL)) < 0 ||
        (ret = avformat_find_stream_info(ic, NULL)) < 0)
        goto fail;
    int vi = av_find_best_stream(ic, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    int ref = vi >= 0 ? vi : av_find_best_stream(ic, AVMEDIA_TYPE_AUDIO, -1, -1, NULL, 0);
    if (ref < 0) {
        ret = AVERROR_STREAM_NOT_FOUND;
        goto fail;
    }
    /* the key frame at or before from: the index says where */
    AVStream *rs = ic->streams[ref];
    int64_t want = av_rescale_q(from_us, AV_TIME_BASE_Q, rs->time_base);
    if (rs->start_time != AV_NOPTS_VALUE)
        want += rs->start_time;
    int idx = av_index_search_timestamp(rs, want, AVSEEK_FLAG_BACKWARD);
    if (idx < 0)
        idx = 0;
    const AVIndexEntry *ie = avformat_index_get_entry(rs, idx);
    int64_t start = ie ? ie->timestamp : want;   /* in rs's time base */
    if ((ret = avformat_seek_file(ic, ref, INT64_MIN, start, start, 0)) < 0)
        goto fail;
    int64_t base_us = av_rescale_q(start - (rs->start_time != AV_NOPTS_VALUE ? rs->start_time : 0),
                                   rs->time_base, AV_TIME_BASE_Q);
    *start_us = base_us;

    if ((ret = avformat_alloc_output_context2(&oc, NULL, "mp4", dst)) < 0)
        goto fail;
    if (!(map = av_calloc(ic->nb_streams, sizeof *map)) ||
        !(last_dts = av_calloc(ic->nb_streams, sizeof *last_dts))) {
        ret = AVERROR(ENOMEM);
        goto fail;
    }
    for (unsigned i = 0; i < ic->nb_streams; i++) {
        AVStream *is = ic->streams[i];
        map[i] = -1;
        last_dts[i] = AV_NOPTS_VALUE;
        enum AVMediaType t = is->codecpar->codec_type;
        if (is->discard == AVDISCARD_ALL || (t != AVMEDIA_TYPE_VIDEO && t != AVMEDIA_TYPE_AUDIO))
            continue;
        AVStream *os = avformat_new_stream(oc, NULL);
        if (!os) {
            ret = AVERROR(ENOMEM);
            goto fail;
        }
        if ((ret = avcodec_parameters_copy(os->codecpar, is->codecpar)) < 0)
            goto fail;
        os->codecpar->codec_tag = 0;
        os->time_base = is->time_base;
        map[i] = os->index;
    }
    lb_mp4_copy_tags(&oc->metadata, tags);
    if ((ret = avio_open(&oc->pb, dst, AVIO_FLAG_WRITE)) < 0)
        goto fail;
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "movflags", "+faststart", 0);
    ret = avformat_write_header(oc, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        goto fail;
    header = 1;
    int video_done = vi < 0, started = vi < 0;
    int64_t end = base_us;
    for (;;) {
        ret = av_read_frame(ic, pkt);
        if (ret == AVERROR_EOF)
            break;
        if (ret < 0) {
            LB_LOGW("clip", "%s: read stopped early: %s", src, av_err2str(ret));
            break;
        }
        unsigned si = (unsigned)pkt->stream_index;
        if (si >= ic->nb_streams || map[si] < 0 || pkt->pts == AV_NOPTS_VALUE) {
            av_packet_unref(pkt);
            continue;
        }
        AVStream *is = ic->streams[si];
        int64_t st0 = is->start_time != AV_NOPTS_VALUE ? is->start_time : 0;
        int64_t pts_us = av_rescale_q(pkt->pts - st0, is->time_base, AV_TIME_BASE_Q);
        int64_t dur_us = av_rescale_q(pkt->duration, is->time_base, AV_TIME_BASE_Q);
        int keep;
        if ((int)si == vi) {
            if (!started)                 /* the seek may land before the key frame */
                started = (pkt->flags & AV_PKT_FLAG_KEY) && pts_us >= base_us;
            if (started && !video_done && pts_us >= to_us && pts_us > base_us)
                video_done = 1;           /* and everything after it in decode order */
            /* an open GOP's leading pictures refer to the GOP before */
            keep = started && !video_done && pts_us >= base_us;
        } else {
            if (video_done && pts_us >= to_us) {
                av_packet_unref(pkt);     /* the video ended and the sound too */
                break;
            }
            keep = pts_us >= base_us && pts_us < to_us;
        }
        if (!keep || (last_dts[si] != AV_NOPTS_VALUE && pkt->dts != AV_NOPTS_VALUE &&
                      pkt->dts <= last_dts[si])) {
            av_packet_unref(pkt);
            continue;
        }
        last_dts[si] = pkt->dts;
        if (pts_us + dur_us > end)
            end = pts_us + dur_us;
        int64_t shift = av_rescale_q(base_us, AV_TIME_BASE_Q, is->time_base) + st0;
        pkt->pts -= shift;
        if (pkt->dts != AV_NOPTS_VALUE)
            pkt->dts -= shift;
        pkt->stream_index = map[si];
        av_packet_rescale_ts(pkt, is->time_base, oc->streams[map[si]]->time_base);
        pkt->pos = -1;
        if ((ret = av_interleaved_write_frame(oc, pkt)) < 0)
            goto fail;
    }
    *end_us = end;
    /* the lesson's chapters within the range, on the clip's timeline; the
     * one running at its start opens it */
    lb_chapter *cc = nb ? calloc((size_t)nb, sizeof *cc) : NULL;
    int n = 0;
    for (int i = 0; cc && i < nb; i++) {
        double t = c[i].t_s - (double)base_us / 1e6;
        double next = i + 1 < nb ? c[i + 1].t_s - (double)base_us / 1e6 : 1e18;
        if (next <= 0 || t >= (double)(end - base_us) / 1e6)
            continue;
        cc[n] = c[i];
        cc[n++].t_s = t < 0 ? 0 : t;
    }
    lb_chapter *covered = NULL;
    int nc = 0;
    const AVDictionaryEntry *title = av_dict_get(tags, "title", NULL, 0);
    lb_chapters_cover(cc, n, title ? title->value : NULL, &covered, &nc);
    if (nc)
        lb_mp4_add_chapters(oc, covered, nc, end - base_us);
    free(covered);
    free(cc);
    header = 0;
    if ((ret = av_write_trailer(oc)) < 0)
        goto fail;
    if ((ret = avio_closep(&oc->pb)) < 0)
        goto fail;
    ret = 0;
fail:
    if (header)
        av_write_trailer(oc);
    if (oc)
        avio_closep(&oc->pb);
    av_free(map);
    av_free(last_dts);
    av_packet_free(&pkt);
    if (oc)
        avformat_free_context(oc);
    avformat_close_input(&ic);
    return ret;
}

void lb_remove_flat_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX + 256];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

int lb_clip_make(const lb_clip *clip, char *err, size_t err_size)
{
    char tmp[PATH_MAX], path[PATH_MAX + 32], a[16], b[16];
    cJSON *root = NULL;
    lb_chapter *c = NULL;
    AVDictionary *tags = NULL;
    int nb = 0, ret;
    int64_t start_us = 0, end_us = 0;
    if ((ret = lb_lesson_json_read(clip->lesson_dir, &root, err, err_size)) < 0)
        return ret;
    snprintf(tmp, sizeof tmp, "%s/.%s" LB_CLIP_TEMP_SUFFIX, clip->data_dir, clip->id);
    lb_remove_flat_dir(tmp);                     /* an earlier try cut short */
    if (mkdir(tmp, 0755) < 0) {
        ret = AVERROR(errno);
        snprintf(err, err_size, "%s: cannot create: %s", tmp, av_err2str(ret));
        goto out;
    }
    lb_chapters_from_json(cJSON_GetObjectItemCaseSensitive(root, "chapters"), 0, 0, &c, &nb, err,
                          err_size);
    /* its title names the range asked for: "… (clip 12:00–17:00)" */
    lb_lesson_meta meta = { 0 };
    char why[256];
    lb_meta_from_json(&meta, root, LB_META_LENIENT, why, sizeof why);
    clock_text(clip->from_s, a, sizeof a);
    clock_text(clip->to_s, b, sizeof b);
    char title[sizeof meta.title];
    size_t room = sizeof title - 32;
    /* cut a long title at a character's start, never inside one */
    size_t len = strlen(meta.title);
    if (len > room) {
        len = room;
        while (len && ((unsigned char)meta.title[len] & 0xc0) == 0x80)
            len--;
    }
    snprintf(title, sizeof title, "%.*s%s(clip %s\xe2\x80\x93%s)", (int)len, meta.title,
             len ? " " : "", a, b);
    snprintf(meta.title, sizeof meta.title, "%s", title);
    const cJSON *started = cJSON_GetObjectItemCaseSensitive(root, "started_at");
    const char *started_at = cJSON_IsString(started) && lb_is_w3cdtf(started->valuestring)
                             ? started->valuestring : NULL;
    lb_mp4_tags(&tags, &meta, started_at);
    snprintf(path, sizeof path, "%s/program.mp4", tmp);
    if ((ret = copy_range(clip->src, path, llround(clip->from_s * 1e6), llround(clip->to_s * 1e6),
                          tags, c, nb, &start_us, &end_us)) < 0) {
        snprintf(err, err_size, "%s: cannot copy: %s", clip->file, av_err2str(ret));
        goto out;
    }
    if ((ret = lb_fsync_path(path)) < 0) {
        snprintf(err, err_size, "%s: cannot sync: %s", path, av_err2str(ret));
        goto out;
    }
    /* lesson.json: the lesson's, as a clip of it */
    double dur = (double)(end_us - start_us) / 1e6;
    static const char *const drop[] = { "sources", "mics", "outages", "stop_requested",
                                        "schedule_end", "schedule_uid", "upload", "versions", "ended_by",
                                        "chapters", "clip" };
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        cJSON_DeleteItemFromObjectCaseSensitive(root, drop[i]);
    lb_meta_to_json(&meta, LB_META_TITLE, root);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "id");
    cJSON_AddStringToObject(root, "id", clip->id);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "duration_s");
    cJSON_AddNumberToObject(root, "duration_s", llround(dur * 1000) / 1000.0);
    cJSON_DeleteItemFromObjectCaseSensitive(root, "status");
    cJSON_AddStringToObject(root, "status", "complete");
    cJSON_AddArrayToObject(root, "sources");
    cJSON *arr = cJSON_AddArrayToObject(root, "chapters");
    for (int i = 0; arr && i < nb; i++) {
        double t = c[i].t_s - (double)start_us / 1e6;
        double next = i + 1 < nb ? c[i + 1].t_s - (double)start_us / 1e6 : 1e18;
        if (next <= 0 || t >= dur)
            continue;
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddNumberToObject(o, "t", t < 0 ? 0 : llround(t * 1000) / 1000.0);
        cJSON_AddStringToObject(o, "title", c[i].title);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON *cj = cJSON_AddObjectToObject(root, "clip");
    if (cj) {
        char of[256];
        const char *slash = strrchr(clip->lesson_dir, '/');
        snprintf(of, sizeof of, "%s", slash ? slash + 1 : clip->lesson_dir);
        cJSON_AddStringToObject(cj, "of", of);
        cJSON_AddStringToObject(cj, "file", clip->file);
        cJSON_AddNumberToObject(cj, "from", clip->from_s);
        cJSON_AddNumberToObject(cj, "to", clip->to_s);
        cJSON_AddNumberToObject(cj, "start", llround((double)start_us / 1e3) / 1000.0);
    }
    /* the clip's chapters file, from what lesson.json now says */
    lb_chapter *cc = NULL;
    int ncc = 0;
    lb_chapters_from_json(arr, 0, 0, &cc, &ncc, why, sizeof why);
    lb_chapter *covered = NULL;
    int nc = 0;
    lb_chapters_cover(cc, ncc, meta.title, &covered, &nc);
    lb_chapters_write_vtt(tmp, covered, nc, dur);
    free(covered);
    free(cc);
    const cJSON *ended = cJSON_GetObjectItemCaseSensitive(root, "ended_at");
    if ((ret = lb_episode_write(tmp, &meta, started_at, cJSON_IsString(ended) &&
                                lb_is_w3cdtf(ended->valuestring) ? ended->valuestring : NULL,
                                NULL)) < 0) {
        snprintf(err, err_size, "episode.xml: cannot write: %s", av_err2str(ret));
        goto out;
    }
    ret = lb_lesson_write_json(tmp, root);
    root = NULL;
    if (ret < 0) {
        snprintf(err, err_size, "lesson.json: cannot write: %s", av_err2str(ret));
        goto out;
    }
    /* whole, then in place: the library sees the clip complete or not */
    if (rename(tmp, clip->dir) < 0) {
        ret = AVERROR(errno);
        snprintf(err, err_size, "%s: cannot rename: %s", clip->dir, av_err2str(ret));
        goto out;
    }
    lb_fsync_dir(clip->data_dir);
    LB_LOGI("clip", "%s: %s %.3f-%.3f s (from the key frame at %.3f s), %.3f s", clip->id,
            clip->file, clip->from_s, clip->to_s, (double)start_us / 1e6, dur);
    ret = 0;
out:
    if (ret < 0)
        lb_remove_flat_dir(tmp);
    cJSON_Delete(root);
    free(c);
    av_dict_free(&tags);
    return ret;
}

/* ---- the edit thread ---- */

typedef struct job {
    struct job *next;
    int is_clip;
    char dir[PATH_MAX];           /* chapters: the lesson */
    lb_clip clip;
} job;

static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t jobs_cond = PTHREAD_COND_INITIALIZER;
static job *jobs;
static int nb_jobs, jobs_quit, jobs_started;
static int jobs_closed;           /* lb_lesson_edits_stop() began: no more work */
static lb_thread jobs_thread;

#define MAX_JOBS LB_LESSON_EDITS_MAX

static void run_edit(job *j)
{
    char err[PATH_MAX + 128] = "";
    if (j->is_clip) {
        if (lb_clip_make(&j->clip, err, sizeof err) < 0)
            LB_LOGE("clip", "%s: not made: %s", j->clip.id, err);
        return;
    }
    char marker[PATH_MAX + 32];
    int ret = lb_lesson_apply_chapters(j->dir);
    if (ret < 0)
        LB_LOGE("chapters", "%s: program.mp4 keeps its chapters: %s", j->dir, av_err2str(ret));
    snprintf(marker, sizeof marker, "%s/" LB_FINALISING_MARKER, j->dir);
    unlink(marker);
    lb_fsync_dir(j->dir);
    lb_lesson_rewritten();
}

static void *jobs_loop(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&jobs_lock);
    for (;;) {
        while (!jobs && !jobs_quit)
            pthread_cond_wait(&jobs_cond, &jobs_lock);
        job *j = jobs;
        if (!j)
            break;
        pthread_mutex_unlock(&jobs_lock);
        run_edit(j);
        pthread_mutex_lock(&jobs_lock);
        jobs = j->next;
        nb_jobs--;
        free(j);
        pthread_cond_broadcast(&jobs_cond);
    }
    pthread_mutex_unlock(&jobs_lock);
    return NULL;
}

static int queue(job *j)
{
    pthread_mutex_lock(&jobs_lock);
    if (jobs_closed) {
        /* a web UI that outlived the stop: no second edit thread at exit */
        pthread_mutex_unlock(&jobs_lock);
        free(j);
        return AVERROR(ESHUTDOWN);
    }
    if (nb_jobs >= MAX_JOBS) {
        pthread_mutex_unlock(&jobs_lock);
        free(j);
        return AVERROR(EAGAIN);
    }
    /* a chapter edit already waiting for the same lesson does this one too
     * (it reads lesson.json when it runs) */
    for (job *o = jobs ? jobs->next : NULL; !j->is_clip && o; o = o->next) {
        if (!o->is_clip && !strcmp(o->dir, j->dir)) {
            pthread_mutex_unlock(&jobs_lock);
            free(j);
            return 0;
        }
    }
    if (!jobs_started) {
        jobs_quit = 0;
        if (lb_thread_start(&jobs_thread, "lb-lesson-edit", jobs_loop, NULL) < 0) {
            pthread_mutex_unlock(&jobs_lock);
            run_edit(j);                  /* no thread: do it here */
            free(j);
            return 0;
        }
        jobs_started = 1;
    }
    job **tail = &jobs;
    while (*tail)
        tail = &(*tail)->next;
    *tail = j;
    nb_jobs++;
    pthread_cond_signal(&jobs_cond);
    pthread_mutex_unlock(&jobs_lock);
    return 0;
}

int lb_lesson_queue_chapters(const char *dir)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return AVERROR(ENOMEM);
    snprintf(j->dir, sizeof j->dir, "%s", dir);
    return queue(j);
}

int lb_clip_queue(const lb_clip *clip)
{
    job *j = calloc(1, sizeof *j);
    if (!j)
        return AVERROR(ENOMEM);
    j->is_clip = 1;
    j->clip = *clip;
    return queue(j);
}

int lb_lesson_edits_pending(void)
{
    pthread_mutex_lock(&jobs_lock);
    int n = nb_jobs;
    pthread_mutex_unlock(&jobs_lock);
    return n;
}

void lb_lesson_edits_stop(void)
{
    pthread_mutex_lock(&jobs_lock);
    jobs_quit = 1;
    jobs_closed = 1;
    pthread_cond_broadcast(&jobs_cond);
    int started = jobs_started;
    jobs_started = 0;
    pthread_mutex_unlock(&jobs_lock);
    if (started)
        lb_thread_join(&jobs_thread);
}
