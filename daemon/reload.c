/* Reload (SIGHUP, `systemctl reload luobo`): the configuration file is read
 * again and checked as --check-config would, on the lb-signals thread.  A
 * bad one is logged with its file:line and the running configuration
 * stays.  A good one that differs sets the log level at once and sends the
 * lifecycle's "reload": the pipeline is restarted with it now if no lesson
 * runs, or when the lesson has finished; a lesson is never cut.  A change
 * of log_level alone needs no restart.
 *
 * Everything else that changed (cameras, program size, outputs, director,
 * auth) applies with that restart: nothing is applied live yet, and the
 * restart re-creates the web UI, so consoles log in again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavutil/error.h>

#include "daemon.h"
#include "lb_log.h"
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

/* The next line of text that is not a log_level line; NULL at the end. */
static const char *next_line(const char *s, size_t *len)
{
    while (s && *s) {
        const char *end = strchr(s, '\n');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        const char *k = s;
        while (k < s + n && (*k == ' ' || *k == '\t'))
            k++;
        const char *v = k + strlen("log_level");
        while (v < s + n && (*v == ' ' || *v == '\t'))
            v++;
        if (strncmp(k, "log_level", strlen("log_level")) || v >= s + n || *v != '=') {
            *len = n;
            return s;
        }
        s = end ? end + 1 : s + n;
    }
    return NULL;
}

/* 1 when the two files differ at most in their log_level lines, which
 * apply without a restart. */
static int same_but_log_level(const char *a, const char *b)
{
    size_t na = 0, nb = 0;
    for (;;) {
        a = next_line(a, &na);
        b = next_line(b, &nb);
        if (!a || !b)
            return !a && !b;
        if (na != nb || memcmp(a, b, na))
            return 0;
        a += na + (a[na] == '\n');
        b += nb + (b[nb] == '\n');
    }
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
        return;
    }
    if (r->verbose)
        lb_log_set_level(LB_LOG_DEBUG);
    pthread_mutex_lock(&r->lock);
    if (!r->pending && r->loaded_text && same_but_log_level(text, r->loaded_text)) {
        /* only the log level changed: applied above, no restart */
        LB_LOGI("reload", "%s: only log_level changed: applied at once, no restart", r->path);
        free(r->loaded_text);
        r->loaded_text = text;
        pthread_mutex_unlock(&r->lock);
        lb_config_free(&cfg);
        return;
    }
    lb_config_free(&r->pending);
    r->pending = cfg;
    free(r->pending_text);
    r->pending_text = text;
    if (r->pipeline)
        lb_pipeline_reload(r->pipeline, "reload: the configuration changed");
    pthread_mutex_unlock(&r->lock);
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

int lb_reload_next(lb_reload *r, lb_pipeline **p, lb_config **cfg, char *err, size_t err_size)
{
    pthread_mutex_lock(&r->lock);
    r->pipeline = NULL;                 /* SIGHUP from now on only keeps the newest file */
    lb_config *next = r->pending;
    r->pending = NULL;
    if (next) {
        free(r->loaded_text);
        r->loaded_text = r->pending_text;
        r->pending_text = NULL;
    }
    pthread_mutex_unlock(&r->lock);
    if (!next) {
        snprintf(err, err_size, "a restart without a new configuration");
        return AVERROR_BUG;
    }
    lb_pipeline_free(p);
    lb_config_free(cfg);
    *cfg = next;
    r->params.cfg = next;
    r->params.record = 0;               /* --record's lesson is over */
    int ret = lb_pipeline_create(p, &r->params, err, err_size);
    if (ret < 0)
        return ret;
    if (r->verbose)
        lb_log_set_level(LB_LOG_DEBUG);
    pthread_mutex_lock(&r->lock);
    r->pipeline = *p;
    if (r->pending)                     /* a SIGHUP came during the restart */
        lb_pipeline_reload(*p, "reload: the configuration changed again");
    pthread_mutex_unlock(&r->lock);
    LB_LOGI("reload", "%s: the pipeline starts again with the new configuration", r->path);
    return 1;
}

void lb_reload_uninit(lb_reload *r)
{
    lb_reload_set_hook(NULL, NULL);
    lb_config_free(&r->pending);
    free(r->pending_text);
    free(r->loaded_text);
    pthread_mutex_destroy(&r->lock);
}
