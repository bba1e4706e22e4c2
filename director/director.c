/* The director: for now a fixed shot (the teacher camera, full frame) that
 * an operator can override; the automatic rules grow here. */
#include "director.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libavutil/error.h>

typedef struct lb_director_settings {
    int mode;                 /* lb_director_mode */
    double min_shot_s;
    double max_shot_s;
} lb_director_settings;

static const lb_option_choice mode_choices[] = {
    { "auto", LB_DIRECTOR_AUTO }, { "manual", LB_DIRECTOR_MANUAL }, { NULL, 0 },
};

#define OFF(x) offsetof(lb_director_settings, x)
const lb_option lb_director_options[] = {
    { "mode", LB_OPT_ENUM, OFF(mode), 0, "auto", 0, 0, mode_choices, "auto: rules pick shots; manual: the operator" },
    { "min_shot_s", LB_OPT_DOUBLE, OFF(min_shot_s), 0, "3", 0.5, 60, NULL, "shortest shot" },
    { "max_shot_s", LB_OPT_DOUBLE, OFF(max_shot_s), 0, "30", 2, 600, NULL, "longest shot before a cutaway" },
    { NULL },
};

struct lb_director {
    lb_director_settings settings;
    lb_director_setup setup;
    pthread_mutex_t lock;
    lb_director_mode mode;
    lb_shot manual;
    lb_shot current;
    int have_current;
};

const char *lb_layout_name(lb_layout layout)
{
    switch (layout) {
    case LB_LAYOUT_SINGLE: return "single";
    case LB_LAYOUT_PIP:    return "pip";
    case LB_LAYOUT_SBS:    return "sbs";
    default:               return "none";
    }
}

lb_layout lb_layout_from_name(const char *name)
{
    for (int l = LB_LAYOUT_SINGLE; l <= LB_LAYOUT_SBS; l++)
        if (name && !strcasecmp(name, lb_layout_name((lb_layout)l)))
            return (lb_layout)l;
    return LB_LAYOUT_INVALID;
}

static int find_source(const lb_director_setup *setup, const char *name_or_role)
{
    for (int i = 0; i < setup->nb_sources; i++)
        if (!strcmp(setup->source_names[i], name_or_role))
            return i;
    for (int i = 0; i < setup->nb_sources; i++)
        if (!strcmp(lb_role_name(setup->source_roles[i]), name_or_role))
            return i;
    return -1;
}

int lb_director_create(lb_director **pd, const lb_config_section *sec,
                       const lb_director_setup *setup, char *err, size_t err_size)
{
    lb_director *d = calloc(1, sizeof *d);
    if (!d)
        return AVERROR(ENOMEM);
    int ret = lb_config_apply(sec, lb_director_options, &d->settings, err, err_size);
    if (ret < 0) {
        free(d);
        return ret;
    }
    d->setup = *setup;
    d->mode = (lb_director_mode)d->settings.mode;
    pthread_mutex_init(&d->lock, NULL);
    *pd = d;
    return 0;
}

void lb_director_free(lb_director **pd)
{
    if (!pd || !*pd)
        return;
    pthread_mutex_destroy(&(*pd)->lock);
    free(*pd);
    *pd = NULL;
}

static void fixed_shot(const lb_director *d, lb_shot *shot)
{
    int teacher = find_source(&d->setup, "teacher");
    memset(shot, 0, sizeof *shot);
    shot->layout = LB_LAYOUT_SINGLE;
    shot->nb_sources = d->setup.nb_sources ? 1 : 0;
    shot->sources[0] = teacher >= 0 ? teacher : 0;
    snprintf(shot->name, sizeof shot->name, "%s",
             d->setup.nb_sources ? lb_role_name(d->setup.source_roles[shot->sources[0]]) : "none");
    snprintf(shot->reason, sizeof shot->reason, "fixed shot");
}

static int same_shot(const lb_shot *a, const lb_shot *b)
{
    return a->layout == b->layout && a->nb_sources == b->nb_sources &&
           !memcmp(a->sources, b->sources, sizeof(int) * (size_t)a->nb_sources);
}

int lb_director_update(lb_director *d, int64_t t_us, AVFrame *const *frames,
                       const double *mic_dbfs, lb_shot *shot)
{
    pthread_mutex_lock(&d->lock);
    if (d->mode == LB_DIRECTOR_MANUAL && d->manual.nb_sources)
        *shot = d->manual;
    else
        fixed_shot(d, shot);
    int changed = !d->have_current || !same_shot(shot, &d->current);
    d->current = *shot;
    d->have_current = 1;
    pthread_mutex_unlock(&d->lock);
    return changed;
}

int lb_director_set_mode(lb_director *d, lb_director_mode mode, const char *shot_name,
                         lb_layout layout, char *err, size_t err_size)
{
    lb_shot shot = { 0 };
    if (mode == LB_DIRECTOR_MANUAL && shot_name && *shot_name) {
        int main_src = find_source(&d->setup, shot_name);
        if (main_src < 0) {
            snprintf(err, err_size, "no source or role named '%s'", shot_name);
            return AVERROR(EINVAL);
        }
        shot.layout = layout ? layout : LB_LAYOUT_SINGLE;
        shot.sources[0] = main_src;
        shot.nb_sources = 1;
        if (shot.layout != LB_LAYOUT_SINGLE) {
            int second = find_source(&d->setup, "teacher");
            if (second == main_src || second < 0)
                second = (main_src + 1) % d->setup.nb_sources;
            shot.sources[1] = second;
            shot.nb_sources = d->setup.nb_sources > 1 ? 2 : 1;
        }
        snprintf(shot.name, sizeof shot.name, "%s", shot_name);
        snprintf(shot.reason, sizeof shot.reason, "operator");
    } else if (mode != LB_DIRECTOR_AUTO && mode != LB_DIRECTOR_MANUAL) {
        snprintf(err, err_size, "mode must be auto or manual");
        return AVERROR(EINVAL);
    }
    pthread_mutex_lock(&d->lock);
    d->mode = mode;
    if (mode == LB_DIRECTOR_MANUAL) {
        if (!shot.nb_sources)
            shot = d->current;     /* manual without a shot freezes the current one */
        snprintf(shot.reason, sizeof shot.reason, "operator");
        d->manual = shot;
    }
    pthread_mutex_unlock(&d->lock);
    return 0;
}

int lb_director_next_chapter(lb_director *d, char *title, size_t size)
{
    return 0;
}

lb_director_mode lb_director_get_mode(lb_director *d)
{
    pthread_mutex_lock(&d->lock);
    lb_director_mode m = d->mode;
    pthread_mutex_unlock(&d->lock);
    return m;
}

static void json_escape(const char *in, char *out, size_t size)
{
    size_t n = 0;
    for (; *in && n + 7 < size; in++) {
        unsigned char c = (unsigned char)*in;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, size - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = 0;
}

int lb_shot_to_json(const lb_shot *shot, int64_t t_us, const lb_director_setup *setup,
                    char *buf, size_t size)
{
    char names[256] = "", reason[512];
    size_t n = 0;
    for (int i = 0; i < shot->nb_sources && n < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s\"%s\"", i ? "," : "",
                              setup->source_names[shot->sources[i]]);
    json_escape(shot->reason, reason, sizeof reason);
    /* t printed from integers so that offline logs are byte-identical */
    return snprintf(buf, size,
                    "{\"t\": %lld.%03lld, \"shot\": \"%s\", \"layout\": \"%s\", \"sources\": [%s], \"reason\": \"%s\"}",
                    (long long)(t_us / 1000000), (long long)(t_us / 1000 % 1000), shot->name,
                    lb_layout_name(shot->layout), names, reason);
}
