/* A finished lesson's chapters and clips (issue #20): the checks and the
 * small files here, on the loop; the media work (program.mp4 remuxed, a
 * clip copied) on the streamer's edit thread (streamer/chapters.c), which
 * the web UI calls directly as it calls lb_lesson_edit().
 *
 *   PUT  /api/v1/recordings/<id>/chapters  {"chapters":[{"t","title"}...]}
 *   POST /api/v1/recordings/<id>/clips     {"file","from","to"}
 *
 * Errors carry "code" and "params" beside the English "error", for the
 * pages' own language (www/i18n.js, err_<code>). */
#include "webui_priv.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libavutil/error.h>

#include "lb_log.h"
#include "lb_redact.h"
#include "streamer.h"

static cJSON *id_params(const char *id)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "id", id);
    return p;
}

/* err of a refused member, "'chapters[2].title': ...": its name and the
 * rest as params */
static cJSON *field_params(const char *err)
{
    cJSON *p = cJSON_CreateObject();
    const char *a = strchr(err, '\''), *b = a ? strchr(a + 1, '\'') : NULL;
    if (a && b) {
        char field[128];
        snprintf(field, sizeof field, "%.*s", (int)(b - a - 1), a + 1);
        cJSON_AddStringToObject(p, "field", field);
        const char *rest = b + 1;
        while (*rest == ':' || *rest == ' ')
            rest++;
        cJSON_AddStringToObject(p, "detail", rest);
    }
    return p;
}

/* the refusals both share: no lesson, a damaged one, one recording */
static void respond_lesson_error(webui_conn *c, const char *id, int ret, const char *err)
{
    if (ret == AVERROR(ENOENT) || ret == AVERROR(ENOTDIR)) {
        webui_respond_coded(c, 404, "recording_unknown", id_params(id), "no recording '%s'", id);
    } else if (ret == AVERROR_INVALIDDATA) {
        const char *what = strstr(err, "lesson.json: ");
        webui_respond_coded(c, 422, "lesson_json_damaged", id_params(id), "%s/%s", id, what ? what : err);
    } else if (ret == AVERROR(EBUSY)) {
        webui_respond_coded(c, 409, "recording_busy", id_params(id), "'%s' is being recorded", id);
    } else if (ret == AVERROR(EINVAL)) {
        webui_respond_coded(c, 400, "field_invalid", field_params(err), "%s", err);
    } else if (ret == AVERROR(EEXIST)) {
        webui_respond_coded(c, 409, "clip_exists", id_params(id), "%s", err);
    } else if (ret == AVERROR(EAGAIN)) {
        webui_add_header(c, "Retry-After", "5");
        webui_respond_coded(c, 503, "edits_busy", NULL, "too many edits waiting; try again soon");
    } else {
        webui_respond_coded(c, 500, "internal", NULL, "%s: %s", id, *err ? err : av_err2str(ret));
    }
}

static int lesson_dir(lb_webui *w, const char *id, char *dir, size_t size)
{
    return webui_path_is_safe(id) && !strchr(id, '/') &&
           snprintf(dir, size, "%s/%s", w->data_dir, id) < (int)size;
}

static void put_chapters(lb_webui *w, webui_conn *c, const char *id, cJSON *body)
{
    char dir[PATH_MAX], err[512] = "";
    if (!lesson_dir(w, id, dir, sizeof dir)) {
        webui_respond_coded(c, 404, "recording_unknown", id_params(id), "no recording '%s'", id);
        return;
    }
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(body, "chapters");
    if (!list) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "field", "chapters");
        cJSON_AddStringToObject(p, "detail", "missing");
        webui_respond_coded(c, 400, "field_invalid", p, "'chapters': missing (a list of {\"t\", \"title\"})");
        return;
    }
    if (webui_recut_running_for(w, id)) {
        webui_respond_coded(c, 409, "recut_running", id_params(id), "a re-cut of '%s' is running; one at a time", id);
        return;
    }
    /* the edit thread takes it now, or the files would lag lesson.json
     * (only this thread queues edits) */
    if (lb_lesson_edits_pending() >= LB_LESSON_EDITS_MAX) {
        respond_lesson_error(c, id, AVERROR(EAGAIN), "");
        return;
    }
    int ret = lb_lesson_set_chapters(dir, list, err, sizeof err);
    if (ret < 0) {
        respond_lesson_error(c, id, ret, err);
        return;
    }
    if ((ret = lb_lesson_queue_chapters(dir)) < 0)
        LB_LOGW("webui", "%s: the chapters wait for the next edit: %s", id, av_err2str(ret));
    LB_LOGI("webui", "%s set the chapters of %s", c->who.user, id);
    /* as after a metadata edit: a lesson queued for upload (or uploaded)
     * goes again once the files are remuxed (the uploader waits for the
     * .finalising marker), program.mp4 sent again as changed since */
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/upload.json", dir);
    if (access(path, F_OK) == 0 && w->ops->upload && w->ops->upload(w->opaque, dir, err, sizeof err) < 0)
        LB_LOGW("webui", "%s: the new chapters are not uploaded: %s", id, err);
    /* what lesson.json holds now; program.mp4 and the VTT follow */
    lb_chapter *ch = NULL;
    int nb = 0;
    double duration_s = 0;
    lb_lesson_chapters_read(dir, &ch, &nb, &duration_s);
    cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "chapters");
    cJSON_AddStringToObject(out, "id", id);
    for (int i = 0; i < nb; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "t", ch[i].t_s);
        cJSON_AddStringToObject(o, "title", ch[i].title);
        cJSON_AddItemToArray(arr, o);
    }
    free(ch);
    cJSON_AddBoolToObject(out, "files_pending", 1);
    webui_respond_json(c, 202, out);
}

static int take_seconds(webui_conn *c, const cJSON *body, const char *key, double *v)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(body, key);
    if (!cJSON_IsNumber(n) || !isfinite(n->valuedouble)) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "field", key);
        cJSON_AddStringToObject(p, "detail", "must be a number of seconds");
        webui_respond_coded(c, 400, "field_invalid", p, "'%s' must be a number of seconds", key);
        return -1;
    }
    *v = n->valuedouble;
    return 0;
}

static void post_clip(lb_webui *w, webui_conn *c, const char *id, cJSON *body)
{
    char err[512] = "";
    double from_s, to_s;
    const cJSON *file = cJSON_GetObjectItemCaseSensitive(body, "file");
    char dir[PATH_MAX];
    if (!lesson_dir(w, id, dir, sizeof dir)) {
        webui_respond_coded(c, 404, "recording_unknown", id_params(id), "no recording '%s'", id);
        return;
    }
    if (file && !cJSON_IsString(file)) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "field", "file");
        cJSON_AddStringToObject(p, "detail", "must be a string");
        webui_respond_coded(c, 400, "field_invalid", p, "'file' must be a string");
        return;
    }
    if (take_seconds(c, body, "from", &from_s) < 0 || take_seconds(c, body, "to", &to_s) < 0)
        return;
    lb_clip *clip = calloc(1, sizeof *clip);
    if (!clip) {
        webui_respond_coded(c, 500, "internal", NULL, "out of memory");
        return;
    }
    int ret = lb_clip_plan(w->data_dir, id, file ? file->valuestring : "program.mp4", from_s, to_s,
                           clip, err, sizeof err);
    if (ret >= 0)
        ret = lb_clip_queue(clip);
    if (ret < 0) {
        respond_lesson_error(c, id, ret, err);
        free(clip);
        return;
    }
    LB_LOGI("webui", "%s asked for the clip %s", c->who.user, clip->id);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "id", clip->id);
    cJSON_AddStringToObject(out, "of", id);
    cJSON_AddStringToObject(out, "file", clip->file);
    cJSON_AddNumberToObject(out, "from", clip->from_s);
    cJSON_AddNumberToObject(out, "to", clip->to_s);
    free(clip);
    webui_respond_json(c, 202, out);
}

int webui_lesson_edit(lb_webui *w, webui_conn *c, const char *id, const char *what, cJSON *body)
{
    if (!strcmp(what, "chapters")) {
        if (c->method != WEBUI_PUT) {
            webui_add_header(c, "Allow", "PUT");
            webui_respond_error(c, 405, "method not allowed");
        } else {
            put_chapters(w, c, id, body);
        }
        return 1;
    }
    if (!strcmp(what, "clips")) {
        if (c->method != WEBUI_POST) {
            webui_add_header(c, "Allow", "POST");
            webui_respond_error(c, 405, "method not allowed");
        } else {
            post_clip(w, c, id, body);
        }
        return 1;
    }
    return webui_recut_request(w, c, id, what, body);
}
