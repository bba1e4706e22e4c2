/* Reload (SIGHUP, `systemctl reload luobo`): the configuration file is read
 * again and checked as --check-config would, on the lb-signals thread.  A
 * bad one is logged with its file:line and the running configuration
 * stays.  A good one that differs sets the log level at once and sends the
 * lifecycle's "reload": the pipeline is restarted with it now if no lesson
 * runs, or when the lesson has finished; a lesson is never cut.  A change
 * of log_level alone needs no restart.
 *
 * Everything else that changed (cameras, program size, outputs, director,
 * auth) applies with that restart.  The web UI goes on running through it
 * (its logins, event sockets and downloads untouched) unless one of its own
 * keys changed (a port, TLS, the users file: lb_reload_webui_changed());
 * then a new one takes over the old one's sessions, so nobody logs in
 * again either way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <time.h>

#include <cjson/cJSON.h>
#include <libavutil/error.h>

#include "daemon.h"
#include "lb_log.h"
#include "director.h"
#include "lb_thread.h"

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t len = 0, cap = 0, n;
    char buf[4096];
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (len + n + 1 > cap) {
            char *grown = realloc(text, cap = (len + n + 1) * 2);
            if (!grown) {
                free(text);
                fclose(f);
                return NULL;
            }
            text = grown;
        }
        memcpy(text + len, buf, n);
        len += n;
    }
    fclose(f);
    if (!text)
        text = calloc(1, 1);
    else
        text[len] = 0;
    return text;
}

/* ---- what changed, and whether it can apply at once ---- */

typedef lb_reload_changes change_list;

static void add_change(change_list *l, const char *a, const char *b)
{
    char item[sizeof l->items[0]];
    snprintf(item, sizeof item, "%s%s", a, b);
    for (int i = 0; i < l->nb; i++)
        if (!strcmp(l->items[i], item))
            return;
    if (l->nb < (int)(sizeof l->items / sizeof l->items[0]))
        snprintf(l->items[l->nb++], sizeof l->items[0], "%s", item);
}

/* A key's value, or NULL: without marking it used. */
static const char *raw_value(const lb_config_section *sec, const char *key)
{
    for (int i = 0; i < lb_config_section_nb_keys(sec); i++)
        if (!strcmp(lb_config_section_key_at(sec, i), key))
            return lb_config_section_value_at(sec, i);
    return NULL;
}

/* Live-changeable by the tables (LB_OPT_LIVE); outputs as a whole. */
static int key_is_live(const char *kind, const char *key)
{
    if (!strcmp(kind, "general"))
        return !strcmp(key, "log_level");
    if (!strcmp(kind, "director"))
        return lb_option_is_live(lb_director_options, key) == 1;
    if (!strcmp(kind, "auth"))
        return lb_option_is_live(lb_auth_options, key) == 1;
    return 0;
}

/* An [output.NAME] that a reload starts or stops in the running streamer
 * (hls, srt, upload); the archive is the lesson's, and waits. */
static int output_is_live(const lb_config_section *a, const lb_config_section *b)
{
    const char *ta = a ? raw_value(a, "type") : NULL, *tb = b ? raw_value(b, "type") : NULL;
    return (!ta || strcasecmp(ta, "archive")) && (!tb || strcasecmp(tb, "archive"));
}

/* The keys of sa that differ in sb (absent, or another value). */
static void diff_keys(const lb_config_section *sa, const lb_config_section *sb, const char *name,
                      const char *kind, int want_live, change_list *out)
{
    for (int i = 0; i < lb_config_section_nb_keys(sa); i++) {
        const char *key = lb_config_section_key_at(sa, i);
        const char *vb = sb ? raw_value(sb, key) : NULL;
        if (vb && !strcmp(vb, lb_config_section_value_at(sa, i)))
            continue;
        char item[sizeof out->items[0]];
        snprintf(item, sizeof item, "%s.", name);
        if (key_is_live(kind, key) == want_live)
            add_change(out, item, key);
    }
}

/* Everything that differs between a and b: the live part (want_live = 1)
 * or the part that needs the pipeline restarted (0). */
static void diff(const lb_config *a, const lb_config *b, int want_live, change_list *out)
{
    for (int pass = 0; pass < 2; pass++) {
        const lb_config *x = pass ? b : a, *y = pass ? a : b;
        for (int i = 0; i < lb_config_nb_sections(x); i++) {
            const lb_config_section *sx = lb_config_section_at(x, i);
            const char *name = lb_config_section_name(sx), *kind = lb_config_section_kind(sx);
            const lb_config_section *sy = lb_config_find(y, name);
            if (!strcmp(kind, "output")) {
                const lb_config_section *sa = pass ? sy : sx, *sb = pass ? sx : sy;
                int same = sy && lb_config_section_nb_keys(sx) == lb_config_section_nb_keys(sy);
                for (int k = 0; same && k < lb_config_section_nb_keys(sx); k++) {
                    const char *v = raw_value(sy, lb_config_section_key_at(sx, k));
                    same = v && !strcmp(v, lb_config_section_value_at(sx, k));
                }
                if (!same && output_is_live(sa, sb) == want_live)
                    add_change(out, name, !sa ? " (added)" : !sb ? " (removed)" : "");
                continue;
            }
            if (!sy && !lb_config_section_nb_keys(sx) && !want_live) {
                add_change(out, name, "");
                continue;
            }
            diff_keys(sx, sy, name, kind, want_live, out);
        }
    }
}

static int same_value(const lb_config *a, const lb_config *b, const char *sec, const char *key)
{
    const lb_config_section *sa = lb_config_find(a, sec), *sb = lb_config_find(b, sec);
    const char *va = sa ? raw_value(sa, key) : NULL, *vb = sb ? raw_value(sb, key) : NULL;
    return va == vb || (va && vb && !strcmp(va, vb));
}

/* Every key of sec in x but the live ones (auth) has the same value in y. */
static int same_section(const lb_config *x, const lb_config *y, const char *sec)
{
    const lb_config_section *sx = lb_config_find(x, sec);
    for (int i = 0; sx && i < lb_config_section_nb_keys(sx); i++) {
        const char *key = lb_config_section_key_at(sx, i);
        if (!key_is_live(sec, key) && !same_value(x, y, sec, key))
            return 0;
    }
    return 1;
}

int lb_reload_webui_changed(const lb_config *a, const lb_config *b)
{
    static const char *const general[] = { "http_port", "http_address", "data_dir", "www_dir" };
    for (size_t i = 0; i < sizeof general / sizeof general[0]; i++)
        if (!same_value(a, b, "general", general[i]))
            return 1;
    return !same_section(a, b, "webui") || !same_section(b, a, "webui") ||
           !same_section(a, b, "auth") || !same_section(b, a, "auth");
}

static void list_text(const change_list *l, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < l->nb && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", l->items[i]);
    if (!l->nb)
        snprintf(buf, size, "nothing");
}

/* Applies the live changes from prev to next on the running pipeline.
 * Returns 0, or the first error (the rest is still tried) in err. */
static int apply_live(lb_pipeline *p, const lb_config *prev, const lb_config *next,
                      const change_list *live, char *err, size_t err_size)
{
    int ret = 0, director = 0, auth = 0;
    char why[LB_CONFIG_ERR_SIZE];
    for (int i = 0; i < live->nb; i++) {
        const char *item = live->items[i];
        director |= !strncmp(item, "director.", 9);
        auth |= !strncmp(item, "auth.", 5);
        if (strncmp(item, "output.", 7))
            continue;
        char name[96];
        snprintf(name, sizeof name, "%s", item + 7);
        char *space = strchr(name, ' ');
        if (space)
            *space = 0;
        char sec[128];
        snprintf(sec, sizeof sec, "output.%s", name);
        int r = 0;
        if (lb_config_find(prev, sec))
            r = lb_pipeline_remove_output(p, name);
        if (r >= 0 && lb_config_find(next, sec))
            r = lb_pipeline_add_output(p, next, name, why, sizeof why);
        else if (r < 0)
            snprintf(why, sizeof why, "output %s: cannot stop it: %s", name, av_err2str(r));
        if (r < 0 && ret >= 0) {
            ret = r;
            snprintf(err, err_size, "%s", why);
        }
    }
    if (director) {
        int r = lb_pipeline_reconfigure_director(p, next, why, sizeof why);
        if (r < 0 && ret >= 0) {
            ret = r;
            snprintf(err, err_size, "%s", why);
        }
    }
    if (auth) {
        int r = lb_pipeline_reconfigure_webui(p, next, why, sizeof why);
        if (r < 0 && ret >= 0) {
            ret = r;
            snprintf(err, err_size, "%s", why);
        }
    }
    return ret;
}

/* The status's "reload" member, kept here and handed to each pipeline. */
static void publish(lb_reload *r, const change_list *applied, const change_list *pending,
                    const char *error)
{
    cJSON *o = cJSON_CreateObject();
    char at[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    cJSON_AddStringToObject(o, "at", at);
    cJSON *a = cJSON_AddArrayToObject(o, "applied"), *w = cJSON_AddArrayToObject(o, "pending");
    for (int i = 0; applied && i < applied->nb; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(applied->items[i]));
    for (int i = 0; pending && i < pending->nb; i++)
        cJSON_AddItemToArray(w, cJSON_CreateString(pending->items[i]));
    if (error)
        cJSON_AddStringToObject(o, "error", error);
    else
        cJSON_AddNullToObject(o, "error");
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (json) {
        snprintf(r->status_json, sizeof r->status_json, "%s", json);
        free(json);
    }
    if (r->pipeline)
        lb_pipeline_set_reload_status(r->pipeline, r->status_json);
}

/* The newest good configuration: what live changes are measured from. */
static const lb_config *accepted(const lb_reload *r)
{
    return r->nb_kept ? r->kept[r->nb_kept - 1] : r->params.cfg;
}

static void on_sighup(void *opaque)
{
    lb_reload *r = opaque;
    char err[LB_CONFIG_ERR_SIZE];
    if (!r->path) {
        LB_LOGW("reload", "SIGHUP: the demo classroom has no configuration file to read again");
        return;
    }
    char *text = read_text(r->path);
    if (!text) {
        LB_LOGE("reload", "%s: %s: keeping the running configuration", r->path, strerror(errno));
        return;
    }
    pthread_mutex_lock(&r->lock);
    int same = r->loaded_text && !strcmp(text, r->loaded_text);
    pthread_mutex_unlock(&r->lock);
    if (same) {
        LB_LOGI("reload", "%s is unchanged: nothing to reload", r->path);
        free(text);
        return;
    }
    lb_config *cfg = NULL;
    lb_pipeline *check = NULL;
    lb_log_level level = lb_log_get_level();
    lb_pipeline_params params = r->params;
    int ret = lb_config_load_string(&cfg, r->path, text, err, sizeof err);
    if (ret >= 0) {
        params.cfg = cfg;
        ret = lb_pipeline_create(&check, &params, err, sizeof err);
        lb_pipeline_free(&check);
    }
    if (ret < 0) {
        lb_log_set_level(level);
        LB_LOGE("reload", "%s: keeping the running configuration", err);
        lb_config_free(&cfg);
        free(text);
        pthread_mutex_lock(&r->lock);
        publish(r, NULL, &r->waiting, err);
        pthread_mutex_unlock(&r->lock);
        return;
    }
    if (r->verbose)
        lb_log_set_level(LB_LOG_DEBUG);

    pthread_mutex_lock(&r->lock);
    change_list *live = calloc(1, sizeof *live), *restart = calloc(1, sizeof *restart);
    lb_config **grown = realloc(r->kept, sizeof *grown * (size_t)(r->nb_kept + 1));
    if (!live || !restart || !grown) {
        LB_LOGE("reload", "out of memory: keeping the running configuration");
        free(live);
        free(restart);
        if (grown)
            r->kept = grown;
        pthread_mutex_unlock(&r->lock);
        lb_config_free(&cfg);
        free(text);
        return;
    }
    r->kept = grown;
    /* live changes from the last good file; restarts from what runs */
    diff(accepted(r), cfg, 1, live);
    diff(r->params.cfg, cfg, 0, restart);
    const lb_config *prev = accepted(r);
    r->kept[r->nb_kept++] = cfg;        /* kept: running outputs may point into it */
    free(r->loaded_text);
    r->loaded_text = text;
    *err = 0;
    char applied_text[1024], waits_text[1024];
    if (!r->pipeline) {
        /* the pipeline is being restarted (lb_reload_next): nothing can be
         * applied now, even live keys; the new pipeline takes the newest
         * file, then applies what it changes from its own, at once or with
         * one more restart */
        r->pending = cfg;
        for (int i = 0; i < live->nb; i++)
            add_change(restart, live->items[i], "");
        list_text(restart, waits_text, sizeof waits_text);
        LB_LOGI("reload", "%s: the pipeline is restarting: applied when it starts again: %s", r->path,
                waits_text);
        publish(r, NULL, restart, NULL);
        pthread_mutex_unlock(&r->lock);
        free(live);
        free(restart);
        return;
    }
    if (live->nb)
        ret = apply_live(r->pipeline, prev, cfg, live, err, sizeof err);
    if (restart->nb || r->pending) {
        /* a restart already asked for stays asked for: the newest file is its */
        r->pending = cfg;
        lb_pipeline_reload(r->pipeline, "reload: the configuration changed");
    }
    list_text(live, applied_text, sizeof applied_text);
    list_text(restart, waits_text, sizeof waits_text);
    if (ret < 0)
        LB_LOGE("reload", "%s: applying at once: %s", r->path, err);
    LB_LOGI("reload", "%s: applied at once: %s; waits for a pipeline restart%s: %s", r->path,
            applied_text, r->pending ? " (when no lesson records)" : "", waits_text);
    r->waiting = *restart;
    publish(r, live, restart, ret < 0 ? err : NULL);
    pthread_mutex_unlock(&r->lock);
    free(live);
    free(restart);
}

void lb_reload_init(lb_reload *r, const char *path, const lb_pipeline_params *params, int verbose,
                    lb_pipeline *p)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->path = path;
    r->params = *params;
    r->verbose = verbose;
    r->pipeline = p;
    r->loaded_text = path ? read_text(path) : NULL;
    lb_reload_set_hook(on_sighup, r);
}

static void free_kept(lb_reload *r, const lb_config *keep)
{
    for (int i = 0; i < r->nb_kept; i++)
        if (r->kept[i] != keep)
            lb_config_free(&r->kept[i]);
    free(r->kept);
    r->kept = NULL;
    r->nb_kept = 0;
}

void lb_reload_keep_webui(lb_reload *r, lb_pipeline *p)
{
    pthread_mutex_lock(&r->lock);
    int keep = r->pending && !lb_reload_webui_changed(r->params.cfg, r->pending);
    pthread_mutex_unlock(&r->lock);
    if (keep && (r->webui = lb_pipeline_take_webui(p)))
        LB_LOGI("reload", "the web UI goes on serving while the pipeline restarts");
}

int lb_reload_next(lb_reload *r, lb_pipeline **p, lb_config **cfg, char *err, size_t err_size)
{
    pthread_mutex_lock(&r->lock);
    r->pipeline = NULL;                 /* SIGHUP from now on only keeps the newest file */
    lb_config *next = r->pending;
    r->pending = NULL;
    pthread_mutex_unlock(&r->lock);
    if (!next) {
        snprintf(err, err_size, "a restart without a new configuration");
        lb_webui_free(&r->webui);
        return AVERROR_BUG;
    }
    lb_webui *kept = r->webui;
    r->webui = NULL;
    /* a new web UI takes the sessions over: nobody logs in again */
    lb_webui_sessions *sessions = NULL;
    if (kept && lb_reload_webui_changed(*cfg, next)) {
        /* a SIGHUP after the web UI was kept changed one of its keys */
        lb_webui_stop(kept);
        sessions = lb_webui_save_sessions(kept);
        lb_webui_free(&kept);
    } else if (!kept && *p) {
        sessions = lb_webui_save_sessions(lb_pipeline_webui(*p));   /* stopped by now */
    }
    lb_pipeline_free(p);
    pthread_mutex_lock(&r->lock);
    if (r->kept[r->nb_kept - 1] != next) {
        /* a SIGHUP during the restart kept a newer file, pending again */
        r->pending = r->kept[r->nb_kept - 1];
    }
    lb_config_free(cfg);
    *cfg = next;
    r->params.cfg = next;
    r->params.record = 0;               /* --record's lesson is over */
    /* every older file goes; the new pipeline's and a newer pending one stay */
    for (int i = 0; i < r->nb_kept; i++)
        if (r->kept[i] != next && r->kept[i] != r->pending)
            lb_config_free(&r->kept[i]);
    int n = 0;
    for (int i = 0; i < r->nb_kept; i++)
        if (r->kept[i] && r->kept[i] != next)
            r->kept[n++] = r->kept[i];
    r->nb_kept = n;
    lb_pipeline_params params = r->params;
    pthread_mutex_unlock(&r->lock);
    int ret = lb_pipeline_create(p, &params, err, err_size);
    if (ret < 0) {
        lb_webui_free(&kept);
        lb_webui_sessions_free(&sessions);
        return ret;
    }
    if (kept) {
        char why[LB_CONFIG_ERR_SIZE];
        if (lb_pipeline_adopt_webui(*p, &kept, next, why, sizeof why) < 0)
            LB_LOGE("reload", "%s: the web UI: %s", r->path, why);
    } else if (sessions) {
        lb_webui_restore_sessions(lb_pipeline_webui(*p), &sessions);
    }
    if (r->verbose)
        lb_log_set_level(LB_LOG_DEBUG);
    pthread_mutex_lock(&r->lock);
    r->pipeline = *p;
    change_list none = { .nb = 0 };
    publish(r, &r->waiting, &none, NULL);
    r->waiting = none;
    if (r->pending) {                   /* a SIGHUP came during the restart */
        /* what the newer file changes from the new pipeline's: applied at
         * once if live, else it waits once more */
        change_list *live = calloc(1, sizeof *live);
        if (live) {
            diff(next, r->pending, 1, live);
            char why[LB_CONFIG_ERR_SIZE];
            if (live->nb && apply_live(*p, next, r->pending, live, why, sizeof why) < 0)
                LB_LOGE("reload", "%s: applying at once: %s", r->path, why);
            diff(next, r->pending, 0, &r->waiting);
            char applied_text[1024], waits_text[1024];
            list_text(live, applied_text, sizeof applied_text);
            list_text(&r->waiting, waits_text, sizeof waits_text);
            LB_LOGI("reload", "%s: the file read during the restart: applied at once: %s; "
                    "waits for a pipeline restart: %s", r->path, applied_text, waits_text);
            free(live);
        }
        if (r->waiting.nb)
            lb_pipeline_reload(*p, "reload: the configuration changed again");
        else
            r->pending = NULL;          /* all of it applied at once */
    }
    pthread_mutex_unlock(&r->lock);
    LB_LOGI("reload", "%s: the pipeline starts again with the new configuration", r->path);
    return 1;
}

void lb_reload_uninit(lb_reload *r)
{
    lb_reload_set_hook(NULL, NULL);
    lb_webui_free(&r->webui);
    /* main frees the running pipeline's configuration itself */
    free_kept(r, r->params.cfg);
    free(r->loaded_text);
    pthread_mutex_destroy(&r->lock);
}
