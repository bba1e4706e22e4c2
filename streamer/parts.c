/* Resuming an interrupted lesson into its own folder: which lesson may be
 * resumed, and its files moved aside as a part.
 *
 * A resumed lesson's folder holds its earlier parts under parts/<n>/ (n
 * from 1, the same names as the lesson's: program.mp4, iso/<camera>.mp4,
 * audio/<mic>.m4a); the part being recorded is where a lesson's files
 * always are.  lesson.json's "outages" has one gap per part in parts/: the
 * one after it.  So part 1 starts at lesson time 0, part n at
 * outages[n-2].to, and the current files at the last outage's "to".  Each
 * step keeps that true across a crash: the files move first, the outage is
 * written after (a start that finds parts without their outage adds it).
 *
 * The joiner (the daemon's, lb_lesson_set_joiner) makes the parts one file
 * each when the lesson has ended; see streamer.h. */
#include "streamer_priv.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "lb_clock.h"
#include "lb_log.h"

double lb_lesson_last_outage_end(const cJSON *root)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(root, "outages"), *last = NULL, *it;
    cJSON_ArrayForEach(it, o)
        last = it;
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(last, "to");
    return cJSON_IsNumber(to) && to->valuedouble > 0 ? to->valuedouble : 0;
}

int lb_lesson_count_parts(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    int n = 0;
    for (;; n++) {
        snprintf(path, sizeof path, "%s/" LB_PARTS_DIR "/%d", dir, n + 1);
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            return n;
    }
}

static int64_t mtime_us(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &st) < 0)
        return 0;
    return (int64_t)st.st_mtim.tv_sec * 1000000 + st.st_mtim.tv_nsec / 1000;
}

static int64_t written_us_of(const char *dir)
{
    static const char *const files[] = { "lesson.json", "program.mp4", "director.jsonl" };
    int64_t written_us = 0;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        int64_t t = mtime_us(dir, files[i]);
        if (t > written_us)
            written_us = t;
    }
    return written_us;
}

static int ended_by_shutdown(const cJSON *root)
{
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    const cJSON *by = cJSON_GetObjectItemCaseSensitive(root, "ended_by");
    return cJSON_IsString(status) && !strcmp(status->valuestring, "complete") && cJSON_IsString(by) &&
           !strcmp(by->valuestring, "shutdown");
}

int lb_lesson_resume_candidate(const cJSON *root)
{
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    return (cJSON_IsString(status) && !strcmp(status->valuestring, "recording")) || ended_by_shutdown(root);
}

const char *lb_lesson_not_resumable(const cJSON *root, int window_s, int64_t now_wall_us, int64_t written_us,
                                    char *why, size_t why_size)
{
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(root, "stop_requested");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "started_at_ms");
    const cJSON *end = cJSON_GetObjectItemCaseSensitive(root, "schedule_end");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(root, "status");
    int shutdown = ended_by_shutdown(root);
    if (!lb_lesson_resume_candidate(root)) {
        snprintf(why, why_size, "it is %s, not left recording nor finished by a shutdown",
                 cJSON_IsString(status) ? status->valuestring : "without a status");
        return why;
    }
    if (cJSON_IsTrue(stop))
        return "it was stopped on purpose (its finishing was cut short)";
    if (!cJSON_IsNumber(ms) || ms->valuedouble <= 0)
        return "its lesson.json has no started_at_ms (a luobo without resume wrote it)";
    if (window_s <= 0)
        return shutdown ? "resume is off ([general] resume_window_s = 0): it stays complete"
                        : "resume is off ([general] resume_window_s = 0)";
    /* a lesson a shutdown finished: its window runs from the shutdown
     * (its end), the files' times are its finishing's */
    const cJSON *ended = cJSON_GetObjectItemCaseSensitive(root, "ended_at_ms");
    int64_t ended_ms;
    if (shutdown && lb_json_int64(ended, 1, LB_JSON_WALL_MS_MAX, &ended_ms) == 0)
        written_us = ended_ms * 1000;
    int64_t age_s = (now_wall_us - written_us) / 1000000;
    if (age_s >= window_s || age_s < -window_s) {
        snprintf(why, why_size, shutdown
                 ? "a shutdown finished it %lld s ago, outside [general] resume_window_s = %d: it stays complete"
                 : "it was last written %lld s ago, outside [general] resume_window_s = %d",
                 (long long)age_s, window_s);
        return why;
    }
    if (end && !cJSON_IsNull(end)) {
        int64_t end_s = -1;
        if (cJSON_IsNumber(end))
            lb_json_int64(end, 0, LB_JSON_WALL_S_MAX, &end_s);
        else if (cJSON_IsString(end))
            end_s = lb_clock_parse_iso8601(end->valuestring);
        if (end_s < 0)
            return "its schedule_end is not a time";
        if (end_s * 1000000 <= now_wall_us) {
            snprintf(why, why_size, "its timetable entry has ended (schedule_end %lld s ago)",
                     (long long)((now_wall_us / 1000000) - end_s));
            return why;
        }
    }
    return NULL;
}

int lb_lesson_find_resumable(const char *data_dir, int window_s, int64_t now_wall_us,
                             char *dir_out, size_t dir_size)
{
    DIR *d = opendir(data_dir);
    int64_t best_us = -1;
    dir_out[0] = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char dir[PATH_MAX], why[PATH_MAX + 64], text[256];
        struct stat st;
        if (e->d_name[0] == '.' ||
            (size_t)snprintf(dir, sizeof dir, "%s/%s", data_dir, e->d_name) >= sizeof dir ||
            stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        cJSON *root = NULL;
        lb_lesson_json_read(dir, &root, why, sizeof why);
        if (!lb_lesson_resume_candidate(root)) {
            cJSON_Delete(root);           /* unreadable ones are named by the repair */
            continue;
        }
        int shutdown = ended_by_shutdown(root);
        int64_t written_us = written_us_of(dir);
        const char *no = lb_lesson_not_resumable(root, window_s, now_wall_us, written_us, text, sizeof text);
        cJSON_Delete(root);
        if (no) {
            LB_LOGI("lesson", "%s: %s, not resumed: %s", dir, shutdown ? "shut down" : "interrupted", no);
            continue;
        }
        if (written_us > best_us) {
            if (dir_out[0])
                LB_LOGI("lesson", "%s: interrupted, not resumed: a later lesson is", dir_out);
            best_us = written_us;
            snprintf(dir_out, dir_size, "%s", dir);
        } else {
            LB_LOGI("lesson", "%s: interrupted, not resumed: a later lesson is", dir);
        }
    }
    closedir(d);
    return dir_out[0] != 0;
}

static int move_file(const char *from, const char *to)
{
    if (rename(from, to) == 0)
        return 1;
    return errno == ENOENT ? 0 : AVERROR(errno);
}

/* Moves the current part's files (program.mp4, iso/, audio/) to parts/n:
 * 1 when it made that part, 0 when there was nothing to move (and empty is
 * 0), else a negative AVERROR. */
static int move_current(const char *dir, int n, int empty, char *err, size_t err_size)
{
    char part[PATH_MAX], from[PATH_MAX], to[PATH_MAX + 300];
    int ret, found = 0;
    snprintf(part, sizeof part, "%s/" LB_PARTS_DIR "/%d", dir, n);
    snprintf(from, sizeof from, "%s/program.mp4", dir);
    found = access(from, F_OK) == 0;
    for (int sub = 0; sub < 2 && !found; sub++) {
        /* no program: perhaps only an ISO file made it to the disk */
        char folder[PATH_MAX];
        snprintf(folder, sizeof folder, "%s/%s", dir, sub ? "audio" : "iso");
        DIR *d = opendir(folder);
        struct dirent *e;
        while (d && (e = readdir(d)))
            found |= e->d_name[0] != '.';
        if (d)
            closedir(d);
    }
    if (!found && !empty)
        return 0;
    static const char *const subs[] = { "", "/iso", "/audio" };
    for (int sub = 0; sub < 3; sub++) {
        snprintf(to, sizeof to, "%s%s", part, subs[sub]);
        if ((ret = lb_mkdir_p(to)) < 0) {
            snprintf(err, err_size, "%s: cannot create: %s", to, av_err2str(ret));
            return ret;
        }
    }
    snprintf(to, sizeof to, "%s/program.mp4", part);
    if ((ret = move_file(from, to)) < 0)
        goto fail;
    for (int sub = 1; sub < 3; sub++) {
        char folder[PATH_MAX];
        snprintf(folder, sizeof folder, "%s%s", dir, subs[sub]);
        DIR *d = opendir(folder);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (e->d_name[0] == '.' || (len > 4 && !strcmp(e->d_name + len - 4, ".tmp")))
                continue;
            snprintf(from, sizeof from, "%s/%s", folder, e->d_name);
            snprintf(to, sizeof to, "%s%s/%s", part, subs[sub], e->d_name);
            if ((ret = move_file(from, to)) < 0) {
                closedir(d);
                goto fail;
            }
        }
        if (d)
            closedir(d);
        lb_fsync_dir(folder);
        snprintf(to, sizeof to, "%s%s", part, subs[sub]);
        lb_fsync_dir(to);
    }
    lb_fsync_dir(part);
    snprintf(to, sizeof to, "%s/" LB_PARTS_DIR, dir);
    lb_fsync_dir(to);
    lb_fsync_dir(dir);
    return 1;
fail:
    snprintf(err, err_size, "%s: cannot move to %s: %s", from, to, av_err2str(ret));
    return ret;
}

int lb_lesson_prepare_resume(const char *dir, char *err, size_t err_size)
{
    char path[PATH_MAX + 64];
    int ret;
    cJSON *root = NULL;
    if ((ret = lb_lesson_json_read(dir, &root, err, err_size)) < 0)
        return ret;
    cJSON *outages = cJSON_GetObjectItemCaseSensitive(root, "outages");
    if (!cJSON_IsArray(outages)) {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "outages");
        outages = cJSON_AddArrayToObject(root, "outages");
    }
    if (!outages) {
        ret = AVERROR(ENOMEM);
        goto out;
    }
    /* A crash before the current part wrote anything: its outage goes on
     * (lb_lesson_open moves its end), unless there is none yet, when an
     * empty first part stands for the nothing recorded. */
    int nb_parts = lb_lesson_count_parts(dir);
    /* a lesson a shutdown finished is recording again: a crash from here on
     * is a crash's (resumed or repaired as interrupted) */
    cJSON_DeleteItemFromObjectCaseSensitive(root, "status");
    cJSON_DeleteItemFromObjectCaseSensitive(root, "ended_by");
    if (!cJSON_AddStringToObject(root, "status", "recording")) {
        ret = AVERROR(ENOMEM);
        goto out;
    }
    /* a lesson a shutdown finished may have been killed in its fast-start
     * rewrite (the unit's TimeoutStopSec): its fragmented files are whole */
    lb_lesson_clear_finalising(dir);
    lb_lesson_cut_torn_files(dir);          /* a power cut's torn fragment stays out of the part */
    if ((ret = move_current(dir, nb_parts + 1, !nb_parts && !cJSON_GetArraySize(outages),
                            err, err_size)) < 0)
        goto out;
    nb_parts += ret;
    /* each part ends where its program.mp4 does (a crash loses at most its
     * last fragment); its outage runs from there */
    for (int n = cJSON_GetArraySize(outages) + 1; n <= nb_parts; n++) {
        double offset_s = lb_lesson_last_outage_end(root), dur_s = 0;
        snprintf(path, sizeof path, "%s/" LB_PARTS_DIR "/%d/program.mp4", dir, n);
        if (access(path, F_OK) == 0 && (ret = lb_media_probe_duration(path, &dur_s)) < 0)
            LB_LOGW("lesson", "%s: cannot read: %s (the outage starts at its beginning)", path,
                    av_err2str(ret));
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddNumberToObject(o, "from", offset_s + dur_s) ||
            !cJSON_AddNumberToObject(o, "to", offset_s + dur_s)) {
            cJSON_Delete(o);
            ret = AVERROR(ENOMEM);
            goto out;
        }
        cJSON_AddItemToArray(outages, o);
    }
    ret = lb_lesson_write_json(dir, root);
    root = NULL;
    if (ret < 0)
        snprintf(err, err_size, "%s/lesson.json: cannot write: %s", dir, av_err2str(ret));
out:
    cJSON_Delete(root);
    return ret < 0 ? ret : 0;
}
